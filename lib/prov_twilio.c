/* prov_twilio.c - Twilio Messages and Calls, their answers, status
 * callbacks and X-Twilio-Signature (see prov_twilio.h). */
#include "prov_twilio.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "civil.h"
#include "codec.h"
#include "err.h"
#include "mask.h"
#include "sbuf.h"
#include "sha1.h"
#include "utf8.h"

#define SMS_MAX_CHARS 1600      /* Messages: Body */
#define TWIML_MAX_CHARS 4000    /* Calls: Twiml (error 32018) */
#define CONFIRM_PROMPT "确认请按1"

/* ---- encoding ------------------------------------------------------------ */

/* "&key=value", form encoded (the key is one of ours: plain ASCII). */
static void append_param(struct sbuf *b, const char *key, const char *val)
{
    size_t vl = strlen(val);
    if (b->len)
        sbuf_str(b, "&");
    sbuf_str(b, key);
    sbuf_str(b, "=");
    if (!sbuf_reserve(b, 3 * vl))
        return;
    size_t w = codec_form_encode(val, vl, b->p + b->len, b->cap - b->len);
    if (w == (size_t)-1) {
        b->oom = true;
        return;
    }
    b->len += w;
}

/* Text as XML character data or attribute value. Control characters XML 1.0
 * does not allow (anything below 0x20 but tab, LF, CR) become spaces, so an
 * odd byte in a rendered message cannot make Twilio reject the call. */
static void append_xml(struct sbuf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        switch (ch) {
        case '&': sbuf_str(b, "&amp;"); break;
        case '<': sbuf_str(b, "&lt;"); break;
        case '>': sbuf_str(b, "&gt;"); break;
        case '"': sbuf_str(b, "&quot;"); break;
        case '\'': sbuf_str(b, "&apos;"); break;
        default:
            if (ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r')
                sbuf_str(b, " ");
            else
                sbuf_add(b, s, 1);
        }
    }
}

/* ---- building ------------------------------------------------------------ */

static bool nonempty(const char *s)
{
    return s && *s;
}

/* Account SIDs go into the URL path unencoded: letters and digits only. */
static bool sid_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char ch = s[n];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')))
            return false;
    }
    return n > 0 && n <= 64;
}

/* Length of s without trailing slashes, so "http://h/hooks/" + "/status"
 * does not become "//status" (Twilio signs the URL it calls verbatim). */
static size_t trimmed_len(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    while (n && s[n - 1] == '/')
        n--;
    return n;
}

char *prov_twilio_hook_url(const char *callback_base, const char *kind, int64_t id)
{
    size_t len = trimmed_len(callback_base);
    char *u;
    if (!len || len > INT_MAX || !kind)
        return NULL;
    int rc = id > 0 ? asprintf(&u, "%.*s/%s?n=%" PRId64, (int)len, callback_base, kind, id)
                    : asprintf(&u, "%.*s/%s", (int)len, callback_base, kind);
    if (rc < 0)
        return NULL;
    return u;
}

/* The call's TwiML: the message, then one key press to confirm. */
static void build_twiml(struct sbuf *b, const char *text, const char *gather_url)
{
    sbuf_str(b, "<Response><Say language=\"zh-CN\">");
    append_xml(b, text);
    sbuf_str(b, "</Say><Gather numDigits=\"1\" action=\"");
    append_xml(b, gather_url);
    sbuf_str(b, "\" method=\"POST\"><Say language=\"zh-CN\">" CONFIRM_PROMPT "</Say></Gather>"
              "</Response>");
}

int prov_twilio_build(const struct prov_twilio_conf *c, const struct notify_msg *n,
                      struct prov_request *out)
{
    memset(out, 0, sizeof *out);
    if (!c || !n || !nonempty(c->account_sid) || !nonempty(c->auth_token) ||
        !nonempty(c->from) || !n->to[0] || !n->text || !n->text[0] || !sid_ok(c->account_sid))
        return ANX_EINVAL;
    if (n->channel != NOTIFY_SMS && n->channel != NOTIFY_VOICE)
        return ANX_EINVAL;
    bool voice = n->channel == NOTIFY_VOICE;
    size_t cbl = trimmed_len(c->callback_base);
    const char *base = nonempty(c->base) ? c->base : PROV_TWILIO_BASE;
    size_t bl = trimmed_len(base);
    if ((voice && !cbl) || cbl > 2048 || bl > 2048 || !bl)
        return ANX_EINVAL;
    if (!voice && utf8_chars(n->text) > SMS_MAX_CHARS)
        return ANX_ERANGE;

