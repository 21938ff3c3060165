/* escalate.h - running escalation chains: the firings due when an alert
 * opens, the durable step timers in PostgreSQL (claimed by one anxind at a
 * time, so several instances never page twice), acknowledgements and
 * resolutions arriving from any channel, and silences. */
#ifndef ANXIN_ESCALATE_H
#define ANXIN_ESCALATE_H

#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "notify.h"
#include "registry.h"
#include "rule.h"

struct anxind;

#define ESC_MAX_NOTES 64

/* The work of one or more firings of a chain: notifications to queue and
 * send, console entries, and the next timer. */
struct esc_plan {
    struct notify_msg *notes[ESC_MAX_NOTES];    /* owned until escalate_send/free */
    int note_step[ESC_MAX_NOTES];               /* the firing each belongs to */
    size_t n;
    int console_step[8];                        /* firings that told the console */
    size_t n_console;
    int64_t created_ms;
    bool has_next;
    int64_t next_step, next_due_ms;
    int64_t step_reached;                       /* last firing run, -1 none */
    int64_t ack_timeout_ms;                     /* the chain's (alert open only) */
    int64_t expire_ms;                          /* when an untaken alert expires, 0 never */
    char target[160];                           /* what the firing names, for the timeline */
};

/* The firings due when alert a opens (the chain's steps at 0s), and the
 * next timer. rule gives the message; device_kind, event and value fill it. */
void escalate_plan_open(struct anxind *d, const struct alert *a, const struct reg_elder *e,
                        const struct rule *r, const char *device_kind, const char *event,
                        const char *value, int64_t now, struct esc_plan *p);

/* Adds the plan to a store document: "notifications", "next", "step_reached". */
void escalate_plan_json(struct anxind *d, const struct esc_plan *p, cJSON *doc);

/* Hands every notification of the plan to the notifier (which owns them then). */
void escalate_send(struct anxind *d, struct esc_plan *p);

/* Frees what was not sent. */
void escalate_plan_free(struct esc_plan *p);

/* Claims and runs the step timers due now (called every second). */
void escalate_tick(struct anxind *d);

/* NOTIFY anxin_alert: {"id": N, "state": "acknowledged" | "resolved" | "cleared"}. */
void escalate_on_alert_notify(struct anxind *d, const char *payload);

/* Silences ------------------------------------------------------------- */

struct silence {
    int64_t id;
    char scope[8];                  /* elder device village rule */
    char target[101];
    char reason[128];
    int64_t starts_ms, ends_ms;     /* the first (or only) window */
    int64_t until_ms;               /* recurring: no window starts after this; 0 = none */
    int64_t period_ms;              /* 0 once, 1 day, 7 days */
};

/* The silence holding back an alert of rule for this device and elder at
 * now, or NULL. */
const struct silence *escalate_silenced(const struct anxind *d, const struct reg_elder *e,
                                        const char *device_id, const char *rule, int64_t now);

/* Reloads the silences from the database (on NOTIFY and reconnect). */
void escalate_reload_silences(struct anxind *d);

/* The same, blocking, at start. Returns 0 or ANX_EIO. */
int escalate_load_silences(struct anxind *d, PGconn *db);

#endif
