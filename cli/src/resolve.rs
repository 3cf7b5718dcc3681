//! Resolve: turn source flags into a loaded snapshot. The only place in the
//! binary that reads files.

use std::fs;
use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use cnictl_model::{ClusterSnapshot, SCHEMA};

use crate::args::{ClusterArgs, Source};

/// Snapshot files above this size are refused rather than read into memory.
const MAX_SNAPSHOT_BYTES: u64 = 4 << 30;

pub fn load(source: &Source, cluster: &ClusterArgs) -> Result<ClusterSnapshot> {
    match (&source.bundle, &source.snapshot, source.kube) {
        (Some(dir), None, false) => load_bundle(dir),
        (None, Some(file), false) => load_snapshot(file),
        (None, None, true) => load_kube(cluster),
        _ => bail!("give exactly one of --bundle DIR, --snapshot FILE or --kube"),
    }
}

/// The live cluster: pulls every agent (and the API objects) into a
/// temporary bundle, as `cnictl bundle --kube` does, and loads it — one
/// code path for live and offline analysis.
fn load_kube(cluster: &ClusterArgs) -> Result<ClusterSnapshot> {
    let tmp = tempfile::tempdir().context("creating a temporary directory")?;
    let dir = tmp.path().join("bundle");
    let pulled = crate::cmd::cluster::pull_bundle(cluster, &dir)
        .map_err(|e| without_temp_path(e, tmp.path()))
        .context("pulling the cluster's agents and API objects")?;
    for (target, node, reason) in &pulled.failed {
        let node = node.as_deref().unwrap_or("?");
        eprintln!(
            "cnictl: warning: agent {target} (node {node}) failed: {reason}; analysing without it"
        );
    }
    // Errors name the files inside the bundle, never this temporary path;
    // neither does the snapshot's source label.
    let mut snap = cnictl_collect::bundle::load_dir(&dir)
        .map_err(|e| without_temp_path(e.into(), tmp.path()))
        .context("reading what the cluster's agents and API sent")?;
    snap.source = "kube".into();
    Ok(snap)
}

/// `err` with every mention of the temporary bundle directory taken out:
/// what the user can act on is the agent, node or object the message
/// names, not a path that is gone once cnictl exits.
fn without_temp_path(err: anyhow::Error, tmp: &Path) -> anyhow::Error {
    let tmp = tmp.display().to_string();
    let msgs: Vec<String> = err
        .chain()
        .map(|e| {
            e.to_string()
                .replace(&format!("{tmp}/bundle/"), "")
                .replace(&format!("{tmp}/bundle"), "the pulled bundle")
                .replace(&tmp, "a temporary directory")
        })
        .collect();
    let mut it = msgs.into_iter().rev();
    let root = anyhow::anyhow!(it.next().unwrap_or_default());
    it.fold(root, |e, m| e.context(m))
}

/// For questions of intent only (`matrix`): as [`load`], but a bundle
/// directory without `nodes/` is read for its Kubernetes objects alone.
pub fn load_for_intent(source: &Source, cluster: &ClusterArgs) -> Result<ClusterSnapshot> {
    let Some(path) = source.bundle.as_deref().filter(|p| p.is_dir()) else {
        return load(source, cluster);
    };
    let dir = inner_bundle_dir(path);
    if dir.join("nodes").is_dir() {
        return load_bundle(path);
    }
    let src = cnictl_collect::bundle::DirSource::new(&dir);
    cnictl_collect::bundle::load_objects(&src)
        .with_context(|| format!("reading bundle {}", path.display()))
}

/// A path given without saying what it is (diff): a directory is a
/// bundle, a file a snapshot.
pub fn load_path(path: &Path) -> Result<ClusterSnapshot> {
    let meta = fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.is_dir() {
        load_bundle(path)
    } else {
        load_snapshot(path)
    }
}

