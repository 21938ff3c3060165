/* regdb.c - the registry as anxind and anxinctl read it from PostgreSQL:
 * everyone at start from three plain scans merged here, or one JSON object
 * per elder (the reloads), in the shape reg_elder_from_json takes. */
#include "regdb.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
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
/* A device's last message time in ms; an impossible one (infinity, set by
 * hand) reads as never seen instead of failing the whole load on its cast. */
#define LAST_SEEN_MS \
    "CASE WHEN isfinite(d.last_seen) THEN (extract(epoch FROM d.last_seen) * 1000)::bigint END"
#define DEVICES_AGG \
    "json_agg(json_build_object('id', d.id, 'kind', d.kind, 'heartbeat_s', d.heartbeat_s," \
    " 'last_seen_ms', " LAST_SEEN_MS ") ORDER BY d.id)"

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

/* Everyone from plain scans ---------------------------------------------- */

/* Three scans ordered by elder id byte by byte (COLLATE "C", as strcmp
 * compares), merged here: together about 3 s of server time at a million
 * devices where the JSON objects above take 6.5. The orders within an
 * elder are the JSON objects' (contacts by priority then position, devices
 * by id). Read in one REPEATABLE READ transaction, so an import committing
 * meanwhile is seen by all three or by none. */
const char regdb_scan_elders[] =
    "SELECT e.id, e.name, e.township, e.village, e.grid, e.categories, e.consent,"
    " cp.risk, cp.chain, cp.params"
    " FROM elders e LEFT JOIN care_plans cp ON cp.elder_id = e.id"
    " ORDER BY e.id COLLATE \"C\"";
const char regdb_scan_contacts[] =
    "SELECT c.elder_id, c.id, c.name, c.phone, c.role, c.priority, c.channels"
    " FROM contacts c ORDER BY c.elder_id COLLATE \"C\", c.priority, c.position";
const char regdb_scan_devices[] =
    "SELECT d.elder_id, d.id, d.kind, d.heartbeat_s,"
    " " LAST_SEEN_MS
    " FROM devices d ORDER BY d.elder_id COLLATE \"C\", d.id";

/* The names in a text array literal ({a,b,"c d"}) through parse, each bit
 * it returns or-ed in. Longer elements than any name are cut (and then
 * match none); unknown ones are ignored, as reg_elder_from_json ignores
 * them. */
static int array_bits(const char *lit, int (*parse)(const char *))
{
    int bits = 0;
    char item[64];
    const char *p = lit;
    if (*p++ != '{')
        return 0;
    while (*p && *p != '}') {
        size_t n = 0;
        bool quoted = *p == '"';
        p += quoted;
        while (*p && (quoted ? *p != '"' : *p != ',' && *p != '}')) {
            if (quoted && *p == '\\' && p[1])
                p++;
            if (n < sizeof item - 1)
                item[n++] = *p;
            p++;
        }
        p += quoted && *p == '"';
        item[n] = '\0';
        int bit = parse(item);
        if (bit > 0)
            bits |= bit;
        p += *p == ',';
    }
    return bits;
}

static const char *field(const PGresult *r, int col)
{
    return PQgetisnull(r, 0, col) ? NULL : PQgetvalue(r, 0, col);
}

/* An elder read so far. One that was left out keeps only its id, so that
 * its contacts and devices still find it (and are dropped with it). */
struct scan_slot {
    struct reg_elder *e;
    char *left_out;
};

/* The merge: every elder in id order, the current run of contact or device
 * rows (one elder's, each a single-row result), and where it stands. */
struct scan {
    struct scan_slot *slots;
    size_t n, cap;
    size_t at;                  /* where the walk through the slots stands */
    bool matched;               /* the current run's elder is slots[at] */
    PGresult **run;
    size_t n_run, cap_run;
    void *rows;                 /* the run as builder rows */
    size_t cap_rows;
    size_t unmatched;           /* contact/device rows without an elder */
    regdb_skip_fn skip;
    void *arg;
    char why[160];
};

static const char *slot_id(const struct scan_slot *s)
{
    return s->e ? s->e->id : s->left_out;
}

