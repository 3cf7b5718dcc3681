//! The `--kube` reader against a local HTTP server that plays the API
//! server, named in a test kubeconfig. The server replays recorded
//! `kubectl get … -o json` documents from fixtures/flannel-vxlan/k8s —
//! split into pages, with a `continue` token — plus watch streams, 401/403/
//! 404/500 Status bodies and a server that never answers.
//!
//! A real API server (kube-apiserver 1.20.2, tests/apiserver_live.rs)
//! covers RBAC, reviews, watches and paging; these recordings stay for
//! what 1.20 cannot show: `discovery.k8s.io/v1` EndpointSlices as newer
//! servers serve them (1.20 has v1beta1 only), expired `continue` tokens,
//! error bodies and servers that hang or misbehave.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use cnictl_agent::kube::{
    self, current_version, list_agent_pods, read_calico, read_cluster, watch, KubeError,
    KubeOptions, Resource,
};
use cnictl_formats::{parse_endpointslices, parse_nodes, parse_pods, parse_services};
use serde_json::{json, Value};

const TOKEN: &str = "test-token";

/// How the fake API answers one path.
#[derive(Clone)]
enum Reply {
    /// A List document, served in pages of `limit` with `continue` tokens.
    List(Value),
    /// A fixed status and JSON body.
    Status(u16, Value),
    /// Never answers within any test timeout.
    Hang,
    /// A watch stream: these event lines, then the server closes.
    Watch(Vec<Value>),
}

#[derive(Clone, Default)]
struct Api {
    replies: Arc<HashMap<&'static str, Reply>>,
    /// Every request's path and query, to check what the client asked.
    seen: Arc<Mutex<Vec<String>>>,
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Continue tokens carry `+`, `/` and `=` like the real (base64) ones, so
/// the client's encoding is exercised.
fn token_for(offset: usize) -> String {
    format!("eyJvZmZzZXQiOj{offset}+/=")
}

fn offset_of(token: &str) -> Option<usize> {
    token
        .strip_prefix("eyJvZmZzZXQiOj")?
        .strip_suffix("+/=")?
        .parse()
        .ok()
}

fn page(list: &Value, query: &str) -> Response {
    let items = list["items"].as_array().cloned().unwrap_or_default();
    let limit: usize = query_param(query, "limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(items.len().max(1));
    let start = match query_param(query, "continue") {
        None => 0,
        Some(t) => match offset_of(&t) {
            Some(o) => o,
            None => return json_response(410, status(410, "Expired", "bad continue token")),
        },
    };
    let end = (start + limit).min(items.len());
    let mut doc = list.clone();
    doc["items"] = Value::Array(items[start.min(end)..end].to_vec());
    doc["metadata"] = if end < items.len() {
        json!({"resourceVersion": "1000", "continue": token_for(end), "remainingItemCount": items.len() - end})
    } else {
        json!({"resourceVersion": "1000"})
    };
    json_response(200, doc)
}

fn json_response(code: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn handle(State(api): State<Api>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    if let Ok(mut seen) = api.seen.lock() {
        seen.push(format!("{path}?{query}"));
    }
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {TOKEN}")) {
        return json_response(401, status(401, "Unauthorized", "Unauthorized"));
    }
    let Some(reply) = api.replies.get(path.as_str()) else {
        return json_response(
            404,
            status(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ),
        );
    };
    match reply.clone() {
        Reply::List(list) => page(&list, &query),
        Reply::Status(code, body) => json_response(code, body),
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            json_response(200, json!({}))
        }
        Reply::Watch(events) => {
            let chunks: Vec<Result<String, std::io::Error>> =
                events.into_iter().map(|e| Ok(format!("{e}\n"))).collect();
            Response::builder()
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from_stream(futures::stream::iter(chunks)))
                .unwrap_or_else(|_| json_response(500, json!({})))
        }
    }
}

