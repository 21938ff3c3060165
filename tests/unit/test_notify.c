/* test_notify.c - unit tests for the built-in rules (lib/rule.c) and for
 * notifications (lib/notify.c): rule matching on decoded telemetry, the first
 * escalation step, the rendered SMS text, local time formatting and the
 * webhook body. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "err.h"
#include "notify.h"
#include "registry.h"
#include "rule.h"
#include "telemetry.h"

#define TOPIC "anxin/v1/SOS-0001/telemetry"

static struct tlm_msg msg;

static void decode(const char *payload)
{
    char detail[128];
    enum tlm_reason r = tlm_decode(TOPIC, strlen(TOPIC), payload, strlen(payload), &msg, detail,
                                   sizeof detail);
    if (r != TLM_OK)
        fail_msg("tlm_decode(%s): %s", payload, detail);
}

/* ---- rules ------------------------------------------------------------------ */

static void test_builtin_rules(void **state)
{
    (void)state;
    struct rule_set *rs = rule_set_builtin();
    assert_non_null(rs);
    assert_int_equal(rs->n_rules, 3);

    static const char *const names[] = {"sos", "fall", "hazard"};
    for (size_t i = 0; i < 3; i++) {
        const struct rule *r = rule_find(rs, names[i]);
        assert_non_null(r);
        assert_ptr_equal(r, &rs->rules[i]);
        assert_string_equal(r->name, names[i]);
        assert_int_equal(r->severity, RULE_SEV_CRITICAL);
        assert_string_equal(r->chain, "emergency");
        assert_true(strlen(r->title) > 0);
        assert_non_null(strstr(r->sms_template, "{ack_code}"));
        assert_non_null(strstr(r->sms_template, "{elder.name}"));
    }
    const struct rule *sos = rule_find(rs, "sos");
    assert_int_equal(sos->n_events, 1);
    assert_string_equal(sos->events[0], "sos");
    assert_string_equal(sos->title, "SOS紧急呼叫");
    const struct rule *fall = rule_find(rs, "fall");
    assert_int_equal(fall->n_events, 1);
    assert_string_equal(fall->events[0], "fall");
    const struct rule *hz = rule_find(rs, "hazard");
    assert_int_equal(hz->n_events, 3);
    assert_string_equal(hz->events[0], "smoke");
    assert_string_equal(hz->events[1], "gas");
    assert_string_equal(hz->events[2], "water_leak");

    assert_null(rule_find(rs, "SOS"));
    assert_null(rule_find(rs, ""));
    assert_null(rule_find(rs, "smoke"));

    assert_string_equal(rule_severity_name(RULE_SEV_LOW), "low");
    assert_string_equal(rule_severity_name(RULE_SEV_MEDIUM), "medium");
    assert_string_equal(rule_severity_name(RULE_SEV_HIGH), "high");
    assert_string_equal(rule_severity_name(RULE_SEV_CRITICAL), "critical");
    assert_string_equal(rule_severity_name((enum rule_severity)42), "unknown");
    rule_set_free(rs);
    rule_set_free(NULL);
}

