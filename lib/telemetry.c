/* telemetry.c - decoding and validation of device telemetry messages (contract v1).
 *
 * Everything a device sends is untrusted: the payload is size-checked and
 * UTF-8-checked before cJSON sees it, every member is type- and range-checked,
 * and the detail strings never quote payload bytes because the daemon logs them.
 * Only names that passed validation (a restricted ASCII alphabet) may appear. */
#include "telemetry.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "err.h"

/* Accepted device time: 2000-01-01T00:00:00.000Z .. 2200-12-31T23:59:59.999Z.
 * Anything outside is a device with an unset or broken clock. */
#define TS_MIN_MS INT64_C(946684800000)
#define TS_MAX_MS INT64_C(7289654399999)
/* 2^53: up to here a double (and thus cJSON) holds every integer exactly. A
 * longer literal is rounded by cJSON before we see it, so 2^53 + 1 reads as 2^53. */
#define SEQ_MAX 9007199254740992.0

static void set_detail(char *detail, size_t detail_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_detail(char *detail, size_t detail_len, const char *fmt, ...)
{
    if (detail == NULL || detail_len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, detail_len, fmt, ap);
    va_end(ap);
}

const char *tlm_reason_name(enum tlm_reason r)
{
    switch (r) {
    case TLM_OK: return "ok";
    case TLM_BAD_TOPIC: return "bad_topic";
    case TLM_TOO_LARGE: return "too_large";
    case TLM_BAD_UTF8: return "bad_utf8";
    case TLM_NOT_JSON: return "not_json";
    case TLM_NOT_OBJECT: return "not_object";
    case TLM_BAD_TS: return "bad_ts";
    case TLM_BAD_SEQ: return "bad_seq";
    case TLM_ID_MISMATCH: return "id_mismatch";
    case TLM_BAD_METRICS: return "bad_metrics";
    case TLM_BAD_EVENTS: return "bad_events";
    case TLM_TOO_MANY: return "too_many";
    case TLM_REASON_COUNT: break;
    }
    return "unknown";
}

/* ---- UTF-8 and JSON pre-scan ---------------------------------------------- */

/* Returns the length (1..4) of the well-formed UTF-8 sequence at p[0..n), or 0.
 * Rejects overlong forms, UTF-16 surrogates and code points above U+10FFFF by
 * narrowing the range allowed for the second byte (Unicode table 3-7). */
static size_t utf8_seq_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;          /* overlong below U+0800 */
        else if (c == 0xED)
            hi = 0x9F;          /* surrogates U+D800..U+DFFF */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;          /* overlong below U+10000 */
        else if (c == 0xF4)
            hi = 0x8F;          /* above U+10FFFF */
    } else {
        return 0;               /* continuation byte, C0/C1 overlong, F5..FF */
    }
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return len;
}

/* One linear pass over the payload. Checks UTF-8 (reported first, as
 * TLM_BAD_UTF8) and two things cJSON lets through: raw control characters
 * (not allowed by RFC 8259) and the escape \u0000, which cJSON would silently
 * turn into a truncated C string ("hr\u0000x" == "hr"). */
static enum tlm_reason prescan(const char *payload, size_t len, char *detail, size_t detail_len)
{
    const unsigned char *p = (const unsigned char *)payload;
    bool in_str = false, esc = false;
    const char *json_problem = NULL;
    size_t json_problem_at = 0;

    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        size_t n = utf8_seq_len(p + i, len - i);

        if (n == 0) {
            set_detail(detail, detail_len, "payload: invalid UTF-8 at byte %zu", i);
            return TLM_BAD_UTF8;
        }
        if (json_problem == NULL) {
            if (c < 0x20 && (in_str || (c != '\t' && c != '\n' && c != '\r'))) {
                json_problem = "unescaped control character";
                json_problem_at = i;
            } else if (in_str && esc) {
                esc = false;
                if (c == 'u' && len - i >= 5 && memcmp(p + i + 1, "0000", 4) == 0) {
                    json_problem = "\\u0000 is not accepted in strings";
                    json_problem_at = i - 1;
                }
            } else if (in_str) {
                if (c == '\\')
                    esc = true;
                else if (c == '"')
                    in_str = false;
            } else if (c == '"') {
                in_str = true;
            }
        }
        i += n;
    }
    if (json_problem != NULL) {
        set_detail(detail, detail_len, "payload: %s at byte %zu", json_problem, json_problem_at);
        return TLM_NOT_JSON;
    }
    return TLM_OK;
}

