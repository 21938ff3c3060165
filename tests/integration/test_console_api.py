"""What the web console stands on: logging in with a token for a session
cookie (HttpOnly, SameSite=Strict, ended by logout and by revoking the
token), the CSRF header on console changes, the live event stream
(/api/v1/stream), revealing a number (audited), silences over the API, the
audit trail, the console's files, /readyz with providers, and TLS."""
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

import harness as h
from test_api import token
from test_escalation import rules_dir


class Http:
    """A tiny client that keeps a cookie, like a browser tab would."""

    def __init__(self, port, tls_ctx=None, source=None):
        self.port = port
        self.tls_ctx = tls_ctx
        self.source = (source, 0) if source else None
        self.cookie = None
        self.last_headers = {}

    def call(self, method, path, body=None, bearer=None, headers=None, console=False):
        if self.tls_ctx:
            c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10,
                                            context=self.tls_ctx)
        else:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10,
                                           source_address=self.source)
        hd = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            hd["Content-Type"] = "application/json"
        if bearer:
            hd["Authorization"] = "Bearer " + bearer
        if self.cookie:
            hd["Cookie"] = self.cookie
        if console:
            hd["X-Anxin-Console"] = "1"
        c.request(method, path, body=data, headers=hd)
        r = c.getresponse()
        raw = r.read()
        self.last_headers = {k.lower(): v for k, v in r.getheaders()}
        sc = r.getheader("Set-Cookie")
        if sc:
            self.set_cookie = sc
            kv = sc.split(";")[0]
            self.cookie = None if kv.endswith("=") else kv
        c.close()
        try:
            doc = json.loads(raw) if raw and r.getheader("Content-Type", "").startswith(
                "application/json") else raw.decode()
        except ValueError:
            doc = raw.decode()
        return r.status, doc


