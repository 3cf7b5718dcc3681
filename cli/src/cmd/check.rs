//! `cnictl check`: findings across all nodes, grouped by severity and node.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Result;
use cnictl_analyzers::{checks, Finding, Group, Report, Severity};

use crate::args::{CheckArgs, MinSeverity, Output};
use crate::{out, resolve};

pub fn run(args: CheckArgs) -> Result<ExitCode> {
    let snap = resolve::load(&args.source, &args.cluster)?;
    let notices = snap.notices.clone();
    let mut report = report(snap);
    let failed = report.has_errors();
    let before = report.findings.len();
    report.retain(|f| keep(f.severity, args.severity));
    let hidden = before - report.findings.len();
    match args.render.output {
        o if o.is_document() => out::print_doc(&out::with_notices(&report, &notices)?, o)?,
        o => {
            let mut text = render_as(&report, out::use_color(&args.render), o == Output::Wide);
            if hidden > 0 {
                let _ = writeln!(
                    text,
                    "\n{hidden} finding(s) below --severity {} hidden (--severity info shows them)",
                    severity_name(args.severity)
                );
            }
            text.push_str(&out::notices_text(&notices));
            out::print(&text)?
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else if args.strict && !report.skipped.is_empty() {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

fn severity_name(min: MinSeverity) -> &'static str {
    match min {
        MinSeverity::Error => "error",
        MinSeverity::Warning => "warning",
        MinSeverity::Info => "info",
    }
}

/// The table checks; with NetworkPolicies collected, the whole pipeline
/// (its policy checks trace pod pairs through the reference dataplane).
fn report(snap: cnictl_model::ClusterSnapshot) -> Report {
    if snap.k8s.network_policies.is_none() {
        return checks::run(&snap);
    }
    let analysis = cnictl_analyzers::pipeline::Analysis::new(std::sync::Arc::new(snap));
    analysis.report().clone()
}

fn keep(s: Severity, min: MinSeverity) -> bool {
    match min {
        MinSeverity::Error => s == Severity::Error,
        MinSeverity::Warning => s != Severity::Info,
        MinSeverity::Info => true,
    }
}

fn paint_severity(color: bool, s: Severity) -> String {
    let code = match s {
        Severity::Error => "1;31",
        Severity::Warning => "1;33",
        Severity::Info => "36",
    };
    out::paint(color, code, &s.as_str().to_uppercase())
}

/// The text report: a summary line, then root causes by severity and node,
/// each with its evidence, hint and consequences, then what was skipped.
pub fn render(report: &Report, color: bool) -> String {
    render_as(report, color, false)
}

/// [`render`]; `wide` also gives each consequence its evidence and hint.
fn render_as(report: &Report, color: bool, wide: bool) -> String {
    let mut s = String::new();
    let count = |sev| report.findings.iter().filter(|f| f.severity == sev).count();
    let _ = writeln!(
        s,
        "model {}: {} error(s), {} warning(s), {} info{}",
        report.model,
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info),
        roots_line(report)
    );
    render_findings(&mut s, report, color, wide);
    let skipped = skipped_checks(report);
    if report.findings.is_empty() && skipped.is_empty() {
        let ok = "no findings: the dataplane matches the cluster";
        let _ = writeln!(s, "\n{}", out::paint(color, "32", ok));
    } else if report.findings.is_empty() {
        let head = format!(
            "incomplete: no findings in what was checked, but {} check(s) skipped ({}): see below for why (inputs missing, or not applicable to the model)",
            skipped.len(),
            skipped.join(", ")
        );
        let _ = writeln!(s, "\n{}", out::paint(color, "33", &head));
    }
    render_skipped(&mut s, report);
    for n in &report.notes {
        let _ = writeln!(s, "\nnot modelled: {n}");
    }
    s
}

/// ` — 1 root cause, 5 consequences` when some findings are symptoms.
fn roots_line(report: &Report) -> String {
    let roots = report.root_count();
    let symptoms = report.findings.len() - roots;
    match symptoms {
        0 => String::new(),
        n => format!(" — {roots} root cause(s), {n} consequence(s) listed under them"),
    }
}

/// Root causes grouped by severity and node, each with evidence, hint and
/// the findings it explains.
fn render_findings(s: &mut String, report: &Report, color: bool, wide: bool) {
    let mut by_node: BTreeMap<(Severity, String), Vec<&Group>> = BTreeMap::new();
    for g in &report.groups {
        let f = &report.findings[g.root];
        let node = f.node.clone().unwrap_or_else(|| "cluster".into());
        by_node.entry((f.severity, node)).or_default().push(g);
    }
    for ((sev, node), groups) in &by_node {
        let _ = writeln!(
            s,
            "\n{} {}",
            paint_severity(color, *sev),
            out::paint(color, "1", node)
        );
        for g in groups {
            render_finding(s, &report.findings[g.root], color);
            render_symptoms(s, report, g, color, wide);
        }
    }
}

/// The consequences of one root: one line each and why.
fn render_symptoms(s: &mut String, report: &Report, g: &Group, color: bool, wide: bool) {
    if g.symptoms.is_empty() {
        return;
    }
    let _ = writeln!(s, "      consequences ({}):", g.symptoms.len());
    for sym in &g.symptoms {
        let f = &report.findings[sym.finding];
        let node = f.node.as_deref().unwrap_or("cluster");
        let code = out::paint(color, "1", f.code.as_str());
        let _ = writeln!(s, "        {node} [{code}] {}", f.summary);
        let _ = writeln!(
            s,
            "          {}",
            out::paint(color, "2", &format!("because {}", sym.because))
        );
        if wide {
            render_detail(s, f, color);
        }
    }
}

/// A consequence's evidence and hint (`-o wide`).
fn render_detail(s: &mut String, f: &Finding, color: bool) {
    for e in &f.evidence {
        let _ = writeln!(s, "          {}", out::paint(color, "2", e));
    }
    let _ = writeln!(s, "          hint: {}", f.hint);
}

fn render_finding(s: &mut String, f: &Finding, color: bool) {
    let _ = writeln!(
        s,
        "  [{}] {}",
        out::paint(color, "1", f.code.as_str()),
        f.summary
    );
    for e in &f.evidence {
        let _ = writeln!(s, "      {}", out::paint(color, "2", e));
    }
    let _ = writeln!(s, "      hint: {}", f.hint);
}

/// The distinct checks that were skipped somewhere, sorted.
fn skipped_checks(report: &Report) -> Vec<&str> {
    let mut v: Vec<&str> = report.skipped.iter().map(|k| k.check.as_str()).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// What was skipped, one line per reason with its checks and nodes.
fn render_skipped(s: &mut String, report: &Report) {
    if report.skipped.is_empty() {
        return;
    }
    let _ = writeln!(s, "\nskipped ({}):", report.skipped.len());
    for (reason, (checks, nodes)) in group_skipped(report) {
        let nodes = match nodes.len() {
            0 => String::new(),
            1..=6 => format!(" on {}", nodes.join(", ")),
            n => format!(" on {} and {} more nodes", nodes[..5].join(", "), n - 5),
        };
        let _ = writeln!(s, "  {}{nodes}: {reason}", checks.join(", "));
    }
}

fn group_skipped(report: &Report) -> BTreeMap<String, (Vec<String>, Vec<String>)> {
    let mut out: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for k in &report.skipped {
        // "node-3 has no ipvsadm.txt: …" folds across nodes; a reason that
        // names the node elsewhere (a path) is kept as written.
        let reason = match &k.node {
            Some(n) => k
                .reason
                .strip_prefix(&format!("{n} "))
                .map_or_else(|| k.reason.clone(), |rest| format!("the node {rest}")),
            None => k.reason.clone(),
        };
        let (checks, nodes) = out.entry(reason).or_default();
        if !checks.contains(&k.check) {
            checks.push(k.check.clone());
        }
        if let Some(n) = &k.node {
            if !nodes.contains(n) {
                nodes.push(n.clone());
            }
        }
    }
    out
}
