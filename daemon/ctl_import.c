/* ctl_import.c - `anxinctl import [--dry-run] FILE`: upserts the registry
 * (elders, care plans, contacts, devices) from a JSON or CSV file.
 *
 * lib/regimport validates the whole file first; only a file without a single
 * problem reaches the database. There it is COPYed into temporary tables and
 * merged by set-based statements, in one transaction: 30 000 elders are a
 * dozen round trips, and any database error rolls the whole file back.
 * (COPY rather than one json parameter: parsing 20 MB of JSON on the server
 * took longer than all the writes.) Every write is guarded by IS DISTINCT
 * FROM, so re-importing an unchanged file writes nothing and wakes no
 * anxind (the registry triggers NOTIFY only on real row changes). */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ctl.h"
#include "fileio.h"
#include "err.h"
#include "regimport.h"
#include "schema.h"

#define IMPORT_MAX_BYTES (512L * 1024 * 1024)
#define SHOW_ERRORS 50

/* pg_advisory_xact_lock key serialising imports ("anxinimp" in ASCII). */
#define IMPORT_LOCK_KEY 0x616e78696e696d70LL

/* The validated file goes into these by COPY (see copy_*), then set-based
 * statements merge it into the registry. */
static const char SQL_TEMP_TABLES[] =
    "CREATE TEMP TABLE imp_e (id text, name text, birth_year integer, categories text[], "
    "    consent boolean, address text, township text, village text, grid text, "
    "    has_contacts boolean, has_devices boolean) ON COMMIT DROP;"
    "CREATE TEMP TABLE imp_p (elder_id text, visit_every_days integer, risk risk_level, "
    "    chain text, params jsonb) ON COMMIT DROP;"
    "CREATE TEMP TABLE imp_c (elder_id text, position integer, name text, phone text, "
    "    role contact_role, priority integer, channels text[]) ON COMMIT DROP;"
    "CREATE TEMP TABLE imp_d (elder_id text, id text, kind text, heartbeat_s integer) "
    "    ON COMMIT DROP";

/* Fresh temporary tables have no statistics; without them the planner may
 * pick nested loops over 60 000 rows. */
static const char SQL_ANALYZE[] = "ANALYZE imp_e; ANALYZE imp_p; ANALYZE imp_c; ANALYZE imp_d";

/* created, updated. Unchanged rows are filtered out before the INSERT, so
 * that ON CONFLICT does not even lock them (a lock is a write too); the
 * guard in DO UPDATE is for a row changed by someone else meanwhile. */
static const char SQL_ELDERS[] =
    "WITH up AS ("
    " INSERT INTO elders AS t (id, name, birth_year, categories, consent, address, township, "
    "                          village, grid) "
    " SELECT i.id, i.name, i.birth_year, i.categories, i.consent, i.address, i.township, "
    "        i.village, i.grid "
    " FROM imp_e i LEFT JOIN elders o ON o.id = i.id "
    " WHERE o.id IS NULL OR (o.name, o.birth_year, o.categories, o.consent, o.address, "
    "       o.township, o.village, o.grid) IS DISTINCT FROM (i.name, i.birth_year, "
    "       i.categories, i.consent, i.address, i.township, i.village, i.grid) "
    " ON CONFLICT (id) DO UPDATE SET name = excluded.name, birth_year = excluded.birth_year, "
    "   categories = excluded.categories, consent = excluded.consent, "
    "   address = excluded.address, township = excluded.township, "
    "   village = excluded.village, grid = excluded.grid, updated_at = now() "
    " WHERE (t.name, t.birth_year, t.categories, t.consent, t.address, t.township, t.village, "
    "        t.grid) IS DISTINCT FROM "
    "       (excluded.name, excluded.birth_year, excluded.categories, excluded.consent, "
    "        excluded.address, excluded.township, excluded.village, excluded.grid) "
    " RETURNING (t.xmax = 0) AS created) "
    "SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM up";

