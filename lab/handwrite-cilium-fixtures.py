#!/usr/bin/env python3
"""Build fixtures/cilium-native, cilium-vxlan and cilium-vxlan-broken-cilium-tunnel-missing.

No Cilium runs in the namespace lab, so these bundles are NOT recorded from a
running Cilium: they are derived from the live fixtures/flannel-host-gw
bundle (same nodes, addresses, pods, Services), with each node rewritten the
way Cilium v1.15 programs it and the cilium/*.json files written in the
shapes cilium-dbg v1.15 prints (cilium-dbg/cmd/bpf_ipcache_list.go,
bpf_tunnel_list.go, bpf_lb_list.go, endpoint_list.go, status.go;
api/v1/models/endpoint.go, status_response.go; pkg/maps/ipcache/ipcache.go
RemoteEndpointInfo.String()):

- cilium_host (veth, 10.244.N.1/32, the pods' router) and its peer
  cilium_net; pod veths lxc<8 hex> with no master; pods have
  10.244.N.K/32 and `default via 10.244.N.1`, `10.244.N.1 dev eth0 scope link`.
- routes: `10.244.N.0/24 via 10.244.N.1 dev cilium_host src 10.244.N.1`;
  remote CIDRs via the peer node IP on eth0 (native, auto-direct-node-routes)
  or via cilium_host with mtu 1450 (vxlan, plus cilium_vxlan: external
  VXLAN device, port 8472).
- k8s: the flannel DaemonSet pods become cilium-* agent pods, the flannel
  node annotations are dropped (Kubernetes IPAM: spec.podCIDR kept).

Usage: lab/handwrite-cilium-fixtures.py  (from the repository root)
"""
import json
import os
import re
import shutil

SRC = "fixtures/flannel-host-gw"
NODE_IP = {1: "192.0.2.11", 2: "192.0.2.12", 3: "192.0.2.13"}
N = (1, 2, 3)


def load(p):
    with open(p) as f:
        return json.load(f)


def dump(p, v):
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        json.dump(v, f, indent=2)
        f.write("\n")


def lxc_name(old):
    return "lxc" + old[len("veth"):]


def route(dst, dev, gw=None, table="main", typ="unicast", scope="global", src=None, proto="kernel", mtu=None):
    r = {"type": typ, "dst": dst}
    if gw:
        r["gateway"] = gw
    r.update({"dev": dev, "table": table, "protocol": proto, "scope": scope})
    if src:
        r["prefsrc"] = src
    if mtu:
        r["metrics"] = [{"mtu": mtu}]
    r["flags"] = []
    return r


def node_links(links, vxlan):
    out = []
    for l in links:
        name = l["ifname"]
        if name == "cni0":
            continue
        if name.startswith("veth"):
            l = dict(l)
            l["ifname"] = lxc_name(name)
            l.pop("master", None)
            l["linkinfo"] = {"info_kind": "veth"}
            if vxlan:
                l["mtu"] = 1450
        out.append(l)
    for ifindex, name, peer in ((3, "cilium_host", 6), (6, "cilium_net", 3)):
        out.append({"ifindex": ifindex, "link": "cilium_net" if peer == 6 else "cilium_host",
                    "ifname": name, "flags": ["BROADCAST", "MULTICAST", "NOARP", "UP", "LOWER_UP"],
                    "mtu": 1500, "qdisc": "noqueue", "operstate": "UP", "linkmode": "DEFAULT",
                    "group": "default", "txqlen": 1000, "link_type": "ether",
                    "address": "0a:ce:00:00:%02x:%02x" % (ifindex, 0), "broadcast": "ff:ff:ff:ff:ff:ff",
                    "linkinfo": {"info_kind": "veth"}})
    if vxlan:
        out.append({"ifindex": 7, "ifname": "cilium_vxlan", "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
                    "mtu": 1500, "qdisc": "noqueue", "operstate": "UNKNOWN", "linkmode": "DEFAULT",
                    "group": "default", "txqlen": 1000, "link_type": "ether",
                    "address": "0a:ce:00:00:07:00", "broadcast": "ff:ff:ff:ff:ff:ff",
                    "linkinfo": {"info_kind": "vxlan", "info_data": {"external": True, "id": 0, "port": 8472,
                                 "learning": False, "ttl": 0, "df": "unset", "udp_csum": False}}})
    return sorted(out, key=lambda l: l["ifindex"])


