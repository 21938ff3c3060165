/* store.c - what anxind reads from and writes to PostgreSQL.
 *
 * Reads at start are blocking (the loop is not running yet and the daemon
 * cannot work without its registry). Everything else goes through pgc's
 * queue: writes are single calls of the idempotent anxin_* functions of the
 * schema, carrying the journal record they stem from, so the journal
 * checkpoint only passes a message once its effects are committed. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "anxind.h"
#include "regdb.h"
#include "regload.h"
#include "err.h"
#include "jsonu.h"
#include "mask.h"

/* Adds one elder row to the registry; logs and skips bad rows. */
static void put_elder_row(struct anxind *d, const char *json)
{
    char err[160];
    if (regdb_put_row(&d->reg, json, err, sizeof err) != 0)
        log_error(&d->log, "registry: skipping an elder row: %s", err);
}

static int enum_severity(const char *s)
{
    static const char *const names[] = {"low", "medium", "high", "critical"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return RULE_SEV_HIGH;
}

static int load_alerts(struct anxind *d, PGconn *db)
{
    const char *params[1] = {d->cfg->node};
    PGresult *r = PQexecParams(
        db,
        "SELECT a.id, a.elder_id, coalesce(a.device_id, ''), a.rule, a.severity, a.chain,"
        " a.state, a.ack_code, (extract(epoch FROM a.event_ts) * 1000)::bigint,"
        " (extract(epoch FROM a.opened_at) * 1000)::bigint,"
        " (extract(epoch FROM a.last_fired_at) * 1000)::bigint, a.fire_count,"
        " coalesce((SELECT max(ev.source_seq) FROM alert_events ev"
        "           WHERE ev.alert_id = a.id AND ev.source_node = $1), 0)"
        " FROM alerts a WHERE a.state IN ('open', 'acknowledged')",
        1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        log_error(&d->log, "database: loading open alerts failed: %s", pgc_error(r));
        PQclear(r);
        return ANX_EIO;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        struct alert_open_args a = {
            .id = strtoll(PQgetvalue(r, i, 0), NULL, 10),
            .elder_id = PQgetvalue(r, i, 1),
            .device_id = PQgetvalue(r, i, 2),
            .rule = PQgetvalue(r, i, 3),
            .severity = enum_severity(PQgetvalue(r, i, 4)),
            .chain = PQgetvalue(r, i, 5),
            .state = strcmp(PQgetvalue(r, i, 6), "acknowledged") == 0 ? ALERT_ACKNOWLEDGED
                                                                     : ALERT_OPEN,
            .ack_code = PQgetvalue(r, i, 7),
            .event_ts_ms = strtoll(PQgetvalue(r, i, 8), NULL, 10),
            .now_ms = strtoll(PQgetvalue(r, i, 9), NULL, 10),
            .fire_count = (int32_t)strtol(PQgetvalue(r, i, 11), NULL, 10),
            .jseq = strtoull(PQgetvalue(r, i, 12), NULL, 10),
        };
        struct alert *al;
        if (alert_open(&d->alerts, &a, &al) == 0)
            al->last_fired_ms = strtoll(PQgetvalue(r, i, 10), NULL, 10);
    }
    PQclear(r);
    return 0;
}

static void take_block(struct id_block *b, int64_t first, int64_t spare)
{
    b->next = first;
    b->end = first + ID_BLOCK;
    b->spare_next = spare;
    b->spare_end = spare ? spare + ID_BLOCK : 0;
}

static void skip_elder(void *arg, const char *why)
{
    struct anxind *d = arg;
    log_error(&d->log, "registry: skipping an elder row: %s", why);
}

/* Three plain scans merged as their rows arrive (regdb_scan_load): about
 * 3 s of server time at a million devices where one JSON object per elder
 * took 6.5, and the rows are parsed while the server sends the rest. */
static int load_registry(struct anxind *d, PGconn *db)
{
    char err[256];
    size_t unmatched = 0;
    int rc = regdb_scan_load(db, &d->reg, skip_elder, d, &unmatched, err, sizeof err);
    if (rc)
        log_error(&d->log, "database: loading the registry failed: %s", err);
    else if (unmatched)
        log_warn(&d->log, "registry: %zu contact or device row(s) had no elder row; left out",
                 unmatched);
    /* Hand back what parsing left free between the elders (about 150 bytes
     * a device of resident memory otherwise). */
    malloc_trim(0);
    return rc;
}

int store_load(struct anxind *d, PGconn *db)
{
    int64_t t0 = clock_wall_ms();
    int rc = load_registry(d, db);
    if (rc)
        return rc;
    PGresult *r;
    rc = load_alerts(d, db);
    if (rc)
        return rc;
    if ((rc = escalate_load_silences(d, db)) != 0)
        return rc;

    r = PQexec(db, "SELECT nextval('alert_ids'), nextval('alert_ids'),"
                   " nextval('notification_ids'), nextval('notification_ids')");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        log_error(&d->log, "database: reserving ids failed: %s", pgc_error(r));
        PQclear(r);
        return ANX_EIO;
    }
    take_block(&d->alert_ids, strtoll(PQgetvalue(r, 0, 0), NULL, 10),
               strtoll(PQgetvalue(r, 0, 1), NULL, 10));
    take_block(&d->notification_ids, strtoll(PQgetvalue(r, 0, 2), NULL, 10),
               strtoll(PQgetvalue(r, 0, 3), NULL, 10));
    PQclear(r);
    log_info(&d->log, "registry: %zu elders, %zu devices; %zu live alerts (%lld ms)",
             d->reg.elders.len, d->reg.devices.len, d->alerts.by_id.len,
             (long long)(clock_wall_ms() - t0));
    return 0;
}

