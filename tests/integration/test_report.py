"""Response-time KPIs against a real PostgreSQL: the SQL function
anxin_response_report over a test month of alerts with chosen times,
`anxinctl report response` (text, JSON, CSV, month and township filters,
other offsets, empty months, bad arguments), and anxind's /metrics gauges.

The test month is 2026-03 (+08:00). Alerts are written straight into the
tables with known times (seconds after opening):

  城关镇 (A): 20 counted. 19 acknowledged after 10, 12, ... 44 s and exactly
      60 s, each resolved 600 s after its acknowledgement; one expired, never
      acknowledged. One of them was acknowledged at 14 s, timed out and
      acknowledged again at 2000 s: the first acknowledgement counts. The
      first opened at 2026-03-01 00:00:00 +08:00 sharp. First notification
      sent after 2 s (18 alerts) or 9.5 s (2), a later one 300 s after that,
      and a failed one that was never sent. Two more were silenced.
  河口乡 (B): 21 counted. 20 acknowledged after 5, 7, ... 43 s, the first 10
      of them resolved 1200 s after; one cleared by its rule after 30 s with
      nobody acknowledging (it needed no answer for 60 s: not in the shares).
      First notification after 1.5 s. One more alert grouped with another of
      the same elder (the same incident: not counted).
  Around the month: one A alert at 2026-02-28 23:59:59 +08:00, one B alert at
      2026-04-01 00:00:00 +08:00 (still March in UTC).

So, acknowledged within 60 s: A 19/20 = 95% (missed), B 20/20, all 39/40 =
97.5% (met exactly); within 180 s: A 95%, B 100%, all 97.5% (missed: 99%).
"""
import csv
import io
import json
import math
import os
import re
import unicodedata
import unittest

import harness as h
from test_docs import code_blocks

DOC = os.path.join(h.ROOT, "docs", "reports.md")


def doc_blocks():
    with open(DOC, encoding="utf-8") as f:
        return [b for _, b in code_blocks(f.read())]

MONTH = "2026-03"
A, B = "城关镇", "河口乡"
A_ACK = [10 + 2 * k for k in range(18)] + [60]
B_ACK = [5 + 2 * k for k in range(20)]
A_RESOLVE = [d + 600 for d in A_ACK if d != 14] + [2600]     # the one acked twice: 2600
B_RESOLVE = [d + 1200 for d in B_ACK[:10]]


def pdisc(values, f):
    """percentile_disc: the first value whose position reaches the fraction."""
    v = sorted(values)
    return v[math.ceil(f * len(v)) - 1]


class Fixture:
    """Builds INSERTs for elders and alerts with times relative to opening."""

    def __init__(self):
        self.sql = []
        self.next_id = 1
        self.elders = set()

    def elder(self, eid, township):
        if eid not in self.elders:
            self.elders.add(eid)
            town = "NULL" if township is None else "'%s'" % township.replace("'", "''")
            self.sql.append("INSERT INTO elders (id, name, consent, township) "
                            "VALUES ('%s', '老人', true, %s);" % (eid, town))

    def alert(self, township, opened, state, ack=None, resolved=None, notify=None,
              first_ack=None, group=None, rule="sos", elder=None):
        """opened: a timestamptz SQL expression; ack/resolved/notify: seconds
        after it (None: never). Returns the alert id."""
        aid = self.next_id
        self.next_id += 1
        eid = elder or "E%04d" % aid
        self.elder(eid, township)

        def at(s):
            return "NULL" if s is None else "(%s) + interval '%s seconds'" % (opened, s)
        self.sql.append(
            "INSERT INTO alerts (id, elder_id, rule, severity, chain, state, ack_code, event_ts,"
            " opened_at, last_fired_at, acked_at, acked_by, resolved_at, outcome, note,"
            " source_node, source_seq, group_id) VALUES (%d, '%s', '%s', 'critical',"
            " 'emergency', '%s', '1234', %s, %s, %s, %s, %s, %s, %s, %s, 'test', %d, %s);" % (
                aid, eid, rule, state, opened, opened, opened, at(ack),
                "'cli:test'" if ack is not None else "NULL", at(resolved),
                "'other'" if state == "resolved" else "NULL",
                "'ok'" if state == "resolved" else "NULL", aid,
                "NULL" if group is None else group))
        if state == "silenced":
            return aid
        for s in ((first_ack,) if first_ack is not None else ()) + \
                 ((ack,) if ack is not None else ()):
            self.sql.append("INSERT INTO alert_events (alert_id, at, kind, actor) "
                            "VALUES (%d, %s, 'acked', 'cli:test');" % (aid, at(s)))
        if notify is not None:
            for n, (sent, status) in enumerate(((notify, "sent"), (notify + 300, "delivered"),
                                                (None, "failed"))):
                self.sql.append(
                    "INSERT INTO notifications (id, alert_id, contact_name, to_number, channel,"
                    " body, status, created_at, sent_at) VALUES (%d, %d, '家属',"
                    " '+8613800000001', 'sms', 'x', '%s', %s, %s);" % (
                        aid * 10 + n, aid, status, opened, at(sent)))
        return aid

    def run(self, db):
        h.psql(db, "\n".join(self.sql))


