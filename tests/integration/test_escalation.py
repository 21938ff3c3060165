"""Escalation: chains that page step by step until someone takes the alert,
acknowledgement that stops everything at once, ack timeouts, durable steps
across SIGKILL, two anxind on one database, silences, and the record."""
import os
import signal
import subprocess
import time
import unittest

import harness as h

# Chains in seconds instead of minutes.
RULES = """
rule sos {
    title "SOS紧急呼叫"
    when event sos
    severity critical
    chain fast
}

rule fall {
    when event fall
    severity critical
    chain once
}

chain fast {
    at 0s notify priority 1 by sms
    at 0s notify console
    at 2s notify priority 2 by sms
    at 4s notify community by sms
    repeat every 2s until acknowledged
    ack timeout 3s
}

chain once {
    at 0s notify priority 1 by sms
    at 3s notify priority 2 by sms
}
"""

P1 = {"+8613800000011", "+8613800000012"}     # sample_registry(1): family, neighbor
P2 = "+8613800000013"                         # community, priority 2


def rules_dir(name):
    d = os.path.join(h.RUN, "esc-rules-" + name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "esc.rules"), "w") as f:
        f.write(RULES)
    return d


def alert_of(db, rule="sos"):
    rows = h.psql(db, "SELECT id, state FROM alerts WHERE rule = '%s' ORDER BY id" % rule)
    return rows


def to_list(cap, since=0.0):
    return [(r["json"]["to"], r["time"]) for r in cap.sms() if r["time"] >= since]


