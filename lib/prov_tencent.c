/* prov_tencent.c - Tencent Cloud SMS: TC3-HMAC-SHA256 signing, the SendSms
 * request, its answer and the delivery callback (see prov_tencent.h). */
#include "prov_tencent.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "civil.h"
#include "codec.h"
#include "err.h"
#include "mask.h"
#include "sha256.h"

#define ALGORITHM "TC3-HMAC-SHA256"
#define SERVICE "sms"
#define ACTION "SendSms"
#define SECRET_KEY_MAX 256      /* Tencent's keys are 32 characters */
#define SERVICE_MAX 64
#define CST_OFFSET_MIN (8 * 60) /* China Standard Time, UTC+8 */
/* Runs of this many digits or more are masked in Tencent's texts: a phone
 * number, with or without its country code. */
#define MASK_MIN_DIGITS 7
#define MAX_TIMESTAMP INT64_C(253402300799) /* 9999-12-31 23:59:59 UTC: four-digit years */

/* ---- text helpers ------------------------------------------------------------ */

static bool empty(const char *s)
{
    return !s || !*s;
}

/* A value that can go into a header line as is: printable, no CR or LF. */
static bool header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* Appends src to dst (of size len, NUL-terminated) without splitting a
 * UTF-8 sequence when it has to cut. */
static void append(char *dst, size_t len, const char *src)
{
    if (len == 0)
        return;
    size_t used = strlen(dst);
    size_t room = len - 1 - used, n = strlen(src);
    if (n > room) {
        n = room;
        while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(dst + used, src, n);
    dst[used + n] = '\0';
}

/* The string member key of o, or NULL if absent or not a string. */
static const char *str_member(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Parses the whole of body as JSON: trailing bytes other than white space
 * make it malformed. */
static cJSON *parse_json(const char *body, size_t len)
{
    if (!body || len == 0)
        return NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, false);
    if (!root)
        return NULL;
    for (const char *p = end; p && p < body + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            cJSON_Delete(root);
            return NULL;
        }
    }
    return root;
}

/* ---- signing ----------------------------------------------------------------- */

/* Feeds a canonical header line "name:value\n": the value lower-cased and
 * trimmed, as the canonical-headers rule says. */
static void hash_header(struct sha256_ctx *c, const char *name, const char *value)
{
    const char *b = value, *e = value + strlen(value);
    while (b < e && (*b == ' ' || *b == '\t'))
        b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    sha256_update(c, name, strlen(name));
    sha256_update(c, ":", 1);
    for (const char *p = b; p < e; p++) {
        char ch = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
        sha256_update(c, &ch, 1);
    }
    sha256_update(c, "\n", 1);
}

