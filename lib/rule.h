/* rule.h - alert rules as operators write them (conf/rules.d, files named *.rules): the
 * parsed form of the rule language, its diagnostics, and small helpers.
 *
 * The language is described for operators in docs/rules.md. A rule says
 * when an alert opens (`when`), when it clears (`clear when`), for whom
 * (`for ...`, `during`, `on`), how severe it is, which escalation chain runs
 * and what the message says. Chains, metric and device-kind declarations
 * live in the same files.
 *
 * rule_parse (lib/rule_parse.c) turns text into this tree; rule_check
 * (lib/rule_check.c) checks the whole set across files; the engine
 * (lib/engine.h) compiles the checked set into its runtime form. Pure: no
 * I/O; text is passed in. */
#ifndef ANXIN_RULE_H
#define ANXIN_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "telemetry.h"

#define RULE_NAME_MAX 32
#define RULE_MAX_EVENTS 8
#define RULE_MAX_LIST 16            /* items in one scope list, suppressed-by, ... */
#define RULE_MAX_RULES 100000       /* rules in one set (also chains, metrics, kinds) */
#define RULE_MAX_COND_PARTS 256     /* conditions joined in one `when` or `clear when` */
#define RULE_MAX_DEPTH 32           /* nested parentheses in a condition */

/* A place in a rule file, for diagnostics: 1-based line and column (the
 * column counts characters, not bytes); line 0 = not written. */
struct rule_pos {
    int line, col;
};

enum rule_severity { RULE_SEV_LOW, RULE_SEV_MEDIUM, RULE_SEV_HIGH, RULE_SEV_CRITICAL };

/* ---- conditions ------------------------------------------------------- */

enum rule_cmp { RULE_GT, RULE_GE, RULE_LT, RULE_LE, RULE_EQ, RULE_NE };

enum rule_agg { RULE_AGG_NONE, RULE_AGG_SUM, RULE_AGG_MIN, RULE_AGG_MAX, RULE_AGG_AVG,
                RULE_AGG_COUNT };

/* A number in a condition: a literal, or a care-plan parameter with a
 * default ("care_plan.hr.max default 130"). */
struct rule_value {
    double number;                      /* the literal, or the default */
    char param[TLM_MAX_NAME + 1];       /* "" for a literal, else "hr.max" */
    char unit[9];                       /* as written ("L", "bpm", "%"), "" if none */
};

enum rule_cond_kind {
    RULE_COND_EVENT,        /* event sos, fall */
    RULE_COND_THRESHOLD,    /* hr.bpm > 130 [for 2m]; room.bathroom is true for 4h */
    RULE_COND_WINDOW,       /* sum(water.flow_l) over 12h < 10 L */
    RULE_COND_ABSENCE,      /* no message for 3 x heartbeat | no message for 2h */
    RULE_COND_AND,
    RULE_COND_OR,
};

struct rule_cond {
    enum rule_cond_kind kind;
    int line, col;                      /* where it starts, for diagnostics */

    /* EVENT */
    char events[RULE_MAX_EVENTS][TLM_MAX_NAME + 1];
    size_t n_events;

    /* THRESHOLD and WINDOW: [agg(]metric[)] [over window] cmp value [for for_ms] */
    char metric[TLM_MAX_NAME + 1];
    enum rule_agg agg;                  /* NONE for THRESHOLD */
    int64_t window_ms;                  /* WINDOW only */
    enum rule_cmp cmp;
    struct rule_value value;            /* `is true` / `is false` = EQ 1 / EQ 0 */
    bool is_bool_test;                  /* written as `is true` / `is false` */
    int64_t for_ms;                     /* sustained this long; 0 = at once */

    /* ABSENCE: one of the two is set */
    int64_t absence_ms;
    double heartbeat_factor;            /* "3 x heartbeat" -> 3 */

    /* AND / OR: both children owned */
    struct rule_cond *a, *b;

