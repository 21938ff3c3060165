/* test_registry.c - unit tests for the in-memory registry (lib/registry.c):
 * building elders from JSON and its errors, lookups, replacement keeping the
 * devices' runtime state, devices moving between elders, removal, care plan
 * parameters and the role/category names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "registry.h"

static char err[256];

static struct reg_elder *parse(const char *json)
{
    struct reg_elder *e = (struct reg_elder *)1;
    err[0] = '\0';
    int rc = reg_elder_from_json(json, strlen(json), &e, err, sizeof err);
    if (rc != 0)
        fail_msg("reg_elder_from_json: %d %s", rc, err);
    assert_non_null(e);
    return e;
}

/* Expects a parse error with exactly this message. */
static void parse_bad(const char *json, const char *want)
{
    struct reg_elder *e = (struct reg_elder *)1;
    memset(err, 'x', sizeof err - 1);
    err[sizeof err - 1] = '\0';
    assert_int_equal(reg_elder_from_json(json, strlen(json), &e, err, sizeof err), ANX_EINVAL);
    assert_null(e);
    assert_string_equal(err, want);
}

static const char FULL[] =
    "{\"id\":\"E0001\",\"name\":\"张桂兰\",\"township\":\"城关镇\",\"village\":\"东湖村\","
    "\"grid\":\"G-03\",\"categories\":[\"living_alone\",\"disabled\",\"no_such\",7],"
    "\"consent\":true,"
    "\"care_plan\":{\"risk\":\"high\",\"chain\":\"emergency\","
    "  \"params\":{\"hr.max\":120,\"hr.min\":45.5,\"note\":\"text is skipped\",\"spo2.min\":90}},"
    "\"contacts\":["
    "  {\"id\":101,\"name\":\"李明\",\"phone\":\"+8613800000011\",\"role\":\"family\","
    "   \"priority\":1,\"channels\":[\"sms\",\"voice\"]},"
    "  {\"id\":102,\"name\":\"王芳\",\"phone\":\"+8613800000012\",\"role\":\"grid_worker\","
    "   \"priority\":2,\"channels\":[\"voice\"]},"
    "  {\"id\":9007199254740991,\"name\":\"赵医生\",\"phone\":\"+8613800000013\","
    "   \"role\":\"doctor\",\"priority\":9}],"
    "\"devices\":["
    "  {\"id\":\"SOS-0001\",\"kind\":\"sos_button\",\"heartbeat_s\":600},"
    "  {\"id\":\"WM-0001\",\"kind\":\"water_meter\"}]}";

/* ---- JSON ------------------------------------------------------------------- */

static void test_from_json_full(void **state)
{
    (void)state;
    struct reg_elder *e = parse(FULL);

    assert_string_equal(e->id, "E0001");
    assert_string_equal(e->name, "张桂兰");
    assert_string_equal(e->township, "城关镇");
    assert_string_equal(e->village, "东湖村");
    assert_string_equal(e->grid, "G-03");
    assert_int_equal(e->categories, REG_CAT_LIVING_ALONE | REG_CAT_DISABLED);
    assert_true(e->consent);
    assert_int_equal(e->risk, REG_RISK_HIGH);
    assert_string_equal(e->chain, "emergency");

    assert_int_equal(e->n_params, 3);
    assert_true(reg_param(e, "hr.max", -1) == 120.0);
    assert_true(reg_param(e, "hr.min", -1) == 45.5);
    assert_true(reg_param(e, "spo2.min", -1) == 90.0);
    assert_true(reg_param(e, "note", -1) == -1.0);     /* not a number: not a param */
    assert_true(reg_param(e, "hr", 7.25) == 7.25);
    assert_true(reg_param(e, "hr.max.x", 0) == 0.0);

    assert_int_equal(e->n_contacts, 3);
    const struct reg_contact *c = e->contacts;
    assert_int_equal(c[0].id, 101);
    assert_string_equal(c[0].name, "李明");
    assert_string_equal(c[0].phone, "+8613800000011");
    assert_int_equal(c[0].role, REG_ROLE_FAMILY);
    assert_int_equal(c[0].priority, 1);
    assert_int_equal(c[0].channels, REG_CHANNEL_SMS | REG_CHANNEL_VOICE);
    assert_int_equal(c[1].id, 102);
    assert_string_equal(c[1].name, "王芳");
    assert_int_equal(c[1].role, REG_ROLE_GRID_WORKER);
    assert_int_equal(c[1].priority, 2);
    assert_int_equal(c[1].channels, REG_CHANNEL_VOICE);
    assert_int_equal(c[2].id, INT64_C(9007199254740991));
    assert_string_equal(c[2].phone, "+8613800000013");
    assert_int_equal(c[2].role, REG_ROLE_DOCTOR);
    assert_int_equal(c[2].priority, 9);
    assert_int_equal(c[2].channels, REG_CHANNEL_SMS);   /* no channels: SMS */

    assert_int_equal(e->n_devices, 2);
    assert_string_equal(e->devices[0].id, "SOS-0001");
    assert_string_equal(e->devices[0].kind, "sos_button");
    assert_int_equal(e->devices[0].heartbeat_s, 600);
    assert_ptr_equal(e->devices[0].elder, e);
    assert_string_equal(e->devices[1].id, "WM-0001");
    assert_string_equal(e->devices[1].kind, "water_meter");
    assert_int_equal(e->devices[1].heartbeat_s, 300);  /* default */
    assert_ptr_equal(e->devices[1].elder, e);
    for (size_t i = 0; i < e->n_devices; i++) {
        assert_int_equal(e->devices[i].last_seen_ms, 0);
        assert_int_equal(e->devices[i].last_seq, 0);
        assert_false(e->devices[i].has_seq);
        assert_false(e->devices[i].seen_dirty);
    }
    reg_elder_free(e);
}

