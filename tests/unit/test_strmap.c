/* test_strmap.c - unit tests for the string hash map (lib/strmap.c): put, get,
 * replace, backward-shift deletion against a reference model, growth,
 * iteration and the empty map. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "strmap.h"

/* Small deterministic generator (xorshift32) so every run is the same. */
static uint32_t rng_state;

static uint32_t rng(void)
{
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    rng_state = x;
    return x;
}

static void shuffle(size_t *a, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = rng() % i;
        size_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* Counts live slots directly, to check len against the slot array. */
static size_t count_slots(const struct strmap *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key)
            n++;
    return n;
}

/* ---- basics ----------------------------------------------------------------- */

static void test_hash_vectors(void **state)
{
    (void)state;
    /* FNV-1a 32-bit reference values. */
    assert_int_equal(strmap_hash(""), 0x811c9dc5u);
    assert_int_equal(strmap_hash("a"), 0xe40c292cu);
    assert_int_equal(strmap_hash("foobar"), 0xbf9cf968u);
}

static void test_empty_map(void **state)
{
    (void)state;
    struct strmap m = {0};
    const char *k = (const char *)1;
    void *v = (void *)1;
    size_t it = 0;

    assert_null(strmap_get(&m, "x"));
    assert_null(strmap_get(&m, ""));
    assert_null(strmap_del(&m, "x"));
    assert_int_equal(strmap_next(&m, &it, &k, &v), 0);
    assert_int_equal(it, 0);
    assert_int_equal(m.len, 0);
    strmap_free(&m);
    strmap_free(&m);    /* freeing twice is harmless: the map is reset */
    assert_null(m.slots);
    assert_int_equal(m.cap, 0);
    assert_int_equal(m.len, 0);

    /* A map that held entries and lost them all behaves as empty. */
    int a = 1;
    assert_int_equal(strmap_put(&m, "k", &a, NULL), 0);
    assert_ptr_equal(strmap_del(&m, "k"), &a);
    assert_int_equal(m.len, 0);
    assert_null(strmap_get(&m, "k"));
    assert_null(strmap_del(&m, "k"));
    it = 0;
    assert_int_equal(strmap_next(&m, &it, NULL, NULL), 0);
    assert_int_equal(it, m.cap);
    strmap_free(&m);
}

static void test_put_get_replace(void **state)
{
    (void)state;
    struct strmap m = {0};
    int a = 1, b = 2, c = 3;
    void *old = (void *)1;

    assert_int_equal(strmap_put(&m, "alpha", &a, &old), 0);
    assert_null(old);
    assert_int_equal(strmap_put(&m, "beta", &b, &old), 0);
    assert_null(old);
    assert_int_equal(m.len, 2);
    assert_ptr_equal(strmap_get(&m, "alpha"), &a);
    assert_ptr_equal(strmap_get(&m, "beta"), &b);
    assert_null(strmap_get(&m, "gamma"));
    assert_null(strmap_get(&m, "alph"));
    assert_null(strmap_get(&m, "alphaa"));
    assert_null(strmap_get(&m, ""));

    /* Replace: the old value comes back, len does not change. */
    assert_int_equal(strmap_put(&m, "alpha", &c, &old), 0);
    assert_ptr_equal(old, &a);
    assert_int_equal(m.len, 2);
    assert_ptr_equal(strmap_get(&m, "alpha"), &c);
    assert_ptr_equal(strmap_get(&m, "beta"), &b);

    /* old may be NULL. */
    assert_int_equal(strmap_put(&m, "alpha", &a, NULL), 0);
    assert_ptr_equal(strmap_get(&m, "alpha"), &a);

    /* The empty string is an ordinary key. */
    assert_int_equal(strmap_put(&m, "", &b, &old), 0);
    assert_null(old);
    assert_ptr_equal(strmap_get(&m, ""), &b);
    assert_int_equal(m.len, 3);

    /* NULL values can be stored (get cannot tell them from absent). */
    assert_int_equal(strmap_put(&m, "nil", NULL, &old), 0);
    assert_null(old);
    assert_int_equal(m.len, 4);
    assert_int_equal(strmap_put(&m, "nil", &c, &old), 0);
    assert_null(old);
    assert_int_equal(m.len, 4);
    assert_ptr_equal(strmap_get(&m, "nil"), &c);
    strmap_free(&m);
}

