/* prov_aliyun.c - Alibaba Cloud SendSms / SingleCallByTts, their answers and
 * delivery reports (see prov_aliyun.h). */
#include "prov_aliyun.h"

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
#include "msgtmpl.h"
#include "sbuf.h"
#include "sha1.h"
#include "utf8.h"

#define API_VERSION "2017-05-25"
#define REGION "cn-hangzhou"
#define TTS_PARAM_MAX 250       /* TtsParam must stay under this many characters */
#define CALL_OUT_ID_MAX 15      /* bytes of a call's OutId */

/* ---- encoding --------------------------------------------------------------- */

/* Appends the RFC 3986 percent-encoding of n bytes at s. */
static void append_pct(struct sbuf *b, const char *s, size_t n)
{
    if (!sbuf_reserve(b, 3 * n))
        return;
    size_t k = codec_pct_encode(s, n, b->p + b->len, b->cap - b->len);
    if (k == (size_t)-1) {      /* cannot happen: room for 3n + 1 was made */
        b->oom = true;
        return;
    }
    b->len += k;
}

/* ---- the signature ---------------------------------------------------------- */

static int cmp_param(const void *a, const void *b)
{
    const struct prov_param *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->value, y->value);
}

/* The canonicalized query string: the parameters other than Signature,
 * sorted by name (byte order, which is the order of the encoded names too
 * for the plain ASCII names Aliyun uses), pct(name)=pct(value) joined by &. */
static int canonicalize(const struct prov_param *params, size_t n, struct sbuf *out)
{
    struct prov_param *sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted)
        return ANX_ENOMEM;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!params[i].key || !params[i].value) {
            free(sorted);
            return ANX_EINVAL;
        }
        if (strcmp(params[i].key, "Signature") != 0)
            sorted[m++] = params[i];
    }
    qsort(sorted, m, sizeof *sorted, cmp_param);
    for (size_t i = 0; i < m; i++) {
        if (i)
            sbuf_add(out, "&", 1);
        append_pct(out, sorted[i].key, strlen(sorted[i].key));
        sbuf_add(out, "=", 1);
        append_pct(out, sorted[i].value, strlen(sorted[i].value));
    }
    free(sorted);
    if (!out->p)
        sbuf_add(out, "", 0);     /* no parameters: an empty string, not NULL */
    return out->oom ? ANX_ENOMEM : 0;
}

/* base64(HMAC-SHA1(secret + "&", method & %2F & pct(canon))) into out. */
static int sign_canonical(const char *method, const char *canon, size_t canon_len,
                          const char *key_secret, char *out, size_t outlen)
{
    struct sbuf sts = {0}, key = {0};
    sbuf_str(&sts, method);
    sbuf_add(&sts, "&", 1);
    append_pct(&sts, "/", 1);
    sbuf_add(&sts, "&", 1);
    append_pct(&sts, canon, canon_len);
    /* The key is the secret followed by "&" (where a token secret would go
     * in the OAuth-like scheme this descends from). */
    sbuf_str(&key, key_secret);
    sbuf_add(&key, "&", 1);
    int rc = 0;
    if (sts.oom || key.oom) {
        rc = ANX_ENOMEM;
    } else {
        uint8_t mac[SHA1_LEN];
        sha1_hmac(key.p, key.len, sts.p, sts.len, mac);
        if (codec_base64(mac, sizeof mac, false, out, outlen) == (size_t)-1)
            rc = ANX_ERANGE;
        memset(mac, 0, sizeof mac);
    }
    sbuf_free(&sts);
    sbuf_free(&key);
    return rc;
}

int prov_aliyun_sign(const char *method, const struct prov_param *params, size_t n,
                     const char *key_secret, char *out, size_t outlen)
{
    if (!method || !key_secret || (n && !params) || !out || outlen == 0)
        return ANX_EINVAL;
    out[0] = '\0';
    struct sbuf canon = {0};
    int rc = canonicalize(params, n, &canon);
    if (rc == 0)
        rc = sign_canonical(method, canon.p, canon.len, key_secret, out, outlen);
    sbuf_free(&canon);
    return rc;
}

/* ---- building the request --------------------------------------------------- */

static bool filled(const char *s)
{
    return s && *s;
}