static void test_from_json_minimal(void **state)
{
    (void)state;
    struct reg_elder *e = parse("{\"id\":\"E9\",\"name\":\"N\",\"township\":null}");
    assert_string_equal(e->id, "E9");
    assert_string_equal(e->name, "N");
    assert_null(e->township);
    assert_null(e->village);
    assert_null(e->grid);
    assert_null(e->chain);
    assert_int_equal(e->categories, 0);
    assert_false(e->consent);
    assert_int_equal(e->risk, REG_RISK_MEDIUM);
    assert_int_equal(e->n_params, 0);
    assert_int_equal(e->n_contacts, 0);
    assert_int_equal(e->n_devices, 0);
    assert_true(reg_param(e, "hr.max", 130) == 130.0);
    reg_elder_free(e);

    e = parse("{\"id\":\"E8\",\"name\":\"N\",\"care_plan\":{\"risk\":\"low\",\"params\":{}},"
              "\"contacts\":[],\"devices\":null,\"consent\":false}");
    assert_int_equal(e->risk, REG_RISK_LOW);
    assert_null(e->chain);
    assert_int_equal(e->n_params, 0);
    assert_int_equal(e->n_contacts, 0);
    assert_int_equal(e->n_devices, 0);
    assert_false(e->consent);
    reg_elder_free(e);

    /* Heartbeat below 1 falls back to the default. */
    e = parse("{\"id\":\"E7\",\"name\":\"N\",\"devices\":[{\"id\":\"D\",\"kind\":\"k\","
              "\"heartbeat_s\":0}]}");
    assert_int_equal(e->devices[0].heartbeat_s, 300);
    reg_elder_free(e);
}

static void test_from_json_respects_len(void **state)
{
    (void)state;
    const char buf[] = "{\"id\":\"E1\",\"name\":\"N\"}trailing garbage";
    size_t len = strlen("{\"id\":\"E1\",\"name\":\"N\"}");
    struct reg_elder *e = NULL;
    assert_int_equal(reg_elder_from_json(buf, len, &e, err, sizeof err), 0);
    assert_non_null(e);
    assert_string_equal(e->id, "E1");
    reg_elder_free(e);

    /* Cut inside the object: not JSON. */
    e = (struct reg_elder *)1;
    assert_int_equal(reg_elder_from_json(buf, 10, &e, err, sizeof err), ANX_EINVAL);
    assert_null(e);
    assert_string_equal(err, "not valid JSON");
}

static void test_from_json_errors(void **state)
{
    (void)state;
    parse_bad("not json", "not valid JSON");
    parse_bad("{\"id\":\"E1\",", "not valid JSON");
    parse_bad("", "not valid JSON");
    parse_bad("[1,2]", "expected an object");
    parse_bad("\"E1\"", "expected an object");
    parse_bad("{\"name\":\"N\"}", "id: missing");
    parse_bad("{\"id\":null,\"name\":\"N\"}", "id: missing");
    parse_bad("{\"id\":17,\"name\":\"N\"}", "id: expected a string");
    parse_bad("{\"id\":\"E1\"}", "name: missing");
    parse_bad("{\"id\":\"E1\",\"name\":\"N\",\"village\":3}", "village: expected a string");
    parse_bad("{\"id\":\"E1\",\"name\":\"N\",\"care_plan\":[]}", "care_plan: expected an object");
    parse_bad("{\"id\":\"E1\",\"name\":\"N\",\"care_plan\":{\"chain\":1}}",
              "chain: expected a string");
    parse_bad("{\"id\":\"E1\",\"name\":\"N\",\"contacts\":{}}", "contacts: expected an array");
    parse_bad("{\"id\":\"E1\",\"name\":\"N\",\"devices\":\"D1\"}", "devices: expected an array");

#define C_OK "{\"name\":\"A\",\"phone\":\"+8613800000001\",\"role\":\"family\",\"priority\":1}"
    parse_bad("{\"id\":\"E1\",\"name\":\"N\",\"contacts\":[" C_OK ","
              "{\"name\":\"B\",\"phone\":\"+8613800000002\",\"role\":\"cousin\",\"priority\":1}]}",
              "contacts[1].role: unknown");
    parse_bad("{\"id\":\"E1\",\"name\":\"N\",\"contacts\":["
              "{\"name\":\"B\",\"phone\":\"+8613800000002\",\"priority\":1}]}",
              "contacts[0].role: unknown");
    parse_bad("{\"id\":\"E1\",\"name\":\"N\",\"contacts\":["
              "{\"name\":\"B\",\"phone\":\"+8613800000002\",\"role\":\"Family\",\"priority\":1}]}",
              "contacts[0].role: unknown");
    parse_bad("{\"id\":\"E1\",\"name\":\"N\",\"contacts\":["
              "{\"name\":\"B\",\"phone\":\"+8613800000002\",\"role\":\"family\",\"priority\":0}]}",
              "contacts[0].priority: expected 1..9");
    parse_bad("{\"id\":\"E1\",\"name\":\"N\",\"contacts\":[" C_OK "," C_OK ","
              "{\"name\":\"B\",\"phone\":\"+8613800000002\",\"role\":\"family\",\"priority\":10}]}",
              "contacts[2].priority: expected 1..9");
    parse_bad("{\"id\":\"E1\",\"name\":\"N\",\"contacts\":["
              "{\"name\":\"B\",\"phone\":\"+8613800000002\",\"role\":\"family\",\"priority\":\"1\"}]}",
              "contacts[0].priority: expected 1..9");
    parse_bad("{\"id\":\"E1\",\"name\":\"N\",\"contacts\":["
              "{\"name\":\"B\",\"phone\":\"+8613800000002\",\"role\":\"family\"}]}",
              "contacts[0].priority: expected 1..9");
    parse_bad("{\"id\":\"E1\",\"name\":\"N\",\"contacts\":["
              "{\"name\":\"B\",\"role\":\"family\",\"priority\":1}]}",
              "phone: missing");
    parse_bad("{\"id\":\"E1\",\"name\":\"N\",\"devices\":[{\"id\":\"D1\"}]}", "kind: missing");
    parse_bad("{\"id\":\"E1\",\"name\":\"N\",\"devices\":[{\"kind\":\"sos_button\"}]}",
              "id: missing");
#undef C_OK
}

