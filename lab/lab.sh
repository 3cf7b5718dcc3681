#!/bin/bash
# lab.sh — cnictl's namespace lab engine: builds a small Kubernetes-like
# cluster dataplane (Flannel VXLAN, Flannel host-gw, Calico BGP with real
# BIRD 2 daemons or Calico VXLAN) out of network namespaces, injects one fault at a time,
# records it as a cnictl bundle, and tears it all down.
#
# It is the only part of cnictl that writes to a dataplane, and it writes only
# to namespaces it creates: every netns is named "<prefix>-…" (prefix must
# start with "cnl"), the underlay is a bridge in its own netns, node eth0s are
# veths created directly inside the namespaces (nothing ever appears in the
# root namespace), and it kills only the BIRD daemons it started (by pidfile,
# after checking the pid's command line names this lab's config).
#
# Only the choreography is shell (ip, bridge, sysctl, BIRD). The address
# plan, the Kubernetes objects and the state file are cnictl's (Rust, one
# source with `cnictl gen` and the bundle writer): `cnictl lab plan` prints
# the plan as bash assignments, `lab init` / `lab fault` write the state,
# `lab k8s` writes k8s/*.json. Those commands are hidden and need no root.
#
# `cnictl lab` embeds this file and sets CNICTL to itself; run standalone it
# uses $CNICTL, else this source tree's cnictl (built with cargo), else
# cnictl on PATH, and finds collect-node.sh next to itself (override with
# CNICTL_COLLECT_NODE). State lives in $CNICTL_LAB_RUN (default
# /run/cnictl-lab): <prefix>.state (JSON) plus <prefix>/ (k8s/*.json, pod
# maps, BIRD configs, sockets, pidfiles, logs).
#
# Layout of a lab with prefix P, N nodes, M pods per node (node index n,
# pod index p; planned by cnictl, gen/src/lab.rs):
#   P-ul                 underlay netns: bridge br0, 192.0.2.1/24 (gateway)
#   P-node-n             node netns, Kubernetes node "node-n", eth0 192.0.2.(10+n)/24
#   P-node-n-<pod>       pod netns; pods are default/web-n (p=1), default/api-n
#                        (p=2), default/db-n, default/cache-n, then default/appP-n
#   pod IP               10.244.n.(1+p); node pod CIDR 10.244.n.0/24 (Flannel),
#                        IPAM block 10.244.n.0/26 (Calico)
#   Services             default/kubernetes 10.96.0.1:443, default/web
#                        10.96.100.10:80 (app=web, NodePort 30080), default/api
#                        10.96.200.20:8080; kube-proxy: up --kube-proxy
#   P-out                the outside, 203.0.113.10/24 (see lab-services.sh)
set -euo pipefail

LAB_RUN=${CNICTL_LAB_RUN:-/run/cnictl-lab}
SELF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
COLLECT=${CNICTL_COLLECT_NODE:-$SELF_DIR/collect-node.sh}
MODELS="flannel-vxlan flannel-host-gw calico-bgp calico-vxlan"
TRACE=0
. "$SELF_DIR/lab-services.sh"
# A Calico pod's IPv6 gateway: the link-local address the kernel derives
# (EUI-64) from the host veth's MAC ee:ee:ee:ee:ee:ee.
CALICO_GW6=fe80::ecee:eeff:feee:eeee
# The NetworkPolicy faults ("policy faults" below).
POLICY_FAULTS="policy-rules-missing policy-ipset-stale"

