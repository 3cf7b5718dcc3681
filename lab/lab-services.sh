# lab-services.sh — sourced by lab.sh: the parts of a lab that Services
# and traffic leaving the cluster need. The outside namespace, loading each
# node's netfilter rules in either kube-proxy mode, and the Service faults.
# Same rules as lab.sh: everything lives in the lab's own namespaces, every
# command a fault runs is printed.
#
# Outside namespace ($OUT_NS = <prefix>-out, $OUT_IP = 203.0.113.10/24): a
# veth "out0" in the underlay netns (203.0.113.1, $OUT_GW) to its eth0,
# default route via the underlay. The underlay routes between it and the
# nodes (forwarding on); it has no route to the pod range, like a real
# upstream router, so a pod's packet only comes back from the outside when
# its node masqueraded it. The outside namespace plays the client of
# NodePorts (node-n:30080) and the server that pods reach when they egress.

# build_outside: the outside namespace, joined to the underlay by a veth.
build_outside() {
	local ul=$UL_NS out=$OUT_NS
	ip netns add "$out"
	ip -n "$out" link set lo up
	ip link add out0 netns "$ul" type veth peer name eth0 netns "$out"
	ip -n "$ul" addr add "$OUT_GW/24" dev out0
	ip -n "$ul" link set out0 up
	ip -n "$out" addr add "$OUT_IP/24" dev eth0
	ip -n "$out" link set eth0 up
	ip -n "$out" route add default via "$OUT_GW" dev eth0
	ip netns exec "$ul" sysctl -qw net.ipv4.ip_forward=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
}

# need_rule_tools: the tools load_rules needs beyond iptables.
need_rule_tools() {
	[ "$KUBE_PROXY" != nftables ] || command -v nft >/dev/null || die "--kube-proxy nftables needs nft (Debian package nftables)"
	[[ $MODEL != calico-* ]] || command -v ipset >/dev/null || die "$MODEL needs ipset (Debian package ipset)"
	[ -z "$POLICY_FILE" ] || command -v ipset >/dev/null || die "--policies needs ipset (Debian package ipset)"
}

# rules FORMAT N: node N's rules from cnictl (iptables | nft | ipset).
rules() {
	"$CNICTL" lab rules --format "$1" --node "$2" --state "$(state_file)"
}

# load_rules N: the netfilter rules node N's components install, each with
# the node's own tools in its netns: Felix's ipsets (ipset restore, before
# the rules that match them), the iptables rules (kube-proxy's in iptables
# mode, then Flannel's FLANNEL-FWD / FLANNEL-POSTRTG or Felix's chains;
# modelled on those projects' sources, see gen/src/lab_netfilter.rs and
# lab_felix.rs) with iptables-restore, and in nftables mode kube-proxy's
# own table with `nft -j -f`.
load_rules() {
	local n=$1 ns=${NODE_NS[$1]}
	local sets
	sets=$(rules ipset "$n")
	if [ -n "$sets" ]; then
		printf '%s\n' "$sets" | ip netns exec "$ns" ipset restore -exist
	fi
	rules iptables "$n" | ip netns exec "$ns" iptables-restore --noflush
	if [ "$KUBE_PROXY" = nftables ]; then
		rules nft "$n" | ip netns exec "$ns" nft -j -f /dev/stdin
	fi
}

# shown TEXT: print a pipeline the way x prints a command.
shown() {
	[ "$TRACE" != 1 ] || printf '  + %s\n' "$*" >&3
}

