//! Every endpoint through `Router::oneshot`: good answers, and bad requests
//! that must be 4xx JSON errors — never a 5xx, never a panic.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use cnictl_exporter::{AppState, Limits};
use common::*;

#[tokio::test]
async fn healthz_and_readyz_when_ready() {
    let app = app(healthy(3));
    let r = get(&app, "/healthz").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["status"], "ok");
    let r = get(&app, "/readyz").await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v["ready"], true);
    assert_eq!(v["stale"], false);
    assert_eq!(v["status"]["successes"], 1);
}

#[tokio::test]
async fn not_ready_before_the_first_analysis() {
    let app = cnictl_exporter::router(AppState::new(Limits::default()));
    assert_eq!(get(&app, "/healthz").await.status, StatusCode::OK);
    let r = get(&app, "/readyz").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.json()["ready"], false);
    for uri in [
        "/api/v1/model",
        "/api/v1/findings",
        "/api/v1/nodes",
        "/api/v1/nodes/x",
        "/api/v1/snapshot",
        "/api/v1/matrix",
        "/api/v1/matrix/probes",
    ] {
        assert_eq!(
            get(&app, uri)
                .await
                .error_code(StatusCode::SERVICE_UNAVAILABLE),
            "not_ready",
            "{uri}"
        );
    }
    let r = get(&app, "/api/v1/explain?src=a&dst=b").await;
    assert_eq!(r.error_code(StatusCode::SERVICE_UNAVAILABLE), "not_ready");
}

