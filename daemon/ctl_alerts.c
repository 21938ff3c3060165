/* ctl_alerts.c - `anxinctl alerts` (what is open now) and `anxinctl record`
 * (the handling record of one alert, for the supervisor's file: 处置情况记录).
 *
 * Times are shown in China Standard Time (UTC+8), where the county is. Phone
 * numbers are masked: the record is filed and passed around. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "mask.h"

/* The county's clock: ctl_connect sets the session's time zone to it. */
#define LOCAL_TIME(col) "to_char(" col ", 'YYYY-MM-DD HH24:MI:SS')"

static int query_failed(PGresult *r, const char *what)
{
    fprintf(stderr, "anxinctl: %s failed: %s", what, PQresultErrorMessage(r));
    PQclear(r);
    return 1;
}

int ctl_cmd_alerts(const struct ctl_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"state", required_argument, NULL, 's'},
        {"limit", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    const char *state = "live";
    const char *limit = "100";
    int c;
    while ((c = getopt_long(argc, argv, "s:n:", longopts, NULL)) != -1) {
        switch (c) {
        case 's': state = optarg; break;
        case 'n': limit = optarg; break;
        default:
            fprintf(stderr, "usage: anxinctl alerts [--state live|open|acknowledged|resolved|"
                            "cleared|expired|all] [--limit N]\n");
            return 2;
        }
    }
    static const char *const states[] = {"live", "open", "acknowledged", "resolved",
                                         "cleared", "expired", "all"};
    bool known = false;
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        known |= strcmp(state, states[i]) == 0;
    if (!known || strspn(limit, "0123456789") != strlen(limit) || !*limit) {
        fprintf(stderr, "anxinctl alerts: --state is one of live open acknowledged resolved "
                        "cleared expired all; --limit a number\n");
        return 2;
    }
    PGconn *db = ctl_connect(o);
    if (!db)
        return 2;
    const char *params[2] = {state, limit};
    PGresult *r = PQexecParams(
        db,
        "SELECT a.id, " LOCAL_TIME("a.opened_at") ", a.state, a.elder_id, e.name,"
        " coalesce(e.village, ''), a.rule, a.severity, a.fire_count,"
        " (SELECT count(*) FROM notifications n WHERE n.alert_id = a.id"
        "   AND n.status IN ('sent', 'delivered')),"
        " (SELECT count(*) FROM notifications n WHERE n.alert_id = a.id), a.ack_code"
        " FROM alerts a JOIN elders e ON e.id = a.elder_id"
        " WHERE CASE $1 WHEN 'all' THEN true"
        "   WHEN 'live' THEN a.state IN ('open', 'acknowledged')"
        "   ELSE a.state::text = $1 END"
        " ORDER BY a.severity DESC, a.opened_at DESC LIMIT $2::int",
        2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        int rc = query_failed(r, "listing alerts");
        PQfinish(db);
        return rc;
    }
    int n = PQntuples(r);
    if (n == 0) {
        printf("no %s alerts\n", strcmp(state, "all") == 0 ? "" : state);
    } else {
        static const char *const head[] = {"ID", "OPENED", "STATE", "ELDER", "NAME",
                                           "VILLAGE", "RULE", "SEVERITY", "FIRED", "SENT",
                                           "ACK"};
        static const int width[] = {7, 19, 12, 8, 8, 10, 10, 8, 5, 5, 4};
        for (int k = 0; k < 11; k++)
            ctl_put_col(head[k], width[k]);
        putchar('\n');
        for (int i = 0; i < n; i++) {
            char sent[32];
            snprintf(sent, sizeof sent, "%s/%s", PQgetvalue(r, i, 9), PQgetvalue(r, i, 10));
            const char *cols[] = {PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
                                  PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 5),
                                  PQgetvalue(r, i, 6), PQgetvalue(r, i, 7), PQgetvalue(r, i, 8),
                                  sent, PQgetvalue(r, i, 11)};
            for (int k = 0; k < 11; k++)
                ctl_put_col(cols[k], width[k]);
            putchar('\n');
        }
    }
    PQclear(r);
    PQfinish(db);
    return 0;
}

/* ---- the handling record --------------------------------------------- */

