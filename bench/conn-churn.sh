#!/usr/bin/env bash
# Sonde's cost while 1,000 TCP connections/s are opened and closed on loopback, with
# every signal exported over OTLP/gRPC to a local sink. Prints load/attach time, agent
# CPU (user+system, % of one core), RSS, events received and lost.
#
# usage: sudo bench/conn-churn.sh [RATE] [SECONDS] [WORKERS]
#   WORKERS  churn.py client and server processes (default 1; one tops out near 7k/s)
# BENCH_ENDPOINT=http://127.0.0.1:9 (a closed port) makes it a backend outage instead.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
rate=${1:-1000}
secs=${2:-30}
workers=${3:-1}
bench_build
bench_start
bench_measure python3 bench/churn.py "$rate" "$secs" 0 "$workers"
bench_report
