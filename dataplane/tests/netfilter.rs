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

// ---- The rules' verdicts on the path ----------------------------------

/// Flannel's FORWARD accepts for the cluster CIDR, as flanneld writes them
/// (FLANNEL-FWD), under a FORWARD policy of DROP (what Docker sets).
const FLANNEL_FWD: &str = "
iptables *filter
iptables :INPUT ACCEPT [0:0]
iptables :FORWARD DROP [0:0]
iptables :OUTPUT ACCEPT [0:0]
iptables :FLANNEL-FWD - [0:0]
iptables -A FORWARD -m comment --comment \"flanneld forward\" -j FLANNEL-FWD
iptables -A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment \"flanneld forward\" -j ACCEPT
iptables -A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment \"flanneld forward\" -j ACCEPT
iptables COMMIT
";

/// FORWARD policy DROP and nothing accepting pod traffic.
const FORWARD_DROP: &str = "
iptables *filter
iptables :INPUT ACCEPT [0:0]
iptables :FORWARD DROP [0:0]
iptables :OUTPUT ACCEPT [0:0]
iptables COMMIT
";

/// Node b's INPUT drops VXLAN from anywhere.
const BLOCK_VXLAN: &str = "
iptables *filter
iptables :INPUT ACCEPT [0:0]
iptables :FORWARD ACCEPT [0:0]
iptables :OUTPUT ACCEPT [0:0]
iptables -A INPUT -p udp -m udp --dport 8472 -j DROP
iptables COMMIT
";

/// `cluster` with `a_rules` on node a and `b_rules` on node b.
fn with_rules(a_rules: &str, b_rules: &str) -> String {
    let text = cluster(a_rules);
    let (a, b) = text.split_once("\nnode b\n").unwrap();
    format!("{a}\nnode b\n{b_rules}\n{b}")
}

#[test]
fn forward_policy_drop_drops_pod_traffic_and_names_the_policy() {
    let text = with_rules(FORWARD_DROP, "") + "probe from pod default/a to 10.244.2.2";
    common::check(
        &text,
        "netfilter-drop",
        &["a netfilter: ip filter FORWARD policy DROP"],
    );
}

#[test]
fn flannel_forward_accepts_pass_a_forward_drop_policy() {
    let text = with_rules(FLANNEL_FWD, FLANNEL_FWD) + "probe from pod default/a to 10.244.2.2";
    common::check(&text, "delivered", &["b route", "deliver"]);
}

#[test]
fn a_firewall_on_the_vxlan_port_drops_the_outer_packet_on_the_receiver() {
    let text = with_rules("", BLOCK_VXLAN) + "probe from pod default/a to 10.244.2.2";
    common::check(
        &text,
        "netfilter-drop",
        &[
            "vxlan-encap",
            "b netfilter: ip filter INPUT #1: -A INPUT -p udp -m udp --dport 8472 -j DROP",
        ],
    );
}

#[test]
fn the_nodes_own_traffic_to_another_port_passes_the_vxlan_block() {
    let text = with_rules("", BLOCK_VXLAN) + "probe from node a to 192.0.2.12 udp 53";
    common::check(&text, "delivered", &["deliver"]);
}

#[test]
fn a_reject_rule_is_a_netfilter_reject() {
    let rules = "
iptables *filter
iptables :FORWARD ACCEPT [0:0]
iptables -A FORWARD -d 10.244.2.2/32 -p tcp -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable
iptables COMMIT
";
    let tcp80 = with_rules(rules, "") + "probe from pod default/a to 10.244.2.2 tcp 80";
    common::check(
        &tcp80,
        "netfilter-reject",
        &["#1: -A FORWARD -d 10.244.2.2/32"],
    );
    let tcp81 = with_rules(rules, "") + "probe from pod default/a to 10.244.2.2 tcp 81";
    common::check(&tcp81, "delivered", &["deliver"]);
}