/* The number as Aliyun wants it from an E.164 one: mainland numbers
 * without +86 (mobiles as they are, landlines with their trunk 0, as
 * "0571..."), others as country code and number without "+" (SMS only: the
 * voice service calls mainland numbers only). */
static int aliyun_number(const char *e164, bool voice, char *out, size_t outlen)
{
    size_t len = strlen(e164);
    if (len < 9 || len > 16 || e164[0] != '+' || e164[1] == '0')
        return ANX_EINVAL;
    for (size_t i = 1; i < len; i++)
        if (e164[i] < '0' || e164[i] > '9')
            return ANX_EINVAL;
    int w;
    if (strncmp(e164, "+86", 3) == 0)
        w = snprintf(out, outlen, "%s%s", e164[3] == '1' ? "" : "0", e164 + 3);
    else if (voice)
        return ANX_EINVAL;
    else
        w = snprintf(out, outlen, "%s", e164 + 1);
    return w > 0 && (size_t)w < outlen ? 0 : ANX_ERANGE;
}

/* yyyy-MM-ddTHH:mm:ssZ of now_ms, in UTC: ISO 8601's spelling of the same
 * fields civil_format writes. */
static int utc_timestamp(int64_t now_ms, char out[32])
{
    if (now_ms < 0)
        return ANX_EINVAL;
    if (civil_format(now_ms, 0, out) != 0)
        return ANX_ERANGE;          /* a year past 9999 */
    out[10] = 'T';
    memcpy(out + 19, "Z", 2);
    return 0;
}

static char *param_json(const char *text, size_t text_len, const char *code)
{
    cJSON *o = cJSON_CreateObject();
    char *content = strndup(text, text_len), *s = NULL;
    if (o && content && cJSON_AddStringToObject(o, "content", content) &&
        cJSON_AddStringToObject(o, "code", code))
        s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    free(content);
    return s;
}

/* {"content": text, "code": code} (malloc'd). With max_chars, the text is
 * cut at a character boundary until the whole JSON has fewer characters
 * than that. Sets *rc on failure. */
static char *template_param(const char *text, const char *code, size_t max_chars, int *rc)
{
    size_t keep = strlen(text);
    for (;;) {
        char *s = param_json(text, keep, code);
        if (!s) {
            *rc = ANX_ENOMEM;
            return NULL;
        }
        size_t chars = utf8_chars(s);
        if (max_chars == 0 || chars < max_chars)
            return s;
        free(s);
        if (keep == 0) {
            *rc = ANX_ERANGE;
            return NULL;
        }
        /* Drop as many characters as there are too many (escapes make the
         * JSON longer than the text, so this may take another round). */
        for (size_t drop = chars - max_chars + 1; drop > 0 && keep > 0; drop--) {
            do
                keep--;
            while (keep > 0 && ((unsigned char)text[keep] & 0xc0) == 0x80);
        }
    }
}

/* SingleCallByTts collects no keys, so "确认请按1" (msgtmpl.h) would send a
 * frightened relative pressing a key that does nothing: the call asks for
 * the code by SMS instead (the TTS template speaks the code). malloc'd. */
static char *voice_text(const char *text)
{
    const char *k = strstr(text, MTPL_VOICE_KEY);
    if (!k)
        return strdup(text);
    char *out = NULL;
    if (asprintf(&out, "%.*s%s%s", (int)(k - text), text, PROV_ALIYUN_VOICE_ACK,
                 k + strlen(MTPL_VOICE_KEY)) < 0)
        return NULL;
    return out;
}

