"""Acknowledging from the phone: SMS replies through a real Kannel (bearerbox,
smsbox and the fake SMS centre, replies typed into fakesmsc) that take the
alert and stop its chain, with the answer each kind of reply gets back at the
phone; the Aliyun SmsUp push, the Tencent reply callback and Twilio's
incoming message on the loopback hooks; replies from numbers that were not
notified, refused and audited; an IVR key press reported by Aliyun.

Callback shapes (the bodies are written here, after the documentation):
  Aliyun SmsUp, help.aliyun.com 短信服务 > 开发参考 > "SmsUp" (HTTP batch push);
  Aliyun VoiceCallReport, help.aliyun.com 语音服务 > 回执消息 > "VoiceCallReport";
  Tencent 短信回复, cloud.tencent.com/document/api/382/59179;
  Twilio, "Twilio's request to your incoming message Webhook URL"."""
import json
import os
import time
import unittest

import harness as h
from fake_aliyun import FakeAliyun, beijing_time, post_report
from fake_tencent import FakeTencent
from fake_twilio import FakeTwilio, post, signed_request
from test_providers import KANNEL_PASSWORD, events, kannel_daemon, kannel_messages, report_key

# The first step at once, the second soon: an acknowledgement must stop it.
RULES = """
rule sos {
    title "SOS紧急呼叫"
    when event sos
    severity critical
    chain quick
}

chain quick {
    at 0s notify priority 1 by sms
    at 8s notify priority 2 by sms
}
"""

UNKNOWN_ANSWER = "未找到需要您确认的告警，请核对短信中的确认码。"
STRANGER = "+8613900000099"         # in no registry


def rules_dir(name):
    d = os.path.join(h.RUN, "reply-rules-%s-%d" % (name, os.getpid()))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "replies.rules"), "w") as f:
        f.write(RULES)
    return d


def live_alert(db, elder):
    rows = h.wait_for(lambda: h.psql(db, "SELECT id, ack_code FROM alerts WHERE elder_id = '%s' "
                                         "ORDER BY id DESC LIMIT 1" % elder),
                      what="the alert of %s" % elder)
    return rows[0]


def state(db, alert):
    return h.psql(db, "SELECT state FROM alerts WHERE id = %s" % alert)[0][0]


def contact_id(db, phone):
    return h.psql(db, "SELECT id FROM contacts WHERE phone = '%s'" % phone)[0][0]


def audit(db, action=None):
    """(actor, action, target, outcome, detail) rows of the audit trail."""
    q = "SELECT actor, action, coalesce(target, ''), outcome, detail::text FROM audit_log"
    if action:
        q += " WHERE action = '%s'" % action
    return h.psql(db, q + " ORDER BY id")


def unused_code(db):
    used = {r[0] for r in h.psql(db, "SELECT ack_code FROM alerts")}
    return next("%04d" % c for c in range(1000, 10000) if "%04d" % c not in used)


