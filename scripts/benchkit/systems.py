"""What the benchmarks run and measure: granite, nginx, wrk and pgbench as
processes on loopback, and a few helpers."""

import os
import random
import re
import signal
import socket
import string
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import stats

ROOT = Path(__file__).resolve().parents[2]
KIT = Path(__file__).resolve().parent


def say(message):
    print(f"\033[1m==> {message}\033[0m", file=sys.stderr, flush=True)


def die(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def psql(url, sql):
    return run(["psql", url, "-Atqc", sql]).stdout.strip()


def cpu_model():
    """The processor's name, for the reports' titles."""
    return next((line.split(":", 1)[1].strip() for line in run(["lscpu"]).stdout.splitlines()
                 if line.startswith("Model name")), "?")


def free_port():
    """A free loopback port below the kernel's ephemeral range, which wrk's
    and pgbench's connections draw from while the systems start."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        high = min(int(f.read().split()[0]), 32768)
    for _ in range(200):
        port = random.randrange(10000, high)
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    die("no free port below the ephemeral range")


def http(port, path, method="GET", body=None, headers=None, timeout=2.0):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def knows_metrics(binary):
    shown = subprocess.run([str(binary), "check-config"], capture_output=True, text=True).stdout
    return '"metrics"' in shown


class Granite:
    """`granite serve` on a free loopback port, its log (stderr) in a file."""

    def __init__(self, binary, url, workers, settings, log):
        self.port = free_port()
        # Several granites run side by side: a metrics port each (a baseline
        # build from before the metrics has none).
        self.metrics_port = free_port() if knows_metrics(binary) else None
        metrics = ["--set", f"metrics.listen=127.0.0.1:{self.metrics_port}"] if self.metrics_port else []
        self.log = Path(log)
        self._log_file = open(self.log, "ab")  # O_APPEND: the file can be emptied under it
        self.proc = subprocess.Popen(
            [str(binary), "serve", "--set", f"database.url={url}", "--port", str(self.port), "--workers", str(workers),
             "--set", "listen.host=127.0.0.1", *metrics, *settings],
            stdout=subprocess.DEVNULL, stderr=self._log_file)

    def wait_serving(self, timeout=15.0):
        """Until /health answers 200 (tried every 5 ms)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                die(f"granite exited with {self.proc.returncode}:\n{self.log.read_text()[-2000:]}")
            try:
                if http(self.port, "/health", timeout=0.5)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.005)
        die(f"granite did not serve within {timeout} s:\n{self.log.read_text()[-2000:]}")

    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self):
        """User and system CPU time of its processes (the leader and its
        children, alive now), as pidstat reads it from /proc."""
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True).stdout
        ticks = 0
        for pid in [self.proc.pid] + [int(p) for p in out.split()]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def largest_worker_rss_kib(self):
        out = subprocess.run(["ps", "-o", "rss=", "--ppid", str(self.proc.pid)], capture_output=True, text=True).stdout
        return max((int(v) for v in out.split()), default=0)

    def empty_log(self):
        # With the access log on, the file grows by megabytes a second.
        os.truncate(self.log, 0)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()


class Nginx:
    """nginx serving files from `root`, as nginx's users run it (an access log
    to a file) or with access_log off."""

    def __init__(self, work, root, access_log):
        self.port = free_port()
        self.dir = work / ("nginx" if access_log else "nginx-nolog")
        (self.dir / "tmp").mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "nginx.conf"
        template = string.Template((KIT / "nginx.conf").read_text())
        self.conf.write_text(template.substitute(
            user="user root;" if os.getuid() == 0 else "", dir=self.dir, port=self.port, root=root,
            access_log=f"access_log {self.dir}/access.log;" if access_log else "access_log off;"))
        run(["nginx", "-c", str(self.conf)])

    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def empty_log(self):
        log = self.dir / "access.log"
        if log.exists():
            os.truncate(log, 0)

    def stop(self):
        subprocess.run(["nginx", "-c", str(self.conf), "-s", "stop"], capture_output=True)


