//! NetworkPolicy from the command line, without a dataplane: `matrix` and
//! `explain` on a directory of manifests and on a bundle of `k8s/` alone,
//! their exit codes and errors. (Fidelity against the kernel is
//! tests/policy_live.rs; semantics against an independent analyzer are
//! scored by test.sh with ../shared/policy-conformance.)

use std::fs;
use std::path::Path;

use serde_json::Value;

mod common;
use common::*;

/// A shop: `db` accepts TCP 5432 from `api` only (default deny in `shop`),
/// `web` is open; `monitoring/prom` is outside the allow list.
const MANIFESTS: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  replicas: 2
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: api, ports: [{containerPort: 8080}]}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, ports: [{name: pg, containerPort: 5432}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: prom, namespace: monitoring, labels: {app: prom}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: shop}
spec: {podSelector: {}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-from-api, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: api}}}]
    ports: [{port: pg}]
"#;

fn manifests(dir: &Path) -> String {
    fs::create_dir_all(dir.join("sub")).unwrap();
    fs::write(dir.join("sub/shop.yaml"), MANIFESTS).unwrap();
    fs::write(dir.join("values.yaml"), "replicas: 3\n").unwrap();
    dir.to_string_lossy().into_owned()
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out.stderr)))
}

fn cell<'a>(doc: &'a Value, src: &str, dst: &str) -> &'a Value {
    let cells = doc["cells"].as_array().expect("cells");
    cells
        .iter()
        .find(|c| c["src"] == src && c["dst"] == dst)
        .unwrap_or_else(|| panic!("no cell {src} → {dst}"))
}

#[test]
fn matrix_from_manifests_follows_the_policies() {
    let tmp = tempfile::tempdir().unwrap();
    let m = manifests(tmp.path());
    let out = cnictl_ok(
        &["matrix", "--manifests", &m, "--port", "5432", "-o", "json"],
        0,
    );
    let doc = json(&out);
    assert_eq!(doc["pods"], 4, "api-0, api-1, db-0, prom");
    let allowed = cell(&doc, "shop/api-0", "shop/db-0");
    assert_eq!(allowed["intended"], "allowed");
    assert_eq!(allowed["by"], serde_json::json!(["shop/db-from-api"]));
    assert_eq!(allowed["dataplane"], "not-evaluated");
    let denied = cell(&doc, "monitoring/prom", "shop/db-0");
    assert_eq!(denied["intended"], "denied");
    assert_eq!(
        denied["by"],
        serde_json::json!(["shop/db-from-api", "shop/deny-all"])
    );
    assert_eq!(
        cell(&doc, "shop/db-0", "monitoring/prom")["intended"],
        "allowed"
    );
    // Without --port: one cell per pair for the one port a policy names (pg → 5432).
    let all = json(&cnictl_ok(&["matrix", "--manifests", &m, "-o", "json"], 0));
    assert_eq!(all["cells"].as_array().unwrap().len(), 12);
    let text = text(
        &cnictl_ok(
            &[
                "matrix",
                "--manifests",
                &m,
                "--by",
                "namespace",
                "--port",
                "5432",
            ],
            0,
        )
        .stdout,
    );
    assert!(
        text.contains("monitoring → shop: denied (0/3 pod pairs allowed)"),
        "{text}"
    );
    assert!(
        text.contains("shop → shop: partial (2/6 pod pairs allowed)"),
        "{text}"
    );
}

#[test]
fn explain_without_a_dataplane_answers_intent_and_exits_unknown() {
    let tmp = tempfile::tempdir().unwrap();
    let m = manifests(tmp.path());
    let out = cnictl_ok(
        &[
            "explain",
            "--manifests",
            &m,
            "monitoring/prom",
            "shop/db-0",
            "--port",
            "5432",
            "-o",
            "json",
        ],
        3,
    );
    let doc = json(&out);
    assert_eq!(doc["verdict"], "unknown");
    assert_eq!(doc["policy"]["intended"], "denied");
    let line = doc["policy"]["ingress"]["line"].as_str().unwrap();
    assert!(line.contains("denied: selected by shop/deny-all, shop/db-from-api, no rule allows TCP 5432 from monitoring/prom"), "{line}");
    let out = cnictl_ok(
        &[
            "explain",
            "--manifests",
            &m,
            "-n",
            "shop",
            "api-1",
            "db-0",
            "--port",
            "5432",
        ],
        3,
    );
    assert!(
        text(&out.stdout).contains("ingress to shop/db-0: allowed by shop/db-from-api ingress[0]")
    );
    let bad = cnictl_ok(
        &[
            "explain",
            "--manifests",
            &m,
            "nope",
            "shop/db-0",
            "--port",
            "5432",
        ],
        2,
    );
    assert!(
        text(&bad.stderr).contains("unknown pod \"nope\""),
        "{}",
        text(&bad.stderr)
    );
}

