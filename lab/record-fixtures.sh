#!/bin/bash
# record-fixtures.sh — re-record every bundle under fixtures/ from live
# namespace labs (lab.sh, prefix cnlf), then derive the hand-written IPIP and
# IPVS fixtures from them (handwrite-fixtures.py), since this kernel has
# neither IPIP nor IPVS.
#
# For each live fixture: `lab.sh up` (which fails loudly unless the healthy
# lab passes its full ping matrix), optionally `lab.sh break FAULT` (exactly
# one fault) followed by a ping matrix for the log (expected to fail for most
# faults), then `lab.sh bundle`. Everything is staged in a temp dir and
# swapped into fixtures/ at the end; fixtures/README.md is kept.
#
# usage: sudo lab/record-fixtures.sh [FIXTURES_DIR]
# Needs: iproute2, bird2, iputils-ping, jq, python3. Takes ~1 minute.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FIX=${1:-$HERE/../fixtures}
LAB=$HERE/lab.sh
P=cnlf

case ${1:-} in -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
[ "$(id -u)" = 0 ] || { echo "record-fixtures.sh: must run as root" >&2; exit 2; }
for tool in jq python3 bird birdc ping; do
	command -v "$tool" >/dev/null || { echo "record-fixtures.sh: $tool not found" >&2; exit 2; }
done

mkdir -p "$FIX"
FIX=$(cd "$FIX" && pwd)
STAGE=$(mktemp -d "$FIX/.stage.XXXXXX")
LOG=$STAGE/.record.log

cleanup() {
	"$LAB" down --prefix "$P" >/dev/null 2>&1 || true
	rm -rf "$STAGE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# record NAME MODEL [FAULT [lab.sh break options]]: one bundle from a fresh lab.
record() {
	local name=$1 model=$2 t0=$SECONDS
	shift 2
	"$LAB" down --prefix "$P" >/dev/null
	if ! "$LAB" up "$model" --prefix "$P" >"$LOG" 2>&1; then
		cat "$LOG" >&2
		echo "record-fixtures.sh: healthy $model lab failed (see above)" >&2
		exit 1
	fi
	if [ $# -gt 0 ]; then
		"$LAB" break "$@" --prefix "$P" | sed 's/^/    /'
		"$LAB" ping --no-retry --prefix "$P" | tail -n 1 | sed 's/^/    after the fault: /' || true
	fi
	"$LAB" bundle "$STAGE/$name" --prefix "$P" >/dev/null
	printf '  recorded %s (%ss)\n' "$name" "$((SECONDS - t0))"
}

start=$SECONDS
echo "recording live fixtures (prefix $P)"

record flannel-vxlan flannel-vxlan
for fault in missing-pod-route wrong-next-hop vxlan-fdb-missing vxlan-neigh-missing \
	vxlan-fdb-mismatch mtu-mismatch route-shadowed pod-route-missing ip-forward-disabled \
	pod-cidr-overlap service-cidr-overlap; do
	record "flannel-vxlan-broken-$fault" flannel-vxlan "$fault" --node node-1
done

record flannel-host-gw flannel-host-gw
for fault in missing-pod-route wrong-next-hop next-hop-not-adjacent; do
	record "flannel-host-gw-broken-$fault" flannel-host-gw "$fault" --node node-1
done

record calico-bgp calico-bgp
for fault in bgp-session-down bgp-route-missing route-shadowed pod-route-missing; do
	record "calico-bgp-broken-$fault" calico-bgp "$fault" --node node-1
done

"$LAB" down --prefix "$P" >/dev/null
echo "deriving hand-written fixtures (calico-ipip, flannel-vxlan-ipvs*)"
python3 "$HERE/handwrite-fixtures.py" "$STAGE"

echo "checking every JSON file with jq"
find "$STAGE" -name '*.json' -print0 | xargs -0 -n 1 jq -e . >/dev/null

# Swap in: drop the old bundle dirs, keep README.md and any other files.
find "$FIX" -mindepth 1 -maxdepth 1 -type d ! -name '.stage.*' -exec rm -rf {} +
for d in "$STAGE"/*/; do mv "$d" "$FIX/"; done
leftover=$(ip netns list | awk '{print $1}' | grep -c "^$P-" || true)
[ "$leftover" = 0 ] || { echo "record-fixtures.sh: $leftover $P- namespaces left behind" >&2; exit 1; }
printf 'done: %s bundles in %s in %ss\n' "$(find "$FIX" -mindepth 1 -maxdepth 1 -type d ! -name '.stage.*' | wc -l)" "$FIX" "$((SECONDS - start))"
