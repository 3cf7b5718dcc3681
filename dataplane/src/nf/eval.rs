//! Walking the chains of one hook for one packet.
//!
//! A walk is a packet, its share of new connections and a call stack of
//! chain positions. Each step evaluates one expression; a `statistic` match
//! or a `numgen` map splits the walk, so one hook can end several ways —
//! one [`HookPath`] each. Base chains run in priority order; a drop in any
//! table drops. nat chains run for a connection's first packet only until
//! one of them binds a NAT mapping, as `nf_nat_inet_fn` does.

use cnictl_model::netfilter::{ChainKind, CtState, Expr, Hook, MapValue, Rule, Stmt, Verdict};

use super::compile::{ChainId, Ruleset};
use super::matches::{self, MatchCx, Outcome};
use super::packet::{NfPacket, NodeView};
use super::sets;

/// At most this many paths through one hook (kube-proxy's statistic chains
/// fork once per endpoint); past it the hook's answer is `unknown`.
pub const MAX_PATHS: usize = 256;
/// Nested jumps deeper than this are a loop (the kernel refuses them).
const MAX_DEPTH: usize = 64;

/// A rule of a chain, or (`rule: None`) the chain's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleRef {
    pub chain: ChainId,
    pub rule: Option<u32>,
}

/// How one path through a hook ended.
#[derive(Debug, Clone, PartialEq)]
pub enum HookVerdict {
    /// Every base chain at the hook let the packet through.
    Accept,
    Drop(RuleRef),
    Reject(RuleRef, Option<String>),
    /// The packet reached a rule cnictl cannot evaluate: why.
    Unknown(RuleRef, String),
}

/// A rule that changed the packet or its metadata on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewrite {
    pub rule: RuleRef,
}

/// One rule evaluated: whether it matched (`None`: could not be evaluated,
/// but its effect could not change the path, e.g. a LOG rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visit {
    pub rule: RuleRef,
    pub matched: Option<bool>,
}

/// One way through a hook: its share of new connections, the packet after
/// the hook's rewrites, how it ended, and what was evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct HookPath {
    pub share: f64,
    pub packet: NfPacket,
    pub verdict: HookVerdict,
    pub rewrites: Vec<Rewrite>,
    /// Every rule evaluated, in order (only when asked to record).
    pub visits: Vec<Visit>,
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    chain: ChainId,
    rule: usize,
    expr: usize,
}

#[derive(Debug, Clone)]
struct Walk {
    share: f64,
    packet: NfPacket,
    /// Where the walk is. Always present: a walk is only stepped after
    /// `run_base` has put it at the start of a base chain.
    frame: Frame,
    /// Where each `jump` returns to, innermost last.
    callers: Vec<Frame>,
    /// The base chain whose policy applies when the walk runs off its end.
    base: ChainId,
    rewrites: Vec<Rewrite>,
    visits: Vec<Visit>,
    /// A NAT mapping was bound at this hook: later nat chains are skipped.
    nat_bound: bool,
}

/// One step's result.
enum Step {
    Running(Walk),
    Done(Walk, HookVerdict),
}

/// The walk through one hook, with what it may consult.
struct Hooker<'a> {
    rules: &'a Ruleset,
    node: &'a dyn NodeView,
    record: bool,
}

impl Ruleset {
    /// Every path `packet` can take through the tables at `hook`. `record`
    /// keeps every rule evaluated (explain `--verbose`); without it only
    /// rewrites and the deciding rule are kept.
    pub fn eval_hook(
        &self,
        hook: Hook,
        packet: &NfPacket,
        node: &dyn NodeView,
        record: bool,
    ) -> Vec<HookPath> {
        let h = Hooker {
            rules: self,
            node,
            record,
        };
        let mut open = vec![Walk::new(packet.clone())];
        let mut done = Vec::new();
        for base in self.hook_chains(hook, packet.family()) {
            open = h.run_base(base, open, &mut done);
        }
        done.extend(open.into_iter().map(|w| w.finish(HookVerdict::Accept)));
        done
    }
}

