"""The web console end to end, in headless Chromium.

tests/browser/console.test.js logs in with an operator token and keeps the
page open; this side publishes an SOS, and the page must show it without a
reload. The browser opens it, reveals a number, acknowledges it; this side
then checks in the database that paging stopped at the acknowledgement (the
chain's next step is cancelled and never sent) before letting the browser
resolve it and silence the elder; last it stops anxind and the page must say
that its live connection is gone. The two sides coordinate through lines on
the node script's stdin and stdout (protocol at the top of console.test.js).

Needs Debian's chromium, node, and `npm ci --prefix tests/browser` (all
installed by `make test`); skipped, saying which is missing, without them.
Screenshots go to $ANXIN_RUN/screenshots, or to ANXIN_SCREENSHOTS when set
(ANXIN_SCREENSHOTS=docs/screenshots refreshes the ones in the docs)."""
import json
import os
import queue
import shutil
import subprocess
import threading
import time
import unittest
import urllib.error
import urllib.request

import harness as h

BROWSER_DIR = os.path.join(h.ROOT, "tests", "browser")
CHROMIUM = os.environ.get("ANXIN_CHROMIUM", "/usr/bin/chromium")
NODE = shutil.which("node")

# A chain in seconds: the repeat keeps a step pending whenever the browser
# acknowledges, so "paging stopped" is a real cancellation, not luck.
RULES = """
rule sos {
    title "SOS紧急呼叫"
    when event sos
    severity critical
    chain console_test
}

chain console_test {
    at 0s notify priority 1 by sms
    at 3s notify priority 2 by sms
    repeat every 3s until acknowledged
}
"""

OPERATOR = "desk-1"


def missing():
    if not os.path.exists(CHROMIUM):
        return "no %s (apt-get install chromium; make test does it)" % CHROMIUM
    if not NODE:
        return "no node on PATH (apt-get install nodejs npm)"
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        return "no tests/browser/node_modules (npm ci --prefix tests/browser; make test does it)"
    return None


