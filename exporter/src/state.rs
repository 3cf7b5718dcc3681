//! Shared server state: the last good analysis, the refresh status and the
//! pre-rendered metrics. Requests only read it; the refresh task writes it.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::http::HeaderMap;
use cnictl_analyzers::pipeline::Analysis;
use cnictl_analyzers::Finding;
use cnictl_httpkit::{Exposition, Limits};
use cnictl_model::ClusterSnapshot;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::config::Loader;
use crate::metrics;

/// An analysis slower than this is logged as a warning.
pub const SLOW_ANALYSIS: Duration = Duration::from_secs(10);

/// The analysis being served, with the shell-side clock readings the
/// metrics report (the analysis itself never reads the clock).
#[derive(Debug)]
pub struct Served {
    pub analysis: Analysis,
    /// Wall time the analysis took (reachability and summaries included).
    pub duration: Duration,
    /// Wall-clock end of the analysis.
    pub finished_at: SystemTime,
    /// When the data were collected, if known.
    pub data_time: Option<DataTime>,
}

/// When the served data were collected, and how that is known.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DataTime {
    /// Unix seconds.
    pub at: f64,
    pub basis: DataBasis,
}

/// Where [`DataTime`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataBasis {
    /// The snapshot's `collected_at` (snapshot files, the aggregator: its
    /// oldest agent collection).
    CollectedAt,
    /// A bundle holds no collection time: the newest modification time of
    /// its files, which the collection wrote.
    FileMtime,
}

impl Served {
    /// Analyses `snap` (with `extra` findings) and times it; everything
    /// is computed here, in the caller's blocking task, not in a request.
    pub fn analyse(snap: ClusterSnapshot, extra: Vec<Finding>) -> Served {
        let started = Instant::now();
        let data_time = snap
            .collected_at
            .as_deref()
            .and_then(rfc3339_secs)
            .map(|at| DataTime {
                at,
                basis: DataBasis::CollectedAt,
            });
        let analysis = Analysis::with_findings(Arc::new(snap), extra);
        analysis.warm();
        Served {
            analysis,
            duration: started.elapsed(),
            finished_at: SystemTime::now(),
            data_time,
        }
    }
}

/// Unix seconds of an RFC 3339 time.
fn rfc3339_secs(s: &str) -> Option<f64> {
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    Some(t.timestamp() as f64 + f64::from(t.timestamp_subsec_millis()) / 1000.0)
}

impl Deref for Served {
    type Target = Analysis;

    fn deref(&self) -> &Analysis {
        &self.analysis
    }
}

/// Why a refresh failed, as a bounded code (the `error_code` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshError {
    /// The loader returned an error (unreadable or malformed input).
    Load,
    /// The analysis panicked (a bug; the last good result stays served).
    Panic,
}

impl RefreshError {
    pub fn as_str(self) -> &'static str {
        match self {
            RefreshError::Load => "load",
            RefreshError::Panic => "panic",
        }
    }
}

/// The refresh history shown by `/readyz` and the UI.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    pub attempts: u64,
    pub successes: u64,
    /// Seconds since the Unix epoch of the last successful analysis.
    pub last_success: Option<f64>,
    /// Set while the most recent attempt failed.
    pub last_error: Option<LastError>,
    /// When the served data were collected: the analysis' own, or newer
    /// word from the aggregator ([`AppState::set_data_time`]).
    pub data_time: Option<DataTime>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LastError {
    pub code: RefreshError,
    pub message: String,
    pub at: f64,
}

/// The state every handler gets. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    current: RwLock<Option<Arc<Served>>>,
    status: RwLock<Status>,
    metrics: RwLock<Exposition>,
    /// OpenMetrics text appended to the exporter's own (the aggregator's
    /// series), replaced by [`AppState::set_extra_metrics`].
    extra_metrics: RwLock<String>,
    errors: Mutex<BTreeMap<RefreshError, u64>>,
    limits: Limits,
    explain_permits: Arc<Semaphore>,
    snapshot_permits: Arc<Semaphore>,
}

impl AppState {
    /// An empty state: not ready until a refresh succeeds.
    pub fn new(limits: Limits) -> Self {
        let state = AppState {
            inner: Arc::new(Inner {
                current: RwLock::new(None),
                status: RwLock::new(Status::default()),
                metrics: RwLock::new(Exposition::default()),
                extra_metrics: RwLock::new(String::new()),
                errors: Mutex::new(BTreeMap::new()),
                limits,
                explain_permits: Arc::new(Semaphore::new(limits.explain_concurrency)),
                snapshot_permits: Arc::new(Semaphore::new(limits.snapshot_concurrency)),
            }),
        };
        state.render_metrics();
        state
    }

    /// A ready state holding the analysis of `snap` (tests, one-shot use).
    pub fn from_snapshot(snap: ClusterSnapshot, limits: Limits) -> Self {
        let state = AppState::new(limits);
        state.install(Served::analyse(snap, Vec::new()));
        state
    }

    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// The last good analysis, if any.
    pub fn current(&self) -> Option<Arc<Served>> {
        read(&self.inner.current).clone()
    }

    pub fn status(&self) -> Status {
        read(&self.inner.status).clone()
    }

    /// The `/metrics` answer: the text of the last refresh (rendered
    /// then, never per scrape; gzip-compressed then too, as Prometheus
    /// asks for gzip and it is ~10x smaller at 1,000 nodes) in the format
    /// and encoding the request accepts. Cloning shares the buffer, so a
    /// scrape copies nothing.
    pub fn metrics_response(&self, headers: &HeaderMap) -> axum::response::Response {
        read(&self.inner.metrics).respond(headers)
    }