struct FakeApi {
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeApi {
    fn opts(&self) -> KubeOptions {
        KubeOptions {
            kubeconfig: Some(self.kubeconfig.clone()),
            context: None,
            page_size: 2,
            timeout: Duration::from_secs(5),
            pods_on_node: None,
        }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

async fn start(replies: HashMap<&'static str, Reply>) -> FakeApi {
    let api = Api {
        replies: Arc::new(replies),
        seen: Arc::default(),
    };
    let seen = api.seen.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let app = Router::new().fallback(handle).with_state(api);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, kubeconfig_text(addr)).expect("write kubeconfig");
    FakeApi {
        _dir: dir,
        kubeconfig,
        seen,
        task,
    }
}

/// Two contexts: `test` (current) reaches the fake API with the right
/// token; `wrong-token` reaches it with another one.
fn kubeconfig_text(addr: SocketAddr) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: http://{addr}
users:
- name: good
  user:
    token: {TOKEN}
- name: bad
  user:
    token: not-the-token
contexts:
- name: test
  context: {{cluster: fake, user: good}}
- name: wrong-token
  context: {{cluster: fake, user: bad}}
current-context: test
"
    )
}

fn fixture(name: &str) -> (String, Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/flannel-vxlan/k8s")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("fixture readable");
    let value = serde_json::from_str(&text).expect("fixture is JSON");
    (text, value)
}

fn recorded_cluster() -> HashMap<&'static str, Reply> {
    let mut replies = HashMap::new();
    replies.insert(Resource::Nodes.path(), Reply::List(fixture("nodes.json").1));
    replies.insert(Resource::Pods.path(), Reply::List(fixture("pods.json").1));
    replies.insert(
        Resource::Services.path(),
        Reply::List(fixture("services.json").1),
    );
    replies.insert(
        Resource::EndpointSlices.path(),
        Reply::List(fixture("endpointslices.json").1),
    );
    replies
}

#[tokio::test]
async fn paged_lists_match_the_bundle_parsers() {
    let api = start(recorded_cluster()).await;
    let k8s = read_cluster(&api.opts()).await.expect("read cluster");

    // The same recorded documents through the bundle parsers, unpaged.
    assert_eq!(
        k8s.nodes,
        parse_nodes(&fixture("nodes.json").0).expect("nodes")
    );
    assert_eq!(k8s.pods, parse_pods(&fixture("pods.json").0).expect("pods"));
    assert_eq!(
        k8s.services,
        Some(parse_services(&fixture("services.json").0).expect("services"))
    );
    assert_eq!(
        k8s.endpoint_slices,
        Some(parse_endpointslices(&fixture("endpointslices.json").0).expect("slices"))
    );
    assert_eq!(k8s.nodes.len(), 3);

    // Three nodes in pages of two: the second request carries the token.
    let node_reqs: Vec<String> = api
        .seen()
        .into_iter()
        .filter(|r| r.starts_with("/api/v1/nodes?"))
        .collect();
    assert_eq!(node_reqs.len(), 2, "{node_reqs:?}");
    assert_eq!(node_reqs[0], "/api/v1/nodes?limit=2");
    assert!(
        node_reqs[1].contains("continue=eyJvZmZzZXQiOj2%2B%2F%3D"),
        "{node_reqs:?}"
    );
}

