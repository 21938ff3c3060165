/* test_window.c - unit tests for sliding time windows (lib/window.c): values
 * leaving at bucket edges, every aggregate, "not watched long enough", empty
 * windows, late and too-old values, clock jumps, next-change times, snapshot
 * encoding, a randomized comparison with a brute-force reference, and a
 * micro-benchmark (printed, not asserted). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "rng.h"
#include "window.h"

#define H12 (12 * 3600 * 1000LL)    /* 43 200 000 ms */
#define B12 (H12 / 48)              /* 900 000 ms = 15 min */
#define T0 1700000000000LL          /* a realistic start, ms since the epoch */

static const enum win_agg all_aggs[] = { WIN_SUM, WIN_COUNT, WIN_AVG, WIN_MIN, WIN_MAX };

/* The value of agg at now, which must exist. */
static double val(struct win *w, int64_t now, enum win_agg agg)
{
    double x = -12345.0;
    int rc = win_value(w, now, agg, &x);
    if (rc != 0)
        fail_msg("win_value(now=%lld, agg=%d) = %d", (long long)now, (int)agg, rc);
    return x;
}

static int rc_of(struct win *w, int64_t now, enum win_agg agg)
{
    double x = -12345.0;
    int rc = win_value(w, now, agg, &x);
    if (rc != 0)
        assert_true(x == -12345.0);     /* untouched on error */
    return rc;
}

static void test_new_and_sizes(void **state)
{
    (void)state;
    assert_null(win_new(47, WIN_SUM, 0));
    assert_null(win_new(0, WIN_SUM, 0));
    assert_null(win_new(-H12, WIN_SUM, 0));
    assert_null(win_new(WIN_WIDTH_MAX + 1, WIN_SUM, 0));
    assert_null(win_new(H12, 0, 0));
    assert_null(win_new(H12, 16, 0));
    assert_null(win_new(H12, WIN_SUM | 32, 0));
    assert_null(win_new(H12, WIN_SUM, WIN_TIME_MAX + 1));
    assert_null(win_new(H12, WIN_SUM, -WIN_TIME_MAX - 1));

    struct win *w = win_new(48, WIN_SUM, 0);
    assert_non_null(w);
    assert_int_equal(win_width(w), 48);
    assert_int_equal(win_aggs(w), WIN_SUM);
    win_free(w);
    w = win_new(WIN_WIDTH_MAX, WIN_AGG_ALL, -WIN_TIME_MAX);
    assert_non_null(w);
    assert_int_equal(win_width(w), WIN_WIDTH_MAX);
    assert_int_equal(win_aggs(w), WIN_AGG_ALL);
    win_free(w);
    w = win_new(1001, WIN_AVG, T0);     /* not a multiple of 48 */
    assert_non_null(w);
    assert_int_equal(win_width(w), 1001);
    assert_int_equal(win_aggs(w), WIN_SUM | WIN_COUNT);
    win_free(w);
    win_free(NULL);

    /* 16-byte header plus 49 floats per stored aggregate. */
    assert_int_equal(win_mem_size(WIN_SUM), 16 + 49 * 4);
    assert_int_equal(win_mem_size(WIN_AVG), 16 + 2 * 49 * 4);
    assert_int_equal(win_mem_size(WIN_AGG_ALL), 16 + 4 * 49 * 4);
    assert_int_equal(win_mem_size(0), 0);
    assert_int_equal(win_mem_size(16), 0);
    printf("window: %zu bytes for {sum}, %zu for {sum,count}, %zu for {sum,count,min,max}\n",
           win_mem_size(WIN_SUM), win_mem_size(WIN_AVG), win_mem_size(WIN_AGG_ALL));
}

/* "sum(water.flow_l) over 12h": values leave exactly W after the end of
 * their 15-minute bucket. */
static void test_sum_bucket_edges(void **state)
{
    (void)state;
    struct win *w = win_new(H12, WIN_SUM | WIN_COUNT, T0);
    assert_non_null(w);
    assert_int_equal(win_add(w, T0, 1.0), 0);                   /* bucket 0 */
    assert_int_equal(win_add(w, T0 + B12 - 1, 0.5), 0);         /* bucket 0, last ms */
    assert_int_equal(win_add(w, T0 + B12, 2.0), 0);             /* bucket 1 */
    assert_int_equal(win_add(w, T0 + 5 * B12 + 123, 4.0), 0);   /* bucket 5 */
    assert_int_equal(win_add(w, T0 + 47 * B12 + 7, 8.0), 0);    /* bucket 47 */

    assert_int_equal(rc_of(w, T0 + H12 - 1, WIN_SUM), ANX_EAGAIN);
    assert_true(val(w, T0 + H12, WIN_SUM) == 15.5);
    assert_true(val(w, T0 + H12, WIN_COUNT) == 5);
    assert_true(val(w, T0 + H12 + B12 - 1, WIN_SUM) == 15.5);
    assert_true(val(w, T0 + H12 + B12, WIN_SUM) == 14.0);       /* bucket 0 gone */
    assert_true(val(w, T0 + H12 + B12, WIN_COUNT) == 3);
    assert_true(val(w, T0 + H12 + 2 * B12 - 1, WIN_SUM) == 14.0);
    assert_true(val(w, T0 + H12 + 2 * B12, WIN_SUM) == 12.0);   /* bucket 1 gone */
    assert_true(val(w, T0 + H12 + 6 * B12 - 1, WIN_SUM) == 12.0);
    assert_true(val(w, T0 + H12 + 6 * B12, WIN_SUM) == 8.0);    /* bucket 5 gone */
    assert_true(val(w, T0 + H12 + 48 * B12 - 1, WIN_SUM) == 8.0);
    assert_true(val(w, T0 + H12 + 48 * B12, WIN_SUM) == 0.0);   /* bucket 47 gone */
    assert_true(val(w, T0 + H12 + 48 * B12, WIN_COUNT) == 0.0);
    assert_true(val(w, T0 + 10 * H12, WIN_SUM) == 0.0);
    win_free(w);

    /* A width that is not a multiple of 48: buckets of ceil(1000/48) = 21 ms. */
    w = win_new(1000, WIN_SUM, 0);
    assert_non_null(w);
    assert_int_equal(win_add(w, 0, 1.0), 0);
    assert_int_equal(win_add(w, 20, 2.0), 0);       /* bucket 0 = [0, 21) */
    assert_int_equal(win_add(w, 21, 4.0), 0);       /* bucket 1 */
    assert_int_equal(rc_of(w, 999, WIN_SUM), ANX_EAGAIN);
    assert_true(val(w, 1000, WIN_SUM) == 7.0);
    assert_true(val(w, 1020, WIN_SUM) == 7.0);      /* 1020 - 1000 = 20, still in bucket 0 */
    assert_true(val(w, 1021, WIN_SUM) == 4.0);
    assert_true(val(w, 1041, WIN_SUM) == 4.0);
    assert_true(val(w, 1042, WIN_SUM) == 0.0);
    win_free(w);
}

