/* test_rule_check.c - unit tests for the checks across a parsed rule set
 * (lib/rule_check.c): names used twice or unknown, metric types and units,
 * care-plan defaults, conditions and scopes that can never hold, message
 * fields, durations against heartbeats, chains, and rule.events. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
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

static const char *diag_line(const struct fx *f, size_t i)
{
    static char b[512];
    rule_diag_format(&f->d.items[i], b, sizeof b);
    return b;
}

static void parse_clean(struct fx *f, const char *file, const char *text)
{
    int rc = rule_parse(f->rs, file, text, strlen(text), &f->d);
    if (rc || f->d.n) {
        fprintf(stderr, "%s does not parse cleanly:\n%s\n", file, text);
        dump(f);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(f->d.n, 0);
}

/* A fresh set with chain "c" (in its own file) and text as t.rules, checked. */
static int check_text(struct fx *f, const char *text)
{
    reset(f);
    parse_clean(f, "chains.rules", "chain c {\n    at 0s notify console\n}\n");
    parse_clean(f, "t.rules", text);
    return rule_check(f->rs, &f->d);
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

/* A rule with everything required around one `when` (line 2). */
static int check_when(struct fx *f, const char *when)
{
    char text[1024];
    snprintf(text, sizeof text, "rule r {\n    when %s\n    severity high\n    chain c\n}\n",
             when);
    return check_text(f, text);
}

static void expect_clean(struct fx *f, const char *when)
{
    int rc = check_when(f, when);
    if (rc || f->d.n) {
        fprintf(stderr, "when %s\n", when);
        dump(f);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(f->d.n, 0);
}

/* One diagnostic for a `when` (written at 2:10). */
static void expect_one(struct fx *f, const char *when, const char *diag)
{
    int rc = check_when(f, when);
    bool ok = f->d.n == 1 && strcmp(diag_line(f, 0), diag) == 0;
    if (!ok) {
        fprintf(stderr, "when %s\n  want: %s\n", when, diag);
        dump(f);
    }
    assert_true(ok);
    assert_int_equal(rc, f->d.items[0].warning ? 0 : ANX_EINVAL);
}

/* ---- names --------------------------------------------------------------- */

static void test_duplicate_names(void **state)
{
    struct fx *f = *state;
    reset(f);
    parse_clean(f, "a.rules", "rule x {\n when event sos\n severity high\n chain c\n}\n"
                              "chain c {\n at 0s notify console\n}\n");
    parse_clean(f, "b.rules", "\nrule x {\n when event fall\n severity low\n chain c\n}\n"
                              "chain c {\n at 0s notify console\n}\n"
                              "rule y {\n when event fall\n severity low\n chain c\n}\n"
                              "rule x {\n when event fall\n severity low\n chain c\n}\n");
    assert_int_equal(rule_check(f->rs, &f->d), ANX_EINVAL);
    expect_diags(f, "b.rules:2:6: error: rule \"x\" is already defined at a.rules:1",
                 "b.rules:15:6: error: rule \"x\" is already defined at a.rules:1",
                 "b.rules:7:7: error: chain \"c\" is already defined at a.rules:6", NULL);
    /* A rule and a chain may share a name. */
    assert_int_equal(check_text(f, "rule c {\n when event sos\n severity high\n chain c\n}\n"), 0);
    assert_int_equal(f->d.n, 0);
}

static void test_missing_statements(void **state)
{
    struct fx *f = *state;
    assert_int_equal(check_text(f, "# nothing but a title\nrule m {\n    title \"t\"\n}\n"),
                     ANX_EINVAL);
    expect_diags(f, "t.rules:2:6: error: rule \"m\" has no \"when\": say when it fires",
                 "t.rules:2:6: error: rule \"m\" has no severity (low, medium, high or critical)",
                 "t.rules:2:6: error: rule \"m\" has no chain: say whom to notify", NULL);
    /* A rule with a syntax error is not also reported for what it lacks. */
    reset(f);
    static const char bad[] = "rule m {\n when hr.bpm >> 1\n}\n";
    rule_parse(f->rs, "t.rules", bad, strlen(bad), &f->d);
    assert_int_equal(f->d.n, 1);
    assert_int_equal(rule_check(f->rs, &f->d), 0);
    assert_int_equal(f->d.n, 1);
}

static void test_unknown_chain_and_rules(void **state)
{
    struct fx *f = *state;
    assert_int_equal(check_text(f, "chain emergency {\n at 0s notify console\n}\n"
                                   "rule a {\n when event sos\n severity high\n chain emergncy\n"
                                   " suppressed by device_ofline, a, nothing_like_it\n}\n"
                                   "rule b {\n when event sos\n severity high\n chain zzz\n}\n"
                                   "rule device_offline {\n when no message for 2h\n"
                                   " severity low\n chain c\n}\n"),
                     ANX_EINVAL);
    expect_diags(f, "t.rules:7:8: error: unknown chain \"emergncy\"; did you mean \"emergency\"?",
                 "t.rules:8:16: error: unknown rule \"device_ofline\" in \"suppressed by\"; did "
                 "you "
                 "mean \"device_offline\"?",
                 "t.rules:8:31: error: rule \"a\" cannot be suppressed by itself",
                 "t.rules:8:34: error: unknown rule \"nothing_like_it\" in \"suppressed by\"",
                 "t.rules:13:8: error: unknown chain \"zzz\"", NULL);
}

/* ---- metrics, types, units ------------------------------------------------ */

static void test_unknown_metric(void **state)
{
    struct fx *f = *state;
    expect_one(f, "water.flow < 1",
               "t.rules:2:10: error: unknown metric \"water.flow\"; did you mean "
               "\"water.flow_l\"?");
    expect_one(f, "sum(water.flow) over 1h < 1",
               "t.rules:2:14: error: unknown metric \"water.flow\"; did you mean "
               "\"water.flow_l\"?");
    expect_one(f, "foo.bar > 1", "t.rules:2:10: error: unknown metric \"foo.bar\"");
    expect_one(f, "hr.bmp > 1", "t.rules:2:10: error: unknown metric \"hr.bmp\"; did you mean "
               "\"hr.bpm\"?");
    /* Declared metrics are known, in any file, before or after. */
    reset(f);
    parse_clean(f, "a.rules",
                "rule r {\n when co2.ppm > 1000 ppm and bed.occupied is false for 8h\n"
                " severity high\n chain c\n}\n");
    parse_clean(f, "b.rules", "metric co2.ppm number unit ppm\nmetric bed.occupied bool\n"
                              "chain c {\n at 0s notify console\n}\n"
                              "device bed_sensor heartbeat 5m reports bed.occupied, co2.pmm\n");
    assert_int_equal(rule_check(f->rs, &f->d), ANX_EINVAL);
    expect_diags(f, "b.rules:6:54: error: unknown metric \"co2.pmm\"; did you mean \"co2.ppm\"?",
                 NULL);
}

static void test_types(void **state)
{
    struct fx *f = *state;
    expect_one(f, "hr.bpm is true",
               "t.rules:2:20: error: hr.bpm is a number, not yes/no: compare it with a number "
               "instead of \"is true\"");
    expect_one(f, "hr.bpm is false for 1h",
               "t.rules:2:20: error: hr.bpm is a number, not yes/no: compare it with a number "
               "instead of \"is false\"");
    expect_one(f, "room.bathroom > 0",
               "t.rules:2:10: error: room.bathroom is yes/no, not a number: write \"room.bathroom "
               "is "
               "true\" or \"room.bathroom is false\"");
    expect_one(f, "door.open == 1",
               "t.rules:2:10: error: door.open is yes/no, not a number: write \"door.open is "
               "true\" "
               "or \"door.open is false\"");
    static const char *const aggs[] = {"sum", "min", "max", "avg"};
    for (int i = 0; i < 4; i++) {
        char when[100], want[200];
        snprintf(when, sizeof when, "%s(door.open) over 1h > 2", aggs[i]);
        snprintf(want, sizeof want,
                 "t.rules:2:10: error: %s(door.open): door.open is yes/no, not a "
                 "number; only count(...) works on it",
                 aggs[i]);
        expect_one(f, when, want);
    }
    expect_clean(f, "count(door.open) over 1h > 2");
    expect_clean(f, "door.open is true for 10m");
    expect_clean(f, "motion.active is false for 12h");
}

static void test_units(void **state)
{
    struct fx *f = *state;
    expect_one(f, "water.flow_l < 10 kg",
               "t.rules:2:25: error: water.flow_l is measured in L, not kg");
    expect_one(f, "water.flow_l < 10l",
               "t.rules:2:25: error: water.flow_l is measured in L, not l");
    expect_one(f, "sum(water.flow_l) over 12h < 10 kg",
               "t.rules:2:39: error: water.flow_l is measured in L, not kg");
    expect_one(f, "gps.lat > 30 deg", "t.rules:2:20: error: gps.lat has no unit, not deg");
    expect_one(f, "count(water.flow_l) over 1h < 1 L",
               "t.rules:2:40: error: count(water.flow_l) is a number of messages: it has no unit, "
               "not L");
    expect_one(f, "hr.bpm > care_plan.hr.max default 130 kg",
               "t.rules:2:19: error: hr.bpm is measured in bpm, not kg");
    expect_clean(f, "water.flow_l < 10 L");
    expect_clean(f, "water.flow_l < 10L");
    expect_clean(f, "spo2.pct < 15 %");
    expect_clean(f, "spo2.pct < 15%");
    expect_clean(f, "battery.pct < 15%");
    expect_clean(f, "hr.bpm > 130 bpm");
    expect_clean(f, "hr.bpm > care_plan.hr.max default 130 bpm for 2m");
    expect_clean(f, "bp.sys > 160 mmHg and temp.c > 38.5 C and power.kwh > 3 kWh");
    expect_clean(f, "hr.bpm > 130");
}

static void test_care_plan_default(void **state)
{
    struct fx *f = *state;
    expect_one(f, "hr.bpm > care_plan.hr.max",
               "t.rules:2:19: error: care_plan.hr.max needs a default for elders whose plan has "
               "none: \"care_plan.hr.max default N\"");
    expect_clean(f, "hr.bpm > care_plan.hr.max default 120");
}

/* ---- what can never hold ---------------------------------------------------- */

static void test_contradictions(void **state)
{
    struct fx *f = *state;
    expect_one(f, "hr.bpm > 10 and hr.bpm < 5",
               "t.rules:2:26: error: \"hr.bpm > 10\" and \"hr.bpm < 5\" can never both hold: the "
               "rule "
               "can never fire");
    expect_one(f, "hr.bpm > 5 and hr.bpm <= 5",
               "t.rules:2:25: error: \"hr.bpm > 5\" and \"hr.bpm <= 5\" can never both hold: the "
               "rule "
               "can never fire");
    expect_one(f, "hr.bpm == 3 and hr.bpm != 3",
               "t.rules:2:26: error: \"hr.bpm == 3\" and \"hr.bpm != 3\" can never both hold: the "
               "rule "
               "can never fire");
    expect_one(f, "hr.bpm == 3 and spo2.pct > 1 and hr.bpm == 4",
               "t.rules:2:43: error: \"hr.bpm == 3\" and \"hr.bpm == 4\" can never both hold: the "
               "rule "
               "can never fire");
    expect_one(f, "door.open is true and door.open is false",
               "t.rules:2:32: error: \"door.open is true\" and \"door.open is false\" can never "
               "both "
               "hold: the rule can never fire");
    expect_one(f, "(hr.bpm > 100 and hr.bpm < 50.5) or event sos",
               "t.rules:2:28: error: \"hr.bpm > 100\" and \"hr.bpm < 50.5\" can never both hold: "
               "the "
               "rule can never fire");
    expect_one(f, "hr.bpm > 10 and (spo2.pct < 5 and hr.bpm < 5)",
               "t.rules:2:44: error: \"hr.bpm > 10\" and \"hr.bpm < 5\" can never both hold: the "
               "rule "
               "can never fire");
    expect_one(f, "hr.bpm < 5 for 1m and hr.bpm > 10 for 1m",
               "t.rules:2:32: error: \"hr.bpm < 5\" and \"hr.bpm > 10\" can never both hold: the "
               "rule "
               "can never fire");
    expect_clean(f, "hr.bpm >= 5 and hr.bpm <= 5");
    expect_clean(f, "hr.bpm > 10 or hr.bpm < 5");
    expect_clean(f, "hr.bpm > 10 and (spo2.pct < 5 or hr.bpm < 5)");
    expect_clean(f, "hr.bpm > 5 and hr.bpm < 10 and hr.bpm != 7");
    expect_clean(f, "hr.bpm > care_plan.hr.max default 130 and hr.bpm < 100");
    expect_clean(f, "hr.bpm > 10 and spo2.pct < 5");
    expect_clean(f, "sum(water.flow_l) over 1h > 10 and sum(water.flow_l) over 1h < 5");

    /* In `clear when` too. */
    assert_int_equal(
        check_text(f, "rule r {\n when event sos\n clear when hr.bpm > 10 and hr.bpm < 5\n"
                      " severity high\n chain c\n}\n"),
        ANX_EINVAL);
    expect_diags(
        f,
        "t.rules:3:29: error: \"hr.bpm > 10\" and \"hr.bpm < 5\" can never both hold: the "
        "alert can never clear this way",
        NULL);
}

static void test_unreachable_scope(void **state)
{
    struct fx *f = *state;
    assert_int_equal(check_text(f, "rule r {\n when event sos\n during 08:00-08:00\n"
                                   " severity high\n chain c\n}\n"), ANX_EINVAL);
    expect_diags(f, "t.rules:3:9: error: rule \"r\" can never fire: during 08:00-08:00 is empty",
                 NULL);
    assert_int_equal(check_text(f, "rule r {\n when event sos\n during 00:00-24:00\n"
                                   " severity high\n chain c\n}\n"), 0);

    /* A `for devices` whose kinds never report what `when` needs. */
    static const char decl[] = "device water_meter heartbeat 15m reports water.flow_l\n"
                               "device watch heartbeat 1m reports hr.bpm\n"
                               "device gadget heartbeat 1m\n";
    char text[1024];
    snprintf(text, sizeof text, "%srule r {\n when hr.bpm > 150\n for devices water_meter\n"
             " severity high\n chain c\n}\n", decl);
    assert_int_equal(check_text(f, text), ANX_EINVAL);
    expect_diags(f,
                 "t.rules:6:2: error: rule \"r\" can never fire: no device kind it is for reports "
                 "the metrics of its \"when\"",
                 NULL);
    static const char *const fine[] = {
        "when hr.bpm > 150\n for devices water_meter, watch",
        "when hr.bpm > 150 or event sos\n for devices water_meter",
        "when hr.bpm > 150\n for devices gadget",           /* reports nothing declared */
        "when hr.bpm > 150\n for devices undeclared_kind",
        "when count(hr.bpm) over 1h < 1\n for devices water_meter",
        "when no message for 2h\n for devices water_meter",
    };
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
        snprintf(text, sizeof text, "%srule r {\n %s\n severity high\n chain c\n}\n", decl,
                 fine[i]);
        assert_int_equal(check_text(f, text), 0);
        if (f->d.n)
            dump(f);
        assert_int_equal(f->d.n, 0);
    }

    /* A `for` line left with nothing valid (its items were all wrong). */
    static const char *const lines[] = {"for elders disabled", "for risk low",
                                        "for township \"x\"", "for village \"y\"",
                                        "for devices watch"};
    static const char *const what[] = {"category", "risk level", "township", "village",
                                       "device kind"};
    for (int k = 0; k < RULE_FOR_COUNT; k++) {
        snprintf(text, sizeof text,
                 "rule r {\n when event sos\n %s\n severity high\n chain c\n}\n", lines[k]);
        reset(f);
        parse_clean(f, "chains.rules", "chain c {\n    at 0s notify console\n}\n");
        parse_clean(f, "t.rules", text);
        struct rule_scope *sc = &f->rs->rules[0].scope;
        sc->categories = 0;
        sc->risks = 0;
        for (size_t i = 0; i < sc->n_townships; i++)
            free(sc->townships[i]);
        for (size_t i = 0; i < sc->n_villages; i++)
            free(sc->villages[i]);
        sc->n_townships = sc->n_villages = sc->n_device_kinds = 0;
        assert_int_equal(rule_check(f->rs, &f->d), ANX_EINVAL);
        char want[200];
        snprintf(want, sizeof want,
                 "t.rules:3:2: error: rule \"r\" can never fire: its \"for\" line "
                 "names no valid %s",
                 what[k]);
        expect_diags(f, want, NULL);
    }
}

/* ---- durations -------------------------------------------------------------- */

static void test_durations(void **state)
{
    struct fx *f = *state;
    expect_one(f, "sum(water.flow_l) over 8d < 1",
               "t.rules:2:33: error: a window of 8d is too long: at most 7 days (7d)");
    expect_one(f, "sum(water.flow_l) over 7d1s < 1",
               "t.rules:2:33: error: a window of 7d1s is too long: at most 7 days (7d)");
    expect_one(f, "sum(water.flow_l) over 0s < 1",
               "t.rules:2:33: error: a window of 0s holds no messages");
    expect_one(f, "hr.bpm > 1 for 170h",
               "t.rules:2:25: error: \"for 7d2h\" is too long: at most 7 days (7d)");
    expect_one(f, "no message for 0s",
               "t.rules:2:25: error: \"no message for 0s\" would hold at once");
    expect_clean(f, "sum(water.flow_l) over 7d < 1");
    expect_clean(f, "hr.bpm > 1 for 7d");
    expect_clean(f, "hr.bpm > 1 for 0s");
    expect_clean(f, "no message for 30d");
}

static void test_heartbeat_warnings(void **state)
{
    struct fx *f = *state;
    static const char decl[] = "device water_meter heartbeat 15m reports water.flow_l\n"
                               "device watch heartbeat 1m reports hr.bpm\n"
                               "device band heartbeat 2m reports hr.bpm\n";
    static const struct {
        const char *rule;
        const char *diag;       /* NULL: none */
    } t[] = {
        {"when sum(water.flow_l) over 30m < 1 L",
         "t.rules:6:30: warning: a window of 30m is shorter than 3 heartbeats of water_meter (15m "
         "each): one late message decides it"},
        {"when sum(water.flow_l) over 45m < 1 L", NULL},
        {"when hr.bpm > 150 for 2m",
         "t.rules:6:24: warning: \"for 2m\" is shorter than 3 heartbeats of band (2m each): one "
         "late message decides it"},
        {"when hr.bpm > 150 for 5m", "t.rules:6:24: warning: \"for 5m\" is shorter than 3 "
         "heartbeats of band (2m each): one late message decides it"},
        {"when hr.bpm > 150 for 6m", NULL},
        {"when hr.bpm > 150", NULL},
        /* The rule's own `for devices`: only those kinds count. */
        {"when hr.bpm > 150 for 3m\n for devices watch", NULL},     /* band would warn */
        {"when hr.bpm > 150 for 2m\n for devices water_meter, band",
         "t.rules:6:24: warning: \"for 2m\" is shorter than 3 heartbeats of band (2m each): one "
         "late message decides it"},
        {"when no message for 40m\n for devices water_meter",
         "t.rules:6:22: warning: \"no message for 40m\" is shorter than 3 heartbeats of "
         "water_meter (15m each): one late message decides it"},
        {"when no message for 40m", NULL},
        {"when no message for 2 x heartbeat",
         "t.rules:6:22: warning: \"no message for 2 x heartbeat\" is shorter than 3 heartbeats: "
         "one "
         "late message decides it"},
        {"when no message for 3 x heartbeat", NULL},
        {"when event sos\n clear when hr.bpm < 100 for 1m",
         "t.rules:7:30: warning: \"for 1m\" is shorter than 3 heartbeats of band (2m each): one "
         "late "
         "message decides it"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text, "%s\nrule r {\n %s\n severity high\n chain c\n}\n", decl,
                 t[i].rule);
        int rc = check_text(f, text);
        bool ok = rc == 0 && (t[i].diag ? f->d.n == 1 && strcmp(diag_line(f, 0), t[i].diag) == 0
                                        : f->d.n == 0);
        if (!ok) {
            fprintf(stderr, "case %zu: %s\n  want: %s\n", i, t[i].rule,
                    t[i].diag ? t[i].diag : "-");
            dump(f);
        }
        assert_true(ok);
    }
}

/* ---- events, messages, chains ------------------------------------------------ */

static void test_events(void **state)
{
    struct fx *f = *state;
    expect_one(f, "event smok", "t.rules:2:10: warning: unknown event \"smok\"; did you mean "
               "\"smoke\"?");
    expect_one(f, "event sos, fall, foo_bar", "t.rules:2:10: warning: unknown event \"foo_bar\"");
    expect_clean(f, "event sos, fall, smoke, gas, water_leak, wander, tamper");

    /* rule.events: every event of `when`, once, in order; not those of `clear when`. */
    assert_int_equal(check_text(f,
                                "rule r {\n when event sos or (event fall, sos and hr.bpm > 1)\n"
                                "   or event gas\n clear when event tamper\n severity high\n"
                                " chain c\n}\nrule s {\n when hr.bpm > 1\n severity high\n"
                                " chain c\n}\n"),
                     0);
    const struct rule *r = rule_find(f->rs, "r");
    assert_int_equal(r->n_events, 3);
    assert_string_equal(r->events[0], "sos");
    assert_string_equal(r->events[1], "fall");
    assert_string_equal(r->events[2], "gas");
    assert_int_equal(rule_find(f->rs, "s")->n_events, 0);
    /* Checking again gives the same. */
    assert_int_equal(rule_check(f->rs, &f->d), 0);
    assert_int_equal(r->n_events, 3);

    /* At most 8 events per rule. */
    assert_int_equal(check_text(f, "rule r {\n when event sos, fall, smoke, gas\n"
                                   "   or event water_leak, wander, tamper, sos\n"
                                   "   or event fall, e1, e2\n severity high\n chain c\n}\n"),
                     ANX_EINVAL);
    assert_int_equal(f->d.n_errors, 1);
    assert_string_equal(diag_line(f, 0),
                        "t.rules:4:7: error: rule \"r\" listens to more than 8 events");
    assert_int_equal(f->rs->rules[0].n_events, 8);
}

static void test_messages(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *msg;
        const char *diag;
    } t[] = {
        {"【安心】{elder.name}（{elder.village}）{time} 按下了呼叫按钮。回复{ack_code}确认。", NULL},
        {"{elder.id}{elder.township}{elder.grid}{device.id}{device.kind}{rule.name}{rule.title}"
         "{event}{event.title}{value}{severity}{alert.id}{ack_code}{time}{date}", NULL},
        {"{elder.nmae} 回复{ack_code}",
         "t.rules:3:10: error: unknown field {elder.nmae} in message; did you mean {elder.name}?"},
        {"{phone} 回复{ack_code}",
         "t.rules:3:10: error: unknown field {phone} in message (fields: {elder.name} "
         "{elder.village} {time} {ack_code} ..., see docs/rules.md)"},
        {"{elder.name} 请尽快查看",
         "t.rules:3:10: warning: the message does not say how to acknowledge: add {ack_code} "
         "(回复{ack_code}确认)"},
        {"{{ack_code}} is not a field",
         "t.rules:3:10: warning: the message does not say how to acknowledge: add {ack_code} "
         "(回复{ack_code}确认)"},
        {"a lone { brace, {Elder.Name}, {} and {ack_code}", NULL},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text, "rule r {\n when event sos\n message \"%s\"\n severity high\n"
                 " chain c\n}\n", t[i].msg);
        int rc = check_text(f, text);
        bool ok = t[i].diag ? f->d.n == 1 && strcmp(diag_line(f, 0), t[i].diag) == 0 : f->d.n == 0;
        if (!ok) {
            fprintf(stderr, "case %zu: %s\n  want: %s\n", i, t[i].msg,
                    t[i].diag ? t[i].diag : "-");
            dump(f);
        }
        assert_true(ok);
        assert_int_equal(rc, f->d.n_errors ? ANX_EINVAL : 0);
    }
}

