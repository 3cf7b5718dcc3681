//! The BGP sessions Calico configures on each node, from its custom
//! resources (BGPConfiguration `default`, BGPPeers) and the nodes' labels
//! and route-reflector annotations — what confd renders into BIRD's config.
//!
//! Modelled on Calico v3.27: confd `pkg/backends/calico/client.go`
//! `updatePeersV1` (global peers, node-specific peers, then the reverse
//! peerings that keep selector peerings symmetric) and
//! `confd/etc/calico/confd/templates/bird.cfg.template` (the node-to-node
//! mesh skips route reflectors, and a reflector ignores the mesh; a peer
//! whose IP is the node's own is skipped). A node with Calico's
//! `IPv6Address` annotation also gets the IPv6 sessions bird6.cfg.template
//! renders the same way between the nodes' IPv6 addresses: each family is
//! expected on its own (a session per peer address).
//!
//! Without `k8s/bgpconfigurations.json` there is no topology: the checks
//! then assume the full mesh from the sessions BIRD shows (as before these
//! objects were read). A selector this module cannot evaluate makes the
//! whole topology unknown — it names the selector and never guesses.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use cnictl_model::{BgpPeer, K8s, K8sNode};

/// Calico's annotation for a node's BGP address (`192.0.2.11/24`).
pub const IPV4_ANNOTATION: &str = "projectcalico.org/IPv4Address";
/// Calico's annotation for a node's IPv6 BGP address (`fd00::11/64`).
pub const IPV6_ANNOTATION: &str = "projectcalico.org/IPv6Address";
/// Calico's annotation marking a route reflector (its cluster ID).
pub const RR_ANNOTATION: &str = "projectcalico.org/RouteReflectorClusterID";

/// Expected sessions, or why they cannot be known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BgpTopology {
    /// Peer addresses per node name.
    Known(BTreeMap<String, BTreeSet<IpAddr>>),
    /// The reason (an unsupported selector, BGPPeers not collected).
    Unknown(String),
}

impl BgpTopology {
    /// `None` when Calico's BGPConfigurations were not collected.
    pub fn from_k8s(k8s: &K8s) -> Option<BgpTopology> {
        let mesh = k8s.calico.node_mesh_enabled()?;
        let peers: &[BgpPeer] = match (&k8s.calico.bgp_peers, mesh) {
            (Some(p), _) => p,
            (None, true) => &[],
            (None, false) => {
                let why =
                    "the node-to-node mesh is disabled and k8s/bgppeers.json was not collected";
                return Some(BgpTopology::Unknown(why.into()));
            }
        };
        Some(match build(&k8s.nodes, peers, mesh) {
            Ok(map) => BgpTopology::Known(map),
            Err(why) => BgpTopology::Unknown(why),
        })
    }

    /// The peer addresses `node` should have a session with.
    pub fn of(&self, node: &str) -> Option<&BTreeSet<IpAddr>> {
        match self {
            BgpTopology::Known(m) => m.get(node),
            BgpTopology::Unknown(_) => None,
        }
    }
}

/// A node's BGP address: Calico's annotation, else its first InternalIP.
pub fn node_bgp_ip(n: &K8sNode) -> Option<IpAddr> {
    let annotated = n.annotation(IPV4_ANNOTATION).and_then(|a| {
        let ip = a.split('/').next()?;
        ip.parse().ok()
    });
    annotated.or_else(|| n.internal_ips.iter().copied().find(IpAddr::is_ipv4))
}

/// A node's IPv6 BGP address: only Calico's annotation (calico-node does
/// not autodetect IPv6 unless told to, and then writes the annotation).
pub fn node_bgp_ip6(n: &K8sNode) -> Option<IpAddr> {
    let a = n.annotation(IPV6_ANNOTATION)?;
    let ip: IpAddr = a.split('/').next()?.parse().ok()?;
    ip.is_ipv6().then_some(ip)
}

/// Every BGP address of a node: IPv4 (bird.cfg) then IPv6 (bird6.cfg).
pub fn node_bgp_ips(n: &K8sNode) -> impl Iterator<Item = IpAddr> {
    node_bgp_ip(n).into_iter().chain(node_bgp_ip6(n))
}

/// Whether Calico runs the node as a route reflector.
pub fn is_reflector(n: &K8sNode) -> bool {
    n.annotation(RR_ANNOTATION).is_some_and(|c| !c.is_empty())
}

type Sessions = BTreeMap<String, BTreeSet<IpAddr>>;

fn build(nodes: &[K8sNode], peers: &[BgpPeer], mesh: bool) -> Result<Sessions, String> {
    let mut out: Sessions = nodes
        .iter()
        .map(|n| (n.name.clone(), BTreeSet::new()))
        .collect();
    if mesh {
        add_mesh(nodes, &mut out);
    }
    for p in peers {
        add_peer(nodes, p, &mut out)?;
    }
    // A peering to the node's own address is skipped by the template.
    for n in nodes {
        if let Some(set) = out.get_mut(&n.name) {
            node_bgp_ips(n).for_each(|ip| {
                set.remove(&ip);
            });
        }
    }
    Ok(out)
}

