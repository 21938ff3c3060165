/* sbuf.c - a growing NUL-terminated string (see sbuf.h). */
#include "sbuf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SBUF_FIRST_CAP 256

bool sbuf_reserve(struct sbuf *b, size_t more)
{
    if (b->oom)
        return false;
    /* Keeps len + more + 1, and the doubling below, far from SIZE_MAX. */
    if (more > SIZE_MAX / 4 - b->len) {
        b->oom = true;
        return false;
    }
    size_t need = b->len + more + 1;
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : SBUF_FIRST_CAP;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
    if (!sbuf_reserve(b, n))
        return;
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void sbuf_str(struct sbuf *b, const char *s)
{
    sbuf_add(b, s, strlen(s));
}

void sbuf_free(struct sbuf *b)
{
    if (b->p) {
        /* explicit_bzero: a memset right before free may be dropped as a
         * dead store. */
        explicit_bzero(b->p, b->cap);
        free(b->p);
    }
    memset(b, 0, sizeof *b);
}