usage() {
	cat <<'EOF'
usage: lab.sh COMMAND [options]

commands:
  up MODEL [--nodes N] [--pods P] [--prefix PFX] [--kube-proxy iptables|nftables]
     [--policies FILE] [--dual-stack] [--cross-subnet] [--direct-routing] [--reflectors N]
        build a lab (MODEL: flannel-vxlan | flannel-host-gw | calico-bgp |
        calico-vxlan;
        defaults: 3 nodes, 2 pods per node, prefix cnl, kube-proxy in
        iptables mode; --policies: NetworkPolicy manifests programmed as
        Felix / kube-router would; --dual-stack, flannel-host-gw and
        flannel-vxlan (not with --cross-subnet) and calico-bgp: IPv6 beside
        IPv4, fd00:192:0:2::/64 underlay, fd00:10:244:N::/64 pod CIDRs
        (flannel-vxlan: a second VXLAN device flannel-v6.1; calico-bgp: /122
        blocks, an IPv6 BGP session per peer), and the ping matrix for both
        families; --cross-subnet,
        calico-vxlan and flannel-vxlan: odd nodes on 192.0.2.0/24, even
        ones on 198.51.100.0/24, routed by the underlay namespace, and
        calico-vxlan in vxlanMode CrossSubnet; --direct-routing,
        flannel-vxlan: "DirectRouting": true, implies --cross-subnet);
        --reflectors N, calico-bgp only: nodes 1..N are BGP route reflectors,
        the others their clients, no node-to-node mesh) with an outside namespace, write its state and
        k8s/*.json, print a summary and run the ping matrix (exit 1 if it
        fails; the lab then stays up for inspection). A failure while
        building tears the half-built lab down.
  ping [--prefix PFX] [--no-retry]
        pod-to-pod ping matrix (1 packet, 1 s timeout, a failed pair is
        retried once unless --no-retry); exit 1 if any pair is unreachable
  break FAULT [--prefix PFX] [--node node-N]
        inject one fault on node-N (default node-1) and print the commands
        faults: missing-pod-route wrong-next-hop next-hop-not-adjacent
                vxlan-fdb-missing vxlan-neigh-missing vxlan-fdb-mismatch
                node-address-mismatch
                mtu-mismatch bgp-session-down bgp-route-missing
                missing-pod-route-v6 vxlan-fdb-missing-v6 vxlan-neigh-missing-v6
                bgp-session-down-v6 bgp-route-missing-v6 (labs up with
                --dual-stack; vxlan-*-v6 flannel-vxlan, bgp-*-v6 calico-bgp)
                route-shadowed pod-route-missing ip-forward-disabled
                pod-cidr-overlap service-cidr-overlap
                forward-drop block-vxlan block-bgp backend-mixed
                service-stale-backend service-no-backends service-rules-missing
                masquerade-missing nodeport-local (netfilter, Service faults: lab/README.md)
                policy-rules-missing policy-ipset-stale (labs up with --policies)
  bundle OUT [--prefix PFX] [--force]
        record the lab as a cnictl bundle in OUT
  down [--prefix PFX]
        remove everything the lab created (idempotent, works after a crash)
  status [--prefix PFX]
        show labs (or one lab): model, nodes, pods, faults, BIRD daemons
  faults [MODEL]
        list the faults that apply to MODEL (or to every model)

exit status: 0 ok, 1 ping matrix failed, 2 usage error or failed command.
Environment: CNICTL_LAB_RUN (state dir, default /run/cnictl-lab),
CNICTL_COLLECT_NODE (path of collect-node.sh, default next to lab.sh),
CNICTL (the cnictl binary that plans the lab; default: this source tree's
build, else cnictl on PATH).

examples:
  sudo lab.sh up flannel-vxlan
  sudo lab.sh break vxlan-fdb-missing --node node-1
  sudo lab.sh ping
  sudo lab.sh bundle /tmp/bundle && cnictl check --bundle /tmp/bundle
  sudo lab.sh down
EOF
}

die() {
	printf 'lab.sh: %s\n' "$*" >&2
	exit 2
}

log() {
	printf '%s\n' "$*" >&2
}

# x CMD...: run CMD, echoing it first when TRACE=1 (break prints exactly what
# it changes). The echo goes to fd 3 so `x cmd >/dev/null` still shows it.
# A failure exits the script outright, even where `set -e` is suspended.
x() {
	if [ "$TRACE" = 1 ]; then
		printf '  + %s\n' "$*" >&3
	fi
	"$@" || die "failed ($?): $*"
}

# ---------------------------------------------------------------- plan

# The plan comes from cnictl as variables (see `cnictl lab plan --format
# json`): PREFIX MODEL NODES PODS DIR CREATED FAULTS BIRD_REJECT UL_NS
# GATEWAY DOCKER0_IP POD_RANGE POD_MTU OVERLAP_NODE OVERLAP_CIDR DUAL_STACK
# GATEWAY6 POD_RANGE6 GATEWAY2 CROSS_SUBNET DIRECT_SAME VX_DEV VX_VNI VX_PORT;
# per node n, ${X[n]} for X in NODE_NS NODE_IP NODE_MAC VTEP_IP
# VTEP_MAC POD_CIDR BLOCK CNI0_IP CNI0_MAC MESH PEER THIRD OFFLINK_IP
# SHADOW_NET SVC_OVERLAP_IP NODE_IP6 POD_CIDR6 CNI0_IP6 VTEP_IP6 VTEP_MAC6
# NODE_GW SUBNET2 PEER_NET; per pod p of node n,
# ${X[n.p]} for X in POD_NS POD_NAME POD_IP POD_MAC HOST_VETH POD_IP6.

# find_cnictl: prints the path of the cnictl that plans the lab.
find_cnictl() {
	local root=$SELF_DIR/.. cargo=${CARGO:-cargo}
	if [ -f "$root/Cargo.toml" ] && [ -d "$root/gen" ] && command -v "$cargo" >/dev/null; then
		"$cargo" build -q --manifest-path "$root/Cargo.toml" -p cnictl --bin cnictl >&2 || return 1
		printf '%s/debug/cnictl' "${CARGO_TARGET_DIR:-$root/target}"
		return 0
	fi
	command -v cnictl
}

use_cnictl() {
	[ -n "${CNICTL:-}" ] || CNICTL=$(find_cnictl) ||
		die "cnictl not found: set CNICTL to the cnictl binary (it plans the lab)"
}

# load_plan ARGS...: evaluate `cnictl lab plan ARGS` (exits on its error).
load_plan() {
	local vars
	vars=$("$CNICTL" lab plan "$@" --format shell) || exit 2
	eval "$vars"
}

bird_conf() { printf '%s/bird/node-%s.conf' "$DIR" "$1"; }
bird_ctl() { printf '%s/bird/node-%s.ctl' "$DIR" "$1"; }
bird_pid() { printf '%s/bird/node-%s.pid' "$DIR" "$1"; }

# ---------------------------------------------------------------- state

state_file() { printf '%s/%s.state' "$LAB_RUN" "$PREFIX"; }

load_state() {
	local f
	f=$(state_file)
	[ -f "$f" ] || die "no lab with prefix $PREFIX (no $f; run: lab.sh up MODEL --prefix $PREFIX)"
	load_plan --state "$f"
}

# lab_netns: every netns of this lab's naming scheme that exists now.
lab_netns() {
	ip netns list 2>/dev/null | awk '{print $1}' |
		grep -E "^${PREFIX}-(ul|out|node-[0-9]+(-[a-z0-9-]+)?)$" || true
}

# in_range V LO HI: V is a decimal number in [LO, HI].
in_range() {
	[[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]
}

# check_prefix: kept here too, so `down` (which needs no plan) never
# matches namespaces outside the lab's scheme.
check_prefix() {
	[[ $PREFIX =~ ^cnl[a-z0-9]{0,8}$ ]] ||
		die "prefix must be 'cnl' followed by up to 8 of [a-z0-9], got '$PREFIX'"
}

# ---------------------------------------------------------------- building

build_underlay() {
	local ul=$UL_NS
	ip netns add "$ul"
	ip -n "$ul" link set lo up
	ip -n "$ul" link add br0 type bridge
	ip -n "$ul" addr add "$GATEWAY/24" dev br0
	ip -n "$ul" link set br0 up
	[ "$DUAL_STACK" = 1 ] && ip -n "$ul" addr add "$GATEWAY6/64" dev br0 nodad
	if [ "$CROSS_SUBNET" = 1 ]; then
		# The second underlay subnet: the underlay namespace routes between them.
		ip -n "$ul" link add br1 type bridge
		ip -n "$ul" addr add "$GATEWAY2/24" dev br1
		ip -n "$ul" link set br1 up
	fi
	build_outside
}

# build_node N: the node netns with eth0 on the underlay, forwarding on and
# rp_filter off (as kubeadm-prepared nodes have), default via the underlay.
build_node() {
	local n=$1 ns=${NODE_NS[$1]} ul=$UL_NS
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip link add "ul$n" netns "$ul" type veth peer name eth0 netns "$ns" address "${NODE_MAC[$n]}"
	ip -n "$ul" link set "ul$n" master "br${SUBNET2[$n]}" up
	ip -n "$ns" addr add "${NODE_IP[$n]}/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add default via "${NODE_GW[$n]}" dev eth0
	ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	if [ "$DUAL_STACK" = 1 ]; then
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.forwarding=1
		ip -n "$ns" addr add "${NODE_IP6[$n]}/64" dev eth0 nodad
		ip -n "$ns" -6 route add default via "$GATEWAY6" dev eth0
	fi
}

# build_flannel_node N: cni0 bridge and pods as Flannel's CNI (the bridge
# plugin with host-local IPAM, isDefaultGateway, hairpin) sets them up.
build_flannel_node() {
	local n=$1 ns=${NODE_NS[$1]} p
	ip -n "$ns" link add cni0 address "${CNI0_MAC[$n]}" type bridge
	ip -n "$ns" addr add "${CNI0_IP[$n]}/24" dev cni0
	[ "$DUAL_STACK" = 1 ] && ip -n "$ns" addr add "${CNI0_IP6[$n]}/64" dev cni0 nodad
	ip -n "$ns" link set cni0 up
	for ((p = 1; p <= PODS; p++)); do
		build_flannel_pod "$n" "$p"
	done
}

build_flannel_pod() {
	local n=$1 p=$2 mtu=$POD_MTU ns=${NODE_NS[$1]} pns=${POD_NS[$1.$2]} hv=${HOST_VETH[$1.$2]}
	ip netns add "$pns"
	ip -n "$pns" link set lo up
	ip link add "$hv" netns "$ns" mtu "$mtu" type veth peer name eth0 netns "$pns" \
		mtu "$mtu" address "${POD_MAC[$n.$p]}"
	ip -n "$ns" link set "$hv" master cni0 up
	bridge -n "$ns" link set dev "$hv" hairpin on
	ip -n "$pns" addr add "${POD_IP[$n.$p]}/24" dev eth0
	ip -n "$pns" link set eth0 up
	ip -n "$pns" route add default via "${CNI0_IP[$n]}" dev eth0
	ip -n "$pns" route add "$POD_RANGE" via "${CNI0_IP[$n]}" dev eth0
	if [ "$DUAL_STACK" = 1 ]; then
		ip -n "$pns" addr add "${POD_IP6[$n.$p]}/64" dev eth0 nodad
		ip -n "$pns" -6 route add default via "${CNI0_IP6[$n]}" dev eth0
	fi
}

# build_vxlan N: the VXLAN device exactly as flanneld (flannel.1) or Felix
# (vxlan.calico: its block's blackhole and its routes proto 80) programs it,
# plus per peer node a neighbour, an FDB entry and an onlink route; a
# same-subnet peer under Calico CrossSubnet / Flannel DirectRouting is
# routed via its node IP instead (Felix keeps its neighbour and FDB entry,
# flanneld writes neither). See gen/src/lab_vxlan.rs.
build_vxlan() {
	local n=$1 ns=${NODE_NS[$1]} m proto=()
	[ "$MODEL" != calico-vxlan ] || proto=(proto 80)
	ip -n "$ns" link add "$VX_DEV" address "${VTEP_MAC[$n]}" type vxlan id "$VX_VNI" \
		local "${NODE_IP[$n]}" dev eth0 dstport "$VX_PORT" nolearning
	ip -n "$ns" link set "$VX_DEV" mtu 1450 up
	ip -n "$ns" addr add "${VTEP_IP[$n]}/32" dev "$VX_DEV"
	[ "$MODEL" != calico-vxlan ] || ip -n "$ns" route add blackhole "${BLOCK[$n]}" proto 80
	for ((m = 1; m <= NODES; m++)); do
		[ "$m" = "$n" ] && continue
		if direct "$n" "$m"; then
			ip -n "$ns" route add "${PEER_NET[$m]}" via "${NODE_IP[$m]}" dev eth0 "${proto[@]}"
			[ "$MODEL" = calico-vxlan ] || continue
		fi
		ip -n "$ns" neigh replace "${VTEP_IP[$m]}" lladdr "${VTEP_MAC[$m]}" dev "$VX_DEV" nud permanent
		bridge -n "$ns" fdb append "${VTEP_MAC[$m]}" dev "$VX_DEV" dst "${NODE_IP[$m]}" self permanent
		direct "$n" "$m" ||
			ip -n "$ns" route add "${PEER_NET[$m]}" via "${VTEP_IP[$m]}" dev "$VX_DEV" onlink "${proto[@]}"
	done
}

# build_vxlan6 N (flannel-vxlan --dual-stack): flanneld's second VXLAN
# device for IPv6, as v0.25.x programs it (flannel-io/flannel
# pkg/backend/vxlan, read at vxlan.go 1ba5635, vxlan_network.go 067ed7f,
# device.go 6d746cd): flannel-v6.1, the same VNI and port,
# speaking from the node's IPv6 address, its own MAC (published as
# backend-v6-data), accept_ra off, no MTU given (the kernel derives 1430
# from eth0: IPv6 VXLAN's 70 bytes), the network address of the node's
# IPv6 subnet as a /128; per peer a permanent neighbour, an FDB entry to
# the peer's IPv6 address and an onlink route via the peer's subnet
# address. Pods keep flanneld's one MTU, 1450 (subnet.env FLANNEL_MTU).
build_vxlan6() {
	local n=$1 ns=${NODE_NS[$1]} m dev=flannel-v6.1
	[ "$DUAL_STACK" = 1 ] || return 0
	ip -n "$ns" link add "$dev" address "${VTEP_MAC6[$n]}" type vxlan id "$VX_VNI" \
		local "${NODE_IP6[$n]}" dev eth0 dstport "$VX_PORT" nolearning
	# (sysctl(8) would read the dot in the name as a separator.)
	echo 0 | ip netns exec "$ns" tee "/proc/sys/net/ipv6/conf/$dev/accept_ra" >/dev/null
	ip -n "$ns" addr add "${VTEP_IP6[$n]}/128" dev "$dev" nodad
	ip -n "$ns" link set "$dev" up
	for ((m = 1; m <= NODES; m++)); do
		[ "$m" = "$n" ] && continue
		ip -n "$ns" neigh replace "${VTEP_IP6[$m]}" lladdr "${VTEP_MAC6[$m]}" dev "$dev" nud permanent
		bridge -n "$ns" fdb append "${VTEP_MAC6[$m]}" dev "$dev" dst "${NODE_IP6[$m]}" self permanent
		ip -n "$ns" -6 route add "${POD_CIDR6[$m]}" via "${VTEP_IP6[$m]}" dev "$dev" onlink
	done
}

# direct A B: node A routes node B's pods unencapsulated (same subnet, and
# the model does so: Calico CrossSubnet, Flannel DirectRouting).
direct() {
	[ "$DIRECT_SAME" = 1 ] && [ "${SUBNET2[$1]}" = "${SUBNET2[$2]}" ]
}

build_host_gw() {
	local n=$1 ns=${NODE_NS[$1]} m
	for ((m = 1; m <= NODES; m++)); do
		[ "$m" = "$n" ] && continue
		ip -n "$ns" route add "${POD_CIDR[$m]}" via "${NODE_IP[$m]}" dev eth0
		[ "$DUAL_STACK" = 1 ] && ip -n "$ns" -6 route add "${POD_CIDR6[$m]}" via "${NODE_IP6[$m]}" dev eth0
	done
	return 0
}

# build_calico_pod N P: a cali* veth with the magic MAC, proxy ARP answering
# for 169.254.1.1, and a /32 scope-link route, as Felix and the Calico CNI
# plugin program them.
build_calico_pod() {
	local ns=${NODE_NS[$1]} pns=${POD_NS[$1.$2]} hv=${HOST_VETH[$1.$2]} ip=${POD_IP[$1.$2]}
	ip netns add "$pns"
	ip -n "$pns" link set lo up
	ip link add "$hv" netns "$ns" mtu "$POD_MTU" address ee:ee:ee:ee:ee:ee type veth \
		peer name eth0 netns "$pns" mtu "$POD_MTU"
	ip netns exec "$ns" sysctl -qw "net.ipv4.conf.$hv.proxy_arp=1" \
		"net.ipv4.neigh.$hv.proxy_delay=0" "net.ipv4.conf.$hv.forwarding=1"
	if [ "$DUAL_STACK" = 1 ]; then
		ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$hv.accept_dad=0"
		ip netns exec "$pns" sysctl -qw net.ipv6.conf.eth0.accept_dad=0
	fi
	ip -n "$ns" link set "$hv" up
	ip -n "$ns" route add "$ip" dev "$hv" scope link
	ip -n "$pns" addr add "$ip/32" dev eth0
	ip -n "$pns" link set eth0 up
	ip -n "$pns" route add 169.254.1.1 dev eth0 scope link
	ip -n "$pns" route add default via 169.254.1.1 dev eth0
	[ "$DUAL_STACK" != 1 ] || build_calico_pod6 "$1" "$2"
}

# build_calico_pod6 N P: the pod's IPv6 side as the Calico CNI plugin
# (cni-plugin/pkg/dataplane/linux/dataplane_linux.go, v3.27) sets it up: DAD
# off on both veth ends, proxy_ndp and forwarding on the host end, the
# address as a /128 in the pod, its default route via the host end's own
# link-local address (fe80::ecee:eeff:feee:eeee, from the ee:ee:ee:ee:ee:ee
# MAC: no proxy needed, the host veth answers NDP for it), and a /128 route
# to the pod on the host end.
build_calico_pod6() {
	local ns=${NODE_NS[$1]} pns=${POD_NS[$1.$2]} hv=${HOST_VETH[$1.$2]} ip=${POD_IP6[$1.$2]}
	ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$hv.proxy_ndp=1" "net.ipv6.conf.$hv.forwarding=1"
	ip -n "$ns" -6 route add "$ip/128" dev "$hv"
	ip -n "$pns" addr add "$ip/128" dev eth0 nodad
	ip -n "$pns" -6 route add default via "$CALICO_GW6" dev eth0
}

# write_bird_conf N: Calico's BIRD config (node-to-node mesh, static
# blackhole for the node's block, kernel export of BGP/static pod routes).
# BIRD_REJECT="N:M" adds an import filter on node N rejecting node M's block
# (the bgp-route-missing fault).
write_bird_conf() {
	local n=$1 m ip=${PUBLIC_IP[$1]}
	mkdir -p "$DIR/bird"
	{
		printf 'log "%s/bird/node-%s.log" all;\n' "$DIR" "$n"
		printf 'router id %s;\n' "$ip"
		export_filter "$n"
		cat <<'EOF'
filter calico_kernel_programming { if ( net ~ 10.244.0.0/16 && (source = RTS_BGP || source = RTS_STATIC) ) then accept; reject; }
protocol kernel { learn; scan time 2; graceful restart; merge paths on;
  ipv4 { import all; export filter calico_kernel_programming; }; }
protocol device { scan time 2; }
EOF
		printf 'protocol direct { ipv4;%s interface -"cali*", -"tunl0", -"kube-ipvs*", "*"; }\n' \
			"$([ "$DUAL_STACK" != 1 ] || echo ' ipv6;')"
		cat <<'EOF'
template bgp bgp_template { local as 64512;
  ipv4 { gateway recursive; import all; export filter calico_export_to_bgp_peers; };
  graceful restart; connect delay time 1; connect retry time 2; error wait time 2,10; }
EOF
		# One blackhole per affine block (bird_aggr.cfg.template); a leaked
		# affinity (BIRD_LEAK="N:M") adds node M's block on node N.
		printf 'protocol static { ipv4; route %s blackhole;' "${BLOCK[$n]}"
		[ "${BIRD_LEAK%%:*}" = "$n" ] && printf ' route %s blackhole;' "${BLOCK[${BIRD_LEAK#*:}]}"
		printf ' }\n'
		for m in $(bgp_peers "$n"); do
			printf 'protocol bgp %s from bgp_template { neighbor %s as 64512; source address %s;' \
				"${MESH[$m]}" "${PUBLIC_IP[$m]}" "$ip"
			# A reflector's session to a client (confd: the peer's cluster ID
			# differs from the node's own).
			if [ "$m" -gt "$REFLECTORS" ] && [ "$n" -le "$REFLECTORS" ]; then
				printf ' rr client; rr cluster id 244.0.0.1;'
			fi
			if [ "$BIRD_REJECT" = "$n:$m" ]; then
				printf ' ipv4 { import filter { if net = %s then reject; accept; }; };' "${BLOCK[$m]}"
			fi
			printf ' }\n'
		done
		[ "$DUAL_STACK" != 1 ] || write_bird6_conf "$n"
	} >"$(bird_conf "$n").tmp"
	mv "$(bird_conf "$n").tmp" "$(bird_conf "$n")"
}

# write_bird6_conf N: the IPv6 half, what confd renders into bird6.cfg /
# bird6_ipam.cfg (Calico v3.27) for bird6, in BIRD 2 terms: an ipv6 kernel
# and static protocol (the block's blackhole), and per peer a session
# between the nodes' IPv6 addresses (projectcalico.org/IPv6Address) named
# as bird6.cfg.template names it (Mesh_fd00_192_0_2__12), carrying only
# the ipv6 channel. BIRD_REJECT6="N:M": node N's session to M rejects M's
# IPv6 block (bgp-route-missing-v6).
write_bird6_conf() {
	local n=$1 m ip6=${NODE_IP6[$1]}
	printf 'filter calico_export_to_bgp_peers6 { if ( net ~ %s && source = RTS_STATIC ) then accept; reject; }\n' "$POD_RANGE6"
	printf 'filter calico_kernel_programming6 { if ( net ~ %s && (source = RTS_BGP || source = RTS_STATIC) ) then accept; reject; }\n' "$POD_RANGE6"
	cat <<'EOF'
protocol kernel kernel6 { learn; scan time 2; graceful restart; merge paths on;
  ipv6 { import all; export filter calico_kernel_programming6; }; }
template bgp bgp_template6 { local as 64512;
  ipv6 { gateway recursive; import all; export filter calico_export_to_bgp_peers6; };
  graceful restart; connect delay time 1; connect retry time 2; error wait time 2,10; }
EOF
	printf 'protocol static static6 { ipv6; route %s blackhole; }\n' "${BLOCK6[$n]}"
	for m in $(bgp_peers "$n"); do
		printf 'protocol bgp %s from bgp_template6 { neighbor %s as 64512; source address %s;' \
			"${MESH6[$m]}" "${NODE_IP6[$m]}" "$ip6"
		if [ "$m" -gt "$REFLECTORS" ] && [ "$n" -le "$REFLECTORS" ]; then
			printf ' rr client; rr cluster id 244.0.0.1;'
		fi
		if [ "$BIRD_REJECT6" = "$n:$m" ]; then
			printf ' ipv6 { import filter { if net = %s then reject; accept; }; };' "${BLOCK6[$m]}"
		fi
		printf ' }\n'
	done
}

# bgp_peers N: the nodes node N has a BGP session with: every other node
# in the mesh; with route reflectors (nodes 1..REFLECTORS, the BGPPeer
# "all() peers with route-reflector == 'true'" and its reverse peering, as
# confd computes them) a reflector peers with every node, a client with
# the reflectors only.
bgp_peers() {
	local n=$1 m
	for ((m = 1; m <= NODES; m++)); do
		[ "$m" = "$n" ] && continue
		[ "$REFLECTORS" -gt 0 ] && [ "$n" -gt "$REFLECTORS" ] && [ "$m" -gt "$REFLECTORS" ] && continue
		printf '%s\n' "$m"
	done
}

# export_filter N: what BIRD on node N announces. The mesh lab keeps its
# own static block only. With reflectors, Calico's calico_export_to_bgp_peers
# (confd bird_ipam.cfg.template + calico_aggr of bird_aggr.cfg.template,
# v3.27): the node's block, nothing beneath it, and any other pool route, so
# a reflector reflects what it learned.
export_filter() {
	local b=${BLOCK[$1]}
	if [ "$REFLECTORS" -gt 0 ]; then
		printf 'filter calico_export_to_bgp_peers { if ( net = %s ) then accept; if ( net ~ %s ) then reject; if ( net ~ 10.244.0.0/16 ) then accept; reject; }\n' "$b" "$b"
	else
		printf '%s\n' 'filter calico_export_to_bgp_peers { if ( net ~ 10.244.0.0/16 && source = RTS_STATIC ) then accept; reject; }'
	fi
}

start_bird() {
	local n=$1
	write_bird_conf "$n"
	ip netns exec "${NODE_NS[$n]}" bird -c "$(bird_conf "$n")" -s "$(bird_ctl "$n")" -P "$(bird_pid "$n")"
}

# calico_converged: every node has all its BGP sessions Established and one
# proto bird route per peer block in its kernel table.
calico_converged() {
	local n sessions
	for ((n = 1; n <= NODES; n++)); do
		sessions=$(($(bgp_peers "$n" | wc -l) * (1 + DUAL_STACK)))
		[ "$(birdc -s "$(bird_ctl "$n")" show protocols 2>/dev/null | grep -c ' Established')" = "$sessions" ] || return 1
		[ "$(ip -n "${NODE_NS[$n]}" route show proto bird | grep -c ' via ')" = "$((NODES - 1))" ] || return 1
		[ "$DUAL_STACK" != 1 ] ||
			[ "$(ip -n "${NODE_NS[$n]}" -6 route show proto bird | grep -c ' via ')" = "$((NODES - 1))" ] || return 1
	done
}

# wait_for DESC SECONDS CMD...: poll CMD every 0.2 s, bounded.
wait_for() {
	local desc=$1 secs=$2 i
	shift 2
	for ((i = 0; i < secs * 5; i++)); do
		"$@" && return 0
		sleep 0.2
	done
	die "timed out after ${secs}s waiting for $desc"
}

build_lab() {
	local n
	build_underlay
	for ((n = 1; n <= NODES; n++)); do
		build_node "$n"
		case $MODEL in
		flannel-vxlan) build_flannel_node "$n"; build_vxlan "$n"; build_vxlan6 "$n" ;;
		flannel-host-gw) build_flannel_node "$n"; build_host_gw "$n" ;;
		calico-bgp) build_calico_node "$n" ;;
		calico-vxlan) build_calico_node "$n"; build_vxlan "$n" ;;
		esac
		load_rules "$n"
	done
	if [ "$MODEL" = calico-bgp ]; then
		for ((n = 1; n <= NODES; n++)); do start_bird "$n"; done
		wait_for "BIRD mesh to converge" 20 calico_converged
	fi
	if [ "$DUAL_STACK" = 1 ]; then
		wait_for "IPv6 duplicate address detection" 10 v6_settled
	fi
}

# v6_settled: no address of the lab is still tentative (link-local ones
# run DAD even where ours are added nodad); until then NDP from that
# namespace is not answered and the first pings fail.
v6_settled() {
	local ns
	for ns in $(lab_netns); do
		[ -z "$(ip -n "$ns" -6 addr show tentative 2>/dev/null)" ] || return 1
	done
}

build_calico_node() {
	local n=$1 p
	for ((p = 1; p <= PODS; p++)); do build_calico_pod "$n" "$p"; done
}

# ---------------------------------------------------------------- k8s objects

# write_k8s: the lab's Nodes, Pods, Services and EndpointSlices (as the
# plan and its faults say) into $DIR/k8s/, by cnictl's bundle writer.
write_k8s() {
	"$CNICTL" lab k8s --state "$(state_file)" -o "$DIR" || die "writing $DIR/k8s failed"
}

# write_pod_maps: per node, "NETNS NAMESPACE_POD" lines for collect-node.sh.
write_pod_maps() {
	local n p
	for ((n = 1; n <= NODES; n++)); do
		for ((p = 1; p <= PODS; p++)); do
			[ "${POD_GONE[$n.$p]}" = 1 ] && continue
			printf '%s default_%s\n' "${POD_NS[$n.$p]}" "${POD_NAME[$n.$p]}"
		done >"$DIR/podmap-node-$n"
	done
}

# ---------------------------------------------------------------- commands

cmd_up() {
	MODEL=
	while [ $# -gt 0 ]; do
		case $1 in
		--nodes) NODES=${2:-}; shift 2 ;;
		--pods) PODS=${2:-}; shift 2 ;;
		--prefix) PREFIX=${2:-}; shift 2 ;;
		--kube-proxy) KUBE_PROXY=${2:-}; shift 2 ;;
		--policies) POLICY_FILE=${2:-}; shift 2 ;;
		--dual-stack) DUAL_ARG=--dual-stack; shift ;;
		--cross-subnet | --direct-routing) UL_ARGS="$UL_ARGS $1"; shift ;;
		--reflectors) RR_ARG="--reflectors ${2:-}"; shift 2 ;;
		-*) die "up: unknown option $1" ;;
		*) [ -z "$MODEL" ] || die "up: one MODEL only"; MODEL=$1; shift ;;
		esac
	done
	[ -n "$MODEL" ] || die "up: MODEL missing (one of: $MODELS)"
	# cnictl checks the model, --nodes, --pods and the prefix.
	# shellcheck disable=SC2086 # DUAL_ARG, UL_ARGS, RR_ARG: flags, no spaces in their words
	load_plan "$MODEL" --nodes "$NODES" --pods "$PODS" --prefix "$PREFIX" --kube-proxy "$KUBE_PROXY" $DUAL_ARG $UL_ARGS $RR_ARG
	[ ! -e "$(state_file)" ] || die "a lab with prefix $PREFIX exists ($(state_file)); run: lab.sh down --prefix $PREFIX"
	[ -z "$(lab_netns)" ] || die "namespaces with prefix $PREFIX- exist; run: lab.sh down --prefix $PREFIX"
	command -v ping >/dev/null || die "ping not found (Debian package iputils-ping)"
	[ "$MODEL" != calico-bgp ] || command -v bird >/dev/null || die "calico-bgp needs BIRD 2 (Debian package bird2)"
	command -v iptables-restore >/dev/null || die "iptables-restore not found (Debian package iptables)"
	need_rule_tools
	DIR="$LAB_RUN/$PREFIX" CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) FAULTS=''
	rm -rf "$DIR"
	mkdir -p "$DIR"
	local policy_args=()
	[ -z "$POLICY_FILE" ] || policy_args=(--policies "$POLICY_FILE")
	"$CNICTL" lab init "$MODEL" --nodes "$NODES" --pods "$PODS" --prefix "$PREFIX" \
		--kube-proxy "$KUBE_PROXY" --state "$(state_file)" --dir "$DIR" --created "$CREATED" \
		"${policy_args[@]}" $DUAL_ARG $UL_ARGS $RR_ARG || { rm -rf "$DIR"; exit 2; }
	load_state
	# Any failure while building (set -e, die) exits through this trap, so a
	# half-built lab never stays behind.
	trap 'log "lab.sh: up failed, tearing down"; cmd_down >/dev/null 2>&1 || true' EXIT
	build_lab
	trap - EXIT
	write_k8s
	write_pod_maps
	print_summary
	if [ "$POLICIES" = 1 ]; then
		# The policies decide which pairs may talk: failures are theirs.
		cmd_ping || printf '(the lab'"'"'s NetworkPolicies decide which pairs may talk: see cnictl explain)\n'
	else
		cmd_ping
	fi
}

print_summary() {
	local n p
	printf 'lab %s: %s, %s nodes x %s pods, kube-proxy %s (state %s)\n' "$PREFIX" "$MODEL" "$NODES" "$PODS" "$KUBE_PROXY" "$(state_file)"
	printf '  underlay  %-28s %s/24 (br0)\n' "$UL_NS" "$GATEWAY"
	[ "$CROSS_SUBNET" != 1 ] || printf '  underlay  %-28s %s/24 (br1, routed)\n' "$UL_NS" "$GATEWAY2"
	printf '  outside   %-28s %s/24 (via %s)\n' "$OUT_NS" "$OUT_IP" "$OUT_GW"
	for ((n = 1; n <= NODES; n++)); do
		printf '  node-%-4s %-28s %s\n' "$n" "${NODE_NS[$n]}" "${NODE_IP[$n]}"
		for ((p = 1; p <= PODS; p++)); do
			printf '    %-13s %-26s %s\n' "default/${POD_NAME[$n.$p]}" "${POD_NS[$n.$p]}" "${POD_IP[$n.$p]}"
		done
	done
	printf '  k8s objects in %s/k8s\n' "$DIR"
}

# all_pods: "N.P" for every pod of the lab, node by node.
all_pods() {
	local n p
	for ((n = 1; n <= NODES; n++)); do
		for ((p = 1; p <= PODS; p++)); do [ "${POD_GONE[$n.$p]}" = 1 ] || printf '%s.%s\n' "$n" "$p"; done
	done
}

# short_name N.P: the pod's name (web-1).
short_name() { printf '%s' "${POD_NAME[$1]}"; }

# cmd_ping: every pod pings every other pod once (all pairs in parallel, one
# retry for a pair that fails, so a slow first ARP does not count).
cmd_ping() {
	command -v ping >/dev/null || die "ping not found (Debian package iputils-ping)"
	if [ "$DUAL_STACK" = 1 ]; then
		local ok=0
		ping_matrix POD_IP || ok=1
		printf 'IPv6:\n'
		ping_matrix POD_IP6 || ok=1
		return "$ok"
	fi
	ping_matrix POD_IP
}

# ping_matrix ARRAY: every pod pings every other pod's address in ARRAY
# (POD_IP or POD_IP6) and the matrix is printed; fails unless all pass.
ping_matrix() {
	local -n ips=$1
	local out src dst pods pairs=0 good=0 cell
	out=$(mktemp -d)
	pods=$(all_pods)
	for src in $pods; do
		for dst in $pods; do
			[ "$src" = "$dst" ] && continue
			(ping_pair "${POD_NS[$src]}" "${ips[$dst]}" &&
				touch "$out/$src-$dst") &
		done
	done
	wait
	printf '%-10s' 'from\to'
	for dst in $pods; do printf ' %-8s' "$(short_name "$dst")"; done
	printf '\n'
	for src in $pods; do
		printf '%-10s' "$(short_name "$src")"
		for dst in $pods; do
			cell=.
			if [ "$src" != "$dst" ]; then
				pairs=$((pairs + 1))
				cell=FAIL
				[ -e "$out/$src-$dst" ] && cell=ok && good=$((good + 1))
			fi
			printf ' %-8s' "$cell"
		done
		printf '\n'
	done
	rm -rf "$out"
	printf 'ping matrix: %s/%s reachable\n' "$good" "$pairs"
	[ "$good" = "$pairs" ]
}

ping_pair() {
	ip netns exec "$1" ping -n -q -c 1 -W 1 "$2" >/dev/null 2>&1 ||
		{ [ "$PING_RETRY" = 1 ] && ip netns exec "$1" ping -n -q -c 1 -W 1 "$2" >/dev/null 2>&1; }
}

cmd_bundle() {
	local out='' force=0 tmp n
	while [ $# -gt 0 ]; do
		case $1 in
		--prefix) PREFIX=${2:-}; shift 2 ;;
		--force) force=1; shift ;;
		-*) die "bundle: unknown option $1" ;;
		*) [ -z "$out" ] || die "bundle: one OUT only"; out=${1%/}; shift ;;
		esac
	done
	[ -n "$out" ] || die "bundle: OUT missing"
	load_state
	[ -x "$COLLECT" ] || [ -r "$COLLECT" ] || die "collect-node.sh not found at $COLLECT (set CNICTL_COLLECT_NODE)"
	if [ -d "$out" ] && [ -n "$(ls -A "$out")" ] && [ "$force" != 1 ]; then
		die "bundle: $out exists and is not empty (use --force)"
	fi
	mkdir -p "$(dirname "$out")"
	tmp=$(mktemp -d "$(dirname "$out")/.$(basename "$out").tmp.XXXXXX")
	mkdir -p "$tmp/nodes" "$tmp/k8s"
	# Every node at once: a node's collection mostly waits on its tools.
	local pids=()
	for ((n = 1; n <= NODES; n++)); do
		collect_one "$n" "$tmp/nodes/node-$n" &
		pids[n]=$!
	done
	for ((n = 1; n <= NODES; n++)); do
		wait "${pids[$n]}" || { wait; rm -rf "$tmp"; die "bundle: collecting node-$n failed"; }
	done
	cp "$DIR"/k8s/*.json "$tmp/k8s/"
	write_lab_info >"$tmp/lab-info.txt"
	rm -rf "$out"
	mv "$tmp" "$out"
	printf 'bundle written to %s (%s nodes)\n' "$out" "$NODES"
}

collect_one() {
	local n=$1 dest=$2
	local args=(--pod-map "$DIR/podmap-node-$n" --no-ipvs)
	if [ "$MODEL" = calico-bgp ]; then
		BIRD_SOCKET=$(bird_ctl "$n") ip netns exec "${NODE_NS[$n]}" sh "$COLLECT" "${args[@]}" "$dest"
	else
		ip netns exec "${NODE_NS[$n]}" sh "$COLLECT" "${args[@]}" --no-bird "$dest"
	fi
}

write_lab_info() {
	printf 'model = %s\nprefix = %s\nnodes = %s\npods_per_node = %s\ncreated = %s\nfaults = %s\n' \
		"$MODEL" "$PREFIX" "$NODES" "$PODS" "$CREATED" "${FAULTS:-none}"
	[ "$DUAL_STACK" != 1 ] || printf 'dual_stack = 1\n'
	[ "$CROSS_SUBNET" != 1 ] || printf 'cross_subnet = 1\n'
	[ "$DIRECT_SAME" != 1 ] || printf 'same_subnet_direct = 1\n'
	[ ! -f "$DIR/faults.log" ] || sed -e "s/^  + //" -e "s/^/fault_command = /" "$DIR/faults.log"
}

# cmd_down: remove every trace of the lab, even after a crash: BIRD daemons
# by pidfile (only if the pid is a bird running this lab's config), then
# every netns matching the lab's naming scheme, then the state.
cmd_down() {
	while [ $# -gt 0 ]; do
		case $1 in
		--prefix) PREFIX=${2:-}; shift 2 ;;
		*) die "down: unknown argument $1" ;;
		esac
	done
	check_prefix
	DIR="$LAB_RUN/$PREFIX"
	stop_birds
	local ns count=0
	for ns in $(lab_netns); do
		ip netns del "$ns" 2>/dev/null || log "lab.sh: could not delete netns $ns"
		count=$((count + 1))
	done
	rm -rf "$DIR" "$(state_file)"
	printf 'lab %s down (%s namespaces removed)\n' "$PREFIX" "$count"
	[ -z "$(lab_netns)" ]
}

# our_bird PID: true if PID runs bird with a config from this lab's dir.
our_bird() {
	local cmd
	[ -r "/proc/$1/cmdline" ] || return 1
	cmd=$(tr '\0' ' ' <"/proc/$1/cmdline")
	[[ $cmd == bird\ * || $cmd == */bird\ * ]] && [[ $cmd == *" -c $DIR/bird/"* ]]
}

