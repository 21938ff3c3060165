"""Outages and crashes: broker restarts, anxind stopped or killed, the
database away. No SOS may be lost, none may be doubled."""
import os
import re
import signal
import socket
import threading
import time
import unittest

import harness as h


def alerts(db, elder):
    return h.psql(db, "SELECT id, fire_count FROM alerts WHERE elder_id = '%s'" % elder)


class BrokerOutage(unittest.TestCase):
    def setUp(self):
        self.db = h.fresh_db("broker")
        h.import_registry(self.db, h.sample_registry(3))
        self.cap = h.Capture()
        self.d = h.Daemon(self.db, webhook_url=self.cap.url).start()

    def tearDown(self):
        self.d.stop()
        self.cap.close()

    def test_broker_restart_mid_run_loses_nothing(self):
        pub = h.publisher()
        h.publish(pub, self.d.topic("E-SOS-0001"), {"events": ["sos"]})
        self.cap.wait_count(2)
        pub.loop_stop()
        pub.disconnect()
        h.services("mq-stop")
        h.services("mq-start", h.MQ_PORT)
        # Published while anxind is still reconnecting: the broker keeps it
        # in anxind's persistent session.
        pub = h.publisher()
        h.publish(pub, self.d.topic("E-SOS-0002"), {"events": ["sos"]})
        got = self.cap.wait_count(4, timeout=20)
        self.assertEqual({r["json"]["elder"] for r in got[2:]}, {"E0002"})
        h.wait_for(lambda: self.d.ready(), what="ready again after the broker restart")
        self.assertIn("mqtt: connection lost", self.d.log())
        h.wait_for(lambda: self.d.log().count("mqtt: subscribed") >= 2,
                   what="resubscribed after the reconnect")
        # And the stream goes on.
        h.publish(pub, self.d.topic("E-SOS-0003"), {"events": ["sos"]})
        self.cap.wait_count(6)
        pub.loop_stop()

    def test_messages_sent_while_anxind_is_down_arrive_after_start(self):
        self.assertEqual(self.d.stop(), 0)
        pub = h.publisher()
        h.publish(pub, self.d.topic("E-SOS-0001"), {"events": ["sos"]})
        pub.loop_stop()
        time.sleep(0.3)
        self.assertEqual(self.cap.sms(), [])
        self.d.start()
        got = self.cap.wait_count(2)
        self.assertEqual({r["json"]["elder"] for r in got}, {"E0001"})
        self.assertEqual(len(alerts(self.db, "E0001")), 1)


class Crash(unittest.TestCase):
    """SIGKILL right after the broker acknowledged an SOS."""

    def test_sigkill_after_ack_loses_no_sos_and_doubles_none(self):
        db = h.fresh_db("kill")
        n = 8
        h.import_registry(db, h.sample_registry(n))
        cap = h.Capture()
        d = h.Daemon(db, webhook_url=cap.url).start()
        pub = h.publisher()
        try:
            # Kill at different moments around the message's arrival.
            delays = [0, 0.001, 0.003, 0.005, 0.01, 0.02, 0.05, 0.2]
            for i, delay in enumerate(delays[:n], start=1):
                elder = "E%04d" % i
                h.publish(pub, d.topic("E-SOS-%04d" % i), {"seq": 1, "events": ["sos"]})
                time.sleep(delay)
                d.kill()
                d.start()
                h.wait_for(lambda: len(alerts(db, elder)) == 1, timeout=15,
                           what="alert for %s after kill at +%.3fs" % (elder, delay))
            time.sleep(1.0)   # anything late would show now
            for i in range(1, n + 1):
                a = alerts(db, "E%04d" % i)
                self.assertEqual(len(a), 1, "exactly one alert for E%04d" % i)
                self.assertEqual(a[0][1], "1", "the SOS counted once for E%04d" % i)
            # Everyone was notified at least once.
            elders = {r["json"]["elder"] for r in cap.sms()}
            self.assertEqual(elders, {"E%04d" % i for i in range(1, n + 1)})
        finally:
            pub.loop_stop()
            d.stop()
            cap.close()

    def test_sigkill_while_database_is_down_replays_from_the_journal(self):
        db = h.fresh_db("journal")
        h.import_registry(db, h.sample_registry(1))
        cap = h.Capture()
        d = h.Daemon(db, webhook_url=cap.url).start()
        pub = h.publisher()
        try:
            h.services("pg-stop")
            h.wait_for(lambda: d.metric("anxin_db_connected") == 0, what="database seen down")
            h.publish(pub, d.topic("E-SOS-0001"), {"seq": 1, "events": ["sos"]})
            # The alarm goes out from memory although nothing can be written.
            first = cap.wait_count(2)
            self.assertGreater(d.metric("anxin_db_pending_writes"), 0)
            d.kill()
            h.services("pg-start", h.PG_PORT)
            d.start()
            h.wait_for(lambda: len(alerts(db, "E0001")) == 1, what="alert from the replay")
            self.assertIn("journal: replayed 1 message", d.log())
            self.assertEqual(alerts(db, "E0001")[0][1], "1")
            n_sent = h.wait_for(lambda: h.psql(db, "SELECT count(*) FROM notifications "
                                                   "WHERE status = 'sent'") == [["2"]],
                                what="notifications recorded")
            self.assertTrue(n_sent)
            # At-least-once: the replay may page again, never fewer than once.
            self.assertGreaterEqual(len(cap.sms()), len(first))
        finally:
            h.services("pg-start", h.PG_PORT)
            pub.loop_stop()
            d.stop()
            cap.close()


