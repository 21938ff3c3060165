/* test_engine.c - unit tests for the rule engine (lib/engine.c), driven by
 * hand on a virtual clock: the metric/event index, event and state rules,
 * sustained thresholds, windows and absence firing on time without
 * messages, who and when a rule applies, care-plan parameters, suppression,
 * the explanations of FIRE events, snapshots (round trip, changed rules,
 * corrupt input), reloads (eng_transfer), forgetting devices, and rule sets
 * larger than 256 rules on one metric or 65 536 rules in all. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "err.h"
#include "registry.h"
#include "rule.h"
#include "telemetry.h"

#define SEC 1000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
#define TZ 480                          /* the county's UTC offset: +08:00 */
/* 2026-01-05 00:00 at +08:00, a Monday (2026-01-04 16:00 UTC). */
#define T0 1767542400000LL
/* Local time at +08:00: day d after T0 (0 = Monday), h:m. */
#define L(d, h, m) (T0 + (d) * DAY + (h) * HOUR + (m) * MIN)

/* The chain every rule uses and the device kinds of the tests. */
static const char COMMON[] =
    "chain c {\n"
    "    at 0s notify console\n"
    "}\n"
    "device water_meter heartbeat 15m\n"
    "device wearable heartbeat 1m\n"
    "device bathroom_sensor heartbeat 10m\n"
    "device door_sensor heartbeat 10m\n"
    "device sos_button heartbeat 5m\n";

/* ---- recording what the engine emits ----------------------------------- */

struct rec {
    enum eng_event_kind kind;
    char rule[RULE_NAME_MAX + 1];
    char dev[TLM_MAX_ID + 1];
    char elder[TLM_MAX_ID + 1];
    int64_t at;
    char event[TLM_MAX_NAME + 1];
    bool has_value;
    double value;
    char why[240];
};

#define MAX_RECS 512

struct fx {
    struct rule_set *rs;
    struct registry reg;
    struct eng *e;
    struct rec recs[MAX_RECS];
    size_t n;
};

static void on_event(void *arg, const struct eng_event *ev)
{
    struct fx *f = arg;
    if (f->n == MAX_RECS)
        fail_msg("too many engine events");
    struct rec *r = &f->recs[f->n++];
    memset(r, 0, sizeof *r);
    r->kind = ev->kind;
    snprintf(r->rule, sizeof r->rule, "%s", ev->rule->name);
    snprintf(r->dev, sizeof r->dev, "%s", ev->device ? ev->device->id : "-");
    snprintf(r->elder, sizeof r->elder, "%s", ev->elder ? ev->elder->id : "-");
    r->at = ev->at_ms;
    snprintf(r->event, sizeof r->event, "%s", ev->event ? ev->event : "");
    r->has_value = ev->has_value;
    r->value = ev->value;
    snprintf(r->why, sizeof r->why, "%s", ev->why);
}

static void dump_recs(const struct fx *f)
{
    for (size_t i = 0; i < f->n; i++) {
        const struct rec *r = &f->recs[i];
        fprintf(stderr, "  %zu: %s %s %s at T0%+lld ms: %s\n", i,
                r->kind == ENG_FIRE ? "FIRE" : "CLEAR", r->rule, r->dev,
                (long long)(r->at - T0), r->why);
    }
}

/* ---- building rule sets, registries and messages ------------------------ */

static struct rule_set *load_rules(const char *text)
{
    struct rule_set *rs = rule_set_new();
    struct rule_diags d = {0};
    assert_non_null(rs);
    int rc1 = rule_parse(rs, "common.rules", COMMON, strlen(COMMON), &d);
    int rc2 = rule_parse(rs, "t.rules", text, strlen(text), &d);
    int rc3 = rc1 || rc2 ? -1 : rule_check(rs, &d);
    if (rc1 || rc2 || rc3 || d.n_errors) {
        for (size_t i = 0; i < d.n; i++) {
            char b[512];
            rule_diag_format(&d.items[i], b, sizeof b);
            fprintf(stderr, "  %s\n", b);
        }
        fprintf(stderr, "rules:\n%s\n", text);
    }
    assert_int_equal(rc1, 0);
    assert_int_equal(rc2, 0);
    assert_int_equal(rc3, 0);
    assert_int_equal(d.n_errors, 0);
    rule_diags_free(&d);
    return rs;
}

static void add_elder(struct registry *reg, const char *json)
{
    struct reg_elder *el = NULL;
    char err[200] = "";
    int rc = reg_elder_from_json(json, strlen(json), &el, err, sizeof err);
    if (rc)
        fail_msg("reg_elder_from_json: %s in %s", err, json);
    assert_int_equal(reg_put(reg, el), 0);
}

static struct fx *fx_new(const char *rules, int utc_offset)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->rs = load_rules(rules);
    f->e = eng_new(f->rs, utc_offset);
    assert_non_null(f->e);
    return f;
}

static void fx_free(struct fx *f)
{
    eng_free(f->e);
    rule_set_free(f->rs);
    reg_clear(&f->reg);
    free(f);
}

static const struct reg_device *dev_of(const struct fx *f, const char *id)
{
    const struct reg_device *d = reg_find_device(&f->reg, id);
    if (!d)
        fail_msg("no device %s in the registry", id);
    return d;
}

/* A message from spec: "hr.bpm=142 room.bathroom=true !sos" ("!x" = event x). */
static void build_msg(struct tlm_msg *m, const char *dev, const char *spec)
{
    memset(m, 0, sizeof *m);
    snprintf(m->device_id, sizeof m->device_id, "%s", dev);
    char buf[512];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *save = NULL, *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        if (w[0] == '!') {
            snprintf(m->events[m->n_events++], TLM_MAX_NAME + 1, "%s", w + 1);
            continue;
        }
        char *eq = strchr(w, '=');
        assert_non_null(eq);
        *eq = '\0';
        struct tlm_metric *mm = &m->metrics[m->n_metrics++];
        snprintf(mm->name, sizeof mm->name, "%s", w);
        if (strcmp(eq + 1, "true") == 0 || strcmp(eq + 1, "false") == 0) {
            mm->is_bool = true;
            mm->value = eq[1] == 't';
        } else {
            mm->value = strtod(eq + 1, NULL);
        }
    }
}

/* Runs what is due by t, as the daemon does before each message. */
static void adv(struct fx *f, int64_t t)
{
    eng_advance(f->e, &f->reg, t, on_event, f);
}

/* Advances to t, then delivers a message received at t. */
static void send(struct fx *f, const char *dev, int64_t t, const char *spec)
{
    struct tlm_msg m;
    build_msg(&m, dev, spec);
    adv(f, t);
    eng_on_message(f->e, dev_of(f, dev), &m, t, on_event, f);
}

static void track(struct fx *f, const char *dev, int64_t since)
{
    eng_track_device(f->e, dev_of(f, dev), since);
}

static size_t count(const struct fx *f, enum eng_event_kind kind, const char *rule,
                    const char *dev)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++)
        if (f->recs[i].kind == kind && (!rule || strcmp(f->recs[i].rule, rule) == 0) &&
            (!dev || strcmp(f->recs[i].dev, dev) == 0))
            n++;
    return n;
}

/* The one event of this rule and device (of any kind); fails if not exactly one. */
static const struct rec *only(const struct fx *f, const char *rule, const char *dev)
{
    const struct rec *found = NULL;
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->recs[i].rule, rule) == 0 && strcmp(f->recs[i].dev, dev) == 0) {
            found = &f->recs[i];
            n++;
        }
    if (n != 1) {
        dump_recs(f);
        fail_msg("expected one event of %s for %s, got %zu", rule, dev, n);
    }
    return found;
}

/* Exactly these events since the last reset, in order: kind, rule, device, at. */
static void expect_only(struct fx *f, size_t n, ...)
{
    va_list ap;
    bool ok = f->n == n;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        int kind = va_arg(ap, int);
        const char *rule = va_arg(ap, const char *);
        const char *dev = va_arg(ap, const char *);
        int64_t at = va_arg(ap, int64_t);
        if (i >= f->n)
            continue;
        const struct rec *r = &f->recs[i];
        if ((int)r->kind != kind || strcmp(r->rule, rule) != 0 || strcmp(r->dev, dev) != 0 ||
            r->at != at) {
            fprintf(stderr, "event %zu: want %s %s %s at T0%+lld\n", i,
                    kind == ENG_FIRE ? "FIRE" : "CLEAR", rule, dev, (long long)(at - T0));
            ok = false;
        }
    }
    va_end(ap);
    if (!ok) {
        fprintf(stderr, "got %zu event(s), want %zu:\n", f->n, n);
        dump_recs(f);
    }
    assert_true(ok);
}

static void reset(struct fx *f)
{
    f->n = 0;
}

static size_t n_states(const struct eng *e)
{
    struct eng_stats st;
    eng_get_stats(e, &st);
    return st.states;
}

static size_t n_devices(const struct eng *e)
{
    struct eng_stats st;
    eng_get_stats(e, &st);
    return st.devices;
}

static size_t n_windows(const struct eng *e)
{
    struct eng_stats st;
    eng_get_stats(e, &st);
    return st.windows;
}

#define FIRE_AT(rule, dev, at) ENG_FIRE, rule, dev, (int64_t)(at)
#define CLEAR_AT(rule, dev, at) ENG_CLEAR, rule, dev, (int64_t)(at)

/* An elder with one device. */
static void elder1(struct fx *f, const char *id, const char *extra, const char *dev,
                   const char *kind, int hb_s)
{
    char json[1024];
    snprintf(json, sizeof json,
             "{\"id\":\"%s\",\"name\":\"n\",\"consent\":true%s%s,"
             "\"devices\":[{\"id\":\"%s\",\"kind\":\"%s\",\"heartbeat_s\":%d}]}",
             id, extra[0] ? "," : "", extra, dev, kind, hb_s);
    add_elder(&f->reg, json);
}

/* ---- the index ---------------------------------------------------------- */

static const char INDEX_RULES[] =
    "rule battery_low {\n"
    "    when battery.pct < 15 %\n"
    "    severity low\n"
    "    chain c\n"
    "}\n"
    "rule heart {\n"
    "    when hr.bpm > 130 bpm for 2m\n"
    "    severity high\n"
    "    chain c\n"
    "}\n"
    "rule water_idle {\n"
    "    when sum(water.flow_l) over 12h < 10 L\n"
    "    clear when sum(water.flow_l) over 1h >= 10 L\n"
    "    severity high\n"
    "    chain c\n"
    "}\n"
    "rule water_meter_only {\n"
    "    when water.flow_l > 100 L\n"
    "    for devices water_meter\n"
    "    severity low\n"
    "    chain c\n"
    "}\n"
    "rule sos {\n"
    "    when event sos\n"
    "    severity critical\n"
    "    chain c\n"
    "}\n";

