/* ctl_handle.c - handling alerts from the command line: `anxinctl ack`,
 * `anxinctl resolve`, and silences (`anxinctl silence add|list|cancel`).
 * Acknowledging and resolving call the same database functions as every
 * other channel, so the paging stops the same way whoever acts. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "silence_sql.h"
#include "telemetry.h"

#define actor ctl_actor

static bool is_id(const char *s)
{
    return s && *s && strspn(s, "0123456789") == strlen(s) && strlen(s) < 19;
}

/* Runs SELECT fn($1::jsonb) with its audit entry (action, on alert:ID, in
 * the same transaction) and returns the function's text result (malloc'd)
 * or NULL. */
static char *call(PGconn *db, const char *fn, const char *action, cJSON *doc)
{
    char *text = cJSON_PrintUnformatted(doc);
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT r, anxin_audit($1::jsonb->>'actor', $2, 'alert:' || ($1::jsonb->>'id'), r,"
             " jsonb_build_object('channel', 'cli')) FROM (SELECT %s($1::jsonb) AS r) s", fn);
    const char *params[2] = {text, action};
    PGresult *r = PQexecParams(db, sql, 2, NULL, params, NULL, NULL, 0);
    free(text);
    char *out = NULL;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        out = strdup(PQgetvalue(r, 0, 0));
    else
        fprintf(stderr, "anxinctl: %s failed: %s", fn, PQresultErrorMessage(r));
    PQclear(r);
    return out;
}

/* Explains a refusal of the database functions in plain words. */
static int refused(const char *id, const char *why)
{
    if (strcmp(why, "not_found") == 0)
        fprintf(stderr, "anxinctl: no alert with id %s\n", id);
    else if (strcmp(why, "already_acknowledged") == 0)
        fprintf(stderr, "anxinctl: alert %s is already acknowledged (anxinctl record %s shows "
                        "by whom)\n", id, id);
    else if (strncmp(why, "not_open:", 9) == 0)
        fprintf(stderr, "anxinctl: alert %s is %s; nothing to do\n", id, why + 9);
    else if (strcmp(why, "bad_outcome") == 0)
        fprintf(stderr, "anxinctl: --outcome is one of false_alarm assisted_on_site "
                        "sent_to_hospital emergency_services device_fault other\n");
    else if (strcmp(why, "note_required") == 0)
        fprintf(stderr, "anxinctl: --note is required: say how it was handled (it is the "
                        "handling record)\n");
    else
        fprintf(stderr, "anxinctl: refused: %s\n", why);
    return 1;
}

int ctl_cmd_ack(const struct ctl_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"note", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    const char *note = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "n:", longopts, NULL)) != -1) {
        if (c != 'n')
            goto usage;
        note = optarg;
    }
    if (optind != argc - 1 || !is_id(argv[optind]))
        goto usage;
    const char *id = argv[optind];
    PGconn *db = ctl_connect(o);
    if (!db)
        return 2;
    char who[64];
    actor(who, sizeof who);
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddRawToObject(doc, "id", id);
    cJSON_AddStringToObject(doc, "actor", who);
    cJSON_AddStringToObject(doc, "channel", "cli");
    if (note)
        cJSON_AddStringToObject(doc, "note", note);
    char *res = call(db, "anxin_alert_ack", "alert.ack", doc);
    cJSON_Delete(doc);
    PQfinish(db);
    if (!res)
        return 1;
    int rc = 0;
    if (strcmp(res, "ok") == 0)
        printf("alert %s acknowledged by %s; paging stopped. Resolve it when handled: "
               "anxinctl resolve %s --outcome ... --note \"...\"\n", id, who, id);
    else
        rc = refused(id, res);
    free(res);
    return rc;
usage:
    fprintf(stderr, "usage: anxinctl ack ID [--note TEXT]\n");
    return 2;
}

