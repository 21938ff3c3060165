/* api.c - the daemon's HTTP routes: health for systemd and load balancers,
 * Prometheus metrics, and the alert API (alerts, acknowledge, resolve,
 * contacts' numbers revealed on the audit trail, silences). Logging in, the
 * event stream and the console's files are in api_console.c. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api.h"
#include "clock.h"
#include "kpi.h"
#include "silence_sql.h"

struct text {
    char *p;
    size_t len, cap;
    int oom;
};

static void tprintf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void tprintf(struct text *t, const char *fmt, ...)
{
    if (t->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = 1;
            return;
        }
        if (t->p && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t ncap = (t->cap ? t->cap * 2 : 4096) + (size_t)n;
        char *np = realloc(t->p, ncap);
        if (!np) {
            t->oom = 1;
            return;
        }
        t->p = np;
        t->cap = ncap;
    }
}

static void metric(struct text *t, const char *name, const char *type, const char *help,
                   uint64_t v)
{
    tprintf(t, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type, name, v);
}

static void render_metrics(struct anxind *d, struct text *t)
{
    const struct anxind_stats *s = &d->stats;
    struct mqttb_stats ms = {0};
    if (d->mqtt)
        mqttb_get_stats(d->mqtt, &ms);

    metric(t, "anxin_messages_received_total", "counter",
           "Telemetry messages taken from the broker.", ms.received);
    metric(t, "anxin_alarm_lane_received_total", "counter",
           "Of those, messages taken on the alarm lane's session.", ms.alarm_received);
    metric(t, "anxin_messages_processed_total", "counter",
           "Messages decoded and evaluated against the rules.", s->processed);
    tprintf(t, "# HELP anxin_messages_rejected_total Messages rejected, by reason.\n"
               "# TYPE anxin_messages_rejected_total counter\n");
    for (int r = 1; r < TLM_REASON_COUNT; r++)
        tprintf(t, "anxin_messages_rejected_total{reason=\"%s\"} %" PRIu64 "\n",
                tlm_reason_name((enum tlm_reason)r), s->bad[r]);
    tprintf(t, "anxin_messages_rejected_total{reason=\"unknown_device\"} %" PRIu64 "\n",
            s->unknown_device);
    tprintf(t, "anxin_messages_rejected_total{reason=\"duplicate_seq\"} %" PRIu64 "\n",
            s->duplicate);
    metric(t, "anxin_messages_not_monitored_total", "counter",
           "Messages from devices of elders registered without consent.", s->not_monitored);
    metric(t, "anxin_journal_replayed_total", "counter",
           "Journal records handled again after a restart.", s->journal_replayed);
    metric(t, "anxin_journal_errors_total", "counter",
           "Messages the journal could not store.", ms.journal_errors);
    metric(t, "anxin_ingest_queue_depth", "gauge",
           "Messages received and waiting for the loop.", ms.queued);
    metric(t, "anxin_rule_hits_total", "counter", "Rule firings.", s->rule_hits);
    metric(t, "anxin_alerts_opened_total", "counter", "Alerts opened.", s->alerts_opened);
    metric(t, "anxin_alerts_repeated_total", "counter",
           "Rule firings counted on an alert already live.", s->alerts_repeated);
    metric(t, "anxin_alerts_live", "gauge", "Open or acknowledged alerts.", d->alerts.by_id.len);
    metric(t, "anxin_notifications_created_total", "counter", "Notifications created.",
           s->notifications_created);
    metric(t, "anxin_notifications_sent_total", "counter", "Notifications a provider accepted.",
           s->notifications_sent);
    metric(t, "anxin_notifications_failed_total", "counter",
           "Notifications every provider refused or never took.", s->notifications_failed);
    metric(t, "anxin_api_auth_failures_total", "counter",
           "Logins and bearer tokens refused (unknown, expired or revoked).", s->auth_failures);
    metric(t, "anxin_api_throttled_total", "counter",
           "Refused logins, tokens and callbacks answered 429: their address was refused "
           "too often.", s->throttled);
    metric(t, "anxin_notification_retries_total", "counter",
           "Attempts that will be tried again.", s->notification_retries);
    metric(t, "anxin_delivery_reports_total", "counter",
           "Delivery reports and call results taken from providers.", s->reports_received);
    metric(t, "anxin_delivery_reports_rejected_total", "counter",
           "Reports refused: bad signature or key, malformed, unknown provider.",
           s->reports_rejected);
    tprintf(t, "# HELP anxin_phone_replies_total SMS replies from phones, by what came of "
               "them.\n# TYPE anxin_phone_replies_total counter\n");
    for (int o = 0; o < PROV_REPLY_OUTCOME_COUNT; o++)
        tprintf(t, "anxin_phone_replies_total{outcome=\"%s\"} %" PRIu64 "\n",
                prov_reply_outcome_name((enum prov_reply_outcome)o), s->phone_replies[o]);
    metric(t, "anxin_notifications_pending", "gauge", "Notifications being sent or retried.",
           d->notifier ? notifier_pending(d->notifier) : 0);
    metric(t, "anxin_db_pending_writes", "gauge", "Queries waiting for the database.",
           d->pg ? pgc_pending(d->pg) : 0);
    metric(t, "anxin_db_errors_total", "counter", "Writes the database refused.", s->db_errors);
    metric(t, "anxin_engine_saves_total", "counter",
           "Engine state saves started in a forked child.", d->snapshot_forks);
    metric(t, "anxin_engine_save_failures_total", "counter",
           "Engine state saves that failed (the log says why).", d->snapshot_failures);
    tprintf(t, "# HELP anxin_engine_saved_timestamp_seconds When the engine state was last "
               "saved (0: not yet in this run).\n# TYPE anxin_engine_saved_timestamp_seconds "
               "gauge\nanxin_engine_saved_timestamp_seconds %.3f\n",
            (double)d->snapshot_saved_ms / 1e3);
    tprintf(t, "# HELP anxin_engine_save_pause_seconds How long the last save's fork held "
               "anxind's loop.\n# TYPE anxin_engine_save_pause_seconds gauge\n"
               "anxin_engine_save_pause_seconds %.6f\n", (double)d->snapshot_fork_us / 1e6);
    metric(t, "anxin_registry_elders", "gauge", "Elders in memory.", d->reg.elders.len);
    metric(t, "anxin_registry_devices", "gauge", "Devices in memory.", d->reg.devices.len);
    metric(t, "anxin_registry_reloads_total", "counter", "Registry reloads after NOTIFY.",
           s->registry_reloads);
    metric(t, "anxin_mqtt_connected", "gauge", "1 if every lane is connected to the broker.",
           d->mqtt && mqttb_connected(d->mqtt));
    tprintf(t, "# HELP anxin_mqtt_lane_connected 1 if that lane's session is connected.\n"
               "# TYPE anxin_mqtt_lane_connected gauge\n"
               "anxin_mqtt_lane_connected{lane=\"telemetry\"} %d\n", ms.lane_connected[0]);
    if (ms.alarm_lane)
        tprintf(t, "anxin_mqtt_lane_connected{lane=\"alarm\"} %d\n", ms.lane_connected[1]);
    metric(t, "anxin_db_connected", "gauge", "1 if connected to PostgreSQL.",
           d->pg && pgc_connected(d->pg));
    metric(t, "anxin_console_sessions", "gauge", "Console sessions logged in.",
           sess_count(&d->sessions));
    metric(t, "anxin_event_streams", "gauge", "Clients on /api/v1/stream.", sse_clients(d->sse));
    metric(t, "anxin_journal_checkpoint", "gauge",
           "Newest journal record whose effects are committed.", d->saved_checkpoint);
    tprintf(t, "%s", kpi_metrics(d->kpi));
}

static char *json_error(const char *error, const char *detail)
{
    char *s = NULL;
    if (asprintf(&s, "{\"error\":\"%s\",\"detail\":\"%s\"}\n", error, detail) < 0)
        return NULL;
    return s;
}

/* ---- the alert API (bearer tokens, JSON) ------------------------------ */

