//! Explain at Cilium's level. Cilium forwards pod traffic in eBPF (bpf_lxc
//! on the pod's lxc veth, Cilium v1.15), which the reference dataplane does
//! not run: a kernel trace from a Cilium pod stops at the pod's gateway,
//! which only bpf_lxc answers. When the source node runs Cilium, the path is
//! read from the agent's own state instead, each hop marked `cilium` and
//! inferred: the source endpoint (endpoint list) → the ipcache entry of the
//! destination → the tunnel (ipcache tunnel endpoint or tunnel map) or, in
//! native routing, the kernel route → the destination's endpoint. What the
//! maps do not decide (a missing file, an endpoint not ready, enforced
//! policy whose map is not read, Services load-balanced in eBPF) ends the
//! answer `unknown`, naming it.

use std::net::IpAddr;

use cnictl_model::{Cilium, CiliumEndpoint, ClusterSnapshot, NodeSnapshot};

use super::resolve::{Endpoint, EndpointKind};
use super::{DropInfo, Explanation, HopJson, UnknownInfo, Verdict};
use crate::cilium::{tunnel_mode, tunnel_via, TunnelVia};
use crate::code::Code;
use crate::infer::{self, CniModel};

/// Where the walk stopped.
enum End {
    Delivered,
    Unknown(String),
    Dropped(Code, String),
}

struct Walk<'s> {
    snap: &'s ClusterSnapshot,
    hops: Vec<HopJson>,
}

impl Walk<'_> {
    fn hop(&mut self, node: &str, dev: Option<&str>, entry: String) {
        self.hops.push(HopJson {
            index: self.hops.len() + 1,
            node: node.to_string(),
            netns: None,
            in_dev: None,
            out_dev: dev.map(str::to_string),
            kind: "cilium".into(),
            entry,
            rewrite: None,
            inferred: true,
            netfilter: None,
        });
    }
}

/// Whether `node` runs Cilium (by its devices).
fn is_cilium(snap: &ClusterSnapshot, node: &str) -> bool {
    let Some(n) = snap.nodes.get(node) else {
        return false;
    };
    let k = snap.k8s.nodes.iter().find(|k| k.name == node);
    let model = infer::infer_node(n, k).model;
    matches!(model, CniModel::CiliumNative | CniModel::CiliumVxlan)
}

/// Rewrites `ex` from Cilium's state when the source is a pod on a Cilium
/// node; leaves it alone otherwise.
pub(super) fn apply(snap: &ClusterSnapshot, src: &Endpoint, dst: &Endpoint, ex: &mut Explanation) {
    let Some(node) = src
        .node
        .as_deref()
        .filter(|_| src.kind == EndpointKind::Pod)
    else {
        return;
    };
    if !is_cilium(snap, node) {
        return;
    }
    let mut w = Walk {
        snap,
        hops: Vec::new(),
    };
    let end = walk(&mut w, node, src, dst);
    finish(ex, w.hops, node, end);
}

fn walk(w: &mut Walk<'_>, node: &str, src: &Endpoint, dst: &Endpoint) -> End {
    let Some(c) = w.snap.nodes.get(node).and_then(|n| n.cilium.as_ref()) else {
        return End::Unknown(format!(
            "{node} runs Cilium, which forwards pod traffic in eBPF; its state (cilium/endpoints.json, ipcache.json, tunnel.json from cilium-dbg) was not collected"
        ));
    };
    if let Err(end) = endpoint_hop(w, node, c, src.ip, "source") {
        return end;
    }
    if let Some(svc) = &dst.service {
        return End::Unknown(format!(
            "{svc} is load-balanced by Cilium in eBPF (its bpf lb map, cilium/lb.json, is read but not evaluated)"
        ));
    }
    let Some(entry) = ipcache_hop(w, node, c, dst.ip) else {
        return End::Unknown(format!("{node}'s cilium/ipcache.json was not collected"));
    };
    let dst_node = match next_node(w, node, c, dst, entry) {
        Ok(n) => n,
        Err(end) => return end,
    };
    let Some(dn) = w.snap.nodes.get(&dst_node).and_then(|n| n.cilium.as_ref()) else {
        return End::Unknown(format!("{dst_node}'s Cilium state was not collected"));
    };
    match endpoint_hop(w, &dst_node, dn, dst.ip, "destination") {
        Ok(dep) => policy_end(c, src.ip, dep, &dst_node),
        Err(end) => end,
    }
}

