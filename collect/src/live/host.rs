//! The kernel release and the tunnel devices' offload features, read-only:
//! what `vxlan-checksum-offload` compares with known-bad combinations.
//!
//! Features come from the node's own `ethtool -k DEV` (a list command,
//! bounded like the netfilter tools): ethtool's netlink interface names
//! features through kernel string sets, which the tool already decodes.

use std::io::Read;

use cnictl_formats as formats;
use cnictl_model::{DevFeatures, Link};

/// Device kinds whose offloads matter for the encapsulated traffic.
const TUNNEL_KINDS: [&str; 4] = ["vxlan", "ipip", "geneve", "ip6tnl"];

/// `uname -r`, from the running kernel (the same in every namespace).
pub(super) fn read_kernel() -> Option<String> {
    let f = std::fs::File::open("/proc/sys/kernel/osrelease").ok()?;
    let mut text = String::new();
    f.take(256).read_to_string(&mut text).ok()?;
    formats::parse_uname(&text).ok()
}

/// `ethtool -k` of every tunnel device; `None` without tunnel devices or
/// without ethtool.
pub(super) fn read_offloads(links: &[Link], notes: &mut Vec<String>) -> Option<Vec<DevFeatures>> {
    let tunnels = links.iter().filter(|l| is_tunnel(l));
    let mut out = Vec::new();
    for l in tunnels {
        let text = super::netfilter::run("ethtool", &["-k", &l.name], notes)?;
        match formats::parse_ethtool_features(&text) {
            Ok(devs) => out.extend(devs),
            Err(e) => notes.push(format!("ethtool -k {}: output does not parse: {e}", l.name)),
        }
    }
    (!out.is_empty()).then_some(out)
}

fn is_tunnel(l: &Link) -> bool {
    l.kind.as_deref().is_some_and(|k| TUNNEL_KINDS.contains(&k))
}
