/* test_journal.c - unit tests for the write-ahead journal (daemon/journal.c)
 * and its checksum (lib/crc32c.c): round trips, segment rolling and deletion,
 * the checkpoint file, torn and corrupt data, a failing disk, a concurrent
 * checkpointer, and a writer killed with SIGKILL mid-stream. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "err.h"
#include "journal.h"

#define BIG_PAYLOAD 70000               /* beyond the 64 KiB of a typical record */

static bool gen_big = true;             /* every 50th record has BIG_PAYLOAD bytes */

/* ---- fixture ---------------------------------------------------------- */

struct fx {
    char root[64];                      /* mkdtemp directory, removed afterwards */
    char dir[128];                      /* root/j, the journal (created by jrnl_open) */
    char err[256];
    struct jrnl *j;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);

    if (!f)
        return -1;
    strcpy(f->root, "/tmp/anxin-jrnl-XXXXXX");
    if (!mkdtemp(f->root)) {
        free(f);
        return -1;
    }
    snprintf(f->dir, sizeof f->dir, "%s/j", f->root);
    *state = f;
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fx *f = *state;

    jrnl_close(f->j);
    chmod(f->root, 0700);
    nftw(f->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static struct jrnl *open_j(struct fx *f, int64_t segment_bytes, bool fsync_always)
{
    struct jrnl_options opt = { f->dir, segment_bytes, fsync_always, 0 };
    int rc;

    jrnl_close(f->j);
    f->j = NULL;
    rc = jrnl_open(&opt, &f->j, f->err, sizeof f->err);
    if (rc != 0)
        print_error("jrnl_open: %s\n", f->err);
    assert_int_equal(rc, 0);
    assert_non_null(f->j);
    return f->j;
}

static void close_j(struct fx *f)
{
    jrnl_close(f->j);
    f->j = NULL;
}

/* ---- deterministic records: the content follows from the seq ------------- */

static size_t gen_payload_len(uint64_t id)
{
    if (gen_big && id % 50 == 25)
        return BIG_PAYLOAD;
    if (id % 13 == 0)
        return 0;
    return (size_t)(id * 37 % 300) + 2;
}

static void gen_payload(uint64_t id, unsigned char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)((id * 31 + i * 7) % 251);
    if (len > 0)
        buf[0] = buf[len - 1] = 0;      /* binary payloads with NULs */
}

static size_t gen_topic(uint64_t id, char *buf, size_t cap)
{
    if (id % 17 == 0)
        return 0;
    return (size_t)snprintf(buf, cap, "anxin/v1/dev-%" PRIu64 "/telemetry", id);
}

static int64_t gen_recv(uint64_t id)
{
    return (int64_t)id * 1000 - 5000;   /* negative for the first few */
}

/* Appends the generated record for id; 0 or the ANX_ code. */
static int append_id(struct jrnl *j, uint64_t id, uint64_t *seq)
{
    static unsigned char payload[BIG_PAYLOAD];
    char topic[64];
    size_t plen = gen_payload_len(id), tlen = gen_topic(id, topic, sizeof topic);

    gen_payload(id, payload, plen);
    return jrnl_append(j, topic, tlen, payload, plen, gen_recv(id), seq);
}

/* Appends n generated records, checking each gets the next seq. */
static void append_n(struct jrnl *j, int n)
{
    for (int i = 0; i < n; i++) {
        uint64_t want = jrnl_last_seq(j) + 1, seq = 0;
        assert_int_equal(append_id(j, want, &seq), 0);
        assert_int_equal(seq, want);
        assert_int_equal(jrnl_last_seq(j), want);
    }
}

/* Whether rec is exactly what append_id(rec->seq) wrote. */
static bool rec_ok(const struct jrnl_record *rec)
{
    static unsigned char payload[BIG_PAYLOAD];
    char topic[64];
    size_t plen = gen_payload_len(rec->seq), tlen = gen_topic(rec->seq, topic, sizeof topic);

    gen_payload(rec->seq, payload, plen);
    return rec->recv_ms == gen_recv(rec->seq) && rec->topic_len == tlen &&
           rec->payload_len == plen && memcmp(rec->topic, topic, tlen) == 0 &&
           (plen == 0 || memcmp(rec->payload, payload, plen) == 0);
}

struct coll {
    uint64_t *seqs;
    size_t n, cap;
    size_t mismatches;
    uint64_t stop_at;                   /* return 42 after this seq (0: never) */
};

