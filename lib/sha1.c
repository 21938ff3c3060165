/* sha1.c - SHA-1 as specified in FIPS 180-4 sections 5 and 6.1, and
 * HMAC-SHA1 as in RFC 2104 (see sha1.h). Written for clarity: the inputs
 * are short request strings. */
#include "sha1.h"
#include "be32.h"

#include <string.h>

static uint32_t rotl(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32 - n));
}

/* FIPS 180-4 6.1.2: one 512-bit block into the hash value. The message
 * schedule is kept as a ring of 16 words (W[t] only needs W[t-3], W[t-8],
 * W[t-14] and W[t-16]), the alternative method of section 6.1.3. */
static void compress(uint32_t h[5], const uint8_t block[SHA1_BLOCK])
{
    uint32_t w[16];
    for (int t = 0; t < 16; t++)
        w[t] = be32_load(block + 4 * t);

    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int t = 0; t < 80; t++) {
        int s = t & 15;
        if (t >= 16)
            w[s] = rotl(w[(s + 13) & 15] ^ w[(s + 8) & 15] ^ w[(s + 2) & 15] ^ w[s], 1);
        uint32_t f, k;
        if (t < 20) {
            f = (b & c) | (~b & d);             /* Ch */
            k = 0x5a827999;
        } else if (t < 40) {
            f = b ^ c ^ d;                      /* Parity */
            k = 0x6ed9eba1;
        } else if (t < 60) {
            f = (b & c) | (b & d) | (c & d);    /* Maj */
            k = 0x8f1bbcdc;
        } else {
            f = b ^ c ^ d;                      /* Parity */
            k = 0xca62c1d6;
        }
        uint32_t tmp = rotl(a, 5) + f + e + k + w[s];
        e = d;
        d = c;
        c = rotl(b, 30);
        b = a;
        a = tmp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void sha1_init(struct sha1_ctx *c)
{
    /* FIPS 180-4 5.3.1 */
    c->h[0] = 0x67452301;
    c->h[1] = 0xefcdab89;
    c->h[2] = 0x98badcfe;
    c->h[3] = 0x10325476;
    c->h[4] = 0xc3d2e1f0;
    c->total = 0;
    c->buf_len = 0;
}

void sha1_update(struct sha1_ctx *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    c->total += len;
    while (len > 0) {
        if (c->buf_len == 0 && len >= SHA1_BLOCK) {
            /* Whole blocks straight from the input, no copy. */
            compress(c->h, p);
            p += SHA1_BLOCK;
            len -= SHA1_BLOCK;
            continue;
        }
        size_t take = SHA1_BLOCK - c->buf_len;
        if (take > len)
            take = len;
        memcpy(c->buf + c->buf_len, p, take);
        c->buf_len += take;
        p += take;
        len -= take;
        if (c->buf_len == SHA1_BLOCK) {
            compress(c->h, c->buf);
            c->buf_len = 0;
        }
    }
}

/* A memset the compiler may not drop as a dead store (keys pass through). */
static void wipe(void *p, size_t n)
{
    volatile uint8_t *v = p;
    while (n--)
        *v++ = 0;
}

void sha1_final(struct sha1_ctx *c, uint8_t out[SHA1_LEN])
{
    /* FIPS 180-4 5.1.1: a 1 bit, zeros up to 56 mod 64 bytes, then the
     * message length in bits as a 64-bit big-endian number. */
    uint64_t bits = c->total * 8;
    uint8_t tail[SHA1_BLOCK * 2] = {0};
    size_t pad = (c->buf_len < 56 ? 56 : 120) - c->buf_len;
    tail[0] = 0x80;
    be32_store(tail + pad, (uint32_t)(bits >> 32));
    be32_store(tail + pad + 4, (uint32_t)bits);
    /* total no longer matters; update only counts it. */
    sha1_update(c, tail, pad + 8);
    for (int i = 0; i < 5; i++)
        be32_store(out + 4 * i, c->h[i]);
    wipe(c, sizeof *c);
}

void sha1_digest(const void *data, size_t len, uint8_t out[SHA1_LEN])
{
    struct sha1_ctx c;
    sha1_init(&c);
    sha1_update(&c, data, len);
    sha1_final(&c, out);
}

void sha1_hmac(const void *key, size_t keylen, const void *msg, size_t msglen,
               uint8_t out[SHA1_LEN])
{
    /* K0 (RFC 2104 section 2): the key, hashed if longer than a block,
     * padded with zeros to a block. */
    uint8_t k0[SHA1_BLOCK] = {0};
    uint8_t ipad[SHA1_BLOCK], opad[SHA1_BLOCK];
    uint8_t inner[SHA1_LEN];
    struct sha1_ctx c;

    if (keylen > SHA1_BLOCK)
        sha1_digest(key, keylen, k0);
    else if (keylen > 0)
        memcpy(k0, key, keylen);
    for (size_t i = 0; i < SHA1_BLOCK; i++) {
        ipad[i] = k0[i] ^ 0x36;
        opad[i] = k0[i] ^ 0x5c;
    }

    sha1_init(&c);
    sha1_update(&c, ipad, sizeof ipad);
    sha1_update(&c, msg, msglen);
    sha1_final(&c, inner);

    sha1_init(&c);
    sha1_update(&c, opad, sizeof opad);
    sha1_update(&c, inner, sizeof inner);
    sha1_final(&c, out);

    wipe(k0, sizeof k0);
    wipe(ipad, sizeof ipad);
    wipe(opad, sizeof opad);
    wipe(inner, sizeof inner);
}
