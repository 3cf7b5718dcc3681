#!/bin/bash
# ipip-lab.sh — a Calico IPIP + kube-proxy IPVS namespace lab, for kernels
# that have IPIP and IPVS (the test VM: see run.sh). lab.sh has no
# calico-ipip model because the development kernel lacks both; this is its
# small stand-in, with the same naming and addressing as lab.sh's calico-bgp
# (fixtures/README.md), so recordings line up with the fixtures.
#
# Everything lives in namespaces named "<prefix>-…" (prefix "cnl" + up to 8
# of [a-z0-9]); nothing is created in the calling namespace.
#
#   P-ul            underlay: bridge br0 192.0.2.1/24
#   P-node-n        node-n, eth0 192.0.2.(10+n)/24, tunl0 10.244.n.0/32 MTU
#                   1440, IPAM block 10.244.n.0/26 (blackhole proto bird),
#                   peers' blocks "via <node-ip> dev tunl0 onlink proto bird"
#                   (static, as BIRD's Calico kernel filter programs them)
#   P-node-n-<pod>  pods web-n, api-n: 10.244.n.(1+p)/32, Calico veth
#                   cali<11 hex> (MAC ee:ee:ee:ee:ee:ee, proxy ARP), default
#                   via 169.254.1.1
#   IPVS (ipvs)     per node, as kube-proxy: kube-ipvs0 (dummy) holding the
#                   ClusterIPs; TCP 10.96.100.10:80 rr → web pods :8080,
#                   UDP 10.96.0.10:53 wrr → api pods :53 (weights 1, 2, …),
#                   TCP 10.96.200.20:8080 sh persistent 300 → api pods :8080,
#                   FWM 100 rr → web-1 :8080, all masquerading (-m)
#
# usage: ipip-lab.sh up [--nodes N] [--pods P] [--prefix PFX]
#        ipip-lab.sh ipvs [--nodes N] [--pods P] [--prefix PFX]
#        ipip-lab.sh ping [--nodes N] [--pods P] [--prefix PFX]
#        ipip-lab.sh down [--prefix PFX]
# Exit: 0 ok, 1 ping failed, 2 usage error or failed command.
set -euo pipefail

PREFIX=cnlv NODES=2 PODS=2

die() {
	printf 'ipip-lab.sh: %s\n' "$*" >&2
	exit 2
}

node_ns() { printf '%s-node-%s' "$PREFIX" "$1"; }
node_ip() { printf '192.0.2.%s' "$((10 + $1))"; }
pod_name() { case $2 in 1) printf 'web-%s' "$1" ;; *) printf 'api-%s' "$1" ;; esac; }
pod_ns() { printf '%s-node-%s-%s' "$PREFIX" "$1" "$(pod_name "$1" "$2")"; }
pod_ip() { printf '10.244.%s.%s' "$1" "$((1 + $2))"; }
host_veth() { printf 'cali%s' "$(printf 'default.%s' "$(pod_name "$1" "$2")" | sha1sum | cut -c1-11)"; }

parse() {
	while [ $# -gt 0 ]; do
		case $1 in
		--prefix) PREFIX=${2:-}; shift 2 ;;
		--nodes) NODES=${2:-}; shift 2 ;;
		--pods) PODS=${2:-}; shift 2 ;;
		*) die "unknown argument $1" ;;
		esac
	done
	[[ $PREFIX =~ ^cnl[a-z0-9]{0,8}$ ]] || die "prefix must be 'cnl' + up to 8 of [a-z0-9]"
	[[ $NODES =~ ^[2-9]$ ]] || die "--nodes must be 2..9"
	[[ $PODS =~ ^[12]$ ]] || die "--pods must be 1 or 2"
}

lab_netns() {
	ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${PREFIX}-" || true
}

build_underlay() {
	local ul=$PREFIX-ul
	ip netns add "$ul"
	ip -n "$ul" link set lo up
	ip -n "$ul" link add br0 type bridge
	ip -n "$ul" addr add 192.0.2.1/24 dev br0
	ip -n "$ul" link set br0 up
}

# build_node N: eth0 on the underlay, forwarding on, rp_filter off (IPIP
# decapsulated packets arrive on tunl0, which has no route back), tunl0 up
# with the node's tunnel address, the block's blackhole and the peers'
# blocks via tunl0 onlink.
build_node() {
	local n=$1 ns m
	ns=$(node_ns "$n")
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip link add "ul$n" netns "$PREFIX-ul" type veth peer name eth0 netns "$ns"
	ip -n "$PREFIX-ul" link set "ul$n" master br0 up
	ip -n "$ns" addr add "$(node_ip "$n")/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add default via 192.0.2.1 dev eth0
	ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	ip -n "$ns" link show tunl0 >/dev/null 2>&1 || die "no tunl0 in $ns (is the ipip module loaded?)"
	ip netns exec "$ns" sysctl -qw net.ipv4.conf.tunl0.rp_filter=0
	ip -n "$ns" link set tunl0 mtu 1440 up
	ip -n "$ns" addr add "10.244.$n.0/32" dev tunl0
	ip -n "$ns" route add blackhole "10.244.$n.0/26" proto bird metric 32
	for ((m = 1; m <= NODES; m++)); do
		[ "$m" = "$n" ] && continue
		ip -n "$ns" route add "10.244.$m.0/26" via "$(node_ip "$m")" dev tunl0 onlink proto bird metric 32
	done
}

