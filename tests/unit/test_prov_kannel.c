/* test_prov_kannel.c - unit tests for the Kannel sendsms request, the
 * meaning of smsbox's answers and the signed delivery reports
 * (lib/prov_kannel.c), and for the generic webhook (lib/prov_webhook.c).
 * Expected forms follow the Kannel 1.4 user guide ("SMS Push (send-sms)
 * CGI", "Delivery reports"). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "prov_kannel.h"
#include "prov_webhook.h"

static struct notify_msg sms(void)
{
    struct notify_msg n = {
        .id = 4242, .alert_id = 7, .channel = NOTIFY_SMS, .to = "+8613800138000",
        .text = (char *)"王秀英 SOS 回复 1234 确认",
    };
    return n;
}

static const struct prov_kannel_conf conf = {
    .url = "http://127.0.0.1:13013/cgi-bin/sendsms",
    .username = "anxin",
    .password = "p&ss word",
    .from = "12345",
    .callback = "http://127.0.0.1:8080/hooks/kannel",
    .report_key = "p&ss word",
};

/* The value of query parameter `key` in url, still percent-encoded. */
static char *param(const char *url, const char *key)
{
    static char out[2048];
    size_t kl = strlen(key);
    const char *q = strchr(url, '?');
    while (q) {
        q++;
        if (strncmp(q, key, kl) == 0 && q[kl] == '=') {
            size_t l = strcspn(q + kl + 1, "&");
            memcpy(out, q + kl + 1, l);
            out[l] = '\0';
            return out;
        }
        q = strchr(q, '&');
    }
    return NULL;
}

static void test_build_sms(void **state)
{
    (void)state;
    struct notify_msg n = sms();
    struct prov_request r;
    assert_int_equal(prov_kannel_build(&conf, &n, &r), 0);
    assert_string_equal(r.method, "GET");
    assert_null(r.body);
    assert_true(strncmp(r.url, "http://127.0.0.1:13013/cgi-bin/sendsms?", 39) == 0);
    assert_string_equal(param(r.url, "username"), "anxin");
    assert_string_equal(param(r.url, "password"), "p%26ss%20word");
    assert_string_equal(param(r.url, "from"), "12345");
    assert_string_equal(param(r.url, "to"), "%2B8613800138000");
    /* UTF-8 bytes of 王 (E7 8E 8B), and coding 2 = UCS-2 on the air. */
    assert_true(strncmp(param(r.url, "text"), "%E7%8E%8B", 9) == 0);
    assert_string_equal(param(r.url, "charset"), "UTF-8");
    assert_string_equal(param(r.url, "coding"), "2");
    assert_string_equal(param(r.url, "dlr-mask"), "31");
    /* The report address, itself encoded, with %d left for Kannel. */
    char tag[17], want[256];
    prov_kannel_tag(conf.report_key, 4242, tag);
    snprintf(want, sizeof want,
             "http%%3A%%2F%%2F127.0.0.1%%3A8080%%2Fhooks%%2Fkannel%%2Fdlr%%3Fn%%3D4242%%26t%%3D%s"
             "%%26s%%3D%%25d", tag);
    assert_string_equal(param(r.url, "dlr-url"), want);
    prov_request_free(&r);
    assert_null(r.url);
}

static void test_build_refuses(void **state)
{
    (void)state;
    struct notify_msg n = sms();
    struct prov_request r;
    n.channel = NOTIFY_VOICE;
    assert_int_equal(prov_kannel_build(&conf, &n, &r), ANX_EINVAL);
    n.channel = NOTIFY_SMS;
    struct prov_kannel_conf c = conf;
    c.password = NULL;
    assert_int_equal(prov_kannel_build(&c, &n, &r), ANX_EINVAL);
    /* No callback: no dlr-url (reports cannot reach us anyway). */
    c = conf;
    c.callback = NULL;
    c.from = NULL;
    assert_int_equal(prov_kannel_build(&c, &n, &r), 0);
    assert_null(param(r.url, "dlr-url"));
    assert_null(param(r.url, "from"));
    prov_request_free(&r);
}

static void test_parse(void **state)
{
    (void)state;
    char ref[96], err[200];
    const char *ok = "0: Accepted for delivery";
    assert_int_equal(prov_kannel_parse(202, ok, strlen(ok), 9, ref, sizeof ref, err, sizeof err),
                     PROV_SENT);
    assert_string_equal(ref, "kannel-9");
    const char *q = "3: Queued for later delivery\n";
    assert_int_equal(prov_kannel_parse(202, q, strlen(q), 9, ref, sizeof ref, err, sizeof err),
                     PROV_SENT);
    const char *auth = "Authorization failed for sendsms";
    assert_int_equal(prov_kannel_parse(403, auth, strlen(auth), 9, ref, sizeof ref, err,
                                       sizeof err), PROV_FAILED);
    assert_string_equal(err, "HTTP 403: Authorization failed for sendsms");
    const char *bad = "Missing receiver number";
    assert_int_equal(prov_kannel_parse(400, bad, strlen(bad), 9, ref, sizeof ref, err,
                                       sizeof err), PROV_FAILED);
    assert_int_equal(prov_kannel_parse(503, "", 0, 9, ref, sizeof ref, err, sizeof err),
                     PROV_RETRY);
    assert_string_equal(err, "HTTP 503: (no answer text)");
    /* A 202 that is not an acceptance is not taken as one. */
    assert_int_equal(prov_kannel_parse(202, "4: what", 7, 9, ref, sizeof ref, err, sizeof err),
                     PROV_RETRY);
}

