#!/bin/bash
# selftest.sh — checks lab.sh end to end on this kernel: for each model, `up`
# (healthy ping matrix), `break` one fault that must cut connectivity,
# `bundle` (every JSON valid, expected files present), `down`; then that no
# namespace, BIRD daemon or state file of the test prefix is left, including
# after a simulated crash (state and pidfiles deleted before `down`).
# Prints one line per check; exits 1 on the first failure. Root, ~15 s.
#
# usage: sudo lab/selftest.sh
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB=$HERE/lab.sh
P=cnls$$
P=${P:0:11}
RUN=${CNICTL_LAB_RUN:-/run/cnictl-lab}
OUT=$(mktemp -d)

cleanup() {
	"$LAB" down --prefix "$P" >/dev/null 2>&1 || true
	rm -rf "$OUT"
}
trap cleanup EXIT

fail() {
	printf 'FAIL %s\n' "$*"
	exit 1
}

pass() {
	printf 'ok   %s\n' "$*"
}

# leftovers: namespaces, bird processes or state of prefix P still present.
leftovers() {
	ip netns list | awk '{print $1}' | grep "^$P-" || true
	pgrep -f "bird -c $RUN/$P/" || true
	[ ! -e "$RUN/$P.state" ] || echo "$RUN/$P.state"
	[ ! -e "$RUN/$P" ] || echo "$RUN/$P"
}

check_bundle() {
	local dir=$1 model=$2 f
	for f in k8s/nodes.json k8s/pods.json nodes/node-1/ip-link.json nodes/node-1/ip-route.json \
		nodes/node-3/pods/default_api-3/ip-addr.json nodes/node-2/sysctl.txt; do
		[ -s "$dir/$f" ] || fail "$model bundle lacks $f"
	done
	if [ "$model" = calico-bgp ]; then
		grep -q Established "$dir/nodes/node-1/bird-protocols.txt" || fail "$model: no Established session in bird-protocols.txt"
	fi
	find "$dir" -name '*.json' -print0 | xargs -0 -n 1 jq -e . >/dev/null || fail "$model bundle has invalid JSON"
	pass "$model: bundle complete, JSON valid"
}

# one_model MODEL FAULT: FAULT must make the matrix fail.
one_model() {
	local model=$1 fault=$2
	"$LAB" up "$model" --prefix "$P" >"$OUT/up.log" 2>&1 || { cat "$OUT/up.log"; fail "$model: up"; }
	pass "$model: up, ping matrix $(tail -n 1 "$OUT/up.log" | awk '{print $3}')"
	"$LAB" up "$model" --prefix "$P" >/dev/null 2>&1 && fail "$model: second up with the same prefix was accepted"
	pass "$model: second up refused"
	"$LAB" break "$fault" --prefix "$P" >/dev/null
	"$LAB" ping --no-retry --prefix "$P" >/dev/null && fail "$model: ping matrix passed after $fault"
	pass "$model: $fault breaks the ping matrix"
	"$LAB" bundle "$OUT/$model" --prefix "$P" >/dev/null
	check_bundle "$OUT/$model" "$model"
	"$LAB" down --prefix "$P" >/dev/null
	[ -z "$(leftovers)" ] || fail "$model: left behind after down: $(leftovers | tr '\n' ' ')"
	pass "$model: down leaves nothing"
}

[ "$(id -u)" = 0 ] || { echo "selftest.sh: must run as root" >&2; exit 2; }
one_model flannel-vxlan vxlan-fdb-missing
one_model flannel-host-gw next-hop-not-adjacent
one_model calico-bgp bgp-session-down
one_model calico-vxlan vxlan-neigh-missing

"$LAB" up calico-bgp --prefix "$P" >/dev/null
rm -f "$RUN/$P.state" "$RUN/$P"/bird/*.pid
"$LAB" down --prefix "$P" >/dev/null
[ -z "$(leftovers)" ] || fail "crash recovery: left behind: $(leftovers | tr '\n' ' ')"
pass "down after a crash (state and pidfiles lost) leaves nothing"
"$LAB" down --prefix "$P" >/dev/null || fail "second down failed"
pass "down is idempotent"
echo "selftest: all checks passed"
