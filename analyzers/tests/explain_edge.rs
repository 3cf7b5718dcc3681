//! explain at the cluster's edge, on snapshots built in code: egress with
//! and without the SNAT that lets the reply return, an outside client
//! entering a NodePort (with and without a rule for it, with `--via` for an
//! address that is no node's), and a Service whose NAT rules were not
//! collected (modelled from its EndpointSlices, and said to be).

#[path = "../../dataplane/tests/common/mod.rs"]
mod common;

use cnictl_analyzers::explain::{explain, ExplainError, ExplainRequest, Explanation, Verdict};
use cnictl_analyzers::hints;
use serde_json::Value;

/// Two host-gw nodes, a pod on each; `a_rules` are node a's iptables-save
/// lines (none: node a's rules were not collected).
fn cluster(a_rules: &str) -> String {
    let rules: String = a_rules
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| format!("iptables {l}\n"))
        .collect();
    format!(
        "
node a
internal-ip 192.0.2.11
pod-cidr 10.244.1.0/24
link eth0 mac 02:00:00:00:00:11
link cni0 kind bridge
addr 192.0.2.11/24 dev eth0
addr 10.244.1.1/24 dev cni0
route default via 192.0.2.1 dev eth0
route 192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.11
route 10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1
route 10.244.2.0/24 via 192.0.2.12 dev eth0
neigh 192.0.2.12 dev eth0 lladdr 02:00:00:00:00:12 REACHABLE
neigh 192.0.2.1 dev eth0 lladdr 02:00:00:00:00:01 REACHABLE
sysctl net.ipv4.ip_forward=1
pod default/web 10.244.1.2
{rules}
node b
internal-ip 192.0.2.12
pod-cidr 10.244.2.0/24
link eth0 mac 02:00:00:00:00:12
link cni0 kind bridge
addr 192.0.2.12/24 dev eth0
addr 10.244.2.1/24 dev cni0
route default via 192.0.2.1 dev eth0
route 192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.12
route 10.244.2.0/24 dev cni0 proto kernel scope link src 10.244.2.1
route 10.244.1.0/24 via 192.0.2.11 dev eth0
neigh 192.0.2.11 dev eth0 lladdr 02:00:00:00:00:11 REACHABLE
neigh 192.0.2.1 dev eth0 lladdr 02:00:00:00:00:01 REACHABLE
sysctl net.ipv4.ip_forward=1
pod default/api 10.244.2.2
service default/api 10.96.0.20 tcp:8080
endpoints default/api 8080 10.244.2.2
"
    )
}

/// Flannel's egress masquerade (FLANNEL-POSTRTG's last rule, simplified).
const MASQ: &str = r#"
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
COMMIT
"#;

/// The same node without it: rules collected, no NAT.
const NO_NAT: &str = r#"
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
"#;

/// api's NodePort 30080 on node a as kube-proxy writes it (KUBE-NODEPORTS →
/// KUBE-EXT: masquerade mark, then the Service chain; simplified to one
/// endpoint).
const NODEPORT: &str = r#"
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-EXT-API - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-API - [0:0]
-A PREROUTING -j KUBE-SERVICES
-A POSTROUTING -j KUBE-POSTROUTING
-A KUBE-EXT-API -j KUBE-MARK-MASQ
-A KUBE-EXT-API -j KUBE-SVC-API
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-NODEPORTS -p tcp -m tcp --dport 30080 -j KUBE-EXT-API
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -j MASQUERADE --random-fully
-A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m tcp --dport 8080 -j KUBE-SVC-API
-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-SVC-API -p tcp -j DNAT --to-destination 10.244.2.2:8080
COMMIT
"#;

fn run(text: &str, req: &ExplainRequest) -> Result<Explanation, ExplainError> {
    let mut f = common::parse(text);
    for s in f.snap.k8s.services.iter_mut().flatten() {
        s.service_type = "NodePort".into();
        s.ports[0].node_port = Some(30080);
    }
    let dp = hints::dataplane(&f.snap);
    explain(&f.snap, &dp, req)
}

