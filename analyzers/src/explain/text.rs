//! The text view: numbered hops like ovn-trace / Batfish traceroute, ending
//! in a verdict line with the finding code and hint.

use std::fmt::Write as _;

use super::{Endpoint, EndpointKind, Explanation, HookJson, HopJson, Verdict};

/// Renders an explanation for a terminal.
pub fn render_text(ex: &Explanation) -> String {
    let mut out = String::new();
    write_one(&mut out, ex, "");
    if let Some(back) = &ex.reverse {
        out.push_str("\nreverse path:\n");
        write_one(&mut out, back, "  ");
    }
    out
}

fn write_one(out: &mut String, ex: &Explanation, ind: &str) {
    write_header(out, ex, ind);
    for h in &ex.hops {
        write_hop(out, h, ind);
    }
    if ex.backends.len() > 1 {
        let _ = writeln!(out, "{ind}backends:");
        for b in &ex.backends {
            write_backend(out, b, ind);
        }
    }
    write_verdict(out, ex, ind);
    if let Some(p) = &ex.policy {
        write_policy(out, p, ind);
    }
    for n in &ex.notes {
        let _ = writeln!(out, "{ind}note: {n}");
    }
}

/// `explain SRC → DST: proto port, size, DF`.
fn write_header(out: &mut String, ex: &Explanation, ind: &str) {
    let p = &ex.packet;
    let port = p.dport.map_or_else(String::new, |d| format!(" port {d}"));
    let df = if p.df { "DF" } else { "no DF" };
    let (src, dst, size, proto) = (label(&ex.src), label(&ex.dst), p.size, &p.proto);
    let what = format!("{src} → {dst}: {proto}{port}, {size} bytes, {df}");
    let _ = writeln!(out, "{ind}explain {what}");
}

/// One backend: address, pod, share of new connections, how it ended.
fn write_backend(out: &mut String, b: &super::Backend, ind: &str) {
    let pod = b
        .pod
        .as_deref()
        .map_or_else(String::new, |p| format!(" ({p})"));
    let how = match (&b.drop, b.verdict) {
        (Some(d), _) => format!("dropped at hop {} on {}: {}", d.hop, d.node, d.reason),
        (None, Verdict::Unknown) => "unknown".into(),
        (None, _) => "delivered".into(),
    };
    let share = b.share.map_or_else(String::new, |s| {
        format!(" [{:.1} % of new connections]", s * 100.0)
    });
    let _ = writeln!(out, "{ind}  {}:{}{pod}{share}: {how}", b.ip, b.port);
}

fn write_verdict(out: &mut String, ex: &Explanation, ind: &str) {
    match (&ex.verdict, &ex.drop) {
        (Verdict::Delivered, _) if !ex.inferred.is_empty() => {
            let files = ex.inferred.join(", ");
            let _ = writeln!(
                out,
                "{ind}verdict: delivered (inferred: {files} not collected)"
            );
        }
        (Verdict::Delivered, _) => {
            let _ = writeln!(out, "{ind}verdict: delivered");
        }
        (Verdict::Dropped, Some(d)) => {
            let (hop, node, disp, reason) = (d.hop, &d.node, &d.disposition, &d.reason);
            let _ = writeln!(
                out,
                "{ind}verdict: DROPPED at hop {hop} on {node} ({disp}): {reason}"
            );
            write_finding(out, d, ind);
            if let Some(x) = ex.delivered_share.filter(|x| *x > 0.0) {
                let pct = x * 100.0;
                let _ = writeln!(
                    out,
                    "{ind}  partly working: {pct:.1} % of new connections reach a backend"
                );
            }
        }
        (Verdict::Dropped, None) => {
            let _ = writeln!(out, "{ind}verdict: DROPPED");
        }
        (Verdict::Unknown, _) => write_unknown(out, ex, ind),
    }
}

/// `policy (TCP 5432): denied`, each side's sentence, and the
/// disagreement with the dataplane if any.
fn write_policy(out: &mut String, p: &super::policy::PolicyJson, ind: &str) {
    let what = match p.port {
        Some(port) => format!("{} {port}", p.protocol),
        None => p.protocol.clone(),
    };
    let _ = writeln!(out, "{ind}policy ({what}): {}", p.intended);
    let _ = writeln!(out, "{ind}  {}", p.egress.line);
    let _ = writeln!(out, "{ind}  {}", p.ingress.line);
    if let Some(d) = &p.disagreement {
        let _ = writeln!(out, "{ind}  ! {d}");
    }
    for a in &p.assumptions {
        let _ = writeln!(out, "{ind}  assumed: {a}");
    }
}

fn write_unknown(out: &mut String, ex: &Explanation, ind: &str) {
    let _ = writeln!(out, "{ind}verdict: UNKNOWN");
    if let Some(u) = &ex.unknown {
        let _ = writeln!(out, "{ind}  at hop {} on {}: {}", u.hop, u.node, u.reason);
    }
}