class Stream:
    """Reads /api/v1/stream on a thread; events land in a list."""

    def __init__(self, port, bearer=None, cookie=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        hd = "GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        if bearer:
            hd += "Authorization: Bearer %s\r\n" % bearer
        if cookie:
            hd += "Cookie: %s\r\n" % cookie
        self.sock.sendall((hd + "\r\n").encode())
        self.events = []
        self.raw = b""
        self.closed = False
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        """Undoes HTTP/1.1 chunked framing, then splits SSE blocks."""
        buf = b""
        body = b""
        headers_done = False
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                with self.lock:
                    self.raw += chunk
                buf += chunk
                if not headers_done:
                    if b"\r\n\r\n" not in buf:
                        continue
                    _, buf = buf.split(b"\r\n\r\n", 1)
                    headers_done = True
                while b"\r\n" in buf:
                    size_line, rest = buf.split(b"\r\n", 1)
                    size = int(size_line.split(b";")[0], 16)
                    if len(rest) < size + 2:
                        break
                    body += rest[:size]
                    buf = rest[size + 2:]
                while b"\n\n" in body:
                    block, body = body.split(b"\n\n", 1)
                    ev = {}
                    for line in block.decode(errors="replace").split("\n"):
                        if line.startswith("event: "):
                            ev["event"] = line[7:]
                        elif line.startswith("data: "):
                            ev["data"] = line[6:]
                        elif line.startswith("id: "):
                            ev["id"] = line[4:]
                    if ev:
                        with self.lock:
                            self.events.append(ev)
        except (OSError, ValueError):
            pass
        self.closed = True

    def alert_events(self):
        with self.lock:
            return [json.loads(e["data"]) for e in self.events if e.get("event") == "alert"]

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Console(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = h.fresh_db("con")
        h.import_registry(cls.db, h.sample_registry(3))
        cls.viewer = token(cls.db, "viewer", "大屏")
        cls.operator = token(cls.db, "operator", "值班员李")
        cls.temp = token(cls.db, "operator", "临时")
        cls.admin = token(cls.db, "admin", "管理员")
        cls.files = tempfile.mkdtemp(dir=h.RUN)
        with open(os.path.join(cls.files, "index.html"), "w") as f:
            f.write("<!doctype html><title>安心</title>")
        with open(os.path.join(cls.files, "app.js"), "w") as f:
            f.write("console.log('x');\n")
        with open(os.path.join(cls.files, ".secret.js"), "w") as f:
            f.write("hidden\n")
        cls.cap = h.Capture()
        # Some tests poll with a token anxind has not loaded yet, failing as
        # often as the machine is slow: a limit that timing cannot reach
        # (AuthThrottle tests the brake).
        cls.d = h.Daemon(cls.db, webhook_url=cls.cap.url, rules=rules_dir(cls.db),
                         console_dir=cls.files,
                         http_extra="session_timeout = 1h\nauth_failures = 100000\n").start()
        h.wait_for(lambda: "api: 4 token(s)" in cls.d.log(), what="tokens loaded")
        cls.pub = h.publisher()

    @classmethod
    def tearDownClass(cls):
        cls.pub.loop_stop()
        cls.d.stop()
        cls.cap.close()
        shutil.rmtree(cls.files, ignore_errors=True)

    def sos(self, n):
        before = len(self.cap.sms())
        h.publish(self.pub, self.d.topic("E-SOS-%04d" % n), {"events": ["sos"]})
        self.cap.wait_count(before + 2)
        return int(h.psql(self.db, "SELECT id FROM alerts WHERE elder_id = 'E%04d' "
                                   "ORDER BY id DESC LIMIT 1" % n)[0][0])

    def audit(self, action):
        return h.psql(self.db, "SELECT actor, coalesce(target, ''), outcome, detail::text "
                               "FROM audit_log WHERE action = '%s' ORDER BY id" % action)

    def test_login_cookie_logout(self):
        b = Http(self.d.http_port)
        st, doc = b.call("POST", "/api/v1/session", {"token": "axn_wrong"})
        self.assertEqual((st, doc["error"]), (401, "unauthorized"))
        self.assertIsNone(b.cookie)
        st, doc = b.call("POST", "/api/v1/session", {"nope": 1})
        self.assertEqual(st, 400)
        st, doc = b.call("GET", "/api/v1/session")
        self.assertEqual(st, 401)
        st, doc = b.call("POST", "/api/v1/session", {"token": self.operator})
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc, {"name": "值班员李", "role": "operator", "utc_offset_min": 480})
        flags = [p.strip() for p in b.set_cookie.split(";")]
        self.assertIn("HttpOnly", flags)
        self.assertIn("SameSite=Strict", flags)
        self.assertIn("Path=/", flags)
        self.assertIn("Max-Age=3600", flags)          # session_timeout = 1h
        self.assertNotIn("Secure", flags)              # plain HTTP here
        self.assertNotIn(self.operator, b.set_cookie)  # the token never goes back
        st, doc = b.call("GET", "/api/v1/session")
        self.assertEqual((st, doc["name"]), (200, "值班员李"))
        st, alerts = b.call("GET", "/api/v1/alerts?state=all")
        self.assertEqual(st, 200)
        cookie = b.cookie
        st, _ = b.call("DELETE", "/api/v1/session")
        self.assertEqual(st, 204)
        self.assertIn("Max-Age=0", b.set_cookie)
        b.cookie = cookie                                # an old tab replays it
        st, doc = b.call("GET", "/api/v1/alerts")
        self.assertEqual(st, 401)
        self.assertIn("log in again", doc["detail"])
        logins = self.audit("session.login")
        self.assertIn(["anonymous", "", "unknown token", "{}"], logins)
        self.assertIn(["token:值班员李", "", "ok", "{}"], logins)
        self.assertEqual(self.audit("session.logout")[-1][:3], ["token:值班员李", "", "ok"])

    def test_console_changes_need_the_header_and_are_audited(self):
        aid = self.sos(1)
        b = Http(self.d.http_port)
        b.call("POST", "/api/v1/session", {"token": self.operator})
        st, doc = b.call("POST", "/api/v1/alerts/%d/ack" % aid, {"note": "来自别的网站"})
        self.assertEqual(st, 403)
        self.assertIn("X-Anxin-Console", doc["detail"])
        self.assertEqual(h.psql(self.db, "SELECT state FROM alerts WHERE id = %d" % aid),
                         [["open"]])
        st, doc = b.call("POST", "/api/v1/alerts/%d/ack" % aid, {"note": "我来处理"},
                         console=True)
        self.assertEqual((st, doc["state"]), (200, "acknowledged"))
        ev = h.psql(self.db, "SELECT actor, channel FROM alert_events WHERE alert_id = %d "
                             "AND kind = 'acked'" % aid)
        self.assertEqual(ev, [["token:值班员李", "console"]])
        self.assertIn(["token:值班员李", "alert:%d" % aid, "ok", '{"channel": "console"}'],
                      self.audit("alert.ack"))
        # a second ack is refused and the refusal is on the trail too
        st, _ = b.call("POST", "/api/v1/alerts/%d/ack" % aid, {}, console=True)
        self.assertEqual(st, 409)
        self.assertIn(["token:值班员李", "alert:%d" % aid, "already_acknowledged",
                       '{"channel": "console"}'], self.audit("alert.ack"))
        st, doc = b.call("POST", "/api/v1/alerts/%d/resolve" % aid,
                         {"outcome": "false_alarm", "note": "误按"}, console=True)
        self.assertEqual(st, 200, doc)
        res = self.audit("alert.resolve")
        self.assertEqual(res[-1][:3], ["token:值班员李", "alert:%d" % aid, "ok"])
        self.assertEqual(json.loads(res[-1][3]),
                         {"channel": "console", "outcome": "false_alarm"})

    def test_alert_page_has_the_elder_card_with_masked_numbers(self):
        aid = self.sos(2)
        b = Http(self.d.http_port)
        st, doc = b.call("GET", "/api/v1/alerts/%d" % aid, bearer=self.viewer)
        self.assertEqual(st, 200)
        e = doc["elder"]
        self.assertEqual((e["id"], e["name"], e["village"], e["categories"]),
                         ("E0002", "测试老人2", "东关村", ["living_alone"]))
        self.assertEqual(e["care_plan"]["risk"], "high")
        self.assertEqual([c["phone"] for c in e["contacts"]],
                         ["138****0021", "138****0022", "138****0023"])
        self.assertNotIn("13800000021", json.dumps(doc))
        st, lst = b.call("GET", "/api/v1/alerts?state=live", bearer=self.viewer)
        mine = [a for a in lst if a["id"] == aid][0]
        self.assertEqual((mine["rule"], mine["title"]), ("sos", "SOS紧急呼叫"))
        self.assertEqual(doc["alert"]["title"], "SOS紧急呼叫")
        self.assertEqual(sorted((n["contact"], n["channel"]) for n in mine["notified"]),
                         [("家属2", "sms"), ("邻居2", "sms")])

    def test_reveal_is_for_operators_and_audited(self):
        aid = self.sos(3)
        cid = int(h.psql(self.db, "SELECT id FROM contacts WHERE elder_id = 'E0003' "
                                  "ORDER BY position LIMIT 1")[0][0])
        b = Http(self.d.http_port)
        st, doc = b.call("POST", "/api/v1/contacts/%d/reveal" % cid, {"alert": aid},
                         bearer=self.viewer)
        self.assertEqual(st, 403)
        st, doc = b.call("POST", "/api/v1/contacts/%d/reveal" % cid, {"alert": aid},
                         bearer=self.operator)
        self.assertEqual(st, 200, doc)
        self.assertEqual((doc["name"], doc["phone"]), ("家属3", "+8613800000031"))
        st, doc = b.call("POST", "/api/v1/contacts/99999/reveal", {}, bearer=self.operator)
        self.assertEqual(st, 404)
        st, doc = b.call("POST", "/api/v1/contacts/%d/reveal" % cid, {"alert": "x"},
                         bearer=self.operator)
        self.assertEqual(st, 400)
        st, doc = b.call("GET", "/api/v1/contacts/%d/reveal" % cid, bearer=self.operator)
        self.assertEqual(st, 405)
        rows = self.audit("contact.reveal")
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0][:3], ["token:值班员李", "contact:%d" % cid, "ok"])
        self.assertEqual(json.loads(rows[0][3]),
                         {"alert": aid, "elder": "E0003", "channel": "api"})
        self.assertNotIn("13800000031", self.d.log())

    def test_silences_over_the_api(self):
        b = Http(self.d.http_port)
        bad = [
            ({"scope": "house", "target": "E0001", "for": "2h", "reason": "x"}, "scope"),
            ({"scope": "elder", "target": "", "for": "2h", "reason": "x"}, "target"),
            ({"scope": "elder", "target": "E0001", "for": "2h"}, "reason"),
            ({"scope": "elder", "target": "E0001", "reason": "x"}, "either"),
            ({"scope": "elder", "target": "E0001", "for": "soon", "reason": "x"}, "duration"),
            ({"scope": "elder", "target": "E0001", "until": "2020-01-01T00:00:00+08:00",
              "reason": "x"}, "end after"),
        ]
        for body, word in bad:
            st, doc = b.call("POST", "/api/v1/silences", body, bearer=self.operator)
            self.assertEqual(st, 400, body)
            self.assertIn(word, doc["detail"], body)
        st, doc = b.call("POST", "/api/v1/silences", b"{", bearer=self.operator)
        self.assertEqual((st, doc["error"]), (400, "bad_json"))
        st, doc = b.call("POST", "/api/v1/silences",
                         {"scope": "elder", "target": "E0003", "for": "2h", "reason": "住院"},
                         bearer=self.viewer)
        self.assertEqual(st, 403)
        st, doc = b.call("POST", "/api/v1/silences",
                         {"scope": "elder", "target": "E0003", "for": "2h", "reason": "住院"},
                         bearer=self.operator)
        self.assertEqual(st, 201, doc)
        self.assertEqual((doc["scope"], doc["target"], doc["created_by"]),
                         ("elder", "E0003", "token:值班员李"))
        self.assertAlmostEqual(doc["ends"] - doc["starts"], 2 * 3600 * 1000, delta=1000)
        h.wait_for(lambda: "silences: 1 in force" in self.d.log(), what="anxind has it")
        st, lst = b.call("GET", "/api/v1/silences", bearer=self.viewer)
        self.assertEqual([s["id"] for s in lst], [doc["id"]])
        st, _ = b.call("DELETE", "/api/v1/silences/%d" % doc["id"], bearer=self.viewer)
        self.assertEqual(st, 403)
        st, _ = b.call("DELETE", "/api/v1/silences/%d" % doc["id"], bearer=self.operator)
        self.assertEqual(st, 204)
        st, _ = b.call("DELETE", "/api/v1/silences/%d" % doc["id"], bearer=self.operator)
        self.assertEqual(st, 404)
        st, lst = b.call("GET", "/api/v1/silences", bearer=self.viewer)
        self.assertEqual(lst, [])
        self.assertEqual(self.audit("silence.add")[-1][:3],
                         ["token:值班员李", "silence:%d" % doc["id"], "ok"])
        self.assertEqual(self.audit("silence.cancel")[-1][:3],
                         ["token:值班员李", "silence:%d" % doc["id"], "ok"])

    def test_stream_carries_every_change(self):
        st = Stream(self.d.http_port, bearer=self.viewer)
        try:
            h.wait_for(lambda: any(e.get("event") == "ready" for e in st.events),
                       what="stream ready")
            self.assertIn(b"text/event-stream", st.raw)
            aid = self.sos(1)
            h.wait_for(lambda: any(e["alert"] == aid and e["kind"] == "opened"
                                   for e in st.alert_events()), what="opened event")
            b = Http(self.d.http_port)
            b.call("POST", "/api/v1/alerts/%d/ack" % aid, {}, bearer=self.operator)
            h.wait_for(lambda: any(e["alert"] == aid and e["kind"] == "acked"
                                   for e in st.alert_events()), what="acked event")
            kinds = [e["kind"] for e in st.alert_events() if e["alert"] == aid]
            self.assertLess(kinds.index("opened"), kinds.index("acked"))
            ids = [int(e["id"]) for e in st.events if e.get("event") == "alert"]
            self.assertEqual(ids, sorted(ids))
        finally:
            st.close()
        # no token, no stream
        b = Http(self.d.http_port)
        st_code, _ = b.call("GET", "/api/v1/stream")
        self.assertEqual(st_code, 401)
        self.assertEqual(b.call("POST", "/api/v1/stream", bearer=self.viewer)[0], 405)

    def test_revoking_a_token_ends_its_sessions_and_streams(self):
        b = Http(self.d.http_port)
        st, _ = b.call("POST", "/api/v1/session", {"token": self.temp})
        self.assertEqual(st, 200)
        s = Stream(self.d.http_port, cookie=b.cookie)
        try:
            h.wait_for(lambda: any(e.get("event") == "ready" for e in s.events),
                       what="stream ready")
            r = h.ctl(self.db, "token", "revoke", "临时")
            self.assertEqual(r.returncode, 0, r.stderr)
            h.wait_for(lambda: s.closed, what="stream ended")
            st, doc = b.call("GET", "/api/v1/session")
            self.assertEqual(st, 401)
        finally:
            s.close()

    def test_console_files(self):
        b = Http(self.d.http_port)
        st, body = b.call("GET", "/console/")
        self.assertEqual(st, 200)
        self.assertIn("安心", body)
        csp = b.last_headers.get("content-security-policy", "")
        self.assertIn("default-src 'self'", csp)
        self.assertIn("frame-ancestors 'none'", csp)
        self.assertEqual(b.last_headers.get("x-frame-options"), "DENY")
        st, body = b.call("GET", "/console/app.js")
        self.assertEqual(st, 200)
        self.assertTrue(b.last_headers["content-type"].startswith("text/javascript"))
        st, _ = b.call("GET", "/console")
        self.assertEqual((st, b.last_headers.get("location")), (301, "/console/"))
        for path in ["/console/.secret.js", "/console/../anxind.conf",
                     "/console/%2e%2e%2fanxind.conf", "/console/nothere.js",
                     "/console/anxind.conf"]:
            st, _ = b.call("GET", path)
            self.assertEqual(st, 404, path)
        self.assertEqual(b.call("POST", "/console/app.js", {})[0], 405)

    def test_reload_is_for_admins_and_keeps_good_rules(self):
        b = Http(self.d.http_port)
        st, doc = b.call("POST", "/api/v1/reload", bearer=self.operator)
        self.assertEqual(st, 403)
        self.assertIn("admin", doc["detail"])
        st, doc = b.call("POST", "/api/v1/reload", bearer=self.admin)
        self.assertEqual((st, doc), (200, {"rules": "applied", "templates": "applied",
                                           "config": "applied"}))
        bad = os.path.join(rules_dir(self.db), "broken.rules")
        with open(bad, "w") as f:
            f.write("rule x {\n    when event\n}\n")
        try:
            st, doc = b.call("POST", "/api/v1/reload", bearer=self.admin)
        finally:
            os.unlink(bad)
        self.assertEqual(st, 422)
        self.assertEqual(doc["result"]["rules"], "kept_previous")
        self.assertEqual(doc["result"]["config"], "applied")
        rows = self.audit("reload")
        self.assertEqual([r[2] for r in rows[-2:]], ["ok", "partly_refused"])
        self.assertEqual(rows[-1][0], "token:管理员")
        self.assertEqual(b.call("GET", "/api/v1/reload", bearer=self.admin)[0], 405)

    def test_admins_manage_tokens_over_the_api(self):
        b = Http(self.d.http_port)
        body = {"name": "夜班-2", "role": "viewer", "expires": "30d"}
        self.assertEqual(b.call("POST", "/api/v1/tokens", body, bearer=self.operator)[0], 403)
        self.assertEqual(b.call("GET", "/api/v1/tokens", bearer=self.operator)[0], 403)
        for bad, word in [({"name": "", "role": "viewer"}, "name"),
                          ({"name": "x", "role": "root"}, "role"),
                          ({"name": "x", "role": "viewer", "expires": "soon"}, "expires"),
                          ({"name": "a\u0007b", "role": "viewer"}, "name")]:
            st, doc = b.call("POST", "/api/v1/tokens", bad, bearer=self.admin)
            self.assertEqual(st, 400, bad)
            self.assertIn(word, doc["detail"])
        st, doc = b.call("POST", "/api/v1/tokens", body, bearer=self.admin)
        self.assertEqual(st, 201, doc)
        tok = doc["token"]
        self.assertRegex(tok, r"^axn_[A-Za-z0-9_-]{43}$")
        self.assertEqual((doc["name"], doc["role"], doc["status"]), ("夜班-2", "viewer", "active"))
        self.assertAlmostEqual(doc["expires"] - doc["created"], 30 * 86400 * 1000, delta=2000)
        st, doc = b.call("POST", "/api/v1/tokens", body, bearer=self.admin)
        self.assertEqual(st, 409)
        h.wait_for(lambda: b.call("GET", "/api/v1/alerts", bearer=tok)[0] == 200,
                   what="the new token works")
        st, lst = b.call("GET", "/api/v1/tokens", bearer=self.admin)
        mine = [t for t in lst if t["name"] == "夜班-2"][0]
        self.assertEqual(sorted(mine), ["created", "expires", "name", "revoked", "role", "status"])
        self.assertNotIn(tok, json.dumps(lst))
        self.assertEqual(b.call("DELETE", "/api/v1/tokens/nobody", bearer=self.admin)[0], 404)
        self.assertEqual(b.call("DELETE", "/api/v1/tokens/%E5%A4%9C%E7%8F%AD-2",
                                bearer=self.operator)[0], 403)
        st, _ = b.call("DELETE", "/api/v1/tokens/%E5%A4%9C%E7%8F%AD-2", bearer=self.admin)
        self.assertEqual(st, 204)
        h.wait_for(lambda: b.call("GET", "/api/v1/alerts", bearer=tok)[0] == 401,
                   what="the revoked token refused")
        st, _ = b.call("DELETE", "/api/v1/tokens/%E5%A4%9C%E7%8F%AD-2", bearer=self.admin)
        self.assertEqual(st, 204)                       # still revoked, once on the trail
        self.assertIn(["token:管理员", "token:夜班-2", "ok",
                       '{"role": "viewer", "channel": "api"}'], self.audit("token.create"))
        self.assertEqual([r for r in self.audit("token.revoke") if r[1] == "token:夜班-2"],
                         [["token:管理员", "token:夜班-2", "ok", '{"channel": "api"}']])
        self.assertNotIn(tok, self.d.log())

    def test_a_name_of_64_chinese_characters_is_whole_everywhere(self):
        name = "长" * 64                    # 192 bytes: the longest name allowed
        b = Http(self.d.http_port)
        st, doc = b.call("POST", "/api/v1/tokens", {"name": name, "role": "operator"},
                         bearer=self.admin)
        self.assertEqual((st, doc.get("name")), (201, name))
        tok = doc["token"]
        h.wait_for(lambda: b.call("POST", "/api/v1/session", {"token": tok})[0] == 200,
                   what="the new token logs in")
        st, who = b.call("GET", "/api/v1/session")
        self.assertEqual(who["name"], name)
        aid = self.sos(3)
        st, _ = b.call("POST", "/api/v1/alerts/%d/ack" % aid, {}, console=True)
        self.assertEqual(st, 200)
        self.assertEqual(h.psql(self.db, "SELECT acked_by FROM alerts WHERE id = %d" % aid),
                         [["token:" + name]])
        self.assertIn(["token:" + name, "alert:%d" % aid, "ok", '{"channel": "console"}'],
                      self.audit("alert.ack"))

    def test_cli_changes_are_on_the_audit_trail(self):
        aid = self.sos(2)
        r = h.ctl(self.db, "ack", str(aid), "--note", "电话联系")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = [x for x in self.audit("alert.ack") if x[1] == "alert:%d" % aid]
        self.assertEqual(len(rows), 1)
        self.assertTrue(rows[0][0].startswith("cli:"), rows)
        self.assertEqual(rows[0][2:], ["ok", '{"channel": "cli"}'])
        r = h.ctl(self.db, "resolve", str(aid), "--outcome", "other")
        self.assertNotEqual(r.returncode, 0)             # no note: usage, nothing done
        r = h.ctl(self.db, "resolve", str(aid), "--outcome", "other", "--note", "")
        self.assertEqual([x[2] for x in self.audit("alert.resolve")
                          if x[1] == "alert:%d" % aid], ["note_required"])
        created = self.audit("token.create")
        self.assertIn("token:管理员", [x[1] for x in created])
        self.assertIn('{"role": "admin"}', [x[3] for x in created])

    def test_metrics_and_readyz(self):
        b = Http(self.d.http_port)
        st, doc = b.call("GET", "/readyz")
        self.assertEqual(st, 200)
        self.assertEqual(doc, {"status": "ready", "broker": True, "database": True,
                               "providers": {"hook": True}})
        st, body = b.call("GET", "/metrics")
        self.assertIn("anxin_console_sessions ", body)
        self.assertIn("anxin_event_streams ", body)


