/* mqttb.h - the MQTT bridge: Paho MQTTAsync (MQTT v5, persistent session,
 * QoS 1) delivering into the libuv loop.
 *
 * Two lanes, each a session of its own: telemetry (cfg mqtt_topics, client
 * id as configured) and alarms (mqtt_alarm_topics, "<client id>-alarm";
 * absent when the config has no alarm filters). The broker queues each
 * session apart, so an SOS on the alarm lane is sent at once even when
 * thousands of readings wait for the telemetry session. Both lanes feed one
 * queue in journal order.
 *
 * Paho cannot be driven by an outside loop, so its receive thread does the
 * least it can: copy the message, append it to the journal (Paho sends the
 * PUBACK when our callback returns, so every acknowledged message is on disk
 * first), queue it and wake the loop with uv_async_send, unless the loop is
 * still delivering: it looks at the queue again before it stops (up to 256
 * messages per wake-up, then its timers and sockets get a turn). Each
 * message goes to the callback given at creation. Connection events travel the
 * same way, so everything the daemon does still happens on the loop thread. */
#ifndef ANXIN_MQTTB_H
#define ANXIN_MQTTB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "journal.h"
#include "log.h"

struct mqttb;

/* A received message, as the loop sees it. */
struct mqttb_msg {
    uint64_t jseq;              /* journal record, 0 = not journaled (too large, disk error) */
    int64_t recv_ms;
    bool too_large;             /* payload over the contract's limit: not copied */
    bool alarm_lane;            /* came on the alarm lane's session */
    bool journal_failed;
    char *topic;                /* NUL-terminated, points into this allocation */
    size_t topic_len;
    char *payload;              /* NUL-terminated copy (NULL if too_large) */
    size_t payload_len;
    struct mqttb_msg *next;
};

typedef void (*mqttb_msg_cb)(void *arg, const struct mqttb_msg *m);

struct mqttb_opts {
    const struct cfg *cfg;      /* url, client id, topics, session, ... */
    const char *password;       /* resolved secret or NULL */
    struct jrnl *journal;       /* appended to from Paho's thread */
    size_t max_payload;         /* larger payloads are not journaled or copied */
    mqttb_msg_cb on_msg;
    void (*on_state)(void *arg, bool connected);
    void *arg;
};

/* Creates the Paho client and the async handle. Returns 0 or a negative ANX_
 * code with the reason in err. */
int mqttb_new(uv_loop_t *loop, struct logger *log, const struct mqttb_opts *o,
              struct mqttb **out, char *err, size_t errlen);

/* Connects; reconnects by itself until mqttb_stop. */
int mqttb_start(struct mqttb *b);

/* Disconnects (new messages stop), delivers what is still queued, then calls
 * done on the loop. */
void mqttb_stop(struct mqttb *b, void (*done)(void *arg), void *arg);

/* Frees everything; only after mqttb_stop's done (or if never started). */
void mqttb_free(struct mqttb *b);

/* True when every lane is connected. */
bool mqttb_connected(const struct mqttb *b);

/* True when every lane is connected and its subscriptions acknowledged: a
 * message published now reaches anxind (between the two, a new session's
 * broker drops what it has no subscription for). */
bool mqttb_receiving(const struct mqttb *b);

struct mqttb_stats {
    uint64_t received;          /* messages taken from Paho, both lanes */
    uint64_t alarm_received;    /* of which on the alarm lane */
    bool alarm_lane;            /* the alarm lane exists */
    bool lane_connected[2];     /* [0] telemetry, [1] alarm */
    uint64_t journal_errors;
    uint64_t connects, disconnects;
    size_t queued;              /* waiting for the loop now */
    size_t queued_max;
};

void mqttb_get_stats(struct mqttb *b, struct mqttb_stats *s);

#endif