stop_birds() {
	local f pid pids=() i
	for f in "$DIR"/bird/*.pid; do
		[ -f "$f" ] || continue
		pid=$(tr -dc '0-9' <"$f")
		[ -n "$pid" ] && our_bird "$pid" && pids+=("$pid")
	done
	# A crash can lose pidfiles: also find bird processes by this lab's
	# config path (one /proc read per pid; still only our own daemons).
	for f in /proc/[0-9]*/cmdline; do
		pid=${f#/proc/}
		pid=${pid%/cmdline}
		[[ " ${pids[*]} " == *" $pid "* ]] && continue
		our_bird "$pid" 2>/dev/null && pids+=("$pid")
	done
	[ ${#pids[@]} -gt 0 ] || return 0
	kill -TERM "${pids[@]}" 2>/dev/null || true
	for ((i = 0; i < 25; i++)); do
		alive=0
		for pid in "${pids[@]}"; do our_bird "$pid" && alive=1; done
		[ "$alive" = 0 ] && return 0
		sleep 0.1
	done
	for pid in "${pids[@]}"; do our_bird "$pid" && kill -KILL "$pid" 2>/dev/null; done
	return 0
}

cmd_status() {
	local f
	while [ $# -gt 0 ]; do
		case $1 in
		--prefix) PREFIX=${2:-}; shift 2 ;;
		*) die "status: unknown argument $1" ;;
		esac
	done
	if [ "$PREFIX_SET" = 0 ]; then
		for f in "$LAB_RUN"/*.state; do
			[ -f "$f" ] || { echo "no labs"; return 0; }
			PREFIX=$(basename "$f" .state)
			status_one
		done
	else
		status_one
	fi
}

status_one() {
	local n pid st
	load_state
	printf 'lab %s: %s, %s nodes x %s pods, kube-proxy %s, created %s\n' "$PREFIX" "$MODEL" "$NODES" "$PODS" "$KUBE_PROXY" "$CREATED"
	printf '  faults: %s\n' "${FAULTS:-none}"
	printf '  namespaces: %s present\n' "$(lab_netns | wc -l)"
	if [ "$MODEL" = calico-bgp ]; then
		for ((n = 1; n <= NODES; n++)); do
			pid=$(cat "$(bird_pid "$n")" 2>/dev/null || true)
			st=dead
			[ -n "$pid" ] && our_bird "$pid" && st="running (pid $pid)"
			printf '  bird node-%s: %s\n' "$n" "$st"
		done
	fi
}

# ---------------------------------------------------------------- faults

FAULTS_ALL="missing-pod-route missing-pod-route-v6 wrong-next-hop next-hop-not-adjacent vxlan-fdb-missing vxlan-neigh-missing vxlan-fdb-mismatch vxlan-fdb-missing-v6 vxlan-neigh-missing-v6 node-address-mismatch mtu-mismatch bgp-session-down bgp-route-missing bgp-session-down-v6 bgp-route-missing-v6 route-shadowed pod-route-missing ip-forward-disabled pod-cidr-overlap service-cidr-overlap forward-drop block-vxlan block-bgp backend-mixed $SERVICE_FAULTS $POLICY_FAULTS"

# faults_for MODEL: the faults a live lab of MODEL can show.
faults_for() {
	case $1 in
	flannel-vxlan) echo "missing-pod-route $([ "${DUAL_STACK:-0}" = 1 ] && echo missing-pod-route-v6 vxlan-fdb-missing-v6 vxlan-neigh-missing-v6) wrong-next-hop vxlan-fdb-missing vxlan-neigh-missing vxlan-fdb-mismatch node-address-mismatch mtu-mismatch route-shadowed pod-route-missing ip-forward-disabled pod-cidr-overlap service-cidr-overlap forward-drop block-vxlan backend-mixed $SERVICE_FAULTS $POLICY_FAULTS" ;;
	flannel-host-gw) echo "missing-pod-route $([ "${DUAL_STACK:-0}" = 1 ] && echo missing-pod-route-v6) wrong-next-hop next-hop-not-adjacent route-shadowed pod-route-missing ip-forward-disabled pod-cidr-overlap service-cidr-overlap forward-drop backend-mixed $SERVICE_FAULTS $POLICY_FAULTS" ;;
	calico-bgp) echo "bgp-session-down bgp-route-missing $([ "${DUAL_STACK:-0}" = 1 ] && echo bgp-session-down-v6 bgp-route-missing-v6) node-address-mismatch ipam-leaked-affinity route-shadowed pod-route-missing ip-forward-disabled service-cidr-overlap forward-drop block-bgp backend-mixed $SERVICE_FAULTS $POLICY_FAULTS" ;;
	calico-vxlan) echo "missing-pod-route wrong-next-hop vxlan-fdb-missing vxlan-neigh-missing vxlan-fdb-mismatch mtu-mismatch route-shadowed pod-route-missing ip-forward-disabled service-cidr-overlap forward-drop block-vxlan backend-mixed $SERVICE_FAULTS $POLICY_FAULTS" ;;
	*) return 1 ;;
	esac
}

cmd_faults() {
	local m
	if [ $# -gt 0 ]; then
		faults_for "$1" | tr ' ' '\n' || die "unknown model $1"
		return 0
	fi
	for m in $MODELS; do printf '%s: %s\n' "$m" "$(faults_for "$m")"; done
}

cmd_break() {
	local fault='' node=1
	while [ $# -gt 0 ]; do
		case $1 in
		--prefix) PREFIX=${2:-}; shift 2 ;;
		--node) node=${2:-}; node=${node#node-}; shift 2 ;;
		-*) die "break: unknown option $1" ;;
		*) [ -z "$fault" ] || die "break: one FAULT at a time"; fault=$1; shift ;;
		esac
	done
	[ -n "$fault" ] || die "break: FAULT missing (one of: $FAULTS_ALL)"
	load_state
	[[ " $(faults_for "$MODEL") " == *" $fault "* ]] ||
		die "break: $fault does not apply to $MODEL (applies: $(faults_for "$MODEL"))"
	in_range "$node" 1 "$NODES" || die "break: no node-$node in this lab"
	[ "$NODES" -ge 3 ] || [[ $fault == policy-* ]] || die "break: faults need at least 3 nodes"
	S=$node T=${PEER[$node]} W=${THIRD[$node]}
	printf 'lab %s: injecting %s on node-%s (peer node-%s, third node node-%s):\n' "$PREFIX" "$fault" "$S" "$T" "$W"
	TRACE=1 RECORDED=0
	local out="$DIR/.fault.out"
	: >"$out"
	"fault_${fault//-/_}" 3>>"$out" >>"$out" || { cat "$out"; die "break: $fault failed"; }
	cat "$out"
	cat "$out" >>"$DIR/faults.log"
	rm -f "$out"
	TRACE=0
	# Only a fault that took effect is recorded; cnictl applies what it
	# changes in the objects (and BIRD's config) to the state, and k8s/
	# follows the state.
	[ "$RECORDED" = 1 ] || "$CNICTL" lab fault "$fault" --node "$S" --state "$(state_file)" || die "break: recording $fault failed"
	load_state
	write_k8s
	write_pod_maps
}

fault_missing_pod_route() {
	x ip -n "${NODE_NS[$S]}" route del "${PEER_NET[$T]}"
}

# missing-pod-route-v6 (a lab up with --dual-stack): the same for the
# peer's IPv6 pod CIDR; its IPv4 route stays.
fault_missing_pod_route_v6() {
	x ip -n "${NODE_NS[$S]}" -6 route del "${POD_CIDR6[$T]}"
}

fault_wrong_next_hop() {
	case $MODEL in
	flannel-vxlan | calico-vxlan) x ip -n "${NODE_NS[$S]}" route replace "${PEER_NET[$T]}" via "${VTEP_IP[$W]}" dev "$VX_DEV" onlink ;;
	flannel-host-gw) x ip -n "${NODE_NS[$S]}" route replace "${POD_CIDR[$T]}" via "${NODE_IP[$W]}" dev eth0 ;;
	esac
}

fault_next_hop_not_adjacent() {
	x ip -n "${NODE_NS[$S]}" route replace "${POD_CIDR[$T]}" via "${OFFLINK_IP[$T]}" dev eth0 onlink
}

fault_vxlan_fdb_missing() {
	x bridge -n "${NODE_NS[$S]}" fdb del "${VTEP_MAC[$T]}" dev "$VX_DEV" dst "${NODE_IP[$T]}" self
}

fault_vxlan_neigh_missing() {
	x ip -n "${NODE_NS[$S]}" neigh del "${VTEP_IP[$T]}" dev "$VX_DEV"
}

# vxlan-fdb-missing-v6 / vxlan-neigh-missing-v6 (flannel-vxlan up with
# --dual-stack): the same entries on flannel-v6.1; flannel.1 keeps its own.
fault_vxlan_fdb_missing_v6() {
	x bridge -n "${NODE_NS[$S]}" fdb del "${VTEP_MAC6[$T]}" dev flannel-v6.1 dst "${NODE_IP6[$T]}" self
}

fault_vxlan_neigh_missing_v6() {
	x ip -n "${NODE_NS[$S]}" neigh del "${VTEP_IP6[$T]}" dev flannel-v6.1
}

fault_vxlan_fdb_mismatch() {
	x bridge -n "${NODE_NS[$S]}" fdb replace "${VTEP_MAC[$T]}" dev "$VX_DEV" dst "${NODE_IP[$W]}" self permanent
}

# node-address-mismatch (flannel-vxlan, calico-bgp): Docker is installed
# on node-S (docker0, no ports, holds 172.17.0.1) and the CNI's interface
# autodetection picked it. Flannel: flannel.1 speaks from docker0's
# address, the node's public-ip annotation names it, and every peer's FDB
# entry for node-S's VTEP MAC points at it, as flanneld programs from the
# annotation. Calico: see node_address_calico. Nothing sent to that address
# reaches node-S: the peers route it to the underlay gateway.
fault_node_address_mismatch() {
	local ns=${NODE_NS[$S]}
	x ip -n "$ns" link add docker0 type bridge
	x ip -n "$ns" addr add "$DOCKER0_IP/16" dev docker0
	x ip -n "$ns" link set docker0 up
	case $MODEL in
	calico-bgp) node_address_calico ;;
	*) node_address_flannel ;;
	esac
}

# Flannel: flannel.1's `local` and the public-ip annotation take docker0's
# address, and the peers' FDB entries for node-S follow the annotation.
node_address_flannel() {
	local m ns=${NODE_NS[$S]}
	x ip -n "$ns" link set flannel.1 type vxlan local "$DOCKER0_IP"
	for ((m = 1; m <= NODES; m++)); do
		[ "$m" = "$S" ] && continue
		x bridge -n "${NODE_NS[$m]}" fdb replace "${VTEP_MAC[$S]}" dev flannel.1 dst "$DOCKER0_IP" self permanent
	done
	printf '  + k8s/nodes.json: node-%s annotation flannel.alpha.coreos.com/public-ip %s -> %s\n' \
		"$S" "${NODE_IP[$S]}" "$DOCKER0_IP"
}

# Calico (calico-node's IP autodetection picked docker0, as with
# IP_AUTODETECTION_METHOD=first-found): the IPv4Address annotation says
# docker0's address, so confd renders it as node-S's router id and source
# address, and every peer's neighbour address for node-S. No session comes
# up: the peers cannot reach docker0's address.
node_address_calico() {
	local m
	PUBLIC_IP[S]=$DOCKER0_IP
	for ((m = 1; m <= NODES; m++)); do
		write_bird_conf "$m"
		x birdc -s "$(bird_ctl "$m")" configure >/dev/null
	done
	printf '  + bird configs: node-%s router id / source address, and its peers'"'"' neighbour for it, %s -> %s\n' \
		"$S" "${NODE_IP[$S]}" "$DOCKER0_IP"
	printf '  + k8s/nodes.json: node-%s annotation projectcalico.org/IPv4Address %s/24 -> %s/24\n' \
		"$S" "${NODE_IP[$S]}" "$DOCKER0_IP"
	wait_for "node-$S's BGP sessions to drop" 15 node_isolated
}

# node_isolated: node-S has no established session and its peers have
# withdrawn its block.
node_isolated() {
	local m
	birdc -s "$(bird_ctl "$S")" show protocols | grep -q Established && return 1
	for ((m = 1; m <= NODES; m++)); do
		[ "$m" = "$S" ] && continue
		[ -z "$(ip -n "${NODE_NS[$m]}" route show "${BLOCK[$S]}" proto bird)" ] || return 1
	done
}

# mtu-mismatch: pod web-S gets MTU 1500 (both veth ends, as a CNI config
# with the wrong mtu would) behind a 1450 flannel.1. The other variant,
# flannel.1 at 1500 on a 1500 underlay, cannot be built: the kernel refuses
# a VXLAN MTU that leaves no room for the 50-byte header.
fault_mtu_mismatch() {
	x ip -n "${POD_NS[$S.1]}" link set eth0 mtu 1500
	x ip -n "${NODE_NS[$S]}" link set "${HOST_VETH[$S.1]}" mtu 1500
}

# route-shadowed: a blackhole more specific than node-T's pod route (/25 of
# its /24, /27 of its Calico /26).
fault_route_shadowed() {
	x ip -n "${NODE_NS[$S]}" route add blackhole "${SHADOW_NET[$T]}"
}

fault_pod_route_missing() {
	case $MODEL in
	calico-*) x ip -n "${NODE_NS[$S]}" route del "${POD_IP[$S.1]}" dev "${HOST_VETH[$S.1]}" ;;
	*) x ip -n "${NODE_NS[$S]}" link set "${HOST_VETH[$S.1]}" nomaster ;;
	esac
}

fault_ip_forward_disabled() {
	x ip netns exec "${NODE_NS[$S]}" sysctl -qw net.ipv4.ip_forward=0
}

fault_bgp_session_down() {
	x birdc -s "$(bird_ctl "$S")" disable "${MESH[$T]}" >/dev/null
	wait_for "the session to node-$T to drop" 10 session_not_established "$T"
}

session_not_established() {
	! birdc -s "$(bird_ctl "$1")" show protocols "${2:-${MESH[$S]}}" | grep -q Established
}

# bgp-session-down-v6 (calico-bgp up with --dual-stack): the same for the
# IPv6 session; the IPv4 session to the peer stays up.
fault_bgp_session_down_v6() {
	x birdc -s "$(bird_ctl "$S")" disable "${MESH6[$T]}" >/dev/null
	wait_for "the IPv6 session to node-$T to drop" 10 session_not_established "$T" "${MESH6[$S]}"
}

# bgp-route-missing-v6 (calico-bgp up with --dual-stack): node-S's IPv6
# session to node-T rejects node-T's IPv6 block; the IPv4 one stays.
fault_bgp_route_missing_v6() {
	BIRD_REJECT6="$S:$T"
	write_bird_conf "$S"
	printf '  + edit %s: protocol bgp %s gets: ipv6 { import filter { if net = %s then reject; accept; }; };\n' \
		"$(bird_conf "$S")" "${MESH6[$T]}" "${BLOCK6[$T]}"
	x birdc -s "$(bird_ctl "$S")" configure >/dev/null
	wait_for "node-$T's IPv6 block to leave node-$S's kernel table" 10 block6_gone
}

block6_gone() {
	! ip -n "${NODE_NS[$S]}" -6 route show proto bird | grep -q "^${BLOCK6[$T]} via"
}

fault_bgp_route_missing() {
	BIRD_REJECT="$S:$T"
	write_bird_conf "$S"
	printf '  + edit %s: protocol bgp %s gets: ipv4 { import filter { if net = %s then reject; accept; }; };\n' \
		"$(bird_conf "$S")" "${MESH[$T]}" "${BLOCK[$T]}"
	x birdc -s "$(bird_ctl "$S")" configure >/dev/null
	wait_for "node-$T's block to leave node-$S's kernel table" 10 block_gone
}

# ipam-leaked-affinity: node-S also holds node-T's block affinity, so confd
# renders a second static blackhole: BIRD programs `blackhole BLOCK[T] proto
# bird` on node-S and announces the block to its peers (the BlockAffinity
# is added to k8s/ by the recorded fault).
fault_ipam_leaked_affinity() {
	BIRD_LEAK="$S:$T"
	write_bird_conf "$S"
	printf '  + edit %s: protocol static gets: route %s blackhole;\n' "$(bird_conf "$S")" "${BLOCK[$T]}"
	x birdc -s "$(bird_ctl "$S")" configure >/dev/null
	wait_for "node-S to blackhole node-T's block" 10 leak_programmed
}

leak_programmed() {
	ip -n "${NODE_NS[$S]}" route show proto bird | grep -q "^blackhole ${BLOCK[$T]}"
}

block_gone() {
	! ip -n "${NODE_NS[$S]}" route show proto bird | grep -q "^${BLOCK[$T]} via"
}

# pod-cidr-overlap: node OVERLAP_NODE (node-3, whatever --node says: the
# /23 must cover node-2's /24) is given OVERLAP_CIDR in nodes.json, and every
# other node's route to its pods becomes a route for that /23, as Flannel
# would program the lease.
fault_pod_cidr_overlap() {
	local m ns o=$OVERLAP_NODE
	for ((m = 1; m <= NODES; m++)); do
		[ "$m" = "$o" ] && continue
		ns=${NODE_NS[$m]}
		x ip -n "$ns" route del "${POD_CIDR[$o]}"
		case $MODEL in
		flannel-vxlan) if direct "$m" "$o"; then
			x ip -n "$ns" route add "$OVERLAP_CIDR" via "${NODE_IP[$o]}" dev eth0
		else
			x ip -n "$ns" route add "$OVERLAP_CIDR" via "${VTEP_IP[$o]}" dev flannel.1 onlink
		fi ;;
		flannel-host-gw) x ip -n "$ns" route add "$OVERLAP_CIDR" via "${NODE_IP[$o]}" dev eth0 ;;
		esac
	done
	printf '  + k8s/nodes.json: node-%s spec.podCIDR(s) %s -> %s (overlaps node-%s %s)\n' \
		"$o" "${POD_CIDR[$o]}" "$OVERLAP_CIDR" "$((o - 1))" "${POD_CIDR[$((o - 1))]}"
}

# service-cidr-overlap (k8s objects only): a Service whose ClusterIP lies
# inside node-S's pod CIDR, as a service range overlapping the pod range gives.
fault_service_cidr_overlap() {
	printf '  + k8s/services.json: added Service default/legacy clusterIP %s (inside node-%s pod CIDR %s)\n' \
		"${SVC_OVERLAP_IP[$S]}" "$S" "${POD_CIDR[$S]}"
}

# ---------------------------------------------------------------- netfilter faults
#
# Injected with the node's own iptables binaries, inside its netns, on top
# of the rules load_rules installed (lab/README.md, "Netfilter faults").

# nf N ARGS...: `iptables ARGS` in node N's netns (the iptables-nft backend
# here), echoed like every fault command.
nf() {
	local n=$1
	shift
	x ip netns exec "${NODE_NS[$n]}" iptables -w "$@"
}

# forward-drop: what installing Docker does to a node, the FORWARD policy
# becomes DROP; on Flannel nodes FLANNEL-FWD is also flushed, as a firewall
# reload leaves it until flanneld's next resync. Nothing accepts the pod
# traffic a Flannel node-S forwards any more: every packet between a pod of
# node-S and any other pod (same node too: bridged traffic crosses FORWARD
# with bridge-nf-call-iptables=1) ends at the FORWARD policy. On calico-bgp
# Felix's own rules still accept workload traffic (its cali-FORWARD marks
# it, its appended FORWARD rule accepts it): nothing changes for pods.
fault_forward_drop() {
	nf "$S" -P FORWARD DROP
	[[ $MODEL == calico-* ]] || nf "$S" -F FLANNEL-FWD
}

# block-vxlan: a host firewall rule dropping the VXLAN port (Flannel's
# 8472, Calico's 4789) in INPUT:
# node-S receives no encapsulated packet (its pods can send, nothing returns).
fault_block_vxlan() {
	nf "$S" -A INPUT -p udp -m udp --dport "$VX_PORT" -j DROP
}

# block-bgp: node-S's firewall drops TCP port 179 from its peers in INPUT
# (both directions of the conversation: to its port 179 and from theirs),
# and its sessions are reset: they cannot come back, every node withdraws
# node-S's block and node-S loses every peer's.
fault_block_bgp() {
	local m
	for ((m = 1; m <= NODES; m++)); do
		[ "$m" = "$S" ] && continue
		nf "$S" -A INPUT -s "${NODE_IP[$m]}/32" -p tcp -m tcp --dport 179 -j DROP
		nf "$S" -A INPUT -s "${NODE_IP[$m]}/32" -p tcp -m tcp --sport 179 -j DROP
	done
	for m in $(bgp_peers "$S"); do
		x birdc -s "$(bird_ctl "$S")" restart "${MESH[$m]}" >/dev/null
	done
	wait_for "node-$S's BGP routes to be withdrawn" 20 bgp_isolated
}

# bgp_isolated: node-S has no BGP route and no peer has node-S's block.
bgp_isolated() {
	local m
	! ip -n "${NODE_NS[$S]}" route show proto bird | grep -q ' via ' || return 1
	for ((m = 1; m <= NODES; m++)); do
		[ "$m" = "$S" ] && continue
		! ip -n "${NODE_NS[$m]}" route show proto bird | grep -q "^${BLOCK[$S]} via" || return 1
	done
}

# backend-mixed: a stale rule in the other iptables backend (this lab
# loads its rules with iptables-nft, so: iptables-legacy) dropping what
# node-S forwards to its pod web-S, as an old firewall script run with the
# legacy binary leaves behind. Both backends' FORWARD hooks run: the nft
# ruleset accepts, the legacy rule drops.
fault_backend_mixed() {
	local other
	other=$(other_iptables)
	x ip netns exec "${NODE_NS[$S]}" "$other" -w -A FORWARD -d "${POD_IP[$S.1]}/32" \
		-m comment --comment stale:old-firewall-script -j DROP
}

# other_iptables: the iptables binary of the backend `iptables` is not.
other_iptables() {
	local other=iptables-nft
	iptables -V | grep -q nf_tables && other=iptables-legacy
	command -v "$other" >/dev/null || die "backend-mixed needs $other"
	echo "$other"
}

# ---------------------------------------------------------------- policy faults
#
# Labs up with --policies carry a policy agent's rules (Felix on
# calico-bgp, kube-router on the Flannel models; gen/src/felix_policy.rs,
# kube_router.rs); these faults break what the agent wrote on node-S.

need_policies() {
	[ "$POLICIES" = 1 ] || die "break: $1 needs a lab up with --policies FILE"
}

# policy-rules-missing: the agent's rules are absent on node S, as on a
# node where it never ran or was removed: its jumps from INPUT, FORWARD and
# OUTPUT are deleted and its policy chains (cali-pi-*/cali-po-*,
# KUBE-NWPLCY-* but the default) flushed. Nothing enforces policy there.
fault_policy_rules_missing() {
	need_policies policy-rules-missing
	local ns=${NODE_NS[$S]} b line c
	for b in INPUT FORWARD OUTPUT; do
		ip netns exec "$ns" iptables -w -S "$b" |
			grep -E -- '-j (cali-FORWARD|KUBE-ROUTER-(INPUT|FORWARD|OUTPUT))( |$)' |
			while read -r line; do eval "nf $S ${line/#-A/-D}"; done
	done
	for c in $(ip netns exec "$ns" iptables -w -S | awk '$1 == "-N" && $2 ~ /^(cali-p[io]-|KUBE-NWPLCY-)/ && $2 != "KUBE-NWPLCY-DEFAULT" {print $2}'); do
		nf "$S" -F "$c"
	done
}

# policy-ipset-stale: in node S's ipset of a policy's peers, the member of
# one pod is deleted and one of a pod the selector does not pick is added
# (cnictl computes which: STALE_SET/DEL/ADD), as an agent that missed two
# pod updates leaves its sets.
fault_policy_ipset_stale() {
	need_policies policy-ipset-stale
	[ -n "${STALE_SET[$S]}" ] || die "break: node-$S's agent has no peer ipset to make stale"
	x ip netns exec "${NODE_NS[$S]}" ipset del "${STALE_SET[$S]}" "${STALE_DEL[$S]}"
	# shellcheck disable=SC2086 # the member may carry options (timeout 0)
	x ip netns exec "${NODE_NS[$S]}" ipset add "${STALE_SET[$S]}" ${STALE_ADD[$S]}
}

# ---------------------------------------------------------------- main

main() {
	local cmd=${1:-}
	[ $# -gt 0 ] && shift
	PREFIX=cnl PREFIX_SET=0 NODES=3 PODS=2 MODEL='' DIR='' CREATED='' FAULTS='' KUBE_PROXY=iptables POLICY_FILE= DUAL_ARG= UL_ARGS= RR_ARG=
	BIRD_REJECT='' PING_RETRY=1
	[[ " $* " == *" --prefix "* ]] && PREFIX_SET=1
	case $cmd in
	-h | --help | help) usage; return 0 ;;
	"") usage >&2; return 2 ;;
	esac
	[ "$(id -u)" = 0 ] || [ "$cmd" = faults ] || die "must run as root (network namespaces)"
	case $cmd in up | ping | break | bundle | status) use_cnictl ;; esac
	case $cmd in
	up) cmd_up "$@" ;;
	ping) parse_ping_args "$@"; load_state; cmd_ping ;;
	break) cmd_break "$@" ;;
	bundle) cmd_bundle "$@" ;;
	down) cmd_down "$@" ;;
	status) cmd_status "$@" ;;
	faults) cmd_faults "$@" ;;
	*) die "unknown command '$cmd' (see --help)" ;;
	esac
}

parse_ping_args() {
	while [ $# -gt 0 ]; do
		case $1 in
		--prefix) PREFIX=${2:-}; shift 2 ;;
		--no-retry) PING_RETRY=0; shift ;;
		*) die "unknown argument $1" ;;
		esac
	done
	check_prefix
}

main "$@"