/* created, updated */
static const char SQL_CARE_PLANS[] =
    "WITH up AS ("
    " INSERT INTO care_plans AS t (elder_id, visit_every_days, risk, chain, params) "
    " SELECT i.elder_id, i.visit_every_days, i.risk, i.chain, i.params "
    " FROM imp_p i LEFT JOIN care_plans o ON o.elder_id = i.elder_id "
    " WHERE o.elder_id IS NULL OR (o.visit_every_days, o.risk, o.chain, o.params) "
    "       IS DISTINCT FROM (i.visit_every_days, i.risk, i.chain, i.params) "
    " ON CONFLICT (elder_id) DO UPDATE SET visit_every_days = excluded.visit_every_days, "
    "   risk = excluded.risk, chain = excluded.chain, params = excluded.params, "
    "   updated_at = now() "
    " WHERE (t.visit_every_days, t.risk, t.chain, t.params) IS DISTINCT FROM "
    "       (excluded.visit_every_days, excluded.risk, excluded.chain, excluded.params) "
    " RETURNING (t.xmax = 0) AS created) "
    "SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM up";

/* removed: contacts beyond the new list's length. A contact is its place in
 * the list, so a changed list updates rows in place and keeps their ids. */
static const char SQL_CONTACTS_DELETE[] =
    "WITH del AS ("
    " DELETE FROM contacts c USING imp_e e "
    " WHERE c.elder_id = e.id AND e.has_contacts "
    "   AND NOT EXISTS (SELECT 1 FROM imp_c n "
    "                   WHERE n.elder_id = c.elder_id AND n.position = c.position) "
    " RETURNING 1) "
    "SELECT count(*) FROM del";

/* added, updated */
static const char SQL_CONTACTS[] =
    "WITH up AS ("
    " INSERT INTO contacts AS t (elder_id, position, name, phone, role, priority, channels) "
    " SELECT i.elder_id, i.position, i.name, i.phone, i.role, i.priority, i.channels "
    " FROM imp_c i LEFT JOIN contacts o ON o.elder_id = i.elder_id AND o.position = i.position "
    " WHERE o.id IS NULL OR (o.name, o.phone, o.role, o.priority, o.channels) "
    "       IS DISTINCT FROM (i.name, i.phone, i.role, i.priority, i.channels) "
    " ON CONFLICT (elder_id, position) DO UPDATE SET name = excluded.name, "
    "   phone = excluded.phone, role = excluded.role, priority = excluded.priority, "
    "   channels = excluded.channels, updated_at = now() "
    " WHERE (t.name, t.phone, t.role, t.priority, t.channels) IS DISTINCT FROM "
    "       (excluded.name, excluded.phone, excluded.role, excluded.priority, "
    "        excluded.channels) "
    " RETURNING (t.xmax = 0) AS created) "
    "SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM up";

/* added, updated, moved (now listed under another elder). The CTE "old"
 * sees the table as it was before the INSERT of the same statement. */
static const char SQL_DEVICES[] =
    "WITH old AS ("
    " SELECT d.id, x.elder_id AS old_elder FROM imp_d d JOIN devices x ON x.id = d.id), "
    "up AS ("
    " INSERT INTO devices AS t (id, elder_id, kind, heartbeat_s) "
    " SELECT i.id, i.elder_id, i.kind, i.heartbeat_s "
    " FROM imp_d i LEFT JOIN devices o ON o.id = i.id "
    " WHERE o.id IS NULL OR (o.elder_id, o.kind, o.heartbeat_s) "
    "       IS DISTINCT FROM (i.elder_id, i.kind, i.heartbeat_s) "
    " ON CONFLICT (id) DO UPDATE SET elder_id = excluded.elder_id, kind = excluded.kind, "
    "   heartbeat_s = excluded.heartbeat_s, updated_at = now() "
    " WHERE (t.elder_id, t.kind, t.heartbeat_s) IS DISTINCT FROM "
    "       (excluded.elder_id, excluded.kind, excluded.heartbeat_s) "
    " RETURNING t.id, t.elder_id, (t.xmax = 0) AS created) "
    "SELECT count(*) FILTER (WHERE up.created), "
    "       count(*) FILTER (WHERE NOT up.created AND old.old_elder = up.elder_id), "
    "       count(*) FILTER (WHERE NOT up.created AND old.old_elder <> up.elder_id) "
    "FROM up LEFT JOIN old ON old.id = up.id";

