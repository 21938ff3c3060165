"""anxinctl against a real PostgreSQL: `migrate` (apply, re-run, --status,
--check, broken and inconsistent migrations, two at once) and `import`
(JSON and CSV, upsert semantics, NOTIFY only on real changes, nothing
half-imported, --dry-run, devices moving, 30 000 elders).

Needs PostgreSQL on ANXIN_PG_PORT (scripts/services.sh pg-start) and
anxinctl in ANXIN_BUILD.
"""
import copy
import glob
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
import unittest

import psycopg2

from harness import ROOT, SQL_DIR, anxinctl_path, ctl, dsn, fresh_db, psql

EXAMPLE_JSON = os.path.join(ROOT, "conf", "examples", "registry.json")
EXAMPLE_CSV = os.path.join(ROOT, "conf", "examples", "registry.csv")
E164_MSG = "expected an E.164 number like +8613800000001"


def ctl_sql_dir(dbname, sql_dir, *args):
    """anxinctl with a migrations folder other than the repository's."""
    cmd = [anxinctl_path(), "--db", dsn(dbname), "--sql-dir", sql_dir] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def count(dbname, table):
    return int(psql(dbname, "SELECT count(*) FROM %s" % table)[0][0])


def counts(dbname):
    return {t: count(dbname, t) for t in ("elders", "care_plans", "contacts", "devices")}


def example():
    with open(EXAMPLE_JSON, encoding="utf-8") as f:
        return json.load(f)


class Listener:
    """LISTEN anxin_registry; collect() returns the payloads that arrived
    before a sentinel sent after the action (notifications arrive in commit
    order, so nothing of the action can come later)."""

    def __init__(self, dbname):
        self.conn = psycopg2.connect(dsn(dbname))
        self.conn.autocommit = True
        self.conn.cursor().execute("LISTEN anxin_registry")

    def collect(self, timeout=10.0):
        self.conn.cursor().execute("NOTIFY anxin_registry, '--sentinel--'")
        got = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            select.select([self.conn], [], [], 0.2)
            self.conn.poll()
            while self.conn.notifies:
                n = self.conn.notifies.pop(0)
                if n.payload == "--sentinel--":
                    return got
                got.append(n.payload)
        raise AssertionError("sentinel notification never arrived")

    def close(self):
        self.conn.close()


class TempDirCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="anxin-ctl-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        return path

    def write_json(self, name, doc):
        return self.write(name, json.dumps(doc, ensure_ascii=False, indent=1))

    def sql_dir_with(self, extra):
        """A copy of sql/ plus extra {file name: text}."""
        d = os.path.join(self.tmp, "sql")
        os.makedirs(d, exist_ok=True)
        for f in glob.glob(os.path.join(SQL_DIR, "*.sql")):
            shutil.copy(f, d)
        for name, text in extra.items():
            with open(os.path.join(d, name), "w", encoding="utf-8") as f:
                f.write(text)
        return d


# The repository's migrations: the tests below hold whatever their number.
MIGRATIONS = sorted(os.path.basename(f) for f in glob.glob(os.path.join(SQL_DIR, "*.sql")))
LATEST = max(int(f[:3]) for f in MIGRATIONS)
NEXT = "%03d" % (LATEST + 1)
AFTER_NEXT = "%03d" % (LATEST + 2)


