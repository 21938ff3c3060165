"""A loopback stand-in for Tencent Cloud SMS (SendSms, API 3.0 version
2021-01-11) for the integration tests, in the manner of harness.Capture: a
ThreadingHTTPServer on 127.0.0.1 that records every request and answers the
way Tencent documents.

It checks what the real service checks before it sends anything: POST to
"/", a JSON Content-Type, X-TC-Action SendSms, X-TC-Version 2021-01-11, an
X-TC-Region, an X-TC-Timestamp within five minutes of its clock
(AuthFailure.SignatureExpire), and the TC3-HMAC-SHA256 Authorization header,
recomputed with hmac/hashlib from the secret key given to the constructor
over the headers the request names in SignedHeaders (a wrong one gets
AuthFailure.SignatureFailure). Then the body: PhoneNumberSet, SmsSdkAppId,
TemplateId; each number gets its own SendStatus ("Ok" and a SerialNo, or
InvalidParameterValue.IncorrectPhoneNumber). All answers are HTTP 200 with
{"Response": {...}} as Tencent's are, except the planned 500s.

    fake = FakeTencent(secret_id="AKIDtest", secret_key="testkey")
    conf += fake.conf_section("tx")     # type = tencent, url = fake.url, ...
    env = fake.env()                    # the SecretKey, for token_env
    fake.fail_next(2, "limit")      # LimitExceeded for the next two requests
    fake.fail_next(1, "500")        # then one HTTP 500
    fake.wait_count(1)
    body = fake.callback_for(ok=True)   # a 回执 body for what was sent

Sources: 签名方法 v3 / "Signature v3"; SendSms (cloud.tencent.com/document/
api/382/55981); error codes (382/52075); 短信下发状态通知 (382/5807).
The self-test is test_fake_tencent.py.
"""
import datetime
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
import uuid

import fakehttp

SERVICE = "sms"
ACTION = "SendSms"
VERSION = "2021-01-11"
CONTENT_TYPE = "application/json; charset=utf-8"
ALGORITHM = "TC3-HMAC-SHA256"
CST = datetime.timezone(datetime.timedelta(hours=8))    # China Standard Time

_AUTH_RE = re.compile(r"^TC3-HMAC-SHA256 Credential=([^/ ]+)/(\d{4}-\d{2}-\d{2})/([a-z0-9-]+)"
                      r"/tc3_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$")
_E164_RE = re.compile(r"^\+[1-9][0-9]{7,14}$")


def utc_date(timestamp):
    return datetime.datetime.fromtimestamp(int(timestamp), datetime.timezone.utc).strftime(
        "%Y-%m-%d")


def tc3_signature(secret_key, service, timestamp, headers, signed_headers, payload,
                  method="POST", uri="/", query=""):
    """The TC3-HMAC-SHA256 signature (hex) of a request. headers maps
    lower-case names to values; signed_headers lists the names to sign, in
    order. payload is bytes. Returns (signature, hashed canonical request)."""
    canonical_headers = "".join("%s:%s\n" % (name, headers[name].strip().lower())
                                for name in signed_headers)
    canonical = "\n".join([method, uri, query, canonical_headers, ";".join(signed_headers),
                           hashlib.sha256(payload).hexdigest()])
    hashed = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    date = utc_date(timestamp)
    to_sign = "\n".join([ALGORITHM, str(int(timestamp)), "%s/%s/tc3_request" % (date, service),
                         hashed])

    def mac(key, msg):
        return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()

    key = mac(mac(mac(("TC3" + secret_key).encode("utf-8"), date), service), "tc3_request")
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest(), hashed


def callback_body(entries):
    """The body Tencent POSTs to the delivery-status callback (a JSON array).
    Each entry is a dict with "sid" (the SerialNo) and optionally "ok"
    (default True), "mobile" (national number), "nationcode" (default "86"),
    "errmsg", "description" and "time" (epoch seconds, written in Beijing
    time as Tencent does; default now)."""
    out = []
    for e in entries:
        ok = e.get("ok", True)
        when = datetime.datetime.fromtimestamp(e.get("time", time.time()), CST)
        out.append({
            "user_receive_time": when.strftime("%Y-%m-%d %H:%M:%S"),
            "nationcode": e.get("nationcode", "86"),
            "mobile": e.get("mobile", "13800000000"),
            "report_status": "SUCCESS" if ok else "FAIL",
            "errmsg": e.get("errmsg", "DELIVRD" if ok else "MK:0001"),
            "description": e.get("description", "用户短信送达成功" if ok else "用户短信未送达"),
            "sid": e["sid"],
        })
    return json.dumps(out, ensure_ascii=False).encode("utf-8")