#[test]
fn dnat_at_prerouting_changes_the_route() {
    // 10.96.0.10:80 is DNATed on node a to pod b; without the rule the
    // packet would leave by the default route (there is none: no-route).
    let rules = "
iptables *nat
iptables :PREROUTING ACCEPT [0:0]
iptables :POSTROUTING ACCEPT [0:0]
iptables -A PREROUTING -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.2.2:8080
iptables COMMIT
";
    let text = with_rules(rules, "") + "probe from pod default/a to 10.96.0.10 tcp 80";
    common::check(
        &text,
        "delivered",
        &[
            "a netfilter: ip nat PREROUTING #1",
            "DNAT → 10.244.2.2:8080",
            "vxlan-encap",
            "b route",
            "deliver",
        ],
    );
}

#[test]
fn masquerade_rewrites_the_source_to_the_out_devices_address() {
    let rules = "
iptables *nat
iptables :POSTROUTING ACCEPT [0:0]
iptables -A POSTROUTING -s 10.244.1.0/24 ! -d 10.244.0.0/16 -j MASQUERADE
iptables COMMIT
";
    let fx = common::parse(&(with_rules(rules, "") + "probe from pod default/a to 192.0.2.12"));
    let dp = Dataplane::with_hints(&fx.snap, &fx.hints);
    let (pkt, ing) = common::probe_input(&dp, &fx.snap, &fx.probes[0]);
    let trace = dp.trace(&pkt, ing);
    let out = common::render(&dp, &trace);
    assert_eq!(trace.disposition.as_str(), "delivered", "{out}");
    assert!(out.contains("MASQUERADE: source"), "{out}");
    // Node b sees node a's address as the source: its reply would go
    // straight back to node a, which is what masquerade is for.
    let hop = dp.render_hop(
        trace
            .hops
            .iter()
            .find(|h| matches!(h.step, cnictl_dataplane::Step::Netfilter { .. }))
            .unwrap(),
    );
    let nf = hop.netfilter.unwrap();
    assert_eq!(
        (nf.table.as_str(), nf.chain.as_str(), nf.action),
        ("nat", "POSTROUTING", "masquerade")
    );
    assert_eq!(nf.position, Some(1));
}

#[test]
fn bridged_pods_meet_forward_only_with_bridge_nf_call_iptables() {
    let rules = "
iptables *filter
iptables :FORWARD ACCEPT [0:0]
iptables -A FORWARD -m physdev --physdev-in vethA --physdev-out vethA2 -j DROP
iptables COMMIT
";
    let on =
        with_rules(&format!("{BRIDGE_NF}\n{rules}"), "") + "probe from pod default/a to 10.244.1.3";
    common::check(
        &on,
        "netfilter-drop",
        &["a netfilter: ip filter FORWARD #1: -A FORWARD -m physdev"],
    );
    let off = with_rules(rules, "") + "probe from pod default/a to 10.244.1.3";
    common::check(&off, "delivered", &["deliver"]);
}

#[test]
fn a_rule_that_cannot_be_evaluated_makes_the_verdict_unknown_and_names_it() {
    let rules = "
iptables *filter
iptables :FORWARD ACCEPT [0:0]
iptables -A FORWARD -m bpf --bytecode \"4,48 0 0 9,21 0 1 6,6 0 0 1,6 0 0 0\" -j DROP
iptables COMMIT
";
    let fx = common::parse(&(with_rules(rules, "") + "probe from pod default/a to 10.244.2.2"));
    let dp = Dataplane::with_hints(&fx.snap, &fx.hints);
    let (pkt, ing) = common::probe_input(&dp, &fx.snap, &fx.probes[0]);
    let trace = dp.trace(&pkt, ing);
    assert_eq!(
        trace.disposition.as_str(),
        "unknown",
        "{}",
        common::render(&dp, &trace)
    );
    assert!(
        trace.notes.iter().any(|n| n.contains("-m bpf")),
        "the note names the rule: {:?}",
        trace.notes
    );
}

#[test]
fn a_legacy_rule_drops_even_when_the_nft_backend_accepts() {
    let text = with_rules(
        &format!(
            "{FLANNEL_FWD}
iptables-legacy *filter
iptables-legacy :FORWARD ACCEPT [0:0]
iptables-legacy -A FORWARD -d 10.244.2.2/32 -j DROP
iptables-legacy COMMIT
"
        ),
        "",
    ) + "probe from pod default/a to 10.244.2.2";
    common::check(
        &text,
        "netfilter-drop",
        &["a netfilter: ip filter FORWARD #1: -A FORWARD -d 10.244.2.2/32 -j DROP"],
    );
}

