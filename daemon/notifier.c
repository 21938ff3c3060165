/* notifier.c - providers, retries and failover (see notifier.h). */
#include "notifier.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "clock.h"
#include "err.h"
#include "mask.h"
#include "prov_aliyun.h"
#include "prov_kannel.h"
#include "prov_tencent.h"
#include "prov_twilio.h"
#include "prov_webhook.h"
#include "rng.h"
#include "strmap.h"

struct job {
    struct notifier *nf;
    struct notify_msg *msg;
    size_t chain_pos;               /* which provider of the channel's list */
    int attempt;                    /* attempts so far, all providers */
    int attempt_here;               /* attempts at the current provider */
    int64_t here_since_ms;          /* first attempt at the current provider */
    int64_t started_ms;
    struct httpc_req *req;
    uv_timer_t timer;
    bool timer_open;
    bool rate_slot;                 /* waiting for a send slot already reserved */
    int http_index;                 /* provider of req, or of the queue it waits in */
    bool queued;                    /* waiting for one of the provider's request slots */
    struct job *prev, *next;
    struct job *qnext;              /* in the provider's queue */
};

/* Requests in flight per provider. More would wait inside curl for one of
 * its connections (httpc caps them per host) with their timeout already
 * running, and a burst would fail by timing out in curl's queue; they wait
 * in the notifier's own queue instead, in order, with no clock running. */
#define PROVIDER_MAX_INFLIGHT ((int)HTTPC_MAX_HOST_CONNECTIONS / 2)

struct send_queue {
    struct job *head, *tail;
    int inflight;
};

/* A circuit breaker per provider: after BREAKER_FAILS failures in a row the
 * provider is skipped for its recover_after (notifications go straight to
 * the next one), then tried again; a success closes it. */
#define BREAKER_FAILS 5

struct breaker {
    int fails;
    int64_t open_until;
};

/* A provider's send rate, as a virtual schedule (GCRA): each send takes the
 * next slot, rate a second, with up to one second's worth at once. A job
 * that must wait keeps the slot it was given, so waiting jobs wake once,
 * each at its own time, instead of all at every free slot. */
struct bucket {
    double tat;         /* when the schedule is free again, ms */
};

struct notifier {
    uv_loop_t *loop;
    struct logger *log;
    const struct cfg *cfg;
    struct notifier_secrets secrets;
    struct httpc *http;
    notifier_result_cb cb;
    void *arg;
    struct job *jobs;
    size_t n_jobs, n_inflight;
    uint64_t rng;
    FILE *console[CFG_MAX_PROVIDERS];   /* opened console outputs, by provider index */
    /* Sends per number and provider name, for per_callee limits. */
    struct strmap sent;                 /* "provider\x1f+86..." -> struct sent_log */
    struct breaker breakers[CFG_MAX_PROVIDERS];
    struct bucket buckets[CFG_MAX_PROVIDERS];
    struct send_queue queues[CFG_MAX_PROVIDERS];
    unsigned sends_since_prune;
    bool closing;
};

#define SENT_KEEP 32    /* send times kept per number: the largest limit count counted */

struct sent_log {
    int64_t t[SENT_KEEP];               /* newest first */
    int n;
    char key[];
};

static void free_secrets(struct notifier_secrets *s)
{
    for (size_t i = 0; i < CFG_MAX_PROVIDERS; i++) {
        if (s->token[i]) {
            memset(s->token[i], 0, strlen(s->token[i]));
            free(s->token[i]);
            s->token[i] = NULL;
        }
    }
}

static void close_consoles(struct notifier *nf)
{
    for (size_t i = 0; i < CFG_MAX_PROVIDERS; i++) {
        if (nf->console[i] && nf->console[i] != stdout)
            fclose(nf->console[i]);
        nf->console[i] = NULL;
    }
}