/* removed: devices of an elder whose list was given that are listed nowhere
 * in the file (one listed under another elder has just moved there). */
static const char SQL_DEVICES_DELETE[] =
    "WITH del AS ("
    " DELETE FROM devices x USING imp_e e "
    " WHERE x.elder_id = e.id AND e.has_devices "
    "   AND NOT EXISTS (SELECT 1 FROM imp_d d WHERE d.id = x.id) "
    " RETURNING 1) "
    "SELECT count(*) FROM del";

struct counts {
    long e_created, e_updated;
    long p_created, p_updated;
    long c_added, c_updated, c_removed;
    long d_added, d_updated, d_moved, d_removed;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: anxinctl import [--dry-run] FILE\n"
               "  upsert elders, care plans, contacts and devices from FILE\n"
               "  (.csv: a spreadsheet saved as CSV UTF-8; anything else: JSON);\n"
               "  see docs/registry-import.md\n"
               "  --dry-run  check the file and report what would change, write nothing\n");
}

/* Prints a database error without the "Failing row contains (...)" detail,
 * which would repeat names and phone numbers on the terminal. */
static void print_db_error(const char *file, const char *what, PGconn *db, const PGresult *res)
{
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!primary) {
        const char *m = PQerrorMessage(db);
        fprintf(stderr, "anxinctl: %s: %s: %s%s", file, what, m,
                m[0] && m[strlen(m) - 1] == '\n' ? "" : "\n");
    } else {
        fprintf(stderr, "anxinctl: %s: %s: %s\n", file, what, primary);
        const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
        if (detail && strncmp(detail, "Failing row contains", 20) != 0)
            fprintf(stderr, "  detail: %s\n", detail);
        const char *c = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
        if (c)
            fprintf(stderr, "  constraint: %s\n", c);
        const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
        if (hint)
            fprintf(stderr, "  hint: %s\n", hint);
    }
}

static bool exec_cmd(PGconn *db, const char *file, const char *sql, const char *what)
{
    PGresult *res = PQexec(db, sql);
    ExecStatusType st = PQresultStatus(res);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        print_db_error(file, what, db, res);
    PQclear(res);
    return ok;
}

/* Runs a statement that returns one row of n counts. */
static bool exec_counts(PGconn *db, const char *file, const char *sql, const char *what,
                        long *out[], int n)
{
    PGresult *res = PQexec(db, sql);
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
              PQnfields(res) == n;
    if (!ok) {
        print_db_error(file, what, db, res);
    } else {
        for (int i = 0; i < n; i++)
            *out[i] = atol(PQgetvalue(res, 0, i));
    }
    PQclear(res);
    return ok;
}

/* COPY text format: a buffer of rows sent in 256 KiB pieces. */
struct copybuf {
    PGconn *db;
    char *buf;
    size_t len, cap;
    bool failed;
};

#define COPY_CHUNK (256 * 1024)

static void cb_flush(struct copybuf *b)
{
    if (b->len && !b->failed && PQputCopyData(b->db, b->buf, (int)b->len) != 1)
        b->failed = true;
    b->len = 0;
}

