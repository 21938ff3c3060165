/* anxind.c - the daemon: start-up, the loop, signals, housekeeping and a
 * clean shutdown. The work itself lives in engine.c, store.c and the I/O
 * adapters; this file wires them to one libuv loop. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <curl/curl.h>

#include "anxind.h"
#include "api.h"
#include "err.h"
#include "fileio.h"
#include "regload.h"
#include "rng.h"
#include "schema.h"
#include "rules_load.h"
#include "templates_load.h"
#include "secret.h"
#include "snapshot.h"

#define SHUTDOWN_GRACE_MS 10000

/* Parses the configuration file; prints every problem through log (or to
 * stderr when log is NULL). Returns the config or NULL. */
static struct cfg *load_config(const char *path, struct logger *log)
{
    char err[300];
    size_t len;
    char *text = fileio_read(path, 1024 * 1024, &len, err, sizeof err);
    if (!text) {
        if (log)
            log_error(log, "config: %s", err);
        else
            fprintf(stderr, "anxind: %s\n", err);
        return NULL;
    }
    struct cfg *c = NULL;
    struct cfg_diags diags = {0};
    cfg_parse(path, text, len, ANXIN_SYSCONFDIR, ANXIN_STATEDIR, &c, &diags);
    free(text);
    for (size_t i = 0; i < diags.n; i++) {
        char line[400];
        cfg_diag_format(path, &diags.items[i], line, sizeof line);
        if (log)
            log_write(log, diags.items[i].warning ? LOG_WARN : LOG_ERROR, "config: %s", line);
        else
            fprintf(stderr, "%s\n", line);
    }
    cfg_diags_free(&diags);
    return c;
}

static int resolve_secrets(struct anxind *d, const struct cfg *c, char **db_conninfo,
                           char **mqtt_password, struct notifier_secrets *ns, struct logger *log)
{
    char err[300], *pw = NULL;
    if (secret_resolve(&c->db_password, &pw, err, sizeof err) != 0) {
        log_error(log, "config: [database] password: %s", err);
        return -1;
    }
    *db_conninfo = secret_conninfo(c->db_conninfo, pw);
    if (pw) {
        memset(pw, 0, strlen(pw));
        free(pw);
    }
    if (secret_resolve(&c->mqtt_password, mqtt_password, err, sizeof err) != 0) {
        log_error(log, "config: [mqtt] password: %s", err);
        return -1;
    }
    memset(ns, 0, sizeof *ns);
    for (size_t i = 0; i < c->n_providers; i++) {
        if (secret_resolve(&c->providers[i].token, &ns->token[i], err, sizeof err) != 0) {
            log_error(log, "config: [provider \"%s\"] token: %s", c->providers[i].name, err);
            return -1;
        }
    }
    (void)d;
    return 0;
}

uint32_t anxind_random(struct anxind *d)
{
    return rng_next(&d->rng);
}

/* ---- rules -------------------------------------------------------------- */

/* Loads the rules directory; logs every problem (or prints it when log is
 * NULL). Returns the checked set or NULL. */
static struct rule_set *load_rules(const char *dir, struct logger *log)
{
    struct rule_diags diags = {0};
    struct rule_set *rs = rules_load_dir(dir, &diags);
    for (size_t i = 0; i < diags.n; i++) {
        char line[600];
        rule_diag_format(&diags.items[i], line, sizeof line);
        if (log)
            log_write(log, diags.items[i].warning ? LOG_WARN : LOG_ERROR, "rules: %s", line);
        else
            fprintf(stderr, "%s\n", line);
    }
    rule_diags_free(&diags);
    return rs;
}

static void log_template_problem(void *arg, bool warning, const char *path, const char *msg)
{
    struct logger *log = arg;
    log_write(log, warning ? LOG_WARN : LOG_ERROR, "templates: %s: %s", path, msg);
}

/* Loads the message templates into a new set; on errors (logged) the
 * current set stays. Returns 0 or ANX_EPARSE. */
static int load_templates(struct anxind *d)
{
    struct mtpl_set *set = calloc(1, sizeof *set);
    bool missing;
    if (!set)
        return ANX_ENOMEM;
    if (templates_load_dir(d->cfg->templates_dir, set, &missing, log_template_problem,
                           &d->log) != 0) {
        free(set);
        return ANX_EPARSE;
    }
    if (d->templates) {
        mtpl_free(d->templates);
        free(d->templates);
    }
    d->templates = set;
    if (missing)
        log_info(&d->log, "templates: no folder %s; using the rules' messages and the "
                          "built-in voice text", d->cfg->templates_dir);
    else
        log_info(&d->log, "templates: %zu loaded from %s", set->n, d->cfg->templates_dir);
    return 0;
}

