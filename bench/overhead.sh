#!/usr/bin/env bash
# What an agent costs the workloads it watches, side by side with the peers on the same
# hooks. nginx (1 worker, CPU 0) serves loopback traffic to wrk (CPU 1); each run is one
# workload under one configuration, and the configurations alternate round by round (the
# order rotates) so that drift between blocks does not favour any of them.
#
# Workloads:
#   keepalive  wrk -t1 -c50 on a 612-byte static file, keep-alive
#   churn      the same with "Connection: close": one TCP connection per request
#   dns        bench/dnsload.py at a fixed rate (--dns-rate) against dnsmasq on 127.0.0.153
#   proxy      wrk -t1 -c50 on /api/, which nginx proxies to bench/overhead/backend.py
#              (CPU 0 too), one upstream connection per request: client and server sides
# Configurations:
#   none        no agent
#   sonde       target/release/sonde, built-in default config (TCP + DNS), exporting
#               every signal over OTLP/gRPC to the local otlp-sink (bench/lib.sh)
#   sonde-http  the same plus bench/overhead/sonde-http.yaml (http.enabled: true): up to
#               e0686fd the HTTP capture alone, from eb2b3db on the HTTP signals too
#   tcplife     libbpf-tools tcplife, output to /dev/null
#   bpftrace    bench/overhead/hooks.bt: counts the tracepoints Sonde's TCP probes use (the floor)
#   bpftrace-data  (not in the default list) bench/overhead/data-hooks.bt: counts the
#               sock_send_length/sock_recv_length tracepoints HTTP capture uses (its floor)
#   bpftrace-syscalls  (not in the default list) bench/overhead/syscall-hooks.bt: counts the
#               18 data-syscall tracepoints HTTP capture used before (what they cost)
#   bpftrace-accept  (not in the default list) bench/overhead/accept-hook.bt: counts
#               sys_exit_accept4 alone (what one syscall tracepoint costs every syscall)
#   sonde-noexport  (diagnostic, not in the default list) sonde with every exporter off
#               (OTEL_SDK_DISABLED=true, bench/overhead/sonde-noexport.yaml): no encoding, no sink
#   sonde-http-nodns (diagnostic) sonde-http without the DNS capture
#               (bench/overhead/sonde-http-nodns.yaml)
#   sonde-packets, sonde-http-packets (diagnostic) with DNS seen on packets, not sockets
#               (bench/overhead/sonde-packets.yaml, sonde-http-packets.yaml)
#   sonde-nodns (diagnostic) sonde without the DNS capture (bench/overhead/sonde-nodns.yaml):
#               no cgroup_skb programs on every packet
#
# Per run: req/s (lookups/s for dns), p99 latency, and for the agent process its CPU
# (user+system from /proc/PID/stat over the workload), peak RSS (VmHWM), events received
# and lost (Sonde's final stderr lines; bpftrace's counts). The table (medians, min-max,
# ratio to no agent in the same round) is printed at the end by bench/overhead/report.py;
# raw results stay in the results directory it names.
#
# usage: sudo bench/overhead.sh [--smoke] [--rounds N] [--seconds S] [--workloads LIST]
#                               [--configs LIST] [--dns-rate R] [--retries N] [--profile WORKLOAD]
#   --retries   a run during which other tasks (other people's builds) used more than 10%
#               of a core is run again once the machine is quiet, up to N times (default 3);
#               the waiting for quiet is at most BENCH_WAIT_BUDGET s (1800) over the run
#   --smoke     1 round of 3 s, none and sonde only; exits non-zero unless the agent
#               started, every run served requests, and the agent lost nothing
#   --profile   instead of the comparison: WORKLOAD under sonde (or the first of --configs,
#               one of the sonde ones) twice, with
#               `perf record -g -p <agent>` then `perf record -g -a`; prints the agent's top
#               symbols, then where every CPU's time went (BPF programs included);
#               BENCH_PERF_DWARF=1 adds DWARF call graphs (time per Sonde function)
# A configuration written CONFIG@PATH runs the agent build at PATH (e.g. sonde-http@/tmp/sonde-old
# beside sonde-http: before and after a change, alternating in one run; as in hook-cost.sh).
# Environment: BENCH_CTXSW=1 (diagnostic: each run prints the context switches per second of
# nginx's worker and of the agent and its sink), BENCH_BPF_STATS=1 (diagnostic: kernel.bpf_stats_enabled during the runs, and
# each Sonde run prints its BPF programs' runs, ns per run and total time; the accounting
# adds to every program's cost), CARGO_TARGET_DIR (where the release build goes), BENCH_OUT (results dir),
# BENCH_IDLE=1 (each CPU's idle share during each run, in idle.txt: which one limits it),
# BENCH_WRK_THREADS (wrk -t, default 1; the HTTP issue's keep-alive figure uses 2),
# BENCH_MAX_LOAD (default 1.5: the full run waits up to 5 min for the 1-min load average
# to fall below it, then runs anyway and records it).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

