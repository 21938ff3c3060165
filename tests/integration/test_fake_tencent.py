"""Self-test of fake_tencent.FakeTencent (no services needed): requests
signed the way Tencent's 签名方法 v3 describes are accepted, tampered or
mis-signed ones refused as Tencent refuses them, and the planned failures
and callback bodies come out as documented.

The signer here is written again from the documentation's steps, not taken
from the fake, and is first checked against the documentation's worked
example (CVM DescribeInstances, timestamp 1551113065): Signature 72e494ea...
with SignedHeaders content-type;host and key Gu5t9xGARNpq86cd98joQYCN3EXAMPLE
(2019 edition, also the English "Signature v3"), and be4f67d3... with
content-type;host;x-tc-action and the key printed as
Gu5t9xGARNpq86cd98joQYCN3******* (current Chinese edition)."""
import datetime
import hashlib
import hmac
import http.client
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fake_tencent  # noqa: E402

DOC_PAYLOAD = ('{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], '
               '"Name": "instance-name"}]}')
SECRET_ID = "AKIDselftest"
SECRET_KEY = "self-test-key"


def doc_sign(secret_key, service, host, action, timestamp, payload, sign_action=True,
             content_type="application/json; charset=utf-8"):
    """签名方法 v3, step by step: 1. CanonicalRequest, 2. StringToSign,
    3. the derived key and the signature. Returns (signed headers, hex)."""
    headers = [("content-type", content_type), ("host", host)]
    if sign_action:
        headers.append(("x-tc-action", action))
    signed = ";".join(k for k, _ in headers)
    canonical = ("POST\n/\n\n" + "".join("%s:%s\n" % (k, v.lower()) for k, v in headers) + "\n"
                 + signed + "\n" + hashlib.sha256(payload).hexdigest())
    date = datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime("%Y-%m-%d")
    string_to_sign = ("TC3-HMAC-SHA256\n%d\n%s/%s/tc3_request\n%s"
                      % (timestamp, date, service,
                         hashlib.sha256(canonical.encode()).hexdigest()))
    secret_date = hmac.new(("TC3" + secret_key).encode(), date.encode(), hashlib.sha256).digest()
    secret_service = hmac.new(secret_date, service.encode(), hashlib.sha256).digest()
    secret_signing = hmac.new(secret_service, b"tc3_request", hashlib.sha256).digest()
    return signed, hmac.new(secret_signing, string_to_sign.encode(), hashlib.sha256).hexdigest()


def sms_headers(body, timestamp=None, secret_id=SECRET_ID, secret_key=SECRET_KEY,
                host="sms.tencentcloudapi.com", sign_action=True):
    ts = int(time.time()) if timestamp is None else timestamp
    signed, sig = doc_sign(secret_key, "sms", host, "SendSms", ts, body, sign_action)
    date = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%d")
    return {
        "Authorization": "TC3-HMAC-SHA256 Credential=%s/%s/sms/tc3_request, SignedHeaders=%s, "
                         "Signature=%s" % (secret_id, date, signed, sig),
        "Content-Type": "application/json; charset=utf-8",
        "Host": host,
        "X-TC-Action": "SendSms",
        "X-TC-Timestamp": str(ts),
        "X-TC-Version": "2021-01-11",
        "X-TC-Region": "ap-guangzhou",
    }


def sms_body(phone="+8613800000001", session="4711"):
    return json.dumps({"PhoneNumberSet": [phone], "SmsSdkAppId": "1400006666",
                       "TemplateId": "1110", "SignName": "安心养老",
                       "TemplateParamSet": ["王奶奶 SOS 呼叫", "4827"],
                       "SessionContext": session}, ensure_ascii=False).encode("utf-8")


