/* anxinctl.c - the command line for operators and staff: global options and
 * dispatch to the subcommands in ctl_*.c. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

struct ctl_command {
    const char *name;
    int (*fn)(const struct ctl_opts *o, int argc, char **argv);
    const char *usage;
};

static const struct ctl_command commands[] = {
    {"migrate", ctl_cmd_migrate, "migrate [--status]      apply the schema migrations in order"},
    {"import", ctl_cmd_import, "import [--dry-run] FILE  upsert elders, contacts, devices (.json or .csv)"},
    {"check", ctl_cmd_check,
     "check [CONF] | check --rules DIR  validate the configuration and its rules"},
    {"test-rules", ctl_cmd_test_rules, "test-rules [--rules DIR] FILE...  run rule tests"},
    {"replay", ctl_cmd_replay,
     "replay [--rules DIR] [--registry FILE] [--summary|--json] FILE.jsonl  "
     "rules over recorded telemetry"},
    {"export-journal", ctl_cmd_export_journal,
     "export-journal [DIR]     recorded telemetry as JSON lines, for replay"},
    {"providers", ctl_cmd_providers,
     "providers                the notification providers, their channels and report addresses"},
    {"reload", ctl_cmd_reload, "reload                   check, then tell anxind to reload"},
    {"alerts", ctl_cmd_alerts, "alerts [--state S]       list alerts (open, acknowledged, resolved, all)"},
    {"record", ctl_cmd_record, "record ID [--format text|json|csv]  the handling record of one alert"},
    {"ack", ctl_cmd_ack, "ack ID [--note TEXT]     take responsibility: paging stops"},
    {"resolve", ctl_cmd_resolve, "resolve ID --outcome X --note TEXT  record how it ended"},
    {"silence", ctl_cmd_silence, "silence add|list|cancel  hold back alerts (hospital, repairs)"},
    {"report", ctl_cmd_report,
     "report response [--month YYYY-MM] [--township NAME] [--format F]  response times "
     "against the audit's 60 s / 180 s targets"},
    {"token", ctl_cmd_token,
     "token create --role viewer|operator|admin --name NAME [--expires 30d] | list | "
     "revoke NAME  bearer tokens of the HTTP API"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: anxinctl [-c CONF] [--db CONNINFO] [--sql-dir DIR] [-q] COMMAND [ARGS]\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %s\n", commands[i].usage);
    fprintf(f, "\nThe database is --db, else $ANXIN_DB, else [database] in the configuration\n"
               "(default " ANXIN_SYSCONFDIR "/anxind.conf).\n");
}

int main(int argc, char **argv)
{
    struct ctl_opts o = {0};
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"db", required_argument, NULL, 'd'},
        {"sql-dir", required_argument, NULL, 's'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    /* '+': stop at the first non-option, the command's own options follow it. */
    while ((c = getopt_long(argc, argv, "+c:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': o.conf_path = optarg; break;
        case 'd': o.db = optarg; break;
        case 's': o.sql_dir = optarg; break;
        case 'q': o.quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    if (!o.db)
        o.db = getenv("ANXIN_DB");
    if (!o.sql_dir)
        o.sql_dir = ANXIN_DATADIR "/sql";

    const char *name = argv[optind];
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].name, name) == 0) {
            int first = optind;
            optind = 0;     /* GNU getopt: re-initialise for the command's own argv */
            return commands[i].fn(&o, argc - first, argv + first);
        }
    }
    fprintf(stderr, "anxinctl: unknown command \"%s\"\n\n", name);
    usage(stderr);
    return 2;
}
