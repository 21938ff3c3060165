/* rng.h - a small fast random generator (xorshift64*, after Vigna, "An
 * experimental exploration of Marsaglia's xorshift generators"). For
 * jitter and codes that must not be guessable from ids; not cryptographic. */
#ifndef ANXIN_RNG_H
#define ANXIN_RNG_H

#include <stdint.h>

/* Advances *state (never 0) and returns 32 random bits. */
static inline uint32_t rng_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return (uint32_t)((x * 2685821657736338717ull) >> 32);
}

#endif