class SlowSubAck:
    """Just enough of an MQTT v5 broker on loopback to hold anxind between
    CONNACK and SUBACK: it accepts every connection, answers pings, and
    answers a SUBSCRIBE only once release() is called."""

    def __init__(self):
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(8)
        self.port = self.srv.getsockname()[1]
        self.released = threading.Event()
        self.subscribes = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _packet(c):
        head = c.recv(1)
        if not head:
            return None, b""
        n, mult = 0, 1
        while True:
            b = c.recv(1)[0]
            n += (b & 0x7F) * mult
            mult *= 128
            if not b & 0x80:
                break
        body = b""
        while len(body) < n:
            chunk = c.recv(n - len(body))
            if not chunk:
                return None, b""
            body += chunk
        return head[0] >> 4, body

    def _serve(self, c):
        try:
            while True:
                kind, body = self._packet(c)
                if kind is None:
                    return
                if kind == 1:                       # CONNECT -> CONNACK, no properties
                    c.sendall(b"\x20\x03\x00\x00\x00")
                elif kind == 12:                    # PINGREQ -> PINGRESP
                    c.sendall(b"\xd0\x00")
                elif kind == 8:                     # SUBSCRIBE -> SUBACK granting QoS 1
                    self.subscribes += 1
                    self.released.wait()
                    props = body[2]                 # property length (one byte here)
                    filters, i = 0, 3 + props
                    while i < len(body):
                        i += 2 + int.from_bytes(body[i:i + 2], "big") + 1
                        filters += 1
                    c.sendall(bytes([0x90, 3 + filters]) + body[:2] + b"\x00" +
                              b"\x01" * filters)
        except OSError:
            pass
        finally:
            c.close()

    def release(self):
        self.released.set()

    def close(self):
        self.released.set()
        self.srv.close()


class Readiness(unittest.TestCase):
    def test_ready_only_once_the_broker_acknowledged_the_subscriptions(self):
        # Between CONNACK and SUBACK a new session's broker drops what it
        # has no subscription for: /readyz must not say 200 then.
        db = h.fresh_db("subready")
        h.import_registry(db, h.sample_registry(1))
        broker = SlowSubAck()
        d = h.Daemon(db)
        with open(d.conf) as f:
            conf = f.read()
        with open(d.conf, "w") as f:
            f.write(re.sub(r"url = tcp://127\.0\.0\.1:\d+", "url = tcp://127.0.0.1:%d"
                           % broker.port, conf, count=1))
        d.start(wait_ready=False)
        try:
            h.wait_for(lambda: broker.subscribes >= 2, what="both lanes subscribing")
            h.wait_for(lambda: d.metric("anxin_mqtt_connected") == 1, what="connected")
            st, body = d.get("/readyz")
            self.assertEqual(st, 503)
            self.assertIn('"broker":false', body)
            broker.release()
            h.wait_for(d.ready, what="ready once subscribed")
            self.assertIn("mqtt: subscribed to 1 filter(s), QoS 1 (alarm lane)", d.log())
        finally:
            broker.close()
            d.stop()


