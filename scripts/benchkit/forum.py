"""The forum benchmark: granite against the machine's ceilings (nginx serving
the same bytes, pgbench running the same statements) on a generated forum."""

import hashlib
import json
import os
import re
import subprocess
import time

import stats
from systems import (ROOT, Granite, Nginx, Pgbench, RowLock, cpu_model, die, http, pgbench_pipelined_script,
                     pgbench_script, psql, run, say, wrk)


# The read scenarios: granite's path (%d: a key), the keys (a hot set that the
# cache holds; wrk requests them in turn, pgbench draws them at random), and
# the statement granite runs with its parameters. Every parameter is a pgbench
# variable, so that pgbench (-M prepared) binds it as granite does: a literal
# LIMIT 101 gets another plan (on the forum's busiest threads, a bitmap scan of
# all their posts and a sort, 20 times slower than granite's index scan).
PAGE = ["\\set after 0", "\\set limit 101"]
READS = {
    "user": ("GET /api/users/{id}", "/api/users/%d", range(1, 1001),
             [("users_by_id", [":k"])], ["\\set k random(1, 1000)"]),
    "users-page": ("GET /api/users?limit=100&after=..", "/api/users?limit=100&after=%d", range(0, 10000, 100),
                   [("users_page", [":k", ":limit"])], ["\\set k 100 * random(0, 99)", "\\set limit 101"]),
    "thread-posts": ("GET /api/posts/in-thread/{id}?limit=100", "/api/posts/in-thread/%d?limit=100", range(1, 101),
                     [("posts_in_thread", [":k", ":after", ":limit"])], ["\\set k random(1, 100)"] + PAGE),
    # The same threads newest first: the page below every id.
    "thread-posts-desc": ("GET /api/posts/in-thread/{id}?order=desc&limit=100",
                          "/api/posts/in-thread/%d?order=desc&limit=100", range(1, 101),
                          [("posts_in_thread_below", [":k", ":before", ":limit"])],
                          ["\\set k random(1, 100)", "\\set before 9223372036854775807", "\\set limit 101"]),
    "user-posts": ("GET /api/posts/by-user/{id}", "/api/posts/by-user/%d", range(1, 1001),
                   [("posts_by_user", [":k", ":after", ":limit"])], ["\\set k random(1, 1000)"] + PAGE),
    # The thread pages again, asked for with Accept-Encoding: gzip (nginx:
    # gzip_static, the very bytes granite sends, precompressed).
    "thread-posts-gzip": ("the same, Accept-Encoding: gzip", "/api/posts/in-thread/%d?limit=100", range(1, 101),
                          [("posts_in_thread", [":k", ":after", ":limit"])], ["\\set k random(1, 100)"] + PAGE),
}
GZIP = {"Accept-Encoding": "gzip"}
# pgbench sending the same statements 16 to a sync (\startpipeline): the
# database's true ceiling for them, beside the plain one.
PIPELINED = 16
SCENARIOS = list(READS) + ["create-post", "keyed-post", "mix"]
CREATE_POST = [("sessions_user", [":digest"]), ("posts_insert", [":k", ":uid", "'bench post'", "0", "60"])]
# Create post against write connections per worker (1 is granite's default).
WRITE_CONNECTIONS = (2, 3, 4)
FORUM_SIZE = "users=100000,threads=200000,posts=2000000"


def seed_forum(binary, url, work):
    say("seeding 100 000 users, 200 000 threads, 2 000 000 posts")
    setup = work / "setup.log"
    with open(setup, "a") as log:
        subprocess.run([str(binary), "migrate", "--set", f"database.url={url}"], stderr=log, check=True)
        seeded = subprocess.run([str(binary), "seed", "--synthetic", FORUM_SIZE, "--set", f"database.url={url}"],
                                capture_output=True, text=True)
        log.write(seeded.stderr)
    if seeded.returncode != 0:
        die("seeding failed:\n" + seeded.stderr)
    load_ms = re.findall(r" in (\d+) ms$", seeded.stderr, re.M)
    psql(url, "VACUUM ANALYZE")
    return load_ms[-1] if load_ms else "?"