static void test_rule_match(void **state)
{
    (void)state;
    struct rule_set *rs = rule_set_builtin();
    struct rule_hit hits[8];

    decode("{\"events\":[\"sos\"]}");
    assert_int_equal(rule_match(rs, &msg, hits, 8), 1);
    assert_string_equal(hits[0].rule->name, "sos");
    assert_ptr_equal(hits[0].event, msg.events[0]);     /* points into the message */
    assert_string_equal(hits[0].event, "sos");

    decode("{\"ts\":1716986096000,\"seq\":3,\"events\":[\"smoke\",\"fall\"]}");
    assert_int_equal(rule_match(rs, &msg, hits, 8), 2);
    assert_string_equal(hits[0].rule->name, "fall");
    assert_string_equal(hits[0].event, "fall");
    assert_ptr_equal(hits[0].event, msg.events[1]);
    assert_string_equal(hits[1].rule->name, "hazard");
    assert_string_equal(hits[1].event, "smoke");
    assert_ptr_equal(hits[1].event, msg.events[0]);

    /* At most max hits. */
    assert_int_equal(rule_match(rs, &msg, hits, 1), 1);
    assert_string_equal(hits[0].rule->name, "fall");
    assert_int_equal(rule_match(rs, &msg, hits, 0), 0);

    /* One hit per rule even when several of its events are present. */
    decode("{\"events\":[\"gas\",\"water_leak\"]}");
    assert_int_equal(rule_match(rs, &msg, hits, 8), 1);
    assert_string_equal(hits[0].rule->name, "hazard");
    assert_true(hits[0].event == msg.events[0] || hits[0].event == msg.events[1]);

    decode("{\"events\":[\"water_leak\",\"fall\",\"battery_low\",\"sos\"]}");
    assert_int_equal(rule_match(rs, &msg, hits, 8), 3);
    assert_string_equal(hits[0].rule->name, "sos");
    assert_string_equal(hits[0].event, "sos");
    assert_string_equal(hits[1].rule->name, "fall");
    assert_string_equal(hits[2].rule->name, "hazard");
    assert_string_equal(hits[2].event, "water_leak");

    /* No events, or none that a rule knows. */
    decode("{\"metrics\":{\"hr\":72}}");
    assert_int_equal(msg.n_events, 0);
    assert_int_equal(rule_match(rs, &msg, hits, 8), 0);
    decode("{}");
    assert_int_equal(rule_match(rs, &msg, hits, 8), 0);
    decode("{\"events\":[]}");
    assert_int_equal(rule_match(rs, &msg, hits, 8), 0);
    decode("{\"events\":[\"battery_low\",\"sos_cancel\",\"falls\"]}");
    assert_int_equal(rule_match(rs, &msg, hits, 8), 0);
    rule_set_free(rs);
}

/* ---- recipients ------------------------------------------------------------- */

static struct reg_elder *make_elder(const char *json)
{
    struct reg_elder *e = NULL;
    char err[128] = "";
    if (reg_elder_from_json(json, strlen(json), &e, err, sizeof err) != 0)
        fail_msg("reg_elder_from_json: %s", err);
    return e;
}

#define CT(id, prio, chans) \
    "{\"id\":" #id ",\"name\":\"C" #id "\",\"phone\":\"+86138000000" #id "\"," \
    "\"role\":\"family\",\"priority\":" #prio chans "}"

static void test_first_step(void **state)
{
    (void)state;
    struct reg_elder *e = make_elder(
        "{\"id\":\"E1\",\"name\":\"N\",\"contacts\":["
        CT(10, 1, ",\"channels\":[\"sms\"]") ","
        CT(11, 2, ",\"channels\":[\"sms\"]") ","
        CT(12, 1, ",\"channels\":[\"voice\"]") ","
        CT(13, 1, ",\"channels\":[\"voice\",\"sms\"]") ","
        CT(14, 1, "") ","                               /* no channels: SMS */
        CT(15, 3, "") ","
        CT(16, 1, ",\"channels\":[]") "]}");            /* no channel at all */
    size_t idx[8];

    assert_int_equal(notify_first_step(e, idx, 8), 3);
    assert_int_equal(idx[0], 0);
    assert_int_equal(idx[1], 3);
    assert_int_equal(idx[2], 4);
    assert_int_equal(e->contacts[idx[1]].id, 13);

    assert_int_equal(notify_first_step(e, idx, 2), 2);
    assert_int_equal(idx[0], 0);
    assert_int_equal(idx[1], 3);
    idx[0] = 99;
    assert_int_equal(notify_first_step(e, idx, 0), 0);
    assert_int_equal(idx[0], 99);
    reg_elder_free(e);

    e = make_elder("{\"id\":\"E2\",\"name\":\"N\"}");
    assert_int_equal(notify_first_step(e, idx, 8), 0);
    reg_elder_free(e);

    e = make_elder("{\"id\":\"E3\",\"name\":\"N\",\"contacts\":[" CT(20, 2, "") "]}");
    assert_int_equal(notify_first_step(e, idx, 8), 0);
    reg_elder_free(e);
}

/* ---- local time ------------------------------------------------------------- */

static void expect_time(int64_t ms, int offset, const char *want)
{
    char out[NOTIFY_TIME_LEN];
    memset(out, 'x', sizeof out);
    notify_format_local(ms, offset, out);
    assert_string_equal(out, want);
}

