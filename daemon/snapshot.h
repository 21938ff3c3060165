/* snapshot.h - the rule engine's state on disk, so that windows and "for
 * 4h" conditions fire on time after a restart. One file, written whole to a
 * temporary name, synced and renamed; it names the journal record its state
 * includes, and the journal replays what came after. */
#ifndef ANXIN_SNAPSHOT_H
#define ANXIN_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

/* Writes path atomically: "AXSN", version, jseq, length, data, CRC-32C.
 * Returns 0 or ANX_EIO with the reason in err. */
int snap_write(const char *path, uint64_t jseq, const uint8_t *data, size_t len, char *err,
               size_t errlen);

/* Reads a snapshot. Returns 0 with *data (malloc'd, caller frees), ANX_ENOENT
 * if there is none, or ANX_ECORRUPT/ANX_EIO with the reason in err. */
int snap_read(const char *path, uint64_t *jseq, uint8_t **data, size_t *len, char *err,
              size_t errlen);

#endif