#[tokio::test]
async fn failed_refresh_keeps_the_last_good_analysis() {
    let state = AppState::new(Limits::default());
    let good: cnictl_exporter::Loader = std::sync::Arc::new(|| Ok(healthy(3)));
    let bad: cnictl_exporter::Loader = std::sync::Arc::new(|| {
        Err("parsing nodes/node-2/ip-route.json at line 3: expected value".into())
    });
    let boom: cnictl_exporter::Loader = std::sync::Arc::new(|| panic!("analysis bug"));
    assert!(state.refresh_blocking(&good).is_ok());
    assert!(state.refresh_blocking(&bad).is_err());
    assert!(state.refresh_blocking(&boom).is_err());
    let app = cnictl_exporter::router(state);
    let r = get(&app, "/readyz").await;
    assert_eq!(r.status, StatusCode::OK, "last good analysis still served");
    let v = r.json();
    assert_eq!(v["stale"], true);
    assert_eq!(v["status"]["last_error"]["code"], "panic");
    assert_eq!(
        get(&app, "/api/v1/model").await.json()["model"],
        "calico-bgp"
    );
    let m = get(&app, "/metrics").await.text();
    assert!(
        m.contains("cnictl_analysis_errors_total{error_code=\"load\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("cnictl_analysis_errors_total{error_code=\"panic\"} 1"),
        "{m}"
    );
    assert!(m.contains("cnictl_last_refresh_failed 1"), "{m}");
}

#[tokio::test]
async fn model_reports_cluster_and_nodes() {
    let app = app(broken(5));
    let v = get(&app, "/api/v1/model").await.json();
    assert_eq!(v["schema"], "cnictl/v1");
    assert_eq!(v["model"], "calico-bgp");
    assert_eq!(v["nodes"], 5);
    assert_eq!(v["per_node"].as_array().map(Vec::len), Some(5));
    assert!(v["findings"]["error"].as_u64() > Some(0));
    let pairs = v["reachability"]["failing_pairs"]
        .as_array()
        .expect("pairs");
    assert!(
        pairs
            .iter()
            .any(|p| p["src"] == BROKEN_NODE && p["dst"] == "node-1"),
        "node-3 → node-1 fails: {pairs:?}"
    );
}

#[tokio::test]
async fn findings_filters() {
    let app = app(broken(5));
    let all = get(&app, "/api/v1/findings").await.json();
    let total = all["total"].as_u64().expect("total");
    assert!(total > 0);
    let v = get(
        &app,
        "/api/v1/findings?severity=error&code=missing-pod-route&node=node-3",
    )
    .await
    .json();
    let fs = v["findings"].as_array().expect("findings");
    assert!(!fs.is_empty());
    assert!(fs.iter().all(|f| f["code"] == "missing-pod-route"
        && f["node"] == BROKEN_NODE
        && f["severity"] == "error"));
    let v = get(&app, "/api/v1/findings?q=NODE-1%27S").await.json();
    assert!(
        v["total"].as_u64() > Some(0),
        "case-insensitive text search: {v}"
    );
    let v = get(&app, "/api/v1/findings?severity=info&node=node-2")
        .await
        .json();
    assert_eq!(v["total"], 0);
    let v = get(&app, "/api/v1/findings?limit=1&offset=1").await.json();
    assert_eq!(
        v["findings"].as_array().map(Vec::len),
        Some(usize::from(total > 1))
    );
}

#[tokio::test]
async fn findings_bad_filters_are_4xx() {
    let app = app(broken(4));
    let cases = [
        ("/api/v1/findings?severity=fatal", StatusCode::BAD_REQUEST),
        (
            "/api/v1/findings?code=no-such-code",
            StatusCode::BAD_REQUEST,
        ),
        ("/api/v1/findings?node=nope", StatusCode::NOT_FOUND),
        ("/api/v1/findings?bogus=1", StatusCode::BAD_REQUEST),
        ("/api/v1/findings?limit=0", StatusCode::BAD_REQUEST),
        ("/api/v1/findings?limit=999999", StatusCode::BAD_REQUEST),
        ("/api/v1/findings?limit=abc", StatusCode::BAD_REQUEST),
        ("/api/v1/findings?offset=-1", StatusCode::BAD_REQUEST),
    ];
    for (uri, status) in cases {
        get(&app, uri).await.error_code(status);
    }
}

#[tokio::test]
async fn nodes_and_node_detail() {
    let app = app(broken(4));
    let v = get(&app, "/api/v1/nodes").await.json();
    let nodes = v["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 4);
    let n3 = nodes
        .iter()
        .find(|n| n["name"] == BROKEN_NODE)
        .expect("node-3");
    assert!(n3["findings"]["error"].as_u64() > Some(0));
    assert!(n3["underlay_ip"].is_string());
    assert!(!n3["pod_cidrs"].as_array().expect("cidrs").is_empty());
    assert_eq!(n3["unreachable_peers"], 1);
    let d = get(&app, "/api/v1/nodes/node-3").await.json();
    assert_eq!(d["summary"]["name"], BROKEN_NODE);
    assert!(!d["routes"].as_array().expect("routes").is_empty());
    assert!(d["routes"][0].is_string(), "routes as `ip route` lines");
    assert!(d["bgp"]["protocols"].is_array());
    assert!(d["findings"].as_array().is_some_and(|f| !f.is_empty()));
    let r = get(&app, "/api/v1/nodes/nope").await;
    assert_eq!(r.error_code(StatusCode::NOT_FOUND), "unknown_node");
    let r = get(&app, "/api/v1/nodes/%FF%FE").await;
    assert_eq!(r.error_code(StatusCode::BAD_REQUEST), "bad_request");
}

/// A pod of `node` in the generated cluster.
fn pod_on(snap: &cnictl_model::ClusterSnapshot, node: &str) -> String {
    snap.k8s
        .pods
        .iter()
        .find(|p| p.node.as_deref() == Some(node) && !p.host_network)
        .map(|p| p.key())
        .expect("a pod on the node")
}

#[tokio::test]
async fn explain_delivered_and_dropped() {
    let snap = broken(4);
    let (a, b, c) = (
        pod_on(&snap, "node-2"),
        pod_on(&snap, "node-1"),
        pod_on(&snap, BROKEN_NODE),
    );
    let app = app(snap);
    let v = get(&app, &format!("/api/v1/explain?src={a}&dst={b}"))
        .await
        .json();
    assert_eq!(v["verdict"], "delivered", "{v}");
    assert!(v["hops"].as_array().is_some_and(|h| h.len() > 2));
    assert!(v["drop"].is_null());
    let v = get(
        &app,
        &format!("/api/v1/explain?src={c}&dst={b}&proto=tcp&port=80&size=1400"),
    )
    .await
    .json();
    assert_eq!(v["verdict"], "dropped", "{v}");
    assert_eq!(v["drop"]["node"], BROKEN_NODE);
    assert!(v["drop"]["code"].is_string(), "{v}");
    assert!(v["drop"]["hint"].as_str().is_some_and(|h| !h.is_empty()));
    assert_eq!(v["packet"]["proto"], "tcp");
    assert_eq!(v["packet"]["size"], 1400);
}

#[tokio::test]
async fn explain_bad_requests_are_4xx() {
    let snap = broken(3);
    let a = pod_on(&snap, "node-1");
    let app = app(snap);
    let cases = [
        ("/api/v1/explain".to_string(), StatusCode::BAD_REQUEST),
        (format!("/api/v1/explain?src={a}"), StatusCode::BAD_REQUEST),
        (
            format!("/api/v1/explain?src={a}&dst="),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/api/v1/explain?src={a}&dst=default/no-such-pod"),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v1/explain?src=ghost&dst=10.244.0.2".to_string(),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/api/v1/explain?src={a}&dst=10.244.0.2&port=abc"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/api/v1/explain?src={a}&dst=10.244.0.2&port=70000"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/api/v1/explain?src={a}&dst=10.244.0.2&proto=sctp2"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/api/v1/explain?src={a}&dst=10.244.0.2&size=1"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/api/v1/explain?src={a}&dst=10.244.0.2&size=-5"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/api/v1/explain?src={a}&dst=10.244.0.2&df=maybe"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/api/v1/explain?src={a}&dst=10.244.0.2&evil=1"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/api/v1/explain?src={a}&dst=svc/default/none:80"),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/api/v1/explain?src={a}&dst=%00%01"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/api/v1/explain?src={a}&dst=%E0%80"),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (uri, status) in cases {
        let r = get(&app, &uri).await;
        assert_eq!(r.status, status, "{uri}: {}", r.text());
        r.error_code(status);
    }
}

#[tokio::test]
async fn explain_over_the_concurrency_limit_is_429() {
    let snap = healthy(2);
    let a = pod_on(&snap, "node-1");
    let limits = Limits {
        explain_concurrency: 0,
        ..Limits::default()
    };
    let app = app_with(snap, limits);
    let r = get(&app, &format!("/api/v1/explain?src={a}&dst=10.244.0.2")).await;
    assert_eq!(
        r.error_code(StatusCode::TOO_MANY_REQUESTS),
        "too_many_requests"
    );
}

#[tokio::test]
async fn snapshot_round_trips() {
    let snap = healthy(3);
    let app = app(snap.clone());
    let r = get(&app, "/api/v1/snapshot").await;
    assert_eq!(r.status, StatusCode::OK);
    let back: cnictl_model::ClusterSnapshot =
        serde_json::from_slice(&r.body).expect("snapshot JSON");
    assert_eq!(back, snap);
}

#[tokio::test]
async fn limits_reject_with_json() {
    let app = app(healthy(2));
    let long = format!("/api/v1/findings?q={}", "a".repeat(5000));
    assert_eq!(
        get(&app, &long).await.error_code(StatusCode::URI_TOO_LONG),
        "query_too_long"
    );
    for m in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        let req = Request::builder()
            .method(m.clone())
            .uri("/api/v1/model")
            .body(Body::from("{}"))
            .expect("req");
        assert_eq!(
            send(&app, req)
                .await
                .error_code(StatusCode::METHOD_NOT_ALLOWED),
            "method_not_allowed",
            "{m}"
        );
    }
    let req = Request::get("/api/v1/model")
        .header("content-length", "10000000")
        .body(Body::from(vec![0u8; 64]))
        .expect("req");
    assert_eq!(
        send(&app, req)
            .await
            .error_code(StatusCode::PAYLOAD_TOO_LARGE),
        "body_too_large"
    );
    assert_eq!(
        get(&app, "/api/v2/nothing")
            .await
            .error_code(StatusCode::NOT_FOUND),
        "not_found"
    );
    assert_eq!(
        get(&app, "/api").await.error_code(StatusCode::NOT_FOUND),
        "not_found"
    );
    assert_eq!(
        get(&app, "/no/such/page.html")
            .await
            .error_code(StatusCode::NOT_FOUND),
        "not_found"
    );
}

/// Garbage at every endpoint: answers stay below 500 and errors stay JSON.
#[tokio::test]
async fn garbage_never_5xx() {
    let app = app(broken(3));
    let paths = [
        "/api/v1/model",
        "/api/v1/findings",
        "/api/v1/nodes",
        "/api/v1/nodes/node-1",
        "/api/v1/explain",
        "/metrics",
        "/readyz",
        "/",
    ];
    let queries = [
        "",
        "?",
        "?&&&",
        "?=",
        "?a",
        "?severity",
        "?src=&dst=",
        "?src=%ZZ",
        "?limit=18446744073709551616",
        "?src[]=1&dst[]=2",
        "?src=a&src=b&dst=c",
        "?port=1e3",
        "?size=99999999999",
        "?q=%F0%9F%92%A9",
        "?node=..%2F..%2Fetc",
    ];
    for p in paths {
        for q in queries {
            let uri = format!("{p}{q}");
            let r = get(&app, &uri).await;
            assert!(
                r.status.as_u16() < 500,
                "{uri} → {}: {}",
                r.status,
                r.text()
            );
            if r.status.is_client_error() {
                r.error_code(r.status);
            }
        }
    }
}

#[tokio::test]
async fn ui_is_served_embedded() {
    let app = app(healthy(2));
    let r = get(&app, "/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.content_type.starts_with("text/html"),
        "{}",
        r.content_type
    );
    assert!(r.text().contains("/app.js"));
    let r = get(&app, "/app.js").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.content_type.contains("javascript"), "{}", r.content_type);
    let r = get(&app, "/style.css").await;
    assert!(r.content_type.starts_with("text/css"));
    assert_eq!(
        get(&app, "/tests/package.json").await.status,
        StatusCode::NOT_FOUND,
        "test files are not embedded"
    );
}

