/* ctl_report.c - `anxinctl report response`: the response-time figures
 * per month and township for the county office and the telecare audit
 * (97.5% of alarms acknowledged within 60 s, 99% within 180 s), as a table,
 * JSON or CSV. What counts is decided in SQL (sql/006_kpi.sql) and explained
 * in docs/reports.md; this file picks the period and prints. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "civil.h"
#include "clock.h"
#include "ctl.h"
#include "report.h"

static const char usage_line[] =
    "usage: anxinctl report response [--month YYYY-MM | --from YYYY-MM-DD --to YYYY-MM-DD]\n"
    "                                [--township NAME] [--format text|json|csv]"
    " [--utc-offset +08:00]\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints why the arguments are wrong and the usage; returns exit status 2. */
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "anxinctl report: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", usage_line);
    return 2;
}

/* What was asked for, resolved to instants. */
struct period {
    int64_t from_ms, to_ms;             /* [from, to) */
    char first[11], last[11];           /* the first and last local day, YYYY-MM-DD */
    int utc_offset_min;
    char offset[8];                     /* "+08:00" */
    const char *township;               /* NULL: all, with totals */
};

static void describe(struct period *p)
{
    char t[CIVIL_TIME_LEN];
    civil_format(p->from_ms, p->utc_offset_min, t);
    snprintf(p->first, sizeof p->first, "%.10s", t);
    civil_format(p->to_ms - 1, p->utc_offset_min, t);
    snprintf(p->last, sizeof p->last, "%.10s", t);
    ctl_offset_text(p->utc_offset_min, p->offset);
}

/* ---- text ----------------------------------------------------------------- */

#define COLS 9
#define CELL 128

enum { K_MONTH, K_TOWN, K_ALERTS, K_SILENCED, K_NOTIFY, K_ACK, K_RESOLVE, K_IN60, K_IN180 };

static void time_cell(const struct report_row *r, enum report_time t, char out[CELL])
{
    char p50[REPORT_DURATION_LEN], p95[REPORT_DURATION_LEN];
    report_format_duration(r->times[t][0], p50);
    report_format_duration(r->times[t][1], p95);
    if (isnan(r->times[t][0]))
        snprintf(out, CELL, "-");
    else
        snprintf(out, CELL, "%s / %s", p50, p95);
}

static void share_cell(const struct report_row *r, int k, char out[CELL])
{
    char pct[REPORT_PCT_LEN];
    report_format_share(r, k, pct);
    if (r->needed[k] == 0)
        snprintf(out, CELL, "-");
    else
        snprintf(out, CELL, "%s %" PRId64 "/%" PRId64 " %s", pct, r->within[k], r->needed[k],
                 report_met(r, k) ? "met" : "MISSED");
}

static void print_text(const struct period *p, const struct report_row *rows, size_t n)
{
    printf("Response times %s to %s (months and days in UTC%s)%s%s\n", p->first, p->last,
           p->offset, p->township ? ", township " : "", p->township ? p->township : "");
    printf("Telecare audit targets: %g%% acknowledged within %d s, %g%% within %d s.\n\n",
           report_target_permille[0] / 10.0, report_limit_s[0],
           report_target_permille[1] / 10.0, report_limit_s[1]);
    if (n == 0) {
        printf("No alerts were opened in this period.\n");
        return;
    }
    static const char *const head[COLS] = {"MONTH", "TOWNSHIP", "ALERTS", "SILENCED",
                                           "TO NOTIFY", "TO ACK", "TO RESOLVE",
                                           "ACK IN 60 S", "ACK IN 180 S"};
    /* Numbers are right-aligned, words left. */
    static const bool right[COLS] = {false, false, true, true, false, false, false, false,
                                     false};
    char (*cells)[COLS][CELL] = calloc(n, sizeof *cells);
    if (!cells) {
        fprintf(stderr, "anxinctl: out of memory\n");
        return;
    }
    int width[COLS];
    for (int c = 0; c < COLS; c++)
        width[c] = ctl_text_width(head[c]);
    for (size_t i = 0; i < n; i++) {
        const struct report_row *r = &rows[i];
        snprintf(cells[i][K_MONTH], CELL, "%s", r->month);
        snprintf(cells[i][K_TOWN], CELL, "%s",
                 r->total ? "all townships" : *r->township ? r->township : "(none)");
        snprintf(cells[i][K_ALERTS], CELL, "%" PRId64, r->alerts);
        snprintf(cells[i][K_SILENCED], CELL, "%" PRId64, r->silenced);
        time_cell(r, REPORT_NOTIFY, cells[i][K_NOTIFY]);
        time_cell(r, REPORT_ACK, cells[i][K_ACK]);
        time_cell(r, REPORT_RESOLVE, cells[i][K_RESOLVE]);
        share_cell(r, 0, cells[i][K_IN60]);
        share_cell(r, 1, cells[i][K_IN180]);
        for (int c = 0; c < COLS; c++) {
            int w = ctl_text_width(cells[i][c]);
            width[c] = w > width[c] ? w : width[c];
        }
    }
    for (size_t i = 0; i <= n; i++) {
        for (int c = 0; c < COLS; c++) {
            const char *s = i == 0 ? head[c] : cells[i - 1][c];
            if (right[c])
                printf("%*s ", width[c], s);
            else
                ctl_put_col(s, c == COLS - 1 ? 0 : width[c]);
            if (c < COLS - 1)
                putchar(' ');
        }
        putchar('\n');
    }
    free(cells);
    printf("\nTO NOTIFY, TO ACK, TO RESOLVE: median / 95th percentile, from the opening of the "
           "alert.\nACK IN 60 S: share acknowledged within 60 s, acknowledged/needed (never "
           "acknowledged counts as missed),\nand whether the audit target is met. Silenced "
           "alerts paged nobody and are not counted.\n");
}

