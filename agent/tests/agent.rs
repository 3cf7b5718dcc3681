//! `cnictl agent` end to end on loopback: caller authentication through a
//! fake API server (TokenReview + SubjectAccessReview answers, counted to
//! prove the cache; tests/apiserver_live.rs runs the same reviews against
//! a real kube-apiserver with deploy/'s RBAC), the snapshot's ETag /
//! If-None-Match, findings, metrics, and netlink notifications in a
//! namespace the test creates.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Router;
use cnictl_agent::auth::CacheTtl;
use cnictl_agent::{run_agent_on, AgentConfig, ExpectedSource, KubeOptions, NodeFindings};
use cnictl_collect::live::{LiveOptions, NetnsTarget};
use cnictl_model::NodeSnapshot;
use common::{eventually, get, lab_unavailable, prefix, Netns};
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// Tokens the fake API knows: `reader` may get the agent paths, `nobody`
/// is authenticated but has no permission.
async fn fake_review_api(
    State(calls): State<Arc<AtomicUsize>>,
    req: Request,
) -> axum::response::Response {
    calls.fetch_add(1, Ordering::SeqCst);
    let path = req.uri().path().to_string();
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let review: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let reply = if path.ends_with("/tokenreviews") {
        let user = match review["spec"]["token"].as_str() {
            Some("reader-token") => Some("system:serviceaccount:cnictl:cnictl-aggregator"),
            Some("nobody-token") => Some("system:serviceaccount:default:nobody"),
            _ => None,
        };
        match user {
            Some(u) => json!({"kind": "TokenReview", "status": {"authenticated": true,
                "user": {"username": u, "uid": "1", "groups": ["system:serviceaccounts"]}}}),
            None => json!({"kind": "TokenReview", "status": {"authenticated": false}}),
        }
    } else if path.ends_with("/subjectaccessreviews") {
        let allowed = review["spec"]["user"] == "system:serviceaccount:cnictl:cnictl-aggregator"
            && review["spec"]["nonResourceAttributes"]["verb"] == "get"
            && review["spec"]["nonResourceAttributes"]["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/cnictl-agent/api/v1/"));
        json!({"kind": "SubjectAccessReview", "status": {"allowed": allowed}})
    } else {
        return (axum::http::StatusCode::NOT_FOUND, "{}").into_response();
    };
    (
        [(header::CONTENT_TYPE, "application/json")],
        reply.to_string(),
    )
        .into_response()
}

async fn start_fake_api(calls: Arc<AtomicUsize>) -> (tempfile::TempDir, KubeOptions) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new().fallback(fake_review_api).with_state(calls);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: f\n  cluster: {{server: 'http://{addr}'}}\n\
         users:\n- name: agent\n  user: {{token: agent-sa-token}}\ncontexts:\n- name: f\n  context: {{cluster: f, user: agent}}\ncurrent-context: f\n"
    );
    std::fs::write(&path, text).expect("kubeconfig");
    let opts = KubeOptions {
        kubeconfig: Some(path),
        ..KubeOptions::default()
    };
    (dir, opts)
}

struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

async fn start_agent(cfg: AgentConfig) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let r = run_agent_on(listener, cfg, async move {
            let _ = rx.await;
        })
        .await;
        if let Err(e) = r {
            eprintln!("agent ended: {e:#}");
        }
    });
    Running {
        addr,
        stop: Some(tx),
    }
}

fn fixture_bundle() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/flannel-vxlan")
}

/// Collects the test process's own namespace: read-only, no root needed.
fn own_namespace_config() -> AgentConfig {
    let live = LiveOptions {
        node_name: Some("node-1".into()),
        ipvs: false,
        ..LiveOptions::default()
    };
    let mut cfg = AgentConfig::new(live, KubeOptions::default());
    cfg.interval = Duration::from_secs(3600);
    cfg.watch_netlink = false;
    cfg.expected = ExpectedSource::Bundle(fixture_bundle());
    cfg
}

#[tokio::test]
async fn api_requires_a_reviewed_token() {
    let calls = Arc::new(AtomicUsize::new(0));
    let (_dir, kube) = start_fake_api(calls.clone()).await;
    let mut cfg = own_namespace_config();
    cfg.auth_kube = Some(kube);
    cfg.auth_ttl = CacheTtl {
        allowed: Duration::from_secs(60),
        denied: Duration::from_secs(60),
    };
    let agent = start_agent(cfg).await;
    let a = agent.addr;
    eventually(Duration::from_secs(20), "first collection", || async move {
        (get(a, "/readyz", &[]).await.status == 200).then_some(())
    })
    .await;

    assert_eq!(get(a, "/api/v1/node", &[]).await.status, 401);
    let bad = get(a, "/api/v1/node", &[("Authorization", "Bearer stolen")]).await;
    assert_eq!(bad.status, 401, "{}", bad.body);
    let nobody = get(
        a,
        "/api/v1/findings",
        &[("Authorization", "Bearer nobody-token")],
    )
    .await;
    assert_eq!(nobody.status, 403, "{}", nobody.body);
    let ok = get(
        a,
        "/api/v1/node",
        &[("Authorization", "Bearer reader-token")],
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let node: NodeSnapshot = serde_json::from_str(&ok.body).expect("a NodeSnapshot");
    assert_eq!(node.name, "node-1");
    assert!(node.links.iter().any(|l| l.name == "lo"));

    // Cached: the same token and path again costs the API nothing.
    let before = calls.load(Ordering::SeqCst);
    assert_eq!(
        get(
            a,
            "/api/v1/node",
            &[("Authorization", "Bearer reader-token")]
        )
        .await
        .status,
        200
    );
    assert_eq!(calls.load(Ordering::SeqCst), before);

    // Open endpoints stay open.
    assert_eq!(get(a, "/healthz", &[]).await.status, 200);
    let metrics = get(a, "/metrics", &[]).await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .body
            .contains("cnictl_agent_auth_requests_total{result=\"forbidden\"} 1"),
        "{}",
        metrics.body
    );
    assert!(
        metrics
            .body
            .contains("cnictl_agent_collections_total{result=\"ok\"}"),
        "{}",
        metrics.body
    );
}

