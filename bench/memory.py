#!/usr/bin/python3
"""bench/memory.py - the memory section of bench/run (run it through bench/run).

anxind's resident memory per monitored device. For each registry size
(--sizes, default 10,000, 100,000 and 1,000,000 devices, made by
bench/registry.py: 2.5 devices an elder, two contacts each) the registry
goes into a database of its own (`anxinctl import`, timed), a fresh anxind
(no saved engine state) starts on it, and once /readyz says 200 its VmRSS
and VmHWM are read from /proc/PID/status. A baseline anxind on an empty
registry is measured the same way; bytes per device = (RSS - baseline RSS)
/ devices.

Then the rule state: every device sends --rounds messages (default 2)
through the broker (build/anxin-load, QoS 1, each message carrying
water.flow_l, battery.pct and hr.bpm, so every device gets every rule's
state: the worst case), and RSS is read after each round, then watched
for --hold seconds (default 35: the engine state is saved every 30 s; its
buffer is in anxind's peak up to 85b57eb, in a forked child since 099979b).
The engine keys its windows on the receive time (daemon/mqttb.c stamps
each message; the message's own `ts` only becomes an alert's event
time), so anxind cannot be fed an hour at
virtual time; it does not need to be: a window is a fixed ring of 48+1
buckets allocated whole when the first message that concerns it arrives
(lib/window.h), so the state after one message per device is the state
after an hour (or a day) of telemetry, and the second round shows that it
no longer grows. glibc's malloc_stats() (through gdb, if installed) tells
memory in use from memory malloc keeps free.
"""
import argparse
import os
import sys
import time

import benchlib as B
from benchlib import log

MiB = 1024 * 1024


def kb(x):
    return x * 1024


def measure_loaded(d, devices, timeout):
    """Starts d, waits for /readyz 200, settles; returns a dict of figures."""
    t0 = d.start()
    _, t_ready = d.wait_ready(timeout)
    time.sleep(2)
    st = d.status()
    ms = d.malloc_stats()
    reg_ms = None
    _, text = d.first_line(r"^registry: .*\((\d+) ms\)", t0 - 1)
    if text:
        reg_ms = int(text.rsplit("(", 1)[1].split()[0])
    return {"ready_s": t_ready - t0, "rss": st["VmRSS"], "hwm": st["VmHWM"],
            "anon": st["RssAnon"], "malloc": ms, "registry_ms": reg_ms}


