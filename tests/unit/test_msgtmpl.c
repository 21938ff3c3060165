/* test_msgtmpl.c - unit tests for message templates (lib/msgtmpl.c): file
 * names, comments and joined lines, field checks, which template wins,
 * the instructions every SMS and call must carry, and SMS length in UCS-2
 * units and parts (70 for one part, 67 a part beyond: 3GPP TS 23.040's
 * 140-octet user data less the 6-octet concatenation header). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "err.h"
#include "msgtmpl.h"

static int add(struct mtpl_set *s, const char *name, const char *text, char *err, char *warn)
{
    return mtpl_add(s, name, text, strlen(text), err, 300, warn, 300);
}

static void test_names_and_lines(void **state)
{
    (void)state;
    struct mtpl_set s = {0};
    char err[300], warn[300];
    assert_int_equal(add(&s, "sos.voice.txt", "# comment\n  紧急：{elder.name}。 \r\n\n"
                                              "确认请按1。\n", err, warn), 0);
    assert_string_equal(warn, "");
    assert_string_equal(s.items[0].name, "sos");
    assert_int_equal(s.items[0].channel, NOTIFY_VOICE);
    assert_string_equal(s.items[0].text, "紧急：{elder.name}。确认请按1。");
    assert_int_equal(add(&s, "critical.sms.txt", "{elder.name} 回复{ack_code}确认", err, warn),
                     0);
    assert_int_equal(s.n, 2);

    assert_int_equal(add(&s, "sos.txt", "x", err, warn), ANX_EPARSE);
    assert_non_null(strstr(err, "NAME.sms.txt or NAME.voice.txt"));
    assert_int_equal(add(&s, "Sos.sms.txt", "x {ack_code}", err, warn), ANX_EPARSE);
    assert_int_equal(add(&s, ".sms.txt", "x {ack_code}", err, warn), ANX_EPARSE);
    assert_int_equal(add(&s, "sos.voice.txt", "again 按1", err, warn), ANX_EPARSE);
    assert_string_equal(err, "a second voice template for sos");
    assert_int_equal(add(&s, "fall.sms.txt", "# only a comment\n\n", err, warn), ANX_EPARSE);
    assert_string_equal(err, "empty (only comments or blank lines)");
    assert_int_equal(add(&s, "fall.sms.txt", "bad \xff byte", err, warn), ANX_EPARSE);
    assert_string_equal(err, "not UTF-8 text (byte 5); save it as UTF-8");
    assert_int_equal(add(&s, "fall.sms.txt", "{elder.nmae} {ack_code}", err, warn), ANX_EPARSE);
    assert_string_equal(err, "unknown field {elder.nmae}; did you mean {elder.name}?");
    assert_int_equal(add(&s, "fall.sms.txt", "{zzzzzz} {ack_code}", err, warn), ANX_EPARSE);
    assert_non_null(strstr(err, "unknown field {zzzzzz} (fields:"));
    /* Braces doubled are literal, not fields. */
    assert_int_equal(add(&s, "fall.sms.txt", "{{x}} {ack_code}", err, warn), 0);
    assert_int_equal(s.n, 3);
    mtpl_free(&s);
    assert_int_equal(s.n, 0);
}

static void test_warnings(void **state)
{
    (void)state;
    struct mtpl_set s = {0};
    char err[300], warn[300];
    assert_int_equal(add(&s, "a.sms.txt", "{elder.name} 按了呼叫按钮", err, warn), 0);
    assert_non_null(strstr(warn, "does not say how to acknowledge"));
    assert_int_equal(add(&s, "a.voice.txt", "{elder.name} 按了呼叫按钮", err, warn), 0);
    assert_non_null(strstr(warn, "which key acknowledges"));
    /* Long enough to need more than three parts with typical values. */
    char longer[1000] = "{ack_code}";
    for (int i = 0; i < 70; i++)
        strcat(longer, "很长的");
    assert_int_equal(add(&s, "b.sms.txt", longer, err, warn), 0);
    assert_non_null(strstr(warn, "parts"));
    mtpl_free(&s);
}

