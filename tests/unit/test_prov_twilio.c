/* test_prov_twilio.c - unit tests for the Twilio provider (lib/prov_twilio.c):
 * X-Twilio-Signature against published vectors, the Messages and Calls
 * requests, the meaning of Twilio's answers, status callbacks as reports,
 * and form bodies.
 *
 * Sources of the expected values:
 *   - Signature, the known answer: the test vector of Twilio's own Python
 *     helper library, twilio/twilio-python tests/unit/test_request_validator.py
 *     (ValidationTest.setUp: auth token "12345", URI
 *     https://mycompany.com/myapp.php?foo=1&bar=2, CallSid CA1234567890ABCDE,
 *     Digits 1234, From and Caller +14158675309, To +18005551212 ->
 *     "RSOYDt4T1cUTdK1PDd93/VVr8B8="; and duplicate_expected
 *     "IK+Dwps556ElfBT0I3Rgjkr1wJU=" for Sid CA123, SidAccount AC123 and
 *     Digits given twice, 5678 then 1234). It is the worked example of
 *     Twilio's "Webhooks security" page (twilio.com/docs/usage/webhooks/
 *     webhooks-security, formerly /docs/usage/security), whose current text
 *     uses From and Caller +14158675310 and prints
 *     "GvWf1cFY/Q7PnoempGyD5oXAezc="; that variant is checked too (the page
 *     text itself could not be retrieved here; the value is the one quoted
 *     from it and was recomputed with Python's hmac).
 *   - Signatures of our own callback URLs and bodies: computed independently
 *     with Python's hmac/hashlib/base64 and urllib.parse.parse_qsl.
 *   - Form encodings: Python's urllib.parse.quote_plus(s, safe="").
 *   - Error bodies: the shape in Twilio's "Debugging calls to the REST API"
 *     ({"code": 21211, "message": "The 'To' number 5551234567 is not a valid
 *     phone number.", "more_info": ..., "status": 400}).
 *   - 1281930301 = Mon, 16 Aug 2010 03:45:01 GMT: Python's calendar.timegm.
 *   - Incoming messages: the fields of Twilio's "Twilio's request to your
 *     incoming message Webhook URL"; the TwiML answer of "TwiML for
 *     Programmable Messaging". */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "notify.h"
#include "prov_twilio.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *const SID = "AC0123456789abcdef0123456789abcdef";
static const char *const TOKEN = "0123456789abcdef0123456789abcdef";

/* ---- signature ----------------------------------------------------------- */

#define DOC_URL "https://mycompany.com/myapp.php?foo=1&bar=2"

static const struct prov_param sdk_params[] = {
    {"CallSid", "CA1234567890ABCDE"}, {"Digits", "1234"}, {"From", "+14158675309"},
    {"To", "+18005551212"}, {"Caller", "+14158675309"},
};

