"""A loopback fake of Twilio's REST API (Messages and Calls) for the
integration tests, and the other direction: status callbacks and <Gather>
key presses signed like Twilio signs them, to post at anxind.

    tw = FakeTwilio()                       # ThreadingHTTPServer on 127.0.0.1:0
    conf += tw.conf_section("tw", "http://127.0.0.1:%d/hooks/tw" % port)
    env = tw.env()                          # the Auth Token, for token_env
    ...
    rec = tw.wait_count(1, kind="sms")[0]   # what anxind sent, checked
    assert not rec["problems"], rec["problems"]
    tw.send_status(rec, "delivered")        # signed callback to its StatusCallback
    tw.press(call_rec, "1")                 # signed <Gather> post to its action URL

What the fake checks, as Twilio would (a failed check is answered with
Twilio's error JSON and its code, and listed in the record's "problems"):
POST only; the path /2010-04-01/Accounts/<our AccountSid>/Messages.json or
Calls.json; HTTP basic auth AccountSid:AuthToken (401, code 20003); a form
body (application/x-www-form-urlencoded); To and From in E.164 (21211,
21212); Body present (21602) and at most 1600 characters (21617), or Twiml
that parses as XML with a <Response> root and at most 4000 characters
(32018); callback URLs absolute http(s) (21609); StatusCallbackEvent values
among initiated ringing answered completed.

Planned answers: fail_next(n, 500) or throttle_next(n) (429 with
Retry-After) make the next n requests fail before any check, whatever they
are, like Twilio's own overload does; slow_next(n, seconds) delays them.

The signature: base64(HMAC-SHA1(AuthToken, URL + every form field's name and
value, sorted by name then value)), computed here with Python's hmac, on its
own, so a test comparing it with anxind's C code compares two
implementations. Run this file to run its self-test
(tests/integration/test_fake_twilio.py).
"""
import base64
import hashlib
import hmac
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from email.utils import formatdate

import fakehttp

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "f00dfeed" * 4
FROM = "+14155550100"
API_VERSION = "2010-04-01"

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
CALL_EVENTS = {"initiated", "ringing", "answered", "completed"}


def signature(auth_token, url, fields):
    """X-Twilio-Signature of a request to url with the (decoded) form fields,
    a list of (name, value) pairs or a dict."""
    pairs = list(fields.items()) if isinstance(fields, dict) else list(fields)
    data = url + "".join(k + v for k, v in sorted(pairs))
    mac = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def signed_request(url, fields, auth_token=AUTH_TOKEN, sig=None):
    """(body bytes, headers) of a form post Twilio would make to url; sig
    overrides the signature (None = the right one, "" = no header)."""
    pairs = list(fields.items()) if isinstance(fields, dict) else list(fields)
    body = urllib.parse.urlencode(pairs).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
               "User-Agent": "TwilioProxy/1.1",
               "I-Twilio-Idempotency-Token": str(uuid.uuid4())}
    if sig is None:
        sig = signature(auth_token, url, pairs)
    if sig != "":
        headers["X-Twilio-Signature"] = sig
    return body, headers


def post(url, body, headers, timeout=10):
    """POSTs and returns (status, body bytes); HTTP errors are answers too."""
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def message_status_fields(message_sid, status, to, from_=FROM, error_code=None,
                          account_sid=ACCOUNT_SID):
    """The fields of a Messages status callback."""
    f = [("AccountSid", account_sid), ("ApiVersion", API_VERSION), ("From", from_),
         ("MessageSid", message_sid), ("MessageStatus", status), ("SmsSid", message_sid),
         ("SmsStatus", status), ("To", to)]
    if error_code is not None:
        f.append(("ErrorCode", str(error_code)))
    return f


def call_status_fields(call_sid, status, to, from_=FROM, duration=None, sequence=0,
                       account_sid=ACCOUNT_SID, timestamp=None, error_code=None):
    """The fields of a Calls status callback (CallStatus, CallDuration when
    the call has ended, Timestamp in RFC 2822)."""
    f = [("AccountSid", account_sid), ("ApiVersion", API_VERSION), ("CallSid", call_sid),
         ("CallStatus", status), ("Called", to), ("Caller", from_), ("Direction", "outbound-api"),
         ("From", from_), ("SequenceNumber", str(sequence)),
         ("Timestamp", formatdate(timestamp, usegmt=False).replace("-0000", "+0000")),
         ("To", to)]
    if duration is not None:
        f.append(("CallDuration", str(duration)))
    if error_code is not None:
        f.append(("ErrorCode", str(error_code)))
    return f


