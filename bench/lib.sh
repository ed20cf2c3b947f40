# Shared by the benchmark scripts: a local OTLP sink, the release agent exporting to it,
# and the agent's CPU and memory over a measured window. Source it; needs root.

# Where the release binaries are: cargo's target directory, CARGO_TARGET_DIR if set.
bench_bin=${CARGO_TARGET_DIR:-target}/release
# The agent run: BENCH_SONDE if set (another build, to compare), else the release build.
bench_sonde=${BENCH_SONDE:-$bench_bin/sonde}

bench_build() {
  cargo build --release --locked -q -p sonde-collector --bin sonde
  cargo build --release --locked -q -p sonde-integration-tests --bin otlp-sink
}

# Starts the sink (until fd 3 closes) and the agent exporting to it over gRPC, with "$@"
# as the agent's arguments (BENCH_ENDPOINT, if set, is exported to instead, e.g. a closed
# port for an outage). Sets: out (a temp dir), sink and agent (their pids).
# Returns non-zero, with the agent's own words, if it is not attached within 10 s.
bench_start() {
  out=$(mktemp -d)
  exec 3> >(exec "$bench_bin/otlp-sink" >"$out/sink.log")
  sink=$!
  for _ in $(seq 50); do grep -q grpc= "$out/sink.log" 2>/dev/null && break; sleep 0.1; done
  local grpc
  grpc=$(sed -n 's/^grpc=\([^ ]*\) .*/\1/p' "$out/sink.log")
  if [ -z "$grpc" ]; then
    echo "bench: the OTLP sink ($bench_bin/otlp-sink) did not start" >&2
    return 1
  fi
  OTEL_EXPORTER_OTLP_ENDPOINT=${BENCH_ENDPOINT:-$grpc} OTEL_METRIC_EXPORT_INTERVAL=10000 \
    env ${BENCH_ENV:-} "$bench_sonde" "$@" >"$out/agent.out" 2>"$out/agent.err" &
  agent=$!
  for _ in $(seq 100); do
    grep -q "probes attached" "$out/agent.err" 2>/dev/null && break
    kill -0 "$agent" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep "probes attached" "$out/agent.err"; then
    echo "bench: the agent did not attach its probes; its stderr:" >&2
    sed 's/^/  /' "$out/agent.err" >&2
    return 1
  fi
  sleep 1
  idle_rss=$(awk '/VmRSS/ {print $2}' /proc/$agent/status)
}

# Stops the agent (SIGTERM; it flushes for at most 5 s, SIGKILL after 30 s), then the sink
# (its stdin closes; it prints what it received). Leaves $out for the caller to read.
bench_stop() {
  kill -TERM "$agent" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$agent" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$agent" 2>/dev/null || true
  wait "$agent" 2>/dev/null || true
  exec 3>&-
  for _ in $(seq 100); do kill -0 "$sink" 2>/dev/null || break; sleep 0.1; done
  kill "$sink" 2>/dev/null || true
}

_cpu_ticks() { awk '{print $14 + $15}' /proc/$agent/stat; }

# Runs "$@" (the workload) and measures the agent meanwhile.
bench_measure() {
  local c0 t0
  c0=$(_cpu_ticks); t0=$(date +%s.%N)
  "$@"
  c1=$(_cpu_ticks); t1=$(date +%s.%N)
  cpu0=$c0; wall0=$t0
  rss=$(awk '/VmRSS/ {print $2}' /proc/$agent/status)
  hwm=$(awk '/VmHWM/ {print $2}' /proc/$agent/status)
}

# Stops the agent and the sink, and prints the figures.
bench_report() {
  sleep 2
  bench_stop
  awk -v c0="$cpu0" -v c1="$c1" -v t0="$wall0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" \
      -v idle="$idle_rss" -v rss="$rss" -v hwm="$hwm" 'BEGIN {
    printf "agent CPU: %.2f%% of one core (%.2f s over %.1f s)\n", 100 * (c1 - c0) / hz / (t1 - t0), (c1 - c0) / hz, t1 - t0;
    printf "agent RSS: idle %.1f MiB, under load %.1f MiB, peak %.1f MiB\n", idle / 1024, rss / 1024, hwm / 1024 }'
  grep -E "events received|exported|final flush" "$out/agent.err"
  tail -1 "$out/sink.log"
  rm -rf "$out"
}
