/* window.c - sliding time windows kept as a ring of buckets (see window.h).
 *
 * A window is one allocation: a 16-byte header, then for each stored
 * aggregate, in the order sum, count, min, max, a column of WIN_SLOTS floats.
 * Bucket k (counted in bucket widths from `origin`) lives in slot
 * k % WIN_SLOTS; `head` is the newest bucket and the ring holds buckets
 * head - WIN_BUCKETS .. head.
 *
 * `head` is kept in a byte: once it reaches 2 * WIN_SLOTS, origin moves
 * forward by a whole number of rings (a multiple of WIN_SLOTS buckets), so
 * slots stay where they are and bucket edges stay aligned to the start of
 * watching. Until the first such move origin is the start of watching; after
 * it head >= WIN_SLOTS, so the window has been watched for more than its width
 * whatever origin says, and the "watched long enough" test stays right.
 *
 * An empty bucket has sum 0, count 0 and min = max = NaN. NaN input is
 * refused, so NaN is free to mean "nothing here", which lets a window keep
 * min or max without a count. */
#include "window.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

struct win {
    int64_t origin;     /* start of bucket 0 (see above) */
    uint32_t bw;        /* bucket width B = ceil(W / WIN_BUCKETS), ms */
    uint8_t head;       /* newest bucket, < 2 * WIN_SLOTS */
    uint8_t slack;      /* WIN_BUCKETS * B - W, < WIN_BUCKETS */
    uint8_t aggs;       /* stored aggregates, WIN_* bits */
    uint8_t unused;
    float col[];        /* one column of WIN_SLOTS per stored aggregate */
};

_Static_assert(sizeof(struct win) == 16, "window header grew");
_Static_assert(2 * WIN_SLOTS <= UINT8_MAX, "head must fit a byte");

#define ENC_HEADER 19   /* version, aggs, head, width (8), origin (8) */

static int valid_time(int64_t t)
{
    return t >= -WIN_TIME_MAX && t <= WIN_TIME_MAX;
}

static int valid_aggs(unsigned aggs)
{
    return aggs != 0 && (aggs & ~(unsigned)WIN_AGG_ALL) == 0;
}

static int ncols(unsigned aggs)
{
    return __builtin_popcount(aggs);
}

static int64_t width_of(const struct win *w)
{
    return (int64_t)WIN_BUCKETS * w->bw - w->slack;
}

/* The column of one stored aggregate (a single bit). */
static const float *ccolumn(const struct win *w, unsigned bit)
{
    return w->col + WIN_SLOTS * ncols(w->aggs & (bit - 1));
}

static void clear_slot(struct win *w, unsigned s)
{
    float *c = w->col;
    for (unsigned bit = 1; bit <= WIN_MAX; bit <<= 1) {
        if (!(w->aggs & bit))
            continue;
        c[s] = bit >= WIN_MIN ? NAN : 0.0f;
        c += WIN_SLOTS;
    }
}

static void clear_all(struct win *w)
{
    for (unsigned s = 0; s < WIN_SLOTS; s++)
        clear_slot(w, s);
}

static int slot_nonempty(const struct win *w, unsigned s)
{
    if (w->aggs & WIN_COUNT)
        return ccolumn(w, WIN_COUNT)[s] > 0.0f;
    if (w->aggs & WIN_MIN)
        return !isnan(ccolumn(w, WIN_MIN)[s]);
    if (w->aggs & WIN_MAX)
        return !isnan(ccolumn(w, WIN_MAX)[s]);
    return ccolumn(w, WIN_SUM)[s] != 0.0f;
}

/* Makes bucket k (> head) the newest, emptying the buckets it reuses, and
 * returns k's new number (different if origin moved). */
static int64_t advance(struct win *w, int64_t k)
{
    if (k - w->head >= WIN_SLOTS) {
        clear_all(w);
    } else {
        for (int64_t j = w->head + 1; j <= k; j++)
            clear_slot(w, (unsigned)(j % WIN_SLOTS));
    }
    if (k >= 2 * WIN_SLOTS) {
        int64_t m = (k - WIN_SLOTS) / WIN_SLOTS * WIN_SLOTS;
        w->origin += m * w->bw;
        k -= m;
    }
    w->head = (uint8_t)k;
    return k;
}