int notifier_new(uv_loop_t *loop, struct logger *log, const struct cfg *cfg,
                 struct notifier_secrets *secrets, struct httpc *http,
                 notifier_result_cb cb, void *arg, struct notifier **out)
{
    struct notifier *nf = calloc(1, sizeof *nf);
    if (!nf) {
        free_secrets(secrets);
        return ANX_ENOMEM;
    }
    nf->loop = loop;
    nf->log = log;
    nf->cfg = cfg;
    nf->secrets = *secrets;
    memset(secrets, 0, sizeof *secrets);
    nf->http = http;
    nf->cb = cb;
    nf->arg = arg;
    nf->rng = (uint64_t)clock_wall_ms() * 0x9E3779B97F4A7C15ull | 1;
    *out = nf;
    return 0;
}

void notifier_reconfigure(struct notifier *nf, const struct cfg *cfg,
                          struct notifier_secrets *secrets)
{
    free_secrets(&nf->secrets);
    close_consoles(nf);
    nf->secrets = *secrets;
    memset(secrets, 0, sizeof *secrets);
    nf->cfg = cfg;
}

static void link_job(struct notifier *nf, struct job *j)
{
    j->next = nf->jobs;
    if (nf->jobs)
        nf->jobs->prev = j;
    nf->jobs = j;
    nf->n_jobs++;
}

static void send_http_now(struct job *j, int index, const struct cfg_provider *p);
static const struct cfg_provider *current_provider(const struct job *j, int *index);
static void attempt(struct job *j);

static void unqueue(struct notifier *nf, struct job *j)
{
    struct send_queue *q = &nf->queues[j->http_index];
    struct job *prev = NULL;
    for (struct job *x = q->head; x; prev = x, x = x->qnext) {
        if (x != j)
            continue;
        if (prev)
            prev->qnext = x->qnext;
        else
            q->head = x->qnext;
        if (q->tail == x)
            q->tail = prev;
        break;
    }
    j->qnext = NULL;
    j->queued = false;
}

/* A request of provider index ended: the next one waiting takes its slot. */
static void release_slot(struct notifier *nf, int index)
{
    struct send_queue *q = &nf->queues[index];
    nf->n_inflight--;
    q->inflight--;
    while (!nf->closing && q->head && q->inflight < PROVIDER_MAX_INFLIGHT) {
        struct job *j = q->head;
        q->head = j->qnext;
        if (!q->head)
            q->tail = NULL;
        j->qnext = NULL;
        j->queued = false;
        int i = -1;
        const struct cfg_provider *p = current_provider(j, &i);
        if (p && i == index)
            send_http_now(j, index, p);
        else
            attempt(j);     /* the configuration changed under it */
    }
}

static void job_closed(uv_handle_t *h)
{
    struct job *j = h->data;
    notify_msg_free(j->msg);
    free(j);
}

static void finish_job(struct job *j)
{
    struct notifier *nf = j->nf;
    if (j->prev)
        j->prev->next = j->next;
    else
        nf->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    nf->n_jobs--;
    if (j->queued)
        unqueue(nf, j);
    if (j->req) {
        httpc_cancel(j->req);
        j->req = NULL;
        release_slot(nf, j->http_index);
    }
    if (j->timer_open) {
        uv_timer_stop(&j->timer);
        uv_close((uv_handle_t *)&j->timer, job_closed);
    } else {
        notify_msg_free(j->msg);
        free(j);
    }
}

static const struct cfg_provider *current_provider(const struct job *j, int *index)
{
    const struct cfg *c = j->nf->cfg;
    enum cfg_channel ch = j->msg->channel == NOTIFY_VOICE ? CFG_CHANNEL_VOICE : CFG_CHANNEL_SMS;
    if (j->chain_pos >= c->channel_n[ch])
        return NULL;
    int i = c->channel_providers[ch][j->chain_pos];
    if (index)
        *index = i;
    return &c->providers[i];
}

static void on_retry_timer(uv_timer_t *t)
{
    attempt(t->data);
}

/* Reports the attempt and decides what follows: done, retry here, or the
 * next provider. */