/* Replacing with a different key pointer (same text) makes the map use the new
 * pointer: the old key's storage may then be freed. */
static void test_replace_takes_new_key_pointer(void **state)
{
    (void)state;
    struct strmap m = {0};
    char *k1 = strdup("device-1");
    char *k2 = strdup("device-1");
    int a = 1, b = 2;
    void *old = NULL;

    assert_non_null(k1);
    assert_non_null(k2);
    assert_int_equal(strmap_put(&m, k1, &a, NULL), 0);
    assert_int_equal(strmap_put(&m, k2, &b, &old), 0);
    assert_ptr_equal(old, &a);
    free(k1);           /* ASan would flag any later use of k1 */

    assert_ptr_equal(strmap_get(&m, "device-1"), &b);
    size_t it = 0;
    const char *key = NULL;
    void *v = NULL;
    assert_int_equal(strmap_next(&m, &it, &key, &v), 1);
    assert_ptr_equal(key, k2);
    assert_ptr_equal(v, &b);
    assert_int_equal(strmap_next(&m, &it, &key, &v), 0);
    assert_ptr_equal(strmap_del(&m, "device-1"), &b);
    strmap_free(&m);
    free(k2);
}

static void test_del_missing_and_twice(void **state)
{
    (void)state;
    struct strmap m = {0};
    int a = 1, b = 2;

    assert_int_equal(strmap_put(&m, "a", &a, NULL), 0);
    assert_int_equal(strmap_put(&m, "b", &b, NULL), 0);
    assert_null(strmap_del(&m, "c"));
    assert_int_equal(m.len, 2);
    assert_ptr_equal(strmap_del(&m, "a"), &a);
    assert_null(strmap_del(&m, "a"));
    assert_int_equal(m.len, 1);
    assert_null(strmap_get(&m, "a"));
    assert_ptr_equal(strmap_get(&m, "b"), &b);

    /* Re-insert after delete. */
    void *old = (void *)1;
    assert_int_equal(strmap_put(&m, "a", &b, &old), 0);
    assert_null(old);
    assert_ptr_equal(strmap_get(&m, "a"), &b);
    assert_int_equal(m.len, 2);
    strmap_free(&m);
}

/* ---- growth ----------------------------------------------------------------- */

#define GROW_N 5000

static void test_growth(void **state)
{
    (void)state;
    struct strmap m = {0};
    static char keys[GROW_N][16];
    static int vals[GROW_N];
    size_t prev_cap = 0;
    int grew = 0;

    for (size_t i = 0; i < GROW_N; i++) {
        snprintf(keys[i], sizeof keys[i], "key-%zu", i);
        vals[i] = (int)i;
        void *old = (void *)1;
        assert_int_equal(strmap_put(&m, keys[i], &vals[i], &old), 0);
        assert_null(old);
        assert_int_equal(m.len, i + 1);
        /* cap is a power of two and the load factor stays at most 3/4. */
        assert_true(m.cap >= 16);
        assert_int_equal(m.cap & (m.cap - 1), 0);
        assert_true(m.len * 4 <= m.cap * 3);
        if (m.cap != prev_cap) {
            if (prev_cap)
                assert_int_equal(m.cap, prev_cap * 2);
            grew++;
            prev_cap = m.cap;
        }
    }
    assert_true(grew >= 9);     /* 16 -> 8192 at least */
    assert_int_equal(count_slots(&m), GROW_N);
    for (size_t i = 0; i < GROW_N; i++) {
        int *v = strmap_get(&m, keys[i]);
        assert_non_null(v);
        assert_int_equal(*v, (int)i);
    }
    assert_null(strmap_get(&m, "key-5000"));
    assert_null(strmap_get(&m, "key-"));
    strmap_free(&m);
}

