/* backoff.h - retry delays: exponential growth with jitter, so that many
 * senders retrying after one outage do not hit a provider in lockstep. */
#ifndef ANXIN_BACKOFF_H
#define ANXIN_BACKOFF_H

#include <stdint.h>

/* Delay before retry number `attempt` (1 = first retry): base * 2^(attempt-1)
 * capped at max, then "equal jitter": half fixed, half drawn from `rnd`
 * (any 32-bit random value), so the result lies in [d/2, d]. */
int64_t backoff_delay_ms(int attempt, int64_t base_ms, int64_t max_ms, uint32_t rnd);

/* Parses an HTTP Retry-After value given in seconds ("120"); HTTP dates are
 * not accepted. Returns the delay in ms, or -1 if the value is not usable. */
int64_t backoff_retry_after_ms(const char *value);

#endif
