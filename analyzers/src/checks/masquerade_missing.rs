//! Check: masquerade-missing
//!
//! Two masquerades whose absence breaks replies, both found by evaluating
//! each node's netfilter rules (any mode, any backend), not by chain name:
//!
//! - kube-proxy's: a connection from the node itself (its node IP, outside
//!   the cluster CIDR) to a ClusterIP is DNATed and marked for masquerade
//!   in nat OUTPUT (iptables KUBE-MARK-MASQ, nftables `mark-for-masquerade`,
//!   mark 0x4000 by default, whatever the node's rules set is used); in
//!   POSTROUTING the marked packet must be SNATed (KUBE-POSTROUTING /
//!   `masquerading`). When a rule marks it and none SNATs it, every marked
//!   connection is un-NATed: NodePort and external traffic sent to another
//!   node's endpoint (the endpoint replies straight to the client, past
//!   the reverse DNAT) and hairpin connections fail. The node's own
//!   connection is only the probe that shows the rules.
//! - the CNI's egress masquerade: a packet from a pod on the node to an
//!   address outside the cluster, routed by the node's default route, is
//!   SNATed in POSTROUTING where the CNI masquerades (Flannel `--ip-masq`
//!   FLANNEL-POSTRTG, Calico natOutgoing cali-nat-outgoing). Whether it
//!   should is a cluster setting, so a node is flagged when it does not
//!   while its peers do.
//!
//! Error: replies to the un-NATed connections cannot return. A node check
//! on the node's shared compiled ruleset: the kube-proxy part is decided
//! per node; the egress part records each node's answer, compared once
//! every node is checked ([`compare`], in `checks::run`; a node checked
//! alone has no peers). Nodes without a netfilter dump are skipped.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use cnictl_dataplane::nf::{HookPath, HookVerdict, NfPacket, RuleRef, Ruleset};
use cnictl_model::netfilter::{Expr, Hook, Stmt};

use super::nf::{self, NodeNf};
use super::{svcview, NodeCx, Out};
use crate::code::{Code, Input};
use crate::finding::Severity;
use crate::infer::CniModel;

pub(crate) const CODE: Code = Code::MasqueradeMissing;

/// An address outside any cluster (TEST-NET-2, RFC 5737) for the egress
/// probe.
const OUTSIDE: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10));
const PROBE_SPORT: u16 = 40_001;

/// What one probe found: the packet as it left POSTROUTING, and whether a
/// rule SNATed it (with that rule, as evidence).
#[derive(Debug, Clone)]
struct Probe {
    what: String,
    snat: Option<String>,
}

/// One node's pod-egress answer, compared across nodes by [`compare`].
#[derive(Debug)]
pub(crate) struct Egress {
    node: String,
    /// Compared only with peers of the same CNI model (a mixed cluster is
    /// cni-model-mixed's).
    model: CniModel,
    probe: Probe,
}

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    let node = cx.name();
    let Some(nf) = cx.nf() else {
        return out.skip_missing(CODE, node, Input::Netfilter, nf::MISSING);
    };
    if let Some(p) = kube_probe(cx, nf).filter(|p| p.snat.is_none()) {
        kube_finding(node, &p, out);
    }
    if let Some(probe) = egress_probe(cx, nf) {
        let node = node.to_string();
        let model = cx.model;
        out.egress.push(Egress { node, model, probe });
    }
}

/// Flags the nodes whose pod egress leaves un-NATed while a peer's is
/// SNATed; consumes the recorded answers.
pub(crate) fn compare(out: &mut Out) {
    let all = std::mem::take(&mut out.egress);
    let mut snat: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in all.iter().filter(|e| e.probe.snat.is_some()) {
        snat.entry(e.model.as_str()).or_default().push(&e.node);
    }
    snat.values_mut().for_each(|v| v.sort_unstable());
    for e in all.iter().filter(|e| e.probe.snat.is_none()) {
        if let Some(peers) = snat.get(e.model.as_str()) {
            egress_finding(&e.node, &e.probe, peers, out);
        }
    }
}

/// The node's own connection to the first Service its rules DNAT to
/// another host and mark for masquerade, then POSTROUTING.
fn kube_probe(cx: &NodeCx<'_>, nf: &NodeNf<'_>) -> Option<Probe> {
    let src = cx.me?.ip()?;
    let svcs = cx.exp.services.as_deref()?;
    let tcp = svcs
        .iter()
        .filter(|s| s.proto == cnictl_model::IpvsProto::Tcp);
    let (s, marked) = tcp
        .filter(|s| s.ip.is_ipv4() == src.is_ipv4())
        .find_map(|s| {
            let p = NfPacket::new(src, s.ip, 6, PROBE_SPORT, s.port);
            Some((s, marked_dnat(cx, nf, p)?))
        })?;
    let why = format!(
        "from {} to {}, DNATed and marked {:#x} in nat OUTPUT",
        cx.name(),
        s.describe(),
        marked.mark
    );
    postrouting(cx, nf, marked, &why)
}

