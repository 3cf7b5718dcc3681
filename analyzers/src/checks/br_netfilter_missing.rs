//! Check: br-netfilter-missing
//!
//! A pod that reaches a Service whose chosen endpoint sits on the same
//! bridge (flannel's and the bridge plugin's cni0) sends its packet through
//! the bridge, not the IP stack: kube-proxy's DNAT (PREROUTING, in iptables
//! or nftables) sees it only when br_netfilter hands bridged packets to the
//! IP hooks, i.e. `net.bridge.bridge-nf-call-iptables = 1`. Off, the reply
//! comes straight from the endpoint's IP, the client drops it, and
//! same-node Service traffic fails. A node with pod veths enslaved to a
//! bridge and Service NAT rules (kube-proxy's `KUBE-SERVICES` in `nat`, or
//! its native `kube-proxy` nftables table) whose sysctl is 0 or absent:
//! warning. In a network namespace `/proc/sys/net/bridge` exists only once
//! br_netfilter is loaded, so an absent key means off. Skipped without
//! netfilter dumps or sysctl.txt.

use cnictl_model::netfilter::{Backend, Family, Table};
use cnictl_model::Link;

use super::{nf, render, NodeCx, Out};
use crate::code::{Code, Input};
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::BrNetfilterMissing;
const KEY: &str = "net.bridge.bridge-nf-call-iptables";

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    let node = cx.name();
    let Some(netfilter) = &cx.node.netfilter else {
        out.skip_missing(CODE, node, Input::Netfilter, nf::MISSING);
        return;
    };
    if cx.node.sysctls.is_none() {
        out.skip_missing(CODE, node, Input::Sysctl, "br_netfilter check");
        return;
    }
    let value = cx.node.sysctl(KEY).map(str::trim);
    if value == Some("1") {
        return;
    }
    let bridges = pod_bridges(cx);
    let nat = service_nat(&netfilter.tables);
    if let (Some(bridge), Some(nat)) = (bridges.first(), nat) {
        missing(cx, bridge, nat, value, out);
    }
}

/// A bridge and the pod veths enslaved to it.
struct PodBridge<'a> {
    bridge: &'a Link,
    veths: Vec<&'a str>,
}

/// Bridges with at least one veth port, by name.
fn pod_bridges<'a>(cx: &NodeCx<'a>) -> Vec<PodBridge<'a>> {
    let mut out: Vec<PodBridge<'a>> = cx
        .node
        .links
        .iter()
        .filter(|l| l.is_kind("bridge"))
        .map(|b| PodBridge {
            bridge: b,
            veths: veths_of(cx, &b.name),
        })
        .filter(|pb| !pb.veths.is_empty())
        .collect();
    out.sort_by(|a, b| a.bridge.name.cmp(&b.bridge.name));
    out
}

fn veths_of<'a>(cx: &NodeCx<'a>, bridge: &str) -> Vec<&'a str> {
    let mut v: Vec<&str> = cx
        .node
        .links
        .iter()
        .filter(|l| l.is_kind("veth") && l.master.as_deref() == Some(bridge))
        .map(|l| l.name.as_str())
        .collect();
    v.sort_unstable();
    v
}

/// Where kube-proxy's Service NAT lives, as evidence: its
/// `KUBE-SERVICES` chain in an IPv4 `nat` table (iptables mode), or its
/// native `kube-proxy` table (nftables mode).
fn service_nat(tables: &[Table]) -> Option<String> {
    let v4 = |t: &&Table| matches!(t.family, Family::Ip | Family::Inet);
    tables.iter().filter(v4).find_map(|t| {
        let iptables = t.name == "nat" && t.backend != Backend::Nftables;
        let nft = t.name == "kube-proxy" && t.backend == Backend::Nftables;
        let chain = match (iptables, nft) {
            (true, _) => t.chains.iter().find(|c| c.name == "KUBE-SERVICES")?,
            (_, true) => t.chains.iter().find(|c| !c.rules.is_empty())?,
            _ => return None,
        };
        let first = chain.rules.first()?;
        Some(format!(
            "{} {} {}: {} rule(s), first: {} ({})",
            nf::family(t.family),
            t.name,
            chain.name,
            chain.rules.len(),
            first.text,
            t.source.file()
        ))
    })
}

