/* engine.c - the rule engine (see engine.h).
 *
 * Compiling turns each rule's `when` and `clear when` trees into flat node
 * arrays whose leaves are the primary conditions, and builds two indexes:
 * metric name -> rules, event name -> rules. State lives per device: one
 * record per device (its last message time, its next wake-up, its position
 * in a min-heap of wake-ups) holding one record per rule that concerns it,
 * which holds one record per leaf (the last value and since when a
 * comparison holds, or a window). Leaves of one rule over the same metric
 * and width share one window (water_excess's `when` and `clear when` both
 * sum the last 24 h): a window is most of a device's memory. */
#include "engine.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "strmap.h"
#include "window.h"

#define NO_HEAP UINT32_MAX

enum node_kind { N_LEAF, N_AND, N_OR };

struct node {
    uint8_t kind;
    int16_t a, b;                   /* children (AND/OR) */
    int16_t leaf;                   /* LEAF */
};

struct leaf {
    const struct rule_cond *c;
    unsigned win_aggs;              /* WINDOW: what the window must keep */
    int16_t win_owner;              /* WINDOW: the leaf whose window this one reads (itself,
                                     * or an earlier leaf over the same metric and width) */
};

struct crule {
    const struct rule *r;
    struct node *nodes;
    int n_nodes;
    int when_root, clear_root;      /* -1: none */
    struct leaf *leaves;
    int n_leaves;
    bool event_rule;                /* fires per message, keeps no firing state */
    bool has_absence;
    int suppressors[RULE_MAX_LIST];
    int n_suppressors;
    bool suppresses;                /* named in another rule's `suppressed by` */
    uint64_t fingerprint;
    uint32_t mark;                  /* candidate de-duplication stamp */
};

/* A comparison's state or a window: a leaf is one kind or the other, and at
 * a million devices with a few leaves each, 8 bytes a leaf count. */
struct lstate {
    union {
        struct {                    /* THRESHOLD */
            int64_t since_ms;       /* comparison true since (valid if cmp_true) */
            float last;
            uint8_t has;
            uint8_t cmp_true;
        };
        struct win *win;            /* WINDOW: its own, or its owner's (win_owner) */
    };
};

_Static_assert(sizeof(struct lstate) == 16, "a leaf's state grew");

struct rstate {
    uint32_t rule;                  /* sets may hold more than 65 536 rules */
    uint8_t firing;
    struct lstate *leaves;          /* crule.n_leaves */
};

struct edev {
    int64_t last_seen_ms;
    int64_t due_ms;
    uint32_t heap_pos;
    uint16_t n_states, cap_states;
    struct rstate *states;
    char id[];
};

struct idx_list {
    int *rules;
    size_t n, cap;
};

struct eng {
    const struct rule_set *rs;
    int utc_offset_min;
    struct crule *rules;
    size_t n_rules;
    struct strmap by_metric;        /* metric -> struct idx_list * */
    struct strmap by_event;         /* event -> struct idx_list * */
    int *absence_rules;
    size_t n_absence;
    int *cand;                      /* a message's candidate rules (n_rules at most) */
    struct strmap devices;          /* id -> struct edev * */
    struct edev **heap;
    size_t heap_n, heap_cap;
    uint32_t stamp;
    size_t n_windows;
    /* The device being evaluated: slot[rule] is its state's index in
     * idx_dev->states when slot_gen[rule] == idx_gen. */
    const struct edev *idx_dev;
    uint32_t idx_gen;
    uint32_t *slot_gen;
    uint16_t *slot;
};

/* ---- compile ------------------------------------------------------------ */

static int add_idx(struct strmap *m, const char *key, int rule)
{
    struct idx_list *l = strmap_get(m, key);
    if (!l) {
        l = calloc(1, sizeof *l + strlen(key) + 1);
        if (!l)
            return ANX_ENOMEM;
        char *k = (char *)(l + 1);
        strcpy(k, key);
        if (strmap_put(m, k, l, NULL)) {
            free(l);
            return ANX_ENOMEM;
        }
    }
    for (size_t i = 0; i < l->n; i++)
        if (l->rules[i] == rule)
            return 0;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 4;
        int *nr = realloc(l->rules, nc * sizeof *nr);
        if (!nr)
            return ANX_ENOMEM;
        l->rules = nr;
        l->cap = nc;
    }
    l->rules[l->n++] = rule;
    return 0;
}

static void free_idx(struct strmap *m)
{
    size_t it = 0;
    void *v;
    while (strmap_next(m, &it, NULL, &v)) {
        struct idx_list *l = v;
        free(l->rules);
        free(l);
    }
    strmap_free(m);
}

static unsigned aggs_for(enum rule_agg a)
{
    switch (a) {
    case RULE_AGG_SUM: return WIN_SUM;
    case RULE_AGG_COUNT: return WIN_COUNT;
    case RULE_AGG_MIN: return WIN_MIN;
    case RULE_AGG_MAX: return WIN_MAX;
    case RULE_AGG_AVG: return WIN_SUM | WIN_COUNT;
    case RULE_AGG_NONE: break;
    }
    return 0;
}

static int count_nodes(const struct rule_cond *c, int *leaves)
{
    if (!c)
        return 0;
    if (c->kind == RULE_COND_AND || c->kind == RULE_COND_OR)
        return 1 + count_nodes(c->a, leaves) + count_nodes(c->b, leaves);
    (*leaves)++;
    return 1;
}

/* Appends c's tree to cr's node array; returns its root index. */
static int flatten(struct crule *cr, const struct rule_cond *c)
{
    int me = cr->n_nodes++;
    struct node *n = &cr->nodes[me];
    if (c->kind == RULE_COND_AND || c->kind == RULE_COND_OR) {
        n->kind = c->kind == RULE_COND_AND ? N_AND : N_OR;
        int a = flatten(cr, c->a);
        int b = flatten(cr, c->b);
        cr->nodes[me].a = (int16_t)a;
        cr->nodes[me].b = (int16_t)b;
        return me;
    }
    n->kind = N_LEAF;
    n->leaf = (int16_t)cr->n_leaves;
    struct leaf *l = &cr->leaves[cr->n_leaves++];
    l->c = c;
    l->win_aggs = c->kind == RULE_COND_WINDOW ? aggs_for(c->agg) : 0;
    if (c->kind == RULE_COND_EVENT)
        cr->event_rule = true;
    if (c->kind == RULE_COND_ABSENCE)
        cr->has_absence = true;
    return me;
}