void api_reply_error(struct httpd_reply *rep, int status, const char *error, const char *detail)
{
    rep->status = status;
    rep->body = json_error(error, detail);
}

#define reply_error api_reply_error

static bool token_refused(enum token_check r, struct httpd_reply *rep)
{
    switch (r) {
    case TOKEN_OK:
        return false;
    case TOKEN_MISSING:
        reply_error(rep, 401, "unauthorized", "send Authorization: Bearer <token>, or log in");
        break;
    case TOKEN_UNKNOWN:
        reply_error(rep, 401, "unauthorized", "unknown token");
        break;
    case TOKEN_EXPIRED:
        reply_error(rep, 401, "unauthorized", "token expired");
        break;
    case TOKEN_REVOKED:
        reply_error(rep, 401, "unauthorized", "token revoked");
        break;
    }
    return true;
}

/* Who may do what: viewers read; operators also acknowledge, resolve,
 * silence and reveal numbers; admins also reload. */
bool api_authorize(struct anxind *d, const struct httpd_request *req, enum token_role need,
                   struct httpd_reply *rep, struct api_who *who)
{
    memset(who, 0, sizeof *who);
    int64_t now = clock_wall_ms();
    const char *authz = httpd_header(req, "Authorization");
    const char *cookie = authz ? NULL : httpd_cookie(req, API_SESSION_COOKIE);
    const struct token *t;
    if (cookie) {
        const struct session *s = sess_find(&d->sessions, cookie, now);
        if (!s) {
            reply_error(rep, 401, "unauthorized", "session expired or unknown; log in again");
            return false;
        }
        if (token_refused(token_by_name(&d->tokens, s->token_name, now, &t), rep))
            return false;
        bool reads = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
        const char *mark = httpd_header(req, API_CONSOLE_HEADER);
        if (!reads && !(mark && strcmp(mark, "1") == 0)) {
            reply_error(rep, 403, "forbidden",
                        "console changes need the " API_CONSOLE_HEADER ": 1 header");
            return false;
        }
        who->console = true;
    } else {
        enum token_check r = token_check(&d->tokens, authz, now, &t);
        if (r != TOKEN_OK && r != TOKEN_MISSING && api_auth_failed(d, req, rep))
            return false;
        if (token_refused(r, rep))
            return false;
    }
    if (t->role < need) {
        char detail[80];
        snprintf(detail, sizeof detail, "needs the %s role; this token is %s",
                 token_role_name(need), token_role_name(t->role));
        reply_error(rep, 403, "forbidden", detail);
        return false;
    }
    who->token = t;
    snprintf(who->actor, sizeof who->actor, "token:%s", t->name);
    return true;
}

