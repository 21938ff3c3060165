/* esc.c - escalation planning (see esc.h). */
#include "esc.h"

/* The index of the step that runs i-th (steps sorted by `at`, stable). */
static size_t nth_step(const struct rule_chain *c, size_t i)
{
    /* Chains are a handful of steps: count instead of sorting. */
    for (size_t s = 0; s < c->n_steps; s++) {
        size_t before = 0;
        for (size_t o = 0; o < c->n_steps; o++)
            if (c->steps[o].at_ms < c->steps[s].at_ms ||
                (c->steps[o].at_ms == c->steps[s].at_ms && o < s))
                before++;
        if (before == i)
            return s;
    }
    return 0;
}

bool esc_firing(const struct rule_chain *c, int64_t k, const struct rule_step **step,
                int64_t *offset_ms)
{
    int64_t n = (int64_t)c->n_steps;
    if (k < 0 || n == 0)
        return false;
    if (k < n) {
        *step = &c->steps[nth_step(c, (size_t)k)];
        *offset_ms = (*step)->at_ms;
        return true;
    }
    if (c->repeat_ms <= 0)
        return false;
    int64_t last = c->steps[nth_step(c, (size_t)(n - 1))].at_ms;
    int64_t r = k - n;
    *step = &c->steps[nth_step(c, (size_t)(r % n))];
    *offset_ms = last + (r + 1) * c->repeat_ms;
    return true;
}

int64_t esc_immediate(const struct rule_chain *c)
{
    int64_t n = 0;
    for (size_t i = 0; i < c->n_steps; i++)
        n += c->steps[i].at_ms <= 0;
    return n;
}

int64_t esc_ack_timeout_ms(const struct rule_chain *c)
{
    return c && c->ack_timeout_ms > 0 ? c->ack_timeout_ms : ESC_DEFAULT_ACK_TIMEOUT_MS;
}

static bool matches(const struct rule_step *s, const struct reg_contact *k)
{
    if (s->target == RULE_TARGET_PRIORITY)
        return k->priority == s->priority;
    if (s->target == RULE_TARGET_ROLE)
        return k->role == s->role;
    return false;
}

size_t esc_targets(const struct rule_step *s, const struct reg_elder *e, bool voice_ok,
                   struct esc_target *out, size_t max)
{
    size_t n = 0;
    if (s->target == RULE_TARGET_CONSOLE || s->target == RULE_TARGET_MAINTAINER) {
        if (max > 0)
            out[n++] = (struct esc_target){-1, NOTIFY_SMS};
        return n;
    }
    for (size_t i = 0; i < e->n_contacts && n < max; i++) {
        const struct reg_contact *k = &e->contacts[i];
        if (!matches(s, k))
            continue;
        unsigned want = s->channels ? s->channels : k->channels;
        unsigned takes = k->channels ? k->channels : REG_CHANNEL_SMS;
        if (!voice_ok)
            takes &= ~REG_CHANNEL_VOICE;
        if (!takes)
            takes = REG_CHANNEL_SMS;
        /* Asked-for channels the contact takes; else whatever they take. */
        unsigned use = want & takes;
        if (!use)
            use = takes & REG_CHANNEL_SMS ? REG_CHANNEL_SMS : takes;
        if ((use & REG_CHANNEL_SMS) && n < max)
            out[n++] = (struct esc_target){(int)i, NOTIFY_SMS};
        if ((use & REG_CHANNEL_VOICE) && n < max)
            out[n++] = (struct esc_target){(int)i, NOTIFY_VOICE};
    }
    return n;
}
