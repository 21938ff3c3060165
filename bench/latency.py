#!/usr/bin/python3
"""bench/latency.py - the alarm-latency section of bench/run (run it through bench/run).

How long an SOS takes from the device to the SMS gateway while anxind is
busy with ordinary telemetry: SOS messages mixed into background telemetry
at 25 %, 50 % and 90 % (--levels) of anxind's maximum ingest rate, with the
default rules (conf/rules.d) and an SMS channel whose one provider is of type
kannel, pointed at a loopback SMS sink that this script runs (it answers as
Kannel's smsbox does: HTTP 202 "0: Accepted for delivery").

Latency of one SOS = the time its SMS request reaches the sink (the sink's
epoll wake-up, before it reads the request) minus the time the publisher
(build/anxin-load) published it (read just before the publish call). Both
are CLOCK_REALTIME on this machine (anxin-load -o: µs; the sink: ns).

  --max-rate drain   (default) a short drain as in bench/run ingest: N
                     messages queued for anxind's session while it is away,
                     then its connect -> N-th processed; anxind alone on the
                     cores. On two cores the publisher, the broker and anxind
                     together cannot reach the higher levels of that figure:
                     those levels run as fast as the publisher gets (the
                     report shows the rate it reached).
  --max-rate live    publisher flat out with anxind connected: publisher
                     start -> N-th processed (the rate the three share).
  --max-rate NUMBER  accept a figure (msg/s).

Each SOS comes from its own elder's SOS button (anxin-load -B: a new device
per SOS across the whole run), so each opens a new alert and none groups.
The registry (bench/registry.py) gives elder e the button D-<e>, one
priority-1 contact +86199<e> (SMS only) and a priority-2 neighbour; the
emergency chain's first step texts priority 1 (no voice channel is
configured, so only the SMS) and shows the alert on the console, so each SOS
makes exactly one request to the sink at once; the sink's `to` number names
the elder and so the button. The first request per number counts.

The kannel provider has no rate limit (no `rate` key), no per-number limit
(no `per_callee`; only Aliyun voice has built-in ones) and no same-text rule
(Aliyun and Tencent only); the notifier keeps at most 64 requests in flight
per provider, far above what is needed here.

The report also splits each SOS's time at anxind's own records (the alert's
opened_at = Paho callback, the first attempt's started_at = handed to curl),
runs a control client against the sink during each level, and lists the
engine snapshots anxind wrote during each level next to the slowest SOS.

Run time about 2-3 minutes with the defaults.
"""
import argparse
import datetime
import json
import math
import os
import platform
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

from benchlib import fetch_metrics, machine, top_other_cpu, wait_metrics, write_conf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, os.environ.get("ANXIN_BUILD", "build"))
SERVICES = os.path.join(ROOT, "scripts", "services.sh")
DB = "bench"
PREFIX = "anxd/v1"
CLIENT = "anxind-bench"
SINK_PASSWORD = "sendpw"
KANNEL_OK = b"0: Accepted for delivery\n"


def log(msg):
    print("latency: " + msg, flush=True)


# ---- the SMS sink (a process of its own: python3 latency.py --sink PORT FILE) ----

def sink_main(port, path):
    """A Kannel sendsms look-alike on one thread with epoll. For each request
    it writes "<arrival ns> <to>" where arrival is the time epoll reported
    the bytes readable (CLOCK_REALTIME), then answers 202 "0: Accepted for
    delivery" on the same keep-alive connection."""
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(1024)
    ls.setblocking(False)
    ep = select.epoll()
    ep.register(ls.fileno(), select.EPOLLIN)
    conns = {}
    out = open(path, "a", buffering=1 << 16)
    reply = (b"HTTP/1.1 202 Accepted\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
             % len(KANNEL_OK)) + KANNEL_OK
    to_re = re.compile(rb"[?&]to=([^& ]*)")
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    with open(path + ".ready", "w") as f:
        f.write("%d\n" % os.getpid())
    while not stop:
        try:
            events = ep.poll(0.5)
        except InterruptedError:
            continue
        t = time.time_ns()          # arrival: before anything is read
        wrote = False
        for fd, ev in events:
            if fd == ls.fileno():
                while True:
                    try:
                        c, _ = ls.accept()
                    except BlockingIOError:
                        break
                    c.setblocking(False)
                    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    conns[c.fileno()] = [c, b""]
                    ep.register(c.fileno(), select.EPOLLIN)
                continue
            if fd not in conns:
                continue
            c, buf = conns[fd]
            try:
                data = c.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                ep.unregister(fd)
                c.close()
                del conns[fd]
                continue
            buf += data
            while True:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                head = buf[:end]
                m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                blen = int(m.group(1)) if m else 0
                if len(buf) < end + 4 + blen:
                    break
                line = head.split(b"\r\n", 1)[0]
                m = to_re.search(line)
                to = urllib.parse.unquote(m.group(1).decode()) if m else "-"
                out.write("%d %s\n" % (t, to))
                wrote = True
                buf = buf[end + 4 + blen:]
                try:
                    c.sendall(reply)
                except OSError:
                    break
            conns[fd][1] = buf
        if wrote:
            out.flush()
    out.close()


