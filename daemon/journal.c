/* journal.c - the local write-ahead journal of received MQTT messages.
 *
 * The crash model is SIGKILL (or a crash) at any instant, and with
 * fsync_always also power loss. A record is built whole in a buffer and
 * written with one write(2) on an O_APPEND descriptor, so a crash leaves at
 * most one torn record, at the end of the newest segment; open cuts it off.
 * A write that fails half way is cut off at once, so intact records never
 * follow a torn one in the segment being written. Should even that fail, the
 * journal moves on to a new segment and the torn bytes become a corrupt
 * region that replay skips.
 *
 * Without fsync_always the current segment is written through a shared
 * mapping: an append is a copy into memory, not a write(2) on Paho's thread
 * (about a microsecond per message, the largest cost of our own there).
 * Memory stores to a MAP_SHARED file mapping are in the page cache the moment
 * they are made, so SIGKILL loses no more than it would with write(2). The
 * segment's blocks are reserved with fallocate before it is mapped, so a full
 * disk is an error of the append that needs a new segment (which then tries
 * write(2)), never SIGBUS on a later store. While mapped, the file is longer
 * than its records and ends in zeros; a reader stops at the first zero
 * header, open cuts the zeros off like a torn tail, and a clean roll or close
 * truncates the file to its records.
 *
 * Locking: `mu` guards the segment list, the current segment, the seq counter
 * and the write buffer; jrnl_append holds it for one write (plus a rare
 * segment roll). jrnl_set_checkpoint writes and syncs the checkpoint file
 * under `ckpt_mu` only, then takes `mu` briefly to drop whole segments from
 * the list, and unlinks their files after releasing it, so the Paho thread
 * never waits for a checkpoint fsync. */
#include "journal.h"

#include "crc32c.h"
#include "err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Record layout (little-endian), see journal.h. */
#define REC_MAGIC 0x314a5841u           /* the bytes "AXJ1" */
#define REC_OFF_CRC 4
#define REC_OFF_SEQ 8                   /* the CRC covers everything from here */
#define REC_OFF_RECV 16
#define REC_OFF_TLEN 24
#define REC_OFF_PLEN 26
#define REC_HDR 30
/* Far above any telemetry message; bounds what a corrupt length can make
 * replay allocate. */
#define REC_MAX_PAYLOAD (16u << 20)

#define SEG_SUFFIX ".jnl"
#define SEG_NAME_LEN 20                 /* 16 hex digits + ".jnl" */

/* "AXCK1 <seq, 20 decimal digits> <crc32c of the first 26 bytes, 8 hex>\n" */
#define CKPT_NAME "checkpoint"
#define CKPT_TMP "checkpoint.tmp"
#define CKPT_PREFIX "AXCK1 "
#define CKPT_BODY 26
#define CKPT_LEN 36

#define WBUF_INIT 4096
/* Written pages of the mapping are let go in steps of this (release_written). */
#define MAP_RELEASE_STEP (1u << 20)
#define RBUF_INIT (128u << 10)

struct seg {
    uint64_t first;                     /* seq in the file name */
    uint64_t size;                      /* bytes of intact records */
};

struct jrnl {
    char *dir;
    int dirfd;                          /* holds the flock against a second daemon */
    bool fsync_always;
    uint64_t segment_bytes;
    int64_t keep_ms;                    /* retention after checkpoint, 0 = none */

    pthread_mutex_t mu;
    struct seg *segs;                   /* sorted by first; the last one is current */
    size_t nsegs, segs_cap;
    int cur_fd;                         /* segs[nsegs - 1], O_APPEND; -1 iff nsegs == 0 */
    bool must_roll;                     /* the current segment ends in junk */
    uint64_t last_seq;
    uint64_t disk_bytes;
    unsigned char *wbuf;                /* reused by every write(2) append */
    size_t wcap;
    unsigned char *map;                 /* the current segment, mapped for appends, or NULL */
    uint64_t map_len;                   /* bytes mapped = the file's length while mapped */
    uint64_t map_released;              /* pages below this went out of our page tables */
    uint64_t page_size;
    bool map_failed;                    /* could not map the current one: write(2) it */

    pthread_mutex_t ckpt_mu;            /* serialises checkpoint writers */
    uint64_t ckpt;                      /* stored under ckpt_mu, loaded atomically */
};