    int rc = ANX_ENOMEM;
    char *status_url = NULL, *gather_url = NULL;
    struct sbuf body = {0}, twiml = {0};
    if (cbl && !(status_url = prov_twilio_hook_url(c->callback_base, "status", n->id)))
        goto fail;
    if (voice && !(gather_url = prov_twilio_hook_url(c->callback_base, "gather", n->id)))
        goto fail;

    append_param(&body, "To", n->to);
    /* A Messaging Service picks the sender itself (SMS only). */
    bool service = !voice && strncmp(c->from, "MG", 2) == 0 && sid_ok(c->from);
    append_param(&body, service ? "MessagingServiceSid" : "From", c->from);
    if (voice) {
        build_twiml(&twiml, n->text, gather_url);
        if (twiml.oom)
            goto fail;
        if (utf8_chars(twiml.p) > TWIML_MAX_CHARS) {
            rc = ANX_ERANGE;
            goto fail;
        }
        append_param(&body, "Twiml", twiml.p);
        append_param(&body, "StatusCallback", status_url);
        append_param(&body, "StatusCallbackMethod", "POST");
        /* Without events Twilio reports only "completed"; ringing and
         * answered show on the timeline while the call is going on. */
        append_param(&body, "StatusCallbackEvent", "ringing");
        append_param(&body, "StatusCallbackEvent", "answered");
        append_param(&body, "StatusCallbackEvent", "completed");
    } else {
        append_param(&body, "Body", n->text);
        if (status_url)
            append_param(&body, "StatusCallback", status_url);
    }
    if (body.oom)
        goto fail;

    if (asprintf(&out->url, "%.*s/2010-04-01/Accounts/%s/%s.json", (int)bl, base,
                 c->account_sid, voice ? "Calls" : "Messages") < 0) {
        out->url = NULL;
        goto fail;
    }
    if (asprintf(&out->userpwd, "%s:%s", c->account_sid, c->auth_token) < 0) {
        out->userpwd = NULL;
        goto fail;
    }
    if ((rc = prov_add_header(out, "Content-Type: application/x-www-form-urlencoded")) < 0 ||
        (rc = prov_add_header(out, "Accept: application/json")) < 0)
        goto fail;
    strcpy(out->method, "POST");
    out->body = body.p;
    out->body_len = body.len;
    free(status_url);
    free(gather_url);
    sbuf_free(&twiml);
    return 0;

fail:
    free(status_url);
    free(gather_url);
    sbuf_free(&twiml);
    sbuf_free(&body);
    prov_request_free(out);
    return rc;
}

/* ---- Twilio's answer ----------------------------------------------------- */

