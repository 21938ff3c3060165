/* alert.c - live alerts, dedup and ack codes (see alert.h). */
#include "alert.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

static void dedup_key(char *out, size_t len, const char *elder_id, const char *rule)
{
    snprintf(out, len, "%s\x1f%s", elder_id, rule);
}

struct alert *alert_find_live(const struct alert_table *t, const char *elder_id, const char *rule)
{
    char key[TLM_MAX_ID + RULE_NAME_MAX + 2];
    dedup_key(key, sizeof key, elder_id, rule);
    return strmap_get(&t->by_dedup, key);
}

struct alert *alert_find_id(const struct alert_table *t, int64_t id)
{
    char key[24];
    snprintf(key, sizeof key, "%" PRId64, id);
    return strmap_get(&t->by_id, key);
}

struct alert *alert_find_code(const struct alert_table *t, const char *code)
{
    return strmap_get(&t->by_code, code);
}

/* A code free among live alerts, drawn from the caller's randomness: an SMS
 * reply with the code acknowledges, so it must not be guessable from ids. */
static void pick_code(const struct alert_table *t, int64_t id, uint32_t seed, char *out)
{
    uint64_t x = ((uint64_t)seed << 32 | (uint64_t)seed) ^ ((uint64_t)id * 0x9E3779B97F4A7C15ull);
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    for (int tries = 0; tries < 10000; tries++) {
        unsigned code = 1000 + (unsigned)((x >> 32) % 9000);
        snprintf(out, ALERT_ACK_CODE_LEN + 1, "%04u", code);
        if (!strmap_get(&t->by_code, out))
            return;
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    }
    /* 9000 live alerts at once: codes repeat; the reply path then asks
     * which alert is meant. */
}

int alert_open(struct alert_table *t, const struct alert_open_args *a, struct alert **out)
{
    if (alert_find_live(t, a->elder_id, a->rule) || alert_find_id(t, a->id))
        return ANX_EEXIST;
    struct alert *al = calloc(1, sizeof *al);
    if (!al)
        return ANX_ENOMEM;
    al->id = a->id;
    snprintf(al->elder_id, sizeof al->elder_id, "%s", a->elder_id);
    snprintf(al->device_id, sizeof al->device_id, "%s", a->device_id ? a->device_id : "");
    snprintf(al->rule, sizeof al->rule, "%s", a->rule);
    snprintf(al->chain, sizeof al->chain, "%s", a->chain ? a->chain : "");
    al->severity = a->severity;
    al->last_jseq = a->jseq;
    al->state = a->state;
    al->event_ts_ms = a->event_ts_ms;
    al->opened_ms = a->now_ms;
    al->last_fired_ms = a->now_ms;
    al->fire_count = a->fire_count > 0 ? a->fire_count : 1;
    if (a->ack_code)
        snprintf(al->ack_code, sizeof al->ack_code, "%s", a->ack_code);
    else
        pick_code(t, a->id, a->code_seed, al->ack_code);
    dedup_key(al->key_dedup, sizeof al->key_dedup, al->elder_id, al->rule);
    snprintf(al->key_id, sizeof al->key_id, "%" PRId64, al->id);

    if (strmap_put(&t->by_dedup, al->key_dedup, al, NULL))
        goto nomem;
    if (strmap_put(&t->by_id, al->key_id, al, NULL)) {
        strmap_del(&t->by_dedup, al->key_dedup);
        goto nomem;
    }
    if (!strmap_get(&t->by_code, al->ack_code) &&
        strmap_put(&t->by_code, al->ack_code, al, NULL)) {
        strmap_del(&t->by_dedup, al->key_dedup);
        strmap_del(&t->by_id, al->key_id);
        goto nomem;
    }
    *out = al;
    return 0;
nomem:
    free(al);
    return ANX_ENOMEM;
}

void alert_repeat(struct alert *a, int64_t now_ms)
{
    a->fire_count++;
    if (now_ms > a->last_fired_ms)
        a->last_fired_ms = now_ms;
}

void alert_forget(struct alert_table *t, struct alert *a)
{
    if (strmap_get(&t->by_dedup, a->key_dedup) == a)
        strmap_del(&t->by_dedup, a->key_dedup);
    if (strmap_get(&t->by_id, a->key_id) == a)
        strmap_del(&t->by_id, a->key_id);
    if (strmap_get(&t->by_code, a->ack_code) == a)
        strmap_del(&t->by_code, a->ack_code);
    free(a);
}

void alert_table_clear(struct alert_table *t)
{
    size_t it = 0;
    void *v;
    while (strmap_next(&t->by_id, &it, NULL, &v))
        free(v);
    strmap_free(&t->by_dedup);
    strmap_free(&t->by_id);
    strmap_free(&t->by_code);
}

const char *alert_state_name(enum alert_state s)
{
    switch (s) {
    case ALERT_OPEN: return "open";
    case ALERT_ACKNOWLEDGED: return "acknowledged";
    case ALERT_RESOLVED: return "resolved";
    case ALERT_CLEARED: return "cleared";
    case ALERT_EXPIRED: return "expired";
    }
    return "unknown";
}

enum alert_action alert_decide(const struct alert_table *t, const char *elder_id,
                               const char *rule, bool fire, struct alert **live)
{
    struct alert *a = alert_find_live(t, elder_id, rule);
    *live = a;
    if (fire)
        return a ? ALERT_ACT_REPEAT : ALERT_ACT_OPEN;
    /* Only an open alert clears by itself: once a person acknowledged it,
     * the person decides how it ends. */
    return a && a->state == ALERT_OPEN ? ALERT_ACT_CLEAR : ALERT_ACT_NONE;
}
