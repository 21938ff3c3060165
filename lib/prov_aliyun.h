/* prov_aliyun.h - SMS and voice calls through Alibaba Cloud (阿里云) 短信服务
 * Dysmsapi and 语音服务 Dyvmsapi: the signed SendSms / SingleCallByTts
 * request, the meaning of the answer, and the delivery reports Aliyun pushes
 * back (SmsReport, VoiceReport, "HTTP批量推送" mode).
 *
 * Facts relied on (help.aliyun.com: "签名机制" for RPC APIs, "SendSms",
 * "SingleCallByTts", "API错误码", "SmsReport", "VoiceReport", "呼叫状态码" /
 * "运营商回执错误码"):
 *   - RPC style, version 2017-05-25 for both products. Common parameters
 *     AccessKeyId, Action, Format, RegionId, SignatureMethod=HMAC-SHA1,
 *     SignatureVersion=1.0, SignatureNonce (unique per request), Timestamp
 *     (UTC, yyyy-MM-ddTHH:mm:ssZ), Version; Signature =
 *     base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign)), StringToSign =
 *     Method "&" pct("/") "&" pct(canonicalized query), the canonicalized
 *     query being pct(name) "=" pct(value) sorted by name and joined by "&",
 *     pct being RFC 3986 (only A-Z a-z 0-9 - _ . ~ literal; space is %20).
 *     The parameters may come as a GET query or a POST form body.
 *   - SendSms: PhoneNumbers (mainland numbers without +86; elsewhere the
 *     country code and number, "852000012****"), SignName, TemplateCode,
 *     TemplateParam (JSON), OutId (< 256 characters). Answer JSON: Code "OK",
 *     BizId, Message, RequestId. A notification template's variable holds at
 *     most 35 characters unless the account has that limit lifted
 *     (解除变量长度限制; then the whole SMS may be 500 characters).
 *   - SingleCallByTts: CalledNumber (mainland mobile or landline "0571...":
 *     the service no longer calls abroad), CalledShowNumber (omitted: public
 *     number pool), TtsCode, TtsParam (JSON, under 250 characters in all,
 *     no links), PlayTimes 1-3, OutId (1 to 15 bytes). Answer: Code "OK",
 *     CallId. Each number may be called 1/minute, 5/hour, 20/day.
 *   - Errors come as the same JSON with another Code: isv.* (the request),
 *     isp.* (the platform), or gateway codes (SignatureDoesNotMatch,
 *     InvalidAccessKeyId.NotFound, Throttling.User, ...) with HTTP 4xx/5xx.
 *   - Reports are POSTed as a JSON array. SmsReport items: phone_number,
 *     send_time, report_time ("2017-01-01 00:00:00", Beijing time), success
 *     (boolean), err_code ("DELIVERED" when it arrived), err_msg, sms_size,
 *     biz_id, out_id. VoiceReport items: call_id, status_code (a string:
 *     200000 listened to the end, 200001 hung up early, 200002 busy, 200003
 *     not answered, 200004 bad number, 200005 unreachable, 200007 out of
 *     service area, 200010 off, 200011 suspended, ...; 2001xx/300000 are
 *     in-call states and key presses), smart_status_code (ANSWERED,
 *     NO_ANSWER, USER_BUSY, ...), status_msg, start_time, end_time,
 *     duration, out_id, dtmf. The receiver answers HTTP 200 with
 *     PROV_ALIYUN_REPORT_ACK; anything else makes Aliyun push again
 *     (after 1, 5 and 10 minutes), so reports can repeat.
 *
 * Template contract (what the county registers in the Aliyun console):
 * the SMS template and the TTS template each take two variables, ${content}
 * (the rendered notification text) and ${code} (the acknowledgement code),
 * e.g. SMS "${content} 回复${code}确认" and TTS "${content}。确认码${code}。".
 * For SMS texts over 35 characters the county must have the variable
 * length limit lifted for its account; the voice content is shortened here
 * to fit TtsParam's 250 characters.
 *
 * SingleCallByTts collects no key presses: a voice text's "确认请按1" is
 * spoken as PROV_ALIYUN_VOICE_ACK instead (reply the code by SMS).
 *
 * Pure: credentials, time and the nonce are passed in; nothing here reads a
 * clock, a random source or the network. */
