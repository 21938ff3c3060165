/* test_prov_tencent.c - unit tests for the Tencent Cloud SMS provider
 * (lib/prov_tencent.c): the TC3-HMAC-SHA256 signature against Tencent's
 * published example, the SendSms request, the meaning of its answers and
 * the delivery-status callback.
 *
 * Sources of the expected values:
 *   - Known answer 1: Tencent Cloud API 3.0, 签名方法 v3 / "Signature v3"
 *     (the page copied into every product's API docs, e.g.
 *     tencentcloud.com "Signature v3", and the 2019 edition of
 *     cloud.tencent.com 签名方法 v3), the worked example: CVM
 *     DescribeInstances, SecretId AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE,
 *     SecretKey Gu5t9xGARNpq86cd98joQYCN3EXAMPLE, X-TC-Timestamp 1551113065,
 *     payload {"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"],
 *     "Name": "instance-name"}]}, SignedHeaders content-type;host:
 *     HashedRequestPayload 35e9c5b0..., HashedCanonicalRequest 5ffe6a04...,
 *     Signature 72e494ea..., and the Authorization line it prints.
 *   - Known answer 2: the current edition of cloud.tencent.com 签名方法 v3,
 *     same request, which also signs x-tc-action and prints the key with
 *     its tail masked as the literal "Gu5t9xGARNpq86cd98joQYCN3*******":
 *     HashedCanonicalRequest 7019a55b..., Signature be4f67d3....
 *   - The SendSms request test: the signature 54f7ce3f... of that exact body
 *     was computed independently with Python's hmac and hashlib; the test
 *     also recomputes it from the request's own header lines.
 *   - Answers and callbacks: shaped after the examples of the SendSms page
 *     (cloud.tencent.com/document/api/382/55981), the error-code page
 *     (382/52075) and 短信下发状态通知 (382/5807, 382/43547).
 *   - Replies: the example of 短信回复 (382/59179, 382/43548). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec.h"
#include "err.h"
#include "notify.h"
#include "prov_tencent.h"
#include "provider.h"
#include "sha256.h"

/* ---- the documented signing example ------------------------------------------ */

#define DOC_PAYLOAD \
    "{\"Limit\": 1, \"Filters\": [{\"Values\": [\"\\u672a\\u547d\\u540d\"], " \
    "\"Name\": \"instance-name\"}]}"

static struct prov_tencent_sign_in doc_input(const char *key, const char *action)
{
    struct prov_tencent_sign_in in = {
        .secret_key = key,
        .service = "cvm",
        .host = "cvm.tencentcloudapi.com",
        .content_type = "application/json; charset=utf-8",
        .action = action,
        .timestamp = 1551113065,
        .payload = DOC_PAYLOAD,
        .payload_len = strlen(DOC_PAYLOAD),
    };
    return in;
}

static void test_sign_doc_example(void **state)
{
    (void)state;
    /* Known answer 1 (see the top of the file). */
    struct prov_tencent_sign_in in = doc_input("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", NULL);
    struct prov_tencent_sig s;
    assert_int_equal(prov_tencent_sign(&in, &s), 0);
    assert_string_equal(s.date, "2019-02-25");
    assert_string_equal(s.signed_headers, "content-type;host");
    assert_string_equal(s.payload_hash,
                        "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064");
    assert_string_equal(s.canonical_hash,
                        "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031");
    assert_string_equal(s.signature,
                        "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168");

    char auth[256];
    assert_int_equal(prov_tencent_authorization("AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", "cvm", &s,
                                                auth, sizeof auth),
                     0);
    assert_string_equal(auth,
                        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/"
                        "2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature="
                        "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168");
}

static void test_sign_doc_example_with_action(void **state)
{
    (void)state;
    /* Known answer 2: the current Chinese edition signs x-tc-action (its
     * value lower-cased in the canonical headers). */
    struct prov_tencent_sign_in in = doc_input("Gu5t9xGARNpq86cd98joQYCN3*******",
                                               "DescribeInstances");
    struct prov_tencent_sig s;
    assert_int_equal(prov_tencent_sign(&in, &s), 0);
    assert_string_equal(s.signed_headers, "content-type;host;x-tc-action");
    assert_string_equal(s.payload_hash,
                        "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064");
    assert_string_equal(s.canonical_hash,
                        "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84");
    assert_string_equal(s.signature,
                        "be4f67d323c78ab9acb7395e43c0dbcf822a9cfac32fea2449a7bc7726b770a3");
}

