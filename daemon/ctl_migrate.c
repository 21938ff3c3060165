/* ctl_migrate.c - `anxinctl migrate`: applies the numbered schema migrations
 * (sql/NNN_name.sql) in order, each in its own transaction together with its
 * row in schema_migrations, under an advisory lock so that two migrates
 * started at once apply every file exactly once.
 *
 *   anxinctl migrate            apply what is pending
 *   anxinctl migrate --status   list applied and pending migrations
 *   anxinctl migrate --check    exit 0 if the schema is what this build expects */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "fileio.h"
#include "err.h"
#include "schema.h"

#define MIGRATION_MAX_BYTES (64 * 1024 * 1024)

struct migration {
    int version;
    char *file;                 /* "001_init.sql" */
    char *name;                 /* "init": what schema_migrations records */
};

struct applied {
    int version;
    char *name;
    char *applied_at;
};

static void free_migrations(struct migration *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].file);
        free(m[i].name);
    }
    free(m);
}

static void free_applied(struct applied *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(a[i].name);
        free(a[i].applied_at);
    }
    free(a);
}

static int cmp_migration(const void *a, const void *b)
{
    const struct migration *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

/* NNN_name.sql with name of [A-Za-z0-9_-]; returns the version or -1. */
static int parse_file_name(const char *f, char **name)
{
    size_t n = strlen(f);
    if (n < 9 || strcmp(f + n - 4, ".sql") != 0)
        return -1;
    for (int i = 0; i < 3; i++)
        if (f[i] < '0' || f[i] > '9')
            return -1;
    if (f[3] != '_')
        return -1;
    for (size_t i = 4; i < n - 4; i++) {
        char c = f[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return -1;
    }
    *name = strndup(f + 4, n - 8);
    return (f[0] - '0') * 100 + (f[1] - '0') * 10 + (f[2] - '0');
}

/* Lists the migrations in dir, sorted and checked for gaps and clashes.
 * Returns 0, or an exit status after printing why. */
static int scan_dir(const char *dir, struct migration **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "anxinctl: cannot read the migrations folder %s: %s\n", dir,
                strerror(errno));
        return 2;
    }
    struct migration *m = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 4 || strcmp(de->d_name + len - 4, ".sql") != 0)
            continue;
        char *name = NULL;
        int v = parse_file_name(de->d_name, &name);
        if (v <= 0) {
            fprintf(stderr, "anxinctl: %s/%s: not a migration file name (expected NNN_name.sql "
                    "with NNN from 001, e.g. 002_add_visits.sql)\n", dir, de->d_name);
            free(name);
            rc = 1;
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            struct migration *g = realloc(m, cap * sizeof *m);
            if (!g) {
                free(name);
                rc = 1;
                break;
            }
            m = g;
        }
        m[n].version = v;
        m[n].name = name;
        m[n].file = strdup(de->d_name);
        n++;
    }
    closedir(d);
    qsort(m, n, sizeof *m, cmp_migration);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (i > 0 && m[i].version == m[i - 1].version) {
            fprintf(stderr, "anxinctl: %s has two migrations numbered %03d: %s and %s\n", dir,
                    m[i].version, m[i - 1].file, m[i].file);
            rc = 1;
        } else if (m[i].version != (int)i + 1) {
            if (i == 0)
                fprintf(stderr, "anxinctl: %s: migration 001 is missing (the first file is "
                        "%s)\n", dir, m[i].file);
            else
                fprintf(stderr, "anxinctl: %s: migration %03zu is missing (between %s and "
                        "%s)\n", dir, i + 1, m[i - 1].file, m[i].file);
            rc = 1;
        }
    }
    if (rc == 0 && n == 0) {
        fprintf(stderr, "anxinctl: no migrations (NNN_name.sql) in %s\n", dir);
        rc = 1;
    }
    if (rc != 0) {
        free_migrations(m, n);
        return rc;
    }
    *out = m;
    *n_out = n;
    return 0;
}

/* The trimmed primary message of a failed result. */
static void print_pg_error(const char *what, PGconn *db, const PGresult *res)
{
    const char *m = res ? PQresultErrorMessage(res) : NULL;
    if (!m || !*m)
        m = PQerrorMessage(db);
    fprintf(stderr, "anxinctl: %s: %s%s", what, m, m[0] && m[strlen(m) - 1] == '\n' ? "" : "\n");
}

static bool exec_ok(PGconn *db, const char *sql, const char *what)
{
    PGresult *res = PQexec(db, sql);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        print_pg_error(what, db, res);
    PQclear(res);
    return ok;
}