void anxind_track_elder(struct anxind *d, const struct reg_elder *e, int64_t now)
{
    if (!e->consent)
        return;
    for (size_t i = 0; i < e->n_devices; i++)
        eng_track_device(d->eng, &e->devices[i], now);
}

/* Starts watching every monitored device (absence rules need no message). */
void anxind_track_devices(struct anxind *d)
{
    int64_t now = clock_wall_ms();
    size_t it = 0;
    void *v;
    while (strmap_next(&d->reg.devices, &it, NULL, &v)) {
        const struct reg_device *dev = v;
        if (dev->elder->consent)
            eng_track_device(d->eng, dev, now);
    }
    anxind_rearm_rules(d);
}

static void on_rules_timer(uv_timer_t *t)
{
    struct anxind *d = t->data;
    d->rules_armed_due = INT64_MAX;
    ingest_advance(d, clock_wall_ms());
    anxind_rearm_rules(d);
}

void anxind_rearm_rules(struct anxind *d)
{
    if (!d->rules_timer_init || d->closed)
        return;
    int64_t due = eng_next_due(d->eng);
    /* Called after every message: only touch the timer when it changes. */
    if (due == d->rules_armed_due && uv_is_active((uv_handle_t *)&d->rules_timer))
        return;
    d->rules_armed_due = due;
    if (due == INT64_MAX) {
        uv_timer_stop(&d->rules_timer);
        return;
    }
    int64_t wait = due - clock_wall_ms();
    uv_timer_start(&d->rules_timer, on_rules_timer, wait > 0 ? (uint64_t)wait : 0, 0);
}

static void snapshot_path(const struct anxind *d, char *out, size_t len)
{
    snprintf(out, len, "%s/engine.snap", d->cfg->journal_dir);
}

static size_t snapshot_size(void *arg)
{
    const struct anxind *d = arg;
    return eng_snapshot_size(d->eng);
}

static int snapshot_write(void *arg, snap_sink_fn sink, void *sink_arg)
{
    const struct anxind *d = arg;
    return eng_snapshot_write(d->eng, sink, sink_arg);
}

/* Takes in the result of a background save, if one has finished. */
static void collect_snapshot(struct anxind *d, bool wait)
{
    char err[300];
    bool done;
    uint64_t jseq;
    int rc = snap_bg_poll(&d->snapshot_bg, wait, &done, &jseq, err, sizeof err);
    if (!done)
        return;
    if (rc == 0) {
        d->snapshot_jseq = jseq;
        d->snapshot_saved_ms = clock_wall_ms();
    } else {
        d->snapshot_failures++;
        log_error(&d->log, "rules: saving the engine state failed: %s; trying again in %lld s",
                  err, (long long)(d->cfg->snapshot_every_ms / 1000));
    }
}

/* Saves the engine's state when every effect of what it has seen is in the
 * database: the journal then replays exactly what came after. While running,
 * a forked child does it (snapshot.h); at a stop, the loop itself. */
static bool snapshot_due(const struct anxind *d)
{
    return pgc_oldest_jseq(d->pg) == 0 && d->processed_jseq != d->snapshot_jseq;
}

static void save_snapshot(struct anxind *d, bool in_background)
{
    if (!snapshot_due(d))
        return;
    char path[4200], err[300];
    struct snap_source src = {snapshot_size, snapshot_write, d};
    snapshot_path(d, path, sizeof path);
    d->snapshot_ms = clock_wall_ms();
    if (in_background) {
        int64_t t0 = clock_mono_us();
        int rc = snap_bg_start(&d->snapshot_bg, path, d->processed_jseq, &src, err, sizeof err);
        if (rc == 0) {
            /* The loop waits while the fork copies the process's page
             * tables (and Paho's thread too if it faults meanwhile): the
             * pause a background save still costs alarms, growing with
             * the process's size (bench/results, latency). */
            d->snapshot_forks++;
            d->snapshot_fork_us = clock_mono_us() - t0;
        }
        if (rc != ANX_EIO)
            return;
        /* Saved in place instead: without a save the journal checkpoint
         * stays behind and the journal would grow without end. */
        log_warn(&d->log, "rules: cannot save the engine state in the background (%s); "
                          "saving it here, alarms wait meanwhile", err);
    }
    /* Mostly a stop: the start after it reads the file back at once. */
    if (snap_save(path, d->processed_jseq, &src, true, err, sizeof err) == 0) {
        d->snapshot_jseq = d->processed_jseq;
        d->snapshot_saved_ms = clock_wall_ms();
    } else {
        d->snapshot_failures++;
        log_error(&d->log, "rules: saving the engine state failed: %s", err);
    }
}

