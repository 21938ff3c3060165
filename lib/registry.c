/* registry.c - the in-memory registry (see registry.h). */
#include "registry.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

static const char *const role_names[REG_ROLE_COUNT] = {
    "family", "neighbor", "grid_worker", "doctor", "community", "volunteer", "call_center",
};

static const char *const category_names[] = {
    "living_alone", "empty_nest", "left_behind", "disabled", "severely_disabled",
    "family_planning_special",
};

const char *reg_role_name(enum reg_role role)
{
    return (unsigned)role < REG_ROLE_COUNT ? role_names[role] : "unknown";
}

int reg_role_parse(const char *s)
{
    for (int i = 0; i < REG_ROLE_COUNT; i++)
        if (strcmp(s, role_names[i]) == 0)
            return i;
    return -1;
}

int reg_category_parse(const char *s)
{
    for (size_t i = 0; i < sizeof category_names / sizeof category_names[0]; i++)
        if (strcmp(s, category_names[i]) == 0)
            return 1 << i;
    return -1;
}

/* The device kinds of the default rules and the contract, shared by every
 * device of that kind instead of a copy each (32 bytes a device). */
static const char *const shared_kinds[] = {
    "sos_button", "water_meter", "wearable", "bathroom_sensor", "door_sensor",
    "smoke_alarm", "fall_detector", "gas_detector", "bed_sensor", "motion_sensor",
};

bool reg_kind_shared(const char *kind)
{
    for (size_t i = 0; i < sizeof shared_kinds / sizeof *shared_kinds; i++)
        if (kind == shared_kinds[i])
            return true;
    return false;
}

void reg_elder_free(struct reg_elder *e)
{
    if (!e)
        return;
    free(e->id);
    free(e->name);
    free(e->township);
    free(e->village);
    free(e->grid);
    free(e->chain);
    for (size_t i = 0; i < e->n_params; i++)
        free(e->params[i].name);
    free(e->params);
    for (size_t i = 0; i < e->n_contacts; i++) {
        free(e->contacts[i].name);
        free(e->contacts[i].phone);
    }
    free(e->contacts);
    for (size_t i = 0; i < e->n_devices; i++) {
        free(e->devices[i].id);
        if (!reg_kind_shared(e->devices[i].kind))
            free((char *)e->devices[i].kind);
    }
    free(e->devices);
    free(e);
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return ANX_EINVAL;
}

int reg_channel_parse(const char *s)
{
    if (strcmp(s, "sms") == 0)
        return REG_CHANNEL_SMS;
    if (strcmp(s, "voice") == 0)
        return REG_CHANNEL_VOICE;
    return -1;
}

/* The field builder ------------------------------------------------------- */

/* A copy of v into *out; NULL stays NULL unless the field is required. */
static int copy_field(const char *key, const char *v, bool required, char **out,
                      char *err, size_t errlen)
{
    *out = NULL;
    if (!v)
        return required ? fail(err, errlen, "%s: missing", key) : 0;
    *out = strdup(v);
    return *out ? 0 : ANX_ENOMEM;
}

/* The device's kind: one of shared_kinds, or a copy of its own. */
static int copy_kind(const char *v, const char **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!v)
        return fail(err, errlen, "kind: missing");
    for (size_t i = 0; i < sizeof shared_kinds / sizeof *shared_kinds; i++)
        if (strcmp(v, shared_kinds[i]) == 0) {
            *out = shared_kinds[i];
            return 0;
        }
    *out = strdup(v);
    return *out ? 0 : ANX_ENOMEM;
}

/* Out of memory is reported in err too, so a caller that only logs the
 * reason says something true. */
static int done(int rc, char *err, size_t errlen)
{
    if (rc == ANX_ENOMEM)
        fail(err, errlen, "out of memory");
    return rc;
}

int reg_elder_new(const struct reg_elder_row *row, struct reg_elder **out,
                  char *err, size_t errlen)
{
    *out = NULL;
    struct reg_elder *e = calloc(1, sizeof *e);
    if (!e)
        return done(ANX_ENOMEM, err, errlen);
    e->risk = REG_RISK_MEDIUM;
    e->categories = row->categories;
    e->consent = row->consent;
    int rc;
    if ((rc = copy_field("id", row->id, true, &e->id, err, errlen)) ||
        (rc = copy_field("name", row->name, true, &e->name, err, errlen)) ||
        (rc = copy_field("township", row->township, false, &e->township, err, errlen)) ||
        (rc = copy_field("village", row->village, false, &e->village, err, errlen)) ||
        (rc = copy_field("grid", row->grid, false, &e->grid, err, errlen))) {
        reg_elder_free(e);
        return done(rc, err, errlen);
    }
    *out = e;
    return 0;
}

