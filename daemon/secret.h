/* secret.h - resolving secrets named in the configuration (a file's first
 * line, or an environment variable), so no password sits in anxind.conf. */
#ifndef ANXIN_SECRET_H
#define ANXIN_SECRET_H

#include <stddef.h>

#include "config.h"

/* Resolves s. Returns 0 and *out (malloc'd, caller frees; NULL when the
 * secret is not configured at all), or a negative ANX_ code with a message
 * naming the file or variable in err (never the secret itself). */
int secret_resolve(const struct cfg_secret *s, char **out, char *err, size_t errlen);

/* libpq conninfo with password='...' appended (quoted as libpq expects), or
 * a copy of conninfo when password is NULL. Caller frees; NULL on ENOMEM. */
char *secret_conninfo(const char *conninfo, const char *password);

#endif
