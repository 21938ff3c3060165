/* test_provider.c - unit tests for what every provider's SMS replies share
 * (lib/provider.c): finding the code in what a person typed, the reply as
 * the hooks hand it on, and the answer the phone gets for each outcome. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "err.h"
#include "provider.h"
#include "utf8.h"

static void test_reply_code_forms(void **state)
{
    (void)state;
    char code[5];
    /* What the SMS asks for ("回复4821确认"), and what people send instead. */
    const char *ok[] = {"4821", "4821 1", "确认4821", "确认 4821 谢谢", " 4821\n", "4821确认",
                        "４８２１", "确认４８２１", "48２1", "13800000011 4821", "1 4821",
                        "好的，4821，马上到"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        memset(code, 'x', sizeof code);
        assert_int_equal(prov_reply_code(ok[i], 4, code), 0);
        assert_string_equal(code, "4821");
    }
    /* No run of exactly four digits: a phone number, a year with more, 3. */
    const char *none[] = {"好的", "", "123", "12345", "１２３", "13800000011", "48210",
                          "４８２１５", "\xef\xbc", "\xef\xbc\x9a\xef\xbc\x9b"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
        assert_int_equal(prov_reply_code(none[i], 4, code), ANX_EINVAL);
    assert_int_equal(prov_reply_code(NULL, 4, code), ANX_EINVAL);
    assert_int_equal(prov_reply_code("4821", 0, code), ANX_EINVAL);
    /* The first code wins; other lengths are the caller's choice. */
    assert_int_equal(prov_reply_code("4821 1234", 4, code), 0);
    assert_string_equal(code, "4821");
    char six[7];
    assert_int_equal(prov_reply_code("确认 482100", 6, six), 0);
    assert_string_equal(six, "482100");
}

static void test_reply_fill(void **state)
{
    (void)state;
    struct prov_reply r;
    assert_int_equal(prov_reply_fill("8613800000041", "ok 4821", 4, &r), 0);
    assert_string_equal(r.from, "+8613800000041");
    assert_string_equal(r.code, "4821");
    /* No code is a reply all the same: the person is asked for it. */
    assert_int_equal(prov_reply_fill("13800000041", "收到", 4, &r), 0);
    assert_string_equal(r.from, "+8613800000041");
    assert_string_equal(r.code, "");
    assert_int_equal(prov_reply_fill("+14155550100", NULL, 4, &r), 0);
    assert_string_equal(r.code, "");
    /* A sender that is not a phone number, or a code length out of range. */
    assert_int_equal(prov_reply_fill("10086", "4821", 4, &r), ANX_EINVAL);
    assert_string_equal(r.from, "");
    assert_int_equal(prov_reply_fill(NULL, "4821", 4, &r), ANX_EINVAL);
    assert_int_equal(prov_reply_fill("13800000041", "4821", 0, &r), ANX_EINVAL);
    assert_int_equal(prov_reply_fill("13800000041", "4821", PROV_REPLY_CODE_MAX + 1, &r),
                     ANX_EINVAL);
}

static void test_outcome_names(void **state)
{
    (void)state;
    enum prov_reply_outcome o;
    for (int i = 0; i < PROV_REPLY_OUTCOME_COUNT; i++) {
        assert_int_equal(prov_reply_outcome_parse(prov_reply_outcome_name(i), &o), 0);
        assert_int_equal(o, i);
    }
    assert_string_equal(prov_reply_outcome_name(PROV_REPLY_REFUSED), "refused");
    assert_string_equal(prov_reply_outcome_name(PROV_REPLY_OUTCOME_COUNT), "unknown");
    assert_int_equal(prov_reply_outcome_parse("ACKED", &o), ANX_EINVAL);
    assert_int_equal(prov_reply_outcome_parse("", &o), ANX_EINVAL);
    assert_int_equal(prov_reply_outcome_parse(NULL, &o), ANX_EINVAL);
}

/* Whether every answer is one SMS: 70 characters of UCS-2. */
static void assert_one_sms(const char *s)
{
    assert_true(utf8_chars(s) <= 70);
    assert_true(s[0] != '\0');
}

