//! `cnictl snapshot`: load a bundle and write the normalised snapshot JSON.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::args::SnapshotArgs;
use crate::{out, resolve};

pub fn run(args: SnapshotArgs) -> Result<ExitCode> {
    let snap = resolve::load(&args.source, &args.cluster)?;
    let mut json = if args.pretty {
        serde_json::to_vec_pretty(&snap)
    } else {
        serde_json::to_vec(&snap)
    }
    .context("encoding snapshot")?;
    json.push(b'\n');
    match &args.out {
        Some(path) => {
            out::write_atomic(path, &json)?;
            let routes: usize = snap.nodes.values().map(|n| n.routes.len()).sum();
            eprintln!(
                "wrote {}: {} nodes, {} pods, {} routes",
                path.display(),
                snap.nodes.len(),
                snap.k8s.pods.len(),
                routes
            );
        }
        None => out::print(&String::from_utf8_lossy(&json))?,
    }
    Ok(ExitCode::SUCCESS)
}
