//! Pods as endpoints. A pod whose netns was collected is an ordinary
//! namespace; one that was not is inferred: it sends along its default
//! route straight onto its host-side device (a routed veth or its bridge),
//! and receives only what is addressed to it. Its hooks and hops carry the
//! pod on the node's root namespace.

use std::net::IpAddr;

use super::netfilter::{Hook, HookPoint};
use super::{too_big, veth_into, Next, PacketState, Rec};
use crate::tables::Dataplane;
use crate::types::*;

impl Dataplane {
    /// A pod sends: from its collected netns, or inferred.
    pub(super) fn pod_egress<R: Rec>(&self, pod: PodId, st: &mut PacketState, rec: &mut R) -> Next {
        let p = &self.pods[pod.0 as usize];
        let root = self.nodes[p.node as usize].root;
        if let Some(ns) = p.ns {
            rec.push(hop_in(ns, None, Step::Origin));
            return Next::sent_from(ns);
        }
        let Some(gw) = p.gateway else {
            return pod_drop(
                rec,
                root,
                pod,
                Disposition::InsufficientInfo,
                Reason::PeerUnknown,
            );
        };
        let host_side = p.host_dev.or(p.bridge);
        let mtu = host_side.map_or(1500, |d| self.ns[root.0 as usize].device(d).mtu);
        if let Some(r) = too_big(&st.wire.packet, mtu) {
            return pod_drop(rec, root, pod, Disposition::MtuExceeded, r);
        }
        rec.push(hop_in(root, Some(pod), Step::InferredEgress { gw }));
        let at = HookPoint {
            pod: Some(pod),
            ..HookPoint::new(Hook::Output, root, None, None)
        };
        if let Some(next) = self.netfilter_each(st, at, &[Hook::Output, Hook::Postrouting], rec) {
            return next;
        }
        match (p.host_dev, p.bridge) {
            (Some(d), _) => self.routed_pod_egress(root, pod, d, gw, rec),
            (None, Some(b)) => bridged_pod_egress(root, pod, b, gw, rec),
            (None, None) => Next::Done(Disposition::InsufficientInfo, Reason::PeerUnknown),
        }
    }

    /// The gateway is answered by proxy ARP on the host veth, which the
    /// frame then crosses.
    fn routed_pod_egress<R: Rec>(
        &self,
        root: NsId,
        pod: PodId,
        dev: u32,
        gw: IpAddr,
        rec: &mut R,
    ) -> Next {
        if !self.ns[root.0 as usize].device(dev).answers_proxy_arp() {
            let r = Reason::ArpUnresolved { ip: gw };
            return pod_drop(rec, root, pod, Disposition::NeighbourUnresolved, r);
        }
        let owner = Owner::Proxy {
            ns: root,
            link: dev,
        };
        rec.push(hop_in(root, Some(pod), Step::Arp { ip: gw, owner }));
        let step = veth_into(root, dev);
        rec.push(hop_in(root, Some(pod), step));
        Next::arrive(root, dev)
    }

    /// A packet reaches a pod whose netns was not collected.
    pub(super) fn pod_input<R: Rec>(&self, st: &mut PacketState, pod: PodId, rec: &mut R) -> Next {
        let p = &self.pods[pod.0 as usize];
        let root = self.nodes[p.node as usize].root;
        let at = HookPoint {
            pod: Some(pod),
            ..HookPoint::new(Hook::Prerouting, root, None, None)
        };
        if let Some(next) = self.netfilter(st, at, rec) {
            return next;
        }
        if !p.ips.contains(&st.wire.packet.dst) {
            let r = Reason::PodDoesNotForward;
            return pod_drop(rec, root, pod, Disposition::IpForwardDisabled, r);
        }
        let input = HookPoint {
            hook: Hook::Input,
            ..at
        };
        if let Some(next) = self.netfilter(st, input, rec) {
            return next;
        }
        rec.push(hop_in(
            root,
            Some(pod),
            Step::Deliver {
                reason: Reason::Local,
            },
        ));
        Next::Done(Disposition::Delivered, Reason::Local)
    }
}

/// The gateway is the bridge's own address: up to the node's stack.
fn bridged_pod_egress<R: Rec>(root: NsId, pod: PodId, b: u32, gw: IpAddr, rec: &mut R) -> Next {
    let owner = Owner::Bridge { ns: root, link: b };
    rec.push(hop_in(root, Some(pod), Step::Arp { ip: gw, owner }));
    rec.push(Hop {
        ns: root,
        pod: None,
        in_dev: Some(b),
        out_dev: None,
        step: Step::BridgeLocal,
    });
    Next::arrive(root, b)
}

/// A hop in `ns` (in an inferred pod netns when `pod` is set).
fn hop_in(ns: NsId, pod: Option<PodId>, step: Step) -> Hop {
    Hop {
        ns,
        pod,
        in_dev: None,
        out_dev: None,
        step,
    }
}

fn pod_drop<R: Rec>(rec: &mut R, root: NsId, pod: PodId, d: Disposition, r: Reason) -> Next {
    let step = Step::Drop {
        disposition: d,
        reason: r,
    };
    rec.push(hop_in(root, Some(pod), step));
    Next::Done(d, r)
}
