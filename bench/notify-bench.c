/* notify-bench.c - notification sending through the daemon's own notifier
 * and HTTP client, against the bare HTTP client in the same run.
 *
 *   notify-bench [-n N] [-c WINDOW] [-r ROUNDS] [-p RATE [-d SECONDS]]
 *                [-t SINK_THREADS] [-R PROVIDER_RATE] [-w WARMUP] [-T TIMEOUT_S]
 *                [-C COMMAND_LINE_TO_PRINT]
 *
 * A loopback HTTP sink (libmicrohttpd on its own threads, 127.0.0.1 only)
 * answers 200 {"ok":true} to every POST after reading the body, and notes
 * per request when it arrived (CLOCK_MONOTONIC) and which notification it
 * was (the Idempotency-Key header). Each round sends N requests two ways on
 * one libuv loop, each with a fresh HTTP client (no connection carried over):
 *   bare      httpc_start straight to the sink, with the body the webhook
 *             provider builds for the same notification (built before the
 *             clock starts) and the same headers;
 *   notifier  notifier_send of N struct notify_msg through a webhook provider
 *             pointing at the sink (cfg_parse of a minimal configuration).
 * Latency "to sink" is sink arrival minus the moment the request or the
 * notification was handed over (httpc_start / notifier_send); "to callback"
 * ends when its result callback ran. Per second is N over first hand-over
 * to last callback.
 *
 * Burst (the default) hands all N over at once, as the daemon does when many
 * notifications fall due together; -p RATE hands them over at a fixed rate
 * (N = RATE x SECONDS when -d is given). httpc has no concurrency limit of its
 * own, so -c WINDOW is a limit kept by this program, the same for both paths:
 * at most WINDOW handed over and not finished (default 0 = none, as in the
 * daemon). -R sets the provider's `rate` key (sends per second).
 *
 * Prints a Markdown report on stdout. Loopback only. Exits non-zero if a
 * request or notification did not finish as sent. */
#include <curl/curl.h>
#include <getopt.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "err.h"
#include "httpc.h"
#include "log.h"
#include "notifier.h"
#include "notify.h"

/* Ids all of one length, as a daemon's are after a while: the body size
 * must not differ between the two paths. */
#define ID_BASE 1000001

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the sink ----------------------------------------------------------- */

struct sink {
    struct MHD_Daemon *d;
    struct MHD_Response *ok;
    uint16_t port;
    _Atomic uint64_t *recv_ns;      /* by id - ID_BASE; 0 = not seen yet */
    size_t n_ids;
    atomic_ulong received, duplicates, strays, body_bytes;
    atomic_ulong conns_opened;
    atomic_long conns_open, conns_peak;
};

static void sink_on_conn(void *cls, struct MHD_Connection *c, void **socket_context,
                         enum MHD_ConnectionNotificationCode code)
{
    struct sink *s = cls;
    (void)c;
    (void)socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&s->conns_opened, 1);
        long open = atomic_fetch_add(&s->conns_open, 1) + 1;
        long peak = atomic_load(&s->conns_peak);
        while (open > peak && !atomic_compare_exchange_weak(&s->conns_peak, &peak, open))
            ;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        atomic_fetch_sub(&s->conns_open, 1);
    }
}

