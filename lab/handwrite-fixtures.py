#!/usr/bin/env python3
"""Derive the fixtures a namespace lab on this kernel cannot record.

The kernel here has neither IPIP nor IPVS, so these bundles are written by
hand -- but not from scratch: each is a copy of a recorded bundle in STAGE,
edited only where the model differs, so everything else (links, addresses,
MACs, BIRD transcripts, k8s objects) stays consistent with a real kernel.

    calico-ipip-cross-subnet <- calico-ipip: node-2 on 198.51.100.0/24,
                            ipipMode CrossSubnet (same-subnet peers direct)
    calico-ipip          <- calico-bgp: tunl0 (as `ip -d -j link` prints an
                            ipip device), tunl0 /32 from the IPIP tunnel
                            address, BIRD routes via tunl0 onlink, MTU 1440
    flannel-vxlan-ipvs   <- flannel-vxlan: kube-proxy IPVS mode (kube-ipvs0
                            dummy with the ClusterIPs, their local routes,
                            ipvsadm.txt with one real server per ready endpoint)
    flannel-vxlan-ipvs-broken-ipvs-service-missing / -ipvs-no-backends /
    -ipvs-stale-backend  <- flannel-vxlan-ipvs with one fault each
    flannel-vxlan-broken-vxlan-checksum-offload
                         <- flannel-vxlan: node-1's uname.txt says 5.4.0-42-generic
                            (a kernel before the VXLAN checksum fix; this one is
                            newer), its recorded ethtool.txt kept (offload on)
    calico-bgp-broken-pod-ip-outside-pools <- calico-bgp-route-reflector:
                            the IPPool narrowed to 10.244.0.0/23 (pods of
                            node-2.. keep their old addresses)
    calico-bgp-broken-ipam-block-multiple-routes <- calico-bgp-route-reflector:
                            node-2 routes node-3's block ECMP via node-3
                            and node-4 (as `ip -j` prints a multipath route)

usage: handwrite-fixtures.py STAGE   (STAGE holds calico-bgp/ and flannel-vxlan/)
"""

import copy
import ipaddress
import json
import re
import shutil
import sys
from pathlib import Path

IPIP_MTU = 1440


def load(path):
    with open(path) as f:
        return json.load(f)


def dump_ip(path, value):
    """Write JSON the way `ip -j` does: one line, no spaces."""
    with open(path, "w") as f:
        f.write(json.dumps(value, separators=(",", ":")) + "\n")


def dump_kubectl(path, value):
    """Write JSON the way `kubectl -o json` does: 4-space indents."""
    with open(path, "w") as f:
        f.write(json.dumps(value, indent=4) + "\n")


def node_index(node_dir):
    """node-3 -> 3 (the lab's naming)."""
    return int(node_dir.name.rsplit("-", 1)[1])


def nodes(bundle):
    return sorted((bundle / "nodes").iterdir(), key=node_index)


def note(bundle, text):
    """Record the hand edit in lab-info.txt (ignored by bundle readers)."""
    with open(bundle / "lab-info.txt", "a") as f:
        f.write(f"hand_edit = {text}\n")


def fresh_copy(stage, src, dst):
    target = stage / dst
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(stage / src, target)
    return target


# ---------------------------------------------------------------- calico-ipip


def tunl0_link(template, ifindex):
    """tunl0 as iproute2 6.1 prints the ipip fallback device with -d -j."""
    link = {k: v for k, v in template.items() if k not in ("link_index", "link_netnsid", "linkinfo")}
    link.update(
        {
            "ifindex": ifindex,
            "ifname": "tunl0",
            "link": None,
            "flags": ["NOARP", "UP", "LOWER_UP"],
            "mtu": IPIP_MTU,
            "operstate": "UNKNOWN",
            "link_type": "ipip",
            "address": "0.0.0.0",
            "broadcast": "0.0.0.0",
            "min_mtu": 0,
            "max_mtu": 65515,
            "num_tx_queues": 1,
            "num_rx_queues": 1,
        }
    )
    link["linkinfo"] = {
        "info_kind": "ipip",
        "info_data": {"proto": "ipip", "remote": "any", "local": "any", "ttl": 0, "pmtudisc": True},
    }
    return link


