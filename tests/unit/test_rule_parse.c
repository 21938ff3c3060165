/* test_rule_parse.c - unit tests for the rule-language parser
 * (lib/rule_parse.c): every statement and condition form and the tree it
 * gives, every example of docs/rules.md, every kind of syntax error with
 * its line and column, recovery after errors, hostile input (deep nesting,
 * huge tokens, NUL, bad UTF-8, every truncation), and the time to parse
 * 10 000 rules. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "registry.h"
#include "rule.h"

struct fx {
    struct rule_set *rs;
    struct rule_diags d;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->rs = rule_set_new();
    *state = f;
    return f->rs ? 0 : -1;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    rule_diags_free(&f->d);
    rule_set_free(f->rs);
    free(f);
    return 0;
}

static void reset(struct fx *f)
{
    rule_diags_free(&f->d);
    rule_set_free(f->rs);
    f->rs = rule_set_new();
    assert_non_null(f->rs);
}

static void dump(const struct fx *f)
{
    for (size_t i = 0; i < f->d.n; i++) {
        char b[512];
        rule_diag_format(&f->d.items[i], b, sizeof b);
        fprintf(stderr, "  diag %zu: %s\n", i, b);
    }
}

static int parse(struct fx *f, const char *text)
{
    return rule_parse(f->rs, "t.rules", text, strlen(text), &f->d);
}

/* Parses text into a fresh set and asserts it has no diagnostics at all. */
static void parse_ok(struct fx *f, const char *text)
{
    reset(f);
    int rc = parse(f, text);
    if (rc != 0 || f->d.n != 0) {
        fprintf(stderr, "unexpected diagnostics for:\n%s\n", text);
        dump(f);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(f->d.n, 0);
}

static const char *diag_line(const struct fx *f, size_t i)
{
    static char b[512];
    rule_diag_format(&f->d.items[i], b, sizeof b);
    return b;
}

/* The diagnostics, in order, are exactly the NULL-terminated lines. */
static void expect_diags(const struct fx *f, ...)
{
    va_list ap;
    size_t i = 0;
    bool ok = true;
    va_start(ap, f);
    for (const char *want; (want = va_arg(ap, const char *)) != NULL; i++)
        if (i >= f->d.n || strcmp(diag_line(f, i), want) != 0) {
            fprintf(stderr, "diag %zu: want %s\n", i, want);
            ok = false;
        }
    va_end(ap);
    if (i != f->d.n)
        ok = false;
    if (!ok)
        dump(f);
    assert_true(ok);
}

static const struct rule *rule_named(const struct fx *f, const char *name)
{
    const struct rule *r = rule_find(f->rs, name);
    if (!r)
        fail_msg("no rule \"%s\"", name);
    return r;
}

/* ---- statements ------------------------------------------------------- */

static void test_first_rule(void **state)
{
    struct fx *f = *state;
    parse_ok(f, "# Somebody pressed the SOS button: call at once.\n"
                "rule sos {\n"
                "    title \"SOS紧急呼叫\"\n"
                "    when event sos\n"
                "    severity critical\n"
                "    chain emergency\n"
                "}\n");
    assert_int_equal(f->rs->n_rules, 1);
    const struct rule *r = &f->rs->rules[0];
    assert_string_equal(r->name, "sos");
    assert_string_equal(r->file, "t.rules");
    assert_int_equal(r->line, 2);
    assert_int_equal(r->col, 6);
    assert_false(r->incomplete);
    assert_string_equal(r->title, "SOS紧急呼叫");
    assert_non_null(r->when);
    assert_int_equal(r->when->kind, RULE_COND_EVENT);
    assert_int_equal(r->when->n_events, 1);
    assert_string_equal(r->when->events[0], "sos");
    assert_int_equal(r->when->line, 4);
    assert_int_equal(r->when->col, 10);
    assert_null(r->clear);
    assert_int_equal(r->severity, RULE_SEV_CRITICAL);
    assert_int_equal(r->severity_pos.line, 5);
    assert_string_equal(r->chain, "emergency");
    assert_int_equal(r->chain_pos.line, 6);
    assert_int_equal(r->chain_pos.col, 11);
    assert_string_equal(r->sms_template, "");
    assert_int_equal(r->scope.given, 0);
    assert_int_equal(r->scope.days, 0);
    assert_false(r->scope.has_time_of_day);
}

static void test_all_statements(void **state)
{
    struct fx *f = *state;
    parse_ok(f, "rule full {\n"
                "    title \"心率异常 \\\"x\\\" \\\\ \\n\"\n"
                "    for elders living_alone, empty_nest\n"
                "    for risk high, medium\n"
                "    for township \"城关镇\"\n"
                "    for village \"东关村\", \"西关村\"\n"
                "    for devices watch, water_meter\n"
                "    during 22:00-06:00\n"
                "    on mon-fri\n"
                "    when hr.bpm > 130\n"
                "    clear when hr.bpm < 120 for 5m\n"
                "    severity medium\n"
                "    chain emergency\n"
                "    message \"【安心】{elder.name} 回复{ack_code}确认\"\n"
                "    suppressed by device_offline, other_rule\n"
                "}\n");
    const struct rule *r = rule_named(f, "full");
    assert_string_equal(r->title, "心率异常 \"x\" \\ \n");
    assert_int_equal(r->scope.categories, REG_CAT_LIVING_ALONE | REG_CAT_EMPTY_NEST);
    assert_int_equal(r->scope.risks, (1 << REG_RISK_HIGH) | (1 << REG_RISK_MEDIUM));
    assert_int_equal(r->scope.n_townships, 1);
    assert_string_equal(r->scope.townships[0], "城关镇");
    assert_int_equal(r->scope.n_villages, 2);
    assert_string_equal(r->scope.villages[0], "东关村");
    assert_string_equal(r->scope.villages[1], "西关村");
    assert_int_equal(r->scope.n_device_kinds, 2);
    assert_string_equal(r->scope.device_kinds[0], "watch");
    assert_string_equal(r->scope.device_kinds[1], "water_meter");
    assert_int_equal(r->scope.given, 0x1F);
    assert_int_equal(r->for_pos[RULE_FOR_ELDERS].line, 3);
    assert_int_equal(r->for_pos[RULE_FOR_ELDERS].col, 5);
    assert_int_equal(r->for_pos[RULE_FOR_DEVICES].line, 7);
    assert_true(r->scope.has_time_of_day);
    assert_int_equal(r->scope.tod_from_min, 22 * 60);
    assert_int_equal(r->scope.tod_to_min, 6 * 60);
    assert_int_equal(r->during_pos.line, 8);
    assert_int_equal(r->during_pos.col, 12);
    assert_int_equal(r->scope.days, 0x1F);
    assert_int_equal(r->when->kind, RULE_COND_THRESHOLD);
    assert_non_null(r->clear);
    assert_int_equal(r->clear->kind, RULE_COND_THRESHOLD);
    assert_int_equal(r->clear->cmp, RULE_LT);
    assert_int_equal(r->clear->for_ms, 5 * 60000);
    assert_int_equal(r->severity, RULE_SEV_MEDIUM);
    assert_string_equal(r->chain, "emergency");
    assert_string_equal(r->sms_template, "【安心】{elder.name} 回复{ack_code}确认");
    assert_int_equal(r->message_pos.line, 14);
    assert_int_equal(r->message_pos.col, 13);
    assert_int_equal(r->n_suppressed_by, 2);
    assert_string_equal(r->suppressed_by[0], "device_offline");
    assert_string_equal(r->suppressed_by[1], "other_rule");
    assert_int_equal(r->suppressed_pos[1].line, 15);
    assert_int_equal(r->suppressed_pos[1].col, 35);

    /* Severities; statements in any order; blank lines and comments. */
    static const char *const sev[] = {"low", "medium", "high", "critical"};
    for (int i = 0; i < 4; i++) {
        char text[200];
        snprintf(text, sizeof text, "rule s # comment\n{\n\n  severity %s   # trailing\n\n"
                 "  # a comment line\n  when event sos\n}\n", sev[i]);
        reset(f);
        parse(f, text);
        expect_diags(f, "t.rules:1:17: error: expected \"{\" after the name, found end of line",
                     NULL);
        reset(f);
        snprintf(text, sizeof text, "rule s { # comment\n\n  severity %s   # trailing\n\n"
                 "  # a comment line\n  when event sos\n}\n", sev[i]);
        parse_ok(f, text);
        assert_int_equal(rule_named(f, "s")->severity, i);
    }
}

static void test_scope_items(void **state)
{
    struct fx *f = *state;
    parse_ok(f, "rule a {\n"
                "  for elders living_alone, empty_nest, left_behind, disabled, severely_disabled,"
                " family_planning_special\n"
                "  for risk low,medium , high\n"
                "}\n");
    const struct rule *r = rule_named(f, "a");
    assert_int_equal(r->scope.categories, 0x3F);
    assert_int_equal(r->scope.risks, 7);

    /* 16 items fit in a list, 17 do not. */
    char text[1024] = "rule b {\n  for village \"v0\"";
    for (int i = 1; i < 16; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), ", \"v%d\"", i);
    strcat(text, "\n}\n");
    parse_ok(f, text);
    assert_int_equal(rule_named(f, "b")->scope.n_villages, 16);
    strcpy(text + strlen(text) - 3, ", \"v16\"\n}\n");
    reset(f);
    parse(f, text);
    expect_diags(f, "t.rules:2:117: error: too many villages (at most 16)", NULL);
}

