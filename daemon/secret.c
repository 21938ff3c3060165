/* secret.c - read a secret from a file or the environment. */
#include "secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

int secret_resolve(const struct cfg_secret *s, char **out, char *err, size_t errlen)
{
    *out = NULL;
    if (s->env) {
        const char *v = getenv(s->env);
        if (!v || !*v) {
            snprintf(err, errlen, "environment variable %s is not set or empty", s->env);
            return ANX_ENOENT;
        }
        *out = strdup(v);
        return *out ? 0 : ANX_ENOMEM;
    }
    if (!s->file)
        return 0;
    FILE *f = fopen(s->file, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read secret file %s: %s", s->file, strerror(errno));
        return ANX_EIO;
    }
    char line[4096];
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        snprintf(err, errlen, "secret file %s is empty", s->file);
        return ANX_EINVAL;
    }
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    if (!*line) {
        snprintf(err, errlen, "secret file %s starts with an empty line", s->file);
        return ANX_EINVAL;
    }
    *out = strdup(line);
    return *out ? 0 : ANX_ENOMEM;
}

char *secret_conninfo(const char *conninfo, const char *password)
{
    if (!password)
        return strdup(conninfo);
    size_t n = strlen(conninfo) + 2 * strlen(password) + 16;
    char *s = malloc(n);
    if (!s)
        return NULL;
    size_t k = (size_t)snprintf(s, n, "%s password='", conninfo);
    for (const char *p = password; *p; p++) {
        if (*p == '\'' || *p == '\\')
            s[k++] = '\\';
        s[k++] = *p;
    }
    s[k++] = '\'';
    s[k] = '\0';
    return s;
}