/* The plan's params object: its number members, in its order. */
static int plan_params(struct reg_elder *e, const cJSON *params)
{
    if (!cJSON_IsObject(params))
        return 0;
    size_t n = (size_t)cJSON_GetArraySize(params);
    if (n == 0)
        return 0;
    e->params = calloc(n, sizeof *e->params);
    if (!e->params)
        return ANX_ENOMEM;
    const cJSON *p;
    cJSON_ArrayForEach(p, params) {
        if (!cJSON_IsNumber(p))
            continue;
        struct reg_param *rp = &e->params[e->n_params];
        rp->name = strdup(p->string);
        if (!rp->name)
            return ANX_ENOMEM;
        rp->value = p->valuedouble;
        e->n_params++;
    }
    return 0;
}

/* The plan with its params already parsed (reg_elder_from_json has them as
 * part of its document). */
static int set_plan(struct reg_elder *e, const char *risk, const char *chain,
                    const cJSON *params, char *err, size_t errlen)
{
    if (risk && strcmp(risk, "low") == 0)
        e->risk = REG_RISK_LOW;
    else if (risk && strcmp(risk, "high") == 0)
        e->risk = REG_RISK_HIGH;
    else
        e->risk = REG_RISK_MEDIUM;
    int rc = copy_field("chain", chain, false, &e->chain, err, errlen);
    if (rc == 0)
        rc = plan_params(e, params);
    return done(rc, err, errlen);
}

int reg_elder_set_plan(struct reg_elder *e, const struct reg_plan_row *plan,
                       char *err, size_t errlen)
{
    /* Most plans set no params: no parser for those. */
    if (!plan->params || strcmp(plan->params, "{}") == 0)
        return set_plan(e, plan->risk, plan->chain, NULL, err, errlen);
    cJSON *params = cJSON_Parse(plan->params);
    if (!params)
        return fail(err, errlen, "care_plan.params: not valid JSON");
    int rc = set_plan(e, plan->risk, plan->chain, params, err, errlen);
    cJSON_Delete(params);
    return rc;
}

int reg_elder_set_contacts(struct reg_elder *e, const struct reg_contact_row *rows, size_t n,
                           char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    e->contacts = calloc(n, sizeof *e->contacts);
    if (!e->contacts)
        return done(ANX_ENOMEM, err, errlen);
    for (size_t i = 0; i < n; i++) {
        const struct reg_contact_row *row = &rows[i];
        /* Counted first: reg_elder_free frees what a failure left half-built. */
        struct reg_contact *k = &e->contacts[e->n_contacts++];
        int rc;
        if ((rc = copy_field("name", row->name, true, &k->name, err, errlen)) ||
            (rc = copy_field("phone", row->phone, true, &k->phone, err, errlen)))
            return done(rc, err, errlen);
        k->id = row->id;
        int role = row->role ? reg_role_parse(row->role) : -1;
        if (role < 0)
            return fail(err, errlen, "contacts[%zu].role: unknown", i);
        k->role = (uint8_t)role;
        if (!(row->priority >= 1 && row->priority <= 9))
            return fail(err, errlen, "contacts[%zu].priority: expected 1..9", i);
        k->priority = (uint8_t)row->priority;
        k->channels = row->channels < 0 ? REG_CHANNEL_SMS : (uint8_t)row->channels;
    }
    return 0;
}

int reg_elder_set_devices(struct reg_elder *e, const struct reg_device_row *rows, size_t n,
                          char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    e->devices = calloc(n, sizeof *e->devices);
    if (!e->devices)
        return done(ANX_ENOMEM, err, errlen);
    for (size_t i = 0; i < n; i++) {
        const struct reg_device_row *row = &rows[i];
        struct reg_device *dev = &e->devices[e->n_devices++];
        int rc;
        if ((rc = copy_field("id", row->id, true, &dev->id, err, errlen)) ||
            (rc = copy_kind(row->kind, &dev->kind, err, errlen)))
            return done(rc, err, errlen);
        dev->heartbeat_s = row->heartbeat_s >= 1 ? (uint32_t)row->heartbeat_s : 300;
        if (row->last_seen_ms > 0)
            dev->last_seen_ms = (int64_t)row->last_seen_ms;
        dev->elder = e;
    }
    return 0;
}

/* JSON: the document's types are checked here, everything else by the
 * builder above. ------------------------------------------------------------ */

/* The string at key, or NULL when absent or null; a member of another type
 * is refused. */
