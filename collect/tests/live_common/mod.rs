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

/// Builds the node namespace `a` (peer node `b`, pod `p`): veth across
/// namespaces and within one, a bridge with static FDB entries, a
/// Flannel-style VXLAN device with FDB and neighbour entries, routes of
/// every type in main, local and tables 100 / 1000 (> 255), multipath,
/// IPv6, and policy rules of each action. Nothing in the root namespace.
pub fn build_node(lab: &Lab, a: &str, b: &str, p: &str) {
    let ip = |ns: &str, cmd: &str| lab.ip(ns, cmd);
    ip(
        a,
        &format!("link add veth0 type veth peer name eth0 netns {b}"),
    );
    ip(
        a,
        &format!("link add vpod type veth peer name eth0 netns {p}"),
    );
    ip(a, "link add br0 type bridge");
    ip(a, "link add vp0 type veth peer name vp1");
    ip(a, "link set vp0 master br0");
    ip(a, "link set vpod master br0");
    ip(a, "link add flannel.1 address 0e:00:00:00:00:01 type vxlan id 1 local 192.0.2.11 dev veth0 dstport 8472 nolearning");
    ip(a, "link set flannel.1 mtu 1450");
    for dev in ["lo", "veth0", "br0", "vp0", "vp1", "vpod", "flannel.1"] {
        ip(a, &format!("link set {dev} up"));
    }
    for dev in ["lo", "eth0"] {
        ip(b, &format!("link set {dev} up"));
        ip(p, &format!("link set {dev} up"));
    }
    ip(b, "addr add 192.0.2.12/24 dev eth0");
    ip(p, "addr add 10.244.1.5/24 dev eth0");
    ip(p, "route add default via 10.244.1.1");
    ip(a, "addr add 192.0.2.11/24 dev veth0");
    ip(a, "addr add 2001:db8::11/64 dev veth0");
    ip(a, "addr add 10.244.1.1/24 dev br0");
    ip(a, "addr add 10.244.1.0/32 dev flannel.1");
    ip(a, "addr add 10.99.0.1 peer 10.99.0.2/32 dev vp1");
    ip(
        a,
        "neigh replace 10.244.2.0 lladdr 0e:00:00:00:00:02 dev flannel.1 nud permanent",
    );
    ip(
        a,
        "neigh replace 192.0.2.99 lladdr 02:00:00:00:00:99 dev veth0 nud stale",
    );
    ip(
        a,
        "neigh replace 2001:db8::99 lladdr 02:00:00:00:00:98 dev veth0 nud permanent router",
    );
    run_bridge(
        a,
        "fdb append 0e:00:00:00:00:02 dev flannel.1 dst 192.0.2.12 self permanent",
    );
    run_bridge(
        a,
        "fdb append 00:00:00:00:00:00 dev flannel.1 dst 192.0.2.13 self permanent",
    );
    run_bridge(a, "fdb add 02:11:22:33:44:55 dev vp0 master static");
    run_bridge(a, "fdb add 02:00:00:00:00:01 dev vp0 master extern_learn");
    run_bridge(a, "fdb add 02:00:00:00:00:02 dev vp0 master static sticky");
    run_bridge(a, "fdb add 02:00:00:00:00:04 dev vp0 master dynamic");
    run_bridge(
        a,
        "fdb append 00:00:00:00:00:00 dev flannel.1 dst 192.0.2.14 vni 5 port 4789 self permanent",
    );
    for r in [
        "route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink",
        "route add default via 192.0.2.1 dev veth0 metric 100",
        "route add blackhole 10.9.0.0/16 proto 80",
        "route add unreachable 10.8.0.0/16 table 1000",
        "route add prohibit 10.7.0.0/16 table 100",
        "route add throw 10.4.0.0/16 table 100",
        "route add 10.6.0.0/16 table 1000 nexthop via 192.0.2.2 dev veth0 weight 3 nexthop via 192.0.2.3 dev veth0",
        "route add 10.5.0.0/16 via 192.0.2.4 src 192.0.2.11 proto bird",
        "route add 10.244.1.5 dev vpod scope link",
        "-6 route add 2001:db8:1::/64 via 2001:db8::1 dev veth0",
        "-6 route add 2001:db8:2::/64 table 1000 dev veth0 metric 5",
        "-6 route add 2001:db8:3::/64 table 1000 nexthop via 2001:db8::2 dev veth0 nexthop via 2001:db8::3 dev veth0 weight 2",
        "rule add from 10.244.0.0/16 to 10.6.0.0/16 lookup 1000 pref 100",
        "rule add fwmark 0x10/0xff lookup 100 pref 200",
        "rule add fwmark 0x20 iif br0 lookup 100 pref 210",
        "rule add iif br0 goto 32766 pref 300",
        "rule add lookup main suppress_prefixlength 0 pref 400",
        "rule add not to 10.0.0.0/8 blackhole pref 500",
        "rule add oif veth0 unreachable pref 510",
        "rule add to 10.1.0.0/16 prohibit pref 520",
        "rule add nop pref 530",
        "-6 rule add oif veth0 lookup 1000 pref 600",
    ] {
        ip(a, r);
    }
}

pub fn run_bridge(ns: &str, args: &str) {
    let mut argv = vec!["bridge", "-n", ns];
    argv.extend(args.split_whitespace());
    run(&argv);
}