/// A bundle directory, an archive of one (`.tar`, `.tar.gz`/`.tgz`,
/// `.zip`, read in memory), or a directory whose only content is the
/// bundle's folder (an unpacked archive).
pub fn load_bundle(path: &Path) -> Result<ClusterSnapshot> {
    let shown = path.display();
    if path.is_file() && cnictl_collect::archive::is_archive(path) {
        let src = cnictl_collect::archive::archive_source(path)
            .with_context(|| format!("reading bundle archive {shown}"))?;
        return cnictl_collect::bundle::load(&src)
            .with_context(|| format!("reading bundle {shown}"));
    }
    if path.is_file() {
        bail!("bundle {shown} is a file: give the bundle directory or a .tar, .tar.gz, .tgz or .zip of it (a snapshot JSON goes to --snapshot)");
    }
    let dir = inner_bundle_dir(path);
    cnictl_collect::bundle::load_dir(&dir).with_context(|| format!("reading bundle {shown}"))
}

/// `path` itself, or its single subdirectory when `path` holds no bundle
/// sections (`k8s/`, `nodes/`) and nothing else: the folder an archive
/// unpacked into.
pub fn inner_bundle_dir(path: &Path) -> std::path::PathBuf {
    let is_bundle = |p: &Path| p.join("k8s").is_dir() || p.join("nodes").is_dir();
    if is_bundle(path) {
        return path.to_path_buf();
    }
    let entries: Vec<_> = fs::read_dir(path)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    match entries.as_slice() {
        [only] if only.is_dir() && is_bundle(only) => only.clone(),
        _ => path.to_path_buf(),
    }
}

pub fn load_snapshot(file: &Path) -> Result<ClusterSnapshot> {
    let mut bytes = read_bounded(file, MAX_SNAPSHOT_BYTES)?;
    if file.extension().is_some_and(|e| e == "gz") {
        bytes = gunzip_bounded(file, bytes, MAX_SNAPSHOT_BYTES)?;
    }
    let text = String::from_utf8(bytes)
        .with_context(|| format!("snapshot {} is not UTF-8 text", file.display()))?;
    let snap: ClusterSnapshot = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a cnictl snapshot", file.display()))?;
    if snap.schema != SCHEMA {
        bail!(
            "{}: schema is {:?}, this cnictl reads {:?}",
            file.display(),
            snap.schema,
            SCHEMA
        );
    }
    Ok(snap)
}

/// A snapshot file's text, bounded: what is not a regular file is refused
/// before it is opened (a FIFO would block for ever, `/dev/zero` never
/// ends), and the read itself stops past `limit` (the size on disk can
/// change while it is read).
fn read_bounded(file: &Path, limit: u64) -> Result<Vec<u8>> {
    let shown = file.display();
    let meta = fs::metadata(file).with_context(|| format!("reading snapshot {shown}"))?;
    if !meta.is_file() {
        bail!(
            "snapshot {shown} is not a regular file: give the JSON file `cnictl snapshot -o` wrote"
        );
    }
    if meta.len() > limit {
        bail!(
            "snapshot {shown} is {} bytes, more than the {limit} byte limit",
            meta.len()
        );
    }
    let mut buf = Vec::new();
    let f = fs::File::open(file).with_context(|| format!("reading snapshot {shown}"))?;
    f.take(limit + 1)
        .read_to_end(&mut buf)
        .with_context(|| format!("reading snapshot {shown}"))?;
    if buf.len() as u64 > limit {
        bail!("snapshot {shown} grew past the {limit} byte limit while it was read");
    }
    Ok(buf)
}

/// A `.json.gz` snapshot, inflated up to `limit` bytes (a small file can
/// inflate without end).
fn gunzip_bounded(file: &Path, gz: Vec<u8>, limit: u64) -> Result<Vec<u8>> {
    let shown = file.display();
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .take(limit + 1)
        .read_to_end(&mut out)
        .with_context(|| format!("snapshot {shown}: not gzip data"))?;
    if out.len() as u64 > limit {
        bail!("snapshot {shown} inflates past the {limit} byte limit");
    }
    Ok(out)
}
