/* test_tmpl.c - unit tests for message templates (lib/tmpl.c): substitution,
 * unknown fields, brace escapes, lone braces, NULL values and truncation on
 * UTF-8 character boundaries. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "tmpl.h"

static char out[1024];

static const struct tmpl_field F[] = {
    {"elder.name", "张桂兰"},
    {"elder.village", "东湖村"},
    {"time", "09:05"},
    {"ack_code", "4821"},
    {"empty", ""},
    {"nothing", NULL},
    {"a_b.c9", "X"},
};
#define NF (sizeof F / sizeof F[0])

static int render(const char *t)
{
    memset(out, 0x7f, sizeof out);
    return tmpl_render(t, F, NF, out, sizeof out);
}

static void expect(const char *t, const char *want, int rc)
{
    int got = render(t);
    assert_string_equal(out, want);
    assert_int_equal(got, rc);
}

static void test_substitution(void **state)
{
    (void)state;
    expect("", "", 0);
    expect("plain text", "plain text", 0);
    expect("{time}", "09:05", 0);
    expect("{elder.name}（{elder.village}）{time} 按下了呼叫按钮。回复{ack_code}确认。",
           "张桂兰（东湖村）09:05 按下了呼叫按钮。回复4821确认。", 0);
    expect("{time}{time}{time}", "09:05" "09:05" "09:05", 0);
    expect("[{empty}]", "[]", 0);
    expect("[{a_b.c9}]", "[X]", 0);
    /* No fields at all. */
    assert_int_equal(tmpl_render("x{y}z", NULL, 0, out, sizeof out), 1);
    assert_string_equal(out, "x{y}z");
}

static void test_null_value_renders_empty(void **state)
{
    (void)state;
    expect("<{nothing}>", "<>", 0);
    expect("{nothing}{nothing}", "", 0);
}

static void test_unknown_fields(void **state)
{
    (void)state;
    expect("{elder.phone}", "{elder.phone}", 1);
    expect("{x} and {y.z} for {elder.name}", "{x} and {y.z} for 张桂兰", 2);
    expect("{time_}{tim}{elder}", "{time_}{tim}{elder}", 3);
    /* Same unknown field twice counts twice. */
    expect("{q}{q}", "{q}{q}", 2);
}

static void test_escapes(void **state)
{
    (void)state;
    expect("{{", "{", 0);
    expect("}}", "}", 0);
    expect("{{time}}", "{time}", 0);        /* escaped: not a field */
    expect("{{{time}}}", "{09:05}", 0);
    expect("a{{b}}c", "a{b}c", 0);
    expect("{{{{", "{{", 0);
    expect("}}}}", "}}", 0);
    expect("{{x}}", "{x}", 0);              /* not an unknown field either */
    expect("json: {{\"code\": \"{ack_code}\"}}", "json: {\"code\": \"4821\"}", 0);
}

static void test_lone_braces(void **state)
{
    (void)state;
    expect("{", "{", 0);
    expect("}", "}", 0);
    expect("a { b", "a { b", 0);
    expect("a } b", "a } b", 0);
    expect("{}", "{}", 0);
    expect("{time", "{time", 0);
    expect("time}", "time}", 0);
    expect("}{", "}{", 0);
    expect("{Time}", "{Time}", 0);          /* upper case is not a field name */
    expect("{elder name}", "{elder name}", 0);
    expect("{elder-name}", "{elder-name}", 0);
    expect("{{time}", "{time}", 0);         /* "{{" then "time}" */
    expect("{time}}", "09:05}", 0);         /* field then lone "}" */
    expect("{ {time} }", "{ 09:05 }", 0);
    expect("{{time}{time}}}", "{time}09:05}", 0);
    expect("100% {时间}", "100% {时间}", 0);
}

/* Longest prefix of s that fits in outlen - 1 bytes without splitting a UTF-8
 * character. */
static size_t boundary_prefix(const char *s, size_t outlen)
{
    size_t n = strlen(s);
    if (n <= outlen - 1)
        return n;
    n = outlen - 1;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

static int valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int len = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3
                : (*p & 0xF8) == 0xF0 ? 4 : 0;
        if (len == 0)
            return 0;
        for (int i = 1; i < len; i++)
            if ((p[i] & 0xC0) != 0x80)
                return 0;
        p += len;
    }
    return 1;
}