/* ---- topic ---------------------------------------------------------------- */

static bool is_id_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == ':' || c == '-';
}

enum tlm_reason tlm_topic_device(const char *topic, size_t topic_len, char *out)
{
    assert(out != NULL);
    out[0] = '\0';
    if (topic == NULL || topic_len == 0)
        return TLM_BAD_TOPIC;

    const unsigned char *t = (const unsigned char *)topic;

    /* MQTT forbids U+0000 and wildcards in a published topic; a broker should
     * never hand us one, but the topic is still not ours to trust. */
    for (size_t i = 0; i < topic_len;) {
        size_t n = utf8_seq_len(t + i, topic_len - i);
        if (n == 0 || t[i] == '\0' || t[i] == '+' || t[i] == '#')
            return TLM_BAD_TOPIC;
        i += n;
    }

    /* Walk the levels, remembering the one before the current; at the end
     * that is the second-to-last level, the device id. */
    size_t levels = 0, start = 0;
    size_t prev_start = 0, prev_len = 0, cur_start = 0, cur_len = 0;
    for (size_t i = 0; i <= topic_len; i++) {
        if (i < topic_len && t[i] != '/')
            continue;
        if (i == start)
            return TLM_BAD_TOPIC;   /* empty level: leading, trailing or double '/' */
        prev_start = cur_start;
        prev_len = cur_len;
        cur_start = start;
        cur_len = i - start;
        levels++;
        start = i + 1;
    }
    if (levels < 2 || prev_len > TLM_MAX_ID)
        return TLM_BAD_TOPIC;
    for (size_t i = 0; i < prev_len; i++)
        if (!is_id_char(t[prev_start + i]))
            return TLM_BAD_TOPIC;
    memcpy(out, topic + prev_start, prev_len);
    out[prev_len] = '\0';
    return TLM_OK;
}

const char *tlm_filter_body(const char *filter)
{
    if (strncmp(filter, "$share/", 7) == 0) {
        const char *slash = strchr(filter + 7, '/');
        if (slash)
            return slash + 1;
    }
    return filter;
}

bool tlm_filter_matches(const char *filter, const char *topic, size_t topic_len)
{
    filter = tlm_filter_body(filter);
    if (topic_len > 0 && topic[0] == '$' && (filter[0] == '+' || filter[0] == '#'))
        return false;
    const char *t = topic, *end = topic + topic_len;
    for (;;) {
        size_t fn = strcspn(filter, "/");
        const char *slash = memchr(t, '/', (size_t)(end - t));
        size_t tn = slash ? (size_t)(slash - t) : (size_t)(end - t);
        if (fn == 1 && filter[0] == '#')
            return true;
        if (!(fn == 1 && filter[0] == '+') && (fn != tn || memcmp(filter, t, tn) != 0))
            return false;
        bool more_f = filter[fn] == '/', more_t = slash != NULL;
        if (!more_f && !more_t)
            return true;
        if (!more_t)
            return strcmp(filter + fn, "/#") == 0;     /* "a/#" matches "a" */
        if (!more_f)
            return false;
        filter += fn + 1;
        t = slash + 1;
    }
}

/* ---- RFC 3339 ------------------------------------------------------------- */

/* Reads exactly n decimal digits at s[*pos]. Stops at the first non-digit, so
 * it never reads past a terminating NUL. */
static bool read_digits(const char *s, size_t *pos, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = s[*pos];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
        (*pos)++;
    }
    *out = v;
    return true;
}

