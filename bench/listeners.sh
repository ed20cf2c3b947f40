#!/usr/bin/env bash
# What the listener inventory costs with N listening sockets (default 10,000) opened before
# the agent starts, by one process:
# - the walk at start (conn.bpf.c's iter/tcp in each network namespace, then each found
#   socket's owner by its inode in /proc/*/fd): the agent's own "found in … ms";
# - the other way to find them, timed here: /proc/net/tcp and tcp6 read for the listening
#   inodes, every /proc/*/fd link resolved to match them;
# - the periodic pass over them (sonde_report, once a second: the kernel's accounting);
# - the agent's RSS with them in its inventory, and without (the holder gone, a new agent).
#
# usage: sudo bench/listeners.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
n=${1:-10000}
bench_build
ulimit -n $((n + 256))
was=$(sysctl -n kernel.bpf_stats_enabled)
holder=""
agent=""
trap '[ -n "$holder" ] && kill "$holder" 2>/dev/null; [ -n "$agent" ] && bench_stop; sysctl -qw kernel.bpf_stats_enabled="$was"' EXIT
fifo=$(mktemp -u)
mkfifo "$fifo"
python3 -c '
import socket, sys, time
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    socks.append(s)
print("ready", flush=True)
time.sleep(3600)' "$n" >"$fifo" &
holder=$!
read -r _ <"$fifo"
rm -f "$fifo"
echo "holder $holder listens on $n sockets"

python3 -c '
import os, time
t0 = time.monotonic()
inodes = set()
for f in ("/proc/net/tcp", "/proc/net/tcp6"):
    with open(f) as fh:
        next(fh)
        for line in fh:
            p = line.split()
            if p[3] == "0A":
                inodes.add(p[9])
owners = {}
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                owners.setdefault(link[8:-1], pid)
    except OSError:
        continue
ms = (time.monotonic() - t0) * 1000
print(f"/proc/net/tcp{{,6}} + /proc/*/fd: {len(inodes)} listeners, {len(owners)} owned, in {ms:.0f} ms")'

sysctl -qw kernel.bpf_stats_enabled=1
bench_start
grep -o "[0-9]* listening sockets.*" "$out/agent.err"
sleep 6
bpftool prog show -j | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p.get("name") == "sonde_report" and p.get("run_cnt"):
        runs, ns = p["run_cnt"], p["run_time_ns"]
        print(f"sonde_report: {runs} runs, {ns / runs / 1000:.0f} us per run")'
echo "agent RSS with $n listeners: $(awk '/VmRSS/ {print $2}' /proc/$agent/status) KiB"
bench_stop
agent=""
rm -rf "$out"
kill "$holder"
holder=""
sleep 1
bench_start
grep -o "[0-9]* listening sockets.*" "$out/agent.err"
sleep 6
echo "agent RSS without them: $(awk '/VmRSS/ {print $2}' /proc/$agent/status) KiB"
bench_stop
agent=""
rm -rf "$out"
