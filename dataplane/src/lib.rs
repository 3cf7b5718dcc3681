//! The reference dataplane: forwards a packet through a [`ClusterSnapshot`]
//! as Linux would and records every hop with the entry that decided it.
//!
//! **Architecture Invariant:** pure functions over a snapshot; no IO, no
//! clock. [`Dataplane::new`] compiles the snapshot once (LPM per table, rules
//! sorted, neighbour/FDB/address indexes); [`Dataplane::trace`] and
//! [`Dataplane::reachable`] then only do lookups. Hops are indices; text is
//! rendered on demand by [`Dataplane::render_hop`].
//!
//! [`ClusterSnapshot`]: cnictl_model::ClusterSnapshot

mod build;
mod forward;
pub mod lpm;
mod matrix;
pub mod nf;
mod render;
mod types;

pub use build::{Dataplane, CALICO_GW_V4};
pub use render::HopText;
pub use types::*;
