//! Namespace labs for the live-collector tests: unique `cnlh5-…` names,
//! everything created inside namespaces the test owns, torn down in Drop.

#![allow(dead_code)]

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// Why a real-kernel test cannot run here, if it cannot.
pub fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root: namespace labs need CAP_NET_ADMIN".into());
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("iproute2 `ip` not installed".into());
    }
    None
}

/// A unique prefix for this test's namespaces.
pub fn unique_prefix(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("cnlh5-{tag}{:x}{:04x}", std::process::id(), nanos & 0xffff)
}

/// Namespaces created by a test; deleted (with everything in them) on drop.
pub struct Lab {
    pub namespaces: Vec<String>,
    /// Pids of daemons started inside the lab, sent SIGTERM on drop.
    pub pids: Vec<i32>,
}

impl Lab {
    pub fn new(names: &[String]) -> Lab {
        let mut lab = Lab {
            namespaces: Vec::new(),
            pids: Vec::new(),
        };
        for n in names {
            run(&["ip", "netns", "add", n]);
            lab.namespaces.push(n.clone());
            // No IPv6 DAD: link-local addresses and their routes appear at
            // once, so two dumps taken a moment apart agree.
            for key in [
                "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0",
            ] {
                run(&["ip", "netns", "exec", n, "sysctl", "-qw", key]);
            }
        }
        lab
    }

    /// Remembers the daemon whose pid file is `path` (waiting up to 5 s
    /// for it to be written), so that drop stops it.
    pub fn adopt_pidfile(&mut self, path: &std::path::Path) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let pid = std::fs::read_to_string(path)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok());
            if let Some(pid) = pid {
                self.pids.push(pid);
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no pid file {}",
                path.display()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Runs `ip -n NS ARGS…`.
    pub fn ip(&self, ns: &str, args: &str) {
        let mut argv = vec!["ip", "-n", ns];
        argv.extend(args.split_whitespace());
        run(&argv);
    }

    /// Output of a command run inside `ns`.
    pub fn exec(&self, ns: &str, args: &str) -> String {
        let mut argv = vec!["ip", "netns", "exec", ns];
        argv.extend(args.split_whitespace());
        output(&argv)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for &pid in &self.pids {
            // SAFETY: kill on the pid of a daemon this test started.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        for n in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

pub fn run(argv: &[&str]) {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {argv:?}: {e}"));
    assert!(
        out.status.success(),
        "{argv:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn output(argv: &[&str]) -> String {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {argv:?}: {e}"));
    assert!(
        out.status.success(),
        "{argv:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}