#ifndef ANXIN_PROV_ALIYUN_H
#define ANXIN_PROV_ALIYUN_H

#include <stddef.h>
#include <stdint.h>

#define PROV_ALIYUN_VOICE_ACK "收到请用短信回复确认码"

#include "notify.h"
#include "provider.h"

#define PROV_ALIYUN_SMS_ENDPOINT "https://dysmsapi.aliyuncs.com/"
#define PROV_ALIYUN_VOICE_ENDPOINT "https://dyvmsapi.aliyuncs.com/"
#define PROV_ALIYUN_SIG_LEN 29      /* base64 of an HMAC-SHA1, and its NUL */
/* The body to answer a report push with (HTTP 200, application/json). */
#define PROV_ALIYUN_REPORT_ACK "{\"code\":0,\"msg\":\"接收成功\"}"

struct prov_aliyun_conf {
    const char *sms_endpoint;       /* NULL or "" = PROV_ALIYUN_SMS_ENDPOINT */
    const char *voice_endpoint;     /* NULL or "" = PROV_ALIYUN_VOICE_ENDPOINT */
    const char *key_id;             /* AccessKey ID */
    const char *key_secret;         /* AccessKey secret */
    const char *sign_name;          /* SMS 签名, e.g. "安心养老" (SMS only) */
    const char *sms_template;       /* SMS template code "SMS_..." (SMS only) */
    const char *tts_template;       /* TTS template code "TTS_..." (voice only) */
    const char *called_show_number; /* caller id for calls; NULL or "" = the public pool */
    int play_times;                 /* times a call repeats the text, 1-3; 0 = 2 */
};

/* The request for notification n at now_ms (ms since the epoch) with the
 * given SignatureNonce (a fresh UUID per request; a reused one is refused
 * as SignatureNonceUsed). An SMS becomes SendSms, a voice notification
 * SingleCallByTts, both as a signed POST form (application/x-www-form-
 * urlencoded, RFC 3986 encoding) to the endpoint, so that the number and
 * the text stay out of URLs, which proxies and access logs record.
 * TemplateParam / TtsParam = {"content": n->text, "code": n->ack_code};
 * OutId = n->id in decimal. On success out holds malloc'd strings (free with
 * prov_request_free); on failure out is left empty. Returns 0, ANX_EINVAL
 * (missing credentials, template or sign name, a recipient that is not
 * E.164, a call abroad, an id <= 0, an empty nonce, now_ms < 0), ANX_ERANGE
 * (an id too long for a call's OutId, play_times out of 0-3, a year past
 * 9999) or ANX_ENOMEM. */
int prov_aliyun_build(const struct prov_aliyun_conf *c, const struct notify_msg *n,
                      int64_t now_ms, const char *nonce, struct prov_request *out);

/* The meaning of Aliyun's answer (http_status 0 = no answer). Code "OK":
 * PROV_SENT, ref = BizId or CallId. Flow control and platform trouble
 * (isv.BUSINESS_LIMIT_CONTROL, Throttling*, isp.SYSTEM_ERROR, InternalError,
 * ServiceUnavailable, SignatureNonceUsed), 408, 429, 5xx, no answer, or a
 * 2xx that is not Aliyun's JSON: PROV_RETRY. Anything else - a bad number,
 * template or sign name, bad credentials, arrears, the daily or monthly
 * limit the county set, an unknown code: PROV_FAILED, so the notifier moves
 * on to the next provider. err gets "Code: Message" (digit runs that could
 * be a phone number masked); ref and err are always NUL-terminated when
 * their lengths are not 0. */
