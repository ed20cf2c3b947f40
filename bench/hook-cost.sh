#!/usr/bin/env bash
# What the agent's hooks add to each syscall and each HTTP exchange, in nanoseconds
# (bench/hook-cost.c: single-threaded loops on CPU 0, best of 9 repetitions, the kernel's
# work included; the agent itself is moved to CPU 1). The configurations alternate round by
# round; the table gives each one's median and what it adds to "none" in the same round.
# "Its server side" is the exchange's four server syscalls alone (recv, recv → EAGAIN,
# writev, sendfile, with the response's loopback delivery): what nginx's CPU, the one that
# limits bench/overhead.sh's keep-alive run, pays per request.
#
# usage: sudo bench/hook-cost.sh [--rounds N] [--configs LIST] [--ops N]
#   configs: none, sonde (built-in default: TCP + DNS), sonde-http (http.enabled: true),
#            sonde-nodns, sonde-http-nodns (the same without DNS capture:
#            bench/overhead/sonde-*nodns.yaml), sonde-packets, sonde-http-packets (DNS seen
#            on packets, not sockets), bpftrace-accept, bpftrace-data (the hooks
#            alone, counted by bpftrace: bench/overhead/accept-hook.bt, one syscall
#            tracepoint; bench/overhead/data-hooks.bt, HTTP capture's two tracepoints)
#   default: --rounds 5 --configs none,sonde,sonde-http --ops 30000
# BENCH_SONDE=path runs another agent build in the sonde configurations (bench/lib.sh);
# a configuration written CONFIG@PATH runs the build at PATH (e.g. sonde-http@/tmp/sonde-old
# beside sonde-http: before and after a change, alternating in one run).
# BENCH_BPF_STATS=1 also turns on kernel.bpf_stats_enabled and prints, per configuration,
# each BPF program's runs and run time per HTTP exchange (the kernel's own accounting:
# builds compared in one run differ reliably by 50 ns per exchange, where the exchange's
# wall time moves by ±300 ns; the accounting makes every run dearer, and the dispatch
# before a run is not in it).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

rounds=5 configs=none,sonde,sonde-http ops=30000
while (($#)); do
  case $1 in
    --rounds) rounds=$2; shift ;;
    --configs) configs=$2; shift ;;
    --ops) ops=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/hook-cost.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
IFS=, read -ra configs <<<"$configs"
if [ "$(id -u)" != 0 ]; then
  echo "bench/hook-cost.sh: loads BPF programs and needs root" >&2
  exit 1
fi
command -v clang >/dev/null || { echo "bench/hook-cost.sh: needs clang (apt-get install clang)" >&2; exit 1; }

work=$(mktemp -d /tmp/sonde-hook-cost.XXXXXX)
peer=""
stats_was=""
trap '[ -n "$peer" ] && kill "$peer" 2>/dev/null; [ -n "${agent:-}" ] && bench_stop; [ -n "$stats_was" ] && sysctl -qw kernel.bpf_stats_enabled="$stats_was"; rm -rf "$work"' EXIT
if [ "${BENCH_BPF_STATS:-0}" = 1 ]; then
  command -v bpftool >/dev/null || { echo "bench/hook-cost.sh: BENCH_BPF_STATS needs bpftool" >&2; exit 1; }
  stats_was=$(sysctl -n kernel.bpf_stats_enabled)
  sysctl -qw kernel.bpf_stats_enabled=1
fi
clang -O2 -Wall -o "$work/hook-cost" bench/hook-cost.c
bench_build

start() {
  # CONFIG@BINARY: that configuration with another agent build (before/after in one run)
  bench_sonde=${BENCH_SONDE:-$bench_bin/sonde}
  [[ $1 == *@* ]] && bench_sonde=${1#*@}
  case ${1%@*} in
    none) ;;
    sonde) bench_start >/dev/null ;;
    sonde-http) bench_start --config bench/overhead/sonde-http.yaml >/dev/null ;;
    sonde-nodns | sonde-http-nodns | sonde-packets | sonde-http-packets) bench_start --config "bench/overhead/${1%@*}.yaml" >/dev/null ;;
    bpftrace-accept | bpftrace-data)
      local script=bench/overhead/accept-hook.bt
      [ "$1" = bpftrace-data ] && script=bench/overhead/data-hooks.bt
      bpftrace "$script" >"$work/bpftrace.out" 2>&1 &
      peer=$!
      for _ in $(seq 100); do grep -q "^Attaching" "$work/bpftrace.out" && break; sleep 0.1; done
      sleep 1
      ;;
    *) echo "bench/hook-cost.sh: unknown configuration $1" >&2; exit 2 ;;
  esac
  # The agent's own work (start-up, reports, export) goes to CPU 1: on CPU 0 only what
  # its hooks add to the loops is measured (bench/overhead.sh measures the agent's CPU).
  if [ -n "${agent:-}" ]; then
    taskset -a -p -c 1 "$agent" >/dev/null
    taskset -a -p -c 1 "$sink" >/dev/null 2>&1 || true
    sleep 2
  fi
}
stop() {
  case ${1%@*} in
    sonde*) bench_stop; rm -rf "$out"; agent="" ;;
    bpftrace-*) kill "$peer"; wait "$peer" 2>/dev/null || true; peer="" ;;
  esac
}