static void test_from_json_err_optional(void **state)
{
    (void)state;
    struct reg_elder *e = (struct reg_elder *)1;
    assert_int_equal(reg_elder_from_json("nope", 4, &e, NULL, 0), ANX_EINVAL);
    assert_null(e);

    /* A short err buffer is truncated, never overrun. */
    char small[6];
    memset(small, '#', sizeof small);
    assert_int_equal(reg_elder_from_json("{\"id\":\"E\"}", 10, &e, small, 4), ANX_EINVAL);
    assert_string_equal(small, "nam");
    assert_int_equal(small[4], '#');
    assert_int_equal(small[5], '#');
}

/* ---- registry --------------------------------------------------------------- */

static struct reg_elder *elder(const char *id, const char *name, const char *devices_json)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "{\"id\":\"%s\",\"name\":\"%s\",\"devices\":[%s]}", id, name,
             devices_json);
    return parse(buf);
}

#define DEV(id) "{\"id\":\"" id "\",\"kind\":\"sos_button\"}"

static void test_put_find(void **state)
{
    (void)state;
    struct registry r = {0};

    assert_null(reg_find_elder(&r, "E1"));
    assert_null(reg_find_device(&r, "D1"));

    struct reg_elder *a = elder("E1", "A", DEV("D1") "," DEV("D2"));
    struct reg_elder *b = elder("E2", "B", DEV("D3"));
    assert_int_equal(reg_put(&r, a), 0);
    assert_int_equal(reg_put(&r, b), 0);

    assert_ptr_equal(reg_find_elder(&r, "E1"), a);
    assert_ptr_equal(reg_find_elder(&r, "E2"), b);
    assert_null(reg_find_elder(&r, "E3"));
    assert_null(reg_find_elder(&r, "e1"));

    struct reg_device *d = reg_find_device(&r, "D1");
    assert_ptr_equal(d, &a->devices[0]);
    assert_ptr_equal(d->elder, a);
    assert_ptr_equal(reg_find_device(&r, "D2"), &a->devices[1]);
    d = reg_find_device(&r, "D3");
    assert_ptr_equal(d, &b->devices[0]);
    assert_ptr_equal(d->elder, b);
    assert_null(reg_find_device(&r, "D4"));
    assert_null(reg_find_device(&r, "E1"));     /* separate maps */
    assert_null(reg_find_elder(&r, "D1"));
    assert_int_equal(r.elders.len, 2);
    assert_int_equal(r.devices.len, 3);
    reg_clear(&r);
    assert_int_equal(r.elders.len, 0);
    assert_int_equal(r.devices.len, 0);
    assert_null(reg_find_elder(&r, "E1"));
    assert_null(reg_find_device(&r, "D1"));
    reg_clear(&r);      /* clearing an empty registry is fine */
}

static void set_runtime(struct reg_device *d, int64_t seen, int64_t seq, bool dirty)
{
    d->last_seen_ms = seen;
    d->last_seq = seq;
    d->has_seq = true;
    d->alarm_seq = seq + 1;
    d->has_alarm_seq = true;
    d->seen_dirty = dirty;
}

