/* session.c - console sessions in memory (see session.h). */
#include "session.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "err.h"
#include "sha256.h"

static bool id_digest(const char *id, char out[65])
{
    if (!id || strlen(id) != SESS_ID_LEN || strspn(id, "0123456789abcdef") != SESS_ID_LEN)
        return false;
    uint8_t d[32];
    sha256_digest(id, SESS_ID_LEN, d);
    codec_hex(d, sizeof d, out);
    return true;
}

/* Drops expired sessions; with room still short, the oldest one. */
static void make_room(struct sess_table *t, int64_t now_ms)
{
    struct session *gone[64];
    size_t n = 0, it = 0;
    void *v;
    struct session *oldest = NULL;
    while (n < 64 && strmap_next(&t->by_digest, &it, NULL, &v)) {
        struct session *s = v;
        if (s->expires_ms <= now_ms)
            gone[n++] = s;
        else if (!oldest || s->created_ms < oldest->created_ms)
            oldest = s;
    }
    if (n == 0 && t->by_digest.len >= SESS_MAX && oldest)
        gone[n++] = oldest;
    for (size_t i = 0; i < n; i++) {
        strmap_del(&t->by_digest, gone[i]->digest);
        free(gone[i]);
    }
}

int sess_create(struct sess_table *t, const char *token_name, const uint8_t random[SESS_ID_BYTES],
                int64_t now_ms, int64_t ttl_ms, char id_out[SESS_ID_LEN + 1])
{
    make_room(t, now_ms);
    struct session *s = calloc(1, sizeof *s);
    if (!s)
        return ANX_ENOMEM;
    codec_hex(random, SESS_ID_BYTES, id_out);
    id_digest(id_out, s->digest);
    strncpy(s->token_name, token_name, sizeof s->token_name - 1);
    s->created_ms = now_ms;
    s->expires_ms = now_ms + ttl_ms;
    void *old = NULL;
    if (strmap_put(&t->by_digest, s->digest, s, &old) != 0) {
        free(s);
        return ANX_ENOMEM;
    }
    free(old);      /* the same 256 random bits twice: practically never */
    return 0;
}

const struct session *sess_find(const struct sess_table *t, const char *id, int64_t now_ms)
{
    char dg[65];
    if (!id_digest(id, dg))
        return NULL;
    const struct session *s = strmap_get(&t->by_digest, dg);
    return s && s->expires_ms > now_ms ? s : NULL;
}

int sess_drop(struct sess_table *t, const char *id)
{
    char dg[65];
    if (!id_digest(id, dg))
        return ANX_ENOENT;
    struct session *s = strmap_del(&t->by_digest, dg);
    if (!s)
        return ANX_ENOENT;
    free(s);
    return 0;
}

size_t sess_drop_token(struct sess_table *t, const char *token_name)
{
    size_t dropped = 0;
    for (;;) {
        size_t it = 0;
        void *v;
        struct session *hit = NULL;
        while (strmap_next(&t->by_digest, &it, NULL, &v)) {
            if (strcmp(((struct session *)v)->token_name, token_name) == 0) {
                hit = v;
                break;
            }
        }
        if (!hit)
            return dropped;
        strmap_del(&t->by_digest, hit->digest);
        free(hit);
        dropped++;
    }
}

size_t sess_count(const struct sess_table *t)
{
    return t->by_digest.len;
}

void sess_clear(struct sess_table *t)
{
    size_t it = 0;
    void *v;
    while (strmap_next(&t->by_digest, &it, NULL, &v))
        free(v);
    strmap_free(&t->by_digest);
}
