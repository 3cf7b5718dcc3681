//! Change detection for the source: a fingerprint of every file's path,
//! size and modification time under it, polled every `refresh`. Cheap next
//! to an analysis (a 1,000-node bundle is ~10k stat calls).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::time::SystemTime;

/// Deepest directory level looked at (a bundle is 5 deep at most).
const MAX_DEPTH: usize = 8;
/// Most entries looked at; past this a change may go unnoticed until a
/// file within the first entries changes (a bundle has far fewer).
const MAX_ENTRIES: usize = 500_000;

/// What one look at the source saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    /// Changes when any file's path, size or modification time does.
    pub fingerprint: u64,
    /// The newest modification time of a file under it: when a bundle,
    /// which records no collection time, was written.
    pub newest: Option<SystemTime>,
}

/// A fingerprint of `path` (file or directory tree). An unreadable path
/// has a fingerprint too (its error kind), so its disappearance is a change.
pub fn fingerprint(path: &Path) -> u64 {
    scan(path).fingerprint
}

/// [`fingerprint`] and the newest file time in one walk.
pub fn scan(path: &Path) -> Scan {
    let mut walk = Walk {
        h: DefaultHasher::new(),
        budget: MAX_ENTRIES,
        newest: None,
    };
    visit(path, 0, &mut walk);
    Scan {
        fingerprint: walk.h.finish(),
        newest: walk.newest,
    }
}

struct Walk {
    h: DefaultHasher,
    budget: usize,
    newest: Option<SystemTime>,
}

fn visit(path: &Path, depth: usize, walk: &mut Walk) {
    let Walk { h, budget, .. } = walk;
    if *budget == 0 {
        return;
    }
    *budget -= 1;
    path.hash(h);
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            format!("{:?}", e.kind()).hash(h);
            return;
        }
    };
    meta.len().hash(h);
    let mtime = meta.modified().ok();
    mtime
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .hash(h);
    if !meta.is_dir() {
        walk.newest = walk.newest.max(mtime);
    }
    if !meta.is_dir() || depth >= MAX_DEPTH {
        return;
    }
    let Ok(rd) = std::fs::read_dir(path) else {
        return;
    };
    let mut children: Vec<_> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
    children.sort();
    for c in children {
        visit(&c, depth + 1, walk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_when_a_file_changes_or_appears() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("nodes.json");
        std::fs::write(&f, b"{}").expect("write");
        let a = fingerprint(dir.path());
        assert_eq!(a, fingerprint(dir.path()), "stable without changes");
        std::fs::write(&f, b"{\"items\": []}").expect("write");
        let b = fingerprint(dir.path());
        assert_ne!(a, b, "size change is noticed");
        std::fs::create_dir(dir.path().join("nodes")).expect("mkdir");
        std::fs::write(dir.path().join("nodes/x"), b"1").expect("write");
        assert_ne!(b, fingerprint(dir.path()), "new file is noticed");
    }

    #[test]
    fn newest_is_the_latest_file_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"1").expect("write");
        std::fs::write(&b, b"2").expect("write");
        let old = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        let f = std::fs::File::options().write(true).open(&a).expect("open");
        f.set_modified(old).expect("set mtime");
        let newest = scan(dir.path()).newest.expect("files seen");
        assert!(newest > old, "{newest:?}");
        assert_eq!(
            newest,
            std::fs::metadata(&b)
                .and_then(|m| m.modified())
                .expect("mtime")
        );
    }

    #[test]
    fn missing_path_is_a_fingerprint_not_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("absent");
        assert_eq!(fingerprint(&p), fingerprint(&p));
    }
}
