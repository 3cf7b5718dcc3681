//! The netfilter seam: the engine reaches each hook where Linux runs
//! `NF_HOOK`, in Linux's order, and (every verdict being "continue" today)
//! traces are those of a host without rules.

mod common;

use cnictl_dataplane::{Dataplane, HookPoint};

/// Two Flannel-VXLAN nodes, each with a cni0 bridge and collected pod netns
/// (`default/a`, `default/a2` on node a; `default/b` on node b); `extra`
/// goes into node a's section (sysctls).
fn cluster(extra: &str) -> String {
    format!(
        "
node a
internal-ip 192.0.2.11
link lo
link eth0 mac 02:00:00:00:00:0a
link flannel.1 mtu 1450 mac 0a:0a:0a:0a:0a:01
vxlan flannel.1 vni 1 port 8472 local 192.0.2.11
link cni0 kind bridge mtu 1450 mac 0a:58:0a:f4:01:01
link vethA kind veth master cni0 mac 0a:00:00:00:00:aa
link vethA2 kind veth master cni0 mac 0a:00:00:00:00:ab
addr 127.0.0.1/8 dev lo
addr 192.0.2.11/24 dev eth0
addr 10.244.1.0/32 dev flannel.1
addr 10.244.1.1/24 dev cni0
route 192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.11
route 10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1
route 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink
neigh 10.244.2.0 dev flannel.1 lladdr 0a:0a:0a:0a:0a:02 PERMANENT
fdb 0a:0a:0a:0a:0a:02 dev flannel.1 dst 192.0.2.12 self permanent
sysctl net.ipv4.ip_forward=1
{extra}
podns default/a
link lo
link eth0 kind veth mtu 1450 mac 0a:00:00:00:01:02 peer vethA
addr 10.244.1.2/24 dev eth0
route default via 10.244.1.1 dev eth0
route 10.244.1.0/24 dev eth0 proto kernel scope link src 10.244.1.2
podns default/a2
link lo
link eth0 kind veth mtu 1450 mac 0a:00:00:00:01:03 peer vethA2
addr 10.244.1.3/24 dev eth0
route default via 10.244.1.1 dev eth0
route 10.244.1.0/24 dev eth0 proto kernel scope link src 10.244.1.3
node b
internal-ip 192.0.2.12
link lo
link eth0 mac 02:00:00:00:00:0b
link flannel.1 mtu 1450 mac 0a:0a:0a:0a:0a:02
vxlan flannel.1 vni 1 port 8472 local 192.0.2.12
link cni0 kind bridge mtu 1450 mac 0a:58:0a:f4:02:01
link vethB kind veth master cni0 mac 0a:00:00:00:00:bb
addr 127.0.0.1/8 dev lo
addr 192.0.2.12/24 dev eth0
addr 10.244.2.0/32 dev flannel.1
addr 10.244.2.1/24 dev cni0
route 192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.12
route 10.244.2.0/24 dev cni0 proto kernel scope link src 10.244.2.1
route 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink
sysctl net.ipv4.ip_forward=1
podns default/b
link lo
link eth0 kind veth mtu 1450 mac 0a:00:00:00:02:02 peer vethB
addr 10.244.2.2/24 dev eth0
route default via 10.244.2.1 dev eth0
route 10.244.2.0/24 dev eth0 proto kernel scope link src 10.244.2.2
"
    )
}

const BRIDGE_NF: &str = "sysctl net.bridge.bridge-nf-call-iptables=1";

/// The hooks the fixture's one probe passes, one line each:
/// `<namespace>: <hook> [in DEV] [out DEV]`, after asserting the trace
/// (whose hops the hooks must not change) ends in `disposition`.
fn hooks(text: &str, disposition: &str) -> Vec<String> {
    let fx = common::parse(text);
    let dp = Dataplane::with_hints(&fx.snap, &fx.hints);
    let (pkt, ing) = common::probe_input(&dp, &fx.snap, &fx.probes[0]);
    let trace = dp.trace(&pkt, ing);
    assert_eq!(
        trace.disposition.as_str(),
        disposition,
        "{}",
        common::render(&dp, &trace)
    );
    dp.netfilter_path(&pkt, ing)
        .iter()
        .map(|p| line(&dp, p))
        .collect()
}

fn line(dp: &Dataplane, p: &HookPoint) -> String {
    let dev = |d: Option<u32>| d.and_then(|i| dp.link(p.ns, i)).map(|l| l.name.clone());
    let mut s = format!("{}: {}", dp.ns_label(p.ns), p.hook.as_str());
    if let Some(i) = dev(p.in_dev) {
        s += &format!(" in {i}");
    }
    if let Some(o) = dev(p.out_dev) {
        s += &format!(" out {o}");
    }
    s
}