    /* Where the parts were written, for rule_check's diagnostics. */
    struct rule_pos metric_pos;         /* the metric name */
    struct rule_pos value_pos;          /* the number or care_plan.X */
    struct rule_pos dur_pos;            /* the `for`, `over` or `no message for` duration */
};

/* ---- who and when a rule applies -------------------------------------- */

struct rule_scope {
    uint16_t categories;                /* REG_CAT_* bits (registry.h); 0 = any elder */
    uint8_t risks;                      /* 1 << REG_RISK_*; 0 = any */
    char *townships[RULE_MAX_LIST];     /* owned strings; n = 0 means any */
    size_t n_townships;
    char *villages[RULE_MAX_LIST];
    size_t n_villages;
    char device_kinds[RULE_MAX_LIST][RULE_NAME_MAX + 1];
    size_t n_device_kinds;
    bool has_time_of_day;               /* during HH:MM-HH:MM (local; may wrap midnight) */
    int tod_from_min, tod_to_min;       /* minutes from local midnight, to exclusive */
    uint8_t days;                       /* bit 0 = Monday .. bit 6 = Sunday; 0 = every day */
    uint8_t given;                      /* 1 << RULE_FOR_*: the `for` lines written */
};

/* The kinds of `for` line, indexes into rule.for_pos and bits of scope.given. */
enum rule_for { RULE_FOR_ELDERS, RULE_FOR_RISK, RULE_FOR_TOWNSHIP, RULE_FOR_VILLAGE,
                RULE_FOR_DEVICES, RULE_FOR_COUNT };

struct rule {
    char name[RULE_NAME_MAX + 1];
    char title[64];                     /* plain words for people: "SOS紧急呼叫" */
    char file[128];                     /* where it was defined, for diagnostics */
    int line;
    struct rule_cond *when;             /* owned */
    struct rule_cond *clear;            /* owned; NULL = the default (see docs/rules.md) */
    struct rule_scope scope;
    enum rule_severity severity;
    char chain[RULE_NAME_MAX + 1];
    char sms_template[512];             /* message "..." (tmpl.h fields); "" = default */
    char suppressed_by[RULE_MAX_LIST][RULE_NAME_MAX + 1];
    size_t n_suppressed_by;

    /* Filled by rule_check for the engine: */
    char events[RULE_MAX_EVENTS][TLM_MAX_NAME + 1];   /* events the rule listens to */
    size_t n_events;

    /* Set by rule_parse, for rule_check's diagnostics: */
    int col;                            /* of the name; `line` is its line */
    bool incomplete;                    /* a statement had a syntax error (already
                                           reported): rule_check does not report what is
                                           missing, so one mistake gives one error */
    struct rule_pos severity_pos, chain_pos, message_pos, during_pos, days_pos;
    struct rule_pos for_pos[RULE_FOR_COUNT];
    struct rule_pos suppressed_pos[RULE_MAX_LIST];
};

/* ---- chains (escalation, run by the escalation engine) -------------- */

enum rule_target { RULE_TARGET_PRIORITY, RULE_TARGET_ROLE, RULE_TARGET_CONSOLE,
                   RULE_TARGET_MAINTAINER };

#define RULE_CH_SMS 1u
#define RULE_CH_VOICE 2u

struct rule_step {
    int64_t at_ms;                      /* from the alert's start */
    enum rule_target target;
    int priority;                       /* TARGET_PRIORITY */
    int role;                           /* TARGET_ROLE: enum reg_role */
    uint8_t channels;                   /* RULE_CH_* bits; 0 = the contact's own */
    int line;
    int col;                            /* of the target (`priority`, the role, ...) */
};

struct rule_chain {
    char name[RULE_NAME_MAX + 1];
    char file[128];
    int line;
    struct rule_step *steps;            /* owned, in file order */
    size_t n_steps;
    int64_t repeat_ms;                  /* `repeat every 5m until acknowledged`; 0 = none */
    int64_t ack_timeout_ms;             /* `ack timeout 30m`; 0 = the default (30m) */
    int col;                            /* of the name */
};

/* ---- declarations ------------------------------------------------------ */

