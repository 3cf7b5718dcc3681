//! The part of Calico Felix's iptables rules that decides pod forwarding on
//! a calico-bgp lab node, as `iptables-restore --noflush` input.
//!
//! Modelled on Felix v3.28 (`felix/rules/static.go`:
//! `StaticFilterForwardChains`, `StaticFilterForwardAppendRules`;
//! `felix/rules/dispatch.go`: `WorkloadDispatchChains` and its prefix tree;
//! `felix/rules/endpoints.go`: the `cali-fw-*` / `cali-tw-*` workload
//! chains without policies, with the namespace and service-account profiles
//! `kns.default` / `ksa.default.default`; `felix/iptables/table.go`:
//! `RuleHashes`), with Felix's defaults: mark mask 0xffff0000 (accept
//! 0x10000, pass 0x20000, scratch 0x40000 and 0x80000), workload prefix
//! "cali", VXLAN port 4789, deny action DROP, no host endpoints, no service
//! loop prevention blocks. Each rule carries Felix's `cali:<hash>` comment,
//! computed as Felix computes it (SHA-224 chained over the chain name and
//! each rule as Felix renders it, URL-safe base64, 16 characters); the
//! static hashes equal those seen on real clusters (e.g. `cali-FORWARD`'s
//! first rule is `cali:vjrMJCRpqwy5oRoX`). Outgoing NAT too
//! ([`nat_outgoing_rules`]): `felix/rules/static.go`
//! `StaticNATPostroutingChains` (cali-POSTROUTING: jump to cali-fip-snat,
//! then cali-nat-outgoing; no IPIP or VXLAN tunnel rules) and
//! `felix/rules/nat.go` `NATOutgoingChain` (one MASQUERADE for sources in
//! the `cali40masq-ipam-pools` ipset going to no address in
//! `cali40all-ipam-pools`; `--random-fully` as Felix adds it when the
//! iptables supports it), with the two ipsets as Felix's ipset manager
//! creates them (`hash:net`, maxelem 1048576; [`ipam_pool_sets`]). Not
//! installed: Felix's INPUT, OUTPUT, raw and mangle chains, its nat
//! PREROUTING/OUTPUT chains (they do not decide forwarding or egress NAT
//! between workloads and the outside).

use std::fmt::Write;

use data_encoding::BASE64URL_NOPAD;
use sha2::{Digest, Sha224};

use crate::felix_policy::Tiers;

/// One Felix rule: an optional comment, the match and the action, each as
/// Felix renders it.
pub(crate) struct Rule {
    pub comment: Option<String>,
    pub matches: String,
    pub action: String,
}

pub(crate) fn rule(matches: impl Into<String>, action: impl Into<String>) -> Rule {
    Rule {
        comment: None,
        matches: matches.into(),
        action: action.into(),
    }
}

fn commented(comment: &'static str, matches: impl Into<String>, action: impl Into<String>) -> Rule {
    commented_owned(comment.to_string(), matches, action)
}

pub(crate) fn commented_owned(
    comment: String,
    matches: impl Into<String>,
    action: impl Into<String>,
) -> Rule {
    Rule {
        comment: Some(comment),
        ..rule(matches, action)
    }
}

impl Rule {
    /// Felix's rendering after `-A CHAIN` (`prefix`: the hash comment, or
    /// "HASH" when hashing).
    fn render(&self, prefix: &str) -> String {
        let comment = self
            .comment
            .as_ref()
            .map(|c| format!("-m comment --comment \"{c}\""));
        let parts = [
            Some(prefix.to_string()),
            comment,
            Some(self.matches.clone()),
        ];
        let mut out: Vec<String> = parts.into_iter().flatten().collect();
        out.push(self.action.clone());
        out.retain(|p| !p.is_empty());
        out.join(" ")
    }
}

