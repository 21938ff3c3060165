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
#include "rng.h"
#include "strmap.h"

struct job {
    struct notifier *nf;
    struct notify_msg *msg;
    size_t chain_pos;               /* which provider of the channel's list */
    int attempt;                    /* attempts so far, all providers */
    int attempt_here;               /* attempts at the current provider */
    int64_t started_ms;
    struct httpc_req *req;
    uv_timer_t timer;
    bool timer_open;
    struct job *prev, *next;
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
    if (j->req) {
        httpc_cancel(j->req);
        j->req = NULL;
        nf->n_inflight--;
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

static void attempt(struct job *j);

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
    if (out == NOTIFIER_RETRY && (!p || j->attempt_here >= p->max_attempts)) {
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

static void on_webhook_done(void *arg, const struct httpc_response *r)
{
    struct job *j = arg;
    struct notifier *nf = j->nf;
    const struct cfg_provider *p = current_provider(j, NULL);
    char err[200];

    j->req = NULL;
    nf->n_inflight--;
    if (r->curl_code != CURLE_OK) {
        snprintf(err, sizeof err, "%s", r->error ? r->error : "transfer failed");
        conclude(j, p, NOTIFIER_RETRY, 0, NULL, err, -1);
        return;
    }
    if (r->status >= 200 && r->status < 300) {
        conclude(j, p, NOTIFIER_SENT, r->status, NULL, NULL, -1);
        return;
    }
    snprintf(err, sizeof err, "HTTP %ld", r->status);
    if (r->status == 429 || r->status == 408 || r->status >= 500)
        conclude(j, p, NOTIFIER_RETRY, r->status, NULL, err,
                 backoff_retry_after_ms(r->retry_after));
    else
        conclude(j, p, NOTIFIER_FAILED, r->status, NULL, err, -1);
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

static void send_webhook(struct job *j, int index, const struct cfg_provider *p)
{
    struct notifier *nf = j->nf;
    char *body = notify_webhook_body(j->msg);
    if (!body) {
        conclude(j, p, NOTIFIER_RETRY, 0, NULL, "out of memory", -1);
        return;
    }
    char idem[64], auth[600];
    const char *headers[4] = {"Content-Type: application/json; charset=utf-8", idem, NULL, NULL};
    snprintf(idem, sizeof idem, "Idempotency-Key: %" PRId64, j->msg->id);
    if (nf->secrets.token[index]) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", nf->secrets.token[index]);
        headers[2] = auth;
    }
    struct httpc_opts o = {
        .method = "POST",
        .headers = headers,
        .body = body,
        .body_len = strlen(body),
        .timeout_ms = p->timeout_ms,
    };
    j->req = httpc_start(nf->http, p->url, &o, on_webhook_done, j);
    memset(auth, 0, sizeof auth);
    free(body);
    if (!j->req) {
        conclude(j, p, NOTIFIER_RETRY, 0, NULL, "could not start the HTTP request", -1);
        return;
    }
    nf->n_inflight++;
}

static struct sent_log *sent_log(struct notifier *nf, const struct cfg_provider *p,
                                 const char *to, bool create)
{
    char key[CFG_NAME_MAX + 24];
    snprintf(key, sizeof key, "%s\x1f%s", p->name, to);
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

/* When the provider's per-number limits allow the next send to `to` (now
 * if they do now). *why describes the limit that holds it back. */
static int64_t allowed_at(struct notifier *nf, const struct cfg_provider *p, const char *to,
                          int64_t now, const struct cfg_limit **why)
{
    int64_t at = now;
    const struct sent_log *l = p->n_per_callee ? sent_log(nf, p, to, false) : NULL;
    *why = NULL;
    for (size_t i = 0; l && i < p->n_per_callee; i++) {
        const struct cfg_limit *lim = &p->per_callee[i];
        int c = lim->count < SENT_KEEP ? lim->count : SENT_KEEP;
        /* The c-th newest send must have left the window. */
        if (l->n >= c && l->t[c - 1] + lim->window_ms > at) {
            at = l->t[c - 1] + lim->window_ms;
            *why = lim;
        }
    }
    return at;
}

static void note_sent(struct notifier *nf, const struct cfg_provider *p, const char *to,
                      int64_t now)
{
    if (!p->n_per_callee)
        return;
    struct sent_log *l = sent_log(nf, p, to, true);
    if (!l)
        return;
    memmove(l->t + 1, l->t, (SENT_KEEP - 1) * sizeof l->t[0]);
    l->t[0] = now;
    if (l->n < SENT_KEEP)
        l->n++;
}

static void limit_text(const struct cfg_limit *lim, char *out, size_t len)
{
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
        j->chain_pos = 0;
        j->attempt_here = 0;
        attempt(j);
        return;
    }
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
    while (p && allowed_at(j->nf, p, j->msg->to, now, &why) > now) {
        int64_t at = allowed_at(j->nf, p, j->msg->to, now, &why);
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
    note_sent(j->nf, p, j->msg->to, now);
    j->attempt++;
    j->attempt_here++;
    j->started_ms = clock_wall_ms();
    switch (p->type) {
    case CFG_PROVIDER_CONSOLE:
        send_console(j, index, p);
        break;
    case CFG_PROVIDER_WEBHOOK:
        send_webhook(j, index, p);
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