int64_t store_take_id(struct anxind *d, struct id_block *b)
{
    if (b->next >= b->end && b->spare_next) {
        b->next = b->spare_next;
        b->end = b->spare_end;
        b->spare_next = b->spare_end = 0;
    }
    if (b->next >= b->end && !b->overrun_logged) {
        /* Only after ID_BLOCK alerts with the database away; the ids go on
         * past the block, which is safe while one anxind uses the database. */
        log_error(&d->log, "ids: reserved block used up while the database is unreachable; "
                           "continuing past it");
        b->overrun_logged = true;
    }
    int64_t id = b->next++;
    if (b->end - b->next < ID_BLOCK / 2 && !b->spare_next)
        store_refill_ids(d);
    return id;
}

static void on_refill(void *arg, const PGresult *res)
{
    struct anxind *d = arg;
    d->alert_ids.refilling = d->notification_ids.refilling = false;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_error(&d->log, "database: reserving ids failed: %s",
                  pgc_error(res));
        return;
    }
    struct id_block *blocks[2] = {&d->alert_ids, &d->notification_ids};
    for (int i = 0; i < 2; i++) {
        struct id_block *b = blocks[i];
        int64_t v = strtoll(PQgetvalue(res, 0, i), NULL, 10);
        if (b->spare_next || v < b->next)
            continue;   /* overrun past the block: never hand out an id twice */
        b->spare_next = v;
        b->spare_end = v + ID_BLOCK;
        b->overrun_logged = false;
    }
}

void store_refill_ids(struct anxind *d)
{
    if (d->alert_ids.refilling)
        return;
    d->alert_ids.refilling = d->notification_ids.refilling = true;
    pgc_query(d->pg, "SELECT nextval('alert_ids'), nextval('notification_ids')", 0, NULL,
              on_refill, d, 0);
}

/* Write results: a failed write is logged; there is nothing to retry, the
 * statement itself was refused. */
static void on_write(void *arg, const PGresult *res)
{
    struct anxind *d = arg;
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK)
        return;
    d->stats.db_errors++;
    log_error(&d->log, "database: write refused: %s",
              pgc_error(res));
}

static void on_alert_stored(void *arg, const PGresult *res)
{
    struct anxind *d = arg;
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
        strcmp(PQgetvalue(res, 0, 0), "f") == 0)
        log_info(&d->log, "database: alert already stored (journal replay)");
    else
        on_write(arg, res);
}

static int queue_doc(struct anxind *d, const char *fn, cJSON *doc, uint64_t jseq, pgc_cb cb)
{
    char *text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (!text)
        return ANX_ENOMEM;
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT %s($1::jsonb)", fn);
    const char *params[1] = {text};
    int rc = pgc_query(d->pg, sql, 1, params, cb, d, jseq);
    free(text);
    return rc;
}

/* Why the engine decided, into a document: what the timeline shows. */
static void add_why(cJSON *doc, const struct eng_event *ev)
{
    if (ev->event)
        cJSON_AddStringToObject(doc, "event", ev->event);
    if (ev->why[0])
        cJSON_AddStringToObject(doc, "why", ev->why);
    if (ev->has_value)
        cJSON_AddNumberToObject(doc, "value", ev->value);
}

