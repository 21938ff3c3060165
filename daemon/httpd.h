/* httpd.h - the daemon's HTTP server inside the libuv loop: libmicrohttpd in
 * external-epoll mode, its epoll fd watched with uv_poll and its timeouts
 * with a uv_timer re-armed from MHD_get_timeout after every run.
 *
 * Requests are handed whole (body included, up to a limit) to one handler
 * that fills in a reply; the router lives with the caller. */
#ifndef ANXIN_HTTPD_H
#define ANXIN_HTTPD_H

#include <stddef.h>
#include <uv.h>

#include "log.h"

#define HTTPD_MAX_BODY (64 * 1024)

struct httpd;

struct httpd_request {
    const char *method;         /* "GET", "POST", ... */
    const char *path;           /* without the query string */
    const char *body;           /* NUL-terminated, "" if none */
    size_t body_len;
    void *conn;                 /* struct MHD_Connection *, for httpd_header/httpd_query */
    void *state;                /* httpd's own, for httpd_defer */
};

struct httpd_reply {
    int status;                 /* default 200 */
    const char *content_type;   /* default "application/json" */
    char *body;                 /* malloc'd; httpd frees it */
    size_t body_len;            /* 0 = strlen(body) */
    const char *header_name;    /* one more header (static strings), or NULL */
    const char *header_value;
    int retry_after_s;          /* > 0: a Retry-After header with it */
    char *cookie;               /* malloc'd Set-Cookie value or NULL; httpd frees it */
};

typedef void (*httpd_handler)(void *arg, const struct httpd_request *req, struct httpd_reply *rep);

/* A reply that comes later (a database query): the handler calls
 * httpd_defer and leaves rep empty; the connection waits, suspended, until
 * httpd_complete hands over the reply (on the loop, exactly once, and never
 * after httpd_close, which answers what still waits with 503). */
struct httpd_pending;
struct httpd_pending *httpd_defer(const struct httpd_request *req);
void httpd_complete(struct httpd_pending *p, struct httpd_reply *rep);

/* A reply that never ends (server-sent events): the handler calls
 * httpd_stream_open and leaves rep empty; the client gets 200 with the
 * content type, then whatever httpd_stream_write queues, as it is written.
 * on_close(arg, s) is called once when the client has gone or the stream was
 * ended (httpd_stream_end, httpd_close); s is invalid after it returns.
 * A client that reads slower than HTTPD_STREAM_MAX_QUEUE bytes arrive is
 * disconnected: a console reconnects and reloads, a stuck one must not grow
 * the daemon. */
#define HTTPD_STREAM_MAX_QUEUE (256 * 1024)
struct httpd_stream;
typedef void (*httpd_stream_close_cb)(void *arg, struct httpd_stream *s);
struct httpd_stream *httpd_stream_open(const struct httpd_request *req, const char *content_type,
                                       httpd_stream_close_cb on_close, void *arg);
/* Queues data for the client. Returns 0, ANX_ENOMEM, or ANX_ESTATE when the
 * stream is ending (too slow a client, or ended). */
int httpd_stream_write(struct httpd_stream *s, const char *data, size_t len);
/* Ends the stream once the queued data is out; on_close follows. */
void httpd_stream_end(struct httpd_stream *s);

/* TLS: PEM certificate chain and key (contents, not file names). */
struct httpd_tls {
    const char *cert_pem;
    const char *key_pem;
};

/* Starts listening on "ADDR:PORT" (IPv4 or [IPv6]), with TLS when tls is not
 * NULL (the PEM texts are copied by the server). Returns 0, or a negative
 * ANX_ code with the reason in err. */
int httpd_new(uv_loop_t *loop, struct logger *log, const char *listen,
              const struct httpd_tls *tls, httpd_handler h, void *arg, struct httpd **out,
              char *err, size_t errlen);

/* Stops listening, closes connections, frees once libuv is done. */
void httpd_close(struct httpd *d);

/* A request header, query argument or cookie, or NULL. */
const char *httpd_header(const struct httpd_request *req, const char *name);
const char *httpd_cookie(const struct httpd_request *req, const char *name);
const char *httpd_query(const struct httpd_request *req, const char *name);

/* The client's address as failures are counted under it (guard_addr_key
 * in authguard.h); "?" when unknown. */
void httpd_peer(const struct httpd_request *req, char *out, size_t len);

/* The port actually bound (useful with port 0). */
int httpd_port(const struct httpd *d);

/* True when the server speaks TLS (cookies are then marked Secure). */
int httpd_is_tls(const struct httpd *d);

#endif
