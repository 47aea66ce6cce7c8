#!/usr/bin/env python3
"""granite's benchmarks: runs the systems, keeps the raw outputs, prints the
tables. scripts/bench is the way in (it installs, builds and starts the
PostgreSQL cluster first); its comment says what each benchmark measures."""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from access_log import access_log  # noqa: E402
from fleet_writers import fleet_writers  # noqa: E402
from forum import forum  # noqa: E402
from forum import SCENARIOS as FORUM_SCENARIOS  # noqa: E402
from login_storm import login_storm  # noqa: E402
from replicas import replicas  # noqa: E402
from systems import ROOT, die  # noqa: E402


def main():
    p = argparse.ArgumentParser(prog="scripts/bench", description="granite's benchmarks (see scripts/bench)")
    p.add_argument("scenario", nargs="?", default="forum",
                   choices=["forum", "login-storm", "access-log", "fleet-writers", "replicas"])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=int)
    p.add_argument("--workers", type=int, default=os.cpu_count())
    p.add_argument("--connections", default="16 64 256", help='e.g. "64 256"')
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a granite setting for every granite run")
    p.add_argument("--baseline", type=Path, metavar="BINARY",
                   help="forum: also run this granite build, alternating with the current one")
    p.add_argument("--only", metavar="NAMES", help="forum: only these scenarios, e.g. mix,thread-posts")
    args = p.parse_args()
    forum_scenarios = list(FORUM_SCENARIOS)
    args.only = args.only.split(",") if args.only else forum_scenarios
    if unknown := [s for s in args.only if s not in forum_scenarios]:
        p.error(f"--only: no scenario {', '.join(unknown)} (there are {', '.join(forum_scenarios)})")
    try:
        args.connections = [int(c) for c in args.connections.split()]
    except ValueError:
        p.error(f"--connections takes whole numbers, got {args.connections!r}")
    args.set = [w for kv in args.set for w in ("--set", kv)]
    if args.seconds is None:
        args.seconds = 10 if args.scenario == "login-storm" else 5
    if args.baseline and not os.access(args.baseline, os.X_OK):
        die(f"--baseline {args.baseline}: not an executable")
    if os.environ.get("BENCH_CHECK_ONLY"):
        return  # scripts/bench checks the arguments before it installs and builds
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        die("run me through scripts/bench (it starts the PostgreSQL cluster and sets BENCH_DATABASE_URL)")
    work = ROOT / "var" / "bench" / f"{args.scenario}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    work.mkdir(parents=True)
    report = {"forum": forum, "login-storm": login_storm, "access-log": access_log,
              "fleet-writers": fleet_writers, "replicas": replicas}[args.scenario](args, work, url)
    (work / "report.md").write_text(report + "\n")
    print()
    print(report)


if __name__ == "__main__":
    main()