static int store_alert_open_doc(struct anxind *d, const struct alert *a,
                                const struct eng_event *ev, const struct esc_plan *plan,
                                const struct silence *silenced, const struct alert *leader,
                                uint64_t jseq);

int store_alert_open(struct anxind *d, const struct alert *a, const struct eng_event *ev,
                     const struct esc_plan *plan, const struct silence *silenced, uint64_t jseq)
{
    return store_alert_open_doc(d, a, ev, plan, silenced, NULL, jseq);
}

static int store_alert_open_doc(struct anxind *d, const struct alert *a,
                                const struct eng_event *ev, const struct esc_plan *plan,
                                const struct silence *silenced, const struct alert *leader,
                                uint64_t jseq)
{
    cJSON *doc = cJSON_CreateObject();
    if (!doc)
        return ANX_ENOMEM;
    jsonu_add_int(doc, "id", a->id);
    cJSON_AddStringToObject(doc, "elder", a->elder_id);
    cJSON_AddStringToObject(doc, "device", a->device_id);
    add_why(doc, ev);
    cJSON_AddStringToObject(doc, "source", jseq ? "mqtt" : "timer");
    cJSON_AddStringToObject(doc, "rule", a->rule);
    cJSON_AddStringToObject(doc, "severity", rule_severity_name(a->severity));
    cJSON_AddStringToObject(doc, "chain", a->chain);
    cJSON_AddStringToObject(doc, "ack_code", a->ack_code);
    jsonu_add_int(doc, "event_ts", a->event_ts_ms);
    jsonu_add_int(doc, "opened", a->opened_ms);
    cJSON_AddStringToObject(doc, "node", d->cfg->node);
    /* A message the journal could not hold still opens its alert; -id
     * keeps (node, seq) unique for it. */
    jsonu_add_int(doc, "seq", jseq ? (int64_t)jseq : -a->id);
    if (silenced) {
        cJSON_AddStringToObject(doc, "state", "silenced");
        jsonu_add_int(doc, "silenced_by", silenced->id);
        cJSON_AddStringToObject(doc, "silence_reason", silenced->reason);
    }
    if (leader)
        jsonu_add_int(doc, "group_id", leader->id);
    if (plan)
        escalate_plan_json(d, plan, doc);
    return queue_doc(d, "anxin_alert_open", doc, jseq, on_alert_stored);
}

int store_alert_grouped(struct anxind *d, struct alert *a, const struct eng_event *ev,
                        const struct alert *leader, uint64_t jseq)
{
    a->group_leader = leader->id;
    struct esc_plan none = {.step_reached = -1};
    int rc = store_alert_open_doc(d, a, ev, &none, NULL, leader, jseq);
    return rc;
}

int store_alert_clear(struct anxind *d, const struct alert *a, const struct eng_event *ev,
                      uint64_t jseq)
{
    cJSON *doc = cJSON_CreateObject();
    if (!doc)
        return ANX_ENOMEM;
    jsonu_add_int(doc, "id", a->id);
    jsonu_add_int(doc, "at", ev->at_ms);
    cJSON_AddStringToObject(doc, "device", ev->device->id);
    cJSON_AddStringToObject(doc, "node", d->cfg->node);
    add_why(doc, ev);
    if (jseq)
        jsonu_add_int(doc, "seq", (int64_t)jseq);
    return queue_doc(d, "anxin_alert_clear", doc, jseq, on_write);
}

int store_alert_repeat(struct anxind *d, const struct alert *a, const char *device_id,
                       const char *event, int64_t now_ms, uint64_t jseq)
{
    cJSON *doc = cJSON_CreateObject();
    if (!doc)
        return ANX_ENOMEM;
    jsonu_add_int(doc, "id", a->id);
    jsonu_add_int(doc, "at", now_ms);
    cJSON_AddStringToObject(doc, "device", device_id);
    if (event)
        cJSON_AddStringToObject(doc, "event", event);
    cJSON_AddStringToObject(doc, "node", d->cfg->node);
    cJSON_AddNumberToObject(doc, "count", a->fire_count);
    if (jseq)
        jsonu_add_int(doc, "seq", (int64_t)jseq);
    return queue_doc(d, "anxin_alert_repeat", doc, jseq, on_write);
}

