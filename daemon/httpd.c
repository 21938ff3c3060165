/* httpd.c - libmicrohttpd driven by libuv (see httpd.h).
 *
 * libmicrohttpd facts relied on (microhttpd.h, 0.9.75): with MHD_USE_EPOLL
 * and no internal thread, MHD_DAEMON_INFO_EPOLL_FD gives one fd that becomes
 * readable when MHD has work; MHD_run does that work without blocking; and
 * MHD_get_timeout says when MHD_run must be called even without I/O (idle
 * connection timeouts). The access handler is called first with the headers,
 * then once per chunk of upload data, then once more with *upload_data_size
 * == 0; a response may only be queued in that last call for uploads.
 * A content reader may suspend its connection and return 0 (then MHD does
 * not call it until the connection is resumed); a suspended connection
 * neither times out nor notices a client that left, and MHD_stop_daemon
 * must not meet one, so streams are resumed before the server stops. */
#include "httpd.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authguard.h"
#include "err.h"

struct httpd {
    uv_loop_t *loop;
    struct logger *log;
    struct MHD_Daemon *mhd;
    uv_poll_t poll;
    uv_timer_t timer;
    httpd_handler handler;
    void *arg;
    int port;
    int handles_open;
    bool tls;
    char *cert_pem, *key_pem;   /* MHD keeps pointers to these */
    struct httpd_stream *streams;   /* live streams, for httpd_close */
    struct httpd_upload *deferred;  /* suspended, waiting for httpd_complete */
};

struct httpd_stream {
    struct httpd *d;
    struct MHD_Connection *conn;
    char *buf;                  /* queued bytes buf[off..len) */
    size_t off, len, cap;
    bool suspended;             /* waiting in the reader for data */
    bool ending;
    httpd_stream_close_cb on_close;
    void *arg;
    const char *content_type;
    struct httpd_stream *prev, *next;
};

/* Per-request state while the body arrives, and a deferred reply. */
struct httpd_upload {
    struct httpd_stream *stream;    /* set by httpd_stream_open */
    char *buf;
    size_t len;
    int too_large;
    struct httpd *d;
    struct MHD_Connection *conn;
    bool deferred;              /* suspended, waiting for httpd_complete */
    bool reply_ready;
    struct httpd_reply reply;
    struct httpd_upload *dprev, *dnext;     /* in d->deferred while deferred */
};

struct httpd_pending {
    struct httpd_upload up;     /* first member: the same pointer */
};

static void rearm(struct httpd *d);

static void run_mhd(struct httpd *d)
{
    MHD_run(d->mhd);
    rearm(d);
}

static void on_timer(uv_timer_t *t)
{
    run_mhd(t->data);
}

static void rearm(struct httpd *d)
{
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(d->mhd, &ms) == MHD_YES)
        uv_timer_start(&d->timer, on_timer, ms, 0);
    else
        uv_timer_stop(&d->timer);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run_mhd(p->data);
}

static enum MHD_Result send_reply(struct MHD_Connection *c, struct httpd_reply *rep)
{
    size_t len = rep->body ? (rep->body_len ? rep->body_len : strlen(rep->body)) : 0;
    struct MHD_Response *r = MHD_create_response_from_buffer(len, rep->body ? rep->body : "",
                                                             rep->body ? MHD_RESPMEM_MUST_FREE
                                                                       : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(rep->body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            rep->content_type ? rep->content_type : "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (rep->content_type && strncmp(rep->content_type, "text/html", 9) == 0) {
        /* The console loads nothing from elsewhere and is never framed. */
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                                "base-uri 'none'; frame-ancestors 'none'; form-action 'self'");
        MHD_add_response_header(r, "X-Frame-Options", "DENY");
        MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    }
    if (rep->header_name && rep->header_value)
        MHD_add_response_header(r, rep->header_name, rep->header_value);
    if (rep->retry_after_s > 0) {
        char secs[16];
        snprintf(secs, sizeof secs, "%d", rep->retry_after_s);
        MHD_add_response_header(r, "Retry-After", secs);
    }
    if (rep->cookie) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, rep->cookie);
        free(rep->cookie);
        rep->cookie = NULL;
    }
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)(rep->status ? rep->status : 200), r);
    MHD_destroy_response(r);
    return ok;
}


