#!/usr/bin/env bash
# Whole-process benchmark of the live netlink collector against iproute2.
#
# Builds two lab namespaces (prefix cnlh5-bench-, torn down on exit):
#   big:  100,000 IPv4 routes            targets: <= 0.3x `ip`'s time, <= 150 ms, <= 64 MB
#   node: a node of a 5,000-node cluster: 10,000 routes, 5,000 neighbours,
#         5,000 VXLAN FDB entries        target: <= 30 ms
# and times `collect_netns NS --out /dev/null` (collects links, addresses,
# routes of every table, rules, neighbours, FDB, sysctls and serializes the
# snapshot to JSON) against `ip -n NS -d -j route show table all`.
# Peak RSS comes from /usr/bin/time -f %M (GNU time), else VmHWM.
#
# Usage (root): bench/collect.sh [--runs N]     Env: COLLECT_BIN to use another binary
# (e.g. `cnictl collect --netns`, once the CLI has it).
set -euo pipefail

RUNS=10
[[ "${1:-}" == "--runs" ]] && RUNS="$2"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [[ $EUID -ne 0 ]]; then echo "bench/collect.sh: needs root (network namespaces)" >&2; exit 2; fi

if [[ -z "${COLLECT_BIN:-}" ]]; then
    (cd "$ROOT" && cargo build --quiet --release -p cnictl-collect --example collect_netns)
    COLLECT_BIN="$ROOT/target/release/examples/collect_netns"
fi

P="cnlh5-bench-$$"
BIG="$P-big"; NODE="$P-node"
TMP="$(mktemp -d)"
cleanup() { ip netns del "$BIG" 2>/dev/null || true; ip netns del "$NODE" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM

setup_ns() { # NS: a veth pair inside NS, v0 192.0.2.1/24
    ip netns add "$1"
    ip -n "$1" link add v0 type veth peer name v1
    ip -n "$1" link set lo up; ip -n "$1" link set v0 up; ip -n "$1" link set v1 up
    ip -n "$1" addr add 192.0.2.1/24 dev v0
}

routes_batch() { # COUNT: /28 routes carved from 10.0.0.0/8 via 192.0.2.2
    awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) { a = i * 16;
        printf "route add 10.%d.%d.%d/28 via 192.0.2.2 dev v0 proto bird\n", int(a / 65536) % 256, int(a / 256) % 256, a % 256 } }'
}

echo "building namespaces..." >&2
setup_ns "$BIG"
routes_batch 100000 > "$TMP/big.batch"
ip -n "$BIG" -batch "$TMP/big.batch"

setup_ns "$NODE"
ip -n "$NODE" link add vx0 type vxlan id 1 local 192.0.2.1 dev v0 dstport 8472 nolearning
ip -n "$NODE" link set vx0 up
routes_batch 10000 > "$TMP/node.batch"
awk 'BEGIN { for (i = 0; i < 5000; i++) printf "neigh add 198.51.%d.%d lladdr 02:00:00:00:%02x:%02x dev v0 nud permanent\n", int(i / 250), i % 250 + 1, int(i / 256), i % 256 }' >> "$TMP/node.batch"
ip -n "$NODE" -batch "$TMP/node.batch"
awk 'BEGIN { for (i = 0; i < 5000; i++) printf "fdb append 0e:00:00:00:%02x:%02x dev vx0 dst 198.51.%d.%d self permanent\n", int(i / 256), i % 256, int(i / 250), i % 250 + 1 }' > "$TMP/fdb.batch"
bridge -n "$NODE" -batch "$TMP/fdb.batch"

peak_rss_kb() { # CMD...: peak RSS of one run, in KiB
    if /usr/bin/time -f %M true >/dev/null 2>&1; then
        /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -n1
    else
        "$@" >/dev/null & local pid=$!
        local hwm=0
        while kill -0 "$pid" 2>/dev/null; do
            local v; v=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
            [[ -n "$v" && "$v" -gt "$hwm" ]] && hwm=$v
        done
        wait "$pid"; echo "$hwm"
    fi
}

mean_ms() { # hyperfine JSON, command index, statistic (mean|min)
    python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["results"][int(sys.argv[2])][sys.argv[3]]*1000))' "$1" "$2" "${3:-mean}"
}

cpu_ms() { # hyperfine JSON, command index: mean user+system time
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]; print("%.1f" % ((r["user"]+r["system"])*1000))' "$1" "$2"
}

bench() { # NS LABEL
    local ns="$1" label="$2"
    local nroutes; nroutes=$(ip -n "$ns" -j route show table all | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
    echo "== $label ($nroutes routes in all tables)"
    if command -v hyperfine >/dev/null; then
        hyperfine -N --style none --warmup 3 --runs "$RUNS" --export-json "$TMP/$label.json" \
            -n collector "$COLLECT_BIN $ns --out /dev/null" \
            -n ip "ip -n $ns -d -j route show table all" >/dev/null
        local c i; c=$(mean_ms "$TMP/$label.json" 0); i=$(mean_ms "$TMP/$label.json" 1)
        echo "min wall: collector $(mean_ms "$TMP/$label.json" 0 min) ms, ip $(mean_ms "$TMP/$label.json" 1 min) ms"
        echo "mean cpu (user+sys): collector $(cpu_ms "$TMP/$label.json" 0) ms, ip $(cpu_ms "$TMP/$label.json" 1) ms"
    else
        local t0 t1 t2
        t0=$(date +%s%N); for _ in $(seq "$RUNS"); do "$COLLECT_BIN" "$ns" --out /dev/null; done
        t1=$(date +%s%N); for _ in $(seq "$RUNS"); do ip -n "$ns" -d -j route show table all >/dev/null; done
        t2=$(date +%s%N)
        c=$(( (t1 - t0) / RUNS / 1000000 )); i=$(( (t2 - t1) / RUNS / 1000000 ))
    fi
    local rss; rss=$(peak_rss_kb "$COLLECT_BIN" "$ns" --out /dev/null)
    local irss; irss=$(peak_rss_kb ip -n "$ns" -d -j route show table all)
    python3 - "$c" "$i" "$rss" "$irss" <<'PY'
import sys
c, i, rss, irss = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(f"collector: {c:.1f} ms mean wall, peak RSS {rss/1024:.1f} MiB")
print(f"ip -d -j route show table all: {i:.1f} ms mean wall, peak RSS {irss/1024:.1f} MiB")
print(f"ratio collector/ip: {c/i:.3f}")
PY
}

bench "$BIG" big
bench "$NODE" node
