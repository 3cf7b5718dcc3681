//! What a node's rules do to a new connection to each Service port, found
//! by evaluating them, not by reading chain names: a TCP SYN (UDP, SCTP
//! datagram) from a pod on the node to ClusterIP:port is walked through
//! the node's nat PREROUTING (kube-proxy's KUBE-SERVICES in iptables mode,
//! the `service-ips` verdict map in nftables mode), then, when nothing
//! rewrote it, through FORWARD towards where the node routes the ClusterIP
//! (where both modes REJECT a Service without endpoints: iptables'
//! filter KUBE-SERVICES, nftables' `no-endpoint-services`). One answer per
//! port: the DNAT targets with their shares of new connections (a
//! `statistic` chain or `numgen` map splits the walk), a REJECT, or
//! nothing. So one evaluation serves iptables and nftables mode alike.
//!
//! IPVS mode DNATs in the IPVS module, not in netfilter: on a node with
//! IPVS virtual servers the Service checks leave the comparison to the
//! `ipvs-*` checks, which read ipvsadm's table (see [`NodeServices::ipvs`]).

use std::collections::BTreeSet;
use std::net::IpAddr;

use cnictl_dataplane::nf::{HookVerdict, NfPacket, RuleRef};
use cnictl_model::netfilter::Hook;
use cnictl_model::IpvsProto;

use super::nf::{self, NodeNf};
use super::{NodeCx, Out};
use crate::code::{Code, Input};
use crate::expected::ServicePortExpect;

/// A backend as the rules name it: (address, port).
pub(crate) type Backend = (IpAddr, u16);

/// The client port of the probe (any unprivileged port; kube-proxy's rules
/// do not match on it).
const PROBE_SPORT: u16 = 40_000;

/// One DNAT target of a Service port on a node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Target {
    pub backend: Backend,
    /// Its share of new connections (0..=1).
    pub share: f64,
    /// The rule that rewrote the destination (the last rewrite).
    pub rule: Option<RuleRef>,
}

/// What the node's rules do to new connections to one Service port.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Dispatch {
    /// DNAT targets with their shares of new connections, sorted.
    pub targets: Vec<Target>,
    /// The rule that rejects the connection ("has no endpoints").
    pub rejected: Option<RuleRef>,
    /// Share of new connections no rule rewrote or rejected.
    pub untouched: f64,
    /// Paths that ended at a drop or at a rule that cannot be evaluated:
    /// another component's decision, so what kube-proxy programmed is
    /// unknown for them.
    pub unclear: f64,
}

impl Dispatch {
    /// Whether the node's rules handle the port at all (DNAT or REJECT).
    pub fn handled(&self) -> bool {
        !self.targets.is_empty() || self.rejected.is_some()
    }

    /// Whether the whole answer is known: no path was dropped elsewhere or
    /// ended at a rule that cannot be evaluated.
    pub fn clear(&self) -> bool {
        self.unclear == 0.0
    }

    /// The backends the rules DNAT to.
    pub fn backends(&self) -> BTreeSet<Backend> {
        self.targets.iter().map(|t| t.backend).collect()
    }

    /// The target DNATing to `b`.
    pub fn target(&self, b: Backend) -> Option<&Target> {
        self.targets.iter().find(|t| t.backend == b)
    }
}

/// Every Service port's [`Dispatch`] on one node, in the order of
/// [`crate::expected::Expected::services`].
pub(crate) struct NodeServices {
    pub ports: Vec<Dispatch>,
    /// Whether the node's rules handle any Service port: kube-proxy runs
    /// there in a netfilter mode, so a port without a rule is a fault.
    pub kube_proxy_rules: bool,
}

