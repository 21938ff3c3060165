/* report.c - the response-time report's periods, rows and renderings (see
 * report.h). */
#include "report.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "civil.h"
#include "err.h"

#define DAY_MS INT64_C(86400000)

const int report_limit_s[REPORT_N_LIMITS] = {60, 180};
const int report_target_permille[REPORT_N_LIMITS] = {975, 990};

static int parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s)
        return ANX_EPARSE;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return ANX_EPARSE;
    *out = v;
    return 0;
}

/* A double precision value as PostgreSQL writes it; NULL is NAN. */
static int parse_seconds(const char *s, double *out)
{
    if (!s) {
        *out = NAN;
        return 0;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || errno || *end)
        return ANX_EPARSE;
    *out = v;
    return 0;
}

int report_row_parse(struct report_row *r, const char *const values[REPORT_NCOLS])
{
    memset(r, 0, sizeof *r);
    const char *total = values[REPORT_C_TOTAL];
    if (!values[REPORT_C_MONTH] || !total || (strcmp(total, "t") && strcmp(total, "f")))
        return ANX_EPARSE;
    r->month = values[REPORT_C_MONTH];
    r->total = strcmp(total, "t") == 0;
    r->township = values[REPORT_C_TOWNSHIP];
    if (!r->total && !r->township)
        return ANX_EPARSE;
    int rc = parse_i64(values[REPORT_C_ALERTS], &r->alerts);
    if (rc == 0)
        rc = parse_i64(values[REPORT_C_SILENCED], &r->silenced);
    for (int t = 0; t < REPORT_N_TIMES && rc == 0; t++)
        for (int q = 0; q < 2 && rc == 0; q++)
            rc = parse_seconds(values[REPORT_C_TIMES + 2 * t + q], &r->times[t][q]);
    for (int k = 0; k < REPORT_N_LIMITS && rc == 0; k++) {
        rc = parse_i64(values[REPORT_C_LIMITS + 2 * k], &r->needed[k]);
        if (rc == 0)
            rc = parse_i64(values[REPORT_C_LIMITS + 2 * k + 1], &r->within[k]);
        if (rc == 0 && (r->within[k] < 0 || r->within[k] > r->needed[k]))
            rc = ANX_EPARSE;
    }
    return rc;
}

bool report_met(const struct report_row *r, int k)
{
    /* within / needed >= permille / 1000, in integers: no rounding at the
     * boundary (39 of 40 is exactly 97.5%). */
    return r->needed[k] > 0 &&
           r->within[k] * 1000 >= r->needed[k] * (int64_t)report_target_permille[k];
}

double report_share(const struct report_row *r, int k)
{
    return r->needed[k] > 0 ? (double)r->within[k] / (double)r->needed[k] : NAN;
}

void report_format_share(const struct report_row *r, int k, char out[REPORT_PCT_LEN])
{
    if (r->needed[k] <= 0) {
        snprintf(out, REPORT_PCT_LEN, "-");
        return;
    }
    int64_t tenths = r->within[k] * 1000 / r->needed[k];   /* rounds down */
    snprintf(out, REPORT_PCT_LEN, "%" PRId64 ".%" PRId64 "%%", tenths / 10, tenths % 10);
}

void report_format_duration(double s, char out[REPORT_DURATION_LEN])
{
    if (isnan(s)) {
        snprintf(out, REPORT_DURATION_LEN, "-");
        return;
    }
    if (s < 10) {
        /* One decimal, rounded down like the rest: 9.99 s is "9.9s". */
        snprintf(out, REPORT_DURATION_LEN, "%.1fs", floor(s * 10) / 10);
        return;
    }
    int64_t n = s < 1e15 ? (int64_t)s : INT64_C(1000000000000000);
    if (n < 60)
        snprintf(out, REPORT_DURATION_LEN, "%" PRId64 "s", n);
    else if (n < 3600)
        snprintf(out, REPORT_DURATION_LEN, "%" PRId64 "m%02" PRId64 "s", n / 60, n % 60);
    else if (n < 86400)
        snprintf(out, REPORT_DURATION_LEN, "%" PRId64 "h%02" PRId64 "m", n / 3600,
                 n % 3600 / 60);
    else
        snprintf(out, REPORT_DURATION_LEN, "%" PRId64 "d%02" PRId64 "h", n / 86400,
                 n % 86400 / 3600);
}

