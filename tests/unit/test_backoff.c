/* test_backoff.c - unit tests for retry delays (lib/backoff.c): exponential
 * growth, the cap, equal-jitter bounds, odd arguments, and Retry-After
 * parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>

#include "backoff.h"

/* base * 2^(attempt-1), capped, computed without overflow. */
static int64_t nominal(int attempt, int64_t base, int64_t max)
{
    int64_t d = base;
    for (int i = 1; i < attempt; i++) {
        if (d >= max)
            break;
        d = d > max / 2 ? max : d * 2;
    }
    return d < max ? d : max;
}

static uint32_t rng_state = 0x9E3779B9u;

static uint32_t rng(void)
{
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return rng_state = x;
}

static void test_bounds(void **state)
{
    (void)state;
    const int64_t base = 1000, max = 300000;

    for (int attempt = 1; attempt <= 20; attempt++) {
        int64_t d = nominal(attempt, base, max);
        int64_t lo = INT64_MAX, hi = 0;
        for (int k = 0; k < 5000; k++) {
            uint32_t r = k == 0 ? 0 : k == 1 ? UINT32_MAX : rng();
            int64_t v = backoff_delay_ms(attempt, base, max, r);
            assert_true(2 * v >= d);    /* v >= d/2 */
            assert_true(v <= d);
            if (v < lo)
                lo = v;
            if (v > hi)
                hi = v;
        }
        /* The jitter really spreads over the range. */
        assert_true(lo < d / 2 + d / 20 + 1);
        assert_true(hi > d - d / 20 - 1);
    }
}

static void test_exact_values(void **state)
{
    (void)state;
    /* rnd 0 gives the low end, rnd == d/2 the high end. */
    assert_int_equal(backoff_delay_ms(1, 1000, 300000, 0), 500);
    assert_int_equal(backoff_delay_ms(1, 1000, 300000, 500), 1000);
    assert_int_equal(backoff_delay_ms(1, 1000, 300000, 501), 500);   /* wraps modulo 501 */
    assert_int_equal(backoff_delay_ms(2, 1000, 300000, 0), 1000);
    assert_int_equal(backoff_delay_ms(2, 1000, 300000, 1000), 2000);
    assert_int_equal(backoff_delay_ms(3, 1000, 300000, 0), 2000);
    assert_int_equal(backoff_delay_ms(4, 1000, 300000, 4000), 8000);
    assert_int_equal(backoff_delay_ms(9, 1000, 300000, 128000), 256000);
    /* attempt 10 would be 512000: capped at 300000. */
    assert_int_equal(backoff_delay_ms(10, 1000, 300000, 0), 150000);
    assert_int_equal(backoff_delay_ms(10, 1000, 300000, 150000), 300000);
    assert_int_equal(backoff_delay_ms(20, 1000, 300000, 150000), 300000);
    /* Odd d: the fixed half rounds up, so the result never drops below d/2. */
    assert_int_equal(backoff_delay_ms(1, 7, 100, 0), 4);
    assert_int_equal(backoff_delay_ms(1, 7, 100, 3), 7);
    assert_int_equal(backoff_delay_ms(1, 1, 100, 0), 1);
    assert_int_equal(backoff_delay_ms(1, 1, 100, UINT32_MAX), 1);
}

static void test_cap(void **state)
{
    (void)state;
    for (int attempt = 1; attempt <= 200; attempt++)
        for (int k = 0; k < 50; k++)
            assert_true(backoff_delay_ms(attempt, 1000, 60000, rng()) <= 60000);
    /* Huge attempt numbers do not loop or overflow. */
    assert_int_equal(backoff_delay_ms(INT_MAX, 1000, 60000, 30000), 60000);
    assert_int_equal(backoff_delay_ms(INT_MAX, 1000, 60000, 0), 30000);
    /* Nor does a cap near the top of int64_t. */
    for (int attempt = 1; attempt <= 100; attempt++) {
        int64_t d = nominal(attempt, 1000, INT64_MAX);
        int64_t v = backoff_delay_ms(attempt, 1000, INT64_MAX, 0);
        assert_int_equal(v, d - d / 2);
        assert_true(v > 0);
    }
    assert_int_equal(backoff_delay_ms(100, 1000, INT64_MAX, 0), INT64_MAX - INT64_MAX / 2);
    /* A cap that is not base times a power of two is hit exactly. */
    assert_int_equal(backoff_delay_ms(3, 1000, 3500, 1750), 3500);
}

