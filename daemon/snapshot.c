/* snapshot.c - the engine state file (see snapshot.h). */
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crc32c.h"
#include "err.h"
#include "fileio.h"

#define HEADER 24   /* magic 4, version 4, jseq 8, length 8 */

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

int snap_write(const char *path, uint64_t jseq, const uint8_t *data, size_t len, char *err,
               size_t errlen)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        return ANX_EIO;
    }
    uint8_t head[HEADER], tail[4];
    memcpy(head, "AXSN", 4);
    put_le(head + 4, 1, 4);
    put_le(head + 8, jseq, 8);
    put_le(head + 16, len, 8);
    uint32_t crc = crc32c_update(crc32c(head, HEADER), data, len);
    put_le(tail, crc, 4);
    if (write_all(fd, head, HEADER) || write_all(fd, data, len) || write_all(fd, tail, 4) ||
        fsync(fd)) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return ANX_EIO;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot rename %s: %s", tmp, strerror(errno));
        unlink(tmp);
        return ANX_EIO;
    }
    return 0;
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

int snap_bg_start(struct snap_bg *bg, const char *path, uint64_t jseq, snap_build_fn build,
                  void *arg, char *err, size_t errlen)
{
    int fds[2];
    if (bg->pid > 0)
        return ANX_EAGAIN;
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(err, errlen, "cannot make a pipe: %s", strerror(errno));
        return ANX_EIO;
    }
    pid_t pid = fork();
    if (pid == 0) {
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
        char why[300] = "";
        size_t len;
        uint8_t *buf = build(arg, &len);
        int rc = 1;
        if (!buf)
            snprintf(why, sizeof why, "out of memory building the engine state");
        else if (snap_write(path, jseq, buf, len, why, sizeof why) == 0)
            rc = 0;
        free(buf);
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