bool api_refusal_throttled(struct anxind *d, const struct httpd_request *req,
                           struct httpd_reply *rep)
{
    if (!d->auth_guard)
        return false;
    char addr[GUARD_ADDR_SIZE], detail[160];
    httpd_peer(req, addr, sizeof addr);
    /* The monotonic clock: a wall clock set back must not lengthen a throttle. */
    int64_t now = clock_mono_us() / 1000;
    int throttle_s = (int)(d->cfg->auth_throttle_ms / 1000);
    switch (guard_fail(d->auth_guard, addr, now)) {
    case GUARD_COUNTED:
        return false;
    case GUARD_THROTTLE_STARTS:
        log_warn(&d->log, "api: %d refused logins, tokens or callbacks from %s within a "
                 "minute; its refusals are answered 429 for %d s, not logged or audited one "
                 "by one (a right token or key still works)", d->cfg->auth_failures, addr,
                 throttle_s);
        snprintf(detail, sizeof detail, "{\"failures\": %d, \"seconds\": %d}",
                 d->cfg->auth_failures, throttle_s);
        api_audit(d, "anonymous", "auth.throttle", addr, "throttled", detail);
        return false;
    case GUARD_THROTTLED:
        break;
    }
    d->stats.throttled++;
    int64_t left_s = (guard_throttled_for(d->auth_guard, addr, now) + 999) / 1000;
    snprintf(detail, sizeof detail, "refused too often from this address; try again in %lld s",
             (long long)left_s);
    reply_error(rep, 429, "too_many_failures", detail);
    rep->retry_after_s = (int)left_s;
    return true;
}

bool api_auth_failed(struct anxind *d, const struct httpd_request *req, struct httpd_reply *rep)
{
    d->stats.auth_failures++;
    return api_refusal_throttled(d, req, rep);
}

static void on_audit_written(void *arg, const PGresult *res)
{
    struct anxind *d = arg;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
        log_error(&d->log, "audit: an entry could not be written: %s", pgc_error(res));
}

void api_audit(struct anxind *d, const char *actor, const char *action, const char *target,
               const char *outcome, const char *detail_json)
{
    const char *params[5] = {actor, action, target, outcome, detail_json};
    if (!d->pg || pgc_query(d->pg, "SELECT anxin_audit($1, $2, $3, $4, $5::jsonb)", 5, params,
                            on_audit_written, d, 0) != 0)
        log_error(&d->log, "audit: cannot queue an entry for %s by %s", action, actor);
}

struct api_call {
    struct anxind *d;
    struct httpd_pending *pending;
    int kind;                   /* what the result means */
    char id[24];
};

enum { CALL_LIST, CALL_ALERTS, CALL_ONE, CALL_ACK, CALL_RESOLVE, CALL_REVEAL, CALL_SILENCE_ADD,
       CALL_SILENCE_CANCEL };

static void add_title(const struct anxind *d, cJSON *alert)
{
    const cJSON *rule = cJSON_GetObjectItemCaseSensitive(alert, "rule");
    if (!cJSON_IsString(rule))
        return;
    const struct rule *r = d->rules ? rule_find(d->rules, rule->valuestring) : NULL;
    cJSON_AddStringToObject(alert, "title", r && r->title[0] ? r->title : rule->valuestring);
}

/* Alerts as the database has them, with each rule's title (plain words for
 * staff, from the rules in force) added; malloc'd. */
static char *with_titles(const struct anxind *d, const char *json)
{
    cJSON *doc = cJSON_Parse(json);
    if (!doc)
        return strdup(json);
    if (cJSON_IsArray(doc)) {
        cJSON *a;
        cJSON_ArrayForEach(a, doc)
            add_title(d, a);
    } else {
        add_title(d, cJSON_GetObjectItemCaseSensitive(doc, "alert"));
    }
    char *out = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    return out;
}

