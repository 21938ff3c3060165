/* test_civil.c - unit tests for calendar arithmetic (lib/civil.c): known
 * dates both ways, leap years and centuries, days before 1970, the strict
 * "YYYY-MM-DD HH:MM:SS" reader with offsets, and the writer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "civil.h"
#include "err.h"

struct known {
    int64_t days;
    int64_t y;
    unsigned m, d;
};

/* Day numbers as Python's date.toordinal() - 719163 gives them. */
static const struct known KNOWN[] = {
    {0, 1970, 1, 1},
    {-1, 1969, 12, 31},
    {31, 1970, 2, 1},
    {59, 1970, 3, 1},               /* 1970 is not a leap year */
    {365, 1971, 1, 1},
    {789, 1972, 2, 29},             /* the first leap day after the epoch */
    {10957, 2000, 1, 1},
    {11016, 2000, 2, 29},           /* 2000: divisible by 400, a leap year */
    {11017, 2000, 3, 1},
    {19782, 2024, 2, 29},
    {19783, 2024, 3, 1},
    {47540, 2100, 2, 28},
    {47541, 2100, 3, 1},            /* 2100: divisible by 100, not a leap year */
    {2932896, 9999, 12, 31},
    {-25567, 1900, 1, 1},
    {-25508, 1900, 3, 1},           /* 1900: no leap day either */
    {-135140, 1600, 1, 1},
    {-719468, 0, 3, 1},             /* the start of Hinnant's first era */
    {-719528, 0, 1, 1},
    {-719529, -1, 12, 31},          /* before year 0: the era arithmetic floors */
    {-719834, -1, 3, 1},
};

static void test_days_from_date(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++)
        assert_int_equal(civil_days_from_date(KNOWN[i].y, KNOWN[i].m, KNOWN[i].d),
                         KNOWN[i].days);
    /* A day past the end of its month counts on. */
    assert_int_equal(civil_days_from_date(2023, 2, 29), civil_days_from_date(2023, 3, 1));
}

static void test_date_from_days(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++) {
        int64_t y = 12345;
        unsigned m = 99, d = 99;
        civil_date_from_days(KNOWN[i].days, &y, &m, &d);
        assert_int_equal(y, KNOWN[i].y);
        assert_int_equal(m, KNOWN[i].m);
        assert_int_equal(d, KNOWN[i].d);
    }
}

/* Both directions agree on every day of four centuries around the epoch,
 * and consecutive day numbers are consecutive dates. */
static void test_round_trip(void **state)
{
    (void)state;
    int64_t py = 0;
    unsigned pm = 0, pd = 0;
    for (int64_t z = -146097 * 2; z <= 146097 * 2; z++) {
        int64_t y;
        unsigned m, d;
        civil_date_from_days(z, &y, &m, &d);
        assert_true(m >= 1 && m <= 12 && d >= 1 && d <= 31);
        assert_int_equal(civil_days_from_date(y, m, d), z);
        if (z > -146097 * 2) {
            bool next_day = y == py && m == pm && d == pd + 1;
            bool next_month = y == py && m == pm + 1 && d == 1;
            bool next_year = y == py + 1 && m == 1 && d == 1 && pm == 12 && pd == 31;
            assert_true(next_day || next_month || next_year);
        }
        py = y;
        pm = m;
        pd = d;
    }
}

static void test_parse_local(void **state)
{
    (void)state;
    assert_int_equal(civil_parse_local("1970-01-01 00:00:00", 0), 0);
    assert_int_equal(civil_parse_local("1970-01-01 08:00:00", 480), 0);
    assert_int_equal(civil_parse_local("2000-03-01 00:00:00", 0), INT64_C(951868800000));
    assert_int_equal(civil_parse_local("2024-02-29 23:59:59", 480), INT64_C(1709222399000));
    assert_int_equal(civil_parse_local("2100-03-01 00:00:00", 0), INT64_C(4107542400000));
    assert_int_equal(civil_parse_local("2015-10-17 08:03:04", 480), INT64_C(1445040184000));
    assert_int_equal(civil_parse_local("2024-05-29 07:34:56", -300), INT64_C(1716986096000));
    assert_int_equal(civil_parse_local("9999-12-31 23:59:59", 0), INT64_C(253402300799000));
    /* Before the epoch: negative, whole seconds (never -1). */
    assert_int_equal(civil_parse_local("1969-12-31 23:59:59", 0), -1000);
    assert_int_equal(civil_parse_local("1970-01-01 07:59:59", 480), -1000);
    assert_int_equal(civil_parse_local("0000-03-01 00:00:00", 0), INT64_C(-719468) * 86400000);
    /* A leap second is the next minute's first second. */
    assert_int_equal(civil_parse_local("2016-12-31 23:59:60", 0),
                     civil_parse_local("2017-01-01 00:00:00", 0));
}