static void test_replace_keeps_runtime_state(void **state)
{
    (void)state;
    struct registry r = {0};

    assert_int_equal(reg_put(&r, elder("E1", "Old", DEV("D1") "," DEV("D2"))), 0);
    set_runtime(reg_find_device(&r, "D1"), INT64_C(1717000000123), 41, true);
    set_runtime(reg_find_device(&r, "D2"), 555, 7, false);

    /* The reload drops D2 and adds D3, keeps D1 (now listed second). */
    struct reg_elder *n = elder("E1", "New", DEV("D3") "," DEV("D1"));
    assert_int_equal(reg_put(&r, n), 0);

    struct reg_elder *e = reg_find_elder(&r, "E1");
    assert_ptr_equal(e, n);
    assert_string_equal(e->name, "New");
    assert_int_equal(r.elders.len, 1);

    struct reg_device *d1 = reg_find_device(&r, "D1");
    assert_ptr_equal(d1, &n->devices[1]);
    assert_ptr_equal(d1->elder, n);
    assert_int_equal(d1->last_seen_ms, INT64_C(1717000000123));
    assert_int_equal(d1->last_seq, 41);
    assert_true(d1->has_seq);
    assert_int_equal(d1->alarm_seq, 42);
    assert_true(d1->has_alarm_seq);
    assert_true(d1->seen_dirty);

    struct reg_device *d3 = reg_find_device(&r, "D3");
    assert_ptr_equal(d3, &n->devices[0]);
    assert_int_equal(d3->last_seen_ms, 0);
    assert_int_equal(d3->last_seq, 0);
    assert_false(d3->has_seq);
    assert_false(d3->has_alarm_seq);
    assert_false(d3->seen_dirty);

    assert_null(reg_find_device(&r, "D2"));
    assert_int_equal(r.devices.len, 2);

    /* A second reload carries the state again (from the replacement's structs). */
    d1->last_seq = 42;
    d1->seen_dirty = false;
    assert_int_equal(reg_put(&r, elder("E1", "Newer", DEV("D1"))), 0);
    d1 = reg_find_device(&r, "D1");
    assert_int_equal(d1->last_seq, 42);
    assert_int_equal(d1->last_seen_ms, INT64_C(1717000000123));
    assert_true(d1->has_seq);
    assert_false(d1->seen_dirty);
    assert_string_equal(d1->elder->name, "Newer");
    assert_null(reg_find_device(&r, "D3"));
    reg_clear(&r);
}

static void test_device_moves_between_elders(void **state)
{
    (void)state;
    struct registry r = {0};

    assert_int_equal(reg_put(&r, elder("EA", "A", DEV("D1") "," DEV("DA"))), 0);
    assert_int_equal(reg_put(&r, elder("EB", "B", DEV("DB"))), 0);
    set_runtime(reg_find_device(&r, "D1"), 9000, 3, true);

    /* B is reloaded listing D1: B takes it, with its state. */
    assert_int_equal(reg_put(&r, elder("EB", "B", DEV("DB") "," DEV("D1"))), 0);
    struct reg_elder *b = reg_find_elder(&r, "EB");
    struct reg_device *d1 = reg_find_device(&r, "D1");
    assert_ptr_equal(d1, &b->devices[1]);
    assert_ptr_equal(d1->elder, b);
    assert_int_equal(d1->last_seen_ms, 9000);
    assert_int_equal(d1->last_seq, 3);
    assert_true(d1->has_seq);
    assert_true(d1->seen_dirty);

    /* A is reloaded without D1: D1 stays with B. */
    assert_int_equal(reg_put(&r, elder("EA", "A2", DEV("DA"))), 0);
    d1 = reg_find_device(&r, "D1");
    assert_non_null(d1);
    assert_ptr_equal(d1, &b->devices[1]);
    assert_ptr_equal(d1->elder, b);
    assert_string_equal(d1->elder->id, "EB");
    assert_int_equal(d1->last_seq, 3);
    assert_ptr_equal(reg_find_device(&r, "DA")->elder, reg_find_elder(&r, "EA"));
    assert_int_equal(r.devices.len, 3);

    /* Removing A does not touch B's devices. */
    assert_int_equal(reg_remove(&r, "EA"), 0);
    assert_ptr_equal(reg_find_device(&r, "D1"), d1);
    assert_null(reg_find_device(&r, "DA"));
    reg_clear(&r);
}

/* B takes the device while A still lists it; then A is removed outright. */
static void test_device_taken_then_old_owner_removed(void **state)
{
    (void)state;
    struct registry r = {0};

    assert_int_equal(reg_put(&r, elder("EA", "A", DEV("D1"))), 0);
    assert_int_equal(reg_put(&r, elder("EB", "B", DEV("D1"))), 0);
    struct reg_elder *b = reg_find_elder(&r, "EB");
    assert_ptr_equal(reg_find_device(&r, "D1")->elder, b);
    assert_int_equal(r.devices.len, 1);
    assert_int_equal(reg_remove(&r, "EA"), 0);
    assert_ptr_equal(reg_find_device(&r, "D1"), &b->devices[0]);
    assert_string_equal(reg_find_device(&r, "D1")->id, "D1");

    /* And the other way round: A lists it again and takes it back. */
    assert_int_equal(reg_put(&r, elder("EA", "A", DEV("D1"))), 0);
    assert_string_equal(reg_find_device(&r, "D1")->elder->id, "EA");
    assert_int_equal(reg_remove(&r, "EB"), 0);
    assert_string_equal(reg_find_device(&r, "D1")->elder->id, "EA");
    reg_clear(&r);
}

