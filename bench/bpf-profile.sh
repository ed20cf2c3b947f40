#!/usr/bin/env bash
# Where the hooks' time goes on nginx's CPU, per request, by component: the keep-alive
# workload of bench/overhead.sh (nginx, one worker on CPU 0; wrk -t2 -c50 on CPU 1, the
# 612-byte static file), sampled with `perf record -C 0` (cpu-clock: this VM has no PMU)
# under each configuration in turn, rounds alternating. Prints, per configuration, samples
# per 1,000 requests (one sample is 1/F s of CPU 0) for:
#   bodies    the BPF programs' own instructions (entry: their first 16 bytes, where the
#             retpoline'd call into them lands)
#   storage   bpf_sk_storage_get_tracing (three dependent loads, cold at a request's first
#             operation on its connection)
#   copies    user-memory reads (bpf_probe_read_user{,_str} and the kernel functions
#             under them that nginx itself does not call: copy_from_user_nofault,
#             strncpy_from_user_nofault, nmi_uaccess_okay)
#   dispatch  the tracepoint's call into BPF (bpf_trace_run3, call_trace_sock_*_length)
#   total     every CPU-0 sample, idle included; its difference to "none" is what the
#             agent costs nginx's CPU per request
# then each program's hottest instructions (offset, samples, disassembly from the JIT
# image read back through the bpf syscall). perf adds its own cost to every run (the
# request rate drops ~20 %), so the figures are for comparing components and builds in one
# run, not for the throughput ratio (bench/overhead.sh); "total" and "added" move by ±2
# samples per 1,000 requests between runs, the components by ~0.05.
#
# usage: bench/bpf-profile.sh [--rounds N] [--seconds S] [--freq F] [--configs LIST]
#   configs: none, sonde, sonde-http, sonde-http-nodns, ... (bench/overhead/*.yaml), each
#            optionally CONFIG@PATH for another agent build (as in hook-cost.sh)
#   default: --rounds 2 --seconds 10 --freq 4999 --configs none,sonde-http
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

rounds=2 secs=10 freq=4999 configs=none,sonde-http
while (($#)); do
  case $1 in
    --rounds) rounds=$2; shift ;;
    --seconds) secs=$2; shift ;;
    --freq) freq=$2; shift ;;
    --configs) configs=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/bpf-profile.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
IFS=, read -ra configs <<<"$configs"
if [ "$(id -u)" != 0 ]; then
  echo "bench/bpf-profile.sh: loads BPF programs and runs perf on a CPU: needs root" >&2
  exit 1
fi
for tool in perf wrk nginx objdump python3; do
  command -v $tool >/dev/null || { echo "bench/bpf-profile.sh: needs $tool" >&2; exit 1; }
done

work=$(mktemp -d /tmp/sonde-bpf-profile.XXXXXX)
nginx_pid=""
trap '[ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null; [ -n "${agent:-}" ] && bench_stop; [ -n "${BENCH_KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"' EXIT
bench_build

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/www" "$work/tmp"
python3 -c 'import sys; sys.stdout.write(("<p>sonde overhead benchmark</p>\n" * 20)[:612])' >"$work/www/index.html"
sed -e "s|@RUN@|$work|g" -e "s|@PORT@|$port|g" -e "s|@BACKEND@|1|g" bench/overhead/nginx.conf >"$work/nginx.conf"
taskset -c 0 nginx -q -p "$work" -c "$work/nginx.conf" -e "$work/nginx-error.log" &
nginx_pid=$!
for _ in $(seq 50); do curl -fsS -o /dev/null "http://127.0.0.1:$port/index.html" 2>/dev/null && break; sleep 0.1; done

start() {
  bench_sonde=${BENCH_SONDE:-$bench_bin/sonde}
  [[ $1 == *@* ]] && bench_sonde=${1#*@}
  case ${1%@*} in
    none) ;;
    sonde) bench_start >/dev/null ;;
    *) bench_start --config "bench/overhead/${1%@*}.yaml" >/dev/null ;;
  esac
  # the agent's own work goes to CPU 1: CPU 0's samples are nginx's and its hooks'
  [ -n "${agent:-}" ] && taskset -a -p -c 1 "$agent" >/dev/null
  return 0
}

# Reads back a loaded program's JIT image (bpftool here has no libbfd to disassemble).
jit_image() {
  python3 - "$1" "$2" <<'PY'
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(bytes(attr), len(attr))
    r = libc.syscall(321, cmd, buf, len(attr))
    if r < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return r
fd = bpf(13, struct.pack('<I', int(sys.argv[1])) + b'\0' * 124)  # BPF_PROG_GET_FD_BY_ID
info = ctypes.create_string_buffer(256)
def get():
    bpf(15, struct.pack('<IIQ', fd, 256, ctypes.addressof(info)) + b'\0' * 112)  # GET_INFO_BY_FD
get()
n = struct.unpack_from('<I', info, 16)[0]  # jited_prog_len
img = ctypes.create_string_buffer(n)
ctypes.memset(info, 0, 256)
struct.pack_into('<IIQ', info, 16, n, 0, ctypes.addressof(img))
get()
open(sys.argv[2], 'wb').write(img.raw)
PY
}

