//! Bundles as people attach them to tickets: a `.tar`, `.tar.gz`/`.tgz`
//! or `.zip` of the bundle directory, read into memory (never unpacked to
//! disk), with or without one top-level folder around the bundle.
//!
//! Bounded like a directory bundle: each file at most [`MAX_FILE_SIZE`],
//! the whole archive at most [`MAX_ARCHIVE_BYTES`] uncompressed (a small
//! `.gz` can inflate without end); entries that are not regular files
//! (links, devices) and paths that climb out (`..`, absolute) are refused.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::bundle::{MemSource, MAX_FILE_SIZE};

/// The most an archive may hold, uncompressed.
pub const MAX_ARCHIVE_BYTES: u64 = 4 << 30;

/// Why an archive could not be read as a bundle.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: entry {entry:?}: {why}")]
    Entry {
        path: String,
        entry: String,
        why: String,
    },
    #[error("{path}: more than {limit} bytes uncompressed")]
    TooLarge { path: String, limit: u64 },
    #[error("{path}: not a tar or zip archive: {why}")]
    Format { path: String, why: String },
}

/// The kinds of archive cnictl reads, by file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tar,
    TarGz,
    Zip,
}

fn kind(path: &Path) -> Option<Kind> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        Some(Kind::TarGz)
    } else if name.ends_with(".tar") {
        Some(Kind::Tar)
    } else if name.ends_with(".zip") {
        Some(Kind::Zip)
    } else {
        None
    }
}

/// Whether `path` names an archive cnictl can read as a bundle.
pub fn is_archive(path: &Path) -> bool {
    kind(path).is_some()
}

/// Reads the archive at `path` into a bundle source.
pub fn archive_source(path: &Path) -> Result<MemSource, ArchiveError> {
    let shown = path.display().to_string();
    let io_err = |source| ArchiveError::Io {
        path: shown.clone(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let files = match kind(path) {
        Some(Kind::Tar) => read_tar(file, &shown)?,
        Some(Kind::TarGz) => read_tar(flate2::read::GzDecoder::new(file), &shown)?,
        Some(Kind::Zip) => read_zip(file, &shown)?,
        None => {
            return Err(ArchiveError::Format {
                path: shown,
                why: "expected .tar, .tar.gz, .tgz or .zip".into(),
            })
        }
    };
    Ok(MemSource::new(
        format!("bundle:{shown}"),
        strip_top_folder(files),
    ))
}

/// Counts what is read against the archive's limit.
struct Budget<'a> {
    path: &'a str,
    left: u64,
}

impl Budget<'_> {
    /// One entry's text: bounded, UTF-8, a regular file's.
    fn take(&mut self, entry: &str, size: u64, r: &mut dyn Read) -> Result<String, ArchiveError> {
        let bad = |why: String| ArchiveError::Entry {
            path: self.path.to_string(),
            entry: entry.to_string(),
            why,
        };
        if size > MAX_FILE_SIZE {
            return Err(bad(format!(
                "{size} bytes, over the {MAX_FILE_SIZE}-byte limit"
            )));
        }
        let mut buf = Vec::new();
        r.take(MAX_FILE_SIZE + 1)
            .read_to_end(&mut buf)
            .map_err(|e| bad(e.to_string()))?;
        let n = buf.len() as u64;
        if n > self.left {
            return Err(ArchiveError::TooLarge {
                path: self.path.to_string(),
                limit: MAX_ARCHIVE_BYTES,
            });
        }
        self.left -= n;
        String::from_utf8(buf).map_err(|_| bad("not valid UTF-8 text".into()))
    }
}