impl NodeServices {
    /// `None` when the node has no netfilter dump, no Services were
    /// collected, or no pod address to probe from.
    pub fn new(cx: &NodeCx<'_>) -> Option<Self> {
        let nf = cx.nf()?;
        let svcs = cx.exp.services.as_ref()?;
        let ports: Vec<Dispatch> = svcs
            .iter()
            .map(|s| dispatch(cx, nf, s).unwrap_or_default())
            .collect();
        let kube_proxy_rules = ports.iter().any(Dispatch::handled);
        Some(NodeServices {
            ports,
            kube_proxy_rules,
        })
    }

    /// Whether the node runs kube-proxy in IPVS mode: virtual servers in
    /// its ipvsadm dump, or the dummy device IPVS mode binds the ClusterIPs
    /// to (`kube-ipvs0`, proxier.go `defaultDummyDevice`) when ipvsadm.txt
    /// was not collected. Its Services are the `ipvs-*` checks': the
    /// netfilter rules beside the IPVS table DNAT nothing.
    pub fn ipvs(cx: &NodeCx<'_>) -> bool {
        let table = cx.node.ipvs.as_ref().is_some_and(|v| !v.is_empty());
        table || cx.link("kube-ipvs0").is_some()
    }
}

/// The Service ports and what the node's rules do to each, for a Service
/// rule check; `None` after recording why the check cannot run (no
/// netfilter dump, no services.json, rules that handle no Service while
/// Services exist). An IPVS node returns `None` without a skip: its
/// Services are the `ipvs-*` checks' (they ran, nothing is missing).
pub(crate) fn input<'c, 'e>(
    cx: &'c NodeCx<'e>,
    code: Code,
    out: &mut Out,
) -> Option<(&'e [ServicePortExpect], &'c NodeServices)> {
    let node = cx.name();
    if NodeServices::ipvs(cx) {
        return None;
    }
    if cx.node.netfilter.is_none() {
        out.skip_missing(code, node, Input::Netfilter, nf::MISSING);
        return None;
    }
    let Some(svcs) = cx.exp.services.as_deref() else {
        let why = "no k8s/services.json: Service rule checks skipped";
        out.skip(code, Some(node), why.into());
        return None;
    };
    let ns = cx.services()?;
    if !ns.kube_proxy_rules && !svcs.is_empty() {
        let why = format!("{node}'s rules DNAT or reject no Service (kube-proxy not in iptables/nftables mode, or replaced?): Service rule checks skipped");
        out.skip(code, Some(node), why);
        return None;
    }
    Some((svcs, ns))
}

/// [`input`] for the checks that compare with the ready endpoints: also
/// skipped without EndpointSlices.
pub(crate) fn input_with_endpoints<'c, 'e>(
    cx: &'c NodeCx<'e>,
    code: Code,
    out: &mut Out,
) -> Option<(&'e [ServicePortExpect], &'c NodeServices)> {
    let got = input(cx, code, out)?;
    if !cx.exp.endpoint_slices_collected {
        let why = "no k8s/endpointslices.json: Service backend checks skipped";
        out.skip(code, Some(cx.name()), why.into());
        return None;
    }
    Some(got)
}

/// Records that `code` could not judge the node's ports whose walk ended
/// at a drop or at a rule cnictl cannot evaluate (session affinity's
/// `-m recent`, for one), instead of passing them silently.
pub(crate) fn skip_unclear(cx: &NodeCx<'_>, code: Code, ns: &NodeServices, out: &mut Out) {
    let n = ns.ports.iter().filter(|d| !d.clear()).count();
    if n > 0 {
        let node = cx.name();
        let why = format!("{node}: {n} Service port(s) reach a rule cnictl cannot evaluate (e.g. session affinity's -m recent) or a drop by another component: Service rule checks skipped for them");
        out.skip(code, Some(node), why);
    }
}

/// The IP protocol number of a Service port.
fn proto_num(p: IpvsProto) -> Option<u8> {
    match p {
        IpvsProto::Tcp => Some(6),
        IpvsProto::Udp => Some(17),
        IpvsProto::Sctp => Some(132),
        IpvsProto::Fwmark => None,
    }
}