impl Walk {
    /// A walk not yet in a chain: `enter_base` places it (the chain given
    /// here is only a placeholder until then).
    fn new(packet: NfPacket) -> Self {
        let start = ChainId { table: 0, chain: 0 };
        Walk {
            share: 1.0,
            packet,
            frame: Frame {
                chain: start,
                rule: 0,
                expr: 0,
            },
            callers: Vec::new(),
            base: start,
            rewrites: Vec::new(),
            visits: Vec::new(),
            nat_bound: false,
        }
    }

    fn finish(self, verdict: HookVerdict) -> HookPath {
        HookPath {
            share: self.share,
            packet: self.packet,
            verdict,
            rewrites: self.rewrites,
            visits: self.visits,
        }
    }

    /// Puts the walk at the first rule of `base`, with no callers.
    fn enter_base(&mut self, base: ChainId) {
        self.frame = Frame {
            chain: base,
            rule: 0,
            expr: 0,
        };
        self.callers.clear();
        self.base = base;
    }

    fn top(&mut self) -> &mut Frame {
        &mut self.frame
    }

    fn here(&self) -> RuleRef {
        RuleRef {
            chain: self.frame.chain,
            rule: Some(self.frame.rule as u32),
        }
    }

    fn next_rule(&mut self) {
        let f = self.top();
        f.rule += 1;
        f.expr = 0;
    }
}

