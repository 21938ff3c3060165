/* rule.c - rule sets: creation, lookup, freeing, diagnostics, and the
 * built-in event rules used before rule files are loaded. */
#include "rule.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

/* The metrics of the telemetry contract (DESIGN.md), known without a
 * declaration; units are what operators may write after numbers. */
static const struct rule_metric contract_metrics[] = {
    {"hr.bpm", RULE_METRIC_NUMBER, "bpm"},
    {"spo2.pct", RULE_METRIC_NUMBER, "%"},
    {"bp.sys", RULE_METRIC_NUMBER, "mmHg"},
    {"bp.dia", RULE_METRIC_NUMBER, "mmHg"},
    {"temp.c", RULE_METRIC_NUMBER, "C"},
    {"water.flow_l", RULE_METRIC_NUMBER, "L"},
    {"water.total_l", RULE_METRIC_NUMBER, "L"},
    {"power.w", RULE_METRIC_NUMBER, "W"},
    {"power.kwh", RULE_METRIC_NUMBER, "kWh"},
    {"door.open", RULE_METRIC_BOOL, ""},
    {"motion.active", RULE_METRIC_BOOL, ""},
    {"room.bathroom", RULE_METRIC_BOOL, ""},
    {"battery.pct", RULE_METRIC_NUMBER, "%"},
    {"gps.lat", RULE_METRIC_NUMBER, ""},
    {"gps.lon", RULE_METRIC_NUMBER, ""},
};

struct rule_set *rule_set_new(void)
{
    struct rule_set *rs = calloc(1, sizeof *rs);
    size_t n = sizeof contract_metrics / sizeof contract_metrics[0];
    if (!rs)
        return NULL;
    rs->metrics = malloc(n * sizeof *rs->metrics);
    if (!rs->metrics) {
        free(rs);
        return NULL;
    }
    memcpy(rs->metrics, contract_metrics, sizeof contract_metrics);
    rs->n_metrics = rs->cap_metrics = n;
    return rs;
}

static void free_cond(struct rule_cond *c)
{
    if (!c)
        return;
    free_cond(c->a);
    free_cond(c->b);
    free(c);
}

void rule_set_free(struct rule_set *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n_rules; i++) {
        struct rule *r = &rs->rules[i];
        free_cond(r->when);
        free_cond(r->clear);
        for (size_t k = 0; k < r->scope.n_townships; k++)
            free(r->scope.townships[k]);
        for (size_t k = 0; k < r->scope.n_villages; k++)
            free(r->scope.villages[k]);
    }
    free(rs->rules);
    for (size_t i = 0; i < rs->n_chains; i++)
        free(rs->chains[i].steps);
    free(rs->chains);
    free(rs->metrics);
    free(rs->kinds);
    free(rs);
}

const struct rule *rule_find(const struct rule_set *rs, const char *name)
{
    for (size_t i = 0; i < rs->n_rules; i++)
        if (strcmp(rs->rules[i].name, name) == 0)
            return &rs->rules[i];
    return NULL;
}

const struct rule_chain *rule_find_chain(const struct rule_set *rs, const char *name)
{
    for (size_t i = 0; i < rs->n_chains; i++)
        if (strcmp(rs->chains[i].name, name) == 0)
            return &rs->chains[i];
    return NULL;
}

const struct rule_metric *rule_find_metric(const struct rule_set *rs, const char *name)
{
    for (size_t i = 0; i < rs->n_metrics; i++)
        if (strcmp(rs->metrics[i].name, name) == 0)
            return &rs->metrics[i];
    return NULL;
}

static const char *const severity_names[] = {"low", "medium", "high", "critical"};

const char *rule_severity_name(enum rule_severity s)
{
    return (unsigned)s < 4 ? severity_names[s] : "unknown";
}

int rule_severity_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, severity_names[i]) == 0)
            return i;
    return -1;
}

void rule_diags_free(struct rule_diags *d)
{
    free(d->items);
    d->items = NULL;
    d->n = d->cap = d->n_errors = 0;
}

void rule_diag_format(const struct rule_diag *d, char *buf, size_t len)
{
    const char *kind = d->warning ? "warning" : "error";
    if (d->line <= 0)
        snprintf(buf, len, "%s: %s: %s", d->file, kind, d->msg);
    else if (d->col <= 0)
        snprintf(buf, len, "%s:%d: %s: %s", d->file, d->line, kind, d->msg);
    else
        snprintf(buf, len, "%s:%d:%d: %s: %s", d->file, d->line, d->col, kind, d->msg);
}

/* ---- the built-in event rules ------------------------------------------ */

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
    struct rule_set *rs = rule_set_new();
    if (!rs)
        return NULL;
    rs->rules = calloc(n, sizeof *rs->rules);
    if (!rs->rules) {
        rule_set_free(rs);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        struct rule *r = &rs->rules[i];
        const struct builtin *b = &builtins[i];
        snprintf(r->name, sizeof r->name, "%s", b->name);
        snprintf(r->title, sizeof r->title, "%s", b->title);
        for (size_t k = 0; k < 4 && b->events[k]; k++)
            snprintf(r->events[r->n_events++], TLM_MAX_NAME + 1, "%s", b->events[k]);
        r->severity = b->sev;
        snprintf(r->chain, sizeof r->chain, "%s", b->chain);
        snprintf(r->sms_template, sizeof r->sms_template, "%s", b->sms);
    }
    rs->n_rules = rs->cap_rules = n;
    return rs;
}

size_t rule_match(const struct rule_set *rs, const struct tlm_msg *m,
                  struct rule_hit *out, size_t max)
{
    size_t n = 0;
    if (m->n_events == 0)
        return 0;
    for (size_t i = 0; i < rs->n_rules && n < max; i++) {
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