/* ---- JSON and CSV ------------------------------------------------------ */

static void add_seconds(cJSON *o, const char *k, double v)
{
    if (isnan(v))
        cJSON_AddNullToObject(o, k);
    else
        cJSON_AddNumberToObject(o, k, v);
}

static int print_json(const struct period *p, const struct report_row *rows, size_t n)
{
    static const char *const time_key[REPORT_N_TIMES] = {"seconds_to_notify", "seconds_to_ack",
                                                         "seconds_to_resolve"};
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "report", "response");
    cJSON_AddStringToObject(root, "from", p->first);
    cJSON_AddStringToObject(root, "to", p->last);
    cJSON_AddStringToObject(root, "utc_offset", p->offset);
    if (p->township)
        cJSON_AddStringToObject(root, "township", p->township);
    else
        cJSON_AddNullToObject(root, "township");
    cJSON *targets = cJSON_AddArrayToObject(root, "targets");
    for (int k = 0; k < REPORT_N_LIMITS; k++) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddNumberToObject(t, "seconds", report_limit_s[k]);
        cJSON_AddNumberToObject(t, "share", report_target_permille[k] / 1000.0);
        cJSON_AddItemToArray(targets, t);
    }
    cJSON *arr = cJSON_AddArrayToObject(root, "rows");
    for (size_t i = 0; i < n; i++) {
        const struct report_row *r = &rows[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "month", r->month);
        if (r->total)
            cJSON_AddNullToObject(o, "township");
        else
            cJSON_AddStringToObject(o, "township", r->township);
        cJSON_AddBoolToObject(o, "total", r->total);
        cJSON_AddNumberToObject(o, "alerts", (double)r->alerts);
        cJSON_AddNumberToObject(o, "silenced", (double)r->silenced);
        for (int t = 0; t < REPORT_N_TIMES; t++) {
            cJSON *q = cJSON_AddObjectToObject(o, time_key[t]);
            add_seconds(q, "p50", r->times[t][0]);
            add_seconds(q, "p95", r->times[t][1]);
        }
        cJSON *within = cJSON_AddArrayToObject(o, "ack_within");
        for (int k = 0; k < REPORT_N_LIMITS; k++) {
            cJSON *w = cJSON_CreateObject();
            cJSON_AddNumberToObject(w, "seconds", report_limit_s[k]);
            cJSON_AddNumberToObject(w, "needed", (double)r->needed[k]);
            cJSON_AddNumberToObject(w, "acknowledged", (double)r->within[k]);
            add_seconds(w, "share", report_share(r, k));
            cJSON_AddNumberToObject(w, "target", report_target_permille[k] / 1000.0);
            if (r->needed[k] > 0)
                cJSON_AddBoolToObject(w, "met", report_met(r, k));
            else
                cJSON_AddNullToObject(w, "met");
            cJSON_AddItemToArray(within, w);
        }
        cJSON_AddItemToArray(arr, o);
    }
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    if (!s) {
        fprintf(stderr, "anxinctl: out of memory\n");
        return 1;
    }
    printf("%s\n", s);
    free(s);
    return 0;
}

