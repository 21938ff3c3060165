/* test_snapshot.c - unit tests for the engine state file (daemon/snapshot.c):
 * a round trip, damage found by the checksum, the spare file overwritten in
 * place by the next save (and never when it is the file in use), a failing
 * source keeping the saved file, and the forked saver: it saves its source, runs at the lowest priority (it
 * must not take a core from the threads carrying an SOS), and reports a
 * failure with its reason. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "snapshot.h"

struct fx {
    char dir[64];                       /* mkdtemp directory, removed afterwards */
    char path[128];                     /* dir/engine.snap */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/anxin-snap-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/engine.snap", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char name[160];
    unlink(f->path);
    snprintf(name, sizeof name, "%s.spare", f->path);
    unlink(name);
    snprintf(name, sizeof name, "%s.tmp", f->path);
    unlink(name);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void test_round_trip_and_damage(void **state)
{
    struct fx *f = *state;
    char err[300];
    uint8_t *data;
    size_t len;
    uint64_t jseq;
    assert_int_equal(snap_read(f->path, &jseq, &data, &len, err, sizeof err), ANX_ENOENT);
    assert_int_equal(snap_write(f->path, 42, (const uint8_t *)"state!", 6, err, sizeof err), 0);
    assert_int_equal(snap_read(f->path, &jseq, &data, &len, err, sizeof err), 0);
    assert_int_equal(jseq, 42);
    assert_int_equal(len, 6);
    assert_memory_equal(data, "state!", 6);
    free(data);

    /* One byte changed in the middle: refused, with the file named. */
    FILE *fp = fopen(f->path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, -7, SEEK_END), 0);
    fputc('X', fp);
    fclose(fp);
    assert_int_equal(snap_read(f->path, &jseq, &data, &len, err, sizeof err), ANX_ECORRUPT);
    assert_non_null(strstr(err, "damaged"));
    assert_null(data);
}

/* A state of several megabytes, of no round size, comes back byte for byte. */
static void test_round_trip_large(void **state)
{
    struct fx *f = *state;
    char err[300];
    size_t n = (9u << 20) + 13;
    uint8_t *big = malloc(n);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (uint8_t)(i * 2654435761u >> 13);
    assert_int_equal(snap_write(f->path, 7, big, n, err, sizeof err), 0);
    uint8_t *data;
    size_t len;
    uint64_t jseq;
    assert_int_equal(snap_read(f->path, &jseq, &data, &len, err, sizeof err), 0);
    assert_int_equal(jseq, 7);
    assert_int_equal(len, n);
    assert_memory_equal(data, big, n);
    free(data);
    free(big);
}

/* The autogroup nice of this process, or -1 without autogroups. */
static int autogroup_nice(void)
{
    FILE *fp = fopen("/proc/self/autogroup", "r");
    int nice_now = -1;
    if (fp) {
        if (fscanf(fp, "/autogroup-%*d nice %d", &nice_now) != 1)
            nice_now = -1;
        fclose(fp);
    }
    return nice_now;
}

/* Runs in the child: saves the priority it runs at, whether it leads a
 * session of its own, and its scheduling group's nice. */
static void priority_text(char *out, size_t len)
{
    errno = 0;
    int nice_now = getpriority(PRIO_PROCESS, 0);
    snprintf(out, len, "nice=%d session=%d group=%d", errno ? -99 : nice_now,
             getsid(0) == getpid(), autogroup_nice());
}

static size_t priority_size(void *arg)
{
    (void)arg;
    char t[64];
    priority_text(t, sizeof t);
    return strlen(t);
}

static int priority_write(void *arg, snap_sink_fn sink, void *sink_arg)
{
    (void)arg;
    char t[64];
    priority_text(t, sizeof t);
    return sink(sink_arg, t, strlen(t));
}

static const struct snap_source priority_source = {priority_size, priority_write, NULL};

static int no_memory(void *arg, snap_sink_fn sink, void *sink_arg)
{
    (void)arg;
    (void)sink;
    (void)sink_arg;
    return ANX_ENOMEM;
}

static const struct snap_source nothing_source = {priority_size, no_memory, NULL};

/* Says one byte more than it writes: a source that changed between its two
 * passes. */
