//! Live netfilter collection in a network namespace this test creates
//! (`cnl-nfl-<pid>`, deleted by a guard) holding real rules in every
//! backend: iptables-nft (kube-proxy and Flannel chain shapes), the legacy
//! backend, native nftables (kube-proxy nftables-mode shape) and an ipset.
//! Proves (1) the live collector reads what the tools print, and (2)
//! nothing cnictl runs changes the ruleset: `iptables-save`,
//! `iptables-legacy-save`, `nft list ruleset` and `ipset save` are
//! byte-identical before and after the live collector and
//! `lab/collect-node.sh` ran. Needs root, iproute2, iptables, nftables and
//! ipset; skips with a printed reason otherwise.

use std::io::Write;
use std::process::{Command, Stdio};

use cnictl_collect::live::{collect, LiveOptions, NetnsTarget};
use cnictl_model::netfilter::{Backend, Source};

struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn data(name: &str) -> String {
    let path = format!(
        "{}/../formats/tests/data/netfilter/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn why_not() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root".into());
    }
    ["ip", "iptables-restore", "iptables-legacy", "nft", "ipset"]
        .into_iter()
        .find_map(|tool| {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .ok()?;
            (!found.status.success()).then(|| {
                format!("{tool} not installed (apt-get install iproute2 iptables nftables ipset)")
            })
        })
}

fn run(ns: &str, args: &[&str], input: Option<&str>) -> String {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = input {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every backend's rules as the tools print them, without counters or the
/// dump-time header lines.
fn rulesets(ns: &str) -> String {
    let mut all = String::new();
    for args in [
        &["iptables-save"][..],
        &["ip6tables-save"],
        &["iptables-legacy-save"],
        &["nft", "list", "ruleset"],
        &["ipset", "save"],
    ] {
        let out = run(ns, args, None);
        all.extend(
            out.lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| format!("{l}\n")),
        );
    }
    all
}

fn load_rules(ns: &str) {
    run(
        ns,
        &["ipset", "create", "KUBE-CLUSTER-IP", "hash:ip,port"],
        None,
    );
    run(
        ns,
        &["ipset", "add", "KUBE-CLUSTER-IP", "10.96.0.10,udp:53"],
        None,
    );
    run(
        ns,
        &["iptables-restore"],
        Some(&data("iptables-restore-input.rules")),
    );
    run(
        ns,
        &[
            "iptables-legacy",
            "-A",
            "INPUT",
            "-p",
            "tcp",
            "--dport",
            "9",
            "-j",
            "DROP",
        ],
        None,
    );
    run(
        ns,
        &["nft", "-f", "-"],
        Some(&data("nft-ruleset-kube-proxy.nft")),
    );
}

#[test]
fn live_netfilter_reads_every_backend_and_changes_nothing() {
    if let Some(why) = why_not() {
        eprintln!("skipping live_netfilter_reads_every_backend_and_changes_nothing: {why}");
        return;
    }
    let ns = Netns(format!("cnl-nfl-{}", std::process::id()));
    let _ = Command::new("ip").args(["netns", "del", &ns.0]).status();
    assert!(Command::new("ip")
        .args(["netns", "add", &ns.0])
        .status()
        .unwrap()
        .success());
    load_rules(&ns.0);
    let before = rulesets(&ns.0);
    let opts = LiveOptions {
        netns: Some(NetnsTarget::Name(ns.0.clone())),
        ipvs: false,
        ..LiveOptions::default()
    };
    let got = collect(&opts).unwrap();
    let nf = got.node.netfilter.expect("netfilter collected");
    assert_eq!(
        nf.sources,
        [
            Source::IptablesSave,
            Source::Ip6tablesSave,
            Source::IptablesLegacySave,
            Source::NftRuleset
        ],
        "{:?}",
        got.notes
    );
    let has = |b: Backend, name: &str| nf.tables.iter().any(|t| t.backend == b && t.name == name);
    assert!(
        has(Backend::IptablesNft, "nat")
            && has(Backend::Legacy, "filter")
            && has(Backend::Nftables, "kube-proxy")
    );
    assert_eq!(nf.ipsets.as_ref().map(|s| s[0].members.len()), Some(1));
    let script = format!("{}/../lab/collect-node.sh", env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("nodes/n");
    run(
        &ns.0,
        &["sh", &script, "--no-pods", dir.to_str().unwrap()],
        None,
    );
    assert!(
        dir.join("iptables-legacy-save.txt").is_file(),
        "a mixed node gets the legacy dump"
    );
    assert_eq!(rulesets(&ns.0), before, "collecting changed the ruleset");
}