int prov_tencent_sign(const struct prov_tencent_sign_in *in, struct prov_tencent_sig *out)
{
    if (!in || !out || empty(in->secret_key) || empty(in->service) || empty(in->host) ||
        empty(in->content_type) || (in->action && empty(in->action)) || in->timestamp < 0 ||
        in->timestamp > MAX_TIMESTAMP || (!in->payload && in->payload_len > 0))
        return ANX_EINVAL;
    if (!header_safe(in->host) || !header_safe(in->content_type) ||
        (in->action && !header_safe(in->action)) || !header_safe(in->service) ||
        strlen(in->service) > SERVICE_MAX || strlen(in->secret_key) > SECRET_KEY_MAX)
        return ANX_EINVAL;
    memset(out, 0, sizeof *out);

    char when[CIVIL_TIME_LEN];
    civil_format(in->timestamp * 1000, 0, when);    /* the year is 1970-9999: checked above */
    snprintf(out->date, sizeof out->date, "%.10s", when);
    snprintf(out->signed_headers, sizeof out->signed_headers, "%s",
             in->action ? "content-type;host;x-tc-action" : "content-type;host");

    uint8_t h[SHA256_LEN];
    sha256_digest(in->payload, in->payload_len, h);
    codec_hex(h, sizeof h, out->payload_hash);

    /* CanonicalRequest, hashed as it is produced: POST, URI "/", an empty
     * query, the headers in ASCII order of their names, the names, the
     * payload hash. */
    struct sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, "POST\n/\n\n", 8);
    hash_header(&c, "content-type", in->content_type);
    hash_header(&c, "host", in->host);
    if (in->action)
        hash_header(&c, "x-tc-action", in->action);
    sha256_update(&c, "\n", 1);
    sha256_update(&c, out->signed_headers, strlen(out->signed_headers));
    sha256_update(&c, "\n", 1);
    sha256_update(&c, out->payload_hash, 64);
    sha256_final(&c, h);
    codec_hex(h, sizeof h, out->canonical_hash);

    char to_sign[sizeof ALGORITHM + 24 + 11 + SERVICE_MAX + 16 + 65];
    int tn = snprintf(to_sign, sizeof to_sign, ALGORITHM "\n%" PRId64 "\n%s/%s/tc3_request\n%s",
                      in->timestamp, out->date, in->service, out->canonical_hash);
    if (tn < 0 || (size_t)tn >= sizeof to_sign)
        return ANX_EINVAL;

    /* SecretDate = HMAC("TC3" + key, date), SecretService = HMAC(that,
     * service), SecretSigning = HMAC(that, "tc3_request"). */
    char k0[3 + SECRET_KEY_MAX];
    size_t klen = strlen(in->secret_key);
    memcpy(k0, "TC3", 3);
    memcpy(k0 + 3, in->secret_key, klen);
    uint8_t kdate[SHA256_LEN], kservice[SHA256_LEN], ksigning[SHA256_LEN];
    sha256_hmac(k0, 3 + klen, out->date, strlen(out->date), kdate);
    sha256_hmac(kdate, sizeof kdate, in->service, strlen(in->service), kservice);
    sha256_hmac(kservice, sizeof kservice, "tc3_request", 11, ksigning);
    sha256_hmac(ksigning, sizeof ksigning, to_sign, (size_t)tn, h);
    codec_hex(h, sizeof h, out->signature);
    /* Clears the secrets so they do not linger on the stack (explicit_bzero:
     * a memset of dead variables may be dropped). */
    explicit_bzero(k0, sizeof k0);
    explicit_bzero(kdate, sizeof kdate);
    explicit_bzero(kservice, sizeof kservice);
    explicit_bzero(ksigning, sizeof ksigning);
    return 0;
}

int prov_tencent_authorization(const char *secret_id, const char *service,
                               const struct prov_tencent_sig *s, char *out, size_t len)
{
    if (empty(secret_id) || empty(service) || !s || !out || len == 0)
        return ANX_EINVAL;
    int n = snprintf(out, len,
                     ALGORITHM " Credential=%s/%s/%s/tc3_request, SignedHeaders=%s, Signature=%s",
                     secret_id, s->date, service, s->signed_headers, s->signature);
    if (n < 0 || (size_t)n >= len) {
        out[0] = '\0';
        return ANX_ERANGE;
    }
    return 0;
}

/* ---- the request --------------------------------------------------------------- */

/* "+" and 8 to 15 digits, the first not 0 (E.164). */
static bool is_e164(const char *s)
{
    if (s[0] != '+' || s[1] < '1' || s[1] > '9')
        return false;
    size_t n = 0;
    for (const char *p = s + 1; *p; p++, n++)
        if (*p < '0' || *p > '9')
            return false;
    return n >= 8 && n <= 15;
}

/* {"PhoneNumberSet": [to], "SmsSdkAppId", "TemplateId", "SignName",
 * "TemplateParamSet": [text, ack_code], "SessionContext": "<id>"}. */
