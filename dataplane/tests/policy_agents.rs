//! The policy agents' generated rules (Felix on calico-bgp, kube-router on
//! Flannel) through cnictl's own netfilter evaluator: every node's rules
//! of a 2 × 2 lab with the lab's policy set
//! (lab/testdata/policies/lab-policies.yaml) are parsed with the
//! project's `iptables-save` and `ipset save` parsers, and for every
//! ordered pod pair a new TCP connection to port 8080 is walked through
//! FORWARD on the source node and then on the destination node. The
//! pairs the rules let through must be the pairs the policies intend (the
//! file's own table), and policy-ipset-stale's edit must change exactly
//! the two pairs it names.

use std::net::IpAddr;

use cnictl_dataplane::nf::{HookVerdict, NfPacket, NodeView, Ruleset};
use cnictl_formats::manifests::Manifests;
use cnictl_formats::{parse_ipset_save, parse_iptables_save};
use cnictl_gen::lab::LabPolicies;
use cnictl_gen::LabPlan;
use cnictl_model::netfilter::{AddrType, Hook, Netfilter, Source};

const POLICIES: &str = include_str!("../../lab/testdata/policies/lab-policies.yaml");

/// What the file says is allowed among web-1, api-1, web-2, api-2.
const INTENDED: [(&str, &str); 5] = [
    ("web-1", "api-1"),
    ("web-1", "api-2"),
    ("web-2", "api-1"),
    ("web-2", "api-2"),
    ("web-2", "web-1"),
];

fn lab(model: &str) -> LabPlan {
    let mut m = Manifests::default();
    m.add_text(POLICIES).expect("policy file");
    let k8s = m.into_k8s();
    let lp = LabPolicies {
        policies: k8s.network_policies.unwrap_or_default(),
        namespaces: k8s.namespaces.unwrap_or_default(),
    };
    LabPlan::new(model, 2, 2, "cnlt")
        .expect("lab")
        .with_policies(lp)
}

/// The filter sections of `iptables-restore --noflush` input merged into
/// one `iptables-save` table (`-I CHAIN N` placed as the kernel places it).
fn as_save(restore: &str) -> String {
    let mut chains: Vec<(String, Vec<String>)> = ["INPUT", "FORWARD", "OUTPUT"]
        .iter()
        .map(|c| (c.to_string(), Vec::new()))
        .collect();
    let mut in_filter = false;
    for line in restore.lines() {
        match line {
            "*filter" => in_filter = true,
            l if l.starts_with('*') => in_filter = false,
            _ if !in_filter => {}
            l if l.starts_with(':') => {
                let name = l[1..].split_whitespace().next().unwrap_or_default();
                if !chains.iter().any(|(c, _)| c == name) {
                    chains.push((name.to_string(), Vec::new()));
                }
            }
            l if l.starts_with("-A ") || l.starts_with("-I ") => place(&mut chains, l),
            _ => {}
        }
    }
    let mut out = String::from("*filter\n");
    for (c, _) in &chains {
        let policy = if ["INPUT", "FORWARD", "OUTPUT"].contains(&c.as_str()) {
            "ACCEPT"
        } else {
            "-"
        };
        out.push_str(&format!(":{c} {policy} [0:0]\n"));
    }
    for (c, rules) in &chains {
        for r in rules {
            out.push_str(&format!("-A {c} {r}\n"));
        }
    }
    out + "COMMIT\n"
}

fn place(chains: &mut [(String, Vec<String>)], line: &str) {
    let mut words = line.splitn(3, ' ');
    let (verb, chain, rest) = (
        words.next(),
        words.next().unwrap_or(""),
        words.next().unwrap_or(""),
    );
    let Some((_, rules)) = chains.iter_mut().find(|(c, _)| c == chain) else {
        panic!("rule for undeclared chain {chain}: {line}");
    };
    if verb == Some("-I") {
        let (pos, rule) = rest.split_once(' ').expect("position");
        let at = pos.parse::<usize>().expect("number") - 1;
        rules.insert(at.min(rules.len()), rule.to_string());
    } else {
        rules.push(rest.to_string());
    }
}

fn ruleset(plan: &LabPlan, n: u32, ipsets: &str) -> Ruleset {
    let tables = parse_iptables_save(&as_save(&plan.iptables_restore(n)), Source::IptablesSave)
        .unwrap_or_else(|e| panic!("node-{n}'s rules parse: {e}"));
    let ipsets = parse_ipset_save(ipsets).expect("ipsets parse");
    Ruleset::compile(&Netfilter {
        tables,
        ipsets: Some(ipsets),
        sources: vec![Source::IptablesSave],
        ..Default::default()
    })
}

