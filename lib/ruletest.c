/* ruletest.c - parse and run rule test files (see ruletest.h).
 *
 *   start 2026-11-30 08:00            # optional: local time of t = 0
 *   test "no water for 12 hours" {
 *       elder E1 living_alone risk high param hr.max=120
 *       device WM-1 water_meter heartbeat 15m elder E1
 *       send WM-1 at 0s every 5m until 13h: water.flow_l 0
 *       send SOS-1 at 1h: event sos
 *       expect at 12h: water_idle firing for E1
 *       expect at 11h45m: no water_idle
 *       expect at 14h: water_idle cleared for E1
 *       expect at 14h: water_idle fired 1 times for E1
 *       expect at 20h: no alerts
 *   }
 */
#include "ruletest.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"
#include "notify.h"
#include "registry.h"
#include "sim.h"

#define MAX_TOKENS 64
#define TOK_MAX 256
/* 2026-01-05 00:00 UTC, a Monday: the default start of virtual time. */
#define DEFAULT_START_MS INT64_C(1767571200000)

struct tok {
    char s[TOK_MAX];
    bool quoted;
};

struct line_toks {
    struct tok t[MAX_TOKENS];
    int n;
};

static int push_msg(char ***arr, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int push_msg(char ***arr, size_t *n, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **na = realloc(*arr, (*n + 1) * sizeof *na);
    if (!na)
        return ANX_ENOMEM;
    *arr = na;
    if (!(na[*n] = strdup(buf)))
        return ANX_ENOMEM;
    (*n)++;
    return 0;
}

/* Splits one line into words, "strings", and the separators : , { } =.
 * Returns 0, or -1 with a message in err. */
static int tokenize(const char *p, const char *end, struct line_toks *lt, char *err, size_t elen)
{
    lt->n = 0;
    while (p < end) {
        if (*p == '#')
            break;
        if (isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        if (lt->n == MAX_TOKENS) {
            snprintf(err, elen, "too many words on one line");
            return -1;
        }
        struct tok *t = &lt->t[lt->n];
        size_t k = 0;
        t->quoted = false;
        if (*p == '"') {
            t->quoted = true;
            p++;
            while (p < end && *p != '"') {
                if (*p == '\\' && p + 1 < end)
                    p++;
                if (k + 1 < TOK_MAX)
                    t->s[k++] = *p;
                p++;
            }
            if (p >= end) {
                snprintf(err, elen, "unterminated string");
                return -1;
            }
            p++;
        } else if (strchr(":,{}=", *p)) {
            t->s[k++] = *p++;
        } else {
            while (p < end && !isspace((unsigned char)*p) && !strchr(",{}=\"#", *p)) {
                /* "08:00" keeps its colon; "13h:" does not. */
                if (*p == ':' && !(k > 0 && isdigit((unsigned char)t->s[k - 1]) && p + 1 < end &&
                                   isdigit((unsigned char)p[1])))
                    break;
                if (k + 1 >= TOK_MAX) {
                    snprintf(err, elen, "word too long");
                    return -1;
                }
                t->s[k++] = *p++;
            }
        }
        t->s[k] = '\0';
        lt->n++;
    }
    return 0;
}

struct msg_at {
    int64_t t;
    int line;
    struct tlm_msg m;
};

enum expect_kind { EX_FIRING, EX_NOT, EX_CLEARED, EX_FIRED_N, EX_NO_ALERTS };

struct expect {
    int64_t t;
    int line;
    enum expect_kind kind;
    char rule[RULE_NAME_MAX + 1];
    char elder[TLM_MAX_ID + 1];     /* "" = any elder */
    int n;
};

struct last_why {
    char key[TLM_MAX_ID + RULE_NAME_MAX + 2];
    int64_t t;
    char what[16];
    char why[240];
};

struct test {
    char name[128];
    int line;
    struct registry reg;
    struct msg_at *msgs;
    size_t n_msgs, cap_msgs;
    struct expect *ex;
    size_t n_ex, cap_ex;
    struct last_why *why;
    size_t n_why, cap_why;
    int64_t start;
};

/* Copies a word into a fixed field, cutting it if it does not fit (names
 * that long fail their lookups and are reported then). */
static void scopy(char *dst, size_t n, const char *src)
{
    size_t l = strnlen(src, n - 1);
    memcpy(dst, src, l);
    dst[l] = '\0';
}

static void test_clear(struct test *t)
{
    reg_clear(&t->reg);
    free(t->msgs);
    free(t->ex);
    free(t->why);
    memset(t, 0, sizeof *t);
}

static void fmt_rel(char *out, size_t len, int64_t ms)
{
    int64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60;
    size_t k = 0;
    out[0] = '\0';
    if (h)
        k += (size_t)snprintf(out + k, len - k, "%lldh", (long long)h);
    if (m && k < len)
        k += (size_t)snprintf(out + k, len - k, "%lldm", (long long)m);
    if ((s || (!h && !m)) && k < len)
        snprintf(out + k, len - k, "%llds", (long long)s);
}

static int parse_time(const char *s, int64_t *out)
{
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    return cfg_parse_duration(s, out);
}

/* ---- statements --------------------------------------------------------- */

static int st_elder(struct test *t, const struct line_toks *lt, char *err, size_t elen)
{
    if (lt->n < 2) {
        snprintf(err, elen, "expected: elder ID [categories] [risk R] [village \"X\"] "
                            "[township \"X\"] [param NAME=VALUE] [no consent]");
        return -1;
    }
    struct reg_elder *e = calloc(1, sizeof *e);
    if (!e)
        return ANX_ENOMEM;
    e->id = strdup(lt->t[1].s);
    e->name = strdup(lt->t[1].s);
    e->consent = true;
    e->risk = REG_RISK_MEDIUM;
    for (int i = 2; i < lt->n; i++) {
        const char *w = lt->t[i].s;
        int cat = reg_category_parse(w);
        if (cat > 0) {
            e->categories |= (uint16_t)cat;
        } else if (strcmp(w, "risk") == 0 && i + 1 < lt->n) {
            const char *r = lt->t[++i].s;
            e->risk = strcmp(r, "low") == 0 ? REG_RISK_LOW
                    : strcmp(r, "high") == 0 ? REG_RISK_HIGH : REG_RISK_MEDIUM;
        } else if ((strcmp(w, "village") == 0 || strcmp(w, "township") == 0) && i + 1 < lt->n) {
            char **dst = w[0] == 'v' ? &e->village : &e->township;
            free(*dst);
            *dst = strdup(lt->t[++i].s);
        } else if (strcmp(w, "param") == 0 && i + 3 < lt->n && strcmp(lt->t[i + 2].s, "=") == 0) {
            struct reg_param *np = realloc(e->params, (e->n_params + 1) * sizeof *np);
            if (!np)
                break;
            e->params = np;
            np[e->n_params].name = strdup(lt->t[i + 1].s);
            np[e->n_params].value = strtod(lt->t[i + 3].s, NULL);
            e->n_params++;
            i += 3;
        } else if (strcmp(w, "no") == 0 && i + 1 < lt->n && strcmp(lt->t[i + 1].s, "consent") == 0) {
            e->consent = false;
            i++;
        } else {
            snprintf(err, elen, "unknown word \"%s\" in elder (categories: living_alone "
                                "empty_nest left_behind disabled severely_disabled "
                                "family_planning_special; risk; village; township; param; "
                                "no consent)", w);
            reg_elder_free(e);
            return -1;
        }
    }
    if (reg_find_elder(&t->reg, e->id)) {
        snprintf(err, elen, "elder %s is already defined", e->id);
        reg_elder_free(e);
        return -1;
    }
    return reg_put(&t->reg, e);
}

static int st_device(struct test *t, const struct line_toks *lt, char *err, size_t elen)
{
    /* device ID KIND [heartbeat D] elder ELDER */
    const char *eid = NULL;
    int64_t hb = 300000;
    if (lt->n < 5)
        goto usage;
    for (int i = 3; i < lt->n; i++) {
        if (strcmp(lt->t[i].s, "heartbeat") == 0 && i + 1 < lt->n) {
            if (parse_time(lt->t[++i].s, &hb) != 0 || hb < 1000) {
                snprintf(err, elen, "heartbeat: expected a duration like 5m, got \"%s\"",
                         lt->t[i].s);
                return -1;
            }
        } else if (strcmp(lt->t[i].s, "elder") == 0 && i + 1 < lt->n) {
            eid = lt->t[++i].s;
        } else {
            goto usage;
        }
    }
    if (!eid)
        goto usage;
    struct reg_elder *old = reg_find_elder(&t->reg, eid);
    if (!old) {
        snprintf(err, elen, "device %s: no elder %s defined above", lt->t[1].s, eid);
        return -1;
    }
    if (reg_find_device(&t->reg, lt->t[1].s)) {
        snprintf(err, elen, "device %s is already defined", lt->t[1].s);
        return -1;
    }
    /* Devices live inside their elder: rebuild the elder with one more. */
    struct reg_device *nd = realloc(old->devices, (old->n_devices + 1) * sizeof *nd);
    if (!nd)
        return ANX_ENOMEM;
    /* realloc moved the devices: the registry's map must forget them first. */
    old->devices = nd;
    struct reg_device *d = &nd[old->n_devices];
    memset(d, 0, sizeof *d);
    d->id = strdup(lt->t[1].s);
    d->kind = strdup(lt->t[2].s);
    d->heartbeat_s = (uint32_t)(hb / 1000);
    old->n_devices++;
    for (size_t i = 0; i < old->n_devices; i++) {
        nd[i].elder = old;
        strmap_put(&t->reg.devices, nd[i].id, &nd[i], NULL);
    }
    return 0;
usage:
    snprintf(err, elen, "expected: device ID KIND [heartbeat DURATION] elder ELDER");
    return -1;
}

static int add_msg(struct test *t, int64_t at, int line, const struct tlm_msg *m)
{
    if (t->n_msgs == t->cap_msgs) {
        size_t nc = t->cap_msgs ? t->cap_msgs * 2 : 64;
        struct msg_at *nm = realloc(t->msgs, nc * sizeof *nm);
        if (!nm)
            return ANX_ENOMEM;
        t->msgs = nm;
        t->cap_msgs = nc;
    }
    t->msgs[t->n_msgs++] = (struct msg_at){at, line, *m};
    return 0;
}

static int st_send(struct test *t, const struct line_toks *lt, int line, char *err, size_t elen)
{
    /* send DEVICE at T [every D until T2] : metric V [, metric V] [, event NAME] */
    int colon = -1;
    for (int i = 0; i < lt->n; i++)
        if (!lt->t[i].quoted && strcmp(lt->t[i].s, ":") == 0) {
            colon = i;
            break;
        }
    int64_t at, every = 0, until = 0;
    if (colon < 0 || lt->n < 4 || strcmp(lt->t[2].s, "at") != 0 || parse_time(lt->t[3].s, &at))
        goto usage;
    if (colon == 8 && strcmp(lt->t[4].s, "every") == 0 && strcmp(lt->t[6].s, "until") == 0) {
        if (parse_time(lt->t[5].s, &every) || every <= 0 || parse_time(lt->t[7].s, &until) ||
            until < at)
            goto usage;
    } else if (colon != 4) {
        goto usage;
    }
    struct tlm_msg m;
    memset(&m, 0, sizeof m);
    scopy(m.device_id, sizeof m.device_id, lt->t[1].s);
    for (int i = colon + 1; i < lt->n;) {
        const char *w = lt->t[i].s;
        if (strcmp(w, ",") == 0) {
            i++;
            continue;
        }
        if (i + 1 >= lt->n)
            goto usage;
        const char *v = lt->t[i + 1].s;
        if (strcmp(w, "event") == 0) {
            if (m.n_events == TLM_MAX_EVENTS)
                goto usage;
            scopy(m.events[m.n_events++], TLM_MAX_NAME + 1, v);
        } else {
            if (m.n_metrics == TLM_MAX_METRICS)
                goto usage;
            struct tlm_metric *mm = &m.metrics[m.n_metrics++];
            scopy(mm->name, sizeof mm->name, w);
            if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) {
                mm->is_bool = true;
                mm->value = v[0] == 't';
            } else {
                char *end;
                errno = 0;
                mm->value = strtod(v, &end);
                if (*end || errno || !isfinite(mm->value)) {
                    snprintf(err, elen, "%s: expected a number, true or false, got \"%s\"",
                             w, v);
                    return -1;
                }
            }
        }
        i += 2;
    }
    if (!every)
        return add_msg(t, at, line, &m);
    if ((until - at) / every > 1000000) {
        snprintf(err, elen, "more than a million messages in one send line");
        return -1;
    }
    for (int64_t x = at; x <= until; x += every)
        if (add_msg(t, x, line, &m))
            return ANX_ENOMEM;
    return 0;
usage:
    snprintf(err, elen, "expected: send DEVICE at TIME [every DURATION until TIME]: "
                        "metric VALUE, ..., event NAME");
    return -1;
}

static int st_expect(struct test *t, const struct line_toks *lt, char *err, size_t elen)
{
    struct expect x = {0};
    int i = 4;
    if (lt->n < 5 || strcmp(lt->t[1].s, "at") != 0 || parse_time(lt->t[2].s, &x.t) ||
        strcmp(lt->t[3].s, ":") != 0)
        goto usage;
    if (strcmp(lt->t[i].s, "no") == 0 && i + 1 < lt->n && strcmp(lt->t[i + 1].s, "alerts") == 0) {
        x.kind = EX_NO_ALERTS;
        i += 2;
    } else if (strcmp(lt->t[i].s, "no") == 0 && i + 1 < lt->n) {
        x.kind = EX_NOT;
        scopy(x.rule, sizeof x.rule, lt->t[i + 1].s);
        i += 2;
    } else if (i + 1 < lt->n && strcmp(lt->t[i + 1].s, "firing") == 0) {
        x.kind = EX_FIRING;
        scopy(x.rule, sizeof x.rule, lt->t[i].s);
        i += 2;
    } else if (i + 1 < lt->n && strcmp(lt->t[i + 1].s, "cleared") == 0) {
        x.kind = EX_CLEARED;
        scopy(x.rule, sizeof x.rule, lt->t[i].s);
        i += 2;
    } else if (i + 3 < lt->n && strcmp(lt->t[i + 1].s, "fired") == 0 &&
               (strcmp(lt->t[i + 3].s, "times") == 0 || strcmp(lt->t[i + 3].s, "time") == 0)) {
        x.kind = EX_FIRED_N;
        scopy(x.rule, sizeof x.rule, lt->t[i].s);
        x.n = atoi(lt->t[i + 2].s);
        i += 4;
    } else {
        goto usage;
    }
    if (i + 1 < lt->n && strcmp(lt->t[i].s, "for") == 0) {
        scopy(x.elder, sizeof x.elder, lt->t[i + 1].s);
        i += 2;
    }
    if (i != lt->n)
        goto usage;
    if (t->n_ex == t->cap_ex) {
        size_t nc = t->cap_ex ? t->cap_ex * 2 : 16;
        struct expect *ne = realloc(t->ex, nc * sizeof *ne);
        if (!ne)
            return ANX_ENOMEM;
        t->ex = ne;
        t->cap_ex = nc;
    }
    t->ex[t->n_ex++] = x;
    return 0;
usage:
    snprintf(err, elen, "expected: expect at TIME: RULE firing | no RULE | RULE cleared | "
                        "RULE fired N times | no alerts  [for ELDER]");
    return -1;
}

/* ---- running ------------------------------------------------------------ */

static struct last_why *why_slot(struct test *t, const char *elder, const char *rule)
{
    char key[sizeof t->why[0].key];
    snprintf(key, sizeof key, "%s\x1f%s", elder, rule);
    for (size_t i = 0; i < t->n_why; i++)
        if (strcmp(t->why[i].key, key) == 0)
            return &t->why[i];
    if (t->n_why == t->cap_why) {
        size_t nc = t->cap_why ? t->cap_why * 2 : 8;
        struct last_why *nw = realloc(t->why, nc * sizeof *nw);
        if (!nw)
            return NULL;
        t->why = nw;
        t->cap_why = nc;
    }
    struct last_why *w = &t->why[t->n_why++];
    memset(w, 0, sizeof *w);
    scopy(w->key, sizeof w->key, key);
    return w;
}

static void on_alert(void *arg, const struct sim_alert_event *e)
{
    struct test *t = arg;
    struct last_why *w = why_slot(t, e->alert->elder_id, e->alert->rule);
    if (!w)
        return;
    w->t = e->ev->at_ms - t->start;
    snprintf(w->what, sizeof w->what, "%s",
             e->action == ALERT_ACT_CLEAR ? "cleared" : "fired");
    snprintf(w->why, sizeof w->why, "%s", e->ev->why);
}

static bool any_live(const struct alert_table *at, const char *rule, const char *elder)
{
    if (elder[0])
        return alert_find_live(at, elder, rule) != NULL;
    size_t it = 0;
    void *v;
    while (strmap_next(&at->by_id, &it, NULL, &v))
        if (strcmp(((struct alert *)v)->rule, rule) == 0)
            return true;
    return false;
}

static void counts(const struct sim *s, const struct test *t, const char *rule,
                   const char *elder, int *fired, int *cleared)
{
    *fired = *cleared = 0;
    size_t it = 0;
    void *v;
    while (strmap_next(&t->reg.elders, &it, NULL, &v)) {
        const struct reg_elder *e = v;
        if (elder[0] && strcmp(e->id, elder) != 0)
            continue;
        int f, c;
        sim_counts(s, e->id, rule, &f, &c);
        *fired += f;
        *cleared += c;
    }
}

/* Explains the rule's last event for a failure message. */
static void last_event(struct test *t, const char *rule, const char *elder, char *out, size_t len)
{
    const struct last_why *best = NULL;
    for (size_t i = 0; i < t->n_why; i++) {
        const char *sep = strchr(t->why[i].key, '\x1f');
        if (!sep || strcmp(sep + 1, rule) != 0)
            continue;
        if (elder[0] && (strncmp(t->why[i].key, elder, (size_t)(sep - t->why[i].key)) != 0 ||
                         strlen(elder) != (size_t)(sep - t->why[i].key)))
            continue;
        if (!best || t->why[i].t > best->t)
            best = &t->why[i];
    }
    if (!best) {
        snprintf(out, len, "it never fired");
        return;
    }
    char at[32];
    fmt_rel(at, sizeof at, best->t);
    snprintf(out, len, "last %s at %s: %s", best->what, at, best->why[0] ? best->why : "-");
}

static int check(struct test *t, const struct sim *s, const struct expect *x,
                 struct rtest_result *res)
{
    const struct alert_table *at = sim_alerts(s);
    char when[32], ctx[300], who[TLM_MAX_ID + 8];
    fmt_rel(when, sizeof when, x->t);
    snprintf(who, sizeof who, "%s%s", x->elder[0] ? " for " : "", x->elder);
    int fired, cleared;
    counts(s, t, x->rule, x->elder, &fired, &cleared);
    last_event(t, x->rule, x->elder, ctx, sizeof ctx);
    bool live = x->kind != EX_NO_ALERTS && any_live(at, x->rule, x->elder);
    switch (x->kind) {
    case EX_FIRING:
        if (live)
            return 0;
        return push_msg(&res->failures, &res->n_failures,
                        "line %d, at %s: expected %s firing%s, but no alert is live (%s)",
                        x->line, when, x->rule, who, ctx);
    case EX_NOT:
        if (!live)
            return 0;
        return push_msg(&res->failures, &res->n_failures,
                        "line %d, at %s: expected no %s%s, but it is firing (%s)", x->line, when,
                        x->rule, who, ctx);
    case EX_CLEARED:
        if (!live && cleared > 0)
            return 0;
        return push_msg(&res->failures, &res->n_failures,
                        "line %d, at %s: expected %s cleared%s, but %s (%s)", x->line, when,
                        x->rule, who, live ? "it is still firing" : "it never cleared", ctx);
    case EX_FIRED_N:
        if (fired == x->n)
            return 0;
        return push_msg(&res->failures, &res->n_failures,
                        "line %d, at %s: expected %s to have fired %d time(s)%s, but it fired "
                        "%d time(s) (%s)", x->line, when, x->rule, x->n, who, fired, ctx);
    case EX_NO_ALERTS:
        if (at->by_id.len == 0)
            return 0;
        {
            size_t it = 0;
            void *v;
            strmap_next(&at->by_id, &it, NULL, &v);
            const struct alert *a = v;
            return push_msg(&res->failures, &res->n_failures,
                            "line %d, at %s: expected no alerts, but %zu are live (e.g. %s for "
                            "%s)", x->line, when, at->by_id.len, a->rule, a->elder_id);
        }
    }
    return 0;
}

static int cmp_msg(const void *a, const void *b)
{
    const struct msg_at *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->line - y->line;   /* same time: file order */
}

static int cmp_ex(const void *a, const void *b)
{
    const struct expect *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->line - y->line;
}

static int run_test(struct test *t, const struct rule_set *rs, int utc_offset,
                    struct rtest_result *res)
{
    /* qsort is not stable; ties are broken by line, which keeps file order
     * for messages of the same line too (they have distinct times). */
    if (t->n_msgs)
        qsort(t->msgs, t->n_msgs, sizeof *t->msgs, cmp_msg);
    if (t->n_ex)
        qsort(t->ex, t->n_ex, sizeof *t->ex, cmp_ex);
    struct sim *s = sim_new(&t->reg, rs, utc_offset, t->start, on_alert, t);
    if (!s)
        return ANX_ENOMEM;
    size_t mi = 0;
    int rc = 0;
    for (size_t ei = 0; ei < t->n_ex && rc == 0; ei++) {
        const struct expect *x = &t->ex[ei];
        while (mi < t->n_msgs && t->msgs[mi].t <= x->t) {
            sim_decoded(s, &t->msgs[mi].m, t->start + t->msgs[mi].t);
            mi++;
        }
        sim_advance(s, t->start + x->t);
        rc = check(t, s, x, res);
    }
    sim_free(s);
    res->passed = rc == 0 && res->n_failures == 0;
    return rc;
}

/* Parses "YYYY-MM-DD HH:MM" local time into ms since the epoch. */
static int parse_start(const char *date, const char *time, int utc_offset, int64_t *out)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.10sT%.5s:00Z", date, time);
    if (strlen(date) != 10 || strlen(time) != 5)
        return -1;
    int64_t ms;
    if (tlm_parse_rfc3339(buf, &ms) != 0)
        return -1;
    *out = ms - (int64_t)utc_offset * 60000;
    return 0;
}

