//! Bundles sent as archives load to the same snapshot as the directory:
//! a `.tar`, a `.tar.gz` with the bundle inside one folder, and a `.zip`,
//! each written here from a recorded fixture; hostile entries are refused.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use cnictl_collect::archive::archive_source;
use cnictl_collect::bundle::{load, load_dir};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/flannel-vxlan-broken-vxlan-fdb-missing")
}

/// Every file of `dir`, bundle-relative.
fn files(dir: &Path, rel: &str, out: &mut Vec<(String, Vec<u8>)>) {
    for e in fs::read_dir(dir.join(rel)).unwrap().flatten() {
        let name = format!("{rel}{}", e.file_name().to_string_lossy());
        if e.path().is_dir() {
            files(dir, &format!("{name}/"), out);
        } else {
            out.push((name, fs::read(e.path()).unwrap()));
        }
    }
}

fn write_tar(w: impl Write, prefix: &str) {
    let mut b = tar::Builder::new(w);
    let mut all = Vec::new();
    files(&fixture(), "", &mut all);
    for (name, data) in all {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, format!("{prefix}{name}"), data.as_slice())
            .unwrap();
    }
    b.into_inner().unwrap();
}

fn same_as_directory(archive: &Path) {
    let want = load_dir(&fixture()).unwrap();
    let mut got = load(&archive_source(archive).unwrap()).unwrap();
    got.source = want.source.clone();
    assert_eq!(got, want, "{}", archive.display());
}

#[test]
fn tar_tgz_and_zip_load_like_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let tar_path = dir.path().join("b.tar");
    write_tar(fs::File::create(&tar_path).unwrap(), "");
    same_as_directory(&tar_path);

    let tgz = dir.path().join("incident.tgz");
    let gz =
        flate2::write::GzEncoder::new(fs::File::create(&tgz).unwrap(), flate2::Compression::fast());
    write_tar(gz, "incident-4711/");
    same_as_directory(&tgz);

    let zip_path = dir.path().join("b.zip");
    let mut z = zip::ZipWriter::new(fs::File::create(&zip_path).unwrap());
    let mut all = Vec::new();
    files(&fixture(), "", &mut all);
    for (name, data) in all {
        z.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(&data).unwrap();
    }
    z.finish().unwrap();
    same_as_directory(&zip_path);
}

#[test]
fn hostile_entries_are_refused_with_the_entry_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evil.tar");
    let mut b = tar::Builder::new(fs::File::create(&path).unwrap());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "k8s/nodes.json", "/etc/shadow")
        .unwrap();
    b.into_inner().unwrap();
    let err = archive_source(&path).unwrap_err().to_string();
    assert!(
        err.contains("k8s/nodes.json") && err.contains("not a regular file"),
        "{err}"
    );

    let garbage = dir.path().join("garbage.tar.gz");
    fs::write(&garbage, b"not gzip at all").unwrap();
    let err = archive_source(&garbage).unwrap_err().to_string();
    assert!(err.contains("garbage.tar.gz"), "{err}");
}