static void test_index_only_matching_rules(void **state)
{
    (void)state;
    struct fx *f = fx_new(INDEX_RULES, TZ);
    elder1(f, "E1", "", "W-1", "wearable", 60);
    elder1(f, "E2", "", "W-2", "wearable", 60);

    send(f, "W-1", T0, "battery.pct=90");
    assert_int_equal(n_devices(f->e), 1);
    assert_int_equal(n_states(f->e), 1);       /* battery_low only */
    assert_int_equal(n_windows(f->e), 0);

    /* A metric no rule watches creates nothing, not even the device. */
    send(f, "W-2", T0, "gps.lat=30.5 door.open=true");
    assert_int_equal(n_devices(f->e), 1);
    assert_int_equal(n_states(f->e), 1);

    /* water.flow_l from a wearable: water_idle (two windows), not the
     * water_meter_only rule (out of its scope). */
    send(f, "W-1", T0 + MIN, "water.flow_l=1");
    assert_int_equal(n_states(f->e), 2);
    assert_int_equal(n_windows(f->e), 2);

    /* An event creates state for its event rule alone. */
    send(f, "W-2", T0 + MIN, "!sos");
    assert_int_equal(n_devices(f->e), 2);
    assert_int_equal(n_states(f->e), 3);
    assert_int_equal(count(f, ENG_FIRE, "sos", "W-2"), 1);

    /* The same metric again adds nothing. */
    send(f, "W-1", T0 + 2 * MIN, "battery.pct=80 water.flow_l=2");
    assert_int_equal(n_states(f->e), 3);
    assert_int_equal(f->n, 1);
    fx_free(f);
}

/* ---- event rules and state rules ---------------------------------------- */

static const char EVENT_RULES[] =
    "rule sos {\n"
    "    when event sos\n"
    "    severity critical\n"
    "    chain c\n"
    "}\n"
    "rule hazard {\n"
    "    when event smoke, gas\n"
    "    severity critical\n"
    "    chain c\n"
    "}\n";

static void test_event_rule_fires_every_time_never_clears(void **state)
{
    (void)state;
    struct fx *f = fx_new(EVENT_RULES, TZ);
    elder1(f, "E1", "", "S-1", "sos_button", 300);

    send(f, "S-1", T0, "!sos");
    send(f, "S-1", T0 + MIN, "!sos battery.pct=50");
    send(f, "S-1", T0 + 2 * MIN, "battery.pct=50");
    send(f, "S-1", T0 + 3 * MIN, "!wander");
    send(f, "S-1", T0 + 4 * MIN, "!sos");
    send(f, "S-1", T0 + 5 * MIN, "!gas");
    send(f, "S-1", T0 + 6 * MIN, "!smoke !sos");
    adv(f, T0 + 30 * DAY);
    expect_only(f, 6, FIRE_AT("sos", "S-1", T0), FIRE_AT("sos", "S-1", T0 + MIN),
                FIRE_AT("sos", "S-1", T0 + 4 * MIN), FIRE_AT("hazard", "S-1", T0 + 5 * MIN),
                FIRE_AT("sos", "S-1", T0 + 6 * MIN), FIRE_AT("hazard", "S-1", T0 + 6 * MIN));
    assert_string_equal(f->recs[0].event, "sos");
    assert_string_equal(f->recs[0].why, "event sos");
    assert_string_equal(f->recs[0].elder, "E1");
    assert_false(f->recs[0].has_value);
    assert_string_equal(f->recs[3].event, "gas");
    assert_string_equal(f->recs[3].why, "event gas");
    assert_string_equal(f->recs[5].event, "smoke");
    assert_false(eng_is_firing(f->e, "S-1", "sos"));
    assert_int_equal(eng_next_due(f->e), INT64_MAX);
    fx_free(f);
}

static const char STATE_RULES[] =
    "rule battery_low {\n"
    "    when battery.pct < 15 %\n"
    "    severity low\n"
    "    chain c\n"
    "}\n"
    "rule battery_hyst {\n"
    "    when battery.pct < 15 %\n"
    "    clear when battery.pct > 20 %\n"
    "    severity low\n"
    "    chain c\n"
    "}\n";

static void test_state_rule_rising_edge_and_clear(void **state)
{
    (void)state;
    struct fx *f = fx_new(STATE_RULES, TZ);
    elder1(f, "E1", "", "S-1", "sos_button", 300);

    send(f, "S-1", T0, "battery.pct=14");
    expect_only(f, 2, FIRE_AT("battery_low", "S-1", T0), FIRE_AT("battery_hyst", "S-1", T0));
    assert_true(f->recs[0].has_value);
    assert_true(f->recs[0].value == 14.0);
    assert_string_equal(f->recs[0].why, "battery.pct 14 < 15 %");
    assert_true(eng_is_firing(f->e, "S-1", "battery_low"));

    /* Still true: no second FIRE. */
    reset(f);
    send(f, "S-1", T0 + MIN, "battery.pct=13");
    send(f, "S-1", T0 + 2 * MIN, "battery.pct=12");
    assert_int_equal(f->n, 0);

    /* 16: the default clear (no longer true); the hysteresis rule holds on. */
    send(f, "S-1", T0 + 3 * MIN, "battery.pct=16");
    expect_only(f, 1, CLEAR_AT("battery_low", "S-1", T0 + 3 * MIN));
    assert_string_equal(f->recs[0].why, "condition no longer holds");
    assert_false(eng_is_firing(f->e, "S-1", "battery_low"));
    assert_true(eng_is_firing(f->e, "S-1", "battery_hyst"));

    /* 21 clears the hysteresis rule by its own `clear when`. */
    reset(f);
    send(f, "S-1", T0 + 4 * MIN, "battery.pct=18");
    assert_int_equal(f->n, 0);
    send(f, "S-1", T0 + 5 * MIN, "battery.pct=21");
    expect_only(f, 1, CLEAR_AT("battery_hyst", "S-1", T0 + 5 * MIN));
    assert_string_equal(f->recs[0].why, "battery.pct 21 > 20 %");
    assert_false(eng_is_firing(f->e, "S-1", "battery_hyst"));

    /* Falling again fires both again, once. */
    reset(f);
    send(f, "S-1", T0 + 6 * MIN, "battery.pct=10");
    send(f, "S-1", T0 + 7 * MIN, "battery.pct=9");
    expect_only(f, 2, FIRE_AT("battery_low", "S-1", T0 + 6 * MIN),
                FIRE_AT("battery_hyst", "S-1", T0 + 6 * MIN));
    assert_false(eng_is_firing(f->e, "S-1", "nonesuch"));
    assert_false(eng_is_firing(f->e, "S-9", "battery_low"));
    fx_free(f);
}

/* ---- sustained thresholds ------------------------------------------------ */

static const char SUSTAINED_RULES[] =
    "rule heart {\n"
    "    when hr.bpm > 130 bpm for 2m\n"
    "    severity high\n"
    "    chain c\n"
    "}\n"
    "rule bathroom_long {\n"
    "    when room.bathroom is true for 4h\n"
    "    clear when room.bathroom is false\n"
    "    severity high\n"
    "    chain c\n"
    "}\n";

static void test_sustained_fires_on_time(void **state)
{
    (void)state;
    struct fx *f = fx_new(SUSTAINED_RULES, TZ);
    elder1(f, "E1", "", "W-1", "wearable", 60);
    elder1(f, "E2", "", "B-1", "bathroom_sensor", 600);

    send(f, "W-1", T0, "hr.bpm=142");
    assert_int_equal(eng_next_due(f->e), T0 + 2 * MIN);
    send(f, "W-1", T0 + MIN, "hr.bpm=150");     /* still above: since stays */
    assert_int_equal(eng_next_due(f->e), T0 + 2 * MIN);
    adv(f, T0 + 2 * MIN - 1);
    assert_int_equal(f->n, 0);
    adv(f, T0 + 2 * MIN);
    expect_only(f, 1, FIRE_AT("heart", "W-1", T0 + 2 * MIN));
    assert_string_equal(f->recs[0].why, "hr.bpm 150 > 130 bpm for 2m");
    assert_true(f->recs[0].value == 150.0);
    assert_int_equal(eng_next_due(f->e), INT64_MAX);

    /* Without any further message, 4 hours after the bathroom became occupied. */
    reset(f);
    send(f, "B-1", T0 + HOUR, "room.bathroom=true");
    assert_int_equal(eng_next_due(f->e), T0 + 5 * HOUR);
    adv(f, T0 + 5 * HOUR - 1);
    assert_int_equal(f->n, 0);
    adv(f, T0 + 6 * HOUR);
    expect_only(f, 1, FIRE_AT("bathroom_long", "B-1", T0 + 5 * HOUR));
    assert_string_equal(f->recs[0].why, "room.bathroom is true for 4h");
    send(f, "B-1", T0 + 7 * HOUR, "room.bathroom=false");
    expect_only(f, 2, FIRE_AT("bathroom_long", "B-1", T0 + 5 * HOUR),
                CLEAR_AT("bathroom_long", "B-1", T0 + 7 * HOUR));
    assert_string_equal(f->recs[1].why, "room.bathroom is false");
    fx_free(f);
}

static void test_sustained_reset_by_drop(void **state)
{
    (void)state;
    struct fx *f = fx_new(SUSTAINED_RULES, TZ);
    elder1(f, "E1", "", "W-1", "wearable", 60);

    send(f, "W-1", T0, "hr.bpm=142");
    send(f, "W-1", T0 + MIN, "hr.bpm=80");
    send(f, "W-1", T0 + 90 * SEC, "hr.bpm=140");
    adv(f, T0 + 2 * MIN);
    adv(f, T0 + 3 * MIN + 29 * SEC);
    assert_int_equal(f->n, 0);
    assert_int_equal(eng_next_due(f->e), T0 + 3 * MIN + 30 * SEC);
    adv(f, T0 + 10 * MIN);
    expect_only(f, 1, FIRE_AT("heart", "W-1", T0 + 3 * MIN + 30 * SEC));
    assert_string_equal(f->recs[0].why, "hr.bpm 140 > 130 bpm for 2m");

    /* Exactly at the threshold is not above it. */
    reset(f);
    send(f, "W-1", T0 + 20 * MIN, "hr.bpm=130");
    expect_only(f, 1, CLEAR_AT("heart", "W-1", T0 + 20 * MIN));
    send(f, "W-1", T0 + 21 * MIN, "hr.bpm=130");
    adv(f, T0 + HOUR);
    assert_int_equal(f->n, 1);
    fx_free(f);
}