/// `--verbose`: every netfilter hook the packet passed and the rules
/// evaluated there, so a user sees why a rule did not match.
pub fn render_netfilter(ex: &Explanation) -> String {
    let mut out = String::new();
    if !ex.netfilter.is_empty() {
        out.push_str("netfilter hooks evaluated:\n");
    }
    for h in &ex.netfilter {
        write_hook(&mut out, h);
    }
    if let Some(back) = &ex.reverse {
        if !back.netfilter.is_empty() {
            out.push_str("reverse path netfilter hooks:\n");
        }
        for h in &back.netfilter {
            write_hook(&mut out, h);
        }
    }
    out
}

fn write_hook(out: &mut String, h: &HookJson) {
    let place = match &h.netns {
        Some(ns) => format!("{} pod {ns}", h.node),
        None => h.node.clone(),
    };
    let _ = writeln!(
        out,
        "  after hop {}: [{place}] {}: {}",
        h.after_hop, h.hook, h.verdict
    );
    for r in h.evaluated.iter().flatten() {
        let mark = match r.matched {
            Some(true) => "match",
            Some(false) => "no match",
            None => "not evaluable (cannot change the path)",
        };
        let rule = match (&r.rule.rule, r.rule.position) {
            (Some(text), Some(p)) => format!("#{p}: {text}"),
            _ => "policy".into(),
        };
        let (family, table, chain) = (r.rule.family, &r.rule.table, &r.rule.chain);
        let _ = writeln!(out, "      {family} {table} {chain} {rule}  → {mark}");
    }
}

/// The drop's finding: the matching `check` finding with its evidence, or
/// the drop's class when no finding is about this drop.
fn write_finding(out: &mut String, d: &super::DropInfo, ind: &str) {
    match (&d.finding, d.code) {
        (Some(f), _) => {
            let _ = writeln!(out, "{ind}  finding: [{}] {}", f.code.as_str(), f.summary);
            for e in &f.evidence {
                let _ = writeln!(out, "{ind}      {e}");
            }
            let _ = writeln!(out, "{ind}  hint: {}", f.hint);
            write_root_cause(out, d, ind);
            return;
        }
        (None, Some(code)) => {
            let _ = writeln!(
                out,
                "{ind}  finding: no matching finding on {} (the drop is of the {} kind)",
                d.node,
                code.as_str()
            );
        }
        (None, None) => {
            let _ = writeln!(out, "{ind}  finding: none (no fault code applies)");
        }
    }
    let _ = writeln!(out, "{ind}  hint: {}", d.hint);
}

/// The root cause behind the drop's finding, when `check` groups it under
/// another: fix that first.
fn write_root_cause(out: &mut String, d: &super::DropInfo, ind: &str) {
    let Some(rc) = &d.root_cause else { return };
    let f = &rc.finding;
    let node = f.node.as_deref().unwrap_or("the cluster");
    let (code, summary) = (f.code.as_str(), &f.summary);
    let _ = writeln!(out, "{ind}  root cause: [{code}] on {node}: {summary}");
    let _ = writeln!(out, "{ind}      (because {})", rc.because);
    let _ = writeln!(out, "{ind}  fix first: {}", f.hint);
}

fn write_hop(out: &mut String, h: &HopJson, ind: &str) {
    let place = match &h.netns {
        Some(ns) => format!("{} pod {ns}", h.node),
        None => h.node.clone(),
    };
    let devs = match (&h.in_dev, &h.out_dev) {
        (Some(i), Some(o)) => format!(" {i}→{o}"),
        (Some(i), None) => format!(" in {i}"),
        (None, Some(o)) => format!(" out {o}"),
        (None, None) => String::new(),
    };
    let inferred = if h.inferred { " (inferred)" } else { "" };
    let _ = writeln!(
        out,
        "{ind}{:>3}. [{place}{devs}] {}: {}{inferred}",
        h.index, h.kind, h.entry
    );
    if let Some(rw) = &h.rewrite {
        let _ = writeln!(out, "{ind}       ↳ {rw}");
    }
}

/// `web-1 (10.244.1.2, node-1) → api-2 (10.244.2.3, node-2)`.
pub(super) fn route_label(ex: &Explanation) -> String {
    format!("{} → {}", label(&ex.src), label(&ex.dst))
}

fn label(e: &Endpoint) -> String {
    match (&e.pod, &e.service, &e.node) {
        (Some(p), _, Some(n)) => format!("{p} ({}, {n})", e.ip),
        (None, Some(s), Some(n)) => format!("node {n} ({}), NodePort of svc/{s}", e.ip),
        (_, Some(s), _) => format!("svc/{s} ({})", e.ip),
        (None, None, Some(n)) => format!("node {n} ({})", e.ip),
        _ if e.kind == EndpointKind::Outside => format!("{} (outside the cluster)", e.ip),
        _ => e.ip.to_string(),
    }
}
