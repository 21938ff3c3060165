/* rule.c - the built-in event rules and their evaluation. */
#include "rule.h"

#include <stdlib.h>
#include <string.h>

struct builtin {
    const char *name, *title;
    const char *events[4];
    enum rule_severity sev;
    const char *chain;
    const char *sms;
};

/* DESIGN.md "Default rules": an SOS press, a fall, or a smoke/gas/water
 * alarm is critical and starts the emergency chain at once. */
static const struct builtin builtins[] = {
    {"sos", "SOS紧急呼叫", {"sos"}, RULE_SEV_CRITICAL, "emergency",
     "【安心】紧急：{elder.name}（{elder.village}）{time} 按下了呼叫按钮。"
     "请立即联系或上门查看。回复{ack_code}确认由您处理。"},
    {"fall", "跌倒报警", {"fall"}, RULE_SEV_CRITICAL, "emergency",
     "【安心】紧急：{elder.name}（{elder.village}）{time} 可能跌倒。"
     "请立即联系或上门查看。回复{ack_code}确认由您处理。"},
    {"hazard", "烟雾/燃气/漏水报警", {"smoke", "gas", "water_leak"}, RULE_SEV_CRITICAL, "emergency",
     "【安心】紧急：{elder.name}（{elder.village}）家中{time} 发出{event.title}报警。"
     "请立即联系或上门查看。回复{ack_code}确认由您处理。"},
};

struct rule_set *rule_set_builtin(void)
{
    size_t n = sizeof builtins / sizeof builtins[0];
    struct rule_set *rs = calloc(1, sizeof *rs);
    if (!rs)
        return NULL;
    rs->rules = calloc(n, sizeof *rs->rules);
    if (!rs->rules) {
        free(rs);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        struct rule *r = &rs->rules[i];
        const struct builtin *b = &builtins[i];
        strncpy(r->name, b->name, RULE_NAME_MAX);
        strncpy(r->title, b->title, sizeof r->title - 1);
        for (size_t k = 0; k < 4 && b->events[k]; k++)
            strncpy(r->events[r->n_events++], b->events[k], TLM_MAX_NAME);
        r->severity = b->sev;
        strncpy(r->chain, b->chain, RULE_NAME_MAX);
        strncpy(r->sms_template, b->sms, sizeof r->sms_template - 1);
    }
    rs->n = n;
    return rs;
}

void rule_set_free(struct rule_set *rs)
{
    if (!rs)
        return;
    free(rs->rules);
    free(rs);
}

const struct rule *rule_find(const struct rule_set *rs, const char *name)
{
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->rules[i].name, name) == 0)
            return &rs->rules[i];
    return NULL;
}

size_t rule_match(const struct rule_set *rs, const struct tlm_msg *m,
                  struct rule_hit *out, size_t max)
{
    size_t n = 0;
    if (m->n_events == 0)
        return 0;
    for (size_t i = 0; i < rs->n && n < max; i++) {
        const struct rule *r = &rs->rules[i];
        for (size_t k = 0; k < r->n_events; k++) {
            if (tlm_has_event(m, r->events[k])) {
                for (size_t e = 0; e < m->n_events; e++)
                    if (strcmp(m->events[e], r->events[k]) == 0)
                        out[n].event = m->events[e];
                out[n++].rule = r;
                break;
            }
        }
    }
    return n;
}

const char *rule_severity_name(enum rule_severity s)
{
    switch (s) {
    case RULE_SEV_LOW: return "low";
    case RULE_SEV_MEDIUM: return "medium";
    case RULE_SEV_HIGH: return "high";
    case RULE_SEV_CRITICAL: return "critical";
    }
    return "unknown";
}