static enum MHD_Result sink_on_request(void *cls, struct MHD_Connection *c, const char *url,
                                       const char *method, const char *version,
                                       const char *upload_data, size_t *upload_data_size,
                                       void **req_ctx)
{
    struct sink *s = cls;
    (void)url;
    (void)version;
    (void)upload_data;
    if (!*req_ctx) {                /* headers only so far */
        *req_ctx = s;
        return MHD_YES;
    }
    if (*upload_data_size) {
        atomic_fetch_add(&s->body_bytes, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    uint64_t now = mono_ns();       /* the whole request is in */
    if (strcmp(method, "POST") != 0)
        return MHD_NO;
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
    long long id = key ? strtoll(key, NULL, 10) : 0;
    atomic_fetch_add(&s->received, 1);
    if (id >= ID_BASE && (unsigned long long)(id - ID_BASE) < s->n_ids) {
        uint64_t none = 0;
        if (!atomic_compare_exchange_strong(&s->recv_ns[id - ID_BASE], &none, now))
            atomic_fetch_add(&s->duplicates, 1);
    } else {
        atomic_fetch_add(&s->strays, 1);
    }
    return MHD_queue_response(c, MHD_HTTP_OK, s->ok);
}

/* threads: the size of MHD's epoll thread pool (1 = its one internal
 * thread), or 0 for a thread per connection. */
static int sink_start(struct sink *s, int threads, size_t n_ids)
{
    static const char ok_body[] = "{\"ok\":true}";
    s->n_ids = n_ids;
    s->recv_ns = calloc(n_ids, sizeof *s->recv_ns);
    s->ok = MHD_create_response_from_buffer(sizeof ok_body - 1, (void *)ok_body,
                                            MHD_RESPMEM_PERSISTENT);
    if (!s->recv_ns || !s->ok)
        return -1;
    MHD_add_response_header(s->ok, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    flags |= threads > 0 ? MHD_USE_EPOLL | MHD_USE_TURBO : MHD_USE_THREAD_PER_CONNECTION;
    /* The pool option only with a pool: MHD refuses it with one thread. */
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, sink_on_request, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_CONNECTION_LIMIT, 60000u,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, 65535u,
                            MHD_OPTION_CONNECTION_TIMEOUT, 0u,
                            MHD_OPTION_NOTIFY_CONNECTION, sink_on_conn, s,
                            threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
                            (unsigned)threads, MHD_OPTION_END);
    if (!s->d)
        return -1;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    if (!di || !di->port)
        return -1;
    s->port = di->port;
    return 0;
}

static void sink_stop(struct sink *s)
{
    if (s->d)
        MHD_stop_daemon(s->d);
    if (s->ok)
        MHD_destroy_response(s->ok);
    free(s->recv_ns);
}

/* ---- one phase: N sends by one path ------------------------------------- */

struct bench {
    uv_loop_t loop;
    struct sink sink;
    struct logger log;
    struct cfg *cfg;
    char url[64];
    double rate;                    /* paced hand-overs per second, 0 = burst */
    size_t window;                  /* 0 = no limit */
    double timeout_s;
    int64_t next_id;
};

struct phase;

struct req_slot {                   /* the callback argument of one bare request */
    struct phase *p;
    size_t i;
};

struct phase {
    struct bench *b;
    bool notifier;
    size_t n;
    int64_t id0;
    double rate;
    /* what is handed over */
    struct notify_msg **msgs;       /* notifier path; NULL once handed over */
    char **bodies;                  /* bare path */
    size_t body_len;
    struct req_slot *slots;
    struct httpc *http;
    struct notifier *nf;
    uv_timer_t pace, watchdog;
    bool pumping;
    /* progress */
    size_t sent, done, ok, failed, retries, start_errors;
    uint64_t *sent_ns, *done_ns;
    uint64_t t0, t_end, cpu_ns;
    bool timed_out;
    struct { char msg[120]; size_t n; } errors[4];     /* the first distinct ones */
    size_t errors_other;
    /* results */
    unsigned long conns_opened, conns_peak, dups;
    size_t missing;
    double wall_s, per_s, cpu_us;
    double sink_p50, sink_p95, sink_p99, sink_max;     /* ms */
    double done_p50, done_p99, done_max;               /* ms */
};

static void phase_finish_one(struct phase *p, size_t i, bool ok);

/* Counts an error message, numbers of two digits or more masked, so that
 * "after 5001 ms" and "after 5002 ms" are one entry (but "after 0 ms" stays). */
static void note_error(struct phase *p, const char *text)
{
    char msg[120];
    snprintf(msg, sizeof msg, "%s", text);
    for (char *c = msg; *c; c++) {
        size_t run = strspn(c, "0123456789");
        if (run >= 2)
            memset(c, '#', run);
        c += run ? run - 1 : 0;
    }
    for (size_t k = 0; k < sizeof p->errors / sizeof p->errors[0]; k++) {
        if (!p->errors[k].n)
            snprintf(p->errors[k].msg, sizeof p->errors[k].msg, "%s", msg);
        if (strcmp(p->errors[k].msg, msg) == 0) {
            p->errors[k].n++;
            return;
        }
    }
    p->errors_other++;
}

static void on_bare_done(void *arg, const struct httpc_response *r)
{
    struct req_slot *s = arg;
    bool ok = r->curl_code == CURLE_OK && r->status == 200;
    if (!ok)
        note_error(s->p, r->error ? r->error : "not 200");
    phase_finish_one(s->p, s->i, ok);
}

static void on_attempt(void *arg, const struct notify_msg *n, const struct notifier_attempt *a)
{
    struct phase *p = arg;
    if (a->outcome != NOTIFIER_SENT)
        note_error(p, a->error ? a->error : "?");
    if (a->outcome == NOTIFIER_RETRY) {
        p->retries++;
        return;
    }
    phase_finish_one(p, (size_t)(n->id - p->id0), a->outcome == NOTIFIER_SENT);
}

static void send_one(struct phase *p)
{
    size_t i = p->sent++;
    p->sent_ns[i] = mono_ns();
    if (p->notifier) {
        struct notify_msg *m = p->msgs[i];
        p->msgs[i] = NULL;
        if (notifier_send(p->nf, m, 0) != 0) {
            p->start_errors++;
            phase_finish_one(p, i, false);
        }
        return;
    }
    char idem[48];
    snprintf(idem, sizeof idem, "Idempotency-Key: %" PRId64, p->id0 + (int64_t)i);
    const char *headers[] = {"Content-Type: application/json; charset=utf-8", idem, NULL};
    struct httpc_opts o = {
        .method = "POST", .headers = headers, .body = p->bodies[i],
        .body_len = strlen(p->bodies[i]), .timeout_ms = 10000,
    };
    p->slots[i] = (struct req_slot){p, i};
    if (!httpc_start(p->http, p->b->url, &o, on_bare_done, &p->slots[i])) {
        p->start_errors++;
        phase_finish_one(p, i, false);
    }
}

/* Hands over what is due (all at once, or by the clock when paced), keeping
 * to the window. */
static void pump(struct phase *p)
{
    if (p->pumping)
        return;
    p->pumping = true;
    size_t limit = p->n;
    if (p->rate > 0) {
        double due = (double)(mono_ns() - p->t0) / 1e9 * p->rate + 1.0;
        if (due < (double)limit)
            limit = (size_t)due;
    }
    while (p->sent < limit && (!p->b->window || p->sent - p->done < p->b->window))
        send_one(p);
    p->pumping = false;
}

static void phase_finish_one(struct phase *p, size_t i, bool ok)
{
    if (p->done_ns[i])
        return;
    p->done_ns[i] = mono_ns();
    p->done++;
    if (ok)
        p->ok++;
    else
        p->failed++;
    if (p->done == p->n) {
        p->t_end = p->done_ns[i];
        uv_timer_stop(&p->pace);
        uv_stop(&p->b->loop);
        return;
    }
    if (p->b->window)
        pump(p);
}

static void on_pace(uv_timer_t *t)
{
    struct phase *p = t->data;
    pump(p);
    if (p->sent == p->n)
        uv_timer_stop(t);
}

static void on_watchdog(uv_timer_t *t)
{
    struct phase *p = t->data;
    p->timed_out = true;
    uv_stop(&p->b->loop);
}

/* A notification as the escalation engine makes one: a different number
 * each (no per-number limit is configured, but they would apply per number). */
static struct notify_msg *make_msg(int64_t id, size_t i)
{
    struct notify_msg *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    unsigned code = (unsigned)(id % 9000) + 1000;
    m->id = id;
    m->alert_id = id;
    m->contact_id = (int64_t)i + 1;
    snprintf(m->elder_id, sizeof m->elder_id, "E%06zu", i % 1000000);
    snprintf(m->rule, sizeof m->rule, "sos");
    m->severity = RULE_SEV_CRITICAL;
    snprintf(m->contact_name, sizeof m->contact_name, "张桂兰家属");
    m->role = 0;
    snprintf(m->to, sizeof m->to, "+86138%08zu", i % 100000000);
    m->channel = NOTIFY_SMS;
    snprintf(m->ack_code, sizeof m->ack_code, "%04u", code);
    m->event_ts_ms = 1796000000000 + (int64_t)i;
    m->created_ms = m->event_ts_ms;
    /* 59 characters, 145 bytes of UTF-8: a realistic alert SMS. */
    if (asprintf(&m->text, "【安心养老】紧急：石桥村张桂兰于11月29日14:03按下SOS求助，"
                           "请立即联系或上门查看。回复%04u确认由您处理。", code) < 0) {
        m->text = NULL;
        notify_msg_free(m);
        return NULL;
    }
    return m;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest rank, in ms. */
static double pct_ms(const uint64_t *sorted, size_t n, double q)
{
    if (!n)
        return 0;
    size_t k = (size_t)(q * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return (double)sorted[k - 1] / 1e6;
}

static void wait_sink_idle(struct sink *s)
{
    for (int i = 0; i < 300 && atomic_load(&s->conns_open) > 0; i++)
        usleep(10000);
}

static void close_noop(uv_handle_t *h)
{
    (void)h;
}

static int run_phase(struct bench *b, struct phase *p, bool via_notifier, size_t n, double rate)
{
    struct sink *s = &b->sink;
    memset(p, 0, sizeof *p);
    p->b = b;
    p->notifier = via_notifier;
    p->n = n;
    p->rate = rate;
    p->id0 = b->next_id;
    b->next_id += (int64_t)n;
    p->sent_ns = calloc(n, sizeof *p->sent_ns);
    p->done_ns = calloc(n, sizeof *p->done_ns);
    if (via_notifier)
        p->msgs = calloc(n, sizeof *p->msgs);
    else {
        p->bodies = calloc(n, sizeof *p->bodies);
        p->slots = calloc(n, sizeof *p->slots);
    }
    if (!p->sent_ns || !p->done_ns || (via_notifier ? !p->msgs : !p->bodies || !p->slots))
        return ANX_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct notify_msg *m = make_msg(p->id0 + (int64_t)i, i);
        if (!m)
            return ANX_ENOMEM;
        if (via_notifier) {
            p->msgs[i] = m;
            if (i == 0) {
                char *body = notify_webhook_body(m);
                p->body_len = body ? strlen(body) : 0;
                free(body);
            }
        } else {
            p->bodies[i] = notify_webhook_body(m);
            notify_msg_free(m);
            if (!p->bodies[i])
                return ANX_ENOMEM;
            if (i == 0)
                p->body_len = strlen(p->bodies[i]);
        }
    }
    int rc = httpc_new(&b->loop, &p->http);
    if (rc)
        return rc;
    if (via_notifier) {
        struct notifier_secrets none = {{0}};
        rc = notifier_new(&b->loop, &b->log, b->cfg, &none, p->http, on_attempt, p, &p->nf);
        if (rc)
            return rc;
    }
    uv_timer_init(&b->loop, &p->pace);
    uv_timer_init(&b->loop, &p->watchdog);
    p->pace.data = p->watchdog.data = p;

    wait_sink_idle(s);
    unsigned long opened0 = atomic_load(&s->conns_opened), dups0 = atomic_load(&s->duplicates);
    atomic_store(&s->conns_peak, atomic_load(&s->conns_open));
    uint64_t cpu0 = thread_cpu_ns();
    uv_update_time(&b->loop);
    p->t0 = mono_ns();
    pump(p);
    if (p->rate > 0 && p->sent < p->n)
        uv_timer_start(&p->pace, on_pace, 1, 1);
    uv_timer_start(&p->watchdog, on_watchdog, (uint64_t)(b->timeout_s * 1000), 0);
    if (p->done < p->n)
        uv_run(&b->loop, UV_RUN_DEFAULT);
    p->cpu_ns = thread_cpu_ns() - cpu0;
    if (!p->t_end)
        p->t_end = mono_ns();

    uv_timer_stop(&p->pace);
    uv_timer_stop(&p->watchdog);
    uv_close((uv_handle_t *)&p->pace, close_noop);
    uv_close((uv_handle_t *)&p->watchdog, close_noop);
    notifier_close(p->nf);
    httpc_close(p->http);
    uv_run(&b->loop, UV_RUN_DEFAULT);
    wait_sink_idle(s);

    p->conns_opened = atomic_load(&s->conns_opened) - opened0;
    p->conns_peak = (unsigned long)atomic_load(&s->conns_peak);
    p->dups = atomic_load(&s->duplicates) - dups0;
    p->wall_s = (double)(p->t_end - p->t0) / 1e9;
    p->per_s = p->wall_s > 0 ? (double)p->ok / p->wall_s : 0;
    p->cpu_us = n ? (double)p->cpu_ns / 1e3 / (double)n : 0;

    uint64_t *lat = calloc(n ? n : 1, sizeof *lat), *dl = calloc(n ? n : 1, sizeof *dl);
    if (!lat || !dl)
        return ANX_ENOMEM;
    size_t nl = 0, nd = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = atomic_load(&s->recv_ns[p->id0 + (int64_t)i - ID_BASE]);
        /* With a window, from when it fell due: the wait in the window
         * stands for a wait inside the sender. */
        uint64_t from = p->sent_ns[i];
        if (b->window && from)
            from = p->t0 + (p->rate > 0 ? (uint64_t)((double)i * 1e9 / p->rate) : 0);
        if (r && from)
            lat[nl++] = r > from ? r - from : 0;
        else
            p->missing++;
        if (p->done_ns[i] && from)
            dl[nd++] = p->done_ns[i] > from ? p->done_ns[i] - from : 0;
    }
    qsort(lat, nl, sizeof *lat, cmp_u64);
    qsort(dl, nd, sizeof *dl, cmp_u64);
    p->sink_p50 = pct_ms(lat, nl, 0.50);
    p->sink_p95 = pct_ms(lat, nl, 0.95);
    p->sink_p99 = pct_ms(lat, nl, 0.99);
    p->sink_max = pct_ms(lat, nl, 1.0);
    p->done_p50 = pct_ms(dl, nd, 0.50);
    p->done_p99 = pct_ms(dl, nd, 0.99);
    p->done_max = pct_ms(dl, nd, 1.0);
    free(lat);
    free(dl);
    return 0;
}

static void phase_free(struct phase *p)
{
    for (size_t i = 0; p->msgs && i < p->n; i++)
        notify_msg_free(p->msgs[i]);
    for (size_t i = 0; p->bodies && i < p->n; i++)
        free(p->bodies[i]);
    free(p->msgs);
    free(p->bodies);
    free(p->slots);
    free(p->sent_ns);
    free(p->done_ns);
}

static bool phase_clean(const struct phase *p)
{
    return !p->timed_out && p->ok == p->n && !p->missing && !p->start_errors;
}

/* ---- main --------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: notify-bench [-n N] [-c WINDOW] [-r ROUNDS] [-p RATE [-d SECONDS]]\n"
            "                    [-t SINK_THREADS] [-R PROVIDER_RATE] [-w WARMUP] [-T TIMEOUT_S]\n"
            "                    [-C COMMAND_LINE_TO_PRINT]\n");
}

static void raise_nofile(void)
{
    /* As many descriptors as systemd/anxind.service gives the daemon: with no
     * concurrency limit, a burst opens a connection per request, and the
     * sink in this process holds the other end of each. */
    struct rlimit rl = {65536, 65536};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    size_t n = 20000, window = 0, warmup = 500;
    int rounds = 1, sink_threads = 1, provider_rate = 0;
    double rate = 0, duration = 0, timeout_s = 120;
    const char *cmdline = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "n:c:r:p:d:t:R:w:T:C:h")) != -1) {
        switch (opt) {
        case 'n': n = strtoul(optarg, NULL, 10); break;
        case 'c': window = strtoul(optarg, NULL, 10); break;
        case 'r': rounds = atoi(optarg); break;
        case 'p': rate = strtod(optarg, NULL); break;
        case 'd': duration = strtod(optarg, NULL); break;
        case 't': sink_threads = atoi(optarg); break;
        case 'R': provider_rate = atoi(optarg); break;
        case 'w': warmup = strtoul(optarg, NULL, 10); break;
        case 'T': timeout_s = strtod(optarg, NULL); break;
        case 'C': cmdline = optarg; break;
        default: usage(); return 2;
        }
    }
    if (rate > 0 && duration > 0)
        n = (size_t)(rate * duration + 0.5);
    if (!n || rounds < 1 || rounds > 100 || sink_threads < 0 || rate < 0 || timeout_s <= 0) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    curl_global_init(CURL_GLOBAL_DEFAULT);

    struct bench b = {0};
    b.window = window;
    b.timeout_s = timeout_s;
    b.next_id = ID_BASE;
    log_init(&b.log);
    b.log.level = LOG_WARN;
    size_t ids = 2 * warmup + 2 * (size_t)rounds * n;
    if (sink_start(&b.sink, sink_threads, ids) != 0) {
        fprintf(stderr, "notify-bench: cannot start the sink on 127.0.0.1\n");
        return 1;
    }
    snprintf(b.url, sizeof b.url, "http://127.0.0.1:%u/notify", (unsigned)b.sink.port);

    char conf[1024], rate_line[32] = "";
    if (provider_rate > 0)
        snprintf(rate_line, sizeof rate_line, "rate = %d\n", provider_rate);
    snprintf(conf, sizeof conf,
             "[mqtt]\nurl = tcp://127.0.0.1:1883\n"
             "[database]\nconninfo = host=127.0.0.1 dbname=anxin\n"
             "[provider \"sink\"]\ntype = webhook\nurl = %s\ntimeout = 10s\n%s"
             "[channel \"sms\"]\nproviders = sink\n", b.url, rate_line);
    struct cfg_diags diags = {0};
    if (cfg_parse("notify-bench.conf", conf, strlen(conf), "/nonexistent", "/nonexistent",
                  &b.cfg, &diags) != 0) {
        for (size_t i = 0; i < diags.n; i++) {
            char line[300];
            cfg_diag_format("notify-bench.conf", &diags.items[i], line, sizeof line);
            fprintf(stderr, "%s\n", line);
        }
        return 1;
    }
    cfg_diags_free(&diags);
    if (uv_loop_init(&b.loop) != 0)
        return 1;

    bool clean = true;
    if (warmup) {
        struct phase w;
        for (int k = 0; k < 2; k++) {
            if (run_phase(&b, &w, k == 1, warmup, 0) != 0)
                return 1;
            clean &= phase_clean(&w);
            phase_free(&w);
        }
    }
    struct phase *ph = calloc(2 * (size_t)rounds, sizeof *ph);
    if (!ph)
        return 1;
    for (int r = 0; r < rounds; r++) {
        for (int j = 0; j < 2; j++) {
            int k = r % 2 ? 1 - j : j;      /* odd rounds: the notifier first */
            struct phase *p = &ph[2 * r + k];
            if (run_phase(&b, p, k == 1, n, rate) != 0) {
                fprintf(stderr, "notify-bench: out of memory or cannot start the client\n");
                return 1;
            }
            clean &= phase_clean(p);
            fprintf(stderr, "round %d %s: %zu/%zu ok in %.3f s\n", r + 1,
                    k ? "notifier" : "bare", p->ok, n, p->wall_s);
        }
    }

    /* ---- report ---- */
    uv_cpu_info_t *cpus = NULL;
    int ncpu = 0;
    uv_cpu_info(&cpus, &ncpu);
    uv_utsname_t un;
    uv_os_uname(&un);
    if (rate > 0)
        printf("## %zu paced at %.0f/s", n, rate);
    else
        printf("## Burst of %zu", n);
    if (window)
        printf(", at most %zu in flight", window);
    else
        printf(", no limit on requests in flight");
    printf(provider_rate ? ", provider rate %d/s\n\n" : "\n\n", provider_rate);
    if (rate > 0)
        printf("Paced at %.0f/s (%.1f s).", rate, (double)n / rate);
    else
        printf("All %zu handed over at once.", n);
    if (window)
        printf(" At most %zu in flight (kept by the bench, both paths).", window);
    if (provider_rate)
        printf(" Provider `rate = %d`.", provider_rate);
    printf("\n\n");
    if (cmdline)
        printf("Command: `%s`\n\n", cmdline);
    printf("Machine: %s %s %s, %d x %s; libcurl %s, libmicrohttpd %s, libuv %s; "
           "sink: %s; body %zu bytes (the webhook provider's JSON), headers Content-Type "
           "and Idempotency-Key; %zu warm-up requests each way first.\n\n",
           un.sysname, un.release, un.machine, ncpu, ncpu ? cpus[0].model : "?",
           curl_version_info(CURLVERSION_NOW)->version, MHD_get_version(), uv_version_string(),
           sink_threads == 0 ? "libmicrohttpd, a thread per connection"
           : sink_threads == 1 ? "libmicrohttpd, epoll, 1 internal thread"
                               : "libmicrohttpd, epoll thread pool",
           ph[0].body_len, warmup);
    uv_free_cpu_info(cpus, ncpu);

    printf("| round | path | ok | failed | retries | wall s | per s | loop CPU µs each "
           "| sink connections (peak open) |\n|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < 2 * rounds; i++) {
        struct phase *p = &ph[i];
        bool first = (i / 2) % 2 ? p->notifier : !p->notifier;
        printf("| %d | %s%s | %zu/%zu%s | %zu | %zu | %.3f | %.0f | %.1f | %lu (%lu) |\n",
               i / 2 + 1, p->notifier ? "notifier" : "bare httpc",
               rounds > 1 && first ? " (ran first)" : "", p->ok, p->n,
               p->timed_out ? " (timed out)" : "", p->failed, p->retries, p->wall_s,
               p->per_s, p->cpu_us, p->conns_opened, p->conns_peak);
    }
    printf("\nLatency in ms from %s to the sink having the whole request, and to the "
           "result callback:\n\n", window ? "when it fell due (the start of the burst, or "
           "its slot when paced; the wait in the window counts)"
           : "hand-over (httpc_start or notifier_send)");
    printf("| round | path | sink p50 | p95 | p99 | max | callback p50 | p99 | max |\n"
           "|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < 2 * rounds; i++) {
        struct phase *p = &ph[i];
        printf("| %d | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", i / 2 + 1,
               p->notifier ? "notifier" : "bare httpc", p->sink_p50, p->sink_p95, p->sink_p99,
               p->sink_max, p->done_p50, p->done_p99, p->done_max);
    }
    printf("\nNotifier against bare httpc:\n\n"
           "| round | per s ratio | added p50 ms | added p99 ms | added loop CPU µs each |\n"
           "|---|---|---|---|---|\n");
    double *ratio = calloc((size_t)rounds, sizeof *ratio);
    double *a50 = calloc((size_t)rounds, sizeof *a50), *a99 = calloc((size_t)rounds, sizeof *a99);
    double *acpu = calloc((size_t)rounds, sizeof *acpu);
    if (!ratio || !a50 || !a99 || !acpu)
        return 1;
    for (int r = 0; r < rounds; r++) {
        struct phase *bare = &ph[2 * r], *nf = &ph[2 * r + 1];
        ratio[r] = bare->per_s > 0 ? nf->per_s / bare->per_s : 0;
        a50[r] = nf->sink_p50 - bare->sink_p50;
        a99[r] = nf->sink_p99 - bare->sink_p99;
        acpu[r] = nf->cpu_us - bare->cpu_us;
        printf("| %d | %.2f | %+.2f | %+.2f | %+.1f |\n", r + 1, ratio[r], a50[r], a99[r],
               acpu[r]);
    }
    if (rounds > 1)
        printf("| median | %.2f | %+.2f | %+.2f | %+.1f |\n", median(ratio, (size_t)rounds),
               median(a50, (size_t)rounds), median(a99, (size_t)rounds),
               median(acpu, (size_t)rounds));
    bool any_error = false;
    for (int i = 0; i < 2 * rounds; i++) {
        struct phase *p = &ph[i];
        for (size_t k = 0; k < sizeof p->errors / sizeof p->errors[0] && p->errors[k].n; k++,
             any_error = true)
            printf("%s- round %d, %s: %zu x \"%s\"\n", any_error ? "" : "\nErrors:\n\n",
                   i / 2 + 1, p->notifier ? "notifier" : "bare httpc", p->errors[k].n,
                   p->errors[k].msg);
        if (p->errors_other)
            printf("- round %d, %s: %zu other errors\n", i / 2 + 1,
                   p->notifier ? "notifier" : "bare httpc", p->errors_other);
    }
    unsigned long dups = atomic_load(&b.sink.duplicates), strays = atomic_load(&b.sink.strays);
    printf("\nSink: %lu requests, %lu duplicates, %lu with an unknown id.%s\n",
           atomic_load(&b.sink.received), dups, strays,
           clean ? "" : " NOT CLEAN: some did not finish as sent (see ok/failed above).");
    fflush(stdout);

    for (int i = 0; i < 2 * rounds; i++)
        phase_free(&ph[i]);
    free(ph);
    free(ratio);
    free(a50);
    free(a99);
    free(acpu);
    uv_loop_close(&b.loop);
    sink_stop(&b.sink);
    cfg_free(b.cfg);
    curl_global_cleanup();
    return clean && !dups && !strays ? 0 : 1;
}
