"""Notification providers end to end: an SOS through a real Kannel (bearerbox,
smsbox and the fake SMS centre) with its delivery report on the timeline;
Aliyun, Tencent Cloud and Twilio through loopback fakes that check each
request's signature the way the provider does, and their reports back on
/hooks/; failover to a second provider, the circuit breaker and recovery;
faults: timeouts, 500, 429 with Retry-After, refused connections, a
provider that hangs while other alerts keep flowing."""
import hashlib
import hmac
import os
import re
import socket
import time
import unittest
import urllib.parse

import harness as h
from fake_aliyun import FakeAliyun, post_report
from fake_tencent import FakeTencent
from fake_twilio import FakeTwilio

KANNEL_PASSWORD = "sendpw"      # scripts/services.sh's sendsms-user


def report_key(secret):
    """The key= of a provider's report address (prov_report_key)."""
    return hmac.new(secret.encode(), b"report", hashlib.sha256).hexdigest()[:16]


def kannel_tag(secret, notification):
    return hmac.new(secret.encode(), str(notification).encode(),
                    hashlib.sha256).hexdigest()[:16]


def free_port_block(n):
    """A base port with n free consecutive ports after it, on loopback."""
    for _ in range(50):
        base = h.free_port()
        if base + n >= 65535:
            continue
        ok = True
        for p in range(base, base + n):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return base
    raise AssertionError("no block of %d free ports" % n)


def events(db, alert, kind=None):
    q = ("SELECT kind, actor, coalesce(channel, ''), detail::text FROM alert_events "
         "WHERE alert_id = %s" % alert)
    if kind:
        q += " AND kind = '%s'" % kind
    return h.psql(db, q + " ORDER BY at, id")


def sos_alert(db, elder="E0001"):
    rows = h.wait_for(lambda: h.psql(db, "SELECT id, ack_code FROM alerts WHERE elder_id = "
                                         "'%s' AND rule = 'sos' ORDER BY id DESC LIMIT 1"
                                     % elder), what="the SOS alert")
    return rows[0]


def kannel_messages(run):
    """(from, to, text) of every SMS the fake SMS centre received."""
    out = []
    path = os.path.join(run, "kannel", "fakesmsc.log")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = re.search(r"Got message \d+: <(\S+) (\S+) ucs-2 (\S*)>", line)
                if m:
                    text = urllib.parse.unquote_to_bytes(m.group(3)).decode("utf-16-be")
                    out.append((m.group(1), m.group(2), text))
    except OSError:
        pass
    return out


def kannel_daemon(db, env, rules=None):
    """Starts Kannel (bearerbox, smsbox, fakesmsc) and returns an anxind,
    not yet started, that sends its SMS through it, with the providers
    section it was given; replies typed into fakesmsc reach the daemon's
    /hooks/kannel/mo through Kannel's sms-service."""
    # Another program may take one of the four ports between the choice
    # and the start: choose again.
    for attempt in range(3):
        kport = free_port_block(4)
        providers = (
            '[provider "kannel"]\ntype = kannel\n'
            'url = http://127.0.0.1:%d/cgi-bin/sendsms\naccount = anxin\n'
            'token_env = ANXIN_KANNEL_PASSWORD\nfrom = 10655\n'
            'callback = http://127.0.0.1:{http}/hooks/kannel\n'
            'timeout = 5s\nbackoff = 200ms\n'
            '[channel "sms"]\nproviders = kannel\n' % (kport + 3))
        d = h.Daemon(db, providers=providers, env=env, rules=rules)
        # The get-url `anxinctl providers` tells operators to set.
        mo = ("http://127.0.0.1:%d/hooks/kannel/mo?key=%s&from=%%p&text=%%a"
              % (d.http_port, report_key(KANNEL_PASSWORD)))
        try:
            h.services("kannel-start", kport, mo)
            return d, providers
        except AssertionError:
            if attempt == 2:
                raise


