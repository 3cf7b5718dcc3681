//! Netfilter evaluation the netfilter checks share: the node's ruleset
//! compiled once per node, a packet walked through a sequence of hooks (as
//! the kernel runs them for a forwarded, received or sent packet), and the
//! deciding rule rendered as `iptables-save` / `nft` print it, with the
//! command that removes it.

use std::collections::HashMap;
use std::net::IpAddr;

use cnictl_dataplane::nf::{HookVerdict, NfPacket, RuleRef, Ruleset};
use cnictl_model::netfilter::{Backend, Family, Hook, Source, Verdict};
use cnictl_model::{cidr, Link, RouteType};

use super::fib::{self, Lookup};
use super::nfclass::{AddrClasses, Class};
use super::nfview::NodeAddrs;
use super::{NodeCx, Out};
use crate::code::{Code, Input};

/// What every netfilter check says it skipped without netfilter dumps (one
/// wording, so `check` folds them into one line).
pub(crate) const MISSING: &str = "netfilter checks";

/// A node's compiled ruleset, what its rules may ask of the node, and
/// which addresses they can tell apart.
pub(crate) struct NodeNf<'a> {
    pub rules: Ruleset,
    pub view: NodeAddrs<'a>,
    classes: Option<AddrClasses>,
}

impl<'a> NodeNf<'a> {
    pub fn new(cx: &NodeCx<'a>) -> Option<Self> {
        let nf = cx.node.netfilter.as_ref()?;
        let rules = Ruleset::compile(nf);
        let classes = AddrClasses::new(&rules);
        Some(NodeNf {
            rules,
            view: NodeAddrs::new(cx.node),
            classes,
        })
    }

    /// The class of `ip` for this ruleset (`None`: no grouping).
    pub fn class_of(&self, ip: IpAddr) -> Option<Class> {
        Some(self.classes.as_ref()?.of(ip, &self.view))
    }
}

/// Walks kept by the class of their probe: one walk per class.
pub(crate) struct Memo<K> {
    ends: HashMap<K, Vec<End>>,
}

impl<K: std::hash::Hash + Eq> Memo<K> {
    pub fn new() -> Self {
        Memo {
            ends: HashMap::new(),
        }
    }

    /// The ends of the probe whose class is `key`, walking only the first
    /// time a class is seen (`None`: no class, always walk).
    pub fn ends(&mut self, key: Option<K>, walk: impl FnOnce() -> Vec<End>) -> Vec<End> {
        match key {
            Some(k) => self.ends.entry(k).or_insert_with(walk).clone(),
            None => walk(),
        }
    }
}

/// The node's ruleset for a check, or none after recording why the check
/// was skipped (netfilter not collected, or no CNI model to say what must
/// pass).
pub(crate) fn ready<'c, 'e>(
    cx: &'c NodeCx<'e>,
    code: Code,
    what: &str,
    out: &mut Out,
) -> Option<&'c NodeNf<'e>> {
    let node = cx.name();
    if cx.node.netfilter.is_none() {
        out.skip_missing(code, node, Input::Netfilter, MISSING);
        return None;
    }
    if cx.model.profile().is_none() {
        let why = format!(
            "{node} has no known CNI model, so what netfilter must pass is unknown: {what} skipped"
        );
        out.skip(code, Some(node), why);
        return None;
    }
    cx.nf()
}

/// How one packet's way through a sequence of hooks ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum End {
    Accept,
    Drop(RuleRef),
    Reject(RuleRef),
    Unknown(RuleRef, String),
}

impl End {
    fn of(v: HookVerdict) -> Self {
        match v {
            HookVerdict::Accept => End::Accept,
            HookVerdict::Drop(r) => End::Drop(r),
            HookVerdict::Reject(r, _) => End::Reject(r),
            HookVerdict::Unknown(r, why) => End::Unknown(r, why),
        }
    }
}

