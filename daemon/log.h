/* log.h - the daemon's log: one line per event on stderr, with systemd
 * priority prefixes when stderr is the journal, and rate limits for lines an
 * outside party can trigger at will (bad telemetry).
 *
 * Never log a full phone number, an ID number or a health reading of a named
 * person: log ids and mask_phone() output. */
#ifndef ANXIN_LOG_H
#define ANXIN_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

struct logger {
    enum log_level level;
    FILE *out;                  /* not owned; stderr by default */
    bool journal;               /* stderr goes to systemd-journald: "<N>" prefixes */
};

/* Initialises l for stderr at level info. */
void log_init(struct logger *l);

/* Parses "debug" "info" "warn" "error"; returns -1 if unknown. */
int log_level_parse(const char *s);

void log_write(struct logger *l, enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(l, ...) log_write((l), LOG_DEBUG, __VA_ARGS__)
#define log_info(l, ...) log_write((l), LOG_INFO, __VA_ARGS__)
#define log_warn(l, ...) log_write((l), LOG_WARN, __VA_ARGS__)
#define log_error(l, ...) log_write((l), LOG_ERROR, __VA_ARGS__)

/* At most `burst` lines per `window_ms`; the next allowed line reports how
 * many were suppressed in between. */
struct log_limit {
    int64_t window_start_ms;
    uint32_t used;
    uint32_t suppressed;
};

/* Returns true if a line may be written now; *suppressed_out (may be NULL)
 * receives the count held back since the last allowed line. */
bool log_limit_take(struct log_limit *lim, int64_t now_ms, int64_t window_ms, uint32_t burst,
                    uint32_t *suppressed_out);

#endif
