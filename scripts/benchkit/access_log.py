"""The access-log benchmark: what one line per request costs granite, against
what it costs nginx, on cached reads (where the log is the largest share of
the work); and what the metrics cost."""

import os
import subprocess
import time

import stats
from systems import ROOT, Granite, Nginx, die, http, say, wrk

USERS = range(1, 1001)


def access_log(args, work, url):
    binary = ROOT / "build" / "granite"
    with open(work / "setup.log", "a") as log:
        for step in (["migrate"], ["seed", "--synthetic", "users=1000,threads=10,posts=100"]):
            subprocess.run([str(binary), *step, "--set", f"database.url={url}"], stderr=log, check=True)
    # granite as the package runs it (plain lines to a file of their own),
    # the same in JSON lines, and without an access log; nginx with its
    # access log to a file and without.
    files = {"granite": work / "granite-access.log", "granite-json": work / "granite-json-access.log",
             "granite-nometrics": work / "granite-nometrics-access.log"}
    g = {"granite": Granite(binary, url, args.workers, ["--set", f"log.access_file={files['granite']}", *args.set],
                            work / "granite.log"),
         "granite-json": Granite(binary, url, args.workers,
                                 ["--set", f"log.access_file={files['granite-json']}", "--set", "log.format=json",
                                  *args.set], work / "granite-json.log"),
         "granite-nolog": Granite(binary, url, args.workers, ["--set", "log.access=false", *args.set],
                                  work / "granite-nolog.log"),
         # Without a metrics listener nothing is counted: the metrics' cost.
         "granite-nometrics": Granite(binary, url, args.workers,
                                      ["--set", f"log.access_file={files['granite-nometrics']}", "--set",
                                       "metrics.listen=", *args.set], work / "granite-nometrics.log")}
    nginx = {}
    try:
        for x in g.values():
            x.wait_serving()
        www = work / "www"
        (www / "user").mkdir(parents=True)
        for k in USERS:
            status, body = http(g["granite"].port, f"/api/users/{k}", timeout=10)
            if status != 200:
                die(f"fetching /api/users/{k} for nginx: {status}")
            (www / "user" / str(k)).write_bytes(body)
        (work / "granite.paths").write_text("".join(f"/api/users/{k}\n" for k in USERS))
        (work / "nginx.paths").write_text("".join(f"/user/{k}\n" for k in USERS))
        nginx = {"nginx": Nginx(work, www, True), "nginx-nolog": Nginx(work, www, False)}
        return rounds(args, work, g, nginx, files)
    finally:
        for x in list(g.values()) + list(nginx.values()):
            x.stop()


def rounds(args, work, g, nginx, files):
    systems = {**g, **nginx}

    def run(name, c, out):
        paths = work / ("nginx.paths" if name.startswith("nginx") else "granite.paths")
        return wrk(systems[name].url(), c, args.seconds, "requests.lua", ["paths", str(paths)], out)

    def empty_logs():
        for x in systems.values():
            x.empty_log()
        for f in files.values():
            if f.exists():
                os.truncate(f, 0)

    say("warming up")
    for name in systems:
        run(name, 16, "/dev/null")
    empty_logs()
    results = {}  # (connections, system) -> [wrk result per round]
    lines = {}  # system -> [lines written per second of run]
    for r in range(1, args.rounds + 1):
        for c in args.connections:
            say(f"round {r}/{args.rounds}: {c} connections")
            for name in systems:
                res = run(name, c, work / f"user-{c}-{name}-{r}.txt")
                results.setdefault((c, name), []).append(res)
                if name in files and res:
                    time.sleep(0.6)  # log.flush_ms: the last chunk is written
                    with open(files[name], "rb") as f:
                        written = sum(1 for _ in f)
                    lines.setdefault(name, []).append(written / max(res["requests"], 1))
                empty_logs()
    return report(args, work, results, lines, systems)


def report(args, work, results, lines, systems):
    def rate(c, name):
        return stats.median([x and x["rate"] for x in results.get((c, name), [])])

    rows, metrics = [], []
    for c in args.connections:
        on, off = rate(c, "granite"), rate(c, "granite-nometrics")
        metrics.append([c, stats.cell(on), stats.cell(off), stats.cell(stats.ratio(on, off), 3)])
        gr, gj, gn, ng, nn = (rate(c, n) for n in ("granite", "granite-json", "granite-nolog", "nginx", "nginx-nolog"))
        rows.append([c, stats.cell(gr), stats.cell(gj), stats.cell(gn), stats.cell(ng), stats.cell(nn),
                     stats.cell(stats.ratio(gr, gn), 2), stats.cell(stats.ratio(gj, gn), 2),
                     stats.cell(stats.ratio(ng, nn), 2), stats.cell(stats.ratio(gr, ng), 2),
                     stats.cell(stats.ratio(gn, nn), 2)])
    bad = sum(x["non2xx"] + x["socket_errors"] for (_, name), runs in results.items()
              if name.startswith("granite") for x in runs if x)
    logged = ", ".join(f"{name} {min(v):.3f} to {max(v):.3f}" for name, v in sorted(lines.items()))
    return "\n".join([
        f"### access-log: {os.cpu_count()} cores, {args.workers} workers, cached `GET /api/users/{{id}}` "
        f"(1000 users in turn), median of {args.rounds} rounds of {args.seconds} s{' ' + ' '.join(args.set) if args.set else ''}",
        "",
        "granite's access lines to a file of their own (`log.access_file`, plain and `log.format=json`) and off; "
        "nginx serving the same bodies as files, its access log to a file and off.", "",
        stats.table(["conns", "granite req/s", "granite json req/s", "granite no log req/s", "nginx req/s",
                     "nginx no log req/s", "granite log / no log", "json / no log", "nginx log / no log",
                     "granite / nginx (logs on)", "granite / nginx (logs off)"], rows), "",
        "The metrics' cost: granite as above (its metrics counted, `metrics.listen` on) against the same with "
        "`metrics.listen=` (nothing counted):", "",
        stats.table(["conns", "metrics on req/s", "metrics off req/s", "on / off"], metrics), "",
        f"- Lines in the file per request wrk counted (1.000: none lost; wrk counts only completed requests, "
        f"so a few more lines than requests is possible): {logged}.",
        f"- Non-2xx responses and socket errors from granite over every run: {bad}.",
        f"- Raw outputs: {work.relative_to(ROOT)}"])