static void test_min_max_avg_count(void **state)
{
    (void)state;
    struct win *w = win_new(H12, WIN_AGG_ALL, 0);
    assert_non_null(w);
    /* Empty but watched long enough: sum and count 0, the others absent. */
    assert_true(val(w, H12, WIN_SUM) == 0.0);
    assert_true(val(w, H12, WIN_COUNT) == 0.0);
    assert_int_equal(rc_of(w, H12, WIN_MIN), ANX_ENOENT);
    assert_int_equal(rc_of(w, H12, WIN_MAX), ANX_ENOENT);
    assert_int_equal(rc_of(w, H12, WIN_AVG), ANX_ENOENT);

    int64_t t = H12;
    const double vals[] = { 72, 130.5, 64, -3.25, 99, 72 };
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(win_add(w, t + (int64_t)i * 1000000, vals[i]), 0);
    int64_t now = t + 6000000;
    assert_true(val(w, now, WIN_SUM) == 434.25);
    assert_true(val(w, now, WIN_COUNT) == 6.0);
    assert_true(val(w, now, WIN_MIN) == -3.25);
    assert_true(val(w, now, WIN_MAX) == 130.5);
    assert_true(val(w, now, WIN_AVG) == 434.25 / 6);

    /* Values are kept as floats. */
    assert_int_equal(win_add(w, now, 0.1), 0);
    assert_true(val(w, now, WIN_MIN) == -3.25);
    assert_int_equal(win_add(w, now, -0.1), 0);
    assert_true(val(w, now, WIN_MIN) == -3.25);
    assert_int_equal(win_add(w, now, 1e-3), 0);
    assert_true(val(w, now, WIN_COUNT) == 9.0);
    assert_int_equal(win_add(w, now, -1000), 0);
    assert_true(val(w, now, WIN_MIN) == -1000.0);
    assert_int_equal(win_add(w, now, 0.3), 0);
    assert_int_equal(win_add(w, now, 1000.7), 0);
    assert_true(val(w, now, WIN_MAX) == (double)1000.7f);

    /* Once every value has left: back to empty. */
    assert_true(val(w, now + 2 * H12, WIN_SUM) == 0.0);
    assert_true(val(w, now + 2 * H12, WIN_COUNT) == 0.0);
    assert_int_equal(rc_of(w, now + 2 * H12, WIN_MIN), ANX_ENOENT);
    assert_int_equal(rc_of(w, now + 2 * H12, WIN_MAX), ANX_ENOENT);
    assert_int_equal(rc_of(w, now + 2 * H12, WIN_AVG), ANX_ENOENT);
    win_free(w);

    /* Min alone (no count to tell empty buckets): still ENOENT when empty. */
    w = win_new(4800, WIN_MIN, 0);
    assert_non_null(w);
    assert_int_equal(rc_of(w, 4800, WIN_MIN), ANX_ENOENT);
    assert_int_equal(win_add(w, 4800, 5), 0);
    assert_int_equal(win_add(w, 4900, 7), 0);
    assert_true(val(w, 4900, WIN_MIN) == 5.0);
    assert_true(val(w, 4800 + 4800 + 99, WIN_MIN) == 5.0);
    assert_true(val(w, 4800 + 4800 + 100, WIN_MIN) == 7.0);
    assert_int_equal(rc_of(w, 4800 + 4800 + 200, WIN_MIN), ANX_ENOENT);
    /* Aggregates the window does not keep, and nonsense. */
    assert_int_equal(rc_of(w, 9999, WIN_SUM), ANX_EINVAL);
    assert_int_equal(rc_of(w, 9999, WIN_MAX), ANX_EINVAL);
    assert_int_equal(rc_of(w, 9999, WIN_AVG), ANX_EINVAL);
    assert_int_equal(rc_of(w, 9999, (enum win_agg)5), ANX_EINVAL);
    assert_int_equal(rc_of(w, 9999, (enum win_agg)0), ANX_EINVAL);
    assert_int_equal(rc_of(w, WIN_TIME_MAX + 1, WIN_MIN), ANX_EINVAL);
    win_free(w);

    w = win_new(4800, WIN_MAX, 0);
    assert_non_null(w);
    assert_int_equal(win_add(w, 0, -5), 0);
    assert_int_equal(win_add(w, 0, -7), 0);
    assert_true(val(w, 4800, WIN_MAX) == -5.0);
    assert_int_equal(rc_of(w, 4900, WIN_MAX), ANX_ENOENT);
    win_free(w);
}

/* A meter installed an hour ago must not make "less than 10 L over 12 h"
 * true: no value until the whole width has been watched. */
