"""The replicas benchmark: uncached reads through a streaming replica against
the same reads on the primary alone, with where the reads were answered
counted by the replica itself (pg_stat_statements)."""

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import stats
from forum import READS, seed_forum
from systems import ROOT, Granite, cpu_model, die, http, psql, say, wrk

SCENARIOS = ["user", "users-page", "thread-posts"]
SYSTEMS = ["primary", "replica"]


def pg_bin():
    versions = sorted((d for d in os.listdir("/usr/lib/postgresql") if d.isdigit()), key=int)
    return f"/usr/lib/postgresql/{versions[-1]}/bin"


def as_owner(cmd, check=True):
    """PostgreSQL runs as the postgres user when we are root."""
    if os.getuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    done = subprocess.run(cmd, text=True, capture_output=True)
    if check and done.returncode != 0:
        die(f"{' '.join(cmd)} exited with {done.returncode}:\n{done.stdout}{done.stderr}")
    return done


class Standby:
    """A streaming standby of the bench's cluster (pg_basebackup -R), on a
    socket of its own, collecting pg_stat_statements."""

    def __init__(self, url, work):
        self.sockets = Path(tempfile.mkdtemp(prefix="granite-bench-standby-"))
        self.root = work / "standby"  # its data directory (removed at the end) and its log
        self.root.mkdir()
        self.data = self.root / "data"
        self.log = self.root / "postgresql.log"
        primary_sockets = re.search(r"host=(\S+)", url).group(1)
        # A hot standby refuses to start with fewer connections than its primary.
        max_connections = psql(url, "SHOW max_connections")
        if os.getuid() == 0:
            shutil.chown(self.sockets, "postgres", "postgres")
            shutil.chown(self.root, "postgres", "postgres")
        self.url = re.sub(r"host=\S+", f"host={self.sockets}", url)
        try:
            say("copying the cluster for a streaming standby (pg_basebackup -R)")
            as_owner([f"{pg_bin()}/pg_basebackup", "-h", primary_sockets, "-U", "granite", "-D", str(self.data),
                      "-R", "-X", "stream", "-c", "fast"])
            as_owner([f"{pg_bin()}/pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-o",
                      f"-c listen_addresses='' -k {self.sockets} -c max_connections={max_connections} "
                      "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all", "start"])
            self.wait_replayed(url)
        except BaseException:  # die() included: nothing of the standby is left behind
            self.stop()
            raise

    def wait_replayed(self, primary_url, timeout=60):
        """Until the standby has replayed what the primary has written."""
        target = psql(primary_url, "SELECT pg_current_wal_lsn()")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if psql(self.url, f"SELECT pg_last_wal_replay_lsn() >= '{target}'") == "t":
                return
            time.sleep(0.2)
        die(f"the standby did not replay up to {target} within {timeout} s (see {self.log})")

    def calls(self):
        """How many reads the standby has run for the bench's database so
        far: its SELECTs but granite's ping and replay-position probe (and
        this very count). pg_stat_statements shows them with their
        constants made parameters, so the reads are not matched by text."""
        return int(psql(self.url, "SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s JOIN pg_database d "
                                  "ON d.oid = s.dbid WHERE d.datname = current_database() AND s.query LIKE 'SELECT%' "
                                  "AND s.query <> 'SELECT $1' AND s.query NOT LIKE '%pg_last_wal_%' "
                                  "AND s.query NOT LIKE '%pg_stat_statements%'"))

    def stop(self):
        if (self.data / "postmaster.pid").exists():
            as_owner([f"{pg_bin()}/pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop"], check=False)
        shutil.rmtree(self.data, ignore_errors=True)  # the log stays with the run's outputs
        shutil.rmtree(self.sockets, ignore_errors=True)


def reads_by_source(g):
    """granite_database_reads_total by source, from the instance's metrics."""
    status, text = http(g.metrics_port, "/metrics")
    if status != 200:
        die(f"granite's metrics answered {status}")
    return stats.parse_reads_by_source(text.decode())


