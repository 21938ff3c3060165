/* window.h - sliding time windows over one metric of one device: the sum,
 * count, min, max or average of the values received in the last W ms, for
 * rule conditions like "sum(water.flow_l) over 12h < 10 L".
 *
 * The rule engine keeps one window per (device, window condition), so a
 * window takes fixed, small memory however many messages arrive: the values
 * are folded into time buckets of B = ceil(W / 48) ms, aligned to the moment
 * watching started, kept in a ring, and only the aggregates asked for are
 * stored, as floats (about 7 significant digits; a bucket's count is exact
 * up to 2^24 values).
 *
 * What a window covers. At time `now` it covers every bucket that overlaps
 * [now - W, now]: all values received in the last W ms, plus the rest of the
 * oldest, partly covered bucket. Its edges are therefore exact to one bucket
 * (15 minutes for 12 hours): a value received at t counts from t until W ms
 * after the end of its bucket, that is for at least W and less than W + B.
 * Because both edges of the window cut a bucket, the ring keeps
 * WIN_SLOTS = WIN_BUCKETS + 1 buckets.
 *
 * A window only has a value once it has been watched for its whole width
 * (now - start >= W); before that win_value() says ANX_EAGAIN, so a water
 * meter installed an hour ago does not make "less than 10 L over 12 h" true.
 *
 * Time is passed in (ms since the epoch, the moment anxind received the
 * message) and never goes backwards for a window: a time earlier than the
 * newest bucket seen is treated as the start of that bucket. Times outside
 * [-WIN_TIME_MAX, WIN_TIME_MAX] are refused.
 *
 * Pure: no clock, no I/O, no globals. A window is not thread-safe; one
 * thread at a time may use it. */
#ifndef ANXIN_WINDOW_H
#define ANXIN_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#define WIN_BUCKETS 48                  /* bucket widths per window width */
#define WIN_SLOTS (WIN_BUCKETS + 1)     /* buckets kept in the ring */
#define WIN_WIDTH_MIN ((int64_t)WIN_BUCKETS)            /* 48 ms: buckets of 1 ms */
#define WIN_WIDTH_MAX ((int64_t)1000 * 24 * 3600 * 1000) /* 1000 days */
#define WIN_TIME_MAX ((int64_t)1 << 60)                 /* about 36 million years */

/* Aggregates: bits for win_new(), and one of them (or WIN_AVG) for
 * win_value(). WIN_AVG is not a stored aggregate of its own: a window
 * created with WIN_AVG (= WIN_SUM | WIN_COUNT) stores the sum and count. */
enum win_agg {
    WIN_SUM = 1,
    WIN_COUNT = 2,
    WIN_AVG = WIN_SUM | WIN_COUNT,
    WIN_MIN = 4,
    WIN_MAX = 8,
};
#define WIN_AGG_ALL (WIN_SUM | WIN_COUNT | WIN_MIN | WIN_MAX)

struct win;

/* A window of width_ms (WIN_WIDTH_MIN..WIN_WIDTH_MAX) keeping the aggregates
 * in `aggs` (a non-empty OR of enum win_agg bits), watched from now_ms.
 * One allocation of win_mem_size(aggs) bytes. Returns NULL on ENOMEM or on
 * an invalid argument. The caller owns the window; free it with win_free(). */
struct win *win_new(int64_t width_ms, unsigned aggs, int64_t now_ms);

/* Frees w; NULL is allowed. */
void win_free(struct win *w);

/* Bytes allocated for one window keeping `aggs` (malloc's own bookkeeping
 * not included), or 0 if aggs is invalid. */
size_t win_mem_size(unsigned aggs);

/* The width and the stored aggregates, as given to win_new(). */
int64_t win_width(const struct win *w);
unsigned win_aggs(const struct win *w);

/* Forgets every value and starts watching again at now_ms, as if just
 * created (for a device coming back after being offline). A now_ms outside
 * the valid range is clamped into it. */
void win_restart(struct win *w, int64_t now_ms);

/* Adds value v received at t_ms. A t_ms later than the newest bucket moves
 * the window forward to it (dropping what falls out, however far the jump);
 * an earlier t_ms goes into its own bucket if that is still kept.
 * Returns 0 if the value was counted; ANX_EINVAL, ignoring it, if v is NaN,
 * infinite or beyond float range; ANX_ERANGE, ignoring it, if t_ms is from
 * before watching started, its bucket has already left the window, or
 * t_ms is out of range. Bucket sums saturate at +-FLT_MAX. */
int win_add(struct win *w, int64_t t_ms, double v);

/* The aggregate `agg` (WIN_SUM, WIN_COUNT, WIN_MIN, WIN_MAX or WIN_AVG)
 * over the window at now_ms, after moving the window forward to now_ms.
 * Returns 0 and stores the value in *out; ANX_EAGAIN if the window has not
 * yet been watched for its whole width; ANX_ENOENT for min, max and avg when
 * the window holds no value (sum and count are 0 then); ANX_EINVAL if agg
 * is not one the window keeps, or now_ms is out of range. *out is only
 * written on success. A window keeping only WIN_SUM cannot tell "no value"
 * from "values summing to 0", which is fine for a sum. */
int win_value(struct win *w, int64_t now_ms, enum win_agg agg, double *out);

/* The earliest time after now_ms at which the window's value can change
 * without new input: when it has been watched for its whole width, or when
 * its oldest non-empty bucket leaves it (for a window keeping only WIN_SUM,
 * the oldest bucket whose sum is not 0). INT64_MAX if never. Does not move
 * the window. The engine schedules a wake-up at this time so that "sum over
 * 12h < 10 L" fires on time even when no message arrives. */
int64_t win_next_change(const struct win *w, int64_t now_ms);

/* Snapshot encoding: little-endian, led by a version byte
 * (WIN_ENC_VERSION), then the stored aggregates, win_encoded_size(w) bytes
 * in all. win_encode writes it to buf and returns the number of bytes, or 0
 * (writing nothing) if cap is too small. win_decode reads one window from
 * the start of buf and stores the bytes it used in *used (if not NULL); it
 * returns NULL on truncated, corrupt or unknown-version input (every field
 * is checked) and on ENOMEM. The caller owns the result (win_free()). */
#define WIN_ENC_VERSION 1
size_t win_encoded_size(const struct win *w);
size_t win_encode(const struct win *w, uint8_t *buf, size_t cap);
struct win *win_decode(const uint8_t *buf, size_t len, size_t *used);

#endif
