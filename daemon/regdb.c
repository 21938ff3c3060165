/* regdb.c - the registry as anxind and anxinctl read it from PostgreSQL:
 * one JSON object per elder, in the shape reg_elder_from_json takes. */
#include "regdb.h"

#include <stdio.h>
#include <string.h>

#include "err.h"

/* One elder's object; its contacts and devices are spliced in by the two
 * selects below. */
#define ELDER_FIELDS \
    " 'id', e.id, 'name', e.name, 'township', e.township, 'village', e.village," \
    " 'grid', e.grid, 'categories', e.categories, 'consent', e.consent," \
    " 'care_plan', CASE WHEN cp.elder_id IS NULL THEN NULL ELSE" \
    "   json_build_object('risk', cp.risk, 'chain', cp.chain, 'params', cp.params) END,"
#define CONTACTS_AGG \
    "json_agg(json_build_object('id', c.id, 'name', c.name, 'phone', c.phone, 'role', c.role," \
    " 'priority', c.priority, 'channels', c.channels) ORDER BY c.priority, c.position)"
#define DEVICES_AGG \
    "json_agg(json_build_object('id', d.id, 'kind', d.kind, 'heartbeat_s', d.heartbeat_s," \
    " 'last_seen_ms', (extract(epoch FROM d.last_seen) * 1000)::bigint) ORDER BY d.id)"

/* Everyone: contacts and devices grouped once and joined (hash aggregates),
 * not looked up per elder, which took the server 13 s of a start with a
 * million devices instead of about 5 (bench/results, startup). */
const char regdb_select[] =
    "WITH c AS (SELECT c.elder_id, " CONTACTS_AGG " AS list FROM contacts c GROUP BY c.elder_id),"
    " d AS (SELECT d.elder_id, " DEVICES_AGG " AS list FROM devices d GROUP BY d.elder_id)"
    " SELECT json_build_object(" ELDER_FIELDS
    " 'contacts', coalesce(c.list, '[]'), 'devices', coalesce(d.list, '[]'))::text, e.id"
    " FROM elders e LEFT JOIN care_plans cp ON cp.elder_id = e.id"
    " LEFT JOIN c ON c.elder_id = e.id LEFT JOIN d ON d.elder_id = e.id";

/* A few elders, looked up by their ids ($1, a text array). */
const char regdb_select_some[] =
    "SELECT json_build_object(" ELDER_FIELDS
    " 'contacts', coalesce((SELECT " CONTACTS_AGG " FROM contacts c WHERE c.elder_id = e.id),"
    "   '[]'),"
    " 'devices', coalesce((SELECT " DEVICES_AGG " FROM devices d WHERE d.elder_id = e.id),"
    "   '[]'))::text, e.id"
    " FROM elders e LEFT JOIN care_plans cp ON cp.elder_id = e.id"
    " WHERE e.id = ANY($1::text[])";

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
