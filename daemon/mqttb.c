/* mqttb.c - Paho MQTTAsync into the libuv loop (see mqttb.h).
 *
 * Paho facts relied on (MQTTAsync.h of 1.3.x and its sources): messageArrived
 * runs on Paho's receive thread with Paho's mutex held, and the PUBACK of a
 * QoS 1 message is sent after it returns, whatever it returns, so it must not
 * block on anything the loop holds for long; the connected callback set with
 * MQTTAsync_setConnected runs after every successful (re)connect, which is
 * where subscriptions are renewed; automatic reconnect does not cover a
 * failed first connect, so that one is retried from the loop. */
#include "mqttb.h"

#include <MQTTAsync.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "err.h"

enum {
    EV_CONNECTED = 1 << 0,
    EV_LOST = 1 << 1,
    EV_CONNECT_FAILED = 1 << 2,
    EV_SUB_OK = 1 << 3,
    EV_SUB_FAILED = 1 << 4,
    EV_DISCONNECTED = 1 << 5,
};

#define MAX_LANES 2

/* One MQTT session: the telemetry lane, or the alarm lane. */
struct lane {
    struct mqttb *b;
    const char *name;           /* "telemetry", "alarm": for log lines */
    MQTTAsync client;
    char *client_id;
    char **topics;
    int n_topics;
    uv_timer_t retry;           /* first-connect and resubscribe retries */
    int64_t retry_ms;

    /* Under b->mu. */
    unsigned events;
    char reason[200];
    uint64_t received, connects, disconnects;
    int connected;
    int subscribed;             /* this connection's subscriptions acknowledged */

    /* Loop-only. */
    bool ever_connected;
    bool disconnected;          /* its disconnect finished (mqttb_stop) */
};

struct mqttb {
    uv_loop_t *loop;
    struct logger *log;
    struct mqttb_opts o;
    char *url, *username, *password, *ca_file;
    int64_t session_expiry_s, keepalive_s, reconnect_max_s;
    int receive_maximum;
    struct lane lanes[MAX_LANES];
    int n_lanes;

    uv_async_t async;
    uv_timer_t stop_timer;

    /* Held across a journal append and the queueing of its message, so the
     * queue stays in journal order whichever lane's callback runs: the loop
     * takes "processed up to record N" from the order it delivers in. */
    pthread_mutex_t append_mu;

    /* Shared with Paho's thread; everything below is under mu. */
    pthread_mutex_t mu;
    struct mqttb_msg *head, *tail;
    size_t queued, queued_max;
    /* The loop is delivering and looks at the queue again before it stops,
     * so a message queued meanwhile needs no wake-up (an eventfd write here
     * and an epoll round there, per message, when the loop keeps up). */
    bool loop_draining;
    uint64_t journal_errors;

    /* Loop-only state. */
    bool mutexes;               /* mu and append_mu initialised */
    bool stopping;
    void (*stop_done)(void *arg);
    void *stop_arg;
    int handles_open;
    bool freed;
};

static void post_event(struct lane *l, unsigned ev, const char *reason)
{
    struct mqttb *b = l->b;
    pthread_mutex_lock(&b->mu);
    l->events |= ev;
    if (reason)
        snprintf(l->reason, sizeof l->reason, "%s", reason);
    if (ev & EV_CONNECTED) {
        l->connected = 1;
        l->connects++;
    }
    /* A new connection is subscribed again before it receives: a new or
     * expired session has no subscriptions until its SUBACK. */
    if (ev & (EV_CONNECTED | EV_SUB_FAILED))
        l->subscribed = 0;
    if (ev & EV_SUB_OK)
        l->subscribed = l->connected;
    if (ev & (EV_LOST | EV_DISCONNECTED)) {
        if (l->connected)
            l->disconnects++;
        l->connected = 0;
        l->subscribed = 0;
    }
    pthread_mutex_unlock(&b->mu);
    uv_async_send(&b->async);
}

