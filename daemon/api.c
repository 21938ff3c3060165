/* api.c - the daemon's HTTP routes: health for systemd and load balancers,
 * and Prometheus metrics. The alert API and the console build on this. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anxind.h"

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
}

static char *json_error(const char *error, const char *detail)
{
    char *s = NULL;
    if (asprintf(&s, "{\"error\":\"%s\",\"detail\":\"%s\"}\n", error, detail) < 0)
        return NULL;
    return s;
}

void api_handle(void *arg, const struct httpd_request *req, struct httpd_reply *rep)
{
    struct anxind *d = arg;
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;

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
