"""A loopback stand-in for Alibaba Cloud's 短信服务 (Dysmsapi SendSms) and
语音服务 (Dyvmsapi SingleCallByTts), both API version 2017-05-25, for the
integration tests, in the manner of harness.Capture: a ThreadingHTTPServer
on 127.0.0.1 that records every request and answers the way Aliyun does.
One server plays both endpoints (the Action tells them apart), so point both
`url` and `voice_url` at fake.url.

It checks what the real service checks before it sends anything: the
method (POST form by default; GET too if asked), the path "/", the common
parameters (AccessKeyId, Action, Format, SignatureMethod=HMAC-SHA1,
SignatureVersion=1.0, SignatureNonce, Timestamp, Version, Signature), the
Timestamp's form (yyyy-MM-ddTHH:mm:ssZ) and freshness (15 minutes either
way, InvalidTimeStamp.Expired), a nonce used once only (SignatureNonceUsed),
the AccessKey ID (InvalidAccessKeyId.NotFound, 404), and the Signature,
recomputed with hmac/hashlib from the secret given to the constructor
(SignatureDoesNotMatch, HTTP 400, with the server's StringToSign in the
message as Aliyun gives it). Then the Action's own parameters: SendSms
PhoneNumbers/SignName/TemplateCode and TemplateParam as JSON;
SingleCallByTts CalledNumber/TtsCode, TtsParam as JSON under 250
characters, PlayTimes 1-3, OutId at most 15 bytes. Answers are Aliyun's
JSON: {"Code":"OK","BizId":...} or {"Code":"OK","CallId":...}, or an error
Code with a Message and RequestId.

    fake = FakeAliyun(key_id="LTAIanxinTEST", key_secret="anxin-test-secret")
    conf += fake.conf_section("ali")   # type = aliyun, url = voice_url = fake.url, ...
    env = fake.env()                   # the AccessKey secret, for token_env
    fake.fail_next(2, "throttle")      # isv.BUSINESS_LIMIT_CONTROL twice
    fake.fail_next(1, "500")           # then one HTTP 500
    rec = fake.wait_count(1, "sms")[0]
    body = fake.sms_report(rec, success=True)     # an SmsReport push for it
    status, answer = post_report(report_url, body)

Checks of the fake's own (no Aliyun counterpart) answer with Codes that
start with "Fake." so a test failure says plainly which side objected.

Sources: help.aliyun.com "签名机制" (RPC), SendSms, SingleCallByTts,
"API错误码", SmsReport, VoiceReport and "呼叫状态码". The self-test is
test_fake_aliyun.py.
"""
import base64
import calendar
import datetime
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import fakehttp

VERSION = "2017-05-25"
SMS_ACTION = "SendSms"
CALL_ACTION = "SingleCallByTts"
MAX_SKEW_S = 15 * 60
CST = datetime.timezone(datetime.timedelta(hours=8))    # report times are Beijing time

COMMON = ("AccessKeyId", "Action", "Format", "SignatureMethod", "SignatureNonce",
          "SignatureVersion", "Timestamp", "Version", "Signature")
_TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_MAINLAND_RE = re.compile(r"^(1\d{10}|0\d{9,11})$")     # mobile, or landline with its 0
_INTL_RE = re.compile(r"^[1-9]\d{7,14}$")
_KEPT_CC_RE = re.compile(r"^(\+|00)?86\d{9,11}$")