int prov_aliyun_build(const struct prov_aliyun_conf *c, const struct notify_msg *n,
                      int64_t now_ms, const char *nonce, struct prov_request *out)
{
    if (!out)
        return ANX_EINVAL;
    memset(out, 0, sizeof *out);
    if (!c || !n || !filled(nonce) || now_ms < 0 || n->id <= 0 || !filled(c->key_id) ||
        !filled(c->key_secret))
        return ANX_EINVAL;
    bool voice;
    if (n->channel == NOTIFY_SMS) {
        voice = false;
        if (!filled(c->sign_name) || !filled(c->sms_template))
            return ANX_EINVAL;
    } else if (n->channel == NOTIFY_VOICE) {
        voice = true;
        if (!filled(c->tts_template))
            return ANX_EINVAL;
    } else {
        return ANX_EINVAL;
    }
    int play = c->play_times ? c->play_times : 2;
    if (play < 1 || play > 3)
        return ANX_ERANGE;

    char number[24], id[24], ts[32], plays[4];
    int rc = aliyun_number(n->to, voice, number, sizeof number);
    if (rc)
        return rc;
    int idlen = snprintf(id, sizeof id, "%" PRId64, n->id);
    if (voice && idlen > CALL_OUT_ID_MAX)
        return ANX_ERANGE;
    if ((rc = utc_timestamp(now_ms, ts)) != 0)
        return rc;
    snprintf(plays, sizeof plays, "%d", play);
    char *spoken = voice ? voice_text(n->text ? n->text : "") : NULL;
    if (voice && !spoken)
        return ANX_ENOMEM;
    char *tparam = template_param(voice ? spoken : n->text ? n->text : "", n->ack_code,
                                  voice ? TTS_PARAM_MAX : 0, &rc);
    free(spoken);
    if (!tparam)
        return rc;

    struct prov_param p[16];
    size_t np = 0;
    p[np++] = (struct prov_param){"AccessKeyId", c->key_id};
    p[np++] = (struct prov_param){"Format", "JSON"};
    p[np++] = (struct prov_param){"OutId", id};
    p[np++] = (struct prov_param){"RegionId", REGION};
    p[np++] = (struct prov_param){"SignatureMethod", "HMAC-SHA1"};
    p[np++] = (struct prov_param){"SignatureNonce", nonce};
    p[np++] = (struct prov_param){"SignatureVersion", "1.0"};
    p[np++] = (struct prov_param){"Timestamp", ts};
    p[np++] = (struct prov_param){"Version", API_VERSION};
    if (voice) {
        p[np++] = (struct prov_param){"Action", "SingleCallByTts"};
        p[np++] = (struct prov_param){"CalledNumber", number};
        if (filled(c->called_show_number))
            p[np++] = (struct prov_param){"CalledShowNumber", c->called_show_number};
        p[np++] = (struct prov_param){"PlayTimes", plays};
        p[np++] = (struct prov_param){"TtsCode", c->tts_template};
        p[np++] = (struct prov_param){"TtsParam", tparam};
    } else {
        p[np++] = (struct prov_param){"Action", "SendSms"};
        p[np++] = (struct prov_param){"PhoneNumbers", number};
        p[np++] = (struct prov_param){"SignName", c->sign_name};
        p[np++] = (struct prov_param){"TemplateCode", c->sms_template};
        p[np++] = (struct prov_param){"TemplateParam", tparam};
    }

    /* The body is the canonicalized query itself plus the Signature: the
     * same sorted, encoded pairs that were signed. */
    struct sbuf body = {0};
    char sig[PROV_ALIYUN_SIG_LEN];
    rc = canonicalize(p, np, &body);
    if (rc == 0)
        rc = sign_canonical("POST", body.p, body.len, c->key_secret, sig, sizeof sig);
    free(tparam);
    if (rc == 0) {
        sbuf_str(&body, "&Signature=");
        append_pct(&body, sig, strlen(sig));
        const char *ep = voice ? c->voice_endpoint : c->sms_endpoint;
        if (!filled(ep))
            ep = voice ? PROV_ALIYUN_VOICE_ENDPOINT : PROV_ALIYUN_SMS_ENDPOINT;
        out->url = strdup(ep);
        if (body.oom || !out->url ||
            prov_add_header(out, "Content-Type: application/x-www-form-urlencoded") ||
            prov_add_header(out, "Accept: application/json"))
            rc = ANX_ENOMEM;
    }
    if (rc) {
        sbuf_free(&body);
        prov_request_free(out);
        return rc;
    }
    memcpy(out->method, "POST", 5);
    out->body = body.p;         /* ownership passes to out */
    out->body_len = body.len;
    return 0;
}

/* ---- answers and reports ---------------------------------------------------- */

/* Runs of this many digits or more are masked in Aliyun's texts: 7 covers
 * a phone number in whole or in part, yet leaves the six-digit call status
 * codes (200000 ...) the voice reports carry readable. */