/// The address a pod on this node sends from: a live pod's, else the
/// second address of the node's pod CIDR of the ClusterIP's family.
pub(crate) fn pod_source(cx: &NodeCx<'_>, family_of: IpAddr) -> Option<IpAddr> {
    let same = |ip: &IpAddr| ip.is_ipv4() == family_of.is_ipv4();
    let pods = cx.exp.pods_on(cx.name()).iter().filter(|p| !p.host_network);
    let pod_ip = pods.flat_map(|p| p.ips.iter()).find(|ip| same(ip));
    let from_cidr = || {
        let cidrs = cx.me?.pod_cidrs.iter().map(|c| c.net);
        cidrs
            .filter(|n| same(&n.addr()))
            .find_map(|n| n.hosts().nth(1))
    };
    pod_ip.copied().or_else(from_cidr)
}

/// What the rules do to a new connection from a pod on the node to `s`.
fn dispatch(cx: &NodeCx<'_>, nf: &NodeNf<'_>, s: &ServicePortExpect) -> Option<Dispatch> {
    let src = pod_source(cx, s.ip)?;
    let pkt = NfPacket::new(src, s.ip, proto_num(s.proto)?, PROBE_SPORT, s.port);
    let mut d = Dispatch::default();
    for path in nf.rules.eval_hook(Hook::Prerouting, &pkt, &nf.view, false) {
        let rewritten = (path.packet.dst, path.packet.dport) != (s.ip, s.port);
        match path.verdict {
            HookVerdict::Accept if rewritten => {
                let rule = path.rewrites.last().map(|r| r.rule);
                add_target(&mut d, path.packet, path.share, rule);
            }
            HookVerdict::Accept => forward(cx, nf, path.packet, path.share, &mut d),
            v => end(&mut d, v, path.share),
        }
    }
    d.targets.sort_by_key(|t| t.backend);
    Some(d)
}

fn add_target(d: &mut Dispatch, p: NfPacket, share: f64, rule: Option<RuleRef>) {
    let backend = (p.dst, p.dport);
    match d.targets.iter_mut().find(|t| t.backend == backend) {
        Some(t) => t.share += share,
        None => d.targets.push(Target {
            backend,
            share,
            rule,
        }),
    }
}

/// An untouched packet goes on to FORWARD, routed as the node routes the
/// ClusterIP: a Service without endpoints is rejected there.
fn forward(cx: &NodeCx<'_>, nf: &NodeNf<'_>, mut p: NfPacket, share: f64, d: &mut Dispatch) {
    p.oif = nf::dev_to(cx, p.dst).map(str::to_string);
    for path in nf.rules.eval_hook(Hook::Forward, &p, &nf.view, false) {
        match path.verdict {
            HookVerdict::Accept => d.untouched += share * path.share,
            v => end(d, v, share * path.share),
        }
    }
}

fn end(d: &mut Dispatch, v: HookVerdict, share: f64) {
    match v {
        HookVerdict::Reject(r, _) => d.rejected = Some(r),
        HookVerdict::Accept => d.untouched += share,
        HookVerdict::Drop(_) | HookVerdict::Unknown(..) => d.unclear += share,
    }
}

/// "1 of 3 new connections" when the share is a simple fraction of the
/// rules' endpoints, else a percentage.
pub(crate) fn share_text(share: f64, targets: usize) -> String {
    let n = targets.max(1);
    let k = share * n as f64;
    match (k - k.round()).abs() < 1e-6 && k.round() >= 1.0 {
        true => format!("{} of {n} new connections", k.round() as usize),
        false => format!("{:.1}% of new connections", share * 100.0),
    }
}

#[cfg(test)]
mod tests {
    use super::share_text;

    #[test]
    fn shares_as_fractions_or_percentages() {
        assert_eq!(share_text(1.0 / 3.0, 3), "1 of 3 new connections");
        assert_eq!(share_text(2.0 / 6.0, 6), "2 of 6 new connections");
        assert_eq!(share_text(0.25, 3), "25.0% of new connections");
    }
}