static void on_api_result(void *arg, const PGresult *res)
{
    struct api_call *c = arg;
    struct httpd_reply rep = {0};
    if (c->kind == CALL_SILENCE_ADD && res && PQresultStatus(res) == PGRES_FATAL_ERROR &&
        PQresultErrorField(res, PG_DIAG_SQLSTATE) &&
        strcmp(PQresultErrorField(res, PG_DIAG_SQLSTATE), "23514") == 0) {
        /* A CHECK constraint: the silence's times or text are out of range. */
        reply_error(&rep, 400, "bad_request", "the silence must end after it starts; "
                    "target up to 100 and reason up to 500 characters");
    } else if ((c->kind == CALL_REVEAL || c->kind == CALL_SILENCE_CANCEL) && res &&
               PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 0) {
        reply_error(&rep, 404, "not_found", c->kind == CALL_REVEAL ? "no such contact"
                                                                  : "no such silence in force");
    } else if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        log_error(&c->d->log, "api: query failed: %s", pgc_error(res));
        reply_error(&rep, 500, "internal", "database error");
    } else if (c->kind == CALL_SILENCE_CANCEL) {
        rep.status = 204;
    } else if (c->kind == CALL_ALERTS || c->kind == CALL_ONE) {
        if (PQgetisnull(res, 0, 0))
            reply_error(&rep, 404, "not_found", "no such alert");
        else
            rep.body = with_titles(c->d, PQgetvalue(res, 0, 0));
    } else if (c->kind == CALL_LIST || c->kind == CALL_REVEAL || c->kind == CALL_SILENCE_ADD) {
        if (c->kind == CALL_SILENCE_ADD)
            rep.status = 201;
        rep.body = strdup(PQgetvalue(res, 0, 0));
    } else {
        const char *r = PQgetvalue(res, 0, 0);
        if (strcmp(r, "ok") == 0) {
            if (asprintf(&rep.body, "{\"id\":%s,\"state\":\"%s\"}\n", c->id,
                         c->kind == CALL_ACK ? "acknowledged" : "resolved") < 0)
                rep.body = NULL;
        } else if (strcmp(r, "not_found") == 0) {
            reply_error(&rep, 404, "not_found", "no such alert");
        } else if (strcmp(r, "already_acknowledged") == 0) {
            reply_error(&rep, 409, "conflict", "already acknowledged");
        } else if (strncmp(r, "not_open:", 9) == 0) {
            char detail[64];
            snprintf(detail, sizeof detail, "the alert is %s", r + 9);
            reply_error(&rep, 409, "conflict", detail);
        } else if (strcmp(r, "bad_outcome") == 0) {
            reply_error(&rep, 400, "bad_request",
                        "outcome is one of false_alarm assisted_on_site sent_to_hospital "
                        "emergency_services device_fault other");
        } else if (strcmp(r, "note_required") == 0) {
            reply_error(&rep, 400, "bad_request", "a note is required");
        } else {
            reply_error(&rep, 500, "internal", "unexpected answer");
        }
    }
    httpd_complete(c->pending, &rep);
    free(c);
}

int api_defer_query(struct anxind *d, const struct httpd_request *req, struct httpd_reply *rep,
                    struct httpd_pending **slot, const char *sql, int n,
                    const char *const *params, pgc_cb cb, void *arg)
{
    if (!pgc_connected(d->pg)) {
        reply_error(rep, 503, "unavailable", "the database is unreachable; try again");
        return -1;
    }
    *slot = httpd_defer(req);
    if (pgc_query(d->pg, sql, n, params, cb, arg, 0) != 0) {
        struct httpd_reply r = {0};
        reply_error(&r, 500, "internal", "out of memory");
        httpd_complete(*slot, &r);
        return -1;
    }
    return 0;
}

static void defer_query(struct anxind *d, const struct httpd_request *req,
                        struct httpd_reply *rep, int kind, const char *id, const char *sql,
                        int n, const char *const *params)
{
    struct api_call *c = calloc(1, sizeof *c);
    if (!c) {
        reply_error(rep, 500, "internal", "out of memory");
        return;
    }
    c->d = d;
    c->kind = kind;
    snprintf(c->id, sizeof c->id, "%s", id ? id : "");
    if (api_defer_query(d, req, rep, &c->pending, sql, n, params, on_api_result, c) != 0)
        free(c);
}

/* One alert as JSON, numbers masked, with its timeline and notifications. */
#define ALERT_JSON \
    "json_build_object('id', a.id, 'elder', a.elder_id, 'elder_name', e.name," \
    " 'village', e.village, 'township', e.township, 'device', a.device_id, 'rule', a.rule," \
    " 'severity', a.severity, 'chain', a.chain, 'state', a.state, 'ack_code', a.ack_code," \
    " 'fire_count', a.fire_count, 'step_reached', a.step_reached," \
    " 'event_ts', (extract(epoch FROM a.event_ts) * 1000)::bigint," \
    " 'opened', (extract(epoch FROM a.opened_at) * 1000)::bigint," \
    " 'acked', (extract(epoch FROM a.acked_at) * 1000)::bigint, 'acked_by', a.acked_by," \
    " 'resolved', (extract(epoch FROM a.resolved_at) * 1000)::bigint," \
    " 'outcome', a.outcome, 'note', a.note," \
    " 'notified', (SELECT coalesce(json_agg(json_build_object('contact', n.contact_name," \
    "   'channel', n.channel, 'status', n.status) ORDER BY n.created_at, n.id), '[]')" \
    "   FROM notifications n WHERE n.alert_id = a.id))"

/* A phone number as staff may see it without revealing it: 138****5678. */
#define MASKED(col) \
    "CASE WHEN " col " LIKE '+86%' AND length(" col ") = 14" \
    " THEN substr(" col ", 4, 3) || '****' || right(" col ", 4)" \
    " ELSE left(" col ", 4) || '****' || right(" col ", 4) END"

