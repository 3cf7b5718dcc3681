//! The policy matrix as `cnictl matrix` and the UI show it: per probe,
//! every ordered pod pair's intent (with the policies that decided) beside
//! what the reference dataplane does to the same connection's first
//! packet. Disagreements are what the matrix is for: a policy the nodes do
//! not enforce, or a drop no policy asks for.

use cnictl_dataplane::{Dataplane, Disposition, Ingress, Packet, PodId, Proto};
use cnictl_model::K8s;
use rayon::prelude::*;
use serde::Serialize;

use super::index::{Endpoint, PolicyIndex};
use super::matrix::IntentMatrix;
use super::pair::PairVerdict;
use super::ports::{admits, Probe};
use cnictl_model::PolicyType;

/// What the dataplane did with the connection's first packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataplaneVerdict {
    Delivered,
    Dropped,
    /// A rule cnictl cannot evaluate, or data not collected.
    Unknown,
    /// No dataplane to ask (manifests, a bundle of k8s/ alone).
    NotEvaluated,
}

impl DataplaneVerdict {
    fn of(d: Disposition) -> Self {
        match d {
            Disposition::Delivered => DataplaneVerdict::Delivered,
            Disposition::Unknown | Disposition::InsufficientInfo => DataplaneVerdict::Unknown,
            _ => DataplaneVerdict::Dropped,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DataplaneVerdict::Delivered => "delivered",
            DataplaneVerdict::Dropped => "dropped",
            DataplaneVerdict::Unknown => "unknown",
            DataplaneVerdict::NotEvaluated => "not-evaluated",
        }
    }
}

pub struct ProbeResult {
    pub probe: Probe,
    pub intent: IntentMatrix,
    /// Row-major `src * n + dst`; `None` without a dataplane.
    dataplane: Option<Vec<DataplaneVerdict>>,
}

pub struct PolicyMatrix<'a> {
    pub index: PolicyIndex<'a>,
    pub results: Vec<ProbeResult>,
    /// `ns/name` of each policy, by index.
    keys: Vec<String>,
}

/// One cell, as the JSON contract names its fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cell {
    pub intended: &'static str,
    pub by: Vec<String>,
    pub dataplane: DataplaneVerdict,
}

impl Cell {
    /// Intent and dataplane disagree (an `unknown` dataplane is no
    /// disagreement: it is not an answer).
    pub fn disagrees(&self) -> bool {
        let allowed = self.intended == "allowed";
        match self.dataplane {
            DataplaneVerdict::Delivered => !allowed,
            DataplaneVerdict::Dropped => allowed,
            _ => false,
        }
    }
}

/// The matrix of `k8s`'s policies for each probe; the dataplane column
/// when `dp` is given. `None` when NetworkPolicies were not collected.
pub fn build<'a>(
    k8s: &'a K8s,
    dp: Option<&Dataplane>,
    probes: Vec<Probe>,
) -> Option<PolicyMatrix<'a>> {
    let index = PolicyIndex::new(k8s)?;
    let results = probes
        .into_iter()
        .map(|probe| ProbeResult {
            intent: index.matrix(&probe),
            dataplane: dp.map(|dp| dataplane_matrix(&index, dp, &probe)),
            probe,
        })
        .collect();
    let keys = index.policies.iter().map(|c| c.policy.key()).collect();
    Some(PolicyMatrix {
        index,
        results,
        keys,
    })
}

