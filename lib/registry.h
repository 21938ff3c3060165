/* registry.h - the in-memory registry: elders, their care plans, contacts
 * and devices, as the hot path needs them (device id -> elder in one lookup).
 *
 * PostgreSQL is the source of truth; the daemon loads every elder at start
 * and reloads single elders when NOTIFY says they changed. Each elder arrives
 * as one JSON object (see reg_elder_from_json), the same shape the import
 * file uses plus the contacts' database ids.
 *
 * Ownership: the registry owns every elder and device in it. Pointers
 * returned by lookups stay valid until that elder is replaced or removed, so
 * never keep them across loop iterations; keep ids instead. */
#ifndef ANXIN_REGISTRY_H
#define ANXIN_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strmap.h"

enum reg_category {
    REG_CAT_LIVING_ALONE = 1 << 0,
    REG_CAT_EMPTY_NEST = 1 << 1,
    REG_CAT_LEFT_BEHIND = 1 << 2,
    REG_CAT_DISABLED = 1 << 3,
    REG_CAT_SEVERELY_DISABLED = 1 << 4,
    REG_CAT_FAMILY_PLANNING_SPECIAL = 1 << 5,
};

enum reg_role {
    REG_ROLE_FAMILY, REG_ROLE_NEIGHBOR, REG_ROLE_GRID_WORKER, REG_ROLE_DOCTOR,
    REG_ROLE_COMMUNITY, REG_ROLE_VOLUNTEER, REG_ROLE_CALL_CENTER, REG_ROLE_COUNT
};

enum reg_risk { REG_RISK_LOW, REG_RISK_MEDIUM, REG_RISK_HIGH };

#define REG_CHANNEL_SMS 1u
#define REG_CHANNEL_VOICE 2u

struct reg_contact {
    int64_t id;                 /* contacts.id */
    char *name;
    char *phone;                /* E.164 */
    uint8_t role;               /* enum reg_role */
    uint8_t priority;           /* 1 = first called */
    uint8_t channels;           /* REG_CHANNEL_* bits */
};

struct reg_param {
    char *name;                 /* "hr.max" */
    double value;
};

struct reg_elder;

struct reg_device {
    char *id;
    const char *kind;           /* sos_button, water_meter, ...: owned unless one of the
                                 * common kinds registry.c shares (free with the elder) */
    uint32_t heartbeat_s;
    struct reg_elder *elder;
    /* Runtime state, carried over when the elder is reloaded. */
    int64_t last_seen_ms;       /* receive time of the last message, 0 = never */
    int64_t last_seq;
    bool has_seq;
    bool seen_dirty;            /* last_seen not yet written to the database */
};

struct reg_elder {
    char *id;
    char *name;
    char *township, *village, *grid;    /* may be NULL */
    uint16_t categories;        /* enum reg_category bits */
    bool consent;
    uint8_t risk;               /* enum reg_risk */
    char *chain;                /* care plan chain, may be NULL */
    struct reg_param *params;
    size_t n_params;
    struct reg_contact *contacts;   /* in import order */
    size_t n_contacts;
    struct reg_device *devices;
    size_t n_devices;
};

struct registry {
    struct strmap elders;       /* id -> struct reg_elder * */
    struct strmap devices;      /* id -> struct reg_device * */
};

/* Zero-initialised struct registry is empty. Frees every elder. */
void reg_clear(struct registry *r);

/* Builds an elder from one JSON object:
 *   {"id", "name", "township", "village", "grid", "categories": [...],
 *    "consent", "care_plan": {"risk", "chain", "params": {name: number}},
 *    "contacts": [{"id", "name", "phone", "role", "priority", "channels"}],
 *    "devices": [{"id", "kind", "heartbeat_s"}]}
 * Returns 0 and *out (free with reg_elder_free unless handed to reg_put), or
 * ANX_EINVAL with a reason in err. */
int reg_elder_from_json(const char *json, size_t len, struct reg_elder **out,
                        char *err, size_t errlen);

void reg_elder_free(struct reg_elder *e);

/* Adds or replaces the elder with e->id, taking ownership of e. Devices keep
 * their runtime state across the replacement; a device id now listed under
 * this elder is taken from whichever elder had it. Returns 0 or ANX_ENOMEM
 * (then e is freed and the registry is unchanged). */
int reg_put(struct registry *r, struct reg_elder *e);

/* Removes and frees the elder with this id; returns 0 or ANX_ENOENT. */
int reg_remove(struct registry *r, const char *elder_id);

struct reg_elder *reg_find_elder(const struct registry *r, const char *id);
struct reg_device *reg_find_device(const struct registry *r, const char *id);

/* Care plan parameter `name`, or `dflt` when the plan does not set it. */
double reg_param(const struct reg_elder *e, const char *name, double dflt);

const char *reg_role_name(enum reg_role role);
int reg_role_parse(const char *s);             /* -1 if unknown */
int reg_category_parse(const char *s);         /* the bit, or -1 */

#endif