fn json(ex: &Explanation) -> Value {
    serde_json::to_value(ex).unwrap()
}

fn egress(reverse: bool) -> ExplainRequest {
    let mut req = ExplainRequest::new("default/web", "203.0.113.10");
    req.port = Some(443);
    req.reverse = reverse;
    req
}

fn from_outside(dst: &str) -> ExplainRequest {
    let mut req = ExplainRequest::new("outside/203.0.113.10", dst);
    req.from_outside = Some("203.0.113.10".parse().unwrap());
    req
}

#[test]
fn egress_is_masqueraded_to_the_node_and_the_reply_comes_back() {
    let ex = run(&cluster(MASQ), &egress(true)).unwrap();
    let j = json(&ex);
    assert_eq!(j["verdict"], "delivered");
    assert_eq!(j["egress"]["src"], "192.0.2.11", "{j:#}");
    assert_eq!(j["egress"]["snat"], true);
    assert_eq!(j["egress"]["via"], "192.0.2.1");
    let last = j["hops"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "leave", "leaving is no drop: {last}");
    assert!(last["entry"].as_str().unwrap().contains("as 192.0.2.11:"));
    let back = &j["reverse"];
    assert_eq!(back["verdict"], "delivered", "{back:#}");
    assert_eq!(back["packet"]["dst"], "10.244.1.2");
    let note = back["notes"][0].as_str().unwrap();
    assert!(note.contains("reverses the source NAT"), "{note}");
}

#[test]
fn egress_without_masquerade_has_a_reply_that_cannot_return() {
    let ex = run(&cluster(NO_NAT), &egress(true)).unwrap();
    assert_eq!(ex.verdict, Verdict::Delivered);
    let e = ex.egress.as_ref().unwrap();
    assert!(!e.snat);
    assert_eq!(e.src.to_string(), "10.244.1.2");
    let back = ex.reverse.as_ref().unwrap();
    assert_eq!(back.verdict, Verdict::Dropped);
    let d = back.drop.as_ref().unwrap();
    assert_eq!(d.disposition, "left-cluster");
    assert!(d.reason.contains("no SNAT"), "{}", d.reason);
    assert_eq!(d.hop, 1);
    assert_eq!(back.hops.len(), 1);
}

#[test]
fn egress_without_reverse_has_no_reverse() {
    let ex = run(&cluster(NO_NAT), &egress(false)).unwrap();
    assert!(ex.reverse.is_none());
    assert_eq!(ex.verdict, Verdict::Delivered);
}

#[test]
fn an_outside_client_enters_a_nodeport_and_is_dnated_and_masqueraded() {
    let ex = run(&cluster(NODEPORT), &from_outside("node/a:30080")).unwrap();
    let j = json(&ex);
    assert_eq!(j["verdict"], "delivered", "{j:#}");
    assert_eq!(j["src"]["kind"], "outside");
    assert_eq!(j["dst"]["service"], "default/api");
    let rewrites: Vec<&str> = j["hops"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["rewrite"].as_str())
        .collect();
    assert!(
        rewrites
            .iter()
            .any(|r| r.contains("DNAT → 10.244.2.2:8080")),
        "{rewrites:?}"
    );
    assert!(
        rewrites.iter().any(|r| r.contains("MASQUERADE")),
        "{rewrites:?}"
    );
    let first = &j["hops"][0];
    assert_eq!(first["node"], "a");
    assert_eq!(first["in_dev"], "eth0");
}

#[test]
fn a_nodeport_no_rule_dnats_is_dropped_on_the_node() {
    let ex = run(&cluster(NO_NAT), &from_outside("node/a:30080")).unwrap();
    assert_eq!(ex.verdict, Verdict::Dropped);
    let d = ex.drop.as_ref().unwrap();
    assert!(d.reason.contains("no rule"), "{}", d.reason);
    assert_eq!(d.node, "a");
}

