/* test_telemetry.c - unit tests for the telemetry decoder (lib/telemetry.c):
 * every rejection reason, RFC 3339 edge cases, limits and the log-safety of
 * the detail strings. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "telemetry.h"

#define TOPIC "anxin/v1/SOS-0001/telemetry"

static char detail[256];
static struct tlm_msg msg;

/* Decodes a NUL-terminated payload on TOPIC into msg/detail. */
static enum tlm_reason dec(const char *payload)
{
    return tlm_decode(TOPIC, strlen(TOPIC), payload, strlen(payload), &msg, detail,
                      sizeof detail);
}

/* Same, with an explicit length (payloads with NUL or non-ASCII bytes). */
static enum tlm_reason decn(const char *payload, size_t len)
{
    return tlm_decode(TOPIC, strlen(TOPIC), payload, len, &msg, detail, sizeof detail);
}

static enum tlm_reason topic_id(const char *topic, char *out)
{
    return tlm_topic_device(topic, strlen(topic), out);
}

static int64_t rfc(const char *s)
{
    int64_t ms = INT64_MIN;
    assert_int_equal(tlm_parse_rfc3339(s, &ms), 0);
    return ms;
}

static void assert_rfc_bad(const char *s)
{
    int64_t ms = 12345;
    assert_int_equal(tlm_parse_rfc3339(s, &ms), ANX_EINVAL);
}

/* ---- reason names --------------------------------------------------------- */

static void test_reason_names(void **state)
{
    (void)state;
    assert_string_equal(tlm_reason_name(TLM_OK), "ok");
    assert_string_equal(tlm_reason_name(TLM_BAD_TOPIC), "bad_topic");
    assert_string_equal(tlm_reason_name(TLM_TOO_LARGE), "too_large");
    assert_string_equal(tlm_reason_name(TLM_BAD_UTF8), "bad_utf8");
    assert_string_equal(tlm_reason_name(TLM_NOT_JSON), "not_json");
    assert_string_equal(tlm_reason_name(TLM_NOT_OBJECT), "not_object");
    assert_string_equal(tlm_reason_name(TLM_BAD_TS), "bad_ts");
    assert_string_equal(tlm_reason_name(TLM_BAD_SEQ), "bad_seq");
    assert_string_equal(tlm_reason_name(TLM_ID_MISMATCH), "id_mismatch");
    assert_string_equal(tlm_reason_name(TLM_BAD_METRICS), "bad_metrics");
    assert_string_equal(tlm_reason_name(TLM_BAD_EVENTS), "bad_events");
    assert_string_equal(tlm_reason_name(TLM_TOO_MANY), "too_many");
    assert_string_equal(tlm_reason_name(TLM_REASON_COUNT), "unknown");
    assert_string_equal(tlm_reason_name((enum tlm_reason)999), "unknown");
    /* Labels are distinct: each reason is its own counter. */
    for (int a = 0; a < TLM_REASON_COUNT; a++)
        for (int b = a + 1; b < TLM_REASON_COUNT; b++)
            assert_string_not_equal(tlm_reason_name((enum tlm_reason)a),
                                    tlm_reason_name((enum tlm_reason)b));
}

/* ---- topics --------------------------------------------------------------- */

static void test_topic_good(void **state)
{
    (void)state;
    char id[TLM_MAX_ID + 1];

    assert_int_equal(topic_id("anxin/v1/SOS-0001/telemetry", id), TLM_OK);
    assert_string_equal(id, "SOS-0001");
    assert_int_equal(topic_id("dev1/telemetry", id), TLM_OK);
    assert_string_equal(id, "dev1");
    assert_int_equal(topic_id("a/b/c/d/e/Az09_.:-/x", id), TLM_OK);
    assert_string_equal(id, "Az09_.:-");
    assert_int_equal(topic_id("x/y", id), TLM_OK);
    assert_string_equal(id, "x");
    /* Other levels may hold any UTF-8 except wildcards. */
    assert_int_equal(topic_id("安心/v1/bed-7/telemetry", id), TLM_OK);
    assert_string_equal(id, "bed-7");

    char id64[TLM_MAX_ID + 1], topic[128];
    memset(id64, 'a', TLM_MAX_ID);
    id64[TLM_MAX_ID] = '\0';
    snprintf(topic, sizeof topic, "anxin/v1/%s/telemetry", id64);
    assert_int_equal(topic_id(topic, id), TLM_OK);
    assert_string_equal(id, id64);
}

static void test_topic_not_nul_terminated(void **state)
{
    (void)state;
    char id[TLM_MAX_ID + 1];
    const char buf[] = "anxin/v1/SOS-0001/telemetryGARBAGE/x/y";
    size_t len = strlen("anxin/v1/SOS-0001/telemetry");

    assert_int_equal(tlm_topic_device(buf, len, id), TLM_OK);
    assert_string_equal(id, "SOS-0001");
    /* Cut just after the id's '/': the last level is empty. */
    assert_int_equal(tlm_topic_device(buf, strlen("anxin/v1/SOS-0001/"), id), TLM_BAD_TOPIC);
    /* Cut in the middle of the id: "SOS" becomes the last level, "v1" the id. */
    assert_int_equal(tlm_topic_device(buf, strlen("anxin/v1/SOS"), id), TLM_OK);
    assert_string_equal(id, "v1");
}