/* The elder's card: who she is, her care plan, whom to call (masked). */
#define ELDER_JSON \
    "(SELECT jsonb_build_object('id', e2.id, 'name', e2.name, 'birth_year', e2.birth_year," \
    " 'categories', to_jsonb(e2.categories), 'address', e2.address, 'village', e2.village," \
    " 'township', e2.township, 'grid', e2.grid," \
    " 'care_plan', (SELECT jsonb_build_object('risk', cp.risk," \
    "   'visit_every_days', cp.visit_every_days, 'params', cp.params)" \
    "   FROM care_plans cp WHERE cp.elder_id = e2.id)," \
    " 'contacts', coalesce((SELECT jsonb_agg(jsonb_build_object('id', c.id, 'name', c.name," \
    "   'role', c.role, 'priority', c.priority, 'phone', " MASKED("c.phone") "," \
    "   'channels', to_jsonb(c.channels)) ORDER BY c.priority, c.position)" \
    "   FROM contacts c WHERE c.elder_id = e2.id), '[]'))" \
    " FROM elders e2 WHERE e2.id = a.elder_id)"

static void api_list(struct anxind *d, const struct httpd_request *req, struct httpd_reply *rep)
{
    const char *state = httpd_query(req, "state");
    if (!state)
        state = "open";
    if (strcmp(state, "acked") == 0)
        state = "acknowledged";
    static const char *const ok[] = {"open", "acknowledged", "resolved", "cleared",
                                     "silenced", "expired", "live", "all"};
    bool known = false;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        known |= strcmp(state, ok[i]) == 0;
    if (!known) {
        reply_error(rep, 400, "bad_request",
                    "state is one of open acked resolved cleared silenced expired live all");
        return;
    }
    const char *params[1] = {state};
    defer_query(d, req, rep, CALL_ALERTS, NULL,
                "SELECT coalesce(json_agg(s.x ORDER BY s.o DESC), '[]')::text FROM ("
                "SELECT " ALERT_JSON " AS x0, a.opened_at AS o FROM alerts a"
                " JOIN elders e ON e.id = a.elder_id"
                " WHERE CASE $1 WHEN 'all' THEN true"
                "  WHEN 'live' THEN a.state IN ('open', 'acknowledged')"
                "  ELSE a.state::text = $1 END"
                " ORDER BY a.opened_at DESC LIMIT 500) s(x, o)",
                1, params);
}

static void api_one(struct anxind *d, const struct httpd_request *req, struct httpd_reply *rep,
                    const char *id)
{
    const char *params[1] = {id};
    defer_query(d, req, rep, CALL_ONE, id,
                "SELECT (jsonb_build_object('alert', " ALERT_JSON ","
                " 'timeline', coalesce((SELECT jsonb_agg(jsonb_build_object("
                "   'at', (extract(epoch FROM ev.at) * 1000)::bigint, 'kind', ev.kind,"
                "   'actor', ev.actor, 'channel', ev.channel, 'detail', ev.detail)"
                "   ORDER BY ev.at, ev.id) FROM alert_events ev WHERE ev.alert_id = a.id),"
                "   '[]'),"
                " 'notifications', coalesce((SELECT jsonb_agg(jsonb_build_object("
                "   'id', n.id, 'contact', n.contact_name, 'role', n.role, 'channel', n.channel,"
                "   'to', " MASKED("n.to_number") ","
                "   'status', n.status, 'provider', n.provider, 'provider_ref', n.provider_ref,"
                "   'attempts', n.attempts,"
                "   'sent', (extract(epoch FROM n.sent_at) * 1000)::bigint)"
                "   ORDER BY n.created_at, n.id) FROM notifications n WHERE n.alert_id = a.id),"
                "   '[]'), 'elder', " ELDER_JSON "))::text"
                " FROM alerts a JOIN elders e ON e.id = a.elder_id WHERE a.id = $1::bigint"
                " UNION ALL SELECT NULL WHERE NOT EXISTS"
                "  (SELECT 1 FROM alerts WHERE id = $1::bigint)",
                1, params);
}