class Kannel(unittest.TestCase):
    """SMS through a real Kannel; delivery reports through its dlr-url."""

    @classmethod
    def setUpClass(cls):
        cls.db = h.fresh_db("kannel")
        h.import_registry(cls.db, h.sample_registry(4))
        cls.env = {"ANXIN_KANNEL_PASSWORD": KANNEL_PASSWORD}
        cls.d, cls.providers = kannel_daemon(cls.db, cls.env)
        cls.d.start()
        cls.pub = h.publisher()

    @classmethod
    def tearDownClass(cls):
        cls.pub.loop_stop()
        if cls.d:
            cls.d.stop()
        h.services("kannel-stop")

    def test_sos_reaches_the_phone_through_kannel_with_its_delivery_report(self):
        before = len(kannel_messages(h.RUN))
        h.publish(self.pub, self.d.topic("E-SOS-0001"), {"events": ["sos"]})
        alert, code = sos_alert(self.db)
        got = h.wait_for(lambda: [m for m in kannel_messages(h.RUN)[before:]
                                  if m[1] in ("+8613800000011", "+8613800000012")]
                         if len(kannel_messages(h.RUN)) >= before + 2 else None,
                         timeout=15, what="two SMS at the fake SMS centre")
        self.assertEqual(sorted(m[1] for m in got), ["+8613800000011", "+8613800000012"])
        for sender, _, text in got:
            self.assertEqual(sender, "10655")
            # UTF-8 in, UCS-2 on the air, Chinese intact.
            self.assertIn("测试老人1", text)
            self.assertIn("回复%s确认" % code, text)
        # Kannel reports the SMS delivered (the fake SMSC acknowledges):
        # one 'delivered' entry per SMS on the timeline, from the provider.
        h.wait_for(lambda: len(events(self.db, alert, "delivered")) == 2, timeout=15,
                   what="two delivery reports on the timeline")
        for kind, actor, channel, detail in events(self.db, alert, "delivered"):
            self.assertEqual((actor, channel), ("provider:kannel", "sms"))
            self.assertIn("dlr 1", detail)
        st = h.psql(self.db, "SELECT status, delivered_at IS NOT NULL, provider_ref FROM "
                             "notifications WHERE alert_id = %s AND channel = 'sms'" % alert)
        self.assertEqual(len(st), 2)
        for status, has_at, ref in st:
            self.assertEqual((status, has_at), ("delivered", "t"))
            self.assertTrue(ref.startswith("kannel-"))
        # No phone number and no message text in the log.
        log = self.d.log()
        self.assertNotIn("13800000011", log)
        self.assertNotIn("测试老人1", log)

    def test_reports_are_taken_once_and_forged_ones_refused(self):
        h.publish(self.pub, self.d.topic("E-SOS-0002"), {"events": ["sos"]})
        alert, _ = sos_alert(self.db, "E0002")
        h.wait_for(lambda: len(events(self.db, alert, "delivered")) == 2, timeout=15,
                   what="delivery reports")
        nid = h.psql(self.db, "SELECT min(id) FROM notifications WHERE alert_id = %s "
                              "AND channel = 'sms'" % alert)[0][0]
        tag = kannel_tag(KANNEL_PASSWORD, nid)
        # Kannel calls again (it does after a restart of its box): no new entry.
        for _ in range(2):
            st, body = self.d.hook("/hooks/kannel/dlr?n=%s&t=%s&s=1" % (nid, tag))
            self.assertEqual((st, body), (200, "ok\n"))
        # An intermediate report (8: accepted by the SMS centre) adds nothing.
        self.assertEqual(self.d.hook("/hooks/kannel/dlr?n=%s&t=%s&s=8" % (nid, tag))[0], 200)
        time.sleep(0.5)
        self.assertEqual(len(events(self.db, alert, "delivered")), 2)
        # A failure report after the fact is recorded once, as undelivered.
        self.assertEqual(self.d.hook("/hooks/kannel/dlr?n=%s&t=%s&s=2" % (nid, tag))[0], 200)
        self.assertEqual(self.d.hook("/hooks/kannel/dlr?n=%s&t=%s&s=2" % (nid, tag))[0], 200)
        h.wait_for(lambda: len(events(self.db, alert, "undelivered")) == 1, what="undelivered")
        time.sleep(0.3)
        self.assertEqual(len(events(self.db, alert, "undelivered")), 1)

        rejected = self.d.metric("anxin_delivery_reports_rejected_total")
        # Someone guessing report addresses: wrong tag, another id, no tag.
        st, body = self.d.hook("/hooks/kannel/dlr?n=%s&t=%s&s=1" % (nid, "0" * 16))
        self.assertEqual(st, 403)
        self.assertIn("tag does not match", body)
        self.assertEqual(self.d.hook("/hooks/kannel/dlr?n=%d&t=%s&s=1" % (int(nid) + 1, tag))[0],
                         403)
        self.assertEqual(self.d.hook("/hooks/kannel/dlr?n=%s&s=1" % nid)[0], 400)
        self.assertEqual(self.d.hook("/hooks/nosuch/dlr?n=1&t=x&s=1")[0], 404)
        self.assertEqual(self.d.hook("/hooks/kannel/report", body=b"[]")[0], 404)
        self.assertEqual(self.d.metric("anxin_delivery_reports_rejected_total"), rejected + 5)
        self.assertIn("hooks: refused a report for provider kannel", self.d.log())

    def test_an_sms_reply_with_the_code_acknowledges(self):
        h.publish(self.pub, self.d.topic("E-SOS-0004"), {"events": ["sos"]})
        alert, code = sos_alert(self.db, "E0004")
        h.wait_for(lambda: len([m for m in kannel_messages(h.RUN)
                                if m[1] == "+8613800000041"]) >= 1, timeout=15,
                   what="the SOS SMS at the phone")
        # The family member texts back; operators' SMS centres give the
        # sender without the +.
        h.services("kannel-mo", "8613800000041", "10655", "ok %s" % code)
        h.wait_for(lambda: h.psql(self.db, "SELECT state FROM alerts WHERE id = %s"
                                  % alert) == [["acknowledged"]], timeout=15,
                   what="the alert acknowledged by the reply")
        acked = events(self.db, alert, "acked")
        self.assertEqual(len(acked), 1)
        self.assertTrue(acked[0][1].startswith("contact:"), acked[0])
        self.assertEqual(acked[0][2], "sms")
        # Kannel sends our answer back to the phone (to the sender as the
        # SMS centre wrote it).
        h.wait_for(lambda: [m for m in kannel_messages(h.RUN)
                            if m[1] == "8613800000041" and "已确认" in m[2]],
                   timeout=15, what="the confirmation SMS")
        # A second reply (the alert is still theirs), and one with a wrong
        # code, are answered, and change nothing (tests/integration/
        # test_replies.py has the other answers).
        h.services("kannel-mo", "8613800000041", "10655", "ok %s" % code)
        h.wait_for(lambda: len([m for m in kannel_messages(h.RUN)
                                if m[1] == "8613800000041" and "已确认" in m[2]]) == 2,
                   timeout=15, what="the second confirmation")
        wrong = "%04d" % ((int(code) + 1) % 10000)
        h.services("kannel-mo", "8613800000041", "10655", "ok %s" % wrong)
        h.wait_for(lambda: [m for m in kannel_messages(h.RUN)
                            if m[1] == "8613800000041" and "未找到" in m[2]],
                   timeout=15, what="the no-such-alert answer")
        self.assertEqual(len(events(self.db, alert, "acked")), 1)
        # Without the key nobody can acknowledge by calling the hook.
        st, _ = self.d.hook("/hooks/kannel/mo?from=8613800000041&text=%s" % code)
        self.assertEqual(st, 403)

    def test_a_restarted_anxind_does_not_send_a_confirmed_sms_again(self):
        h.publish(self.pub, self.d.topic("E-SOS-0003"), {"events": ["sos"]})
        alert, _ = sos_alert(self.db, "E0003")
        h.wait_for(lambda: h.psql(self.db, "SELECT count(*) FROM notifications WHERE "
                                           "alert_id = %s AND status IN ('sent', 'delivered')"
                                  % alert) == [["2"]], timeout=15, what="two SMS confirmed")
        # Accepted by Kannel is not yet at the SMS centre: wait for both.
        h.wait_for(lambda: len([m for m in kannel_messages(h.RUN)
                                if m[1] in ("+8613800000031", "+8613800000032")]) == 2,
                   timeout=15, what="both SMS at the SMS centre")
        self.d.kill()
        # Same name (journal) and port (where Kannel sends replies).
        type(self).d = h.Daemon(self.db, providers=self.providers, env=self.env,
                                name=self.d.name, http_port=self.d.http_port).start()
        time.sleep(3)
        again = [m for m in kannel_messages(h.RUN) if m[1] in ("+8613800000031",
                                                                 "+8613800000032")]
        self.assertEqual(len(again), 2, "a confirmed SMS went out again after the restart")