int store_attempt(struct anxind *d, const struct notify_msg *n, const struct notifier_attempt *a)
{
    static const char *const outcomes[] = {"sent", "retry", "failed"};
    cJSON *doc = cJSON_CreateObject();
    if (!doc)
        return ANX_ENOMEM;
    jsonu_add_int(doc, "notification", n->id);
    cJSON_AddNumberToObject(doc, "attempt", a->attempt);
    cJSON_AddStringToObject(doc, "provider", a->provider);
    jsonu_add_int(doc, "started", a->started_ms);
    jsonu_add_int(doc, "finished", a->finished_ms);
    cJSON_AddStringToObject(doc, "outcome", outcomes[a->outcome]);
    if (a->http_status)
        cJSON_AddNumberToObject(doc, "http_status", (double)a->http_status);
    if (a->provider_ref)
        cJSON_AddStringToObject(doc, "ref", a->provider_ref);
    if (a->error)
        cJSON_AddStringToObject(doc, "error", a->error);
    if (a->capped)
        cJSON_AddTrueToObject(doc, "capped");
    return queue_doc(d, "anxin_notification_attempt", doc, 0, on_write);
}

static void on_report_stored(void *arg, const PGresult *res)
{
    struct anxind *d = arg;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        on_write(arg, res);
        return;
    }
    const char *r = PQgetvalue(res, 0, 0);
    if (strcmp(r, "unknown") == 0)
        log_warn(&d->log, "delivery report for a notification anxin does not know "
                          "(sent before the database was reset, or by another system)");
    else if (strcmp(r, "acked") == 0)
        log_info(&d->log, "alert acknowledged by a key press on a call");
}

/* A delivery report or call result, for the timeline. */
int store_report(struct anxind *d, const char *provider, const struct prov_report *r)
{
    cJSON *doc = cJSON_CreateObject();
    if (!doc)
        return ANX_ENOMEM;
    cJSON_AddStringToObject(doc, "provider", provider);
    if (r->notification > 0)
        jsonu_add_int(doc, "notification", r->notification);
    if (r->ref[0])
        cJSON_AddStringToObject(doc, "ref", r->ref);
    cJSON_AddStringToObject(doc, "status", prov_report_status_name(r->status));
    if (r->detail[0])
        cJSON_AddStringToObject(doc, "detail", r->detail);
    if (r->at_ms > 0)
        jsonu_add_int(doc, "at", r->at_ms);
    if (r->digits[0])
        cJSON_AddStringToObject(doc, "digits", r->digits);
    cJSON_AddStringToObject(doc, "node", d->cfg->node);
    return queue_doc(d, "anxin_delivery_report", doc, 0, on_report_stored);
}

static void on_last_seen(void *arg, const PGresult *res)
{
    struct anxind *d = arg;
    d->last_seen_flushing = false;
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
        on_write(arg, res);
}

/* Appends s to a growing buffer; returns 0 or ANX_ENOMEM. */
static int buf_add(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        size_t ncap = (*cap ? *cap * 2 : 4096) + n;
        char *nb = realloc(*buf, ncap);
        if (!nb)
            return ANX_ENOMEM;
        *buf = nb;
        *cap = ncap;
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
    return 0;
}

/* One tick's share of the registry: the whole of it every this many ticks.
 * Writing every changed device at once put up to a row per device into one
 * UPDATE every 10 s (100,000 rows at 100,000 devices under load: a burst of
 * the database's CPU beside the alarm path), after a walk of every device
 * on the loop (a million at a province). */
#define LAST_SEEN_SLICES 10

/* Writes the devices' last message times in one statement. Device ids are
 * [A-Za-z0-9_.:-] only, so the array literals need no escaping. */