static void test_sign_canonical_values(void **state)
{
    (void)state;
    /* Header values are lower-cased and trimmed, so these sign alike. */
    struct prov_tencent_sign_in a = doc_input("k", "DescribeInstances");
    struct prov_tencent_sign_in b = a;
    b.host = "  CVM.TencentCloudAPI.com ";
    b.content_type = "Application/JSON; charset=UTF-8";
    b.action = "describeinstances";
    struct prov_tencent_sig sa, sb;
    assert_int_equal(prov_tencent_sign(&a, &sa), 0);
    assert_int_equal(prov_tencent_sign(&b, &sb), 0);
    assert_string_equal(sa.signature, sb.signature);

    /* The body, the key, the service and the second all matter. */
    struct prov_tencent_sign_in c = a;
    c.payload = "{}";
    c.payload_len = 2;
    assert_int_equal(prov_tencent_sign(&c, &sb), 0);
    assert_string_not_equal(sa.signature, sb.signature);
    c = a;
    c.secret_key = "K";
    assert_int_equal(prov_tencent_sign(&c, &sb), 0);
    assert_string_not_equal(sa.signature, sb.signature);
    c = a;
    c.service = "sms";
    assert_int_equal(prov_tencent_sign(&c, &sb), 0);
    assert_string_not_equal(sa.signature, sb.signature);
    c = a;
    c.timestamp++;
    assert_int_equal(prov_tencent_sign(&c, &sb), 0);
    assert_string_not_equal(sa.signature, sb.signature);

    /* An empty body hashes as the empty string (the GET rule). */
    c = a;
    c.payload = NULL;
    c.payload_len = 0;
    assert_int_equal(prov_tencent_sign(&c, &sb), 0);
    assert_string_equal(sb.payload_hash,
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_sign_utc_date(void **state)
{
    (void)state;
    static const struct {
        int64_t ts;
        const char *date;
    } cases[] = {
        {0, "1970-01-01"},
        {86399, "1970-01-01"},
        {86400, "1970-01-02"},
        {951782400, "2000-02-29"},          /* a leap day of a century year */
        {1551113065, "2019-02-25"},         /* 2019-02-26 00:44:25 in Beijing */
        {1709251199, "2024-02-29"},
        {4102444799, "2099-12-31"},
        {INT64_C(253402300799), "9999-12-31"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct prov_tencent_sign_in in = doc_input("k", NULL);
        in.timestamp = cases[i].ts;
        struct prov_tencent_sig s;
        assert_int_equal(prov_tencent_sign(&in, &s), 0);
        assert_string_equal(s.date, cases[i].date);
    }
}

static void test_sign_rejects(void **state)
{
    (void)state;
    struct prov_tencent_sig s;
    struct prov_tencent_sign_in in = doc_input("k", NULL);
    assert_int_equal(prov_tencent_sign(NULL, &s), ANX_EINVAL);
    assert_int_equal(prov_tencent_sign(&in, NULL), ANX_EINVAL);

    struct prov_tencent_sign_in bad = in;
    bad.secret_key = "";
    assert_int_equal(prov_tencent_sign(&bad, &s), ANX_EINVAL);
    bad = in;
    bad.service = NULL;
    assert_int_equal(prov_tencent_sign(&bad, &s), ANX_EINVAL);
    bad = in;
    bad.host = "evil.example\r\nX-Injected: 1";
    assert_int_equal(prov_tencent_sign(&bad, &s), ANX_EINVAL);
    bad = in;
    bad.action = "";
    assert_int_equal(prov_tencent_sign(&bad, &s), ANX_EINVAL);
    bad = in;
    bad.timestamp = -1;
    assert_int_equal(prov_tencent_sign(&bad, &s), ANX_EINVAL);
    bad = in;
    bad.timestamp = INT64_C(253402300800);
    assert_int_equal(prov_tencent_sign(&bad, &s), ANX_EINVAL);
    bad = in;
    bad.payload = NULL;
    assert_int_equal(prov_tencent_sign(&bad, &s), ANX_EINVAL);

    char auth[40];
    assert_int_equal(prov_tencent_sign(&in, &s), 0);
    assert_int_equal(prov_tencent_authorization("AKID", "cvm", &s, auth, sizeof auth), ANX_ERANGE);
    assert_string_equal(auth, "");
    assert_int_equal(prov_tencent_authorization("", "cvm", &s, auth, sizeof auth), ANX_EINVAL);
}

/* ---- the SendSms request ---------------------------------------------------------- */

#define TEXT "【测试】王奶奶 SOS \"呼叫\" 10:05"
#define NOW_MS INT64_C(1700000000123)   /* 2023-11-14 22:13:20.123 UTC */

static const struct prov_tencent_conf conf = {
    .secret_id = "AKIDtest",
    .secret_key = "testkey",
    .sdk_app_id = "1400006666",
    .sign_name = "安心养老",
    .template_id = "1110",
};

static struct notify_msg msg_for(const char *to, char *text)
{
    struct notify_msg n;
    memset(&n, 0, sizeof n);
    n.id = 4711;
    n.alert_id = 17;
    snprintf(n.to, sizeof n.to, "%s", to);
    n.channel = NOTIFY_SMS;
    snprintf(n.ack_code, sizeof n.ack_code, "4827");
    n.text = text;
    return n;
}

static const char *header(const struct prov_request *r, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < PROV_MAX_HEADERS && r->headers[i]; i++)
        if (strncasecmp(r->headers[i], name, len) == 0 && r->headers[i][len] == ':')
            return r->headers[i] + len + 2;
    return NULL;
}

static void hmac_str(const uint8_t *key, size_t klen, const char *msg, uint8_t out[SHA256_LEN])
{
    sha256_hmac(key, klen, msg, strlen(msg), out);
}

/* TC3 again, written out as the documentation's pseudocode (strings joined
 * with "\n"), from the request's own header lines: an independent check of
 * prov_tencent_sign and of what the request actually carries. */
static void recompute(const struct prov_request *r, const char *key, const char *date,
                      char sig[65])
{
    uint8_t h[SHA256_LEN];
    char payload_hash[65], canonical_hash[65], canonical[1024], to_sign[512], k0[64];
    sha256_digest(r->body, r->body_len, h);
    codec_hex(h, sizeof h, payload_hash);
    /* The values are already lower case except the action. */
    snprintf(canonical, sizeof canonical,
             "POST\n/\n\ncontent-type:%s\nhost:%s\nx-tc-action:%s\n\n"
             "content-type;host;x-tc-action\n%s",
             header(r, "Content-Type"), header(r, "Host"), "sendsms", payload_hash);
    assert_string_equal(header(r, "X-TC-Action"), "SendSms");
    sha256_digest(canonical, strlen(canonical), h);
    codec_hex(h, sizeof h, canonical_hash);
    snprintf(to_sign, sizeof to_sign, "TC3-HMAC-SHA256\n%s\n%s/sms/tc3_request\n%s",
             header(r, "X-TC-Timestamp"), date, canonical_hash);
    snprintf(k0, sizeof k0, "TC3%s", key);
    uint8_t kd[SHA256_LEN], ks[SHA256_LEN], kg[SHA256_LEN];
    hmac_str((const uint8_t *)k0, strlen(k0), date, kd);
    hmac_str(kd, sizeof kd, "sms", ks);
    hmac_str(ks, sizeof ks, "tc3_request", kg);
    hmac_str(kg, sizeof kg, to_sign, h);
    codec_hex(h, sizeof h, sig);
}

static void test_build_sms(void **state)
{
    (void)state;
    char text[] = TEXT;
    struct notify_msg n = msg_for("+8613800000001", text);
    struct prov_request r;
    assert_int_equal(prov_tencent_build(&conf, &n, NOW_MS, &r), 0);

    assert_string_equal(r.method, "POST");
    assert_string_equal(r.url, "https://sms.tencentcloudapi.com/");
    assert_null(r.userpwd);
    assert_string_equal(r.body,
                        "{\"PhoneNumberSet\":[\"+8613800000001\"],\"SmsSdkAppId\":\"1400006666\","
                        "\"TemplateId\":\"1110\",\"SignName\":\"安心养老\",\"TemplateParamSet\":"
                        "[\"【测试】王奶奶 SOS \\\"呼叫\\\" 10:05\",\"4827\"],"
                        "\"SessionContext\":\"4711\"}");
    assert_int_equal(r.body_len, strlen(r.body));

    /* Exactly these headers, in this order. */
    static const char *const want[] = {
        "Authorization: TC3-HMAC-SHA256 Credential=AKIDtest/2023-11-14/sms/tc3_request, "
        "SignedHeaders=content-type;host;x-tc-action, "
        "Signature=54f7ce3fe2462fe4e7792616739ac8feed5a8abfcb922804c560cc345003c00f",
        "Content-Type: application/json; charset=utf-8",
        "Host: sms.tencentcloudapi.com",
        "X-TC-Action: SendSms",
        "X-TC-Timestamp: 1700000000",
        "X-TC-Version: 2021-01-11",
        "X-TC-Region: ap-guangzhou",
    };
    size_t i = 0;
    for (; i < sizeof want / sizeof want[0]; i++) {
        assert_non_null(r.headers[i]);
        assert_string_equal(r.headers[i], want[i]);
    }
    assert_null(r.headers[i]);

    char sig[65];
    recompute(&r, "testkey", "2023-11-14", sig);
    const char *auth = header(&r, "Authorization");
    const char *got = strstr(auth, "Signature=");
    assert_non_null(got);
    assert_string_equal(got + 10, sig);

    /* The body is JSON that reads back to the notification. */
    cJSON *o = cJSON_Parse(r.body);
    assert_non_null(o);
    cJSON *params = cJSON_GetObjectItem(o, "TemplateParamSet");
    assert_int_equal(cJSON_GetArraySize(params), 2);
    assert_string_equal(cJSON_GetArrayItem(params, 0)->valuestring, TEXT);
    assert_string_equal(cJSON_GetArrayItem(params, 1)->valuestring, "4827");
    cJSON_Delete(o);
    prov_request_free(&r);
    assert_null(r.url);
}

static void test_build_conf_choices(void **state)
{
    (void)state;
    char text[] = "hello";
    struct notify_msg n = msg_for("+14155552671", text);
    n.id = INT64_C(9007199254740993);   /* beyond a double's exact integers */
    struct prov_tencent_conf c = conf;
    c.endpoint = "http://127.0.0.1:8089/";
    c.host = "sms.ap-shanghai.tencentcloudapi.com";
    c.region = "ap-shanghai";
    c.sign_name = NULL;     /* international numbers need none */
    struct prov_request r;
    assert_int_equal(prov_tencent_build(&c, &n, 0, &r), 0);
    assert_string_equal(r.url, "http://127.0.0.1:8089/");
    assert_string_equal(header(&r, "Host"), "sms.ap-shanghai.tencentcloudapi.com");
    assert_string_equal(header(&r, "X-TC-Region"), "ap-shanghai");
    assert_string_equal(header(&r, "X-TC-Timestamp"), "0");
    assert_null(strstr(r.body, "SignName"));
    assert_non_null(strstr(r.body, "\"SessionContext\":\"9007199254740993\""));
    assert_non_null(strstr(header(&r, "Authorization"), "/1970-01-01/sms/tc3_request"));
    char sig[65];
    recompute(&r, "testkey", "1970-01-01", sig);
    assert_string_equal(strstr(header(&r, "Authorization"), "Signature=") + 10, sig);
    prov_request_free(&r);

    /* The timestamp is the floor of the milliseconds. */
    assert_int_equal(prov_tencent_build(&conf, &n, 1999, &r), 0);
    assert_string_equal(header(&r, "X-TC-Timestamp"), "1");
    prov_request_free(&r);
}

static void test_build_rejects(void **state)
{
    (void)state;
    char text[] = "hello";
    struct notify_msg n = msg_for("+8613800000001", text);
    struct prov_request r;

    /* Voice is another Tencent product. */
    n.channel = NOTIFY_VOICE;
    assert_int_equal(prov_tencent_build(&conf, &n, NOW_MS, &r), ANX_EINVAL);
    assert_null(r.url);
    assert_null(r.body);
    assert_null(r.headers[0]);
    n.channel = NOTIFY_SMS;

    static const char *const bad_numbers[] = {
        "13800000001", "+86 138 0000 0001", "+0861380000000", "+1234567", "+1234567890123456",
        "", "+",
    };
    for (size_t i = 0; i < sizeof bad_numbers / sizeof bad_numbers[0]; i++) {
        struct notify_msg m = msg_for(bad_numbers[i], text);
        assert_int_equal(prov_tencent_build(&conf, &m, NOW_MS, &r), ANX_EINVAL);
    }

    struct notify_msg no_text = msg_for("+8613800000001", NULL);
    assert_int_equal(prov_tencent_build(&conf, &no_text, NOW_MS, &r), ANX_EINVAL);
    assert_int_equal(prov_tencent_build(&conf, &n, -1, &r), ANX_EINVAL);
    assert_int_equal(prov_tencent_build(NULL, &n, NOW_MS, &r), ANX_EINVAL);
    assert_int_equal(prov_tencent_build(&conf, NULL, NOW_MS, &r), ANX_EINVAL);
    assert_int_equal(prov_tencent_build(&conf, &n, NOW_MS, NULL), ANX_EINVAL);

    struct prov_tencent_conf c = conf;
    c.secret_id = NULL;
    assert_int_equal(prov_tencent_build(&c, &n, NOW_MS, &r), ANX_EINVAL);
    c = conf;
    c.secret_key = "";
    assert_int_equal(prov_tencent_build(&c, &n, NOW_MS, &r), ANX_EINVAL);
    c = conf;
    c.sdk_app_id = NULL;
    assert_int_equal(prov_tencent_build(&c, &n, NOW_MS, &r), ANX_EINVAL);
    c = conf;
    c.template_id = NULL;
    assert_int_equal(prov_tencent_build(&c, &n, NOW_MS, &r), ANX_EINVAL);
    c = conf;
    c.secret_id = "AKID\r\nX-Evil: 1";
    assert_int_equal(prov_tencent_build(&c, &n, NOW_MS, &r), ANX_EINVAL);
    c = conf;
    c.region = "ap-guangzhou\n";
    assert_int_equal(prov_tencent_build(&c, &n, NOW_MS, &r), ANX_EINVAL);
    assert_null(r.url);
}

/* ---- SendSms's answer -------------------------------------------------------------- */

static enum prov_result parse(long status, const char *body, char *ref, char *err)
{
    return prov_tencent_parse(status, body, strlen(body), ref, 96, err, 160);
}

static void test_parse_ok(void **state)
{
    (void)state;
    char ref[96], err[160];
    const char *body =
        "{\"Response\": {\"SendStatusSet\": [{\"SerialNo\": \"2640:262727967816586500757778766\", "
        "\"PhoneNumber\": \"+8613800000001\", \"Fee\": 1, \"SessionContext\": \"4711\", "
        "\"Code\": \"Ok\", \"Message\": \"send success\", \"IsoCode\": \"CN\"}], "
        "\"RequestId\": \"a0aabda6-cf91-4f3e-a81f-9198114a2279\"}}";
    assert_int_equal(parse(200, body, ref, err), PROV_SENT);
    assert_string_equal(ref, "2640:262727967816586500757778766");
    assert_string_equal(err, "");

    /* No room for the reference: still sent, nothing written. */
    assert_int_equal(prov_tencent_parse(200, body, strlen(body), NULL, 0, NULL, 0), PROV_SENT);
}

static void test_parse_limit_exceeded(void **state)
{
    (void)state;
    char ref[96], err[160];
    /* Per-number throttling comes in the number's status... */
    const char *per_number =
        "{\"Response\": {\"SendStatusSet\": [{\"SerialNo\": \"\", \"PhoneNumber\": "
        "\"+8613800000001\", \"Fee\": 0, \"SessionContext\": \"4711\", \"Code\": "
        "\"LimitExceeded.PhoneNumberThirtySecondLimit\", \"Message\": \"the number of SMS "
        "messages sent from a single mobile number within 30 seconds exceeds the upper limit\", "
        "\"IsoCode\": \"CN\"}], \"RequestId\": \"0e9a4bb5-1b7b-4f5e-ae34-3c4f0e5e2a11\"}}";
    assert_int_equal(parse(200, per_number, ref, err), PROV_RETRY);
    assert_string_equal(ref, "");
    assert_string_equal(err, "LimitExceeded.PhoneNumberThirtySecondLimit: the number of SMS "
                             "messages sent from a single mobile number within 30 seconds "
                             "exceeds the upper limit");

    /* ...the request-level kinds as Response.Error. */
    const char *codes[] = {"LimitExceeded", "LimitExceeded.DeliveryFrequencyLimit",
                           "RequestLimitExceeded", "RequestLimitExceeded.UinLimitExceeded",
                           "InternalError", "InternalError.Timeout"};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"Response\":{\"Error\":{\"Code\":\"%s\",\"Message\":\"slow down\"},"
                 "\"RequestId\":\"x\"}}",
                 codes[i]);
        assert_int_equal(parse(200, body, ref, err), PROV_RETRY);
        assert_non_null(strstr(err, codes[i]));
    }
}