/// Felix's rule hashes for `rules` in `chain` (`Chain.RuleHashes`).
fn hashes(chain: &str, rules: &[Rule]) -> Vec<String> {
    let mut hash = Sha224::digest(chain.as_bytes()).to_vec();
    let mut out = Vec::with_capacity(rules.len());
    for r in rules {
        let mut s = Sha224::new();
        s.update(&hash);
        s.update(format!("-A {chain} {}", r.render("HASH")).as_bytes());
        hash = s.finalize().to_vec();
        out.push(BASE64URL_NOPAD.encode(&hash)[..16].to_string());
    }
    out
}

/// `rules` as `iptables-restore` lines of `chain` (`verb`: "-A", or
/// "-I FORWARD 1"-style for Felix's inserted rule).
fn lines(out: &mut String, verb: &str, chain: &str, rules: &[Rule]) {
    for (r, h) in rules.iter().zip(hashes(chain, rules)) {
        let tagged = format!("-m comment --comment \"cali:{h}\"");
        let _ = writeln!(out, "{verb} {}", r.render(&tagged));
    }
}

const ACCEPT_MARK: &str = "0x10000/0x10000";
const RETURN_IF_ACCEPTED: &str = "Return if profile accepted";

/// `cali-FORWARD`: clear Calico's marks, host endpoint dispatch, workload
/// dispatch, CIDR block chain.
fn cali_forward() -> Vec<Rule> {
    vec![
        rule("", "--jump MARK --set-mark 0/0xe0000"),
        rule("-m mark --mark 0/0x10000", "--jump cali-from-hep-forward"),
        rule("--in-interface cali+", "--jump cali-from-wl-dispatch"),
        rule("--out-interface cali+", "--jump cali-to-wl-dispatch"),
        rule("", "--jump cali-to-hep-forward"),
        rule("", "--jump cali-cidr-block"),
    ]
}

/// The rules Felix appends to FORWARD: accept what policy accepted.
fn forward_append() -> Vec<Rule> {
    vec![
        commented(
            "Policy explicitly accepted packet.",
            format!("-m mark --mark {ACCEPT_MARK}"),
            "--jump ACCEPT",
        ),
        rule("", format!("--jump MARK --set-mark {ACCEPT_MARK}")),
    ]
}

/// A workload endpoint chain without policies for a pod in namespace `ns`
/// (service account "default"): conntrack, clear the accept mark, (egress
/// only) drop encapsulated packets, then the namespace and service-account
/// profiles. With `policies` (the chains of the policies that select the
/// workload in this direction) the default tier comes before the profiles
/// (`endpointIptablesChain`): a policy that accepts returns, none that
/// passes drops.
fn endpoint_chain(egress: bool, ns: &str, policies: &[String]) -> Vec<Rule> {
    let mut rules = vec![
        rule(
            "-m conntrack --ctstate RELATED,ESTABLISHED",
            "--jump ACCEPT",
        ),
        rule("-m conntrack --ctstate INVALID", "--jump DROP"),
        rule("", "--jump MARK --set-mark 0/0x10000"),
    ];
    if egress {
        rules.push(commented(
            "Drop VXLAN encapped packets originating in workloads",
            "-p 17 -m multiport --destination-ports 4789",
            "--jump DROP",
        ));
        rules.push(commented(
            "Drop IPinIP encapped packets originating in workloads",
            "-p 4",
            "--jump DROP",
        ));
    }
    rules.extend(tier(policies));
    let dir = if egress { "pro" } else { "pri" };
    for profile in [format!("kns.{ns}"), format!("ksa.{ns}.default")] {
        rules.push(rule("", format!("--jump cali-{dir}-{profile}")));
        let accepted = format!("-m mark --mark {ACCEPT_MARK}");
        rules.push(commented(RETURN_IF_ACCEPTED, accepted, "--jump RETURN"));
    }
    rules.push(commented("Drop if no profiles matched", "", "--jump DROP"));
    rules
}