/* The time elapsed in the window's frame at now: now - origin, but never
 * before the start of the newest bucket (time does not go backwards). */
static int64_t elapsed(const struct win *w, int64_t now)
{
    int64_t n = now - w->origin;
    int64_t hs = (int64_t)w->head * w->bw;
    return n < hs ? hs : n;
}

/* The sum of c[a..b). Four running sums, so that the additions do not all
 * wait for each other. */
static double sum_range(const float *c, unsigned a, unsigned b)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    unsigned i = a;
    for (; i + 4 <= b; i += 4) {
        s0 += c[i];
        s1 += c[i + 1];
        s2 += c[i + 2];
        s3 += c[i + 3];
    }
    for (; i < b; i++)
        s0 += c[i];
    return (s0 + s1) + (s2 + s3);
}

/* The sum of nb slots of a column from slot s on, wrapping. */
static double sum_slots(const float *c, unsigned s, unsigned nb)
{
    if (s + nb <= WIN_SLOTS)
        return sum_range(c, s, s + nb);
    return sum_range(c, s, WIN_SLOTS) + sum_range(c, 0, s + nb - WIN_SLOTS);
}

/* The least (or, negated, the greatest) of c[a..b), two running minima.
 * Empty slots (NaN) drop out by themselves: `x < m` is false for them. */
static float min_range(const float *c, unsigned a, unsigned b, float sign, float m0)
{
    float m1 = m0;
    unsigned i = a;
    for (; i + 2 <= b; i += 2) {
        float x = sign * c[i], y = sign * c[i + 1];
        m0 = x < m0 ? x : m0;
        m1 = y < m1 ? y : m1;
    }
    if (i < b) {
        float x = sign * c[i];
        m0 = x < m0 ? x : m0;
    }
    return m0 < m1 ? m0 : m1;
}

/* The least (sign 1) or greatest (sign -1) value of nb slots of a column
 * from slot s on, wrapping; NaN if they are all empty. Stored values are
 * finite, so +inf can stand for "none yet". */
static double extreme_slots(const float *c, unsigned s, unsigned nb, float sign)
{
    float m;
    if (s + nb <= WIN_SLOTS) {
        m = min_range(c, s, s + nb, sign, INFINITY);
    } else {
        m = min_range(c, s, WIN_SLOTS, sign, INFINITY);
        m = min_range(c, 0, s + nb - WIN_SLOTS, sign, m);
    }
    return isinf(m) ? NAN : (double)(sign * m);
}

size_t win_mem_size(unsigned aggs)
{
    if (!valid_aggs(aggs))
        return 0;
    return offsetof(struct win, col) + (size_t)ncols(aggs) * WIN_SLOTS * sizeof(float);
}

struct win *win_new(int64_t width_ms, unsigned aggs, int64_t now_ms)
{
    if (width_ms < WIN_WIDTH_MIN || width_ms > WIN_WIDTH_MAX || !valid_aggs(aggs)
        || !valid_time(now_ms))
        return NULL;
    struct win *w = malloc(win_mem_size(aggs));
    if (!w)
        return NULL;
    int64_t bw = (width_ms + WIN_BUCKETS - 1) / WIN_BUCKETS;
    w->bw = (uint32_t)bw;
    w->slack = (uint8_t)(WIN_BUCKETS * bw - width_ms);
    w->aggs = (uint8_t)aggs;
    w->unused = 0;
    win_restart(w, now_ms);
    return w;
}

void win_free(struct win *w)
{
    free(w);
}

int64_t win_width(const struct win *w)
{
    return width_of(w);
}

unsigned win_aggs(const struct win *w)
{
    return w->aggs;
}

void win_restart(struct win *w, int64_t now_ms)
{
    if (now_ms < -WIN_TIME_MAX)
        now_ms = -WIN_TIME_MAX;
    if (now_ms > WIN_TIME_MAX)
        now_ms = WIN_TIME_MAX;
    w->origin = now_ms;
    w->head = 0;
    clear_all(w);
}