/* ---- windows ------------------------------------------------------------- */

static const char WINDOW_RULES[] =
    "rule water_idle {\n"
    "    when sum(water.flow_l) over 12h < 10 L\n"
    "    severity high\n"
    "    chain c\n"
    "}\n"
    "rule hr_avg {\n"
    "    when avg(hr.bpm) over 10m > 100 bpm\n"
    "    severity high\n"
    "    chain c\n"
    "}\n";

static void test_window_fires_when_first_full(void **state)
{
    (void)state;
    struct fx *f = fx_new(WINDOW_RULES, TZ);
    elder1(f, "E1", "", "WM-1", "water_meter", 900);

    /* Not full yet: nothing, however little water, but the moment it is full is due. */
    send(f, "WM-1", T0, "water.flow_l=0");
    assert_int_equal(eng_next_due(f->e), T0 + 12 * HOUR);
    send(f, "WM-1", T0 + 6 * HOUR, "water.flow_l=1.5");
    send(f, "WM-1", T0 + 11 * HOUR, "water.flow_l=2");
    assert_int_equal(eng_next_due(f->e), T0 + 12 * HOUR);
    adv(f, T0 + 12 * HOUR - 1);
    assert_int_equal(f->n, 0);
    adv(f, T0 + 12 * HOUR);
    expect_only(f, 1, FIRE_AT("water_idle", "WM-1", T0 + 12 * HOUR));
    assert_true(f->recs[0].has_value);
    assert_true(f->recs[0].value == 3.5);
    assert_string_equal(f->recs[0].why, "sum(water.flow_l) over 12h = 3.5 < 10 L");

    fx_free(f);

    /* Enough water: full at T0 + 13h but quiet; quiet still until the first
     * 6 L leave, firing when the remaining 5 L are all that is left. */
    f = fx_new(WINDOW_RULES, TZ);
    elder1(f, "E2", "", "WM-2", "water_meter", 900);
    send(f, "WM-2", T0 + HOUR, "water.flow_l=6");
    assert_int_equal(eng_next_due(f->e), T0 + 13 * HOUR);
    send(f, "WM-2", T0 + 3 * HOUR, "water.flow_l=5");
    adv(f, T0 + 13 * HOUR);
    assert_int_equal(f->n, 0);
    /* The 6 L bucket [1h, 1h15m) leaves the window at 13h15m. */
    assert_int_equal(eng_next_due(f->e), T0 + 13 * HOUR + 15 * MIN);
    adv(f, T0 + 13 * HOUR + 15 * MIN - 1);
    assert_int_equal(f->n, 0);
    adv(f, T0 + 14 * HOUR);
    expect_only(f, 1, FIRE_AT("water_idle", "WM-2", T0 + 13 * HOUR + 15 * MIN));
    assert_true(f->recs[0].value == 5.0);
    assert_string_equal(f->recs[0].why, "sum(water.flow_l) over 12h = 5 < 10 L");
    fx_free(f);
}

static void test_window_avg(void **state)
{
    (void)state;
    struct fx *f = fx_new(WINDOW_RULES, TZ);
    elder1(f, "E1", "", "W-1", "wearable", 60);
    for (int i = 0; i < 10; i++)
        send(f, "W-1", T0 + i * MIN, i < 5 ? "hr.bpm=100" : "hr.bpm=120");
    assert_int_equal(f->n, 0);
    assert_int_equal(eng_next_due(f->e), T0 + 10 * MIN);
    adv(f, T0 + 10 * MIN);
    expect_only(f, 1, FIRE_AT("hr_avg", "W-1", T0 + 10 * MIN));
    assert_true(f->recs[0].value == 110.0);
    assert_string_equal(f->recs[0].why, "avg(hr.bpm) over 10m = 110 > 100 bpm");
    fx_free(f);
}

/* Leaves of one rule over the same metric and width read one window; one
 * over another width keeps its own. */
static const char SHARED_RULES[] =
    "rule excess {\n"
    "    when sum(water.flow_l) over 24h > 20 L\n"
    "    clear when sum(water.flow_l) over 24h < 15 L\n"
    "    severity low\n"
    "    chain c\n"
    "}\n"
    "rule hr_band {\n"
    "    when avg(hr.bpm) over 10m > 100 bpm\n"
    "    clear when max(hr.bpm) over 10m < 90 bpm\n"
    "    severity high\n"
    "    chain c\n"
    "}\n"
    "rule burst {\n"
    "    when sum(water.flow_l) over 1h > 50 L\n"
    "    clear when sum(water.flow_l) over 24h < 1 L\n"
    "    severity low\n"
    "    chain c\n"
    "}\n";

static void shared_history(struct fx *f)
{
    send(f, "WM-1", T0, "water.flow_l=10");
    send(f, "WM-1", T0 + HOUR, "water.flow_l=12");
    for (int i = 0; i < 10; i++)
        send(f, "W-1", T0 + i * MIN, "hr.bpm=120");
}

/* After shared_history (and maybe a restore): fires and clears on time. */
static void shared_expect(struct fx *f)
{
    adv(f, T0 + 10 * MIN);
    expect_only(f, 1, FIRE_AT("hr_band", "W-1", T0 + 10 * MIN));
    assert_true(f->recs[0].value == 120.0);
    reset(f);
    /* The 120s leave the 10 minute window (buckets of 12.5 s) between 19
     * and 20 minutes; max then reads the 80s only. */
    for (int i = 10; i <= 25; i++)
        send(f, "W-1", T0 + i * MIN, "hr.bpm=80");
    const struct rec *r = only(f, "hr_band", "W-1");
    assert_int_equal(r->kind, ENG_CLEAR);
    assert_true(r->at > T0 + 19 * MIN && r->at <= T0 + 20 * MIN);
    reset(f);
    /* 22 L over 24 h once watched for 24 h; the first 10 L leave at 24h30m
     * (buckets of 30 min), leaving 12 L < 15 L. */
    adv(f, T0 + 24 * HOUR);
    expect_only(f, 1, FIRE_AT("excess", "WM-1", T0 + 24 * HOUR));
    assert_true(f->recs[0].value == 22.0);
    reset(f);
    adv(f, T0 + 24 * HOUR + 30 * MIN);
    expect_only(f, 1, CLEAR_AT("excess", "WM-1", T0 + 24 * HOUR + 30 * MIN));
    assert_false(eng_is_firing(f->e, "WM-1", "burst"));
}

static void shared_elder(struct fx *f)
{
    add_elder(&f->reg, "{\"id\":\"E1\",\"name\":\"n\",\"consent\":true,\"devices\":["
                       "{\"id\":\"WM-1\",\"kind\":\"water_meter\",\"heartbeat_s\":900},"
                       "{\"id\":\"W-1\",\"kind\":\"wearable\",\"heartbeat_s\":60}]}");
}

static void test_window_shared_by_leaves(void **state)
{
    (void)state;
    struct fx *f = fx_new(SHARED_RULES, TZ);
    shared_elder(f);
    shared_history(f);
    /* excess 1, burst 2 (1 h and 24 h), hr_band 1 (avg and max together). */
    assert_int_equal(n_windows(f->e), 4);
    struct eng_stats st;
    eng_get_stats(f->e, &st);
    size_t shared_bytes = st.bytes;
    shared_expect(f);
    fx_free(f);

    /* The same through a snapshot: saved once, read back shared. */
    f = fx_new(SHARED_RULES, TZ);
    shared_elder(f);
    shared_history(f);
    size_t len;
    uint8_t *buf = eng_snapshot(f->e, &len);
    assert_non_null(buf);
    eng_free(f->e);
    f->e = eng_new(f->rs, TZ);
    assert_non_null(f->e);
    assert_int_equal(eng_restore(f->e, buf, len, T0 + 9 * MIN + 30 * SEC), 0);
    assert_int_equal(n_windows(f->e), 4);
    eng_get_stats(f->e, &st);
    assert_int_equal(st.bytes, shared_bytes);
    reset(f);
    shared_expect(f);
    /* Forgetting a device lets go of its windows once each. */
    eng_forget_device(f->e, "WM-1");
    assert_int_equal(n_windows(f->e), 1);
    free(buf);
    fx_free(f);
}

/* ---- absence ------------------------------------------------------------- */

static const char ABSENCE_RULES[] =
    "rule device_offline {\n"
    "    when no message for 3 x heartbeat\n"
    "    severity low\n"
    "    chain c\n"
    "}\n"
    "rule door_quiet {\n"
    "    when no message for 2h\n"
    "    for devices door_sensor\n"
    "    severity low\n"
    "    chain c\n"
    "}\n";

static void test_absence_own_heartbeat(void **state)
{
    (void)state;
    struct fx *f = fx_new(ABSENCE_RULES, TZ);
    elder1(f, "E1", "", "S-1", "sos_button", 300);
    elder1(f, "E2", "", "S-2", "sos_button", 600);
    track(f, "S-1", T0);
    track(f, "S-2", T0);
    /* Idempotent. */
    track(f, "S-1", T0 + MIN);
    assert_int_equal(n_states(f->e), 2);
    assert_int_equal(eng_next_due(f->e), T0 + 15 * MIN);

    send(f, "S-1", T0 + 10 * MIN, "battery.pct=90");
    adv(f, T0 + 24 * MIN);
    assert_int_equal(f->n, 0);
    assert_int_equal(eng_next_due(f->e), T0 + 25 * MIN);
    adv(f, T0 + 25 * MIN);
    expect_only(f, 1, FIRE_AT("device_offline", "S-1", T0 + 25 * MIN));
    assert_string_equal(f->recs[0].why, "no message for 15m (3 x heartbeat 5m)");
    assert_false(f->recs[0].has_value);
    assert_int_equal(eng_next_due(f->e), T0 + 30 * MIN);
    adv(f, T0 + 2 * HOUR);
    expect_only(f, 2, FIRE_AT("device_offline", "S-1", T0 + 25 * MIN),
                FIRE_AT("device_offline", "S-2", T0 + 30 * MIN));
    assert_string_equal(f->recs[1].why, "no message for 30m (3 x heartbeat 10m)");

    /* A message ends it. */
    reset(f);
    send(f, "S-2", T0 + 3 * HOUR, "battery.pct=90");
    expect_only(f, 1, CLEAR_AT("device_offline", "S-2", T0 + 3 * HOUR));
    assert_false(eng_is_firing(f->e, "S-2", "device_offline"));
    assert_true(eng_is_firing(f->e, "S-1", "device_offline"));
    assert_int_equal(eng_next_due(f->e), T0 + 3 * HOUR + 30 * MIN);
    fx_free(f);
}