class Chains(unittest.TestCase):
    def setUp(self):
        self.db = h.fresh_db("esc")
        h.import_registry(self.db, h.sample_registry(2))
        self.cap = h.Capture()
        self.rules = rules_dir(self.db)
        self.d = h.Daemon(self.db, webhook_url=self.cap.url, rules=self.rules).start()
        self.pub = h.publisher()

    def tearDown(self):
        self.pub.loop_stop()
        if self.d:
            self.d.stop()
        self.cap.close()

    def sos(self, device="E-SOS-0001"):
        t0 = time.time()
        h.publish(self.pub, self.d.topic(device), {"events": ["sos"]})
        return t0

    def test_chain_pages_step_by_step_and_an_ack_stops_it(self):
        t0 = self.sos()
        self.cap.wait_count(2)
        h.wait_for(lambda: len(self.cap.sms()) >= 3, timeout=10, what="step at 2s")
        third = self.cap.sms()[2]
        self.assertEqual(third["json"]["to"], P2)
        self.assertGreaterEqual(third["time"] - t0, 1.9, "not before its time")
        self.assertLess(third["time"] - t0, 3.5, "on time (within the 1 s claim tick)")
        h.wait_for(lambda: len(self.cap.sms()) >= 4, timeout=10, what="step at 4s")
        self.assertEqual(self.cap.sms()[3]["json"]["to"], P2)   # community is P2 here
        # Repeat: the steps again, one every 2 s: priority 1 next.
        h.wait_for(lambda: len(self.cap.sms()) >= 6, timeout=10, what="first repeat")
        self.assertEqual({r["json"]["to"] for r in self.cap.sms()[4:6]}, P1)
        aid = alert_of(self.db)[0][0]
        r = h.ctl(self.db, "ack", aid, "--note", "正在联系")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("acknowledged by cli:", r.stdout)
        n = len(self.cap.sms())
        time.sleep(3.0)
        self.assertEqual(len(self.cap.sms()), n, "no message after the acknowledgement")
        self.assertEqual(alert_of(self.db)[0][1], "acknowledged")
        # Every step once, in order, on the timeline.
        steps = h.psql(self.db, "SELECT detail->>'step' FROM alert_events WHERE alert_id = %s "
                                "AND kind = 'escalate' ORDER BY id" % aid)
        self.assertEqual([s[0] for s in steps], ["2", "3", "4"][:len(steps)])
        self.assertGreaterEqual(len(steps), 3)
        # A second ack is refused, and says so.
        r = h.ctl(self.db, "ack", aid)
        self.assertEqual(r.returncode, 1)
        self.assertIn("already acknowledged", r.stderr)

    def test_ack_drops_what_is_still_being_sent(self):
        # The provider answers slowly and fails: retries are pending at the ack.
        self.cap.default_status = 503
        t0 = self.sos()
        self.cap.wait_count(2)
        aid = alert_of(self.db)[0][0]
        r = h.ctl(self.db, "ack", aid)
        self.assertEqual(r.returncode, 0, r.stderr)
        h.wait_for(lambda: "paging stopped" in self.d.log(), what="anxind heard the ack")
        n = len(self.cap.sms())
        time.sleep(3.0)
        self.assertEqual(len(self.cap.sms()), n, "retries stop at the acknowledgement")
        st = h.psql(self.db, "SELECT DISTINCT status FROM notifications WHERE alert_id = %s"
                             % aid)
        self.assertEqual(st, [["cancelled"]])
        self.assertLess(time.time() - t0, 30)

    def test_ack_timeout_pages_again(self):
        self.sos()
        self.cap.wait_count(2)
        aid = alert_of(self.db)[0][0]
        h.ctl(self.db, "ack", aid)
        n = len(self.cap.sms())
        t_ack = time.time()
        # Not resolved within the chain's ack timeout (3 s): paged again.
        h.wait_for(lambda: len(self.cap.sms()) > n, timeout=10, what="re-paging")
        self.assertGreaterEqual(time.time() - t_ack, 2.9)
        self.assertEqual(alert_of(self.db)[0][1], "open")
        ev = h.psql(self.db, "SELECT kind FROM alert_events WHERE alert_id = %s AND "
                             "kind IN ('acked', 'ack_timeout') ORDER BY id" % aid)
        self.assertEqual([e[0] for e in ev], ["acked", "ack_timeout"])
        # Resolving ends it for good.
        r = h.ctl(self.db, "resolve", aid, "--outcome", "assisted_on_site", "--note",
                  "网格员上门，老人无碍")
        self.assertEqual(r.returncode, 0, r.stderr)
        n = len(self.cap.sms())
        time.sleep(3)
        self.assertEqual(len(self.cap.sms()), n)
        self.assertEqual(alert_of(self.db)[0][1], "resolved")

    def test_resolve_needs_an_outcome_and_a_note(self):
        self.sos()
        self.cap.wait_count(2)
        aid = alert_of(self.db)[0][0]
        r = h.ctl(self.db, "resolve", aid, "--outcome", "fixed", "--note", "x")
        self.assertEqual(r.returncode, 1)
        self.assertIn("--outcome is one of", r.stderr)
        r = h.ctl(self.db, "resolve", aid, "--outcome", "false_alarm", "--note", "  ")
        self.assertEqual(r.returncode, 1)
        self.assertIn("--note is required", r.stderr)
        r = h.ctl(self.db, "resolve", aid, "--outcome", "false_alarm")
        self.assertEqual(r.returncode, 2)
        r = h.ctl(self.db, "ack", "424242")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no alert with id 424242", r.stderr)

    def test_sigkill_between_two_steps_pages_the_next_once_and_on_time(self):
        t0 = self.sos("E-SOS-0002")
        self.cap.wait_count(2)
        # Let the SOS's writes land, then kill before the step at 3 s ("once").
        h.publish(self.pub, self.d.topic("E-SOS-0001"), {"events": ["fall"]})
        h.wait_for(lambda: alert_of(self.db, "fall"), what="fall alert stored")
        t_fall = time.time()
        self.cap.wait_count(4)
        self.d.kill()
        time.sleep(0.5)
        self.d.start()
        h.wait_for(lambda: any(r["json"]["to"] == P2 and r["json"]["rule"] == "fall"
                               for r in self.cap.sms()), timeout=10, what="the step at 3s")
        hit = [r for r in self.cap.sms() if r["json"]["rule"] == "fall" and r["json"]["to"] == P2]
        self.assertGreaterEqual(hit[0]["time"] - t_fall, 2.9)
        self.assertLess(hit[0]["time"] - t_fall, 4.5)
        time.sleep(2)
        hit = [r for r in self.cap.sms() if r["json"]["rule"] == "fall" and r["json"]["to"] == P2]
        self.assertEqual(len(hit), 1, "exactly once")
        self.assertLess(t0, t_fall)


class Expiry(unittest.TestCase):
    def test_an_alert_nobody_takes_expires_after_its_chain(self):
        db = h.fresh_db("exp")
        h.import_registry(db, h.sample_registry(1))
        cap = h.Capture()
        d = h.Daemon(db, webhook_url=cap.url, rules=rules_dir(db))
        # The harness writes [anxind]; the key goes into that section.
        text = open(d.conf).read().replace("[anxind]\n", "[anxind]\nexpire_after = 2s\n", 1)
        with open(d.conf, "w") as f:
            f.write(text)
        d.start()
        pub = h.publisher()
        try:
            h.publish(pub, d.topic("E-SOS-0001"), {"events": ["fall"]})   # chain once: 0s, 3s
            h.wait_for(lambda: alert_of(db, "fall") and alert_of(db, "fall")[0][1] == "expired",
                       timeout=15, what="expired after 3 s + 2 s")
            ev = h.psql(db, "SELECT kind FROM alert_events WHERE kind IN ('escalate', "
                            "'expired') ORDER BY id")
            self.assertEqual([e[0] for e in ev], ["escalate", "expired"])
        finally:
            pub.loop_stop()
            d.stop()
            cap.close()


