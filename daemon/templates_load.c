/* templates_load.c - the message templates folder into a set (see
 * templates_load.h). */
#include "templates_load.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "err.h"
#include "fileio.h"

int templates_load_dir(const char *dir, struct mtpl_set *out, bool *missing,
                       templates_report_fn report, void *arg)
{
    char **names;
    size_t n;
    *missing = false;
    if (fileio_list(dir, ".txt", &names, &n) != 0) {
        if (errno == ENOENT) {
            *missing = true;
            return 0;
        }
        char msg[200];
        snprintf(msg, sizeof msg, "cannot read the templates folder: %s", strerror(errno));
        report(arg, false, dir, msg);
        return ANX_EPARSE;
    }
    int errors = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096], err[400], warn[400];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        size_t len;
        char *text = fileio_read(path, 64 * 1024, &len, err, sizeof err);
        if (!text) {
            report(arg, false, path, err);
            errors++;
            continue;
        }
        if (mtpl_add(out, names[i], text, len, err, sizeof err, warn, sizeof warn) != 0) {
            report(arg, false, path, err);
            errors++;
        } else if (warn[0]) {
            report(arg, true, path, warn);
        }
        free(text);
    }
    fileio_free_list(names, n);
    if (errors) {
        mtpl_free(out);
        return ANX_EPARSE;
    }
    return 0;
}