rounds=3 secs=15 dns_rate=10000 smoke=0 profile="" max_retries=3 configs_given=0
workloads=keepalive,churn,dns,proxy
configs=none,sonde,sonde-http,tcplife,bpftrace
while (($#)); do
  case $1 in
    --smoke) smoke=1 rounds=1 secs=3 configs=none,sonde max_retries=0 ;;
    --rounds) rounds=$2; shift ;;
    --seconds) secs=$2; shift ;;
    --workloads) workloads=$2; shift ;;
    --configs) configs=$2 configs_given=1; shift ;;
    --dns-rate) dns_rate=$2; shift ;;
    --profile) profile=$2; shift ;;
    --retries) max_retries=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/overhead.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ -n "$profile" ]; then
  workloads=$profile rounds=1
  ((configs_given)) || configs=sonde
  configs=${configs%%,*}
fi
IFS=, read -ra workloads <<<"$workloads"
IFS=, read -ra configs <<<"$configs"

# --- prerequisites -------------------------------------------------------------------
missing=()
need() { command -v "$1" >/dev/null || missing+=("$1 (apt-get install $2)"); }
need cargo "a Rust toolchain: rustup"
need python3 python3
need curl curl
need taskset util-linux
need nginx nginx
need wrk wrk
need dnsmasq dnsmasq-base
for c in "${configs[@]}"; do
  case ${c%@*} in
    none | sonde | sonde-http | sonde-noexport | sonde-nodns | sonde-http-nodns | sonde-packets | sonde-http-packets) ;;
    tcplife) need tcplife libbpf-tools ;;
    bpftrace | bpftrace-data | bpftrace-syscalls | bpftrace-accept) need bpftrace bpftrace ;;
    *) echo "bench/overhead.sh: unknown configuration $c" >&2; exit 2 ;;
  esac
done
for w in "${workloads[@]}"; do
  case $w in keepalive | churn | dns | proxy) ;; *) echo "bench/overhead.sh: unknown workload $w" >&2; exit 2 ;; esac