static void csv_number(double v, bool last)
{
    char buf[32] = "";
    if (!isnan(v))
        snprintf(buf, sizeof buf, "%.10g", v);
    ctl_csv_field(buf, last);
}

/* One row per township and month, and the month's total (township empty,
 * total "true"), with seconds and shares as plain numbers for a sheet. */
static void print_csv(const struct report_row *rows, size_t n)
{
    static const char *const head[] = {
        "month", "township", "total", "alerts", "silenced", "notify_p50_s", "notify_p95_s",
        "ack_p50_s", "ack_p95_s", "resolve_p50_s", "resolve_p95_s", "needed_60s", "within_60s",
        "share_60s", "met_60s", "needed_180s", "within_180s", "share_180s", "met_180s"};
    size_t nh = sizeof head / sizeof head[0];
    for (size_t c = 0; c < nh; c++)
        ctl_csv_field(head[c], c == nh - 1);
    for (size_t i = 0; i < n; i++) {
        const struct report_row *r = &rows[i];
        ctl_csv_field(r->month, false);
        ctl_csv_field(r->total ? "" : r->township, false);
        ctl_csv_field(r->total ? "true" : "false", false);
        csv_number((double)r->alerts, false);
        csv_number((double)r->silenced, false);
        for (int t = 0; t < REPORT_N_TIMES; t++)
            for (int q = 0; q < 2; q++)
                csv_number(r->times[t][q], false);
        for (int k = 0; k < REPORT_N_LIMITS; k++) {
            csv_number((double)r->needed[k], false);
            csv_number((double)r->within[k], false);
            csv_number(report_share(r, k), false);
            ctl_csv_field(r->needed[k] == 0 ? "" : report_met(r, k) ? "true" : "false",
                          k == REPORT_N_LIMITS - 1);
        }
    }
}

/* ---- the command ------------------------------------------------------ */

/* Says why the query failed; a database without the report function is
 * older than this anxinctl. */
static void query_failed(const PGresult *res)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorMessage(res);
    fprintf(stderr, "anxinctl: reading the response figures failed: %s%s", msg,
            *msg && msg[strlen(msg) - 1] == '\n' ? "" : "\n");
    if (state && strcmp(state, "42883") == 0)
        fprintf(stderr, "anxinctl: the database schema is older than this anxinctl: run "
                        "`anxinctl migrate`\n");
}

static bool township_known(PGconn *db, const char *township)
{
    const char *params[1] = {township};
    PGresult *r = PQexecParams(db, "SELECT 1 FROM elders WHERE btrim(township) = $1 LIMIT 1",
                               1, NULL, params, NULL, NULL, 0);
    bool known = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
    PQclear(r);
    return known;
}

static int run_report(const struct ctl_opts *o, const struct period *p, const char *format)
{
    PGconn *db = ctl_connect(o);
    if (!db)
        return 2;
    PQsetClientEncoding(db, "UTF8");
    char from[24], to[24], off[16];
    snprintf(from, sizeof from, "%" PRId64, p->from_ms);
    snprintf(to, sizeof to, "%" PRId64, p->to_ms);
    snprintf(off, sizeof off, "%d", p->utc_offset_min * 60);
    const char *params[4] = {from, to, off, p->township};
    PGresult *res = PQexecParams(db, REPORT_SQL, 4, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        query_failed(res);
        PQclear(res);
        PQfinish(db);
        return 1;
    }
    int n = PQntuples(res);
    if (n == 0 && p->township && !township_known(db, p->township)) {
        fprintf(stderr, "anxinctl: no elder in the registry lives in township \"%s\" (check the "
                        "spelling; anxinctl alerts shows townships' alerts)\n", p->township);
        PQclear(res);
        PQfinish(db);
        return 1;
    }
    struct report_row *rows = calloc(n > 0 ? (size_t)n : 1, sizeof *rows);
    int rc = rows ? 0 : 1;
    for (int i = 0; i < n && rc == 0; i++) {
        const char *v[REPORT_NCOLS];
        for (int c = 0; c < REPORT_NCOLS; c++)
            v[c] = PQgetisnull(res, i, c) ? NULL : PQgetvalue(res, i, c);
        if (report_row_parse(&rows[i], v) != 0) {
            fprintf(stderr, "anxinctl: the database returned a response figure this anxinctl "
                            "cannot read (row %d): is the schema newer than anxinctl?\n", i + 1);
            rc = 1;
        }
    }
    if (!rows)
        fprintf(stderr, "anxinctl: out of memory\n");
    if (rc == 0) {
        if (strcmp(format, "json") == 0)
            rc = print_json(p, rows, (size_t)n);
        else if (strcmp(format, "csv") == 0)
            print_csv(rows, (size_t)n);
        else
            print_text(p, rows, (size_t)n);
    }
    free(rows);
    PQclear(res);
    PQfinish(db);
    return rc;
}