static bool read_char(const char *s, size_t *pos, char c)
{
    if (s[*pos] != c)
        return false;
    (*pos)++;
    return true;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : mdays[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date. Shifting the year to
 * start in March puts the leap day last, so the day-of-year of the shifted
 * months follows a linear formula and leap rules only touch whole years. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    if (m <= 2)
        y -= 1;
    int64_t era = (y >= 0 ? y : y - 399) / 400;         /* 400-year cycles */
    int64_t yoe = y - era * 400;                        /* 0..399 */
    int mp = m > 2 ? m - 3 : m + 9;                     /* March = 0 */
    int64_t doy = (153 * mp + 2) / 5 + d - 1;           /* 0..365 */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* 0..146096 */
    return era * 146097 + doe - 719468;                 /* 719468: 0000-03-01 .. 1970-01-01 */
}

int tlm_parse_rfc3339(const char *s, int64_t *out_ms)
{
    if (s == NULL || out_ms == NULL)
        return ANX_EINVAL;

    size_t p = 0;
    int y, mo, d, h, mi, sec, ms = 0;

    if (!read_digits(s, &p, 4, &y) || !read_char(s, &p, '-') ||
        !read_digits(s, &p, 2, &mo) || !read_char(s, &p, '-') ||
        !read_digits(s, &p, 2, &d))
        return ANX_EINVAL;
    if (s[p] != 'T' && s[p] != 't' && s[p] != ' ')
        return ANX_EINVAL;
    p++;
    if (!read_digits(s, &p, 2, &h) || !read_char(s, &p, ':') ||
        !read_digits(s, &p, 2, &mi) || !read_char(s, &p, ':') ||
        !read_digits(s, &p, 2, &sec))
        return ANX_EINVAL;
    if (s[p] == '.') {
        p++;
        if (s[p] < '0' || s[p] > '9')
            return ANX_EINVAL;
        /* Keep milliseconds, truncate finer digits (any number is allowed). */
        for (int i = 0; s[p] >= '0' && s[p] <= '9'; i++, p++)
            if (i < 3)
                ms += (s[p] - '0') * (i == 0 ? 100 : i == 1 ? 10 : 1);
    }

    int off_min = 0;
    if (s[p] == 'Z' || s[p] == 'z') {
        p++;
    } else if (s[p] == '+' || s[p] == '-') {
        int sign = s[p] == '-' ? -1 : 1, oh, om;
        p++;
        if (!read_digits(s, &p, 2, &oh) || !read_char(s, &p, ':') ||
            !read_digits(s, &p, 2, &om) || oh > 23 || om > 59)
            return ANX_EINVAL;
        off_min = sign * (oh * 60 + om);
    } else {
        return ANX_EINVAL;
    }
    if (s[p] != '\0')
        return ANX_EINVAL;

    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
        h > 23 || mi > 59 || sec > 60)
        return ANX_EINVAL;
    /* A leap second cannot be checked without a leap second table; clamp it
     * to the last millisecond of the minute so device time stays ordered. */
    if (sec == 60) {
        sec = 59;
        ms = 999;
    }

    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    *out_ms = (secs - (int64_t)off_min * 60) * 1000 + ms;
    return 0;
}

/* ---- members -------------------------------------------------------------- */