/// The node-to-node mesh: every non-reflector with every other one.
fn add_mesh(nodes: &[K8sNode], out: &mut Sessions) {
    let meshed: Vec<&K8sNode> = nodes.iter().filter(|n| !is_reflector(n)).collect();
    for a in &meshed {
        let ips = meshed
            .iter()
            .filter(|b| b.name != a.name)
            .flat_map(|b| node_bgp_ips(b));
        out.entry(a.name.clone()).or_default().extend(ips);
    }
}

/// One BGPPeer, forwards (its local nodes peer with its remote side) and
/// in reverse (Calico nodes on the remote side peer back).
fn add_peer(nodes: &[K8sNode], p: &BgpPeer, out: &mut Sessions) -> Result<(), String> {
    let local = local_nodes(nodes, p)?;
    let remote_nodes = remote_nodes(nodes, p)?;
    let mut remote_ips: Vec<IpAddr> = remote_nodes.iter().flat_map(|n| node_bgp_ips(n)).collect();
    if p.peer_selector.is_none() {
        remote_ips.extend(peer_ip(p));
    }
    for l in &local {
        out.entry(l.name.clone())
            .or_default()
            .extend(remote_ips.iter().copied());
    }
    let local_ips: Vec<IpAddr> = local.iter().flat_map(|n| node_bgp_ips(n)).collect();
    for r in &remote_nodes {
        out.entry(r.name.clone())
            .or_default()
            .extend(local_ips.iter().copied());
    }
    Ok(())
}

/// `peerIP` without a `:port`.
fn peer_ip(p: &BgpPeer) -> Option<IpAddr> {
    let raw = p.peer_ip.as_deref()?;
    raw.parse().ok().or_else(|| {
        let sa: std::net::SocketAddr = raw.parse().ok()?;
        Some(sa.ip())
    })
}

/// The nodes that run the peering: `node`, `nodeSelector`, or (a global
/// peer) every node.
fn local_nodes<'n>(nodes: &'n [K8sNode], p: &BgpPeer) -> Result<Vec<&'n K8sNode>, String> {
    match (&p.node, &p.node_selector) {
        (_, Some(sel)) => select(nodes, sel, &p.name),
        (Some(name), None) => Ok(nodes.iter().filter(|n| &n.name == name).collect()),
        (None, None) => Ok(nodes.iter().collect()),
    }
}

/// The Calico nodes on the remote side: `peerSelector`, or the node whose
/// address is `peerIP` (the reverse peering's local nodes).
fn remote_nodes<'n>(nodes: &'n [K8sNode], p: &BgpPeer) -> Result<Vec<&'n K8sNode>, String> {
    if let Some(sel) = &p.peer_selector {
        return select(nodes, sel, &p.name);
    }
    let ip = peer_ip(p);
    Ok(nodes
        .iter()
        .filter(|n| ip.is_some_and(|ip| node_bgp_ips(n).any(|a| a == ip)))
        .collect())
}

fn select<'n>(nodes: &'n [K8sNode], sel: &str, peer: &str) -> Result<Vec<&'n K8sNode>, String> {
    let s = Selector::parse(sel)
        .ok_or_else(|| format!("BGPPeer {peer}: selector {sel:?} is not one cnictl evaluates"))?;
    Ok(nodes.iter().filter(|n| s.matches(&n.labels)).collect())
}

/// The subset of Calico's selector syntax cnictl evaluates: `all()`,
/// `has(k)`, `!has(k)`, `k == 'v'`, `k != 'v'`, joined by `&&`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    All,
    Has(String),
    NotHas(String),
    Eq(String, String),
    Ne(String, String),
    And(Vec<Selector>),
}

impl Selector {
    /// `None` for anything outside the subset (`||`, `in`, parentheses…).
    pub fn parse(text: &str) -> Option<Selector> {
        let terms: Option<Vec<Selector>> = text.split("&&").map(Self::term).collect();
        let mut terms = terms?;
        Some(match terms.len() {
            1 => terms.remove(0),
            _ => Selector::And(terms),
        })
    }

    fn term(t: &str) -> Option<Selector> {
        let t = t.trim();
        if t == "all()" {
            return Some(Selector::All);
        }
        if let Some(k) = call(t, "!has(").or_else(|| call(t, "! has(")) {
            return Some(Selector::NotHas(k));
        }
        if let Some(k) = call(t, "has(") {
            return Some(Selector::Has(k));
        }
        if let Some((k, v)) = t.split_once("!=") {
            return Some(Selector::Ne(label(k)?, quoted(v)?));
        }
        let (k, v) = t.split_once("==")?;
        Some(Selector::Eq(label(k)?, quoted(v)?))
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Selector::All => true,
            Selector::Has(k) => labels.contains_key(k),
            Selector::NotHas(k) => !labels.contains_key(k),
            Selector::Eq(k, v) => labels.get(k) == Some(v),
            Selector::Ne(k, v) => labels.get(k) != Some(v),
            Selector::And(all) => all.iter().all(|s| s.matches(labels)),
        }
    }
}

