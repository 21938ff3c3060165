/* strmap.h - a hash map from NUL-terminated strings to pointers.
 *
 * Open addressing with linear probing and tombstone-free deletion (backward
 * shift), so lookups stay short however many updates the registry sees.
 * The map does not copy keys: each key must stay valid while its entry is
 * in the map (usually the key points into the value it maps to). */
#ifndef ANXIN_STRMAP_H
#define ANXIN_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap_slot {
    const char *key;    /* NULL = empty */
    void *value;
    uint32_t hash;
};

struct strmap {
    struct strmap_slot *slots;  /* owned */
    size_t cap;                 /* power of two, or 0 */
    size_t len;
};

/* Zero-initialised struct strmap is an empty map. Frees the slot array only;
 * keys and values belong to the caller. */
void strmap_free(struct strmap *m);

/* Returns the value for key, or NULL. */
void *strmap_get(const struct strmap *m, const char *key);

/* Inserts or replaces. *old (if not NULL) receives the replaced value or
 * NULL. Returns 0 or ANX_ENOMEM. */
int strmap_put(struct strmap *m, const char *key, void *value, void **old);

/* Makes room for `extra` more entries, so that the next `extra` puts of new
 * keys cannot fail. Returns 0 or ANX_ENOMEM. */
int strmap_reserve(struct strmap *m, size_t extra);

/* Removes key; returns the removed value or NULL. */
void *strmap_del(struct strmap *m, const char *key);

/* Iteration: for (size_t i = 0; strmap_next(m, &i, &k, &v);) ... Do not
 * modify the map while iterating. */
int strmap_next(const struct strmap *m, size_t *iter, const char **key, void **value);

uint32_t strmap_hash(const char *s);

#endif
