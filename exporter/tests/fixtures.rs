//! The recorded fixture bundles (fixtures/) through the whole HTTP surface:
//! the API must pass the core's answers through unchanged (findings equal
//! `checks::run`, explain equals `explain::explain`), every node page and
//! the metrics must render, for every model, healthy and broken.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use cnictl_analyzers::explain::{explain, ExplainRequest};
use cnictl_analyzers::hints;
use common::*;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// (bundle name, src, dst) from fixtures/contract-pairs.txt.
fn contract_pairs() -> Vec<(String, String, String)> {
    let text =
        std::fs::read_to_string(fixtures_dir().join("contract-pairs.txt")).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((
                it.next()?.to_string(),
                it.next()?.to_string(),
                it.next()?.to_string(),
            ))
        })
        .collect()
}

fn bundles() -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(fixtures_dir()) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("k8s/nodes.json").exists())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn every_fixture_serves_the_cores_answers() {
    let list = bundles();
    if list.is_empty() {
        eprintln!(
            "skipping: no fixture bundles under {}",
            fixtures_dir().display()
        );
        return;
    }
    for dir in &list {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let snap = cnictl_collect::bundle::load_dir(dir).unwrap_or_else(|e| panic!("{name}: {e}"));
        let report = cnictl_analyzers::checks::run(&snap);
        let app = app(snap.clone());
        let v = get(&app, "/api/v1/findings?limit=5000").await.json();
        let api: Vec<cnictl_analyzers::Finding> =
            serde_json::from_value(v["findings"].clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(api, report.findings, "{name}: findings passed through");
        assert_eq!(v["model"], report.model.as_str(), "{name}");
        let nodes = get(&app, "/api/v1/nodes").await.json();
        for n in nodes["nodes"].as_array().into_iter().flatten() {
            let node = n["name"].as_str().unwrap_or_default();
            let r = get(&app, &format!("/api/v1/nodes/{node}")).await;
            assert_eq!(r.status, StatusCode::OK, "{name}/{node}");
            let d = r.json();
            let mine = report
                .findings
                .iter()
                .filter(|f| f.node.as_deref() == Some(node))
                .count();
            assert_eq!(
                d["findings"].as_array().map(Vec::len),
                Some(mine),
                "{name}/{node}"
            );
        }
        let text = get(&app, "/metrics").await.text();
        let parsed = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
            .expect("metrics parse");
        let keys: Vec<_> = parsed
            .samples
            .iter()
            .map(|s| (s.metric.clone(), format!("{:?}", s.labels)))
            .collect();
        let unique: BTreeSet<_> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len(), "{name}: duplicate series");
        if let Some(code) = name.split("-broken-").nth(1) {
            let listed = get(&app, &format!("/api/v1/findings?code={code}")).await;
            if cnictl_analyzers::Code::parse(code).is_some() {
                let want = report.findings.iter().filter(|f| f.code == code).count();
                assert_eq!(
                    listed.json()["total"].as_u64(),
                    Some(want as u64),
                    "{name}: code filter"
                );
            }
        }
    }
}

#[tokio::test]
async fn explain_matches_the_analyzers_for_contract_pairs() {
    let pairs = contract_pairs();
    if pairs.is_empty() {
        eprintln!("skipping: fixtures/contract-pairs.txt not found");
        return;
    }
    for (bundle, src, dst) in pairs {
        let dir = fixtures_dir().join(&bundle);
        let Ok(snap) = cnictl_collect::bundle::load_dir(&dir) else {
            panic!("{bundle} does not load");
        };
        let dp = hints::dataplane(&snap);
        let mut want = explain(&snap, &dp, &ExplainRequest::new(src.clone(), dst.clone()))
            .expect("core explains");
        // The API attaches the drop's finding as `cnictl explain` does.
        cnictl_analyzers::explain::attach_finding(&snap, &mut want);
        let app = app(snap);
        let r = get(&app, &format!("/api/v1/explain?src={src}&dst={dst}")).await;
        assert_eq!(r.status, StatusCode::OK, "{bundle}: {}", r.text());
        assert_eq!(
            r.json(),
            serde_json::to_value(&want).expect("serializes"),
            "{bundle} {src} → {dst}"
        );
    }
}
