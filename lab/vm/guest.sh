#!/bin/bash
# guest.sh — what the test VM runs (from init.sh, chrooted into the host's
# root under a tmpfs overlay): load IPIP and IPVS, build the calico-ipip +
# IPVS lab (ipip-lab.sh), ping across tunl0, then for every node record
#   node-N/collect.json      cnictl collect --netns … --pods (netlink + genetlink IPVS)
#   node-N/ip-link.json      ip -d -j link show
#   node-N/ip-addr.json      ip -j addr show
#   node-N/ip-route.json     ip -d -j route show table all
#   node-N/ipvsadm.txt       ipvsadm -Ln
#   node-N/proc-ip_vs.txt    /proc/net/ip_vs
#   bundle/nodes/node-N/     lab/collect-node.sh (the bundle the tests import)
#   bundle/k8s/              the lab's Kubernetes objects (ipip-lab.sh k8s)
# into the results share (/cnlvm-results), plus timings.txt, ping.txt,
# routing.txt (bird or static) and ipvs-traffic.txt (replies through the
# web ClusterIP). Settings come
# from /cnlvm-results/guest.env, written by run.sh (REPO, CNICTL, NODES, PODS).
set -euo pipefail

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
R=/cnlvm-results
# shellcheck disable=SC1091
. "$R/guest.env"
P=cnlv
LAB="$REPO/lab/vm/ipip-lab.sh"

uptime_s() { cut -d' ' -f1 /proc/uptime; }
mark() { printf '%s %s\n' "$1" "$(uptime_s)" >>"$R/timings.txt"; }

mark started
# crc32c must be there before libcrc32c (nf_conntrack's dependency) asks
# for it: the kernel's own modprobe helper cannot see this chroot.
for m in crc32c_generic ipip ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh veth bridge dummy; do
	busybox modprobe "$m"
done
mark modules-loaded

# Real BIRD (Calico's node-to-node mesh) when the host has it, else the
# same routes added statically.
ROUTING=static
command -v bird >/dev/null && ROUTING=bird
echo "$ROUTING" >"$R/routing.txt"
export CNICTL_LAB_RUN=/run/cnictl-lab
bash "$LAB" up --prefix "$P" --nodes "$NODES" --pods "$PODS" --routing "$ROUTING"
bash "$LAB" ipvs --prefix "$P" --nodes "$NODES" --pods "$PODS"
mark lab-up
bash "$LAB" ping --prefix "$P" --nodes "$NODES" --pods "$PODS" | tee "$R/ping.txt"
mark pinged

# Service traffic through IPVS: a one-line TCP server in each web pod, and
# a client in api-1 connecting to the web ClusterIP once per web pod (rr
# alternates real servers). Done before recording, so the connection
# counters are non-zero; the connections are closed (InActConn) by then.
servers=()
for ((n = 1; n <= NODES; n++)); do
	ip netns exec "$P-node-$n-web-$n" busybox nc -ll -p 8080 -e echo "hello from web-$n" &
	servers+=("$!")
done
sleep 0.5
for ((n = 1; n <= NODES; n++)); do
	ip netns exec "$P-node-1-api-1" timeout 5 busybox nc -w 3 10.96.100.10 80 </dev/null ||
		echo "connection $n to 10.96.100.10:80 failed"
done | sort | tee "$R/ipvs-traffic.txt"
kill "${servers[@]}"
wait "${servers[@]}" 2>/dev/null || true
mark ipvs-traffic

# Until IPv6 duplicate address detection ends, link-local addresses are
# tentative and their local routes missing: the dumps below would each
# catch a different moment.
for ((i = 0; i < 100; i++)); do
	busy=0
	for ns in $(ip netns list | awk '{print $1}' | grep "^$P-"); do
		[ -z "$(ip -n "$ns" -6 addr show tentative)" ] || busy=1
	done
	[ "$busy" = 0 ] && break
	sleep 0.1
done
mark settled

bash "$LAB" k8s "$R/bundle/k8s" --prefix "$P" --nodes "$NODES" --pods "$PODS"
for ((n = 1; n <= NODES; n++)); do
	ns=$P-node-$n
	out=$R/node-$n
	mkdir -p "$out"
	bird=()
	sock=$CNICTL_LAB_RUN/$P/node-$n.ctl
	[ "$ROUTING" = bird ] && bird=(--bird-socket "$sock")
	"$CNICTL" collect --netns "$ns" --pods --pods-prefix "$ns-" --node-name "node-$n" "${bird[@]}" -o "$out/collect.json"
	mark "node-$n-cnictl-collect"
	ip -n "$ns" -d -j link show >"$out/ip-link.json"
	ip -n "$ns" -j addr show >"$out/ip-addr.json"
	ip -n "$ns" -d -j route show table all >"$out/ip-route.json"
	ip netns exec "$ns" ipvsadm -Ln >"$out/ipvsadm.txt"
	ip netns exec "$ns" cat /proc/net/ip_vs >"$out/proc-ip_vs.txt"
	mark "node-$n-tools"
	if [ "$ROUTING" = bird ]; then
		BIRD_SOCKET=$sock ip netns exec "$ns" sh "$REPO/lab/collect-node.sh" --pods-prefix "$ns-" "$R/bundle/nodes/node-$n"
	else
		ip netns exec "$ns" sh "$REPO/lab/collect-node.sh" --pods-prefix "$ns-" --no-bird "$R/bundle/nodes/node-$n"
	fi
	mark "node-$n-collect-node.sh"
done
mark collected

bash "$LAB" down --prefix "$P"
mark finished
