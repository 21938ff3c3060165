/* test_ruletest.c - unit tests for rule test files (lib/ruletest.c) and the
 * virtual clock under them (lib/sim.c): a passing file, the exact text of
 * each kind of failed expectation, syntax errors with file, line and what
 * was expected, `start` placing `during` and `on` rules in local time,
 * `every ... until`, a test that expects nothing, and devices counting as
 * seen when a simulation starts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "registry.h"
#include "rule.h"
#include "ruletest.h"
#include "sim.h"

#define TZ 480      /* +08:00 */

static const char RULES[] =
    "chain c {\n"
    "    at 0s notify console\n"
    "}\n"
    "device water_meter heartbeat 15m\n"
    "device sos_button heartbeat 5m\n"
    "rule sos {\n"
    "    when event sos\n"
    "    severity critical\n"
    "    chain c\n"
    "}\n"
    "rule water_idle {\n"
    "    when sum(water.flow_l) over 12h < 10 L\n"
    "    clear when sum(water.flow_l) over 1h >= 10 L\n"
    "    for elders living_alone\n"
    "    severity high\n"
    "    chain c\n"
    "    suppressed by device_offline\n"
    "}\n"
    "rule device_offline {\n"
    "    when no message for 3 x heartbeat\n"
    "    severity low\n"
    "    chain c\n"
    "}\n"
    "rule night_door {\n"
    "    when event door_open\n"
    "    during 22:00-06:00\n"
    "    severity high\n"
    "    chain c\n"
    "}\n"
    "rule weekday_battery {\n"
    "    when battery.pct < 15 %\n"
    "    on mon-fri\n"
    "    severity low\n"
    "    chain c\n"
    "}\n";

static int setup(void **state)
{
    struct rule_set *rs = rule_set_new();
    struct rule_diags d = {0};
    if (!rs)
        return -1;
    int rc = rule_parse(rs, "t.rules", RULES, strlen(RULES), &d);
    if (rc == 0)
        rc = rule_check(rs, &d);
    for (size_t i = 0; rc && i < d.n; i++) {
        char b[512];
        rule_diag_format(&d.items[i], b, sizeof b);
        fprintf(stderr, "%s\n", b);
    }
    rule_diags_free(&d);
    if (rc) {
        rule_set_free(rs);
        return -1;
    }
    *state = rs;
    return 0;
}

static int teardown(void **state)
{
    rule_set_free(*state);
    return 0;
}

static void dump(const struct rtest_report *r)
{
    for (size_t i = 0; i < r->n_errors; i++)
        fprintf(stderr, "  error: %s\n", r->errors[i]);
    for (size_t i = 0; i < r->n_tests; i++) {
        fprintf(stderr, "  %s %s (line %d)\n", r->tests[i].passed ? "ok  " : "FAIL",
                r->tests[i].name, r->tests[i].line);
        for (size_t k = 0; k < r->tests[i].n_failures; k++)
            fprintf(stderr, "        %s\n", r->tests[i].failures[k]);
    }
}

static int run(void **state, const char *text, struct rtest_report *r)
{
    return rtest_run("t.test", text, strlen(text), *state, TZ, r);
}