static void test_absence_tracking(void **state)
{
    (void)state;
    struct fx *f = fx_new(ABSENCE_RULES, TZ);
    elder1(f, "E1", "", "D-1", "door_sensor", 600);
    /* Seen before the start (the registry remembers it): an hour ago, and two
     * days ago for a device no other rule wakes up. */
    add_elder(&f->reg, "{\"id\":\"E2\",\"name\":\"n\",\"consent\":true,\"devices\":"
                       "[{\"id\":\"D-2\",\"kind\":\"door_sensor\",\"heartbeat_s\":600,"
                       "\"last_seen_ms\":1767538800000}]}");   /* T0 - 1h */
    add_elder(&f->reg, "{\"id\":\"E3\",\"name\":\"n\",\"consent\":true,\"devices\":"
                       "[{\"id\":\"S-3\",\"kind\":\"sos_button\",\"heartbeat_s\":300,"
                       "\"last_seen_ms\":1767369600000}]}");   /* T0 - 2d */

    /* A device never seen counts as seen when tracking starts. */
    track(f, "D-1", T0);
    track(f, "D-2", T0);
    track(f, "S-3", T0);
    assert_int_equal(n_states(f->e), 5);
    /* What is overdue already is due when tracking starts. */
    assert_int_equal(eng_next_due(f->e), T0);
    adv(f, T0 + 30 * MIN);
    assert_int_equal(f->n, 3);
    const struct rec *r = only(f, "device_offline", "D-2");
    assert_int_equal(r->at, T0);
    assert_string_equal(r->why, "no message for 1h (3 x heartbeat 10m)");
    r = only(f, "device_offline", "S-3");
    assert_int_equal(r->at, T0);
    assert_string_equal(r->why, "no message for 2d (3 x heartbeat 5m)");
    r = only(f, "device_offline", "D-1");
    assert_int_equal(r->at, T0 + 30 * MIN);
    assert_string_equal(r->why, "no message for 30m (3 x heartbeat 10m)");
    reset(f);
    adv(f, T0 + 2 * HOUR);
    expect_only(f, 2, FIRE_AT("door_quiet", "D-2", T0 + HOUR),
                FIRE_AT("door_quiet", "D-1", T0 + 2 * HOUR));
    assert_string_equal(f->recs[0].why, "no message for 2h");
    assert_string_equal(f->recs[1].why, "no message for 2h");
    assert_int_equal(eng_next_due(f->e), INT64_MAX);

    /* Tracking again (a reload) changes nothing. */
    reset(f);
    track(f, "S-3", T0 + 3 * HOUR);
    track(f, "D-1", T0 + 3 * HOUR);
    adv(f, T0 + 4 * HOUR);
    assert_int_equal(f->n, 0);
    assert_int_equal(n_states(f->e), 5);
    fx_free(f);
}

/* ---- who a rule is for --------------------------------------------------- */

static const char SCOPE_RULES[] =
    "rule r_all {\n    when battery.pct < 15 %\n    severity low\n    chain c\n}\n"
    "rule r_cat {\n    when battery.pct < 15 %\n    for elders living_alone, empty_nest\n"
    "    severity low\n    chain c\n}\n"
    "rule r_risk {\n    when battery.pct < 15 %\n    for risk high\n"
    "    severity low\n    chain c\n}\n"
    "rule r_risk2 {\n    when battery.pct < 15 %\n    for risk high, medium\n"
    "    severity low\n    chain c\n}\n"
    "rule r_village {\n    when battery.pct < 15 %\n    for village \"东关村\", \"北关村\"\n"
    "    severity low\n    chain c\n}\n"
    "rule r_town {\n    when battery.pct < 15 %\n    for township \"城关镇\"\n"
    "    severity low\n    chain c\n}\n"
    "rule r_kind {\n    when battery.pct < 15 %\n    for devices wearable\n"
    "    severity low\n    chain c\n}\n"
    "rule r_both {\n    when battery.pct < 15 %\n    for elders living_alone\n"
    "    for devices sos_button\n    severity low\n    chain c\n}\n";

static void expect_fired(const struct fx *f, const char *dev, const char *const *rules)
{
    static const char *const all[] = {"r_all", "r_cat", "r_risk", "r_risk2", "r_village",
                                      "r_town", "r_kind", "r_both"};
    bool ok = true;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        bool want = false;
        for (size_t k = 0; rules[k]; k++)
            want |= strcmp(rules[k], all[i]) == 0;
        size_t n = count(f, ENG_FIRE, all[i], dev);
        if (n != (want ? 1u : 0u)) {
            fprintf(stderr, "%s: %s fired %zu time(s), want %d\n", dev, all[i], n, want);
            ok = false;
        }
    }
    assert_true(ok);
}

static void test_scope_static(void **state)
{
    (void)state;
    struct fx *f = fx_new(SCOPE_RULES, TZ);
    add_elder(&f->reg, "{\"id\":\"E1\",\"name\":\"n\",\"consent\":true,"
                       "\"township\":\"城关镇\",\"village\":\"东关村\","
                       "\"categories\":[\"living_alone\"],\"care_plan\":{\"risk\":\"high\"},"
                       "\"devices\":[{\"id\":\"W-1\",\"kind\":\"wearable\"},"
                       "{\"id\":\"S-1\",\"kind\":\"sos_button\"}]}");
    add_elder(&f->reg, "{\"id\":\"E2\",\"name\":\"n\",\"consent\":true,"
                       "\"township\":\"新安镇\",\"village\":\"北关村\","
                       "\"categories\":[\"disabled\",\"empty_nest\"],"
                       "\"care_plan\":{\"risk\":\"low\"},"
                       "\"devices\":[{\"id\":\"W-2\",\"kind\":\"wearable\"}]}");
    add_elder(&f->reg, "{\"id\":\"E3\",\"name\":\"n\",\"consent\":true,"
                       "\"devices\":[{\"id\":\"S-3\",\"kind\":\"sos_button\"}]}");
    add_elder(&f->reg, "{\"id\":\"E4\",\"name\":\"n\",\"consent\":true,"
                       "\"township\":\"城关镇\",\"village\":\"西关村\","
                       "\"categories\":[\"disabled\"],"
                       "\"devices\":[{\"id\":\"S-4\",\"kind\":\"sos_button\"}]}");
    send(f, "W-1", T0, "battery.pct=10");
    send(f, "S-1", T0, "battery.pct=10");
    send(f, "W-2", T0, "battery.pct=10");
    send(f, "S-3", T0, "battery.pct=10");
    send(f, "S-4", T0, "battery.pct=10");
    expect_fired(f, "W-1", (const char *[]){"r_all", "r_cat", "r_risk", "r_risk2", "r_village",
                                            "r_town", "r_kind", NULL});
    expect_fired(f, "S-1", (const char *[]){"r_all", "r_cat", "r_risk", "r_risk2", "r_village",
                                            "r_town", "r_both", NULL});
    expect_fired(f, "W-2", (const char *[]){"r_all", "r_cat", "r_village", "r_kind", NULL});
    /* No categories, medium risk (the default), no place. */
    expect_fired(f, "S-3", (const char *[]){"r_all", "r_risk2", NULL});
    expect_fired(f, "S-4", (const char *[]){"r_all", "r_risk2", "r_town", NULL});
    assert_int_equal(f->n, 7 + 7 + 4 + 2 + 3);
    /* Rules out of scope keep no state for the device. */
    struct eng_stats st;
    eng_get_stats(f->e, &st);
    assert_int_equal(st.states, 7 + 7 + 4 + 2 + 3);
    fx_free(f);
}

/* ---- when a rule applies ------------------------------------------------- */

static const char TIME_RULES[] =
    "rule night_sos {\n    when event sos\n    during 22:00-06:00\n"
    "    severity critical\n    chain c\n}\n"
    "rule weekday_sos {\n    when event sos\n    on mon-fri\n"
    "    severity critical\n    chain c\n}\n"
    "rule friday_night_sos {\n    when event sos\n    during 22:00-06:00\n    on fri\n"
    "    severity critical\n    chain c\n}\n";

/* Sends an SOS at t and says which of the three rules fired for it. */
static unsigned sos_at(struct fx *f, int64_t t)
{
    reset(f);
    send(f, "S-1", t, "!sos");
    unsigned bits = 0;
    for (size_t i = 0; i < f->n; i++) {
        assert_int_equal(f->recs[i].kind, ENG_FIRE);
        assert_int_equal(f->recs[i].at, t);
        bits |= strcmp(f->recs[i].rule, "night_sos") == 0 ? 1u
              : strcmp(f->recs[i].rule, "weekday_sos") == 0 ? 2u : 4u;
    }
    return bits;
}