def sink_check_main(port, n, rate):
    """The sink's own share: n requests at rate/s on one keep-alive
    connection, each carrying its send time (CLOCK_REALTIME ns) as `to`."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = time.monotonic()
    for i in range(n):
        due = t0 + i / rate
        d = due - time.monotonic()
        if d > 0:
            time.sleep(d)
        t = time.time_ns()
        s.sendall(b"GET /cgi-bin/sendsms?username=anxin&to=CHECK-%d&text=x HTTP/1.1\r\n"
                  b"Host: 127.0.0.1\r\n\r\n" % t)
        got = b""
        while not got.endswith(KANNEL_OK):
            r = s.recv(4096)
            if not r:
                sys.exit("sink closed the connection")
            got += r
    s.close()


# ---- the bench ---------------------------------------------------------------

def env_int(name):
    return int(os.environ[name])


def sh(*cmd, **kw):
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True,
                          **kw).stdout


class Bench:
    def __init__(self):
        self.run = os.environ["BENCH_RUN"]
        self.pg = env_int("BENCH_PG_PORT")
        self.mq = env_int("BENCH_MQ_PORT")
        self.http = env_int("BENCH_HTTP_PORT")
        self.sink_port = int(os.environ.get("BENCH_SINK_PORT", self.http + 1))
        self.dsn = "host=127.0.0.1 port=%d user=postgres dbname=%s" % (self.pg, DB)

    def services(self, cmd, *args):
        sh(SERVICES, cmd, self.run, *args)

    def psql(self, sql):
        return sh("psql", "-h", "127.0.0.1", "-p", self.pg, "-U", "postgres", "-AtqF", " ",
                  "-c", sql, DB)


class Anxind:
    def __init__(self, b, snapshot_every=None):
        self.b = b
        self.dir = os.path.join(b.run, "anxind")
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "anxind.conf")
        self.proc = None
        # The county's SMS gateway, played by the bench's sink. No rate, no
        # per_callee: nothing throttles it (kannel has no built-in limits).
        write_conf(self.conf, DB, CLIENT, PREFIX, os.path.join(self.dir, "journal"),
                   """[provider "gateway"]
type = kannel
url = http://127.0.0.1:%d/cgi-bin/sendsms
account = anxin
token_env = ANXIN_BENCH_KANNEL_PASSWORD
from = 10655
timeout = 10s
[channel "sms"]
providers = gateway
""" % b.sink_port, paths_extra="templates = %s" % os.path.join(ROOT, "conf", "templates"),
                   journal_extra="snapshot_every = %s" % snapshot_every if snapshot_every else "")

    def start(self):
        self.logf = open(os.path.join(self.dir, "anxind.log"), "a")
        env = dict(os.environ, ANXIN_BENCH_KANNEL_PASSWORD=SINK_PASSWORD)
        self.proc = subprocess.Popen([os.path.join(BUILD, "anxind"), "-c", self.conf],
                                     stdout=self.logf, stderr=self.logf,
                                     stdin=subprocess.DEVNULL, env=env)

    def metrics(self):
        return fetch_metrics()

    def wait(self, pred, timeout, what, interval=0.01, wall=False):
        return wait_metrics(self, pred, timeout, what, interval, wall)

    def wait_subscribed(self, timeout=60):
        """Until the log says the subscription stands (the session exists)."""
        end = time.monotonic() + timeout
        path = os.path.join(self.dir, "anxind.log")
        while time.monotonic() < end:
            with open(path) as f:
                text = f.read()
            start = text.rfind(" starting (node ")
            if re.search(r" mqtt: subscribed to .*\(telemetry lane\)", text[start:]):
                return
            if self.proc.poll() is not None:
                sys.exit("anxind exited; see " + path)
            time.sleep(0.05)
        sys.exit("anxind did not subscribe; see " + path)

    def connected_at(self):
        with open(os.path.join(self.dir, "anxind.log")) as f:
            lines = [l for l in f if " mqtt: connected to " in l and "(telemetry lane)" in l]
        stamp = lines[-1].split()[0]
        return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()

    def cpu_s(self):
        """anxind's user + system CPU seconds so far."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        self.proc = None


def processed(m):
    return m.get("anxin_messages_processed_total", 0)


def proc_jiffies():
    """{pid: (ppid, utime + stime)} of every process."""
    out = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                v = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(p)] = (int(v[1]), int(v[11]) + int(v[12]))
    return out


