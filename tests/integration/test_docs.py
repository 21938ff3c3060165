"""Every example in docs/rules.md does what the text says: rule snippets
pass `anxinctl check`, the example test file passes `anxinctl test-rules`,
the example replay line replays, and the example error message is what
`anxinctl check` prints."""
import hashlib
import hmac
import json
import os
import re
import subprocess
import tempfile
import unittest

import harness as h

DOC = os.path.join(h.ROOT, "docs", "rules.md")


def code_blocks(text):
    """Indented (4 spaces) blocks after a blank line, as (first line number, text)."""
    blocks, cur, start, prev_blank = [], [], 0, True
    for i, line in enumerate(text.splitlines(), start=1):
        if line.startswith("    ") and (cur or prev_blank):
            if not cur:
                start = i
            cur.append(line[4:])
        elif cur and line.strip() == "":
            cur.append("")
        else:
            if cur:
                blocks.append((start, "\n".join(cur).strip("\n")))
            cur = []
        prev_blank = line.strip() == ""
    if cur:
        blocks.append((start, "\n".join(cur).strip("\n")))
    return blocks


def condition_cells(text):
    """The backticked conditions of the table under "## Conditions"."""
    sect = text.split("## Conditions", 1)[1].split("\n## ", 1)[0]
    return [m.group(1) for m in re.finditer(r"^\| `([^`|]+)`(?: / `[^`]+`)? \|", sect, re.M)]


STUB_CHAINS = {"emergency", "technical", "welfare_check"}


def as_rules(snippet, n):
    """A snippet made into a complete rule file."""
    body = snippet
    if not re.match(r"\s*(#.*\n\s*)*(rule|chain|metric|device)\b", snippet):
        # A fragment of a rule: the statements of one.
        body = "rule doc_%d {\n%s\n    severity low\n    chain technical\n}\n" % (
            n, "\n".join("    " + l for l in snippet.splitlines()))
    defined = set(re.findall(r"^\s*chain (\w+) \{", body, re.M))
    for c in STUB_CHAINS - defined:
        body += "\nchain %s {\n    at 0s notify priority 1 by sms\n}\n" % c
    if not re.search(r"^\s*device water_meter\b", body, re.M):
        body += "\ndevice water_meter heartbeat 15m reports water.flow_l\n"
    return body


