//! A dual-stack lab's IPv6 side (`lab up --dual-stack`): the same fixed
//! numbering as IPv4, written in hexadecimal groups that read like the
//! IPv4 ones. Underlay fd00:192:0:2::/64 (gateway ::1, node n at
//! ::(10+n) as hex digits, so node-1 is fd00:192:0:2::11), node n's pod
//! CIDR fd00:10:244:n::/64 with cni0 at ::1 and pod p at ::(1+p), all
//! inside the pod range fd00:10:244::/48.
//!
//! calico-bgp: node n's IPv6 IPAM block is fd00:10:244:n::/122 (Calico's
//! default IPv6 block size) in the IPPool fd00:10:244::/48, so the same pod
//! addresses fall in it (up to [`CALICO_V6_PODS`] pods per node); BIRD runs
//! one IPv6 session per peer between the nodes' IPv6 addresses, as confd's
//! bird6.cfg.template (Calico v3.27) renders them for bird6.

use std::net::Ipv6Addr;

use ipnet::Ipv6Net;

use cnictl_model::{BlockAffinity, IpPool};
use ipnet::IpNet;

use crate::lab::{LabError, LabPlan};
use crate::GenModel;

/// `fd00:10:244::/48` as eight groups, with `n` and `host` filled in.
fn pod_addr(n: u32, host: u32) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0x10, 0x244, group(n), 0, 0, 0, group(host))
}

/// A decimal number below 10000 written so its hex form reads the same
/// (11 → 0x11), as the addresses in the docs do.
fn group(v: u32) -> u16 {
    u16::from_str_radix(&v.min(9999).to_string(), 16).unwrap_or(0)
}

/// The most pods per node whose IPv6 address ::(1+p), written to read like
/// the decimal, stays inside a /122 block (::0 to ::3f).
pub const CALICO_V6_PODS: u32 = 38;

/// Calico's default IPv6 IPAM block size (`blockSize` of an IPv6 IPPool).
const CALICO_V6_BLOCK: u8 = 122;

impl LabPlan {
    /// The same lab with IPv6 beside IPv4 (flannel-host-gw, flannel-vxlan,
    /// calico-bgp).
    pub fn with_dual_stack(mut self, on: bool) -> Result<LabPlan, LabError> {
        let built = matches!(
            self.model,
            GenModel::FlannelHostGw | GenModel::FlannelVxlan | GenModel::CalicoBgp
        );
        if on && !built {
            return Err(LabError::DualStack(self.model.to_string()));
        }
        if on && self.is_calico() && self.pods_per_node > CALICO_V6_PODS {
            return Err(LabError::DualStackPods(CALICO_V6_PODS));
        }
        self.dual_stack = on;
        Ok(self)
    }

    /// Calico: node n's IPv6 IPAM block.
    pub fn calico_block6(&self, n: u32) -> Ipv6Net {
        // Cannot fail: 122 ≤ 128.
        Ipv6Net::new(pod_addr(n, 0), CALICO_V6_BLOCK).expect("valid /122")
    }

    /// BIRD's name for this node's IPv6 session to node n: bird6.cfg.template
    /// joins the peer's address split at ':' with '_' (`Mesh_fd00_192_0_2__12`).
    pub fn session_name6(&self, n: u32) -> String {
        let stem = if self.reflectors > 0 { "Node" } else { "Mesh" };
        format!("{stem}_{}", self.node_ip6(n).to_string().replace(':', "_"))
    }

