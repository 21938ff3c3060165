/* anxind.h - the daemon's one context: everything the loop owns, passed down
 * to every module of anxind instead of globals. */
#ifndef ANXIN_ANXIND_H
#define ANXIN_ANXIND_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "alert.h"
#include "authguard.h"
#include "clock.h"
#include "config.h"
#include "engine.h"
#include "escalate.h"
#include "httpc.h"
#include "httpd.h"
#include "journal.h"
#include "kpi.h"
#include "msgtmpl.h"
#include "log.h"
#include "mqttb.h"
#include "notifier.h"
#include "pgc.h"
#include "provider.h"
#include "registry.h"
#include "rule.h"
#include "telemetry.h"
#include "tokens.h"
#include "session.h"
#include "snapshot.h"
#include "sse.h"

#define ANXIND_VERSION "0.1.0"

/* Ids handed out from blocks reserved with nextval() on sequences that
 * advance by ID_BLOCK, so an alert can be opened with the database away. */
#define ID_BLOCK 1000

struct id_block {
    int64_t next, end;              /* current block: next .. end-1 */
    int64_t spare_next, spare_end;  /* the block reserved ahead, 0 = none */
    bool refilling;
    bool overrun_logged;
};

struct anxind_stats {
    uint64_t received;              /* messages handed to the engine */
    uint64_t processed;             /* decoded and evaluated */
    uint64_t bad[TLM_REASON_COUNT]; /* rejected, by reason */
    uint64_t unknown_device;
    uint64_t duplicate;
    uint64_t not_monitored;         /* elder without consent */
    uint64_t journal_replayed;
    uint64_t rule_hits;
    uint64_t alerts_opened;
    uint64_t alerts_repeated;
    uint64_t alerts_cleared;
    uint64_t alerts_silenced;
    uint64_t notifications_created;
    uint64_t notifications_sent;
    uint64_t notifications_failed;
    uint64_t notification_retries;
    uint64_t db_errors;
    uint64_t registry_reloads;
    uint64_t reports_received;      /* delivery reports taken on /hooks */
    uint64_t reports_rejected;      /* refused: bad signature, malformed, unknown provider */
    uint64_t phone_replies[PROV_REPLY_OUTCOME_COUNT];  /* SMS replies, by what came of them */
    uint64_t auth_failures;         /* logins and bearer tokens refused */
    uint64_t throttled;             /* refusals answered 429 instead (authguard.h) */
};

struct anxind {
    uv_loop_t *loop;
    struct logger log;
    char *conf_path;
    struct cfg *cfg;
    char *db_conninfo;              /* with the resolved password */
    char *mqtt_password;

    struct jrnl *journal;
    struct mqttb *mqtt;
    struct pgc *pg;
    struct httpc *http;
    struct httpd *httpd;
    struct notifier *notifier;
    struct kpi *kpi;                /* this month's response figures for /metrics */

    struct registry reg;
    struct rule_set *rules;
    struct mtpl_set *templates;     /* conf/templates; never NULL once started */
    struct eng *eng;                /* compiled rules and their per-device state */
    uv_timer_t rules_timer;         /* the engine's next wake-up */
    int64_t rules_armed_due;        /* what rules_timer is set for */
    uint64_t cur_jseq;              /* journal record being handled (0: a timer) */
    bool cur_replay;
    int64_t cur_event_ts;           /* device time of the message being handled */
    uint64_t snapshot_jseq;         /* engine state saved up to this record */
    int64_t snapshot_ms;            /* last save started */
    struct snap_bg snapshot_bg;     /* a child saving it now */
    uint64_t snapshot_forks;        /* background saves started */
    int64_t snapshot_fork_us;       /* how long the last one held the loop (the fork) */
    int64_t snapshot_saved_ms;      /* wall clock of the last save completed, 0: none yet */
    uint64_t snapshot_failures;     /* saves that failed */
    struct alert_table alerts;
    struct id_block alert_ids, notification_ids;
    bool esc_claiming;              /* a claim of due step timers is under way */
    struct token_set tokens;        /* API bearer tokens (digests) */
    struct sess_table sessions;     /* console logins (api_console.c) */
    struct guard *auth_guard;       /* failed logins and tokens per address (api.c) */
    struct sse_hub *sse;            /* /api/v1/stream subscribers */
    struct silence *silences;       /* in force or to come; escalate.c */
    size_t n_silences;

    /* Registry changes announced by NOTIFY, reloaded together after a
     * short quiet time. */
    struct strmap reload_ids;       /* elder id -> malloc'd key copy */
    bool reload_all;
    uv_timer_t reload_timer;
    unsigned reloads_in_flight;     /* queries of changed elders, on pg */
    struct regload *regload;        /* the full reload running, or NULL (regload.h) */

