//! Request bounds: what a client may make a server spend. Every server is
//! read-only (GET/HEAD), has short queries and no request bodies worth the
//! name, and answers within a deadline; violations are JSON errors like
//! every other.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::ApiError;

/// Request limits. Defaults suit an on-call laptop and a cluster aggregator
/// alike; every one bounds memory or CPU a client can make the server spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest accepted query string, in bytes (longer: 414).
    pub max_query: usize,
    /// Largest accepted request head: the URI (longer: 414) and the URI
    /// with every header (larger: 431). Heads past hyper's own buffer
    /// (~400 KiB) are refused by hyper before any handler runs, with a
    /// bodyless 431.
    pub max_head: usize,
    /// Largest accepted request body (there are no write endpoints, so small).
    pub max_body: usize,
    /// Per-request deadline (exceeded: 408).
    pub request_timeout: Duration,
    /// Explains running at once; more are refused with 429, never queued.
    pub explain_concurrency: usize,
    /// Full-snapshot downloads at once (each serializes the whole cluster).
    pub snapshot_concurrency: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_query: 4096,
            max_head: crate::headlimit::MAX_HEAD,
            max_body: 16 * 1024,
            request_timeout: Duration::from_secs(30),
            explain_concurrency: 4,
            snapshot_concurrency: 1,
        }
    }
}

/// `router` behind the bounds: read-only methods, query and body sizes,
/// the per-request deadline (answered in JSON).
pub fn bounded(router: Router, limits: Limits) -> Router {
    // Inner to outer: the body limit backs up `guard`'s declared-length
    // check for streamed bodies; `guard` answers in JSON first.
    router
        .layer(RequestBodyLimitLayer::new(limits.max_body))
        .layer(middleware::from_fn_with_state(limits, guard))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(middleware::map_response(timeout_as_json))
}

/// Rejects what no endpoint accepts before routing: non-GET methods (there
/// are no write endpoints), long query strings and declared large bodies.
pub async fn guard(State(limits): State<Limits>, req: Request, next: Next) -> Response {
    match violation(&req, limits) {
        Some(e) => e.into_response(),
        None => next.run(req).await,
    }
}

fn violation(req: &Request, limits: Limits) -> Option<ApiError> {
    method_violation(req)
        .or_else(|| size_violation(req, limits))
        .or_else(|| head_violation(req, limits))
}

/// A URI or a whole request head over `max_head`: 414 or 431, in JSON.
fn head_violation(req: &Request, limits: Limits) -> Option<ApiError> {
    let uri = req.uri().path().len() + req.uri().query().map_or(0, |q| q.len() + 1);
    if uri > limits.max_head {
        return Some(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("URI of {uri} bytes exceeds {} bytes", limits.max_head),
        ));
    }
    // As on the wire: "name: value\r\n" per header.
    let headers: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    (uri + headers > limits.max_head).then(|| {
        ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "request head of {} bytes exceeds {} bytes",
                uri + headers,
                limits.max_head
            ),
        )
    })
}

fn method_violation(req: &Request) -> Option<ApiError> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Some(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!(
                "{} is not allowed: the API is read-only (GET)",
                req.method()
            ),
        ));
    }
    None
}

/// A query string over `max_query` (414) or a declared body over `max_body` (413).
fn size_violation(req: &Request, limits: Limits) -> Option<ApiError> {
    let qlen = req.uri().query().map_or(0, str::len);
    if qlen > limits.max_query {
        return Some(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "query_too_long",
            format!(
                "query string of {qlen} bytes exceeds {} bytes",
                limits.max_query
            ),
        ));
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    declared.filter(|&n| n > limits.max_body).map(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request body exceeds {} bytes", limits.max_body),
        )
    })
}

/// The timeout layer answers with an empty 408; say why, in JSON like
/// every other error.
pub async fn timeout_as_json(res: Response) -> Response {
    if res.status() != StatusCode::REQUEST_TIMEOUT {
        return res;
    }
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "timeout",
        "the request took longer than the server's per-request limit",
    )
    .into_response()
}