fn read_tar(r: impl Read, path: &str) -> Result<BTreeMap<String, String>, ArchiveError> {
    let format = |e: io::Error| ArchiveError::Format {
        path: path.to_string(),
        why: e.to_string(),
    };
    let mut archive = tar::Archive::new(r);
    let mut budget = Budget {
        path,
        left: MAX_ARCHIVE_BYTES,
    };
    let mut files = BTreeMap::new();
    for entry in archive.entries().map_err(format)? {
        let mut entry = entry.map_err(format)?;
        let name = entry.path().map_err(format)?.to_string_lossy().into_owned();
        if entry.header().entry_type().is_dir() {
            continue;
        }
        let rel = checked_rel(&name, entry.header().entry_type().is_file(), path)?;
        let size = entry.size();
        files.insert(rel, budget.take(&name, size, &mut entry)?);
    }
    Ok(files)
}

fn read_zip(file: File, path: &str) -> Result<BTreeMap<String, String>, ArchiveError> {
    let format = |e: zip::result::ZipError| ArchiveError::Format {
        path: path.to_string(),
        why: e.to_string(),
    };
    let mut archive = zip::ZipArchive::new(file).map_err(format)?;
    let mut budget = Budget {
        path,
        left: MAX_ARCHIVE_BYTES,
    };
    let mut files = BTreeMap::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(format)?;
        let name = entry.name().to_string();
        if entry.is_dir() {
            continue;
        }
        let rel = checked_rel(&name, entry.is_file(), path)?;
        let size = entry.size();
        files.insert(rel, budget.take(&name, size, &mut entry)?);
    }
    Ok(files)
}

/// The bundle-relative path of an entry: a regular file whose path stays
/// inside (no `..`, not absolute); `./` prefixes dropped.
fn checked_rel(name: &str, regular: bool, path: &str) -> Result<String, ArchiveError> {
    let bad = |why: &str| ArchiveError::Entry {
        path: path.to_string(),
        entry: name.to_string(),
        why: why.to_string(),
    };
    if !regular {
        return Err(bad("not a regular file (links and devices are refused)"));
    }
    let parts: Vec<&str> = name
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if name.starts_with('/') || parts.contains(&"..") || parts.is_empty() {
        return Err(bad("path leaves the bundle"));
    }
    Ok(parts.join("/"))
}

/// An archive of the folder that holds the bundle (`incident/k8s/…`):
/// when every file sits under one folder that is not itself a bundle
/// section, that folder is the bundle.
fn strip_top_folder(files: BTreeMap<String, String>) -> BTreeMap<String, String> {
    let top = |k: &String| k.split_once('/').map(|(t, _)| t.to_string());
    let first = files.keys().next().and_then(top);
    let single = first.filter(|t| {
        !matches!(t.as_str(), "k8s" | "nodes") && files.keys().all(|k| top(k).as_deref() == Some(t))
    });
    match single {
        Some(t) => files
            .into_iter()
            .map(|(k, v)| (k[t.len() + 1..].to_string(), v))
            .collect(),
        None => files,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(keys: &[&str]) -> BTreeMap<String, String> {
        keys.iter()
            .map(|k| (k.to_string(), String::new()))
            .collect()
    }

    #[test]
    fn one_top_folder_is_the_bundle_and_sections_are_not_folders() {
        let got = strip_top_folder(map(&[
            "incident/k8s/nodes.json",
            "incident/nodes/n1/ip-link.json",
        ]));
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            ["k8s/nodes.json", "nodes/n1/ip-link.json"]
        );
        let bare = map(&["k8s/nodes.json", "k8s/pods.json"]);
        assert_eq!(strip_top_folder(bare.clone()), bare);
    }

    #[test]
    fn climbing_and_absolute_paths_and_links_are_refused() {
        assert!(checked_rel("../etc/passwd", true, "a.tar").is_err());
        assert!(checked_rel("/etc/passwd", true, "a.tar").is_err());
        assert!(checked_rel("k8s/nodes.json", false, "a.tar").is_err());
        assert_eq!(
            checked_rel("./k8s//nodes.json", true, "a.tar").unwrap(),
            "k8s/nodes.json"
        );
    }
}
