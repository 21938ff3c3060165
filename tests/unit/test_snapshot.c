/* test_snapshot.c - unit tests for the engine state file (daemon/snapshot.c):
 * a round trip, damage found by the checksum, and the forked saver: it
 * saves what its build function returns, runs at the lowest priority (it
 * must not take a core from the threads carrying an SOS), and reports a
 * failure with its reason. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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
    unlink(f->path);
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

/* Runs in the child: saves the priority it runs at. */
static uint8_t *build_priority(void *arg, size_t *len)
{
    (void)arg;
    errno = 0;
    int nice_now = getpriority(PRIO_PROCESS, 0);
    uint8_t *b = malloc(16);
    if (!b)
        return NULL;
    *len = (size_t)snprintf((char *)b, 16, "nice=%d", errno ? -99 : nice_now);
    return b;
}

static uint8_t *build_nothing(void *arg, size_t *len)
{
    (void)arg;
    (void)len;
    return NULL;
}

static void test_background_save_at_lowest_priority(void **state)
{
    struct fx *f = *state;
    struct snap_bg bg = {0};
    char err[300];
    assert_int_equal(snap_bg_start(&bg, f->path, 7, build_priority, NULL, err, sizeof err), 0);
    assert_true(bg.pid > 0);
    /* One at a time. */
    assert_int_equal(snap_bg_start(&bg, f->path, 8, build_priority, NULL, err, sizeof err),
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
    assert_int_equal(len, strlen("nice=19"));
    assert_memory_equal(data, "nice=19", len);
    free(data);
    /* The parent keeps its own priority. */
    errno = 0;
    assert_true(getpriority(PRIO_PROCESS, 0) < 19 || errno != 0);
}

static void test_background_failure_says_why(void **state)
{
    struct fx *f = *state;
    struct snap_bg bg = {0};
    char err[300] = "";
    bool done = false;
    uint64_t jseq = 0;
    assert_int_equal(snap_bg_start(&bg, f->path, 9, build_nothing, NULL, err, sizeof err), 0);
    assert_int_equal(snap_bg_poll(&bg, true, &done, &jseq, err, sizeof err), ANX_EIO);
    assert_true(done);
    assert_non_null(strstr(err, "out of memory"));

    char missing[200];
    snprintf(missing, sizeof missing, "%s/no-such-dir/engine.snap", f->dir);
    assert_int_equal(snap_bg_start(&bg, missing, 9, build_priority, NULL, err, sizeof err), 0);
    assert_int_equal(snap_bg_poll(&bg, true, &done, &jseq, err, sizeof err), ANX_EIO);
    assert_true(done);
    assert_non_null(strstr(err, "no-such-dir"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_and_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_background_save_at_lowest_priority, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_background_failure_says_why, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