#[tokio::test]
async fn completions_name_pods_services_and_nodes() {
    let snap = broken(4);
    let pod = snap
        .k8s
        .pods
        .iter()
        .find(|p| !p.host_network)
        .expect("a pod");
    let want_pod = format!("{}/{}", pod.namespace, pod.name);
    let app = app(snap.clone());
    let v = get(&app, "/api/v1/completions").await.json();
    let list = |k: &str| -> Vec<String> {
        v[k].as_array()
            .expect(k)
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()
    };
    assert!(list("pods").contains(&want_pod), "{v}");
    assert_eq!(list("nodes").len(), 4);
    if let Some(s) = snap
        .k8s
        .services
        .iter()
        .flatten()
        .find(|s| !s.ports.is_empty())
    {
        let want = format!("svc/{}/{}:{}", s.namespace, s.name, s.ports[0].port);
        assert!(list("services").contains(&want), "{v}");
    }
    assert_eq!(v["truncated"], false);
}

#[tokio::test]
async fn model_dates_the_data() {
    let mut snap = broken(3);
    snap.collected_at = Some("2026-01-01T00:00:00Z".into());
    let v = get(&app(snap), "/api/v1/model").await.json();
    assert_eq!(v["data_time"]["at"], 1767225600.0);
    assert_eq!(v["data_time"]["basis"], "collected_at");
    let v = get(&app(broken(3)), "/api/v1/model").await.json();
    assert!(v["data_time"].is_null(), "unknown stays unknown: {v}");
}

