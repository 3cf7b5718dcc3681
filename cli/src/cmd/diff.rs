//! `cnictl diff OLD NEW`: what changed since it worked.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Result;
use cnictl_analyzers::diff::{diff_with, Diff};
use cnictl_analyzers::{checks, Severity};

use crate::args::DiffArgs;
use crate::{out, resolve};

pub fn run(args: DiffArgs) -> Result<ExitCode> {
    let old = resolve::load_path(&args.old)?;
    let new = resolve::load_path(&args.new)?;
    let d = diff_with(&old, &checks::run(&old), &new, &checks::run(&new), args.all);
    match args.render.output {
        o if o.is_document() => out::print_doc(&d, o)?,
        _ => out::print(&render(&d, out::use_color(&args.render)))?,
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
    if d.is_empty() {
        return match d.hidden {
            0 => "no changes: same findings, same dataplane entries\n".into(),
            n => format!("no changes that matter: same findings, same dataplane entries ({n} noise change(s) hidden: --all shows them)\n"),
        };
    }
    let mut s = String::new();
    let added = out::paint(color, "31", "+");
    for f in &d.findings_added {
        let node = f.node.as_deref().unwrap_or("cluster");
        let _ = writeln!(s, "{added} finding [{}] {node}: {}", f.code, f.summary);
    }
    let resolved = out::paint(color, "32", "-");
    for f in &d.findings_resolved {
        let node = f.node.as_deref().unwrap_or("cluster");
        let _ = writeln!(
            s,
            "{resolved} finding [{}] {node}: {} (resolved)",
            f.code, f.summary
        );
    }
    for n in &d.nodes_added {
        let _ = writeln!(s, "+ node {n}");
    }
    for n in &d.nodes_removed {
        let _ = writeln!(s, "- node {n}");
    }
    render_tables(&mut s, d, color);
    if d.hidden > 0 {
        let _ = writeln!(s, "\n{} noise change(s) hidden (neighbour states, veth MACs, IPv6 link-local, counters): --all shows them", d.hidden);
    }
    s
}

/// Per node, the table entries that went away and those that appeared.
fn render_tables(s: &mut String, d: &Diff, color: bool) {
    let (minus, plus) = (out::paint(color, "31", "-"), out::paint(color, "32", "+"));
    for (node, tables) in &d.nodes {
        let _ = writeln!(s, "\n{}", out::paint(color, "1", node));
        for (kind, change) in tables {
            for line in &change.removed {
                let _ = writeln!(s, "  {minus} {kind}: {line}");
            }
            for line in &change.added {
                let _ = writeln!(s, "  {plus} {kind}: {line}");
            }
            for c in &change.changed {
                let _ = writeln!(s, "  ~ {kind}: {} → {}", c.before, c.after);
            }
        }
    }
}
