//! The in-cluster wiring, end to end on loopback, against a fake API
//! server that serves recorded objects (with `discovery.k8s.io/v1`
//! EndpointSlices, which the real 1.20 server of tests/apiserver_live.rs
//! lacks; that file covers the RBAC, reviews and watches): the aggregator discovers the agent
//! through the API (the DaemonSet's pods), reads the cluster objects from
//! it, and pulls the agent with its service-account token; the agent reads
//! its expected state from the API and admits the aggregator only after a
//! TokenReview and a SubjectAccessReview. The agent collects the test
//! process's own namespace (read-only, no root needed).

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use cnictl_agent::{
    run_agent_on, run_aggregator_on, AgentConfig, AggregatorConfig, Discovery, KubeOptions,
};
use cnictl_collect::live::LiveOptions;
use common::{eventually, get};
use serde_json::{json, Value};
use tokio::sync::oneshot;

#[derive(Clone)]
struct Api {
    agent: SocketAddr,
    /// Requests seen, as `METHOD path?query`.
    seen: Arc<Mutex<Vec<String>>>,
}

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/flannel-vxlan/k8s")
        .join(name);
    std::fs::read_to_string(path).expect("fixture")
}

fn json_reply(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn api(State(api): State<Api>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let line = format!(
        "{} {}?{}",
        req.method(),
        path,
        req.uri().query().unwrap_or("")
    );
    if let Ok(mut s) = api.seen.lock() {
        s.push(line);
    }
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let review: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if line_is_watch(&api, &path) {
        // One change on the first nodes watch, bookmarks after: the
        // aggregator must re-list once for it and not on every refresh.
        let first = api.seen.lock().is_ok_and(|s| {
            s.iter()
                .filter(|l| l.starts_with("GET /api/v1/nodes?") && l.contains("watch=true"))
                .count()
                == 1
        });
        let kind = if path == "/api/v1/nodes" && first {
            "MODIFIED"
        } else {
            "BOOKMARK"
        };
        return json_reply(format!(
            "{{\"type\":\"{kind}\",\"object\":{{\"metadata\":{{\"resourceVersion\":\"7\"}}}}}}\n"
        ));
    }
    match path.as_str() {
        "/api/v1/nodes" => json_reply(fixture("nodes.json")),
        "/api/v1/pods" => json_reply(fixture("pods.json")),
        "/api/v1/services" => json_reply(fixture("services.json")),
        "/apis/discovery.k8s.io/v1/endpointslices" => json_reply(fixture("endpointslices.json")),
        "/api/v1/namespaces/cnictl/pods" => json_reply(
            json!({"kind": "PodList", "metadata": {}, "items": [{
                "metadata": {"namespace": "cnictl", "name": "cnictl-agent-x"},
                "spec": {"nodeName": "node-1", "hostNetwork": true},
                "status": {"phase": "Running", "podIPs": [{"ip": api.agent.ip().to_string()}]}}]})
            .to_string(),
        ),
        "/apis/authentication.k8s.io/v1/tokenreviews" => {
            let ok = review["spec"]["token"] == "aggregator-sa-token";
            json_reply(
                json!({"status": {"authenticated": ok, "user": {"username": "system:serviceaccount:cnictl:cnictl-aggregator"}}})
                    .to_string(),
            )
        }
        "/apis/authorization.k8s.io/v1/subjectaccessreviews" => {
            let ok = review["spec"]["user"] == "system:serviceaccount:cnictl:cnictl-aggregator";
            json_reply(json!({"status": {"allowed": ok}}).to_string())
        }
        _ => (StatusCode::NOT_FOUND, "{}").into_response(),
    }
}

/// Whether the last request seen was a watch of `path`.
fn line_is_watch(api: &Api, path: &str) -> bool {
    api.seen.lock().is_ok_and(|s| {
        s.last()
            .is_some_and(|l| l.starts_with(&format!("GET {path}?")) && l.contains("watch=true"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregator_discovers_and_pulls_an_authenticated_agent_through_the_api() {
    let agent_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let agent_addr = agent_listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let api_addr = api_listener.local_addr().expect("addr");
    let app = Router::new().fallback(api).with_state(Api {
        agent: agent_addr,
        seen: seen.clone(),
    });
    tokio::spawn(async move {
        let _ = axum::serve(api_listener, app).await;
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: f\n  cluster: {{server: 'http://{api_addr}'}}\n\
             users:\n- name: u\n  user: {{token: any}}\ncontexts:\n- name: f\n  context: {{cluster: f, user: u}}\ncurrent-context: f\n"
        ),
    )
    .expect("kubeconfig");
    let token = dir.path().join("token");
    std::fs::write(&token, "aggregator-sa-token\n").expect("token");
    let kube = KubeOptions {
        kubeconfig: Some(kubeconfig),
        ..KubeOptions::default()
    };

    let live = LiveOptions {
        node_name: Some("node-1".into()),
        ipvs: false,
        ..LiveOptions::default()
    };
    let mut acfg = AgentConfig::new(live, kube.clone());
    acfg.watch_netlink = false;
    let (stop_agent, rx) = oneshot::channel::<()>();
    tokio::spawn(run_agent_on(agent_listener, acfg, async move {
        let _ = rx.await;
    }));

    let discovery = Discovery::Kube {
        namespace: "cnictl".into(),
        selector: "app.kubernetes.io/component=agent".into(),
        port: agent_addr.port(),
    };
    let mut gcfg = AggregatorConfig::new(discovery, Some(kube));
    gcfg.refresh = Duration::from_millis(300);
    gcfg.token_file = Some(token);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let agg = listener.local_addr().expect("addr");
    let (stop_agg, rx) = oneshot::channel::<()>();
    tokio::spawn(run_aggregator_on(
        listener,
        gcfg,
        common::exporter(),
        async move {
            let _ = rx.await;
        },
    ));

    let nodes = eventually(
        Duration::from_secs(30),
        "node-1 pulled and analysed",
        || async move {
            let r = get(agg, "/api/v1/nodes", &[]).await;
            let doc: Value = serde_json::from_str(&r.body).ok()?;
            let n1 = doc["nodes"]
                .as_array()?
                .iter()
                .find(|n| n["name"] == "node-1")?
                .clone();
            (n1["has_dump"] == true).then_some(doc)
        },
    )
    .await;
    assert_eq!(
        nodes["nodes"].as_array().map(Vec::len),
        Some(3),
        "all three nodes from the API"
    );
    let agents = get(agg, "/api/v1/agents", &[]).await;
    let doc: Value = serde_json::from_str(&agents.body).expect("agents doc");
    assert_eq!(doc["agents"][0]["state"], "up");
    assert_eq!(doc["agents"][0]["node"], "node-1");
    assert_eq!(doc["agents"][0]["target"], agent_addr.to_string());

    // The agent's API stays closed to callers without that token.
    assert_eq!(get(agent_addr, "/api/v1/node", &[]).await.status, 401);

    let seen_now = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(seen_now
        .iter()
        .any(|l| l.starts_with("GET /api/v1/namespaces/cnictl/pods?")
            && l.contains("labelSelector=app.kubernetes.io%2Fcomponent%3Dagent")));
    assert!(seen_now
        .iter()
        .any(|l| l.starts_with("POST /apis/authentication.k8s.io/v1/tokenreviews")));
    // The agent reads its expected state beside its first collection, not
    // before it: under load the aggregator may show the node first.
    let own_pods = |l: &String| {
        l.starts_with("GET /api/v1/pods?") && l.contains("fieldSelector=spec.nodeName%3Dnode-1")
    };
    let log = seen.clone();
    eventually(
        Duration::from_secs(10),
        "the agent lists only its own node's pods",
        || {
            let log = log.clone();
            async move { log.lock().ok()?.iter().any(own_pods).then_some(()) }
        },
    )
    .await;
    // The objects are watched, and re-listed on a change, not every refresh
    // (300 ms here): over 3 s, the initial list plus the one the watch's
    // MODIFIED event asked for.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    let node_lists = seen
        .iter()
        .filter(|l| {
            l.starts_with("GET /api/v1/nodes?")
                && !l.contains("watch=true")
                && !l.contains("limit=1&")
        })
        .filter(|l| !l.ends_with("limit=1"))
        .count();
    assert!(
        seen.iter()
            .any(|l| l.starts_with("GET /api/v1/nodes?") && l.contains("watch=true")),
        "{seen:?}"
    );
    eprintln!("node lists in 3 s: {node_lists}");
    assert!(
        (2..=4).contains(&node_lists),
        "{node_lists} node lists in 3 s: {seen:#?}"
    );
    let _ = stop_agent.send(());
    let _ = stop_agg.send(());
}
