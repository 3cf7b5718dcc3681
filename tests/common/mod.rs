//! Helpers shared by the binary's integration tests (tests/*.rs): run the
//! real `cnictl`, read its output, and decide whether a live test can run.
#![allow(dead_code)] // each test binary uses its own subset

pub mod lab;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn cnictl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cnictl"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("cnictl runs")
}

/// Starts cnictl with its stdout piped: many at once overlap their waits
/// (read the answers with `wait_with_output`).
pub fn cnictl_spawn(args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_cnictl"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("cnictl runs")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs cnictl and fails the test with its output unless it exits `want`.
pub fn cnictl_ok(args: &[&str], want: i32) -> Output {
    let o = cnictl(args);
    assert_eq!(
        o.status.code(),
        Some(want),
        "cnictl {}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        text(&o.stdout),
        text(&o.stderr)
    );
    o
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Effective uid 0, from /proc/self/status.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let uid = s.lines().find(|l| l.starts_with("Uid:"))?;
            uid.split_whitespace().nth(2).map(|e| e == "0")
        })
        .unwrap_or(false)
}

pub fn in_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

/// Short, prefix-friendly lab names (`cnlt<pid in base 36>…`).
pub fn base36(mut n: u32) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}