static void test_report(void **state)
{
    (void)state;
    char tag[17];
    struct prov_report r;
    prov_kannel_tag("k", 77, tag);
    assert_int_equal(strlen(tag), 16);
    assert_int_equal(prov_kannel_report("k", "77", "1", tag, &r), 0);
    assert_int_equal(r.notification, 77);
    assert_int_equal(r.status, PROV_DELIVERED);
    assert_string_equal(r.ref, "kannel-77");
    assert_int_equal(prov_kannel_report("k", "77", "2", tag, &r), 0);
    assert_int_equal(r.status, PROV_UNDELIVERED);
    assert_int_equal(prov_kannel_report("k", "77", "16", tag, &r), 0);
    assert_int_equal(r.status, PROV_UNDELIVERED);
    assert_int_equal(prov_kannel_report("k", "77", "8", tag, &r), 0);
    assert_int_equal(r.status, PROV_PENDING);
    /* Forged or foreign: another key, another notification, a cut tag. */
    assert_int_equal(prov_kannel_report("other", "77", "1", tag, &r), ANX_ESTATE);
    assert_int_equal(prov_kannel_report("k", "78", "1", tag, &r), ANX_ESTATE);
    tag[15] = '\0';
    assert_int_equal(prov_kannel_report("k", "77", "1", tag, &r), ANX_ESTATE);
    /* Malformed. */
    assert_int_equal(prov_kannel_report("k", "x77", "1", tag, &r), ANX_EINVAL);
    assert_int_equal(prov_kannel_report("k", "77", "%d", tag, &r), ANX_EINVAL);
    assert_int_equal(prov_kannel_report("k", NULL, "1", tag, &r), ANX_EINVAL);
    assert_int_equal(prov_kannel_report("k", "-3", "1", tag, &r), ANX_EINVAL);
}

static void test_webhook(void **state)
{
    (void)state;
    struct notify_msg n = sms();
    struct prov_request r;
    assert_int_equal(prov_webhook_build("https://h.example/notify", "tok", &n, &r), 0);
    assert_string_equal(r.method, "POST");
    assert_string_equal(r.url, "https://h.example/notify");
    assert_non_null(strstr(r.body, "\"id\":4242"));
    assert_int_equal(r.body_len, strlen(r.body));
    assert_string_equal(r.headers[0], "Content-Type: application/json; charset=utf-8");
    assert_string_equal(r.headers[1], "Idempotency-Key: 4242");
    assert_string_equal(r.headers[2], "Authorization: Bearer tok");
    assert_null(r.headers[3]);
    prov_request_free(&r);
    assert_int_equal(prov_webhook_build("https://h.example/notify", NULL, &n, &r), 0);
    assert_null(r.headers[2]);
    prov_request_free(&r);

    char err[64];
    assert_int_equal(prov_webhook_parse(200, err, sizeof err), PROV_SENT);
    assert_int_equal(prov_webhook_parse(204, err, sizeof err), PROV_SENT);
    assert_int_equal(prov_webhook_parse(429, err, sizeof err), PROV_RETRY);
    assert_int_equal(prov_webhook_parse(408, err, sizeof err), PROV_RETRY);
    assert_int_equal(prov_webhook_parse(502, err, sizeof err), PROV_RETRY);
    assert_int_equal(prov_webhook_parse(400, err, sizeof err), PROV_FAILED);
    assert_string_equal(err, "HTTP 400");
    assert_int_equal(prov_webhook_parse(301, err, sizeof err), PROV_FAILED);
}

/* The shared parts in lib/provider.c that the Kannel hooks rely on. */
static void test_sender_and_reply_code(void **state)
{
    (void)state;
    char out[24], code[5];
    const char *same[] = {"13800000011", "8613800000011", "008613800000011", "+8613800000011",
                          "+86 138-0000-0011"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        assert_int_equal(prov_sender_e164(same[i], out, sizeof out), 0);
        assert_string_equal(out, "+8613800000011");
    }
    assert_int_equal(prov_sender_e164("+14155550100", out, sizeof out), 0);
    assert_string_equal(out, "+14155550100");
    assert_int_equal(prov_sender_e164("10086", out, sizeof out), ANX_EINVAL);      /* short code */
    assert_int_equal(prov_sender_e164("057188886666", out, sizeof out), ANX_EINVAL); /* no cc */
    assert_int_equal(prov_sender_e164("138x0000011", out, sizeof out), ANX_EINVAL);
    assert_int_equal(prov_sender_e164("", out, sizeof out), ANX_EINVAL);
    assert_int_equal(prov_sender_e164(NULL, out, sizeof out), ANX_EINVAL);
    assert_int_equal(prov_sender_e164("+8613800000011", out, 8), ANX_ERANGE);

    assert_int_equal(prov_reply_code("4821", 4, code), 0);
    assert_string_equal(code, "4821");
    assert_int_equal(prov_reply_code("确认 4821 谢谢", 4, code), 0);
    assert_string_equal(code, "4821");
    /* A phone number or a year is not the code; the 4 digits after are. */
    assert_int_equal(prov_reply_code("13800000011 4821", 4, code), 0);
    assert_string_equal(code, "4821");
    assert_int_equal(prov_reply_code("好的", 4, code), ANX_EINVAL);
    assert_int_equal(prov_reply_code("123", 4, code), ANX_EINVAL);
    assert_int_equal(prov_reply_code(NULL, 4, code), ANX_EINVAL);

    char tag[17];
    prov_report_key("sendpw", tag);
    assert_true(prov_tag_ok("sendpw", "report", tag));
    assert_false(prov_tag_ok("other", "report", tag));
    assert_false(prov_tag_ok("sendpw", "report", NULL));
    assert_false(prov_tag_ok("sendpw", "report", "short"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_sms),
        cmocka_unit_test(test_build_refuses),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_report),
        cmocka_unit_test(test_webhook),
        cmocka_unit_test(test_sender_and_reply_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
