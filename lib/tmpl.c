/* tmpl.c - field substitution in message templates. */
#include "tmpl.h"

#include <string.h>

#include "err.h"

struct out_buf {
    char *p;
    size_t len, cap;
    int truncated;
};

static void put(struct out_buf *b, const char *s, size_t n)
{
    if (b->truncated)
        return;
    if (b->len + n >= b->cap) {
        /* Cut at a character boundary: drop UTF-8 continuation bytes. */
        n = b->cap - 1 - b->len;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
        b->truncated = 1;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

int tmpl_render(const char *tmpl, const struct tmpl_field *fields, size_t n_fields,
                char *out, size_t outlen)
{
    struct out_buf b = {out, 0, outlen, 0};
    int unknown = 0;

    if (outlen == 0)
        return ANX_ERANGE;
    out[0] = '\0';
    for (const char *p = tmpl; *p;) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            put(&b, p, 1);
            p += 2;
            continue;
        }
        if (*p != '{') {
            const char *q = p;
            while (*q && *q != '{' && !(q[0] == '}' && q[1] == '}'))
                q++;
            put(&b, p, (size_t)(q - p));
            p = q;
            continue;
        }
        const char *name = p + 1, *q = name;
        while (is_name_char(*q))
            q++;
        if (*q != '}' || q == name) {
            put(&b, p, 1);      /* a lone brace is just text */
            p++;
            continue;
        }
        size_t nlen = (size_t)(q - name);
        const struct tmpl_field *f = NULL;
        for (size_t i = 0; i < n_fields; i++)
            if (strlen(fields[i].name) == nlen && memcmp(fields[i].name, name, nlen) == 0)
                f = &fields[i];
        if (f) {
            if (f->value)
                put(&b, f->value, strlen(f->value));
        } else {
            unknown++;
            put(&b, p, nlen + 2);
        }
        p = q + 1;
    }
    return b.truncated ? ANX_ERANGE : unknown;
}

int tmpl_next_field(const char *tmpl, size_t *pos, const char **name, size_t *len)
{
    for (const char *p = tmpl + *pos; *p;) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            p += 2;
            continue;
        }
        if (*p != '{') {
            p++;
            continue;
        }
        const char *n = p + 1, *q = n;
        while (is_name_char(*q))
            q++;
        if (*q != '}' || q == n) {
            p++;
            continue;
        }
        *name = n;
        *len = (size_t)(q - n);
        *pos = (size_t)(q + 1 - tmpl);
        return 1;
    }
    *pos = strlen(tmpl);
    return 0;
}