def ours(b, procs):
    """This run's processes: this script's descendants, its PostgreSQL and
    its Mosquitto (and theirs)."""
    roots = {os.getpid()}
    for f in ("pg/data/postmaster.pid", "mq/mosquitto.pid"):
        try:
            with open(os.path.join(b.run, f)) as fh:
                roots.add(int(fh.readline()))
        except (OSError, ValueError):
            pass
    mine = set(roots)
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _) in procs.items():
            if ppid in mine and pid not in mine:
                mine.add(pid)
                grew = True
    return mine


def other_cpu(b, before, after, secs):
    """Cores used by processes not of this run between two proc_jiffies()."""
    mine = ours(b, after) | ours(b, before)
    j = sum(after[p][1] - before.get(p, (0, 0))[1] for p in after if p not in mine)
    return j / os.sysconf("SC_CLK_TCK") / secs


def machine_busy():
    """(busy, total) jiffies of all cores, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def load_cmd(b, n, rate, sos_every=0, sos_first=0, sos_log=None, devices=100000,
             sos_topic="telemetry"):
    cmd = [os.path.join(BUILD, "anxin-load"), "-p", str(b.mq), "-P", PREFIX, "-d", str(devices),
           "-n", str(n), "-r", "%g" % rate, "-s", str(sos_every), "-D", "D-", "-A", sos_topic]
    if sos_first:
        cmd += ["-B", str(sos_first), "-C"]
    if sos_log:
        cmd += ["-o", sos_log]
    return cmd


def parse_load(out, n):
    m = re.search(r"published in ([\d.]+) s \((\d+) msg/s\), acknowledged (\d+) in ([\d.]+) s",
                  out)
    if not m or int(m.group(3)) != n:
        sys.exit("publisher did not get every message acknowledged: " + out)
    return float(m.group(1)), float(m.group(2)), float(m.group(4))


def pct(sorted_v, p):
    """Nearest rank."""
    if not sorted_v:
        return float("nan")
    k = max(1, math.ceil(p / 100.0 * len(sorted_v)))
    return sorted_v[min(k, len(sorted_v)) - 1]


def read_sink(path):
    """[(arrival ns, to)] so far."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) == 2:
                    out.append((int(p[0]), p[1]))
    except FileNotFoundError:
        pass
    return out


def read_sos_log(path):
    """[(device, publish µs, topic's last level: alarm or telemetry)]"""
    out = []
    with open(path) as f:
        for line in f:
            dev, us, lane = line.split()
            out.append((dev, int(us), lane))
    return out


def max_rate_drain(b, d, n, devices):
    d.stop()
    out = sh(*load_cmd(b, n, 0, devices=devices)).strip()
    parse_load(out, n)
    d.start()
    t, _ = d.wait(lambda m: processed(m) >= n, 120, "drain", 0.01, wall=True)
    secs = t - d.connected_at()
    d.wait_subscribed()
    return n / secs, "drain of %d messages queued while anxind was stopped: connect -> N-th " \
                     "processed %.2f s" % (n, secs)


def max_rate_live(b, d, n, devices):
    _, m = d.wait(lambda m: True, 30, "metrics")
    base = processed(m)
    t0 = time.monotonic()
    pub = subprocess.Popen(load_cmd(b, n, 0, devices=devices), stdout=subprocess.PIPE,
                           text=True)
    t1, _ = d.wait(lambda m: processed(m) - base >= n, 300, "live messages", 0.02)
    out = pub.stdout.read().strip()
    if pub.wait() != 0:
        sys.exit("publisher failed: " + out)
    return n / (t1 - t0), "live: publisher flat out with anxind connected, %d messages, " \
                          "publisher start -> N-th processed %.2f s" % (n, t1 - t0)