static void test_days_and_times(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *on;
        uint8_t days;
    } days[] = {
        {"mon-fri", 0x1F}, {"weekends", 0x60}, {"weekdays", 0x1F}, {"sat, sun", 0x60},
        {"every day", 0x7F}, {"fri-mon", 0x71}, {"sun-sun", 0x40}, {"mon", 0x01},
        {"tue, thu-sat", 0x3A}, {"sat-tue", 0x63}, {"weekdays, sat", 0x3F},
    };
    for (size_t i = 0; i < sizeof days / sizeof days[0]; i++) {
        char text[100];
        snprintf(text, sizeof text, "rule d {\n  on %s\n}\n", days[i].on);
        parse_ok(f, text);
        assert_int_equal(rule_named(f, "d")->scope.days, days[i].days);
    }
    static const struct {
        const char *during;
        int from, to;
    } times[] = {
        {"22:00-06:00", 1320, 360}, {"00:00-24:00", 0, 1440}, {"8:30 - 17:45", 510, 1065},
        {"24:00-06:00", 0, 360}, {"08:00-08:00", 480, 480}, {"23:59-00:00", 1439, 0},
    };
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        char text[100];
        snprintf(text, sizeof text, "rule t {\n  during %s\n}\n", times[i].during);
        parse_ok(f, text);
        const struct rule *r = rule_named(f, "t");
        assert_true(r->scope.has_time_of_day);
        assert_int_equal(r->scope.tod_from_min, times[i].from);
        assert_int_equal(r->scope.tod_to_min, times[i].to);
    }
}

/* ---- conditions --------------------------------------------------------- */

static const struct rule_cond *when_of(struct fx *f, const char *cond)
{
    char text[2048];
    snprintf(text, sizeof text, "rule c {\n    when %s\n}\n", cond);
    parse_ok(f, text);
    const struct rule_cond *c = rule_named(f, "c")->when;
    assert_non_null(c);
    return c;
}

static void test_threshold(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *text;
        enum rule_cmp cmp;
        double v;
        const char *unit;
    } t[] = {
        {"hr.bpm > 130", RULE_GT, 130, ""},
        {"hr.bpm >= 130.5", RULE_GE, 130.5, ""},
        {"hr.bpm<40", RULE_LT, 40, ""},
        {"hr.bpm <= 40", RULE_LE, 40, ""},
        {"hr.bpm == 0", RULE_EQ, 0, ""},
        {"hr.bpm != 1", RULE_NE, 1, ""},
        {"hr.bpm > 130 bpm", RULE_GT, 130, "bpm"},
        {"hr.bpm > 130bpm", RULE_GT, 130, "bpm"},
        {"water.flow_l < 10 L", RULE_LT, 10, "L"},
        {"water.flow_l < 10L", RULE_LT, 10, "L"},
        {"spo2.pct < 15 %", RULE_LT, 15, "%"},
        {"spo2.pct < 15%", RULE_LT, 15, "%"},
        {"temp.c < -5 C", RULE_LT, -5, "C"},
        {"gps.lat > -0.25", RULE_GT, -0.25, ""},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        const struct rule_cond *c = when_of(f, t[i].text);
        assert_int_equal(c->kind, RULE_COND_THRESHOLD);
        assert_int_equal(c->agg, RULE_AGG_NONE);
        assert_int_equal(c->cmp, t[i].cmp);
        assert_true(c->value.number == t[i].v);
        assert_string_equal(c->value.unit, t[i].unit);
        assert_string_equal(c->value.param, "");
        assert_false(c->is_bool_test);
        assert_int_equal(c->for_ms, 0);
        assert_int_equal(c->metric_pos.line, 2);
        assert_int_equal(c->metric_pos.col, 10);
    }
    const struct rule_cond *c = when_of(f, "hr.bpm > 130 for 2m");
    assert_string_equal(c->metric, "hr.bpm");
    assert_int_equal(c->for_ms, 120000);
    assert_int_equal(c->value_pos.col, 19);
    assert_int_equal(c->dur_pos.col, 27);

    c = when_of(f, "hr.bpm > care_plan.hr.max default 130 bpm for 2m");
    assert_string_equal(c->value.param, "hr.max");
    assert_true(c->value.number == 130);
    assert_string_equal(c->value.unit, "bpm");
    assert_int_equal(c->for_ms, 120000);

    c = when_of(f, "hr.bpm > care_plan.hr.max");
    assert_string_equal(c->value.param, "hr.max");
    assert_true(isnan(c->value.number));

    c = when_of(f, "room.bathroom is true for 4h");
    assert_true(c->is_bool_test);
    assert_int_equal(c->cmp, RULE_EQ);
    assert_true(c->value.number == 1);
    assert_int_equal(c->for_ms, 4 * 3600000LL);
    c = when_of(f, "door.open is false");
    assert_true(c->is_bool_test);
    assert_true(c->value.number == 0);
    assert_int_equal(c->for_ms, 0);
}

static void test_window_absence_event(void **state)
{
    struct fx *f = *state;
    static const char *const aggs[] = {"sum", "min", "max", "avg", "count"};
    for (int i = 0; i < 5; i++) {
        char text[100];
        snprintf(text, sizeof text, "%s(water.flow_l) over 12h < 10 L", aggs[i]);
        const struct rule_cond *c = when_of(f, text);
        assert_int_equal(c->kind, RULE_COND_WINDOW);
        assert_int_equal(c->agg, RULE_AGG_SUM + i);
        assert_string_equal(c->metric, "water.flow_l");
        assert_int_equal(c->window_ms, 12 * 3600000LL);
        assert_int_equal(c->cmp, RULE_LT);
        assert_true(c->value.number == 10);
        assert_string_equal(c->value.unit, "L");
        assert_int_equal(c->metric_pos.col, 11 + (int)strlen(aggs[i]));
    }
    const struct rule_cond *c =
        when_of(f, "avg ( hr.bpm ) over 1h30m >= care_plan.hr.avg default 90");
    assert_int_equal(c->window_ms, 90 * 60000);
    assert_string_equal(c->value.param, "hr.avg");

    c = when_of(f, "no message for 3 x heartbeat");
    assert_int_equal(c->kind, RULE_COND_ABSENCE);
    assert_true(c->heartbeat_factor == 3);
    assert_int_equal(c->absence_ms, 0);
    c = when_of(f, "no message for 3x heartbeat");
    assert_true(c->heartbeat_factor == 3);
    c = when_of(f, "no message for 1.5 x heartbeat");
    assert_true(c->heartbeat_factor == 1.5);
    c = when_of(f, "no message for 2h");
    assert_int_equal(c->absence_ms, 7200000);
    assert_true(c->heartbeat_factor == 0);
    assert_int_equal(c->dur_pos.col, 25);

    c = when_of(f, "event smoke, gas,water_leak");
    assert_int_equal(c->kind, RULE_COND_EVENT);
    assert_int_equal(c->n_events, 3);
    assert_string_equal(c->events[0], "smoke");
    assert_string_equal(c->events[1], "gas");
    assert_string_equal(c->events[2], "water_leak");
    c = when_of(f, "event a1, a2, a3, a4, a5, a6, a7, a8");
    assert_int_equal(c->n_events, 8);
}

static void test_durations(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *d;
        int64_t ms;
    } t[] = {
        {"250ms", 250}, {"30s", 30000}, {"5m", 300000}, {"12h", 43200000}, {"1d", 86400000},
        {"1h30m", 5400000}, {"1d2h3m4s5ms", 93784005}, {"0s", 0}, {"90m", 5400000},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char text[100];
        snprintf(text, sizeof text, "hr.bpm > 1 for %s", t[i].d);
        assert_int_equal(when_of(f, text)->for_ms, t[i].ms);
    }
    static const char *const bad[] = {"5", "5x", "30m1h", "1h1h", "1.5h", "5 m", "1s500", "1w"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[100], want[200];
        snprintf(text, sizeof text, "rule c {\n    when hr.bpm > 1 for %s\n}\n", bad[i]);
        reset(f);
        assert_int_equal(parse(f, text), ANX_EPARSE);
        const char *b = bad[i];
        size_t n = strcspn(b, " ");
        snprintf(want, sizeof want, "t.rules:2:25: error: expected a duration with a unit like "
                 "30s or 5m, found \"%.*s\"", (int)n, b);
        expect_diags(f, want, NULL);
    }
}

/* The tree as text: (a and b), (a or b), leaves by metric or event. */
static void tree(const struct rule_cond *c, char *out, size_t len)
{
    size_t o = strlen(out);
    if (c->kind == RULE_COND_AND || c->kind == RULE_COND_OR) {
        snprintf(out + o, len - o, "(");
        tree(c->a, out, len);
        o = strlen(out);
        snprintf(out + o, len - o, c->kind == RULE_COND_AND ? " and " : " or ");
        tree(c->b, out, len);
        o = strlen(out);
        snprintf(out + o, len - o, ")");
    } else if (c->kind == RULE_COND_EVENT) {
        snprintf(out + o, len - o, "%s", c->events[0]);
    } else {
        snprintf(out + o, len - o, "%s", c->metric);
    }
}

