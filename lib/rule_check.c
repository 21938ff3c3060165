/* rule_check.c - the checks that need the whole rule set (every file
 * parsed): names used twice or not defined, metrics and their types and
 * units, conditions that can never hold, message fields, and warnings about
 * windows too short for the devices' heartbeats. Also fills rule.events,
 * the engine's index of the events each rule listens to. */
#include "rule.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "msgtmpl.h"
#include "strmap.h"
#include "tmpl.h"

#define MAX_DIAGS 1000              /* from one check before giving up */
#define WEEK_MS (7 * 86400000LL)
#define MIN_HEARTBEATS 3

struct check {
    struct rule_set *rs;
    struct rule_diags *d;
    size_t n_diags;
    bool errors, nomem, stopped;
};

static void diag(struct check *ck, const char *file, struct rule_pos pos, bool warning,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void diag(struct check *ck, const char *file, struct rule_pos pos, bool warning,
                 const char *fmt, ...)
{
    char msg[240];
    va_list ap;
    if (!warning)
        ck->errors = true;
    if (ck->stopped)
        return;
    if (ck->n_diags >= MAX_DIAGS) {
        ck->stopped = true;
        if (rule_diag_add(ck->d, file, pos.line, pos.col, false,
                          "too many problems; stopped after %d", MAX_DIAGS))
            ck->nomem = true;
        ck->errors = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (rule_diag_add(ck->d, file, pos.line, pos.col, warning, "%s", msg)) {
        ck->nomem = ck->stopped = true;
        ck->errors = true;
    }
    ck->n_diags++;
}

static struct rule_pos at(int line, int col)
{
    return (struct rule_pos){line, col};
}

/* `; did you mean "x"?` or "" (into buf). */
static const char *did_you_mean(const char *best, char *buf, size_t len)
{
    if (!best)
        return "";
    snprintf(buf, len, "; did you mean \"%s\"?", best);
    return buf;
}

/* Keeps the closest of the candidates fed to it one by one. */
struct nearest {
    const char *word, *best;
    int dist;
};

static void consider(struct nearest *n, const char *cand)
{
    int d = rule_edit_distance(n->word, cand, 2);
    if (d > 0 && d < n->dist && (size_t)d < strlen(cand)) {
        n->dist = d;
        n->best = cand;
    }
}

static void fmt_dur(char *out, size_t len, int64_t ms)
{
    static const struct { int64_t ms; const char *u; } units[] = {
        {86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"},
    };
    size_t o = 0;
    if (ms <= 0) {
        snprintf(out, len, "0s");
        return;
    }
    out[0] = '\0';
    for (size_t i = 0; i < 5 && ms > 0; i++) {
        if (ms >= units[i].ms) {
            int k =
                snprintf(out + o, len - o, "%lld%s", (long long)(ms / units[i].ms), units[i].u);
            if (k < 0 || (size_t)k >= len - o)
                return;
            o += (size_t)k;
            ms %= units[i].ms;
        }
    }
}

/* ---- names -------------------------------------------------------------- */

static void check_names(struct check *ck, struct strmap *rules, struct strmap *chains)
{
    struct rule_set *rs = ck->rs;
    if (strmap_reserve(rules, rs->n_rules) || strmap_reserve(chains, rs->n_chains)) {
        ck->nomem = ck->errors = ck->stopped = true;
        return;
    }
    for (size_t i = 0; i < rs->n_rules; i++) {
        struct rule *r = &rs->rules[i];
        const struct rule *first = strmap_get(rules, r->name);
        if (first)
            diag(ck, r->file, at(r->line, r->col), false,
                 "rule \"%s\" is already defined at %s:%d", r->name, first->file, first->line);
        else
            strmap_put(rules, r->name, r, NULL);
    }
    for (size_t i = 0; i < rs->n_chains; i++) {
        struct rule_chain *c = &rs->chains[i];
        const struct rule_chain *first = strmap_get(chains, c->name);
        if (first)
            diag(ck, c->file, at(c->line, c->col), false,
                 "chain \"%s\" is already defined at %s:%d", c->name, first->file, first->line);
        else
            strmap_put(chains, c->name, c, NULL);
    }
}

static void unknown_metric(struct check *ck, const char *file, struct rule_pos pos, const char *m)
{
    struct nearest n = {m, NULL, 3};
    char b[80];
    for (size_t i = 0; i < ck->rs->n_metrics; i++)
        consider(&n, ck->rs->metrics[i].name);
    diag(ck, file, pos, false, "unknown metric \"%s\"%s", m, did_you_mean(n.best, b, sizeof b));
}

/* ---- chains ------------------------------------------------------------- */

static bool same_step(const struct rule_step *a, const struct rule_step *b)
{
    if (a->at_ms != b->at_ms || a->target != b->target || a->channels != b->channels)
        return false;
    if (a->target == RULE_TARGET_PRIORITY)
        return a->priority == b->priority;
    if (a->target == RULE_TARGET_ROLE)
        return a->role == b->role;
    return true;
}

static void check_chain(struct check *ck, const struct rule_chain *c)
{
    if (c->n_steps == 0)
        diag(ck, c->file, at(c->line, c->col), true,
             "chain \"%s\" has no steps: nobody is notified", c->name);
    for (size_t i = 0; i < c->n_steps; i++) {
        const struct rule_step *s = &c->steps[i];
        if (s->target == RULE_TARGET_PRIORITY && (s->priority < 1 || s->priority > 9))
            diag(ck, c->file, at(s->line, s->col), false,
                 "priority %d does not exist: contacts have priorities 1 to 9", s->priority);
        for (size_t j = 0; j < i; j++) {
            if (same_step(&c->steps[j], s)) {
                diag(ck, c->file, at(s->line, s->col), true,
                     "the same step as on line %d: the contacts are notified twice",
                     c->steps[j].line);
                break;
            }
        }
    }
}

static void check_kinds(struct check *ck)
{
    for (size_t i = 0; i < ck->rs->n_kinds; i++) {
        const struct rule_device_kind *k = &ck->rs->kinds[i];
        for (size_t j = 0; j < k->n_reports; j++)
            if (!rule_find_metric(ck->rs, k->reports[j]))
                unknown_metric(ck, k->file, k->report_pos[j], k->reports[j]);
    }
}

/* ---- conditions ------------------------------------------------------- */

static const char *const known_events[] = {"sos", "fall", "smoke", "gas", "water_leak", "wander",
                                           "tamper"};

static const char *const agg_names[] = {"", "sum", "min", "max", "avg", "count"};
static const char *const cmp_names[] = {">", ">=", "<", "<=", "==", "!="};

static const struct rule_device_kind *find_kind(const struct rule_set *rs, const char *name)
{
    for (size_t i = 0; i < rs->n_kinds; i++)
        if (strcmp(rs->kinds[i].name, name) == 0)
            return &rs->kinds[i];
    return NULL;
}

static bool kind_reports(const struct rule_device_kind *k, const char *metric)
{
    for (size_t i = 0; i < k->n_reports; i++)
        if (strcmp(k->reports[i], metric) == 0)
            return true;
    return false;
}

/* The declared kind with the longest heartbeat among those a duration
 * applies to: the rule's `for devices` kinds if it has them, otherwise
 * the kinds that report the metric (metric NULL: none). */
static const struct rule_device_kind *slowest_kind(const struct check *ck, const struct rule *r,
                                                   const char *metric)
{
    const struct rule_device_kind *best = NULL;
    const struct rule_set *rs = ck->rs;
    if (r->scope.n_device_kinds) {
        for (size_t i = 0; i < r->scope.n_device_kinds; i++) {
            const struct rule_device_kind *k = find_kind(rs, r->scope.device_kinds[i]);
            if (k && (!metric || !k->n_reports || kind_reports(k, metric)) &&
                (!best || k->heartbeat_ms > best->heartbeat_ms))
                best = k;
        }
        return best;
    }
    for (size_t i = 0; metric && i < rs->n_kinds; i++) {
        const struct rule_device_kind *k = &rs->kinds[i];
        if (kind_reports(k, metric) && (!best || k->heartbeat_ms > best->heartbeat_ms))
            best = k;
    }
    return best;
}

/* pre and post: the words around the duration. */
static void warn_heartbeat(struct check *ck, const struct rule *r, const struct rule_cond *c,
                           int64_t ms, const char *pre, const char *post)
{
    const struct rule_device_kind *k =
        slowest_kind(ck, r, c->kind == RULE_COND_ABSENCE ? NULL : c->metric);
    if (!k || ms <= 0 || ms >= MIN_HEARTBEATS * k->heartbeat_ms)
        return;
    char d1[32], d2[32], head[64];
    fmt_dur(d1, sizeof d1, ms);
    fmt_dur(d2, sizeof d2, k->heartbeat_ms);
    snprintf(head, sizeof head, "%s%s%s", pre, d1, post);
    diag(ck, r->file, c->dur_pos, true,
         "%s is shorter than %d heartbeats of %s (%s each): one late message decides it",
         head, MIN_HEARTBEATS, k->name, d2);
}

static void check_leaf(struct check *ck, const struct rule *r, const struct rule_cond *c)
{
    char b[80], d1[32];
    if (c->kind == RULE_COND_EVENT) {
        for (size_t i = 0; i < c->n_events; i++) {
            struct nearest n = {c->events[i], NULL, 3};
            bool known = false;
            for (size_t k = 0; k < sizeof known_events / sizeof known_events[0]; k++) {
                known |= strcmp(known_events[k], c->events[i]) == 0;
                consider(&n, known_events[k]);
            }
            if (!known)
                diag(ck, r->file, at(c->line, c->col), true,
                     "unknown event \"%s\"%s", c->events[i],
                     did_you_mean(n.best, b, sizeof b));
        }
        return;
    }
    if (c->kind == RULE_COND_ABSENCE) {
        if (c->heartbeat_factor > 0) {
            if (c->heartbeat_factor < MIN_HEARTBEATS)
                diag(ck, r->file, c->dur_pos, true,
                     "\"no message for %g x heartbeat\" is shorter than %d heartbeats: one late "
                     "message decides it", c->heartbeat_factor, MIN_HEARTBEATS);
        } else if (c->absence_ms <= 0) {
            diag(ck, r->file, c->dur_pos, false, "\"no message for 0s\" would hold at once");
        } else {
            warn_heartbeat(ck, r, c, c->absence_ms, "\"no message for ", "\"");
        }
        return;
    }

    /* THRESHOLD and WINDOW */
    if (c->kind == RULE_COND_WINDOW) {
        fmt_dur(d1, sizeof d1, c->window_ms);
        if (c->window_ms <= 0)
            diag(ck, r->file, c->dur_pos, false, "a window of 0s holds no messages");
        else if (c->window_ms > WEEK_MS)
            diag(ck, r->file, c->dur_pos, false,
                 "a window of %s is too long: at most 7 days (7d)", d1);
        else
            warn_heartbeat(ck, r, c, c->window_ms, "a window of ", "");
    }
    if (c->for_ms > WEEK_MS) {
        fmt_dur(d1, sizeof d1, c->for_ms);
        diag(ck, r->file, c->dur_pos, false, "\"for %s\" is too long: at most 7 days (7d)", d1);
    } else if (c->for_ms > 0) {
        warn_heartbeat(ck, r, c, c->for_ms, "\"for ", "\"");
    }
    if (c->value.param[0] && isnan(c->value.number))
        diag(ck, r->file, c->value_pos, false,
             "care_plan.%s needs a default for elders whose plan has none: "
             "\"care_plan.%s default N\"", c->value.param, c->value.param);

    const struct rule_metric *m = rule_find_metric(ck->rs, c->metric);
    if (!m) {
        unknown_metric(ck, r->file, c->metric_pos, c->metric);
        return;
    }
    bool is_bool = m->type == RULE_METRIC_BOOL;
    if (c->kind == RULE_COND_THRESHOLD && c->is_bool_test && !is_bool) {
        diag(ck, r->file, c->value_pos, false,
             "%s is a number, not yes/no: compare it with a number instead of \"is %s\"",
             m->name, c->value.number != 0 ? "true" : "false");
        return;
    }
    if (c->kind == RULE_COND_THRESHOLD && !c->is_bool_test && is_bool) {
        diag(ck, r->file, c->metric_pos, false,
             "%s is yes/no, not a number: write \"%s is true\" or \"%s is false\"",
             m->name, m->name, m->name);
        return;
    }
    if (c->kind == RULE_COND_WINDOW && is_bool && c->agg != RULE_AGG_COUNT) {
        diag(ck, r->file, at(c->line, c->col), false,
             "%s(%s): %s is yes/no, not a number; only count(...) works on it",
             agg_names[c->agg], m->name, m->name);
        return;
    }
    if (!c->value.unit[0])
        return;
    if (c->kind == RULE_COND_WINDOW && c->agg == RULE_AGG_COUNT)
        diag(ck, r->file, c->value_pos, false,
             "count(%s) is a number of messages: it has no unit, not %s", m->name, c->value.unit);
    else if (!m->unit[0])
        diag(ck, r->file, c->value_pos, false, "%s has no unit, not %s", m->name, c->value.unit);
    else if (strcmp(m->unit, c->value.unit) != 0)
        diag(ck, r->file, c->value_pos, false, "%s is measured in %s, not %s", m->name, m->unit,
             c->value.unit);
}

static void walk_leaves(struct check *ck, const struct rule *r, const struct rule_cond *c)
{
    if (!c)
        return;
    if (c->kind == RULE_COND_AND || c->kind == RULE_COND_OR) {
        walk_leaves(ck, r, c->a);
        walk_leaves(ck, r, c->b);
        return;
    }
    check_leaf(ck, r, c);
}

/* ---- conditions that can never hold ------------------------------------ */

static void cond_text(char *out, size_t len, const struct rule_cond *c)
{
    if (c->is_bool_test)
        snprintf(out, len, "%s is %s", c->metric, c->value.number != 0 ? "true" : "false");
    else
        snprintf(out, len, "%s %s %g", c->metric, cmp_names[c->cmp], c->value.number);
}

static bool later(const struct rule_cond *a, const struct rule_cond *b)
{
    return a->line > b->line || (a->line == b->line && a->col > b->col);
}

/* Literal thresholds on one metric in one conjunction: the range the value
 * must lie in, and whether it is empty. */
static void check_range(struct check *ck, const struct rule *r, const struct rule_cond **leaves,
                        size_t n, size_t first, const char *what)
{
    const char *metric = leaves[first]->metric;
    double lo = -INFINITY, hi = INFINITY;
    bool lo_open = false, hi_open = false;
    const struct rule_cond *lo_c = NULL, *hi_c = NULL, *bad_a = NULL, *bad_b = NULL;
    for (size_t i = first; i < n && !bad_a; i++) {
        const struct rule_cond *c = leaves[i];
        if (c->kind != RULE_COND_THRESHOLD || c->value.param[0] ||
            strcmp(c->metric, metric) != 0 || c->cmp == RULE_NE)
            continue;
        double v = c->value.number;
        bool raise = c->cmp == RULE_GT || c->cmp == RULE_GE || c->cmp == RULE_EQ;
        bool lower = c->cmp == RULE_LT || c->cmp == RULE_LE || c->cmp == RULE_EQ;
        bool open = c->cmp == RULE_GT || c->cmp == RULE_LT;
        if (raise && (v > lo || (v == lo && open))) {
            lo = v, lo_open = open, lo_c = c;
        }
        if (lower && (v < hi || (v == hi && open))) {
            hi = v, hi_open = open, hi_c = c;
        }
        if (lo > hi || (lo == hi && (lo_open || hi_open))) {
            bad_a = lo_c;
            bad_b = hi_c;
        }
    }
    for (size_t i = first; i < n && !bad_a; i++) {
        const struct rule_cond *c = leaves[i];
        if (c->kind == RULE_COND_THRESHOLD && !c->value.param[0] && c->cmp == RULE_NE &&
            strcmp(c->metric, metric) == 0 && lo == hi && c->value.number == lo) {
            bad_a = lo_c;
            bad_b = c;
        }
    }
    if (!bad_a || !bad_b)
        return;
    if (later(bad_a, bad_b)) {
        const struct rule_cond *t = bad_a;
        bad_a = bad_b;
        bad_b = t;
    }
    char ta[80], tb[80];
    cond_text(ta, sizeof ta, bad_a);
    cond_text(tb, sizeof tb, bad_b);
    if (bad_a == bad_b)
        diag(ck, r->file, at(bad_b->line, bad_b->col), false, "\"%s\" can never hold: %s", ta,
             what);
    else
        diag(ck, r->file, at(bad_b->line, bad_b->col), false,
             "\"%s\" and \"%s\" can never both hold: %s", ta, tb, what);
}

static void walk_conj(struct check *ck, const struct rule *r, const struct rule_cond *c,
                      const char *what);

/* Flattens an `and` tree into its leaves; `or` below starts a new conjunction. */
static void collect(struct check *ck, const struct rule *r, const struct rule_cond *c,
                    const struct rule_cond **leaves, size_t *n, const char *what)
{
    if (c->kind == RULE_COND_AND) {
        collect(ck, r, c->a, leaves, n, what);
        collect(ck, r, c->b, leaves, n, what);
    } else if (c->kind == RULE_COND_OR) {
        walk_conj(ck, r, c, what);
    } else if (*n < RULE_MAX_COND_PARTS) {
        leaves[(*n)++] = c;
    }
}

static void walk_conj(struct check *ck, const struct rule *r, const struct rule_cond *c,
                      const char *what)
{
    if (!c)
        return;
    if (c->kind == RULE_COND_OR) {
        walk_conj(ck, r, c->a, what);
        walk_conj(ck, r, c->b, what);
        return;
    }
    if (c->kind != RULE_COND_AND)
        return;
    const struct rule_cond *leaves[RULE_MAX_COND_PARTS];
    size_t n = 0;
    collect(ck, r, c, leaves, &n, what);
    for (size_t i = 0; i < n; i++) {
        if (leaves[i]->kind != RULE_COND_THRESHOLD || leaves[i]->value.param[0])
            continue;
        bool seen = false;      /* each metric once, from its first threshold */
        for (size_t j = 0; j < i && !seen; j++)
            seen = leaves[j]->kind == RULE_COND_THRESHOLD && !leaves[j]->value.param[0] &&
                   strcmp(leaves[j]->metric, leaves[i]->metric) == 0;
        if (!seen)
            check_range(ck, r, leaves, n, i, what);
    }
}

/* ---- scope and messages ----------------------------------------------- */

/* Whether a condition can hold for a device of kind k (per-device
 * evaluation: a metric the kind never reports never crosses a threshold).
 * An unknown metric was reported already: no second error for it. */
static bool can_hold(const struct rule_set *rs, const struct rule_cond *c,
                     const struct rule_device_kind *k)
{
    switch (c->kind) {
    case RULE_COND_AND: return can_hold(rs, c->a, k) && can_hold(rs, c->b, k);
    case RULE_COND_OR: return can_hold(rs, c->a, k) || can_hold(rs, c->b, k);
    case RULE_COND_THRESHOLD:
        return kind_reports(k, c->metric) || !rule_find_metric(rs, c->metric);
    case RULE_COND_WINDOW:
        return c->agg == RULE_AGG_COUNT || kind_reports(k, c->metric) ||
               !rule_find_metric(rs, c->metric);
    case RULE_COND_EVENT:
    case RULE_COND_ABSENCE: break;
    }
    return true;
}

static void check_scope(struct check *ck, const struct rule *r)
{
    static const char *const what[RULE_FOR_COUNT] = {
        "category", "risk level", "township", "village", "device kind",
    };
    const struct rule_scope *sc = &r->scope;
    size_t counts[RULE_FOR_COUNT] = {
        sc->categories, sc->risks, sc->n_townships, sc->n_villages, sc->n_device_kinds,
    };
    for (int k = 0; k < RULE_FOR_COUNT; k++)
        if ((sc->given & (1u << k)) && !counts[k] && !r->incomplete)
            diag(ck, r->file, r->for_pos[k], false,
                 "rule \"%s\" can never fire: its \"for\" line names no valid %s", r->name,
                 what[k]);
    if (sc->has_time_of_day && sc->tod_from_min == sc->tod_to_min)
        diag(ck, r->file, r->during_pos, false,
             "rule \"%s\" can never fire: during %02d:%02d-%02d:%02d is empty", r->name,
             sc->tod_from_min / 60, sc->tod_from_min % 60, sc->tod_to_min / 60,
             sc->tod_to_min % 60);
    if (!sc->n_device_kinds || !r->when)
        return;
    for (size_t i = 0; i < sc->n_device_kinds; i++) {
        const struct rule_device_kind *k = find_kind(ck->rs, sc->device_kinds[i]);
        if (!k || !k->n_reports || can_hold(ck->rs, r->when, k))
            return;
    }
    diag(
        ck, r->file, r->for_pos[RULE_FOR_DEVICES], false,
        "rule \"%s\" can never fire: no device kind it is for reports the metrics of its \"when\"",
        r->name);
}

/* The fields as tmpl_render finds them: {name}, with {{ and }} as braces. */
static void check_message(struct check *ck, const struct rule *r)
{
    const char *t = r->sms_template;
    bool ack = false;
    size_t pos = 0, n;
    const char *name;
    if (!t[0])
        return;
    while (tmpl_next_field(t, &pos, &name, &n)) {
        ack |= n == 8 && memcmp(name, "ack_code", 8) == 0;
        if (mtpl_field_known(name, n))
            continue;
        const char *best = mtpl_field_nearest(name, n);
        if (best)
            diag(ck, r->file, r->message_pos, false,
                 "unknown field {%.*s} in message; did you mean {%s}?", (int)n, name, best);
        else
            diag(ck, r->file, r->message_pos, false,
                 "unknown field {%.*s} in message (fields: {elder.name} {elder.village} {time} "
                 "{ack_code} ..., see docs/rules.md)", (int)n, name);
    }
    if (!ack)
        diag(ck, r->file, r->message_pos, true,
             "the message does not say how to acknowledge: add {ack_code} (回复{ack_code}确认)");
}

/* ---- rules -------------------------------------------------------------- */

static void add_events(struct check *ck, struct rule *r, const struct rule_cond *c, bool *full)
{
    if (!c)
        return;
    if (c->kind == RULE_COND_AND || c->kind == RULE_COND_OR) {
        add_events(ck, r, c->a, full);
        add_events(ck, r, c->b, full);
        return;
    }
    if (c->kind != RULE_COND_EVENT)
        return;
    for (size_t i = 0; i < c->n_events; i++) {
        bool have = false;
        for (size_t k = 0; k < r->n_events && !have; k++)
            have = strcmp(r->events[k], c->events[i]) == 0;
        if (have)
            continue;
        if (r->n_events == RULE_MAX_EVENTS) {
            if (!*full)
                diag(ck, r->file, at(c->line, c->col), false,
                     "rule \"%s\" listens to more than %d events", r->name, RULE_MAX_EVENTS);
            *full = true;
            return;
        }
        memcpy(r->events[r->n_events++], c->events[i], sizeof r->events[0]);
    }
}

static void check_rule(struct check *ck, struct rule *r, const struct strmap *rules,
                       const struct strmap *chains)
{
    char b[80];
    struct rule_pos here = at(r->line, r->col);
    bool full = false;

    r->n_events = 0;
    add_events(ck, r, r->when, &full);
    if (!r->incomplete) {
        if (!r->when)
            diag(ck, r->file, here, false, "rule \"%s\" has no \"when\": say when it fires",
                 r->name);
        if (!r->severity_pos.line)
            diag(ck, r->file, here, false,
                 "rule \"%s\" has no severity (low, medium, high or critical)", r->name);
        if (!r->chain[0])
            diag(ck, r->file, here, false, "rule \"%s\" has no chain: say whom to notify",
                 r->name);
    }
    if (r->chain[0] && !strmap_get(chains, r->chain)) {
        struct nearest n = {r->chain, NULL, 3};
        for (size_t i = 0; i < ck->rs->n_chains; i++)
            consider(&n, ck->rs->chains[i].name);
        diag(ck, r->file, r->chain_pos, false, "unknown chain \"%s\"%s", r->chain,
             did_you_mean(n.best, b, sizeof b));
    }
    for (size_t i = 0; i < r->n_suppressed_by; i++) {
        const char *s = r->suppressed_by[i];
        if (strcmp(s, r->name) == 0) {
            diag(ck, r->file, r->suppressed_pos[i], false,
                 "rule \"%s\" cannot be suppressed by itself", r->name);
        } else if (!strmap_get(rules, s)) {
            struct nearest n = {s, NULL, 3};
            for (size_t k = 0; k < ck->rs->n_rules; k++)
                consider(&n, ck->rs->rules[k].name);
            diag(ck, r->file, r->suppressed_pos[i], false,
                 "unknown rule \"%s\" in \"suppressed by\"%s", s,
                 did_you_mean(n.best, b, sizeof b));
        }
    }
    walk_leaves(ck, r, r->when);
    walk_leaves(ck, r, r->clear);
    walk_conj(ck, r, r->when, "the rule can never fire");
    walk_conj(ck, r, r->clear, "the alert can never clear this way");
    check_scope(ck, r);
    check_message(ck, r);
}

int rule_check(struct rule_set *rs, struct rule_diags *d)
{
    struct check ck = {rs, d, 0, false, false, false};
    struct strmap rules = {0}, chains = {0};

    check_names(&ck, &rules, &chains);
    check_kinds(&ck);
    for (size_t i = 0; i < rs->n_chains && !ck.stopped; i++)
        check_chain(&ck, &rs->chains[i]);
    for (size_t i = 0; i < rs->n_rules && !ck.stopped; i++)
        check_rule(&ck, &rs->rules[i], &rules, &chains);
    strmap_free(&rules);
    strmap_free(&chains);
    if (ck.nomem)
        return ANX_ENOMEM;
    return ck.errors ? ANX_EINVAL : 0;
}