static void api_act(struct anxind *d, const struct httpd_request *req, struct httpd_reply *rep,
                    const char *id, bool resolve, const struct api_who *who)
{
    cJSON *in = req->body_len ? cJSON_ParseWithLength(req->body, req->body_len)
                              : cJSON_CreateObject();
    if (!cJSON_IsObject(in)) {
        cJSON_Delete(in);
        reply_error(rep, 400, "bad_json", "the body must be a JSON object");
        return;
    }
    const cJSON *note = cJSON_GetObjectItemCaseSensitive(in, "note");
    const cJSON *outcome = cJSON_GetObjectItemCaseSensitive(in, "outcome");
    if ((note && !cJSON_IsString(note)) || (outcome && !cJSON_IsString(outcome))) {
        cJSON_Delete(in);
        reply_error(rep, 400, "bad_request", "note and outcome are strings");
        return;
    }
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddRawToObject(doc, "id", id);
    cJSON_AddStringToObject(doc, "actor", who->actor);
    cJSON_AddStringToObject(doc, "channel", who->console ? "console" : "api");
    if (note)
        cJSON_AddStringToObject(doc, "note", note->valuestring);
    if (outcome)
        cJSON_AddStringToObject(doc, "outcome", outcome->valuestring);
    cJSON_Delete(in);
    char *text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    char target[40];
    snprintf(target, sizeof target, "alert:%s", id);
    const char *params[4] = {text, who->actor, target, who->console ? "console" : "api"};
    /* The change and its audit entry commit together. */
    defer_query(d, req, rep, resolve ? CALL_RESOLVE : CALL_ACK, id,
                resolve ? "SELECT r, anxin_audit($2, 'alert.resolve', $3, r,"
                          " jsonb_build_object('channel', $4::text,"
                          "   'outcome', $1::jsonb->>'outcome'))"
                          " FROM (SELECT anxin_alert_resolve($1::jsonb) AS r) s"
                        : "SELECT r, anxin_audit($2, 'alert.ack', $3, r,"
                          " jsonb_build_object('channel', $4::text))"
                          " FROM (SELECT anxin_alert_ack($1::jsonb) AS r) s",
                4, params);
    free(text);
}


/* The number at the start of s into id (at most 18 digits); returns what
 * follows it, or NULL when s does not start with one. */
static const char *take_id(const char *s, char id[24])
{
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n > 18)
        return NULL;
    memcpy(id, s, n);
    id[n] = '\0';
    return s + n;
}

static cJSON *body_object(const struct httpd_request *req, struct httpd_reply *rep)
{
    cJSON *in = req->body_len ? cJSON_ParseWithLength(req->body, req->body_len)
                              : cJSON_CreateObject();
    if (!cJSON_IsObject(in)) {
        cJSON_Delete(in);
        reply_error(rep, 400, "bad_json", "the body must be a JSON object");
        return NULL;
    }
    return in;
}

/* POST /api/v1/contacts/ID/reveal {"alert": ID}: the full number, for
 * calling; every reveal is on the audit trail. */
static void api_contacts(struct anxind *d, const struct httpd_request *req,
                         struct httpd_reply *rep)
{
    char id[24];
    const char *rest = take_id(req->path + strlen("/api/v1/contacts/"), id);
    if (!rest || strcmp(rest, "/reveal") != 0) {
        reply_error(rep, 404, "not_found", "no such endpoint");
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        reply_error(rep, 405, "method_not_allowed", "use POST");
        return;
    }
    struct api_who who;
    if (!api_authorize(d, req, TOKEN_OPERATOR, rep, &who))
        return;
    cJSON *in = body_object(req, rep);
    if (!in)
        return;
    const cJSON *alert = cJSON_GetObjectItemCaseSensitive(in, "alert");
    char alert_id[32] = "";
    if (cJSON_IsNumber(alert) && alert->valuedouble >= 1 && alert->valuedouble < 1e15)
        snprintf(alert_id, sizeof alert_id, "%.0f", alert->valuedouble);
    else if (alert && !cJSON_IsNull(alert)) {
        cJSON_Delete(in);
        reply_error(rep, 400, "bad_request", "alert is an alert id or null");
        return;
    }
    cJSON_Delete(in);
    const char *params[4] = {id, who.actor, alert_id[0] ? alert_id : NULL,
                             who.console ? "console" : "api"};
    defer_query(d, req, rep, CALL_REVEAL, id,
                "SELECT json_build_object('id', c.id, 'name', c.name, 'phone', c.phone,"
                " 'elder', c.elder_id)::text,"
                " anxin_audit($2, 'contact.reveal', 'contact:' || c.id, 'ok',"
                "   jsonb_strip_nulls(jsonb_build_object('elder', c.elder_id,"
                "     'alert', $3::bigint, 'channel', $4::text)))"
                " FROM contacts c WHERE c.id = $1::bigint",
                4, params);
}

#define SILENCE_JSON \
    "json_build_object('id', s.id, 'scope', s.scope, 'target', s.target, 'reason', s.reason," \
    " 'created_by', s.created_by, 'starts', (extract(epoch FROM s.starts_at) * 1000)::bigint," \
    " 'ends', (extract(epoch FROM s.ends_at) * 1000)::bigint, 'recur', s.recur)"

