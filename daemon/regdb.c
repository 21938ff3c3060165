/* regdb.c - the registry as anxind and anxinctl read it from PostgreSQL:
 * one JSON object per elder, in the shape reg_elder_from_json takes. */
#include "regdb.h"

#include <stdio.h>
#include <string.h>

#include "err.h"

const char regdb_select[] =
    "SELECT json_build_object("
    " 'id', e.id, 'name', e.name, 'township', e.township, 'village', e.village,"
    " 'grid', e.grid, 'categories', e.categories, 'consent', e.consent,"
    " 'care_plan', CASE WHEN cp.elder_id IS NULL THEN NULL ELSE"
    "   json_build_object('risk', cp.risk, 'chain', cp.chain, 'params', cp.params) END,"
    " 'contacts', coalesce((SELECT json_agg(json_build_object('id', c.id, 'name', c.name,"
    "     'phone', c.phone, 'role', c.role, 'priority', c.priority, 'channels', c.channels)"
    "     ORDER BY c.priority, c.position) FROM contacts c WHERE c.elder_id = e.id), '[]'),"
    " 'devices', coalesce((SELECT json_agg(json_build_object('id', d.id, 'kind', d.kind,"
    "     'heartbeat_s', d.heartbeat_s,"
    "     'last_seen_ms', (extract(epoch FROM d.last_seen) * 1000)::bigint) ORDER BY d.id)"
    "   FROM devices d WHERE d.elder_id = e.id), '[]'))::text, e.id"
    " FROM elders e LEFT JOIN care_plans cp ON cp.elder_id = e.id";

int regdb_put_row(struct registry *reg, const char *json, char *err, size_t errlen)
{
    struct reg_elder *e;
    if (reg_elder_from_json(json, strlen(json), &e, err, errlen) != 0)
        return ANX_EINVAL;
    if (reg_put(reg, e) != 0) {
        snprintf(err, errlen, "out of memory");
        return ANX_ENOMEM;
    }
    return 0;
}

int regdb_load(PGconn *db, struct registry *reg, char *err, size_t errlen)
{
    PGresult *r = PQexec(db, regdb_select);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        snprintf(err, errlen, "loading the registry failed: %s", m ? m : "no result");
        PQclear(r);
        return ANX_EIO;
    }
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc != ANX_ENOMEM; i++) {
        char why[160];
        rc = regdb_put_row(reg, PQgetvalue(r, i, 0), why, sizeof why);
        if (rc == ANX_ENOMEM)
            snprintf(err, errlen, "out of memory loading the registry");
    }
    PQclear(r);
    return rc == ANX_ENOMEM ? rc : 0;
}
