/* regload.c - the full registry reload off the loop (see regload.h). */
#include "regload.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "anxind.h"
#include "clock.h"
#include "err.h"
#include "regdb.h"

/* Elders swapped in per loop turn: reg_put and the absence watch take
 * about 10 us an elder at a million devices (bench/run startup, registry
 * edits: 1000 a turn held the loop 9.9 ms), so 250 keep a turn, and the
 * longest an alarm waits for it, near 2.5 ms. */
#define SLICE_ELDERS 250
/* Registry entries looked at per turn while finding the elders gone (a
 * hash walk and a binary search each, well under a microsecond). */
#define SLICE_SCAN 5000

enum regload_phase { PH_READ, PH_PUT, PH_SCAN, PH_DONE };

struct regload {
    uv_work_t work;
    uv_timer_t timer;           /* re-armed at 0 ms: one slice per loop turn */
    struct anxind *d;           /* NULL once cancelled */
    char *conninfo;
    bool cancelled;
    bool timer_open;
    enum regload_phase phase;

    /* Written by the worker thread, read on the loop after it. */
    int rc;
    char err[256];
    struct regdb_elders got;
    char **ids;                 /* got's ids in strcmp order: who is still there */
    size_t skipped;
    char first_skip[160];
    int64_t read_us;

    /* On the loop. */
    size_t next;                /* next elder of got to swap in */
    size_t scan_it;             /* strmap cursor of the scan for the gone */
    char **gone;
    size_t n_gone, cap_gone;
    size_t put, failed, removed;
    int64_t held_us, longest_us;
    unsigned slices;
};

/* ---- the worker thread ------------------------------------------------- */

static void note_skip(void *arg, const char *why)
{
    struct regload *j = arg;
    if (j->skipped++ == 0)
        snprintf(j->first_skip, sizeof j->first_skip, "%s", why);
}

static void free_ids(struct regload *j)
{
    for (size_t i = 0; j->ids && i < j->got.n; i++)
        free(j->ids[i]);
    free(j->ids);
    j->ids = NULL;
}

static void read_registry(uv_work_t *w)
{
    struct regload *j = w->data;
    int64_t t0 = clock_mono_us();
    PGconn *db = PQconnectdb(j->conninfo);
    if (PQstatus(db) != CONNECTION_OK) {
        snprintf(j->err, sizeof j->err, "cannot connect: %s", PQerrorMessage(db));
        j->err[strcspn(j->err, "\n")] = '\0';
        j->rc = ANX_EIO;
    } else {
        j->rc = regdb_scan_read(db, &j->got, note_skip, j, NULL, j->err, sizeof j->err);
    }
    PQfinish(db);
    if (j->rc == 0) {
        /* The ids apart: the elders change hands as they are swapped in. */
        j->ids = calloc(j->got.n + 1, sizeof *j->ids);
        for (size_t i = 0; j->ids && i < j->got.n; i++)
            if (!(j->ids[i] = strdup(j->got.v[i]->id)))
                free_ids(j);
        if (!j->ids) {
            j->rc = ANX_ENOMEM;
            snprintf(j->err, sizeof j->err, "out of memory");
            regdb_elders_free(&j->got);
        }
    }
    j->read_us = clock_mono_us() - t0;
}

/* ---- the loop ---------------------------------------------------------- */

static void job_free(struct regload *j)
{
    free_ids(j);
    regdb_elders_free(&j->got);     /* what was not swapped in */
    for (size_t i = 0; i < j->n_gone; i++)
        free(j->gone[i]);
    free(j->gone);
    free(j->conninfo);
    free(j);
}

static void on_timer_closed(uv_handle_t *h)
{
    job_free(h->data);
}

/* Detaches the job from the daemon and frees it (after its timer closes). */
static void finish(struct regload *j)
{
    if (j->d && j->d->regload == j)
        j->d->regload = NULL;
    if (j->timer_open)
        uv_close((uv_handle_t *)&j->timer, on_timer_closed);
    else
        job_free(j);
}

static int id_cmp(const void *key, const void *elem)
{
    return strcmp(key, *(char *const *)elem);
}

static void put_slice(struct regload *j)
{
    struct anxind *d = j->d;
    int64_t now = clock_wall_ms();
    size_t end = j->got.n - j->next > SLICE_ELDERS ? j->next + SLICE_ELDERS : j->got.n;
    for (; j->next < end; j->next++) {
        struct reg_elder *e = j->got.v[j->next];
        j->got.v[j->next] = NULL;
        /* reg_put owns e either way; on failure the elder read before stays. */
        if (reg_put(&d->reg, e) != 0) {
            j->failed++;
            continue;
        }
        j->put++;
        anxind_track_elder(d, e, now);
    }
    if (j->next == j->got.n)
        j->phase = PH_SCAN;
}

