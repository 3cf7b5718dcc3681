//! Check: pod-route-missing
//!
//! Every live pod on the node must be reachable from the host: its IP must
//! route to its veth (Calico: `<ip> dev caliX scope link`; Cilium: an lxc*
//! veth or cilium_host) or to the CNI bridge its veth is enslaved to
//! (Flannel, bridge: the connected `cni0` route; weave: `weave`), and that
//! device must exist and be up. When the pod's netns was collected, its
//! eth0's peer must be a host veth (on the bridge, for bridge models).
//! Otherwise nothing reaches the pod: error.

use cnictl_model::{cidr, Link, Pod, Route};

use super::fib::Lookup;
use super::{render, NodeCx, Out};
use crate::cni;
use crate::code::Code;
use crate::finding::Severity;
use crate::infer::CniModel;

pub(crate) const CODE: Code = Code::PodRouteMissing;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    if cx.route_checks_skipped(CODE, out) {
        return;
    }
    for pod in cx.exp.pods_on(cx.name()) {
        for ip in &pod.ips {
            if let Some((why, ev)) = problem(cx, pod, *ip) {
                unreachable(cx, pod, *ip, why, ev, out);
            }
        }
    }
}

fn unreachable(
    cx: &NodeCx<'_>,
    pod: &Pod,
    ip: std::net::IpAddr,
    why: String,
    ev: Vec<String>,
    out: &mut Out,
) {
    let mut evidence = vec![render::pod(pod)];
    evidence.extend(ev);
    let summary = format!(
        "pod {} ({ip}) on {} is unreachable from the host: {why}",
        pod.key(),
        cx.name()
    );
    out.push(
        CODE,
        Severity::Error,
        Some(cx.name()),
        summary,
        evidence,
        hint(cx, pod, ip),
    );
}

type Problem = Option<(String, Vec<String>)>;

/// Why the host cannot reach the pod's IP, with the entries that show it.
fn problem(cx: &NodeCx<'_>, pod: &Pod, ip: std::net::IpAddr) -> Problem {
    let r = match cx.fib.lookup(&cidr::host(ip)) {
        Lookup::Route(r) => r,
        Lookup::Rule(rule) => {
            return Some((
                format!("rule {} drops it", rule.priority),
                vec![rule.to_string()],
            ))
        }
        Lookup::None => return Some(("no route".into(), vec![format!("no route to {ip}")])),
    };
    let why = route_problem(cx, r, ip);
    if why.is_some() {
        return why.map(|w| (w, vec![render::route(r)]));
    }
    let dev = r.dev.as_deref().unwrap_or_default();
    let link = cx.link(dev)?;
    if is_down(link) {
        return Some((
            format!("{dev} is down"),
            vec![render::route(r), render::link(link)],
        ));
    }
    attachment(cx, pod, link).map(|(why, mut more)| {
        more.insert(0, render::route(r));
        (why, more)
    })
}

/// The route to the pod itself is wrong: a local address, not a pod
/// device, or a device that does not exist.
fn route_problem(cx: &NodeCx<'_>, r: &Route, ip: std::net::IpAddr) -> Option<String> {
    let dev = r.dev.as_deref().unwrap_or_default();
    if r.route_type == cnictl_model::RouteType::Local {
        let on = r.dev.as_deref().unwrap_or("?");
        return Some(format!("{ip} is also a local address of the node, on {on}"));
    }
    if !pod_dev_ok(cx.model, r) {
        return Some(format!(
            "its route does not lead to a pod device ({})",
            render::route(r)
        ));
    }
    cx.link(dev)
        .is_none()
        .then(|| format!("{dev} does not exist"))
}

fn is_down(l: &Link) -> bool {
    !l.flags.is_empty() && !l.is_up()
}

/// The route's device is one pods hang off in this model (any device
/// when the model is unknown).
fn pod_dev_ok(model: CniModel, r: &Route) -> bool {
    let side = model.profile().map(|p| p.pod_side);
    let gateway_ok = side.is_some_and(|s| s.gateway_allowed());
    if r.route_type != cnictl_model::RouteType::Unicast || r.gateway.is_some() && !gateway_ok {
        return false;
    }
    let dev = r.dev.as_deref().unwrap_or_default();
    side.is_none_or(|s| s.is_pod_dev(dev))
}

/// With the pod's netns dumped: its eth0's peer must be a host veth, and
/// on bridge models a port of the route's bridge.
fn attachment(cx: &NodeCx<'_>, pod: &Pod, dev: &Link) -> Option<(String, Vec<String>)> {
    if cx.node.pods.is_empty() {
        return None;
    }
    let ns = cx.node.pods.get(&pod.key())?;
    let eth0 = ns.links.iter().find(|l| l.name == "eth0")?;
    let peer = eth0.peer_ifindex?;
    let Some(host) = cx.node.link_by_index(peer) else {
        return Some((
            format!("its eth0's peer ifindex {peer} is not on the host"),
            vec![format!("pod/{} {}", pod.key(), render::link(eth0))],
        ));
    };
    if dev.is_kind("bridge") && host.master.as_deref() != Some(dev.name.as_str()) {
        return Some((
            format!("its veth {} is not a port of {}", host.name, dev.name),
            vec![render::link(host), render::link(dev)],
        ));
    }
    None
}

fn hint(cx: &NodeCx<'_>, pod: &Pod, ip: std::net::IpAddr) -> String {
    let fix = cx.model.profile().map_or(POD_FIX, |p| p.pod_fix);
    let ip = ip.to_string();
    let (ns, name) = (pod.namespace.as_str(), pod.name.as_str());
    let vars = [("node", cx.name()), ("ip", &ip), ("ns", ns), ("name", name)];
    cni::fill(fix, &vars)
}

/// The fix when the model is not known.
const POD_FIX: &str = "kubectl delete pod -n {ns} {name} so the CNI re-creates its interface";