#define MASK_MIN_DIGITS 7

/* Copies src into dst (dstlen > 0) for a log or timeline line, after
 * masking the digit runs of src (in place) that could be a phone number:
 * control characters become spaces, and it is cut at a UTF-8 character
 * boundary when it does not fit. Masking src whole, before the cut, keeps
 * the head of a long number that does not fit from showing. */
static void clean_copy(char *dst, size_t dstlen, char *src)
{
    mask_digit_runs(src, MASK_MIN_DIGITS, NULL, NULL);
    size_t k = 0;
    for (size_t i = 0; src[i] && k + 1 < dstlen;) {
        unsigned char ch = (unsigned char)src[i];
        size_t clen = ch < 0x80 ? 1 : ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : ch >= 0xc0 ? 2 : 1;
        size_t have = 0;
        while (have < clen && src[i + have])
            have++;
        if (k + have >= dstlen)
            break;
        if (ch < 0x20 || ch == 0x7f) {
            dst[k++] = ' ';
            i++;
            continue;
        }
        memcpy(dst + k, src + i, have);
        k += have;
        i += have;
    }
    dst[k] = '\0';
}

/* Copies an id (BizId, CallId) into dst, cut to fit. */
static void copy_id(char *dst, size_t dstlen, const char *src)
{
    if (dstlen == 0)
        return;
    snprintf(dst, dstlen, "%s", src ? src : "");
}

/* A member as text, whatever JSON type Aliyun chose for it: strings as they
 * are, whole numbers in decimal, booleans as true/false. NULL when absent,
 * null, an object or array, or a fractional number. */
static const char *field_text(const cJSON *o, const char *name, char *tmp, size_t tmplen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (cJSON_IsString(v) && v->valuestring)
        return v->valuestring;
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "true" : "false";
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d >= -9007199254740992.0 && d <= 9007199254740992.0 && d == (double)(int64_t)d) {
            snprintf(tmp, tmplen, "%" PRId64, (int64_t)d);
            return tmp;
        }
    }
    return NULL;
}

static bool is_code(const char *code, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(code, list[i]) == 0)
            return true;
    return false;
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Whether Code says "not now" rather than "never". */
static bool retryable(const char *code)
{
    static const char *const codes[] = {
        "isv.BUSINESS_LIMIT_CONTROL",   /* per-number flow control (1/min, 5/h, ...) */
        "isp.SYSTEM_ERROR", "isp.GATEWAY_ERROR", "isv.SYSTEM_ERROR",
        "SignatureNonceUsed",           /* the next attempt has a fresh nonce */
        "ServiceTimeout",
    };
    return is_code(code, codes, sizeof codes / sizeof codes[0]) ||
           has_prefix(code, "Throttling") || has_prefix(code, "ServiceUnavailable") ||
           has_prefix(code, "InternalError");
}

enum prov_result prov_aliyun_parse(long http_status, const char *body, size_t len, char *ref,
                                   size_t reflen, char *err, size_t errlen)
{
    char dummy_ref[1], dummy_err[1];
    if (!ref || reflen == 0) {
        ref = dummy_ref;
        reflen = sizeof dummy_ref;
    }
    if (!err || errlen == 0) {
        err = dummy_err;
        errlen = sizeof dummy_err;
    }
    ref[0] = err[0] = '\0';

    cJSON *j = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    char tmp[32];
    const char *code = cJSON_IsObject(j) ? field_text(j, "Code", tmp, sizeof tmp) : NULL;
    if (!code || !*code) {
        cJSON_Delete(j);
        if (http_status == 0) {
            snprintf(err, errlen, "no answer");
            return PROV_RETRY;
        }
        bool ok = http_status >= 200 && http_status < 300;
        snprintf(err, errlen, "HTTP %ld%s", http_status,
                 ok ? ", but not an Aliyun answer" : "");
        /* A 2xx without a Code may or may not have been sent: a repeat SMS
         * is better than none for an alert. */
        return ok || http_status >= 500 || http_status == 429 || http_status == 408
                   ? PROV_RETRY
                   : PROV_FAILED;
    }

    enum prov_result r;
    if (strcmp(code, "OK") == 0 && http_status >= 200 && http_status < 300) {
        char idtmp[32];
        const char *id = field_text(j, "BizId", idtmp, sizeof idtmp);
        if (!id)
            id = field_text(j, "CallId", idtmp, sizeof idtmp);
        copy_id(ref, reflen, id);
        cJSON_Delete(j);
        return PROV_SENT;
    }
    if (strcmp(code, "OK") != 0 && retryable(code))
        r = PROV_RETRY;
    else if (http_status >= 500 || http_status == 429 || http_status == 408 || http_status == 0)
        r = PROV_RETRY;
    else
        r = PROV_FAILED;

    char mtmp[32], line[256];
    const char *msg = field_text(j, "Message", mtmp, sizeof mtmp);
    snprintf(line, sizeof line, "%s%s%s", code, msg && *msg ? ": " : "", msg ? msg : "");
    clean_copy(err, errlen, line);
    cJSON_Delete(j);
    return r;
}

