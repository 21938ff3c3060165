/* sim.c - rules on a virtual clock (see sim.h). */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

struct count {
    int fired, cleared;
    char key[];
};

struct sim {
    struct registry *reg;
    const struct rule_set *rs;
    struct eng *eng;
    struct alert_table alerts;
    struct strmap counts;           /* "elder\x1frule" -> struct count */
    int64_t now;
    int64_t next_id;
    sim_alert_fn fn;
    void *arg;
    struct sim_stats st;
};

static struct count *get_count(struct sim *s, const char *elder, const char *rule, bool create)
{
    char key[TLM_MAX_ID + RULE_NAME_MAX + 2];
    snprintf(key, sizeof key, "%s\x1f%s", elder, rule);
    struct count *c = strmap_get(&s->counts, key);
    if (c || !create)
        return c;
    c = calloc(1, sizeof *c + strlen(key) + 1);
    if (!c)
        return NULL;
    strcpy(c->key, key);
    if (strmap_put(&s->counts, c->key, c, NULL)) {
        free(c);
        return NULL;
    }
    return c;
}

static void on_engine(void *arg, const struct eng_event *ev)
{
    struct sim *s = arg;
    const char *elder = ev->elder->id;
    struct alert *a;
    enum alert_action act = alert_decide(&s->alerts, elder, ev->rule->name,
                                         ev->kind == ENG_FIRE, &a);
    struct count *c = get_count(s, elder, ev->rule->name, true);
    switch (act) {
    case ALERT_ACT_OPEN: {
        struct alert_open_args oa = {
            .id = s->next_id++,
            .elder_id = elder,
            .device_id = ev->device->id,
            .rule = ev->rule->name,
            .severity = ev->rule->severity,
            .chain = ev->rule->chain,
            .event_ts_ms = ev->at_ms,
            .now_ms = ev->at_ms,
            .state = ALERT_OPEN,
        };
        if (alert_open(&s->alerts, &oa, &a) != 0)
            return;
        s->st.opened++;
        if (c)
            c->fired++;
        break;
    }
    case ALERT_ACT_REPEAT:
        alert_repeat(a, ev->at_ms);
        s->st.repeated++;
        if (c)
            c->fired++;
        break;
    case ALERT_ACT_CLEAR:
        a->state = ALERT_CLEARED;
        s->st.cleared++;
        if (c)
            c->cleared++;
        break;
    case ALERT_ACT_NONE:
        return;
    }
    if (s->fn) {
        struct sim_alert_event e = {act, a, ev};
        s->fn(s->arg, &e);
    }
    if (act == ALERT_ACT_CLEAR)
        alert_forget(&s->alerts, a);
}

struct sim *sim_new(struct registry *reg, const struct rule_set *rs, int utc_offset_min,
                    int64_t start_ms, sim_alert_fn fn, void *arg)
{
    struct sim *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->reg = reg;
    s->rs = rs;
    s->now = start_ms;
    s->next_id = 1;
    s->fn = fn;
    s->arg = arg;
    s->eng = eng_new(rs, utc_offset_min);
    if (!s->eng) {
        free(s);
        return NULL;
    }
    size_t it = 0;
    void *v;
    while (strmap_next(&reg->devices, &it, NULL, &v)) {
        const struct reg_device *d = v;
        /* Devices count as seen at the start, not when the registry last
         * saw them (in a replay, that is another time than the one replayed). */
        struct reg_device at_start = *d;
        at_start.last_seen_ms = 0;
        if (d->elder->consent)
            eng_track_device(s->eng, &at_start, start_ms);
    }
    return s;
}

void sim_free(struct sim *s)
{
    if (!s)
        return;
    eng_free(s->eng);
    alert_table_clear(&s->alerts);
    size_t it = 0;
    void *v;
    while (strmap_next(&s->counts, &it, NULL, &v))
        free(v);
    strmap_free(&s->counts);
    free(s);
}

void sim_advance(struct sim *s, int64_t t)
{
    if (t < s->now)
        return;
    eng_advance(s->eng, s->reg, t, on_engine, s);
    s->now = t;
}

void sim_decoded(struct sim *s, const struct tlm_msg *m, int64_t recv_ms)
{
    sim_advance(s, recv_ms);
    s->st.messages++;
    struct reg_device *dev = reg_find_device(s->reg, m->device_id);
    if (!dev) {
        s->st.unknown_device++;
        return;
    }
    if (recv_ms > dev->last_seen_ms)
        dev->last_seen_ms = recv_ms;
    if (!dev->elder->consent) {
        s->st.not_monitored++;
        return;
    }
    eng_on_message(s->eng, dev, m, s->now, on_engine, s);
}

enum tlm_reason sim_message(struct sim *s, const char *topic, size_t topic_len,
                            const char *payload, size_t payload_len, int64_t recv_ms)
{
    struct tlm_msg m;
    enum tlm_reason r = tlm_decode(topic, topic_len, payload, payload_len, &m, NULL, 0);
    if (r != TLM_OK) {
        sim_advance(s, recv_ms);
        s->st.messages++;
        s->st.rejected++;
        return r;
    }
    sim_decoded(s, &m, recv_ms);
    return TLM_OK;
}

int64_t sim_now(const struct sim *s)
{
    return s->now;
}

const struct alert_table *sim_alerts(const struct sim *s)
{
    return &s->alerts;
}

void sim_counts(const struct sim *s, const char *elder_id, const char *rule, int *fired,
                int *cleared)
{
    struct count *c = get_count((struct sim *)s, elder_id, rule, false);
    *fired = c ? c->fired : 0;
    *cleared = c ? c->cleared : 0;
}

void sim_get_stats(const struct sim *s, struct sim_stats *st)
{
    *st = s->st;
}