/// The packet after nat OUTPUT when a rule DNATed it to an address not
/// on this node (a local endpoint never leaves through POSTROUTING's
/// out device) and set a mark.
fn marked_dnat(cx: &NodeCx<'_>, nf: &NodeNf<'_>, mut p: NfPacket) -> Option<NfPacket> {
    p.oif = nf::dev_to(cx, p.dst).map(str::to_string);
    let (dst, dport) = (p.dst, p.dport);
    let paths = nf.rules.eval_hook(Hook::Output, &p, &nf.view, false);
    let ok = |h: &HookPath| h.verdict == HookVerdict::Accept;
    let remote = |h: &HookPath| !cx.node.addrs.iter().any(|a| a.addr.addr() == h.packet.dst);
    let rewritten = |h: &HookPath| (h.packet.dst, h.packet.dport) != (dst, dport);
    let dnat = paths
        .into_iter()
        .find(|h| ok(h) && rewritten(h) && remote(h))?;
    (dnat.packet.mark != 0).then_some(dnat.packet)
}

/// A pod's packet to an outside address, through PREROUTING then
/// POSTROUTING out of the default route's device.
fn egress_probe(cx: &NodeCx<'_>, nf: &NodeNf<'_>) -> Option<Probe> {
    let src = svcview::pod_source(cx, OUTSIDE)?;
    nf::dev_to(cx, OUTSIDE)?;
    let p = NfPacket::new(src, OUTSIDE, 6, PROBE_SPORT, 443);
    let paths = nf.rules.eval_hook(Hook::Prerouting, &p, &nf.view, false);
    let [path] = paths.as_slice() else {
        return None;
    };
    let ok = path.verdict == HookVerdict::Accept && path.packet.dst == OUTSIDE;
    ok.then(|| postrouting(cx, nf, path.packet.clone(), "pod egress"))?
}

/// POSTROUTING for `p`: SNATed when every accepted path went through an
/// SNAT or MASQUERADE; `None` when a path was dropped or not evaluable.
fn postrouting(cx: &NodeCx<'_>, nf: &NodeNf<'_>, mut p: NfPacket, why: &str) -> Option<Probe> {
    p.oif = nf::dev_to(cx, p.dst).map(str::to_string);
    let what = format!(
        "{why}: {} {}:{} -> {}:{} out {}",
        proto(&p),
        p.src,
        p.sport,
        p.dst,
        p.dport,
        p.oif.as_deref().unwrap_or("?")
    );
    let paths = nf.rules.eval_hook(Hook::Postrouting, &p, &nf.view, false);
    if paths.iter().any(|h| h.verdict != HookVerdict::Accept) {
        return None;
    }
    let snats: Vec<Option<RuleRef>> = paths.iter().map(|h| snat_rule(&nf.rules, h)).collect();
    let snat = match snats.iter().all(Option::is_some) {
        true => snats
            .first()
            .copied()
            .flatten()
            .map(|r| nf::rule_line(&nf.rules, r)),
        false => None,
    };
    Some(Probe { what, snat })
}

fn proto(p: &NfPacket) -> &'static str {
    match p.proto {
        6 => "tcp",
        17 => "udp",
        _ => "ip",
    }
}

/// The rule that SNATed or masqueraded the path, if any.
fn snat_rule(rs: &Ruleset, h: &HookPath) -> Option<RuleRef> {
    let is_snat = |e: &Expr| matches!(e, Expr::Stmt(Stmt::Snat(_) | Stmt::Masquerade { .. }));
    h.rewrites.iter().map(|w| w.rule).find(|r| {
        let rule = r.rule.map(|i| rs.rule(r.chain, i as usize));
        rule.is_some_and(|rule| rule.exprs.iter().any(is_snat))
    })
}

fn kube_finding(node: &str, p: &Probe, out: &mut Out) {
    let summary = format!("{node}'s rules mark Service traffic for masquerade but no rule in POSTROUTING SNATs it: NodePort and external connections sent to another node's endpoint, and hairpin connections, get replies that bypass the reverse DNAT and fail");
    let evidence = vec![
        p.what.clone(),
        "nat POSTROUTING: no SNAT/MASQUERADE matched the marked packet".into(),
    ];
    let hint = format!(
        "restart kube-proxy on {node} to rewrite KUBE-POSTROUTING (iptables: `-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully` after the mark test) or its nftables `masquerading` chain"
    );
    out.push(CODE, Severity::Error, Some(node), summary, evidence, hint);
}

fn egress_finding(node: &str, p: &Probe, peers: &[&str], out: &mut Out) {
    let summary = format!("pod egress from {node} to outside the cluster leaves un-NATed, while {} SNAT it: replies cannot return", peers.join(", "));
    let evidence = vec![
        p.what.clone(),
        format!("nat POSTROUTING on {node}: no SNAT/MASQUERADE matched"),
        format!("SNATed on: {}", peers.join(", ")),
    ];
    let hint = format!(
        "restore the CNI's masquerade on {node}: restart flanneld (--ip-masq writes FLANNEL-POSTRTG) or calico-node (natOutgoing: cali-nat-outgoing)"
    );
    out.push(CODE, Severity::Error, Some(node), summary, evidence, hint);
}