static void test_format_local(void **state)
{
    (void)state;
    expect_time(0, 0, "1970-01-01 00:00:00");
    expect_time(0, 480, "1970-01-01 08:00:00");
    expect_time(INT64_C(1716986096000), 0, "2024-05-29 12:34:56");
    expect_time(INT64_C(1716986096000), 480, "2024-05-29 20:34:56");
    expect_time(INT64_C(1716986096999), 480, "2024-05-29 20:34:56");   /* ms dropped */
    expect_time(INT64_C(1716986096000), -300, "2024-05-29 07:34:56");
    /* Across midnight with +480. */
    expect_time(INT64_C(1717000200000), 0, "2024-05-29 16:30:00");
    expect_time(INT64_C(1717000200000), 480, "2024-05-30 00:30:00");
    expect_time(INT64_C(1717000200000) - 1000, 450, "2024-05-29 23:59:59");
    /* New year's eve. */
    expect_time(INT64_C(1735664400000), 480, "2025-01-01 01:00:00");
    expect_time(INT64_C(1735664400000) - 3600001, 480, "2024-12-31 23:59:59");
    /* Leap days: 2024 and 2000 are leap years, 2023 and 2100 are not. */
    expect_time(INT64_C(1709136000000), 480, "2024-02-29 00:00:00");
    expect_time(INT64_C(1709222400000), 480, "2024-03-01 00:00:00");
    expect_time(INT64_C(1709222400000) - 1000, 480, "2024-02-29 23:59:59");
    expect_time(INT64_C(1677600000000), 480, "2023-03-01 00:00:00");
    expect_time(INT64_C(951753600000), 480, "2000-02-29 00:00:00");
    expect_time(INT64_C(4107513600000), 480, "2100-03-01 00:00:00");
    /* Backwards across a leap day with a negative offset. */
    expect_time(INT64_C(1709258400000), -300, "2024-02-29 21:00:00");
    expect_time(INT64_C(946684800000), -1, "1999-12-31 23:59:00");
    /* Before the epoch: seconds round down, not toward zero. */
    expect_time(-1, 0, "1969-12-31 23:59:59");
    expect_time(-1000, 0, "1969-12-31 23:59:59");
    expect_time(-1001, 0, "1969-12-31 23:59:58");
    expect_time(-1, 480, "1970-01-01 07:59:59");
}

/* ---- SMS text --------------------------------------------------------------- */

static const char ELDER[] =
    "{\"id\":\"E0001\",\"name\":\"张桂兰\",\"township\":\"城关镇\",\"village\":\"东湖村\","
    "\"grid\":\"G-03\",\"devices\":[{\"id\":\"SOS-0001\",\"kind\":\"sos_button\"}]}";

static struct alert *make_alert(struct alert_table *t, const char *rule, int64_t event_ts)
{
    struct alert_open_args a = {
        .id = 1234567, .elder_id = "E0001", .device_id = "SOS-0001", .rule = rule,
        .severity = RULE_SEV_CRITICAL, .chain = "emergency", .event_ts_ms = event_ts,
        .now_ms = event_ts + 250, .ack_code = "4821", .state = ALERT_OPEN,
    };
    struct alert *al = NULL;
    assert_int_equal(alert_open(t, &a, &al), 0);
    return al;
}

static void test_render_sms(void **state)
{
    (void)state;
    struct rule_set *rs = rule_set_builtin();
    struct reg_elder *e = make_elder(ELDER);
    struct alert_table t = {0};
    char out[512];

    struct alert *al = make_alert(&t, "sos", INT64_C(1716986096000));
    assert_int_equal(notify_render_sms(rule_find(rs, "sos"), al, e, "sos_button", "sos", NULL,
                                       480, out, sizeof out), 0);
    assert_string_equal(out, "【安心】紧急：张桂兰（东湖村）20:34 按下了呼叫按钮。"
                             "请立即联系或上门查看。回复4821确认由您处理。");

    /* The offset moves the clock time. */
    assert_int_equal(notify_render_sms(rule_find(rs, "sos"), al, e, NULL, "sos", NULL, 0, out,
                                       sizeof out), 0);
    assert_string_equal(out, "【安心】紧急：张桂兰（东湖村）12:34 按下了呼叫按钮。"
                             "请立即联系或上门查看。回复4821确认由您处理。");

    /* Just after local midnight. */
    al->event_ts_ms = INT64_C(1717000200000);
    assert_int_equal(notify_render_sms(rule_find(rs, "fall"), al, e, NULL, "fall", NULL, 480,
                                       out, sizeof out), 0);
    assert_string_equal(out, "【安心】紧急：张桂兰（东湖村）00:30 可能跌倒。"
                             "请立即联系或上门查看。回复4821确认由您处理。");

    al->event_ts_ms = INT64_C(1716986096000);
    assert_int_equal(notify_render_sms(rule_find(rs, "hazard"), al, e, "smoke_detector", "smoke",
                                       NULL, 480, out, sizeof out), 0);
    assert_string_equal(out, "【安心】紧急：张桂兰（东湖村）家中20:34 发出烟雾报警。"
                             "请立即联系或上门查看。回复4821确认由您处理。");

    /* An event without a Chinese name is named as the device sent it. */
    assert_null(notify_event_title("meteor"));
    assert_string_equal(notify_event_title("water_leak"), "漏水");
    assert_int_equal(notify_render_sms(rule_find(rs, "hazard"), al, e, NULL, "meteor", NULL,
                                       480, out, sizeof out), 0);
    assert_non_null(strstr(out, "家中20:34 发出meteor报警。"));

    /* Too small a buffer: ERANGE, cut on a character boundary. */
    char small[20];
    assert_int_equal(notify_render_sms(rule_find(rs, "sos"), al, e, NULL, "sos", NULL, 480, small,
                                       sizeof small), ANX_ERANGE);
    assert_string_equal(small, "【安心】紧急");        /* 18 bytes; "：" would need 22 */

    alert_table_clear(&t);
    reg_elder_free(e);
    rule_set_free(rs);
}

