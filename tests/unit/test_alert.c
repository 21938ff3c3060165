/* test_alert.c - unit tests for the live alert table (lib/alert.c): opening
 * and the three lookups, dedup and id clashes, ack codes (shape, uniqueness,
 * dependence on the seed), restoring from the database, repeats and
 * forgetting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "err.h"

static struct alert_open_args args(int64_t id, const char *elder, const char *rule)
{
    return (struct alert_open_args){
        .id = id,
        .elder_id = elder,
        .device_id = "SOS-0001",
        .rule = rule,
        .severity = RULE_SEV_CRITICAL,
        .chain = "emergency",
        .event_ts_ms = INT64_C(1717000000000),
        .now_ms = INT64_C(1717000000500),
        .state = ALERT_OPEN,
    };
}

static struct alert *open_ok(struct alert_table *t, const struct alert_open_args *a)
{
    struct alert *al = NULL;
    assert_int_equal(alert_open(t, a, &al), 0);
    assert_non_null(al);
    return al;
}

static void assert_code_shape(const char *code)
{
    assert_int_equal(strlen(code), ALERT_ACK_CODE_LEN);
    for (int i = 0; i < ALERT_ACK_CODE_LEN; i++)
        assert_true(code[i] >= '0' && code[i] <= '9');
}

static void test_open_and_find(void **state)
{
    (void)state;
    struct alert_table t = {0};

    assert_null(alert_find_live(&t, "E1", "sos"));
    assert_null(alert_find_id(&t, 1));
    assert_null(alert_find_code(&t, "1234"));

    struct alert_open_args a = args(1001, "E1", "sos");
    a.jseq = 77;
    struct alert *al = open_ok(&t, &a);

    assert_int_equal(al->id, 1001);
    assert_string_equal(al->elder_id, "E1");
    assert_string_equal(al->rule, "sos");
    assert_string_equal(al->device_id, "SOS-0001");
    assert_string_equal(al->chain, "emergency");
    assert_int_equal(al->severity, RULE_SEV_CRITICAL);
    assert_int_equal(al->state, ALERT_OPEN);
    assert_int_equal(al->event_ts_ms, INT64_C(1717000000000));
    assert_int_equal(al->opened_ms, INT64_C(1717000000500));
    assert_int_equal(al->last_fired_ms, INT64_C(1717000000500));
    assert_int_equal(al->fire_count, 1);
    assert_int_equal(al->last_jseq, 77);
    assert_code_shape(al->ack_code);

    assert_ptr_equal(alert_find_live(&t, "E1", "sos"), al);
    assert_ptr_equal(alert_find_id(&t, 1001), al);
    assert_ptr_equal(alert_find_code(&t, al->ack_code), al);

    assert_null(alert_find_live(&t, "E1", "fall"));
    assert_null(alert_find_live(&t, "E2", "sos"));
    assert_null(alert_find_live(&t, "E1so", "s"));   /* the separator keeps keys apart */
    assert_null(alert_find_id(&t, 1002));
    assert_null(alert_find_id(&t, -1001));
    assert_null(alert_find_code(&t, "12345"));
    alert_table_clear(&t);
    assert_null(alert_find_id(&t, 1001));
}

static void test_open_null_device_and_chain(void **state)
{
    (void)state;
    struct alert_table t = {0};
    struct alert_open_args a = args(5, "E1", "fall");
    a.device_id = NULL;
    a.chain = NULL;
    a.fire_count = -3;
    struct alert *al = open_ok(&t, &a);
    assert_string_equal(al->device_id, "");
    assert_string_equal(al->chain, "");
    assert_int_equal(al->fire_count, 1);
    alert_table_clear(&t);
}

