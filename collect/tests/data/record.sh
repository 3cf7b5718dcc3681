#!/bin/bash
# Records the real iproute2 / BIRD outputs in this directory from throwaway
# network namespaces (prefix cnlh1-). Run as root from this directory:
#   bash record.sh
# Everything lives inside namespaces this script creates; it tears them down
# on exit and kills only the bird daemons it started (by pidfile).
set -euo pipefail
P=cnlh1
A=$P-a; B=$P-b; POD=$P-pod
OUT=$(pwd)
RUN=$(mktemp -d)
cleanup() {
  for f in "$RUN"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  sleep 0.3
  for n in $A $B $POD; do ip netns del $n 2>/dev/null || true; done
  rm -rf "$RUN"
}
trap cleanup EXIT
for n in $A $B $POD; do ip netns add $n; done
a() { ip netns exec $A "$@"; }
b() { ip netns exec $B "$@"; }
a ip link set lo up; b ip link set lo up; ip netns exec $POD ip link set lo up
# underlay: eth0 in both namespaces, created directly there
ip link add eth0 netns $A type veth peer name eth0 netns $B
a ip addr add 192.0.2.11/24 dev eth0; a ip addr add 2001:db8::11/64 dev eth0 nodad
b ip addr add 192.0.2.12/24 dev eth0; b ip addr add 2001:db8::12/64 dev eth0 nodad
a ip link set eth0 up; b ip link set eth0 up
a sysctl -qw net.ipv4.ip_forward=1
# bridge + pod veth
a ip link add cni0 type bridge; a ip addr add 10.244.1.1/24 dev cni0; a ip link set cni0 up
ip link add veth1a2b3c netns $A type veth peer name eth0 netns $POD
a ip link set veth1a2b3c master cni0 up
ip netns exec $POD ip addr add 10.244.1.5/24 dev eth0
ip netns exec $POD ip link set eth0 up
ip netns exec $POD ip route add default via 10.244.1.1 dev eth0
# calico-style veth with a /32 route
ip link add cali0123456789a netns $A address ee:ee:ee:ee:ee:ee type veth peer name eth1 netns $POD
a ip link set cali0123456789a up; ip netns exec $POD ip link set eth1 up
a ip route add 10.244.1.9 dev cali0123456789a scope link
# flannel-style vxlan, learning-off, FDB-driven
a ip link add flannel.1 address 0e:01:0a:0b:0c:0d type vxlan id 1 local 192.0.2.11 dev eth0 dstport 8472 nolearning
a ip link set flannel.1 mtu 1450 up; a ip addr add 10.244.1.0/32 dev flannel.1
a ip neigh replace 10.244.2.0 lladdr 0e:02:0a:0b:0c:0d dev flannel.1 nud permanent
a bridge fdb append 0e:02:0a:0b:0c:0d dev flannel.1 dst 192.0.2.12 self permanent
a bridge fdb append 00:00:00:00:00:00 dev flannel.1 dst 192.0.2.13 self permanent
a ip route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink
# a learning vxlan with a fixed remote and IANA port
a ip link add vxlan100 type vxlan id 100 remote 192.0.2.12 dstport 4789 dev eth0
a ip link set vxlan100 up
a bridge fdb add 02:00:00:00:01:00 dev vxlan100 dst 192.0.2.14 vni 200 port 4790 self permanent
# routes of every type
a ip route add default via 192.0.2.1 dev eth0 onlink
a ip route add blackhole 10.250.0.0/16
a ip route add unreachable 10.251.0.0/16
a ip route add prohibit 10.252.0.0/16
a ip route add throw 10.253.0.0/16 table 100
a ip route add 10.9.0.0/16 via 192.0.2.12 table 1000
a ip route add local 10.254.0.1 dev eth0 table 1000
a ip route add 10.8.0.0/16 nexthop via 192.0.2.12 weight 2 nexthop via 192.0.2.13 weight 1
a ip route add 10.7.0.0/16 via 192.0.2.12 proto 80 metric 50
a ip route add 10.244.3.0/26 via 192.0.2.12 proto bird
a ip route add blackhole 10.244.1.0/26 proto bird
a ip route add 10.6.0.0/16 dev eth0 src 192.0.2.11 proto static
a ip -6 route add 2001:db8:1::/64 via 2001:db8::12
a ip -6 route add default via 2001:db8::1 dev eth0 metric 1024
a ip -6 route add blackhole 2001:db8:dead::/48
a ip -6 route add 2001:db8:2::/64 nexthop via 2001:db8::12 weight 3 nexthop via 2001:db8::13 weight 1
# policy rules
a ip rule add from 10.244.0.0/16 lookup 100 pref 100
a ip rule add to 10.9.0.0/16 lookup 1000 pref 110
a ip rule add fwmark 0x4000/0xff00 lookup 100 pref 120
a ip rule add iif eth0 goto 32766 pref 130
a ip rule add from 10.66.0.0/16 blackhole pref 140
a ip rule add not from 10.67.0.0/16 lookup 100 pref 150
a ip rule add from 10.67.0.0/16 to 10.68.0.0/16 unreachable pref 155
a ip rule add to 10.69.0.0/16 prohibit pref 160
a ip rule add lookup main suppress_prefixlength 0 pref 170
a ip rule add oif eth0 lookup 200 pref 180
a ip rule add from 10.70.0.1 fwmark 0x10 lookup 1000 pref 190
a ip rule add pref 200 nop
a ip -6 rule add from 2001:db8:1::/64 lookup 100 pref 100
# neighbours: reachable (ping), permanent, stale, noarp, proxy, failed
# no ping here: a UDP datagram makes the kernel resolve the neighbour
poke() { python3 -c 'import socket,sys; f=socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET; socket.socket(f,socket.SOCK_DGRAM).sendto(b"x",(sys.argv[1],9))' "$1" || true; }
a bash -c "$(declare -f poke); poke 192.0.2.12; poke 2001:db8::12"
ip netns exec $POD bash -c "$(declare -f poke); poke 10.244.1.1"
sleep 0.5
a ip neigh add 192.0.2.99 lladdr 2:0:0:0:0:99 dev eth0 nud stale
a ip neigh add 192.0.2.98 lladdr 02:00:00:00:00:98 dev eth0 nud noarp
a ip neigh add proxy 10.244.1.77 dev eth0
a bash -c "$(declare -f poke); poke 192.0.2.200"
# BIRD: A peers with B (up) and with 192.0.2.13 (down: nobody there)
cat > "$RUN/a.conf" <<BIRD
router id 192.0.2.11;
filter calico_export_to_bgp_peers { if ( net ~ 10.244.0.0/16 && source = RTS_STATIC ) then accept; reject; }
filter calico_kernel_programming { if ( net ~ 10.244.0.0/16 && (source = RTS_BGP || source = RTS_STATIC) ) then accept; reject; }
protocol kernel { learn; scan time 2; graceful restart; merge paths on;
  ipv4 { import all; export filter calico_kernel_programming; }; }
