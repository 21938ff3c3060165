"""Self-test of fake_aliyun.FakeAliyun (no services needed): requests signed
the way Aliyun's 签名机制 describes are accepted, tampered or mis-signed
ones refused as Aliyun refuses them, and the planned failures and report
bodies come out as documented.

The signer here is written again from the documentation's recipe (Java's
URLEncoder, then "+" -> "%20", "*" -> "%2A", "%7E" -> "~"), not taken from
the fake, and is first checked against the documentation's worked
examples: DescribeRegions (testid / testsecret) -> OLeaidS1JvxuMvnyHOwuJ+uX5qY=,
the SMS guide's SendSms (testId / testSecret) -> zJDF+Lrzhj/ThnlvIToysFRq6t4=,
and the voice guide's SingleCallByTts -> aMfgrx8DLS7vLfpeR1c2rrKLr0Q=."""
import base64
import hashlib
import hmac
import json
import os
import sys
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fake_aliyun  # noqa: E402

KEY_ID = "LTAIselftest"
SECRET = "self-test-secret"


def doc_encode(s):
    """percentEncode as the documentation gives it in Java."""
    return (urllib.parse.quote_plus(s, safe="*", encoding="utf-8")
            .replace("+", "%20").replace("*", "%2A").replace("%7E", "~"))


