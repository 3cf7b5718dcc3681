//! The kube client, its watches and paging, the agent's caller
//! authentication and deploy/'s RBAC against a real Kubernetes API server
//! (kube-apiserver 1.20.2 + etcd 3.4 on loopback: `common::apiserver`).
//!
//! What each test covers:
//! - `deploy_rbac_is_sufficient`: deploy/kubernetes/{namespace,rbac}.yaml
//!   applied through the API; the agent's and the aggregator's service
//!   accounts run the real readers (`read_cluster`: nodes, pods, services,
//!   EndpointSlices, NetworkPolicies, namespaces, Calico's four CRDs;
//!   `read_calico`; `list_agent_pods`; the pods-on-this-node field
//!   selector) and open a watch on every kind the aggregator watches.
//! - `deploy_rbac_is_minimal`: the same identities are refused (403) what
//!   the RBAC does not grant: secrets, writes, deletes, and reviews for the
//!   aggregator; an unbound service account cannot list nodes.
//! - `agent_authenticates_callers_through_the_api`: the real agent
//!   (`run_agent_on`, its kubeconfig the agent's) checks callers with
//!   TokenReview + SubjectAccessReview: the aggregator's static token and a
//!   service-account token minted by the API (TokenRequest) are served, an
//!   unknown token is 401, an unbound service account 403 — which needs
//!   the agent's `/cnictl-agent` review prefix, since the server's default
//!   `system:discovery` role grants every authenticated user `/api/*`
//!   (shown with a SubjectAccessReview of both paths).
//! - `watches_see_changes`: `kube::watch` on nodes and pods reports a node
//!   and a pod created after the watch began.
//! - `lists_page_through_more_objects_than_the_page_size`: `list_all` with
//!   3 per page returns every one of 8 new nodes, following real
//!   `continue` tokens.
//!
//! 1.20 serves EndpointSlices only as `discovery.k8s.io/v1beta1`; the
//! client reads `discovery.k8s.io/v1`, which here is served by a
//! schemaless CRD (v1beta1 turned off): list, watch, paging and RBAC are
//! real, the v1 schema and its validation are not — those shapes stay
//! covered by the recorded-JSON tests (tests/kube.rs). There is no
//! controller manager: every object is created by the tests (pods stay
//! Pending unless a test sets their status), with names unique to the run.

mod common;

use std::sync::Arc;
use std::time::Duration;

use cnictl_agent::auth::{Authenticator, CacheTtl, Verdict};
use cnictl_agent::kube::{self as kubeapi, KubeError, KubeOptions, Resource};
use cnictl_formats::parse_nodes;
use common::apiserver::{shared, ApiServer, Who};
use serde::Deserialize;
use serde_json::{json, Value};

// ---------------------------------------------------------------- setup

/// The server with deploy/'s namespace and RBAC applied and the CRDs the
/// client reads installed (idempotent: tests may share the server).
async fn cluster() -> Option<Arc<ApiServer>> {
    let server = shared()?;
    let admin = server.client(Who::Admin).await;
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes");
    for file in ["namespace.yaml", "rbac.yaml"] {
        apply_manifest(&admin, &deploy.join(file)).await;
    }
    let stranger = json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "cnictl-stranger", "namespace": "cnictl"}});
    create_or_exists(
        &admin,
        "/api/v1/namespaces/cnictl/serviceaccounts",
        stranger,
    )
    .await;
    install_crds(&admin).await;
    Some(server)
}

/// Every document of a manifest file, created as the admin.
async fn apply_manifest(admin: &kube::Client, path: &std::path::Path) {
    let text = std::fs::read_to_string(path).expect("read manifest");
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let obj = Value::deserialize(doc).expect("manifest YAML");
        if obj.is_null() {
            continue;
        }
        create_or_exists(admin, &collection(&obj), obj).await;
    }
}

