//! Check: rp-filter-strict
//!
//! Strict reverse-path filtering (`rp_filter` = 1; the effective value is
//! the maximum of `conf.all` and the device's) drops a packet when the route
//! back to its source leaves through another device. On a tunnel device
//! (flannel.*, tunl0, vxlan.calico, cilium_vxlan) that happens as soon as
//! some peers are routed another way (Calico CrossSubnet, a host-gw route
//! beside the tunnel): packets from those peers' pods arriving on the tunnel
//! are dropped: warning. Strict mode with symmetric routes works today but
//! breaks on the first asymmetric route: info. Skipped without sysctl.txt.

use cnictl_model::Link;

use super::{render, NodeCx, Out};
use crate::code::{Code, Input};
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::RpFilterStrict;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    let Some(sys) = &cx.node.sysctls else {
        out.skip_missing(CODE, cx.name(), Input::Sysctl, "rp_filter check");
        return;
    };
    let all = sys.get("net.ipv4.conf.all.rp_filter");
    let mut tunnels: Vec<&Link> = cx.node.links.iter().filter(|l| is_tunnel(l)).collect();
    tunnels.sort_by(|a, b| a.name.cmp(&b.name));
    for t in tunnels {
        let dev_key = format!("net.ipv4.conf.{}.rp_filter", t.name.replace('.', "/"));
        let dev = sys
            .get(&dev_key)
            .or_else(|| sys.get(&format!("net.ipv4.conf.{}.rp_filter", t.name)));
        let eff = value(all).max(value(dev));
        if eff != 1 {
            continue;
        }
        finding(cx, t, (all, &dev_key, dev), out);
    }
}

fn value(v: Option<&String>) -> u8 {
    v.and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

fn is_tunnel(l: &Link) -> bool {
    (l.name.starts_with("flannel.") && l.is_kind("vxlan"))
        || matches!(l.name.as_str(), "tunl0" | "vxlan.calico" | "cilium_vxlan")
}

fn finding(
    cx: &NodeCx<'_>,
    t: &Link,
    (all, dev_key, dev): (Option<&String>, &str, Option<&String>),
    out: &mut Out,
) {
    let other = asymmetric_routes(cx, t);
    let mut evidence = vec![render::link(t)];
    evidence.extend(all.map(|a| render::sysctl("net.ipv4.conf.all.rp_filter", a)));
    evidence.extend(dev.map(|d| render::sysctl(dev_key, d)));
    let (severity, tail) = if other.is_empty() {
        (Severity::Info, "routes are symmetric today".to_string())
    } else {
        let n = other.len();
        evidence.extend(render::capped(other, 5));
        (Severity::Warning, format!("{n} peer pod route(s) leave by another device, so their replies arriving on {} are dropped", t.name))
    };
    let summary = format!("strict rp_filter on {} on {}: {tail}", t.name, cx.name());
    let hint = format!(
        "on {}: sysctl -w net.ipv4.conf.all.rp_filter=2 {dev_key}=2 (loose) or 0",
        cx.name()
    );
    out.push(CODE, severity, Some(cx.name()), summary, evidence, hint);
}

/// Routes to peers' pods that leave by a device other than the tunnel.
fn asymmetric_routes(cx: &NodeCx<'_>, t: &Link) -> Vec<String> {
    let elsewhere = |r: &&cnictl_model::Route| {
        super::fib::paths(r).any(|(_, dev)| dev != Some(t.name.as_str()))
    };
    let mut other: Vec<String> = cx
        .remote()
        .iter()
        .filter_map(|v| v.chosen)
        .filter(elsewhere)
        .map(|r| r.to_string())
        .collect();
    other.sort();
    other
}