static int collect(void *arg, const struct jrnl_record *rec)
{
    struct coll *c = arg;

    if (!rec_ok(rec))
        c->mismatches++;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->seqs = realloc(c->seqs, c->cap * sizeof *c->seqs);
        if (!c->seqs)
            abort();
    }
    c->seqs[c->n++] = rec->seq;
    return c->stop_at && rec->seq == c->stop_at ? 42 : 0;
}

/* Replays after `after` and checks the result is exactly from..to with
 * intact contents and no corruption. */
static void expect_range(struct jrnl *j, uint64_t after, uint64_t from, uint64_t to)
{
    struct coll c = { 0 };
    size_t bad = 99;

    assert_int_equal(jrnl_replay(j, after, collect, &c, &bad), 0);
    assert_int_equal(bad, 0);
    assert_int_equal(c.mismatches, 0);
    assert_int_equal(c.n, to >= from ? to - from + 1 : 0);
    for (size_t i = 0; i < c.n; i++)
        assert_int_equal(c.seqs[i], from + i);
    free(c.seqs);
}

/* ---- files ------------------------------------------------------------ */

/* Bytes of whole records at the start of a segment file, by the layout in
 * journal.h: while a segment is being written it is mapped and longer than
 * its records (zeros follow them), so the file's length says less. */
static off_t records_size(const char *path)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    unsigned char h[30];
    off_t off = 0;

    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    while (off + 30 <= st.st_size && pread(fd, h, 30, off) == 30 &&
           memcmp(h, "AXJ1", 4) == 0) {
        off_t total = 30 + (h[24] | h[25] << 8) +
                      (off_t)((uint32_t)h[26] | (uint32_t)h[27] << 8 | (uint32_t)h[28] << 16 |
                              (uint32_t)h[29] << 24);
        if (off + total > st.st_size)
            break;
        off += total;
    }
    close(fd);
    return off;
}

struct seginfo {
    uint64_t first;
    off_t size;                         /* records_size */
};

static int seginfo_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct seginfo *)a)->first, y = ((const struct seginfo *)b)->first;

    return x < y ? -1 : x > y;
}

/* The segment files in dir, sorted; returns how many (at most max). */
static size_t list_segs(const char *dir, struct seginfo *out, size_t max)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        char path[512];
        struct stat st;
        size_t len = strlen(de->d_name);
        if (len != 20 || strcmp(de->d_name + 16, ".jnl") != 0)
            continue;
        assert_true(n < max);
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        assert_int_equal(stat(path, &st), 0);
        out[n].first = strtoull(de->d_name, NULL, 16);
        out[n].size = records_size(path);
        n++;
    }
    closedir(d);
    qsort(out, n, sizeof *out, seginfo_cmp);
    return n;
}

static uint64_t segs_bytes(const struct seginfo *s, size_t n)
{
    uint64_t sum = 0;

    for (size_t i = 0; i < n; i++)
        sum += (uint64_t)s[i].size;
    return sum;
}

static void seg_path(const struct fx *f, uint64_t first, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%016" PRIx64 ".jnl", f->dir, first);
}