/// The API collection an object of a manifest is created in.
fn collection(obj: &Value) -> String {
    let api = obj["apiVersion"].as_str().expect("apiVersion");
    let base = match api.contains('/') {
        true => format!("/apis/{api}"),
        false => format!("/api/{api}"),
    };
    let plural = match obj["kind"].as_str().expect("kind") {
        "Namespace" => "namespaces",
        "ServiceAccount" => "serviceaccounts",
        "ClusterRole" => "clusterroles",
        "ClusterRoleBinding" => "clusterrolebindings",
        "Role" => "roles",
        "RoleBinding" => "rolebindings",
        other => panic!("deploy/ manifest kind {other} has no collection here"),
    };
    match obj["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{base}/namespaces/{ns}/{plural}"),
        None => format!("{base}/{plural}"),
    }
}

/// Calico's four CRDs as Calico installs them (cluster-scoped,
/// `crd.projectcalico.org/v1`), and `discovery.k8s.io/v1` EndpointSlices
/// (see the module doc); schemaless, then waits until they serve.
async fn install_crds(admin: &kube::Client) {
    let crds = [
        ("crd.projectcalico.org", "ippools", "IPPool", "Cluster"),
        (
            "crd.projectcalico.org",
            "blockaffinities",
            "BlockAffinity",
            "Cluster",
        ),
        (
            "crd.projectcalico.org",
            "bgpconfigurations",
            "BGPConfiguration",
            "Cluster",
        ),
        ("crd.projectcalico.org", "bgppeers", "BGPPeer", "Cluster"),
        (
            "discovery.k8s.io",
            "endpointslices",
            "EndpointSlice",
            "Namespaced",
        ),
    ];
    for (group, plural, kind, scope) in crds {
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{plural}.{group}"), "annotations": {
                // Groups under k8s.io need this; the test's CRD is no API.
                "api-approved.kubernetes.io": "unapproved, test-only"}},
            "spec": {"group": group, "scope": scope,
                "names": {"plural": plural, "kind": kind, "listKind": format!("{kind}List"),
                          "singular": kind.to_lowercase()},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object",
                        "x-kubernetes-preserve-unknown-fields": true}}}]}
        });
        let path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
        create_or_exists(admin, path, crd).await;
        let list = format!("/apis/{group}/v1/{plural}?limit=1");
        common::eventually(Duration::from_secs(30), &list, || async {
            get(admin, &list).await.ok().map(|_| ())
        })
        .await;
    }
}

// ------------------------------------------------------- API helpers

fn request(method: &str, path: &str, body: Option<Value>) -> http::Request<Vec<u8>> {
    let content = match method {
        "PATCH" => "application/merge-patch+json",
        _ => "application/json",
    };
    http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::CONTENT_TYPE, content)
        .body(body.map(|b| b.to_string().into_bytes()).unwrap_or_default())
        .expect("request")
}

/// One request; `Err(code)` with the API's status code.
async fn call(
    client: &kube::Client,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<Value, u16> {
    match client.request::<Value>(request(method, path, body)).await {
        Ok(v) => Ok(v),
        Err(kube::Error::Api(s)) => Err(s.code),
        Err(e) => panic!("{method} {path}: {e}"),
    }
}

async fn get(client: &kube::Client, path: &str) -> Result<Value, u16> {
    call(client, "GET", path, None).await
}

async fn create(client: &kube::Client, path: &str, obj: Value) -> Value {
    call(client, "POST", path, Some(obj))
        .await
        .unwrap_or_else(|code| panic!("POST {path}: {code}"))
}

/// Creates `obj`; one already there (409, another test did it) is fine.
async fn create_or_exists(client: &kube::Client, path: &str, obj: Value) {
    match call(client, "POST", path, Some(obj)).await {
        Ok(_) | Err(409) => {}
        Err(code) => panic!("POST {path}: {code}"),
    }
}

/// A name unique to this run and `tag`.
fn unique(tag: &str) -> String {
    format!("{}-{tag}", common::prefix("").to_lowercase())
}

fn node(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"cnictl-test": "yes"}},
        "spec": {"podCIDR": "10.244.7.0/24", "podCIDRs": ["10.244.7.0/24"]},
        "status": {"addresses": [{"type": "InternalIP", "address": "192.168.7.7"}]}})
}

fn pod(name: &str, node: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}})
}