class Limits(unittest.TestCase):
    def test_a_capped_voice_call_goes_out_as_sms_and_the_timeline_says_so(self):
        db = h.fresh_db("cap")
        h.import_registry(db, h.sample_registry(1))
        d_rules = os.path.join(h.RUN, "cap-rules-" + db)
        os.makedirs(d_rules, exist_ok=True)
        with open(os.path.join(d_rules, "cap.rules"), "w") as f:
            f.write("rule sos {\n    when event sos\n    severity critical\n    chain calls\n}\n"
                    "chain calls {\n    at 0s notify family by voice\n"
                    "    at 2s notify family by voice\n}\n")
        cap = h.Capture()
        voice_url = cap.url.replace("/notify", "/voice")
        d = h.Daemon(db, webhook_url=cap.url, rules=d_rules,
                     extra='[provider "call"]\ntype = webhook\nurl = %s\nper_callee = 1/1m\n'
                           '[channel "voice"]\nproviders = call\n' % voice_url).start()
        pub = h.publisher()
        try:
            h.publish(pub, d.topic("E-SOS-0001"), {"events": ["sos"]})
            got = cap.wait_count(2, timeout=10)
            self.assertEqual((got[0]["path"], got[0]["json"]["channel"]), ("/voice", "voice"))
            # The second call within the minute is over the provider's limit:
            # it goes out as an SMS through the SMS provider.
            self.assertEqual((got[1]["path"], got[1]["json"]["channel"]), ("/notify", "sms"))
            self.assertEqual(got[1]["json"]["to"], got[0]["json"]["to"])
            h.wait_for(lambda: h.psql(db, "SELECT count(*) FROM alert_events WHERE kind = "
                                          "'capped'") == [["1"]], what="timeline entry")
            err = h.psql(db, "SELECT detail->>'error' FROM alert_events WHERE kind = 'capped'")
            self.assertEqual(err[0][0], "capped: voice limit 1/1m for this number; sent by SMS "
                                        "instead")
        finally:
            pub.loop_stop()
            d.stop()
            cap.close()


class Grouping(unittest.TestCase):
    def test_emergencies_of_one_elder_moments_apart_are_one_incident(self):
        db = h.fresh_db("grp")
        h.import_registry(db, h.sample_registry(1))
        cap = h.Capture()
        d = h.Daemon(db, webhook_url=cap.url, rules=rules_dir(db)).start()
        pub = h.publisher()
        try:
            h.publish(pub, d.topic("E-SOS-0001"), {"events": ["sos"]})
            cap.wait_count(2)
            h.publish(pub, d.topic("E-SOS-0001"), {"events": ["fall"]})
            h.wait_for(lambda: len(alert_of(db, "fall")) == 1, what="fall recorded")
            time.sleep(1.0)
            # The fall did not page on its own: only the SOS's first step went out.
            self.assertEqual({r["json"]["rule"] for r in cap.sms()}, {"sos"})
            sos_id, fall_id = alert_of(db, "sos")[0][0], alert_of(db, "fall")[0][0]
            self.assertEqual(h.psql(db, "SELECT group_id FROM alerts WHERE id = %s" % fall_id),
                             [[sos_id]])
            self.assertEqual(h.psql(db, "SELECT detail->>'alert' FROM alert_events WHERE "
                                        "alert_id = %s AND kind = 'joined'" % sos_id),
                             [[fall_id]])
            # Taking the SOS takes the fall too.
            self.assertEqual(h.ctl(db, "ack", sos_id).returncode, 0)
            self.assertEqual(alert_of(db, "fall")[0][1], "acknowledged")
            r = h.ctl(db, "resolve", sos_id, "--outcome", "assisted_on_site", "--note", "已处理")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(alert_of(db, "fall")[0][1], "resolved")
        finally:
            pub.loop_stop()
            d.stop()
            cap.close()


class TwoInstances(unittest.TestCase):
    def test_two_anxind_on_one_database_page_each_step_once(self):
        db = h.fresh_db("esc2")
        h.import_registry(db, h.sample_registry(1))
        cap = h.Capture()
        rules = rules_dir(db)
        d1 = h.Daemon(db, webhook_url=cap.url, rules=rules).start()
        d2 = h.Daemon(db, webhook_url=cap.url, rules=rules).start()
        pub = h.publisher()
        try:
            h.publish(pub, d1.topic("E-SOS-0001"), {"events": ["fall"]})
            h.wait_for(lambda: len(cap.sms()) >= 3, timeout=10, what="both steps")
            time.sleep(3)   # anything doubled would show now
            tos = sorted(r["json"]["to"] for r in cap.sms())
            self.assertEqual(tos, sorted(list(P1) + [P2]))
            claimed = h.psql(db, "SELECT claimed_by FROM escalation_timers WHERE kind = 'step'")
            self.assertEqual(len(claimed), 1)
            self.assertIn(claimed[0][0], (d1.name, d2.name))
        finally:
            pub.loop_stop()
            d1.stop()
            d2.stop()
            cap.close()