def tunl0_addr(template, ifindex, tunnel_ip):
    addr = {k: v for k, v in template.items() if k not in ("link_index", "link_netnsid", "addr_info")}
    addr.update(
        {
            "ifindex": ifindex,
            "ifname": "tunl0",
            "link": None,
            "flags": ["NOARP", "UP", "LOWER_UP"],
            "mtu": IPIP_MTU,
            "operstate": "UNKNOWN",
            "link_type": "ipip",
            "address": "0.0.0.0",
            "broadcast": "0.0.0.0",
        }
    )
    addr["addr_info"] = [
        {
            "family": "inet",
            "local": tunnel_ip,
            "prefixlen": 32,
            "scope": "global",
            "label": "tunl0",
            "valid_life_time": 4294967295,
            "preferred_life_time": 4294967295,
        }
    ]
    return addr


def by_name(entries, name):
    for e in entries:
        if e.get("ifname") == name:
            return e
    raise SystemExit(f"handwrite-fixtures: no {name} in the recorded dump")


def ipip_links(node_dir, tunnel_ip):
    links = load(node_dir / "ip-link.json")
    ifindex = max(link["ifindex"] for link in links) + 1
    for link in links:
        if link["ifname"].startswith("cali"):
            link["mtu"] = IPIP_MTU
    links.insert(1, tunl0_link(by_name(links, "eth0"), ifindex))
    dump_ip(node_dir / "ip-link.json", links)
    addrs = load(node_dir / "ip-addr.json")
    for addr in addrs:
        if addr["ifname"].startswith("cali"):
            addr["mtu"] = IPIP_MTU
    addrs.insert(1, tunl0_addr(by_name(addrs, "eth0"), ifindex, tunnel_ip))
    dump_ip(node_dir / "ip-addr.json", addrs)


def ipip_routes(node_dir, tunnel_ip):
    """BIRD's kernel filter sets ifname tunl0 + onlink on BGP routes; the
    kernel adds the local route for the tunl0 address."""
    routes = load(node_dir / "ip-route.json")
    for r in routes:
        if r.get("protocol") == "bird" and r.get("gateway") and r.get("dev") == "eth0":
            r["dev"] = "tunl0"
            r["flags"] = sorted(set(r.get("flags", [])) | {"onlink"})
    local = {
        "type": "local",
        "dst": tunnel_ip,
        "dev": "tunl0",
        "table": "local",
        "protocol": "kernel",
        "scope": "host",
        "prefsrc": tunnel_ip,
        "flags": [],
    }
    routes.insert(next(i for i, r in enumerate(routes) if r.get("table") == "local"), local)
    dump_ip(node_dir / "ip-route.json", routes)


def add_sysctls(node_dir, lines):
    path = node_dir / "sysctl.txt"
    existing = path.read_text().splitlines()
    keys = {line.split(" = ")[0] for line in existing}
    merged = existing + [line for line in lines if line.split(" = ")[0] not in keys]
    path.write_text("\n".join(merged) + "\n")


def ipip_pods(node_dir):
    for pod in (node_dir / "pods").iterdir():
        links = load(pod / "ip-link.json")
        addrs = load(pod / "ip-addr.json")
        for entry in links + addrs:
            if entry["ifname"] == "eth0":
                entry["mtu"] = IPIP_MTU
        dump_ip(pod / "ip-link.json", links)
        dump_ip(pod / "ip-addr.json", addrs)