enum { A_ID, A_ELDER, A_NAME, A_TOWNSHIP, A_VILLAGE, A_GRID, A_DEVICE, A_RULE, A_SEVERITY,
       A_CHAIN, A_STATE, A_ACK_CODE, A_FIRE_COUNT, A_EVENT_TS, A_OPENED, A_ACKED, A_ACKED_BY,
       A_RESOLVED, A_OUTCOME, A_NOTE, A_TO_FIRST, A_TO_ACK, A_TO_RESOLVE, A_N };

static const char alert_sql[] =
    "SELECT a.id, a.elder_id, e.name, coalesce(e.township, ''), coalesce(e.village, ''),"
    " coalesce(e.grid, ''), coalesce(a.device_id, ''), a.rule, a.severity, a.chain, a.state,"
    " a.ack_code, a.fire_count, " LOCAL_TIME("a.event_ts") ", " LOCAL_TIME("a.opened_at") ","
    " coalesce(" LOCAL_TIME("a.acked_at") ", ''), coalesce(a.acked_by, ''),"
    " coalesce(" LOCAL_TIME("a.resolved_at") ", ''), coalesce(a.outcome::text, ''),"
    " coalesce(a.note, ''),"
    " coalesce(round(extract(epoch FROM (SELECT min(n.sent_at) FROM notifications n"
    "   WHERE n.alert_id = a.id) - a.event_ts)::numeric, 1)::text, ''),"
    " coalesce(round(extract(epoch FROM a.acked_at - a.event_ts)::numeric, 1)::text, ''),"
    " coalesce(round(extract(epoch FROM a.resolved_at - a.event_ts)::numeric, 1)::text, '')"
    " FROM alerts a JOIN elders e ON e.id = a.elder_id WHERE a.id = $1::bigint";

enum { N_ID, N_CHANNEL, N_NAME, N_ROLE, N_TO, N_PROVIDER, N_REF, N_STATUS, N_ATTEMPTS,
       N_CREATED, N_SENT, N_DELIVERED, N_ERROR };

static const char notif_sql[] =
    "SELECT n.id, n.channel, n.contact_name, coalesce(n.role::text, ''), n.to_number,"
    " coalesce(n.provider, ''), coalesce(n.provider_ref, ''), n.status, n.attempts,"
    " " LOCAL_TIME("n.created_at") ", coalesce(" LOCAL_TIME("n.sent_at") ", ''),"
    " coalesce(" LOCAL_TIME("n.delivered_at") ", ''), coalesce(n.last_error, '')"
    " FROM notifications n WHERE n.alert_id = $1::bigint ORDER BY n.created_at, n.id";

enum { T_AT, T_KIND, T_ACTOR, T_CHANNEL, T_DETAIL };

static const char timeline_sql[] =
    "SELECT to_char(ev.at, 'YYYY-MM-DD HH24:MI:SS.MS'),"
    " ev.kind, ev.actor, coalesce(ev.channel, ''), ev.detail::text"
    " FROM alert_events ev WHERE ev.alert_id = $1::bigint ORDER BY ev.at, ev.id";

static const char *or_dash(const char *s)
{
    return s && *s ? s : "-";
}

/* One line of detail from the event's JSON, masked where it names a number. */
static void detail_text(const char *json, char *out, size_t len)
{
    cJSON *d = cJSON_Parse(json);
    size_t k = 0;
    out[0] = '\0';
    const cJSON *it;
    cJSON_ArrayForEach(it, d) {
        char val[160];
        if (cJSON_IsString(it))
            snprintf(val, sizeof val, "%s", it->valuestring);
        else if (cJSON_IsNumber(it))
            snprintf(val, sizeof val, "%.15g", it->valuedouble);
        else
            continue;
        if (strcmp(it->string, "to") == 0 && val[0] == '+') {
            char m[MASK_PHONE_MAX];
            mask_phone(val, m, sizeof m);
            snprintf(val, sizeof val, "%s", m);
        }
        int w = snprintf(out + k, len - k, "%s%s=%s", k ? " " : "", it->string, val);
        if (w < 0 || (size_t)w >= len - k)
            break;
        k += (size_t)w;
    }
    cJSON_Delete(d);
}

