/* httpc.c - libcurl multi driven by libuv (see httpc.h).
 *
 * The shape follows curl's documented multi_socket API: curl tells us which
 * sockets to watch (socket callback) and when to call it back (timer
 * callback); we tell curl what happened with curl_multi_socket_action and
 * then collect finished transfers with curl_multi_info_read. */
#include "httpc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define HTTPC_BODY_MAX (64 * 1024)

struct httpc {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    struct httpc_req *reqs;     /* running requests, doubly linked */
    size_t n_running;
    int closing;
};

struct httpc_req {
    struct httpc *h;
    CURL *easy;
    struct curl_slist *headers;
    httpc_cb cb;
    void *arg;
    char *body;
    size_t body_len;
    char retry_after[64];
    char error[CURL_ERROR_SIZE];
    uint64_t started_ms;
    bool easy_in_multi;
    struct httpc_req *prev, *next;
};

/* One per socket curl asks us to watch. */
struct httpc_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct httpc *h;
};

static void sock_close_cb(uv_handle_t *handle)
{
    free(handle->data);
}

static void unlink_req(struct httpc_req *r)
{
    struct httpc *h = r->h;
    if (r->prev)
        r->prev->next = r->next;
    else
        h->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    h->n_running--;
}

static void free_req(struct httpc_req *r)
{
    if (r->easy_in_multi)
        curl_multi_remove_handle(r->h->multi, r->easy);
    curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    free(r->body);
    free(r);
}

static void check_done(struct httpc *h)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(h->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct httpc_req *r = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        struct httpc_response resp = {0};
        resp.curl_code = msg->data.result;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &resp.status);
        resp.body = r->body ? r->body : "";
        resp.body_len = r->body_len;
        resp.retry_after = r->retry_after[0] ? r->retry_after : NULL;
        resp.error = resp.curl_code == CURLE_OK ? NULL
                   : (r->error[0] ? r->error : curl_easy_strerror(resp.curl_code));
        resp.elapsed_ms = (int64_t)(uv_now(h->loop) - r->started_ms);
        unlink_req(r);
        /* Out of the multi handle before the callback, which may start the
         * next request: its connection is then free for that one. */
        curl_multi_remove_handle(h->multi, r->easy);
        r->easy_in_multi = false;
        r->cb(r->arg, &resp);
        free_req(r);
    }
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
    struct httpc_sock *s = handle->data;
    struct httpc *h = s->h;
    int flags = 0, running;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    curl_multi_socket_action(h->multi, s->fd, flags, &running);
    check_done(h);
}

static int on_socket(CURL *easy, curl_socket_t fd, int action, void *userp, void *socketp)
{
    struct httpc *h = userp;
    struct httpc_sock *s = socketp;
    (void)easy;

    if (action == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            curl_multi_assign(h->multi, fd, NULL);
            uv_close((uv_handle_t *)&s->poll, sock_close_cb);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return -1;
        s->fd = fd;
        s->h = h;
        if (uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        curl_multi_assign(h->multi, fd, s);
    }
    int events = 0;
    if (action == CURL_POLL_IN || action == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (action == CURL_POLL_OUT || action == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

static void on_timeout(uv_timer_t *t)
{
    struct httpc *h = t->data;
    int running;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct httpc *h = userp;
    (void)multi;
    if (timeout_ms < 0)
        uv_timer_stop(&h->timer);
    else
        uv_timer_start(&h->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

int httpc_new(uv_loop_t *loop, struct httpc **out)
{
    struct httpc *h = calloc(1, sizeof *h);
    if (!h)
        return ANX_ENOMEM;
    h->loop = loop;
    h->multi = curl_multi_init();
    if (!h->multi) {
        free(h);
        return ANX_ENOMEM;
    }
    uv_timer_init(loop, &h->timer);
    h->timer.data = h;
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    /* A burst (a village-wide power cut) must not open one connection per
     * notification: each costs a handshake on the loop and a descriptor.
     * Requests beyond the cap wait in curl for a connection to free up
     * (their timeout runs meanwhile), and idle connections are kept for
     * the next ones (bench/results/2026-11-29-notify.md). */
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, HTTPC_MAX_HOST_CONNECTIONS);
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, HTTPC_MAX_HOST_CONNECTIONS * 2L);
    *out = h;
    return 0;
}

static void timer_close_cb(uv_handle_t *handle)
{
    free(handle->data);
}

void httpc_close(struct httpc *h)
{
    if (!h)
        return;
    h->closing = 1;
    while (h->reqs) {
        struct httpc_req *r = h->reqs;
        unlink_req(r);
        free_req(r);
    }
    /* Cleanup may call on_socket with CURL_POLL_REMOVE for open sockets. */
    curl_multi_cleanup(h->multi);
    h->multi = NULL;
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, timer_close_cb);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct httpc_req *r = userp;
    size_t n = size * nmemb;
    size_t keep = n;
    if (r->body_len + keep > HTTPC_BODY_MAX)
        keep = HTTPC_BODY_MAX - r->body_len;
    if (keep) {
        char *nb = realloc(r->body, r->body_len + keep + 1);
        if (!nb)
            return 0;   /* curl aborts the transfer with CURLE_WRITE_ERROR */
        memcpy(nb + r->body_len, data, keep);
        r->body = nb;
        r->body_len += keep;
        r->body[r->body_len] = '\0';
    }
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    struct httpc_req *r = userp;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    if (n > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0) {
        size_t vlen = n - (sizeof name - 1);
        const char *v = data + sizeof name - 1;
        while (vlen && (*v == ' ' || *v == '\t')) {
            v++;
            vlen--;
        }
        while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
            vlen--;
        if (vlen >= sizeof r->retry_after)
            vlen = sizeof r->retry_after - 1;
        memcpy(r->retry_after, v, vlen);
        r->retry_after[vlen] = '\0';
    }
    return n;
}

struct httpc_req *httpc_start(struct httpc *h, const char *url, const struct httpc_opts *o,
                              httpc_cb cb, void *arg)
{
    if (h->closing)
        return NULL;
    struct httpc_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->h = h;
    r->cb = cb;
    r->arg = arg;
    r->easy = curl_easy_init();
    if (!r->easy) {
        free(r);
        return NULL;
    }
    for (const char *const *hd = o->headers; hd && *hd; hd++) {
        struct curl_slist *n = curl_slist_append(r->headers, *hd);
        if (!n)
            goto fail;
        r->headers = n;
    }
    /* No "Expect: 100-continue" round trip for small bodies. */
    struct curl_slist *n = curl_slist_append(r->headers, "Expect:");
    if (!n)
        goto fail;
    r->headers = n;

    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(o->timeout_ms > 0 ? o->timeout_ms : 10000));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(o->timeout_ms > 0 && o->timeout_ms < 5000 ? o->timeout_ms : 5000));
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->error);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "anxind/0.1");
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    if (o->userpwd)
        curl_easy_setopt(e, CURLOPT_USERPWD, o->userpwd);
    if (!o->method || strcmp(o->method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, o->body ? o->body : "");
    } else if (strcmp(o->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, o->method);
    }
    r->started_ms = uv_now(h->loop);
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK)
        goto fail;
    r->easy_in_multi = true;
    r->next = h->reqs;
    if (h->reqs)
        h->reqs->prev = r;
    h->reqs = r;
    h->n_running++;
    return r;
fail:
    curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    free(r);
    return NULL;
}

void httpc_cancel(struct httpc_req *r)
{
    if (!r)
        return;
    unlink_req(r);
    free_req(r);
}

size_t httpc_running(const struct httpc *h)
{
    return h->n_running;
}