class DatabaseOutage(unittest.TestCase):
    def test_alarm_is_dispatched_while_the_database_is_down_and_written_after(self):
        db = h.fresh_db("dbdown")
        h.import_registry(db, h.sample_registry(2))
        cap = h.Capture()
        d = h.Daemon(db, webhook_url=cap.url).start()
        pub = h.publisher()
        try:
            h.services("pg-stop")
            h.wait_for(lambda: d.metric("anxin_db_connected") == 0, what="database seen down")
            st, body = d.get("/readyz")
            self.assertEqual(st, 503)
            self.assertIn('"database":false', body)
            h.publish(pub, d.topic("E-SOS-0001"), {"events": ["sos"]})
            cap.wait_count(2)
            h.publish(pub, d.topic("E-SOS-0001"), {"events": ["sos"]})
            time.sleep(0.3)
            h.services("pg-start", h.PG_PORT)
            h.wait_for(lambda: d.metric("anxin_db_connected") == 1, timeout=20,
                       what="database back")
            h.wait_for(lambda: alerts(db, "E0001") and alerts(db, "E0001")[0][1] == "2",
                       what="spooled writes committed")
            h.wait_for(lambda: h.psql(db, "SELECT count(*) FROM notifications "
                                          "WHERE status = 'sent'") == [["2"]],
                       what="attempts committed")
            self.assertIn("database: connected (", d.log())
            # Nothing left spooled (a device's last message time may be on
            # its way: a share of the registry is written every second).
            h.wait_for(lambda: d.metric("anxin_db_pending_writes") == 0,
                       what="no write pending")
            # The journal checkpoint caught up once everything was written.
            h.wait_for(lambda: d.metric("anxin_journal_checkpoint") >= 2,
                       what="checkpoint advanced")
        finally:
            h.services("pg-start", h.PG_PORT)
            pub.loop_stop()
            d.stop()
            cap.close()


class Lifecycle(unittest.TestCase):
    def test_refuses_to_start_against_an_older_schema(self):
        db = h.fresh_db("noschema", migrate=False)
        d = h.Daemon(db).start(wait_ready=False)
        rc = d.proc.wait(30)
        self.assertEqual(rc, 1)
        self.assertIn("anxinctl migrate", d.log())

    def test_bad_config_on_sighup_keeps_the_running_one(self):
        db = h.fresh_db("hup")
        h.import_registry(db, h.sample_registry(2))
        cap1, cap2 = h.Capture(), h.Capture()
        d = h.Daemon(db, webhook_url=cap1.url).start()
        pub = h.publisher()
        good = open(d.conf).read()
        try:
            with open(d.conf, "w") as f:
                f.write(good + "\n[mqtt\nbogus line\n")
            d.proc.send_signal(signal.SIGHUP)
            h.wait_for(lambda: "still running with the previous configuration" in d.log(),
                       what="bad reload refused")
            self.assertRegex(d.log(), r"anxind\.conf:\d+: error")
            h.publish(pub, d.topic("E-SOS-0001"), {"events": ["sos"]})
            cap1.wait_count(2)
            # A good change is applied without a restart.
            with open(d.conf, "w") as f:
                f.write(good.replace(cap1.url, cap2.url))
            d.proc.send_signal(signal.SIGHUP)
            h.wait_for(lambda: "reload: configuration applied" in d.log(), what="reload")
            h.publish(pub, d.topic("E-SOS-0002"), {"events": ["sos"]})
            cap2.wait_count(2)
            self.assertEqual(len(cap1.sms()), 2)
        finally:
            pub.loop_stop()
            self.assertEqual(d.stop(), 0)
            cap1.close()
            cap2.close()

    def test_last_seen_is_written_while_running_and_at_a_stop(self):
        db = h.fresh_db("seen")
        h.import_registry(db, h.sample_registry(40))
        d = h.Daemon(db).start()
        pub = h.publisher()
        seen = "SELECT count(*) FROM devices WHERE last_seen IS NOT NULL"
        try:
            for i in range(1, 41):
                h.publish(pub, d.topic("E-SOS-%04d" % i), {"metrics": {"battery.pct": 80}})
            # A tenth of the registry a second: every device within ten seconds.
            h.wait_for(lambda: h.psql(db, seen)[0][0] == "40", timeout=15,
                       what="every device's last_seen written")
            # The message just before a stop is written by the stop.
            before = time.time()
            h.publish(pub, d.topic("E-SOS-0001"), {"metrics": {"battery.pct": 79}})
            h.wait_for(lambda: d.metric("anxin_messages_processed_total") >= 41,
                       what="the last message processed")
        finally:
            pub.loop_stop()
            self.assertEqual(d.stop(), 0)
        row = h.psql(db, "SELECT (extract(epoch FROM last_seen) * 1000)::bigint FROM devices"
                         " WHERE id = 'E-SOS-0001'")
        self.assertGreaterEqual(int(row[0][0]), int(before * 1000) - 5)

    def test_config_errors_name_file_and_line(self):
        db = h.fresh_db("cfg", migrate=False)
        d = h.Daemon(db)
        with open(d.conf, "a") as f:
            f.write("[journal]\nfsync = sometimes\n")
        import subprocess
        r = subprocess.run([h.anxind_path(), "-c", d.conf, "-t"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertRegex(r.stderr, r"anxind\.conf:\d+: error: .*")


if __name__ == "__main__":
    unittest.main()
