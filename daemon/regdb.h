/* regdb.h - reading the registry from PostgreSQL (anxind at start and on
 * NOTIFY, anxinctl replay). */
#ifndef ANXIN_REGDB_H
#define ANXIN_REGDB_H

#include <libpq-fe.h>
#include <stddef.h>

#include "registry.h"

/* SELECT returning (elder JSON text, elder id) per elder; append
 * " WHERE e.id = ANY($1::text[])" for some elders only. */
extern const char regdb_select[];

/* Adds one row's elder to reg. Returns 0, ANX_EINVAL (err says why) or
 * ANX_ENOMEM. */
int regdb_put_row(struct registry *reg, const char *json, char *err, size_t errlen);

/* Loads every elder (blocking). Rows that do not parse are skipped. Returns
 * 0 or a negative ANX_ code with the reason in err. */
int regdb_load(PGconn *db, struct registry *reg, char *err, size_t errlen);

#endif
