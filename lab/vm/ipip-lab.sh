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
#                   (--routing static: added as BIRD's Calico kernel filter
#                   programs them; --routing bird: by real BIRD 2 daemons,
#                   node-to-node iBGP mesh, sockets in $CNICTL_LAB_RUN/PFX/)
#   P-node-n-<pod>  pods web-n, api-n: 10.244.n.(1+p)/32, Calico veth
#                   cali<11 hex> (MAC ee:ee:ee:ee:ee:ee, proxy ARP), default
#                   via 169.254.1.1
#   IPVS (ipvs)     per node, as kube-proxy: kube-ipvs0 (dummy) holding the
#                   ClusterIPs; TCP 10.96.100.10:80 rr → web pods :8080,
#                   UDP 10.96.0.10:53 wrr → api pods :53 (weights 1, 2, …),
#                   TCP 10.96.200.20:8080 sh persistent 300 → api pods :8080,
#                   FWM 100 rr → web-1 :8080, all masquerading (-m)
#
# usage: ipip-lab.sh up [--nodes N] [--pods P] [--prefix PFX] [--routing static|bird]
#        ipip-lab.sh ipvs [--nodes N] [--pods P] [--prefix PFX]
#        ipip-lab.sh ping [--nodes N] [--pods P] [--prefix PFX]
#        ipip-lab.sh down [--prefix PFX]
#        ipip-lab.sh k8s DIR [--nodes N] [--pods P]   (Kubernetes objects as JSON)
# Exit: 0 ok, 1 ping failed, 2 usage error or failed command.
set -euo pipefail

PREFIX=cnlv NODES=2 PODS=2 ROUTING=static
RUN_DIR=${CNICTL_LAB_RUN:-/run/cnictl-lab}

die() {
	printf 'ipip-lab.sh: %s\n' "$*" >&2
	exit 2
}

node_ns() { printf '%s-node-%s' "$PREFIX" "$1"; }
node_ip() { printf '192.0.2.%s' "$((10 + $1))"; }
pod_app() { case $1 in 1) echo web ;; *) echo api ;; esac; }
pod_name() { printf '%s-%s' "$(pod_app "$2")" "$1"; }
pod_ns() { printf '%s-node-%s-%s' "$PREFIX" "$1" "$(pod_name "$1" "$2")"; }
pod_ip() { printf '10.244.%s.%s' "$1" "$((1 + $2))"; }
host_veth() { printf 'cali%s' "$(printf 'default.%s' "$(pod_name "$1" "$2")" | sha1sum | cut -c1-11)"; }

parse() {
	while [ $# -gt 0 ]; do
		case $1 in
		--prefix) PREFIX=${2:-}; shift 2 ;;
		--nodes) NODES=${2:-}; shift 2 ;;
		--pods) PODS=${2:-}; shift 2 ;;
		--routing) ROUTING=${2:-}; shift 2 ;;
		*) die "unknown argument $1" ;;
		esac
	done
	[[ $PREFIX =~ ^cnl[a-z0-9]{0,8}$ ]] || die "prefix must be 'cnl' + up to 8 of [a-z0-9]"
	[[ $NODES =~ ^[2-9]$ ]] || die "--nodes must be 2..9"
	[[ $PODS =~ ^[12]$ ]] || die "--pods must be 1 or 2"
	[[ $ROUTING =~ ^(static|bird)$ ]] || die "--routing must be static or bird"
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
	[ "$ROUTING" = bird ] && return 0
	ip -n "$ns" route add blackhole "10.244.$n.0/26" proto bird metric 32
	for ((m = 1; m <= NODES; m++)); do
		[ "$m" = "$n" ] && continue
		ip -n "$ns" route add "10.244.$m.0/26" via "$(node_ip "$m")" dev tunl0 onlink proto bird metric 32
	done
}

# ---------------------------------------------------------------- BIRD
# --routing bird: one BIRD 2 per node, peering iBGP in a full mesh as
# Calico's node-to-node mesh does; the kernel filter sends BGP-learned
# blocks through tunl0 onlink to the BGP next hop (Calico's IPIP mode).
# State (configs, sockets, pidfiles) lives in $RUN_DIR/$PREFIX.

bird_file() { printf '%s/%s/node-%s.%s' "$RUN_DIR" "$PREFIX" "$1" "$2"; }