#[tokio::test]
async fn the_aggregator_can_date_unchanged_data_anew() {
    let mut snap = broken(3);
    snap.collected_at = Some("2026-01-01T00:00:00Z".into());
    let state = AppState::from_snapshot(snap, Limits::default());
    let router = cnictl_exporter::router(state.clone());
    let successes = state.status().successes;
    state.set_data_time(cnictl_exporter::DataTime {
        at: 1767229200.0,
        basis: cnictl_exporter::DataBasis::CollectedAt,
    });
    assert_eq!(state.status().successes, successes, "no re-analysis");
    let v = get(&router, "/api/v1/model").await.json();
    assert_eq!(v["data_time"]["at"], 1767229200.0);
    let text = get(&router, "/metrics").await.text();
    assert!(
        text.contains("cnictl_snapshot_collected_timestamp_seconds 1767229200.0\n"),
        "{text}"
    );
}

/// The cell of `src` → `dst` in a matrix document.
fn matrix_cell<'a>(doc: &'a serde_json::Value, src: &str, dst: &str) -> &'a serde_json::Value {
    let cells = doc["cells"].as_array().expect("cells");
    cells
        .iter()
        .find(|c| c["src"] == src && c["dst"] == dst)
        .unwrap_or_else(|| panic!("no cell {src} → {dst} in {doc}"))
}

