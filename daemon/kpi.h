/* kpi.h - the response-time figures of the current month (local time) on
 * anxind's /metrics: read from PostgreSQL (anxin_response_report) through
 * pgc every minute, never on a scrape, and kept rendered as Prometheus text
 * until the next refresh.
 *
 * The first refresh goes out at the first kpi_tick; while one is waiting
 * for the database (which may be away) no other is queued, and the last
 * figures stay shown. */
#ifndef ANXIN_KPI_H
#define ANXIN_KPI_H

#include <stdint.h>

#include "log.h"
#include "pgc.h"

#define KPI_REFRESH_MS 60000

struct kpi;

/* Creates the module; log must outlive it. Returns 0 or ANX_ENOMEM. Free
 * with kpi_free once the pgc it was ticked with is closed (a query still
 * queued then is dropped without its callback). */
int kpi_new(struct logger *log, int64_t refresh_ms, struct kpi **out);

/* Called from the daemon's housekeeping tick: queues a refresh on pg when
 * one is due. utc_offset_min says where the month begins. */
void kpi_tick(struct kpi *k, struct pgc *pg, int64_t now_ms, int utc_offset_min);

/* The figures as Prometheus text (anxin_kpi_* gauges), or "" before the
 * first refresh and for k == NULL. Owned by k; valid until the next
 * kpi_tick or kpi_free. */
const char *kpi_metrics(const struct kpi *k);

void kpi_free(struct kpi *k);

#endif
