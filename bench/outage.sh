#!/usr/bin/env bash
# A long backend outage under load (not in CI): the agent exports every signal over
# OTLP/gRPC to 127.0.0.1:PORT, where for HANG seconds a backend accepts connections and
# never answers, then for DOWN seconds nothing listens, then the real sink is back (through
# bench/relay.py). Meanwhile bench/churn.py opens RATE connections/s (each a flow log
# record and a span: 2×RATE items/s). Prints the agent's RSS (before, peak in each phase),
# its accounting per signal (handed = sent + rejected + failed + dropped must hold), and
# how long after the backend came back the first answer reached the agent.
#
# usage: sudo bench/outage.sh [RATE] [HANG] [DOWN] [BACK]   (default 2500 600 600 60)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
rate=${1:-2500}
hang=${2:-600}
down=${3:-600}
back=${4:-60}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
bench_build
python3 bench/relay.py "$port" blackhole >/dev/null &
relay=$!
sleep 0.5
BENCH_ENDPOINT=http://127.0.0.1:$port bench_start
echo "outage: baseline RSS $((idle_rss / 1024)) MiB; ${rate} conn/s; ${hang} s unanswered, ${down} s refused, ${back} s back"
python3 bench/churn.py "$rate" $((hang + down + back)) 0 2 >"$out/churn.log" &
churn=$!
sample() { # phase seconds: the peak VmRSS (KiB) over the phase, sampled every 2 s
  local peak=0 r end=$((SECONDS + $2))
  while ((SECONDS < end)); do
    r=$(awk '/VmRSS/ {print $2}' /proc/$agent/status)
    ((r > peak)) && peak=$r
    sleep 2
  done
  echo "$1 $peak" >>"$out/rss"
}
sample unanswered "$hang"
kill "$relay"; wait "$relay" 2>/dev/null || true
sample refused "$down"
grpc=$(sed -n 's/^grpc=\([^ ]*\) .*/\1/p' "$out/sink.log")
grpc_port=${grpc##*:}
python3 bench/relay.py "$port" forward "127.0.0.1:$grpc_port" >"$out/relay.log" &
relay=$!
t_back=$(date +%s.%N)
sample back "$back"
wait "$churn" || true
bench_stop
kill "$relay" 2>/dev/null || true
while read -r phase peak; do
  echo "outage: RSS peak while $phase: $((peak / 1024)) MiB (+$(((peak - idle_rss) / 1024)) MiB over the baseline)"
done <"$out/rss"
first=$(sed -n 's/^first-answer //p' "$out/relay.log")
if [ -n "$first" ]; then
  awk -v a="$first" -v b="$t_back" 'BEGIN { printf "outage: first answer %.1f s after the backend came back\n", a - b }'
else
  echo "outage: NO answer after the backend came back"
fi
grep -E "^sonde: exported" "$out/agent.err" | while read -r line; do
  echo "outage: $line"
  echo "$line" | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
    END { ok = (v["handed"] == v["sent"] + v["rejected"] + v["failed"] + v["dropped"]);
          printf "outage:   handed %d = sent %d + rejected %d + failed %d + dropped %d: %s\n",
            v["handed"], v["sent"], v["rejected"], v["failed"], v["dropped"], ok ? "exact" : "MISMATCH" }'
done
tail -1 "$out/churn.log" | sed 's/^/outage: churn: /'
echo "outage: raw output in $out"