def main():
    B.set_name("memory")
    ap = argparse.ArgumentParser(prog="bench/run memory")
    ap.add_argument("--sizes", default="10000,100000,1000000",
                    help="registry sizes in devices, comma-separated")
    ap.add_argument("-r", "--rounds", type=int, default=2,
                    help="telemetry rounds: one message from every device each")
    ap.add_argument("--hold", type=float, default=35,
                    help="seconds to watch RSS after the last round (an engine snapshot)")
    ap.add_argument("--mix", choices=("all", "real"), default="all",
                    help="all: every message carries every metric (every rule's state for "
                    "every device, the upper bound); real: each device reports what its "
                    "kind does (SOS buttons battery, water meters water, wearables heart "
                    "rate and battery)")
    ap.add_argument("--out")
    ap.add_argument("--command", default="bench/run memory")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]

    mach = B.Machine()
    src = B.source()
    B.fresh_run()
    res = {}
    d = None
    try:
        # Baseline: the same anxind on an empty registry.
        B.create_db("mem_0")
        d = B.Anxind("anxind-0", "mem_0", "anxind-mem-0", "m0/v1")
        base = measure_loaded(d, 0, 60)
        d.stop()
        d = None
        log("baseline (empty registry): VmRSS %d kB, VmHWM %d kB" % (base["rss"], base["hwm"]))

        for n in sizes:
            r = {}
            db = "mem_%d" % n
            B.create_db(db)
            reg = os.path.join(B.RUN, "registry-%d.json" % n)
            r["gen_s"] = B.make_registry(n, reg)
            r["file_mb"] = os.path.getsize(reg) / 1e6
            r["import_s"] = B.import_registry(db, reg)
            os.unlink(reg)
            log("%d devices: registry made in %.1f s (%.0f MB), imported in %.1f s"
                % (n, r["gen_s"], r["file_mb"], r["import_s"]))

            prefix = "m%d/v1" % n          # a topic prefix per size: no session queues
            d = B.Anxind("anxind-%d" % n, db, "anxind-mem-%d" % n, prefix)
            r.update(measure_loaded(d, n, 600))
            log("%d devices: ready in %.1f s, VmRSS %d kB (%.0f B/device over the baseline)"
                % (n, r["ready_s"], r["rss"], kb(r["rss"] - base["rss"]) / n))

            r["rounds"] = []
            for k in range(1, args.rounds + 1):
                pub_s, _ = B.publish(prefix, n, n, by_kind=args.mix == "real")
                t, m = d.wait(lambda m: m.get("anxin_messages_processed_total", 0) >= k * n,
                              900, "round %d processed" % k, 0.2)
                time.sleep(1)
                st = d.status()
                r["rounds"].append({"rss": st["VmRSS"], "hwm": st["VmHWM"], "pub_s": pub_s})
                log("%d devices: round %d (%d messages, published in %.1f s): VmRSS %d kB, "
                    "VmHWM %d kB" % (n, k, n, pub_s, st["VmRSS"], st["VmHWM"]))
            m = d.metrics()
            r["alerts"] = m.get("anxin_alerts_opened_total", 0)
            r["processed"] = m.get("anxin_messages_processed_total", 0)
            hold = []
            end = time.monotonic() + args.hold
            while time.monotonic() < end:
                hold.append(d.status()["VmRSS"])
                time.sleep(0.5)
            st = d.status()
            r["hold_max"], r["hold_min"] = max(hold), min(hold)
            r["final_rss"], r["final_hwm"] = st["VmRSS"], st["VmHWM"]
            r["malloc_after"] = d.malloc_stats()
            m = d.metrics()
            r["save_pause_ms"] = m.get("anxin_engine_save_pause_seconds", 0) * 1000
            snap = os.path.join(d.journal, "engine.snap")
            r["snap_mb"] = os.path.getsize(snap) / 1e6 if os.path.exists(snap) else 0
            r["stop_s"] = d.stop(600)
            d = None
            log("%d devices: after %.0f s watching: VmRSS %d..%d kB, VmHWM %d kB; engine.snap "
                "%.0f MB; stop took %.1f s" % (n, args.hold, r["hold_min"], r["hold_max"],
                                              r["final_hwm"], r["snap_mb"], r["stop_s"]))
            res[n] = r
            # The database is not needed any more; keep the disk small.
            B.psql("postgres", "DROP DATABASE " + db)
    finally:
        if d:
            d.stop(600)
        B.services("mq-stop")
        B.services("pg-stop")

    def per(rss_kb, n):
        return kb(rss_kb - base["rss"]) / n

    lines = [
        "# Memory: anxind's resident memory per device",
        "",
        "Command: `%s`" % args.command,
        "",
        mach.line(),
        "",
        "anxind build `%s` (%s), default rules, log level info; a fresh anxind (no saved engine "
        "state) per size. Registry from `bench/registry.py`: 2.5 devices an elder (an SOS "
        "button and a water meter each, a wearable for every other one), two contacts an "
        "elder, every elder living alone. Baseline: the same anxind on an empty registry, "
        "VmRSS %.1f MiB (VmHWM %.1f MiB). Bytes per device = (VmRSS - baseline VmRSS) / "
        "devices." % (os.path.basename(B.BUILD), src, kb(base["rss"]) / MiB,
                      kb(base["hwm"]) / MiB),
        "",
        "## Registry loaded",
        "",
        "| devices | elders | registry.py s | file MB | import s | anxind ready s "
        "(registry load s) | VmRSS MiB | bytes/device | VmHWM MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n, r in res.items():
        lines.append("| %d | %d | %.1f | %.0f | %.1f | %.1f (%s) | %.1f | %.0f | %.1f |" % (
            n, B.elders_for(n), r["gen_s"], r["file_mb"], r["import_s"], r["ready_s"],
            "%.1f" % (r["registry_ms"] / 1000) if r["registry_ms"] is not None else "?",
            kb(r["rss"]) / MiB, per(r["rss"], n), kb(r["hwm"]) / MiB))
    lines += [
        "",
        ("## After telemetry: every rule's state for every device" if args.mix == "all" else
         "## After telemetry: each device reporting what its kind does"),
        "",
        ("%d round(s), one message from every device each (water.flow_l, battery.pct, hr.bpm: "
         "every device gets the state of water_idle, water_excess, heart_rate, battery_low and "
         "device_offline, 4 windows a device; a real water meter would not carry hr.bpm, so "
         "this is the upper bound)." if args.mix == "all" else
         "%d round(s), one message from every device each, carrying what its kind reports "
         "(`--mix real`: SOS buttons battery.pct, water meters water.flow_l, wearables hr.bpm "
         "and battery.pct).") % args.rounds +
        " VmRSS read 1 s after a round was processed, then watched "
        "for %.0f s (anxind saves its engine state every 30 s)." % args.hold,
        "",
        "| devices | " + " | ".join("VmRSS after round %d MiB" % (k + 1)
                                    for k in range(args.rounds))
        + " | bytes/device after the last round | VmRSS watched min..max MiB | VmHWM MiB "
          "| engine.snap MB | last save's fork ms | stop s |",
        "|---|" + "---|" * args.rounds + "---|---|---|---|---|---|",
    ]
    for n, r in res.items():
        lines.append("| %d | %s | %.0f | %.1f..%.1f | %.1f | %.1f | %.1f | %.1f |" % (
            n, " | ".join("%.1f" % (kb(x["rss"]) / MiB) for x in r["rounds"]),
            per(r["rounds"][-1]["rss"], n), kb(r["hold_min"]) / MiB, kb(r["hold_max"]) / MiB,
            kb(r["final_hwm"]) / MiB, r["snap_mb"], r["save_pause_ms"], r["stop_s"]))
    if any(r["malloc"] for r in res.values()):
        lines += [
            "",
            "## What malloc holds (glibc malloc_stats, all arenas, mmap included)",
            "",
            "| devices | loaded: in use MiB | loaded: held MiB | after telemetry: in use MiB | "
            "after telemetry: held MiB | in use/device loaded B | in use/device after B |",
            "|---|---|---|---|---|---|---|",
        ]
        bm = base["malloc"] or (0, 0)
        for n, r in res.items():
            a, b = r["malloc"] or (0, 0), r["malloc_after"] or (0, 0)
            lines.append("| %d | %.1f | %.1f | %.1f | %.1f | %.0f | %.0f |" % (
                n, a[1] / MiB, a[0] / MiB, b[1] / MiB, b[0] / MiB, (a[1] - bm[1]) / n,
                (b[1] - bm[1]) / n))
        lines += ["", "Baseline: in use %.1f MiB, held %.1f MiB." % (bm[1] / MiB,
                                                                    bm[0] / MiB)]
    big = max(res) if res else None
    if big:
        r = res[big]
        after = per(r["rounds"][-1]["rss"], big)
        lines += ["", "Messages processed %d, alerts opened %d (at %d devices)." % (
            r["processed"], r["alerts"], big)]
        lines += ["", "Target (under 1 KiB a device at %d devices): registry loaded %.0f B: "
                  "%s; %s %.0f B: %s." % (
                      big, per(r["rss"], big), "met" if per(r["rss"], big) < 1024 else "NOT met",
                      "with every rule's state" if args.mix == "all"
                      else "after telemetry, each device reporting what its kind does",
                      after, "met" if after < 1024 else "NOT met")]
    B.write_report(lines, args.out)


if __name__ == "__main__":
    sys.exit(main())