static off_t file_size(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static void append_bytes(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_APPEND);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

/* ---- CRC-32C ---------------------------------------------------------- */

/* The definition, one bit at a time, to check the table-driven version. */
static uint32_t crc_bitwise(const unsigned char *p, size_t len)
{
    uint32_t crc = 0xffffffffu;

    while (len--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void test_crc32c(void **state)
{
    unsigned char buf[512];
    uint32_t x = 12345;

    (void)state;
    /* RFC 3720 B.4 / CRC catalogue CRC-32/ISCSI check value */
    assert_int_equal(crc32c("123456789", 9), 0xe3069283u);
    assert_int_equal(crc32c(NULL, 0), 0);
    /* RFC 3720 B.4 test vectors: 32 bytes of zeros, of ones */
    memset(buf, 0, 32);
    assert_int_equal(crc32c(buf, 32), 0x8a9136aau);
    memset(buf, 0xff, 32);
    assert_int_equal(crc32c(buf, 32), 0x62a8ab43u);
    /* every table entry, through every single byte */
    for (unsigned b = 0; b < 256; b++) {
        unsigned char c = (unsigned char)b;
        assert_int_equal(crc32c(&c, 1), crc_bitwise(&c, 1));
    }
    for (size_t len = 0; len <= sizeof buf; len += 7) {
        for (size_t i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            buf[i] = (unsigned char)(x >> 16);
        }
        uint32_t whole = crc32c(buf, len);
        assert_int_equal(whole, crc_bitwise(buf, len));
        for (size_t cut = 0; cut <= len; cut += 5)
            assert_int_equal(crc32c_update(crc32c_update(0, buf, cut), buf + cut, len - cut),
                             whole);
    }
}

/* ---- journal ---------------------------------------------------------- */

static void test_round_trip(void **state)
{
    struct fx *f = *state;
    struct jrnl *j = open_j(f, 64 << 20, false);
    struct seginfo s[8];
    size_t n;

    assert_int_equal(jrnl_last_seq(j), 0);
    assert_int_equal(jrnl_checkpoint(j), 0);
    assert_int_equal(jrnl_disk_bytes(j), 0);
    expect_range(j, 0, 1, 0);
    append_n(j, 120);                   /* includes empty, NUL-laden and 70 kB payloads */
    expect_range(j, 0, 1, 120);
    n = list_segs(f->dir, s, 8);
    assert_int_equal(n, 1);
    assert_int_equal(s[0].first, 1);
    assert_int_equal(jrnl_disk_bytes(j), segs_bytes(s, n));
}

static int check_raw(void *arg, const struct jrnl_record *rec)
{
    const char topic[] = { 'a', '\0', 'b' };
    const unsigned char pl[] = { 0, 0, 0xff, 0, 1 };
    int *hits = arg;

    assert_int_equal(rec->seq, 1);
    assert_true(rec->recv_ms == INT64_MIN);
    assert_int_equal(rec->topic_len, 3);
    assert_memory_equal(rec->topic, topic, 3);
    assert_int_equal(rec->payload_len, 5);
    assert_memory_equal(rec->payload, pl, 5);
    (*hits)++;
    return 0;
}

static void test_binary_record(void **state)
{
    struct fx *f = *state;
    struct jrnl *j = open_j(f, 64 << 20, true);
    const char topic[] = { 'a', '\0', 'b' };
    const unsigned char pl[] = { 0, 0, 0xff, 0, 1 };
    uint64_t seq = 0;
    int hits = 0;

    assert_int_equal(jrnl_append(j, topic, 3, pl, 5, INT64_MIN, &seq), 0);
    assert_int_equal(seq, 1);
    open_j(f, 64 << 20, true);
    assert_int_equal(jrnl_replay(f->j, 0, check_raw, &hits, NULL), 0);
    assert_int_equal(hits, 1);
}

static void test_replay_after(void **state)
{
    struct fx *f = *state;
    struct jrnl *j = open_j(f, 2000, false);
    struct coll c = { .stop_at = 10 };

    append_n(j, 30);
    expect_range(j, 7, 8, 30);
    expect_range(j, 29, 30, 30);
    expect_range(j, 30, 1, 0);
    expect_range(j, UINT64_MAX, 1, 0);
    /* the callback stops the replay and its value comes back */
    assert_int_equal(jrnl_replay(j, 0, collect, &c, NULL), 42);
    assert_int_equal(c.n, 10);
    assert_int_equal(c.seqs[9], 10);
    free(c.seqs);
}

static void test_seq_survives_reopen(void **state)
{
    struct fx *f = *state;

    append_n(open_j(f, 64 << 20, false), 5);
    close_j(f);
    assert_int_equal(jrnl_last_seq(open_j(f, 64 << 20, false)), 5);
    append_n(f->j, 3);
    assert_int_equal(jrnl_last_seq(f->j), 8);
    open_j(f, 64 << 20, false);
    assert_int_equal(jrnl_last_seq(f->j), 8);
    expect_range(f->j, 0, 1, 8);
}

static void test_segments_and_checkpoint(void **state)
{
    struct fx *f = *state;
    const int64_t segsz = 1000;
    struct jrnl *j = open_j(f, segsz, false);
    struct seginfo before[128], after[128];
    size_t nb, na, k;
    const uint64_t ck = 33;

    append_n(j, 60);
    nb = list_segs(f->dir, before, 128);
    assert_true(nb >= 10);
    assert_int_equal(before[0].first, 1);
    for (size_t i = 0; i < nb; i++) {
        /* only a lone record makes a segment outgrow the limit */
        if (before[i].size > segsz)
            assert_true(i + 1 < nb && before[i + 1].first == before[i].first + 1);
    }
    assert_int_equal(jrnl_disk_bytes(j), segs_bytes(before, nb));

    assert_int_equal(jrnl_set_checkpoint(j, ck), 0);
    assert_int_equal(jrnl_checkpoint(j), ck);
    na = list_segs(f->dir, after, 128);
    /* exactly the segments whose records are all <= ck are gone */
    for (k = 0; k + 1 < nb && before[k + 1].first - 1 <= ck; k++)
        ;
    assert_true(k > 0);
    assert_int_equal(na, nb - k);
    for (size_t i = 0; i < na; i++)
        assert_int_equal(after[i].first, before[i + k].first);
    assert_true(after[0].first <= ck + 1);
    assert_int_equal(jrnl_disk_bytes(j), segs_bytes(after, na));
    expect_range(j, ck, ck + 1, 60);

    /* everything committed: only the segment being written stays */
    assert_int_equal(jrnl_set_checkpoint(j, 60), 0);
    na = list_segs(f->dir, after, 128);
    assert_int_equal(na, 1);
    assert_int_equal(after[0].first, before[nb - 1].first);
    assert_int_equal(jrnl_disk_bytes(j), segs_bytes(after, na));
    expect_range(j, 0, before[nb - 1].first, 60);
    append_n(j, 5);
    expect_range(j, 60, 61, 65);
    close_j(f);
    expect_range(open_j(f, segsz, false), 60, 61, 65);
}

static void test_checkpoint_file(void **state)
{
    struct fx *f = *state;
    struct jrnl *j = open_j(f, 64 << 20, true);
    char path[256];
    int fd;

    append_n(j, 10);
    assert_int_equal(jrnl_set_checkpoint(j, 4), 0);
    assert_int_equal(jrnl_checkpoint(j), 4);
    assert_int_equal(jrnl_set_checkpoint(j, 2), 0);      /* lower: ignored */
    assert_int_equal(jrnl_checkpoint(j), 4);
    assert_int_equal(jrnl_set_checkpoint(j, 11), ANX_EINVAL);  /* beyond the last seq */
    assert_int_equal(jrnl_checkpoint(j), 4);
    assert_int_equal(jrnl_checkpoint(open_j(f, 64 << 20, true)), 4);
    assert_int_equal(jrnl_set_checkpoint(f->j, 3), 0);
    assert_int_equal(jrnl_set_checkpoint(f->j, 7), 0);
    close_j(f);

    /* a leftover temporary file from a crash is ignored and removed */
    snprintf(path, sizeof path, "%s/checkpoint.tmp", f->dir);
    fd = open(path, O_WRONLY | O_CREAT, 0640);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "junk", 4), 4);
    close(fd);
    assert_int_equal(jrnl_checkpoint(open_j(f, 64 << 20, true)), 7);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(jrnl_last_seq(f->j), 10);
    close_j(f);

    /* a damaged checkpoint means replay everything: 0 */
    snprintf(path, sizeof path, "%s/checkpoint", f->dir);
    fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "8", 1, 25), 1);          /* last digit: 7 -> 8 */
    close(fd);
    assert_int_equal(jrnl_checkpoint(open_j(f, 64 << 20, true)), 0);
    assert_int_equal(jrnl_last_seq(f->j), 10);
    expect_range(f->j, jrnl_checkpoint(f->j), 1, 10);
    assert_int_equal(jrnl_set_checkpoint(f->j, 9), 0);
    close_j(f);
    assert_int_equal(jrnl_checkpoint(open_j(f, 64 << 20, true)), 9);
    close_j(f);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(jrnl_checkpoint(open_j(f, 64 << 20, true)), 0);
}