/* ---- Paho's thread ---------------------------------------------------- */

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    struct lane *l = ctx;
    struct mqttb *b = l->b;
    size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    size_t plen = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
    bool too_large = plen > b->o.max_payload;
    size_t copy = too_large ? 0 : plen;

    pthread_mutex_lock(&b->append_mu);
    int64_t now = clock_wall_ms();
    struct mqttb_msg *msg = malloc(sizeof *msg + tlen + 1 + copy + 1);
    if (msg) {
        memset(msg, 0, sizeof *msg);
        msg->recv_ms = now;
        msg->too_large = too_large;
        msg->alarm_lane = l != &b->lanes[0];
        msg->topic = (char *)(msg + 1);
        memcpy(msg->topic, topic, tlen);
        msg->topic[tlen] = '\0';
        msg->topic_len = tlen;
        msg->payload_len = plen;
        if (!too_large) {
            msg->payload = msg->topic + tlen + 1;
            memcpy(msg->payload, m->payload, copy);
            msg->payload[copy] = '\0';
            /* The journal write is what makes the PUBACK safe. */
            if (jrnl_append(b->o.journal, topic, tlen, m->payload, plen, now, &msg->jseq) != 0)
                msg->journal_failed = true;
        }
    }
    pthread_mutex_lock(&b->mu);
    l->received++;
    if (msg) {
        if (msg->journal_failed)
            b->journal_errors++;
        if (b->tail)
            b->tail->next = msg;
        else
            b->head = msg;
        b->tail = msg;
        if (++b->queued > b->queued_max)
            b->queued_max = b->queued;
    }
    bool wake = !b->loop_draining;
    pthread_mutex_unlock(&b->mu);
    pthread_mutex_unlock(&b->append_mu);
    if (wake)
        uv_async_send(&b->async);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void on_lost(void *ctx, char *cause)
{
    post_event(ctx, EV_LOST, cause ? cause : "connection lost");
}

static void on_subscribed(void *ctx, MQTTAsync_successData5 *r)
{
    struct lane *l = ctx;
    /* A v5 SUBACK carries one reason code per filter; >= 0x80 is a refusal.
     * Paho 1.3 fills alt.sub.reasonCodes only for more than one filter (the
     * pointer is uninitialised otherwise) and reasonCode with the first. */
    int n = r->alt.sub.reasonCodeCount;
    for (int i = 0; i < (n > 0 ? n : 1); i++) {
        int rc = n > 1 ? (int)r->alt.sub.reasonCodes[i] : (int)r->reasonCode;
        if (rc >= 0x80) {
            char why[160];
            snprintf(why, sizeof why, "broker refused subscription to %s (reason code 0x%02x)",
                     l->topics[i < l->n_topics ? i : 0], rc);
            post_event(l, EV_SUB_FAILED, why);
            return;
        }
    }
    post_event(l, EV_SUB_OK, NULL);
}

static void on_subscribe_failed(void *ctx, MQTTAsync_failureData5 *r)
{
    post_event(ctx, EV_SUB_FAILED, r && r->message ? r->message : "subscribe failed");
}

static int subscribe_all(struct lane *l)
{
    MQTTAsync_callOptions opts = MQTTAsync_callOptions_initializer;
    MQTTSubscribe_options *so = calloc((size_t)l->n_topics, sizeof *so);
    int *qos = calloc((size_t)l->n_topics, sizeof *qos);
    int rc = MQTTASYNC_FAILURE;
    if (so && qos) {
        for (int i = 0; i < l->n_topics; i++) {
            MQTTSubscribe_options init = MQTTSubscribe_options_initializer;
            so[i] = init;
            /* Retained messages are stale state, never a new alarm. */
            so[i].retainHandling = 2;
            qos[i] = 1;
        }
        opts.onSuccess5 = on_subscribed;
        opts.onFailure5 = on_subscribe_failed;
        opts.context = l;
        opts.subscribeOptionsList = so;
        opts.subscribeOptionsCount = l->n_topics;
        rc = MQTTAsync_subscribeMany(l->client, l->n_topics, l->topics, qos, &opts);
    }
    free(so);
    free(qos);
    return rc;
}

static void on_connected(void *ctx, char *cause)
{
    struct lane *l = ctx;
    (void)cause;
    post_event(l, EV_CONNECTED, NULL);
    /* Resubscribe on every connect: with a persistent session the broker
     * still has our subscriptions, but a new or expired session does not. */
    if (subscribe_all(l) != MQTTASYNC_SUCCESS)
        post_event(l, EV_SUB_FAILED, "subscribe could not be sent");
}

static void on_connect_failed(void *ctx, MQTTAsync_failureData5 *r)
{
    char why[200];
    snprintf(why, sizeof why, "%s (code %d, reason 0x%02x)",
             r && r->message ? r->message : "connect failed", r ? r->code : 0,
             r ? (unsigned)r->reasonCode : 0u);
    post_event(ctx, EV_CONNECT_FAILED, why);
}