static void test_time_of_day_and_days(void **state)
{
    (void)state;
    struct fx *f = fx_new(TIME_RULES, TZ);
    elder1(f, "E1", "", "S-1", "sos_button", 300);
    /* Monday. */
    assert_int_equal(sos_at(f, L(0, 12, 0)), 2);
    assert_int_equal(sos_at(f, L(0, 21, 59)), 2);
    assert_int_equal(sos_at(f, L(0, 22, 0)), 1 | 2);
    /* Tuesday early morning, still Monday night. */
    assert_int_equal(sos_at(f, L(1, 2, 0)), 1 | 2);
    assert_int_equal(sos_at(f, L(1, 5, 59)), 1 | 2);
    assert_int_equal(sos_at(f, L(1, 6, 0)), 2);
    /* Friday 02:00 belongs to Thursday night; Friday 23:00 and Saturday
     * 02:00 to Friday night; Saturday 23:00 to Saturday night. */
    assert_int_equal(sos_at(f, L(4, 2, 0)), 1 | 2);
    assert_int_equal(sos_at(f, L(4, 10, 0)), 2);
    assert_int_equal(sos_at(f, L(4, 23, 0)), 1 | 2 | 4);
    assert_int_equal(sos_at(f, L(5, 2, 0)), 1 | 4);
    assert_int_equal(sos_at(f, L(5, 10, 0)), 0);
    assert_int_equal(sos_at(f, L(5, 23, 0)), 1);
    assert_int_equal(sos_at(f, L(6, 23, 59)), 1);
    /* Monday 00:30 local is still Sunday in UTC: the local day counts. */
    assert_int_equal(sos_at(f, L(7, 0, 30)), 1 | 2);
    fx_free(f);

    /* The same instants in an engine at UTC: 22:00 local is 14:00 there. */
    f = fx_new(TIME_RULES, 0);
    elder1(f, "E1", "", "S-1", "sos_button", 300);
    assert_int_equal(sos_at(f, L(0, 6, 0)), 1);    /* Sunday 22:00 UTC */
    assert_int_equal(sos_at(f, L(0, 22, 0)), 2);
    assert_int_equal(sos_at(f, L(7, 0, 30)), 0);   /* Sunday 16:30 UTC */
    fx_free(f);
}

static const char SCOPED_STATE_RULES[] =
    "rule day_battery {\n    when battery.pct < 15 %\n    during 08:00-20:00\n    on mon-fri\n"
    "    severity low\n    chain c\n}\n";

static void test_state_rule_fires_when_scope_opens(void **state)
{
    (void)state;
    struct fx *f = fx_new(SCOPED_STATE_RULES, TZ);
    elder1(f, "E1", "", "S-1", "sos_button", 300);
    elder1(f, "E2", "", "S-2", "sos_button", 300);

    /* Monday 06:00: true, but out of its hours. */
    send(f, "S-1", L(0, 6, 0), "battery.pct=10");
    assert_int_equal(f->n, 0);
    assert_int_equal(eng_next_due(f->e), L(0, 8, 0));
    adv(f, L(0, 7, 59));
    assert_int_equal(f->n, 0);
    adv(f, L(0, 8, 0));
    expect_only(f, 1, FIRE_AT("day_battery", "S-1", L(0, 8, 0)));
    assert_string_equal(f->recs[0].why, "battery.pct 10 < 15 %");
    assert_int_equal(eng_next_due(f->e), INT64_MAX);
    /* It does not clear when its hours end. */
    adv(f, L(1, 0, 0));
    assert_int_equal(f->n, 1);

    /* Saturday 10:00: the next opening is Monday 08:00. */
    reset(f);
    send(f, "S-2", L(5, 10, 0), "battery.pct=10");
    assert_int_equal(f->n, 0);
    assert_int_equal(eng_next_due(f->e), L(7, 8, 0));
    adv(f, L(7, 7, 59));
    assert_int_equal(f->n, 0);
    adv(f, L(7, 12, 0));
    expect_only(f, 1, FIRE_AT("day_battery", "S-2", L(7, 8, 0)));

    /* Condition gone before the scope opened: nothing. */
    reset(f);
    send(f, "S-1", L(7, 21, 0), "battery.pct=90");
    expect_only(f, 1, CLEAR_AT("day_battery", "S-1", L(7, 21, 0)));
    reset(f);
    send(f, "S-1", L(7, 22, 0), "battery.pct=10");
    send(f, "S-1", L(8, 7, 0), "battery.pct=90");
    adv(f, L(8, 12, 0));
    assert_int_equal(f->n, 0);
    fx_free(f);
}

/* ---- care plan parameters ------------------------------------------------ */

static const char CARE_RULES[] =
    "rule heart {\n    when hr.bpm > care_plan.hr.max default 130 bpm\n"
    "    severity high\n    chain c\n}\n";

static void test_care_plan_params(void **state)
{
    (void)state;
    struct fx *f = fx_new(CARE_RULES, TZ);
    elder1(f, "E1", "\"care_plan\":{\"params\":{\"hr.max\":110}}", "W-1", "wearable", 60);
    elder1(f, "E2", "", "W-2", "wearable", 60);
    elder1(f, "E3", "\"care_plan\":{\"params\":{\"hr.min\":50}}", "W-3", "wearable", 60);

    send(f, "W-1", T0, "hr.bpm=118");
    send(f, "W-2", T0, "hr.bpm=118");
    send(f, "W-3", T0, "hr.bpm=118");
    expect_only(f, 1, FIRE_AT("heart", "W-1", T0));
    assert_string_equal(f->recs[0].why, "hr.bpm 118 > 110 bpm (care plan hr.max)");
    assert_true(f->recs[0].value == 118.0);

    send(f, "W-2", T0 + MIN, "hr.bpm=131");
    send(f, "W-3", T0 + MIN, "hr.bpm=130");
    expect_only(f, 2, FIRE_AT("heart", "W-1", T0), FIRE_AT("heart", "W-2", T0 + MIN));
    assert_string_equal(f->recs[1].why, "hr.bpm 131 > 130 bpm (care plan hr.max)");

    /* 111 is still over E1's own limit; 109 is not. */
    send(f, "W-1", T0 + 2 * MIN, "hr.bpm=111");
    assert_int_equal(f->n, 2);
    send(f, "W-1", T0 + 3 * MIN, "hr.bpm=109");
    expect_only(f, 3, FIRE_AT("heart", "W-1", T0), FIRE_AT("heart", "W-2", T0 + MIN),
                CLEAR_AT("heart", "W-1", T0 + 3 * MIN));
    fx_free(f);
}

/* ---- suppression ---------------------------------------------------------- */

static const char SUPPRESS_RULES[] =
    "rule device_offline {\n    when no message for 3 x heartbeat\n"
    "    severity low\n    chain c\n}\n"
    "rule bathroom_long {\n    when room.bathroom is true for 4h\n"
    "    clear when room.bathroom is false\n"
    "    suppressed by device_offline\n    severity high\n    chain c\n}\n"
    "rule water_idle {\n    when sum(water.flow_l) over 12h < 10 L\n"
    "    suppressed by device_offline\n    severity high\n    chain c\n}\n";

static void test_suppressed_by(void **state)
{
    (void)state;
    struct fx *f = fx_new(SUPPRESS_RULES, TZ);
    elder1(f, "E1", "", "B-1", "bathroom_sensor", 600);
    elder1(f, "E2", "", "B-2", "bathroom_sensor", 36000);
    track(f, "B-1", T0);
    track(f, "B-2", T0);
    send(f, "B-1", T0, "room.bathroom=true");
    send(f, "B-2", T0, "room.bathroom=true");
    adv(f, T0 + 4 * HOUR + 30 * MIN);
    expect_only(f, 2, FIRE_AT("device_offline", "B-1", T0 + 30 * MIN),
                FIRE_AT("bathroom_long", "B-2", T0 + 4 * HOUR));
    assert_true(eng_is_firing(f->e, "B-1", "device_offline"));
    assert_false(eng_is_firing(f->e, "B-1", "bathroom_long"));
    assert_true(eng_is_firing(f->e, "B-2", "bathroom_long"));

    /* Back, still occupied: offline clears, and the held-back rule fires. */
    reset(f);
    send(f, "B-1", T0 + 5 * HOUR, "room.bathroom=true");
    expect_only(f, 2, CLEAR_AT("device_offline", "B-1", T0 + 5 * HOUR),
                FIRE_AT("bathroom_long", "B-1", T0 + 5 * HOUR));
    assert_string_equal(f->recs[1].why, "room.bathroom is true for 5h");
    fx_free(f);
}

static void test_window_restarts_after_silence(void **state)
{
    (void)state;
    struct fx *f = fx_new(SUPPRESS_RULES, TZ);
    elder1(f, "E1", "", "WM-1", "water_meter", 900);
    elder1(f, "E2", "", "WM-2", "water_meter", 900);
    track(f, "WM-1", T0);
    track(f, "WM-2", T0);
    send(f, "WM-1", T0, "water.flow_l=0");
    for (int64_t t = T0; t <= T0 + 13 * HOUR; t += 15 * MIN)
        send(f, "WM-2", t, "water.flow_l=0");
    expect_only(f, 2, FIRE_AT("device_offline", "WM-1", T0 + 45 * MIN),
                FIRE_AT("water_idle", "WM-2", T0 + 12 * HOUR));

    /* Silent for 13 hours, then back: the window starts afresh. */
    reset(f);
    send(f, "WM-1", T0 + 13 * HOUR, "water.flow_l=0");
    expect_only(f, 1, CLEAR_AT("device_offline", "WM-1", T0 + 13 * HOUR));
    assert_false(eng_is_firing(f->e, "WM-1", "water_idle"));
    for (int64_t t = T0 + 13 * HOUR + 15 * MIN; t < T0 + 25 * HOUR; t += 15 * MIN)
        send(f, "WM-1", t, "water.flow_l=0");
    assert_int_equal(count(f, ENG_FIRE, "water_idle", "WM-1"), 0);
    send(f, "WM-1", T0 + 25 * HOUR, "water.flow_l=0");
    assert_int_equal(count(f, ENG_FIRE, "water_idle", "WM-1"), 1);
    assert_int_equal(only(f, "water_idle", "WM-1")->at, T0 + 25 * HOUR);
    fx_free(f);
}

/* A device back from silence with a message that does not carry the held-back
 * rule's metric: the rule is no longer kept quiet and fires if it holds. */
static void test_suppression_ends_on_any_message(void **state)
{
    (void)state;
    struct fx *f = fx_new(SUPPRESS_RULES, TZ);
    elder1(f, "E1", "", "B-1", "bathroom_sensor", 600);
    track(f, "B-1", T0);
    send(f, "B-1", T0, "room.bathroom=true");
    adv(f, T0 + 5 * HOUR);
    expect_only(f, 1, FIRE_AT("device_offline", "B-1", T0 + 30 * MIN));
    send(f, "B-1", T0 + 5 * HOUR, "battery.pct=80");
    expect_only(f, 3, FIRE_AT("device_offline", "B-1", T0 + 30 * MIN),
                CLEAR_AT("device_offline", "B-1", T0 + 5 * HOUR),
                FIRE_AT("bathroom_long", "B-1", T0 + 5 * HOUR));
    assert_string_equal(f->recs[2].why, "room.bathroom is true for 5h");
    fx_free(f);
}