class DocsRules(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(DOC, encoding="utf-8") as f:
            cls.text = f.read()
        cls.blocks = code_blocks(cls.text)

    def check(self, rules_text):
        d = tempfile.mkdtemp(dir=h.RUN)
        with open(os.path.join(d, "doc.rules"), "w") as f:
            f.write(rules_text)
        return subprocess.run([h.anxinctl_path(), "check", "--rules", d], capture_output=True,
                              text=True)

    def test_every_rule_example_passes_check(self):
        snippets = [(ln, b) for ln, b in self.blocks
                    if re.search(r"^\s*(rule|chain|metric|device|when|clear when)\b", b, re.M)
                    and not b.lstrip().startswith(("anxinctl", "$", "test ", "#", "start"))
                    or re.match(r"\s*#.*\n\s*rule ", b)]
        self.assertGreaterEqual(len(snippets), 5, "examples found in docs/rules.md")
        for n, (ln, b) in enumerate(snippets):
            r = self.check(as_rules(b, n))
            self.assertEqual(r.returncode, 0, "docs/rules.md:%d:\n%s\n%s" % (ln, b, r.stderr))

    def test_every_condition_in_the_table_parses(self):
        conds = condition_cells(self.text)
        self.assertGreaterEqual(len(conds), 6, conds)
        for n, c in enumerate(conds):
            r = self.check(as_rules("when " + c, n))
            self.assertEqual(r.returncode, 0, "condition `%s`:\n%s" % (c, r.stderr))

    def test_the_error_example_is_what_check_prints(self):
        line = [b for _, b in self.blocks if ": error: unknown metric" in b][0]
        m = re.match(r"(\S+?):(\d+):(\d+): error: (.*)", line)
        self.assertIsNotNone(m, line)
        # Put "water.flow" at that line and column of a file with that name.
        path, row, col = m.group(1), int(m.group(2)), int(m.group(3))
        d = os.path.join(tempfile.mkdtemp(dir=h.RUN), os.path.dirname(path))
        os.makedirs(d)
        lines = ["# padding"] * (row - 2) + ["rule water_doc {"]
        lines.append(" " * (col - 1 - len("when sum(")) + "when sum(water.flow) over 12h < 10 L")
        lines += ["    severity high", "    chain technical", "}",
                  "chain technical {", "    at 0s notify priority 1 by sms", "}"]
        with open(os.path.join(d, os.path.basename(path)), "w") as f:
            f.write("\n".join(lines) + "\n")
        r = subprocess.run([h.anxinctl_path(), "check", "--rules", d], capture_output=True,
                           text=True, cwd=os.path.dirname(os.path.dirname(d)))
        self.assertEqual(r.returncode, 1)
        self.assertIn(m.group(4), r.stderr)
        self.assertRegex(r.stderr, r"water\.rules:%d:%d: error: " % (row, col))

    def test_the_example_test_file_passes(self):
        tests = [b for _, b in self.blocks if re.search(r'^test "', b, re.M)]
        self.assertTrue(tests)
        for b in tests:
            path = os.path.join(tempfile.mkdtemp(dir=h.RUN), "doc.test")
            with open(path, "w") as f:
                f.write(b + "\n")
            r = subprocess.run([h.anxinctl_path(), "test-rules", "--rules",
                                os.path.join(h.ROOT, "conf", "rules.d"), path],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, b + "\n" + r.stdout + r.stderr)
            self.assertRegex(r.stdout, r"[1-9]\d* passed, 0 failed")

    def test_the_example_replay_line_replays(self):
        line = [b for _, b in self.blocks if b.startswith('{"topic"')][0]
        json.loads(line)
        reg = os.path.join(h.ROOT, "conf", "examples", "registry.json")
        r = subprocess.run([h.anxinctl_path(), "replay", "--rules",
                            os.path.join(h.ROOT, "conf", "rules.d"), "--registry", reg, "--json",
                            "-"], input=line + "\n", capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("replay: 1 messages (0 rejected, 0 from unknown devices", r.stderr)


if __name__ == "__main__":
    unittest.main()


NOTIFY_DOC = os.path.join(h.ROOT, "docs", "notifications.md")


class NotificationsDoc(unittest.TestCase):
    """docs/notifications.md: the provider examples pass `anxinctl check`,
    `anxinctl providers` prints the report addresses the text describes, and
    the template example is a valid template without warnings."""

    def setUp(self):
        with open(NOTIFY_DOC, encoding="utf-8") as f:
            self.blocks = [b for _, b in code_blocks(f.read())]
        self.dir = tempfile.mkdtemp(dir=h.RUN)

    def config(self):
        secret = os.path.join(self.dir, "kannel.password")
        with open(secret, "w") as f:
            f.write("sendpw\n")
        provider = "\n\n".join(b for b in self.blocks if b.startswith("[provider"))
        provider = provider.replace("/etc/anxin/kannel.password", secret)
        os.makedirs(os.path.join(self.dir, "rules.d"), exist_ok=True)
        path = os.path.join(self.dir, "anxind.conf")
        with open(path, "w") as f:
            f.write("[mqtt]\nurl = tcp://127.0.0.1:1883\n[database]\nconninfo = host=127.0.0.1\n"
                    "[paths]\nrules = %s\ntemplates = %s\n\n%s\n"
                    % (os.path.join(h.ROOT, "conf", "rules.d"),
                       os.path.join(h.ROOT, "conf", "templates"), provider))
        env = dict(os.environ, ANXIN_ALIYUN_SECRET="a-secret", ANXIN_TENCENT_KEY="t-secret",
                   ANXIN_TWILIO_TOKEN="tw-token")
        return path, env

    def test_the_provider_examples_pass_check(self):
        self.assertGreaterEqual(sum(b.startswith("[provider") for b in self.blocks), 2)
        path, env = self.config()
        r = subprocess.run([h.anxinctl_path(), "-c", path, "check"], capture_output=True,
                           text=True, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("OK (5 provider(s)", r.stdout)
        self.assertIn("OK (2 template(s))", r.stdout)

    def test_providers_prints_the_report_addresses(self):
        path, env = self.config()
        r = subprocess.run([h.anxinctl_path(), "-c", path, "providers"], capture_output=True,
                           text=True, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("gateway (kannel): sms #1", r.stdout)
        self.assertIn("aliyun (aliyun): sms #2, voice #1", r.stdout)
        key = hmac.new(b"a-secret", b"report", hashlib.sha256).hexdigest()[:16]
        self.assertIn("report address: https://anxin.example.org/hooks/aliyun/report?key=%s"
                      % key, r.stdout)
        self.assertIn("tencent (tencent): (no channel uses it)", r.stdout)
        # Where SMS replies go, as "Acknowledging from the phone" shows it.
        with open(NOTIFY_DOC, encoding="utf-8") as f:
            doc = f.read()
        replies = [line for line in r.stdout.splitlines() if "SMS replies:" in line]
        self.assertEqual(len(replies), 4)       # kannel, aliyun, tencent, twilio
        self.assertIn(replies[0], doc)
        self.assertIn(replies[1], doc)
        self.assertIn("https://anxin.example.org/hooks/tencent/mo?key=%s"
                      % hmac.new(b"t-secret", b"report", hashlib.sha256).hexdigest()[:16],
                      replies[2])
        self.assertIn("https://anxin.example.org/hooks/twilio/mo as", replies[3])
        get_url = re.search(r'get-url = ("[^"]+")', replies[0]).group(1)
        self.assertIn("get-url = %s\n" % get_url, doc)
        self.assertNotIn("a-secret", r.stdout)
        self.assertNotIn("sendpw", r.stdout)
        # A secret that cannot be read is named, and fails the command.
        env.pop("ANXIN_TWILIO_TOKEN")
        r = subprocess.run([h.anxinctl_path(), "-c", path, "providers"], capture_output=True,
                           text=True, env=env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("CANNOT READ", r.stdout)
        self.assertIn("ANXIN_TWILIO_TOKEN", r.stdout)

    def test_the_template_example_is_valid(self):
        example = [b for b in self.blocks if "确认请按1" in b and b.startswith("#")]
        self.assertEqual(len(example), 1)
        tdir = os.path.join(self.dir, "templates")
        os.makedirs(tdir)
        with open(os.path.join(tdir, "critical.voice.txt"), "w", encoding="utf-8") as f:
            f.write(example[0] + "\n")
        path, env = self.config()
        with open(path, encoding="utf-8") as f:
            text = f.read().replace(os.path.join(h.ROOT, "conf", "templates"), tdir)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        r = subprocess.run([h.anxinctl_path(), "-c", path, "check"], capture_output=True,
                           text=True, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("OK (1 template(s))", r.stdout)
        self.assertNotIn("critical.voice.txt: warning", r.stderr)
        # A mistake in a template fails the check, naming file and field.
        with open(os.path.join(tdir, "sos.sms.txt"), "w", encoding="utf-8") as f:
            f.write("{elder.nmae} 回复{ack_code}确认\n")
        r = subprocess.run([h.anxinctl_path(), "-c", path, "check"], capture_output=True,
                           text=True, env=env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("sos.sms.txt: error: unknown field {elder.nmae}; did you mean "
                      "{elder.name}?", r.stderr)


API_DOC = os.path.join(h.ROOT, "docs", "api.md")


def endpoint_rows(text):
    """(method, path, role) of the table under "## Endpoints"."""
    sect = text.split("## Endpoints", 1)[1].split("\n## ", 1)[0]
    return [(m.group(1), m.group(2), m.group(3)) for m in re.finditer(
        r"^\| (GET|POST|DELETE) +\| (/\S*) +\| (none|viewer|operator|admin) +\|", sect, re.M)]


class ApiDoc(unittest.TestCase):
    """docs/api.md: every endpoint of the table exists and asks for exactly
    the role the table gives it (no token: 401; the role below: 403; the
    role itself: neither), and the audit table names every action the code
    writes."""

    @classmethod
    def setUpClass(cls):
        with open(API_DOC, encoding="utf-8") as f:
            cls.text = f.read()
        cls.db = h.fresh_db("apidoc")
        h.import_registry(cls.db, h.sample_registry(1))
        cls.tokens = {}
        for role in ("viewer", "operator", "admin"):
            r = h.ctl(cls.db, "token", "create", "--role", role, "--name", "doc-" + role)
            assert r.returncode == 0, r.stderr
            cls.tokens[role] = r.stdout.strip()
        cls.d = h.Daemon(cls.db).start()
        h.wait_for(lambda: "api: 3 token(s)" in cls.d.log(), what="tokens loaded")

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def status(self, method, path, role=None):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.d.http_port, timeout=10)
        hd = {"Content-Type": "application/json"}
        if role:
            hd["Authorization"] = "Bearer " + self.tokens[role]
        c.request(method, path, body=b"{}" if method == "POST" else None, headers=hd)
        st = c.getresponse().status      # headers only: the stream never ends
        c.close()
        return st

    def test_every_endpoint_asks_for_its_role(self):
        rows = endpoint_rows(self.text)
        self.assertGreaterEqual(len(rows), 15)
        below = {"operator": "viewer", "admin": "operator"}
        for method, path, role in rows:
            url = path.replace("{id}", "1").replace("{name}", "nobody")
            with self.subTest(endpoint="%s %s" % (method, path)):
                if role == "none":
                    self.assertNotIn(self.status(method, url), (401, 403, 405))
                    continue
                self.assertEqual(self.status(method, url), 401)
                if role in below:
                    self.assertEqual(self.status(method, url, below[role]), 403)
                self.assertNotIn(self.status(method, url, role), (401, 403, 405))

    def test_the_audit_table_lists_what_the_code_writes(self):
        sect = self.text.split("## The audit trail", 1)[1]
        documented = set(re.findall(r"^\| ([a-z_]+\.[a-z_]+|reload) +\|", sect, re.M))
        written = set()
        for d in ("daemon", "sql"):
            for name in os.listdir(os.path.join(h.ROOT, d)):
                with open(os.path.join(h.ROOT, d, name), encoding="utf-8") as f:
                    src = f.read()
                # the action is the literal second argument of each writer
                written |= set(re.findall(r"anxin_audit\([^,()]+, '([a-z_.]+)'", src))
                written |= set(re.findall(r"ctl_audit\(db, \"([a-z_.]+)\"", src))
                written |= set(re.findall(r"api_audit\(d, [^,]+, \"([a-z_.]+)\"", src))
                written |= set(re.findall(r"call\(db, \"anxin_\w+\", \"([a-z_.]+)\"", src))
        self.assertGreaterEqual(len(written), 8, written)
        self.assertEqual(written - documented, set())
