/* provider.c - shared parts of the provider modules (see provider.h). */
#include "provider.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "err.h"
#include "mask.h"
#include "sha256.h"
#include "utf8.h"

void prov_request_free(struct prov_request *r)
{
    free(r->url);
    free(r->body);
    for (size_t i = 0; i < PROV_MAX_HEADERS; i++)
        free(r->headers[i]);
    if (r->userpwd) {
        memset(r->userpwd, 0, strlen(r->userpwd));
        free(r->userpwd);
    }
    memset(r, 0, sizeof *r);
}

int prov_add_header(struct prov_request *r, const char *fmt, ...)
{
    size_t i = 0;
    while (i < PROV_MAX_HEADERS - 1 && r->headers[i])
        i++;
    if (i >= PROV_MAX_HEADERS - 1)
        return ANX_ERANGE;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&r->headers[i], fmt, ap);
    va_end(ap);
    if (n < 0) {
        r->headers[i] = NULL;
        return ANX_ENOMEM;
    }
    return 0;
}

const char *prov_report_status_name(enum prov_report_status s)
{
    static const char *const names[] = {"delivered", "undelivered", "answered", "not_answered",
                                        "pending"};
    return (unsigned)s < 5 ? names[s] : "unknown";
}

void prov_tag(const char *key, const char *msg, char out[17])
{
    uint8_t mac[SHA256_LEN];
    const char *k = key ? key : "";
    sha256_hmac(k, strlen(k), msg, strlen(msg), mac);
    codec_hex(mac, 8, out);
}

int prov_tag_ok(const char *key, const char *msg, const char *tag)
{
    char want[17];
    if (!tag || strlen(tag) != 16)
        return 0;
    prov_tag(key, msg, want);
    unsigned diff = 0;
    for (int i = 0; i < 16; i++)
        diff |= (unsigned)(want[i] ^ tag[i]);
    return diff == 0;
}

void prov_report_key(const char *secret, char out[17])
{
    prov_tag(secret, "report", out);
}

int prov_sender_e164(const char *from, char *out, size_t outlen)
{
    char d[24];
    size_t n = 0;
    bool plus = false;
    if (!from)
        return ANX_EINVAL;
    for (const char *p = from; *p; p++) {
        if (*p == ' ' || *p == '-')
            continue;
        if (*p == '+' && n == 0 && !plus) {
            plus = true;
            continue;
        }
        if (*p < '0' || *p > '9' || n + 1 >= sizeof d)
            return ANX_EINVAL;
        d[n++] = *p;
    }
    d[n] = '\0';
    const char *digits = d;
    char cn[sizeof d + 2];
    if (!plus && n > 2 && d[0] == '0' && d[1] == '0') {
        digits = d + 2;                 /* international prefix */
    } else if (!plus && n == 11 && d[0] == '1') {
        snprintf(cn, sizeof cn, "86%s", d);     /* a mainland mobile */
        digits = cn;
    } else if (!plus && !(n == 13 && d[0] == '8' && d[1] == '6')) {
        return ANX_EINVAL;              /* a short code or a local number */
    }
    size_t l = strlen(digits);
    if (l < 8 || l > 15 || digits[0] == '0')
        return ANX_EINVAL;
    if ((size_t)snprintf(out, outlen, "+%s", digits) >= outlen)
        return ANX_ERANGE;
    return 0;
}

/* The value of the digit at p and its length in bytes: ASCII 0-9, or the
 * full-width ０-９ (U+FF10-U+FF19, EF BC 90-99 in UTF-8). -1 if none. */
static int digit_at(const char *p, size_t *len)
{
    if (*p >= '0' && *p <= '9') {
        *len = 1;
        return *p - '0';
    }
    const unsigned char *u = (const unsigned char *)p;
    if (u[0] == 0xef && u[1] == 0xbc && u[2] >= 0x90 && u[2] <= 0x99) {
        *len = 3;
        return u[2] - 0x90;
    }
    return -1;
}

int prov_reply_code(const char *text, size_t digits, char *out)
{
    if (digits == 0)
        return ANX_EINVAL;
    for (const char *p = text ? text : ""; *p;) {
        size_t len;
        if (digit_at(p, &len) < 0) {
            p++;
            continue;
        }
        /* A run of digits, however written; only one of exactly the
         * code's length is the code (not a phone number, not a year). */
        size_t n = 0;
        int v;
        while ((v = digit_at(p, &len)) >= 0) {
            if (n < digits)
                out[n] = (char)('0' + v);
            n++;
            p += len;
        }
        if (n == digits) {
            out[digits] = '\0';
            return 0;
        }
    }
    return ANX_EINVAL;
}

int prov_reply_fill(const char *from, const char *text, size_t code_digits,
                    struct prov_reply *r)
{
    memset(r, 0, sizeof *r);
    if (code_digits == 0 || code_digits > PROV_REPLY_CODE_MAX ||
        prov_sender_e164(from, r->from, sizeof r->from) != 0) {
        memset(r, 0, sizeof *r);
        return ANX_EINVAL;
    }
    if (prov_reply_code(text, code_digits, r->code) != 0)
        r->code[0] = '\0';
    return 0;
}

