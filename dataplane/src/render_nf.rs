//! Text for netfilter hops: the rule as `iptables-save` or `nft` prints it,
//! where it lives (family, table, chain, backend, bundle file) and what it
//! did — so a user can find it on the node (`iptables -L CHAIN
//! --line-numbers`, `nft -a list chain …`).

use std::fmt::Write as _;

use cnictl_model::netfilter::{Backend, Expr, NatTarget, Stmt};
use serde::Serialize;

use crate::forward::{family_name, policy_name, rule_label};
use crate::nf::{RuleRef, Ruleset};
use crate::tables::Dataplane;
use crate::types::{Hook, NfAction, NsId};

/// One netfilter rule (or chain policy), located.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NfRuleText {
    pub family: &'static str,
    pub table: String,
    pub chain: String,
    /// The rule as the tool printed it; `None` for the chain's policy.
    pub rule: Option<String>,
    /// 1-based position in the chain (`--line-numbers`); `None`: policy.
    pub position: Option<u32>,
    /// nftables rule handle (native nftables tables).
    pub handle: Option<u64>,
    pub comment: Option<String>,
}

/// A netfilter hop: where the rule is and what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NfHopText {
    pub hook: &'static str,
    pub family: &'static str,
    pub table: String,
    pub chain: String,
    /// legacy | iptables-nft | nftables.
    pub backend: &'static str,
    /// The bundle file the table was read from.
    pub source: &'static str,
    pub rule: Option<String>,
    pub position: Option<u32>,
    pub handle: Option<u64>,
    pub comment: Option<String>,
    pub action: &'static str,
}

impl Dataplane {
    /// The compiled rules of `ns`, when collected.
    pub fn ruleset(&self, ns: NsId) -> Option<&Ruleset> {
        self.ns[ns.0 as usize].nf.as_deref()
    }

    /// A rule of `ns`'s ruleset, located (`None`: no rules there).
    pub fn nf_rule_text(&self, ns: NsId, at: RuleRef) -> Option<NfRuleText> {
        let rules = self.ruleset(ns)?;
        let table = rules.table(at.chain);
        let rule = at.rule.map(|i| rules.rule(at.chain, i as usize));
        Some(NfRuleText {
            family: family_name(table.family),
            table: table.name.clone(),
            chain: rules.chain(at.chain).name.clone(),
            rule: rule.map(|r| r.text.clone()),
            position: rule.map(|r| r.position),
            handle: rule.and_then(|r| r.handle),
            comment: rule.and_then(|r| r.comment.clone()),
        })
    }

    /// The netfilter detail of a hop.
    /// `None` for a namespace without rules (no netfilter hop is recorded
    /// there).
    pub fn nf_hop_text(
        &self,
        ns: NsId,
        hook: Hook,
        at: RuleRef,
        action: NfAction,
    ) -> Option<NfHopText> {
        let table = self.ruleset(ns)?.table(at.chain);
        let r = self.nf_rule_text(ns, at)?;
        Some(NfHopText {
            hook: hook.ip_hook_name(),
            family: r.family,
            table: r.table,
            chain: r.chain,
            backend: backend_name(table.backend),
            source: table.source.file(),
            rule: r.rule,
            position: r.position,
            handle: r.handle,
            comment: r.comment,
            action: action.as_str(),
        })
    }

    /// (entry, rewrite) of a netfilter hop.
    pub(crate) fn nf_step_text(
        &self,
        ns: NsId,
        at: RuleRef,
        a: NfAction,
    ) -> (String, Option<String>) {
        // Netfilter hops are recorded only where rules were evaluated.
        let Some(rules) = self.ruleset(ns) else {
            return ("netfilter rules not collected here".into(), None);
        };
        let mut entry = rule_label(rules, at);
        let comment = at
            .rule
            .and_then(|i| rules.rule(at.chain, i as usize).comment.as_ref());
        if let Some(c) = comment {
            let _ = write!(entry, "  [comment: {c}]");
        }
        (entry, rewrite_text(rules, at, a))
    }

    /// One line for a netfilter drop/reject/unknown reason.
    pub(crate) fn nf_reason_text(&self, ns: NsId, hook: Hook, at: RuleRef) -> String {
        let Some(rules) = self.ruleset(ns) else {
            return format!("netfilter at {}", hook.as_str());
        };
        let what = match at.rule {
            Some(_) => "rule",
            None if policy_name(rules, at) == "DROP" => "chain policy",
            None => "chain",
        };
        let (hook, rule) = (hook.ip_hook_name(), rule_label(rules, at));
        format!("netfilter {what} at {hook}: {rule}")
    }
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Legacy => "legacy",
        Backend::IptablesNft => "iptables-nft",
        Backend::Nftables => "nftables",
    }
}

/// The header change a rewriting rule makes, from its statement.
fn rewrite_text(rules: &Ruleset, at: RuleRef, action: NfAction) -> Option<String> {
    let rule = rules.rule(at.chain, at.rule? as usize);
    let stmt = rule.exprs.iter().find_map(|e| match e {
        Expr::Stmt(s) => Some(s),
        _ => None,
    })?;
    Some(match (action, stmt) {
        (NfAction::Dnat, Stmt::Dnat(t)) => format!("DNAT → {}", target(t)),
        (NfAction::Snat, Stmt::Snat(t)) => format!("SNAT → {}", target(t)),
        (NfAction::Masquerade, _) => "MASQUERADE: source → the out device's primary address".into(),
        (NfAction::Redirect, _) => "REDIRECT → a local address of the in device".into(),
        (NfAction::Mark, Stmt::Mark { value, mask }) => {
            format!("mark: (mark & {:#x}) ^ {value:#x}", !mask)
        }
        (NfAction::Mark, Stmt::ConnMark(_)) => "conntrack mark changed".into(),
        _ => return None,
    })
}

fn target(t: &NatTarget) -> String {
    let addr = match t.addr {
        Some((a, b)) if a == b => a.to_string(),
        Some((a, b)) => format!("{a}-{b}"),
        None => "(same address)".into(),
    };
    match t.ports {
        Some((p, q)) if p == q => format!("{addr}:{p}"),
        Some((p, q)) => format!("{addr}:{p}-{q}"),
        None => addr,
    }
}