static void test_parse_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "yesterday", "2015-10-17", "2015-10-17 08:03",
        "2015-10-17T08:03:04",          /* ISO 8601's T */
        "2015-10-17 08:03:04Z",         /* a zone: not ours to read */
        "2015-10-17 08:03:04 ",
        " 2015-10-17 08:03:04",
        "2015-1-17 08:03:04 ",          /* fields must have all their digits */
        "2015-10-7 08:03:04",
        "15-10-17 08:03:04",
        "+015-10-17 08:03:04",          /* signs and spaces that sscanf would take */
        "2015-+1-17 08:03:04",
        "2015-10- 7 08:03:04",
        "2015-10-17 -8:03:04",
        "2015/10/17 08:03:04",
        "2015-10-17 08.03.04",
        "２015-10-17 08:03:04",         /* full-width digit */
        "2015-00-17 08:03:04",          /* month 0 */
        "2015-13-01 00:00:00",
        "2015-10-00 00:00:00",          /* day 0 */
        "2015-10-32 00:00:00",
        "2015-04-31 00:00:00",          /* April has 30 days */
        "2015-02-29 08:00:00",          /* 2015 is not a leap year */
        "2100-02-29 00:00:00",          /* nor is 2100 */
        "2015-10-17 24:00:00",
        "2015-10-17 23:60:00",
        "2015-10-17 23:59:61",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (civil_parse_local(bad[i], 480) != -1)
            fail_msg("took \"%s\"", bad[i]);
    }
    assert_int_equal(civil_parse_local(NULL, 0), -1);
    /* Leap days that are real. */
    assert_true(civil_parse_local("2000-02-29 00:00:00", 0) > 0);
    assert_true(civil_parse_local("2024-02-29 00:00:00", 0) > 0);
}

static void expect_format(int64_t ms, int offset, int rc, const char *want)
{
    char out[CIVIL_TIME_LEN + 4];
    memset(out, 'x', sizeof out);
    assert_int_equal(civil_format(ms, offset, out), rc);
    assert_string_equal(out, want);
    assert_int_equal(out[CIVIL_TIME_LEN], 'x');
}

static void test_format(void **state)
{
    (void)state;
    expect_format(0, 0, 0, "1970-01-01 00:00:00");
    expect_format(0, 480, 0, "1970-01-01 08:00:00");
    expect_format(INT64_C(951868800000), 0, 0, "2000-03-01 00:00:00");
    expect_format(INT64_C(1709222399999), 480, 0, "2024-02-29 23:59:59");   /* ms dropped */
    expect_format(INT64_C(4107542400000), 0, 0, "2100-03-01 00:00:00");
    expect_format(INT64_C(253402300799000), 0, 0, "9999-12-31 23:59:59");
    /* Before the epoch, seconds round down. */
    expect_format(-1, 0, 0, "1969-12-31 23:59:59");
    expect_format(-1001, 0, 0, "1969-12-31 23:59:58");
    expect_format(-1, 480, 0, "1970-01-01 07:59:59");
    expect_format(INT64_C(-719468) * 86400000, 0, 0, "0000-03-01 00:00:00");
    /* Years with more than four digits, or before year 0, wrap and say so. */
    expect_format(INT64_C(253402300800000), 0, ANX_ERANGE, "0000-01-01 00:00:00");
    expect_format(INT64_C(-719529) * 86400000, 0, ANX_ERANGE, "9999-12-31 00:00:00");

    /* What civil_format writes, civil_parse_local reads back. */
    for (int64_t ms = -INT64_C(86400000) * 800; ms < INT64_C(4200000000000);
         ms += INT64_C(86400000) * 37 + 3723000) {
        char out[CIVIL_TIME_LEN];
        assert_int_equal(civil_format(ms, 480, out), 0);
        assert_int_equal(civil_parse_local(out, 480), ms);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_days_from_date),
        cmocka_unit_test(test_date_from_days),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_parse_local),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
