//! A node's tables, indexed once for evaluation.

use cnictl_model::netfilter::{
    Backend, Chain, Family, Hook, IpSet, Netfilter, Rule, Set, Source, Table,
};
use rustc_hash::FxHashMap;

use super::index::{DstIndex, SetIndex};
use super::packet::IpFamily;

/// A chain: its table's and its own index in [`Ruleset`]'s tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainId {
    pub table: u32,
    pub chain: u32,
}

/// A node's netfilter state, compiled: what [`Ruleset::eval_hook`] walks.
#[derive(Debug, Clone, Default)]
pub struct Ruleset {
    tables: Vec<Table>,
    /// Per table: chain name → index.
    chains: Vec<FxHashMap<String, u32>>,
    /// Per table: set/map name → index.
    sets: Vec<FxHashMap<String, u32>>,
    /// Base chains per hook, by priority (stable: read order breaks ties).
    hooks: FxHashMap<Hook, Vec<ChainId>>,
    ipsets: Option<FxHashMap<String, IpSet>>,
    /// Long chains' rules by the destination they require.
    dst_index: FxHashMap<ChainId, DstIndex>,
    /// Large sets' elements by exact key: (table, set) → index.
    set_index: FxHashMap<(u32, u32), SetIndex>,
    /// Which sources were collected.
    pub sources: Vec<Source>,
}

