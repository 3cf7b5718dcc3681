//! `/api/v1/matrix` and `/api/v1/matrix/probes`: the NetworkPolicy matrix
//! of the served analysis, as `cnictl matrix -o json` writes it (the
//! analyzers' [`document`]: header and cells), for the UI's Policy view.
//!
//! Bounded: a pod grid above [`GRID_PODS_MAX`] pods or [`GRID_CELLS_MAX`]
//! cells is too much for a browser (2,000 pods are 4M cells), and every
//! cell is a trip through the reference dataplane, so above
//! [`PAIRS_MAX`] pair evaluations even the namespace summary is left to
//! `cnictl matrix`; both answer 422 saying so.

use axum::http::StatusCode;
use cnictl_analyzers::pipeline::Analysis;
use cnictl_analyzers::policy::document::{self, namespace_grid, DocCell, Header};
use cnictl_analyzers::policy::{self, PolicyIndex, PolicyMatrix, Probe};
use cnictl_httpkit::ApiError;
use serde::{Deserialize, Serialize};

/// Most pods a pod × pod answer holds.
pub const GRID_PODS_MAX: usize = 300;
/// Most cells a pod × pod answer holds (summed over the probes).
pub const GRID_CELLS_MAX: usize = 250_000;
/// Most pod-pair evaluations (pairs × probes) one request may cost.
pub const PAIRS_MAX: usize = 1_000_000;

/// Query of `/api/v1/matrix`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixQuery {
    /// `tcp`, `udp` or `sctp` (default with a port: tcp).
    pub proto: Option<String>,
    pub port: Option<u16>,
    /// `pod` (default) or `namespace`.
    pub by: Option<String>,
}

/// Rows and columns of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    Pod,
    Namespace,
}

impl By {
    fn as_str(self) -> &'static str {
        match self {
            By::Pod => "pod",
            By::Namespace => "namespace",
        }
    }
}

impl MatrixQuery {
    fn by(&self) -> Result<By, ApiError> {
        match self.by.as_deref().map(str::trim).unwrap_or("") {
            "" | "pod" => Ok(By::Pod),
            "namespace" => Ok(By::Namespace),
            other => Err(ApiError::bad_request(format!(
                "by must be pod or namespace, not {other:?}"
            ))),
        }
    }

    /// The probes asked for: one, or every one the policies name.
    fn probes(&self, k8s: &cnictl_model::K8s) -> Result<Vec<Probe>, ApiError> {
        let proto = match self.proto.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(p) => Some(protocol(p)?),
        };
        match (proto, self.port) {
            (p, Some(port)) => Ok(vec![Probe::new(p.unwrap_or("TCP"), port)]),
            (Some(_), None) => Err(ApiError::bad_request(
                "proto needs port (the verdict depends on the port)",
            )),
            (None, None) => Ok(policy::probes(k8s)),
        }
    }
}

fn protocol(p: &str) -> Result<&'static str, ApiError> {
    let known = [("tcp", "TCP"), ("udp", "UDP"), ("sctp", "SCTP")];
    let found = known.iter().find(|(k, _)| k.eq_ignore_ascii_case(p));
    found
        .map(|(_, v)| *v)
        .ok_or_else(|| ApiError::bad_request(format!("proto must be tcp, udp or sctp, not {p:?}")))
}

fn not_collected() -> ApiError {
    ApiError::not_found(
        "policies_not_collected",
        "k8s/networkpolicies.json not collected: no NetworkPolicies to show (kubectl get networkpolicies -A -o json)",
    )
}

/// The policed pods, or 404 when the snapshot has no NetworkPolicies.
fn pod_count(a: &Analysis) -> Result<usize, ApiError> {
    let index = PolicyIndex::new(&a.snapshot().k8s).ok_or_else(not_collected)?;
    Ok(index.pods().len())
}

/// 422 when the answer would be too large for a browser or too costly.
fn within_bounds(by: By, pods: usize, probes: usize) -> Result<(), ApiError> {
    let pairs = pods * pods.saturating_sub(1) * probes;
    let why = match by {
        _ if pairs > PAIRS_MAX => format!(
            "{pods} pods × {probes} probes are {pairs} pair evaluations (at most {PAIRS_MAX} per request): name one port, or run `cnictl matrix`"
        ),
        By::Pod if pods > GRID_PODS_MAX || pairs > GRID_CELLS_MAX => format!(
            "{pods} pods × {probes} probes are {pairs} cells, too many for a pod grid (at most {GRID_PODS_MAX} pods and {GRID_CELLS_MAX} cells): ask by=namespace, name one port, or run `cnictl matrix`"
        ),
        _ => return Ok(()),
    };
    Err(ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "matrix_too_large",
        why,
    ))
}

