//! Root causes: which findings are consequences of another.
//!
//! One fault shows up as several findings: a BGP session down is the
//! session on both ends, the blocks BIRD no longer learns on both ends and
//! the kernel routes it withdrew with them — six errors, one thing to fix.
//! [`group`] puts every finding in exactly one [`Group`]: a root and the
//! findings it explains, so `check`, the API and the UI lead with what to
//! fix and the metrics count causes apart from symptoms.
//!
//! The relations are a typed table ([`RULES`]), each a cause code, a
//! symptom code and how their nodes must relate. Findings relate through
//! their `node` and `peers` (the other node a session, a route or a
//! firewall rule concerns), never through their text. A symptom's chain of
//! causes ends at a root: between different codes the table is acyclic (a
//! test holds it so), and between findings of the same code (the two ends
//! of one session) the earlier finding in report order is the cause.

use std::collections::HashMap;

use crate::code::Code;
use crate::finding::{Finding, Group, Symptom};

/// How a cause's nodes must relate to its symptom's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// Same node, about the same peer (node-1's session to node-2 and
    /// node-1's missing route to node-2's block).
    SamePair,
    /// The other end: the cause is on the symptom's peer, about the
    /// symptom's node.
    Mirrored,
    /// Either of the two.
    EitherWay,
    /// The cause is about a node itself (no peer): it is on the symptom's
    /// node or on one of the symptom's peers.
    NodeOrPeer,
    /// Between two of the symptom's peers: a block owner's session to the
    /// route reflector another node learns the block through.
    Among,
}

/// One cause → symptom relation.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub cause: Code,
    pub symptom: Code,
    pub relation: Relation,
    /// How the cause makes the symptom, as the text shows it.
    pub because: &'static str,
    /// A condition on the cause finding beyond its code, if any.
    pub when: Option<fn(&Finding) -> bool>,
}

const fn rule(cause: Code, symptom: Code, relation: Relation, because: &'static str) -> Rule {
    Rule {
        cause,
        symptom,
        relation,
        because,
        when: None,
    }
}

/// A firewall finding about BGP: only those cut BGP sessions (the same
/// rule may stop VXLAN or IPIP instead).
fn stops_bgp(f: &Finding) -> bool {
    f.summary
        .contains(crate::checks::netfilter_blocks_overlay::BGP_LABEL)
}

/// [`rule`] for a firewall cause that must stop BGP.
const fn bgp_firewall(symptom: Code, because: &'static str) -> Rule {
    Rule {
        when: Some(stops_bgp),
        ..rule(
            Code::NetfilterBlocksOverlay,
            symptom,
            Relation::EitherWay,
            because,
        )
    }
}

/// Every relation cnictl groups by.
pub const RULES: &[Rule] = &[
    bgp_firewall(
        Code::BgpSessionDown,
        "a firewall rule drops the session's BGP traffic",
    ),
    bgp_firewall(
        Code::BgpRouteMissing,
        "a firewall rule drops BGP between the two nodes, so no routes are exchanged",
    ),
    rule(
        Code::BgpSessionDown,
        Code::BgpSessionDown,
        Relation::Mirrored,
        "the other end of the same session",
    ),
    rule(
        Code::BgpSessionDown,
        Code::BgpRouteMissing,
        Relation::EitherWay,
        "no session, so no routes are learned over it",
    ),
    rule(
        Code::BgpSessionDown,
        Code::BgpRouteMissing,
        Relation::Among,
        "the block's owner has no session to the route reflector that would pass it on",
    ),
    rule(
        Code::BgpSessionDown,
        Code::MissingPodRoute,
        Relation::EitherWay,
        "BIRD withdrew the peer's routes with the session",
    ),
    rule(
        Code::IpamLeakedAffinity,
        Code::IpamBlockMultipleRoutes,
        Relation::Among,
        "the node with the leaked affinity announces the block too",
    ),
    rule(
        Code::IpamBlockMultipleRoutes,
        Code::WrongNextHop,
        Relation::SamePair,
        "the block's multipath route includes a node without its pods",
    ),
    rule(
        Code::IpamLeakedAffinity,
        Code::PodCidrOverlap,
        Relation::Among,
        "the node with the leaked affinity blackholes the block as its own",
    ),
    rule(
        Code::BgpRouteMissing,
        Code::MissingPodRoute,
        Relation::SamePair,
        "BIRD did not learn the block, so it programs no kernel route for it",
    ),
    node_address(
        Code::VxlanFdbMismatch,
        "the FDB entry follows the wrong address that node advertises",
    ),
    node_address(
        Code::WrongNextHop,
        "the route follows the wrong address that node advertises",
    ),
    node_address(
        Code::NextHopNotAdjacent,
        "the route follows the wrong address that node advertises",
    ),
    node_address(
        Code::BgpSessionDown,
        "the session runs from or to the wrong address that node advertises",
    ),
];