static void test_topic_bad(void **state)
{
    (void)state;
    char id[TLM_MAX_ID + 1];
    static const char *const bad[] = {
        "telemetry",                        /* one level */
        "SOS-0001",
        "/telemetry",                       /* empty first level */
        "anxin/v1//telemetry",              /* empty id */
        "anxin/v1/SOS-0001/",               /* empty last level */
        "/anxin/v1/SOS-0001/telemetry",     /* leading slash */
        "anxin//v1/SOS-0001/telemetry",     /* empty prefix level */
        "/",
        "//",
        "anxin/v1/+/telemetry",             /* wildcards */
        "anxin/v1/#",
        "anxin/+/SOS-0001/telemetry",
        "anxin/v1/SOS-0001/#",
        "anxin/v1/SOS+1/telemetry",
        "anxin/v1/SOS 0001/telemetry",      /* characters outside the id set */
        "anxin/v1/SOS@0001/telemetry",
        "anxin/v1/SOS,0001/telemetry",
        "anxin/v1/床位/telemetry",
        "anxin/v1/$SYS/telemetry",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        strcpy(id, "stale");
        assert_int_equal(topic_id(bad[i], id), TLM_BAD_TOPIC);
        assert_string_equal(id, "");
    }

    assert_int_equal(tlm_topic_device("", 0, id), TLM_BAD_TOPIC);
    assert_int_equal(tlm_topic_device(NULL, 0, id), TLM_BAD_TOPIC);
    assert_int_equal(tlm_topic_device("a/b", 0, id), TLM_BAD_TOPIC);

    /* Embedded NUL (MQTT forbids U+0000). */
    const char nul[] = "anxin/v1/SOS\0001/telemetry";
    assert_int_equal(tlm_topic_device(nul, sizeof nul - 1, id), TLM_BAD_TOPIC);
    /* Invalid UTF-8 in a prefix level. */
    const char bad8[] = "anxin\xff/v1/SOS-0001/telemetry";
    assert_int_equal(tlm_topic_device(bad8, sizeof bad8 - 1, id), TLM_BAD_TOPIC);

    /* 65-char id. */
    char id65[TLM_MAX_ID + 2], topic[128];
    memset(id65, 'a', TLM_MAX_ID + 1);
    id65[TLM_MAX_ID + 1] = '\0';
    snprintf(topic, sizeof topic, "anxin/v1/%s/telemetry", id65);
    assert_int_equal(topic_id(topic, id), TLM_BAD_TOPIC);
}

static void test_decode_bad_topic(void **state)
{
    (void)state;
    const char *t = "anxin/v1/+/telemetry";
    assert_int_equal(tlm_decode(t, strlen(t), "{}", 2, &msg, detail, sizeof detail),
                     TLM_BAD_TOPIC);
    assert_non_null(strstr(detail, "topic:"));
    /* The topic is checked first, even when the payload is also bad. */
    assert_int_equal(tlm_decode(t, strlen(t), "[", 1, &msg, detail, sizeof detail),
                     TLM_BAD_TOPIC);
}

/* ---- good messages -------------------------------------------------------- */

static void test_decode_full(void **state)
{
    (void)state;
    const char *p =
        "{\"ts\":1795921920000,\"seq\":42,\"device\":\"SOS-0001\","
        "\"metrics\":{\"hr.bpm\":72,\"spo2\":97.5,\"battery\":-1.25e1,"
        "\"on_bed\":true,\"door.open\":false},"
        "\"events\":[\"sos\",\"fall\"],"
        "\"fw\":\"1.2.3\",\"extra\":{\"nested\":[1,2,{\"x\":null}]}}";

    strcpy(detail, "stale");
    assert_int_equal(dec(p), TLM_OK);
    assert_string_equal(detail, "");
    assert_string_equal(msg.device_id, "SOS-0001");
    assert_true(msg.has_ts);
    assert_int_equal(msg.ts_ms, INT64_C(1795921920000));
    assert_true(msg.has_seq);
    assert_int_equal(msg.seq, 42);

    assert_int_equal(msg.n_metrics, 5);
    assert_string_equal(msg.metrics[0].name, "hr.bpm");
    assert_true(msg.metrics[0].value == 72.0);
    assert_false(msg.metrics[0].is_bool);
    assert_string_equal(msg.metrics[1].name, "spo2");
    assert_true(msg.metrics[1].value == 97.5);
    assert_string_equal(msg.metrics[2].name, "battery");
    assert_true(msg.metrics[2].value == -12.5);
    assert_string_equal(msg.metrics[3].name, "on_bed");
    assert_true(msg.metrics[3].is_bool);
    assert_true(msg.metrics[3].value == 1.0);
    assert_string_equal(msg.metrics[4].name, "door.open");
    assert_true(msg.metrics[4].is_bool);
    assert_true(msg.metrics[4].value == 0.0);

    assert_int_equal(msg.n_events, 2);
    assert_string_equal(msg.events[0], "sos");
    assert_string_equal(msg.events[1], "fall");
}

static void test_decode_minimal(void **state)
{
    (void)state;
    memset(&msg, 0xAB, sizeof msg);
    assert_int_equal(dec("{}"), TLM_OK);
    assert_string_equal(msg.device_id, "SOS-0001");
    assert_false(msg.has_ts);
    assert_false(msg.has_seq);
    assert_int_equal(msg.n_metrics, 0);
    assert_int_equal(msg.n_events, 0);

    assert_int_equal(dec(" \r\n\t{ \"metrics\" : { } , \"events\" : [ ] }\n "), TLM_OK);
    assert_int_equal(msg.n_metrics, 0);
    assert_int_equal(msg.n_events, 0);

    /* Member names are case-sensitive: "TS" is an unknown member. */
    assert_int_equal(dec("{\"TS\":\"garbage\",\"Seq\":-1}"), TLM_OK);
    assert_false(msg.has_ts);
    assert_false(msg.has_seq);

    /* Unknown members may repeat and hold anything. */
    assert_int_equal(dec("{\"x\":1,\"x\":[null],\"y\":\"\\u00e9\\ud83d\\ude00\"}"), TLM_OK);
}

static void test_decode_detail_optional(void **state)
{
    (void)state;
    char small[8];
    const char *t = TOPIC;

    assert_int_equal(tlm_decode(t, strlen(t), "[]", 2, &msg, NULL, 0), TLM_NOT_OBJECT);
    assert_int_equal(tlm_decode(t, strlen(t), "{}", 2, &msg, NULL, 0), TLM_OK);
    /* Truncated, but still a NUL-terminated string. */
    assert_int_equal(tlm_decode(t, strlen(t), "[]", 2, &msg, small, sizeof small),
                     TLM_NOT_OBJECT);
    assert_int_equal(strlen(small), sizeof small - 1);
    small[0] = 'x';
    assert_int_equal(tlm_decode(t, strlen(t), "[]", 2, &msg, small, 1), TLM_NOT_OBJECT);
    assert_int_equal(small[0], '\0');
}

static void test_payload_not_nul_terminated(void **state)
{
    (void)state;
    const char buf[] = "{\"seq\":7}{\"seq\":8}";
    assert_int_equal(decn(buf, 9), TLM_OK);
    assert_int_equal(msg.seq, 7);
    /* The whole buffer has trailing data. */
    assert_int_equal(decn(buf, sizeof buf - 1), TLM_NOT_JSON);
    /* Cut before the closing brace. */
    assert_int_equal(decn(buf, 8), TLM_NOT_JSON);
}

/* ---- size ----------------------------------------------------------------- */

