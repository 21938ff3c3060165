/* journal.h - the local write-ahead journal of received MQTT messages.
 *
 * Paho acknowledges a QoS 1 message to the broker as soon as our callback
 * returns, so the callback appends the message here first: once a message is
 * acknowledged it is on local disk, and a crash cannot lose it. The loop
 * advances the checkpoint when a message's effects are committed to
 * PostgreSQL; on start, everything after the checkpoint is replayed (the
 * consumers are idempotent, so replaying a little too much is harmless).
 *
 * Layout: a directory of segment files `<first-seq, 16 hex digits>.jnl` and a
 * `checkpoint` file. Each record is
 *     u32 magic 'AXJ1' | u32 crc32c/crc32 of everything after this field |
 *     u64 seq | i64 recv_ms | u16 topic_len | u32 payload_len | topic | payload
 * in little-endian. A torn or corrupt record at the tail of the newest segment
 * (a crash mid-write) is cut off at open; corruption anywhere else is
 * reported and the rest of that segment skipped, never fatal.
 *
 * Threads: jrnl_append may be called from one thread (Paho's) while the loop
 * thread calls jrnl_set_checkpoint; everything else is single-threaded
 * (before the loop starts or after it stops). */
#ifndef ANXIN_JOURNAL_H
#define ANXIN_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jrnl;

struct jrnl_record {
    uint64_t seq;               /* 1, 2, 3 ... never reused, survives restarts */
    int64_t recv_ms;            /* receive time, ms since the epoch */
    const char *topic;          /* not NUL-terminated; valid during the callback */
    size_t topic_len;
    const char *payload;
    size_t payload_len;
};

struct jrnl_options {
    const char *dir;            /* created (mode 0750) if missing */
    int64_t segment_bytes;      /* start a new segment beyond this size */
    bool fsync_always;          /* fdatasync after every append */
    int64_t keep_ms;            /* keep segments this long after their last write even
                                 * when checkpointed (recorded telemetry); 0 = no */
};

/* Opens (or creates) the journal. On failure returns a negative ANX_ code and
 * writes a message naming the path and the OS error into err. */
int jrnl_open(const struct jrnl_options *opt, struct jrnl **out, char *err, size_t errlen);

/* Closes files and frees the journal. NULL is a no-op. */
void jrnl_close(struct jrnl *j);

/* Appends one record and returns its seq in *out_seq. Thread-safe against
 * jrnl_set_checkpoint. Returns 0 or ANX_EIO (disk full, ...). */
int jrnl_append(struct jrnl *j, const char *topic, size_t topic_len,
                const void *payload, size_t payload_len, int64_t recv_ms,
                uint64_t *out_seq);

/* Calls cb for every intact record with seq > after_seq, in order. Stops
 * early if cb returns non-zero (and returns that value). Returns 0, or a
 * negative ANX_ code on I/O error. *n_corrupt (may be NULL) receives the
 * number of corrupt regions skipped. */
int jrnl_replay(struct jrnl *j, uint64_t after_seq,
                int (*cb)(void *arg, const struct jrnl_record *rec), void *arg,
                size_t *n_corrupt);

/* The last checkpoint stored (0 if none). */
uint64_t jrnl_checkpoint(const struct jrnl *j);

/* The seq of the newest record appended (0 if empty). */
uint64_t jrnl_last_seq(struct jrnl *j);

/* Records that every record with seq <= seq has its effects committed:
 * writes the checkpoint file atomically (write, fsync, rename) and deletes
 * segments whose records are all <= seq (never the segment being written).
 * A seq lower than the stored one is ignored. Returns 0 or ANX_EIO. */
int jrnl_set_checkpoint(struct jrnl *j, uint64_t seq);

/* Reads the journal in dir without opening it for writing: no lock, no
 * repair, so it works beside a running anxind (records it appends meanwhile
 * are not seen). For exporting recorded telemetry. Same callback contract
 * as jrnl_replay; returns 0 or a negative ANX_ code with the reason in err. */
int jrnl_read_dir(const char *dir, uint64_t after_seq,
                  int (*cb)(void *arg, const struct jrnl_record *rec), void *arg,
                  size_t *n_corrupt, char *err, size_t errlen);

/* Bytes currently held in segment files. */
uint64_t jrnl_disk_bytes(struct jrnl *j);

#endif