static void test_chains(void **state)
{
    struct fx *f = *state;
    reset(f);
    parse_clean(f, "t.rules", "chain empty {\n    repeat every 5m\n}\n"
                              "chain p {\n"
                              "    at 0s notify priority 0\n"
                              "    at 0s notify priority 10 by sms\n"
                              "    at 0s notify priority 9 by sms\n"
                              "    at 1m notify family by voice\n"
                              "    at 1m notify family by voice\n"
                              "    at 1m notify family by sms\n"
                              "    at 0s notify priority 9 by sms\n"
                              "    at 0s notify console\n"
                              "    at 0s notify console\n"
                              "}\n");
    assert_int_equal(rule_check(f->rs, &f->d), ANX_EINVAL);
    expect_diags(f, "t.rules:1:7: warning: chain \"empty\" has no steps: nobody is notified",
                 "t.rules:5:18: error: priority 0 does not exist: contacts have priorities 1 to 9",
                 "t.rules:6:18: error: priority 10 does not exist: contacts have priorities 1 to "
                 "9",
                 "t.rules:9:18: warning: the same step as on line 8: the contacts are notified "
                 "twice",
                 "t.rules:11:18: warning: the same step as on line 7: the contacts are notified "
                 "twice",
                 "t.rules:13:18: warning: the same step as on line 12: the contacts are notified "
                 "twice",
                 NULL);
    assert_int_equal(f->d.n_errors, 2);
}

