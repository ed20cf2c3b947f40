#!/usr/bin/env bash
# Sonde's cost while 1,000 TCP connections/s are opened and closed on loopback, with
# every signal exported over OTLP/gRPC to a local sink. Prints load/attach time, agent
# CPU (user+system, % of one core), RSS, events received and lost.
#
# usage: sudo bench/conn-churn.sh [RATE] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-1000}
secs=${2:-30}
cargo build --release --locked -q -p sonde-collector --bin sonde
cargo build --release --locked -q -p sonde-integration-tests --bin otlp-sink
out=$(mktemp -d)

# The sink runs until its stdin closes.
exec 3> >(target/release/otlp-sink >"$out/sink.log")
for _ in $(seq 50); do grep -q grpc= "$out/sink.log" 2>/dev/null && break; sleep 0.1; done
grpc=$(sed -n 's/^grpc=\([^ ]*\) .*/\1/p' "$out/sink.log")

OTEL_EXPORTER_OTLP_ENDPOINT=$grpc OTEL_METRIC_EXPORT_INTERVAL=10000 \
  target/release/sonde >"$out/agent.out" 2>"$out/agent.err" &
agent=$!
for _ in $(seq 100); do grep -q "probes attached" "$out/agent.err" 2>/dev/null && break; sleep 0.1; done
grep "probes attached" "$out/agent.err"
sleep 1
idle_rss=$(awk '/VmRSS/ {print $2}' /proc/$agent/status)

ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' /proc/$agent/stat; }
c0=$(cpu); t0=$(date +%s.%N)
python3 bench/churn.py "$rate" "$secs" | tee "$out/churn.log"
c1=$(cpu); t1=$(date +%s.%N)
rss=$(awk '/VmRSS/ {print $2}' /proc/$agent/status)
hwm=$(awk '/VmHWM/ {print $2}' /proc/$agent/status)
sleep 2
kill -TERM $agent; wait $agent || true
exec 3>&-
sleep 1

awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$ticks" -v idle="$idle_rss" -v rss="$rss" -v hwm="$hwm" 'BEGIN {
  printf "agent CPU: %.2f%% of one core (%.2f s over %.1f s)\n", 100 * (c1 - c0) / hz / (t1 - t0), (c1 - c0) / hz, t1 - t0;
  printf "agent RSS: idle %.1f MiB, under load %.1f MiB, peak %.1f MiB\n", idle / 1024, rss / 1024, hwm / 1024 }'
grep -E "events received|exported|final flush" "$out/agent.err"
cat "$out/sink.log" | tail -1
rm -rf "$out"