static void conclude(struct job *j, const struct cfg_provider *p, enum notifier_outcome out,
                     long status, const char *ref, const char *error, int64_t retry_hint_ms)
{
    struct notifier *nf = j->nf;
    struct notifier_attempt a = {
        .attempt = j->attempt,
        .provider = p ? p->name : "none",
        .started_ms = j->started_ms,
        .finished_ms = clock_wall_ms(),
        .outcome = out,
        .http_status = status,
        .provider_ref = ref,
        .error = error,
    };
    bool next_provider = false;
    if (p) {
        int pi = cfg_provider_index(nf->cfg, p->name);
        struct breaker *b = pi >= 0 ? &nf->breakers[pi] : NULL;
        if (b && out == NOTIFIER_SENT) {
            b->fails = 0;
            b->open_until = 0;
        } else if (b && (out == NOTIFIER_RETRY || status >= 500 || status == 0) &&
                   ++b->fails >= BREAKER_FAILS) {
            if (!b->open_until)
                log_warn(nf->log, "provider %s failed %d times in a row: skipping it for %lld s",
                         p->name, b->fails, (long long)(p->recover_after_ms / 1000));
            b->open_until = a.finished_ms + p->recover_after_ms;
        }
    }
    if (out == NOTIFIER_RETRY &&
        (!p || j->attempt_here >= p->max_attempts ||
         (p->failover_after_ms > 0 && a.finished_ms - j->here_since_ms >= p->failover_after_ms))) {
        next_provider = true;
    } else if (out == NOTIFIER_FAILED) {
        next_provider = true;
    }
    if (next_provider) {
        j->chain_pos++;
        j->attempt_here = 0;
        if (current_provider(j, NULL)) {
            out = NOTIFIER_RETRY;
            a.outcome = NOTIFIER_RETRY;
            a.retry_in_ms = 0;
        } else {
            out = NOTIFIER_FAILED;
            a.outcome = NOTIFIER_FAILED;
        }
    } else if (out == NOTIFIER_RETRY) {
        int64_t d = backoff_delay_ms(j->attempt_here, p->backoff_ms, p->backoff_max_ms,
                                     rng_next(&nf->rng));
        if (retry_hint_ms > d)
            d = retry_hint_ms > p->backoff_max_ms ? p->backoff_max_ms : retry_hint_ms;
        a.retry_in_ms = d;
    }
    nf->cb(nf->arg, j->msg, &a);
    if (out != NOTIFIER_RETRY || nf->closing) {
        finish_job(j);
        return;
    }
    if (!j->timer_open) {
        uv_timer_init(nf->loop, &j->timer);
        j->timer.data = j;
        j->timer_open = true;
    }
    uv_timer_start(&j->timer, on_retry_timer, (uint64_t)a.retry_in_ms, 0);
}

/* What the provider's answer means. */
static enum prov_result parse_answer(const struct job *j, const struct cfg_provider *p,
                                     const struct httpc_response *r, char *ref, size_t reflen,
                                     char *err, size_t errlen)
{
    ref[0] = '\0';
    switch (p->type) {
    case CFG_PROVIDER_KANNEL:
        return prov_kannel_parse(r->status, r->body, r->body_len, j->msg->id, ref, reflen, err,
                                 errlen);
    case CFG_PROVIDER_ALIYUN:
        return prov_aliyun_parse(r->status, r->body, r->body_len, ref, reflen, err, errlen);
    case CFG_PROVIDER_TENCENT:
        return prov_tencent_parse(r->status, r->body, r->body_len, ref, reflen, err, errlen);
    case CFG_PROVIDER_TWILIO:
        return prov_twilio_parse(r->status, r->body, r->body_len, ref, reflen, err, errlen);
    case CFG_PROVIDER_WEBHOOK:
    default:
        return prov_webhook_parse(r->status, err, errlen);
    }
}