static void test_torn_tail(void **state)
{
    struct fx *f = *state;
    struct jrnl *j = open_j(f, 64 << 20, false);
    unsigned char junk[200];
    char path[256];
    off_t good9, good10, good11;

    seg_path(f, 1, path, sizeof path);
    append_n(j, 9);
    good9 = records_size(path);
    append_n(j, 1);
    good10 = records_size(path);
    close_j(f);
    /* a clean close cuts the mapped segment back to its records */
    assert_int_equal(file_size(path), good10);

    /* cut mid-record: the record is gone, its seq is given out again */
    assert_int_equal(truncate(path, good10 - 5), 0);
    j = open_j(f, 64 << 20, false);
    assert_int_equal(jrnl_last_seq(j), 9);
    assert_int_equal(file_size(path), good9);
    assert_int_equal(jrnl_disk_bytes(j), (uint64_t)good9);
    append_n(j, 1);
    assert_int_equal(records_size(path), good10);
    expect_range(j, 0, 1, 10);
    close_j(f);

    /* cut inside the header */
    assert_int_equal(truncate(path, good9 + 10), 0);
    assert_int_equal(jrnl_last_seq(open_j(f, 64 << 20, false)), 9);
    assert_int_equal(file_size(path), good9);
    append_n(f->j, 1);
    close_j(f);

    /* garbage after the last record */
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)(i * 73 + 11);
    append_bytes(path, junk, sizeof junk);
    j = open_j(f, 64 << 20, false);
    assert_int_equal(jrnl_last_seq(j), 10);
    assert_int_equal(file_size(path), good10);
    append_n(j, 1);
    good11 = records_size(path);
    expect_range(j, 0, 1, 11);
    close_j(f);

    /* the right magic but lengths beyond the end of the file */
    memcpy(junk, "AXJ1", 4);
    memset(junk + 4, 0, 26);
    junk[26] = 0xe8;                    /* payload_len 1000 */
    junk[27] = 0x03;
    append_bytes(path, junk, 50);
    assert_int_equal(jrnl_last_seq(open_j(f, 64 << 20, false)), 11);
    assert_int_equal(file_size(path), good11);
    close_j(f);

    /* an intact record that goes back in seq (a copy of record 1) */
    {
        unsigned char rec1[512];
        int fd = open(path, O_RDONLY);
        size_t len = 30 + gen_topic(1, (char *)rec1, sizeof rec1) + gen_payload_len(1);
        assert_true(fd >= 0);
        assert_int_equal(pread(fd, rec1, len, 0), (ssize_t)len);
        close(fd);
        append_bytes(path, rec1, len);
    }
    j = open_j(f, 64 << 20, false);
    assert_int_equal(jrnl_last_seq(j), 11);
    assert_int_equal(file_size(path), good11);
    append_n(j, 2);
    expect_range(j, 0, 1, 13);
}

