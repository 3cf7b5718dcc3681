//! Shared fixtures for the exporter's integration tests: generated clusters
//! (cnictl_gen) with one injected fault, and request helpers over
//! `Router::oneshot`.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use cnictl_exporter::{AppState, Limits};
use cnictl_gen::{GenModel, GenSpec};
use cnictl_model::{ClusterSnapshot, RouteType};
use http_body_util::BodyExt;
use tower::ServiceExt;

/// The node whose routes to node-1's pods are removed by [`broken`].
pub const BROKEN_NODE: &str = "node-3";

/// A healthy generated Calico BGP cluster.
pub fn healthy(nodes: usize) -> ClusterSnapshot {
    let mut spec = GenSpec::new(GenModel::CalicoBgp, nodes);
    spec.pods_per_node = 4;
    spec.services = 2;
    cnictl_gen::generate(&spec).expect("generate")
}

/// [`healthy`] with node-3's routes to node-1's blocks deleted: a
/// `missing-pod-route` fault that explain shows as a drop.
pub fn broken(nodes: usize) -> ClusterSnapshot {
    let mut snap = healthy(nodes);
    let blocks: Vec<ipnet::IpNet> = snap.nodes["node-1"]
        .routes
        .iter()
        .filter(|r| r.route_type == RouteType::Blackhole)
        .map(|r| r.dst)
        .collect();
    assert!(!blocks.is_empty(), "generated node-1 has IPAM blocks");
    let node = snap.nodes.get_mut(BROKEN_NODE).expect("node-3 exists");
    node.routes
        .retain(|r| !blocks.iter().any(|b| b.contains(&r.dst.network())));
    snap
}

/// A router over the analysis of `snap` with default limits.
pub fn app(snap: ClusterSnapshot) -> Router {
    app_with(snap, Limits::default())
}

pub fn app_with(snap: ClusterSnapshot, limits: Limits) -> Router {
    cnictl_exporter::router(AppState::from_snapshot(snap, limits))
}

/// A response: status, content type and body bytes.
pub struct Resp {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts a JSON error with this status and returns its code.
    pub fn error_code(&self, status: StatusCode) -> String {
        assert_eq!(self.status, status, "body: {}", self.text());
        let v = self.json();
        let code = v["error"]["code"].as_str().expect("error.code").to_string();
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "error.message present: {v}"
        );
        code
    }
}

pub async fn send(app: &Router, req: Request<Body>) -> Resp {
    let res = app
        .clone()
        .oneshot(req)
        .await
        .expect("router is infallible");
    let status = res.status();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = res
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Resp {
        status,
        content_type,
        body,
    }
}

pub async fn get(app: &Router, uri: &str) -> Resp {
    let req = Request::get(uri).body(Body::empty()).expect("request");
    send(app, req).await
}

/// A minimal HTTP/1.0 GET against a live server: (status, body).
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// NetworkPolicies for [`policy_bundle`]: every pod in `default` isolated
/// for ingress, `app=api` open to `app=web` on TCP 8080 and to everyone on
/// UDP 53. The recorded Calico dataplane programs no policy, so the
/// denied pairs are the disagreements (`policy-not-enforced`).
pub const POLICIES: &str = r#"{"apiVersion": "v1", "kind": "List", "items": [
 {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
  "metadata": {"namespace": "default", "name": "default-deny"},
  "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}},
 {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
  "metadata": {"namespace": "default", "name": "api-from-web"},
  "spec": {"podSelector": {"matchLabels": {"app": "api"}},
   "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                "ports": [{"protocol": "TCP", "port": 8080}]},
               {"ports": [{"protocol": "UDP", "port": 53}]}]}}
]}"#;

const NAMESPACES: &str = r#"{"apiVersion": "v1", "kind": "List", "items": [
 {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default",
  "labels": {"kubernetes.io/metadata.name": "default"}}},
 {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system",
  "labels": {"kubernetes.io/metadata.name": "kube-system"}}}
]}"#;

/// The recorded calico-bgp fixture bundle with [`POLICIES`] and the
/// namespaces added as `k8s/networkpolicies.json` and
/// `k8s/namespaces.json`, written under `dir` (kept by the caller).
pub fn policy_bundle(dir: &std::path::Path) -> std::path::PathBuf {
    let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/calico-bgp");
    let to = dir.join("calico-bgp-policies");
    copy_dir(&from, &to);
    std::fs::write(to.join("k8s/networkpolicies.json"), POLICIES).expect("write policies");
    std::fs::write(to.join("k8s/namespaces.json"), NAMESPACES).expect("write namespaces");
    to
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read fixture") {
        let e = e.expect("dir entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

/// The snapshot of [`policy_bundle`].
pub fn policy_snapshot() -> ClusterSnapshot {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = policy_bundle(dir.path());
    cnictl_collect::bundle::load_dir(&bundle).expect("policy bundle loads")
}