enum prov_result prov_aliyun_parse(long http_status, const char *body, size_t len, char *ref,
                                   size_t reflen, char *err, size_t errlen);

/* Reports from an SmsReport or VoiceReport push body (a JSON array; each
 * item is recognised by its fields: call_id/status_code = a call,
 * success/biz_id/err_code = an SMS). notification = out_id when it is a
 * positive decimal (a string or a number), else 0; ref = biz_id / call_id;
 * detail = err_code and err_msg / status_code, smart_status_code and
 * status_msg; at_ms = report_time / end_time, else status_time (read as
 * UTC+8), 0 if absent; digits = dtmf (1 to 7 of 0-9 * #).
 * SMS: success true (or "true", 1; err_code DELIVERED when success is
 * absent) -> DELIVERED, false ("false", 0, another err_code) -> UNDELIVERED.
 * Calls: in-call states (200101 200102 200103 200201 300000) -> PENDING;
 * otherwise smart_status_code, when given, decides: ANSWERED -> ANSWERED,
 * anything else -> NOT_ANSWERED (CALL_FORWARDING and INTELLIGENT_ANSWER
 * are a forwarding service or a mailbox taking the call: nobody heard it,
 * even if status_code says 200000); without it 200000 (listened to the
 * end) and 200001 (hung up early) -> ANSWERED, 200100 (call ended, verdict
 * to follow) -> PENDING, any other code -> NOT_ANSWERED.
 * Items that are not objects or cannot be classified are skipped. Fills out[0..*n);
 * returns 0, ANX_EINVAL (NULL arguments), ANX_EPARSE (not JSON, or not an
 * array or object) or ANX_ERANGE (more than max reports: the first max are
 * in out). Phone numbers in the push are never copied.
 * The documentation gives these pushes no signature, so anyone who finds
 * the URL can post one: take a report only when its ref equals the BizId /
 * CallId that prov_aliyun_parse gave for that notification (they are not
 * guessable), and keep the push URL unlisted. */
int prov_aliyun_reports(const char *body, size_t len, struct prov_report *out, size_t max,
                        size_t *n);

/* Replies from an SmsUp push ("上行短信", HTTP batch push mode): a JSON
 * array of {"phone_number", "content", "send_time", "dest_code",
 * "sequence_id", "sign_name"} (help.aliyun.com, 短信服务 > 开发参考 >
 * "SmsUp" and knowledge_detail/60127; sequence_id is a number in one page
 * and a string in the other, sign_name is only in the older). Only
 * phone_number (the sender, a mainland number as "1381111xxxx") and
 * content are read; an item whose phone_number is not a phone number, or
 * that is not an object, is skipped and counted in *skipped (may be NULL).
 * One object alone is taken as a push of one. Fills out[0..*n), code from
 * content with code_digits digits ("" when there is none). Returns 0,
 * ANX_EINVAL (NULL arguments), ANX_EPARSE (not JSON, or neither an array
 * nor an object) or ANX_ERANGE (more than max: the first max are in out).
 * The push is answered with PROV_ALIYUN_REPORT_ACK; like reports it carries
 * no signature, so its address carries a key (prov_report_key). */
int prov_aliyun_replies(const char *body, size_t len, size_t code_digits,
                        struct prov_reply *out, size_t max, size_t *n, size_t *skipped);

/* The Signature of a request with parameters params[0..n) (unsorted; a
 * "Signature" parameter among them is left out, so a received request's
 * parameters can be passed as they are) sent with method ("GET" or
 * "POST"), under key_secret. out gets the base64 text, not yet
 * percent-encoded (outlen >= PROV_ALIYUN_SIG_LEN). Returns 0, ANX_EINVAL
 * (NULL method, key, name or value), ANX_ERANGE (out too small) or
 * ANX_ENOMEM. */
int prov_aliyun_sign(const char *method, const struct prov_param *params, size_t n,
                     const char *key_secret, char *out, size_t outlen);

#endif
