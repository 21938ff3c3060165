/* api.c - the daemon's HTTP routes: health for systemd and load balancers,
 * and Prometheus metrics. The alert API and the console build on this. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "anxind.h"
#include "kpi.h"

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
    metric(t, "anxin_notification_retries_total", "counter",
           "Attempts that will be tried again.", s->notification_retries);
    metric(t, "anxin_delivery_reports_total", "counter",
           "Delivery reports and call results taken from providers.", s->reports_received);
    metric(t, "anxin_delivery_reports_rejected_total", "counter",
           "Reports refused: bad signature or key, malformed, unknown provider.",
           s->reports_rejected);
    metric(t, "anxin_notifications_pending", "gauge", "Notifications being sent or retried.",
           d->notifier ? notifier_pending(d->notifier) : 0);
    metric(t, "anxin_db_pending_writes", "gauge", "Queries waiting for the database.",
           d->pg ? pgc_pending(d->pg) : 0);
    metric(t, "anxin_db_errors_total", "counter", "Writes the database refused.", s->db_errors);
    metric(t, "anxin_registry_elders", "gauge", "Elders in memory.", d->reg.elders.len);
    metric(t, "anxin_registry_devices", "gauge", "Devices in memory.", d->reg.devices.len);
    metric(t, "anxin_registry_reloads_total", "counter", "Registry reloads after NOTIFY.",
           s->registry_reloads);
    metric(t, "anxin_mqtt_connected", "gauge", "1 if connected to the broker.",
           d->mqtt && mqttb_connected(d->mqtt));
    metric(t, "anxin_db_connected", "gauge", "1 if connected to PostgreSQL.",
           d->pg && pgc_connected(d->pg));
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

static void reply_error(struct httpd_reply *rep, int status, const char *error,
                        const char *detail)
{
    rep->status = status;
    rep->body = json_error(error, detail);
}

/* Who may do what: viewers read, operators also acknowledge and resolve. */
static const struct token *authorize(struct anxind *d, const struct httpd_request *req,
                                     enum token_role need, struct httpd_reply *rep)
{
    const struct token *t;
    switch (token_check(&d->tokens, httpd_header(req, "Authorization"), clock_wall_ms(), &t)) {
    case TOKEN_OK:
        break;
    case TOKEN_MISSING:
        reply_error(rep, 401, "unauthorized", "send Authorization: Bearer <token>");
        return NULL;
    case TOKEN_UNKNOWN:
        reply_error(rep, 401, "unauthorized", "unknown token");
        return NULL;
    case TOKEN_EXPIRED:
        reply_error(rep, 401, "unauthorized", "token expired");
        return NULL;
    case TOKEN_REVOKED:
        reply_error(rep, 401, "unauthorized", "token revoked");
        return NULL;
    }
    if (t->role < need) {
        char detail[80];
        snprintf(detail, sizeof detail, "needs the %s role; this token is %s",
                 token_role_name(need), token_role_name(t->role));
        reply_error(rep, 403, "forbidden", detail);
        return NULL;
    }
    return t;
}

struct api_call {
    struct anxind *d;
    struct httpd_pending *pending;
    int kind;                   /* what the result means */
    char id[24];
};

enum { CALL_LIST, CALL_ONE, CALL_ACK, CALL_RESOLVE };

