#!/usr/bin/python3
"""bench/replay.py - how fast `anxinctl replay` runs recorded telemetry
through the rules, and how that grows with the number of rules.

Generates a registry of --elders elders (an SOS button, a water meter and a
wearable each) and --messages messages spread over a virtual day (water flow,
heart rate and battery readings, a few SOS presses), then times
`anxinctl replay --summary` with the default rules and with 10, 100 and 1000
generated threshold rules. No services are needed. Wall time on a shared
machine is noisy: run it twice and compare.

    bench/replay.py                          # 1,000,000 messages
    bench/replay.py --out bench/results/2026-11-29-replay.md
"""
import argparse
import json
import os
import platform
import random
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.environ.get("BENCH_RUN", os.path.join(ROOT, "run", "bench-replay"))
BUILD = os.path.join(ROOT, os.environ.get("ANXIN_BUILD", "build"))
CTL = os.path.join(BUILD, "anxinctl")


def registry(n):
    elders = []
    for i in range(1, n + 1):
        elders.append({
            "id": "R%06d" % i, "name": "回放%d" % i, "consent": True,
            "categories": ["living_alone"], "village": "东关村",
            "contacts": [{"name": "家属", "phone": "+86139%08d" % i, "role": "family",
                          "priority": 1}],
            # Each device reports about every 45 virtual minutes here.
            "devices": [{"id": "RS-%06d" % i, "kind": "sos_button", "heartbeat_s": 3600},
                        {"id": "RW-%06d" % i, "kind": "water_meter", "heartbeat_s": 3600},
                        {"id": "RH-%06d" % i, "kind": "wearable", "heartbeat_s": 3600}]})
    return {"elders": elders}


def messages(path, n, elders, seed=7):
    rnd = random.Random(seed)
    t0 = 1764000000000
    step = 86400000 // n or 1           # one virtual day
    with open(path, "w") as f:
        for k in range(n):
            i = rnd.randint(1, elders)
            kind = k % 3
            if k % 5000 == 4999:
                dev, body = "RS-%06d" % i, '{\\"events\\":[\\"sos\\"]}'
            elif kind == 0:
                dev, body = "RW-%06d" % i, '{\\"metrics\\":{\\"water.flow_l\\":%.1f}}' % (
                    rnd.random() * 4)
            elif kind == 1:
                dev, body = "RH-%06d" % i, '{\\"metrics\\":{\\"hr.bpm\\":%d}}' % rnd.randint(55, 140)
            else:
                dev, body = "RS-%06d" % i, '{\\"metrics\\":{\\"battery.pct\\":%d}}' % rnd.randint(10, 99)
            f.write('{"topic":"anxin/v1/%s/telemetry","received":%d,"payload":"%s"}\n'
                    % (dev, t0 + k * step, body))


def synthetic_rules(n):
    """n threshold rules on the readings the messages carry, plus the chains."""
    metrics = ["hr.bpm", "water.flow_l", "battery.pct"]
    out = []
    for i in range(n):
        m = metrics[i % 3]
        out.append("rule r%d {\n    when %s > %d for %dm\n    severity low\n    chain technical\n}\n"
                   % (i, m, 1000 + i, 1 + i % 10))
    out.append("chain technical {\n    at 0s notify priority 1 by sms\n}\n")
    return "\n".join(out)


def run_replay(rules_dir, reg, data):
    t = time.monotonic()
    r = subprocess.run([CTL, "replay", "--summary", "--rules", rules_dir, "--registry", reg, data],
                       capture_output=True, text=True)
    wall = time.monotonic() - t
    if r.returncode != 0:
        sys.exit("replay failed:\n" + r.stderr)
    line = [l for l in r.stderr.splitlines() if l.startswith("replay:")][-1]
    return wall, line


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=1000000)
    ap.add_argument("--elders", type=int, default=10000)
    ap.add_argument("--out")
    args = ap.parse_args()
    subprocess.run(["make", "-s", "-C", ROOT, "O=" + os.path.relpath(BUILD, ROOT), "all"],
                   check=True, stdout=subprocess.DEVNULL)
    os.makedirs(RUN, exist_ok=True)
    reg = os.path.join(RUN, "registry.json")
    with open(reg, "w") as f:
        json.dump(registry(args.elders), f, ensure_ascii=False)
    data = os.path.join(RUN, "messages.jsonl")
    messages(data, args.messages, args.elders)
    rows = []
    wall, line = run_replay(os.path.join(ROOT, "conf", "rules.d"), reg, data)
    rows.append(("default rules (9)", wall, line))
    print("default: %.2f s  %s" % (wall, line))
    for n in (10, 100, 1000):
        d = os.path.join(RUN, "rules-%d" % n)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "gen.rules"), "w") as f:
            f.write(synthetic_rules(n))
        wall, line = run_replay(d, reg, data)
        rows.append(("%d threshold rules" % n, wall, line))
        print("%d rules: %.2f s  %s" % (n, wall, line))
    lines = [
        "# Replay: recorded telemetry through the rules on a virtual clock",
        "",
        "Command: `bench/replay.py --messages %d --elders %d`" % (args.messages, args.elders),
        "",
        "Machine: %s, %d cores; build `%s/` (-O2). The messages cover one virtual day "
        "over %d elders x 3 devices; wall time includes reading and decoding the JSON lines "
        "and loading the registry." % (platform.platform(), os.cpu_count(),
                                        os.path.relpath(BUILD, ROOT), args.elders),
        "",
        "| rules | wall time | msg/s (whole run) | anxinctl's own figure |",
        "|---|---|---|---|",
    ]
    for name, wall, line in rows:
        m = re.search(r"in ([\d.]+) s \((\d+) msg/s\)", line)
        lines.append("| %s | %.2f s | %.0f | %s |" % (name, wall, args.messages / wall,
                                                       line.replace("replay: ", "")))
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report)


if __name__ == "__main__":
    main()
