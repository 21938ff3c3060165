/* test_mask.c - unit tests for phone number masking (lib/mask.c): Chinese and
 * foreign numbers, everything malformed becoming "****", and small output
 * buffers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chinese),
        cmocka_unit_test(test_foreign),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_no_leak),
        cmocka_unit_test(test_small_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