/* Sequential reader of one segment file with a growing buffer. */
struct reader {
    int fd;
    uint64_t limit;                     /* bytes of the file that may hold records */
    uint64_t base;                      /* file offset of buf[0] */
    unsigned char *buf;
    size_t cap, len, pos;               /* buf[pos, len) not yet consumed */
    int os_err;                         /* errno of a failed pread */
};

enum { RD_END, RD_OK, RD_BAD };

static void unmap_current(struct jrnl *j);

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint16_t get16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static uint32_t get32(const unsigned char *p)
{
    uint32_t v = 0;

    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void seg_name(char out[SEG_NAME_LEN + 1], uint64_t first)
{
    snprintf(out, SEG_NAME_LEN + 1, "%016" PRIx64 SEG_SUFFIX, first);
}

/* Parses "<16 lowercase hex digits>.jnl"; anything else is not ours. */
static bool seg_parse(const char *name, uint64_t *first)
{
    uint64_t v = 0;

    if (strlen(name) != SEG_NAME_LEN || strcmp(name + 16, SEG_SUFFIX) != 0)
        return false;
    for (int i = 0; i < 16; i++) {
        char c = name[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            return false;
        v = v << 4 | d;
    }
    *first = v;
    return true;
}

static int seg_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct seg *)a)->first, y = ((const struct seg *)b)->first;

    return x < y ? -1 : x > y;
}

static int segs_reserve(struct jrnl *j, size_t n)
{
    struct seg *s;
    size_t cap;

    if (n <= j->segs_cap)
        return 0;
    cap = j->segs_cap ? j->segs_cap * 2 : 16;
    while (cap < n)
        cap *= 2;
    s = realloc(j->segs, cap * sizeof *s);
    if (!s)
        return ANX_ENOMEM;
    j->segs = s;
    j->segs_cap = cap;
    return 0;
}

/* ---- reading ---------------------------------------------------------- */

static void rd_start(struct reader *r, int fd, uint64_t limit)
{
    r->fd = fd;
    r->limit = limit;
    r->base = 0;
    r->len = r->pos = 0;
    r->os_err = 0;
}

static uint64_t rd_offset(const struct reader *r)
{
    return r->base + r->pos;
}

/* Makes n unread bytes available: 0, 1 if the file ends first, or ANX_E*. */
static int rd_fill(struct reader *r, size_t n)
{
    if (r->len - r->pos >= n)
        return 0;
    if (r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->base += r->pos;
        r->len -= r->pos;
        r->pos = 0;
    }
    if (n > r->cap) {
        size_t cap = r->cap ? r->cap : RBUF_INIT;
        unsigned char *b;
        while (cap < n)
            cap *= 2;
        b = realloc(r->buf, cap);
        if (!b)
            return ANX_ENOMEM;
        r->buf = b;
        r->cap = cap;
    }
    while (r->len < n) {
        uint64_t left = r->limit - (r->base + r->len);
        size_t want = r->cap - r->len;
        ssize_t got;
        if (want > left)
            want = (size_t)left;
        if (want == 0)
            return 1;
        got = pread(r->fd, r->buf + r->len, want, (off_t)(r->base + r->len));
        if (got < 0) {
            if (errno == EINTR)
                continue;
            r->os_err = errno;
            return ANX_EIO;
        }
        if (got == 0)
            return 1;
        r->len += (size_t)got;
    }
    return 0;
}

/* Reads the next record: RD_OK, RD_END at a clean end, RD_BAD if the bytes
 * there are not an intact record with a seq above prev_seq, or ANX_E*. */