def time_starts(binary, url, workers, work, count=5):
    """granite serve to the first 200 on /health, schema migrated."""
    say(f"timing {count} starts of granite serve")
    starts = []
    for _ in range(count):
        t0 = time.monotonic()
        g = Granite(binary, url, workers, [], work / "starts.log")
        g.wait_serving()
        starts.append(round((time.monotonic() - t0) * 1000))
        g.stop()
    return starts


def sign_in_writer(port, url):
    """One account writes: wrk needs its token, pgbench its digest and id."""
    body = json.dumps({"username": "bench_writer", "password": "bench writer password"}).encode()
    json_type = {"Content-Type": "application/json"}
    # Hashing runs only on CPU time nothing else wants (SCHED_IDLE), and each
    # worker hashes once as it starts: patience, and a 503 (the hashing
    # waited past auth.hash_wait_limit_ms on a busy machine) is asked again.
    def ask(path):
        for _ in range(20):
            status, answer = http(port, path, "POST", body, json_type, timeout=30)
            if status != 503:
                break
            time.sleep(1)
        return status, answer
    status, answer = ask("/api/users")
    if status not in (201, 409):  # 409: signed up by an earlier, refused, try
        die(f"sign-up failed: {status} {answer[:200]!r}")
    status, answer = ask("/api/sessions")
    if status != 201:
        die(f"sign-in failed: {status} {answer[:200]!r}")
    token = json.loads(answer)["token"]
    uid = psql(url, "SELECT id FROM users WHERE username = 'bench_writer'")
    return token, hashlib.sha256(token.encode()).hexdigest(), uid


def write_bodies(port, www, work):
    """The very bodies granite serves, as files for nginx, and the path lists."""
    for name, (_, path, keys, _, _) in READS.items():
        (www / name).mkdir(parents=True, exist_ok=True)
        paths = []
        for k in keys:
            status, body = http(port, path % k, timeout=10)
            if status != 200:
                die(f"fetching {path % k} for nginx: {status}")
            (www / name / str(k)).write_bytes(body)
            if name.endswith("-gzip"):
                status, gz = http(port, path % k, headers=GZIP, timeout=10)
                if status != 200 or not gz.startswith(b"\x1f\x8b"):
                    die(f"fetching {path % k} with Accept-Encoding: gzip: {status}, not gzip")
                (www / name / f"{k}.gz").write_bytes(gz)
            paths.append(path % k)
        (work / f"{name}-granite.paths").write_text("\n".join(paths) + "\n")
        (work / f"{name}-nginx.paths").write_text("\n".join(f"/{name}/{k}" for k in keys) + "\n")


def schema_of(binary):
    """The schema version a build of granite boots on ("granite version")."""
    found = re.search(r"\(schema (\d+)\)", run([str(binary), "version"]).stdout)
    return int(found.group(1)) if found else None


def baseline_database(baseline, binary, url, work):
    """Where the baseline serves from: the same database when it boots on the
    same schema; otherwise (each release boots only on the schema it knows) a
    database of its own in the same cluster, seeded alike by the baseline."""
    if schema_of(baseline) == schema_of(binary):
        return url
    theirs = url.replace("dbname=granite_bench", "dbname=granite_bench_baseline")
    if theirs == url:
        die("the baseline needs a database of its own, and the bench's URL does not name dbname=granite_bench")
    admin = url.replace("dbname=granite_bench", "dbname=postgres")
    psql(admin, "DROP DATABASE IF EXISTS granite_bench_baseline")
    psql(admin, "CREATE DATABASE granite_bench_baseline")
    say(f"the baseline boots on schema {schema_of(baseline)}, this build on {schema_of(binary)}: "
        "seeding a database of its own")
    seed_forum(baseline, theirs, work)
    return theirs