static void test_not_watched_long_enough(void **state)
{
    (void)state;
    struct win *w = win_new(H12, WIN_AGG_ALL, T0);
    assert_non_null(w);
    assert_int_equal(win_add(w, T0 + 3600000, 2.5), 0);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(rc_of(w, T0 - 1000, all_aggs[i]), ANX_EAGAIN);
        assert_int_equal(rc_of(w, T0, all_aggs[i]), ANX_EAGAIN);
        assert_int_equal(rc_of(w, T0 + 3600000, all_aggs[i]), ANX_EAGAIN);
        assert_int_equal(rc_of(w, T0 + H12 - 1, all_aggs[i]), ANX_EAGAIN);
    }
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(rc_of(w, T0 + H12, all_aggs[i]), 0);
    assert_true(val(w, T0 + H12, WIN_SUM) == 2.5);

    /* A restart forgets everything and waits a whole width again. */
    win_restart(w, T0 + 2 * H12);
    assert_int_equal(rc_of(w, T0 + 3 * H12 - 1, WIN_SUM), ANX_EAGAIN);
    assert_true(val(w, T0 + 3 * H12, WIN_SUM) == 0.0);
    assert_int_equal(rc_of(w, T0 + 3 * H12, WIN_MIN), ANX_ENOENT);
    /* Values from before the restart are refused. */
    assert_int_equal(win_add(w, T0 + 2 * H12 - 1, 1.0), ANX_ERANGE);
    assert_int_equal(win_add(w, T0 + 3 * H12, 1.0), 0);
    assert_true(val(w, T0 + 3 * H12, WIN_COUNT) == 1.0);
    win_free(w);
}

static void test_late_and_old_values(void **state)
{
    (void)state;
    struct win *w = win_new(H12, WIN_SUM | WIN_COUNT, 0);
    assert_non_null(w);
    assert_int_equal(win_add(w, -1, 1.0), ANX_ERANGE);          /* before watching */
    assert_int_equal(win_add(w, 20 * B12, 1.0), 0);
    assert_int_equal(win_add(w, 10 * B12, 2.0), 0);             /* late, still inside */
    assert_int_equal(win_add(w, 0, 4.0), 0);                    /* late, bucket 0 */
    assert_true(val(w, H12, WIN_SUM) == 7.0);
    assert_true(val(w, H12 + B12, WIN_SUM) == 3.0);
    assert_true(val(w, H12 + 11 * B12, WIN_SUM) == 1.0);

    /* At 60 buckets the ring holds buckets 12..60: bucket 11 is too old. */
    assert_int_equal(win_add(w, 60 * B12, 8.0), 0);
    assert_int_equal(win_add(w, 12 * B12 - 1, 16.0), ANX_ERANGE);
    assert_int_equal(win_add(w, 12 * B12, 32.0), 0);
    assert_true(val(w, 60 * B12, WIN_SUM) == 41.0);
    assert_true(val(w, 60 * B12, WIN_COUNT) == 3.0);

    /* Refused values. */
    assert_int_equal(win_add(w, 60 * B12, NAN), ANX_EINVAL);
    assert_int_equal(win_add(w, 60 * B12, INFINITY), ANX_EINVAL);
    assert_int_equal(win_add(w, 60 * B12, -INFINITY), ANX_EINVAL);
    assert_int_equal(win_add(w, 60 * B12, 1e300), ANX_EINVAL);
    assert_int_equal(win_add(w, 60 * B12, -(double)FLT_MAX * 1.01), ANX_EINVAL);
    assert_int_equal(win_add(w, WIN_TIME_MAX + 1, 1.0), ANX_ERANGE);
    assert_true(val(w, 60 * B12, WIN_SUM) == 41.0);
    assert_true(val(w, 60 * B12, WIN_COUNT) == 3.0);

    /* A bucket sum saturates instead of becoming infinite. */
    assert_int_equal(win_add(w, 60 * B12, FLT_MAX), 0);
    assert_int_equal(win_add(w, 60 * B12, FLT_MAX), 0);
    assert_true(val(w, 60 * B12, WIN_SUM) == (double)FLT_MAX);  /* + 33, lost in a double */
    assert_true(val(w, 60 * B12, WIN_COUNT) == 5.0);

    /* Time never goes backwards: a now before the newest bucket reads as
     * the start of that bucket. */
    win_restart(w, 0);
    assert_int_equal(win_add(w, 0, 1.0), 0);
    assert_int_equal(win_add(w, H12 + B12 + 5, 2.0), 0);
    assert_true(val(w, 0, WIN_SUM) == 2.0);
    assert_true(val(w, H12, WIN_SUM) == 2.0);
    win_free(w);
}

