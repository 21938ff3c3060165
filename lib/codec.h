/* codec.h - small encodings providers need: percent-encoding (RFC 3986,
 * and the form encoding of HTML), base64 (RFC 4648, standard and url
 * alphabets), hex. Pure; every output buffer is NUL-terminated. */
#ifndef ANXIN_CODEC_H
#define ANXIN_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Percent-encodes src: everything but A-Z a-z 0-9 - _ . ~ becomes %XX
 * (upper-case hex), as RFC 3986 unreserved characters require (and as the
 * Aliyun and Tencent signatures expect). Returns the length written, or
 * (size_t)-1 if out is too small. */
size_t codec_pct_encode(const char *src, size_t len, char *out, size_t outlen);

/* The same, but spaces become '+' (application/x-www-form-urlencoded). */
size_t codec_form_encode(const char *src, size_t len, char *out, size_t outlen);

/* Decodes %XX and, if plus_is_space, '+'. Returns the length written, or
 * (size_t)-1 on a bad escape or a too small out. out may equal src. */
size_t codec_pct_decode(const char *src, size_t len, bool plus_is_space, char *out,
                        size_t outlen);

/* Base64 of len bytes. url: the URL-safe alphabet without padding.
 * Returns the length written or (size_t)-1. */
size_t codec_base64(const void *src, size_t len, bool url, char *out, size_t outlen);

/* Decodes standard or URL-safe base64 (padding optional). Returns the byte
 * count or (size_t)-1. */
size_t codec_unbase64(const char *src, size_t len, uint8_t *out, size_t outlen);

/* Lower-case hex of len bytes into out (2*len+1). */
void codec_hex(const void *src, size_t len, char *out);

#endif
