"""bench/benchlib.py - what the bench/run sections memory.py and startup.py
share: the run folder's PostgreSQL and Mosquitto (scripts/services.sh), a
database per measurement with the schema migrated, a generated registry
imported with `anxinctl import`, anxind under a config of its own (start,
stop, /metrics, /readyz, its log lines' time stamps, its memory from
/proc/PID/status), the load generator, and the machine description that
goes into every report. Environment as bench/run sets it: BENCH_RUN,
BENCH_PG_PORT, BENCH_MQ_PORT, BENCH_HTTP_PORT, ANXIN_BUILD.
"""
import datetime
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, os.environ.get("ANXIN_BUILD", "build"))
RUN = os.environ["BENCH_RUN"]
PG = int(os.environ["BENCH_PG_PORT"])
MQ = int(os.environ["BENCH_MQ_PORT"])
HTTP = int(os.environ["BENCH_HTTP_PORT"])
SERVICES = os.path.join(ROOT, "scripts", "services.sh")

_prefix = ["bench"]


def set_name(name):
    """The prefix of progress lines, and Ctrl-C / SIGTERM turned into an
    exception so that each section's finally block stops what it started."""
    _prefix[0] = name
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(name + ": terminated"))
    signal.signal(signal.SIGINT, signal.default_int_handler)


def log(msg):
    print("%s: %s" % (_prefix[0], msg), flush=True)