/* Error codes Twilio answers with a 4xx that clear up by themselves. */
static bool code_is_transient(long code)
{
    switch (code) {
    case 20429:     /* Too Many Requests */
    case 20500:     /* Internal Server Error */
    case 20503:     /* Service Unavailable */
    case 14107:     /* SMS send rate limit exceeded */
    case 21611:     /* the From number's queue of unsent messages is full */
        return true;
    default:
        return false;
    }
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* Twilio's messages quote the number it refused, as people write numbers
 * ("+86 138 0000 0001", "(555) 123-4567"), and err ends up in logs and the
 * timeline: such a number of six or more digits becomes "***". */
#define MASK_MIN_DIGITS 6
#define MASK_SEPS " -()."
#define MASK_FILL "***"

/* Appends src to dst (NUL-terminated, dstlen bytes), control characters
 * as spaces. */
static void append_clean(char *dst, size_t dstlen, const char *src)
{
    size_t k = strlen(dst);
    for (size_t i = 0; src[i] && k + 1 < dstlen; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[k++] = ch < 0x20 || ch == 0x7F ? ' ' : (char)ch;
    }
    dst[k] = '\0';
}

enum prov_result prov_twilio_parse(long http_status, const char *body, size_t len, char *ref,
                                   size_t reflen, char *err, size_t errlen)
{
    if (reflen)
        ref[0] = '\0';
    if (errlen)
        err[0] = '\0';
    cJSON *j = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *o = cJSON_IsObject(j) ? j : NULL;
    enum prov_result r;

    if (http_status >= 200 && http_status < 300) {
        const char *sid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "sid"));
        if (sid && sid_ok(sid) && strlen(sid) < reflen) {
            memcpy(ref, sid, strlen(sid) + 1);
            r = PROV_SENT;
        } else {
            /* Twilio may have taken it, but without a sid nothing will match
             * its reports; sending again risks a duplicate, not a silence. */
            if (errlen)
                snprintf(err, errlen, "http %ld without a sid", http_status);
            r = PROV_RETRY;
        }
        cJSON_Delete(j);
        return r;
    }

    const cJSON *jc = cJSON_GetObjectItemCaseSensitive(o, "code");
    long code = cJSON_IsNumber(jc) && jc->valuedouble > 0 && jc->valuedouble < 1e9
                    ? (long)jc->valuedouble : 0;
    char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "message"));
    /* No answer, 1xx/3xx (a proxy in the way), timeouts, throttling and
     * Twilio's own trouble clear up; other 4xx are about this request. */
    bool retry = http_status < 200 || (http_status >= 300 && http_status < 400) ||
                 http_status == 408 || http_status == 429 || http_status >= 500 ||
                 code_is_transient(code);
    r = retry ? PROV_RETRY : PROV_FAILED;
    if (errlen) {
        if (http_status <= 0)
            snprintf(err, errlen, "no answer");
        else if (code)
            snprintf(err, errlen, "http %ld, code %ld", http_status, code);
        else
            snprintf(err, errlen, "http %ld", http_status);
        if (msg && *msg) {
            /* msg is masked where it lies, in the tree that is freed below:
             * whole, so a number cut off by errlen is masked all the same. */
            mask_digit_runs(msg, MASK_MIN_DIGITS, MASK_SEPS, MASK_FILL);
            append_clean(err, errlen, ": ");
            append_clean(err, errlen, msg);
        }
    }
    cJSON_Delete(j);
    return r;
}

/* ---- X-Twilio-Signature -------------------------------------------------- */

static int param_cmp(const void *a, const void *b)
{
    const struct prov_param *x = *(const struct prov_param *const *)a;
    const struct prov_param *y = *(const struct prov_param *const *)b;
    int c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->value ? x->value : "", y->value ? y->value : "");
}

int prov_twilio_signature(const char *auth_token, const char *url,
                          const struct prov_param *params, size_t n, char *out, size_t outlen)
{
    if (outlen)
        out[0] = '\0';
    if (!auth_token || !url || (n && !params))
        return ANX_EINVAL;
    if (outlen < PROV_TWILIO_SIG_LEN)
        return ANX_ERANGE;
    for (size_t i = 0; i < n; i++)
        if (!params[i].key)
            return ANX_EINVAL;
    if (n > SIZE_MAX / sizeof(void *))
        return ANX_ERANGE;
    const struct prov_param **sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted)
        return ANX_ENOMEM;
    for (size_t i = 0; i < n; i++)
        sorted[i] = &params[i];
    qsort(sorted, n, sizeof *sorted, param_cmp);

    struct sbuf data = {0};
    sbuf_str(&data, url);
    for (size_t i = 0; i < n; i++) {
        sbuf_str(&data, sorted[i]->key);
        sbuf_str(&data, sorted[i]->value ? sorted[i]->value : "");
    }
    free(sorted);
    if (data.oom) {
        sbuf_free(&data);
        return ANX_ENOMEM;
    }
    uint8_t mac[SHA1_LEN];
    sha1_hmac(auth_token, strlen(auth_token), data.p, data.len, mac);
    sbuf_free(&data);
    size_t w = codec_base64(mac, sizeof mac, false, out, outlen);
    memset(mac, 0, sizeof mac);
    return w == (size_t)-1 ? ANX_ERANGE : 0;
}

