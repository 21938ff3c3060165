/* sbuf.h - a growing NUL-terminated string, for building request bodies and
 * the texts that get signed.
 *
 * Out of memory is sticky: once an append fails, `oom` stays set and every
 * later append does nothing, so a caller appends all it has and checks
 * `oom` once at the end instead of after every call.
 *
 * Ownership: a zero-initialised struct sbuf ({0}) is an empty buffer with
 * p == NULL. p is malloc'd and belongs to the struct until sbuf_free, or
 * until the caller takes it (keeps b.p and forgets b), after which free(p)
 * is the caller's. */
#ifndef ANXIN_SBUF_H
#define ANXIN_SBUF_H

#include <stdbool.h>
#include <stddef.h>

struct sbuf {
    char *p;        /* NULL until the first append; then always NUL-terminated */
    size_t len;     /* bytes in p, not counting the NUL */
    size_t cap;     /* bytes allocated at p */
    bool oom;       /* an append failed; the contents are incomplete */
};

/* Makes room for `more` bytes after len, and the NUL after them, so that a
 * caller may write up to more bytes at p + len itself (then adding what it
 * wrote to len and keeping the NUL). Returns false, with oom set, when the
 * memory cannot be had or oom was already set. */
bool sbuf_reserve(struct sbuf *b, size_t more);

/* Appends n bytes at s (which may contain NULs). n == 0 still allocates, so
 * that an empty result is "" and not NULL. */
void sbuf_add(struct sbuf *b, const char *s, size_t n);

/* Appends the string s. */
void sbuf_str(struct sbuf *b, const char *s);

/* Wipes and frees p (a buffer may have held a key or a signed body) and
 * resets b to empty, oom cleared. */
void sbuf_free(struct sbuf *b);

#endif