/* ---- streams ------------------------------------------------------------ */

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct httpd_stream *s = cls;
    (void)pos;
    if (s->off < s->len) {
        size_t n = s->len - s->off < max ? s->len - s->off : max;
        memcpy(buf, s->buf + s->off, n);
        s->off += n;
        if (s->off == s->len)
            s->off = s->len = 0;
        return (ssize_t)n;
    }
    /* An ended stream closes its connection: a keep-alive connection
     * left idle would only hold a slot, and clients reconnect anyway. */
    if (s->ending)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    s->suspended = true;
    MHD_suspend_connection(s->conn);
    return 0;
}

/* The response is gone: the client left or the stream ended. */
static void stream_free(void *cls)
{
    struct httpd_stream *s = cls;
    struct httpd *d = s->d;
    if (s->prev)
        s->prev->next = s->next;
    else if (d->streams == s)
        d->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (s->on_close)
        s->on_close(s->arg, s);
    free(s->buf);
    free(s);
}

/* Wakes a suspended stream; MHD is run on the next loop turn, never from
 * inside a caller that may itself be running in an MHD callback. */
static void stream_wake(struct httpd_stream *s)
{
    if (!s->suspended)
        return;
    s->suspended = false;
    MHD_resume_connection(s->conn);
    uv_timer_start(&s->d->timer, on_timer, 0, 0);
}

struct httpd_stream *httpd_stream_open(const struct httpd_request *req, const char *content_type,
                                       httpd_stream_close_cb on_close, void *arg)
{
    struct httpd_upload *up = req->state;
    struct httpd_stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->d = up->d;
    s->conn = up->conn;
    s->on_close = on_close;
    s->arg = arg;
    s->content_type = content_type;
    up->stream = s;
    return s;
}

int httpd_stream_write(struct httpd_stream *s, const char *data, size_t len)
{
    if (s->ending)
        return ANX_ESTATE;
    if (s->len - s->off + len > HTTPD_STREAM_MAX_QUEUE) {
        log_warn(s->d->log, "http: a stream client reads too slowly; disconnecting it");
        httpd_stream_end(s);
        return ANX_ESTATE;
    }
    if (s->len + len > s->cap) {
        size_t ncap = s->cap ? s->cap : 4096;
        while (ncap < s->len + len)
            ncap *= 2;
        char *nb = realloc(s->buf, ncap);
        if (!nb)
            return ANX_ENOMEM;
        s->buf = nb;
        s->cap = ncap;
    }
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    stream_wake(s);
    return 0;
}

void httpd_stream_end(struct httpd_stream *s)
{
    s->ending = true;
    stream_wake(s);
}