/// Sets a pod's status as a kubelet would (nobody else does here).
async fn mark_running(admin: &kube::Client, ns: &str, name: &str, ip: &str) {
    let status = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}});
    let path = format!("/api/v1/namespaces/{ns}/pods/{name}/status");
    call(admin, "PATCH", &path, Some(status))
        .await
        .unwrap_or_else(|code| panic!("PATCH {path}: {code}"));
}

/// One object of each kind the readers map, named `name`.
async fn create_one_of_each(admin: &kube::Client, name: &str) {
    create(admin, "/api/v1/nodes", node(name)).await;
    let p = pod(name, name, json!({"app": name}));
    create(admin, "/api/v1/namespaces/default/pods", p).await;
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "protocol": "TCP"}]}});
    create(admin, "/api/v1/namespaces/default/services", svc).await;
    let slice = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4", "endpoints": [{"addresses": ["10.244.7.5"]}],
        "ports": [{"port": 80, "protocol": "TCP"}]});
    create(
        admin,
        "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
        slice,
    )
    .await;
    let policy = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name}, "spec": {"podSelector": {"matchLabels": {"app": name}}}});
    create(
        admin,
        "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies",
        policy,
    )
    .await;
    create_calico_objects(admin, name).await;
}

async fn create_calico_objects(admin: &kube::Client, name: &str) {
    let base = "/apis/crd.projectcalico.org/v1";
    let objects = [
        (
            "ippools",
            "IPPool",
            json!({"cidr": "10.244.0.0/16", "ipipMode": "Always"}),
        ),
        (
            "blockaffinities",
            "BlockAffinity",
            json!({"node": name, "cidr": "10.244.7.0/26", "state": "confirmed"}),
        ),
        (
            "bgpconfigurations",
            "BGPConfiguration",
            json!({"asNumber": 64512}),
        ),
        (
            "bgppeers",
            "BGPPeer",
            json!({"peerIP": "192.168.7.1", "asNumber": 64513}),
        ),
    ];
    for (plural, kind, spec) in objects {
        let obj = json!({"apiVersion": "crd.projectcalico.org/v1", "kind": kind,
            "metadata": {"name": name}, "spec": spec});
        create(admin, &format!("{base}/{plural}"), obj).await;
    }
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread")]
async fn deploy_rbac_is_sufficient() {
    let Some(server) = cluster().await else {
        return;
    };
    let admin = server.client(Who::Admin).await;
    let name = unique("suff");
    create_one_of_each(&admin, &name).await;
    for who in [Who::Agent, Who::Aggregator] {
        let k8s = kubeapi::read_cluster(&server.opts(who))
            .await
            .unwrap_or_else(|e| panic!("{who:?} reads the cluster: {e}"));
        assert_sees_everything(&k8s, &name, who);
        let client = server.client(who).await;
        let ipam = kubeapi::read_calico(&client, &server.opts(who)).await;
        let ipam = ipam
            .expect("read_calico")
            .expect("Calico CRDs are installed");
        assert!(
            ipam.block_affinities.iter().any(|b| b.node == name),
            "{who:?}"
        );
        can_watch_everything(&client, &server.opts(who), who).await;
    }
    agent_reads_its_own_pods(&server, &name).await;
    aggregator_discovers_agents(&server, &admin).await;
}

/// Every list came back (none "not collected") and holds the new objects.
fn assert_sees_everything(k8s: &cnictl_model::K8s, name: &str, who: Who) {
    let has = |names: Vec<&String>| names.iter().any(|n| *n == name);
    assert!(
        has(k8s.nodes.iter().map(|n| &n.name).collect()),
        "{who:?} nodes"
    );
    assert!(
        has(k8s.pods.iter().map(|p| &p.name).collect()),
        "{who:?} pods"
    );
    let services = k8s.services.as_ref().expect("services");
    assert!(
        has(services.iter().map(|s| &s.name).collect()),
        "{who:?} services"
    );
    let slices = k8s.endpoint_slices.as_ref().expect("endpoint slices");
    let slice = slices
        .iter()
        .find(|s| s.name == name)
        .expect("the new slice");
    assert_eq!(slice.service.as_deref(), Some(name), "{who:?}");
    let policies = k8s.network_policies.as_ref().expect("policies collected");
    assert!(
        has(policies.iter().map(|p| &p.name).collect()),
        "{who:?} policies"
    );
    let namespaces = k8s.namespaces.as_ref().expect("namespaces collected");
    assert!(namespaces.iter().any(|n| n.name == "cnictl"), "{who:?}");
    let c = &k8s.calico;
    let pools = c.ip_pools.as_ref().expect("ippools collected");
    assert!(
        has(pools.iter().map(|p| &p.name).collect()),
        "{who:?} ippools"
    );
    let aff = c
        .block_affinities
        .as_ref()
        .expect("blockaffinities collected");
    assert!(
        has(aff.iter().map(|b| &b.name).collect()),
        "{who:?} affinities"
    );
    let conf = c
        .bgp_configurations
        .as_ref()
        .expect("bgpconfigurations collected");
    assert!(
        has(conf.iter().map(|b| &b.name).collect()),
        "{who:?} bgpconf"
    );
    let peers = c.bgp_peers.as_ref().expect("bgppeers collected");
    assert!(
        has(peers.iter().map(|b| &b.name).collect()),
        "{who:?} bgppeers"
    );
}

/// What the aggregator's watch loop does for each kind: the current
/// version, then a watch (ended by the server after 1 s).
async fn can_watch_everything(client: &kube::Client, opts: &KubeOptions, who: Who) {
    for resource in [
        Resource::Nodes,
        Resource::Pods,
        Resource::Services,
        Resource::EndpointSlices,
        Resource::NetworkPolicies,
        Resource::Namespaces,
        Resource::IpPools,
        Resource::BlockAffinities,
    ] {
        let version = kubeapi::current_version(client, opts, resource).await;
        let version = version.unwrap_or_else(|e| panic!("{who:?} {resource:?}: {e}"));
        let watched = kubeapi::watch(client, resource, &version, 1, || {}).await;
        watched.unwrap_or_else(|e| panic!("{who:?} watches {resource:?}: {e}"));
    }
}

/// The agent's expected state: only the pods on its node.
async fn agent_reads_its_own_pods(server: &ApiServer, name: &str) {
    let opts = KubeOptions {
        pods_on_node: Some(name.to_string()),
        ..server.opts(Who::Agent)
    };
    let k8s = kubeapi::read_cluster(&opts).await.expect("agent's read");
    let pods: Vec<&str> = k8s.pods.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        pods,
        [name],
        "the field selector keeps this node's pod only"
    );
}

