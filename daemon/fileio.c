/* fileio.c - read a file whole. */
#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *fileio_read(const char *path, size_t max_bytes, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "out of memory reading %s", path);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
        if (max_bytes && n > max_bytes) {
            free(buf);
            fclose(f);
            snprintf(err, errlen, "cannot read %s: larger than %zu bytes", path, max_bytes);
            return NULL;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int fileio_list(const char *dir, const char *suffix, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    DIR *dh = opendir(dir);
    if (!dh)
        return -1;
    size_t sl = strlen(suffix);
    struct dirent *de;
    while ((de = readdir(dh))) {
        size_t l = strlen(de->d_name);
        if (l <= sl || strcmp(de->d_name + l - sl, suffix) != 0 || de->d_name[0] == '.')
            continue;
        char **nn = realloc(*names, (*n + 1) * sizeof *nn);
        if (!nn)
            break;
        *names = nn;
        if (!((*names)[*n] = strdup(de->d_name)))
            break;
        (*n)++;
    }
    closedir(dh);
    if (*n)
        qsort(*names, *n, sizeof **names, by_name);
    return 0;
}

void fileio_free_list(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}
