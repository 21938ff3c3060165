/* test_report.c - unit tests for the response-time report (lib/report.c):
 * months and days in local time at several offsets, rows as libpq hands
 * them, the target decision at its exact boundary, shares rounded down,
 * durations for people, and the Prometheus text with escaped labels. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "err.h"
#include "report.h"

/* Expected instants computed with Python's datetime for the same local times. */
static void test_month(void **state)
{
    (void)state;
    int64_t from, to;
    assert_int_equal(report_month("2026-03", 480, &from, &to), 0);
    assert_int_equal(from, INT64_C(1772294400000));     /* 2026-03-01 00:00 +08:00 */
    assert_int_equal(to, INT64_C(1774972800000));       /* 2026-04-01 00:00 +08:00 */
    assert_int_equal(report_month("2026-12", 480, &from, &to), 0);
    assert_int_equal(from, INT64_C(1796054400000));
    assert_int_equal(to, INT64_C(1798732800000));       /* into the next year */
    assert_int_equal(report_month("2026-03", -300, &from, &to), 0);
    assert_int_equal(from, INT64_C(1772341200000));
    assert_int_equal(to, INT64_C(1775019600000));
    static const char *const bad[] = {"2026-3", "2026-13", "2026-00", "abcd-ef", "2026-03-01",
                                      "", "2026/03", " 2026-03"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(report_month(bad[i], 480, &from, &to), ANX_EINVAL);
    assert_int_equal(report_month(NULL, 480, &from, &to), ANX_EINVAL);
}

static void test_day(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(report_day("2024-02-29", 480, &ms), 0);
    assert_int_equal(ms, INT64_C(1709136000000));
    assert_int_equal(report_day("2026-02-29", 480, &ms), ANX_EINVAL);   /* not a leap year */
    assert_int_equal(report_day("2026-04-31", 480, &ms), ANX_EINVAL);
    assert_int_equal(report_day("2026-4-01", 480, &ms), ANX_EINVAL);
    assert_int_equal(report_day("2026-04-011", 480, &ms), ANX_EINVAL);
    assert_int_equal(report_day("2026-03", 480, &ms), ANX_EINVAL);
}

static void test_month_of(void **state)
{
    (void)state;
    int64_t from, to;
    /* 2026-03-31 16:30 UTC is already April in China, still March in UTC. */
    report_month_of(INT64_C(1774974600000), 480, &from, &to);
    assert_int_equal(from, INT64_C(1774972800000));
    assert_int_equal(to, INT64_C(1777564800000));
    report_month_of(INT64_C(1774974600000), 0, &from, &to);
    assert_int_equal(from, INT64_C(1772323200000));
    assert_int_equal(to, INT64_C(1775001600000));
    /* 2026-04-01 03:00 UTC is still March at -05:00. */
    report_month_of(INT64_C(1775012400000), -300, &from, &to);
    assert_int_equal(from, INT64_C(1772341200000));
    /* The first instant of a month is in it, the last before it is not. */
    report_month_of(INT64_C(1774972800000), 480, &from, &to);
    assert_int_equal(from, INT64_C(1774972800000));
    report_month_of(INT64_C(1774972799999), 480, &from, &to);
    assert_int_equal(to, INT64_C(1774972800000));
    /* Before the epoch the day is floored, not truncated toward zero. */
    report_month_of(INT64_C(-3600000), 0, &from, &to);
    assert_int_equal(from, INT64_C(-2678400000));
    assert_int_equal(to, 0);
}

static const char *const GOOD[REPORT_NCOLS] = {
    "2026-03", "城关镇", "f", "40", "2", "1.5", "4.25", "30", "70", "600", "3600",
    "40", "39", "40", "40"};

static void test_row_parse(void **state)
{
    (void)state;
    struct report_row r;
    assert_int_equal(report_row_parse(&r, GOOD), 0);
    assert_string_equal(r.month, "2026-03");
    assert_string_equal(r.township, "城关镇");
    assert_false(r.total);
    assert_int_equal(r.alerts, 40);
    assert_int_equal(r.silenced, 2);
    assert_true(r.times[REPORT_NOTIFY][0] == 1.5);
    assert_true(r.times[REPORT_NOTIFY][1] == 4.25);
    assert_true(r.times[REPORT_ACK][1] == 70);
    assert_true(r.times[REPORT_RESOLVE][1] == 3600);
    assert_int_equal(r.needed[0], 40);
    assert_int_equal(r.within[0], 39);
    assert_int_equal(r.within[1], 40);

    /* A total row has no township; SQL NULL times are NAN. */
    const char *v[REPORT_NCOLS];
    memcpy(v, GOOD, sizeof v);
    v[REPORT_C_TOWNSHIP] = NULL;
    v[REPORT_C_TOTAL] = "t";
    v[REPORT_C_TIMES + 2 * REPORT_RESOLVE] = NULL;
    assert_int_equal(report_row_parse(&r, v), 0);
    assert_true(r.total);
    assert_null(r.township);
    assert_true(isnan(r.times[REPORT_RESOLVE][0]));

    struct { int col; const char *val; } bad[] = {
        {REPORT_C_TOWNSHIP, NULL},          /* a township row needs its township */
        {REPORT_C_TOTAL, "x"},
        {REPORT_C_MONTH, NULL},
        {REPORT_C_ALERTS, "4O"},
        {REPORT_C_ALERTS, ""},
        {REPORT_C_ALERTS, NULL},
        {REPORT_C_TIMES, "fast"},
        {REPORT_C_LIMITS + 1, "41"},        /* more within 60 s than needed */
        {REPORT_C_LIMITS + 3, "-1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(v, GOOD, sizeof v);
        v[bad[i].col] = bad[i].val;
        assert_int_equal(report_row_parse(&r, v), ANX_EPARSE);
    }
}

static struct report_row shares(int64_t within60, int64_t needed60, int64_t within180,
                                int64_t needed180)
{
    struct report_row r = {.month = "2026-03", .township = "x"};
    r.within[0] = within60;
    r.needed[0] = needed60;
    r.within[1] = within180;
    r.needed[1] = needed180;
    return r;
}

static void test_met_and_share(void **state)
{
    (void)state;
    char pct[REPORT_PCT_LEN];
    struct report_row r = shares(39, 40, 99, 100);
    assert_true(report_met(&r, 0));         /* exactly 97.5% */
    assert_true(report_met(&r, 1));         /* exactly 99% */
    report_format_share(&r, 0, pct);
    assert_string_equal(pct, "97.5%");
    r = shares(38, 40, 989, 1000);
    assert_false(report_met(&r, 0));        /* 95% */
    assert_false(report_met(&r, 1));        /* 98.9% */
    report_format_share(&r, 0, pct);
    assert_string_equal(pct, "95.0%");
    report_format_share(&r, 1, pct);
    assert_string_equal(pct, "98.9%");
    /* 97.45% is shown as 97.4%, never as a 97.5% that missed. */
    r = shares(1949, 2000, 1, 3);
    assert_false(report_met(&r, 0));
    report_format_share(&r, 0, pct);
    assert_string_equal(pct, "97.4%");
    report_format_share(&r, 1, pct);
    assert_string_equal(pct, "33.3%");
    r = shares(2, 3, 40, 40);
    report_format_share(&r, 0, pct);
    assert_string_equal(pct, "66.6%");
    report_format_share(&r, 1, pct);
    assert_string_equal(pct, "100.0%");
    assert_true(report_share(&r, 1) == 1.0);
    /* Nothing needed an answer: no share, nothing met. */
    r = shares(0, 0, 0, 0);
    assert_false(report_met(&r, 0));
    assert_true(isnan(report_share(&r, 0)));
    report_format_share(&r, 0, pct);
    assert_string_equal(pct, "-");
}

static void test_duration(void **state)
{
    (void)state;
    static const struct { double s; const char *want; } cases[] = {
        {0, "0.0s"}, {2.55, "2.5s"}, {9.99, "9.9s"}, {10, "10s"}, {59.9, "59s"},
        {60, "1m00s"}, {185, "3m05s"}, {3599, "59m59s"}, {3600, "1h00m"}, {7500, "2h05m"},
        {86400 * 3 + 3600 * 4 + 59, "3d04h"},
    };
    char out[REPORT_DURATION_LEN];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        report_format_duration(cases[i].s, out);
        assert_string_equal(out, cases[i].want);
    }
    report_format_duration(NAN, out);
    assert_string_equal(out, "-");
}

static void test_prom_label(void **state)
{
    (void)state;
    struct sbuf b = {0};
    report_prom_label(&b, "a\"b\\c\nd 镇");
    assert_string_equal(b.p, "a\\\"b\\\\c\\nd 镇");
    sbuf_free(&b);
}

static void test_prometheus(void **state)
{
    (void)state;
    struct report_row rows[3] = {
        {.month = "2026-03", .township = "", .alerts = 1,
         .times = {{NAN, NAN}, {NAN, NAN}, {NAN, NAN}}, .needed = {0, 0}},
        {.month = "2026-03", .township = "城\"关\\镇\n", .alerts = 3, .silenced = 1,
         .times = {{2.5, 4}, {12.5, 70}, {NAN, NAN}}, .needed = {3, 3}, .within = {2, 3}},
        {.month = "2026-03", .total = true, .alerts = 4, .silenced = 1,
         .times = {{2.5, 4}, {12.5, 70}, {NAN, NAN}}, .needed = {40, 40}, .within = {39, 40}},
    };
    struct sbuf b = {0};
    report_prometheus(&b, rows, 3, INT64_C(1774972800123));
    assert_false(b.oom);
    static const char *const want[] = {
        "# TYPE anxin_kpi_alerts gauge\n",
        "\nanxin_kpi_alerts{township=\"(none)\"} 1\n",
        "\nanxin_kpi_alerts{township=\"城\\\"关\\\\镇\\n\"} 3\n",
        "\nanxin_kpi_alerts 4\n",
        "\nanxin_kpi_alerts_silenced 1\n",
        "\nanxin_kpi_time_to_notify_seconds{township=\"城\\\"关\\\\镇\\n\",quantile=\"0.5\"} 2.5\n",
        "\nanxin_kpi_time_to_ack_seconds{quantile=\"0.95\"} 70\n",
        "\nanxin_kpi_ack_needed_alerts{seconds=\"180\"} 40\n",
        "\nanxin_kpi_ack_within_alerts{township=\"城\\\"关\\\\镇\\n\",seconds=\"60\"} 2\n",
        "\nanxin_kpi_ack_within_ratio{township=\"城\\\"关\\\\镇\\n\",seconds=\"60\"} 0.6666666667\n",
        "\nanxin_kpi_ack_within_ratio{seconds=\"60\"} 0.975\n",
        "\nanxin_kpi_ack_within_ratio{seconds=\"180\"} 1\n",
        "\nanxin_kpi_ack_target_ratio{seconds=\"60\"} 0.975\n",
        "\nanxin_kpi_ack_target_ratio{seconds=\"180\"} 0.99\n",
        "\nanxin_kpi_refreshed_timestamp_seconds 1774972800.123\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(b.p, want[i]))
            fail_msg("missing %s in:\n%s", want[i], b.p);
    }
    /* Figures that do not exist are left out, not written as NaN or 0. */
    assert_null(strstr(b.p, "NaN"));
    assert_null(strstr(b.p, "nan"));
    assert_null(strstr(b.p, "anxin_kpi_time_to_resolve_seconds{"));
    assert_null(strstr(b.p, "anxin_kpi_ack_within_ratio{township=\"(none)\""));
    sbuf_free(&b);

    /* A month without alerts still says so. */
    report_prometheus(&b, NULL, 0, 0);
    assert_non_null(strstr(b.p, "\nanxin_kpi_alerts 0\n"));
    sbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_month),
        cmocka_unit_test(test_day),
        cmocka_unit_test(test_month_of),
        cmocka_unit_test(test_row_parse),
        cmocka_unit_test(test_met_and_share),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_prom_label),
        cmocka_unit_test(test_prometheus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
