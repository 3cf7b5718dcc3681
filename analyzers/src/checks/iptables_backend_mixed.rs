//! Check: iptables-backend-mixed
//!
//! The legacy x_tables backend (`iptables-legacy`) and nf_tables (through
//! `iptables-nft` or native `nft`) both run at every hook, so a node whose
//! components write to different backends has two rule sets, each invisible
//! to the other's tools: a component that flushes or checks "its" rules
//! misses the other half, and an accept in one does not stop a drop in the
//! other. Rules on both sides: warning. A table counts when one of its
//! chains holds a rule or a built-in chain's policy is not ACCEPT (the
//! empty built-in chains `iptables` creates on first use do not count).
//! Skipped without netfilter dumps. The legacy side is read from the
//! `*-legacy-save.txt` dumps (collected only when that backend has tables)
//! and from an `iptables-save.txt` whose header says it is legacy.

use cnictl_model::netfilter::{Backend, Chain, Source, Table, Verdict};

use super::{nf, render, NodeCx, Out};
use crate::code::{Code, Input};
use crate::finding::Severity;

pub(crate) const CODE: Code = Code::IptablesBackendMixed;

pub(crate) fn check(cx: &NodeCx<'_>, out: &mut Out) {
    let Some(netfilter) = &cx.node.netfilter else {
        out.skip_missing(CODE, cx.name(), Input::Netfilter, nf::MISSING);
        return;
    };
    let used: Vec<&Table> = netfilter
        .tables
        .iter()
        .filter(|t| holds_rules(t) && !twice(&netfilter.tables, t))
        .collect();
    let (legacy, nft): (Vec<&Table>, Vec<&Table>) =
        used.into_iter().partition(|t| t.backend == Backend::Legacy);
    if !legacy.is_empty() && !nft.is_empty() {
        mixed(cx, &legacy, &nft, out);
    }
}

/// An iptables-nft table `nft -j` printed too: counted once, from
/// iptables-save (as the evaluator reads it).
fn twice(all: &[Table], t: &Table) -> bool {
    t.source == Source::NftRuleset
        && t.backend == Backend::IptablesNft
        && all
            .iter()
            .any(|o| o.source != Source::NftRuleset && o.family == t.family && o.name == t.name)
}

fn holds_rules(t: &Table) -> bool {
    t.chains.iter().any(counts)
}

/// A chain with rules, or a built-in chain whose policy drops.
fn counts(c: &Chain) -> bool {
    let policy_set = c.base.as_ref().is_some_and(|b| b.policy != Verdict::Accept);
    !c.rules.is_empty() || policy_set
}

fn mixed(cx: &NodeCx<'_>, legacy: &[&Table], nft: &[&Table], out: &mut Out) {
    let node = cx.name();
    let summary = format!(
        "{node} has rules in both the legacy iptables backend ({}) and nf_tables ({}): both run, each invisible to the other's tools",
        names(legacy),
        names(nft)
    );
    let mut evidence = Vec::new();
    for t in legacy.iter().chain(nft) {
        evidence.extend(render::capped(table_lines(t), 6));
    }
    let hint = format!(
        "on {node}: find which component writes each side (`iptables-legacy-save` vs `iptables-nft-save` / `nft list ruleset`), move them all to one backend (update-alternatives --set iptables /usr/sbin/iptables-nft on Debian), then flush the other (iptables-legacy -F; iptables-legacy -t nat -F; …) and restart the components so they re-create their rules"
    );
    out.push(CODE, Severity::Warning, Some(node), summary, evidence, hint);
}

/// `ip filter (legacy)`, … for the summary.
fn names(tables: &[&Table]) -> String {
    let v: Vec<String> = tables.iter().map(|t| table_name(t)).collect();
    v.join(", ")
}

fn table_name(t: &Table) -> String {
    format!("{} {}", nf::family(t.family), t.name)
}

/// One line per chain that counts: `ip filter INPUT (iptables-legacy-save.txt,
/// legacy): 1 rule, first: -A INPUT -p tcp -m tcp --dport 9 -j DROP`.
fn table_lines(t: &Table) -> Vec<String> {
    let backend = match t.backend {
        Backend::Legacy => "legacy",
        Backend::IptablesNft => "iptables-nft",
        Backend::Nftables => "nftables",
    };
    t.chains
        .iter()
        .filter(|c| counts(c))
        .map(|c| {
            let head = format!(
                "{} {} ({}, {backend})",
                table_name(t),
                c.name,
                t.source.file()
            );
            match c.rules.first() {
                Some(r) => format!("{head}: {} rule(s), first: {}", c.rules.len(), r.text),
                None => format!("{head}: no rules, policy {}", policy(c)),
            }
        })
        .collect()
}

fn policy(c: &Chain) -> &'static str {
    match c.base.as_ref().map(|b| &b.policy) {
        Some(Verdict::Drop) => "DROP",
        Some(Verdict::Accept) => "ACCEPT",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use cnictl_gen::GenModel;
    use cnictl_model::netfilter::Source;

    use super::CODE;
    use crate::checks::nftest::*;

    #[test]
    fn rules_in_legacy_and_nft_backends_are_mixed() {
        let mut snap = cluster(GenModel::FlannelVxlan);
        let nft = formats_dump("iptables-save-nft.txt");
        let legacy = formats_dump("iptables-legacy-save.txt");
        set_rules(
            &mut snap,
            "node-1",
            &[
                (Source::IptablesSave, &nft),
                (Source::IptablesLegacySave, &legacy),
            ],
        );
        let f = findings(&snap, CODE);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(
            f[0].summary,
            "node-1 has rules in both the legacy iptables backend (ip filter) and nf_tables (ip filter, ip nat): both run, each invisible to the other's tools"
        );
        assert!(f[0].evidence.contains(&"ip filter INPUT (iptables-legacy-save.txt, legacy): 1 rule(s), first: -A INPUT -p tcp -m tcp --dport 9 -j DROP".to_string()), "{:#?}", f[0].evidence);
        let forward = "ip filter FORWARD (iptables-save.txt, iptables-nft): 7 rule(s), first: -A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD";
        assert!(
            f[0].evidence.iter().any(|e| e == forward),
            "{:#?}",
            f[0].evidence
        );
    }

    #[test]
    fn empty_accept_chains_of_the_legacy_backend_do_not_count() {
        let mut snap = cluster(GenModel::FlannelVxlan);
        let nft = formats_dump("iptables-save-nft.txt");
        let legacy = dump("legacy-empty-filter");
        set_rules(
            &mut snap,
            "node-1",
            &[
                (Source::IptablesSave, &nft),
                (Source::IptablesLegacySave, &legacy),
            ],
        );
        assert!(findings(&snap, CODE).is_empty());
    }

    #[test]
    fn skipped_when_netfilter_was_not_collected() {
        let snap = cluster(GenModel::FlannelVxlan);
        let s = skips(&snap, CODE);
        assert_eq!(
            s[0].reason,
            "node-1 has no iptables-save.txt / nft-ruleset.json: netfilter checks skipped"
        );
    }
}
