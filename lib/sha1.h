/* sha1.h - SHA-1 (FIPS 180-4) and HMAC-SHA1 (RFC 2104), for the providers
 * whose APIs are signed with HMAC-SHA1: Alibaba Cloud's RPC signature and
 * Twilio's X-Twilio-Signature. SHA-1 is broken for collision resistance;
 * HMAC-SHA1 is not, and it is what those providers specify. Use SHA-256
 * (sha256.h) for anything of our own.
 *
 * Pure: no globals, no I/O. A context belongs to its caller (usually on the
 * stack) and holds no heap memory, so there is nothing to free; one context
 * must not be used by two threads at once. */
#ifndef ANXIN_SHA1_H
#define ANXIN_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_LEN 20             /* bytes in a digest */
#define SHA1_BLOCK 64           /* bytes in a block */

struct sha1_ctx {
    uint32_t h[5];              /* the intermediate hash value */
    uint64_t total;             /* bytes hashed so far */
    uint8_t buf[SHA1_BLOCK];    /* the partial block not yet compressed */
    size_t buf_len;
};

/* Starts a new digest in c. */
void sha1_init(struct sha1_ctx *c);

/* Hashes len more bytes; data may be NULL when len is 0. Any split of the
 * input over calls gives the same digest. */
void sha1_update(struct sha1_ctx *c, const void *data, size_t len);

/* Writes the digest of everything hashed since sha1_init to out and wipes
 * c; call sha1_init again before reusing it. */
void sha1_final(struct sha1_ctx *c, uint8_t out[SHA1_LEN]);

/* The SHA-1 of len bytes at data (data may be NULL when len is 0). */
void sha1_digest(const void *data, size_t len, uint8_t out[SHA1_LEN]);

/* HMAC-SHA1 of msg under key (either may be NULL when its length is 0).
 * Keys longer than a block are hashed first, as RFC 2104 says. */
void sha1_hmac(const void *key, size_t keylen, const void *msg, size_t msglen,
               uint8_t out[SHA1_LEN]);

#endif