static char *request_body(const struct prov_tencent_conf *c, const struct notify_msg *n)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, n->id);
    cJSON *o = cJSON_CreateObject(), *phones = NULL, *params = NULL;
    char *s = NULL;
    if (!o)
        return NULL;
    bool ok = (phones = cJSON_AddArrayToObject(o, "PhoneNumberSet")) &&
              cJSON_AddItemToArray(phones, cJSON_CreateString(n->to)) &&
              cJSON_AddStringToObject(o, "SmsSdkAppId", c->sdk_app_id) &&
              cJSON_AddStringToObject(o, "TemplateId", c->template_id) &&
              (empty(c->sign_name) || cJSON_AddStringToObject(o, "SignName", c->sign_name)) &&
              (params = cJSON_AddArrayToObject(o, "TemplateParamSet")) &&
              cJSON_AddItemToArray(params, cJSON_CreateString(n->text)) &&
              cJSON_AddItemToArray(params, cJSON_CreateString(n->ack_code)) &&
              cJSON_AddStringToObject(o, "SessionContext", id);
    if (ok)
        s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

int prov_tencent_build(const struct prov_tencent_conf *c, const struct notify_msg *n,
                       int64_t now_ms, struct prov_request *out)
{
    if (!out)
        return ANX_EINVAL;
    memset(out, 0, sizeof *out);
    if (!c || !n || now_ms < 0)
        return ANX_EINVAL;
    /* Tencent's SMS API sends text only; its voice notifications are the
     * separate 语音消息 product (vms.tencentcloudapi.com, SendTtsVoice and
     * friends) with its own templates and answers, which this module does
     * not speak. The notifier should route voice elsewhere. */
    if (n->channel != NOTIFY_SMS)
        return ANX_EINVAL;
    const char *endpoint = empty(c->endpoint) ? PROV_TENCENT_ENDPOINT : c->endpoint;
    const char *host = empty(c->host) ? PROV_TENCENT_HOST : c->host;
    const char *region = empty(c->region) ? PROV_TENCENT_REGION : c->region;
    if (empty(c->secret_id) || empty(c->secret_key) || empty(c->sdk_app_id) ||
        empty(c->template_id) || !n->text || !is_e164(n->to) || !header_safe(c->secret_id) ||
        !header_safe(region) || !header_safe(host) || !header_safe(endpoint))
        return ANX_EINVAL;

    int rc = ANX_ENOMEM;
    out->body = request_body(c, n);
    out->url = strdup(endpoint);
    if (!out->body || !out->url)
        goto fail;
    out->body_len = strlen(out->body);
    snprintf(out->method, sizeof out->method, "POST");

    /* Floor division, so the second matches what the clock said. */
    int64_t ts = now_ms / 1000;
    struct prov_tencent_sign_in in = {
        .secret_key = c->secret_key,
        .service = SERVICE,
        .host = host,
        .content_type = PROV_TENCENT_CONTENT_TYPE,
        .action = ACTION,
        .timestamp = ts,
        .payload = out->body,
        .payload_len = out->body_len,
    };
    struct prov_tencent_sig sig;
    char auth[512];
    rc = prov_tencent_sign(&in, &sig);
    if (rc == 0)
        rc = prov_tencent_authorization(c->secret_id, SERVICE, &sig, auth, sizeof auth);
    if (rc != 0)
        goto fail;
    /* Host is set explicitly: the signature covers it, and the endpoint
     * may be another address (a proxy, or a test double). */
    if ((rc = prov_add_header(out, "Authorization: %s", auth)) ||
        (rc = prov_add_header(out, "Content-Type: %s", PROV_TENCENT_CONTENT_TYPE)) ||
        (rc = prov_add_header(out, "Host: %s", host)) ||
        (rc = prov_add_header(out, "X-TC-Action: %s", ACTION)) ||
        (rc = prov_add_header(out, "X-TC-Timestamp: %" PRId64, ts)) ||
        (rc = prov_add_header(out, "X-TC-Version: %s", PROV_TENCENT_VERSION)) ||
        (rc = prov_add_header(out, "X-TC-Region: %s", region)))
        goto fail;
    return 0;

fail:
    prov_request_free(out);
    return rc;
}