static void cb_put(struct copybuf *b, const char *s, size_t n)
{
    if (b->len + n > b->cap) {
        cb_flush(b);
        if (n > b->cap) {
            char *nb = realloc(b->buf, n);
            if (!nb) {
                b->failed = true;
                return;
            }
            b->buf = nb;
            b->cap = n;
        }
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
}

/* A text field: NULL as \N; backslash, tab, newline and CR escaped (the
 * validator lets line breaks and tabs through only in addresses). */
static void cb_text(struct copybuf *b, const char *s, char sep)
{
    if (!s) {
        cb_put(b, "\\N", 2);
    } else {
        const char *run = s;
        for (; *s; s++) {
            const char *esc = *s == '\\' ? "\\\\" : *s == '\t' ? "\\t"
                              : *s == '\n' ? "\\n" : *s == '\r' ? "\\r" : NULL;
            if (esc) {
                cb_put(b, run, (size_t)(s - run));
                cb_put(b, esc, 2);
                run = s + 1;
            }
        }
        cb_put(b, run, (size_t)(s - run));
    }
    cb_put(b, &sep, 1);
}

static void cb_int(struct copybuf *b, int v, bool null, char sep)
{
    char tmp[24];
    int n = null ? snprintf(tmp, sizeof tmp, "\\N%c", sep)
                 : snprintf(tmp, sizeof tmp, "%d%c", v, sep);
    cb_put(b, tmp, (size_t)n);
}

/* An array literal of names from a bit set: {sms,voice}. The names are
 * plain identifiers, so nothing needs quoting. */
static void cb_names(struct copybuf *b, unsigned bits, const char *(*name)(int), int n, char sep)
{
    cb_put(b, "{", 1);
    bool first = true;
    for (int k = 0; k < n; k++) {
        if (!(bits & (1u << k)))
            continue;
        if (!first)
            cb_put(b, ",", 1);
        const char *s = name(k);
        cb_put(b, s, strlen(s));
        first = false;
    }
    cb_put(b, "}", 1);
    cb_put(b, &sep, 1);
}

static const char *channel_name(int k)
{
    return k == 0 ? "sms" : "voice";
}

/* The shortest decimal that reads back as the same double. */
static void cb_number(struct copybuf *b, double v)
{
    char tmp[40];
    int n = snprintf(tmp, sizeof tmp, "%.15g", v);
    if (strtod(tmp, NULL) != v)
        n = snprintf(tmp, sizeof tmp, "%.17g", v);
    cb_put(b, tmp, (size_t)n);
}

enum copy_table { COPY_ELDERS, COPY_PLANS, COPY_CONTACTS, COPY_DEVICES };

static void copy_rows(struct copybuf *b, const struct regimp_doc *doc, enum copy_table t)
{
    for (size_t i = 0; i < doc->n_elders && !b->failed; i++) {
        const struct regimp_elder *e = &doc->elders[i];
        switch (t) {
        case COPY_ELDERS:
            cb_text(b, e->id, '\t');
            cb_text(b, e->name, '\t');
            cb_int(b, e->birth_year, e->birth_year == 0, '\t');
            cb_names(b, e->categories, regimp_category_name, REGIMP_N_CATEGORIES, '\t');
            cb_text(b, e->consent ? "t" : "f", '\t');
            cb_text(b, e->address, '\t');
            cb_text(b, e->township, '\t');
            cb_text(b, e->village, '\t');
            cb_text(b, e->grid, '\t');
            cb_text(b, e->has_contacts ? "t" : "f", '\t');
            cb_text(b, e->has_devices ? "t" : "f", '\n');
            break;
        case COPY_PLANS: {
            if (!e->has_care_plan)
                break;
            const struct regimp_care_plan *cp = &e->care_plan;
            cb_text(b, e->id, '\t');
            cb_int(b, cp->visit_every_days, cp->visit_every_days == 0, '\t');
            cb_text(b, cp->risk, '\t');
            cb_text(b, cp->chain, '\t');
            /* Parameter names are [a-z0-9_.]: no JSON escaping needed. */
            cb_put(b, "{", 1);
            for (size_t k = 0; k < cp->n_params; k++) {
                cb_put(b, k ? ", \"" : "\"", k ? 3 : 1);
                cb_put(b, cp->params[k].name, strlen(cp->params[k].name));
                cb_put(b, "\": ", 3);
                cb_number(b, cp->params[k].value);
            }
            cb_put(b, "}\n", 2);
            break;
        }
        case COPY_CONTACTS:
            for (size_t k = 0; k < e->n_contacts; k++) {
                const struct regimp_contact *c = &e->contacts[k];
                cb_text(b, e->id, '\t');
                cb_int(b, (int)k + 1, false, '\t');
                cb_text(b, c->name, '\t');
                cb_text(b, c->phone, '\t');
                cb_text(b, c->role, '\t');
                cb_int(b, c->priority, false, '\t');
                cb_names(b, c->channels, channel_name, 2, '\n');
            }
            break;
        case COPY_DEVICES:
            for (size_t k = 0; k < e->n_devices; k++) {
                const struct regimp_device *d = &e->devices[k];
                cb_text(b, e->id, '\t');
                cb_text(b, d->id, '\t');
                cb_text(b, d->kind, '\t');
                cb_int(b, d->heartbeat_s, false, '\n');
            }
            break;
        }
    }
}

static bool copy_table(PGconn *db, const char *file, const struct regimp_doc *doc,
                       enum copy_table t, struct copybuf *b)
{
    static const char *const sql[] = {
        "COPY imp_e FROM STDIN", "COPY imp_p FROM STDIN", "COPY imp_c FROM STDIN",
        "COPY imp_d FROM STDIN",
    };
    PGresult *res = PQexec(db, sql[t]);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        print_db_error(file, "cannot load the file into the database", db, res);
        PQclear(res);
        return false;
    }
    PQclear(res);
    b->db = db;
    b->len = 0;
    b->failed = false;
    copy_rows(b, doc, t);
    cb_flush(b);
    PQputCopyEnd(db, b->failed ? "anxinctl could not send the rows" : NULL);
    bool ok = true;
    while ((res = PQgetResult(db))) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            if (ok)
                print_db_error(file, "cannot load the file into the database", db, res);
            ok = false;
        }
        PQclear(res);
    }
    return ok && !b->failed;
}

