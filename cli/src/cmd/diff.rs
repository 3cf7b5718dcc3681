//! `cnictl diff OLD NEW`: what changed since it worked.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Result;
use cnictl_analyzers::diff::{diff, Diff};
use cnictl_analyzers::{checks, Severity};

use crate::args::{DiffArgs, Output};
use crate::{out, resolve};

pub fn run(args: DiffArgs) -> Result<ExitCode> {
    let old = resolve::load_path(&args.old)?;
    let new = resolve::load_path(&args.new)?;
    let d = diff(&old, &checks::run(&old), &new, &checks::run(&new));
    match args.render.output {
        Output::Json => out::print_json(&d)?,
        Output::Text => out::print(&render(&d, out::use_color(&args.render)))?,
    }
    let new_errors = d
        .findings_added
        .iter()
        .any(|f| f.severity == Severity::Error);
    Ok(if new_errors {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn render(d: &Diff, color: bool) -> String {
    let mut s = String::new();
    if d.is_empty() {
        return "no changes: same findings, same dataplane entries\n".into();
    }
    for f in &d.findings_added {
        let node = f.node.as_deref().unwrap_or("cluster");
        let _ = writeln!(
            s,
            "{} finding [{}] {node}: {}",
            out::paint(color, "31", "+"),
            f.code,
            f.summary
        );
    }
    for f in &d.findings_resolved {
        let node = f.node.as_deref().unwrap_or("cluster");
        let _ = writeln!(
            s,
            "{} finding [{}] {node}: {} (resolved)",
            out::paint(color, "32", "-"),
            f.code,
            f.summary
        );
    }
    for n in &d.nodes_added {
        let _ = writeln!(s, "+ node {n}");
    }
    for n in &d.nodes_removed {
        let _ = writeln!(s, "- node {n}");
    }
    for (node, tables) in &d.nodes {
        let _ = writeln!(s, "\n{}", out::paint(color, "1", node));
        for (kind, change) in tables {
            for line in &change.removed {
                let _ = writeln!(s, "  {} {kind}: {line}", out::paint(color, "31", "-"));
            }
            for line in &change.added {
                let _ = writeln!(s, "  {} {kind}: {line}", out::paint(color, "32", "+"));
            }
        }
    }
    s
}