static void test_answers(void **state)
{
    (void)state;
    char out[400];
    prov_reply_answer(PROV_REPLY_ACKED, "王秀英", NULL, out, sizeof out);
    assert_string_equal(out, "已确认，由您处理王秀英的告警，请尽快联系或上门查看。谢谢！");
    assert_one_sms(out);
    prov_reply_answer(PROV_REPLY_ACKED, NULL, NULL, out, sizeof out);
    assert_string_equal(out, "已确认，由您处理此告警，请尽快联系或上门查看。谢谢！");

    /* Who took it: the name, the number masked, never whole. */
    struct prov_reply_taker by = {.name = "李明", .phone = "+8613800000012"};
    prov_reply_answer(PROV_REPLY_TAKEN, "王秀英", &by, out, sizeof out);
    assert_string_equal(out, "王秀英的告警已由李明（138****0012）确认处理，无需再回复。谢谢！");
    assert_null(strstr(out, "13800000012"));
    assert_one_sms(out);
    by.phone = NULL;
    prov_reply_answer(PROV_REPLY_TAKEN, "王秀英", &by, out, sizeof out);
    assert_string_equal(out, "王秀英的告警已由李明确认处理，无需再回复。谢谢！");
    struct prov_reply_taker staff = {.staff = 1};
    prov_reply_answer(PROV_REPLY_TAKEN, "王秀英", &staff, out, sizeof out);
    assert_string_equal(out, "王秀英的告警已由值班人员确认处理，无需再回复。谢谢！");
    prov_reply_answer(PROV_REPLY_TAKEN, "王秀英", NULL, out, sizeof out);
    assert_string_equal(out, "王秀英的告警已由他人确认处理，无需再回复。谢谢！");

    prov_reply_answer(PROV_REPLY_CLOSED, "王秀英", NULL, out, sizeof out);
    assert_string_equal(out, "王秀英的告警已结束，无需确认。谢谢！");

    /* Refused and unknown read the same, and say nothing of any alert,
     * whatever the caller passes. */
    char refused[400];
    prov_reply_answer(PROV_REPLY_UNKNOWN, NULL, NULL, out, sizeof out);
    prov_reply_answer(PROV_REPLY_REFUSED, "王秀英", &by, refused, sizeof refused);
    assert_string_equal(out, refused);
    assert_null(strstr(refused, "王秀英"));
    assert_null(strstr(refused, "李明"));
    assert_string_equal(out, "未找到需要您确认的告警，请核对短信中的确认码。");

    prov_reply_answer(PROV_REPLY_NO_CODE, NULL, NULL, out, sizeof out);
    assert_string_equal(out, "请回复短信中的确认码，以确认由您处理。");
    assert_one_sms(out);
}

static void test_answers_long_names_and_small_buffers(void **state)
{
    (void)state;
    char out[400];
    /* A registry name may be 100 characters; the answer stays one SMS. */
    const char *long_name = "欧阳欧阳欧阳欧阳欧阳欧阳欧阳欧阳欧阳欧阳欧阳欧阳";
    struct prov_reply_taker by = {.name = long_name, .phone = "+8613800000012"};
    prov_reply_answer(PROV_REPLY_TAKEN, long_name, &by, out, sizeof out);
    assert_one_sms(out);
    assert_non_null(strstr(out, "138****0012"));
    /* A buffer too small cuts at a character, never inside one. */
    for (size_t len = 1; len < 40; len++) {
        char small[40];
        prov_reply_answer(PROV_REPLY_ACKED, "王秀英", NULL, small, len);
        assert_true(strlen(small) < len);
        for (const char *p = small; *p;) {
            size_t l = utf8_seq_len(p);
            assert_true(l > 0);
            p += l;
        }
    }
    /* A malformed name is copied byte by byte, and the text still ends. */
    prov_reply_answer(PROV_REPLY_CLOSED, "\xff\xfe", NULL, out, sizeof out);
    assert_non_null(strstr(out, "告警已结束"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_code_forms),
        cmocka_unit_test(test_reply_fill),
        cmocka_unit_test(test_outcome_names),
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_answers_long_names_and_small_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
