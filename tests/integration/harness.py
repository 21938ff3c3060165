"""Shared fixtures for the integration tests: real PostgreSQL and Mosquitto
started by scripts/services.sh under one run folder, a fresh database per
test class, helpers to run anxinctl and anxind.

Environment (set by scripts/test.sh):
  ANXIN_RUN    run folder (services live under it)
  ANXIN_BUILD  build folder with anxind/anxinctl (default build)
  ANXIN_PG_PORT, ANXIN_MQ_PORT
"""
import os
import subprocess
import time
import itertools

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("ANXIN_BUILD", "build"))
RUN = os.environ.get("ANXIN_RUN", os.path.join(ROOT, "run", "test"))
PG_PORT = int(os.environ.get("ANXIN_PG_PORT", "55432"))
MQ_PORT = int(os.environ.get("ANXIN_MQ_PORT", "18883"))
SERVICES = os.path.join(ROOT, "scripts", "services.sh")
SQL_DIR = os.path.join(ROOT, "sql")

_db_counter = itertools.count(1)


def anxinctl_path():
    return os.path.join(BUILD, "anxinctl")


def anxind_path():
    return os.path.join(BUILD, "anxind")


def dsn(dbname):
    return "host=127.0.0.1 port=%d user=postgres dbname=%s" % (PG_PORT, dbname)


def psql(dbname, sql):
    """Runs sql through psql and returns rows as lists of strings."""
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres", "-d", dbname,
         "-v", "ON_ERROR_STOP=1", "-AtqX", "-F", "\t", "-c", sql],
        check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line != ""]


def fresh_db(prefix="t", migrate=True):
    """Creates an empty database (migrated unless told not to); returns its name."""
    name = "%s_%d_%d" % (prefix, os.getpid(), next(_db_counter))
    psql("postgres", "DROP DATABASE IF EXISTS %s" % name)
    psql("postgres", "CREATE DATABASE %s" % name)
    if migrate:
        r = ctl(name, "migrate")
        assert r.returncode == 0, r.stderr
    return name


def ctl(dbname, *args, conf=None, input=None, env=None):
    """Runs anxinctl against dbname; returns the CompletedProcess (text)."""
    cmd = [anxinctl_path()]
    if conf:
        cmd += ["-c", conf]
    cmd += ["--db", dsn(dbname), "--sql-dir", SQL_DIR]
    cmd += list(args)
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run(cmd, capture_output=True, text=True, input=input, env=e, timeout=60)