static bool run_import(PGconn *db, const char *file, const struct regimp_doc *doc,
                       struct counts *c)
{
    char lock[96];
    snprintf(lock, sizeof lock, "SELECT pg_advisory_xact_lock(%lld)", IMPORT_LOCK_KEY);
    if (!exec_cmd(db, file, lock, "cannot take the import lock") ||
        !exec_cmd(db, file, SQL_TEMP_TABLES, "cannot create the import tables"))
        return false;
    struct copybuf b = {.cap = COPY_CHUNK};
    b.buf = malloc(b.cap);
    bool ok = b.buf != NULL;
    for (int t = COPY_ELDERS; ok && t <= COPY_DEVICES; t++)
        ok = copy_table(db, file, doc, (enum copy_table)t, &b);
    free(b.buf);
    if (!ok || !exec_cmd(db, file, SQL_ANALYZE, "cannot analyze the import tables"))
        return false;
    return exec_counts(db, file, SQL_ELDERS, "cannot write elders",
                       (long *[]){&c->e_created, &c->e_updated}, 2) &&
           exec_counts(db, file, SQL_CARE_PLANS, "cannot write care plans",
                       (long *[]){&c->p_created, &c->p_updated}, 2) &&
           exec_counts(db, file, SQL_CONTACTS_DELETE, "cannot remove contacts",
                       (long *[]){&c->c_removed}, 1) &&
           exec_counts(db, file, SQL_CONTACTS, "cannot write contacts",
                       (long *[]){&c->c_added, &c->c_updated}, 2) &&
           exec_counts(db, file, SQL_DEVICES, "cannot write devices",
                       (long *[]){&c->d_added, &c->d_updated, &c->d_moved}, 3) &&
           exec_counts(db, file, SQL_DEVICES_DELETE, "cannot remove devices",
                       (long *[]){&c->d_removed}, 1);
}

static void print_errors(const char *file, const struct regimp_errors *errs)
{
    size_t shown = errs->n_kept < SHOW_ERRORS ? errs->n_kept : SHOW_ERRORS;
    for (size_t i = 0; i < shown; i++)
        fprintf(stderr, "%s: %s\n", file, errs->msgs[i]);
    if (errs->count > shown)
        fprintf(stderr, "%s: ... and %zu more\n", file, errs->count - shown);
    fprintf(stderr, "anxinctl: %s: %zu problem%s found; nothing was imported\n", file,
            errs->count, errs->count == 1 ? "" : "s");
}

