//! `cnictl serve`: a Prometheus exporter, a JSON API and the embedded web
//! UI over the analysis of one cluster snapshot.
//!
//! **Architecture Invariant:** a shell. Analysis (inference, checks,
//! dataplane, reachability probes) runs in a background task when the
//! source changes, never inside a request; requests read the last good
//! [`analysis::Analysis`], and `/metrics` serves bytes rendered at refresh.
//! When a refresh fails the last good result stays served and the failure
//! shows in `/readyz`, the UI and `cnictl_analysis_errors_total`.

pub mod analysis;
mod api;
pub mod config;
mod error;
pub mod explain;
pub mod metrics;
pub mod state;
mod ui;
pub mod watch;

use std::future::Future;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

pub use config::{Limits, Loader, ServeConfig, ServeError, Source, DEFAULT_LISTEN};
pub use error::ApiError;
pub use state::AppState;

/// The whole HTTP surface over `state` (tests drive it with `oneshot`).
pub fn router(state: AppState) -> Router {
    let limits = state.limits();
    Router::new()
        .route("/metrics", get(api::metrics))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/api/v1/model", get(api::model))
        .route("/api/v1/findings", get(api::findings))
        .route("/api/v1/nodes", get(api::nodes))
        .route("/api/v1/nodes/:name", get(api::node))
        .route("/api/v1/explain", get(api::explain))
        .route("/api/v1/snapshot", get(api::snapshot))
        .route("/api", any(api::api_not_found))
        .route("/api/*rest", any(api::api_not_found))
        .fallback(ui::asset)
        .with_state(state)
        // Inner to outer: the body limit backs up `guard`'s declared-length
        // check for streamed bodies; `guard` answers in JSON first.
        .layer(RequestBodyLimitLayer::new(limits.max_body))
        .layer(middleware::from_fn_with_state(limits, guard))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, limits.request_timeout))
        .layer(middleware::map_response(timeout_as_json))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
            ),
        ))
}

/// Rejects what no endpoint accepts before routing: non-GET methods (there
/// are no write endpoints), long query strings and declared large bodies.
async fn guard(State(limits): State<Limits>, req: Request, next: Next) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!(
                "{} is not allowed: the API is read-only (GET)",
                req.method()
            ),
        )
        .into_response();
    }
    let qlen = req.uri().query().map_or(0, str::len);
    if qlen > limits.max_query {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            "query_too_long",
            format!(
                "query string of {qlen} bytes exceeds {} bytes",
                limits.max_query
            ),
        )
        .into_response();
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limits.max_body) {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request body exceeds {} bytes", limits.max_body),
        )
        .into_response();
    }
    next.run(req).await
}

/// The timeout layer answers with an empty 408; say why, in JSON like
/// every other error.
async fn timeout_as_json(res: Response) -> Response {
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

/// Runs the server on `cfg.listen` until Ctrl-C / SIGTERM.
pub async fn serve(cfg: ServeConfig) -> Result<(), ServeError> {
    let listener = TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: cfg.listen,
            source,
        })?;
    serve_on(listener, cfg, shutdown_signal()).await
}

/// Runs the server on an already bound listener until `shutdown` resolves
/// (tests bind port 0; the cli uses [`serve`]).
pub async fn serve_on(
    listener: TcpListener,
    cfg: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    if cfg.refresh < Duration::from_secs(1) {
        return Err(ServeError::Refresh(cfg.refresh));
    }
    let addr = listener.local_addr().unwrap_or(cfg.listen);
    let state = AppState::new(cfg.limits);
    let refresher = tokio::spawn(refresh_loop(state.clone(), cfg.clone()));
    let result = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await;
    refresher.abort();
    result.map_err(|source| ServeError::Server { addr, source })
}

/// Polls the source every `refresh` and re-analyses when it changed, or
/// while the last attempt failed (so a fixed input is picked up).
async fn refresh_loop(state: AppState, cfg: ServeConfig) {
    let mut last: Option<u64> = None;
    loop {
        let path = cfg.source.path().to_path_buf();
        let fp = tokio::task::spawn_blocking(move || watch::fingerprint(&path))
            .await
            .ok();
        let failing = state.status().last_error.is_some() || state.current().is_none();
        if fp.is_none() || fp != last || failing {
            let (st, loader) = (state.clone(), cfg.loader.clone());
            let _ = tokio::task::spawn_blocking(move || st.refresh_blocking(&loader)).await;
            last = fp;
        }
        tokio::time::sleep(cfg.refresh).await;
    }
}

/// Resolves on Ctrl-C or SIGTERM (Kubernetes stops pods with SIGTERM).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