static size_t short_size(void *arg)
{
    return priority_size(arg) + 1;
}

static const struct snap_source short_source = {short_size, priority_write, NULL};

/* Writes half its state and then waits for ever: a save a stop must end. */
static size_t stuck_size(void *arg)
{
    (void)arg;
    return 8;
}

static int stuck_write(void *arg, snap_sink_fn sink, void *sink_arg)
{
    (void)arg;
    sink(sink_arg, "half", 4);
    for (;;)
        pause();
    return 0;
}

static const struct snap_source stuck_source = {stuck_size, stuck_write, NULL};

static ino_t inode_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_ino;
}

static void expect_file(const char *path, uint64_t want_jseq, const void *want, size_t want_len)
{
    char err[300];
    uint8_t *data;
    size_t len;
    uint64_t jseq;
    assert_int_equal(snap_read(path, &jseq, &data, &len, err, sizeof err), 0);
    assert_int_equal(jseq, want_jseq);
    assert_int_equal(len, want_len);
    assert_memory_equal(data, want, len);
    free(data);
}

/* The file replaced is kept as the spare, and the next save overwrites it
 * in place (same inode: no blocks freed and allocated again), longer or
 * shorter than before. */
static void test_spare_is_overwritten_in_place(void **state)
{
    struct fx *f = *state;
    char err[300], spare[160];
    snprintf(spare, sizeof spare, "%s.spare", f->path);
    size_t n = (3u << 20) + 5;
    uint8_t *big = malloc(n);
    assert_non_null(big);
    memset(big, 'a', n);
    assert_int_equal(snap_write(f->path, 1, big, n, err, sizeof err), 0);
    assert_int_equal(access(spare, F_OK), -1);
    ino_t first = inode_of(f->path);

    assert_int_equal(snap_write(f->path, 2, (const uint8_t *)"second", 6, err, sizeof err), 0);
    assert_int_equal(inode_of(spare), first);
    expect_file(spare, 1, big, n);
    expect_file(f->path, 2, "second", 6);
    ino_t second = inode_of(f->path);

    /* Shorter than the spare: cut to its own length. */
    assert_int_equal(snap_write(f->path, 3, (const uint8_t *)"3rd", 3, err, sizeof err), 0);
    assert_int_equal(inode_of(f->path), first);
    expect_file(f->path, 3, "3rd", 3);
    assert_int_equal(inode_of(spare), second);
    /* Longer than the spare: grows. */
    assert_int_equal(snap_write(f->path, 4, big, n, err, sizeof err), 0);
    assert_int_equal(inode_of(f->path), second);
    expect_file(f->path, 4, big, n);
    free(big);
}

/* Pages of path in the page cache (mincore on a mapping of it). */
static size_t cached_pages(const char *path, size_t *total)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    size_t page = (size_t)sysconf(_SC_PAGESIZE), n = ((size_t)st.st_size + page - 1) / page;
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    assert_true(m != MAP_FAILED);
    unsigned char *vec = malloc(n);
    assert_non_null(vec);
    assert_int_equal(mincore(m, (size_t)st.st_size, vec), 0);
    size_t in = 0;
    for (size_t i = 0; i < n; i++)
        in += vec[i] & 1;
    free(vec);
    munmap(m, (size_t)st.st_size);
    close(fd);
    *total = n;
    return in;
}

/* n bytes of 'c', handed over 64 KiB at a time. */
static size_t c_size(void *arg)
{
    return *(const size_t *)arg;
}

