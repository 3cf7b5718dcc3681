//! Collectors: the only crate that touches files, sockets, netlink and the Kubernetes API.
//!
//! **Architecture Invariant:** the only crate that does IO. Everything it
//! returns is `cnictl_model` data; text dumps (`ip -j`, `bridge -j`,
//! `ipvsadm -Ln`, `birdc`, `sysctl`, `kubectl -o json`) are parsed by the
//! pure functions in [`parse`], and [`bundle`] / [`write`] map a bundle
//! directory (DESIGN.md layout) to and from a `ClusterSnapshot`.

pub mod bundle;
pub mod live;
pub mod parse;
pub mod probe;
pub mod write;
