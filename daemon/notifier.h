/* notifier.h - sending notifications through providers, on the loop.
 *
 * Each channel (sms, voice) has an ordered list of providers from the
 * configuration. A notification is tried at the first provider, retried with
 * exponential backoff and jitter on timeouts, 5xx and 429 (Retry-After is
 * honoured), and moved to the next provider after a definitive refusal or
 * when its attempts there are used up. Every attempt's end is reported to
 * the caller, who records it; the notifier itself knows no database. */
#ifndef ANXIN_NOTIFIER_H
#define ANXIN_NOTIFIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "httpc.h"
#include "log.h"
#include "notify.h"

struct notifier;

enum notifier_outcome { NOTIFIER_SENT, NOTIFIER_RETRY, NOTIFIER_FAILED };

struct notifier_attempt {
    int attempt;                    /* 1, 2, ... across providers */
    const char *provider;
    int64_t started_ms, finished_ms;
    enum notifier_outcome outcome;  /* RETRY: another attempt follows */
    long http_status;               /* 0 if none */
    const char *provider_ref;       /* provider's message id, or NULL */
    const char *error;              /* why it failed, or NULL */
    int64_t retry_in_ms;            /* for RETRY */
    bool capped;                    /* held back by a per-number limit */
};

/* Called on the loop after every attempt. n stays owned by the notifier. */
typedef void (*notifier_result_cb)(void *arg, const struct notify_msg *n,
                                   const struct notifier_attempt *a);

/* Secrets resolved from the configuration, by provider index. */
struct notifier_secrets {
    char *token[CFG_MAX_PROVIDERS];
};

/* cfg must outlive the notifier (replace it with notifier_reconfigure).
 * Takes ownership of the strings in secrets. */
int notifier_new(uv_loop_t *loop, struct logger *log, const struct cfg *cfg,
                 struct notifier_secrets *secrets, struct httpc *http,
                 notifier_result_cb cb, void *arg, struct notifier **out);

/* Switches to a new configuration; notifications under way finish with
 * their current provider list. Takes ownership of secrets' strings. */
void notifier_reconfigure(struct notifier *nf, const struct cfg *cfg,
                          struct notifier_secrets *secrets);

/* Queues n for sending now; takes ownership. `prior_attempts` continues the
 * attempt count of a notification resumed after a restart. Returns 0 or a
 * negative ANX_ code (n is freed either way on error). */
int notifier_send(struct notifier *nf, struct notify_msg *n, int prior_attempts);

/* Drops every unfinished notification of an alert (acknowledged or
 * resolved): requests in flight are cancelled, retries forgotten. Returns
 * how many. */
size_t notifier_cancel_alert(struct notifier *nf, int64_t alert_id);

/* The secret of the provider at index i of the current configuration
 * (what signs its requests and its reports), or NULL. Owned by the
 * notifier; valid until the next reconfigure. */
const char *notifier_secret(const struct notifier *nf, int i);

/* Notifications not yet finished (sending or waiting to retry). */
size_t notifier_pending(const struct notifier *nf);

/* 1 when provider i (cfg index) is taking messages, 0 while its circuit
 * breaker is open (recent failures in a row). */
int notifier_provider_up(const struct notifier *nf, int i, int64_t now_ms);

/* HTTP requests in flight right now. */
size_t notifier_inflight(const struct notifier *nf);

/* Drops everything unfinished (the database still says queued, so a restart
 * sends them again), closes timers, frees nf once libuv is done. */
void notifier_close(struct notifier *nf);

#endif