static void test_parse_incorrect_number(void **state)
{
    (void)state;
    char ref[96], err[160];
    /* A message that repeats the number must not carry it into err. */
    const char *body =
        "{\"Response\": {\"SendStatusSet\": [{\"SerialNo\": \"\", \"PhoneNumber\": "
        "\"+86138000000\", \"Fee\": 0, \"SessionContext\": \"4711\", \"Code\": "
        "\"InvalidParameterValue.IncorrectPhoneNumber\", \"Message\": \"incorrect phone number "
        "+86138000000\", \"IsoCode\": \"\"}], \"RequestId\": \"r\"}}";
    assert_int_equal(parse(200, body, ref, err), PROV_FAILED);
    assert_string_equal(err, "InvalidParameterValue.IncorrectPhoneNumber: incorrect phone number "
                             "+***********");
    assert_null(strstr(err, "138000000"));

    /* The same code as a request-level error. */
    const char *req = "{\"Response\":{\"Error\":{\"Code\":\"InvalidParameterValue."
                      "IncorrectPhoneNumber\",\"Message\":\"phone 13800000001 is wrong\"},"
                      "\"RequestId\":\"r\"}}";
    assert_int_equal(parse(200, req, ref, err), PROV_FAILED);
    assert_null(strstr(err, "13800000001"));

    /* Template, signature name and balance need a person too. */
    const char *codes[] = {"FailedOperation.TemplateIncorrectOrUnapproved",
                           "FailedOperation.SignatureIncorrectOrUnapproved",
                           "FailedOperation.InsufficientBalanceInSmsPackage",
                           "InvalidParameterValue.TemplateParameterFormatError",
                           "UnauthorizedOperation.SmsSdkAppIdVerifyFail",
                           "RequestSizeLimitExceeded"};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        char b[256];
        snprintf(b, sizeof b,
                 "{\"Response\":{\"SendStatusSet\":[{\"SerialNo\":\"\",\"Code\":\"%s\","
                 "\"Message\":\"no\"}],\"RequestId\":\"r\"}}",
                 codes[i]);
        assert_int_equal(parse(200, b, ref, err), PROV_FAILED);
    }
}

