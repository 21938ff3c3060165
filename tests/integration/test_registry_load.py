"""The registry as anxind loads it at start (three plain scans merged in C,
regdb_scan_load) against what the JSON path (regdb_select; the reload of a
few changed elders uses its sibling) gives for the same database: every
field and edge case, an elder the builder refuses, and a database error at
start. Then the full reload while running (the same scans on a worker
thread, swapped in by slices): what it brings in and removes, the runtime
state it keeps, and a failure that leaves the running registry alone.

The registry is written with SQL, not `anxinctl import`, so it can hold
what import would not write (a care plan without params, a text param, a
last_seen, contacts stored out of order). tests/regdb-compare (a test-only
program built with anxind's own daemon/regdb.c) loads the database both
ways and compares field by field; its --dump of the scanned registry checks
the values themselves. anxind runs the same regdb_scan_load: its start line
gives the counts, its log the left-out elders.

Needs PostgreSQL on ANXIN_PG_PORT and the build in ANXIN_BUILD.
"""
import os
import re
import subprocess
import unittest

import harness as h
from harness import BUILD, Daemon, dsn, fresh_db, psql, publish, publisher, wait_for

COMPARE = os.path.join(BUILD, "tests", "regdb-compare")

# Ids in an order where byte order and a locale's order could disagree
# (case, punctuation), so the merge is tested on them.
REGISTRY_SQL = r"""
INSERT INTO elders (id, name, categories, consent, township, village, grid) VALUES
  ('E-full', '张桂兰', '{living_alone,disabled,family_planning_special}', true,
   '城关镇', '东湖村', 'G-03'),
  ('E-none', 'Ольга Ивановна', '{}', false, NULL, NULL, NULL),
  ('e-lower', 'Ngô Thị Lan', '{empty_nest}', true, '城关镇', NULL, NULL),
  ('E.dot', '李四', '{left_behind,severely_disabled}', true, '河口乡', '河口村', NULL),
  ('E_under', '王五', '{}', true, '河口乡', NULL, 'G-9'),
  ('E:colon', '赵六', '{living_alone}', true, NULL, '西关村', 'G-1');

INSERT INTO care_plans (elder_id, risk, chain, params) VALUES
  ('E-full', 'high', 'emergency',
   '{"hr.max": 120, "hr.min": 45.5, "note": "text is skipped", "spo2.min": 90,
     "water.idle_h": 1e-3}'),
  ('e-lower', 'low', NULL, '{}'),
  ('E.dot', 'medium', 'welfare_check', '{"big": 12345678901234567890}');

-- Equal priorities ordered by position, stored in another order and with
-- ids that do not follow it.
INSERT INTO contacts (id, elder_id, position, name, phone, role, priority, channels) VALUES
  (9005, 'E-full', 3, '社区站', '+8613800000013', 'community', 1, '{sms}'),
  (9001, 'E-full', 2, '王芳', '+8613800000012', 'neighbor', 1, '{voice}'),
  (9009, 'E-full', 1, '李明', '+8613800000011', 'family', 1, '{sms,voice}'),
  (9002, 'E-full', 0, '赵医生', '+8613800000014', 'doctor', 9, '{voice,sms}'),
  (9003, 'E-full', 4, 'Call centre', '+12025550100', 'call_center', 2, '{sms}'),
  (9010, 'E.dot', 0, '网格员', '+8613800000021', 'grid_worker', 1, '{sms}'),
  (9011, 'E:colon', 0, '志愿者', '+8613800000031', 'volunteer', 5, '{voice}'),
  (9012, 'E_under', 0, '儿子', '+8613800000041', 'family', 1, '{sms}');

INSERT INTO devices (id, elder_id, kind, heartbeat_s, last_seen) VALUES
  ('WM-0001', 'E-full', 'water_meter', 900, NULL),
  ('SOS-0001', 'E-full', 'sos_button', 300, '2026-11-29 08:00:00.123+00'),
  ('bed-1', 'E-full', 'bed_sensor', 600, NULL),
  ('GPS_tag.7', 'E-full', 'gps_tracker', 3600, '2026-01-01 00:00:00+08'),
  ('AB-1', 'e-lower', 'smoke_alarm', 86400, NULL),
  ('X:1', 'E.dot', 'sos_button', 1, '1969-12-31 23:59:59+00'),
  ('Y-2', 'E:colon', 'pill_box', 604800, NULL);
"""


def compare(dbname, dump=False):
    args = [COMPARE, dsn(dbname)] + (["--dump"] if dump else [])
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    return r