int win_add(struct win *w, int64_t t_ms, double v)
{
    if (!(fabs(v) <= FLT_MAX))          /* also NaN */
        return ANX_EINVAL;
    if (!valid_time(t_ms) || t_ms < w->origin)
        return ANX_ERANGE;

    /* Most values land in the newest bucket: skip the division then. */
    int64_t k;
    int64_t off = t_ms - w->origin - (int64_t)w->head * w->bw;
    if (off >= 0 && off < w->bw) {
        k = w->head;
    } else {
        k = (t_ms - w->origin) / w->bw;
        if (k > w->head)
            k = advance(w, k);
        else if (k + WIN_BUCKETS < w->head)
            return ANX_ERANGE;
    }

    unsigned s = (unsigned)(k % WIN_SLOTS);
    float *c = w->col;
    float fv = (float)v;
    if (w->aggs & WIN_SUM) {
        double x = (double)c[s] + v;    /* one rounding, not two */
        if (x > FLT_MAX)
            x = FLT_MAX;
        else if (x < -FLT_MAX)
            x = -FLT_MAX;
        c[s] = (float)x;
        c += WIN_SLOTS;
    }
    if (w->aggs & WIN_COUNT) {
        c[s] += 1.0f;
        c += WIN_SLOTS;
    }
    if (w->aggs & WIN_MIN) {
        if (!(c[s] <= fv))              /* also when empty (NaN) */
            c[s] = fv;
        c += WIN_SLOTS;
    }
    if (w->aggs & WIN_MAX) {
        if (!(c[s] >= fv))
            c[s] = fv;
    }
    return 0;
}

int win_value(struct win *w, int64_t now_ms, enum win_agg agg, double *out)
{
    unsigned a = (unsigned)agg;
    if ((a != WIN_SUM && a != WIN_COUNT && a != WIN_AVG && a != WIN_MIN && a != WIN_MAX)
        || (a & ~(unsigned)w->aggs) || !valid_time(now_ms))
        return ANX_EINVAL;

    if (now_ms >= w->origin) {
        int64_t k = (now_ms - w->origin) / w->bw;
        if (k > w->head)
            advance(w, k);
    }
    int64_t n = elapsed(w, now_ms);
    int64_t width = width_of(w);
    if (n < width)
        return ANX_EAGAIN;

    /* Buckets overlapping [now - W, now]: from the one holding now - W. */
    int64_t kmin = (n - width) / w->bw;
    unsigned s = (unsigned)(kmin % WIN_SLOTS);
    unsigned nb = (unsigned)(w->head - kmin + 1);

    if (a == WIN_MIN || a == WIN_MAX) {
        double x = extreme_slots(ccolumn(w, a), s, nb, a == WIN_MIN ? 1.0f : -1.0f);
        if (isnan(x))
            return ANX_ENOENT;
        *out = x;
        return 0;
    }
    if (a == WIN_AVG) {
        double count = sum_slots(ccolumn(w, WIN_COUNT), s, nb);
        if (count == 0)
            return ANX_ENOENT;
        *out = sum_slots(ccolumn(w, WIN_SUM), s, nb) / count;
        return 0;
    }
    *out = sum_slots(ccolumn(w, a), s, nb);
    return 0;
}

int64_t win_next_change(const struct win *w, int64_t now_ms)
{
    if (!valid_time(now_ms))
        return INT64_MAX;
    int64_t n = elapsed(w, now_ms);
    int64_t width = width_of(w);
    if (n < width)
        return w->origin + width;       /* origin is still the start here */

    int64_t kmin = (n - width) / w->bw;
    for (int64_t k = kmin; k <= w->head; k++) {
        if (slot_nonempty(w, (unsigned)(k % WIN_SLOTS)))
            return w->origin + (k + 1) * w->bw + width;
    }
    return INT64_MAX;
}

/* ---- snapshot encoding ------------------------------------------------ */

static void put_u64(uint8_t *p, uint64_t x)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(x >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x |= (uint64_t)p[i] << (8 * i);
    return x;
}

static void put_f32(uint8_t *p, float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(x >> (8 * i));
}