static void expect_tree(struct fx *f, const char *text, const char *want)
{
    char got[512] = "";
    reset(f);
    int rc = parse(f, text);
    if (rc)
        dump(f);
    assert_int_equal(rc, 0);
    assert_int_equal(f->rs->n_rules, 1);
    tree(f->rs->rules[0].when, got, sizeof got);
    assert_string_equal(got, want);
}

static void test_precedence_and_lines(void **state)
{
    struct fx *f = *state;
    expect_tree(f, "rule r {\n when a.x > 1 or b.x > 1 and c.x > 1\n}\n",
                "(a.x or (b.x and c.x))");
    expect_tree(f, "rule r {\n when a.x > 1 and b.x > 1 or c.x > 1\n}\n",
                "((a.x and b.x) or c.x)");
    expect_tree(f, "rule r {\n when (a.x > 1 or b.x > 1) and c.x > 1\n}\n",
                "((a.x or b.x) and c.x)");
    expect_tree(f, "rule r {\n when a.x > 1 and b.x > 1 and c.x > 1\n}\n",
                "((a.x and b.x) and c.x)");
    expect_tree(f, "rule r {\n when a.x > 1 or b.x > 1 or c.x > 1\n}\n", "((a.x or b.x) or c.x)");
    /* and/or lines continue the condition as if written on one line. */
    expect_tree(f, "rule r {\n when a.x > 1\n   or b.x > 1\n   and c.x > 1\n}\n",
                "(a.x or (b.x and c.x))");
    expect_tree(f, "rule r {\n when a.x > 1 or b.x > 1\n   and c.x > 1\n}\n",
                "(a.x or (b.x and c.x))");
    expect_tree(f, "rule r {\n when (a.x > 1 or b.x > 1)\n\n  # note\n   and c.x > 1\n}\n",
                "((a.x or b.x) and c.x)");
    expect_tree(
        f, "rule r {\n when a.x > 1 and b.x > 1\n   or c.x > 1 and d.x > 1\n   or event sos\n}\n",
        "(((a.x and b.x) or (c.x and d.x)) or sos)");
    /* Newlines inside parentheses are spaces. */
    expect_tree(f, "rule r {\n when (a.x > 1 or\n\n     b.x > 1\n) and sum(\nc.x\n) over 1h > 1\n"
                   " severity low\n}\n", "((a.x or b.x) and c.x)");
    assert_int_equal(f->rs->rules[0].severity_pos.line, 8);
    expect_tree(f, "rule r {\n when ((((a.x > 1))))\n}\n", "a.x");
    /* clear when continues too. */
    reset(f);
    assert_int_equal(parse(f, "rule r {\n when a.x > 1\n clear when b.x < 1\n  and c.x < 1\n}\n"),
                     0);
    char got[200] = "";
    tree(f->rs->rules[0].clear, got, sizeof got);
    assert_string_equal(got, "(b.x and c.x)");
    got[0] = '\0';
    tree(f->rs->rules[0].when, got, sizeof got);
    assert_string_equal(got, "a.x");
    /* Positions of joined conditions are their first part's. */
    const struct rule_cond *c = f->rs->rules[0].clear;
    assert_int_equal(c->line, 3);
    assert_int_equal(c->col, 13);
    assert_int_equal(c->b->line, 4);
    assert_int_equal(c->b->col, 7);
}

static void test_chain(void **state)
{
    struct fx *f = *state;
    parse_ok(f, "chain emergency {\n"
                "    at 0s notify priority 1 by sms, voice\n"
                "    at 0s notify console\n"
                "    at 5m notify priority 2 by voice\n"
                "    at 5m notify grid_worker by voice\n"
                "    at 10m notify community by sms\n"
                "    at 1h notify maintainer\n"
                "    repeat every 5m until acknowledged\n"
                "    ack timeout 30m\n"
                "}\n");
    const struct rule_chain *c = rule_find_chain(f->rs, "emergency");
    assert_non_null(c);
    assert_int_equal(c->line, 1);
    assert_int_equal(c->col, 7);
    assert_int_equal(c->n_steps, 6);
    assert_int_equal(c->steps[0].at_ms, 0);
    assert_int_equal(c->steps[0].target, RULE_TARGET_PRIORITY);
    assert_int_equal(c->steps[0].priority, 1);
    assert_int_equal(c->steps[0].channels, RULE_CH_SMS | RULE_CH_VOICE);
    assert_int_equal(c->steps[0].line, 2);
    assert_int_equal(c->steps[0].col, 18);
    assert_int_equal(c->steps[1].target, RULE_TARGET_CONSOLE);
    assert_int_equal(c->steps[1].channels, 0);
    assert_int_equal(c->steps[2].at_ms, 300000);
    assert_int_equal(c->steps[2].priority, 2);
    assert_int_equal(c->steps[2].channels, RULE_CH_VOICE);
    assert_int_equal(c->steps[3].target, RULE_TARGET_ROLE);
    assert_int_equal(c->steps[3].role, REG_ROLE_GRID_WORKER);
    assert_int_equal(c->steps[4].role, REG_ROLE_COMMUNITY);
    assert_int_equal(c->steps[4].channels, RULE_CH_SMS);
    assert_int_equal(c->steps[5].target, RULE_TARGET_MAINTAINER);
    assert_int_equal(c->repeat_ms, 300000);
    assert_int_equal(c->ack_timeout_ms, 1800000);

    static const char *const roles[] = {"family", "neighbor", "grid_worker", "doctor", "community",
                                        "volunteer", "call_center"};
    for (int i = 0; i < REG_ROLE_COUNT; i++) {
        char text[100];
        snprintf(text, sizeof text, "chain c {\n at 1m notify %s\n}\n", roles[i]);
        parse_ok(f, text);
        assert_int_equal(f->rs->chains[0].steps[0].role, i);
    }
    parse_ok(f, "chain c {\n repeat every 10m\n}\n");
    assert_int_equal(f->rs->chains[0].repeat_ms, 600000);
    assert_int_equal(f->rs->chains[0].n_steps, 0);
}

static void test_declarations(void **state)
{
    struct fx *f = *state;
    size_t builtin = f->rs->n_metrics;
    parse_ok(f, "metric co2.ppm number unit ppm\n"
                "metric bed.occupied bool\n"
                "metric humidity.pct number unit %\n"
                "metric co2.ppm number unit ppm\n"      /* the same again is fine */
                "device water_meter heartbeat 15m reports water.flow_l, water.total_l\n"
                "device watch heartbeat 1m\n"
                "device watch heartbeat 1m\n");
    assert_int_equal(f->rs->n_metrics, builtin + 3);
    const struct rule_metric *m = rule_find_metric(f->rs, "co2.ppm");
    assert_non_null(m);
    assert_int_equal(m->type, RULE_METRIC_NUMBER);
    assert_string_equal(m->unit, "ppm");
    m = rule_find_metric(f->rs, "bed.occupied");
    assert_int_equal(m->type, RULE_METRIC_BOOL);
    assert_string_equal(m->unit, "");
    assert_string_equal(rule_find_metric(f->rs, "humidity.pct")->unit, "%");
    assert_int_equal(f->rs->n_kinds, 2);
    const struct rule_device_kind *k = &f->rs->kinds[0];
    assert_string_equal(k->name, "water_meter");
    assert_int_equal(k->heartbeat_ms, 900000);
    assert_int_equal(k->n_reports, 2);
    assert_string_equal(k->reports[0], "water.flow_l");
    assert_string_equal(k->reports[1], "water.total_l");
    assert_string_equal(k->file, "t.rules");
    assert_int_equal(k->report_pos[1].line, 5);
    assert_int_equal(k->report_pos[1].col, 56);
    assert_int_equal(f->rs->kinds[1].n_reports, 0);

    reset(f);
    parse(f, "metric hr.bpm bool\nmetric co2.ppm number\nmetric co2.ppm number unit ppm\n"
             "device w heartbeat 1m\ndevice w heartbeat 2m\nmetric x.y bool unit z\n"
             "device z heartbeat 0s\nmetric x.y flag\n");
    expect_diags(f, "t.rules:1:8: error: metric \"hr.bpm\" is already known as a number in bpm",
                 "t.rules:3:8: error: metric \"co2.ppm\" is already known as a number without a "
                 "unit",
                 "t.rules:5:8: error: device kind \"w\" is already declared differently in "
                 "t.rules",
                 "t.rules:6:22: error: a yes/no metric has no unit",
                 "t.rules:7:20: error: a heartbeat must be longer than 0s",
                 "t.rules:8:12: error: expected number or bool, found \"flag\"", NULL);
}

/* ---- every example of docs/rules.md -------------------------------------- */

/* The examples, as written in the document. */
static const char doc_first_rule[] =
    "# Somebody pressed the SOS button: call at once.\n"
    "rule sos {\n"
    "    title \"SOS紧急呼叫\"\n"
    "    when event sos\n"
    "    severity critical\n"
    "    chain emergency\n"
    "}\n";