static void test_clock_jump(void **state)
{
    (void)state;
    struct win *w = win_new(H12, WIN_AGG_ALL, T0);
    assert_non_null(w);
    for (int i = 0; i < 48; i++)
        assert_int_equal(win_add(w, T0 + i * B12, 1.0 + i), 0);
    assert_true(val(w, T0 + H12, WIN_SUM) == 48 * 49 / 2);

    /* Forward by 10 buckets: buckets 0..9 fall out (1 + ... + 10 = 55). */
    assert_int_equal(win_add(w, T0 + 58 * B12, 100.0), 0);
    assert_true(val(w, T0 + 58 * B12, WIN_SUM) == 48 * 49 / 2 - 55 + 100);
    assert_true(val(w, T0 + 58 * B12, WIN_MIN) == 11.0);
    assert_true(val(w, T0 + 58 * B12, WIN_COUNT) == 39.0);

    /* Forward by a year: only the new value is left. */
    int64_t far = T0 + 365LL * 24 * 3600 * 1000 + 17;
    assert_int_equal(win_add(w, far, 5.0), 0);
    assert_true(val(w, far, WIN_SUM) == 5.0);
    assert_true(val(w, far, WIN_COUNT) == 1.0);
    assert_true(val(w, far, WIN_MAX) == 5.0);
    /* The old times are now too old; bucket edges stay aligned to the start. */
    assert_int_equal(win_add(w, T0 + 58 * B12, 1.0), ANX_ERANGE);
    int64_t bucket_end = T0 + ((far - T0) / B12 + 1) * B12;
    assert_int_equal(win_next_change(w, far), bucket_end + H12);
    assert_true(val(w, bucket_end + H12 - 1, WIN_SUM) == 5.0);
    assert_true(val(w, bucket_end + H12, WIN_SUM) == 0.0);

    /* Forward to the end of the valid range and beyond. */
    assert_int_equal(win_add(w, WIN_TIME_MAX, 3.0), 0);
    assert_true(val(w, WIN_TIME_MAX, WIN_SUM) == 3.0);
    assert_int_equal(win_add(w, WIN_TIME_MAX + 1, 3.0), ANX_ERANGE);
    win_free(w);

    /* Many small steps through many rings (1 ms buckets). */
    w = win_new(48, WIN_SUM | WIN_COUNT, 0);
    assert_non_null(w);
    for (int64_t t = 0; t < 100000; t++) {
        assert_int_equal(win_add(w, t, 1.0), 0);
        if (t >= 48)
            assert_true(val(w, t, WIN_SUM) == 49.0);
    }
    win_free(w);
}

static void test_next_change(void **state)
{
    (void)state;
    struct win *w = win_new(H12, WIN_SUM | WIN_COUNT, 0);
    assert_non_null(w);
    /* Empty: the only change to come is becoming watched long enough. */
    assert_int_equal(win_next_change(w, 0), H12);
    assert_int_equal(win_next_change(w, -5), H12);
    assert_int_equal(win_next_change(w, H12 - 1), H12);
    assert_int_equal(win_next_change(w, H12), INT64_MAX);

    /* One value at t=0: it leaves at the end of its bucket + 12h. */
    assert_int_equal(win_add(w, 0, 3.0), 0);
    assert_int_equal(win_next_change(w, 0), H12);
    assert_int_equal(win_next_change(w, H12), B12 + H12);
    assert_int_equal(win_next_change(w, B12 + H12 - 1), B12 + H12);
    assert_true(val(w, B12 + H12 - 1, WIN_SUM) == 3.0);
    assert_true(val(w, B12 + H12, WIN_SUM) == 0.0);
    assert_int_equal(win_next_change(w, B12 + H12), INT64_MAX);

    /* Values in buckets 50 and 53 (and 53 again, late): next changes at the
     * end of 50 + W, then the end of 53 + W. */
    win_restart(w, 0);
    assert_int_equal(win_add(w, 53 * B12 + 9, 1.0), 0);
    assert_int_equal(win_add(w, 50 * B12 + 1, 1.0), 0);
    assert_int_equal(win_add(w, 53 * B12 + 1, 1.0), 0);
    int64_t now = 54 * B12;
    assert_int_equal(win_next_change(w, now), 51 * B12 + H12);
    assert_int_equal(win_next_change(w, 51 * B12 + H12), 54 * B12 + H12);
    assert_int_equal(win_next_change(w, 54 * B12 + H12), INT64_MAX);
    /* Asking does not move the window. */
    assert_true(val(w, now, WIN_COUNT) == 3.0);
    /* Far in the future: nothing left to change. */
    assert_int_equal(win_next_change(w, now + 10 * H12), INT64_MAX);
    /* Before the newest bucket: as at its start. */
    assert_int_equal(win_next_change(w, 0), 51 * B12 + H12);
    /* Out of range. */
    assert_int_equal(win_next_change(w, WIN_TIME_MAX + 1), INT64_MAX);
    win_free(w);

    /* A sum-only window cannot see values summing to 0, nor needs to. */
    w = win_new(H12, WIN_SUM, 0);
    assert_non_null(w);
    assert_int_equal(win_add(w, H12, 0.0), 0);
    assert_int_equal(win_add(w, H12 + B12, 2.0), 0);
    assert_int_equal(win_add(w, H12 + B12, -2.0), 0);
    assert_int_equal(win_next_change(w, H12 + B12), INT64_MAX);
    assert_int_equal(win_add(w, H12 + 2 * B12, 2.0), 0);
    assert_int_equal(win_next_change(w, H12 + 2 * B12), 3 * B12 + 2 * H12);
    win_free(w);

    /* A count window does see zeros. */
    w = win_new(H12, WIN_COUNT, 0);
    assert_non_null(w);
    assert_int_equal(win_add(w, H12, 0.0), 0);
    assert_int_equal(win_next_change(w, H12), B12 + 2 * H12);
    win_free(w);

    /* Width not a multiple of 48 (21 ms buckets, W = 1000). */
    w = win_new(1000, WIN_MAX, 500);
    assert_non_null(w);
    assert_int_equal(win_next_change(w, 0), 1500);
    assert_int_equal(win_add(w, 500 + 21 * 3 + 4, 1.0), 0);   /* bucket 3 */
    assert_int_equal(win_next_change(w, 1500), 500 + 4 * 21 + 1000);
    assert_true(val(w, 500 + 4 * 21 + 1000 - 1, WIN_MAX) == 1.0);
    assert_int_equal(rc_of(w, 500 + 4 * 21 + 1000, WIN_MAX), ANX_ENOENT);
    win_free(w);
}

/* ---- snapshots ---------------------------------------------------------- */

/* a and b give the same answers at now (probed on copies, as win_value
 * moves a window) and encode to the same bytes. */
