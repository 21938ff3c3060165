#!/usr/bin/python3
"""bench/ingest.py - the ingest section of bench/run (run it through bench/run).

How many QoS 1 telemetry messages per second anxind takes from the broker
and evaluates against the default rules, next to two bare limits on the
same broker with the same messages:
  paho       build/paho-count: Paho MQTTAsync connected as anxind connects,
             counting in its message callback (the ceiling of the library);
  msub       mosquitto_sub -c -q 1 -C N (the broker's ceiling);
  anxind     build/anxind with the default rules and a registry of --devices
             devices, counted by anxin_messages_processed_total on /metrics.
The publisher is build/anxin-load (libmosquitto, QoS 1, flat out); its rate
alone is measured first. Every consumer has its own persistent session and
topic prefix of the same length (anxd/, paho/, msub/ + v1/<device>/telemetry),
so one consumer's rounds do not queue messages for another.

  drain  N messages queued in the broker for the consumer's session while it
         is away, then the time from its connect to the N-th message.
         (anxind: stopped, messages queued, started; timed from its
         "mqtt: connected" log line to the /metrics poll, every 10 ms, that
         shows N processed.)
  live   the consumer connected first, then the publisher started: time from
         the publisher's start to the consumer's N-th message.
Rounds alternate the consumers' order; medians are reported.
"""
import argparse
import datetime
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

from benchlib import (BUILD, CONSOLE_SMS, HTTP, MQ, PG, ROOT, RUN, SERVICES, after_run_line,
                      fetch_metrics, machine, top_other_cpu, wait_metrics, write_conf,
                      write_report)
DB = "bench"
DSN = "host=127.0.0.1 port=%d user=postgres dbname=%s" % (PG, DB)
CONSUMERS = ("anxind", "paho", "msub")
d_perf = [None]             # --perf FILE: perf record anxind's drain rounds
RECEIVE_MAX = [0]           # --receive-maximum: anxind's and paho-count's, 0 = none sent
PREFIX = {"anxind": "anxd/v1", "paho": "paho/v1", "msub": "msub/v1"}
CLIENT = {"anxind": "anxind-bench", "paho": "bench-paho", "msub": "bench-msub"}


def log(msg):
    print("ingest: " + msg, flush=True)


def sh(*cmd, **kw):
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True,
                          **kw).stdout


def services(cmd, *args):
    sh(SERVICES, cmd, RUN, *args)


def publish(prefix, n, devices):
    """anxin-load flat out; returns (publish s, its output line)."""
    out = sh(os.path.join(BUILD, "anxin-load"), "-p", MQ, "-P", prefix, "-d", devices,
             "-n", n, "-r", 0, "-s", 0, "-D", "D-").strip()
    m = re.search(r"acknowledged (\d+) in ([\d.]+) s", out)
    if not m or int(m.group(1)) != n:
        sys.exit("publisher did not get every message acknowledged: " + out)
    return float(m.group(2)), out


class Anxind:
    def __init__(self, devices):
        self.dir = os.path.join(RUN, "anxind")
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "anxind.conf")
        self.proc = None
        write_conf(self.conf, DB, CLIENT["anxind"], PREFIX["anxind"],
                   os.path.join(self.dir, "journal"), CONSOLE_SMS % self.dir,
                   mqtt_extra="receive_maximum = %d" % RECEIVE_MAX[0])

    def start(self):
        self.logf = open(os.path.join(self.dir, "anxind.log"), "a")
        self.proc = subprocess.Popen([os.path.join(BUILD, "anxind"), "-c", self.conf],
                                     stdout=self.logf, stderr=self.logf,
                                     stdin=subprocess.DEVNULL)

    def metrics(self):
        return fetch_metrics()

    def wait(self, pred, timeout, what, interval=0.01, wall=False):
        return wait_metrics(self, pred, timeout, what, interval, wall)

    def connected_at(self):
        """Wall-clock time of the last "mqtt: connected" line in its log."""
        with open(os.path.join(self.dir, "anxind.log")) as f:
            lines = [l for l in f if " mqtt: connected to " in l and "(telemetry lane)" in l]
        stamp = lines[-1].split()[0]            # 2026-11-29T13:55:49.407Z
        return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        self.proc = None


