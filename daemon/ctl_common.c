/* ctl_common.c - what every anxinctl command shares: reading the
 * configuration and reaching the database. */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "fileio.h"
#include "secret.h"

const char *ctl_conf_path(const struct ctl_opts *o)
{
    return o->conf_path ? o->conf_path : ANXIN_SYSCONFDIR "/anxind.conf";
}

struct cfg *ctl_load_config(const char *path, struct cfg_diags *diags, FILE *err)
{
    char msg[300];
    size_t len;
    char *text = fileio_read(path, 1024 * 1024, &len, msg, sizeof msg);
    if (!text) {
        fprintf(err, "anxinctl: %s\n", msg);
        return NULL;
    }
    struct cfg *c = NULL;
    cfg_parse(path, text, len, ANXIN_SYSCONFDIR, ANXIN_STATEDIR, &c, diags);
    free(text);
    return c;
}

PGconn *ctl_connect(const struct ctl_opts *o)
{
    char *conninfo = NULL;
    if (o->db) {
        conninfo = strdup(o->db);
    } else {
        /* No --db: take [database] from the daemon's configuration. */
        struct cfg_diags diags = {0};
        struct cfg *c = ctl_load_config(ctl_conf_path(o), &diags, stderr);
        cfg_diags_free(&diags);
        if (!c) {
            fprintf(stderr, "anxinctl: no database: give --db CONNINFO, set ANXIN_DB, or fix %s "
                            "(anxinctl check)\n", ctl_conf_path(o));
            return NULL;
        }
        char *pw = NULL, err[300];
        if (secret_resolve(&c->db_password, &pw, err, sizeof err) != 0) {
            fprintf(stderr, "anxinctl: [database] password: %s\n", err);
            cfg_free(c);
            return NULL;
        }
        conninfo = secret_conninfo(c->db_conninfo, pw);
        free(pw);
        cfg_free(c);
    }
    if (!conninfo) {
        fprintf(stderr, "anxinctl: out of memory\n");
        return NULL;
    }
    PGconn *db = PQconnectdb(conninfo);
    free(conninfo);
    if (PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "anxinctl: cannot connect to the database: %s", PQerrorMessage(db));
        PQfinish(db);
        return NULL;
    }
    /* Quiet NOTICEs (e.g. "relation already exists, skipping"). */
    PQclear(PQexec(db, "SET client_min_messages = warning"));
    return db;
}

void ctl_actor(char *out, size_t len)
{
    const char *u = getenv("SUDO_USER");
    if (!u || !*u) {
        struct passwd *pw = getpwuid(getuid());
        u = pw ? pw->pw_name : "unknown";
    }
    snprintf(out, len, "cli:%s", u);
}

void ctl_audit(PGconn *db, const char *action, const char *target, const char *outcome,
               const char *detail_json)
{
    char who[64];
    ctl_actor(who, sizeof who);
    const char *params[5] = {who, action, target, outcome, detail_json};
    PGresult *r = PQexecParams(db, "SELECT anxin_audit($1, $2, $3, $4, $5::jsonb)", 5, NULL,
                               params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fprintf(stderr, "anxinctl: warning: the audit entry for %s was not written: %s",
                action, PQresultErrorMessage(r));
    PQclear(r);
}
