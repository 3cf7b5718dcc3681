//! Bundle export: [`ClusterSnapshot`] → a bundle directory (README "Bundles"
//! layout). The text of each file comes from the `write_*` serializers of
//! `cnictl-formats` (what `ip -j`, `bridge -j`, `ipvsadm -Ln`, `birdc`,
//! `sysctl` and `kubectl -o json` print), so that
//! [`crate::bundle::load_dir`] reads it back to the same snapshot (apart
//! from `source` and `collected_at`, which a bundle does not hold). This
//! module only places files.
//!
//! The whole bundle is written into a temporary sibling directory and
//! renamed into place, so readers never see half a bundle. An existing
//! `dir` is replaced only when it is empty or an earlier bundle (has
//! `k8s/nodes.json`).
//!
//! Canonical form: the loader can only give back what the formats can say,
//! so round trips are exact for snapshots in the form the loader produces
//! (e.g. rules grouped IPv4 then IPv6, a node's addresses grouped by link,
//! a point-to-point peer with the local prefix length). See the tests.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use cnictl_formats as formats;
use cnictl_model::netfilter::{Netfilter, Source, Table};
use cnictl_model::{Bgp, ClusterSnapshot, NodeSnapshot, PodNetns};
use rayon::prelude::*;

/// Why a bundle could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("refusing to write into {dir}: it is neither empty nor an earlier bundle (no k8s/nodes.json)")]
    NotABundle { dir: PathBuf },
    #[error("invalid name {name:?} for a bundle directory: it must be a single non-empty path component")]
    BadName { name: String },
    #[error("writing {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

impl WriteError {
    /// A bounded code for metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            WriteError::NotABundle { .. } => "not_a_bundle",
            WriteError::BadName { .. } => "bad_name",
            WriteError::Io { .. } => "io",
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `snap` as a bundle at `dir` (see the module docs).
pub fn write_dir(snap: &ClusterSnapshot, dir: &Path) -> Result<(), WriteError> {
    let existing = check_target(dir)?;
    for name in snap.nodes.keys() {
        check_name(name)?;
    }
    build_and_swap(dir, existing, |tmp| write_all(snap, tmp))
}

/// Builds the directory at a temporary sibling of `dir` with `build` (which
/// creates it), then swaps it into place; the sibling is removed on failure.
fn build_and_swap(
    dir: &Path,
    existing: bool,
    build: impl FnOnce(&Path) -> Result<(), WriteError>,
) -> Result<(), WriteError> {
    let tmp = sibling(dir, "tmp");
    let result = build(&tmp).and_then(|()| swap_into_place(&tmp, dir, existing));
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}

/// What is at `dir` now: `Ok(true)` for an earlier bundle or an empty dir
/// to replace, `Ok(false)` when nothing is there.
fn check_target(dir: &Path) -> Result<bool, WriteError> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err(dir)(e)),
        Ok(m) if !m.is_dir() => Err(WriteError::NotABundle { dir: dir.into() }),
        Ok(_) => {
            let empty = fs::read_dir(dir).map_err(io_err(dir))?.next().is_none();
            if empty || dir.join("k8s/nodes.json").is_file() {
                Ok(true)
            } else {
                Err(WriteError::NotABundle { dir: dir.into() })
            }
        }
    }
}

fn check_name(name: &str) -> Result<(), WriteError> {
    // A leading dot also rules out `.` and `..`.
    let bad = name.is_empty() || name.starts_with('.') || name.contains(['/', '\0']);
    if bad {
        return Err(WriteError::BadName { name: name.into() });
    }
    Ok(())
}

/// `.NAME.KIND-PID-N` next to `dir`, on the same filesystem for rename.
fn sibling(dir: &Path, kind: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let name = dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bundle".into());
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    parent.join(format!(".{name}.{kind}-{}-{n}", std::process::id()))
}

