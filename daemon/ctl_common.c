/* ctl_common.c - what every anxinctl command shares: reading the
 * configuration, reaching the database, printing tables and CSV, and the
 * audit trail. */
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

struct cfg *ctl_config_quiet(const struct ctl_opts *o)
{
    struct cfg_diags diags = {0};
    FILE *quiet = fopen("/dev/null", "w");
    struct cfg *c = ctl_load_config(ctl_conf_path(o), &diags, quiet ? quiet : stderr);
    if (quiet)
        fclose(quiet);
    cfg_diags_free(&diags);
    return c;
}

int ctl_text_width(const char *s)
{
    int cols = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        unsigned cp;
        int n;
        if (*p < 0x80) { cp = *p; n = 1; }
        else if ((*p & 0xE0) == 0xC0) { cp = *p & 0x1F; n = 2; }
        else if ((*p & 0xF0) == 0xE0) { cp = *p & 0x0F; n = 3; }
        else { cp = *p & 0x07; n = 4; }
        int i = 1;
        for (; i < n && p[i]; i++)
            cp = (cp << 6) | (p[i] & 0x3F);
        cols += (cp >= 0x1100 && (cp <= 0x115F || cp >= 0x2E80)) ? 2 : 1;
        p += i;     /* a truncated sequence at the end stops at its NUL */
    }
    return cols;
}

void ctl_put_col(const char *s, int width)
{
    fputs(s, stdout);
    if (width == 0)
        return;
    for (int cols = ctl_text_width(s); cols < width; cols++)
        putchar(' ');
    putchar(' ');
}

void ctl_csv_field(const char *v, bool last)
{
    if (strpbrk(v, ",\"\r\n")) {
        putchar('"');
        for (const char *p = v; *p; p++) {
            if (*p == '"')
                putchar('"');
            putchar(*p);
        }
        putchar('"');
    } else {
        fputs(v, stdout);
    }
    putchar(last ? '\n' : ',');
}

void ctl_offset_text(int minutes, char out[static 8])
{
    int m = minutes < 0 ? -minutes : minutes;
    snprintf(out, 8, "%c%02d:%02d", minutes < 0 ? '-' : '+', (m / 60) % 100, m % 60);
}

PGconn *ctl_connect(const struct ctl_opts *o)
{
    char *conninfo = NULL;
    int utc_offset_min = 480;
    if (o->db) {
        conninfo = strdup(o->db);
        struct cfg *c = ctl_config_quiet(o);
        if (c)
            utc_offset_min = c->utc_offset_min;
        cfg_free(c);
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
        utc_offset_min = c->utc_offset_min;
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
    /* Staff read and type the county's clock: the session's time zone makes
     * every time shown, and every time typed without an offset, the
     * county's, from one place. */
    char sql[64], off[8];
    ctl_offset_text(utc_offset_min, off);
    snprintf(sql, sizeof sql, "SET TIME ZONE INTERVAL '%s' HOUR TO MINUTE", off);
    PGresult *r = PQexec(db, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "anxinctl: cannot set the county's time zone %s: %s", off,
                PQresultErrorMessage(r));
        PQclear(r);
        PQfinish(db);
        return NULL;
    }
    PQclear(r);
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
