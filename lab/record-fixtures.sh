#!/bin/bash
# record-fixtures.sh — re-record every bundle under fixtures/ from live
# namespace labs (lab.sh, prefixes cnlf, cnlfh, cnlfc: one per model, and
# cnlfd for the dual-stack flannel-host-gw lab, cnlfw the dual-stack
# flannel-vxlan one, cnlfe the dual-stack calico-bgp one, cnlfv calico-vxlan, cnlfs
# calico-vxlan --cross-subnet, cnlfr flannel-vxlan --direct-routing, cnlfb
# the calico-bgp route-reflector lab, run in parallel), then derive the hand-written IPIP and
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
# Needs: iproute2, bird2, iputils-ping, jq, python3, ethtool. Takes ~1 minute.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FIX=${1:-$HERE/../fixtures}
LAB=$HERE/lab.sh
P=cnlf

case ${1:-} in -h | --help) sed -n '2,/^set -e/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;; esac
[ "$(id -u)" = 0 ] || { echo "record-fixtures.sh: must run as root" >&2; exit 2; }
for tool in jq python3 bird birdc ping ethtool; do
	command -v "$tool" >/dev/null || { echo "record-fixtures.sh: $tool not found" >&2; exit 2; }
done

mkdir -p "$FIX"
FIX=$(cd "$FIX" && pwd)
STAGE=$(mktemp -d "$FIX/.stage.XXXXXX")
# One prefix per model so the three model groups record in parallel (each
# group's labs live in their own namespaces; nothing is shared).
PREFIXES="$P ${P}h ${P}c ${P}d ${P}v ${P}s ${P}r ${P}b ${P}w ${P}e"

cleanup() {
	local p
	for p in $PREFIXES; do "$LAB" down --prefix "$p" >/dev/null 2>&1 || true; done
	rm -rf "$STAGE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# record PFX NAME MODEL [FAULT [lab.sh break options]]: one bundle from a
# fresh lab with prefix PFX (UP_ARGS: more `lab.sh up` options).
record() {
	local pfx=$1 name=$2 model=$3 t0=$SECONDS log="$STAGE/.up-$1.log"
	shift 3
	"$LAB" down --prefix "$pfx" >/dev/null
	# shellcheck disable=SC2086 # UP_ARGS is empty or whole words
	if ! "$LAB" up "$model" ${UP_ARGS:-} --prefix "$pfx" >"$log" 2>&1; then
		cat "$log"
		echo "record-fixtures.sh: healthy $model lab failed (see above)"
		exit 1
	fi
	if [ $# -gt 0 ]; then
		"$LAB" break "$@" --prefix "$pfx" | sed 's/^/    /'
		"$LAB" ping --no-retry --prefix "$pfx" | tail -n 1 | sed 's/^/    after the fault: /' || true
	fi
	"$LAB" bundle "$STAGE/$name" --prefix "$pfx" >/dev/null
	printf '  recorded %s (%ss)\n' "$name" "$((SECONDS - t0))"
}

# group PFX MODEL FAULT...: the healthy bundle, then one per fault (named
# after NAME, default MODEL).
group() {
	local pfx=$1 model=$2 fault name=${NAME:-$2}
	shift 2
	record "$pfx" "$name" "$model"
	for fault in "$@"; do
		# A bundle is named after the finding code: `-v6` faults have none.
		record "$pfx" "$name-broken-${fault%-v6}" "$model" "$fault" --node node-1
	done
	"$LAB" down --prefix "$pfx" >/dev/null
}

start=$SECONDS
echo "recording live fixtures (prefixes $PREFIXES)"
group "$P" flannel-vxlan missing-pod-route wrong-next-hop vxlan-fdb-missing \
	vxlan-neigh-missing vxlan-fdb-mismatch node-address-mismatch mtu-mismatch route-shadowed pod-route-missing \
	ip-forward-disabled pod-cidr-overlap service-cidr-overlap >"$STAGE/.group-1.log" 2>&1 &
g1=$!
group "${P}h" flannel-host-gw missing-pod-route wrong-next-hop next-hop-not-adjacent \
	>"$STAGE/.group-2.log" 2>&1 &
g2=$!
group "${P}c" calico-bgp bgp-session-down bgp-route-missing route-shadowed pod-route-missing ipam-leaked-affinity \
	>"$STAGE/.group-3.log" 2>&1 &
g3=$!
NAME=flannel-host-gw-dual-stack UP_ARGS=--dual-stack group "${P}d" flannel-host-gw \
	missing-pod-route-v6 >"$STAGE/.group-4.log" 2>&1 &
g4=$!
group "${P}v" calico-vxlan missing-pod-route wrong-next-hop vxlan-fdb-missing \
	vxlan-neigh-missing >"$STAGE/.group-5.log" 2>&1 &
g5=$!
NAME=calico-vxlan-cross-subnet UP_ARGS=--cross-subnet group "${P}s" calico-vxlan \
	missing-pod-route >"$STAGE/.group-6.log" 2>&1 &
g6=$!
NAME=flannel-vxlan-direct-routing UP_ARGS=--direct-routing group "${P}r" flannel-vxlan \
	vxlan-fdb-missing >"$STAGE/.group-7.log" 2>&1 &
g7=$!
NAME=calico-bgp-route-reflector UP_ARGS="--nodes 4 --reflectors 1" group "${P}b" calico-bgp \
	bgp-session-down >"$STAGE/.group-8.log" 2>&1 &
g8=$!
NAME=flannel-vxlan-dual-stack UP_ARGS=--dual-stack group "${P}w" flannel-vxlan \
	missing-pod-route-v6 vxlan-fdb-missing-v6 vxlan-neigh-missing-v6 >"$STAGE/.group-9.log" 2>&1 &
g9=$!
NAME=calico-bgp-dual-stack UP_ARGS=--dual-stack group "${P}e" calico-bgp \
	bgp-session-down-v6 >"$STAGE/.group-10.log" 2>&1 &
g10=$!
failed=0
for g in "$g1:1" "$g2:2" "$g3:3" "$g4:4" "$g5:5" "$g6:6" "$g7:7" "$g8:8" "$g9:9" "$g10:10"; do
	wait "${g%:*}" || failed=1
	cat "$STAGE/.group-${g#*:}.log"
done
[ "$failed" = 0 ] || { echo "record-fixtures.sh: recording failed (see above)" >&2; exit 1; }

echo "deriving hand-written fixtures (calico-ipip, calico-ipip-cross-subnet, flannel-vxlan-ipvs*)"
python3 "$HERE/handwrite-fixtures.py" "$STAGE"

echo "checking every JSON file with jq"
find "$STAGE" -name '*.json' -print0 | xargs -0 -n 1 jq -e . >/dev/null

# Swap in: drop the old bundle dirs, keep README.md and any other files.
find "$FIX" -mindepth 1 -maxdepth 1 -type d ! -name '.stage.*' -exec rm -rf {} +
for d in "$STAGE"/*/; do mv "$d" "$FIX/"; done
leftover=$(ip netns list | awk '{print $1}' | grep -cE "^${P}[hcdvsrbwe]?-" || true)
[ "$leftover" = 0 ] || { echo "record-fixtures.sh: $leftover lab namespaces left behind" >&2; exit 1; }
printf 'done: %s bundles in %s in %ss\n' "$(find "$FIX" -mindepth 1 -maxdepth 1 -type d ! -name '.stage.*' | wc -l)" "$FIX" "$((SECONDS - start))"
