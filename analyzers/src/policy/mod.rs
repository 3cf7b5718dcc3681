//! NetworkPolicy intent: what the cluster's `networking.k8s.io/v1`
//! NetworkPolicies allow, from the Kubernetes objects alone (no dataplane).
//!
//! Semantics (Kubernetes API reference, "NetworkPolicy"; upstream e2e suite
//! `test/e2e/network/netpol`): a pod is isolated for ingress (egress) when
//! any policy with that policy type selects it; an isolated pod accepts only
//! what the union of the selecting policies' rules allows; a connection
//! needs the source's egress *and* the destination's ingress. Rules match
//! peers by `podSelector` (the policy's namespace), `namespaceSelector`,
//! both (pods of the selected namespaces), or `ipBlock` minus `except`;
//! ports by number, `port..=endPort`, or a name resolved on the
//! *destination* pod's container ports under the rule's protocol.
//!
//! Where the API leaves behaviour to the implementation, cnictl assumes
//! (and says so on the verdict, see [`Assumption`]): host-network pods are
//! not policed as pods and are peers only by IP; an `ipBlock` also matches
//! pod IPs inside it (Calico and kube-router match by address).
//!
//! `index.rs` compiles policies to pod bitsets once; `ports.rs` matches
//! ports; `pair.rs` answers one pair with the rules that decided;
//! `matrix.rs` answers every pair for one probe; `probes.rs` lists the
//! (protocol, port) values the policies name; `document.rs` is the
//! matrix as its JSON contract names it, for every shell that renders it.

pub mod document;
mod index;
mod matrix;
mod pair;
mod ports;
mod probes;
mod report;

pub use index::{Endpoint, PolicyIndex};
pub use matrix::{IntentMatrix, MatrixRow};
pub use pair::{Assumption, PairVerdict, RuleRef, Side};
pub use ports::Probe;
pub use probes::probes;
pub use report::{build, Cell, DataplaneVerdict, PolicyMatrix};
