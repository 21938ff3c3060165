/* ingest.c - one message through the alarm path: decode, registry lookup,
 * duplicate check, rules, alert dedup, first notifications. Runs on the loop
 * and never waits for the database: writes are queued in store.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anxind.h"
#include "mask.h"

static void note_bad(struct anxind *d, enum tlm_reason r, const char *topic, const char *detail,
                     int64_t now)
{
    uint32_t suppressed = 0;
    d->stats.bad[r]++;
    if (!log_limit_take(&d->bad_msg_limit, now, 60000, 20, &suppressed))
        return;
    /* The topic names a device, not a person; the detail never quotes the
     * payload (telemetry.h), so no reading of a named person is logged. */
    log_warn(&d->log, "telemetry rejected (%s): %s; topic %.*s%s", tlm_reason_name(r),
             detail && *detail ? detail : "-", 120, topic,
             suppressed ? " [similar lines suppressed]" : "");
}

static void note_dropped(struct anxind *d, const char *what, const char *device, int64_t now)
{
    uint32_t suppressed = 0;
    if (log_limit_take(&d->bad_msg_limit, now, 60000, 20, &suppressed))
        log_info(&d->log, "telemetry dropped: %s (device %s)%s", what, device,
                 suppressed ? " [similar lines suppressed]" : "");
}

/* Alerts of one elder opened within this of each other are one incident. */
#define GROUP_WINDOW_MS (2 * 60 * 1000)

/* The elder's open alert that a new one joins, or NULL. Only emergencies
 * group (an SOS, a fall and the smoke alarm of one fire are one incident):
 * they never clear by themselves, so the leader's chain pages until a person
 * takes the incident. */
static const struct alert *group_leader(struct anxind *d, const struct alert *a,
                                        const struct reg_elder *e)
{
    if (a->severity != RULE_SEV_CRITICAL)
        return NULL;
    const struct alert *best = NULL;
    size_t it = 0;
    void *v;
    while (strmap_next(&d->alerts.by_id, &it, NULL, &v)) {
        const struct alert *o = v;
        if (o == a || o->state != ALERT_OPEN || o->group_leader ||
            strcmp(o->elder_id, e->id) != 0 || a->opened_ms - o->opened_ms > GROUP_WINDOW_MS ||
            o->severity != RULE_SEV_CRITICAL)
            continue;
        if (!best || o->opened_ms < best->opened_ms)
            best = o;
    }
    return best;
}

