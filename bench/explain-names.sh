#!/usr/bin/env bash
# explain-names.sh [CNICTL] [PEER] — whole-process cost of `cnictl explain`
# on a generated 1,000-node calico-bgp bundle (110 pods per node, ~2.1M
# routes), with a mistyped pod name and with a healthy pod pair on two
# nodes: wall time and peak RSS, median of 5 runs, for CNICTL and
# (optionally) PEER, e.g. a build of an earlier commit.
# The bundle is generated once under ${BUNDLE:-/tmp/cnl-bench-b1000}.
set -euo pipefail
bin=${1:-target/release/cnictl}
peer=${2:-}
bundle=${BUNDLE:-/tmp/cnl-bench-b1000}
[ -f "$bundle/k8s/nodes.json" ] || "$bin" gen --model calico-bgp --nodes 1000 -o "$bundle" >/dev/null
measure() { # BIN SRC → "median_s peak_mib"
  for _ in 1 2 3 4 5; do
    /usr/bin/time -f "%e %M" "$1" explain --bundle "$bundle" "$2" default/web-2-1 2>&1 >/dev/null | tail -1
  done | sort -n | sed -n 3p | awk '{printf "%.2f s  %d MiB\n", $1, $2/1024}'
}
for b in "$bin" $peer; do
  printf 'explain, unknown pod name, 1,000 nodes: %s  (%s)\n' "$(measure "$b" default/web-1-1x)" "$b"
  printf 'explain, healthy pair,     1,000 nodes: %s  (%s)\n' "$(measure "$b" default/web-1-1)" "$b"
done