void store_flush_last_seen(struct anxind *d, bool all)
{
    if (d->last_seen_flushing || !pgc_connected(d->pg))
        return;
    const struct strmap *devices = &d->reg.devices;
    size_t start = all || d->last_seen_cursor >= devices->cap ? 0 : d->last_seen_cursor;
    size_t end = all ? devices->cap : start + devices->cap / LAST_SEEN_SLICES + 1;
    char *ids = NULL, *times = NULL;
    size_t il = 0, ic = 0, tl = 0, tc = 0, n = 0;
    int rc = buf_add(&ids, &il, &ic, "{") | buf_add(&times, &tl, &tc, "{");
    size_t it = start;
    void *v;
    while (rc == 0 && strmap_next(devices, &it, NULL, &v)) {
        if (it > end) {
            it--;           /* past this tick's share: the next tick starts there */
            break;
        }
        struct reg_device *dev = v;
        if (!dev->seen_dirty)
            continue;
        char t[32];
        snprintf(t, sizeof t, "%s%" PRId64, n ? "," : "", dev->last_seen_ms);
        rc |= buf_add(&ids, &il, &ic, n ? "," : "");
        rc |= buf_add(&ids, &il, &ic, dev->id);
        rc |= buf_add(&times, &tl, &tc, t);
        dev->seen_dirty = false;
        n++;
    }
    d->last_seen_cursor = it >= devices->cap ? 0 : it;
    rc |= buf_add(&ids, &il, &ic, "}") | buf_add(&times, &tl, &tc, "}");
    if (rc == 0 && n > 0) {
        const char *params[2] = {ids, times};
        d->last_seen_flushing = true;
        pgc_query(d->pg,
                  "UPDATE devices d SET last_seen = anxin_ms(v.ms)"
                  " FROM unnest($1::text[], $2::bigint[]) AS v(id, ms)"
                  " WHERE d.id = v.id AND (d.last_seen IS NULL OR d.last_seen < anxin_ms(v.ms)"
                  "  OR NOT isfinite(d.last_seen))",
                  2, params, on_last_seen, d, 0);
    }
    free(ids);
    free(times);
}

/* Registry reloads ------------------------------------------------------ */

/* A query for the elders with these ids (the full reload is regload.c). */
struct reload_req {
    struct anxind *d;
    char **ids;
    size_t n;
};

static void free_reload(struct reload_req *q)
{
    for (size_t i = 0; i < q->n; i++)
        free(q->ids[i]);
    free(q->ids);
    free(q);
}

static void on_reload(void *arg, const PGresult *res)
{
    struct reload_req *q = arg;
    struct anxind *d = q->d;
    d->reloads_in_flight--;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_error(&d->log, "registry: reload failed: %s; will retry",
                  pgc_error(res));
        /* Put the ids back so the next reload covers them. */
        for (size_t i = 0; i < q->n; i++) {
            if (!strmap_get(&d->reload_ids, q->ids[i]) &&
                strmap_put(&d->reload_ids, q->ids[i], q->ids[i], NULL) == 0)
                q->ids[i] = NULL;
        }
        anxind_schedule_reload(d, 2000);
        free_reload(q);
        return;
    }
    int64_t t0 = clock_mono_us();
    struct strmap seen = {0};
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        put_elder_row(d, PQgetvalue(res, i, 0));
        strmap_put(&seen, PQgetvalue(res, i, 1), (void *)1, NULL);
    }
    size_t removed = 0;
    for (size_t i = 0; i < q->n; i++)
        if (!strmap_get(&seen, q->ids[i]) && reg_remove(&d->reg, q->ids[i]) == 0)
            removed++;
    strmap_free(&seen);
    d->stats.registry_reloads++;
    /* Only these elders' devices: the rest did not change. */
    int64_t now = clock_wall_ms();
    for (int i = 0; i < n; i++) {
        const struct reg_elder *e = reg_find_elder(&d->reg, PQgetvalue(res, i, 1));
        if (e)
            anxind_track_elder(d, e, now);
    }
    anxind_rearm_rules(d);
    log_info(&d->log, "registry: reloaded changed elders: %d elder(s) updated, %zu removed; "
                      "now %zu elders, %zu devices (%.1f ms)", n, removed, d->reg.elders.len,
             d->reg.devices.len, (double)(clock_mono_us() - t0) / 1000.0);
    free_reload(q);
    /* A full reload waited for this one. */
    if (d->reload_all && d->reloads_in_flight == 0)
        anxind_schedule_reload(d, 0);
}