/* Runs a file that must parse and whose tests must all pass. */
static void expect_pass(void **state, const char *text, size_t n_tests)
{
    struct rtest_report r;
    int rc = run(state, text, &r);
    if (rc || r.n_failed || r.n_tests != n_tests) {
        fprintf(stderr, "file:\n%s\n", text);
        dump(&r);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(r.n_errors, 0);
    assert_int_equal(r.n_tests, n_tests);
    assert_int_equal(r.n_passed, n_tests);
    assert_int_equal(r.n_failed, 0);
    rtest_report_free(&r);
}

/* Runs a file of one test that must fail with exactly these failures. */
static void expect_failures(void **state, const char *text, ...)
{
    struct rtest_report r;
    int rc = run(state, text, &r);
    assert_int_equal(rc, 0);
    assert_int_equal(r.n_errors, 0);
    assert_int_equal(r.n_tests, 1);
    va_list ap;
    va_start(ap, text);
    size_t i = 0;
    bool ok = !r.tests[0].passed;
    for (const char *want; (want = va_arg(ap, const char *)) != NULL; i++)
        if (i >= r.tests[0].n_failures || strcmp(r.tests[0].failures[i], want) != 0) {
            fprintf(stderr, "failure %zu: want %s\n", i, want);
            ok = false;
        }
    va_end(ap);
    if (i != r.tests[0].n_failures)
        ok = false;
    if (!ok) {
        fprintf(stderr, "file:\n%s\n", text);
        dump(&r);
    }
    assert_true(ok);
    assert_int_equal(r.n_passed, 0);
    assert_int_equal(r.n_failed, 1);
    rtest_report_free(&r);
}

/* Runs a file that must not parse: the first error is `want`, n errors in all. */
static void expect_error(void **state, const char *text, const char *want, size_t n)
{
    struct rtest_report r;
    int rc = run(state, text, &r);
    bool ok = rc == ANX_EPARSE && r.n_errors == n && r.n_tests == 0 &&
              strcmp(r.errors[0], want) == 0;
    if (!ok) {
        fprintf(stderr, "rc %d, want error: %s\nfile:\n%s\n", rc, want, text);
        dump(&r);
    }
    assert_true(ok);
    rtest_report_free(&r);
}

/* ---- passing ------------------------------------------------------------ */

static void test_passing_file(void **state)
{
    static const char text[] =
        "# A comment, then blank lines.\n"
        "\n"
        "test \"no water for 12 hours\" {\n"
        "    elder E1 living_alone risk high village \"东关村\" township \"城关镇\"\n"
        "    device WM-1 water_meter heartbeat 15m elder E1\n"
        "    send WM-1 at 0s every 15m until 14h: water.flow_l 0   # trailing comment\n"
        "    expect at 11h45m: no water_idle\n"
        "    expect at 12h: water_idle firing for E1\n"
        "    expect at 12h15m: water_idle fired 1 times for E1\n"
        "    expect at 12h15m: no water_idle for E2\n"
        "}\n"
        "test \"water again clears it\" {\n"
        "    elder E1 living_alone\n"
        "    device WM-1 water_meter heartbeat 15m elder E1\n"
        "    send WM-1 at 0s every 15m until 12h45m: water.flow_l 0\n"
        "    send WM-1 at 13h every 15m until 15h: water.flow_l 5\n"
        "    expect at 14h: water_idle cleared for E1\n"
        "    expect at 14h: water_idle fired 1 time for E1\n"
        "    expect at 14h: no alerts\n"
        "}\n"
        "test \"an SOS, and an elder without consent\" {\n"
        "    elder E1 empty_nest\n"
        "    elder E2 disabled no consent\n"
        "    device S-1 sos_button elder E1\n"
        "    device S-2 sos_button heartbeat 10m elder E2\n"
        "    send S-1 at 1m: battery.pct 80, event sos\n"
        "    send S-2 at 1m: event sos\n"
        "    expect at 1m: sos firing for E1\n"
        "    expect at 1m: sos firing\n"
        "    expect at 1m: no sos for E2\n"
        "    expect at 1m: no water_idle\n"
        "}\n";
    expect_pass(state, text, 3);

    struct rtest_report r;
    assert_int_equal(run(state, text, &r), 0);
    assert_string_equal(r.tests[0].name, "no water for 12 hours");
    assert_int_equal(r.tests[0].line, 3);
    assert_string_equal(r.tests[2].name, "an SOS, and an elder without consent");
    assert_int_equal(r.tests[2].line, 21);
    assert_int_equal(r.tests[2].n_failures, 0);
    assert_null(r.tests[2].failures);
    rtest_report_free(&r);
}

/* ---- failing expectations ------------------------------------------------ */

static void test_each_failure_text(void **state)
{
    expect_failures(
        state,
        "test \"failures\" {\n"                                            /* 1 */
        "    elder E1 living_alone\n"
        "    elder E2 living_alone\n"
        "    device WM-1 water_meter heartbeat 15m elder E1\n"
        "    device S-2 sos_button heartbeat 5m elder E2\n"                 /* 5 */
        "    send WM-1 at 0s every 15m until 12h45m: water.flow_l 0\n"
        "    send WM-1 at 13h every 15m until 15h: water.flow_l 20\n"
        "    send S-2 at 0s every 5m until 15h: battery.pct 90\n"
        "    expect at 11h: water_idle firing for E1\n"
        "    expect at 12h15m: no water_idle for E1\n"                      /* 10 */
        "    expect at 12h15m: water_idle cleared for E1\n"
        "    expect at 12h15m: water_idle fired 2 times for E1\n"
        "    expect at 14h: water_idle firing\n"
        "    expect at 12h30m: no alerts\n"
        "    expect at 1h: water_idle cleared for E2\n"                     /* 15 */
        "    expect at 14h: water_idle fired 0 times\n"
        "}\n",
        "line 15, at 1h: expected water_idle cleared for E2, but it never cleared "
        "(it never fired)",
        "line 9, at 11h: expected water_idle firing for E1, but no alert is live "
        "(it never fired)",
        "line 10, at 12h15m: expected no water_idle for E1, but it is firing "
        "(last fired at 12h: sum(water.flow_l) over 12h = 0 < 10 L)",
        "line 11, at 12h15m: expected water_idle cleared for E1, but it is still firing "
        "(last fired at 12h: sum(water.flow_l) over 12h = 0 < 10 L)",
        "line 12, at 12h15m: expected water_idle to have fired 2 time(s) for E1, but it "
        "fired 1 time(s) (last fired at 12h: sum(water.flow_l) over 12h = 0 < 10 L)",
        "line 14, at 12h30m: expected no alerts, but 1 are live (e.g. water_idle for E1)",
        "line 13, at 14h: expected water_idle firing, but no alert is live "
        "(last cleared at 13h: sum(water.flow_l) over 1h = 20 >= 10 L)",
        "line 16, at 14h: expected water_idle to have fired 0 time(s), but it fired "
        "1 time(s) (last cleared at 13h: sum(water.flow_l) over 1h = 20 >= 10 L)",
        NULL);
}

static void test_failure_from_the_brief(void **state)
{
    /* A meter that used 1 L an hour: enough, so water_idle never fires. */
    expect_failures(state,
                    "test \"x\" {\n"
                    "    elder E1 living_alone\n"
                    "    device WM-1 water_meter heartbeat 2h elder E1\n"
                    "    send WM-1 at 0s every 1h until 14h: water.flow_l 1\n"
                    "\n"
                    "\n"
                    "\n"
                    "    # line 8\n"
                    "    expect at 12h: water_idle firing for E1\n"
                    "    expect at 12h: device_offline firing for E1\n"
                    "}\n",
                    "line 9, at 12h: expected water_idle firing for E1, but no alert is live "
                    "(it never fired)",
                    "line 10, at 12h: expected device_offline firing for E1, but no alert is "
                    "live (it never fired)",
                    NULL);
}

static void test_sos_counts_and_no_alerts(void **state)
{
    expect_failures(state,
                    "test \"sos\" {\n"
                    "    elder E1 living_alone\n"
                    "    device S-1 sos_button heartbeat 5m elder E1\n"
                    "    send S-1 at 1m: event sos\n"
                    "    send S-1 at 2m: event sos\n"
                    "    expect at 2m: sos fired 1 times for E1\n"
                    "    expect at 2m: no alerts\n"
                    "    expect at 2m: sos cleared for E1\n"
                    "}\n",
                    "line 6, at 2m: expected sos to have fired 1 time(s) for E1, but it fired "
                    "2 time(s) (last fired at 2m: event sos)",
                    "line 7, at 2m: expected no alerts, but 1 are live (e.g. sos for E1)",
                    "line 8, at 2m: expected sos cleared for E1, but it is still firing "
                    "(last fired at 2m: event sos)",
                    NULL);
}

/* The context of a failure is the latest event of the rule, of any elder
 * when the expectation names none; times print as 0s, 1m30s, 25h. */
static void test_failure_context(void **state)
{
    expect_failures(state,
                    "test \"two elders\" {\n"
                    "    elder E1\n"
                    "    elder E2\n"
                    "    device S-1 sos_button heartbeat 1h elder E1\n"
                    "    device S-2 sos_button heartbeat 1h elder E2\n"
                    "    send S-2 at 0s: event sos\n"
                    "    send S-1 at 1m30s: event sos\n"
                    "    expect at 0s: no sos\n"
                    "    expect at 25h: sos fired 1 time\n"
                    "    expect at 25h: sos fired 2 times for E2\n"
                    "}\n",
                    "line 8, at 0s: expected no sos, but it is firing (last fired at 0s: "
                    "event sos)",
                    "line 9, at 25h: expected sos to have fired 1 time(s), but it fired "
                    "2 time(s) (last fired at 1m30s: event sos)",
                    "line 10, at 25h: expected sos to have fired 2 time(s) for E2, but it fired "
                    "1 time(s) (last fired at 0s: event sos)",
                    NULL);
}

static void test_expects_nothing(void **state)
{
    struct rtest_report r;
    static const char text[] =
        "test \"fine\" {\n"
        "    elder E1\n"
        "    expect at 1h: no alerts\n"
        "}\n"
        "\n"
        "test \"empty\" {\n"
        "    elder E1 living_alone\n"
        "    device S-1 sos_button elder E1\n"
        "    send S-1 at 0s: event sos\n"
        "}\n";
    assert_int_equal(run(state, text, &r), 0);
    assert_int_equal(r.n_tests, 2);
    assert_int_equal(r.n_passed, 1);
    assert_int_equal(r.n_failed, 1);
    assert_true(r.tests[0].passed);
    assert_false(r.tests[1].passed);
    assert_string_equal(r.tests[1].name, "empty");
    assert_int_equal(r.tests[1].line, 6);
    assert_int_equal(r.tests[1].n_failures, 1);
    assert_string_equal(r.tests[1].failures[0], "line 6: the test expects nothing");
    rtest_report_free(&r);
}

/* ---- syntax errors ------------------------------------------------------- */

static void test_syntax_errors(void **state)
{
    expect_error(state,
                 "test \"x\" {\n"
                 "    elder E1\n"
                 "    sned WM-1 at 0s: water.flow_l 0\n"
                 "    expect at 1h: no alerts\n"
                 "}\n",
                 "t.test:3: unknown statement \"sned\" (elder, device, send, expect)", 1);
    /* Bad durations: of a message, a heartbeat, an expectation, a repeat. */
    static const char send_usage[] =
        "expected: send DEVICE at TIME [every DURATION until TIME]: metric VALUE, ..., "
        "event NAME";
    static const char expect_usage[] =
        "expected: expect at TIME: RULE firing | no RULE | RULE cleared | RULE fired N times "
        "| no alerts  [for ELDER]";
    char want[400];
    snprintf(want, sizeof want, "t.test:4: %s", send_usage);
    expect_error(state,
                 "test \"x\" {\n"
                 "    elder E1\n"
                 "    device WM-1 water_meter elder E1\n"
                 "    send WM-1 at 5x: water.flow_l 0\n"
                 "    expect at 1h: no alerts\n"
                 "}\n",
                 want, 1);
    expect_error(state,
                 "test \"x\" {\n"
                 "    elder E1\n"
                 "    device WM-1 water_meter heartbeat 15 elder E1\n"
                 "    expect at 1h: no alerts\n"
                 "}\n",
                 "t.test:3: heartbeat: expected a duration like 5m, got \"15\"", 1);
    snprintf(want, sizeof want, "t.test:3: %s", expect_usage);
    expect_error(state,
                 "test \"x\" {\n"
                 "    elder E1\n"
                 "    expect at 30m1h: no alerts\n"
                 "}\n",
                 want, 1);
    snprintf(want, sizeof want, "t.test:4: %s", send_usage);
    expect_error(state,
                 "test \"x\" {\n"
                 "    elder E1\n"
                 "    device WM-1 water_meter elder E1\n"
                 "    send WM-1 at 0s every 0s until 1h: water.flow_l 0\n"
                 "    expect at 1h: no alerts\n"
                 "}\n",
                 want, 1);
    /* until before at */
    expect_error(state,
                 "test \"x\" {\n"
                 "    elder E1\n"
                 "    device WM-1 water_meter elder E1\n"
                 "    send WM-1 at 2h every 15m until 1h: water.flow_l 0\n"
                 "    expect at 1h: no alerts\n"
                 "}\n",
                 want, 1);
    /* send without its colon */
    expect_error(state,
                 "test \"x\" {\n"
                 "    elder E1\n"
                 "    device WM-1 water_meter elder E1\n"
                 "    send WM-1 at 0s water.flow_l 0\n"
                 "    expect at 1h: no alerts\n"
                 "}\n",
                 want, 1);
    expect_error(state,
                 "test \"x\" {\n"
                 "    elder E1\n"
                 "    device WM-1 water_meter elder E1\n"
                 "    send WM-1 at 0s: water.flow_l lots\n"
                 "    expect at 1h: no alerts\n"
                 "}\n",
                 "t.test:4: water.flow_l: expected a number, true or false, got \"lots\"", 1);
    /* a device of an elder not defined (above) */
    expect_error(state,
                 "test \"x\" {\n"
                 "    device WM-1 water_meter heartbeat 15m elder E9\n"
                 "    elder E9\n"
                 "    expect at 1h: no alerts\n"
                 "}\n",
                 "t.test:2: device WM-1: no elder E9 defined above", 1);
    expect_error(state,
                 "test \"x\" {\n"
                 "    elder E1 village \"东关村\n"
                 "    expect at 1h: no alerts\n"
                 "}\n",
                 "t.test:2: unterminated string", 1);
    expect_error(state,
                 "test \"never closed\" {\n"
                 "    elder E1\n"
                 "    expect at 1h: no alerts\n",
                 "t.test:1: test \"never closed\" has no closing }", 1);
    snprintf(want, sizeof want, "t.test:3: %s", expect_usage);
    expect_error(state,
                 "test \"x\" {\n"
                 "    elder E1\n"
                 "    expect at 1h: water_idle firin for E1\n"
                 "}\n",
                 want, 1);
    expect_error(state,
                 "test \"x\" {\n"
                 "    elder E1 lives_alone\n"
                 "    expect at 1h: no alerts\n"
                 "}\n",
                 "t.test:2: unknown word \"lives_alone\" in elder (categories: living_alone "
                 "empty_nest left_behind disabled severely_disabled family_planning_special; "
                 "risk; village; township; param; no consent)",
                 1);
    expect_error(state,
                 "test \"x\" {\n"
                 "    elder E1\n"
                 "    elder E1\n"
                 "    device D device\n"
                 "    expect at 1h: no alerts\n"
                 "}\n",
                 "t.test:3: elder E1 is already defined", 2);
    expect_error(state, "start 2026-13-40 08:00\n",
                 "t.test:1: expected: start YYYY-MM-DD HH:MM (local time)", 1);
    expect_error(state, "elder E1\n",
                 "t.test:1: expected: test \"NAME\" {   or   start DATE TIME", 1);
    expect_error(state, "test x {\n}\n",
                 "t.test:1: expected: test \"NAME\" {   or   start DATE TIME", 2);
}

/* ---- local time, repeats ------------------------------------------------- */

static void test_start_places_during_and_on(void **state)
{
    /* 2026-11-30 is a Monday; 08:00 + 14h is 22:00. */
    expect_pass(state,
                "start 2026-11-30 08:00\n"
                "test \"night door\" {\n"
                "    elder E1\n"
                "    device D-1 door_sensor heartbeat 10m elder E1\n"
                "    send D-1 at 13h59m: event door_open\n"
                "    send D-1 at 14h: event door_open\n"
                "    send D-1 at 21h59m: event door_open\n"
                "    send D-1 at 22h: event door_open\n"
                "    expect at 13h59m: no night_door\n"
                "    expect at 14h: night_door firing for E1\n"
                "    expect at 21h59m: night_door fired 2 times\n"
                "    expect at 22h: night_door fired 2 times\n"
                "}\n"
                "test \"battery on a weekday, not on Saturday\" {\n"
                "    elder E1\n"
                "    elder E2\n"
                "    device S-1 sos_button elder E1\n"
                "    device S-2 sos_button elder E2\n"
                "    send S-1 at 4d15h59m: battery.pct 10\n"
                "    send S-2 at 4d16h: battery.pct 10\n"
                "    expect at 4d16h: weekday_battery firing for E1\n"
                "    expect at 4d16h: no weekday_battery for E2\n"
                "}\n",
                2);
    /* Without `start` the same file counts from Monday 00:00: 14h is 14:00. */
    expect_failures(state,
                    "test \"night door\" {\n"
                    "    elder E1\n"
                    "    device D-1 door_sensor heartbeat 10m elder E1\n"
                    "    send D-1 at 14h: event door_open\n"
                    "    send D-1 at 22h: event door_open\n"
                    "    expect at 14h: night_door firing for E1\n"
                    "    expect at 22h: night_door fired 1 time\n"
                    "}\n",
                    "line 6, at 14h: expected night_door firing for E1, but no alert is live "
                    "(it never fired)",
                    NULL);
    /* `start` applies to the tests after it. */
    expect_pass(state,
                "test \"from midnight\" {\n"
                "    elder E1\n"
                "    device D-1 door_sensor elder E1\n"
                "    send D-1 at 23h: event door_open\n"
                "    expect at 23h: night_door firing\n"
                "}\n"
                "start 2026-11-30 12:00\n"
                "test \"from noon\" {\n"
                "    elder E1\n"
                "    device D-1 door_sensor elder E1\n"
                "    send D-1 at 9h: event door_open\n"
                "    send D-1 at 11h: event door_open\n"
                "    expect at 10h59m: night_door fired 0 times\n"
                "    expect at 11h: night_door fired 1 time\n"
                "}\n",
                2);
}

static void test_every_until(void **state)
{
    expect_pass(state,
                "test \"every, until included\" {\n"
                "    elder E1\n"
                "    device S-1 sos_button elder E1\n"
                "    send S-1 at 1m every 1m until 4m: event sos\n"
                "    send S-1 at 10m every 3m until 15m: event sos\n"
                "    expect at 59s: sos fired 0 times\n"
                "    expect at 1m: sos fired 1 time for E1\n"
                "    expect at 3m59s: sos fired 3 times for E1\n"
                "    expect at 4m: sos fired 4 times for E1\n"
                "    expect at 9m: sos fired 4 times for E1\n"
                "    expect at 13m: sos fired 6 times for E1\n"
                "    expect at 1h: sos fired 6 times for E1\n"
                "}\n"
                "test \"a message every 5 minutes keeps a device online\" {\n"
                "    elder E1\n"
                "    device S-1 sos_button heartbeat 5m elder E1\n"
                "    send S-1 at 0s every 5m until 1h30m: battery.pct 90\n"
                "    expect at 1h30m: no device_offline\n"
                "    expect at 1h44m: no device_offline\n"
                "    expect at 1h45m: device_offline firing for E1\n"
                "}\n",
                2);
}

/* ---- the simulation ------------------------------------------------------ */

struct opened {
    char what[16][200];
    size_t n;
};

static void on_sim_alert(void *arg, const struct sim_alert_event *ev)
{
    struct opened *o = arg;
    if (o->n < 16)
        snprintf(o->what[o->n++], sizeof o->what[0], "%s %s %s %lld",
                 ev->action == ALERT_ACT_OPEN ? "open" : ev->action == ALERT_ACT_CLEAR ? "clear"
                                                                                        : "repeat",
                 ev->alert->rule, ev->alert->device_id, (long long)ev->ev->at_ms);
}

static void test_sim_devices_seen_at_start(void **state)
{
    /* A replayed registry remembers when devices were last seen, at another
     * time than the one replayed: the simulation counts them as seen at its
     * start (sim.h), both the one seen long before and the one seen after. */
    const int64_t start = 1767542400000LL;
    struct registry reg = {0};
    static const char *const json[] = {
        "{\"id\":\"E1\",\"name\":\"n\",\"consent\":true,\"devices\":[{\"id\":\"S-1\","
        "\"kind\":\"sos_button\",\"heartbeat_s\":300,\"last_seen_ms\":1767369600000}]}",
        "{\"id\":\"E2\",\"name\":\"n\",\"consent\":true,\"devices\":[{\"id\":\"S-2\","
        "\"kind\":\"sos_button\",\"heartbeat_s\":300,\"last_seen_ms\":1768406400000}]}",
    };
    for (size_t i = 0; i < 2; i++) {
        struct reg_elder *e = NULL;
        assert_int_equal(reg_elder_from_json(json[i], strlen(json[i]), &e, NULL, 0), 0);
        assert_int_equal(reg_put(&reg, e), 0);
    }
    struct opened o = {0};
    struct sim *s = sim_new(&reg, *state, TZ, start, on_sim_alert, &o);
    assert_non_null(s);
    sim_advance(s, start + 14 * 60000);
    assert_int_equal(o.n, 0);
    sim_advance(s, start + 15 * 60000);
    assert_int_equal(o.n, 2);
    assert_true(strcmp(o.what[0], "open device_offline S-1 1767543300000") == 0 ||
                strcmp(o.what[1], "open device_offline S-1 1767543300000") == 0);
    assert_true(strcmp(o.what[0], "open device_offline S-2 1767543300000") == 0 ||
                strcmp(o.what[1], "open device_offline S-2 1767543300000") == 0);
    assert_int_equal(sim_now(s), start + 15 * 60000);
    int fired, cleared;
    sim_counts(s, "E1", "device_offline", &fired, &cleared);
    assert_int_equal(fired, 1);
    assert_int_equal(cleared, 0);

    /* A message brings S-1 back; time does not go backwards. */
    static const char payload[] = "{\"metrics\":{\"battery.pct\":90}}";
    static const char topic[] = "anxin/v1/S-1/telemetry";
    assert_int_equal(sim_message(s, topic, strlen(topic), payload, strlen(payload),
                                 start + 20 * 60000), TLM_OK);
    assert_int_equal(o.n, 3);
    assert_string_equal(o.what[2], "clear device_offline S-1 1767543600000");
    sim_advance(s, start);
    assert_int_equal(sim_now(s), start + 20 * 60000);
    struct sim_stats st;
    sim_get_stats(s, &st);
    assert_int_equal(st.messages, 1);
    assert_int_equal(st.opened, 2);
    assert_int_equal(st.cleared, 1);
    sim_free(s);
    reg_clear(&reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_passing_file),
        cmocka_unit_test(test_each_failure_text),
        cmocka_unit_test(test_failure_from_the_brief),
        cmocka_unit_test(test_sos_counts_and_no_alerts),
        cmocka_unit_test(test_failure_context),
        cmocka_unit_test(test_expects_nothing),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_start_places_during_and_on),
        cmocka_unit_test(test_every_until),
        cmocka_unit_test(test_sim_devices_seen_at_start),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
