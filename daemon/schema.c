/* schema.c - reading the database's schema version and comparing it with the
 * one this build expects; see schema.h. */
#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

/* The server's message without its trailing newline. */
static void pg_message(PGconn *db, const PGresult *res, char *err, size_t errlen,
                       const char *what)
{
    const char *m = res ? PQresultErrorMessage(res) : "";
    if (!m || !*m)
        m = PQerrorMessage(db);
    size_t n = strlen(m);
    while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
        n--;
    snprintf(err, errlen, "%s: %.*s", what, (int)n, m);
}

int schema_version(PGconn *db, int *version, char *err, size_t errlen)
{
    *version = 0;
    PGresult *res = PQexec(db, "SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        pg_message(db, res, err, errlen, "cannot read the database schema version");
        PQclear(res);
        return ANX_EIO;
    }
    int exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!exists)
        return 0;
    res = PQexec(db, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        pg_message(db, res, err, errlen, "cannot read the database schema version");
        PQclear(res);
        return ANX_EIO;
    }
    *version = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

int schema_check(PGconn *db, char *err, size_t errlen)
{
    int v;
    int rc = schema_version(db, &v, err, errlen);
    if (rc < 0)
        return rc;
    if (v == ANXIN_SCHEMA_VERSION)
        return 0;
    if (v == 0)
        snprintf(err, errlen, "database schema is version 0 (no migrations applied) but this "
                 "anxind needs version %d: run `anxinctl migrate`", ANXIN_SCHEMA_VERSION);
    else if (v < ANXIN_SCHEMA_VERSION)
        snprintf(err, errlen, "database schema is version %d but this anxind needs version %d: "
                 "run `anxinctl migrate`", v, ANXIN_SCHEMA_VERSION);
    else
        snprintf(err, errlen, "database schema version %d is newer than this anxind (%d): "
                 "upgrade anxind", v, ANXIN_SCHEMA_VERSION);
    return ANX_ESTATE;
}
