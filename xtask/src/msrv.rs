//! The MSRV gate: declared `rust-version` ≥ every locked dependency's.

use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// A version as (major, minor, patch); "1.85" is (1, 85, 0).
fn parse(v: &str) -> Option<(u32, u32, u32)> {
    let mut it = v.split('.').map(|p| p.parse::<u32>().ok());
    Some((
        it.next()??,
        it.next().flatten().unwrap_or(0),
        it.next().flatten().unwrap_or(0),
    ))
}

pub fn check() -> Result<()> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--locked"])
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let meta: Value = serde_json::from_slice(&out.stdout).context("decoding cargo metadata")?;
    let (declared, needed) = versions(&meta)?;
    let (needed_v, who) = needed.context("no dependency declares a rust-version")?;
    println!("declared rust-version {declared}; highest a dependency needs: {who}");
    let declared_v = parse(&declared).with_context(|| format!("bad rust-version {declared:?}"))?;
    if declared_v < needed_v {
        bail!("rust-version {declared} is lower than {who} needs: raise it in Cargo.toml");
    }
    Ok(())
}

type Needed = Option<((u32, u32, u32), String)>;

/// The workspace's declared rust-version and the highest one among the rest.
fn versions(meta: &Value) -> Result<(String, Needed)> {
    let members: Vec<&str> = meta["workspace_members"]
        .as_array()
        .context("workspace_members")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut declared = None;
    let mut needed: Needed = None;
    for pkg in meta["packages"].as_array().context("packages")? {
        let Some(rv) = pkg["rust_version"].as_str() else {
            continue;
        };
        let id = pkg["id"].as_str().unwrap_or_default();
        if members.contains(&id) {
            declared.get_or_insert_with(|| rv.to_string());
            continue;
        }
        let Some(v) = parse(rv) else { continue };
        if needed.as_ref().is_none_or(|(n, _)| v > *n) {
            needed = Some((
                v,
                format!(
                    "{} {} (rust-version {rv})",
                    pkg["name"].as_str().unwrap_or("?"),
                    pkg["version"].as_str().unwrap_or("?")
                ),
            ));
        }
    }
    Ok((
        declared.context("the workspace declares no rust-version")?,
        needed,
    ))
}
