//! `cnictl collect`: read the live node over netlink (never writes to it).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use cnictl_collect::live::{self, LiveOptions, NetnsTarget};

use crate::args::CollectArgs;
use crate::out;

const DEFAULT_BIRD_SOCKET: &str = "/run/bird/bird.ctl";

pub fn run(args: CollectArgs) -> Result<ExitCode> {
    let opts = options(&args);
    let what = match &opts.netns {
        Some(t) => format!("network namespace {}", t.path().display()),
        None => "this node".to_string(),
    };
    let collected = live::collect(&opts).with_context(|| format!("collecting {what}"))?;
    for note in &collected.notes {
        eprintln!("cnictl: note: {note}");
    }
    let node = collected.node;
    if let Some(dir) = &args.bundle_dir {
        cnictl_collect::write::write_node_dir(&node, dir)
            .with_context(|| format!("writing node {} into bundle {}", node.name, dir.display()))?;
        eprintln!("wrote {}/nodes/{}/", dir.display(), node.name);
        return Ok(ExitCode::SUCCESS);
    }
    let mut json = if args.pretty {
        serde_json::to_vec_pretty(&node)
    } else {
        serde_json::to_vec(&node)
    }
    .context("encoding node snapshot")?;
    json.push(b'\n');
    match &args.out {
        Some(path) => out::write_atomic(path, &json)?,
        None => out::print(&String::from_utf8_lossy(&json))?,
    }
    Ok(ExitCode::SUCCESS)
}

fn options(args: &CollectArgs) -> LiveOptions {
    let netns = match (&args.netns, &args.netns_path) {
        (Some(name), _) => Some(NetnsTarget::Name(name.clone())),
        (None, Some(path)) => Some(NetnsTarget::Path(path.clone())),
        (None, None) => None,
    };
    let bird_socket = args.bird_socket.clone().or_else(|| {
        let default = Path::new(DEFAULT_BIRD_SOCKET);
        default.exists().then(|| PathBuf::from(default))
    });
    LiveOptions {
        netns,
        node_name: args.node_name.clone(),
        pods: args.pods,
        pod_prefix: args.pods_prefix.clone(),
        ipvs: !args.no_ipvs,
        netfilter: !args.no_netfilter,
        bird_socket,
        ..LiveOptions::default()
    }
}