static void test_duplicates(void **state)
{
    (void)state;
    struct alert_table t = {0};
    struct alert_open_args a = args(1, "E1", "sos");
    struct alert *first = open_ok(&t, &a);

    /* Same elder and rule, new id: still EEXIST. */
    struct alert *out = (struct alert *)1;
    a = args(2, "E1", "sos");
    assert_int_equal(alert_open(&t, &a, &out), ANX_EEXIST);
    assert_ptr_equal(out, (struct alert *)1);   /* untouched on failure */

    /* Reused id, other elder: EEXIST. */
    a = args(1, "E2", "fall");
    assert_int_equal(alert_open(&t, &a, &out), ANX_EEXIST);
    assert_null(alert_find_live(&t, "E2", "fall"));

    /* Different rules for the same elder coexist; so do other elders. */
    a = args(2, "E1", "fall");
    struct alert *fall = open_ok(&t, &a);
    a = args(3, "E1", "hazard");
    struct alert *hazard = open_ok(&t, &a);
    a = args(4, "E2", "sos");
    struct alert *other = open_ok(&t, &a);

    assert_ptr_equal(alert_find_live(&t, "E1", "sos"), first);
    assert_ptr_equal(alert_find_live(&t, "E1", "fall"), fall);
    assert_ptr_equal(alert_find_live(&t, "E1", "hazard"), hazard);
    assert_ptr_equal(alert_find_live(&t, "E2", "sos"), other);
    assert_int_equal(t.by_dedup.len, 4);
    assert_int_equal(t.by_id.len, 4);
    assert_int_equal(t.by_code.len, 4);
    assert_ptr_equal(alert_find_id(&t, 1), first);
    assert_ptr_equal(alert_find_id(&t, 4), other);

    /* Once forgotten, the same elder and rule can open again. */
    alert_forget(&t, first);
    a = args(5, "E1", "sos");
    struct alert *again = open_ok(&t, &a);
    assert_ptr_equal(alert_find_live(&t, "E1", "sos"), again);
    assert_null(alert_find_id(&t, 1));
    alert_table_clear(&t);
}

#define MANY 2000

static void test_codes_unique_among_many(void **state)
{
    (void)state;
    struct alert_table t = {0};
    static struct alert *al[MANY];
    char elder[16];

    for (int i = 0; i < MANY; i++) {
        snprintf(elder, sizeof elder, "E%05d", i);
        struct alert_open_args a = args(100000 + i, elder, "sos");
        a.code_seed = (uint32_t)i * 2654435761u;
        al[i] = open_ok(&t, &a);
        assert_code_shape(al[i]->ack_code);
        int code = atoi(al[i]->ack_code);
        assert_true(code >= 1000 && code <= 9999);
    }
    assert_int_equal(t.by_code.len, MANY);
    for (int i = 0; i < MANY; i++)
        assert_ptr_equal(alert_find_code(&t, al[i]->ack_code), al[i]);

    /* Same with seed 0 (codes derived from the ids alone). */
    alert_table_clear(&t);
    for (int i = 0; i < MANY; i++) {
        snprintf(elder, sizeof elder, "E%05d", i);
        struct alert_open_args a = args(i + 1, elder, "sos");
        al[i] = open_ok(&t, &a);
    }
    assert_int_equal(t.by_code.len, MANY);
    for (int i = 0; i < MANY; i++)
        assert_ptr_equal(alert_find_code(&t, al[i]->ack_code), al[i]);
    alert_table_clear(&t);
}

static void test_code_depends_on_seed(void **state)
{
    (void)state;
    int differ = 0;

    for (int64_t id = 1; id <= 100; id++) {
        struct alert_table t1 = {0}, t2 = {0};
        struct alert_open_args a = args(id, "E1", "sos");
        a.code_seed = 0x1234567u;
        struct alert *x = open_ok(&t1, &a);
        a.code_seed = 0x89abcdefu;
        struct alert *y = open_ok(&t2, &a);
        if (strcmp(x->ack_code, y->ack_code) != 0)
            differ++;
        alert_table_clear(&t1);
        alert_table_clear(&t2);
    }
    assert_true(differ >= 90);

    /* Deterministic: same id and seed give the same code. */
    struct alert_table t1 = {0}, t2 = {0};
    struct alert_open_args a = args(42, "E1", "sos");
    a.code_seed = 99;
    struct alert *x = open_ok(&t1, &a);
    a.elder_id = "E2";  /* other fields do not matter */
    struct alert *y = open_ok(&t2, &a);
    assert_string_equal(x->ack_code, y->ack_code);
    alert_table_clear(&t1);
    alert_table_clear(&t2);
}