fn swap_into_place(tmp: &Path, dir: &Path, existing: bool) -> Result<(), WriteError> {
    if !existing {
        return fs::rename(tmp, dir).map_err(io_err(dir));
    }
    let old = sibling(dir, "old");
    fs::rename(dir, &old).map_err(io_err(dir))?;
    if let Err(e) = fs::rename(tmp, dir) {
        let _ = fs::rename(&old, dir);
        return Err(io_err(dir)(e));
    }
    fs::remove_dir_all(&old).map_err(io_err(&old))
}

/// Calico's custom resources: a file per collected list.
fn write_calico(c: &cnictl_model::CalicoObjects, k8s: &Path) -> Result<(), WriteError> {
    let files = [
        (
            "bgpconfigurations.json",
            c.bgp_configurations
                .as_deref()
                .map(formats::write_bgpconfigurations),
        ),
        (
            "bgppeers.json",
            c.bgp_peers.as_deref().map(formats::write_bgppeers),
        ),
        (
            "ippools.json",
            c.ip_pools.as_deref().map(formats::write_ippools),
        ),
        (
            "blockaffinities.json",
            c.block_affinities
                .as_deref()
                .map(formats::write_blockaffinities),
        ),
    ];
    for (name, text) in files {
        if let Some(text) = text {
            write_text(&k8s.join(name), &text)?;
        }
    }
    Ok(())
}

fn write_all(snap: &ClusterSnapshot, root: &Path) -> Result<(), WriteError> {
    let k8s = root.join("k8s");
    fs::create_dir_all(&k8s).map_err(io_err(&k8s))?;
    write_text(
        &k8s.join("nodes.json"),
        &formats::write_nodes(&snap.k8s.nodes),
    )?;
    write_text(&k8s.join("pods.json"), &formats::write_pods(&snap.k8s.pods))?;
    if let Some(s) = &snap.k8s.services {
        write_text(&k8s.join("services.json"), &formats::write_services(s))?;
    }
    if let Some(p) = &snap.k8s.network_policies {
        let text = formats::write_networkpolicies(p);
        write_text(&k8s.join("networkpolicies.json"), &text)?;
    }
    if let Some(n) = &snap.k8s.namespaces {
        write_text(&k8s.join("namespaces.json"), &formats::write_namespaces(n))?;
    }
    if let Some(s) = &snap.k8s.endpoint_slices {
        let text = formats::write_endpointslices(s);
        write_text(&k8s.join("endpointslices.json"), &text)?;
    }
    write_calico(&snap.k8s.calico, &k8s)?;
    snap.nodes
        .par_iter()
        .try_for_each(|(name, node)| write_node(node, &root.join("nodes").join(name)))
}

fn write_node(node: &NodeSnapshot, dir: &Path) -> Result<(), WriteError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    write_text(
        &dir.join("ip-link.json"),
        &formats::write_links(&node.links),
    )?;
    write_text(
        &dir.join("ip-addr.json"),
        &formats::write_addrs(&node.addrs),
    )?;
    write_text(
        &dir.join("ip-route.json"),
        &formats::write_routes(&node.routes),
    )?;
    write_optional(dir, node)?;
    for pod in node.pods.values() {
        write_pod(pod, dir)?;
    }
    Ok(())
}

/// The sections a node dump may lack: a file only for those collected.
fn write_optional(dir: &Path, node: &NodeSnapshot) -> Result<(), WriteError> {
    let put = |name: &str, text: Option<String>| match text {
        Some(t) => write_text(&dir.join(name), &t),
        None => Ok(()),
    };
    put(
        "ip-rule.json",
        node.rules.as_deref().map(formats::write_rules),
    )?;
    let neigh = node.neighbours.as_deref().map(formats::write_neighbours);
    put("ip-neigh.json", neigh)?;
    put(
        "bridge-fdb.json",
        node.fdb.as_deref().map(formats::write_fdb),
    )?;
    put(
        "ipvsadm.txt",
        node.ipvs.as_deref().map(formats::write_ipvsadm),
    )?;
    if let Some(b) = &node.bgp {
        write_bird(b, dir)?;
    }
    put(
        "sysctl.txt",
        node.sysctls.as_ref().map(formats::write_sysctl),
    )?;
    let offloads = node.offloads.as_deref();
    put("ethtool.txt", offloads.map(formats::write_ethtool_features))?;
    put("uname.txt", node.kernel.as_ref().map(|k| format!("{k}\n")))?;
    if let Some(c) = &node.cilium {
        write_cilium(c, &dir.join("cilium"))?;
    }
    match &node.netfilter {
        Some(nf) => write_netfilter(nf, dir),
        None => Ok(()),
    }
}

