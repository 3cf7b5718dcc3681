//! The lab's VXLAN variants beyond Flannel's default: Calico VXLAN, the
//! two-subnet underlay (`lab up --cross-subnet`) and Flannel's
//! DirectRouting (`lab up flannel-vxlan --direct-routing`).
//!
//! - **calico-vxlan** as Felix programs it (projectcalico/calico read at
//!   revision 006d24a: `felix/dataplane/linux/vxlan_mgr.go`, its route
//!   manager and `vxlanfdb`; route protocol 80 is `dataplanedefs.
//!   DefaultRouteProto`): `vxlan.calico` (VNI 4096, UDP 4789, the node's
//!   `VXLANTunnelMACAddr`, `local <node IP>`, MTU 1450, no learning) holding
//!   the node's VTEP address `/32`, taken from its own IPAM block; per peer a
//!   permanent neighbour entry VTEP address → VTEP MAC and an FDB entry VTEP
//!   MAC → node IP (Felix writes both for every VTEP, same subnet or not);
//!   its own block a `blackhole … proto 80`, each peer's block `via <peer
//!   VTEP address> dev vxlan.calico onlink proto 80`. The node annotations
//!   are the ones libcalico-go's Kubernetes node conversion writes
//!   (`projectcalico.org/IPv4VXLANTunnelAddr`, `…/VXLANTunnelMACAddr`).
//! - **--cross-subnet**: odd nodes stay on 192.0.2.0/24, even ones move to
//!   198.51.100.0/24 (a second bridge in the underlay namespace, which
//!   routes between them). On calico-vxlan it is vxlanMode CrossSubnet:
//!   Felix's route manager sends a block of a node on the same subnet
//!   `via <node IP> dev eth0 proto 80` (route class VXLANSameSubnet) and
//!   the rest over VXLAN.
//! - **--direct-routing** (implies --cross-subnet): flanneld's
//!   `handleSubnetEvents` (flannel-io/flannel read at revision 067ed7f,
//!   `pkg/backend/vxlan/vxlan_network.go`) installs
//!   `<subnet> via <public-ip>` for a peer whose public IP the kernel
//!   routes without a gateway (`ip.DirectRouting`), and only for the other
//!   peers the neighbour, FDB entry and onlink VXLAN route.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::lab::{LabError, LabPlan};
use crate::GenModel;

impl LabPlan {
    /// The same lab on two underlay subnets, and with Flannel's
    /// DirectRouting (which implies them: the lab shows both kinds of peer).
    pub fn with_underlay(
        mut self,
        cross_subnet: bool,
        direct_routing: bool,
    ) -> Result<LabPlan, LabError> {
        let vxlan = matches!(self.model, GenModel::FlannelVxlan | GenModel::CalicoVxlan);
        if cross_subnet && !vxlan {
            return Err(LabError::CrossSubnet(self.model.to_string()));
        }
        if direct_routing && self.model != GenModel::FlannelVxlan {
            return Err(LabError::DirectRouting(self.model.to_string()));
        }
        if self.dual_stack && (cross_subnet || direct_routing) {
            // The IPv6 underlay is one subnet on the first bridge.
            return Err(LabError::DualStack(format!(
                "{} --cross-subnet",
                self.model
            )));
        }
        self.cross_subnet = cross_subnet || direct_routing;
        self.direct_routing = direct_routing;
        Ok(self)
    }

    /// With `--cross-subnet`, even nodes sit on the second subnet.
    pub fn in_second_subnet(&self, n: u32) -> bool {
        self.cross_subnet && n.is_multiple_of(2)
    }