static void on_tokens(void *arg, const PGresult *res)
{
    struct anxind *d = arg;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
        log_error(&d->log, "api: loading tokens failed: %s", pgc_error(res));
    else if (token_load(&d->tokens, res) == 0) {
        log_info(&d->log, "api: %zu token(s)", d->tokens.n);
        api_forget_revoked(d);
    }
}

void anxind_reload_tokens(struct anxind *d)
{
    pgc_query(d->pg, token_sql, 0, NULL, on_tokens, d, 0);
}

/* ---- loop callbacks ---------------------------------------------------- */

static void on_mqtt_message(void *arg, const struct mqttb_msg *m)
{
    ingest_message(arg, m);
    anxind_rearm_rules(arg);
}

static void on_mqtt_state(void *arg, bool connected)
{
    (void)arg;
    (void)connected;
}

static void on_reload_timer(uv_timer_t *t)
{
    store_reload_registry(t->data);
}

void anxind_schedule_reload(struct anxind *d, uint64_t delay_ms)
{
    if (!uv_is_active((uv_handle_t *)&d->reload_timer))
        uv_timer_start(&d->reload_timer, on_reload_timer, delay_ms, 0);
}

static void on_pg_notify(void *arg, const char *channel, const char *payload)
{
    struct anxind *d = arg;
    if (strcmp(channel, "anxin_alert") == 0) {
        escalate_on_alert_notify(d, payload);
        return;
    }
    if (strcmp(channel, "anxin_event") == 0) {
        api_on_event(d, payload);
        return;
    }
    if (strcmp(channel, "anxin_silences") == 0) {
        escalate_reload_silences(d);
        return;
    }
    if (strcmp(channel, "anxin_tokens") == 0) {
        anxind_reload_tokens(d);
        return;
    }
    if (strcmp(channel, "anxin_registry") != 0)
        return;
    if (payload && *payload && !strmap_get(&d->reload_ids, payload)) {
        char *id = strdup(payload);
        if (!id || strmap_put(&d->reload_ids, id, id, NULL) != 0) {
            free(id);
            d->reload_all = true;
        }
    } else if (!payload || !*payload) {
        d->reload_all = true;
    }
    /* Coalesce the burst of one import into one reload. */
    anxind_schedule_reload(d, 200);
}

static void on_pg_up(void *arg)
{
    struct anxind *d = arg;
    /* Changes made while we were away sent NOTIFYs nobody heard. */
    if (d->tick_count > 0) {
        d->reload_all = true;
        anxind_schedule_reload(d, 0);
    }
    if (!d->alert_ids.spare_next || !d->notification_ids.spare_next)
        store_refill_ids(d);
    escalate_reload_silences(d);
    anxind_reload_tokens(d);
}

/* Moving the checkpoint syncs a file and the folder and deletes the journal
 * files it frees: 5 to 25 ms of disk work after every engine save (bench,
 * latency: a 64 MB file took 15 ms to delete), which on the loop held the
 * alarms behind it. While running, a libuv worker thread does it;
 * jrnl_set_checkpoint is safe beside appends (journal.c, Locking). */
static void checkpoint_run(uv_work_t *w)
{
    struct anxind *d = w->data;
    d->checkpoint_rc = jrnl_set_checkpoint(d->journal, d->checkpoint_target);
}

static void checkpoint_done(uv_work_t *w, int status)
{
    struct anxind *d = w->data;
    d->checkpoint_in_flight = false;
    if (status == 0 && d->checkpoint_rc == 0) {
        if (d->checkpoint_target > d->saved_checkpoint)
            d->saved_checkpoint = d->checkpoint_target;
    } else
        log_error(&d->log, "journal: cannot save checkpoint %" PRIu64, d->checkpoint_target);
}

static void save_checkpoint(struct anxind *d, bool in_background)
{
    uint64_t oldest = pgc_oldest_jseq(d->pg);
    uint64_t cp = oldest ? oldest - 1 : d->processed_jseq;
    /* The journal must also hold what the engine's saved state lacks. */
    if (cp > d->snapshot_jseq)
        cp = d->snapshot_jseq;
    if (cp <= d->saved_checkpoint)
        return;
    if (in_background) {
        if (d->checkpoint_in_flight)
            return;
        d->checkpoint_target = cp;
        d->checkpoint_work.data = d;
        if (uv_queue_work(d->loop, &d->checkpoint_work, checkpoint_run, checkpoint_done) == 0) {
            d->checkpoint_in_flight = true;
            return;
        }
    }
    /* At the stop (a worker may still be at it: the journal's lock orders
     * the two, and the older one then finds nothing to do). */
    if (jrnl_set_checkpoint(d->journal, cp) == 0)
        d->saved_checkpoint = cp;
    else
        log_error(&d->log, "journal: cannot save checkpoint %" PRIu64, cp);
}