static enum MHD_Result start_stream(struct httpd *d, struct MHD_Connection *c,
                                    struct httpd_stream *s)
{
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free);
    if (!r) {
        if (s->on_close)
            s->on_close(s->arg, s);
        free(s);
        return MHD_NO;
    }
    s->next = d->streams;
    if (d->streams)
        d->streams->prev = s;
    d->streams = s;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, s->content_type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    /* Proxies in front of anxind must not hold events back. */
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    enum MHD_Result ok = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct httpd *d = cls;
    struct httpd_upload *up = *con_cls;
    (void)version;

    if (!up) {
        up = calloc(1, sizeof *up);
        if (!up)
            return MHD_NO;
        up->d = d;
        up->conn = c;
        *con_cls = up;
        return MHD_YES;     /* headers only so far */
    }
    if (up->reply_ready) {
        /* Resumed: the deferred reply has come. */
        up->reply_ready = false;
        up->deferred = false;
        struct httpd_reply rep = up->reply;
        memset(&up->reply, 0, sizeof up->reply);
        return send_reply(c, &rep);
    }
    if (up->deferred)
        return MHD_YES;
    if (*upload_data_size) {
        if (!up->too_large) {
            if (up->len + *upload_data_size > HTTPD_MAX_BODY) {
                up->too_large = 1;
            } else {
                char *nb = realloc(up->buf, up->len + *upload_data_size + 1);
                if (!nb)
                    return MHD_NO;
                memcpy(nb + up->len, upload_data, *upload_data_size);
                up->buf = nb;
                up->len += *upload_data_size;
                up->buf[up->len] = '\0';
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    struct httpd_reply rep = {0};
    if (up->too_large) {
        rep.status = 413;
        rep.body = strdup("{\"error\":\"payload_too_large\",\"detail\":\"request body over 64 KiB\"}");
        return send_reply(c, &rep);
    }
    struct httpd_request req = {
        .method = method,
        .path = url,
        .body = up->buf ? up->buf : "",
        .body_len = up->len,
        .conn = c,
        .state = up,
    };
    d->handler(d->arg, &req, &rep);
    if (up->stream) {
        free(rep.body);
        free(rep.cookie);
        struct httpd_stream *st = up->stream;
        up->stream = NULL;
        return start_stream(d, c, st);
    }
    if (up->deferred) {
        free(rep.body);
        free(rep.cookie);
        up->dnext = d->deferred;
        if (d->deferred)
            d->deferred->dprev = up;
        d->deferred = up;
        MHD_suspend_connection(c);
        return MHD_YES;
    }
    return send_reply(c, &rep);
}

struct httpd_pending *httpd_defer(const struct httpd_request *req)
{
    struct httpd_upload *up = req->state;
    up->deferred = true;
    return (struct httpd_pending *)up;
}

static void undefer(struct httpd_upload *up)
{
    if (up->dprev)
        up->dprev->dnext = up->dnext;
    else
        up->d->deferred = up->dnext;
    if (up->dnext)
        up->dnext->dprev = up->dprev;
    up->dprev = up->dnext = NULL;
}

void httpd_complete(struct httpd_pending *p, struct httpd_reply *rep)
{
    struct httpd_upload *up = &p->up;
    undefer(up);
    up->reply = *rep;
    up->reply_ready = true;
    MHD_resume_connection(up->conn);
    /* MHD only notices a resumed connection when it next runs. */
    run_mhd(up->d);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct httpd_upload *up = *con_cls;
    (void)cls;
    (void)c;
    (void)toe;
    if (up) {
        free(up->buf);
        free(up->reply.body);
        free(up->reply.cookie);
        free(up);
        *con_cls = NULL;
    }
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    struct httpd *d = cls;
    char msg[300];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_warn(d->log, "http: %s", msg);
}

static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[64];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host)
        return -1;
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return -1;
    memset(ss, 0, sizeof *ss);
    if (host[0] == '[') {
        size_t hl = strlen(host);
        if (hl < 3 || host[hl - 1] != ']')
            return -1;
        host[hl - 1] = '\0';
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            return -1;
        *len = sizeof *a6;
        return (int)port;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        return -1;
    *len = sizeof *a4;
    return (int)port;
}

int httpd_new(uv_loop_t *loop, struct logger *log, const char *listen,
              const struct httpd_tls *tls, httpd_handler h, void *arg, struct httpd **out,
              char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    int port = parse_listen(listen, &ss, &sslen);
    if (port < 0) {
        snprintf(err, errlen, "http: listen address \"%s\" is not ADDR:PORT", listen);
        return ANX_EINVAL;
    }
    struct httpd *d = calloc(1, sizeof *d);
    if (!d)
        return ANX_ENOMEM;
    d->loop = loop;
    d->log = log;
    d->handler = h;
    d->arg = arg;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (tls) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            snprintf(err, errlen, "http: this libmicrohttpd was built without TLS");
            free(d);
            return ANX_EINVAL;
        }
        d->cert_pem = strdup(tls->cert_pem);
        d->key_pem = strdup(tls->key_pem);
        if (!d->cert_pem || !d->key_pem) {
            free(d->cert_pem);
            free(d->key_pem);
            free(d);
            return ANX_ENOMEM;
        }
        flags |= MHD_USE_TLS;
        d->tls = true;
    }
    /* The logger must come first or MHD logs the earlier options itself.
     * Without TLS the two certificate options are MHD_OPTION_END pairs
     * skipped by the NULL check below. */
    struct MHD_OptionItem tls_opts[] = {
        {d->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, d->cert_pem},
        {d->tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, d->key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    d->mhd = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, d,
                              MHD_OPTION_EXTERNAL_LOGGER, log_mhd, d,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, d,
                              MHD_OPTION_ARRAY, tls_opts,
                              MHD_OPTION_END);
    if (!d->mhd) {
        snprintf(err, errlen, d->tls ? "http: cannot listen on %s (address in use, not local, "
                                       "or the TLS certificate and key do not match?)"
                                     : "http: cannot listen on %s (address in use or not local?)",
                 listen);
        free(d->cert_pem);
        free(d->key_pem);
        free(d);
        return ANX_EIO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    const union MHD_DaemonInfo *pi = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_BIND_PORT);
    d->port = pi ? pi->port : port;
    if (!info || uv_poll_init(loop, &d->poll, info->epoll_fd) != 0) {
        snprintf(err, errlen, "http: cannot watch the server's epoll fd");
        MHD_stop_daemon(d->mhd);
        free(d);
        return ANX_EIO;
    }
    d->poll.data = d;
    uv_timer_init(loop, &d->timer);
    d->timer.data = d;
    d->handles_open = 2;
    uv_poll_start(&d->poll, UV_READABLE, on_poll);
    rearm(d);
    *out = d;
    return 0;
}