static const char doc_when_or[] =
    "    when hr.bpm > care_plan.hr.max default 130 for 2m\n"
    "      or hr.bpm < care_plan.hr.min default 40 for 2m\n";

static const char doc_clear[] =
    "    when hr.bpm > 130 for 2m\n"
    "    clear when hr.bpm < 120 for 5m\n";

static const char doc_chain[] =
    "    chain emergency {\n"
    "        at 0s notify priority 1 by sms, voice\n"
    "        at 0s notify console\n"
    "        at 5m notify priority 2 by voice\n"
    "        at 5m notify grid_worker by voice\n"
    "        at 10m notify community by sms\n"
    "        repeat every 5m until acknowledged\n"
    "        ack timeout 30m\n"
    "    }\n";

static const char doc_decls[] =
    "    metric co2.ppm number unit ppm\n"
    "    metric bed.occupied bool\n"
    "    device water_meter heartbeat 15m reports water.flow_l, water.total_l\n";

/* The statement table, one cell example at a time. */
static const char *const doc_statements[] = {
    "title \"...\"",
    "for elders living_alone, empty_nest",
    "for risk high, medium",
    "for township \"城关镇\"",
    "for village \"东关村\", \"西关村\"",
    "for devices water_meter",
    "during 22:00-06:00",
    "on mon-fri",
    "on weekends",
    "on sat, sun",
    "severity low",
    "severity medium",
    "severity high",
    "severity critical",
    "chain emergency",
    "message \"...\"",
    "message \"回复{ack_code}确认\"",
    "suppressed by device_offline",
    "on weekdays",
    "on every day",
    ("for elders living_alone, empty_nest, left_behind, disabled, severely_disabled, "
     "family_planning_special"),
};

/* The condition table, the durations and the numbers with units. */
static const char *const doc_conditions[] = {
    "event sos",
    "event smoke, gas, water_leak",
    "hr.bpm > 130",
    "hr.bpm > 130 for 2m",
    "room.bathroom is true for 4h",
    "sum(water.flow_l) over 12h < 10 L",
    "no message for 3 x heartbeat",
    "no message for 2h",
    "hr.bpm > 1 for 30s",
    "hr.bpm > 1 for 5m",
    "hr.bpm > 1 for 12h",
    "hr.bpm > 1 for 1d",
    "hr.bpm > 1 for 1h30m",
    "water.flow_l > 10 L",
    "hr.bpm > 130 bpm",
    "spo2.pct < 15 %",
    "min(water.flow_l) over 1h > 1",
    "max(water.flow_l) over 1h > 1",
    "avg(water.flow_l) over 1h > 1",
    "count(water.flow_l) over 1h > 1",
    "hr.bpm >= 1", "hr.bpm <= 1", "hr.bpm == 1", "hr.bpm != 1", "hr.bpm < 1",
    "x.y > 10 and x.y < 5",     /* parses; rule_check says it never holds */
};

static void test_doc_examples(void **state)
{
    struct fx *f = *state;
    char text[1024];

    parse_ok(f, doc_first_rule);
    assert_non_null(rule_find(f->rs, "sos"));

    snprintf(text, sizeof text, "rule hr {\n%s}\n", doc_when_or);
    parse_ok(f, text);
    const struct rule_cond *c = rule_named(f, "hr")->when;
    assert_int_equal(c->kind, RULE_COND_OR);
    assert_string_equal(c->a->value.param, "hr.max");
    assert_true(c->a->value.number == 130);
    assert_int_equal(c->a->for_ms, 120000);
    assert_int_equal(c->b->cmp, RULE_LT);
    assert_string_equal(c->b->value.param, "hr.min");
    assert_true(c->b->value.number == 40);

    snprintf(text, sizeof text, "rule hr {\n%s}\n", doc_clear);
    parse_ok(f, text);
    assert_int_equal(rule_named(f, "hr")->clear->for_ms, 300000);

    parse_ok(f, doc_chain);
    assert_int_equal(rule_find_chain(f->rs, "emergency")->n_steps, 5);

    parse_ok(f, doc_decls);
    assert_non_null(rule_find_metric(f->rs, "co2.ppm"));
    assert_int_equal(f->rs->n_kinds, 1);

    for (size_t i = 0; i < sizeof doc_statements / sizeof doc_statements[0]; i++) {
        snprintf(text, sizeof text, "rule s {\n    %s\n}\n", doc_statements[i]);
        parse_ok(f, text);
    }
    for (size_t i = 0; i < sizeof doc_conditions / sizeof doc_conditions[0]; i++) {
        snprintf(text, sizeof text, "rule s {\n    when %s\n}\n", doc_conditions[i]);
        parse_ok(f, text);
        snprintf(text, sizeof text, "rule s {\n    clear when %s\n}\n", doc_conditions[i]);
        parse_ok(f, text);
    }
}

/* The `anxinctl check` line of the document, for the same mistake. */
static void test_doc_check_line(void **state)
{
    struct fx *f = *state;
    static const char water[] =
        "# Water use of elders living alone.\n"
        "device water_meter heartbeat 15m reports water.flow_l, water.total_l\n"
        "\n"
        "chain water {\n"
        "    at 0s notify grid_worker by sms\n"
        "}\n"
        "\n"
        "rule water_idle {\n"
        "    title \"用水异常\"\n"
        "    for elders living_alone\n"
        "    for devices water_meter\n"
        "    when water.flow < 1 L for 12h\n"
        "    severity medium\n"
        "    chain water\n"
        "    message \"【安心】{elder.name}家12小时未用水，回复{ack_code}确认\"\n"
        "}\n";
    reset(f);
    const char *file = "conf/rules.d/water.rules";
    assert_int_equal(rule_parse(f->rs, file, water, strlen(water), &f->d), 0);
    assert_int_equal(f->d.n, 0);
    assert_int_equal(rule_check(f->rs, &f->d), ANX_EINVAL);
    assert_int_equal(f->d.n, 1);
    assert_string_equal(diag_line(f, 0), "conf/rules.d/water.rules:12:10: error: unknown metric "
                        "\"water.flow\"; did you mean \"water.flow_l\"?");
}

/* ---- errors ------------------------------------------------------------- */

struct err_case {
    const char *text;
    const char *diag;       /* the first diagnostic, exactly */
};

