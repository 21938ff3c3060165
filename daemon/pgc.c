/* pgc.c - non-blocking libpq on libuv (see pgc.h).
 *
 * libpq facts this relies on (libpq docs, "Asynchronous Command Processing"
 * and "Connecting"): PQconnectStart + PQconnectPoll drive the connection,
 * starting as if PQconnectPoll had returned PGRES_POLLING_WRITING; the socket
 * may change between PQconnectPoll calls; in non-blocking mode PQflush
 * returns 1 while data remains to be sent; after PQconsumeInput, results are
 * read with PQgetResult while PQisBusy is false, until it returns NULL, and
 * notifications with PQnotifies. */
#include "pgc.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

enum pgc_state { PGC_DOWN, PGC_CONNECTING, PGC_READY, PGC_CLOSED };

struct pgc_query {
    char *sql;
    int nparams;
    char **params;
    pgc_cb cb;
    void *arg;
    uint64_t jseq;
    bool internal;              /* LISTEN issued by pgc itself */
    struct pgc_query *next;
};

struct pgc_listen {
    char *channel;
    struct pgc_listen *next;
};

struct pgc {
    uv_loop_t *loop;
    struct logger *log;
    char *conninfo;
    struct pgc_hooks hooks;
    enum pgc_state state;
    PGconn *conn;
    uv_poll_t *poll;            /* NULL when not watching; closed & freed on fd change */
    int poll_fd;
    uv_timer_t retry;
    int64_t retry_ms;
    struct pgc_query *head, *tail, *inflight;
    size_t n_pending;
    PGresult *last;             /* latest result of the query in flight */
    struct pgc_listen *listens;
    struct log_limit fail_limit;
    int handles_open;
};

#define RETRY_MIN_MS 250
#define RETRY_MAX_MS 10000

static void on_poll(uv_poll_t *h, int status, int events);
static void fail_connection(struct pgc *p, const char *why);
static void kick(struct pgc *p);

static void free_query(struct pgc_query *q)
{
    if (!q)
        return;
    free(q->sql);
    for (int i = 0; i < q->nparams; i++)
        free(q->params[i]);
    free(q->params);
    free(q);
}

static void maybe_free(struct pgc *p)
{
    if (p->state == PGC_CLOSED && p->handles_open == 0) {
        free(p->conninfo);
        free(p);
    }
}

static void handle_closed(uv_handle_t *h)
{
    struct pgc *p = h->data;
    if ((void *)h != (void *)&p->retry)
        free(h);
    p->handles_open--;
    maybe_free(p);
}

static void stop_poll(struct pgc *p)
{
    if (p->poll) {
        uv_poll_stop(p->poll);
        uv_close((uv_handle_t *)p->poll, handle_closed);
        p->poll = NULL;
        p->poll_fd = -1;
    }
}

/* Watches the connection's current socket for `events`, re-creating the
 * poll handle if libpq has switched sockets. */
static int watch(struct pgc *p, int events)
{
    int fd = PQsocket(p->conn);
    if (fd < 0)
        return -1;
    if (p->poll && p->poll_fd != fd)
        stop_poll(p);
    if (!p->poll) {
        p->poll = malloc(sizeof *p->poll);
        if (!p->poll)
            return -1;
        if (uv_poll_init_socket(p->loop, p->poll, fd) != 0) {
            free(p->poll);
            p->poll = NULL;
            return -1;
        }
        p->poll->data = p;
        p->poll_fd = fd;
        p->handles_open++;
    }
    return uv_poll_start(p->poll, events, on_poll) == 0 ? 0 : -1;
}

int pgc_new(uv_loop_t *loop, struct logger *log, const char *conninfo,
            const struct pgc_hooks *hooks, struct pgc **out)
{
    struct pgc *p = calloc(1, sizeof *p);
    if (!p)
        return ANX_ENOMEM;
    p->conninfo = strdup(conninfo);
    if (!p->conninfo) {
        free(p);
        return ANX_ENOMEM;
    }
    p->loop = loop;
    p->log = log;
    if (hooks)
        p->hooks = *hooks;
    p->poll_fd = -1;
    p->retry_ms = RETRY_MIN_MS;
    uv_timer_init(loop, &p->retry);
    p->retry.data = p;
    p->handles_open = 1;
    *out = p;
    return 0;
}

static void connect_start(struct pgc *p);

static void on_retry(uv_timer_t *t)
{
    connect_start(t->data);
}

static void schedule_retry(struct pgc *p)
{
    uv_timer_start(&p->retry, on_retry, (uint64_t)p->retry_ms, 0);
    p->retry_ms = p->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : p->retry_ms * 2;
}

static void connect_start(struct pgc *p)
{
    if (p->state == PGC_CLOSED)
        return;
    p->conn = PQconnectStart(p->conninfo);
    if (!p->conn || PQstatus(p->conn) == CONNECTION_BAD) {
        fail_connection(p, p->conn ? PQerrorMessage(p->conn) : "out of memory");
        return;
    }
    p->state = PGC_CONNECTING;
    if (watch(p, UV_WRITABLE) != 0)
        fail_connection(p, "cannot watch the database socket");
}