static void on_disconnect_done(void *ctx, MQTTAsync_successData5 *r)
{
    (void)r;
    post_event(ctx, EV_DISCONNECTED, NULL);
}

static void on_disconnect_failed(void *ctx, MQTTAsync_failureData5 *r)
{
    (void)r;
    post_event(ctx, EV_DISCONNECTED, NULL);
}

/* ---- the loop's thread ------------------------------------------------ */

static int do_connect(struct lane *l)
{
    struct mqttb *b = l->b;
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer5;
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    MQTTProperties props = MQTTProperties_initializer;
    MQTTProperty p;

    co.keepAliveInterval = (int)b->keepalive_s;
    co.cleanstart = 0;          /* keep the session: QoS 1 messages wait for us */
    co.automaticReconnect = 1;
    co.minRetryInterval = 1;
    co.maxRetryInterval = (int)(b->reconnect_max_s > 0 ? b->reconnect_max_s : 30);
    co.connectTimeout = 10;
    co.username = b->username;
    co.password = b->password;
    co.onSuccess5 = NULL;       /* on_connected (setConnected) covers success */
    co.onFailure5 = on_connect_failed;
    co.context = l;
    if (strncmp(b->url, "ssl://", 6) == 0 || strncmp(b->url, "mqtts://", 8) == 0) {
        ssl.trustStore = b->ca_file;
        ssl.enableServerCertAuth = 1;
        ssl.verify = 1;
        co.ssl = &ssl;
    }
    p.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
    p.value.integer4 = (unsigned)b->session_expiry_s;
    MQTTProperties_add(&props, &p);
    if (b->receive_maximum > 0) {
        p.identifier = MQTTPROPERTY_CODE_RECEIVE_MAXIMUM;
        p.value.integer2 = (unsigned short)b->receive_maximum;
        MQTTProperties_add(&props, &p);
    }
    co.connectProperties = &props;
    int rc = MQTTAsync_connect(l->client, &co);
    MQTTProperties_free(&props);
    return rc;
}

static int lane_connected(struct lane *l)
{
    pthread_mutex_lock(&l->b->mu);
    int c = l->connected;
    pthread_mutex_unlock(&l->b->mu);
    return c;
}

static void on_retry(uv_timer_t *t)
{
    struct lane *l = t->data;
    if (l->b->stopping)
        return;
    if (lane_connected(l)) {
        if (subscribe_all(l) != MQTTASYNC_SUCCESS)
            post_event(l, EV_SUB_FAILED, "subscribe could not be sent");
        return;
    }
    int rc = do_connect(l);
    if (rc != MQTTASYNC_SUCCESS) {
        char why[80];
        snprintf(why, sizeof why, "MQTTAsync_connect returned %d", rc);
        post_event(l, EV_CONNECT_FAILED, why);
    }
}

static void schedule_retry(struct lane *l)
{
    struct mqttb *b = l->b;
    if (b->stopping)
        return;
    uv_timer_start(&l->retry, on_retry, (uint64_t)l->retry_ms, 0);
    int64_t max = b->reconnect_max_s > 0 ? b->reconnect_max_s * 1000 : 30000;
    l->retry_ms = l->retry_ms * 2 > max ? max : l->retry_ms * 2;
}

static void finish_stop(struct mqttb *b)
{
    void (*done)(void *) = b->stop_done;
    b->stop_done = NULL;
    uv_timer_stop(&b->stop_timer);
    for (int i = 0; i < b->n_lanes; i++)
        uv_timer_stop(&b->lanes[i].retry);
    if (done)
        done(b->stop_arg);
}

/* Hands a taken list to the callback; returns how many. */
static size_t deliver(struct mqttb *b, struct mqttb_msg *list)
{
    size_t n = 0;
    while (list) {
        struct mqttb_msg *m = list;
        list = m->next;
        b->o.on_msg(b->o.arg, m);
        free(m);
        n++;
    }
    return n;
}

/* Messages one wake-up delivers at most before the loop gets a turn for its
 * timers and sockets (the rest waits one loop iteration): about a millisecond
 * of work, so an SMS handed to curl goes out before the next batch, not after
 * a backlog. */
#define DRAIN_BUDGET 256