int ctl_cmd_resolve(const struct ctl_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"outcome", required_argument, NULL, 'o'},
        {"note", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    const char *outcome = NULL, *note = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "o:n:", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': outcome = optarg; break;
        case 'n': note = optarg; break;
        default: goto usage;
        }
    }
    if (optind != argc - 1 || !is_id(argv[optind]) || !outcome || !note)
        goto usage;
    const char *id = argv[optind];
    PGconn *db = ctl_connect(o);
    if (!db)
        return 2;
    char who[64];
    actor(who, sizeof who);
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddRawToObject(doc, "id", id);
    cJSON_AddStringToObject(doc, "actor", who);
    cJSON_AddStringToObject(doc, "channel", "cli");
    cJSON_AddStringToObject(doc, "outcome", outcome);
    cJSON_AddStringToObject(doc, "note", note);
    char *res = call(db, "anxin_alert_resolve", "alert.resolve", doc);
    cJSON_Delete(doc);
    PQfinish(db);
    if (!res)
        return 1;
    int rc = 0;
    if (strcmp(res, "ok") == 0)
        printf("alert %s resolved (%s) by %s\n", id, outcome, who);
    else
        rc = refused(id, res);
    free(res);
    return rc;
usage:
    fprintf(stderr, "usage: anxinctl resolve ID --outcome false_alarm|assisted_on_site|"
                    "sent_to_hospital|emergency_services|device_fault|other --note TEXT\n");
    return 2;
}

/* ---- silences ------------------------------------------------------------ */

static int silence_add(const struct ctl_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"elder", required_argument, NULL, 'e'},
        {"device", required_argument, NULL, 'd'},
        {"village", required_argument, NULL, 'v'},
        {"rule", required_argument, NULL, 'r'},
        {"from", required_argument, NULL, 'f'},
        {"for", required_argument, NULL, 'F'},
        {"until", required_argument, NULL, 'u'},
        {"every", required_argument, NULL, 'E'},
        {"reason", required_argument, NULL, 'R'},
        {NULL, 0, NULL, 0},
    };
    const char *scope = NULL, *target = NULL, *from = NULL, *until = NULL, *every = NULL;
    const char *reason = NULL;
    int64_t dur = 0;
    int c, n_scopes = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'e': scope = "elder"; target = optarg; n_scopes++; break;
        case 'd': scope = "device"; target = optarg; n_scopes++; break;
        case 'v': scope = "village"; target = optarg; n_scopes++; break;
        case 'r': scope = "rule"; target = optarg; n_scopes++; break;
        case 'f': from = optarg; break;
        case 'F':
            if (cfg_parse_duration(optarg, &dur) != 0 || dur <= 0) {
                fprintf(stderr, "anxinctl: --for takes a duration like 8h or 7d\n");
                return 2;
            }
            break;
        case 'u': until = optarg; break;
        case 'E': every = optarg; break;
        case 'R': reason = optarg; break;
        default: goto usage;
        }
    }
    if (n_scopes != 1 || !reason || optind != argc || (!dur && !until) ||
        (every && strcmp(every, "day") != 0 && strcmp(every, "week") != 0) || (every && !dur))
        goto usage;
    PGconn *db = ctl_connect(o);
    if (!db)
        return 2;
    char who[64], dur_s[40];
    actor(who, sizeof who);
    snprintf(dur_s, sizeof dur_s, "%" PRId64, dur);
    /* A time without an offset is the county's: the session's time zone
     * (ctl_connect). */
    const char *params[8] = {scope, target, reason, who, from, dur ? dur_s : NULL, until,
                             every ? (every[0] == 'd' ? "daily" : "weekly") : NULL};
    PGresult *r = PQexecParams(
        db,
        "WITH v AS (SELECT coalesce($5::timestamptz, now()) AS s)"
        " INSERT INTO silences (scope, target, reason, created_by, starts_at, ends_at, recur,"
        "                       until_at)"
        " SELECT $1, $2, $3, $4, v.s,"
        "        CASE WHEN $6::bigint IS NOT NULL THEN v.s + $6::bigint * interval '1 millisecond'"
        "             ELSE $7::timestamptz END,"
        "        $8::text,"
        "        CASE WHEN $8::text IS NOT NULL THEN $7::timestamptz END"
        "   FROM v"
        " RETURNING id, to_char(starts_at, 'YYYY-MM-DD HH24:MI'),"
        "           to_char(ends_at, 'YYYY-MM-DD HH24:MI')",
        8, NULL, params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        fprintf(stderr, "anxinctl: silence refused: %s\n", m ? m : PQerrorMessage(db));
        rc = 1;
    } else {
        char tgt[40], detail[300];
        snprintf(tgt, sizeof tgt, "silence:%s", PQgetvalue(r, 0, 0));
        cJSON *dj = cJSON_CreateObject();
        cJSON_AddStringToObject(dj, "scope", scope);
        cJSON_AddStringToObject(dj, "target", target);
        cJSON_AddStringToObject(dj, "reason", reason);
        if (!cJSON_PrintPreallocated(dj, detail, sizeof detail, 0))
            snprintf(detail, sizeof detail, "{}");
        cJSON_Delete(dj);
        ctl_audit(db, "silence.add", tgt, "ok", detail);
        printf("silence %s: %s %s from %s to %s%s%s\n", PQgetvalue(r, 0, 0), scope, target,
               PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), every ? ", every " : "",
               every ? every : "");
    }
    PQclear(r);
    PQfinish(db);
    return rc;
