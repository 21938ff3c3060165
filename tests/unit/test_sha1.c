/* test_sha1.c - unit tests for SHA-1 and HMAC-SHA1 (lib/sha1.c): the
 * published test vectors, padding at the block boundaries, and any split of
 * the input over incremental updates.
 *
 * Sources of the expected values:
 *   - FIPS 180-2, Appendix A (A.1 "abc", A.2 the 448-bit message
 *     "abcdbcdecdef...nopq", A.3 one million 'a').
 *   - The empty string: the well-known SHA-1 of zero bytes (da39a3ee...0709),
 *     also in NIST's CAVP SHA1ShortMsg.rsp (Len = 0).
 *   - RFC 2202 section 3, HMAC-SHA-1 test cases 1 to 7 (case 5 also gives
 *     the digest truncated to 96 bits; the full one is checked).
 *   - Padding-boundary digests of n 'a' bytes and of the 200-byte test
 *     message: computed independently with Python's hashlib.sha1. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sha1.h"

static void hexify(const uint8_t *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static void expect_digest(const void *msg, size_t len, const char *want)
{
    uint8_t d[SHA1_LEN];
    char hex[2 * SHA1_LEN + 1];
    sha1_digest(msg, len, d);
    hexify(d, sizeof d, hex);
    assert_string_equal(hex, want);
}

static void test_fips_abc(void **state)
{
    (void)state;
    /* FIPS 180-2 A.1: one block. */
    expect_digest("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
}

