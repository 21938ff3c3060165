/* rules_load.c - a rules directory into a checked rule set. */
#include "rules_load.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fileio.h"

#define RULE_FILE_MAX (16 * 1024 * 1024)

static void whole_dir_error(struct rule_diags *d, const char *dir, const char *msg)
{
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 8;
        struct rule_diag *ni = realloc(d->items, nc * sizeof *ni);
        if (!ni)
            return;
        d->items = ni;
        d->cap = nc;
    }
    struct rule_diag *x = &d->items[d->n++];
    memset(x, 0, sizeof *x);
    snprintf(x->file, sizeof x->file, "%s", dir);
    snprintf(x->msg, sizeof x->msg, "%s", msg);
    d->n_errors++;
}

struct rule_set *rules_load_dir(const char *dir, struct rule_diags *diags)
{
    char **names;
    size_t n;
    if (fileio_list(dir, ".rules", &names, &n) != 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "cannot read the rules directory: %s", strerror(errno));
        whole_dir_error(diags, dir, msg);
        return NULL;
    }
    struct rule_set *rs = rule_set_new();
    if (!rs || n == 0) {
        if (rs)
            whole_dir_error(diags, dir, "no rule files (*.rules) in this directory");
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        rule_set_free(rs);
        return NULL;
    }
    size_t errors_before = diags->n_errors;
    for (size_t i = 0; i < n; i++) {
        char path[4096], err[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        size_t len;
        char *text = fileio_read(path, RULE_FILE_MAX, &len, err, sizeof err);
        if (!text) {
            whole_dir_error(diags, path, err);
        } else {
            rule_parse(rs, path, text, len, diags);
            free(text);
        }
        free(names[i]);
    }
    free(names);
    if (diags->n_errors == errors_before)
        rule_check(rs, diags);
    if (diags->n_errors != errors_before) {
        rule_set_free(rs);
        return NULL;
    }
    return rs;
}