static void print_text(PGresult *a, PGresult *n, PGresult *t)
{
    printf("处置记录 Handling record · alert %s\n\n", PQgetvalue(a, 0, A_ID));
    printf("  elder         %s %s (%s %s, grid %s)\n", PQgetvalue(a, 0, A_ELDER),
           PQgetvalue(a, 0, A_NAME), or_dash(PQgetvalue(a, 0, A_TOWNSHIP)),
           or_dash(PQgetvalue(a, 0, A_VILLAGE)), or_dash(PQgetvalue(a, 0, A_GRID)));
    printf("  rule          %s (%s), chain %s, device %s\n", PQgetvalue(a, 0, A_RULE),
           PQgetvalue(a, 0, A_SEVERITY), PQgetvalue(a, 0, A_CHAIN),
           or_dash(PQgetvalue(a, 0, A_DEVICE)));
    printf("  state         %s; fired %s time(s); ack code %s\n", PQgetvalue(a, 0, A_STATE),
           PQgetvalue(a, 0, A_FIRE_COUNT), PQgetvalue(a, 0, A_ACK_CODE));
    printf("  event         %s\n", PQgetvalue(a, 0, A_EVENT_TS));
    printf("  opened        %s\n", PQgetvalue(a, 0, A_OPENED));
    printf("  acknowledged  %s %s\n", or_dash(PQgetvalue(a, 0, A_ACKED)),
           *PQgetvalue(a, 0, A_ACKED_BY) ? PQgetvalue(a, 0, A_ACKED_BY) : "");
    printf("  resolved      %s\n", or_dash(PQgetvalue(a, 0, A_RESOLVED)));
    printf("  outcome       %s\n", or_dash(PQgetvalue(a, 0, A_OUTCOME)));
    printf("  note          %s\n\n", or_dash(PQgetvalue(a, 0, A_NOTE)));
    printf("response times (from the event)\n");
    printf("  first notification sent  %s s\n", or_dash(PQgetvalue(a, 0, A_TO_FIRST)));
    printf("  acknowledged             %s s\n", or_dash(PQgetvalue(a, 0, A_TO_ACK)));
    printf("  resolved                 %s s\n\n", or_dash(PQgetvalue(a, 0, A_TO_RESOLVE)));

    printf("notifications (%d)\n", PQntuples(n));
    for (int i = 0; i < PQntuples(n); i++) {
        char m[MASK_PHONE_MAX];
        mask_phone(PQgetvalue(n, i, N_TO), m, sizeof m);
        printf("  #%s %-5s %s (%s) %s  %s via %s ref %s, %s attempt(s), created %s, sent %s%s%s\n",
               PQgetvalue(n, i, N_ID), PQgetvalue(n, i, N_CHANNEL), PQgetvalue(n, i, N_NAME),
               or_dash(PQgetvalue(n, i, N_ROLE)), m, PQgetvalue(n, i, N_STATUS),
               or_dash(PQgetvalue(n, i, N_PROVIDER)), or_dash(PQgetvalue(n, i, N_REF)),
               PQgetvalue(n, i, N_ATTEMPTS), PQgetvalue(n, i, N_CREATED) + 11,
               or_dash(PQgetvalue(n, i, N_SENT)[0] ? PQgetvalue(n, i, N_SENT) + 11 : ""),
               *PQgetvalue(n, i, N_ERROR) ? ", last error: " : "", PQgetvalue(n, i, N_ERROR));
    }
    printf("\ntimeline (%d)\n", PQntuples(t));
    for (int i = 0; i < PQntuples(t); i++) {
        char det[400];
        detail_text(PQgetvalue(t, i, T_DETAIL), det, sizeof det);
        printf("  %s  %-8s %-18s %-6s %s\n", PQgetvalue(t, i, T_AT) + 11,
               PQgetvalue(t, i, T_KIND), PQgetvalue(t, i, T_ACTOR),
               or_dash(PQgetvalue(t, i, T_CHANNEL)), det);
    }
}

