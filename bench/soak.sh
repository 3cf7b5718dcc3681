#!/usr/bin/env bash
# Soak run for `cnictl serve` on a generated 1,000-node calico-bgp bundle:
# 50 concurrent /metrics scrapers plus a concurrent explain load (random pod
# pairs, bench/soak.lua) for MINUTES; samples the server's RSS every 10 s
# and prints the series, p50/p99 of both loads, the 429/503 answers (the
# explain concurrency limit) and any 5xx. Passes when RSS is flat
# (last - first <= 5 %) and no 5xx other than 503 was answered.
# Usage: bench/soak.sh [MINUTES]   (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}
secs=$(( minutes * 60 ))
bundle=target/bench-bundles/calico-bgp-1000
command -v wrk >/dev/null || { echo "wrk not installed (apt-get install wrk)" >&2; exit 2; }
cargo build --release --quiet -p cnictl --bin cnictl
bin=target/release/cnictl
[ -d "$bundle" ] || "$bin" gen --model calico-bgp --nodes 1000 -o "$bundle"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
log=$(mktemp)
work=$(mktemp -d)
"$bin" serve --bundle "$bundle" --listen "127.0.0.1:$port" --refresh 1h >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$log" "$work"' EXIT

until curl -sf "$url/readyz" >/dev/null; do
  kill -0 "$pid" 2>/dev/null || { echo "server exited: $(cat "$log")" >&2; exit 1; }
  sleep 0.5
done
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }

# Size limits: a query over 4 KiB and a body over 16 KiB are refused.
long=$(head -c 5000 /dev/zero | tr '\0' a)
q_status=$(curl -s -o /dev/null -w '%{http_code}' "$url/api/v1/findings?q=$long")
b_status=$(head -c 20000 /dev/zero | curl -s -o /dev/null -w '%{http_code}' -X GET \
  -H 'Content-Type: application/octet-stream' --data-binary @- "$url/metrics")

wrk -t1 -c50 -d"${secs}s" --latency -s bench/soak.lua "$url/metrics" >"$work/metrics" 2>&1 &
w1=$!
wrk -t1 -c8 -d"${secs}s" --latency -s bench/soak.lua "$url/" -- explain 1000 110 >"$work/explain" 2>&1 &
w2=$!

series=()
while kill -0 "$w1" 2>/dev/null || kill -0 "$w2" 2>/dev/null; do
  series+=("$(rss_kb)")
  sleep 10
  kill -0 "$pid" 2>/dev/null || { echo "server died under load: $(cat "$log")" >&2; exit 1; }
done
wait "$w1" "$w2"
series+=("$(rss_kb)")

summary() { # name file
  local p50 p99 reqs rps status
  p50=$(awk '$1 == "50%" {print $2}' "$2")
  p99=$(awk '$1 == "99%" {print $2}' "$2")
  reqs=$(awk '/requests in/ {print $1}' "$2")
  rps=$(awk '/Requests\/sec/ {print $2}' "$2")
  status=$(grep '^status ' "$2" | cut -d' ' -f2-)
  printf '%-8s %s requests, %s req/s, p50 %s, p99 %s; %s\n' "$1" "$reqs" "$rps" "$p50" "$p99" "$status"
  grep -E 'Socket errors' "$2" || true
}

first=${series[0]}
last=${series[${#series[@]}-1]}
printf 'soak            %s min, 50 /metrics scrapers + 8 explain clients, loopback\n' "$minutes"
summary metrics "$work/metrics"
summary explain "$work/explain"
printf 'RSS MB (10 s)   '
for kb in "${series[@]}"; do printf '%d ' $(( kb / 1024 )); done
echo
growth=$(awk -v a="$first" -v b="$last" 'BEGIN { printf "%.1f", (b - a) * 100 / a }')
printf 'RSS first/last  %d / %d MB (%s %%)\n' $(( first / 1024 )) $(( last / 1024 )) "$growth"
printf 'limits          query 5000 B -> %s (want 414), body 20000 B -> %s (want 413)\n' "$q_status" "$b_status"
printf 'load average    %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
fail=0
awk -v g="$growth" 'BEGIN { exit !(g <= 5) }' || { echo "FAIL: RSS grew more than 5 %"; fail=1; }
if grep -h '^status ' "$work/metrics" "$work/explain" | grep -qv ' 5xx=0$'; then
  echo "FAIL: 5xx answers (other than 503)"; fail=1
fi
kill "$pid"
wait "$pid" 2>/dev/null || true
exit "$fail"