class FakeTencentTest(unittest.TestCase):
    def setUp(self):
        self.fake = fake_tencent.FakeTencent(secret_id=SECRET_ID, secret_key=SECRET_KEY,
                                             sdk_app_id="1400006666")

    def tearDown(self):
        self.fake.close()

    def post(self, body, headers, path="/"):
        conn = http.client.HTTPConnection("127.0.0.1", self.fake.port, timeout=5)
        try:
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        return resp.status, (json.loads(data) if resp.status == 200 else data)

    def error_code(self, answer):
        return answer["Response"]["Error"]["Code"]

    # ---- the documentation's example ----------------------------------------

    def test_doc_example(self):
        payload = DOC_PAYLOAD.encode()
        self.assertEqual(doc_sign("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", "cvm",
                                  "cvm.tencentcloudapi.com", "DescribeInstances", 1551113065,
                                  payload, sign_action=False),
                         ("content-type;host",
                          "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"))
        self.assertEqual(doc_sign("Gu5t9xGARNpq86cd98joQYCN3*******", "cvm",
                                  "cvm.tencentcloudapi.com", "DescribeInstances", 1551113065,
                                  payload),
                         ("content-type;host;x-tc-action",
                          "be4f67d323c78ab9acb7395e43c0dbcf822a9cfac32fea2449a7bc7726b770a3"))
        # The fake's own verifier agrees, intermediate value included.
        headers = {"content-type": "application/json; charset=utf-8",
                   "host": "cvm.tencentcloudapi.com", "x-tc-action": "DescribeInstances"}
        sig, hashed = fake_tencent.tc3_signature(
            "Gu5t9xGARNpq86cd98joQYCN3*******", "cvm", 1551113065, headers,
            ["content-type", "host", "x-tc-action"], payload)
        self.assertEqual(hashed,
                         "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84")
        self.assertEqual(sig, "be4f67d323c78ab9acb7395e43c0dbcf822a9cfac32fea2449a7bc7726b770a3")
        sig, hashed = fake_tencent.tc3_signature(
            "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", "cvm", 1551113065, headers,
            ["content-type", "host"], payload)
        self.assertEqual(hashed,
                         "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031")
        self.assertEqual(sig, "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168")

    # ---- accepted ------------------------------------------------------------------

    def test_accepts_documented_signing(self):
        body = sms_body()
        status, answer = self.post(body, sms_headers(body))
        self.assertEqual(status, 200)
        st = answer["Response"]["SendStatusSet"]
        self.assertEqual(len(st), 1)
        self.assertEqual(st[0]["Code"], "Ok")
        self.assertEqual(st[0]["Message"], "send success")
        self.assertEqual(st[0]["SessionContext"], "4711")
        self.assertEqual(st[0]["PhoneNumber"], "+8613800000001")
        self.assertRegex(st[0]["SerialNo"], r"^2640:[0-9]{27}$")
        self.assertTrue(answer["Response"]["RequestId"])
        self.assertEqual(len(self.fake.sent()), 1)
        self.assertEqual(self.fake.sent()[0]["json"]["TemplateParamSet"][1], "4827")
        # Signing only content-type;host (the 2019 edition) is accepted too.
        status, answer = self.post(body, sms_headers(body, sign_action=False))
        self.assertEqual(answer["Response"]["SendStatusSet"][0]["Code"], "Ok")
        self.assertEqual(len(self.fake.wait_count(2)), 2)

    def test_incorrect_number(self):
        body = sms_body(phone="+86138")
        status, answer = self.post(body, sms_headers(body))
        st = answer["Response"]["SendStatusSet"][0]
        self.assertEqual(st["Code"], "InvalidParameterValue.IncorrectPhoneNumber")
        self.assertEqual(st["SerialNo"], "")
        self.assertEqual(self.fake.sent(), [])

    # ---- refused ---------------------------------------------------------------------

    def test_rejects_tampered_body(self):
        body = sms_body()
        headers = sms_headers(body)
        tampered = body.replace(b"+8613800000001", b"+8613900000009")
        status, answer = self.post(tampered, headers)
        self.assertEqual(status, 200)
        self.assertEqual(self.error_code(answer), "AuthFailure.SignatureFailure")
        self.assertEqual(self.fake.sent(), [])
        self.assertEqual(self.fake.requests[-1]["code"], "AuthFailure.SignatureFailure")

    def test_rejects_bad_credentials_and_headers(self):
        body = sms_body()
        cases = [
            (sms_headers(body, secret_key="other"), "AuthFailure.SignatureFailure"),
            (sms_headers(body, secret_id="AKIDother"), "AuthFailure.SecretIdNotFound"),
            (sms_headers(body, timestamp=int(time.time()) - 301), "AuthFailure.SignatureExpire"),
            (sms_headers(body, host="127.0.0.1"), "AuthFailure.SignatureFailure"),
            (dict(sms_headers(body), **{"X-TC-Action": "SendSmsX"}), "InvalidAction"),
            (dict(sms_headers(body), **{"X-TC-Version": "2019-07-11"}), "NoSuchVersion"),
            (dict(sms_headers(body), **{"X-TC-Region": ""}), "MissingParameter"),
            (dict(sms_headers(body), **{"Authorization": "Bearer x"}),
             "AuthFailure.InvalidAuthorization"),
            (dict(sms_headers(body), **{"Content-Type": "application/x-www-form-urlencoded"}),
             "InvalidParameter"),
        ]
        for headers, code in cases:
            status, answer = self.post(body, headers)
            self.assertEqual(status, 200)
            self.assertEqual(self.error_code(answer), code, headers)
        # A changed header that was signed breaks the signature.
        headers = sms_headers(body)
        headers["Content-Type"] = "application/json"
        self.assertEqual(self.error_code(self.post(body, headers)[1]),
                         "AuthFailure.SignatureFailure")
        self.assertEqual(self.fake.sent(), [])

    def test_rejects_bad_body(self):
        for body, code in [(b"not json", "FailedOperation.FailResolvePacket"),
                           (b'{"PhoneNumberSet": []}', "MissingParameter"),
                           (json.dumps({"PhoneNumberSet": ["+8613800000001"],
                                        "SmsSdkAppId": "1", "TemplateId": "1"}).encode(),
                            "InvalidParameterValue.SdkAppIdNotExist")]:
            status, answer = self.post(body, sms_headers(body))
            self.assertEqual(self.error_code(answer), code)

    # ---- planned failures ------------------------------------------------------------

    def test_planned_failures(self):
        self.fake.fail_next(2, "limit")
        self.fake.fail_next(1, "500")
        self.fake.fail_next(1, "error", code="InternalError.Timeout")
        body = sms_body()
        for _ in range(2):
            status, answer = self.post(body, sms_headers(body))
            st = answer["Response"]["SendStatusSet"][0]
            self.assertEqual(st["Code"], "LimitExceeded.PhoneNumberThirtySecondLimit")
            self.assertEqual(st["SerialNo"], "")
        status, data = self.post(body, sms_headers(body))
        self.assertEqual(status, 500)
        status, answer = self.post(body, sms_headers(body))
        self.assertEqual(self.error_code(answer), "InternalError.Timeout")
        status, answer = self.post(body, sms_headers(body))
        self.assertEqual(answer["Response"]["SendStatusSet"][0]["Code"], "Ok")
        self.assertEqual([r["code"] for r in self.fake.requests],
                         ["LimitExceeded.PhoneNumberThirtySecondLimit"] * 2
                         + ["HTTP 500", "InternalError.Timeout", "Ok"])

    # ---- the callback ---------------------------------------------------------------

    def test_callback_body(self):
        body = sms_body()
        self.post(body, sms_headers(body))
        serial = self.fake.sent()[0]["statuses"][0]["SerialNo"]
        entries = json.loads(self.fake.callback_for(ok=False, time=1445040184))
        self.assertEqual(entries, [{
            "user_receive_time": "2015-10-17 08:03:04", "nationcode": "86",
            "mobile": "13800000001", "report_status": "FAIL", "errmsg": "MK:0001",
            "description": "用户短信未送达", "sid": serial}])
        many = json.loads(fake_tencent.callback_body([{"sid": "a"}, {"sid": "b", "ok": False}]))
        self.assertEqual([e["report_status"] for e in many], ["SUCCESS", "FAIL"])
        self.assertEqual([e["errmsg"] for e in many], ["DELIVRD", "MK:0001"])

    def test_conf_section(self):
        conf = self.fake.conf_section("tx")
        self.assertIn('[provider "tx"]\ntype = tencent\nurl = %s\n' % self.fake.url, conf)
        self.assertIn("account = %s\n" % SECRET_ID, conf)
        self.assertIn("app_id = 1400006666\n", conf)
        self.assertEqual(self.fake.env(), {"ANXIN_TENCENT_KEY": SECRET_KEY})


if __name__ == "__main__":
    unittest.main()
