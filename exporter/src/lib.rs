//! `cnictl serve`: a Prometheus exporter, a JSON API and the embedded web
//! UI over the analysis of one cluster snapshot.
//!
//! **Architecture Invariant:** HTTP only. The analysis is the analyzers'
//! [`Analysis`](cnictl_analyzers::pipeline::Analysis), built in a
//! background task when the source changes, never inside a request;
//! requests read the last good one, and `/metrics` serves bytes rendered at
//! refresh. When a refresh fails the last good result stays served and the
//! failure shows in `/readyz`, the UI and `cnictl_analysis_errors_total`.

mod api;
pub mod config;
pub mod explain;
pub mod matrix;
pub mod metrics;
pub mod state;
mod ui;
pub mod watch;

use std::future::Future;
use std::time::Duration;

use axum::http::{header, HeaderValue};
use axum::routing::{any, get};
use axum::Router;
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;

pub use cnictl_httpkit::{shutdown_signal, ApiError, Limits};
pub use config::{Loader, ServeConfig, ServeError, Source, DEFAULT_LISTEN};
pub use state::{AppState, DataBasis, DataTime, Served};

/// The UI's content security policy: everything from this origin, no
/// framing.
const CSP: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'";

/// The whole HTTP surface over `state` (tests drive it with `oneshot`).
pub fn router(state: AppState) -> Router {
    let limits = state.limits();
    let routes = Router::new()
        .route("/metrics", get(api::metrics))
        .route("/healthz", get(cnictl_httpkit::healthz))
        .route("/readyz", get(api::readyz))
        .route("/api/v1/model", get(api::model))
        .route("/api/v1/findings", get(api::findings))
        .route("/api/v1/nodes", get(api::nodes))
        .route("/api/v1/nodes/{name}", get(api::node))
        .route("/api/v1/explain", get(api::explain))
        .route("/api/v1/matrix", get(api::matrix))
        .route("/api/v1/matrix/probes", get(api::matrix_probes))
        .route("/api/v1/snapshot", get(api::snapshot))
        .route("/api/v1/completions", get(api::completions))
        .route("/api", any(api::api_not_found))
        .route("/api/{*rest}", any(api::api_not_found))
        .fallback(ui::asset)
        .with_state(state);
    cnictl_httpkit::bounded(routes, limits)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
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
    tracing::info!(%addr, source = ?cfg.source, refresh = ?cfg.refresh, "serving /metrics, /api/v1 and the UI");
    let state = AppState::new(cfg.limits);
    let refresher = tokio::spawn(refresh_loop(state.clone(), cfg.clone()));
    let result = axum::serve(cnictl_httpkit::HeadLimit(listener), router(state))
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
        let scan = tokio::task::spawn_blocking(move || watch::scan(&path))
            .await
            .ok();
        let fp = scan.map(|s| s.fingerprint);
        let failing = state.status().last_error.is_some() || state.current().is_none();
        if fp.is_none() || fp != last || failing {
            if last.is_some() && fp != last {
                tracing::info!(path = %cfg.source.path().display(), "source changed: re-analysing");
            }
            let (st, loader) = (state.clone(), cfg.loader.clone());
            let mtime = scan.and_then(|s| s.newest);
            let _ = tokio::task::spawn_blocking(move || st.refresh_source(&loader, mtime)).await;
            last = fp;
        }
        tokio::time::sleep(cfg.refresh).await;
    }
}
