"""The HTTP API: bearer tokens and roles, the alert endpoints, JSON errors
with the right status codes, and acknowledgement through the API stopping
the paging like every other channel."""
import json
import os
import re
import time
import unittest
import urllib.error
import urllib.request

import harness as h
from test_escalation import RULES, rules_dir


def token(db, role, name, *extra):
    r = h.ctl(db, "token", "create", "--role", role, "--name", name, *extra)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


class Api(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = h.fresh_db("api")
        h.import_registry(cls.db, h.sample_registry(3))
        cls.viewer = token(cls.db, "viewer", "大屏")
        cls.operator = token(cls.db, "operator", "值班员张")
        cls.revoked = token(cls.db, "operator", "old")
        h.ctl(cls.db, "token", "revoke", "old")
        cls.expiring = token(cls.db, "operator", "temp", "--expires", "1s")
        cls.cap = h.Capture()
        cls.d = h.Daemon(cls.db, webhook_url=cls.cap.url, rules=rules_dir(cls.db)).start()
        h.wait_for(lambda: "api: 4 token(s)" in cls.d.log(), what="tokens loaded")
        cls.pub = h.publisher()

    @classmethod
    def tearDownClass(cls):
        cls.pub.loop_stop()
        cls.d.stop()
        cls.cap.close()

    def call(self, method, path, tok=None, body=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.d.http_port, path),
                                     data=data, method=method)
        if tok:
            req.add_header("Authorization", "Bearer " + tok)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def sos(self, n):
        before = len(self.cap.sms())
        h.publish(self.pub, self.d.topic("E-SOS-%04d" % n), {"events": ["sos"]})
        self.cap.wait_count(before + 2)
        return int(h.psql(self.db, "SELECT id FROM alerts WHERE elder_id = 'E%04d' "
                                   "ORDER BY id DESC LIMIT 1" % n)[0][0])

    def test_authentication(self):
        st, body = self.call("GET", "/api/v1/alerts")
        self.assertEqual(st, 401)
        self.assertEqual(body["error"], "unauthorized")
        self.assertIn("Bearer", body["detail"])
        self.assertEqual(self.call("GET", "/api/v1/alerts", "axn_nope")[0], 401)
        st, body = self.call("GET", "/api/v1/alerts", self.revoked)
        self.assertEqual((st, body["detail"]), (401, "token revoked"))
        time.sleep(1.2)
        st, body = self.call("GET", "/api/v1/alerts", self.expiring)
        self.assertEqual((st, body["detail"]), (401, "token expired"))
        self.assertEqual(self.call("GET", "/api/v1/alerts", self.viewer)[0], 200)

    def test_roles(self):
        aid = self.sos(1)
        st, body = self.call("POST", "/api/v1/alerts/%d/ack" % aid, self.viewer, {})
        self.assertEqual(st, 403)
        self.assertEqual(body["error"], "forbidden")
        self.assertIn("operator", body["detail"])
        self.assertEqual(self.call("GET", "/api/v1/alerts/%d" % aid, self.viewer)[0], 200)

    def test_list_and_one(self):
        aid = self.sos(2)
        st, body = self.call("GET", "/api/v1/alerts?state=open", self.viewer)
        self.assertEqual(st, 200)
        self.assertIn(aid, [a["id"] for a in body])
        a = [a for a in body if a["id"] == aid][0]
        self.assertEqual((a["elder"], a["rule"], a["state"], a["severity"]),
                         ("E0002", "sos", "open", "critical"))
        st, body = self.call("GET", "/api/v1/alerts/%d" % aid, self.viewer)
        self.assertEqual(st, 200)
        self.assertEqual(body["alert"]["id"], aid)
        kinds = [e["kind"] for e in body["timeline"]]
        self.assertEqual(kinds[0], "opened")
        self.assertIn("notify", kinds)
        tos = {n["to"] for n in body["notifications"]}
        self.assertEqual(tos, {"138****0021", "138****0022"})
        self.assertNotIn("+86138", json.dumps(body))
        self.assertEqual(self.call("GET", "/api/v1/alerts?state=bogus", self.viewer)[0], 400)
        self.assertEqual(self.call("GET", "/api/v1/alerts/999999", self.viewer)[0], 404)
        self.assertEqual(self.call("GET", "/api/v1/alerts/abc", self.viewer)[0], 404)
        self.assertEqual(self.call("DELETE", "/api/v1/alerts/%d" % aid, self.operator)[0], 405)

    def test_ack_stops_paging_and_resolve_needs_outcome_and_note(self):
        aid = self.sos(3)
        st, body = self.call("POST", "/api/v1/alerts/%d/ack" % aid, self.operator,
                             {"note": "正在联系家属"})
        self.assertEqual((st, body), (200, {"id": aid, "state": "acknowledged"}))
        n = len(self.cap.sms())
        time.sleep(2.5)    # the chain's step at 2 s would have paged
        self.assertEqual(len([r for r in self.cap.sms()[n:] if r["json"]["alert"] == aid]), 0)
        st, body = self.call("POST", "/api/v1/alerts/%d/ack" % aid, self.operator, {})
        self.assertEqual((st, body["error"]), (409, "conflict"))
        ev = h.psql(self.db, "SELECT actor, channel, detail->>'note' FROM alert_events WHERE "
                             "alert_id = %d AND kind = 'acked'" % aid)
        self.assertEqual(ev, [["token:值班员张", "api", "正在联系家属"]])

        st, body = self.call("POST", "/api/v1/alerts/%d/resolve" % aid, self.operator,
                             {"note": "x"})
        self.assertEqual(st, 400)
        self.assertIn("outcome", body["detail"])
        st, body = self.call("POST", "/api/v1/alerts/%d/resolve" % aid, self.operator,
                             {"outcome": "false_alarm"})
        self.assertEqual((st, body["detail"]), (400, "a note is required"))
        st, body = self.call("POST", "/api/v1/alerts/%d/resolve" % aid, self.operator,
                             {"outcome": "false_alarm", "note": "误触"})
        self.assertEqual((st, body["state"]), (200, "resolved"))
        st, body = self.call("POST", "/api/v1/alerts/%d/resolve" % aid, self.operator,
                             {"outcome": "false_alarm", "note": "误触"})
        self.assertEqual((st, body["detail"]), (409, "the alert is resolved"))

    def test_bad_requests(self):
        st, body = self.call("POST", "/api/v1/alerts/1/ack", self.operator, raw=b"{not json")
        self.assertEqual((st, body["error"]), (400, "bad_json"))
        st, body = self.call("POST", "/api/v1/alerts/1/ack", self.operator, raw=b"[1,2]")
        self.assertEqual(st, 400)
        st, body = self.call("POST", "/api/v1/alerts/1/ack", self.operator,
                             raw=b'{"note": "' + b"x" * (70 * 1024) + b'"}')
        self.assertEqual((st, body["error"]), (413, "payload_too_large"))
        st, body = self.call("POST", "/api/v1/alerts/999999/ack", self.operator, {})
        self.assertEqual((st, body["error"]), (404, "not_found"))
        st, body = self.call("GET", "/api/v1/nothing", self.operator)
        self.assertEqual(st, 404)

    def test_database_down_is_503_not_a_hang(self):
        h.services("pg-stop")
        try:
            h.wait_for(lambda: self.d.metric("anxin_db_connected") == 0, what="db down")
            st, body = self.call("GET", "/api/v1/alerts", self.viewer)
            self.assertEqual((st, body["error"]), (503, "unavailable"))
        finally:
            h.services("pg-start", h.PG_PORT)
            h.wait_for(lambda: self.d.metric("anxin_db_connected") == 1, timeout=20,
                       what="db back")


if __name__ == "__main__":
    unittest.main()