class Silences(unittest.TestCase):
    def test_a_silenced_elders_sos_is_recorded_and_not_paged(self):
        db = h.fresh_db("sil")
        h.import_registry(db, h.sample_registry(2))
        cap = h.Capture()
        d = h.Daemon(db, webhook_url=cap.url, rules=rules_dir(db)).start()
        pub = h.publisher()
        try:
            r = h.ctl(db, "silence", "add", "--elder", "E0001", "--for", "7d", "--reason",
                      "住院至下周")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertRegex(r.stdout, r"^silence \d+: elder E0001 from ")
            h.wait_for(lambda: "silences: 1 in force" in d.log(), what="anxind has it")
            h.publish(pub, d.topic("E-SOS-0001"), {"events": ["sos"]})
            h.publish(pub, d.topic("E-SOS-0002"), {"events": ["sos"]})
            cap.wait_count(2)
            time.sleep(1.5)
            self.assertEqual({r["json"]["elder"] for r in cap.sms()}, {"E0002"})
            rows = h.psql(db, "SELECT elder_id, state, silenced_by IS NOT NULL FROM alerts "
                              "ORDER BY elder_id")
            self.assertEqual(rows[0], ["E0001", "silenced", "t"])
            self.assertEqual(rows[1][:2], ["E0002", "open"])
            ev = h.psql(db, "SELECT detail->>'reason' FROM alert_events WHERE kind = "
                            "'silenced'")
            self.assertEqual(ev, [["住院至下周"]])
            r = h.ctl(db, "silence", "list")
            self.assertIn("E0001", r.stdout)
            sid = r.stdout.split()[0]
            seen = d.log().count("silences: 0 in force")     # from the start
            self.assertEqual(h.ctl(db, "silence", "cancel", sid).returncode, 0)
            h.wait_for(lambda: d.log().count("silences: 0 in force") > seen, what="cancel heard")
            h.publish(pub, d.topic("E-SOS-0001"), {"events": ["sos"]})
            h.wait_for(lambda: "E0001" in {r["json"]["elder"] for r in cap.sms()},
                       what="paged again once the silence is cancelled")
        finally:
            pub.loop_stop()
            d.stop()
            cap.close()


class Record(unittest.TestCase):
    def test_record_shows_the_whole_handling(self):
        db = h.fresh_db("rec")
        h.import_registry(db, h.sample_registry(1))
        cap = h.Capture()
        d = h.Daemon(db, webhook_url=cap.url, rules=rules_dir(db)).start()
        pub = h.publisher()
        try:
            h.publish(pub, d.topic("E-SOS-0001"), {"events": ["sos"]})
            h.wait_for(lambda: len(cap.sms()) >= 3, timeout=10, what="two steps")
            aid = alert_of(db)[0][0]
            h.ctl(db, "ack", aid, "--note", "已电话联系")
            h.ctl(db, "resolve", aid, "--outcome", "sent_to_hospital", "--note",
                  "120 送县医院")
            time.sleep(0.5)
        finally:
            pub.loop_stop()
            d.stop()
            cap.close()
        r = h.ctl(db, "record", aid)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        self.assertIn("state         resolved", out)
        self.assertIn("outcome       sent_to_hospital", out)
        self.assertIn("note          120 送县医院", out)
        self.assertRegex(out, r"acknowledged  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d cli:")
        self.assertRegex(out, r"acknowledged +\d+\.\d s")
        for kind in ("opened", "notify", "escalate", "acked", "resolved"):
            self.assertRegex(out, r"\n  \S+  %s " % kind)
        csv = h.ctl(db, "record", aid, "--format", "csv")
        self.assertEqual(csv.returncode, 0, csv.stderr)
        lines = csv.stdout.splitlines()
        self.assertEqual(lines[0].split(",")[:4], ["section", "time", "kind", "who"])
        self.assertTrue(any(l.startswith("alert,") and "sent_to_hospital" in l for l in lines))
        self.assertTrue(any(l.startswith("timeline,") and ",acked," in l for l in lines))
        self.assertNotRegex(csv.stdout, r"\+86138\d{8}")


if __name__ == "__main__":
    unittest.main()
