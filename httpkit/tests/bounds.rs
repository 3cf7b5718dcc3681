//! The per-request deadline, tested on a handler that never answers: a
//! real handler racing a tiny deadline is flaky (the timer ticks in
//! milliseconds, a small answer can be ready first).

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::Router;
use cnictl_httpkit::{bounded, Limits};
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn never() -> &'static str {
    std::future::pending().await
}

#[tokio::test]
async fn a_request_past_its_deadline_is_a_json_408() {
    let limits = Limits {
        request_timeout: Duration::from_millis(20),
        ..Limits::default()
    };
    let app = bounded(Router::new().route("/slow", get(never)), limits);
    let req = Request::get("/slow").body(Body::empty()).expect("request");
    let res = app.oneshot(req).await.expect("router is infallible");
    assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT);
    let body = res.into_body().collect().await.expect("body").to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON body");
    assert_eq!(v["error"]["code"], "timeout", "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn a_quick_request_is_not_touched_by_the_deadline() {
    let app = bounded(
        Router::new().route("/ok", get(|| async { "ok" })),
        Limits::default(),
    );
    let req = Request::get("/ok").body(Body::empty()).expect("request");
    let res = app.oneshot(req).await.expect("router is infallible");
    assert_eq!(res.status(), StatusCode::OK);
}
