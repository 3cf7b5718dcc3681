//! What `cnictl serve` is told: where to listen, what to read, how often,
//! and the request limits. The loading function is injected so the exporter
//! stays a shell: it never parses bundles itself.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cnictl_httpkit::Limits;
use cnictl_model::ClusterSnapshot;

/// Loads a snapshot from wherever the caller decided (bundle dir, snapshot
/// file, newest bundle in a watched dir). Errors are messages for
/// `/readyz` and the UI; they never become metric labels.
pub type Loader = Arc<dyn Fn() -> Result<ClusterSnapshot, String> + Send + Sync>;

/// Default listen address: loopback only, so nothing is exposed by accident.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9640);

/// What is watched for changes (the loader decides how it is read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A bundle directory (README "Bundles").
    Bundle(PathBuf),
    /// A snapshot JSON file (`cnictl/v1`).
    Snapshot(PathBuf),
    /// A directory whose contents are re-read whenever anything in it changes.
    WatchDir(PathBuf),
}

impl Source {
    /// The path whose modification times are polled.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Source::Bundle(p) | Source::Snapshot(p) | Source::WatchDir(p) => p,
        }
    }
}

/// Everything [`crate::serve`] needs.
#[derive(Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub source: Source,
    /// How often the source's modification times are polled.
    pub refresh: Duration,
    pub loader: Loader,
    pub limits: Limits,
}

impl ServeConfig {
    /// A config with the default listen address, a 30 s refresh and default limits.
    pub fn new(source: Source, loader: Loader) -> Self {
        ServeConfig {
            listen: DEFAULT_LISTEN,
            source,
            refresh: Duration::from_secs(30),
            loader,
            limits: Limits::default(),
        }
    }
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("listen", &self.listen)
            .field("source", &self.source)
            .field("refresh", &self.refresh)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server on {addr} failed: {source}")]
    Server {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("refresh interval must be at least 1 s (got {0:?})")]
    Refresh(Duration),
}

impl ServeError {
    /// A bounded code for logs and exit paths.
    pub fn code(&self) -> &'static str {
        match self {
            ServeError::Bind { .. } => "bind",
            ServeError::Server { .. } => "server",
            ServeError::Refresh(_) => "config",
        }
    }
}