static void shutdown_finish(struct anxind *d);

static void on_tick(uv_timer_t *t)
{
    struct anxind *d = t->data;
    d->tick_count++;
    save_checkpoint(d, true);
    if (d->stopping) {
        /* Once no message can come any more, every device's last time. */
        if (d->mqtt_drained && !d->last_seen_final && !d->last_seen_flushing) {
            store_flush_last_seen(d, true);
            d->last_seen_final = true;
        }
        bool idle = d->last_seen_final && pgc_pending(d->pg) == 0 &&
                    notifier_inflight(d->notifier) == 0;
        if (idle || clock_wall_ms() >= d->stop_deadline_ms) {
            if (!idle)
                log_warn(&d->log, "shutdown: %zu database writes and %zu sends unfinished; the "
                                  "journal and the database bring them back at the next start",
                         pgc_pending(d->pg), notifier_inflight(d->notifier));
            shutdown_finish(d);
        }
        return;
    }
    escalate_tick(d);
    kpi_tick(d->kpi, d->pg, clock_wall_ms(), d->cfg->utc_offset_min);
    store_flush_last_seen(d, false);
    collect_snapshot(d, false);
    if (clock_wall_ms() - d->snapshot_ms >= d->cfg->snapshot_every_ms)
        save_snapshot(d, true);
}

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

/* Closes every handle and component that exists; safe on a half-started
 * daemon and idempotent. The loop then runs out and main frees the rest. */
/* The HTTP server, with TLS when [http] names a certificate and key. */
static int start_http(struct anxind *d, char *err, size_t errlen)
{
    struct httpd_tls tls = {0};
    char *cert = NULL, *key = NULL;
    int rc = ANX_EIO;
    if (d->cfg->http_tls_cert) {
        size_t len;
        cert = fileio_read(d->cfg->http_tls_cert, 1 << 20, &len, err, errlen);
        if (cert)
            key = fileio_read(d->cfg->http_tls_key, 1 << 20, &len, err, errlen);
        if (!cert || !key)
            goto out;
        tls.cert_pem = cert;
        tls.key_pem = key;
    }
    if (api_console_start(d) != 0) {
        snprintf(err, errlen, "http: out of memory");
        goto out;
    }
    rc = httpd_new(d->loop, &d->log, d->cfg->http_listen, cert ? &tls : NULL, api_handle, d,
                   &d->httpd, err, errlen);
out:
    free(cert);
    if (key) {
        memset(key, 0, strlen(key));
        free(key);
    }
    return rc;
}

static void close_all(struct anxind *d)
{
    if (d->closed)
        return;
    d->closed = true;
    if (d->handles_init) {
        uv_timer_stop(&d->tick);
        uv_close((uv_handle_t *)&d->tick, close_cb);
        uv_close((uv_handle_t *)&d->sig_term, close_cb);
        uv_close((uv_handle_t *)&d->sig_int, close_cb);
        uv_close((uv_handle_t *)&d->sig_hup, close_cb);
    }
    if (d->reload_timer_init)
        uv_close((uv_handle_t *)&d->reload_timer, close_cb);
    regload_cancel(d);
    if (d->rules_timer_init) {
        uv_timer_stop(&d->rules_timer);
        uv_close((uv_handle_t *)&d->rules_timer, close_cb);
    }
    api_console_stop(d);
    httpd_close(d->httpd);
    d->httpd = NULL;
    notifier_close(d->notifier);
    d->notifier = NULL;
    httpc_close(d->http);
    d->http = NULL;
    pgc_close(d->pg);
    d->pg = NULL;
    mqttb_free(d->mqtt);
    d->mqtt = NULL;
}

