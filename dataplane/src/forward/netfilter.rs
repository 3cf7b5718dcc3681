//! Netfilter hook points: where Linux runs `NF_HOOK`, the engine evaluates
//! the node's rules ([`crate::nf`]) — PREROUTING before the routing
//! decision (so a DNAT changes the route), INPUT before local delivery,
//! FORWARD after the routing decision for forwarded packets, OUTPUT for
//! locally originated ones (the node's own encapsulated packets included),
//! POSTROUTING just before transmit (SNAT/MASQUERADE); and for frames a
//! bridge forwards between its ports, the IP hooks again when
//! `bridge-nf-call-iptables = 1` (br_netfilter), with the bridge as the
//! in/out device and the ports as `physdev`.
//!
//! Rules are read for a node's root namespace only: pod netns rules are not
//! collected, so their hooks continue (as on a pod without rules). A node
//! whose rules were not collected continues too, and the trace says so.
//! What a hook did — drop, reject, rewrite, mark, not evaluable — is a
//! [`Step::Netfilter`] hop; a `statistic`/`numgen` split becomes branches.

use cnictl_model::netfilter::{self as nfm, CtState};

use crate::nf::{HookPath, HookVerdict as NfVerdict, NfPacket, RuleRef, Ruleset};
use crate::tables::Dataplane;
use crate::types::{HookEval, Ingress, NfAction, NsId, Packet, PodId};

use super::nfview::{action_of, nf_packet, NsView};
use super::{hop, Disposition, Next, PacketState, Reason, Rec, Split, Step};

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
    /// The hook's name, in the variants' order.
    const NAMES: [&'static str; 8] = [
        "prerouting",
        "input",
        "forward",
        "output",
        "postrouting",
        "bridge-prerouting",
        "bridge-forward",
        "bridge-postrouting",
    ];

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The IP hook's name (`forward` for the bridged FORWARD too).
    pub fn ip_hook_name(self) -> &'static str {
        match self.ip_hook() {
            nfm::Hook::Prerouting => "prerouting",
            nfm::Hook::Input => "input",
            nfm::Hook::Forward => "forward",
            nfm::Hook::Output => "output",
            _ => "postrouting",
        }
    }

    /// The IP hook whose tables run here (br_netfilter runs the IP ones).
    pub fn ip_hook(self) -> nfm::Hook {
        match self {
            Hook::Prerouting | Hook::BridgePrerouting => nfm::Hook::Prerouting,
            Hook::Input => nfm::Hook::Input,
            Hook::Forward | Hook::BridgeForward => nfm::Hook::Forward,
            Hook::Output => nfm::Hook::Output,
            Hook::Postrouting | Hook::BridgePostrouting => nfm::Hook::Postrouting,
        }
    }

    /// The NAT manip a hook sets up: destination at PREROUTING and OUTPUT
    /// (`Some(true)`), source at INPUT and POSTROUTING (`Some(false)`),
    /// none at FORWARD (`nf_nat_inet_fn`: one manip type per hook).
    fn nat_manip(self) -> Option<bool> {
        match self {
            Hook::Prerouting | Hook::BridgePrerouting | Hook::Output => Some(true),
            Hook::Input | Hook::Postrouting | Hook::BridgePostrouting => Some(false),
            Hook::Forward | Hook::BridgeForward => None,
        }
    }
}

/// Where a hook runs: the namespace (as in [`crate::Hop`]: `pod` is set,
/// and `ns` is the node's root, when the pod netns was not collected) and
/// the devices the kernel passes to the hook (`in`/`out` of iptables).
/// On the bridge path `in_dev`/`out_dev` are the bridge ports and `bridge`
/// the bridge itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookPoint {
    pub hook: Hook,
    pub ns: NsId,
    pub pod: Option<PodId>,
    pub in_dev: Option<u32>,
    pub out_dev: Option<u32>,
    pub bridge: Option<u32>,
}