static float get_f32(const uint8_t *p)
{
    uint32_t x = 0;
    for (int i = 0; i < 4; i++)
        x |= (uint32_t)p[i] << (8 * i);
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

size_t win_encoded_size(const struct win *w)
{
    return ENC_HEADER + (size_t)ncols(w->aggs) * WIN_SLOTS * 4;
}

size_t win_encode(const struct win *w, uint8_t *buf, size_t cap)
{
    size_t size = win_encoded_size(w);
    if (!buf || cap < size)
        return 0;
    buf[0] = WIN_ENC_VERSION;
    buf[1] = w->aggs;
    buf[2] = w->head;
    put_u64(buf + 3, (uint64_t)width_of(w));
    put_u64(buf + 11, (uint64_t)w->origin);
    uint8_t *p = buf + ENC_HEADER;
    for (int i = 0; i < ncols(w->aggs) * WIN_SLOTS; i++, p += 4)
        put_f32(p, w->col[i]);
    return size;
}

/* Whether slot s holds a state win_add() can produce; `kept` says whether
 * it stands for a bucket at or after origin (else it must be empty). */
static int slot_valid(const struct win *w, unsigned s, int kept)
{
    unsigned aggs = w->aggs;
    float sum = aggs & WIN_SUM ? ccolumn(w, WIN_SUM)[s] : 0.0f;
    float cnt = aggs & WIN_COUNT ? ccolumn(w, WIN_COUNT)[s] : 0.0f;
    float mn = aggs & WIN_MIN ? ccolumn(w, WIN_MIN)[s] : NAN;
    float mx = aggs & WIN_MAX ? ccolumn(w, WIN_MAX)[s] : NAN;

    if (!isfinite(sum) || !isfinite(cnt))
        return 0;
    if (cnt < 0 || cnt != floorf(cnt) || cnt > 16777216.0f)
        return 0;
    if (isinf(mn) || isinf(mx))
        return 0;
    if ((aggs & WIN_MIN) && (aggs & WIN_MAX)) {
        if (isnan(mn) != isnan(mx))
            return 0;
        if (!isnan(mn) && mn > mx)
            return 0;
    }
    int empty_mm = isnan(mn) && isnan(mx);
    if (aggs & WIN_COUNT) {
        if (cnt == 0 && (sum != 0 || !empty_mm))
            return 0;
        if (cnt > 0 && (aggs & (WIN_MIN | WIN_MAX)) && empty_mm)
            return 0;
    }
    if (!kept && (sum != 0 || cnt != 0 || !empty_mm))
        return 0;
    return 1;
}

struct win *win_decode(const uint8_t *buf, size_t len, size_t *used)
{
    if (!buf || len < ENC_HEADER || buf[0] != WIN_ENC_VERSION)
        return NULL;
    unsigned aggs = buf[1];
    unsigned head = buf[2];
    int64_t width = (int64_t)get_u64(buf + 3);
    int64_t origin = (int64_t)get_u64(buf + 11);
    if (!valid_aggs(aggs) || head >= 2 * WIN_SLOTS || width < WIN_WIDTH_MIN
        || width > WIN_WIDTH_MAX || !valid_time(origin))
        return NULL;
    size_t size = ENC_HEADER + (size_t)ncols(aggs) * WIN_SLOTS * 4;
    if (len < size)
        return NULL;

    struct win *w = win_new(width, aggs, origin);
    if (!w)
        return NULL;
    /* The newest bucket must start at a valid time. */
    if (origin + (int64_t)head * w->bw > WIN_TIME_MAX)
        goto bad;
    w->head = (uint8_t)head;
    const uint8_t *p = buf + ENC_HEADER;
    for (int i = 0; i < ncols(aggs) * WIN_SLOTS; i++, p += 4)
        w->col[i] = get_f32(p);
    for (unsigned s = 0; s < WIN_SLOTS; s++) {
        /* The bucket in slot s is head - d, d in 0..WIN_BUCKETS. */
        unsigned d = (head % WIN_SLOTS + WIN_SLOTS - s) % WIN_SLOTS;
        if (!slot_valid(w, s, d <= head))
            goto bad;
    }
    if (used)
        *used = size;
    return w;
bad:
    win_free(w);
    return NULL;
}
