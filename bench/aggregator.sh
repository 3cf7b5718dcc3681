#!/usr/bin/env bash
# Whole-process benchmark of the aggregator and the agent.
#
# 1. Aggregator: one process (fake_agents) serves N generated node snapshots
#    (cnictl_gen, default calico-bgp, 1,000 nodes, 110 pods per node, three
#    route reflectors past 100 nodes) on 127.0.0.1 ports
#    BASE..BASE+N-1, as `cnictl agent` serves /api/v1/node. bench_aggregate
#    pulls them all (32 in flight, keep-alive), assembles the ClusterSnapshot
#    and runs the exporter's analysis — one full refresh — then pulls again
#    (all 304). Targets: full refresh <= 10 s, peak RSS <= 1 GB.
# 2. Agent (root only): a namespace shaped like a node of a 5,000-node
#    Flannel VXLAN cluster (5,000 pod-CIDR routes, 5,000 neighbours, 5,000
#    VXLAN FDB entries; prefix cnlkb-, torn down on exit) read by
#    agent_netns every INTERVAL seconds; CPU and RSS sampled from /proc over
#    WINDOW seconds. Targets: <= 1% of one CPU, <= 64 MB.
#
# Usage: bench/aggregator.sh [--nodes N] [--pods-per-node P] [--model M] [--window SECS] [--interval SECS] [--debug]
# (--debug uses the dev profile: only to check the script; numbers then mean nothing.)
set -euo pipefail

NODES=1000 PODS=110 MODEL=calico-bgp WINDOW=60 INTERVAL=30 PROFILE=release BASE=20000
while [[ $# -gt 0 ]]; do
    case "$1" in
        --nodes) NODES="$2"; shift 2 ;;
        --pods-per-node) PODS="$2"; shift 2 ;;
        --model) MODEL="$2"; shift 2 ;;
        --window) WINDOW="$2"; shift 2 ;;
        --interval) INTERVAL="$2"; shift 2 ;;
        --debug) PROFILE=debug; shift ;;
        *) echo "bench/aggregator.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [[ "$PROFILE" == release ]]; then
    (cd "$ROOT" && cargo build --quiet --release -p cnictl-agent --examples)
    BIN="$ROOT/target/release/examples"
else
    (cd "$ROOT" && cargo build --quiet -p cnictl-agent --examples)
    BIN="$ROOT/target/debug/examples"
fi

TMP="$(mktemp -d)"
FAKE_PID="" AGENT_PID="" NS="cnlkb-$$"
cleanup() {
    [[ -n "$FAKE_PID" ]] && kill "$FAKE_PID" 2>/dev/null || true
    [[ -n "$AGENT_PID" ]] && kill "$AGENT_PID" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
# One socket per agent on each side, plus keep-alive pools.
ulimit -n "$(( NODES * 2 + 1024 ))" 2>/dev/null || ulimit -n "$(ulimit -Hn)"

echo "== aggregator: $NODES simulated agents ($MODEL, $PODS pods per node), profile $PROFILE" >&2
"$BIN/fake_agents" --model "$MODEL" --nodes "$NODES" --pods-per-node "$PODS" --base-port "$BASE" --k8s-out "$TMP/k8s.json" >"$TMP/fake.out" 2>&1 &
FAKE_PID=$!
for _ in $(seq 600); do
    grep -q '^ready' "$TMP/fake.out" 2>/dev/null && break
    kill -0 "$FAKE_PID" 2>/dev/null || { cat "$TMP/fake.out" >&2; exit 1; }
    sleep 0.5
done
grep -q '^ready' "$TMP/fake.out" || { echo "fake agents never became ready" >&2; exit 1; }
"$BIN/bench_aggregate" --nodes "$NODES" --base-port "$BASE" --k8s "$TMP/k8s.json" | tee "$TMP/agg.json"
python3 - "$TMP/agg.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ok_t = r["full_refresh_s"] <= 10.0
ok_m = r["peak_rss_kib"] <= 1024 * 1024
print(f"full refresh {r['full_refresh_s']:.2f} s (pull {r['pull_cold_s']:.2f} s + analysis {r['analysis_s']:.2f} s), "
      f"304 round {r['pull_304_s']:.2f} s, peak RSS {r['peak_rss_kib']/1024:.0f} MiB, "
      f"{r['up']}/{r['nodes']} agents up, {r['routes']} routes "
      f"[refresh {'ok' if ok_t else 'OVER'} <= 10 s, RSS {'ok' if ok_m else 'OVER'} <= 1 GB]")
PY
kill "$FAKE_PID" 2>/dev/null || true; FAKE_PID=""

if [[ $EUID -ne 0 ]]; then
    echo "== agent: skipped (needs root for a network namespace)" >&2
    exit 0
fi
echo "== agent: a node of a 5,000-node Flannel VXLAN cluster, interval ${INTERVAL}s, window ${WINDOW}s" >&2
ip netns add "$NS"
ip -n "$NS" link add eth0 type veth peer name v1
ip -n "$NS" link set lo up; ip -n "$NS" link set eth0 up; ip -n "$NS" link set v1 up
ip -n "$NS" addr add 192.0.2.11/24 dev eth0
ip -n "$NS" link add flannel.1 type vxlan id 1 local 192.0.2.11 dev eth0 dstport 8472 nolearning
ip -n "$NS" link set flannel.1 up
ip -n "$NS" addr add 10.244.0.0/32 dev flannel.1
# Pod CIDRs 10.N.M.0/24 for 5,000 peers; VTEP neighbours and FDB entries.
awk 'BEGIN { for (i = 1; i <= 5000; i++) { a = int(i / 256) + 1; b = i % 256;
    printf "neigh add 10.%d.%d.0 lladdr 0e:00:00:00:%02x:%02x dev flannel.1 nud permanent\n", a, b, int(i / 256), i % 256;
    printf "route add 10.%d.%d.0/24 via 10.%d.%d.0 dev flannel.1 onlink\n", a, b, a, b } }' > "$TMP/node.batch"
ip -n "$NS" -batch "$TMP/node.batch"
awk 'BEGIN { for (i = 1; i <= 5000; i++) printf "fdb append 0e:00:00:00:%02x:%02x dev flannel.1 dst 198.51.%d.%d self permanent\n", int(i / 256), i % 256, int(i / 250), i % 250 + 1 }' > "$TMP/fdb.batch"
bridge -n "$NS" -batch "$TMP/fdb.batch"

"$BIN/agent_netns" "$NS" --interval-secs "$INTERVAL" >"$TMP/agent.out" 2>&1 &
AGENT_PID=$!
sleep 5   # first collection and warm-up
ticks() { awk '{print $14 + $15}' "/proc/$AGENT_PID/stat"; }
t0=$(ticks); s0=$(date +%s.%N)
sleep "$WINDOW"
t1=$(ticks); s1=$(date +%s.%N)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$AGENT_PID/status")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$AGENT_PID/status")
python3 - "$t0" "$t1" "$s0" "$s1" "$(getconf CLK_TCK)" "$rss" "$hwm" <<'PY'
import sys
t0, t1, s0, s1, hz, rss, hwm = (float(x) for x in sys.argv[1:])
cpu = (t1 - t0) / hz / (s1 - s0) * 100
print(f"agent: {cpu:.2f}% of one CPU over {s1 - s0:.0f} s, RSS {rss/1024:.1f} MiB (peak {hwm/1024:.1f} MiB) "
      f"[CPU {'ok' if cpu <= 1 else 'OVER'} <= 1%, RSS {'ok' if hwm <= 65536 else 'OVER'} <= 64 MB]")
PY