class Browser:
    """The node script, its stdout read line by line on a thread."""

    def __init__(self, env, log_path):
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen([NODE, os.path.join(BROWSER_DIR, "console.test.js")],
                                     cwd=BROWSER_DIR, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, word, timeout=60):
        """Waits for the line starting with word; returns its argument."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("browser never said %s; said %s%s"
                                     % (word, self.seen, self.stderr()))
            if line is None:
                raise AssertionError("browser exited (%s) before %s; said:\n%s%s"
                                     % (self.proc.wait(), word, "\n".join(self.seen),
                                        self.stderr()))
            self.seen.append(line)
            if line.split(" ")[0] == word:
                return line[len(word):].strip()
            if line.startswith("FAIL"):
                # The rest of the failure is on the following lines.
                rest = []
                while True:
                    try:
                        more = self.lines.get(timeout=10)
                    except queue.Empty:
                        break
                    if more is None:
                        break
                    rest.append(more)
                raise AssertionError("browser: %s\n%s%s" % (line, "\n".join(rest),
                                                            self.stderr()))

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stderr(self):
        self.log.flush()
        with open(self.log.name) as f:
            return "\n-- browser stderr --\n" + f.read()[-4000:]

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()


@unittest.skipIf(missing(), missing())
class Console(unittest.TestCase):
    def setUp(self):
        self.db = h.fresh_db("console")
        h.import_registry(self.db, h.sample_registry(1))
        r = h.ctl(self.db, "token", "create", "--role", "operator", "--name", OPERATOR)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.token = r.stdout.strip()
        rules = os.path.join(h.RUN, "console-rules-" + self.db)
        os.makedirs(rules, exist_ok=True)
        with open(os.path.join(rules, "console.rules"), "w") as f:
            f.write(RULES)
        self.cap = h.Capture()
        # A county at +07:00 and a desk computer at -03:00: the page must show
        # the county's clock.
        self.d = h.Daemon(self.db, webhook_url=self.cap.url, rules=rules,
                          anxind_extra="utc_offset = +07:00\n").start()
        h.wait_for(lambda: "api: 1 token(s)" in self.d.log(), what="tokens loaded")
        self.pub = h.publisher()
        self.browser = None

    def tearDown(self):
        if self.browser:
            self.browser.close()
        self.pub.loop_stop()
        self.d.stop()
        self.cap.close()

    def row(self, sql):
        rows = h.psql(self.db, sql)
        return rows[0] if rows else None

    def test_sos_live_then_ack_stops_paging_then_resolve(self):
        shots = os.environ.get("ANXIN_SCREENSHOTS") or os.path.join(h.RUN, "screenshots")
        env = dict(os.environ, BASE_URL="http://127.0.0.1:%d" % self.d.http_port,
                   TOKEN=self.token, ELDER_NAME="测试老人1", SCREENSHOT_DIR=os.path.abspath(shots),
                   CHROMIUM=CHROMIUM, COUNTY_OFFSET_MIN="420", DESK_ZONE="America/Sao_Paulo")
        t0 = time.monotonic()
        b = self.browser = Browser(env, os.path.join(self.d.dir, "browser.log"))

        b.expect("READY")
        h.publish(self.pub, self.d.topic("E-SOS-0001"), {"events": ["sos"]})
        aid = int(b.expect("SEEN"))
        self.assertEqual(self.row("SELECT rule, state FROM alerts WHERE id = %d" % aid),
                         ["sos", "open"])

        cid = b.expect("REVEALED")
        self.assertTrue(cid.isdigit(), cid)
        self.assertNotIn("+8613800000011", self.d.log(), "a full number in anxind's log")
        self.assertEqual(h.psql(self.db, "SELECT actor, target, detail->>'alert', "
                                         "detail->>'channel' FROM audit_log "
                                         "WHERE action = 'contact.reveal'"),
                         [["token:" + OPERATOR, "contact:" + cid, str(aid), "console"]])

        b.expect("ACKED")
        acked = self.row("SELECT actor, channel, detail->>'note', "
                         "(extract(epoch FROM at) * 1000)::bigint FROM alert_events "
                         "WHERE alert_id = %d AND kind = 'acked'" % aid)
        self.assertIsNotNone(acked, "no acked event")
        self.assertEqual(acked[0], "token:" + OPERATOR)
        self.assertEqual(acked[1], "console")
        self.assertEqual(acked[2], "已电话联系家属")
        ack_ms = int(acked[3])
        # The next step was pending and is now cancelled, not just late.
        pending = self.row("SELECT count(*) FROM escalation_timers WHERE alert_id = %d AND "
                           "kind = 'step' AND done_at IS NULL AND NOT cancelled" % aid)
        self.assertEqual(pending, ["0"])
        due = self.row("SELECT (extract(epoch FROM max(due_at)) * 1000)::bigint FROM "
                       "escalation_timers WHERE alert_id = %d AND kind = 'step' AND cancelled"
                       % aid)
        self.assertTrue(due and due[0], "no cancelled step: the chain had nothing left to page")
        # Proving an absence takes waiting: until the cancelled step would
        # have fired, and a second more.
        wait = int(due[0]) / 1000.0 + 1.0 - time.time()
        if wait > 0:
            time.sleep(min(wait, 10))
        later = h.psql(self.db, "SELECT id FROM notifications WHERE alert_id = %d AND "
                                "created_at > to_timestamp(%d / 1000.0)" % (aid, ack_ms))
        self.assertEqual(later, [], "notifications made after the acknowledgement")
        before = {int(r[0]) for r in h.psql(self.db, "SELECT id FROM notifications WHERE "
                                                      "alert_id = %d" % aid)}
        sent = [r["json"]["id"] for r in self.cap.sms() if r["json"].get("alert") == aid]
        self.assertTrue(sent, "the SOS paged nobody")
        self.assertLessEqual(set(sent), before, "a webhook call for a notification made later")

        b.send("RESOLVE")
        b.expect("RESOLVED")
        self.assertEqual(self.row("SELECT state, outcome, note FROM alerts WHERE id = %d" % aid),
                         ["resolved", "assisted_on_site", "网格员上门，老人摔倒无大碍"])
        kinds = h.psql(self.db, "SELECT kind, actor, channel FROM alert_events WHERE "
                                "alert_id = %d AND kind IN ('acked', 'resolved') ORDER BY at, id"
                       % aid)
        self.assertEqual([k[0] for k in kinds], ["acked", "resolved"])
        for k in kinds:
            self.assertEqual(k[1], "token:" + OPERATOR)
            self.assertEqual(k[2], "console")

        b.expect("SILENCED")
        st, body = self.api("GET", "/api/v1/silences")
        self.assertEqual(st, 200)
        self.assertTrue(any("E0001" in json.dumps(s, ensure_ascii=False) and
                            "住院" in json.dumps(s, ensure_ascii=False) for s in body),
                        "no silence for E0001: %s" % body)

        b.expect("STOP_DAEMON")
        self.d.stop()
        b.send("STOPPED")
        b.expect("BANNER")
        b.expect("OK")
        self.assertEqual(b.proc.wait(timeout=30), 0)
        print("(browser %.1f s) " % (time.monotonic() - t0), end="", flush=True)

    def api(self, method, path, body=None):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.d.http_port, path),
                                     method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": "Bearer " + self.token})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")


if __name__ == "__main__":
    unittest.main()
