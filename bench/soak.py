#!/usr/bin/python3
"""bench/soak.py - memory and delivery under steady telemetry.

Starts its own PostgreSQL and Mosquitto under run/bench-soak, imports a
registry of --devices elders (one SOS button each), starts anxind with the
webhook provider pointed at a loopback capture server, and runs --rounds
rounds of --messages ordinary messages at --rate per second, with an SOS on
every --sos-every-th message (each SOS from a different elder, so each must
open an alert and reach the capture server). Samples anxind's resident
memory (VmRSS) every 0.2 s. The first round is the warm-up; the rounds after
it must not grow.

    bench/soak.py                       # 3 rounds x 20,000 messages at 2,000/s
    bench/soak.py --out bench/results/2026-11-29-soak.md
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.path.join(ROOT, "run", "bench-soak")
os.environ.setdefault("ANXIN_RUN", RUN)
os.environ.setdefault("ANXIN_PG_PORT", "55435")
os.environ.setdefault("ANXIN_MQ_PORT", "18886")
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness as h  # noqa: E402  (after the environment it reads)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def registry(n):
    elders = []
    for i in range(1, n + 1):
        elders.append({
            "id": "B%06d" % i, "name": "压测%d" % i, "consent": True,
            "categories": ["living_alone"], "township": "城关镇", "village": "东关村",
            "contacts": [{"name": "家属%d" % i, "phone": "+86139%08d" % i, "role": "family",
                          "priority": 1, "channels": ["sms"]}],
            "devices": [{"id": "B-%06d" % i, "kind": "sos_button", "heartbeat_s": 300}],
        })
    return {"elders": elders}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--messages", type=int, default=20000, help="messages per round")
    ap.add_argument("--rate", type=float, default=2000, help="messages per second")
    ap.add_argument("--sos-every", type=int, default=500)
    ap.add_argument("--out", help="write a Markdown report here")
    args = ap.parse_args()
    devices = args.messages      # one device per message within a round
    total_devices = devices * args.rounds

    subprocess.run(["make", "-s", "-C", ROOT, "all"], check=True, stdout=subprocess.DEVNULL)
    for cmd in ("mq-stop", "pg-stop"):
        subprocess.run([h.SERVICES, cmd, RUN], capture_output=True)
    subprocess.run(["rm", "-rf", RUN], check=True)
    h.services("pg-start", h.PG_PORT)
    h.services("mq-start", h.MQ_PORT)
    cap = h.Capture()
    d = None
    try:
        db = h.fresh_db("soak")
        t0 = time.monotonic()
        h.import_registry(db, registry(total_devices))
        t_import = time.monotonic() - t0
        d = h.Daemon(db, webhook_url=cap.url, extra="").start()
        # Quieter log: per-alert lines are fine, debug is not.
        samples = []
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                samples.append((time.monotonic(), rss_kib(d.proc.pid)))
                time.sleep(0.2)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        rows = []
        sos_expected = 0
        for r in range(args.rounds):
            first = r * devices + 1
            t_start = time.monotonic()
            out = subprocess.run(
                [os.path.join(h.BUILD, "anxin-load"), "-p", str(h.MQ_PORT), "-P",
                 d.prefix + "/v1", "-d", str(devices), "-n", str(args.messages), "-r",
                 str(args.rate), "-s", str(args.sos_every), "-O", str(first), "-D", "B-"],
                check=True, capture_output=True, text=True).stdout.strip()
            sos_expected += args.messages // args.sos_every
            # Drained: every message processed, every SOS delivered.
            want = (r + 1) * args.messages
            h.wait_for(lambda: d.metric("anxin_messages_processed_total") >= want, 60,
                       what="round %d processed" % (r + 1))
            h.wait_for(lambda: len({x["json"]["elder"] for x in cap.sms()}) >= sos_expected,
                       30, what="round %d SOS delivered" % (r + 1))
            t_end = time.monotonic()
            time.sleep(0.5)
            rss = rss_kib(d.proc.pid)
            rows.append((r + 1, out, t_end - t_start, rss))
            print("round %d: %.1f s, RSS %d KiB; %s" % (r + 1, t_end - t_start, rss, out))
        stop.set()
        th.join()
        m = d.metrics()
        delivered = len({x["json"]["elder"] for x in cap.sms()})
        peak = max(s[1] for s in samples)
    finally:
        if d:
            d.stop()
        cap.close()
        h.services("mq-stop")
        h.services("pg-stop")

    growth = rows[-1][3] - rows[0][3]
    lines = [
        "# Soak: memory and SOS delivery under steady telemetry",
        "",
        "Command: `bench/soak.py --rounds %d --messages %d --rate %g --sos-every %d`"
        % (args.rounds, args.messages, args.rate, args.sos_every),
        "",
        "Machine: %s, %d cores, %s; anxind build `build/` (-O2)." % (
            platform.platform(), os.cpu_count(), platform.processor() or "x86_64"),
        "",
        "Registry: %d elders, one SOS button each (import took %.1f s)." % (
            total_devices, t_import),
        "",
        "| round | load generator | round time | anxind RSS after |",
        "|---|---|---|---|",
    ]
    for r, out, dt, rss in rows:
        lines.append("| %d | %s | %.1f s | %d KiB |" % (r, out.replace("anxin-load: ", ""), dt,
                                                         rss))
    lines += [
        "",
        "- messages processed: %d, rejected: %d" % (
            m.get("anxin_messages_processed_total", 0),
            sum(v for k, v in m.items() if k.startswith("anxin_messages_rejected_total"))),
        "- SOS sent: %d; alerts opened: %d; elders whose SOS reached the capture server: %d"
        % (sos_expected, m.get("anxin_alerts_opened_total", 0), delivered),
        "- RSS peak %d KiB; after round 1 (warm-up) %d KiB, after round %d %d KiB: growth %+d KiB"
        % (peak, rows[0][3], len(rows), rows[-1][3], growth),
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report)
    ok = delivered == sos_expected
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