/* ---- periods ------------------------------------------------------------ */

/* The local midnight starting day `days` (since 1970-01-01). */
static int64_t local_midnight(int64_t days, int utc_offset_min)
{
    return days * DAY_MS - (int64_t)utc_offset_min * 60000;
}

/* [from, to) of the month y-m. */
static void month_range(int64_t y, unsigned m, int utc_offset_min, int64_t *from_ms,
                        int64_t *to_ms)
{
    *from_ms = local_midnight(civil_days_from_date(y, m, 1), utc_offset_min);
    *to_ms = local_midnight(m == 12 ? civil_days_from_date(y + 1, 1, 1)
                                    : civil_days_from_date(y, m + 1, 1),
                            utc_offset_min);
}

int report_day(const char *date, int utc_offset_min, int64_t *ms)
{
    if (!date || strlen(date) != 10)
        return ANX_EINVAL;
    /* civil_parse_local checks the calendar (no 2026-02-30). */
    char full[CIVIL_TIME_LEN];
    snprintf(full, sizeof full, "%s 00:00:00", date);
    int64_t v = civil_parse_local(full, utc_offset_min);
    if (v == -1)
        return ANX_EINVAL;
    *ms = v;
    return 0;
}

int report_month(const char *month, int utc_offset_min, int64_t *from_ms, int64_t *to_ms)
{
    if (!month || strlen(month) != 7)
        return ANX_EINVAL;
    char day[11];
    snprintf(day, sizeof day, "%s-01", month);
    int64_t first;
    if (report_day(day, utc_offset_min, &first) != 0)
        return ANX_EINVAL;
    report_month_of(first, utc_offset_min, from_ms, to_ms);
    return 0;
}

void report_month_of(int64_t now_ms, int utc_offset_min, int64_t *from_ms, int64_t *to_ms)
{
    int64_t local = now_ms + (int64_t)utc_offset_min * 60000;
    /* Floor division: instants before the epoch belong to the day before. */
    int64_t days = local / DAY_MS - (local % DAY_MS < 0);
    int64_t y;
    unsigned m, d;
    civil_date_from_days(days, &y, &m, &d);
    month_range(y, m, utc_offset_min, from_ms, to_ms);
}

/* ---- Prometheus --------------------------------------------------------- */

static void addf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void addf(struct sbuf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    /* Only formats with numbers and fixed names come here: they fit. */
    sbuf_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

void report_prom_label(struct sbuf *b, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p == '\\')
            sbuf_str(b, "\\\\");
        else if (*p == '"')
            sbuf_str(b, "\\\"");
        else if (*p == '\n')
            sbuf_str(b, "\\n");
        else
            sbuf_add(b, p, 1);
    }
}

static void family(struct sbuf *b, const char *name, const char *help)
{
    addf(b, "# HELP %s ", name);
    sbuf_str(b, help);
    addf(b, "\n# TYPE %s gauge\n", name);
}

/* name{township="...",extra} value - or name{extra} for a total row. */
static void sample(struct sbuf *b, const char *name, const struct report_row *r,
                   const char *extra, double v)
{
    sbuf_str(b, name);
    bool town = !r->total;
    if (town || extra)
        sbuf_str(b, "{");
    if (town) {
        sbuf_str(b, "township=\"");
        report_prom_label(b, *r->township ? r->township : "(none)");
        sbuf_str(b, "\"");
    }
    if (extra) {
        if (town)
            sbuf_str(b, ",");
        sbuf_str(b, extra);
    }
    if (town || extra)
        sbuf_str(b, "}");
    /* %.10g: shares like 0.975 print as written, seconds keep their ms. */
    addf(b, " %.10g\n", v);
}