bool prov_twilio_verify(const char *auth_token, const char *url,
                        const struct prov_param *params, size_t n, const char *header_value)
{
    char want[PROV_TWILIO_SIG_LEN];
    if (!header_value || prov_twilio_signature(auth_token, url, params, n, want, sizeof want))
        return false;
    /* The length is public (always 28); the content is compared in full. */
    size_t wl = strlen(want);
    if (strlen(header_value) != wl)
        return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < wl; i++)
        diff |= (unsigned char)(want[i] ^ header_value[i]);
    return diff == 0;
}

/* ---- status callbacks ---------------------------------------------------- */

static const char *field(const struct prov_param *form, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (form[i].key && strcmp(form[i].key, key) == 0)
            return form[i].value ? form[i].value : "";
    return NULL;
}

static bool one_of(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

/* RFC 2822 date as Twilio writes it: "Mon, 16 Aug 2010 03:45:01 +0000"
 * (the weekday optional). Returns ms since the epoch, or 0. */
static int64_t parse_rfc2822(const char *s)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const char *comma = strchr(s, ',');
    if (comma)
        s = comma + 1;
    int d, y, h, mi, sec, used = 0;
    char mon[4], sign;
    unsigned zone;
    if (sscanf(s, " %2d %3s %4d %2d:%2d:%2d %c%4u%n", &d, mon, &y, &h, &mi, &sec, &sign,
               &zone, &used) != 8 || s[used] != '\0' || (sign != '+' && sign != '-'))
        return 0;
    const char *m = strlen(mon) == 3 ? strstr(months, mon) : NULL;
    if (!m || (m - months) % 3 || y < 1970 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 ||
        zone % 100 > 59 || h < 0 || mi < 0 || sec < 0)
        return 0;
    int64_t off = (int64_t)(zone / 100 * 60 + zone % 100) * 60;
    int64_t t = civil_days_from_date(y, (unsigned)((m - months) / 3) + 1, (unsigned)d) * 86400 +
                h * 3600 + mi * 60 + sec - (sign == '+' ? off : -off);
    return t > 0 ? t * 1000 : 0;
}

static bool digits_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    return strspn(s, "0123456789*#") == n;
}

/* A token of Twilio's (a status, an error code, a duration) fit for the
 * timeline: only [a-z0-9_-], at most 24 characters. */
static void add_token(char *dst, size_t dstlen, const char *sep, const char *tok)
{
    size_t k = strlen(dst), t = 0;
    if (!tok || !*tok)
        return;
    for (const char *p = k ? sep : ""; *p && k + 1 < dstlen; p++)
        dst[k++] = *p;
    for (; tok[t] && t < 24 && k + 1 < dstlen; t++) {
        char ch = tok[t];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch) ||
                  ch == '-' || ch == '_';
        dst[k++] = ok ? ch : '?';
    }
    dst[k] = '\0';
}

int prov_twilio_report(const struct prov_param *form, size_t n, int64_t notification,
                       struct prov_report *out)
{
    static const char *const msg_delivered[] = {"delivered", "read", NULL};
    static const char *const msg_undelivered[] = {"undelivered", "failed", "canceled", NULL};
    static const char *const call_not_answered[] = {"busy", "no-answer", "failed", "canceled",
                                                    NULL};
    memset(out, 0, sizeof *out);
    out->notification = notification;
    if (n && !form)
        return ANX_EINVAL;

