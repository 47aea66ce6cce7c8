"""The fleet-writers benchmark: what keeping the read caches exact costs the
database's writers, by how the changes reach the instances and how many
instances there are."""

import os
import subprocess
import time

import stats
from forum import sign_in_writer
from systems import KIT, ROOT, Granite, Pgbench, die, http, psql, say

# (label, how the instances follow the changes, instances, workers each)
SETUPS = [
    ("no change delivery", None, 0, 0),
    ("notices, 1 instance", "notify", 1, 2),
    ("notices, 4 instances", "notify", 4, 2),
    ("stream, 1 instance", "stream", 1, 2),
    ("stream, 4 instances", "stream", 4, 2),
    ("stream, 16 instances", "stream", 16, 1),
]

INSERT = """\\set thread random(1, 1000)
\\set author random(1, 1000)
INSERT INTO posts (thread_id, user_id, text) VALUES (:thread, :author, 'a post of the fleet-writers benchmark');
"""


def cpu_seconds(pids):
    """CPU time (user and system) of these processes so far; one gone
    counts 0."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                values = f.read().rsplit(")", 1)[1].split()
            total += int(values[11]) + int(values[12])
        except (OSError, IndexError):
            continue
    return total / tick


def delivery_backends(url):
    """The database's processes that deliver changes: the holder's walsender
    and every instance's feed connection (stream), or the listeners
    (notices)."""
    out = psql(url, "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE application_name LIKE "
                    "'granite changes%'")
    return [int(p) for p in out.split()]


def instance_processes(fleet):
    """Every process of these instances (leaders, feeds, workers)."""
    pids = []
    for g in fleet:
        pids.append(g.proc.pid)
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(g.proc.pid)], capture_output=True, text=True).stdout
        pids += [int(p) for p in out.split()]
    return pids


def notices(binary, url, on, log):
    """The notice triggers on or off (off: --force, the instances of the
    setup before may still be going)."""
    cmd = [str(binary), "notices", "on" if on else "off", "--set", f"database.url={url}"]
    subprocess.run(cmd + ([] if on else ["--force"]), stderr=log, stdout=log, check=True)


def trusted(g):
    """The instance's read cache is in use: its feed proves its notices current."""
    try:
        code, body = http(g.port, "/health/cache")
    except OSError:
        return False
    return code == 200 and b'"listening":true' in body


def started(fleet, what):
    """Every instance serves and has its read cache in use."""
    for g in fleet:
        g.wait_serving()
    deadline = time.monotonic() + 30
    while not all(trusted(g) for g in fleet):
        if time.monotonic() > deadline:
            die(f"{what}: the instances' caches were not in use within 30 s")
        time.sleep(0.05)


