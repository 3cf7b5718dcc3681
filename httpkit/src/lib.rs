//! The HTTP pieces every cnictl server shares (the exporter's `serve`, the
//! node agent, the aggregator): the JSON error document, gzip and
//! `Accept-Encoding` negotiation, the `/metrics` formats, the health endpoints, content types,
//! request bounds and the shutdown signal. One implementation each, so the
//! servers cannot drift apart.

pub mod bounds;
pub mod error;
pub mod exposition;
pub mod gzip;
pub mod headlimit;
pub mod health;

pub use bounds::{bounded, guard, timeout_as_json, Limits};
pub use error::ApiError;
pub use exposition::Exposition;
pub use gzip::{accepts_gzip, Precompressed};
pub use headlimit::HeadLimit;
pub use health::{healthz, shutdown_signal};

/// The content type of OpenMetrics text (`/metrics` of every server).
pub const OPENMETRICS: &str = exposition::OPENMETRICS;

/// The content type of every JSON document.
pub const JSON: &str = "application/json";