static void test_restore(void **state)
{
    (void)state;
    struct alert_table t = {0};
    struct alert_open_args a = args(700, "E7", "fall");
    a.ack_code = "0427";
    a.state = ALERT_ACKNOWLEDGED;
    a.fire_count = 5;
    a.jseq = UINT64_C(123456789012);
    struct alert *al = open_ok(&t, &a);

    assert_string_equal(al->ack_code, "0427");
    assert_int_equal(al->state, ALERT_ACKNOWLEDGED);
    assert_int_equal(al->fire_count, 5);
    assert_int_equal(al->last_jseq, UINT64_C(123456789012));
    assert_ptr_equal(alert_find_code(&t, "0427"), al);
    assert_ptr_equal(alert_find_live(&t, "E7", "fall"), al);

    /* A picked code never collides with a restored one: learn the code that
     * id 800 would get in an empty table, restore another alert holding it,
     * then open id 800 here. */
    struct alert_table scratch = {0};
    struct alert_open_args b = args(800, "P", "sos");
    b.code_seed = 31337;
    char would[ALERT_ACK_CODE_LEN + 1];
    memcpy(would, open_ok(&scratch, &b)->ack_code, sizeof would);
    alert_table_clear(&scratch);
    struct alert_open_args r = args(701, "E8", "sos");
    r.ack_code = would;
    struct alert *holder = open_ok(&t, &r);
    struct alert *p = open_ok(&t, &b);
    assert_code_shape(p->ack_code);
    assert_string_not_equal(p->ack_code, would);
    assert_ptr_equal(alert_find_code(&t, would), holder);
    assert_ptr_equal(alert_find_code(&t, p->ack_code), p);
    assert_ptr_equal(alert_find_code(&t, "0427"), al);

    /* A restored code that clashes keeps the first holder in the code map. */
    struct alert_open_args c = args(900, "E9", "sos");
    c.ack_code = "0427";
    struct alert *dup = open_ok(&t, &c);
    assert_string_equal(dup->ack_code, "0427");
    assert_ptr_equal(alert_find_code(&t, "0427"), al);
    assert_ptr_equal(alert_find_id(&t, 900), dup);
    alert_forget(&t, dup);  /* must not drop al's code entry */
    assert_ptr_equal(alert_find_code(&t, "0427"), al);
    alert_table_clear(&t);
}

static void test_repeat(void **state)
{
    (void)state;
    struct alert_table t = {0};
    struct alert_open_args a = args(1, "E1", "sos");
    a.now_ms = 10000;
    struct alert *al = open_ok(&t, &a);

    alert_repeat(al, 15000);
    assert_int_equal(al->fire_count, 2);
    assert_int_equal(al->last_fired_ms, 15000);
    alert_repeat(al, 12000);    /* older (replayed or reordered): counted, no time travel */
    assert_int_equal(al->fire_count, 3);
    assert_int_equal(al->last_fired_ms, 15000);
    alert_repeat(al, 15000);
    assert_int_equal(al->fire_count, 4);
    assert_int_equal(al->last_fired_ms, 15000);
    alert_repeat(al, 20000);
    assert_int_equal(al->fire_count, 5);
    assert_int_equal(al->last_fired_ms, 20000);
    assert_int_equal(al->opened_ms, 10000);
    assert_int_equal(al->state, ALERT_OPEN);
    alert_table_clear(&t);
}