/* Detaches up to max messages from the front of the queue. With mu held. */
static struct mqttb_msg *take_locked(struct mqttb *b, size_t max)
{
    struct mqttb_msg *first = b->head, *last = NULL, *m = first;
    size_t k = 0;
    for (; m && k < max; k++) {
        last = m;
        m = m->next;
    }
    if (!last)
        return NULL;
    last->next = NULL;
    b->head = m;
    if (!m)
        b->tail = NULL;
    b->queued -= k;
    return first;
}

/* Delivers what was queued while the last batch was delivered, until the
 * queue is empty or the budget is spent. Clears loop_draining when it
 * stops, so the next message wakes the loop again. */
static void drain_more(struct mqttb *b, size_t done, size_t budget)
{
    for (;;) {
        pthread_mutex_lock(&b->mu);
        if (!b->head || done >= budget) {
            bool more = b->head != NULL;
            b->loop_draining = false;
            pthread_mutex_unlock(&b->mu);
            if (more)
                uv_async_send(&b->async);
            return;
        }
        struct mqttb_msg *list = take_locked(b, budget - done);
        pthread_mutex_unlock(&b->mu);
        done += deliver(b, list);
    }
}

static bool all_connected(struct mqttb *b)
{
    for (int i = 0; i < b->n_lanes; i++)
        if (!b->lanes[i].connected)
            return false;
    return true;
}

/* One lane's connection events, on the loop. */
static void lane_events(struct lane *l, unsigned ev, const char *reason, bool now_all)
{
    struct mqttb *b = l->b;
    if (ev & EV_CONNECT_FAILED) {
        /* After a first connection Paho's automatic reconnect owns retrying;
         * a second connect of ours would race it. Only the very first
         * connect is retried from here. */
        if (l->ever_connected) {
            log_warn(b->log, "mqtt: reconnect to %s failed: %s; Paho retries (%s lane)", b->url,
                     reason, l->name);
        } else {
            log_warn(b->log, "mqtt: cannot connect to %s: %s; retrying in %lld ms (%s lane)",
                     b->url, reason, (long long)l->retry_ms, l->name);
            schedule_retry(l);
        }
    }
    if (ev & EV_LOST) {
        log_warn(b->log, "mqtt: connection lost (%s); reconnecting (%s lane)", reason, l->name);
        if (b->o.on_state)
            b->o.on_state(b->o.arg, false);
    }
    if (ev & EV_CONNECTED) {
        l->retry_ms = 1000;
        l->ever_connected = true;
        log_info(b->log, "mqtt: connected to %s as %s (%s lane)", b->url, l->client_id, l->name);
        if (b->o.on_state && now_all)
            b->o.on_state(b->o.arg, true);
    }
    if (ev & EV_SUB_FAILED) {
        log_error(b->log, "mqtt: subscription failed: %s; retrying (%s lane: nothing arrives "
                  "on it until it works)", reason, l->name);
        schedule_retry(l);
    } else if (ev & EV_SUB_OK) {
        log_info(b->log, "mqtt: subscribed to %d filter(s), QoS 1 (%s lane)", l->n_topics,
                 l->name);
    }
    if (ev & EV_DISCONNECTED)
        l->disconnected = true;
}