def wrk(url, connections, seconds, script, args, out, during=None):
    """One wrk run (-t1, --latency); `during` is called halfway through."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(KIT / script), url, "--", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if during:
        time.sleep(seconds / 2)
        during()
    text = proc.communicate()[0]
    Path(out).write_text(text)
    try:
        return stats.parse_wrk(text)
    except ValueError:
        return None


class Pgbench:
    """pgbench -M prepared with as many clients as asked, capped below what the
    cluster's max_connections leaves (granite's own connections counted)."""

    def __init__(self, url, seconds, defines):
        self.url, self.seconds, self.defines = url, seconds, defines
        self.max_connections = int(psql(url, "SHOW max_connections"))
        self.capped = set()

    def run(self, clients, scripts, out):
        room = self.max_connections - int(psql(self.url, "SELECT count(*) FROM pg_stat_activity")) - 5
        used = min(clients, room)
        if used < clients:
            self.capped.add(f"{clients}->{used}")
        cmd = ["pgbench", "-n", "-M", "prepared", "-j", "1", "-c", str(used), "-T", str(self.seconds)]
        cmd += [f"-D{k}={v}" for k, v in self.defines.items()]
        for s in scripts:
            cmd += ["-f", str(s)]
        text = subprocess.run(cmd + [self.url], capture_output=True, text=True).stdout
        Path(out).write_text(text)
        try:
            return stats.parse_pgbench(text)["tps"]
        except ValueError:
            return None


def pgbench_script(statements, names_and_params, variables):
    """granite's own statements (from `granite statements`), with their $n
    parameters replaced by pgbench variables or literals."""
    lines = list(variables)
    for name, params in names_and_params:
        sql = statements[name]
        lines.append(re.sub(r"\$(\d+)", lambda m: params[int(m.group(1)) - 1], sql) + ";")
    return "\n".join(lines) + "\n"


def pgbench_pipelined_script(statements, names_and_params, variables, depth):
    """The same, `depth` times over (new variables each time) between
    \\startpipeline and \\endpipeline: one sync for them all."""
    one = pgbench_script(statements, names_and_params, variables)
    return "\\startpipeline\n" + one * depth + "\\endpipeline\n"


class RowLock:
    """Another session holding a row with SELECT ... FOR UPDATE (psql in an
    open transaction), and `writers` clients PATCHing that row through
    granite the whole time: each waits on the lock until granite answers
    (503 once database.statement_timeout_ms runs out), then asks again."""

    def __init__(self, url, port, path, body, token, writers=6):
        self.port, self.path, self.body, self.token = port, path, body, token
        self.answers = {}  # status -> count
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.psql = subprocess.Popen(["psql", url, "-qAt", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, text=True,
                                     env={**os.environ, "PGAPPNAME": "bench row lock"})
        table, key = path.strip("/").split("/")[1:3]
        self.psql.stdin.write(f"BEGIN;\nSELECT id FROM {table} WHERE id = {int(key)} FOR UPDATE;\n")
        self.psql.stdin.flush()
        # The row is held before the first PATCH is sent, and a PATCH waits
        # on it before the measurement starts.
        self._until(url, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'bench row lock' AND "
                         "state = 'idle in transaction'", "the other session never took the row lock")
        self.threads = [threading.Thread(target=self._patch) for _ in range(writers)]
        for t in self.threads:
            t.start()
        self._until(url, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND "
                         "application_name LIKE 'granite worker%'", "the writes never began to wait on the row lock")

    @staticmethod
    def _until(url, count_sql, why):
        deadline = time.monotonic() + 10
        while psql(url, count_sql) == "0":
            if time.monotonic() > deadline:
                die(why)
            time.sleep(0.02)

    def _patch(self):
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}
        while not self._stop.is_set():
            try:
                status = http(self.port, self.path, "PATCH", self.body, headers, timeout=60)[0]
            except OSError:
                status = "error"
            with self._lock:
                self.answers[status] = self.answers.get(status, 0) + 1

    def release(self):
        self._stop.set()
        self.psql.communicate("ROLLBACK;\n", timeout=30)
        for t in self.threads:
            t.join()