/* Leaves the slot's elder out (s->why says why), keeping its id. */
static void leave_out(struct scan *s, struct scan_slot *slot)
{
    if (s->skip)
        s->skip(s->arg, s->why);
    if (slot->e) {
        slot->left_out = slot->e->id;
        slot->e->id = NULL;
        reg_elder_free(slot->e);
        slot->e = NULL;
    }
}

/* arr (capacity *cap items of `size` bytes) with room for `need` items,
 * doubled as needed from at least `first`; NULL when out of memory (arr is
 * then unchanged). */
static void *grow(void *arr, size_t *cap, size_t need, size_t size, size_t first)
{
    if (need <= *cap)
        return arr;
    size_t n = *cap ? *cap : first;
    while (n < need)
        n *= 2;
    void *na = realloc(arr, n * size);
    if (na)
        *cap = n;
    return na;
}

static int add_elder(struct scan *s, const PGresult *r)
{
    struct scan_slot *slots = grow(s->slots, &s->cap, s->n + 1, sizeof *slots, 4096);
    if (!slots)
        return ANX_ENOMEM;
    s->slots = slots;
    const char *cats = field(r, 5), *consent = field(r, 6);
    struct reg_elder_row row = {
        .id = field(r, 0), .name = field(r, 1),
        .township = field(r, 2), .village = field(r, 3), .grid = field(r, 4),
        .categories = (uint16_t)(cats ? array_bits(cats, reg_category_parse) : 0),
        .consent = consent && consent[0] == 't',
    };
    struct scan_slot *slot = &s->slots[s->n];
    *slot = (struct scan_slot){0};
    int rc = reg_elder_new(&row, &slot->e, s->why, sizeof s->why);
    /* care_plans.risk is NOT NULL: null here is no plan. */
    if (rc == 0 && !PQgetisnull(r, 0, 7)) {
        struct reg_plan_row plan = {.risk = field(r, 7), .chain = field(r, 8),
                                    .params = field(r, 9)};
        rc = reg_elder_set_plan(slot->e, &plan, s->why, sizeof s->why);
    }
    if (rc == 0) {
        s->n++;
        return 0;
    }
    if (!row.id) {
        /* Without an id it cannot be merged (the schema makes this impossible). */
        if (s->skip)
            s->skip(s->arg, s->why);
        return 0;
    }
    if (!slot->e && !(slot->left_out = strdup(row.id)))
        return ANX_ENOMEM;
    s->n++;
    leave_out(s, slot);
    return 0;
}

static int contacts_of(struct scan *s, struct reg_elder *e)
{
    struct reg_contact_row *rows = s->rows;
    for (size_t i = 0; i < s->n_run; i++) {
        const PGresult *r = s->run[i];
        const char *chans = field(r, 6);
        rows[i] = (struct reg_contact_row){
            .id = strtoll(PQgetvalue(r, 0, 1), NULL, 10),
            .name = field(r, 2), .phone = field(r, 3), .role = field(r, 4),
            .priority = PQgetisnull(r, 0, 5) ? 0 : strtod(PQgetvalue(r, 0, 5), NULL),
            .channels = chans ? array_bits(chans, reg_channel_parse) : -1,
        };
    }
    return reg_elder_set_contacts(e, rows, s->n_run, s->why, sizeof s->why);
}

static int devices_of(struct scan *s, struct reg_elder *e)
{
    struct reg_device_row *rows = s->rows;
    for (size_t i = 0; i < s->n_run; i++) {
        const PGresult *r = s->run[i];
        rows[i] = (struct reg_device_row){
            .id = field(r, 1), .kind = field(r, 2),
            .heartbeat_s = PQgetisnull(r, 0, 3) ? 0 : strtod(PQgetvalue(r, 0, 3), NULL),
            .last_seen_ms = PQgetisnull(r, 0, 4) ? 0 : strtod(PQgetvalue(r, 0, 4), NULL),
        };
    }
    return reg_elder_set_devices(e, rows, s->n_run, s->why, sizeof s->why);
}

typedef int (*scan_attach_fn)(struct scan *s, struct reg_elder *e);

/* Hands the current run to its elder, if it has one still in; an elder
 * the builder refuses is left out. */