def forum(args, work, url):
    binary = ROOT / "build" / "granite"
    load_ms = seed_forum(binary, url, work)
    starts = time_starts(binary, url, args.workers, work)
    statements = json.loads(run([str(binary), "statements"]).stdout)

    # What runs: granite as users run it (its defaults: cache and access log
    # on), the same without its access log, without its cache, and the
    # baseline build if one is given; nginx with and without its access log.
    settings = args.set
    g = {"granite": Granite(binary, url, args.workers, settings, work / "granite.log")}
    g["granite-nolog"] = Granite(binary, url, args.workers, ["--set", "log.access=false", *settings],
                                 work / "granite-nolog.log")
    g["nocache"] = Granite(binary, url, args.workers, ["--set", "cache.enabled=false", *settings],
                           work / "granite-nocache.log")
    g["nocache-nolog"] = Granite(binary, url, args.workers,
                                 ["--set", "cache.enabled=false", "--set", "log.access=false", *settings],
                                 work / "granite-nocache-nolog.log")
    args.baseline_writes = False
    if args.baseline:
        theirs = baseline_database(args.baseline, binary, url, work)
        # Its writes need the writer's session, which is in this build's
        # database: a baseline on a database of its own only reads.
        args.baseline_writes = theirs == url
        g["baseline"] = Granite(args.baseline, theirs, args.workers, settings, work / "baseline.log")
    # The write-connection curve's instances keep no cache: their change
    # feeds would follow every write of every run on this one machine (on a
    # fleet, each instance has cores of its own; scripts/bench fleet-writers
    # measures what delivery costs).
    for n in WRITE_CONNECTIONS:
        g[f"writes-{n}"] = Granite(binary, url, args.workers, ["--set", f"database.write_connections={n}",
                                                               "--set", "cache.enabled=false", *settings],
                                   work / f"granite-writes-{n}.log")
    try:
        for x in g.values():
            x.wait_serving()
        time.sleep(2)  # the workers' start-up work (a decoy password hash) is done
        rss = {"idle": g["granite"].largest_worker_rss_kib(), "peak": 0}
        token, digest, uid = sign_in_writer(g["granite"].port, url)
        www = work / "www"
        write_bodies(g["granite"].port, www, work)
        nginx = {"nginx": Nginx(work, www, True), "nginx-nolog": Nginx(work, www, False)}
        try:
            return forum_rounds(args, work, url, statements, g, nginx, rss, token, digest, uid, load_ms, starts)
        finally:
            for n in nginx.values():
                n.stop()
    finally:
        for x in g.values():
            x.stop()