impl HookPoint {
    pub(super) fn new(hook: Hook, ns: NsId, in_dev: Option<u32>, out_dev: Option<u32>) -> Self {
        HookPoint {
            hook,
            ns,
            pod: None,
            in_dev,
            out_dev,
            bridge: None,
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

/// What the rules at one hook decide for one packet (the engine's seam).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HookVerdict {
    /// No rules here (a pod netns, or a node whose rules were not
    /// collected): the packet continues unchanged.
    NotEvaluated,
    /// Every way through the hook, each with its share of new connections
    /// (one path unless a `statistic`/`numgen` rule splits the traffic).
    Paths(Vec<HookPath>),
}

impl Dataplane {
    /// Runs the hook at `point`: tells the recorder, evaluates the rules,
    /// applies the outcome. `None`: the packet continues.
    pub(super) fn netfilter<R: Rec>(
        &self,
        st: &mut PacketState,
        point: HookPoint,
        rec: &mut R,
    ) -> Option<Next> {
        if st.skip == Some(point.hook) {
            st.skip = None;
            return None;
        }
        rec.hook(point);
        st.enter_conntrack(point.ns);
        let verdict = self.hook_verdict(point, st, rec.records_rules());
        let after_hop = rec.hops_len();
        match verdict {
            // A pod's own hooks: cnictl collects no pod netns rulesets, and
            // an inferred pod's hops run in its node's namespace, so a
            // record here would read as the node's rules missing.
            HookVerdict::NotEvaluated if point.pod.is_some() => None,
            HookVerdict::NotEvaluated => {
                rec.hook_eval(HookEval {
                    after_hop,
                    ns: point.ns,
                    hook: point.hook,
                    action: None,
                    evaluated: None,
                });
                None
            }
            // `eval_hook` gives at least one path; none would mean nothing
            // ran, and the packet continues.
            HookVerdict::Paths(mut paths) if paths.len() <= 1 => {
                self.apply_path(st, point, paths.pop()?, rec)
            }
            HookVerdict::Paths(paths) => Some(self.split(st, point, paths, rec)),
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

    /// The verdict of the rules at `point` for the packet in `st`.
    fn hook_verdict(&self, point: HookPoint, st: &PacketState, record: bool) -> HookVerdict {
        let ns = &self.ns[point.ns.0 as usize];
        let Some(rules) = ns.nf.as_deref().filter(|_| point.pod.is_none()) else {
            return HookVerdict::NotEvaluated;
        };
        let mut pkt = nf_packet(ns, point, st);
        pkt.nat_done = st.nat_done(point.hook.nat_manip());
        HookVerdict::Paths(rules.eval_hook(point.hook.ip_hook(), &pkt, &NsView(ns), record))
    }

    /// Applies one path: its rewrites as hops and on the packet, then its
    /// verdict.
    fn apply_path<R: Rec>(
        &self,
        st: &mut PacketState,
        point: HookPoint,
        path: HookPath,
        rec: &mut R,
    ) -> Option<Next> {
        let ns = &self.ns[point.ns.0 as usize];
        // The path was evaluated from these rules (`hook_verdict`).
        let rules = ns.nf.as_deref()?;
        let ended = ending(&path.verdict);
        rec.hook_eval(HookEval {
            after_hop: rec.hops_len(),
            ns: point.ns,
            hook: point.hook,
            action: ended.map(|(a, _)| a),
            evaluated: record_visits(rec, &path),
        });
        for rw in &path.rewrites {
            let action = action_of(rules, rw.rule);
            rec.push(nf_hop(point, rw.rule, action));
        }
        let p = &st.wire.packet;
        let (before, src_before) = ((p.dst, p.dport), (p.src, p.sport));
        st.take_rewrites(&path.packet, point.hook.nat_manip());
        let p = &st.wire.packet;
        let (after, src_after) = ((p.dst, p.dport), (p.src, p.sport));
        if after != before {
            rec.dnat(after);
        }
        if src_after != src_before {
            rec.snat(src_after);
        }
        if let NfVerdict::Unknown(at, why) = &path.verdict {
            rec.note(unknown_note(self, point, rules, *at, why));
        }
        let Some((action, at)) = ended else {
            let rerouted = point.hook == Hook::Output && after.0 != before.0;
            return rerouted.then(|| reroute(st, point));
        };
        rec.push(nf_hop(point, at, action));
        Some(Next::Done(disposition(action), reason(point, at)))
    }

    /// A hook that splits new connections: each path is its own branch,
    /// traced to its end; the trace takes the first failing branch's end.
    fn split<R: Rec>(
        &self,
        st: &mut PacketState,
        point: HookPoint,
        paths: Vec<HookPath>,
        rec: &mut R,
    ) -> Next {
        let mut worst = None;
        for (i, path) in paths.into_iter().enumerate() {
            let share = (path.share * 1e6).round() as u32;
            let mut child = rec.child();
            let mut branch = *st;
            let next = self
                .apply_path(&mut branch, point, path, &mut child)
                .unwrap_or_else(|| resume(&mut branch, point, &mut child));
            let to = (branch.wire.packet.dst, branch.wire.packet.dport);
            let (d, r) = self.run(&mut branch, next, &mut child);
            let split = Split {
                ns: point.ns,
                path: i as u32,
                share_ppm: share,
                to,
            };
            rec.split_branch(split, child, d, r);
            if d != Disposition::Delivered && worst.is_none() {
                worst = Some((d, r));
            }
        }
        let (d, r) = worst.unwrap_or((Disposition::Delivered, Reason::Local));
        Next::Done(d, r)
    }

    /// The netfilter hooks `pkt` from `ingress` passes, in order (IPVS
    /// branches follow one another).
    pub fn netfilter_path(&self, pkt: &Packet, ingress: Ingress) -> Vec<HookPoint> {
        let mut rec = HookRec::default();
        self.run_from(pkt, ingress, Default::default(), &mut rec);
        rec.points
    }
}

/// Where a split branch goes on after its hook let it through. The engine
/// cannot re-enter a stage in the middle, so a branch restarts the stage
/// with the hook marked as run: at PREROUTING the routing decision follows
/// (as it does in the kernel), at OUTPUT the packet is routed again (the
/// kernel re-routes a packet whose destination OUTPUT changed). A split
/// elsewhere (FORWARD, POSTROUTING, INPUT: no Kubernetes component splits
/// there) is not followed: `unknown`, and the trace says so.
fn resume<R: Rec>(st: &mut PacketState, point: HookPoint, rec: &mut R) -> Next {
    match point.hook {
        Hook::Prerouting => {
            st.skip = Some(Hook::Prerouting);
            Next::Receive {
                ns: point.ns,
                iif: point.in_dev,
            }
        }
        Hook::Output => reroute(st, point),
        _ => {
            rec.note(format!(
                "a rule at {} splits new connections; cnictl follows such splits only at prerouting and output",
                point.hook.as_str()
            ));
            Next::Done(Disposition::Unknown, Reason::Unsupported)
        }
    }
}

/// OUTPUT changed the destination: the packet is routed again
/// (`ip_route_me_harder`), without running OUTPUT a second time.
fn reroute(st: &mut PacketState, point: HookPoint) -> Next {
    st.skip = Some(Hook::Output);
    Next::Receive {
        ns: point.ns,
        iif: None,
    }
}

/// The action and rule that end a path, if it does not go on.
fn ending(v: &NfVerdict) -> Option<(NfAction, RuleRef)> {
    match v {
        NfVerdict::Accept => None,
        NfVerdict::Drop(at) => Some((NfAction::Drop, *at)),
        NfVerdict::Reject(at, _) => Some((NfAction::Reject, *at)),
        NfVerdict::Unknown(at, _) => Some((NfAction::Unknown, *at)),
    }
}

fn disposition(action: NfAction) -> Disposition {
    match action {
        NfAction::Drop => Disposition::NetfilterDrop,
        NfAction::Reject => Disposition::NetfilterReject,
        _ => Disposition::Unknown,
    }
}

fn reason(point: HookPoint, at: RuleRef) -> Reason {
    Reason::Netfilter {
        ns: point.ns,
        hook: point.hook,
        at,
    }
}

fn nf_hop(point: HookPoint, at: RuleRef, action: NfAction) -> crate::Hop {
    let hook = point.hook;
    let step = Step::Netfilter { hook, at, action };
    let mut h = hop(point.ns, point.in_dev.or(point.bridge), point.out_dev, step);
    h.pod = point.pod;
    h
}

fn record_visits<R: Rec>(rec: &R, path: &HookPath) -> Option<Vec<crate::nf::Visit>> {
    Some(if rec.records_rules() {
        path.visits.clone()
    } else {
        Vec::new()
    })
}

/// Why a path ended `unknown`: the node, hook, rule and the evaluator's
/// reason.
fn unknown_note(dp: &Dataplane, p: HookPoint, rules: &Ruleset, at: RuleRef, why: &str) -> String {
    let node = dp.node_name(dp.ns_node(p.ns));
    let (hook, rule) = (p.hook.as_str(), super::nfview::rule_label(rules, at));
    format!("{node} {hook}: {rule} — {why}; the verdict depends on it")
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

impl PacketState {
    /// Conntrack is per network namespace and per packet: a packet entering
    /// another namespace (or wrapped in/unwrapped from a tunnel header) is
    /// a new connection there, and crossing namespaces also clears the skb
    /// mark (`skb_scrub_packet`).
    fn enter_conntrack(&mut self, ns: NsId) {
        let key = (ns, self.inner.is_some());
        if self.ct.key == Some(key) {
            return;
        }
        if self.ct.key.is_some_and(|(old, _)| old != ns) {
            self.wire.packet.fwmark = 0;
        }
        self.ct = super::Conntrack {
            key: Some(key),
            ..Default::default()
        };
    }

    /// Whether this hook's NAT manip is already set up for the connection
    /// (then nat chains do not run again: `nf_nat_inet_fn`); a reply never
    /// traverses them.
    fn nat_done(&self, manip: Option<bool>) -> bool {
        self.reply
            || match manip {
                Some(true) => self.ct.dst_nat_done,
                Some(false) => self.ct.src_nat_done,
                None => false,
            }
    }

    /// Takes a hook's rewrites: addresses, ports and marks; the hook's NAT
    /// manip is now set up.
    fn take_rewrites(&mut self, after: &NfPacket, manip: Option<bool>) {
        let p = &mut self.wire.packet;
        p.src = after.src;
        p.dst = after.dst;
        p.sport = after.sport;
        p.dport = after.dport;
        p.fwmark = after.mark;
        self.ct.ctmark = after.ctmark;
        match manip {
            Some(true) => self.ct.dst_nat_done = true,
            Some(false) => self.ct.src_nat_done = true,
            None => {}
        }
        self.ct.untracked |= after.ct == CtState::Untracked;
    }
}