# resync_kube_proxy N: node N's kube-proxy writes its rules again from the
# objects it has seen (what a sync does). nftables mode: its table is
# replaced. iptables mode: kube-proxy's chains share the filter and nat
# tables with the CNI's, so both tables are flushed and the node's whole
# ruleset restored (the CNI's rules come back unchanged).
resync_kube_proxy() {
	local n=$1 ns=${NODE_NS[$1]} t
	if [ "$KUBE_PROXY" = nftables ]; then
		x ip netns exec "$ns" nft delete table ip kube-proxy
		shown "cnictl lab rules --format nft --node $n | ip netns exec $ns nft -j -f /dev/stdin"
		rules nft "$n" | ip netns exec "$ns" nft -j -f /dev/stdin || die "node-$n: loading kube-proxy's table failed"
		return 0
	fi
	for t in nat filter; do
		x ip netns exec "$ns" iptables -w -t "$t" -F
		x ip netns exec "$ns" iptables -w -t "$t" -X
	done
	shown "cnictl lab rules --node $n | ip netns exec $ns iptables-restore --noflush"
	rules iptables "$n" | ip netns exec "$ns" iptables-restore --noflush || die "node-$n: iptables-restore failed"
}

# record_now FAULT: the state learns FAULT before the rules are resynced
# from it (cmd_break then does not record it again).
record_now() {
	"$CNICTL" lab fault "$1" --node "$S" --state "$(state_file)" || die "recording $1 failed"
	RECORDED=1
	load_state
}

# resync_all [EXCEPT]: every node's kube-proxy resyncs, but node EXCEPT.
resync_all() {
	local n
	for ((n = 1; n <= NODES; n++)); do
		[ "$n" = "${1:-0}" ] || resync_kube_proxy "$n"
	done
}

SERVICE_FAULTS="service-stale-backend service-no-backends service-rules-missing masquerade-missing nodeport-local"

# service-stale-backend: pod web on node T is deleted (its veth, then its
# netns) and its endpoint leaves web's EndpointSlice; every kube-proxy but
# node S's resyncs, so node S still sends a share of web's new connections
# to an address nothing answers.
fault_service_stale_backend() {
	x ip -n "${NODE_NS[$T]}" link del "${HOST_VETH[$T.1]}"
	x ip netns del "${POD_NS[$T.1]}"
	printf '  + k8s: pod default/%s deleted, its endpoint removed from web'"'"'s EndpointSlice\n' "${POD_NAME[$T.1]}"
	record_now service-stale-backend
	resync_all "$S"
}

# service-no-backends: every default/api pod fails its readiness probe; each
# node's kube-proxy writes the "has no endpoints" REJECT for api.
fault_service_no_backends() {
	printf '  + k8s/endpointslices.json: every endpoint of default/api ready=false\n'
	record_now service-no-backends
	resync_all
}

# service-rules-missing: node S's kube-proxy lost default/web (a sync that
# never happened): its pods and its NodePort reach web no more.
fault_service_rules_missing() {
	printf '  + node-%s'"'"'s kube-proxy: no rules for default/web\n' "$S"
	record_now service-rules-missing
	resync_kube_proxy "$S"
}

# masquerade-missing: the CNI's rule that SNATs pod traffic leaving the
# cluster is deleted on node S (Flannel: FLANNEL-POSTRTG's MASQUERADE for
# pod sources; Calico: cali-nat-outgoing flushed). Replies from the outside
# go to a pod address the underlay cannot route.
fault_masquerade_missing() {
	case $MODEL in
	calico-*) nf "$S" -t nat -F cali-nat-outgoing ;;
	*) nf "$S" -t nat -D FLANNEL-POSTRTG -s "$POD_RANGE" ! -d 224.0.0.0/4 \
		-m comment --comment "flanneld masq" -j MASQUERADE --random-fully ;;
	esac
}

# nodeport-local: default/web's externalTrafficPolicy becomes Local and node
# S's web pod fails its readiness probe; every kube-proxy resyncs: a NodePort
# only reaches the node's own web pod, and node S, which has none, drops it.
fault_nodeport_local() {
	printf '  + k8s/services.json: default/web externalTrafficPolicy Cluster -> Local\n'
	printf '  + k8s/endpointslices.json: web'"'"'s endpoint on node-%s ready=false\n' "$S"
	record_now nodeport-local
	resync_all
}
