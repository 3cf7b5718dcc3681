//! `cnictl model`: the detected CNI model, per node and for the cluster.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Result;
use cnictl_analyzers::infer::{self, Inference};
use serde_json::json;

use crate::args::AnalyzeArgs;
use crate::{out, resolve};

pub fn run(args: AnalyzeArgs) -> Result<ExitCode> {
    let snap = resolve::load(&args.source, &args.cluster)?;
    let inference = infer::infer(&snap);
    match args.render.output {
        o if o.is_document() => out::print_doc(&to_json(&inference), o)?,
        _ => out::print(&render(&inference, out::use_color(&args.render)))?,
    }
    Ok(ExitCode::SUCCESS)
}

pub fn to_json(inf: &Inference) -> serde_json::Value {
    json!({
        "schema": cnictl_model::SCHEMA,
        "model": inf.model.as_str(),
        "nodes": inf.per_node,
    })
}

pub fn render(inf: &Inference, color: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "model: {}", out::paint(color, "1", inf.model.as_str()));
    for n in &inf.per_node {
        let _ = writeln!(s, "  {:<20} {}", n.node, n.model.as_str());
        for e in &n.evidence {
            let _ = writeln!(s, "      {}", out::paint(color, "2", e));
        }
    }
    s
}
