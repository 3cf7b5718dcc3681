#!/usr/bin/env bash
# Load figures for `cnictl serve`'s /metrics on a generated 1,000-node
# calico-bgp cluster (110 pods per node): payload size, latency under 50
# concurrent wrk clients from loopback (p50/p99), and RSS before and after
# >= 10,000 scrapes. Targets: p99 <= 50 ms, payload <= 2 MB, RSS flat.
# A second, shorter run asks for gzip as Prometheus does (the exporter
# compresses once per analysis, so this measures serving, not compressing).
# Usage: bench/metrics-load.sh [NODES] [SECONDS]   (defaults 1000, 30)
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=${1:-1000}
secs=${2:-30}
command -v wrk >/dev/null || { echo "wrk not installed (apt-get install wrk)" >&2; exit 2; }
cargo build --release --quiet -p cnictl-exporter --example serve-gen
bin=target/release/examples/serve-gen
log=$(mktemp)
"$bin" --model calico-bgp --nodes "$nodes" --listen 127.0.0.1:0 --refresh 3600 >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$log"' EXIT

addr=""
for _ in $(seq 1 100); do
  addr=$(sed -n 's/^listening on //p' "$log")
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { echo "server did not start: $(cat "$log")" >&2; exit 1; }
url="http://$addr"
start=$(date +%s.%N)
until curl -sf "$url/readyz" >/dev/null; do
  kill -0 "$pid" 2>/dev/null || { echo "server exited: $(cat "$log")" >&2; exit 1; }
  sleep 0.5
done
ready=$(echo "$(date +%s.%N) - $start" | bc)

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
payload=$(curl -s "$url/metrics" | wc -c)
series=$(curl -s "$url/metrics" | grep -vc '^#')
analysis=$(curl -s "$url/metrics" | awk '/^cnictl_analysis_duration_seconds/ {print $2}')
curl -s -o /dev/null "$url/metrics"
rss_before=$(rss_kb)

out=$(wrk -t2 -c50 -d"${secs}s" --latency "$url/metrics")
gz=$(wrk -t2 -c50 -d"$(( secs / 2 ))s" --latency -H 'Accept-Encoding: gzip' "$url/metrics")
rss_after=$(rss_kb)
gz_payload=$(curl -s -H 'Accept-Encoding: gzip' "$url/metrics" | wc -c)
gz_p99=$(awk '$1 == "99%" {print $2}' <<<"$gz")
gz_rps=$(awk '/Requests\/sec/ {print $2}' <<<"$gz")
requests=$(awk '/requests in/ {print $1}' <<<"$out")
p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
errors=$(grep -E 'Non-2xx|Socket errors' <<<"$out" || true)

to_ms() { # wrk prints 812.00us / 12.34ms / 1.02s
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}
p99ms=$(to_ms "$p99")
verdict() { if [ "$1" = 1 ]; then echo ok; else echo OVER; fi; }

printf 'nodes                  %s\n' "$nodes"
printf 'first analysis         %.1f s (analysis itself %.2f s)\n' "$ready" "$analysis"
printf 'payload                %s bytes, %s series  [%s: <= 2 MB]\n' "$payload" "$series" "$(verdict "$(( payload <= 2097152 ))")"
printf 'scrapes                %s in %ss, %s req/s, 50 connections\n' "$requests" "$secs" "$rps"
printf 'latency p50 / p99      %s / %s  [%s: p99 <= 50 ms]\n' "$p50" "$p99" "$(verdict "$(awk -v p="$p99ms" 'BEGIN {print (p <= 50) ? 1 : 0}')")"
printf 'gzip (as Prometheus)   %s bytes, p99 %s, %s req/s\n' "$gz_payload" "$gz_p99" "$gz_rps"
printf 'RSS before / after     %d MB / %d MB\n' $((rss_before / 1024)) $((rss_after / 1024))
printf 'load average           %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
[ -z "$errors" ] || printf 'errors                 %s\n' "$errors"
[ "${requests:-0}" -ge 10000 ] || echo "note: fewer than 10,000 scrapes; raise SECONDS" >&2
