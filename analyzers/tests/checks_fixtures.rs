//! The recorded fixtures (fixtures/, dumped from real namespace labs):
//! every healthy bundle checks clean (no error or warning), and every
//! `<model>-broken-<code>` bundle yields its seeded code and only the
//! findings that follow from that fault (listed per fixture below).

use std::path::{Path, PathBuf};

use cnictl_analyzers::{checks, Report, Severity};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// Codes a broken fixture may show besides its seeded one, because they
/// follow from the same fault.
const CONSEQUENCES: &[(&str, &[&str])] = &[
    // BIRD lacks the block, so BIRD does not program the kernel route.
    (
        "calico-bgp-broken-bgp-route-missing",
        &["missing-pod-route"],
    ),
    // A dead session: nothing learned from the peer, no kernel routes.
    (
        "calico-bgp-broken-bgp-session-down",
        &["bgp-route-missing", "missing-pod-route"],
    ),
    // The same over IPv6 alone: the two IPv6 blocks are not learned.
    (
        "calico-bgp-dual-stack-broken-bgp-session-down",
        &["bgp-route-missing", "missing-pod-route"],
    ),
    // The same, on a reflector's session to a client: every other node
    // misses that client's block, and the client every block.
    (
        "calico-bgp-route-reflector-broken-bgp-session-down",
        &["bgp-route-missing", "missing-pod-route"],
    ),
    // The leaked block is announced twice: another node routes it ECMP to
    // both, and the blackhole makes it look like the node's own block.
    (
        "calico-bgp-broken-ipam-leaked-affinity",
        &["ipam-block-multiple-routes", "pod-cidr-overlap"],
    ),
    // The multipath route's extra next hop is a wrong next hop too.
    (
        "calico-bgp-broken-ipam-block-multiple-routes",
        &["wrong-next-hop"],
    ),
    // The Service added by hand selects `app: legacy`, which no pod has:
    // it has no ready endpoint, so every connection to it is refused.
    (
        "flannel-vxlan-broken-service-cidr-overlap",
        &["service-no-backends"],
    ),
    // The peers program their FDB from the wrong address node-1 advertises.
    (
        "flannel-vxlan-broken-node-address-mismatch",
        &["vxlan-fdb-mismatch"],
    ),
    // The stale DNAT replaced api-3's: that ready endpoint is missing too.
    (
        "flannel-vxlan-broken-service-stale-backend",
        &["service-backend-missing"],
    ),
];

/// A loaded fixture: its name, the codes seeded (`faults = code@node …` in
/// lab-info.txt, empty for a healthy one), and the report.
struct Fixture {
    name: String,
    faults: Vec<(String, Option<String>)>,
    report: Report,
}

fn faults(dir: &Path) -> Vec<(String, Option<String>)> {
    let info = std::fs::read_to_string(dir.join("lab-info.txt")).unwrap_or_default();
    let mut out = Vec::new();
    for line in info.lines() {
        let Some(rest) = line.strip_prefix("faults") else {
            continue;
        };
        let list = rest.trim_start().trim_start_matches('=');
        for f in list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|f| !f.is_empty() && *f != "none")
        {
            // A `-v6` fault is its code for the other family.
            let f = f.replace("-v6@", "@");
            let f = f.strip_suffix("-v6").unwrap_or(&f);
            match f.split_once('@') {
                Some((code, node)) => out.push((code.to_string(), Some(node.to_string()))),
                None => out.push((f.to_string(), None)),
            }
        }
    }
    out
}

/// Every bundle under fixtures/ with a nodes/ directory. A bundle that does
/// not load is a failure (fixtures are committed, complete, recordings).
fn fixtures() -> Vec<Fixture> {
    let Ok(entries) = std::fs::read_dir(fixtures_dir()) else {
        println!("skipped: no fixtures/ directory");
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("nodes").is_dir() && p.join("k8s").is_dir())
        .collect();
    dirs.sort();
    dirs.iter()
        .map(|d| {
            let name = d
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let snap = cnictl_collect::bundle::load_dir(d)
                .unwrap_or_else(|e| panic!("fixture {name} does not load: {e}"));
            Fixture {
                faults: faults(d),
                report: checks::run(&snap),
                name,
            }
        })
        .collect()
}

fn problems(r: &Report) -> Vec<&cnictl_analyzers::Finding> {
    r.findings
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .collect()
}

#[test]
fn healthy_fixtures_have_no_error_or_warning() {
    let all = fixtures();
    let healthy: Vec<_> = all.iter().filter(|f| f.faults.is_empty()).collect();
    if all.is_empty() {
        return;
    }
    assert!(!healthy.is_empty(), "no healthy fixture found");
    for f in healthy {
        assert!(
            !f.name.contains("-broken-"),
            "{}: broken fixture without faults line",
            f.name
        );
        let p = problems(&f.report);
        assert!(p.is_empty(), "{}: {p:#?}", f.name);
        assert_ne!(f.report.model, "unknown", "{}", f.name);
        assert!(
            f.name.starts_with(&f.report.model),
            "{} detected as {}",
            f.name,
            f.report.model
        );
    }
}