static void shutdown_finish(struct anxind *d)
{
    /* The stop's own save supersedes a background one that saw less: end
     * that rather than wait for it (at a million devices it runs for
     * seconds at the lowest priority). One that saw everything is waited
     * for, and so is any while writes still wait for the database (the
     * stop saves nothing then). */
    if (d->snapshot_bg.pid > 0 && snapshot_due(d) && d->snapshot_bg.jseq != d->processed_jseq) {
        log_info(&d->log, "shutdown: ending the background save of the engine state; saving "
                          "it here with what came since");
        snap_bg_cancel(&d->snapshot_bg);
    }
    collect_snapshot(d, true);
    save_snapshot(d, false);
    save_checkpoint(d, false);
    close_all(d);
    log_info(&d->log, "stopped (checkpoint %" PRIu64 ")", d->saved_checkpoint);
}

static void on_mqtt_stopped(void *arg)
{
    struct anxind *d = arg;
    /* Every message Paho took is now handled; finish writes and sends. */
    log_info(&d->log, "shutdown: broker disconnected; finishing %zu writes, %zu sends",
             pgc_pending(d->pg), notifier_inflight(d->notifier));
    d->stop_deadline_ms = clock_wall_ms() + SHUTDOWN_GRACE_MS;
    d->mqtt_drained = true;
    uv_timer_start(&d->tick, on_tick, 0, 100);
}

static void begin_shutdown(struct anxind *d, const char *why)
{
    if (d->stopping)
        return;
    d->stopping = true;
    d->stop_deadline_ms = clock_wall_ms() + SHUTDOWN_GRACE_MS;
    log_info(&d->log, "shutdown: %s; draining", why);
    mqttb_stop(d->mqtt, on_mqtt_stopped, d);
}

/* Swaps in the rules directory's current rules, keeping the state of rules
 * that did not change; a set with errors is refused and the old one stays. */
static bool reload_rules(struct anxind *d)
{
    struct rule_set *rs = load_rules(d->cfg->rules_dir, &d->log);
    if (!rs) {
        log_error(&d->log, "reload: the rules in %s have errors (above); still running with "
                           "the previous rules", d->cfg->rules_dir);
        return false;
    }
    struct eng *e = eng_new(rs, d->cfg->utc_offset_min);
    if (!e) {
        log_error(&d->log, "reload: out of memory; still running with the previous rules");
        rule_set_free(rs);
        return false;
    }
    eng_transfer(e, d->eng);
    eng_free(d->eng);
    rule_set_free(d->rules);
    d->eng = e;
    d->rules = rs;
    anxind_track_devices(d);
    log_info(&d->log, "reload: %zu rules, %zu chains applied", rs->n_rules, rs->n_chains);
    return true;
}

int anxind_reload(struct anxind *d)
{
    int refused = 0;
    if (!reload_rules(d))
        refused |= ANXIND_RELOAD_RULES;
    if (load_templates(d) != 0) {
        log_error(&d->log, "reload: the templates in %s have errors (above); still using "
                           "the previous ones", d->cfg->templates_dir);
        refused |= ANXIND_RELOAD_TEMPLATES;
    }
    struct cfg *c = load_config(d->conf_path, &d->log);
    if (!c) {
        log_error(&d->log, "reload: %s has errors; still running with the previous "
                           "configuration", d->conf_path);
        return refused | ANXIND_RELOAD_CONFIG;
    }
    char *conninfo = NULL, *mqtt_pw = NULL;
    struct notifier_secrets ns;
    if (resolve_secrets(d, c, &conninfo, &mqtt_pw, &ns, &d->log) != 0) {
        log_error(&d->log, "reload: secrets missing; still running with the previous "
                           "configuration");
        free(conninfo);
        free(mqtt_pw);
        for (size_t i = 0; i < CFG_MAX_PROVIDERS; i++)
            free(ns.token[i]);
        cfg_free(c);
        return refused | ANXIND_RELOAD_CONFIG;
    }
    if (strcmp(c->mqtt_url, d->cfg->mqtt_url) != 0 || strcmp(conninfo, d->db_conninfo) != 0 ||
        strcmp(c->journal_dir, d->cfg->journal_dir) != 0 ||
        strcmp(c->node, d->cfg->node) != 0 ||
        strcmp(c->http_listen ? c->http_listen : "",
               d->cfg->http_listen ? d->cfg->http_listen : "") != 0)
        log_warn(&d->log, "reload: broker, database, journal, node or HTTP listener changes "
                          "take effect after a restart");
    free(conninfo);
    free(mqtt_pw);
    int lvl = log_level_parse(c->log_level);
    if (lvl >= 0)
        d->log.level = (enum log_level)lvl;
    notifier_reconfigure(d->notifier, c, &ns);
    /* Keep what only a restart changes, take the rest. */
    struct cfg *old = d->cfg;
    d->cfg = c;
    snprintf(c->node, sizeof c->node, "%s", old->node);
    if (d->auth_guard)
        guard_set_policy(d->auth_guard, (unsigned)c->auth_failures, API_AUTH_WINDOW_MS,
                         c->auth_throttle_ms);
    cfg_free(old);
    log_info(&d->log, "reload: configuration applied (%zu providers)", c->n_providers);
    return refused;
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct anxind *d = s->data;
    if (signum == SIGHUP) {
        log_info(&d->log, "SIGHUP: reloading %s, the rules and the templates", d->conf_path);
        anxind_reload(d);
        return;
    }
    begin_shutdown(d, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* ---- start-up ----------------------------------------------------------- */

/* anxind.pid in the journal directory: `anxinctl reload` signals it. The
 * journal's lock already keeps a second anxind out of the directory. */
static void write_pid_file(struct anxind *d)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/anxind.pid", d->cfg->journal_dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        log_warn(&d->log, "cannot write %s: %s (anxinctl reload will not find anxind)", path,
                 strerror(errno));
        return;
    }
    fprintf(f, "%ld\n", (long)getpid());
    fclose(f);
    d->pid_file_written = true;
}