int prov_collect_replies(const struct cJSON *root, prov_reply_take take, size_t code_digits,
                         struct prov_reply *out, size_t max, size_t *n, size_t *skipped)
{
    *n = 0;
    if (skipped)
        *skipped = 0;
    const cJSON *first = cJSON_IsArray(root) ? root->child : root;
    for (const cJSON *it = first; it; it = cJSON_IsArray(root) ? it->next : NULL) {
        struct prov_reply r;
        if (!take(it, code_digits, &r)) {
            if (skipped)
                (*skipped)++;
            continue;
        }
        if (*n == max)
            return ANX_ERANGE;
        out[(*n)++] = r;
    }
    return 0;
}

static const char *const outcome_names[PROV_REPLY_OUTCOME_COUNT] = {
    [PROV_REPLY_ACKED] = "acked",     [PROV_REPLY_TAKEN] = "taken",
    [PROV_REPLY_CLOSED] = "closed",   [PROV_REPLY_UNKNOWN] = "unknown",
    [PROV_REPLY_REFUSED] = "refused", [PROV_REPLY_NO_CODE] = "no_code",
};

const char *prov_reply_outcome_name(enum prov_reply_outcome o)
{
    return (unsigned)o < PROV_REPLY_OUTCOME_COUNT ? outcome_names[o] : "unknown";
}

int prov_reply_outcome_parse(const char *s, enum prov_reply_outcome *out)
{
    for (size_t i = 0; s && i < PROV_REPLY_OUTCOME_COUNT; i++)
        if (strcmp(s, outcome_names[i]) == 0) {
            *out = (enum prov_reply_outcome)i;
            return 0;
        }
    return ANX_EINVAL;
}

/* An elder's name in an answer: names are short, but the registry allows
 * 100 characters and the answer must stay one SMS. */
#define ANSWER_NAME_CHARS 10

/* Copies at most max_chars UTF-8 characters of src into dst (dstlen > 0). */
static void copy_chars(char *dst, size_t dstlen, const char *src, size_t max_chars)
{
    size_t k = 0, chars = 0;
    for (const char *p = src ? src : ""; *p && chars < max_chars;) {
        size_t l = utf8_seq_len(p);
        if (l == 0)
            l = 1;              /* a stray byte: copied as it is, counted as one */
        if (k + l >= dstlen)
            break;
        memcpy(dst + k, p, l);
        k += l;
        p += l;
        chars++;
    }
    dst[k] = '\0';
}

/* Cuts s so that it does not end inside a UTF-8 sequence: snprintf cuts
 * a text that does not fit at a byte, maybe inside a character. */
static void trim_partial(char *s)
{
    size_t n = strlen(s), start = n;
    while (start > 0 && ((unsigned char)s[start - 1] & 0xc0) == 0x80)
        start--;
    if (start > 0 && (unsigned char)s[start - 1] >= 0xc0) {
        start--;
        if (utf8_seq_len(s + start) != n - start)
            s[start] = '\0';
    }
}

void prov_reply_answer(enum prov_reply_outcome o, const char *elder,
                       const struct prov_reply_taker *by, char *out, size_t len)
{
    char name[ANSWER_NAME_CHARS * 4 + 1], who[ANSWER_NAME_CHARS * 4 + MASK_PHONE_MAX + 8];
    char whose[sizeof name + 16];
    if (len == 0)
        return;
    copy_chars(name, sizeof name, elder, ANSWER_NAME_CHARS);
    snprintf(whose, sizeof whose, "%s%s", name[0] ? name : "此", name[0] ? "的" : "");
    switch (o) {
    case PROV_REPLY_ACKED:
        snprintf(out, len, "已确认，由您处理%s告警，请尽快联系或上门查看。谢谢！", whose);
        break;
    case PROV_REPLY_TAKEN:
        if (by && by->name && *by->name) {
            /* The name lets the person call whoever took it; the number
             * only shows enough to recognise it. */
            char short_name[ANSWER_NAME_CHARS * 4 + 1], masked[MASK_PHONE_MAX];
            copy_chars(short_name, sizeof short_name, by->name, ANSWER_NAME_CHARS);
            if (by->phone && *by->phone) {
                mask_phone(by->phone, masked, sizeof masked);
                snprintf(who, sizeof who, "%s（%s）", short_name, masked);
            } else {
                snprintf(who, sizeof who, "%s", short_name);
            }
        } else {
            snprintf(who, sizeof who, "%s", by && by->staff ? "值班人员" : "他人");
        }
        snprintf(out, len, "%s告警已由%s确认处理，无需再回复。谢谢！", whose, who);
        break;
    case PROV_REPLY_CLOSED:
        snprintf(out, len, "%s告警已结束，无需确认。谢谢！", whose);
        break;
    case PROV_REPLY_UNKNOWN:
    case PROV_REPLY_REFUSED:
        snprintf(out, len, "未找到需要您确认的告警，请核对短信中的确认码。");
        break;
    case PROV_REPLY_NO_CODE:
    default:
        snprintf(out, len, "请回复短信中的确认码，以确认由您处理。");
        break;
    }
    trim_partial(out);
}
