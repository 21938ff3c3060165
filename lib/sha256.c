/* sha256.c - SHA-256 as specified in FIPS 180-4 section 6.2, and HMAC-SHA256
 * as in RFC 2104. Written for clarity, not speed: tokens are short. */
#include <string.h>

#include "sha256.h"
#include "be32.h"

/* FIPS 180-4 4.2.2: the first 32 bits of the fractional parts of the cube
 * roots of the first 64 primes. */
static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
};

static uint32_t rotr(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

/* FIPS 180-4 6.2.2: one 512-bit block into the hash value. */
static void compress(uint32_t h[8], const uint8_t block[SHA256_BLOCK])
{
    uint32_t w[64];
    for (int t = 0; t < 16; t++)
        w[t] = be32_load(block + 4 * t);
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    uint32_t e = h[4], f = h[5], g = h[6], k = h[7];
    for (int t = 0; t < 64; t++) {
        uint32_t sum1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = k + sum1 + ch + K[t] + w[t];
        uint32_t sum0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = sum0 + maj;
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += k;
}

void sha256_init(struct sha256_ctx *c)
{
    /* FIPS 180-4 5.3.3: the first 32 bits of the fractional parts of the
     * square roots of the first 8 primes. */
    static const uint32_t h0[8] = {
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    };
    memcpy(c->h, h0, sizeof h0);
    c->total = 0;
    c->buf_len = 0;
}

void sha256_update(struct sha256_ctx *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    if (len == 0)
        return;     /* data may be NULL, which memcpy must not see */
    c->total += len;
    if (c->buf_len > 0) {
        size_t take = SHA256_BLOCK - c->buf_len;
        if (take > len)
            take = len;
        memcpy(c->buf + c->buf_len, p, take);
        c->buf_len += take;
        p += take;
        len -= take;
        if (c->buf_len < SHA256_BLOCK)
            return;
        compress(c->h, c->buf);
        c->buf_len = 0;
    }
    for (; len >= SHA256_BLOCK; p += SHA256_BLOCK, len -= SHA256_BLOCK)
        compress(c->h, p);
    if (len > 0) {
        memcpy(c->buf, p, len);
        c->buf_len = len;
    }
}

/* memset that the compiler may not drop as a dead store. */
static void wipe(void *p, size_t n)
{
    volatile uint8_t *v = p;
    while (n--)
        *v++ = 0;
}

void sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_LEN])
{
    /* FIPS 180-4 5.1.1: a 1 bit, zeros to 56 mod 64 bytes, the length in
     * bits as a 64-bit big-endian number. */
    uint64_t bits = c->total * 8;
    c->buf[c->buf_len++] = 0x80;
    if (c->buf_len > SHA256_BLOCK - 8) {
        memset(c->buf + c->buf_len, 0, SHA256_BLOCK - c->buf_len);
        compress(c->h, c->buf);
        c->buf_len = 0;
    }
    memset(c->buf + c->buf_len, 0, SHA256_BLOCK - 8 - c->buf_len);
    be32_store(c->buf + 56, (uint32_t)(bits >> 32));
    be32_store(c->buf + 60, (uint32_t)bits);
    compress(c->h, c->buf);
    for (int i = 0; i < 8; i++)
        be32_store(out + 4 * i, c->h[i]);
    wipe(c, sizeof *c);
}

void sha256_digest(const void *data, size_t len, uint8_t out[SHA256_LEN])
{
    struct sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, data, len);
    sha256_final(&c, out);
}

void sha256_hmac(const void *key, size_t keylen, const void *msg, size_t msglen,
                 uint8_t out[SHA256_LEN])
{
    uint8_t k[SHA256_BLOCK] = {0};
    uint8_t pad[SHA256_BLOCK];
    uint8_t inner[SHA256_LEN];
    struct sha256_ctx c;

    if (keylen > SHA256_BLOCK)
        sha256_digest(key, keylen, k);
    else if (keylen > 0)
        memcpy(k, key, keylen);

    /* H((K ^ ipad) || msg) */
    for (int i = 0; i < SHA256_BLOCK; i++)
        pad[i] = k[i] ^ 0x36;
    sha256_init(&c);
    sha256_update(&c, pad, sizeof pad);
    sha256_update(&c, msg, msglen);
    sha256_final(&c, inner);

    /* H((K ^ opad) || inner) */
    for (int i = 0; i < SHA256_BLOCK; i++)
        pad[i] = k[i] ^ 0x5c;
    sha256_init(&c);
    sha256_update(&c, pad, sizeof pad);
    sha256_update(&c, inner, sizeof inner);
    sha256_final(&c, out);

    wipe(k, sizeof k);
    wipe(pad, sizeof pad);
    wipe(inner, sizeof inner);
}

bool sha256_equal(const uint8_t a[SHA256_LEN], const uint8_t b[SHA256_LEN])
{
    /* No early exit: every byte is looked at whatever the first difference. */
    volatile uint8_t diff = 0;
    for (int i = 0; i < SHA256_LEN; i++)
        diff |= a[i] ^ b[i];
    return diff == 0;
}
