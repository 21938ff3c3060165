/* ctl_rules.c - the operator's rule tools: `anxinctl test-rules` (unit
 * tests for rules), `anxinctl replay` (recorded telemetry through the rules
 * on a virtual clock), `anxinctl export-journal` (recorded telemetry out of
 * anxind's journal) and `anxinctl reload` (check, then SIGHUP anxind). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "err.h"
#include "fileio.h"
#include "journal.h"
#include "jsonu.h"
#include "notify.h"
#include "regdb.h"
#include "regimport.h"
#include "ruletest.h"
#include "rules_load.h"
#include "sim.h"

#define TEST_FILE_MAX (16 * 1024 * 1024)

/* The rules directory: --rules, else [paths] rules of the configuration,
 * else the installed default. */
static const char *rules_dir(const struct ctl_opts *o, const char *given, struct cfg **keep)
{
    if (given)
        return given;
    struct cfg *c = ctl_config_quiet(o);
    if (!c)
        return ANXIN_SYSCONFDIR "/rules.d";
    *keep = c;
    return c->rules_dir;
}

static int utc_offset(const struct cfg *c)
{
    return c ? c->utc_offset_min : 480;
}

static struct rule_set *load_rules_printing(const char *dir)
{
    struct rule_diags diags = {0};
    struct rule_set *rs = rules_load_dir(dir, &diags);
    for (size_t i = 0; i < diags.n; i++) {
        char line[600];
        rule_diag_format(&diags.items[i], line, sizeof line);
        fprintf(stderr, "%s\n", line);
    }
    rule_diags_free(&diags);
    if (!rs)
        fprintf(stderr, "anxinctl: the rules in %s have errors\n", dir);
    return rs;
}

/* ---- test-rules --------------------------------------------------------- */

int ctl_cmd_test_rules(const struct ctl_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"rules", required_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    const char *dir_opt = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "r:", longopts, NULL)) != -1) {
        if (c != 'r')
            goto usage;
        dir_opt = optarg;
    }
    if (optind >= argc)
        goto usage;
    struct cfg *cfg = NULL;
    const char *dir = rules_dir(o, dir_opt, &cfg);
    struct rule_set *rs = load_rules_printing(dir);
    if (!rs) {
        cfg_free(cfg);
        return 1;
    }
    size_t passed = 0, failed = 0, broken = 0;
    for (int i = optind; i < argc; i++) {
        char err[512];
        size_t len;
        char *text = fileio_read(argv[i], TEST_FILE_MAX, &len, err, sizeof err);
        if (!text) {
            fprintf(stderr, "anxinctl: %s\n", err);
            broken++;
            continue;
        }
        struct rtest_report rep;
        int rc = rtest_run(argv[i], text, len, rs, utc_offset(cfg), &rep);
        free(text);
        if (rc == ANX_EPARSE || rep.n_errors) {
            for (size_t k = 0; k < rep.n_errors; k++)
                fprintf(stderr, "%s\n", rep.errors[k]);
            broken++;
        } else if (rc != 0) {
            fprintf(stderr, "anxinctl: %s: %s\n", argv[i], anx_strerror(rc));
            broken++;
        }
        if (!o->quiet || rep.n_failed)
            printf("%s: %zu test(s)\n", argv[i], rep.n_tests);
        for (size_t k = 0; k < rep.n_tests; k++) {
            const struct rtest_result *t = &rep.tests[k];
            if (t->passed) {
                if (!o->quiet)
                    printf("  ok    %s\n", t->name);
                continue;
            }
            printf("  FAIL  %s (line %d)\n", t->name, t->line);
            for (size_t f = 0; f < t->n_failures; f++)
                printf("          %s\n", t->failures[f]);
        }
        passed += rep.n_passed;
        failed += rep.n_failed;
        rtest_report_free(&rep);
    }
    printf("%zu passed, %zu failed%s\n", passed, failed,
           broken ? " (and files with errors, above)" : "");
    rule_set_free(rs);
    cfg_free(cfg);
    return failed || broken ? 1 : 0;
