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


def offset_conf(db, offset):
    """A configuration whose only point is [anxind] utc_offset."""
    conf = os.path.join(h.RUN, "ctl-utc%s.conf" % offset.replace(":", ""))
    with open(conf, "w") as f:
        f.write("[anxind]\nutc_offset = %s\n[mqtt]\nurl = tcp://127.0.0.1:1\n"
                "[database]\nconninfo = %s\n[provider \"console\"]\ntype = console\n"
                % (offset, h.dsn(db)))
    return conf


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

    def test_record_in_the_countys_configured_offset(self):
        conf = offset_conf(self.db, "+05:30")
        r = h.ctl(self.db, "record", str(self.alert), conf=conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        # 1764400000000 ms = 2025-11-29 07:06:40 UTC.
        self.assertIn("event         2025-11-29 12:36:40", r.stdout)
        opened = h.psql(self.db, "SELECT to_char(opened_at AT TIME ZONE INTERVAL '+05:30', "
                                 "'YYYY-MM-DD HH24:MI') FROM alerts")[0][0]
        r = h.ctl(self.db, "alerts", conf=conf)
        self.assertIn(opened, r.stdout)

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


class CountyTime(unittest.TestCase):
    """Times staff type and read are the county's clock: [anxind] utc_offset,
    +08:00 without a configuration."""

    @classmethod
    def setUpClass(cls):
        cls.db = h.fresh_db("ctltz")
        h.import_registry(cls.db, h.sample_registry(1))

    def silence(self, *args, conf=None):
        r = h.ctl(self.db, "silence", "add", "--device", "E-SOS-0001", *args, "--reason", "检修",
                  conf=conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        sid = re.match(r"silence (\d+): ", r.stdout).group(1)
        row = h.psql(self.db, "SELECT to_char(starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'),"
                              " to_char(ends_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')"
                              " FROM silences WHERE id = %s" % sid)[0]
        return r.stdout, row

    def test_a_silence_typed_without_an_offset_is_the_countys(self):
        out, row = self.silence("--from", "2030-01-01 08:00", "--for", "1h")
        self.assertEqual(row, ["2030-01-01 00:00", "2030-01-01 01:00"])
        self.assertIn("from 2030-01-01 08:00 to 2030-01-01 09:00", out)

        conf = offset_conf(self.db, "-03:00")
        out, row = self.silence("--from", "2030-01-01 08:00", "--until", "2030-01-01 10:00",
                                conf=conf)
        self.assertEqual(row, ["2030-01-01 11:00", "2030-01-01 13:00"])
        self.assertIn("from 2030-01-01 08:00 to 2030-01-01 10:00", out)
        r = h.ctl(self.db, "silence", "list", conf=conf)
        self.assertIn("2030-01-01 08:00 .. 2030-01-01 10:00", r.stdout)
        r = h.ctl(self.db, "silence", "list")
        self.assertIn("2030-01-01 19:00 .. 2030-01-01 21:00", r.stdout)

    def test_a_time_with_its_own_offset_keeps_it(self):
        conf = offset_conf(self.db, "-03:00")
        out, row = self.silence("--from", "2030-02-01 08:00+08:00", "--until",
                                "2030-02-01T09:00Z", conf=conf)
        self.assertEqual(row, ["2030-02-01 00:00", "2030-02-01 09:00"])
        self.assertIn("from 2030-01-31 21:00 to 2030-02-01 06:00", out)

    def test_a_bad_time_is_refused_with_the_reason(self):
        r = h.ctl(self.db, "silence", "add", "--device", "E-SOS-0001", "--from", "tomorrow-ish",
                  "--for", "1h", "--reason", "x")
        self.assertEqual(r.returncode, 1)
        self.assertIn("silence refused", r.stderr)
        self.assertIn("tomorrow-ish", r.stderr)
