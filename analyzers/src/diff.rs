//! What changed between two snapshots ("what changed since it worked"):
//! findings added and resolved, and per node the dataplane entries that
//! appeared or disappeared, rendered as `ip`/`bridge`/`ipvsadm` print them.

use std::collections::{BTreeMap, BTreeSet};

use cnictl_model::{Bgp, BgpProtocol, ClusterSnapshot, NodeSnapshot, VirtualService};
use serde::Serialize;

use crate::{Code, Finding, Report};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub findings_added: Vec<Finding>,
    pub findings_resolved: Vec<Finding>,
    pub nodes_added: Vec<String>,
    pub nodes_removed: Vec<String>,
    /// Per node, per table kind (`routes`, `neighbours`, …), what changed.
    pub nodes: BTreeMap<String, BTreeMap<&'static str, Change>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Change {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.findings_added.is_empty()
            && self.findings_resolved.is_empty()
            && self.nodes_added.is_empty()
            && self.nodes_removed.is_empty()
            && self.nodes.is_empty()
    }
}

/// Compares two snapshots and their check reports.
pub fn diff(
    old: &ClusterSnapshot,
    old_report: &Report,
    new: &ClusterSnapshot,
    new_report: &Report,
) -> Diff {
    let (findings_added, findings_resolved) =
        diff_findings(&old_report.findings, &new_report.findings);
    let mut out = Diff {
        findings_added,
        findings_resolved,
        ..Diff::default()
    };
    for name in new.nodes.keys().filter(|n| !old.nodes.contains_key(*n)) {
        out.nodes_added.push(name.clone());
    }
    for name in old.nodes.keys().filter(|n| !new.nodes.contains_key(*n)) {
        out.nodes_removed.push(name.clone());
    }
    for (name, before) in &old.nodes {
        if let Some(after) = new.nodes.get(name) {
            let changes = diff_node(before, after);
            if !changes.is_empty() {
                out.nodes.insert(name.clone(), changes);
            }
        }
    }
    out
}

fn finding_key(f: &Finding) -> (Code, Option<String>, String) {
    (f.code, f.node.clone(), f.summary.clone())
}

fn diff_findings(old: &[Finding], new: &[Finding]) -> (Vec<Finding>, Vec<Finding>) {
    let old_keys: BTreeSet<_> = old.iter().map(finding_key).collect();
    let new_keys: BTreeSet<_> = new.iter().map(finding_key).collect();
    let added = new
        .iter()
        .filter(|f| !old_keys.contains(&finding_key(f)))
        .cloned()
        .collect();
    let resolved = old
        .iter()
        .filter(|f| !new_keys.contains(&finding_key(f)))
        .cloned()
        .collect();
    (added, resolved)
}

/// Every table of a node as a set of rendered lines, keyed by table kind.
/// Sections that were not collected on either side are left out rather
/// than reported as wholly removed.
fn tables(n: &NodeSnapshot) -> BTreeMap<&'static str, Option<BTreeSet<String>>> {
    BTreeMap::from([
        ("links", set(&n.links)),
        ("addrs", set(&n.addrs)),
        ("routes", set(&n.routes)),
        ("rules", n.rules.as_deref().and_then(set)),
        ("neighbours", n.neighbours.as_deref().and_then(set)),
        ("fdb", n.fdb.as_deref().and_then(set)),
        ("ipvs", n.ipvs.as_deref().map(ipvs_lines)),
        ("bgp", n.bgp.as_ref().map(bgp_lines)),
        (
            "sysctls",
            n.sysctls
                .as_ref()
                .map(|s| s.iter().map(|(k, v)| format!("{k} = {v}")).collect()),
        ),
    ])
}

fn set<T: ToString>(items: &[T]) -> Option<BTreeSet<String>> {
    Some(items.iter().map(ToString::to_string).collect())
}

/// Each virtual service, and each real server under its key.
fn ipvs_lines(services: &[VirtualService]) -> BTreeSet<String> {
    services.iter().flat_map(virtual_service_lines).collect()
}

fn virtual_service_lines(s: &VirtualService) -> impl Iterator<Item = String> + '_ {
    let reals = s.reals.iter().map(move |r| format!("{} {r}", s.key()));
    std::iter::once(s.to_string()).chain(reals)
}

fn bgp_lines(b: &Bgp) -> BTreeSet<String> {
    let line = |p: &BgpProtocol| {
        format!("{} {} {} {}", p.name, p.proto, p.state, p.info)
            .trim_end()
            .to_string()
    };
    b.protocols.iter().map(line).collect()
}

fn diff_node(old: &NodeSnapshot, new: &NodeSnapshot) -> BTreeMap<&'static str, Change> {
    let before = tables(old);
    let after = tables(new);
    let mut out = BTreeMap::new();
    for (kind, b) in before {
        let (Some(b), Some(Some(a))) = (b, after.get(kind)) else {
            continue;
        };
        let change = Change {
            added: a.difference(&b).cloned().collect(),
            removed: b.difference(a).cloned().collect(),
        };
        if !change.added.is_empty() || !change.removed.is_empty() {
            out.insert(kind, change);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cnictl_model::Route;

    fn report(findings: Vec<Finding>) -> Report {
        Report {
            schema: "cnictl/v1".into(),
            model: "flannel-vxlan".into(),
            findings,
            skipped: vec![],
        }
    }

    fn finding(code: &str) -> Finding {
        Finding {
            code: Code::parse(code).expect("a documented code"),
            severity: crate::Severity::Error,
            node: Some("node-1".into()),
            summary: "s".into(),
            evidence: vec![],
            hint: "h".into(),
        }
    }

    #[test]
    fn reports_route_and_finding_changes() {
        let mut old = ClusterSnapshot::new("t");
        let mut node = NodeSnapshot {
            name: "node-1".into(),
            ..Default::default()
        };
        node.routes
            .push(Route::unicast("10.244.2.0/24".parse().unwrap()));
        old.nodes.insert("node-1".into(), node.clone());
        let mut new = old.clone();
        new.nodes.get_mut("node-1").unwrap().routes.clear();
        new.nodes.insert("node-2".into(), NodeSnapshot::default());
        let d = diff(
            &old,
            &report(vec![]),
            &new,
            &report(vec![finding("missing-pod-route")]),
        );
        assert_eq!(d.findings_added.len(), 1);
        assert!(d.findings_resolved.is_empty());
        assert_eq!(d.nodes_added, vec!["node-2".to_string()]);
        assert_eq!(
            d.nodes["node-1"]["routes"].removed,
            vec!["10.244.2.0/24".to_string()]
        );
    }

    #[test]
    fn uncollected_sections_are_not_reported_as_removed() {
        let mut old = ClusterSnapshot::new("t");
        let mut node = NodeSnapshot {
            name: "n".into(),
            ..Default::default()
        };
        node.fdb = Some(vec![]);
        node.neighbours = None;
        old.nodes.insert("n".into(), node.clone());
        let mut new = old.clone();
        new.nodes.get_mut("n").unwrap().fdb = None;
        let d = diff(&old, &report(vec![]), &new, &report(vec![]));
        assert!(d.is_empty(), "{d:?}");
    }
}
