//! `cnictl demo`: the whole tool on a cluster embedded in the binary — no
//! files, no root, no cluster. The bundle is a real recording (lab/lab.sh,
//! Flannel VXLAN, 3 nodes) with one seeded fault: node-1 lost the FDB entry
//! that maps node-2's VTEP MAC to its underlay IP.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use cnictl_analyzers::explain::{self, ExplainRequest, Explanation};
use cnictl_analyzers::pipeline::Analysis;
use cnictl_collect::bundle::{self, MemSource};
use cnictl_model::ClusterSnapshot;
use rust_embed::RustEmbed;
use serde_json::json;

use crate::args::DemoArgs;
use crate::cmd::{check, model};
use crate::out;

#[derive(RustEmbed)]
#[folder = "../fixtures/flannel-vxlan-broken-vxlan-fdb-missing"]
struct DemoBundle;

const SRC: &str = "default/web-1";
const DST: &str = "default/api-2";

pub fn run(args: DemoArgs) -> Result<ExitCode> {
    let analysis = Analysis::new(Arc::new(load()?));
    let ex = analysis
        .explain(&ExplainRequest::new(SRC, DST))
        .context("explaining the demo path")?;
    if args.render.output.is_document() {
        out::print_doc(
            &json!({
                "schema": cnictl_model::SCHEMA,
                "model": model::to_json(analysis.inference()),
                "check": analysis.report(),
                "explain": ex,
            }),
            args.render.output,
        )?;
    } else {
        out::print(&text(&analysis, &ex, out::use_color(&args.render)))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The embedded bundle as a snapshot.
fn load() -> Result<ClusterSnapshot> {
    let files: BTreeMap<String, String> = DemoBundle::iter()
        .filter_map(|path| {
            let file = DemoBundle::get(&path)?;
            let text = String::from_utf8_lossy(&file.data).into_owned();
            Some((path.to_string(), text))
        })
        .collect();
    bundle::load(&MemSource::new("demo", files)).context("loading the embedded demo bundle")
}

/// The three commands' text output, one after the other.
fn text(analysis: &Analysis, ex: &Explanation, color: bool) -> String {
    let h = |t: &str| out::paint(color, "1;4", t);
    let mut text = String::new();
    text.push_str(
        "cnictl demo: a recorded 3-node Flannel VXLAN cluster, embedded in the binary,\n",
    );
    text.push_str("with one fault seeded on node-1. The same commands work on your own bundle:\n");
    text.push_str("  cnictl model|check --bundle DIR;  cnictl explain SRC DST --bundle DIR\n\n");
    text.push_str(&format!("{}\n", h("1. cnictl model")));
    text.push_str(&model::render(analysis.inference(), color));
    text.push_str(&format!("\n{}\n", h("2. cnictl check")));
    text.push_str(&check::render(analysis.report(), color));
    let third = h(&format!("3. cnictl explain {SRC} {DST}"));
    text.push_str(&format!("\n{third}\n"));
    text.push_str(&explain::render_text(ex));
    text
}