/// The iptables dumps (one file per source), `nft -j list ruleset` as it
/// was collected, `ipset save` and the tool versions.
fn write_netfilter(nf: &Netfilter, dir: &Path) -> Result<(), WriteError> {
    for source in Source::IPTABLES
        .into_iter()
        .filter(|s| nf.sources.contains(s))
    {
        let tables: Vec<&Table> = nf.tables.iter().filter(|t| t.source == source).collect();
        write_text(
            &dir.join(source.file()),
            &formats::write_iptables_save(&tables),
        )?;
    }
    if let Some(json) = &nf.nft_json {
        write_text(&dir.join(Source::NftRuleset.file()), json)?;
    }
    if let Some(sets) = &nf.ipsets {
        write_text(
            &dir.join("ipset-save.txt"),
            &formats::write_ipset_save(sets),
        )?;
    }
    match &nf.tool_versions {
        Some(v) => write_text(&dir.join("tool-versions.txt"), &format!("{v}\n")),
        None => Ok(()),
    }
}

fn write_pod(pod: &PodNetns, node_dir: &Path) -> Result<(), WriteError> {
    let name = format!("{}_{}", pod.namespace, pod.name);
    check_name(&name)?;
    let dir = node_dir.join("pods").join(name);
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    write_text(&dir.join("ip-link.json"), &formats::write_links(&pod.links))?;
    write_text(&dir.join("ip-addr.json"), &formats::write_addrs(&pod.addrs))?;
    write_text(
        &dir.join("ip-route.json"),
        &formats::write_routes(&pod.routes),
    )
}

/// `cilium/*.json`: one file per part collected.
fn write_cilium(c: &cnictl_model::Cilium, dir: &Path) -> Result<(), WriteError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let parts = [
        (
            "status.json",
            c.status.as_ref().map(formats::write_cilium_status),
        ),
        (
            "ipcache.json",
            c.ipcache.as_deref().map(formats::write_cilium_ipcache),
        ),
        (
            "tunnel.json",
            c.tunnel.as_deref().map(formats::write_cilium_tunnel),
        ),
        (
            "endpoints.json",
            c.endpoints.as_deref().map(formats::write_cilium_endpoints),
        ),
        ("lb.json", c.lb.as_ref().map(formats::write_cilium_lb)),
    ];
    for (name, text) in parts {
        if let Some(t) = text {
            write_text(&dir.join(name), &t)?;
        }
    }
    Ok(())
}

fn write_bird(b: &Bgp, dir: &Path) -> Result<(), WriteError> {
    let protocols = formats::write_bird_protocols(b);
    write_text(&dir.join("bird-protocols.txt"), &protocols)?;
    if let Some(routes) = &b.routes {
        let text = formats::write_bird_routes(b, routes);
        write_text(&dir.join("bird-routes.txt"), &text)?;
    }
    Ok(())
}

fn write_text(path: &Path, text: &str) -> Result<(), WriteError> {
    fs::write(path, text).map_err(io_err(path))
}

/// Writes one node's part of a bundle, `BUNDLE/nodes/<node>/…`, into
/// `bundle` (created when absent; other nodes and k8s/ are left alone), as
/// `cnictl collect --bundle-dir` does on each node. The node directory is
/// built beside its final place and swapped in, so a reader never sees half
/// of it.
pub fn write_node_dir(node: &NodeSnapshot, bundle: &Path) -> Result<(), WriteError> {
    check_name(&node.name)?;
    let nodes = bundle.join("nodes");
    fs::create_dir_all(&nodes).map_err(io_err(&nodes))?;
    let dir = nodes.join(&node.name);
    build_and_swap(&dir, dir.is_dir(), |tmp| write_node(node, tmp))
}