usage:
    fprintf(stderr,
            "usage: anxinctl silence add (--elder ID | --device ID | --village NAME | --rule NAME)\n"
            "         (--for DURATION | --until \"YYYY-MM-DD HH:MM\") [--from \"YYYY-MM-DD HH:MM\"]\n"
            "         [--every day|week [--until LAST]] --reason TEXT\n"
            "       times are the county's ([anxind] utc_offset, +08:00 by default) unless\n"
            "       they carry an offset\n");
    return 2;
}

static int silence_list(const struct ctl_opts *o)
{
    PGconn *db = ctl_connect(o);
    if (!db)
        return 2;
    PGresult *r = PQexec(
        db,
        "SELECT id, scope, target,"
        " to_char(starts_at, 'YYYY-MM-DD HH24:MI'),"
        " to_char(ends_at, 'YYYY-MM-DD HH24:MI'),"
        " coalesce(recur, 'once'), reason, created_by"
        " FROM silences WHERE " SILENCE_IN_FORCE_OR_TO_COME
        " ORDER BY starts_at");
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "anxinctl: %s", PQresultErrorMessage(r));
        rc = 1;
    } else if (PQntuples(r) == 0) {
        printf("no silences in force or to come\n");
    } else {
        for (int i = 0; i < PQntuples(r); i++)
            printf("%-5s %-8s %-14s %s .. %s  %-6s %s (by %s)\n", PQgetvalue(r, i, 0),
                   PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
                   PQgetvalue(r, i, 4), PQgetvalue(r, i, 5), PQgetvalue(r, i, 6),
                   PQgetvalue(r, i, 7));
    }
    PQclear(r);
    PQfinish(db);
    return rc;
}

static int silence_cancel(const struct ctl_opts *o, const char *id)
{
    if (!is_id(id)) {
        fprintf(stderr, "usage: anxinctl silence cancel ID\n");
        return 2;
    }
    PGconn *db = ctl_connect(o);
    if (!db)
        return 2;
    const char *params[1] = {id};
    PGresult *r = PQexecParams(db, "UPDATE silences SET cancelled_at = now() WHERE id = $1"
                                   " AND cancelled_at IS NULL RETURNING id",
                               1, NULL, params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "anxinctl: %s", PQresultErrorMessage(r));
        rc = 1;
    } else if (PQntuples(r) == 0) {
        fprintf(stderr, "anxinctl: no silence %s in force\n", id);
        rc = 1;
    } else {
        char tgt[40];
        snprintf(tgt, sizeof tgt, "silence:%s", id);
        ctl_audit(db, "silence.cancel", tgt, "ok", NULL);
        printf("silence %s cancelled\n", id);
    }
    PQclear(r);
    PQfinish(db);
    return rc;
}

int ctl_cmd_silence(const struct ctl_opts *o, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "add") == 0)
        return silence_add(o, argc - 1, argv + 1);
    if (argc == 2 && strcmp(argv[1], "list") == 0)
        return silence_list(o);
    if (argc == 3 && strcmp(argv[1], "cancel") == 0)
        return silence_cancel(o, argv[2]);
    fprintf(stderr, "usage: anxinctl silence add ... | list | cancel ID  (anxinctl silence add "
                    "for its options)\n");
    return 2;
}
