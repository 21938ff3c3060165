/* anxin-load.c - a telemetry load generator for benchmarks (libmosquitto:
 * it publishes several times faster than Paho, so it is not the bottleneck).
 *
 *   anxin-load -p PORT -P PREFIX -d DEVICES -n MESSAGES -r RATE -s SOS_EVERY
 *              [-O FIRST] [-D DEVICE_PREFIX] [-o SOS_LOG] [-B SOS_FIRST] [-C] [-A MODE]
 *              [-K ELDERS]
 *
 * Publishes MESSAGES QoS 1 messages at RATE per second (0 = as fast as the
 * broker acknowledges), round-robin over DEVICES device ids made from
 * DEVICE_PREFIX and a six-digit number (default "B-" : B-000001 ...), numbered
 * from FIRST (default 1); every SOS_EVERY-th
 * message carries an "sos" event. Each SOS line in SOS_LOG is
 * "<device> <publish time, µs since the epoch>" (CLOCK_REALTIME, read just
 * before the message is built and published). With -B the SOS messages do
 * not take the round-robin device: the k-th SOS (k = 0, 1, ...) comes from
 * device number SOS_FIRST + k, a different device each time (bench/latency.py
 * gives each SOS its own elder's button this way). With -C the SOS messages
 * go out on a second connection of their own, as a real button has its own
 * link: they do not queue behind the background messages in this program's
 * outgoing queue (its in-flight window). -A picks the SOS topic: "telemetry"
 * (the default, <prefix>/<device>/telemetry), "alarm" (<prefix>/<device>/alarm,
 * anxind's alarm lane) or "both" (alternating, alarm first); the SOS_LOG line
 * then ends with the topic's last level. Readings carry water.flow_l,
 * battery.pct and hr.bpm each (every rule gets state: an upper bound),
 * unless -K gives the elders of a bench/registry.py registry: then each
 * device reports what its kind does there (devices 1..ELDERS SOS buttons:
 * battery.pct; up to 2 x ELDERS water meters: water.flow_l; the rest
 * wearables: hr.bpm and battery.pct). Prints what it sent and how fast,
 * and exits non-zero if the broker did not acknowledge everything. */
#include <mosquitto.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct load {
    atomic_long acked;
    atomic_int connected;
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    struct load *l = obj;
    (void)m;
    if (rc == 0)
        atomic_store(&l->connected, 1);
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
    struct load *l = obj;
    (void)m;
    (void)mid;
    atomic_fetch_add(&l->acked, 1);
}

