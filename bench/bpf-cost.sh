#!/usr/bin/env bash
# What each of Sonde's BPF programs costs per run, from the kernel's own accounting
# (kernel.bpf_stats_enabled: run count and time per program), while bench/echo.py moves
# non-HTTP traffic over loopback: the price every TCP send and receive on a host pays.
# The agent runs with `http.enabled: true` (its data-path programs see every operation);
# the sysctl is restored afterwards. Then as many UDP datagrams go to a loopback port
# nothing listens on: each is a drop (no_socket) no connection takes, counted for the host.
# Then one TCP upload over loopback (MSS 1400) while an nftables rule drops 5 % of its
# data segments on input: each is a drop of a tracked connection, counted on it. Each
# phase's runs and time are printed apart (delivered packets do not run `sonde_kfree_skb`:
# they are consumed, not freed as drops).
#
# usage: sudo bench/bpf-cost.sh [ROUND_TRIPS] [UPLOAD_MB]   (default 100000, 200)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
trips=${1:-100000}
upload_mb=${2:-200}
bench_build
conf=$(mktemp --suffix=.yaml)
printf 'http:\n  enabled: true\n' >"$conf"
was=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1
trap 'sysctl -qw kernel.bpf_stats_enabled="$was"; rm -f "$conf"' EXIT
bench_start --config "$conf"
trap 'bench_stop; nft delete table inet sonde_bench 2>/dev/null || true; sysctl -qw kernel.bpf_stats_enabled="$was"; rm -f "$conf"' EXIT

# Every sonde_ program's (runs, ns) so far, as JSON.
stats() {
  bpftool prog show -j | python3 -c '
import json, sys
print(json.dumps({p["name"]: [p.get("run_cnt", 0), p.get("run_time_ns", 0)]
                  for p in json.load(sys.stdin) if p.get("name", "").startswith("sonde_")}))'
}
# What each program ran between two stats, ns per run.
phase() {
  python3 -c '
import json, sys
name, a, b = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(f"-- {name}")
for p, (runs, ns) in sorted(b.items()):
    r0, n0 = a.get(p, [0, 0])
    if runs > r0:
        print(f"{p:<24} {runs - r0:>10} runs {(ns - n0) / (runs - r0):8.0f} ns/run")' "$@"
}

s0=$(stats)
python3 bench/echo.py "$trips"
s1=$(stats)
python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(int(sys.argv[1])):
    s.sendto(b"x", ("127.0.0.1", 9))
print("dropped_datagrams=" + sys.argv[1])' "$trips"
s2=$(stats)
nft -f - <<'NFT'
table inet sonde_bench {
  chain in {
    type filter hook input priority 0;
    tcp dport 9599 meta length > 500 numgen random mod 100 < 5 counter drop
  }
}
NFT
python3 -c '
import socket, sys, threading
mb = int(sys.argv[1])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 9599))
srv.listen(1)
def sink():
    c, _ = srv.accept()
    while c.recv(1 << 20):
        pass
t = threading.Thread(target=sink)
t.start()
s = socket.socket()
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1400)
s.connect(("127.0.0.1", 9599))
chunk = b"x" * (1 << 20)
for _ in range(mb):
    s.sendall(chunk)
s.close()
t.join()' "$upload_mb"
s3=$(stats)
echo "upload_dropped_segments=$(nft -j list table inet sonde_bench | python3 -c '
import json, sys
for o in json.load(sys.stdin)["nftables"]:
    for e in o.get("rule", {}).get("expr", []):
        if "counter" in e:
            print(e["counter"]["packets"])')"
nft delete table inet sonde_bench
phase "echo round trips (no drops)" "$s0" "$s1"
phase "UDP to a closed port (host drops)" "$s1" "$s2"
phase "TCP upload, 5 % of segments dropped (connection drops)" "$s2" "$s3"