static void test_remove(void **state)
{
    (void)state;
    struct registry r = {0};

    assert_int_equal(reg_remove(&r, "E1"), ANX_ENOENT);
    assert_int_equal(reg_put(&r, elder("E1", "A", DEV("D1") "," DEV("D2"))), 0);
    assert_int_equal(reg_put(&r, elder("E2", "B", DEV("D3"))), 0);
    assert_int_equal(reg_remove(&r, "E3"), ANX_ENOENT);
    assert_int_equal(reg_remove(&r, "E1"), 0);
    assert_null(reg_find_elder(&r, "E1"));
    assert_null(reg_find_device(&r, "D1"));
    assert_null(reg_find_device(&r, "D2"));
    assert_non_null(reg_find_elder(&r, "E2"));
    assert_non_null(reg_find_device(&r, "D3"));
    assert_int_equal(r.elders.len, 1);
    assert_int_equal(r.devices.len, 1);
    assert_int_equal(reg_remove(&r, "E1"), ANX_ENOENT);

    /* Put back after removal. */
    assert_int_equal(reg_put(&r, elder("E1", "A", DEV("D1"))), 0);
    assert_string_equal(reg_find_device(&r, "D1")->elder->name, "A");
    reg_clear(&r);
}

/* Many elders, each reloaded a few times: the maps keep exactly the live set. */
static void test_many_reloads(void **state)
{
    (void)state;
    struct registry r = {0};
    char id[16], dv[64];

    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 300; i++) {
            snprintf(id, sizeof id, "E%04d", i);
            snprintf(dv, sizeof dv, "{\"id\":\"D%04d-%d\",\"kind\":\"k\"}", i, round % 2);
            assert_int_equal(reg_put(&r, elder(id, "N", dv)), 0);
        }
    }
    assert_int_equal(r.elders.len, 300);
    assert_int_equal(r.devices.len, 300);
    for (int i = 0; i < 300; i++) {
        snprintf(dv, sizeof dv, "D%04d-0", i);
        struct reg_device *d = reg_find_device(&r, dv);
        assert_non_null(d);
        snprintf(id, sizeof id, "E%04d", i);
        assert_string_equal(d->elder->id, id);
        snprintf(dv, sizeof dv, "D%04d-1", i);
        assert_null(reg_find_device(&r, dv));
    }
    for (int i = 0; i < 300; i += 2) {
        snprintf(id, sizeof id, "E%04d", i);
        assert_int_equal(reg_remove(&r, id), 0);
    }
    assert_int_equal(r.elders.len, 150);
    assert_int_equal(r.devices.len, 150);
    reg_clear(&r);
}

/* ---- names ------------------------------------------------------------------ */

static void test_roles(void **state)
{
    (void)state;
    static const char *const names[] = {"family", "neighbor", "grid_worker", "doctor",
                                        "community", "volunteer", "call_center"};
    assert_int_equal(sizeof names / sizeof names[0], REG_ROLE_COUNT);
    for (int i = 0; i < REG_ROLE_COUNT; i++) {
        assert_int_equal(reg_role_parse(names[i]), i);
        assert_string_equal(reg_role_name((enum reg_role)i), names[i]);
    }
    assert_int_equal(reg_role_parse("grid_worker"), REG_ROLE_GRID_WORKER);
    assert_int_equal(reg_role_parse("call_center"), REG_ROLE_CALL_CENTER);
    assert_int_equal(reg_role_parse(""), -1);
    assert_int_equal(reg_role_parse("Family"), -1);
    assert_int_equal(reg_role_parse("family "), -1);
    assert_int_equal(reg_role_parse("grid"), -1);
    assert_int_equal(reg_role_parse("unknown"), -1);
    assert_string_equal(reg_role_name(REG_ROLE_COUNT), "unknown");
    assert_string_equal(reg_role_name((enum reg_role)-1), "unknown");
}

static void test_categories(void **state)
{
    (void)state;
    assert_int_equal(reg_category_parse("living_alone"), REG_CAT_LIVING_ALONE);
    assert_int_equal(reg_category_parse("empty_nest"), REG_CAT_EMPTY_NEST);
    assert_int_equal(reg_category_parse("left_behind"), REG_CAT_LEFT_BEHIND);
    assert_int_equal(reg_category_parse("disabled"), REG_CAT_DISABLED);
    assert_int_equal(reg_category_parse("severely_disabled"), REG_CAT_SEVERELY_DISABLED);
    assert_int_equal(reg_category_parse("family_planning_special"),
                     REG_CAT_FAMILY_PLANNING_SPECIAL);
    assert_int_equal(reg_category_parse(""), -1);
    assert_int_equal(reg_category_parse("Disabled"), -1);
    assert_int_equal(reg_category_parse("living"), -1);
    assert_int_equal(reg_category_parse("severely"), -1);

    struct reg_elder *e = parse("{\"id\":\"E\",\"name\":\"N\",\"categories\":["
                                "\"empty_nest\",\"left_behind\",\"severely_disabled\","
                                "\"family_planning_special\",\"empty_nest\"]}");
    assert_int_equal(e->categories, REG_CAT_EMPTY_NEST | REG_CAT_LEFT_BEHIND |
                                    REG_CAT_SEVERELY_DISABLED | REG_CAT_FAMILY_PLANNING_SPECIAL);
    reg_elder_free(e);
    reg_elder_free(NULL);
}

/* ---- the field builder ------------------------------------------------------ */

