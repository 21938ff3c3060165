"""The alarm path end to end: real MQTT messages into anxind, webhook
requests out to a loopback capture server, rows in PostgreSQL."""
import json
import subprocess
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


def fire_counts(db, elder):
    return [r[0] for r in h.psql(db, "SELECT fire_count FROM alerts WHERE elder_id = '%s' "
                                     "ORDER BY id" % elder)]


class AlarmLane(unittest.TestCase):
    """The alarm topic, taken on a session of its own ([mqtt] alarm_topics)."""

    def daemon(self, name, elders, **kw):
        """(db, capture, running anxind), stopped and closed after the test."""
        db = h.fresh_db(name)
        h.import_registry(db, h.sample_registry(elders))
        cap = h.Capture()
        self.addCleanup(cap.close)
        d = h.Daemon(db, webhook_url=cap.url, **kw)
        self.addCleanup(d.stop)
        return db, cap, d.start()

    def test_sos_on_the_alarm_topic_pages_and_seqs_count_per_lane(self):
        db, cap, d = self.daemon("lane", 1)
        pub = h.publisher()
        self.addCleanup(pub.loop_stop)
        h.wait_for(lambda: d.metric('anxin_mqtt_lane_connected{lane="alarm"}') == 1,
                   what="alarm lane connected")
        self.assertEqual(d.metric('anxin_mqtt_lane_connected{lane="telemetry"}'), 1)
        self.assertEqual(d.metric("anxin_mqtt_connected"), 1)
        h.publish(pub, d.alarm_topic("E-SOS-0001"), {"seq": 5, "events": ["sos"]})
        got = cap.wait_count(2)
        self.assertEqual({r["json"]["elder"] for r in got}, {"E0001"})
        self.assertEqual(got[0]["json"]["rule"], "sos")
        self.assertEqual(d.metric("anxin_alarm_lane_received_total"), 1)
        log = d.log()
        self.assertIn("mqtt: connected to tcp://127.0.0.1:%d as anxind-%s-alarm (alarm lane)"
                      % (h.MQ_PORT, d.name), log)
        self.assertIn("mqtt: subscribed to 1 filter(s), QoS 1 (alarm lane)", log)

        # One counter across both topics: reading 4 was sent before the
        # alarm (5) and arrives after it; it is taken. A repeat of the
        # alarm on its own lane is still a repeat.
        dup = 'anxin_messages_rejected_total{reason="duplicate_seq"}'
        p0 = d.metric("anxin_messages_processed_total")
        h.publish(pub, d.topic("E-SOS-0001"), {"seq": 4, "metrics": {"battery.pct": 80}})
        h.publish(pub, d.alarm_topic("E-SOS-0001"), {"seq": 5, "events": ["sos"]})
        h.wait_for(lambda: d.metric(dup) == 1, what="the repeated alarm counted")
        self.assertEqual(d.metric("anxin_messages_processed_total"), p0 + 1)
        self.assertEqual(fire_counts(db, "E0001"), ["1"], "a repeat is not a new press")
        h.publish(pub, d.alarm_topic("E-SOS-0001"), {"seq": 6, "events": ["sos"]})
        h.wait_for(lambda: fire_counts(db, "E0001") == ["2"], what="seq 6 counted")

    def sos_against_backlog(self, lane):
        """Queues readings for a stopped anxind, then an SOS; returns
        whether the SOS was received before the last reading."""
        db, cap, d = self.daemon("backlog", 2, alarm_topics=None if lane else "none")
        n = 20000
        d.stop()   # the broker keeps the sessions and queues for them
        lines = "".join('{"seq": %d, "metrics": {"battery.pct": 90}}\n' % i
                        for i in range(1, n + 1))
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(h.MQ_PORT),
                        "-q", "1", "-t", d.topic("E-SOS-0002"), "-l"],
                       input=lines, text=True, check=True, timeout=120)
        sos_topic = d.alarm_topic("E-SOS-0001") if lane else d.topic("E-SOS-0001")
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(h.MQ_PORT),
                        "-q", "1", "-t", sos_topic, "-m", '{"events": ["sos"]}'],
                       check=True, timeout=30)
        d.start()
        got = cap.wait_count(2, timeout=60)
        self.assertEqual({r["json"]["elder"] for r in got}, {"E0001"})
        h.wait_for(lambda: d.metric("anxin_messages_processed_total") == n + 1,
                   timeout=120, what="the backlog processed")
        self.assertEqual(d.stop(), 0, "anxind exit status\n" + d.log())  # writes last_seen
        row = h.psql(db, "SELECT (SELECT opened_at FROM alerts WHERE elder_id = 'E0001') "
                         "< (SELECT last_seen FROM devices WHERE id = 'E-SOS-0002')")
        self.assertIn(row[0][0], ("t", "f"))
        return row[0][0] == "t"

    def test_the_journal_replay_keeps_the_lanes_apart(self):
        # Journal order: alarm 5, then reading 4 (sent before it, overtaken).
        # After a crash the replay must take both again, as the live run did:
        # if it put them on one lane, reading 4 would be dropped as a repeat.
        db, cap, d = self.daemon("lanereplay", 1)
        pub = h.publisher()
        self.addCleanup(pub.loop_stop)
        self.addCleanup(h.services, "pg-start", h.PG_PORT)
        h.services("pg-stop")
        h.wait_for(lambda: d.metric("anxin_db_connected") == 0, what="database seen down")
        h.publish(pub, d.alarm_topic("E-SOS-0001"), {"seq": 5, "events": ["sos"]})
        h.publish(pub, d.topic("E-SOS-0001"), {"seq": 4, "metrics": {"battery.pct": 5}})
        h.wait_for(lambda: d.metric("anxin_messages_processed_total") == 2,
                   what="both handled live")
        self.assertEqual(d.metric('anxin_messages_rejected_total{reason="duplicate_seq"}'), 0)
        d.kill()
        h.services("pg-start", h.PG_PORT)
        d.start()
        rules = lambda: sorted(r[0] for r in h.psql(db, "SELECT rule FROM alerts"))
        h.wait_for(lambda: rules() == ["battery_low", "sos"], what="both alerts from the replay")
        self.assertIn("journal: replayed 2 message", d.log())
        self.assertEqual(d.metric('anxin_messages_rejected_total{reason="duplicate_seq"}'), 0)

    def test_an_alarm_overtakes_a_backlog_of_readings(self):
        self.assertTrue(self.sos_against_backlog(lane=True),
                        "the SOS on the alarm lane must not wait for 20000 readings")

    def test_without_the_lane_an_alarm_waits_for_the_backlog(self):
        # The control: the same SOS on the telemetry topic comes after them.
        self.assertFalse(self.sos_against_backlog(lane=False))


if __name__ == "__main__":
    unittest.main()
