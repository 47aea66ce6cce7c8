"""Checks granite's CloudWatch agent configuration (packer/cloudwatch-agent.json
and packer/cloudwatch-prometheus.yaml) against what it must agree with:

  --config FILE  the packaged granite.json: the agent scrapes its
                 metrics.listen and collects its log.access_file;
  --page FILE    a /metrics page granite served: every metric the agent is
                 told to send exists, is no histogram (the agent drops those),
                 and carries every label its dimensions name.

Usage: cloudwatch_check.py AGENT_JSON PROMETHEUS_YAML [--config FILE] [--page FILE]
Run with Debian's python3 (python3-yaml, python3-prometheus-client). Exits 1
with one line per problem."""
import argparse
import json
import re
import sys

import yaml

# Added by the agent to every event on EC2, not by granite.
AGENT_DIMENSIONS = {"InstanceId"}
# What the scrape itself adds to every sample.
SCRAPE_LABELS = {"job", "instance"}


def check_files(agent, scrape, problems):
    prom = agent["logs"]["metrics_collected"]["prometheus"]
    if prom.get("prometheus_config_path") != "/etc/granite/cloudwatch-prometheus.yaml":
        problems.append("prometheus_config_path is %r, not where the package installs the scrape configuration"
                        % prom.get("prometheus_config_path"))
    jobs = scrape["scrape_configs"]
    if [j["job_name"] for j in jobs] != ["granite"]:
        problems.append("the scrape configuration's jobs are %r, not [granite]" % [j["job_name"] for j in jobs])
    for decl in prom["emf_processor"]["metric_declaration"]:
        if decl["source_labels"] != ["job"] or not re.fullmatch(decl["label_matcher"], "granite"):
            problems.append("a declaration does not select job=granite: %r" % decl)
        for selector in decl["metric_selectors"]:
            re.compile(selector)


def check_config(agent, scrape, config, problems):
    targets = [t for s in scrape["scrape_configs"][0]["static_configs"] for t in s["targets"]]
    if targets != [config["metrics"]["listen"]]:
        problems.append("the agent scrapes %r; granite's metrics.listen is %r" % (targets, config["metrics"]["listen"]))
    files = [f["file_path"] for f in agent["logs"]["logs_collected"]["files"]["collect_list"]]
    if files != [config["log"]["access_file"]]:
        problems.append("the agent collects %r; granite's log.access_file is %r" % (files, config["log"]["access_file"]))


def check_page(agent, page, problems):
    from prometheus_client.parser import text_string_to_metric_families

    families = {}
    for family in text_string_to_metric_families(page):
        families[family.name] = family
    prom = agent["logs"]["metrics_collected"]["prometheus"]
    units = prom["emf_processor"].get("metric_unit", {})
    selected = set()
    for decl in prom["emf_processor"]["metric_declaration"]:
        for selector in decl["metric_selectors"]:
            # Selectors match the names of samples, as the agent sees them.
            samples = [(f, s) for f in families.values() for s in f.samples if re.search(selector, s.name)]
            if not samples:
                problems.append("%s selects no metric granite serves" % selector)
                continue
            for family, sample in samples:
                selected.add(sample.name)
                if family.type == "histogram":
                    problems.append("%s selects %s, a histogram: the agent drops those" % (selector, sample.name))
                for dims in decl["dimensions"]:
                    missing = set(dims) - set(sample.labels) - AGENT_DIMENSIONS - SCRAPE_LABELS
                    if missing:
                        problems.append("%s%r has no label %s for the dimensions %r"
                                        % (sample.name, sample.labels, sorted(missing), dims))
    for name in units:
        if name not in selected:
            problems.append("metric_unit names %s, which no declaration sends" % name)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("agent")
    parser.add_argument("scrape")
    parser.add_argument("--config")
    parser.add_argument("--page")
    args = parser.parse_args()
    with open(args.agent) as f:
        agent = json.load(f)
    with open(args.scrape) as f:
        scrape = yaml.safe_load(f)
    problems = []
    check_files(agent, scrape, problems)
    if args.config:
        with open(args.config) as f:
            check_config(agent, scrape, json.load(f), problems)
    if args.page:
        with open(args.page) as f:
            check_page(agent, f.read(), problems)
    for p in problems:
        print(p)
    if problems:
        sys.exit(1)
    print("cloudwatch: %d declarations agree" % len(agent["logs"]["metrics_collected"]["prometheus"]
                                                   ["emf_processor"]["metric_declaration"]))


if __name__ == "__main__":
    main()