#[test]
fn an_outside_address_that_is_no_node_needs_via() {
    let err = run(&cluster(NODEPORT), &from_outside("198.51.100.7")).unwrap_err();
    assert!(matches!(err, ExplainError::ViaNeeded { .. }), "{err}");
    let mut req = from_outside("198.51.100.7");
    req.via = Some("node/b".into());
    req.port = Some(80);
    let ex = run(&cluster(NODEPORT), &req).unwrap();
    assert_eq!(ex.hops[0].node, "b");
}

#[test]
fn an_outside_client_is_no_pod_or_node() {
    let mut req = from_outside("node/a:30080");
    req.from_outside = Some("10.244.2.2".parse().unwrap());
    let err = run(&cluster(NODEPORT), &req).unwrap_err();
    assert!(
        err.to_string().contains("belongs to a pod or node"),
        "{err}"
    );
}

#[test]
fn a_service_without_collected_rules_is_inferred_and_says_so() {
    let mut req = ExplainRequest::new("default/web", "svc/default/api");
    req.port = Some(8080);
    let ex = run(&cluster(""), &req).unwrap();
    assert_eq!(ex.verdict, Verdict::Delivered);
    assert!(
        ex.inferred.iter().any(|f| f == "nodes/a/iptables-save.txt"),
        "{:?}",
        ex.inferred
    );
    assert_eq!(ex.hops[0].kind, "service");
    assert!(ex.hops[0].inferred);
    assert_eq!(ex.backends.len(), 1);
    assert_eq!(ex.backends[0].share, Some(1.0));
    let text = cnictl_analyzers::explain::render_text(&ex);
    assert!(text.contains("verdict: delivered (inferred:"), "{text}");
}

#[test]
fn a_nodeport_reply_goes_back_through_the_node_that_translated_it() {
    let mut req = from_outside("node/a:30080");
    req.reverse = true;
    let ex = run(&cluster(NODEPORT), &req).unwrap();
    let back = ex.reverse.as_ref().expect("reverse");
    assert_eq!(back.verdict, Verdict::Delivered, "{back:#?}");
    assert_eq!(back.src.ip.to_string(), "10.244.2.2");
    assert_eq!(
        back.packet.dst.to_string(),
        "192.0.2.11",
        "to the masqueraded source"
    );
    let ct = back
        .hops
        .iter()
        .find(|h| h.kind == "conntrack")
        .expect("a conntrack hop");
    assert_eq!(ct.node, "a");
    let last = back.hops.last().unwrap();
    assert_eq!(last.kind, "leave");
    assert!(last.entry.contains("as 192.0.2.11:30080"), "{}", last.entry);
}

#[test]
fn a_nodeport_reply_that_bypasses_the_translating_node_is_dropped() {
    let no_masq: String = NODEPORT
        .lines()
        .filter(|l| !l.contains("-j MASQUERADE"))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut req = from_outside("node/a:30080");
    req.reverse = true;
    let ex = run(&cluster(&no_masq), &req).unwrap();
    assert_eq!(ex.verdict, Verdict::Delivered);
    let back = ex.reverse.as_ref().expect("reverse");
    assert_eq!(back.verdict, Verdict::Dropped, "{back:#?}");
    let d = back.drop.as_ref().unwrap();
    assert_eq!(d.disposition, "nat-bypassed");
    assert_eq!(d.node, "a");
    assert_eq!(d.code.map(|c| c.as_str()), Some("masquerade-missing"));
    assert!(back.hops.iter().all(|h| h.node == "b"), "never crosses a");
}

#[test]
fn a_pod_to_service_reply_crosses_the_pods_node_and_is_delivered() {
    let mut req = ExplainRequest::new("default/web", "svc/default/api");
    req.reverse = true;
    let ex = run(&cluster(NODEPORT), &req).unwrap();
    assert_eq!(ex.verdict, Verdict::Delivered);
    assert_eq!(ex.backends.len(), 1);
    let back = ex.reverse.as_ref().unwrap();
    assert_eq!(back.verdict, Verdict::Delivered, "{back:#?}");
    assert_eq!(back.packet.dst.to_string(), "10.244.1.2");
}