static void test_odd_arguments(void **state)
{
    (void)state;
    /* attempt < 1 counts as the first retry. */
    assert_int_equal(backoff_delay_ms(0, 1000, 300000, 500), 1000);
    assert_int_equal(backoff_delay_ms(-5, 1000, 300000, 0), 500);
    assert_int_equal(backoff_delay_ms(INT_MIN, 1000, 300000, 500), 1000);
    /* base < 1 becomes 1 ms. */
    assert_int_equal(backoff_delay_ms(1, 0, 100, 0), 1);
    assert_int_equal(backoff_delay_ms(1, -1000, 100, 12345), 1);
    assert_int_equal(backoff_delay_ms(3, 0, 100, 0), 2);        /* d = 4 */
    assert_int_equal(backoff_delay_ms(3, 0, 100, 2), 4);
    assert_int_equal(backoff_delay_ms(30, 0, 100, 50), 100);
    /* max < base: the cap is base. */
    assert_int_equal(backoff_delay_ms(1, 1000, 10, 0), 500);
    assert_int_equal(backoff_delay_ms(5, 1000, 10, 500), 1000);
    assert_int_equal(backoff_delay_ms(5, 1000, -1, 500), 1000);
    for (int k = 0; k < 1000; k++) {
        int64_t v = backoff_delay_ms(k % 30, 1000, 0, rng());
        assert_true(v >= 500 && v <= 1000);
    }
    /* Both bad. */
    assert_int_equal(backoff_delay_ms(4, 0, 0, 0), 1);
}

static void test_retry_after(void **state)
{
    (void)state;
    assert_int_equal(backoff_retry_after_ms("120"), 120000);
    assert_int_equal(backoff_retry_after_ms("0"), 0);
    assert_int_equal(backoff_retry_after_ms("1"), 1000);
    assert_int_equal(backoff_retry_after_ms(" 5 "), 5000);
    assert_int_equal(backoff_retry_after_ms("\t7\r\n"), 7000);
    assert_int_equal(backoff_retry_after_ms("007"), 7000);
    assert_int_equal(backoff_retry_after_ms("86400"), 86400000);     /* a day: still followed */

    assert_int_equal(backoff_retry_after_ms(NULL), -1);
    assert_int_equal(backoff_retry_after_ms(""), -1);
    assert_int_equal(backoff_retry_after_ms("   "), -1);
    assert_int_equal(backoff_retry_after_ms("abc"), -1);
    assert_int_equal(backoff_retry_after_ms("12abc"), -1);
    assert_int_equal(backoff_retry_after_ms("5s"), -1);
    assert_int_equal(backoff_retry_after_ms("1.5"), -1);
    assert_int_equal(backoff_retry_after_ms("-5"), -1);
    assert_int_equal(backoff_retry_after_ms("+5"), -1);
    assert_int_equal(backoff_retry_after_ms("1 2"), -1);
    assert_int_equal(backoff_retry_after_ms("0x10"), -1);
    assert_int_equal(backoff_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT"), -1);
    assert_int_equal(backoff_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT"), -1);
    /* Over a day, including values that would overflow a naive parser. */
    assert_int_equal(backoff_retry_after_ms("86401"), -1);
    assert_int_equal(backoff_retry_after_ms("1000000"), -1);
    assert_int_equal(backoff_retry_after_ms("99999999999999999999999999999"), -1);
    assert_int_equal(backoff_retry_after_ms("18446744073709551617"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_exact_values),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_odd_arguments),
        cmocka_unit_test(test_retry_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
