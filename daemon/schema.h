/* schema.h - the database schema version this build expects, and the check
 * anxind runs at start so it never works against a schema it does not know.
 *
 * Migrations are sql/NNN_name.sql, applied by `anxinctl migrate`, which
 * records each in schema_migrations(version, name, applied_at). The schema
 * version of a database is the highest version recorded there (0 when the
 * table is missing or empty). Bump ANXIN_SCHEMA_VERSION with every new
 * migration file; an integration test checks they agree. */
#ifndef ANXIN_SCHEMA_H
#define ANXIN_SCHEMA_H

#include <libpq-fe.h>
#include <stddef.h>

#define ANXIN_SCHEMA_VERSION 7

/* The key of pg_advisory_xact_lock held by `anxinctl migrate` while it
 * applies a migration ("anxinsch" in ASCII). */
#define ANXIN_SCHEMA_LOCK_KEY 0x616e78696e736368LL

/* Reads the database's schema version into *version (blocking; the
 * connection must not be in pipeline or non-blocking mode). Returns 0, or
 * ANX_EIO with the server's message in err. */
int schema_version(PGconn *db, int *version, char *err, size_t errlen);

/* Returns 0 when the database's schema version equals ANXIN_SCHEMA_VERSION.
 * Otherwise a negative ANX_ code with a message in err that tells an
 * operator what to do:
 *   ANX_ESTATE  older: "... run `anxinctl migrate`"; newer: "... upgrade anxind"
 *   ANX_EIO     the version could not be read
 * Blocking, like schema_version. */
int schema_check(PGconn *db, char *err, size_t errlen);

#endif
