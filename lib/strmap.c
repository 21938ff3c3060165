/* strmap.c - open-addressing string hash map (see strmap.h). */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

/* FNV-1a, 32 bit (parameters from the FNV reference by Fowler, Noll, Vo). */
uint32_t strmap_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

void strmap_free(struct strmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->len = 0;
}

static size_t find_slot(const struct strmap *m, const char *key, uint32_t h)
{
    size_t mask = m->cap - 1;
    size_t i = h & mask;
    while (m->slots[i].key) {
        if (m->slots[i].hash == h && strcmp(m->slots[i].key, key) == 0)
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

void *strmap_get(const struct strmap *m, const char *key)
{
    if (m->len == 0)
        return NULL;
    size_t i = find_slot(m, key, strmap_hash(key));
    return m->slots[i].key ? m->slots[i].value : NULL;
}

static int grow_to(struct strmap *m, size_t ncap)
{
    struct strmap_slot *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return ANX_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key)
            continue;
        size_t j = m->slots[i].hash & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

static int grow(struct strmap *m)
{
    return grow_to(m, m->cap ? m->cap * 2 : 16);
}

int strmap_reserve(struct strmap *m, size_t extra)
{
    size_t ncap = m->cap ? m->cap : 16;
    /* The same 3/4 load factor strmap_put keeps. */
    while ((m->len + extra + 1) * 4 > ncap * 3)
        ncap *= 2;
    return ncap > m->cap ? grow_to(m, ncap) : 0;
}

int strmap_put(struct strmap *m, const char *key, void *value, void **old)
{
    if (old)
        *old = NULL;
    /* Keep the load factor under 3/4. */
    if ((m->len + 1) * 4 > m->cap * 3) {
        int rc = grow(m);
        if (rc)
            return rc;
    }
    uint32_t h = strmap_hash(key);
    size_t i = find_slot(m, key, h);
    if (m->slots[i].key) {
        if (old)
            *old = m->slots[i].value;
        m->slots[i].key = key;
        m->slots[i].value = value;
        return 0;
    }
    m->slots[i] = (struct strmap_slot){key, value, h};
    m->len++;
    return 0;
}

void *strmap_del(struct strmap *m, const char *key)
{
    if (m->len == 0)
        return NULL;
    size_t mask = m->cap - 1;
    size_t i = find_slot(m, key, strmap_hash(key));
    if (!m->slots[i].key)
        return NULL;
    void *v = m->slots[i].value;
    /* Backward-shift deletion: pull later members of the probe run into the
     * hole when their home slot allows it, so no tombstones are needed. */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->slots[j].key)
            break;
        size_t home = m->slots[j].hash & mask;
        /* Move j to i unless home lies cyclically in (i, j]. */
        int in_range = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (!in_range) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].key = NULL;
    m->slots[i].value = NULL;
    m->len--;
    return v;
}

int strmap_next(const struct strmap *m, size_t *iter, const char **key, void **value)
{
    for (size_t i = *iter; i < m->cap; i++) {
        if (m->slots[i].key) {
            if (key)
                *key = m->slots[i].key;
            if (value)
                *value = m->slots[i].value;
            *iter = i + 1;
            return 1;
        }
    }
    *iter = m->cap;
    return 0;
}