void pgc_start(struct pgc *p)
{
    if (p->state == PGC_DOWN && !p->conn)
        connect_start(p);
}

/* Puts q back at the head of the queue (its connection broke). */
static void requeue_head(struct pgc *p, struct pgc_query *q)
{
    q->next = p->head;
    p->head = q;
    if (!p->tail)
        p->tail = q;
}

static void fail_connection(struct pgc *p, const char *why)
{
    bool was_ready = p->state == PGC_READY;
    uint32_t suppressed = 0;

    if (log_limit_take(&p->fail_limit, (int64_t)uv_now(p->loop), 60000, 3, &suppressed)) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", why ? why : "unknown error");
        msg[strcspn(msg, "\n")] = '\0';
        log_warn(p->log, "database: %s; retrying in %lld ms (%zu writes waiting)%s", msg,
                 (long long)p->retry_ms, p->n_pending,
                 suppressed ? " [earlier failures suppressed]" : "");
    }
    stop_poll(p);
    if (p->last) {
        PQclear(p->last);
        p->last = NULL;
    }
    if (p->inflight) {
        struct pgc_query *q = p->inflight;
        p->inflight = NULL;
        if (q->internal) {
            free_query(q);
            p->n_pending--;
        } else {
            requeue_head(p, q);
        }
    }
    /* LISTENs are issued afresh on the next connection. */
    for (struct pgc_query **qq = &p->head; *qq;) {
        if ((*qq)->internal) {
            struct pgc_query *dead = *qq;
            *qq = dead->next;
            free_query(dead);
            p->n_pending--;
        } else {
            qq = &(*qq)->next;
        }
    }
    p->tail = p->head;
    while (p->tail && p->tail->next)
        p->tail = p->tail->next;
    if (p->conn) {
        PQfinish(p->conn);
        p->conn = NULL;
    }
    p->state = PGC_DOWN;
    if (was_ready && p->hooks.on_down)
        p->hooks.on_down(p->hooks.arg);
    schedule_retry(p);
}

static int enqueue(struct pgc *p, const char *sql, int nparams, const char *const *params,
                   pgc_cb cb, void *arg, uint64_t jseq, bool internal, bool at_head)
{
    struct pgc_query *q = calloc(1, sizeof *q);
    if (!q)
        return ANX_ENOMEM;
    q->sql = strdup(sql);
    q->params = nparams ? calloc((size_t)nparams, sizeof *q->params) : NULL;
    if (!q->sql || (nparams && !q->params)) {
        free_query(q);
        return ANX_ENOMEM;
    }
    q->nparams = nparams;
    for (int i = 0; i < nparams; i++) {
        if (params[i] && !(q->params[i] = strdup(params[i]))) {
            free_query(q);
            return ANX_ENOMEM;
        }
    }
    q->cb = cb;
    q->arg = arg;
    q->jseq = jseq;
    q->internal = internal;
    if (at_head) {
        requeue_head(p, q);
    } else {
        if (p->tail)
            p->tail->next = q;
        else
            p->head = q;
        p->tail = q;
    }
    p->n_pending++;
    return 0;
}

static void on_connected(struct pgc *p)
{
    if (PQsetnonblocking(p->conn, 1) != 0) {
        fail_connection(p, PQerrorMessage(p->conn));
        return;
    }
    p->state = PGC_READY;
    p->retry_ms = RETRY_MIN_MS;
    log_info(p->log, "database: connected (%zu writes waiting)", p->n_pending);
    /* LISTEN first, ahead of queued writes: a registry change committed while
     * we were away is caught by the reload that on_up triggers. */
    for (struct pgc_listen *l = p->listens; l; l = l->next) {
        char *ident = PQescapeIdentifier(p->conn, l->channel, strlen(l->channel));
        if (ident) {
            char sql[200];
            snprintf(sql, sizeof sql, "LISTEN %s", ident);
            PQfreemem(ident);
            enqueue(p, sql, 0, NULL, NULL, NULL, 0, true, true);
        }
    }
    if (p->hooks.on_up)
        p->hooks.on_up(p->hooks.arg);
    kick(p);
}

static void flush_out(struct pgc *p)
{
    int r = PQflush(p->conn);
    if (r < 0)
        fail_connection(p, PQerrorMessage(p->conn));
    else if (watch(p, r == 1 ? UV_READABLE | UV_WRITABLE : UV_READABLE) != 0)
        fail_connection(p, "cannot watch the database socket");
}

static void kick(struct pgc *p)
{
    if (p->state != PGC_READY || p->inflight || !p->head)
        return;
    struct pgc_query *q = p->head;
    p->head = q->next;
    if (!p->head)
        p->tail = NULL;
    q->next = NULL;
    p->inflight = q;
    if (!PQsendQueryParams(p->conn, q->sql, q->nparams, NULL,
                           (const char *const *)q->params, NULL, NULL, 0)) {
        fail_connection(p, PQerrorMessage(p->conn));
        return;
    }
    flush_out(p);
}

