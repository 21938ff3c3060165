/* escalate.c - escalation chains at run time (see escalate.h).
 *
 * The first firings (a chain's steps at 0s) go out from memory the moment
 * the alert opens: the hot path never waits for the database. Every later
 * firing is a row in escalation_timers. Each second anxind claims the due
 * rows (FOR UPDATE SKIP LOCKED, a claim lasting 60 s), works out whom they
 * call, and commits the notifications as queued together with the next
 * timer before sending anything: a crash before the commit leaves the claim
 * to expire and the firing to run again; a crash after it leaves queued
 * notifications that the next start sends. So each firing pages once. */
#include "escalate.h"
#include "silence_sql.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anxind.h"
#include "esc.h"
#include "jsonu.h"
#include "err.h"
#include "mask.h"

#define CLAIM_BATCH "50"

static const char *rule_template(const struct rule *r)
{
    return r && r->sms_template[0]
               ? r->sms_template
               : "【安心】{rule.title}：{elder.name}（{elder.village}）{time}。"
                 "请联系确认。回复{ack_code}确认由您处理。";
}

/* A call's text when no template gives one: spoken, so no reply code. */
#define VOICE_DEFAULT "安心养老提醒您：{elder.name}，{elder.village}，{time}，{rule.title}。" \
                      "请立即联系或上门查看。"

/* What an alert says, per channel (msgtmpl.h: template, else the rule's
 * message for SMS or VOICE_DEFAULT), with its instruction. */
struct texts {
    char sms[1024];
    char voice[1024];
};

static struct notify_msg *make_note(struct anxind *d, const struct alert *a,
                                    const struct reg_elder *e, const struct reg_contact *c,
                                    enum notify_channel ch, const struct texts *tx, int64_t now)
{
    struct notify_msg *n = calloc(1, sizeof *n);
    if (!n || !(n->text = strdup(ch == NOTIFY_VOICE ? tx->voice : tx->sms)) ||
        (ch == NOTIFY_VOICE && !(n->sms_text = strdup(tx->sms)))) {
        notify_msg_free(n);
        return NULL;
    }
    n->id = store_take_id(d, &d->notification_ids);
    n->alert_id = a->id;
    n->contact_id = c->id;
    snprintf(n->elder_id, sizeof n->elder_id, "%s", e->id);
    snprintf(n->rule, sizeof n->rule, "%s", a->rule);
    n->severity = a->severity;
    snprintf(n->contact_name, sizeof n->contact_name, "%s", c->name);
    n->role = c->role;
    snprintf(n->to, sizeof n->to, "%s", c->phone);
    n->channel = ch;
    snprintf(n->ack_code, sizeof n->ack_code, "%s", a->ack_code);
    n->event_ts_ms = a->event_ts_ms;
    n->created_ms = now;
    return n;
}

static const struct rule_chain *chain_of(const struct anxind *d, const struct alert *a,
                                         const struct rule *r)
{
    const struct rule_chain *c = rule_find_chain(d->rules, a->chain);
    if (!c && r)
        c = rule_find_chain(d->rules, r->chain);
    return c;
}

static bool voice_ok(const struct anxind *d)
{
    return d->cfg->channel_n[CFG_CHANNEL_VOICE] > 0;
}

static void describe_step(const struct rule_step *s, char *out, size_t len)
{
    const char *ch = s->channels == (RULE_CH_SMS | RULE_CH_VOICE) ? " by sms, voice"
                   : s->channels == RULE_CH_VOICE ? " by voice"
                   : s->channels == RULE_CH_SMS ? " by sms" : "";
    switch (s->target) {
    case RULE_TARGET_PRIORITY:
        snprintf(out, len, "priority %d%s", s->priority, ch);
        break;
    case RULE_TARGET_ROLE:
        snprintf(out, len, "%s%s", reg_role_name((enum reg_role)s->role), ch);
        break;
    case RULE_TARGET_CONSOLE:
        snprintf(out, len, "console");
        break;
    case RULE_TARGET_MAINTAINER:
        snprintf(out, len, "maintainer (console)");
        break;
    }
}