struct Node(IpAddr);

impl NodeView for Node {
    fn addr_type(&self, addr: IpAddr, _dev: Option<&str>) -> AddrType {
        if addr == self.0 {
            AddrType::Local
        } else {
            AddrType::Unicast
        }
    }
    fn primary_addr(&self, _dev: &str, _dst: IpAddr) -> Option<IpAddr> {
        Some(self.0)
    }
}

/// A pod: node, index.
type P = (u32, u32);

/// The packet at FORWARD on node `at` (the source's or the destination's).
fn packet(plan: &LabPlan, src: P, dst: P, at: u32) -> NfPacket {
    let ip = |(n, p): P| IpAddr::V4(plan.pod_ip(n, p));
    let mut pkt = NfPacket::new(ip(src), ip(dst), 6, 40000, 8080);
    let veth = |(n, p): P| Some(plan.host_veth(n, p));
    let same = src.0 == dst.0;
    if plan.is_calico() {
        pkt.iif = if at == src.0 {
            veth(src)
        } else {
            Some("eth0".into())
        };
        pkt.oif = if at == dst.0 {
            veth(dst)
        } else {
            Some("eth0".into())
        };
        return pkt;
    }
    let tunnel = Some("flannel.1".to_string());
    pkt.iif = if at == src.0 {
        Some("cni0".into())
    } else {
        tunnel.clone()
    };
    pkt.oif = if at == dst.0 {
        Some("cni0".into())
    } else {
        tunnel
    };
    pkt.physdev_in = (at == src.0).then(|| veth(src)).flatten();
    pkt.physdev_out = same.then(|| veth(dst)).flatten();
    pkt
}

fn passes(rs: &Ruleset, node: &Node, pkt: &NfPacket) -> bool {
    let paths = rs.eval_hook(Hook::Forward, pkt, node, false);
    paths.iter().all(|p| match &p.verdict {
        HookVerdict::Accept => true,
        HookVerdict::Drop(_) | HookVerdict::Reject(..) => false,
        HookVerdict::Unknown(_, why) => panic!("rule cnictl cannot evaluate: {why}"),
    })
}

/// Every ordered pair the generated rules let through.
fn allowed(plan: &LabPlan, sets: &dyn Fn(u32) -> String) -> Vec<(String, String)> {
    let rulesets: Vec<Ruleset> = (1..=2).map(|n| ruleset(plan, n, &sets(n))).collect();
    let pods: Vec<P> = (1..=2).flat_map(|n| (1..=2).map(move |p| (n, p))).collect();
    let mut out = Vec::new();
    for &s in &pods {
        for &d in pods.iter().filter(|&&d| d != s) {
            let hops = if s.0 == d.0 {
                vec![s.0]
            } else {
                vec![s.0, d.0]
            };
            let ok = hops.iter().all(|&at| {
                let node = Node(IpAddr::V4(plan.node_ip(at)));
                passes(&rulesets[at as usize - 1], &node, &packet(plan, s, d, at))
            });
            if ok {
                out.push((plan.pod_name(s.0, s.1), plan.pod_name(d.0, d.1)));
            }
        }
    }
    out.sort();
    out
}

fn intended() -> Vec<(String, String)> {
    INTENDED
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn generated_rules_enforce_the_intent() {
    for model in ["calico-bgp", "flannel-vxlan", "flannel-host-gw"] {
        let plan = lab(model);
        let got = allowed(&plan, &|n| plan.ipset_restore(n));
        assert_eq!(got, intended(), "{model}");
    }
}

#[test]
fn a_stale_ipset_changes_exactly_its_two_pairs() {
    for model in ["calico-bgp", "flannel-vxlan"] {
        let plan = lab(model);
        let edit = plan.stale_ipset(1).expect("a peer set to edit");
        let stale = |n: u32| {
            let text = plan.ipset_restore(n);
            if n != 1 {
                return text;
            }
            let del = format!("add {} {}", edit.set, edit.del);
            let gone = |l: &str| l == del || l.starts_with(&format!("{del} "));
            let kept: String = text
                .lines()
                .filter(|l| !gone(l))
                .map(|l| format!("{l}\n"))
                .collect();
            kept + &format!("add {} {}\n", edit.set, edit.add)
        };
        let got = allowed(&plan, &stale);
        let mut want = intended();
        want.retain(|p| p != &("web-2".to_string(), "api-1".to_string()));
        want.push(("api-2".into(), "api-1".into()));
        want.sort();
        assert_eq!(got, want, "{model}: {edit:?}");
    }
}
