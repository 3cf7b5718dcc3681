//! What changed between two snapshots ("what changed since it worked"):
//! findings added and resolved, and per node the dataplane entries that
//! appeared or disappeared, rendered as `ip`/`bridge`/`ipvsadm` print them.

use std::collections::{BTreeMap, BTreeSet};

use cnictl_model::{ClusterSnapshot, NodeSnapshot};

mod entries;
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
    /// Changes hidden as noise (neighbour state, veth MAC churn, IPv6
    /// link-local addresses, counters); 0 with `all`.
    pub hidden: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Change {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Entries whose identity stayed (a route's table, destination and
    /// metric; a neighbour's device and address; a link's name) and whose
    /// content changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<Changed>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Changed {
    pub before: String,
    pub after: String,
}

impl Change {
    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
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

/// Compares two snapshots and their check reports, noise hidden.
pub fn diff(
    old: &ClusterSnapshot,
    old_report: &Report,
    new: &ClusterSnapshot,
    new_report: &Report,
) -> Diff {
    diff_with(old, old_report, new, new_report, false)
}

/// [`diff`]; `all` also shows what is noise in an incident.
pub fn diff_with(
    old: &ClusterSnapshot,
    old_report: &Report,
    new: &ClusterSnapshot,
    new_report: &Report,
    all: bool,
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
            let changes = diff_node(before, after, all, &mut out.hidden);
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

/// A table's changes: entries that appeared, went away, or changed in
/// place (`before → after`, one line).
fn diff_node(
    old: &NodeSnapshot,
    new: &NodeSnapshot,
    all: bool,
    hidden: &mut usize,
) -> BTreeMap<&'static str, Change> {
    let after = entries::tables(new);
    let mut out = BTreeMap::new();
    for (kind, b) in entries::tables(old) {
        let (Some(b), Some(Some(a))) = (b, after.get(kind)) else {
            continue;
        };
        let change = diff_table(&b, a, all, hidden);
        if !change.is_empty() {
            out.insert(kind, change);
        }
    }
    out
}

fn diff_table(b: &entries::Table, a: &entries::Table, all: bool, hidden: &mut usize) -> Change {
    let mut c = Change::default();
    let mut keep = |e: &entries::Entry| {
        let show = all || !e.noise;
        *hidden += usize::from(!show);
        show
    };
    c.added = a
        .iter()
        .filter(|(k, e)| !b.contains_key(*k) && keep(e))
        .map(|(_, e)| e.line.clone())
        .collect();
    c.removed = b
        .iter()
        .filter(|(k, e)| !a.contains_key(*k) && keep(e))
        .map(|(_, e)| e.line.clone())
        .collect();
    for (k, before) in b {
        let Some(after) = a.get(k).filter(|after| after.line != before.line) else {
            continue;
        };
        if all || (before.signal != after.signal && !after.noise) {
            c.changed.push(Changed {
                before: before.line.clone(),
                after: after.line.clone(),
            });
        } else {
            *hidden += 1;
        }
    }
    c
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
            groups: vec![],
            notes: vec![],
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
            peers: vec![],
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

    fn neigh(state: &str, mac: &str) -> cnictl_model::Neigh {
        cnictl_model::Neigh {
            dst: "10.0.0.2".parse().unwrap(),
            dev: "eth0".into(),
            lladdr: Some(mac.into()),
            state: vec![state.into()],
            router: false,
            proxy: false,
        }
    }

    fn one_node(node: NodeSnapshot) -> ClusterSnapshot {
        let mut s = ClusterSnapshot::new("t");
        s.nodes.insert(node.name.clone(), node);
        s
    }

    #[test]
    fn noise_is_hidden_unless_asked_and_a_changed_route_is_one_line() {
        let mut n = NodeSnapshot {
            name: "n".into(),
            ..Default::default()
        };
        n.neighbours = Some(vec![neigh("REACHABLE", "aa:aa:aa:aa:aa:01")]);
        n.addrs.push(cnictl_model::Addr {
            ifindex: 2,
            dev: "eth0".into(),
            addr: "fe80::1/64".parse().unwrap(),
            scope: "link".into(),
            peer: None,
        });
        let mut r = Route::unicast("10.244.2.0/24".parse().unwrap());
        r.gateway = Some("10.0.0.2".parse().unwrap());
        n.routes.push(r.clone());
        let old = one_node(n.clone());
        n.neighbours = Some(vec![neigh("STALE", "aa:aa:aa:aa:aa:01")]);
        n.addrs.clear();
        r.gateway = Some("10.0.0.3".parse().unwrap());
        n.routes = vec![r];
        let new = one_node(n.clone());
        let empty = report(vec![]);
        let d = diff(&old, &empty, &new, &empty);
        assert_eq!(d.hidden, 2, "{d:?}");
        let routes = &d.nodes["n"]["routes"];
        assert!(routes.added.is_empty() && routes.removed.is_empty());
        assert_eq!(routes.changed.len(), 1);
        assert!(
            routes.changed[0].after.contains("10.0.0.3"),
            "{:?}",
            routes.changed
        );
        assert!(!d.nodes["n"].contains_key("neighbours"));
        let all = diff_with(&old, &empty, &new, &empty, true);
        assert_eq!(all.hidden, 0);
        assert_eq!(all.nodes["n"]["neighbours"].changed.len(), 1);
        assert_eq!(all.nodes["n"]["addrs"].removed.len(), 1);
        // A neighbour whose MAC changed is no noise.
        n.neighbours = Some(vec![neigh("STALE", "aa:aa:aa:aa:aa:02")]);
        let d = diff(&old, &empty, &one_node(n), &empty);
        assert_eq!(d.nodes["n"]["neighbours"].changed.len(), 1);
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