class AuthThrottle(unittest.TestCase):
    """Failed logins and tokens, counted per address: past [http]
    auth_failures in a minute they get 429 for auth_throttle and are no
    longer audited one by one; a right token still works; other addresses
    are not touched. The guessing side connects from 127.0.0.2 (loopback)."""

    def setUp(self):
        self.db = h.fresh_db("thr")
        h.import_registry(self.db, h.sample_registry(1))
        self.operator = token(self.db, "operator", "值班员王")
        self.d = h.Daemon(self.db, rules=rules_dir(self.db),
                          http_extra="auth_failures = 3\nauth_throttle = 2s\n").start()
        h.wait_for(lambda: "api: 1 token(s)" in self.d.log(), what="tokens loaded")

    def tearDown(self):
        self.d.stop()

    def logins_audited(self):
        return h.psql(self.db, "SELECT outcome, count(*) FROM audit_log WHERE action = "
                               "'session.login' GROUP BY outcome ORDER BY outcome")

    def test_failures_past_the_limit_get_429_and_a_right_token_still_works(self):
        guess = Http(self.d.http_port, source="127.0.0.2")
        for i in range(3):
            st, doc = guess.call("POST", "/api/v1/session", {"token": "axn_guess%d" % i})
            self.assertEqual((st, doc["error"]), (401, "unauthorized"), i)
        self.assertIn("3 refused logins, tokens or callbacks from 127.0.0.2 within a minute",
                      self.d.log())
        st, doc = guess.call("POST", "/api/v1/session", {"token": "axn_guess3"})
        self.assertEqual((st, doc["error"]), (429, "too_many_failures"))
        self.assertIn("try again in", doc["detail"])
        self.assertIn(int(guess.last_headers["retry-after"]), (1, 2))
        st, doc = guess.call("GET", "/api/v1/alerts", bearer="axn_guess4")
        self.assertEqual(st, 429)
        # Audited: the three under the limit and the throttle once, not the
        # ones refused with 429.
        h.wait_for(lambda: h.psql(self.db, "SELECT count(*) FROM audit_log WHERE action = "
                                           "'auth.throttle'") == [["1"]], what="audited")
        self.assertEqual(self.logins_audited(), [["unknown token", "3"]])
        self.assertEqual(h.psql(self.db, "SELECT actor, target, outcome, detail::text FROM "
                                         "audit_log WHERE action = 'auth.throttle'"),
                         [["anonymous", "127.0.0.2", "throttled",
                           '{"seconds": 2, "failures": 3}']])
        # The right token works from the throttled address, as bearer and login.
        st, _ = guess.call("GET", "/api/v1/alerts", bearer=self.operator)
        self.assertEqual(st, 200)
        st, who = guess.call("POST", "/api/v1/session", {"token": self.operator})
        self.assertEqual((st, who["name"]), (200, "值班员王"))
        # Another address is counted apart.
        other = Http(self.d.http_port)
        st, _ = other.call("POST", "/api/v1/session", {"token": "axn_typo"})
        self.assertEqual(st, 401)
        self.assertEqual(self.d.metric("anxin_api_auth_failures_total"), 6)
        self.assertEqual(self.d.metric("anxin_api_throttled_total"), 2)
        # The throttle ends: failures are 401 and audited again.
        time.sleep(int(guess.last_headers.get("retry-after", "2")) + 0.2)
        st, _ = Http(self.d.http_port, source="127.0.0.2").call(
            "POST", "/api/v1/session", {"token": "axn_guess5"})
        self.assertEqual(st, 401)
        h.wait_for(lambda: self.logins_audited() == [["ok", "1"], ["unknown token", "5"]],
                   what="audited again")

    def test_forged_callbacks_get_429_without_a_log_line_each(self):
        forger = Http(self.d.http_port, source="127.0.0.2")
        codes = [forger.call("POST", "/hooks/nosuch/report", {"x": 1})[0] for _ in range(6)]
        self.assertEqual(codes, [404, 404, 404, 429, 429, 429])
        self.assertEqual(self.d.log().count("hooks: refused a report for provider"), 3)
        self.assertEqual(self.d.log().count("refused logins, tokens or callbacks from "
                                            "127.0.0.2"), 1)
        self.assertEqual(self.d.metric("anxin_delivery_reports_rejected_total"), 6)
        self.assertEqual(self.d.metric("anxin_api_auth_failures_total"), 0)
        self.assertEqual(self.d.metric("anxin_api_throttled_total"), 3)
        # The brake is the address's: a right token from it still works.
        st, _ = forger.call("GET", "/api/v1/alerts", bearer=self.operator)
        self.assertEqual(st, 200)

    def test_a_limit_of_0_never_throttles(self):
        self.d.stop()
        self.d = h.Daemon(self.db, rules=rules_dir(self.db),
                          http_extra="auth_failures = 0\n").start()
        b = Http(self.d.http_port, source="127.0.0.2")
        for i in range(20):
            self.assertEqual(b.call("GET", "/api/v1/alerts", bearer="axn_x%d" % i)[0], 401)
        self.assertNotIn("refused logins, tokens or callbacks from", self.d.log())