results=$work/results
for r in $(seq "$rounds"); do
  # rotate the order so that no configuration always runs first
  n=${#configs[@]}
  for i in $(seq 0 $((n - 1))); do
    c=${configs[$(((i + r) % n))]}
    start "$c"
    for m in syscall http plain; do
      k=$ops
      [ "$m" = syscall ] && k=$((ops * 10)) # a syscall is ~100 times shorter than an exchange
      [ -n "$stats_was" ] && [ "$m" = http ] && bpftool -j prog show >"$work/before.json"
      read -r _ v server < <(taskset -c 0 "$work/hook-cost" "$m" "$k")
      echo "$r $c $m $v" >>"$results"
      [ "$m" = http ] && echo "$r $c server $server" >>"$results"
      if [ -n "$stats_was" ] && [ "$m" = http ]; then
        bpftool -j prog show >"$work/after.json"
        # hook-cost.c makes 9 repetitions of k exchanges
        python3 - "$work/before.json" "$work/after.json" "$((k * 9))" "$r" "$c" >>"$work/progs" <<'EOF'
import json, sys
before = {p["id"]: p for p in json.load(open(sys.argv[1]))}
for p in json.load(open(sys.argv[2])):
    b = before.get(p["id"], {})
    runs = p.get("run_cnt", 0) - b.get("run_cnt", 0)
    ns = p.get("run_time_ns", 0) - b.get("run_time_ns", 0)
    if runs > 0:
        print(sys.argv[4], sys.argv[5], p.get("name", "?"), runs / int(sys.argv[3]), ns / int(sys.argv[3]))
EOF
      fi
    done
    stop "$c"
    echo "   round $r  $(printf '%-18s' "$c") $(grep "^$r $c " "$results" | awk '{printf "%s %8s ns  ", $3, $4}')"
  done
done

python3 - "$results" "${configs[@]}" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
configs = sys.argv[2:]
v = {(int(r), c, m): float(x) for r, c, m, x in rows}
rounds = sorted({k[0] for k in v})
print("\n| configuration | syscall (getppid) ns | added | HTTP exchange ns | added | its server side (nginx's CPU) ns | added | non-HTTP exchange ns | added |")
print("|---|---|---|---|---|---|---|---|---|")
for c in configs:
    cells = []
    for m in ("syscall", "http", "server", "plain"):
        xs = [v[(r, c, m)] for r in rounds]
        cells.append(f"{statistics.median(xs):,.0f}")
        if "none" in configs and c != "none":
            d = [v[(r, c, m)] - v[(r, "none", m)] for r in rounds]
            cells.append(f"{statistics.median(d):+,.0f} ({min(d):+,.0f}…{max(d):+,.0f})")
        else:
            cells.append("–")
    print(f"| {c} | " + " | ".join(cells) + " |")
EOF

if [ -n "$stats_was" ] && [ -s "$work/progs" ]; then
  python3 - "$work/progs" "${configs[@]}" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
print("\n| configuration | BPF program | runs per HTTP exchange | ns per run | ns per exchange |")
print("|---|---|---|---|---|")
for c in sys.argv[2:]:
    progs = {}
    for r, conf, name, runs, ns in rows:
        if conf == c:
            progs.setdefault(name, []).append((float(runs), float(ns)))
    total = 0.0
    for name, xs in sorted(progs.items(), key=lambda kv: -statistics.median(x[1] for x in kv[1])):
        runs = statistics.median(x[0] for x in xs)
        ns = statistics.median(x[1] for x in xs)
        if runs < 0.01:
            continue  # per connection or per report, not per exchange
        total += ns
        print(f"| {c} | `{name}` | {runs:.2f} | {ns / runs:,.0f} | {ns:,.0f} |")
    if progs:
        print(f"| {c} | all | | | **{total:,.0f}** |")
EOF
fi