/// The aggregator's discovery: the agent DaemonSet's running pods.
async fn aggregator_discovers_agents(server: &ApiServer, admin: &kube::Client) {
    let name = unique("agentpod");
    let labels = json!({"app.kubernetes.io/name": "cnictl",
        "app.kubernetes.io/component": "agent"});
    let p = pod(&name, &name, labels);
    create(admin, "/api/v1/namespaces/cnictl/pods", p).await;
    mark_running(admin, "cnictl", &name, "192.168.7.8").await;
    let client = server.client(Who::Aggregator).await;
    let selector = "app.kubernetes.io/name=cnictl,app.kubernetes.io/component=agent";
    let opts = server.opts(Who::Aggregator);
    let agents = kubeapi::list_agent_pods(&client, &opts, "cnictl", selector).await;
    let agents = agents.expect("the aggregator lists the agent pods");
    let found = agents
        .iter()
        .find(|a| a.node == name)
        .expect("the new agent");
    assert_eq!(found.ip.to_string(), "192.168.7.8");
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_rbac_is_minimal() {
    let Some(server) = cluster().await else {
        return;
    };
    let name = unique("min");
    for who in [Who::Agent, Who::Aggregator] {
        let c = server.client(who).await;
        let refused = [
            ("GET", "/api/v1/namespaces/cnictl/secrets".to_string(), None),
            (
                "GET",
                "/api/v1/namespaces/kube-system/configmaps".into(),
                None,
            ),
            (
                "POST",
                "/api/v1/namespaces/default/pods".into(),
                Some(pod(&name, &name, json!({}))),
            ),
            ("POST", "/api/v1/nodes".into(), Some(node(&name))),
            (
                "DELETE",
                "/api/v1/namespaces/default/services/kubernetes".into(),
                None,
            ),
            (
                "PATCH",
                "/api/v1/namespaces/cnictl".into(),
                Some(json!({"metadata": {}})),
            ),
            (
                "POST",
                "/apis/crd.projectcalico.org/v1/ippools".into(),
                Some(json!({})),
            ),
            (
                "GET",
                "/apis/rbac.authorization.k8s.io/v1/clusterroles".into(),
                None,
            ),
        ];
        for (method, path, body) in refused {
            let got = call(&c, method, &path, body).await.err();
            assert_eq!(got, Some(403), "{who:?} {method} {path} must be forbidden");
        }
    }
    // Only the agent reviews tokens; the aggregator only presents one.
    let aggregator = server.client(Who::Aggregator).await;
    let review = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
        "spec": {"token": Who::Agent.token()}});
    let path = "/apis/authentication.k8s.io/v1/tokenreviews";
    assert_eq!(
        call(&aggregator, "POST", path, Some(review)).await.err(),
        Some(403)
    );
    // A service account no binding names reads nothing.
    match kubeapi::read_cluster(&server.opts(Who::Stranger)).await {
        Err(KubeError::Forbidden { .. }) => {}
        other => panic!("an unbound service account must be forbidden: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn agent_authenticates_callers_through_the_api() {
    let Some(server) = cluster().await else {
        return;
    };
    let agent = agent_pointed_at(&server).await;
    let a = agent.addr;
    common::eventually(Duration::from_secs(30), "agent ready", || async move {
        (common::get(a, "/readyz", &[]).await.status == 200).then_some(())
    })
    .await;
    let status = |token: String| async move {
        let header = format!("Bearer {token}");
        common::get(a, "/api/v1/node", &[("Authorization", &header)]).await
    };
    let ok = status(Who::Aggregator.token().into()).await;
    assert_eq!(ok.status, 200, "the aggregator is served: {}", ok.body);
    let minted = service_account_token(&server, "cnictl-aggregator").await;
    assert_eq!(
        status(minted).await.status,
        200,
        "its service-account JWT too"
    );
    assert_eq!(status("not-a-token".into()).await.status, 401);
    let stranger = status(Who::Stranger.token().into()).await;
    assert_eq!(
        stranger.status, 403,
        "an unbound account: {}",
        stranger.body
    );
    let stranger_jwt = service_account_token(&server, "cnictl-stranger").await;
    assert_eq!(status(stranger_jwt).await.status, 403);
    discovery_grants_api_paths_to_everyone(&server).await;
    // An agent whose account may not review tokens cannot authenticate
    // anyone: it answers "unavailable", never "allowed".
    let ttl = CacheTtl::default();
    let unreviewed = Authenticator::new(server.client(Who::Aggregator).await, ttl);
    let verdict = unreviewed
        .check(Who::Aggregator.token(), "/api/v1/node")
        .await;
    assert_eq!(verdict, Verdict::Unavailable);
}

/// Why the agent reviews `/cnictl-agent/…` and not the served path: the
/// default roles let any authenticated user `get` `/api/*`.
async fn discovery_grants_api_paths_to_everyone(server: &ApiServer) {
    let admin = server.client(Who::Admin).await;
    let path = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
    for (url, allowed) in [("/api/v1/node", true), ("/cnictl-agent/api/v1/node", false)] {
        let review = json!({"apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview", "spec": {"user": Who::Stranger.user(),
            "groups": ["system:serviceaccounts", "system:authenticated"],
            "nonResourceAttributes": {"path": url, "verb": "get"}}});
        let reply = create(&admin, path, review).await;
        let got = reply["status"]["allowed"].as_bool().unwrap_or(false);
        assert_eq!(got, allowed, "an unbound account may get {url}: {reply}");
    }
}

/// A token for the service account, minted by the API (TokenRequest), as
/// the kubelet mounts one in a pod.
async fn service_account_token(server: &ApiServer, account: &str) -> String {
    let admin = server.client(Who::Admin).await;
    let path = format!("/api/v1/namespaces/cnictl/serviceaccounts/{account}/token");
    let req = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600}});
    let reply = create(&admin, &path, req).await;
    reply["status"]["token"]
        .as_str()
        .expect("token")
        .to_string()
}