static int json_str(const cJSON *obj, const char *key, const char **out,
                    char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return fail(err, errlen, "%s: expected a string", key);
    *out = v->valuestring;
    return 0;
}

static double json_num(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* An array member's items as builder rows: n items of size bytes each, in
 * one allocation the caller frees. Absent or null is no items. */
static int json_rows(const cJSON *arr, const char *key, size_t size, void **rows, size_t *n,
                     char *err, size_t errlen)
{
    *rows = NULL;
    *n = 0;
    if (!arr || cJSON_IsNull(arr))
        return 0;
    if (!cJSON_IsArray(arr))
        return fail(err, errlen, "%s: expected an array", key);
    *n = (size_t)cJSON_GetArraySize(arr);
    if (*n == 0)
        return 0;
    *rows = calloc(*n, size);
    return *rows ? 0 : ANX_ENOMEM;
}

static int parse_contacts(struct reg_elder *e, const cJSON *arr, char *err, size_t errlen)
{
    void *mem;
    size_t n, i = 0;
    int rc = json_rows(arr, "contacts", sizeof(struct reg_contact_row), &mem, &n, err, errlen);
    struct reg_contact_row *rows = mem;
    const cJSON *c;
    cJSON_ArrayForEach(c, (rows ? arr : NULL)) {
        struct reg_contact_row *row = &rows[i++];
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(c, "role");
        const cJSON *chans = cJSON_GetObjectItemCaseSensitive(c, "channels");
        if (rc == 0)
            rc = json_str(c, "name", &row->name, err, errlen);
        if (rc == 0)
            rc = json_str(c, "phone", &row->phone, err, errlen);
        row->id = cJSON_IsNumber(id) ? (int64_t)id->valuedouble : 0;
        row->role = cJSON_IsString(role) ? role->valuestring : NULL;
        row->priority = json_num(c, "priority");
        row->channels = cJSON_IsArray(chans) ? 0 : -1;
        const cJSON *ch;
        cJSON_ArrayForEach(ch, (cJSON_IsArray(chans) ? chans : NULL)) {
            int bit = cJSON_IsString(ch) ? reg_channel_parse(ch->valuestring) : -1;
            if (bit > 0)
                row->channels |= bit;
        }
    }
    if (rc == 0)
        rc = reg_elder_set_contacts(e, rows, n, err, errlen);
    free(rows);
    return rc;
}

static int parse_devices(struct reg_elder *e, const cJSON *arr, char *err, size_t errlen)
{
    void *mem;
    size_t n, i = 0;
    int rc = json_rows(arr, "devices", sizeof(struct reg_device_row), &mem, &n, err, errlen);
    struct reg_device_row *rows = mem;
    const cJSON *d;
    cJSON_ArrayForEach(d, (rows ? arr : NULL)) {
        struct reg_device_row *row = &rows[i++];
        if (rc == 0)
            rc = json_str(d, "id", &row->id, err, errlen);
        if (rc == 0)
            rc = json_str(d, "kind", &row->kind, err, errlen);
        row->heartbeat_s = json_num(d, "heartbeat_s");
        row->last_seen_ms = json_num(d, "last_seen_ms");
    }
    if (rc == 0)
        rc = reg_elder_set_devices(e, rows, n, err, errlen);
    free(rows);
    return rc;
}

static int parse_plan(struct reg_elder *e, const cJSON *plan, char *err, size_t errlen)
{
    if (!plan || cJSON_IsNull(plan))
        return 0;
    if (!cJSON_IsObject(plan))
        return fail(err, errlen, "care_plan: expected an object");
    const cJSON *risk = cJSON_GetObjectItemCaseSensitive(plan, "risk");
    const char *chain;
    int rc = json_str(plan, "chain", &chain, err, errlen);
    if (rc)
        return rc;
    return set_plan(e, cJSON_IsString(risk) ? risk->valuestring : NULL, chain,
                    cJSON_GetObjectItemCaseSensitive(plan, "params"), err, errlen);
}

/* The elder's own fields from the document. */
static int parse_elder(const cJSON *root, struct reg_elder **out, char *err, size_t errlen)
{
    struct reg_elder_row row = {0};
    int rc;
    if ((rc = json_str(root, "id", &row.id, err, errlen)) ||
        (rc = json_str(root, "name", &row.name, err, errlen)) ||
        (rc = json_str(root, "township", &row.township, err, errlen)) ||
        (rc = json_str(root, "village", &row.village, err, errlen)) ||
        (rc = json_str(root, "grid", &row.grid, err, errlen)))
        return rc;
    row.consent = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "consent"));
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "categories")) {
        int bit = cJSON_IsString(c) ? reg_category_parse(c->valuestring) : -1;
        if (bit > 0)
            row.categories |= (uint16_t)bit;
    }
    return reg_elder_new(&row, out, err, errlen);
}