done
[ -n "$profile" ] && need perf linux-perf
if ((${#missing[@]})); then
  echo "bench/overhead.sh: missing: ${missing[*]}" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "bench/overhead.sh: loads BPF programs and needs root (sudo bench/overhead.sh)" >&2
  exit 1
fi
if [ "$(nproc)" -lt 2 ]; then
  echo "bench/overhead.sh: needs 2 CPUs (nginx on CPU 0, the load generator on CPU 1)" >&2
  exit 1
fi

# --- cleanup: everything started here is stopped on any exit --------------------------
run=$(mktemp -d /tmp/sonde-overhead.XXXXXX)
chmod 755 "$run" # nginx's worker (nobody) reads the static file
results=${BENCH_OUT:-$run.results}
mkdir -p "$results"
sleeper="" nginx_pid="" nginx_worker="" ksoftirqd="" backend_pid="" dns_pid="" peer_pid="" perf_pid="" agent="" sink=""
cleanup() {
  set +e
  exec 3>&- 2>/dev/null # the sink stops when its stdin closes
  local all="$perf_pid $peer_pid $agent $sink $nginx_pid $nginx_worker $backend_pid $dns_pid $sleeper" p alive
  for p in $all; do kill -TERM "$p" 2>/dev/null; done
  for _ in $(seq 50); do
    alive=0
    for p in $all; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for p in $all; do kill -KILL "$p" 2>/dev/null; done
  [ -n "$bpf_stats_was" ] && sysctl -qw kernel.bpf_stats_enabled="$bpf_stats_was"
  rm -rf "$run"
}
# sleep in the background, so that a signal ends the wait at once
pause() { sleep "$1" & sleeper=$!; wait "$sleeper"; sleeper=""; }
trap cleanup EXIT
trap 'exit 130' INT TERM
bpf_stats_was=""
if [ "${BENCH_BPF_STATS:-0}" = 1 ]; then
  bpf_stats_was=$(sysctl -n kernel.bpf_stats_enabled)
  sysctl -qw kernel.bpf_stats_enabled=1
fi

hz=$(getconf CLK_TCK)

# --- build, and wait for a quiet machine ----------------------------------------------
echo "== building the release agent and the OTLP sink"
bench_build
load_start=$(cut -d' ' -f1 /proc/loadavg)
if ((!smoke)) && [ -z "$profile" ]; then
  max=${BENCH_MAX_LOAD:-1.5}
  for _ in 1 2 3 4 5; do
    awk -v l="$load_start" -v m="$max" 'BEGIN { exit !(l > m) }' || break
    echo "== load average $load_start > $max (other work on this machine): waiting 60 s"
    pause 60
    load_start=$(cut -d' ' -f1 /proc/loadavg)
  done
fi
echo "== load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- the services: nginx + backend + dnsmasq on CPU 0 ----------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
backend_port=$(free_port)
mkdir -p "$run/www" "$run/tmp"
python3 -c 'import sys; sys.stdout.write(("<p>sonde overhead benchmark</p>\n" * 20)[:612])' >"$run/www/index.html"
sed -e "s|@RUN@|$run|g" -e "s|@PORT@|$port|g" -e "s|@BACKEND@|$backend_port|g" \
  bench/overhead/nginx.conf >"$run/nginx.conf"
taskset -c 0 nginx -q -p "$run" -c "$run/nginx.conf" -e "$run/nginx-error.log" &
nginx_pid=$!
taskset -c 0 python3 bench/overhead/backend.py "$backend_port" &
backend_pid=$!
dns_addr=127.0.0.153
taskset -c 0 dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces \
  --listen-address=$dns_addr --port=53 --cache-size=0 --pid-file= \
  --address=/bench.sonde.test/192.0.2.7 --address=/nx.sonde.test/ 2>"$run/dnsmasq.err" &
dns_pid=$!
ready=0
for _ in $(seq 50); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$port/index.html" 2>/dev/null &&
    curl -fsS -o /dev/null "http://127.0.0.1:$port/api/ready" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
if ((!ready)); then
  echo "bench/overhead.sh: nginx or the backend did not answer on 127.0.0.1:$port" >&2
  cat "$run/nginx-error.log" >&2 2>/dev/null
  exit 1
fi
if ! kill -0 "$dns_pid" 2>/dev/null; then
  echo "bench/overhead.sh: dnsmasq did not start on $dns_addr:53:" >&2
  cat "$run/dnsmasq.err" >&2
  exit 1
fi
nginx_worker=$(pgrep -P "$nginx_pid" | tr '\n' ' ')
ksoftirqd=$(pgrep -x 'ksoftirqd/[0-9]+' | tr '\n' ' ')
echo "== nginx on 127.0.0.1:$port (CPU 0), backend on :$backend_port, dnsmasq on $dns_addr:53"

# --- agents -----------------------------------------------------------------------------
# agent_start CONFIG: sets pid (the process whose CPU and memory are measured, empty for
# none) and log (where its final report goes).
agent_start() {
  pid="" log=""
  # CONFIG@BINARY: that configuration with another agent build (before/after in one run)
  bench_sonde=${BENCH_SONDE:-$bench_bin/sonde}
  [[ $1 == *@* ]] && bench_sonde=${1#*@}
  case ${1%@*} in
    none) ;;
    sonde) bench_start >/dev/null || return 1; pid=$agent ;;
    sonde-http) bench_start --config bench/overhead/sonde-http.yaml >/dev/null || return 1; pid=$agent ;;
    sonde-nodns) bench_start --config bench/overhead/sonde-nodns.yaml >/dev/null || return 1; pid=$agent ;;
    sonde-http-nodns | sonde-packets | sonde-http-packets)
      bench_start --config "bench/overhead/${1%@*}.yaml" >/dev/null || return 1; pid=$agent ;;
    sonde-noexport)
      BENCH_ENV=OTEL_SDK_DISABLED=true bench_start --config bench/overhead/sonde-noexport.yaml >/dev/null || return 1
      pid=$agent
      ;;
    tcplife)
      log=$run/tcplife.err
      tcplife >/dev/null 2>"$log" &
      peer_pid=$! pid=$!
      sleep 2
      ;;
    bpftrace | bpftrace-data | bpftrace-syscalls | bpftrace-accept)
      log=$run/bpftrace.out
      local script=bench/overhead/hooks.bt
      [ "$1" = bpftrace-data ] && script=bench/overhead/data-hooks.bt
      [ "$1" = bpftrace-syscalls ] && script=bench/overhead/syscall-hooks.bt
      [ "$1" = bpftrace-accept ] && script=bench/overhead/accept-hook.bt
      bpftrace "$script" >"$log" 2>&1 &
      peer_pid=$! pid=$!
      for _ in $(seq 100); do grep -q "^Attaching" "$log" && break; sleep 0.1; done
      sleep 1
      ;;
  esac
  if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
    echo "bench/overhead.sh: $1 did not start" >&2
    cat "$log" >&2 2>/dev/null
    return 1
  fi
}

