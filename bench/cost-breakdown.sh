#!/usr/bin/env bash
# What each part of the HTTP capture costs nginx's CPU per request, in nanoseconds: the
# current build beside diagnostic builds that each stop one step earlier, timed by
# bench/hook-cost.sh (the exchange's server side: nginx's four socket operations, recv,
# recv → EAGAIN, writev, sendfile). The diagnostic builds are the working tree with one
# of bench/experiments/diag-*.patch applied to data.bpf.c:
#   floor    both programs return at once: the tracepoints' dispatch and the programs'
#            entry, four times a request
#   nostate  a connection with HTTP storage returns after its lookup (sk_protocol read,
#            bpf_sk_storage_get): + the storage, three lookups a request
#   noread   the user-memory reads replaced by constant bytes (the request line, writev's
#            iovec, the status line): + the state machine, its helper calls and accounting
#   (real)   the current build: + the three user-memory reads
#   kread    noread with a kernel-memory read (bpf_probe_read_kernel) of the same size at
#            each of the three places: what a read costs when the bytes are in kernel memory
# Prints each build's added server-side time and the differences between them.
#
# usage: sudo bench/cost-breakdown.sh [--rounds N] [--ops N]   (default 3 rounds, 30000 ops)
# Takes ~4 min to build the four variants (one target directory, incremental) and ~1 min
# per round. BENCH_KEEP=1 keeps the builds and results (the directory is printed).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3 ops=30000
while (($#)); do
  case $1 in
    --rounds) rounds=$2; shift ;;
    --ops) ops=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/cost-breakdown.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$(id -u)" != 0 ]; then
  echo "bench/cost-breakdown.sh: loads BPF programs and needs root" >&2
  exit 1
fi

variants=(floor nostate noread kread)
work=$(mktemp -d /tmp/sonde-breakdown.XXXXXX)
cleanup() {
  git worktree remove --force "$work/tree" 2>/dev/null || true
  if [ -n "${BENCH_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# The diagnostic trees: the working tree as it is (uncommitted changes too), then a patch.
git worktree add -q --detach "$work/tree" HEAD
git diff HEAD --binary >"$work/local.diff"
for v in "${variants[@]}"; do
  git -C "$work/tree" checkout -q -- .
  [ -s "$work/local.diff" ] && git -C "$work/tree" apply "$work/local.diff"
  if ! git -C "$work/tree" apply "$PWD/bench/experiments/diag-$v.patch"; then
    echo "bench/cost-breakdown.sh: bench/experiments/diag-$v.patch no longer applies to data.bpf.c: update it (the step it cuts is in its comment above)" >&2
    exit 1
  fi
  echo "== building the $v variant" >&2
  (cd "$work/tree" && CARGO_TARGET_DIR="$work/target" cargo build --release --locked -q -p sonde-collector --bin sonde)
  mkdir -p "$work/$v"
  cp "$work/target/release/sonde" "$work/$v/sonde"
done

configs=none
for v in "${variants[@]}"; do configs+=",sonde-http@$work/$v/sonde"; done
configs+=",sonde-http"
bench/hook-cost.sh --rounds "$rounds" --ops "$ops" --configs "$configs" | tee "$work/hook-cost.txt"

# The added server-side time of each configuration: the table's 7th column, its median.
python3 - "$work" "$work/hook-cost.txt" <<'EOF'
import re, sys

work, path = sys.argv[1], sys.argv[2]
added = {}
for line in open(path):
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) < 7 or not cells[0].startswith("sonde-http"):
        continue
    m = re.match(r"([+-][\d,]+)", cells[6])
    if m:
        name = cells[0].removeprefix("sonde-http@").removeprefix(work + "/").removesuffix("/sonde")
        added[name if name != "sonde-http" else "real"] = int(m.group(1).replace(",", ""))
need = ["floor", "nostate", "noread", "real", "kread"]
if any(k not in added for k in need):
    sys.exit(f"bench/cost-breakdown.sh: hook-cost.sh's table lacks {[k for k in need if k not in added]}")
steps = [
    ("dispatch and entry (4 operations)", added["floor"]),
    ("storage lookups (3)", added["nostate"] - added["floor"]),
    ("state machine, helper calls, accounting", added["noread"] - added["nostate"]),
    ("user-memory reads (3)", added["real"] - added["noread"]),
]
print("\n| part of the server side, per request | ns | share of the added time |")
print("|---|---|---|")
for what, ns in steps:
    print(f"| {what} | {ns:+,} | {ns / added['real']:.0%} |")
print(f"| **all (the current build)** | **{added['real']:+,}** | |")
print(f"\nOne user-memory read: {(added['real'] - added['noread']) / 3:.0f} ns; "
      f"one kernel-memory read of the same size: {(added['kread'] - added['noread']) / 3:.0f} ns.")
EOF