/// Every way `pkt` ends through `hooks`, in order: each path a hook
/// accepts goes on to the next hook with the packet as the hook left it
/// (DNAT, marks). Before FORWARD the route is looked up again (a DNAT in
/// PREROUTING changes it); OUTPUT and POSTROUTING look it up when the
/// caller left the out device unset. Equal packets and equal ends are kept
/// once, so a hook's forks cost only when they differ.
pub(crate) fn walk(
    nf: &NodeNf<'_>,
    hooks: &[Hook],
    pkt: NfPacket,
    route: &dyn Fn(IpAddr) -> Option<String>,
) -> Vec<End> {
    let mut open = vec![pkt];
    let mut ends = Vec::new();
    for &hook in hooks {
        let mut next: Vec<NfPacket> = Vec::new();
        for mut p in open {
            if hook == Hook::Forward || (p.oif.is_none() && after_routing(hook)) {
                p.oif = route(p.dst);
            }
            for path in nf.rules.eval_hook(hook, &p, &nf.view, false) {
                match path.verdict {
                    HookVerdict::Accept => push_unique(&mut next, path.packet),
                    v => push_unique(&mut ends, End::of(v)),
                }
            }
        }
        open = next;
    }
    if !open.is_empty() {
        push_unique(&mut ends, End::Accept);
    }
    ends
}

fn after_routing(hook: Hook) -> bool {
    matches!(hook, Hook::Forward | Hook::Output | Hook::Postrouting)
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

/// The device the node's routes send `ip` out of (the first path's), as
/// the checks' FIB decides it; `None` for no route, a blackhole or a route
/// without a device.
pub(crate) fn dev_to<'e>(cx: &NodeCx<'e>, ip: IpAddr) -> Option<&'e str> {
    match cx.fib.lookup(&cidr::host(ip)) {
        Lookup::Route(r) => fib::paths(r).find_map(|(_, dev)| dev),
        _ => None,
    }
}

/// Whether the node's routes blackhole `ip` (Calico's block routes: the
/// addresses of its block no pod holds).
pub(crate) fn blackholed(cx: &NodeCx<'_>, ip: IpAddr) -> bool {
    matches!(cx.fib.lookup(&cidr::host(ip)), Lookup::Route(r) if r.route_type == RouteType::Blackhole)
}

/// Whether the deciding rule lives in a NetworkPolicy agent's chain, whose
/// drops are policy, not a fault: Calico's policy, profile and endpoint
/// chains (felix/rules/rule_defs.go, Calico v3.28: `ChainNamePrefix`
/// `cali-` + `pi-`, `po-`, `pri-`, `pro-`, `gi-`, `go-`, `tw-`, `fw-`) and kube-router's
/// (pkg/controllers/netpol, v2.1: `KUBE-NWPLCY-`, `KUBE-POD-FW-`).
pub(crate) fn is_policy_chain(name: &str) -> bool {
    const CALICO: [&str; 8] = ["pi-", "po-", "pri-", "pro-", "gi-", "go-", "tw-", "fw-"];
    let calico = name
        .strip_prefix("cali-")
        .is_some_and(|rest| CALICO.iter().any(|p| rest.starts_with(p)));
    calico || name.starts_with("KUBE-NWPLCY-") || name.starts_with("KUBE-POD-FW-")
}

/// The chain a rule reference is in.
pub(crate) fn chain_name(rs: &Ruleset, r: RuleRef) -> &str {
    &rs.chain(r.chain).name
}

pub(crate) fn family(f: Family) -> &'static str {
    match f {
        Family::Ip => "ip",
        Family::Ip6 => "ip6",
        Family::Inet => "inet",
        Family::Bridge => "bridge",
        Family::Arp => "arp",
        Family::Netdev => "netdev",
    }
}

fn backend(b: Backend) -> &'static str {
    match b {
        Backend::Legacy => "legacy",
        Backend::IptablesNft => "iptables-nft",
        Backend::Nftables => "nftables",
    }
}