/* FNV-1a 64 over the parts of a condition tree that its state depends on. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t cond_hash(uint64_t h, const struct rule_cond *c)
{
    if (!c)
        return fnv(h, "-", 1);
    int k = c->kind;
    h = fnv(h, &k, sizeof k);
    switch (c->kind) {
    case RULE_COND_AND:
    case RULE_COND_OR:
        return cond_hash(cond_hash(h, c->a), c->b);
    case RULE_COND_EVENT:
        for (size_t i = 0; i < c->n_events; i++)
            h = fnv(h, c->events[i], strlen(c->events[i]) + 1);
        return h;
    case RULE_COND_ABSENCE:
        h = fnv(h, &c->absence_ms, sizeof c->absence_ms);
        return fnv(h, &c->heartbeat_factor, sizeof c->heartbeat_factor);
    case RULE_COND_THRESHOLD:
    case RULE_COND_WINDOW:
        break;
    }
    int agg = c->agg, cmp = c->cmp;
    h = fnv(h, c->metric, strlen(c->metric) + 1);
    h = fnv(h, &agg, sizeof agg);
    h = fnv(h, &c->window_ms, sizeof c->window_ms);
    h = fnv(h, &cmp, sizeof cmp);
    h = fnv(h, &c->value.number, sizeof c->value.number);
    h = fnv(h, c->value.param, strlen(c->value.param) + 1);
    return fnv(h, &c->for_ms, sizeof c->for_ms);
}

/* Lets each window leaf read the window of the first leaf over the same
 * metric and width, which keeps every aggregate either asks for. */
static void share_windows(struct crule *cr)
{
    for (int i = 0; i < cr->n_leaves; i++) {
        struct leaf *l = &cr->leaves[i];
        l->win_owner = (int16_t)i;
        if (l->c->kind != RULE_COND_WINDOW)
            continue;
        for (int j = 0; j < i; j++) {
            struct leaf *o = &cr->leaves[j];
            if (o->c->kind == RULE_COND_WINDOW && o->win_owner == j &&
                o->c->window_ms == l->c->window_ms && strcmp(o->c->metric, l->c->metric) == 0) {
                l->win_owner = (int16_t)j;
                o->win_aggs |= l->win_aggs;
                break;
            }
        }
    }
}

/* Whether leaf k of cr holds a window of its own (to create, feed, free,
 * count and save), rather than reading another leaf's. */
static bool owns_window(const struct crule *cr, int k)
{
    return cr->leaves[k].c->kind == RULE_COND_WINDOW && cr->leaves[k].win_owner == k;
}

/* The windows a state holds of its own. */
static int count_windows(const struct eng *e, const struct rstate *s)
{
    const struct crule *cr = &e->rules[s->rule];
    int n = 0;
    for (int k = 0; s->leaves && k < cr->n_leaves; k++)
        n += owns_window(cr, k) && s->leaves[k].win != NULL;
    return n;
}

static int index_leaves(struct eng *e, int ri, const struct crule *cr)
{
    for (int i = 0; i < cr->n_leaves; i++) {
        const struct rule_cond *c = cr->leaves[i].c;
        int rc = 0;
        if (c->kind == RULE_COND_EVENT)
            for (size_t k = 0; k < c->n_events && !rc; k++)
                rc = add_idx(&e->by_event, c->events[k], ri);
        else if (c->kind == RULE_COND_THRESHOLD || c->kind == RULE_COND_WINDOW)
            rc = add_idx(&e->by_metric, c->metric, ri);
        if (rc)
            return rc;
    }
    return 0;
}

struct eng *eng_new(const struct rule_set *rs, int utc_offset_min)
{
    struct eng *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->rs = rs;
    e->utc_offset_min = utc_offset_min;
    e->rules = calloc(rs->n_rules ? rs->n_rules : 1, sizeof *e->rules);
    e->absence_rules = calloc(rs->n_rules ? rs->n_rules : 1, sizeof *e->absence_rules);
    e->cand = calloc(rs->n_rules ? rs->n_rules : 1, sizeof *e->cand);
    e->slot_gen = calloc(rs->n_rules ? rs->n_rules : 1, sizeof *e->slot_gen);
    e->slot = calloc(rs->n_rules ? rs->n_rules : 1, sizeof *e->slot);
    if (!e->rules || !e->absence_rules || !e->cand || !e->slot_gen || !e->slot)
        goto nomem;
    for (size_t i = 0; i < rs->n_rules; i++) {
        const struct rule *r = &rs->rules[i];
        struct crule *cr = &e->rules[i];
        int leaves = 0;
        int nodes = count_nodes(r->when, &leaves) + count_nodes(r->clear, &leaves);
        cr->r = r;
        cr->when_root = cr->clear_root = -1;
        cr->nodes = calloc((size_t)(nodes ? nodes : 1), sizeof *cr->nodes);
        cr->leaves = calloc((size_t)(leaves ? leaves : 1), sizeof *cr->leaves);
        if (!cr->nodes || !cr->leaves)
            goto nomem;
        e->n_rules++;
        /* Built-in event rules (before rule files) have no tree: their
         * events list stands for `when event a, b`. */
        if (r->when)
            cr->when_root = flatten(cr, r->when);
        else
            cr->event_rule = true;
        if (r->clear)
            cr->clear_root = flatten(cr, r->clear);
        share_windows(cr);
        cr->fingerprint = cond_hash(cond_hash(14695981039346656037ull, r->when), r->clear);
        if (index_leaves(e, (int)i, cr))
            goto nomem;
        if (!r->when)
            for (size_t k = 0; k < r->n_events; k++)
                if (add_idx(&e->by_event, r->events[k], (int)i))
                    goto nomem;
        if (cr->has_absence)
            e->absence_rules[e->n_absence++] = (int)i;
    }
    for (size_t i = 0; i < e->n_rules; i++) {
        struct crule *cr = &e->rules[i];
        for (size_t k = 0; k < cr->r->n_suppressed_by; k++) {
            for (size_t j = 0; j < e->n_rules; j++)
                if (strcmp(e->rules[j].r->name, cr->r->suppressed_by[k]) == 0) {
                    cr->suppressors[cr->n_suppressors++] = (int)j;
                    e->rules[j].suppresses = true;
                }
        }
    }
    return e;
nomem:
    eng_free(e);
    return NULL;
}

/* ---- device state ------------------------------------------------------- */

static void free_rstate(const struct eng *e, struct rstate *s)
{
    const struct crule *cr = &e->rules[s->rule];
    for (int i = 0; s->leaves && i < cr->n_leaves; i++)
        if (owns_window(cr, i))
            win_free(s->leaves[i].win);
    free(s->leaves);
}

static void heap_swap(struct eng *e, size_t i, size_t j)
{
    struct edev *t = e->heap[i];
    e->heap[i] = e->heap[j];
    e->heap[j] = t;
    e->heap[i]->heap_pos = (uint32_t)i;
    e->heap[j]->heap_pos = (uint32_t)j;
}

static void heap_up(struct eng *e, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (e->heap[p]->due_ms <= e->heap[i]->due_ms)
            break;
        heap_swap(e, i, p);
        i = p;
    }
}