/* ---- the document's examples, whole --------------------------------------- */

static void test_doc_file(void **state)
{
    struct fx *f = *state;
    reset(f);
    parse_clean(f, "conf/rules.d/base.rules",
                "# Somebody pressed the SOS button: call at once.\n"
                "rule sos {\n"
                "    title \"SOS紧急呼叫\"\n"
                "    when event sos\n"
                "    severity critical\n"
                "    chain emergency\n"
                "}\n"
                "\n"
                "rule hr_high {\n"
                "    for elders living_alone, empty_nest\n"
                "    for risk high, medium\n"
                "    for township \"城关镇\"\n"
                "    for village \"东关村\", \"西关村\"\n"
                "    during 22:00-06:00\n"
                "    on mon-fri\n"
                "    when hr.bpm > care_plan.hr.max default 130 for 2m\n"
                "      or hr.bpm < care_plan.hr.min default 40 for 2m\n"
                "    clear when hr.bpm < 120 for 5m\n"
                "    severity high\n"
                "    chain emergency\n"
                "    message \"【安心】{elder.name}心率{value}，回复{ack_code}确认\"\n"
                "    suppressed by device_offline\n"
                "}\n"
                "\n"
                "rule water_idle {\n"
                "    for devices water_meter\n"
                "    when sum(water.flow_l) over 12h < 10 L\n"
                "    on sat, sun\n"
                "    severity medium\n"
                "    chain emergency\n"
                "    suppressed by device_offline\n"
                "}\n"
                "\n"
                "rule bathroom {\n"
                "    when room.bathroom is true for 4h\n"
                "    on weekends\n"
                "    severity high\n"
                "    chain emergency\n"
                "}\n"
                "\n"
                "rule device_offline {\n"
                "    when no message for 3 x heartbeat or no message for 2h\n"
                "    on every day\n"
                "    severity low\n"
                "    chain emergency\n"
                "}\n"
                "\n"
                "rule hazard {\n"
                "    when event smoke, gas, water_leak\n"
                "    severity critical\n"
                "    chain emergency\n"
                "}\n"
                "\n"
                "chain emergency {\n"
                "    at 0s notify priority 1 by sms, voice\n"
                "    at 0s notify console\n"
                "    at 5m notify priority 2 by voice\n"
                "    at 5m notify grid_worker by voice\n"
                "    at 10m notify community by sms\n"
                "    repeat every 5m until acknowledged\n"
                "    ack timeout 30m\n"
                "}\n"
                "\n"
                "metric co2.ppm number unit ppm\n"
                "metric bed.occupied bool\n"
                "device water_meter heartbeat 15m reports water.flow_l, water.total_l\n");
    int rc = rule_check(f->rs, &f->d);
    if (rc || f->d.n)
        dump(f);
    assert_int_equal(rc, 0);
    assert_int_equal(f->d.n, 0);
    assert_int_equal(rule_find(f->rs, "hazard")->n_events, 3);
    assert_int_equal(rule_find(f->rs, "sos")->n_events, 1);
}

static void test_diag_cap(void **state)
{
    struct fx *f = *state;
    size_t n = 2000, cap = n * 32, o = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(text + o, cap - o, "rule r%zu {\n}\n", i);
    reset(f);
    assert_int_equal(rule_parse(f->rs, "t.rules", text, o, &f->d), 0);
    assert_int_equal(rule_check(f->rs, &f->d), ANX_EINVAL);
    assert_int_equal(f->d.n, 1001);
    assert_string_equal(diag_line(f, 1000),
                        "t.rules:667:6: error: too many problems; stopped after 1000");
    free(text);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_duplicate_names),
        T(test_missing_statements),
        T(test_unknown_chain_and_rules),
        T(test_unknown_metric),
        T(test_types),
        T(test_units),
        T(test_care_plan_default),
        T(test_contradictions),
        T(test_unreachable_scope),
        T(test_durations),
        T(test_heartbeat_warnings),
        T(test_events),
        T(test_messages),
        T(test_chains),
        T(test_doc_file),
        T(test_diag_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