/* Reads schema_migrations (which must exist). Returns 0 or prints and returns 1. */
static int read_applied(PGconn *db, struct applied **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    PGresult *res = PQexec(db, "SELECT version, name, "
                               "to_char(applied_at, 'YYYY-MM-DD HH24:MI:SS TZH:TZM') "
                               "FROM schema_migrations ORDER BY version");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        print_pg_error("cannot read schema_migrations", db, res);
        PQclear(res);
        return 1;
    }
    size_t n = (size_t)PQntuples(res);
    struct applied *a = calloc(n ? n : 1, sizeof *a);
    if (!a) {
        PQclear(res);
        fprintf(stderr, "anxinctl: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        a[i].version = atoi(PQgetvalue(res, (int)i, 0));
        a[i].name = strdup(PQgetvalue(res, (int)i, 1));
        a[i].applied_at = strdup(PQgetvalue(res, (int)i, 2));
    }
    PQclear(res);
    *out = a;
    *n_out = n;
    return 0;
}

/* Applied rows must be exactly files 1..k under the same names. Returns the
 * number of applied migrations k, or -1 after printing the problem. */
static long check_history(const char *dir, const struct migration *m, size_t n,
                          const struct applied *a, size_t na)
{
    for (size_t i = 0; i < na; i++) {
        int v = a[i].version;
        if (v > (int)n) {
            fprintf(stderr, "anxinctl: database schema version %d is newer than the migrations "
                    "in %s (up to %03zu): use the anxinctl that came with the newer anxind\n",
                    a[na - 1].version, dir, n);
            return -1;
        }
        if (v != (int)i + 1) {
            fprintf(stderr, "anxinctl: schema_migrations records %03d but not %03zu: the "
                    "database was changed by hand; repair schema_migrations first\n", v, i + 1);
            return -1;
        }
        if (strcmp(m[i].name, a[i].name) != 0) {
            fprintf(stderr, "anxinctl: migration %03d is recorded in the database as \"%s\" but "
                    "%s has %s: applied migrations must not be renamed or renumbered (put new "
                    "changes in a new file numbered %03zu)\n", v, a[i].name, dir, m[i].file,
                    n + 1);
            return -1;
        }
    }
    return (long)na;
}

/* Line and column of the 1-based character position pos in text (the server
 * counts characters, not bytes). */
