#!/usr/bin/python3
"""bench/startup.py - the start-up and recovery section of bench/run (run it
through bench/run).

(a) Start-up. A registry of --devices devices (default 1,000,000: 400,000
elders, made by bench/registry.py and imported with `anxinctl import`) and
--alerts open alerts (default 100,000) whose escalation chains have a
pending step, made in bulk with SQL the way anxin_alert_open leaves them:
a `water_idle` alert (chain welfare_check, opened 40-50 minutes ago by
another node, the 0 s and 30 min steps done: step_reached 1) on the water
meter of elders 1..N, and one escalation_timers row each (kind 'step',
step 2, due at opened + 2 h, so 70-80 minutes ahead: nothing fires during
the measurement). anxind keeps the timers in PostgreSQL, not in memory: at
start it loads the open alerts (daemon/store.c, load_alerts) and from then
on claims due timers once a second (anxin_claim_timers); the check that it
holds them is the `registry: ... N live alerts` log line and the
anxin_alerts_live gauge, plus the timers still pending and unclaimed after
the run. Each round starts anxind and polls /metrics and /readyz every 20 ms:
the time to /metrics answering and to /readyz saying 200, and the log
lines' time stamps of the phases (database, registry, engine state,
HTTP, ready, MQTT connected). --rounds rounds (default 3), medians:
  cold  no saved engine state (the journal folder removed before each
        round): a first start, or one after the state was lost;
  warm  a restart: every device has sent a message (--mix real: what its
        kind reports, as memory.py's; --mix all: every metric, so the engine
        holds every rule's state for every device: the upper bound), anxind
        was stopped (it saves its state then) and is started again; the
        saved state is restored.
        (The devices table is vacuumed after that round, as autovacuum
        would: anxind has just written every device's last_seen.)
(b) Recovery after a broker outage. anxind connected and idle (warm state);
the broker is stopped (services.sh mq-stop; persistence on, so anxind's
session and subscription survive) for --outage seconds (default 60),
started again, and at once a backlog of B messages is published for
anxind's session (default: what the devices send in the outage if each
reports every --report-every seconds, 600: 1,000,000 x 60 / 600 = 100,000),
as devices that buffered their readings would. Measured: broker back ->
anxind's "mqtt: connected" log line (its reconnect backoff: Paho's automatic
reconnect, 1 s doubling to 30 s), and -> anxin_messages_processed_total
showing the backlog processed (polled every 50 ms); catch-up rate = B /
(processed - connected). --recovery-rounds rounds (default 3), medians.
The stop after the telemetry is timed (SIGTERM to exit); with
--stop-in-save it comes while a background save of the engine state runs,
1000 messages after it began (the stop's own save must hold them).
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

import benchlib as B
from benchlib import log

DB = "startup"
PREFIX = "anxd/v1"
CLIENT = "anxind-startup"

# Log lines marking the start-up phases, in order (the first match after
# the process was started).
PHASES = [
    ("starting", r"^anxind .* starting"),
    ("registry and open alerts loaded", r"^registry: \d+ elders"),
    ("engine state restored", r"^rules: engine state restored"),
    ("HTTP listening", r"^http: listening"),
    ("ready (log)", r"^ready: "),
    ("database connected (loop)", r"^database: connected"),
    ("MQTT connected", r"^mqtt: connected"),
]


def seed_alerts(n, elders):
    """n open alerts with a pending escalation step each; returns seconds."""
    if n > elders:
        sys.exit("--alerts %d is more than the registry's %d elders" % (n, elders))
    t = time.monotonic()
    # Elder e's devices (bench/registry.py): SOS button e, water meter elders + e.
    dev = "'D-' || CASE WHEN %d + g < 1000000 THEN lpad((%d + g)::text, 6, '0') " \
          "ELSE (%d + g)::text END" % (elders, elders, elders)
    B.psql(DB, """
BEGIN;
INSERT INTO alerts (id, elder_id, device_id, rule, severity, chain, state, ack_code,
                    event_ts, opened_at, last_fired_at, fire_count, source_node, source_seq,
                    step_reached, ack_timeout_ms)
SELECT 1000000000000 + g, 'BE' || lpad(g::text, 7, '0'), %s, 'water_idle', 'high',
       'welfare_check', 'open', lpad((g %% 1000000)::text, 6, '0'), o, o, o, 1, 'seed', g, 1,
       7200000
  FROM generate_series(1, %d) g,
       LATERAL (SELECT now() - interval '40 minutes' - (g %% 600) * interval '1 second') t(o);