/* Restoring the engine's state saved before the last stop runs on a thread
 * of its own while the registry loads: the two are independent (the engine
 * keys its state by device id and needs no registry until it evaluates),
 * and each takes seconds with a million devices. Only the engine is touched
 * on that thread, and nothing is logged there. */
struct snap_restore {
    struct anxind *d;
    pthread_t thread;
    bool threaded;
    int rc;                         /* snap_read's, then eng_restore's */
    bool restoring;                 /* snap_read succeeded: rc is eng_restore's */
    uint64_t jseq;
    char err[300];
};

static void *restore_run(void *arg)
{
    struct snap_restore *j = arg;
    char path[4200];
    uint8_t *buf;
    size_t len;
    snapshot_path(j->d, path, sizeof path);
    j->rc = snap_read(path, &j->jseq, &buf, &len, j->err, sizeof j->err);
    if (j->rc != 0)
        return NULL;
    j->restoring = true;
    j->rc = eng_restore(j->d->eng, buf, len, clock_wall_ms());
    free(buf);
    return NULL;
}

static void restore_begin(struct anxind *d, struct snap_restore *j)
{
    memset(j, 0, sizeof *j);
    j->d = d;
    j->threaded = pthread_create(&j->thread, NULL, restore_run, j) == 0;
    if (!j->threaded)
        restore_run(j);
}

/* Waits for the restore and says how it went (if the state was missing or
 * unsound: windows start empty, and the journal replays). */
static void restore_end(struct anxind *d, struct snap_restore *j)
{
    if (j->threaded)
        pthread_join(j->thread, NULL);
    if (!j->restoring) {
        if (j->rc != ANX_ENOENT)
            log_warn(&d->log, "rules: %s; windows start empty", j->err);
        return;
    }
    if (j->rc != 0) {
        /* Half-restored state is worse than none. */
        eng_free(d->eng);
        d->eng = eng_new(d->rules, d->cfg->utc_offset_min);
        log_warn(&d->log, "rules: the saved engine state does not fit; windows start empty");
        return;
    }
    d->snapshot_jseq = j->jseq;
    d->snapshot_ms = clock_wall_ms();
    struct eng_stats st;
    eng_get_stats(d->eng, &st);
    log_info(&d->log, "rules: engine state restored (%zu devices, %zu windows) up to record "
                      "%" PRIu64, st.devices, st.windows, j->jseq);
}

static int replay_cb(void *arg, const struct jrnl_record *rec)
{
    ingest_replay(arg, rec->seq, rec->recv_ms, rec->topic, rec->topic_len, rec->payload,
                  rec->payload_len);
    return 0;
}

/* Connects with the blocking API for the start-up reads, retrying while the
 * database is not there yet (systemd may start us first). */
static PGconn *connect_blocking(struct anxind *d)
{
    int64_t delay = 500;
    for (int tries = 1;; tries++) {
        PGconn *db = PQconnectdb(d->db_conninfo);
        if (PQstatus(db) == CONNECTION_OK)
            return db;
        char msg[300];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(db));
        msg[strcspn(msg, "\n")] = '\0';
        PQfinish(db);
        if (tries == 1 || tries % 10 == 0)
            log_warn(&d->log, "database: cannot connect (%s); retrying", msg);
        usleep((useconds_t)delay * 1000);
        delay = delay * 2 > 5000 ? 5000 : delay * 2;
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: anxind [-c CONF] [-t] [--version]\n"
               "  -c, --config FILE   configuration (default " ANXIN_SYSCONFDIR "/anxind.conf)\n"
               "  -t, --check         check the configuration and exit\n");
}