#[tokio::test]
async fn matrix_answers_the_policies_beside_the_dataplane() {
    let app = app(policy_snapshot());
    let r = get(&app, "/api/v1/matrix?proto=tcp&port=8080").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.content_type.starts_with("application/json"));
    let doc = r.json();
    assert_eq!(doc["schema"], "cnictl/v1");
    assert_eq!(doc["by"], "pod");
    assert_eq!(
        (doc["protocol"].clone(), doc["port"].clone()),
        ("TCP".into(), 8080.into())
    );
    assert_eq!(
        (doc["pods"].clone(), doc["policies"].clone()),
        (6.into(), 2.into())
    );
    // 6 policed pods (the host-network calico-node pods are left out).
    assert_eq!(doc["cells"].as_array().map(Vec::len), Some(30));
    assert!(
        doc["notes"][0]
            .as_str()
            .unwrap_or("")
            .contains("3 host-network"),
        "{doc}"
    );
    let ok = matrix_cell(&doc, "default/web-1", "default/api-2");
    assert_eq!(ok["intended"], "allowed");
    assert_eq!(ok["by"], serde_json::json!(["default/api-from-web"]));
    assert_eq!(ok["dataplane"], "delivered");
    // No policy agent in the recorded dataplane: the denial is not enforced.
    let hole = matrix_cell(&doc, "default/api-1", "default/web-2");
    assert_eq!(hole["intended"], "denied");
    assert_eq!(hole["by"], serde_json::json!(["default/default-deny"]));
    assert_eq!(hole["dataplane"], "delivered");
    let denied = matrix_cell(&doc, "default/api-1", "default/api-2");
    assert_eq!(
        denied["by"],
        serde_json::json!(["default/api-from-web", "default/default-deny"])
    );
}