/// The local endpoint of `ip`, and whether its programs are in place.
fn endpoint_hop<'c>(
    w: &mut Walk<'_>,
    node: &str,
    c: &'c Cilium,
    ip: IpAddr,
    side: &str,
) -> Result<&'c CiliumEndpoint, End> {
    if c.endpoints.is_none() {
        return Err(End::Unknown(format!(
            "{node}'s cilium/endpoints.json was not collected"
        )));
    }
    let Some(ep) = c.endpoint_of(ip) else {
        return Err(End::Unknown(format!(
            "{node}'s Cilium has no endpoint for the {side} {ip}: the pod is not (or no longer) managed by its agent"
        )));
    };
    let pod = ep.pod.as_deref().unwrap_or("?");
    let identity = ep.identity.map_or("?".into(), |i| i.to_string());
    let entry = format!(
        "{side} endpoint {} ({pod} {ip}), state {}, identity {identity} (from Cilium's endpoint list)",
        ep.id, ep.state
    );
    w.hop(node, ep.interface.as_deref(), entry);
    if ep.state != "ready" {
        return Err(End::Unknown(format!(
            "endpoint {} ({pod}) on {node} is {}, not ready: whether its eBPF programs forward is not known",
            ep.id, ep.state
        )));
    }
    Ok(ep)
}

fn ipcache_hop<'c>(
    w: &mut Walk<'_>,
    node: &str,
    c: &'c Cilium,
    dst: IpAddr,
) -> Option<Option<&'c cnictl_model::IpcacheEntry>> {
    c.ipcache.as_ref()?;
    let e = c.ipcache_lookup(dst);
    let entry = match e {
        Some(e) => {
            let tep = e.tunnel_endpoint.map_or("none".into(), |t| t.to_string());
            format!(
                "ipcache lookup {dst}: {} identity {}, tunnelendpoint {tep} (from Cilium's ipcache)",
                e.prefix, e.identity
            )
        }
        None => format!("ipcache lookup {dst}: no entry (from Cilium's ipcache)"),
    };
    w.hop(node, None, entry);
    Some(e)
}

/// The node the packet leaves for: by tunnel in tunnel mode, by the
/// kernel's route in native routing, or this node.
fn next_node(
    w: &mut Walk<'_>,
    node: &str,
    c: &Cilium,
    dst: &Endpoint,
    entry: Option<&cnictl_model::IpcacheEntry>,
) -> Result<String, End> {
    let Some(dst_node) = dst.node.clone() else {
        return Err(End::Unknown(format!(
            "{} is no pod or node of the cluster: Cilium's egress path (masquerade, egress gateway) is not modelled",
            dst.ip
        )));
    };
    if dst_node == node {
        return Ok(dst_node);
    }
    let snap_node = w.snap.nodes.get(node);
    let vxlan = snap_node.is_some_and(|n| n.links.iter().any(|l| l.name == "cilium_vxlan"));
    if tunnel_mode(c, vxlan) {
        tunnel_hop(w, node, c, dst, &dst_node)
    } else {
        native_hop(w, node, snap_node, dst.ip, entry)
    }
}

fn tunnel_hop(
    w: &mut Walk<'_>,
    node: &str,
    c: &Cilium,
    dst: &Endpoint,
    dst_node: &str,
) -> Result<String, End> {
    let k = w.snap.k8s.nodes.iter().find(|k| k.name == dst_node);
    let cidr = k.and_then(|k| k.pod_cidrs.iter().find(|n| n.contains(&dst.ip)).copied());
    let via = tunnel_via(c, dst.ip, cidr);
    let Some(tep) = via.endpoint() else {
        return Err(End::Dropped(
            Code::CiliumTunnelMissing,
            format!("{node}'s Cilium has {} for {}", via.describe(), dst.ip),
        ));
    };
    let from = match via {
        TunnelVia::TunnelMap(..) => "tunnel map",
        _ => "ipcache",
    };
    // cilium_vxlan or cilium_geneve, as status.json's routing names it.
    let proto = c.status.as_ref().and_then(|s| s.tunnel_protocol.as_deref());
    let proto = proto.filter(|p| !p.is_empty()).unwrap_or("vxlan");
    let entry = format!(
        "encap {proto} to {tep} ({}) (from Cilium's {from})",
        via.describe()
    );
    w.hop(node, Some(&format!("cilium_{proto}")), entry);
    match owner_of(w.snap, tep) {
        Some(n) if n == dst_node => Ok(n),
        other => Err(End::Dropped(
            Code::CiliumTunnelMissing,
            format!(
                "{node}'s Cilium tunnels {} to {tep} ({}), not to {dst_node} which holds it",
                dst.ip,
                other.unwrap_or_else(|| "no node".into())
            ),
        )),
    }
}

