#!/usr/bin/env python3
"""Summarise bench/overhead.sh's results.tsv as Markdown tables, one per workload.

usage: report.py RESULTS.tsv [--load-start L]   print the tables
       report.py RESULTS.tsv --check-smoke      exit 1 unless every run served requests
                                                 and every Sonde run reported lost=0

Per configuration: the median over rounds and, in brackets, the min-max spread. The
ratio is taken round by round against the no-agent run of the same round, then its
median. "lost" is events the agent counted as lost; items it received but dropped on
export (the sink too slow, say) are added in brackets. Agent CPU is user+system of the agent's process during the workload only; per
10k requests it is CPU milliseconds per 10,000 requests (20 ms per 10k requests is 2% of
a core at 10k requests/s). "Others' CPU" is what every other task on the machine used
during the run (other people's builds), plus the time the hypervisor stole: it should be
near 0 for the figures to hold.
"""
import csv
import statistics
import sys

CONFIG_NAMES = {
    "none": "no agent",
    "sonde": "Sonde (default: TCP + DNS)",
    "sonde-http": "Sonde + HTTP (`http.enabled: true`)",
    "sonde-noexport": "Sonde, export off (diagnostic)",
    "sonde-nodns": "Sonde without DNS capture (diagnostic)",
    "sonde-http-nodns": "Sonde + HTTP without DNS capture (diagnostic)",
    "tcplife": "tcplife (libbpf-tools)",
    "bpftrace": "bpftrace, hooks only (floor)",
    "bpftrace-data": "bpftrace on sock_send/recv_length, hooks only (HTTP floor)",
    "bpftrace-syscalls": "bpftrace on the 18 data-syscall tracepoints, hooks only",
    "bpftrace-accept": "bpftrace on sys_exit_accept4 alone (diagnostic)",
}
WORKLOAD_NAMES = {
    "keepalive": "keep-alive: wrk -t1 -c50, 612-byte file",
    "churn": "connection churn: wrk -t1 -c50 -H 'Connection: close'",
    "dns": "DNS: dnsload.py against dnsmasq (lookups/s)",
    "proxy": "proxy: wrk -t1 -c50 → nginx → python backend",
}


def num(v):
    try:
        return float(v)
    except ValueError:
        return None


def spread(values, fmt):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    med = fmt(statistics.median(values))
    if len(values) == 1:
        return med
    return f"{med} ({fmt(min(values))}–{fmt(max(values))})"


def kreq(v):
    return f"{v / 1000:.1f}k"


def load(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def tables(rows, load_start):
    out = []
    if load_start:
        out.append(f"Load average (1 min) at start: {load_start}.\n")
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    configs = list(dict.fromkeys(r["config"] for r in rows))
    configs.sort(key=lambda c: list(CONFIG_NAMES).index(c) if c in CONFIG_NAMES else 99)
    for w in workloads:
        mine = [r for r in rows if r["workload"] == w]
        base = {r["round"]: num(r["rps"]) for r in mine if r["config"] == "none"}
        unit = "lookups/s" if w == "dns" else "req/s"
        out.append(f"**{WORKLOAD_NAMES.get(w, w)}** ({len({r['round'] for r in mine})} rounds)\n")
        out.append(
            f"| configuration | {unit} | ratio to no agent | p99 ms | agent CPU % of a core "
            "| agent CPU ms per 10k req | sink CPU % | peak RSS MiB | events received | lost "
            "| others' CPU % |"
        )
        out.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for c in configs:
            rs = [r for r in mine if r["config"] == c]
            if not rs:
                continue
            ratios = [num(r["rps"]) / base[r["round"]] for r in rs if base.get(r["round"])]
            cpu = [num(r["agent_cpu_s"]) for r in rs]
            has_agent = c != "none"
            pct = [100 * x / num(r["seconds"]) for x, r in zip(cpu, rs)] if has_agent else []
            per10k = [1e7 * x / num(r["reqs"]) for x, r in zip(cpu, rs) if num(r["reqs"])] if has_agent else []
            sink = [100 * num(r["sink_cpu_s"]) / num(r["seconds"]) for r in rs] if c in ("sonde", "sonde-http") else []
            hwm = [num(r["hwm_kib"]) / 1024 for r in rs if num(r["hwm_kib"])]
            events = [num(r["events"]) for r in rs]
            lost = [num(r["lost"]) for r in rs if num(r["lost"]) is not None]
            other = [100 * num(r["other_cpu_s"]) / num(r["seconds"]) for r in rs if "other_cpu_s" in r]
            dropped = [num(r.get("export_dropped", "-")) or 0 for r in rs]
            errors = sum(num(r["errors"]) or 0 for r in rs)
            name = CONFIG_NAMES.get(c, c) + (f" ({errors:.0f} errors)" if errors else "")
            out.append(
                "| "
                + " | ".join(
                    [
                        name,
                        spread([num(r["rps"]) for r in rs], kreq),
                        "1" if c == "none" else spread(ratios, lambda v: f"{v:.2f}"),
                        spread([num(r["p99_ms"]) for r in rs], lambda v: f"{v:.2f}"),
                        spread(pct, lambda v: f"{v:.1f}"),
                        spread(per10k, lambda v: f"{v:.0f}"),
                        spread(sink, lambda v: f"{v:.1f}"),
                        f"{max(hwm):.1f}" if hwm else "–",
                        spread(events, lambda v: f"{v:,.0f}"),
                        (f"{sum(lost):,.0f}" if lost else "–")
                        + (f" (export dropped {sum(dropped):,.0f})" if sum(dropped) else ""),
                        spread(other, lambda v: f"{v:.0f}"),
                    ]
                )
                + " |"
            )
        out.append("")
    return "\n".join(out)


def check_smoke(rows):
    problems = []
    for r in rows:
        what = f"{r['workload']} / {r['config']}"
        reqs, errors = num(r["reqs"]) or 0, num(r["errors"]) or 0
        if not (num(r["rps"]) or 0) > 0 or reqs == 0:
            problems.append(f"{what}: no requests served")
        elif errors > 0.01 * reqs:
            problems.append(f"{what}: {errors:.0f} errors in {reqs:.0f} requests")
        if r["config"].startswith("sonde"):
            if num(r["events"]) is None:
                problems.append(f"{what}: the agent printed no final report")
            elif num(r["events"]) == 0:
                problems.append(f"{what}: the agent received no events")
            if num(r["lost"]) != 0:
                problems.append(f"{what}: the agent lost {r['lost']} events")
    for p in problems:
        print(f"smoke: FAIL {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"smoke: ok ({len(rows)} runs: requests served, agent started, lost=0)")
    return 0


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    rows = load(args[0])
    if "--check-smoke" in args:
        return check_smoke(rows)
    load_start = args[args.index("--load-start") + 1] if "--load-start" in args else ""
    print(tables(rows, load_start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