    /// The metrics text of the last refresh in `format`, uncompressed.
    pub fn metrics_text(&self, format: cnictl_httpkit::exposition::Format) -> Bytes {
        read(&self.inner.metrics).plain(format)
    }

    /// Dates the served data anew without re-analysing them: the
    /// aggregator re-analyses only when a snapshot changed, but an agent
    /// answering 304 has collected again, so the unchanged data are that
    /// fresh (without this a quiet, healthy cluster would look stale).
    pub fn set_data_time(&self, t: DataTime) {
        write(&self.inner.status).data_time = Some(t);
        self.render_metrics();
    }

    /// Replaces the OpenMetrics series served after the exporter's own
    /// (the aggregator's, once per pull round) and re-renders.
    pub fn set_extra_metrics(&self, openmetrics: String) {
        *write(&self.inner.extra_metrics) = openmetrics;
        self.render_metrics();
    }

    pub(crate) fn explain_permits(&self) -> &Arc<Semaphore> {
        &self.inner.explain_permits
    }

    pub(crate) fn snapshot_permits(&self) -> &Arc<Semaphore> {
        &self.inner.snapshot_permits
    }

    /// Runs the loader and the analysis on the calling thread (call it from
    /// a blocking task) and installs the outcome. Panics in either are
    /// caught: the last good analysis stays served.
    pub fn refresh_blocking(&self, loader: &Loader) -> Result<(), RefreshError> {
        self.refresh_blocking_with(loader, Vec::new())
    }

    /// [`AppState::refresh_blocking`] with extra findings added to the
    /// analysis (see [`Analysis::with_findings`]).
    pub fn refresh_blocking_with(
        &self,
        loader: &Loader,
        extra: Vec<Finding>,
    ) -> Result<(), RefreshError> {
        self.refresh_inner(loader, extra, None)
    }

    /// [`AppState::refresh_blocking`] for a file source: `mtime` (the
    /// newest modification time under it) dates data that carry no
    /// `collected_at`.
    pub fn refresh_source(
        &self,
        loader: &Loader,
        mtime: Option<SystemTime>,
    ) -> Result<(), RefreshError> {
        self.refresh_inner(loader, Vec::new(), mtime)
    }

    fn refresh_inner(
        &self,
        loader: &Loader,
        extra: Vec<Finding>,
        mtime: Option<SystemTime>,
    ) -> Result<(), RefreshError> {
        write(&self.inner.status).attempts += 1;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            loader().map(|snap| Served::analyse(snap, extra))
        }));
        match outcome {
            Ok(Ok(mut a)) => {
                if a.data_time.is_none() {
                    a.data_time = mtime.map(|t| DataTime {
                        at: epoch_secs(t),
                        basis: DataBasis::FileMtime,
                    });
                }
                self.install(a);
                Ok(())
            }
            Ok(Err(msg)) => {
                self.fail(RefreshError::Load, msg);
                Err(RefreshError::Load)
            }
            Err(p) => {
                self.fail(RefreshError::Panic, panic_message(p.as_ref()));
                Err(RefreshError::Panic)
            }
        }
    }

    fn install(&self, a: Served) {
        let at = epoch_secs(a.finished_at);
        let data_time = a.data_time;
        log_installed(&a, self.status().last_error.is_some());
        *write(&self.inner.current) = Some(Arc::new(a));
        {
            let mut st = write(&self.inner.status);
            st.successes += 1;
            st.last_success = Some(at);
            st.last_error = None;
            st.data_time = data_time;
        }
        self.render_metrics();
    }

    fn fail(&self, code: RefreshError, message: String) {
        tracing::error!(
            error_code = code.as_str(),
            error = %message,
            serving_last_good = self.current().is_some(),
            "analysis refresh failed"
        );
        *lock(&self.inner.errors).entry(code).or_default() += 1;
        write(&self.inner.status).last_error = Some(LastError {
            code,
            message,
            at: epoch_secs(SystemTime::now()),
        });
        self.render_metrics();
    }

    fn render_metrics(&self) {
        let current = self.current();
        let errors = lock(&self.inner.errors).clone();
        let status = self.status();
        let mut text = metrics::render(current.as_deref(), &status, &errors);
        text.push_str(&read(&self.inner.extra_metrics));
        *write(&self.inner.metrics) = Exposition::new(&text);
    }
}

/// One line per analysis: a recovery after failures, a slow analysis, or
/// a routine refresh (debug).
fn log_installed(a: &Served, recovered: bool) {
    let secs = a.duration.as_secs_f64();
    let (nodes, findings) = (a.nodes().len(), a.report().findings.len());
    if recovered {
        tracing::info!(
            nodes,
            findings,
            analysis_seconds = secs,
            "analysis recovered"
        );
    }
    if a.duration >= SLOW_ANALYSIS {
        tracing::warn!(nodes, analysis_seconds = secs, "slow analysis");
    } else {
        tracing::debug!(nodes, findings, analysis_seconds = secs, "analysis done");
    }
}

fn epoch_secs(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    let what = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    format!("analysis panicked: {what}")
}

/// Lock helpers that survive poisoning: the data are replaced whole, so a
/// panic elsewhere cannot leave them half-written.
fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

fn lock<T>(l: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    l.lock().unwrap_or_else(|e| e.into_inner())
}