def create_post_curve(args, work, url, binary):
    """POST /api/posts through 4 instances of 2 workers on the stream, 16
    connections each (one wrk per instance, at once), by
    database.write_connections per worker: inserts a second, summed."""
    token = None
    rates = {}
    for r in range(1, args.rounds + 1):
        for n in (1, 2, 3, 4):
            say(f"round {r}/{args.rounds}: create post through 4 instances, {n} write connections per worker")
            fleet = [Granite(binary, url, 2, ["--set", f"database.write_connections={n}", "--set",
                                              "cache.changes=stream", *args.set], work / f"posts-{n}-{i}.log")
                     for i in range(4)]
            try:
                started(fleet, f"{n} write connections")
                if token is None:
                    token = sign_in_writer(fleet[0].port, url)[0]
                procs = [subprocess.Popen(["wrk", "-t1", "-c16", f"-d{args.seconds}s", "--latency", "-s",
                                           str(KIT / "requests.lua"), g.url(), "--", "posts", token],
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                         for g in fleet]
                texts = [p.communicate()[0] for p in procs]
                for i, text in enumerate(texts):
                    (work / f"posts-{n}-{i}-{r}.txt").write_text(text)
                parsed = [stats.parse_wrk(t) for t in texts]
                rates.setdefault(n, []).append(sum(p["rate"] for p in parsed))
                bad = sum(p["non2xx"] for p in parsed)
                if bad:
                    say(f"{bad} answers were not 201 (see {work})")
            finally:
                for g in fleet:
                    g.stop()
    return rates


def fleet_writers(args, work, url):
    binary = ROOT / "build" / "granite"
    if psql(url, "SHOW wal_level") != "logical":
        die("the change stream needs wal_level = logical: scripts/bench starts var/pg with it; restart a cluster "
            "that was already running (pg_ctl -D var/pg/data restart) and run again")
    if psql(url, "SHOW fsync") != "on":
        die("writes are measured with fsync on, as production runs")
    with open(work / "setup.log", "a") as log:
        subprocess.run([str(binary), "migrate", "--set", f"database.url={url}"], stderr=log, check=True)
        subprocess.run([str(binary), "seed", "--synthetic", "users=1000,threads=1000,posts=10000", "--replace",
                        "--set", f"database.url={url}"], stderr=log, check=True)
    script = work / "insert-post.sql"
    script.write_text(INSERT)
    pgbench = Pgbench(url, args.seconds, {})
    clients = [c for c in args.connections if c <= 64] or [16, 64]
    results = {}  # (setup, clients) -> [(tps, cpu per insert us)]
    for r in range(1, args.rounds + 1):
        for label, source, count, workers in SETUPS:
            say(f"round {r}/{args.rounds}: {label}")
            with open(work / "setup.log", "a") as log:
                notices(binary, url, source == "notify", log)
            fleet = [Granite(binary, url, workers, ["--set", f"cache.changes={source}", *args.set],
                             work / f"granite-{i}.log") for i in range(count)] if source else []
            try:
                started(fleet, label)
                for c in clients:
                    before_rows = int(psql(url, "SELECT count(*) FROM posts"))
                    backends, processes = delivery_backends(url), instance_processes(fleet)
                    before = cpu_seconds(backends), cpu_seconds(processes)
                    tps = pgbench.run(c, [script], work / f"pgbench-{label.replace(' ', '_').replace(',', '')}-{c}-{r}.txt")
                    delivery, instances = cpu_seconds(backends) - before[0], cpu_seconds(processes) - before[1]
                    rows = int(psql(url, "SELECT count(*) FROM posts")) - before_rows
                    per = (lambda cpu: cpu / rows * 1e6) if rows else (lambda cpu: None)
                    results.setdefault((label, c), []).append((tps, per(delivery), per(instances)))
            finally:
                for g in fleet:
                    g.stop()
    with open(work / "setup.log", "a") as log:
        notices(binary, url, False, log)
    curve = create_post_curve(args, work, url, binary)
    with open(work / "setup.log", "a") as log:
        notices(binary, url, True, log)

    def med(label, c, i):
        return stats.median([x[i] for x in results.get((label, c), []) if x[i] is not None])

    rows = []
    for label, _, _, _ in SETUPS:
        row = [label]
        for c in clients:
            tps = med(label, c, 0)
            row += [stats.cell(tps), stats.cell(stats.ratio(tps, med("no change delivery", c, 0)), 2)]
        for c in clients:
            row += [stats.cell(med(label, c, 1), 1), stats.cell(med(label, c, 2), 1)]
        rows.append(row)
    headers = ["writers"] + [h for c in clients for h in (f"inserts/s, {c} writers", "ratio")] + \
              [h for c in clients for h in (f"delivery µs/insert, {c}", f"instances µs/insert, {c}")]
    return "\n".join([
        f"### fleet-writers: {os.cpu_count()} cores, fsync on, median of {args.rounds} rounds of {args.seconds} s "
        f"{' '.join(args.set)}", "",
        "pgbench inserting posts (granite's schema and triggers) while the instances keep their read caches; "
        "\"no change delivery\": the notice triggers off and no instance. Notices: cache.changes=notify, the "
        "triggers on. Stream: cache.changes=stream, the triggers off (`granite notices off`). Delivery: the CPU "
        "of the database's processes that deliver changes (the holder's walsender, every feed's connection; "
        "with notices, the listeners: what the writers' own commits spend on notifying is in the rate, not "
        "here), per insert. Instances: the CPU of the instances' own processes, per insert (on a fleet, their "
        "machines', not the database's; here, all share 2 cores).", "",
        stats.table(headers, rows),
        "",
        "`POST /api/posts` (signed in) through 4 instances of 2 workers on the stream, 16 connections each "
        "(4 wrk at once), by `database.write_connections` per worker:", "",
        stats.table(["write connections per worker", "1", "2", "3", "4"],
                    [["posts created/s, summed", *[stats.cell(stats.median(curve.get(n, []))) for n in (1, 2, 3, 4)]]]),
        "",
        f"- Raw outputs: {work.relative_to(ROOT)}"])
