/* config.h - the anxind configuration file: parsing and validation.
 *
 * The file is INI-like (see conf/anxind.conf, which documents every key):
 *   # comment            ; comment
 *   [section]            [section "name"]      (named sections: provider, channel)
 *   key = value          value may be "quoted" with \" \\ \n escapes
 * Durations take units (250ms 30s 5m 12h 1d), sizes take K/M/G.
 *
 * Pure: cfg_parse works on text already read; secrets are *references* (a
 * file path or an environment variable name) that the daemon resolves, so a
 * secret never has to sit inline in the file. Every diagnostic names file,
 * line and what was expected. */
#ifndef ANXIN_CONFIG_H
#define ANXIN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFG_NAME_MAX 32
#define CFG_MAX_TOPICS 16
#define CFG_MAX_PROVIDERS 16
#define CFG_MAX_CHAIN 8         /* providers per channel */

/* Where a secret comes from. Inline secrets are rejected by the parser. */
struct cfg_secret {
    char *file;                 /* read the first line of this file, or NULL */
    char *env;                  /* or take this environment variable, or NULL */
};

enum cfg_provider_type { CFG_PROVIDER_CONSOLE, CFG_PROVIDER_WEBHOOK, CFG_PROVIDER_KANNEL,
                         CFG_PROVIDER_ALIYUN, CFG_PROVIDER_TENCENT, CFG_PROVIDER_TWILIO };
enum cfg_fsync { CFG_FSYNC_NONE, CFG_FSYNC_ALWAYS };

#define CFG_MAX_LIMITS 4

/* At most count sends to one number within window_ms. */
struct cfg_limit {
    int count;
    int64_t window_ms;
};

struct cfg_provider {
    char name[CFG_NAME_MAX + 1];        /* the section's name: [provider "ops-hook"] */
    enum cfg_provider_type type;
    int line;                           /* line of the section header */
    /* webhook */
    char *url;                          /* http:// or https:// */
    struct cfg_secret token;            /* optional bearer token */
    int64_t timeout_ms;                 /* per attempt, default 10s */
    int max_attempts;                   /* default 8 */
    int64_t backoff_ms;                 /* first retry delay, default 1s */
    int64_t backoff_max_ms;             /* cap, default 5m */
    /* kannel, aliyun, tencent, twilio (token = their secret: the sendsms
     * password, AccessKey secret, SecretKey, Auth Token) */
    char *account;                      /* username / AccessKey ID / SecretId / Account SID */
    char *from;                         /* sender number (Kannel, Twilio), caller id (Aliyun voice) */
    char *sign_name;                    /* SMS signature 签名 (Aliyun, Tencent) */
    char *template_id;                  /* SMS template code / id */
    char *voice_template;               /* TTS template code (Aliyun voice) */
    char *app_id;                       /* SmsSdkAppId (Tencent) */
    char *region;                       /* Tencent region, default ap-guangzhou */
    char *callback;                     /* our address for its reports: http://host:8080/hooks/NAME */
    char *voice_url;                    /* voice endpoint override (Aliyun) */
    int64_t failover_after_ms;          /* give up on this provider after this long, 0 = by attempts */
    int64_t recover_after_ms;           /* after 5 failures in a row it is skipped this long, default 30s */
    int rate;                           /* sends per second at most, 0 = no limit */
    /* console */
    char *output;                       /* file to append to; NULL = stdout */
    /* any: per-number limits ("1/1m, 5/1h, 20/1d": Aliyun voice), none by default */
    struct cfg_limit per_callee[CFG_MAX_LIMITS];
    size_t n_per_callee;
};

enum cfg_channel { CFG_CHANNEL_SMS, CFG_CHANNEL_VOICE, CFG_CHANNEL_COUNT };

struct cfg {
    char *file;                         /* path given to cfg_parse */
    char node[CFG_NAME_MAX + 1];        /* [anxind] node: this instance's name, default hostname-free "anxind" */
    char *log_level;                    /* [anxind] log_level: debug info warn error; default info */
    int64_t expire_after_ms;            /* [anxind] expire_after: an alert nobody took expires
                                         * this long after its chain's last step (chains that
                                         * do not repeat); default 24h */
    int utc_offset_min;                 /* [anxind] utc_offset: the county's clock for message
                                         * texts and records, default +08:00 (480) */

    /* [mqtt] */
    char *mqtt_url;                     /* tcp:// ssl:// mqtt:// mqtts://, required */
    char *mqtt_client_id;               /* default "anxind-<node>" */
    char *mqtt_username;                /* optional */
    struct cfg_secret mqtt_password;
    char *mqtt_ca_file;                 /* for ssl:// */
    char *mqtt_topics[CFG_MAX_TOPICS];  /* default "anxin/v1/+/telemetry" */
    size_t mqtt_n_topics;
    /* The alarm lane: a second session of its own for these filters, so an
     * alarm never waits behind readings queued for the telemetry session.
     * Default "anxin/v1/+/alarm"; 0 filters = off ("none", or a telemetry
     * filter that already matches the default). */
    char *mqtt_alarm_topics[CFG_MAX_TOPICS];
    size_t mqtt_n_alarm_topics;
    int64_t mqtt_keepalive_ms;          /* default 30s */
    int64_t mqtt_session_expiry_ms;     /* default 7d */
    int64_t mqtt_reconnect_max_ms;      /* default 30s */
    int mqtt_receive_maximum;           /* 0 = broker default */