static void silence_add(struct anxind *d, const struct httpd_request *req,
                        struct httpd_reply *rep, const struct api_who *who)
{
    cJSON *in = body_object(req, rep);
    if (!in)
        return;
    const cJSON *scope = cJSON_GetObjectItemCaseSensitive(in, "scope");
    const cJSON *target = cJSON_GetObjectItemCaseSensitive(in, "target");
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(in, "reason");
    const cJSON *dur = cJSON_GetObjectItemCaseSensitive(in, "for");
    const cJSON *until = cJSON_GetObjectItemCaseSensitive(in, "until");
    const char *why = NULL;
    int64_t ms = 0;
    if (!cJSON_IsString(scope) || (strcmp(scope->valuestring, "elder") != 0 &&
                                   strcmp(scope->valuestring, "device") != 0 &&
                                   strcmp(scope->valuestring, "village") != 0 &&
                                   strcmp(scope->valuestring, "rule") != 0))
        why = "scope is one of elder device village rule";
    else if (!cJSON_IsString(target) || !*target->valuestring)
        why = "target names the elder, device, village or rule";
    else if (!cJSON_IsString(reason) || !*reason->valuestring)
        why = "a reason is required";
    else if (!cJSON_IsString(dur) == !cJSON_IsString(until))
        why = "give either for (a duration like 2h or 7d) or until (a time with its offset)";
    else if (cJSON_IsString(dur) && (cfg_parse_duration(dur->valuestring, &ms) != 0 || ms <= 0))
        why = "for is a duration like 30m, 2h or 7d";
    if (why) {
        cJSON_Delete(in);
        reply_error(rep, 400, "bad_request", why);
        return;
    }
    char ms_s[32];
    snprintf(ms_s, sizeof ms_s, "%lld", (long long)ms);
    const char *params[6] = {scope->valuestring, target->valuestring, reason->valuestring,
                             who->actor, ms ? ms_s : NULL,
                             cJSON_IsString(until) ? until->valuestring : NULL};
    defer_query(d, req, rep, CALL_SILENCE_ADD, NULL,
                "WITH s AS (INSERT INTO silences (scope, target, reason, created_by, starts_at,"
                "  ends_at) SELECT $1, $2, $3, $4, now(), coalesce(now() + $5::bigint"
                "  * interval '1 millisecond', $6::timestamptz) RETURNING *)"
                " SELECT " SILENCE_JSON "::text,"
                " anxin_audit($4, 'silence.add', 'silence:' || s.id, 'ok',"
                "   jsonb_build_object('scope', s.scope, 'target', s.target,"
                "     'ends', s.ends_at, 'reason', s.reason))"
                " FROM s",
                6, params);
    cJSON_Delete(in);
}

/* /api/v1/silences (GET list, POST add), /api/v1/silences/ID (DELETE). */
static void api_silences(struct anxind *d, const struct httpd_request *req,
                         struct httpd_reply *rep)
{
    const char *rest = req->path + strlen("/api/v1/silences");
    struct api_who who;
    if (*rest == '\0' || strcmp(rest, "/") == 0) {
        if (strcmp(req->method, "GET") == 0) {
            if (api_authorize(d, req, TOKEN_VIEWER, rep, &who))
                defer_query(d, req, rep, CALL_LIST, NULL,
                            "SELECT coalesce(json_agg(" SILENCE_JSON " ORDER BY s.starts_at),"
                            " '[]')::text FROM silences s WHERE "
                            SILENCE_IN_FORCE_OR_TO_COME,
                            0, NULL);
        } else if (strcmp(req->method, "POST") == 0) {
            if (api_authorize(d, req, TOKEN_OPERATOR, rep, &who))
                silence_add(d, req, rep, &who);
        } else {
            reply_error(rep, 405, "method_not_allowed", "use GET or POST");
        }
        return;
    }
    char id[24];
    const char *after = *rest == '/' ? take_id(rest + 1, id) : NULL;
    if (!after || *after) {
        reply_error(rep, 404, "not_found", "silence ids are numbers");
        return;
    }
    if (strcmp(req->method, "DELETE") != 0) {
        reply_error(rep, 405, "method_not_allowed", "use DELETE");
        return;
    }
    if (!api_authorize(d, req, TOKEN_OPERATOR, rep, &who))
        return;
    const char *params[2] = {id, who.actor};
    defer_query(d, req, rep, CALL_SILENCE_CANCEL, id,
                "WITH s AS (UPDATE silences SET cancelled_at = now() WHERE id = $1::bigint"
                " AND cancelled_at IS NULL RETURNING id)"
                " SELECT s.id, anxin_audit($2, 'silence.cancel', 'silence:' || s.id, 'ok')"
                " FROM s",
                2, params);
}

/* POST /api/v1/reload (admin): what SIGHUP does, with the outcome. */
static void api_reload(struct anxind *d, const struct httpd_request *req,
                       struct httpd_reply *rep)
{
    if (strcmp(req->method, "POST") != 0) {
        reply_error(rep, 405, "method_not_allowed", "use POST");
        return;
    }
    struct api_who who;
    if (!api_authorize(d, req, TOKEN_ADMIN, rep, &who))
        return;
    log_info(&d->log, "api: reload asked by %s", who.actor);
    int refused = anxind_reload(d);
    char body[160];
    snprintf(body, sizeof body, "{\"rules\":\"%s\",\"templates\":\"%s\",\"config\":\"%s\"}",
             refused & ANXIND_RELOAD_RULES ? "kept_previous" : "applied",
             refused & ANXIND_RELOAD_TEMPLATES ? "kept_previous" : "applied",
             refused & ANXIND_RELOAD_CONFIG ? "kept_previous" : "applied");
    api_audit(d, who.actor, "reload", NULL, refused ? "partly_refused" : "ok", body);
    if (refused) {
        rep->status = 422;
        if (asprintf(&rep->body, "{\"error\":\"refused\",\"detail\":\"errors in the files "
                     "(the log names them); the previous ones stay in force\",\"result\":%s}\n",
                     body) < 0)
            rep->body = NULL;
        return;
    }
    rep->body = strdup(body);
}

