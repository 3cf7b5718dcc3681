//! Bridge segments: per bridge, which port (and whose namespace) owns each
//! IP on it, so bridged ARP/FDB resolution is one hash lookup.

use std::net::IpAddr;

use crate::tables::{Dataplane, Device, LinkKind, Namespace, Peer};
use crate::types::{NsId, Owner, PodId};

/// (namespace, bridge, IP, port, owner) to record.
type SegmentOwner = (NsId, u32, IpAddr, Option<u32>, Owner);

impl Dataplane {
    pub(super) fn build_segments(&mut self) {
        let mut adds: Vec<SegmentOwner> = Vec::new();
        for (n, ns) in self.ns.iter().enumerate() {
            let nsid = NsId(n as u32);
            for (b, dev) in ns.devices.iter().enumerate() {
                if dev.kind == LinkKind::Bridge {
                    self.bridge_owners(nsid, ns, b as u32, dev, &mut adds);
                }
            }
        }
        self.inferred_bridge_pods(&mut adds);
        for (ns, b, ip, port, owner) in adds {
            self.ns[ns.0 as usize]
                .segment_owners
                .entry((b, ip))
                .or_insert((port, owner));
        }
    }

    /// The bridge's own addresses, then what each port's peer holds.
    fn bridge_owners(
        &self,
        nsid: NsId,
        ns: &Namespace,
        b: u32,
        bridge: &Device,
        adds: &mut Vec<SegmentOwner>,
    ) {
        let own = Owner::Bridge { ns: nsid, link: b };
        for (ip, _) in ns.local.iter().filter(|(_, &link)| link == b) {
            adds.push((nsid, b, *ip, None, own));
        }
        for &port in &bridge.ports {
            for (ip, owner) in self.port_owners(ns.device(port).peer) {
                adds.push((nsid, b, ip, Some(port), owner));
            }
        }
    }

    /// The addresses behind a bridge port and who holds them.
    fn port_owners(&self, peer: Peer) -> Vec<(IpAddr, Owner)> {
        match peer {
            Peer::Dev(pns, plink) => self.ns[pns.0 as usize]
                .local
                .iter()
                .filter(|(_, &l)| l == plink)
                .map(|(ip, _)| {
                    (
                        *ip,
                        Owner::Dev {
                            ns: pns,
                            link: plink,
                        },
                    )
                })
                .collect(),
            Peer::Pod(pod) => self.pods[pod.0 as usize]
                .ips
                .iter()
                .map(|ip| (*ip, Owner::Pod(pod)))
                .collect(),
            Peer::None => Vec::new(),
        }
    }

    /// Pods without a netns that hang off a bridge by its subnet.
    fn inferred_bridge_pods(&self, adds: &mut Vec<SegmentOwner>) {
        for (p, pod) in self.pods.iter().enumerate() {
            if let (Some(b), None) = (pod.bridge, pod.ns) {
                let root = self.nodes[pod.node as usize].root;
                for ip in &pod.ips {
                    adds.push((root, b, *ip, pod.host_dev, Owner::Pod(PodId(p as u32))));
                }
            }
        }
    }
}
