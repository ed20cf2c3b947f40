#!/usr/bin/env bash
# The stress curve: TCP connection churn on loopback (bench/churn.py) at rising rates until
# the agent loses events. Each step runs a fresh release agent exporting every signal over
# OTLP/gRPC to the local sink (bench/lib.sh), for SECONDS of churn, then stops it with
# SIGTERM and reads what it and the sink say.
#
# Per step: the rate asked for and the one the clients achieved (conn/s); events offered
# (received by the agent plus those the kernel could not hand it), handled (offered minus
# lost) and lost by reason, from the agent's final stderr line; the loss the sink last
# received as `sonde.agent.events.lost`; the "LOST events" lines the agent printed; spans
# the sink received; agent CPU (% of one core over the churn) and peak RSS; and how long
# it took to exit after SIGTERM (it flushes for at most 5 s; "KILLED" if it had to be
# killed after 30 s).
#
# usage: sudo bench/stress.sh [--seconds S] [--workers W] [--cpu-limit PCT] [RATE...]
#   RATE   connections/s, or "max" (as fast as the clients go); default 1000 2000 5000
#          10000 20000 max
#   --workers  client (and server) processes of churn.py (default 2: one Python process
#          tops out near 7k conn/s here)
#   --cpu-limit  once attached, the agent runs in a cgroup (v1 cpu controller) allowed
#          PCT % of one core, as a container CPU limit would: on this 2-core machine the
#          clients cannot outrun an unlimited agent, a limited one shows where loss begins
# Environment: BENCH_SONDE (the agent binary to run, default the release build),
# BENCH_ENV (extra environment for the agent, e.g. "MALLOC_ARENA_MAX=1"),
# CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

secs=10 workers=2 cpu_limit=""
while (($#)); do
  case $1 in
    --seconds) secs=$2; shift ;;
    --workers) workers=$2; shift ;;
    --cpu-limit) cpu_limit=$2; shift ;;
    -*) echo "usage: $0 [--seconds S] [--workers W] [--cpu-limit PCT] [RATE...]" >&2; exit 2 ;;
    *) break ;;
  esac
  shift
done
rates=("$@")
((${#rates[@]})) || rates=(1000 2000 5000 10000 20000 max)

cgroup=""
if [ -n "$cpu_limit" ]; then
  cgroup=/sys/fs/cgroup/cpu/sonde-stress-$$
  mkdir "$cgroup"
  trap 'rmdir "$cgroup" 2>/dev/null || true' EXIT
  echo 100000 >"$cgroup/cpu.cfs_period_us"
  echo $((cpu_limit * 1000)) >"$cgroup/cpu.cfs_quota_us"
fi

bench_build
printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
  "asked conn/s" "achieved conn/s" "events offered" "handled" "lost (agent, by reason)" \
  "lost exported" "loss lines" "spans at sink" "agent CPU" "peak RSS" "SIGTERM → exit"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for rate in "${rates[@]}"; do
  bench_start >&2
  [ -z "$cgroup" ] || echo "$agent" >"$cgroup/cgroup.procs"
  bench_measure python3 bench/churn.py "$rate" "$secs" 0 "$workers" >"$out/churn.log"
  # Let the pipeline drain and one more metric export happen before stopping.
  sleep 2
  stop0=$(date +%s.%N)
  kill -TERM "$agent"
  for _ in $(seq 600); do kill -0 "$agent" 2>/dev/null || break; sleep 0.05; done
  stop1=$(date +%s.%N)
  bench_stop
  achieved=$(sed -n 's/.*completed=\([0-9]*\) seconds=\([0-9.]*\) rate=\([0-9]*\).*/\3/p' "$out/churn.log")
  line=$(grep "events received" "$out/agent.err" || echo "events received 0, lost 0 (by reason: agent_line_missing=1)")
  events=$(sed -n 's/.*events received \([0-9?]*\), lost.*/\1/p' <<<"$line")
  lost=$(sed -n 's/.*, lost \([0-9?]*\) (by reason: \(.*\))/\1/p' <<<"$line")
  reasons=$(sed -n 's/.*(by reason: \(.*\))/\1/p' <<<"$line" | tr ' ' '\n' | grep -v '=0$' | paste -sd' ' || true)
  # Offered: what the agent received plus what the kernel could not hand it; handled:
  # offered minus every loss.
  kernel_lost=$(tr ' ' '\n' <<<"$reasons" | awk -F= '/^kernel_/ { n += $2 } END { print n + 0 }')
  offered=$((events + kernel_lost))
  handled=$((offered - lost))
  spans=$(sed -n 's/.*received spans=\([0-9]*\).*/\1/p' "$out/sink.log")
  exported=$(sed -n 's/.*agent_events_lost=\([0-9.]*\).*/\1/p' "$out/sink.log")
  lost_lines=$(cat "$out/agent.out" "$out/agent.err" | grep -c "LOST events" || true)
  if grep -q "final flush" "$out/agent.err"; then
    took=$(awk -v a="$stop0" -v b="$stop1" 'BEGIN { printf "%.1f s", b - a }')
  else
    took="KILLED"
  fi
  cpu=$(awk -v c0="$cpu0" -v c1="$c1" -v t0="$wall0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.1f %%", 100 * (c1 - c0) / hz / (t1 - t0) }')
  printf '| %s | %s | %s | %s | %s%s | %s | %s | %s | %s | %.1f MiB | %s |\n' \
    "$rate" "$achieved" "$offered" "$handled" "$lost" "${reasons:+ ($reasons)}" \
    "${exported:-?}" "$lost_lines" "${spans:-?}" "$cpu" "$(awk -v k="$hwm" 'BEGIN { print k / 1024 }')" "$took"
  if [ -n "${BENCH_KEEP:-}" ]; then
    cp -r "$out" "$BENCH_KEEP.$rate"
  fi
  rm -rf "$out"
done