def sos_level(b, d, sink_path, phone_dev, name, rate, seconds, n_sos, sos_first, devices,
              check_rate, sos_topic):
    """One load level; returns a dict of figures."""
    n = max(int(rate * seconds), n_sos)
    sos_every = max(1, n // n_sos)
    n_sos = n // sos_every
    sos_log = os.path.join(b.run, "sos-%s.txt" % name)
    _, m0 = d.wait(lambda m: True, 30, "metrics")
    cpu0, busy0, procs0 = d.cpu_s(), machine_busy(), proc_jiffies()
    check = None
    if check_rate > 0:
        check = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--sink-check",
                                  str(b.sink_port), str(int(seconds * check_rate)),
                                  str(check_rate)])
    # The observer: mosquitto_sub on the SOS buttons' topics only, on the
    # same broker, time-stamping each arrival: whether an SOS was late
    # before it reached the broker's other clients (publisher, broker) or only
    # on anxind's connection (its queue there, Paho, anxind).
    obs_path = os.path.join(b.run, "observer-%s.txt" % name)
    obs_f = open(obs_path, "w")
    obs_cmd = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(b.mq), "-q", "1", "-i",
               "bench-observer-%s" % name, "-F", "%U %t %p"]
    for k in range(sos_first, sos_first + n_sos):
        obs_cmd += ["-t", "%s/D-%06d/telemetry" % (PREFIX, k), "-t", "%s/D-%06d/alarm" % (PREFIX, k)]
    obs = subprocess.Popen(obs_cmd, stdout=obs_f, stderr=subprocess.DEVNULL)
    time.sleep(1.0)         # its subscriptions in place before the first SOS
    t0 = time.monotonic()
    pub = subprocess.Popen(load_cmd(b, n, rate, sos_every, sos_first, sos_log, devices, sos_topic),
                           stdout=subprocess.PIPE, text=True)
    qmax, pending_max = 0, 0
    snap = os.path.join(d.dir, "journal", "engine.snap")
    snaps = set()

    def snap_seen():
        try:
            st = os.stat(snap)
            snaps.add((st.st_mtime, st.st_size))
        except OSError:
            pass
    snap_seen()
    snaps_before = set(snaps)
    while pub.poll() is None:
        m = d.metrics()
        if m:
            qmax = max(qmax, m.get("anxin_ingest_queue_depth", 0))
            pending_max = max(pending_max, m.get("anxin_db_pending_writes", 0))
        snap_seen()
        time.sleep(0.25)
    t_pub = time.monotonic()
    out = pub.stdout.read().strip()
    if pub.returncode != 0:
        sys.exit("publisher failed: " + out)
    pub_s, pub_rate, ack_s = parse_load(out, n)
    want = processed(m0) + n
    t_done, m1 = d.wait(lambda m: processed(m) >= want, 300, "level %s processed" % name, 0.01)
    saves = m1.get("anxin_engine_saves_total", 0) - m0.get("anxin_engine_saves_total", 0)
    save_pause_ms = m1.get("anxin_engine_save_pause_seconds", 0) * 1000
    cpu1, busy1, procs1 = d.cpu_s(), machine_busy(), proc_jiffies()
    sent3 = read_sos_log(sos_log)
    sent = [(dev, us) for dev, us, _ in sent3]
    lane_of = {dev: lane for dev, _, lane in sent3}
    if len(sent) != n_sos:
        sys.exit("expected %d SOS in %s, found %d" % (n_sos, sos_log, len(sent)))
    devs = {dev for dev, _ in sent}
    # Every SOS's first request, or give up after 30 s.
    end = time.monotonic() + 30
    while True:
        first = {}
        for t, to in read_sink(sink_path):
            dev = phone_dev.get(to)
            if dev in devs and dev not in first:
                first[dev] = t
        if len(first) == len(devs) or time.monotonic() > end:
            break
        time.sleep(0.2)
    snap_seen()
    obs.terminate()
    obs.wait(10)
    obs_f.close()
    observed = {}
    with open(obs_path) as f:
        for line in f:
            # The buttons also carry background readings: only the SOS.
            parts = line.split(None, 2)
            if len(parts) == 3 and '"sos"' in parts[2]:
                observed.setdefault(parts[1].split("/")[-2], float(parts[0]))
    if check:
        check.wait(60)
    t_first = sent[0][1] / 1e6 if sent else 0
    lat = sorted((first[dev] / 1000.0 - us) / 1000.0 for dev, us in sent if dev in first)
    arrival = first
    missing = sorted(devs - set(first))
    lanes = sorted(set(lane_of.values()))
    return {
        "lanes": lanes, "lane_of": lane_of,
        # per topic: the SOS's latencies, and those that never arrived
        "lat_lane": {ln: sorted((first[dev] / 1000.0 - us) / 1000.0 for dev, us in sent
                                if dev in first and lane_of[dev] == ln) for ln in lanes},
        "missing_lane": {ln: [x for x in missing if lane_of[x] == ln] for ln in lanes},
        "name": name, "target_rate": rate, "n": n, "sos_every": sos_every, "n_sos": n_sos,
        "pub_s": pub_s, "pub_rate": pub_rate, "ack_s": ack_s,
        "processed": processed(m1) - processed(m0),
        "catch_up_s": t_done - t_pub, "elapsed_s": t_done - t0,
        "alerts": m1.get("anxin_alerts_opened_total", 0) - m0.get("anxin_alerts_opened_total", 0),
        "sent_ok": m1.get("anxin_notifications_sent_total", 0)
        - m0.get("anxin_notifications_sent_total", 0),
        "qmax": qmax, "pending_max": pending_max,
        "cpu": (cpu1 - cpu0) / (t_done - t0),
        "others": other_cpu(b, procs0, procs1, t_done - t0),
        "machine": (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]) * os.cpu_count(),
        "lat": lat, "missing": missing, "sos_first": sos_first, "sent": sent,
        "out": out, "arrival": arrival,
        # publish -> the observer's arrival, ms
        "observed": sorted(observed[dev] * 1000.0 - us / 1000.0 for dev, us in sent
                           if dev in observed),
        # SOS not published in the 3 s before an engine snapshot's file time
        # (to 0.5 s after): what the level looks like without those stalls
        "lat_nosnap": {ln: sorted((first[dev] / 1000.0 - us) / 1000.0 for dev, us in sent
                                  if dev in first and lane_of[dev] == ln and not any(
                                      t - 3.0 <= us / 1e6 <= t + 0.5
                                      for t, _ in snaps - snaps_before)) for ln in lanes},
        # engine snapshots written during the level: (s after the first SOS, MB)
        "snaps": sorted((t - t_first, size / 1e6) for t, size in snaps - snaps_before),
        "saves": saves, "save_pause_ms": save_pause_ms,
        "worst": sorted(((first[dev] / 1000.0 - us) / 1000.0, us / 1e6 - t_first)
                        for dev, us in sent if dev in first)[-5:][::-1],
    }