int rtest_run(const char *file, const char *text, size_t len, const struct rule_set *rs,
              int utc_offset, struct rtest_report *rep)
{
    memset(rep, 0, sizeof *rep);
    struct test cur;
    memset(&cur, 0, sizeof cur);
    bool in_test = false;
    int64_t start = DEFAULT_START_MS - (int64_t)utc_offset * 60000;
    const char *p = text, *end = text + len;
    int line = 0, rc = 0;
    char err[300];

    while (p < end && rc == 0) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        line++;
        struct line_toks lt;
        if (tokenize(p, eol, &lt, err, sizeof err) != 0) {
            rc = push_msg(&rep->errors, &rep->n_errors, "%s:%d: %s", file, line, err);
            p = eol + 1;
            continue;
        }
        p = eol + 1;
        if (lt.n == 0)
            continue;
        const char *w = lt.t[0].s;
        int r = 0;
        err[0] = '\0';
        if (!in_test) {
            if (strcmp(w, "start") == 0 && lt.n == 3) {
                if (parse_start(lt.t[1].s, lt.t[2].s, utc_offset, &start) != 0)
                    snprintf(err, sizeof err, "expected: start YYYY-MM-DD HH:MM (local time)");
            } else if (strcmp(w, "test") == 0 && lt.n == 3 && lt.t[1].quoted &&
                       strcmp(lt.t[2].s, "{") == 0) {
                in_test = true;
                memset(&cur, 0, sizeof cur);
                scopy(cur.name, sizeof cur.name, lt.t[1].s);
                cur.line = line;
                cur.start = start;
            } else {
                snprintf(err, sizeof err, "expected: test \"NAME\" {   or   start DATE TIME");
            }
        } else if (strcmp(w, "}") == 0 && lt.n == 1) {
            in_test = false;
            if (rep->n_errors == 0) {
                struct rtest_result *nr = realloc(rep->tests, (rep->n_tests + 1) * sizeof *nr);
                if (!nr) {
                    rc = ANX_ENOMEM;
                } else {
                    rep->tests = nr;
                    struct rtest_result *res = &nr[rep->n_tests++];
                    memset(res, 0, sizeof *res);
                    scopy(res->name, sizeof res->name, cur.name);
                    res->line = cur.line;
                    if (cur.n_ex == 0)
                        push_msg(&res->failures, &res->n_failures,
                                 "line %d: the test expects nothing", cur.line);
                    else
                        rc = run_test(&cur, rs, utc_offset, res);
                    res->passed = res->n_failures == 0;
                    if (res->passed)
                        rep->n_passed++;
                    else
                        rep->n_failed++;
                }
            }
            test_clear(&cur);
        } else if (strcmp(w, "elder") == 0) {
            r = st_elder(&cur, &lt, err, sizeof err);
        } else if (strcmp(w, "device") == 0) {
            r = st_device(&cur, &lt, err, sizeof err);
        } else if (strcmp(w, "send") == 0) {
            r = st_send(&cur, &lt, line, err, sizeof err);
        } else if (strcmp(w, "expect") == 0) {
            r = st_expect(&cur, &lt, err, sizeof err);
            if (r == 0)
                cur.ex[cur.n_ex - 1].line = line;
        } else {
            snprintf(err, sizeof err, "unknown statement \"%.40s\" (elder, device, send, expect)", w);
        }
        /* A statement's syntax error returns -1, which is also ANX_ENOMEM:
         * only a failure without a message is out of memory. */
        if (err[0])
            rc = push_msg(&rep->errors, &rep->n_errors, "%s:%d: %s", file, line, err);
        else if (r == ANX_ENOMEM)
            rc = r;
    }
    if (in_test && rc == 0)
        rc = push_msg(&rep->errors, &rep->n_errors, "%s:%d: test \"%s\" has no closing }", file,
                      cur.line, cur.name);
    test_clear(&cur);
    if (rc)
        return rc;
    return rep->n_errors ? ANX_EPARSE : 0;
}

void rtest_report_free(struct rtest_report *r)
{
    for (size_t i = 0; i < r->n_tests; i++) {
        for (size_t k = 0; k < r->tests[i].n_failures; k++)
            free(r->tests[i].failures[k]);
        free(r->tests[i].failures);
    }
    free(r->tests);
    for (size_t i = 0; i < r->n_errors; i++)
        free(r->errors[i]);
    free(r->errors);
    memset(r, 0, sizeof *r);
}
