/* token_text.h - what an API bearer token looks like, for whoever makes one
 * (`anxinctl token create`, POST /api/v1/tokens): "axn_" and 43 base64url
 * characters of 32 random bytes. The prefix makes a leaked token
 * recognisable to secret scanners and in a paste. Only the SHA-256 of the
 * text is ever stored. Pure: the random bytes are passed in. */
#ifndef ANXIN_TOKEN_TEXT_H
#define ANXIN_TOKEN_TEXT_H

#include <stdbool.h>
#include <stdint.h>

#define TOKEN_PREFIX "axn_"
#define TOKEN_RANDOM_BYTES 32
#define TOKEN_TEXT_LEN (sizeof TOKEN_PREFIX - 1 + 43)  /* 256 bits in 6-bit characters */
#define TOKEN_NAME_MAX_CHARS 64                        /* api_tokens.name's CHECK */
#define TOKEN_NAME_SIZE (4 * TOKEN_NAME_MAX_CHARS + 1)  /* bytes: 64 characters of UTF-8 */
#define TOKEN_BYTEA_LEN (2 + 64)                       /* "\x" and the digest in hex */

/* The token text of random (TOKEN_TEXT_LEN + 1 bytes with the NUL) and its
 * SHA-256 as PostgreSQL bytea input ("\x..."; TOKEN_BYTEA_LEN + 1 bytes). */
void token_text_make(const uint8_t random[TOKEN_RANDOM_BYTES], char *text, char *sha256_bytea);

/* A name is what an operator types and reads in lists: 1 to
 * TOKEN_NAME_MAX_CHARS characters of valid UTF-8, no control characters. */
bool token_name_ok(const char *name);

/* "viewer", "operator", "admin": 0, 1, 2; anything else -1. */
int token_role_parse(const char *role);

#endif