fn native_hop(
    w: &mut Walk<'_>,
    node: &str,
    snap_node: Option<&NodeSnapshot>,
    dst: IpAddr,
    _entry: Option<&cnictl_model::IpcacheEntry>,
) -> Result<String, End> {
    let route = snap_node.and_then(|n| {
        n.routes
            .iter()
            .filter(|r| r.dst.contains(&dst) && r.gateway.is_some())
            .filter(|r| r.table == cnictl_model::route::TABLE_MAIN)
            .max_by_key(|r| r.dst.prefix_len())
    });
    let Some(r) = route else {
        return Err(End::Unknown(format!(
            "native routing: {node} has no gatewayed route for {dst} in its main table (Cilium hands the packet to the kernel's FIB)"
        )));
    };
    let gw = r.gateway.unwrap_or(dst);
    let dev = r.dev.as_deref().unwrap_or("?");
    let entry = format!(
        "native routing: route {} via {gw} dev {dev} (kernel FIB, as Cilium's bpf_host uses it)",
        r.dst
    );
    w.hop(node, r.dev.as_deref(), entry);
    owner_of(w.snap, gw)
        .ok_or_else(|| End::Unknown(format!("the next hop {gw} is no node of the cluster")))
}

/// The node whose InternalIP is `ip`.
fn owner_of(snap: &ClusterSnapshot, ip: IpAddr) -> Option<String> {
    let k = snap
        .k8s
        .nodes
        .iter()
        .find(|k| k.internal_ips.contains(&ip))?;
    Some(k.name.clone())
}

/// Delivered when neither side enforces policy; otherwise the policy map
/// (not read) decides.
fn policy_end(c: &Cilium, src: IpAddr, dst: &CiliumEndpoint, dst_node: &str) -> End {
    let src_ep = c.endpoint_of(src);
    let egress = src_ep.and_then(|e| e.enforces("egress"));
    let ingress = dst.enforces("ingress");
    match (egress, ingress) {
        (Some(false), Some(false)) => End::Delivered,
        _ => End::Unknown(format!(
            "policy: endpoint {} on {dst_node} has policy-enabled {} (source egress: {}); Cilium decides in eBPF from its policy map (cilium-dbg bpf policy get {}), which cnictl does not read",
            dst.id,
            dst.policy_enabled.as_deref().unwrap_or("not reported"),
            src_ep.and_then(|e| e.policy_enabled.as_deref()).unwrap_or("not reported"),
            dst.id
        )),
    }
}

fn finish(ex: &mut Explanation, hops: Vec<HopJson>, node: &str, end: End) {
    let last = hops.last().map_or(0, |h| h.index);
    let at = hops.last().map_or(node.to_string(), |h| h.node.clone());
    ex.hops = hops;
    // Everything else came from the kernel trace, which stops where eBPF
    // takes over.
    ex.netfilter.clear();
    ex.backends.clear();
    ex.delivered_share = None;
    ex.egress = None;
    ex.inferred.clear();
    ex.notes.clear();
    ex.drop = None;
    ex.unknown = None;
    ex.notes.push(format!(
        "{node} runs Cilium: the path is read from Cilium's own state (endpoint list, ipcache, tunnel map), not traced through its eBPF programs"
    ));
    match end {
        End::Delivered => ex.verdict = Verdict::Delivered,
        End::Unknown(reason) => {
            ex.verdict = Verdict::Unknown;
            ex.disposition = String::new();
            ex.unknown = Some(UnknownInfo {
                hop: last,
                node: at,
                reason,
            });
        }
        End::Dropped(code, reason) => {
            ex.verdict = Verdict::Dropped;
            ex.drop = Some(DropInfo {
                hop: last,
                node: node.to_string(),
                disposition: code.as_str().to_string(),
                reason,
                code: Some(code),
                hint: code.hint().to_string(),
                finding: None,
                root_cause: None,
            });
        }
    }
}
