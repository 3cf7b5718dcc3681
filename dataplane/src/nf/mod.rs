//! Netfilter in the reference dataplane: the rules of every table that runs
//! at a hook, evaluated for the first packet of a connection (or, for
//! `--reverse`, its reply) as the kernel would.
//!
//! [`Ruleset::compile`] indexes a node's tables once (chains by name, sets
//! by name, the base chains of each hook in priority order);
//! [`Ruleset::eval_hook`] then walks them for one packet. A `statistic` or
//! `numgen` rule forks the walk: each outcome is a [`HookPath`] with its
//! share of new connections. A rule cnictl cannot evaluate, reached by the
//! packet, ends that path as [`HookVerdict::Unknown`] naming the rule —
//! never a silent skip.

mod compile;
mod eval;
mod index;
mod matches;
mod nat;
mod packet;
mod sets;

pub use compile::{ChainId, Ruleset};
pub use eval::{HookPath, HookVerdict, Rewrite, RuleRef, Visit, MAX_PATHS};
pub use packet::{IpFamily, NfPacket, NodeView};

#[cfg(test)]
mod index_tests;
#[cfg(test)]
mod tests;