static int cmd_response(const struct ctl_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"month", required_argument, NULL, 'm'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"township", required_argument, NULL, 'w'},
        {"format", required_argument, NULL, 'F'},
        {"utc-offset", required_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *month = NULL, *from = NULL, *to = NULL, *format = "text", *offset = NULL;
    struct period p = {0};
    int c;
    opterr = 0;     /* our own messages below */
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': month = optarg; break;
        case 'f': from = optarg; break;
        case 't': to = optarg; break;
        case 'w': p.township = optarg; break;
        case 'F': format = optarg; break;
        case 'u': offset = optarg; break;
        case 'h':
            printf("%s"
                   "  response times per month and township: alerts, median and 95th\n"
                   "  percentile to first notification, acknowledgement and resolution, and\n"
                   "  the share acknowledged within 60 s and 180 s against the audit targets\n"
                   "  --month YYYY-MM      one month (default: the current one)\n"
                   "  --from D --to D      the days from D to D, both included\n"
                   "  --township NAME      only that township (no totals)\n"
                   "  --format F           text (default), json or csv\n"
                   "  --utc-offset +08:00  where months and days begin (default: [anxind]\n"
                   "                       utc_offset of the configuration, else +08:00)\n",
                   usage_line);
            return 0;
        case ':':
            return usage_error("%s needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument \"%s\"", argv[optind]);
    if (strcmp(format, "text") && strcmp(format, "json") && strcmp(format, "csv"))
        return usage_error("--format is text, json or csv, not \"%s\"", format);
    if (month && (from || to))
        return usage_error("give either --month or --from and --to");
    if (!from != !to)
        return usage_error("--from and --to go together (%s is missing)",
                           from ? "--to" : "--from");
    if (p.township && !*p.township)
        return usage_error("--township needs a name");
    if (offset) {
        if (cfg_parse_utc_offset(offset, &p.utc_offset_min) != 0)
            return usage_error("--utc-offset expects an offset like +08:00, got \"%s\"", offset);
    } else {
        struct cfg *cfg = ctl_config_quiet(o);
        p.utc_offset_min = cfg ? cfg->utc_offset_min : 480;
        cfg_free(cfg);
    }
    if (month) {
        if (report_month(month, p.utc_offset_min, &p.from_ms, &p.to_ms) != 0)
            return usage_error("--month expects a month like 2026-03, got \"%s\"", month);
    } else if (from) {
        int64_t last;
        if (report_day(from, p.utc_offset_min, &p.from_ms) != 0)
            return usage_error("--from expects a date like 2026-03-01, got \"%s\"", from);
        if (report_day(to, p.utc_offset_min, &last) != 0)
            return usage_error("--to expects a date like 2026-03-31, got \"%s\"", to);
        if (last < p.from_ms)
            return usage_error("--to is before --from (%s)", to);
        p.to_ms = last + INT64_C(86400000);     /* the last day is included */
    } else {
        report_month_of(clock_wall_ms(), p.utc_offset_min, &p.from_ms, &p.to_ms);
    }
    describe(&p);
    return run_report(o, &p, format);
}

int ctl_cmd_report(const struct ctl_opts *o, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f, "%sreports: response (response times and the audit's 60 s / 180 s shares)\n",
                usage_line);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "response") != 0) {
        fprintf(stderr, "anxinctl report: unknown report \"%s\" (the reports are: response)\n%s",
                argv[1], usage_line);
        return 2;
    }
    /* The report's name stands where getopt expects the program's. */
    return cmd_response(o, argc - 1, argv + 1);
}