#[tokio::test]
async fn without_the_api_and_without_the_insecure_flag_the_agent_refuses_to_start() {
    let mut cfg = own_namespace_config();
    cfg.auth_kube = None;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let err = run_agent_on(listener, cfg, std::future::pending())
        .await
        .expect_err("no way to authenticate callers");
    assert!(format!("{err:#}").contains("--insecure-no-auth"), "{err:#}");
}

#[tokio::test]
async fn etag_and_findings_without_auth_in_a_lab() {
    let mut cfg = own_namespace_config();
    cfg.insecure_no_auth = true;
    let agent = start_agent(cfg).await;
    let a = agent.addr;
    let first = eventually(Duration::from_secs(20), "a snapshot", || async move {
        let r = get(a, "/api/v1/node", &[]).await;
        (r.status == 200).then_some(r)
    })
    .await;
    let tag = first.headers.get("etag").cloned().expect("an ETag");
    let again = get(a, "/api/v1/node", &[("If-None-Match", &tag)]).await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let other = get(a, "/api/v1/node", &[("If-None-Match", "\"stale\"")]).await;
    assert_eq!(other.status, 200);
    assert_eq!(
        other.headers.get("x-cnictl-node").map(String::as_str),
        Some("node-1")
    );

    // gzip for clients that ask (the aggregator): its own entity tag.
    let gz = get(a, "/api/v1/node", &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(gz.status, 200);
    assert_eq!(
        gz.headers.get("content-encoding").map(String::as_str),
        Some("gzip")
    );
    let gz_tag = gz.headers.get("etag").cloned().expect("an ETag");
    assert_ne!(gz_tag, tag);
    let gz_again = get(
        a,
        "/api/v1/node",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", &gz_tag)],
    )
    .await;
    assert_eq!(gz_again.status, 304);

    // The expected state (the fixture's k8s objects) loads after the first
    // collection and triggers another: the findings then judge this host
    // as node-1 of a Flannel VXLAN cluster.
    let doc = eventually(
        Duration::from_secs(20),
        "findings against the expected state",
        || async move {
            let f = get(a, "/api/v1/findings", &[]).await;
            assert_eq!(f.status, 200);
            let doc: NodeFindings = serde_json::from_str(&f.body).expect("findings document");
            (doc.model == "flannel-vxlan").then_some(doc)
        },
    )
    .await;
    assert_eq!(doc.schema, "cnictl/v1");
    assert_eq!(doc.node, "node-1");
    assert!(doc
        .findings
        .iter()
        .all(|f| f.node.as_deref() == Some("node-1")));
    // This host has no flannel.1 towards node-2's VTEP: a route finding.
    assert!(
        doc.findings.iter().any(|f| f.summary.contains("node-2")),
        "{:?}",
        doc.findings
    );
}

#[tokio::test]
async fn netlink_changes_trigger_a_collection_before_the_interval() {
    if let Some(why) = lab_unavailable() {
        eprintln!("skipping netlink_changes_trigger_a_collection_before_the_interval: {why}");
        return;
    }
    let ns = Netns::new(prefix("n"));
    let live = LiveOptions {
        netns: Some(NetnsTarget::Name(ns.name.clone())),
        node_name: Some("node-1".into()),
        ipvs: false,
        ..LiveOptions::default()
    };
    let mut cfg = AgentConfig::new(live, KubeOptions::default());
    cfg.interval = Duration::from_secs(3600);
    cfg.debounce = Duration::from_millis(200);
    cfg.expected = ExpectedSource::None;
    cfg.insecure_no_auth = true;
    let agent = start_agent(cfg).await;
    let a = agent.addr;
    let first = eventually(Duration::from_secs(20), "a snapshot", || async move {
        let r = get(a, "/api/v1/node", &[]).await;
        (r.status == 200).then_some(r)
    })
    .await;
    let tag = first.headers.get("etag").cloned().expect("an ETag");
    // Let the subscription settle, then change the namespace.
    tokio::time::sleep(Duration::from_millis(300)).await;
    ns.ip(&["addr", "add", "198.51.100.7/24", "dev", "lo"]);
    let changed = eventually(
        Duration::from_secs(10),
        "a re-collection after the change",
        || {
            let tag = tag.clone();
            async move {
                let r = get(a, "/api/v1/node", &[("If-None-Match", &tag)]).await;
                (r.status == 200).then_some(r)
            }
        },
    )
    .await;
    let node: NodeSnapshot = serde_json::from_str(&changed.body).expect("snapshot");
    assert!(
        node.addrs
            .iter()
            .any(|ad| ad.addr.to_string() == "198.51.100.7/24"),
        "new address in the snapshot"
    );
    let m = get(a, "/metrics", &[]).await;
    assert!(
        m.body
            .lines()
            .any(|l| l.starts_with("cnictl_agent_netlink_events_total ") && !l.ends_with(" 0")),
        "{}",
        m.body
    );
}
