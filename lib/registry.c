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

static bool kind_is_shared(const char *kind)
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
        if (!kind_is_shared(e->devices[i].kind))
            free((char *)e->devices[i].kind);
    }
    free(e->devices);
    free(e);
}

/* JSON helpers: each returns 0 or sets err and returns ANX_EINVAL/ANX_ENOMEM. */

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

static int take_string(const cJSON *obj, const char *key, bool required, char **out,
                       char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return fail(err, errlen, "%s: missing", key);
        return 0;
    }
    if (!cJSON_IsString(v))
        return fail(err, errlen, "%s: expected a string", key);
    *out = strdup(v->valuestring);
    return *out ? 0 : ANX_ENOMEM;
}

/* The device's kind: one of shared_kinds, or a copy of its own. */
static int take_kind(const cJSON *dev, const char **out, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(dev, "kind");
    *out = NULL;
    if (!cJSON_IsString(v))
        return fail(err, errlen, v && !cJSON_IsNull(v) ? "kind: expected a string"
                                                        : "kind: missing");
    for (size_t i = 0; i < sizeof shared_kinds / sizeof *shared_kinds; i++)
        if (strcmp(v->valuestring, shared_kinds[i]) == 0) {
            *out = shared_kinds[i];
            return 0;
        }
    *out = strdup(v->valuestring);
    return *out ? 0 : ANX_ENOMEM;
}

static int parse_contacts(struct reg_elder *e, const cJSON *arr, char *err, size_t errlen)
{
    if (!arr || cJSON_IsNull(arr))
        return 0;
    if (!cJSON_IsArray(arr))
        return fail(err, errlen, "contacts: expected an array");
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (n == 0)
        return 0;
    e->contacts = calloc(n, sizeof *e->contacts);
    if (!e->contacts)
        return ANX_ENOMEM;
    const cJSON *c;
    cJSON_ArrayForEach(c, arr) {
        struct reg_contact *k = &e->contacts[e->n_contacts++];
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(c, "role");
        const cJSON *prio = cJSON_GetObjectItemCaseSensitive(c, "priority");
        const cJSON *chans = cJSON_GetObjectItemCaseSensitive(c, "channels");
        int rc;
        if ((rc = take_string(c, "name", true, &k->name, err, errlen)) ||
            (rc = take_string(c, "phone", true, &k->phone, err, errlen)))
            return rc;
        k->id = cJSON_IsNumber(id) ? (int64_t)id->valuedouble : 0;
        int r = cJSON_IsString(role) ? reg_role_parse(role->valuestring) : -1;
        if (r < 0)
            return fail(err, errlen, "contacts[%zu].role: unknown", e->n_contacts - 1);
        k->role = (uint8_t)r;
        if (!cJSON_IsNumber(prio) || prio->valuedouble < 1 || prio->valuedouble > 9)
            return fail(err, errlen, "contacts[%zu].priority: expected 1..9", e->n_contacts - 1);
        k->priority = (uint8_t)prio->valuedouble;
        if (cJSON_IsArray(chans)) {
            const cJSON *ch;
            cJSON_ArrayForEach(ch, chans) {
                if (cJSON_IsString(ch) && strcmp(ch->valuestring, "sms") == 0)
                    k->channels |= REG_CHANNEL_SMS;
                else if (cJSON_IsString(ch) && strcmp(ch->valuestring, "voice") == 0)
                    k->channels |= REG_CHANNEL_VOICE;
            }
        } else {
            k->channels = REG_CHANNEL_SMS;
        }
    }
    return 0;
}

static int parse_devices(struct reg_elder *e, const cJSON *arr, char *err, size_t errlen)
{
    if (!arr || cJSON_IsNull(arr))
        return 0;
    if (!cJSON_IsArray(arr))
        return fail(err, errlen, "devices: expected an array");
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (n == 0)
        return 0;
    e->devices = calloc(n, sizeof *e->devices);
    if (!e->devices)
        return ANX_ENOMEM;
    const cJSON *d;
    cJSON_ArrayForEach(d, arr) {
        struct reg_device *dev = &e->devices[e->n_devices++];
        int rc;
        if ((rc = take_string(d, "id", true, &dev->id, err, errlen)) ||
            (rc = take_kind(d, &dev->kind, err, errlen)))
            return rc;
        const cJSON *hb = cJSON_GetObjectItemCaseSensitive(d, "heartbeat_s");
        dev->heartbeat_s = cJSON_IsNumber(hb) && hb->valuedouble >= 1 ? (uint32_t)hb->valuedouble
                                                                       : 300;
        const cJSON *seen = cJSON_GetObjectItemCaseSensitive(d, "last_seen_ms");
        if (cJSON_IsNumber(seen) && seen->valuedouble > 0)
            dev->last_seen_ms = (int64_t)seen->valuedouble;
        dev->elder = e;
    }
    return 0;
}

static int parse_plan(struct reg_elder *e, const cJSON *plan, char *err, size_t errlen)
{
    e->risk = REG_RISK_MEDIUM;
    if (!plan || cJSON_IsNull(plan))
        return 0;
    if (!cJSON_IsObject(plan))
        return fail(err, errlen, "care_plan: expected an object");
    const cJSON *risk = cJSON_GetObjectItemCaseSensitive(plan, "risk");
    if (cJSON_IsString(risk)) {
        if (strcmp(risk->valuestring, "low") == 0)
            e->risk = REG_RISK_LOW;
        else if (strcmp(risk->valuestring, "high") == 0)
            e->risk = REG_RISK_HIGH;
    }
    int rc = take_string(plan, "chain", false, &e->chain, err, errlen);
    if (rc)
        return rc;
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(plan, "params");
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

int reg_elder_from_json(const char *json, size_t len, struct reg_elder **out,
                        char *err, size_t errlen)
{
    *out = NULL;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root)
        return fail(err, errlen, "not valid JSON");
    struct reg_elder *e = calloc(1, sizeof *e);
    int rc = e ? 0 : ANX_ENOMEM;
    if (rc == 0 && !cJSON_IsObject(root))
        rc = fail(err, errlen, "expected an object");
    if (rc == 0)
        rc = take_string(root, "id", true, &e->id, err, errlen);
    if (rc == 0)
        rc = take_string(root, "name", true, &e->name, err, errlen);
    if (rc == 0)
        rc = take_string(root, "township", false, &e->township, err, errlen);
    if (rc == 0)
        rc = take_string(root, "village", false, &e->village, err, errlen);
    if (rc == 0)
        rc = take_string(root, "grid", false, &e->grid, err, errlen);
    if (rc == 0) {
        const cJSON *consent = cJSON_GetObjectItemCaseSensitive(root, "consent");
        e->consent = cJSON_IsTrue(consent);
        const cJSON *cats = cJSON_GetObjectItemCaseSensitive(root, "categories");
        const cJSON *c;
        cJSON_ArrayForEach(c, cats) {
            int bit = cJSON_IsString(c) ? reg_category_parse(c->valuestring) : -1;
            if (bit > 0)
                e->categories |= (uint16_t)bit;
        }
        rc = parse_plan(e, cJSON_GetObjectItemCaseSensitive(root, "care_plan"), err, errlen);
    }
    if (rc == 0)
        rc = parse_contacts(e, cJSON_GetObjectItemCaseSensitive(root, "contacts"), err, errlen);
    if (rc == 0)
        rc = parse_devices(e, cJSON_GetObjectItemCaseSensitive(root, "devices"), err, errlen);
    cJSON_Delete(root);
    if (rc) {
        if (rc == ANX_ENOMEM)
            fail(err, errlen, "out of memory");
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