static void test_fips_448_bits(void **state)
{
    (void)state;
    /* FIPS 180-2 A.2: 56 bytes, so the length needs a second block. */
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    assert_int_equal(strlen(m) * 8, 448);
    expect_digest(m, strlen(m), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

static void test_fips_million_a(void **state)
{
    (void)state;
    /* FIPS 180-2 A.3, in one call and in uneven pieces. */
    const char *want = "34aa973cd4c4daa4f61eeb2bdbad27316534016f";
    size_t n = 1000000;
    char *a = malloc(n);
    assert_non_null(a);
    memset(a, 'a', n);
    expect_digest(a, n, want);

    struct sha1_ctx c;
    uint8_t d[SHA1_LEN];
    char hex[2 * SHA1_LEN + 1];
    sha1_init(&c);
    for (size_t done = 0, step = 7; done < n; step = step * 5 % 1009 + 1) {
        size_t k = step < n - done ? step : n - done;
        sha1_update(&c, a + done, k);
        done += k;
    }
    sha1_final(&c, d);
    hexify(d, sizeof d, hex);
    assert_string_equal(hex, want);
    free(a);
}

static void test_empty(void **state)
{
    (void)state;
    const char *want = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
    expect_digest(NULL, 0, want);
    expect_digest("", 0, want);

    struct sha1_ctx c;
    uint8_t d[SHA1_LEN];
    char hex[2 * SHA1_LEN + 1];
    sha1_init(&c);
    sha1_update(&c, NULL, 0);
    sha1_final(&c, d);
    hexify(d, sizeof d, hex);
    assert_string_equal(hex, want);
}

static void test_padding_boundaries(void **state)
{
    (void)state;
    /* Around 55/56 bytes (the length field no longer fits) and 64/120
     * (whole blocks), values from Python's hashlib.sha1. */
    static const struct { size_t n; const char *want; } v[] = {
        {55, "c1c8bbdc22796e28c0e15163d20899b65621d65a"},
        {56, "c2db330f6083854c99d4b5bfb6e8f29f201be699"},
        {63, "03f09f5b158a7a8cdad920bddc29b81c18a551f5"},
        {64, "0098ba824b5c16427bd7a1122a5a442a25ec644d"},
        {65, "11655326c708d70319be2610e8a57d9a5b959d3b"},
        {119, "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56"},
        {120, "f34c1488385346a55709ba056ddd08280dd4c6d6"},
    };
    char a[128];
    memset(a, 'a', sizeof a);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        expect_digest(a, v[i].n, v[i].want);
}

static void test_incremental_splits(void **state)
{
    (void)state;
    uint8_t m[200], whole[SHA1_LEN], d[SHA1_LEN];
    char hex[2 * SHA1_LEN + 1];
    for (int i = 0; i < 200; i++)
        m[i] = (uint8_t)((i * 7 + 3) & 0xff);
    sha1_digest(m, sizeof m, whole);
    hexify(whole, sizeof whole, hex);
    assert_string_equal(hex, "892b673ca3c696ab13ab8aab3cf3abfbc3aaeb3b");

    /* Three pieces, both split points at every offset (empty pieces too). */
    for (size_t i = 0; i <= sizeof m; i++) {
        for (size_t j = i; j <= sizeof m; j++) {
            struct sha1_ctx c;
            sha1_init(&c);
            sha1_update(&c, m, i);
            sha1_update(&c, m + i, j - i);
            sha1_update(&c, m + j, sizeof m - j);
            sha1_final(&c, d);
            assert_memory_equal(d, whole, SHA1_LEN);
        }
    }
    /* One byte at a time, for every prefix length. */
    for (size_t n = 0; n <= sizeof m; n++) {
        struct sha1_ctx c;
        uint8_t one[SHA1_LEN];
        sha1_init(&c);
        for (size_t k = 0; k < n; k++)
            sha1_update(&c, m + k, 1);
        sha1_final(&c, d);
        sha1_digest(m, n, one);
        assert_memory_equal(d, one, SHA1_LEN);
    }
}

/* ---- HMAC-SHA1, RFC 2202 section 3 -------------------------------------- */

static void expect_hmac(const void *key, size_t keylen, const void *msg, size_t msglen,
                        const char *want)
{
    uint8_t d[SHA1_LEN];
    char hex[2 * SHA1_LEN + 1];
    sha1_hmac(key, keylen, msg, msglen, d);
    hexify(d, sizeof d, hex);
    assert_string_equal(hex, want);
}

static void test_rfc2202_1(void **state)
{
    (void)state;
    uint8_t key[20];
    memset(key, 0x0b, sizeof key);
    expect_hmac(key, sizeof key, "Hi There", 8, "b617318655057264e28bc0b6fb378c8ef146be00");
}

static void test_rfc2202_2(void **state)
{
    (void)state;
    /* A key shorter than the digest. */
    const char *d = "what do ya want for nothing?";
    expect_hmac("Jefe", 4, d, strlen(d), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
}

static void test_rfc2202_3(void **state)
{
    (void)state;
    uint8_t key[20], data[50];
    memset(key, 0xaa, sizeof key);
    memset(data, 0xdd, sizeof data);
    expect_hmac(key, sizeof key, data, sizeof data, "125d7342b9ac11cd91a39af48aa17b4f63f175d3");
}

static void test_rfc2202_4(void **state)
{
    (void)state;
    uint8_t key[25], data[50];
    for (int i = 0; i < 25; i++)
        key[i] = (uint8_t)(i + 1);
    memset(data, 0xcd, sizeof data);
    expect_hmac(key, sizeof key, data, sizeof data, "4c9007f4026250c6bc8414f9bf50c86c2d7235da");
}

static void test_rfc2202_5(void **state)
{
    (void)state;
    uint8_t key[20];
    memset(key, 0x0c, sizeof key);
    const char *d = "Test With Truncation";
    expect_hmac(key, sizeof key, d, strlen(d), "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04");
    /* and its 96-bit truncation as printed in the RFC */
    uint8_t mac[SHA1_LEN];
    char hex[2 * SHA1_LEN + 1];
    sha1_hmac(key, sizeof key, d, strlen(d), mac);
    hexify(mac, 12, hex);
    assert_string_equal(hex, "4c1a03424b55e07fe7f27be1");
}

static void test_rfc2202_6(void **state)
{
    (void)state;
    /* An 80-byte key, longer than a block: hashed first. */
    uint8_t key[80];
    memset(key, 0xaa, sizeof key);
    const char *d = "Test Using Larger Than Block-Size Key - Hash Key First";
    expect_hmac(key, sizeof key, d, strlen(d), "aa4ae5e15272d00e95705637ce8a3b55ed402112");
}

static void test_rfc2202_7(void **state)
{
    (void)state;
    uint8_t key[80];
    memset(key, 0xaa, sizeof key);
    const char *d = "Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data";
    expect_hmac(key, sizeof key, d, strlen(d), "e8e99d0f45237d786d6bbaa7965c7808bbff1a91");
}

static void test_hmac_empty(void **state)
{
    (void)state;
    /* NULL with length 0 is allowed for both; the value is Python's
     * hmac.new(b"", b"", hashlib.sha1). */
    expect_hmac(NULL, 0, NULL, 0, "fbdb1d1b18aa6c08324b7d64b71fb76370690e1d");
    expect_hmac("", 0, "", 0, "fbdb1d1b18aa6c08324b7d64b71fb76370690e1d");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fips_abc),
        cmocka_unit_test(test_fips_448_bits),
        cmocka_unit_test(test_fips_million_a),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_padding_boundaries),
        cmocka_unit_test(test_incremental_splits),
        cmocka_unit_test(test_rfc2202_1),
        cmocka_unit_test(test_rfc2202_2),
        cmocka_unit_test(test_rfc2202_3),
        cmocka_unit_test(test_rfc2202_4),
        cmocka_unit_test(test_rfc2202_5),
        cmocka_unit_test(test_rfc2202_6),
        cmocka_unit_test(test_rfc2202_7),
        cmocka_unit_test(test_hmac_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
