//! The matrix as its JSON contract names it (README "NetworkPolicy"): the
//! header, the pod cells and the namespace cells. Shared by `cnictl matrix
//! -o json` (which streams a million cells row by row) and
//! `/api/v1/matrix` (which caps the pods and answers one document), so the
//! two cannot drift apart.

use std::collections::BTreeMap;

use cnictl_model::K8s;
use serde::Serialize;

use super::ports::Probe;
use super::report::{Cell, DataplaneVerdict, PolicyMatrix};

/// The document's fields before `cells`.
#[derive(Debug, Serialize)]
pub struct Header<'a> {
    pub schema: &'static str,
    pub source: &'a str,
    /// `pod` or `namespace`.
    pub by: &'static str,
    /// Set when the matrix answers one probe.
    pub protocol: Option<&'a str>,
    pub port: Option<u16>,
    pub pods: usize,
    pub policies: usize,
    pub notes: &'a [String],
}

impl<'a> Header<'a> {
    pub fn new(
        m: &'a PolicyMatrix,
        notes: &'a [String],
        by: &'static str,
        source: &'a str,
    ) -> Self {
        let single = (m.results.len() == 1).then(|| &m.results[0].probe);
        Header {
            schema: cnictl_model::SCHEMA,
            source,
            by,
            protocol: single.and_then(|p| p.protocol.as_deref()),
            port: single.and_then(|p| p.port),
            pods: m.pod_count(),
            policies: m.index.policy_count(),
            notes,
        }
    }
}

/// One cell of the document; a namespace cell adds the pair counts.
#[derive(Debug, Serialize)]
pub struct DocCell<'a> {
    pub src: &'a str,
    pub dst: &'a str,
    pub protocol: Option<&'a str>,
    pub port: Option<u16>,
    pub intended: &'static str,
    pub by: Vec<String>,
    pub dataplane: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pairs: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_pairs: Option<usize>,
}

impl<'a> DocCell<'a> {
    /// A pod pair's cell.
    pub fn pod(src: &'a str, dst: &'a str, probe: &'a Probe, c: Cell) -> Self {
        DocCell {
            src,
            dst,
            protocol: probe.protocol.as_deref(),
            port: probe.port,
            intended: c.intended,
            by: c.by,
            dataplane: c.dataplane.as_str(),
            pairs: None,
            allowed_pairs: None,
        }
    }

    /// A namespace pair's cell; `evaluated`: a dataplane was asked.
    pub fn namespace(
        (src, dst): (&'a str, &'a str),
        probe: &'a Probe,
        c: &NsCell,
        evaluated: bool,
    ) -> Self {
        DocCell {
            src,
            dst,
            protocol: probe.protocol.as_deref(),
            port: probe.port,
            intended: c.intended(),
            by: c.by.clone(),
            dataplane: c.dataplane(evaluated),
            pairs: Some(c.pairs),
            allowed_pairs: Some(c.allowed),
        }
    }
}

/// Source `s`'s cells under probe `r` (every destination but itself), and
/// how many of them disagree. `keys[i]` is `m.pod_key(i)`.
pub fn pod_row<'a>(
    m: &'a PolicyMatrix,
    r: usize,
    keys: &'a [String],
    s: usize,
) -> (Vec<DocCell<'a>>, usize) {
    let probe = &m.results[r].probe;
    let mut disagree = 0;
    let mut cells = Vec::with_capacity(keys.len());
    for d in (0..keys.len()).filter(|&d| d != s) {
        let c = m.cell(r, s, d);
        disagree += usize::from(c.disagrees());
        cells.push(DocCell::pod(&keys[s], &keys[d], probe, c));
    }
    (cells, disagree)
}

/// One ordered namespace pair under one probe: its pod pairs summed.
#[derive(Debug, Default)]
pub struct NsCell {
    pub pairs: usize,
    pub allowed: usize,
    pub delivered: usize,
    pub dropped: usize,
    pub disagree: usize,
    /// The deciding policies of every pair, sorted, once each.
    pub by: Vec<String>,
}

impl NsCell {
    fn add(&mut self, c: Cell) {
        self.pairs += 1;
        self.allowed += usize::from(c.intended == "allowed");
        self.disagree += usize::from(c.disagrees());
        match c.dataplane {
            DataplaneVerdict::Delivered => self.delivered += 1,
            DataplaneVerdict::Dropped => self.dropped += 1,
            _ => {}
        }
        self.by.extend(c.by);
    }

    /// `allowed`, `denied`, or `partial` when only some pairs are allowed.
    pub fn intended(&self) -> &'static str {
        match self.allowed {
            0 => "denied",
            a if a == self.pairs => "allowed",
            _ => "partial",
        }
    }

    /// As [`NsCell::intended`] for the dataplane; `unknown` when no pair
    /// has an answer, `not-evaluated` without a dataplane.
    pub fn dataplane(&self, evaluated: bool) -> &'static str {
        match (evaluated, self.delivered, self.dropped) {
            (false, _, _) => "not-evaluated",
            (_, d, 0) if d == self.pairs => "delivered",
            (_, 0, d) if d == self.pairs => "dropped",
            (_, 0, 0) => "unknown",
            _ => "partial",
        }
    }
}

/// (source namespace, destination namespace) → its summed cell.
pub type NsGrid = BTreeMap<(String, String), NsCell>;

/// Every ordered pod pair of probe `r`, summed per namespace pair.
pub fn namespace_grid(m: &PolicyMatrix, r: usize) -> NsGrid {
    let mut grid = NsGrid::new();
    let ns = |i: usize| m.index.pods()[i].namespace.clone();
    for s in 0..m.pod_count() {
        for d in (0..m.pod_count()).filter(|&d| d != s) {
            grid.entry((ns(s), ns(d))).or_default().add(m.cell(r, s, d));
        }
    }
    for c in grid.values_mut() {
        c.by.sort();
        c.by.dedup();
    }
    grid
}

/// The notes every reader of the matrix needs, whatever asked for it:
/// unknown namespace labels, pods left out.
pub fn notes(m: &PolicyMatrix, k8s: &K8s) -> Vec<String> {
    let mut notes = Vec::new();
    if !m.index.namespaces_known {
        notes.push("namespaces.json was not collected: namespaceSelectors see only the kubernetes.io/metadata.name label".into());
    }
    let left_out = k8s.pods.len() - m.pod_count();
    if left_out > 0 {
        notes.push(format!("{left_out} host-network or finished pods left out (no policy agent polices them as pods)"));
    }
    notes
}