static void open_alert(struct anxind *d, const struct eng_event *ev, int64_t event_ts,
                       uint64_t jseq)
{
    const struct rule *r = ev->rule;
    const struct reg_elder *e = ev->elder;
    const struct reg_device *dev = ev->device;
    struct alert_open_args args = {
        .id = store_take_id(d, &d->alert_ids),
        .elder_id = e->id,
        .device_id = dev->id,
        .rule = r->name,
        .severity = r->severity,
        /* The rule's chain: a care plan's chain must not turn an SOS into a
         * welfare check (see docs/rules.md, "Chains"). */
        .chain = r->chain,
        .event_ts_ms = event_ts,
        .now_ms = ev->at_ms,
        .state = ALERT_OPEN,
        .jseq = jseq,
        .code_seed = anxind_random(d),
    };
    struct alert *a;
    if (alert_open(&d->alerts, &args, &a) != 0) {
        log_error(&d->log, "alert: cannot open %s for elder %s: out of memory", r->name, e->id);
        return;
    }
    d->stats.alerts_opened++;

    char value[32] = "";
    if (ev->has_value)
        snprintf(value, sizeof value, "%g", ev->value);
    const struct silence *sil = escalate_silenced(d, e, dev->id, r->name, ev->at_ms);
    if (sil) {
        /* Recorded, never paged; not live, so the next firing is recorded too. */
        store_alert_open(d, a, ev, NULL, sil, jseq);
        log_info(&d->log, "alert %" PRId64 " silenced: rule %s for elder %s, device %s "
                          "(silence %" PRId64 ")", a->id, r->name, e->id, dev->id, sil->id);
        d->stats.alerts_silenced++;
        alert_forget(&d->alerts, a);
        return;
    }
    /* Another emergency of the same elder opened moments ago and paging:
     * one incident, not a storm. This one is shown with it and paged by its
     * chain; acknowledging or resolving the first takes both. */
    const struct alert *leader = group_leader(d, a, e);
    if (leader) {
        store_alert_grouped(d, a, ev, leader, jseq);
        log_info(&d->log, "alert %" PRId64 " opened: rule %s for elder %s, device %s; grouped "
                          "with alert %" PRId64 " (paged by its chain)",
                 a->id, r->name, e->id, dev->id, leader->id);
        return;
    }
    struct esc_plan plan;
    escalate_plan_open(d, a, e, r, dev->kind, ev->event, value, ev->at_ms, &plan);
    store_alert_open(d, a, ev, &plan, NULL, jseq);
    /* The explanation may hold a reading: it goes to the database (the
     * alert's record), not to the log. */
    log_info(&d->log, "alert %" PRId64 " opened: rule %s (%s) for elder %s, device %s; chain "
                      "%s: %zu notification(s) now%s",
             a->id, r->name, rule_severity_name(r->severity), e->id, dev->id, a->chain, plan.n,
             plan.n_console ? ", shown on the console" : "");
    if (plan.n == 0 && plan.n_console == 0)
        log_warn(&d->log, "alert %" PRId64 ": nobody was notified at once (elder %s has no "
                          "contact the chain's first step names)", a->id, e->id);
    escalate_send(d, &plan);
}

/* Engine events (rules firing and clearing) become alerts. */
static void on_rule_event(void *arg, const struct eng_event *ev)
{
    struct anxind *d = arg;
    uint64_t jseq = d->cur_jseq;
    struct alert *a;
    enum alert_action act = alert_decide(&d->alerts, ev->elder->id, ev->rule->name,
                                         ev->kind == ENG_FIRE, &a);
    if (ev->kind == ENG_FIRE)
        d->stats.rule_hits++;
    switch (act) {
    case ALERT_ACT_OPEN:
        open_alert(d, ev, d->cur_event_ts ? d->cur_event_ts : ev->at_ms, jseq);
        break;
    case ALERT_ACT_REPEAT:
        /* Replaying a message already counted on this alert changes nothing. */
        if (d->cur_replay && jseq && jseq <= a->last_jseq)
            return;
        alert_repeat(a, ev->at_ms);
        if (jseq)
            a->last_jseq = jseq;
        d->stats.alerts_repeated++;
        store_alert_repeat(d, a, ev->device->id, ev->event, ev->at_ms, jseq);
        log_info(&d->log, "alert %" PRId64 ": %s again for elder %s (device %s), %d times now",
                 a->id, ev->rule->name, ev->elder->id, ev->device->id, a->fire_count);
        break;
    case ALERT_ACT_CLEAR:
        d->stats.alerts_cleared++;
        store_alert_clear(d, a, ev, jseq);
        log_info(&d->log, "alert %" PRId64 " cleared: rule %s for elder %s (device %s), the "
                          "condition went away",
                 a->id, ev->rule->name, ev->elder->id, ev->device->id);
        alert_forget(&d->alerts, a);
        break;
    case ALERT_ACT_NONE:
        break;
    }
}

/* Lets the engine catch up with the clock: rules that fire on time without
 * a message (absence, "for 4h", windows emptying). */
void ingest_advance(struct anxind *d, int64_t now)
{
    d->cur_jseq = 0;
    d->cur_replay = false;
    d->cur_event_ts = 0;
    eng_advance(d->eng, &d->reg, now, on_rule_event, d);
}

