//! `cnictl matrix`: the NetworkPolicy matrix (analyzers::policy) rendered
//! as a grid or a list, or streamed as JSON (a million cells do not fit
//! comfortably in one `serde_json::Value`).

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use cnictl_analyzers::pipeline::Analysis;
use cnictl_analyzers::policy::document::{self, namespace_grid, DocCell, Header};
use cnictl_analyzers::policy::{self, Cell, PolicyMatrix, Probe};
use cnictl_model::ClusterSnapshot;
use rayon::prelude::*;

use crate::args::{MatrixArgs, MatrixBy, Output, PolicyProto};
use crate::{out, resolve};

/// Pods above this many get a summary instead of a grid in text.
const GRID_MAX: usize = 30;
/// Disagreements listed in text before "… and N more".
const LIST_MAX: usize = 50;

pub fn run(args: MatrixArgs) -> Result<ExitCode> {
    let snap = load(&args)?;
    if snap.k8s.network_policies.is_none() {
        bail!("{}: no NetworkPolicies collected (k8s/networkpolicies.json: `kubectl get networkpolicies -A -o json`; lab/collect-k8s.sh writes it)", snap.source);
    }
    let evaluate = !args.no_dataplane && !snap.nodes.is_empty();
    let analysis = Analysis::new(Arc::new(snap));
    let snap = analysis.snapshot();
    let probes = probes(&args, &snap.k8s)?;
    let dp = evaluate.then(|| analysis.dataplane());
    let m = policy::build(&snap.k8s, dp, probes).context("NetworkPolicies not collected")?;
    let notes = notes(&m, snap, evaluate, &args);
    let disagreements = match args.render.output {
        Output::Json => {
            let mut w = std::io::BufWriter::new(std::io::stdout().lock());
            json(&mut w, &m, &notes, args.by, (evaluate, &snap.source))?
        }
        Output::Yaml => yaml(&m, &notes, args.by, (evaluate, &snap.source))?,
        _ => text(&m, &notes, args.by, out::use_color(&args.render))?,
    };
    Ok(ExitCode::from(u8::from(disagreements > 0)))
}

/// The JSON document, streamed to `w`; the disagreement count.
fn json(
    w: &mut impl Write,
    m: &PolicyMatrix,
    notes: &[String],
    by: MatrixBy,
    (evaluated, source): (bool, &str),
) -> Result<usize> {
    match by {
        MatrixBy::Pod => json_pods(w, m, &Header::new(m, notes, "pod", source)),
        MatrixBy::Namespace => {
            let head = Header::new(m, notes, "namespace", source);
            json_namespaces(w, m, &head, evaluated)
        }
    }
}

/// `-o yaml`: the JSON document, built in memory then written as YAML
/// (streaming is JSON's; a grid too large to hold is one to ask in JSON).
fn yaml(m: &PolicyMatrix, notes: &[String], by: MatrixBy, source: (bool, &str)) -> Result<usize> {
    let mut buf = Vec::new();
    let n = json(&mut buf, m, notes, by, source)?;
    let doc: serde_json::Value = serde_json::from_slice(&buf).context("re-reading the matrix")?;
    out::print_doc(&doc, Output::Yaml)?;
    Ok(n)
}

fn load(args: &MatrixArgs) -> Result<ClusterSnapshot> {
    let Some(path) = &args.manifests else {
        let source = crate::args::Source {
            bundle: args.bundle.clone(),
            snapshot: args.snapshot.clone(),
            kube: args.kube,
        };
        return resolve::load_for_intent(&source, &args.cluster);
    };
    let k8s = cnictl_collect::manifests::load(path)
        .with_context(|| format!("reading manifests {}", path.display()))?;
    let mut snap = ClusterSnapshot::new(format!("manifests:{}", path.display()));
    snap.k8s = k8s;
    Ok(snap)
}

fn probes(args: &MatrixArgs, k8s: &cnictl_model::K8s) -> Result<Vec<Probe>> {
    let proto = |p: PolicyProto| match p {
        PolicyProto::Tcp => "TCP",
        PolicyProto::Udp => "UDP",
        PolicyProto::Sctp => "SCTP",
    };
    match (args.proto, args.port) {
        (p, Some(port)) => Ok(vec![Probe::new(proto(p.unwrap_or(PolicyProto::Tcp)), port)]),
        (Some(_), None) => bail!("--proto needs --port (the verdict depends on the port)"),
        (None, None) => Ok(policy::probes(k8s)),
    }
}

