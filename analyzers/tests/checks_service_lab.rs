//! The Service checks on the Flannel fixtures (recorded from the lab)
//! carrying the netfilter rules the lab loads on each node: kube-proxy's
//! (iptables mode) then flanneld's (`LabPlan::iptables_restore`), merged
//! per table as `iptables-save` prints them after `iptables-restore
//! --noflush`. Healthy they raise nothing; each fault a lab can inject
//! (a stale endpoint, a Service never programmed, kube-proxy's or
//! flanneld's masquerade removed) raises its code on node-1 only.

use std::path::Path;

use cnictl_analyzers::{checks, Code, Finding, Report};
use cnictl_formats::parse_iptables_save;
use cnictl_gen::lab::LabPlan;
use cnictl_model::netfilter::{Netfilter, Source};
use cnictl_model::ClusterSnapshot;

const FIXTURES: [&str; 2] = ["flannel-vxlan", "flannel-host-gw"];

const CODES: [Code; 6] = [
    Code::ServiceNoBackends,
    Code::ServiceStaleBackend,
    Code::ServiceBackendMissing,
    Code::ServiceRulesMissing,
    Code::MasqueradeMissing,
    Code::NodeportNoLocalEndpoint,
];

/// `iptables-restore --noflush` input as `iptables-save` then prints it:
/// one section per table, its chain declarations, then its rules in the
/// order they were appended.
fn as_saved(restore: &str) -> String {
    let mut tables: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
    let mut cur = 0;
    for line in restore.lines() {
        if let Some(name) = line.strip_prefix('*') {
            cur = match tables.iter().position(|t| t.0 == name) {
                Some(i) => i,
                None => {
                    tables.push((name.to_string(), Vec::new(), Vec::new()));
                    tables.len() - 1
                }
            };
        } else if line.starts_with(':') {
            tables[cur].1.push(line.to_string());
        } else if line.starts_with("-A") {
            tables[cur].2.push(line.to_string());
        }
    }
    let mut out = String::new();
    for (name, decls, rules) in tables {
        out.push_str(&format!("*{name}\n"));
        decls.iter().chain(&rules).for_each(|l| {
            out.push_str(l);
            out.push('\n');
        });
        out.push_str("COMMIT\n");
    }
    out
}

/// The fixture with every node's lab rules, node-1's through `edit`.
fn with_rules(fixture: &str, edit: &dyn Fn(String) -> String) -> ClusterSnapshot {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(fixture);
    let mut snap = cnictl_collect::bundle::load_dir(&dir).expect("fixture loads");
    let plan = LabPlan::new(fixture, 3, 2, "cnlc").expect("lab plan");
    for n in 1..=3u32 {
        let mut text = as_saved(&plan.iptables_restore(n));
        if n == 1 {
            text = edit(text);
        }
        let tables = parse_iptables_save(&text, Source::IptablesSave).expect("rules parse");
        let nf = Netfilter {
            tables,
            sources: vec![Source::IptablesSave],
            ..Netfilter::default()
        };
        let node = snap.nodes.get_mut(&format!("node-{n}")).expect("node");
        node.netfilter = Some(nf);
    }
    snap
}

fn service_findings(r: &Report) -> Vec<&Finding> {
    r.findings
        .iter()
        .filter(|f| CODES.contains(&f.code))
        .collect()
}

/// The findings of the Service codes: exactly `codes`, all on node-1.
fn on_node1(fixture: &str, edit: &dyn Fn(String) -> String, codes: &[Code]) -> Vec<Finding> {
    let r = checks::run(&with_rules(fixture, edit));
    let f = service_findings(&r);
    let got: Vec<Code> = f.iter().map(|f| f.code).collect();
    assert_eq!(got, codes, "{fixture}: {f:#?}");
    assert!(
        f.iter().all(|f| f.node.as_deref() == Some("node-1")),
        "{f:#?}"
    );
    f.into_iter().cloned().collect()
}

fn only_on_node1(fixture: &str, edit: &dyn Fn(String) -> String, code: Code) -> Finding {
    on_node1(fixture, edit, &[code]).remove(0)
}

#[test]
fn healthy_lab_rules_raise_no_service_finding_and_skip_nothing() {
    for fx in FIXTURES {
        let r = checks::run(&with_rules(fx, &|t| t));
        assert_eq!(service_findings(&r), Vec::<&Finding>::new(), "{fx}");
        let skipped: Vec<_> = r
            .skipped
            .iter()
            .filter(|s| CODES.iter().any(|c| c.as_str() == s.check))
            .collect();
        assert!(skipped.is_empty(), "{fx}: {skipped:#?}");
    }
}

#[test]
fn a_dnat_to_a_deleted_pod_is_a_stale_backend() {
    for fx in FIXTURES {
        // api-3 10.244.3.3 replaced by an address no pod holds.
        let edit = |t: String| {
            t.replace(
                "--to-destination 10.244.3.3:",
                "--to-destination 10.244.3.9:",
            )
        };
        // The replaced pod is a ready endpoint the rules no longer hold.
        let codes = [Code::ServiceStaleBackend, Code::ServiceBackendMissing];
        let f = on_node1(fx, &edit, &codes);
        let stale = f
            .iter()
            .find(|f| f.code == Code::ServiceStaleBackend)
            .expect("stale");
        assert!(stale.summary.contains("default/api"), "{}", stale.summary);
        let share = |e: &String| e.contains("10.244.3.9:8080 gets 1 of 3");
        assert!(stale.evidence.iter().any(share), "{:#?}", stale.evidence);
    }
}

#[test]
fn a_service_without_rules_is_missing() {
    for fx in FIXTURES {
        let edit = |t: String| {
            let lines = t.lines().filter(|l| {
                !l.contains("default/web:http cluster IP\" -m tcp --dport 80 -j KUBE-SVC")
            });
            lines.map(|l| format!("{l}\n")).collect()
        };
        let f = only_on_node1(fx, &edit, Code::ServiceRulesMissing);
        assert!(f.summary.contains("svc/default/web"), "{}", f.summary);
    }
}

#[test]
fn masquerades_removed_are_missing() {
    let kube = |t: String| {
        let keep = |l: &&str| !(l.starts_with("-A KUBE-POSTROUTING") && l.contains("MASQUERADE"));
        t.lines()
            .filter(keep)
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    };
    let flannel = |t: String| {
        let keep = |l: &&str| !(l.starts_with("-A FLANNEL-POSTRTG") && l.contains("MASQUERADE"));
        t.lines()
            .filter(keep)
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    };
    for fx in FIXTURES {
        let f = only_on_node1(fx, &kube, Code::MasqueradeMissing);
        assert!(f.summary.contains("mark Service traffic"), "{}", f.summary);
        let f = only_on_node1(fx, &flannel, Code::MasqueradeMissing);
        assert!(f.summary.contains("pod egress"), "{}", f.summary);
    }
}