static void process(struct anxind *d, uint64_t jseq, int64_t recv_ms, const char *topic,
                    size_t topic_len, const char *payload, size_t payload_len, bool replay,
                    bool alarm_lane)
{
    struct tlm_msg msg;
    char detail[160];
    enum tlm_reason r = tlm_decode(topic, topic_len, payload, payload_len, &msg, detail,
                                   sizeof detail);
    if (r != TLM_OK) {
        note_bad(d, r, topic, detail, recv_ms);
        return;
    }
    struct reg_device *dev = reg_find_device(&d->reg, msg.device_id);
    if (!dev) {
        d->stats.unknown_device++;
        note_dropped(d, "unknown device", msg.device_id, recv_ms);
        return;
    }
    if (msg.has_seq && !reg_seq_accept(dev, alarm_lane, msg.seq)) {
        d->stats.duplicate++;
        note_dropped(d, "repeated seq", msg.device_id, recv_ms);
        return;
    }
    if (recv_ms > dev->last_seen_ms) {
        dev->last_seen_ms = recv_ms;
        dev->seen_dirty = true;
    }
    d->stats.processed++;
    if (!dev->elder->consent) {
        /* Registered without consent: not monitored (the guidance asks
         * for consent), but the device stays known. */
        d->stats.not_monitored++;
        return;
    }
    /* Time order: what fell due before this message happens first. */
    ingest_advance(d, recv_ms);
    d->cur_jseq = jseq;
    d->cur_replay = replay;
    d->cur_event_ts = msg.has_ts ? msg.ts_ms : recv_ms;
    eng_on_message(d->eng, dev, &msg, recv_ms, on_rule_event, d);
    d->cur_jseq = 0;
    d->cur_replay = false;
    d->cur_event_ts = 0;
}

void ingest_message(struct anxind *d, const struct mqttb_msg *m)
{
    d->stats.received++;
    if (m->too_large)
        note_bad(d, TLM_TOO_LARGE, m->topic, "payload over 64 KiB", m->recv_ms);
    else
        process(d, m->jseq, m->recv_ms, m->topic, m->topic_len, m->payload, m->payload_len,
                false, m->alarm_lane);
    if (m->jseq)
        d->processed_jseq = m->jseq;
}

void ingest_replay(struct anxind *d, uint64_t jseq, int64_t recv_ms, const char *topic,
                   size_t topic_len, const char *payload, size_t payload_len)
{
    d->stats.journal_replayed++;
    /* The journal keeps the topic, not the lane; the alarm filters (which
     * match nothing the telemetry ones do) tell it again. */
    bool alarm_lane = false;
    for (size_t i = 0; i < d->cfg->mqtt_n_alarm_topics && !alarm_lane; i++)
        alarm_lane = tlm_filter_matches(d->cfg->mqtt_alarm_topics[i], topic, topic_len);
    process(d, jseq, recv_ms, topic, topic_len, payload, payload_len, true, alarm_lane);
    d->processed_jseq = jseq;
}

void ingest_on_attempt(void *arg, const struct notify_msg *n, const struct notifier_attempt *a)
{
    struct anxind *d = arg;
    char masked[MASK_PHONE_MAX];
    mask_phone(n->to, masked, sizeof masked);
    store_attempt(d, n, a);
    switch (a->outcome) {
    case NOTIFIER_SENT:
        d->stats.notifications_sent++;
        log_info(&d->log, "notification %" PRId64 " (alert %" PRId64 ") sent via %s to %s, "
                          "attempt %d",
                 n->id, n->alert_id, a->provider, masked, a->attempt);
        break;
    case NOTIFIER_RETRY:
        d->stats.notification_retries++;
        log_warn(&d->log, "notification %" PRId64 " (alert %" PRId64 ") to %s: %s at %s; "
                          "retrying in %lld ms",
                 n->id, n->alert_id, masked, a->error ? a->error : "failed", a->provider,
                 (long long)a->retry_in_ms);
        break;
    case NOTIFIER_FAILED:
        d->stats.notifications_failed++;
        log_error(&d->log, "notification %" PRId64 " (alert %" PRId64 ") to %s FAILED after "
                           "%d attempt(s): %s",
                  n->id, n->alert_id, masked, a->attempt, a->error ? a->error : "unknown");
        break;
    }
}