#[test]
fn pod_to_pod_across_vxlan_meets_every_hook_in_linux_order() {
    let text = cluster("") + "probe from pod default/a to 10.244.2.2";
    assert_eq!(
        hooks(&text, "delivered"),
        [
            // The pod sends.
            "node a netns default/a: output out eth0",
            "node a netns default/a: postrouting out eth0",
            // Node a forwards it from cni0 to flannel.1.
            "node a: prerouting in cni0",
            "node a: forward in cni0 out flannel.1",
            "node a: postrouting out flannel.1",
            // The VXLAN packet is node a's own.
            "node a: output out eth0",
            "node a: postrouting out eth0",
            // Node b receives the UDP packet for itself and decapsulates.
            "node b: prerouting in eth0",
            "node b: input in eth0",
            // The inner packet is forwarded from flannel.1 to cni0.
            "node b: prerouting in flannel.1",
            "node b: forward in flannel.1 out cni0",
            "node b: postrouting out cni0",
            // The pod receives it.
            "node b netns default/b: prerouting in eth0",
            "node b netns default/b: input in eth0",
        ]
    );
}

#[test]
fn pod_to_pod_on_one_bridge_skips_iptables_without_bridge_nf() {
    let text = cluster("") + "probe from pod default/a to 10.244.1.3";
    assert_eq!(
        hooks(&text, "delivered"),
        [
            "node a netns default/a: output out eth0",
            "node a netns default/a: postrouting out eth0",
            "node a netns default/a2: prerouting in eth0",
            "node a netns default/a2: input in eth0",
        ]
    );
}

#[test]
fn pod_to_pod_on_one_bridge_meets_the_bridge_hooks_with_bridge_nf() {
    let text = cluster(BRIDGE_NF) + "probe from pod default/a to 10.244.1.3";
    assert_eq!(
        hooks(&text, "delivered"),
        [
            "node a netns default/a: output out eth0",
            "node a netns default/a: postrouting out eth0",
            "node a: bridge-prerouting in vethA",
            "node a: bridge-forward in vethA out vethA2",
            "node a: bridge-postrouting out vethA2",
            "node a netns default/a2: prerouting in eth0",
            "node a netns default/a2: input in eth0",
        ]
    );
}

#[test]
fn bridge_nf_leaves_routed_traffic_to_the_ip_hooks() {
    // Pod to another node: the frame goes up to the bridge's own stack, not
    // to another port, so bridge-nf adds nothing.
    let with = cluster(BRIDGE_NF) + "probe from pod default/a to 10.244.2.2";
    let without = cluster("") + "probe from pod default/a to 10.244.2.2";
    assert_eq!(hooks(&with, "delivered"), hooks(&without, "delivered"));
}

#[test]
fn delivery_to_a_local_address_is_prerouting_then_input() {
    let text = cluster("") + "probe from dev a eth0 to 192.0.2.11";
    assert_eq!(
        hooks(&text, "delivered"),
        ["node a: prerouting in eth0", "node a: input in eth0"]
    );
}

#[test]
fn a_node_sending_to_itself_loops_back_through_every_local_hook() {
    let text = cluster("") + "probe from node a to 192.0.2.11";
    assert_eq!(
        hooks(&text, "delivered"),
        [
            "node a: output",
            "node a: postrouting",
            "node a: prerouting",
            "node a: input",
        ]
    );
}

#[test]
fn a_dropped_packet_stops_at_the_hook_before_the_drop() {
    // No route on node b for 10.244.9.9: dropped after node a forwarded it
    // and node b's PREROUTING ran.
    let text = cluster("route 10.244.9.0/24 via 10.244.2.0 dev flannel.1 onlink")
        + "probe from pod default/a to 10.244.9.9";
    let got = hooks(&text, "no-route");
    assert_eq!(got.last().unwrap(), "node b: prerouting in flannel.1");
}

#[test]
fn ipvs_real_servers_leave_through_output_not_forward() {
    let ipvs = "link kube-ipvs0 kind dummy\naddr 10.96.0.10/32 dev kube-ipvs0\nipvs tcp 10.96.0.10:80 -> 10.244.2.2:8080";
    let text = cluster(ipvs) + "probe from pod default/a to 10.96.0.10 tcp 80";
    let got = hooks(&text, "delivered");
    let at_node_a: Vec<&str> = got
        .iter()
        .filter(|l| l.starts_with("node a: "))
        .map(String::as_str)
        .take(5)
        .collect();
    assert_eq!(
        at_node_a,
        [
            "node a: prerouting in cni0",
            "node a: input in cni0",
            // The DNATed packet, as ip_vs_nat_xmit sends it.
            "node a: output out flannel.1",
            "node a: postrouting out flannel.1",
            "node a: output out eth0",
        ]
    );
}