static void position_to_line(const char *text, long pos, int *line, int *col)
{
    *line = 1;
    *col = 1;
    long chars = 0;
    for (const char *p = text; *p; p++) {
        if (((unsigned char)*p & 0xc0) == 0x80)
            continue;
        if (++chars >= pos)
            return;
        if (*p == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

/* Applies one migration inside the caller's transaction. Returns true or
 * prints file, message and position. */
static bool apply_one(PGconn *db, const char *dir, const struct migration *m)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, m->file);
    size_t len;
    char ferr[300];
    char *sql = fileio_read(path, (size_t)MIGRATION_MAX_BYTES, &len, ferr, sizeof ferr);
    if (!sql) {
        fprintf(stderr, "anxinctl: %s\n", ferr);
        return false;
    }
    PGresult *res = PQexec(db, sql);
    ExecStatusType st = PQresultStatus(res);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
    if (!ok) {
        const char *pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
        const char *msg = PQresultErrorMessage(res);
        if (!msg || !*msg)
            msg = PQerrorMessage(db);
        fprintf(stderr, "anxinctl: migration %s failed and was rolled back; the schema stays "
                "at version %d\n", m->file, m->version - 1);
        if (pos) {
            int line, col;
            position_to_line(sql, atol(pos), &line, &col);
            fprintf(stderr, "%s:%d:%d: %s", path, line, col, msg);
        } else {
            fprintf(stderr, "%s: %s", path, msg);
        }
        if (*msg && msg[strlen(msg) - 1] != '\n')
            fputc('\n', stderr);
    } else if (PQtransactionStatus(db) != PQTRANS_INTRANS) {
        fprintf(stderr, "anxinctl: %s ends the transaction itself (COMMIT or ROLLBACK in the "
                "file): remove it, anxinctl runs each migration in its own transaction\n", path);
        ok = false;
    }
    PQclear(res);
    free(sql);
    return ok;
}

static int record_migration(PGconn *db, const struct migration *m)
{
    char v[16];
    snprintf(v, sizeof v, "%d", m->version);
    const char *params[2] = {v, m->name};
    PGresult *res = PQexecParams(db, "INSERT INTO schema_migrations (version, name) "
                                 "VALUES ($1::int, $2)", 2, NULL, params, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        print_pg_error("cannot record the migration", db, res);
    PQclear(res);
    return ok;
}

static void rollback(PGconn *db)
{
    PQclear(PQexec(db, "ROLLBACK"));
}

static int do_migrate(const struct ctl_opts *o, PGconn *db, const struct migration *m, size_t n)
{
    char lock[128];
    snprintf(lock, sizeof lock, "SELECT pg_advisory_xact_lock(%lld)", ANXIN_SCHEMA_LOCK_KEY);
    int applied_now = 0;
    for (;;) {
        if (!exec_ok(db, "BEGIN", "cannot start a transaction"))
            return 1;
        if (!exec_ok(db, lock, "cannot take the migration lock") ||
            !exec_ok(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                         " version integer PRIMARY KEY,"
                         " name text NOT NULL,"
                         " applied_at timestamptz NOT NULL DEFAULT now())",
                     "cannot create schema_migrations")) {
            rollback(db);
            return 1;
        }
        struct applied *a;
        size_t na;
        if (read_applied(db, &a, &na) != 0) {
            rollback(db);
            return 1;
        }
        long k = check_history(o->sql_dir, m, n, a, na);
        free_applied(a, na);
        if (k < 0) {
            rollback(db);
            return 1;
        }
        if ((size_t)k == n) {
            if (!exec_ok(db, "COMMIT", "cannot commit"))
                return 1;
            if (!o->quiet) {
                if (applied_now)
                    printf("schema is now version %zu\n", n);
                else
                    printf("schema is up to date (version %zu)\n", n);
            }
            return 0;
        }
        /* Another migrate may have applied some while we waited for the lock:
         * k says where the database is now. */
        const struct migration *next = &m[k];
        if (!apply_one(db, o->sql_dir, next) || !record_migration(db, next)) {
            rollback(db);
            return 1;
        }
        if (!exec_ok(db, "COMMIT", "cannot commit the migration"))
            return 1;
        applied_now++;
        if (!o->quiet)
            printf("applied %s\n", next->file);
    }
}

static int do_status(const struct ctl_opts *o, PGconn *db, const struct migration *m, size_t n)
{
    char err[512];
    int v;
    if (schema_version(db, &v, err, sizeof err) < 0) {
        fprintf(stderr, "anxinctl: %s\n", err);
        return 1;
    }
    struct applied *a = NULL;
    size_t na = 0;
    if (v > 0 && read_applied(db, &a, &na) != 0)
        return 1;
    printf("database schema version %d (this anxinctl expects %d)\n", v, ANXIN_SCHEMA_VERSION);
    size_t i = 0;
    for (; i < na; i++) {
        const char *file = (size_t)a[i].version <= n && a[i].version > 0
                           ? m[a[i].version - 1].file : "(no such file)";
        printf("  %03d %-30s applied %s\n", a[i].version, file, a[i].applied_at);
    }
    size_t pending = 0;
    for (size_t k = 0; k < n; k++) {
        if ((int)k + 1 > v) {
            printf("  %03d %-30s pending\n", m[k].version, m[k].file);
            pending++;
        }
    }
    long ok = check_history(o->sql_dir, m, n, a, na);
    free_applied(a, na);
    if (ok < 0)
        return 1;
    printf("%zu applied, %zu pending%s\n", na, pending,
           pending ? ": run `anxinctl migrate`" : "");
    return 0;
}

static int do_check(PGconn *db)
{
    char err[512];
    int rc = schema_check(db, err, sizeof err);
    if (rc == 0) {
        printf("database schema is version %d, as this build expects\n", ANXIN_SCHEMA_VERSION);
        return 0;
    }
    fprintf(stderr, "anxinctl: %s\n", err);
    return 1;
}

int ctl_cmd_migrate(const struct ctl_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"status", no_argument, NULL, 's'},
        {"check", no_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool status = false, check = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 's': status = true; break;
        case 'c': check = true; break;
        case 'h':
            printf("usage: anxinctl migrate [--status | --check]\n"
                   "  apply the migrations NNN_name.sql in --sql-dir in order\n"
                   "  --status  list applied and pending migrations\n"
                   "  --check   exit 0 if the schema is the version this build expects, "
                   "else 1\n");
            return 0;
        default:
            fprintf(stderr, "usage: anxinctl migrate [--status | --check]\n");
            return 2;
        }
    }
    if (optind < argc || (status && check)) {
        fprintf(stderr, "usage: anxinctl migrate [--status | --check]\n");
        return 2;
    }
    struct migration *m = NULL;
    size_t n = 0;
    if (!check) {
        int rc = scan_dir(o->sql_dir, &m, &n);
        if (rc != 0)
            return rc;
    }
    PGconn *db = ctl_connect(o);
    if (!db) {
        free_migrations(m, n);
        return 2;
    }
    PQsetClientEncoding(db, "UTF8");
    int rc = check ? do_check(db) : status ? do_status(o, db, m, n) : do_migrate(o, db, m, n);
    PQfinish(db);
    free_migrations(m, n);
    return rc;
}
