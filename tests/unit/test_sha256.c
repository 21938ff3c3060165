/* test_sha256.c - unit tests for SHA-256 and HMAC-SHA256 (lib/sha256.c):
 * the published test vectors, padding at the block boundaries, any split of
 * the input over incremental updates, and the constant-time compare.
 *
 * Sources of the expected values:
 *   - FIPS 180-2, Appendix B (B.1 "abc", B.2 the 448-bit message, B.3 one
 *     million 'a'); the same digests are in NIST's "SHA256.pdf" example file.
 *   - The empty string: the well-known SHA-256 of zero bytes
 *     (e3b0c442...b855), also in NIST's CAVP SHA256ShortMsg.rsp (Len = 0).
 *   - RFC 4231 section 4, HMAC-SHA-256 test cases 1 to 7.
 *   - Padding-boundary digests of n 'a' bytes and of the 200-byte test
 *     message: computed independently with Python's hashlib.sha256. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sha256.h"

static void to_hex(const uint8_t *d, size_t n, char *out)
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
    uint8_t d[SHA256_LEN];
    char hex[2 * SHA256_LEN + 1];
    sha256_digest(msg, len, d);
    to_hex(d, sizeof d, hex);
    assert_string_equal(hex, want);
}

static void test_fips_abc(void **state)
{
    (void)state;
    /* FIPS 180-2 B.1 */
    expect_digest("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_fips_448_bits(void **state)
{
    (void)state;
    /* FIPS 180-2 B.2: 56 bytes, so the padding needs a second block. */
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    assert_int_equal(strlen(m) * 8, 448);
    expect_digest(m, strlen(m),
                  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_fips_million_a(void **state)
{
    (void)state;
    /* FIPS 180-2 B.3, once in one call and once in uneven pieces. */
    const char *want = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    size_t n = 1000000;
    char *a = malloc(n);
    assert_non_null(a);
    memset(a, 'a', n);
    expect_digest(a, n, want);

    struct sha256_ctx c;
    uint8_t d[SHA256_LEN];
    char hex[2 * SHA256_LEN + 1];
    sha256_init(&c);
    for (size_t done = 0, step = 1; done < n; step = step * 3 % 1021 + 1) {
        size_t k = step < n - done ? step : n - done;
        sha256_update(&c, a + done, k);
        done += k;
    }
    sha256_final(&c, d);
    to_hex(d, sizeof d, hex);
    assert_string_equal(hex, want);
    free(a);
}

static void test_empty(void **state)
{
    (void)state;
    const char *want = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    expect_digest(NULL, 0, want);
    expect_digest("", 0, want);

    struct sha256_ctx c;
    uint8_t d[SHA256_LEN];
    char hex[2 * SHA256_LEN + 1];
    sha256_init(&c);
    sha256_update(&c, NULL, 0);
    sha256_final(&c, d);
    to_hex(d, sizeof d, hex);
    assert_string_equal(hex, want);
}

static void test_padding_boundaries(void **state)
{
    (void)state;
    /* Lengths around 55/56 and 64 bytes, where the length field no longer
     * fits in the last block (values from Python's hashlib). */
    static const struct { size_t n; const char *want; } v[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
    };
    char a[128];
    memset(a, 'a', sizeof a);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        expect_digest(a, v[i].n, v[i].want);
}

static void message200(uint8_t m[200])
{
    for (int i = 0; i < 200; i++)
        m[i] = (uint8_t)((i * 7 + 3) & 0xff);
}

static void test_incremental_splits(void **state)
{
    (void)state;
    uint8_t m[200], whole[SHA256_LEN], d[SHA256_LEN];
    char hex[2 * SHA256_LEN + 1];
    message200(m);
    sha256_digest(m, sizeof m, whole);
    to_hex(whole, sizeof whole, hex);
    assert_string_equal(hex, "2c7e18c942ef065b526a2d4e5546283749cd3ddfb51d8fc71f42717363685f46");

    /* Two pieces, split at every offset (0 and 200 give an empty piece). */
    for (size_t at = 0; at <= sizeof m; at++) {
        struct sha256_ctx c;
        sha256_init(&c);
        sha256_update(&c, m, at);
        sha256_update(&c, m + at, sizeof m - at);
        sha256_final(&c, d);
        assert_memory_equal(d, whole, SHA256_LEN);
    }
    /* Three pieces, both split points at every offset. */
    for (size_t i = 0; i <= sizeof m; i++) {
        for (size_t j = i; j <= sizeof m; j++) {
            struct sha256_ctx c;
            sha256_init(&c);
            sha256_update(&c, m, i);
            sha256_update(&c, m + i, j - i);
            sha256_update(&c, m + j, sizeof m - j);
            sha256_final(&c, d);
            assert_memory_equal(d, whole, SHA256_LEN);
        }
    }
    /* One byte at a time, for every prefix length. */
    for (size_t n = 0; n <= sizeof m; n++) {
        struct sha256_ctx c;
        uint8_t one[SHA256_LEN];
        sha256_init(&c);
        for (size_t k = 0; k < n; k++)
            sha256_update(&c, m + k, 1);
        sha256_final(&c, d);
        sha256_digest(m, n, one);
        assert_memory_equal(d, one, SHA256_LEN);
    }
}

static void test_context_reuse(void **state)
{
    (void)state;
    /* A context started again after final gives a fresh digest. */
    struct sha256_ctx c;
    uint8_t d[SHA256_LEN];
    char hex[2 * SHA256_LEN + 1];
    sha256_init(&c);
    sha256_update(&c, "something else", 14);
    sha256_final(&c, d);
    sha256_init(&c);
    sha256_update(&c, "abc", 3);
    sha256_final(&c, d);
    to_hex(d, sizeof d, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* ---- HMAC-SHA256, RFC 4231 section 4 ------------------------------------ */

static void expect_hmac(const void *key, size_t keylen, const void *msg, size_t msglen,
                        const char *want)
{
    uint8_t d[SHA256_LEN];
    char hex[2 * SHA256_LEN + 1];
    sha256_hmac(key, keylen, msg, msglen, d);
    to_hex(d, sizeof d, hex);
    /* Test case 5 gives only the first 128 bits (truncated output). */
    size_t n = strlen(want);
    assert_true(n == 2 * SHA256_LEN || n == 32);
    hex[n] = '\0';
    assert_string_equal(hex, want);
}

static void test_hmac_rfc4231_1(void **state)
{
    (void)state;
    uint8_t key[20];
    memset(key, 0x0b, sizeof key);
    expect_hmac(key, sizeof key, "Hi There", 8,
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

static void test_hmac_rfc4231_2(void **state)
{
    (void)state;
    /* A key shorter than the output. */
    const char *m = "what do ya want for nothing?";
    expect_hmac("Jefe", 4, m, strlen(m),
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_hmac_rfc4231_3(void **state)
{
    (void)state;
    uint8_t key[20], msg[50];
    memset(key, 0xaa, sizeof key);
    memset(msg, 0xdd, sizeof msg);
    expect_hmac(key, sizeof key, msg, sizeof msg,
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
}

static void test_hmac_rfc4231_4(void **state)
{
    (void)state;
    uint8_t key[25], msg[50];
    for (int i = 0; i < 25; i++)
        key[i] = (uint8_t)(i + 1);
    memset(msg, 0xcd, sizeof msg);
    expect_hmac(key, sizeof key, msg, sizeof msg,
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
}

static void test_hmac_rfc4231_5(void **state)
{
    (void)state;
    /* Truncated to 128 bits in the RFC. */
    uint8_t key[20];
    memset(key, 0x0c, sizeof key);
    expect_hmac(key, sizeof key, "Test With Truncation", 20, "a3b6167473100ee06e0c796c2955552b");
}

static void test_hmac_rfc4231_6(void **state)
{
    (void)state;
    /* A 131-byte key, longer than a block: hashed first. */
    uint8_t key[131];
    memset(key, 0xaa, sizeof key);
    const char *m = "Test Using Larger Than Block-Size Key - Hash Key First";
    expect_hmac(key, sizeof key, m, strlen(m),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void test_hmac_rfc4231_7(void **state)
{
    (void)state;
    /* A long key and data longer than a block. */
    uint8_t key[131];
    memset(key, 0xaa, sizeof key);
    const char *m = "This is a test using a larger than block-size key and a larger than "
                    "block-size data. The key needs to be hashed before being used by the "
                    "HMAC algorithm.";
    expect_hmac(key, sizeof key, m, strlen(m),
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

static void test_hmac_block_sized_key(void **state)
{
    (void)state;
    /* A key of exactly one block is used as is, not hashed: it must differ
     * from the same key hashed first (which is what a 65-byte key gets). */
    uint8_t key[SHA256_BLOCK], hashed[SHA256_LEN], a[SHA256_LEN], b[SHA256_LEN];
    memset(key, 0x42, sizeof key);
    sha256_digest(key, sizeof key, hashed);
    sha256_hmac(key, sizeof key, "m", 1, a);
    sha256_hmac(hashed, sizeof hashed, "m", 1, b);
    assert_memory_not_equal(a, b, SHA256_LEN);

    /* And a key longer than a block equals its digest as the key. */
    uint8_t longkey[SHA256_BLOCK + 1];
    memset(longkey, 0x42, sizeof longkey);
    sha256_digest(longkey, sizeof longkey, hashed);
    sha256_hmac(longkey, sizeof longkey, "m", 1, a);
    sha256_hmac(hashed, sizeof hashed, "m", 1, b);
    assert_memory_equal(a, b, SHA256_LEN);
}

static void test_equal(void **state)
{
    (void)state;
    uint8_t a[SHA256_LEN], b[SHA256_LEN];
    sha256_digest("abc", 3, a);
    memcpy(b, a, sizeof a);
    assert_true(sha256_equal(a, b));
    for (int i = 0; i < SHA256_LEN; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (uint8_t)(1u << bit);
            assert_false(sha256_equal(a, b));
            b[i] ^= (uint8_t)(1u << bit);
        }
    }
    assert_true(sha256_equal(a, b));
    memset(b, 0, sizeof b);
    assert_false(sha256_equal(a, b));
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
        cmocka_unit_test(test_context_reuse),
        cmocka_unit_test(test_hmac_rfc4231_1),
        cmocka_unit_test(test_hmac_rfc4231_2),
        cmocka_unit_test(test_hmac_rfc4231_3),
        cmocka_unit_test(test_hmac_rfc4231_4),
        cmocka_unit_test(test_hmac_rfc4231_5),
        cmocka_unit_test(test_hmac_rfc4231_6),
        cmocka_unit_test(test_hmac_rfc4231_7),
        cmocka_unit_test(test_hmac_block_sized_key),
        cmocka_unit_test(test_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
