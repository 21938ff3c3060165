"""Self-test of fake_twilio.py: what it accepts and refuses, its planned
failures, and the signed callbacks it sends (checked against Twilio's
published signature vectors). Needs no services."""
import base64
import http.server
import json
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import fake_twilio as ft


class Receiver:
    """Stands in for anxind's hooks: records every POST, answers 204."""

    def __init__(self):
        self.requests = []
        rcv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                rcv.requests.append({"path": self.path, "headers": dict(self.headers),
                                     "body": self.rfile.read(n)})
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class FakeTwilioTest(unittest.TestCase):
    def setUp(self):
        self.tw = ft.FakeTwilio()
        self.addCleanup(self.tw.close)

    def api(self, kind, fields, sid=None, token=None, method="POST",
            ctype="application/x-www-form-urlencoded", path=None):
        sid = sid or self.tw.account_sid
        token = token or self.tw.auth_token
        url = self.tw.base + (path or "/2010-04-01/Accounts/%s/%s.json" % (sid, kind))
        body = urllib.parse.urlencode(fields).encode() if method == "POST" else None
        auth = base64.b64encode(("%s:%s" % (sid, token)).encode()).decode()
        req = urllib.request.Request(url, data=body, method=method,
                                     headers={"Authorization": "Basic " + auth,
                                              "Content-Type": ctype})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read()), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read()), dict(e.headers)

    def sms(self, **kw):
        f = {"To": "+8613800000001", "From": ft.FROM, "Body": "老人 SOS & 求助"}
        f.update(kw)
        return self.api("Messages", [(k, v) for k, v in f.items() if v is not None])

    def twiml(self, action="http://127.0.0.1:9/hooks/tw/gather?n=7"):
        return ('<Response><Say language="zh-CN">报警 &amp; 求助</Say><Gather numDigits="1" '
                'action="%s" method="POST"><Say language="zh-CN">确认请按1</Say></Gather>'
                '</Response>' % action.replace("&", "&amp;"))

    def call(self, extra=(), **kw):
        f = {"To": "+8613800000001", "From": ft.FROM, "Twiml": self.twiml(),
             "StatusCallback": "http://127.0.0.1:9/hooks/tw/status?n=7"}
        f.update(kw)
        pairs = [(k, v) for k, v in f.items() if v is not None] + list(extra)
        return self.api("Calls", pairs)

    # ---- accepted ---------------------------------------------------------

    def test_sms_accepted(self):
        st, js, _ = self.sms(StatusCallback="http://127.0.0.1:9/hooks/tw/status?n=42")
        self.assertEqual(st, 201)
        self.assertRegex(js["sid"], r"^SM[0-9a-f]{32}$")
        self.assertEqual(js["status"], "queued")
        self.assertEqual(js["body"], "老人 SOS & 求助")
        self.assertIsNone(js["error_code"])
        [rec] = self.tw.accepted("sms")
        self.assertEqual(rec["sid"], js["sid"])
        self.assertEqual(rec["problems"], [])
        self.assertEqual(rec["fields"]["To"], "+8613800000001")
        self.assertEqual(rec["fields"]["StatusCallback"],
                         "http://127.0.0.1:9/hooks/tw/status?n=42")
        self.assertEqual(self.tw.accepted("call"), [])
        st, js, _ = self.sms(From=None, MessagingServiceSid="MG" + "0" * 32)
        self.assertEqual((st, js["status"]), (201, "accepted"))

    def test_call_accepted(self):
        events = [("StatusCallbackEvent", e) for e in ("ringing", "answered", "completed")]
        st, js, _ = self.call(extra=events)
        self.assertEqual(st, 201, js)
        self.assertRegex(js["sid"], r"^CA[0-9a-f]{32}$")
        self.assertEqual(js["status"], "queued")
        [rec] = self.tw.wait_count(1, kind="call", timeout=1)
        self.assertEqual(self.tw.gather_action(rec), "http://127.0.0.1:9/hooks/tw/gather?n=7")
        self.assertEqual([v for k, v in rec["form"] if k == "StatusCallbackEvent"],
                         ["ringing", "answered", "completed"])

    # ---- refused ----------------------------------------------------------

    def expect(self, answer, status, code):
        st, js, _ = answer
        self.assertEqual((st, js.get("code")), (status, code), js)
        self.assertEqual(js["status"], status)
        self.assertTrue(js["more_info"].endswith(str(code)))

    def test_refusals(self):
        self.expect(self.api("Messages", {"To": "+86138", "Body": "x"}, token="wrong"), 401,
                    20003)
        self.expect(self.api("Messages", {"To": "+86138"}, sid="AC" + "f" * 32), 401, 20003)
        self.expect(self.api("Messages", {}, method="GET"), 405, 20004)
        self.expect(self.api("Messages", {}, path="/2010-04-01/Accounts/x/Faxes.json"), 404,
                    20404)
        self.expect(self.api("Messages", {"To": "+8613800000001", "From": ft.FROM, "Body": "x"},
                             ctype="application/json"), 400, 20001)
        st, js, _ = self.sms(To="13800000001")
        self.assertEqual((st, js["code"]), (400, 21211))
        self.assertIn("13800000001", js["message"])     # as Twilio does: anxind must mask it
        self.expect(self.sms(From="anxin"), 400, 21212)
        self.expect(self.sms(Body=None), 400, 21602)
        self.expect(self.sms(Body="险" * 1601), 400, 21617)
        self.expect(self.sms(StatusCallback="/hooks/tw/status?n=1"), 400, 21609)
        self.expect(self.call(Twiml=None), 400, 21205)
        self.expect(self.call(Url="http://127.0.0.1:9/x.xml"), 400, 21205)
        self.expect(self.call(Twiml="<Response><Say>x</Response>"), 400, 12100)
        self.expect(self.call(Twiml="<Say>x</Say>"), 400, 12100)
        self.expect(self.call(Twiml=self.twiml(action="/relative")), 400, 12100)
        self.expect(self.call(Twiml="<Response><Say>%s</Say></Response>" % ("a" * 4000)), 400,
                    32018)
        self.expect(self.call(extra=[("StatusCallbackEvent", "bogus")]), 400, 21626)
        self.assertEqual(self.tw.accepted(), [])
        self.assertTrue(all(r["problems"] for r in self.tw.requests))
        self.assertEqual(len(self.tw.requests), 17)

    # ---- planned answers ------------------------------------------------------

    def test_planned_failures(self):
        self.tw.throttle_next(1, retry_after=2)
        self.tw.fail_next(2, 503)
        st, js, hdr = self.sms()
        self.assertEqual((st, js["code"], hdr.get("Retry-After")), (429, 20429, "2"))
        st, js, hdr = self.sms(To="bad")       # planned answers come before any check
        self.assertEqual((st, js["code"]), (503, 20500))
        self.assertNotIn("Retry-After", hdr)
        self.assertEqual(self.sms()[0], 503)
        self.assertEqual(self.sms()[0], 201)
        self.assertEqual([r["status"] for r in self.tw.requests], [429, 503, 503, 201])
        self.assertEqual(len(self.tw.wait_count(1, timeout=1)), 1)

    def test_slow_and_wait_timeout(self):
        self.tw.slow_next(1, 0.3)
        t0 = time.monotonic()
        self.assertEqual(self.sms()[0], 201)
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        with self.assertRaises(AssertionError):
            self.tw.wait_count(2, timeout=0.2)

    # ---- signatures and callbacks ----------------------------------------------

    def test_signature_known_answers(self):
        # twilio/twilio-python tests/unit/test_request_validator.py (the
        # example of Twilio's "Webhooks security" page, with +14158675309).
        url = "https://mycompany.com/myapp.php?foo=1&bar=2"
        params = {"CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309",
                  "To": "+18005551212", "Caller": "+14158675309"}
        self.assertEqual(ft.signature("12345", url, params), "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
        dup = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"),
               ("Digits", "1234")]
        self.assertEqual(ft.signature("12345", url, dup), "IK+Dwps556ElfBT0I3Rgjkr1wJU=")
        # The page's current text: From and Caller +14158675310.
        params.update(From="+14158675310", Caller="+14158675310")
        self.assertEqual(ft.signature("12345", url, params), "GvWf1cFY/Q7PnoempGyD5oXAezc=")

    def received(self, rcv, n):
        deadline = time.monotonic() + 5
        while len(rcv.requests) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(len(rcv.requests), n)
        r = rcv.requests[-1]
        form = urllib.parse.parse_qsl(r["body"].decode(), keep_blank_values=True)
        return r, form, dict(form)

    def check_signed(self, rcv, r, form):
        self.assertEqual(r["headers"]["X-Twilio-Signature"],
                         ft.signature(self.tw.auth_token, rcv.base + r["path"], form))

    def test_callbacks(self):
        rcv = Receiver()
        self.addCleanup(rcv.close)
        self.sms(StatusCallback=rcv.base + "/hooks/tw/status?n=42")
        [rec] = self.tw.accepted("sms")
        self.assertEqual(self.tw.send_status(rec, "delivered")[0], 204)
        r, form, f = self.received(rcv, 1)
        self.assertEqual(r["path"], "/hooks/tw/status?n=42")
        self.assertEqual(r["headers"]["Content-Type"].split(";")[0],
                         "application/x-www-form-urlencoded")
        self.assertEqual((f["MessageSid"], f["MessageStatus"], f["To"]),
                         (rec["sid"], "delivered", "+8613800000001"))
        self.check_signed(rcv, r, form)

        self.tw.send_status(rec, "undelivered", error_code=30003)
        r, form, f = self.received(rcv, 2)
        self.assertEqual((f["MessageStatus"], f["ErrorCode"]), ("undelivered", "30003"))
        self.check_signed(rcv, r, form)

        self.tw.send_status(rec, "delivered", sig="bogus")
        r, form, f = self.received(rcv, 3)
        self.assertEqual(r["headers"]["X-Twilio-Signature"], "bogus")
        self.tw.send_status(rec, "delivered", sig="")
        r, form, f = self.received(rcv, 4)
        self.assertNotIn("X-Twilio-Signature", r["headers"])

        self.call(Twiml=self.twiml(action=rcv.base + "/hooks/tw/gather?n=43"),
                  StatusCallback=rcv.base + "/hooks/tw/status?n=43")
        [crec] = self.tw.accepted("call")
        self.tw.send_status(crec, "completed", duration=35, timestamp=1281930301)
        r, form, f = self.received(rcv, 5)
        self.assertEqual(r["path"], "/hooks/tw/status?n=43")
        self.assertEqual((f["CallSid"], f["CallStatus"], f["CallDuration"], f["Timestamp"]),
                         (crec["sid"], "completed", "35", "Mon, 16 Aug 2010 03:45:01 +0000"))
        self.check_signed(rcv, r, form)

        self.assertEqual(self.tw.press(crec, "1")[0], 204)
        r, form, f = self.received(rcv, 6)
        self.assertEqual(r["path"], "/hooks/tw/gather?n=43")
        self.assertEqual((f["CallSid"], f["CallStatus"], f["Digits"], f["FinishedOnKey"]),
                         (crec["sid"], "in-progress", "1", ""))
        self.check_signed(rcv, r, form)

    def test_conf_section(self):
        s = self.tw.conf_section("tw", "http://127.0.0.1:8080/hooks/tw")
        self.assertIn('[provider "tw"]\ntype = twilio\n', s)
        self.assertIn("url = %s\n" % self.tw.base, s)
        self.assertIn("account = %s\n" % ft.ACCOUNT_SID, s)
        self.assertIn("from = %s\n" % ft.FROM, s)
        self.assertIn("token_env = ANXIN_TWILIO_TOKEN\n", s)
        self.assertIn("callback = http://127.0.0.1:8080/hooks/tw\n", s)
        self.assertEqual(self.tw.env(), {"ANXIN_TWILIO_TOKEN": ft.AUTH_TOKEN})


if __name__ == "__main__":
    unittest.main(verbosity=2)