void store_reload_registry(struct anxind *d)
{
    /* A full reload running: what was announced meanwhile waits for it (it
     * schedules that when it ends), so its older read never lands on top
     * of a newer one. */
    if (d->regload)
        return;
    /* Many changes at once (an import): one full reload is cheaper. */
    if (d->reload_all || d->reload_ids.len > 500) {
        /* Its read goes on a connection of its own: not before the changed
         * elders already asked for on pg have landed. */
        if (d->reloads_in_flight > 0) {
            d->reload_all = true;
            return;
        }
        size_t it = 0;
        void *v;
        while (strmap_next(&d->reload_ids, &it, NULL, &v))
            free(v);
        strmap_free(&d->reload_ids);
        d->reload_all = false;
        int rc = regload_start(d);
        if (rc != 0) {
            log_error(&d->log, "registry: cannot start a full reload (%s); will retry",
                      rc == ANX_ENOMEM ? "out of memory" : uv_strerror(rc));
            d->reload_all = true;
            anxind_schedule_reload(d, 2000);
        }
        return;
    }
    struct reload_req *q = calloc(1, sizeof *q);
    if (!q)
        return;
    q->d = d;
    q->ids = calloc(d->reload_ids.len, sizeof *q->ids);
    if (!q->ids) {
        free(q);
        return;
    }
    char *arr = NULL;
    size_t al = 0, ac = 0;
    int rc = buf_add(&arr, &al, &ac, "{");
    size_t it = 0;
    void *v;
    while (strmap_next(&d->reload_ids, &it, NULL, &v)) {
        char *id = v;
        q->ids[q->n++] = id;
        /* Elder ids are [A-Za-z0-9_.:-] (schema CHECK): quote for safety anyway. */
        rc |= buf_add(&arr, &al, &ac, q->n > 1 ? ",\"" : "\"");
        rc |= buf_add(&arr, &al, &ac, id);
        rc |= buf_add(&arr, &al, &ac, "\"");
    }
    strmap_free(&d->reload_ids);
    rc |= buf_add(&arr, &al, &ac, "}");
    if (rc) {
        free(arr);
        free_reload(q);
        return;
    }
    const char *params[1] = {arr};
    d->reloads_in_flight++;
    if (pgc_query(d->pg, regdb_select_some, 1, params, on_reload, q, 0) != 0) {
        /* pg is closing (a stop): nothing to reload into any more. */
        d->reloads_in_flight--;
        free_reload(q);
    }
    free(arr);
}

int store_resume_notifications(struct anxind *d, PGconn *db)
{
    PGresult *r = PQexec(
        db,
        "SELECT n.id, n.alert_id, coalesce(n.contact_id, 0), n.contact_name,"
        " coalesce(n.role::text, ''), n.to_number, n.channel, n.body, n.attempts, a.elder_id,"
        " a.rule, a.severity, a.ack_code, (extract(epoch FROM a.event_ts) * 1000)::bigint,"
        " (extract(epoch FROM n.created_at) * 1000)::bigint"
        " FROM notifications n JOIN alerts a ON a.id = n.alert_id"
        " WHERE n.status IN ('queued', 'sending') AND a.state = 'open'"
        " ORDER BY n.created_at, n.id");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        log_error(&d->log, "database: loading unsent notifications failed: %s",
                  pgc_error(r));
        PQclear(r);
        return ANX_EIO;
    }
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        struct notify_msg *m = calloc(1, sizeof *m);
        if (!m || !(m->text = strdup(PQgetvalue(r, i, 7)))) {
            free(m);
            break;
        }
        m->id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        m->alert_id = strtoll(PQgetvalue(r, i, 1), NULL, 10);
        m->contact_id = strtoll(PQgetvalue(r, i, 2), NULL, 10);
        snprintf(m->contact_name, sizeof m->contact_name, "%s", PQgetvalue(r, i, 3));
        m->role = reg_role_parse(PQgetvalue(r, i, 4));
        snprintf(m->to, sizeof m->to, "%s", PQgetvalue(r, i, 5));
        m->channel = strcmp(PQgetvalue(r, i, 6), "voice") == 0 ? NOTIFY_VOICE : NOTIFY_SMS;
        int attempts = (int)strtol(PQgetvalue(r, i, 8), NULL, 10);
        snprintf(m->elder_id, sizeof m->elder_id, "%s", PQgetvalue(r, i, 9));
        snprintf(m->rule, sizeof m->rule, "%s", PQgetvalue(r, i, 10));
        m->severity = enum_severity(PQgetvalue(r, i, 11));
        snprintf(m->ack_code, sizeof m->ack_code, "%s", PQgetvalue(r, i, 12));
        m->event_ts_ms = strtoll(PQgetvalue(r, i, 13), NULL, 10);
        m->created_ms = strtoll(PQgetvalue(r, i, 14), NULL, 10);
        log_info(&d->log, "notification %" PRId64 " (alert %" PRId64 ") was not confirmed sent "
                          "before the restart: sending again",
                 m->id, m->alert_id);
        notifier_send(d->notifier, m, attempts);
    }
    PQclear(r);
    return 0;
}