static void test_torn_only_record(void **state)
{
    struct fx *f = *state;
    struct seginfo s[8];
    char path[256];

    /* the newest segment holds nothing intact: it goes, seqs stay monotonic */
    append_n(open_j(f, 300, false), 6);
    assert_true(list_segs(f->dir, s, 8) >= 2);
    close_j(f);
    size_t n = list_segs(f->dir, s, 8);
    seg_path(f, s[n - 1].first, path, sizeof path);
    assert_int_equal(truncate(path, 7), 0);
    struct jrnl *j = open_j(f, 300, false);
    assert_int_equal(jrnl_last_seq(j), s[n - 1].first - 1);
    assert_int_equal(list_segs(f->dir, s, 8), n - 1);
    append_n(j, 3);
    expect_range(j, 0, 1, jrnl_last_seq(j));
    assert_true(list_segs(f->dir, s, 8) >= n);
}

static void test_corrupt_old_segment(void **state)
{
    struct fx *f = *state;
    struct jrnl *j = open_j(f, 1000, false);
    struct seginfo s[128];
    struct coll c = { 0 };
    char path[256];
    size_t n, bad = 0, i;
    unsigned char b, hdr[30];
    off_t at;
    int fd;

    append_n(j, 48);
    close_j(f);
    n = list_segs(f->dir, s, 128);
    assert_true(n >= 5);
    /* a segment with several records, not the newest */
    for (i = 1; i + 1 < n && s[i + 1].first - s[i].first < 3; i++)
        ;
    assert_true(i + 1 < n);
    seg_path(f, s[i].first, path, sizeof path);
    fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    /* in the second record's header (recv_ms), so the first one survives */
    assert_int_equal(pread(fd, hdr, 30, 0), 30);
    at = 30 + (hdr[24] | hdr[25] << 8) + (hdr[26] | hdr[27] << 8 | hdr[28] << 16) + 20;
    assert_true(at < s[i].size);
    assert_int_equal(pread(fd, &b, 1, at), 1);
    b ^= 0x10;
    assert_int_equal(pwrite(fd, &b, 1, at), 1);
    close(fd);

    j = open_j(f, 1000, false);
    assert_int_equal(jrnl_last_seq(j), 48);
    assert_int_equal(jrnl_replay(j, 0, collect, &c, &bad), 0);
    assert_int_equal(bad, 1);
    assert_int_equal(c.mismatches, 0);
    /* all of the other segments, part of the damaged one, nothing twice */
    assert_true(c.n < 48);
    assert_true(c.n >= 48 - (s[i + 1].first - s[i].first));
    for (size_t x = 1; x < c.n; x++)
        assert_true(c.seqs[x] > c.seqs[x - 1]);
    for (uint64_t seq = 1; seq <= 48; seq++) {
        bool in_damaged = seq >= s[i].first && seq < s[i + 1].first, found = false;
        for (size_t x = 0; x < c.n; x++)
            found = found || c.seqs[x] == seq;
        if (!in_damaged)
            assert_true(found);
        if (seq == s[i].first)          /* the damage is past the first record */
            assert_true(found);
    }
    free(c.seqs);
    /* the journal goes on */
    append_n(j, 2);
    expect_range(j, s[i + 1].first - 1, s[i + 1].first, 50);
}