    /* [database] */
    char *db_conninfo;                  /* libpq conninfo without password, required */
    struct cfg_secret db_password;

    /* [http] */
    char *http_listen;                  /* "127.0.0.1:8080"; NULL or "" = off */
    char *http_tls_cert, *http_tls_key; /* PEM files; both or neither; NULL = plain HTTP */
    char *console_dir;                  /* NULL = ANXIN_DATADIR "/console" */
    int64_t session_timeout_ms;         /* console sessions; default 12h */
    int auth_failures;                  /* refusals a minute from one address before its
                                         * refusals get 429 (authguard.h); 10; 0 = none */
    int64_t auth_throttle_ms;           /* how long they then get 429; default 5m */

    /* [journal] */
    char *journal_dir;                  /* default ANXIN_STATEDIR "/journal" */
    enum cfg_fsync journal_fsync;       /* default none */
    int64_t journal_segment_bytes;      /* default 64M */
    int64_t journal_keep_ms;            /* keep received telemetry this long for replay;
                                         * default 0 (only until committed) */
    int64_t snapshot_every_ms;          /* save the rule engine's state this often; 30s */

    /* [paths] */
    char *rules_dir;                    /* default ANXIN_SYSCONFDIR "/rules.d" */
    char *templates_dir;                /* default ANXIN_SYSCONFDIR "/templates" */

    /* [provider "name"] sections, in file order */
    struct cfg_provider providers[CFG_MAX_PROVIDERS];
    size_t n_providers;

    /* [channel "sms"] providers = a b c : ordered failover list, indexes
     * into providers[]. Default for sms: the first provider defined. */
    int channel_providers[CFG_CHANNEL_COUNT][CFG_MAX_CHAIN];
    size_t channel_n[CFG_CHANNEL_COUNT];
};

/* One problem found in a file. */
struct cfg_diag {
    int line;                           /* 1-based; 0 = whole file */
    bool warning;                       /* true = warning, false = error */
    char msg[200];                      /* "expected a duration like 30s or 5m, got \"ten\"" */
};

struct cfg_diags {
    struct cfg_diag *items;             /* owned; free with cfg_diags_free */
    size_t n, cap;
    size_t n_errors;
};

/* Parses and validates `text` (len bytes, need not be NUL-terminated) read
 * from `file`. Appends every problem to `diags` (all of them, not just the
 * first). Returns 0 and *out (free with cfg_free) when there are no errors
 * (warnings allowed); otherwise ANX_EPARSE (or ANX_ENOMEM) and *out = NULL.
 * Diagnostics added by one call are sorted by line, whole-file ones last.
 * `default_state_dir` / `default_conf_dir` fill the path defaults. */
int cfg_parse(const char *file, const char *text, size_t len,
              const char *default_conf_dir, const char *default_state_dir,
              struct cfg **out, struct cfg_diags *diags);

void cfg_free(struct cfg *c);
void cfg_diags_free(struct cfg_diags *d);

/* Formats diag i as "file:line: error: msg" into buf ("warning" for a
 * warning; "file: error: msg" when line is 0). Truncates to len. */
void cfg_diag_format(const char *file, const struct cfg_diag *d, char *buf, size_t len);

/* Parses a duration with unit (ms s m h d; bare numbers are rejected):
 * "250ms" "30s" "5m" "12h" "1d" "1h30m" (units largest first, each once).
 * Returns 0, ANX_EINVAL (syntax) or ANX_ERANGE (does not fit in int64 ms). */
int cfg_parse_duration(const char *s, int64_t *out_ms);

/* Parses a size: "4096", "64K", "64M", "1G" (powers of 1024; k m g too).
 * Returns 0, ANX_EINVAL (syntax) or ANX_ERANGE (does not fit in int64). */
int cfg_parse_size(const char *s, int64_t *out_bytes);

/* Parses a UTC offset "+08:00" / "-05:30" into minutes. Returns 0 or ANX_EINVAL. */
int cfg_parse_utc_offset(const char *s, int *out_min);

/* Parses per-number limits "1/1m, 5/1h, 20/1d" into out (CFG_MAX_LIMITS
 * entries). Returns 0 or ANX_EINVAL. */
int cfg_parse_limits(const char *s, struct cfg_limit *out, size_t *n);

int cfg_provider_type_parse(const char *s);        /* -1 if unknown */
const char *cfg_provider_type_name(enum cfg_provider_type t);

/* Looks up a provider by name; returns its index or -1. */
int cfg_provider_index(const struct cfg *c, const char *name);

const char *cfg_channel_name(enum cfg_channel ch);

#endif
