//! `--manifests PATH`: a file or a directory tree of Kubernetes manifests
//! (`*.yaml`, `*.yml`, `*.json`, as a repository or `kubectl get -o yaml`
//! holds them) → the [`K8s`] objects NetworkPolicy intent needs. The files
//! are read here (bounded: regular files only, each under the bundle size
//! limit, at most [`MAX_FILES`], dot-directories skipped); what they say is
//! decoded by `cnictl_formats::manifests`.

use std::fs;
use std::path::{Path, PathBuf};

use cnictl_formats::manifests::{ManifestError, Manifests};
use cnictl_model::K8s;

use crate::bundle::MAX_FILE_SIZE;

/// A tree with more manifest files than this is not a manifest directory.
pub const MAX_FILES: usize = 20_000;
/// Deeper trees are not walked (symlink loops, mount points).
const MAX_DEPTH: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum ManifestsError {
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("{path}: {error}")]
    Invalid { path: String, error: ManifestError },
    #[error("{path}: no *.yaml, *.yml or *.json file")]
    Empty { path: String },
    #[error("{path}: more than {MAX_FILES} manifest files")]
    TooMany { path: String },
}

/// Reads every manifest under `path` (sorted, so the result is stable).
pub fn load(path: &Path) -> Result<K8s, ManifestsError> {
    let mut files = Vec::new();
    walk(path, 0, &mut files)?;
    if files.is_empty() {
        return Err(ManifestsError::Empty {
            path: path.display().to_string(),
        });
    }
    files.sort();
    let mut m = Manifests::default();
    for f in &files {
        let text = read_bounded(f)?;
        m.add_text(&text).map_err(|error| ManifestsError::Invalid {
            path: f.display().to_string(),
            error,
        })?;
    }
    Ok(m.into_k8s())
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ManifestsError + '_ {
    move |e| ManifestsError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn walk(path: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), ManifestsError> {
    let meta = fs::metadata(path).map_err(io(path))?;
    if meta.is_file() {
        if depth == 0 || is_manifest(path) {
            out.push(path.to_path_buf());
        }
        return too_many(path, out);
    }
    if depth == 0 && !meta.is_dir() {
        // A FIFO or device named on the command line: refused, not skipped.
        return Err(ManifestsError::Io {
            path: path.display().to_string(),
            message: "not a regular file or directory: give manifest files or a directory of them"
                .into(),
        });
    }
    if !meta.is_dir() || depth > MAX_DEPTH {
        return Ok(());
    }
    for entry in fs::read_dir(path).map_err(io(path))? {
        let entry = entry.map_err(io(path))?;
        if !entry.file_name().to_string_lossy().starts_with('.') {
            walk(&entry.path(), depth + 1, out)?;
        }
    }
    Ok(())
}

fn too_many(path: &Path, files: &[PathBuf]) -> Result<(), ManifestsError> {
    if files.len() > MAX_FILES {
        return Err(ManifestsError::TooMany {
            path: path.display().to_string(),
        });
    }
    Ok(())
}

fn is_manifest(path: &Path) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    matches!(ext, "yaml" | "yml" | "json")
}

/// The file's text, refusing a device or FIFO and more than the size
/// limit even if the file grows while being read.
fn read_bounded(path: &Path) -> Result<String, ManifestsError> {
    crate::files::read_text(path, MAX_FILE_SIZE).map_err(|e| ManifestsError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}
