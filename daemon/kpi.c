/* kpi.c - the current month's response-time figures for /metrics, read
 * every minute on the loop (see kpi.h). */
#include "kpi.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "err.h"
#include "report.h"

struct kpi {
    struct logger *log;
    int64_t refresh_ms;
    int64_t next_ms;            /* when the next refresh is due; 0 = at the next tick */
    bool waiting;               /* a refresh is queued or in flight */
    bool failing;               /* the last refresh failed (logged once per run of them) */
    char *text;                 /* the last figures rendered, NULL before the first */
};

int kpi_new(struct logger *log, int64_t refresh_ms, struct kpi **out)
{
    struct kpi *k = calloc(1, sizeof *k);
    if (!k)
        return ANX_ENOMEM;
    k->log = log;
    k->refresh_ms = refresh_ms;
    *out = k;
    return 0;
}

static void on_figures(void *arg, const PGresult *res)
{
    struct kpi *k = arg;
    k->waiting = false;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        if (!k->failing)
            log_warn(k->log, "kpi: reading this month's response figures failed: %s; /metrics "
                             "keeps the last ones", pgc_error(res));
        k->failing = true;
        return;
    }
    int n = PQntuples(res);
    struct report_row *rows = calloc(n > 0 ? (size_t)n : 1, sizeof *rows);
    struct sbuf b = {0};
    int rc = rows ? 0 : ANX_ENOMEM;
    for (int i = 0; i < n && rc == 0; i++) {
        const char *v[REPORT_NCOLS];
        for (int c = 0; c < REPORT_NCOLS; c++)
            v[c] = PQgetisnull(res, i, c) ? NULL : PQgetvalue(res, i, c);
        rc = report_row_parse(&rows[i], v);
    }
    if (rc == 0) {
        report_prometheus(&b, rows, (size_t)n, clock_wall_ms());
        if (b.oom)
            rc = ANX_ENOMEM;
    }
    free(rows);
    if (rc != 0) {
        log_error(k->log, "kpi: cannot show this month's response figures: %s",
                  anx_strerror(rc));
        sbuf_free(&b);
        return;
    }
    if (k->failing)
        log_info(k->log, "kpi: response figures read again");
    k->failing = false;
    free(k->text);
    k->text = b.p;      /* taken from the sbuf: plain text, nothing to wipe */
}

void kpi_tick(struct kpi *k, struct pgc *pg, int64_t now_ms, int utc_offset_min)
{
    if (!k || !pg || k->waiting || now_ms < k->next_ms)
        return;
    int64_t from, to;
    report_month_of(now_ms, utc_offset_min, &from, &to);
    char p_from[24], p_to[24], p_off[16];
    snprintf(p_from, sizeof p_from, "%" PRId64, from);
    snprintf(p_to, sizeof p_to, "%" PRId64, to);
    snprintf(p_off, sizeof p_off, "%d", utc_offset_min * 60);
    const char *params[4] = {p_from, p_to, p_off, NULL};
    k->next_ms = now_ms + k->refresh_ms;
    if (pgc_query(pg, REPORT_SQL, 4, params, on_figures, k, 0) == 0)
        k->waiting = true;
    else
        log_error(k->log, "kpi: out of memory queueing the response figures");
}

const char *kpi_metrics(const struct kpi *k)
{
    return k && k->text ? k->text : "";
}

void kpi_free(struct kpi *k)
{
    if (!k)
        return;
    free(k->text);
    free(k);
}
