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
};

typedef void (*httpd_handler)(void *arg, const struct httpd_request *req, struct httpd_reply *rep);

/* A reply that comes later (a database query): the handler calls
 * httpd_defer and leaves rep empty; the connection waits, suspended, until
 * httpd_complete hands over the reply (on the loop, exactly once). */
struct httpd_pending;
struct httpd_pending *httpd_defer(const struct httpd_request *req);
void httpd_complete(struct httpd_pending *p, struct httpd_reply *rep);

/* Starts listening on "ADDR:PORT" (IPv4 or [IPv6]). Returns 0, or a negative
 * ANX_ code with the reason in err. */
int httpd_new(uv_loop_t *loop, struct logger *log, const char *listen, httpd_handler h,
              void *arg, struct httpd **out, char *err, size_t errlen);

/* Stops listening, closes connections, frees once libuv is done. */
void httpd_close(struct httpd *d);

/* A request header or query argument, or NULL. */
const char *httpd_header(const struct httpd_request *req, const char *name);
const char *httpd_query(const struct httpd_request *req, const char *name);

/* The port actually bound (useful with port 0). */
int httpd_port(const struct httpd *d);

#endif