def processed(m):
    return m.get("anxin_messages_processed_total", 0)


def run_paho(n, timeout=300):
    return subprocess.Popen([os.path.join(BUILD, "paho-count"), "-p", str(MQ), "-i",
                             CLIENT["paho"], "-t", PREFIX["paho"] + "/+/telemetry", "-n", str(n),
                             "-T", str(timeout), "-R", str(RECEIVE_MAX[0])],
                            stdout=subprocess.PIPE, text=True)


def run_msub(n, timeout=300):
    return subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(MQ), "-V", "5",
                             "-c", "-x", "604800", "-i", CLIENT["msub"], "-q", "1",
                             "-t", PREFIX["msub"] + "/+/telemetry", "-C", str(n), "-W",
                             str(timeout)], stdout=subprocess.DEVNULL)


def bare_paho_last(p):
    """paho-count's own connect->last time (it excludes process start)."""
    out = p.stdout.read()
    if p.wait() != 0:
        sys.exit("paho-count failed: " + out)
    return float(re.search(r"connect->last ([\d.]+) s", out).group(1)), out.strip()


def perf_start(consumer, pid):
    """--perf: perf record the consumer (anxind, paho) for its drain."""
    if not d_perf[0]:
        return None
    return subprocess.Popen(["perf", "record", "-q", "-F", "2000", "-o",
                             "%s-%s.data" % (d_perf[0], consumer), "-p", str(pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def perf_stop(consumer, perf):
    """Ends the recording and writes FILE-CONSUMER: CPU by thread and library,
    then by symbol."""
    if not perf:
        return
    perf.send_signal(signal.SIGINT)
    perf.wait(60)
    data = "%s-%s.data" % (d_perf[0], consumer)
    with open("%s-%s" % (d_perf[0], consumer), "w") as f:
        for sort in ("comm,dso", "comm,dso,sym"):
            f.flush()
            subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                            "--sort", sort, "--percent-limit", "0.3"], stdout=f,
                           stderr=subprocess.DEVNULL)


def drain(consumer, d, n, devices):
    """Queue n messages for the consumer's session, then time its connect->n-th."""
    pub_s, pub_out = publish(PREFIX[consumer], n, devices)
    if consumer == "anxind":
        d.start()
        perf = perf_start(consumer, d.proc.pid)
        # Timed from its "mqtt: connected" log line (wall clock, ms): the
        # registry is loaded by then, and /metrics cannot say when the drain
        # began (the loop answers only once start-up is over, by which time
        # messages are flowing). Counters start at zero in a new process.
        t, _ = d.wait(lambda m: processed(m) >= n, 120, "drain", 0.01, wall=True)
        t0 = d.connected_at()
        secs = t - t0
        perf_stop(consumer, perf)
        d.stop()
    elif consumer == "paho":
        p = run_paho(n)
        perf = perf_start(consumer, p.pid)
        secs, _ = bare_paho_last(p)
        perf_stop(consumer, perf)
    else:
        t0 = time.monotonic()
        p = run_msub(n)
        if p.wait() != 0:
            sys.exit("mosquitto_sub failed")
        secs = time.monotonic() - t0
    return n / secs, pub_s


def live(consumer, d, n, devices):
    """Consumer connected, then publish n flat out; publisher start -> n-th."""
    if consumer == "anxind":
        _, m = d.wait(lambda m: True, 30, "metrics")
        base = processed(m)
        t0 = time.monotonic()
        pub = subprocess.Popen([os.path.join(BUILD, "anxin-load"), "-p", str(MQ), "-P",
                                PREFIX[consumer], "-d", str(devices), "-n", str(n), "-r", "0",
                                "-s", "0", "-D", "D-"], stdout=subprocess.PIPE, text=True)
        t1, _ = d.wait(lambda m: processed(m) - base >= n, 300, "live messages", 0.02)
    else:
        p = run_paho(n) if consumer == "paho" else run_msub(n)
        time.sleep(0.5)         # connected (the session holds anything earlier anyway)
        t0 = time.monotonic()
        pub = subprocess.Popen([os.path.join(BUILD, "anxin-load"), "-p", str(MQ), "-P",
                                PREFIX[consumer], "-d", str(devices), "-n", str(n), "-r", "0",
                                "-s", "0", "-D", "D-"], stdout=subprocess.PIPE, text=True)
        if consumer == "paho":
            bare_paho_last(p)
        elif p.wait() != 0:
            sys.exit("mosquitto_sub failed")
        t1 = time.monotonic()
    out = pub.stdout.read().strip()
    if pub.wait() != 0:
        sys.exit("publisher failed: " + out)
    pub_s = float(re.search(r"acknowledged \d+ in ([\d.]+) s", out).group(1))
    return n / (t1 - t0), pub_s


def main():
    # Ctrl-C or a kill still stops what this run started (the finally below).
    signal.signal(signal.SIGTERM, lambda *a: sys.exit("ingest: terminated"))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    ap = argparse.ArgumentParser(prog="bench/run ingest")
    ap.add_argument("-n", "--messages", type=int, default=200000)
    ap.add_argument("-d", "--devices", type=int, default=100000)
    ap.add_argument("-r", "--rounds", type=int, default=3)
    ap.add_argument("--modes", default="drain,live")
    ap.add_argument("--consumers", default=",".join(CONSUMERS),
                    help="which of anxind,paho,msub to measure")
    ap.add_argument("--perf", metavar="FILE",
                    help="perf record anxind and paho-count during their drain rounds; "
                    "reports to FILE-anxind and FILE-paho")
    ap.add_argument("--receive-maximum", type=int, default=0,
                    help="MQTT v5 receive maximum anxind and paho-count send (0: none, "
                    "the broker's inflight limit applies)")
    ap.add_argument("--out")
    ap.add_argument("--command", default="bench/run ingest")
    args = ap.parse_args()
    n, devices = args.messages, args.devices
    modes = [m for m in args.modes.split(",") if m]
    consumers = tuple(c for c in CONSUMERS if c in args.consumers.split(","))
    if "anxind" not in consumers:
        sys.exit("ingest: anxind must be one of the consumers")
    d_perf[0] = args.perf
    RECEIVE_MAX[0] = args.receive_maximum

    uptime_before = sh("uptime").strip()
    top_before = top_other_cpu()
    for c in ("mq-stop", "pg-stop"):
        subprocess.run([SERVICES, c, RUN], capture_output=True)
    shutil.rmtree(RUN, ignore_errors=True)
    os.makedirs(RUN)
    services("pg-start", PG)
    services("mq-start", MQ)
    d = Anxind(devices)
    results = {}
    try:
        sh("psql", "-h", "127.0.0.1", "-p", PG, "-U", "postgres", "-qc",
           "CREATE DATABASE " + DB, "postgres")
        sh(os.path.join(BUILD, "anxinctl"), "--db", DSN, "--sql-dir",
           os.path.join(ROOT, "sql"), "migrate")
        reg = os.path.join(RUN, "registry.json")
        sh(sys.executable, os.path.join(ROOT, "bench", "registry.py"), devices, reg)
        t = time.monotonic()
        sh(os.path.join(BUILD, "anxinctl"), "--db", DSN, "--sql-dir",
           os.path.join(ROOT, "sql"), "import", reg)
        t_import = time.monotonic() - t
        log("registry: %d devices imported in %.1f s" % (devices, t_import))

        # Sessions: anxind's by starting it once, the others' by subscribing once.
        t = time.monotonic()
        d.start()
        d.wait(lambda m: True, 120, "anxind /metrics")
        t_start = time.monotonic() - t
        sh(os.path.join(BUILD, "paho-count"), "-p", MQ, "-i", CLIENT["paho"], "-t",
           PREFIX["paho"] + "/+/telemetry", "-s")
        sh("mosquitto_sub", "-h", "127.0.0.1", "-p", MQ, "-V", "5", "-c", "-x", "604800",
           "-i", CLIENT["msub"], "-q", "1", "-t", PREFIX["msub"] + "/+/telemetry", "-E")
        time.sleep(1)
        log("anxind answered /metrics %.1f s after its start" % t_start)

        # The publisher alone: nobody subscribed to its topics.
        pub_alone = []
        for _ in range(args.rounds):
            s, out = publish("none/v1", n, devices)
            pub_alone.append(n / s)
        log("publisher alone: %s msg/s" % ", ".join("%.0f" % r for r in pub_alone))

        for mode in modes:
            if mode == "drain":
                d.stop()
            elif d.proc is None:
                d.start()
                d.wait(lambda m: True, 120, "anxind /metrics")
            for r in range(args.rounds):
                order = consumers if r % 2 == 0 else consumers[::-1]
                for c in order:
                    rate, pub_s = (drain if mode == "drain" else live)(c, d, n, devices)
                    results.setdefault((mode, c), []).append(rate)
                    results.setdefault((mode, "pub-" + c), []).append(n / pub_s)
                    log("%s round %d %-6s %7.0f msg/s (publisher %.0f msg/s)"
                        % (mode, r + 1, c, rate, n / pub_s))
        if d.proc is None:
            d.start()
            d.wait(lambda m: True, 120, "anxind /metrics")
        final = d.metrics()
    finally:
        d.stop()
        subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(MQ), "-i", CLIENT["msub"],
                        "-t", "x", "-E"], capture_output=True)
        subprocess.run([os.path.join(BUILD, "paho-count"), "-p", str(MQ), "-i", CLIENT["paho"],
                        "-x"], capture_output=True)
        services("mq-stop")
        services("pg-stop")

    med = {k: statistics.median(v) for k, v in results.items()}
    model, mem = machine()
    lines = [
        "# Ingest: anxind against the bare Paho subscriber and mosquitto_sub",
        "",
        "Command: `%s`" % args.command,
        "",
        "Machine: %s, %d cores (%s), %d MiB; %s. Load before the run: `%s` (a shared "
        "machine: other engineers' tests may be running; busiest processes then: %s)."
        % (platform.platform(), os.cpu_count(), model, mem, datetime.date.today(),
           uptime_before, top_before),
        "",
        "Registry: %d devices over %d elders (import %.1f s). %d messages per measurement, "
        "QoS 1, %d rounds, medians; order alternates each round. anxind build `%s`, default "
        "rules, log level info; MQTT v5 receive maximum: %s." % (
            devices, (devices * 2 + 4) // 5, t_import, n, args.rounds, os.path.basename(BUILD),
            args.receive_maximum or "none sent (the broker's inflight limit)"),
        "",
        "Publisher alone (anxin-load, nobody subscribed): %s msg/s (median %.0f)."
        % (", ".join("%.0f" % r for r in pub_alone), statistics.median(pub_alone)),
        "",
        "| mode | anxind msg/s | bare Paho msg/s | mosquitto_sub msg/s | anxind/Paho | "
        "anxind/mosquitto_sub | publisher msg/s (anxind, Paho, sub rounds) |",
        "|---|---|---|---|---|---|---|",
    ]
    def fig(v, fmt="%.0f"):
        return fmt % v if v is not None else "-"

    def ratio(a, b):
        return "%.0f%%" % (100 * a / b) if a is not None and b else "-"

    for mode in modes:
        a, p, s = (med.get((mode, c)) for c in CONSUMERS)
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            mode, fig(a), fig(p), fig(s), ratio(a, p), ratio(a, s),
            ", ".join(fig(med.get((mode, "pub-" + c))) for c in CONSUMERS)))
    lines += ["", "Every round (msg/s):", ""]
    for (mode, c), v in sorted(results.items()):
        if not c.startswith("pub-"):
            lines.append("- %s %s: %s" % (mode, c, ", ".join("%.0f" % x for x in v)))
    lines += ["", after_run_line(final)]
    if "paho" not in consumers:
        target = "not measured (no bare Paho rounds)"
    elif all(med[(m, "anxind")] >= 0.9 * med[(m, "paho")] for m in modes):
        target = "met"
    else:
        target = "NOT met"
    lines += ["", "Target (anxind at least 90%% of the bare Paho subscriber): %s." % target]
    write_report(lines, args.out)


if __name__ == "__main__":
    sys.exit(main())