    const char *mstatus = field(form, n, "MessageStatus");
    const char *cstatus = field(form, n, "CallStatus");
    const char *digits = field(form, n, "Digits");
    const char *sid;
    if (mstatus) {
        sid = field(form, n, "MessageSid");
        if (!sid)
            sid = field(form, n, "SmsSid");
        if (one_of(mstatus, msg_delivered))
            out->status = PROV_DELIVERED;
        else if (one_of(mstatus, msg_undelivered))
            out->status = PROV_UNDELIVERED;
        else
            out->status = PROV_PENDING;
        add_token(out->detail, sizeof out->detail, " ", mstatus);
    } else if (cstatus || digits) {
        sid = field(form, n, "CallSid");
        if (!cstatus)
            out->status = PROV_PENDING;
        else if (strcmp(cstatus, "completed") == 0)
            out->status = PROV_ANSWERED;
        else if (one_of(cstatus, call_not_answered))
            out->status = PROV_NOT_ANSWERED;
        else
            out->status = PROV_PENDING;
        add_token(out->detail, sizeof out->detail, " ", cstatus);
        const char *dur = field(form, n, "CallDuration");
        if (dur && *dur && strspn(dur, "0123456789") == strlen(dur)) {
            add_token(out->detail, sizeof out->detail, " ", dur);
            add_token(out->detail, sizeof out->detail, "", "s");
        }
        const char *ts = field(form, n, "Timestamp");
        if (ts)
            out->at_ms = parse_rfc2822(ts);
    } else {
        return ANX_EINVAL;
    }
    /* Last in the detail for messages and calls alike. */
    const char *ec = field(form, n, "ErrorCode");
    if (ec && *ec) {
        add_token(out->detail, sizeof out->detail, " ", "error");
        add_token(out->detail, sizeof out->detail, " ", ec);
    }
    if (!sid || !*sid || strlen(sid) >= sizeof out->ref) {
        memset(out, 0, sizeof *out);
        return ANX_EINVAL;
    }
    memcpy(out->ref, sid, strlen(sid) + 1);
    if (digits && *digits) {
        if (!digits_ok(digits, sizeof out->digits - 1)) {
            memset(out, 0, sizeof *out);
            return ANX_EINVAL;
        }
        memcpy(out->digits, digits, strlen(digits) + 1);
    }
    return 0;
}

/* ---- incoming messages ---------------------------------------------------- */

int prov_twilio_inbound(const struct prov_param *form, size_t n, size_t code_digits,
                        struct prov_reply *out)
{
    memset(out, 0, sizeof *out);
    if (n && !form)
        return ANX_EINVAL;
    const char *sid = field(form, n, "MessageSid");
    if (!sid)
        sid = field(form, n, "SmsSid");
    const char *status = field(form, n, "MessageStatus");
    const char *body = field(form, n, "Body");
    if (!sid || !*sid || !body || (status && strcmp(status, "received") != 0))
        return ANX_EINVAL;
    return prov_reply_fill(field(form, n, "From"), body, code_digits, out);
}

char *prov_twilio_message_twiml(const char *text)
{
    struct sbuf b = {0};
    sbuf_str(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>");
    append_xml(&b, text ? text : "");
    sbuf_str(&b, "</Message></Response>");
    if (b.oom) {
        sbuf_free(&b);
        return NULL;
    }
    return b.p;
}

/* ---- form bodies --------------------------------------------------------- */

/* Decodes s in place; false for a bad escape or an encoded NUL (which would
 * cut the C string short of what Twilio signed). */
static bool decode_in_place(char *s)
{
    size_t len = strlen(s);
    size_t w = codec_pct_decode(s, len, true, s, len + 1);
    return w != (size_t)-1 && strlen(s) == w;
}

int prov_twilio_parse_form(char *body, struct prov_param *out, size_t max, size_t *n)
{
    *n = 0;
    if (!body)
        return ANX_EINVAL;
    char *p = body;
    while (*p) {
        char *end = strchr(p, '&');
        char *next = end ? end + 1 : p + strlen(p);
        if (end)
            *end = '\0';
        if (*p) {
            if (*n == max)
                return ANX_ERANGE;
            char *eq = strchr(p, '=');
            char *val = eq ? eq + 1 : p + strlen(p);
            if (eq)
                *eq = '\0';
            if (!*p || !decode_in_place(p) || !decode_in_place(val))
                return ANX_EINVAL;
            out[*n].key = p;
            out[*n].value = val;
            (*n)++;
        }
        p = next;
    }
    return 0;
}