static void on_http_done(void *arg, const struct httpc_response *r)
{
    struct job *j = arg;
    struct notifier *nf = j->nf;
    const struct cfg_provider *p = current_provider(j, NULL);
    char err[200], ref[96];

    j->req = NULL;
    release_slot(nf, j->http_index);
    if (r->curl_code != CURLE_OK || !p) {
        snprintf(err, sizeof err, "%s", r->error ? r->error : "transfer failed");
        conclude(j, p, NOTIFIER_RETRY, 0, NULL, err, -1);
        return;
    }
    switch (parse_answer(j, p, r, ref, sizeof ref, err, sizeof err)) {
    case PROV_SENT:
        conclude(j, p, NOTIFIER_SENT, r->status, ref[0] ? ref : NULL, NULL, -1);
        break;
    case PROV_RETRY:
        conclude(j, p, NOTIFIER_RETRY, r->status, NULL, err,
                 backoff_retry_after_ms(r->retry_after));
        break;
    case PROV_FAILED:
        conclude(j, p, NOTIFIER_FAILED, r->status, NULL, err, -1);
        break;
    }
}

static FILE *console_out(struct notifier *nf, int index, const struct cfg_provider *p)
{
    if (nf->console[index])
        return nf->console[index];
    if (!p->output) {
        nf->console[index] = stdout;
    } else {
        nf->console[index] = fopen(p->output, "a");
        if (nf->console[index])
            setvbuf(nf->console[index], NULL, _IOLBF, 0);
    }
    return nf->console[index];
}

/* Role names as call-center staff say them. */
static const char *role_zh(int role)
{
    static const char *const names[REG_ROLE_COUNT] = {
        "家属", "邻居", "网格员", "医生", "社区", "志愿者", "呼叫中心",
    };
    return role >= 0 && role < REG_ROLE_COUNT ? names[role] : "联系人";
}

static void send_console(struct job *j, int index, const struct cfg_provider *p)
{
    struct notifier *nf = j->nf;
    const struct notify_msg *m = j->msg;
    FILE *f = console_out(nf, index, p);
    if (!f) {
        conclude(j, p, NOTIFIER_FAILED, 0, NULL, "cannot open the console output file", -1);
        return;
    }
    char masked[MASK_PHONE_MAX], when[NOTIFY_TIME_LEN];
    mask_phone(m->to, masked, sizeof masked);
    notify_format_local(clock_wall_ms(), nf->cfg->utc_offset_min, when);
    fprintf(f, "%s %s → %s（%s）%s  [告警 %" PRId64 " · 通知 %" PRId64 "]\n    %s\n", when,
            m->channel == NOTIFY_VOICE ? "语音" : "短信", m->contact_name,
            role_zh(m->role), masked, m->alert_id,
            m->id, m->text ? m->text : "");
    fflush(f);
    char ref[40];
    snprintf(ref, sizeof ref, "console-%" PRId64, m->id);
    conclude(j, p, ferror(f) ? NOTIFIER_FAILED : NOTIFIER_SENT, 0, ferror(f) ? NULL : ref,
             ferror(f) ? "write to the console output failed" : NULL, -1);
}

/* Builds the provider's request for the notification. */
static int build_request(struct notifier *nf, int index, const struct cfg_provider *p,
                         const struct notify_msg *m, struct prov_request *req, char *err,
                         size_t errlen)
{
    const char *secret = nf->secrets.token[index];
    int rc;
    switch (p->type) {
    case CFG_PROVIDER_KANNEL: {
        struct prov_kannel_conf c = {
            .url = p->url, .username = p->account, .password = secret, .from = p->from,
            .callback = p->callback, .report_key = secret,
        };
        rc = prov_kannel_build(&c, m, req);
        break;
    }
    case CFG_PROVIDER_WEBHOOK:
        rc = prov_webhook_build(p->url, secret, m, req);
        break;
    case CFG_PROVIDER_ALIYUN: {
        struct prov_aliyun_conf c = {
            .sms_endpoint = p->url, .voice_endpoint = p->voice_url, .key_id = p->account,
            .key_secret = secret, .sign_name = p->sign_name, .sms_template = p->template_id,
            .tts_template = p->voice_template, .called_show_number = p->from,
        };
        /* SignatureNonce: unique per request, so a retry is a new request
         * (the OutId is what stays the same). */
        char nonce[40];
        snprintf(nonce, sizeof nonce, "%08" PRIx32 "%08" PRIx32 "%08" PRIx32 "%08" PRIx32,
                 rng_next(&nf->rng), rng_next(&nf->rng), rng_next(&nf->rng),
                 rng_next(&nf->rng));
        rc = prov_aliyun_build(&c, m, clock_wall_ms(), nonce, req);
        break;
    }
    case CFG_PROVIDER_TENCENT: {
        struct prov_tencent_conf c = {
            .endpoint = p->url, .secret_id = p->account, .secret_key = secret,
            .sdk_app_id = p->app_id, .sign_name = p->sign_name, .template_id = p->template_id,
            .region = p->region,
        };
        rc = prov_tencent_build(&c, m, clock_wall_ms(), req);
        break;
    }
    case CFG_PROVIDER_TWILIO: {
        struct prov_twilio_conf c = {
            .base = p->url, .account_sid = p->account, .auth_token = secret, .from = p->from,
            .callback_base = p->callback,
        };
        rc = prov_twilio_build(&c, m, req);
        break;
    }
    default:
        rc = ANX_EINVAL;
        break;
    }
    if (rc)
        snprintf(err, errlen, "cannot build the %s request for a %s notification: %s",
                 cfg_provider_type_name(p->type), notify_channel_name(m->channel),
                 anx_strerror(rc));
    return rc;
}

