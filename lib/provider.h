/* provider.h - what every notification provider module builds and reads:
 * one HTTP request for a notification, and the meaning of the answer.
 * The modules (prov_kannel, prov_aliyun, prov_tencent, prov_twilio,
 * prov_webhook) are pure: credentials, time and randomness are passed in,
 * so their requests and signatures can be checked against the providers'
 * published examples. The notifier sends what they build. */
#ifndef ANXIN_PROVIDER_H
#define ANXIN_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROV_MAX_HEADERS 8

struct prov_request {
    char method[8];                     /* "GET" or "POST" */
    char *url;                          /* malloc'd */
    char *body;                         /* malloc'd, NULL for none */
    size_t body_len;
    char *headers[PROV_MAX_HEADERS];    /* malloc'd "Name: value" lines, NULL-terminated */
    char *userpwd;                      /* basic auth "user:password", malloc'd or NULL */
};

/* Frees what a builder put into r and zeroes it. */
void prov_request_free(struct prov_request *r);

/* Appends a header line (printf-style); returns 0 or ANX_ENOMEM/ANX_ERANGE. */
int prov_add_header(struct prov_request *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

enum prov_result {
    PROV_SENT,          /* the provider took it; ref holds its message id */
    PROV_RETRY,         /* try again later (timeouts, 5xx, 429, throttling codes) */
    PROV_FAILED,        /* refused for good (bad number, bad credentials, bad template) */
};

/* A delivery report (or call result) a provider sends back, matched to our
 * notification by the id we gave it (OutId, SessionContext, callback URL). */
enum prov_report_status {
    PROV_DELIVERED,     /* the SMS reached the phone */
    PROV_UNDELIVERED,   /* the SMS did not (and will not) */
    PROV_ANSWERED,      /* the call was answered */
    PROV_NOT_ANSWERED,  /* the call was not answered (busy, no answer, failed): not reached */
    PROV_PENDING,       /* an intermediate state (queued, ringing): recorded, not final */
};

struct prov_report {
    int64_t notification;   /* our notification id, 0 if the report did not carry one */
    enum prov_report_status status;
    char ref[96];           /* the provider's message or call id */
    char detail[128];       /* the provider's code or text, for the timeline */
    int64_t at_ms;          /* when it happened, 0 if not given */
    char digits[8];         /* key presses on a call ("1"), "" if none */
};

const char *prov_report_status_name(enum prov_report_status s);

/* A short keyed tag: the first 8 bytes of HMAC-SHA256(key, msg) in hex.
 * Signs report addresses for providers whose reports carry no signature of
 * their own (Kannel per notification; Aliyun and Tencent per provider, as
 * the key= of the address set in their consoles). */
void prov_tag(const char *key, const char *msg, char out[17]);

/* Whether tag is prov_tag(key, msg), compared in constant time. */
int prov_tag_ok(const char *key, const char *msg, const char *tag);

/* The key= of a provider's report address: prov_tag(secret, "report"). */
void prov_report_key(const char *secret, char out[17]);

/* A sender number as SMS centres give it ("13800000011", "8613800000011",
 * "008613800000011", "+86 138 0000 0011") in E.164 ("+8613800000011"),
 * mainland China assumed when there is no country code. Returns 0, or
 * ANX_EINVAL when it is not a phone number. */
int prov_sender_e164(const char *from, char *out, size_t outlen);

/* The acknowledgement code in a reply text: the first run of exactly
 * `digits` digits ("确认 4821" -> "4821", "4821 1" -> "4821"). Full-width
 * digits ("４８２１", what some Chinese input methods type) count as
 * digits and come out as ASCII. Returns 0, or ANX_EINVAL when there is
 * none. out holds digits + 1 bytes. */
int prov_reply_code(const char *text, size_t digits, char *out);

/* An SMS a phone sent us (a reply to a notification), as each provider's
 * module reads it from its callback: Kannel's get-url, Aliyun's SmsUp
 * push, Tencent's reply callback, Twilio's incoming-message webhook. The
 * text itself is not kept: only the code in it matters, and the rest may
 * be anything a person writes. */
#define PROV_REPLY_CODE_MAX 6
struct prov_reply {
    char from[24];                          /* the sender, E.164 */
    char code[PROV_REPLY_CODE_MAX + 1];     /* the code in the text, "" when none */
};

/* Fills r from the sender as the provider wrote it (prov_sender_e164) and
 * the text (prov_reply_code with code_digits, at most PROV_REPLY_CODE_MAX).
 * Returns 0, or ANX_EINVAL when from is not a phone number or code_digits
 * is out of range (r is zeroed then). A text without a code is not an
 * error: code is "" and the person is asked for it. */
int prov_reply_fill(const char *from, const char *text, size_t code_digits,
                    struct prov_reply *r);

/* The replies of a JSON push (Aliyun's SmsUp, Tencent's reply callback):
 * root is an array of items, or one item alone. take reads one item into
 * a reply and says false for one that is not a usable reply, which is
 * skipped and counted in *skipped (may be NULL). Fills out[0..*n); returns
 * 0, or ANX_ERANGE when there were more than max (the first max are in
 * out). */
struct cJSON;
typedef bool (*prov_reply_take)(const struct cJSON *item, size_t code_digits,
                                struct prov_reply *r);
int prov_collect_replies(const struct cJSON *root, prov_reply_take take, size_t code_digits,
                         struct prov_reply *out, size_t max, size_t *n, size_t *skipped);

/* What came of a reply, as anxin_phone_reply (sql/007_replies.sql) says. */
enum prov_reply_outcome {
    PROV_REPLY_ACKED,       /* it acknowledged the alert (or this person had already) */
    PROV_REPLY_TAKEN,       /* someone else had acknowledged it */
    PROV_REPLY_CLOSED,      /* the alert is over: resolved, cleared, expired */
    PROV_REPLY_UNKNOWN,     /* no alert with that code was sent to this number */
    PROV_REPLY_REFUSED,     /* a live alert has that code, but this number was not told of it */
    PROV_REPLY_NO_CODE,     /* the text carries no code */
    PROV_REPLY_OUTCOME_COUNT
};

/* The outcome's name as above ("acked", ...), "unknown" if out of range. */
const char *prov_reply_outcome_name(enum prov_reply_outcome o);

/* "acked" "taken" "closed" "unknown" "refused" "no_code" into *out.
 * Returns 0, or ANX_EINVAL for anything else. */
int prov_reply_outcome_parse(const char *s, enum prov_reply_outcome *out);

/* Who had taken the alert, for the answer to a TAKEN reply. */
struct prov_reply_taker {
    const char *name;           /* the contact's name, NULL when not a contact */
    const char *phone;          /* the contact's number (E.164), masked in the answer */
    int staff;                  /* taken at the desk (console, API, anxinctl) */
};

/* The answer the phone gets, in Chinese, short enough for one SMS (70
 * characters). elder names the elder of the alert (acked, taken, closed;
 * NULL or "" leaves it out); by says who took it (taken only; NULL or
 * nothing known: "他人"). UNKNOWN and REFUSED get the same words: an answer
 * that differed would tell a stranger that a live alert has the code he
 * tried. No full phone number is ever written. out is always
 * NUL-terminated (len > 0); a text that does not fit is cut at a character
 * boundary. */
void prov_reply_answer(enum prov_reply_outcome o, const char *elder,
                       const struct prov_reply_taker *by, char *out, size_t len);

/* A parameter for signing and form/query encoding. */
struct prov_param {
    const char *key;
    const char *value;
};

#endif