static void end_run(struct scan *s, scan_attach_fn attach, size_t row_size)
{
    if (s->n_run == 0)
        return;
    struct scan_slot *slot = s->matched ? &s->slots[s->at] : NULL;
    if (!slot) {
        s->unmatched += s->n_run;
    } else if (slot->e && (attach == contacts_of ? slot->e->n_contacts : slot->e->n_devices)) {
        /* Its rows came in two runs: only out of order, which COLLATE "C"
         * rules out; the elder keeps the first. */
        s->unmatched += s->n_run;
    } else if (slot->e) {
        void *rows = grow(s->rows, &s->cap_rows, s->n_run, row_size, 16);
        if (rows)
            s->rows = rows;
        int rc = rows ? attach(s, slot->e) : ANX_ENOMEM;
        if (rc == ANX_ENOMEM)
            snprintf(s->why, sizeof s->why, "out of memory");
        if (rc)
            leave_out(s, slot);
    }
    for (size_t i = 0; i < s->n_run; i++)
        PQclear(s->run[i]);
    s->n_run = 0;
}

/* One contact or device row: the run goes on, or the next one starts at
 * its elder (found by walking forward, both sides being in id order).
 * Takes r. */
static int add_to_run(struct scan *s, PGresult *r, scan_attach_fn attach, size_t row_size)
{
    const char *elder = PQgetvalue(r, 0, 0);
    if (s->n_run == 0 || strcmp(PQgetvalue(s->run[0], 0, 0), elder) != 0) {
        end_run(s, attach, row_size);
        while (s->at < s->n && strcmp(slot_id(&s->slots[s->at]), elder) < 0)
            s->at++;
        s->matched = s->at < s->n && strcmp(slot_id(&s->slots[s->at]), elder) == 0;
    }
    PGresult **run = grow(s->run, &s->cap_run, s->n_run + 1, sizeof *run, 16);
    if (!run) {
        PQclear(r);
        return ANX_ENOMEM;
    }
    s->run = run;
    s->run[s->n_run++] = r;
    return 0;
}

static int on_elder(struct scan *s, PGresult *r)
{
    int rc = add_elder(s, r);
    PQclear(r);
    return rc;
}

static int on_contact(struct scan *s, PGresult *r)
{
    return add_to_run(s, r, contacts_of, sizeof(struct reg_contact_row));
}

static int on_device(struct scan *s, PGresult *r)
{
    return add_to_run(s, r, devices_of, sizeof(struct reg_device_row));
}

static void db_error(PGconn *db, const PGresult *r, char *err, size_t errlen)
{
    const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!m)
        m = PQerrorMessage(db);
    snprintf(err, errlen, "%.*s", (int)strcspn(m, "\n"), m);
}

/* Runs sql, handing each row to fn as it arrives (fn takes the result),
 * so the whole answer is never held at once. */
static int scan_query(PGconn *db, const char *sql, int (*fn)(struct scan *, PGresult *),
                      struct scan *s, char *err, size_t errlen)
{
    if (!PQsendQuery(db, sql)) {
        db_error(db, NULL, err, errlen);
        return ANX_EIO;
    }
    bool single = PQsetSingleRowMode(db);
    int rc = 0;
    PGresult *r;
    while ((r = PQgetResult(db)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE && rc == 0) {
            rc = fn(s, r);
            continue;
        }
        if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && rc == 0) {
            db_error(db, r, err, errlen);
            rc = ANX_EIO;
        }
        PQclear(r);
    }
    if (rc == 0 && !single) {
        snprintf(err, errlen, "single-row mode refused");
        rc = ANX_EIO;
    }
    if (rc == ANX_ENOMEM)
        snprintf(err, errlen, "out of memory");
    return rc;
}

static int exec_command(PGconn *db, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(db, sql);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : ANX_EIO;
    if (rc)
        db_error(db, r, err, errlen);
    PQclear(r);
    return rc;
}

static int slot_cmp(const void *a, const void *b)
{
    return strcmp(slot_id(a), slot_id(b));
}

/* The merge needs the elders in strcmp order; COLLATE "C" gives it, and
 * this makes sure of it (one pass when so). */