/* Collects elders in the registry that the read did not find. Nothing else
 * changes the elders map meanwhile (other reloads wait), so the cursor
 * stays good between turns. */
static void scan_slice(struct regload *j)
{
    struct anxind *d = j->d;
    const char *key;
    for (size_t k = 0; k < SLICE_SCAN; k++) {
        if (!strmap_next(&d->reg.elders, &j->scan_it, &key, NULL)) {
            j->phase = PH_DONE;
            return;
        }
        if (bsearch(key, j->ids, j->got.n, sizeof *j->ids, id_cmp))
            continue;
        if (j->n_gone == j->cap_gone) {
            size_t cap = j->cap_gone ? j->cap_gone * 2 : 16;
            char **g = realloc(j->gone, cap * sizeof *g);
            if (!g)
                continue;       /* stays until the next full reload */
            j->gone = g;
            j->cap_gone = cap;
        }
        if ((j->gone[j->n_gone] = strdup(key)))
            j->n_gone++;
    }
}

static void end_reload(struct regload *j)
{
    struct anxind *d = j->d;
    for (size_t i = 0; i < j->n_gone; i++)
        if (reg_remove(&d->reg, j->gone[i]) == 0)
            j->removed++;
    anxind_rearm_rules(d);
    d->stats.registry_reloads++;
}

static void on_slice(uv_timer_t *t)
{
    struct regload *j = t->data;
    struct anxind *d = j->d;
    int64_t t0 = clock_mono_us();
    if (j->phase == PH_PUT)
        put_slice(j);
    else if (j->phase == PH_SCAN)
        scan_slice(j);
    if (j->phase == PH_DONE)
        end_reload(j);
    int64_t took = clock_mono_us() - t0;
    j->held_us += took;
    j->slices++;
    if (took > j->longest_us)
        j->longest_us = took;
    if (j->phase != PH_DONE) {
        uv_timer_start(&j->timer, on_slice, 0, 0);
        return;
    }
    if (j->failed)
        log_error(&d->log, "registry: %zu elder(s) could not be swapped in (out of memory); "
                           "the ones read before stay", j->failed);
    log_info(&d->log, "registry: reloaded everything: %zu elder(s) updated, %zu removed; now "
                      "%zu elders, %zu devices (read in %.2f s on a worker thread; the loop "
                      "spent %.1f ms in %u turns, the longest %.1f ms)",
             j->put, j->removed, d->reg.elders.len, d->reg.devices.len,
             (double)j->read_us / 1e6, (double)j->held_us / 1000.0, j->slices,
             (double)j->longest_us / 1000.0);
    finish(j);
    /* Changes announced while it ran. */
    if (d->reload_all || d->reload_ids.len > 0)
        anxind_schedule_reload(d, 0);
}

static void on_read(uv_work_t *w, int status)
{
    struct regload *j = w->data;
    struct anxind *d = j->d;
    if (j->cancelled || status != 0) {
        finish(j);
        return;
    }
    if (j->rc != 0) {
        log_error(&d->log, "registry: full reload failed: %s; will retry", j->err);
        d->reload_all = true;
        finish(j);
        anxind_schedule_reload(d, 2000);
        return;
    }
    if (j->skipped)
        log_error(&d->log, "registry: %zu elder(s) left out of the reload (the first: %s)",
                  j->skipped, j->first_skip);
    uv_timer_init(d->loop, &j->timer);
    j->timer.data = j;
    j->timer_open = true;
    j->phase = PH_PUT;
    uv_timer_start(&j->timer, on_slice, 0, 0);
}

int regload_start(struct anxind *d)
{
    struct regload *j = calloc(1, sizeof *j);
    if (!j)
        return ANX_ENOMEM;
    j->d = d;
    j->conninfo = strdup(d->db_conninfo);
    if (!j->conninfo) {
        free(j);
        return ANX_ENOMEM;
    }
    j->work.data = j;
    int rc = uv_queue_work(d->loop, &j->work, read_registry, on_read);
    if (rc != 0) {
        free(j->conninfo);
        free(j);
        return rc;
    }
    d->regload = j;
    return 0;
}

void regload_cancel(struct anxind *d)
{
    struct regload *j = d->regload;
    if (!j)
        return;
    d->regload = NULL;
    j->cancelled = true;
    j->d = NULL;
    if (j->phase == PH_READ) {
        /* Still queued: cancelled now; running: on_read frees it after. */
        uv_cancel((uv_req_t *)&j->work);
        return;
    }
    uv_timer_stop(&j->timer);
    finish(j);
}