class KannelReplies(unittest.TestCase):
    """Replies typed on phones, through the fake SMS centre, Kannel's
    sms-service get-url and /hooks/kannel/mo; answers back the same way."""

    @classmethod
    def setUpClass(cls):
        cls.db = h.fresh_db("replies")
        h.import_registry(cls.db, h.sample_registry(9))
        cls.env = {"ANXIN_KANNEL_PASSWORD": KANNEL_PASSWORD}
        cls.d, _ = kannel_daemon(cls.db, cls.env, rules=rules_dir("kannel"))
        cls.d.start()
        cls.pub = h.publisher()

    @classmethod
    def tearDownClass(cls):
        cls.pub.loop_stop()
        log = cls.d.log() if cls.d else ""
        if cls.d:
            cls.d.stop()
        h.services("kannel-stop")
        # No whole phone number in the log, whoever sent what.
        for n in ["139000000%02d" % 99] + ["138000000%d%d" % (i, k) for i in range(1, 10)
                                           for k in (1, 2, 3)]:
            assert n not in log, "a whole phone number in the log: %s" % n

    def sos(self, elder_no):
        elder = "E%04d" % elder_no
        h.publish(self.pub, self.d.topic("E-SOS-%04d" % elder_no), {"events": ["sos"]})
        alert, code = live_alert(self.db, elder)
        # The SMS reaches the phone of the family member first.
        family = "+86138%08d" % (elder_no * 10 + 1)
        h.wait_for(lambda: [m for m in kannel_messages(h.RUN) if m[1] == family], timeout=15,
                   what="the SOS SMS at %s" % family)
        return alert, code

    def text(self, sender, body):
        """A phone sends body; sender as SMS centres write it (no +)."""
        h.services("kannel-mo", sender.lstrip("+"), "10655", body)

    def answer(self, sender, contains, count=1):
        """Waits for count answers at sender's phone containing `contains`."""
        to = sender.lstrip("+")
        got = h.wait_for(lambda: (lambda ms: ms if len(ms) >= count else None)(
            [m[2] for m in kannel_messages(h.RUN) if m[1] == to and contains in m[2]]),
            timeout=15, what="%d answer(s) with %r at %s" % (count, contains, to))
        return got[-1]

    def test_a_reply_acknowledges_and_stops_the_chain(self):
        alert, code = self.sos(1)
        control, _ = self.sos(2)        # nobody answers this one
        family = "+8613800000011"
        self.text(family, code)
        h.wait_for(lambda: state(self.db, alert) == "acknowledged", timeout=15,
                   what="the alert acknowledged by the reply")
        # The timeline says who, and by which channel.
        acked = events(self.db, alert, "acked")
        self.assertEqual(len(acked), 1)
        self.assertEqual(acked[0][1], "contact:%s" % contact_id(self.db, family))
        self.assertEqual(acked[0][2], "sms")
        self.assertEqual(json.loads(acked[0][3])["note"], "家属1 短信回复确认")
        self.assertEqual(h.psql(self.db, "SELECT acked_by FROM alerts WHERE id = %s" % alert),
                         [["contact:%s" % contact_id(self.db, family)]])
        # The phone is told it is theirs, and whose alert, in one SMS.
        text = self.answer(family, "已确认")
        self.assertEqual(text, "已确认，由您处理测试老人1的告警，请尽快联系或上门查看。谢谢！")
        # The control alert's second step goes out (the chain works) ...
        h.wait_for(lambda: [m for m in kannel_messages(h.RUN) if m[1] == "+8613800000023"],
                   timeout=20, what="the second step of the unanswered alert")
        time.sleep(1.0)
        # ... the acknowledged one's does not: its chain stopped.
        self.assertEqual([m for m in kannel_messages(h.RUN) if m[1] == "+8613800000013"], [])
        self.assertEqual(h.psql(self.db, "SELECT count(*) FROM notifications WHERE alert_id = %s "
                                         "AND to_number = '+8613800000013'" % alert), [["0"]])
        self.assertEqual(h.psql(self.db, "SELECT count(*) FROM escalation_timers WHERE "
                                         "alert_id = %s AND kind = 'step' AND NOT cancelled"
                                % alert), [["0"]])
        self.assertEqual(state(self.db, control), "open")
        # And in the audit trail, as every acknowledgement is.
        rows = [a for a in audit(self.db) if a[2] == "alert:%s" % alert]
        self.assertEqual([(a[0], a[1], a[3]) for a in rows],
                         [("contact:%s" % contact_id(self.db, family), "alert.ack", "ok")])
        self.assertEqual(json.loads(rows[0][4]), {"channel": "sms", "provider": "kannel",
                                                  "via": "kannel", "answered": True})
        self.assertGreaterEqual(self.d.metric('anxin_phone_replies_total{outcome="acked"}'), 1)

    def test_the_forms_people_type(self):
        # "1234 1": the code, then 1 as on a call.
        alert, code = self.sos(3)
        self.text("+8613800000031", "%s 1" % code)
        h.wait_for(lambda: state(self.db, alert) == "acknowledged", timeout=15,
                   what="acknowledged by '%s 1'" % code)
        self.answer("+8613800000031", "已确认")
        # "确认1234", in Chinese, through the SMS centre and Kannel.
        alert, code = self.sos(4)
        self.text("+8613800000042", "确认%s" % code)
        h.wait_for(lambda: state(self.db, alert) == "acknowledged", timeout=15,
                   what="acknowledged by '确认%s'" % code)
        self.assertEqual(events(self.db, alert, "acked")[0][1],
                         "contact:%s" % contact_id(self.db, "+8613800000042"))
        self.answer("+8613800000042", "由您处理测试老人4的告警")

    def test_a_second_reply_is_told_who_took_it(self):
        alert, code = self.sos(5)
        family, neighbor = "+8613800000051", "+8613800000052"
        self.text(family, code)
        self.answer(family, "已确认")
        self.text(neighbor, code)
        text = self.answer(neighbor, "确认处理")
        self.assertEqual(text, "测试老人5的告警已由家属5（138****0051）确认处理，无需再回复。谢谢！")
        # The same person again: still theirs, nothing new on the timeline.
        self.text(family, code)
        self.answer(family, "已确认", count=2)
        self.assertEqual(len(events(self.db, alert, "acked")), 1)
        # Each try is audited with what came of it.
        acks = [a for a in audit(self.db, "alert.ack") if a[2] == "alert:%s" % alert]
        fam, nbr = (contact_id(self.db, p) for p in (family, neighbor))
        self.assertEqual([(a[0], a[3]) for a in acks],
                         [("contact:%s" % fam, "ok"),
                          ("contact:%s" % nbr, "already_acknowledged"),
                          ("contact:%s" % fam, "already_acknowledged")])

    def test_unknown_codes_no_codes_and_the_desk_taking_it(self):
        alert, code = self.sos(6)
        family = "+8613800000061"
        self.text(family, "确认 %s" % unused_code(self.db))
        self.assertEqual(self.answer(family, "未找到"), UNKNOWN_ANSWER)
        self.text(family, "收到")
        self.assertEqual(self.answer(family, "请回复"), "请回复短信中的确认码，以确认由您处理。")
        self.assertEqual(state(self.db, alert), "open")
        rows = [a for a in audit(self.db) if a[0] == "phone:138****0061"]
        self.assertEqual([(a[1], a[2], a[3]) for a in rows],
                         [("reply.unknown", "", "no_alert"), ("reply.no_code", "", "no_code")])
        # Taken at the desk meanwhile: the family member is told so.
        r = h.ctl(self.db, "ack", alert, "--note", "值班已电话联系")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.text(family, code)
        self.assertEqual(self.answer(family, "值班人员"),
                         "测试老人6的告警已由值班人员确认处理，无需再回复。谢谢！")

    def test_a_stale_code_is_told_the_alert_is_over(self):
        alert, code = self.sos(7)
        r = h.ctl(self.db, "resolve", alert, "--outcome", "false_alarm", "--note", "误按")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.text("+8613800000071", code)
        self.assertEqual(self.answer("+8613800000071", "已结束"),
                         "测试老人7的告警已结束，无需确认。谢谢！")
        self.assertEqual(state(self.db, alert), "resolved")
        tries = [a for a in audit(self.db, "alert.ack") if a[2] == "alert:%s" % alert]
        self.assertEqual([(c[0], c[3]) for c in tries],
                         [("contact:%s" % contact_id(self.db, "+8613800000071"),
                           "not_open:resolved")])

    def test_a_number_not_notified_is_refused_and_audited(self):
        alert, code = self.sos(8)
        refused_before = self.d.metric('anxin_phone_replies_total{outcome="refused"}')
        self.text(STRANGER, code)
        # The answer is the one for any unknown code: nothing about the alert.
        self.assertEqual(self.answer(STRANGER, "未找到"), UNKNOWN_ANSWER)
        # A contact in the registry, of another elder: never sent this alert.
        self.text("+8613800000091", code)
        self.answer("+8613800000091", "未找到")
        rows = h.wait_for(lambda: (lambda r: r if len(r) == 2 else None)(
            audit(self.db, "reply.refused")), what="two refused replies audited")
        self.assertEqual([(a[0], a[2], a[3]) for a in rows],
                         [("phone:139****0099", "alert:%s" % alert, "not_notified"),
                          ("phone:138****0091", "alert:%s" % alert, "not_notified")])
        detail = json.loads(rows[0][4])
        self.assertEqual(detail, {"provider": "kannel", "via": "kannel", "answered": True})
        for row in rows:
            self.assertNotIn("13900000099", "".join(row))
            self.assertNotIn("13800000091", "".join(row))
        # Nothing changed for the alert.
        self.assertEqual(state(self.db, alert), "open")
        self.assertEqual(events(self.db, alert, "acked"), [])
        self.assertIn("refused an SMS reply from 139****0099 via kannel", self.d.log())
        self.assertEqual(self.d.metric('anxin_phone_replies_total{outcome="refused"}'),
                         refused_before + 2)
        # Its own family member still can.
        self.text("+8613800000081", code)
        h.wait_for(lambda: state(self.db, alert) == "acknowledged", timeout=15,
                   what="acknowledged by the family member")


