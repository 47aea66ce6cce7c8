"""The login-storm benchmark: is the password-hashing bulkhead a bulkhead?"""

import json
import os
import subprocess
import time

import stats
from systems import KIT, ROOT, Granite, die, http, say, wrk


def login_storm(args, work, url):
    binary = ROOT / "build" / "granite"
    with open(work / "setup.log", "a") as log:
        for step in (["migrate"], ["seed", "--file", str(ROOT / "config" / "demo-forum.json")]):
            subprocess.run([str(binary), *step, "--set", f"database.url={url}"], stderr=log, check=True)
    # Every sign-in comes from 127.0.0.1: the per-client attempt limit is off
    # here, this is about the CPU the hashing may take.
    g = Granite(binary, url, args.workers, ["--set", "auth.attempts_per_minute=0", *args.set], work / "granite.log")
    try:
        g.wait_serving()
        return login_storm_rounds(args, work, g)
    finally:
        g.stop()


def login_storm_rounds(args, work, g, accounts=64):
    say(f"signing up {accounts} accounts")
    for i in range(accounts):
        body = json.dumps({"username": f"bench_{i}", "password": f"bench password {i}"}).encode()
        if http(g.port, "/api/users", "POST", body, {"Content-Type": "application/json"}, timeout=30)[0] != 201:
            die(f"sign-up {i} failed")
    reads = work / "read.paths"
    reads.write_text("/api/users/1\n")
    say("warming up")
    wrk(g.url(), 16, 3, "requests.lua", ["paths", str(reads)], "/dev/null")
    quiet, storm, logins = [], [], []
    for r in range(1, args.rounds + 1):
        say(f"round {r}/{args.rounds}: reads alone")
        quiet.append(wrk(g.url(), 16, args.seconds, "requests.lua", ["paths", str(reads)], work / f"quiet-{r}.txt"))
        say(f"round {r}/{args.rounds}: reads during a sign-in storm")
        cmd = ["wrk", "-t1", "-c32", f"-d{args.seconds + 2}s", "--latency", "-s", str(KIT / "requests.lua"),
               g.url(), "--", "sign-in", str(accounts)]
        stormer = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(1)
        storm.append(wrk(g.url(), 16, args.seconds, "requests.lua", ["paths", str(reads)], work / f"storm-{r}.txt"))
        text = stormer.communicate()[0]
        (work / f"storm-logins-{r}.txt").write_text(text)
        logins.append(stats.parse_wrk(text))
        g.empty_log()
        time.sleep(5)  # sign-ins still queued when the storm stopped end before the next quiet round

    def col(runs, f):
        return stats.median([f(x) for x in runs if x])

    q50, q99 = col(quiet, lambda x: x["latency_ms"].get(50.0)), col(quiet, lambda x: x["latency_ms"].get(99.0))
    s50, s99 = col(storm, lambda x: x["latency_ms"].get(50.0)), col(storm, lambda x: x["latency_ms"].get(99.0))
    qrate, srate = col(quiet, lambda x: x["rate"]), col(storm, lambda x: x["rate"])
    return "\n".join([
        f"### login-storm: {os.cpu_count()} cores, {args.workers} workers, median of {args.rounds} rounds of "
        f"{args.seconds} s {' '.join(args.set)}", "",
        stats.table(["GET /api/users/1 (wrk -t1 -c16)", "p50 ms", "p99 ms", "requests/s"], [
            ["alone", stats.cell(q50, 2), stats.cell(q99, 2), stats.cell(qrate)],
            ["during the sign-in storm", stats.cell(s50, 2), stats.cell(s99, 2), stats.cell(srate)],
            ["ratio storm/alone", stats.cell(stats.ratio(s50, q50), 2), stats.cell(stats.ratio(s99, q99), 2), ""]]),
        "",
        f"Storm: POST /api/sessions (wrk -t1 -c32), Argon2id at the default cost: {stats.cell(col(logins, lambda x: x['rate']))} "
        f"responses/s, of which {stats.cell(col(logins, lambda x: x['non2xx']))} (of "
        f"{stats.cell(col(logins, lambda x: x['requests']))}) were 503 + Retry-After from the full hashing queue "
        f"(medians).",
        f"- Raw outputs: {work.relative_to(ROOT)}"])
