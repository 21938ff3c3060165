/* engine.h - the rule engine: every message against the rules that can
 * match it, per-device state for windows, sustained conditions and absence,
 * and the wake-up times that make rules fire on time without a message.
 *
 * One engine holds one compiled rule set. Messages are looked up by metric
 * and event name (an index, not a scan of all rules); each device keeps only
 * the state of the rules that concern it. The engine emits FIRE and CLEAR
 * events through a callback; turning them into alerts is the caller's job.
 *
 * Pure: time is passed in (live, replay and tests share it), no I/O, no
 * globals. The state survives restarts through eng_snapshot/eng_restore and
 * carries over to a reloaded rule set for rules whose definition did not
 * change (eng_transfer). */
#ifndef ANXIN_ENGINE_H
#define ANXIN_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry.h"
#include "rule.h"
#include "telemetry.h"

struct eng;

enum eng_event_kind { ENG_FIRE, ENG_CLEAR };

struct eng_event {
    enum eng_event_kind kind;
    const struct rule *rule;
    const struct reg_device *device;
    const struct reg_elder *elder;
    int64_t at_ms;
    const char *event;              /* the event name for event rules, else NULL */
    bool has_value;
    double value;                   /* the value that decided (threshold, aggregate) */
    char why[240];                  /* "hr.bpm 142 > 130 (care plan hr.max) for 2m" */
};

/* Valid only during the call. */
typedef void (*eng_emit_fn)(void *arg, const struct eng_event *ev);

/* Compiles a checked rule set. rs must outlive the engine. utc_offset_min
 * places `during` and `on` in the county's local time. NULL on ENOMEM. */
struct eng *eng_new(const struct rule_set *rs, int utc_offset_min);
void eng_free(struct eng *e);

/* Starts watching a device for rules that need no message to fire
 * (absence): call for every device at start and for devices added later.
 * Idempotent. `since_ms` counts as its last message if it never sent one. */
void eng_track_device(struct eng *e, const struct reg_device *dev, int64_t since_ms);

/* Forgets a device's state (removed from the registry). */
void eng_forget_device(struct eng *e, const char *device_id);

/* Evaluates one decoded message from dev (already known to the registry)
 * received at now_ms, emitting what it fires or clears. */
void eng_on_message(struct eng *e, const struct reg_device *dev, const struct tlm_msg *m,
                    int64_t now_ms, eng_emit_fn emit, void *arg);

/* Runs every wake-up due at or before now_ms (in time order), emitting what
 * fires or clears. Devices no longer in reg are forgotten. */
void eng_advance(struct eng *e, const struct registry *reg, int64_t now_ms,
                 eng_emit_fn emit, void *arg);

/* The next wake-up time, INT64_MAX if none. */
int64_t eng_next_due(const struct eng *e);

/* Whether rule is firing for the device (state rules; false for event rules). */
bool eng_is_firing(const struct eng *e, const char *device_id, const char *rule);

/* Moves the state of rules whose definition is unchanged (same name and
 * same conditions) from old to e (a reload); old keeps the rest. */
void eng_transfer(struct eng *e, struct eng *old);

/* Snapshot of all state: a malloc'd buffer (caller frees) and its size, or
 * NULL on ENOMEM. eng_restore loads one into a fresh engine (same or
 * changed rule set: state of changed or unknown rules is dropped) and
 * schedules every restored device for a look at now_ms, so what fell due
 * meanwhile fires then; returns 0 or ANX_ECORRUPT/ANX_ENOMEM. */
uint8_t *eng_snapshot(const struct eng *e, size_t *len);

/* The same bytes, streamed: eng_snapshot_write hands them to sink in order,
 * in pieces of at most ENG_SNAP_PIECE bytes (sink's data is valid during the
 * call only), and returns 0, ANX_ENOMEM, or the first non-zero value sink
 * returned (it then stops early). eng_snapshot_size is the total it would
 * produce, for a header written before the data; nothing may change the
 * engine between the two calls. */
#define ENG_SNAP_PIECE (256u * 1024u)
typedef int (*eng_sink_fn)(void *arg, const void *data, size_t len);
size_t eng_snapshot_size(const struct eng *e);
int eng_snapshot_write(const struct eng *e, eng_sink_fn sink, void *arg);
int eng_restore(struct eng *e, const uint8_t *buf, size_t len, int64_t now_ms);

struct eng_stats {
    size_t devices;                 /* devices with state */
    size_t states;                  /* (device, rule) states */
    size_t windows;
    size_t bytes;                   /* memory held for state, approximately */
};

void eng_get_stats(const struct eng *e, struct eng_stats *s);

#endif
