#!/usr/bin/env bash
# Sonde's cost while local processes make 2,000 DNS lookups/s against dnsmasq on
# loopback (127.0.0.53:53, local records only), with every signal exported over
# OTLP/gRPC to a local sink.
#
# usage: sudo bench/dns-lookups.sh [RATE] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
rate=${1:-2000}
secs=${2:-30}
command -v dnsmasq >/dev/null || { echo "needs dnsmasq (apt-get install dnsmasq-base)" >&2; exit 1; }
bench_build
dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces \
  --listen-address=127.0.0.53 --port=53 --cache-size=0 \
  --address=/bench.sonde.test/192.0.2.7 --address=/nx.sonde.test/ &
dns=$!
trap 'kill $dns 2>/dev/null || true' EXIT
sleep 0.5
bench_start
bench_measure python3 bench/dnsload.py 127.0.0.53 "$rate" "$secs"
bench_report
