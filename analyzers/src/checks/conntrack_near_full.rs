//! Check: conntrack-near-full
//!
//! Every connection a node forwards, NATs or terminates holds a conntrack
//! entry; when `net.netfilter.nf_conntrack_count` reaches
//! `nf_conntrack_max` the kernel drops the first packet of every new
//! connection ("nf_conntrack: table full, dropping packet"), pod traffic and
//! Service NAT included. At 90 % or more: warning, before it happens.
//! Skipped without sysctl.txt or when it lacks either key (conntrack not
//! loaded, or a collector that does not read them).

use super::{render, NodeCx, Out};
use crate::code::{Code, Input};
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::ConntrackNearFull;
const COUNT: &str = "net.netfilter.nf_conntrack_count";
const MAX: &str = "net.netfilter.nf_conntrack_max";
/// The initial namespace's alias of the same limit.
const MAX_ALIAS: &str = "net.nf_conntrack_max";

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    let node = cx.name();
    if cx.node.sysctls.is_none() {
        out.skip_missing(CODE, node, Input::Sysctl, "conntrack table check");
        return;
    }
    let count = value(cx, COUNT);
    let max = value(cx, MAX).or_else(|| value(cx, MAX_ALIAS));
    match (count, max) {
        (Some((_, c)), Some((max_key, m))) if m > 0 => {
            if c.saturating_mul(10) >= m.saturating_mul(9) {
                near_full(cx, c, (max_key, m), out);
            }
        }
        _ => {
            let why = format!(
                "{node} has no usable {COUNT} and {MAX} in sysctl.txt: conntrack table check skipped"
            );
            out.skip(CODE, Some(node), why);
        }
    }
}

/// The key and its value as a number, when present and numeric.
fn value(cx: &NodeCx<'_>, key: &'static str) -> Option<(&'static str, u64)> {
    let v = cx.node.sysctl(key)?.trim().parse().ok()?;
    Some((key, v))
}

fn near_full(cx: &NodeCx<'_>, count: u64, (max_key, max): (&str, u64), out: &mut Out) {
    let node = cx.name();
    let pct = count.saturating_mul(100) / max;
    let summary = format!(
        "{node}'s conntrack table is {pct} % full ({count} of {max} entries): new connections are dropped once it is full"
    );
    let evidence = vec![
        render::sysctl(COUNT, &count.to_string()),
        render::sysctl(max_key, &max.to_string()),
    ];
    let hint = format!(
        "on {node}: sysctl -w {MAX}={} (and persist it in /etc/sysctl.d/), then find what holds so many entries (`conntrack -S` for drops and inserts, `conntrack -L` grouped by source address)",
        max.saturating_mul(2)
    );
    out.push(CODE, Severity::Warning, Some(node), summary, evidence, hint);
}

#[cfg(test)]
mod tests {
    use cnictl_gen::GenModel;
    use cnictl_model::ClusterSnapshot;

    use super::{CODE, COUNT, MAX};
    use crate::checks::nftest::*;

    fn with(count: Option<&str>, max: Option<&str>) -> ClusterSnapshot {
        let mut snap = cluster(GenModel::FlannelHostGw);
        let sys = snap
            .nodes
            .get_mut("node-1")
            .unwrap()
            .sysctls
            .as_mut()
            .unwrap();
        for (k, v) in [(COUNT, count), (MAX, max)] {
            if let Some(v) = v {
                sys.insert(k.to_string(), v.to_string());
            }
        }
        snap
    }

    #[test]
    fn ninety_percent_is_a_warning() {
        let f = findings(&with(Some("235930"), Some("262144")), CODE);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].summary, "node-1's conntrack table is 90 % full (235930 of 262144 entries): new connections are dropped once it is full");
        assert_eq!(
            f[0].evidence,
            vec![
                "net.netfilter.nf_conntrack_count = 235930",
                "net.netfilter.nf_conntrack_max = 262144"
            ]
        );
        assert!(findings(&with(Some("1000"), Some("262144")), CODE).is_empty());
    }

    #[test]
    fn skipped_when_either_key_is_missing() {
        let snap = with(Some("10"), None);
        assert!(findings(&snap, CODE).is_empty());
        let s: Vec<_> = skips(&snap, CODE)
            .into_iter()
            .filter(|s| s.node.as_deref() == Some("node-1"))
            .collect();
        assert!(
            s[0].reason.contains(
                "has no usable net.netfilter.nf_conntrack_count and net.netfilter.nf_conntrack_max in sysctl.txt"
            ),
            "{s:?}"
        );
        let mut snap = with(None, None);
        snap.nodes.get_mut("node-1").unwrap().sysctls = None;
        let s = skips(&snap, CODE);
        assert_eq!(
            s[0].reason,
            "node-1 has no sysctl.txt: conntrack table check skipped"
        );
    }
}