write_bird_conf() {
	local n=$1 m
	printf 'router id %s;\n' "$(node_ip "$n")"
	cat <<'EOF2'
filter calico_export_to_bgp_peers { if ( net ~ 10.244.0.0/16 && source = RTS_STATIC ) then accept; reject; }
filter calico_kernel_programming {
  if ( net ~ 10.244.0.0/16 && source = RTS_BGP ) then { ifname = "tunl0"; onlink = true; gw = bgp_next_hop; accept; }
  if ( net ~ 10.244.0.0/16 && source = RTS_STATIC ) then accept;
  reject;
}
protocol kernel { learn; scan time 2; graceful restart; merge paths on;
  ipv4 { import all; export filter calico_kernel_programming; }; }
protocol device { scan time 2; }
protocol direct { ipv4; interface -"cali*", -"tunl0", -"kube-ipvs*", "*"; }
template bgp bgp_template { local as 64512;
  ipv4 { gateway recursive; import all; export filter calico_export_to_bgp_peers; };
  graceful restart; connect delay time 1; connect retry time 2; error wait time 2,10; }
EOF2
	printf 'protocol static { ipv4; route 10.244.%s.0/26 blackhole; }\n' "$n"
	for ((m = 1; m <= NODES; m++)); do
		[ "$m" = "$n" ] && continue
		printf 'protocol bgp Mesh_%s from bgp_template { neighbor %s as 64512; source address %s; }\n' \
			"$(node_ip "$m" | tr . _)" "$(node_ip "$m")" "$(node_ip "$n")"
	done
}

start_birds() {
	local n
	command -v bird >/dev/null || die "--routing bird needs BIRD 2 (Debian package bird2)"
	mkdir -p "$RUN_DIR/$PREFIX"
	for ((n = 1; n <= NODES; n++)); do
		write_bird_conf "$n" >"$(bird_file "$n" conf)"
		ip netns exec "$(node_ns "$n")" bird -c "$(bird_file "$n" conf)" \
			-s "$(bird_file "$n" ctl)" -P "$(bird_file "$n" pid)"
	done
	for ((n = 0; n < 150; n++)); do
		converged && return 0
		sleep 0.2
	done
	die "BIRD mesh did not converge in 30 s"
}

# converged: every node has its blackhole and one tunl0 route per peer
# block from BIRD in its kernel table.
converged() {
	local n want=$((NODES - 1))
	for ((n = 1; n <= NODES; n++)); do
		[ "$(ip -n "$(node_ns "$n")" route show proto bird | grep -c ' dev tunl0 .*onlink')" = "$want" ] || return 1
		ip -n "$(node_ns "$n")" route show proto bird | grep -q '^blackhole' || return 1
	done
}

# stop_birds: SIGTERM to the pids in this lab's pidfiles, only if they are
# bird processes running this lab's config.
stop_birds() {
	local f pid
	for f in "$RUN_DIR/$PREFIX"/node-*.pid; do
		[ -f "$f" ] || continue
		pid=$(tr -dc '0-9' <"$f")
		[ -n "$pid" ] || continue
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "^bird -c $RUN_DIR/$PREFIX/" || continue
		kill -TERM "$pid"
	done
	rm -rf "${RUN_DIR:?}/${PREFIX:?}"
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
	[ "$ROUTING" = static ] || start_birds
	trap - EXIT
	printf 'lab %s: calico-ipip, %s nodes x %s pods, routes by %s\n' "$PREFIX" "$NODES" "$PODS" "$ROUTING"
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

# ---------------------------------------------------------------- k8s objects
# Minimal kubectl-shaped JSON for the lab, so a bundle recorded from it
# reads as a calico-ipip cluster: nodes with Calico's address and IPIP
# tunnel annotations (no podCIDR: Calico IPAM), Running pods, and the
# Services + EndpointSlices that kube-proxy's IPVS tables above implement
# (web TCP 80 rr, api TCP 8080 with ClientIP affinity = sh persistent,
# kube-dns UDP 53 → the api pods' :53). The FWM service has no Service.

k8s_list() {
	local IFS=,
	printf '{"apiVersion":"v1","kind":"List","items":[%s]}\n' "$*"
}

k8s_node() {
	printf '{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-%s","annotations":{"projectcalico.org/IPv4Address":"%s/24","projectcalico.org/IPv4IPIPTunnelAddr":"10.244.%s.0"}},"spec":{},"status":{"addresses":[{"type":"InternalIP","address":"%s"},{"type":"Hostname","address":"node-%s"}],"conditions":[{"type":"Ready","status":"True"}]}}' \
		"$1" "$(node_ip "$1")" "$1" "$(node_ip "$1")" "$1"
}

k8s_pod() {
	local n=$1 p=$2 app
	app=$(pod_app "$p")
	printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"%s","namespace":"default","labels":{"app":"%s"}},"spec":{"nodeName":"node-%s","containers":[{"name":"%s","image":"registry.k8s.io/e2e-test-images/agnhost:2.47"}]},"status":{"phase":"Running","hostIP":"%s","podIP":"%s","podIPs":[{"ip":"%s"}],"conditions":[{"type":"Ready","status":"True"}]}}' \
		"$(pod_name "$n" "$p")" "$app" "$n" "$app" "$(node_ip "$n")" "$(pod_ip "$n" "$p")" "$(pod_ip "$n" "$p")"
}