/* Builds a valid JSON object of exactly len bytes: {"pad":"xxx..."}. */
static char *padded(size_t len)
{
    char *p = malloc(len + 1);
    assert_non_null(p);
    const char *head = "{\"pad\":\"";
    size_t hl = strlen(head);
    memcpy(p, head, hl);
    memset(p + hl, 'x', len - hl - 2);
    p[len - 2] = '"';
    p[len - 1] = '}';
    p[len] = '\0';
    return p;
}

static void test_size_limit(void **state)
{
    (void)state;
    char *p = padded(TLM_MAX_PAYLOAD);
    assert_int_equal(strlen(p), 65536);
    assert_int_equal(decn(p, TLM_MAX_PAYLOAD), TLM_OK);
    free(p);

    p = padded(TLM_MAX_PAYLOAD + 1);
    assert_int_equal(decn(p, TLM_MAX_PAYLOAD + 1), TLM_TOO_LARGE);
    assert_non_null(strstr(detail, "65537"));
    assert_null(strstr(detail, "xxx"));
    free(p);

    /* Size is checked before UTF-8. */
    p = malloc(TLM_MAX_PAYLOAD + 1);
    assert_non_null(p);
    memset(p, 0xFF, TLM_MAX_PAYLOAD + 1);
    assert_int_equal(decn(p, TLM_MAX_PAYLOAD + 1), TLM_TOO_LARGE);
    assert_int_equal(decn(p, TLM_MAX_PAYLOAD), TLM_BAD_UTF8);
    free(p);
}

/* ---- UTF-8 ---------------------------------------------------------------- */

/* Decodes {"note":"<bytes>"} so only the embedded bytes can be at fault. */
static enum tlm_reason dec_in_string(const char *bytes)
{
    char buf[64];
    int n = snprintf(buf, sizeof buf, "{\"note\":\"%s\"}", bytes);
    assert_true(n > 0 && (size_t)n < sizeof buf);
    return decn(buf, (size_t)n);
}

static void test_utf8_valid(void **state)
{
    (void)state;
    assert_int_equal(dec_in_string("\xc3\xa9"), TLM_OK);               /* U+00E9 */
    assert_int_equal(dec_in_string("\xc2\x80"), TLM_OK);               /* U+0080 */
    assert_int_equal(dec_in_string("\xdf\xbf"), TLM_OK);               /* U+07FF */
    assert_int_equal(dec_in_string("\xe0\xa0\x80"), TLM_OK);           /* U+0800 */
    assert_int_equal(dec_in_string("\xe2\x82\xac"), TLM_OK);           /* U+20AC */
    assert_int_equal(dec_in_string("\xed\x9f\xbf"), TLM_OK);           /* U+D7FF */
    assert_int_equal(dec_in_string("\xee\x80\x80"), TLM_OK);           /* U+E000 */
    assert_int_equal(dec_in_string("\xef\xbf\xbf"), TLM_OK);           /* U+FFFF */
    assert_int_equal(dec_in_string("\xf0\x90\x80\x80"), TLM_OK);       /* U+10000 */
    assert_int_equal(dec_in_string("\xf0\x9f\x98\x80"), TLM_OK);       /* U+1F600 */
    assert_int_equal(dec_in_string("\xf4\x8f\xbf\xbf"), TLM_OK);       /* U+10FFFF */
    assert_int_equal(dec_in_string("\xe5\xae\x89\xe5\xbf\x83"), TLM_OK); /* 安心 */
}

static void test_utf8_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\x80",                 /* lone continuation */
        "\xbf",
        "\xc0\xaf",             /* overlong '/' */
        "\xc1\xbf",             /* overlong */
        "\xe0\x80\xaf",         /* overlong 3-byte */
        "\xe0\x9f\xbf",         /* overlong U+07FF */
        "\xf0\x80\x80\xaf",     /* overlong 4-byte */
        "\xf0\x8f\xbf\xbf",     /* overlong U+FFFF */
        "\xed\xa0\x80",         /* U+D800 surrogate */
        "\xed\xbf\xbf",         /* U+DFFF surrogate */
        "\xed\xa0\xbd\xed\xb8\x80", /* CESU-8 surrogate pair */
        "\xf4\x90\x80\x80",     /* U+110000 */
        "\xf5\x80\x80\x80",
        "\xf7\xbf\xbf\xbf",
        "\xf8\x88\x80\x80\x80", /* 5-byte form */
        "\xfe",
        "\xff",
        "\xc3",                 /* truncated: next byte is '"' */
        "\xe2\x82",
        "\xf0\x9f\x98",
        "\xc3\x28",             /* bad continuation */
        "\xe2\x28\xa1",
        "\xe2\x82\x28",
        "\xf0\x9f\x98\x28",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(dec_in_string(bad[i]), TLM_BAD_UTF8);
        assert_non_null(strstr(detail, "UTF-8"));
    }

    /* Truncated sequence at the very end of the payload. */
    assert_int_equal(decn("{}\xe2\x82", 4), TLM_BAD_UTF8);
    assert_string_equal(detail, "payload: invalid UTF-8 at byte 2");
    assert_int_equal(decn("\xf0", 1), TLM_BAD_UTF8);
    /* UTF-8 wins over JSON problems that come earlier in the payload. */
    assert_int_equal(decn("{\x01 \xff}", 5), TLM_BAD_UTF8);
}

/* ---- JSON shape ----------------------------------------------------------- */

static void test_not_json(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "   ",
        "{",
        "}",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{'a':1}",
        "{a:1}",
        "{\"a\":1} x",          /* trailing garbage */
        "{\"a\":1}}",
        "{}{}",
        "{\"a\":NaN}",
        "{\"a\":Infinity}",
        "{\"a\":0x10}",
        "{\"a\":\"\\ud800\"}",  /* lone surrogate escape */
        "{\"a\":\"unterminated}",
        "{\"a\":\"tab\there\"}", /* raw control characters in a string */
        "{\"a\":\"nl\nhere\"}",
        "{\"a\":\"\\u0000\"}",  /* would truncate the C string */
        "{\"hr\\u0000x\":1}",
        "{\x01}",
        "{\x7f\"a\":1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(dec(bad[i]), TLM_NOT_JSON);
        assert_non_null(strstr(detail, "payload:"));
    }
    /* A raw NUL byte. */
    assert_int_equal(decn("{}\0", 3), TLM_NOT_JSON);
    assert_int_equal(decn("{\"a\":\"\0\"}", 9), TLM_NOT_JSON);
    /* "\\u0000" is an escaped backslash followed by text, not a NUL. */
    assert_int_equal(dec("{\"a\":\"\\\\u0000\"}"), TLM_OK);
    /* Escaped quotes do not end a string for the pre-scan. */
    assert_int_equal(dec("{\"a\":\"\\\"\\u0000\"}"), TLM_NOT_JSON);
    /* Trailing JSON whitespace is fine. */
    assert_int_equal(dec("{} \t\r\n"), TLM_OK);
}