static const struct reg_elder_row ROW = {
    .id = "E0001", .name = "张桂兰", .township = "城关镇", .village = NULL, .grid = "G-03",
    .categories = REG_CAT_EMPTY_NEST, .consent = true,
};

static struct reg_elder *build(const struct reg_elder_row *row)
{
    struct reg_elder *e = (struct reg_elder *)1;
    err[0] = '\0';
    int rc = reg_elder_new(row, &e, err, sizeof err);
    if (rc != 0)
        fail_msg("reg_elder_new: %d %s", rc, err);
    assert_non_null(e);
    return e;
}

/* The same elder from fields and from JSON, compared field by field. */
static void test_fields_equal_json(void **state)
{
    (void)state;
    struct reg_elder_row row = {
        .id = "E0001", .name = "张桂兰", .township = "城关镇", .village = "东湖村",
        .grid = "G-03", .categories = REG_CAT_LIVING_ALONE | REG_CAT_DISABLED, .consent = true,
    };
    struct reg_elder *e = build(&row);
    /* The row's strings are borrowed: the elder keeps copies. */
    assert_ptr_not_equal(e->id, row.id);
    struct reg_plan_row plan = {
        .risk = "high", .chain = "emergency",
        .params = "{\"hr.max\":120,\"hr.min\":45.5,\"note\":\"text is skipped\",\"spo2.min\":90}",
    };
    assert_int_equal(reg_elder_set_plan(e, &plan, err, sizeof err), 0);
    struct reg_contact_row contacts[] = {
        {.id = 101, .name = "李明", .phone = "+8613800000011", .role = "family", .priority = 1,
         .channels = REG_CHANNEL_SMS | REG_CHANNEL_VOICE},
        {.id = 102, .name = "王芳", .phone = "+8613800000012", .role = "grid_worker",
         .priority = 2, .channels = REG_CHANNEL_VOICE},
        {.id = INT64_C(9007199254740991), .name = "赵医生", .phone = "+8613800000013",
         .role = "doctor", .priority = 9, .channels = -1},
    };
    assert_int_equal(reg_elder_set_contacts(e, contacts, 3, err, sizeof err), 0);
    struct reg_device_row devices[] = {
        {.id = "SOS-0001", .kind = "sos_button", .heartbeat_s = 600},
        {.id = "WM-0001", .kind = "water_meter", .heartbeat_s = 0},
    };
    assert_int_equal(reg_elder_set_devices(e, devices, 2, err, sizeof err), 0);

    struct reg_elder *j = parse(FULL);
    assert_string_equal(e->id, j->id);
    assert_string_equal(e->name, j->name);
    assert_string_equal(e->township, j->township);
    assert_string_equal(e->village, j->village);
    assert_string_equal(e->grid, j->grid);
    assert_int_equal(e->categories, j->categories);
    assert_int_equal(e->consent, j->consent);
    assert_int_equal(e->risk, j->risk);
    assert_string_equal(e->chain, j->chain);
    assert_int_equal(e->n_params, j->n_params);
    for (size_t i = 0; i < e->n_params; i++) {
        assert_string_equal(e->params[i].name, j->params[i].name);
        assert_true(e->params[i].value == j->params[i].value);
    }
    assert_int_equal(e->n_contacts, j->n_contacts);
    for (size_t i = 0; i < e->n_contacts; i++) {
        assert_int_equal(e->contacts[i].id, j->contacts[i].id);
        assert_string_equal(e->contacts[i].name, j->contacts[i].name);
        assert_string_equal(e->contacts[i].phone, j->contacts[i].phone);
        assert_int_equal(e->contacts[i].role, j->contacts[i].role);
        assert_int_equal(e->contacts[i].priority, j->contacts[i].priority);
        assert_int_equal(e->contacts[i].channels, j->contacts[i].channels);
    }
    assert_int_equal(e->n_devices, j->n_devices);
    for (size_t i = 0; i < e->n_devices; i++) {
        assert_string_equal(e->devices[i].id, j->devices[i].id);
        /* Common kinds are the shared strings both ways. */
        assert_ptr_equal(e->devices[i].kind, j->devices[i].kind);
        assert_true(reg_kind_shared(e->devices[i].kind));
        assert_int_equal(e->devices[i].heartbeat_s, j->devices[i].heartbeat_s);
        assert_int_equal(e->devices[i].last_seen_ms, j->devices[i].last_seen_ms);
        assert_ptr_equal(e->devices[i].elder, e);
    }
    reg_elder_free(j);
    reg_elder_free(e);
}

static void test_fields_minimal(void **state)
{
    (void)state;
    struct reg_elder_row row = {.id = "E2", .name = "李四"};
    struct reg_elder *e = build(&row);
    assert_null(e->township);
    assert_null(e->village);
    assert_null(e->grid);
    assert_int_equal(e->categories, 0);
    assert_false(e->consent);
    assert_int_equal(e->risk, REG_RISK_MEDIUM);     /* no plan */
    assert_null(e->chain);
    assert_int_equal(e->n_params + e->n_contacts + e->n_devices, 0);
    /* None of each is allowed, and changes nothing. */
    assert_int_equal(reg_elder_set_contacts(e, NULL, 0, err, sizeof err), 0);
    assert_int_equal(reg_elder_set_devices(e, NULL, 0, err, sizeof err), 0);
    assert_null(e->contacts);
    assert_null(e->devices);

    /* A plan with no params, an unknown risk and no chain. */
    struct reg_plan_row plan = {.risk = "extreme", .chain = NULL, .params = "{}"};
    assert_int_equal(reg_elder_set_plan(e, &plan, err, sizeof err), 0);
    assert_int_equal(e->risk, REG_RISK_MEDIUM);
    assert_null(e->chain);
    assert_int_equal(e->n_params, 0);
    reg_elder_free(e);

    e = build(&ROW);
    struct reg_plan_row low = {.risk = "low", .params = NULL};
    assert_int_equal(reg_elder_set_plan(e, &low, err, sizeof err), 0);
    assert_int_equal(e->risk, REG_RISK_LOW);
    assert_null(e->village);
    assert_int_equal(e->categories, REG_CAT_EMPTY_NEST);
    reg_elder_free(e);
}