def breakdown(b, level, arrival, lane=None):
    """Where the time went, from anxind's own records (ms resolution): the
    alert's opened_at is the Paho callback's receive time; the first attempt's
    started_at is when the notifier handed the request to curl."""
    first, last = level["sos_first"], level["sos_first"] + level["n_sos"] - 1
    rows = b.psql(
        "SELECT a.device_id, (extract(epoch FROM a.opened_at) * 1000)::bigint,"
        " (extract(epoch FROM na.started_at) * 1000)::bigint"
        " FROM alerts a JOIN notifications n ON n.alert_id = a.id AND n.channel = 'sms'"
        " JOIN notification_attempts na ON na.notification_id = n.id AND na.attempt = 1"
        " WHERE a.rule = 'sos' AND a.device_id BETWEEN 'D-%06d' AND 'D-%06d'" % (first, last))
    pub = {dev: us for dev, us in level["sent"]}
    recv, handed = {}, {}
    for line in rows.splitlines():
        dev, opened, started = line.split()
        recv[dev] = int(opened)
        handed[dev] = min(handed.get(dev, 1 << 62), int(started))
    a, bb, c = [], [], []
    for dev, us in level["sent"]:
        if lane and level["lane_of"][dev] != lane:
            continue
        if dev in recv:
            a.append(recv[dev] - us / 1000.0)
            bb.append(handed[dev] - recv[dev])
            if dev in arrival:
                c.append(arrival[dev] / 1e6 - handed[dev])
    return sorted(a), sorted(bb), sorted(c)


def fmt_ms(v):
    return "%.1f" % v if v < 100 else "%.0f" % v


