#!/usr/bin/python3
"""bench/rules.py - the rules section of bench/run: the rule engine's cost in
CPU instructions per message and per rule, counted by valgrind's callgrind
(instruction counts are stable on a shared machine, wall time is not).

Generates a registry of --elders elders (each with an SOS button, a water
meter and a wearable; every second one a bathroom sensor and a door sensor,
every fourth one a power meter) and recorded telemetry in the format of
`anxinctl export-journal` (N messages make one virtual day, weighted
over the device kinds the way they report: wearables most). Rule sets:

  none      0 rules (only a chain): decode, registry lookup, no rule work
  default   conf/rules.d (the 9 default rules)
  10/100/1000  generated rules, a mix of what docs/rules.md offers: thresholds
            with and without `for`, windows (sum/avg/max over minutes to a
            day), yes/no metrics held for a time, absence rules (`no message
            for 2h`, `3 x heartbeat`), events, `and`/`or`, care-plan
            thresholds, `clear when`, `suppressed by device_offline`, and
            scopes (device kinds, categories, risk, village, time of day,
            weekends)

Each set runs `anxinctl replay --summary` under `valgrind --tool=callgrind`
twice, over the first N messages (-n) and over the first 2N of the same file
(the first N identical). The difference of the two runs is the cost of N
messages in steady state: start-up (loading rules and registry, compiling
the engine, tracking devices for absence rules) is the same in both runs and
cancels exactly, and so does most of the first sight of each device (its
rule states and windows are created in the first half). Reported:

  total     (Ir(2N) - Ir(N)) / N: the whole replay loop per message, with
            reading and parsing the JSON line of the recording
  engine path  the same for sim_message inclusive (callgrind_annotate):
            payload decode, registry lookup, timers and the rule engine,
            without the recording's own JSON line
  per rule  (engine path - engine path with no rules) / number of rules

and, for the largest set, the functions that cost most per message (their
own instructions, difference of the two runs). A native wall-time table over
--wall-messages messages (no valgrind) follows, as bench/replay.py gives for
its threshold rules.

    bench/run rules                                   # about 10 minutes
    bench/run rules --out bench/results/DATE-rules.md
    bench/run rules -n 10000 --sets none,default,100  # quicker
"""
import argparse
import datetime
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, os.environ.get("ANXIN_BUILD", "build"))
RUN = os.environ.get("BENCH_RUN", os.path.join(ROOT, "run", "bench-rules"))
CTL = os.path.join(BUILD, "anxinctl")
T0 = 1764000000000                  # 2025-11-24 16:00 UTC: Tuesday 00:00 in UTC+8
STEP_MS = 4320                      # virtual ms between two messages: set so that
                                    # N messages make one virtual day (main)

VILLAGES = ["东关村", "西关村", "南街村", "北坡村", "河口村", "新庄村"]
CATS = ["living_alone", "empty_nest", "left_behind", "disabled", "severely_disabled",
        "family_planning_special"]


def log(msg):
    print("rules: " + msg, file=sys.stderr, flush=True)


# ---- registry and telemetry ------------------------------------------------

# How often each kind reports, relative to the others.
KIND_WEIGHT = {"wearable": 40, "water_meter": 20, "sos_button": 10, "bathroom_sensor": 10,
               "door_sensor": 10, "power_meter": 10}


def devices_of(i):
    """(id, kind) of elder i's devices."""
    d = [("S-%05d" % i, "sos_button"), ("W-%05d" % i, "water_meter"), ("H-%05d" % i, "wearable")]
    if i % 2 == 0:
        d += [("B-%05d" % i, "bathroom_sensor"), ("D-%05d" % i, "door_sensor")]
    if i % 4 == 0:
        d.append(("P-%05d" % i, "power_meter"))
    return d


def intervals(elders):
    """kind -> seconds between two reports of one device of that kind: the
    kinds share the message slots by KIND_WEIGHT, the devices of a kind take
    their kind's slots in turn."""
    count = {}
    for i in range(1, elders + 1):
        for _, kind in devices_of(i):
            count[kind] = count.get(kind, 0) + 1
    total = sum(KIND_WEIGHT.values())
    return {k: count[k] * STEP_MS / 1000 * total / KIND_WEIGHT[k] for k in count}