static bool is_name(const char *s)
{
    size_t n = 0;
    if (!(s[0] >= 'a' && s[0] <= 'z'))
        return false;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (n >= TLM_MAX_NAME)
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static bool is_integral(double v)
{
    return isfinite(v) && floor(v) == v;
}

static enum tlm_reason decode_ts(const cJSON *it, struct tlm_msg *out, char *detail,
                                 size_t detail_len)
{
    int64_t ms;

    if (cJSON_IsNumber(it) && is_integral(it->valuedouble)) {
        double v = it->valuedouble;
        if (v < (double)TS_MIN_MS || v > (double)TS_MAX_MS)
            goto range;
        ms = (int64_t)v;
    } else if (cJSON_IsString(it) && it->valuestring != NULL) {
        if (tlm_parse_rfc3339(it->valuestring, &ms) != 0) {
            set_detail(detail, detail_len,
                       "ts: expected an RFC 3339 string like 2026-01-31T08:00:00+08:00");
            return TLM_BAD_TS;
        }
        if (ms < TS_MIN_MS || ms > TS_MAX_MS)
            goto range;
    } else {
        set_detail(detail, detail_len,
                   "ts: expected integer ms since the epoch or an RFC 3339 string");
        return TLM_BAD_TS;
    }
    out->has_ts = true;
    out->ts_ms = ms;
    return TLM_OK;
range:
    set_detail(detail, detail_len, "ts: outside the years 2000..2200 (device clock not set?)");
    return TLM_BAD_TS;
}

static enum tlm_reason decode_seq(const cJSON *it, struct tlm_msg *out, char *detail,
                                  size_t detail_len)
{
    if (!cJSON_IsNumber(it) || !is_integral(it->valuedouble) ||
        it->valuedouble < 0 || it->valuedouble > SEQ_MAX) {
        set_detail(detail, detail_len, "seq: expected an integer from 0 to 2^53");
        return TLM_BAD_SEQ;
    }
    out->has_seq = true;
    out->seq = (int64_t)it->valuedouble;
    return TLM_OK;
}

static enum tlm_reason decode_device(const cJSON *it, const struct tlm_msg *out, char *detail,
                                     size_t detail_len)
{
    if (!cJSON_IsString(it) || it->valuestring == NULL) {
        set_detail(detail, detail_len, "device: expected a string (the id in the topic)");
        return TLM_ID_MISMATCH;
    }
    if (strcmp(it->valuestring, out->device_id) != 0) {
        set_detail(detail, detail_len, "device: does not match the device id in the topic");
        return TLM_ID_MISMATCH;
    }
    return TLM_OK;
}

static enum tlm_reason decode_metrics(const cJSON *obj, struct tlm_msg *out, char *detail,
                                      size_t detail_len)
{
    const cJSON *it;
    size_t count = 0;

    if (!cJSON_IsObject(obj)) {
        set_detail(detail, detail_len, "metrics: expected an object of name -> number or boolean");
        return TLM_BAD_METRICS;
    }
    cJSON_ArrayForEach(it, obj)
        count++;
    if (count > TLM_MAX_METRICS) {
        set_detail(detail, detail_len, "metrics: more than %d members", TLM_MAX_METRICS);
        return TLM_TOO_MANY;
    }
    cJSON_ArrayForEach(it, obj) {
        if (it->string == NULL || !is_name(it->string)) {
            set_detail(detail, detail_len, "metrics: names must be 1..%d chars of [a-z0-9_.] "
                       "starting with a letter", TLM_MAX_NAME);
            return TLM_BAD_METRICS;
        }
        /* Name validated: safe to quote from here on. */
        if (tlm_find_metric(out, it->string) != NULL) {
            set_detail(detail, detail_len, "metrics.%s: appears more than once", it->string);
            return TLM_BAD_METRICS;
        }
        struct tlm_metric *m = &out->metrics[out->n_metrics];
        if (cJSON_IsBool(it)) {
            m->is_bool = true;
            m->value = cJSON_IsTrue(it) ? 1.0 : 0.0;
        } else if (cJSON_IsNumber(it) && isfinite(it->valuedouble)) {
            m->is_bool = false;
            m->value = it->valuedouble;
        } else {
            set_detail(detail, detail_len, "metrics.%s: expected a finite number or a boolean",
                       it->string);
            return TLM_BAD_METRICS;
        }
        memcpy(m->name, it->string, strlen(it->string) + 1);
        out->n_metrics++;
    }
    return TLM_OK;
}

static enum tlm_reason decode_events(const cJSON *arr, struct tlm_msg *out, char *detail,
                                     size_t detail_len)
{
    const cJSON *it;
    int idx = 0;

    if (!cJSON_IsArray(arr)) {
        set_detail(detail, detail_len, "events: expected an array of event names");
        return TLM_BAD_EVENTS;
    }
    /* Work stays bounded: at most TLM_MAX_EVENTS comparisons per element, and
     * the element count is bounded by the payload size. */
    cJSON_ArrayForEach(it, arr) {
        if (!cJSON_IsString(it) || it->valuestring == NULL || !is_name(it->valuestring)) {
            set_detail(detail, detail_len, "events[%d]: expected a name of 1..%d chars of "
                       "[a-z0-9_.] starting with a letter", idx, TLM_MAX_NAME);
            return TLM_BAD_EVENTS;
        }
        if (!tlm_has_event(out, it->valuestring)) {
            if (out->n_events == TLM_MAX_EVENTS) {
                set_detail(detail, detail_len, "events: more than %d distinct events",
                           TLM_MAX_EVENTS);
                return TLM_TOO_MANY;
            }
            memcpy(out->events[out->n_events], it->valuestring, strlen(it->valuestring) + 1);
            out->n_events++;
        }
        idx++;
    }
    return TLM_OK;
}

static bool json_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

enum tlm_reason tlm_decode(const char *topic, size_t topic_len,
                           const char *payload, size_t payload_len,
                           struct tlm_msg *out, char *detail, size_t detail_len)
{
    assert(out != NULL);
    assert(payload != NULL || payload_len == 0);
    memset(out, 0, sizeof *out);
    set_detail(detail, detail_len, "%s", "");

    if (tlm_topic_device(topic, topic_len, out->device_id) != TLM_OK) {
        set_detail(detail, detail_len, "topic: expected <prefix>/<device id>/<suffix>, "
                   "id 1..%d chars of [A-Za-z0-9_.:-], no wildcards", TLM_MAX_ID);
        return TLM_BAD_TOPIC;
    }
    if (payload_len > TLM_MAX_PAYLOAD) {
        set_detail(detail, detail_len, "payload: %zu bytes, the limit is %d", payload_len,
                   TLM_MAX_PAYLOAD);
        return TLM_TOO_LARGE;
    }
    enum tlm_reason r = prescan(payload, payload_len, detail, detail_len);
    if (r != TLM_OK)
        return r;

    /* cJSON_ParseWithLength ignores trailing bytes; the Opts variant reports
     * where parsing stopped so trailing garbage can be rejected. An allocation
     * failure inside cJSON also ends up here, as TLM_NOT_JSON. */
    const char *end = NULL;
    cJSON *root = payload_len == 0 ? NULL
                : cJSON_ParseWithLengthOpts(payload, payload_len, &end, false);
    if (root != NULL) {
        size_t i = (size_t)(end - payload);
        while (i < payload_len && json_ws(payload[i]))
            i++;
        if (i < payload_len) {
            cJSON_Delete(root);
            set_detail(detail, detail_len, "payload: unexpected data after the JSON value "
                       "at byte %zu", i);
            return TLM_NOT_JSON;
        }
    } else {
        size_t at = end != NULL ? (size_t)(end - payload) : 0;
        set_detail(detail, detail_len, "payload: JSON syntax error near byte %zu", at);
        return TLM_NOT_JSON;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        set_detail(detail, detail_len, "payload: expected a JSON object at the top level");
        return TLM_NOT_OBJECT;
    }

    /* One pass over the members; a known member given twice is ambiguous
     * (other JSON parsers keep the last, cJSON lookups the first), so reject it. */
    static const char *const known[] = {"ts", "seq", "device", "metrics", "events"};
    static const enum tlm_reason known_reason[] = {
        TLM_BAD_TS, TLM_BAD_SEQ, TLM_ID_MISMATCH, TLM_BAD_METRICS, TLM_BAD_EVENTS,
    };
    enum { N_KNOWN = sizeof known / sizeof known[0] };
    _Static_assert(sizeof known_reason / sizeof known_reason[0] == N_KNOWN, "known_reason");
    const cJSON *found[N_KNOWN] = {NULL};
    const cJSON *it;

    cJSON_ArrayForEach(it, root) {
        if (it->string == NULL)
            continue;
        for (size_t k = 0; k < N_KNOWN; k++) {
            if (strcmp(it->string, known[k]) != 0)
                continue;
            if (found[k] != NULL) {
                set_detail(detail, detail_len, "%s: member appears more than once", known[k]);
                cJSON_Delete(root);
                return known_reason[k];
            }
            found[k] = it;
        }
    }

    r = TLM_OK;
    if (r == TLM_OK && found[0] != NULL)
        r = decode_ts(found[0], out, detail, detail_len);
    if (r == TLM_OK && found[1] != NULL)
        r = decode_seq(found[1], out, detail, detail_len);
    if (r == TLM_OK && found[2] != NULL)
        r = decode_device(found[2], out, detail, detail_len);
    if (r == TLM_OK && found[3] != NULL)
        r = decode_metrics(found[3], out, detail, detail_len);
    if (r == TLM_OK && found[4] != NULL)
        r = decode_events(found[4], out, detail, detail_len);
    cJSON_Delete(root);
    return r;
}

bool tlm_has_event(const struct tlm_msg *m, const char *name)
{
    assert(m != NULL && name != NULL);
    for (size_t i = 0; i < m->n_events && i < TLM_MAX_EVENTS; i++)
        if (strcmp(m->events[i], name) == 0)
            return true;
    return false;
}

const struct tlm_metric *tlm_find_metric(const struct tlm_msg *m, const char *name)
{
    assert(m != NULL && name != NULL);
    for (size_t i = 0; i < m->n_metrics && i < TLM_MAX_METRICS; i++)
        if (strcmp(m->metrics[i].name, name) == 0)
            return &m->metrics[i];
    return NULL;
}