/* ---- deletion against a reference model ------------------------------------- */

#define DEL_N 2000

static void check_against_reference(const struct strmap *m, char (*keys)[16], const int *vals,
                                    const int *present, size_t n)
{
    size_t live = 0;
    for (size_t i = 0; i < n; i++) {
        void *v = strmap_get(m, keys[i]);
        if (present[i]) {
            assert_ptr_equal(v, &vals[i]);
            live++;
        } else {
            assert_null(v);
        }
    }
    assert_int_equal(m->len, live);
    assert_int_equal(count_slots(m), live);
}

static void test_delete_half_random(void **state)
{
    (void)state;
    static char keys[DEL_N][16];
    static int vals[DEL_N];
    static int present[DEL_N];
    static size_t order[DEL_N];
    struct strmap m = {0};

    rng_state = 0x2545F491u;
    for (size_t i = 0; i < DEL_N; i++) {
        snprintf(keys[i], sizeof keys[i], "E%05u", (unsigned)(rng() % 100000));
        /* keys must be distinct for the model: fall back to the index on a clash */
        for (size_t k = 0; k < i; k++)
            if (strcmp(keys[k], keys[i]) == 0) {
                snprintf(keys[i], sizeof keys[i], "X%zu", i);
                break;
            }
        vals[i] = (int)i;
        order[i] = i;
        assert_int_equal(strmap_put(&m, keys[i], &vals[i], NULL), 0);
        present[i] = 1;
    }
    check_against_reference(&m, keys, vals, present, DEL_N);

    shuffle(order, DEL_N);
    for (size_t d = 0; d < DEL_N / 2; d++) {
        size_t i = order[d];
        assert_ptr_equal(strmap_del(&m, keys[i]), &vals[i]);
        present[i] = 0;
        /* A full check after every deletion catches a broken probe run at once. */
        check_against_reference(&m, keys, vals, present, DEL_N);
    }
    assert_int_equal(m.len, DEL_N / 2);

    /* Deleted keys are really gone: deleting again finds nothing. */
    for (size_t d = 0; d < DEL_N / 2; d++)
        assert_null(strmap_del(&m, keys[order[d]]));
    assert_int_equal(m.len, DEL_N / 2);

    /* Put half of the deleted ones back, then delete the rest of the originals. */
    for (size_t d = 0; d < DEL_N / 4; d++) {
        size_t i = order[d];
        assert_int_equal(strmap_put(&m, keys[i], &vals[i], NULL), 0);
        present[i] = 1;
    }
    check_against_reference(&m, keys, vals, present, DEL_N);
    for (size_t d = DEL_N / 2; d < DEL_N; d++) {
        size_t i = order[d];
        assert_ptr_equal(strmap_del(&m, keys[i]), &vals[i]);
        present[i] = 0;
    }
    check_against_reference(&m, keys, vals, present, DEL_N);
    assert_int_equal(m.len, DEL_N / 4);
    strmap_free(&m);
}

/* Keys chosen so that their home slots crowd the end of a 16-slot table: the
 * probe runs wrap around to slot 0, the case where the cyclic range test in
 * the backward shift matters. Every single deletion and many random deletion
 * orders are checked. */
#define WRAP_N 11

static void fill_wrap(struct strmap *m, char (*keys)[16], int *vals)
{
    memset(m, 0, sizeof *m);
    for (size_t i = 0; i < WRAP_N; i++)
        assert_int_equal(strmap_put(m, keys[i], &vals[i], NULL), 0);
    assert_int_equal(m->cap, 16);
}