int reg_elder_from_json(const char *json, size_t len, struct reg_elder **out,
                        char *err, size_t errlen)
{
    *out = NULL;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root)
        return fail(err, errlen, "not valid JSON");
    struct reg_elder *e = NULL;
    int rc = cJSON_IsObject(root) ? parse_elder(root, &e, err, errlen)
                                  : fail(err, errlen, "expected an object");
    if (rc == 0)
        rc = parse_plan(e, cJSON_GetObjectItemCaseSensitive(root, "care_plan"), err, errlen);
    if (rc == 0)
        rc = parse_contacts(e, cJSON_GetObjectItemCaseSensitive(root, "contacts"), err, errlen);
    if (rc == 0)
        rc = parse_devices(e, cJSON_GetObjectItemCaseSensitive(root, "devices"), err, errlen);
    cJSON_Delete(root);
    if (rc) {
        done(rc, err, errlen);
        reg_elder_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

/* Takes e's devices out of the device map, but only entries that still
 * point at e's own device structs (another elder may have taken an id). */
static void unlink_devices(struct registry *r, struct reg_elder *e)
{
    for (size_t i = 0; i < e->n_devices; i++) {
        struct reg_device *d = &e->devices[i];
        if (strmap_get(&r->devices, d->id) == d)
            strmap_del(&r->devices, d->id);
    }
}

int reg_put(struct registry *r, struct reg_elder *e)
{
    /* Make room first: after this no put below can fail, so the registry
     * never ends up half-changed. */
    if (strmap_reserve(&r->devices, e->n_devices) || strmap_reserve(&r->elders, 1)) {
        reg_elder_free(e);
        return ANX_ENOMEM;
    }
    struct reg_elder *old = strmap_get(&r->elders, e->id);
    for (size_t i = 0; i < e->n_devices; i++) {
        struct reg_device *prev = strmap_get(&r->devices, e->devices[i].id);
        if (prev) {
            if (prev->last_seen_ms > e->devices[i].last_seen_ms)
                e->devices[i].last_seen_ms = prev->last_seen_ms;
            e->devices[i].last_seq = prev->last_seq;
            e->devices[i].has_seq = prev->has_seq;
            e->devices[i].alarm_seq = prev->alarm_seq;
            e->devices[i].has_alarm_seq = prev->has_alarm_seq;
            e->devices[i].seen_dirty = prev->seen_dirty;
        }
    }
    if (old)
        unlink_devices(r, old);
    for (size_t i = 0; i < e->n_devices; i++)
        strmap_put(&r->devices, e->devices[i].id, &e->devices[i], NULL);
    strmap_put(&r->elders, e->id, e, NULL);
    reg_elder_free(old);
    return 0;
}

int reg_remove(struct registry *r, const char *elder_id)
{
    struct reg_elder *e = strmap_get(&r->elders, elder_id);
    if (!e)
        return ANX_ENOENT;
    unlink_devices(r, e);
    strmap_del(&r->elders, elder_id);
    reg_elder_free(e);
    return 0;
}

void reg_clear(struct registry *r)
{
    size_t it = 0;
    void *v;
    while (strmap_next(&r->elders, &it, NULL, &v))
        reg_elder_free(v);
    strmap_free(&r->elders);
    strmap_free(&r->devices);
}

struct reg_elder *reg_find_elder(const struct registry *r, const char *id)
{
    return strmap_get(&r->elders, id);
}

struct reg_device *reg_find_device(const struct registry *r, const char *id)
{
    return strmap_get(&r->devices, id);
}

double reg_param(const struct reg_elder *e, const char *name, double dflt)
{
    for (size_t i = 0; i < e->n_params; i++)
        if (strcmp(e->params[i].name, name) == 0)
            return e->params[i].value;
    return dflt;
}

bool reg_seq_accept(struct reg_device *d, bool alarm_lane, int64_t seq)
{
    int64_t *last = alarm_lane ? &d->alarm_seq : &d->last_seq;
    bool *has = alarm_lane ? &d->has_alarm_seq : &d->has_seq;
    /* In unsigned: seqs are the device's, any int64 at all. */
    if (*has && seq <= *last && (uint64_t)*last - (uint64_t)seq < REG_SEQ_RESTART_GAP)
        return false;
    *last = seq;
    *has = true;
    return true;
}