/// The default tier's rules of an endpoint chain (none without policies).
fn tier(policies: &[String]) -> Vec<Rule> {
    if policies.is_empty() {
        return Vec::new();
    }
    let pass_clear = "-m mark --mark 0/0x20000";
    let start = "Start of tier default".to_string();
    let mut rules = vec![commented_owned(
        start,
        "",
        "--jump MARK --set-mark 0/0x20000",
    )];
    for p in policies {
        rules.push(rule(pass_clear, format!("--jump {p}")));
        let accepted = format!("-m mark --mark {ACCEPT_MARK}");
        rules.push(commented(
            "Return if policy accepted",
            accepted,
            "--jump RETURN",
        ));
    }
    let drop = "Drop if no policies passed packet";
    rules.push(commented(drop, pass_clear, "--jump DROP"));
    rules
}

/// The namespace profile: allow everything (the service-account profile
/// has no rules).
fn allow_all_profile() -> Vec<Rule> {
    vec![
        rule("", format!("--jump MARK --set-mark {ACCEPT_MARK}")),
        rule(format!("-m mark --mark {ACCEPT_MARK}"), "--jump RETURN"),
    ]
}

/// One dispatch chain (`dir`: "from" matches `--in-interface` and goes to
/// `cali-fw-*`, "to" `--out-interface` and `cali-tw-*`) with Felix's prefix
/// tree: names sharing the next character after the common prefix get a
/// child chain. Returns (chain, rules), children first.
fn dispatch(dir: &str, names: &[String]) -> Vec<(String, Vec<Rule>)> {
    let (opt, pfx) = if dir == "from" {
        ("--in-interface", "cali-fw-")
    } else {
        ("--out-interface", "cali-tw-")
    };
    let root = format!("cali-{dir}-wl-dispatch");
    let unknown = || commented("Unknown interface", "", "--jump DROP");
    let common = common_prefix(names);
    let mut chains = Vec::new();
    let mut root_rules = Vec::new();
    for (prefix, group) in bins(names, common.len()) {
        if group.len() == 1 {
            let n = group[0];
            root_rules.push(rule(format!("{opt} {n}"), format!("--goto {pfx}{n}")));
            continue;
        }
        let child = format!("{root}-{}", &prefix[common.len()..]);
        root_rules.push(rule(format!("{opt} {prefix}+"), format!("--goto {child}")));
        let mut rules: Vec<Rule> = group
            .iter()
            .map(|n| rule(format!("{opt} {n}"), format!("--goto {pfx}{n}")))
            .collect();
        rules.push(unknown());
        chains.push((child, rules));
    }
    root_rules.push(unknown());
    chains.push((root, root_rules));
    chains
}

fn common_prefix(names: &[String]) -> String {
    let Some(first) = names.first() else {
        return String::new();
    };
    let len = names.iter().fold(first.len(), |len, n| {
        first
            .bytes()
            .zip(n.bytes())
            .take(len)
            .take_while(|(a, b)| a == b)
            .count()
    });
    first[..len].to_string()
}

/// Sorted names binned by their first `at + 1` characters, in order.
fn bins(names: &[String], at: usize) -> Vec<(String, Vec<&String>)> {
    let mut sorted: Vec<&String> = names.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut out: Vec<(String, Vec<&String>)> = Vec::new();
    for n in sorted {
        let key = n[..(at + 1).min(n.len())].to_string();
        match out.last_mut() {
            Some((k, group)) if *k == key => group.push(n),
            _ => out.push((key, vec![n])),
        }
    }
    out
}

/// A workload of the node: its interface and the policies it gets.
pub(crate) struct Workload {
    pub iface: String,
    pub tiers: Tiers,
}