def gather_fields(call_sid, digits, to, from_=FROM, account_sid=ACCOUNT_SID):
    """The fields of a <Gather> action post after a key press."""
    return [("AccountSid", account_sid), ("ApiVersion", API_VERSION), ("CallSid", call_sid),
            ("CallStatus", "in-progress"), ("Called", to), ("Caller", from_),
            ("Digits", digits), ("Direction", "outbound-api"), ("FinishedOnKey", ""),
            ("From", from_), ("To", to), ("msg", "Gather End")]


def _error(code, message, status):
    return {"code": code, "message": message,
            "more_info": "https://www.twilio.com/docs/errors/%d" % code, "status": status}


def _absolute_url(u):
    p = urllib.parse.urlsplit(u)
    return p.scheme in ("http", "https") and bool(p.netloc)


class FakeTwilio(fakehttp.FakeServer):
    """A loopback Twilio. `requests` lists every request (dicts: method,
    path, headers, body, form (pairs), fields (name -> first value), kind
    ("sms", "call" or None), status, sid, problems, time)."""

    def __init__(self, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_=FROM):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_ = from_
        self.requests = []
        self.plan = []              # [(status, retry_after, delay)] for the next requests
        self.lock = threading.Lock()
        fake = self

        class Handler(fakehttp.Handler):
            def _any(self):
                body = self.read_body()
                status, extra, out, delay = fake._answer(self.command, self.path,
                                                         dict(self.headers), body)
                if delay:
                    time.sleep(delay)
                data = json.dumps(out, ensure_ascii=False).encode()
                self.answer(status, data, "application/json; charset=utf-8", extra)

            do_POST = do_GET = do_PUT = do_DELETE = _any

        self.start(Handler)
        self.base = "http://127.0.0.1:%d" % self.port

    # ---- configuring ------------------------------------------------------

    def fail_next(self, n, status=500, retry_after=None):
        """The next n requests get `status` (with Retry-After if given)."""
        with self.lock:
            self.plan.extend([(status, retry_after, 0)] * n)

    def throttle_next(self, n, retry_after=1):
        """The next n requests get 429 Too Many Requests (code 20429)."""
        self.fail_next(n, 429, retry_after)

    def slow_next(self, n, seconds):
        """The next n requests are answered normally after `seconds`."""
        with self.lock:
            self.plan.extend([(None, None, seconds)] * n)

    def conf_section(self, name, callback_base, token_env="ANXIN_TWILIO_TOKEN", extra=""):
        """An anxind.conf [provider] section pointing at this fake."""
        return ('[provider "%s"]\ntype = twilio\nurl = %s\naccount = %s\nfrom = %s\n'
                'token_env = %s\ncallback = %s\n%s' % (name, self.base, self.account_sid,
                                                     self.from_, token_env, callback_base, extra))

    def env(self, token_env="ANXIN_TWILIO_TOKEN"):
        return {token_env: self.auth_token}

    # ---- reading ----------------------------------------------------------

    def accepted(self, kind=None):
        """Requests answered 201, optionally only "sms" or "call"."""
        with self.lock:
            return [r for r in self.requests
                    if r["status"] == 201 and (kind is None or r["kind"] == kind)]

    def wait_count(self, n, kind=None, timeout=10):
        """Waits for n accepted requests (of kind); returns them."""
        def explain(got):
            with self.lock:
                seen = [(r["status"], r["kind"], r["problems"]) for r in self.requests]
            return ("timed out after %.1fs waiting for %d accepted %s requests; have %r"
                    % (timeout, n, kind or "", seen))
        return self.wait_for_count(lambda: self.accepted(kind), n, timeout, explain)

    # ---- Twilio's side of callbacks ---------------------------------------

    def status_request(self, rec, status, url=None, **kw):
        """(url, body, headers) of the status callback for an accepted
        request: MessageStatus for an SMS, CallStatus for a call, posted to
        the StatusCallback it named (or url). kw: error_code; duration,
        sequence, timestamp (calls); sig (None = right, "" = none, or a value)."""
        f = rec["fields"]
        url = url or f.get("StatusCallback")
        if not url:
            raise AssertionError("the request named no StatusCallback: %r" % f)
        sig = kw.pop("sig", None)
        if rec["kind"] == "sms":
            fields = message_status_fields(rec["sid"], status, f.get("To", ""),
                                           f.get("From", self.from_),
                                           account_sid=self.account_sid, **kw)
        else:
            fields = call_status_fields(rec["sid"], status, f.get("To", ""),
                                        f.get("From", self.from_),
                                        account_sid=self.account_sid, **kw)
        body, headers = signed_request(url, fields, self.auth_token, sig)
        return url, body, headers

    def send_status(self, rec, status, url=None, **kw):
        """Posts status_request(...); returns (status, body)."""
        u, body, headers = self.status_request(rec, status, url, **kw)
        return post(u, body, headers)

    def gather_action(self, rec):
        """The action URL of the <Gather> in an accepted call's TwiML."""
        root = ET.fromstring(rec["fields"]["Twiml"])
        g = root.find("Gather")
        if g is None or not g.get("action"):
            raise AssertionError("no <Gather action=...> in %r" % rec["fields"]["Twiml"])
        return g.get("action")

    def press(self, rec, digits="1", url=None, sig=None):
        """Posts the <Gather> action of a call as if the callee pressed
        digits; returns (status, body)."""
        f = rec["fields"]
        u = url or self.gather_action(rec)
        fields = gather_fields(rec["sid"], digits, f.get("To", ""), f.get("From", self.from_),
                               account_sid=self.account_sid)
        body, headers = signed_request(u, fields, self.auth_token, sig)
        return post(u, body, headers)

    # ---- answering ----------------------------------------------------------

    def _answer(self, method, path, headers, body):
        """Returns (status, extra headers, JSON body, delay) and records."""
        rec = {"method": method, "path": path, "headers": headers, "body": body, "form": [],
               "fields": {}, "kind": None, "status": None, "sid": None, "problems": [],
               "time": time.time()}
        with self.lock:
            planned = self.plan.pop(0) if self.plan else None
        delay = planned[2] if planned else 0
        if planned and planned[0] is not None:
            status, retry_after = planned[0], planned[1]
            extra = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            out = (_error(20429, "Too Many Requests", 429) if status == 429
                   else _error(20500, "Internal Server Error", status) if status >= 500
                   else _error(20001, "planned failure", status))
            rec["problems"].append("planned %d" % status)
            return self._record(rec, status, out, extra, delay)

        status, out = self._check(rec, method, path, headers, body)
        return self._record(rec, status, out, {}, delay)

    def _record(self, rec, status, out, extra, delay):
        rec["status"] = status
        rec["answer"] = out
        with self.lock:
            self.requests.append(rec)
        return status, extra, out, delay

    def _check(self, rec, method, path, headers, body):
        m = re.fullmatch(r"/2010-04-01/Accounts/([A-Za-z0-9]+)/(Messages|Calls)\.json", path)
        if not m:
            rec["problems"].append("unknown path %s" % path)
            return 404, _error(20404, "The requested resource %s was not found" % path, 404)
        if method != "POST":
            rec["problems"].append("method %s" % method)
            return 405, _error(20004, "Method not allowed", 405)
        rec["kind"] = "sms" if m.group(2) == "Messages" else "call"
        auth = headers.get("Authorization") or headers.get("authorization") or ""
        want = "Basic " + base64.b64encode(
            ("%s:%s" % (self.account_sid, self.auth_token)).encode()).decode()
        if not hmac.compare_digest(auth, want) or m.group(1) != self.account_sid:
            rec["problems"].append("authentication")
            return 401, _error(20003, "Authenticate", 401)
        ctype = (headers.get("Content-Type") or headers.get("content-type") or "").split(";")[0]
        if ctype.strip().lower() != "application/x-www-form-urlencoded":
            rec["problems"].append("content type %r" % ctype)
            return 400, _error(20001, "Unsupported content type", 400)
        try:
            form = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                                          strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError) as e:
            rec["problems"].append("form: %s" % e)
            return 400, _error(20001, "Malformed form body", 400)
        rec["form"] = form
        fields = {}
        for k, v in form:
            fields.setdefault(k, v)
        rec["fields"] = fields

        to, frm = fields.get("To", ""), fields.get("From", "")
        if not E164.match(to):
            rec["problems"].append("To %r" % to)
            return 400, _error(21211, "The 'To' number %s is not a valid phone number." % to,
                               400)
        if rec["kind"] == "sms":
            err = self._check_sms(fields)
        else:
            err = self._check_call(fields, form)
        if err:
            rec["problems"].append(err[1])
            return 400, _error(err[0], err[1], 400)
        for key in ("StatusCallback",):
            if key in fields and not _absolute_url(fields[key]):
                rec["problems"].append("%s %r" % (key, fields[key]))
                return 400, _error(21609, "Invalid StatusCallback url", 400)

        prefix = "SM" if rec["kind"] == "sms" else "CA"
        rec["sid"] = prefix + uuid.uuid4().hex
        return 201, self._resource(rec["kind"], rec["sid"], fields)

    def _check_sms(self, f):
        if not f.get("MessagingServiceSid") and not E164.match(f.get("From", "")):
            return 21212, "The 'From' number %s is not a valid phone number" % f.get("From", "")
        body = f.get("Body", "")
        if not body:
            return 21602, "Message body is required."
        if len(body) > 1600:
            return 21617, "The concatenated message body exceeds the 1600 character limit."
        return None

    def _check_call(self, f, form):
        if not E164.match(f.get("From", "")):
            return 21212, "The 'From' number %s is not a valid phone number" % f.get("From", "")
        given = [k for k in ("Url", "Twiml", "ApplicationSid") if f.get(k)]
        if len(given) != 1:
            return 21205, "Exactly one of Url, Twiml or ApplicationSid is required"
        if "Url" in given and not _absolute_url(f["Url"]):
            return 21205, "Url is not a valid URL"
        if "Twiml" in given:
            t = f["Twiml"]
            if len(t) > 4000:
                return 32018, "Twiml size exceeded maximum allowed value of 4000 characters"
            try:
                root = ET.fromstring(t)
            except ET.ParseError as e:
                return 12100, "Document parse failure: %s" % e
            if root.tag != "Response":
                return 12100, "Document parse failure: root is <%s>" % root.tag
            for g in root.iter("Gather"):
                if g.get("action") and not _absolute_url(g.get("action")):
                    return 12100, "Gather action %r is not absolute" % g.get("action")
        for k, v in form:
            if k == "StatusCallbackEvent" and v not in CALL_EVENTS:
                return 21626, "Invalid StatusCallbackEvent %r" % v
        return None

    def _resource(self, kind, sid, f):
        now = formatdate(usegmt=True).replace("GMT", "+0000")
        base = "/2010-04-01/Accounts/%s/%s/%s" % (self.account_sid,
                                                  "Messages" if kind == "sms" else "Calls", sid)
        common = {"sid": sid, "account_sid": self.account_sid, "api_version": API_VERSION,
                  "date_created": now, "date_updated": now, "direction": "outbound-api",
                  "to": f.get("To"), "uri": base + ".json"}
        if kind == "sms":
            common.update({"body": f.get("Body"), "date_sent": None, "error_code": None,
                           "error_message": None, "from": f.get("From"),
                           "messaging_service_sid": f.get("MessagingServiceSid"),
                           "num_media": "0", "num_segments": "1", "price": None,
                           "price_unit": "USD", "status": "accepted"
                           if f.get("MessagingServiceSid") else "queued",
                           "subresource_uris": {"media": base + "/Media.json"}})
        else:
            common.update({"from": f.get("From"), "from_formatted": f.get("From"),
                           "to_formatted": f.get("To"), "status": "queued",
                           "start_time": None, "end_time": None, "duration": None,
                           "price": None, "price_unit": "USD", "parent_call_sid": None,
                           "phone_number_sid": None, "answered_by": None, "caller_name": None,
                           "queue_time": "0", "subresource_uris": {}})
        return common


if __name__ == "__main__":
    import os
    import sys
    import unittest
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    unittest.main(module="test_fake_twilio", verbosity=2)
