/* report.h - the response-time report (KPIs): what `anxinctl report
 * response` prints and what anxind shows on /metrics, from the rows of the
 * SQL function anxin_response_report (sql/006_kpi.sql, which says what
 * counts).
 *
 * Pure: periods are computed from times passed in, rows are parsed from the
 * text values libpq hands out, and the Prometheus text is built in a sbuf.
 * Nothing here allocates except the sbuf it is given. */
#ifndef ANXIN_REPORT_H
#define ANXIN_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"

/* The telecare audit's targets (TEC Services Association): the share of
 * alarms answered within 60 s and within 180 s, in per mille so that "met"
 * is decided in integers. */
#define REPORT_N_LIMITS 2
extern const int report_limit_s[REPORT_N_LIMITS];          /* 60, 180 */
extern const int report_target_permille[REPORT_N_LIMITS];  /* 975, 990 */

/* The query both programs run: $1 and $2 the period [from, to) in ms since
 * the epoch, $3 the UTC offset in seconds, $4 a township (text) or NULL for
 * all of them and the totals. Its columns are enum report_col, in order. */
#define REPORT_SQL                                                                           \
    "SELECT month, township, total, alerts, silenced, notify_p50_s, notify_p95_s,"          \
    " ack_p50_s, ack_p95_s, resolve_p50_s, resolve_p95_s, ack_needed_60, ack_within_60,"    \
    " ack_needed_180, ack_within_180"                                                      \
    " FROM anxin_response_report(anxin_ms($1::bigint), anxin_ms($2::bigint), $3::int)"      \
    " WHERE $4::text IS NULL OR (township = $4::text AND NOT total)"

enum report_col {
    REPORT_C_MONTH, REPORT_C_TOWNSHIP, REPORT_C_TOTAL, REPORT_C_ALERTS, REPORT_C_SILENCED,
    REPORT_C_TIMES,                         /* the six times, in enum report_time order */
    REPORT_C_LIMITS = REPORT_C_TIMES + 6,   /* needed, within; per limit */
    REPORT_NCOLS = REPORT_C_LIMITS + 2 * REPORT_N_LIMITS
};

/* The times measured from the opening of an alert, each as median (p50)
 * and 95th percentile: times[what][0] and times[what][1]. */
enum report_time { REPORT_NOTIFY, REPORT_ACK, REPORT_RESOLVE, REPORT_N_TIMES };

struct report_row {
    const char *month;          /* "2026-03"; points into the caller's values */
    const char *township;       /* NULL on a total row; "" for elders without one */
    bool total;                 /* the row of all townships of its month */
    int64_t alerts;             /* counted (silenced and grouped alerts are not) */
    int64_t silenced;           /* held back by a silence: nobody was paged */
    double times[REPORT_N_TIMES][2];            /* seconds; NAN when no alert has one */
    int64_t needed[REPORT_N_LIMITS];            /* alerts that needed an answer that long */
    int64_t within[REPORT_N_LIMITS];            /* of them, acknowledged within the limit */
};

/* Fills r from one result row: values[REPORT_NCOLS] as libpq gives them
 * (text; NULL for SQL NULL). r keeps pointers to the month and township
 * strings, which must outlive it. Returns 0, or ANX_EPARSE for a value that
 * is not what the column holds. */
int report_row_parse(struct report_row *r, const char *const values[REPORT_NCOLS]);

/* Whether the share acknowledged within report_limit_s[k] meets its target;
 * false when no alert needed an answer (there is nothing to meet). */
bool report_met(const struct report_row *r, int k);

/* The share within limit k as a fraction, NAN when no alert counts. */
double report_share(const struct report_row *r, int k);

/* The share as a percentage with one decimal, rounded down so that a share
 * shown as 97.5% has met a 97.5% target: "95.0%", or "-" with no alerts.
 * out holds at least REPORT_PCT_LEN bytes. */
#define REPORT_PCT_LEN 48
void report_format_share(const struct report_row *r, int k, char out[REPORT_PCT_LEN]);

/* Seconds for people: "2.5s" (under 10 s), "42s", "3m05s", "2h05m",
 * "3d04h"; "-" for NAN. Whole units are rounded down. */
#define REPORT_DURATION_LEN 48
void report_format_duration(double s, char out[REPORT_DURATION_LEN]);

/* The period of the month "YYYY-MM" (exactly that) in local time at
 * utc_offset_min: [*from_ms, *to_ms). Returns 0 or ANX_EINVAL. */
int report_month(const char *month, int utc_offset_min, int64_t *from_ms, int64_t *to_ms);

/* Local midnight at the start of the day "YYYY-MM-DD" (a real date).
 * Returns 0 or ANX_EINVAL. */
int report_day(const char *date, int utc_offset_min, int64_t *ms);

/* The local month that now_ms falls in: [*from_ms, *to_ms). */
void report_month_of(int64_t now_ms, int utc_offset_min, int64_t *from_ms, int64_t *to_ms);

/* Appends the rows (one month's, townships and total) to b as Prometheus
 * text gauges anxin_kpi_*: a township's series carry township="NAME"
 * (escaped; "(none)" for elders without one), the total's carry no township
 * label. Values that do not exist (no alert acknowledged yet) are left out.
 * refreshed_ms is when the rows were read. With no rows, the total alerts
 * is 0. */
void report_prometheus(struct sbuf *b, const struct report_row *rows, size_t n,
                       int64_t refreshed_ms);

/* Appends s to b as a Prometheus label value: \ " and newline escaped. */
void report_prom_label(struct sbuf *b, const char *s);

#endif
