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

/// A fingerprint of `path` (file or directory tree). An unreadable path
/// has a fingerprint too (its error kind), so its disappearance is a change.
pub fn fingerprint(path: &Path) -> u64 {
    let mut h = DefaultHasher::new();
    let mut budget = MAX_ENTRIES;
    visit(path, 0, &mut h, &mut budget);
    h.finish()
}

fn visit(path: &Path, depth: usize, h: &mut DefaultHasher, budget: &mut usize) {
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
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .hash(h);
    if !meta.is_dir() || depth >= MAX_DEPTH {
        return;
    }
    let Ok(rd) = std::fs::read_dir(path) else {
        return;
    };
    let mut children: Vec<_> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
    children.sort();
    for c in children {
        visit(&c, depth + 1, h, budget);
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
    fn missing_path_is_a_fingerprint_not_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("absent");
        assert_eq!(fingerprint(&p), fingerprint(&p));
    }
}