/* "2017-01-01 00:00:00" in Beijing time (the pushes carry no zone) as ms
 * since the epoch; 0 if absent, not in that form or not after the epoch. */
static int64_t beijing_ms(const char *s)
{
    int64_t ms = civil_parse_local(s, 8 * 60);
    return ms > 0 ? ms : 0;
}

/* out_id as our notification id: a positive decimal, else 0. */
static int64_t notification_of(const char *out_id)
{
    if (!out_id)
        return 0;
    size_t len = strlen(out_id);
    if (len == 0 || len > 18 || strspn(out_id, "0123456789") != len)
        return 0;
    int64_t v = strtoll(out_id, NULL, 10);
    return v > 0 ? v : 0;
}

/* success as a truth value, whatever its JSON type: 1 true, 0 false, -1
 * unknown (absent, or something that is neither). */
static int truth_of(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? 1 : 0;
    if (cJSON_IsNumber(v))
        return v->valuedouble == 1 ? 1 : v->valuedouble == 0 ? 0 : -1;
    if (cJSON_IsString(v) && v->valuestring) {
        const char *s = v->valuestring;
        if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0)
            return 1;
        if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0)
            return 0;
    }
    return -1;
}

static void join3(char *out, size_t outlen, const char *a, const char *b, const char *c)
{
    char line[384];
    const char *parts[3] = {a, b, c};
    size_t k = 0;
    line[0] = '\0';
    for (int i = 0; i < 3; i++) {
        if (!parts[i] || !*parts[i])
            continue;
        int w = snprintf(line + k, sizeof line - k, "%s%s", k ? " " : "", parts[i]);
        if (w < 0 || (size_t)w >= sizeof line - k)
            break;
        k += (size_t)w;
    }
    clean_copy(out, outlen, line);
}

/* An SmsReport item; false if it cannot be classified. */
static bool sms_report(const cJSON *o, struct prov_report *r)
{
    char t1[32], t2[32], t3[32], t4[32];
    const char *code = field_text(o, "err_code", t1, sizeof t1);
    int ok = truth_of(o, "success");
    if (ok < 0 && code)
        ok = strcmp(code, "DELIVERED") == 0;
    if (ok < 0)
        return false;
    r->status = ok ? PROV_DELIVERED : PROV_UNDELIVERED;
    copy_id(r->ref, sizeof r->ref, field_text(o, "biz_id", t2, sizeof t2));
    join3(r->detail, sizeof r->detail, code, field_text(o, "err_msg", t3, sizeof t3), NULL);
    r->at_ms = beijing_ms(field_text(o, "report_time", t4, sizeof t4));
    return true;
}

/* A VoiceReport (or VoiceCallReport) item; false if it cannot be
 * classified. */
