/* paho-count.c - the ceiling of the MQTT library anxind uses: a Paho
 * MQTTAsync subscriber that only counts, for bench/run ingest.
 *
 *   paho-count -p PORT -i CLIENT_ID -t FILTER -n N [-T TIMEOUT_S] [-R RECEIVE_MAX]
 *   paho-count -p PORT -i CLIENT_ID -t FILTER -s      create the session and exit
 *   paho-count -p PORT -i CLIENT_ID -x                remove the session and exit
 *
 * Connects the way daemon/mqttb.c does (MQTT v5, clean start off, session
 * expiry 7 days, keepalive 30 s, no receive maximum unless -R gives one
 * (anxind's [mqtt] receive_maximum), no client persistence), subscribes to FILTER at QoS 1 with retain handling 2,
 * and counts messages in the message callback (the PUBACK goes after it
 * returns) until N have arrived. Prints one line:
 *   paho-count: N messages; connect->last T s (R msg/s); first->last T s (R msg/s)
 * and exits 0, or 1 on a timeout (default 300 s) or a connect failure. */
#include <MQTTAsync.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_long count;
static atomic_int state;        /* 0 connecting, 1 subscribed, -1 failed */
static long target;
static double t_first, t_last;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    (void)ctx;
    (void)topic_len;
    /* Only this thread writes count: the times are set before it is
     * published, so main sees them once it sees the count. */
    long n = atomic_load(&count) + 1;
    if (n == 1)
        t_first = mono();
    if (n == target)
        t_last = mono();
    atomic_store(&count, n);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void on_subscribed(void *ctx, MQTTAsync_successData5 *r)
{
    (void)ctx;
    atomic_store(&state, r->reasonCode < 0x80 ? 1 : -1);
}

static void on_failed(void *ctx, MQTTAsync_failureData5 *r)
{
    (void)ctx;
    fprintf(stderr, "paho-count: %s (code %d)\n", r && r->message ? r->message : "failed",
            r ? r->code : 0);
    atomic_store(&state, -1);
}

static const char *filter;
static MQTTAsync client;

static void on_connected(void *ctx, MQTTAsync_successData5 *r)
{
    (void)ctx;
    (void)r;
    if (!filter) {              /* -x: connected with clean start; done */
        atomic_store(&state, 1);
        return;
    }
    MQTTAsync_callOptions o = MQTTAsync_callOptions_initializer;
    MQTTSubscribe_options so = MQTTSubscribe_options_initializer;
    so.retainHandling = 2;
    o.onSuccess5 = on_subscribed;
    o.onFailure5 = on_failed;
    o.subscribeOptions = so;
    if (MQTTAsync_subscribe(client, filter, 1, &o) != MQTTASYNC_SUCCESS)
        atomic_store(&state, -1);
}

int main(int argc, char **argv)
{
    int port = 1883, opt, setup_only = 0, remove = 0, receive_max = 0;
    double timeout = 300;
    const char *id = "paho-count";
    while ((opt = getopt(argc, argv, "p:i:t:n:T:R:sx")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'i': id = optarg; break;
        case 't': filter = optarg; break;
        case 'n': target = atol(optarg); break;
        case 'T': timeout = atof(optarg); break;
        case 'R': receive_max = atoi(optarg); break;
        case 's': setup_only = 1; break;
        case 'x': remove = 1; break;
        default:
            fprintf(stderr, "usage: paho-count -p PORT -i ID -t FILTER (-n N | -s) | -x\n");
            return 2;
        }
    }
    if (remove)
        filter = NULL;
    else if (!filter || (!setup_only && target <= 0)) {
        fprintf(stderr, "paho-count: -t FILTER and -n N (or -s) are needed\n");
        return 2;
    }
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
    if (MQTTAsync_createWithOptions(&client, url, id, MQTTCLIENT_PERSISTENCE_NONE, NULL, &co) !=
        MQTTASYNC_SUCCESS)
        return 1;
    MQTTAsync_setCallbacks(client, NULL, NULL, on_message, NULL);

    MQTTAsync_connectOptions c = MQTTAsync_connectOptions_initializer5;
    MQTTProperties props = MQTTProperties_initializer;
    MQTTProperty p;
    p.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
    p.value.integer4 = remove ? 0 : 7 * 86400;
    MQTTProperties_add(&props, &p);
    if (receive_max > 0 && receive_max <= 65535) {
        p.identifier = MQTTPROPERTY_CODE_RECEIVE_MAXIMUM;
        p.value.integer2 = (unsigned short)receive_max;
        MQTTProperties_add(&props, &p);
    }
    c.connectProperties = &props;
    c.keepAliveInterval = 30;
    c.cleanstart = remove;
    c.connectTimeout = 10;
    c.onSuccess5 = on_connected;
    c.onFailure5 = on_failed;
    double t0 = mono();
    if (MQTTAsync_connect(client, &c) != MQTTASYNC_SUCCESS)
        return 1;
    MQTTProperties_free(&props);

    int rc = 0;
    while (atomic_load(&state) == 0 && mono() - t0 < 10)
        usleep(1000);
    if (atomic_load(&state) != 1) {
        rc = 1;
    } else if (!setup_only && !remove) {
        while (atomic_load(&count) < target && mono() - t0 < timeout)
            usleep(1000);
        long n = atomic_load(&count);
        if (n < target) {
            fprintf(stderr, "paho-count: timed out with %ld of %ld messages\n", n, target);
            rc = 1;
        } else {
            printf("paho-count: %ld messages; connect->last %.3f s (%.0f msg/s); "
                   "first->last %.3f s (%.0f msg/s)\n",
                   target, t_last - t0, (double)target / (t_last - t0), t_last - t_first,
                   (double)(target - 1) / (t_last - t_first > 0 ? t_last - t_first : 1e-9));
        }
    }
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
    d.timeout = 2000;
    MQTTAsync_disconnect(client, &d);
    usleep(100000);
    MQTTAsync_destroy(&client);
    return rc;
}
