//! A Service's answer: one backend per IPVS real server or netfilter
//! split (kube-proxy's `statistic` / `numgen` rules), each traced to its
//! end with its share of new connections; or, where the source node's
//! rules were not collected, the Service's ready EndpointSlice endpoints.

use std::net::IpAddr;

use cnictl_dataplane::{Disposition, Ingress, Packet, Trace};

use super::codes::{self, Cx};
use super::{hops_json, netfilter, resolve, Backend, DropInfo, Explanation, HopJson, Verdict};
use crate::code::Code;

/// A Service through IPVS, or a netfilter split (kube-proxy's statistic
/// rules): every real server or endpoint is a backend; `hops` continues
/// with the first failing backend (or the first one) so it reads as one path.
pub(super) fn finish_service(cx: &Cx<'_>, trace: &Trace, ex: &mut Explanation) {
    let items = trace
        .branches
        .iter()
        .map(|b| match b.to {
            Some((ip, port)) => (ip, port, &b.trace),
            None => {
                let real = &cx.dp.virtual_services(b.ns)[b.vs as usize].reals[b.real as usize];
                (real.ip, real.port, &b.trace)
            }
        })
        .collect();
    add_backends(cx, ex, items, trace.hops.len());
    for (b, branch) in ex.backends.iter_mut().zip(&trace.branches) {
        b.share = branch.share_ppm.map(|p| f64::from(p) / 1e6);
    }
    for b in &trace.branches {
        ex.netfilter.extend(netfilter::hooks_json(
            cx.dp,
            &b.trace,
            trace.hops.len(),
            cx.opts.rules,
        ));
        ex.notes.extend(b.trace.notes.iter().cloned());
    }
    if trace.branches.iter().any(|b| b.to.is_none()) {
        ex.notes
            .push("IPVS DNAT modelled; SNAT/masquerade and conntrack are not".into());
    }
}

/// A Service whose rules DNAT without a split (one endpoint): the trace
/// is that endpoint's path, and it takes every new connection.
pub(super) fn single_backend(cx: &Cx<'_>, trace: &Trace, ex: &mut Explanation) {
    let Some(to) = trace.dnat else { return };
    let mut b = backend(cx, to, trace, 0);
    b.share = Some(1.0);
    ex.backends.push(b);
}

/// Where a DNAT sent a plain (non-Service) path that did not split.
pub(super) fn translated(cx: &Cx<'_>, trace: &Trace) -> Option<Backend> {
    trace.dnat.map(|to| backend(cx, to, trace, 0))
}

/// The share of new connections that reach a backend, when every backend
/// has a share (IPVS schedulers give none).
pub(super) fn delivered_share(backends: &[Backend]) -> Option<f64> {
    let mut sum = 0.0;
    for b in backends {
        let share = b.share?;
        if b.verdict == Verdict::Delivered {
            sum += share;
        }
    }
    (!backends.is_empty()).then_some(sum)
}

/// Fills `backends`, extends `hops` with the shown backend's path and sets
/// the verdict: dropped when any backend is unreachable.
fn add_backends(cx: &Cx<'_>, ex: &mut Explanation, items: Vec<(IpAddr, u16, &Trace)>, base: usize) {
    for (ip, port, t) in &items {
        ex.backends.push(backend(cx, (*ip, *port), t, base));
    }
    if ex.backends.is_empty() {
        return;
    }
    let shown = shown_backend(&items);
    ex.hops.extend(ex.backends[shown].hops.iter().cloned());
    take_backend_verdict(cx, ex, shown, items[shown].2, base);
}

/// One backend's own verdict and path.
fn backend(cx: &Cx<'_>, (ip, port): (IpAddr, u16), t: &Trace, base: usize) -> Backend {
    let verdict = Verdict::of(t.disposition);
    let mut drop = (verdict == Verdict::Dropped).then(|| codes::drop_info(cx, t, &t.hops, base));
    if let Some(d) = drop.as_mut() {
        if let Some(code) = super::svccode::stale_backend(cx, (ip, port)) {
            d.code = Some(code);
            d.hint = code.hint().into();
        }
    }
    Backend {
        ip,
        port,
        pod: cx.dp.pod_by_ip(ip).map(|p| cx.dp.pod_key(p).to_string()),
        verdict,
        disposition: t.disposition.as_str().into(),
        hops: hops_json(cx.dp, &t.hops, base + 1),
        drop,
        share: None,
        wire_src: t.snat,
    }
}

/// The backend `hops` continues with: the first that is not delivered,
/// else the first.
fn shown_backend(items: &[(IpAddr, u16, &Trace)]) -> usize {
    let failing = |(_, _, t): &&(IpAddr, u16, &Trace)| t.disposition != Disposition::Delivered;
    items.iter().position(|i| failing(&i)).unwrap_or(0)
}