#[tokio::test]
async fn matrix_without_a_port_answers_every_probe_the_policies_name() {
    let app = app(policy_snapshot());
    let doc = get(&app, "/api/v1/matrix").await.json();
    assert_eq!(
        (doc["protocol"].clone(), doc["port"].clone()),
        (serde_json::Value::Null, serde_json::Value::Null)
    );
    let cells = doc["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 60, "30 pairs × (TCP 8080, UDP 53)");
    let udp = cells.iter().find(|c| {
        c["src"] == "default/api-1" && c["dst"] == "default/api-2" && c["protocol"] == "UDP"
    });
    assert_eq!(udp.map(|c| c["intended"].clone()), Some("allowed".into()));
    let probes = get(&app, "/api/v1/matrix/probes").await.json();
    assert_eq!(
        probes["probes"],
        serde_json::json!([{"protocol": "TCP", "port": 8080}, {"protocol": "UDP", "port": 53}])
    );
    assert_eq!(
        (probes["pods"].clone(), probes["namespaces"].clone()),
        (6.into(), 1.into())
    );
}

#[tokio::test]
async fn matrix_by_namespace_sums_the_pairs() {
    let app = app(policy_snapshot());
    let doc = get(&app, "/api/v1/matrix?port=8080&by=namespace")
        .await
        .json();
    assert_eq!(doc["by"], "namespace");
    let c = matrix_cell(&doc, "default", "default");
    assert_eq!(
        (c["pairs"].clone(), c["allowed_pairs"].clone()),
        (30.into(), 9.into())
    );
    assert_eq!(
        (c["intended"].clone(), c["dataplane"].clone()),
        ("partial".into(), "delivered".into())
    );
    assert_eq!(
        c["by"],
        serde_json::json!(["default/api-from-web", "default/default-deny"])
    );
}

#[tokio::test]
async fn matrix_bad_queries_are_4xx() {
    let app = app(policy_snapshot());
    for (uri, status, code) in [
        (
            "/api/v1/matrix?proto=icmp&port=1",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/v1/matrix?proto=tcp",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/v1/matrix?port=70000",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/v1/matrix?port=x",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/v1/matrix?by=node",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/v1/matrix?src=a",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ] {
        assert_eq!(get(&app, uri).await.error_code(status), code, "{uri}");
    }
}

#[tokio::test]
async fn matrix_without_policies_says_they_were_not_collected() {
    let app = app(healthy(3));
    for uri in ["/api/v1/matrix", "/api/v1/matrix/probes"] {
        let r = get(&app, uri).await;
        assert_eq!(
            r.error_code(StatusCode::NOT_FOUND),
            "policies_not_collected",
            "{uri}"
        );
        assert!(
            r.text().contains("k8s/networkpolicies.json not collected"),
            "{}",
            r.text()
        );
    }
}

#[tokio::test]
async fn matrix_over_the_pod_cap_points_to_the_cli_and_namespaces() {
    let mut snap = healthy(80); // 320 pods: over the pod grid's 300
    snap.k8s.network_policies = policy_snapshot().k8s.network_policies;
    let app = app(snap);
    let r = get(&app, "/api/v1/matrix?port=8080").await;
    assert_eq!(
        r.error_code(StatusCode::UNPROCESSABLE_ENTITY),
        "matrix_too_large"
    );
    let msg = r.json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        msg.contains("by=namespace") && msg.contains("cnictl matrix"),
        "{msg}"
    );
    let r = get(&app, "/api/v1/matrix?port=8080&by=namespace").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.json()["pods"].as_u64().is_some_and(|n| n > 300));
}

/// `/api/v1/findings` says which findings are root causes: `id`, and for a
/// consequence `caused_by` (its root's id) and `because`; `role=root` and
/// `role=symptom` select them; `/api/v1/model` counts the root causes.
#[tokio::test]
async fn findings_carry_their_root_cause() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/calico-bgp-broken-bgp-session-down");
    let app = app(cnictl_collect::bundle::load_dir(&dir).expect("fixture loads"));
    let all = get(&app, "/api/v1/findings").await.json();
    assert_eq!(all["total"], 6);
    assert_eq!(all["root_causes"], 1);
    let roots = get(&app, "/api/v1/findings?role=root").await.json();
    let root = &roots["findings"][0];
    assert_eq!(
        (roots["total"].as_u64(), &root["code"]),
        (Some(1), &serde_json::json!("bgp-session-down"))
    );
    assert!(root.get("caused_by").is_none());
    let symptoms = get(&app, "/api/v1/findings?role=symptom").await.json();
    let fs = symptoms["findings"].as_array().expect("findings");
    assert_eq!(fs.len(), 5);
    assert!(fs
        .iter()
        .all(|f| f["caused_by"] == root["id"] && f["because"].is_string()));
    let m = get(&app, "/api/v1/model").await.json();
    assert_eq!(m["root_causes"], 1);
    let bad = get(&app, "/api/v1/findings?role=cause").await;
    assert_eq!(bad.status, axum::http::StatusCode::BAD_REQUEST);
}
