//! `cnictl serve`: wires the exporter (axum, /metrics, API, UI) to a loader
//! for the chosen source. The exporter never parses bundles itself.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use cnictl_exporter::{Loader, ServeConfig, Source};
use cnictl_model::ClusterSnapshot;

use crate::args::ServeArgs;
use crate::resolve;

pub fn run(args: ServeArgs) -> Result<ExitCode> {
    crate::logging::init(args.log_format)?;
    let (source, loader) = source(&args)?;
    let mut cfg = ServeConfig::new(source, loader);
    cfg.listen = args.listen;
    cfg.refresh = args.refresh;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(cnictl_exporter::serve(cfg))
        .with_context(|| format!("serving on {}", args.listen))?;
    Ok(ExitCode::SUCCESS)
}

fn source(args: &ServeArgs) -> Result<(Source, Loader)> {
    let s = &args.source;
    Ok(match (&s.bundle, &s.snapshot, &s.watch_dir) {
        (Some(dir), _, _) => {
            let d = dir.clone();
            (
                Source::Bundle(dir.clone()),
                loader(move || resolve::load_bundle(&d)),
            )
        }
        (_, Some(file), _) => {
            let f = file.clone();
            (
                Source::Snapshot(file.clone()),
                loader(move || resolve::load_snapshot(&f)),
            )
        }
        (_, _, Some(dir)) => {
            let d = dir.clone();
            (
                Source::WatchDir(dir.clone()),
                loader(move || load_newest(&d)),
            )
        }
        _ => bail!("give one of --bundle, --snapshot or --watch-dir"),
    })
}

fn loader(f: impl Fn() -> Result<ClusterSnapshot> + Send + Sync + 'static) -> Loader {
    Arc::new(move || f().map_err(|e| format!("{e:#}")))
}

/// DIR itself when it is a bundle; otherwise its newest bundle directory or
/// snapshot `.json` file (by modification time).
fn load_newest(dir: &Path) -> Result<ClusterSnapshot> {
    if dir.join("k8s/nodes.json").is_file() {
        return resolve::load_bundle(dir);
    }
    let newest = newest_entry(dir)?;
    resolve::load_path(&newest)
}

fn newest_entry(dir: &Path) -> Result<PathBuf> {
    let mut best: Option<(SystemTime, PathBuf)> = None;
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let is_bundle = path.join("k8s/nodes.json").is_file();
        let is_snapshot = path.extension().is_some_and(|e| e == "json") && path.is_file();
        if !is_bundle && !is_snapshot {
            continue;
        }
        let mtime = fs::metadata(&path)?.modified()?;
        if best.as_ref().is_none_or(|(t, _)| mtime > *t) {
            best = Some((mtime, path));
        }
    }
    best.map(|(_, p)| p).with_context(|| {
        format!(
            "{} holds no bundle directory or snapshot .json file yet",
            dir.display()
        )
    })
}