/* Adds the targets of one firing (one step) to the plan. */
static void plan_step(struct anxind *d, const struct alert *a, const struct reg_elder *e,
                      const struct rule_step *s, int k, const struct texts *text,
                      struct esc_plan *p)
{
    struct esc_target t[ESC_MAX_NOTES];
    size_t n = esc_targets(s, e, voice_ok(d), t, ESC_MAX_NOTES);
    describe_step(s, p->target, sizeof p->target);
    for (size_t i = 0; i < n; i++) {
        if (t[i].contact < 0) {
            if (p->n_console < sizeof p->console_step / sizeof p->console_step[0])
                p->console_step[p->n_console++] = k;
            continue;
        }
        if (p->n == ESC_MAX_NOTES)
            break;
        struct notify_msg *m = make_note(d, a, e, &e->contacts[t[i].contact], t[i].channel,
                                         text, p->created_ms);
        if (m) {
            p->note_step[p->n] = k;
            p->notes[p->n++] = m;
        }
    }
    if (n == 0)
        log_warn(&d->log, "alert %" PRId64 ": chain %s step %d (%s) finds nobody for elder %s",
                 a->id, a->chain, k, p->target, e->id);
}

static void render(struct anxind *d, const struct alert *a, const struct reg_elder *e,
                   const struct rule *r, const char *device_kind, const char *event,
                   const char *value, struct texts *out)
{
    struct rule shown;
    if (r)
        shown = *r;
    else {
        memset(&shown, 0, sizeof shown);
        snprintf(shown.name, sizeof shown.name, "%s", a->rule);
        snprintf(shown.title, sizeof shown.title, "%s", a->rule);
        shown.severity = a->severity;
    }
    const char *sev = rule_severity_name(shown.severity);
    for (int ch = 0; ch < 2; ch++) {
        enum notify_channel c = ch ? NOTIFY_VOICE : NOTIFY_SMS;
        const char *t = mtpl_find(d->templates, shown.name, sev, c);
        if (!t)
            t = c == NOTIFY_VOICE ? VOICE_DEFAULT : rule_template(r);
        snprintf(shown.sms_template, sizeof shown.sms_template, "%s", t);
        char *buf = c == NOTIFY_VOICE ? out->voice : out->sms;
        notify_render_sms(&shown, a, e, device_kind, event, value, d->cfg->utc_offset_min, buf,
                          sizeof out->sms);
        if (mtpl_finish(c, a->ack_code, buf, sizeof out->sms) != 0)
            log_warn(&d->log, "alert %" PRId64 ": the %s text is too long to add its "
                              "instruction", a->id, notify_channel_name(c));
    }
}

void escalate_plan_open(struct anxind *d, const struct alert *a, const struct reg_elder *e,
                        const struct rule *r, const char *device_kind, const char *event,
                        const char *value, int64_t now, struct esc_plan *p)
{
    memset(p, 0, sizeof *p);
    p->created_ms = now;
    p->step_reached = -1;
    struct texts text;
    render(d, a, e, r, device_kind, event, value, &text);
    const struct rule_chain *c = chain_of(d, a, r);
    if (!c) {
        /* A care plan naming a chain the rules lack: tell priority 1 rather
         * than nobody, and say so. */
        log_warn(&d->log, "alert %" PRId64 ": no chain \"%s\" in the rules; notifying "
                          "priority-1 contacts by SMS", a->id, a->chain);
        struct rule_step s = {.target = RULE_TARGET_PRIORITY, .priority = 1,
                              .channels = RULE_CH_SMS};
        plan_step(d, a, e, &s, 0, &text, p);
        p->step_reached = 0;
        return;
    }
    int64_t n0 = esc_immediate(c);
    for (int64_t k = 0; k < n0; k++) {
        const struct rule_step *s;
        int64_t off;
        if (esc_firing(c, k, &s, &off))
            plan_step(d, a, e, s, (int)k, &text, p);
    }
    p->step_reached = n0 - 1;
    p->ack_timeout_ms = esc_ack_timeout_ms(c);
    const struct rule_step *s;
    int64_t off;
    if (esc_firing(c, n0, &s, &off)) {
        p->has_next = true;
        p->next_step = n0;
        p->next_due_ms = a->opened_ms + off;
    }
    /* A chain that does not repeat ends; an alert nobody takes by
     * [anxind] expire_after past its last step expires (recorded) rather
     * than stay open forever. */
    if (c->repeat_ms <= 0 && c->n_steps > 0) {
        int64_t last = 0;
        for (size_t i = 0; i < c->n_steps; i++)
            if (c->steps[i].at_ms > last)
                last = c->steps[i].at_ms;
        p->expire_ms = a->opened_ms + last + d->cfg->expire_after_ms;
    }
}