static void test_fields_devices(void **state)
{
    (void)state;
    struct reg_elder *e = build(&ROW);
    struct reg_device_row devices[] = {
        {.id = "GPS-1", .kind = "gps_tracker", .heartbeat_s = 3600,
         .last_seen_ms = 1795939200123.0},
        {.id = "SOS-1", .kind = "sos_button", .heartbeat_s = 0.5, .last_seen_ms = -1000},
        {.id = "BED-1", .kind = "bed_sensor", .heartbeat_s = 604800, .last_seen_ms = 0},
    };
    assert_int_equal(reg_elder_set_devices(e, devices, 3, err, sizeof err), 0);
    assert_int_equal(e->n_devices, 3);
    /* An uncommon kind is the elder's own copy. */
    assert_string_equal(e->devices[0].kind, "gps_tracker");
    assert_ptr_not_equal(e->devices[0].kind, devices[0].kind);
    assert_false(reg_kind_shared(e->devices[0].kind));
    assert_int_equal(e->devices[0].heartbeat_s, 3600);
    assert_int_equal(e->devices[0].last_seen_ms, INT64_C(1795939200123));
    assert_true(reg_kind_shared(e->devices[1].kind));
    assert_int_equal(e->devices[1].heartbeat_s, 300);   /* below 1: the default */
    assert_int_equal(e->devices[1].last_seen_ms, 0);    /* before 1970: never */
    assert_int_equal(e->devices[2].heartbeat_s, 604800);
    for (size_t i = 0; i < 3; i++)
        assert_ptr_equal(e->devices[i].elder, e);

    /* Into a registry like any other elder. */
    struct registry r = {0};
    assert_int_equal(reg_put(&r, e), 0);
    assert_ptr_equal(reg_find_device(&r, "GPS-1"), &e->devices[0]);
    assert_ptr_equal(reg_find_elder(&r, "E0001"), e);
    reg_clear(&r);
}

/* Expects exactly this error from reg_elder_new. */
static void new_bad(const struct reg_elder_row *row, const char *want)
{
    struct reg_elder *e = (struct reg_elder *)1;
    assert_int_equal(reg_elder_new(row, &e, err, sizeof err), ANX_EINVAL);
    assert_null(e);
    assert_string_equal(err, want);
}

static void contacts_bad(const struct reg_contact_row *rows, size_t n, const char *want)
{
    struct reg_elder *e = build(&ROW);
    assert_int_equal(reg_elder_set_contacts(e, rows, n, err, sizeof err), ANX_EINVAL);
    assert_string_equal(err, want);
    reg_elder_free(e);      /* frees what was half built (ASan checks) */
}

static void devices_bad(const struct reg_device_row *rows, size_t n, const char *want)
{
    struct reg_elder *e = build(&ROW);
    assert_int_equal(reg_elder_set_devices(e, rows, n, err, sizeof err), ANX_EINVAL);
    assert_string_equal(err, want);
    reg_elder_free(e);
}

/* The builder's refusals carry the messages reg_elder_from_json gives for
 * the same faults. */
