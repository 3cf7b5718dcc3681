#!/usr/bin/env bash
# Whole-process figure for `cnictl matrix` at 1,000 pods (1M ordered pairs):
# writes the NetworkPolicy benchmark cluster (cnictl_gen::policy_bench: 20
# namespaces, 100 policies) as a bundle of k8s/ alone, then times
# `cnictl matrix --bundle DIR -o json > /dev/null` for one probe
# (--proto tcp --port 8080) and for every probe the policies name (no
# --port), printing wall time, CPU time and peak RSS of each run.
# Budget: ≤ 10 s on 2 cores. Usage: bench/matrix.sh [PODS] [NAMESPACES] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
pods=${1:-1000}; namespaces=${2:-20}; runs=${3:-3}
cargo build --release --quiet --bin cnictl
cargo build --release --quiet -p cnictl-gen --example policy_bundle
bin=target/release/cnictl
dir=target/bench-bundles/policy-$pods-$namespaces
[ -f "$dir/k8s/networkpolicies.json" ] || target/release/examples/policy_bundle "$dir" "$pods" "$namespaces"

tfile=$(mktemp); jfile=$(mktemp); trap 'rm -f "$tfile" "$jfile"' EXIT
measure() { # prints "wall_s cpu_s peak_rss_mb" (exit 1 = disagreements is fine)
  /usr/bin/time -v -o "$tfile" "$@" >"$jfile" 2>/dev/null || [ $? -eq 1 ]
  awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + t[i] }
    /User time/ { u = $2 } /System time/ { s = $2 } /Maximum resident/ { r = $2 }
    END { printf "%.2f %.2f %.0f\n", w, u + s, r / 1024 }' "$tfile"
}

echo "$pods pods, $namespaces namespaces; $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-28s %-4s %-8s %-8s %-12s %s\n' case run 'wall s' 'CPU s' 'peak RSS MB' 'cells'
for args in "--proto tcp --port 8080" ""; do
  for run in $(seq "$runs"); do
    # shellcheck disable=SC2086 # $args is words on purpose
    read -r w c r < <(measure "$bin" matrix --bundle "$dir" -o json $args)
    cells=$(grep -o '"src"' "$jfile" | wc -l)
    printf '%-28s %-4s %-8s %-8s %-12s %s\n' "${args:-every probe}" "$run" "$w" "$c" "$r" "$cells"
  done
done