/// The document's verdict from the shown backend, with a note saying how
/// many backends fail.
fn take_backend_verdict(cx: &Cx<'_>, ex: &mut Explanation, shown: usize, t: &Trace, base: usize) {
    let b = &ex.backends[shown];
    let (ip, port, total) = (b.ip, b.port, ex.backends.len());
    let failing = ex
        .backends
        .iter()
        .filter(|b| b.verdict == Verdict::Dropped)
        .count();
    let note = match (b.verdict, b.drop.clone()) {
        (Verdict::Unknown, _) => {
            ex.unknown = netfilter::unknown_info(cx.dp, t, base);
            format!("backend {ip}:{port}: the verdict depends on a rule cnictl cannot evaluate")
        }
        (_, Some(d)) => {
            ex.drop = Some(d);
            format!("{failing} of {total} backends are unreachable; hops show backend {ip}:{port}")
        }
        _ => format!("all {total} backends reachable; hops show backend {ip}:{port}"),
    };
    ex.verdict = ex.backends[shown].verdict;
    ex.notes.push(note);
}

/// No IPVS table on the source node (not collected, or kube-proxy in
/// iptables/nftables mode): model the Service's DNAT from its ready
/// EndpointSlice endpoints and trace to each.
pub(super) fn finish_slices(
    cx: &Cx<'_>,
    pkt: &Packet,
    ingress: Ingress,
    ex: &mut Explanation,
) -> bool {
    let Some(svc_key) = cx.dst.service.as_deref() else {
        return false;
    };
    let eps = resolve::service_endpoints(cx.snap, svc_key, cx.dst.port);
    if eps.is_empty() {
        return false;
    }
    let traces: Vec<(IpAddr, u16, Trace)> = eps
        .into_iter()
        .map(|(ip, port)| {
            let mut p = *pkt;
            p.dst = ip;
            p.dport = port;
            (ip, port, cx.dp.trace(&p, ingress))
        })
        .collect();
    ex.inferred = not_collected(cx);
    ex.hops = vec![inferred_hop(cx, svc_key, traces.len())];
    let items = traces.iter().map(|(ip, port, t)| (*ip, *port, t)).collect();
    add_backends(cx, ex, items, 1);
    // kube-proxy splits new connections evenly (iptables/nftables random,
    // IPVS rr); modelled like the rest.
    let share = 1.0 / ex.backends.len() as f64;
    ex.backends.iter_mut().for_each(|b| b.share = Some(share));
    ex.notes.push(format!(
        "Service DNAT inferred from the EndpointSlices: {} not collected",
        ex.inferred.join(", ")
    ));
    true
}

/// The files that would have said how the source node NATs a Service.
fn not_collected(cx: &Cx<'_>) -> Vec<String> {
    let node = cx.src_node.map_or("?", |n| cx.dp.node_name(n));
    ["iptables-save.txt", "nft-ruleset.json", "ipvsadm.txt"]
        .iter()
        .map(|f| format!("nodes/{node}/{f}"))
        .collect()
}

/// The hop that stands for the node's Service NAT, which was not collected.
fn inferred_hop(cx: &Cx<'_>, svc: &str, endpoints: usize) -> HopJson {
    let node = cx
        .src_node
        .map_or_else(String::new, |n| cx.dp.node_name(n).into());
    HopJson {
        index: 1,
        entry: format!("DNAT to one of the {endpoints} ready endpoints of svc/{svc}, as its EndpointSlices list them; how {node} NATs it was not collected"),
        node,
        netns: None,
        in_dev: None,
        out_dev: None,
        kind: "service".into(),
        rewrite: None,
        inferred: true,
        netfilter: None,
    }
}

/// Delivered to the node's own stack with no Service NAT on the way (a
/// ClusterIP on kube-ipvs0 without an IPVS virtual service, a NodePort no
/// rule DNATs): the node would answer or refuse it, no backend sees it.
pub(super) fn service_not_programmed(cx: &Cx<'_>, trace: &Trace, ex: &mut Explanation) {
    let node = ex.hops.last().map_or_else(String::new, |h| h.node.clone());
    let ipvs = cx.snap.nodes.get(&node).is_some_and(|n| n.ipvs.is_some());
    let (dst, port) = (ex.packet.dst, ex.packet.dport.unwrap_or(0));
    let (reason, code) = if ipvs {
        let r =
            format!("{dst} is local on the node but no IPVS virtual service {dst}:{port} exists");
        (r, Code::IpvsServiceMissing)
    } else {
        let svc = cx.dst.service.as_deref().unwrap_or("?");
        let r = format!("{dst}:{port} reaches node {node}'s own stack: no rule of its netfilter ruleset DNATs it to an endpoint of svc/{svc}");
        (r, Code::IpvsServiceMissing)
    };
    ex.verdict = Verdict::Dropped;
    ex.drop = Some(DropInfo {
        hop: trace.hops.len(),
        node,
        disposition: "no-route".into(),
        reason,
        code: Some(code),
        finding: None,
        root_cause: None,
        hint: code.hint().into(),
    });
}
