//! Policy routing rules (`ip rule`).

use std::fmt;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::route::{table_name, TableId};

/// One policy rule. Rules are evaluated by ascending priority; the first
/// whose selectors match and whose action yields a route wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub priority: u32,
    /// `inet` or `inet6`.
    pub family: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<IpNet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst: Option<IpNet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iif: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oif: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmask: Option<u32>,
    /// `not` inverts the selectors.
    #[serde(default)]
    pub not: bool,
    pub action: RuleAction,
    /// `suppress_prefixlength N`: ignore results with prefix length ≤ N.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress_prefixlen: Option<u8>,
}

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "type", content = "target")]
pub enum RuleAction {
    /// Look up this table.
    Table(TableId),
    /// Jump to the rule with this priority.
    Goto(u32),
    Nop,
    Blackhole,
    Unreachable,
    Prohibit,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:\t", self.priority)?;
        if self.not {
            f.write_str("not ")?;
        }
        match &self.src {
            Some(s) => write!(f, "from {s}")?,
            None => f.write_str("from all")?,
        }
        if let Some(d) = &self.dst {
            write!(f, " to {d}")?;
        }
        if let Some(m) = self.fwmark {
            write!(f, " fwmark {m:#x}")?;
            if let Some(mask) = self.fwmask {
                write!(f, "/{mask:#x}")?;
            }
        }
        if let Some(i) = &self.iif {
            write!(f, " iif {i}")?;
        }
        if let Some(o) = &self.oif {
            write!(f, " oif {o}")?;
        }
        match self.action {
            RuleAction::Table(t) => write!(f, " lookup {}", table_name(t))?,
            RuleAction::Goto(p) => write!(f, " goto {p}")?,
            RuleAction::Nop => f.write_str(" nop")?,
            RuleAction::Blackhole => f.write_str(" blackhole")?,
            RuleAction::Unreachable => f.write_str(" unreachable")?,
            RuleAction::Prohibit => f.write_str(" prohibit")?,
        }
        if let Some(n) = self.suppress_prefixlen {
            write!(f, " suppress_prefixlength {n}")?;
        }
        Ok(())
    }
}

impl Rule {
    /// The kernel's default IPv4 rules, used when `ip-rule.json` was not
    /// collected (and said so): local, main, default.
    pub fn defaults_v4() -> Vec<Rule> {
        [(0, 255), (32766, 254), (32767, 253)]
            .into_iter()
            .map(|(priority, table)| Rule {
                priority,
                family: "inet".into(),
                src: None,
                dst: None,
                iif: None,
                oif: None,
                fwmark: None,
                fwmask: None,
                not: false,
                action: RuleAction::Table(table),
                suppress_prefixlen: None,
            })
            .collect()
    }

    /// The kernel's default IPv6 rules: local and main (IPv6 has no
    /// `default` table rule).
    pub fn defaults_v6() -> Vec<Rule> {
        Rule::defaults_v4()
            .into_iter()
            .filter(|r| r.priority != 32767)
            .map(|mut r| {
                r.family = "inet6".into();
                r
            })
            .collect()
    }

    /// `rules` with the IPv6 defaults added when the dump holds no IPv6
    /// rule at all: plain `ip -j rule show` (the bundle's `ip-rule.json`)
    /// lists IPv4 only, while a kernel with IPv6 always has at least the
    /// local and main rules, so none means "IPv6 rules not collected".
    pub fn with_v6_defaults(mut rules: Vec<Rule>) -> Vec<Rule> {
        if !rules.iter().any(|r| r.family == "inet6") {
            rules.extend(Rule::defaults_v6());
        }
        rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv4_only_dump_gets_the_ipv6_defaults_once() {
        let v4 = Rule::defaults_v4();
        let both = Rule::with_v6_defaults(v4.clone());
        let v6: Vec<_> = both.iter().filter(|r| r.family == "inet6").collect();
        assert_eq!(v6.len(), 2, "local and main");
        assert_eq!(Rule::with_v6_defaults(both.clone()), both);
        assert_eq!(both[..v4.len()], v4[..]);
    }
}