static void heap_down(struct eng *e, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < e->heap_n && e->heap[l]->due_ms < e->heap[m]->due_ms)
            m = l;
        if (r < e->heap_n && e->heap[r]->due_ms < e->heap[m]->due_ms)
            m = r;
        if (m == i)
            return;
        heap_swap(e, i, m);
        i = m;
    }
}

static void heap_remove(struct eng *e, struct edev *d)
{
    if (d->heap_pos == NO_HEAP)
        return;
    size_t i = d->heap_pos;
    e->heap_n--;
    if (i != e->heap_n) {
        e->heap[i] = e->heap[e->heap_n];
        e->heap[i]->heap_pos = (uint32_t)i;
        heap_up(e, i);
        heap_down(e, e->heap[i]->heap_pos);
    }
    d->heap_pos = NO_HEAP;
}

/* Puts d in the heap at d->due_ms, or takes it out when nothing is due. */
static void heap_set(struct eng *e, struct edev *d, int64_t due)
{
    if (due == INT64_MAX) {
        heap_remove(e, d);
        d->due_ms = due;
        return;
    }
    if (d->heap_pos == NO_HEAP) {
        if (e->heap_n == e->heap_cap) {
            size_t nc = e->heap_cap ? e->heap_cap * 2 : 64;
            struct edev **nh = realloc(e->heap, nc * sizeof *nh);
            if (!nh)
                return;     /* the device then only wakes on its next message */
            e->heap = nh;
            e->heap_cap = nc;
        }
        d->due_ms = due;
        d->heap_pos = (uint32_t)e->heap_n;
        e->heap[e->heap_n++] = d;
        heap_up(e, d->heap_pos);
        return;
    }
    int64_t old = d->due_ms;
    d->due_ms = due;
    if (due < old)
        heap_up(e, d->heap_pos);
    else
        heap_down(e, d->heap_pos);
}

static struct edev *get_dev(struct eng *e, const char *id, bool create)
{
    struct edev *d = strmap_get(&e->devices, id);
    if (d || !create)
        return d;
    size_t n = strlen(id);
    d = calloc(1, sizeof *d + n + 1);
    if (!d)
        return NULL;
    memcpy(d->id, id, n + 1);
    d->heap_pos = NO_HEAP;
    d->due_ms = INT64_MAX;
    if (strmap_put(&e->devices, d->id, d, NULL)) {
        free(d);
        return NULL;
    }
    return d;
}

static struct rstate *find_state_scan(const struct edev *d, int rule)
{
    for (uint16_t i = 0; i < d->n_states; i++)
        if (d->states[i].rule == (uint32_t)rule)
            return &d->states[i];
    return NULL;
}

/* Indexes d's states by rule for the evaluation at hand: one pass over them,
 * then every lookup is O(1) instead of a scan. */
static void index_dev(struct eng *e, const struct edev *d)
{
    if (++e->idx_gen == 0) {
        memset(e->slot_gen, 0, e->n_rules * sizeof *e->slot_gen);
        e->idx_gen = 1;
    }
    e->idx_dev = d;
    for (uint16_t i = 0; i < d->n_states; i++) {
        e->slot_gen[d->states[i].rule] = e->idx_gen;
        e->slot[d->states[i].rule] = i;
    }
}

static struct rstate *find_state(const struct eng *e, const struct edev *d, int rule)
{
    if (e->idx_dev == d)
        return e->slot_gen[rule] == e->idx_gen ? &d->states[e->slot[rule]] : NULL;
    return find_state_scan(d, rule);
}

/* Gives the window leaves of a new state their windows: a fresh one for
 * each owning leaf that has none yet (a restore may have decoded it), the
 * owner's for the others. On ENOMEM the windows made so far stay in
 * `leaves` for free_rstate. */
static int fill_windows(struct eng *e, const struct crule *cr, struct lstate *leaves,
                        int64_t now)
{
    size_t owned = 0;
    for (int i = 0; i < cr->n_leaves; i++) {
        const struct leaf *l = &cr->leaves[i];
        if (l->c->kind != RULE_COND_WINDOW)
            continue;
        if (!owns_window(cr, i)) {
            leaves[i].win = leaves[l->win_owner].win;
            continue;
        }
        if (!leaves[i].win && !(leaves[i].win = win_new(l->c->window_ms, l->win_aggs, now)))
            return ANX_ENOMEM;
        owned++;
    }
    e->n_windows += owned;
    return 0;
}

/* Appends a state for `rule` to d, its windows watched from now (or, with
 * !windows, none yet: the caller decodes them, then calls fill_windows). */
static struct rstate *add_state(struct eng *e, struct edev *d, int rule, int64_t now,
                                bool windows)
{
    if (d->n_states == d->cap_states) {
        uint16_t nc = d->cap_states ? (uint16_t)(d->cap_states * 2) : 2;
        struct rstate *ns = realloc(d->states, nc * sizeof *ns);
        if (!ns)
            return NULL;
        d->states = ns;
        d->cap_states = nc;
    }
    const struct crule *cr = &e->rules[rule];
    struct rstate *s = &d->states[d->n_states];
    memset(s, 0, sizeof *s);
    s->rule = (uint32_t)rule;
    s->leaves = calloc((size_t)(cr->n_leaves ? cr->n_leaves : 1), sizeof *s->leaves);
    if (!s->leaves)
        return NULL;
    if (windows && fill_windows(e, cr, s->leaves, now) != 0) {
        free_rstate(e, s);
        return NULL;
    }
    if (e->idx_dev == d) {
        e->slot_gen[rule] = e->idx_gen;
        e->slot[rule] = d->n_states;
    }
    d->n_states++;
    return s;
}

static struct rstate *get_state(struct eng *e, struct edev *d, int rule, int64_t now)
{
    struct rstate *s = find_state(e, d, rule);
    return s ? s : add_state(e, d, rule, now, true);
}

static void drop_dev(struct eng *e, struct edev *d)
{
    if (e->idx_dev == d)
        e->idx_dev = NULL;
    heap_remove(e, d);
    strmap_del(&e->devices, d->id);
    for (uint16_t i = 0; i < d->n_states; i++) {
        e->n_windows -= (size_t)count_windows(e, &d->states[i]);
        free_rstate(e, &d->states[i]);
    }
    free(d->states);
    free(d);
}

void eng_forget_device(struct eng *e, const char *device_id)
{
    struct edev *d = get_dev(e, device_id, false);
    if (d)
        drop_dev(e, d);
}

void eng_free(struct eng *e)
{
    if (!e)
        return;
    size_t it = 0;
    void *v;
    while (strmap_next(&e->devices, &it, NULL, &v)) {
        struct edev *d = v;
        for (uint16_t i = 0; i < d->n_states; i++)
            free_rstate(e, &d->states[i]);
        free(d->states);
        free(d);
    }
    strmap_free(&e->devices);
    free(e->heap);
    free_idx(&e->by_metric);
    free_idx(&e->by_event);
    for (size_t i = 0; i < e->n_rules; i++) {
        free(e->rules[i].nodes);
        free(e->rules[i].leaves);
    }
    free(e->rules);
    free(e->absence_rules);
    free(e->cand);
    free(e->slot_gen);
    free(e->slot);
    free(e);
}