/// `has(key)` → `key`.
fn call(t: &str, open: &str) -> Option<String> {
    let inner = t.strip_prefix(open)?.strip_suffix(')')?;
    label(inner)
}

/// A label key: no spaces, quotes or operators.
fn label(k: &str) -> Option<String> {
    let k = k.trim();
    let ok = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'));
    ok.then(|| k.to_string())
}

/// `'v'` or `"v"` → `v`.
fn quoted(v: &str) -> Option<String> {
    let v = v.trim();
    let inner = v
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| v.strip_prefix('"').and_then(|s| s.strip_suffix('"')))?;
    (!inner.contains(['\'', '"'])).then(|| inner.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cnictl_model::BgpConfiguration;

    fn node(i: u8, rr: bool) -> K8sNode {
        let mut n = K8sNode {
            name: format!("node-{i}"),
            internal_ips: vec![format!("192.0.2.1{i}").parse().unwrap()],
            ..K8sNode::default()
        };
        if rr {
            n.annotations
                .insert(RR_ANNOTATION.into(), "244.0.0.1".into());
            n.labels.insert("route-reflector".into(), "true".into());
        }
        n
    }

    fn cluster(mesh: bool, peers: Vec<BgpPeer>) -> K8s {
        let mut k = K8s {
            nodes: vec![
                node(1, true),
                node(2, false),
                node(3, false),
                node(4, false),
            ],
            ..K8s::default()
        };
        k.calico.bgp_configurations = Some(vec![BgpConfiguration {
            name: "default".into(),
            node_to_node_mesh_enabled: Some(mesh),
            as_number: None,
        }]);
        k.calico.bgp_peers = Some(peers);
        k
    }

    fn rr_peer(sel: &str) -> BgpPeer {
        BgpPeer {
            name: "peer-with-route-reflectors".into(),
            node_selector: Some("all()".into()),
            peer_selector: Some(sel.into()),
            ..BgpPeer::default()
        }
    }

    fn ips(t: &BgpTopology, n: &str) -> Vec<String> {
        t.of(n).unwrap().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn reflector_topology_clients_peer_only_with_the_reflector() {
        let k = cluster(false, vec![rr_peer("route-reflector == 'true'")]);
        let t = BgpTopology::from_k8s(&k).unwrap();
        assert_eq!(ips(&t, "node-2"), ["192.0.2.11"]);
        assert_eq!(
            ips(&t, "node-1"),
            ["192.0.2.12", "192.0.2.13", "192.0.2.14"]
        );
    }

    #[test]
    fn mesh_skips_reflectors_and_external_peers_are_added() {
        let tor = BgpPeer {
            name: "tor".into(),
            node: Some("node-2".into()),
            peer_ip: Some("192.0.2.254".into()),
            as_number: Some(64513),
            ..BgpPeer::default()
        };
        let t = BgpTopology::from_k8s(&cluster(true, vec![tor])).unwrap();
        assert_eq!(
            ips(&t, "node-2"),
            ["192.0.2.13", "192.0.2.14", "192.0.2.254"]
        );
        assert!(ips(&t, "node-1").is_empty());
    }

    #[test]
    fn unsupported_selector_and_missing_inputs_are_unknown() {
        let k = cluster(false, vec![rr_peer("route-reflector in {'true'}")]);
        match BgpTopology::from_k8s(&k).unwrap() {
            BgpTopology::Unknown(why) => assert!(why.contains("route-reflector in"), "{why}"),
            t => panic!("{t:?}"),
        }
        let mut k = cluster(false, vec![]);
        k.calico.bgp_peers = None;
        assert!(matches!(
            BgpTopology::from_k8s(&k),
            Some(BgpTopology::Unknown(_))
        ));
        k.calico.bgp_configurations = None;
        assert_eq!(
            BgpTopology::from_k8s(&k),
            None,
            "no CRDs: full mesh as before"
        );
    }

    #[test]
    fn ipv6_annotations_add_ipv6_sessions() {
        let mut k = cluster(true, vec![]);
        for (i, n) in k.nodes.iter_mut().enumerate() {
            let v6 = format!("fd00:192:0:2::1{}/64", i + 1);
            n.annotations.insert(IPV6_ANNOTATION.into(), v6);
        }
        let t = BgpTopology::from_k8s(&k).unwrap();
        assert_eq!(
            ips(&t, "node-2"),
            [
                "192.0.2.13",
                "192.0.2.14",
                "fd00:192:0:2::13",
                "fd00:192:0:2::14"
            ]
        );
    }

    #[test]
    fn selector_subset() {
        let mut l = BTreeMap::new();
        l.insert("a".to_string(), "x".to_string());
        let m = |s: &str| Selector::parse(s).unwrap().matches(&l);
        assert!(m("all()") && m("has(a)") && m("a == 'x'") && m("a == \"x\""));
        assert!(!m("!has(a)") && m("b != 'y'") && !m("has(a) && a != 'x'"));
        assert_eq!(Selector::parse("a == 'x' || b == 'y'"), None);
        assert_eq!(Selector::parse("(has(a))"), None);
    }
}