static int rd_next(struct reader *r, uint64_t prev_seq, struct jrnl_record *rec)
{
    uint64_t left = r->limit - rd_offset(r);
    const unsigned char *p;
    size_t tlen, plen, total;
    uint64_t seq;
    int rc;

    if (left == 0)
        return RD_END;
    if (left < REC_HDR)
        return RD_BAD;
    rc = rd_fill(r, REC_HDR);
    if (rc != 0)
        return rc < 0 ? rc : RD_BAD;
    p = r->buf + r->pos;
    if (get32(p) != REC_MAGIC) {
        /* Zeros: the unused end of a segment mapped for appends. */
        for (size_t i = 0; i < REC_HDR; i++)
            if (p[i])
                return RD_BAD;
        return RD_END;
    }
    tlen = get16(p + REC_OFF_TLEN);
    plen = get32(p + REC_OFF_PLEN);
    if (plen > REC_MAX_PAYLOAD)
        return RD_BAD;
    total = REC_HDR + tlen + plen;
    if (total > left)
        return RD_BAD;
    rc = rd_fill(r, total);
    if (rc != 0)
        return rc < 0 ? rc : RD_BAD;
    p = r->buf + r->pos;
    if (crc32c(p + REC_OFF_SEQ, total - REC_OFF_SEQ) != get32(p + REC_OFF_CRC))
        return RD_BAD;
    seq = get64(p + REC_OFF_SEQ);
    if (seq <= prev_seq)
        return RD_BAD;
    rec->seq = seq;
    rec->recv_ms = (int64_t)get64(p + REC_OFF_RECV);
    rec->topic = (const char *)p + REC_HDR;
    rec->topic_len = tlen;
    rec->payload = (const char *)p + REC_HDR + tlen;
    rec->payload_len = plen;
    r->pos += total;
    return RD_OK;
}

/* ---- checkpoint file -------------------------------------------------- */

/* The stored checkpoint, or 0 if the file is missing or damaged: replaying
 * everything still on disk is always safe. */