class MigrateTest(TempDirCase):
    def test_empty_database_then_up_to_date(self):
        db = fresh_db("mig", migrate=False)
        r = ctl(db, "migrate", "--check")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("database schema is version 0 (no migrations applied) but this anxind "
                      "needs version %d: run `anxinctl migrate`" % LATEST, r.stderr)

        r = ctl(db, "migrate", "--status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("database schema version 0", r.stdout)
        self.assertRegex(r.stdout, r"001 001_init\.sql +pending")
        self.assertIn("0 applied, %d pending" % LATEST, r.stdout)
        # --status looks, it does not create schema_migrations.
        self.assertEqual(psql(db, "SELECT to_regclass('schema_migrations') IS NULL"), [["t"]])

        r = ctl(db, "migrate")
        self.assertEqual(r.returncode, 0, r.stderr)
        for f in MIGRATIONS:
            self.assertIn("applied %s" % f, r.stdout)
        self.assertIn("schema is now version %d" % LATEST, r.stdout)
        self.assertEqual(psql(db, "SELECT version, name FROM schema_migrations ORDER BY 1"),
                         [[str(int(f[:3])), f[4:-4]] for f in MIGRATIONS])
        self.assertEqual(count(db, "elders"), 0)

        r = ctl(db, "migrate")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "schema is up to date (version %d)" % LATEST)
        self.assertEqual(count(db, "schema_migrations"), LATEST)

        r = ctl(db, "migrate", "--check")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = ctl(db, "migrate", "--status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"001 001_init\.sql +applied \d{4}-\d\d-\d\d")
        self.assertIn("%d applied, 0 pending" % LATEST, r.stdout)

    def test_schema_version_is_highest_migration(self):
        """ANXIN_SCHEMA_VERSION (daemon/schema.h) must follow sql/."""
        files = sorted(os.path.basename(f) for f in glob.glob(os.path.join(SQL_DIR, "*.sql")))
        highest = max(int(f[:3]) for f in files)
        db = fresh_db("mig", migrate=False)
        r = ctl(db, "migrate", "--status")
        m = re.search(r"this anxinctl expects (\d+)", r.stdout)
        self.assertIsNotNone(m, r.stdout + r.stderr)
        self.assertEqual(int(m.group(1)), highest,
                         "bump ANXIN_SCHEMA_VERSION in daemon/schema.h to %d" % highest)
        with open(os.path.join(ROOT, "daemon", "schema.h"), encoding="utf-8") as f:
            self.assertIn("#define ANXIN_SCHEMA_VERSION %d\n" % highest, f.read())

    def test_broken_migration_rolls_back(self):
        bad = NEXT + "_bad.sql"
        d = self.sql_dir_with({bad: "CREATE TABLE half_done (a int);\n"
                                    "-- a typo on the next line\n"
                                    "CRATE TABLE oops (a int);\n"})
        db = fresh_db("mig", migrate=False)
        r = ctl_sql_dir(db, d, "migrate")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("applied 001_init.sql", r.stdout)   # each is committed on its own
        self.assertIn("migration %s failed and was rolled back; the schema stays at "
                      "version %d" % (bad, LATEST), r.stderr)
        self.assertIn(os.path.join(d, bad) + ":3:1: ERROR:", r.stderr)
        self.assertIn('syntax error at or near "CRATE"', r.stderr)
        self.assertIn("LINE 3: CRATE TABLE oops", r.stderr)
        self.assertEqual(psql(db, "SELECT to_regclass('half_done') IS NULL"), [["t"]])
        self.assertEqual(psql(db, "SELECT max(version) FROM schema_migrations"),
                         [[str(LATEST)]])

        # Fixed, it applies; the repository's own sql/ then finds the database newer.
        with open(os.path.join(d, bad), "w") as f:
            f.write("CREATE TABLE half_done (a int);\n")
        r = ctl_sql_dir(db, d, "migrate")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("applied %s" % bad, r.stdout)
        r = ctl(db, "migrate", "--check")
        self.assertEqual(r.returncode, 1)
        self.assertIn("database schema version %d is newer than this anxind (%d): upgrade anxind"
                      % (LATEST + 1, LATEST), r.stderr)
        r = ctl(db, "migrate")
        self.assertEqual(r.returncode, 1)
        self.assertIn("database schema version %d is newer than the migrations in"
                      % (LATEST + 1), r.stderr)

    def test_pending_migration(self):
        more = NEXT + "_more.sql"
        d = self.sql_dir_with({more: "CREATE TABLE more (a int);\n"})
        db = fresh_db("mig")
        r = ctl_sql_dir(db, d, "migrate", "--status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"001 001_init\.sql +applied")
        self.assertRegex(r.stdout, r"%s %s +pending" % (NEXT, re.escape(more)))
        self.assertIn("%d applied, 1 pending: run `anxinctl migrate`" % LATEST, r.stdout)
        r = ctl_sql_dir(db, d, "migrate")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "applied %s\nschema is now version %d\n" % (more, LATEST + 1))
        self.assertEqual(psql(db, "SELECT version, name FROM schema_migrations ORDER BY 1"),
                         [[str(int(f[:3])), f[4:-4]] for f in MIGRATIONS] +
                         [[str(LATEST + 1), "more"]])

    def test_renamed_or_missing_files(self):
        db = fresh_db("mig")
        d = os.path.join(self.tmp, "renamed")
        os.makedirs(d)
        shutil.copy(os.path.join(SQL_DIR, "001_init.sql"), os.path.join(d, "001_setup.sql"))
        r = ctl_sql_dir(db, d, "migrate")
        self.assertEqual(r.returncode, 1)
        self.assertIn('migration 001 is recorded in the database as "init" but %s has '
                      '001_setup.sql' % d, r.stderr)

        later = AFTER_NEXT + "_later.sql"
        d = self.sql_dir_with({later: "SELECT 1;\n"})
        r = ctl_sql_dir(db, d, "migrate")
        self.assertEqual(r.returncode, 1)
        self.assertIn("migration %s is missing (between %s and %s)"
                      % (NEXT, MIGRATIONS[-1], later), r.stderr)

        d = self.sql_dir_with({"2_bad_name.sql": "SELECT 1;\n"})
        r = ctl_sql_dir(db, d, "migrate")
        self.assertEqual(r.returncode, 1)
        self.assertIn("2_bad_name.sql: not a migration file name", r.stderr)

        r = ctl_sql_dir(db, os.path.join(self.tmp, "nowhere"), "migrate")
        self.assertEqual(r.returncode, 2)

    def test_two_migrates_at_once(self):
        db = fresh_db("mig", migrate=False)
        cmd = [anxinctl_path(), "--db", dsn(db), "--sql-dir", SQL_DIR, "migrate"]
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(3)]
        outs = [p.communicate(timeout=60) for p in procs]
        for p, (out, err) in zip(procs, outs):
            self.assertEqual(p.returncode, 0, err)
        self.assertEqual(sum("applied 001_init.sql" in out for out, _ in outs), 1, outs)
        self.assertEqual(count(db, "schema_migrations"), LATEST)

    def test_cannot_connect(self):
        r = subprocess.run([anxinctl_path(), "--db", "host=127.0.0.1 port=1 connect_timeout=2",
                            "--sql-dir", SQL_DIR, "migrate"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("cannot connect to the database", r.stderr)


class ImportTest(TempDirCase):
    def setUp(self):
        super().setUp()
        self.db = fresh_db("imp")

    def import_ok(self, path, *opts):
        r = ctl(self.db, "import", *opts, path)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout

    def test_example_json(self):
        out = self.import_ok(EXAMPLE_JSON)
        self.assertIn("5 elders: 5 created, 0 updated, 0 unchanged", out)
        self.assertIn("(1 without consent: recorded, not monitored)", out)
        self.assertIn("care plans: 5 created, 0 updated, 0 unchanged", out)
        self.assertIn("contacts: 11 added, 0 updated, 0 removed, 0 unchanged", out)
        self.assertIn("devices: 9 added, 0 updated, 0 moved, 0 removed, 0 unchanged", out)
        self.assertEqual(counts(self.db),
                         {"elders": 5, "care_plans": 5, "contacts": 11, "devices": 9})
        self.assertEqual(
            psql(self.db, "SELECT name, birth_year, categories, consent, township, village, grid "
                          "FROM elders WHERE id = 'E0001'"),
            [["王秀英", "1941", "{living_alone,disabled}", "t", "城关镇", "东关村", "G-03"]])
        self.assertEqual(psql(self.db, "SELECT consent FROM elders WHERE id = 'E0005'"), [["f"]])
        self.assertEqual(
            psql(self.db, "SELECT visit_every_days, risk, chain, params->>'hr.max' "
                          "FROM care_plans WHERE elder_id = 'E0001'"),
            [["30", "high", "emergency", "120"]])
        self.assertEqual(
            psql(self.db, "SELECT position, phone, role, priority, channels FROM contacts "
                          "WHERE elder_id = 'E0001' ORDER BY position"),
            [["1", "+8613800000001", "family", "1", "{sms,voice}"],
             ["2", "+8613800000002", "neighbor", "1", "{sms}"],
             ["3", "+8613800000003", "grid_worker", "2", "{sms,voice}"]])
        self.assertEqual(
            psql(self.db, "SELECT id, kind, heartbeat_s FROM devices WHERE elder_id = 'E0001' "
                          "ORDER BY id"),
            [["SOS-0001", "sos_button", "300"], ["WM-0001", "water_meter", "900"]])

    def test_example_csv_is_the_same_registry(self):
        out = self.import_ok(EXAMPLE_CSV)
        self.assertIn("5 elders: 5 created", out)
        self.assertEqual(counts(self.db),
                         {"elders": 5, "care_plans": 5, "contacts": 11, "devices": 9})
        out = self.import_ok(EXAMPLE_JSON)
        self.assertIn("5 elders: 0 created, 0 updated, 5 unchanged", out)
        self.assertIn("contacts: 0 added, 0 updated, 0 removed, 11 unchanged", out)
        self.assertIn("devices: 0 added, 0 updated, 0 moved, 0 removed, 9 unchanged", out)

    def test_reimport_changes_nothing_and_notifies_nobody(self):
        self.import_ok(EXAMPLE_JSON)
        before = psql(self.db, "SELECT id, updated_at, xmin FROM elders ORDER BY id")
        contacts_before = psql(self.db, "SELECT id, xmin FROM contacts ORDER BY id")
        listener = Listener(self.db)
        try:
            out = self.import_ok(EXAMPLE_JSON)
            self.assertEqual(listener.collect(), [])
        finally:
            listener.close()
        self.assertIn("5 elders: 0 created, 0 updated, 5 unchanged", out)
        self.assertIn("care plans: 0 created, 0 updated, 5 unchanged", out)
        self.assertEqual(psql(self.db, "SELECT id, updated_at, xmin FROM elders ORDER BY id"),
                         before)
        self.assertEqual(psql(self.db, "SELECT id, xmin FROM contacts ORDER BY id"),
                         contacts_before)

    def test_changed_contact_notifies_its_elder(self):
        self.import_ok(EXAMPLE_JSON)
        doc = example()
        doc["elders"][0]["contacts"][1]["phone"] = "+8613800000099"
        path = self.write_json("changed.json", doc)
        listener = Listener(self.db)
        try:
            out = self.import_ok(path)
            got = listener.collect()
        finally:
            listener.close()
        self.assertEqual(set(got), {"E0001"})
        self.assertIn("5 elders: 0 created, 0 updated, 5 unchanged", out)
        self.assertIn("contacts: 0 added, 1 updated, 0 removed, 10 unchanged", out)
        self.assertEqual(psql(self.db, "SELECT phone FROM contacts WHERE elder_id = 'E0001' "
                                       "AND position = 2"), [["+8613800000099"]])

    def test_contacts_replaced_only_when_given(self):
        self.import_ok(EXAMPLE_JSON)
        e1 = copy.deepcopy(example()["elders"][0])
        e1["contacts"] = e1["contacts"][:1]
        out = self.import_ok(self.write_json("one.json", {"elders": [e1]}))
        self.assertIn("1 elder: 0 created, 0 updated, 1 unchanged", out)
        self.assertIn("contacts: 0 added, 0 updated, 2 removed, 1 unchanged", out)
        self.assertEqual(count(self.db, "contacts"), 9)     # E0002.. untouched

        del e1["contacts"]
        del e1["devices"]
        del e1["care_plan"]
        listener = Listener(self.db)
        try:
            out = self.import_ok(self.write_json("bare.json", {"elders": [e1]}))
            self.assertEqual(listener.collect(), [])
        finally:
            listener.close()
        self.assertEqual(count(self.db, "contacts"), 9)
        self.assertEqual(count(self.db, "devices"), 9)
        self.assertEqual(count(self.db, "care_plans"), 5)

        e1["contacts"] = []
        out = self.import_ok(self.write_json("none.json", {"elders": [e1]}))
        self.assertIn("contacts: 0 added, 0 updated, 1 removed, 0 unchanged", out)
        self.assertEqual(psql(self.db, "SELECT count(*) FROM contacts WHERE elder_id = 'E0001'"),
                         [["0"]])

    def test_bad_record_imports_nothing(self):
        doc = example()
        doc["elders"][3]["contacts"][0]["phone"] = "138-0000-0008"
        doc["elders"][4]["care_plan"]["risk"] = "severe"
        path = self.write_json("registry.json", doc)
        r = ctl(self.db, "import", path)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("%s: elders[3].contacts[0].phone: %s" % (path, E164_MSG), r.stderr)
        self.assertIn('%s: elders[4].care_plan.risk: unknown risk "severe"' % path, r.stderr)
        self.assertIn("2 problems found; nothing was imported", r.stderr)
        self.assertNotIn("0000-0008", r.stderr)     # phone numbers are never echoed
        self.assertEqual(counts(self.db),
                         {"elders": 0, "care_plans": 0, "contacts": 0, "devices": 0})

        # The same after a good import: nothing of the bad file lands.
        self.import_ok(EXAMPLE_JSON)
        doc["elders"][0]["name"] = "王秀英二"
        path = self.write_json("registry2.json", doc)
        self.assertEqual(ctl(self.db, "import", path).returncode, 1)
        self.assertEqual(psql(self.db, "SELECT name FROM elders WHERE id = 'E0001'"),
                         [["王秀英"]])

    def test_database_error_rolls_back_everything(self):
        # A rule the validator does not know about fails in the last table.
        psql(self.db, "ALTER TABLE devices ADD CONSTRAINT no_doors CHECK (kind <> 'door_sensor')")
        listener = Listener(self.db)
        try:
            r = ctl(self.db, "import", EXAMPLE_JSON)
            self.assertEqual(listener.collect(), [])
        finally:
            listener.close()
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("cannot write devices", r.stderr)
        self.assertIn("constraint: no_doors", r.stderr)
        self.assertIn("rolled back; nothing was imported", r.stderr)
        self.assertNotIn("+86", r.stderr)
        self.assertEqual(counts(self.db),
                         {"elders": 0, "care_plans": 0, "contacts": 0, "devices": 0})

    def test_dry_run_writes_nothing(self):
        listener = Listener(self.db)
        try:
            out = self.import_ok(EXAMPLE_JSON, "--dry-run")
            self.assertEqual(listener.collect(), [])
        finally:
            listener.close()
        self.assertIn("dry run: %s: 5 elders: 5 created" % EXAMPLE_JSON, out)
        self.assertIn("dry run: nothing was written", out)
        self.assertEqual(counts(self.db),
                         {"elders": 0, "care_plans": 0, "contacts": 0, "devices": 0})
        self.import_ok(EXAMPLE_JSON)
        doc = example()
        doc["elders"][1]["grid"] = "G-06"
        out = self.import_ok(self.write_json("d.json", doc), "--dry-run")
        self.assertIn("5 elders: 0 created, 1 updated, 4 unchanged", out)
        self.assertEqual(psql(self.db, "SELECT grid FROM elders WHERE id = 'E0002'"), [["G-05"]])

    def test_device_moves_between_elders(self):
        self.import_ok(EXAMPLE_JSON)
        e2 = copy.deepcopy(example()["elders"][1])
        e2["devices"].append({"id": "WM-0001", "kind": "water_meter", "heartbeat_s": 900})
        listener = Listener(self.db)
        try:
            out = self.import_ok(self.write_json("move.json", {"elders": [e2]}))
            got = listener.collect()
        finally:
            listener.close()
        self.assertIn("devices: 0 added, 0 updated, 1 moved, 0 removed, 2 unchanged", out)
        self.assertEqual(set(got), {"E0001", "E0002"})
        self.assertEqual(psql(self.db, "SELECT elder_id FROM devices WHERE id = 'WM-0001'"),
                         [["E0002"]])
        self.assertEqual(psql(self.db, "SELECT id FROM devices WHERE elder_id = 'E0001'"),
                         [["SOS-0001"]])
        self.assertEqual(count(self.db, "devices"), 9)

        # Listed under nobody any more while its elder's list is given: removed.
        e2["devices"] = e2["devices"][:1]
        out = self.import_ok(self.write_json("drop.json", {"elders": [e2]}))
        self.assertIn("devices: 0 added, 0 updated, 0 moved, 2 removed, 1 unchanged", out)
        self.assertEqual(count(self.db, "devices"), 7)

    def test_device_in_two_elders_of_one_file(self):
        doc = example()
        doc["elders"][2]["devices"].append({"id": "SOS-0001", "kind": "sos_button"})
        r = ctl(self.db, "import", self.write_json("dup.json", doc))
        self.assertEqual(r.returncode, 1)
        self.assertIn('elders[2].devices[3].id: device "SOS-0001" is listed twice '
                      '(also elders[0].devices[0])', r.stderr)

    def test_text_survives_the_trip(self):
        doc = {"elders": [{"id": "E9", "name": "O'Brien \\ \"张\"", "consent": True,
                           "address": "line one\nline\ttwo \\N \\\\", "village": "村,庄"}]}
        self.import_ok(self.write_json("t.json", doc))
        conn = psycopg2.connect(dsn(self.db))
        try:
            cur = conn.cursor()
            cur.execute("SELECT name, address, village, township FROM elders WHERE id = 'E9'")
            self.assertEqual(cur.fetchone(), ("O'Brien \\ \"张\"", "line one\nline\ttwo \\N \\\\",
                                              "村,庄", None))
        finally:
            conn.close()
        out = self.import_ok(self.write_json("t.json", doc))
        self.assertIn("1 elder: 0 created, 0 updated, 1 unchanged", out)

    def test_csv_problems_by_line_and_column(self):
        with open(EXAMPLE_CSV, encoding="utf-8-sig", newline="") as f:
            lines = f.read().split("\r\n")
        lines[3] = lines[3].replace("+8613800000006", "13800000006")
        lines[4] = lines[4].replace(",是,", ",也许,", 1)
        path = self.write("registry.csv", "\r\n".join(lines))
        r = ctl(self.db, "import", path)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("%s: line 4: contact1_phone: %s" % (path, E164_MSG), r.stderr)
        self.assertIn("%s: line 5: consent: expected true/false, yes/no, 1/0 or 是/否" % path,
                      r.stderr)
        self.assertEqual(count(self.db, "elders"), 0)

    def test_many_problems_are_capped(self):
        doc = {"elders": [{"id": "E%d" % i, "name": "x"} for i in range(60)]}
        r = ctl(self.db, "import", self.write_json("many.json", doc))
        self.assertEqual(r.returncode, 1)
        lines = r.stderr.splitlines()
        self.assertEqual(sum("consent: required" in ln for ln in lines), 50)
        self.assertIn("many.json: ... and 10 more", r.stderr)
        self.assertIn("60 problems found; nothing was imported", r.stderr)

    def test_usage_and_schema(self):
        self.assertEqual(ctl(self.db, "import").returncode, 2)
        self.assertEqual(ctl(self.db, "import", "a.json", "b.json").returncode, 2)
        r = ctl(self.db, "import", os.path.join(self.tmp, "missing.json"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("cannot read", r.stderr)
        empty = fresh_db("imp", migrate=False)
        r = ctl(empty, "import", EXAMPLE_JSON)
        self.assertEqual(r.returncode, 1)
        self.assertIn("run `anxinctl migrate`", r.stderr)

    def test_30k_elders(self):
        elders = []
        for i in range(30000):
            elders.append({
                "id": "P%05d" % i, "name": "测试老人%d" % i, "birth_year": 1930 + i % 30,
                "categories": ["living_alone"] if i % 2 else ["empty_nest", "disabled"],
                "consent": i % 50 != 0, "address": "城关镇某村%d号" % i,
                "township": "城关镇" if i % 3 else "河西乡", "village": "村%d" % (i % 200),
                "grid": "G-%02d" % (i % 50),
                "care_plan": {"visit_every_days": 30, "risk": "medium", "chain": "emergency",
                              "params": {"hr.max": 120}},
                "contacts": [
                    {"name": "家属%d" % i, "phone": "+86139%08d" % i, "role": "family",
                     "priority": 1, "channels": ["sms", "voice"]},
                    {"name": "网格员%d" % i, "phone": "+86137%08d" % i, "role": "grid_worker",
                     "priority": 2}],
                "devices": [
                    {"id": "SOS-%05d" % i, "kind": "sos_button", "heartbeat_s": 300},
                    {"id": "WM-%05d" % i, "kind": "water_meter", "heartbeat_s": 900}]})
        path = self.write_json("county.json", {"elders": elders})
        t0 = time.monotonic()
        out = self.import_ok(path)
        first = time.monotonic() - t0
        self.assertIn("30000 elders: 30000 created, 0 updated, 0 unchanged", out)
        self.assertIn("contacts: 60000 added", out)
        self.assertIn("devices: 60000 added", out)
        self.assertEqual(counts(self.db), {"elders": 30000, "care_plans": 30000,
                                           "contacts": 60000, "devices": 60000})
        t0 = time.monotonic()
        out = self.import_ok(path)
        again = time.monotonic() - t0
        self.assertIn("30000 elders: 0 created, 0 updated, 30000 unchanged", out)
        print("\n  30 000 elders: first import %.2f s, unchanged re-import %.2f s"
              % (first, again))
        self.assertLess(first, 30.0)
        self.assertLess(again, 30.0)


if __name__ == "__main__":
    unittest.main()