static void test_all_segments_deleted(void **state)
{
    struct fx *f = *state;
    struct seginfo s[16];
    char path[256];
    size_t n;

    append_n(open_j(f, 500, false), 10);
    assert_int_equal(jrnl_set_checkpoint(f->j, 10), 0);
    close_j(f);
    n = list_segs(f->dir, s, 16);
    assert_true(n >= 1);
    for (size_t i = 0; i < n; i++) {
        seg_path(f, s[i].first, path, sizeof path);
        assert_int_equal(unlink(path), 0);
    }
    struct jrnl *j = open_j(f, 500, false);
    assert_int_equal(jrnl_last_seq(j), 10);
    assert_int_equal(jrnl_checkpoint(j), 10);
    assert_int_equal(jrnl_disk_bytes(j), 0);
    expect_range(j, 0, 1, 0);
    append_n(j, 2);
    expect_range(j, 0, 11, 12);
    assert_int_equal(list_segs(f->dir, s, 16), 1);
    assert_int_equal(s[0].first, 11);
}

/* A disk that fills up mid-record: the partial record is cut off at once
 * and its seq is not spent. RLIMIT_FSIZE stands in for a full disk. */
/* Appends under RLIMIT_FSIZE (the closest to a full disk a test can get):
 * the failing append returns ANX_EIO and leaves no bytes, the seq is not
 * spent, and appends go on once there is room. */
static void write_fails_then_recovers(struct fx *f, struct jrnl *j, const char *path,
                                      rlim_t limit, int64_t segsz, bool fsync_always)
{
    struct rlimit old, lim;
    uint64_t seq = 0, last = jrnl_last_seq(j);
    off_t good = records_size(path);
    int rc = 0, tries = 0;

    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = limit;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    /* A mapped segment takes records until it is full; the one after needs
     * its blocks reserved and fails there. */
    while ((rc = append_id(j, last + 1, &seq)) == 0 && tries++ < 1000)
        last = seq;
    int rc2 = append_id(j, last + 1, &seq);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);

    assert_int_equal(rc, ANX_EIO);
    assert_int_equal(rc2, ANX_EIO);
    assert_int_equal(jrnl_last_seq(j), last);
    assert_true(records_size(path) >= good);
    append_n(j, 2);
    assert_int_equal(jrnl_last_seq(j), last + 2);
    expect_range(j, 0, 1, last + 2);
    close_j(f);
    expect_range(open_j(f, segsz, fsync_always), 0, 1, last + 2);
}

static void test_write_failure(void **state)
{
    struct fx *f = *state;
    char path[256];

    /* write(2) on every append (fsync_always): the very next append fails */
    struct jrnl *j = open_j(f, 64 << 20, true);
    seg_path(f, 1, path, sizeof path);
    append_n(j, 5);
    write_fails_then_recovers(f, j, path, (rlim_t)records_size(path) + 10, 64 << 20, true);
}

static void test_write_failure_mapped(void **state)
{
    struct fx *f = *state;
    char path[256];

    /* mapped: the current segment's blocks are reserved; the roll fails */
    struct jrnl *j = open_j(f, 2000, false);
    seg_path(f, 1, path, sizeof path);
    append_n(j, 3);
    write_fails_then_recovers(f, j, path, 10, 2000, false);
    close_j(f);

    /* no room to reserve a mapped segment at all: written with write(2) */
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = 1 << 20;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    j = open_j(f, 64 << 20, false);
    uint64_t last = jrnl_last_seq(j);
    append_n(j, 20);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);
    assert_int_equal(jrnl_last_seq(j), last + 20);
    expect_range(j, 0, 1, last + 20);
}

/* Pages of the mapping already written are let go from the process (1 MiB
 * at a time) while the page cache keeps them: every record still reads back
 * intact, now and after a reopen. */
static void test_release_written(void **state)
{
    struct fx *f = *state;
    struct jrnl *j = open_j(f, 64 << 20, false);
    char path[256];

    gen_big = false;
    append_n(j, 30000);                 /* some 5 MB in one segment */
    seg_path(f, 1, path, sizeof path);
    assert_true(records_size(path) > 4 << 20);
    expect_range(j, 0, 1, 30000);
    expect_range(j, 29990, 29991, 30000);
    append_n(j, 10);
    expect_range(j, 0, 1, 30010);
    close_j(f);
    expect_range(open_j(f, 64 << 20, false), 0, 1, 30010);
    gen_big = true;
}

/* Another process reading the journal while it is written (anxinctl
 * export-journal) sees every record so far and no corruption: the zeros
 * after the records of a mapped segment are its end. */
static int count_rec(void *arg, const struct jrnl_record *rec)
{
    (void)rec;
    (*(size_t *)arg)++;
    return 0;
}