def month_fixture():
    f = Fixture()
    start = "timestamptz '2026-03-01 00:00:00+08'"
    for i, d in enumerate(A_ACK):
        opened = start if i == 0 else "%s + interval '%d hours'" % (start, 10 * i)
        if i == 2:      # acknowledged at 14 s, timed out, acknowledged again at 2000 s
            f.alert(A, opened, "resolved", ack=2000, first_ack=d, resolved=2600,
                    notify=2.0)
        else:
            f.alert(A, opened, "resolved", ack=d, resolved=d + 600,
                    notify=9.5 if i in (5, 6) else 2.0)
    f.alert(A, "%s + interval '20 days'" % start, "expired", resolved=86400, notify=2.0)
    for i in range(2):
        f.alert(A, "%s + interval '%d days'" % (start, 21 + i), "silenced")
    leader = None
    for i, d in enumerate(B_ACK):
        opened = "%s + interval '%d hours 30 minutes'" % (start, 10 * i)
        if i < 10:
            f.alert(B, opened, "resolved", ack=d, resolved=d + 1200, notify=1.5)
        else:
            aid = f.alert(B, opened, "acknowledged", ack=d, notify=1.5)
            leader = leader or aid
    f.alert(B, "%s + interval '25 days'" % start, "cleared", resolved=30, notify=1.5)
    f.alert(B, "%s + interval '10 hours'" % start, "acknowledged", ack=1, notify=0.1,
            group=leader, rule="fall", elder="E%04d" % leader)
    f.alert(A, "timestamptz '2026-02-28 23:59:59+08'", "resolved", ack=20, resolved=40,
            notify=1.0)
    f.alert(B, "timestamptz '2026-04-01 00:00:00+08'", "acknowledged", ack=30, notify=3.0)
    return f


def width(s):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