/// Every Felix chain a node with `workloads` holds, in the order Felix's
/// renderer lists them, then the policy chains.
fn chains(workloads: &[Workload], policies: Vec<(String, Vec<Rule>)>) -> Vec<(String, Vec<Rule>)> {
    let ifaces: Vec<String> = workloads.iter().map(|w| w.iface.clone()).collect();
    let ifaces = &ifaces[..];
    let mut chains: Vec<(String, Vec<Rule>)> = vec![("cali-FORWARD".into(), cali_forward())];
    for name in [
        "cali-from-hep-forward",
        "cali-to-hep-forward",
        "cali-cidr-block",
    ] {
        chains.push((name.into(), Vec::new()));
    }
    chains.extend(dispatch("from", ifaces));
    chains.extend(dispatch("to", ifaces));
    for w in workloads {
        let (i, t) = (&w.iface, &w.tiers);
        chains.push((
            format!("cali-fw-{i}"),
            endpoint_chain(true, "default", &t.egress),
        ));
        chains.push((
            format!("cali-tw-{i}"),
            endpoint_chain(false, "default", &t.ingress),
        ));
    }
    for dir in ["pro", "pri"] {
        chains.push((format!("cali-{dir}-kns.default"), allow_all_profile()));
        chains.push((format!("cali-{dir}-ksa.default.default"), Vec::new()));
    }
    chains.extend(policies);
    chains
}

/// Felix's forwarding rules for a node with `workloads` and the policy
/// chains they jump to, as `iptables-restore --noflush` input for the
/// filter table.
pub(crate) fn forward_rules(workloads: &[Workload], policies: Vec<(String, Vec<Rule>)>) -> String {
    let chains = chains(workloads, policies);
    let mut out = String::from("*filter\n");
    for (name, _) in &chains {
        let _ = writeln!(out, ":{name} - [0:0]");
    }
    let insert = [rule("", "--jump cali-FORWARD")];
    lines(&mut out, "-I FORWARD 1", "FORWARD", &insert);
    lines(&mut out, "-A FORWARD", "FORWARD", &forward_append());
    for (name, rules) in &chains {
        lines(&mut out, &format!("-A {name}"), name, rules);
    }
    out.push_str("COMMIT\n");
    out
}

/// Felix's IPAM pool ipsets (`IPSetIDNATOutgoingMasqPools`,
/// `IPSetIDNATOutgoingAllPools`, v4 names) holding `pools` (every pool
/// with natOutgoing), as `ipset restore` input.
pub fn ipam_pool_sets(pools: &[ipnet::Ipv4Net]) -> String {
    let mut out = String::new();
    for set in [MASQ_POOLS, ALL_POOLS] {
        let _ = writeln!(
            out,
            "create {set} hash:net family inet hashsize 1024 maxelem 1048576"
        );
        for p in pools {
            let _ = writeln!(out, "add {set} {p}");
        }
    }
    out
}

const MASQ_POOLS: &str = "cali40masq-ipam-pools";
const ALL_POOLS: &str = "cali40all-ipam-pools";

/// `cali-nat-outgoing`: masquerade pod traffic leaving every IP pool (no
/// rule when `masquerade` is false: masquerade-missing's node).
fn nat_outgoing(masquerade: bool) -> Vec<Rule> {
    let m = format!("-m set --match-set {MASQ_POOLS} src -m set ! --match-set {ALL_POOLS} dst");
    match masquerade {
        true => vec![rule(m, "--jump MASQUERADE --random-fully")],
        false => Vec::new(),
    }
}

