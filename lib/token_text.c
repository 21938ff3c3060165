/* token_text.c - API token texts and names (see token_text.h). */
#include "token_text.h"

#include <string.h>

#include "codec.h"
#include "sha256.h"

void token_text_make(const uint8_t random[TOKEN_RANDOM_BYTES], char *text, char *sha256_bytea)
{
    memcpy(text, TOKEN_PREFIX, sizeof TOKEN_PREFIX - 1);
    codec_base64(random, TOKEN_RANDOM_BYTES, true, text + sizeof TOKEN_PREFIX - 1,
                 TOKEN_TEXT_LEN - (sizeof TOKEN_PREFIX - 1) + 1);
    uint8_t hash[SHA256_LEN];
    sha256_digest(text, strlen(text), hash);
    sha256_bytea[0] = '\\';
    sha256_bytea[1] = 'x';
    codec_hex(hash, sizeof hash, sha256_bytea + 2);
    memset(hash, 0, sizeof hash);
}

bool token_name_ok(const char *s)
{
    size_t chars = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n;
        if (*p < 0x20 || *p == 0x7f)
            return false;
        if (*p < 0x80)
            n = 1;
        else if ((*p & 0xE0) == 0xC0 && *p >= 0xC2)
            n = 2;
        else if ((*p & 0xF0) == 0xE0)
            n = 3;
        else if ((*p & 0xF8) == 0xF0 && *p <= 0xF4)
            n = 4;
        else
            return false;
        for (int i = 1; i < n; i++)
            if ((p[i] & 0xC0) != 0x80)
                return false;
        p += n;
        chars++;
    }
    return chars >= 1 && chars <= TOKEN_NAME_MAX_CHARS;
}

int token_role_parse(const char *role)
{
    static const char *const names[] = {"viewer", "operator", "admin"};
    for (int i = 0; i < 3; i++)
        if (role && strcmp(role, names[i]) == 0)
            return i;
    return -1;
}
