/* alert.h - the live alerts: one per elder and rule (dedup), with the ack
 * code a contact replies with.
 *
 * The table decides what a rule hit means: a new alert, or a repeat counted
 * on the one already live. Ids are given by the caller (the daemon hands
 * them out in blocks reserved in PostgreSQL). Pure: time is passed in. */
#ifndef ANXIN_ALERT_H
#define ANXIN_ALERT_H

#include <stdbool.h>
#include <stdint.h>

#include "rule.h"
#include "strmap.h"
#include "telemetry.h"

enum alert_state { ALERT_OPEN, ALERT_ACKNOWLEDGED, ALERT_RESOLVED, ALERT_CLEARED, ALERT_EXPIRED };

#define ALERT_ACK_CODE_LEN 4

struct alert {
    int64_t id;
    char elder_id[TLM_MAX_ID + 1];
    char rule[RULE_NAME_MAX + 1];
    char device_id[TLM_MAX_ID + 1];
    char chain[RULE_NAME_MAX + 1];
    enum rule_severity severity;
    enum alert_state state;
    char ack_code[ALERT_ACK_CODE_LEN + 1];
    int64_t event_ts_ms;        /* device ts of the opening message, else its receive time */
    int64_t opened_ms;
    int64_t last_fired_ms;
    int32_t fire_count;
    uint64_t last_jseq;         /* newest journal record counted on it (replay skips older) */
    int64_t group_leader;       /* the alert it was grouped with (paged by its chain), 0 none */
    /* keys for the maps, kept inside the alert so the maps need not copy */
    char key_dedup[TLM_MAX_ID + RULE_NAME_MAX + 2];
    char key_id[24];
};

struct alert_table {
    struct strmap by_dedup;     /* "elder\x1frule" -> alert */
    struct strmap by_id;        /* decimal id -> alert */
    struct strmap by_code;      /* ack code -> alert */
};

/* Zero-initialised table is empty. Frees every alert. */
void alert_table_clear(struct alert_table *t);

/* The live (open or acknowledged) alert for this elder and rule, or NULL. */
struct alert *alert_find_live(const struct alert_table *t, const char *elder_id, const char *rule);
struct alert *alert_find_id(const struct alert_table *t, int64_t id);
struct alert *alert_find_code(const struct alert_table *t, const char *code);

struct alert_open_args {
    int64_t id;
    const char *elder_id, *device_id;
    const char *rule;           /* rule name */
    enum rule_severity severity;
    const char *chain;
    int64_t event_ts_ms;
    int64_t now_ms;
    const char *ack_code;       /* restore a known code (loading from the database); NULL = pick */
    uint32_t code_seed;         /* randomness for picking a code (codes must not be guessable
                                 * from the alert id); 0 = derive from the id (tests) */
    enum alert_state state;     /* ALERT_OPEN unless restoring */
    int32_t fire_count;         /* 0 = 1 */
    uint64_t jseq;              /* journal record that opened it (or last counted) */
};

/* Adds a live alert. Returns 0 and *out (owned by the table), ANX_EEXIST if
 * one is already live for the elder and rule or the id is taken, or
 * ANX_ENOMEM. The ack code is unique among live alerts. */
int alert_open(struct alert_table *t, const struct alert_open_args *a, struct alert **out);

/* Counts a repeat of the rule on a live alert. */
void alert_repeat(struct alert *a, int64_t now_ms);

/* Drops an alert that is no longer live (resolved, cleared, expired). */
void alert_forget(struct alert_table *t, struct alert *a);

const char *alert_state_name(enum alert_state s);

/* What a rule engine event means for the alerts (one rule for the daemon,
 * test-rules and replay alike). */
enum alert_action {
    ALERT_ACT_NONE,     /* a clear for a rule with no live alert */
    ALERT_ACT_OPEN,     /* a firing with no live alert for the elder and rule */
    ALERT_ACT_REPEAT,   /* a firing while one is live: counted on it */
    ALERT_ACT_CLEAR,    /* the condition went away: the live alert is cleared */
};

/* Decides; *live receives the live alert for the elder and rule (or NULL). */
enum alert_action alert_decide(const struct alert_table *t, const char *elder_id,
                               const char *rule, bool fire, struct alert **live);

#endif