static void print_report(const char *file, const struct regimp_doc *doc, const struct counts *c,
                         bool dry_run, double secs)
{
    long plans = 0, contacts = 0, devices = 0;
    for (size_t i = 0; i < doc->n_elders; i++) {
        const struct regimp_elder *e = &doc->elders[i];
        plans += e->has_care_plan;
        contacts += (long)e->n_contacts;
        devices += (long)e->n_devices;
    }
    long n = (long)doc->n_elders;
    printf("%s%s: %ld elder%s: %ld created, %ld updated, %ld unchanged",
           dry_run ? "dry run: " : "", file, n, n == 1 ? "" : "s", c->e_created, c->e_updated,
           n - c->e_created - c->e_updated);
    if (doc->n_without_consent)
        printf(" (%zu without consent: recorded, not monitored)", doc->n_without_consent);
    printf("\n  care plans: %ld created, %ld updated, %ld unchanged\n", c->p_created, c->p_updated,
           plans - c->p_created - c->p_updated);
    printf("  contacts: %ld added, %ld updated, %ld removed, %ld unchanged\n", c->c_added,
           c->c_updated, c->c_removed, contacts - c->c_added - c->c_updated);
    printf("  devices: %ld added, %ld updated, %ld moved, %ld removed, %ld unchanged\n",
           c->d_added, c->d_updated, c->d_moved, c->d_removed,
           devices - c->d_added - c->d_updated - c->d_moved);
    if (dry_run)
        printf("dry run: nothing was written (%.2f s)\n", secs);
    else
        printf("committed in %.2f s\n", secs);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int ctl_cmd_import(const struct ctl_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"dry-run", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool dry_run = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "nh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'n': dry_run = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 1) {
        usage(stderr);
        return 2;
    }
    const char *file = argv[optind];

    size_t len;
    char ferr[300];
    char *text = fileio_read(file, (size_t)IMPORT_MAX_BYTES, &len, ferr, sizeof ferr);
    if (!text) {
        fprintf(stderr, "anxinctl: %s\n", ferr);
        return 2;
    }
    struct regimp_doc *doc = NULL;
    struct regimp_errors errs = {0};
    int rc = regimp_parse(file, text, len, &doc, &errs);
    free(text);
    if (rc == ANX_EINVAL) {
        print_errors(file, &errs);
        regimp_errors_free(&errs);
        return 1;
    }
    regimp_errors_free(&errs);
    if (rc < 0) {
        fprintf(stderr, "anxinctl: %s: %s\n", file, anx_strerror(rc));
        return 1;
    }
    int status = 1;
    PGconn *db = ctl_connect(o);
    if (!db) {
        status = 2;
        goto out;
    }
    PQsetClientEncoding(db, "UTF8");
    char err[512];
    if (schema_check(db, err, sizeof err) < 0) {
        fprintf(stderr, "anxinctl: %s\n", err);
        goto out;
    }
    double t0 = now_s();
    struct counts c = {0};
    if (!exec_cmd(db, file, "BEGIN", "cannot start a transaction"))
        goto out;
    if (!run_import(db, file, doc, &c)) {
        PQclear(PQexec(db, "ROLLBACK"));
        fprintf(stderr, "anxinctl: %s: rolled back; nothing was imported\n", file);
        goto out;
    }
    if (dry_run) {
        if (!exec_cmd(db, file, "ROLLBACK", "cannot roll back"))
            goto out;
    } else if (!exec_cmd(db, file, "COMMIT", "cannot commit; nothing was imported")) {
        goto out;
    }
    if (!o->quiet || dry_run)
        print_report(file, doc, &c, dry_run, now_s() - t0);
    status = 0;
out:
    PQfinish(db);
    regimp_doc_free(doc);
    return status;
}