struct RunningAgent {
    addr: std::net::SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// The real agent, collecting the test's own network namespace, with the
/// agent service account's kubeconfig for its expected state and reviews.
async fn agent_pointed_at(server: &ApiServer) -> RunningAgent {
    let live = cnictl_collect::live::LiveOptions {
        node_name: Some(unique("authnode")),
        ipvs: false,
        ..Default::default()
    };
    let mut cfg = cnictl_agent::AgentConfig::new(live, server.opts(Who::Agent));
    cfg.interval = Duration::from_secs(3600);
    cfg.watch_netlink = false;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let stop = async move {
            let _ = rx.await;
        };
        if let Err(e) = cnictl_agent::run_agent_on(listener, cfg, stop).await {
            eprintln!("agent ended: {e:#}");
        }
    });
    RunningAgent { addr, _stop: tx }
}

#[tokio::test(flavor = "multi_thread")]
async fn watches_see_changes() {
    let Some(server) = cluster().await else {
        return;
    };
    let admin = server.client(Who::Admin).await;
    let client = server.client(Who::Aggregator).await;
    let opts = server.opts(Who::Aggregator);
    let name = unique("watch");
    for resource in [Resource::Nodes, Resource::Pods] {
        let since = kubeapi::current_version(&client, &opts, resource).await;
        let since = since.expect("current version");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let c = client.clone();
        let since2 = since.clone();
        let watching = tokio::spawn(async move {
            kubeapi::watch(&c, resource, &since2, 3, move || {
                let _ = tx.send(());
            })
            .await
        });
        let created = match resource {
            Resource::Nodes => create(&admin, "/api/v1/nodes", node(&name)).await,
            _ => {
                let p = pod(&name, &name, json!({}));
                create(&admin, "/api/v1/namespaces/default/pods", p).await
            }
        };
        let seen = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
        assert!(
            matches!(seen, Ok(Some(()))),
            "{resource:?}: the watch saw no change"
        );
        let outcome = watching.await.expect("join").expect("watch ends cleanly");
        assert!(outcome.changes >= 1, "{resource:?}: {outcome:?}");
        let rv = |v: &str| v.parse::<u64>().expect("numeric resourceVersion");
        let created_rv = created["metadata"]["resourceVersion"].as_str().expect("rv");
        let last = outcome.resource_version.expect("a version to resume from");
        assert!(
            rv(&last) >= rv(created_rv),
            "{resource:?}: resumes after the change"
        );
        assert!(rv(&last) > rv(&since), "{resource:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_page_through_more_objects_than_the_page_size() {
    let Some(server) = cluster().await else {
        return;
    };
    let admin = server.client(Who::Admin).await;
    let base = unique("page");
    let want: Vec<String> = (0..8).map(|i| format!("{base}-{i}")).collect();
    for n in &want {
        create(&admin, "/api/v1/nodes", node(n)).await;
    }
    let client = server.client(Who::Agent).await;
    let first = get(&client, "/api/v1/nodes?limit=3")
        .await
        .expect("first page");
    assert_eq!(first["items"].as_array().map(Vec::len), Some(3));
    let token = first["metadata"]["continue"].as_str().unwrap_or_default();
    assert!(!token.is_empty(), "the server pages: {}", first["metadata"]);
    let opts = server.opts(Who::Agent);
    assert_eq!(opts.page_size, 3);
    let nodes = kubeapi::list_all(&client, &opts, Resource::Nodes, parse_nodes).await;
    let nodes = nodes.expect("paged list");
    let mut got: Vec<String> = nodes
        .into_iter()
        .map(|n| n.name)
        .filter(|n| n.starts_with(&base))
        .collect();
    got.sort();
    assert_eq!(got, want, "every node, once, across pages");
}
