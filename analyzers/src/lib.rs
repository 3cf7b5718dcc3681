//! Analyzers: pure functions over a [`ClusterSnapshot`](cnictl_model::ClusterSnapshot).
//!
//! **Architecture Invariant:** no IO, no clock, no globals. Analysis never
//! fails: a check over a partial snapshot returns its findings plus what it
//! had to skip, and the shells turn that into output, exit codes and metrics.

pub mod bgptopo;
pub mod checks;
pub mod cilium;
pub mod cni;
pub mod code;
pub mod diff;
pub mod direct_routing;
pub mod expected;
pub mod explain;
pub mod finding;
pub mod hints;
pub mod infer;
pub mod inferred;
pub mod ipam;
pub mod pipeline;
pub mod policy;
pub mod reach;
pub mod rootcause;
pub mod validate;

pub use code::{Code, Input};
pub use finding::{Finding, Group, Report, Severity, Skipped, Symptom};