/// A symptom of a node speaking from the wrong address.
const fn node_address(symptom: Code, because: &'static str) -> Rule {
    rule(
        Code::NodeAddressMismatch,
        symptom,
        Relation::NodeOrPeer,
        because,
    )
}

/// Groups the findings (in report order): every finding in exactly one
/// group, groups in the order of their roots.
pub fn group(findings: &[Finding]) -> Vec<Group> {
    let index = Index::new(findings);
    let direct: Vec<Option<(usize, &Rule)>> = (0..findings.len())
        .map(|s| index.cause_of(findings, s))
        .collect();
    let mut groups: Vec<Group> = Vec::new();
    let mut slot: HashMap<usize, usize> = HashMap::new();
    for (i, cause) in direct.iter().enumerate() {
        if cause.is_none() {
            slot.insert(i, groups.len());
            groups.push(Group {
                root: i,
                symptoms: Vec::new(),
            });
        }
    }
    for (i, cause) in direct.iter().enumerate() {
        let Some((c, rule)) = cause else { continue };
        let root = root_of(&direct, *c);
        let because = because(findings, rule, *c, root);
        let symptom = Symptom {
            finding: i,
            because,
        };
        groups[slot[&root]].symptoms.push(symptom);
    }
    groups
}

/// Follows the direct causes up to the root.
fn root_of(direct: &[Option<(usize, &Rule)>], mut i: usize) -> usize {
    while let Some((c, _)) = direct[i] {
        i = c;
    }
    i
}

/// The rule's words, plus the finding in between when the direct cause
/// is itself a symptom of the root.
fn because(findings: &[Finding], rule: &Rule, cause: usize, root: usize) -> String {
    if cause == root {
        return rule.because.to_string();
    }
    let via = &findings[cause];
    let node = via.node.as_deref().unwrap_or("the cluster");
    format!("{} (via {} on {node})", rule.because, via.code.as_str())
}

/// Findings by (code, node): the candidates a rule looks at.
struct Index<'f> {
    by: HashMap<(Code, &'f str), Vec<usize>>,
}

impl<'f> Index<'f> {
    fn new(findings: &'f [Finding]) -> Self {
        let mut by: HashMap<(Code, &str), Vec<usize>> = HashMap::new();
        for (i, f) in findings.iter().enumerate() {
            if let Some(node) = f.node.as_deref() {
                by.entry((f.code, node)).or_default().push(i);
            }
        }
        Index { by }
    }

    /// The earliest finding that causes finding `s` by some rule, if any.
    fn cause_of(&self, findings: &[Finding], s: usize) -> Option<(usize, &'static Rule)> {
        let sym = &findings[s];
        RULES
            .iter()
            .filter(|r| r.symptom == sym.code)
            .flat_map(|r| self.candidates(findings, s, r).map(move |c| (c, r)))
            .filter(|&(c, r)| c != s && (r.cause != r.symptom || c < s))
            .filter(|&(c, r)| r.when.is_none_or(|ok| ok(&findings[c])))
            .min_by_key(|&(c, _)| c)
    }