impl Ruleset {
    /// Indexes `nf`. An iptables-nft table that both `iptables-save` and
    /// `nft -j` printed is kept once, from iptables-save (nft prints its
    /// matches as opaque `xt` expressions).
    ///
    /// Copies the tables out of `nf` (the ruleset outlives the snapshot it
    /// was read from); a caller that owns the model and needs it no more
    /// should use [`Ruleset::compile_owned`], which moves it instead: on a
    /// 10,000-Service node the copy is most of the compile time.
    pub fn compile(nf: &Netfilter) -> Self {
        let keep = kept(nf);
        let tables = nf
            .tables
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(t, _)| t.clone())
            .collect();
        Self::build(tables, nf.ipsets.clone(), nf.sources.clone())
    }

    /// [`Ruleset::compile`] without the copy: the tables are moved in.
    pub fn compile_owned(nf: Netfilter) -> Self {
        let keep = kept(&nf);
        let tables = nf
            .tables
            .into_iter()
            .zip(keep)
            .filter_map(|(t, k)| k.then_some(t))
            .collect();
        Self::build(tables, nf.ipsets, nf.sources)
    }

    fn build(tables: Vec<Table>, ipsets: Option<Vec<IpSet>>, sources: Vec<Source>) -> Self {
        let mut rs = Ruleset {
            sources,
            ..Ruleset::default()
        };
        for table in tables {
            rs.add_table(table);
        }
        rs.ipsets = ipsets.map(|sets| sets.into_iter().map(|s| (s.name.clone(), s)).collect());
        for chains in rs.hooks.values_mut() {
            chains.sort_by_key(|id| rs_priority(&rs.tables, *id));
        }
        rs
    }

    fn add_table(&mut self, table: Table) {
        let t = self.tables.len() as u32;
        let names = table
            .chains
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i as u32))
            .collect();
        let sets = table
            .sets
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i as u32))
            .collect();
        for (i, chain) in table.chains.iter().enumerate() {
            let id = ChainId {
                table: t,
                chain: i as u32,
            };
            if let Some(base) = &chain.base {
                self.hooks.entry(base.hook).or_default().push(id);
            }
        }
        self.index(t, &table);
        self.tables.push(table);
        self.chains.push(names);
        self.sets.push(sets);
    }

    /// Indexes table `t`'s long chains and large sets.
    fn index(&mut self, t: u32, table: &Table) {
        for (i, chain) in table.chains.iter().enumerate() {
            if let Some(index) = DstIndex::build(chain) {
                let id = ChainId {
                    table: t,
                    chain: i as u32,
                };
                self.dst_index.insert(id, index);
            }
        }
        for (i, set) in table.sets.iter().enumerate() {
            if let Some(index) = SetIndex::build(set) {
                self.set_index.insert((t, i as u32), index);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    pub fn tables(&self) -> &[Table] {
        &self.tables
    }

    pub fn table(&self, id: ChainId) -> &Table {
        &self.tables[id.table as usize]
    }

    pub fn chain(&self, id: ChainId) -> &Chain {
        &self.tables[id.table as usize].chains[id.chain as usize]
    }

    pub fn rule(&self, id: ChainId, rule: usize) -> &Rule {
        &self.chain(id).rules[rule]
    }

    /// The chain `name` of the same table as `from` (jump/goto targets).
    pub fn lookup_chain(&self, from: ChainId, name: &str) -> Option<ChainId> {
        let chain = *self.chains[from.table as usize].get(name)?;
        Some(ChainId {
            table: from.table,
            chain,
        })
    }

    pub fn set(&self, from: ChainId, name: &str) -> Option<&Set> {
        self.indexed_set(from, name).map(|(set, _)| set)
    }

    /// The set `name` of `from`'s table, with its index when it has one.
    pub(super) fn indexed_set(
        &self,
        from: ChainId,
        name: &str,
    ) -> Option<(&Set, Option<&SetIndex>)> {
        let i = *self.sets[from.table as usize].get(name)?;
        let set = &self.tables[from.table as usize].sets[i as usize];
        Some((set, self.set_index.get(&(from.table, i))))
    }

    /// The same ruleset walked without its indexes: what the indexes must
    /// not change.
    #[cfg(test)]
    pub(super) fn without_indexes(mut self) -> Self {
        self.dst_index.clear();
        self.set_index.clear();
        self
    }

    /// The index of a long chain (`None`: walk it rule by rule).
    pub(super) fn dst_index(&self, chain: ChainId) -> Option<&DstIndex> {
        if self.dst_index.is_empty() {
            return None;
        }
        self.dst_index.get(&chain)
    }

    /// `None` when `ipset save` was not collected.
    pub fn ipset(&self, name: &str) -> Option<Option<&IpSet>> {
        self.ipsets.as_ref().map(|sets| sets.get(name))
    }

    /// The base chains at `hook` that see packets of `family`, in order.
    pub fn hook_chains(&self, hook: Hook, family: IpFamily) -> impl Iterator<Item = ChainId> + '_ {
        let ids = self.hooks.get(&hook).map(Vec::as_slice).unwrap_or(&[]);
        ids.iter()
            .copied()
            .filter(move |id| sees(self.tables[id.table as usize].family, family))
    }

    /// Both the legacy and an nft backend hold iptables rules.
    pub fn backends(&self) -> Vec<Backend> {
        let mut b: Vec<Backend> = self
            .tables
            .iter()
            .filter(|t| has_rules(t))
            .map(|t| t.backend)
            .collect();
        b.sort();
        b.dedup();
        b
    }
}

fn has_rules(t: &Table) -> bool {
    t.chains.iter().any(|c| !c.rules.is_empty())
}

fn rs_priority(tables: &[Table], id: ChainId) -> i32 {
    tables[id.table as usize].chains[id.chain as usize]
        .base
        .as_ref()
        .map_or(0, |b| b.priority)
}

/// `ip` tables see IPv4, `ip6` IPv6, `inet` both.
fn sees(table: Family, packet: IpFamily) -> bool {
    matches!(
        (table, packet),
        (Family::Inet, _) | (Family::Ip, IpFamily::V4) | (Family::Ip6, IpFamily::V6)
    )
}

/// Per table of `nf`: whether it is evaluated (not [`shadowed`]).
fn kept(nf: &Netfilter) -> Vec<bool> {
    nf.tables.iter().map(|t| !shadowed(nf, t)).collect()
}

/// An nft-printed iptables-nft table that iptables-save also printed.
fn shadowed(nf: &Netfilter, t: &Table) -> bool {
    t.source == Source::NftRuleset
        && t.backend == Backend::IptablesNft
        && nf.tables.iter().any(|o| {
            o.source != Source::NftRuleset
                && o.backend == Backend::IptablesNft
                && o.family == t.family
                && o.name == t.name
        })
}