static void send_http(struct job *j, int index, const struct cfg_provider *p)
{
    struct notifier *nf = j->nf;
    struct send_queue *q = &nf->queues[index];
    if (q->inflight >= PROVIDER_MAX_INFLIGHT) {
        j->http_index = index;
        j->queued = true;
        if (q->tail)
            q->tail->qnext = j;
        else
            q->head = j;
        q->tail = j;
        return;
    }
    send_http_now(j, index, p);
}

static void send_http_now(struct job *j, int index, const struct cfg_provider *p)
{
    struct notifier *nf = j->nf;
    struct prov_request req = {0};
    char err[200];
    if (build_request(nf, index, p, j->msg, &req, err, sizeof err) != 0) {
        /* A notification this provider cannot carry: the next one may. */
        conclude(j, p, NOTIFIER_FAILED, 0, NULL, err, -1);
        return;
    }
    struct httpc_opts o = {
        .method = req.method,
        .headers = (const char *const *)req.headers,
        .body = req.body,
        .body_len = req.body_len,
        .timeout_ms = p->timeout_ms,
        .userpwd = req.userpwd,
    };
    j->started_ms = clock_wall_ms();
    j->req = httpc_start(nf->http, req.url, &o, on_http_done, j);
    prov_request_free(&req);
    if (!j->req) {
        conclude(j, p, NOTIFIER_RETRY, 0, NULL, "could not start the HTTP request", -1);
        return;
    }
    j->http_index = index;
    nf->queues[index].inflight++;
    nf->n_inflight++;
}

/* Sends are counted per provider, channel and number, and for identical
 * texts also per text (text_hash != 0). */
static struct sent_log *sent_log(struct notifier *nf, const struct cfg_provider *p,
                                 const struct notify_msg *m, uint32_t text_hash, bool create)
{
    char key[CFG_NAME_MAX + 48];
    snprintf(key, sizeof key, "%s\x1f%s\x1f%s\x1f%08" PRIx32, p->name,
             notify_channel_name(m->channel), m->to, text_hash);
    struct sent_log *l = strmap_get(&nf->sent, key);
    if (l || !create)
        return l;
    l = calloc(1, sizeof *l + strlen(key) + 1);
    if (!l)
        return NULL;
    strcpy(l->key, key);
    if (strmap_put(&nf->sent, l->key, l, NULL)) {
        free(l);
        return NULL;
    }
    return l;
}

/* Limits the providers themselves enforce, used when the configuration
 * sets none: Aliyun calls a number at most 1/min, 5/h, 20/day; Aliyun and
 * Tencent refuse the same SMS text to one number within a minute. */
static const struct cfg_limit aliyun_voice_limits[] = {
    {1, 60000}, {5, 3600000}, {20, 86400000},
};
static const struct cfg_limit same_text_limit[] = {{1, 60000}};