usage:
    fprintf(stderr, "usage: anxinctl test-rules [--rules DIR] TESTFILE...\n");
    return 2;
}

/* ---- replay -------------------------------------------------------------- */

struct replay {
    int utc_offset;
    bool quiet;
    bool json;
    uint64_t events;
};

static void print_time(int64_t ms, int utc_offset, char out[NOTIFY_TIME_LEN])
{
    notify_format_local(ms, utc_offset, out);
}

static void on_replay_alert(void *arg, const struct sim_alert_event *e)
{
    struct replay *r = arg;
    static const char *const what[] = {"", "OPEN", "REPEAT", "CLEAR"};
    r->events++;
    if (r->quiet)
        return;
    if (r->json) {
        cJSON *o = cJSON_CreateObject();
        jsonu_add_int(o, "at", e->ev->at_ms);
        static const char *const acts[] = {"", "open", "repeat", "clear"};
        cJSON_AddStringToObject(o, "action", acts[e->action]);
        cJSON_AddStringToObject(o, "rule", e->alert->rule);
        cJSON_AddStringToObject(o, "elder", e->alert->elder_id);
        cJSON_AddStringToObject(o, "device", e->ev->device ? e->ev->device->id : "");
        cJSON_AddStringToObject(o, "severity", rule_severity_name(e->alert->severity));
        cJSON_AddStringToObject(o, "why", e->ev->why);
        char *line = cJSON_PrintUnformatted(o);
        if (line)
            printf("%s\n", line);
        free(line);
        cJSON_Delete(o);
        return;
    }
    if (e->action == ALERT_ACT_REPEAT)
        return;
    char when[NOTIFY_TIME_LEN];
    print_time(e->ev->at_ms, r->utc_offset, when);
    printf("%s  %-6s %-16s %-8s %-14s %-8s %s\n", when, what[e->action], e->alert->rule,
           e->alert->elder_id, e->ev->device ? e->ev->device->id : "-",
           rule_severity_name(e->alert->severity), e->ev->why);
}

/* One line: {"topic": "...", "received": ms | "RFC 3339", "payload": {...} | "..."}. */
static int replay_line(struct sim *s, const char *line, size_t len, int64_t *last,
                       char *err, size_t errlen)
{
    cJSON *o = cJSON_ParseWithLength(line, len);
    int rc = 0;
    const cJSON *topic = cJSON_GetObjectItemCaseSensitive(o, "topic");
    const cJSON *recv = cJSON_GetObjectItemCaseSensitive(o, "received");
    const cJSON *payload = cJSON_GetObjectItemCaseSensitive(o, "payload");
    int64_t t = 0;
    if (!cJSON_IsObject(o) || !cJSON_IsString(topic) || !payload) {
        snprintf(err, errlen, "expected {\"topic\": ..., \"received\": ..., \"payload\": ...}");
        rc = -1;
    } else if (cJSON_IsNumber(recv)) {
        t = (int64_t)recv->valuedouble;
    } else if (!cJSON_IsString(recv) || tlm_parse_rfc3339(recv->valuestring, &t) != 0) {
        snprintf(err, errlen, "received: expected ms since the epoch or an RFC 3339 time");
        rc = -1;
    }
    if (rc == 0 && t < *last) {
        snprintf(err, errlen, "received goes back in time; sort the file by received first");
        rc = -1;
    }
    if (rc == 0) {
        *last = t;
        char *text = cJSON_IsString(payload) ? NULL : cJSON_PrintUnformatted(payload);
        const char *p = text ? text : payload->valuestring;
        sim_message(s, topic->valuestring, strlen(topic->valuestring), p, strlen(p), t);
        free(text);
    }
    cJSON_Delete(o);
    return rc;
}