def node_addrs(addrs, links, i):
    out = []
    by_name = {l["ifname"]: l for l in links}
    for a in addrs:
        name = a["ifname"]
        if name == "cni0":
            continue
        if name.startswith("veth"):
            a = dict(a)
            a["ifname"] = lxc_name(name)
            a.pop("master", None)
        out.append(a)
    host = dict(by_name["cilium_host"])
    host.pop("linkinfo", None)
    host.pop("link", None)
    host["addr_info"] = [{"family": "inet", "local": "10.244.%d.1" % i, "prefixlen": 32,
                          "scope": "link", "label": "cilium_host", "valid_life_time": 4294967295,
                          "preferred_life_time": 4294967295}]
    out.append(host)
    return out


def node_routes(routes, i, vxlan):
    router = "10.244.%d.1" % i
    out = [r for r in routes if r.get("dev") != "cni0" and not str(r.get("dst", "")).startswith("10.244.")]
    for r in out:
        if r.get("dev", "").startswith("veth"):
            r["dev"] = lxc_name(r["dev"])
    out.insert(1, route("10.244.%d.0/24" % i, "cilium_host", gw=router, src=router))
    out.insert(2, route(router, "cilium_host", scope="link"))
    at = 3
    for j in N:
        if j == i:
            continue
        cidr = "10.244.%d.0/24" % j
        if vxlan:
            r = route(cidr, "cilium_host", gw=router, src=router, mtu=1450)
        else:
            r = route(cidr, "eth0", gw=NODE_IP[j], proto="boot")
        out.insert(at, r)
        at += 1
    out.append(route(router, "cilium_host", table="local", typ="local", scope="host", src=router))
    return out


def pod_files(pdir, i, vxlan):
    router = "10.244.%d.1" % i
    addrs = load(pdir + "/ip-addr.json")
    for a in addrs:
        for ai in a.get("addr_info", []):
            if ai.get("family") == "inet" and ai["local"].startswith("10.244."):
                ai["prefixlen"] = 32
                ai.pop("broadcast", None)
        if vxlan and a["ifname"] == "eth0":
            a["mtu"] = 1450
    dump(pdir + "/ip-addr.json", addrs)
    links = load(pdir + "/ip-link.json")
    for l in links:
        if vxlan and l["ifname"] == "eth0":
            l["mtu"] = 1450
    dump(pdir + "/ip-link.json", links)
    routes = [r for r in load(pdir + "/ip-route.json")
              if not (str(r.get("dst")).startswith("10.244.") and r["table"] == "main")
              and r.get("type") != "broadcast" or r.get("dev") == "lo"]
    routes = [r for r in routes if r.get("dst") != "default"]
    routes.insert(0, route("default", "eth0", gw=router, proto="boot", mtu=1450 if vxlan else None))
    routes.insert(1, route(router, "eth0", scope="link", proto="boot"))
    dump(pdir + "/ip-route.json", routes)


def rename_text(text):
    text = re.sub(r"\bveth([0-9a-f]{8})\b", r"lxc\1", text)
    return text.replace(".cni0.", ".cilium_host.")


def pods_by_node():
    pods = load(SRC + "/k8s/pods.json")["items"]
    out = {}
    for p in pods:
        if p["metadata"]["name"].startswith("kube-flannel"):
            continue
        node = int(p["spec"]["nodeName"].split("-")[1])
        out.setdefault(node, []).append(p)
    return out