static const struct err_case err_cases[] = {
    /* statements */
    {"rule a {\n    whne event sos\n}\n",
     "t.rules:2:5: error: unknown statement \"whne\" in rule; did you mean \"when\"?"},
    {"rule a {\n    serverity high\n}\n",
     "t.rules:2:5: error: unknown statement \"serverity\" in rule; did you mean \"severity\"?"},
    {"rule a {\n    bogus x\n}\n",
     "t.rules:2:5: error: unknown statement \"bogus\" in rule; expected title, when, clear when, "
     "for, during, on, severity, chain, message or suppressed by"},
    {"rule a {\n    > 5\n}\n",
     "t.rules:2:5: error: expected a statement (title, when, clear when, for, during, on, "
     "severity, chain, message, suppressed by), found \">\""},
    {"rule a {\n    when hr.bpm above 130\n}\n",
     "t.rules:2:17: error: expected a comparison (>, >=, <, <=, ==, !=) after \"hr.bpm\", found "
     "\"above\""},
    {"rule a {\n    when hr.bpm = 130\n}\n",
     "t.rules:2:17: error: expected a comparison (>, >=, <, <=, ==, !=) after \"hr.bpm\", found "
     "\"=\""},
    {"rule a {\n    severity hgih\n}\n",
     "t.rules:2:14: error: expected a severity (low, medium, high, critical), found \"hgih\"; did "
     "you mean \"high\"?"},
    {"rule a {\n    severity\n}\n",
     "t.rules:2:13: error: expected a severity (low, medium, high, critical), found end of line"},
    {"rule a {\n    for elders livng_alone\n}\n",
     "t.rules:2:16: error: expected a category (living_alone, empty_nest, left_behind, disabled, "
     "severely_disabled, family_planning_special), found \"livng_alone\"; did you mean "
     "\"living_alone\"?"},
    {"rule a {\n    for risk hihg\n}\n",
     "t.rules:2:14: error: expected a risk level (low, medium, high), found \"hihg\"; did you "
     "mean \"high\"?"},
    {"rule a {\n    for elder living_alone\n}\n",
     "t.rules:2:9: error: expected elders, risk, township, village or devices after \"for\", "
     "found \"elder\"; did you mean \"elders\"?"},
    {"rule a {\n    for township 城关镇\n}\n",
     "t.rules:2:18: error: unexpected character \"城\" outside a string"},
    {"rule a {\n    for village \"\"\n}\n", "t.rules:2:17: error: empty place name"},
    {"rule a {\n    on mnn\n}\n",
     "t.rules:2:8: error: expected a day (mon, tue, wed, thu, fri, sat, sun), weekdays, weekends "
     "or every day, found \"mnn\"; did you mean \"mon\"?"},
    {"rule a {\n    on mon-fry\n}\n",
     "t.rules:2:12: error: expected a day (mon, tue, wed, thu, fri, sat, sun) to end the range, "
     "found \"fry\"; did you mean \"fri\"?"},
    {"rule a {\n    on every days\n}\n",
     "t.rules:2:14: error: expected \"day\" after \"every\", found \"days\""},
    {"rule a {\n    during 25:00-06:00\n}\n",
     "t.rules:2:12: error: expected a time from 00:00 to 24:00 like 22:00, found \"25:00\""},
    {"rule a {\n    during 22:00-24:01\n}\n",
     "t.rules:2:18: error: expected a time from 00:00 to 24:00 like 22:00, found \"24:01\""},
    {"rule a {\n    during 22:00 06:00\n}\n",
     "t.rules:2:18: error: expected \"-\" between the times, as in 22:00-06:00, found \"06:00\""},
    {"rule a {\n    during 22-6\n}\n",
     "t.rules:2:12: error: expected a time from 00:00 to 24:00 like 22:00, found \"22\""},
    {"rule a {\n    chain Emergency\n}\n",
     "t.rules:2:11: error: expected a chain name (a-z, 0-9 and _, starting with a letter, at most "
     "32), found \"Emergency\""},
    {"rule a {\n    suppressed device_offline\n}\n",
     "t.rules:2:16: error: expected \"by\" after \"suppressed\", found \"device_offline\""},
    {"rule a {\n    suppressed by a, \n}\n",
     "t.rules:2:22: error: expected a rule name (a-z, 0-9 and _, starting with a letter, at most "
     "32), found end of line"},
    {"rule a {\n    clear hr.bpm < 3\n}\n",
     "t.rules:2:11: error: expected \"when\" after \"clear\", found \"hr.bpm\""},
    {"rule a {\n    title sos\n}\n",
     "t.rules:2:11: error: expected a title in \"...\", found \"sos\""},
    {"rule a {\n    title "
     "\"0123456789012345678901234567890123456789012345678901234567890123\"\n}\n",
     "t.rules:2:11: error: title too long: 64 bytes, at most 63"},
    {"rule a {\n    severity high extra\n}\n",
     "t.rules:2:19: error: expected end of line, found \"extra\""},
    /* duplicates */
    {"rule a {\n    when event sos\n    when event fall\n}\n",
     "t.rules:3:5: error: duplicate \"when\" in rule \"a\" (first on line 2)"},
    {"rule a {\n    severity high\n\n    severity low\n}\n",
     "t.rules:4:5: error: duplicate \"severity\" in rule \"a\" (first on line 2)"},
    {"rule a {\n    clear when event sos\n    clear when event fall\n}\n",
     "t.rules:3:5: error: duplicate \"clear when\" in rule \"a\" (first on line 2)"},
    {"rule a {\n    title \"x\"\n    title \"y\"\n}\n",
     "t.rules:3:5: error: duplicate \"title\" in rule \"a\" (first on line 2)"},
    {"rule a {\n    for elders disabled\n    for elders left_behind\n}\n",
     "t.rules:3:5: error: duplicate \"for elders\" in rule \"a\" (first on line 2): list the "
     "alternatives on one line"},
    {"rule a {\n    on mon\n    on tue\n}\n",
     "t.rules:3:5: error: duplicate \"on\" in rule \"a\" (first on line 2)"},
    {"rule a {\n    suppressed by b\n    suppressed by c\n}\n",
     "t.rules:3:5: error: duplicate \"suppressed by\" in rule \"a\" (first on line 2)"},
    /* conditions */
    {"rule a {\n    when hr.bpm > 130 for 5\n}\n",
     "t.rules:2:27: error: expected a duration with a unit like 30s or 5m, found \"5\""},
    {"rule a {\n    when sum(water.flow_l) over 12 < 10\n}\n",
     "t.rules:2:33: error: expected a duration with a unit like 30s or 5m, found \"12\""},
    {"rule a {\n    when summ(water.flow_l) over 12h < 10\n}\n",
     "t.rules:2:10: error: unknown aggregate \"summ\"; did you mean \"sum\"?"},
    {"rule a {\n    when median(water.flow_l) over 12h < 10\n}\n",
     "t.rules:2:10: error: unknown aggregate \"median\"; expected sum, min, max, avg or count"},
    {"rule a {\n    when sum(water.flow_l) 12h < 10\n}\n",
     "t.rules:2:28: error: expected \"over\" and a window like 12h, found \"12h\""},
    {"rule a {\n    when sum(water.flow_l over 12h < 10\n}\n",
     "t.rules:2:27: error: expected \")\" after the metric, found \"over\""},
    {"rule a {\n    when sum() over 12h < 10\n}\n",
     "t.rules:2:14: error: expected a metric name like water.flow_l, found \")\""},
    {"rule a {\n    when room.bathroom is yes\n}\n",
     "t.rules:2:27: error: expected true or false after \"is\", found \"yes\""},
    {"rule a {\n    when hr.bpm > high\n}\n",
     "t.rules:2:19: error: expected a number or care_plan.NAME, found \"high\""},
    {"rule a {\n    when hr.bpm > care_plan.\n}\n",
     "t.rules:2:19: error: expected a care-plan parameter like care_plan.hr.max, found "
     "\"care_plan.\""},
    {"rule a {\n    when hr.bpm > care_plan.hr.max default x\n}\n",
     "t.rules:2:44: error: expected a number, found \"x\""},
    {"rule a {\n    when hr.bpm > 1.2.3\n}\n",
     "t.rules:2:19: error: expected a number, found \"1.2.3\""},
    {"rule a {\n    when hr.bpm > 1234567890123456\n}\n",
     "t.rules:2:19: error: number \"1234567890123456\" has too many digits (at most 15)"},
    {"rule a {\n    when hr.bpm > 5 beats_per_min\n}\n",
     "t.rules:2:21: error: unit \"beats_per_min\" is too long (at most 8 characters)"},
    {"rule a {\n    when hr.bpm > 130 or\n}\n",
     "t.rules:2:25: error: expected a condition (event, no message, a metric, or "
     "sum/min/max/avg/count(...)), found end of line"},
    {"rule a {\n    when\n}\n",
     "t.rules:2:9: error: expected a condition (event, no message, a metric, or "
     "sum/min/max/avg/count(...)), found end of line"},
    {"rule a {\n    when hr.bpm > 130 hr.bpm < 5\n}\n",
     "t.rules:2:23: error: expected \"and\", \"or\" or end of line, found \"hr.bpm\""},
    {"rule a {\n    when hr.bpm > 130)\n}\n",
     "t.rules:2:22: error: expected \"and\", \"or\" or end of line (this \")\" closes no \"(\"), "
     "found \")\""},
    {"rule a {\n    when (hr.bpm > 130\n    severity high\n}\n",
     "t.rules:3:5: error: expected \"and\", \"or\" or \")\" to close the \"(\" of 2:10, found "
     "\"severity\""},
    {"rule a {\n    when (x.y > 5\n L)\n}\n",
     "t.rules:3:2: error: expected \"and\", \"or\" or \")\" to close the \"(\" of 2:10, found "
     "\"L\""},
    {"rule a {\n    when Hr.bpm > 1\n}\n",
     "t.rules:2:10: error: invalid metric name \"Hr.bpm\": use a-z, 0-9, _ and dots, starting "
     "with "
     "a letter, at most 32 characters"},
    {"rule a {\n    when hr..bpm > 1\n}\n",
     "t.rules:2:10: error: invalid metric name \"hr..bpm\": use a-z, 0-9, _ and dots, starting "
     "with "
     "a letter, at most 32 characters"},
    {"rule a {\n    when event\n}\n",
     "t.rules:2:15: error: expected an event name (a-z, 0-9, _) like sos or water_leak, found end "
     "of line"},
    {"rule a {\n    when event a, b, c, d, e, f, g, h, i\n}\n",
     "t.rules:2:40: error: too many events in one condition (at most 8)"},
    {"rule a {\n    when no messages for 2h\n}\n",
     "t.rules:2:13: error: expected \"message\" after \"no\", found \"messages\""},
    {"rule a {\n    when no message 2h\n}\n",
     "t.rules:2:21: error: expected \"for\" after \"no message\", found \"2h\""},
    {"rule a {\n    when no message for 3 heartbeats\n}\n",
     "t.rules:2:27: error: expected \"x heartbeat\" after the number (or a duration like 2h), "
     "found \"heartbeats\""},
    {"rule a {\n    when no message for 0 x heartbeat\n}\n",
     "t.rules:2:25: error: the number of heartbeats must be more than 0 and at most 1000"},
    {"rule a {\n    when no message for x heartbeat\n}\n",
     "t.rules:2:25: error: expected a duration like 2h, or 3 x heartbeat, found \"x\""},
    {"rule a {\n    when and hr.bpm > 1\n}\n",
     "t.rules:2:10: error: expected a condition (event, no message, a metric, or "
     "sum/min/max/avg/count(...)), found \"and\""},
    {"rule a {\n    severity high\n    or hr.bpm > 1\n}\n",
     "t.rules:3:5: error: \"or\" continues a condition, but the line before is not \"when\" or "
     "\"clear when\""},
    /* blocks */
    {"rule a {\n    when event sos\n",
     "t.rules:3:1: error: missing \"}\" at end of file: rule \"a\" opened on line 1"},
    {"\n\nrule x {\n    when event sos",
     "t.rules:4:19: error: missing \"}\" at end of file: rule \"x\" opened on line 3"},
    {"chain c {\n    at 0s notify console\n",
     "t.rules:3:1: error: missing \"}\" at end of file: chain \"c\" opened on line 1"},
    {"rule a {\n    when event sos\nrule b {\n}\n",
     "t.rules:3:1: error: missing \"}\": rule \"a\" opened on line 1 is not closed"},
    {"rule a {\n    chain x\nchain x {\n}\n",
     "t.rules:3:1: error: missing \"}\": rule \"a\" opened on line 1 is not closed"},
    {"rule a {\n}\n}\n", "t.rules:3:1: error: unexpected \"}\": no rule or chain is open"},
    {"rule a {\n} x\n", "t.rules:2:3: error: expected end of line after \"}\", found \"x\""},
    {"rule a { when event sos }\n", "t.rules:1:10: error: expected end of line after \"{\", found "
     "\"when\""},
    {"rule A {\n}\n", "t.rules:1:6: error: expected a rule name (a-z, 0-9 and _, starting with a "
     "letter, at most 32), found \"A\""},
    {"rule abcdefghijabcdefghijabcdefghijabc {\n}\n",
     "t.rules:1:6: error: expected a rule name (a-z, 0-9 and _, starting with a letter, at most "
     "32), found \"abcdefghijabcdefghijabcdefghijabc\""},
    {"rule {\n}\n", "t.rules:1:6: error: expected a rule name (a-z, 0-9 and _, starting with a "
     "letter, at most 32), found \"{\""},
    {"rulle a {\n    when event sos\n}\n",
     "t.rules:1:1: error: expected \"rule\", \"chain\", \"metric\" or \"device\", found "
     "\"rulle\"; "
     "did you mean \"rule\"?"},
    {"when event sos\n", "t.rules:1:1: error: expected \"rule\", \"chain\", \"metric\" or "
     "\"device\", found \"when\""},
    /* chains */
    {"chain c {\n    at 5 notify priority 1\n}\n",
     "t.rules:2:8: error: expected a duration with a unit like 30s or 5m, found \"5\""},
    {"chain c {\n    at 0s notify famly\n}\n",
     "t.rules:2:18: error: expected whom to notify (priority N, family, neighbor, grid_worker, "
     "doctor, community, volunteer, call_center, console or maintainer), found \"famly\"; did you "
     "mean \"family\"?"},
    {"chain c {\n    at 0s notify priority one\n}\n",
     "t.rules:2:27: error: expected a priority number like 1, found \"one\""},
    {"chain c {\n    at 0s notify priority 1.5\n}\n",
     "t.rules:2:27: error: expected a priority number like 1, found \"1.5\""},
    {"chain c {\n    at 0s notify console by sns\n}\n",
     "t.rules:2:29: error: expected a channel (sms, voice), found \"sns\"; did you mean \"sms\"?"},
    {"chain c {\n    at 0s call console\n}\n",
     "t.rules:2:11: error: expected \"notify\" after the time, found \"call\""},
    {"chain c {\n    rpeat every 5m\n}\n",
     "t.rules:2:5: error: unknown statement \"rpeat\" in chain; did you mean \"repeat\"?"},
    {"chain c {\n    when event sos\n}\n",
     "t.rules:2:5: error: unknown statement \"when\" in chain; expected at, repeat every or ack "
     "timeout"},
    {"chain c {\n    repeat every 5m\n    repeat every 6m\n}\n",
     "t.rules:3:5: error: duplicate \"repeat every\" in chain \"c\" (first on line 2)"},
    {"chain c {\n    repeat every 0s\n}\n",
     "t.rules:2:18: error: \"repeat every 0s\" would call without a pause"},
    {"chain c {\n    repeat every 5m until ack\n}\n",
     "t.rules:2:27: error: expected \"acknowledged\" after \"until\", found \"ack\""},
    {"chain c {\n    ack timeout 0s\n}\n",
     "t.rules:2:17: error: an ack timeout must be longer than 0s"},
    {"chain c {\n    ack after 5m\n}\n",
     "t.rules:2:9: error: expected \"timeout\" after \"ack\", found \"after\""},
    /* lexical */
    {"rule a {\n    title \"abc\n}\n",
     "t.rules:2:11: error: unterminated string: a string ends with \" on its line"},
    {"rule a {\n    title \"a\\tb\"\n}\n",
     "t.rules:2:13: error: unknown escape in string: use \\\", \\\\ or \\n"},
    {"rule a {\n    title \"中文\" x\n}\n",
     "t.rules:2:16: error: expected end of line, found \"x\""},
    {"rule a {\n    for village \"东关村\"，\"西关村\"\n}\n",
     "t.rules:2:22: error: unexpected character \"，\"; did you mean \",\"?"},
    {"rule a {\n    title “SOS”\n}\n",
     "t.rules:2:11: error: unexpected character \"“\"; did you mean '\"'?"},
    {"rule a {\n    title\u3000\"x\"\n}\n",
     "t.rules:2:10: error: unexpected character \"\u3000\"; did you mean a space?"},
    {"rule a {\n    when hr.bpm ＞ 5\n}\n",
     "t.rules:2:17: error: unexpected character \"＞\"; did you mean \">\"?"},
    {"rule a {\n\tseverity\thigh\x01\n}\n",
     "t.rules:2:15: error: unexpected control character (byte 0x01)"},
    {"rule a {\n    when hr.bpm @ 5\n}\n",
     "t.rules:2:17: error: expected a comparison (>, >=, <, <=, ==, !=) after \"hr.bpm\", found "
     "\"@\""},
};