impl Hooker<'_> {
    /// Runs one base chain for every open walk; accepted walks go on.
    fn run_base(&self, base: ChainId, open: Vec<Walk>, done: &mut Vec<HookPath>) -> Vec<Walk> {
        let nat = self
            .rules
            .chain(base)
            .base
            .as_ref()
            .is_some_and(|b| b.kind == ChainKind::Nat);
        let mut next = Vec::new();
        let mut work: Vec<Walk> = Vec::new();
        for mut w in open {
            if nat && (w.nat_bound || w.packet.nat_done || w.packet.ct != CtState::New) {
                next.push(w);
                continue;
            }
            w.enter_base(base);
            work.push(w);
        }
        while let Some(w) = work.pop() {
            if work.len() + next.len() + done.len() > MAX_PATHS {
                let why = format!("more than {MAX_PATHS} paths through one hook");
                done.push(w.clone().finish(HookVerdict::Unknown(
                    RuleRef {
                        chain: base,
                        rule: None,
                    },
                    why,
                )));
                continue;
            }
            for step in self.step(w) {
                match step {
                    Step::Running(w) => work.push(w),
                    Step::Done(w, HookVerdict::Accept) => next.push(w),
                    Step::Done(w, v) => done.push(w.finish(v)),
                }
            }
        }
        next
    }

    /// Evaluates the next expression of the walk's current rule.
    fn step(&self, mut w: Walk) -> Vec<Step> {
        if w.frame.expr == 0 {
            self.skip_unmatchable(&mut w);
        }
        let frame = *w.top();
        let chain = self.rules.chain(frame.chain);
        let Some(rule) = chain.rules.get(frame.rule) else {
            return vec![self.chain_end(w)];
        };
        let Some(expr) = rule.exprs.get(frame.expr) else {
            self.visit(&mut w, Some(true));
            w.next_rule();
            return vec![Step::Running(w)];
        };
        match expr {
            Expr::Match(m) => self.on_match(w, rule, m),
            Expr::Stmt(s) => vec![self.on_stmt(w, s)],
            Expr::Verdict(v) => vec![self.on_verdict(w, v)],
            Expr::Vmap(l) => vec![self.on_vmap(w, l)],
            Expr::NumgenVmap(n) => self.on_numgen(w, n),
        }
    }

    /// At the start of a rule of an indexed chain: moves the walk past the
    /// rules that require another destination. Recording, each skipped
    /// rule is a visit that did not match — exactly what walking them one
    /// by one records, so `--verbose` shows every rule either way.
    fn skip_unmatchable(&self, w: &mut Walk) {
        let Some(index) = self.rules.dst_index(w.frame.chain) else {
            return;
        };
        let len = self.rules.chain(w.frame.chain).rules.len();
        let next = index.next(w.frame.rule, w.packet.dst).min(len);
        if self.record {
            for rule in w.frame.rule..next {
                let rule = RuleRef {
                    chain: w.frame.chain,
                    rule: Some(rule as u32),
                };
                w.visits.push(Visit {
                    rule,
                    matched: Some(false),
                });
            }
        }
        w.frame.rule = next.max(w.frame.rule);
    }

    fn visit(&self, w: &mut Walk, matched: Option<bool>) {
        if self.record {
            let rule = w.here();
            w.visits.push(Visit { rule, matched });
        }
    }

    /// The end of a chain: back to the caller, or the base chain's policy.
    fn chain_end(&self, mut w: Walk) -> Step {
        if let Some(caller) = w.callers.pop() {
            w.frame = caller;
            return Step::Running(w);
        }
        let policy = RuleRef {
            chain: w.base,
            rule: None,
        };
        if self.record {
            w.visits.push(Visit {
                rule: policy,
                matched: Some(true),
            });
        }
        match self.rules.chain(w.base).base.as_ref().map(|b| &b.policy) {
            Some(Verdict::Drop) => Step::Done(w, HookVerdict::Drop(policy)),
            _ => Step::Done(w, HookVerdict::Accept),
        }
    }

    fn on_match(&self, mut w: Walk, rule: &Rule, m: &cnictl_model::netfilter::Match) -> Vec<Step> {
        let cx = MatchCx {
            rules: self.rules,
            chain: w.top().chain,
            node: self.node,
        };
        match matches::eval(m, &w.packet, &cx) {
            Outcome::Yes => {
                w.top().expr += 1;
                vec![Step::Running(w)]
            }
            Outcome::No => {
                self.visit(&mut w, Some(false));
                w.next_rule();
                vec![Step::Running(w)]
            }
            Outcome::Fork(share) => fork(w, share, |w| self.visit(w, Some(false))),
            Outcome::Unknown(why) => vec![self.unknown_match(w, rule, why)],
        }
    }

    /// A match that cannot be evaluated matters only if the rule could
    /// change the path when it matched (a LOG rule cannot).
    fn unknown_match(&self, mut w: Walk, rule: &Rule, why: String) -> Step {
        let rest = &rule.exprs[w.top().expr..];
        if rest.iter().all(is_passive) {
            self.visit(&mut w, None);
            w.next_rule();
            return Step::Running(w);
        }
        let here = w.here();
        Step::Done(w, HookVerdict::Unknown(here, why))
    }

    fn on_stmt(&self, mut w: Walk, s: &Stmt) -> Step {
        if let Stmt::Unknown { text } = s {
            let here = w.here();
            return Step::Done(
                w,
                HookVerdict::Unknown(
                    here,
                    format!("cnictl cannot evaluate the statement {text:?}"),
                ),
            );
        }
        if let Err(why) = super::nat::apply(&mut w.packet, s, self.node) {
            let here = w.here();
            return Step::Done(w, HookVerdict::Unknown(here, why));
        }
        if changes_packet(s) {
            let rule = w.here();
            w.rewrites.push(Rewrite { rule });
            w.nat_bound |= is_nat(s);
        }
        w.top().expr += 1;
        Step::Running(w)
    }

    fn on_verdict(&self, mut w: Walk, v: &Verdict) -> Step {
        self.visit(&mut w, Some(true));
        let here = w.here();
        match v {
            Verdict::Accept => Step::Done(w, HookVerdict::Accept),
            Verdict::Drop => Step::Done(w, HookVerdict::Drop(here)),
            Verdict::Reject(with) => Step::Done(w, HookVerdict::Reject(here, with.clone())),
            Verdict::Return => {
                // Back to the caller; with none, past the last rule, where
                // `chain_end` applies the base chain's policy.
                match w.callers.pop() {
                    Some(caller) => w.frame = caller,
                    None => w.frame.rule = usize::MAX,
                }
                Step::Running(w)
            }
            Verdict::Jump(to) | Verdict::Goto(to) => {
                self.enter(w, to, matches!(v, Verdict::Goto(_)))
            }
            Verdict::Other(what) => Step::Done(
                w,
                HookVerdict::Unknown(here, format!("cnictl cannot follow the verdict {what:?}")),
            ),
        }
    }

    /// `jump`: the caller resumes at its next rule; `goto`: at its caller's
    /// (from a base chain: its policy, as `iptables -g` does).
    fn enter(&self, mut w: Walk, to: &str, goto: bool) -> Step {
        let here = w.here();
        let Some(target) = self.rules.lookup_chain(here.chain, to) else {
            return Step::Done(
                w,
                HookVerdict::Unknown(
                    here,
                    format!("jump to chain {to:?}, which the table does not have"),
                ),
            );
        };
        // A jump returns here (next rule); a goto leaves this chain for good:
        // the target's end returns to our caller, or to the base policy.
        if !goto {
            w.next_rule();
            w.callers.push(w.frame);
        }
        if w.callers.len() >= MAX_DEPTH {
            return Step::Done(
                w,
                HookVerdict::Unknown(here, "jumps nested deeper than 64 chains".into()),
            );
        }
        w.frame = Frame {
            chain: target,
            rule: 0,
            expr: 0,
        };
        Step::Running(w)
    }

    fn on_vmap(&self, mut w: Walk, l: &cnictl_model::netfilter::Lookup) -> Step {
        let chain = w.top().chain;
        match sets::lookup(self.rules, chain, l, &w.packet) {
            Ok(Some(el)) => match &el.value {
                Some(MapValue::Verdict(v)) => self.on_verdict(w, v),
                _ => {
                    let here = w.here();
                    Step::Done(
                        w,
                        HookVerdict::Unknown(
                            here,
                            "a verdict map element without a verdict".into(),
                        ),
                    )
                }
            },
            Ok(None) => {
                w.top().expr += 1;
                Step::Running(w)
            }
            Err(why) => {
                let here = w.here();
                Step::Done(w, HookVerdict::Unknown(here, why))
            }
        }
    }

    /// `numgen random mod N vmap { … }`: one walk per arm with its share.
    fn on_numgen(&self, w: Walk, n: &cnictl_model::netfilter::NumgenVmap) -> Vec<Step> {
        let modulus = f64::from(n.modulus.max(1));
        let mut out = Vec::new();
        let mut covered = 0.0;
        for (lo, hi, verdict) in &n.arms {
            let share = f64::from(hi.saturating_sub(*lo) + 1) / modulus;
            covered += share;
            let mut arm = w.clone();
            arm.share *= share;
            out.push(self.on_verdict(arm, verdict));
        }
        if covered < 1.0 {
            let mut rest = w;
            rest.share *= 1.0 - covered;
            rest.top().expr += 1;
            out.push(Step::Running(rest));
        }
        out
    }
}

/// Splits a walk on a `statistic` match: `share` of it matches and goes on
/// with the rule, the rest goes to the next rule.
fn fork(w: Walk, share: f64, on_miss: impl Fn(&mut Walk)) -> Vec<Step> {
    let mut hit = w.clone();
    hit.share *= share;
    hit.top().expr += 1;
    let mut miss = w;
    miss.share *= 1.0 - share;
    on_miss(&mut miss);
    miss.next_rule();
    vec![Step::Running(hit), Step::Running(miss)]
}

/// Expressions that cannot change the path: logging and counting.
fn is_passive(e: &Expr) -> bool {
    matches!(e, Expr::Match(_) | Expr::Stmt(Stmt::Log { .. }))
}

fn changes_packet(s: &Stmt) -> bool {
    !matches!(s, Stmt::Log { .. })
}

fn is_nat(s: &Stmt) -> bool {
    matches!(
        s,
        Stmt::Dnat(_) | Stmt::Snat(_) | Stmt::Masquerade { .. } | Stmt::Redirect { .. }
    )
}