class ReportMonth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = h.fresh_db("rep")
        month_fixture().run(cls.db)

    def report(self, *args):
        return h.ctl(self.db, "report", "response", *args)

    def sql_rows(self, frm, to, offset=28800):
        cols = ("month, coalesce(township, '*'), total, alerts, silenced, notify_p50_s,"
                " notify_p95_s, ack_p50_s, ack_p95_s, resolve_p50_s, resolve_p95_s,"
                " ack_needed_60, ack_within_60, ack_share_60, ack_needed_180,"
                " ack_within_180, ack_share_180")
        return h.psql(self.db, "SELECT %s FROM anxin_response_report('%s', '%s', %d)"
                      % (cols, frm, to, offset))

    def test_sql_function_figures(self):
        rows = self.sql_rows("2026-03-01 00:00+08", "2026-04-01 00:00+08")
        self.assertEqual(rows, [
            [MONTH, A, "f", "20", "2", "2", "9.5", "28", "60", "630", "2600",
             "20", "19", "0.95", "20", "19", "0.95"],
            [MONTH, B, "f", "21", "0", "1.5", "1.5", "23", "41", "1213", "1223",
             "20", "20", "1", "20", "20", "1"],
            [MONTH, "*", "t", "41", "2", "1.5", "2", "26", "44", "640", "1223",
             "40", "39", "0.975", "40", "39", "0.975"],
        ])
        # The medians and 95th percentiles above, worked out apart from the
        # database from the chosen times.
        for values, p50, p95 in ((A_ACK, 28, 60), (B_ACK, 23, 41), (A_ACK + B_ACK, 26, 44),
                                 (A_RESOLVE, 630, 2600), (B_RESOLVE, 1213, 1223),
                                 (A_RESOLVE + B_RESOLVE, 640, 1223),
                                 ([2.0] * 18 + [9.5] * 2, 2, 9.5),
                                 ([2.0] * 20 + [1.5] * 21, 1.5, 2)):
            self.assertEqual((pdisc(values, 0.5), pdisc(values, 0.95)), (p50, p95))

    def test_sql_months_in_local_time(self):
        rows = self.sql_rows("2026-02-01 00:00+08", "2026-05-01 00:00+08")
        got = [(r[0], r[1], r[3]) for r in rows]
        self.assertEqual(got, [("2026-02", A, "1"), ("2026-02", "*", "1"),
                               (MONTH, A, "20"), (MONTH, B, "21"), (MONTH, "*", "41"),
                               ("2026-04", B, "1"), ("2026-04", "*", "1")])
        # In UTC the first A and B alerts (00:00 and 00:30) are February's, the
        # April B alert March's.
        rows = self.sql_rows("2026-03-01 00:00Z", "2026-04-01 00:00Z", 0)
        self.assertEqual([(r[1], r[3]) for r in rows], [(A, "19"), (B, "21"), ("*", "40")])

    def test_text(self):
        r = self.report("--month", MONTH)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        self.assertIn("Response times 2026-03-01 to 2026-03-31 (months and days in UTC+08:00)",
                      out)
        self.assertIn("Telecare audit targets: 97.5% acknowledged within 60 s, 99% within "
                      "180 s.", out)
        lines = out.splitlines()
        head = next(l for l in lines if l.startswith("MONTH"))
        rows = {l.split()[1]: l for l in lines if l.startswith(MONTH)}
        self.assertEqual(set(rows), {A, B, "all"})
        self.assertIn("95.0% 19/20 MISSED", rows[A])
        self.assertEqual(rows[A].count("95.0% 19/20 MISSED"), 2)
        self.assertIn("100.0% 20/20 met", rows[B])
        self.assertIn("97.5% 39/40 met", rows["all"])
        self.assertIn("97.5% 39/40 MISSED", rows["all"])
        self.assertIn("2.0s / 9.5s", rows[A])
        self.assertIn("28s / 1m00s", rows[A])
        self.assertIn("10m30s / 43m20s", rows[A])
        self.assertIn("26s / 44s", rows["all"])
        # Columns line up in terminal columns, Chinese names taking two each:
        # a cell starts where its heading starts (ALERTS, right-aligned, ends
        # where its heading ends).
        def at_column(line, col):
            """The index in line of the character at terminal column col."""
            w = 0
            for i, ch in enumerate(line):
                if w == col:
                    return i
                self.assertLess(w, col, (line, col))
                w += width(ch)
            self.fail("line too short: %r" % line)

        for col in ("TOWNSHIP", "TO NOTIFY", "ACK IN 60 S", "ACK IN 180 S"):
            start = width(head[:head.index(col)])
            for line in rows.values():
                i = at_column(line, start)
                self.assertTrue(line[i] != " " and line[i - 1] == " ", (col, line))
        end = width(head[:head.index("ALERTS") + len("ALERTS")])
        for line in rows.values():
            i = at_column(line, end)
            self.assertTrue(line[i] == " " and line[i - 1].isdigit(), line)

    def test_json(self):
        r = self.report("--month", MONTH, "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual((doc["from"], doc["to"], doc["utc_offset"], doc["township"]),
                         ("2026-03-01", "2026-03-31", "+08:00", None))
        self.assertEqual(doc["targets"], [{"seconds": 60, "share": 0.975},
                                          {"seconds": 180, "share": 0.99}])
        rows = {r["township"]: r for r in doc["rows"]}
        self.assertEqual(list(rows), [A, B, None])
        total = rows[None]
        self.assertTrue(total["total"])
        self.assertEqual((total["alerts"], total["silenced"]), (41, 2))
        self.assertEqual(total["seconds_to_notify"], {"p50": 1.5, "p95": 2})
        self.assertEqual(total["seconds_to_ack"], {"p50": 26, "p95": 44})
        self.assertEqual(total["seconds_to_resolve"], {"p50": 640, "p95": 1223})
        self.assertEqual(total["ack_within"], [
            {"seconds": 60, "needed": 40, "acknowledged": 39, "share": 0.975, "target": 0.975,
             "met": True},
            {"seconds": 180, "needed": 40, "acknowledged": 39, "share": 0.975, "target": 0.99,
             "met": False}])
        self.assertEqual([w["share"] for w in rows[A]["ack_within"]], [0.95, 0.95])
        self.assertEqual([w["met"] for w in rows[A]["ack_within"]], [False, False])
        self.assertEqual([w["met"] for w in rows[B]["ack_within"]], [True, True])
        self.assertEqual((rows[B]["alerts"], rows[B]["ack_within"][0]["needed"]), (21, 20))

    def test_csv(self):
        r = self.report("--month", MONTH, "--format", "csv")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = list(csv.DictReader(io.StringIO(r.stdout)))
        self.assertEqual([(x["township"], x["total"]) for x in rows],
                         [(A, "false"), (B, "false"), ("", "true")])
        a, total = rows[0], rows[2]
        self.assertEqual((a["alerts"], a["silenced"], a["ack_p50_s"], a["ack_p95_s"],
                          a["needed_60s"], a["within_60s"], a["share_60s"], a["met_60s"]),
                         ("20", "2", "28", "60", "20", "19", "0.95", "false"))
        self.assertEqual((total["share_60s"], total["met_60s"], total["share_180s"],
                          total["met_180s"], total["resolve_p95_s"]),
                         ("0.975", "true", "0.975", "false", "1223"))

    def test_township_filter(self):
        r = self.report("--month", MONTH, "--township", B, "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["township"], B)
        self.assertEqual([(x["township"], x["alerts"]) for x in doc["rows"]], [(B, 21)])
        r = self.report("--month", MONTH, "--township", B)
        self.assertIn("township " + B, r.stdout)
        self.assertNotIn("all townships", r.stdout)
        # A township with elders but nothing that month: an empty report.
        r = self.report("--month", "2026-04", "--township", A)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("No alerts were opened in this period.", r.stdout)
        # A township nobody lives in is most likely misspelt.
        r = self.report("--month", MONTH, "--township", "东关镇")
        self.assertEqual(r.returncode, 1)
        self.assertIn('no elder in the registry lives in township "东关镇"', r.stderr)

    def test_periods(self):
        r = self.report("--from", "2026-02-01", "--to", "2026-04-30", "--format", "csv")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = list(csv.DictReader(io.StringIO(r.stdout)))
        self.assertEqual([(x["month"], x["township"], x["alerts"]) for x in rows],
                         [("2026-02", A, "1"), ("2026-02", "", "1"), (MONTH, A, "20"),
                          (MONTH, B, "21"), (MONTH, "", "41"), ("2026-04", B, "1"),
                          ("2026-04", "", "1")])
        # --to is included: the last day of March brings nothing of April.
        r = self.report("--from", "2026-03-01", "--to", "2026-03-31", "--format", "json")
        doc = json.loads(r.stdout)
        self.assertEqual([x["month"] for x in doc["rows"]], [MONTH] * 3)
        # One day, from its midnight (the first alert opened at 00:00 sharp)
        # to the next.
        for day, want in (("2026-03-01", [(A, 3), (B, 3), (None, 6)]),
                          ("2026-02-28", [(A, 1), (None, 1)])):
            r = self.report("--from", day, "--to", day, "--format", "json")
            doc = json.loads(r.stdout)
            self.assertEqual([(x["township"], x["alerts"]) for x in doc["rows"]], want)
        # Months of another offset: in UTC the first A and B alerts are
        # February's and the April B alert March's.
        r = self.report("--month", MONTH, "--utc-offset", "+00:00", "--format", "json")
        doc = json.loads(r.stdout)
        self.assertEqual(doc["utc_offset"], "+00:00")
        self.assertEqual([(x["township"], x["alerts"]) for x in doc["rows"]],
                         [(A, 19), (B, 21), (None, 40)])

    def test_offset_from_configuration(self):
        conf = os.path.join(h.RUN, "report-utc.conf")
        with open(conf, "w") as f:
            f.write("[anxind]\nutc_offset = +00:00\n[mqtt]\nurl = tcp://127.0.0.1:1\n"
                    "[database]\nconninfo = %s\n[provider \"console\"]\ntype = console\n"
                    % h.dsn(self.db))
        r = h.ctl(self.db, "report", "response", "--month", MONTH, "--format", "json",
                  conf=conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["utc_offset"], "+00:00")

    def test_empty_month(self):
        r = self.report("--month", "2026-06")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("No alerts were opened in this period.", r.stdout)
        self.assertNotIn("MONTH", r.stdout)
        r = self.report("--month", "2026-06", "--format", "json")
        self.assertEqual(json.loads(r.stdout)["rows"], [])
        r = self.report("--month", "2026-06", "--format", "csv")
        self.assertEqual(r.stdout.splitlines(), [r.stdout.splitlines()[0]])
        self.assertTrue(r.stdout.startswith("month,township,total,alerts,"))

    def test_bad_arguments(self):
        cases = [
            (["--month", "2026-3"], 'expects a month like 2026-03, got "2026-3"'),
            (["--month", "2026-13"], 'got "2026-13"'),
            (["--from", "2026-03-01"], "--from and --to go together (--to is missing)"),
            (["--to", "2026-03-01"], "(--from is missing)"),
            (["--month", MONTH, "--from", "2026-03-01", "--to", "2026-03-02"],
             "give either --month or --from and --to"),
            (["--from", "2026-03-31", "--to", "2026-03-01"], "--to is before --from"),
            (["--from", "2026-02-30", "--to", "2026-03-01"],
             '--from expects a date like 2026-03-01, got "2026-02-30"'),
            (["--format", "xml"], '--format is text, json or csv, not "xml"'),
            (["--utc-offset", "8"], "--utc-offset expects an offset like +08:00"),
            (["--township", ""], "--township needs a name"),
            (["--bogus"], "unknown option --bogus"),
            (["--month"], "--month needs a value"),
            (["2026-03"], 'unexpected argument "2026-03"'),
        ]
        for args, msg in cases:
            r = self.report(*args)
            self.assertEqual(r.returncode, 2, (args, r.stdout, r.stderr))
            self.assertIn(msg, r.stderr, args)
            self.assertIn("usage: anxinctl report response", r.stderr, args)
            self.assertEqual(r.stdout, "", args)
        r = h.ctl(self.db, "report")
        self.assertEqual(r.returncode, 2)
        self.assertIn("reports: response", r.stderr)
        r = h.ctl(self.db, "report", "visits")
        self.assertEqual(r.returncode, 2)
        self.assertIn('unknown report "visits"', r.stderr)
        r = self.report("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--township NAME", r.stdout)

    def test_database_away(self):
        r = h.subprocess.run([h.anxinctl_path(), "--db",
                              "host=127.0.0.1 port=1 user=postgres dbname=x connect_timeout=2",
                              "report", "response"], capture_output=True, text=True,
                             timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("cannot connect to the database", r.stderr)


    def test_docs_examples(self):
        """docs/reports.md: its example is what this month prints, and every
        command and query it shows runs."""
        blocks = doc_blocks()
        example = next(b for b in blocks if b.startswith("Response times"))
        r = self.report("--month", MONTH)
        self.assertEqual(r.stdout.rstrip("\n"), example)
        commands = [l.split("#")[0].split(">")[0].split()
                    for b in blocks for l in b.splitlines() if l.startswith("anxinctl report")]
        self.assertGreaterEqual(len(commands), 6)
        for cmd in commands:
            r = h.ctl(self.db, *cmd[1:])
            self.assertEqual(r.returncode, 0, (cmd, r.stderr))
        query = next(b for b in blocks if b.startswith("SELECT"))
        self.assertEqual(len(h.psql(self.db, query)), 3)


class ReportOpenAlerts(unittest.TestCase):
    """Alerts still open are judged against now(): one younger than the limit
    is not decided yet, one older and unanswered has missed it; one cleared
    after the limit missed it too."""

    def test_open_and_cleared(self):
        db = h.fresh_db("repopen")
        f = Fixture()
        now = "now()"
        f.alert(A, "%s - interval '10 seconds'" % now, "open")        # not decided
        f.alert(A, "%s - interval '100 seconds'" % now, "open")       # missed 60 s only
        f.alert(A, "%s - interval '300 seconds'" % now, "open")       # missed both
        f.alert(A, "%s - interval '400 seconds'" % now, "cleared", resolved=100)
        f.alert(A, "%s - interval '500 seconds'" % now, "cleared", resolved=50)
        f.alert(A, "%s - interval '600 seconds'" % now, "acknowledged", ack=20)
        f.run(db)
        # The period may cross a month boundary: add the township's rows up.
        rows = h.psql(db, "SELECT sum(alerts), sum(ack_needed_60), sum(ack_within_60),"
                          " sum(ack_needed_180), sum(ack_within_180)"
                          " FROM anxin_response_report(now() - interval '1 hour',"
                          " now() + interval '1 hour', 28800) WHERE NOT total")
        self.assertEqual(rows, [["6", "4", "1", "2", "1"]])


class ReportMetrics(unittest.TestCase):
    """anxind reads this month's figures at start and every minute, and shows
    them on /metrics with escaped township labels."""

    def test_metrics(self):
        db = h.fresh_db("repmet")
        odd = 'Qu"o\\te\n镇'
        f = Fixture()
        # Opened this month (local time) and before now, whenever the test runs.
        base = ("greatest(now() - interval '30 minutes', date_trunc('month', now() AT TIME ZONE "
                "INTERVAL '+08:00') AT TIME ZONE INTERVAL '+08:00')")
        for d in (10, 20, 30, 90):
            f.alert(A, base, "resolved", ack=d, resolved=d + 60, notify=2.0)
        f.alert(A, base, "silenced")
        for d in (5, 200):
            f.alert(odd, base, "resolved", ack=d, resolved=d + 60, notify=1.0)
        f.run(db)
        d = h.Daemon(db).start()
        self.addCleanup(d.kill)

        def figures():
            m = d.metrics()
            return m if "anxin_kpi_alerts" in m else None
        # The first refresh goes out with anxind's first housekeeping tick.
        m = h.wait_for(figures, timeout=20, what="anxin_kpi_* on /metrics")
        a = '{township="%s"' % A
        o = '{township="Qu\\"o\\\\te\\n镇"'
        self.assertEqual(m["anxin_kpi_alerts" + a + "}"], 4)
        self.assertEqual(m["anxin_kpi_alerts" + o + "}"], 2)
        self.assertEqual(m["anxin_kpi_alerts"], 6)
        self.assertEqual(m["anxin_kpi_alerts_silenced" + a + "}"], 1)
        self.assertEqual(m["anxin_kpi_time_to_ack_seconds" + a + ',quantile="0.5"}'], 20)
        self.assertEqual(m["anxin_kpi_time_to_ack_seconds" + a + ',quantile="0.95"}'], 90)
        self.assertEqual(m["anxin_kpi_time_to_notify_seconds" + o + ',quantile="0.5"}'], 1)
        self.assertEqual(m["anxin_kpi_time_to_resolve_seconds" + a + ',quantile="0.5"}'],
                         80)
        self.assertEqual(m["anxin_kpi_ack_within_ratio" + a + ',seconds="60"}'], 0.75)
        self.assertEqual(m["anxin_kpi_ack_within_ratio" + a + ',seconds="180"}'], 1)
        self.assertEqual(m["anxin_kpi_ack_within_ratio" + o + ',seconds="60"}'], 0.5)
        self.assertEqual(m["anxin_kpi_ack_within_ratio" + o + ',seconds="180"}'], 0.5)
        self.assertAlmostEqual(m['anxin_kpi_ack_within_ratio{seconds="60"}'], 4 / 6)
        self.assertAlmostEqual(m['anxin_kpi_ack_within_ratio{seconds="180"}'], 5 / 6)
        self.assertEqual(m['anxin_kpi_ack_needed_alerts{seconds="60"}'], 6)
        self.assertEqual(m['anxin_kpi_ack_within_alerts{seconds="60"}'], 4)
        self.assertEqual(m['anxin_kpi_ack_target_ratio{seconds="60"}'], 0.975)
        self.assertEqual(m['anxin_kpi_ack_target_ratio{seconds="180"}'], 0.99)
        self.assertGreater(m["anxin_kpi_refreshed_timestamp_seconds"], 1.7e9)
        # Every family is in docs/reports.md, and every one named there is here.
        with open(DOC, encoding="utf-8") as f:
            documented = set(re.findall(r"`(anxin_kpi_\w+)`", f.read()))
        shown = {re.match(r"anxin_kpi_\w+", k).group(0) for k in m if k.startswith("anxin_kpi")}
        self.assertEqual(shown, documented)
        # What anxinctl says for the same month agrees.
        r = h.ctl(db, "report", "response", "--format", "json")
        doc = json.loads(r.stdout)
        total = [x for x in doc["rows"] if x["total"]][0]
        self.assertEqual((total["alerts"], total["ack_within"][0]["acknowledged"]), (6, 4))
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main()
