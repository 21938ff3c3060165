/* prov_twilio.h - SMS and voice calls through Twilio's REST API, and what
 * Twilio posts back: status callbacks and the key a callee pressed.
 *
 * Facts relied on (Twilio docs: "Messages resource", "Call resource",
 * TwiML <Say> and <Gather>, "Twilio API responses", "Webhooks security"):
 *   - POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json (To, From,
 *     Body, StatusCallback) and .../Calls.json (To, From, Twiml,
 *     StatusCallback, StatusCallbackEvent repeated once per event), form
 *     encoded, HTTP basic auth AccountSid:AuthToken. Body holds at most 1600
 *     characters, Twiml at most 4000 (error 32018).
 *   - 201 with JSON {"sid": "SM..."|"CA...", "status": "queued", ...};
 *     errors are {"code": 21211, "message": "...", "more_info": ...,
 *     "status": 400}; 429 (code 20429) is always safe to retry.
 *   - Status callbacks are form posts: MessageSid + MessageStatus (queued,
 *     sending, sent, delivered, undelivered, failed, ...) + ErrorCode; or
 *     CallSid + CallStatus (queued, initiated, ringing, in-progress,
 *     completed, busy, no-answer, failed, canceled) + CallDuration +
 *     Timestamp (RFC 2822). <Gather action=...> posts CallSid and Digits.
 *   - X-Twilio-Signature = base64(HMAC-SHA1(AuthToken, the full URL Twilio
 *     called, then for a POST every form field as name followed by value,
 *     sorted by name)), fields decoded, no separators.
 *
 * Pure: nothing here reads a clock or the network. */
#ifndef ANXIN_PROV_TWILIO_H
#define ANXIN_PROV_TWILIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notify.h"
#include "provider.h"

#define PROV_TWILIO_BASE "https://api.twilio.com"
#define PROV_TWILIO_SIG_LEN 29      /* base64 of an HMAC-SHA1, and its NUL */

struct prov_twilio_conf {
    const char *base;           /* API root; NULL or "" = PROV_TWILIO_BASE (tests: a fake) */
    const char *account_sid;    /* "AC" + 32 hex */
    const char *auth_token;     /* basic auth password, and the callback signing key */
    const char *from;           /* our Twilio number (E.164); "MG..." = a Messaging
                                 * Service SID (SMS only) */
    const char *callback_base;  /* e.g. http://anxin.example/hooks/twilio: status callbacks
                                 * go to <base>/status?n=<notification id>, key presses to
                                 * <base>/gather?n=<id>. Optional for SMS (no delivery
                                 * reports then), required for calls. */
};

/* The address Twilio is given for notification id: kind "status" (status
 * callbacks) or "gather" (key presses): callback_base without trailing
 * slashes, then "/<kind>?n=<id>". With id <= 0 there is no query: kind
 * "mo" is the incoming-message webhook, entered once in Twilio's console
 * for our number, the same for every message. Twilio signs exactly this
 * address, so the hook that checks X-Twilio-Signature must rebuild it with
 * this function. Returns a malloc'd string (free with free), NULL if out
 * of memory or callback_base is NULL or empty. */
char *prov_twilio_hook_url(const char *callback_base, const char *kind, int64_t id);

/* The request for notification n: an SMS becomes a Message, a voice
 * notification a Call whose inline TwiML says n->text in Mandarin and asks
 * for a key press (确认请按1). On success out holds malloc'd strings (free
 * with prov_request_free); on failure out is left empty. Returns 0,
 * ANX_EINVAL (missing account, token, from, recipient or text; a call
 * without callback_base), ANX_ERANGE (text too long for Twilio) or
 * ANX_ENOMEM. */
int prov_twilio_build(const struct prov_twilio_conf *c, const struct notify_msg *n,
                      struct prov_request *out);