static const struct {
    const char *name, *help;
} time_family[REPORT_N_TIMES] = {
    {"anxin_kpi_time_to_notify_seconds",
     "This month's alerts: seconds from opening to the first notification sent "
     "(median and 95th percentile)."},
    {"anxin_kpi_time_to_ack_seconds",
     "This month's alerts: seconds from opening to the first acknowledgement, of those "
     "acknowledged (median and 95th percentile)."},
    {"anxin_kpi_time_to_resolve_seconds",
     "This month's alerts: seconds from opening to resolution by a person, of those "
     "resolved (median and 95th percentile)."},
};

/* The label of limit k: seconds="60". */
static void seconds_label(int k, char out[32])
{
    snprintf(out, 32, "seconds=\"%d\"", report_limit_s[k]);
}

enum limit_value { LIMIT_NEEDED, LIMIT_WITHIN, LIMIT_SHARE };

/* One family with a series per row and limit; a share of nothing is left out. */
static void limit_family(struct sbuf *b, const char *name, const char *help,
                         const struct report_row *rows, size_t n, enum limit_value what)
{
    family(b, name, help);
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < REPORT_N_LIMITS; k++) {
            const struct report_row *r = &rows[i];
            if (what == LIMIT_SHARE && r->needed[k] == 0)
                continue;
            double v = what == LIMIT_NEEDED ? (double)r->needed[k]
                       : what == LIMIT_WITHIN ? (double)r->within[k] : report_share(r, k);
            char label[32];
            seconds_label(k, label);
            sample(b, name, r, label, v);
        }
    }
}

void report_prometheus(struct sbuf *b, const struct report_row *rows, size_t n,
                       int64_t refreshed_ms)
{
    static const char *const quantile[2] = {"quantile=\"0.5\"", "quantile=\"0.95\""};

    family(b, "anxin_kpi_alerts", "Alerts opened this month (local time) that paged someone; "
                                  "the series without a township is the county's total.");
    bool have_total = false;
    for (size_t i = 0; i < n; i++) {
        sample(b, "anxin_kpi_alerts", &rows[i], NULL, (double)rows[i].alerts);
        have_total |= rows[i].total;
    }
    if (!have_total)
        sbuf_str(b, "anxin_kpi_alerts 0\n");
    family(b, "anxin_kpi_alerts_silenced",
           "Alerts opened this month that a silence held back (nobody was paged).");
    for (size_t i = 0; i < n; i++)
        sample(b, "anxin_kpi_alerts_silenced", &rows[i], NULL, (double)rows[i].silenced);
    for (int t = 0; t < REPORT_N_TIMES; t++) {
        family(b, time_family[t].name, time_family[t].help);
        for (size_t i = 0; i < n; i++)
            for (int q = 0; q < 2; q++)
                if (!isnan(rows[i].times[t][q]))
                    sample(b, time_family[t].name, &rows[i], quantile[q], rows[i].times[t][q]);
    }
    limit_family(b, "anxin_kpi_ack_needed_alerts",
                 "This month's alerts that needed an answer within the limit (never "
                 "acknowledged ones count; cleared before the limit and silenced ones do not).",
                 rows, n, LIMIT_NEEDED);
    limit_family(b, "anxin_kpi_ack_within_alerts",
                 "Of those, the alerts acknowledged within the limit.", rows, n, LIMIT_WITHIN);
    limit_family(b, "anxin_kpi_ack_within_ratio",
                 "Share of this month's alerts acknowledged within the limit (audit targets in "
                 "anxin_kpi_ack_target_ratio).", rows, n, LIMIT_SHARE);
    family(b, "anxin_kpi_ack_target_ratio",
           "The telecare audit's target share acknowledged within the limit.");
    for (int k = 0; k < REPORT_N_LIMITS; k++) {
        char label[32];
        seconds_label(k, label);
        addf(b, "anxin_kpi_ack_target_ratio{%s} %.10g\n", label,
             report_target_permille[k] / 1000.0);
    }
    family(b, "anxin_kpi_refreshed_timestamp_seconds",
           "When the anxin_kpi_* figures were last read from the database.");
    addf(b, "anxin_kpi_refreshed_timestamp_seconds %.3f\n", (double)refreshed_ms / 1000.0);
}
