/* sim.h - rules run on a virtual clock: a registry, a rule set, the engine
 * and the alert table, without network, database or wall clock. Both
 * `anxinctl test-rules` and `anxinctl replay` are built on it, and it makes
 * the same decisions as the daemon (engine events through alert_decide).
 *
 * Time only moves forward: sim_advance runs the engine's wake-ups up to a
 * time; sim_message first advances to the message's receive time. */
#ifndef ANXIN_SIM_H
#define ANXIN_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "engine.h"
#include "registry.h"
#include "rule.h"
#include "telemetry.h"

struct sim;

/* What happened to an alert, reported to the caller as it happens. */
struct sim_alert_event {
    enum alert_action action;   /* OPEN, REPEAT or CLEAR */
    const struct alert *alert;  /* valid during the call */
    const struct eng_event *ev; /* why (rule, device, elder, value, explanation) */
};

typedef void (*sim_alert_fn)(void *arg, const struct sim_alert_event *e);

/* reg and rs are borrowed and must outlive the simulation; start_ms is the
 * virtual time it starts at (devices count as seen then). NULL on ENOMEM. */
struct sim *sim_new(struct registry *reg, const struct rule_set *rs, int utc_offset_min,
                    int64_t start_ms, sim_alert_fn fn, void *arg);
void sim_free(struct sim *s);

/* Runs everything due up to t (t earlier than the clock is ignored). */
void sim_advance(struct sim *s, int64_t t);

/* Decodes and evaluates one message received at recv_ms. Returns the
 * decode result (TLM_OK, or why it was rejected); unknown devices and
 * elders without consent are counted and skipped. */
enum tlm_reason sim_message(struct sim *s, const char *topic, size_t topic_len,
                            const char *payload, size_t payload_len, int64_t recv_ms);

/* The same for a message already decoded (test files build them). */
void sim_decoded(struct sim *s, const struct tlm_msg *m, int64_t recv_ms);

int64_t sim_now(const struct sim *s);
const struct alert_table *sim_alerts(const struct sim *s);

/* Per elder and rule: how often it fired (opens + repeats) and cleared. */
void sim_counts(const struct sim *s, const char *elder_id, const char *rule, int *fired,
                int *cleared);

struct sim_stats {
    uint64_t messages, rejected, unknown_device, not_monitored;
    uint64_t opened, repeated, cleared;
};
void sim_get_stats(const struct sim *s, struct sim_stats *st);

#endif