def wait_for(pred, timeout=10.0, interval=0.05, what="condition"):
    """Polls pred() until it returns a truthy value; returns it or raises."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


# ---- a loopback HTTP server that records what anxind sends ------------------

import http.server
import json
import queue
import signal
import socket
import threading


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Capture:
    """A loopback HTTP server recording every request. `plan` is a list of
    (status, delay_s) answers used in order, then `default_status`."""

    def __init__(self):
        self.requests = []
        self.plan = []
        self.default_status = 200
        self.default_delay = 0
        self.open = 0           # requests being answered now
        self.max_open = 0
        self.lock = threading.Lock()
        cap = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with cap.lock:
                    status, delay = (cap.plan.pop(0) if cap.plan
                                     else (cap.default_status, cap.default_delay))
                    cap.open += 1
                    cap.max_open = max(cap.max_open, cap.open)
                    rec = {"path": self.path, "headers": dict(self.headers),
                           "body": body, "status": status, "time": time.time()}
                    try:
                        rec["json"] = json.loads(body)
                    except ValueError:
                        rec["json"] = None
                    cap.requests.append(rec)
                if delay:
                    time.sleep(delay)
                with cap.lock:
                    cap.open -= 1
                out = b'{"ok":true}' if status < 300 else b'{"error":"planned"}'
                try:
                    self.send_response(status)
                    if status == 429:
                        self.send_header("Retry-After", "1")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except OSError:
                    pass

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 256    # bursts connect many at once

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # A killed anxind resets its connections; that is expected here.
        self.server.handle_error = lambda request, address: None
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/notify" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def sms(self):
        with self.lock:
            return [r for r in self.requests if r["json"]]

    def wait_count(self, n, timeout=10):
        return wait_for(lambda: len(self.sms()) >= n and self.sms(), timeout,
                        what="%d webhook requests (have %d)" % (n, len(self.sms())))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ---- anxind under test ----------------------------------------------------

_daemon_counter = itertools.count(1)


class Daemon:
    """One anxind with its own database, journal, topic prefix and client
    id, so tests do not see each other's messages or sessions."""

    def __init__(self, dbname, webhook_url=None, name=None, extra="", env=None,
                 provider_extra="", rules=None, journal_keep=None, providers=None,
                 templates=None, http_port=None, http_extra="", console_dir=None,
                 journal_extra="", alarm_topics=None, anxind_extra=""):
        n = next(_daemon_counter)
        self.name = name or "d%d_%d" % (os.getpid(), n)
        self.dir = os.path.join(RUN, "daemons", self.name)
        os.makedirs(self.dir, exist_ok=True)
        self.dbname = dbname
        self.prefix = "t%s" % self.name
        self.http_port = http_port or free_port()
        self.conf = os.path.join(self.dir, "anxind.conf")
        self.console = os.path.join(self.dir, "console.txt")
        self.log_path = os.path.join(self.dir, "anxind.log")
        self.proc = None
        self.env = env
        provider = ""
        if providers is not None:
            # Raw [provider] and [channel] sections; may use %(http)d for
            # this daemon's own port (callback addresses).
            provider = providers.replace("{http}", str(self.http_port))
        elif webhook_url:
            provider = ('[provider "hook"]\ntype = webhook\nurl = %s\ntimeout = 2s\n'
                        'max_attempts = 4\nbackoff = 200ms\nbackoff_max = 1s\n%s'
                        '[channel "sms"]\nproviders = hook\n' % (webhook_url, provider_extra))
        else:
            provider = ('[provider "console"]\ntype = console\noutput = %s\n'
                        '[channel "sms"]\nproviders = console\n' % self.console)
        with open(self.conf, "w") as f:
            f.write("""[anxind]
node = %(name)s
log_level = debug
%(anxind_extra)s
[mqtt]
url = tcp://127.0.0.1:%(mq)d
client_id = anxind-%(name)s
topics = %(prefix)s/v1/+/telemetry
alarm_topics = %(alarm_topics)s
reconnect_max = 2s
[database]
conninfo = host=127.0.0.1 port=%(pg)d user=postgres dbname=%(db)s
[http]
listen = 127.0.0.1:%(http)d
console_dir = %(console_dir)s
%(http_extra)s
[journal]
dir = %(dir)s/journal
%(keep)s
%(journal_extra)s
[paths]
rules = %(rules)s
%(templates)s
%(provider)s
%(extra)s
""" % {"name": self.name, "mq": MQ_PORT, "prefix": self.prefix, "pg": PG_PORT,
       "alarm_topics": alarm_topics or "%s/v1/+/alarm" % self.prefix,
       "db": dbname, "http": self.http_port, "dir": self.dir, "provider": provider,
       "rules": rules or os.path.join(ROOT, "conf", "rules.d"),
       "keep": "keep = %s" % journal_keep if journal_keep else "",
       "templates": "templates = %s" % templates if templates else "",
       "extra": extra, "http_extra": http_extra, "journal_extra": journal_extra,
       "anxind_extra": anxind_extra,
       "console_dir": console_dir or os.path.join(ROOT, "console")})

    def topic(self, device):
        return "%s/v1/%s/telemetry" % (self.prefix, device)

    def alarm_topic(self, device):
        return "%s/v1/%s/alarm" % (self.prefix, device)

    def start(self, wait_ready=True):
        self.logf = open(self.log_path, "a")
        env = dict(os.environ)
        env.update(self.env or {})
        self.proc = subprocess.Popen([anxind_path(), "-c", self.conf], stdout=self.logf,
                                     stderr=self.logf, stdin=subprocess.DEVNULL, env=env)
        if wait_ready:
            wait_for(lambda: self.ready() or self._died(), 20, what="anxind ready")
            if self.proc.poll() is not None:
                raise AssertionError("anxind exited with %s:\n%s" % (self.proc.returncode,
                                                                     self.log()))
        return self

    def _died(self):
        return self.proc.poll() is not None

    def ready(self):
        try:
            st, body = self.get("/readyz")
            return st == 200
        except OSError:
            return False

    def get(self, path):
        import urllib.request
        import urllib.error
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.http_port, path),
                                        timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metrics(self):
        st, body = self.get("/metrics")
        out = {}
        for line in body.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
        return out

    def metric(self, name):
        return self.metrics().get(name, 0)

    def hook(self, path, body=None, headers=None, method=None):
        """Calls one of anxind's /hooks/ addresses; returns (status, text)."""
        import urllib.request
        import urllib.error
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.http_port, path),
                                     data=body, headers=headers or {},
                                     method=method or ("POST" if body is not None else "GET"))
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("anxind did not stop on SIGTERM")
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def publisher():
    import paho.mqtt.client as mqtt
    c = mqtt.Client(client_id="", protocol=mqtt.MQTTv311)
    c.connect("127.0.0.1", MQ_PORT)
    c.loop_start()
    return c


def publish(client, topic, payload, qos=1):
    if isinstance(payload, (dict, list)):
        payload = json.dumps(payload)
    info = client.publish(topic, payload, qos=qos)
    info.wait_for_publish(10)
    assert info.is_published(), "broker did not acknowledge the publish"


def services(cmd, *args):
    r = subprocess.run([SERVICES, cmd, RUN] + [str(a) for a in args], capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise AssertionError("services.sh %s failed (%d): %s%s" % (cmd, r.returncode, r.stdout,
                                                                   r.stderr))


def import_registry(dbname, doc):
    path = os.path.join(RUN, "registry-%s-%d.json" % (dbname, next(_db_counter)))
    with open(path, "w") as f:
        json.dump(doc, f, ensure_ascii=False)
    r = ctl(dbname, "import", path)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def sample_registry(n=1, prefix="E", consent=True):
    """n elders, each with one SOS button and two priority-1 contacts."""
    elders = []
    for i in range(1, n + 1):
        eid = "%s%04d" % (prefix, i)
        elders.append({
            "id": eid, "name": "测试老人%d" % i, "birth_year": 1940, "consent": consent,
            "categories": ["living_alone"], "township": "城关镇", "village": "东关村",
            "grid": "G-01",
            "care_plan": {"visit_every_days": 30, "risk": "high", "chain": "emergency"},
            "contacts": [
                {"name": "家属%d" % i, "phone": "+86138%08d" % (i * 10 + 1), "role": "family",
                 "priority": 1, "channels": ["sms", "voice"]},
                {"name": "邻居%d" % i, "phone": "+86138%08d" % (i * 10 + 2), "role": "neighbor",
                 "priority": 1, "channels": ["sms"]},
                {"name": "社区%d" % i, "phone": "+86138%08d" % (i * 10 + 3),
                 "role": "community", "priority": 2, "channels": ["sms"]},
            ],
            "devices": [{"id": "%s-SOS-%04d" % (prefix, i), "kind": "sos_button",
                         "heartbeat_s": 300}],
        })
    return {"elders": elders}