static void test_render_all_fields(void **state)
{
    (void)state;
    struct rule_set *rs = rule_set_builtin();
    struct reg_elder *e = make_elder(ELDER);
    struct alert_table t = {0};
    char out[512];
    struct alert *al = make_alert(&t, "sos", INT64_C(1717000200000));

    struct rule r = *rule_find(rs, "sos");
    snprintf(r.sms_template, sizeof r.sms_template, "%s",
             "{elder.id}|{elder.name}|{elder.village}|{elder.township}|{elder.grid}|"
             "{device.id}|{device.kind}|{rule.name}|{rule.title}|{event.title}|{value}|{severity}|"
             "{alert.id}|{ack_code}|{time}|{date}|{elder.phone}");
    assert_int_equal(notify_render_sms(&r, al, e, "sos_button", "sos", "142", 480, out,
                                       sizeof out), 1);
    assert_string_equal(out, "E0001|张桂兰|东湖村|城关镇|G-03|SOS-0001|sos_button|sos|"
                             "SOS紧急呼叫|呼叫|142|critical|1234567|4821|00:30|2024-05-30|"
                             "{elder.phone}");

    /* Missing optional elder fields and device kind render empty. */
    struct reg_elder *bare = make_elder("{\"id\":\"E2\",\"name\":\"李\"}");
    snprintf(r.sms_template, sizeof r.sms_template, "%s",
             "[{elder.village}][{elder.township}][{elder.grid}][{device.kind}]{date} {time}");
    assert_int_equal(notify_render_sms(&r, al, bare, NULL, NULL, NULL, 0, out, sizeof out), 0);
    assert_string_equal(out, "[][][][]2024-05-29 16:30");
    reg_elder_free(bare);

    alert_table_clear(&t);
    reg_elder_free(e);
    rule_set_free(rs);
}

/* ---- webhook ---------------------------------------------------------------- */

static const char *const WEBHOOK_KEYS[] = {"id", "alert", "elder", "rule", "severity", "to",
                                           "channel", "text", "ack_code", "event_ts"};

static cJSON *parse_body(const char *body)
{
    cJSON *o = cJSON_Parse(body);
    assert_non_null(o);
    assert_true(cJSON_IsObject(o));
    /* Exactly the ten documented keys, each once. */
    assert_int_equal(cJSON_GetArraySize(o), 10);
    for (size_t i = 0; i < 10; i++) {
        int count = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, o)
            count += strcmp(it->string, WEBHOOK_KEYS[i]) == 0;
        if (count != 1)
            fail_msg("key %s appears %d times", WEBHOOK_KEYS[i], count);
    }
    return o;
}

static const cJSON *get(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_non_null(v);
    return v;
}