static void assert_same_window(const struct win *a, const struct win *b, int64_t now)
{
    size_t na = win_encoded_size(a), nb = win_encoded_size(b);
    assert_int_equal(na, nb);
    uint8_t *ba = malloc(na), *bb = malloc(nb);
    assert_non_null(ba);
    assert_non_null(bb);
    assert_int_equal(win_encode(a, ba, na), na);
    assert_int_equal(win_encode(b, bb, nb), nb);
    assert_memory_equal(ba, bb, na);
    assert_int_equal(win_width(a), win_width(b));
    assert_int_equal(win_aggs(a), win_aggs(b));
    assert_int_equal(win_next_change(a, now), win_next_change(b, now));
    for (size_t i = 0; i < 5; i++) {
        struct win *ca = win_decode(ba, na, NULL), *cb = win_decode(bb, nb, NULL);
        assert_non_null(ca);
        assert_non_null(cb);
        double xa = 1, xb = 2;
        int ra = win_value(ca, now, all_aggs[i], &xa);
        int rb = win_value(cb, now, all_aggs[i], &xb);
        assert_int_equal(ra, rb);
        if (ra == 0)
            assert_true(xa == xb);
        win_free(ca);
        win_free(cb);
    }
    free(ba);
    free(bb);
}

/* Round trip, every truncation, a flipped version byte, trailing bytes. */
static void check_codec(const struct win *w, int64_t now)
{
    size_t n = win_encoded_size(w);
    uint8_t *buf = malloc(n + 8);
    assert_non_null(buf);
    assert_int_equal(win_encode(w, buf, n - 1), 0);
    assert_int_equal(win_encode(w, NULL, n), 0);
    memset(buf, 0xA5, n + 8);
    assert_int_equal(win_encode(w, buf, n + 8), n);
    assert_int_equal(buf[0], WIN_ENC_VERSION);
    assert_int_equal(buf[n], 0xA5);     /* wrote exactly n bytes */

    size_t used = 0;
    struct win *d = win_decode(buf, n + 8, &used);
    assert_non_null(d);
    assert_int_equal(used, n);
    assert_same_window(w, d, now);
    win_free(d);

    for (size_t len = 0; len < n; len++) {
        used = 12345;
        assert_null(win_decode(buf, len, &used));
        assert_int_equal(used, 12345);
    }
    assert_null(win_decode(NULL, n, &used));
    for (int bit = 0; bit < 8; bit++) {
        buf[0] ^= (uint8_t)(1 << bit);
        assert_null(win_decode(buf, n, &used));
        buf[0] ^= (uint8_t)(1 << bit);
    }
    d = win_decode(buf, n, NULL);
    assert_non_null(d);
    win_free(d);
    free(buf);
}

static void test_codec_states(void **state)
{
    (void)state;
    for (unsigned aggs = 1; aggs <= WIN_AGG_ALL; aggs++) {
        struct win *w = win_new(H12, aggs, T0);
        assert_non_null(w);
        assert_int_equal(win_encoded_size(w), 19 + (size_t)__builtin_popcount(aggs) * 49 * 4);
        check_codec(w, T0);                             /* fresh */
        assert_int_equal(win_add(w, T0 + 5, 1.5), 0);
        assert_int_equal(win_add(w, T0 + 3 * B12, -2.0), 0);
        check_codec(w, T0 + 4 * B12);                   /* partly watched */
        for (int i = 0; i < 70; i++)
            assert_int_equal(win_add(w, T0 + i * B12 + i, i * 0.5), 0);
        check_codec(w, T0 + 70 * B12);                  /* full, ring wrapped */
        for (int i = 0; i < 300; i += 7)
            assert_int_equal(win_add(w, T0 + 1000 * B12 + i * B12, i), 0);
        check_codec(w, T0 + 1300 * B12);                /* after origin moved */
        check_codec(w, T0 + 100000 * B12);
        win_free(w);
    }
    struct win *w = win_new(1001, WIN_AGG_ALL, -7);
    assert_non_null(w);
    for (int i = 0; i < 5000; i += 3)
        assert_int_equal(win_add(w, -7 + i, (i % 13) - 6), 0);
    check_codec(w, 5000);
    win_free(w);
}

/* Encodes a window with values, lets `corrupt` change the bytes, and
 * expects decoding to fail. The window has values in buckets 0 and 1 (slots
 * 0 and 1; head 1, so slots 2..48 stand for buckets before the start) or,
 * if `far`, only in bucket 60 (slot 11; every slot stands for a kept bucket). */
static void expect_rejected(unsigned aggs, int far, void (*corrupt)(uint8_t *buf, size_t n))
{
    struct win *w = win_new(H12, aggs, 0);
    assert_non_null(w);
    assert_int_equal(win_add(w, 0, 1.0), 0);
    assert_int_equal(win_add(w, B12, 2.0), 0);
    if (far)
        assert_int_equal(win_add(w, 60 * B12, 3.0), 0);
    size_t n = win_encoded_size(w);
    uint8_t buf[19 + 4 * 49 * 4];
    assert_int_equal(win_encode(w, buf, sizeof buf), n);
    struct win *ok = win_decode(buf, n, NULL);
    assert_non_null(ok);
    win_free(ok);
    corrupt(buf, n);
    assert_null(win_decode(buf, n, NULL));
    win_free(w);
}

static void put_u64(uint8_t *p, uint64_t x)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(x >> (8 * i));
}

static void put_f32(uint8_t *p, float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(x >> (8 * i));
}

/* Column c (0-based among the stored ones), slot s. */
#define CELL(buf, c, s) ((buf) + 19 + 4 * (49 * (c) + (s)))