impl PolicyMatrix<'_> {
    pub fn pod_count(&self) -> usize {
        self.index.pods.len()
    }

    pub fn pod_key(&self, i: usize) -> String {
        self.index.pods[i].key()
    }

    /// The cell of probe `r` for `src` → `dst` (pod indices).
    pub fn cell(&self, r: usize, src: usize, dst: usize) -> Cell {
        let res = &self.results[r];
        let allowed = res.intent.allowed(src, dst);
        let dataplane = match &res.dataplane {
            Some(v) => v[src * self.pod_count() + dst],
            None => DataplaneVerdict::NotEvaluated,
        };
        Cell {
            intended: if allowed { "allowed" } else { "denied" },
            by: self.deciders(&res.probe, src, dst),
            dataplane,
        }
    }

    /// The pair's full verdict (rules and assumptions), for one cell.
    pub fn pair(&self, r: usize, src: usize, dst: usize) -> PairVerdict {
        let probe = &self.results[r].probe;
        self.index
            .pair(Endpoint::Pod(src), Endpoint::Pod(dst), probe)
    }

    /// Allowed: the policies whose rules allowed it; denied: the policies
    /// that isolate the side that denied. Empty when no policy selects
    /// either pod. Read from the compiled bitsets (a million cells: no
    /// rule references or strings built per cell but the answer).
    fn deciders(&self, probe: &Probe, src: usize, dst: usize) -> Vec<String> {
        let egress = self.allowing(PolicyType::Egress, src, dst, dst, probe);
        let ingress = self.allowing(PolicyType::Ingress, dst, src, dst, probe);
        let mut out: Vec<usize> = match (egress, ingress) {
            ((e, true), (i, true)) => e.into_iter().chain(i).collect(),
            ((_, e_ok), (_, i_ok)) => {
                let deny = |ok: bool, pod: usize, dir| {
                    if ok {
                        &[][..]
                    } else {
                        self.index.isolating(pod, dir)
                    }
                };
                let e = deny(e_ok, src, PolicyType::Egress).iter();
                e.chain(deny(i_ok, dst, PolicyType::Ingress))
                    .copied()
                    .collect()
            }
        };
        out.sort_by(|a, b| self.keys[*a].cmp(&self.keys[*b]));
        out.dedup();
        out.into_iter().map(|i| self.keys[i].clone()).collect()
    }

    /// The policies of `subject`'s side whose rules admit `peer` (named
    /// ports on `dst`), and whether the side allows (open or some rule).
    fn allowing(
        &self,
        dir: PolicyType,
        subject: usize,
        peer: usize,
        dst: usize,
        probe: &Probe,
    ) -> (Vec<usize>, bool) {
        let isolating = self.index.isolating(subject, dir);
        let dst_pod = Some(self.index.pods[dst]);
        let admits_peer = |pi: &&usize| {
            let rules = self.index.policies[**pi].rules(dir).iter();
            rules
                .into_iter()
                .any(|r| r.pods.contains(peer) && admits(&r.rule.ports, probe, dst_pod))
        };
        let hits: Vec<usize> = isolating.iter().filter(admits_peer).copied().collect();
        let ok = isolating.is_empty() || !hits.is_empty();
        (hits, ok)
    }
}

/// The first packet of each pair's connection through the reference
/// dataplane (ICMP echo for a probe that names no port).
fn dataplane_matrix(index: &PolicyIndex, dp: &Dataplane, probe: &Probe) -> Vec<DataplaneVerdict> {
    let ids: Vec<Option<PodId>> = index.pods.iter().map(|p| dp.pod_id(&p.key())).collect();
    let n = ids.len();
    (0..n)
        .into_par_iter()
        .flat_map_iter(|s| {
            let ids = &ids;
            (0..n).map(move |d| one(index, dp, probe, ids[s], d))
        })
        .collect()
}

fn one(
    index: &PolicyIndex,
    dp: &Dataplane,
    probe: &Probe,
    src: Option<PodId>,
    d: usize,
) -> DataplaneVerdict {
    let src_ip = src.and_then(|s| dp.pod_ips(s).first().copied());
    let (Some(src), Some(s)) = (src, src_ip) else {
        return DataplaneVerdict::Unknown;
    };
    let same_family = |ip: &&std::net::IpAddr| ip.is_ipv4() == s.is_ipv4();
    let Some(&t) = index.pods[d].ips.iter().find(same_family) else {
        return DataplaneVerdict::Unknown;
    };
    DataplaneVerdict::of(dp.reachable(&packet(probe, s, t), Ingress::Pod(src)))
}

fn packet(probe: &Probe, src: std::net::IpAddr, dst: std::net::IpAddr) -> Packet {
    let mut p = Packet::new(src, dst);
    let (Some(proto), Some(port)) = (&probe.protocol, probe.port) else {
        return p;
    };
    p.proto = match proto.as_str() {
        "TCP" => Proto::Tcp,
        "UDP" => Proto::Udp,
        _ => Proto::Other(132),
    };
    p.sport = 40000;
    p.dport = port;
    p
}
