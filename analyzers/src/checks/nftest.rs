//! Test support for the netfilter checks: generated clusters (3 nodes, 2
//! pods each) whose nodes carry rulesets parsed from what the real
//! `iptables-save` printed (analyzers/tests/data/netfilter/, README there).

use cnictl_formats::iptables::parse_iptables_save;
use cnictl_gen::{generate, GenModel, GenSpec};
use cnictl_model::netfilter::{Netfilter, Source};
use cnictl_model::ClusterSnapshot;

use crate::code::Code;
use crate::finding::{Finding, Report, Skipped};

/// A captured dump by name (`flannel-fwd` → flannel-fwd.txt).
pub(crate) fn dump(name: &str) -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/netfilter");
    let path = format!("{dir}/{name}.txt");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The formats crate's captured dumps (formats/tests/data/netfilter/).
pub(crate) fn formats_dump(file: &str) -> String {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../formats/tests/data/netfilter"
    );
    let path = format!("{dir}/{file}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A healthy generated cluster; no node has netfilter collected yet.
pub(crate) fn cluster(model: GenModel) -> ClusterSnapshot {
    let mut spec = GenSpec::new(model, 3);
    spec.pods_per_node = 2;
    generate(&spec).expect("generate")
}

/// Gives `node` the tables of these dumps, read as the bundle importer
/// reads each file.
pub(crate) fn set_rules(snap: &mut ClusterSnapshot, node: &str, dumps: &[(Source, &str)]) {
    let mut nf = Netfilter::default();
    for (source, text) in dumps {
        let tables = parse_iptables_save(text, *source).expect("captured dump parses");
        nf.tables.extend(tables);
        nf.sources.push(*source);
    }
    let n = snap.nodes.get_mut(node).expect("node in the snapshot");
    n.netfilter = Some(nf);
}

/// Every node gets the captured dump `name` as its iptables-save.txt.
pub(crate) fn rules_everywhere(snap: &mut ClusterSnapshot, name: &str) {
    let text = dump(name);
    let nodes: Vec<String> = snap.nodes.keys().cloned().collect();
    for n in nodes {
        set_rules(snap, &n, &[(Source::IptablesSave, &text)]);
    }
}

pub(crate) fn findings(snap: &ClusterSnapshot, code: Code) -> Vec<Finding> {
    let r: Report = super::run(snap);
    r.findings.into_iter().filter(|f| f.code == code).collect()
}

pub(crate) fn skips(snap: &ClusterSnapshot, code: Code) -> Vec<Skipped> {
    let r: Report = super::run(snap);
    let name = code.as_str();
    r.skipped.into_iter().filter(|s| s.check == name).collect()
}