def ipcache(i, vxlan, pods, skip=()):
    """Every pod /32 with its identity and (tunnel mode) its node; node IPs."""
    ident = {"web": 31029, "api": 14212}
    c = {"0.0.0.0/0": "identity=2 encryptkey=0 tunnelendpoint=0.0.0.0 flags=<none>"}
    for j in N:
        tep = NODE_IP[j] if (vxlan and j != i) else "0.0.0.0"
        for p in pods[j]:
            if j in skip:
                continue
            ip = p["status"]["podIP"]
            c[ip + "/32"] = "identity=%d encryptkey=0 tunnelendpoint=%s flags=<none>" % (
                ident[p["metadata"]["labels"]["app"]], tep)
        node_ident = 1 if j == i else 6
        c[NODE_IP[j] + "/32"] = "identity=%d encryptkey=0 tunnelendpoint=0.0.0.0 flags=<none>" % node_ident
        c["10.244.%d.1/32" % j] = "identity=%d encryptkey=0 tunnelendpoint=%s flags=<none>" % (
            node_ident, NODE_IP[j] if (vxlan and j != i) else "0.0.0.0")
    return {k: [v] for k, v in sorted(c.items())}


def tunnel(i, skip=()):
    return {"10.244.%d.0" % j: [NODE_IP[j]] for j in N if j != i and j not in skip}


def pod_lxc(nd, pod, host_links):
    """The host-side lxc of POD: the link whose ifindex its eth0 names."""
    links = load("%s/pods/default_%s/ip-link.json" % (nd, pod))
    peer = next(l["link_index"] for l in links if l["ifname"] == "eth0")
    return next(l["ifname"] for l in host_links if l["ifindex"] == peer)


def endpoints(i, pods, host_links, nd):
    eps = [{"id": 100 + i, "spec": {}, "status": {"state": "ready",
            "identity": {"id": 1, "labels": ["reserved:host"]},
            "networking": {"addressing": [{}]},
            "external-identifiers": {}}}]
    for k, p in enumerate(pods[i]):
        app = p["metadata"]["labels"]["app"]
        eps.append({"id": 1000 + 10 * i + k, "spec": {}, "status": {
            "state": "ready",
            "identity": {"id": {"web": 31029, "api": 14212}[app],
                         "labels": ["k8s:app=" + app, "k8s:io.kubernetes.pod.namespace=default"]},
            "networking": {"addressing": [{"ipv4": p["status"]["podIP"]}],
                           "interface-name": pod_lxc(nd, p["metadata"]["name"], host_links)},
            "external-identifiers": {"k8s-namespace": "default", "k8s-pod-name": p["metadata"]["name"],
                                     "pod-name": "default/" + p["metadata"]["name"]},
            "policy": {"realized": {"policy-enabled": "none"}}}})
    return eps


def lb(pods):
    out = {"10.96.0.1:443 (0)": ["0.0.0.0:0 (1) (0) [ClusterIP, non-routable]"],
           "10.96.0.1:443 (1)": ["192.0.2.11:6443 (1) (1)"]}
    for name, vip, port, svc in (("web", "10.96.100.10", 80, 2), ("api", "10.96.200.20", 8080, 3)):
        ips = [p["status"]["podIP"] for j in N for p in pods[j] if p["metadata"]["labels"]["app"] == name]
        out["%s:%d (0)" % (vip, port)] = ["0.0.0.0:0 (%d) (0) [ClusterIP, non-routable]" % svc]
        for k, ip in enumerate(ips, 1):
            out["%s:%d (%d)" % (vip, port, k)] = ["%s:8080 (%d) (%d)" % (ip, 10 * svc + k, k)]
    return out