static void test_find_most_specific(void **state)
{
    (void)state;
    struct mtpl_set s = {0};
    char err[300], warn[300];
    add(&s, "default.voice.txt", "D 按1", err, warn);
    add(&s, "critical.voice.txt", "C 按1", err, warn);
    add(&s, "sos.voice.txt", "S 按1", err, warn);
    add(&s, "default.sms.txt", "d {ack_code}", err, warn);
    assert_string_equal(mtpl_find(&s, "sos", "critical", NOTIFY_VOICE), "S 按1");
    assert_string_equal(mtpl_find(&s, "fall", "critical", NOTIFY_VOICE), "C 按1");
    assert_string_equal(mtpl_find(&s, "water_idle", "high", NOTIFY_VOICE), "D 按1");
    assert_string_equal(mtpl_find(&s, "sos", "critical", NOTIFY_SMS), "d {ack_code}");
    struct mtpl_set empty = {0};
    assert_null(mtpl_find(&empty, "sos", "critical", NOTIFY_SMS));
    assert_null(mtpl_find(NULL, "sos", "critical", NOTIFY_SMS));
    mtpl_free(&s);
}

static void test_finish_adds_instructions(void **state)
{
    (void)state;
    char t[64] = "王秀英按了呼叫按钮";
    assert_int_equal(mtpl_finish(NOTIFY_SMS, "4821", t, sizeof t), 0);
    assert_string_equal(t, "王秀英按了呼叫按钮 回复4821确认");
    /* Already there: unchanged. */
    assert_int_equal(mtpl_finish(NOTIFY_SMS, "4821", t, sizeof t), 0);
    assert_string_equal(t, "王秀英按了呼叫按钮 回复4821确认");
    char v[64] = "王秀英按了呼叫按钮。";
    assert_int_equal(mtpl_finish(NOTIFY_VOICE, "4821", v, sizeof v), 0);
    assert_string_equal(v, "王秀英按了呼叫按钮。 确认请按1。");
    assert_int_equal(mtpl_finish(NOTIFY_VOICE, "4821", v, sizeof v), 0);
    assert_string_equal(v, "王秀英按了呼叫按钮。 确认请按1。");
    /* No room: left as it was, and said so. */
    char small[12] = "abcdefghij";
    assert_int_equal(mtpl_finish(NOTIFY_SMS, "4821", small, sizeof small), ANX_ERANGE);
    assert_string_equal(small, "abcdefghij");
}

static void test_sms_units_and_segments(void **state)
{
    (void)state;
    assert_int_equal(mtpl_sms_units(""), 0);
    assert_int_equal(mtpl_sms_units("abc"), 3);
    assert_int_equal(mtpl_sms_units("安心"), 2);
    assert_int_equal(mtpl_sms_units("\xF0\x9F\x98\x80"), 2);   /* U+1F600: a surrogate pair */
    char t[600] = "";
    for (int i = 0; i < 70; i++)
        strcat(t, "安");
    assert_int_equal(mtpl_sms_segments(t), 1);
    strcat(t, "安");                                      /* 71 */
    assert_int_equal(mtpl_sms_segments(t), 2);
    t[0] = '\0';
    for (int i = 0; i < 134; i++)
        strcat(t, "安");
    assert_int_equal(mtpl_sms_segments(t), 2);           /* 2 x 67 */
    strcat(t, "安");
    assert_int_equal(mtpl_sms_segments(t), 3);
}

static void test_fields(void **state)
{
    (void)state;
    assert_true(mtpl_field_known("ack_code", 8));
    assert_true(mtpl_field_known("elder.name", 10));
    assert_false(mtpl_field_known("elder.nam", 9));
    assert_string_equal(mtpl_field_nearest("tmie", 4), "time");
    assert_null(mtpl_field_nearest("qqqqqqqq", 8));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_lines),
        cmocka_unit_test(test_warnings),
        cmocka_unit_test(test_find_most_specific),
        cmocka_unit_test(test_finish_adds_instructions),
        cmocka_unit_test(test_sms_units_and_segments),
        cmocka_unit_test(test_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