static int load_registry(const struct ctl_opts *o, const char *file, struct registry *reg)
{
    char err[512];
    if (file) {
        size_t len;
        char *text = fileio_read(file, 256 * 1024 * 1024, &len, err, sizeof err);
        if (!text) {
            fprintf(stderr, "anxinctl: %s\n", err);
            return 2;
        }
        struct regimp_doc *doc = NULL;
        struct regimp_errors errs = {0};
        int rc = regimp_parse(file, text, len, &doc, &errs);
        free(text);
        for (size_t i = 0; i < errs.n_kept; i++)
            fprintf(stderr, "%s: %s\n", file, errs.msgs[i]);
        regimp_errors_free(&errs);
        if (rc != 0) {
            regimp_doc_free(doc);
            return 1;
        }
        rc = regimp_to_registry(doc, reg);
        regimp_doc_free(doc);
        return rc ? 1 : 0;
    }
    PGconn *db = ctl_connect(o);
    if (!db)
        return 2;
    int rc = regdb_load(db, reg, err, sizeof err);
    PQfinish(db);
    if (rc) {
        fprintf(stderr, "anxinctl: %s\n", err);
        return 1;
    }
    return 0;
}

int ctl_cmd_replay(const struct ctl_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"rules", required_argument, NULL, 'r'},
        {"registry", required_argument, NULL, 'g'},
        {"summary", no_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    const char *dir_opt = NULL, *registry = NULL;
    bool summary = false, json = false;
    int c;
    while ((c = getopt_long(argc, argv, "r:g:sj", longopts, NULL)) != -1) {
        switch (c) {
        case 'r': dir_opt = optarg; break;
        case 'g': registry = optarg; break;
        case 's': summary = true; break;
        case 'j': json = true; break;
        default: goto usage;
        }
    }
    if (optind != argc - 1)
        goto usage;
    const char *path = argv[optind];
    FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!in) {
        fprintf(stderr, "anxinctl: cannot read %s: %s\n", path, strerror(errno));
        return 2;
    }
    struct cfg *cfg = NULL;
    const char *dir = rules_dir(o, dir_opt, &cfg);
    struct rule_set *rs = load_rules_printing(dir);
    struct registry reg = {0};
    int rc = rs ? load_registry(o, registry, &reg) : 1;
    if (rc) {
        if (in != stdin)
            fclose(in);
        reg_clear(&reg);
        rule_set_free(rs);
        cfg_free(cfg);
        return rc;
    }
    struct replay r = {.utc_offset = utc_offset(cfg), .quiet = summary, .json = json};
    struct sim *s = NULL;
    char *line = NULL;
    size_t cap = 0, lineno = 0, bad_lines = 0;
    ssize_t n;
    int64_t last = INT64_MIN;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!summary && !json)
        printf("%-19s  %-6s %-16s %-8s %-14s %-8s %s\n", "TIME", "ALERT", "RULE", "ELDER",
               "DEVICE", "SEVERITY", "WHY");
    while ((n = getline(&line, &cap, in)) > 0) {
        lineno++;
        if (n == 1 && line[0] == '\n')
            continue;
        if (!s) {
            /* Virtual time starts at the first message: devices count as
             * seen then, so absence rules wait their due time. */
            int64_t first = 0;
            cJSON *o1 = cJSON_Parse(line);
            const cJSON *rv = cJSON_GetObjectItemCaseSensitive(o1, "received");
            if (cJSON_IsNumber(rv))
                first = (int64_t)rv->valuedouble;
            else if (cJSON_IsString(rv))
                tlm_parse_rfc3339(rv->valuestring, &first);
            cJSON_Delete(o1);
            s = sim_new(&reg, rs, r.utc_offset, first, on_replay_alert, &r);
            if (!s) {
                fprintf(stderr, "anxinctl: out of memory\n");
                rc = 1;
                break;
            }
        }
        char err[200];
        if (replay_line(s, line, (size_t)n, &last, err, sizeof err) != 0) {
            if (bad_lines++ < 20)
                fprintf(stderr, "%s:%zu: %s\n", path, lineno, err);
        }
    }
    if (s)
        sim_advance(s, last);   /* what was due by the last message */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    struct sim_stats st = {0};
    if (s)
        sim_get_stats(s, &st);
    fprintf(stderr, "replay: %" PRIu64 " messages (%" PRIu64 " rejected, %" PRIu64
                    " from unknown devices, %zu bad lines) in %.2f s (%.0f msg/s); alerts: %"
                    PRIu64 " opened, %" PRIu64 " repeats, %" PRIu64 " cleared\n",
            st.messages, st.rejected, st.unknown_device, bad_lines, secs,
            secs > 0 ? (double)st.messages / secs : 0.0, st.opened, st.repeated, st.cleared);
    free(line);
    if (in != stdin)
        fclose(in);
    sim_free(s);
    reg_clear(&reg);
    rule_set_free(rs);
    cfg_free(cfg);
    return rc ? rc : bad_lines ? 1 : 0;