/// The whole document, as `cnictl matrix -o json --by …` writes it.
pub fn run(a: &Analysis, q: &MatrixQuery) -> Result<Vec<u8>, ApiError> {
    let by = q.by()?;
    let pods = pod_count(a)?;
    let snap = a.snapshot();
    let probes = q.probes(&snap.k8s)?;
    within_bounds(by, pods, probes.len())?;
    let evaluated = !snap.nodes.is_empty();
    let dp = evaluated.then(|| a.dataplane());
    let m = policy::build(&snap.k8s, dp, probes).ok_or_else(not_collected)?;
    let mut notes = document::notes(&m, &snap.k8s);
    if !evaluated {
        notes.push("dataplane not evaluated: no node dumps in this input (intent only)".into());
    }
    let head = Header::new(&m, &notes, by.as_str(), &snap.source);
    let encode = |e: serde_json::Error| ApiError::internal("encode", e.to_string());
    let mut out = serde_json::to_vec(&head).map_err(encode)?;
    out.pop(); // the closing brace: the cells follow
    out.extend_from_slice(b",\"cells\":[");
    match by {
        By::Pod => pod_cells(&m, &mut out),
        By::Namespace => namespace_cells(&m, evaluated, &mut out),
    }
    .map_err(encode)?;
    out.extend_from_slice(b"]}");
    Ok(out)
}

fn pod_cells(m: &PolicyMatrix, out: &mut Vec<u8>) -> serde_json::Result<()> {
    let keys: Vec<String> = (0..m.pod_count()).map(|i| m.pod_key(i)).collect();
    let mut first = true;
    for r in 0..m.results.len() {
        for s in 0..keys.len() {
            for cell in document::pod_row(m, r, &keys, s).0 {
                push(out, &cell, &mut first)?;
            }
        }
    }
    Ok(())
}

fn namespace_cells(m: &PolicyMatrix, evaluated: bool, out: &mut Vec<u8>) -> serde_json::Result<()> {
    let mut first = true;
    for (r, res) in m.results.iter().enumerate() {
        for ((src, dst), c) in namespace_grid(m, r) {
            let cell = DocCell::namespace((&src, &dst), &res.probe, &c, evaluated);
            push(out, &cell, &mut first)?;
        }
    }
    Ok(())
}

fn push(out: &mut Vec<u8>, cell: &DocCell, first: &mut bool) -> serde_json::Result<()> {
    if !std::mem::take(first) {
        out.push(b',');
    }
    serde_json::to_writer(out, cell)
}

/// `/api/v1/matrix/probes`: what the Policy view offers before it asks
/// for a matrix.
#[derive(Debug, Serialize)]
pub struct ProbesOut {
    pub schema: &'static str,
    pub pods: usize,
    pub policies: usize,
    pub namespaces: usize,
    /// Every (protocol, port) the policies name; one with neither when
    /// no policy names a port.
    pub probes: Vec<Probe>,
    /// The bounds the matrix answers within.
    pub grid_pods_max: usize,
    pub grid_cells_max: usize,
    pub pairs_max: usize,
}

pub fn probes(a: &Analysis) -> Result<ProbesOut, ApiError> {
    let k8s = &a.snapshot().k8s;
    let index = PolicyIndex::new(k8s).ok_or_else(not_collected)?;
    let mut namespaces: Vec<&str> = index.pods().iter().map(|p| p.namespace.as_str()).collect();
    namespaces.sort_unstable();
    namespaces.dedup();
    Ok(ProbesOut {
        schema: cnictl_model::SCHEMA,
        pods: index.pods().len(),
        policies: index.policy_count(),
        namespaces: namespaces.len(),
        probes: policy::probes(k8s),
        grid_pods_max: GRID_PODS_MAX,
        grid_cells_max: GRID_CELLS_MAX,
        pairs_max: PAIRS_MAX,
    })
}