def registry(n):
    rnd = random.Random(11)
    every = intervals(n)
    elders = []
    for i in range(1, n + 1):
        cats = sorted({CATS[i % len(CATS)], rnd.choice(CATS)})
        e = {"id": "E%05d" % i, "name": "长者%d" % i, "birth_year": 1935 + i % 25,
             "consent": True, "categories": cats, "township": "城关镇",
             "village": VILLAGES[i % len(VILLAGES)], "grid": "G-%02d" % (i % 12),
             "care_plan": {"visit_every_days": 30, "risk": ["low", "medium", "high"][i % 3],
                           "chain": "emergency"},
             "contacts": [{"name": "家属", "phone": "+86139%08d" % i, "role": "family",
                           "priority": 1}],
             # The heartbeat is the device's real reporting interval.
             "devices": [{"id": d, "kind": k, "heartbeat_s": int(every[k] * 1.2) + 1}
                         for d, k in devices_of(i)]}
        if i % 5 == 0:
            e["care_plan"]["params"] = {"hr.max": 110 + i % 20, "hr.min": 45}
        elders.append(e)
    return {"elders": elders}


def payload(rnd, kind, k, dev, st):
    """A device's report: ordinary readings around the device's own level
    (st keeps it), now and then one out of range, a few alarms."""
    lv = st.setdefault(dev, {"hr": rnd.randint(62, 88), "bat": rnd.uniform(12, 100)})
    lv["bat"] = max(1.0, lv["bat"] - 0.1)
    bat = int(lv["bat"])
    if kind == "wearable":
        m = {"hr.bpm": lv["hr"] + rnd.randint(-6, 6) if k % 499 else rnd.randint(135, 170),
             "spo2.pct": rnd.randint(95, 99) if k % 701 else rnd.randint(84, 90),
             "battery.pct": bat}
        if k % 7 == 0:
            m.update({"bp.sys": rnd.randint(105, 150), "bp.dia": rnd.randint(60, 95)})
        if k % 11 == 0:
            m["temp.c"] = round(rnd.uniform(36.0, 37.4), 1)
        body = {"metrics": m}
        if k % 9973 == 17:
            body["events"] = ["fall"]
        return body
    if kind == "water_meter":
        return {"metrics": {"water.flow_l": round(rnd.random() * 12, 1),
                            "water.total_l": 1000 + k // 10}}
    if kind == "sos_button":
        if k % 5003 == 101:
            return {"events": ["sos"]}
        return {"metrics": {"battery.pct": bat}}
    if kind == "bathroom_sensor":
        return {"metrics": {"room.bathroom": rnd.random() < 0.2}}
    if kind == "door_sensor":
        return {"metrics": {"door.open": rnd.random() < 0.1, "motion.active": rnd.random() < 0.5}}
    if kind == "power_meter":
        return {"metrics": {"power.w": rnd.randint(0, 2500), "power.kwh": 100 + k // 50}}
    raise ValueError(kind)


def messages(path, n, elders, seed=7):
    rnd = random.Random(seed)
    by_kind = {}
    for i in range(1, elders + 1):
        for d, kind in devices_of(i):
            by_kind.setdefault(kind, []).append(d)
    for devs in by_kind.values():
        rnd.shuffle(devs)
    turn = {k: 0 for k in by_kind}
    levels = {}
    # The kinds take the slots in a fixed weighted pattern, so that every
    # device reports at a steady interval (its heartbeat) and none looks offline.
    pattern = []
    for k in sorted(KIND_WEIGHT):
        pattern += [k] * KIND_WEIGHT[k]
    rnd.shuffle(pattern)
    with open(path, "w") as f:
        for k in range(n):
            kind = pattern[k % len(pattern)]
            devs = by_kind[kind]
            dev = devs[turn[kind] % len(devs)]
            turn[kind] += 1
            body = json.dumps(payload(rnd, kind, k, dev, levels), separators=(",", ":"))
            f.write(json.dumps({"topic": "anxin/v1/%s/telemetry" % dev,
                                "received": T0 + k * STEP_MS, "payload": body},
                               separators=(",", ":")) + "\n")


def head(src, dst, n):
    with open(src) as f, open(dst, "w") as g:
        for k, line in enumerate(f):
            if k == n:
                break
            g.write(line)


# ---- generated rules --------------------------------------------------------

CHAINS = """chain emergency {
    at 0s notify priority 1 by sms, voice
    at 0s notify console
    at 5m notify grid_worker by voice
    repeat every 5m until acknowledged
}

chain welfare_check {
    at 0s notify priority 1 by sms
    at 30m notify grid_worker by voice
}

chain technical {
    at 0s notify maintainer by sms
    repeat every 1d until acknowledged
}
"""

# One line per kind of rule: (share name, function i, rnd -> rule body lines).
# Every generated set starts with device_offline (others are suppressed by it).

def _scope(rnd, i):
    """Extra scopes on some rules, as counties write them."""
    s = []
    r = i % 10
    if r == 1:
        s.append("for elders %s" % ", ".join(sorted({CATS[i % 6], CATS[(i // 6) % 6]})))
    elif r == 3:
        s.append("for risk high, medium")
    elif r == 5:
        s.append('for village "%s"' % VILLAGES[i % len(VILLAGES)])
    elif r == 7:
        s.append("during 22:00-06:00")
    elif r == 8:
        s.append("on weekends")
    return s


def t_hr(rnd, i):
    hi = rnd.randint(125, 180)
    return (["when hr.bpm > %d bpm for %dm" % (hi, rnd.randint(1, 10)),
             "clear when hr.bpm < %d bpm for 5m" % (hi - 10),
             "for devices wearable"], "high", "emergency", True)


def t_hr_plan(rnd, i):
    return (["when hr.bpm > care_plan.hr.max default %d bpm for %dm" % (rnd.randint(125, 150),
                                                                          rnd.randint(2, 5)),
             "  or hr.bpm < care_plan.hr.min default %d bpm for 2m" % rnd.randint(35, 45)],
            "high", "emergency", True)


def t_spo2(rnd, i):
    return (["when spo2.pct < %d %% for %dm" % (rnd.randint(82, 90), rnd.randint(2, 10))],
            "high", "emergency", True)


def t_bp(rnd, i):
    return (["when bp.sys > %d mmHg or bp.dia > %d mmHg" % (rnd.randint(170, 200),
                                                            rnd.randint(105, 125))],
            "medium", "welfare_check", True)


def t_temp(rnd, i):
    return (["when temp.c > %.1f C for %dm" % (rnd.uniform(38.3, 39.5), rnd.randint(10, 60))],
            "medium", "welfare_check", False)


def t_combo(rnd, i):
    return (["when hr.bpm > %d bpm and spo2.pct < %d %%" % (rnd.randint(115, 140),
                                                           rnd.randint(85, 90))],
            "high", "emergency", True)


def t_water_idle(rnd, i):
    h = rnd.choice([6, 8, 12, 18, 24])
    return (["when sum(water.flow_l) over %dh < %d L" % (h, rnd.randint(3, 20)),
             "clear when sum(water.flow_l) over 1h >= 10 L",
             "for elders living_alone, empty_nest, left_behind"],
            "high", "welfare_check", True)


def t_water_excess(rnd, i):
    return (["when sum(water.flow_l) over 24h > %d L" % rnd.randint(1500, 3000)],
            "medium", "welfare_check", True)


def t_hr_avg(rnd, i):
    return (["when avg(hr.bpm) over %dm > %d bpm" % (rnd.choice([10, 30, 60]),
                                                     rnd.randint(105, 125))],
            "medium", "welfare_check", True)


def t_power(rnd, i):
    return (["when max(power.w) over 1h > %d W" % rnd.randint(2600, 5000)],
            "low", "technical", False)


def t_power_idle(rnd, i):
    return (["when sum(power.kwh) over 24h < %d kWh" % rnd.randint(1, 5),
             "for devices power_meter"], "medium", "welfare_check", True)


def t_bathroom(rnd, i):
    return (["when room.bathroom is true for %dh" % rnd.randint(2, 5),
             "clear when room.bathroom is false"], "high", "welfare_check", True)


def t_door(rnd, i):
    return (["when door.open is true for %dm" % rnd.choice([30, 60, 120]),
             "during 22:00-06:00"], "medium", "welfare_check", False)


def t_motion(rnd, i):
    return (["when count(motion.active) over %dh < %d" % (rnd.choice([6, 12]),
                                                          rnd.randint(1, 3))],
            "medium", "welfare_check", True)


def t_battery(rnd, i):
    lo = rnd.randint(5, 25)
    return (["when battery.pct < %d %%" % lo, "clear when battery.pct > %d %%" % (lo + 5)],
            "low", "technical", False)


def t_absent(rnd, i):
    kind = rnd.choice(["sos_button", "water_meter", "wearable", "bathroom_sensor",
                       "door_sensor", "power_meter"])
    if rnd.random() < 0.5:
        w = "when no message for %d x heartbeat" % rnd.randint(3, 8)
    else:
        w = "when no message for %dh" % rnd.randint(2, 24)
    return ([w, "for devices %s" % kind], "low", "technical", False)


def t_event(rnd, i):
    ev = rnd.choice(["fall", "sos", "smoke, gas", "water_leak", "wander", "tamper"])
    return (["when event %s" % ev], "critical", "emergency", False)


# kind -> (template, weight); the weights give the mix of a generated set.
TEMPLATES = [
    ("heart rate", t_hr, 12), ("heart rate (care plan)", t_hr_plan, 6),
    ("SpO2", t_spo2, 6), ("blood pressure", t_bp, 4), ("temperature", t_temp, 4),
    ("hr and SpO2", t_combo, 4), ("water idle", t_water_idle, 8),
    ("water excess", t_water_excess, 4), ("avg heart rate", t_hr_avg, 4),
    ("power max", t_power, 4), ("power idle", t_power_idle, 3),
    ("bathroom", t_bathroom, 6), ("door at night", t_door, 5), ("motion", t_motion, 4),
    ("battery", t_battery, 8), ("absence", t_absent, 8), ("event", t_event, 10),
]


def generated_rules(n, seed=3):
    """n rules: device_offline, then a weighted mix of TEMPLATES."""
    rnd = random.Random(seed + n)
    out, mix = [], {}
    out.append("rule device_offline {\n    when no message for 3 x heartbeat\n"
               "    severity low\n    chain technical\n}\n")
    mix["absence"] = 1
    names = [t[0] for t in TEMPLATES]
    weights = [t[2] for t in TEMPLATES]
    fns = {t[0]: t[1] for t in TEMPLATES}
    for i in range(1, n):
        name = rnd.choices(names, weights)[0]
        mix[name] = mix.get(name, 0) + 1
        lines, sev, chain, supp = fns[name](rnd, i)
        scope = _scope(rnd, i)
        if any(l.startswith("during") for l in lines):
            scope = [s for s in scope if not s.startswith(("during", "on "))]
        scope = [s for s in scope if not any(l.split()[:2] == s.split()[:2] for l in lines)]
        body = ["    " + l if not l.startswith("  ") else "    " + l for l in lines]
        body += ["    " + s for s in scope]
        body += ["    severity %s" % sev, "    chain %s" % chain]
        if supp and i % 3 != 0:
            body.append("    suppressed by device_offline")
        out.append("rule g%04d {\n%s\n}\n" % (i, "\n".join(body)))
    out.append(CHAINS)
    return "\n".join(out), mix


# ---- running ----------------------------------------------------------------

def write_set(name):
    """The rules folder of a set, and its rule count and mix."""
    if name == "default":
        return os.path.join(ROOT, "conf", "rules.d"), 9, None
    d = os.path.join(RUN, "rules-" + name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    if name == "none":
        text, n, mix = CHAINS, 0, None
    else:
        n = int(name)
        text, mix = generated_rules(n)
    with open(os.path.join(d, "gen.rules"), "w") as f:
        f.write(text)
    r = subprocess.run([CTL, "check", "--rules", d], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("generated rules do not pass `anxinctl check`:\n" + r.stdout + r.stderr)
    return d, n, mix


def replay_cmd(rules, reg, data):
    return [CTL, "replay", "--summary", "--rules", rules, "--registry", reg, data]


def summary_line(stderr):
    lines = [l for l in stderr.splitlines() if l.startswith("replay:")]
    if not lines:
        sys.exit("replay printed no summary:\n" + stderr[-3000:])
    return lines[-1]


def callgrind(tag, rules, reg, data):
    """Runs the replay under callgrind; returns (total Ir, {fn: (self, incl)}, summary)."""
    out = os.path.join(RUN, "callgrind.%s.out" % tag)
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out] + \
        replay_cmd(rules, reg, data)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("callgrind run failed:\n" + r.stderr[-3000:])
    line = summary_line(r.stderr)
    funcs = {}
    for inclusive in (False, True):
        a = subprocess.run(["callgrind_annotate", "--auto=no",
                            "--inclusive=%s" % ("yes" if inclusive else "no"),
                            "--threshold=100", out], capture_output=True, text=True, check=True)
        total = None
        for l in a.stdout.splitlines():
            m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?PROGRAM TOTALS", l)
            if m:
                total = int(m.group(1).replace(",", ""))
                continue
            m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*?):(\S+?)(?: \[.*\])?\s*$", l)
            if m:
                fn = m.group(3)
                ir = int(m.group(1).replace(",", ""))
                s, i = funcs.get(fn, (0, 0))
                funcs[fn] = (s, max(i, ir)) if inclusive else (s + ir, i)
    if total is None:
        sys.exit("callgrind_annotate gave no total for " + out)
    return total, funcs, line, out


def engine_lines(out):
    """{line of lib/engine.c: Ir} from callgrind_annotate's source annotation
    (inlined static functions are counted on their own lines)."""
    a = subprocess.run(["callgrind_annotate", "--auto=yes", out], capture_output=True,
                       text=True, check=True, cwd=ROOT).stdout
    lines, inside, ln = {}, False, None
    for l in a.splitlines():
        if l.startswith("-- Auto-annotated source:"):
            inside = l.rstrip().endswith("lib/engine.c")
            ln = None
            continue
        if not inside:
            continue
        m = re.match(r"-- line (\d+) -+", l)
        if m:
            ln = int(m.group(1))
            continue
        if ln is None:
            continue
        m = re.match(r"\s*([\d,]+|\.)\s+(?:\(\s*[\d.]+%\)\s+)?(=>)?", l)
        if not m:
            continue
        if m.group(2):          # a call line: cost of the callee, not of this line
            continue
        if m.group(1) != ".":
            lines[ln] = lines.get(ln, 0) + int(m.group(1).replace(",", ""))
        ln += 1
    return lines


def function_lines(name):
    """First and last line of a function's definition in lib/engine.c."""
    with open(os.path.join(ROOT, "lib", "engine.c")) as f:
        src = f.read().splitlines()
    for i, l in enumerate(src):
        if re.match(r"^(static )?[\w ]+\**\s*\b%s\(" % re.escape(name), l):
            for j in range(i, len(src)):
                if src[j] == "}":
                    return i + 1, j + 1
    return None


ENGINE_FUNCS = ["find_state", "get_state", "update_leaves", "eval_device_rules",
                "eng_on_message", "eval_rule", "eval_leaf", "eval_node", "in_time_scope",
                "next_time_scope_change", "suppressed", "in_static_scope", "compare",
                "threshold", "why_add", "note_due", "emit_event", "heap_set", "heap_up",
                "heap_down", "get_dev", "eng_advance", "eval_events_only", "why_truncate"]


def wall(rules, reg, data, n):
    best = None
    for _ in range(2):
        t = time.monotonic()
        r = subprocess.run(replay_cmd(rules, reg, data), capture_output=True, text=True)
        w = time.monotonic() - t
        if r.returncode != 0:
            sys.exit("replay failed:\n" + r.stderr[-3000:])
        if best is None or w < best[0]:
            best = (w, summary_line(r.stderr))
    return best


def fmt(n):
    return "{:,}".format(int(round(n)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--messages", type=int, default=20000,
                    help="N: the runs replay N and 2N messages (default 20000)")
    ap.add_argument("--elders", type=int, default=100)
    ap.add_argument("--sets", default="none,default,10,100,1000")
    ap.add_argument("--wall-messages", type=int, default=100000,
                    help="messages of the native wall-time table (0: none)")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--command", default="bench/rules.py")
    ap.add_argument("--out")
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("valgrind is needed (apt-get install valgrind)")
    if not os.path.exists(CTL):
        sys.exit("no %s: build first (make O=%s all)" % (CTL, os.path.relpath(BUILD, ROOT)))
    started = time.monotonic()
    os.makedirs(RUN, exist_ok=True)
    n = args.messages
    global STEP_MS
    STEP_MS = 86400000 // n
    reg = os.path.join(RUN, "registry.json")
    with open(reg, "w") as f:
        json.dump(registry(args.elders), f, ensure_ascii=False)
    full = os.path.join(RUN, "messages.jsonl")
    messages(full, max(2 * n, args.wall_messages), args.elders)
    d1, d2 = os.path.join(RUN, "messages-n.jsonl"), os.path.join(RUN, "messages-2n.jsonl")
    head(full, d1, n)
    head(full, d2, 2 * n)
    n_dev = sum(len(devices_of(i)) for i in range(1, args.elders + 1))

    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    rows = []
    for name in sets:
        rules, n_rules, mix = write_set(name)
        log("%s: callgrind over %d and %d messages" % (name, n, 2 * n))
        t = time.monotonic()
        tot1, f1, _, out1 = callgrind(name + ".n", rules, reg, d1)
        tot2, f2, line, out2 = callgrind(name + ".2n", rules, reg, d2)
        secs = time.monotonic() - t
        eng1 = f1.get("sim_message", (0, 0))[1]
        eng2 = f2.get("sim_message", (0, 0))[1]
        rows.append({"name": name, "rules": n_rules, "mix": mix, "tot1": tot1, "tot2": tot2,
                     "total": (tot2 - tot1) / n, "engine": (eng2 - eng1) / n,
                     "eng1": eng1, "f1": f1, "f2": f2, "line": line,
                     "out1": out1, "out2": out2,
                     "secs": secs})
        log("%s: %s Ir/msg total, %s engine path (%.0f s)" % (
            name, fmt(rows[-1]["total"]), fmt(rows[-1]["engine"]), secs))

    base = next((r for r in rows if r["name"] == "none"), None)
    wall_rows = []
    if args.wall_messages:
        for name in sets:
            rules = os.path.join(ROOT, "conf", "rules.d") if name == "default" else \
                os.path.join(RUN, "rules-" + name)
            w, line = wall(rules, reg, full, args.wall_messages)
            wall_rows.append((name, w, line))
            log("%s: wall %.2f s over %d messages" % (name, w, args.wall_messages))

    # ---- report ----
    L = []
    L.append("# Rule engine cost: instructions per message and per rule")
    L.append("")
    L.append("Command: `%s`%s" % (args.command, "" if args.command.startswith("bench/run") else ""))
    L.append("")
    L.append("Machine: %s, %d cores; build `%s/` (-O2 -g); %s; %s." % (
        platform.platform(), os.cpu_count(), os.path.relpath(BUILD, ROOT),
        subprocess.run(["valgrind", "--version"], capture_output=True, text=True).stdout.strip(),
        datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")))
    L.append("")
    L.append("Registry: %d elders, %d devices (SOS button, water meter, wearable each; "
             "bathroom and door sensors for every second elder, a power meter for every "
             "fourth). Recording: one message every %.2f virtual seconds, so that N messages "
             "make one virtual day (%.0f h for 2N, from a Tuesday 00:00 local time), wearables 40 %%, water meters 20 %%, SOS buttons, bathroom, "
             "door and power sensors 10 %% each, each device at a steady interval (its "
             "heartbeat in the registry: %s); a wearable reports heart rate, SpO2 and "
             "battery (blood pressure, temperature now and then); about 2 %% of readings "
             "out of range, a few SOS presses and falls."
             % (args.elders, n_dev, STEP_MS / 1000, 2 * n * STEP_MS / 3600000,
                ", ".join("%s %.0f s" % kv for kv in sorted(intervals(args.elders).items()))))
    L.append("")
    L.append("Method: `valgrind --tool=callgrind anxinctl replay --summary` over the first "
             "N = %s and the first 2N = %s messages of the same recording; every figure per "
             "message is (2N run - N run) / N, so start-up (rules, registry, engine, absence "
             "tracking) cancels exactly and the devices' rule states are mostly created in "
             "the first half. *Total* is the whole process (the loop: reading the JSON line, "
             "parsing it, then the rest); *engine path* is `sim_message` inclusive: payload "
             "decode, registry lookup, timers (`eng_advance`) and the rule engine, what anxind "
             "does per message after the journal. *Per rule* is engine path minus the "
             "no-rules engine path, divided by the number of rules. *Engine path, day 1* is "
             "the N run's `sim_message` over N: the first day, with every device's first "
             "message (its rule states and windows are created then) but no start-up."
             % (fmt(n), fmt(2 * n)))
    L.append("")
    L.append("| rules | Ir/msg total | Ir/msg engine path | over no rules | per rule per msg "
             "| engine path, day 1 | alerts (2N run) |")
    L.append("|---|---|---|---|---|---|---|")
    for r in rows:
        label = {"none": "none (0)", "default": "default (9)"}.get(r["name"], r["name"] +
                                                                   " generated")
        extra = r["engine"] - base["engine"] if base else 0
        per = extra / r["rules"] if r["rules"] and base else None
        m = re.search(r"alerts: (.*)$", r["line"])
        L.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            label, fmt(r["total"]), fmt(r["engine"]),
            "-" if r["name"] == "none" or not base else "+" + fmt(extra),
            "-" if per is None else fmt(per), fmt(r["eng1"] / n), m.group(1) if m else ""))
    L.append("")
    gen = [r for r in rows if r["mix"]]
    if gen:
        big = max(gen, key=lambda r: r["rules"])
        L.append("Mix of the generated %d rules (the smaller sets draw from the same weights): %s."
                 % (big["rules"], ", ".join("%s %d" % (k, v) for k, v in sorted(
                     big["mix"].items(), key=lambda kv: -kv[1]))))
        L.append("")
    if len(gen) >= 2:
        L.append("Growth of the per-message cost over the no-rules path:")
        L.append("")
        for a, b in zip(gen, gen[1:]):
            ea, eb = a["engine"] - base["engine"], b["engine"] - base["engine"]
            L.append("- %d -> %d rules (x%g): x%.1f" % (a["rules"], b["rules"],
                                                      b["rules"] / a["rules"], eb / ea))
        L.append("")
    big = max(rows, key=lambda r: r["rules"])
    diff = []
    for fn, (s2, i2) in big["f2"].items():
        s1, i1 = big["f1"].get(fn, (0, 0))
        diff.append((fn, (s2 - s1) / n, (i2 - i1) / n))
    diff.sort(key=lambda x: -x[1])
    eng = big["engine"]
    L.append("Top functions, %s rules, per message (own instructions, 2N run minus N run; "
             "static functions inlined by -O2 count in their caller):" % big["name"])
    L.append("")
    L.append("| function | Ir/msg (self) | % of engine path | Ir/msg (inclusive) |")
    L.append("|---|---|---|---|")
    for fn, s, i in diff[:args.top]:
        L.append("| `%s` | %s | %.1f %% | %s |" % (fn, fmt(s), 100 * s / eng if eng else 0,
                                                   fmt(i)))
    L.append("")
    # Source level: lib/engine.c's functions by their own lines, so that what
    # -O2 inlined (find_state into get_state, eng_on_message and eval_rule;
    # update_leaves into eng_on_message) is counted where it is written.
    l1, l2 = engine_lines(big["out1"]), engine_lines(big["out2"])
    src = []
    for fn in ENGINE_FUNCS:
        rng = function_lines(fn)
        if not rng:
            continue
        ir = sum(l2.get(k, 0) - l1.get(k, 0) for k in range(rng[0], rng[1] + 1)) / n
        src.append((fn, rng, ir))
    src.sort(key=lambda x: -x[2])
    L.append("`lib/engine.c` by the function each line belongs to, %s rules, per message "
             "(own lines only; inlined code is counted where it is written):" % big["name"])
    L.append("")
    L.append("| function (lines) | Ir/msg | % of engine path |")
    L.append("|---|---|---|")
    for fn, rng, ir in src:
        if ir >= 0.005 * eng:
            L.append("| `%s` (%d-%d) | %s | %.1f %% |" % (fn, rng[0], rng[1], fmt(ir),
                                                         100 * ir / eng if eng else 0))
    L.append("")
    L.append("Callgrind runs took %.0f s in all. Outputs: `%s/callgrind.*.out` "
             "(`callgrind_annotate FILE`)." % (sum(r["secs"] for r in rows),
                                               os.path.relpath(RUN, ROOT)))
    L.append("")
    if wall_rows:
        L.append("Wall time, native (no valgrind), %s messages of the same recording, best of "
                 "2; includes loading the rules and the registry:" % fmt(args.wall_messages))
        L.append("")
        L.append("| rules | wall time | msg/s (whole run) | anxinctl's own figure |")
        L.append("|---|---|---|---|")
        for name, w, line in wall_rows:
            L.append("| %s | %.2f s | %.0f | %s |" % (name, w, args.wall_messages / w,
                                                     line.replace("replay: ", "")))
        L.append("")
    L.append("Run time of this script: %.0f s." % (time.monotonic() - started))
    report = "\n".join(L) + "\n"
    print(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report)


if __name__ == "__main__":
    main()