usage:
    fprintf(stderr, "usage: anxinctl replay [--rules DIR] [--registry FILE.json|FILE.csv] "
                    "[--summary | --json] FILE.jsonl|-\n");
    return 2;
}

/* ---- export-journal --------------------------------------------------- */

static int export_record(void *arg, const struct jrnl_record *rec)
{
    (void)arg;
    cJSON *o = cJSON_CreateObject();
    char *topic = strndup(rec->topic, rec->topic_len);
    char *payload = strndup(rec->payload, rec->payload_len);
    if (!o || !topic || !payload) {
        cJSON_Delete(o);
        free(topic);
        free(payload);
        return ANX_ENOMEM;
    }
    cJSON_AddStringToObject(o, "topic", topic);
    cJSON_AddNumberToObject(o, "received", (double)rec->recv_ms);
    cJSON_AddStringToObject(o, "payload", payload);
    char *s = cJSON_PrintUnformatted(o);
    if (s)
        printf("%s\n", s);
    free(s);
    cJSON_Delete(o);
    free(topic);
    free(payload);
    return 0;
}

int ctl_cmd_export_journal(const struct ctl_opts *o, int argc, char **argv)
{
    const char *dir = NULL;
    struct cfg *cfg = NULL;
    if (argc > 2) {
        fprintf(stderr, "usage: anxinctl export-journal [DIR]   (JSON lines on stdout)\n");
        return 2;
    }
    if (argc == 2) {
        dir = argv[1];
    } else {
        struct cfg_diags diags = {0};
        cfg = ctl_load_config(ctl_conf_path(o), &diags, stderr);
        cfg_diags_free(&diags);
        if (!cfg) {
            fprintf(stderr, "anxinctl: give the journal directory or a valid -c CONF\n");
            return 2;
        }
        dir = cfg->journal_dir;
    }
    char err[300];
    size_t corrupt = 0;
    int rc = jrnl_read_dir(dir, 0, export_record, NULL, &corrupt, err, sizeof err);
    if (rc)
        fprintf(stderr, "anxinctl: %s\n", rc == ANX_ENOMEM ? "out of memory" : err);
    if (corrupt)
        fprintf(stderr, "anxinctl: %zu damaged part(s) of the journal skipped\n", corrupt);
    cfg_free(cfg);
    return rc ? 1 : 0;
}

/* ---- reload --------------------------------------------------------------- */

int ctl_cmd_reload(const struct ctl_opts *o, int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "usage: anxinctl reload\n");
        return 2;
    }
    /* Check first, so a mistake is shown here rather than only in the log
     * (anxind would refuse it anyway and keep running). */
    int rc = ctl_cmd_check(o, 1, (char *[]){"check", NULL});
    if (rc)
        return rc;
    struct cfg_diags diags = {0};
    struct cfg *c = ctl_load_config(ctl_conf_path(o), &diags, stderr);
    cfg_diags_free(&diags);
    if (!c)
        return 1;
    char path[4200], err[300];
    snprintf(path, sizeof path, "%s/anxind.pid", c->journal_dir);
    cfg_free(c);
    size_t len;
    char *text = fileio_read(path, 64, &len, err, sizeof err);
    long pid = text ? strtol(text, NULL, 10) : 0;
    free(text);
    if (pid <= 1 || kill((pid_t)pid, SIGHUP) != 0) {
        fprintf(stderr, "anxinctl: cannot signal anxind (%s): %s\n", path,
                pid <= 1 ? "no pid file; is anxind running?" : strerror(errno));
        return 1;
    }
    printf("sent SIGHUP to anxind (pid %ld); it logs what it applied\n", pid);
    return 0;
}