static void bad_aggs0(uint8_t *b, size_t n) { (void)n; b[1] = 0; }
static void bad_aggs16(uint8_t *b, size_t n) { (void)n; b[1] |= 16; }
static void bad_head(uint8_t *b, size_t n) { (void)n; b[2] = 98; }
static void bad_width_small(uint8_t *b, size_t n) { (void)n; put_u64(b + 3, 47); }
static void bad_width_neg(uint8_t *b, size_t n) { (void)n; put_u64(b + 3, (uint64_t)-H12); }
static void bad_width_big(uint8_t *b, size_t n) { (void)n; put_u64(b + 3, WIN_WIDTH_MAX + 1); }
static void bad_origin(uint8_t *b, size_t n) { (void)n; put_u64(b + 11, WIN_TIME_MAX + 1); }
static void bad_origin_head(uint8_t *b, size_t n)
{
    (void)n;
    put_u64(b + 11, WIN_TIME_MAX);
    b[2] = 1;
}
static void bad_sum_nan(uint8_t *b, size_t n) { (void)n; put_f32(CELL(b, 0, 0), NAN); }
static void bad_sum_inf(uint8_t *b, size_t n) { (void)n; put_f32(CELL(b, 0, 1), INFINITY); }
static void bad_count_neg(uint8_t *b, size_t n) { (void)n; put_f32(CELL(b, 1, 0), -1); }
static void bad_count_frac(uint8_t *b, size_t n) { (void)n; put_f32(CELL(b, 1, 0), 1.5f); }
static void bad_count_huge(uint8_t *b, size_t n) { (void)n; put_f32(CELL(b, 1, 0), 1e9f); }
static void bad_count_zero(uint8_t *b, size_t n) { (void)n; put_f32(CELL(b, 1, 0), 0); }
static void bad_sum_no_count(uint8_t *b, size_t n) { (void)n; put_f32(CELL(b, 0, 5), 1); }
static void bad_min_gt_max(uint8_t *b, size_t n) { (void)n; put_f32(CELL(b, 2, 0), 5); }
static void bad_max_nan(uint8_t *b, size_t n) { (void)n; put_f32(CELL(b, 3, 0), NAN); }
/* For a window keeping only min and max: columns 0 and 1. */
static void bad_mm_max_nan(uint8_t *b, size_t n) { (void)n; put_f32(CELL(b, 1, 0), NAN); }
static void bad_mm_min_gt_max(uint8_t *b, size_t n) { (void)n; put_f32(CELL(b, 0, 1), 9); }
static void bad_min_inf(uint8_t *b, size_t n) { (void)n; put_f32(CELL(b, 2, 1), -INFINITY); }
static void bad_empty_minmax(uint8_t *b, size_t n)
{
    (void)n;
    put_f32(CELL(b, 2, 7), 1);
    put_f32(CELL(b, 3, 7), 1);
}
/* head is 1: slots 2..48 stand for buckets before watching started. */
static void bad_before_start(uint8_t *b, size_t n) { (void)n; put_f32(CELL(b, 0, 30), 1); }

static void test_codec_rejects(void **state)
{
    (void)state;
    expect_rejected(WIN_AGG_ALL, 0, bad_aggs0);
    expect_rejected(WIN_AGG_ALL, 0, bad_aggs16);
    expect_rejected(WIN_AGG_ALL, 0, bad_head);
    expect_rejected(WIN_AGG_ALL, 0, bad_width_small);
    expect_rejected(WIN_AGG_ALL, 0, bad_width_neg);
    expect_rejected(WIN_AGG_ALL, 0, bad_width_big);
    expect_rejected(WIN_AGG_ALL, 0, bad_origin);
    expect_rejected(WIN_AGG_ALL, 0, bad_origin_head);
    expect_rejected(WIN_AGG_ALL, 0, bad_sum_nan);
    expect_rejected(WIN_AGG_ALL, 0, bad_sum_inf);
    expect_rejected(WIN_AGG_ALL, 0, bad_count_neg);
    expect_rejected(WIN_AGG_ALL, 0, bad_count_frac);
    expect_rejected(WIN_AGG_ALL, 0, bad_count_huge);
    expect_rejected(WIN_AGG_ALL, 0, bad_count_zero);
    expect_rejected(WIN_AGG_ALL, 0, bad_min_gt_max);
    expect_rejected(WIN_AGG_ALL, 0, bad_min_inf);
    expect_rejected(WIN_AGG_ALL, 0, bad_max_nan);
    expect_rejected(WIN_AGG_ALL, 0, bad_before_start);
    expect_rejected(WIN_AGG_ALL, 1, bad_sum_no_count);
    expect_rejected(WIN_AGG_ALL, 1, bad_empty_minmax);
    expect_rejected(WIN_MIN | WIN_MAX, 0, bad_mm_max_nan);
    expect_rejected(WIN_MIN | WIN_MAX, 0, bad_mm_min_gt_max);
    expect_rejected(WIN_SUM, 0, bad_before_start);
    expect_rejected(WIN_SUM, 0, bad_sum_nan);
    expect_rejected(WIN_SUM, 1, bad_sum_inf);
}

/* ---- randomized comparison with a brute-force reference ----------------- */

/* The reference keeps every accepted (t, v) and recomputes each answer from
 * them, with the rules of window.h written out directly. */
struct pair {
    int64_t k;          /* bucket, counted from the start */
    double v;
};

struct ref {
    int64_t start, width, bw;
    unsigned aggs;
    int64_t latest;     /* newest bucket seen */
    struct pair *p;
    size_t n, cap;
};

static void ref_init(struct ref *r, int64_t width, unsigned aggs, int64_t start)
{
    r->width = width;
    r->bw = (width + 47) / 48;
    r->aggs = aggs;
    r->start = start;
    r->latest = 0;
    r->n = 0;
}

static int64_t ref_bucket(const struct ref *r, int64_t t)
{
    return t >= r->start ? (t - r->start) / r->bw : -1;
}

