/* pgc.h - the daemon's PostgreSQL connection: libpq in non-blocking mode on
 * the libuv loop, with a FIFO of queries, automatic reconnect and LISTEN.
 *
 * The hot path never waits for the database: callers queue a query and get
 * a callback. While the database is unreachable queries wait in the queue
 * (in memory; the journal covers a crash meanwhile) and go out in order when
 * the connection returns. A query whose connection broke before its result
 * arrived is sent again, so every queued statement must be idempotent. */
#ifndef ANXIN_PGC_H
#define ANXIN_PGC_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "log.h"

struct pgc;

/* res is the query's final result (check PQresultStatus), owned by pgc and
 * cleared after the callback returns. */
typedef void (*pgc_cb)(void *arg, const PGresult *res);

struct pgc_hooks {
    void (*on_up)(void *arg);                       /* connected (again) */
    void (*on_down)(void *arg);                     /* connection lost */
    void (*on_notify)(void *arg, const char *channel, const char *payload);
    void *arg;
};

/* Creates the client; it connects when pgc_start is called. conninfo is
 * copied. Returns 0 or ANX_ENOMEM. */
int pgc_new(uv_loop_t *loop, struct logger *log, const char *conninfo,
            const struct pgc_hooks *hooks, struct pgc **out);

/* Starts connecting (and reconnecting whenever the connection is lost). */
void pgc_start(struct pgc *p);

/* LISTENs on channel now and after every reconnect. */
int pgc_listen(struct pgc *p, const char *channel);

/* Queues a query with text parameters (copied; NULL elements are SQL NULL).
 * `jseq` is the journal record whose effects this write carries (0 = none);
 * see pgc_oldest_jseq. cb may be NULL. Returns 0 or ANX_ENOMEM. */
int pgc_query(struct pgc *p, const char *sql, int nparams, const char *const *params,
              pgc_cb cb, void *arg, uint64_t jseq);

bool pgc_connected(const struct pgc *p);

/* The primary message of a failed result, one line, for logs: never the
 * DETAIL, which can quote a whole row (a phone number, a name). */
const char *pgc_error(const PGresult *res);

/* Queries queued or in flight. */
size_t pgc_pending(const struct pgc *p);

/* The smallest non-zero jseq among queued and in-flight queries, or 0: the
 * journal checkpoint may advance to just below it. */
uint64_t pgc_oldest_jseq(const struct pgc *p);

/* Closes the connection and frees p once libuv has let go of its handles.
 * Queued queries are dropped without callbacks. */
void pgc_close(struct pgc *p);

#endif