    uint64_t processed_jseq;        /* last journal record fully handled */
    uint64_t saved_checkpoint;
    uv_work_t checkpoint_work;      /* moving it on a worker thread */
    bool checkpoint_in_flight;
    uint64_t checkpoint_target;     /* what the worker moves it to */
    int checkpoint_rc;              /* the worker's jrnl_set_checkpoint */

    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t tick;                /* housekeeping, once a second */
    uint64_t tick_count;
    bool last_seen_flushing;
    size_t last_seen_cursor;        /* next registry slot the tick's flush looks at */
    bool mqtt_drained;              /* stopping: every message Paho took is handled */
    bool last_seen_final;           /* stopping: the last flush is queued */

    struct notifier_secrets secrets;    /* until the notifier takes them */
    bool handles_init;              /* tick and signal handles exist */
    bool reload_timer_init;
    bool rules_timer_init;
    bool closed;                    /* close_all has run */
    bool pid_file_written;
    bool stopping;
    int64_t stop_deadline_ms;
    int exit_code;

    uint64_t rng;                   /* xorshift state, see anxind_random */
    struct anxind_stats stats;
    struct log_limit bad_msg_limit;
    int64_t started_ms;
};

/* ingest.c: one received message through decode, registry, rules, alerts. */
void ingest_message(struct anxind *d, const struct mqttb_msg *m);

/* Runs the rule engine's wake-ups due by now (timer-driven rules). */
void ingest_advance(struct anxind *d, int64_t now);

/* Handles one journal record again after a restart. */
void ingest_replay(struct anxind *d, uint64_t jseq, int64_t recv_ms, const char *topic,
                   size_t topic_len, const char *payload, size_t payload_len);

/* Records an attempt result from the notifier. */
void ingest_on_attempt(void *arg, const struct notify_msg *n, const struct notifier_attempt *a);

/* store.c: PostgreSQL reads at start (blocking) and writes (queued). */
int store_load(struct anxind *d, PGconn *db);
int store_resume_notifications(struct anxind *d, PGconn *db);
int store_alert_open(struct anxind *d, const struct alert *a, const struct eng_event *ev,
                     const struct esc_plan *plan, const struct silence *silenced, uint64_t jseq);
int store_alert_grouped(struct anxind *d, struct alert *a, const struct eng_event *ev,
                        const struct alert *leader, uint64_t jseq);
int store_alert_clear(struct anxind *d, const struct alert *a, const struct eng_event *ev,
                      uint64_t jseq);
int store_alert_repeat(struct anxind *d, const struct alert *a, const char *device_id,
                       const char *event, int64_t now_ms, uint64_t jseq);
int store_attempt(struct anxind *d, const struct notify_msg *n, const struct notifier_attempt *a);
/* Writes devices' last message times to the database: with all, every
 * changed one (at a stop); otherwise those in the next tenth of the
 * registry, so a tick at a time the whole registry is covered every ten
 * seconds with the database's work spread evenly. At most one write is in
 * flight: returns without writing while one is. */
void store_flush_last_seen(struct anxind *d, bool all);
void store_refill_ids(struct anxind *d);
void store_reload_registry(struct anxind *d);
int64_t store_take_id(struct anxind *d, struct id_block *b);

int store_report(struct anxind *d, const char *provider, const struct prov_report *r);

/* hooks.c: what providers call back with (/hooks/<provider>/...). */
void hooks_handle(struct anxind *d, const struct httpd_request *req, struct httpd_reply *rep);

/* api.c: the HTTP routes. */
void api_handle(void *arg, const struct httpd_request *req, struct httpd_reply *rep);

/* Reloads the API tokens (on NOTIFY anxin_tokens). */
void anxind_reload_tokens(struct anxind *d);

/* Starts watching every monitored device for rules that need no message. */
void anxind_track_devices(struct anxind *d);

/* The same for one elder's devices (after that elder was reloaded): a
 * registry change touching a few elders must not walk a million devices on
 * the loop. */
void anxind_track_elder(struct anxind *d, const struct reg_elder *e, int64_t now);

/* Sets the rules timer to the engine's next wake-up. */
void anxind_rearm_rules(struct anxind *d);

/* Reloads the registry entries collected in reload_ids after delay_ms. */
void anxind_schedule_reload(struct anxind *d, uint64_t delay_ms);

/* What SIGHUP does: the rules, the templates and the configuration again,
 * each kept as it was when the new one has errors. Returns the parts
 * refused (ANXIND_RELOAD_* bits), 0 when everything was applied. */
#define ANXIND_RELOAD_RULES 1
#define ANXIND_RELOAD_TEMPLATES 2
#define ANXIND_RELOAD_CONFIG 4
int anxind_reload(struct anxind *d);

/* 32 random bits from the daemon's generator (seeded from getrandom). */
uint32_t anxind_random(struct anxind *d);


#endif
