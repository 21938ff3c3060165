/* templates_load.h - reading the message templates folder (every *.txt,
 * see msgtmpl.h) for anxind and anxinctl alike. */
#ifndef ANXIN_TEMPLATES_LOAD_H
#define ANXIN_TEMPLATES_LOAD_H

#include <stdbool.h>

#include "msgtmpl.h"

typedef void (*templates_report_fn)(void *arg, bool warning, const char *path, const char *msg);

/* Loads every *.txt file of dir into out (which must be empty). A folder
 * that does not exist means no templates: returns 0 with *missing set.
 * Every problem goes to report. Returns 0, or ANX_EPARSE when any file has
 * an error (out is left empty, so a caller keeps its previous set). */
int templates_load_dir(const char *dir, struct mtpl_set *out, bool *missing,
                       templates_report_fn report, void *arg);

#endif
