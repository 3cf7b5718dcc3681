//! The reference dataplane: forwards a packet through a [`ClusterSnapshot`]
//! as Linux would and records every hop with the entry that decided it.
//!
//! **Architecture Invariant:** pure functions over a snapshot; no IO, no
//! clock, no CNI names. [`Dataplane::new`] (or [`Dataplane::with_hints`])
//! compiles the snapshot once (`build/` → the tables of `tables.rs`: LPM per
//! table, rules sorted, neighbour/FDB/address indexes); [`Dataplane::trace`]
//! and [`Dataplane::reachable`] then only do lookups (`forward/`, one file
//! per stage, with netfilter hook points). Hops are indices; text is
//! rendered on demand by [`Dataplane::render_hop`].
//!
//! [`ClusterSnapshot`]: cnictl_model::ClusterSnapshot

mod build;
mod forward;
mod hints;
pub mod lpm;
mod matrix;
pub mod nf;
mod query;
mod render;
mod render_nf;
mod tables;
mod types;

pub use forward::{Hook, HookPoint, HookVerdict};
pub use hints::{Hints, PodAttachment};
pub use render::HopText;
pub use render_nf::{NfHopText, NfRuleText};
pub use tables::Dataplane;
pub use types::*;