# The planned failures: kind -> (HTTP status, Code, Message), or a raw body.
PLANS = {
    "throttle": (200, "isv.BUSINESS_LIMIT_CONTROL", "触发号码分钟级流控Permits:1"),
    "flow": (400, "Throttling.User", "Request was denied due to user flow control."),
    "system": (200, "isp.SYSTEM_ERROR", "isp.SYSTEM_ERROR"),
    "500": (500, "InternalError",
            "The request processing has failed due to some unknown error."),
    "number": (200, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号"),
    "arrears": (200, "isv.OUT_OF_SERVICE", "业务停机"),
    "garbage": (200, None, "<html><body>502 Bad Gateway</body></html>"),
}


def percent_encode(s):
    """RFC 3986 as Aliyun wants it: only A-Z a-z 0-9 - _ . ~ stay literal,
    UTF-8 bytes as %XX, space as %20."""
    return urllib.parse.quote(str(s), safe="-_.~")


def string_to_sign(method, params):
    """Method & %2F & pct(the sorted, encoded query), Signature left out."""
    pairs = sorted((k, v) for k, v in params.items() if k != "Signature")
    canon = "&".join("%s=%s" % (percent_encode(k), percent_encode(v)) for k, v in pairs)
    return "%s&%s&%s" % (method, percent_encode("/"), percent_encode(canon))


def signature(key_secret, method, params):
    """base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))."""
    mac = hmac.new((key_secret + "&").encode("utf-8"),
                   string_to_sign(method, params).encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def utc_timestamp(t=None):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if t is None else t))


def signed_params(key_id, key_secret, action, fields, method="POST", nonce=None,
                  timestamp=None):
    """fields plus the common parameters and a Signature, the way Aliyun's
    documentation builds a request (for tests that play anxind's part)."""
    p = {"AccessKeyId": key_id, "Action": action, "Format": "JSON", "RegionId": "cn-hangzhou",
         "SignatureMethod": "HMAC-SHA1", "SignatureNonce": nonce or str(uuid.uuid4()),
         "SignatureVersion": "1.0", "Timestamp": timestamp or utc_timestamp(),
         "Version": VERSION}
    p.update(fields)
    p["Signature"] = signature(key_secret, method, p)
    return p


def beijing_time(t=None):
    """ "2017-01-01 00:00:00" in Beijing time, as the reports write it."""
    t = time.time() if t is None else t
    return datetime.datetime.fromtimestamp(t, CST).strftime("%Y-%m-%d %H:%M:%S")


def sms_report_body(notification_id, success=True, biz_id=None, phone="1380000****",
                    err_code=None, err_msg=None, when=None):
    """An SmsReport push body (a JSON array of one) for a notification id."""
    item = {
        "phone_number": phone,
        "send_time": beijing_time(when),
        "report_time": beijing_time(when),
        "success": bool(success),
        "err_code": err_code or ("DELIVERED" if success else "MK:0001"),
        "err_msg": err_msg or ("用户接收成功" if success else "用户关机"),
        "sms_size": "1",
        "biz_id": biz_id or "%d^0" % (900000000000 + int(notification_id)),
        "out_id": str(notification_id),
    }
    return json.dumps([item], ensure_ascii=False).encode("utf-8")


def voice_report_body(notification_id, answered=True, call_id=None, status_code=None,
                      smart=None, dtmf=None, callee="1380000****", when=None):
    """A VoiceReport push body (a JSON array of one) for a notification id:
    answered = 200000 (listened to the end), else 200003 (not answered)."""
    t = time.time() if when is None else when
    code = status_code or ("200000" if answered else "200003")
    item = {
        "status_code": code,
        "smart_status_code": smart or ("ANSWERED" if answered else "NO_ANSWER"),
        "hangup_direction": "用户",
        "callee": callee,
        "caller": "0571****0000",
        "originate_time": beijing_time(t - 20),
        "ring_time": beijing_time(t - 18) if answered or code == "200003" else "",
        "start_time": beijing_time(t - 12) if answered else "",
        "end_time": beijing_time(t),
        "duration": "12" if answered else "0",
        "voice_type": "voice",
        "toll_type": "UNKNOWN",
        "call_id": call_id or "%d^%d" % (116000000000 + int(notification_id), 100),
        "status_msg": "用户听完" if answered else "用户未接听",
        "out_id": str(notification_id),
    }
    if dtmf is not None:
        item["dtmf"] = dtmf
    return json.dumps([item], ensure_ascii=False).encode("utf-8")


def post_report(url, body, timeout=10):
    """POSTs a report body as Aliyun does (application/json); returns
    (status, text)."""
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