def calico_ipip(stage):
    bundle = fresh_copy(stage, "calico-bgp", "calico-ipip")
    k8s_nodes = load(bundle / "k8s/nodes.json")
    for node_dir in nodes(bundle):
        n = node_index(node_dir)
        tunnel_ip = f"10.244.{n}.0"
        ipip_links(node_dir, tunnel_ip)
        ipip_routes(node_dir, tunnel_ip)
        add_sysctls(
            node_dir,
            [
                "net.ipv4.conf.tunl0.forwarding = 1",
                "net.ipv4.conf.tunl0.proxy_arp = 0",
                "net.ipv4.conf.tunl0.rp_filter = 0",
                "net.ipv4.neigh.tunl0.proxy_delay = 80",
            ],
        )
        ipip_pods(node_dir)
        for item in k8s_nodes["items"]:
            if item["metadata"]["name"] == node_dir.name:
                item["metadata"]["annotations"]["projectcalico.org/IPv4IPIPTunnelAddr"] = tunnel_ip
    dump_kubectl(bundle / "k8s/nodes.json", k8s_nodes)
    set_info_model(bundle, "calico-ipip")
    note(
        bundle,
        "from calico-bgp: tunl0 (ipip, mtu 1440, 10.244.N.0/32), proto bird routes "
        "moved to dev tunl0 onlink, cali*/pod eth0 mtu 1440, IPv4IPIPTunnelAddr "
        "annotation; BIRD transcripts unchanged (BIRD's table keeps via eth0, "
        "its kernel filter rewrites to tunl0)",
    )


# ------------------------------------------------- calico-ipip CrossSubnet

# The second underlay subnet (`lab up --cross-subnet`'s): node-2 moves there.
MOVED, MOVED_TO = "192.0.2.12", "198.51.100.12"


def rewrite_text(path, pairs):
    text = path.read_text()
    for old, new in pairs:
        text = re.sub(old, new, text)
    path.write_text(text)


def cross_subnet_routes(node_dir, n):
    """ipipMode CrossSubnet: BIRD's kernel filter sends a same-subnet peer's
    block via its node IP on eth0 and only the others over tunl0 onlink;
    node-2 no longer has the others as neighbours on eth0 (nor they it)."""
    routes = load(node_dir / "ip-route.json")
    for r in routes:
        gw = r.get("gateway", "")
        if r.get("protocol") == "bird" and r.get("dev") == "tunl0" and n != 2 and gw != MOVED_TO:
            r["dev"] = "eth0"
            r["flags"] = [f for f in r.get("flags", []) if f != "onlink"]
    dump_ip(node_dir / "ip-route.json", routes)
    neigh = load(node_dir / "ip-neigh.json")
    peers = {"192.0.2.11", "192.0.2.13"} if n == 2 else {MOVED_TO}
    dump_ip(node_dir / "ip-neigh.json", [e for e in neigh if e["dst"] not in peers])


def calico_ipip_cross_subnet(stage):
    """calico-ipip with node-2 on 198.51.100.0/24 (gateway .1, the underlay
    router) and ipipMode CrossSubnet: node-1 and node-3 route each other's
    blocks directly, node-2 over IPIP. BIRD resolves node-2's next hop
    recursively through the default route (its table says `via 192.0.2.1`)."""
    bundle = fresh_copy(stage, "calico-ipip", "calico-ipip-cross-subnet")
    moved = [(re.escape(MOVED) + r"(?![0-9])", MOVED_TO), (r"192_0_2_12(?![0-9])", "198_51_100_12")]
    for path in [p for p in bundle.rglob("*") if p.is_file()]:
        rewrite_text(path, moved)
    for node_dir in nodes(bundle):
        n = node_index(node_dir)
        if n == 2:
            own = [(r"192\.0\.2\.(1|0/24|255)(?![0-9])", r"198.51.100.\1"),
                   (r"via 192\.0\.2\.1[13] on eth0", "via 198.51.100.1 on eth0")]
            for path in [p for p in node_dir.glob("*") if p.is_file()]:
                rewrite_text(path, own)
        else:
            rewrite_text(node_dir / "bird-routes.txt", [(r"via 198\.51\.100\.12 on eth0", "via 192.0.2.1 on eth0")])
        cross_subnet_routes(node_dir, n)
    note(
        bundle,
        "from calico-ipip: node-2 moved to 198.51.100.12/24 (default via 198.51.100.1), "
        "ipipMode CrossSubnet: node-1 <-> node-3 blocks via the node IP dev eth0, "
        "node-2's over tunl0 onlink; BIRD next hops of the moved node via the gateway",
    )