#[tokio::test]
async fn forbidden_is_a_typed_error() {
    let mut replies = recorded_cluster();
    replies.insert(
        Resource::Pods.path(),
        Reply::Status(
            403,
            status(403, "Forbidden", "pods is forbidden: User \"system:serviceaccount:cnictl:x\" cannot list resource \"pods\""),
        ),
    );
    let api = start(replies).await;
    let err = read_cluster(&api.opts())
        .await
        .expect_err("403 is an error");
    assert_eq!(err.code(), "forbidden");
    assert!(
        matches!(
            err,
            KubeError::Forbidden {
                resource: "pods",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("cannot list resource"), "{err}");
}

#[tokio::test]
async fn server_error_names_the_resource_and_code() {
    let mut replies = recorded_cluster();
    replies.insert(
        Resource::EndpointSlices.path(),
        Reply::Status(
            500,
            status(500, "InternalError", "etcdserver: request timed out"),
        ),
    );
    let api = start(replies).await;
    let err = read_cluster(&api.opts())
        .await
        .expect_err("500 is an error");
    assert_eq!(err.code(), "api");
    let text = err.to_string();
    assert!(
        text.contains("endpointslices") && text.contains("500"),
        "{text}"
    );
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let mut replies = recorded_cluster();
    replies.insert(Resource::Nodes.path(), Reply::Hang);
    let api = start(replies).await;
    let opts = KubeOptions {
        timeout: Duration::from_millis(300),
        ..api.opts()
    };
    let started = std::time::Instant::now();
    let err = read_cluster(&opts).await.expect_err("timeout is an error");
    assert_eq!(err.code(), "timeout");
    assert!(
        matches!(
            err,
            KubeError::Timeout {
                resource: "nodes",
                ..
            }
        ),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_wrong_token_is_unauthorized() {
    let api = start(recorded_cluster()).await;
    let opts = KubeOptions {
        context: Some("wrong-token".into()),
        ..api.opts()
    };
    let err = read_cluster(&opts).await.expect_err("401 is an error");
    assert_eq!(err.code(), "unauthorized");
}

#[tokio::test]
async fn an_unknown_context_is_a_config_error() {
    let api = start(recorded_cluster()).await;
    let opts = KubeOptions {
        context: Some("no-such-context".into()),
        ..api.opts()
    };
    let err = read_cluster(&opts).await.expect_err("unknown context");
    assert_eq!(err.code(), "config");
    assert!(err.to_string().contains("kubeconfig"), "{err}");
}

#[tokio::test]
async fn calico_crds_absent_is_none_present_is_read() {
    let api = start(recorded_cluster()).await;
    let client = kube::client(&api.opts()).await.expect("client");
    let absent = read_calico(&client, &api.opts())
        .await
        .expect("404 is not an error");
    assert_eq!(absent, None);

    let mut replies = recorded_cluster();
    replies.insert(
        Resource::IpPools.path(),
        Reply::List(json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPoolList", "items": [
            {"metadata": {"name": "default-ipv4-ippool"},
             "spec": {"cidr": "10.244.0.0/16", "ipipMode": "Always", "natOutgoing": true, "blockSize": 26}}]})),
    );
    replies.insert(
        Resource::BlockAffinities.path(),
        Reply::List(json!({"kind": "BlockAffinityList", "items": [
            {"metadata": {"name": "node-1-10-244-1-0-26"}, "spec": {"node": "node-1", "cidr": "10.244.1.0/26", "state": "confirmed"}},
            {"metadata": {"name": "node-2-10-244-2-0-26"}, "spec": {"node": "node-2", "cidr": "10.244.2.0/26", "state": "confirmed"}},
            {"metadata": {"name": "node-3-10-244-3-0-26"}, "spec": {"node": "node-3", "cidr": "10.244.3.0/26", "state": "pending"}}]})),
    );
    let api = start(replies).await;
    let client = kube::client(&api.opts()).await.expect("client");
    let ipam = read_calico(&client, &api.opts())
        .await
        .expect("read calico")
        .expect("CRDs present");
    assert_eq!(ipam.ip_pools.len(), 1);
    assert_eq!(ipam.ip_pools[0].ipip_mode, "Always");
    assert_eq!(ipam.block_affinities.len(), 3, "paged across two requests");
    assert_eq!(ipam.block_affinities[2].node, "node-3");
    assert_eq!(ipam.block_affinities[2].state, "pending");
}

#[tokio::test]
async fn watch_counts_changes_and_resumes_from_the_last_version() {
    let mut replies = HashMap::new();
    replies.insert(
        Resource::Nodes.path(),
        Reply::Watch(vec![
            json!({"type": "ADDED", "object": {"kind": "Node", "metadata": {"name": "node-4", "resourceVersion": "1001"}}}),
            json!({"type": "BOOKMARK", "object": {"kind": "Node", "metadata": {"resourceVersion": "1002"}}}),
            json!({"type": "MODIFIED", "object": {"kind": "Node", "metadata": {"name": "node-1", "resourceVersion": "1003"}}}),
            json!({"type": "DELETED", "object": {"kind": "Node", "metadata": {"name": "node-4", "resourceVersion": "1004"}}}),
        ]),
    );
    let api = start(replies).await;
    let client = kube::client(&api.opts()).await.expect("client");
    let mut calls = 0;
    let outcome = watch(&client, Resource::Nodes, "1000", 5, || calls += 1)
        .await
        .expect("watch");
    assert_eq!(outcome.changes, 3);
    assert_eq!(calls, 3);
    assert_eq!(outcome.resource_version.as_deref(), Some("1004"));
    let seen = api.seen();
    assert!(
        seen[0].contains("watch=true") && seen[0].contains("resourceVersion=1000"),
        "{seen:?}"
    );
}

#[tokio::test]
async fn watch_from_an_expired_version_is_gone() {
    let mut replies = HashMap::new();
    replies.insert(
        Resource::Pods.path(),
        Reply::Watch(vec![json!({"type": "ERROR", "object": status(410, "Expired", "too old resource version: 5 (1000)")})]),
    );
    let api = start(replies).await;
    let client = kube::client(&api.opts()).await.expect("client");
    let err = watch(&client, Resource::Pods, "5", 5, || {})
        .await
        .expect_err("410 in the stream");
    assert_eq!(err.code(), "gone");
}

#[tokio::test]
async fn current_version_reads_list_metadata() {
    let api = start(recorded_cluster()).await;
    let client = kube::client(&api.opts()).await.expect("client");
    let rv = current_version(&client, &api.opts(), Resource::Pods)
        .await
        .expect("version");
    assert_eq!(rv, "1000");
}

#[tokio::test]
async fn agent_discovery_lists_running_daemonset_pods() {
    let mut replies = HashMap::new();
    let pod = |name: &str, node: &str, ip: &str, phase: &str| {
        json!({"metadata": {"namespace": "cnictl", "name": name, "labels": {"app.kubernetes.io/component": "agent"}},
               "spec": {"nodeName": node, "hostNetwork": true},
               "status": {"phase": phase, "podIP": ip, "podIPs": [{"ip": ip}]}})
    };
    replies.insert(
        "/api/v1/namespaces/cnictl/pods",
        Reply::List(json!({"kind": "PodList", "items": [
            pod("cnictl-agent-a", "node-1", "192.0.2.11", "Running"),
            pod("cnictl-agent-b", "node-2", "192.0.2.12", "Running"),
            pod("cnictl-agent-c", "node-3", "192.0.2.13", "Pending")]})),
    );
    let api = start(replies).await;
    let client = kube::client(&api.opts()).await.expect("client");
    let selector = "app.kubernetes.io/name=cnictl,app.kubernetes.io/component=agent";
    let pods = list_agent_pods(&client, &api.opts(), "cnictl", selector)
        .await
        .expect("list");
    let found: Vec<(String, String)> = pods
        .iter()
        .map(|p| (p.node.clone(), p.ip.to_string()))
        .collect();
    assert_eq!(
        found,
        vec![
            ("node-1".to_string(), "192.0.2.11".to_string()),
            ("node-2".to_string(), "192.0.2.12".to_string())
        ],
        "the pending pod has no agent to pull yet"
    );
    let seen = api.seen();
    assert!(
        seen[0].contains("labelSelector=app.kubernetes.io%2Fname%3Dcnictl%2Capp.kubernetes.io%2Fcomponent%3Dagent"),
        "{seen:?}"
    );
}
