//! Live offload and kernel collection in a namespace this test creates
//! (`cnl-off-<pid>`, deleted by a guard) holding a Flannel-style VXLAN
//! device: the collector reports what `ethtool -k` prints for it and the
//! running kernel's release, and `ethtool -k` prints the same before and
//! after (collecting changes nothing). Needs root, iproute2 and ethtool;
//! skips with a printed reason otherwise.

use std::process::Command;

use cnictl_collect::live::{collect, LiveOptions, NetnsTarget};

struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn why_not() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root".into());
    }
    let found = |t: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
    };
    ["ip", "ethtool"]
        .into_iter()
        .find(|t| !found(t).is_ok_and(|o| o.status.success()))
        .map(|t| format!("{t} not installed (apt-get install iproute2 ethtool)"))
}

#[test]
fn tunnel_offloads_and_the_kernel_are_read_and_left_alone() {
    if let Some(why) = why_not() {
        eprintln!("skipped: {why}");
        return;
    }
    let ns = Netns(format!("cnl-off-{}", std::process::id()));
    let _ = Command::new("ip").args(["netns", "del", &ns.0]).status();
    sh(&["ip", "netns", "add", &ns.0]);
    let vxlan = [
        "type",
        "vxlan",
        "id",
        "1",
        "local",
        "192.0.2.11",
        "dstport",
        "8472",
        "nolearning",
    ];
    let mut add = vec!["ip", "-n", &ns.0, "link", "add", "flannel.1"];
    add.extend(vxlan);
    sh(&add);
    let ethtool = || sh(&["ip", "netns", "exec", &ns.0, "ethtool", "-k", "flannel.1"]);
    let before = ethtool();
    let opts = LiveOptions {
        netns: Some(NetnsTarget::Name(ns.0.clone())),
        ipvs: false,
        ..LiveOptions::default()
    };
    let node = collect(&opts).expect("collects").node;
    assert_eq!(
        ethtool(),
        before,
        "collecting changed the device's features"
    );
    let devs = node.offloads.expect("offloads collected");
    assert_eq!(devs.len(), 1, "only the tunnel device: {devs:?}");
    assert_eq!(devs[0].dev, "flannel.1");
    let generic = before
        .lines()
        .find(|l| l.trim().starts_with("tx-checksum-ip-generic:"));
    let on = generic
        .expect("ethtool lists tx-checksum-ip-generic")
        .contains(": on");
    assert_eq!(devs[0].is_on("tx-checksum-ip-generic"), Some(on));
    assert_eq!(node.kernel.as_deref(), Some(sh(&["uname", "-r"]).trim()));
}