class ReadyzProviderDown(unittest.TestCase):
    def test_not_ready_while_the_only_sms_provider_is_failing(self):
        db = h.fresh_db("rdy")
        h.import_registry(db, h.sample_registry(1))
        dead = h.free_port()
        d = h.Daemon(db, webhook_url="http://127.0.0.1:%d/x" % dead, rules=rules_dir(db),
                     provider_extra="recover_after = 60s\n").start()
        pub = h.publisher()
        try:
            h.publish(pub, d.topic("E-SOS-0001"), {"events": ["sos"]})
            h.wait_for(lambda: d.get("/readyz")[0] == 503, timeout=20, what="breaker open")
            st, body = d.get("/readyz")
            doc = json.loads(body)
            self.assertEqual((doc["status"], doc["providers"]), ("not_ready", {"hook": False}))
            self.assertTrue(doc["broker"] and doc["database"])
        finally:
            pub.loop_stop()
            d.stop()


class Tls(unittest.TestCase):
    def test_https_listener_and_secure_cookie(self):
        tmp = tempfile.mkdtemp(dir=h.RUN)
        cert, key = os.path.join(tmp, "server.crt"), os.path.join(tmp, "server.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        db = h.fresh_db("tls")
        h.import_registry(db, h.sample_registry(1))
        op = token(db, "operator", "desk")
        d = h.Daemon(db, http_extra="tls_cert = %s\ntls_key = %s" % (cert, key))
        d.ready = lambda: False
        d.start(wait_ready=False)
        ctx = ssl.create_default_context(cafile=cert)
        b = Http(d.http_port, tls_ctx=ctx)
        try:
            def up():
                try:
                    return b.call("GET", "/readyz")[0] == 200
                except OSError:
                    return False
            h.wait_for(up, timeout=20, what="https ready")
            self.assertIn("(TLS)", d.log())
            h.wait_for(lambda: "api: 1 token(s)" in d.log(), what="tokens loaded")
            st, doc = b.call("POST", "/api/v1/session", {"token": op})
            self.assertEqual(st, 200, doc)
            self.assertIn("Secure", [p.strip() for p in b.set_cookie.split(";")])
            # plain HTTP to the TLS port gets no answer of ours
            c = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=5)
            with self.assertRaises((OSError, http.client.HTTPException)):
                c.request("GET", "/healthz")
                r = c.getresponse()
                if r.status == 200:
                    raise AssertionError("plain HTTP answered on the TLS port")
                raise OSError("refused as expected: %d" % r.status)
        finally:
            d.stop()
            shutil.rmtree(tmp, ignore_errors=True)

    def test_half_a_tls_config_is_refused(self):
        db = h.fresh_db("tls2")
        d = h.Daemon(db, http_extra="tls_cert = /nonexistent.crt")
        r = subprocess.run([h.anxind_path(), "-c", d.conf, "--check"], capture_output=True,
                           text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("tls_cert is set without tls_key", r.stderr + r.stdout)


if __name__ == "__main__":
    unittest.main()
