/* telemetry.h - decoding of device telemetry messages (contract v1).
 *
 * Topic `anxin/v1/<device_id>/telemetry` (the device id is the segment after
 * the configured prefix), payload a UTF-8 JSON object of at most 64 KiB:
 *   ts       optional: integer ms since the epoch, or an RFC 3339 string
 *   seq      optional: non-negative integer, per-device increasing
 *   device   optional: string; when present it must equal the topic's id
 *   metrics  optional: object, name -> number or boolean
 *   events   optional: array of strings
 * Unknown top-level members are ignored (forward compatibility).
 *
 * Pure: no I/O, no clock; one message at a time, no shared state. */
#ifndef ANXIN_TELEMETRY_H
#define ANXIN_TELEMETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLM_MAX_PAYLOAD (64 * 1024)
#define TLM_MAX_ID 64       /* device ids: 1..64 chars of [A-Za-z0-9_.:-] */
#define TLM_MAX_NAME 32     /* metric and event names: 1..32 chars of [a-z0-9_.] */
#define TLM_MAX_METRICS 64
#define TLM_MAX_EVENTS 16

/* Why a message was rejected. Each reason is counted separately by the
 * daemon, so keep them specific; tlm_reason_name() gives the metric label. */
enum tlm_reason {
    TLM_OK = 0,
    TLM_BAD_TOPIC,      /* topic does not have the expected shape / bad id */
    TLM_TOO_LARGE,      /* payload over TLM_MAX_PAYLOAD */
    TLM_BAD_UTF8,       /* payload is not valid UTF-8 */
    TLM_NOT_JSON,       /* payload does not parse as JSON */
    TLM_NOT_OBJECT,     /* top level is not an object */
    TLM_BAD_TS,         /* ts neither integer ms nor RFC 3339, or out of range */
    TLM_BAD_SEQ,        /* seq not a non-negative integer */
    TLM_ID_MISMATCH,    /* "device" member differs from the topic's id */
    TLM_BAD_METRICS,    /* metrics not an object, value not number/bool, bad name */
    TLM_BAD_EVENTS,     /* events not an array of valid names */
    TLM_TOO_MANY,       /* more than TLM_MAX_METRICS metrics or TLM_MAX_EVENTS events */
    TLM_REASON_COUNT
};

struct tlm_metric {
    char name[TLM_MAX_NAME + 1];
    double value;       /* booleans decode to 1.0 / 0.0 */
    bool is_bool;
};

struct tlm_msg {
    char device_id[TLM_MAX_ID + 1];
    bool has_ts;
    int64_t ts_ms;      /* device time, ms since the epoch (valid if has_ts) */
    bool has_seq;
    int64_t seq;
    size_t n_metrics;
    struct tlm_metric metrics[TLM_MAX_METRICS];
    size_t n_events;
    char events[TLM_MAX_EVENTS][TLM_MAX_NAME + 1];
};

/* Extracts the device id from `topic`: the topic must be
 * <prefix...>/<id>/<suffix> where the id is the second-to-last level, e.g.
 * `anxin/v1/SOS-0001/telemetry`. `$share/<group>/` is not part of a
 * received topic. Writes a NUL-terminated id into out (TLM_MAX_ID + 1 bytes).
 * Returns TLM_OK or TLM_BAD_TOPIC. */
enum tlm_reason tlm_topic_device(const char *topic, size_t topic_len, char *out);

/* True if the MQTT filter (as in the config: "$share/<group>/" allowed, and
 * ignored) matches the received topic, per MQTT 5.0 section 4.7: '+' is one
 * level, '#' the rest and the parent level; a wildcard first level does not
 * match a topic starting with '$'. Used to tell which lane a journaled
 * message came on. */
bool tlm_filter_matches(const char *filter, const char *topic, size_t topic_len);

/* The filter without a "$share/<group>/" prefix: what it matches. Points
 * into filter. */
const char *tlm_filter_body(const char *filter);

/* Decodes one message. `payload` need not be NUL-terminated. On TLM_OK `out`
 * is filled; on failure `out` contents are unspecified. If `detail` is not
 * NULL it receives a short English explanation (no payload content, so it
 * is safe to log): e.g. "metrics.hr.bpm: expected number or boolean". */
enum tlm_reason tlm_decode(const char *topic, size_t topic_len,
                           const char *payload, size_t payload_len,
                           struct tlm_msg *out, char *detail, size_t detail_len);

/* Stable snake_case label for a reason ("not_json", "too_large", ...). */
const char *tlm_reason_name(enum tlm_reason r);

/* Returns true if the message carries event `name`. */
bool tlm_has_event(const struct tlm_msg *m, const char *name);

/* Returns the metric called `name`, or NULL. */
const struct tlm_metric *tlm_find_metric(const struct tlm_msg *m, const char *name);

/* Parses an RFC 3339 timestamp ("2026-11-29T03:12:00Z", "...+08:00",
 * fractional seconds allowed) into ms since the epoch. Returns 0 or ANX_EINVAL. */
int tlm_parse_rfc3339(const char *s, int64_t *out_ms);

#endif
