//! kube-proxy on every generated node, in the mode the spec names: its
//! rules written by the `kube_proxy*` generators and parsed back with
//! cnictl's own parsers into the node's [`Netfilter`], as a collected
//! bundle would hold them (`iptables-save.txt`, `nft-ruleset.json`, or
//! `ipvsadm.txt` + `iptables-save.txt` + `ipset-save.txt`).

use std::fmt;
use std::str::FromStr;

use cnictl_model::netfilter::{Netfilter, Source};
use cnictl_model::{K8s, NodeSnapshot};

use crate::kube_proxy::{iptables_save_for, KpNode};
use crate::kube_proxy_ipvs::ipvs_companions;
use crate::kube_proxy_nft::nft_json_for;
use crate::plan::{v4, Plan};
use crate::{k8s, GenError};

/// kube-proxy's `--proxy-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KubeProxyMode {
    Iptables,
    Nftables,
    /// IPVS tables only, as `cnictl gen --services` wrote before kube-proxy
    /// rules were generated (no NodePorts: the default keeps it so).
    #[default]
    Ipvs,
}

impl KubeProxyMode {
    pub const ALL: [KubeProxyMode; 3] = [
        KubeProxyMode::Iptables,
        KubeProxyMode::Nftables,
        KubeProxyMode::Ipvs,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KubeProxyMode::Iptables => "iptables",
            KubeProxyMode::Nftables => "nftables",
            KubeProxyMode::Ipvs => "ipvs",
        }
    }
}

impl fmt::Display for KubeProxyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KubeProxyMode {
    type Err = GenError;

    fn from_str(s: &str) -> Result<Self, GenError> {
        KubeProxyMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| GenError::UnknownKubeProxyMode(s.to_string()))
    }
}

/// How the generated Services are programmed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceSpec {
    pub kube_proxy: KubeProxyMode,
    /// Ready endpoints per Service; `None`: three, at most one per node
    /// (what `generate` always gave).
    pub endpoints_per_service: Option<usize>,
    /// Every 10th Service a NodePort, every 20th with
    /// externalTrafficPolicy Local; in IPVS mode, their kube-proxy
    /// iptables rules and ipsets are written too.
    pub node_ports: bool,
}

/// Programs node `i` as kube-proxy in `svc.kube_proxy` mode would.
pub(crate) fn program(
    plan: &Plan,
    i: usize,
    objects: &K8s,
    svc: &ServiceSpec,
    node: &mut NodeSnapshot,
) -> Result<(), GenError> {
    if plan.spec.services == 0 || plan.spec.pods_per_node == 0 {
        return Ok(());
    }
    let kp = KpNode {
        name: Some(plan.node_name(i)),
        addresses: vec![v4(plan.node_ip(i))],
        cluster_cidr: plan.pod_range.into(),
    };
    if svc.node_ports || svc.kube_proxy != KubeProxyMode::Ipvs {
        // kube-proxy needs bridged pod traffic to cross iptables (it warns
        // and the Service hairpin fails without): br_netfilter is loaded.
        let sysctls = node.sysctls.get_or_insert_with(Default::default);
        sysctls.insert("net.bridge.bridge-nf-call-iptables".into(), "1".into());
    }
    node.netfilter = match svc.kube_proxy {
        KubeProxyMode::Iptables => Some(iptables(&node.name, &iptables_save_for(objects, &kp))?),
        KubeProxyMode::Nftables => Some(nftables(&node.name, nft_json_for(objects, &kp))?),
        KubeProxyMode::Ipvs => {
            k8s::ipvs(plan, svc, i, node);
            ipvs_rules(&node.name, objects, &kp, svc.node_ports)?
        }
    };
    Ok(())
}

fn rules_error<'a>(
    node: &'a str,
    file: &'static str,
) -> impl Fn(cnictl_formats::ParseError) -> GenError + 'a {
    move |e| GenError::Rules {
        node: node.to_string(),
        file,
        reason: e.to_string(),
    }
}

fn iptables(node: &str, text: &str) -> Result<Netfilter, GenError> {
    let source = Source::IptablesSave;
    let tables = cnictl_formats::parse_iptables_save(text, source)
        .map_err(rules_error(node, source.file()))?;
    Ok(Netfilter {
        tables,
        sources: vec![source],
        ..Netfilter::default()
    })
}

fn nftables(node: &str, json: String) -> Result<Netfilter, GenError> {
    let source = Source::NftRuleset;
    let tables =
        cnictl_formats::parse_nft_ruleset(&json).map_err(rules_error(node, source.file()))?;
    Ok(Netfilter {
        tables,
        sources: vec![source],
        nft_json: Some(json),
        ..Netfilter::default()
    })
}

/// IPVS mode's iptables rules and ipsets, only when asked for (`generate`
/// gives IPVS tables alone, as it always did).
fn ipvs_rules(
    node: &str,
    objects: &K8s,
    kp: &KpNode,
    wanted: bool,
) -> Result<Option<Netfilter>, GenError> {
    if !wanted {
        return Ok(None);
    }
    let (text, sets) = ipvs_companions(objects, kp);
    let mut nf = iptables(node, &text)?;
    let sets =
        cnictl_formats::parse_ipset_save(&sets).map_err(rules_error(node, "ipset-save.txt"))?;
    nf.ipsets = Some(sets);
    Ok(Some(nf))
}
