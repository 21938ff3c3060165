/* codec.c - percent-encoding, base64, hex (see codec.h). */
#include "codec.h"

#include <string.h>

static const char hexu[] = "0123456789ABCDEF";

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~';
}

static size_t pct(const char *src, size_t len, bool form, char *out, size_t outlen)
{
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if (unreserved(c) || (form && c == ' ')) {
            if (k + 1 >= outlen)
                return (size_t)-1;
            out[k++] = c == ' ' ? '+' : (char)c;
        } else {
            if (k + 3 >= outlen)
                return (size_t)-1;
            out[k++] = '%';
            out[k++] = hexu[c >> 4];
            out[k++] = hexu[c & 15];
        }
    }
    if (k >= outlen)
        return (size_t)-1;
    out[k] = '\0';
    return k;
}

size_t codec_pct_encode(const char *src, size_t len, char *out, size_t outlen)
{
    return pct(src, len, false, out, outlen);
}

size_t codec_form_encode(const char *src, size_t len, char *out, size_t outlen)
{
    return pct(src, len, true, out, outlen);
}

static int hexdig(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t codec_pct_decode(const char *src, size_t len, bool plus_is_space, char *out,
                        size_t outlen)
{
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= len)
                return (size_t)-1;
            int hi = hexdig(src[i + 1]), lo = hexdig(src[i + 2]);
            if (hi < 0 || lo < 0)
                return (size_t)-1;
            c = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (k + 1 >= outlen)
            return (size_t)-1;
        out[k++] = c;
    }
    out[k] = '\0';
    return k;
}

static const char b64s[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64u[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t codec_base64(const void *src, size_t len, bool url, char *out, size_t outlen)
{
    const uint8_t *p = src;
    const char *abc = url ? b64u : b64s;
    size_t k = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        size_t chars = i + 2 < len ? 4 : i + 1 < len ? 3 : 2;
        size_t pad = url ? 0 : 4 - chars;
        if (k + chars + pad >= outlen)
            return (size_t)-1;
        for (size_t c = 0; c < chars; c++)
            out[k++] = abc[(v >> (18 - 6 * c)) & 63];
        for (size_t c = 0; c < pad; c++)
            out[k++] = '=';
    }
    if (k >= outlen)
        return (size_t)-1;
    out[k] = '\0';
    return k;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

size_t codec_unbase64(const char *src, size_t len, uint8_t *out, size_t outlen)
{
    while (len && src[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return (size_t)-1;
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val(src[i]);
        if (v < 0)
            return (size_t)-1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (k >= outlen)
                return (size_t)-1;
            out[k++] = (uint8_t)(acc >> bits);
        }
    }
    return k;
}

void codec_hex(const void *src, size_t len, char *out)
{
    static const char hexl[] = "0123456789abcdef";
    const uint8_t *p = src;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hexl[p[i] >> 4];
        out[2 * i + 1] = hexl[p[i] & 15];
    }
    out[2 * len] = '\0';
}