/// `ip filter FORWARD #3` / `inet kube-proxy filter-forward handle 12` /
/// `ip filter FORWARD policy DROP`: where the decision was taken.
pub(crate) fn rule_short(rs: &Ruleset, r: RuleRef) -> String {
    let t = rs.table(r.chain);
    let chain = rs.chain(r.chain);
    let head = format!("{} {} {}", family(t.family), t.name, chain.name);
    match r.rule {
        Some(i) => {
            let rule = rs.rule(r.chain, i as usize);
            match rule.handle {
                Some(h) => format!("{head} handle {h}"),
                None => format!("{head} #{}", rule.position),
            }
        }
        None => format!("{head} policy {}", policy_word(rs, r)),
    }
}

/// The chain policy as the tool prints it (`DROP` / `drop`).
fn policy_word(rs: &Ruleset, r: RuleRef) -> String {
    let t = rs.table(r.chain);
    let policy = rs.chain(r.chain).base.as_ref().map(|b| &b.policy);
    let word = match policy {
        Some(Verdict::Accept) => "accept",
        Some(Verdict::Drop) => "drop",
        _ => "?",
    };
    match t.backend {
        Backend::Nftables => word.to_string(),
        _ => word.to_uppercase(),
    }
}

/// The evidence line: where, the rule as printed, and which dump and
/// backend it came from: `ip filter FORWARD #3: -A FORWARD -p udp -m udp
/// --dport 8472 -j DROP (iptables-save.txt, iptables-nft)`.
pub(crate) fn rule_line(rs: &Ruleset, r: RuleRef) -> String {
    let t = rs.table(r.chain);
    let text = match r.rule {
        Some(i) => format!(
            "{}: {}",
            rule_short(rs, r),
            rs.rule(r.chain, i as usize).text
        ),
        None => rule_short(rs, r),
    };
    format!("{text} ({}, {})", t.source.file(), backend(t.backend))
}

/// The tool that edits the rule's table on the node.
fn tool(source: Source) -> &'static str {
    match source {
        Source::IptablesSave => "iptables",
        Source::Ip6tablesSave => "ip6tables",
        Source::IptablesLegacySave => "iptables-legacy",
        Source::Ip6tablesLegacySave => "ip6tables-legacy",
        Source::NftRuleset => "nft",
    }
}

/// A match in both front ends: `-p udp --dport 8472 -s 192.0.2.12` and
/// `ip saddr 192.0.2.12 udp dport 8472`.
pub(crate) struct Accept<'m> {
    pub iptables: &'m str,
    pub nft: &'m str,
}

/// The command that lets `what` through where `r` stops it: an ACCEPT
/// inserted just before the rule (or at the top of a chain whose policy
/// decided).
pub(crate) fn accept_cmd(rs: &Ruleset, r: RuleRef, what: &Accept<'_>) -> String {
    let t = rs.table(r.chain);
    let chain = chain_name(rs, r);
    let pos = r.rule.map(|i| rs.rule(r.chain, i as usize).position);
    match (t.source, pos) {
        (Source::NftRuleset, _) => format!(
            "nft insert rule {} {} {chain} {} accept",
            family(t.family),
            t.name,
            what.nft
        ),
        (s, Some(p)) => format!(
            "{} -t {} -I {chain} {p} {} -j ACCEPT",
            tool(s),
            t.name,
            what.iptables
        ),
        (s, None) => format!(
            "{} -t {} -I {chain} {} -j ACCEPT",
            tool(s),
            t.name,
            what.iptables
        ),
    }
}

/// The command that deletes the deciding rule (`None` for a policy).
pub(crate) fn delete_cmd(rs: &Ruleset, r: RuleRef) -> Option<String> {
    let t = rs.table(r.chain);
    let rule = rs.rule(r.chain, r.rule? as usize);
    let chain = chain_name(rs, r);
    Some(match (t.source, rule.handle) {
        (Source::NftRuleset, Some(h)) => format!(
            "nft delete rule {} {} {chain} handle {h}",
            family(t.family),
            t.name
        ),
        (s, _) => format!("{} -t {} -D {chain} {}", tool(s), t.name, rule.position),
    })
}

