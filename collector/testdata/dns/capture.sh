#!/usr/bin/env bash
# Re-captures the real DNS messages of this folder: a dnsmasq on 127.0.0.1:5353 (loopback
# only) answers dig, tcpdump records each exchange, extract_pcap.py cuts out the messages.
# Needs root and `apt-get install -y dnsmasq dnsutils tcpdump`. Transaction ids change on
# every run, so rewrite the expected files afterwards and review the diff:
#   SONDE_UPDATE_GOLDEN=1 cargo test -p sonde-collector --lib protocol::dns
# The hostile_*.bin cases are crafted, not captured: see craft_hostile.py.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

big=()
for i in $(seq 1 40); do big+=("--host-record=big.example.test,192.0.2.$((100 + i))"); done
python3 "$here/upstream_fixture.py" &
pids+=($!)
dnsmasq --keep-in-foreground --port=5353 --listen-address=127.0.0.1 --bind-interfaces \
  --no-resolv --no-hosts --log-facility=/dev/null \
  --local=/example.test/ --address=/wild.example.test/192.0.2.10 --address=/blocked.test/ \
  --server=/fail.test/127.0.0.1#5354 --server=/fwd.test/127.0.0.1#5354 \
  --host-record=www.example.test,192.0.2.20 --host-record=v6.example.test,2001:db8::10 \
  --host-record=dual.example.test,192.0.2.30,2001:db8::30 \
  --host-record=multi.example.test,192.0.2.41 --host-record=multi.example.test,192.0.2.42 \
  --cname=alias.example.test,www.example.test --cname=alias2.example.test,alias.example.test \
  --txt-record=txt.example.test,"hello world" --mx-host=example.test,mail.example.test,10 \
  --srv-host=_http._tcp.example.test,www.example.test,80 "${big[@]}" &
pids+=($!)
sleep 1

# capture CASE [--queries] -- DIG-ARGS...
capture() {
  local case=$1 flags=()
  shift
  [ "$1" = --queries ] && { flags=(--queries); shift; }
  [ "$1" = -- ] && shift
  tcpdump -i lo -U -s 0 -w "$work/$case.pcap" port 5353 >/dev/null 2>&1 &
  local tp=$!
  sleep 0.7
  dig @127.0.0.1 -p 5353 "$@" >/dev/null
  sleep 0.5
  kill "$tp"
  wait "$tp" 2>/dev/null || true
  python3 "$here/extract_pcap.py" "$case" "$work/$case.pcap" "$here" "${flags[@]}"
}

capture a --queries -- www.example.test A
capture aaaa --queries -- v6.example.test AAAA
capture mixed_case --queries -- WwW.ExAmPlE.TeSt A
capture noedns --queries -- +noedns www.example.test A
capture https_type --queries -- www.example.test HTTPS
capture ptr --queries -- -x 192.0.2.20
capture forwarded_cname_ttl --queries -- www.fwd.test A
capture cname_chain -- alias2.example.test A
capture multi_a -- multi.example.test A
capture nxdomain -- nope.example.test A
capture blocked -- blocked.test A
capture refused -- www.google.com A
capture servfail -- www.fail.test A
capture txt -- txt.example.test TXT
capture mx -- example.test MX
capture srv -- _http._tcp.example.test SRV
capture tc_udp -- +noedns +ignore big.example.test A
capture wildcard -- wild.example.test A
capture dual_aaaa -- dual.example.test AAAA
capture nodata -- www.example.test AAAA
capture tcp_big -- +tcp big.example.test A
capture tcp_a -- +tcp +keepopen www.example.test A dual.example.test AAAA
echo "captured into $here"