/* ---- the answer ------------------------------------------------------------------ */

/* Whether code is family or one of its sub-codes ("LimitExceeded",
 * "LimitExceeded.PhoneNumberDailyLimit"), but not a longer name that
 * merely starts the same ("RequestSizeLimitExceeded"). */
static bool in_family(const char *code, const char *family)
{
    size_t n = strlen(family);
    return strncmp(code, family, n) == 0 && (code[n] == '\0' || code[n] == '.');
}

/* Throttling and Tencent's own faults pass; anything else (the number, the
 * template, the signature name, the credentials, the balance) needs a
 * person, so retrying would only repeat the refusal. */
static enum prov_result classify(const char *code)
{
    if (in_family(code, "LimitExceeded") || in_family(code, "RequestLimitExceeded") ||
        in_family(code, "InternalError"))
        return PROV_RETRY;
    return PROV_FAILED;
}

static bool transient_status(long s)
{
    return s == 0 || s == 408 || s == 429 || s >= 500;
}

static void set_err(char *err, size_t errlen, const char *code, const char *msg)
{
    if (errlen == 0)
        return;
    err[0] = '\0';
    append(err, errlen, code && *code ? code : "(no code)");
    if (msg && *msg) {
        append(err, errlen, ": ");
        append(err, errlen, msg);
    }
    /* The provider's texts reach the timeline and the logs, and must not
     * carry a number. */
    mask_digit_runs(err, MASK_MIN_DIGITS, NULL, NULL);
}

enum prov_result prov_tencent_parse(long http_status, const char *body, size_t len, char *ref,
                                    size_t reflen, char *err, size_t errlen)
{
    if (reflen > 0)
        ref[0] = '\0';
    if (errlen > 0)
        err[0] = '\0';

    cJSON *root = parse_json(body, len);
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(root, "Response");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(resp, "Error");
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(resp, "SendStatusSet");
    const cJSON *first = cJSON_IsArray(set) ? cJSON_GetArrayItem(set, 0) : NULL;
    enum prov_result r;

    if (cJSON_IsObject(error)) {
        /* The whole request was refused. */
        const char *code = str_member(error, "Code");
        set_err(err, errlen, code, str_member(error, "Message"));
        r = code ? classify(code) : PROV_FAILED;
        if (transient_status(http_status))
            r = PROV_RETRY;
    } else if (cJSON_IsObject(first) && str_member(first, "Code")) {
        /* One status per number; we send one number. */
        const char *code = str_member(first, "Code");
        if (strcmp(code, "Ok") == 0) {
            const char *serial = str_member(first, "SerialNo");
            if (reflen > 0) {
                ref[0] = '\0';
                append(ref, reflen, serial ? serial : "");
            }
            r = PROV_SENT;
        } else {
            set_err(err, errlen, code, str_member(first, "Message"));
            r = classify(code);
            if (transient_status(http_status))
                r = PROV_RETRY;
        }
    } else {
        /* Not Tencent's answer (a proxy's page, a truncated body). With a
         * 2xx the message may have gone out; retrying risks a duplicate,
         * not retrying risks a lost alarm, and the duplicate is cheaper. */
        if (errlen > 0)
            snprintf(err, errlen, "unreadable answer (HTTP %ld)", http_status);
        r = (transient_status(http_status) || (http_status >= 200 && http_status < 300))
                ? PROV_RETRY
                : PROV_FAILED;
    }
    cJSON_Delete(root);
    return r;
}

/* ---- delivery callback ------------------------------------------------------------- */

/* "YYYY-MM-DD HH:MM:SS" in China Standard Time to ms since the epoch; 0 if
 * absent, not a calendar time in that form, or not after the epoch. */
static int64_t parse_cst(const char *s)
{
    int64_t ms = civil_parse_local(s, CST_OFFSET_MIN);
    return ms > 0 ? ms : 0;
}

