/* prov_tencent.h - SMS through Tencent Cloud SMS (腾讯云短信): the SendSms
 * request (API 3.0, version 2021-01-11) signed with TC3-HMAC-SHA256, the
 * meaning of its answer, and the delivery-status callback (回执).
 *
 * Facts relied on:
 *  - 签名方法 v3 / "Signature v3" (API 3.0, one page copied into every
 *    product's API docs): CanonicalRequest = method "\n" "/"
 *    "\n" query "\n" canonical headers (lower-case name:value, sorted, each
 *    ending "\n") "\n" signed header names "\n" hex(sha256(payload));
 *    StringToSign = "TC3-HMAC-SHA256\n" timestamp "\n" date/service/
 *    tc3_request "\n" hex(sha256(CanonicalRequest)), date being the UTC date
 *    of the timestamp; the key is derived as HMAC("TC3" + SecretKey, date),
 *    then the service, then "tc3_request"; the server refuses a timestamp
 *    more than five minutes from its clock (AuthFailure.SignatureExpire).
 *  - SendSms (cloud.tencent.com/document/api/382/55981): POST JSON with
 *    PhoneNumberSet (E.164), SmsSdkAppId, TemplateId, SignName (required for
 *    numbers in mainland China), TemplateParamSet, SessionContext ("server
 *    会原样返回": echoed in the answer's SendStatus, not in the callback);
 *    the answer is {"Response": {"SendStatusSet": [{"SerialNo", "PhoneNumber",
 *    "Fee", "SessionContext", "Code": "Ok", "Message", "IsoCode"}],
 *    "RequestId"}}, a per-number refusal has another Code in its SendStatus
 *    (e.g. LimitExceeded.PhoneNumberThirtySecondLimit), and a refused request
 *    has {"Response": {"Error": {"Code", "Message"}, "RequestId"}}, with HTTP
 *    200 either way (错误码, document/api/382/52075).
 *  - 短信下发状态通知 (document/product/382/5807 and the international
 *    edition 382/43547): a POSTed JSON array of {"user_receive_time":
 *    "2015-10-17 08:03:04", "nationcode", "mobile", "report_status":
 *    "SUCCESS"|"FAIL", "errmsg": "DELIVRD", "description", "sid"}, sid being
 *    the SerialNo of the send; the documented fields carry no SessionContext,
 *    so reports are matched by SerialNo. The answer Tencent wants is
 *    {"result": 0, "errmsg": "OK"}.
 *
 * Template: the county registers one notification template whose {1} is
 * the message text and {2} the acknowledgement code, e.g.
 * "{1} 回复{2}确认已收到。"; TemplateParamSet is [text, ack_code].
 *
 * Pure: time comes in as now_ms; nothing is logged. */
#ifndef ANXIN_PROV_TENCENT_H
#define ANXIN_PROV_TENCENT_H

#include <stddef.h>
#include <stdint.h>

#include "notify.h"
#include "provider.h"

#define PROV_TENCENT_ENDPOINT "https://sms.tencentcloudapi.com/"
#define PROV_TENCENT_HOST "sms.tencentcloudapi.com"
#define PROV_TENCENT_REGION "ap-guangzhou"
#define PROV_TENCENT_VERSION "2021-01-11"
#define PROV_TENCENT_CONTENT_TYPE "application/json; charset=utf-8"

struct prov_tencent_conf {
    const char *endpoint;       /* NULL: https://sms.tencentcloudapi.com/ */
    const char *host;           /* NULL: sms.tencentcloudapi.com (signed, and sent as Host) */
    const char *secret_id;      /* AKID... */
    const char *secret_key;
    const char *sdk_app_id;     /* SmsSdkAppId, e.g. 1400006666 */
    const char *sign_name;      /* SignName (签名内容, not its id); NULL or "" to leave out */
    const char *template_id;    /* the approved template: {1} = text, {2} = ack code */
    const char *region;         /* NULL: ap-guangzhou */
};

/* What TC3-HMAC-SHA256 signs. */
struct prov_tencent_sign_in {
    const char *secret_key;
    const char *service;        /* "sms" (the first label of the host) */
    const char *host;           /* as sent in Host */
    const char *content_type;   /* as sent in Content-Type */
    const char *action;         /* non-NULL: X-TC-Action is signed too (as the current
                                 * Chinese page does); NULL: only content-type;host */
    int64_t timestamp;          /* seconds since the epoch, as sent in X-TC-Timestamp */
    const void *payload;        /* the POST body (may be NULL when payload_len is 0) */
    size_t payload_len;
};

/* The signature and the intermediate values the documentation prints. */
struct prov_tencent_sig {
    char date[11];              /* UTC date of the timestamp, "2019-02-25" */
    char signed_headers[32];    /* "content-type;host" or "content-type;host;x-tc-action" */
    char payload_hash[65];      /* HashedRequestPayload */
    char canonical_hash[65];    /* hex SHA-256 of CanonicalRequest (HashedCanonicalRequest) */
    char signature[65];         /* lower-case hex */
};