static const struct cfg_limit *callee_limits(const struct cfg_provider *p,
                                             const struct notify_msg *m, size_t *n)
{
    if (p->n_per_callee) {
        *n = p->n_per_callee;
        return p->per_callee;
    }
    if (p->type == CFG_PROVIDER_ALIYUN && m->channel == NOTIFY_VOICE) {
        *n = sizeof aliyun_voice_limits / sizeof aliyun_voice_limits[0];
        return aliyun_voice_limits;
    }
    *n = 0;
    return NULL;
}

static uint32_t text_hash(const struct notify_msg *m)
{
    uint32_t h = 2166136261u;       /* FNV-1a */
    for (const char *c = m->text ? m->text : ""; *c; c++)
        h = (h ^ (uint8_t)*c) * 16777619u;
    return h | 1;                   /* never 0: 0 means "any text" */
}

static bool same_text_limited(const struct cfg_provider *p, const struct notify_msg *m)
{
    return m->channel == NOTIFY_SMS &&
           (p->type == CFG_PROVIDER_ALIYUN || p->type == CFG_PROVIDER_TENCENT);
}

/* When a list of limits allows the next send counted in l (now if now). */
static int64_t limits_allow(const struct sent_log *l, const struct cfg_limit *lims, size_t n,
                            int64_t at, const struct cfg_limit **why)
{
    for (size_t i = 0; l && i < n; i++) {
        const struct cfg_limit *lim = &lims[i];
        int c = lim->count < SENT_KEEP ? lim->count : SENT_KEEP;
        /* The c-th newest send must have left the window. */
        if (l->n >= c && l->t[c - 1] + lim->window_ms > at) {
            at = l->t[c - 1] + lim->window_ms;
            *why = lim;
        }
    }
    return at;
}

/* When the provider's per-number limits allow the next send of m (now if
 * they do now). *why describes the limit that holds it back. */
static int64_t allowed_at(struct notifier *nf, const struct cfg_provider *p,
                          const struct notify_msg *m, int64_t now, const struct cfg_limit **why)
{
    size_t n;
    const struct cfg_limit *lims = callee_limits(p, m, &n);
    *why = NULL;
    int64_t at = now;
    if (n)
        at = limits_allow(sent_log(nf, p, m, 0, false), lims, n, at, why);
    if (same_text_limited(p, m))
        at = limits_allow(sent_log(nf, p, m, text_hash(m), false), same_text_limit, 1, at, why);
    return at;
}

static void log_send(struct sent_log *l, int64_t now)
{
    if (!l)
        return;
    memmove(l->t + 1, l->t, (SENT_KEEP - 1) * sizeof l->t[0]);
    l->t[0] = now;
    if (l->n < SENT_KEEP)
        l->n++;
}

/* Forgets numbers whose newest send is older than any limit looks back
 * (a day for the built-in ones), so the log does not grow with every text
 * ever sent. Runs every SENT_PRUNE_EVERY sends. */
#define SENT_PRUNE_EVERY 4096

static void prune_sent(struct notifier *nf, int64_t now)
{
    int64_t keep = 86400000;
    for (size_t i = 0; i < nf->cfg->n_providers; i++)
        for (size_t k = 0; k < nf->cfg->providers[i].n_per_callee; k++)
            if (nf->cfg->providers[i].per_callee[k].window_ms > keep)
                keep = nf->cfg->providers[i].per_callee[k].window_ms;
    size_t it = 0, n_old = 0;
    void *v;
    struct sent_log **old = calloc(nf->sent.len ? nf->sent.len : 1, sizeof *old);
    if (!old)
        return;
    while (strmap_next(&nf->sent, &it, NULL, &v)) {
        struct sent_log *l = v;
        if (l->n == 0 || l->t[0] < now - keep)
            old[n_old++] = l;
    }
    for (size_t i = 0; i < n_old; i++) {
        strmap_del(&nf->sent, old[i]->key);
        free(old[i]);
    }
    free(old);
}