static void test_parse_auth_failure(void **state)
{
    (void)state;
    char ref[96], err[160];
    /* The error page's own example. */
    const char *body = "{\"Response\": {\"Error\": {\"Code\": \"AuthFailure.SignatureFailure\", "
                       "\"Message\": \"The provided credentials could not be validated. Please "
                       "check your signature is correct.\"}, \"RequestId\": "
                       "\"ed93f3cb-f35e-473f-b9f3-0d451b8b79c6\"}}";
    assert_int_equal(parse(200, body, ref, err), PROV_FAILED);
    assert_string_equal(ref, "");
    assert_string_equal(err, "AuthFailure.SignatureFailure: The provided credentials could not "
                             "be validated. Please check your signature is correct.");

    const char *expired = "{\"Response\":{\"Error\":{\"Code\":\"AuthFailure.SignatureExpire\","
                          "\"Message\":\"expired\"},\"RequestId\":\"r\"}}";
    assert_int_equal(parse(200, expired, ref, err), PROV_FAILED);
    const char *no_id = "{\"Response\":{\"Error\":{\"Code\":\"AuthFailure.SecretIdNotFound\"},"
                        "\"RequestId\":\"r\"}}";
    assert_int_equal(parse(200, no_id, ref, err), PROV_FAILED);
    assert_string_equal(err, "AuthFailure.SecretIdNotFound");
}