def set_info_model(bundle, model):
    path = bundle / "lab-info.txt"
    lines = path.read_text().splitlines()
    lines = [f"model = {model}" if line.startswith("model = ") else line for line in lines]
    path.write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------- IPVS


def ipvs_table(k8s_dir):
    """kube-proxy's IPVS services: one virtual server per Service port, one
    Masq real server per ready endpoint. Returns [(vip, port, [(ip, port)])]."""
    services = load(k8s_dir / "services.json")["items"]
    slices = load(k8s_dir / "endpointslices.json")["items"]
    table = []
    for svc in services:
        name = svc["metadata"]["name"]
        ready = []
        for sl in slices:
            if sl["metadata"]["labels"].get("kubernetes.io/service-name") != name:
                continue
            for ep in sl["endpoints"]:
                if ep.get("conditions", {}).get("ready", True):
                    ready += [(a, sl["ports"][0]["port"]) for a in ep["addresses"]]
        for port in svc["spec"]["ports"]:
            table.append((svc["spec"]["clusterIP"], port["port"], sorted(ready, key=ip_key)))
    return sorted(table, key=lambda vs: (ip_key((vs[0], 0)), vs[1]))


def ip_key(pair):
    return (ipaddress.ip_address(pair[0]), pair[1])


def render_ipvsadm(table):
    """`ipvsadm -Ln` text (ipvsadm 1.31's column layout)."""
    out = [
        "IP Virtual Server version 1.2.1 (size=4096)",
        "Prot LocalAddress:Port Scheduler Flags",
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
    ]
    for vip, port, reals in table:
        out.append(f"TCP  {vip}:{port} rr")
        for ip, rport in reals:
            out.append(f"  -> {ip + ':' + str(rport):<28} {'Masq':<7} {1:<6} {0:<10} {0:<10}")
    return "\n".join(out) + "\n"


def kube_ipvs0(links, vips):
    """kube-proxy's dummy: DOWN, NOARP, holding every ClusterIP as a /32."""
    ifindex = max(link["ifindex"] for link in links) + 1
    link = {
        "ifindex": ifindex,
        "ifname": "kube-ipvs0",
        "flags": ["BROADCAST", "NOARP"],
        "mtu": 1500,
        "qdisc": "noop",
        "operstate": "DOWN",
        "linkmode": "DEFAULT",
        "group": "default",
        "txqlen": 1000,
        "link_type": "ether",
        "address": "b6:6e:2c:1d:4a:90",
        "broadcast": "ff:ff:ff:ff:ff:ff",
        "promiscuity": 0,
        "allmulti": 0,
        "min_mtu": 0,
        "max_mtu": 0,
        "linkinfo": {"info_kind": "dummy"},
        "inet6_addr_gen_mode": "eui64",
        "num_tx_queues": 1,
        "num_rx_queues": 1,
        "gso_max_size": 65536,
        "gso_max_segs": 65535,
        "tso_max_size": 524280,
        "tso_max_segs": 65535,
        "gro_max_size": 65536,
    }
    addr = {k: link[k] for k in ("ifindex", "ifname", "flags", "mtu", "qdisc", "operstate", "group", "txqlen", "link_type", "address", "broadcast")}
    addr["addr_info"] = [
        {
            "family": "inet",
            "local": vip,
            "prefixlen": 32,
            "scope": "global",
            "label": "kube-ipvs0",
            "valid_life_time": 4294967295,
            "preferred_life_time": 4294967295,
        }
        for vip in vips
    ]
    return link, addr