class FakeAliyun(fakehttp.FakeServer):
    """The fake endpoints. `methods` are the HTTP methods it takes (anxin
    sends POST forms); `sign_name`, `sms_template`, `tts_template`, when
    given, are the only ones "approved" (others get Aliyun's ILLEGAL codes).
    `clock` returns the fake's idea of now (seconds), for Timestamp checks."""

    def __init__(self, key_id="LTAIanxinTEST", key_secret="anxin-test-secret",
                 methods=("POST",), sign_name=None, sms_template=None, tts_template=None,
                 clock=time.time):
        self.key_id = key_id
        self.key_secret = key_secret
        self.methods = tuple(methods)
        self.sign_name = sign_name
        self.sms_template = sms_template
        self.tts_template = tts_template
        self.clock = clock
        self.requests = []
        self.plan = []
        self.nonces = set()
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        fake = self

        class Handler(fakehttp.Handler):
            def do_GET(self):
                self._any("GET")

            def do_POST(self):
                self._any("POST")

            def _any(self, method):
                body = self.read_body()
                status, out, ctype, delay = fake._handle(method, self.path, dict(self.headers),
                                                         body)
                if delay:
                    time.sleep(delay)
                self.answer(status, out, ctype)

        self.start(Handler, poll_interval=0.05)
        self.url = "http://127.0.0.1:%d/" % self.port

    # ---- configuring ------------------------------------------------------

    def fail_next(self, n, kind="throttle", code=None, message=None, status=None, delay=0):
        """The next n requests that pass the signature checks get a planned
        failure: a kind from PLANS ("throttle", "flow", "system", "500",
        "number", "arrears", "garbage"), or code/message/status of your
        own. delay (seconds) holds the answer back."""
        if code is not None:
            plan = (status or 200, code, message or code)
        else:
            plan = PLANS[kind]
            if status is not None:
                plan = (status,) + plan[1:]
        with self.lock:
            self.plan.extend([(plan, delay)] * n)

    def slow_next(self, n, seconds):
        """The next n requests are answered normally after `seconds`."""
        with self.lock:
            self.plan.extend([(None, seconds)] * n)

    def conf_section(self, name, token_env="ANXIN_ALIYUN_SECRET", sign_name="安心养老",
                     template="SMS_000001", voice_template="TTS_000001", extra=""):
        """An anxind.conf [provider] section pointing at this fake (the
        AccessKey secret comes from the environment: see env())."""
        return ('[provider "%s"]\ntype = aliyun\nurl = %s\nvoice_url = %s\naccount = %s\n'
                'token_env = %s\nsign_name = %s\ntemplate = %s\nvoice_template = %s\n%s'
                % (name, self.url, self.url, self.key_id, token_env, sign_name, template,
                   voice_template, extra))

    def env(self, token_env="ANXIN_ALIYUN_SECRET"):
        return {token_env: self.key_secret}

    # ---- reading ----------------------------------------------------------

    def accepted(self, kind=None):
        """Requests answered Code OK, optionally only "sms" or "call"."""
        with self.lock:
            return [r for r in self.requests
                    if r["code"] == "OK" and (kind is None or r["kind"] == kind)]

    def refused(self):
        """Requests answered with anything but Code OK."""
        with self.lock:
            return [r for r in self.requests if r["code"] != "OK"]

    def wait_count(self, n, kind=None, timeout=10):
        """Waits for n accepted requests (of kind); returns them."""
        def explain(got):
            with self.lock:
                seen = [(r["status"], r["code"], r["problem"]) for r in self.requests]
            return ("timed out after %.1fs waiting for %d accepted %s requests; have %r"
                    % (timeout, n, kind or "", seen))
        return self.wait_for_count(lambda: self.accepted(kind), n, timeout, explain)

    # ---- Aliyun's side of reports -------------------------------------------

    def sms_report(self, rec, success=True, **kw):
        """An SmsReport body for an accepted SendSms record (its OutId and
        the BizId the fake gave it)."""
        return sms_report_body(int(rec["params"]["OutId"]), success,
                               biz_id=rec["answer"]["BizId"], **kw)

    def voice_report(self, rec, answered=True, **kw):
        """A VoiceReport body for an accepted SingleCallByTts record."""
        return voice_report_body(int(rec["params"]["OutId"]), answered,
                                 call_id=rec["answer"]["CallId"], **kw)

    # ---- answering ----------------------------------------------------------

    @staticmethod
    def _error(status, code, message):
        return status, {"RequestId": str(uuid.uuid4()).upper(), "HostId": "fake.aliyuncs.com",
                        "Code": code, "Message": message}

    def _handle(self, method, path, headers, body):
        rec = {"method": method, "path": path, "headers": headers, "body": body,
               "params": {}, "kind": None, "time": time.time(), "problem": None}
        status, answer = self._check(method, path, headers, body, rec)
        delay = 0
        raw = None
        if answer is None:
            with self.lock:
                planned = self.plan.pop(0) if self.plan else None
            if planned:
                plan, delay = planned
                if plan is not None:
                    st, code, message = plan
                    if code is None:
                        raw = message
                        status, answer = st, {"Code": None}
                    else:
                        status, answer = self._error(st, code, message)
            if answer is None:
                status, answer = self._accept(rec)
        rec["status"] = status
        rec["answer"] = answer
        rec["code"] = answer.get("Code")
        if rec["code"] != "OK" and not rec["problem"]:
            rec["problem"] = rec["code"] or "garbage"
        with self.lock:
            self.requests.append(rec)
        if raw is not None:
            return status, raw.encode("utf-8"), "text/html", delay
        return (status, json.dumps(answer, ensure_ascii=False).encode("utf-8"),
                "application/json;charset=utf-8", delay)

    def _accept(self, rec):
        n = next(self._ids)
        answer = {"Code": "OK", "Message": "OK", "RequestId": str(uuid.uuid4()).upper()}
        if rec["kind"] == "sms":
            answer["BizId"] = "%d^0" % (900619746936000 + n)
        else:
            answer["CallId"] = "%d^%d" % (116012354000 + n, 10281378000 + n)
        return 200, answer

    def _check(self, method, path, headers, body, rec):
        """(status, error answer) for a request Aliyun would refuse, else
        (None, None). Fills rec["params"] and rec["kind"]."""
        def refuse(status, code, message):
            rec["problem"] = "%s: %s" % (code, message)
            return self._error(status, code, message)

        if method not in self.methods:
            return refuse(400, "Fake.UnexpectedMethod",
                          "%s, expected %s" % (method, "/".join(self.methods)))
        url = urllib.parse.urlsplit(path)
        if url.path != "/":
            return refuse(404, "Fake.UnexpectedPath", url.path)
        try:
            if method == "POST":
                ctype = headers.get("Content-Type", "")
                if not ctype.startswith("application/x-www-form-urlencoded"):
                    return refuse(400, "Fake.UnexpectedContentType", ctype)
                if url.query:
                    return refuse(400, "Fake.QueryWithForm", "parameters in both URL and body")
                text = body.decode("utf-8")
            else:
                text = url.query
            pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=True,
                                           encoding="utf-8", errors="strict")
        except (UnicodeDecodeError, ValueError) as e:
            return refuse(400, "Fake.BadEncoding", str(e))
        if "+" in text:
            # The RFC 3986 encoding Aliyun signs has no '+' for space; a
            # form encoder's '+' would decode to a space and break the
            # signature in a way that is hard to see.
            return refuse(400, "Fake.PlusInForm", "'+' found: spaces must be %20")
        params = {}
        for k, v in pairs:
            if k in params:
                return refuse(400, "Fake.RepeatedParameter", k)
            params[k] = v
        rec["params"] = params

        for k in COMMON:
            if not params.get(k):
                return refuse(400, "MissingParameter", "%s is mandatory for this action." % k)
        if params["SignatureMethod"] != "HMAC-SHA1":
            return refuse(400, "InvalidSignatureMethod",
                          "Specified signature method is not valid.")
        if params["SignatureVersion"] != "1.0":
            return refuse(400, "InvalidSignatureVersion",
                          "Specified signature version is not valid.")
        if params["Format"] not in ("JSON", "XML"):
            return refuse(400, "Fake.UnexpectedFormat", params["Format"])
        ts = params["Timestamp"]
        if not _TS_RE.match(ts):
            return refuse(400, "InvalidTimeStamp.Format",
                          "Specified time stamp or date value is not well formatted.")
        try:
            when = calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ"))
        except ValueError:
            return refuse(400, "InvalidTimeStamp.Format",
                          "Specified time stamp or date value is not well formatted.")
        if abs(when - self.clock()) > MAX_SKEW_S:
            return refuse(400, "InvalidTimeStamp.Expired",
                          "Specified time stamp or date value is expired.")
        if params["AccessKeyId"] != self.key_id:
            return refuse(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        want = signature(self.key_secret, method, params)
        if not hmac.compare_digest(want.encode(), params["Signature"].encode()):
            return refuse(400, "SignatureDoesNotMatch",
                          "Specified signature is not matched with our calculation. server "
                          "string to sign is:" + string_to_sign(method, params))
        with self.lock:
            if params["SignatureNonce"] in self.nonces:
                used = True
            else:
                used = False
                self.nonces.add(params["SignatureNonce"])
        if used:
            return refuse(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
        if params["Version"] != VERSION:
            return refuse(400, "InvalidVersion", "Specified parameter Version is not valid.")

        action = params["Action"]
        if action == SMS_ACTION:
            rec["kind"] = "sms"
            return self._check_sms(params, refuse)
        if action == CALL_ACTION:
            rec["kind"] = "call"
            return self._check_call(params, refuse)
        return refuse(404, "InvalidAction.NotFound",
                      "Specified api is not found, please check your url and method.")

    def _check_sms(self, p, refuse):
        for k in ("PhoneNumbers", "SignName", "TemplateCode"):
            if not p.get(k):
                return refuse(400, "MissingParameter", "%s is mandatory for this action." % k)
        for number in p["PhoneNumbers"].split(","):
            if _KEPT_CC_RE.match(number):
                # Aliyun would take it; anxin's contract is to strip +86.
                return refuse(400, "Fake.CountryCodeKept", "mainland number sent with 86")
            if not (_MAINLAND_RE.match(number) or _INTL_RE.match(number)):
                return refuse(200, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        if self.sign_name is not None and p["SignName"] != self.sign_name:
            return refuse(200, "isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        if self.sms_template is not None and p["TemplateCode"] != self.sms_template:
            return refuse(200, "isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        if "TemplateParam" in p and not isinstance(_json_object(p["TemplateParam"]), dict):
            return refuse(200, "isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        if len(p.get("OutId", "")) >= 256:
            return refuse(200, "isv.INVALID_PARAMETERS", "OutId too long")
        return None, None

    def _check_call(self, p, refuse):
        for k in ("CalledNumber", "TtsCode"):
            if not p.get(k):
                return refuse(400, "MissingParameter", "%s is mandatory for this action." % k)
        if not _MAINLAND_RE.match(p["CalledNumber"]):
            return refuse(200, "isv.MOBILE_NUMBER_ILLEGAL", "号码格式非法")
        if self.tts_template is not None and p["TtsCode"] != self.tts_template:
            return refuse(200, "isv.TTS_TEMPLATE_ILLEGAL", "TTS模板不存在")
        if "TtsParam" in p:
            if not isinstance(_json_object(p["TtsParam"]), dict):
                return refuse(200, "isv.INVALID_JSON_PARAM", "JSON参数不合法")
            if len(p["TtsParam"]) >= 250:
                return refuse(200, "isv.PARAM_LENGTH_LIMIT", "参数超出长度限制")
        if "PlayTimes" in p and p["PlayTimes"] not in ("1", "2", "3"):
            return refuse(400, "InvalidParameter", "PlayTimes must be 1 to 3.")
        if not 1 <= len(p.get("OutId", "x").encode("utf-8")) <= 15:
            return refuse(400, "InvalidParameter", "OutId must be 1 to 15 bytes.")
        return None, None


def _json_object(s):
    try:
        return json.loads(s)
    except ValueError:
        return None