INSERT INTO alert_events (alert_id, at, kind, actor, channel, detail, source_node, source_seq)
SELECT id, opened_at, 'opened', 'anxind:seed', 'mqtt',
       jsonb_build_object('rule', rule, 'severity', severity, 'device', device_id,
                          'chain', chain), 'seed', source_seq
  FROM alerts WHERE source_node = 'seed';
INSERT INTO escalation_timers (alert_id, kind, step, due_at)
SELECT id, 'step', 2, opened_at + interval '2 hours' FROM alerts WHERE source_node = 'seed';
COMMIT;
""" % (dev, n))
    for table in ("alerts", "alert_events", "escalation_timers"):
        B.psql(DB, "VACUUM ANALYZE " + table)
    return time.monotonic() - t


def pending_timers():
    """(pending and unclaimed, claimed or done, earliest due in minutes)."""
    out = B.psql(DB, "SELECT count(*) FILTER (WHERE done_at IS NULL AND claimed_by IS NULL),"
                     " count(*) FILTER (WHERE claimed_by IS NOT NULL OR done_at IS NOT NULL),"
                     " round(extract(epoch FROM min(due_at) - now()) / 60)"
                     " FROM escalation_timers").strip().split("|")
    return int(out[0]), int(out[1]), out[2]


def claim_cost():
    """The once-a-second claim's own query with these timers pending (none due):
    EXPLAIN ANALYZE of its selection, ms."""
    out = B.psql(DB, "EXPLAIN (ANALYZE, FORMAT TEXT) SELECT t.id FROM escalation_timers t"
                     " WHERE t.done_at IS NULL AND t.due_at <= now()"
                     " AND (t.claimed_by IS NULL OR t.claimed_at < now() - interval '60 seconds')"
                     " ORDER BY t.due_at LIMIT 100 FOR UPDATE SKIP LOCKED")
    for line in out.splitlines():
        if line.startswith("Execution Time:"):
            return float(line.split()[2])
    return None


def registry_sql():
    """The registry scans anxind runs at start (regdb_scan_elders, _contacts
    and _devices in daemon/regdb.c), as [(name, sql)]: printed by a small
    program compiled against them. [] if that cannot be built."""
    src = os.path.join(B.RUN, "regsql.c")
    exe = os.path.join(B.RUN, "regsql")
    with open(src, "w") as f:
        f.write('#include <stdio.h>\n#include "regdb.h"\n'
                'int main(void) { printf("%s\\n%s\\n%s\\n", regdb_scan_elders,'
                ' regdb_scan_contacts, regdb_scan_devices); return 0; }\n')
    cflags = subprocess.run(["pkg-config", "--cflags", "libpq", "libcjson"], capture_output=True,
                            text=True).stdout.split()
    libs = subprocess.run(["pkg-config", "--libs", "libpq", "libcjson"], capture_output=True,
                          text=True).stdout.split()
    r = subprocess.run(["cc", "-std=gnu11", "-D_GNU_SOURCE", "-I" + os.path.join(B.ROOT, "lib"),
                        "-I" + os.path.join(B.ROOT, "daemon"), *cflags, src,
                        os.path.join(B.ROOT, "daemon", "regdb.c"),
                        os.path.join(B.BUILD, "libanxin.a"), *libs, "-lm", "-o", exe],
                       capture_output=True, text=True)
    if r.returncode != 0:
        log("cannot build the registry query printer: " + r.stderr.strip()[-300:])
        return []
    out = subprocess.run([exe], capture_output=True, text=True, check=True).stdout
    return list(zip(("registry elders", "registry contacts", "registry devices"),
                    out.splitlines()))


def query_seconds():
    """What anxind's big start-up reads take on the server side, alone: the
    registry's three scans (daemon/regdb.c) and the open alerts
    (daemon/store.c), each COPYed to /dev/null by psql."""
    out = {}
    alerts = ("SELECT a.id, a.elder_id, coalesce(a.device_id, ''), a.rule, a.severity, a.chain,"
              " a.state, a.ack_code, (extract(epoch FROM a.event_ts) * 1000)::bigint,"
              " (extract(epoch FROM a.opened_at) * 1000)::bigint,"
              " (extract(epoch FROM a.last_fired_at) * 1000)::bigint, a.fire_count,"
              " coalesce((SELECT max(ev.source_seq) FROM alert_events ev"
              "           WHERE ev.alert_id = a.id AND ev.source_node = 'bench'), 0)"
              " FROM alerts a WHERE a.state IN ('open', 'acknowledged')")
    for name, q in registry_sql() + [("open alerts", alerts)]:
        t = time.monotonic()
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(B.PG), "-U", "postgres", "-Atq",
                        "-v", "ON_ERROR_STOP=1", "-c", "COPY (%s) TO STDOUT" % q, DB],
                       check=True, stdout=subprocess.DEVNULL)
        out[name] = time.monotonic() - t
    return out


def start_round(d, label, k, alerts, devices):
    """One start: returns a dict of times (s after the process was created)."""
    logpath = os.path.join(d.dir, "anxind-%s-%d.log" % (label, k))
    t0 = d.start(logpath)
    t_metrics, t_ready = d.wait_ready(600)
    # The MQTT connection comes just after; wait for it to be in the log.
    for _ in range(100):
        if d.first_line(r"^mqtt: connected", t0 - 1)[0]:
            break
        time.sleep(0.05)
    r = {"metrics": t_metrics - t0, "ready": t_ready - t0, "phases": {}}
    for name, pat in PHASES:
        t, text = d.first_line(pat, t0 - 1)
        if t is not None:
            r["phases"][name] = max(0.0, t - t0)
            if name.startswith("registry"):
                r["registry_line"] = text
            if name.startswith("engine"):
                r["engine_line"] = text
    m = d.metrics()
    r["alerts_live"] = int(m.get("anxin_alerts_live", -1))
    r["devices"] = int(m.get("anxin_registry_devices", -1))
    r["rss_mb"] = d.status()["VmRSS"] / 1024
    if r["alerts_live"] != alerts or r["devices"] != devices:
        sys.exit("anxind holds %d alerts and %d devices, expected %d and %d; see %s"
                 % (r["alerts_live"], r["devices"], alerts, devices, logpath))
    log("%s start %d: /metrics %.2f s, /readyz 200 %.2f s (%s); %d live alerts" % (
        label, k, r["metrics"], r["ready"],
        ", ".join("%s %.2f" % (n, t) for n, t in r["phases"].items()), r["alerts_live"]))
    return r


def recovery_round(d, k, outage, backlog, devices):
    _, m = d.wait(lambda m: m.get("anxin_mqtt_connected", 0) == 1, 120, "connected")
    base = m.get("anxin_messages_processed_total", 0)
    t_stop = time.time()
    B.services("mq-stop")
    time.sleep(outage)
    t_start = time.time()
    B.services("mq-start", B.MQ)
    t_up = time.time()                  # the broker answers
    pub_s, _ = B.publish(PREFIX, backlog, devices)
    t_pub = time.time()
    t_done = None
    t_conn_metric = None
    end = time.monotonic() + 600
    while time.monotonic() < end:
        d.alive()
        m = d.metrics()
        now = time.time()
        if m is not None:
            if t_conn_metric is None and m.get("anxin_mqtt_connected", 0) == 1:
                t_conn_metric = now
            if m.get("anxin_messages_processed_total", 0) >= base + backlog:
                t_done = now
                break
        time.sleep(0.05)
    if t_done is None:
        sys.exit("the backlog was not processed within 600 s; see " + d.logpath)
    t_lost, _ = d.first_line(r"^mqtt: connection lost.*\(telemetry lane\)", t_stop - 1)
    t_conn, _ = d.first_line(r"^mqtt: connected .*\(telemetry lane\)", t_up - 1)
    if t_conn is None:
        t_conn = t_conn_metric
    r = {"lost": (t_lost - t_stop) if t_lost else None, "reconnect": t_conn - t_up,
         "published": t_pub - t_up, "pub_s": pub_s, "done": t_done - t_up,
         "catchup": t_done - t_conn, "rate": backlog / max(t_done - t_conn, 1e-3),
         "broker_start": t_up - t_start}
    log("recovery %d: broker back after %.0f s down (started in %.1f s); anxind connected "
        "%.2f s later; backlog of %d published in %.2f s; processed %.2f s after the broker "
        "came back (%.2f s after connecting: %.0f msg/s)" % (
            k, outage, r["broker_start"], r["reconnect"], backlog, r["pub_s"], r["done"],
            r["catchup"], r["rate"]))
    return r


def registry_edits(d):
    """Registry changes while anxind runs with every device: one elder edited
    (NOTIFY; anxind reloads that elder) and 1000 at once (an import: anxind
    reloads everything). [(what, ms anxind's loop spent in all and at a
    stretch, per its log line; s from the UPDATE to that line)]."""
    out = []
    for what, count in (("one elder", 1), ("1000 elders (full reload)", 1000)):
        time.sleep(3)       # past the debounce of anything earlier
        t0 = time.time()
        B.psql(DB, "UPDATE elders SET name = name WHERE id IN "
                   "(SELECT id FROM elders ORDER BY id LIMIT %d)" % count)
        end = time.monotonic() + 600
        while True:
            t, text = d.first_line(r"^registry: reloaded", t0 - 0.5)
            if t is not None:
                break
            if time.monotonic() > end:
                sys.exit("no registry reload logged; see " + d.logpath)
            time.sleep(0.1)
        m = re.search(r"the loop spent ([\d.]+) ms in \d+ turns, the longest ([\d.]+) ms", text)
        if m:       # the full reload, in slices
            busy, longest = float(m.group(1)), float(m.group(2))
        else:
            busy = longest = float(re.search(r"\(([\d.]+) ms\)", text).group(1))
        out.append((what, busy, longest, t - t0))
        log("registry edit, %s: the reload kept the loop busy %.1f ms, %.1f ms at a stretch "
            "(logged %.2f s after the UPDATE): %s" % (what, busy, longest, t - t0, text))
    return out


def main():
    B.set_name("startup")
    ap = argparse.ArgumentParser(prog="bench/run startup")
    ap.add_argument("-d", "--devices", type=int, default=1000000)
    ap.add_argument("-a", "--alerts", type=int, default=100000,
                    help="open alerts with a pending escalation step")
    ap.add_argument("-r", "--rounds", type=int, default=3, help="starts per mode")
    ap.add_argument("--modes", default="cold,warm",
                    help="cold, warm, or both: cold,warm (the default) or both")
    ap.add_argument("--mix", choices=("all", "real"), default="real",
                    help="what each device sends before the warm starts: what its kind "
                         "reports (real) or every metric (all)")
    ap.add_argument("--outage", type=float, default=60, help="broker outage, seconds")
    ap.add_argument("--report-every", type=float, default=600,
                    help="seconds between a device's reports (sets the default backlog)")
    ap.add_argument("--backlog", type=int, help="messages published after the outage")
    ap.add_argument("--recovery-rounds", type=int, default=3)
    ap.add_argument("--stop-in-save", action="store_true",
                    help="stop after the telemetry while a background save of the engine "
                         "state runs, with messages it did not see")
    ap.add_argument("--stop-busy", type=int, default=0, metavar="N",
                    help="with --stop-in-save: N busy loops (sessions of their own, nice 0) "
                         "run through the stop, as on a loaded machine")
    ap.add_argument("--out")
    ap.add_argument("--command", default="bench/run startup")
    args = ap.parse_args()
    n = args.devices
    elders = B.elders_for(n)
    backlog = args.backlog or max(1, int(round(n * args.outage / args.report_every)))
    modes = [m for m in args.modes.split(",") if m]
    if modes == ["both"]:
        modes = ["cold", "warm"]
    if not modes or any(m not in ("cold", "warm") for m in modes):
        ap.error("--modes takes cold, warm, cold,warm or both, not %r" % args.modes)

    mach = B.Machine()
    src = B.source()
    B.fresh_run()
    d = None
    starts = {}
    rec = []
    try:
        B.create_db(DB)
        reg = os.path.join(B.RUN, "registry.json")
        t_gen = B.make_registry(n, reg)
        t_import = B.import_registry(DB, reg)
        os.unlink(reg)
        log("registry: %d devices made in %.1f s, imported in %.1f s" % (n, t_gen, t_import))
        t_seed = seed_alerts(args.alerts, elders)
        pend0, _, due_min = pending_timers()
        claim_ms = claim_cost()
        log("seeded %d open alerts and %d pending timers in %.1f s (earliest due in %s min); "
            "claim query %.2f ms" % (args.alerts, pend0, t_seed, due_min, claim_ms or -1))

        qsec = query_seconds()
        log("start-up reads alone (psql): " + ", ".join("%s %.2f s" % kv for kv in qsec.items()))
        d = B.Anxind("anxind", DB, CLIENT, PREFIX)
        if "cold" in modes:
            for k in range(1, args.rounds + 1):
                shutil.rmtree(d.journal, ignore_errors=True)
                starts.setdefault("cold", []).append(start_round(d, "cold", k, args.alerts, n))
                d.stop(600)
        # Every device sends once, so the engine holds every rule's state;
        # stopping saves it (engine.snap), the warm starts restore it.
        shutil.rmtree(d.journal, ignore_errors=True)
        d.start(os.path.join(d.dir, "anxind-telemetry.log"))
        d.wait_ready(600)
        pub_s, _ = B.publish(PREFIX, n, n, by_kind=args.mix == "real")
        d.wait(lambda m: m.get("anxin_messages_processed_total", 0) >= n, 900, "telemetry", 0.2)
        stop_how = "right after the telemetry"
        if args.stop_in_save:
            # The stop then has a save under way that it supersedes: what
            # came since must be in the stop's own save.
            saves = d.metrics().get("anxin_engine_saves_total", 0)
            d.wait(lambda m: m.get("anxin_engine_saves_total", 0) > saves, 120,
                   "a background save", 0.05)
            B.publish(PREFIX, 1000, n, by_kind=args.mix == "real")
            d.wait(lambda m: m.get("anxin_messages_processed_total", 0) >= n + 1000, 60,
                   "1000 more", 0.05)
            stop_how = "while a background save ran, 1000 messages after it began"
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"],
                                 start_new_session=True) for _ in range(args.stop_busy)]
        if hogs:
            stop_how += ", with %d busy loops on the machine" % len(hogs)
        t_stop = d.stop(600)
        for p in hogs:
            p.kill()
            p.wait()
        ended = args.stop_in_save and \
            d.first_line(r"^shutdown: ending the background save")[0] is not None
        stop_line = "Stop %s: %.2f s (SIGTERM to exit, the state saved)%s." % (
            stop_how, t_stop, "; anxind ended the background save" if ended else "")
        # anxind wrote every device's last_seen: vacuum as autovacuum would.
        B.psql(DB, "VACUUM ANALYZE devices")
        snap = os.path.join(d.journal, "engine.snap")
        snap_mb = os.path.getsize(snap) / 1e6 if os.path.exists(snap) else 0
        log("telemetry: %d messages in %.1f s; engine.snap %.0f MB" % (n, pub_s, snap_mb))
        log(stop_line)
        if "warm" in modes:
            for k in range(1, args.rounds + 1):
                starts.setdefault("warm", []).append(start_round(d, "warm", k, args.alerts, n))
                if k < args.rounds:
                    d.stop(600)
        else:
            d.start(os.path.join(d.dir, "anxind-recovery.log"))
            d.wait_ready(600)
        # (b) recovery, with the anxind of the last start.
        time.sleep(2)
        for k in range(1, args.recovery_rounds + 1):
            rec.append(recovery_round(d, k, args.outage, backlog, n))
            time.sleep(2)
        edits = registry_edits(d)
        final = d.metrics()
        d.stop(600)
        d = None
        pend1, claimed, _ = pending_timers()
    finally:
        if d:
            d.stop(600)
        B.services("mq-stop")
        B.services("pg-stop")

    med = statistics.median
    lines = [
        "# Start-up and recovery: anxind with %d devices and %d open escalation timers"
        % (n, args.alerts),
        "",
        "Command: `%s`" % args.command,
        "",
        mach.line(),
        "",
        "anxind build `%s` (%s), default rules, log level info. Registry: %d devices over %d "
        "elders (`bench/registry.py` %.1f s, `anxinctl import` %.1f s). Open alerts: %d "
        "`water_idle` alerts (chain welfare_check, step_reached 1) with one pending "
        "escalation timer each (step 2, due 70-80 min ahead), made with SQL in %.1f s. "
        "anxind keeps the timers in PostgreSQL and claims due ones once a second; with these "
        "pending the claim's selection took %.2f ms (EXPLAIN ANALYZE, index "
        "escalation_timers_due). Timers pending and unclaimed before the run %d, after %d "
        "(claimed or done: %d): none fired." % (
            os.path.basename(B.BUILD), src, n, elders, t_gen, t_import, args.alerts, t_seed,
            claim_ms or -1, pend0, pend1, claimed),
        "",
        stop_line,
        "",
        "## (a) Start to ready",
        "",
        "Seconds from the process's creation; /metrics and /readyz polled every 20 ms. "
        "cold: no saved engine state; warm: a restart restoring the engine state saved at "
        "the previous stop (every device has sent once, %s: %.0f MB). %d rounds each, "
        "medians (every round below)." % (
            "what its kind reports (`--mix real`)" if args.mix == "real"
            else "every metric (`--mix all`, the upper bound)", snap_mb, args.rounds),
        "",
        "| mode | /metrics answers s | /readyz 200 s | " +
        " | ".join(p[0] + " s" for p in PHASES[1:]) + " | live alerts | VmRSS MiB |",
        "|---|---|---|" + "---|" * (len(PHASES) - 1) + "---|---|",
    ]
    for mode, rs in starts.items():
        cells = []
        for name, _ in PHASES[1:]:
            v = [r["phases"][name] for r in rs if name in r["phases"]]
            cells.append("%.2f" % med(v) if v else "-")
        lines.append("| %s | %.2f | %.2f | %s | %d | %.0f |" % (
            mode, med([r["metrics"] for r in rs]), med([r["ready"] for r in rs]),
            " | ".join(cells), rs[0]["alerts_live"], med([r["rss_mb"] for r in rs])))
    lines += [""]
    for mode, rs in starts.items():
        lines.append("- %s /readyz 200: %s s" % (mode, ", ".join("%.2f" % r["ready"]
                                                               for r in rs)))
    for mode, rs in starts.items():
        lines.append("- %s, round 1, log: `%s`%s" % (
            mode, rs[0].get("registry_line", "?"),
            "; `%s`" % rs[0]["engine_line"] if rs[0].get("engine_line") else ""))
    lines += ["", "The same reads alone, psql COPY to stdout (server time plus transfer): %s." % (
        ", ".join("%s query %.2f s" % kv for kv in qsec.items()))]
    ready = [med([r["ready"] for r in rs]) for rs in starts.values()]
    lines += ["", "Target (ready in under 5 s with %d devices and %d timers): %s." % (
        n, args.alerts, "met" if ready and max(ready) < 5 else "NOT met")]
    lines += [
        "",
        "## (b) Recovery after a %.0f s broker outage" % args.outage,
        "",
        "Broker stopped %.0f s and started again (persistence on: anxind's session and "
        "subscription survive); then %d messages published for anxind's session at once "
        "(what %d devices reporting every %.0f s send in the outage; anxin-load, QoS 1, flat "
        "out). Seconds from the broker answering again. %d rounds, medians." % (
            args.outage, backlog, n, args.report_every, len(rec)),
        "",
        "| anxind connected s | backlog published s | backlog processed s | catch-up s "
        "(connected -> processed) | catch-up msg/s |",
        "|---|---|---|---|---|",
    ]
    if rec:
        lines.append("| %.2f | %.2f | %.2f | %.2f | %.0f |" % (
            med([r["reconnect"] for r in rec]), med([r["published"] for r in rec]),
            med([r["done"] for r in rec]), med([r["catchup"] for r in rec]),
            med([r["rate"] for r in rec])))
        lines += ["", "Every round: " + "; ".join(
            "connected %.2f s, processed %.2f s (%.0f msg/s)" % (
                r["reconnect"], r["done"], r["rate"]) for r in rec) + "."]
        lost = [r["lost"] for r in rec if r["lost"] is not None]
        if lost:
            lines += ["", "anxind logged the lost connection %.2f s (median) after the broker "
                          "was stopped." % med(lost)]
    lines += [
        "",
        "## (c) Registry edits while running",
        "",
        "With every device loaded and reporting, elders' rows are touched in PostgreSQL "
        "(`UPDATE elders SET name = name`: the trigger NOTIFYs anxind). anxind's log line "
        "says how long the reload kept its loop busy, in all and at a stretch (an alarm "
        "arriving meanwhile waits for the stretch; a full reload reads the database on a "
        "worker thread and swaps the elders in by slices):",
        "",
        "| change | loop busy in all, ms | longest stretch, ms | logged after the UPDATE, s |",
        "|---|---|---|---|",
    ] + ["| %s | %.1f | %.1f | %.2f |" % e for e in edits]
    lines += ["", B.after_run_line(final)]
    B.write_report(lines, args.out)


if __name__ == "__main__":
    sys.exit(main())