static void test_parse_garbage(void **state)
{
    (void)state;
    char ref[96], err[160];
    /* A 2xx that is not Tencent's answer: the SMS may or may not be out. */
    assert_int_equal(parse(200, "<html>captive portal</html>", ref, err), PROV_RETRY);
    assert_string_equal(err, "unreadable answer (HTTP 200)");
    assert_int_equal(parse(200, "", ref, err), PROV_RETRY);
    assert_int_equal(parse(200, "{\"Response\":{}}", ref, err), PROV_RETRY);
    assert_int_equal(parse(200, "{\"Response\":{\"SendStatusSet\":[]}}", ref, err), PROV_RETRY);
    assert_int_equal(parse(200, "[1,2,3]", ref, err), PROV_RETRY);
    assert_int_equal(parse(200, "{\"Response\":{\"SendStatusSet\":[{\"Code\":\"Ok\"}]}} trailing",
                           ref, err),
                     PROV_RETRY);
    /* A client error with no answer in it (a wrong endpoint path). */
    assert_int_equal(parse(404, "Not Found", ref, err), PROV_FAILED);
    assert_string_equal(err, "unreadable answer (HTTP 404)");
    assert_int_equal(prov_tencent_parse(200, NULL, 0, ref, sizeof ref, err, sizeof err),
                     PROV_RETRY);
}