class FakeTencent(fakehttp.FakeServer):
    """The fake SendSms endpoint. `requests` records every request as a dict:
    method, path, headers, body (bytes), json, status (HTTP), code (the
    error code or the first SendStatus code), statuses (the SendStatusSet
    sent back), time. Give `sdk_app_id` to have SmsSdkAppId checked too."""

    def __init__(self, secret_id="AKIDanxinTEST", secret_key="anxin-test-key",
                 host="sms.tencentcloudapi.com", sdk_app_id=None, max_skew=300, clock=time.time):
        self.secret_id = secret_id
        self.secret_key = secret_key
        self.host = host
        self.sdk_app_id = sdk_app_id
        self.max_skew = max_skew
        self.clock = clock
        self.requests = []
        self.plan = []
        self.lock = threading.Lock()
        self._serial = itertools.count(1)
        fake = self

        class Handler(fakehttp.Handler):
            def do_GET(self):
                self.answer(405, b"POST only\n", "text/plain")

            def do_POST(self):
                body = self.read_body()
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, answer, rec = fake._handle(self.path, headers, body)
                rec.update(method="POST", path=self.path, headers=dict(self.headers), body=body)
                with fake.lock:
                    fake.requests.append(rec)
                if rec.get("delay"):
                    time.sleep(rec["delay"])
                if status == 200:
                    self.answer(200, json.dumps(answer, ensure_ascii=False).encode("utf-8"),
                                "application/json")
                else:
                    self.answer(status, answer, "text/plain")

        self.start(Handler, poll_interval=0.1)
        self.url = "http://127.0.0.1:%d/" % self.port

    # ---- what the tests steer and read ---------------------------------------

    def fail_next(self, n, kind="limit", code=None, message=None, delay=0):
        """Answers the next n requests otherwise (each request takes one
        entry, valid or not):
          "limit"  the number's SendStatus is LimitExceeded.PhoneNumberThirtySecondLimit
          "status" the number's SendStatus is `code` (e.g. a template refusal)
          "error"  Response.Error with `code` (default RequestLimitExceeded)
          "500"    HTTP 500 with a plain-text body, before any check
          "ok"     the normal answer (with `delay`, a slow one)
        `delay` seconds are waited before answering."""
        assert kind in ("limit", "status", "error", "500", "ok"), kind
        with self.lock:
            self.plan.extend([{"kind": kind, "code": code, "message": message,
                               "delay": delay}] * n)

    def conf_section(self, name, token_env="ANXIN_TENCENT_KEY", template="1110",
                     sign_name="安心养老", extra=""):
        """An anxind.conf [provider] section pointing at this fake (the
        SecretKey comes from the environment: see env())."""
        return ('[provider "%s"]\ntype = tencent\nurl = %s\naccount = %s\ntoken_env = %s\n'
                'app_id = %s\nsign_name = %s\ntemplate = %s\n%s'
                % (name, self.url, self.secret_id, token_env, self.sdk_app_id or "1400006666",
                   sign_name, template, extra))

    def env(self, token_env="ANXIN_TENCENT_KEY"):
        return {token_env: self.secret_key}

    def sent(self):
        """The requests Tencent would have sent an SMS for."""
        with self.lock:
            return [r for r in self.requests if r["code"] == "Ok"]

    def wait_count(self, n, timeout=10):
        """Waits until n SMS were accepted; returns them."""
        return self.wait_for_count(self.sent, n, timeout,
                                   lambda got: "timed out waiting for %d Tencent SMS (have %d)"
                                   % (n, len(got)))

    def callback_for(self, ok=True, records=None, **extra):
        """A callback body reporting every accepted number of `records`
        (default: all accepted requests) as delivered (ok) or not."""
        entries = []
        for r in (records if records is not None else self.sent()):
            for st in r["statuses"]:
                if st["Code"] != "Ok":
                    continue
                phone = st["PhoneNumber"]
                cc, national = ("86", phone[3:]) if phone.startswith("+86") else ("", phone)
                e = {"sid": st["SerialNo"], "ok": ok, "mobile": national, "nationcode": cc}
                e.update(extra)
                entries.append(e)
        return callback_body(entries)

    # ---- the service ------------------------------------------------------------

    @staticmethod
    def _error(code, message):
        return {"Response": {"Error": {"Code": code, "Message": message},
                             "RequestId": str(uuid.uuid4())}}

    def _handle(self, path, headers, body):
        with self.lock:
            plan = self.plan.pop(0) if self.plan else {"kind": "ok", "code": None,
                                                       "message": None, "delay": 0}
        rec = {"time": time.time(), "delay": plan["delay"], "statuses": [], "json": None}
        if plan["kind"] == "500":
            rec.update(status=500, code="HTTP 500")
            return 500, b"Internal Server Error\n", rec
        problem = self._check(path, headers, body)
        if problem:
            rec.update(status=200, code=problem[0])
            return 200, self._error(*problem), rec
        req = json.loads(body)
        rec["json"] = req
        if plan["kind"] == "error":
            code = plan["code"] or "RequestLimitExceeded"
            rec.update(status=200, code=code)
            default = {"RequestLimitExceeded": "request limit exceeded",
                       "InternalError.Timeout": "request timed out"}.get(code, "planned failure")
            return 200, self._error(code, plan["message"] or default), rec
        statuses = []
        for phone in req["PhoneNumberSet"]:
            st = {"SerialNo": "", "PhoneNumber": phone, "Fee": 0,
                  "SessionContext": req.get("SessionContext", ""), "IsoCode": ""}
            if not _E164_RE.match(phone):
                st.update(Code="InvalidParameterValue.IncorrectPhoneNumber",
                          Message="incorrect phone number")
            elif plan["kind"] == "limit":
                st.update(Code="LimitExceeded.PhoneNumberThirtySecondLimit",
                          Message="the number of SMS messages sent from a single mobile number "
                                  "within 30 seconds exceeds the upper limit",
                          IsoCode="CN" if phone.startswith("+86") else "")
            elif plan["kind"] == "status":
                st.update(Code=plan["code"] or "FailedOperation.TemplateIncorrectOrUnapproved",
                          Message=plan["message"] or "template is not approved or not exist")
            else:
                st.update(SerialNo="2640:%027d" % next(self._serial), Fee=1, Code="Ok",
                          Message="send success",
                          IsoCode="CN" if phone.startswith("+86") else "")
            statuses.append(st)
        rec.update(status=200, code=statuses[0]["Code"], statuses=statuses)
        return 200, {"Response": {"SendStatusSet": statuses,
                                  "RequestId": str(uuid.uuid4())}}, rec

    def _check(self, path, headers, body):
        """(code, message) of the first thing Tencent would refuse, or None."""
        if path != "/":
            return "InvalidAction", "the API 3.0 endpoint is /, not %s" % path
        ctype = headers.get("content-type", "")
        if ctype.split(";")[0].strip().lower() != "application/json":
            return "InvalidParameter", "Content-Type must be application/json"
        for h in ("x-tc-action", "x-tc-version", "x-tc-timestamp", "x-tc-region",
                  "authorization", "host"):
            if not headers.get(h):
                return "MissingParameter", "missing header %s" % h
        if headers["x-tc-action"] != ACTION:
            return "InvalidAction", "unknown action %s" % headers["x-tc-action"]
        if headers["x-tc-version"] != VERSION:
            return "NoSuchVersion", "unknown version %s" % headers["x-tc-version"]
        try:
            ts = int(headers["x-tc-timestamp"])
        except ValueError:
            return "InvalidParameter", "X-TC-Timestamp is not an integer"
        if abs(self.clock() - ts) > self.max_skew:
            return ("AuthFailure.SignatureExpire",
                    "Signature expired. Timestamp and server time cannot differ by more than "
                    "five minutes.")
        m = _AUTH_RE.match(headers["authorization"])
        if not m:
            return ("AuthFailure.InvalidAuthorization",
                    "Authorization in the request header is invalid.")
        secret_id, date, service, signed, signature = m.groups()
        if secret_id != self.secret_id:
            return "AuthFailure.SecretIdNotFound", "The SecretId is not found."
        names = signed.split(";")
        if ("content-type" not in names or "host" not in names or names != sorted(names)
                or any(n not in headers for n in names)):
            return ("AuthFailure.InvalidAuthorization",
                    "SignedHeaders must list content-type and host, sorted, all present.")
        if headers["host"].lower() != self.host.lower():
            # The signature covers Host: a client that lets its HTTP library
            # send 127.0.0.1:port would fail against the real service.
            return ("AuthFailure.SignatureFailure",
                    "Host %s is not %s" % (headers["host"], self.host))
        want, _ = tc3_signature(self.secret_key, SERVICE, ts, headers, names, body)
        if (date != utc_date(ts) or service != SERVICE
                or not hmac.compare_digest(want, signature)):
            return ("AuthFailure.SignatureFailure",
                    "The provided credentials could not be validated. Please check your "
                    "signature is correct.")
        try:
            req = json.loads(body)
        except ValueError:
            return "FailedOperation.FailResolvePacket", "the body is not JSON"
        if not isinstance(req, dict):
            return "FailedOperation.FailResolvePacket", "the body is not a JSON object"
        phones = req.get("PhoneNumberSet")
        if (not isinstance(phones, list) or not phones or len(phones) > 200
                or not all(isinstance(p, str) for p in phones)):
            return "MissingParameter", "PhoneNumberSet must hold 1 to 200 numbers"
        for key in ("SmsSdkAppId", "TemplateId"):
            if not isinstance(req.get(key), str) or not req[key]:
                return "MissingParameter", "missing %s" % key
        if self.sdk_app_id is not None and req["SmsSdkAppId"] != self.sdk_app_id:
            return "InvalidParameterValue.SdkAppIdNotExist", "SdkAppId does not exist"
        params = req.get("TemplateParamSet", [])
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            return "InvalidParameterValue.TemplateParameterFormatError", "bad TemplateParamSet"
        ctx = req.get("SessionContext", "")
        if not isinstance(ctx, str) or len(ctx.encode("utf-8")) >= 512:
            return "InvalidParameter", "SessionContext must be a string under 512 bytes"
        return None