# k8s_service NAME IP PORT PROTO TARGET APP AFFINITY
k8s_service() {
	printf '{"apiVersion":"v1","kind":"Service","metadata":{"name":"%s","namespace":"default"},"spec":{"type":"ClusterIP","clusterIP":"%s","clusterIPs":["%s"],"selector":{"app":"%s"},"sessionAffinity":"%s","ports":[{"name":"p","port":%s,"protocol":"%s","targetPort":%s}]}}' \
		"$1" "$2" "$2" "$6" "$7" "$3" "$4" "$5"
}

# k8s_slice SERVICE PORT PROTO POD_INDEX: every node's pod POD_INDEX, ready.
k8s_slice() {
	local eps=() n name IFS=,
	for ((n = 1; n <= NODES; n++)); do
		name=$(pod_name "$n" "$4")
		eps+=("$(printf '{"addresses":["%s"],"conditions":{"ready":true,"serving":true,"terminating":false},"nodeName":"node-%s","targetRef":{"kind":"Pod","namespace":"default","name":"%s"}}' "$(pod_ip "$n" "$4")" "$n" "$name")")
	done
	printf '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"%s-1","namespace":"default","labels":{"kubernetes.io/service-name":"%s"}},"addressType":"IPv4","endpoints":[%s],"ports":[{"name":"p","port":%s,"protocol":"%s"}]}' \
		"$1" "$1" "${eps[*]}" "$2" "$3"
}

# cmd_k8s DIR: nodes.json, pods.json, services.json, endpointslices.json.
cmd_k8s() {
	local dir=$1 n p items=()
	mkdir -p "$dir"
	for ((n = 1; n <= NODES; n++)); do items+=("$(k8s_node "$n")"); done
	k8s_list "${items[@]}" >"$dir/nodes.json"
	items=()
	for ((n = 1; n <= NODES; n++)); do
		for ((p = 1; p <= PODS; p++)); do items+=("$(k8s_pod "$n" "$p")"); done
	done
	k8s_list "${items[@]}" >"$dir/pods.json"
	local api
	api=$(pod_app "$PODS")
	k8s_list "$(k8s_service web 10.96.100.10 80 TCP 8080 web None)" \
		"$(k8s_service "$api" 10.96.200.20 8080 TCP 8080 "$api" ClientIP)" \
		"$(k8s_service kube-dns 10.96.0.10 53 UDP 53 "$api" None)" >"$dir/services.json"
	k8s_list "$(k8s_slice web 8080 TCP 1)" "$(k8s_slice "$api" 8080 TCP "$PODS")" \
		"$(k8s_slice kube-dns 53 UDP "$PODS")" >"$dir/endpointslices.json"
	printf 'lab %s: k8s objects in %s\n' "$PREFIX" "$dir"
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
	stop_birds
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
	k8s) K8S_DIR=${1:-}; [ -n "$K8S_DIR" ] || die "k8s: DIR missing"; shift ;;
	*) die "usage: ipip-lab.sh up|ipvs|ping|down|k8s DIR [--prefix PFX] [--nodes N] [--pods P]" ;;
	esac
	parse "$@"
	if [ "$cmd" = k8s ]; then
		cmd_k8s "$K8S_DIR"
		return 0
	fi
	[ "$(id -u)" = 0 ] || die "must run as root"
	"cmd_$cmd"
}

main "$@"