build_pod() {
	local n=$1 p=$2 ns pns hv ip
	ns=$(node_ns "$n")
	pns=$(pod_ns "$n" "$p")
	hv=$(host_veth "$n" "$p")
	ip=$(pod_ip "$n" "$p")
	ip netns add "$pns"
	ip -n "$pns" link set lo up
	ip link add "$hv" netns "$ns" mtu 1440 address ee:ee:ee:ee:ee:ee type veth peer name eth0 netns "$pns" mtu 1440
	ip netns exec "$ns" sysctl -qw "net.ipv4.conf.$hv.proxy_arp=1" \
		"net.ipv4.neigh.$hv.proxy_delay=0" "net.ipv4.conf.$hv.forwarding=1"
	ip -n "$ns" link set "$hv" up
	ip -n "$ns" route add "$ip" dev "$hv" scope link
	ip -n "$pns" addr add "$ip/32" dev eth0
	ip -n "$pns" link set eth0 up
	ip -n "$pns" route add 169.254.1.1 dev eth0 scope link
	ip -n "$pns" route add default via 169.254.1.1 dev eth0
}

cmd_up() {
	local n p
	[ -z "$(lab_netns)" ] || die "namespaces with prefix $PREFIX- exist (run: ipip-lab.sh down --prefix $PREFIX)"
	trap 'echo "ipip-lab.sh: up failed, tearing down" >&2; cmd_down >/dev/null 2>&1 || true' EXIT
	build_underlay
	for ((n = 1; n <= NODES; n++)); do
		build_node "$n"
		for ((p = 1; p <= PODS; p++)); do build_pod "$n" "$p"; done
	done
	trap - EXIT
	printf 'lab %s: calico-ipip, %s nodes x %s pods\n' "$PREFIX" "$NODES" "$PODS"
}

# add_reals NS PROTO_FLAG VIP:PORT PORT POD_INDEX WEIGHTED: one real server per
# node for pod index POD_INDEX, masqueraded.
add_reals() {
	local ns=$1 flag=$2 vs=$3 port=$4 p=$5 weighted=$6 m w=1
	for ((m = 1; m <= NODES; m++)); do
		[ "$weighted" = 1 ] && w=$m
		ip netns exec "$ns" ipvsadm -a "$flag" "$vs" -r "$(pod_ip "$m" "$p"):$port" -m -w "$w"
	done
}

# cmd_ipvs: kube-proxy's IPVS programming on every node.
cmd_ipvs() {
	local n ns api=$PODS
	for ((n = 1; n <= NODES; n++)); do
		ns=$(node_ns "$n")
		ip -n "$ns" link add kube-ipvs0 type dummy
		for vip in 10.96.100.10 10.96.0.10 10.96.200.20; do
			ip -n "$ns" addr add "$vip/32" dev kube-ipvs0
		done
		ip netns exec "$ns" sysctl -qw net.ipv4.vs.conntrack=1
		ip netns exec "$ns" ipvsadm -A -t 10.96.100.10:80 -s rr
		add_reals "$ns" -t 10.96.100.10:80 8080 1 0
		ip netns exec "$ns" ipvsadm -A -u 10.96.0.10:53 -s wrr
		add_reals "$ns" -u 10.96.0.10:53 53 "$api" 1
		ip netns exec "$ns" ipvsadm -A -t 10.96.200.20:8080 -s sh -p 300
		add_reals "$ns" -t 10.96.200.20:8080 8080 "$api" 0
		ip netns exec "$ns" ipvsadm -A -f 100 -s rr
		ip netns exec "$ns" ipvsadm -a -f 100 -r "$(pod_ip 1 1):8080" -m
	done
	printf 'lab %s: IPVS services on %s nodes\n' "$PREFIX" "$NODES"
}

# cmd_ping: every pod pings every pod on the other nodes (through tunl0).
cmd_ping() {
	local n m p q bad=0 total=0
	for ((n = 1; n <= NODES; n++)); do
		for ((m = 1; m <= NODES; m++)); do
			[ "$m" = "$n" ] && continue
			for ((p = 1; p <= PODS; p++)); do
				for ((q = 1; q <= PODS; q++)); do
					total=$((total + 1))
					if ! ip netns exec "$(pod_ns "$n" "$p")" ping -n -q -c 1 -W 2 "$(pod_ip "$m" "$q")" >/dev/null 2>&1; then
						echo "FAIL $(pod_name "$n" "$p") -> $(pod_name "$m" "$q") $(pod_ip "$m" "$q")"
						bad=$((bad + 1))
					fi
				done
			done
		done
	done
	printf 'ping across nodes: %s/%s reachable\n' "$((total - bad))" "$total"
	[ "$bad" = 0 ]
}

cmd_down() {
	local ns count=0
	for ns in $(lab_netns); do
		ip netns del "$ns" && count=$((count + 1))
	done
	printf 'lab %s down (%s namespaces removed)\n' "$PREFIX" "$count"
	[ -z "$(lab_netns)" ]
}

main() {
	local cmd=${1:-}
	[ $# -gt 0 ] && shift
	case $cmd in
	-h | --help) sed -n '2,/^set -e/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; return 0 ;;
	up | ipvs | ping | down) ;;
	*) die "usage: ipip-lab.sh up|ipvs|ping|down [--prefix PFX] [--nodes N] [--pods P]" ;;
	esac
	parse "$@"
	[ "$(id -u)" = 0 ] || die "must run as root"
	"cmd_$cmd"
}

main "$@"
