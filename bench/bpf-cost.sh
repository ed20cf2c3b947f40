#!/usr/bin/env bash
# What each of Sonde's BPF programs costs per run, from the kernel's own accounting
# (kernel.bpf_stats_enabled: run count and time per program), while bench/echo.py moves
# non-HTTP traffic over loopback: the price every TCP send and receive on a host pays.
# The agent runs with `http.enabled: true` (its data-path programs see every operation);
# the sysctl is restored afterwards. Then as many UDP datagrams go to a loopback port
# nothing listens on: each is a drop (no_socket), what `sonde_kfree_skb` costs per dropped
# packet (delivered packets do not run it: they are consumed, not freed as drops).
#
# usage: sudo bench/bpf-cost.sh [ROUND_TRIPS]   (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
trips=${1:-100000}
bench_build
conf=$(mktemp --suffix=.yaml)
printf 'http:\n  enabled: true\n' >"$conf"
was=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1
trap 'sysctl -qw kernel.bpf_stats_enabled="$was"; rm -f "$conf"' EXIT
bench_start --config "$conf"
trap 'bench_stop; sysctl -qw kernel.bpf_stats_enabled="$was"; rm -f "$conf"' EXIT
python3 bench/echo.py "$trips"
python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(int(sys.argv[1])):
    s.sendto(b"x", ("127.0.0.1", 9))
print("dropped_datagrams=" + sys.argv[1])' "$trips"
bpftool prog show -j | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p.get("name", "").startswith("sonde_") and p.get("run_cnt"):
        n, runs, ns = p["name"], p["run_cnt"], p["run_time_ns"]
        print(f"{n:<24} {runs:>10} runs {ns / runs:8.0f} ns/run")'