/* Everything up to the loop. Returns 0, or the exit status to leave with;
 * main frees whatever was made either way. */
static int start(struct anxind *d, const char *conf, bool check_only)
{
    d->cfg = load_config(conf, NULL);
    if (!d->cfg) {
        fprintf(stderr, "anxind: %s has errors; not starting\n", conf);
        return 2;
    }
    if (check_only) {
        printf("%s: OK\n", conf);
        return -1;
    }
    int lvl = log_level_parse(d->cfg->log_level);
    if (lvl >= 0)
        d->log.level = (enum log_level)lvl;
    if (resolve_secrets(d, d->cfg, &d->db_conninfo, &d->mqtt_password, &d->secrets, &d->log) != 0)
        return 2;
    log_info(&d->log, "anxind %s starting (node %s, config %s)", ANXIND_VERSION, d->cfg->node,
             conf);

    if (getrandom(&d->rng, sizeof d->rng, 0) != (ssize_t)sizeof d->rng || d->rng == 0)
        d->rng = (uint64_t)clock_wall_ms() * 0x9E3779B97F4A7C15ull | 1;
    d->started_ms = clock_wall_ms();

    PGconn *db = connect_blocking(d);
    char err[400];
    if (schema_check(db, err, sizeof err) != 0) {
        log_error(&d->log, "%s", err);
        PQfinish(db);
        return 1;
    }
    d->rules = load_rules(d->cfg->rules_dir, &d->log);
    if (!d->rules) {
        log_error(&d->log, "rules: %s has errors; not starting (anxinctl check shows them)",
                  d->cfg->rules_dir);
        PQfinish(db);
        return 2;
    }
    if (load_templates(d) != 0) {
        log_error(&d->log, "templates: %s has errors; not starting (anxinctl check shows them)",
                  d->cfg->templates_dir);
        PQfinish(db);
        return 2;
    }
    d->eng = eng_new(d->rules, d->cfg->utc_offset_min);
    if (!d->eng) {
        PQfinish(db);
        return 1;
    }
    struct snap_restore restore;
    restore_begin(d, &restore);
    int loaded = store_load(d, db);
    restore_end(d, &restore);
    if (loaded != 0 || !d->eng) {
        PQfinish(db);
        return 1;
    }

    struct jrnl_options jo = {
        .dir = d->cfg->journal_dir,
        .segment_bytes = d->cfg->journal_segment_bytes,
        .fsync_always = d->cfg->journal_fsync == CFG_FSYNC_ALWAYS,
        .keep_ms = d->cfg->journal_keep_ms,
    };
    if (jrnl_open(&jo, &d->journal, err, sizeof err) != 0) {
        log_error(&d->log, "%s", err);
        PQfinish(db);
        return 1;
    }
    d->saved_checkpoint = jrnl_checkpoint(d->journal);
    d->processed_jseq = d->saved_checkpoint;
    write_pid_file(d);

    d->loop = uv_default_loop();
    struct pgc_hooks hooks = {
        .on_up = on_pg_up,
        .on_notify = on_pg_notify,
        .arg = d,
    };
    if (pgc_new(d->loop, &d->log, d->db_conninfo, &hooks, &d->pg) != 0 ||
        httpc_new(d->loop, &d->http) != 0 || kpi_new(&d->log, KPI_REFRESH_MS, &d->kpi) != 0 ||
        notifier_new(d->loop, &d->log, d->cfg, &d->secrets, d->http, ingest_on_attempt, d,
                     &d->notifier) != 0) {
        log_error(&d->log, "out of memory at start");
        return 1;
    }
    pgc_listen(d->pg, "anxin_registry");
    pgc_listen(d->pg, "anxin_alert");
    pgc_listen(d->pg, "anxin_silences");
    pgc_listen(d->pg, "anxin_tokens");
    pgc_listen(d->pg, "anxin_event");
    pgc_start(d->pg);
    uv_timer_init(d->loop, &d->reload_timer);
    d->reload_timer.data = d;
    d->reload_timer_init = true;
    uv_timer_init(d->loop, &d->rules_timer);
    d->rules_timer.data = d;
    d->rules_timer_init = true;
    anxind_track_devices(d);

    if (d->cfg->http_listen && *d->cfg->http_listen) {
        if (start_http(d, err, sizeof err) != 0) {
            log_error(&d->log, "%s", err);
            return 1;
        }
        log_info(&d->log, "http: listening on %s%s", d->cfg->http_listen,
                 httpd_is_tls(d->httpd) ? " (TLS)" : "");
    }

    /* Messages acknowledged to the broker before a crash but not yet
     * committed: handle them again (idempotently) before anything new. */
    size_t corrupt = 0;
    uint64_t before = d->stats.journal_replayed;
    /* Records up to the engine snapshot are in its state and their effects
     * in the database (a snapshot is only taken then): start after both. */
    uint64_t from = d->saved_checkpoint > d->snapshot_jseq ? d->saved_checkpoint
                                                            : d->snapshot_jseq;
    d->processed_jseq = from;
    jrnl_replay(d->journal, from, replay_cb, d, &corrupt);
    if (d->stats.journal_replayed > before || corrupt)
        log_info(&d->log, "journal: replayed %" PRIu64 " message(s) after record %" PRIu64 "%s",
                 d->stats.journal_replayed - before, from,
                 corrupt ? " (corrupt records skipped)" : "");
    store_resume_notifications(d, db);
    PQfinish(db);

    struct mqttb_opts mo = {
        .cfg = d->cfg,
        .password = d->mqtt_password,
        .journal = d->journal,
        .max_payload = TLM_MAX_PAYLOAD,
        .on_msg = on_mqtt_message,
        .on_state = on_mqtt_state,
        .arg = d,
    };
    if (mqttb_new(d->loop, &d->log, &mo, &d->mqtt, err, sizeof err) != 0) {
        log_error(&d->log, "%s", err);
        return 1;
    }
    mqttb_start(d->mqtt);

    uv_signal_init(d->loop, &d->sig_term);
    uv_signal_init(d->loop, &d->sig_int);
    uv_signal_init(d->loop, &d->sig_hup);
    d->sig_term.data = d->sig_int.data = d->sig_hup.data = d;
    uv_signal_start(&d->sig_term, on_signal, SIGTERM);
    uv_signal_start(&d->sig_int, on_signal, SIGINT);
    uv_signal_start(&d->sig_hup, on_signal, SIGHUP);
    uv_timer_init(d->loop, &d->tick);
    d->tick.data = d;
    d->handles_init = true;
    uv_timer_start(&d->tick, on_tick, 1000, 1000);

    log_info(&d->log, "ready: %zu elders, %zu devices, %zu live alerts",
             d->reg.elders.len, d->reg.devices.len, d->alerts.by_id.len);
    return 0;
}

