//! A namespace lab for a live test: `cnictl lab up` under a prefix unique
//! to the test process, bundles in a temp dir, and `Drop` runs `cnictl lab
//! down`, so a failing assertion still tears the lab down. Also the kernel
//! side of the comparisons: `ping` inside a pod's netns.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::{base36, cnictl, cnictl_ok, text};

pub struct Lab {
    pub prefix: String,
    pub dir: tempfile::TempDir,
}

impl Lab {
    /// `cnictl lab up MODEL ARGS` with prefix `stem` + the pid in base 36 +
    /// `letter` (at most 11 characters after "cnl").
    pub fn up(stem: &str, letter: char, model: &str, args: &[&str]) -> Lab {
        let lab = Lab {
            prefix: format!("{stem}{}{letter}", base36(std::process::id())),
            dir: tempfile::tempdir().expect("temp dir"),
        };
        let mut argv = vec!["lab", "up", model, "--prefix", &lab.prefix];
        argv.extend_from_slice(args);
        cnictl_ok(&argv, 0);
        lab
    }

    /// `cnictl lab bundle` into a fresh directory named `name`.
    pub fn bundle(&self, name: &str) -> PathBuf {
        let out = self.dir.path().join(name);
        let o = out.to_string_lossy().into_owned();
        cnictl_ok(&["lab", "bundle", "-o", &o, "--prefix", &self.prefix], 0);
        out
    }

    /// `cnictl lab break FAULT --node NODE`.
    pub fn break_(&self, fault: &str, node: &str) {
        let argv = [
            "lab",
            "break",
            fault,
            "--node",
            node,
            "--prefix",
            &self.prefix,
        ];
        cnictl_ok(&argv, 0);
    }

    /// Pod key (`default/web-1`) → its netns, from the lab's pod maps.
    pub fn pod_netns(&self, key: &str) -> String {
        let dir = Path::new("/run/cnictl-lab").join(&self.prefix);
        let want = format!(" {}", key.replacen('/', "_", 1));
        for e in std::fs::read_dir(&dir).expect("lab state dir").flatten() {
            if !e.file_name().to_string_lossy().starts_with("podmap-") {
                continue;
            }
            let body = std::fs::read_to_string(e.path()).expect("pod map");
            if let Some(l) = body.lines().find(|l| l.ends_with(&want)) {
                return l.split(' ').next().unwrap_or_default().to_string();
            }
        }
        panic!("no netns for {key}")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = cnictl(&["lab", "down", "--prefix", &self.prefix]);
    }
}

/// Why a namespace lab cannot run here (not root, a tool missing).
pub fn skip_reason(tools: &[&str]) -> Option<String> {
    if !super::is_root() {
        return Some("not root: namespace labs need root".into());
    }
    tools
        .iter()
        .find(|t| !super::in_path(t))
        .map(|t| format!("{t} not installed"))
}

/// One ping (1 s timeout) from inside `netns`; IPv6 addresses ping over IPv6.
pub fn ping(netns: &str, ip: IpAddr) -> bool {
    Command::new("ip")
        .args(["netns", "exec", netns, "ping", "-c1", "-W1", "-q"])
        .arg(ip.to_string())
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// cnictl's JSON answer and exit code.
pub fn json(args: &[&str]) -> (Value, i32) {
    let o = cnictl(args);
    let v = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", text(&o.stderr)));
    (v, o.status.code().unwrap_or(-1))
}
