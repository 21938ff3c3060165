/* authguard.c - counting refused requests per address (authguard.h says
 * what for). The table is scanned whole: it is only touched when a request
 * is refused, and GUARD_SLOTS short strings are a few microseconds. */
#include "authguard.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdio.h>
#include <string.h>

void guard_addr_key(int family, const uint8_t *addr, char out[static GUARD_ADDR_SIZE])
{
    static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    snprintf(out, GUARD_ADDR_SIZE, "?");
    if (family == AF_INET) {
        inet_ntop(AF_INET, addr, out, GUARD_ADDR_SIZE);
    } else if (family == AF_INET6 && memcmp(addr, v4_mapped, sizeof v4_mapped) == 0) {
        inet_ntop(AF_INET, addr + 12, out, GUARD_ADDR_SIZE);
    } else if (family == AF_INET6) {
        uint8_t net[16] = {0};
        char text[INET6_ADDRSTRLEN];
        memcpy(net, addr, 8);
        if (inet_ntop(AF_INET6, net, text, sizeof text))
            snprintf(out, GUARD_ADDR_SIZE, "%s/64", text);
    }
}

void guard_init(struct guard *g, unsigned limit, int64_t window_ms, int64_t throttle_ms)
{
    memset(g->slots, 0, sizeof g->slots);
    guard_set_policy(g, limit, window_ms, throttle_ms);
}

void guard_set_policy(struct guard *g, unsigned limit, int64_t window_ms, int64_t throttle_ms)
{
    g->limit = limit;
    g->window_ms = window_ms;
    g->throttle_ms = throttle_ms;
}

static bool throttled(const struct guard_slot *s, int64_t now_ms)
{
    return s->throttled_until_ms > now_ms;
}

static const struct guard_slot *find(const struct guard *g, const char *addr)
{
    for (size_t i = 0; i < GUARD_SLOTS; i++)
        if (g->slots[i].addr[0] && strncmp(g->slots[i].addr, addr, GUARD_ADDR_SIZE - 1) == 0)
            return &g->slots[i];
    return NULL;
}

/* A free slot, else the one whose loss matters least: an address not
 * throttled, seen longest ago; when all are throttled, the one whose
 * throttle ends first. */
static struct guard_slot *make_room(struct guard *g, int64_t now_ms)
{
    struct guard_slot *best = NULL;
    for (size_t i = 0; i < GUARD_SLOTS; i++) {
        struct guard_slot *s = &g->slots[i];
        if (!s->addr[0])
            return s;
        if (!best) {
            best = s;
            continue;
        }
        bool st = throttled(s, now_ms), bt = throttled(best, now_ms);
        if (st != bt ? !st
                     : st ? s->throttled_until_ms < best->throttled_until_ms
                          : s->last_ms < best->last_ms)
            best = s;
    }
    return best;
}

enum guard_verdict guard_fail(struct guard *g, const char *addr, int64_t now_ms)
{
    struct guard_slot *s = (struct guard_slot *)find(g, addr);
    if (!s) {
        s = make_room(g, now_ms);
        assert(s);
        memset(s, 0, sizeof *s);
        snprintf(s->addr, sizeof s->addr, "%s", addr);
    }
    s->last_ms = now_ms;
    if (throttled(s, now_ms))
        return GUARD_THROTTLED;
    if (s->failures == 0 || now_ms - s->window_start_ms >= g->window_ms) {
        s->window_start_ms = now_ms;
        s->failures = 0;
    }
    s->failures++;
    if (g->limit && s->failures >= g->limit) {
        s->throttled_until_ms = now_ms + g->throttle_ms;
        s->failures = 0;
        return GUARD_THROTTLE_STARTS;
    }
    return GUARD_COUNTED;
}

int64_t guard_throttled_for(const struct guard *g, const char *addr, int64_t now_ms)
{
    const struct guard_slot *s = find(g, addr);
    return s && throttled(s, now_ms) ? s->throttled_until_ms - now_ms : 0;
}
