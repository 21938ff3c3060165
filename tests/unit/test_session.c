/* test_session.c - unit tests for console sessions (lib/session.c): ids
 * found only while live, malformed ids refused, logout, a revoked token's
 * sessions ended, expiry pruning and the cap on live sessions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "err.h"
#include "session.h"

static void fill(uint8_t r[SESS_ID_BYTES], uint32_t seed)
{
    for (size_t i = 0; i < SESS_ID_BYTES; i++) {
        seed = seed * 1103515245u + 12345u;
        r[i] = (uint8_t)(seed >> 16);
    }
}

static void test_create_find_expire(void **state)
{
    (void)state;
    struct sess_table t = {0};
    uint8_t r[SESS_ID_BYTES];
    char id[SESS_ID_LEN + 1];
    fill(r, 1);
    assert_int_equal(sess_create(&t, "desk-1", r, 1000, 60000, id), 0);
    assert_int_equal(strlen(id), SESS_ID_LEN);
    const struct session *s = sess_find(&t, id, 2000);
    assert_non_null(s);
    assert_string_equal(s->token_name, "desk-1");
    /* The table keeps a digest, never the cookie value itself. */
    assert_string_not_equal(s->digest, id);
    assert_null(strstr(s->digest, id));
    assert_non_null(sess_find(&t, id, 60999));
    assert_null(sess_find(&t, id, 61000));     /* expired */
    sess_clear(&t);
}

static void test_malformed_ids_are_refused(void **state)
{
    (void)state;
    struct sess_table t = {0};
    uint8_t r[SESS_ID_BYTES];
    char id[SESS_ID_LEN + 1];
    fill(r, 2);
    assert_int_equal(sess_create(&t, "desk-1", r, 0, 60000, id), 0);
    char bad[SESS_ID_LEN + 2];
    snprintf(bad, sizeof bad, "%s", id);
    bad[0] = bad[0] == 'a' ? 'b' : 'a';
    assert_null(sess_find(&t, bad, 1));                 /* one digit off */
    assert_null(sess_find(&t, "", 1));
    assert_null(sess_find(&t, NULL, 1));
    char upper[SESS_ID_LEN + 1];
    for (size_t i = 0; i <= SESS_ID_LEN; i++)
        upper[i] = (char)(id[i] >= 'a' && id[i] <= 'f' ? id[i] - 32 : id[i]);
    assert_null(sess_find(&t, upper, 1));               /* not our spelling */
    snprintf(bad, sizeof bad, "%sa", id);
    assert_null(sess_find(&t, bad, 1));                 /* too long */
    assert_non_null(sess_find(&t, id, 1));
    sess_clear(&t);
}

static void test_logout_and_revoked_token(void **state)
{
    (void)state;
    struct sess_table t = {0};
    uint8_t r[SESS_ID_BYTES];
    char a[SESS_ID_LEN + 1], b[SESS_ID_LEN + 1], c[SESS_ID_LEN + 1];
    fill(r, 3);
    assert_int_equal(sess_create(&t, "desk-1", r, 0, 60000, a), 0);
    fill(r, 4);
    assert_int_equal(sess_create(&t, "desk-1", r, 0, 60000, b), 0);
    fill(r, 5);
    assert_int_equal(sess_create(&t, "desk-2", r, 0, 60000, c), 0);
    assert_int_equal(sess_count(&t), 3);
    assert_int_equal(sess_drop(&t, a), 0);
    assert_int_equal(sess_drop(&t, a), ANX_ENOENT);
    assert_null(sess_find(&t, a, 1));
    assert_int_equal(sess_drop_token(&t, "desk-1"), 1);
    assert_null(sess_find(&t, b, 1));
    assert_non_null(sess_find(&t, c, 1));
    assert_int_equal(sess_drop_token(&t, "nobody"), 0);
    sess_clear(&t);
}

static void test_expired_pruned_and_cap_drops_oldest(void **state)
{
    (void)state;
    struct sess_table t = {0};
    uint8_t r[SESS_ID_BYTES];
    char id[SESS_ID_LEN + 1], first[SESS_ID_LEN + 1];
    for (uint32_t i = 0; i < 10; i++) {
        fill(r, 100 + i);
        assert_int_equal(sess_create(&t, "old", r, 0, 1000, id), 0);
    }
    fill(r, 999);
    assert_int_equal(sess_create(&t, "new", r, 5000, 1000, id), 0);
    assert_int_equal(sess_count(&t), 1);            /* the ten expired ones went */
    sess_clear(&t);

    for (uint32_t i = 0; i < SESS_MAX; i++) {
        fill(r, 1000 + i);
        assert_int_equal(sess_create(&t, "desk", r, (int64_t)i, 3600000, id), 0);
        if (i == 0)
            memcpy(first, id, sizeof first);
    }
    assert_int_equal(sess_count(&t), SESS_MAX);
    fill(r, 77777);
    assert_int_equal(sess_create(&t, "desk", r, SESS_MAX, 3600000, id), 0);
    assert_int_equal(sess_count(&t), SESS_MAX);
    assert_null(sess_find(&t, first, SESS_MAX + 1));   /* the oldest made room */
    assert_non_null(sess_find(&t, id, SESS_MAX + 1));
    sess_clear(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_find_expire),
        cmocka_unit_test(test_malformed_ids_are_refused),
        cmocka_unit_test(test_logout_and_revoked_token),
        cmocka_unit_test(test_expired_pruned_and_cap_drops_oldest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