/* ---- evaluation --------------------------------------------------------- */

static bool compare(double v, enum rule_cmp cmp, double t)
{
    switch (cmp) {
    case RULE_GT: return v > t;
    case RULE_GE: return v >= t;
    case RULE_LT: return v < t;
    case RULE_LE: return v <= t;
    case RULE_EQ: return v == t;
    case RULE_NE: return v != t;
    }
    return false;
}

static const char *cmp_text(enum rule_cmp cmp)
{
    static const char *const t[] = {">", ">=", "<", "<=", "==", "!="};
    return t[cmp];
}

static double threshold(const struct rule_cond *c, const struct reg_elder *el)
{
    if (!c->value.param[0] || !el)
        return c->value.number;
    return reg_param(el, c->value.param, c->value.number);
}

static void fmt_duration(char *out, size_t len, int64_t ms)
{
    if (ms % 86400000 == 0 && ms)
        snprintf(out, len, "%lldd", (long long)(ms / 86400000));
    else if (ms % 3600000 == 0 && ms)
        snprintf(out, len, "%lldh", (long long)(ms / 3600000));
    else if (ms % 60000 == 0 && ms)
        snprintf(out, len, "%lldm", (long long)(ms / 60000));
    else if (ms % 1000 == 0)
        snprintf(out, len, "%llds", (long long)(ms / 1000));
    else
        snprintf(out, len, "%lldms", (long long)ms);
}

/* What one evaluation needs to know. */
struct ectx {
    struct eng *e;
    const struct crule *cr;
    struct rstate *s;
    const struct edev *d;
    const struct reg_device *dev;
    const struct reg_elder *el;
    const struct tlm_msg *msg;      /* NULL when woken by time */
    int64_t now;
    int64_t due;                    /* earliest future time the result can change */
    /* explanation of the last decision */
    char why[240];
    size_t why_len;
    const char *event;
    bool has_value;
    double value;
};