static void on_api_result(void *arg, const PGresult *res)
{
    struct api_call *c = arg;
    struct httpd_reply rep = {0};
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        log_error(&c->d->log, "api: query failed: %s", pgc_error(res));
        reply_error(&rep, 500, "internal", "database error");
    } else if (c->kind == CALL_LIST || c->kind == CALL_ONE) {
        if (PQgetisnull(res, 0, 0))
            reply_error(&rep, 404, "not_found", "no such alert");
        else
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

/* Runs one query for a deferred reply. params are copied. */
static void defer_query(struct anxind *d, const struct httpd_request *req,
                        struct httpd_reply *rep, int kind, const char *id, const char *sql,
                        int n, const char *const *params)
{
    if (!pgc_connected(d->pg)) {
        reply_error(rep, 503, "unavailable", "the database is unreachable; try again");
        return;
    }
    struct api_call *c = calloc(1, sizeof *c);
    if (!c) {
        reply_error(rep, 500, "internal", "out of memory");
        return;
    }
    c->d = d;
    c->kind = kind;
    snprintf(c->id, sizeof c->id, "%s", id ? id : "");
    c->pending = httpd_defer(req);
    if (pgc_query(d->pg, sql, n, params, on_api_result, c, 0) != 0) {
        struct httpd_reply r = {0};
        reply_error(&r, 500, "internal", "out of memory");
        httpd_complete(c->pending, &r);
        free(c);
    }
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
    " 'outcome', a.outcome, 'note', a.note)"

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
    defer_query(d, req, rep, CALL_LIST, NULL,
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
                "   'to', CASE WHEN n.to_number LIKE '+86%' AND length(n.to_number) = 14"
                "         THEN substr(n.to_number, 4, 3) || '****' || right(n.to_number, 4)"
                "         ELSE left(n.to_number, 4) || '****' || right(n.to_number, 4) END,"
                "   'status', n.status, 'provider', n.provider, 'provider_ref', n.provider_ref,"
                "   'attempts', n.attempts,"
                "   'sent', (extract(epoch FROM n.sent_at) * 1000)::bigint)"
                "   ORDER BY n.created_at, n.id) FROM notifications n WHERE n.alert_id = a.id),"
                "   '[]')))::text"
                " FROM alerts a JOIN elders e ON e.id = a.elder_id WHERE a.id = $1::bigint"
                " UNION ALL SELECT NULL WHERE NOT EXISTS"
                "  (SELECT 1 FROM alerts WHERE id = $1::bigint)",
                1, params);
}

static void api_act(struct anxind *d, const struct httpd_request *req, struct httpd_reply *rep,
                    const char *id, bool resolve, const struct token *t)
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
    char actor[80];
    snprintf(actor, sizeof actor, "token:%s", t->name);
    cJSON_AddRawToObject(doc, "id", id);
    cJSON_AddStringToObject(doc, "actor", actor);
    cJSON_AddStringToObject(doc, "channel", "api");
    if (note)
        cJSON_AddStringToObject(doc, "note", note->valuestring);
    if (outcome)
        cJSON_AddStringToObject(doc, "outcome", outcome->valuestring);
    cJSON_Delete(in);
    char *text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    const char *params[1] = {text};
    defer_query(d, req, rep, resolve ? CALL_RESOLVE : CALL_ACK, id,
                resolve ? "SELECT anxin_alert_resolve($1::jsonb)"
                        : "SELECT anxin_alert_ack($1::jsonb)",
                1, params);
    free(text);
}

/* /api/v1/alerts[/ID[/ack|/resolve]] */
static void api_alerts(struct anxind *d, const struct httpd_request *req,
                       struct httpd_reply *rep)
{
    const char *rest = req->path + strlen("/api/v1/alerts");
    bool get = strcmp(req->method, "GET") == 0;
    bool post = strcmp(req->method, "POST") == 0;
    const struct token *t;
    if (*rest == '\0' || strcmp(rest, "/") == 0) {
        if (!get) {
            reply_error(rep, 405, "method_not_allowed", "use GET");
            return;
        }
        if ((t = authorize(d, req, TOKEN_VIEWER, rep)))
            api_list(d, req, rep);
        return;
    }
    if (*rest != '/') {
        reply_error(rep, 404, "not_found", "no such endpoint");
        return;
    }
    char id[24];
    size_t n = strspn(rest + 1, "0123456789");
    if (n == 0 || n >= sizeof id - 1 || n > 18) {
        reply_error(rep, 404, "not_found", "alert ids are numbers");
        return;
    }
    memcpy(id, rest + 1, n);
    id[n] = '\0';
    const char *action = rest + 1 + n;
    if (*action == '\0') {
        if (!get) {
            reply_error(rep, 405, "method_not_allowed", "use GET");
            return;
        }
        if ((t = authorize(d, req, TOKEN_VIEWER, rep)))
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
    if ((t = authorize(d, req, TOKEN_OPERATOR, rep)))
        api_act(d, req, rep, id, resolve, t);
}

void api_handle(void *arg, const struct httpd_request *req, struct httpd_reply *rep)
{
    struct anxind *d = arg;
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;

    if (strncmp(req->path, "/api/v1/alerts", 14) == 0) {
        api_alerts(d, req, rep);
        return;
    }
    if (strncmp(req->path, "/hooks/", 7) == 0) {
        hooks_handle(d, req, rep);
        return;
    }

    if (strcmp(req->path, "/healthz") == 0 && get) {
        rep->body = strdup("{\"status\":\"ok\"}\n");
        return;
    }
    if (strcmp(req->path, "/readyz") == 0 && get) {
        bool mq = d->mqtt && mqttb_connected(d->mqtt);
        bool db = d->pg && pgc_connected(d->pg);
        rep->status = mq && db ? 200 : 503;
        if (asprintf(&rep->body, "{\"status\":\"%s\",\"broker\":%s,\"database\":%s}\n",
                     mq && db ? "ready" : "not_ready", mq ? "true" : "false",
                     db ? "true" : "false") < 0)
            rep->body = NULL;
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
