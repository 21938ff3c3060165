/* sse.c - server-sent events hub (see sse.h). */
#include "sse.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "token_text.h"

struct sse_sub {
    struct sse_hub *hub;        /* NULL once the hub is closing */
    struct httpd_stream *stream;
    char token[TOKEN_NAME_SIZE];
    struct sse_sub *prev, *next;
};

struct sse_hub {
    uv_timer_t ping;
    struct logger *log;
    int (*still_allowed)(void *arg, const char *token_name);
    void *arg;
    struct sse_sub *subs;
    size_t n;
};

static void unlink_sub(struct sse_hub *h, struct sse_sub *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        h->subs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    h->n--;
}

/* httpd: the client left or the stream ended. */
static void on_stream_closed(void *arg, struct httpd_stream *st)
{
    struct sse_sub *s = arg;
    (void)st;
    if (s->hub)
        unlink_sub(s->hub, s);
    free(s);
}

static void end_sub(struct sse_hub *h, struct sse_sub *s)
{
    unlink_sub(h, s);
    s->hub = NULL;
    httpd_stream_end(s->stream);    /* on_stream_closed frees s later */
}

static void on_ping(uv_timer_t *t)
{
    struct sse_hub *h = t->data;
    static const char ping[] = ": ping\n\n";
    for (struct sse_sub *s = h->subs, *next; s; s = next) {
        next = s->next;
        if (!h->still_allowed(h->arg, s->token))
            end_sub(h, s);
        else if (httpd_stream_write(s->stream, ping, sizeof ping - 1) != 0)
            end_sub(h, s);
    }
}

struct sse_hub *sse_new(uv_loop_t *loop, struct logger *log,
                        int (*still_allowed)(void *arg, const char *token_name), void *arg,
                        uint64_t ping_ms)
{
    struct sse_hub *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->log = log;
    h->still_allowed = still_allowed;
    h->arg = arg;
    uv_timer_init(loop, &h->ping);
    h->ping.data = h;
    uv_timer_start(&h->ping, on_ping, ping_ms, ping_ms);
    return h;
}

int sse_subscribe(struct sse_hub *h, const struct httpd_request *req, const char *token_name)
{
    struct sse_sub *s = calloc(1, sizeof *s);
    if (!s)
        return ANX_ENOMEM;
    s->hub = h;
    snprintf(s->token, sizeof s->token, "%s", token_name);
    s->stream = httpd_stream_open(req, "text/event-stream; charset=utf-8", on_stream_closed, s);
    if (!s->stream) {
        free(s);
        return ANX_ENOMEM;
    }
    s->next = h->subs;
    if (h->subs)
        h->subs->prev = s;
    h->subs = s;
    h->n++;
    static const char hello[] = "retry: 3000\nevent: ready\ndata: {}\n\n";
    if (httpd_stream_write(s->stream, hello, sizeof hello - 1) != 0) {
        end_sub(h, s);
        return ANX_ENOMEM;
    }
    return 0;
}

void sse_publish(struct sse_hub *h, const char *event, const char *id, const char *data)
{
    if (!h || !h->subs)
        return;
    /* data must stay one line: a newline would end the field early. */
    if (strpbrk(data, "\r\n") || (id && strpbrk(id, "\r\n")) || strpbrk(event, "\r\n")) {
        log_warn(h->log, "sse: an event with a line break was not sent");
        return;
    }
    char *msg = NULL;
    int n = id ? asprintf(&msg, "id: %s\nevent: %s\ndata: %s\n\n", id, event, data)
               : asprintf(&msg, "event: %s\ndata: %s\n\n", event, data);
    if (n < 0)
        return;
    for (struct sse_sub *s = h->subs, *next; s; s = next) {
        next = s->next;
        if (httpd_stream_write(s->stream, msg, (size_t)n) != 0)
            end_sub(h, s);
    }
    free(msg);
}

void sse_drop_token(struct sse_hub *h, const char *token_name)
{
    for (struct sse_sub *s = h->subs, *next; s; s = next) {
        next = s->next;
        if (strcmp(s->token, token_name) == 0)
            end_sub(h, s);
    }
}

size_t sse_clients(const struct sse_hub *h)
{
    return h ? h->n : 0;
}

static void on_closed(uv_handle_t *t)
{
    free(t->data);
}

void sse_close(struct sse_hub *h)
{
    if (!h)
        return;
    while (h->subs)
        end_sub(h, h->subs);
    uv_timer_stop(&h->ping);
    uv_close((uv_handle_t *)&h->ping, on_closed);
}
