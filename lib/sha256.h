/* sha256.h - SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), for API
 * tokens: the database keeps only the SHA-256 of a token, and a presented
 * token is checked by hashing it and comparing in constant time.
 *
 * Pure: no globals, no I/O. A context belongs to its caller (usually on the
 * stack) and holds no heap memory, so there is nothing to free; one context
 * must not be used by two threads at once. */
#ifndef ANXIN_SHA256_H
#define ANXIN_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32           /* bytes in a digest */
#define SHA256_BLOCK 64         /* bytes in a block */

struct sha256_ctx {
    uint32_t h[8];              /* the intermediate hash value */
    uint64_t total;             /* bytes hashed so far */
    uint8_t buf[SHA256_BLOCK];  /* the partial block not yet compressed */
    size_t buf_len;
};

/* Starts a new digest in c. */
void sha256_init(struct sha256_ctx *c);

/* Hashes len more bytes; data may be NULL when len is 0. Any split of the
 * input over calls gives the same digest. */
void sha256_update(struct sha256_ctx *c, const void *data, size_t len);

/* Writes the digest of everything hashed since sha256_init to out and wipes
 * c; call sha256_init again before reusing it. */
void sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_LEN]);

/* The SHA-256 of len bytes at data (data may be NULL when len is 0). */
void sha256_digest(const void *data, size_t len, uint8_t out[SHA256_LEN]);

/* HMAC-SHA256 of msg under key (either may be NULL when its length is 0).
 * Keys longer than a block are hashed first, as RFC 2104 says. */
void sha256_hmac(const void *key, size_t keylen, const void *msg, size_t msglen,
                 uint8_t out[SHA256_LEN]);

/* Whether two digests are equal, in time that does not depend on where
 * they differ (for comparing secrets). */
bool sha256_equal(const uint8_t a[SHA256_LEN], const uint8_t b[SHA256_LEN]);

#endif
