#!/usr/bin/env bash
# Whole-process figures for loading and checking generated calico-bgp
# bundles: wall time and peak RSS of `cnictl model` (load + model
# inference) and `cnictl check` (load + all checks) at 100, 500 and 1,000
# nodes × 110 pods. Usage: bench/load-check.sh [NODES...]
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(100 500 1000)
cargo build --release --quiet --bin cnictl
bin=target/release/cnictl
dir=target/bench-bundles
mkdir -p "$dir"

tfile=$(mktemp); trap 'rm -f "$tfile"' EXIT
measure() { # prints "wall_s peak_rss_mb" for the command (exit 1 = findings is fine)
  /usr/bin/time -f '%e %M' -o "$tfile" "$@" >/dev/null 2>&1 || [ $? -eq 1 ]
  awk '{printf "%.2f %.0f\n", $1, $2/1024}' "$tfile"
}

printf '%-7s %-9s %-12s %-14s %-12s %-14s %s\n' nodes routes 'model s' 'model RSS MB' 'check s' 'check RSS MB' 'bundle MB'
for n in "${sizes[@]}"; do
  b="$dir/calico-bgp-$n"
  [ -f "$b/k8s/nodes.json" ] || "$bin" gen --model calico-bgp --nodes "$n" -o "$b" 2>/dev/null
  routes=$(find "$b/nodes" -name ip-route.json -exec grep -o '"dst"' {} + | wc -l)
  read -r ms mr < <(measure "$bin" model --bundle "$b")
  read -r cs cr < <(measure "$bin" check --bundle "$b" --output json)
  mb=$(du -sm "$b" | cut -f1)
  printf '%-7s %-9s %-12s %-14s %-12s %-14s %s\n' "$n" "$routes" "$ms" "$mr" "$cs" "$cr" "$mb"
done