def main():
    signal.signal(signal.SIGTERM, lambda *a: sys.exit("latency: terminated"))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    ap = argparse.ArgumentParser(prog="bench/run latency")
    ap.add_argument("--max-rate", default="drain",
                    help="drain (default), live, or a figure in msg/s")
    ap.add_argument("--levels", default="25,50,90", help="percent of the maximum rate")
    ap.add_argument("--seconds", type=float, default=20, help="background per level, at the "
                    "target rate (longer when the publisher cannot keep it)")
    ap.add_argument("--sos", type=int, default=1000, help="SOS per level")
    ap.add_argument("-d", "--devices", type=int, default=100000)
    ap.add_argument("--drain-messages", type=int, default=200000)
    ap.add_argument("--check-rate", type=float, default=50,
                    help="sink self-check requests a second during each level (0: none)")
    ap.add_argument("--sos-topic", default="both", choices=("both", "alarm", "telemetry"),
                    help="where the SOS are published: the alarm topic (anxind's alarm "
                    "lane), the telemetry topic with the readings, or both, alternating")
    ap.add_argument("--snapshot-every", help="anxind's [journal] snapshot_every (default: "
                    "anxind's, 30s); a few seconds puts many engine saves in each level, "
                    "to see what a save costs the SOS")
    ap.add_argument("--out")
    ap.add_argument("--command", default="bench/run latency")
    args = ap.parse_args()
    b = Bench()
    levels = [float(x) for x in args.levels.split(",") if x]
    devices = args.devices
    elders = (devices * 2 + 4) // 5
    need = args.sos * len(levels) + 100
    if need > elders:
        sys.exit("%d SOS buttons needed, the registry of %d devices has %d" % (need, devices,
                                                                              elders))
    t_run = time.monotonic()
    uptime_before = sh("uptime").strip()
    top_before = top_other_cpu()
    for c in ("mq-stop", "pg-stop"):
        subprocess.run([SERVICES, c, b.run], capture_output=True)
    shutil.rmtree(b.run, ignore_errors=True)
    os.makedirs(b.run)
    b.services("pg-start", b.pg)
    b.services("mq-start", b.mq)
    sink_path = os.path.join(b.run, "sink.txt")
    sink = None
    d = Anxind(b, args.snapshot_every)
    results = []
    try:
        sink = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--sink",
                                 str(b.sink_port), sink_path])
        for _ in range(100):
            if os.path.exists(sink_path + ".ready"):
                break
            time.sleep(0.05)
        else:
            sys.exit("the sink did not start")
        sh("psql", "-h", "127.0.0.1", "-p", b.pg, "-U", "postgres", "-qc",
           "CREATE DATABASE " + DB, "postgres")
        sh(os.path.join(BUILD, "anxinctl"), "--db", b.dsn, "--sql-dir",
           os.path.join(ROOT, "sql"), "migrate")
        reg = os.path.join(b.run, "registry.json")
        sh(sys.executable, os.path.join(ROOT, "bench", "registry.py"), devices, reg)
        phone_dev = {}
        with open(reg) as f:
            for e in json.load(f)["elders"]:
                sos = [x["id"] for x in e["devices"] if x["kind"] == "sos_button"]
                for c in e["contacts"]:
                    if c["priority"] == 1 and sos:
                        phone_dev[c["phone"]] = sos[0]
        t = time.monotonic()
        sh(os.path.join(BUILD, "anxinctl"), "--db", b.dsn, "--sql-dir",
           os.path.join(ROOT, "sql"), "import", reg)
        log("registry: %d devices, %d elders imported in %.1f s" % (devices, elders,
                                                                   time.monotonic() - t))

        # The sink alone, before anything else runs.
        sh(sys.executable, os.path.abspath(__file__), "--sink-check", b.sink_port, 1000, 500)
        idle_check = sorted((t - int(to[6:])) / 1e6 for t, to in read_sink(sink_path)
                            if to.startswith("CHECK-"))
        n_checks = len(idle_check)
        log("sink self-check, idle: p50 %.3f ms, p99 %.3f ms, max %.3f ms" % (
            pct(idle_check, 50), pct(idle_check, 99), idle_check[-1]))

        d.start()
        d.wait(lambda m: True, 120, "anxind /metrics")
        d.wait_subscribed()
        if args.max_rate == "drain":
            max_rate, how = max_rate_drain(b, d, args.drain_messages, devices)
        elif args.max_rate == "live":
            max_rate, how = max_rate_live(b, d, args.drain_messages, devices)
        else:
            max_rate, how = float(args.max_rate), "given with --max-rate"
        log("maximum ingest rate %.0f msg/s (%s)" % (max_rate, how))

        # Warm-up: curl's connection to the sink, the first alerts.
        sos_next = 1
        w = sos_level(b, d, sink_path, phone_dev, "warmup", 1000, 2, 20, sos_next, devices, 0,
                      args.sos_topic)
        sos_next += w["n_sos"]
        log("warm-up: %d SOS, %d arrived, max %.1f ms" % (w["n_sos"], len(w["lat"]),
                                                           w["lat"][-1] if w["lat"] else -1))
        check_seen = n_checks
        for lv in levels:
            time.sleep(2)
            r = sos_level(b, d, sink_path, phone_dev, "%g" % lv, max_rate * lv / 100.0,
                          args.seconds, args.sos, sos_next, devices, args.check_rate,
                          args.sos_topic)
            sos_next += r["n_sos"]
            # New check lines are those after the ones seen before (same order).
            allc = [(t - int(to[6:])) / 1e6 for t, to in read_sink(sink_path)
                    if to.startswith("CHECK-")]
            r["check"] = sorted(allc[check_seen:])
            check_seen = len(allc)
            for ln in r["lanes"]:
                lat = r["lat_lane"][ln]
                log("%g %% (%s topic): %d msg at %.0f msg/s (publisher %.0f msg/s), %d SOS "
                    "in all, %d arrived: p50 %.1f p99 %.1f max %.1f ms; catch-up %.2f s; "
                    "missing %d" % (
                        lv, ln, r["n"], r["target_rate"], r["pub_rate"], r["n_sos"], len(lat),
                        pct(lat, 50), pct(lat, 99), lat[-1] if lat else -1, r["catch_up_s"],
                        len(r["missing_lane"][ln])))
            results.append((lv, r))
        d.wait(lambda m: m.get("anxin_db_pending_writes", 0) == 0, 60, "database writes")
        time.sleep(1)
        for lv, r in results:
            r["parts"] = {ln: breakdown(b, r, r["arrival"], ln) for ln in r["lanes"]}
        final = d.metrics()
        anxind_rss = 0
        with open("/proc/%d/status" % d.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    anxind_rss = int(line.split()[1]) // 1024
    finally:
        d.stop()
        if sink and sink.poll() is None:
            sink.send_signal(signal.SIGTERM)
            try:
                sink.wait(10)
            except subprocess.TimeoutExpired:
                sink.kill()
        subprocess.run([SERVICES, "mq-stop", b.run], capture_output=True)
        subprocess.run([SERVICES, "pg-stop", b.run], capture_output=True)
    run_s = time.monotonic() - t_run

    model, mem = machine()
    head = sh("git", "-C", ROOT, "rev-parse", "--short", "HEAD").strip()
    dirty = sh("git", "-C", ROOT, "status", "--short", "--", "daemon", "lib").split()
    dirty = [x for x in dirty if "/" in x]
    lines = [
        "# Alarm latency: SOS publish to SMS request at the gateway, under load",
        "",
        "Command: `%s`" % args.command,
        "",
        "Machine: %s, %d cores (%s), %d MiB; %s. Load before the run: `%s` (a shared "
        "machine; busiest processes then: %s). Run time %.0f s."
        % (platform.platform(), os.cpu_count(), model, mem, datetime.date.today(),
           uptime_before, top_before, run_s),
        "",
        "Setup: anxind build `%s`, default rules (`conf/rules.d`), log level info; registry "
        "of %d devices over %d elders (`bench/registry.py`); SMS channel = one `kannel` "
        "provider pointed at the bench's loopback sink (answers 202 \"0: Accepted for "
        "delivery\"; no `rate`, no `per_callee`: nothing throttles it). Background: "
        "`anxin-load` QoS 1 readings round-robin over all devices, paced at the level's "
        "rate; every N-th message is an SOS from a button used once in the whole run "
        "(`-B`), so each opens its own alert and sends one SMS to its elder's priority-1 "
        "contact. The SOS go to %s. Latency = the SMS request's arrival at the sink (its epoll wake-up, "
        "CLOCK_REALTIME) - the SOS's publish time in anxin-load (CLOCK_REALTIME, just before "
        "`mosquitto_publish`; SOS go out on a connection of their own, `anxin-load -C`, as a "
        "real button has its own link)." % (
            os.path.basename(BUILD), devices, elders, {
                "both": "the alarm topic and the telemetry topic in turn (`anxin-load -A "
                        "both`): `anxin/v1/<device>/alarm` is taken on anxind's alarm lane, a "
                        "broker session of its own, `anxin/v1/<device>/telemetry` on the "
                        "session that also takes every reading",
                "alarm": "the alarm topic, anxind's alarm lane (`anxin-load -A alarm`)",
                "telemetry": "the telemetry topic, with the readings (`anxin-load -A "
                             "telemetry`)"}[args.sos_topic])
        + (" The engine state is saved every %s (`--snapshot-every`; anxind's default is "
           "30s), so that a level holds many saves." % args.snapshot_every
           if args.snapshot_every else ""),
        "",
        ("Source: commit %s%s." % (head, "; built from the working tree, where %s differ from "
                                   "it (uncommitted)" % ", ".join("`%s`" % x for x in dirty)
                                   if dirty else ", clean"))
        if BUILD.startswith(ROOT + "/") else "Source: the build in `%s` (made elsewhere, not "
        "from this tree)." % BUILD,
        "",
        "Maximum ingest rate: **%.0f msg/s** (%s; `--max-rate %s`)." % (max_rate, how,
                                                                       args.max_rate),
        "",
        "| load | SOS topic | target msg/s | publisher msg/s | messages | anxind processed | "
        "caught up after the publisher | SOS | arrived | **missing** | p50 ms | p99 ms | "
        "p99.9 ms | max ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for lv, r in results:
        for ln in r["lanes"]:
            lat, miss = r["lat_lane"][ln], r["missing_lane"][ln]
            lines.append("| %g %% | %s | %.0f | %.0f | %d | %d | %.2f s | %d | %d | %s | **%s** "
                         "| **%s** | %s | %s |" % (
                             lv, ln, r["target_rate"], r["pub_rate"], r["n"], r["processed"],
                             r["catch_up_s"], len(lat) + len(miss), len(lat),
                             "**%d**" % len(miss) if miss else "0",
                             fmt_ms(pct(lat, 50)), fmt_ms(pct(lat, 99)),
                             fmt_ms(pct(lat, 99.9)), fmt_ms(lat[-1]) if lat else "-"))
    lines += [
        "",
        "Per level, more: (publisher: published in / acknowledged in; anxind CPU in cores "
        "over the level; whole machine busy, in cores of %d, and the part of it used by "
        "processes not of this run (other people's work on the shared machine); largest ingest queue and "
        "pending database writes seen on /metrics every 0.25 s; alerts opened and SMS "
        "taken by the sink per /metrics)" % os.cpu_count(),
        "",
        "| load | published in | acknowledged in | anxind CPU | machine busy | not this run "
        "| max ingest queue | max pending DB writes | alerts opened | SMS sent |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for lv, r in results:
        lines.append("| %g %% | %.2f s | %.2f s | %.2f | %.2f | %.2f | %d | %d | %d | %d |" % (
            lv, r["pub_s"], r["ack_s"], r["cpu"], r["machine"], r["others"], r["qmax"],
            r["pending_max"],
            r["alerts"], r["sent_ok"]))
    lines += [
        "",
        "Where the time went, per SOS, from anxind's own records: the alert's `opened_at` "
        "is the receive time stamped in Paho's message callback (before the journal write), "
        "the first attempt's `started_at` is when the notifier handed the request to curl. "
        "Both are stored in whole milliseconds (truncated), so each part is off by up to "
        "1 ms (a part can show -1). p50 / p99 / max ms; the last column is the control: a "
        "separate client sending %g requests a second to the sink during the level, its "
        "send -> the sink's wake-up (what the machine's scheduling alone adds to a "
        "loopback request):" % args.check_rate,
        "",
        "| load | SOS topic | publish -> Paho callback (publisher, broker, Paho) | callback -> "
        "handed to curl (journal, queue, loop: rules, alert, plan) | handed to curl -> sink "
        "(curl on the loop, TCP, sink) | control: client -> sink | observer: publish -> "
        "`mosquitto_sub` on the SOS topics only (publisher, broker) |",
        "|---|---|---|---|---|---|---|",
    ]

    def trio(v, f=fmt_ms):
        return "%s / %s / %s" % (f(pct(v, 50)), f(pct(v, 99)), f(v[-1])) if v else "-"
    for lv, r in results:
        for ln in r["lanes"]:
            recv, loop, curl = r["parts"][ln]
            lines.append("| %g %% | %s | %s | %s | %s | %s (%d requests) | %s (%d SOS) |" % (
                lv, ln, trio(recv), trio(loop), trio(curl),
                trio(r["check"], lambda x: "%.2f" % x), len(r["check"]), trio(r["observed"]),
                len(r["observed"])))
    lines += [
        "",
        "Engine snapshots (`engine.snap`, written by a forked child of anxind every 30 s "
        "when no database write is pending: the whole rule-engine state, then fsync) during "
        "each level, and the five slowest SOS, both as seconds after the level's first SOS:",
        "",
    ]
    for lv, r in results:
        lines.append("- %g %%: snapshots %s (%d started in the level; the last one's fork held "
                     "the loop %.1f ms); slowest SOS %s" % (
            lv, ", ".join("at %.1f s (file time, %.0f MB)" % x for x in r["snaps"]) or "none",
            r["saves"], r["save_pause_ms"],
            ", ".join("%s ms at %.1f s" % (fmt_ms(l), t) for l, t in r["worst"])))
    lines += [
        "",
        "The same levels without the SOS published from 3 s before a snapshot's file time to "
        "0.5 s after it (an estimate of the latency once the snapshot no longer stops the "
        "loop; the window is generous, so it may drop a few SOS that a snapshot did not "
        "touch):",
        "",
        "| load | SOS topic | SOS kept | p50 ms | p99 ms | p99.9 ms | max ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for lv, r in results:
        for ln in r["lanes"]:
            v = r["lat_nosnap"][ln]
            lines.append("| %g %% | %s | %d of %d | %s | %s | %s | %s |" % (
                lv, ln, len(v), len(r["lat_lane"][ln]), fmt_ms(pct(v, 50)), fmt_ms(pct(v, 99)),
                fmt_ms(pct(v, 99.9)), fmt_ms(v[-1]) if v else "-"))
    lines += [
        "",
        "Sink self-check with nothing else running: %d requests at 500/s, client send -> "
        "sink wake-up p50 %.3f ms, p99 %.3f ms, max %.3f ms." % (
            n_checks, pct(idle_check, 50), pct(idle_check, 99), idle_check[-1]),
        "",
        "anxind after the run: processed %d, rejected %d, alerts opened %d, notifications "
        "sent %d, failed %d, retries %d; resident memory %d MiB." % (
            final.get("anxin_messages_processed_total", 0),
            sum(v for k, v in final.items() if k.startswith("anxin_messages_rejected_total")),
            final.get("anxin_alerts_opened_total", 0),
            final.get("anxin_notifications_sent_total", 0),
            final.get("anxin_notifications_failed_total", 0),
            final.get("anxin_notification_retries_total", 0), anxind_rss),
        "",
    ]
    missing = sum(len(r["missing"]) for _, r in results)
    if missing:
        lines += ["**%d SOS DID NOT REACH THE SINK** (%s)." % (
            missing, "; ".join("%g %%: %s" % (lv, ", ".join(r["missing"][:10]))
                               for lv, r in results if r["missing"]))]
    else:
        lines += ["Every SOS reached the sink (0 missing)."]
    by = {lv: r for lv, r in results}
    lines += [""]
    for lv, limit in ((50, 10.0), (90, 50.0)):
        if lv in by:
            for ln in by[lv]["lanes"]:
                p99 = pct(by[lv]["lat_lane"][ln], 99)
                ok = p99 < limit and not by[lv]["missing_lane"][ln]
                lines.append("Target: p99 under %g ms at %g %% load, SOS on the %s topic: %s "
                             "(p99 %.1f ms)." % (limit, lv, ln,
                                                 "met" if ok else "**NOT met**", p99))
    report = "\n".join(lines) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(report)
    print(report)
    return 1 if missing else 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--sink":
        sink_main(int(sys.argv[2]), sys.argv[3])
        sys.exit(0)
    if len(sys.argv) == 5 and sys.argv[1] == "--sink-check":
        sink_check_main(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
        sys.exit(0)
    sys.exit(main())