#[test]
fn broken_fixtures_yield_their_seeded_code_and_its_consequences_only() {
    for f in fixtures().iter().filter(|f| !f.faults.is_empty()) {
        let mut allowed: Vec<&str> = f.faults.iter().map(|(c, _)| c.as_str()).collect();
        for (name, extra) in CONSEQUENCES {
            if *name == f.name {
                allowed.extend_from_slice(extra);
            }
        }
        for (code, node) in &f.faults {
            let hit = f.report.findings.iter().any(|x| {
                x.code == *code && (x.node.is_none() || node.is_none() || x.node == *node)
            });
            assert!(
                hit,
                "{}: seeded {code}@{node:?} not found in {:#?}",
                f.name, f.report.findings
            );
        }
        for p in problems(&f.report) {
            assert!(
                allowed.contains(&p.code.as_str()),
                "{}: unexpected {p:#?}",
                f.name
            );
        }
        assert!(
            f.name.starts_with(&f.report.model),
            "{} detected as {}",
            f.name,
            f.report.model
        );
    }
}

#[test]
fn every_finding_has_evidence_and_a_hint() {
    for f in fixtures() {
        for x in &f.report.findings {
            assert!(
                !x.evidence.is_empty() && !x.hint.is_empty(),
                "{}: {x:#?}",
                f.name
            );
        }
    }
}

/// Root causes: every finding sits in exactly one group; the seeded fault
/// of each broken fixture is a root, never a consequence; and the findings
/// that follow from a seeded BGP fault are grouped under it.
#[test]
fn the_seeded_fault_is_the_root_and_its_consequences_hang_under_it() {
    for f in fixtures() {
        let r = &f.report;
        let mut seen: Vec<usize> = r.groups.iter().map(|g| g.root).collect();
        seen.extend(
            r.groups
                .iter()
                .flat_map(|g| g.symptoms.iter().map(|s| s.finding)),
        );
        seen.sort_unstable();
        assert_eq!(
            seen,
            (0..r.findings.len()).collect::<Vec<_>>(),
            "{}",
            f.name
        );
        for (code, _) in &f.faults {
            let roots = r.groups.iter().map(|g| &r.findings[g.root]);
            assert!(
                roots.clone().any(|x| x.code == *code),
                "{}: {code} is no root",
                f.name
            );
        }
    }
}

#[test]
fn one_bgp_session_down_is_one_root_cause_of_six_findings() {
    let all = fixtures();
    let Some(f) = all
        .iter()
        .find(|f| f.name == "calico-bgp-broken-bgp-session-down")
    else {
        return;
    };
    let r = &f.report;
    assert_eq!(r.findings.len(), 6, "{:#?}", r.findings);
    assert_eq!(r.root_count(), 1, "{:#?}", r.groups);
    let root = &r.findings[r.groups[0].root];
    assert_eq!(root.code.as_str(), "bgp-session-down");
    assert_eq!(root.node.as_deref(), Some("node-1"));
    let mut codes: Vec<&str> = r.groups[0]
        .symptoms
        .iter()
        .map(|s| r.findings[s.finding].code.as_str())
        .collect();
    codes.sort_unstable();
    let want = [
        "bgp-route-missing",
        "bgp-route-missing",
        "bgp-session-down",
        "missing-pod-route",
        "missing-pod-route",
    ];
    assert_eq!(codes, want);
}

#[test]
fn a_route_bird_did_not_learn_explains_the_missing_kernel_route() {
    let all = fixtures();
    let Some(f) = all
        .iter()
        .find(|f| f.name == "calico-bgp-broken-bgp-route-missing")
    else {
        return;
    };
    let r = &f.report;
    assert_eq!(r.root_count(), 1, "{:#?}", r.groups);
    assert_eq!(
        r.findings[r.groups[0].root].code.as_str(),
        "bgp-route-missing"
    );
    let s = &r.groups[0].symptoms;
    assert_eq!(s.len(), 1);
    assert_eq!(r.findings[s[0].finding].code.as_str(), "missing-pod-route");
    assert!(
        s[0].because.contains("BIRD did not learn the block"),
        "{}",
        s[0].because
    );
}

/// `--severity` filtering keeps the groups consistent: indices renumbered,
/// a kept symptom whose root was filtered out stands on its own.
#[test]
fn filtering_findings_renumbers_the_groups() {
    let all = fixtures();
    let Some(f) = all
        .iter()
        .find(|f| f.name == "calico-bgp-broken-bgp-session-down")
    else {
        return;
    };
    let mut r = f.report.clone();
    r.retain(|x| x.code.as_str() != "bgp-route-missing");
    assert_eq!(r.findings.len(), 4);
    assert_eq!(r.root_count(), 1);
    assert_eq!(r.groups[0].symptoms.len(), 3);
    assert!(r.groups[0].symptoms.iter().all(|s| s.finding < 4));
    let mut r = f.report.clone();
    let root = r.findings[r.groups[0].root].clone();
    r.retain(|x| *x != root);
    assert_eq!(r.findings.len(), 5);
    assert_eq!(r.root_count(), 5, "{:#?}", r.groups);
}
