//! Running a collector inside another network namespace without ever
//! switching the caller's thread: a scoped thread enters the target with
//! `setns(CLONE_NEWNET)` and everything namespace-relative — netlink
//! sockets (which keep the netns they were created in), `/proc/thread-self/net`
//! and `/proc/sys/net` — is opened there. The thread then ends, and its
//! namespace with it.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::LiveError;

/// Directories `ip netns` keeps named namespaces in (the second is usually a
/// symlink to the first; names are de-duplicated).
pub const NETNS_DIRS: [&str; 2] = ["/run/netns", "/var/run/netns"];

/// Which network namespace to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetnsTarget {
    /// A name under /run/netns (as `ip netns add NAME` creates).
    Name(String),
    /// A namespace file, e.g. `/proc/PID/ns/net` or a bind mount.
    Path(PathBuf),
}

impl NetnsTarget {
    /// The file to open for `setns`.
    pub fn path(&self) -> PathBuf {
        match self {
            NetnsTarget::Name(name) => Path::new(NETNS_DIRS[0]).join(name),
            NetnsTarget::Path(p) => p.clone(),
        }
    }
}

/// Runs `f` in the target namespace (or right here when `target` is
/// `None`) and returns its result.
pub(crate) fn run_in<T: Send>(
    target: Option<&NetnsTarget>,
    f: impl FnOnce() -> Result<T, LiveError> + Send,
) -> Result<T, LiveError> {
    let Some(target) = target else {
        return f();
    };
    let path = target.path();
    let file = File::open(&path).map_err(|source| LiveError::Netns {
        path: path.clone(),
        source,
    })?;
    std::thread::scope(|s| {
        let handle = s.spawn(|| {
            enter(&file, &path)?;
            f()
        });
        handle.join().unwrap_or(Err(LiveError::ThreadPanicked))
    })
}

/// Moves the calling thread (only) into the namespace `file` refers to.
fn enter(file: &File, path: &Path) -> Result<(), LiveError> {
    // SAFETY: setns on a valid open fd; it affects only this thread for
    // CLONE_NEWNET, and this thread is ours and ends after the collection.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(LiveError::Netns {
            path: path.to_path_buf(),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// Names of the namespaces under [`NETNS_DIRS`], sorted, de-duplicated.
/// A missing directory is no namespaces, not an error.
pub fn list_named_netns() -> Result<Vec<String>, LiveError> {
    let mut names = Vec::new();
    for dir in NETNS_DIRS {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(LiveError::Netns {
                    path: PathBuf::from(dir),
                    source,
                })
            }
        };
        for entry in entries.flatten() {
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_string());
            }
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// The file of a named netns in the first of [`NETNS_DIRS`] that has it.
pub(crate) fn named_path(name: &str) -> Option<PathBuf> {
    NETNS_DIRS
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

/// Identity of a namespace file (nsfs device + inode): two paths name the
/// same namespace when these agree.
pub(crate) fn ns_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.dev(), m.ino()))
}

/// Maps a netns name to `(namespace, pod)`: `<ns>_<pod>` as the bundle's
/// pod directories are named (Kubernetes names cannot contain `_`), else
/// namespace `netns`.
pub fn pod_of_netns(name: &str) -> (String, String) {
    match name.split_once('_') {
        Some((ns, pod)) if !ns.is_empty() && !pod.is_empty() => (ns.to_string(), pod.to_string()),
        _ => ("netns".to_string(), name.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_names_split_on_the_first_underscore() {
        assert_eq!(
            pod_of_netns("kube-system_coredns-1"),
            ("kube-system".into(), "coredns-1".into())
        );
        assert_eq!(
            pod_of_netns("cni-1234"),
            ("netns".into(), "cni-1234".into())
        );
        assert_eq!(pod_of_netns("_x"), ("netns".into(), "_x".into()));
    }

    #[test]
    fn a_missing_namespace_is_a_named_error() {
        let t = NetnsTarget::Name("cnl-no-such-netns-h5".into());
        let err = run_in(Some(&t), || Ok(())).unwrap_err();
        assert!(
            err.to_string().contains("/run/netns/cnl-no-such-netns-h5"),
            "{err}"
        );
        assert_eq!(err.code(), "netns");
    }
}