static void test_webhook_body(void **state)
{
    (void)state;
    struct notify_msg n;
    memset(&n, 0, sizeof n);
    n.id = INT64_C(9007199254740991);           /* 2^53 - 1: the largest exact id */
    n.alert_id = INT64_C(1234567890123);
    n.contact_id = 77;
    snprintf(n.elder_id, sizeof n.elder_id, "E0001");
    snprintf(n.rule, sizeof n.rule, "sos");
    n.severity = RULE_SEV_CRITICAL;
    snprintf(n.contact_name, sizeof n.contact_name, "李明");
    n.role = REG_ROLE_FAMILY;
    snprintf(n.to, sizeof n.to, "+8613800000011");
    n.channel = NOTIFY_SMS;
    snprintf(n.ack_code, sizeof n.ack_code, "4821");
    n.event_ts_ms = INT64_C(1716986096123);
    n.created_ms = INT64_C(1716986097000);
    n.text = strdup("【安心】张桂兰\"按下\"\n呼叫\\按钮");
    assert_non_null(n.text);

    char *body = notify_webhook_body(&n);
    assert_non_null(body);
    /* Numbers are written as plain integers, not in exponent form. */
    assert_non_null(strstr(body, "\"id\":9007199254740991"));
    assert_non_null(strstr(body, "\"alert\":1234567890123"));
    assert_non_null(strstr(body, "\"event_ts\":1716986096123"));

    cJSON *o = parse_body(body);
    const cJSON *v = get(o, "id");
    assert_true(cJSON_IsNumber(v));
    assert_true(v->valuedouble == 9007199254740991.0);
    assert_int_equal((int64_t)v->valuedouble, n.id);
    v = get(o, "alert");
    assert_true(cJSON_IsNumber(v));
    assert_int_equal((int64_t)v->valuedouble, INT64_C(1234567890123));
    v = get(o, "event_ts");
    assert_true(cJSON_IsNumber(v));
    assert_int_equal((int64_t)v->valuedouble, INT64_C(1716986096123));
    assert_string_equal(cJSON_GetStringValue(get(o, "elder")), "E0001");
    assert_string_equal(cJSON_GetStringValue(get(o, "rule")), "sos");
    assert_string_equal(cJSON_GetStringValue(get(o, "severity")), "critical");
    assert_string_equal(cJSON_GetStringValue(get(o, "to")), "+8613800000011");
    assert_string_equal(cJSON_GetStringValue(get(o, "channel")), "sms");
    assert_string_equal(cJSON_GetStringValue(get(o, "text")), n.text);
    assert_string_equal(cJSON_GetStringValue(get(o, "ack_code")), "4821");
    assert_true(cJSON_IsString(get(o, "ack_code")));    /* a string: keeps leading zeros */
    cJSON_Delete(o);
    free(body);

    /* Voice channel, no text, other severity, small ids. */
    free(n.text);
    n.text = NULL;
    n.channel = NOTIFY_VOICE;
    n.severity = RULE_SEV_HIGH;
    n.id = 1;
    n.alert_id = INT64_C(1000000000000000);    /* 10^15: not "1e+15" */
    snprintf(n.ack_code, sizeof n.ack_code, "0042");
    body = notify_webhook_body(&n);
    assert_non_null(body);
    o = parse_body(body);
    assert_string_equal(cJSON_GetStringValue(get(o, "channel")), "voice");
    assert_string_equal(cJSON_GetStringValue(get(o, "text")), "");
    assert_string_equal(cJSON_GetStringValue(get(o, "severity")), "high");
    assert_string_equal(cJSON_GetStringValue(get(o, "ack_code")), "0042");
    assert_int_equal((int64_t)get(o, "id")->valuedouble, 1);
    assert_int_equal((int64_t)get(o, "alert")->valuedouble, INT64_C(1000000000000000));
    assert_non_null(strstr(body, "\"alert\":1000000000000000,"));
    assert_non_null(strstr(body, "\"id\":1,"));
    cJSON_Delete(o);
    free(body);

    assert_string_equal(notify_channel_name(NOTIFY_SMS), "sms");
    assert_string_equal(notify_channel_name(NOTIFY_VOICE), "voice");
}

static void test_msg_free(void **state)
{
    (void)state;
    struct notify_msg *n = calloc(1, sizeof *n);
    assert_non_null(n);
    n->text = strdup("x");
    notify_msg_free(n);     /* ASan reports a leak if text or n is not freed */
    notify_msg_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_rules),
        cmocka_unit_test(test_rule_match),
        cmocka_unit_test(test_first_step),
        cmocka_unit_test(test_format_local),
        cmocka_unit_test(test_render_sms),
        cmocka_unit_test(test_render_all_fields),
        cmocka_unit_test(test_webhook_body),
        cmocka_unit_test(test_msg_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