def replicas(args, work, url):
    binary = ROOT / "build" / "granite"
    load_ms = seed_forum(binary, url, work)
    # pg_stat_statements' view, for the standby that collects it (the
    # extension's catalog entry comes to it from the primary).
    psql(url, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    standby = Standby(url, work)
    try:
        uncached = ["--set", "cache.enabled=false", *args.set]
        g = {"primary": Granite(binary, url, args.workers, uncached, work / "granite-primary.log"),
             "replica": Granite(binary, url, args.workers, ["--set", f"database.replicas={standby.url}", *uncached],
                                work / "granite-replica.log")}
        try:
            for x in g.values():
                x.wait_serving()
            time.sleep(2)  # the workers' start-up work is done
            return rounds(args, work, g, standby, load_ms)
        finally:
            for x in g.values():
                x.stop()
    finally:
        standby.stop()


def rounds(args, work, g, standby, load_ms):
    for s in SCENARIOS:
        _, path, keys, _, _ = READS[s]
        (work / f"{s}.paths").write_text("\n".join(path % k for k in keys) + "\n")
    say("warming up")
    for s in SCENARIOS:
        for x in g.values():
            wrk(x.url(), 16, args.seconds, "requests.lua", ["paths", str(work / f"{s}.paths")], "/dev/null")

    results = {}  # (scenario, connections, system) -> [wrk's result per round]
    shares = {}   # (scenario, connections) -> [replica's share of the reads per round]
    counted = {}  # (scenario, connections) -> [the standby's statements per request, per round]
    served = {"wrk": 0, "standby": 0}  # the replica instance's requests, the standby's statements
    for r in range(1, args.rounds + 1):
        for s in SCENARIOS:
            for c in args.connections:
                say(f"round {r}/{args.rounds}: {s}, {c} connections")
                k = (r - 1) % len(SYSTEMS)
                for system in SYSTEMS[k:] + SYSTEMS[:k]:
                    x = g[system]
                    cpu, before = x.cpu_seconds(), reads_by_source(x)
                    calls = standby.calls() if system == "replica" else 0
                    out = work / f"{s}-{c}-{system}-{r}.txt"
                    res = wrk(x.url(), c, args.seconds, "requests.lua", ["paths", str(work / f"{s}.paths")], out)
                    if res and res["requests"]:
                        res["cpu_us"] = (x.cpu_seconds() - cpu) * 1e6 / res["requests"]
                    results.setdefault((s, c, system), []).append(res)
                    if system == "replica" and res:
                        time.sleep(0.5)  # the workers copy their counters into the metrics 4 times a second
                        after = reads_by_source(x)
                        read = {k: after.get(k, 0) - before.get(k, 0) for k in after}
                        total = sum(read.values())
                        shares.setdefault((s, c), []).append(
                            stats.ratio(total - read.get("primary", 0), total))
                        ran = standby.calls() - calls
                        counted.setdefault((s, c), []).append(stats.ratio(ran, res["requests"]))
                        served["wrk"] += res["requests"]
                        served["standby"] += ran
                    x.empty_log()
    return report(args, work, results, shares, counted, served, load_ms)


def report(args, work, results, shares, counted, served, load_ms):
    def med(s, c, system, f):
        return stats.median([x and f(x) for x in results.get((s, c, system), [])])

    rate = lambda x: x["rate"]  # noqa: E731
    p99 = lambda x: x["latency_ms"].get(99.0)  # noqa: E731
    cpu = lambda x: x.get("cpu_us")  # noqa: E731
    rows = []
    for s in SCENARIOS:
        for c in args.connections:
            pr, rr = med(s, c, "primary", rate), med(s, c, "replica", rate)
            rows.append([READS[s][0], c, stats.cell(pr), stats.cell(rr), stats.cell(stats.ratio(rr, pr), 2),
                         stats.cell(med(s, c, "primary", p99), 2), stats.cell(med(s, c, "replica", p99), 2),
                         stats.cell(med(s, c, "primary", cpu), 1), stats.cell(med(s, c, "replica", cpu), 1),
                         stats.cell(100 * (stats.median(shares.get((s, c), [])) or 0), 1),
                         stats.cell(100 * (stats.median(counted.get((s, c), [])) or 0), 1)])
    bad = sum(x["non2xx"] + x["socket_errors"] for runs in results.values() for x in runs if x)
    failed = sum(1 for runs in results.values() for x in runs if x is None)
    model = cpu_model()
    out = [f"### replicas: {os.cpu_count()} cores ({model}), {args.workers} workers, median of {args.rounds} "
           f"rounds of {args.seconds} s{' ' + ' '.join(args.set) if args.set else ''}", "",
           "Uncached reads (granite `cache.enabled=false`, access log on) on the primary alone, and through one "
           "streaming replica of it (`database.replicas`, one replica connection per worker) with the primary "
           "idle otherwise. Both servers share this machine's cores: the ratio is what reading through a replica "
           "costs granite and the replica's batch (the replay position asked with each), not the capacity a "
           "replica adds on a machine of its own. The replica's share of the reads is granite's count "
           "(`granite_database_reads_total`).", "",
           stats.table(["scenario", "conns", "primary alone req/s", "through the replica req/s", "through / alone",
                        "alone p99 ms", "through p99 ms", "alone CPU µs/req", "through CPU µs/req",
                        "read on the replica %", "the standby's count %"], rows), "",
           "CPU is granite's processes' per request; \"the standby's count\" is the reads the standby ran "
           "(pg_stat_statements) against the requests wrk completed (requests in flight when wrk stops are run "
           "and not counted by wrk: a little over 100 %).", "",
           f"- Counted by the standby itself (pg_stat_statements, reads of the bench's database): "
           f"{served['standby']} statements for the {served['wrk']} requests wrk completed through the replica "
           f"instance ({100 * (stats.ratio(served['standby'], served['wrk']) or 0):.1f} %).",
           f"- Data: seed --synthetic users=100000,threads=200000,posts=2000000 loaded in {load_ms} ms.",
           f"- Non-2xx responses and socket errors from granite over every run: {bad}; wrk runs that failed: {failed}.",
           f"- Raw outputs: {work.relative_to(ROOT)}"]
    return "\n".join(out)