    /// The underlay namespace's address on the second subnet.
    pub fn gateway2(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 51, 100, 1)
    }

    /// Node n's default gateway: the underlay's address on its subnet.
    pub fn node_gateway(&self, n: u32) -> Ipv4Addr {
        match self.in_second_subnet(n) {
            true => self.gateway2(),
            false => self.gateway(),
        }
    }

    /// The VXLAN device, VNI and UDP port of the model ("" / 0 without).
    pub fn vxlan(&self) -> (&'static str, u32, u16) {
        match self.model {
            GenModel::FlannelVxlan => ("flannel.1", 1, 8472),
            GenModel::CalicoVxlan => ("vxlan.calico", 4096, 4789),
            _ => ("", 0, 0),
        }
    }

    /// What other nodes route to node n's pods: its Calico block or its
    /// Flannel subnet.
    pub fn peer_net(&self, n: u32) -> Ipv4Net {
        match self.is_calico() {
            true => self.calico_block(n),
            false => self.pod_cidr(n),
        }
    }

    /// Node a routes node b's pods straight to b's node IP on the
    /// underlay, unencapsulated: the two share a subnet and the model does
    /// that for such peers (Calico CrossSubnet, Flannel DirectRouting).
    pub fn direct_between(&self, a: u32, b: u32) -> bool {
        let same = self.in_second_subnet(a) == self.in_second_subnet(b);
        same && self.same_subnet_direct()
    }

    /// The model routes same-subnet peers directly (Calico CrossSubnet,
    /// Flannel DirectRouting).
    pub fn same_subnet_direct(&self) -> bool {
        match self.model {
            GenModel::CalicoVxlan => self.cross_subnet,
            GenModel::FlannelVxlan => self.direct_routing,
            _ => false,
        }
    }

    /// calico-node's annotations on a VXLAN node: its address, VTEP
    /// address and VTEP MAC.
    pub(crate) fn calico_vxlan_annotations(&self, n: u32) -> Vec<(&'static str, String)> {
        vec![
            (
                "projectcalico.org/IPv4Address",
                format!("{}/24", self.node_ip(n)),
            ),
            (
                "projectcalico.org/IPv4VXLANTunnelAddr",
                self.vtep_ip(n).to_string(),
            ),
            ("projectcalico.org/VXLANTunnelMACAddr", self.vtep_mac(n)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use crate::lab::{LabError, LabPlan};

    fn lab(model: &str, cross: bool, direct: bool) -> Result<LabPlan, LabError> {
        LabPlan::new(model, 3, 2, "cnlt")
            .expect("valid lab")
            .with_underlay(cross, direct)
    }

    #[test]
    fn calico_vxlan_plan() {
        let p = lab("calico-vxlan", false, false).expect("plan");
        assert_eq!(p.vxlan(), ("vxlan.calico", 4096, 4789));
        assert_eq!(p.peer_net(2).to_string(), "10.244.2.0/26");
        assert_eq!(p.pod_mtu(), 1450);
        let k = p.k8s();
        let a = &k.nodes[1].annotations;
        assert_eq!(a["projectcalico.org/IPv4VXLANTunnelAddr"], "10.244.2.0");
        assert_eq!(
            a["projectcalico.org/VXLANTunnelMACAddr"],
            "66:ca:0a:f4:02:00"
        );
        assert!(k.nodes[1].pod_cidrs.is_empty());
        assert!(!p.direct_between(1, 3));
    }

    #[test]
    fn cross_subnet_underlay() {
        let p = lab("calico-vxlan", true, false).expect("plan");
        assert_eq!(p.node_ip(1).to_string(), "192.0.2.11");
        assert_eq!(p.node_ip(2).to_string(), "198.51.100.12");
        assert_eq!(p.node_gateway(2).to_string(), "198.51.100.1");
        assert!(p.direct_between(1, 3));
        assert!(!p.direct_between(1, 2));
        let f = lab("flannel-vxlan", true, false).expect("plan");
        assert!(!f.direct_between(1, 3), "flannel without DirectRouting");
        let d = lab("flannel-vxlan", false, true).expect("plan");
        assert!(d.cross_subnet && d.direct_between(3, 1));
    }

    #[test]
    fn options_fit_the_model() {
        let e = lab("calico-bgp", true, false).expect_err("no cross-subnet");
        assert_eq!(e, LabError::CrossSubnet("calico-bgp".into()));
        let e = lab("calico-vxlan", false, true).expect_err("flannel only");
        assert_eq!(e, LabError::DirectRouting("calico-vxlan".into()));
    }
}