static void test_not_object(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "[]", "[{}]", "1", "-0.5", "\"SOS-0001\"", "null", "true", "false",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(dec(bad[i]), TLM_NOT_OBJECT);
        assert_string_equal(detail, "payload: expected a JSON object at the top level");
    }
}

/* ---- ts ------------------------------------------------------------------- */

static void test_ts_integer(void **state)
{
    (void)state;
    assert_int_equal(dec("{\"ts\":1795921920000}"), TLM_OK);
    assert_true(msg.has_ts);
    assert_int_equal(msg.ts_ms, INT64_C(1795921920000));

    /* Bounds: 2000-01-01T00:00:00.000Z .. 2200-12-31T23:59:59.999Z. */
    assert_int_equal(dec("{\"ts\":946684800000}"), TLM_OK);
    assert_int_equal(msg.ts_ms, INT64_C(946684800000));
    assert_int_equal(dec("{\"ts\":7289654399999}"), TLM_OK);
    assert_int_equal(msg.ts_ms, INT64_C(7289654399999));
    assert_int_equal(dec("{\"ts\":946684799999}"), TLM_BAD_TS);
    assert_non_null(strstr(detail, "2000..2200"));
    assert_int_equal(dec("{\"ts\":7289654400000}"), TLM_BAD_TS);

    /* Integral values in other notations are integers. */
    assert_int_equal(dec("{\"ts\":1.5e12}"), TLM_OK);
    assert_int_equal(msg.ts_ms, INT64_C(1500000000000));
    assert_int_equal(dec("{\"ts\":1500000000000.0}"), TLM_OK);
    assert_int_equal(msg.ts_ms, INT64_C(1500000000000));

    static const char *const bad[] = {
        "{\"ts\":1500000000000.5}",
        "{\"ts\":0}",
        "{\"ts\":-1}",
        "{\"ts\":1795921920}",          /* seconds, not ms: year 1970 */
        "{\"ts\":1e300}",
        "{\"ts\":1e400}",               /* cJSON: inf */
        "{\"ts\":-1e400}",
        "{\"ts\":true}",
        "{\"ts\":null}",
        "{\"ts\":[1795921920000]}",
        "{\"ts\":{}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(dec(bad[i]), TLM_BAD_TS);
    assert_int_equal(dec("{\"ts\":null}"), TLM_BAD_TS);
    assert_string_equal(detail, "ts: expected integer ms since the epoch or an RFC 3339 string");
}

static void test_ts_string(void **state)
{
    (void)state;
    assert_int_equal(dec("{\"ts\":\"2026-11-29T03:12:00+08:00\"}"), TLM_OK);
    assert_true(msg.has_ts);
    assert_int_equal(msg.ts_ms, INT64_C(1795893120000));
    assert_int_equal(dec("{\"ts\":\"2000-01-01T00:00:00Z\"}"), TLM_OK);
    assert_int_equal(msg.ts_ms, INT64_C(946684800000));
    assert_int_equal(dec("{\"ts\":\"2200-12-31T23:59:59.999Z\"}"), TLM_OK);
    assert_int_equal(msg.ts_ms, INT64_C(7289654399999));
    /* In range only after applying the offset. */
    assert_int_equal(dec("{\"ts\":\"1999-12-31T23:30:00-01:00\"}"), TLM_OK);
    assert_int_equal(msg.ts_ms, INT64_C(946684800000) + 30 * 60000);

    assert_int_equal(dec("{\"ts\":\"1999-12-31T23:59:59.999Z\"}"), TLM_BAD_TS);
    assert_non_null(strstr(detail, "2000..2200"));
    assert_int_equal(dec("{\"ts\":\"2201-01-01T00:00:00Z\"}"), TLM_BAD_TS);
    assert_int_equal(dec("{\"ts\":\"2000-01-01T00:30:00+01:00\"}"), TLM_BAD_TS);
    assert_int_equal(dec("{\"ts\":\"1985-04-12T23:20:50.52Z\"}"), TLM_BAD_TS);

    assert_int_equal(dec("{\"ts\":\"2026-02-30T00:00:00Z\"}"), TLM_BAD_TS);
    assert_string_equal(detail,
                        "ts: expected an RFC 3339 string like 2026-01-31T08:00:00+08:00");
    assert_int_equal(dec("{\"ts\":\"yesterday\"}"), TLM_BAD_TS);
    assert_int_equal(dec("{\"ts\":\"1795921920000\"}"), TLM_BAD_TS);
    assert_int_equal(dec("{\"ts\":\"\"}"), TLM_BAD_TS);
}

/* ---- RFC 3339 ------------------------------------------------------------- */

static void test_rfc3339_examples(void **state)
{
    (void)state;
    /* RFC 3339 section 5.8. */
    assert_int_equal(rfc("1985-04-12T23:20:50.52Z"), INT64_C(482196050520));
    assert_int_equal(rfc("1996-12-19T16:39:57-08:00"), INT64_C(851042397000));
    assert_int_equal(rfc("1937-01-01T12:00:27.87+00:20"), INT64_C(-1041337172130));
    /* Leap seconds clamp to the last ms of the minute; both spellings agree. */
    assert_int_equal(rfc("1990-12-31T23:59:60Z"), INT64_C(662687999999));
    assert_int_equal(rfc("1990-12-31T15:59:60-08:00"), INT64_C(662687999999));
    /* The header's example. */
    assert_int_equal(rfc("2026-11-29T03:12:00Z"), INT64_C(1795921920000));
    assert_int_equal(rfc("2026-11-29T03:12:00+08:00"), INT64_C(1795893120000));
}

static void test_rfc3339_variants(void **state)
{
    (void)state;
    assert_int_equal(rfc("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(rfc("1970-01-01T00:00:00.001Z"), 1);
    assert_int_equal(rfc("1969-12-31T23:59:59Z"), -1000);
    assert_int_equal(rfc("1969-12-31T23:59:59.5Z"), -500);
    assert_int_equal(rfc("0000-01-01T00:00:00Z"), INT64_C(-62167219200000));
    assert_int_equal(rfc("0001-01-01T00:00:00Z"), INT64_C(-62135596800000));
    assert_int_equal(rfc("9999-12-31T23:59:59Z"), INT64_C(253402300799000));

    int64_t base = INT64_C(1795921920000); /* 2026-11-29T03:12:00Z */
    assert_int_equal(rfc("2026-11-29t03:12:00z"), base);
    assert_int_equal(rfc("2026-11-29 03:12:00Z"), base);
    assert_int_equal(rfc("2026-11-29T03:12:00+00:00"), base);
    assert_int_equal(rfc("2026-11-29T03:12:00-00:00"), base);
    assert_int_equal(rfc("2026-11-29T08:42:00+05:30"), base);
    assert_int_equal(rfc("2026-11-28T17:12:00-10:00"), base);
    assert_int_equal(rfc("2026-11-30T02:11:00+22:59"), base);
    assert_int_equal(rfc("2026-11-28T03:13:00-23:59"), base);

    /* Fractions: milliseconds kept, finer digits truncated. */
    assert_int_equal(rfc("2026-11-29T03:12:00.1Z"), base + 100);
    assert_int_equal(rfc("2026-11-29T03:12:00.12Z"), base + 120);
    assert_int_equal(rfc("2026-11-29T03:12:00.123Z"), base + 123);
    assert_int_equal(rfc("2026-11-29T03:12:00.123999999Z"), base + 123);
    assert_int_equal(rfc("2026-11-29T03:12:00.000000000000000000000001Z"), base);
    assert_int_equal(rfc("2026-11-29T03:12:00.999+08:00"), base - 8 * 3600000 + 999);
}

static void test_rfc3339_leap_years(void **state)
{
    (void)state;
    assert_int_equal(rfc("2024-02-29T12:00:00Z"), INT64_C(1709208000000));
    assert_int_equal(rfc("2000-02-29T00:00:00Z"), INT64_C(951782400000));
    assert_int_equal(rfc("2000-03-01T00:00:00Z"), INT64_C(951868800000));
    assert_int_equal(rfc("2400-02-29T00:00:00Z") - rfc("2400-02-28T00:00:00Z"), 86400000);
    assert_int_equal(rfc("2024-03-01T00:00:00Z") - rfc("2024-02-28T00:00:00Z"),
                     2 * 86400000);
    assert_int_equal(rfc("2023-03-01T00:00:00Z") - rfc("2023-02-28T00:00:00Z"), 86400000);
    assert_int_equal(rfc("2024-12-31T00:00:00Z") - rfc("2024-01-01T00:00:00Z"),
                     INT64_C(365) * 86400000);

    assert_rfc_bad("2023-02-29T00:00:00Z");
    assert_rfc_bad("1900-02-29T00:00:00Z");
    assert_rfc_bad("2100-02-29T00:00:00Z");
    assert_rfc_bad("2024-02-30T00:00:00Z");
    assert_rfc_bad("2026-02-30T00:00:00Z");
}

static void test_rfc3339_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "2026",
        "2026-11-29",
        "2026-11-29T03:12Z",            /* no seconds */
        "2026-11-29T03:12:00",          /* no offset */
        "2026-11-29T03:12:00.Z",        /* '.' without digits */
        "2026-11-29T03:12:00.5",
        "2026-11-29T03:12:00ZZ",        /* trailing data */
        "2026-11-29T03:12:00Z ",
        " 2026-11-29T03:12:00Z",
        "2026-11-29T03:12:00+08",       /* incomplete offset */
        "2026-11-29T03:12:00+0800",
        "2026-11-29T03:12:00+08:0",
        "2026-11-29T03:12:00+24:00",
        "2026-11-29T03:12:00+08:60",
        "2026-11-29T03:12:00 +08:00",
        "2026-11-29T03:12:00UTC",
        "2026-11-29X03:12:00Z",         /* separator */
        "2026-11-29_03:12:00Z",
        "2026-11-29T3:12:00Z",          /* field widths */
        "26-11-29T03:12:00Z",
        "2026-1-29T03:12:00Z",
        "2026-11-9T03:12:00Z",
        "+2026-11-29T03:12:00Z",
        "20261-11-29T03:12:00Z",
        "2026/11/29T03:12:00Z",
        "2026-11-29T03.12.00Z",
        "2026-00-29T03:12:00Z",         /* field ranges */
        "2026-13-29T03:12:00Z",
        "2026-11-00T03:12:00Z",
        "2026-11-31T03:12:00Z",
        "2026-04-31T03:12:00Z",
        "2026-01-32T03:12:00Z",
        "2026-11-29T24:00:00Z",
        "2026-11-29T03:60:00Z",
        "2026-11-29T03:12:61Z",
        "2026-11-29T03:12:99Z",
        "2026-11-29T-3:12:00Z",
        "２０２６-11-29T03:12:00Z",      /* non-ASCII digits */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_rfc_bad(bad[i]);

    int64_t ms;
    assert_int_equal(tlm_parse_rfc3339(NULL, &ms), ANX_EINVAL);
    assert_int_equal(tlm_parse_rfc3339("2026-11-29T03:12:00Z", NULL), ANX_EINVAL);

    /* Every month's last day is valid and the next one is not. */
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (int m = 1; m <= 12; m++) {
        char s[64];
        snprintf(s, sizeof s, "2025-%02d-%02dT00:00:00Z", m, mdays[m - 1]);
        assert_int_equal(tlm_parse_rfc3339(s, &ms), 0);
        snprintf(s, sizeof s, "2025-%02d-%02dT00:00:00Z", m, mdays[m - 1] + 1);
        assert_int_equal(tlm_parse_rfc3339(s, &ms), ANX_EINVAL);
    }
}

static void test_rfc3339_consecutive_days(void **state)
{
    (void)state;
    /* Each calendar day is exactly 86400000 ms after the previous one across
     * 1999..2101 (month ends, leap days, century years). */
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t prev = rfc("1998-12-31T00:00:00Z");
    for (int y = 1999; y <= 2101; y++) {
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        for (int m = 1; m <= 12; m++) {
            int dim = mdays[m - 1] + (m == 2 && leap);
            for (int d = 1; d <= dim; d++) {
                char s[64];
                snprintf(s, sizeof s, "%04d-%02d-%02dT00:00:00Z", y, m, d);
                int64_t cur = rfc(s);
                assert_int_equal(cur - prev, 86400000);
                prev = cur;
            }
        }
    }
}

/* ---- seq ------------------------------------------------------------------ */

static void test_seq(void **state)
{
    (void)state;
    assert_int_equal(dec("{\"seq\":0}"), TLM_OK);
    assert_true(msg.has_seq);
    assert_int_equal(msg.seq, 0);
    assert_int_equal(dec("{\"seq\":123456789}"), TLM_OK);
    assert_int_equal(msg.seq, 123456789);
    assert_int_equal(dec("{\"seq\":7.0}"), TLM_OK);
    assert_int_equal(msg.seq, 7);
    assert_int_equal(dec("{\"seq\":9007199254740992}"), TLM_OK);
    assert_int_equal(msg.seq, INT64_C(9007199254740992));

    static const char *const bad[] = {
        "{\"seq\":-1}",
        "{\"seq\":1.5}",
        "{\"seq\":0.001}",
        "{\"seq\":9007199254740994}",   /* 2^53 + 2 */
        "{\"seq\":1e300}",
        "{\"seq\":1e400}",
        "{\"seq\":\"1\"}",
        "{\"seq\":true}",
        "{\"seq\":null}",
        "{\"seq\":[1]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(dec(bad[i]), TLM_BAD_SEQ);
        assert_string_equal(detail, "seq: expected an integer from 0 to 2^53");
    }
}

/* ---- device --------------------------------------------------------------- */

static void test_device(void **state)
{
    (void)state;
    assert_int_equal(dec("{\"device\":\"SOS-0001\"}"), TLM_OK);
    assert_string_equal(msg.device_id, "SOS-0001");

    static const char *const bad[] = {
        "{\"device\":\"SOS-0002\"}",
        "{\"device\":\"sos-0001\"}",
        "{\"device\":\"SOS-0001 \"}",
        "{\"device\":\"SOS-00010\"}",
        "{\"device\":\"SOS-000\"}",
        "{\"device\":\"\"}",
        "{\"device\":1}",
        "{\"device\":null}",
        "{\"device\":true}",
        "{\"device\":[\"SOS-0001\"]}",
        "{\"device\":{\"id\":\"SOS-0001\"}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(dec(bad[i]), TLM_ID_MISMATCH);
        assert_non_null(strstr(detail, "device:"));
    }
}

/* ---- metrics -------------------------------------------------------------- */

static void test_metrics_names(void **state)
{
    (void)state;
    char name32[TLM_MAX_NAME + 1], p[128];
    memset(name32, 'a', TLM_MAX_NAME);
    name32[TLM_MAX_NAME] = '\0';
    snprintf(p, sizeof p, "{\"metrics\":{\"%s\":1}}", name32);
    assert_int_equal(dec(p), TLM_OK);
    assert_string_equal(msg.metrics[0].name, name32);
    assert_non_null(tlm_find_metric(&msg, name32));

    assert_int_equal(dec("{\"metrics\":{\"a\":1,\"z9._\":2,\"a.b.c\":3,\"a__\":4}}"), TLM_OK);
    assert_int_equal(msg.n_metrics, 4);

    snprintf(p, sizeof p, "{\"metrics\":{\"%sb\":1}}", name32);   /* 33 chars */
    assert_int_equal(dec(p), TLM_BAD_METRICS);

    static const char *const bad[] = {
        "{\"metrics\":{\"\":1}}",
        "{\"metrics\":{\"HR\":1}}",
        "{\"metrics\":{\"hR\":1}}",
        "{\"metrics\":{\"1hr\":1}}",
        "{\"metrics\":{\"_hr\":1}}",
        "{\"metrics\":{\".hr\":1}}",
        "{\"metrics\":{\"hr-bpm\":1}}",
        "{\"metrics\":{\"hr bpm\":1}}",
        "{\"metrics\":{\"hr/bpm\":1}}",
        "{\"metrics\":{\"h\\u00e9\":1}}",
        "{\"metrics\":{\"ok\":1,\"Bad\":2}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(dec(bad[i]), TLM_BAD_METRICS);
        assert_string_equal(detail, "metrics: names must be 1..32 chars of [a-z0-9_.] "
                                    "starting with a letter");
    }
}

static void test_metrics_values(void **state)
{
    (void)state;
    assert_int_equal(dec("{\"metrics\":{\"a\":0,\"b\":-0.5,\"c\":1e308,\"d\":true,"
                         "\"e\":false,\"f\":-1E-3}}"), TLM_OK);
    assert_int_equal(msg.n_metrics, 6);
    assert_true(tlm_find_metric(&msg, "a")->value == 0.0);
    assert_true(tlm_find_metric(&msg, "b")->value == -0.5);
    assert_true(tlm_find_metric(&msg, "c")->value == 1e308);
    assert_true(tlm_find_metric(&msg, "d")->is_bool);
    assert_true(tlm_find_metric(&msg, "d")->value == 1.0);
    assert_true(tlm_find_metric(&msg, "e")->is_bool);
    assert_true(tlm_find_metric(&msg, "e")->value == 0.0);
    assert_false(tlm_find_metric(&msg, "f")->is_bool);
    assert_true(tlm_find_metric(&msg, "f")->value == -0.001);

    static const char *const bad[] = {
        "{\"metrics\":{\"hr\":null}}",
        "{\"metrics\":{\"hr\":\"72\"}}",
        "{\"metrics\":{\"hr\":[72]}}",
        "{\"metrics\":{\"hr\":{\"v\":72}}}",
        "{\"metrics\":{\"hr\":1e400}}",
        "{\"metrics\":{\"hr\":-1e400}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(dec(bad[i]), TLM_BAD_METRICS);
        assert_string_equal(detail, "metrics.hr: expected a finite number or a boolean");
    }

    static const char *const not_obj[] = {
        "{\"metrics\":null}",
        "{\"metrics\":[]}",
        "{\"metrics\":[{\"hr\":1}]}",
        "{\"metrics\":\"hr=72\"}",
        "{\"metrics\":72}",
        "{\"metrics\":true}",
    };
    for (size_t i = 0; i < sizeof not_obj / sizeof not_obj[0]; i++) {
        assert_int_equal(dec(not_obj[i]), TLM_BAD_METRICS);
        assert_string_equal(detail, "metrics: expected an object of name -> number or boolean");
    }

    /* A duplicated metric is ambiguous. */
    assert_int_equal(dec("{\"metrics\":{\"hr\":72,\"spo2\":97,\"hr\":73}}"), TLM_BAD_METRICS);
    assert_string_equal(detail, "metrics.hr: appears more than once");
}

/* Builds {"metrics":{"m0":0,...}} with n members. */
static char *many_metrics(int n)
{
    size_t cap = 32 + (size_t)n * 16;
    char *p = malloc(cap);
    assert_non_null(p);
    size_t len = (size_t)snprintf(p, cap, "{\"metrics\":{");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(p + len, cap - len, "%s\"m%d\":%d", i ? "," : "", i, i);
    snprintf(p + len, cap - len, "}}");
    return p;
}

static void test_metrics_too_many(void **state)
{
    (void)state;
    char *p = many_metrics(TLM_MAX_METRICS);
    assert_int_equal(dec(p), TLM_OK);
    assert_int_equal(msg.n_metrics, TLM_MAX_METRICS);
    assert_true(tlm_find_metric(&msg, "m63")->value == 63.0);
    assert_string_equal(msg.metrics[TLM_MAX_METRICS - 1].name, "m63");
    free(p);

    p = many_metrics(TLM_MAX_METRICS + 1);
    assert_int_equal(dec(p), TLM_TOO_MANY);
    assert_string_equal(detail, "metrics: more than 64 members");
    free(p);

    p = many_metrics(5000);
    assert_int_equal(dec(p), TLM_TOO_MANY);
    free(p);
}

/* ---- events --------------------------------------------------------------- */

static void test_events(void **state)
{
    (void)state;
    assert_int_equal(dec("{\"events\":[\"fall\",\"sos\",\"fall\",\"low.battery\",\"sos\"]}"),
                     TLM_OK);
    assert_int_equal(msg.n_events, 3);
    assert_string_equal(msg.events[0], "fall");
    assert_string_equal(msg.events[1], "sos");
    assert_string_equal(msg.events[2], "low.battery");

    static const char *const bad[] = {
        "{\"events\":null}",
        "{\"events\":\"fall\"}",
        "{\"events\":{\"fall\":true}}",
        "{\"events\":[1]}",
        "{\"events\":[\"fall\",null]}",
        "{\"events\":[\"fall\",true]}",
        "{\"events\":[[\"fall\"]]}",
        "{\"events\":[\"\"]}",
        "{\"events\":[\"Fall\"]}",
        "{\"events\":[\"2fall\"]}",
        "{\"events\":[\"fall-down\"]}",
        "{\"events\":[\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]}", /* 33 chars */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(dec(bad[i]), TLM_BAD_EVENTS);

    assert_int_equal(dec("{\"events\":[\"fall\",\"sos\",\"Evil\"]}"), TLM_BAD_EVENTS);
    assert_string_equal(detail, "events[2]: expected a name of 1..32 chars of [a-z0-9_.] "
                                "starting with a letter");
    assert_int_equal(dec("{\"events\":[\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]}"), TLM_OK);
}

static void test_events_too_many(void **state)
{
    (void)state;
    char p[1024];
    size_t len = (size_t)snprintf(p, sizeof p, "{\"events\":[");
    for (int i = 0; i < TLM_MAX_EVENTS; i++)
        len += (size_t)snprintf(p + len, sizeof p - len, "%s\"e%d\"", i ? "," : "", i);
    snprintf(p + len, sizeof p - len, "]}");
    assert_int_equal(dec(p), TLM_OK);
    assert_int_equal(msg.n_events, TLM_MAX_EVENTS);
    assert_string_equal(msg.events[15], "e15");

    /* A 17th distinct event. */
    snprintf(p + len, sizeof p - len, ",\"e16\"]}");
    assert_int_equal(dec(p), TLM_TOO_MANY);
    assert_string_equal(detail, "events: more than 16 distinct events");

    /* Repeats of the same 16 do not count. */
    snprintf(p + len, sizeof p - len, ",\"e0\",\"e15\",\"e7\"]}");
    assert_int_equal(dec(p), TLM_OK);
    assert_int_equal(msg.n_events, TLM_MAX_EVENTS);

    /* Many repeats of one event collapse to one. */
    len = (size_t)snprintf(p, sizeof p, "{\"events\":[");
    for (int i = 0; i < 100; i++)
        len += (size_t)snprintf(p + len, sizeof p - len, "%s\"fall\"", i ? "," : "");
    snprintf(p + len, sizeof p - len, "]}");
    assert_int_equal(dec(p), TLM_OK);
    assert_int_equal(msg.n_events, 1);
    assert_true(tlm_has_event(&msg, "fall"));
}

/* ---- lookups -------------------------------------------------------------- */

static void test_lookups(void **state)
{
    (void)state;
    assert_int_equal(dec("{\"metrics\":{\"hr\":72,\"hr.max\":120,\"fallen\":true},"
                         "\"events\":[\"sos\",\"fall\"]}"), TLM_OK);
    assert_true(tlm_has_event(&msg, "sos"));
    assert_true(tlm_has_event(&msg, "fall"));
    assert_false(tlm_has_event(&msg, "fal"));
    assert_false(tlm_has_event(&msg, "falls"));
    assert_false(tlm_has_event(&msg, "SOS"));
    assert_false(tlm_has_event(&msg, ""));

    const struct tlm_metric *m = tlm_find_metric(&msg, "hr");
    assert_non_null(m);
    assert_ptr_equal(m, &msg.metrics[0]);
    assert_true(m->value == 72.0);
    m = tlm_find_metric(&msg, "hr.max");
    assert_non_null(m);
    assert_true(m->value == 120.0);
    m = tlm_find_metric(&msg, "fallen");
    assert_non_null(m);
    assert_true(m->is_bool);
    assert_null(tlm_find_metric(&msg, "h"));
    assert_null(tlm_find_metric(&msg, "HR"));
    assert_null(tlm_find_metric(&msg, "sos"));
    assert_null(tlm_find_metric(&msg, ""));

    assert_int_equal(dec("{}"), TLM_OK);
    assert_false(tlm_has_event(&msg, "sos"));
    assert_null(tlm_find_metric(&msg, "hr"));
}

/* ---- cross-cutting -------------------------------------------------------- */

static void test_duplicate_members(void **state)
{
    (void)state;
    assert_int_equal(dec("{\"ts\":1795921920000,\"ts\":1795921920001}"), TLM_BAD_TS);
    assert_string_equal(detail, "ts: member appears more than once");
    assert_int_equal(dec("{\"seq\":1,\"seq\":2}"), TLM_BAD_SEQ);
    assert_int_equal(dec("{\"device\":\"SOS-0001\",\"device\":\"SOS-0002\"}"),
                     TLM_ID_MISMATCH);
    assert_int_equal(dec("{\"device\":\"SOS-0002\",\"device\":\"SOS-0001\"}"),
                     TLM_ID_MISMATCH);
    assert_int_equal(dec("{\"metrics\":{},\"metrics\":{}}"), TLM_BAD_METRICS);
    assert_int_equal(dec("{\"events\":[],\"events\":[]}"), TLM_BAD_EVENTS);
}

static void test_check_order(void **state)
{
    (void)state;
    /* With several problems, ts, seq, device, metrics, events are checked in
     * that order, whatever the member order in the payload. */
    const char *p = "{\"events\":7,\"metrics\":7,\"device\":7,\"seq\":-1,\"ts\":true}";
    assert_int_equal(dec(p), TLM_BAD_TS);
    assert_int_equal(dec("{\"events\":7,\"metrics\":7,\"device\":7,\"seq\":-1}"), TLM_BAD_SEQ);
    assert_int_equal(dec("{\"events\":7,\"metrics\":7,\"device\":7}"), TLM_ID_MISMATCH);
    assert_int_equal(dec("{\"events\":7,\"metrics\":7}"), TLM_BAD_METRICS);
    assert_int_equal(dec("{\"events\":7}"), TLM_BAD_EVENTS);
}

static void test_detail_has_no_payload(void **state)
{
    (void)state;
    static const char *const p[] = {
        "{\"device\":\"SECRET\"}",
        "{\"ts\":\"SECRET\"}",
        "{\"seq\":\"SECRET\"}",
        "{\"metrics\":\"SECRET\"}",
        "{\"metrics\":{\"SECRET\":1}}",
        "{\"metrics\":{\"hr\":\"SECRET\"}}",
        "{\"events\":[\"SECRET\"]}",
        "{\"events\":\"SECRET\"}",
        "[\"SECRET\"]",
        "{\"SECRET\" \"SECRET\"}",
        "{\"a\":\"SECRET\\u0000\"}",
        "{\"a\":\"SECRET\xff\"}",
    };
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
        assert_int_not_equal(dec(p[i]), TLM_OK);
        assert_true(detail[0] != '\0');
        assert_null(strstr(detail, "SECRET"));
        assert_null(strstr(detail, "secret"));
    }
    /* A 65-char metric name (valid alphabet) is not echoed either. */
    assert_int_equal(dec("{\"metrics\":{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                         "aaaaaaaaaaaa\":1}}"), TLM_BAD_METRICS);
    assert_null(strstr(detail, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

static void test_reject_then_accept(void **state)
{
    (void)state;
    /* No state leaks from a rejected message into the next one. */
    assert_int_equal(dec("{\"ts\":946684800000,\"seq\":3,\"metrics\":{\"a\":1},"
                         "\"events\":[\"x\",\"Y\"]}"), TLM_BAD_EVENTS);
    assert_int_equal(dec("{}"), TLM_OK);
    assert_false(msg.has_ts);
    assert_false(msg.has_seq);
    assert_int_equal(msg.n_metrics, 0);
    assert_int_equal(msg.n_events, 0);
    assert_string_equal(detail, "");
}

static void test_filter_matches(void **state)
{
    (void)state;
    static const struct { const char *filter, *topic; bool want; } cases[] = {
        {"anxin/v1/+/alarm", "anxin/v1/SOS-1/alarm", true},
        {"anxin/v1/+/alarm", "anxin/v1/SOS-1/telemetry", false},
        {"anxin/v1/+/alarm", "anxin/v1/alarm", false},
        {"anxin/v1/+/alarm", "anxin/v1/a/b/alarm", false},
        {"anxin/v1/+/alarm", "anxin/v1//alarm", true},
        {"$share/g/anxin/v1/+/alarm", "anxin/v1/X/alarm", true},
        {"$share/g/anxin/v1/+/alarm", "anxin/v1/X/telemetry", false},
        {"#", "anxin/v1/X/alarm", true},
        {"#", "$SYS/broker/load", false},
        {"+/v1/X/alarm", "$x/v1/X/alarm", false},
        {"a/#", "a", true},
        {"a/#", "a/b/c", true},
        {"a/#", "ab", false},
        {"a/+", "a", false},
        {"a/+", "a/", true},
        {"a/b", "a/b/", false},
        {"a/b/", "a/b", false},
        {"a/b", "a/bc", false},
        {"a/bc", "a/b", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool got = tlm_filter_matches(cases[i].filter, cases[i].topic, strlen(cases[i].topic));
        if (got != cases[i].want)
            print_message("%s vs %s: got %d\n", cases[i].filter, cases[i].topic, got);
        assert_int_equal(got, cases[i].want);
    }
    /* Only topic_len bytes are the topic. */
    assert_true(tlm_filter_matches("a/b", "a/bXYZ", 3));
    assert_false(tlm_filter_matches("a/b/#", "a/c/d", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reason_names),
        cmocka_unit_test(test_topic_good),
        cmocka_unit_test(test_topic_not_nul_terminated),
        cmocka_unit_test(test_topic_bad),
        cmocka_unit_test(test_decode_bad_topic),
        cmocka_unit_test(test_decode_full),
        cmocka_unit_test(test_decode_minimal),
        cmocka_unit_test(test_decode_detail_optional),
        cmocka_unit_test(test_payload_not_nul_terminated),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_utf8_invalid),
        cmocka_unit_test(test_not_json),
        cmocka_unit_test(test_not_object),
        cmocka_unit_test(test_ts_integer),
        cmocka_unit_test(test_ts_string),
        cmocka_unit_test(test_rfc3339_examples),
        cmocka_unit_test(test_rfc3339_variants),
        cmocka_unit_test(test_rfc3339_leap_years),
        cmocka_unit_test(test_rfc3339_bad),
        cmocka_unit_test(test_rfc3339_consecutive_days),
        cmocka_unit_test(test_seq),
        cmocka_unit_test(test_device),
        cmocka_unit_test(test_metrics_names),
        cmocka_unit_test(test_metrics_values),
        cmocka_unit_test(test_metrics_too_many),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_events_too_many),
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_duplicate_members),
        cmocka_unit_test(test_check_order),
        cmocka_unit_test(test_detail_has_no_payload),
        cmocka_unit_test(test_reject_then_accept),
        cmocka_unit_test(test_filter_matches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