fn notes(
    m: &PolicyMatrix,
    snap: &ClusterSnapshot,
    evaluated: bool,
    args: &MatrixArgs,
) -> Vec<String> {
    let mut notes = document::notes(m, &snap.k8s);
    match (evaluated, args.no_dataplane) {
        (true, _) => {}
        (false, true) => notes.push("dataplane not evaluated (--no-dataplane)".into()),
        (false, false) => {
            notes.push("dataplane not evaluated: no node dumps in this input (intent only)".into())
        }
    }
    notes
}

// ---- JSON -------------------------------------------------------------------

/// `{"schema", …, "cells": [` then the cells, row by row, each row built
/// in parallel; returns the number of disagreeing cells.
fn json_pods(w: &mut impl Write, m: &PolicyMatrix, head: &Header) -> Result<usize> {
    let keys: Vec<String> = (0..m.pod_count()).map(|i| m.pod_key(i)).collect();
    open_doc(w, head)?;
    let mut first = true;
    let mut disagreements = 0;
    for r in 0..m.results.len() {
        let rows: Vec<(String, usize)> = (0..keys.len())
            .into_par_iter()
            .map(|s| json_row(m, r, &keys, s))
            .collect();
        for (chunk, n) in rows.into_iter().filter(|(c, _)| !c.is_empty()) {
            w.write_all(if first { b"\n" } else { b",\n" })?;
            w.write_all(chunk.as_bytes())?;
            first = false;
            disagreements += n;
        }
    }
    close_doc(w)?;
    Ok(disagreements)
}

fn json_row(m: &PolicyMatrix, r: usize, keys: &[String], s: usize) -> (String, usize) {
    let (cells, disagree) = document::pod_row(m, r, keys, s);
    let cells: Vec<String> = cells
        .iter()
        .map(|c| serde_json::to_string(c).unwrap_or_default())
        .collect();
    (cells.join(",\n"), disagree)
}

fn open_doc(w: &mut impl Write, h: &Header) -> Result<()> {
    let mut head = serde_json::to_string(h)?;
    head.pop(); // the closing brace: the cells follow
    write!(w, "{head},\"cells\":[")?;
    Ok(())
}

fn close_doc(w: &mut impl Write) -> Result<()> {
    writeln!(w, "\n]}}")?;
    w.flush()?;
    Ok(())
}

// ---- by namespace -----------------------------------------------------------

fn json_namespaces(
    w: &mut impl Write,
    m: &PolicyMatrix,
    head: &Header,
    evaluated: bool,
) -> Result<usize> {
    open_doc(w, head)?;
    let (mut first, mut disagreements) = (true, 0);
    for (r, res) in m.results.iter().enumerate() {
        for ((src, dst), c) in namespace_grid(m, r) {
            let cell = DocCell::namespace((&src, &dst), &res.probe, &c, evaluated);
            w.write_all(if first { b"\n" } else { b",\n" })?;
            serde_json::to_writer(&mut *w, &cell)?;
            first = false;
            disagreements += c.disagree;
        }
    }
    close_doc(w)?;
    Ok(disagreements)
}

// ---- text -------------------------------------------------------------------

fn text(m: &PolicyMatrix, notes: &[String], by: MatrixBy, color: bool) -> Result<usize> {
    let mut s = String::new();
    let mut disagreements = 0;
    for (r, res) in m.results.iter().enumerate() {
        s += &format!(
            "NetworkPolicy matrix, {}: {} pods, {} policies\n",
            res.probe.label(),
            m.pod_count(),
            m.index.policy_count()
        );
        disagreements += match by {
            MatrixBy::Pod => text_pods(m, r, color, &mut s),
            MatrixBy::Namespace => text_namespaces(m, r, color, &mut s),
        };
        s.push('\n');
    }
    for n in notes {
        s += &format!("note: {n}\n");
    }
    s += &match disagreements {
        0 => "intent and dataplane agree on every evaluated cell\n".to_string(),
        n => format!("{n} cells where the dataplane disagrees with the policies (marked !)\n"),
    };
    out::print(&s)?;
    Ok(disagreements)
}

