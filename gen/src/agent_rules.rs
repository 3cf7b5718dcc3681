//! A policy agent's filter-table chains and ipsets for one node, and how
//! they are written: `iptables-restore --noflush` input (the agent's jumps
//! inserted at the top of the built-in chains, as both agents insert
//! theirs), `iptables-save`-shaped text (tests parse it with cnictl's own
//! parser) and `ipset restore` input.

use std::fmt::Write;

/// One chain: its name and its rules, each the text after `-A NAME `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenChain {
    pub name: String,
    pub rules: Vec<String>,
}

/// What an ipset holds, so a fault can pick the right one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetRole {
    /// The pods a rule's peer names (a source for ingress, a destination
    /// for egress).
    Peer,
    /// The pods a policy selects.
    Target,
    /// Pods and ports a named port resolves to.
    NamedPort,
    /// ipBlock CIDRs (and their exceptions, `nomatch`).
    IpBlock,
}

/// One ipset: `create NAME TYPE OPTIONS` and its members (each the text
/// after `add NAME `).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenIpSet {
    pub name: String,
    pub kind: &'static str,
    pub options: &'static str,
    pub members: Vec<String>,
    pub role: SetRole,
    /// The policy (`ns/name`) it belongs to.
    pub policy: String,
}

/// An agent's rules on one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentRules {
    /// Rules inserted at the top of built-in chains: (chain, rule text), in
    /// the order they end up.
    pub builtin_first: Vec<(String, String)>,
    pub chains: Vec<GenChain>,
    pub sets: Vec<GenIpSet>,
}

impl AgentRules {
    /// `iptables-restore --noflush` input for the filter table.
    pub fn restore(&self) -> String {
        let mut out = String::from("*filter\n");
        for c in &self.chains {
            let _ = writeln!(out, ":{} - [0:0]", c.name);
        }
        let mut at: Vec<(&str, usize)> = Vec::new();
        for (chain, rule) in &self.builtin_first {
            let pos = match at.iter_mut().find(|(c, _)| c == chain) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    at.push((chain, 1));
                    1
                }
            };
            let _ = writeln!(out, "-I {chain} {pos} {rule}");
        }
        write_chains(&mut out, &self.chains);
        out.push_str("COMMIT\n");
        out
    }

    /// The filter table as `iptables-save` lists it on a node holding
    /// only these rules (built-in chains policy ACCEPT).
    pub fn save(&self) -> String {
        let mut out = String::from("*filter\n");
        for b in ["INPUT", "FORWARD", "OUTPUT"] {
            let _ = writeln!(out, ":{b} ACCEPT [0:0]");
        }
        for c in &self.chains {
            let _ = writeln!(out, ":{} - [0:0]", c.name);
        }
        for (chain, rule) in &self.builtin_first {
            let _ = writeln!(out, "-A {chain} {rule}");
        }
        write_chains(&mut out, &self.chains);
        out.push_str("COMMIT\n");
        out
    }

    /// `ipset restore` input (also what `ipset save` prints of them).
    pub fn ipset_restore(&self) -> String {
        let mut out = String::new();
        for s in &self.sets {
            let _ = writeln!(out, "create {} {} {}", s.name, s.kind, s.options);
            for m in &s.members {
                let _ = writeln!(out, "add {} {m}", s.name);
            }
        }
        out
    }

    pub fn chain(&self, name: &str) -> Option<&GenChain> {
        self.chains.iter().find(|c| c.name == name)
    }
}

fn write_chains(out: &mut String, chains: &[GenChain]) {
    for c in chains {
        for r in &c.rules {
            let _ = writeln!(out, "-A {} {r}", c.name);
        }
    }
}