/* Whether a rule is held back must not depend on the order in which the
 * device's rule states were made: here a reload that changed device_offline
 * makes its state after water_idle's, and both become true at 12h. */
static void test_suppression_same_moment(void **state)
{
    (void)state;
    static const char v1[] =
        "rule device_offline {\n    when no message for 3 x heartbeat\n"
        "    severity low\n    chain c\n}\n"
        "rule water_idle {\n    when sum(water.flow_l) over 12h < 10 L\n"
        "    suppressed by device_offline\n    severity high\n    chain c\n}\n";
    static const char v2[] =
        "rule device_offline {\n    when no message for 12h\n"
        "    severity low\n    chain c\n}\n"
        "rule water_idle {\n    when sum(water.flow_l) over 12h < 10 L\n"
        "    suppressed by device_offline\n    severity high\n    chain c\n}\n";
    struct fx *f = fx_new(v1, TZ);
    elder1(f, "E1", "", "WM-1", "water_meter", 900);
    track(f, "WM-1", T0);
    send(f, "WM-1", T0, "water.flow_l=0");
    adv(f, T0 + 10 * MIN);

    struct rule_set *rs2 = load_rules(v2);
    struct eng *e2 = eng_new(rs2, TZ);
    assert_non_null(e2);
    eng_transfer(e2, f->e);
    eng_free(f->e);
    rule_set_free(f->rs);
    f->e = e2;
    f->rs = rs2;
    track(f, "WM-1", T0 + 10 * MIN);
    assert_int_equal(n_states(f->e), 2);
    adv(f, T0 + 13 * HOUR);
    expect_only(f, 1, FIRE_AT("device_offline", "WM-1", T0 + 12 * HOUR));
    assert_false(eng_is_firing(f->e, "WM-1", "water_idle"));
    fx_free(f);
}

/* ---- explanations -------------------------------------------------------- */

static const char WHY_RULES[] =
    "rule heart {\n"
    "    when hr.bpm > care_plan.hr.max default 130 bpm for 2m\n"
    "      or hr.bpm < care_plan.hr.min default 40 bpm for 2m\n"
    "    severity high\n    chain c\n}\n"
    "rule hypoxia {\n"
    "    when hr.bpm > 100 bpm and spo2.pct < 90 %\n"
    "    severity high\n    chain c\n}\n"
    "rule water_idle {\n    when sum(water.flow_l) over 12h < 10 L\n"
    "    severity high\n    chain c\n}\n"
    "rule device_offline {\n    when no message for 3 x heartbeat\n"
    "    for devices water_meter\n    severity low\n    chain c\n}\n";

static void test_why_texts(void **state)
{
    (void)state;
    struct fx *f = fx_new(WHY_RULES, TZ);
    elder1(f, "E1", "\"care_plan\":{\"params\":{\"hr.max\":120}}", "W-1", "wearable", 60);
    elder1(f, "E2", "", "W-2", "wearable", 60);
    elder1(f, "E3", "", "WM-1", "water_meter", 900);
    track(f, "WM-1", T0);
    send(f, "WM-1", T0, "water.flow_l=2.5");

    send(f, "W-1", T0, "hr.bpm=142");
    send(f, "W-2", T0, "hr.bpm=35.5");
    adv(f, T0 + 2 * MIN);
    const struct rec *r = only(f, "heart", "W-1");
    assert_int_equal(r->at, T0 + 2 * MIN);
    assert_string_equal(r->why, "hr.bpm 142 > 120 bpm (care plan hr.max) for 2m");
    assert_true(r->has_value);
    assert_true(r->value == 142.0);
    r = only(f, "heart", "W-2");
    assert_string_equal(r->why, "hr.bpm 35.5 < 40 bpm (care plan hr.min) for 2m");
    assert_true(r->value == 35.5);

    /* Both sides of `and` explain themselves; the value is the last one's. */
    reset(f);
    send(f, "W-2", T0 + 3 * MIN, "hr.bpm=104 spo2.pct=88");
    r = only(f, "hypoxia", "W-2");
    assert_string_equal(r->why, "hr.bpm 104 > 100 bpm and spo2.pct 88 < 90 %");
    assert_true(r->value == 88.0);

    /* Absence at 45m, the window at 12h (the meter sent 2.5 L at the start). */
    reset(f);
    adv(f, T0 + 12 * HOUR);
    r = only(f, "device_offline", "WM-1");
    assert_int_equal(r->at, T0 + 45 * MIN);
    assert_string_equal(r->why, "no message for 45m (3 x heartbeat 15m)");
    r = only(f, "water_idle", "WM-1");
    assert_int_equal(r->at, T0 + 12 * HOUR);
    assert_string_equal(r->why, "sum(water.flow_l) over 12h = 2.5 < 10 L");
    assert_true(r->value == 2.5);
    fx_free(f);
}

/* ---- snapshots ------------------------------------------------------------ */

static const char SNAP_RULES[] =
    "rule r_sust {\n    when room.bathroom is true for 4h\n    severity high\n    chain c\n}\n"
    "rule r_bat {\n    when battery.pct < 15 %\n    severity low\n    chain c\n}\n"
    "rule r_win {\n    when sum(water.flow_l) over 12h < 10 L\n    severity high\n"
    "    chain c\n}\n"
    "rule r_abs {\n    when no message for 3 x heartbeat\n    for devices door_sensor\n"
    "    severity low\n    chain c\n}\n";

/* r_sust and r_win changed, r_bat and r_abs as they were. */
static const char SNAP_RULES_CHANGED[] =
    "rule r_sust {\n    when room.bathroom is true for 5h\n    severity high\n    chain c\n}\n"
    "rule r_bat {\n    when battery.pct < 15 %\n    severity low\n    chain c\n}\n"
    "rule r_win {\n    when sum(water.flow_l) over 6h < 10 L\n    severity high\n"
    "    chain c\n}\n"
    "rule r_abs {\n    when no message for 3 x heartbeat\n    for devices door_sensor\n"
    "    severity low\n    chain c\n}\n";

static const char SNAP_ELDER[] =
    "{\"id\":\"E1\",\"name\":\"n\",\"consent\":true,\"devices\":["
    "{\"id\":\"BATH-1\",\"kind\":\"bathroom_sensor\",\"heartbeat_s\":600},"
    "{\"id\":\"WM-1\",\"kind\":\"water_meter\",\"heartbeat_s\":900},"
    "{\"id\":\"DOOR-1\",\"kind\":\"door_sensor\",\"heartbeat_s\":3600}]}";

/* Two hours of history; returns the engine's snapshot taken at T0 + 2h. */
static uint8_t *snap_history(struct fx *f, size_t *len)
{
    add_elder(&f->reg, SNAP_ELDER);
    track(f, "BATH-1", T0);
    track(f, "WM-1", T0);
    track(f, "DOOR-1", T0);
    send(f, "BATH-1", T0, "room.bathroom=true battery.pct=10");
    send(f, "WM-1", T0, "water.flow_l=3");
    send(f, "WM-1", T0 + HOUR, "water.flow_l=4");
    send(f, "DOOR-1", T0 + HOUR, "door.open=false");
    adv(f, T0 + 2 * HOUR);
    expect_only(f, 1, FIRE_AT("r_bat", "BATH-1", T0));
    reset(f);
    uint8_t *buf = eng_snapshot(f->e, len);
    assert_non_null(buf);
    assert_true(*len > 5);
    assert_memory_equal(buf, "AXES", 4);
    return buf;
}

static void test_snapshot_round_trip(void **state)
{
    (void)state;
    struct fx *f = fx_new(SNAP_RULES, TZ);
    size_t len;
    uint8_t *buf = snap_history(f, &len);
    struct eng_stats before;
    eng_get_stats(f->e, &before);
    assert_int_equal(before.devices, 3);
    assert_int_equal(before.states, 4);
    assert_int_equal(before.windows, 1);

    /* The original engine, left running: what is due by T0 + 12h. */
    adv(f, T0 + 12 * HOUR);
    assert_int_equal(f->n, 3);
    assert_int_equal(only(f, "r_sust", "BATH-1")->at, T0 + 4 * HOUR);
    assert_int_equal(only(f, "r_abs", "DOOR-1")->at, T0 + 4 * HOUR);
    assert_int_equal(only(f, "r_win", "WM-1")->at, T0 + 12 * HOUR);
    reset(f);

    /* A fresh engine restored at T0 + 12h: everything overdue fires then. */
    eng_free(f->e);
    f->e = eng_new(f->rs, TZ);
    assert_non_null(f->e);
    assert_int_equal(eng_restore(f->e, buf, len, T0 + 12 * HOUR), 0);
    struct eng_stats after;
    eng_get_stats(f->e, &after);
    assert_int_equal(after.devices, 3);
    assert_int_equal(after.states, 4);
    assert_int_equal(after.windows, 1);
    assert_true(eng_is_firing(f->e, "BATH-1", "r_bat"));
    assert_false(eng_is_firing(f->e, "BATH-1", "r_sust"));
    assert_int_equal(eng_next_due(f->e), T0 + 12 * HOUR);

    adv(f, T0 + 12 * HOUR);
    assert_int_equal(f->n, 3);
    const struct rec *r = only(f, "r_sust", "BATH-1");
    assert_int_equal(r->at, T0 + 12 * HOUR);
    assert_string_equal(r->why, "room.bathroom is true for 12h");
    r = only(f, "r_abs", "DOOR-1");
    assert_int_equal(r->at, T0 + 12 * HOUR);
    assert_string_equal(r->why, "no message for 11h (3 x heartbeat 1h)");
    r = only(f, "r_win", "WM-1");
    assert_int_equal(r->at, T0 + 12 * HOUR);
    assert_true(r->value == 7.0);
    assert_string_equal(r->why, "sum(water.flow_l) over 12h = 7 < 10 L");

    /* The firing flag survived: battery_low clears, it does not fire again. */
    reset(f);
    send(f, "BATH-1", T0 + 12 * HOUR + MIN, "battery.pct=16");
    expect_only(f, 1, CLEAR_AT("r_bat", "BATH-1", T0 + 12 * HOUR + MIN));

    /* A snapshot of a restored engine restores the same again. */
    size_t len2;
    uint8_t *buf2 = eng_snapshot(f->e, &len2);
    assert_non_null(buf2);
    struct eng *e3 = eng_new(f->rs, TZ);
    assert_non_null(e3);
    assert_int_equal(eng_restore(e3, buf2, len2, T0 + 13 * HOUR), 0);
    assert_true(eng_is_firing(e3, "BATH-1", "r_sust"));
    assert_true(eng_is_firing(e3, "WM-1", "r_win"));
    assert_true(eng_is_firing(e3, "DOOR-1", "r_abs"));
    assert_false(eng_is_firing(e3, "BATH-1", "r_bat"));
    eng_free(e3);
    free(buf2);
    free(buf);
    fx_free(f);
}

