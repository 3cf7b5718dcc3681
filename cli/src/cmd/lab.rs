//! `cnictl lab`: real mini-clusters in network namespaces, for learning and
//! tests. The engine is lab/lab.sh (iproute2 + BIRD), embedded here so the
//! binary works from anywhere; this is the only subcommand that writes to a
//! dataplane, and only inside namespaces the lab itself creates.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};

use crate::args::{LabArgs, LabCommand};

const LAB_SH: &str = include_str!("../../../lab/lab.sh");
const COLLECT_NODE_SH: &str = include_str!("../../../lab/collect-node.sh");

pub fn run(args: LabArgs) -> Result<ExitCode> {
    if !is_root() {
        bail!("cnictl lab creates network namespaces and needs root (try: sudo cnictl lab …)");
    }
    let argv = lab_argv(&args.command);
    let dir = unpack()?;
    let status = Command::new("bash")
        .arg(dir.join("lab.sh"))
        .args(&argv)
        .env("CNICTL_COLLECT_NODE", dir.join("collect-node.sh"))
        .status()
        .context("running bash (is it installed?)")?;
    let _ = fs::remove_dir_all(&dir);
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(1) => ExitCode::from(1),
        _ => ExitCode::from(2),
    })
}

/// Maps the parsed subcommand to lab.sh's arguments.
fn lab_argv(cmd: &LabCommand) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    let prefix = |v: &mut Vec<String>, p: &str| v.extend(["--prefix".into(), p.to_string()]);
    match cmd {
        LabCommand::Up {
            model,
            nodes,
            pods,
            prefix: p,
        } => {
            v.extend([
                "up".into(),
                model.clone(),
                "--nodes".into(),
                nodes.to_string(),
            ]);
            v.extend(["--pods".into(), pods.to_string()]);
            prefix(&mut v, p);
        }
        LabCommand::Down { prefix: p } => {
            v.push("down".into());
            prefix(&mut v, p);
        }
        LabCommand::Break {
            fault,
            node,
            prefix: p,
        } => {
            v.extend(["break".into(), fault.clone(), "--node".into(), node.clone()]);
            prefix(&mut v, p);
        }
        LabCommand::Bundle {
            out,
            force,
            prefix: p,
        } => {
            v.extend(["bundle".into(), out.display().to_string()]);
            if *force {
                v.push("--force".into());
            }
            prefix(&mut v, p);
        }
        LabCommand::Ping { prefix: p } => {
            v.push("ping".into());
            prefix(&mut v, p);
        }
        LabCommand::Status { prefix: p } => {
            v.push("status".into());
            if let Some(p) = p {
                prefix(&mut v, p);
            }
        }
    }
    v
}

/// Writes the embedded scripts to a private directory for this run.
fn unpack() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("cnictl-lab-{}", std::process::id()));
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
    write_exec(&dir.join("lab.sh"), LAB_SH)?;
    write_exec(&dir.join("collect-node.sh"), COLLECT_NODE_SH)?;
    Ok(dir)
}

fn write_exec(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o700))?;
    Ok(())
}

fn is_root() -> bool {
    // /proc/self/status "Uid:" line: real, effective, saved, fs.
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}
