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

/* What a snapshot is made of: `size` returns how many bytes `write` will
 * hand to the sink (the header carries the length before the data), and
 * `write` hands them over in order, in pieces, returning 0, ANX_ENOMEM, or
 * the sink's first error (the engine's eng_snapshot_size/_write fit). */
typedef int (*snap_sink_fn)(void *sink_arg, const void *data, size_t len);
struct snap_source {
    size_t (*size)(void *arg);
    int (*write)(void *arg, snap_sink_fn sink, void *sink_arg);
    void *arg;
};

/* Writes path atomically: "AXSN", version, jseq, length, data, CRC-32C.
 *
 * How it writes matters to the other programs on the machine (bench/results,
 * latency): a broker or database that fsyncs a small file while 100 MB of
 * ours is dirty, or while a 100 MB file of ours is being freed, waits for
 * it, and a one-threaded broker then holds every alarm that long. So the data
 * goes to disk a megabyte at a time as it is produced (and leaves the page
 * cache, as it is only read at start-up; with keep_cached, for a save at a
 * stop, it stays there for the start that follows: a gigabyte at a million
 * devices reads from disk in about 2 s), and the file replaced is not freed
 * but kept as path.spare, whose blocks the next save overwrites in place:
 * no blocks are allocated or freed while the size stays the same. The cost
 * is a second file of the same size on disk.
 *
 * Returns 0, or ANX_EIO (the reason in err; path is untouched, unless only
 * the folder's sync after the rename failed) or ANX_ENOMEM (the source's).
 * snap_write saves bytes already in memory. */
int snap_save(const char *path, uint64_t jseq, const struct snap_source *src, bool keep_cached,
              char *err, size_t errlen);
int snap_write(const char *path, uint64_t jseq, const uint8_t *data, size_t len, char *err,
               size_t errlen);

/* Reads a snapshot. Returns 0 with *data (malloc'd, caller frees), ANX_ENOENT
 * if there is none, or ANX_ECORRUPT/ANX_EIO with the reason in err. */
int snap_read(const char *path, uint64_t *jseq, uint8_t **data, size_t *len, char *err,
              size_t errlen);

/* Saving in the background, as redis saves its dataset: a forked child
 * builds the file from a copy-on-write picture of memory while the loop goes
 * on taking alarms (built in place, 120 MB of state at 100,000 devices held
 * the loop for 0.6 to 2 s every 30 s). The child runs only snap_save with
 * the source, then _exit: no libuv, no Paho, no logging, no atexit handlers;
 * glibc's fork leaves malloc usable in it. */
struct snap_bg {
    pid_t pid;                  /* the child, 0 = none running */
    int err_fd;                 /* read end of the child's error text */
    uint64_t jseq;              /* what the running child saves */
};

/* Starts a child saving src to path as of jseq (src is used in the child
 * only, on its copy of memory). Returns 0, ANX_EAGAIN if one is still
 * running, or ANX_EIO (fork or pipe failed; err says why). */
int snap_bg_start(struct snap_bg *bg, const char *path, uint64_t jseq,
                  const struct snap_source *src, char *err, size_t errlen);

/* Ends a child still saving, and reaps it: a stop is about to save newer
 * state itself. The child was writing the spare, so the file in use is as
 * it was. Nothing happens when no child runs. */
void snap_bg_cancel(struct snap_bg *bg);

/* Collects a finished child; with wait, waits for it. Returns 0 when none is
 * running or it is still running (*done false), or when it finished with the
 * file saved (*done true, *jseq its record); ANX_EIO when it failed (*done
 * true, the reason in err). */
int snap_bg_poll(struct snap_bg *bg, bool wait, bool *done, uint64_t *jseq, char *err,
                 size_t errlen);

#endif
