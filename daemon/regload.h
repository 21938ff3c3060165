/* regload.h - the full registry reload, without stalling the loop.
 *
 * An import that touches many elders, or a database that comes back after
 * an outage, makes anxind reload every elder. At a province's size that is
 * seconds of work, and every alarm would wait through it. So the database
 * is read on a libuv worker thread (a connection of its own, the three
 * scans of regdb_scan_read), and the elders are swapped into the running
 * registry on the loop a slice at a time, with messages handled between
 * slices. Elders gone from the database are removed at the end.
 *
 * While a reload runs, other registry reloads wait (a change announced
 * meanwhile is reloaded after it), so an older read never overwrites a
 * newer one. */
#ifndef ANXIN_REGLOAD_H
#define ANXIN_REGLOAD_H

#include <stdbool.h>

struct anxind;

/* Starts a full reload; d->regload holds it until it ends (then NULL).
 * Returns 0, or ANX_ENOMEM / a libuv error (nothing started). */
int regload_start(struct anxind *d);

/* At shutdown: stops the slices and frees what was read. A read still on
 * the worker thread is freed when it comes back (the loop waits for it). */
void regload_cancel(struct anxind *d);

#endif