static void test_fields_errors(void **state)
{
    (void)state;
    new_bad(&(struct reg_elder_row){.name = "x"}, "id: missing");
    new_bad(&(struct reg_elder_row){.id = "E1"}, "name: missing");
    parse_bad("{\"name\":\"x\"}", "id: missing");
    parse_bad("{\"id\":\"E1\"}", "name: missing");

    const struct reg_contact_row good = {.name = "a", .phone = "+8613800000001",
                                         .role = "family", .priority = 1, .channels = -1};
    struct reg_contact_row two[2] = {good, good};
    two[1].role = "boss";
    contacts_bad(two, 2, "contacts[1].role: unknown");
    parse_bad("{\"id\":\"E1\",\"name\":\"x\",\"contacts\":[{\"name\":\"a\","
              "\"phone\":\"+8613800000001\",\"role\":\"family\",\"priority\":1},"
              "{\"name\":\"b\",\"phone\":\"+8613800000002\",\"role\":\"boss\",\"priority\":1}]}",
              "contacts[1].role: unknown");
    two[1] = good;
    two[1].role = NULL;
    contacts_bad(two, 2, "contacts[1].role: unknown");
    two[1] = good;
    two[1].priority = 0;
    contacts_bad(two, 2, "contacts[1].priority: expected 1..9");
    two[1].priority = 10;
    contacts_bad(two, 2, "contacts[1].priority: expected 1..9");
    two[1] = good;
    two[1].name = NULL;
    contacts_bad(two, 2, "name: missing");
    two[1] = good;
    two[1].phone = NULL;
    contacts_bad(two, 2, "phone: missing");

    const struct reg_device_row dev = {.id = "D1", .kind = "sos_button"};
    struct reg_device_row devs[2] = {dev, {.id = "D2", .kind = "gps_tracker"}};
    devs[1].id = NULL;
    devices_bad(devs, 2, "id: missing");
    devs[1].id = "D2";
    devs[1].kind = NULL;
    devices_bad(devs, 2, "kind: missing");
    parse_bad("{\"id\":\"E1\",\"name\":\"x\",\"devices\":[{\"id\":\"D1\"}]}", "kind: missing");

    /* Params the JSON parser cannot read (deeper than it goes). */
    char deep[2100];
    size_t n = 0;
    n += (size_t)snprintf(deep, sizeof deep, "{\"x\":");
    for (int i = 0; i < 1020; i++)
        deep[n++] = '[';
    for (int i = 0; i < 1020; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = '\0';
    struct reg_elder *e = build(&ROW);
    struct reg_plan_row plan = {.risk = "high", .params = deep};
    assert_int_equal(reg_elder_set_plan(e, &plan, err, sizeof err), ANX_EINVAL);
    assert_string_equal(err, "care_plan.params: not valid JSON");
    reg_elder_free(e);
    /* A params value that is not an object is no params, as in JSON. */
    e = build(&ROW);
    plan.params = "[1,2]";
    assert_int_equal(reg_elder_set_plan(e, &plan, err, sizeof err), 0);
    assert_int_equal(e->n_params, 0);
    reg_elder_free(e);
}

static void test_channels(void **state)
{
    (void)state;
    assert_int_equal(reg_channel_parse("sms"), REG_CHANNEL_SMS);
    assert_int_equal(reg_channel_parse("voice"), REG_CHANNEL_VOICE);
    assert_int_equal(reg_channel_parse("fax"), -1);
    assert_int_equal(reg_channel_parse(""), -1);
    char copy[] = "sos_button";
    assert_false(reg_kind_shared(copy));    /* by address: a copy is not shared */
}

/* ---- reg_seq_accept ------------------------------------------------------ */

static void test_seq_repeats_and_restarts(void **state)
{
    (void)state;
    struct reg_device d = {0};
    assert_true(reg_seq_accept(&d, false, 41));
    assert_true(d.has_seq);
    assert_false(reg_seq_accept(&d, false, 41));
    assert_false(reg_seq_accept(&d, false, 40));
    assert_true(reg_seq_accept(&d, false, 45));
    assert_int_equal(d.last_seq, 45);
    /* Just inside the restart gap is a repeat; at the gap, a restart. */
    assert_false(reg_seq_accept(&d, false, 45 - (REG_SEQ_RESTART_GAP - 1)));
    assert_true(reg_seq_accept(&d, false, 1000 + 45));
    assert_true(reg_seq_accept(&d, false, 45));
    assert_int_equal(d.last_seq, 45);
    /* No overflow at the ends of int64. */
    struct reg_device e = {0};
    assert_true(reg_seq_accept(&e, false, INT64_MAX));
    assert_false(reg_seq_accept(&e, false, INT64_MAX));
    assert_true(reg_seq_accept(&e, false, 0));
    assert_true(reg_seq_accept(&e, false, INT64_MAX));
    assert_false(reg_seq_accept(&e, false, INT64_MAX - 1));
}

static void test_seq_lanes_apart(void **state)
{
    (void)state;
    /* One counter across both topics: 100 and 102 are readings, 101 an
     * alarm that overtook 100 on its own session. Nothing is lost, and a
     * repeat is still a repeat on its own lane. */
    struct reg_device d = {0};
    assert_true(reg_seq_accept(&d, false, 99));
    assert_true(reg_seq_accept(&d, true, 101));
    assert_true(reg_seq_accept(&d, false, 100));
    assert_true(reg_seq_accept(&d, false, 102));
    assert_false(reg_seq_accept(&d, true, 101));
    assert_false(reg_seq_accept(&d, false, 100));
    assert_true(reg_seq_accept(&d, true, 103));
    assert_int_equal(d.last_seq, 102);
    assert_int_equal(d.alarm_seq, 103);
    assert_true(d.has_seq && d.has_alarm_seq);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_json_full),
        cmocka_unit_test(test_from_json_minimal),
        cmocka_unit_test(test_from_json_respects_len),
        cmocka_unit_test(test_from_json_errors),
        cmocka_unit_test(test_from_json_err_optional),
        cmocka_unit_test(test_put_find),
        cmocka_unit_test(test_replace_keeps_runtime_state),
        cmocka_unit_test(test_device_moves_between_elders),
        cmocka_unit_test(test_device_taken_then_old_owner_removed),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_many_reloads),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_categories),
        cmocka_unit_test(test_fields_equal_json),
        cmocka_unit_test(test_fields_minimal),
        cmocka_unit_test(test_fields_devices),
        cmocka_unit_test(test_fields_errors),
        cmocka_unit_test(test_channels),
        cmocka_unit_test(test_seq_repeats_and_restarts),
        cmocka_unit_test(test_seq_lanes_apart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