/* Computes the TC3-HMAC-SHA256 signature of a POST to "/" (no query).
 * Returns 0, or ANX_EINVAL for a missing field, a timestamp before 1970 or
 * after 9999, a secret key over 256 bytes, or a header value with a control
 * character. */
int prov_tencent_sign(const struct prov_tencent_sign_in *in, struct prov_tencent_sig *out);

/* The Authorization header value for a signature: "TC3-HMAC-SHA256
 * Credential=<id>/<date>/<service>/tc3_request, SignedHeaders=...,
 * Signature=...". Returns 0 or ANX_ERANGE if out is too small (256 bytes
 * suffice for ids up to 100 characters). */
int prov_tencent_authorization(const char *secret_id, const char *service,
                               const struct prov_tencent_sig *s, char *out, size_t len);

/* The SendSms request for an SMS notification: POST to the endpoint with
 * the JSON body {"PhoneNumberSet": [to], "SmsSdkAppId", "TemplateId",
 * "SignName", "TemplateParamSet": [text, ack_code], "SessionContext": "<id>"}
 * and the headers Authorization, Content-Type, Host, X-TC-Action,
 * X-TC-Timestamp (now_ms / 1000), X-TC-Version and X-TC-Region, signing
 * content-type;host;x-tc-action. Voice returns ANX_EINVAL: Tencent's voice
 * messages are another product (语音消息, vms.tencentcloudapi.com) with its
 * own API, not SendSms. Also ANX_EINVAL for a missing credential, app id or
 * template, a number not in E.164, or no text; ANX_ENOMEM. On success out
 * owns malloc'd memory: free it with prov_request_free (on failure out is
 * left empty). */
int prov_tencent_build(const struct prov_tencent_conf *c, const struct notify_msg *n,
                       int64_t now_ms, struct prov_request *out);

/* The meaning of SendSms's answer. SENT when SendStatusSet[0].Code is "Ok"
 * (ref gets its SerialNo); RETRY for HTTP 429 and 5xx, for the codes
 * LimitExceeded[.*], RequestLimitExceeded[.*] and InternalError[.*], and
 * for an unreadable answer with a 2xx status (the message may or may not
 * have gone: a duplicate beats a lost alarm); FAILED for any other code
 * (bad number, template, signature name, credentials, balance) and for an
 * unreadable answer with another 4xx status. err gets "Code: Message" (or
 * the HTTP status) with digit runs long enough to be a phone number masked;
 * ref and err are always NUL-terminated (either length may be 0; serial
 * numbers look like "2640:262727967816586500757778766", so 96 bytes for ref
 * are plenty). */
enum prov_result prov_tencent_parse(long http_status, const char *body, size_t len, char *ref,
                                    size_t reflen, char *err, size_t errlen);

/* The delivery-status callback body into reports: SUCCESS is DELIVERED,
 * FAIL is UNDELIVERED (other values are skipped, as are entries without a
 * sid). The callback does not carry our notification id, so notification
 * is 0 and ref is the sid (= the SerialNo prov_tencent_parse returned):
 * match by provider reference. detail is "errmsg: description" (masked
 * like err above; the mobile number is never copied); at_ms is
 * user_receive_time read as China Standard Time (UTC+8), 0 if absent or
 * malformed. Returns 0 with *n reports, ANX_EPARSE if the body is not a
 * JSON array (a single object is accepted too), or ANX_ERANGE if there
 * were more than max usable entries (*n = max, the first max filled). */
int prov_tencent_reports(const char *body, size_t len, struct prov_report *out, size_t max,
                         size_t *n);

/* Replies from the SMS reply callback (短信回复, cloud.tencent.com
 * document/product/382/5809 and api/382/59179; international edition
 * 382/43548): a POSTed JSON object {"extend", "mobile": "13xxxxxxxxx",
 * "nationcode": "86", "sign", "text", "time": <unix seconds>}, answered
 * with PROV_TENCENT_CALLBACK_ACK. The sender is "+" nationcode mobile (or
 * mobile alone, read as prov_sender_e164 does, when nationcode is empty);
 * code comes from text with code_digits digits ("" when none). An array of
 * such objects is taken too, entry by entry; entries whose number is not a
 * phone number are skipped and counted in *skipped (may be NULL). Returns
 * 0 with out[0..*n), ANX_EINVAL (NULL arguments), ANX_EPARSE (not JSON,
 * or neither an object nor an array) or ANX_ERANGE (more than max). The
 * documented callback carries no signature: its address carries a key. */
int prov_tencent_replies(const char *body, size_t len, size_t code_digits,
                         struct prov_reply *out, size_t max, size_t *n, size_t *skipped);

/* What Tencent wants back from its callbacks (status and reply alike). */
#define PROV_TENCENT_CALLBACK_ACK "{\"result\":0,\"errmsg\":\"OK\"}"

#endif