def local_routes(vips):
    return [
        {
            "type": "local",
            "dst": vip,
            "dev": "kube-ipvs0",
            "table": "local",
            "protocol": "kernel",
            "scope": "host",
            "prefsrc": vip,
            "flags": [],
        }
        for vip in vips
    ]


def add_kube_proxy(node_dir, table):
    vips = sorted({vs[0] for vs in table}, key=lambda v: ipaddress.ip_address(v))
    links = load(node_dir / "ip-link.json")
    addrs = load(node_dir / "ip-addr.json")
    link, addr = kube_ipvs0(links, vips)
    links.append(link)
    addrs.append(addr)
    dump_ip(node_dir / "ip-link.json", links)
    dump_ip(node_dir / "ip-addr.json", addrs)
    routes = load(node_dir / "ip-route.json")
    first_local = next(i for i, r in enumerate(routes) if r.get("table") == "local")
    routes[first_local:first_local] = local_routes(vips)
    dump_ip(node_dir / "ip-route.json", routes)
    add_sysctls(
        node_dir,
        [
            "net.ipv4.vs.conntrack = 1",
            "net.ipv4.conf.kube-ipvs0.forwarding = 1",
            "net.ipv4.conf.kube-ipvs0.proxy_arp = 0",
            "net.ipv4.conf.kube-ipvs0.rp_filter = 0",
            "net.ipv4.neigh.kube-ipvs0.proxy_delay = 80",
        ],
    )
    (node_dir / "ipvsadm.txt").write_text(render_ipvsadm(table))


def flannel_vxlan_ipvs(stage):
    bundle = fresh_copy(stage, "flannel-vxlan", "flannel-vxlan-ipvs")
    table = ipvs_table(bundle / "k8s")
    for node_dir in nodes(bundle):
        add_kube_proxy(node_dir, table)
    note(bundle, "from flannel-vxlan: kube-proxy IPVS mode (kube-ipvs0 dummy with every ClusterIP, local routes, ipvsadm.txt rr/Masq per ready endpoint)")
    return bundle, table


def edit_table(bundle, node, edit, text):
    """Copy the healthy IPVS bundle and rewrite one node's ipvsadm.txt."""
    node_dir = bundle / "nodes" / node
    table = edit(copy.deepcopy(ipvs_table(bundle / "k8s")))
    (node_dir / "ipvsadm.txt").write_text(render_ipvsadm(table))
    lines = (bundle / "lab-info.txt").read_text().splitlines()
    lines = [f"faults = {text.split(':')[0]}@{node}" if line.startswith("faults = ") else line for line in lines]
    (bundle / "lab-info.txt").write_text("\n".join(lines) + "\n")
    note(bundle, text)


def ipvs_broken(stage):
    base = "flannel-vxlan-ipvs"
    web, api = ("10.96.100.10", 80), ("10.96.200.20", 8080)

    def drop_web(table):
        return [vs for vs in table if (vs[0], vs[1]) != web]

    def empty_api(table):
        return [(v, p, [] if (v, p) == api else r) for v, p, r in table]

    def stale_web(table):
        return [(v, p, sorted(r + [("10.244.2.9", 8080)], key=ip_key) if (v, p) == web else r) for v, p, r in table]

    edit_table(
        fresh_copy(stage, base, base + "-broken-ipvs-service-missing"),
        "node-2",
        drop_web,
        "ipvs-service-missing: node-2 has no virtual server TCP 10.96.100.10:80 (Service default/web); the ClusterIP is still bound on kube-ipvs0",
    )
    edit_table(
        fresh_copy(stage, base, base + "-broken-ipvs-no-backends"),
        "node-1",
        empty_api,
        "ipvs-no-backends: node-1's TCP 10.96.200.20:8080 (Service default/api) has no real servers although its 3 endpoints are ready",
    )
    edit_table(
        fresh_copy(stage, base, base + "-broken-ipvs-stale-backend"),
        "node-1",
        stale_web,
        "ipvs-stale-backend: node-1's TCP 10.96.100.10:80 (Service default/web) keeps real server 10.244.2.9:8080, which is no endpoint (a deleted pod)",
    )


