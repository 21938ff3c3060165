/* msgtmpl.h - the message templates of conf/templates/: what an SMS or a
 * voice call says, per rule, per severity, or by default, in the tmpl.h
 * syntax ({elder.name}, {ack_code}, ...).
 *
 * A template is a file NAME.CHANNEL.txt, NAME being a rule's name, a
 * severity (low, medium, high, critical) or "default", CHANNEL sms or
 * voice. Lines starting with '#' are comments; the other lines are joined
 * (a voice text or an SMS is one paragraph). For a notification the most
 * specific one wins: rule, then severity, then default; without any, the
 * rule's own message is used for SMS and a built-in text for voice.
 *
 * Every SMS carries its acknowledgement instruction ("回复1234确认") and
 * every call its key instruction ("确认请按1"): mtpl_finish adds them when
 * a template leaves them out, so a mistake in a template never leaves a
 * contact without a way to take the alert. */
#ifndef ANXIN_MSGTMPL_H
#define ANXIN_MSGTMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "notify.h"

#define MTPL_MAX 128                /* templates in one folder */
#define MTPL_TEXT_MAX 1000          /* bytes of one template after joining lines */
#define MTPL_SMS_SEGMENTS_WARN 3    /* more parts than this is worth a warning */
#define MTPL_VOICE_KEY "确认请按1"

struct mtpl {
    char name[64];                  /* rule, severity or "default" */
    enum notify_channel channel;
    char *text;                     /* owned */
};

struct mtpl_set {
    struct mtpl items[MTPL_MAX];
    size_t n;
};

/* Adds the template in file file_name (a base name) with contents
 * text[0..len). Returns 0, or ANX_EPARSE with the reason in err: a name
 * not NAME.sms.txt / NAME.voice.txt, a NAME used twice, invalid UTF-8, an
 * empty text, one over MTPL_TEXT_MAX, an unknown {field} (with the nearest
 * known one). Warnings (an SMS without {ack_code}, a voice text without
 * the key instruction, an SMS likely to need more than
 * MTPL_SMS_SEGMENTS_WARN parts) go to warn ("" when none); the template is
 * still added. ANX_ENOMEM, ANX_ERANGE (set full). */
int mtpl_add(struct mtpl_set *s, const char *file_name, const char *text, size_t len,
             char *err, size_t errlen, char *warn, size_t warnlen);

/* The template for a rule (its name and severity name) on a channel, or
 * NULL when the set has none that applies. */
const char *mtpl_find(const struct mtpl_set *s, const char *rule, const char *severity,
                      enum notify_channel ch);

/* Frees the texts and empties the set. */
void mtpl_free(struct mtpl_set *s);

/* Appends the channel's instruction to a rendered text (out, NUL-terminated,
 * outlen its size) when it lacks it: for SMS " 回复<ack_code>确认" unless
 * the code is in it, for voice " 确认请按1。" unless that is. Returns 0, or
 * ANX_ERANGE when it did not fit (out is left as it was). */
int mtpl_finish(enum notify_channel ch, const char *ack_code, char *out, size_t outlen);

/* The UTF-16 (UCS-2 on the air) code units of a UTF-8 text: characters,
 * those outside the BMP counting two. */
size_t mtpl_sms_units(const char *utf8);

/* The parts an SMS of this text is sent as: one up to 70 units, else 67
 * units a part (the rest of 70 carries the concatenation header). */
int mtpl_sms_segments(const char *utf8);

/* Whether a tmpl.h field name is one anxin fills in. */
bool mtpl_field_known(const char *name, size_t len);

/* The nearest known field name to an unknown one (for "did you mean"), or
 * NULL when none is close. */
const char *mtpl_field_nearest(const char *name, size_t len);

#endif
