//! The reply of a connection through a Service or a NodePort. It leaves the
//! backend towards the source the backend saw — the client, or the address
//! a MASQUERADE put in its place — and the node that translated the request
//! must see it, because only that node's conntrack can undo the
//! translation. A reply that never crosses that node reaches the client
//! from the backend's own address, and the client drops it: what a missing
//! kube-proxy masquerade does to NodePort traffic sent to another node.

use cnictl_dataplane::{Dataplane, Ingress, Packet};
use cnictl_model::ClusterSnapshot;

use super::{
    one_way, resolve, trace_opts, Backend, DropInfo, ExplainRequest, Explanation, Verdict,
};
use crate::code::Code;

/// The forward answer a reply belongs to.
pub(crate) struct Forward<'a> {
    pub ex: &'a Explanation,
    pub pkt: &'a Packet,
}

/// The way back from the backend that answers, through the translating
/// node; `Err` says why there is no reply to trace.
pub(crate) fn service_reverse(
    snap: &ClusterSnapshot,
    dp: &Dataplane,
    req: &ExplainRequest,
    fwd: Forward<'_>,
) -> Result<Explanation, String> {
    let b = answering(fwd.ex).ok_or("no backend was reached: there is no reply to trace")?;
    let from = resolve::endpoint_for_ip(dp, b.ip, b.ip.to_string());
    let ingress = resolve::ingress(&from)
        .ok_or_else(|| format!("backend {} is not a pod or node in the snapshot", b.ip))?;
    let wire = b.wire_src.unwrap_or((fwd.pkt.src, fwd.pkt.sport));
    let mut rpkt = *fwd.pkt;
    (rpkt.src, rpkt.sport, rpkt.dst, rpkt.dport) = (b.ip, b.port, wire.0, wire.1);
    let to = resolve::endpoint_for_ip(dp, wire.0, wire.0.to_string());
    let leg1 = one_way(
        snap,
        dp,
        (&from, &to),
        &rpkt,
        ingress,
        trace_opts(req, true),
    );
    let xnode = translating_node(fwd.ex);
    if wire.0 != fwd.pkt.src {
        let snat_node = snat_node(fwd.ex).unwrap_or_else(|| xnode.clone());
        return Ok(untranslate(snap, dp, req, &fwd, leg1, &snat_node));
    }
    Ok(check_crossing(leg1, &fwd, &xnode, b))
}

/// The backend whose reply is traced: the one the hops show when it was
/// reached, else the first one that was.
fn answering(ex: &Explanation) -> Option<&Backend> {
    let shown = ex.backends.iter().find(|b| b.verdict != Verdict::Delivered);
    let shown = shown.or(ex.backends.first());
    shown
        .filter(|b| b.verdict == Verdict::Delivered)
        .or_else(|| ex.backends.iter().find(|b| b.verdict == Verdict::Delivered))
}

/// The node whose rules DNATed the request (its conntrack holds the
/// mapping): the first DNAT hop's, else where the request started.
fn translating_node(ex: &Explanation) -> String {
    let dnat = ex
        .hops
        .iter()
        .find(|h| h.rewrite.as_deref().is_some_and(|r| r.starts_with("DNAT")));
    dnat.or(ex.hops.first())
        .map_or_else(String::new, |h| h.node.clone())
}

/// The node whose rule SNATed the request (the reply comes back to it):
/// the translating node itself for kube-proxy's masquerade, the client's
/// node for a CNI's or Docker's egress masquerade.
fn snat_node(ex: &Explanation) -> Option<String> {
    let snat = |r: &str| r.starts_with("MASQUERADE") || r.starts_with("SNAT");
    let hop = ex
        .hops
        .iter()
        .find(|h| h.rewrite.as_deref().is_some_and(snat));
    hop.map(|h| h.node.clone())
}

/// The request was SNATed to an address of the translating node: the reply
/// arrives there, conntrack undoes both translations, and the reply goes on
/// from the device it came in by as (Service address → client).
fn untranslate(
    snap: &ClusterSnapshot,
    dp: &Dataplane,
    req: &ExplainRequest,
    fwd: &Forward<'_>,
    leg1: Explanation,
    xnode: &str,
) -> Explanation {
    let Some(entry) = arrival(dp, &leg1, xnode) else {
        return leg1;
    };
    let mut p = *fwd.pkt;
    (p.src, p.sport, p.dst, p.dport) = (fwd.pkt.dst, fwd.pkt.dport, fwd.pkt.src, fwd.pkt.sport);
    let svc = fwd.ex.dst.clone();
    let leg2 = one_way(
        snap,
        dp,
        (&svc, &fwd.ex.src),
        &p,
        entry,
        trace_opts(req, true),
    );
    let note = format!(
        "conntrack on {xnode} undoes the request's NAT: the reply to {} goes on from {} to {}",
        leg1.packet.dst, p.src, p.dst
    );
    join(leg1, leg2, note)
}

/// Where a reply delivered to the translating node's own stack came in.
fn arrival(dp: &Dataplane, leg: &Explanation, xnode: &str) -> Option<Ingress> {
    let last = leg.hops.last()?;
    let home = leg.verdict == Verdict::Delivered && last.node == xnode && last.netns.is_none();
    let node = dp.node_id(xnode).filter(|_| home)?;
    match &last.in_dev {
        Some(dev) => dp.device(dp.root_ns(node), dev),
        None => Some(Ingress::Node(node)),
    }
}

/// The two legs as one answer: the second's hops, hooks and verdict follow
/// the first's.
fn join(mut a: Explanation, b: Explanation, note: String) -> Explanation {
    let base = a.hops.len();
    if let Some(last) = a.hops.last_mut() {
        last.kind = "conntrack".into();
        last.entry = note.clone();
    }
    a.hops.extend(b.hops.into_iter().map(|mut h| {
        h.index += base;
        h
    }));
    a.netfilter.extend(b.netfilter.into_iter().map(|mut h| {
        h.after_hop += base;
        h
    }));
    (a.verdict, a.disposition, a.egress) = (b.verdict, b.disposition, b.egress);
    a.drop = b.drop.map(|mut d| {
        d.hop += base;
        d
    });
    a.unknown = b.unknown.map(|mut u| {
        u.hop += base;
        u
    });
    a.notes.push(note);
    a.notes.extend(b.notes);
    a
}

/// An untranslated request: the reply must still cross the translating
/// node (the client's own node for a pod, the entry node for a NodePort);
/// one that does not arrives from the wrong address.
fn check_crossing(
    mut leg: Explanation,
    fwd: &Forward<'_>,
    xnode: &str,
    b: &Backend,
) -> Explanation {
    if leg.verdict != Verdict::Delivered || leg.hops.iter().any(|h| h.node == xnode) {
        return leg;
    }
    let reason = format!(
        "the reply reaches {} without crossing {xnode}, whose conntrack holds the request's DNAT: it comes from {}:{} instead of {}:{}, and the client drops it (the request was not masqueraded to {xnode})",
        fwd.pkt.src, b.ip, b.port, fwd.pkt.dst, fwd.pkt.dport
    );
    leg.verdict = Verdict::Dropped;
    leg.disposition = "nat-bypassed".into();
    leg.drop = Some(DropInfo {
        hop: leg.hops.len(),
        // The node whose missing masquerade is the fault.
        node: xnode.to_string(),
        disposition: "nat-bypassed".into(),
        reason,
        code: Some(Code::MasqueradeMissing),
        hint: Code::MasqueradeMissing.hint().into(),
        finding: None,
        root_cause: None,
    });
    leg
}
