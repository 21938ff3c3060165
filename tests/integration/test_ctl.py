"""anxinctl against a real database and a running anxind: check, alerts,
record; and secrets taken from the environment or a file."""
import json
import os
import re
import unittest

import harness as h


class Check(unittest.TestCase):
    def test_shipped_config_is_valid_and_errors_name_file_and_line(self):
        shipped = os.path.join(h.ROOT, "conf", "anxind.conf")
        # The shipped file points at /etc/anxin/db.secret; give it one to read.
        text = open(shipped).read()
        secret = os.path.join(h.RUN, "db.secret")
        with open(secret, "w") as f:
            f.write("s3cret\n")
        text = text.replace("/etc/anxin/db.secret", secret).replace(
            "#rules = /etc/anxin/rules.d", "rules = " + os.path.join(h.ROOT, "conf", "rules.d"))
        conf = os.path.join(h.RUN, "check-ok.conf")
        with open(conf, "w") as f:
            f.write(text)
        r = h.ctl("postgres", "check", conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("check-ok.conf: OK", r.stdout)
        self.assertRegex(r.stdout, r"rules\.d: OK \(9 rule\(s\), 3 chain\(s\)")
        self.assertNotIn("s3cret", r.stdout + r.stderr)

        bad = os.path.join(h.RUN, "check-bad.conf")
        with open(bad, "w") as f:
            f.write(text.replace("[http]", "[http]\nlisten_on = 1\n", 1))
        r = h.ctl("postgres", "check", bad)
        self.assertEqual(r.returncode, 1)
        line = [i for i, l in enumerate(open(bad).read().splitlines(), 1) if l == "listen_on = 1"]
        self.assertIn("check-bad.conf:%d: error: unknown key \"listen_on\"" % line[0], r.stderr)

    def test_missing_secret_file_is_an_error(self):
        conf = os.path.join(h.RUN, "check-nosecret.conf")
        with open(conf, "w") as f:
            f.write("[mqtt]\nurl = tcp://127.0.0.1:1883\n[database]\nconninfo = host=x\n"
                    "password_file = /nonexistent/db.secret\n[provider \"c\"]\ntype = console\n")
        r = h.ctl("postgres", "check", conf)
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nonexistent/db.secret", r.stderr)


class AlertsAndRecord(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = h.fresh_db("ctl")
        h.import_registry(cls.db, h.sample_registry(2))
        cls.cap = h.Capture()
        cls.d = h.Daemon(cls.db, webhook_url=cls.cap.url,
                         provider_extra="token_env = ANXIN_TEST_HOOK_TOKEN\n",
                         env={"ANXIN_TEST_HOOK_TOKEN": "tok-123456"}).start()
        pub = h.publisher()
        h.publish(pub, cls.d.topic("E-SOS-0002"), {"ts": 1764400000000, "events": ["sos"]})
        cls.cap.wait_count(2)
        h.publish(pub, cls.d.topic("E-SOS-0002"), {"events": ["sos"]})
        pub.loop_stop()
        h.wait_for(lambda: h.psql(cls.db, "SELECT count(*) FROM notifications "
                                          "WHERE status = 'sent'") == [["2"]], what="sent")
        h.wait_for(lambda: h.psql(cls.db, "SELECT fire_count FROM alerts") == [["2"]],
                   what="repeat stored")
        cls.alert = int(h.psql(cls.db, "SELECT id FROM alerts")[0][0])

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.cap.close()

    def test_webhook_token_comes_from_the_environment_and_is_not_logged(self):
        for r in self.cap.sms():
            self.assertEqual(r["headers"]["Authorization"], "Bearer tok-123456")
        self.assertNotIn("tok-123456", self.d.log())

    def test_alerts_lists_the_live_alert(self):
        r = h.ctl(self.db, "alerts")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertTrue(lines[0].startswith("ID"))
        row = lines[1].split()
        self.assertEqual(row[0], str(self.alert))
        self.assertIn("E0002", row)
        self.assertIn("sos", row)
        self.assertIn("critical", row)
        self.assertIn("2/2", row)          # both notifications sent
        r = h.ctl(self.db, "alerts", "--state", "resolved")
        self.assertIn("no resolved alerts", r.stdout)
        r = h.ctl(self.db, "alerts", "--state", "bogus")
        self.assertEqual(r.returncode, 2)

    def test_record_text_is_a_complete_handling_record(self):
        r = h.ctl(self.db, "record", str(self.alert))
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        self.assertIn("E0002 测试老人2", out)
        self.assertIn("sos (critical), chain emergency, device E-SOS-0002", out)
        self.assertIn("fired 2 time(s)", out)
        # Event time in China Standard Time: 1764400000000 ms = 2025-11-29 07:06:40 UTC.
        self.assertIn("event         2025-11-29 15:06:40", out)
        self.assertIn("notifications (2)", out)
        self.assertRegex(out, r"138\*\*\*\*0021 +sent via hook")
        self.assertNotRegex(out, r"\+86138\d{8}", "numbers are masked in the record")
        for kind in ("opened", "notify", "sent", "repeat"):
            self.assertRegex(out, r"\n  \d\d:\d\d:\d\d\.\d{3}  %s " % kind)
        self.assertIn("first notification sent", out)

    def test_record_json(self):
        r = h.ctl(self.db, "record", str(self.alert), "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["id"], self.alert)
        self.assertEqual(doc["elder"], "E0002")
        self.assertEqual(doc["state"], "open")
        self.assertEqual(doc["fire_count"], 2)
        self.assertEqual(len(doc["notifications"]), 2)
        self.assertEqual({n["status"] for n in doc["notifications"]}, {"sent"})
        self.assertEqual({n["to"] for n in doc["notifications"]},
                         {"138****0021", "138****0022"})
        kinds = [t["kind"] for t in doc["timeline"]]
        self.assertEqual(kinds[0], "opened")
        self.assertEqual(kinds.count("notify"), 3)     # two SMS and the console
        self.assertIsNone(doc["acknowledged"])
        self.assertIsInstance(doc["seconds_to_first_notification"], (int, float))

    def test_record_of_unknown_alert(self):
        r = h.ctl(self.db, "record", "999999")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no alert with id 999999", r.stderr)
        r = h.ctl(self.db, "record", "")
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main()
