/* snapshot.h - the rule engine's state on disk, so that windows and "for
 * 4h" conditions fire on time after a restart. One file, written whole to a
 * temporary name, synced and renamed; it names the journal record its state
 * includes, and the journal replays what came after. */
#ifndef ANXIN_SNAPSHOT_H
#define ANXIN_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Writes path atomically: "AXSN", version, jseq, length, data, CRC-32C.
 * Returns 0 or ANX_EIO with the reason in err. */
int snap_write(const char *path, uint64_t jseq, const uint8_t *data, size_t len, char *err,
               size_t errlen);

/* Reads a snapshot. Returns 0 with *data (malloc'd, caller frees), ANX_ENOENT
 * if there is none, or ANX_ECORRUPT/ANX_EIO with the reason in err. */
int snap_read(const char *path, uint64_t *jseq, uint8_t **data, size_t *len, char *err,
              size_t errlen);

/* Saving in the background, as redis saves its dataset: a forked child
 * builds the file from a copy-on-write picture of memory while the loop goes
 * on taking alarms (built in place, 120 MB of state at 100,000 devices held
 * the loop for 0.6 to 2 s every 30 s). The child runs only `build` and
 * snap_write, then _exit: no libuv, no Paho, no logging, no atexit handlers;
 * glibc's fork leaves malloc usable in it. */
struct snap_bg {
    pid_t pid;                  /* the child, 0 = none running */
    int err_fd;                 /* read end of the child's error text */
    uint64_t jseq;              /* what the running child saves */
};

/* Builds the snapshot's bytes (malloc'd, the child frees) or NULL when out
 * of memory. Runs in the child. */
typedef uint8_t *(*snap_build_fn)(void *arg, size_t *len);

/* Starts a child saving build(arg) to path as of jseq. Returns 0, ANX_EAGAIN
 * if one is still running, or ANX_EIO (fork or pipe failed; err says why). */
int snap_bg_start(struct snap_bg *bg, const char *path, uint64_t jseq, snap_build_fn build,
                  void *arg, char *err, size_t errlen);

/* Collects a finished child; with wait, waits for it. Returns 0 when none is
 * running or it is still running (*done false), or when it finished with the
 * file saved (*done true, *jseq its record); ANX_EIO when it failed (*done
 * true, the reason in err). */
int snap_bg_poll(struct snap_bg *bg, bool wait, bool *done, uint64_t *jseq, char *err,
                 size_t errlen);

#endif