first_sonde=""
for c in "${configs[@]}"; do [ "$c" != none ] && [ -z "$first_sonde" ] && first_sonde=$c; done
for ((r = 1; r <= rounds; r++)); do
  for c in "${configs[@]}"; do
    tag=$(echo "$c" | tr '/@' '__')-$r
    start "$c"
    sleep 2
    # perf itself writes its samples from CPU 1, or its own file writes count on CPU 0
    taskset -c 1 perf record -C 0 -F "$freq" -o "$work/$tag.data" -q -- sleep "$secs" 2>/dev/null &
    perf_pid=$!
    taskset -c 1 wrk -t2 -c50 -d"${secs}s" "http://127.0.0.1:$port/index.html" >"$work/$tag.wrk"
    wait "$perf_pid" || true
    if [ -n "${agent:-}" ]; then
      for p in sonde_sock_recv sonde_sock_send; do
        id=$(bpftool prog show name $p 2>/dev/null | sed -n '1s/:.*//p')
        [ "$c" = "$first_sonde" ] && [ -n "$id" ] && [ ! -s "$work/$p.dis" ] && jit_image "$id" "$work/$p.bin" &&
          objdump -D -b binary -m i386:x86-64 "$work/$p.bin" >"$work/$p.dis"
      done
      bench_stop
      agent=""
    fi
    perf script -i "$work/$tag.data" -F ip,sym,symoff 2>/dev/null | awk '{print $2}' >"$work/$tag.syms"
    echo "   round $r  $c  $(awk '/Requests\/sec/{print $2}' "$work/$tag.wrk") req/s (perf on)" >&2
  done
done

echo
echo "samples per 1,000 requests on CPU 0 (1 sample = $((1000000 / freq)) µs), median of $rounds rounds"
echo
echo "| configuration | total | added | bodies | of which entry | storage | copies | dispatch |"
echo "|---|---|---|---|---|---|---|---|"
summary() { # tag -> "total bodies entry storage copies_raw dispatch"
  local req
  req=$(awk '/requests in/{print $1}' "$work/$1.wrk")
  awk -v k="$req" '
    { n++; s = $1; sym = s; sub(/\+0x[0-9a-f]+$/, "", sym) }
    sym ~ /^bpf_prog_/ { body++; off = s; sub(/.*\+0x/, "", off); if (length(off) == 1) entry++ }
    sym == "bpf_sk_storage_get_tracing" { st++ }
    sym ~ /^(copy_from_user_nofault|strncpy_from_user_nofault|bpf_probe_read_user|bpf_probe_read_user_str|nmi_uaccess_okay)$/ { cp++ }
    sym ~ /^(bpf_trace_run3|call_trace_sock_send_length.*|call_trace_sock_recv_length.*|__bpf_trace_sock_msg_length)$/ { ds++ }
    END { k /= 1000; printf "%.2f %.2f %.2f %.2f %.2f %.2f\n", n/k, body/k, entry/k, st/k, cp/k, ds/k }' "$work/$1.syms"
}
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
base=""
for c in "${configs[@]}"; do
  t=$(echo "$c" | tr '/@' '__')
  for ((r = 1; r <= rounds; r++)); do summary "$t-$r"; done >"$work/$t.sum"
  col() { awk -v i="$1" '{print $i}' "$work/$t.sum" | median; }
  total=$(col 1)
  [ -z "$base" ] && base=$total
  printf "| %s | %.1f | %+.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n" "$c" "$total" \
    "$(awk -v a="$total" -v b="$base" 'BEGIN {print a - b}')" "$(col 2)" "$(col 3)" "$(col 4)" "$(col 5)" "$(col 6)"
done
echo
for p in sonde_sock_recv sonde_sock_send; do
  [ -s "$work/$p.dis" ] || continue
  echo "hottest instructions of $p under $first_sonde (its rounds, its JIT image):"
  cat "$work/$(echo "$first_sonde" | tr '/@' '__')"-*.syms | grep "_$p+" | sed 's/.*+0x//' | sort | uniq -c | sort -nr | head -8 |
    while read -r count off; do
      printf "  %5d  +0x%-5s %s\n" "$count" "$off" \
        "$(grep -E "^ +$off:" "$work/$p.dis" | cut -f3- | head -1)"
    done
done
# What else moved: the symbols whose samples per 1,000 requests grew most against the
# first configuration (swapper: CPU 0 idle, waiting for work from CPU 1).
per_sym() { # config -> "symbol samples-per-1k" over all its rounds
  local t req=0 r
  t=$(echo "$1" | tr '/@' '__')
  for ((r = 1; r <= rounds; r++)); do req=$((req + $(awk '/requests in/{print $1}' "$work/$t-$r.wrk"))); done
  for ((r = 1; r <= rounds; r++)); do sed 's/+0x[0-9a-f]*$//' "$work/$t-$r.syms"; done |
    sort | uniq -c | awk -v k="$req" '{printf "%s %.4f\n", $2, $1 * 1000 / k}'
}
per_sym "${configs[0]}" | sort >"$work/first.per"
for c in "${configs[@]:1}"; do
  echo "symbols that grew most under $c against ${configs[0]} (samples per 1,000 requests):"
  per_sym "$c" | sort | join -a 1 -e 0 -o 0,1.2,2.2 - "$work/first.per" |
    awk '{printf "%+.3f %s\n", $2 - $3, $1}' | sort -gr | head -12 | sed 's/^/  /'
done