/* The meaning of Twilio's answer to a build()'s request. 2xx with a sid:
 * PROV_SENT and ref = the sid. 429, 408, 5xx, no answer (0), throttling
 * codes, or a 2xx without a sid: PROV_RETRY. Other 4xx (21211 invalid To,
 * 20003 bad credentials, ...): PROV_FAILED. err gets a short reason for the
 * timeline, with any phone number in Twilio's message masked out; ref and
 * err are always NUL-terminated (when their lengths are not 0). */
enum prov_result prov_twilio_parse(long http_status, const char *body, size_t len, char *ref,
                                   size_t reflen, char *err, size_t errlen);

/* X-Twilio-Signature of a request to url (the full URL Twilio called,
 * query included) with the decoded form fields params[0..n) (their order
 * does not matter; a repeated name is sorted by value). out gets the base64
 * text (outlen >= PROV_TWILIO_SIG_LEN). Returns 0, ANX_EINVAL, ANX_ERANGE or
 * ANX_ENOMEM. */
int prov_twilio_signature(const char *auth_token, const char *url,
                          const struct prov_param *params, size_t n, char *out, size_t outlen);

/* Whether header_value (X-Twilio-Signature; NULL = absent) is the signature
 * of this request; compares in time independent of where they differ.
 * False too when the signature cannot be computed. */
bool prov_twilio_verify(const char *auth_token, const char *url,
                        const struct prov_param *params, size_t n, const char *header_value);

/* A status callback or <Gather> action post (its decoded form fields) as a
 * report about `notification` (the n= of the URL, which the caller parsed).
 * Messages: delivered/read -> DELIVERED; undelivered/failed/canceled ->
 * UNDELIVERED; queued/sending/sent/accepted/scheduled and anything new ->
 * PENDING. Calls: completed -> ANSWERED; busy/no-answer/failed/canceled ->
 * NOT_ANSWERED; queued/initiated/ringing/in-progress and anything new ->
 * PENDING (a <Gather> post comes while the call is in progress: PENDING with
 * digits set). ref = MessageSid or CallSid, digits = Digits, at_ms from
 * Timestamp when given, detail = status, error code, call duration.
 * Returns 0, or ANX_EINVAL when neither MessageStatus nor CallStatus (or
 * Digits with a CallSid) is there, the sid is missing or too long, or
 * Digits is not 1 to 7 of 0-9 * #. */
int prov_twilio_report(const struct prov_param *form, size_t n, int64_t notification,
                       struct prov_report *out);

/* An incoming SMS (the incoming-message webhook, a form post: Twilio docs
 * "Twilio's request to your incoming message Webhook URL": MessageSid,
 * AccountSid, From, To, Body, NumMedia, ...) as a reply: the sender From
 * (E.164) and the code in Body with code_digits digits ("" when none).
 * Returns 0, or ANX_EINVAL when it is not an incoming message (no
 * MessageSid/SmsSid, no Body, or a MessageStatus other than "received":
 * a status callback posted to the wrong address) or From is not a phone
 * number. */
int prov_twilio_inbound(const struct prov_param *form, size_t n, size_t code_digits,
                        struct prov_reply *out);

/* The TwiML that answers an incoming message with one SMS back to its
 * sender (<Response><Message>text</Message></Response>, text escaped for
 * XML): Twilio docs "TwiML for Programmable Messaging". Returns a malloc'd
 * string (free with free) or NULL. */
char *prov_twilio_message_twiml(const char *text);

/* Splits an application/x-www-form-urlencoded body (NUL-terminated) into
 * out[0..*n) in place: '&' separates fields, the first '=' a name from its
 * value (no '=': value ""), %XX and '+' are decoded. Empty fields ("a=1&&")
 * are skipped. The pointers point into body. Returns 0, ANX_EINVAL (a bad
 * escape, an empty name, or a NUL encoded as %00) or ANX_ERANGE (more than
 * max fields). */
int prov_twilio_parse_form(char *body, struct prov_param *out, size_t max, size_t *n);

#endif