static void test_forget(void **state)
{
    (void)state;
    struct alert_table t = {0};
    struct alert_open_args a = args(11, "E1", "sos");
    struct alert *x = open_ok(&t, &a);
    a = args(12, "E1", "fall");
    struct alert *y = open_ok(&t, &a);
    char xcode[ALERT_ACK_CODE_LEN + 1], ycode[ALERT_ACK_CODE_LEN + 1];
    memcpy(xcode, x->ack_code, sizeof xcode);
    memcpy(ycode, y->ack_code, sizeof ycode);
    assert_string_not_equal(xcode, ycode);

    x->state = ALERT_RESOLVED;
    alert_forget(&t, x);    /* frees x: ASan checks nothing touches it later */
    assert_null(alert_find_live(&t, "E1", "sos"));
    assert_null(alert_find_id(&t, 11));
    assert_null(alert_find_code(&t, xcode));
    assert_int_equal(t.by_dedup.len, 1);
    assert_int_equal(t.by_id.len, 1);
    assert_int_equal(t.by_code.len, 1);
    assert_ptr_equal(alert_find_live(&t, "E1", "fall"), y);
    assert_ptr_equal(alert_find_id(&t, 12), y);
    assert_ptr_equal(alert_find_code(&t, ycode), y);

    alert_forget(&t, y);
    assert_int_equal(t.by_dedup.len, 0);
    assert_int_equal(t.by_id.len, 0);
    assert_int_equal(t.by_code.len, 0);
    assert_null(alert_find_code(&t, ycode));
    alert_table_clear(&t);

    /* Forget many in a scrambled order; the rest stay reachable. */
    static struct alert *al[500];
    char elder[16];
    for (int i = 0; i < 500; i++) {
        snprintf(elder, sizeof elder, "E%d", i);
        a = args(i, elder, "sos");
        a.code_seed = 7;
        al[i] = open_ok(&t, &a);
    }
    for (int i = 0; i < 500; i++) {
        int k = (i * 7) % 500;  /* 7 is coprime with 500: a permutation */
        if (k % 2 == 0) {
            alert_forget(&t, al[k]);
            al[k] = NULL;
        }
    }
    assert_int_equal(t.by_id.len, 250);
    assert_int_equal(t.by_code.len, 250);
    for (int i = 0; i < 500; i++) {
        snprintf(elder, sizeof elder, "E%d", i);
        if (i % 2 == 0) {
            assert_null(alert_find_id(&t, i));
            assert_null(alert_find_live(&t, elder, "sos"));
        } else {
            assert_ptr_equal(alert_find_id(&t, i), al[i]);
            assert_ptr_equal(alert_find_live(&t, elder, "sos"), al[i]);
            assert_ptr_equal(alert_find_code(&t, al[i]->ack_code), al[i]);
        }
    }
    alert_table_clear(&t);
}

static void test_long_ids_and_negative(void **state)
{
    (void)state;
    struct alert_table t = {0};
    char elder[TLM_MAX_ID + 1], rule[RULE_NAME_MAX + 1];
    memset(elder, 'e', TLM_MAX_ID);
    elder[TLM_MAX_ID] = '\0';
    memset(rule, 'r', RULE_NAME_MAX);
    rule[RULE_NAME_MAX] = '\0';

    struct alert_open_args a = args(INT64_MAX, elder, rule);
    struct alert *al = open_ok(&t, &a);
    assert_string_equal(al->elder_id, elder);
    assert_string_equal(al->rule, rule);
    assert_ptr_equal(alert_find_live(&t, elder, rule), al);
    assert_ptr_equal(alert_find_id(&t, INT64_MAX), al);
    assert_string_equal(al->key_id, "9223372036854775807");

    a = args(INT64_MIN, "E1", "sos");
    al = open_ok(&t, &a);
    assert_ptr_equal(alert_find_id(&t, INT64_MIN), al);
    assert_string_equal(al->key_id, "-9223372036854775808");
    alert_table_clear(&t);
}

static void test_state_names(void **state)
{
    (void)state;
    assert_string_equal(alert_state_name(ALERT_OPEN), "open");
    assert_string_equal(alert_state_name(ALERT_ACKNOWLEDGED), "acknowledged");
    assert_string_equal(alert_state_name(ALERT_RESOLVED), "resolved");
    assert_string_equal(alert_state_name(ALERT_CLEARED), "cleared");
    assert_string_equal(alert_state_name(ALERT_EXPIRED), "expired");
    assert_string_equal(alert_state_name((enum alert_state)99), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_and_find),
        cmocka_unit_test(test_open_null_device_and_chain),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_codes_unique_among_many),
        cmocka_unit_test(test_code_depends_on_seed),
        cmocka_unit_test(test_restore),
        cmocka_unit_test(test_repeat),
        cmocka_unit_test(test_forget),
        cmocka_unit_test(test_long_ids_and_negative),
        cmocka_unit_test(test_state_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