static void closed(uv_handle_t *h)
{
    struct httpd *d = h->data;
    if (--d->handles_open == 0) {
        free(d->cert_pem);
        free(d->key_pem);
        free(d);
    }
}

void httpd_close(struct httpd *d)
{
    if (!d)
        return;
    /* MHD_stop_daemon must not meet a suspended connection: end every
     * stream and let MHD see them resumed. */
    for (struct httpd_stream *s = d->streams; s; s = s->next) {
        s->ending = true;
        if (s->suspended) {
            s->suspended = false;
            MHD_resume_connection(s->conn);
        }
    }
    /* Requests still waiting for the database get 503 now. Their owners'
     * httpd_complete must not come after this (see httpd.h). */
    while (d->deferred) {
        struct httpd_upload *up = d->deferred;
        undefer(up);
        up->reply = (struct httpd_reply){
            .status = 503,
            .body = strdup("{\"error\":\"unavailable\",\"detail\":\"anxind is stopping\"}\n"),
        };
        up->reply_ready = true;
        MHD_resume_connection(up->conn);
    }
    MHD_run(d->mhd);
    uv_poll_stop(&d->poll);
    uv_timer_stop(&d->timer);
    /* Stop MHD before libuv lets go of its fd: MHD closes the epoll fd. */
    uv_close((uv_handle_t *)&d->poll, closed);
    uv_close((uv_handle_t *)&d->timer, closed);
    MHD_stop_daemon(d->mhd);
    d->mhd = NULL;
}

const char *httpd_header(const struct httpd_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *httpd_cookie(const struct httpd_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, name);
}

void httpd_peer(const struct httpd_request *req, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    char key[GUARD_ADDR_SIZE] = "?";
    if (sa && sa->sa_family == AF_INET)
        guard_addr_key(AF_INET, (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)
                                    ->sin_addr, key);
    else if (sa && sa->sa_family == AF_INET6)
        guard_addr_key(AF_INET6, ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr,
                       key);
    snprintf(out, len, "%s", key);
}

const char *httpd_query(const struct httpd_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

int httpd_port(const struct httpd *d)
{
    return d->port;
}

int httpd_is_tls(const struct httpd *d)
{
    return d->tls;
}
