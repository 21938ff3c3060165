/* regdb.h - reading the registry from PostgreSQL (anxind at start and on
 * NOTIFY, anxinctl replay). */
#ifndef ANXIN_REGDB_H
#define ANXIN_REGDB_H

#include <libpq-fe.h>
#include <stddef.h>

#include "registry.h"

/* SELECTs returning (elder JSON text, elder id) per elder: every elder, or
 * those whose ids are in $1 (a text array). */
extern const char regdb_select[];
extern const char regdb_select_some[];

/* The three plain scans regdb_scan_load reads (elders with their care
 * plans, contacts, devices), each in elder id order byte by byte. */
extern const char regdb_scan_elders[];
extern const char regdb_scan_contacts[];
extern const char regdb_scan_devices[];

/* Told of each elder left out, with the reason as reg_elder_from_json
 * words it (no personal data). */
typedef void (*regdb_skip_fn)(void *arg, const char *why);

/* Loads every elder (blocking) from the three scans in one read-only
 * REPEATABLE READ transaction on db (which must not be in one), rows parsed
 * as they arrive: the same registry the JSON of regdb_select gives. Elders
 * the builder refuses are left out and passed to skip (if not NULL);
 * *unmatched (if not NULL) receives the number of contact and device rows
 * with no elder row, which the foreign keys rule out. Returns 0, ANX_EIO
 * with the server's message in err (reg is then unchanged) or ANX_ENOMEM. */
int regdb_scan_load(PGconn *db, struct registry *reg, regdb_skip_fn skip, void *arg,
                    size_t *unmatched, char *err, size_t errlen);

/* Elders built by regdb_scan_read, in elder id order (strcmp). */
struct regdb_elders {
    struct reg_elder **v;       /* an entry set to NULL is skipped by the free */
    size_t n;
};

/* The same reads, without a registry: every elder into out (owned by the
 * caller: regdb_elders_free, or hand each to reg_put and NULL its entry).
 * Touches nothing but db and out, so it may run on another thread. Same
 * returns; out is empty on failure. */
int regdb_scan_read(PGconn *db, struct regdb_elders *out, regdb_skip_fn skip, void *arg,
                    size_t *unmatched, char *err, size_t errlen);

void regdb_elders_free(struct regdb_elders *l);

/* Adds one row's elder to reg. Returns 0, ANX_EINVAL (err says why) or
 * ANX_ENOMEM. */
int regdb_put_row(struct registry *reg, const char *json, char *err, size_t errlen);

/* Loads every elder (blocking; regdb_scan_load). Elders that do not pass
 * are skipped. Returns 0 or a negative ANX_ code with the reason in err. */
int regdb_load(PGconn *db, struct registry *reg, char *err, size_t errlen);

#endif