# agent_stop CONFIG: stops it and sets events and lost ("-" when it does not say).
agent_stop() {
  events=- lost=- dropped=-
  case ${1%@*} in
    none) ;;
    sonde | sonde-http | sonde-noexport | sonde-nodns | sonde-http-nodns | sonde-packets | sonde-http-packets)
      if [ "${BENCH_BPF_STATS:-0}" = 1 ]; then
        bpftool prog show -j | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p.get("name", "").startswith("sonde_") and p.get("run_cnt"):
        n, runs, ns = p["name"], p["run_cnt"], p["run_time_ns"]
        print(f"{n:<24} {runs:>10} runs {ns / runs:8.0f} ns/run {ns / 1e6:9.1f} ms")' \
          >"$results/$tag.bpfstats" && sed "s/^/     /" "$results/$tag.bpfstats"
      fi
      bench_stop
      cp "$out/agent.err" "$results/$tag.agent.err"
      tail -1 "$out/sink.log" >"$results/$tag.sink" 2>/dev/null || true
      local line
      line=$(grep "events received" "$out/agent.err" || true)
      if [ -n "$line" ]; then
        events=$(sed -n 's/.*events received \([0-9]*\), lost \([0-9]*\).*/\1/p' <<<"$line")
        lost=$(sed -n 's/.*events received \([0-9]*\), lost \([0-9]*\).*/\2/p' <<<"$line")
      else
        echo "bench/overhead.sh: the agent printed no final report (killed?)" >&2
      fi
      dropped=$(awk '/sonde: exported/ { for (i = 1; i <= NF; i++) if ($i ~ /^dropped=/) { sub(/dropped=/, "", $i); n += $i } }
        END { print n + 0 }' "$out/agent.err")
      rm -rf "$out"
      agent="" sink=""
      ;;
    tcplife | bpftrace | bpftrace-data | bpftrace-syscalls | bpftrace-accept)
      kill -TERM "$peer_pid" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$peer_pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$peer_pid" 2>/dev/null || true
      wait "$peer_pid" 2>/dev/null || true
      peer_pid=""
      cp "$log" "$results/$tag.$1"
      if [ "$1" != tcplife ]; then
        events=$(awk '/^@/ { n += $NF } END { print n + 0 }' "$log")
        lost=0
      fi
      ;;
  esac
}

