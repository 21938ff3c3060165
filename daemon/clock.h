/* clock.h - the daemon's wall clock. The domain code in lib/ never reads a
 * clock; the daemon reads it here and passes the time in. */
#ifndef ANXIN_CLOCK_H
#define ANXIN_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds since the epoch (CLOCK_REALTIME). Thread-safe. */
static inline int64_t clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Microseconds of CLOCK_MONOTONIC, for timing how long something took. */
static inline int64_t clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
