/* snapshot.c - the engine state file (see snapshot.h). */
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "err.h"
#include "fileio.h"

#define HEADER 24   /* magic 4, version 4, jseq 8, length 8 */
/* On disk before the next is written: 1 MiB at a few ms of device time
 * (bench: a small fsync meanwhile waited at most 4 ms, against 60 ms with
 * the whole file written then synced). */
#define SYNC_PIECE (1u << 20)

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* The file being written, and how far it is on disk. */
struct file_sink {
    int fd;
    bool keep_cached;
    uint32_t crc;               /* of everything written but the CRC itself */
    uint64_t off;               /* bytes written */
    uint64_t synced;            /* bytes on disk and out of the page cache */
    int errnum;                 /* errno of a failed write */
};

/* Starts the piece since the last call on its way to disk and waits for it,
 * so that at most one piece of ours is ever in flight; then drops it from
 * the page cache unless asked to keep it. An error here shows again in the
 * final fsync. */
static void write_out(struct file_sink *fs)
{
    off_t from = (off_t)fs->synced, n = (off_t)(fs->off - fs->synced);
    sync_file_range(fs->fd, from, n,
                    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                        SYNC_FILE_RANGE_WAIT_AFTER);
    if (!fs->keep_cached)
        posix_fadvise(fs->fd, from, n, POSIX_FADV_DONTNEED);
    fs->synced = fs->off;
}

static int file_put(void *arg, const void *data, size_t len)
{
    struct file_sink *fs = arg;
    if (write_all(fs->fd, data, len) != 0) {
        fs->errnum = errno;
        return ANX_EIO;
    }
    fs->crc = crc32c_update(fs->crc, data, len);
    fs->off += len;
    if (fs->off - fs->synced >= SYNC_PIECE)
        write_out(fs);
    return 0;
}

/* Opens tmp for writing: the spare (or a tmp left by a save cut short) is
 * overwritten in place. A file with another name as well is never written
 * into: after a stop between the link and the rename in snap_save, the
 * spare is also the file in use. */
static int open_for_save(const char *tmp, const char *spare)
{
    struct stat st;
    rename(spare, tmp);
    int fd = open(tmp, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1)
        return fd;
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    return open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
}