/* One callback entry into r; false if it is not a usable report. */
static bool take_report(const cJSON *item, struct prov_report *r)
{
    if (!cJSON_IsObject(item))
        return false;
    const char *sid = str_member(item, "sid");
    const char *status = str_member(item, "report_status");
    if (empty(sid) || strlen(sid) >= sizeof r->ref || !status)
        return false;
    enum prov_report_status st;
    if (strcasecmp(status, "SUCCESS") == 0)
        st = PROV_DELIVERED;
    else if (strcasecmp(status, "FAIL") == 0)
        st = PROV_UNDELIVERED;
    else
        return false;

    memset(r, 0, sizeof *r);
    r->notification = 0;    /* the callback carries only Tencent's serial number */
    r->status = st;
    snprintf(r->ref, sizeof r->ref, "%s", sid);
    const char *code = str_member(item, "errmsg");
    const char *desc = str_member(item, "description");
    append(r->detail, sizeof r->detail, code ? code : "");
    if (!empty(desc)) {
        if (r->detail[0])
            append(r->detail, sizeof r->detail, ": ");
        append(r->detail, sizeof r->detail, desc);
    }
    mask_digit_runs(r->detail, MASK_MIN_DIGITS, NULL, NULL);
    r->at_ms = parse_cst(str_member(item, "user_receive_time"));
    return true;
}

/* A callback body: a JSON array of entries, or one object alone; NULL for
 * anything else (free with cJSON_Delete). */
static cJSON *parse_push(const char *body, size_t len)
{
    cJSON *root = parse_json(body, len);
    if (!cJSON_IsArray(root) && !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

int prov_tencent_reports(const char *body, size_t len, struct prov_report *out, size_t max,
                         size_t *n)
{
    if (!n || (max > 0 && !out))
        return ANX_EINVAL;
    *n = 0;
    cJSON *root = parse_push(body, len);
    if (!root)
        return ANX_EPARSE;
    int rc = 0;
    struct prov_report r;
    if (cJSON_IsObject(root)) {
        if (take_report(root, &r)) {
            if (max > 0)
                out[(*n)++] = r;
            else
                rc = ANX_ERANGE;
        }
    } else {
        const cJSON *item;
        cJSON_ArrayForEach(item, root) {
            if (!take_report(item, &r))
                continue;
            if (*n == max) {
                rc = ANX_ERANGE;
                break;
            }
            out[(*n)++] = r;
        }
    }
    cJSON_Delete(root);
    return rc;
}

/* ---- reply callback ---------------------------------------------------------------- */

/* One reply entry into r; false if it is not one (no usable number). */
static bool take_reply(const cJSON *item, size_t code_digits, struct prov_reply *r)
{
    if (!cJSON_IsObject(item))
        return false;
    const char *mobile = str_member(item, "mobile");
    const char *cc = str_member(item, "nationcode");
    if (empty(mobile))
        return false;
    char from[40];
    if (empty(cc)) {
        snprintf(from, sizeof from, "%s", mobile);
    } else {
        /* The country code and the national number are given apart; a
         * country code that is not 1 to 4 digits is no country code. */
        size_t cl = strlen(cc);
        if (cl > 4 || strspn(cc, "0123456789") != cl || strlen(mobile) > 20)
            return false;
        snprintf(from, sizeof from, "+%s%s", cc, mobile);
    }
    return prov_reply_fill(from, str_member(item, "text"), code_digits, r) == 0;
}

int prov_tencent_replies(const char *body, size_t len, size_t code_digits,
                         struct prov_reply *out, size_t max, size_t *n, size_t *skipped)
{
    if (!n || (max > 0 && !out))
        return ANX_EINVAL;
    *n = 0;
    cJSON *root = parse_push(body, len);
    if (!root)
        return ANX_EPARSE;
    int rc = prov_collect_replies(root, take_reply, code_digits, out, max, n, skipped);
    cJSON_Delete(root);
    return rc;
}