static uint64_t ckpt_load(int dirfd)
{
    char buf[CKPT_LEN + 1];
    uint64_t seq = 0;
    uint32_t crc = 0;
    ssize_t n;
    int fd;

    fd = openat(dirfd, CKPT_NAME, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    do
        n = read(fd, buf, sizeof buf);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n != CKPT_LEN || memcmp(buf, CKPT_PREFIX, strlen(CKPT_PREFIX)) != 0 ||
        buf[CKPT_BODY] != ' ' || buf[CKPT_LEN - 1] != '\n')
        return 0;
    for (size_t i = strlen(CKPT_PREFIX); i < CKPT_BODY; i++) {
        unsigned d = (unsigned)(buf[i] - '0');
        if (d > 9 || seq > (UINT64_MAX - d) / 10)
            return 0;
        seq = seq * 10 + d;
    }
    for (size_t i = CKPT_BODY + 1; i < CKPT_LEN - 1; i++) {
        char c = buf[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            return 0;
        crc = crc << 4 | d;
    }
    if (crc != crc32c(buf, CKPT_BODY))
        return 0;
    return seq;
}

/* Replaces the checkpoint file atomically and durably. */
static int ckpt_store(int dirfd, uint64_t seq)
{
    char buf[CKPT_LEN + 1];
    size_t off = 0;
    int fd;

    snprintf(buf, sizeof buf, CKPT_PREFIX "%020" PRIu64, seq);
    snprintf(buf + CKPT_BODY, sizeof buf - CKPT_BODY, " %08" PRIx32 "\n",
             crc32c(buf, CKPT_BODY));
    fd = openat(dirfd, CKPT_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return ANX_EIO;
    while (off < CKPT_LEN) {
        ssize_t n = write(fd, buf + off, CKPT_LEN - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        off += (size_t)n;
    }
    if (fdatasync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (renameat(dirfd, CKPT_TMP, dirfd, CKPT_NAME) != 0)
        goto fail;
    if (fsync(dirfd) != 0)
        return ANX_EIO;
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    unlinkat(dirfd, CKPT_TMP, 0);
    return ANX_EIO;
}

/* ---- open ------------------------------------------------------------- */

/* mkdir -p with mode 0750. */
static int make_dir(const char *dir, char *err, size_t errlen)
{
    char *p;
    int e;

    if (mkdir(dir, 0750) == 0 || errno == EEXIST)
        return 0;
    e = errno;
    if (e == ENOENT) {
        p = strdup(dir);
        if (!p)
            return ANX_ENOMEM;
        for (char *s = p + 1; *s; s++) {
            if (*s != '/')
                continue;
            *s = '\0';
            if (mkdir(p, 0750) != 0 && errno != EEXIST) {
                e = errno;
                seterr(err, errlen, "journal: cannot create %s: %s", p, strerror(e));
                free(p);
                return ANX_EIO;
            }
            *s = '/';
        }
        free(p);
        if (mkdir(dir, 0750) == 0 || errno == EEXIST)
            return 0;
        e = errno;
    }
    seterr(err, errlen, "journal: cannot create %s: %s", dir, strerror(e));
    return ANX_EIO;
}

static int list_segments(struct jrnl *j, char *err, size_t errlen)
{
    struct dirent *de;
    DIR *d;
    int rc = 0;

    d = opendir(j->dir);
    if (!d) {
        seterr(err, errlen, "journal: cannot read %s: %s", j->dir, strerror(errno));
        return ANX_EIO;
    }
    for (;;) {
        struct stat st;
        uint64_t first;
        errno = 0;
        de = readdir(d);
        if (!de) {
            if (errno != 0) {
                seterr(err, errlen, "journal: cannot read %s: %s", j->dir, strerror(errno));
                rc = ANX_EIO;
            }
            break;
        }
        if (!seg_parse(de->d_name, &first))
            continue;
        if (fstatat(j->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            seterr(err, errlen, "journal: cannot stat %s/%s: %s", j->dir, de->d_name,
                   strerror(errno));
            rc = ANX_EIO;
            break;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        rc = segs_reserve(j, j->nsegs + 1);
        if (rc != 0) {
            seterr(err, errlen, "journal: out of memory");
            break;
        }
        j->segs[j->nsegs++] = (struct seg){ first, (uint64_t)st.st_size };
        j->disk_bytes += (uint64_t)st.st_size;
    }
    closedir(d);
    if (rc == 0 && j->nsegs > 1)
        qsort(j->segs, j->nsegs, sizeof *j->segs, seg_cmp);
    return rc;
}

/* Finds the last intact record, cutting off a torn or corrupt tail of the
 * newest segment and removing newest segments left with nothing intact. */
static int recover(struct jrnl *j, char *err, size_t errlen)
{
    struct reader r = { .fd = -1 };
    uint64_t floor = j->ckpt, last = 0;
    int rc = 0;

    while (j->nsegs > 0) {
        struct seg *s = &j->segs[j->nsegs - 1];
        char name[SEG_NAME_LEN + 1];
        struct jrnl_record rec;
        uint64_t prev = s->first ? s->first - 1 : 0, end = 0;
        int fd;

        seg_name(name, s->first);
        fd = openat(j->dirfd, name, O_RDWR | O_APPEND | O_CLOEXEC);
        if (fd < 0) {
            seterr(err, errlen, "journal: cannot open %s/%s: %s", j->dir, name,
                   strerror(errno));
            rc = ANX_EIO;
            break;
        }
        rd_start(&r, fd, s->size);
        while ((rc = rd_next(&r, prev, &rec)) == RD_OK) {
            prev = last = rec.seq;
            end = rd_offset(&r);
        }
        if (rc < 0) {
            seterr(err, errlen, "journal: cannot read %s/%s: %s", j->dir, name,
                   rc == ANX_EIO ? strerror(r.os_err) : anx_strerror(rc));
            close(fd);
            break;
        }
        rc = 0;
        if (last == 0) {
            close(fd);
            if (unlinkat(j->dirfd, name, 0) != 0) {
                seterr(err, errlen, "journal: cannot remove %s/%s: %s", j->dir, name,
                       strerror(errno));
                rc = ANX_EIO;
                break;
            }
            if (s->first > 0 && s->first - 1 > floor)
                floor = s->first - 1;
            j->disk_bytes -= s->size;
            j->nsegs--;
            continue;
        }
        if (end < s->size) {
            if (ftruncate(fd, (off_t)end) != 0 || fdatasync(fd) != 0) {
                seterr(err, errlen, "journal: cannot truncate %s/%s: %s", j->dir, name,
                       strerror(errno));
                close(fd);
                rc = ANX_EIO;
                break;
            }
            j->disk_bytes -= s->size - end;
            s->size = end;
        }
        j->cur_fd = fd;
        break;
    }
    free(r.buf);
    j->last_seq = last > floor ? last : floor;
    return rc;
}

int jrnl_open(const struct jrnl_options *opt, struct jrnl **out, char *err, size_t errlen)
{
    struct jrnl *j;
    int rc;

    if (err && errlen)
        err[0] = '\0';
    if (!out)
        return ANX_EINVAL;
    *out = NULL;
    if (!opt || !opt->dir || !opt->dir[0] || opt->segment_bytes <= 0) {
        seterr(err, errlen, "journal: invalid options (directory and segment size needed)");
        return ANX_EINVAL;
    }
    j = calloc(1, sizeof *j);
    if (!j) {
        seterr(err, errlen, "journal: out of memory");
        return ANX_ENOMEM;
    }
    if (pthread_mutex_init(&j->mu, NULL) != 0) {
        free(j);
        seterr(err, errlen, "journal: cannot create a mutex");
        return ANX_ENOMEM;
    }
    if (pthread_mutex_init(&j->ckpt_mu, NULL) != 0) {
        pthread_mutex_destroy(&j->mu);
        free(j);
        seterr(err, errlen, "journal: cannot create a mutex");
        return ANX_ENOMEM;
    }
    /* From here on jrnl_close can undo a partial open. */
    j->dirfd = -1;
    j->cur_fd = -1;
    j->fsync_always = opt->fsync_always;
    long page = sysconf(_SC_PAGESIZE);
    j->page_size = page > 0 ? (uint64_t)page : 4096;
    j->segment_bytes = (uint64_t)opt->segment_bytes;
    j->keep_ms = opt->keep_ms;
    j->dir = strdup(opt->dir);
    j->wbuf = malloc(WBUF_INIT);
    j->wcap = WBUF_INIT;
    if (!j->dir || !j->wbuf) {
        seterr(err, errlen, "journal: out of memory");
        rc = ANX_ENOMEM;
        goto fail;
    }
    rc = make_dir(j->dir, err, errlen);
    if (rc != 0)
        goto fail;
    j->dirfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (j->dirfd < 0) {
        seterr(err, errlen, "journal: cannot open %s: %s", j->dir, strerror(errno));
        rc = ANX_EIO;
        goto fail;
    }
    /* Two writers would interleave records and delete each other's files. */
    if (flock(j->dirfd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            seterr(err, errlen, "journal: %s is in use by another process", j->dir);
            rc = ANX_EAGAIN;
        } else {
            seterr(err, errlen, "journal: cannot lock %s: %s", j->dir, strerror(errno));
            rc = ANX_EIO;
        }
        goto fail;
    }
    unlinkat(j->dirfd, CKPT_TMP, 0);
    j->ckpt = ckpt_load(j->dirfd);
    rc = list_segments(j, err, errlen);
    if (rc == 0)
        rc = recover(j, err, errlen);
    if (rc != 0)
        goto fail;
    *out = j;
    return 0;
fail:
    jrnl_close(j);
    return rc;
}

void jrnl_close(struct jrnl *j)
{
    if (!j)
        return;
    if (j->cur_fd >= 0) {
        unmap_current(j);
        /* A clean stop leaves the journal on disk even without fsync_always. */
        if (!j->fsync_always)
            fdatasync(j->cur_fd);
        close(j->cur_fd);
    }
    if (j->dirfd >= 0)
        close(j->dirfd);
    pthread_mutex_destroy(&j->mu);
    pthread_mutex_destroy(&j->ckpt_mu);
    free(j->segs);
    free(j->wbuf);
    free(j->dir);
    free(j);
}

/* ---- append ----------------------------------------------------------- */

/* Ends the mapping of the current segment and cuts the file back to its
 * records. If the cut fails the zeros stay, which readers take for the end,
 * but nothing may be appended after them with write(2): must_roll. Called
 * with mu held, or at close. */
static void unmap_current(struct jrnl *j)
{
    if (!j->map)
        return;
    munmap(j->map, (size_t)j->map_len);
    j->map = NULL;
    j->map_len = 0;
    if (ftruncate(j->cur_fd, (off_t)j->segs[j->nsegs - 1].size) != 0)
        j->must_roll = true;
}

/* Maps the current segment with room for at least `need` more bytes: the
 * segment size, or more for a record larger than that. On failure the
 * segment is written with write(2) until the next roll. Called with mu held. */
static void map_current(struct jrnl *j, size_t need)
{
    uint64_t size = j->segs[j->nsegs - 1].size;
    uint64_t len = size + need > j->segment_bytes ? size + need : j->segment_bytes;
    void *p = MAP_FAILED;

    if (fallocate(j->cur_fd, 0, 0, (off_t)len) == 0)
        p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, j->cur_fd, 0);
    if (p == MAP_FAILED) {
        /* fallocate may have lengthened the file before it failed. */
        if (ftruncate(j->cur_fd, (off_t)size) != 0)
            j->must_roll = true;
        j->map_failed = true;
        return;
    }
    j->map = p;
    j->map_len = len;
    j->map_released = 0;
}

/* Lets go of the mapping's pages that are wholly written: the page cache
 * keeps them (dirty ones are written back as usual) and a reader gets them
 * from there, but they stop counting as anxind's own memory, which would
 * otherwise grow by up to a whole segment (64 MiB). Called with mu held. */
static void release_written(struct jrnl *j)
{
    uint64_t upto = j->segs[j->nsegs - 1].size / j->page_size * j->page_size;
    if (upto - j->map_released < MAP_RELEASE_STEP)
        return;
    if (madvise(j->map + j->map_released, (size_t)(upto - j->map_released), MADV_DONTNEED) == 0)
        j->map_released = upto;
}

/* Lays out one record at p (len = REC_HDR + topic_len + payload_len bytes). */
static void put_record(unsigned char *p, uint64_t seq, int64_t recv_ms, const char *topic,
                       size_t topic_len, const void *payload, size_t payload_len)
{
    size_t len = REC_HDR + topic_len + payload_len;

    put64(p + REC_OFF_SEQ, seq);
    put64(p + REC_OFF_RECV, (uint64_t)recv_ms);
    put16(p + REC_OFF_TLEN, (uint16_t)topic_len);
    put32(p + REC_OFF_PLEN, (uint32_t)payload_len);
    if (topic_len)
        memcpy(p + REC_HDR, topic, topic_len);
    if (payload_len)
        memcpy(p + REC_HDR + topic_len, payload, payload_len);
    put32(p + REC_OFF_CRC, crc32c(p + REC_OFF_SEQ, len - REC_OFF_SEQ));
    /* The magic last: a record torn by a crash mid-copy has none (the
     * mapping starts as zeros), so it reads as the end, not as corruption.
     * The fence keeps the compiler from moving the stores above it later. */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    put32(p, REC_MAGIC);
}

/* Starts segment `first` and makes it current. Called with mu held. */
static int roll(struct jrnl *j, uint64_t first)
{
    char name[SEG_NAME_LEN + 1];
    int fd;

    if (segs_reserve(j, j->nsegs + 1) != 0)
        return ANX_ENOMEM;
    /* The old one is cut to its records before the new one exists, so a
     * crash in between leaves zeros only in the newest segment. */
    unmap_current(j);
    seg_name(name, first);
    fd = openat(j->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0)
        return ANX_EIO;
    /* fdatasync on the records does not make the new name durable. */
    if (j->fsync_always && fsync(j->dirfd) != 0) {
        close(fd);
        unlinkat(j->dirfd, name, 0);
        return ANX_EIO;
    }
    if (j->cur_fd >= 0)
        close(j->cur_fd);
    j->segs[j->nsegs++] = (struct seg){ first, 0 };
    j->cur_fd = fd;
    j->must_roll = false;
    j->map_failed = false;
    return 0;
}

int jrnl_append(struct jrnl *j, const char *topic, size_t topic_len,
                const void *payload, size_t payload_len, int64_t recv_ms,
                uint64_t *out_seq)
{
    struct seg *cur;
    size_t len;
    uint64_t seq;
    ssize_t n;
    int rc = 0;

    if (!j || (topic_len && !topic) || (payload_len && !payload))
        return ANX_EINVAL;
    if (topic_len > UINT16_MAX || payload_len > REC_MAX_PAYLOAD)
        return ANX_ERANGE;
    len = REC_HDR + topic_len + payload_len;

    pthread_mutex_lock(&j->mu);
    seq = j->last_seq + 1;
    if (j->cur_fd < 0 || j->must_roll ||
        (j->segs[j->nsegs - 1].size > 0 &&
         j->segs[j->nsegs - 1].size + len > j->segment_bytes)) {
        rc = roll(j, seq);
        /* A full segment can take one more record; losing it would be worse. */
        if (rc != 0 && (j->cur_fd < 0 || j->must_roll))
            goto out;
        rc = 0;
    }
    cur = &j->segs[j->nsegs - 1];

    if (!j->fsync_always && !j->map_failed && !j->must_roll &&
        (!j->map || cur->size + len > j->map_len)) {
        unmap_current(j);
        if (!j->must_roll)
            map_current(j, len);
    }
    if (j->map) {
        put_record(j->map + cur->size, seq, recv_ms, topic, topic_len, payload, payload_len);
        cur->size += len;
        j->disk_bytes += len;
        j->last_seq = seq;
        if (out_seq)
            *out_seq = seq;
        release_written(j);
        goto out;
    }
    if (j->must_roll) {
        /* Zeros we could not cut off end the segment: nothing may follow. */
        rc = ANX_EIO;
        goto out;
    }

    if (len > j->wcap) {
        size_t cap = j->wcap;
        unsigned char *b;
        while (cap < len)
            cap *= 2;
        b = realloc(j->wbuf, cap);
        if (!b) {
            rc = ANX_ENOMEM;
            goto out;
        }
        j->wbuf = b;
        j->wcap = cap;
    }
    put_record(j->wbuf, seq, recv_ms, topic, topic_len, payload, payload_len);

    do
        n = write(j->cur_fd, j->wbuf, len);
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)len && (!j->fsync_always || fdatasync(j->cur_fd) == 0)) {
        cur->size += len;
        j->disk_bytes += len;
        j->last_seq = seq;
        if (out_seq)
            *out_seq = seq;
        goto out;
    }
    rc = ANX_EIO;
    if (n > 0 && ftruncate(j->cur_fd, (off_t)cur->size) != 0) {
        /* The bytes stay: they may even be an intact record, so its seq is
         * spent, and nothing may follow them in this segment. */
        cur->size += (uint64_t)n;
        j->disk_bytes += (uint64_t)n;
        j->last_seq = seq;
        j->must_roll = true;
    }
out:
    pthread_mutex_unlock(&j->mu);
    return rc;
}

/* ---- replay ----------------------------------------------------------- */

int jrnl_replay(struct jrnl *j, uint64_t after_seq,
                int (*cb)(void *arg, const struct jrnl_record *rec), void *arg,
                size_t *n_corrupt)
{
    struct reader r = { .fd = -1 };
    struct seg *segs;
    size_t nsegs, bad = 0;
    uint64_t seen = 0;
    int rc = 0;

    if (n_corrupt)
        *n_corrupt = 0;
    if (!j || !cb)
        return ANX_EINVAL;
    /* A snapshot, so records appended meanwhile are simply not visited. */
    pthread_mutex_lock(&j->mu);
    nsegs = j->nsegs;
    segs = malloc((nsegs ? nsegs : 1) * sizeof *segs);
    if (segs && nsegs)
        memcpy(segs, j->segs, nsegs * sizeof *segs);
    pthread_mutex_unlock(&j->mu);
    if (!segs)
        return ANX_ENOMEM;

    for (size_t i = 0; i < nsegs && rc == 0; i++) {
        char name[SEG_NAME_LEN + 1];
        struct jrnl_record rec;
        uint64_t prev;
        int fd, st;

        /* The next segment's name bounds every seq in this one. */
        if (i + 1 < nsegs && segs[i + 1].first - 1 <= after_seq)
            continue;
        seg_name(name, segs[i].first);
        fd = openat(j->dirfd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT) {
                bad++;
                continue;
            }
            rc = ANX_EIO;
            break;
        }
        rd_start(&r, fd, segs[i].size);
        prev = segs[i].first ? segs[i].first - 1 : 0;
        if (seen > prev)
            prev = seen;
        while ((st = rd_next(&r, prev, &rec)) == RD_OK) {
            prev = seen = rec.seq;
            if (rec.seq > after_seq) {
                rc = cb(arg, &rec);
                if (rc != 0)
                    break;
            }
        }
        if (rc == 0 && st < 0)
            rc = st;
        else if (rc == 0 && st == RD_BAD)
            bad++;
        close(fd);
    }
    free(r.buf);
    free(segs);
    if (n_corrupt)
        *n_corrupt = bad;
    return rc;
}

/* ---- checkpoint and accessors ----------------------------------------- */

uint64_t jrnl_checkpoint(const struct jrnl *j)
{
    return __atomic_load_n(&j->ckpt, __ATOMIC_ACQUIRE);
}

uint64_t jrnl_last_seq(struct jrnl *j)
{
    uint64_t v;

    pthread_mutex_lock(&j->mu);
    v = j->last_seq;
    pthread_mutex_unlock(&j->mu);
    return v;
}

uint64_t jrnl_disk_bytes(struct jrnl *j)
{
    uint64_t v;

    pthread_mutex_lock(&j->mu);
    v = j->disk_bytes;
    pthread_mutex_unlock(&j->mu);
    return v;
}

/* A segment may go once its last write is older than the retention time
 * (`[journal] keep`: recorded telemetry for replay). */
static bool kept_long_enough(const struct jrnl *j, size_t k)
{
    if (j->keep_ms <= 0)
        return true;
    char name[SEG_NAME_LEN + 1];
    struct stat st;
    seg_name(name, j->segs[k].first);
    if (fstatat(j->dirfd, name, &st, 0) != 0)
        return true;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t age_ms = ((int64_t)now.tv_sec - (int64_t)st.st_mtim.tv_sec) * 1000 +
                     ((int64_t)now.tv_nsec - (int64_t)st.st_mtim.tv_nsec) / 1000000;
    return age_ms >= j->keep_ms;
}

/* Forgets the segments wholly at or below seq (never the current one, nor
 * one still within the retention time) and deletes their files outside mu. */
static int drop_segments(struct jrnl *j, uint64_t seq)
{
    uint64_t *gone;
    size_t k = 0;
    int rc = 0;

    pthread_mutex_lock(&j->mu);
    while (k + 1 < j->nsegs && j->segs[k + 1].first - 1 <= seq && kept_long_enough(j, k))
        k++;
    if (k == 0) {
        pthread_mutex_unlock(&j->mu);
        return 0;
    }
    gone = malloc(k * sizeof *gone);
    if (!gone) {
        pthread_mutex_unlock(&j->mu);
        return ANX_ENOMEM;
    }
    for (size_t i = 0; i < k; i++) {
        gone[i] = j->segs[i].first;
        j->disk_bytes -= j->segs[i].size;
    }
    memmove(j->segs, j->segs + k, (j->nsegs - k) * sizeof *j->segs);
    j->nsegs -= k;
    pthread_mutex_unlock(&j->mu);

    for (size_t i = 0; i < k; i++) {
        char name[SEG_NAME_LEN + 1];
        seg_name(name, gone[i]);
        if (unlinkat(j->dirfd, name, 0) != 0 && errno != ENOENT)
            rc = ANX_EIO;
    }
    free(gone);
    return rc;
}

int jrnl_set_checkpoint(struct jrnl *j, uint64_t seq)
{
    uint64_t last;
    int rc;

    pthread_mutex_lock(&j->ckpt_mu);
    if (seq <= j->ckpt) {
        pthread_mutex_unlock(&j->ckpt_mu);
        return 0;
    }
    last = jrnl_last_seq(j);
    if (seq > last) {
        /* Records appended later would count as committed. */
        pthread_mutex_unlock(&j->ckpt_mu);
        return ANX_EINVAL;
    }
    rc = ckpt_store(j->dirfd, seq);
    if (rc == 0) {
        __atomic_store_n(&j->ckpt, seq, __ATOMIC_RELEASE);
        rc = drop_segments(j, seq);
    }
    pthread_mutex_unlock(&j->ckpt_mu);
    return rc;
}

/* ---- reading another process's journal ------------------------------- */

int jrnl_read_dir(const char *dir, uint64_t after_seq,
                  int (*cb)(void *arg, const struct jrnl_record *rec), void *arg,
                  size_t *n_corrupt, char *err, size_t errlen)
{
    /* A journal that only lists and reads: no lock (anxind may hold it and
     * go on appending), no repair of a torn tail (the read stops there). */
    struct jrnl *j = calloc(1, sizeof *j);
    if (!j)
        return ANX_ENOMEM;
    j->cur_fd = -1;
    pthread_mutex_init(&j->mu, NULL);
    pthread_mutex_init(&j->ckpt_mu, NULL);
    j->dir = strdup(dir);
    j->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;
    if (!j->dir) {
        rc = ANX_ENOMEM;
    } else if (j->dirfd < 0) {
        seterr(err, errlen, "journal: cannot open %s: %s", dir, strerror(errno));
        rc = ANX_EIO;
    } else {
        rc = list_segments(j, err, errlen);
        if (rc == 0)
            rc = jrnl_replay(j, after_seq, cb, arg, n_corrupt);
    }
    jrnl_close(j);
    return rc;
}
