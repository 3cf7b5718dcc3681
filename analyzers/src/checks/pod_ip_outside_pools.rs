//! Check: pod-ip-outside-pools
//!
//! On Calico, every pod (not hostNetwork) gets its IP from an enabled
//! IPPool: BIRD's export filter (`calico_export_to_bgp_peers`, one accept
//! per pool) announces only pool routes, so an address outside every pool
//! is not routed to from other nodes, and IPAM may hand it out again.
//! Warning (a disabled pool still routes the addresses it already gave
//! out, which the summary says). Runs only when `k8s/ippools.json` was
//! collected (an optional file most bundles lack: its absence is not
//! reported as a skipped check).

use std::net::IpAddr;

use cnictl_model::{ClusterSnapshot, IpPool, Pod};

use super::{render, Out};
use crate::code::Code;
use crate::expected::Expected;
use crate::finding::Severity;
use crate::infer::CniModel;

pub(crate) const CODE: Code = Code::PodIpOutsidePools;

pub(crate) fn check(exp: &Expected<'_>, snap: &ClusterSnapshot, out: &mut Out) {
    if !is_calico(exp.model()) {
        return;
    }
    let Some(pools) = &snap.k8s.calico.ip_pools else {
        return;
    };
    for p in snap.k8s.pods.iter().filter(|p| !p.host_network) {
        for ip in p
            .ips
            .iter()
            .filter(|ip| !pools.iter().any(|pl| !pl.disabled && pl.contains(**ip)))
        {
            report(p, *ip, pools, out);
        }
    }
}

fn is_calico(m: CniModel) -> bool {
    matches!(
        m,
        CniModel::CalicoBgp | CniModel::CalicoIpip | CniModel::CalicoVxlan
    )
}

fn report(p: &Pod, ip: IpAddr, pools: &[IpPool], out: &mut Out) {
    let disabled = pools.iter().find(|pl| pl.disabled && pl.contains(ip));
    let why = match disabled {
        Some(pl) => format!("only in disabled IPPool {} ({})", pl.name, pl.cidr),
        None => "in no IPPool".to_string(),
    };
    let summary = format!("pod {} has IP {ip}, {why}", p.key());
    let mut evidence = vec![render::pod(p)];
    evidence.extend(pools.iter().map(|pl| {
        let state = if pl.disabled { "disabled" } else { "enabled" };
        format!("IPPool {} {} ({state})", pl.name, pl.cidr)
    }));
    let hint = "kubectl get ippools.crd.projectcalico.org -o wide; recreate the pod so Calico IPAM assigns from an enabled pool, or restore the pool".to_string();
    out.push(
        CODE,
        Severity::Warning,
        p.node.as_deref(),
        summary,
        evidence,
        hint,
    );
}