def vxlan_checksum_offload(stage):
    bundle = fresh_copy(stage, "flannel-vxlan", "flannel-vxlan-broken-vxlan-checksum-offload")
    node_dir = bundle / "nodes" / "node-1"
    if not (node_dir / "ethtool.txt").is_file():
        raise SystemExit("handwrite-fixtures: flannel-vxlan has no ethtool.txt (install ethtool and record again)")
    (node_dir / "uname.txt").write_text("5.4.0-42-generic\n")
    lines = (bundle / "lab-info.txt").read_text().splitlines()
    lines = [f"faults = vxlan-checksum-offload@node-1" if line.startswith("faults = ") else line for line in lines]
    (bundle / "lab-info.txt").write_text("\n".join(lines) + "\n")
    note(bundle, "vxlan-checksum-offload: node-1's uname.txt says 5.4.0-42-generic (before the 5.7 fix); flannel.1's recorded ethtool -k has tx-checksum-ip-generic on")


# ---------------------------------------------------------------- Calico IPAM


def set_faults(bundle, faults):
    info = bundle / "lab-info.txt"
    lines = [l for l in info.read_text().splitlines() if not l.startswith("faults")]
    lines.append(f"faults = {faults}")
    info.write_text("\n".join(lines) + "\n")


def pod_ip_outside_pools(stage):
    b = fresh_copy(stage, "calico-bgp-route-reflector", "calico-bgp-broken-pod-ip-outside-pools")
    pools = load(b / "k8s" / "ippools.json")
    pools["items"][0]["spec"]["cidr"] = "10.244.0.0/23"
    dump_kubectl(b / "k8s" / "ippools.json", pools)
    set_faults(b, "pod-ip-outside-pools")
    note(b, "k8s/ippools.json: default-ipv4-ippool cidr 10.244.0.0/16 -> 10.244.0.0/23 (pods outside it keep their IPs)")


def ipam_block_multiple_routes(stage):
    b = fresh_copy(stage, "calico-bgp-route-reflector", "calico-bgp-broken-ipam-block-multiple-routes")
    path = b / "nodes" / "node-2" / "ip-route.json"
    routes = load(path)
    for r in routes:
        if r.get("dst") == "10.244.3.0/26":
            del r["gateway"], r["dev"]
            hop = lambda gw: {"gateway": gw, "dev": "eth0", "weight": 1, "flags": []}
            r["nexthops"] = [hop("192.0.2.13"), hop("192.0.2.14")]
    dump_ip(path, routes)
    set_faults(b, "ipam-block-multiple-routes@node-2")
    note(b, "node-2: 10.244.3.0/26 proto bird nexthop via 192.0.2.13 nexthop via 192.0.2.14 (was via 192.0.2.13)")


def main():
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(sys.argv) == 2 else 2
    stage = Path(sys.argv[1])
    for needed in ("calico-bgp", "flannel-vxlan"):
        if not (stage / needed / "nodes").is_dir():
            print(f"handwrite-fixtures: {stage / needed} is not a recorded bundle", file=sys.stderr)
            return 2
    calico_ipip(stage)
    calico_ipip_cross_subnet(stage)
    flannel_vxlan_ipvs(stage)
    ipvs_broken(stage)
    vxlan_checksum_offload(stage)
    if (stage / "calico-bgp-route-reflector" / "nodes").is_dir():
        pod_ip_outside_pools(stage)
        ipam_block_multiple_routes(stage)
    return 0


if __name__ == "__main__":
    sys.exit(main())