fn missing(cx: &NodeCx<'_>, b: &PodBridge<'_>, nat: String, value: Option<&str>, out: &mut Out) {
    let node = cx.name();
    let name = &b.bridge.name;
    let state = match value {
        Some(v) => format!("{KEY} = {v}"),
        None => format!("{KEY} absent"),
    };
    let summary = format!(
        "{node} bridges pods on {name} and has Service NAT rules, but {state}: Service traffic between pods on {name} bypasses the NAT"
    );
    let mut evidence = vec![
        render::link(b.bridge),
        format!(
            "{name} ports: {}",
            render::capped(b.veths.iter().map(|s| s.to_string()).collect(), 8).join(" ")
        ),
        nat,
    ];
    evidence.push(match value {
        Some(v) => render::sysctl(KEY, v),
        None => format!("{KEY} absent from sysctl.txt: in a network namespace /proc/sys/net/bridge exists only once br_netfilter is loaded, so it is off"),
    });
    let hint = format!(
        "on {node}: modprobe br_netfilter && sysctl -w {KEY}=1, and persist both (/etc/modules-load.d/br_netfilter.conf, /etc/sysctl.d/)"
    );
    out.push(CODE, Severity::Warning, Some(node), summary, evidence, hint);
}

#[cfg(test)]
mod tests {
    use cnictl_gen::GenModel;
    use cnictl_model::netfilter::Source;
    use cnictl_model::ClusterSnapshot;

    use super::{CODE, KEY};
    use crate::checks::nftest::*;

    /// node-1 with kube-proxy's Service NAT (the captured dump) and the
    /// sysctl set to `value` (`None`: absent).
    fn node1(model: GenModel, value: Option<&str>) -> ClusterSnapshot {
        let mut snap = cluster(model);
        let text = formats_dump("iptables-save-nft.txt");
        set_rules(&mut snap, "node-1", &[(Source::IptablesSave, &text)]);
        let sys = snap
            .nodes
            .get_mut("node-1")
            .unwrap()
            .sysctls
            .as_mut()
            .unwrap();
        if let Some(v) = value {
            sys.insert(KEY.to_string(), v.to_string());
        }
        snap
    }

    #[test]
    fn bridged_pods_and_service_nat_without_the_key_is_a_finding() {
        let f = findings(&node1(GenModel::FlannelVxlan, None), CODE);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].summary, "node-1 bridges pods on cni0 and has Service NAT rules, but net.bridge.bridge-nf-call-iptables absent: Service traffic between pods on cni0 bypasses the NAT");
        assert_eq!(f[0].evidence[1], "cni0 ports: veth00000000 veth00000001");
        assert!(
            f[0].evidence[2].starts_with(
                "ip nat KUBE-SERVICES: 2 rule(s), first: -A KUBE-SERVICES -d 10.96.0.10/32"
            ),
            "{}",
            f[0].evidence[2]
        );
        assert!(f[0].evidence[3].contains("exists only once br_netfilter is loaded"));
    }

    #[test]
    fn zero_is_a_finding_and_one_is_not() {
        let f = findings(&node1(GenModel::FlannelVxlan, Some("0")), CODE);
        assert_eq!(f[0].evidence[3], "net.bridge.bridge-nf-call-iptables = 0");
        assert!(findings(&node1(GenModel::FlannelVxlan, Some("1")), CODE).is_empty());
    }

    #[test]
    fn routed_pods_need_no_bridge_netfilter() {
        assert!(findings(&node1(GenModel::CalicoIpip, None), CODE).is_empty());
    }

    #[test]
    fn no_service_nat_no_finding() {
        let mut snap = cluster(GenModel::FlannelVxlan);
        rules_everywhere(&mut snap, "flannel-fwd");
        assert!(findings(&snap, CODE).is_empty());
    }
}