/// The node's VXLAN device's UDP port (`ip -d link` dstport), else the
/// model's default.
pub(crate) fn vxlan_port(dev: Option<&Link>, default: u16) -> u16 {
    dev.and_then(|l| l.vxlan.as_ref())
        .map(|v| v.port)
        .filter(|p| *p != 0)
        .unwrap_or(default)
}

/// The walks' outcomes: the probes each rule stopped, and the rules that
/// could not be evaluated with how many probes reached them.
#[derive(Debug)]
pub(crate) struct Outcomes<K> {
    pub stopped: Tally<K>,
    pub unknown: Vec<(RuleRef, String, usize)>,
}

impl<K> Default for Outcomes<K> {
    fn default() -> Self {
        Outcomes {
            stopped: Tally {
                entries: Vec::new(),
            },
            unknown: Vec::new(),
        }
    }
}

impl<K: PartialEq> Outcomes<K> {
    /// Records how probe `key` ended; a drop or reject counts only when
    /// `counts` says the deciding rule is the check's business.
    pub fn record(&mut self, end: End, key: K, counts: impl Fn(RuleRef) -> bool) {
        match end {
            End::Accept => {}
            End::Drop(r) | End::Reject(r) => {
                if counts(r) {
                    self.stopped.add(r, key);
                }
            }
            End::Unknown(r, why) => match self.unknown.iter_mut().find(|u| u.0 == r) {
                Some(u) => u.2 += 1,
                None => self.unknown.push((r, why, 1)),
            },
        }
    }

    /// One skip per rule that could not be evaluated, naming it.
    pub fn skip_unknown(
        &self,
        rs: &Ruleset,
        (code, node, what): (Code, &str, &str),
        out: &mut Out,
    ) {
        for (r, why, n) in &self.unknown {
            let why = format!(
                "{node} has {n} probe(s) reaching a rule cnictl cannot evaluate, {} ({why}): {what} skipped for them",
                rule_line(rs, *r)
            );
            out.skip(code, Some(node), why);
        }
    }
}

/// `drops` or `rejects`, from the deciding rule's verdict (a policy drops).
pub(crate) fn verb(rs: &Ruleset, r: RuleRef) -> &'static str {
    let rule = r.rule.map(|i| rs.rule(r.chain, i as usize));
    match rule.and_then(|rule| rule.verdict()) {
        Some(Verdict::Reject(_)) => "rejects",
        _ => "drops",
    }
}

/// The distinct values, sorted.
pub(crate) fn distinct<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v.dedup();
    v
}

/// Groups outcomes by the rule that decided them, in first-seen order.
#[derive(Debug, Default)]
pub(crate) struct Tally<K> {
    pub entries: Vec<(RuleRef, Vec<K>)>,
}

impl<K: PartialEq> Tally<K> {
    pub fn add(&mut self, r: RuleRef, what: K) {
        match self.entries.iter_mut().find(|(k, _)| *k == r) {
            Some((_, v)) => push_unique(v, what),
            None => self.entries.push((r, vec![what])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_policy_chain;

    #[test]
    fn policy_agents_chains_by_name() {
        for c in [
            "cali-pi-_4yqLUaG2Ge2Mq9nHAei",
            "cali-tw-cali1234567890a",
            "cali-fw-cali1234567890a",
            "cali-pri-kns.default",
            "KUBE-NWPLCY-OKTTFTLCVDRLYOL3",
            "KUBE-POD-FW-DNBQP4JV4XJIJWLS",
        ] {
            assert!(is_policy_chain(c), "{c}");
        }
        for c in [
            "cali-FORWARD",
            "cali-to-wl-dispatch",
            "FORWARD",
            "KUBE-FORWARD",
            "FLANNEL-FWD",
        ] {
            assert!(!is_policy_chain(c), "{c}");
        }
    }
}