static void sort_slots(struct scan *s)
{
    for (size_t i = 1; i < s->n; i++)
        if (strcmp(slot_id(&s->slots[i - 1]), slot_id(&s->slots[i])) > 0) {
            qsort(s->slots, s->n, sizeof *s->slots, slot_cmp);
            return;
        }
}

/* Moves every elder still in to out (in id order) and frees the rest. */
static int take_all(struct scan *s, struct regdb_elders *out, char *err, size_t errlen)
{
    out->v = calloc(s->n + 1, sizeof *out->v);
    if (!out->v) {
        snprintf(err, errlen, "out of memory");
        return ANX_ENOMEM;
    }
    out->n = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->slots[i].e)
            out->v[out->n++] = s->slots[i].e;
        free(s->slots[i].left_out);
    }
    s->n = 0;
    return 0;
}

static void scan_free(struct scan *s)
{
    for (size_t i = 0; i < s->n; i++) {
        reg_elder_free(s->slots[i].e);
        free(s->slots[i].left_out);
    }
    for (size_t i = 0; i < s->n_run; i++)
        PQclear(s->run[i]);
    free(s->slots);
    free(s->run);
    free(s->rows);
}

int regdb_scan_read(PGconn *db, struct regdb_elders *out, regdb_skip_fn skip, void *arg,
                    size_t *unmatched, char *err, size_t errlen)
{
    struct scan s = {.skip = skip, .arg = arg};
    out->v = NULL;
    out->n = 0;
    int rc = exec_command(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err, errlen);
    if (rc)
        return rc;
    rc = scan_query(db, regdb_scan_elders, on_elder, &s, err, errlen);
    if (rc == 0)
        sort_slots(&s);
    if (rc == 0)
        rc = scan_query(db, regdb_scan_contacts, on_contact, &s, err, errlen);
    if (rc == 0) {
        end_run(&s, contacts_of, sizeof(struct reg_contact_row));
        s.at = 0;
        s.matched = false;
        rc = scan_query(db, regdb_scan_devices, on_device, &s, err, errlen);
    }
    if (rc == 0)
        end_run(&s, devices_of, sizeof(struct reg_device_row));
    /* Read only: ending it either way changes nothing; COMMIT when all
     * went well, so a failure to end it is reported. */
    char end_err[160];
    if (rc == 0)
        rc = exec_command(db, "COMMIT", err, errlen);
    else
        exec_command(db, "ROLLBACK", end_err, sizeof end_err);
    if (rc == 0)
        rc = take_all(&s, out, err, errlen);
    if (unmatched)
        *unmatched = s.unmatched;
    scan_free(&s);
    return rc;
}

void regdb_elders_free(struct regdb_elders *l)
{
    for (size_t i = 0; l->v && i < l->n; i++)
        reg_elder_free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

int regdb_scan_load(PGconn *db, struct registry *reg, regdb_skip_fn skip, void *arg,
                    size_t *unmatched, char *err, size_t errlen)
{
    struct regdb_elders l;
    int rc = regdb_scan_read(db, &l, skip, arg, unmatched, err, errlen);
    if (rc)
        return rc;
    size_t devices = 0;
    for (size_t i = 0; i < l.n; i++)
        devices += l.v[i]->n_devices;
    /* Both maps sized once, not grown step by step (best effort: reg_put
     * makes room itself). */
    (void)(strmap_reserve(&reg->elders, l.n) || strmap_reserve(&reg->devices, devices));
    for (size_t i = 0; i < l.n && rc == 0; i++) {
        /* reg_put owns the elder either way (it frees it when it fails). */
        if (reg_put(reg, l.v[i]) != 0) {
            snprintf(err, errlen, "out of memory");
            rc = ANX_ENOMEM;
        }
        l.v[i] = NULL;
    }
    regdb_elders_free(&l);
    return rc;
}

int regdb_load(PGconn *db, struct registry *reg, char *err, size_t errlen)
{
    char why[160];
    int rc = regdb_scan_load(db, reg, NULL, NULL, NULL, why, sizeof why);
    if (rc == ANX_EIO)
        snprintf(err, errlen, "loading the registry failed: %s", why);
    else if (rc)
        snprintf(err, errlen, "out of memory loading the registry");
    return rc;
}