static bool voice_report(const cJSON *o, struct prov_report *r)
{
    static const char *const in_call[] = {"200101", "200102", "200103", "200201", "300000"};
    char t1[32], t2[32], t3[32], t4[32], t5[32];
    const char *code = field_text(o, "status_code", t1, sizeof t1);
    const char *smart = field_text(o, "smart_status_code", t2, sizeof t2);
    if (code && !*code)
        code = NULL;
    if (smart && !*smart)
        smart = NULL;

    if (code && is_code(code, in_call, sizeof in_call / sizeof in_call[0]))
        r->status = PROV_PENDING;
    else if (smart)
        /* The finer verdict wins: a call taken by call forwarding or a
         * voice mailbox (CALL_FORWARDING, INTELLIGENT_ANSWER) may carry
         * 200000, yet nobody heard it. */
        r->status = strcmp(smart, "ANSWERED") == 0 ? PROV_ANSWERED : PROV_NOT_ANSWERED;
    else if (code && (strcmp(code, "200000") == 0 || strcmp(code, "200001") == 0))
        r->status = PROV_ANSWERED;
    else if (code && strcmp(code, "200100") == 0)
        r->status = PROV_PENDING;   /* "call ended": the verdict comes in the VoiceReport */
    else if (code)
        r->status = PROV_NOT_ANSWERED;
    else
        return false;

    copy_id(r->ref, sizeof r->ref, field_text(o, "call_id", t3, sizeof t3));
    join3(r->detail, sizeof r->detail, code, smart, field_text(o, "status_msg", t4, sizeof t4));
    r->at_ms = beijing_ms(field_text(o, "end_time", t5, sizeof t5));
    if (!r->at_ms)
        r->at_ms = beijing_ms(field_text(o, "status_time", t5, sizeof t5));
    const char *dtmf = field_text(o, "dtmf", t5, sizeof t5);
    size_t dl = dtmf ? strlen(dtmf) : 0;
    if (dl > 0 && dl < sizeof r->digits && strspn(dtmf, "0123456789*#") == dl)
        memcpy(r->digits, dtmf, dl + 1);
    return true;
}

/* A push body: a JSON array of items, or one object alone; NULL for
 * anything else (free with cJSON_Delete). */
static cJSON *parse_push(const char *body, size_t len)
{
    cJSON *j = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    if (!cJSON_IsArray(j) && !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

int prov_aliyun_reports(const char *body, size_t len, struct prov_report *out, size_t max,
                        size_t *n)
{
    if (!n || (!body && len) || (!out && max))
        return ANX_EINVAL;
    *n = 0;
    cJSON *j = parse_push(body, len);
    if (!j)
        return ANX_EPARSE;
    /* One object alone is taken as a one-item push. */
    const cJSON *first = cJSON_IsArray(j) ? j->child : j;
    int rc = 0;
    for (const cJSON *it = first; it; it = cJSON_IsArray(j) ? it->next : NULL) {
        if (!cJSON_IsObject(it))
            continue;
        bool voice = cJSON_GetObjectItemCaseSensitive(it, "call_id") ||
                     cJSON_GetObjectItemCaseSensitive(it, "status_code");
        bool sms = cJSON_GetObjectItemCaseSensitive(it, "success") ||
                   cJSON_GetObjectItemCaseSensitive(it, "biz_id") ||
                   cJSON_GetObjectItemCaseSensitive(it, "err_code");
        if (!voice && !sms)
            continue;
        struct prov_report r = {0};
        if (!(voice ? voice_report(it, &r) : sms_report(it, &r)))
            continue;
        char t[32];
        r.notification = notification_of(field_text(it, "out_id", t, sizeof t));
        if (*n == max) {
            rc = ANX_ERANGE;
            break;
        }
        out[(*n)++] = r;
    }
    cJSON_Delete(j);
    return rc;
}

/* One SmsUp item: the sender and the text. */
static bool take_smsup(const cJSON *it, size_t code_digits, struct prov_reply *r)
{
    char t1[32], t2[32];
    /* A number written as a JSON number would lose nothing (11 digits), so
     * field_text takes either. */
    return cJSON_IsObject(it) &&
           prov_reply_fill(field_text(it, "phone_number", t1, sizeof t1),
                           field_text(it, "content", t2, sizeof t2), code_digits, r) == 0;
}

int prov_aliyun_replies(const char *body, size_t len, size_t code_digits,
                        struct prov_reply *out, size_t max, size_t *n, size_t *skipped)
{
    if (!n || (!body && len) || (!out && max))
        return ANX_EINVAL;
    *n = 0;
    cJSON *j = parse_push(body, len);
    if (!j)
        return ANX_EPARSE;
    int rc = prov_collect_replies(j, take_smsup, code_digits, out, max, n, skipped);
    cJSON_Delete(j);
    return rc;
}