static void test_parse_server_errors(void **state)
{
    (void)state;
    char ref[96], err[160];
    assert_int_equal(parse(500, "Internal Server Error", ref, err), PROV_RETRY);
    assert_string_equal(err, "unreadable answer (HTTP 500)");
    assert_int_equal(parse(502, "<html>bad gateway</html>", ref, err), PROV_RETRY);
    assert_int_equal(parse(503, "", ref, err), PROV_RETRY);
    assert_int_equal(parse(429, "", ref, err), PROV_RETRY);
    assert_int_equal(parse(0, "", ref, err), PROV_RETRY);   /* no answer at all */
    /* A 5xx is retried even when its body names a permanent-looking code. */
    assert_int_equal(parse(500,
                           "{\"Response\":{\"Error\":{\"Code\":\"FailedOperation\","
                           "\"Message\":\"busy\"},\"RequestId\":\"r\"}}",
                           ref, err),
                     PROV_RETRY);
    assert_string_equal(err, "FailedOperation: busy");
}

static void test_parse_small_buffers(void **state)
{
    (void)state;
    char ref[8], err[12];
    const char *ok =
        "{\"Response\":{\"SendStatusSet\":[{\"SerialNo\":\"2640:123\",\"Code\":\"Ok\"}]}}";
    assert_int_equal(prov_tencent_parse(200, ok, strlen(ok), ref, sizeof ref, err, sizeof err),
                     PROV_SENT);
    assert_string_equal(ref, "2640:12");
    /* A cut never splits a UTF-8 character. */
    const char *zh = "{\"Response\":{\"Error\":{\"Code\":\"X\",\"Message\":\"签名错误\"}}}";
    assert_int_equal(prov_tencent_parse(200, zh, strlen(zh), ref, sizeof ref, err, sizeof err),
                     PROV_FAILED);
    assert_string_equal(err, "X: 签名");
}

/* ---- the delivery callback ---------------------------------------------------------- */

static void test_reports_success(void **state)
{
    (void)state;
    /* The callback page's example, with a real-looking serial number. */
    const char *body = "[\n  {\n    \"user_receive_time\": \"2015-10-17 08:03:04\",\n"
                       "    \"nationcode\": \"86\",\n    \"mobile\": \"13800000001\",\n"
                       "    \"report_status\": \"SUCCESS\",\n    \"errmsg\": \"DELIVRD\",\n"
                       "    \"description\": \"用户短信送达成功\",\n"
                       "    \"sid\": \"2640:262727967816586500757778766\"\n  }\n]\n";
    struct prov_report r[4];
    size_t n = 99;
    assert_int_equal(prov_tencent_reports(body, strlen(body), r, 4, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].notification, 0);
    assert_int_equal(r[0].status, PROV_DELIVERED);
    assert_string_equal(r[0].ref, "2640:262727967816586500757778766");
    assert_string_equal(r[0].detail, "DELIVRD: 用户短信送达成功");
    /* 08:03:04 in Beijing is 00:03:04 UTC. */
    assert_int_equal(r[0].at_ms, INT64_C(1445040184000));
    assert_string_equal(r[0].digits, "");
}