def forum_rounds(args, work, url, statements, g, nginx, rss, token, digest, uid, load_ms, starts):
    port = nginx["nginx"].port
    if http(port, "/thread-posts/7")[1] != http(g["granite"].port, "/api/posts/in-thread/7?limit=100")[1]:
        die("nginx and granite serve different bodies")
    pg = Pgbench(url, args.seconds, {"digest": digest, "uid": uid})
    for name, (_, _, _, queries, variables) in READS.items():
        (work / f"{name}.sql").write_text(pgbench_script(statements, queries, variables))
        (work / f"{name}-pipelined.sql").write_text(pgbench_pipelined_script(statements, queries, variables, PIPELINED))
    (work / "create-post.sql").write_text(pgbench_script(statements, CREATE_POST, ["\\set k random(1, 100)"]))

    def sample_rss():
        rss["peak"] = max(rss["peak"], g["granite"].largest_worker_rss_kib())

    # The reads: granite with and without its access log and cache (and the
    # baseline build). The writes: granite as users run it, the baseline,
    # and granite with more write connections; the mix also without the cache.
    readers = [n for n in g if not n.startswith("writes-")]
    writers = [n for n in g if n == "granite" or n.startswith("writes-") or (n == "baseline" and args.baseline_writes)]
    results = {}  # (scenario, connections, system) -> [value per round]

    def keep(scenario, c, system, value):
        results.setdefault((scenario, c, system), []).append(value)

    def read_run(system, c, s, r, during=None, key=None):
        target = g.get(system) or nginx[system]
        paths = work / f"{s}-{'nginx' if system.startswith('nginx') else 'granite'}.paths"
        out = work / f"{key or s}-{c}-{system}-{r}.txt"
        mode = "paths-gzip" if s.endswith("-gzip") else "paths"
        cpu = target.cpu_seconds() if system in g else None
        x = wrk(target.url(), c, args.seconds, "requests.lua", [mode, str(paths)], out, during)
        if x and cpu is not None and x["requests"]:
            # granite's processes' CPU per request, in µs (wrk's warm-up
            # and wind-down included: a slight overestimate).
            x["cpu_us"] = (target.cpu_seconds() - cpu) * 1e6 / x["requests"]
        keep(key or s, c, system, x)
        target.empty_log()

    def locked_run(c, r):
        # Uncached reads of users while six PATCHes of the writer's own row
        # wait on a lock another session holds.
        lock = RowLock(url, g["nocache"].port, f"/api/users/{uid}", b'{"bio":"waits on a lock"}', token)
        try:
            read_run("nocache", c, "user", r, key="user-locked")
        finally:
            lock.release()
        for status, n in lock.answers.items():
            patches[status] = patches.get(status, 0) + n

    patches = {}  # the PATCHes' answers during the locked runs, by status

    reads = [s for s in READS if s in args.only]
    say("warming up")
    for s in reads:
        for system in readers:
            mode = "paths-gzip" if s.endswith("-gzip") else "paths"
            wrk(g[system].url(), 16, args.seconds, "requests.lua", [mode, str(work / f"{s}-granite.paths")], "/dev/null")
    for x in list(g.values()) + list(nginx.values()):
        x.empty_log()

    for r in range(1, args.rounds + 1):
        for s in reads:
            for c in args.connections:
                say(f"round {r}/{args.rounds}: {s}, {c} connections")
                # Each round starts with the next system: none always runs
                # first, right after the pipelined pgbench that heats the
                # database, or last.
                systems = readers + list(nginx)
                k = (r - 1) % len(systems)
                for system in systems[k:] + systems[:k]:
                    read_run(system, c, s, r, sample_rss if system == "granite" else None)
                if s == "user":
                    locked_run(c, r)
                keep(s, c, "pgbench", pg.run(c, [work / f"{s}.sql"], work / f"{s}-{c}-pgbench-{r}.txt"))
                tps = pg.run(c, [work / f"{s}-pipelined.sql"], work / f"{s}-{c}-pgbench-pipelined-{r}.txt")
                keep(s, c, "pgbench-pipelined", tps and tps * PIPELINED)
        for c in args.connections:
            if not {"create-post", "keyed-post", "mix"} & set(args.only):
                break
            say(f"round {r}/{args.rounds}: create-post and mix, {c} connections")
            for system in writers if "create-post" in args.only else []:
                out = work / f"create-post-{c}-{system}-{r}.txt"
                keep("create-post", c, system, wrk(g[system].url(), c, args.seconds, "requests.lua", ["posts", token], out,
                                                   sample_rss if system == "granite" else None))
            if "create-post" in args.only or "keyed-post" in args.only:
                keep("create-post", c, "pgbench", pg.run(c, [work / "create-post.sql"],
                                                         work / f"create-post-{c}-pgbench-{r}.txt"))
            if "keyed-post" in args.only:
                # Each with an Idempotency-Key of its own (a key per run, so
                # that no run repeats an earlier one's).
                out = work / f"keyed-post-{c}-granite-{r}.txt"
                keep("keyed-post", c, "granite", wrk(g["granite"].url(), c, args.seconds, "requests.lua",
                                                     ["keyed-posts", token, f"r{r}c{c}"], out))
            for system in [n for n in writers if not n.startswith("writes-")] + ["nocache"] if "mix" in args.only else []:
                out = work / f"mix-{c}-{system}-{r}.txt"
                keep("mix", c, system, wrk(g[system].url(), c, args.seconds, "requests.lua", ["mix", token], out))
            if "mix" in args.only:
                keep("mix", c, "pgbench", pg.run(c, [f"{work / 'thread-posts.sql'}@95", f"{work / 'create-post.sql'}@5"],
                                                 work / f"mix-{c}-pgbench-{r}.txt"))
            for x in g.values():
                x.empty_log()
    sample_rss()
    # What the read cache holds now, on the worker that answers (the hot
    # sets of every scenario that ran, both variants of the large pages).
    cache = json.loads(http(g["granite"].port, "/health/cache")[1])
    return forum_report(args, work, results, rss, pg, load_ms, starts, patches, cache)