static void test_read_while_mapped(void **state)
{
    struct fx *f = *state;
    struct jrnl *j = open_j(f, 64 << 20, false);
    char path[256];
    struct stat st;
    size_t n = 0, bad = 99;

    append_n(j, 40);
    seg_path(f, 1, path, sizeof path);
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > records_size(path));     /* mapped: zeros follow */
    assert_int_equal(jrnl_read_dir(f->dir, 0, count_rec, &n, &bad, f->err, sizeof f->err), 0);
    assert_int_equal(n, 40);
    assert_int_equal(bad, 0);
    assert_int_equal(jrnl_disk_bytes(j), (uint64_t)records_size(path));
}

static void test_bad_arguments(void **state)
{
    struct fx *f = *state;
    struct jrnl *j = open_j(f, 64 << 20, false);
    static const char big[8];
    uint64_t seq = 0;

    assert_int_equal(jrnl_append(j, big, 65536, "x", 1, 0, &seq), ANX_ERANGE);
    assert_int_equal(jrnl_append(j, "t", 1, big, (16u << 20) + 1, 0, &seq), ANX_ERANGE);
    assert_int_equal(jrnl_append(j, NULL, 3, "x", 1, 0, &seq), ANX_EINVAL);
    assert_int_equal(jrnl_last_seq(j), 0);
    assert_int_equal(jrnl_append(j, "t", 1, NULL, 0, 0, NULL), 0);   /* empty payload */
    assert_int_equal(jrnl_last_seq(j), 1);
    assert_int_equal(jrnl_replay(j, 0, NULL, NULL, NULL), ANX_EINVAL);
    jrnl_close(NULL);
}