    /// The findings of the rule's cause code whose nodes relate to `s`'s.
    fn candidates<'a>(
        &'a self,
        findings: &'a [Finding],
        s: usize,
        r: &'a Rule,
    ) -> impl Iterator<Item = usize> + 'a {
        let sym = &findings[s];
        let node = sym.node.as_deref().unwrap_or_default();
        let same = matches!(r.relation, Relation::SamePair | Relation::EitherWay);
        let mirrored = matches!(r.relation, Relation::Mirrored | Relation::EitherWay);
        let here = same.then(|| self.at(r.cause, node, &sym.peers, findings));
        let there = mirrored.then(|| self.mirrored(r.cause, node, &sym.peers, findings));
        let on =
            (r.relation == Relation::NodeOrPeer).then(|| self.on_nodes(r.cause, node, &sym.peers));
        let among =
            (r.relation == Relation::Among).then(|| self.among(r.cause, &sym.peers, findings));
        here.into_iter()
            .flatten()
            .chain(there.into_iter().flatten())
            .chain(on.into_iter().flatten())
            .chain(among.into_iter().flatten())
    }

    /// Causes on `node` or on one of `peers`, whatever they are about.
    fn on_nodes<'a>(
        &'a self,
        code: Code,
        node: &'a str,
        peers: &'a [String],
    ) -> impl Iterator<Item = usize> + 'a {
        let nodes = std::iter::once(node).chain(peers.iter().map(String::as_str));
        nodes.flat_map(move |n| self.by.get(&(code, n)).into_iter().flatten().copied())
    }

    /// Causes on one of `peers` about another of them.
    fn among<'a>(
        &'a self,
        code: Code,
        peers: &'a [String],
        findings: &'a [Finding],
    ) -> impl Iterator<Item = usize> + 'a {
        let at = peers.iter().flat_map(move |p| {
            let on = self.by.get(&(code, p.as_str())).into_iter().flatten();
            on.copied().map(move |c| (c, p))
        });
        at.filter(move |&(c, p)| {
            findings[c]
                .peers
                .iter()
                .any(|q| q != p && peers.contains(q))
        })
        .map(|(c, _)| c)
    }

    /// Causes on `node` about one of `peers`.
    fn at<'a>(
        &'a self,
        code: Code,
        node: &'a str,
        peers: &'a [String],
        findings: &'a [Finding],
    ) -> impl Iterator<Item = usize> + 'a {
        let here = self.by.get(&(code, node)).into_iter().flatten().copied();
        here.filter(move |&c| peers.iter().any(|p| findings[c].peers.contains(p)))
    }

    /// Causes on one of `peers` about `node`.
    fn mirrored<'a>(
        &'a self,
        code: Code,
        node: &'a str,
        peers: &'a [String],
        findings: &'a [Finding],
    ) -> impl Iterator<Item = usize> + 'a {
        let there = peers.iter().flat_map(move |p| {
            let at = self.by.get(&(code, p.as_str())).into_iter().flatten();
            at.copied()
        });
        there.filter(move |&c| findings[c].peers.iter().any(|p| p == node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Severity;

    fn f(code: Code, node: &str, peer: &str) -> Finding {
        Finding {
            code,
            severity: Severity::Error,
            node: Some(node.into()),
            summary: format!("{} on {node} about {peer}", code.as_str()),
            evidence: vec![],
            hint: String::new(),
            peers: vec![peer.into()],
        }
    }

    fn roots(groups: &[Group]) -> Vec<usize> {
        groups.iter().map(|g| g.root).collect()
    }

    #[test]
    fn one_bgp_session_down_is_one_root_with_five_symptoms() {
        let fs = vec![
            f(Code::BgpRouteMissing, "node-1", "node-2"),
            f(Code::BgpRouteMissing, "node-2", "node-1"),
            f(Code::BgpSessionDown, "node-1", "node-2"),
            f(Code::BgpSessionDown, "node-2", "node-1"),
            f(Code::MissingPodRoute, "node-1", "node-2"),
            f(Code::MissingPodRoute, "node-2", "node-1"),
        ];
        let g = group(&fs);
        assert_eq!(roots(&g), vec![2]);
        let mut symptoms: Vec<usize> = g[0].symptoms.iter().map(|s| s.finding).collect();
        symptoms.sort_unstable();
        assert_eq!(symptoms, vec![0, 1, 3, 4, 5]);
    }

    #[test]
    fn a_client_session_down_to_the_reflector_explains_its_block_missing_elsewhere() {
        let mut reflected = f(Code::BgpRouteMissing, "node-3", "node-2");
        reflected.peers.push("node-1".into());
        let fs = vec![f(Code::BgpSessionDown, "node-2", "node-1"), reflected];
        assert_eq!(roots(&group(&fs)), vec![0]);
    }

    #[test]
    fn unrelated_nodes_stay_separate_roots() {
        let fs = vec![
            f(Code::BgpRouteMissing, "node-1", "node-3"),
            f(Code::BgpSessionDown, "node-1", "node-2"),
            f(Code::MissingPodRoute, "node-1", "node-3"),
            f(Code::MissingPodRoute, "node-3", "node-2"),
        ];
        let g = group(&fs);
        assert_eq!(roots(&g), vec![0, 1, 3]);
        assert_eq!(g[0].symptoms.len(), 1);
        assert_eq!(g[0].symptoms[0].finding, 2);
        assert!(g[1].symptoms.is_empty());
    }

    #[test]
    fn a_chain_ends_at_its_root_and_names_the_link_between() {
        let fs = vec![
            f(Code::BgpRouteMissing, "node-1", "node-2"),
            f(Code::MissingPodRoute, "node-1", "node-2"),
            Finding {
                summary: "ip filter INPUT #1 on node-2 drops BGP tcp/179 with node-1".into(),
                ..f(Code::NetfilterBlocksOverlay, "node-2", "node-1")
            },
        ];
        let g = group(&fs);
        assert_eq!(roots(&g), vec![2]);
        let via = g[0]
            .symptoms
            .iter()
            .find(|s| s.finding == 1)
            .map(|s| &s.because);
        assert!(via.is_some_and(|b| b.contains("via bgp-route-missing on node-1")));
    }

    #[test]
    fn a_firewall_that_stops_only_vxlan_is_not_blamed_for_a_bgp_session() {
        let fs = vec![
            f(Code::BgpSessionDown, "node-1", "node-2"),
            Finding {
                summary: "ip filter INPUT #1 on node-2 drops VXLAN udp/4789 with node-1".into(),
                ..f(Code::NetfilterBlocksOverlay, "node-2", "node-1")
            },
        ];
        assert_eq!(roots(&group(&fs)), vec![0, 1]);
    }

    #[test]
    fn a_missing_route_without_bgp_findings_is_its_own_root() {
        let fs = vec![
            f(Code::MissingPodRoute, "node-1", "node-2"),
            f(Code::VxlanFdbMissing, "node-1", "node-2"),
        ];
        assert_eq!(roots(&group(&fs)), vec![0, 1]);
    }

    /// Rules between different codes never loop back, so every chain of
    /// causes ends (a same-code rule always points at an earlier finding).
    #[test]
    fn rules_between_codes_are_acyclic() {
        let edges: Vec<(Code, Code)> = RULES
            .iter()
            .filter(|r| r.cause != r.symptom)
            .map(|r| (r.cause, r.symptom))
            .collect();
        let mut left = edges.clone();
        while !left.is_empty() {
            let before = left.len();
            let sources: Vec<Code> = left.iter().map(|e| e.0).collect();
            left.retain(|e| sources.contains(&e.1) && e.0 != e.1);
            let sinks: Vec<Code> = left.iter().map(|e| e.1).collect();
            left.retain(|e| sinks.contains(&e.0));
            assert!(left.len() < before, "a cycle among {left:?}");
        }
    }
}