def sh(*cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit("%s failed (%d): %s" % (os.path.basename(str(cmd[0])), r.returncode,
                                         r.stderr.strip()[-2000:]))
    return r.stdout


def services(cmd, *args):
    sh(SERVICES, cmd, RUN, *args)


def dsn(db):
    return "host=127.0.0.1 port=%d user=postgres dbname=%s" % (PG, db)


def fresh_run():
    """A new run folder with PostgreSQL and Mosquitto started on loopback."""
    stop_services()
    shutil.rmtree(RUN, ignore_errors=True)
    os.makedirs(RUN)
    services("pg-start", PG)
    services("mq-start", MQ)


def stop_services():
    for c in ("mq-stop", "pg-stop"):
        subprocess.run([SERVICES, c, RUN], capture_output=True)


def psql(db, sql, *opts):
    return sh("psql", "-h", "127.0.0.1", "-p", PG, "-U", "postgres", "-v", "ON_ERROR_STOP=1",
              "-Atq", *opts, "-c", sql, db)


def create_db(db):
    """A database with the anxin schema (anxinctl migrate)."""
    psql("postgres", "CREATE DATABASE " + db)
    sh(os.path.join(BUILD, "anxinctl"), "--db", dsn(db), "--sql-dir", os.path.join(ROOT, "sql"),
       "migrate")


def make_registry(devices, path):
    """bench/registry.py DEVICES PATH; returns its seconds."""
    t = time.monotonic()
    sh(sys.executable, os.path.join(ROOT, "bench", "registry.py"), devices, path)
    return time.monotonic() - t


def import_registry(db, path):
    """anxinctl import; returns its seconds (process start to exit)."""
    t = time.monotonic()
    sh(os.path.join(BUILD, "anxinctl"), "--db", dsn(db), "--sql-dir", os.path.join(ROOT, "sql"),
       "import", path)
    return time.monotonic() - t


def elders_for(devices):
    """registry.py's elders for a device count (2.5 devices an elder, rounded up)."""
    return (devices * 2 + 4) // 5


def publish(prefix, n, devices, rate=0, by_kind=False):
    """build/anxin-load: n QoS 1 readings round-robin over the registry's
    devices (water.flow_l, battery.pct, hr.bpm each; with by_kind, what each
    device's kind reports in registry.py's layout); returns (seconds until
    all were acknowledged, its output line)."""
    kind = ["-K", elders_for(devices)] if by_kind else []
    out = sh(os.path.join(BUILD, "anxin-load"), "-p", MQ, "-P", prefix, "-d", devices,
             "-n", n, "-r", rate, "-s", 0, "-D", "D-", *kind).strip()
    m = re.search(r"acknowledged (\d+) in ([\d.]+) s", out)
    if not m or int(m.group(1)) != n:
        sys.exit("publisher did not get every message acknowledged: " + out)
    return float(m.group(2)), out


def parse_stamp(stamp):
    """A log line's time stamp (2026-11-29T13:55:49.407Z) as epoch seconds."""
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


CONSOLE_SMS = """[provider "console"]
type = console
output = %s/console.txt
[channel "sms"]
providers = console
"""


def write_conf(path, db, client_id, prefix, journal, providers, log_level="info",
               mqtt_extra="", paths_extra="", journal_extra=""):
    """An anxind config for the benches: loopback HTTP on HTTP, the run's
    PostgreSQL database db, the broker with a client id and topic prefix of
    its own, default rules; providers is the [provider]/[channel] text."""
    with open(path, "w") as f:
        f.write("""[anxind]
node = bench
log_level = %s
[mqtt]
url = tcp://127.0.0.1:%d
client_id = %s
topics = %s/+/telemetry
alarm_topics = %s/+/alarm
%s
[database]
conninfo = host=127.0.0.1 port=%d user=postgres dbname=%s
[http]
listen = 127.0.0.1:%d
console_dir = %s
[journal]
dir = %s
%s
[paths]
rules = %s
%s
%s""" % (log_level, MQ, client_id, prefix, prefix, mqtt_extra, PG, db, HTTP,
         os.path.join(ROOT, "console"), journal, journal_extra,
         os.path.join(ROOT, "conf", "rules.d"), paths_extra, providers))


def fetch_metrics(timeout=5):
    """anxind's /metrics as {name: value}, or None if it does not answer."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % HTTP,
                                    timeout=timeout) as r:
            body = r.read().decode()
    except OSError:
        return None
    out = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def wait_metrics(d, pred, timeout, what, interval=0.05, wall=False):
    """Polls d.metrics() until pred(m), leaving if d's anxind (d.proc) exits;
    returns (time, metrics): monotonic time, or the wall clock with wall."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if d.proc is None or d.proc.poll() is not None:
            log = getattr(d, "logpath", os.path.join(d.dir, "anxind.log"))
            sys.exit("anxind exited (%s); see %s" % (d.proc and d.proc.returncode, log))
        m = d.metrics()
        t = time.time() if wall else time.monotonic()
        if m is not None and pred(m):
            return t, m
        time.sleep(interval)
    sys.exit("timed out waiting for anxind: " + what)


class Anxind:
    """build/anxind with a config of its own under RUN/<name>: loopback HTTP,
    the run's PostgreSQL database `db`, the broker with client id and topic
    prefix of its own, default rules, a console provider (nothing leaves
    the machine)."""

    def __init__(self, name, db, client_id, prefix, log_level="info"):
        self.dir = os.path.join(RUN, name)
        self.journal = os.path.join(self.dir, "journal")
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "anxind.conf")
        self.logpath = os.path.join(self.dir, "anxind.log")
        self.proc = None
        self.logf = None
        write_conf(self.conf, db, client_id, prefix, self.journal,
                   CONSOLE_SMS % self.dir, log_level=log_level)

    def start(self, logpath=None):
        """Starts it (its log appended to logpath, default RUN/<name>/anxind.log);
        returns the wall-clock time just before the process was created."""
        self.logpath = logpath or self.logpath
        self.logf = open(self.logpath, "a")
        t = time.time()
        self.proc = subprocess.Popen([os.path.join(BUILD, "anxind"), "-c", self.conf],
                                     stdout=self.logf, stderr=self.logf,
                                     stdin=subprocess.DEVNULL)
        return t

    def alive(self):
        if self.proc is None or self.proc.poll() is not None:
            sys.exit("anxind exited (%s); see %s" % (self.proc and self.proc.returncode,
                                                     self.logpath))

    def get(self, path, timeout=5):
        """(status, body) of GET path, or (None, None) if it does not answer."""
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (HTTP, path),
                                        timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError:
            return None, None

    def metrics(self):
        return fetch_metrics()

    def wait(self, pred, timeout, what, interval=0.05, wall=False):
        """Polls /metrics until pred(m) (wait_metrics)."""
        return wait_metrics(self, pred, timeout, what, interval, wall)

    def wait_ready(self, timeout, interval=0.02):
        """Polls /metrics and /readyz every `interval` s; returns the wall-clock
        times at which /metrics first answered and /readyz first said 200."""
        t_metrics = None
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.alive()
            if t_metrics is None:
                st, _ = self.get("/metrics", timeout=2)
                if st == 200:
                    t_metrics = time.time()
            if t_metrics is not None:
                st, _ = self.get("/readyz", timeout=2)
                if st == 200:
                    return t_metrics, time.time()
            time.sleep(interval)
        sys.exit("timed out waiting for anxind's /readyz; see " + self.logpath)

    def status(self):
        """VmRSS, VmHWM, RssAnon, RssFile (kB) from /proc/PID/status."""
        out = {}
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "VmSize"):
                    out[k] = int(v.split()[0])
        return out

    def log_lines(self, since=0.0):
        """(epoch, text) of its log lines stamped at or after `since`."""
        out = []
        with open(self.logpath, errors="replace") as f:
            for line in f:
                parts = line.split(None, 2)
                if len(parts) < 3 or not re.match(r"\d{4}-\d\d-\d\dT", parts[0]):
                    continue
                try:
                    t = parse_stamp(parts[0])
                except ValueError:
                    continue
                if t >= since:
                    out.append((t, parts[2].rstrip("\n")))
        return out

    def first_line(self, pattern, since=0.0):
        """(epoch, text) of the first log line since `since` matching pattern."""
        for t, text in self.log_lines(since):
            if re.search(pattern, text):
                return t, text
        return None, None

    def malloc_stats(self):
        """glibc's malloc_stats() for the whole process, through gdb (the
        process stops for a moment): (system bytes, in use bytes) of all
        arenas including mmap, or None if gdb cannot do it."""
        if not shutil.which("gdb"):
            return None
        size = os.path.getsize(self.logpath)
        r = subprocess.run(["gdb", "-p", str(self.proc.pid), "-batch", "-nx",
                            "-ex", "call (void)malloc_stats()"], capture_output=True,
                           text=True, timeout=120)
        if r.returncode != 0:
            return None
        time.sleep(0.2)
        with open(self.logpath, errors="replace") as f:
            f.seek(size)
            text = f.read()
        m = re.search(r"Total \(incl\. mmap\):\s*system bytes\s*=\s*(\d+)\s*"
                      r"in use bytes\s*=\s*(\d+)", text)
        return (int(m.group(1)), int(m.group(2))) if m else None

    def stop(self, timeout=300):
        """SIGTERM and wait (SIGKILL after timeout); returns seconds taken."""
        t = time.monotonic()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.logf:
            self.logf.close()
            self.logf = None
        return time.monotonic() - t