def doc_sign(secret, method, params):
    canon = "&".join(doc_encode(k) + "=" + doc_encode(params[k])
                     for k in sorted(params) if k != "Signature")
    sts = method + "&" + doc_encode("/") + "&" + doc_encode(canon)
    mac = hmac.new((secret + "&").encode("utf-8"), sts.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def request_params(action, fields, method="POST", secret=SECRET, key_id=KEY_ID,
                   timestamp=None, nonce=None):
    p = {"AccessKeyId": key_id, "Action": action, "Format": "JSON",
         "RegionId": "cn-hangzhou", "SignatureMethod": "HMAC-SHA1",
         "SignatureNonce": nonce or str(uuid.uuid4()), "SignatureVersion": "1.0",
         "Timestamp": timestamp or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
         "Version": "2017-05-25"}
    p.update(fields)
    p["Signature"] = doc_sign(secret, method, p)
    return p


def encode_form(params):
    return "&".join(doc_encode(k) + "=" + doc_encode(v) for k, v in params.items())


def send(url, params=None, method="POST", raw=None, ctype="application/x-www-form-urlencoded"):
    """(status, parsed JSON or text, content type) of one request."""
    text = raw if raw is not None else encode_form(params)
    if method == "POST":
        req = urllib.request.Request(url, data=text.encode("utf-8"), method="POST",
                                     headers={"Content-Type": ctype})
    else:
        req = urllib.request.Request(url + "?" + text, method="GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, body, ct = r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        status, body, ct = e.code, e.read(), e.headers.get("Content-Type", "")
    try:
        return status, json.loads(body), ct
    except ValueError:
        return status, body.decode("utf-8", "replace"), ct


SMS = {"PhoneNumbers": "13800000001", "SignName": "安心养老", "TemplateCode": "SMS_000001",
       "TemplateParam": json.dumps({"content": "张三 家 烟雾报警 a*b~c", "code": "4821"},
                                   ensure_ascii=False),
       "OutId": "4711"}
CALL = {"CalledNumber": "13800000001", "TtsCode": "TTS_000001", "PlayTimes": "2",
        "TtsParam": json.dumps({"content": "李四 家 跌倒", "code": "4821"}, ensure_ascii=False),
        "OutId": "4712"}


class DocumentedSignatureTest(unittest.TestCase):
    def test_doc_vectors(self):
        regions = {"Timestamp": "2016-02-23T12:46:24Z", "Format": "XML", "AccessKeyId": "testid",
                   "Action": "DescribeRegions", "SignatureMethod": "HMAC-SHA1",
                   "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
                   "Version": "2014-05-26", "SignatureVersion": "1.0"}
        sms = {"AccessKeyId": "testId", "Action": "SendSms", "Format": "XML", "OutId": "123",
               "PhoneNumbers": "15300000001", "RegionId": "cn-hangzhou",
               "SignName": "阿里云短信测试专用", "SignatureMethod": "HMAC-SHA1",
               "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
               "SignatureVersion": "1.0", "TemplateCode": "SMS_71390007",
               "TemplateParam": '{"customer":"test"}', "Timestamp": "2017-07-12T02:42:19Z",
               "Version": "2017-05-25"}
        call = {"AccessKeyId": "testId", "Action": "SingleCallByTts",
                "CalledNumber": "13000000000", "CalledShowNumber": "057112345678",
                "Format": "XML", "OutId": "123", "RegionId": "cn-hangzhou",
                "SignatureMethod": "HMAC-SHA1",
                "SignatureNonce": "f7d2d4ef-6d5f-4da4-86ed-88e001a66abb",
                "SignatureVersion": "1.0", "Timestamp": "2017-09-28T14:31:56Z",
                "TtsCode": "TTS_0000000", "TtsParam": '{"code":"1234","product":"test"}',
                "Version": "2017-05-25"}
        for params, secret, want in ((regions, "testsecret", "OLeaidS1JvxuMvnyHOwuJ+uX5qY="),
                                     (sms, "testSecret", "zJDF+Lrzhj/ThnlvIToysFRq6t4="),
                                     (call, "testSecret", "aMfgrx8DLS7vLfpeR1c2rrKLr0Q=")):
            self.assertEqual(doc_sign(secret, "GET", params), want)
            # and the fake's own signer agrees
            self.assertEqual(fake_aliyun.signature(secret, "GET", params), want)
        self.assertEqual(doc_encode("a b*c~d/老"), "a%20b%2Ac~d%2F%E8%80%81")
        self.assertEqual(fake_aliyun.percent_encode("a b*c~d/老"), "a%20b%2Ac~d%2F%E8%80%81")


class FakeAliyunTest(unittest.TestCase):
    def setUp(self):
        self.fake = fake_aliyun.FakeAliyun(key_id=KEY_ID, key_secret=SECRET)

    def tearDown(self):
        self.fake.close()

    def expect_refused(self, params, status, code, **kw):
        st, answer, _ = send(self.fake.url, params, **kw)
        self.assertEqual(st, status, answer)
        self.assertEqual(answer["Code"], code, answer)
        self.assertIn("RequestId", answer)
        return answer

    def test_sms_accepted(self):
        st, answer, ct = send(self.fake.url, request_params("SendSms", SMS))
        self.assertEqual(st, 200, answer)
        self.assertTrue(ct.startswith("application/json"))
        self.assertEqual(answer["Code"], "OK")
        self.assertEqual(answer["Message"], "OK")
        self.assertRegex(answer["BizId"], r"^\d+\^0$")
        got = self.fake.wait_count(1, "sms")
        self.assertEqual(got[0]["params"]["SignName"], "安心养老")
        self.assertEqual(json.loads(got[0]["params"]["TemplateParam"])["code"], "4821")
        self.assertEqual(self.fake.accepted("call"), [])

    def test_tampered_or_missigned_refused(self):
        p = request_params("SendSms", SMS)
        p["PhoneNumbers"] = "13800000002"
        answer = self.expect_refused(p, 400, "SignatureDoesNotMatch")
        self.assertIn("server string to sign is:POST&%2F&AccessKeyId", answer["Message"])
        self.expect_refused(request_params("SendSms", SMS, secret="other"), 400,
                            "SignatureDoesNotMatch")
        # Signed for GET, sent as POST.
        self.expect_refused(request_params("SendSms", SMS, method="GET"), 400,
                            "SignatureDoesNotMatch")
        # Nothing was accepted, and the refusals are on record.
        self.assertEqual(self.fake.accepted(), [])
        self.assertEqual(len(self.fake.refused()), 3)

    def test_method_path_and_encoding(self):
        self.expect_refused(request_params("SendSms", SMS, method="GET"), 400,
                            "Fake.UnexpectedMethod", method="GET")
        st, answer, _ = send(self.fake.url + "sms", request_params("SendSms", SMS))
        self.assertEqual((st, answer["Code"]), (404, "Fake.UnexpectedPath"))
        self.expect_refused(request_params("SendSms", SMS), 400, "Fake.UnexpectedContentType",
                            ctype="application/json")
        # A form encoder's '+' for space is refused loudly.
        p = request_params("SendSms", SMS)
        self.expect_refused(None, 400, "Fake.PlusInForm",
                            raw=encode_form(p).replace("%20", "+"))
        # The country code must be gone.
        self.expect_refused(request_params("SendSms", dict(SMS, PhoneNumbers="8613800000001")),
                            400, "Fake.CountryCodeKept")

        fake = fake_aliyun.FakeAliyun(key_id=KEY_ID, key_secret=SECRET, methods=("GET", "POST"))
        try:
            st, answer, _ = send(fake.url, request_params("SendSms", SMS, method="GET"),
                                 method="GET")
            self.assertEqual((st, answer["Code"]), (200, "OK"), answer)
            self.assertEqual(fake.accepted("sms")[0]["method"], "GET")
        finally:
            fake.close()

    def test_common_parameter_checks(self):
        stale = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 16 * 60))
        self.expect_refused(request_params("SendSms", SMS, timestamp=stale), 400,
                            "InvalidTimeStamp.Expired")
        self.expect_refused(request_params("SendSms", SMS, timestamp="2024-01-01 00:00:00"),
                            400, "InvalidTimeStamp.Format")
        self.expect_refused(request_params("SendSms", SMS, timestamp="2024-13-45T00:00:00Z"),
                            400, "InvalidTimeStamp.Format")
        p = request_params("SendSms", SMS)
        del p["SignatureNonce"]
        p["Signature"] = doc_sign(SECRET, "POST", p)
        answer = self.expect_refused(p, 400, "MissingParameter")
        self.assertIn("SignatureNonce", answer["Message"])
        self.expect_refused(request_params("SendSms", SMS, key_id="LTAIother"), 404,
                            "InvalidAccessKeyId.NotFound")
        self.expect_refused(request_params("SendMms", SMS), 404, "InvalidAction.NotFound")
        p = request_params("SendSms", dict(SMS, SignatureMethod="HMAC-SHA256"))
        self.expect_refused(p, 400, "InvalidSignatureMethod")
        # A nonce is good once.
        p = request_params("SendSms", SMS, nonce="once")
        self.assertEqual(send(self.fake.url, p)[1]["Code"], "OK")
        self.expect_refused(request_params("SendSms", SMS, nonce="once"), 400,
                            "SignatureNonceUsed")

    def test_sms_parameter_checks(self):
        fake = fake_aliyun.FakeAliyun(key_id=KEY_ID, key_secret=SECRET, sign_name="安心养老",
                                      sms_template="SMS_000001")
        try:
            def code(fields):
                return send(fake.url, request_params("SendSms", fields))[1]["Code"]
            self.assertEqual(code(SMS), "OK")
            self.assertEqual(code(dict(SMS, SignName="别的")), "isv.SMS_SIGNATURE_ILLEGAL")
            self.assertEqual(code(dict(SMS, TemplateCode="SMS_9")), "isv.SMS_TEMPLATE_ILLEGAL")
            self.assertEqual(code(dict(SMS, TemplateParam="{not json")), "isv.INVALID_JSON_PARAM")
            self.assertEqual(code(dict(SMS, PhoneNumbers="12345")), "isv.MOBILE_NUMBER_ILLEGAL")
            self.assertEqual(code(dict(SMS, PhoneNumbers="85291234567")), "OK")
            fields = dict(SMS)
            del fields["SignName"]
            self.assertEqual(code(fields), "MissingParameter")
        finally:
            fake.close()

    def test_call_accepted_and_checked(self):
        st, answer, _ = send(self.fake.url, request_params("SingleCallByTts", CALL))
        self.assertEqual((st, answer["Code"]), (200, "OK"), answer)
        self.assertRegex(answer["CallId"], r"^\d+\^\d+$")
        self.assertEqual(len(self.fake.wait_count(1, "call")), 1)
        self.expect_refused(request_params("SingleCallByTts",
                                           dict(CALL, CalledNumber="057188886666")), 200, "OK")
        self.expect_refused(request_params("SingleCallByTts", dict(CALL, OutId="1" * 16)), 400,
                            "InvalidParameter")
        self.expect_refused(request_params("SingleCallByTts", dict(CALL, PlayTimes="4")), 400,
                            "InvalidParameter")
        long_param = json.dumps({"content": "警" * 240, "code": "1"}, ensure_ascii=False)
        self.expect_refused(request_params("SingleCallByTts", dict(CALL, TtsParam=long_param)),
                            200, "isv.PARAM_LENGTH_LIMIT")
        self.expect_refused(request_params("SingleCallByTts",
                                           dict(CALL, CalledNumber="4420712345678")),
                            200, "isv.MOBILE_NUMBER_ILLEGAL")

    def test_planned_failures(self):
        self.fake.fail_next(2, "throttle")
        self.fake.fail_next(1, "500")
        self.fake.fail_next(1, "garbage")
        # A mis-signed request is refused without using up the plan.
        self.expect_refused(request_params("SendSms", SMS, secret="x"), 400,
                            "SignatureDoesNotMatch")
        seen = []
        for _ in range(5):
            st, answer, ct = send(self.fake.url, request_params("SendSms", SMS))
            seen.append((st, answer["Code"] if isinstance(answer, dict) else "text"))
        self.assertEqual(seen, [(200, "isv.BUSINESS_LIMIT_CONTROL"),
                                (200, "isv.BUSINESS_LIMIT_CONTROL"),
                                (500, "InternalError"), (200, "text"), (200, "OK")])
        self.fake.fail_next(1, code="isv.DAY_LIMIT_CONTROL", message="触发日发送限额")
        st, answer, _ = send(self.fake.url, request_params("SendSms", SMS))
        self.assertEqual((st, answer["Code"], answer["Message"]),
                         (200, "isv.DAY_LIMIT_CONTROL", "触发日发送限额"))
        self.fake.fail_next(1, "flow", status=503)
        st, answer, _ = send(self.fake.url, request_params("SendSms", SMS))
        self.assertEqual((st, answer["Code"]), (503, "Throttling.User"))
        self.fake.slow_next(1, 0.3)
        t0 = time.monotonic()
        st, answer, _ = send(self.fake.url, request_params("SendSms", SMS))
        self.assertEqual(answer["Code"], "OK")
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)

    def test_report_bodies(self):
        send(self.fake.url, request_params("SendSms", SMS))
        send(self.fake.url, request_params("SingleCallByTts", CALL))
        sms = self.fake.wait_count(1, "sms")[0]
        call = self.fake.wait_count(1, "call")[0]

        item = json.loads(self.fake.sms_report(sms, success=True))[0]
        self.assertEqual(item["out_id"], "4711")
        self.assertEqual(item["biz_id"], sms["answer"]["BizId"])
        self.assertIs(item["success"], True)
        self.assertEqual(item["err_code"], "DELIVERED")
        self.assertRegex(item["report_time"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
        item = json.loads(self.fake.sms_report(sms, success=False))[0]
        self.assertIs(item["success"], False)
        self.assertNotEqual(item["err_code"], "DELIVERED")

        item = json.loads(self.fake.voice_report(call, answered=True, dtmf="1"))[0]
        self.assertEqual((item["out_id"], item["status_code"], item["smart_status_code"]),
                         ("4712", "200000", "ANSWERED"))
        self.assertEqual(item["call_id"], call["answer"]["CallId"])
        self.assertEqual(item["dtmf"], "1")
        item = json.loads(self.fake.voice_report(call, answered=False))[0]
        self.assertEqual((item["status_code"], item["duration"]), ("200003", "0"))
        item = json.loads(fake_aliyun.voice_report_body(9, answered=False, status_code="200002",
                                                        smart="USER_BUSY"))[0]
        self.assertEqual((item["out_id"], item["status_code"], item["smart_status_code"]),
                         ("9", "200002", "USER_BUSY"))
        # Beijing time: 2017-01-01 00:00:00 CST is 2016-12-31 16:00 UTC.
        item = json.loads(fake_aliyun.sms_report_body(1, when=1483200000))[0]
        self.assertEqual(item["report_time"], "2017-01-01 00:00:00")

    def test_post_report(self):
        import harness
        cap = harness.Capture()
        try:
            st, text = fake_aliyun.post_report(cap.url, fake_aliyun.sms_report_body(5))
            self.assertEqual(st, 200)
            rec = cap.wait_count(1)[0]
            self.assertEqual(rec["json"][0]["out_id"], "5")
            self.assertEqual(rec["headers"]["Content-Type"], "application/json")
        finally:
            cap.close()


if __name__ == "__main__":
    unittest.main()
