/* notify.h - notifications: who is told about an alert, what the message
 * says, and the request body of the generic webhook provider.
 *
 * One notification is one message to one person on one channel; its id is
 * the idempotency key providers see, so a resend after a restart can be
 * recognised. Pure: the daemon does the sending. */
#ifndef ANXIN_NOTIFY_H
#define ANXIN_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "registry.h"
#include "rule.h"

enum notify_channel { NOTIFY_SMS, NOTIFY_VOICE };

struct notify_msg {
    int64_t id;
    int64_t alert_id;
    int64_t contact_id;                 /* 0 = not a registry contact */
    char elder_id[TLM_MAX_ID + 1];
    char rule[RULE_NAME_MAX + 1];
    enum rule_severity severity;
    char contact_name[101];
    int role;                           /* enum reg_role, -1 unknown */
    char to[20];                        /* E.164 */
    enum notify_channel channel;
    char ack_code[ALERT_ACK_CODE_LEN + 1];
    int64_t event_ts_ms;
    int64_t created_ms;
    char *text;                         /* owned; free with notify_msg_free */
    char *sms_text;                     /* owned, may be NULL: for a call, the SMS to send
                                         * instead when no provider may place it */
};

void notify_msg_free(struct notify_msg *n);

/* The first step of the alert's chain: indexes into e->contacts of every
 * priority-1 contact who takes SMS. Returns how many (at most max). The
 * escalation engine will replace this with the chain's steps. */
size_t notify_first_step(const struct reg_elder *e, size_t *out_idx, size_t max);

/* Renders the SMS text of an alert into out. `utc_offset_min` is the
 * county's offset from UTC (China: +480), used for {time} and {date}.
 * Fields: elder.id elder.name elder.village elder.township elder.grid
 * device.id device.kind rule.name rule.title event (the name that fired it)
 * event.title (in Chinese; else the event's own name; else the rule's title)
 * value (the reading that decided, "" if none) severity
 * alert.id ack_code time date. Returns tmpl_render's result. */
int notify_render_sms(const struct rule *r, const struct alert *a, const struct reg_elder *e,
                      const char *device_kind, const char *event, const char *value,
                      int utc_offset_min, char *out, size_t len);

/* The event's name in plain Chinese ("smoke" -> "烟雾"), or NULL if unknown. */
const char *notify_event_title(const char *event);

/* The JSON body of the webhook provider (DESIGN.md, "Notification
 * webhook"). Returns a malloc'd string (free with free) or NULL. */
char *notify_webhook_body(const struct notify_msg *n);

const char *notify_channel_name(enum notify_channel c);

/* Formats ms since the epoch at the given offset as "YYYY-MM-DD HH:MM:SS"
 * (NOTIFY_TIME_LEN bytes suffice). */
#define NOTIFY_TIME_LEN 64
void notify_format_local(int64_t ms, int utc_offset_min, char out[NOTIFY_TIME_LEN]);

#endif
