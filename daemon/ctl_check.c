/* ctl_check.c - `anxinctl check`: validate the configuration before a
 * (re)start or SIGHUP, naming file, line and problem for each error. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "templates_load.h"
#include "rules_load.h"
#include "secret.h"

/* Checks that a configured secret can be read, without printing it. */
static int check_secret(const char *where, const struct cfg_secret *s, const char *file)
{
    char *v = NULL, err[300];
    if (secret_resolve(s, &v, err, sizeof err) != 0) {
        fprintf(stderr, "%s: error: %s: %s\n", file, where, err);
        return 1;
    }
    if (v) {
        memset(v, 0, strlen(v));
        free(v);
    }
    return 0;
}

/* Prints the diagnostics of a rules directory; returns 1 on errors. */
static int check_rules(const struct ctl_opts *o, const char *dir)
{
    struct rule_diags rd = {0};
    struct rule_set *rs = rules_load_dir(dir, &rd);
    size_t rwarn = 0;
    for (size_t i = 0; i < rd.n; i++) {
        char line[600];
        rule_diag_format(&rd.items[i], line, sizeof line);
        fprintf(stderr, "%s\n", line);
        rwarn += rd.items[i].warning;
    }
    int bad = 0;
    if (!rs) {
        fprintf(stderr, "%s: %zu error(s) in the rules: anxind would not start with them, and "
                        "a reload (SIGHUP) would keep the previous rules\n", dir, rd.n_errors);
        bad = 1;
    } else if (!o->quiet) {
        printf("%s: OK (%zu rule(s), %zu chain(s)%s)\n", dir, rs->n_rules, rs->n_chains,
               rwarn ? ", see warnings" : "");
    }
    rule_diags_free(&rd);
    rule_set_free(rs);
    return bad;
}

static void print_template_problem(void *arg, bool warning, const char *path,
                                   const char *msg)
{
    (void)arg;
    fprintf(stderr, "%s: %s: %s\n", path, warning ? "warning" : "error", msg);
}

/* The message templates: errors fail the check, warnings are shown. */
static int check_templates(const struct ctl_opts *o, const char *dir)
{
    struct mtpl_set *set = calloc(1, sizeof *set);
    bool missing;
    if (!set)
        return 1;
    int rc = templates_load_dir(dir, set, &missing, print_template_problem, NULL);
    if (rc == 0 && !o->quiet) {
        if (missing)
            printf("%s: no templates folder; SMS use the rules' messages, calls the "
                   "built-in text\n", dir);
        else
            printf("%s: OK (%zu template(s))\n", dir, set->n);
    } else if (rc != 0) {
        fprintf(stderr, "%s: templates with errors: anxind would not start with them, and a "
                        "reload would keep the previous ones\n", dir);
    }
    mtpl_free(set);
    free(set);
    return rc ? 1 : 0;
}

int ctl_cmd_check(const struct ctl_opts *o, int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--rules") == 0)
        return check_rules(o, argv[2]);     /* only a rules directory */
    const char *path = argc > 1 ? argv[1] : ctl_conf_path(o);
    if (argc > 2) {
        fprintf(stderr, "usage: anxinctl check [CONF]  |  anxinctl check --rules DIR\n");
        return 2;
    }
    struct cfg_diags diags = {0};
    struct cfg *c = ctl_load_config(path, &diags, stderr);
    size_t warnings = 0;
    for (size_t i = 0; i < diags.n; i++) {
        char line[400];
        cfg_diag_format(path, &diags.items[i], line, sizeof line);
        fprintf(stderr, "%s\n", line);
        warnings += diags.items[i].warning;
    }
    size_t errors = diags.n_errors;
    cfg_diags_free(&diags);
    if (!c) {
        fprintf(stderr, "%s: %zu error(s): anxind would not start with this file, and a "
                        "reload (SIGHUP) would keep the previous configuration\n",
                path, errors ? errors : 1);
        return 1;
    }
    int bad = check_secret("[database] password", &c->db_password, path);
    bad |= check_secret("[mqtt] password", &c->mqtt_password, path);
    for (size_t i = 0; i < c->n_providers; i++) {
        char where[80];
        snprintf(where, sizeof where, "[provider \"%s\"] token", c->providers[i].name);
        bad |= check_secret(where, &c->providers[i].token, path);
    }
    if (!o->quiet && !bad)
        printf("%s: OK (%zu provider(s), %zu topic filter(s)%s)\n", path, c->n_providers,
               c->mqtt_n_topics, warnings ? ", see warnings" : "");

    /* The rules and templates the daemon would load with this configuration. */
    bad |= check_rules(o, c->rules_dir);
    bad |= check_templates(o, c->templates_dir);
    cfg_free(c);
    return bad ? 1 : 0;
}
