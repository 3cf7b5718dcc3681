//! The brief view (`explain --brief`): one line per node (or pod) the
//! packet crosses, like `ovn-trace --minimal` — the devices in order, the
//! encapsulations and translations on the way, then the verdict. For a
//! healthy path that is all an engineer needs; a drop's line says where
//! and why, and the full view is one flag away.

use std::fmt::Write as _;

use super::{text, Explanation, HopJson, Verdict};

/// Renders an explanation in brief (and its reverse, when traced).
pub fn render_brief(ex: &Explanation) -> String {
    let mut out = String::new();
    write_one(&mut out, ex, "");
    if let Some(back) = &ex.reverse {
        out.push_str("reverse path:\n");
        write_one(&mut out, back, "  ");
    }
    out
}

fn write_one(out: &mut String, ex: &Explanation, ind: &str) {
    let _ = writeln!(out, "{ind}{}: {}", text::route_label(ex), verdict(ex));
    for run in runs(&ex.hops) {
        let _ = writeln!(out, "{ind}  {}", run_line(run));
    }
    if ex.backends.len() > 1 {
        write_backends(out, ex, ind);
    }
    if let Some(d) = &ex.drop {
        let code = d.code.map_or("no fault code", |c| c.as_str());
        let _ = writeln!(
            out,
            "{ind}  ✗ hop {} on {}: {} [{code}]",
            d.hop, d.node, d.reason
        );
    }
    if let Some(u) = &ex.unknown {
        let _ = writeln!(out, "{ind}  ? {}", u.reason);
    }
}

/// `backends: 3 (2 delivered, 1 dropped, …)`: the lines above follow one.
fn write_backends(out: &mut String, ex: &Explanation, ind: &str) {
    let count = |v: Verdict| ex.backends.iter().filter(|b| b.verdict == v).count();
    let (ok, bad) = (count(Verdict::Delivered), count(Verdict::Dropped));
    let unknown = count(Verdict::Unknown);
    let n = ex.backends.len();
    let _ = writeln!(
        out,
        "{ind}  backends: {n} ({ok} delivered, {bad} dropped, {unknown} unknown; the lines above follow one of them)"
    );
}

/// `delivered`, `DROPPED`, `unknown`, with the hop count.
fn verdict(ex: &Explanation) -> String {
    let word = match ex.verdict {
        Verdict::Delivered => "delivered",
        Verdict::Dropped => "DROPPED",
        Verdict::Unknown => "unknown",
    };
    format!("{word} ({} hops)", ex.hops.len())
}

/// Consecutive hops in the same place (node, and pod netns if any).
fn runs(hops: &[HopJson]) -> Vec<&[HopJson]> {
    let place = |h: &HopJson| (h.node.clone(), h.netns.clone());
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=hops.len() {
        if i == hops.len() || place(&hops[i]) != place(&hops[start]) {
            out.push(&hops[start..i]);
            start = i;
        }
    }
    out
}

/// `node-1: veth7372a1c9 → cni0 → flannel.1 (vxlan-encap) → eth0`.
fn run_line(run: &[HopJson]) -> String {
    let first = &run[0];
    let place = match &first.netns {
        Some(ns) => format!("{} pod {ns}", first.node),
        None => first.node.clone(),
    };
    let steps = steps(run);
    format!("{place}: {}", steps.join(" → "))
}

/// The devices in order, each with what happened on it worth a word.
fn steps(run: &[HopJson]) -> Vec<String> {
    let mut steps: Vec<(String, Vec<String>)> = Vec::new();
    for h in run {
        for dev in [&h.in_dev, &h.out_dev].into_iter().flatten() {
            if steps.last().is_none_or(|(d, _)| d != dev) {
                steps.push((dev.clone(), Vec::new()));
            }
        }
        if let Some(mark) = mark(h) {
            match steps.last_mut() {
                Some((_, marks)) => marks.push(mark),
                None => steps.push((mark, Vec::new())),
            }
        }
    }
    steps.into_iter().map(|(d, m)| step_text(d, &m)).collect()
}

/// `flannel.1 (vxlan-encap: …)`.
fn step_text(dev: String, marks: &[String]) -> String {
    match marks {
        [] => dev,
        _ => format!("{dev} ({})", marks.join("; ")),
    }
}

/// The hop kinds a brief line names: tunnels, translations (in the
/// hop's own words), Services, and the end.
fn mark(h: &HopJson) -> Option<String> {
    let k = h.kind.as_str();
    if let Some(rw) = &h.rewrite {
        return Some(rw.clone());
    }
    let first_clause = || h.entry.split(", ").next().unwrap_or_default().to_string();
    match k {
        "service" => Some(first_clause()),
        "deliver" | "drop" => Some(k.to_string()),
        _ if k.contains("nat") || k.contains("ipvs") || k.contains("encap") => Some(k.into()),
        _ => None,
    }
}