static void note_sent(struct notifier *nf, const struct cfg_provider *p,
                      const struct notify_msg *m, int64_t now)
{
    if (++nf->sends_since_prune >= SENT_PRUNE_EVERY) {
        nf->sends_since_prune = 0;
        prune_sent(nf, now);
    }
    size_t n;
    callee_limits(p, m, &n);
    if (n)
        log_send(sent_log(nf, p, m, 0, true), now);
    if (same_text_limited(p, m))
        log_send(sent_log(nf, p, m, text_hash(m), true), now);
}

/* Reserves the provider's next send slot: returns how long until it (0 =
 * now). */
static int64_t rate_reserve(struct bucket *b, int rate, int64_t now)
{
    if (rate <= 0)
        return 0;
    double interval = 1000.0 / rate;
    double tat = b->tat > (double)now ? b->tat : (double)now;
    double at = tat - (1000.0 - interval);      /* a second's burst is allowed */
    b->tat = tat + interval;
    return at > (double)now ? (int64_t)(at - (double)now) + 1 : 0;
}

static void limit_text(const struct cfg_limit *lim, char *out, size_t len)
{
    if (!lim) {
        snprintf(out, len, "?");
        return;
    }
    int64_t w = lim->window_ms;
    if (w % 86400000 == 0)
        snprintf(out, len, "%d/%lldd", lim->count, (long long)(w / 86400000));
    else if (w % 3600000 == 0)
        snprintf(out, len, "%d/%lldh", lim->count, (long long)(w / 3600000));
    else if (w % 60000 == 0)
        snprintf(out, len, "%d/%lldm", lim->count, (long long)(w / 60000));
    else
        snprintf(out, len, "%d/%llds", lim->count, (long long)(w / 1000));
}

/* Every provider of the channel is over its limit for this number: a voice
 * call becomes an SMS (the chain must not stall on a capped callee); an SMS
 * waits until the earliest provider allows it. */
static void capped(struct job *j, const struct cfg_provider *first, int64_t until,
                   const struct cfg_limit *lim)
{
    struct notifier *nf = j->nf;
    char l[32], err[160];
    limit_text(lim, l, sizeof l);
    j->attempt++;
    j->started_ms = clock_wall_ms();
    if (j->msg->channel == NOTIFY_VOICE) {
        snprintf(err, sizeof err, "capped: voice limit %s for this number; sent by SMS instead",
                 l);
        struct notifier_attempt a = {
            .attempt = j->attempt, .provider = first->name, .started_ms = j->started_ms,
            .finished_ms = j->started_ms, .outcome = NOTIFIER_RETRY, .error = err,
            .capped = true,
        };
        nf->cb(nf->arg, j->msg, &a);
        j->msg->channel = NOTIFY_SMS;
        if (j->msg->sms_text) {
            free(j->msg->text);
            j->msg->text = j->msg->sms_text;
            j->msg->sms_text = NULL;
        }
        j->chain_pos = 0;
        j->attempt_here = 0;
        attempt(j);
        return;
    }
    if (lim == same_text_limit)
        snprintf(err, sizeof err, "capped: the same text to this number at most %s; waiting", l);
    else
        snprintf(err, sizeof err, "capped: limit %s for this number; waiting", l);
    struct notifier_attempt a = {
        .attempt = j->attempt, .provider = first->name, .started_ms = j->started_ms,
        .finished_ms = j->started_ms, .outcome = NOTIFIER_RETRY, .error = err,
        .retry_in_ms = until - j->started_ms, .capped = true,
    };
    nf->cb(nf->arg, j->msg, &a);
    if (!j->timer_open) {
        uv_timer_init(nf->loop, &j->timer);
        j->timer.data = j;
        j->timer_open = true;
    }
    j->chain_pos = 0;
    j->attempt_here = 0;
    uv_timer_start(&j->timer, on_retry_timer, (uint64_t)(until - j->started_ms), 0);
}