void escalate_plan_json(struct anxind *d, const struct esc_plan *p, cJSON *doc)
{
    cJSON *arr = cJSON_AddArrayToObject(doc, "notifications");
    for (size_t i = 0; arr && i < p->n; i++) {
        const struct notify_msg *m = p->notes[i];
        cJSON *o = cJSON_CreateObject();
        if (!o)
            break;
        char masked[MASK_PHONE_MAX];
        mask_phone(m->to, masked, sizeof masked);
        jsonu_add_int(o, "id", m->id);
        if (m->contact_id)
            jsonu_add_int(o, "contact_id", m->contact_id);
        cJSON_AddStringToObject(o, "contact_name", m->contact_name);
        if (m->role >= 0)
            cJSON_AddStringToObject(o, "role", reg_role_name((enum reg_role)m->role));
        cJSON_AddStringToObject(o, "to_number", m->to);
        cJSON_AddStringToObject(o, "masked", masked);
        cJSON_AddStringToObject(o, "channel", notify_channel_name(m->channel));
        cJSON_AddStringToObject(o, "body", m->text ? m->text : "");
        jsonu_add_int(o, "created", m->created_ms);
        cJSON_AddNumberToObject(o, "step", p->note_step[i]);
        cJSON_AddItemToArray(arr, o);
    }
    for (size_t i = 0; arr && i < p->n_console; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o)
            break;
        cJSON_AddStringToObject(o, "contact_name", "呼叫中心");
        cJSON_AddStringToObject(o, "channel", "console");
        jsonu_add_int(o, "created", p->created_ms);
        cJSON_AddNumberToObject(o, "step", p->console_step[i]);
        cJSON_AddItemToArray(arr, o);
    }
    if (p->has_next) {
        cJSON *nx = cJSON_AddObjectToObject(doc, "next");
        if (nx) {
            jsonu_add_int(nx, "step", p->next_step);
            jsonu_add_int(nx, "due", p->next_due_ms);
        }
    }
    if (p->step_reached >= 0)
        jsonu_add_int(doc, "step_reached", p->step_reached);
    if (p->ack_timeout_ms > 0)
        jsonu_add_int(doc, "ack_timeout_ms", p->ack_timeout_ms);
    if (p->expire_ms > 0)
        jsonu_add_int(doc, "expire", p->expire_ms);
    (void)d;
}

void escalate_send(struct anxind *d, struct esc_plan *p)
{
    d->stats.notifications_created += p->n;
    for (size_t i = 0; i < p->n; i++) {
        notifier_send(d->notifier, p->notes[i], 0);
        p->notes[i] = NULL;
    }
    p->n = 0;
}

void escalate_plan_free(struct esc_plan *p)
{
    for (size_t i = 0; i < p->n; i++)
        notify_msg_free(p->notes[i]);
    p->n = 0;
}

/* ---- step timers ------------------------------------------------------- */

struct timer_job {
    struct anxind *d;
    int64_t alert_id;
    int64_t step;
    struct esc_plan plan;
};

