/* fileio.h - reading small files whole (configuration, registry imports). */
#ifndef ANXIN_FILEIO_H
#define ANXIN_FILEIO_H

#include <stddef.h>

/* Reads path into a malloc'd, NUL-terminated buffer (caller frees) and its
 * length into *len; a file larger than max_bytes (0 = no limit) is refused.
 * On failure returns NULL with "cannot read PATH: reason" in err. */
char *fileio_read(const char *path, size_t max_bytes, size_t *len, char *err, size_t errlen);

#endif