static void attempt(struct job *j)
{
    int index = -1;
    const struct cfg_provider *p = current_provider(j, &index);
    if (!p) {
        conclude(j, NULL, NOTIFIER_FAILED, 0, NULL, "no provider configured for this channel", -1);
        return;
    }
    /* Over a per-number limit here: the next provider of the channel. */
    int64_t now = clock_wall_ms(), earliest = INT64_MAX;
    const struct cfg_limit *why = NULL, *first_why = NULL;
    const struct cfg_provider *first = p;
    while (p && allowed_at(j->nf, p, j->msg, now, &why) > now) {
        int64_t at = allowed_at(j->nf, p, j->msg, now, &why);
        if (at < earliest) {
            earliest = at;
            first_why = why;
        }
        j->chain_pos++;
        j->attempt_here = 0;
        p = current_provider(j, &index);
    }
    if (!p) {
        capped(j, first, earliest, first_why);
        return;
    }
    /* A provider whose breaker is open is passed over while another can take it. */
    while (j->nf->breakers[index].open_until > now) {
        struct job probe = *j;
        probe.chain_pos++;
        int ni = -1;
        const struct cfg_provider *np = current_provider(&probe, &ni);
        if (!np)
            break;      /* nothing else: try this one anyway, never stall */
        j->chain_pos = probe.chain_pos;
        j->attempt_here = 0;
        p = np;
        index = ni;
    }
    /* Over the provider's send rate: wait for the slot reserved for it. */
    int64_t wait = j->rate_slot ? 0 : rate_reserve(&j->nf->buckets[index], p->rate, now);
    j->rate_slot = wait > 0;
    if (wait > 0) {
        if (!j->timer_open) {
            uv_timer_init(j->nf->loop, &j->timer);
            j->timer.data = j;
            j->timer_open = true;
        }
        uv_timer_start(&j->timer, on_retry_timer, (uint64_t)wait, 0);
        return;
    }
    note_sent(j->nf, p, j->msg, now);
    if (j->attempt_here == 0)
        j->here_since_ms = now;
    j->attempt++;
    j->attempt_here++;
    j->started_ms = clock_wall_ms();
    switch (p->type) {
    case CFG_PROVIDER_CONSOLE:
        send_console(j, index, p);
        break;
    case CFG_PROVIDER_WEBHOOK:
    case CFG_PROVIDER_KANNEL:
    case CFG_PROVIDER_ALIYUN:
    case CFG_PROVIDER_TENCENT:
    case CFG_PROVIDER_TWILIO:
        send_http(j, index, p);
        break;
    }
}

int notifier_send(struct notifier *nf, struct notify_msg *n, int prior_attempts)
{
    if (nf->closing) {
        notify_msg_free(n);
        return ANX_ESTATE;
    }
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        notify_msg_free(n);
        return ANX_ENOMEM;
    }
    j->nf = nf;
    j->msg = n;
    j->attempt = prior_attempts > 0 ? prior_attempts : 0;
    link_job(nf, j);
    attempt(j);
    return 0;
}

size_t notifier_cancel_alert(struct notifier *nf, int64_t alert_id)
{
    size_t n = 0;
    struct job *j = nf->jobs;
    while (j) {
        struct job *next = j->next;
        if (j->msg->alert_id == alert_id) {
            finish_job(j);
            n++;
        }
        j = next;
    }
    return n;
}

const char *notifier_secret(const struct notifier *nf, int i)
{
    return i >= 0 && i < CFG_MAX_PROVIDERS ? nf->secrets.token[i] : NULL;
}

int notifier_provider_up(const struct notifier *nf, int i, int64_t now_ms)
{
    return i < 0 || i >= CFG_MAX_PROVIDERS || nf->breakers[i].open_until <= now_ms;
}

size_t notifier_pending(const struct notifier *nf)
{
    return nf->n_jobs;
}

size_t notifier_inflight(const struct notifier *nf)
{
    return nf->n_inflight;
}

void notifier_close(struct notifier *nf)
{
    if (!nf)
        return;
    nf->closing = true;
    while (nf->jobs)
        finish_job(nf->jobs);
    close_consoles(nf);
    free_secrets(&nf->secrets);
    size_t it = 0;
    void *v;
    while (strmap_next(&nf->sent, &it, NULL, &v))
        free(v);
    strmap_free(&nf->sent);
    free(nf);
}
