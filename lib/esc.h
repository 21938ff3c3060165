/* esc.h - escalation chains: when each step of an alert's chain is due and
 * whom it calls. Pure planning; the daemon stores the timers and sends.
 *
 * A chain's steps run in order of their `at` time from the alert's start.
 * With `repeat every D until acknowledged`, after the last step the steps
 * run again in the same order, one every D, so the calls keep rotating
 * through the people of the chain until someone takes the alert. Firings are
 * numbered k = 0, 1, 2, ...; firing k runs one step. */
#ifndef ANXIN_ESC_H
#define ANXIN_ESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notify.h"
#include "registry.h"
#include "rule.h"

#define ESC_DEFAULT_ACK_TIMEOUT_MS (30 * 60 * 1000)

/* Firing k of the chain: the step it runs and its time from the alert's
 * start. Returns false when the chain has no firing k (no repeat, k past
 * the last step). */
bool esc_firing(const struct rule_chain *c, int64_t k, const struct rule_step **step,
                int64_t *offset_ms);

/* How many firings are due at once when the alert opens (steps at 0s). */
int64_t esc_immediate(const struct rule_chain *c);

int64_t esc_ack_timeout_ms(const struct rule_chain *c);

/* One person (or the console) to tell, on one channel. */
struct esc_target {
    int contact;                        /* index into e->contacts, -1 for the console */
    enum notify_channel channel;
};

/* The targets of a step for an elder: every contact the step names
 * (priority N, or a role), once per channel the step asks for. A contact who
 * does not take a channel the step asks for is reached on the one they take
 * (a voice step falls back to SMS), never skipped; `console` and
 * `maintainer` yield one target with contact -1. voice_ok false (no voice
 * provider) turns voice into SMS. Returns how many (at most max). */
size_t esc_targets(const struct rule_step *s, const struct reg_elder *e, bool voice_ok,
                   struct esc_target *out, size_t max);

#endif