/* Records what eng_snapshot_write hands over; fails on call fail_at. */
struct piece_sink {
    uint8_t *p;
    size_t len, cap, calls, largest;
    size_t fail_at;                 /* 0: never */
};

static int to_pieces(void *arg, const void *data, size_t len)
{
    struct piece_sink *s = arg;
    if (++s->calls == s->fail_at)
        return ANX_EIO;
    if (len > s->largest)
        s->largest = len;
    assert_true(s->len + len <= s->cap);
    memcpy(s->p + s->len, data, len);
    s->len += len;
    return 0;
}

/* A state larger than one piece is streamed in pieces that add up to the
 * same bytes as the whole snapshot; the size pass agrees; a failing sink
 * stops it at once with the sink's error. */
static void test_snapshot_streams_in_pieces(void **state)
{
    (void)state;
    struct fx *f = fx_new(SNAP_RULES, TZ);
    char json[200], dev[32];
    for (int i = 0; i < 6000; i++) {
        snprintf(json, sizeof json,
                 "{\"id\":\"E%d\",\"name\":\"n\",\"consent\":true,\"devices\":["
                 "{\"id\":\"WM-%04d\",\"kind\":\"water_meter\",\"heartbeat_s\":900}]}",
                 i, i);
        add_elder(&f->reg, json);
    }
    for (int h = 0; h < 3; h++)
        for (int i = 0; i < 6000; i++) {
            snprintf(dev, sizeof dev, "WM-%04d", i);
            send(f, dev, T0 + h * HOUR + i, h ? "water.flow_l=1.5" : "water.flow_l=2");
        }
    size_t whole_len;
    uint8_t *whole = eng_snapshot(f->e, &whole_len);
    assert_non_null(whole);
    assert_int_equal(eng_snapshot_size(f->e), whole_len);
    assert_true(whole_len > 2 * ENG_SNAP_PIECE);

    struct piece_sink s = {.cap = whole_len};
    s.p = malloc(s.cap);
    assert_non_null(s.p);
    assert_int_equal(eng_snapshot_write(f->e, to_pieces, &s), 0);
    assert_int_equal(s.len, whole_len);
    assert_memory_equal(s.p, whole, whole_len);
    assert_true(s.calls >= 3);
    /* Full pieces, but for a window that did not fit at the end of one. */
    assert_true(s.largest <= ENG_SNAP_PIECE && s.largest > ENG_SNAP_PIECE - 1024);

    struct eng *e2 = eng_new(f->rs, TZ);
    assert_non_null(e2);
    assert_int_equal(eng_restore(e2, s.p, s.len, T0 + 3 * HOUR), 0);
    struct eng_stats a, b;
    eng_get_stats(f->e, &a);
    eng_get_stats(e2, &b);
    assert_int_equal(b.devices, 6000);
    assert_int_equal(b.windows, a.windows);
    eng_free(e2);

    struct piece_sink bad = {.cap = whole_len, .fail_at = 2};
    bad.p = malloc(bad.cap);
    assert_non_null(bad.p);
    assert_int_equal(eng_snapshot_write(f->e, to_pieces, &bad), ANX_EIO);
    assert_int_equal(bad.calls, 2);
    free(bad.p);
    free(s.p);
    free(whole);
    fx_free(f);
}

static void test_snapshot_changed_rules(void **state)
{
    (void)state;
    struct fx *f = fx_new(SNAP_RULES, TZ);
    size_t len;
    uint8_t *buf = snap_history(f, &len);

    struct rule_set *rs2 = load_rules(SNAP_RULES_CHANGED);
    struct eng *e2 = eng_new(rs2, TZ);
    assert_non_null(e2);
    assert_int_equal(eng_restore(e2, buf, len, T0 + 12 * HOUR), 0);
    struct eng_stats st;
    eng_get_stats(e2, &st);
    assert_int_equal(st.devices, 3);
    assert_int_equal(st.states, 2);             /* r_bat, r_abs */
    assert_int_equal(st.windows, 0);
    assert_true(eng_is_firing(e2, "BATH-1", "r_bat"));

    eng_free(f->e);
    f->e = e2;
    adv(f, T0 + 12 * HOUR);
    expect_only(f, 1, FIRE_AT("r_abs", "DOOR-1", T0 + 12 * HOUR));
    assert_string_equal(f->recs[0].why, "no message for 11h (3 x heartbeat 1h)");

    /* The changed rules start afresh: r_sust counts from now. */
    reset(f);
    send(f, "BATH-1", T0 + 13 * HOUR, "room.bathroom=true battery.pct=16");
    expect_only(f, 1, CLEAR_AT("r_bat", "BATH-1", T0 + 13 * HOUR));
    assert_int_equal(eng_next_due(f->e), T0 + 18 * HOUR);
    adv(f, T0 + 18 * HOUR);
    expect_only(f, 2, CLEAR_AT("r_bat", "BATH-1", T0 + 13 * HOUR),
                FIRE_AT("r_sust", "BATH-1", T0 + 18 * HOUR));

    /* A set where r_bat has another threshold and r_sust is gone: their
     * states are dropped, the others kept. */
    struct rule_set *rs3 = load_rules(
        "rule r_abs {\n    when no message for 3 x heartbeat\n    for devices door_sensor\n"
        "    severity low\n    chain c\n}\n"
        "rule r_bat {\n    when battery.pct < 20 %\n    severity low\n    chain c\n}\n"
        "rule r_win {\n    when sum(water.flow_l) over 12h < 10 L\n    severity high\n"
        "    chain c\n}\n");
    struct eng *e3 = eng_new(rs3, TZ);
    assert_non_null(e3);
    assert_int_equal(eng_restore(e3, buf, len, T0 + 2 * HOUR), 0);
    eng_get_stats(e3, &st);
    assert_int_equal(st.states, 2);
    assert_int_equal(st.windows, 1);
    assert_false(eng_is_firing(e3, "BATH-1", "r_bat"));
    eng_free(e3);
    rule_set_free(rs3);

    eng_free(f->e);
    f->e = NULL;
    rule_set_free(rs2);
    free(buf);
    fx_free(f);
}

static void test_snapshot_corrupt(void **state)
{
    (void)state;
    struct fx *f = fx_new(SNAP_RULES, TZ);
    size_t len;
    uint8_t *buf = snap_history(f, &len);

    /* Every truncation. */
    for (size_t n = 0; n < len; n++) {
        struct eng *e = eng_new(f->rs, TZ);
        assert_non_null(e);
        int rc = eng_restore(e, buf, n, T0 + 3 * HOUR);
        if (rc != ANX_ECORRUPT)
            fail_msg("restore of %zu of %zu bytes: %d", n, len, rc);
        eng_free(e);
    }

    uint8_t *bad = malloc(len);
    assert_non_null(bad);
    /* A flipped magic, a version not known. */
    memcpy(bad, buf, len);
    bad[0] ^= 0x20;
    struct eng *e = eng_new(f->rs, TZ);
    assert_int_equal(eng_restore(e, bad, len, T0), ANX_ECORRUPT);
    eng_free(e);
    memcpy(bad, buf, len);
    bad[4] = 2;
    e = eng_new(f->rs, TZ);
    assert_int_equal(eng_restore(e, bad, len, T0), ANX_ECORRUPT);
    eng_free(e);

    /* Every byte flipped in turn: a clean result either way, and an engine
     * that still runs. */
    size_t n_corrupt = 0;
    for (size_t i = 0; i < len; i++) {
        memcpy(bad, buf, len);
        bad[i] ^= 0xff;
        e = eng_new(f->rs, TZ);
        assert_non_null(e);
        int rc = eng_restore(e, bad, len, T0 + 3 * HOUR);
        if (rc != 0 && rc != ANX_ECORRUPT)
            fail_msg("byte %zu flipped: %d", i, rc);
        n_corrupt += rc != 0;
        if (rc == 0) {
            eng_advance(e, &f->reg, T0 + 30 * DAY, on_event, f);
            reset(f);
        }
        eng_free(e);
    }
    assert_true(n_corrupt > 0);
    free(bad);

    /* The intact snapshot still restores. */
    e = eng_new(f->rs, TZ);
    assert_int_equal(eng_restore(e, buf, len, T0 + 3 * HOUR), 0);
    eng_free(e);
    free(buf);
    fx_free(f);
}

/* ---- reload -------------------------------------------------------------- */

static const char RELOAD_OLD[] =
    "rule bath {\n    when room.bathroom is true for 4h\n    severity high\n    chain c\n}\n"
    "rule bat {\n    when battery.pct < 15 %\n    severity low\n    chain c\n}\n"
    "rule win {\n    when sum(water.flow_l) over 12h < 10 L\n    severity high\n"
    "    chain c\n}\n";

/* bath unchanged (and moved, with a new title and scope), bat changed, win
 * removed, fresh added. */
static const char RELOAD_NEW[] =
    "rule fresh {\n    when battery.pct < 5 %\n    severity low\n    chain c\n}\n"
    "rule bat {\n    when battery.pct < 20 %\n    severity low\n    chain c\n}\n"
    "rule bath {\n    title \"卫生间\"\n    when room.bathroom is true for 4h\n"
    "    for devices bathroom_sensor\n    severity critical\n    chain c\n}\n";