int main(int argc, char **argv)
{
    int port = 1883, devices = 1000, sos_every = 0, first = 1, sos_first = 0, by_kind = 0, opt;
    bool sos_conn = false;
    long total = 10000;
    double rate = 0;
    const char *prefix = "anxin/v1", *fmt = "B-", *sos_log = NULL, *sos_topic = "telemetry";
    while ((opt = getopt(argc, argv, "p:P:d:n:r:s:O:D:o:B:CA:K:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'P': prefix = optarg; break;
        case 'd': devices = atoi(optarg); break;
        case 'n': total = atol(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 's': sos_every = atoi(optarg); break;
        case 'O': first = atoi(optarg); break;
        case 'D': fmt = optarg; break;
        case 'o': sos_log = optarg; break;
        case 'B': sos_first = atoi(optarg); break;
        case 'C': sos_conn = true; break;
        case 'A': sos_topic = optarg; break;
        case 'K': by_kind = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: anxin-load -p PORT -P PREFIX -d DEVICES -n MESSAGES "
                            "-r RATE -s SOS_EVERY [-O FIRST] [-D FMT] [-o SOS_LOG] "
                            "[-B SOS_FIRST] [-C] [-A telemetry|alarm|both] [-K ELDERS]\n");
            return 2;
        }
    }
    if (strcmp(sos_topic, "telemetry") != 0 && strcmp(sos_topic, "alarm") != 0 &&
        strcmp(sos_topic, "both") != 0) {
        fprintf(stderr, "anxin-load: -A expects telemetry, alarm or both\n");
        return 2;
    }
    if (devices < 1)
        devices = 1;
    FILE *slog = sos_log ? fopen(sos_log, "w") : NULL;
    if (sos_log && !slog) {
        perror(sos_log);
        return 2;
    }
    struct load l = {0}, ls = {0};
    mosquitto_lib_init();
    struct mosquitto *m = mosquitto_new(NULL, true, &l), *msos = NULL;
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_publish_callback_set(m, on_publish);
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_max_inflight_messages_set(m, 1000);
    if (mosquitto_connect(m, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "anxin-load: cannot connect to 127.0.0.1:%d\n", port);
        return 1;
    }
    mosquitto_loop_start(m);
    if (sos_conn) {
        msos = mosquitto_new(NULL, true, &ls);
        mosquitto_connect_callback_set(msos, on_connect);
        mosquitto_publish_callback_set(msos, on_publish);
        mosquitto_int_option(msos, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
        mosquitto_int_option(msos, MOSQ_OPT_TCP_NODELAY, 1);
        if (mosquitto_connect(msos, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "anxin-load: cannot connect to 127.0.0.1:%d\n", port);
            return 1;
        }
        mosquitto_loop_start(msos);
    } else {
        atomic_store(&ls.connected, 1);
    }
    for (int i = 0; i < 500 && !(atomic_load(&l.connected) && atomic_load(&ls.connected)); i++)
        usleep(10000);

    int64_t t0 = mono_us();
    long sos = 0;
    char topic[256], payload[256], dev[64];
    for (long i = 0; i < total; i++) {
        if (rate > 0) {
            int64_t due = t0 + (int64_t)((double)i * 1e6 / rate);
            int64_t wait = due - mono_us();
            if (wait > 0)
                usleep((useconds_t)wait);
        }
        /* Keep at most 10k unacknowledged, so a slow broker throttles us. */
        while (i - atomic_load(&l.acked) - atomic_load(&ls.acked) > 10000)
            usleep(100);
        bool is_sos = sos_every > 0 && (i + 1) % sos_every == 0;
        if (is_sos && sos_first > 0)
            snprintf(dev, sizeof dev, "%s%06ld", fmt, sos_first + sos);
        else
            snprintf(dev, sizeof dev, "%s%06d", fmt, (int)(i % devices) + first);
        const char *last = "telemetry";
        if (is_sos && strcmp(sos_topic, "telemetry") != 0)
            last = strcmp(sos_topic, "alarm") == 0 || sos % 2 == 0 ? "alarm" : "telemetry";
        snprintf(topic, sizeof topic, "%s/%s/%s", prefix, dev, last);
        int64_t ts = now_us();
        int len;
        if (is_sos)
            len = snprintf(payload, sizeof payload, "{\"ts\":%lld,\"events\":[\"sos\"]}",
                           (long long)(ts / 1000));
        else if (by_kind > 0) {
            long n = i % devices + first;
            if (n <= by_kind)
                len = snprintf(payload, sizeof payload,
                               "{\"ts\":%lld,\"metrics\":{\"battery.pct\":%ld}}",
                               (long long)(ts / 1000), 50 + i % 50);
            else if (n <= 2L * by_kind)
                len = snprintf(payload, sizeof payload,
                               "{\"ts\":%lld,\"metrics\":{\"water.flow_l\":%.1f}}",
                               (long long)(ts / 1000), (double)(i % 50) / 10.0);
            else
                len = snprintf(payload, sizeof payload,
                               "{\"ts\":%lld,\"metrics\":{\"battery.pct\":%ld,\"hr.bpm\":%ld}}",
                               (long long)(ts / 1000), 50 + i % 50, 60 + i % 30);
        } else
            len = snprintf(payload, sizeof payload,
                           "{\"ts\":%lld,\"metrics\":{\"water.flow_l\":%.1f,\"battery.pct\":%ld,"
                           "\"hr.bpm\":%ld}}",
                           (long long)(ts / 1000), (double)(i % 50) / 10.0, 50 + i % 50,
                           60 + i % 30);
        int rc = mosquitto_publish(is_sos && msos ? msos : m, NULL, topic, len, payload, 1,
                                   false);
        if (rc != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "anxin-load: publish failed: %s\n", mosquitto_strerror(rc));
            return 1;
        }
        if (is_sos) {
            sos++;
            if (slog)
                fprintf(slog, "%s %lld %s\n", dev, (long long)ts, last);
        }
    }
    int64_t t_sent = mono_us();
    for (int i = 0; i < 3000 && atomic_load(&l.acked) + atomic_load(&ls.acked) < total; i++)
        usleep(10000);
    int64_t t_acked = mono_us();
    if (slog)
        fclose(slog);
    long acked = atomic_load(&l.acked) + atomic_load(&ls.acked);
    printf("anxin-load: %ld messages (%ld sos) to %d devices; published in %.3f s (%.0f msg/s), "
           "acknowledged %ld in %.3f s\n",
           total, sos, devices, (double)(t_sent - t0) / 1e6,
           (double)total * 1e6 / (double)(t_sent - t0 > 0 ? t_sent - t0 : 1), acked,
           (double)(t_acked - t0) / 1e6);
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    mosquitto_destroy(m);
    if (msos) {
        mosquitto_disconnect(msos);
        mosquitto_loop_stop(msos, false);
        mosquitto_destroy(msos);
    }
    mosquitto_lib_cleanup();
    return acked == total ? 0 : 1;
}