static void test_error_cases(void **state)
{
    struct fx *f = *state;
    bool ok = true;
    for (size_t i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++) {
        reset(f);
        int rc = parse(f, err_cases[i].text);
        if (rc != ANX_EPARSE || f->d.n == 0 || strcmp(diag_line(f, 0), err_cases[i].diag) != 0) {
            fprintf(stderr, "case %zu rc %d:\n%s\n  want: %s\n", i, rc, err_cases[i].text,
                    err_cases[i].diag);
            dump(f);
            ok = false;
        }
        for (size_t k = 0; k < f->d.n; k++)
            assert_false(f->d.items[k].warning);
        assert_int_equal(f->d.n_errors, f->d.n);
    }
    assert_true(ok);
}

/* Every one of those, also through rule_check: no crash, no new syntax errors. */
static void test_error_cases_checked(void **state)
{
    struct fx *f = *state;
    for (size_t i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++) {
        reset(f);
        parse(f, err_cases[i].text);
        rule_check(f->rs, &f->d);
    }
}

static void test_rule_names(void **state)
{
    struct fx *f = *state;
    parse_ok(f, "rule abcdefghijabcdefghijabcdefghijab {\n}\nrule a_1 {\n}\nrule z9 {\n}\n");
    assert_int_equal(f->rs->n_rules, 3);
    assert_string_equal(f->rs->rules[0].name, "abcdefghijabcdefghijabcdefghijab");
    /* A rule whose name is wrong is not kept; a rule with a wrong line is, marked. */
    reset(f);
    parse(f, "rule A {\n when event sos\n}\nrule b {\n when x\n}\nrule c {\n when event sos\n}\n");
    assert_int_equal(f->rs->n_rules, 2);
    assert_string_equal(f->rs->rules[0].name, "b");
    assert_true(f->rs->rules[0].incomplete);
    assert_null(f->rs->rules[0].when);
    assert_false(f->rs->rules[1].incomplete);
}

/* ---- several errors, recovery --------------------------------------------- */