def forum_report(args, work, results, rss, pg, load_ms, starts, patches, cache):
    def rate(s, c, system):
        return stats.median([x and x["rate"] for x in results.get((s, c, system), [])])

    def tps(s, c):
        return stats.median(results.get((s, c, "pgbench"), []))

    def p99(s, c, system):
        return pct(s, c, system, 99.0)

    def pct(s, c, system, p):
        return stats.median([x and x["latency_ms"].get(p) for x in results.get((s, c, system), [])])

    def of_runs(s, c, system, field):
        return stats.median([x and x.get(field) for x in results.get((s, c, system), [])])

    titles = {name: spec[0] for name, spec in READS.items()}
    titles.update({"create-post": "POST /api/posts (signed in)", "keyed-post": "the same, with an Idempotency-Key",
                   "mix": "95 % thread pages, 5 % new posts"})
    cs = args.connections
    headline, nolog, baseline = [], [], []
    for s in [s for s in SCENARIOS if s in args.only]:
        for c in cs:
            gr, nc, ng, pb = rate(s, c, "granite"), rate(s, c, "nocache"), rate(s, c, "nginx"), tps(s, c)
            if s in ("create-post", "keyed-post"):
                pb = tps("create-post", c)
                headline.append([titles[s], c, stats.cell(gr), stats.cell(p99(s, c, "granite"), 2), "-", "-",
                                 stats.cell(pb), "-", stats.cell(stats.ratio(gr, pb), 2) + " (granite / pgbench)"])
            else:
                headline.append([titles[s], c, stats.cell(gr), stats.cell(p99(s, c, "granite"), 2), stats.cell(nc),
                                 stats.cell(ng), stats.cell(pb), stats.cell(stats.ratio(gr, ng), 2),
                                 stats.cell(stats.ratio(nc, pb), 2)])
            if s in READS:
                gn, nn, ncn = rate(s, c, "granite-nolog"), rate(s, c, "nginx-nolog"), rate(s, c, "nocache-nolog")
                nolog.append([titles[s], c, stats.cell(gn), stats.cell(nn), stats.cell(stats.ratio(gn, nn), 2),
                              stats.cell(stats.ratio(gr, gn), 2), stats.cell(ncn), stats.cell(pb),
                              stats.cell(stats.ratio(ncn, pb), 2)])
            if args.baseline:
                b = rate(s, c, "baseline")
                tails = [stats.cell(f(s, c, system), d) for system in ("granite", "baseline")
                         for f, d in ((lambda s, c, x: pct(s, c, x, 50.0), 2), (p99, 2),
                                      (lambda s, c, x: of_runs(s, c, x, "max_ms"), 1))]
                baseline.append([titles[s], c, stats.cell(gr), stats.cell(b), stats.cell(stats.ratio(gr, b), 2)] + tails)

    cpu = cpu_model()
    bad = sum(x["non2xx"] + x["socket_errors"] for (_, _, system), runs in results.items()
              if not system.startswith(("pgbench", "nginx")) for x in runs if x)
    failed_runs = sum(1 for runs in results.values() for x in runs if x is None)
    mib = lambda kib: f"{kib / 1024:.1f}"  # noqa: E731
    out = [f"### forum: {os.cpu_count()} cores ({cpu}), {args.workers} workers, median of {args.rounds} rounds of "
           f"{args.seconds} s{' ' + ' '.join(args.set) if args.set else ''}", "",
           "granite with its defaults (read cache and access log on, the log to a file); nginx with its access log "
           "to a file; pgbench running granite's own prepared statements.", "",
           stats.table(["scenario", "conns", "granite req/s", "p99 ms", "no cache req/s", "nginx req/s",
                        "pgbench tps", "granite / nginx", "no cache / pgbench"], headline), "",
           "Access logs off (granite `log.access=false`, nginx `access_log off`; pgbench as above):", "",
           stats.table(["scenario", "conns", "granite req/s", "nginx req/s", "granite / nginx",
                        "log on / log off (granite)", "no cache req/s", "pgbench tps", "no cache / pgbench"],
                       nolog), ""]
    uncached = []
    for s in [s for s in READS if s in args.only]:
        for c in cs:
            for system in ("nocache-nolog", "nocache"):
                uncached.append([titles[s], c, "log off" if system.endswith("nolog") else "log on",
                                 stats.cell(rate(s, c, system))] +
                                [stats.cell(pct(s, c, system, p), 2) for p in (50.0, 90.0, 99.0)] +
                                [stats.cell(of_runs(s, c, system, "max_ms"), 1),
                                 stats.cell(stats.ratio(pct(s, c, system, 99.0), pct(s, c, system, 50.0)), 1),
                                 stats.cell(of_runs(s, c, system, "cpu_us"), 1),
                                 stats.cell(tps(s, c)),
                                 stats.cell(stats.median(results.get((s, c, "pgbench-pipelined"), []))),
                                 stats.cell(stats.ratio(rate(s, c, system), tps(s, c)), 2)])
    out += ["The database path alone (granite `cache.enabled=false`), with its access log off and on: wrk's "
            "latency percentiles and maximum (medians of the rounds), the p99 against the p50, and CPU per "
            "request of granite's own processes (user and system time from `/proc`, as pidstat reads it); "
            f"pgbench with as many clients, plain and pipelining {PIPELINED} statements to a sync "
            "(statements a second: the database's true ceiling).", "",
            stats.table(["scenario", "conns", "access log", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms",
                         "p99 / p50", "CPU µs/req", "pgbench tps", "pipelined stmts/s", "req/s / pgbench"],
                        uncached), ""]
    locked = [[c, stats.cell(rate("user", c, "nocache")), stats.cell(rate("user-locked", c, "nocache")),
               stats.cell(stats.ratio(rate("user-locked", c, "nocache"), rate("user", c, "nocache")), 2)] for c in cs]
    answered = ", ".join(f"{n} x {status}" for status, n in sorted(patches.items(), key=str)) or "none"
    out += ["Uncached `GET /api/users/{id}` (granite `cache.enabled=false`) alone, and while six `PATCH`es of one "
            "user wait on a row lock that another session holds (`SELECT ... FOR UPDATE`) the whole run; each "
            f"asks again once answered (their answers: {answered}):", "",
            stats.table(["conns", "alone req/s", "during the lock req/s", "during / alone"], locked), ""]
    curve = []
    for c in cs:
        pb = tps("create-post", c)
        rates = [rate("create-post", c, "granite")] + [rate("create-post", c, f"writes-{n}") for n in WRITE_CONNECTIONS]
        curve.append([c] + [stats.cell(x) for x in rates] + [stats.cell(pb)] +
                     [stats.cell(stats.ratio(x, pb), 2) for x in rates])
    counts = (1,) + WRITE_CONNECTIONS
    out += ["`POST /api/posts` by `database.write_connections` per worker (granite's defaults otherwise), and "
            "pgbench running the same two statements:", "",
            stats.table(["conns"] + [f"{n} req/s" for n in counts] + ["pgbench tps"] + [f"{n} / pgbench" for n in counts],
                        curve), ""]
    if "keyed-post" in args.only:
        keyed = [[c, stats.cell(rate("create-post", c, "granite")), stats.cell(rate("keyed-post", c, "granite")),
                  stats.cell(stats.ratio(rate("keyed-post", c, "granite"), rate("create-post", c, "granite")), 2)]
                 for c in cs]
        out += ["`POST /api/posts` with an `Idempotency-Key` of its own on each request, against the same without:", "",
                stats.table(["conns", "without req/s", "keyed req/s", "keyed / without"], keyed), ""]
    if args.baseline:
        out += [f"Against the baseline build {args.baseline} (same settings, same rounds):", "",
                stats.table(["scenario", "conns", "granite req/s", "baseline req/s", "granite / baseline",
                             "granite p50 ms", "p99", "max", "baseline p50 ms", "p99", "max"], baseline),
                ""]
    out += [f"- Data: seed --synthetic {FORUM_SIZE} loaded in {load_ms} ms.",
            f"- granite serve to the first 200 on /health (schema migrated, {args.workers} workers): median "
            f"{stats.median(starts)} ms of {len(starts)} ({' '.join(map(str, starts))} ms).",
            f"- Worker RSS (largest worker, cache.size_mib default): idle {mib(rss['idle'])} MiB, peak under load "
            f"{mib(rss['peak'])} MiB.",
            f"- Read cache of the worker that answered at the end: {cache['entries']} entries, {cache['bytes']} bytes, "
            f"{cache['bytes'] // max(cache['entries'], 1)} bytes per entry (bodies, gzip variants, targets, headers "
            f"and the bookkeeping); {cache['hits']} hits, {cache['misses']} misses, {cache['spared']} pages spared "
            f"by a change of their list.",
            f"- Non-2xx responses and socket errors from granite over every run: {bad}; wrk or pgbench runs that "
            f"failed: {failed_runs}. pgbench clients capped below max_connections ({pg.max_connections}): "
            f"{' '.join(sorted(pg.capped)) or 'none'}.",
            f"- Raw outputs: {work.relative_to(ROOT)}"]
    return "\n".join(out)
