//! Writes the NetworkPolicy benchmark cluster (`cnictl_gen::policy_bench`)
//! as a bundle of `k8s/` alone — pods, namespaces, NetworkPolicies as
//! `kubectl get … -o json` prints them — for `bench/matrix.sh` to time
//! `cnictl matrix` on the same cluster the criterion benchmark uses.
//!
//! `cargo run --release -p cnictl-gen --example policy_bundle -- DIR [PODS] [NAMESPACES]`

use std::path::Path;

use anyhow::{Context, Result};
use cnictl_formats::kubectl::write_pods;
use cnictl_formats::netpol::{write_namespaces, write_networkpolicies};
use cnictl_gen::policy_bench::{policy_cluster, PolicySpec};

fn arg(n: usize, default: usize) -> Result<usize> {
    match std::env::args().nth(n) {
        Some(s) => s
            .parse()
            .with_context(|| format!("argument {n}: {s:?} is no number")),
        None => Ok(default),
    }
}

fn main() -> Result<()> {
    let dir = std::env::args()
        .nth(1)
        .context("usage: policy_bundle DIR [PODS] [NAMESPACES]")?;
    let spec = PolicySpec {
        pods: arg(2, 1000)?,
        namespaces: arg(3, 20)?,
    };
    let k8s = policy_cluster(&spec);
    let out = Path::new(&dir).join("k8s");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let write = |file: &str, text: String| {
        let path = out.join(file);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    write("pods.json", write_pods(&k8s.pods))?;
    write(
        "namespaces.json",
        write_namespaces(k8s.namespaces.as_deref().unwrap_or_default()),
    )?;
    write(
        "networkpolicies.json",
        write_networkpolicies(k8s.network_policies.as_deref().unwrap_or_default()),
    )?;
    eprintln!(
        "{}: {} pods, {} namespaces, {} policies",
        dir,
        spec.pods,
        spec.namespaces,
        k8s.network_policies.as_ref().map_or(0, Vec::len)
    );
    Ok(())
}