#[test]
fn a_bundle_of_k8s_alone_is_intent_only_and_policies_are_required() {
    let tmp = tempfile::tempdir().unwrap();
    let m = manifests(&tmp.path().join("m"));
    let snap = tmp.path().join("b");
    // The manifests' objects written as a k8s-only bundle via kubectl-style files.
    let doc = json(&cnictl_ok(
        &["matrix", "--manifests", &m, "--port", "5432", "-o", "json"],
        0,
    ));
    fs::create_dir_all(snap.join("k8s")).unwrap();
    let pods = r#"{"kind":"List","items":[
      {"kind":"Pod","metadata":{"name":"api-0","namespace":"shop","labels":{"app":"api"}}},
      {"kind":"Pod","metadata":{"name":"db-0","namespace":"shop","labels":{"app":"db"}},
       "spec":{"nodeName":"node-1","containers":[{"name":"db","ports":[{"name":"pg","containerPort":5432}]}]},
       "status":{"podIP":"10.244.1.5"}}]}"#;
    let nodes = r#"{"kind":"List","items":[
      {"kind":"Node","metadata":{"name":"node-1"},"status":{"addresses":[{"type":"InternalIP","address":"192.0.2.11"}]}},
      {"kind":"Node","metadata":{"name":"node-2"},"status":{"addresses":[{"type":"InternalIP","address":"192.0.2.12"}]}}]}"#;
    fs::write(snap.join("k8s/nodes.json"), nodes).unwrap();
    fs::write(snap.join("k8s/pods.json"), pods).unwrap();
    let b = snap.to_string_lossy().into_owned();
    let no_policies = cnictl_ok(&["matrix", "--bundle", &b], 2);
    assert!(
        text(&no_policies.stderr).contains("k8s/networkpolicies.json"),
        "{}",
        text(&no_policies.stderr)
    );
    let policies = r#"{"kind":"List","items":[{"kind":"NetworkPolicy","metadata":{"name":"db-from-api","namespace":"shop"},
      "spec":{"podSelector":{"matchLabels":{"app":"db"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"app":"api"}}}],"ports":[{"port":"pg"}]}]}}]}"#;
    fs::write(snap.join("k8s/networkpolicies.json"), policies).unwrap();
    let from_bundle = json(&cnictl_ok(
        &["matrix", "--bundle", &b, "--port", "5432", "-o", "json"],
        0,
    ));
    assert_eq!(
        cell(&from_bundle, "shop/api-0", "shop/db-0")["intended"],
        cell(&doc, "shop/api-0", "shop/db-0")["intended"]
    );
    cnictl_ok(
        &[
            "explain",
            "--bundle",
            &b,
            "shop/db-0",
            "shop/api-0",
            "--port",
            "8080",
        ],
        3,
    );
    // Its own node always reaches a pod (the API's exception); another node
    // is an address like any other, and no rule allows it.
    let from = |src: &str| {
        let a = [
            "explain",
            "--bundle",
            &b,
            src,
            "shop/db-0",
            "--port",
            "5432",
            "-o",
            "json",
        ];
        json(&cnictl_ok(&a, 3))
    };
    let own = from("192.0.2.11");
    assert_eq!(own["policy"]["intended"], "allowed", "{own}");
    let why = own["policy"]["assumptions"][0].as_str().unwrap_or("");
    assert!(why.contains("its own node"), "{own}");
    assert_eq!(from("192.0.2.12")["policy"]["intended"], "denied");
    // check still wants a dataplane.
    cnictl_ok(&["check", "--bundle", &b], 2);
}