/* Frees what start() and the loop left; every pointer may be NULL. */
static void free_all(struct anxind *d)
{
    if (d->loop) {
        close_all(d);
        uv_run(d->loop, UV_RUN_DEFAULT);   /* let the close callbacks run */
        uv_loop_close(d->loop);
    }
    if (d->pid_file_written) {
        char path[4200];
        snprintf(path, sizeof path, "%s/anxind.pid", d->cfg->journal_dir);
        unlink(path);
    }
    jrnl_close(d->journal);
    kpi_free(d->kpi);   /* after pgc_close: no query of it is left to answer */
    reg_clear(&d->reg);
    alert_table_clear(&d->alerts);
    size_t it = 0;
    void *v;
    while (strmap_next(&d->reload_ids, &it, NULL, &v))
        free(v);
    strmap_free(&d->reload_ids);
    eng_free(d->eng);
    if (d->templates) {
        mtpl_free(d->templates);
        free(d->templates);
    }
    rule_set_free(d->rules);
    free(d->silences);
    token_set_clear(&d->tokens);
    cfg_free(d->cfg);
    free(d->conf_path);
    free(d->db_conninfo);
    if (d->mqtt_password) {
        memset(d->mqtt_password, 0, strlen(d->mqtt_password));
        free(d->mqtt_password);
    }
    for (size_t i = 0; i < CFG_MAX_PROVIDERS; i++)
        free(d->secrets.token[i]);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, 't'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *conf = ANXIN_SYSCONFDIR "/anxind.conf";
    bool check_only = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:th", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': conf = optarg; break;
        case 't': check_only = true; break;
        case 'V': printf("anxind %s (schema %d)\n", ANXIND_VERSION, ANXIN_SCHEMA_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }

    struct anxind ctx = {0};
    struct anxind *d = &ctx;
    log_init(&d->log);
    d->conf_path = strdup(conf);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = start(d, conf, check_only);
    if (rc == 0) {
        uv_run(d->loop, UV_RUN_DEFAULT);
        rc = d->exit_code;
    } else if (rc < 0) {
        rc = 0;     /* -t: the configuration is fine */
    }
    free_all(d);
    curl_global_cleanup();
    return rc;
}
