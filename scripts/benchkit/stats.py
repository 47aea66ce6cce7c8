"""What scripts/bench reads from wrk, pgbench and granite's metrics, and how it
summarises it: medians of rounds, ratios, markdown tables. No I/O beyond the
text given."""

import re
import statistics

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _duration_ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * _UNITS_MS[m.group(2)]


def parse_wrk(text):
    """A wrk run (with --latency): requests/s, latency percentiles in ms,
    completed requests, non-2xx/3xx responses and socket errors."""
    out = {"rate": None, "latency_ms": {}, "max_ms": None, "requests": 0, "non2xx": 0, "socket_errors": 0}
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["Latency"] and len(words) >= 4:  # Latency avg stdev max +/-stdev
            out["max_ms"] = _duration_ms(words[3])
        elif line.startswith("Requests/sec:"):
            out["rate"] = float(words[1])
        elif re.fullmatch(r"\s+\d+(\.\d+)?%\s+\S+", line):
            out["latency_ms"][float(words[0].rstrip("%"))] = _duration_ms(words[1])
        elif "requests in" in line:
            out["requests"] = int(words[0])
        elif line.strip().startswith("Non-2xx or 3xx responses:"):
            out["non2xx"] = int(words[-1])
        elif line.strip().startswith("Socket errors:"):
            out["socket_errors"] = sum(int(n) for n in re.findall(r"\d+", line))
    if out["rate"] is None:
        raise ValueError("no Requests/sec line: wrk did not run\n" + text[-500:])
    return out


def parse_pgbench(text):
    """A pgbench run: transactions per second (without the initial
    connection time), and the clients it ran with."""
    tps = re.search(r"^tps = ([0-9.]+)", text, re.M)
    clients = re.search(r"^number of clients: (\d+)", text, re.M)
    if not tps:
        raise ValueError("no tps line: pgbench did not run\n" + text[-500:])
    return {"tps": float(tps.group(1)), "clients": int(clients.group(1)) if clients else None}


def parse_reads_by_source(text):
    """granite's /metrics: granite_database_reads_total by source."""
    out = {}
    for m in re.finditer(r'^granite_database_reads_total\{source="([^"]+)"\} (\d+)$', text, re.M):
        out[m.group(1)] = out.get(m.group(1), 0) + int(m.group(2))
    return out


def median(values):
    """The median of the rounds; of an even number, the lower middle (a
    value that was measured). None when there is nothing."""
    values = [v for v in values if v is not None]
    return statistics.median_low(values) if values else None


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def cell(value, digits=0):
    if value is None:
        return "-"
    return f"{value:.{digits}f}"


def table(headers, rows):
    """A markdown table; every column but the first is right-aligned."""
    lines = ["| " + " | ".join(headers) + " |",
             "| " + " | ".join("---" if i < 1 else "---:" for i in range(len(headers))) + " |"]
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)
