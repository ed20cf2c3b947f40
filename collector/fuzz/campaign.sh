#!/usr/bin/env bash
# Coverage-guided fuzzing of every target in src/bin/ with AFL++ (afl.rs), one after the
# other on one core each (two at a time), from the committed corpus.
#
#   collector/fuzz/campaign.sh [EXECS]   the long campaign: each target until EXECS
#                                        executions (default 10,000,000); prints per target
#                                        executions, exec/s, crashes, corpus, coverage and
#                                        the target process's RSS at start and at end
#   collector/fuzz/campaign.sh --smoke   5 s per target (what .ci/run runs)
#
# Needs cargo-afl (cargo install cargo-afl). Exits 1 if any target crashed or hung; the
# inputs are then in $OUT/<target>/default/{crashes,hangs}: copy each into
# regressions/<target>/ once fixed (src/lib.rs replays them in `cargo test`).
set -euo pipefail
cd "$(dirname "$0")"

smoke=0
execs=10000000
case "${1:-}" in
  --smoke) smoke=1 ;;
  "") ;;
  *) execs=$1 ;;
esac
OUT=${OUT:-$(mktemp -d /tmp/sonde-fuzz.XXXXXX)}
mkdir -p "$OUT"
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1
cargo afl build --release --locked >/dev/null 2>&1 || cargo afl build --release --locked
targets=$(ls src/bin | sed 's/\.rs$//')

rss_of() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# One target: fuzz, and sample the target process's RSS (the persistent-mode child of
# afl-fuzz's fork server) every 5 s.
run() {
  local t=$1 limit
  if ((smoke)); then limit=(-V 5); else limit=(-E "$execs"); fi
  cargo afl fuzz "${limit[@]}" -i "corpus/$t" -o "$OUT/$t" "target/release/$t" >"$OUT/$t.log" 2>&1 &
  local afl=$! first="" last="" child
  while kill -0 "$afl" 2>/dev/null; do
    sleep 5
    child=$(pgrep -P "$(pgrep -P "$afl" | head -1 || true)" 2>/dev/null | head -1 || true)
    if [ -n "$child" ]; then
      last=$(rss_of "$child")
      [ -n "$first" ] || first=$last
    fi
  done
  wait "$afl" || { echo "$t: afl-fuzz failed, see $OUT/$t.log" >&2; tail -20 "$OUT/$t.log" >&2; return 1; }
  echo "${first:-?} ${last:-?}" >"$OUT/$t.rss"
}

pids=()
for t in $targets; do
  run "$t" &
  pids+=($!)
  if ((${#pids[@]} == 2)); then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done

failed=0
printf '%-14s %12s %8s %7s %6s %7s %9s %14s\n' target execs exec/s crashes hangs corpus coverage "RSS KiB start→end"
for t in $targets; do
  s="$OUT/$t/default/fuzzer_stats"
  get() { awk -F' *: *' -v k="$1" '$1 == k {print $2}' "$s"; }
  read -r r0 r1 <"$OUT/$t.rss" || true
  printf '%-14s %12s %8s %7s %6s %7s %9s %14s\n' "$t" "$(get execs_done)" "$(get execs_per_sec | cut -d. -f1)" \
    "$(get saved_crashes)" "$(get saved_hangs)" "$(get corpus_count)" "$(get bitmap_cvg)" "${r0:-?}→${r1:-?}"
  if [ "$(get saved_crashes)" != 0 ] || [ "$(get saved_hangs)" != 0 ]; then failed=1; fi
done
echo "output: $OUT"
exit $failed
