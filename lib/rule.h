/* rule.h - alert rules: which messages open an alert, how severe it is, which
 * escalation chain runs and what the message says.
 *
 * This first version knows event rules only (an event such as `sos` in a
 * message fires the rule) and ships them built in; the rule-file language,
 * thresholds, windows and absence rules arrive with the rule engine. The
 * shape of rule_match() is what the engine keeps: one message in, the rules
 * it fires out. */
#ifndef ANXIN_RULE_H
#define ANXIN_RULE_H

#include <stddef.h>

#include "telemetry.h"

#define RULE_NAME_MAX 32
#define RULE_MAX_EVENTS 8

enum rule_severity { RULE_SEV_LOW, RULE_SEV_MEDIUM, RULE_SEV_HIGH, RULE_SEV_CRITICAL };

struct rule {
    char name[RULE_NAME_MAX + 1];
    char title[64];                     /* plain words for people: "SOS 紧急呼叫" */
    char events[RULE_MAX_EVENTS][TLM_MAX_NAME + 1];
    size_t n_events;
    enum rule_severity severity;
    char chain[RULE_NAME_MAX + 1];
    char sms_template[512];             /* tmpl.h fields */
};

struct rule_set {
    struct rule *rules;                 /* owned */
    size_t n;
};

/* The built-in rules: sos, fall, hazard (DESIGN.md, default rules).
 * Returns NULL on allocation failure; free with rule_set_free. */
struct rule_set *rule_set_builtin(void);
void rule_set_free(struct rule_set *rs);

const struct rule *rule_find(const struct rule_set *rs, const char *name);

struct rule_hit {
    const struct rule *rule;
    const char *event;                  /* the event that fired it (points into the message) */
};

/* Evaluates one message; writes at most max hits, one per rule, and returns
 * how many. */
size_t rule_match(const struct rule_set *rs, const struct tlm_msg *m,
                  struct rule_hit *out, size_t max);

const char *rule_severity_name(enum rule_severity s);

#endif
