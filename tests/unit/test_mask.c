/* test_mask.c - unit tests for phone number masking (lib/mask.c): Chinese and
 * foreign numbers, everything malformed becoming "****", and small output
 * buffers; numbers inside providers' texts masked in place. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "mask.h"

static void expect(const char *phone, const char *want)
{
    char out[MASK_PHONE_MAX];
    memset(out, 'Z', sizeof out);
    mask_phone(phone, out, sizeof out);
    assert_string_equal(out, want);
}

static void test_chinese(void **state)
{
    (void)state;
    expect("+8613800000001", "138****0001");
    expect("+8615912345678", "159****5678");
    expect("+8619999999999", "199****9999");
}

static void test_foreign(void **state)
{
    (void)state;
    expect("+14155552671", "+141****2671");
    expect("+442071838750", "+442****8750");
    expect("+85291234567", "+852****4567");     /* Hong Kong: not +86 */
    expect("+12345678", "+12****78");           /* 8 digits: the shortest kept, masked more */
    expect("+1234567890", "+12****90");         /* 10 digits */
    expect("+12345678901", "+123****8901");     /* 11 digits */
    expect("+123456789012345", "+123****2345"); /* 15: the longest E.164 allows */
    /* +86 with the wrong length is not treated as a mainland mobile. */
    expect("+861380000000", "+861****0000");
    expect("+86138000000012", "+861****0012");
}

static void test_malformed(void **state)
{
    (void)state;
    expect(NULL, "****");
    expect("", "****");
    expect("+", "****");
    expect("+1234567", "****");                 /* 7 digits: too short */
    expect("+86", "****");
    expect("8613800000001", "****");            /* no '+' */
    expect("13800000001", "****");
    expect("+86 13800000001", "****");
    expect("+86-138-0000-0001", "****");
    expect("+8613800000001 ", "****");
    expect("+8613800000001x", "****");
    expect("++8613800000001", "****");
    expect("+1234567890123456", "****");        /* 16 digits: not E.164 */
    expect("+12345678901234567890", "****");    /* 20 digits: too long */
    expect("+12345678901234567890123456789", "****");
    expect("tel:+8613800000001", "****");
    expect("+８６13800000001", "****");           /* full-width digits */
}

/* The masked form never shows the middle digits. */
static void test_no_leak(void **state)
{
    (void)state;
    char out[MASK_PHONE_MAX];
    mask_phone("+8613812345678", out, sizeof out);
    assert_string_equal(out, "138****5678");
    assert_null(strstr(out, "1234"));
    mask_phone("+14155552671", out, sizeof out);
    assert_null(strstr(out, "555"));
}

static void test_small_buffers(void **state)
{
    (void)state;
    static const char *const inputs[] = {"+8613800000001", "+14155552671", "bad", NULL,
                                         "+123456789012345"};
    static const char *const full[] = {"138****0001", "+141****2671", "****", "****",
                                       "+123****2345"};
    char buf[MASK_PHONE_MAX + 8];

    for (size_t k = 0; k < sizeof inputs / sizeof inputs[0]; k++) {
        for (size_t outlen = 1; outlen <= MASK_PHONE_MAX; outlen++) {
            memset(buf, '#', sizeof buf);
            mask_phone(inputs[k], buf, outlen);
            size_t n = strlen(buf);
            size_t want = strlen(full[k]) < outlen - 1 ? strlen(full[k]) : outlen - 1;
            assert_int_equal(n, want);
            assert_memory_equal(buf, full[k], n);
            for (size_t i = outlen; i < sizeof buf; i++)
                assert_int_equal(buf[i], '#');
        }
    }

    /* outlen 0 and a NULL out are ignored. */
    buf[0] = '#';
    mask_phone("+8613800000001", buf, 0);
    assert_int_equal(buf[0], '#');
    mask_phone("+8613800000001", NULL, 16);
}

static void expect_runs(const char *in, size_t min, const char *seps, const char *fill,
                        const char *want)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", in);
    mask_digit_runs(buf, min, seps, fill);
    assert_string_equal(buf, want);
}

/* Bare runs, each digit a '*' (Aliyun's and Tencent's texts). */
static void test_runs_bare(void **state)
{
    (void)state;
    expect_runs("", 7, NULL, NULL, "");
    expect_runs("no digits", 7, NULL, NULL, "no digits");
    expect_runs("非法手机号 13800000001", 7, NULL, NULL, "非法手机号 ***********");
    expect_runs("13800000001", 7, NULL, NULL, "***********");
    expect_runs("a1234567b", 7, NULL, NULL, "a*******b");
    expect_runs("a123456b", 7, NULL, NULL, "a123456b");          /* one short of 7 */
    expect_runs("200003 NO_ANSWER", 7, NULL, NULL, "200003 NO_ANSWER");
    expect_runs("200003 NO_ANSWER", 6, NULL, NULL, "****** NO_ANSWER");
    expect_runs("MK:0001 用户关机 13900000000", 7, NULL, NULL, "MK:0001 用户关机 ***********");
    /* Without seps a '+' and separators stay, and split numbers are not one. */
    expect_runs("+86138000000", 7, NULL, NULL, "+***********");
    expect_runs("+86 138 0000 0001", 7, NULL, NULL, "+86 138 0000 0001");
    expect_runs("+86 138 0000 0001", 7, "", NULL, "+86 138 0000 0001");
    expect_runs("1234567,7654321;12", 7, NULL, NULL, "*******,*******;12");
    /* Full-width digits are not ASCII digits. */
    expect_runs("１３８００００００００１", 7, NULL, NULL, "１３８００００００００１");
    /* NULL is ignored. */
    mask_digit_runs(NULL, 7, NULL, NULL);
}

/* Numbers as people write them, each one "***" (Twilio's texts). */
static void test_runs_spaced(void **state)
{
    (void)state;
    const char *seps = " -().";
    expect_runs("The 'To' number 5551234567 is not a valid phone number.", 6, seps, "***",
                "The 'To' number *** is not a valid phone number.");
    expect_runs("Invalid 'To' Phone Number: +86 138 0000 0001", 6, seps, "***",
                "Invalid 'To' Phone Number: ***");
    expect_runs("call (555) 123-4567 now", 6, seps, "***", "call (*** now");
    expect_runs("+1 415-555-2671.", 6, seps, "***", "***.");     /* the '.' after it stays */
    expect_runs("Body exceeds 1600 characters", 6, seps, "***", "Body exceeds 1600 characters");
    expect_runs("12 345", 6, seps, "***", "12 345");             /* 5 digits in all */
    expect_runs("12 3456", 6, seps, "***", "***");
    expect_runs("12 +3456789", 6, seps, "***", "12 ***");        /* '+' starts a number */
    expect_runs("a+b 1+2", 6, seps, "***", "a+b 1+2");
    expect_runs("x 123456 y 654321", 6, seps, "***", "x *** y ***");
    /* Per digit with separators: the shape stays, the digits go. */
    expect_runs("tel +86 138-0000-0001.", 6, seps, NULL, "tel +** ***-****-****.");
    expect_runs("tel 12-34", 6, seps, NULL, "tel 12-34");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chinese),
        cmocka_unit_test(test_foreign),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_no_leak),
        cmocka_unit_test(test_small_buffers),
        cmocka_unit_test(test_runs_bare),
        cmocka_unit_test(test_runs_spaced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