static int c_write(void *arg, snap_sink_fn sink, void *sink_arg)
{
    static const uint8_t piece[65536] = {'c'};
    size_t n = *(const size_t *)arg;
    for (size_t off = 0; off < n; off += sizeof piece) {
        int rc = sink(sink_arg, piece, n - off < sizeof piece ? n - off : sizeof piece);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* A background save leaves the page cache as it goes (but for the last,
 * partial megabyte); a save at a stop stays there for the next start. */
static void test_saved_pages_leave_the_cache_unless_kept(void **state)
{
    struct fx *f = *state;
    struct statfs sf;
    assert_int_equal(statfs(f->dir, &sf), 0);
    if (sf.f_type == TMPFS_MAGIC)
        skip();                         /* tmpfs pages cannot be dropped */
    char err[300];
    size_t n = (6u << 20) + 100, total;
    struct snap_source src = {c_size, c_write, &n};
    assert_int_equal(snap_save(f->path, 1, &src, false, err, sizeof err), 0);
    size_t in = cached_pages(f->path, &total);
    assert_true(total > 1536);
    assert_true(in <= (1u << 20) / 4096 + 2);

    assert_int_equal(snap_save(f->path, 2, &src, true, err, sizeof err), 0);
    in = cached_pages(f->path, &total);
    assert_int_equal(in, total);
}

/* A stop between keeping the spare and the rename leaves the spare as a
 * second name of the file in use: the next save must not write into it. */
static void test_spare_that_is_the_file_in_use_is_left_alone(void **state)
{
    struct fx *f = *state;
    char err[300], spare[160], tmp[160];
    snprintf(spare, sizeof spare, "%s.spare", f->path);
    snprintf(tmp, sizeof tmp, "%s.tmp", f->path);
    assert_int_equal(snap_write(f->path, 1, (const uint8_t *)"in use", 6, err, sizeof err), 0);
    assert_int_equal(snap_write(f->path, 2, (const uint8_t *)"next", 4, err, sizeof err), 0);
    /* The moment of the stop: the spare gone, the file in use linked as the
     * spare, the new file waiting as tmp. */
    assert_int_equal(rename(spare, tmp), 0);
    assert_int_equal(link(f->path, spare), 0);
    unlink(tmp);

    assert_int_equal(snap_write(f->path, 3, (const uint8_t *)"third", 5, err, sizeof err), 0);
    expect_file(f->path, 3, "third", 5);
    expect_file(spare, 2, "next", 4);
    assert_int_equal(access(tmp, F_OK), -1);
}

/* A source that fails or miscounts leaves the saved file as it was. */
static void test_failed_source_keeps_the_file(void **state)
{
    struct fx *f = *state;
    char err[300] = "";
    assert_int_equal(snap_write(f->path, 1, (const uint8_t *)"good", 4, err, sizeof err), 0);
    assert_int_equal(snap_save(f->path, 2, &nothing_source, false, err, sizeof err), ANX_ENOMEM);
    assert_non_null(strstr(err, "out of memory"));
    assert_int_equal(snap_save(f->path, 2, &short_source, true, err, sizeof err), ANX_EIO);
    assert_non_null(strstr(err, "changed"));
    expect_file(f->path, 1, "good", 4);
}

static void test_background_save_at_lowest_priority(void **state)
{
    struct fx *f = *state;
    struct snap_bg bg = {0};
    char err[300];
    int parent_group = autogroup_nice();
    assert_int_equal(snap_bg_start(&bg, f->path, 7, &priority_source, err, sizeof err), 0);
    assert_true(bg.pid > 0);
    /* One at a time. */
    assert_int_equal(snap_bg_start(&bg, f->path, 8, &priority_source, err, sizeof err),
                     ANX_EAGAIN);
    bool done = false;
    uint64_t jseq = 0;
    assert_int_equal(snap_bg_poll(&bg, true, &done, &jseq, err, sizeof err), 0);
    assert_true(done);
    assert_int_equal(jseq, 7);
    assert_int_equal(bg.pid, 0);

    uint8_t *data;
    size_t len;
    assert_int_equal(snap_read(f->path, &jseq, &data, &len, err, sizeof err), 0);
    assert_int_equal(jseq, 7);
    /* Its own session, so its own scheduling group, at the lowest weight
     * where the kernel has autogroups (snapshot.c says why). Whether the
     * parent's group can be read says nothing about the child's: a process
     * in init's session shows an empty file, and the child's new session
     * has a group of its own all the same. */
    char want[64];
    snprintf(want, sizeof want, "nice=19 session=1 group=%d",
             access("/proc/self/autogroup", F_OK) == 0 ? 19 : -1);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(data, want, len);
    free(data);
    /* The parent keeps its own priority and its group's. */
    errno = 0;
    assert_true(getpriority(PRIO_PROCESS, 0) < 19 || errno != 0);
    assert_int_equal(autogroup_nice(), parent_group);
}

/* A stop ends a save under way: the child is gone and reaped, the saved
 * file is the one before, and the next save works. */
static void test_background_save_cancelled(void **state)
{
    struct fx *f = *state;
    struct snap_bg bg = {0};
    char err[300];
    assert_int_equal(snap_write(f->path, 1, (const uint8_t *)"before", 6, err, sizeof err), 0);
    assert_int_equal(snap_write(f->path, 2, (const uint8_t *)"good", 4, err, sizeof err), 0);
    assert_int_equal(snap_bg_start(&bg, f->path, 3, &stuck_source, err, sizeof err), 0);
    pid_t pid = bg.pid;
    snap_bg_cancel(&bg);
    assert_int_equal(bg.pid, 0);
    assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);     /* reaped */
    assert_int_equal(errno, ECHILD);
    snap_bg_cancel(&bg);                                    /* none running: nothing */
    bool done = true;
    uint64_t jseq = 0;
    assert_int_equal(snap_bg_poll(&bg, true, &done, &jseq, err, sizeof err), 0);
    assert_false(done);
    expect_file(f->path, 2, "good", 4);
    assert_int_equal(snap_write(f->path, 4, (const uint8_t *)"after", 5, err, sizeof err), 0);
    expect_file(f->path, 4, "after", 5);
}

/* A save dies with the anxind that started it (which is not there to end
 * it): a process of the test starts a save that never ends, and exits. */
static void test_background_save_dies_with_its_anxind(void **state)
{
    struct fx *f = *state;
    int fds[2];
    /* Orphans come to this process, so the save can be waited for here. */
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    assert_int_equal(pipe(fds), 0);
    pid_t anxind = fork();
    assert_true(anxind >= 0);
    if (anxind == 0) {
        struct snap_bg bg = {0};
        char err[300];
        if (snap_bg_start(&bg, f->path, 5, &stuck_source, err, sizeof err) != 0)
            _exit(1);
        /* Dies once the save is under way (it leads its session by then),
         * so that it is the death that ends it, not the check at its start. */
        for (int i = 0; i < 1000 && getsid(bg.pid) != bg.pid; i++)
            usleep(10000);
        _exit(write(fds[1], &bg.pid, sizeof bg.pid) == (ssize_t)sizeof bg.pid ? 0 : 1);
    }
    close(fds[1]);
    pid_t saver = 0;
    assert_int_equal(read(fds[0], &saver, sizeof saver), sizeof saver);
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(anxind, &status, 0), anxind);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* Killed at once; a save still there after 10 s is the failure (and is
     * ended here, or the test would never end). */
    pid_t r = 0;
    for (int i = 0; i < 1000 && (r = waitpid(saver, &status, WNOHANG)) == 0; i++)
        usleep(10000);
    if (r == 0) {
        kill(saver, SIGKILL);
        waitpid(saver, &status, 0);
        fail_msg("the save outlived its anxind");
    }
    assert_int_equal(r, saver);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

static void test_background_failure_says_why(void **state)
{
    struct fx *f = *state;
    struct snap_bg bg = {0};
    char err[300] = "";
    bool done = false;
    uint64_t jseq = 0;
    assert_int_equal(snap_bg_start(&bg, f->path, 9, &nothing_source, err, sizeof err), 0);
    assert_int_equal(snap_bg_poll(&bg, true, &done, &jseq, err, sizeof err), ANX_EIO);
    assert_true(done);
    assert_non_null(strstr(err, "out of memory"));

    char missing[200];
    snprintf(missing, sizeof missing, "%s/no-such-dir/engine.snap", f->dir);
    assert_int_equal(snap_bg_start(&bg, missing, 9, &priority_source, err, sizeof err), 0);
    assert_int_equal(snap_bg_poll(&bg, true, &done, &jseq, err, sizeof err), ANX_EIO);
    assert_true(done);
    assert_non_null(strstr(err, "no-such-dir"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_and_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spare_is_overwritten_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spare_that_is_the_file_in_use_is_left_alone, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failed_source_keeps_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_saved_pages_leave_the_cache_unless_kept, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_background_save_at_lowest_priority, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_background_save_cancelled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_background_save_dies_with_its_anxind, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_background_failure_says_why, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
