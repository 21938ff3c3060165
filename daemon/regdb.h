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

/* Adds one row's elder to reg. Returns 0, ANX_EINVAL (err says why) or
 * ANX_ENOMEM. */
int regdb_put_row(struct registry *reg, const char *json, char *err, size_t errlen);

/* Loads every elder (blocking). Rows that do not parse are skipped. Returns
 * 0 or a negative ANX_ code with the reason in err. */
int regdb_load(PGconn *db, struct registry *reg, char *err, size_t errlen);

#endif