static int ref_add(struct ref *r, int64_t t, double v)
{
    if (!(fabs(v) <= FLT_MAX))
        return ANX_EINVAL;
    if (t < r->start)
        return ANX_ERANGE;
    int64_t k = ref_bucket(r, t);
    if (k > r->latest)
        r->latest = k;
    if (k < r->latest - 48)
        return ANX_ERANGE;
    if (r->n == r->cap) {
        /* Drop what can never count again before growing. */
        size_t j = 0;
        for (size_t i = 0; i < r->n; i++)
            if (r->p[i].k >= r->latest - 48)
                r->p[j++] = r->p[i];
        r->n = j;
        if (r->cap == 0 || r->n * 2 > r->cap) {
            r->cap = r->cap ? 2 * r->cap : 256;
            r->p = realloc(r->p, r->cap * sizeof *r->p);
            assert_non_null(r->p);
        }
    }
    r->p[r->n++] = (struct pair){ k, v };
    return 0;
}

/* Elapsed time in the reference's frame, as window.h defines it. */
static int64_t ref_elapsed(const struct ref *r, int64_t now, int64_t latest)
{
    int64_t n = now - r->start;
    return n < latest * r->bw ? latest * r->bw : n;
}

static int ref_value(struct ref *r, int64_t now, enum win_agg agg, double *out,
                     double *abs_sum)
{
    if ((unsigned)agg & ~r->aggs)
        return ANX_EINVAL;
    int64_t kn = ref_bucket(r, now);
    if (kn > r->latest)
        r->latest = kn;
    int64_t n = ref_elapsed(r, now, r->latest);
    if (n < r->width)
        return ANX_EAGAIN;
    int64_t kmin = (n - r->width) / r->bw;
    double sum = 0, count = 0, mn = INFINITY, mx = -INFINITY;
    *abs_sum = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (r->p[i].k < kmin)
            continue;
        double v = r->p[i].v, f = (float)v;
        sum += v;
        *abs_sum += fabs(v);
        count++;
        mn = f < mn ? f : mn;
        mx = f > mx ? f : mx;
    }
    switch (agg) {
    case WIN_SUM: *out = sum; return 0;
    case WIN_COUNT: *out = count; return 0;
    case WIN_AVG: *out = sum / count; return count ? 0 : ANX_ENOENT;
    case WIN_MIN: *out = mn; return count ? 0 : ANX_ENOENT;
    case WIN_MAX: *out = mx; return count ? 0 : ANX_ENOENT;
    }
    return ANX_EINVAL;
}

static int64_t ref_next_change(const struct ref *r, int64_t now)
{
    int64_t kn = ref_bucket(r, now);
    int64_t latest = kn > r->latest ? kn : r->latest;
    int64_t n = ref_elapsed(r, now, latest);
    if (n < r->width)
        return r->start + r->width;
    int64_t kmin = (n - r->width) / r->bw;
    int sum_only = r->aggs == WIN_SUM;
    for (int64_t k = kmin; k <= latest; k++) {
        double s = 0;
        int any = 0;
        for (size_t i = 0; i < r->n; i++) {
            if (r->p[i].k == k) {
                any = 1;
                s += r->p[i].v;
            }
        }
        if (sum_only ? s != 0 : any)
            return r->start + (k + 1) * r->bw + r->width;
    }
    return INT64_MAX;
}

static struct win *copy_of(const struct win *w)
{
    uint8_t buf[19 + 4 * 49 * 4];
    size_t n = win_encode(w, buf, sizeof buf);
    assert_true(n > 0);
    size_t used = 0;
    struct win *c = win_decode(buf, n, &used);
    assert_non_null(c);
    assert_int_equal(used, n);
    return c;
}

static void compare_value(struct win *w, struct ref *r, int64_t now, enum win_agg agg, int exact)
{
    double x = NAN, y = NAN, abs_sum = 0;
    int rx = win_value(w, now, agg, &x);
    int ry = ref_value(r, now, agg, &y, &abs_sum);
    if (rx != ry)
        fail_msg("now %lld agg %d: rc %d, reference %d", (long long)now, (int)agg, rx, ry);
    if (rx != 0)
        return;
    if (exact || agg == WIN_COUNT || agg == WIN_MIN || agg == WIN_MAX) {
        if (x != y)
            fail_msg("now %lld agg %d: %.17g, reference %.17g", (long long)now, (int)agg, x, y);
    } else {
        /* Float bucket sums: a rounding per value, relative to the bucket. */
        double tol = 1e-5 * abs_sum + 1e-30;
        if (agg == WIN_AVG) {
            double c = 0, ignored;
            assert_int_equal(ref_value(r, now, WIN_COUNT, &c, &ignored), 0);
            tol /= c;
        }
        if (fabs(x - y) > tol)
            fail_msg("now %lld agg %d: %.17g, reference %.17g", (long long)now, (int)agg, x, y);
    }
}

static double random_value(uint64_t *rs, int exact)
{
    uint32_t u = rng_next(rs);
    if (u % 50 == 0) {
        static const double odd[] = { NAN, INFINITY, -INFINITY, 1e300, -1e39 };
        return odd[(u / 50) % 5];
    }
    if (exact)  /* quarters in [-1000, 1000]: float bucket sums stay exact */
        return ((int)(rng_next(rs) % 8001) - 4000) / 4.0;
    return ((double)rng_next(rs) / UINT32_MAX - 0.3) * 1000.0;
}

