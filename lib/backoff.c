/* backoff.c - exponential backoff with equal jitter. */
#include "backoff.h"

#include <ctype.h>

int64_t backoff_delay_ms(int attempt, int64_t base_ms, int64_t max_ms, uint32_t rnd)
{
    if (attempt < 1)
        attempt = 1;
    if (base_ms < 1)
        base_ms = 1;
    if (max_ms < base_ms)
        max_ms = base_ms;
    int64_t d = base_ms;
    for (int i = 1; i < attempt && d < max_ms; i++)
        d = d > max_ms / 2 ? max_ms : d * 2;   /* no overflow for a cap near INT64_MAX */
    if (d > max_ms)
        d = max_ms;
    int64_t half = d / 2;
    return d - half + (int64_t)(rnd % (uint64_t)(half + 1));
}

int64_t backoff_retry_after_ms(const char *value)
{
    int64_t s = 0;
    const char *p = value;

    if (!p)
        return -1;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!isdigit((unsigned char)*p))
        return -1;
    for (; isdigit((unsigned char)*p); p++) {
        s = s * 10 + (*p - '0');
        if (s > 86400)      /* more than a day is not a retry hint we follow */
            return -1;
    }
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    return *p ? -1 : s * 1000;
}
