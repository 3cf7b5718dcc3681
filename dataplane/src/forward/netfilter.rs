//! Netfilter hook points: where Linux runs `NF_HOOK`, the engine calls
//! [`Dataplane::netfilter`] — PREROUTING before the routing decision (so a
//! DNAT can change the route), INPUT before local delivery, FORWARD after
//! the routing decision for forwarded packets, OUTPUT for locally originated
//! ones (the node's own encapsulated packets included), POSTROUTING just
//! before transmit (SNAT/MASQUERADE); and for frames a bridge forwards
//! between its ports, the bridge path when `bridge-nf-call-iptables = 1`.
//!
//! No rules are modelled yet: [`Dataplane::hook_verdict`] is the seam a
//! netfilter evaluator fills in, and today every packet continues, so traces
//! are those of a host without rules.

use crate::tables::Dataplane;
use crate::types::{Ingress, NsId, Packet, PodId};

use super::{Next, PacketState, Rec};

/// A netfilter hook, in the kernel's names (`NF_INET_*`; the bridge ones are
/// `NF_BR_*` as br_netfilter runs the IP tables on them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
    /// A frame entering a bridge port, to be bridged to another port.
    BridgePrerouting,
    BridgeForward,
    BridgePostrouting,
}

impl Hook {
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
            Hook::BridgePrerouting => "bridge-prerouting",
            Hook::BridgeForward => "bridge-forward",
            Hook::BridgePostrouting => "bridge-postrouting",
        }
    }
}

/// Where a hook runs: the namespace (as in [`crate::Hop`]: `pod` is set,
/// and `ns` is the node's root, when the pod netns was not collected) and
/// the devices the kernel passes to the hook (`in`/`out` of iptables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookPoint {
    pub hook: Hook,
    pub ns: NsId,
    pub pod: Option<PodId>,
    pub in_dev: Option<u32>,
    pub out_dev: Option<u32>,
}

impl HookPoint {
    pub(super) fn new(hook: Hook, ns: NsId, in_dev: Option<u32>, out_dev: Option<u32>) -> Self {
        HookPoint {
            hook,
            ns,
            pod: None,
            in_dev,
            out_dev,
        }
    }

    /// The same place at another hook, with the devices that hook sees:
    /// only `in` before the routing decision and at INPUT, only `out` at
    /// OUTPUT and POSTROUTING, both at FORWARD.
    fn with_hook(self, hook: Hook) -> Self {
        let (in_dev, out_dev) = match hook {
            Hook::Prerouting | Hook::BridgePrerouting | Hook::Input => (self.in_dev, None),
            Hook::Output | Hook::Postrouting | Hook::BridgePostrouting => (None, self.out_dev),
            Hook::Forward | Hook::BridgeForward => (self.in_dev, self.out_dev),
        };
        HookPoint {
            hook,
            in_dev,
            out_dev,
            ..self
        }
    }
}

/// What the rules at a hook decide.
///
/// Only `Continue` exists today. Room is left, and the engine's call sites
/// are shaped for it (each returns early on a verdict that is not
/// `Continue`): `Drop`/`Reject { rule }` would record a drop hop and end
/// the trace; `Rewrite { packet }` (DNAT/SNAT) would replace the packet —
/// at PREROUTING before the routing decision, so the new destination is
/// routed; at OUTPUT followed by a re-route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HookVerdict {
    Continue,
}

impl Dataplane {
    /// Runs the hook at `point`: tells the recorder, asks for the verdict,
    /// applies it. `None`: the packet continues.
    pub(super) fn netfilter<R: Rec>(
        &self,
        st: &mut PacketState,
        point: HookPoint,
        rec: &mut R,
    ) -> Option<Next> {
        rec.hook(point);
        match self.hook_verdict(point, &st.wire.packet) {
            HookVerdict::Continue => None,
        }
    }

    /// Runs `hooks` in order at one place, stopping at the first verdict
    /// that ends or redirects the packet.
    pub(super) fn netfilter_each<R: Rec>(
        &self,
        st: &mut PacketState,
        at: HookPoint,
        hooks: &[Hook],
        rec: &mut R,
    ) -> Option<Next> {
        hooks
            .iter()
            .find_map(|&hook| self.netfilter(st, at.with_hook(hook), rec))
    }

    /// The verdict of the netfilter rules at `point` for `packet` — the one
    /// function a netfilter evaluator implements (reading rules compiled
    /// per namespace by `build/`). No rules are modelled yet: continue.
    #[inline]
    pub fn hook_verdict(&self, _point: HookPoint, _packet: &Packet) -> HookVerdict {
        HookVerdict::Continue
    }

    /// The netfilter hooks `pkt` from `ingress` passes, in order (IPVS
    /// branches follow one another).
    pub fn netfilter_path(&self, pkt: &Packet, ingress: Ingress) -> Vec<HookPoint> {
        let mut rec = HookRec::default();
        self.run_from(pkt, ingress, &mut rec);
        rec.points
    }
}

/// Records the hook points only.
#[derive(Default)]
struct HookRec {
    points: Vec<HookPoint>,
}

impl Rec for HookRec {
    fn push(&mut self, _: crate::Hop) {}
    fn child(&self) -> Self {
        HookRec::default()
    }
    fn branch(
        &mut self,
        _: NsId,
        _: u32,
        _: u32,
        child: Self,
        _: crate::Disposition,
        _: crate::Reason,
    ) {
        self.points.extend(child.points);
    }
    fn hook(&mut self, point: HookPoint) {
        self.points.push(point);
    }
}
