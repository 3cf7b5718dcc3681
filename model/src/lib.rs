//! cnictl's snapshot model: what a cluster's dataplane looked like at one
//! moment, as plain data.
//!
//! **Architecture Invariant:** plain data + serde; no IO, no clock, no async.
//! Everything downstream (dataplane, analyzers, shells) reads only these
//! types, so a snapshot taken live and one imported from a bundle are
//! interchangeable.
//!
//! **API Boundary:** the JSON form is versioned (`"schema": "cnictl/v1"`);
//! fields are added, never renamed or removed, within a version.

pub mod bgp;
pub mod calico;
pub mod cidr;
pub mod cilium;
pub mod ipvs;
pub mod k8s;
pub mod link;
pub mod neigh;
pub mod netfilter;
pub mod netpol;
pub mod route;
pub mod rule;
pub mod snapshot;

pub use bgp::{Bgp, BgpProtocol, BgpRoute};
pub use calico::{BgpConfiguration, BgpPeer, BlockAffinity, CalicoObjects, IpPool};
pub use cilium::{Cilium, CiliumEndpoint, CiliumStatus, IpcacheEntry, TunnelEntry};
pub use ipvs::{Forward, IpvsProto, RealServer, VirtualService};
pub use k8s::{ContainerPort, EndpointSlice, K8s, K8sNode, OwnerRef, Pod, Service, ServicePort};
pub use link::{Addr, Link, TunnelInfo, VxlanDf, VxlanInfo};
pub use neigh::{FdbEntry, Neigh};
pub use netpol::{Namespace, NetworkPolicy, PolicyType};
pub use route::{NextHop, Protocol, Route, RouteType, Scope, TableId};
pub use rule::{Rule, RuleAction};
pub use snapshot::{ClusterSnapshot, DevFeatures, Feature, NodeSnapshot, Notice, PodNetns, SCHEMA};
