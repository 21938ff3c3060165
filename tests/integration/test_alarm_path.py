"""The alarm path end to end: real MQTT messages into anxind, webhook
requests out to a loopback capture server, rows in PostgreSQL."""
import json
import time
import unittest

import harness as h


class AlarmPath(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = h.fresh_db("alarm")
        h.import_registry(cls.db, h.sample_registry(6))
        cls.cap = h.Capture()
        cls.d = h.Daemon(cls.db, webhook_url=cls.cap.url).start()
        cls.pub = h.publisher()

    @classmethod
    def tearDownClass(cls):
        cls.pub.loop_stop()
        rc = cls.d.stop()
        cls.cap.close()
        assert rc == 0, "anxind exit status %s\n%s" % (rc, cls.d.log())

    def alerts(self, elder):
        return h.psql(self.db, "SELECT id, rule, state, fire_count, ack_code FROM alerts "
                               "WHERE elder_id = '%s' ORDER BY id" % elder)

    def test_sos_notifies_every_priority1_contact_and_lands_in_db(self):
        before = len(self.cap.sms())
        t0 = int(time.time() * 1000)
        h.publish(self.pub, self.d.topic("E-SOS-0001"),
                  {"ts": t0, "seq": 1, "events": ["sos"]})
        got = self.cap.wait_count(before + 2)[before:]
        tos = sorted(r["json"]["to"] for r in got)
        self.assertEqual(tos, ["+8613800000011", "+8613800000012"])  # priority 1 only
        body = got[0]["json"]
        self.assertEqual(set(body), {"id", "alert", "elder", "rule", "severity", "to",
                                     "channel", "text", "ack_code", "event_ts"})
        self.assertEqual(body["elder"], "E0001")
        self.assertEqual(body["rule"], "sos")
        self.assertEqual(body["severity"], "critical")
        self.assertEqual(body["channel"], "sms")
        self.assertEqual(body["event_ts"], t0)
        self.assertRegex(body["ack_code"], r"^[0-9]{4}$")
        self.assertIn("测试老人1", body["text"])
        self.assertIn("回复%s" % body["ack_code"], body["text"])
        self.assertEqual(got[0]["headers"]["Idempotency-Key"], str(body["id"]))
        self.assertNotEqual(got[0]["json"]["id"], got[1]["json"]["id"])

        rows = h.wait_for(lambda: h.psql(
            self.db, "SELECT count(*) FROM notifications WHERE alert_id = %d AND status = 'sent'"
            % body["alert"]) == [["2"]], what="notifications marked sent")
        self.assertTrue(rows)
        a = self.alerts("E0001")
        self.assertEqual(len(a), 1)
        self.assertEqual(a[0][0], str(body["alert"]))
        self.assertEqual(a[0][1:4], ["sos", "open", "1"])
        self.assertEqual(a[0][4], body["ack_code"])
        kinds = h.psql(self.db, "SELECT kind, coalesce(channel, '') FROM alert_events "
                                "WHERE alert_id = %d ORDER BY at, id" % body["alert"])
        # The emergency chain at once: SMS to both priority-1 contacts (the
        # family's voice call falls back to SMS: no voice provider here) and
        # the call-center console.
        self.assertEqual(kinds[:4], [["opened", "mqtt"], ["notify", "sms"], ["notify", "sms"],
                                     ["notify", "console"]])
        self.assertEqual(sorted(k[0] for k in kinds[4:]), ["sent", "sent"])
        att = h.psql(self.db, "SELECT a.outcome, a.http_status, a.provider FROM notification_attempts "
                              "a JOIN notifications n ON n.id = a.notification_id "
                              "WHERE n.alert_id = %d" % body["alert"])
        self.assertEqual(att, [["sent", "200", "hook"], ["sent", "200", "hook"]])
        ts = h.psql(self.db, "SELECT (extract(epoch FROM event_ts) * 1000)::bigint FROM alerts "
                             "WHERE id = %d" % body["alert"])
        self.assertEqual(int(ts[0][0]), t0)

    def test_second_sos_while_open_is_a_repeat_not_a_new_alert(self):
        before = len(self.cap.sms())
        h.publish(self.pub, self.d.topic("E-SOS-0002"), {"seq": 1, "events": ["sos"]})
        self.cap.wait_count(before + 2)
        h.publish(self.pub, self.d.topic("E-SOS-0002"), {"seq": 2, "events": ["sos"]})
        h.wait_for(lambda: self.alerts("E0002") and self.alerts("E0002")[0][3] == "2",
                   what="fire_count 2")
        a = self.alerts("E0002")
        self.assertEqual(len(a), 1)
        ev = h.psql(self.db, "SELECT count(*) FROM alert_events WHERE alert_id = %s "
                             "AND kind = 'repeat'" % a[0][0])
        self.assertEqual(ev, [["1"]])
        time.sleep(0.3)
        self.assertEqual(len(self.cap.sms()), before + 2, "a repeat must not page again")

    def test_malformed_messages_are_counted_by_reason_and_never_stop_the_others(self):
        m0 = self.d.metrics()
        topic = self.d.topic("E-SOS-0003")
        bad = [
            ("not_json", b"this is not json"),
            ("not_object", b"[1,2,3]"),
            ("bad_utf8", b'{"events": ["sos"], "x": "\xff\xfe"}'),
            ("bad_ts", b'{"ts": "yesterday", "events": ["sos"]}'),
            ("bad_seq", b'{"seq": -4, "events": ["sos"]}'),
            ("bad_metrics", b'{"metrics": {"hr.bpm": "fast"}}'),
            ("bad_events", b'{"events": "sos"}'),
            ("id_mismatch", b'{"device": "OTHER", "events": ["sos"]}'),
            ("too_large", b'{"pad": "' + b"x" * (70 * 1024) + b'", "events": ["sos"]}'),
        ]
        for _, payload in bad:
            h.publish(self.pub, topic, payload)
        h.publish(self.pub, self.d.topic("NO-SUCH-DEVICE"), {"events": ["sos"]})
        # After all of that, a good SOS from the same device still opens an alert.
        before = len(self.cap.sms())
        h.publish(self.pub, topic, {"seq": 7, "events": ["sos"]})
        self.cap.wait_count(before + 2)
        m1 = self.d.metrics()
        for reason, _ in bad:
            key = 'anxin_messages_rejected_total{reason="%s"}' % reason
            self.assertEqual(m1.get(key, 0) - m0.get(key, 0), 1, reason)
        key = 'anxin_messages_rejected_total{reason="unknown_device"}'
        self.assertEqual(m1[key] - m0.get(key, 0), 1)
        self.assertEqual(len(self.alerts("E0003")), 1)
        self.assertIsNone(self.d.proc.poll(), "anxind must keep running")
        log = self.d.log()
        self.assertIn("telemetry rejected (not_json)", log)
        self.assertNotIn("xxxxxxxxxx", log, "payload content must not be logged")

    def test_repeated_seq_is_dropped_as_duplicate(self):
        topic = self.d.topic("E-SOS-0004")
        key = 'anxin_messages_rejected_total{reason="duplicate_seq"}'
        m0 = self.d.metric(key)
        before = len(self.cap.sms())
        h.publish(self.pub, topic, {"seq": 41, "events": ["sos"]})
        self.cap.wait_count(before + 2)
        h.publish(self.pub, topic, {"seq": 41, "events": ["sos"]})
        h.publish(self.pub, topic, {"seq": 40, "events": ["sos"]})
        h.wait_for(lambda: self.d.metric(key) - m0 == 2, what="two duplicates counted")
        a = self.alerts("E0004")
        self.assertEqual(len(a), 1)
        self.assertEqual(a[0][3], "1", "duplicates must not count as repeats")
        # A device that restarted its counter far below is accepted again.
        h.publish(self.pub, topic, {"seq": 42, "events": ["sos"]})
        h.wait_for(lambda: self.alerts("E0004")[0][3] == "2", what="seq 42 counted")

    def test_no_phone_number_or_name_in_the_log(self):
        before = len(self.cap.sms())
        h.publish(self.pub, self.d.topic("E-SOS-0005"), {"events": ["sos"]})
        self.cap.wait_count(before + 2)
        h.wait_for(lambda: "138****0051" in self.d.log(), what="masked number logged")
        log = self.d.log()
        self.assertNotRegex(log, r"\+?86138\d{8}", "full phone number in the log")
        self.assertRegex(log, r"138\*\*\*\*\d{4}")
        self.assertNotIn("测试老人", log, "names of elders do not belong in the log")


class Webhook(unittest.TestCase):
    """Retries on 5xx, 429 and timeouts; no retry on a definitive 4xx."""

    def setUp(self):
        self.db = h.fresh_db("hook")
        h.import_registry(self.db, h.sample_registry(1))
        self.cap = h.Capture()
        self.d = h.Daemon(self.db, webhook_url=self.cap.url).start()
        self.pub = h.publisher()

    def tearDown(self):
        self.pub.loop_stop()
        self.d.stop()
        self.cap.close()

    def attempts(self):
        return h.psql(self.db, "SELECT n.to_number, a.attempt, a.outcome, "
                               "coalesce(a.http_status::text, '') FROM notification_attempts a "
                               "JOIN notifications n ON n.id = a.notification_id "
                               "ORDER BY n.to_number, a.attempt")

    def test_5xx_and_429_are_retried_with_the_same_id(self):
        self.cap.plan = [(500, 0), (503, 0), (429, 0)]
        self.cap.default_status = 200
        h.publish(self.pub, self.d.topic("E-SOS-0001"), {"events": ["sos"]})
        # 2 contacts; the first three answers fail, so 5 requests in all.
        reqs = self.cap.wait_count(5, timeout=15)
        by_to = {}
        for r in reqs:
            by_to.setdefault(r["json"]["to"], set()).add(r["json"]["id"])
        for to, ids in by_to.items():
            self.assertEqual(len(ids), 1, "a retry must carry the same notification id")
        h.wait_for(lambda: h.psql(self.db, "SELECT count(*) FROM notifications "
                                           "WHERE status = 'sent'") == [["2"]],
                   timeout=15, what="both sent")
        outcomes = [a[2] for a in self.attempts()]
        self.assertEqual(outcomes.count("retry"), 3)
        self.assertEqual(outcomes.count("sent"), 2)

    def test_definitive_4xx_is_not_retried(self):
        self.cap.default_status = 400
        h.publish(self.pub, self.d.topic("E-SOS-0001"), {"events": ["sos"]})
        self.cap.wait_count(2)
        h.wait_for(lambda: h.psql(self.db, "SELECT count(*) FROM notifications "
                                           "WHERE status = 'failed'") == [["2"]],
                   what="both failed")
        time.sleep(1.0)
        self.assertEqual(len(self.cap.sms()), 2, "no retry after 400")
        ev = h.psql(self.db, "SELECT count(*) FROM alert_events WHERE kind = 'failed'")
        self.assertEqual(ev, [["2"]])
        self.assertIn("FAILED", self.d.log())

    def test_timeout_is_retried(self):
        self.cap.plan = [(200, 3.0)]    # longer than the 2 s provider timeout
        h.publish(self.pub, self.d.topic("E-SOS-0001"), {"events": ["sos"]})
        h.wait_for(lambda: h.psql(self.db, "SELECT count(*) FROM notifications "
                                           "WHERE status = 'sent'") == [["2"]],
                   timeout=15, what="both sent after a timeout")
        att = self.attempts()
        self.assertIn("retry", [a[2] for a in att])
        err = h.psql(self.db, "SELECT error FROM notification_attempts WHERE outcome = 'retry'")
        self.assertRegex(err[0][0], "(?i)timeout|timed out")


class Registry(unittest.TestCase):
    def test_consent_false_is_not_monitored(self):
        db = h.fresh_db("consent")
        h.import_registry(db, h.sample_registry(1, consent=False))
        cap = h.Capture()
        d = h.Daemon(db, webhook_url=cap.url).start()
        pub = h.publisher()
        try:
            h.publish(pub, d.topic("E-SOS-0001"), {"events": ["sos"]})
            h.wait_for(lambda: d.metric("anxin_messages_not_monitored_total") == 1,
                       what="not monitored counted")
            self.assertEqual(cap.sms(), [])
            self.assertEqual(h.psql(db, "SELECT count(*) FROM alerts"), [["0"]])
        finally:
            pub.loop_stop()
            d.stop()
            cap.close()

    def test_registry_changes_reach_a_running_daemon(self):
        db = h.fresh_db("notify")
        h.import_registry(db, h.sample_registry(1))
        cap = h.Capture()
        d = h.Daemon(db, webhook_url=cap.url).start()
        pub = h.publisher()
        try:
            # A new elder and device, imported while anxind runs.
            reg = h.sample_registry(2)
            h.import_registry(db, reg)
            h.wait_for(lambda: d.metric("anxin_registry_devices") == 2,
                       what="new device known without restart")
            h.publish(pub, d.topic("E-SOS-0002"), {"events": ["sos"]})
            got = cap.wait_count(2)
            self.assertEqual({r["json"]["elder"] for r in got}, {"E0002"})
            # A changed phone number is used for the next alert.
            h.psql(db, "UPDATE contacts SET phone = '+8613900000099' WHERE elder_id = 'E0001' "
                       "AND position = 1")
            h.wait_for(lambda: d.metric("anxin_registry_reloads_total") >= 2,
                       what="reload after UPDATE")
            h.publish(pub, d.topic("E-SOS-0001"), {"events": ["sos"]})
            got = cap.wait_count(4)[2:]
            self.assertIn("+8613900000099", [r["json"]["to"] for r in got])
            # A deleted device is unknown from then on.
            h.psql(db, "DELETE FROM devices WHERE id = 'E-SOS-0002'")
            h.wait_for(lambda: d.metric("anxin_registry_devices") == 1, what="device removed")
        finally:
            pub.loop_stop()
            d.stop()
            cap.close()


if __name__ == "__main__":
    unittest.main()
