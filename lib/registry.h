/* registry.h - the in-memory registry: elders, their care plans, contacts
 * and devices, as the hot path needs them (device id -> elder in one lookup).
 *
 * PostgreSQL is the source of truth; the daemon loads every elder at start
 * and reloads single elders when NOTIFY says they changed. An elder arrives
 * either as one JSON object (see reg_elder_from_json), the same shape the
 * import file uses plus the contacts' database ids, or field by field from
 * the tables (reg_elder_new and the reg_elder_set_* calls).
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
    /* Runtime state, carried over when the elder is reloaded (the bools sit
     * in what would be padding: a million devices are kept). */
    bool has_seq;               /* last_seq holds a seq */
    bool has_alarm_seq;         /* alarm_seq holds a seq */
    bool seen_dirty;            /* last_seen not yet written to the database */
    struct reg_elder *elder;
    int64_t last_seen_ms;       /* receive time of the last message, 0 = never */
    int64_t last_seq;           /* the last seq taken on the telemetry lane */
    int64_t alarm_seq;          /* ... and on the alarm lane (reg_seq_accept) */
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

/* Building an elder field by field, as daemon/regdb.c does from plain table
 * scans at start. reg_elder_from_json builds through these too, so both
 * apply the same rules and give the same error messages. Every string in a
 * row is borrowed: the builder copies what it keeps, so the caller may free
 * the row as soon as the call returns. The elder under construction is the
 * caller's until handed to reg_put (or freed with reg_elder_free, which also
 * frees whatever a failed call had built). Each returns 0, ANX_EINVAL with a
 * reason in err (then the elder must be left out, as reg_elder_from_json
 * would leave it out) or ANX_ENOMEM. */
struct reg_elder_row {
    const char *id, *name;                  /* required */
    const char *township, *village, *grid;  /* NULL = not set */
    uint16_t categories;                    /* reg_category_parse bits */
    bool consent;
};

struct reg_plan_row {
    const char *risk;       /* "low" or "high"; anything else (NULL too) = medium */
    const char *chain;      /* NULL = none */
    const char *params;     /* JSON object text {name: number}; NULL = none.
                             * Members that are not numbers are skipped. */
};

struct reg_contact_row {
    int64_t id;             /* contacts.id, 0 if unknown */
    const char *name;       /* required */
    const char *phone;      /* required */
    const char *role;       /* a reg_role_parse name; NULL or unknown is refused */
    double priority;        /* 1..9 (a fraction is cut off) */
    int channels;           /* REG_CHANNEL_* bits, or -1: not given, SMS */
};

struct reg_device_row {
    const char *id;         /* required */
    const char *kind;       /* required */
    double heartbeat_s;     /* below 1: the default, 300 */
    double last_seen_ms;    /* 0 or less: never */
};

/* A new elder with no care plan (risk medium), contacts or devices. */
int reg_elder_new(const struct reg_elder_row *row, struct reg_elder **out,
                  char *err, size_t errlen);

/* Sets the care plan; call at most once, and only for an elder that has one. */
int reg_elder_set_plan(struct reg_elder *e, const struct reg_plan_row *plan,
                       char *err, size_t errlen);

/* Sets all of the elder's contacts (in calling order) or devices (in the
 * order given), n rows at once so each array is allocated to its size; call
 * each at most once per elder. */
int reg_elder_set_contacts(struct reg_elder *e, const struct reg_contact_row *rows, size_t n,
                           char *err, size_t errlen);
int reg_elder_set_devices(struct reg_elder *e, const struct reg_device_row *rows, size_t n,
                          char *err, size_t errlen);

/* Adds or replaces the elder with e->id, taking ownership of e. Devices keep
 * their runtime state across the replacement; a device id now listed under
 * this elder is taken from whichever elder had it. Returns 0 or ANX_ENOMEM
 * (then e is freed and the registry is unchanged). */
int reg_put(struct registry *r, struct reg_elder *e);

/* Removes and frees the elder with this id; returns 0 or ANX_ENOENT. */
int reg_remove(struct registry *r, const char *elder_id);

struct reg_elder *reg_find_elder(const struct registry *r, const char *id);
struct reg_device *reg_find_device(const struct registry *r, const char *id);

/* A seq this far below the device's last one means it restarted its counter. */
#define REG_SEQ_RESTART_GAP 1000

/* Decides whether a message with this seq is new for the device, and
 * records it if so; false means a repeat (a QoS 1 redelivery, a device
 * resending): a seq at or below the last one, unless REG_SEQ_RESTART_GAP or
 * more below (the device restarted counting). Each lane keeps its own last
 * seq: the broker keeps order within a session, not between two, so an
 * alarm on the alarm lane passes readings still queued for the telemetry
 * lane, and a device counting across both topics must not lose them. */
bool reg_seq_accept(struct reg_device *d, bool alarm_lane, int64_t seq);

/* Care plan parameter `name`, or `dflt` when the plan does not set it. */
double reg_param(const struct reg_elder *e, const char *name, double dflt);

const char *reg_role_name(enum reg_role role);
int reg_role_parse(const char *s);             /* -1 if unknown */
int reg_category_parse(const char *s);         /* the bit, or -1 */
int reg_channel_parse(const char *s);          /* REG_CHANNEL_*, or -1 */

/* Whether a device's kind is one of the strings every device of that kind
 * shares (compared by address: what reg_elder_free must not free). */
bool reg_kind_shared(const char *kind);

#endif