    pub fn gateway6(&self) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, 0x192, 0, 2, 0, 0, 0, 1)
    }

    pub fn node_ip6(&self, n: u32) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, 0x192, 0, 2, 0, 0, 0, group(10 + n))
    }

    /// The IPv6 pod range every pod routes through its gateway.
    pub fn pod_range6(&self) -> Ipv6Net {
        let base = Ipv6Addr::new(0xfd00, 0x10, 0x244, 0, 0, 0, 0, 0);
        // Cannot fail: 48 ≤ 128.
        Ipv6Net::new(base, 48).expect("valid /48")
    }

    /// Node n's IPv6 pod CIDR (`spec.podCIDRs[1]`).
    pub fn pod_cidr6(&self, n: u32) -> Ipv6Net {
        // Cannot fail: 64 ≤ 128.
        Ipv6Net::new(pod_addr(n, 0), 64).expect("valid /64")
    }

    pub fn cni0_ip6(&self, n: u32) -> Ipv6Addr {
        pod_addr(n, 1)
    }

    pub fn pod_ip6(&self, n: u32, p: u32) -> Ipv6Addr {
        pod_addr(n, 1 + p)
    }

    /// Calico's IPv6 pool as calico-node creates it by default
    /// (`CALICO_IPV6POOL_*`: block size 122, no encapsulation, no NAT).
    pub(crate) fn ip_pool6(&self) -> IpPool {
        IpPool {
            name: "default-ipv6-ippool".into(),
            cidr: IpNet::V6(self.pod_range6()),
            block_size: Some(CALICO_V6_BLOCK),
            ipip_mode: Some("Never".into()),
            vxlan_mode: Some("Never".into()),
            nat_outgoing: false,
            disabled: false,
            node_selector: Some("all()".into()),
        }
    }

    /// Node n's affinity for its IPv6 block.
    pub(crate) fn affinity6(&self, n: u32) -> BlockAffinity {
        self.affinity_for(n, IpNet::V6(self.calico_block6(n)))
    }

    /// flannel-v6.1's address on node n: the network address of its IPv6
    /// pod CIDR (flanneld v0.25 `RegisterNetwork`: `lease.IPv6Subnet.IP`
    /// as a /128), which peers route to onlink.
    pub fn vtep_ip6(&self, n: u32) -> Ipv6Addr {
        pod_addr(n, 0)
    }

    /// flannel-v6.1's MAC on node n. flanneld gives the IPv6 VXLAN device
    /// its own random MAC (`newVXLANDevice`), published as the VtepMAC of
    /// `backend-v6-data`; the lab's is fixed, derived like the IPv4 one.
    pub fn vtep_mac6(&self, n: u32) -> String {
        format!("0e:f6:02:44:{n:02x}:00")
    }

    /// What flanneld adds on a dual-stack node: its IPv6 public IP and,
    /// for VXLAN, the IPv6 device's lease data (flanneld v0.25
    /// `newSubnetAttrs`: `BackendV6Data` = `{"VNI":1,"VtepMAC":…}`, the
    /// `backend-v6-data` annotation of pkg/subnet/kube/annotations.go).
    pub(crate) fn v6_annotations(&self, n: u32) -> Vec<(&'static str, String)> {
        let flannel = matches!(self.model, GenModel::FlannelVxlan | GenModel::FlannelHostGw);
        match (self.dual_stack, flannel) {
            (true, true) => self.flannel_v6_annotations(n),
            (true, false) => vec![(
                "projectcalico.org/IPv6Address",
                format!("{}/64", self.node_ip6(n)),
            )],
            _ => Vec::new(),
        }
    }

    fn flannel_v6_annotations(&self, n: u32) -> Vec<(&'static str, String)> {
        let mut v = vec![(
            "flannel.alpha.coreos.com/public-ipv6",
            self.node_ip6(n).to_string(),
        )];
        if self.model == GenModel::FlannelVxlan {
            let data = format!("{{\"VNI\":1,\"VtepMAC\":\"{}\"}}", self.vtep_mac6(n));
            v.push(("flannel.alpha.coreos.com/backend-v6-data", data));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_read_like_the_ipv4_ones() {
        let plan = LabPlan::new("flannel-host-gw", 3, 2, "cnlt").unwrap();
        let plan = plan.with_dual_stack(true).unwrap();
        assert_eq!(plan.node_ip6(1).to_string(), "fd00:192:0:2::11");
        assert_eq!(plan.pod_cidr6(2).to_string(), "fd00:10:244:2::/64");
        assert_eq!(plan.pod_ip6(2, 2).to_string(), "fd00:10:244:2::3");
        assert_eq!(plan.cni0_ip6(3).to_string(), "fd00:10:244:3::1");
        let k8s = plan.k8s();
        assert_eq!(k8s.nodes[0].pod_cidrs.len(), 2);
        assert!(k8s.pods.iter().all(|p| p.ips.len() == 2));
    }

    #[test]
    fn calico_bgp_blocks_sessions_and_objects() {
        let plan = LabPlan::new("calico-bgp", 3, 2, "cnlt").unwrap();
        let plan = plan.with_dual_stack(true).unwrap();
        assert_eq!(plan.calico_block6(2).to_string(), "fd00:10:244:2::/122");
        assert!(plan.calico_block6(2).contains(&plan.pod_ip6(2, 2)));
        assert_eq!(plan.session_name6(2), "Mesh_fd00_192_0_2__12");
        let k8s = plan.k8s();
        let ann = &k8s.nodes[0].annotations["projectcalico.org/IPv6Address"];
        assert_eq!(ann, "fd00:192:0:2::11/64");
        assert!(k8s.nodes[0].pod_cidrs.is_empty(), "Calico uses its IPAM");
        let pools = k8s.calico.ip_pools.as_ref().unwrap();
        assert_eq!(pools[1].cidr.to_string(), "fd00:10:244::/48");
        assert_eq!(pools[1].block_size, Some(122));
        let aff = k8s.calico.block_affinities.as_ref().unwrap();
        assert_eq!(aff[3].name, "node-1-fd00-10-244-1---122");
        let many = LabPlan::new("calico-bgp", 3, 39, "cnlt").unwrap();
        assert_eq!(many.with_dual_stack(true), Err(LabError::DualStackPods(38)));
        let vxlan = LabPlan::new("calico-vxlan", 3, 2, "cnlt").unwrap();
        assert!(vxlan.with_dual_stack(true).is_err());
    }

    #[test]
    fn flannel_vxlan_publishes_its_ipv6_vtep() {
        let plan = LabPlan::new("flannel-vxlan", 3, 2, "cnlt").unwrap();
        let plan = plan.with_dual_stack(true).unwrap();
        assert_eq!(plan.vtep_ip6(2).to_string(), "fd00:10:244:2::");
        let a = &plan.k8s().nodes[1].annotations;
        assert_eq!(
            a["flannel.alpha.coreos.com/backend-v6-data"],
            r#"{"VNI":1,"VtepMAC":"0e:f6:02:44:02:00"}"#
        );
        assert_eq!(
            a["flannel.alpha.coreos.com/public-ipv6"],
            "fd00:192:0:2::12"
        );
        let cross = plan.with_underlay(true, false);
        assert!(matches!(cross, Err(LabError::DualStack(_))));
    }
}