static void test_reports_failure(void **state)
{
    (void)state;
    const char *body = "[{\"user_receive_time\": \"2024-02-29 23:59:59\", \"nationcode\": \"86\", "
                       "\"mobile\": \"13800000002\", \"report_status\": \"FAIL\", "
                       "\"errmsg\": \"MK:0001\", \"description\": \"空号 13800000002\", "
                       "\"sid\": \"2640:1\"}]";
    struct prov_report r[1];
    size_t n = 0;
    assert_int_equal(prov_tencent_reports(body, strlen(body), r, 1, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].status, PROV_UNDELIVERED);
    assert_string_equal(r[0].ref, "2640:1");
    assert_string_equal(r[0].detail, "MK:0001: 空号 ***********");
    assert_int_equal(r[0].at_ms, INT64_C(1709222399000));
    assert_null(strstr(r[0].detail, "13800000002"));
}

static void test_reports_several(void **state)
{
    (void)state;
    const char *body =
        "[{\"user_receive_time\":\"2015-10-17 08:03:04\",\"nationcode\":\"86\","
        "\"mobile\":\"13800000001\",\"report_status\":\"SUCCESS\",\"errmsg\":\"DELIVRD\","
        "\"description\":\"ok\",\"sid\":\"a:1\"},"
        "{\"report_status\":\"PENDING\",\"sid\":\"a:2\"},"           /* unknown status: skipped */
        "{\"report_status\":\"FAIL\",\"errmsg\":\"UNDELIV\"},"        /* no sid: skipped */
        "17,"                                                        /* not an entry: skipped */
        "{\"user_receive_time\":\"yesterday\",\"report_status\":\"fail\",\"sid\":\"a:3\"},"
        "{\"report_status\":\"SUCCESS\",\"sid\":\"a:4\",\"errmsg\":\"DELIVRD\"}]";
    struct prov_report r[8];
    size_t n = 0;
    assert_int_equal(prov_tencent_reports(body, strlen(body), r, 8, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(r[0].ref, "a:1");
    assert_int_equal(r[0].status, PROV_DELIVERED);
    assert_string_equal(r[1].ref, "a:3");
    assert_int_equal(r[1].status, PROV_UNDELIVERED);
    assert_int_equal(r[1].at_ms, 0);           /* malformed time */
    assert_string_equal(r[1].detail, "");
    assert_string_equal(r[2].ref, "a:4");
    assert_string_equal(r[2].detail, "DELIVRD");
    for (size_t i = 0; i < n; i++)
        assert_int_equal(r[i].notification, 0);

    /* More usable entries than room: the first max, and ANX_ERANGE. */
    assert_int_equal(prov_tencent_reports(body, strlen(body), r, 2, &n), ANX_ERANGE);
    assert_int_equal(n, 2);
    assert_string_equal(r[1].ref, "a:3");

    /* A lone object is taken as one entry; an empty array is no report. */
    const char *one = "{\"report_status\":\"SUCCESS\",\"sid\":\"b:1\"}";
    assert_int_equal(prov_tencent_reports(one, strlen(one), r, 8, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(r[0].ref, "b:1");
    assert_int_equal(prov_tencent_reports("[]", 2, r, 8, &n), 0);
    assert_int_equal(n, 0);
}

static void test_reports_malformed(void **state)
{
    (void)state;
    struct prov_report r[4];
    size_t n = 5;
    static const char *const bad[] = {
        "", "not json", "[{\"sid\":\"a\",\"report_status\":\"SUCCESS\"}", "17", "\"SUCCESS\"",
        "[{\"sid\":\"a\",\"report_status\":\"SUCCESS\"}] trailing", "null",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = 5;
        assert_int_equal(prov_tencent_reports(bad[i], strlen(bad[i]), r, 4, &n), ANX_EPARSE);
        assert_int_equal(n, 0);
    }
    assert_int_equal(prov_tencent_reports(NULL, 0, r, 4, &n), ANX_EPARSE);
    assert_int_equal(prov_tencent_reports("[]", 2, r, 4, NULL), ANX_EINVAL);
    assert_int_equal(prov_tencent_reports("[]", 2, NULL, 4, &n), ANX_EINVAL);

    /* Times that are not calendar times are dropped, not guessed. */
    static const char *const times[] = {"2015-02-29 08:00:00", "2015-13-01 00:00:00",
                                        "2015-10-17T08:03:04", "2015-10-17 08:03:04Z",
                                        "2015-10-17 24:00:00", "1970-01-01 07:59:59"};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        char body[160];
        snprintf(body, sizeof body,
                 "[{\"user_receive_time\":\"%s\",\"report_status\":\"SUCCESS\",\"sid\":\"s\"}]",
                 times[i]);
        assert_int_equal(prov_tencent_reports(body, strlen(body), r, 4, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(r[0].at_ms, 0);
    }

    /* A sid too long to be matched later is not a usable report. */
    char body[256], sid[120];
    memset(sid, '7', sizeof sid - 1);
    sid[sizeof sid - 1] = '\0';
    snprintf(body, sizeof body, "[{\"report_status\":\"SUCCESS\",\"sid\":\"%s\"}]", sid);
    assert_int_equal(prov_tencent_reports(body, strlen(body), r, 4, &n), 0);
    assert_int_equal(n, 0);
}

/* The reply callback: the example of 短信回复 (cloud.tencent.com
 * document/api/382/59179, international edition 382/43548) with its
 * placeholders filled in (a whole number, a reply text). */
static void test_replies_doc_example(void **state)
{
    (void)state;
    const char *body = "{\n\"extend\": \"\",\n\"mobile\": \"13800000041\",\n\"nationcode\": "
                       "\"86\",\n\"sign\": \"安心养老\",\n\"text\": \"确认4821\",\n\"time\": "
                       "1457336869\n}";
    struct prov_reply r[2];
    size_t n, skipped;
    assert_int_equal(prov_tencent_replies(body, strlen(body), 4, r, 2, &n, &skipped), 0);
    assert_int_equal(n, 1);
    assert_int_equal(skipped, 0);
    assert_string_equal(r[0].from, "+8613800000041");
    assert_string_equal(r[0].code, "4821");
}

static void test_replies_numbers_and_texts(void **state)
{
    (void)state;
    /* An array is taken too: without nationcode (a mainland number), abroad,
     * no code, no text; then what is no sender: a short code, a nationcode
     * that is not one, a number already with its +, no mobile. */
    const char *body = "[{\"mobile\":\"13800000041\",\"nationcode\":\"\",\"text\":\"4821 1\"},"
                       "{\"mobile\":\"4155550100\",\"nationcode\":\"1\",\"text\":\"４８２１\"},"
                       "{\"mobile\":\"13800000042\",\"nationcode\":\"86\",\"text\":\"好的\"},"
                       "{\"mobile\":\"13800000043\",\"nationcode\":\"86\"},"
                       "{\"mobile\":\"10086\",\"nationcode\":\"\",\"text\":\"4821\"},"
                       "{\"mobile\":\"13800000044\",\"nationcode\":\"86a\",\"text\":\"4821\"},"
                       "{\"mobile\":\"+8613800000045\",\"nationcode\":\"86\",\"text\":\"4821\"},"
                       "{\"nationcode\":\"86\",\"text\":\"4821\"},"
                       "{\"mobile\":13800000046,\"nationcode\":\"86\",\"text\":\"4821\"}, 5]";
    struct prov_reply r[8];
    size_t n, skipped;
    assert_int_equal(prov_tencent_replies(body, strlen(body), 4, r, 8, &n, &skipped), 0);
    assert_int_equal(n, 4);
    assert_int_equal(skipped, 6);
    assert_string_equal(r[0].from, "+8613800000041");
    assert_string_equal(r[0].code, "4821");
    assert_string_equal(r[1].from, "+14155550100");
    assert_string_equal(r[1].code, "4821");
    assert_string_equal(r[2].from, "+8613800000042");
    assert_string_equal(r[2].code, "");
    assert_string_equal(r[3].code, "");
    /* More than max. */
    assert_int_equal(prov_tencent_replies(body, strlen(body), 4, r, 2, &n, NULL), ANX_ERANGE);
    assert_int_equal(n, 2);
}

static void test_replies_malformed(void **state)
{
    (void)state;
    struct prov_reply r[2];
    size_t n;
    static const char *const bad[] = {"", "not json", "{\"mobile\":\"13800000041\"", "17",
                                      "\"4821\"", "{\"mobile\":\"13800000041\"} trailing",
                                      "null"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = 5;
        assert_int_equal(prov_tencent_replies(bad[i], strlen(bad[i]), 4, r, 2, &n, NULL),
                         ANX_EPARSE);
        assert_int_equal(n, 0);
    }
    assert_int_equal(prov_tencent_replies(NULL, 0, 4, r, 2, &n, NULL), ANX_EPARSE);
    assert_int_equal(prov_tencent_replies("{}", 2, 4, r, 2, NULL, NULL), ANX_EINVAL);
    assert_int_equal(prov_tencent_replies("{}", 2, 4, NULL, 2, &n, NULL), ANX_EINVAL);
    size_t skipped;
    assert_int_equal(prov_tencent_replies("{}", 2, 4, r, 2, &n, &skipped), 0);
    assert_int_equal(n, 0);
    assert_int_equal(skipped, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_doc_example),
        cmocka_unit_test(test_sign_doc_example_with_action),
        cmocka_unit_test(test_sign_canonical_values),
        cmocka_unit_test(test_sign_utc_date),
        cmocka_unit_test(test_sign_rejects),
        cmocka_unit_test(test_build_sms),
        cmocka_unit_test(test_build_conf_choices),
        cmocka_unit_test(test_build_rejects),
        cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_parse_limit_exceeded),
        cmocka_unit_test(test_parse_incorrect_number),
        cmocka_unit_test(test_parse_auth_failure),
        cmocka_unit_test(test_parse_garbage),
        cmocka_unit_test(test_parse_server_errors),
        cmocka_unit_test(test_parse_small_buffers),
        cmocka_unit_test(test_reports_success),
        cmocka_unit_test(test_reports_failure),
        cmocka_unit_test(test_reports_several),
        cmocka_unit_test(test_reports_malformed),
        cmocka_unit_test(test_replies_doc_example),
        cmocka_unit_test(test_replies_numbers_and_texts),
        cmocka_unit_test(test_replies_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
