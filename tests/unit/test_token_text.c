/* test_token_text.c - unit tests for API token texts (lib/token_text.c):
 * the text of known bytes and its stored digest (computed independently
 * with Python's base64 and hashlib), names, roles. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "token_text.h"

static void test_text_and_digest_of_known_bytes(void **state)
{
    (void)state;
    uint8_t rnd[TOKEN_RANDOM_BYTES];
    for (int i = 0; i < TOKEN_RANDOM_BYTES; i++)
        rnd[i] = (uint8_t)i;
    char text[TOKEN_TEXT_LEN + 1], hash[TOKEN_BYTEA_LEN + 1];
    memset(text, 'Z', sizeof text);
    token_text_make(rnd, text, hash);
    /* python3: 'axn_' + urlsafe_b64encode(bytes(range(32))).rstrip('=') */
    assert_string_equal(text, "axn_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");
    assert_int_equal(strlen(text), TOKEN_TEXT_LEN);
    /* python3: hashlib.sha256(text).hexdigest() */
    assert_string_equal(hash,
                        "\\x0def31d5123844e855c47415273f6fbf5bf0cb3e8a6351eb8830cd42327d906d");
    memset(rnd, 0xff, sizeof rnd);
    token_text_make(rnd, text, hash);
    assert_int_equal(strlen(text), TOKEN_TEXT_LEN);
    assert_int_equal(strspn(text + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                      "0123456789-_"), TOKEN_TEXT_LEN - 4);
}

static void test_names(void **state)
{
    (void)state;
    assert_true(token_name_ok("desk-1"));
    assert_true(token_name_ok("值班员张"));
    assert_false(token_name_ok(""));
    assert_false(token_name_ok("a\tb"));
    assert_false(token_name_ok("a\x7f"));
    assert_false(token_name_ok("\xe5\x80"));          /* cut UTF-8 */
    assert_false(token_name_ok("\xc0\xaf"));          /* overlong */
    char long_name[70];
    memset(long_name, 'x', 64);
    long_name[64] = '\0';
    assert_true(token_name_ok(long_name));
    long_name[64] = 'x';
    long_name[65] = '\0';
    assert_false(token_name_ok(long_name));
    /* 64 characters, not 64 bytes: 64 Chinese characters are fine */
    char zh[64 * 3 + 1] = "";
    for (int i = 0; i < 64; i++)
        strcat(zh, "张");
    assert_true(token_name_ok(zh));
}

static void test_roles(void **state)
{
    (void)state;
    assert_int_equal(token_role_parse("viewer"), 0);
    assert_int_equal(token_role_parse("operator"), 1);
    assert_int_equal(token_role_parse("admin"), 2);
    assert_int_equal(token_role_parse("Admin"), -1);
    assert_int_equal(token_role_parse(""), -1);
    assert_int_equal(token_role_parse(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_and_digest_of_known_bytes),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_roles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