/* Renders t at every buffer size from 1 to beyond the full length. */
static void check_truncation(const char *t, const char *full, int full_rc)
{
    size_t flen = strlen(full);
    char buf[600];
    assert_true(flen + 8 < sizeof buf);

    for (size_t outlen = 1; outlen <= flen + 3; outlen++) {
        memset(buf, '#', sizeof buf);
        int rc = tmpl_render(t, F, NF, buf, outlen);
        size_t got = strlen(buf);
        size_t want = boundary_prefix(full, outlen);
        if (got != want)
            fail_msg("outlen %zu: got %zu bytes \"%s\", want %zu", outlen, got, buf, want);
        assert_memory_equal(buf, full, got);
        assert_true(valid_utf8(buf));
        /* Nothing written past outlen. */
        for (size_t i = outlen; i < sizeof buf; i++)
            assert_int_equal(buf[i], '#');
        if (flen >= outlen)
            assert_int_equal(rc, ANX_ERANGE);
        else
            assert_int_equal(rc, full_rc);
    }
}

static void test_truncation_utf8(void **state)
{
    (void)state;
    /* Literal Chinese text only (3-byte characters). */
    check_truncation("紧急呼叫按钮", "紧急呼叫按钮", 0);
    /* Mixed: substitutions of Chinese values, ASCII, escapes, an unknown field. */
    check_truncation("【安心】{elder.name}（{elder.village}）{time} {{ok}} 回复{ack_code}{zz}",
                     "【安心】张桂兰（东湖村）09:05 {ok} 回复4821{zz}", 1);
    /* Two- and four-byte characters. */
    check_truncation("é{time}😀ü😀", "é09:05😀ü😀", 0);

    /* Concrete sizes: "张三" is 6 bytes. */
    char b[8];
    assert_int_equal(tmpl_render("张三", NULL, 0, b, 7), 0);
    assert_string_equal(b, "张三");
    assert_int_equal(tmpl_render("张三", NULL, 0, b, 6), ANX_ERANGE);
    assert_string_equal(b, "张");
    assert_int_equal(tmpl_render("张三", NULL, 0, b, 4), ANX_ERANGE);
    assert_string_equal(b, "张");
    assert_int_equal(tmpl_render("张三", NULL, 0, b, 3), ANX_ERANGE);
    assert_string_equal(b, "");
    assert_int_equal(tmpl_render("ab张", NULL, 0, b, 5), ANX_ERANGE);
    assert_string_equal(b, "ab");
    /* Truncated with unknown fields: ERANGE wins. */
    assert_int_equal(tmpl_render("{unknown}", NULL, 0, b, 5), ANX_ERANGE);
    assert_string_equal(b, "{unk");
}

static void test_outlen_one_and_zero(void **state)
{
    (void)state;
    char b[4] = {'x', 'y', 'z', 'w'};
    assert_int_equal(tmpl_render("a", F, NF, b, 1), ANX_ERANGE);
    assert_int_equal(b[0], '\0');
    assert_int_equal(b[1], 'y');

    b[0] = 'x';
    assert_int_equal(tmpl_render("", F, NF, b, 1), 0);
    assert_int_equal(b[0], '\0');

    b[0] = 'x';
    assert_int_equal(tmpl_render("{nothing}", F, NF, b, 1), 0);     /* renders empty: fits */
    assert_int_equal(b[0], '\0');

    b[0] = 'x';
    assert_int_equal(tmpl_render("{time}", F, NF, b, 1), ANX_ERANGE);
    assert_int_equal(b[0], '\0');

    b[0] = 'x';
    assert_int_equal(tmpl_render("张", F, NF, b, 1), ANX_ERANGE);
    assert_int_equal(b[0], '\0');

    /* outlen 0: nothing written at all. */
    b[0] = 'x';
    assert_int_equal(tmpl_render("a", F, NF, b, 0), ANX_ERANGE);
    assert_int_equal(b[0], 'x');

    /* Exactly fitting is not truncation. */
    assert_int_equal(tmpl_render("abc", F, NF, b, 4), 0);
    assert_string_equal(b, "abc");
    assert_int_equal(tmpl_render("abcd", F, NF, b, 4), ANX_ERANGE);
    assert_string_equal(b, "abc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_substitution),
        cmocka_unit_test(test_null_value_renders_empty),
        cmocka_unit_test(test_unknown_fields),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_lone_braces),
        cmocka_unit_test(test_truncation_utf8),
        cmocka_unit_test(test_outlen_one_and_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