def smsup_body(items):
    """An Aliyun SmsUp push: a JSON array of (sender as Aliyun writes it,
    text)."""
    return json.dumps([{"phone_number": p, "content": t, "send_time": beijing_time(),
                        "dest_code": "1234", "sequence_id": 1234567890 + i}
                       for i, (p, t) in enumerate(items)], ensure_ascii=False).encode()


class CloudReplies(unittest.TestCase):
    """The cloud providers' reply callbacks on /hooks/NAME/mo, and an Aliyun
    IVR key press on /hooks/NAME/report."""

    def setUp(self):
        self.pub = h.publisher()
        self.d = None

    def tearDown(self):
        self.pub.loop_stop()
        if self.d:
            log = self.d.log()
            self.d.stop()
            self.assertNotIn("13800000011", log)
            self.assertNotIn("13900000099", log)

    def start(self, providers, env):
        self.db = h.fresh_db("creply")
        h.import_registry(self.db, h.sample_registry(1))
        self.d = h.Daemon(self.db, providers=providers, env=env).start()
        h.publish(self.pub, self.d.topic("E-SOS-0001"), {"events": ["sos"]})
        return live_alert(self.db, "E0001")

    def test_aliyun_smsup_push_acknowledges_and_refuses_a_stranger(self):
        ali = FakeAliyun()
        self.addCleanup(ali.close)
        alert, code = self.start(ali.conf_section("ali") + '[channel "sms"]\nproviders = ali\n',
                                 ali.env())
        ali.wait_count(2, kind="sms")
        url = "http://127.0.0.1:%d/hooks/ali/mo?key=%s" % (self.d.http_port,
                                                          report_key(ali.key_secret))
        body = smsup_body([("13800000011", code), ("13900000099", "确认%s" % code)])
        # Without the key, or with another: refused, nothing taken.
        st, _ = post_report(url.split("?")[0], body)
        self.assertEqual(st, 403)
        st, _ = post_report(url.replace("key=", "key=0"), body)
        self.assertEqual(st, 403)
        self.assertEqual(state(self.db, alert), "open")
        st, _ = post_report(url, b"{not json")
        self.assertEqual(st, 400)
        # One push, two replies: the family member takes it, the stranger is refused.
        st, answer = post_report(url, body)
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(answer)["code"], 0)
        self.assertEqual(state(self.db, alert), "acknowledged")
        acked = events(self.db, alert, "acked")
        self.assertEqual((acked[0][1], acked[0][2]),
                         ("contact:%s" % contact_id(self.db, "+8613800000011"), "sms"))
        ack = audit(self.db, "alert.ack")
        self.assertEqual([(a[0], a[3], json.loads(a[4])["answered"]) for a in ack],
                         [("contact:%s" % contact_id(self.db, "+8613800000011"), "ok", False)])
        refused = audit(self.db, "reply.refused")
        self.assertEqual([(a[0], a[2]) for a in refused],
                         [("phone:139****0099", "alert:%s" % alert)])
        # Aliyun cannot carry an answer: none is sent, and the record says so.
        self.assertEqual(json.loads(refused[0][4]),
                         {"provider": "ali", "via": "aliyun", "answered": False})
        time.sleep(0.5)
        self.assertEqual(len(ali.accepted("sms")), 2)
        # Aliyun pushes again when in doubt: the same reply changes nothing.
        st, _ = post_report(url, smsup_body([("13800000011", code)]))
        self.assertEqual(st, 200)
        self.assertEqual(len(events(self.db, alert, "acked")), 1)

    def test_aliyun_ivr_key_press_acknowledges_on_the_voice_channel(self):
        ali = FakeAliyun()
        self.addCleanup(ali.close)
        alert, _ = self.start(ali.conf_section("ali") + '[channel "sms"]\nproviders = ali\n'
                              '[channel "voice"]\nproviders = ali\n', ali.env())
        call = ali.wait_count(1, kind="call")[0]
        # VoiceCallReport: a key pressed during the call (status 300000).
        body = json.dumps([{"status_code": "300000", "smart_status_code": "ANSWERED",
                            "dtmf": "1", "status_time": beijing_time(),
                            "out_id": call["params"]["OutId"],
                            "call_id": call["answer"]["CallId"]}]).encode()
        st, _ = post_report("http://127.0.0.1:%d/hooks/ali/report?key=%s"
                            % (self.d.http_port, report_key(ali.key_secret)), body)
        self.assertEqual(st, 200)
        h.wait_for(lambda: state(self.db, alert) == "acknowledged", what="acknowledged")
        acked = events(self.db, alert, "acked")
        self.assertEqual(acked[0][1], "contact:%s" % contact_id(self.db, "+8613800000011"))
        self.assertEqual(acked[0][2], "voice")
        self.assertEqual(json.loads(acked[0][3])["note"], "家属1 按1确认")
        self.assertEqual([(a[0], a[1], a[2], a[3], json.loads(a[4])) for a in audit(self.db)],
                         [("contact:%s" % contact_id(self.db, "+8613800000011"), "alert.ack",
                           "alert:%s" % alert, "ok", {"channel": "voice", "provider": "ali"})])

    def test_tencent_reply_callback_acknowledges(self):
        tc = FakeTencent()
        self.addCleanup(tc.close)
        alert, code = self.start(tc.conf_section("tc") + '[channel "sms"]\nproviders = tc\n',
                                 tc.env())
        tc.wait_count(2)
        url = "/hooks/tc/mo?key=%s" % report_key(tc.secret_key)
        # Full-width digits, as some input methods type them.
        wide = "".join(chr(0xFF10 + int(c)) for c in code)
        body = json.dumps({"extend": "", "mobile": "13800000012", "nationcode": "86",
                           "sign": "安心养老", "text": "确认%s" % wide,
                           "time": int(time.time())}, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        st, _ = self.d.hook("/hooks/tc/mo", body=body, headers=headers)
        self.assertEqual(st, 403)
        self.assertEqual(state(self.db, alert), "open")
        st, answer = self.d.hook(url, body=body, headers=headers)
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(answer), {"result": 0, "errmsg": "OK"})
        self.assertEqual(state(self.db, alert), "acknowledged")
        acked = events(self.db, alert, "acked")
        self.assertEqual((acked[0][1], acked[0][2]),
                         ("contact:%s" % contact_id(self.db, "+8613800000012"), "sms"))
        self.assertEqual(json.loads(acked[0][3])["note"], "邻居1 短信回复确认")
        st, _ = self.d.hook(url, body=b"[1, 2", headers=headers)
        self.assertEqual(st, 400)

    def test_twilio_incoming_sms_acknowledges_with_twiml_and_checks_its_signature(self):
        tw = FakeTwilio()
        self.addCleanup(tw.close)
        alert, code = self.start(tw.conf_section("tw", "http://127.0.0.1:{http}/hooks/tw")
                                 + '[channel "sms"]\nproviders = tw\n', tw.env())
        tw.wait_count(2, kind="sms")
        url = "http://127.0.0.1:%d/hooks/tw/mo" % self.d.http_port

        def incoming(sender, text, sig=None):
            fields = [("AccountSid", tw.account_sid), ("ApiVersion", "2010-04-01"),
                      ("Body", text), ("From", sender), ("MessageSid", "SM" + "ab" * 16),
                      ("NumMedia", "0"), ("SmsSid", "SM" + "ab" * 16),
                      ("SmsStatus", "received"), ("To", tw.from_)]
            body, headers = signed_request(url, fields, tw.auth_token, sig)
            return post(url, body, headers)

        # A forged or unsigned post: 403, nothing taken, nothing recorded.
        for sig in ("AAAA", ""):
            st, _ = incoming("+8613800000011", code, sig=sig)
            self.assertEqual(st, 403)
        self.assertEqual(state(self.db, alert), "open")
        self.assertEqual(audit(self.db), [])
        # Signed for another address (Twilio signs the one it called).
        fields = [("Body", code), ("From", "+8613800000011"), ("MessageSid", "SM1")]
        body, headers = signed_request(url + "?n=1", fields, tw.auth_token)
        self.assertEqual(post(url, body, headers)[0], 403)
        # The real thing: the answer is TwiML that sends one SMS back.
        st, answer = incoming("+8613800000011", "%s 1" % code)
        self.assertEqual(st, 200)
        self.assertEqual(answer.decode(),
                         '<?xml version="1.0" encoding="UTF-8"?><Response><Message>'
                         "已确认，由您处理测试老人1的告警，请尽快联系或上门查看。谢谢！"
                         "</Message></Response>")
        self.assertEqual(state(self.db, alert), "acknowledged")
        acked = events(self.db, alert, "acked")
        self.assertEqual((acked[0][1], acked[0][2]),
                         ("contact:%s" % contact_id(self.db, "+8613800000011"), "sms"))
        # A stranger with the code: the answer for any unknown code, audited.
        st, answer = incoming(STRANGER, code)
        self.assertEqual(st, 200)
        self.assertIn("<Message>%s</Message>" % UNKNOWN_ANSWER, answer.decode())
        self.assertEqual([(a[0], a[1], a[2]) for a in audit(self.db)],
                         [("contact:%s" % contact_id(self.db, "+8613800000011"), "alert.ack",
                           "alert:%s" % alert),
                          ("phone:139****0099", "reply.refused", "alert:%s" % alert)])
        # A status callback posted here by mistake is not a reply.
        st, _ = post(url, *signed_request(url, [("MessageSid", "SM1"), ("From", "+14155550100"),
                                                ("MessageStatus", "delivered"), ("Body", "")],
                                          tw.auth_token))
        self.assertEqual(st, 400)


if __name__ == "__main__":
    unittest.main()