static void on_async(uv_async_t *h)
{
    struct mqttb *b = h->data;
    unsigned ev[MAX_LANES];
    char reason[MAX_LANES][sizeof b->lanes[0].reason];
    pthread_mutex_lock(&b->mu);
    struct mqttb_msg *list = take_locked(b, DRAIN_BUDGET);
    b->loop_draining = true;
    for (int i = 0; i < b->n_lanes; i++) {
        ev[i] = b->lanes[i].events;
        b->lanes[i].events = 0;
        memcpy(reason[i], b->lanes[i].reason, sizeof reason[i]);
    }
    bool now_all = all_connected(b);
    pthread_mutex_unlock(&b->mu);

    /* Messages first: a message received before a disconnect is older. */
    size_t done = deliver(b, list);
    bool any_disconnect = false;
    for (int i = 0; i < b->n_lanes; i++) {
        lane_events(&b->lanes[i], ev[i], reason[i], now_all);
        any_disconnect |= (ev[i] & EV_DISCONNECTED) != 0;
    }
    if (b->stopping && any_disconnect) {
        bool all_down = true;
        for (int i = 0; i < b->n_lanes; i++)
            all_down &= b->lanes[i].disconnected;
        if (all_down) {
            /* Everything still queued, as mqttb_stop promises; then done,
             * which may free the bridge. */
            drain_more(b, done, SIZE_MAX);
            finish_stop(b);
            return;
        }
    }
    drain_more(b, done, DRAIN_BUDGET);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Fills lane i from its filters; client ids are "<client_id>" and
 * "<client_id>-alarm", so each lane keeps a session of its own. */
static int lane_init(struct mqttb *b, int i, const char *name, const char *client_id,
                     const char *suffix, char *const *topics, size_t n_topics)
{
    struct lane *l = &b->lanes[i];
    l->b = b;
    l->name = name;
    l->retry_ms = 1000;
    size_t n = strlen(client_id) + strlen(suffix) + 1;
    l->client_id = malloc(n);
    l->topics = calloc(n_topics + 1, sizeof *l->topics);
    if (!l->client_id || !l->topics)
        return ANX_ENOMEM;
    snprintf(l->client_id, n, "%s%s", client_id, suffix);
    for (size_t k = 0; k < n_topics; k++) {
        if (!(l->topics[k] = strdup(topics[k])))
            return ANX_ENOMEM;
        l->n_topics++;
    }
    return 0;
}

static int lane_create(struct lane *l, char *err, size_t errlen)
{
    struct mqttb *b = l->b;
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
    int rc = MQTTAsync_createWithOptions(&l->client, b->url, l->client_id,
                                         MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(err, errlen, "mqtt: cannot create client for %s (code %d: %s)", b->url, rc,
                 rc == MQTTASYNC_BAD_PROTOCOL ? "unknown URL scheme" : "bad URL or options");
        l->client = NULL;
        return ANX_EINVAL;
    }
    MQTTAsync_setCallbacks(l->client, l, on_lost, on_message, NULL);
    MQTTAsync_setConnected(l->client, l, on_connected);
    return 0;
}

int mqttb_new(uv_loop_t *loop, struct logger *log, const struct mqttb_opts *o,
              struct mqttb **out, char *err, size_t errlen)
{
    const struct cfg *c = o->cfg;
    struct mqttb *b = calloc(1, sizeof *b);
    if (!b)
        return ANX_ENOMEM;
    b->loop = loop;
    b->log = log;
    b->o = *o;
    b->o.cfg = NULL;        /* everything needed is copied below; a reload frees cfg */
    b->o.password = NULL;
    b->url = strdup(c->mqtt_url);
    b->username = dup_or_null(c->mqtt_username);
    b->password = dup_or_null(o->password);
    b->ca_file = dup_or_null(c->mqtt_ca_file);
    b->keepalive_s = c->mqtt_keepalive_ms / 1000;
    b->session_expiry_s = c->mqtt_session_expiry_ms / 1000;
    b->reconnect_max_s = c->mqtt_reconnect_max_ms / 1000;
    b->receive_maximum = c->mqtt_receive_maximum;
    b->n_lanes = c->mqtt_n_alarm_topics > 0 ? 2 : 1;
    int rc = b->url ? 0 : ANX_ENOMEM;
    if (rc == 0)
        rc = lane_init(b, 0, "telemetry", c->mqtt_client_id, "", c->mqtt_topics,
                       c->mqtt_n_topics);
    if (rc == 0 && b->n_lanes > 1)
        rc = lane_init(b, 1, "alarm", c->mqtt_client_id, "-alarm", c->mqtt_alarm_topics,
                       c->mqtt_n_alarm_topics);
    if (rc != 0) {
        mqttb_free(b);
        return rc;
    }
    pthread_mutex_init(&b->mu, NULL);
    pthread_mutex_init(&b->append_mu, NULL);
    b->mutexes = true;
    for (int i = 0; i < b->n_lanes; i++) {
        rc = lane_create(&b->lanes[i], err, errlen);
        if (rc != 0) {
            mqttb_free(b);
            return rc;
        }
    }
    uv_async_init(loop, &b->async, on_async);
    b->async.data = b;
    uv_timer_init(loop, &b->stop_timer);
    b->stop_timer.data = b;
    for (int i = 0; i < b->n_lanes; i++) {
        uv_timer_init(loop, &b->lanes[i].retry);
        b->lanes[i].retry.data = &b->lanes[i];
    }
    b->handles_open = 2 + b->n_lanes;
    *out = b;
    return 0;
}

int mqttb_start(struct mqttb *b)
{
    for (int i = 0; i < b->n_lanes; i++) {
        struct lane *l = &b->lanes[i];
        int rc = do_connect(l);
        if (rc != MQTTASYNC_SUCCESS) {
            log_warn(b->log, "mqtt: connect to %s could not start (code %d); retrying (%s lane)",
                     b->url, rc, l->name);
            schedule_retry(l);
        }
    }
    return 0;
}

static void on_stop_timeout(uv_timer_t *t)
{
    struct mqttb *b = t->data;
    log_warn(b->log, "mqtt: no answer to disconnect; going on");
    for (int i = 0; i < b->n_lanes; i++)
        if (!b->lanes[i].disconnected)
            post_event(&b->lanes[i], EV_DISCONNECTED, NULL);
}

void mqttb_stop(struct mqttb *b, void (*done)(void *arg), void *arg)
{
    b->stopping = true;
    b->stop_done = done;
    b->stop_arg = arg;
    for (int i = 0; i < b->n_lanes; i++) {
        struct lane *l = &b->lanes[i];
        uv_timer_stop(&l->retry);
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
        d.timeout = 2000;
        d.onSuccess5 = on_disconnect_done;
        d.onFailure5 = on_disconnect_failed;
        d.context = l;
        if (MQTTAsync_disconnect(l->client, &d) != MQTTASYNC_SUCCESS)
            post_event(l, EV_DISCONNECTED, NULL);
    }
    uv_timer_start(&b->stop_timer, on_stop_timeout, 3000, 0);
}

static void handle_closed(uv_handle_t *h)
{
    struct mqttb *b = h->data;
    if (--b->handles_open == 0 && b->freed)
        free(b);
}

void mqttb_free(struct mqttb *b)
{
    if (!b)
        return;
    /* Destroy stops Paho's threads for that client; no callback runs after
     * it, so the mutexes can go once every client is gone. */
    for (int i = 0; i < MAX_LANES; i++)
        if (b->lanes[i].client)
            MQTTAsync_destroy(&b->lanes[i].client);
    if (b->mutexes) {
        pthread_mutex_destroy(&b->mu);
        pthread_mutex_destroy(&b->append_mu);
    }
    while (b->head) {
        struct mqttb_msg *m = b->head;
        b->head = m->next;
        free(m);
    }
    free(b->url);
    free(b->username);
    if (b->password) {
        memset(b->password, 0, strlen(b->password));
        free(b->password);
    }
    free(b->ca_file);
    for (int i = 0; i < MAX_LANES; i++) {
        struct lane *l = &b->lanes[i];
        free(l->client_id);
        for (int k = 0; l->topics && k < l->n_topics; k++)
            free(l->topics[k]);
        free(l->topics);
    }
    b->freed = true;
    if (b->handles_open == 0) {
        free(b);
        return;
    }
    uv_timer_stop(&b->stop_timer);
    uv_close((uv_handle_t *)&b->async, handle_closed);
    uv_close((uv_handle_t *)&b->stop_timer, handle_closed);
    for (int i = 0; i < b->n_lanes; i++) {
        uv_timer_stop(&b->lanes[i].retry);
        b->lanes[i].retry.data = b;
        uv_close((uv_handle_t *)&b->lanes[i].retry, handle_closed);
    }
}

bool mqttb_connected(const struct mqttb *b)
{
    struct mqttb *m = (struct mqttb *)b;
    pthread_mutex_lock(&m->mu);
    bool c = all_connected(m);
    pthread_mutex_unlock(&m->mu);
    return c;
}

bool mqttb_receiving(const struct mqttb *b)
{
    struct mqttb *m = (struct mqttb *)b;
    bool r = true;
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < m->n_lanes; i++)
        r &= m->lanes[i].subscribed != 0;
    pthread_mutex_unlock(&m->mu);
    return r;
}

void mqttb_get_stats(struct mqttb *b, struct mqttb_stats *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_lock(&b->mu);
    for (int i = 0; i < b->n_lanes; i++) {
        const struct lane *l = &b->lanes[i];
        s->received += l->received;
        s->connects += l->connects;
        s->disconnects += l->disconnects;
        s->lane_connected[i] = l->connected != 0;
    }
    s->alarm_lane = b->n_lanes > 1;
    s->alarm_received = b->n_lanes > 1 ? b->lanes[1].received : 0;
    s->journal_errors = b->journal_errors;
    s->queued = b->queued;
    s->queued_max = b->queued_max;
    pthread_mutex_unlock(&b->mu);
}