static void add_str(cJSON *o, const char *k, const char *v)
{
    if (v && *v)
        cJSON_AddStringToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

static void add_num(cJSON *o, const char *k, const char *v)
{
    if (v && *v)
        cJSON_AddNumberToObject(o, k, strtod(v, NULL));
    else
        cJSON_AddNullToObject(o, k);
}

static void print_json(PGresult *a, PGresult *n, PGresult *t)
{
    static const char *const akeys[A_N] = {
        "id", "elder", "elder_name", "township", "village", "grid", "device", "rule",
        "severity", "chain", "state", "ack_code", "fire_count", "event_time", "opened",
        "acknowledged", "acknowledged_by", "resolved", "outcome", "note",
        "seconds_to_first_notification", "seconds_to_acknowledgement", "seconds_to_resolution",
    };
    cJSON *root = cJSON_CreateObject();
    for (int k = 0; k < A_N; k++) {
        const char *v = PQgetvalue(a, 0, k);
        if (k == A_ID || k == A_FIRE_COUNT || k >= A_TO_FIRST)
            add_num(root, akeys[k], v);
        else
            add_str(root, akeys[k], v);
    }
    cJSON *arr = cJSON_AddArrayToObject(root, "notifications");
    for (int i = 0; i < PQntuples(n); i++) {
        cJSON *o = cJSON_CreateObject();
        char m[MASK_PHONE_MAX];
        mask_phone(PQgetvalue(n, i, N_TO), m, sizeof m);
        add_num(o, "id", PQgetvalue(n, i, N_ID));
        add_str(o, "channel", PQgetvalue(n, i, N_CHANNEL));
        add_str(o, "contact", PQgetvalue(n, i, N_NAME));
        add_str(o, "role", PQgetvalue(n, i, N_ROLE));
        add_str(o, "to", m);
        add_str(o, "provider", PQgetvalue(n, i, N_PROVIDER));
        add_str(o, "provider_ref", PQgetvalue(n, i, N_REF));
        add_str(o, "status", PQgetvalue(n, i, N_STATUS));
        add_num(o, "attempts", PQgetvalue(n, i, N_ATTEMPTS));
        add_str(o, "created", PQgetvalue(n, i, N_CREATED));
        add_str(o, "sent", PQgetvalue(n, i, N_SENT));
        add_str(o, "delivered", PQgetvalue(n, i, N_DELIVERED));
        add_str(o, "last_error", PQgetvalue(n, i, N_ERROR));
        cJSON_AddItemToArray(arr, o);
    }
    arr = cJSON_AddArrayToObject(root, "timeline");
    for (int i = 0; i < PQntuples(t); i++) {
        cJSON *o = cJSON_CreateObject();
        add_str(o, "at", PQgetvalue(t, i, T_AT));
        add_str(o, "kind", PQgetvalue(t, i, T_KIND));
        add_str(o, "actor", PQgetvalue(t, i, T_ACTOR));
        add_str(o, "channel", PQgetvalue(t, i, T_CHANNEL));
        cJSON *det = cJSON_Parse(PQgetvalue(t, i, T_DETAIL));
        cJSON *to = cJSON_GetObjectItemCaseSensitive(det, "to");
        if (cJSON_IsString(to) && to->valuestring[0] == '+') {
            char m[MASK_PHONE_MAX];
            mask_phone(to->valuestring, m, sizeof m);
            cJSON_SetValuestring(to, m);
        }
        cJSON_AddItemToObject(o, "detail", det ? det : cJSON_CreateObject());
        cJSON_AddItemToArray(arr, o);
    }
    char *s = cJSON_Print(root);
    if (s)
        printf("%s\n", s);
    free(s);
    cJSON_Delete(root);
}

static void csv_row(const char *section, const char *time, const char *kind, const char *who,
                    const char *channel, const char *detail)
{
    ctl_csv_field(section, false);
    ctl_csv_field(time, false);
    ctl_csv_field(kind, false);
    ctl_csv_field(who, false);
    ctl_csv_field(channel, false);
    ctl_csv_field(detail, true);
}

/* The record as rows for a spreadsheet: one for the alert, one per
 * notification, one per timeline entry. */
static void print_csv(PGresult *a, PGresult *n, PGresult *t)
{
    char detail[1200];
    csv_row("section", "time", "kind", "who", "channel", "detail");
    snprintf(detail, sizeof detail,
             "alert %s; elder %s %s (%s %s); rule %s (%s); device %s; state %s; fired %s; "
             "outcome %s; note %s; seconds to first notification %s, to acknowledgement %s, "
             "to resolution %s",
             PQgetvalue(a, 0, A_ID), PQgetvalue(a, 0, A_ELDER), PQgetvalue(a, 0, A_NAME),
             PQgetvalue(a, 0, A_TOWNSHIP), PQgetvalue(a, 0, A_VILLAGE), PQgetvalue(a, 0, A_RULE),
             PQgetvalue(a, 0, A_SEVERITY), or_dash(PQgetvalue(a, 0, A_DEVICE)),
             PQgetvalue(a, 0, A_STATE), PQgetvalue(a, 0, A_FIRE_COUNT),
             or_dash(PQgetvalue(a, 0, A_OUTCOME)), or_dash(PQgetvalue(a, 0, A_NOTE)),
             or_dash(PQgetvalue(a, 0, A_TO_FIRST)), or_dash(PQgetvalue(a, 0, A_TO_ACK)),
             or_dash(PQgetvalue(a, 0, A_TO_RESOLVE)));
    csv_row("alert", PQgetvalue(a, 0, A_OPENED), PQgetvalue(a, 0, A_STATE),
            or_dash(PQgetvalue(a, 0, A_ACKED_BY)), "", detail);
    for (int i = 0; i < PQntuples(n); i++) {
        char m[MASK_PHONE_MAX];
        mask_phone(PQgetvalue(n, i, N_TO), m, sizeof m);
        snprintf(detail, sizeof detail, "#%s %s (%s) %s via %s ref %s, %s attempt(s), sent %s%s%s",
                 PQgetvalue(n, i, N_ID), PQgetvalue(n, i, N_NAME),
                 or_dash(PQgetvalue(n, i, N_ROLE)), m, or_dash(PQgetvalue(n, i, N_PROVIDER)),
                 or_dash(PQgetvalue(n, i, N_REF)), PQgetvalue(n, i, N_ATTEMPTS),
                 or_dash(PQgetvalue(n, i, N_SENT)),
                 *PQgetvalue(n, i, N_ERROR) ? ", last error: " : "", PQgetvalue(n, i, N_ERROR));
        csv_row("notification", PQgetvalue(n, i, N_CREATED), PQgetvalue(n, i, N_STATUS),
                PQgetvalue(n, i, N_NAME), PQgetvalue(n, i, N_CHANNEL), detail);
    }
    for (int i = 0; i < PQntuples(t); i++) {
        char det[400];
        detail_text(PQgetvalue(t, i, T_DETAIL), det, sizeof det);
        csv_row("timeline", PQgetvalue(t, i, T_AT), PQgetvalue(t, i, T_KIND),
                PQgetvalue(t, i, T_ACTOR), PQgetvalue(t, i, T_CHANNEL), det);
    }
}

int ctl_cmd_record(const struct ctl_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    const char *format = "text";
    int c;
    while ((c = getopt_long(argc, argv, "f:", longopts, NULL)) != -1) {
        if (c == 'f')
            format = optarg;
        else
            goto usage;
    }
    if (optind != argc - 1 || !argv[optind][0] ||
        strspn(argv[optind], "0123456789") != strlen(argv[optind]) ||
        (strcmp(format, "text") != 0 && strcmp(format, "json") != 0 &&
         strcmp(format, "csv") != 0))
        goto usage;
    PGconn *db = ctl_connect(o);
    if (!db)
        return 2;
    const char *params[1] = {argv[optind]};
    PGresult *a = PQexecParams(db, alert_sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(a) != PGRES_TUPLES_OK) {
        PQfinish(db);
        return query_failed(a, "reading the alert");
    }
    if (PQntuples(a) == 0) {
        fprintf(stderr, "anxinctl: no alert with id %s\n", argv[optind]);
        PQclear(a);
        PQfinish(db);
        return 1;
    }
    PGresult *n = PQexecParams(db, notif_sql, 1, NULL, params, NULL, NULL, 0);
    PGresult *t = PQexecParams(db, timeline_sql, 1, NULL, params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(n) != PGRES_TUPLES_OK || PQresultStatus(t) != PGRES_TUPLES_OK) {
        fprintf(stderr, "anxinctl: reading the record failed: %s", PQerrorMessage(db));
        rc = 1;
    } else if (strcmp(format, "json") == 0) {
        print_json(a, n, t);
    } else if (strcmp(format, "csv") == 0) {
        print_csv(a, n, t);
    } else {
        print_text(a, n, t);
    }
    PQclear(a);
    PQclear(n);
    PQclear(t);
    PQfinish(db);
    return rc;
usage:
    fprintf(stderr, "usage: anxinctl record ID [--format text|json|csv]\n");
    return 2;
}
