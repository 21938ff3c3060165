/* test_authguard.c - unit tests for the brake on failed logins
 * (lib/authguard.c): the limit within a window, the throttle and its end,
 * addresses counted apart, a full table making room, a limit of 0, and the
 * text an address is counted under. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>

#include "authguard.h"

static int setup(void **state)
{
    struct guard *g = malloc(sizeof *g);
    guard_init(g, 3, 60000, 300000);
    *state = g;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

static void test_limit_then_throttle_then_counted_again(void **state)
{
    struct guard *g = *state;
    assert_int_equal(guard_fail(g, "192.0.2.7", 1000), GUARD_COUNTED);
    assert_int_equal(guard_fail(g, "192.0.2.7", 2000), GUARD_COUNTED);
    assert_int_equal(guard_throttled_for(g, "192.0.2.7", 2000), 0);
    assert_int_equal(guard_fail(g, "192.0.2.7", 3000), GUARD_THROTTLE_STARTS);
    assert_int_equal(guard_throttled_for(g, "192.0.2.7", 3000), 300000);
    assert_int_equal(guard_throttled_for(g, "192.0.2.7", 4000), 299000);
    for (int i = 0; i < 50; i++)
        assert_int_equal(guard_fail(g, "192.0.2.7", 4000 + i), GUARD_THROTTLED);
    /* The throttle ends on time; failures count from nothing again. */
    assert_int_equal(guard_throttled_for(g, "192.0.2.7", 302999), 1);
    assert_int_equal(guard_throttled_for(g, "192.0.2.7", 303000), 0);
    assert_int_equal(guard_fail(g, "192.0.2.7", 303000), GUARD_COUNTED);
    assert_int_equal(guard_fail(g, "192.0.2.7", 303001), GUARD_COUNTED);
    assert_int_equal(guard_fail(g, "192.0.2.7", 303002), GUARD_THROTTLE_STARTS);
}

static void test_failures_spread_out_never_throttle(void **state)
{
    struct guard *g = *state;
    /* Two a minute, for an hour: a desk mistyping now and then. */
    for (int64_t t = 0; t < 3600000; t += 30000)
        assert_int_equal(guard_fail(g, "192.0.2.8", t), GUARD_COUNTED);
    assert_int_equal(guard_throttled_for(g, "192.0.2.8", 3600000), 0);
    /* A window runs from its first failure: two in the last second of one
     * and one at the start of the next do not throttle; three within 60 s
     * of a window's first do. */
    assert_int_equal(guard_fail(g, "192.0.2.9", 59000), GUARD_COUNTED);
    assert_int_equal(guard_fail(g, "192.0.2.9", 118999), GUARD_COUNTED);
    assert_int_equal(guard_fail(g, "192.0.2.9", 119000), GUARD_COUNTED);   /* a new window */
    assert_int_equal(guard_fail(g, "192.0.2.9", 120000), GUARD_COUNTED);
    assert_int_equal(guard_fail(g, "192.0.2.9", 178999), GUARD_THROTTLE_STARTS);
}

static void test_addresses_are_counted_apart(void **state)
{
    struct guard *g = *state;
    assert_int_equal(guard_fail(g, "192.0.2.1", 0), GUARD_COUNTED);
    assert_int_equal(guard_fail(g, "192.0.2.1", 0), GUARD_COUNTED);
    assert_int_equal(guard_fail(g, "192.0.2.1", 0), GUARD_THROTTLE_STARTS);
    assert_int_equal(guard_fail(g, "192.0.2.10", 0), GUARD_COUNTED);
    assert_int_equal(guard_throttled_for(g, "192.0.2.10", 1), 0);
    assert_int_equal(guard_throttled_for(g, "2001:db8:1:2::/64", 1), 0);
    assert_true(guard_throttled_for(g, "192.0.2.1", 1) > 0);
}

/* A flood from many addresses fills the table: the quiet ones make room,
 * and a throttle in force is kept while any quiet one is left. */
static void test_a_full_table_makes_room(void **state)
{
    struct guard *g = *state;
    for (int i = 0; i < 3; i++)
        guard_fail(g, "198.51.100.1", 10);
    assert_true(guard_throttled_for(g, "198.51.100.1", 11) > 0);
    char a[GUARD_ADDR_SIZE];
    for (int i = 0; i < 5 * GUARD_SLOTS; i++) {
        snprintf(a, sizeof a, "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        assert_int_equal(guard_fail(g, a, 100 + i), GUARD_COUNTED);
    }
    assert_true(guard_throttled_for(g, "198.51.100.1", 200) > 0);
    /* The most recent addresses are still counted: two more failures from
     * the last one throttle it. */
    assert_int_equal(guard_fail(g, a, 100 + 5 * GUARD_SLOTS), GUARD_COUNTED);
    assert_int_equal(guard_fail(g, a, 101 + 5 * GUARD_SLOTS), GUARD_THROTTLE_STARTS);
    /* Every slot throttled: the throttle ending first makes room. */
    guard_init(g, 1, 60000, 300000);
    for (int i = 0; i < GUARD_SLOTS; i++) {
        snprintf(a, sizeof a, "10.0.%d.%d", i >> 8, i & 255);
        assert_int_equal(guard_fail(g, a, i), GUARD_THROTTLE_STARTS);
    }
    assert_int_equal(guard_fail(g, "203.0.113.5", 5000), GUARD_THROTTLE_STARTS);
    assert_int_equal(guard_throttled_for(g, "10.0.0.0", 5000), 0);         /* made room */
    assert_true(guard_throttled_for(g, "10.0.0.1", 5000) > 0);
    assert_true(guard_throttled_for(g, "203.0.113.5", 5000) > 0);
}

static void test_limit_zero_never_throttles(void **state)
{
    struct guard *g = *state;
    guard_init(g, 0, 60000, 300000);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(guard_fail(g, "192.0.2.7", i), GUARD_COUNTED);
    assert_int_equal(guard_throttled_for(g, "192.0.2.7", 1000), 0);
}

static void test_address_keys(void **state)
{
    (void)state;
    char k[GUARD_ADDR_SIZE];
    const uint8_t v4[4] = {192, 0, 2, 7};
    guard_addr_key(AF_INET, v4, k);
    assert_string_equal(k, "192.0.2.7");
    const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 9};
    guard_addr_key(AF_INET6, mapped, k);
    assert_string_equal(k, "198.51.100.9");
    /* 2001:db8:1:2:aaaa:bbbb:cccc:dddd and its neighbour share a /64. */
    const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 0xaa, 0xaa, 0xbb, 0xbb,
                            0xcc, 0xcc, 0xdd, 0xdd};
    guard_addr_key(AF_INET6, v6, k);
    assert_string_equal(k, "2001:db8:1:2::/64");
    const uint8_t lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    guard_addr_key(AF_INET6, lo, k);
    assert_string_equal(k, "::/64");
    guard_addr_key(AF_UNIX, v4, k);
    assert_string_equal(k, "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_limit_then_throttle_then_counted_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failures_spread_out_never_throttle, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_addresses_are_counted_apart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_full_table_makes_room, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limit_zero_never_throttles, setup, teardown),
        cmocka_unit_test(test_address_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