class Cloud(unittest.TestCase):
    """Aliyun, Tencent Cloud and Twilio through fakes that check the
    signatures; their reports back on /hooks/."""

    def setUp(self):
        self.pub = h.publisher()
        self.d = None

    def tearDown(self):
        self.pub.loop_stop()
        if self.d:
            self.d.stop()

    def start(self, providers, env, rules=None, n=1, templates=None):
        self.db = h.fresh_db("cloud")
        h.import_registry(self.db, h.sample_registry(n))
        self.d = h.Daemon(self.db, providers=providers, env=env, rules=rules,
                          templates=templates).start()

    def test_aliyun_sms_and_call_signed_and_reported(self):
        ali = FakeAliyun()
        self.addCleanup(ali.close)
        self.start(ali.conf_section("ali", extra="callback = http://127.0.0.1:{http}/hooks/ali\n")
                   + '[channel "sms"]\nproviders = ali\n[channel "voice"]\nproviders = ali\n',
                   ali.env())
        h.publish(self.pub, self.d.topic("E-SOS-0001"), {"events": ["sos"]})
        alert, code = sos_alert(self.db)
        sms = ali.wait_count(1, kind="sms")
        call = ali.wait_count(1, kind="call")
        self.assertIsNone(sms[0]["problem"])
        self.assertIsNone(call[0]["problem"])
        self.assertEqual(sms[0]["params"]["Action"], "SendSms")
        self.assertEqual(call[0]["params"]["Action"], "SingleCallByTts")
        self.assertIn('"code":"%s"' % code, sms[0]["params"]["TemplateParam"].replace(" ", ""))
        key = report_key(ali.key_secret)
        # The SMS report, then the same again (Aliyun pushes again on doubt).
        for _ in range(2):
            st, body = post_report("http://127.0.0.1:%d/hooks/ali/report?key=%s"
                                   % (self.d.http_port, key), ali.sms_report(sms[0]))
            self.assertEqual(st, 200)
            self.assertIn('"code":0', body)
        st, _ = post_report("http://127.0.0.1:%d/hooks/ali/report?key=%s"
                            % (self.d.http_port, key), ali.voice_report(call[0], answered=True))
        self.assertEqual(st, 200)
        h.wait_for(lambda: len(events(self.db, alert, "delivered")) == 1 and
                   len(events(self.db, alert, "answered")) == 1, what="reports on the timeline")
        time.sleep(0.3)
        self.assertEqual(len(events(self.db, alert, "delivered")), 1)
        # Without the key, or with another: refused, nothing recorded.
        st, _ = post_report("http://127.0.0.1:%d/hooks/ali/report" % self.d.http_port,
                            ali.sms_report(sms[0], success=False))
        self.assertEqual(st, 403)
        st, _ = post_report("http://127.0.0.1:%d/hooks/ali/report?key=%s"
                            % (self.d.http_port, "1" * 16), ali.sms_report(sms[0], success=False))
        self.assertEqual(st, 403)
        st, _ = post_report("http://127.0.0.1:%d/hooks/ali/report?key=%s"
                            % (self.d.http_port, key), b"{not json")
        self.assertEqual(st, 400)
        self.assertEqual(events(self.db, alert, "undelivered"), [])

    def test_an_unanswered_call_brings_the_next_step_forward(self):
        ali = FakeAliyun()
        self.addCleanup(ali.close)
        rules = os.path.join(h.RUN, "calls-rules-%d" % os.getpid())
        os.makedirs(rules, exist_ok=True)
        with open(os.path.join(rules, "calls.rules"), "w") as f:
            f.write("rule sos {\n    when event sos\n    severity critical\n    chain calls\n}\n"
                    "chain calls {\n    at 0s notify family by voice\n"
                    "    at 1h notify priority 2 by sms\n}\n")
        self.start(ali.conf_section("ali") + '[channel "sms"]\nproviders = ali\n'
                   '[channel "voice"]\nproviders = ali\n', ali.env(), rules=rules)
        h.publish(self.pub, self.d.topic("E-SOS-0001"), {"events": ["sos"]})
        alert, _ = sos_alert(self.db)
        call = ali.wait_count(1, kind="call")[0]
        self.assertEqual(ali.accepted("sms"), [])
        t0 = time.time()
        st, _ = post_report("http://127.0.0.1:%d/hooks/ali/report?key=%s"
                            % (self.d.http_port, report_key(ali.key_secret)),
                            ali.voice_report(call, answered=False))
        self.assertEqual(st, 200)
        # Not answered = not reached: the community worker (priority 2) is
        # paged now, not in an hour.
        sms = ali.wait_count(1, kind="sms", timeout=10)
        self.assertLess(time.time() - t0, 8)
        self.assertEqual(sms[0]["params"]["PhoneNumbers"], "13800000013")
        kinds = [e[0] for e in events(self.db, alert)]
        self.assertIn("not_answered", kinds)
        self.assertIn("not_reached", kinds)

    def test_tencent_sms_signed_and_its_callback_matched_by_serial(self):
        tc = FakeTencent()
        self.addCleanup(tc.close)
        self.start(tc.conf_section("tc") + '[channel "sms"]\nproviders = tc\n', tc.env())
        h.publish(self.pub, self.d.topic("E-SOS-0001"), {"events": ["sos"]})
        alert, code = sos_alert(self.db)
        got = tc.wait_count(2)
        for r in got:
            self.assertEqual(r["headers"].get("X-TC-Action"), "SendSms")
            self.assertEqual(r["json"]["TemplateParamSet"][1], code)
        refs = h.wait_for(lambda: [r[0] for r in h.psql(
            self.db, "SELECT provider_ref FROM notifications WHERE alert_id = %s AND "
                     "provider_ref IS NOT NULL" % alert)] or None, what="serial numbers")
        self.assertEqual(len(refs), 2)
        st, body = self.d.hook("/hooks/tc/report?key=%s" % report_key(tc.secret_key),
                               body=tc.callback_for(ok=True),
                               headers={"Content-Type": "application/json"})
        self.assertEqual(st, 200)
        self.assertIn('"result":0', body)
        h.wait_for(lambda: len(events(self.db, alert, "delivered")) == 2,
                   what="both SMS delivered")

    def test_twilio_sms_and_call_with_signed_callbacks_and_a_key_press(self):
        tw = FakeTwilio()
        self.addCleanup(tw.close)
        self.start(tw.conf_section("tw", "http://127.0.0.1:{http}/hooks/tw")
                   + '[channel "sms"]\nproviders = tw\n[channel "voice"]\nproviders = tw\n',
                   tw.env(), templates=os.path.join(h.ROOT, "conf", "templates"))
        h.publish(self.pub, self.d.topic("E-SOS-0001"), {"events": ["sos"]})
        alert, code = sos_alert(self.db)
        sms = tw.wait_count(1, kind="sms")[0]
        call = tw.wait_count(1, kind="call")[0]
        self.assertEqual(sms["problems"], [])
        self.assertEqual(call["problems"], [])
        # The call says conf/templates/critical.voice.txt; the SMS the rule's
        # message with its reply code.
        self.assertIn("紧急通知：测试老人1，东关村", call["fields"]["Twiml"])
        self.assertIn("确认请按1", call["fields"]["Twiml"])
        self.assertNotIn("回复", call["fields"]["Twiml"])
        self.assertIn("回复%s确认" % code, sms["fields"]["Body"])
        st, _ = tw.send_status(sms, "delivered")
        self.assertEqual(st, 200)
        # A callback with a wrong signature is refused and changes nothing.
        st, _ = tw.send_status(sms, "undelivered", sig="AAAA")
        self.assertEqual(st, 403)
        st, _ = tw.send_status(sms, "undelivered", sig="")
        self.assertEqual(st, 403)
        h.wait_for(lambda: len(events(self.db, alert, "delivered")) == 1, what="delivered")
        self.assertEqual(events(self.db, alert, "undelivered"), [])
        # The family member picks up and presses 1: the alert is theirs.
        st, body = tw.press(call, "1")
        self.assertEqual(st, 200)
        self.assertIn("已确认", body.decode() if isinstance(body, bytes) else body)
        h.wait_for(lambda: h.psql(self.db, "SELECT state, acked_by FROM alerts WHERE id = %s"
                                  % alert)[0][0] == "acknowledged", what="acknowledged")
        acked_by = h.psql(self.db, "SELECT acked_by FROM alerts WHERE id = %s" % alert)[0][0]
        self.assertTrue(acked_by.startswith("contact:"), acked_by)
        acked = events(self.db, alert, "acked")
        self.assertEqual(acked[0][2], "voice")