/* Makes a rename in path's directory durable. */
static int sync_dir_of(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int snap_save(const char *path, uint64_t jseq, const struct snap_source *src, bool keep_cached,
              char *err, size_t errlen)
{
    char tmp[4096], spare[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snprintf(spare, sizeof spare, "%s.spare", path);
    struct file_sink fs = {.fd = open_for_save(tmp, spare), .keep_cached = keep_cached};
    if (fs.fd < 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        return ANX_EIO;
    }
    size_t len = src->size(src->arg);
    uint8_t head[HEADER], tail[4];
    memcpy(head, "AXSN", 4);
    put_le(head + 4, 1, 4);
    put_le(head + 8, jseq, 8);
    put_le(head + 16, len, 8);
    int rc = file_put(&fs, head, HEADER);
    if (rc == 0)
        rc = src->write(src->arg, file_put, &fs);
    if (rc == 0 && fs.off != HEADER + (uint64_t)len)
        rc = ANX_ESTATE;
    if (rc == 0) {
        put_le(tail, fs.crc, 4);
        if (write_all(fs.fd, tail, 4) != 0 || ftruncate(fs.fd, (off_t)(HEADER + len + 4)) != 0 ||
            fsync(fs.fd) != 0) {
            fs.errnum = errno;
            rc = ANX_EIO;
        }
    }
    if (rc != 0) {
        if (rc == ANX_ENOMEM)
            snprintf(err, errlen, "out of memory building the engine state");
        else if (rc == ANX_ESTATE)
            snprintf(err, errlen, "the state changed while %s was written", tmp);
        else
            snprintf(err, errlen, "cannot write %s: %s", tmp,
                     strerror(fs.errnum ? fs.errnum : EIO));
        close(fs.fd);
        unlink(tmp);
        return rc == ANX_ENOMEM ? ANX_ENOMEM : ANX_EIO;
    }
    close(fs.fd);
    /* The file replaced lives on as the spare; without one (the first
     * save, or a folder refusing hard links) the next save simply starts a
     * new file. */
    unlink(spare);
    (void)link(path, spare);
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot rename %s: %s", tmp, strerror(errno));
        unlink(tmp);
        return ANX_EIO;
    }
    /* The journal's checkpoint moves on once this returns: after a power
     * cut the new name must be there, not the old file. */
    if (sync_dir_of(path) != 0) {
        snprintf(err, errlen, "cannot sync the directory of %s: %s", path, strerror(errno));
        return ANX_EIO;
    }
    return 0;
}

/* Bytes already in memory, handed over in pieces like the engine's. */
struct mem_source {
    const uint8_t *data;
    size_t len;
};

static size_t mem_size(void *arg)
{
    return ((const struct mem_source *)arg)->len;
}

static int mem_write(void *arg, snap_sink_fn sink, void *sink_arg)
{
    const struct mem_source *m = arg;
    for (size_t off = 0; off < m->len; off += SYNC_PIECE / 4) {
        size_t n = m->len - off < SYNC_PIECE / 4 ? m->len - off : SYNC_PIECE / 4;
        int rc = sink(sink_arg, m->data + off, n);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int snap_write(const char *path, uint64_t jseq, const uint8_t *data, size_t len, char *err,
               size_t errlen)
{
    struct mem_source m = {data, len};
    struct snap_source src = {mem_size, mem_write, &m};
    return snap_save(path, jseq, &src, false, err, errlen);
}

int snap_read(const char *path, uint64_t *jseq, uint8_t **data, size_t *len, char *err,
              size_t errlen)
{
    size_t n;
    *data = NULL;
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return ANX_ENOENT;
    char *buf = fileio_read(path, 0, &n, err, errlen);
    if (!buf)
        return ANX_EIO;
    const uint8_t *p = (const uint8_t *)buf;
    if (n < HEADER + 4 || memcmp(p, "AXSN", 4) != 0 || get_le(p + 4, 4) != 1 ||
        get_le(p + 16, 8) != n - HEADER - 4 ||
        crc32c(p, n - 4) != (uint32_t)get_le(p + n - 4, 4)) {
        snprintf(err, errlen, "%s is damaged; ignoring it", path);
        free(buf);
        return ANX_ECORRUPT;
    }
    *jseq = get_le(p + 8, 8);
    *len = n - HEADER - 4;
    memmove(buf, buf + HEADER, *len);
    *data = (uint8_t *)buf;
    return 0;
}

/* ---- saving in a child ------------------------------------------------- */

/* Nice only orders the tasks of one scheduling group. With autogroups
 * (Linux's default outside a cgroup with a CPU controller), each session is
 * a group, and the groups share the CPU equally: the broker and PostgreSQL
 * are sessions of their own, so a nice 19 child in anxind's session still
 * got anxind's whole share whenever anxind's loop waited, and held a core
 * for tens of ms while the broker, ready to pass on an SOS, waited (bench:
 * perf sched on the 50 % level). A session of its own puts the child in a
 * group of its own, whose weight /proc/self/autogroup sets: 19 is the
 * lowest, and lowering it needs no privilege. Without autogroups neither
 * call changes anything; both may fail without harm. */
static void lower_group_priority(void)
{
    if (setsid() < 0)
        return;
    int fd = open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    /* Without CAP_SYS_ADMIN the kernel takes one such change a tenth of a
     * second machine-wide and says EAGAIN to the rest (kernel/sched/
     * autogroup.c, proc_sched_autogroup_set_nice): the child can wait that
     * long before saving. Refused otherwise: the group keeps the default
     * weight, as before. */
    for (int tries = 0; tries < 3; tries++) {
        if (write(fd, "19", 2) >= 0 || errno != EAGAIN)
            break;
        nanosleep(&(struct timespec){.tv_nsec = 110 * 1000 * 1000}, NULL);
    }
    close(fd);
}

int snap_bg_start(struct snap_bg *bg, const char *path, uint64_t jseq,
                  const struct snap_source *src, char *err, size_t errlen)
{
    int fds[2];
    if (bg->pid > 0)
        return ANX_EAGAIN;
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(err, errlen, "cannot make a pipe: %s", strerror(errno));
        return ANX_EIO;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* A save outlives no anxind: once its own session keeps it from a
         * terminal's signals, an anxind that died (or was killed) would
         * otherwise leave it writing the spare while the next anxind starts
         * and saves into the same file. The check after covers a parent
         * that died before the request. (The signal follows the thread that
         * forked: the loop's, which lives as long as anxind.) */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(3);
        /* The loop's signal handlers would report to the parent's loop (the
         * pipe is shared): a stop signal simply ends the child. */
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        /* Saving is background work: at the lowest priority it takes the
         * CPU left over, not a core from the threads carrying an SOS (at
         * 90 % load a saving child at equal priority made a 300 ms queue).
         * Unlike SCHED_IDLE, nice 19 still progresses on a busy machine;
         * if it is refused, saving at normal priority still saves. */
        setpriority(PRIO_PROCESS, 0, 19);
        lower_group_priority();
        char why[300] = "";
        int rc = snap_save(path, jseq, src, false, why, sizeof why) == 0 ? 0 : 1;
        if (rc != 0 && write(fds[1], why, strlen(why)) < 0)
            rc = 2;
        _exit(rc);
    }
    close(fds[1]);
    if (pid < 0) {
        snprintf(err, errlen, "cannot fork: %s", strerror(errno));
        close(fds[0]);
        return ANX_EIO;
    }
    bg->pid = pid;
    bg->err_fd = fds[0];
    bg->jseq = jseq;
    return 0;
}

void snap_bg_cancel(struct snap_bg *bg)
{
    if (bg->pid <= 0)
        return;
    kill(bg->pid, SIGKILL);
    while (waitpid(bg->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    close(bg->err_fd);
    bg->pid = 0;
}

int snap_bg_poll(struct snap_bg *bg, bool wait, bool *done, uint64_t *jseq, char *err,
                 size_t errlen)
{
    int status;
    pid_t r;
    *done = false;
    if (bg->pid <= 0)
        return 0;
    do
        r = waitpid(bg->pid, &status, wait ? 0 : WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return 0;
    char why[300];
    ssize_t n = read(bg->err_fd, why, sizeof why - 1);
    why[n > 0 ? n : 0] = '\0';
    close(bg->err_fd);
    bg->pid = 0;
    *done = true;
    *jseq = bg->jseq;
    if (r > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (why[0])
        snprintf(err, errlen, "%s", why);
    else if (r < 0)
        snprintf(err, errlen, "lost the saving process: %s", strerror(errno));
    else if (WIFSIGNALED(status))
        snprintf(err, errlen, "the saving process was killed by signal %d", WTERMSIG(status));
    else
        snprintf(err, errlen, "the saving process ended with status %d", WEXITSTATUS(status));
    return ANX_EIO;
}