static void test_transfer(void **state)
{
    (void)state;
    struct fx *f = fx_new(RELOAD_OLD, TZ);
    add_elder(&f->reg, "{\"id\":\"E1\",\"name\":\"n\",\"consent\":true,\"devices\":["
                       "{\"id\":\"B-1\",\"kind\":\"bathroom_sensor\",\"heartbeat_s\":600},"
                       "{\"id\":\"WM-1\",\"kind\":\"water_meter\",\"heartbeat_s\":900}]}");
    send(f, "B-1", T0, "room.bathroom=true battery.pct=12");
    send(f, "WM-1", T0, "water.flow_l=1");
    expect_only(f, 1, FIRE_AT("bat", "B-1", T0));
    assert_int_equal(n_windows(f->e), 1);
    reset(f);
    adv(f, T0 + HOUR);

    struct rule_set *rs2 = load_rules(RELOAD_NEW);
    struct eng *e2 = eng_new(rs2, TZ);
    assert_non_null(e2);
    eng_transfer(e2, f->e);
    struct eng_stats st;
    eng_get_stats(e2, &st);
    assert_int_equal(st.states, 1);             /* bath only */
    assert_int_equal(st.windows, 0);
    assert_false(eng_is_firing(e2, "B-1", "bat"));
    assert_int_equal(eng_next_due(e2), T0 + 4 * HOUR);
    /* The old engine keeps what did not move (win's window) and frees cleanly. */
    assert_int_equal(n_windows(f->e), 1);
    eng_free(f->e);
    rule_set_free(f->rs);
    f->e = e2;
    f->rs = rs2;

    /* bath keeps its since (T0): fires at T0 + 4h, not T0 + 5h. */
    adv(f, T0 + 4 * HOUR);
    expect_only(f, 1, FIRE_AT("bath", "B-1", T0 + 4 * HOUR));
    assert_string_equal(f->recs[0].why, "room.bathroom is true for 4h");

    /* bat starts fresh under its new threshold: 18 fires it. */
    reset(f);
    send(f, "B-1", T0 + 5 * HOUR, "battery.pct=18");
    expect_only(f, 1, FIRE_AT("bat", "B-1", T0 + 5 * HOUR));
    assert_string_equal(f->recs[0].why, "battery.pct 18 < 20 %");
    /* win is gone: water creates no state (B-1: bath, bat, fresh). */
    send(f, "WM-1", T0 + 5 * HOUR, "water.flow_l=0");
    eng_get_stats(f->e, &st);
    assert_int_equal(st.states, 3);
    assert_int_equal(st.windows, 0);
    fx_free(f);
}

static void test_transfer_keeps_firing_and_last_seen(void **state)
{
    (void)state;
    static const char rules[] =
        "rule off {\n    when no message for 3 x heartbeat\n    severity low\n    chain c\n}\n"
        "rule bat {\n    when battery.pct < 15 %\n    severity low\n    chain c\n}\n";
    struct fx *f = fx_new(rules, TZ);
    elder1(f, "E1", "", "S-1", "sos_button", 300);
    track(f, "S-1", T0);
    send(f, "S-1", T0 + MIN, "battery.pct=10");
    expect_only(f, 1, FIRE_AT("bat", "S-1", T0 + MIN));
    adv(f, T0 + 15 * MIN);                      /* a spurious look: the old due */
    assert_int_equal(f->n, 1);
    assert_int_equal(eng_next_due(f->e), T0 + 16 * MIN);

    struct rule_set *rs2 = load_rules(rules);
    struct eng *e2 = eng_new(rs2, TZ);
    assert_non_null(e2);
    eng_transfer(e2, f->e);
    eng_free(f->e);
    rule_set_free(f->rs);
    f->e = e2;
    f->rs = rs2;
    track(f, "S-1", T0 + 10 * MIN);             /* as the daemon does after a reload */
    assert_true(eng_is_firing(f->e, "S-1", "bat"));
    assert_int_equal(eng_next_due(f->e), T0 + 16 * MIN);
    adv(f, T0 + HOUR);
    expect_only(f, 2, FIRE_AT("bat", "S-1", T0 + MIN), FIRE_AT("off", "S-1", T0 + 16 * MIN));
    send(f, "S-1", T0 + 2 * HOUR, "battery.pct=50");
    expect_only(f, 4, FIRE_AT("bat", "S-1", T0 + MIN), FIRE_AT("off", "S-1", T0 + 16 * MIN),
                CLEAR_AT("off", "S-1", T0 + 2 * HOUR), CLEAR_AT("bat", "S-1", T0 + 2 * HOUR));
    fx_free(f);
}

/* ---- forgetting devices ----------------------------------------------------- */

static void test_advance_drops_unknown_devices(void **state)
{
    (void)state;
    struct fx *f = fx_new(SUSTAINED_RULES, TZ);
    elder1(f, "E1", "", "B-1", "bathroom_sensor", 600);
    elder1(f, "E2", "", "B-2", "bathroom_sensor", 600);
    send(f, "B-1", T0, "room.bathroom=true");
    send(f, "B-2", T0, "room.bathroom=true");
    assert_int_equal(n_devices(f->e), 2);
    assert_int_equal(reg_remove(&f->reg, "E1"), 0);
    adv(f, T0 + 5 * HOUR);
    expect_only(f, 1, FIRE_AT("bathroom_long", "B-2", T0 + 4 * HOUR));
    assert_int_equal(n_devices(f->e), 1);
    assert_int_equal(n_states(f->e), 1);
    assert_false(eng_is_firing(f->e, "B-1", "bathroom_long"));
    assert_int_equal(eng_next_due(f->e), INT64_MAX);
    fx_free(f);
}

static void test_forget_device(void **state)
{
    (void)state;
    struct fx *f = fx_new(INDEX_RULES, TZ);
    elder1(f, "E1", "", "WM-1", "water_meter", 900);
    elder1(f, "E2", "", "W-2", "wearable", 60);
    send(f, "WM-1", T0, "water.flow_l=0");
    send(f, "W-2", T0, "hr.bpm=150");
    assert_int_equal(n_devices(f->e), 2);
    assert_int_equal(n_windows(f->e), 2);
    assert_int_equal(eng_next_due(f->e), T0 + 2 * MIN);

    eng_forget_device(f->e, "W-2");
    assert_int_equal(n_devices(f->e), 1);
    assert_int_equal(n_states(f->e), 2);       /* water_idle, water_meter_only */
    assert_int_equal(n_windows(f->e), 2);
    assert_int_equal(eng_next_due(f->e), T0 + 12 * HOUR);  /* water_idle's window */
    eng_forget_device(f->e, "nonesuch");
    eng_forget_device(f->e, "WM-1");
    struct eng_stats st;
    eng_get_stats(f->e, &st);
    assert_int_equal(st.devices, 0);
    assert_int_equal(st.states, 0);
    assert_int_equal(st.windows, 0);
    assert_int_equal(eng_next_due(f->e), INT64_MAX);
    adv(f, T0 + 2 * DAY);
    assert_int_equal(f->n, 0);

    /* A forgotten device starts afresh on its next message. */
    send(f, "W-2", T0 + 2 * DAY, "hr.bpm=150");
    assert_int_equal(eng_next_due(f->e), T0 + 2 * DAY + 2 * MIN);
    fx_free(f);
}

/* More rules on one metric than any fixed list of candidates holds: each of
 * them is evaluated (the last one, with the highest threshold, fires too). */
static void test_many_rules_on_one_metric(void **state)
{
    (void)state;
    enum { N = 300 };
    size_t cap = (size_t)N * 80 + 64, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(text + len, cap - len,
                                "rule r%d {\n    when battery.pct < %d\n    severity low\n"
                                "    chain c\n}\n", i, i + 1);
    struct fx *f = fx_new(text, TZ);
    free(text);
    elder1(f, "E1", "", "S-1", "sos_button", 300);
    send(f, "S-1", T0, "battery.pct=298.5");
    expect_only(f, 2, FIRE_AT("r298", "S-1", T0), FIRE_AT("r299", "S-1", T0));
    assert_int_equal(n_states(f->e), N);
    send(f, "S-1", T0 + MIN, "battery.pct=0.5");
    assert_int_equal(f->n, 2 + 298);           /* r0..r297 fire now */
    assert_int_equal(count(f, ENG_FIRE, "r0", NULL), 1);
    assert_int_equal(count(f, ENG_FIRE, "r297", NULL), 1);
    assert_int_equal(count(f, ENG_FIRE, "r299", NULL), 1);
    fx_free(f);
}

/* A rule past the 65 536th still fires, and only it. */
static void test_many_rules(void **state)
{
    (void)state;
    enum { N = 65537 };
    size_t cap = (size_t)N * 80 + 64, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(text + len, cap - len,
                                "rule r%d {\n    when %s < %d\n    severity low\n"
                                "    chain c\n}\n", i, i == N - 1 ? "battery.pct" : "hr.bpm",
                                i % 100 + 1);
    struct fx *f = fx_new(text, TZ);
    free(text);
    elder1(f, "E1", "", "S-1", "sos_button", 300);
    send(f, "S-1", T0, "battery.pct=0");
    send(f, "S-1", T0 + MIN, "battery.pct=0");
    adv(f, T0 + HOUR);
    expect_only(f, 1, FIRE_AT("r65536", "S-1", T0));
    assert_int_equal(n_states(f->e), 1);
    assert_true(eng_is_firing(f->e, "S-1", "r65536"));
    assert_false(eng_is_firing(f->e, "S-1", "r0"));
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_only_matching_rules),
        cmocka_unit_test(test_event_rule_fires_every_time_never_clears),
        cmocka_unit_test(test_state_rule_rising_edge_and_clear),
        cmocka_unit_test(test_sustained_fires_on_time),
        cmocka_unit_test(test_sustained_reset_by_drop),
        cmocka_unit_test(test_window_fires_when_first_full),
        cmocka_unit_test(test_window_avg),
        cmocka_unit_test(test_window_shared_by_leaves),
        cmocka_unit_test(test_absence_own_heartbeat),
        cmocka_unit_test(test_absence_tracking),
        cmocka_unit_test(test_scope_static),
        cmocka_unit_test(test_time_of_day_and_days),
        cmocka_unit_test(test_state_rule_fires_when_scope_opens),
        cmocka_unit_test(test_care_plan_params),
        cmocka_unit_test(test_suppressed_by),
        cmocka_unit_test(test_window_restarts_after_silence),
        cmocka_unit_test(test_suppression_ends_on_any_message),
        cmocka_unit_test(test_suppression_same_moment),
        cmocka_unit_test(test_why_texts),
        cmocka_unit_test(test_snapshot_round_trip),
        cmocka_unit_test(test_snapshot_streams_in_pieces),
        cmocka_unit_test(test_snapshot_changed_rules),
        cmocka_unit_test(test_snapshot_corrupt),
        cmocka_unit_test(test_transfer),
        cmocka_unit_test(test_transfer_keeps_firing_and_last_seen),
        cmocka_unit_test(test_advance_drops_unknown_devices),
        cmocka_unit_test(test_forget_device),
        cmocka_unit_test(test_many_rules_on_one_metric),
        cmocka_unit_test(test_many_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