static void test_delete_wraparound(void **state)
{
    (void)state;
    static char keys[WRAP_N][16];
    static int vals[WRAP_N];
    int present[WRAP_N];
    size_t n = 0;

    /* Homes 13, 14, 15, 0 and 1 (mod 16), several keys each. */
    static const unsigned homes[] = {15, 14, 15, 13, 0, 15, 14, 1, 15, 0, 13};
    for (size_t h = 0; h < WRAP_N; h++) {
        for (unsigned c = 0;; c++) {
            char k[16];
            snprintf(k, sizeof k, "w%u", c);
            if ((strmap_hash(k) & 15u) != homes[h])
                continue;
            int dup = 0;
            for (size_t i = 0; i < n; i++)
                dup |= strcmp(keys[i], k) == 0;
            if (dup)
                continue;
            memcpy(keys[n], k, sizeof k);
            vals[n] = (int)n;
            n++;
            break;
        }
    }
    assert_int_equal(n, WRAP_N);

    struct strmap m;
    fill_wrap(&m, keys, vals);
    /* The table really wraps: slot 0 holds a key whose home is 13..15. */
    assert_non_null(m.slots[0].key);
    assert_true((m.slots[0].hash & 15u) >= 13);
    strmap_free(&m);

    /* Each key deleted alone. */
    for (size_t d = 0; d < WRAP_N; d++) {
        fill_wrap(&m, keys, vals);
        for (size_t i = 0; i < WRAP_N; i++)
            present[i] = i != d;
        assert_ptr_equal(strmap_del(&m, keys[d]), &vals[d]);
        check_against_reference(&m, keys, vals, present, WRAP_N);
        strmap_free(&m);
    }

    /* Random deletion orders, checked after each step. */
    rng_state = 12345;
    for (int round = 0; round < 200; round++) {
        size_t order[WRAP_N];
        for (size_t i = 0; i < WRAP_N; i++) {
            order[i] = i;
            present[i] = 1;
        }
        shuffle(order, WRAP_N);
        fill_wrap(&m, keys, vals);
        for (size_t d = 0; d < WRAP_N; d++) {
            assert_ptr_equal(strmap_del(&m, keys[order[d]]), &vals[order[d]]);
            present[order[d]] = 0;
            check_against_reference(&m, keys, vals, present, WRAP_N);
        }
        assert_int_equal(m.len, 0);
        strmap_free(&m);
    }
}

/* ---- iteration -------------------------------------------------------------- */

#define IT_N 777

static void test_iteration_each_once(void **state)
{
    (void)state;
    static char keys[IT_N][16];
    static int vals[IT_N];
    int seen[IT_N];
    struct strmap m = {0};

    for (size_t i = 0; i < IT_N; i++) {
        snprintf(keys[i], sizeof keys[i], "it%zu", i);
        vals[i] = (int)i;
        assert_int_equal(strmap_put(&m, keys[i], &vals[i], NULL), 0);
    }
    /* Delete every third so iteration also runs over holes. */
    for (size_t i = 0; i < IT_N; i += 3)
        assert_ptr_equal(strmap_del(&m, keys[i]), &vals[i]);

    memset(seen, 0, sizeof seen);
    size_t it = 0, count = 0;
    const char *k;
    void *v;
    while (strmap_next(&m, &it, &k, &v)) {
        int idx = *(int *)v;
        assert_true(idx >= 0 && idx < IT_N);
        assert_ptr_equal(k, keys[idx]);     /* key is the caller's pointer, not a copy */
        seen[idx]++;
        count++;
        assert_true(it <= m.cap);
    }
    assert_int_equal(it, m.cap);
    assert_int_equal(count, m.len);
    for (size_t i = 0; i < IT_N; i++)
        assert_int_equal(seen[i], i % 3 == 0 ? 0 : 1);

    /* Finished iterator stays finished. */
    assert_int_equal(strmap_next(&m, &it, &k, &v), 0);

    /* NULL out-pointers are allowed. */
    it = 0;
    count = 0;
    while (strmap_next(&m, &it, NULL, NULL))
        count++;
    assert_int_equal(count, m.len);
    strmap_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_vectors),
        cmocka_unit_test(test_empty_map),
        cmocka_unit_test(test_put_get_replace),
        cmocka_unit_test(test_replace_takes_new_key_pointer),
        cmocka_unit_test(test_del_missing_and_twice),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_delete_half_random),
        cmocka_unit_test(test_delete_wraparound),
        cmocka_unit_test(test_iteration_each_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