static void run_random(uint64_t seed, int exact, int nseq, int nops)
{
    uint64_t rs = seed;
    struct ref r = { 0 };
    long adds = 0, accepted = 0, values = 0, changes = 0;
    for (int seq = 0; seq < nseq; seq++) {
        int64_t width;
        switch (rng_next(&rs) % 4) {
        case 0: width = 48 * (1 + rng_next(&rs) % 60); break;  /* multiple of 48 */
        case 1: width = 48 + rng_next(&rs) % 3000; break;
        case 2: width = 48 + rng_next(&rs) % 100; break;       /* tiny buckets */
        default: width = H12; break;
        }
        unsigned aggs = 1 + rng_next(&rs) % WIN_AGG_ALL;
        if (!exact && !(aggs & (WIN_COUNT | WIN_MIN | WIN_MAX)))
            aggs |= WIN_COUNT;  /* a float sum of 0 is not exact: keep a count */
        int64_t start = rng_next(&rs) % 2 ? T0 + rng_next(&rs) % 100000
                                          : -(int64_t)(rng_next(&rs) % 100000);
        struct win *w = win_new(width, aggs, start);
        assert_non_null(w);
        ref_init(&r, width, aggs, start);
        int64_t bw = r.bw;
        int64_t cur = start + (int64_t)(rng_next(&rs) % (uint32_t)width) - width / 4;

        for (int op = 0; op < nops; op++) {
            uint32_t c = rng_next(&rs) % 100;
            if (c < 55) {
                int64_t t;
                uint32_t d = rng_next(&rs) % 100;
                if (d < 80)
                    t = cur + (int64_t)(rng_next(&rs) % (uint32_t)(2 * bw));
                else if (d < 96)    /* late, sometimes too late */
                    t = cur - (int64_t)(rng_next(&rs) % (uint32_t)(width + 3 * bw));
                else {              /* clock jump */
                    int64_t widths = 1 + rng_next(&rs) % 300;
                    t = cur + width * widths + rng_next(&rs) % (uint32_t)bw;
                }
                if (t > cur)
                    cur = t;
                double v = random_value(&rs, exact);
                int rx = win_add(w, t, v);
                int ry = ref_add(&r, t, v);
                if (rx != ry)
                    fail_msg("seq %d add(%lld): rc %d, reference %d", seq, (long long)t, rx, ry);
                adds++;
                accepted += rx == 0;
            } else if (c < 85) {
                int64_t now = cur + (int64_t)(rng_next(&rs) % (uint32_t)(2 * bw));
                now -= (int64_t)(rng_next(&rs) % (uint32_t)bw);
                if (now > cur)
                    cur = now;
                for (size_t i = 0; i < 5; i++)
                    compare_value(w, &r, now, all_aggs[i], exact);
                values++;
            } else if (c < 95) {
                int64_t now = cur + (int64_t)(rng_next(&rs) % (uint32_t)(width + bw));
                int64_t nc = win_next_change(w, now);
                assert_int_equal(nc, ref_next_change(&r, now));
                assert_true(nc > now);
                /* The value holds until then (probed on copies). */
                if (nc != INT64_MAX) {
                    for (size_t i = 0; i < 5; i++) {
                        struct win *a = copy_of(w), *b = copy_of(w);
                        double xa = 1, xb = 2;
                        int ra = win_value(a, now, all_aggs[i], &xa);
                        int rb = win_value(b, nc - 1, all_aggs[i], &xb);
                        assert_int_equal(ra, rb);
                        if (ra == 0)
                            assert_true(xa == xb);
                        win_free(a);
                        win_free(b);
                    }
                }
                changes++;
            } else if (c < 98) {
                struct win *d = copy_of(w);
                assert_same_window(w, d, cur);
                win_free(w);
                w = d;
            } else {
                int64_t now = cur + (int64_t)(rng_next(&rs) % (uint32_t)bw);
                cur = now;
                win_restart(w, now);
                ref_init(&r, width, aggs, now);
            }
        }
        win_free(w);
    }
    free(r.p);
    printf("random (%s): %d sequences, %ld adds (%ld counted), %ld x 5 values, "
           "%ld next-change checks\n", exact ? "exact" : "float",
           nseq, adds, accepted, values, changes);
}

static void test_random_exact(void **state)
{
    (void)state;
    run_random(0x2545F4914F6CDD1Dull, 1, 400, 1500);
}

static void test_random_float(void **state)
{
    (void)state;
    run_random(0x9E3779B97F4A7C15ull, 0, 150, 1500);
}

/* ---- micro-benchmark ------------------------------------------------------ */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void bench(unsigned aggs, enum win_agg agg, const char *name)
{
    enum { N = 2000000, Q = 1000000 };
    struct win *w = win_new(H12, aggs, T0);
    assert_non_null(w);
    /* A message every ~2 s, spanning 46 days: crosses buckets and rings. */
    double t0 = now_ns();
    for (int i = 0; i < N; i++)
        win_add(w, T0 + (int64_t)i * 2000 + (i & 7), (double)(i & 15));
    double t1 = now_ns();
    volatile double sink = 0;
    int64_t base = T0 + (int64_t)N * 2000;
    for (int i = 0; i < Q; i++) {
        double x;
        if (win_value(w, base + (int64_t)i * 50, agg, &x) == 0)
            sink += x;
    }
    double t2 = now_ns();
    (void)sink;
    printf("bench %-22s: %.1f ns per win_add, %.1f ns per win_value\n", name,
           (t1 - t0) / N, (t2 - t1) / Q);
    win_free(w);
}

static void test_bench(void **state)
{
    (void)state;
    bench(WIN_SUM, WIN_SUM, "{sum} sum");
    bench(WIN_AGG_ALL, WIN_SUM, "{sum,count,min,max} sum");
    bench(WIN_AGG_ALL, WIN_AVG, "{sum,count,min,max} avg");
    bench(WIN_AGG_ALL, WIN_MAX, "{sum,count,min,max} max");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_and_sizes),
        cmocka_unit_test(test_sum_bucket_edges),
        cmocka_unit_test(test_min_max_avg_count),
        cmocka_unit_test(test_not_watched_long_enough),
        cmocka_unit_test(test_late_and_old_values),
        cmocka_unit_test(test_clock_jump),
        cmocka_unit_test(test_next_change),
        cmocka_unit_test(test_codec_states),
        cmocka_unit_test(test_codec_rejects),
        cmocka_unit_test(test_random_exact),
        cmocka_unit_test(test_random_float),
        cmocka_unit_test(test_bench),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