protocol device { scan time 2; }
protocol direct { ipv4; interface -"cali*", -"tunl0", -"kube-ipvs*", "*"; }
protocol static { ipv4; route 10.244.1.64/26 blackhole; }
template bgp bgp_template { local as 64512;
  ipv4 { gateway recursive; import all; export filter calico_export_to_bgp_peers; };
  graceful restart; connect delay time 1; connect retry time 2; error wait time 2,10; }
protocol bgp Mesh_192_0_2_12 from bgp_template { neighbor 192.0.2.12 as 64512; source address 192.0.2.11; }
protocol bgp Mesh_192_0_2_13 from bgp_template { neighbor 192.0.2.13 as 64512; source address 192.0.2.11; }
BIRD
sed -e 's/192.0.2.11;$/192.0.2.12;/; s/^router id 192.0.2.11/router id 192.0.2.12/; s/10.244.1.64/10.244.2.64/' \
    -e '/Mesh_192_0_2_1[23]/d' "$RUN/a.conf" > "$RUN/b.conf"
echo 'protocol bgp Mesh_192_0_2_11 from bgp_template { neighbor 192.0.2.11 as 64512; source address 192.0.2.12; }' >> "$RUN/b.conf"
a bird -c "$RUN/a.conf" -s "$RUN/a.ctl" -P "$RUN/a.pid"
b bird -c "$RUN/b.conf" -s "$RUN/b.ctl" -P "$RUN/b.pid"
for i in $(seq 1 30); do
  birdc -s "$RUN/a.ctl" show protocols | grep -q 'Mesh_192_0_2_12 .*Established' && break; sleep 0.5
done
sleep 3
birdc -s "$RUN/a.ctl" show protocols all > "$OUT/bird-protocols.txt"
birdc -s "$RUN/a.ctl" show route all > "$OUT/bird-routes.txt"
python3 - "$RUN/a.ctl" "$OUT/bird-protocols.raw.txt" "$OUT/bird-routes.raw.txt" <<'PY'
import socket, sys
def ask(path, cmd):
    s = socket.socket(socket.AF_UNIX); s.connect(path)
    buf = b""
    def readreply():
        nonlocal buf
        while True:
            lines = buf.split(b"\n")
            for l in lines[:-1]:
                if len(l) >= 5 and l[:4].isdigit() and l[4:5] == b" ":
                    end = buf.index(l) + len(l) + 1
                    out, buf = buf[:end], buf[end:]
                    return out
            buf += s.recv(65536)
    readreply()  # greeting
    s.sendall(cmd.encode() + b"\n")
    out = readreply(); s.close(); return out
open(sys.argv[2], "wb").write(ask(sys.argv[1], "show protocols all"))
open(sys.argv[3], "wb").write(ask(sys.argv[1], "show route all"))
PY
# iproute2 dumps
a ip -d -j link show > "$OUT/ip-link.json"
a ip -j addr show > "$OUT/ip-addr.json"
a ip -d -j route show table all > "$OUT/ip-route.json"
a ip -6 -d -j route show table all > "$OUT/ip-route-v6.json"
a ip -j route show > "$OUT/ip-route-nodetail.json"
a ip -j rule show > "$OUT/ip-rule.json"
a ip -6 -j rule show > "$OUT/ip-rule-v6.json"
a ip -j neigh show > "$OUT/ip-neigh.json"
a ip -6 -j neigh show > "$OUT/ip-neigh-v6.json"
a bridge -j fdb show > "$OUT/bridge-fdb.json"
a sysctl net.ipv4.ip_forward net.ipv4.conf.all.rp_filter net.ipv4.conf.eth0.proxy_arp net.ipv6.conf.all.forwarding > "$OUT/sysctl.txt"
ip netns exec $POD ip -d -j link show > "$OUT/pod-ip-link.json"
ip netns exec $POD ip -j addr show > "$OUT/pod-ip-addr.json"
ip netns exec $POD ip -d -j route show table all > "$OUT/pod-ip-route.json"
echo recorded