static void test_open_errors(void **state)
{
    struct fx *f = *state;
    struct jrnl_options opt = { f->dir, 64 << 20, false, 0 };
    struct jrnl *j2 = (struct jrnl *)1;
    char path[256], want[400];
    int fd;

    opt.segment_bytes = 0;
    assert_int_equal(jrnl_open(&opt, &j2, f->err, sizeof f->err), ANX_EINVAL);
    assert_null(j2);
    opt.segment_bytes = 64 << 20;

    /* the directory is created with its parents, mode 0750 */
    snprintf(path, sizeof path, "%s/a/b/journal", f->root);
    opt.dir = path;
    assert_int_equal(jrnl_open(&opt, &j2, f->err, sizeof f->err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    mode_t mask = umask(0);
    umask(mask);
    assert_int_equal(st.st_mode & 0777, 0750 & ~mask);

    /* a second opener of the same directory is refused */
    struct jrnl *j3 = NULL;
    assert_int_equal(jrnl_open(&opt, &j3, f->err, sizeof f->err), ANX_EAGAIN);
    assert_null(j3);
    assert_non_null(strstr(f->err, path));
    jrnl_close(j2);
    assert_int_equal(jrnl_open(&opt, &j3, f->err, sizeof f->err), 0);
    jrnl_close(j3);

    /* the message names the path and the OS error */
    snprintf(path, sizeof path, "%s/file", f->root);
    fd = open(path, O_WRONLY | O_CREAT, 0640);
    assert_true(fd >= 0);
    close(fd);
    snprintf(path, sizeof path, "%s/file/journal", f->root);
    assert_int_equal(jrnl_open(&opt, &j2, f->err, sizeof f->err), ANX_EIO);
    snprintf(want, sizeof want, "journal: cannot create %s: %s", path, strerror(ENOTDIR));
    assert_string_equal(f->err, want);

    if (geteuid() != 0) {               /* root ignores permissions */
        snprintf(path, sizeof path, "%s/ro", f->root);
        assert_int_equal(mkdir(path, 0500), 0);
        snprintf(path, sizeof path, "%s/ro/journal", f->root);
        assert_int_equal(jrnl_open(&opt, &j2, f->err, sizeof f->err), ANX_EIO);
        snprintf(want, sizeof want, "journal: cannot create %s: %s", path, strerror(EACCES));
        assert_string_equal(f->err, want);
    }
}

/* ---- a concurrent checkpointer ---------------------------------------- */

struct writer {
    struct jrnl *j;
    int min_appends;
    int max_appends;                    /* bounds the segments a fast writer makes */
    int stop;                           /* set by the main thread */
    int appended;
    int errors;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;

    for (;;) {
        uint64_t want = jrnl_last_seq(w->j) + 1, seq = 0;
        if (append_id(w->j, want, &seq) != 0 || seq != want)
            w->errors++;
        __atomic_store_n(&w->appended, w->appended + 1, __ATOMIC_RELEASE);
        if (w->appended >= w->min_appends && __atomic_load_n(&w->stop, __ATOMIC_ACQUIRE))
            break;
        if (w->appended >= w->max_appends)
            break;
    }
    return NULL;
}

static void test_concurrent_checkpoint(void **state)
{
    struct fx *f = *state;
    struct jrnl *j = open_j(f, 4096, false);
    struct writer w = { .j = j, .min_appends = 20000, .max_appends = 100000 };
    struct seginfo *s = calloc(65536, sizeof *s);
    pthread_t t;
    int ckpts = 0, rc_bad = 0;
    size_t n;
    uint64_t last;

    assert_non_null(s);
    gen_big = false;
    assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
    while (ckpts < 100 || __atomic_load_n(&w.appended, __ATOMIC_ACQUIRE) < w.min_appends) {
        uint64_t l = jrnl_last_seq(j);
        if (l > jrnl_checkpoint(j)) {
            /* lag a little behind, as the loop does */
            if (jrnl_set_checkpoint(j, l > 500 ? l - 500 : l) != 0)
                rc_bad++;
            ckpts++;
            (void)jrnl_disk_bytes(j);
        }
        if (ckpts >= 100)
            __atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(w.errors, 0);
    assert_int_equal(rc_bad, 0);
    last = jrnl_last_seq(j);
    assert_int_equal(last, (uint64_t)w.appended);
    expect_range(j, jrnl_checkpoint(j), jrnl_checkpoint(j) + 1, last);
    n = list_segs(f->dir, s, 65536);
    assert_int_equal(jrnl_disk_bytes(j), segs_bytes(s, n));
    assert_true(s[0].first <= jrnl_checkpoint(j) + 1);
    assert_true(s[0].first > 1);        /* segments went while the writer wrote */
    expect_range(j, 0, s[0].first, last);
    close_j(f);
    expect_range(open_j(f, 4096, false), 0, s[0].first, last);
    free(s);
    gen_big = true;
}

/* ---- SIGKILL mid-stream ----------------------------------------------- */

struct shared {
    uint64_t acked;                     /* highest seq jrnl_append returned */
    uint64_t ckpt;                      /* highest checkpoint set */
};

static void child_writer(const char *dir, struct shared *sh, int ready_fd, bool checkpoints)
{
    struct jrnl_options opt = { dir, 8192, false, 0 };
    struct jrnl *j = NULL;
    char err[256];
    int n = 0;

    if (jrnl_open(&opt, &j, err, sizeof err) != 0)
        _exit(2);
    for (;;) {
        uint64_t want = jrnl_last_seq(j) + 1, seq = 0;
        if (append_id(j, want, &seq) != 0 || seq != want)
            _exit(3);
        __atomic_store_n(&sh->acked, seq, __ATOMIC_RELEASE);
        if (checkpoints && seq % 97 == 0 && seq > 150) {
            if (jrnl_set_checkpoint(j, seq - 150) != 0)
                _exit(4);
            __atomic_store_n(&sh->ckpt, seq - 150, __ATOMIC_RELEASE);
        }
        if (++n == 300 && write(ready_fd, "r", 1) != 1)
            _exit(5);
    }
}

static void test_sigkill(void **state)
{
    struct fx *f = *state;
    struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    uint64_t prev_last = 0;

    assert_true(sh != MAP_FAILED);
    srand((unsigned)time(NULL));
    for (int round = 0; round < 8; round++) {
        int p[2], status;
        char c;
        pid_t pid;

        assert_int_equal(pipe(p), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            child_writer(f->dir, sh, p[1], round % 2 == 1);
        }
        close(p[1]);
        assert_int_equal(read(p[0], &c, 1), 1);
        close(p[0]);
        usleep((useconds_t)(rand() % 20000));
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        /* opens cleanly with every acknowledged record, a prefix of the stream */
        struct jrnl *j = open_j(f, 8192, false);
        uint64_t last = jrnl_last_seq(j), ckpt = jrnl_checkpoint(j);
        struct seginfo s[1024];
        size_t n = list_segs(f->dir, s, 1024);
        assert_true(last >= sh->acked);
        assert_true(last <= sh->acked + 1);
        assert_true(last >= prev_last + 300);
        assert_true(ckpt >= sh->ckpt);
        assert_int_equal(jrnl_disk_bytes(j), segs_bytes(s, n));
        expect_range(j, ckpt, ckpt + 1, last);
        expect_range(j, 0, n ? s[0].first : last + 1, last);
        prev_last = last;
        close_j(f);
    }
    munmap(sh, sizeof *sh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binary_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seq_survives_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_segments_and_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_only_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_old_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_segments_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_failure_mapped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_while_mapped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_written, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigkill, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
