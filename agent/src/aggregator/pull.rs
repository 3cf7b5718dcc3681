//! Pulling one agent: `GET /api/v1/node` with `If-None-Match` and gzip,
//! over a keep-alive HTTP/1.1 client, within a deadline. A snapshot is
//! kept as the agent sent it (compressed) and parsed only when assembled.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{header, StatusCode};
use cnictl_model::NodeSnapshot;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;

use super::NODE_HEADER;

/// A node snapshot as its agent sent it: JSON, gzip-compressed when the
/// agent compressed it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub(super) bytes: Bytes,
    pub(super) gzip: bool,
    /// The agent's last collection of this content (RFC 3339, its
    /// `x-cnictl-collected-at`), renewed by every 304.
    pub(super) collected_at: Option<String>,
}

impl Stored {
    /// Parses the snapshot.
    pub fn decode(&self) -> Result<NodeSnapshot, String> {
        if !self.gzip {
            return serde_json::from_slice(&self.bytes)
                .map_err(|e| format!("invalid node snapshot: {e}"));
        }
        // Inflate first: serde_json's reader path is several times slower
        // than parsing a slice.
        let json = cnictl_httpkit::gzip::gunzip(&self.bytes)
            .map_err(|e| format!("invalid gzip body: {e}"))?;
        serde_json::from_slice(&json).map_err(|e| format!("invalid node snapshot: {e}"))
    }

    /// Bytes held (compressed when the agent compressed).
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// The result of pulling one agent.
pub(super) enum Pulled {
    /// A new snapshot: its ETag, its node name, its bytes.
    Changed(String, String, Stored),
    /// Unchanged; the agent's latest collection time.
    NotModified(Option<String>),
    Failed(&'static str, String),
}

/// Pulls agents over HTTP/1.1 with keep-alive.
#[derive(Clone)]
pub struct Puller {
    http: HttpClient<HttpConnector, Empty<Bytes>>,
    timeout: Duration,
    token: Option<String>,
}

impl Puller {
    pub fn new(timeout: Duration, token: Option<String>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        connector.set_nodelay(true);
        let http = HttpClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(1)
            .build(connector);
        Puller {
            http,
            timeout,
            token,
        }
    }

    pub(super) async fn pull(&self, target: &str, etag: Option<&str>) -> Pulled {
        match tokio::time::timeout(self.timeout, self.pull_inner(target, etag)).await {
            Err(_) => Pulled::Failed("timeout", format!("no answer within {:?}", self.timeout)),
            Ok(p) => p,
        }
    }

    async fn pull_inner(&self, target: &str, etag: Option<&str>) -> Pulled {
        let Some(req) = self.request(target, etag) else {
            return Pulled::Failed("request", format!("invalid agent address {target:?}"));
        };
        let res = match self.http.request(req).await {
            Ok(r) => r,
            Err(e) => return Pulled::Failed("connect", format!("{e:#}")),
        };
        let status = res.status();
        if status == StatusCode::NOT_MODIFIED {
            return Pulled::NotModified(header_text(res.headers(), COLLECTED_AT));
        }
        let headers = res.headers().clone();
        match res.into_body().collect().await {
            Ok(b) if status.is_success() => received(&headers, b.to_bytes()),
            Ok(b) => {
                let body = b.to_bytes();
                let text = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
                Pulled::Failed(http_code(status), format!("{status}: {text}"))
            }
            Err(e) => Pulled::Failed("read", e.to_string()),
        }
    }

    /// `GET /api/v1/node`, conditional on `etag`, with the bearer token.
    fn request(&self, target: &str, etag: Option<&str>) -> Option<http::Request<Empty<Bytes>>> {
        let mut req = http::Request::get(format!("http://{target}/api/v1/node"))
            .header(header::ACCEPT_ENCODING, "gzip");
        if let Some(t) = etag {
            req = req.header(header::IF_NONE_MATCH, t);
        }
        if let Some(token) = &self.token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        req.body(Empty::new()).ok()
    }
}

/// A snapshot answer: kept as sent, named by the agent's header or, from
/// another implementation without it, by parsing it once (which also
/// validates it).
fn received(headers: &http::HeaderMap, body: Bytes) -> Pulled {
    let text = |name: header::HeaderName| header_text(headers, name.as_str());
    let stored = Stored {
        gzip: text(header::CONTENT_ENCODING).is_some_and(|e| e.eq_ignore_ascii_case("gzip")),
        bytes: body,
        collected_at: header_text(headers, COLLECTED_AT),
    };
    let node = match text(header::HeaderName::from_static(NODE_HEADER)) {
        Some(n) => n,
        None => match stored.decode() {
            Ok(n) => n.name,
            Err(e) => return Pulled::Failed("decode", e),
        },
    };
    Pulled::Changed(text(header::ETAG).unwrap_or_default(), node, stored)
}

/// The response header in which an agent says when it collected.
pub const COLLECTED_AT: &str = "x-cnictl-collected-at";

fn header_text(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Bounded codes for HTTP failures.
pub(super) fn http_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "http_401",
        403 => "http_403",
        404 => "http_404",
        503 => "http_503",
        500..=599 => "http_5xx",
        _ => "http_other",
    }
}