enum rule_metric_type { RULE_METRIC_NUMBER, RULE_METRIC_BOOL };

struct rule_metric {
    char name[TLM_MAX_NAME + 1];
    enum rule_metric_type type;
    char unit[9];                       /* "" = no unit */
};

struct rule_device_kind {
    char name[RULE_NAME_MAX + 1];
    int64_t heartbeat_ms;               /* typical; for the window-vs-heartbeat warning */
    char reports[RULE_MAX_LIST][TLM_MAX_NAME + 1];    /* `reports a, b`: its metrics */
    size_t n_reports;
    char file[128];                     /* where it was declared */
    struct rule_pos report_pos[RULE_MAX_LIST];
};

struct rule_set {
    struct rule *rules;                 /* owned arrays, grown by rule_parse */
    size_t n_rules, cap_rules;
    struct rule_chain *chains;
    size_t n_chains, cap_chains;
    struct rule_metric *metrics;        /* the built-in metrics of the contract, then declared */
    size_t n_metrics, cap_metrics;
    struct rule_device_kind *kinds;
    size_t n_kinds, cap_kinds;
};

/* ---- diagnostics -------------------------------------------------------- */

struct rule_diag {
    char file[128];
    int line, col;                      /* 1-based; 0 = whole file */
    bool warning;
    char msg[240];
};

struct rule_diags {
    struct rule_diag *items;            /* owned; rule_diags_free */
    size_t n, cap;
    size_t n_errors;
};

void rule_diags_free(struct rule_diags *d);

/* "file:line:col: error: msg" */
void rule_diag_format(const struct rule_diag *d, char *buf, size_t len);

/* Appends a diagnostic (msg printf-style, cut on a UTF-8 character boundary
 * to fit) and counts it in n_errors unless it is a warning. Returns 0 or
 * ANX_ENOMEM. Defined in rule_parse.c; rule_check.c uses it too. */
int rule_diag_add(struct rule_diags *d, const char *file, int line, int col, bool warning,
                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Edit distance (insertions, deletions, substitutions and swaps of
 * neighbours) between a and b, or max + 1 if it is over max; for "did you
 * mean" suggestions. Defined in rule_parse.c. */
int rule_edit_distance(const char *a, const char *b, int max);

/* ---- API ---------------------------------------------------------------- */

/* A new empty set that knows the contract's metrics (telemetry.h). NULL on
 * allocation failure. Free with rule_set_free. */
struct rule_set *rule_set_new(void);
void rule_set_free(struct rule_set *rs);

/* Parses one file's text (len bytes, need not be NUL-terminated) and adds
 * its rules, chains and declarations to rs. Every syntax problem goes to d
 * with file, line and column; parsing continues after an error where it
 * can. Returns 0 if this file had no errors, ANX_EPARSE otherwise, ANX_ENOMEM. */
int rule_parse(struct rule_set *rs, const char *file, const char *text, size_t len,
               struct rule_diags *d);

/* Checks the whole set once every file is parsed: unknown metrics, chains
 * and rules, type and unit mismatches, unreachable rules, duplicate names;
 * warns on suspicious things. Fills rule.events. Returns 0 if no errors. */
int rule_check(struct rule_set *rs, struct rule_diags *d);

const struct rule *rule_find(const struct rule_set *rs, const char *name);
const struct rule_chain *rule_find_chain(const struct rule_set *rs, const char *name);
const struct rule_metric *rule_find_metric(const struct rule_set *rs, const char *name);

const char *rule_severity_name(enum rule_severity s);
int rule_severity_parse(const char *s);     /* -1 if unknown */

/* ---- transition: the built-in event rules ------------------------------- */

/* The built-in rules sos, fall, hazard; used until rule files are loaded. */
struct rule_set *rule_set_builtin(void);

struct rule_hit {
    const struct rule *rule;
    const char *event;                  /* the event that fired it (points into the message) */
};

/* Event rules only: the rules a message's events fire. */
size_t rule_match(const struct rule_set *rs, const struct tlm_msg *m,
                  struct rule_hit *out, size_t max);

#endif
