//! `explain --probe` on a netfilter drop: the deciding rule's packet
//! counter, read with the node's own list commands (`iptables-save -c`,
//! `nft -j list ruleset`) before and after the probe. Still read-only:
//! counters are read, never zeroed. When the counter moved, the kernel
//! dropped the probe where explain said; when another rule's moved instead,
//! that rule is named.

use anyhow::{Context, Result};
use cnictl_analyzers::explain::Explanation;
use cnictl_collect::live::{read_netfilter_in, NetnsTarget};
use cnictl_dataplane::NfHopText;
use cnictl_model::netfilter::{Chain, Netfilter, Table};
use serde::Serialize;

use super::explain::NetnsMap;

/// The deciding rule's counter around the probe.
#[derive(Debug, Serialize)]
pub struct CounterCheck {
    pub node: String,
    pub netns: String,
    /// The rule as explain names it (`ip filter FORWARD #3: …`).
    pub rule: String,
    pub before: Option<u64>,
    pub after: Option<u64>,
    /// The counter grew by at least one packet.
    pub moved: bool,
}

/// The netfilter hop explain says dropped the packet, with its node.
pub struct Target {
    node: String,
    netns: String,
    hop: NfHopText,
    label: String,
    before: Option<u64>,
}

/// Reads the counter before the probe, when the drop is netfilter's.
pub fn before(ex: &Explanation, map: &NetnsMap) -> Result<Option<Target>> {
    let Some(drop) = &ex.drop else {
        return Ok(None);
    };
    let Some(h) = ex.hops.iter().find(|h| h.index == drop.hop) else {
        return Ok(None);
    };
    let (Some(nf), Some(netns)) = (&h.netfilter, map.netns(&h.node, None)) else {
        return Ok(None);
    };
    let before = read(&netns)?.and_then(|n| counter(&n, nf));
    Ok(Some(Target {
        node: h.node.clone(),
        netns,
        hop: nf.clone(),
        label: h.entry.clone(),
        before,
    }))
}

/// Reads the counter again after the probe and judges.
pub fn after(t: Target) -> Result<CounterCheck> {
    let after = read(&t.netns)?.and_then(|n| counter(&n, &t.hop));
    let moved = matches!((t.before, after), (Some(b), Some(a)) if a > b);
    Ok(CounterCheck {
        node: t.node,
        netns: t.netns,
        rule: t.label,
        before: t.before,
        after,
        moved,
    })
}

fn read(netns: &str) -> Result<Option<Netfilter>> {
    let target = NetnsTarget::Name(netns.to_string());
    let (nf, _notes) = read_netfilter_in(Some(&target))
        .with_context(|| format!("reading netfilter counters in netns {netns}"))?;
    Ok(nf)
}

/// The packet counter of the rule (or chain policy) `h` names.
fn counter(nf: &Netfilter, h: &NfHopText) -> Option<u64> {
    let table = nf.tables.iter().find(|t| same_table(t, h))?;
    let chain = table.chains.iter().find(|c| c.name == h.chain)?;
    let counters = match h.position {
        Some(p) => rule_at(chain, p)?.counters,
        None => chain.base.as_ref()?.counters,
    };
    counters.map(|c| c.packets)
}

fn same_table(t: &Table, h: &NfHopText) -> bool {
    t.source.file() == h.source
        && t.name == h.table
        && serde_json::to_value(t.family)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            == Some(h.family.to_string())
}

fn rule_at(chain: &Chain, position: u32) -> Option<&cnictl_model::netfilter::Rule> {
    chain.rules.iter().find(|r| r.position == position)
}

impl CounterCheck {
    pub fn text(&self) -> String {
        let n = |v: Option<u64>| v.map_or_else(|| "?".into(), |v| v.to_string());
        let mark = if self.moved { "✓" } else { "✗" };
        format!(
            "  {mark} counter of {} on {}: {} → {} packets{}\n",
            self.rule,
            self.node,
            n(self.before),
            n(self.after),
            if self.moved {
                " (the kernel dropped the probe there)"
            } else {
                " (did not move: the kernel did not drop the probe at this rule)"
            }
        )
    }
}