static void test_multiple_errors(void **state)
{
    struct fx *f = *state;
    reset(f);
    int rc = parse(f, "rule a {\n"
                      "    whne event sos\n"
                      "    when hr.bpm above 130\n"
                      "    severity hgih\n"
                      "    chain emergency\n"
                      "}\n"
                      "\n"
                      "rule b {\n"
                      "    when hr.bpm > 130 for 5\n"
                      "    severity high\n"
                      "    on mon-fry\n"
                      "    title \"x\"  } \n"
                      "rule c {\n"
                      "    when event sos\n"
                      "    severity high\n"
                      "    chain emergency\n"
                      "}\n"
                      "chain emergency {\n"
                      "    at 5 notify console\n"
                      "    at 0s notify console\n"
                      "}\n"
                      "rule d {\n"
                      "    when event sos\n");
    assert_int_equal(rc, ANX_EPARSE);
    expect_diags(f,
        "t.rules:2:5: error: unknown statement \"whne\" in rule; did you mean \"when\"?",
        "t.rules:3:17: error: expected a comparison (>, >=, <, <=, ==, !=) after \"hr.bpm\", "
        "found \"above\"",
        "t.rules:4:14: error: expected a severity (low, medium, high, critical), found \"hgih\"; "
        "did you mean \"high\"?",
        "t.rules:9:27: error: expected a duration with a unit like 30s or 5m, found \"5\"",
        "t.rules:11:12: error: expected a day (mon, tue, wed, thu, fri, sat, sun) to end the "
        "range, "
        "found \"fry\"; did you mean \"fri\"?",
        "t.rules:12:16: error: expected end of line, found \"}\"",
        "t.rules:19:8: error: expected a duration with a unit like 30s or 5m, found \"5\"",
        "t.rules:24:1: error: missing \"}\" at end of file: rule \"d\" opened on line 22",
        NULL);
    assert_int_equal(f->d.n_errors, 8);
    /* Everything after the mistakes was still read. */
    assert_int_equal(f->rs->n_rules, 4);
    assert_true(rule_named(f, "a")->incomplete);
    assert_string_equal(rule_named(f, "a")->chain, "emergency");
    assert_true(rule_named(f, "b")->incomplete);
    assert_string_equal(rule_named(f, "b")->title, "x");
    assert_false(rule_named(f, "c")->incomplete);
    assert_true(rule_named(f, "d")->incomplete);
    assert_int_equal(rule_find_chain(f->rs, "emergency")->n_steps, 1);
    /* A second file adds to the same set; its own result is its own. */
    assert_int_equal(rule_parse(f->rs, "u.rules", "rule e {\n}\n", 11, &f->d), 0);
    assert_int_equal(f->rs->n_rules, 5);
    assert_string_equal(rule_named(f, "e")->file, "u.rules");
}

static void test_continuation_after_error(void **state)
{
    struct fx *f = *state;
    /* and/or lines after a wrong `when` say nothing more. */
    reset(f);
    parse(f, "rule a {\n when hr.bpm >> 1\n   or hr.bpm < 2\n   and x.y > 1\n severity high\n}\n");
    expect_diags(f, "t.rules:2:15: error: expected a number or care_plan.NAME, found \">\"", NULL);
    assert_null(f->rs->rules[0].when);
    assert_int_equal(f->rs->rules[0].severity, RULE_SEV_HIGH);
    /* After a duplicate `when` too. */
    reset(f);
    parse(f, "rule a {\n when event sos\n when event fall\n   or event gas\n}\n");
    expect_diags(f, "t.rules:3:2: error: duplicate \"when\" in rule \"a\" (first on line 2)",
                 NULL);
    assert_false(f->rs->rules[0].incomplete);
    /* A wrong continuation line drops the condition. */
    reset(f);
    parse(f, "rule a {\n when event sos\n   or hr.bpm ~ 1\n   or event gas\n}\n");
    expect_diags(f, "t.rules:3:14: error: expected a comparison (>, >=, <, <=, ==, !=) after "
                 "\"hr.bpm\", found \"~\"", NULL);
    assert_null(f->rs->rules[0].when);
    assert_true(f->rs->rules[0].incomplete);
}

static void test_too_many_errors(void **state)
{
    struct fx *f = *state;
    size_t n = 1000, len = n * 10;
    char *text = malloc(len + 1);
    assert_non_null(text);
    for (size_t i = 0; i < n; i++)
        memcpy(text + i * 10, "bogus 123\n", 10);
    reset(f);
    assert_int_equal(rule_parse(f->rs, "t.rules", text, len, &f->d), ANX_EPARSE);
    assert_int_equal(f->d.n, 201);
    assert_string_equal(diag_line(f, 200),
                        "t.rules:201:1: error: too many errors; the rest of the file was not "
                        "checked");
    free(text);
}

/* ---- hostile input ------------------------------------------------------- */

static void test_nesting(void **state)
{
    struct fx *f = *state;
    char text[4096];
    for (int depth = 31; depth <= 33; depth++) {
        int o = snprintf(text, sizeof text, "rule a {\n when ");
        for (int i = 0; i < depth; i++)
            text[o++] = '(';
        o += snprintf(text + o, sizeof text - o, "hr.bpm > 1");
        for (int i = 0; i < depth; i++)
            text[o++] = ')';
        snprintf(text + o, sizeof text - o, "\n}\n");
        reset(f);
        int rc = parse(f, text);
        if (depth <= 32) {
            assert_int_equal(rc, 0);
            assert_int_equal(f->rs->rules[0].when->kind, RULE_COND_THRESHOLD);
        } else {
            assert_int_equal(rc, ANX_EPARSE);
            expect_diags(f, "t.rules:2:39: error: nested too deeply (more than 32 parentheses)",
                         NULL);
        }
    }
    /* Far deeper: no recursion blow-up, one error. */
    size_t deep = 200000;
    char *big = malloc(deep + 64);
    assert_non_null(big);
    memcpy(big, "rule a {\n when ", 15);
    memset(big + 15, '(', deep);
    memcpy(big + 15 + deep, "\n}\n", 3);
    reset(f);
    assert_int_equal(rule_parse(f->rs, "t.rules", big, deep + 18, &f->d), ANX_EPARSE);
    expect_diags(f, "t.rules:2:39: error: nested too deeply (more than 32 parentheses)", NULL);
    free(big);
}

static void test_condition_size(void **state)
{
    struct fx *f = *state;
    size_t cap = 20000;
    char *text = malloc(cap);
    assert_non_null(text);
    for (int parts = 256; parts <= 257; parts++) {
        size_t o = (size_t)snprintf(text, cap, "rule a {\n when x.y > 0");
        for (int i = 1; i < parts; i++)
            o += (size_t)snprintf(text + o, cap - o, i % 10 ? " and x.y > %d" : "\n or x.y > %d",
                                  i);
        snprintf(text + o, cap - o, "\n}\n");
        reset(f);
        int rc = parse(f, text);
        if (parts == 256) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, ANX_EPARSE);
            expect_diags(f, "t.rules:27:89: error: condition too long (more than 256 parts)",
                         NULL);
        }
    }
    free(text);
}

static void test_huge_tokens(void **state)
{
    struct fx *f = *state;
    size_t n = 100000;
    char *text = malloc(n + 100);
    assert_non_null(text);
    /* A word of 512 bytes is a token (here: a wrong name), 513 is too long. */
    for (size_t len = 512; len <= 513; len++) {
        memcpy(text, "rule ", 5);
        memset(text + 5, 'a', len);
        memcpy(text + 5 + len, " {\n}\n", 5);
        reset(f);
        assert_int_equal(rule_parse(f->rs, "t.rules", text, len + 10, &f->d), ANX_EPARSE);
        if (len == 512)
            expect_diags(f, "t.rules:1:6: error: expected a rule name (a-z, 0-9 and _, starting "
                         "with a letter, at most 32), found "
                         "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\"",
                         NULL);
        else
            expect_diags(f, "t.rules:1:6: error: token too long: 513 bytes, at most 512", NULL);
    }
    /* A number of 100 000 digits. */
    memcpy(text, "rule a {\n when x.y > ", 20);
    memset(text + 20, '7', n);
    memcpy(text + 20 + n, "\n}\n", 3);
    reset(f);
    assert_int_equal(rule_parse(f->rs, "t.rules", text, n + 23, &f->d), ANX_EPARSE);
    expect_diags(f, "t.rules:2:12: error: token too long: 100000 bytes, at most 512", NULL);
    /* A string of 511 bytes fits a message, 512 does not. */
    for (size_t len = 511; len <= 512; len++) {
        memcpy(text, "rule a {\n message \"", 19);
        memset(text + 19, 'm', len);
        memcpy(text + 19 + len, "\"\n}\n", 4);
        reset(f);
        int rc = rule_parse(f->rs, "t.rules", text, len + 23, &f->d);
        if (len == 511) {
            assert_int_equal(rc, 0);
            assert_int_equal(strlen(f->rs->rules[0].sms_template), 511);
        } else {
            expect_diags(f, "t.rules:2:10: error: string too long: 512 bytes, at most 511", NULL);
        }
    }
    /* 170 Chinese characters are 510 bytes: fine; with escapes the limit is decoded bytes. */
    size_t o = (size_t)snprintf(text, n, "rule a {\n message \"");
    for (int i = 0; i < 170; i++)
        o += (size_t)snprintf(text + o, n - o, "字");
    o += (size_t)snprintf(text + o, n - o, "\\n\"\n}\n");
    reset(f);
    assert_int_equal(rule_parse(f->rs, "t.rules", text, o, &f->d), 0);
    assert_int_equal(strlen(f->rs->rules[0].sms_template), 511);
    /* A comment and a line of blanks of any length are fine. */
    memset(text, ' ', n);
    text[n / 2] = '#';
    reset(f);
    assert_int_equal(rule_parse(f->rs, "t.rules", text, n, &f->d), 0);
    free(text);
}

#define S(lit) lit, sizeof(lit) - 1

