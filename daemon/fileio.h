/* fileio.h - reading small files whole (configuration, registry imports). */
#ifndef ANXIN_FILEIO_H
#define ANXIN_FILEIO_H

#include <stddef.h>

/* Reads path into a malloc'd, NUL-terminated buffer (caller frees) and its
 * length into *len; a file larger than max_bytes (0 = no limit) is refused.
 * On failure returns NULL with "cannot read PATH: reason" in err. */
char *fileio_read(const char *path, size_t max_bytes, size_t *len, char *err, size_t errlen);

/* The names of the files in dir ending in suffix (hidden ones left out),
 * sorted, into *names (malloc'd array of malloc'd strings; free with
 * fileio_free_list) and *n. Returns 0, or -1 with errno set when dir
 * cannot be read. */
int fileio_list(const char *dir, const char *suffix, char ***names, size_t *n);
void fileio_free_list(char **names, size_t n);

#endif