static void deliver(struct pgc *p)
{
    struct pgc_query *q = p->inflight;
    PGresult *res = p->last;
    p->inflight = NULL;
    p->last = NULL;
    p->n_pending--;
    if (q->internal && res && PQresultStatus(res) != PGRES_COMMAND_OK)
        log_error(p->log, "database: %s failed: %s", q->sql, pgc_error(res));
    if (q->cb)
        q->cb(q->arg, res);
    PQclear(res);
    free_query(q);
}

static void read_input(struct pgc *p)
{
    if (!PQconsumeInput(p->conn)) {
        fail_connection(p, PQerrorMessage(p->conn));
        return;
    }
    PGnotify *n;
    while ((n = PQnotifies(p->conn))) {
        if (p->hooks.on_notify)
            p->hooks.on_notify(p->hooks.arg, n->relname, n->extra);
        PQfreemem(n);
    }
    while (p->inflight && !PQisBusy(p->conn)) {
        PGresult *r = PQgetResult(p->conn);
        if (!r) {
            deliver(p);
            if (p->state != PGC_READY)
                return;
            kick(p);
            continue;
        }
        /* A server-side error caused by a broken connection is not the
         * query's fault: send it again on the next connection. */
        if (PQstatus(p->conn) == CONNECTION_BAD) {
            PQclear(r);
            fail_connection(p, PQerrorMessage(p->conn));
            return;
        }
        if (p->last)
            PQclear(p->last);
        p->last = r;
    }
    if (PQstatus(p->conn) == CONNECTION_BAD)
        fail_connection(p, PQerrorMessage(p->conn));
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct pgc *p = h->data;
    if (p->state == PGC_CONNECTING) {
        switch (PQconnectPoll(p->conn)) {
        case PGRES_POLLING_READING:
            if (watch(p, UV_READABLE) != 0)
                fail_connection(p, "cannot watch the database socket");
            break;
        case PGRES_POLLING_WRITING:
            if (watch(p, UV_WRITABLE) != 0)
                fail_connection(p, "cannot watch the database socket");
            break;
        case PGRES_POLLING_OK:
            on_connected(p);
            break;
        default:
            fail_connection(p, PQerrorMessage(p->conn));
            break;
        }
        return;
    }
    if (p->state != PGC_READY)
        return;
    if (status < 0) {
        fail_connection(p, uv_strerror(status));
        return;
    }
    if (events & UV_WRITABLE) {
        flush_out(p);
        if (p->state != PGC_READY)
            return;
    }
    if (events & UV_READABLE)
        read_input(p);
}

int pgc_listen(struct pgc *p, const char *channel)
{
    struct pgc_listen *l = calloc(1, sizeof *l);
    if (!l || !(l->channel = strdup(channel))) {
        free(l);
        return ANX_ENOMEM;
    }
    l->next = p->listens;
    p->listens = l;
    if (p->state == PGC_READY) {
        char *ident = PQescapeIdentifier(p->conn, channel, strlen(channel));
        if (ident) {
            char sql[200];
            snprintf(sql, sizeof sql, "LISTEN %s", ident);
            PQfreemem(ident);
            enqueue(p, sql, 0, NULL, NULL, NULL, 0, true, false);
            kick(p);
        }
    }
    return 0;
}

int pgc_query(struct pgc *p, const char *sql, int nparams, const char *const *params,
              pgc_cb cb, void *arg, uint64_t jseq)
{
    if (p->state == PGC_CLOSED)
        return ANX_ESTATE;
    int rc = enqueue(p, sql, nparams, params, cb, arg, jseq, false, false);
    if (rc == 0)
        kick(p);
    return rc;
}

const char *pgc_error(const PGresult *res)
{
    const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (m)
        return m;
    return res ? PQresStatus(PQresultStatus(res)) : "no result";
}

bool pgc_connected(const struct pgc *p)
{
    return p->state == PGC_READY;
}

size_t pgc_pending(const struct pgc *p)
{
    return p->n_pending;
}

uint64_t pgc_oldest_jseq(const struct pgc *p)
{
    uint64_t m = 0;
    if (p->inflight && p->inflight->jseq)
        m = p->inflight->jseq;
    for (const struct pgc_query *q = p->head; q; q = q->next)
        if (q->jseq && (m == 0 || q->jseq < m))
            m = q->jseq;
    return m;
}

void pgc_close(struct pgc *p)
{
    if (!p || p->state == PGC_CLOSED)
        return;
    stop_poll(p);
    if (p->last)
        PQclear(p->last);
    p->last = NULL;
    free_query(p->inflight);
    p->inflight = NULL;
    while (p->head) {
        struct pgc_query *q = p->head;
        p->head = q->next;
        free_query(q);
    }
    p->tail = NULL;
    while (p->listens) {
        struct pgc_listen *l = p->listens;
        p->listens = l->next;
        free(l->channel);
        free(l);
    }
    if (p->conn)
        PQfinish(p->conn);
    p->conn = NULL;
    p->state = PGC_CLOSED;
    uv_timer_stop(&p->retry);
    uv_close((uv_handle_t *)&p->retry, handle_closed);
}