static void why_add(struct ectx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void why_add(struct ectx *x, const char *fmt, ...)
{
    if (x->why_len >= sizeof x->why - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(x->why + x->why_len, sizeof x->why - x->why_len, fmt, ap);
    va_end(ap);
    if (n > 0)
        x->why_len += (size_t)n;
    if (x->why_len >= sizeof x->why)
        x->why_len = sizeof x->why - 1;
}

static void note_due(struct ectx *x, int64_t t)
{
    if (t > x->now && t < x->due)
        x->due = t;
}

static bool eval_leaf(struct ectx *x, int li)
{
    const struct leaf *lf = &x->cr->leaves[li];
    const struct rule_cond *c = lf->c;
    struct lstate *ls = &x->s->leaves[li];
    char d1[24], d2[24];

    switch (c->kind) {
    case RULE_COND_EVENT:
        if (!x->msg)
            return false;
        for (size_t i = 0; i < c->n_events; i++)
            for (size_t k = 0; k < x->msg->n_events; k++)
                if (strcmp(c->events[i], x->msg->events[k]) == 0) {
                    x->event = x->msg->events[k];
                    why_add(x, "event %s", x->event);
                    return true;
                }
        return false;
    case RULE_COND_THRESHOLD: {
        if (!ls->has || !ls->cmp_true)
            return false;
        if (x->now - ls->since_ms < c->for_ms) {
            note_due(x, ls->since_ms + c->for_ms);
            return false;
        }
        double t = threshold(c, x->el);
        x->has_value = true;
        x->value = ls->last;
        if (c->is_bool_test) {
            why_add(x, "%s is %s", c->metric, c->value.number != 0 ? "true" : "false");
        } else {
            why_add(x, "%s %g %s %g%s%s", c->metric, (double)ls->last, cmp_text(c->cmp), t,
                    c->value.unit[0] ? " " : "", c->value.unit);
            if (c->value.param[0])
                why_add(x, " (care plan %s)", c->value.param);
        }
        if (c->for_ms) {
            fmt_duration(d1, sizeof d1, x->now - ls->since_ms);
            why_add(x, " for %s", d1);
        }
        return true;
    }
    case RULE_COND_WINDOW: {
        static const enum win_agg map[] = {WIN_SUM, WIN_SUM, WIN_MIN, WIN_MAX, WIN_AVG,
                                           WIN_COUNT};
        double v;
        note_due(x, win_next_change(ls->win, x->now));
        if (win_value(ls->win, x->now, map[c->agg], &v) != 0)
            return false;
        double t = threshold(c, x->el);
        if (!compare(v, c->cmp, t))
            return false;
        static const char *const names[] = {"", "sum", "min", "max", "avg", "count"};
        fmt_duration(d1, sizeof d1, c->window_ms);
        x->has_value = true;
        x->value = v;
        why_add(x, "%s(%s) over %s = %g %s %g%s%s", names[c->agg], c->metric, d1, v,
                cmp_text(c->cmp), t, c->value.unit[0] ? " " : "", c->value.unit);
        return true;
    }
    case RULE_COND_ABSENCE: {
        int64_t dur = c->absence_ms;
        if (c->heartbeat_factor > 0)
            dur = (int64_t)(c->heartbeat_factor * (double)(x->dev ? x->dev->heartbeat_s : 300) *
                            1000.0);
        if (x->now - x->d->last_seen_ms < dur) {
            note_due(x, x->d->last_seen_ms + dur);
            return false;
        }
        fmt_duration(d1, sizeof d1, x->now - x->d->last_seen_ms);
        if (c->heartbeat_factor > 0) {
            fmt_duration(d2, sizeof d2, (int64_t)(x->dev ? x->dev->heartbeat_s : 300) * 1000);
            why_add(x, "no message for %s (%g x heartbeat %s)", d1, c->heartbeat_factor, d2);
        } else {
            why_add(x, "no message for %s", d1);
        }
        return true;
    }
    case RULE_COND_AND:
    case RULE_COND_OR:
        break;
    }
    return false;
}

static void why_truncate(struct ectx *x, size_t mark, bool has, double val)
{
    x->why_len = mark;
    x->why[mark] = '\0';
    x->has_value = has;
    x->value = val;
}

/* Both sides are always evaluated, true or not: each may set a wake-up
 * time. Leaves explain themselves only when true; a branch that does not
 * decide the result has its explanation removed. */
static bool eval_node(struct ectx *x, int ni)
{
    const struct node *n = &x->cr->nodes[ni];
    if (n->kind == N_LEAF)
        return eval_leaf(x, n->leaf);
    size_t mark = x->why_len;
    bool has = x->has_value;
    double val = x->value;
    bool a = eval_node(x, n->a);
    if (n->kind == N_AND) {
        if (a)
            why_add(x, " and ");
        bool b = eval_node(x, n->b);
        if (!(a && b))
            why_truncate(x, mark, has, val);
        return a && b;
    }
    if (a) {
        size_t keep = x->why_len;
        bool khas = x->has_value;
        double kval = x->value;
        eval_node(x, n->b);
        why_truncate(x, keep, khas, kval);
        return true;
    }
    why_truncate(x, mark, has, val);
    return eval_node(x, n->b);
}

/* Built-in event rules (no tree): any listed event in the message. */
static bool eval_events_only(struct ectx *x)
{
    if (!x->msg)
        return false;
    const struct rule *r = x->cr->r;
    for (size_t i = 0; i < r->n_events; i++)
        for (size_t k = 0; k < x->msg->n_events; k++)
            if (strcmp(r->events[i], x->msg->events[k]) == 0) {
                x->event = x->msg->events[k];
                why_add(x, "event %s", x->event);
                return true;
            }
    return false;
}

static bool in_static_scope(const struct rule_scope *sc, const struct reg_device *dev,
                            const struct reg_elder *el)
{
    if (sc->categories && (!el || !(el->categories & sc->categories)))
        return false;
    if (sc->risks && (!el || !(sc->risks & (1u << el->risk))))
        return false;
    if (sc->n_device_kinds) {
        bool ok = false;
        for (size_t i = 0; i < sc->n_device_kinds && dev; i++)
            ok |= strcmp(sc->device_kinds[i], dev->kind) == 0;
        if (!ok)
            return false;
    }
    if (sc->n_townships) {
        bool ok = false;
        for (size_t i = 0; i < sc->n_townships && el && el->township; i++)
            ok |= strcmp(sc->townships[i], el->township) == 0;
        if (!ok)
            return false;
    }
    if (sc->n_villages) {
        bool ok = false;
        for (size_t i = 0; i < sc->n_villages && el && el->village; i++)
            ok |= strcmp(sc->villages[i], el->village) == 0;
        if (!ok)
            return false;
    }
    return true;
}

static bool in_time_scope(const struct eng *e, const struct rule_scope *sc, int64_t now)
{
    if (!sc->has_time_of_day && !sc->days)
        return true;
    int64_t local_min = now / 60000 + e->utc_offset_min;
    int64_t day = local_min >= 0 ? local_min / 1440 : (local_min - 1439) / 1440;
    int minute = (int)(local_min - day * 1440);
    int weekday = (int)(((day + 3) % 7 + 7) % 7);   /* 1970-01-01 was a Thursday; Monday = 0 */
    if (sc->has_time_of_day) {
        int f = sc->tod_from_min, t = sc->tod_to_min;
        bool in = f < t ? (minute >= f && minute < t) : (minute >= f || minute < t);
        if (!in)
            return false;
        /* A window passing midnight belongs to the day it started. */
        if (f > t && minute < t)
            weekday = (weekday + 6) % 7;
    }
    return !sc->days || (sc->days & (1u << weekday));
}

/* The next local time the time scope opens, for a state rule held back by
 * it; coarse (to the minute) is enough. */
static int64_t next_time_scope_change(const struct eng *e, const struct rule_scope *sc, int64_t now)
{
    if (!sc->has_time_of_day && !sc->days)
        return INT64_MAX;
    /* Whether a minute is in scope changes only at local midnight and at the
     * window's two ends: look at those minutes, not at every minute. */
    int64_t t = (now / 60000 + 1) * 60000;
    int64_t end = t + (int64_t)8 * 1440 * 60000;
    while (t < end) {
        if (in_time_scope(e, sc, t))
            return t;
        int64_t lm = t / 60000 + e->utc_offset_min;
        int64_t day = lm >= 0 ? lm / 1440 : (lm - 1439) / 1440;
        int m = (int)(lm - day * 1440);
        int step = 1440 - m;                    /* to midnight */
        if (sc->has_time_of_day) {
            int b[2] = {sc->tod_from_min, sc->tod_to_min};
            for (int k = 0; k < 2; k++) {
                int dl = (b[k] - m + 1440) % 1440;
                if (dl > 0 && dl < step)
                    step = dl;
            }
        }
        t += (int64_t)step * 60000;
    }
    return INT64_MAX;
}

static bool suppressed(const struct eng *e, const struct ectx *x)
{
    for (int i = 0; i < x->cr->n_suppressors; i++) {
        const struct rstate *s = find_state(x->e, x->d, x->cr->suppressors[i]);
        if (s && s->firing)
            return true;
    }
    (void)e;
    return false;
}

static void emit_event(struct ectx *x, enum eng_event_kind kind, eng_emit_fn emit, void *arg)
{
    struct eng_event ev = {
        .kind = kind,
        .rule = x->cr->r,
        .device = x->dev,
        .elder = x->el,
        .at_ms = x->now,
        .event = x->event,
        .has_value = x->has_value,
        .value = x->value,
    };
    memcpy(ev.why, x->why, x->why_len + 1);
    emit(arg, &ev);
}

/* Evaluates one rule for one device; returns when it next needs a look. */
static int64_t eval_rule(struct ectx *x, eng_emit_fn emit, void *arg)
{
    const struct crule *cr = x->cr;
    x->due = INT64_MAX;
    x->why_len = 0;
    x->why[0] = '\0';
    x->event = NULL;
    x->has_value = false;

    bool when = cr->when_root >= 0 ? eval_node(x, cr->when_root) : eval_events_only(x);
    if (cr->event_rule) {
        if (when && in_time_scope(x->e, &cr->r->scope, x->now) && !suppressed(x->e, x))
            emit_event(x, ENG_FIRE, emit, arg);
        return x->due;
    }
    if (!x->s->firing) {
        if (!when)
            return x->due;
        if (suppressed(x->e, x))
            return x->due;
        if (!in_time_scope(x->e, &cr->r->scope, x->now)) {
            int64_t t = next_time_scope_change(x->e, &cr->r->scope, x->now);
            return t < x->due ? t : x->due;
        }
        x->s->firing = 1;
        emit_event(x, ENG_FIRE, emit, arg);
        return x->due;
    }
    bool clear;
    if (cr->clear_root >= 0) {
        int64_t keep_due = x->due;
        x->why_len = 0;
        x->why[0] = '\0';
        x->has_value = false;
        clear = eval_node(x, cr->clear_root);
        if (keep_due < x->due)
            x->due = keep_due;
    } else {
        clear = !when;
        if (clear) {
            x->why_len = 0;
            snprintf(x->why, sizeof x->why, "condition no longer holds");
            x->why_len = strlen(x->why);
        }
    }
    if (clear) {
        x->s->firing = 0;
        emit_event(x, ENG_CLEAR, emit, arg);
    }
    return x->due;
}

/* Takes a new value into the leaves of rule state s that watch metric. */
static void update_leaves(struct eng *e, const struct crule *cr, struct rstate *s,
                          const struct reg_elder *el, const char *metric, double v, int64_t now)
{
    (void)e;
    for (int i = 0; i < cr->n_leaves; i++) {
        const struct rule_cond *c = cr->leaves[i].c;
        struct lstate *ls = &s->leaves[i];
        if ((c->kind != RULE_COND_THRESHOLD && c->kind != RULE_COND_WINDOW) ||
            strcmp(c->metric, metric) != 0)
            continue;
        if (c->kind == RULE_COND_WINDOW) {
            if (owns_window(cr, i))
                win_add(ls->win, now, v);
            continue;
        }
        bool t = compare(v, c->cmp, threshold(c, el));
        if (t && !ls->cmp_true)
            ls->since_ms = now;
        ls->cmp_true = t;
        ls->last = (float)v;
        ls->has = 1;
    }
}

static int64_t eval_device_rules(struct eng *e, struct edev *d, const struct reg_device *dev,
                                 const struct tlm_msg *m, int64_t now, eng_emit_fn emit,
                                 void *arg, bool all)
{
    int64_t due = INT64_MAX;
    struct ectx x = {.e = e, .d = d, .dev = dev, .el = dev ? dev->elder : NULL, .msg = m,
                     .now = now};
    /* Rules that suppress others go first, so that whether a rule is held
     * back does not depend on the order of the device's states. A rule
     * with `suppressed by` is looked at on every message: its suppressor
     * may just have cleared. */
    for (int pass = 0; pass < 2; pass++)
        for (uint16_t i = 0; i < d->n_states; i++) {
            struct rstate *s = &d->states[i];
            const struct crule *cr = &e->rules[s->rule];
            if (cr->suppresses != (pass == 0))
                continue;
            if (!all && cr->mark != e->stamp && !cr->n_suppressors)
                continue;
            x.cr = cr;
            x.s = s;
            int64_t t = eval_rule(&x, emit, arg);
            if (t < due)
                due = t;
        }
    return due;
}

void eng_track_device(struct eng *e, const struct reg_device *dev, int64_t since_ms)
{
    if (e->n_absence == 0)
        return;
    struct edev *d = get_dev(e, dev->id, true);
    if (!d)
        return;
    if (!d->last_seen_ms)
        d->last_seen_ms = dev->last_seen_ms ? dev->last_seen_ms : since_ms;
    int64_t due = INT64_MAX;
    for (size_t i = 0; i < e->n_absence; i++) {
        const struct crule *cr = &e->rules[e->absence_rules[i]];
        if (!in_static_scope(&cr->r->scope, dev, dev->elder))
            continue;
        struct rstate *s = get_state(e, d, e->absence_rules[i], since_ms);
        if (!s)
            continue;
        /* Only schedule: the first look happens when it is due. A silence
         * already long enough (last seen long ago) is due at once. */
        struct ectx x = {.e = e, .cr = cr, .s = s, .d = d, .dev = dev, .el = dev->elder,
                         .now = since_ms, .due = INT64_MAX};
        for (int k = 0; k < cr->n_leaves; k++)
            if (cr->leaves[k].c->kind == RULE_COND_ABSENCE && eval_leaf(&x, k) && !s->firing)
                x.due = since_ms;
        if (x.due < due)
            due = x.due;
    }
    if (due < d->due_ms)
        heap_set(e, d, due);
}

void eng_on_message(struct eng *e, const struct reg_device *dev, const struct tlm_msg *m,
                    int64_t now, eng_emit_fn emit, void *arg)
{
    const struct reg_elder *el = dev->elder;
    int *cand = e->cand;            /* each rule once (marked), so n_rules at most */
    size_t nc = 0;

    if (++e->stamp == 0)
        e->stamp = 1;
    for (size_t i = 0; i < m->n_metrics; i++) {
        const struct idx_list *l = strmap_get(&e->by_metric, m->metrics[i].name);
        for (size_t k = 0; l && k < l->n; k++)
            if (e->rules[l->rules[k]].mark != e->stamp) {
                e->rules[l->rules[k]].mark = e->stamp;
                cand[nc++] = l->rules[k];
            }
    }
    for (size_t i = 0; i < m->n_events; i++) {
        const struct idx_list *l = strmap_get(&e->by_event, m->events[i]);
        for (size_t k = 0; l && k < l->n; k++)
            if (e->rules[l->rules[k]].mark != e->stamp) {
                e->rules[l->rules[k]].mark = e->stamp;
                cand[nc++] = l->rules[k];
            }
    }
    struct edev *d = get_dev(e, dev->id, nc > 0 || e->n_absence > 0);
    if (!d)
        return;
    /* Absence rules need a look at every message (it may end a silence). */
    bool was_absent = false;
    index_dev(e, d);
    if (e->n_absence)
        for (uint16_t i = 0; i < d->n_states; i++) {
            struct crule *cr = &e->rules[d->states[i].rule];
            if (cr->has_absence) {
                cr->mark = e->stamp;
                was_absent |= d->states[i].firing;
            }
        }
    d->last_seen_ms = now;
    /* A device back from silence starts its windows afresh: what they hold
     * is a gap, not a real "no water used". */
    if (was_absent)
        for (uint16_t i = 0; i < d->n_states; i++)
            for (int k = 0; k < e->rules[d->states[i].rule].n_leaves; k++)
                if (owns_window(&e->rules[d->states[i].rule], k) && d->states[i].leaves[k].win)
                    win_restart(d->states[i].leaves[k].win, now);
    for (size_t i = 0; i < nc; i++) {
        const struct crule *cr = &e->rules[cand[i]];
        if (!in_static_scope(&cr->r->scope, dev, el))
            continue;
        struct rstate *s = get_state(e, d, cand[i], now);
        if (!s)
            continue;
        for (size_t k = 0; k < m->n_metrics; k++)
            update_leaves(e, cr, s, el, m->metrics[k].name, m->metrics[k].value, now);
    }
    int64_t due = eval_device_rules(e, d, dev, m, now, emit, arg, false);
    /* Rules not looked at keep their own wake-up; keeping the earlier time
     * may cost a spurious look (eng_advance then sets the exact one). */
    if (d->due_ms < due)
        due = d->due_ms;
    heap_set(e, d, due);
    e->idx_dev = NULL;
}

void eng_advance(struct eng *e, const struct registry *reg, int64_t now, eng_emit_fn emit,
                 void *arg)
{
    while (e->heap_n > 0 && e->heap[0]->due_ms <= now) {
        struct edev *d = e->heap[0];
        const struct reg_device *dev = reg_find_device(reg, d->id);
        if (!dev) {
            drop_dev(e, d);
            continue;
        }
        /* Evaluate at the due time itself, so replay and live agree on when. */
        int64_t at = d->due_ms;
        index_dev(e, d);
        int64_t due = eval_device_rules(e, d, dev, NULL, at, emit, arg, true);
        e->idx_dev = NULL;
        if (due <= at)
            due = at + 1;
        heap_set(e, d, due);
    }
}

int64_t eng_next_due(const struct eng *e)
{
    return e->heap_n ? e->heap[0]->due_ms : INT64_MAX;
}

bool eng_is_firing(const struct eng *e, const char *device_id, const char *rule)
{
    const struct edev *d = strmap_get(&e->devices, device_id);
    if (!d)
        return false;
    for (uint16_t i = 0; i < d->n_states; i++)
        if (strcmp(e->rules[d->states[i].rule].r->name, rule) == 0)
            return d->states[i].firing != 0;
    return false;
}

void eng_get_stats(const struct eng *e, struct eng_stats *s)
{
    memset(s, 0, sizeof *s);
    size_t it = 0;
    void *v;
    while (strmap_next(&e->devices, &it, NULL, &v)) {
        const struct edev *d = v;
        s->devices++;
        s->states += d->n_states;
        s->bytes += sizeof *d + strlen(d->id) + 1 + d->cap_states * sizeof *d->states;
        for (uint16_t i = 0; i < d->n_states; i++) {
            const struct crule *cr = &e->rules[d->states[i].rule];
            s->bytes += (size_t)cr->n_leaves * sizeof(struct lstate);
            for (int k = 0; k < cr->n_leaves; k++)
                if (owns_window(cr, k) && d->states[i].leaves[k].win)
                    s->bytes += win_encoded_size(d->states[i].leaves[k].win);
        }
    }
    s->windows = e->n_windows;
    s->bytes += e->heap_cap * sizeof *e->heap + e->devices.cap * sizeof(struct strmap_slot);
}

/* ---- reload and restart ------------------------------------------------ */

static int find_rule(const struct eng *e, const char *name, uint64_t fingerprint,
                     int n_leaves)
{
    for (size_t i = 0; i < e->n_rules; i++)
        if (e->rules[i].fingerprint == fingerprint && e->rules[i].n_leaves == n_leaves &&
            strcmp(e->rules[i].r->name, name) == 0)
            return (int)i;
    return -1;
}

void eng_transfer(struct eng *e, struct eng *old)
{
    size_t it = 0;
    void *v;
    while (strmap_next(&old->devices, &it, NULL, &v)) {
        struct edev *od = v;
        struct edev *d = get_dev(e, od->id, true);
        if (!d)
            continue;
        d->last_seen_ms = od->last_seen_ms;
        for (uint16_t i = 0; i < od->n_states; i++) {
            struct rstate *os = &od->states[i];
            const struct crule *ocr = &old->rules[os->rule];
            int r = find_rule(e, ocr->r->name, ocr->fingerprint, ocr->n_leaves);
            if (r < 0 || find_state_scan(d, r))
                continue;
            if (d->n_states == d->cap_states) {
                uint16_t nc = d->cap_states ? (uint16_t)(d->cap_states * 2) : 2;
                struct rstate *ns = realloc(d->states, nc * sizeof *ns);
                if (!ns)
                    continue;
                d->states = ns;
                d->cap_states = nc;
            }
            int w = count_windows(old, os);
            d->states[d->n_states++] = (struct rstate){(uint32_t)r, os->firing, os->leaves};
            e->n_windows += (size_t)w;
            old->n_windows -= (size_t)w;
            /* The old engine keeps a husk it can free. */
            os->leaves = calloc((size_t)(ocr->n_leaves ? ocr->n_leaves : 1),
                                sizeof *os->leaves);
        }
        heap_set(e, d, od->due_ms < d->due_ms ? od->due_ms : d->due_ms);
    }
}

/* Snapshot encoding: little-endian, "AXES" + version 1, then per device its
 * id, last message time and states; per state the rule's name and
 * fingerprint (a changed rule's state is dropped on restore), whether it
 * fires, and per leaf the comparison state and the encoded window.
 *
 * The encoder runs twice over the same walk: once counting (the file's
 * header carries the length before the data), once handing pieces of a
 * small buffer to the sink. Streaming keeps a save from needing a second
 * copy of the state in memory: at a million devices the whole encoding is
 * about a gigabyte. */
struct wbuf {
    uint8_t *p;                 /* NULL: counting only */
    size_t len, cap;            /* bytes in p waiting for the sink */
    size_t total;               /* bytes produced so far */
    eng_sink_fn sink;
    void *arg;
    int err;                    /* first failure: the sink's, or ANX_ENOMEM */
};

static void flush(struct wbuf *b)
{
    if (b->len && !b->err)
        b->err = b->sink(b->arg, b->p, b->len);
    b->len = 0;
}

static void put(struct wbuf *b, const void *src, size_t n)
{
    const uint8_t *q = src;
    b->total += n;
    if (!b->p || b->err)
        return;
    while (n) {
        size_t room = b->cap - b->len, k = n < room ? n : room;
        memcpy(b->p + b->len, q, k);
        b->len += k;
        q += k;
        n -= k;
        if (b->len == b->cap)
            flush(b);
    }
}

static void put_u(struct wbuf *b, uint64_t v, int bytes)
{
    uint8_t t[8];
    for (int i = 0; i < bytes; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    put(b, t, (size_t)bytes);
}

/* A window is encoded straight into the buffer when it fits there. */
static void put_window(struct wbuf *b, const struct win *w, size_t wl)
{
    if (!b->p || b->err) {
        b->total += wl;
        return;
    }
    if (wl > b->cap - b->len)
        flush(b);
    if (wl <= b->cap - b->len) {
        if (win_encode(w, b->p + b->len, wl) != wl && !b->err)
            b->err = ANX_ENOMEM;
        b->len += wl;
        b->total += wl;
        return;
    }
    uint8_t *tmp = malloc(wl);
    if (!tmp || win_encode(w, tmp, wl) != wl) {
        b->total += wl;
        if (!b->err)
            b->err = ANX_ENOMEM;
    } else
        put(b, tmp, wl);
    free(tmp);
}

static void encode(const struct eng *e, struct wbuf *b)
{
    put(b, "AXES", 4);
    put_u(b, 1, 1);
    put_u(b, e->devices.len, 4);
    size_t it = 0;
    void *v;
    while (strmap_next(&e->devices, &it, NULL, &v) && !b->err) {
        const struct edev *d = v;
        size_t idl = strlen(d->id);
        put_u(b, idl, 2);
        put(b, d->id, idl);
        put_u(b, (uint64_t)d->last_seen_ms, 8);
        put_u(b, d->n_states, 2);
        for (uint16_t i = 0; i < d->n_states; i++) {
            const struct rstate *s = &d->states[i];
            const struct crule *cr = &e->rules[s->rule];
            size_t nl = strlen(cr->r->name);
            put_u(b, nl, 1);
            put(b, cr->r->name, nl);
            put_u(b, cr->fingerprint, 8);
            put_u(b, s->firing, 1);
            put_u(b, (uint64_t)cr->n_leaves, 2);
            for (int k = 0; k < cr->n_leaves; k++) {
                const struct lstate *ls = &s->leaves[k];
                /* Only a comparison has these; a window's pointer is no
                 * business of the file. */
                struct lstate cmp = {0};
                if (cr->leaves[k].c->kind == RULE_COND_THRESHOLD)
                    cmp = *ls;
                uint32_t fbits;
                memcpy(&fbits, &cmp.last, 4);
                put_u(b, (uint64_t)cmp.since_ms, 8);
                put_u(b, fbits, 4);
                put_u(b, cmp.has, 1);
                put_u(b, cmp.cmp_true, 1);
                /* A shared window is saved once, with its owner. */
                size_t wl = owns_window(cr, k) && ls->win ? win_encoded_size(ls->win) : 0;
                put_u(b, wl, 4);
                if (wl)
                    put_window(b, ls->win, wl);
            }
        }
    }
}

size_t eng_snapshot_size(const struct eng *e)
{
    struct wbuf b = {0};
    encode(e, &b);
    return b.total;
}

int eng_snapshot_write(const struct eng *e, eng_sink_fn sink, void *arg)
{
    struct wbuf b = {.cap = ENG_SNAP_PIECE, .sink = sink, .arg = arg};
    b.p = malloc(b.cap);
    if (!b.p)
        return ANX_ENOMEM;
    encode(e, &b);
    flush(&b);
    free(b.p);
    return b.err;
}

struct mem_sink {
    uint8_t *p;
    size_t len, cap;
};

static int to_memory(void *arg, const void *data, size_t len)
{
    struct mem_sink *m = arg;
    /* The state cannot change between the two passes; should it, the
     * buffer is not overrun. */
    if (len > m->cap - m->len)
        return ANX_ESTATE;
    memcpy(m->p + m->len, data, len);
    m->len += len;
    return 0;
}

uint8_t *eng_snapshot(const struct eng *e, size_t *len)
{
    struct mem_sink m = {.cap = eng_snapshot_size(e)};
    m.p = malloc(m.cap ? m.cap : 1);
    if (!m.p)
        return NULL;
    if (eng_snapshot_write(e, to_memory, &m) != 0 || m.len != m.cap) {
        free(m.p);
        return NULL;
    }
    *len = m.len;
    return m.p;
}

struct rbuf {
    const uint8_t *p;
    size_t len, pos;
    bool bad;
};

static uint64_t get_u(struct rbuf *r, int bytes)
{
    if (r->bad || r->len - r->pos < (size_t)bytes) {
        r->bad = true;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)r->p[r->pos + (size_t)i] << (8 * i);
    r->pos += (size_t)bytes;
    return v;
}

static const uint8_t *get_bytes(struct rbuf *r, size_t n)
{
    if (r->bad || r->len - r->pos < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p + r->pos;
    r->pos += n;
    return p;
}

int eng_restore(struct eng *e, const uint8_t *buf, size_t len, int64_t now_ms)
{
    struct rbuf r = {buf, len, 0, false};
    const uint8_t *magic = get_bytes(&r, 4);
    if (!magic || memcmp(magic, "AXES", 4) != 0 || get_u(&r, 1) != 1)
        return ANX_ECORRUPT;
    uint64_t n_dev = get_u(&r, 4);
    for (uint64_t i = 0; i < n_dev && !r.bad; i++) {
        size_t idl = (size_t)get_u(&r, 2);
        const uint8_t *idp = get_bytes(&r, idl);
        char id[TLM_MAX_ID + 1];
        if (!idp || idl == 0 || idl > TLM_MAX_ID)
            return ANX_ECORRUPT;
        memcpy(id, idp, idl);
        id[idl] = '\0';
        struct edev *d = get_dev(e, id, true);
        if (!d)
            return ANX_ENOMEM;
        d->last_seen_ms = (int64_t)get_u(&r, 8);
        uint64_t n_states = get_u(&r, 2);
        for (uint64_t si = 0; si < n_states && !r.bad; si++) {
            size_t nl = (size_t)get_u(&r, 1);
            const uint8_t *np = get_bytes(&r, nl);
            char name[RULE_NAME_MAX + 1];
            if (!np || nl == 0 || nl > RULE_NAME_MAX)
                return ANX_ECORRUPT;
            memcpy(name, np, nl);
            name[nl] = '\0';
            uint64_t fp = get_u(&r, 8);
            uint8_t firing = (uint8_t)get_u(&r, 1);
            int n_leaves = (int)get_u(&r, 2);
            int ri = find_rule(e, name, fp, n_leaves);
            struct rstate *s = NULL;
            const struct crule *cr = ri >= 0 ? &e->rules[ri] : NULL;
            if (ri >= 0 && !find_state_scan(d, ri)) {
                s = add_state(e, d, ri, now_ms, false);
                if (!s)
                    return ANX_ENOMEM;
                s->firing = firing;
            }
            for (int k = 0; k < n_leaves && !r.bad; k++) {
                int64_t since = (int64_t)get_u(&r, 8);
                uint32_t fbits = (uint32_t)get_u(&r, 4);
                uint8_t has = (uint8_t)get_u(&r, 1), cmp_true = (uint8_t)get_u(&r, 1);
                size_t wl = (size_t)get_u(&r, 4);
                const uint8_t *wp = get_bytes(&r, wl);
                if (r.bad)
                    return ANX_ECORRUPT;
                if (!s)
                    continue;
                struct lstate *ls = &s->leaves[k];
                if (cr->leaves[k].c->kind == RULE_COND_THRESHOLD) {
                    ls->since_ms = since;
                    memcpy(&ls->last, &fbits, 4);
                    ls->has = has;
                    ls->cmp_true = cmp_true;
                }
                if (wl && owns_window(cr, k)) {
                    size_t used = 0;
                    struct win *w = win_decode(wp, wl, &used);
                    if (!w)
                        return ANX_ECORRUPT;
                    /* Saved before its leaves shared it (another width or
                     * fewer aggregates): start it afresh. */
                    if (win_width(w) != cr->leaves[k].c->window_ms ||
                        win_aggs(w) != cr->leaves[k].win_aggs)
                        win_free(w);
                    else
                        ls->win = w;
                }
            }
            if (s && fill_windows(e, cr, s->leaves, now_ms) != 0)
                return ANX_ENOMEM;
        }
        /* Look at every restored device at once: what fell due while we
         * were down fires now. */
        heap_set(e, d, now_ms);
    }
    return r.bad ? ANX_ECORRUPT : 0;
}