static void readyz(struct anxind *d, struct httpd_reply *rep)
{
    bool mq = d->mqtt && mqttb_receiving(d->mqtt);
    bool db = d->pg && pgc_connected(d->pg);
    int64_t now = clock_wall_ms();
    /* Ready when every channel in use has a provider taking messages. */
    bool chans_ok = true;
    struct text t = {0};
    tprintf(&t, "\"providers\":{");
    for (size_t i = 0; i < d->cfg->n_providers; i++) {
        bool up = !d->notifier || notifier_provider_up(d->notifier, (int)i, now);
        tprintf(&t, "%s\"%s\":%s", i ? "," : "", d->cfg->providers[i].name,
                up ? "true" : "false");
    }
    tprintf(&t, "}");
    for (int ch = 0; ch < CFG_CHANNEL_COUNT; ch++) {
        if (d->cfg->channel_n[ch] == 0)
            continue;
        bool any = false;
        for (size_t k = 0; k < d->cfg->channel_n[ch]; k++)
            any |= !d->notifier ||
                   notifier_provider_up(d->notifier, d->cfg->channel_providers[ch][k], now);
        chans_ok &= any;
    }
    bool ok = mq && db && chans_ok;
    rep->status = ok ? 200 : 503;
    if (t.oom || asprintf(&rep->body, "{\"status\":\"%s\",\"broker\":%s,\"database\":%s,%s}\n",
                          ok ? "ready" : "not_ready", mq ? "true" : "false",
                          db ? "true" : "false", t.p) < 0)
        rep->body = NULL;
    free(t.p);
}

/* /api/v1/alerts[/ID[/ack|/resolve]] */
static void api_alerts(struct anxind *d, const struct httpd_request *req,
                       struct httpd_reply *rep)
{
    const char *rest = req->path + strlen("/api/v1/alerts");
    bool get = strcmp(req->method, "GET") == 0;
    bool post = strcmp(req->method, "POST") == 0;
    struct api_who who;
    if (*rest == '\0' || strcmp(rest, "/") == 0) {
        if (!get) {
            reply_error(rep, 405, "method_not_allowed", "use GET");
            return;
        }
        if (api_authorize(d, req, TOKEN_VIEWER, rep, &who))
            api_list(d, req, rep);
        return;
    }
    if (*rest != '/') {
        reply_error(rep, 404, "not_found", "no such endpoint");
        return;
    }
    char id[24];
    const char *action = take_id(rest + 1, id);
    if (!action) {
        reply_error(rep, 404, "not_found", "alert ids are numbers");
        return;
    }
    if (*action == '\0') {
        if (!get) {
            reply_error(rep, 405, "method_not_allowed", "use GET");
            return;
        }
        if (api_authorize(d, req, TOKEN_VIEWER, rep, &who))
            api_one(d, req, rep, id);
        return;
    }
    bool ack = strcmp(action, "/ack") == 0, resolve = strcmp(action, "/resolve") == 0;
    if (!ack && !resolve) {
        reply_error(rep, 404, "not_found", "no such endpoint");
        return;
    }
    if (!post) {
        reply_error(rep, 405, "method_not_allowed", "use POST");
        return;
    }
    if (api_authorize(d, req, TOKEN_OPERATOR, rep, &who))
        api_act(d, req, rep, id, resolve, &who);
}

void api_handle(void *arg, const struct httpd_request *req, struct httpd_reply *rep)
{
    struct anxind *d = arg;
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;

    if (strncmp(req->path, "/api/v1/alerts", 14) == 0) {
        api_alerts(d, req, rep);
        return;
    }
    if (strncmp(req->path, "/api/v1/contacts/", 17) == 0) {
        api_contacts(d, req, rep);
        return;
    }
    if (strncmp(req->path, "/api/v1/silences", 16) == 0) {
        api_silences(d, req, rep);
        return;
    }
    if (strncmp(req->path, "/api/v1/tokens", 14) == 0) {
        api_tokens_route(d, req, rep);
        return;
    }
    if (strcmp(req->path, "/api/v1/reload") == 0) {
        api_reload(d, req, rep);
        return;
    }
    if (api_console_route(d, req, rep))
        return;
    if (strncmp(req->path, "/hooks/", 7) == 0) {
        hooks_handle(d, req, rep);
        return;
    }

    if (strcmp(req->path, "/healthz") == 0 && get) {
        rep->body = strdup("{\"status\":\"ok\"}\n");
        return;
    }
    if (strcmp(req->path, "/readyz") == 0 && get) {
        readyz(d, rep);
        return;
    }
    if (strcmp(req->path, "/metrics") == 0 && get) {
        struct text t = {0};
        render_metrics(d, &t);
        if (t.oom) {
            free(t.p);
            rep->status = 500;
            rep->body = json_error("internal", "out of memory");
            return;
        }
        rep->content_type = "text/plain; version=0.0.4; charset=utf-8";
        rep->body = t.p;
        rep->body_len = t.len;
        return;
    }
    rep->status = 404;
    rep->body = json_error("not_found", "no such endpoint");
}
