/* fileio.h - reading small files whole (configuration, registry imports). */
#ifndef ANXIN_FILEIO_H
#define ANXIN_FILEIO_H

#include <stddef.h>

/* Reads path into a malloc'd, NUL-terminated buffer (caller frees) and its
 * length into *len. On failure returns NULL with "cannot open PATH: reason"
 * in err. */
char *fileio_read(const char *path, size_t *len, char *err, size_t errlen);

#endif