#[test]
fn the_reply_of_a_connection_is_established() {
    // Node b forwards only established traffic: the first packet of a's
    // connection is dropped there, the reply direction (as `--reverse`
    // traces it) is not.
    let rules = "
iptables *filter
iptables :FORWARD DROP [0:0]
iptables -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
iptables COMMIT
";
    let fx = common::parse(&(with_rules("", rules) + "probe from pod default/a to 10.244.2.2"));
    let dp = Dataplane::with_hints(&fx.snap, &fx.hints);
    let (pkt, ing) = common::probe_input(&dp, &fx.snap, &fx.probes[0]);
    let first = dp.trace(&pkt, ing);
    assert_eq!(first.disposition.as_str(), "netfilter-drop");
    let opts = cnictl_dataplane::TraceOptions {
        reply: true,
        ..Default::default()
    };
    let reply = dp.trace_with(&pkt, ing, opts);
    assert_eq!(
        reply.disposition.as_str(),
        "delivered",
        "{}",
        common::render(&dp, &reply)
    );
}

#[test]
fn a_statistic_split_is_one_branch_per_endpoint_with_its_share() {
    let rules = "
iptables *nat
iptables :PREROUTING ACCEPT [0:0]
iptables :SVC - [0:0]
iptables -A PREROUTING -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j SVC
iptables -A SVC -m statistic --mode random --probability 0.50000000000 -j DNAT --to-destination 10.244.2.2:8080
iptables -A SVC -j DNAT --to-destination 10.244.1.3:8080
iptables COMMIT
";
    let fx =
        common::parse(&(with_rules(rules, "") + "probe from pod default/a to 10.96.0.10 tcp 80"));
    let dp = Dataplane::with_hints(&fx.snap, &fx.hints);
    let (pkt, ing) = common::probe_input(&dp, &fx.snap, &fx.probes[0]);
    let trace = dp.trace(&pkt, ing);
    let out = common::render(&dp, &trace);
    assert_eq!(trace.disposition.as_str(), "delivered", "{out}");
    let shares: Vec<_> = trace.branches.iter().map(|b| b.share_ppm).collect();
    assert_eq!(shares, [Some(500_000), Some(500_000)], "{out}");
    for ip in ["10.244.2.2:8080", "10.244.1.3:8080"] {
        let b = trace
            .branches
            .iter()
            .find(|b| common::render(&dp, &b.trace).contains(&format!("DNAT → {ip}")))
            .unwrap_or_else(|| panic!("a branch to {ip}: {out}"));
        assert_eq!(b.trace.disposition.as_str(), "delivered");
    }
}

#[test]
fn verbose_traces_list_every_rule_evaluated() {
    let text = with_rules(FLANNEL_FWD, "") + "probe from pod default/a to 10.244.2.2";
    let fx = common::parse(&text);
    let dp = Dataplane::with_hints(&fx.snap, &fx.hints);
    let (pkt, ing) = common::probe_input(&dp, &fx.snap, &fx.probes[0]);
    let opts = cnictl_dataplane::TraceOptions {
        rules: true,
        ..Default::default()
    };
    let trace = dp.trace_with(&pkt, ing, opts);
    let forward = trace
        .netfilter
        .iter()
        .find(|e| {
            e.hook.as_str() == "forward" && e.evaluated.as_ref().is_some_and(|v| !v.is_empty())
        })
        .expect("node a's FORWARD was evaluated");
    let rules: Vec<_> = forward
        .evaluated
        .as_ref()
        .unwrap()
        .iter()
        .map(|v| {
            let r = dp.nf_rule_text(forward.ns, v.rule).unwrap();
            (r.chain, r.position, v.matched)
        })
        .collect();
    assert_eq!(
        rules,
        [
            ("FORWARD".to_string(), Some(1), Some(true)),
            ("FLANNEL-FWD".to_string(), Some(1), Some(true)),
        ]
    );
    // Node b's rules were not collected: its hooks say so.
    assert!(trace
        .netfilter
        .iter()
        .any(|e| dp.ns_label(e.ns) == "node b" && e.evaluated.is_none()));
}