static void on_timer_done(void *arg, const PGresult *res)
{
    struct timer_job *j = arg;
    struct anxind *d = j->d;
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
        strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
        if (j->plan.n || j->plan.n_console)
            log_info(&d->log, "alert %" PRId64 ": chain firing %" PRId64 " (%s): %zu "
                              "notification(s)", j->alert_id, j->step, j->plan.target,
                     j->plan.n);
        escalate_send(d, &j->plan);
    } else if (res && PQresultStatus(res) != PGRES_TUPLES_OK) {
        d->stats.db_errors++;
        log_error(&d->log, "escalation: alert %" PRId64 " firing %" PRId64 " not stored: %s",
                  j->alert_id, j->step, pgc_error(res));
    }
    escalate_plan_free(&j->plan);
    free(j);
}

static int64_t col_i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

enum { C_TIMER, C_ALERT, C_KIND, C_STEP, C_DUE, C_STATE, C_ELDER, C_DEVICE, C_RULE, C_CHAIN,
       C_SEVERITY, C_CODE, C_EVENT, C_OPENED, C_ACKED_BY, C_REACHED };

/* Works out one claimed timer and stores it; sends once stored. */
static void run_timer(struct anxind *d, const PGresult *r, int row, int64_t now)
{
    struct timer_job *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->d = d;
    j->alert_id = col_i64(r, row, C_ALERT);
    j->step = col_i64(r, row, C_STEP);
    struct esc_plan *p = &j->plan;
    p->created_ms = now;
    p->step_reached = -1;
    bool ack_timeout = strcmp(PQgetvalue(r, row, C_KIND), "ack_timeout") == 0;
    bool expire = strcmp(PQgetvalue(r, row, C_KIND), "expire") == 0;
    const char *state = PQgetvalue(r, row, C_STATE);

    struct alert a = {0};
    a.id = j->alert_id;
    snprintf(a.elder_id, sizeof a.elder_id, "%s", PQgetvalue(r, row, C_ELDER));
    snprintf(a.device_id, sizeof a.device_id, "%s", PQgetvalue(r, row, C_DEVICE));
    snprintf(a.rule, sizeof a.rule, "%s", PQgetvalue(r, row, C_RULE));
    snprintf(a.chain, sizeof a.chain, "%s", PQgetvalue(r, row, C_CHAIN));
    int sev = rule_severity_parse(PQgetvalue(r, row, C_SEVERITY));
    a.severity = sev < 0 ? RULE_SEV_HIGH : (enum rule_severity)sev;
    snprintf(a.ack_code, sizeof a.ack_code, "%s", PQgetvalue(r, row, C_CODE));
    a.event_ts_ms = col_i64(r, row, C_EVENT);
    a.opened_ms = col_i64(r, row, C_OPENED);
    int64_t reached = col_i64(r, row, C_REACHED);

    cJSON *doc = cJSON_CreateObject();
    jsonu_add_int(doc, "timer", col_i64(r, row, C_TIMER));
    jsonu_add_int(doc, "now", now);
    cJSON_AddStringToObject(doc, "node", d->cfg->node);
    jsonu_add_int(doc, "step", j->step);

    const struct reg_elder *e = reg_find_elder(&d->reg, a.elder_id);
    const struct rule *ru = rule_find(d->rules, a.rule);
    const struct rule_chain *c = chain_of(d, &a, ru);
    bool act = e && c && (ack_timeout ? strcmp(state, "acknowledged") == 0
                                      : strcmp(state, "open") == 0);
    if (expire) {
        cJSON_AddTrueToObject(doc, "expire");
        jsonu_add_int(doc, "after_ms", now - a.opened_ms);
    } else if (act) {
        struct texts text;
        const struct reg_device *dev = reg_find_device(&d->reg, a.device_id);
        render(d, &a, e, ru, dev ? dev->kind : NULL, NULL, NULL, &text);
        const struct rule_step *s;
        int64_t off;
        if (ack_timeout) {
            /* Nobody closed it in time: page the acker first (when a
             * contact acknowledged), then the step the chain had reached. */
            const char *by = PQgetvalue(r, row, C_ACKED_BY);
            cJSON_AddTrueToObject(doc, "reopen");
            cJSON_AddStringToObject(doc, "acked_by", by);
            jsonu_add_int(doc, "after_ms", esc_ack_timeout_ms(c));
            if (strncmp(by, "contact:", 8) == 0) {
                int64_t cid = strtoll(by + 8, NULL, 10);
                for (size_t i = 0; i < e->n_contacts && p->n < ESC_MAX_NOTES; i++)
                    if (e->contacts[i].id == cid) {
                        struct notify_msg *m = make_note(d, &a, e, &e->contacts[i], NOTIFY_SMS,
                                                         &text, now);
                        if (m) {
                            p->note_step[p->n] = (int)reached;
                            p->notes[p->n++] = m;
                        }
                    }
            }
            /* ... then the chain goes on from where it was, at once; a chain
             * with nothing left repeats its last step. */
            int64_t k = esc_firing(c, reached + 1, &s, &off) ? reached + 1 : reached;
            if (k >= 0 && esc_firing(c, k, &s, &off)) {
                plan_step(d, &a, e, s, (int)k, &text, p);
                p->step_reached = k;
                int64_t this_off = off;
                if (k > reached && esc_firing(c, k + 1, &s, &off)) {
                    p->has_next = true;
                    p->next_step = k + 1;
                    p->next_due_ms = now + (off > this_off ? off - this_off : 0);
                }
            }
        } else if (esc_firing(c, j->step, &s, &off)) {
            plan_step(d, &a, e, s, (int)j->step, &text, p);
            p->step_reached = j->step;
            int64_t late = now - (a.opened_ms + off);
            if (late > 0)
                jsonu_add_int(doc, "late_ms", late);
            if (esc_firing(c, j->step + 1, &s, &off)) {
                p->has_next = true;
                p->next_step = j->step + 1;
                p->next_due_ms = a.opened_ms + off;
            }
        }
        if (p->target[0])
            cJSON_AddStringToObject(doc, "target", p->target);
        escalate_plan_json(d, p, doc);
        struct alert *mem = alert_find_id(&d->alerts, a.id);
        if (mem && ack_timeout)
            mem->state = ALERT_OPEN;
    } else if (!e || !c) {
        log_warn(&d->log, "escalation: alert %" PRId64 " firing %" PRId64 " skipped: %s",
                 a.id, j->step, !e ? "its elder is no longer in the registry"
                                   : "its chain is no longer in the rules");
    }
    char *text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    const char *params[1] = {text};
    if (!text || pgc_query(d->pg, "SELECT anxin_timer_done($1::jsonb)", 1, params,
                           on_timer_done, j, 0) != 0) {
        escalate_plan_free(p);
        free(j);
    }
    free(text);
}