def source():
    """Which anxind was measured: the commit, whether lib/, daemon/ or sql/
    had uncommitted changes, and when the binary was built."""
    head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip() or "?"
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "lib", "daemon",
                            "sql"], capture_output=True, text=True).stdout.strip()
    built = datetime.datetime.fromtimestamp(
        os.path.getmtime(os.path.join(BUILD, "anxind")), datetime.timezone.utc)
    return "commit %s%s, binary built %s UTC" % (
        head, " with uncommitted changes in lib/, daemon/ or sql/" if dirty else "",
        built.strftime("%H:%M"))


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024
    return model, mem


def top_other_cpu():
    """The busiest processes not started by this run (other engineers' tests)."""
    out = sh("ps", "-eo", "pcpu,comm", "--sort=-pcpu").splitlines()[1:6]
    return ", ".join(" ".join(l.split()) for l in out)


class Machine:
    """The machine line of a report, as bench/ingest.py writes it: taken
    before the run starts, so the load figures are other people's."""

    def __init__(self):
        self.uptime = sh("uptime").strip()
        self.top = top_other_cpu()

    def line(self):
        model, mem = machine()
        return ("Machine: %s, %d cores (%s), %d MiB; %s. Load before the run: `%s` (a shared "
                "machine: other engineers' tests may be running; busiest processes then: %s)."
                % (platform.platform(), os.cpu_count(), model, mem, datetime.date.today(),
                   self.uptime, self.top))

    @staticmethod
    def load_now():
        return sh("uptime").strip().split("load average:")[-1].strip()


def after_run_line(final):
    """The report's closing count of what anxind did over the whole run."""
    return "anxind after the run: processed %d, rejected %d, alerts opened %d." % (
        final.get("anxin_messages_processed_total", 0),
        sum(v for k, v in final.items() if k.startswith("anxin_messages_rejected_total")),
        final.get("anxin_alerts_opened_total", 0))


def write_report(lines, out):
    """Prints the report and keeps it in `out` (--out) if given."""
    if out:
        with open(out, "w") as f:
            f.write("\n".join(lines) + "\n")
    print("\n".join(lines))