/// Felix's nat table chains for outgoing NAT, as `iptables-restore
/// --noflush` input (its jump inserted at the top of POSTROUTING).
pub fn nat_outgoing_rules(masquerade: bool) -> String {
    let chains = [
        (
            "cali-POSTROUTING",
            vec![
                rule("", "--jump cali-fip-snat"),
                rule("", "--jump cali-nat-outgoing"),
            ],
        ),
        ("cali-fip-snat", Vec::new()),
        ("cali-nat-outgoing", nat_outgoing(masquerade)),
    ];
    let mut out = String::from("*nat\n");
    for (name, _) in &chains {
        let _ = writeln!(out, ":{name} - [0:0]");
    }
    let insert = [rule("", "--jump cali-POSTROUTING")];
    lines(&mut out, "-I POSTROUTING 1", "POSTROUTING", &insert);
    for (name, rules) in &chains {
        lines(&mut out, &format!("-A {name}"), name, rules);
    }
    out.push_str("COMMIT\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nat_outgoing_masquerades_pool_sources_leaving_the_pools() {
        let with = nat_outgoing_rules(true);
        assert!(
            with.contains("-A cali-nat-outgoing -m comment --comment \"cali:"),
            "{with}"
        );
        assert!(with.contains("-m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst --jump MASQUERADE --random-fully"));
        assert!(with.contains("-I POSTROUTING 1 -m comment --comment \"cali:"));
        // The hashes real Felix nodes show (iptables-save on clusters with
        // natOutgoing pools).
        for (chain, hash) in [
            ("POSTROUTING", "O3lYWMrLQYEMJtB5"),
            ("cali-POSTROUTING", "Z-c7XtVd2Bq7s_hA"),
            ("cali-POSTROUTING", "nYKhEzDlr11Jccal"),
            ("cali-nat-outgoing", "flqWnvo8yq4ULQLa"),
        ] {
            let line = with.lines().find(|l| l.contains(hash));
            assert!(
                line.is_some_and(|l| l.contains(&format!(" {chain} "))),
                "{hash}\n{with}"
            );
        }
        let without = nat_outgoing_rules(false);
        assert!(!without.contains("MASQUERADE") && without.contains(":cali-nat-outgoing - [0:0]"));
        let sets = ipam_pool_sets(&["10.244.0.0/16".parse().expect("cidr")]);
        assert!(
            sets.contains("add cali40all-ipam-pools 10.244.0.0/16\n"),
            "{sets}"
        );
    }

    /// Hashes as real Felix-programmed nodes show them in `iptables-save`.
    #[test]
    fn hashes_equal_felix_on_real_nodes() {
        assert_eq!(
            hashes("cali-FORWARD", &cali_forward()),
            [
                "vjrMJCRpqwy5oRoX",
                "A_sPAO0mcxbT9mOV",
                "8ZoYfO5HKXWbB3pk",
                "jdEuaPBe14V2hutn",
                "12bc6HljsMKsmfr-",
                "NOSxoaGx8OIstr1z"
            ]
        );
        let insert = [rule("", "--jump cali-FORWARD")];
        assert_eq!(hashes("FORWARD", &insert), ["wUHhoiAYhphO9Mso"]);
        let profile = hashes("cali-pro-kns.alpha", &allow_all_profile());
        assert_eq!(profile, ["_UCrjWldmFR3jSBk", "R8F0l7IjPYOuy8nG"]);
    }

    #[test]
    fn endpoint_chain_hashes_equal_a_real_node() {
        // A Felix node's cali-fw chain for a pod in namespace "demo".
        let got = hashes("cali-fw-azve0cf0fbcf9f", &endpoint_chain(true, "demo", &[]));
        assert_eq!(got[0], "jHAIP-UN0GynRTqx");
        assert_eq!(got[3], "X5UXgW1SU0LxFZdH");
        assert_eq!(got[5], "qaXL-O9IC8z_wRPl");
        assert_eq!(got[9], "elY1hL2oTRHe19ET");
    }

    #[test]
    fn dispatch_builds_felix_prefix_tree() {
        let names: Vec<String> = ["cali0aa", "cali0bb", "cali4cc"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let chains = dispatch("from", &names);
        let shown: Vec<(String, Vec<String>)> = chains
            .iter()
            .map(|(c, rs)| (c.clone(), rs.iter().map(|r| r.render("")).collect()))
            .collect();
        assert_eq!(shown[0].0, "cali-from-wl-dispatch-0");
        assert_eq!(
            shown[0].1[1],
            "--in-interface cali0bb --goto cali-fw-cali0bb"
        );
        assert_eq!(shown[1].0, "cali-from-wl-dispatch");
        assert_eq!(
            shown[1].1,
            [
                "--in-interface cali0+ --goto cali-from-wl-dispatch-0",
                "--in-interface cali4cc --goto cali-fw-cali4cc",
                "-m comment --comment \"Unknown interface\" --jump DROP"
            ]
        );
    }
}