class RegistryLoad(unittest.TestCase):
    def setUp(self):
        self.db = fresh_db("regload")
        psql(self.db, REGISTRY_SQL)
        self.d = None

    def tearDown(self):
        if self.d:
            self.d.stop()

    def start(self):
        self.d = Daemon(self.db).start()
        line = wait_for(lambda: re.search(r"registry: (\d+) elders, (\d+) devices;",
                                          self.d.log()), what="the registry line")
        return int(line.group(1)), int(line.group(2))

    def test_scans_load_what_the_json_loads(self):
        r = compare(self.db, dump=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("6 elders, 8 contacts, 7 devices, 0 left out: same", r.stderr)
        got = r.stdout.splitlines()
        # The values themselves (a mistake both ways share would pass above).
        for want in [
            "elder E-full name=张桂兰 township=城关镇 village=东湖村 grid=G-03 categories=41 "
            "consent=1 risk=2 chain=emergency params=4 contacts=5 devices=4",
            "elder E-none name=Ольга Ивановна township=(null) village=(null) grid=(null) "
            "categories=0 consent=0 risk=1 chain=(null) params=0 contacts=0 devices=0",
            "elder e-lower name=Ngô Thị Lan township=城关镇 village=(null) grid=(null) "
            "categories=2 consent=1 risk=0 chain=(null) params=0 contacts=0 devices=1",
            "elder E_under name=王五 township=河口乡 village=(null) grid=G-9 categories=0 "
            "consent=1 risk=1 chain=(null) params=0 contacts=1 devices=0",
            "param E-full 0 hr.max=120",
            "param E-full 1 hr.min=45.5",
            "param E-full 2 spo2.min=90",
            "param E-full 3 water.idle_h=0.001",
            "param E.dot 0 big=1.2345678901234567e+19",
            "contact E-full 0 id=9009 name=李明 phone=+8613800000011 role=family priority=1 "
            "channels=3",
            "contact E-full 1 id=9001 name=王芳 phone=+8613800000012 role=neighbor priority=1 "
            "channels=2",
            "contact E-full 2 id=9005 name=社区站 phone=+8613800000013 role=community "
            "priority=1 channels=1",
            "contact E-full 3 id=9003 name=Call centre phone=+12025550100 role=call_center "
            "priority=2 channels=1",
            "contact E-full 4 id=9002 name=赵医生 phone=+8613800000014 role=doctor priority=9 "
            "channels=3",
            "device E-full 0 id=GPS_tag.7 kind=gps_tracker shared=0 heartbeat_s=3600 "
            "last_seen_ms=1767196800000",
            "device E-full 1 id=SOS-0001 kind=sos_button shared=1 heartbeat_s=300 "
            "last_seen_ms=1795939200123",
            "device E-full 2 id=WM-0001 kind=water_meter shared=1 heartbeat_s=900 "
            "last_seen_ms=0",
            "device E-full 3 id=bed-1 kind=bed_sensor shared=1 heartbeat_s=600 last_seen_ms=0",
            "device E.dot 0 id=X:1 kind=sos_button shared=1 heartbeat_s=1 last_seen_ms=0",
            "device E:colon 0 id=Y-2 kind=pill_box shared=0 heartbeat_s=604800 "
            "last_seen_ms=0",
        ]:
            self.assertIn(want, got)
        self.assertEqual(self.start(), (6, 7))
        self.assertNotIn("skipping an elder row", self.d.log())
        self.assertNotIn("no elder row", self.d.log())

    def test_an_elder_the_builder_refuses_is_left_out(self):
        # The schema lets params nest deeper than the JSON parser goes: the
        # JSON path fails on the whole object, the scans on the params.
        deep = '{"x": ' + "[" * 2000 + "]" * 2000 + "}"
        psql(self.db, "INSERT INTO elders (id, name, consent) VALUES ('E-bad', '钱七', true);"
                      "INSERT INTO care_plans (elder_id, params) VALUES ('E-bad', '%s');"
                      "INSERT INTO contacts (elder_id, position, name, phone, role, priority)"
                      " VALUES ('E-bad', 0, '钱小七', '+8613800000099', 'family', 1);"
                      "INSERT INTO devices (id, elder_id, kind) VALUES ('BAD-1', 'E-bad',"
                      " 'sos_button')" % deep)
        r = compare(self.db, dump=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("6 elders, 8 contacts, 7 devices, 1 left out: same", r.stderr)
        self.assertIn("left out: care_plan.params: not valid JSON", r.stdout.splitlines())
        self.assertEqual(self.start(), (6, 7))
        log = self.d.log()
        self.assertIn("registry: skipping an elder row: care_plan.params: not valid JSON", log)
        for personal in ("钱七", "钱小七", "+8613800000099"):
            self.assertNotIn(personal, log)

    def test_an_impossible_last_seen_reads_as_never_seen(self):
        # Set by hand: its cast to ms would fail the whole load.
        psql(self.db, "UPDATE devices SET last_seen = 'infinity' WHERE id = 'Y-2'")
        r = compare(self.db)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("6 elders, 8 contacts, 7 devices, 0 left out: same", r.stderr)
        self.assertEqual(self.start(), (6, 7))
        # Its next message replaces it (a later time never would), by the stop.
        pub = publisher()
        try:
            publish(pub, self.d.topic("Y-2"), {"metrics": {"battery.pct": 50}})
            wait_for(lambda: self.d.metric("anxin_messages_processed_total") >= 1,
                     what="the message processed")
        finally:
            pub.loop_stop()
        self.assertEqual(self.d.stop(), 0)
        self.d = None
        self.assertEqual(psql(self.db, "SELECT isfinite(last_seen) FROM devices"
                                       " WHERE id = 'Y-2'"), [["t"]])

    def test_a_database_error_fails_the_start(self):
        psql(self.db, "ALTER TABLE devices RENAME COLUMN heartbeat_s TO heartbeat")
        self.d = Daemon(self.db)
        self.d.start(wait_ready=False)
        wait_for(lambda: self.d.proc.poll() is not None, 20, what="anxind to exit")
        self.assertNotEqual(self.d.proc.returncode, 0)
        self.assertRegex(self.d.log(),
                         r"database: loading the registry failed: .*heartbeat_s")
        self.d = None


class FullReload(unittest.TestCase):
    def setUp(self):
        self.db = fresh_db("fullreload")
        h.import_registry(self.db, h.sample_registry(3))
        self.cap = h.Capture()
        self.d = Daemon(self.db, webhook_url=self.cap.url).start()
        self.pub = publisher()

    def tearDown(self):
        self.pub.loop_stop()
        rc = self.d.stop()
        self.cap.close()
        self.assertEqual(rc, 0, "anxind exit status\n" + self.d.log())

    def reloaded(self, pattern):
        return wait_for(lambda: re.search(r"registry: reloaded everything: " + pattern,
                                          self.d.log()), timeout=30, what=pattern)

    def test_a_large_change_is_read_on_a_worker_thread_and_swapped_in(self):
        d = self.d
        publish(self.pub, d.topic("E-SOS-0001"), {"seq": 7, "metrics": {"battery.pct": 90}})
        wait_for(lambda: d.metric("anxin_messages_processed_total") == 1, what="a reading")
        # More than 500 elders at once: everything is reloaded.
        h.import_registry(self.db, h.sample_registry(700, prefix="F"))
        m = self.reloaded(r"703 elder\(s\) updated, 0 removed; now 703 elders, 703 devices "
                          r"\(read in [\d.]+ s on a worker thread; the loop spent [\d.]+ ms in "
                          r"(\d+) turns")
        self.assertGreaterEqual(int(m.group(1)), 2, "swapped in by slices, then the scan")
        # An elder deleted in the same burst leaves the registry.
        # (psql -c runs the two in one transaction: one burst of NOTIFYs.)
        psql(self.db, "DELETE FROM elders WHERE id = 'E0003'; "
                      "UPDATE elders SET name = name WHERE id LIKE 'F%'")
        self.reloaded(r"702 elder\(s\) updated, 1 removed; now 702 elders, 702 devices")
        self.assertEqual(d.metric("anxin_registry_devices"), 702)
        # Runtime state stays: seq 7 was seen before the reloads.
        publish(self.pub, d.topic("E-SOS-0001"), {"seq": 7, "metrics": {"battery.pct": 90}})
        wait_for(lambda: d.metric('anxin_messages_rejected_total{reason="duplicate_seq"}') == 1,
                 what="the repeat known as one")
        # The elders brought in work, the one removed is unknown.
        publish(self.pub, d.topic("F-SOS-0700"), {"events": ["sos"]})
        got = self.cap.wait_count(2)
        self.assertEqual({r["json"]["elder"] for r in got}, {"F0700"})
        publish(self.pub, d.topic("E-SOS-0003"), {"events": ["sos"]})
        wait_for(lambda: d.metric('anxin_messages_rejected_total{reason="unknown_device"}') == 1,
                 what="the removed elder's device unknown")

    def test_a_failed_full_reload_keeps_the_registry_and_retries(self):
        d = self.d
        psql(self.db, "ALTER TABLE devices RENAME COLUMN heartbeat_s TO heartbeat")
        psql(self.db, "NOTIFY anxin_registry")     # no elder named: reload everything
        wait_for(lambda: re.search(r"registry: full reload failed: .*heartbeat_s.*; will retry",
                                   d.log()), what="the failure logged")
        self.assertEqual(d.metric("anxin_registry_devices"), 3)
        publish(self.pub, d.topic("E-SOS-0002"), {"events": ["sos"]})
        got = self.cap.wait_count(2)
        self.assertEqual({r["json"]["elder"] for r in got}, {"E0002"})
        psql(self.db, "ALTER TABLE devices RENAME COLUMN heartbeat TO heartbeat_s")
        self.reloaded(r"3 elder\(s\) updated, 0 removed; now 3 elders, 3 devices")


if __name__ == "__main__":
    unittest.main()