static void on_claimed(void *arg, const PGresult *res)
{
    struct anxind *d = arg;
    d->esc_claiming = false;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_error(&d->log, "escalation: claiming due steps failed: %s", pgc_error(res));
        return;
    }
    int64_t now = clock_wall_ms();
    for (int i = 0; i < PQntuples(res); i++)
        run_timer(d, res, i, now);
}

void escalate_tick(struct anxind *d)
{
    if (d->esc_claiming || !pgc_connected(d->pg) || d->stopping)
        return;
    char now[24];
    snprintf(now, sizeof now, "%" PRId64, clock_wall_ms());
    const char *params[2] = {d->cfg->node, now};
    if (pgc_query(d->pg, "SELECT * FROM anxin_claim_timers($1, $2::bigint, " CLAIM_BATCH ")", 2,
                  params, on_claimed, d, 0) == 0)
        d->esc_claiming = true;
}

void escalate_on_alert_notify(struct anxind *d, const char *payload)
{
    cJSON *o = cJSON_Parse(payload);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "state");
    if (cJSON_IsNumber(id) && cJSON_IsString(st)) {
        int64_t aid = (int64_t)id->valuedouble;
        /* Stop at once whatever is still being sent or waiting to retry. */
        size_t dropped = notifier_cancel_alert(d->notifier, aid);
        struct alert *a = alert_find_id(&d->alerts, aid);
        if (strcmp(st->valuestring, "acknowledged") == 0) {
            if (a)
                a->state = ALERT_ACKNOWLEDGED;
        } else if (a) {
            alert_forget(&d->alerts, a);
        }
        log_info(&d->log, "alert %" PRId64 " %s; paging stopped (%zu send(s) dropped)", aid,
                 st->valuestring, dropped);
    }
    cJSON_Delete(o);
}

