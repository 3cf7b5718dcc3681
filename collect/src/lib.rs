//! Collectors: the only crate that touches files, sockets, netlink and the Kubernetes API.
//!
//! **Architecture Invariant:** IO only. Everything it returns is
//! `cnictl_model` data; the bytes it reads are decoded by the pure
//! `cnictl-formats` (text dumps: `ip -j`, `bridge -j`, `ipvsadm -Ln`,
//! `birdc`, `sysctl`, `kubectl -o json`; netlink replies; captured frames),
//! and [`bundle`] / [`write`] map a bundle directory (README "Bundles" layout) to
//! and from a `ClusterSnapshot` with the formats' parsers and writers.

pub mod archive;
pub mod bundle;
pub mod files;
pub mod live;
pub mod manifests;
pub mod probe;
pub mod write;