def k8s(dst):
    pods = load(SRC + "/k8s/pods.json")
    for p in pods["items"]:
        m = p["metadata"]
        if m["name"].startswith("kube-flannel-ds-"):
            m["name"] = "cilium-" + m["name"].rsplit("-", 1)[1]
            m["labels"] = {"k8s-app": "cilium"}
            for c in p["spec"].get("containers", []):
                c["name"] = "cilium-agent"
                c["image"] = "quay.io/cilium/cilium:v1.15.6"
    dump(dst + "/k8s/pods.json", pods)
    nodes = load(SRC + "/k8s/nodes.json")
    for n in nodes["items"]:
        ann = n["metadata"].get("annotations", {})
        for k in [k for k in ann if k.startswith("flannel.")]:
            del ann[k]
    dump(dst + "/k8s/nodes.json", nodes)


def build(name, vxlan, fault=None):
    dst = "fixtures/" + name
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(SRC, dst)
    k8s(dst)
    pods = pods_by_node()
    for i in N:
        nd = "%s/nodes/node-%d" % (dst, i)
        links = node_links(load(nd + "/ip-link.json"), vxlan)
        dump(nd + "/ip-addr.json", node_addrs(load(nd + "/ip-addr.json"), links, i))
        dump(nd + "/ip-link.json", links)
        dump(nd + "/ip-route.json", node_routes(load(nd + "/ip-route.json"), i, vxlan))
        neigh = [n for n in load(nd + "/ip-neigh.json") if n["dev"] != "cni0"]
        dump(nd + "/ip-neigh.json", neigh)
        fdb = [f for f in load(nd + "/bridge-fdb.json")
               if f.get("ifname") != "cni0" and f.get("master") != "cni0" and not f.get("ifname", "").startswith("veth")]
        dump(nd + "/bridge-fdb.json", fdb)
        for f in ("sysctl.txt", "collect-info.txt"):
            with open(nd + "/" + f) as fh:
                text = rename_text(fh.read())
            with open(nd + "/" + f, "w") as fh:
                fh.write(text)
        for pd in sorted(os.listdir(nd + "/pods")):
            pod_files(nd + "/pods/" + pd, i, vxlan)
        skip = (2,) if (fault and i == 1) else ()
        cd = nd + "/cilium"
        dump(cd + "/status.json", {
            "cilium": {"state": "Ok", "msg": ""},
            "kube-proxy-replacement": {"mode": "False"},
            "routing": {"intra-host-routing-mode": "Legacy",
                        "inter-host-routing-mode": "Tunnel" if vxlan else "Native",
                        "tunnel-protocol": "vxlan" if vxlan else ""},
            "cluster": {"nodes": [{"name": "node-%d" % j, "primary-address": {"ipv4": {"ip": NODE_IP[j], "enabled": True}}} for j in N]}})
        dump(cd + "/ipcache.json", ipcache(i, vxlan, pods, skip))
        dump(cd + "/tunnel.json", tunnel(i, skip) if vxlan else {})
        dump(cd + "/endpoints.json", endpoints(i, pods, links, nd))
        dump(cd + "/lb.json", lb(pods))
    model = "cilium-vxlan" if vxlan else "cilium-native"
    info = ["model = " + model, "nodes = 3", "pods_per_node = 2",
            "recorded = hand (lab/handwrite-cilium-fixtures.py from flannel-host-gw; "
            "Cilium's documented formats, not a running Cilium)",
            "faults = " + ("cilium-tunnel-missing@node-1" if fault else "none")]
    if fault:
        info.append("hand_edit = cilium-tunnel-missing: node-1's ipcache lacks node-2's pod /32 entries "
                    "and its tunnel map lacks 10.244.2.0 (a stale agent that missed node-2)")
    with open(dst + "/lab-info.txt", "w") as f:
        f.write("\n".join(info) + "\n")


if __name__ == "__main__":
    build("cilium-native", False)
    build("cilium-vxlan", True)
    build("cilium-vxlan-broken-cilium-tunnel-missing", True, fault="cilium-tunnel-missing")
