/* authguard.h - a brake on refused requests, per client address: failed
 * logins and bearer tokens, forged or malformed provider callbacks. After
 * `limit` refusals within `window_ms`, the address is throttled for
 * `throttle_ms`: its refusals are answered 429 and no longer logged or
 * audited one by one, so a script trying tokens or posting forged reports
 * cannot fill the database or the log. A right token or key still works
 * while its address is throttled: tokens and keys carry enough random bits
 * that there is nothing to guess, and a call centre behind one address
 * must not be locked out of its console by a mistyping colleague.
 *
 * A fixed table of GUARD_SLOTS addresses; when it is full, the address seen
 * longest ago makes room (one that is throttled only after all that are
 * not). Pure: time is passed in. */
#ifndef ANXIN_AUTHGUARD_H
#define ANXIN_AUTHGUARD_H

#include <stdbool.h>
#include <stdint.h>

#define GUARD_SLOTS 1024
#define GUARD_ADDR_SIZE 52      /* an IPv6 text address (45), "/64" and the NUL */

struct guard_slot {
    char addr[GUARD_ADDR_SIZE]; /* "" = free */
    int64_t window_start_ms;    /* the first failure counted */
    int64_t throttled_until_ms; /* 0 = not throttled */
    int64_t last_ms;            /* the last failure: eviction order */
    unsigned failures;          /* within the window */
};

struct guard {
    struct guard_slot slots[GUARD_SLOTS];
    unsigned limit;             /* failures that start a throttle; 0 = never */
    int64_t window_ms;
    int64_t throttle_ms;
};

enum guard_verdict {
    GUARD_COUNTED,              /* under the limit: refuse as usual */
    GUARD_THROTTLE_STARTS,      /* this one reached the limit: as usual, and say it once */
    GUARD_THROTTLED,            /* within a throttle: answer 429, do not log or audit it */
};

/* The text an address is counted under, from its bytes (family AF_INET: 4
 * bytes, AF_INET6: 16): IPv4 as is ("192.0.2.7"), also when it comes
 * IPv4-mapped; other IPv6 as its /64 ("2001:db8:1:2::/64"), since one host
 * holds a whole /64. "?" for another family. */
void guard_addr_key(int family, const uint8_t *addr, char out[static GUARD_ADDR_SIZE]);

/* Empties the table and sets the policy. */
void guard_init(struct guard *g, unsigned limit, int64_t window_ms, int64_t throttle_ms);

/* A new policy (a configuration reload) for the failures from now on;
 * throttles in force keep their end. */
void guard_set_policy(struct guard *g, unsigned limit, int64_t window_ms, int64_t throttle_ms);

/* Records a failure from addr (truncated to GUARD_ADDR_SIZE - 1 bytes). */
enum guard_verdict guard_fail(struct guard *g, const char *addr, int64_t now_ms);

/* Milliseconds until addr's throttle ends; 0 when it is not throttled. */
int64_t guard_throttled_for(const struct guard *g, const char *addr, int64_t now_ms);

#endif