static void test_bad_bytes(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *text;
        size_t len;
        const char *diag;
    } t[] = {
        {S("rule a {\n title \"a\0b\"\n}\n"), "t.rules:2:10: error: NUL byte in the file"},
        {S("rule a {\n\0 when event sos\n}\n"), "t.rules:2:1: error: NUL byte in the file"},
        {S("# \0\nrule a {\n}\n"), "t.rules:1:3: error: NUL byte in the file"},
        {S("rule a {\n title \"\xff\"\n}\n"),
         "t.rules:2:9: error: invalid UTF-8 (the file must be "
         "UTF-8 text)"},
        {S("rule a {\n title \"中\xe6\x96\"\n}\n"), "t.rules:2:10: error: invalid UTF-8 (the file "
         "must be UTF-8 text)"},
        {S("# caf\xc3\n"), "t.rules:1:6: error: invalid UTF-8 (the file must be UTF-8 text)"},
        {S("# \xed\xa0\x80 surrogate\n"), "t.rules:1:3: error: invalid UTF-8 (the file must be "
         "UTF-8 text)"},
        {S("# \xc0\xaf overlong\n"), "t.rules:1:3: error: invalid UTF-8 (the file must be UTF-8 "
         "text)"},
        {S("rule a \x80{\n}\n"),
         "t.rules:1:8: error: invalid UTF-8 (the file must be UTF-8 text)"},
        {S("rule a {\n title \"x\xf4\x90\x80\x80\"\n}\n"),
         "t.rules:2:10: error: invalid UTF-8 (the "
         "file must be UTF-8 text)"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        reset(f);
        assert_int_equal(rule_parse(f->rs, "t.rules", t[i].text, t[i].len, &f->d), ANX_EPARSE);
        if (f->d.n == 0 || strcmp(diag_line(f, 0), t[i].diag) != 0) {
            fprintf(stderr, "case %zu: want %s\n", i, t[i].diag);
            dump(f);
            fail();
        }
    }
    /* One encoding error per line, not one per byte. */
    char junk[300];
    memset(junk, 0xff, sizeof junk);
    reset(f);
    assert_int_equal(rule_parse(f->rs, "t.rules", junk, sizeof junk, &f->d), ANX_EPARSE);
    assert_int_equal(f->d.n, 1);
    /* A byte order mark, CRLF line ends, a missing last newline. */
    parse_ok(f, "\xEF\xBB\xBFrule a {\r\n  when event sos\r\n  severity high\r\n}");
    assert_int_equal(rule_named(f, "a")->severity, RULE_SEV_HIGH);
    assert_int_equal(rule_named(f, "a")->col, 6);
    /* Column counts characters: the error after 3 Chinese characters. */
    reset(f);
    parse(f, "rule a {\n    title \"中文字\" severity\n}\n");
    expect_diags(f, "t.rules:2:17: error: expected end of line, found \"severity\"", NULL);
}

/* Every prefix of a real file, each in a buffer of exactly that size:
 * nothing is read past len (ASan), nothing leaks, nothing crashes. */
static void test_truncations(void **state)
{
    struct fx *f = *state;
    char full[4096];
    snprintf(full, sizeof full, "%s%s%s\nrule hr {\n%s"
             "    and sum(water.flow_l) over 12h < 10 L and (room.bathroom is true for 4h\n"
             "      or no message for 3 x heartbeat)\n"
             "    clear when hr.bpm < 1\n    for village \"东关村\"\n"
             "    message \"回复{ack_code}\\\"确认\\\"\"\n    on fri-mon\n    during 22:00-06:00\n}\n",
             doc_first_rule, doc_chain, doc_decls, doc_when_or);
    size_t n = strlen(full);
    parse_ok(f, full);
    for (size_t len = 0; len <= n; len++) {
        char *buf = malloc(len ? len : 1);
        assert_non_null(buf);
        memcpy(buf, full, len);
        reset(f);
        int rc = rule_parse(f->rs, "t.rules", buf, len, &f->d);
        assert_true(rc == 0 || rc == ANX_EPARSE);
        rc = rule_check(f->rs, &f->d);
        assert_true(rc == 0 || rc == ANX_EINVAL);
        free(buf);
    }
    /* And flipped bytes (a fixed sequence, so failures repeat). */
    uint32_t x = 12345;
    char *buf = malloc(n);
    assert_non_null(buf);
    for (int round = 0; round < 3000; round++) {
        memcpy(buf, full, n);
        for (int k = 0; k < 1 + round % 4; k++) {
            x = x * 1103515245u + 12345u;
            size_t at = (x >> 8) % n;
            x = x * 1103515245u + 12345u;
            buf[at] = (char)(x >> 16);
        }
        reset(f);
        rule_parse(f->rs, "t.rules", buf, n, &f->d);
        rule_check(f->rs, &f->d);
    }
    free(buf);
    /* NULL text is an empty file. */
    reset(f);
    assert_int_equal(rule_parse(f->rs, "t.rules", NULL, 0, &f->d), 0);
}

static void test_rule_limit(void **state)
{
    struct fx *f = *state;
    reset(f);
    /* Pretend the set is full (the array is never touched at the limit). */
    f->rs->n_rules = RULE_MAX_RULES;
    int rc = parse(f, "rule one_more {\n}\n");
    f->rs->n_rules = 0;
    assert_int_equal(rc, ANX_EPARSE);
    expect_diags(f, "t.rules:1:6: error: too many rules (at most 100000 in all files)", NULL);
}

/* ---- speed --------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_ten_thousand_rules(void **state)
{
    struct fx *f = *state;
    size_t cap = 10000 * 600, o = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (int i = 0; i < 10000; i++)
        o += (size_t)snprintf(text + o, cap - o,
                              "# rule %d\n"
                              "rule r%d {\n"
                              "    title \"心率异常 %d\"\n"
                              "    for elders living_alone, empty_nest\n"
                              "    for village \"东关村\", \"西关村\"\n"
                              "    during 22:00-06:00\n"
                              "    on mon-fri\n"
                              "    when hr.bpm > care_plan.hr.max default 130 for 2m\n"
                              "      or (sum(water.flow_l) over 12h < 10 L and no message for "
                              "2h)\n"
                              "    clear when hr.bpm < 120 for 5m\n"
                              "    severity high\n"
                              "    chain emergency\n"
                              "    message \"【安心】{elder.name}心率{value}，回复{ack_code}确认\"\n"
                              "    suppressed by r%d\n"
                              "}\n",
                              i, i, i, (i + 1) % 10000);
    o += (size_t)snprintf(text + o, cap - o, "chain emergency {\n    at 0s notify console\n}\n");
    reset(f);
    double t0 = now_s();
    int rc = rule_parse(f->rs, "big.rules", text, o, &f->d);
    double t1 = now_s();
    int crc = rule_check(f->rs, &f->d);
    double t2 = now_s();
    if (rc || crc)
        dump(f);
    assert_int_equal(rc, 0);
    assert_int_equal(crc, 0);
    assert_int_equal(f->rs->n_rules, 10000);
    printf("10000 rules (%zu bytes): parse %.3f s, check %.3f s\n", o, t1 - t0, t2 - t1);
    /* Well under a second; generous for sanitizer builds. */
    assert_true(t1 - t0 < 2.0);
    assert_true(t2 - t1 < 2.0);
    free(text);
}

/* ---- helpers -------------------------------------------------------------- */

static void test_edit_distance_and_diag(void **state)
{
    (void)state;
    assert_int_equal(rule_edit_distance("when", "when", 2), 0);
    assert_int_equal(rule_edit_distance("whne", "when", 2), 1);
    assert_int_equal(rule_edit_distance("hgih", "high", 2), 1);
    assert_int_equal(rule_edit_distance("water.flow", "water.flow_l", 2), 2);
    assert_int_equal(rule_edit_distance("water", "water.flow_l", 2), 3);
    assert_int_equal(rule_edit_distance("", "ab", 2), 2);
    assert_int_equal(rule_edit_distance("abc", "xyz", 1), 2);

    struct rule_diags d = {0};
    char longname[400];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(rule_diag_add(&d, "f", 1, 2, true, "w %d", 7), 0);
    /* Cut on a character boundary: 2 ASCII + 3-byte characters up to 239 bytes. */
    assert_int_equal(rule_diag_add(&d, longname, 3, 4, false, "ab%s",
                                   "中中中中中中中中中中中中中中中中中中中中中中中中中中中中中中中"
                                   "中中中中中中中中中中中中中中中中中中中中中中中中中中中中中中中"
                                   "中中中中中中中中中中中中中中中中中中中中中中中"),
                     0);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.n_errors, 1);
    assert_true(d.items[0].warning);
    assert_int_equal(strlen(d.items[1].msg), 2 + 79 * 3);
    assert_int_equal(strlen(d.items[1].file), 127);
    rule_diags_free(&d);
    assert_null(d.items);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_first_rule),
        T(test_all_statements),
        T(test_scope_items),
        T(test_days_and_times),
        T(test_threshold),
        T(test_window_absence_event),
        T(test_durations),
        T(test_precedence_and_lines),
        T(test_chain),
        T(test_declarations),
        T(test_doc_examples),
        T(test_doc_check_line),
        T(test_error_cases),
        T(test_error_cases_checked),
        T(test_rule_names),
        T(test_multiple_errors),
        T(test_continuation_after_error),
        T(test_too_many_errors),
        T(test_nesting),
        T(test_condition_size),
        T(test_huge_tokens),
        T(test_bad_bytes),
        T(test_truncations),
        T(test_rule_limit),
        T(test_ten_thousand_rules),
        T(test_edit_distance_and_diag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
