/* ctl.h - the subcommands of anxinctl, one function each.
 *
 * Every command takes the parsed global options and its own argv (argv[0] is
 * the command name) and returns the process exit status: 0 success, 1 the
 * command ran and found a problem (bad rows, failed check), 2 usage error or
 * the database could not be reached. Normal output goes to stdout, problems
 * to stderr. */
#ifndef ANXIN_CTL_H
#define ANXIN_CTL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>

#include "config.h"

struct ctl_opts {
    const char *conf_path;      /* -c FILE; NULL = default, only read when needed */
    const char *db;             /* --db CONNINFO, else $ANXIN_DB, else from the config */
    const char *sql_dir;        /* --sql-dir DIR, else ANXIN_DATADIR "/sql" */
    int quiet;                  /* -q */
};

/* The configuration file the options name (or the default). */
const char *ctl_conf_path(const struct ctl_opts *o);

/* Reads and parses a configuration file; problems go to diags (read errors
 * to err). Returns the config or NULL. */
struct cfg *ctl_load_config(const char *path, struct cfg_diags *diags, FILE *err);

/* The configuration the options name, read quietly for the defaults it
 * gives (rules folder, UTC offset): NULL when it is missing or has errors
 * (`anxinctl check` is where those are shown). Free with cfg_free. */
struct cfg *ctl_config_quiet(const struct ctl_opts *o);

/* Terminal columns s takes: CJK characters take two, so byte-counting
 * printf widths would misalign a table of Chinese names. */
int ctl_text_width(const char *s);

/* Prints s left-aligned in `width` terminal columns and the gap to the
 * next; width 0 for a last column, which is not padded. */
void ctl_put_col(const char *s, int width);

/* Prints one CSV field, quoted as RFC 4180 asks when it needs to be,
 * followed by a comma, or a newline when it is the last of its row. */
void ctl_csv_field(const char *v, bool last);

/* "+08:00" for 480: a UTC offset in minutes as staff write it. */
void ctl_offset_text(int minutes, char out[static 8]);

/* Connects to the database named by the options (blocking), with the
 * session's time zone at the county's UTC offset ([anxind] utc_offset,
 * +08:00 without a configuration): times print as the county's clock, and
 * a time typed without an offset is read as one. Prints the reason to
 * stderr and returns NULL on failure. Caller frees with PQfinish. */
PGconn *ctl_connect(const struct ctl_opts *o);

/* "cli:<login>" (SUDO_USER first): who acted, for timelines and the audit. */
void ctl_actor(char *out, size_t len);

/* Appends to the audit trail as ctl_actor; a failure is a warning on
 * stderr (the change itself is already made). */
void ctl_audit(PGconn *db, const char *action, const char *target, const char *outcome,
               const char *detail_json);

int ctl_cmd_migrate(const struct ctl_opts *o, int argc, char **argv);
int ctl_cmd_import(const struct ctl_opts *o, int argc, char **argv);
int ctl_cmd_check(const struct ctl_opts *o, int argc, char **argv);
int ctl_cmd_alerts(const struct ctl_opts *o, int argc, char **argv);
int ctl_cmd_record(const struct ctl_opts *o, int argc, char **argv);
int ctl_cmd_ack(const struct ctl_opts *o, int argc, char **argv);
int ctl_cmd_resolve(const struct ctl_opts *o, int argc, char **argv);
int ctl_cmd_silence(const struct ctl_opts *o, int argc, char **argv);
int ctl_cmd_test_rules(const struct ctl_opts *o, int argc, char **argv);
int ctl_cmd_replay(const struct ctl_opts *o, int argc, char **argv);
int ctl_cmd_export_journal(const struct ctl_opts *o, int argc, char **argv);
int ctl_cmd_reload(const struct ctl_opts *o, int argc, char **argv);
int ctl_cmd_providers(const struct ctl_opts *o, int argc, char **argv);
int ctl_cmd_token(const struct ctl_opts *o, int argc, char **argv);
int ctl_cmd_report(const struct ctl_opts *o, int argc, char **argv);

#endif