# quiet_wait: returns 0 once other tasks used under 10% of a core over 5 s of our idling;
# 1 when the waiting budget (BENCH_WAIT_BUDGET seconds over the whole run) is spent.
waited=0
quiet_wait() {
  local a b pid="" sink=""
  while ((waited < ${BENCH_WAIT_BUDGET:-1800})); do
    a=$(others)
    pause 5
    b=$(others)
    waited=$((waited + 5))
    ((b - a < hz / 2)) && return 0
    ((waited % 60 == 5)) && echo "   (other work on the machine: $((100 * (b - a) / hz / 5))% of a core; waiting)"
  done
  echo "   (waited ${waited} s in all for a quiet machine: running anyway)"
  return 1
}

ticks() { if [ -n "$1" ] && [ -r "/proc/$1/stat" ]; then awk '{ print $14 + $15 }' "/proc/$1/stat"; else echo 0; fi; }

# Context switches (voluntary, involuntary) of every thread of the given processes.
ctxsw() {
  local p files=()
  for p in "$@"; do [ -n "$p" ] && files+=(/proc/"$p"/task/*/status); done
  ((${#files[@]})) || { echo "0 0"; return; }
  awk '/^voluntary_ctxt_switches/ { v += $2 } /^nonvoluntary_ctxt_switches/ { n += $2 } END { print v + 0, n + 0 }' \
    "${files[@]}" 2>/dev/null || echo "0 0"
}

# CPU ticks used on the machine (user, system, irq and softirq, which a task's own system
# time includes here, and steal: the hypervisor's other guests) minus those of our tasks:
# the services, the agent and its sink, ksoftirqd, and this script with its waited-for
# children (wrk, dnsload). What is left is other people's work, reported as "other CPU".
others() {
  local t=0 p
  for p in $nginx_pid $nginx_worker $backend_pid $dns_pid $pid $sink $ksoftirqd; do
    t=$((t + $(ticks "$p")))
  done
  t=$((t + $(awk '{ print $14 + $15 + $16 + $17 }' /proc/$$/stat)))
  awk -v ours="$t" '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 - ours }' /proc/stat
}

# Per-CPU idle and total ticks ("cpuN idle total" lines), for BENCH_IDLE: which CPU limits
# the run. A CPU left idle during a workload is one whose hooks don't cost throughput.
cpu_ticks() {
  awk '$1 ~ /^cpu[0-9]+$/ { t = 0; for (i = 2; i <= NF; i++) t += $i; print $1, $5 + $6, t }' /proc/stat
}

# workload NAME: runs it on CPU 1, output in $results/$tag.out; sets reqs, wall, rps, p99, errors.
workload() {
  local url="http://127.0.0.1:$port/index.html" hdr=() f=$results/$tag.out
  case $1 in
    churn) hdr=(-H "Connection: close") ;;
    proxy) url="http://127.0.0.1:$port/api/x" ;;
  esac
  if [ "$1" = dns ]; then
    timeout $((secs * 4 + 20)) taskset -c 1 python3 bench/dnsload.py $dns_addr "$dns_rate" "$secs" >"$f" ||
      { echo "bench/overhead.sh: dnsload.py failed or timed out" >&2; return 1; }
    read -r reqs wall < <(sed -n 's/.*answered=\([0-9]*\) .*seconds=\([0-9.]*\).*/\1 \2/p' "$f")
    rps=$(awk -v n="$reqs" -v s="$wall" 'BEGIN { printf "%.0f", n / s }')
    p99=- errors=$(sed -n 's/^lookups=\([0-9]*\) answered=\([0-9]*\).*/\1 \2/p' "$f" | awk '{ print $1 - $2 }')
  else
    timeout $((secs + 30)) taskset -c 1 wrk -t"${BENCH_WRK_THREADS:-1}" -c50 -d"${secs}s" --timeout 2s --latency "${hdr[@]}" "$url" >"$f" ||
      { echo "bench/overhead.sh: wrk failed or timed out:" >&2; cat "$f" >&2; return 1; }
    read -r reqs wall < <(sed -n 's/^ *\([0-9]*\) requests in \([0-9.]*\)\(m*s\),.*/\1 \2 \3/p' "$f" |
      awk '{ print $1, ($3 == "ms" ? $2 / 1000 : $2) }')
    rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$f")
    p99=$(awk '$1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
      print (u == "us" ? v / 1000 : u == "s" ? v * 1000 : u == "m" ? v * 60000 : v) }' "$f")
    errors=$(awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$f")
  fi
}

# --- profile mode -----------------------------------------------------------------------
# Two runs of the workload under the agent: perf on the agent's process alone (where its own
# CPU goes), then perf on every CPU (where the workload's extra time goes: the BPF
# programs run in nginx's and wrk's context and are charged to them, not to the agent).
if [ -n "$profile" ]; then
  set +o pipefail # `perf report | head` ends perf report early, on purpose
  # Frame-pointer call graphs (-g) are what the release build has: self time is exact,
  # callers are not. BENCH_PERF_DWARF=1 unwinds with DWARF instead (at 499 Hz, to keep
  # the file small) and adds the inclusive time of Sonde's own functions.
  callgraph=(-g)
  [ "${BENCH_PERF_DWARF:-0}" = 1 ] && callgraph=(-F 499 --call-graph "dwarf,32768")
  report() { perf report -i "$1" --no-children -g none --stdio "${@:2}" 2>/dev/null | grep -v '^#' | grep -v '^$'; }
  for scope in agent system; do
    tag=profile-$profile-$scope
    agent_start "${configs[0]}"
    if [ $scope = agent ]; then target=(-p "$pid" "${callgraph[@]}"); else target=(-a -g); fi
    perf record "${target[@]}" -o "$results/$tag.data" 2>"$results/$tag.err" &
    perf_pid=$!
    sleep 1
    workload "$profile"
    kill -INT "$perf_pid"; wait "$perf_pid" || true; perf_pid=""
    agent_stop "${configs[0]}"
    echo "== $profile under ${configs[0]}, perf on the $scope: $rps req/s, events $events, lost $lost"
    if [ $scope = agent ]; then
      echo "-- the agent's samples by shared object"
      report "$results/$tag.data" --sort dso | head -6 | tee "$results/$tag-dso.txt"
      echo "-- the agent's top symbols (self time)"
      report "$results/$tag.data" --sort dso,sym | head -30 | tee "$results/$tag-sym.txt"
      if [ "${BENCH_PERF_DWARF:-0}" = 1 ]; then
        echo "-- Sonde's own functions, time including what they call (DWARF call graphs)"
        perf report -i "$results/$tag.data" --children -g none --stdio --sort sym 2>/dev/null |
          grep -E '\] (sonde::|<sonde::)' | head -40 | tee "$results/$tag-children.txt"
      fi
    else
      echo "-- every CPU by command and shared object"
      report "$results/$tag.data" --sort comm,dso | head -15 | tee "$results/$tag-dso.txt"
      echo "-- BPF programs (every CPU, self time)"
      report "$results/$tag.data" --sort sym | grep 'bpf_prog_' | head -15 | tee "$results/$tag-bpf.txt"
      echo "-- top kernel and user symbols (every CPU, self time)"
      report "$results/$tag.data" --sort comm,sym | head -25 | tee "$results/$tag-sym.txt"
    fi
  done
  echo "== perf data in $results"
  exit 0
fi

# --- the comparison ---------------------------------------------------------------------
n=${#configs[@]}
per_run=$((secs + 6))
echo "== ${#workloads[@]} workloads x $n configurations x $rounds rounds of ${secs} s" \
  "(about $(((${#workloads[@]} * n * rounds * per_run + 59) / 60)) min, more if it waits for a quiet machine);" \
  "results in $results"
tsv=$results/results.tsv
((smoke)) || quiet_wait || true
printf 'workload\tround\tconfig\treqs\tseconds\trps\tp99_ms\terrors\tagent_cpu_s\tsink_cpu_s\thwm_kib\tevents\tlost\tload1\tother_cpu_s\texport_dropped\tattempts\n' >"$tsv"
for w in "${workloads[@]}"; do
  # an unmeasured warm-up: the first run after a start or a change of workload was slow
  tag=$w-warmup secs_saved=$secs secs=3
  workload "$w" >/dev/null
  secs=$secs_saved
  for r in $(seq "$rounds"); do
    for i in $(seq 0 $((n - 1))); do
      c=${configs[$(((i + r - 1) % n))]}
      tag=$w-$r-${c//\//_}
      for attempt in $(seq $((max_retries + 1))); do
        load1=$(cut -d' ' -f1 /proc/loadavg)
        agent_start "$c"
        mine=$(ticks "$pid") sinks=$(ticks "$sink") other=$(others)
        if [ "${BENCH_CTXSW:-0}" = 1 ]; then
          read -r nv0 nn0 <<<"$(ctxsw $nginx_worker)"
          read -r av0 an0 <<<"$(ctxsw $pid $sink)"
        fi
        if [ "${BENCH_IDLE:-0}" = 1 ]; then
          idle0=$(cpu_ticks)
        fi
        workload "$w"
        if [ "${BENCH_IDLE:-0}" = 1 ]; then
          # line by line (both in /proc/stat's order): join would want cpu10 before cpu2
          echo "   idle during the run: $(paste -d' ' <(echo "$idle0") <(cpu_ticks) |
            awk '{ printf "%s %.1f %%  ", $1, 100 * ($5 - $2) / ($6 - $3) }')" | tee -a "$results/idle.txt"
        fi
        cpu=$(awk -v a="$mine" -v b="$(ticks "$pid")" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }')
        sinkcpu=$(awk -v a="$sinks" -v b="$(ticks "$sink")" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }')
        other=$(awk -v a="$other" -v b="$(others)" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }')
        hwm=$([ -n "$pid" ] && awk '/VmHWM/ { print $2 }' "/proc/$pid/status" || echo -)
        if [ "${BENCH_CTXSW:-0}" = 1 ]; then
          read -r nv1 nn1 <<<"$(ctxsw $nginx_worker)"
          read -r av1 an1 <<<"$(ctxsw $pid $sink)"
          echo "   context switches per s: nginx worker $(((nv1 - nv0) / secs)) voluntary, $(((nn1 - nn0) / secs)) involuntary;" \
            "agent and sink $(((av1 - av0) / secs)) voluntary, $(((an1 - an0) / secs)) involuntary" | tee -a "$results/ctxsw.txt"
        fi
        agent_stop "$c"
        # Other people's work took more than 10% of a core during the run: wait for the
        # machine to be quiet and run it again (at most max_retries times).
        awk -v o="$other" -v s="$wall" 'BEGIN { exit !(o > 0.1 * s) }' || break
        ((attempt <= max_retries)) || break
        echo "   $w round $r $c: other work took ${other} s of CPU during the run; running it again"
        quiet_wait || break
      done
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$w" "$r" "$c" "$reqs" "$wall" \
        "$rps" "$p99" "$errors" "$cpu" "$sinkcpu" "$hwm" "$events" "$lost" "$load1" "$other" "$dropped" "$attempt" >>"$tsv"
      printf '   %-9s round %s  %-10s %8s req/s  p99 %6s ms  agent CPU %5s s  events %9s  lost %-7s other CPU %s s\n' \
        "$w" "$r" "$c" "$rps" "$p99" "$cpu" "$events" "$lost" "$other"
      sleep 1
    done
  done
done
echo "== load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 bench/overhead/report.py "$tsv" --load-start "$load_start" | tee "$results/table.md"
echo "== raw results: $results"
if ((smoke)); then
  python3 bench/overhead/report.py "$tsv" --check-smoke
fi