static void test_signature_sdk_vector(void **state)
{
    (void)state;
    char sig[PROV_TWILIO_SIG_LEN];
    assert_int_equal(prov_twilio_signature("12345", DOC_URL, sdk_params, ARRAY_LEN(sdk_params),
                                           sig, sizeof sig), 0);
    assert_string_equal(sig, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
}

static void test_signature_docs_vector(void **state)
{
    (void)state;
    /* The page lists the fields unsorted: Digits, To, From, Caller, CallSid. */
    static const struct prov_param p[] = {
        {"Digits", "1234"}, {"To", "+18005551212"}, {"From", "+14158675310"},
        {"Caller", "+14158675310"}, {"CallSid", "CA1234567890ABCDE"},
    };
    char sig[PROV_TWILIO_SIG_LEN];
    assert_int_equal(prov_twilio_signature("12345", DOC_URL, p, ARRAY_LEN(p), sig, sizeof sig),
                     0);
    assert_string_equal(sig, "GvWf1cFY/Q7PnoempGyD5oXAezc=");
    assert_true(prov_twilio_verify("12345", DOC_URL, p, ARRAY_LEN(p),
                                   "GvWf1cFY/Q7PnoempGyD5oXAezc="));
}

static void test_signature_repeated_names(void **state)
{
    (void)state;
    /* "Sid" sorts before "SidAccount"; the two Digits by value. */
    static const struct prov_param p[] = {
        {"Sid", "CA123"}, {"SidAccount", "AC123"}, {"Digits", "5678"}, {"Digits", "1234"},
    };
    char sig[PROV_TWILIO_SIG_LEN];
    assert_int_equal(prov_twilio_signature("12345", DOC_URL, p, ARRAY_LEN(p), sig, sizeof sig),
                     0);
    assert_string_equal(sig, "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
}

static void test_signature_order_and_no_params(void **state)
{
    (void)state;
    struct prov_param rev[ARRAY_LEN(sdk_params)];
    for (size_t i = 0; i < ARRAY_LEN(sdk_params); i++)
        rev[i] = sdk_params[ARRAY_LEN(sdk_params) - 1 - i];
    char sig[PROV_TWILIO_SIG_LEN];
    assert_int_equal(prov_twilio_signature("12345", DOC_URL, rev, ARRAY_LEN(rev), sig,
                                           sizeof sig), 0);
    assert_string_equal(sig, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    /* A GET: the URL alone (Python). */
    assert_int_equal(prov_twilio_signature("12345", DOC_URL, NULL, 0, sig, sizeof sig), 0);
    assert_string_equal(sig, "zYQTYrRWXE7LtzbG4PfP7/bkkGo=");
}

static void test_signature_errors(void **state)
{
    (void)state;
    char sig[PROV_TWILIO_SIG_LEN];
    assert_int_equal(prov_twilio_signature("12345", DOC_URL, sdk_params, 5, sig, 28),
                     ANX_ERANGE);
    assert_int_equal(prov_twilio_signature(NULL, DOC_URL, sdk_params, 5, sig, sizeof sig),
                     ANX_EINVAL);
    assert_int_equal(prov_twilio_signature("12345", NULL, sdk_params, 5, sig, sizeof sig),
                     ANX_EINVAL);
    assert_int_equal(prov_twilio_signature("12345", DOC_URL, NULL, 2, sig, sizeof sig),
                     ANX_EINVAL);
    struct prov_param nokey = {NULL, "x"};
    assert_int_equal(prov_twilio_signature("12345", DOC_URL, &nokey, 1, sig, sizeof sig),
                     ANX_EINVAL);
}

static void test_verify(void **state)
{
    (void)state;
    const char *good = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
    size_t n = ARRAY_LEN(sdk_params);
    assert_true(prov_twilio_verify("12345", DOC_URL, sdk_params, n, good));

    /* A tampered value, a missing field, an added field. */
    struct prov_param p[ARRAY_LEN(sdk_params) + 1];
    memcpy(p, sdk_params, sizeof sdk_params);
    p[1].value = "1235";
    assert_false(prov_twilio_verify("12345", DOC_URL, p, n, good));
    assert_false(prov_twilio_verify("12345", DOC_URL, sdk_params, n - 1, good));
    memcpy(p, sdk_params, sizeof sdk_params);
    p[n] = (struct prov_param){"Extra", ""};
    assert_false(prov_twilio_verify("12345", DOC_URL, p, n + 1, good));
    /* The scheme has no separators: moving the boundary between a name and
     * its value (without changing the order) signs the same string. */
    memcpy(p, sdk_params, sizeof sdk_params);
    p[2].key = "Fro";
    p[2].value = "m+14158675309";
    assert_true(prov_twilio_verify("12345", DOC_URL, p, n, good));

    /* Another URL: scheme, query, notification id. */
    assert_false(prov_twilio_verify("12345", "http://mycompany.com/myapp.php?foo=1&bar=2",
                                    sdk_params, n, good));
    assert_false(prov_twilio_verify("12345", "https://mycompany.com/myapp.php?foo=1&bar=3",
                                    sdk_params, n, good));
    assert_false(prov_twilio_verify("12345", "https://mycompany.com/myapp.php", sdk_params, n,
                                    good));

    /* Another token; a changed, cut, padded, empty or absent signature. */
    assert_false(prov_twilio_verify("12346", DOC_URL, sdk_params, n, good));
    assert_false(prov_twilio_verify("12345", DOC_URL, sdk_params, n,
                                    "RSOYDt4T1cUTdK1PDd93/VVr8B8+"));
    assert_false(prov_twilio_verify("12345", DOC_URL, sdk_params, n,
                                    "SSOYDt4T1cUTdK1PDd93/VVr8B8="));
    assert_false(prov_twilio_verify("12345", DOC_URL, sdk_params, n,
                                    "RSOYDt4T1cUTdK1PDd93/VVr8B8"));
    assert_false(prov_twilio_verify("12345", DOC_URL, sdk_params, n,
                                    "RSOYDt4T1cUTdK1PDd93/VVr8B8=="));
    assert_false(prov_twilio_verify("12345", DOC_URL, sdk_params, n, ""));
    assert_false(prov_twilio_verify("12345", DOC_URL, sdk_params, n, NULL));
    assert_false(prov_twilio_verify(NULL, DOC_URL, sdk_params, n, good));
}

/* A status callback as Twilio would post it to our hook, signed (Python). */
static void test_verify_callback_body(void **state)
{
    (void)state;
    char body[] = "AccountSid=AC0123456789abcdef0123456789abcdef&ApiVersion=2010-04-01"
                  "&From=%2B14155550100&MessageSid=SM0123456789abcdef0123456789abcdef"
                  "&MessageStatus=delivered&SmsSid=SM0123456789abcdef0123456789abcdef"
                  "&SmsStatus=delivered&To=%2B8613800000001";
    const char *url = "http://anxin.example/hooks/twilio/status?n=42";
    struct prov_param f[16];
    size_t n;
    assert_int_equal(prov_twilio_parse_form(body, f, ARRAY_LEN(f), &n), 0);
    assert_int_equal(n, 8);
    assert_true(prov_twilio_verify(TOKEN, url, f, n, "Lm4V4ValReoW0gCVtnPs/o84anI="));
    assert_false(prov_twilio_verify(TOKEN, "http://anxin.example/hooks/twilio/status?n=43", f,
                                     n, "Lm4V4ValReoW0gCVtnPs/o84anI="));
    struct prov_report r;
    assert_int_equal(prov_twilio_report(f, n, 42, &r), 0);
    assert_int_equal(r.status, PROV_DELIVERED);
    assert_string_equal(r.ref, "SM0123456789abcdef0123456789abcdef");

    /* The <Gather> action, with an empty field and a '+' for a space. */
    char gather[] = "AccountSid=AC0123456789abcdef0123456789abcdef"
                    "&CallSid=CA0123456789abcdef0123456789abcdef&CallStatus=in-progress"
                    "&Digits=1&FinishedOnKey=&From=%2B14155550100&To=%2B8613800000001"
                    "&msg=Gather+End";
    assert_int_equal(prov_twilio_parse_form(gather, f, ARRAY_LEN(f), &n), 0);
    assert_int_equal(n, 8);
    assert_true(prov_twilio_verify(TOKEN, "http://anxin.example/hooks/twilio/gather?n=42", f, n,
                                   "ApXh4fPGYauEaw40VT1sxschGBw="));
    assert_int_equal(prov_twilio_report(f, n, 42, &r), 0);
    assert_int_equal(r.status, PROV_PENDING);
    assert_string_equal(r.digits, "1");
    assert_string_equal(r.ref, "CA0123456789abcdef0123456789abcdef");
}

/* ---- building ------------------------------------------------------------ */

static struct prov_twilio_conf conf(void)
{
    return (struct prov_twilio_conf){
        .base = NULL, .account_sid = SID, .auth_token = TOKEN, .from = "+14155550100",
        .callback_base = "http://anxin.example/hooks/twilio",
    };
}

static struct notify_msg msg(enum notify_channel ch, const char *text)
{
    struct notify_msg n;
    memset(&n, 0, sizeof n);
    n.id = 42;
    n.alert_id = 7;
    strcpy(n.to, "+8613800000001");
    n.channel = ch;
    n.text = (char *)text;
    return n;
}

/* The fields of a form body, decoded into a scratch copy. */
static size_t form_fields(const char *body, char *scratch, size_t slen, struct prov_param *f,
                          size_t max)
{
    assert_true(strlen(body) < slen);
    strcpy(scratch, body);
    size_t n;
    assert_int_equal(prov_twilio_parse_form(scratch, f, max, &n), 0);
    return n;
}

static const char *form_get(const struct prov_param *f, size_t n, const char *key)
{
    const char *v = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(f[i].key, key) == 0) {
            assert_null(v);     /* exactly once */
            v = f[i].value;
        }
    }
    return v;
}

static void test_build_sms(void **state)
{
    (void)state;
    struct prov_twilio_conf c = conf();
    struct notify_msg n = msg(NOTIFY_SMS, "老人 SOS & 求助=1+1");
    struct prov_request r;
    assert_int_equal(prov_twilio_build(&c, &n, &r), 0);
    assert_string_equal(r.method, "POST");
    assert_string_equal(r.url, "https://api.twilio.com/2010-04-01/Accounts/"
                               "AC0123456789abcdef0123456789abcdef/Messages.json");
    assert_string_equal(r.userpwd, "AC0123456789abcdef0123456789abcdef:"
                                   "0123456789abcdef0123456789abcdef");
    assert_string_equal(r.body,
                        "To=%2B8613800000001&From=%2B14155550100"
                        "&Body=%E8%80%81%E4%BA%BA+SOS+%26+%E6%B1%82%E5%8A%A9%3D1%2B1"
                        "&StatusCallback=http%3A%2F%2Fanxin.example%2Fhooks%2Ftwilio%2Fstatus"
                        "%3Fn%3D42");
    assert_int_equal(r.body_len, strlen(r.body));
    assert_string_equal(r.headers[0], "Content-Type: application/x-www-form-urlencoded");
    assert_string_equal(r.headers[1], "Accept: application/json");
    assert_null(r.headers[2]);
    prov_request_free(&r);
    assert_null(r.url);
}

static void test_build_sms_variants(void **state)
{
    (void)state;
    struct prov_twilio_conf c = conf();
    struct notify_msg n = msg(NOTIFY_SMS, "hi");
    struct prov_request r;
    char scratch[2048];
    struct prov_param f[16];

    /* A fake's base and a callback base with trailing slashes. */
    c.base = "http://127.0.0.1:8099/";
    c.callback_base = "http://127.0.0.1:8080/hooks/tw//";
    assert_int_equal(prov_twilio_build(&c, &n, &r), 0);
    assert_string_equal(r.url, "http://127.0.0.1:8099/2010-04-01/Accounts/"
                               "AC0123456789abcdef0123456789abcdef/Messages.json");
    size_t k = form_fields(r.body, scratch, sizeof scratch, f, ARRAY_LEN(f));
    assert_string_equal(form_get(f, k, "StatusCallback"),
                        "http://127.0.0.1:8080/hooks/tw/status?n=42");
    prov_request_free(&r);

    /* No callback base: no delivery reports asked for. */
    c = conf();
    c.callback_base = "";
    assert_int_equal(prov_twilio_build(&c, &n, &r), 0);
    assert_string_equal(r.body, "To=%2B8613800000001&From=%2B14155550100&Body=hi");
    prov_request_free(&r);

    /* A Messaging Service as the sender. */
    c = conf();
    c.from = "MG0123456789abcdef0123456789abcdef";
    assert_int_equal(prov_twilio_build(&c, &n, &r), 0);
    k = form_fields(r.body, scratch, sizeof scratch, f, ARRAY_LEN(f));
    assert_string_equal(form_get(f, k, "MessagingServiceSid"), c.from);
    assert_null(form_get(f, k, "From"));
    prov_request_free(&r);

    /* 1600 characters of Chinese fit (4800 bytes), 1601 do not. */
    char *text = malloc(1601 * 3 + 1);
    assert_non_null(text);
    for (int i = 0; i < 1601; i++)
        memcpy(text + 3 * i, "险", 3);
    text[1600 * 3] = '\0';
    n.text = text;
    c = conf();
    assert_int_equal(prov_twilio_build(&c, &n, &r), 0);
    prov_request_free(&r);
    memcpy(text + 1600 * 3, "险", 4);
    assert_int_equal(prov_twilio_build(&c, &n, &r), ANX_ERANGE);
    assert_null(r.url);
    assert_null(r.body);
    free(text);
}

static void test_hook_url(void **state)
{
    (void)state;
    char *u = prov_twilio_hook_url("http://anxin.example/hooks/twilio", "status", 42);
    assert_string_equal(u, "http://anxin.example/hooks/twilio/status?n=42");
    free(u);
    u = prov_twilio_hook_url("http://anxin.example/hooks/twilio//", "gather", INT64_MAX);
    assert_string_equal(u, "http://anxin.example/hooks/twilio/gather?n=9223372036854775807");
    free(u);
    assert_null(prov_twilio_hook_url(NULL, "status", 1));
    assert_null(prov_twilio_hook_url("", "status", 1));
    assert_null(prov_twilio_hook_url("///", "status", 1));
    assert_null(prov_twilio_hook_url("http://h", NULL, 1));
    /* The incoming-message webhook: one address for every message. */
    u = prov_twilio_hook_url("http://anxin.example/hooks/twilio/", "mo", 0);
    assert_string_equal(u, "http://anxin.example/hooks/twilio/mo");
    free(u);
}

static void test_build_call(void **state)
{
    (void)state;
    struct prov_twilio_conf c = conf();
    struct notify_msg n = msg(NOTIFY_VOICE, "王大爷 <SOS> 报警 & \"请\" 'ok'\x01!");
    struct prov_request r;
    assert_int_equal(prov_twilio_build(&c, &n, &r), 0);
    assert_string_equal(r.method, "POST");
    assert_string_equal(r.url, "https://api.twilio.com/2010-04-01/Accounts/"
                               "AC0123456789abcdef0123456789abcdef/Calls.json");
    assert_string_equal(r.userpwd, "AC0123456789abcdef0123456789abcdef:"
                                   "0123456789abcdef0123456789abcdef");
    /* The start of the raw body: '+' and the TwiML's '<' encoded. */
    assert_true(strncmp(r.body, "To=%2B8613800000001&From=%2B14155550100&Twiml=%3CResponse%3E",
                        60) == 0);
    char scratch[4096];
    struct prov_param f[16];
    size_t k = form_fields(r.body, scratch, sizeof scratch, f, ARRAY_LEN(f));
    assert_string_equal(form_get(f, k, "To"), "+8613800000001");
    assert_string_equal(form_get(f, k, "From"), "+14155550100");
    assert_string_equal(form_get(f, k, "Twiml"),
                        "<Response><Say language=\"zh-CN\">王大爷 &lt;SOS&gt; 报警 &amp; "
                        "&quot;请&quot; &apos;ok&apos; !</Say>"
                        "<Gather numDigits=\"1\" action=\"http://anxin.example/hooks/twilio/"
                        "gather?n=42\" method=\"POST\"><Say language=\"zh-CN\">确认请按1</Say>"
                        "</Gather></Response>");
    assert_string_equal(form_get(f, k, "StatusCallback"),
                        "http://anxin.example/hooks/twilio/status?n=42");
    assert_string_equal(form_get(f, k, "StatusCallbackMethod"), "POST");
    assert_null(form_get(f, k, "Body"));
    /* The events, each its own field. */
    const char *events[3];
    size_t ne = 0;
    for (size_t i = 0; i < k; i++)
        if (strcmp(f[i].key, "StatusCallbackEvent") == 0 && ne < 3)
            events[ne++] = f[i].value;
    assert_int_equal(ne, 3);
    assert_string_equal(events[0], "ringing");
    assert_string_equal(events[1], "answered");
    assert_string_equal(events[2], "completed");
    prov_request_free(&r);

    /* An '&' in the callback base is escaped in the action attribute. */
    c.callback_base = "http://h/hooks?x=1&y=2";
    n.text = "x";
    assert_int_equal(prov_twilio_build(&c, &n, &r), 0);
    k = form_fields(r.body, scratch, sizeof scratch, f, ARRAY_LEN(f));
    assert_non_null(strstr(form_get(f, k, "Twiml"),
                           "action=\"http://h/hooks?x=1&amp;y=2/gather?n=42\""));
    prov_request_free(&r);
}

static void test_build_call_too_long(void **state)
{
    (void)state;
    struct prov_twilio_conf c = conf();
    struct prov_request r;
    /* The TwiML around the text is 182 characters (the prompt counts 5),
     * so 3818 of text make exactly 4000. */
    char text[4001];
    memset(text, 'a', 3819);
    struct notify_msg n = msg(NOTIFY_VOICE, text);
    text[3819] = '\0';
    assert_int_equal(prov_twilio_build(&c, &n, &r), ANX_ERANGE);
    assert_null(r.url);
    text[3818] = '\0';
    assert_int_equal(prov_twilio_build(&c, &n, &r), 0);
    prov_request_free(&r);
    /* Escaping counts: 763 '&' are 3815 characters of TwiML, 764 too many. */
    memset(text, '&', 764);
    text[764] = '\0';
    assert_int_equal(prov_twilio_build(&c, &n, &r), ANX_ERANGE);
    text[763] = '\0';
    assert_int_equal(prov_twilio_build(&c, &n, &r), 0);
    prov_request_free(&r);
    /* Chinese counts by characters, not bytes: 3818 of them fit. */
    char *zh = malloc(3818 * 3 + 1);
    assert_non_null(zh);
    for (int i = 0; i < 3818; i++)
        memcpy(zh + 3 * i, "险", 3);
    zh[3818 * 3] = '\0';
    n.text = zh;
    assert_int_equal(prov_twilio_build(&c, &n, &r), 0);
    prov_request_free(&r);
    free(zh);
}

static void test_build_invalid(void **state)
{
    (void)state;
    struct prov_request r;
    struct notify_msg sms = msg(NOTIFY_SMS, "x"), call = msg(NOTIFY_VOICE, "x");
    struct prov_twilio_conf c = conf();

    c.account_sid = NULL;
    assert_int_equal(prov_twilio_build(&c, &sms, &r), ANX_EINVAL);
    c = conf();
    c.account_sid = "AC12/../x";
    assert_int_equal(prov_twilio_build(&c, &sms, &r), ANX_EINVAL);
    c = conf();
    c.auth_token = "";
    assert_int_equal(prov_twilio_build(&c, &sms, &r), ANX_EINVAL);
    c = conf();
    c.from = NULL;
    assert_int_equal(prov_twilio_build(&c, &sms, &r), ANX_EINVAL);
    c = conf();
    c.callback_base = NULL;
    assert_int_equal(prov_twilio_build(&c, &call, &r), ANX_EINVAL);
    assert_int_equal(prov_twilio_build(&c, &sms, &r), 0);
    prov_request_free(&r);

    c = conf();
    struct notify_msg m = sms;
    m.to[0] = '\0';
    assert_int_equal(prov_twilio_build(&c, &m, &r), ANX_EINVAL);
    m = sms;
    m.text = NULL;
    assert_int_equal(prov_twilio_build(&c, &m, &r), ANX_EINVAL);
    m.text = "";
    assert_int_equal(prov_twilio_build(&c, &m, &r), ANX_EINVAL);
    m = sms;
    m.channel = (enum notify_channel)7;
    assert_int_equal(prov_twilio_build(&c, &m, &r), ANX_EINVAL);
    assert_null(r.url);
    assert_null(r.userpwd);
}

/* ---- Twilio's answer ----------------------------------------------------- */

static enum prov_result parse(long status, const char *body, char *ref, char *err)
{
    return prov_twilio_parse(status, body, body ? strlen(body) : 0, ref, 96, err, 160);
}

static void test_parse_created(void **state)
{
    (void)state;
    char ref[96], err[160];
    const char *m = "{\"account_sid\":\"AC0123456789abcdef0123456789abcdef\",\"api_version\":"
                    "\"2010-04-01\",\"body\":\"hi\",\"error_code\":null,\"error_message\":null,"
                    "\"from\":\"+14155550100\",\"num_segments\":\"1\",\"sid\":"
                    "\"SM0123456789abcdef0123456789abcdef\",\"status\":\"queued\","
                    "\"to\":\"+8613800000001\"}";
    assert_int_equal(parse(201, m, ref, err), PROV_SENT);
    assert_string_equal(ref, "SM0123456789abcdef0123456789abcdef");
    assert_string_equal(err, "");
    const char *call = "{\"sid\":\"CA0123456789abcdef0123456789abcdef\",\"status\":\"queued\"}";
    assert_int_equal(parse(201, call, ref, err), PROV_SENT);
    assert_string_equal(ref, "CA0123456789abcdef0123456789abcdef");

    /* Taken, but without a sid to match reports by: try again. */
    assert_int_equal(parse(201, "{\"status\":\"queued\"}", ref, err), PROV_RETRY);
    assert_string_equal(ref, "");
    assert_string_equal(err, "http 201 without a sid");
    assert_int_equal(parse(201, "<html>ok</html>", ref, err), PROV_RETRY);
    assert_int_equal(parse(200, "", ref, err), PROV_RETRY);
    assert_int_equal(parse(201, "{\"sid\":\"SM 1\"}", ref, err), PROV_RETRY);
    /* A sid longer than ref. */
    assert_int_equal(prov_twilio_parse(201, call, strlen(call), ref, 10, err, sizeof err),
                     PROV_RETRY);
}

static void test_parse_refused(void **state)
{
    (void)state;
    char ref[96], err[160];
    const char *bad_to = "{\"code\": 21211, \"message\": \"The 'To' number 5551234567 is not a "
                         "valid phone number.\", \"more_info\": "
                         "\"https://www.twilio.com/docs/errors/21211\", \"status\": 400}";
    assert_int_equal(parse(400, bad_to, ref, err), PROV_FAILED);
    assert_string_equal(ref, "");
    assert_string_equal(err, "http 400, code 21211: The 'To' number *** is not a valid phone "
                             "number.");

    const char *cn = "{\"code\":21211,\"message\":\"Invalid 'To' Phone Number: "
                     "+86 138 0000 0001\",\"status\":400}";
    assert_int_equal(parse(400, cn, ref, err), PROV_FAILED);
    assert_string_equal(err, "http 400, code 21211: Invalid 'To' Phone Number: ***");
    assert_null(strstr(err, "138"));

    const char *auth = "{\"code\":20003,\"message\":\"Authenticate\",\"more_info\":"
                       "\"https://www.twilio.com/docs/errors/20003\",\"status\":401}";
    assert_int_equal(parse(401, auth, ref, err), PROV_FAILED);
    assert_string_equal(err, "http 401, code 20003: Authenticate");

    const char *nf = "{\"code\":20404,\"message\":\"The requested resource /2010-04-01/"
                     "Accounts/ACx/Messages.json was not found\",\"status\":404}";
    assert_int_equal(parse(404, nf, ref, err), PROV_FAILED);

    /* Small numbers stay; control characters go. */
    const char *body = "{\"code\":21617,\"message\":\"Body exceeds 1600 characters\\n\","
                       "\"status\":400}";
    assert_int_equal(parse(400, body, ref, err), PROV_FAILED);
    assert_string_equal(err, "http 400, code 21617: Body exceeds 1600 characters ");

    /* Garbage on a 4xx: refused all the same, said plainly. */
    assert_int_equal(parse(400, "<html>Bad Request</html>", ref, err), PROV_FAILED);
    assert_string_equal(err, "http 400");
    assert_int_equal(parse(403, NULL, ref, err), PROV_FAILED);
    assert_string_equal(err, "http 403");
}

static void test_parse_retry(void **state)
{
    (void)state;
    char ref[96], err[160];
    const char *busy = "{\"code\":20429,\"message\":\"Too Many Requests\",\"status\":429}";
    assert_int_equal(parse(429, busy, ref, err), PROV_RETRY);
    assert_string_equal(err, "http 429, code 20429: Too Many Requests");
    assert_int_equal(parse(429, "", ref, err), PROV_RETRY);
    assert_int_equal(parse(500, "{\"code\":20500,\"message\":\"Internal Server Error\"}", ref,
                           err), PROV_RETRY);
    assert_int_equal(parse(502, "<html>Bad Gateway</html>", ref, err), PROV_RETRY);
    assert_string_equal(err, "http 502");
    assert_int_equal(parse(503, NULL, ref, err), PROV_RETRY);
    assert_int_equal(parse(408, NULL, ref, err), PROV_RETRY);
    assert_int_equal(parse(0, NULL, ref, err), PROV_RETRY);
    assert_string_equal(err, "no answer");
    assert_int_equal(parse(302, NULL, ref, err), PROV_RETRY);
    /* Throttling codes on a 400. */
    const char *queue = "{\"code\":21611,\"message\":\"This 'From' number has exceeded the "
                        "maximum number of queued messages\",\"status\":400}";
    assert_int_equal(parse(400, queue, ref, err), PROV_RETRY);
    assert_int_equal(parse(400, "{\"code\":14107,\"message\":\"rate\"}", ref, err), PROV_RETRY);
    /* Garbage JSON in the code. */
    assert_int_equal(parse(400, "{\"code\":\"20429\"}", ref, err), PROV_FAILED);
    assert_int_equal(parse(400, "{\"code\":-5}", ref, err), PROV_FAILED);
}

static void test_parse_small_buffers(void **state)
{
    (void)state;
    char ref[4] = "xyz", err[12];
    const char *bad_to = "{\"code\":21211,\"message\":\"The 'To' number +8613800000001 is not "
                         "a valid phone number.\",\"status\":400}";
    assert_int_equal(prov_twilio_parse(400, bad_to, strlen(bad_to), ref, sizeof ref, err,
                                       sizeof err), PROV_FAILED);
    assert_string_equal(ref, "");
    assert_int_equal(strlen(err), sizeof err - 1);
    assert_int_equal(prov_twilio_parse(400, bad_to, strlen(bad_to), ref, 0, err, 0),
                     PROV_FAILED);
    /* A message whose number falls at the cut must not leak digits. */
    char e2[40];
    assert_int_equal(prov_twilio_parse(400, bad_to, strlen(bad_to), ref, sizeof ref, e2,
                                       sizeof e2), PROV_FAILED);
    assert_null(strstr(e2, "8613"));
    /* The body need not be NUL-terminated. */
    const char *call = "{\"sid\":\"CA01\"}garbage";
    char r2[96];
    assert_int_equal(prov_twilio_parse(201, call, 14, r2, sizeof r2, err, sizeof err),
                     PROV_SENT);
    assert_string_equal(r2, "CA01");
}

/* ---- reports ------------------------------------------------------------- */

static void expect_msg_status(const char *status, enum prov_report_status want)
{
    const struct prov_param f[] = {
        {"AccountSid", SID}, {"MessageSid", "SM0123456789abcdef0123456789abcdef"},
        {"MessageStatus", status}, {"To", "+8613800000001"},
    };
    struct prov_report r;
    assert_int_equal(prov_twilio_report(f, ARRAY_LEN(f), 42, &r), 0);
    assert_int_equal(r.notification, 42);
    assert_int_equal(r.status, want);
    assert_string_equal(r.ref, "SM0123456789abcdef0123456789abcdef");
    assert_string_equal(r.detail, status);
    assert_string_equal(r.digits, "");
    assert_int_equal(r.at_ms, 0);
}

static void test_report_messages(void **state)
{
    (void)state;
    expect_msg_status("delivered", PROV_DELIVERED);
    expect_msg_status("read", PROV_DELIVERED);
    expect_msg_status("undelivered", PROV_UNDELIVERED);
    expect_msg_status("failed", PROV_UNDELIVERED);
    expect_msg_status("canceled", PROV_UNDELIVERED);
    expect_msg_status("queued", PROV_PENDING);
    expect_msg_status("sending", PROV_PENDING);
    expect_msg_status("sent", PROV_PENDING);
    expect_msg_status("accepted", PROV_PENDING);
    expect_msg_status("scheduled", PROV_PENDING);
    expect_msg_status("some-new-state", PROV_PENDING);

    /* The error code goes to the timeline; SmsSid stands in for MessageSid. */
    const struct prov_param f[] = {
        {"SmsSid", "SM01"}, {"MessageStatus", "undelivered"}, {"ErrorCode", "30003"},
    };
    struct prov_report r;
    assert_int_equal(prov_twilio_report(f, ARRAY_LEN(f), 9, &r), 0);
    assert_int_equal(r.status, PROV_UNDELIVERED);
    assert_string_equal(r.ref, "SM01");
    assert_string_equal(r.detail, "undelivered error 30003");
}

static void expect_call_status(const char *status, enum prov_report_status want)
{
    const struct prov_param f[] = {
        {"CallSid", "CA0123456789abcdef0123456789abcdef"}, {"CallStatus", status},
        {"From", "+14155550100"},
    };
    struct prov_report r;
    assert_int_equal(prov_twilio_report(f, ARRAY_LEN(f), 42, &r), 0);
    assert_int_equal(r.notification, 42);
    assert_int_equal(r.status, want);
    assert_string_equal(r.ref, "CA0123456789abcdef0123456789abcdef");
    assert_string_equal(r.detail, status);
}

static void test_report_calls(void **state)
{
    (void)state;
    expect_call_status("completed", PROV_ANSWERED);
    expect_call_status("busy", PROV_NOT_ANSWERED);
    expect_call_status("no-answer", PROV_NOT_ANSWERED);
    expect_call_status("failed", PROV_NOT_ANSWERED);
    expect_call_status("canceled", PROV_NOT_ANSWERED);
    expect_call_status("queued", PROV_PENDING);
    expect_call_status("initiated", PROV_PENDING);
    expect_call_status("ringing", PROV_PENDING);
    expect_call_status("in-progress", PROV_PENDING);

    /* Duration and time of a completed call. */
    const struct prov_param f[] = {
        {"CallSid", "CA01"}, {"CallStatus", "completed"}, {"CallDuration", "35"},
        {"Timestamp", "Mon, 16 Aug 2010 03:45:01 +0000"}, {"SequenceNumber", "3"},
    };
    struct prov_report r;
    assert_int_equal(prov_twilio_report(f, ARRAY_LEN(f), 5, &r), 0);
    assert_int_equal(r.status, PROV_ANSWERED);
    assert_string_equal(r.detail, "completed 35s");
    assert_int_equal(r.at_ms, INT64_C(1281930301000));

    /* Another zone; a date that is no date. */
    struct prov_param g[] = {
        {"CallSid", "CA01"}, {"CallStatus", "busy"}, {"Timestamp", "16 Aug 2010 11:45:01 +0800"},
    };
    assert_int_equal(prov_twilio_report(g, ARRAY_LEN(g), 5, &r), 0);
    assert_int_equal(r.at_ms, INT64_C(1281930301000));
    static const char *const bad[] = {
        "", "yesterday", "Mon, 16 Foo 2010 03:45:01 +0000", "Mon, 16 Aug 2010 03:45:01",
        "Mon, 16 Aug 2010 25:45:01 +0000", "Mon, 16 Aug 2010 03:45:01 +0000 trailing",
        "Mon, 16 Aug 1969 03:45:01 +0000", "Mon, 16 Aug 2010 03:45:01 +0099",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        g[2].value = bad[i];
        assert_int_equal(prov_twilio_report(g, ARRAY_LEN(g), 5, &r), 0);
        assert_int_equal(r.at_ms, 0);
    }

    /* A key press, and a failed call's error code. */
    const struct prov_param k[] = {
        {"CallSid", "CA01"}, {"CallStatus", "in-progress"}, {"Digits", "1"},
    };
    assert_int_equal(prov_twilio_report(k, ARRAY_LEN(k), 5, &r), 0);
    assert_int_equal(r.status, PROV_PENDING);
    assert_string_equal(r.digits, "1");
    const struct prov_param h[] = {
        {"CallSid", "CA01"}, {"Digits", "*#9"},
    };
    assert_int_equal(prov_twilio_report(h, ARRAY_LEN(h), 5, &r), 0);
    assert_int_equal(r.status, PROV_PENDING);
    assert_string_equal(r.digits, "*#9");
    const struct prov_param e[] = {
        {"CallSid", "CA01"}, {"CallStatus", "failed"}, {"ErrorCode", "13224"},
    };
    assert_int_equal(prov_twilio_report(e, ARRAY_LEN(e), 5, &r), 0);
    assert_int_equal(r.status, PROV_NOT_ANSWERED);
    assert_string_equal(r.detail, "failed error 13224");
}

static void test_report_invalid(void **state)
{
    (void)state;
    struct prov_report r;
    const struct prov_param none[] = {{"AccountSid", SID}, {"To", "+8613800000001"}};
    assert_int_equal(prov_twilio_report(none, ARRAY_LEN(none), 1, &r), ANX_EINVAL);
    assert_int_equal(prov_twilio_report(NULL, 0, 1, &r), ANX_EINVAL);
    const struct prov_param nosid[] = {{"MessageStatus", "delivered"}};
    assert_int_equal(prov_twilio_report(nosid, 1, 1, &r), ANX_EINVAL);
    const struct prov_param nocall[] = {{"CallStatus", "completed"}, {"MessageSid", "SM1"}};
    assert_int_equal(prov_twilio_report(nocall, 2, 1, &r), ANX_EINVAL);
    char longsid[200];
    memset(longsid, 'A', sizeof longsid - 1);
    longsid[sizeof longsid - 1] = '\0';
    const struct prov_param lsid[] = {{"CallSid", longsid}, {"CallStatus", "completed"}};
    assert_int_equal(prov_twilio_report(lsid, 2, 1, &r), ANX_EINVAL);
    static const char *const bad_digits[] = {"12345678", "1a", " 1", "1\n"};
    for (size_t i = 0; i < ARRAY_LEN(bad_digits); i++) {
        const struct prov_param d[] = {{"CallSid", "CA01"}, {"CallStatus", "in-progress"},
                                       {"Digits", bad_digits[i]}};
        assert_int_equal(prov_twilio_report(d, 3, 1, &r), ANX_EINVAL);
        assert_string_equal(r.digits, "");
    }
    /* An empty Digits (a timeout) is no key press, not an error. */
    const struct prov_param d0[] = {{"CallSid", "CA01"}, {"CallStatus", "in-progress"},
                                    {"Digits", ""}};
    assert_int_equal(prov_twilio_report(d0, 3, 1, &r), 0);
    assert_string_equal(r.digits, "");
    /* A status that is not a token is kept out of the timeline's detail. */
    const struct prov_param odd[] = {{"CallSid", "CA01"}, {"CallStatus", "x<script>"}};
    assert_int_equal(prov_twilio_report(odd, 2, 1, &r), 0);
    assert_int_equal(r.status, PROV_PENDING);
    assert_string_equal(r.detail, "x?script?");
}

/* ---- incoming messages ---------------------------------------------------- */

/* An incoming SMS as Twilio posts it ("Twilio's request to your incoming
 * message Webhook URL": MessageSid, SmsSid, AccountSid, From, To, Body,
 * NumMedia, SmsStatus received), signed for our /mo address; the signature
 * was computed independently with Python's hmac, hashlib and base64 over
 * the URL and the sorted decoded fields, auth token "12345". */
#define INBOUND_URL "https://anxin.example.org/hooks/twilio/mo"
#define INBOUND_BODY                                                                       \
    "AccountSid=AC0123456789abcdef0123456789abcdef&ApiVersion=2010-04-01&Body=%E7%A1%AE%E8" \
    "%AE%A4+4821&From=%2B8613800000041&MessageSid=SM0123456789abcdef0123456789abcdef&"      \
    "NumMedia=0&SmsSid=SM0123456789abcdef0123456789abcdef&SmsStatus=received&"              \
    "To=%2B14155550100"

static void test_inbound(void **state)
{
    (void)state;
    char body[] = INBOUND_BODY;
    struct prov_param f[16];
    size_t n;
    assert_int_equal(prov_twilio_parse_form(body, f, 16, &n), 0);
    assert_true(prov_twilio_verify("12345", INBOUND_URL, f, n, "Ep4uzVK3QvvzSb/I7RQ1j7C71Qs="));
    assert_false(prov_twilio_verify("12345", INBOUND_URL "?n=1", f, n,
                                    "Ep4uzVK3QvvzSb/I7RQ1j7C71Qs="));
    struct prov_reply r;
    assert_int_equal(prov_twilio_inbound(f, n, 4, &r), 0);
    assert_string_equal(r.from, "+8613800000041");
    assert_string_equal(r.code, "4821");

    /* No code in the text: a reply all the same. */
    struct prov_param nocode[] = {{"MessageSid", "SM1"}, {"From", "+8613800000041"},
                                  {"Body", "收到"}};
    assert_int_equal(prov_twilio_inbound(nocode, 3, 4, &r), 0);
    assert_string_equal(r.code, "");
    /* SmsSid alone (older posts), an empty Body (a picture only). */
    struct prov_param old_sid[] = {{"SmsSid", "SM1"}, {"From", "+8613800000041"}, {"Body", ""}};
    assert_int_equal(prov_twilio_inbound(old_sid, 3, 4, &r), 0);
    assert_string_equal(r.code, "");
}

static void test_inbound_refused(void **state)
{
    (void)state;
    struct prov_reply r;
    /* A status callback posted to the reply address is not a reply. */
    struct prov_param status[] = {{"MessageSid", "SM1"}, {"MessageStatus", "delivered"},
                                  {"From", "+14155550100"}, {"Body", "4821"}};
    assert_int_equal(prov_twilio_inbound(status, 4, 4, &r), ANX_EINVAL);
    struct prov_param received[] = {{"MessageSid", "SM1"}, {"MessageStatus", "received"},
                                    {"From", "+8613800000041"}, {"Body", "4821"}};
    assert_int_equal(prov_twilio_inbound(received, 4, 4, &r), 0);
    /* No sid, no Body, no From, a From that is no number (a short code,
     * an alphanumeric sender). */
    struct prov_param no_sid[] = {{"From", "+8613800000041"}, {"Body", "4821"}};
    assert_int_equal(prov_twilio_inbound(no_sid, 2, 4, &r), ANX_EINVAL);
    struct prov_param no_body[] = {{"MessageSid", "SM1"}, {"From", "+8613800000041"}};
    assert_int_equal(prov_twilio_inbound(no_body, 2, 4, &r), ANX_EINVAL);
    struct prov_param no_from[] = {{"MessageSid", "SM1"}, {"Body", "4821"}};
    assert_int_equal(prov_twilio_inbound(no_from, 2, 4, &r), ANX_EINVAL);
    struct prov_param short_code[] = {{"MessageSid", "SM1"}, {"From", "10086"}, {"Body", "4821"}};
    assert_int_equal(prov_twilio_inbound(short_code, 3, 4, &r), ANX_EINVAL);
    struct prov_param alpha[] = {{"MessageSid", "SM1"}, {"From", "ANXIN"}, {"Body", "4821"}};
    assert_int_equal(prov_twilio_inbound(alpha, 3, 4, &r), ANX_EINVAL);
    assert_string_equal(r.from, "");
    assert_int_equal(prov_twilio_inbound(NULL, 1, 4, &r), ANX_EINVAL);
    assert_int_equal(prov_twilio_inbound(NULL, 0, 4, &r), ANX_EINVAL);
}

static void test_message_twiml(void **state)
{
    (void)state;
    char *t = prov_twilio_message_twiml("已确认，谢谢！");
    assert_string_equal(t, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>"
                           "已确认，谢谢！</Message></Response>");
    free(t);
    t = prov_twilio_message_twiml("<a & \"b\">\x01");
    assert_string_equal(t, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>"
                           "&lt;a &amp; &quot;b&quot;&gt; </Message></Response>");
    free(t);
    t = prov_twilio_message_twiml(NULL);
    assert_non_null(strstr(t, "<Message></Message>"));
    free(t);
}

/* ---- form bodies --------------------------------------------------------- */

static void test_form_basic(void **state)
{
    (void)state;
    char body[] = "a=1&b=hello+world&c=%E4%BD%A0%e5%a5%bd&To=%2B86138&k+x=v%26w%3Dz";
    struct prov_param f[8];
    size_t n;
    assert_int_equal(prov_twilio_parse_form(body, f, ARRAY_LEN(f), &n), 0);
    assert_int_equal(n, 5);
    assert_string_equal(f[0].key, "a");
    assert_string_equal(f[0].value, "1");
    assert_string_equal(f[1].value, "hello world");
    assert_string_equal(f[2].value, "你好");
    assert_string_equal(f[3].key, "To");
    assert_string_equal(f[3].value, "+86138");
    assert_string_equal(f[4].key, "k x");
    assert_string_equal(f[4].value, "v&w=z");
}

static void test_form_edges(void **state)
{
    (void)state;
    struct prov_param f[4];
    size_t n = 99;

    char empty[] = "";
    assert_int_equal(prov_twilio_parse_form(empty, f, ARRAY_LEN(f), &n), 0);
    assert_int_equal(n, 0);

    char amps[] = "&&a=1&&&";
    assert_int_equal(prov_twilio_parse_form(amps, f, ARRAY_LEN(f), &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(f[0].value, "1");

    char flags[] = "flag&b=&c==x";
    assert_int_equal(prov_twilio_parse_form(flags, f, ARRAY_LEN(f), &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(f[0].key, "flag");
    assert_string_equal(f[0].value, "");
    assert_string_equal(f[1].key, "b");
    assert_string_equal(f[1].value, "");
    assert_string_equal(f[2].value, "=x");

    char full[] = "a=1&b=2&c=3&d=4";
    assert_int_equal(prov_twilio_parse_form(full, f, 4, &n), 0);
    assert_int_equal(n, 4);
    char over[] = "a=1&b=2&c=3&d=4&e=5";
    assert_int_equal(prov_twilio_parse_form(over, f, 4, &n), ANX_ERANGE);
    char trailing[] = "a=1&b=2&c=3&d=4&";
    assert_int_equal(prov_twilio_parse_form(trailing, f, 4, &n), 0);

    static const char *const bad[] = {"=x", "a=1&=2", "a=%zz", "a=%4", "a=%", "%=1",
                                      "a=%00", "a%00b=1"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        char buf[32];
        strcpy(buf, bad[i]);
        assert_int_equal(prov_twilio_parse_form(buf, f, ARRAY_LEN(f), &n), ANX_EINVAL);
    }
    assert_int_equal(prov_twilio_parse_form(NULL, f, ARRAY_LEN(f), &n), ANX_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_sdk_vector),
        cmocka_unit_test(test_signature_docs_vector),
        cmocka_unit_test(test_signature_repeated_names),
        cmocka_unit_test(test_signature_order_and_no_params),
        cmocka_unit_test(test_signature_errors),
        cmocka_unit_test(test_verify),
        cmocka_unit_test(test_verify_callback_body),
        cmocka_unit_test(test_build_sms),
        cmocka_unit_test(test_build_sms_variants),
        cmocka_unit_test(test_hook_url),
        cmocka_unit_test(test_build_call),
        cmocka_unit_test(test_build_call_too_long),
        cmocka_unit_test(test_build_invalid),
        cmocka_unit_test(test_parse_created),
        cmocka_unit_test(test_parse_refused),
        cmocka_unit_test(test_parse_retry),
        cmocka_unit_test(test_parse_small_buffers),
        cmocka_unit_test(test_report_messages),
        cmocka_unit_test(test_report_calls),
        cmocka_unit_test(test_report_invalid),
        cmocka_unit_test(test_inbound),
        cmocka_unit_test(test_inbound_refused),
        cmocka_unit_test(test_message_twiml),
        cmocka_unit_test(test_form_basic),
        cmocka_unit_test(test_form_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