/// `✓` allowed, `·` denied, `!` the dataplane disagrees, `?` dataplane
/// unknown; rows are sources, columns destinations.
fn symbol(c: &Cell) -> char {
    match (c.disagrees(), c.intended, c.dataplane) {
        (true, _, _) => '!',
        (_, _, policy::DataplaneVerdict::Unknown) => '?',
        (_, "allowed", _) => '✓',
        _ => '·',
    }
}

fn text_pods(m: &PolicyMatrix, r: usize, color: bool, s: &mut String) -> usize {
    let n = m.pod_count();
    let cells: Vec<Vec<Option<Cell>>> = (0..n)
        .map(|a| (0..n).map(|b| (a != b).then(|| m.cell(r, a, b))).collect())
        .collect();
    let disagree: Vec<(usize, usize, &Cell)> = pairs(n)
        .filter_map(|(a, b)| cells[a][b].as_ref().map(|c| (a, b, c)))
        .filter(|(_, _, c)| c.disagrees())
        .collect();
    if n <= GRID_MAX {
        grid(m, &cells, color, s);
    } else {
        summary(&cells, s);
    }
    for &(a, b, c) in disagree.iter().take(LIST_MAX) {
        *s += &format!(
            "  ! {} → {}: intended {} ({}), dataplane {}\n",
            m.pod_key(a),
            m.pod_key(b),
            c.intended,
            by_text(&c.by),
            c.dataplane.as_str()
        );
    }
    if disagree.len() > LIST_MAX {
        *s += &format!(
            "  … and {} more (-o json lists every cell)\n",
            disagree.len() - LIST_MAX
        );
    }
    disagree.len()
}

fn pairs(n: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n).flat_map(move |a| (0..n).filter(move |&b| b != a).map(move |b| (a, b)))
}

fn by_text(by: &[String]) -> String {
    match by.len() {
        0 => "no policy selects either pod".into(),
        _ => by.join(", "),
    }
}

fn grid(m: &PolicyMatrix, cells: &[Vec<Option<Cell>>], color: bool, s: &mut String) {
    let n = cells.len();
    let width = (0..n).map(|i| m.pod_key(i).len()).max().unwrap_or(0);
    *s += &format!(
        "  {:width$}    {}\n",
        "src \\ dst",
        (1..=n).map(|i| format!("{:>3}", i)).collect::<String>()
    );
    for (a, row) in cells.iter().enumerate() {
        let marks: String = row
            .iter()
            .map(|c| match c {
                None => "  ╲".to_string(),
                Some(c) if c.disagrees() => format!("  {}", out::paint(color, "1;31", "!")),
                Some(c) => format!("  {}", symbol(c)),
            })
            .collect();
        *s += &format!("  {:width$} {:>3}{marks}\n", m.pod_key(a), a + 1);
    }
    *s += "  ✓ allowed  · denied  ! dataplane disagrees  ? dataplane unknown\n";
}

fn summary(cells: &[Vec<Option<Cell>>], s: &mut String) {
    let all = cells.iter().flatten().flatten();
    let (mut allowed, mut denied, mut unknown) = (0, 0, 0);
    for c in all {
        match symbol(c) {
            '✓' => allowed += 1,
            '?' => unknown += 1,
            _ => denied += 1,
        }
    }
    *s += &format!("  {allowed} pairs allowed, {denied} denied or disagreeing, {unknown} with an unknown dataplane (-o json for every cell)\n");
}

fn text_namespaces(m: &PolicyMatrix, r: usize, color: bool, s: &mut String) -> usize {
    let mut disagreements = 0;
    for ((src, dst), c) in namespace_grid(m, r) {
        let mark = if c.disagree > 0 {
            out::paint(color, "1;31", "!")
        } else {
            " ".into()
        };
        *s += &format!(
            "  {mark} {src} → {dst}: {} ({}/{} pod pairs allowed){}\n",
            c.intended(),
            c.allowed,
            c.pairs,
            match c.disagree {
                0 => String::new(),
                d => format!(", dataplane disagrees on {d}"),
            }
        );
        disagreements += c.disagree;
    }
    disagreements
}