/* ---- silences ------------------------------------------------------------ */

static bool silence_active(const struct silence *s, int64_t now)
{
    if (now < s->starts_ms)
        return false;
    if (s->period_ms <= 0)
        return now < s->ends_ms;
    int64_t dur = s->ends_ms - s->starts_ms;
    int64_t phase = (now - s->starts_ms) % s->period_ms;
    int64_t window_start = now - phase;
    if (s->until_ms && window_start > s->until_ms)
        return false;
    return phase < dur;
}

const struct silence *escalate_silenced(const struct anxind *d, const struct reg_elder *e,
                                        const char *device_id, const char *rule, int64_t now)
{
    for (size_t i = 0; i < d->n_silences; i++) {
        const struct silence *s = &d->silences[i];
        const char *what = strcmp(s->scope, "elder") == 0 ? e->id
                         : strcmp(s->scope, "device") == 0 ? device_id
                         : strcmp(s->scope, "village") == 0 ? e->village
                         : rule;
        if (what && strcmp(what, s->target) == 0 && silence_active(s, now))
            return s;
    }
    return NULL;
}

static void on_silences(void *arg, const PGresult *res)
{
    struct anxind *d = arg;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_error(&d->log, "silences: loading failed: %s", pgc_error(res));
        return;
    }
    int n = PQntuples(res);
    struct silence *ns = calloc((size_t)(n ? n : 1), sizeof *ns);
    if (!ns)
        return;
    for (int i = 0; i < n; i++) {
        struct silence *s = &ns[i];
        s->id = col_i64(res, i, 0);
        snprintf(s->scope, sizeof s->scope, "%s", PQgetvalue(res, i, 1));
        snprintf(s->target, sizeof s->target, "%s", PQgetvalue(res, i, 2));
        snprintf(s->reason, sizeof s->reason, "%s", PQgetvalue(res, i, 3));
        s->starts_ms = col_i64(res, i, 4);
        s->ends_ms = col_i64(res, i, 5);
        s->until_ms = col_i64(res, i, 6);
        const char *recur = PQgetvalue(res, i, 7);
        s->period_ms = strcmp(recur, "daily") == 0 ? 86400000
                     : strcmp(recur, "weekly") == 0 ? 7 * 86400000LL : 0;
    }
    free(d->silences);
    d->silences = ns;
    d->n_silences = (size_t)n;
    log_info(&d->log, "silences: %d in force or to come", n);
}

static const char silences_sql[] =
    "SELECT id, scope, target, reason,"
    " (extract(epoch FROM starts_at) * 1000)::bigint,"
    " (extract(epoch FROM ends_at) * 1000)::bigint,"
    " (extract(epoch FROM until_at) * 1000)::bigint, coalesce(recur, '')"
    " FROM silences WHERE " SILENCE_IN_FORCE_OR_TO_COME;

void escalate_reload_silences(struct anxind *d)
{
    pgc_query(d->pg, silences_sql, 0, NULL, on_silences, d, 0);
}

int escalate_load_silences(struct anxind *d, PGconn *db)
{
    PGresult *r = PQexec(db, silences_sql);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    on_silences(d, r);
    PQclear(r);
    return ok ? 0 : ANX_EIO;
}
