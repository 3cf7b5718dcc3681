//! The long-running commands' logs (`serve`, `agent`, `serve --kube`):
//! `tracing` events on standard error, one line each, as text for a person
//! or JSON for a log pipeline (`--log-format`). `CNICTL_LOG` filters them
//! (`info` by default; `debug`, or per crate: `info,cnictl_exporter=debug`).

use anyhow::{Context, Result};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-01-01T00:00:00Z  INFO cnictl_exporter: message key=value`
    Text,
    /// One JSON object per line: timestamp, level, target, fields.
    Json,
}

/// The environment variable holding the filter.
pub const FILTER_ENV: &str = "CNICTL_LOG";

/// Installs the subscriber for this process (call once, before serving).
pub fn init(format: LogFormat) -> Result<()> {
    let spec = std::env::var(FILTER_ENV).unwrap_or_else(|_| "info".to_string());
    let filter: Targets = spec.parse().with_context(|| {
        format!(
            "{FILTER_ENV}={spec:?} is not a log filter (e.g. info, debug, info,cnictl_agent=debug)"
        )
    })?;
    let base = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let registry = tracing_subscriber::registry().with(filter);
    let done = match format {
        LogFormat::Text => registry.with(base).try_init(),
        LogFormat::Json => registry.with(base.json().flatten_event(true)).try_init(),
    };
    done.context("installing the logger")
}
