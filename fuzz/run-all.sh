#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each, JOBS at a time, from the
# seed corpus (fuzz/seed.sh is run first when corpus/ is missing), then
# prints executions, coverage and crashes per target.
# Needs the nightly toolchain (`rustup toolchain install nightly`) and
# `cargo install cargo-fuzz`.
# Usage: fuzz/run-all.sh [SECONDS=60] [JOBS=2] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
jobs=${2:-2}
shift $(( $# > 2 ? 2 : $# ))
[ -d corpus ] || ./seed.sh
cargo +nightly fuzz build -O
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
mkdir -p logs

run_one() { # target
  mkdir -p "corpus/$1"
  cargo +nightly fuzz run -O "$1" "corpus/$1" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    >"logs/$1.log" 2>&1 || true
}
running=0
for t in "${targets[@]}"; do
  run_one "$t" &
  running=$(( running + 1 ))
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$(( running - 1 )); fi
done
wait

total=0
crashed=0
printf '%-22s %12s %8s %s\n' target execs cov result
for t in "${targets[@]}"; do
  execs=$(awk '/stat::number_of_executed_units/ {print $2}' "logs/$t.log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "logs/$t.log" | tail -n 1 | cut -d' ' -f2)
  result=ok
  if grep -qE 'panicked|ERROR: (libFuzzer|AddressSanitizer)|SUMMARY:' "logs/$t.log"; then
    result="CRASH: $(ls artifacts/"$t"/ 2>/dev/null | head -n 3 | tr '\n' ' ')"
    crashed=$(( crashed + 1 ))
  fi
  total=$(( total + ${execs:-0} ))
  printf '%-22s %12s %8s %s\n' "$t" "${execs:-?}" "${cov:-?}" "$result"
done
printf 'total executions %s over %d targets x %ss; %d crashed (logs: fuzz/logs/)\n' \
  "$total" "${#targets[@]}" "$secs" "$crashed"
[ "$crashed" -eq 0 ]