class Failover(unittest.TestCase):
    """Two webhook providers for SMS: the first fails, the second takes over."""

    def setUp(self):
        self.db = h.fresh_db("fail")
        h.import_registry(self.db, h.sample_registry(4))
        self.primary = h.Capture()
        self.secondary = h.Capture()
        self.pub = h.publisher()
        self.d = None

    def tearDown(self):
        self.pub.loop_stop()
        if self.d:
            self.d.stop()
        self.primary.close()
        self.secondary.close()

    def start(self, primary_extra="", primary_url=None):
        self.d = h.Daemon(self.db, providers=(
            '[provider "primary"]\ntype = webhook\nurl = %s\ntimeout = 1s\nmax_attempts = 50\n'
            'backoff = 200ms\nbackoff_max = 400ms\nfailover_after = 2s\nrecover_after = 4s\n%s'
            '[provider "secondary"]\ntype = webhook\nurl = %s\ntimeout = 2s\nbackoff = 200ms\n'
            '[channel "sms"]\nproviders = primary, secondary\n'
            % (primary_url or self.primary.url, primary_extra, self.secondary.url))).start()

    def test_primary_returning_500_fails_over_within_failover_after(self):
        self.primary.default_status = 500
        self.start()
        t0 = time.time()
        h.publish(self.pub, self.d.topic("E-SOS-0001"), {"events": ["sos"]})
        got = self.secondary.wait_count(2, timeout=10)
        # failover_after = 2s, plus one backoff step and the send.
        self.assertLess(max(r["time"] for r in got) - t0, 4.0)
        self.assertGreaterEqual(len(self.primary.sms()), 2)
        alert, _ = sos_alert(self.db)
        prov = h.psql(self.db, "SELECT DISTINCT provider FROM notifications WHERE alert_id = %s"
                      % alert)
        self.assertEqual(prov, [["secondary"]])
        att = h.psql(self.db, "SELECT a.provider, a.outcome, a.http_status FROM "
                              "notification_attempts a JOIN notifications n ON "
                              "n.id = a.notification_id WHERE n.alert_id = %s "
                              "ORDER BY a.notification_id, a.attempt" % alert)
        self.assertIn(["primary", "retry", "500"], att)
        self.assertEqual([a for a in att if a[0] == "secondary"],
                         [["secondary", "sent", "200"]] * 2)
        # Same notification, same idempotency key at both providers.
        keys = {r["headers"]["Idempotency-Key"] for r in self.primary.sms()}
        self.assertTrue(keys >= {r["headers"]["Idempotency-Key"] for r in got})

    def test_breaker_skips_a_failing_primary_and_comes_back_when_it_recovers(self):
        self.primary.default_status = 503
        self.start()
        h.publish(self.pub, self.d.topic("E-SOS-0001"), {"events": ["sos"]})
        self.secondary.wait_count(2, timeout=10)
        h.wait_for(lambda: "provider primary failed 5 times in a row" in self.d.log(),
                   what="the breaker opening")
        # While open: the next alert goes straight to the secondary.
        n_primary = len(self.primary.sms())
        t0 = time.time()
        h.publish(self.pub, self.d.topic("E-SOS-0002"), {"events": ["sos"]})
        self.secondary.wait_count(4, timeout=5)
        self.assertLess(time.time() - t0, 2.0)
        self.assertEqual(len(self.primary.sms()), n_primary)
        # The primary recovers; after recover_after it is used again.
        self.primary.default_status = 200
        time.sleep(4.5)
        n_secondary = len(self.secondary.sms())
        h.publish(self.pub, self.d.topic("E-SOS-0003"), {"events": ["sos"]})
        self.primary.wait_count(n_primary + 2, timeout=10)
        time.sleep(0.5)
        self.assertEqual(len(self.secondary.sms()), n_secondary)

    def test_connection_refused_fails_over(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        dead = "http://127.0.0.1:%d/notify" % s.getsockname()[1]
        s.close()           # nothing listens there now
        self.start(primary_url=dead)
        h.publish(self.pub, self.d.topic("E-SOS-0001"), {"events": ["sos"]})
        self.secondary.wait_count(2, timeout=10)
        alert, _ = sos_alert(self.db)
        err = h.psql(self.db, "SELECT a.error FROM notification_attempts a JOIN notifications n "
                              "ON n.id = a.notification_id WHERE n.alert_id = %s AND "
                              "a.provider = 'primary' LIMIT 1" % alert)
        self.assertRegex(err[0][0], "(?i)connect")


class Faults(unittest.TestCase):
    """One webhook provider misbehaving in the ways real ones do."""

    def setUp(self):
        self.db = h.fresh_db("fault")
        h.import_registry(self.db, h.sample_registry(4))
        self.cap = h.Capture()
        self.pub = h.publisher()
        self.d = h.Daemon(self.db, webhook_url=self.cap.url).start()

    def tearDown(self):
        self.pub.loop_stop()
        self.d.stop()
        self.cap.close()

    def test_429_waits_for_retry_after(self):
        self.cap.plan = [(429, 0)]          # the capture sends Retry-After: 1
        h.publish(self.pub, self.d.topic("E-SOS-0001"), {"events": ["sos"]})
        got = self.cap.wait_count(3, timeout=10)
        first = got[0]
        again = [r for r in got[1:] if r["json"]["id"] == first["json"]["id"]]
        self.assertEqual(len(again), 1)
        # backoff is 200ms here; the provider asked for 1 s.
        self.assertGreaterEqual(again[0]["time"] - first["time"], 0.95)

    def test_a_definitive_4xx_is_not_retried(self):
        self.cap.plan = [(400, 0)]
        h.publish(self.pub, self.d.topic("E-SOS-0001"), {"events": ["sos"]})
        got = self.cap.wait_count(2, timeout=10)
        time.sleep(1.5)
        ids = [r["json"]["id"] for r in self.cap.sms()]
        self.assertEqual(len(ids), len(set(ids)), "a refused notification was sent again")
        st = h.wait_for(lambda: h.psql(self.db, "SELECT status, attempts, last_error FROM "
                                                "notifications WHERE id = %s AND status = "
                                                "'failed'" % got[0]["json"]["id"]),
                        what="failed notification")
        self.assertEqual(st[0][:2], ["failed", "1"])
        self.assertEqual(st[0][2], "HTTP 400")

    def test_a_timeout_is_retried_with_the_same_idempotency_key(self):
        self.cap.plan = [(200, 3.0)]        # timeout = 2s in the harness
        h.publish(self.pub, self.d.topic("E-SOS-0001"), {"events": ["sos"]})
        got = self.cap.wait_count(3, timeout=10)
        first = got[0]
        again = [r for r in got[1:] if r["json"]["id"] == first["json"]["id"]]
        self.assertEqual(len(again), 1)
        self.assertEqual(again[0]["headers"]["Idempotency-Key"],
                         first["headers"]["Idempotency-Key"])
        err = h.wait_for(lambda: h.psql(self.db, "SELECT error FROM notification_attempts "
                                                 "WHERE notification_id = %s AND attempt = 1"
                                        % first["json"]["id"]), what="attempt 1")
        self.assertRegex(err[0][0], "(?i)time")

    def test_a_hanging_provider_does_not_hold_up_other_alerts(self):
        self.cap.plan = [(200, 1.9)] * 2    # both SMS of the first SOS hang
        h.publish(self.pub, self.d.topic("E-SOS-0001"), {"events": ["sos"]})
        self.cap.wait_count(2, timeout=5)
        t0 = time.time()
        # While they hang, the daemon answers and the next alarm goes out.
        st, _ = self.d.get("/healthz")
        self.assertEqual(st, 200)
        self.assertLess(time.time() - t0, 0.5)
        h.publish(self.pub, self.d.topic("E-SOS-0002"), {"events": ["sos"]})
        got = self.cap.wait_count(4, timeout=5)
        second = [r for r in got if r["json"]["elder"] == "E0002"]
        self.assertEqual(len(second), 2)
        self.assertLess(max(r["time"] for r in second) - t0, 1.5)


if __name__ == "__main__":
    unittest.main()


class Burst(unittest.TestCase):
    def test_a_burst_waits_in_order_instead_of_timing_out_in_the_http_client(self):
        """200 SMS at once to a provider that takes 0.3 s a request (the
        harness's webhook has a 2 s timeout): anxind keeps at most 64 in
        flight, the rest wait with no clock running, so none times out and
        none is sent twice."""
        db = h.fresh_db("burst")
        h.import_registry(db, h.sample_registry(100))
        cap = h.Capture()
        cap.default_delay = 0.3
        d = h.Daemon(db, webhook_url=cap.url).start()
        pub = h.publisher()
        try:
            for i in range(1, 101):
                h.publish(pub, d.topic("E-SOS-%04d" % i), {"events": ["sos"]})
            cap.wait_count(200, timeout=60)
            time.sleep(0.5)
            self.assertEqual(len(cap.sms()), 200)
            self.assertLessEqual(cap.max_open, 64)
            self.assertGreater(cap.max_open, 8)         # they did run side by side
            self.assertEqual(h.psql(db, "SELECT count(*) FROM notification_attempts "
                                        "WHERE outcome <> 'sent'"), [["0"]])
            self.assertEqual(h.psql(db, "SELECT count(*) FROM notifications WHERE status "
                                        "NOT IN ('sent', 'delivered')"), [["0"]])
        finally:
            pub.loop_stop()
            d.stop()
            cap.close()
