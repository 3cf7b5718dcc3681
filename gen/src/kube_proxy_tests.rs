//! The kube-proxy writers on a three-Service cluster: chain names pinned to
//! values computed by hand from kube-proxy's algorithm (`python3 -c 'import
//! hashlib,base64; print(base64.b32encode(hashlib.sha256(b"ns2/svc2:p80tcp")
//! .digest())[:16])'`; they are also the names in kube-proxy v1.31's own
//! `proxier_test.go`), and the rule shapes each node gets.

use std::net::IpAddr;

use cnictl_model::k8s::Endpoint;
use cnictl_model::{K8s, Service};

use crate::kube_proxy::{self, iptables_save_for, KpNode};
use crate::kube_proxy_nft::{self, nft_json_for};
use crate::kube_proxy_ports::{http_port, http_slice};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn endpoint(addr: &str, node: &str) -> Endpoint {
    Endpoint {
        addresses: vec![ip(addr)],
        ready: true,
        node: Some(node.into()),
        pod: None,
    }
}

/// svc-1: ClusterIP with an endpoint on node-a; svc-2: NodePort 30002,
/// external IP 192.168.99.22, LB IP 1.2.3.4, eTP Local, its endpoint on
/// node-b; svc-3: NodePort 30003 without endpoints.
fn cluster() -> K8s {
    let svc = |name: &str, cip: &str, np: Option<u16>| Service {
        namespace: "default".into(),
        name: name.into(),
        service_type: if np.is_some() {
            "NodePort"
        } else {
            "ClusterIP"
        }
        .into(),
        cluster_ips: vec![ip(cip)],
        ports: vec![http_port(np)],
        ..Default::default()
    };
    let mut svc2 = svc("svc-2", "10.96.0.2", Some(30002));
    svc2.external_traffic_policy = Some("Local".into());
    svc2.external_ips = vec![ip("192.168.99.22")];
    svc2.load_balancer_ips = vec![ip("1.2.3.4")];
    K8s {
        services: Some(vec![
            svc("svc-1", "10.96.0.1", None),
            svc2,
            svc("svc-3", "10.96.0.3", Some(30003)),
        ]),
        endpoint_slices: Some(vec![
            http_slice("svc-1".into(), vec![endpoint("10.244.1.2", "node-a")]),
            http_slice("svc-2".into(), vec![endpoint("10.244.2.2", "node-b")]),
        ]),
        ..K8s::default()
    }
}

fn node(name: &str) -> KpNode {
    KpNode {
        name: Some(name.into()),
        addresses: vec![ip("192.0.2.11")],
        cluster_cidr: "10.244.0.0/16".parse().unwrap(),
    }
}

#[test]
fn chain_names_are_kube_proxys() {
    let n = "ns2/svc2:p80";
    assert_eq!(kube_proxy::svc_chain(n, "tcp"), "KUBE-SVC-GNZBNJ2PO5MGZ6GT");
    assert_eq!(kube_proxy::svl_chain(n, "tcp"), "KUBE-SVL-GNZBNJ2PO5MGZ6GT");
    assert_eq!(kube_proxy::ext_chain(n, "tcp"), "KUBE-EXT-GNZBNJ2PO5MGZ6GT");
    assert_eq!(kube_proxy::fw_chain(n, "tcp"), "KUBE-FW-GNZBNJ2PO5MGZ6GT");
    assert_eq!(
        kube_proxy::sep_chain(n, "tcp", "10.180.0.2:80"),
        "KUBE-SEP-RS4RBKLTHTF2IUXJ"
    );
    assert_eq!(
        kube_proxy::svc_chain("ns1/svc1:p80", "tcp"),
        "KUBE-SVC-XPGD46QRK7WJZT7O"
    );
    assert_eq!(
        kube_proxy_nft::external_chain("ns2", "svc2", "tcp", "p80"),
        "external-42NFTM6N-ns2/svc2/tcp/p80"
    );
    assert_eq!(
        kube_proxy_nft::local_chain("ns2", "svc2", "tcp", "p80"),
        "local-42NFTM6N-ns2/svc2/tcp/p80"
    );
}

/// Lines of `text` that mention `needle`.
fn lines<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn local_policy_without_a_local_endpoint_drops_external_traffic() {
    let text = iptables_save_for(&cluster(), &node("node-a"));
    let ext = kube_proxy::ext_chain("default/svc-2:http", "tcp");
    let svc = kube_proxy::svc_chain("default/svc-2:http", "tcp");
    assert_eq!(
        lines(&text, &format!("-A {ext} ")),
        [
            format!("-A {ext} -s 10.244.0.0/16 -m comment --comment \"pod traffic for default/svc-2:http external destinations\" -j {svc}"),
            format!("-A {ext} -m comment --comment \"masquerade LOCAL traffic for default/svc-2:http external destinations\" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ"),
            format!("-A {ext} -m comment --comment \"route LOCAL traffic for default/svc-2:http external destinations\" -m addrtype --src-type LOCAL -j {svc}"),
        ]
    );
    assert!(
        !text.contains("KUBE-SVL-"),
        "no local endpoint, no SVL chain"
    );
    assert_eq!(
        lines(&text, "svc-2:http has no local endpoints"),
        [
            "-A KUBE-EXTERNAL-SERVICES -d 192.168.99.22/32 -p tcp -m comment --comment \"default/svc-2:http has no local endpoints\" -m tcp --dport 80 -j DROP",
            "-A KUBE-EXTERNAL-SERVICES -d 1.2.3.4/32 -p tcp -m comment --comment \"default/svc-2:http has no local endpoints\" -m tcp --dport 80 -j DROP",
            "-A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment \"default/svc-2:http has no local endpoints\" -m addrtype --dst-type LOCAL -m tcp --dport 30002 -j DROP",
        ]
    );
    assert_eq!(
        lines(&text, &format!("-j {ext}")),
        [
            format!("-A KUBE-SERVICES -d 192.168.99.22/32 -p tcp -m comment --comment \"default/svc-2:http external IP\" -m tcp --dport 80 -j {ext}"),
            format!("-A KUBE-SERVICES -d 1.2.3.4/32 -p tcp -m comment --comment \"default/svc-2:http loadbalancer IP\" -m tcp --dport 80 -j {ext}"),
            format!("-A KUBE-NODEPORTS -p tcp -m comment --comment \"default/svc-2:http\" -m tcp --dport 30002 -j {ext}"),
        ]
    );
}

#[test]
fn local_policy_with_a_local_endpoint_goes_to_svl() {
    let text = iptables_save_for(&cluster(), &node("node-b"));
    let ext = kube_proxy::ext_chain("default/svc-2:http", "tcp");
    let svl = kube_proxy::svl_chain("default/svc-2:http", "tcp");
    let sep = kube_proxy::sep_chain("default/svc-2:http", "tcp", "10.244.2.2:8080");
    assert!(text.contains(&format!("\n-A {ext} -j {svl}\n")), "{text}");
    assert!(text.contains(&format!(
        "\n-A {svl} -m comment --comment \"default/svc-2:http -> 10.244.2.2:8080\" -j {sep}\n"
    )));
    assert!(text.contains(&format!("\n:{svl} - [0:0]\n")));
    assert!(lines(&text, "has no local endpoints").is_empty());
}

#[test]
fn no_endpoints_reject_cluster_ip_and_node_port() {
    let text = iptables_save_for(&cluster(), &node("node-a"));
    assert_eq!(
        lines(&text, "svc-3:http has no endpoints"),
        [
            "-A KUBE-SERVICES -d 10.96.0.3/32 -p tcp -m comment --comment \"default/svc-3:http has no endpoints\" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable",
            "-A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment \"default/svc-3:http has no endpoints\" -m addrtype --dst-type LOCAL -m tcp --dport 30003 -j REJECT --reject-with icmp-port-unreachable",
        ]
    );
    assert!(!text.contains(&kube_proxy::ext_chain("default/svc-3:http", "tcp")));
}

#[test]
fn cluster_policy_node_port_masquerades_then_goes_to_svc() {
    let mut k8s = cluster();
    let services = k8s.services.as_mut().unwrap();
    services[1].external_traffic_policy = None;
    let text = iptables_save_for(&k8s, &node("node-a"));
    let ext = kube_proxy::ext_chain("default/svc-2:http", "tcp");
    let svc = kube_proxy::svc_chain("default/svc-2:http", "tcp");
    assert_eq!(
        lines(&text, &format!("-A {ext} ")),
        [
            format!("-A {ext} -m comment --comment \"masquerade traffic for default/svc-2:http external destinations\" -j KUBE-MARK-MASQ"),
            format!("-A {ext} -j {svc}"),
        ]
    );
}

fn nft_node(name: &str) -> serde_json::Value {
    serde_json::from_str(&nft_json_for(&cluster(), &node(name))).unwrap()
}

/// The rules of `chain` as compact JSON expression lists.
fn nft_rules(v: &serde_json::Value, chain: &str) -> Vec<String> {
    let items = v["nftables"].as_array().unwrap();
    (items.iter())
        .filter(|i| i["rule"]["chain"] == chain)
        .map(|i| i["rule"]["expr"].to_string())
        .collect()
}

/// The elements of set or map `name`.
fn nft_elems(v: &serde_json::Value, name: &str) -> String {
    let items = v["nftables"].as_array().unwrap();
    let set = items
        .iter()
        .find(|i| i.get("map").unwrap_or(&i["set"])["name"] == name);
    let set = set.unwrap();
    set.get("map").unwrap_or(&set["set"])["elem"].to_string()
}

#[test]
fn nft_local_policy_short_circuits_then_drops_without_local_endpoint() {
    let v = nft_node("node-a");
    let ext = kube_proxy_nft::external_chain("default", "svc-2", "tcp", "http");
    let svc = kube_proxy_nft::service_chain("default", "svc-2", "tcp", "http");
    let rules = nft_rules(&v, &ext);
    assert_eq!(rules.len(), 3, "{rules:?}");
    assert!(
        rules[0].contains("\"len\":16")
            && rules[0].contains(&format!("\"goto\":{{\"target\":\"{svc}\"}}"))
    );
    assert!(rules[1].contains("\"flags\":[\"saddr\"]") && rules[1].contains("mark-for-masquerade"));
    assert!(rules[2].contains("\"fib\"") && rules[2].contains(&svc));
    let nodeports = nft_elems(&v, "no-endpoint-nodeports");
    assert!(nodeports.contains("[{\"elem\":{\"comment\":\"default/svc-2:http\",\"val\":{\"concat\":[\"tcp\",30002]}}},{\"drop\":null}]"), "{nodeports}");
    assert!(nodeports.contains("30003") && nodeports.contains("reject-chain"));
    let services = nft_elems(&v, "service-nodeports");
    assert_eq!(
        services,
        format!("[[{{\"concat\":[\"tcp\",30002]}},{{\"goto\":{{\"target\":\"{ext}\"}}}}]]")
    );
    let ips = nft_elems(&v, "service-ips");
    assert!(
        ips.contains(&format!(
            "[{{\"concat\":[\"1.2.3.4\",\"tcp\",80]}},{{\"goto\":{{\"target\":\"{ext}\"}}}}]"
        )),
        "{ips}"
    );
    assert_eq!(nft_elems(&v, "nodeport-ips"), "[\"192.0.2.11\"]");
}

#[test]
fn nft_local_policy_with_local_endpoint_goes_to_local_chain() {
    let v = nft_node("node-b");
    let ext = kube_proxy_nft::external_chain("default", "svc-2", "tcp", "http");
    let local = kube_proxy_nft::local_chain("default", "svc-2", "tcp", "http");
    let rules = nft_rules(&v, &ext);
    assert_eq!(rules.len(), 4, "{rules:?}");
    assert_eq!(
        rules[3],
        format!("[{{\"goto\":{{\"target\":\"{local}\"}}}}]")
    );
    let dispatch = nft_rules(&v, &local);
    assert!(
        dispatch[0].contains("numgen") && dispatch[0].contains("10.244.2.2/8080"),
        "{dispatch:?}"
    );
    assert!(!nft_elems(&v, "no-endpoint-nodeports").contains("30002"));
}

/// `ipset save` members of `set`.
fn members<'a>(sets: &'a str, set: &str) -> Vec<&'a str> {
    let prefix = format!("add {set} ");
    sets.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .collect()
}

#[test]
fn ipvs_companions_fill_kube_proxys_sets() {
    let (rules, sets) = crate::kube_proxy_ipvs::ipvs_companions(&cluster(), &node("node-b"));
    assert_eq!(
        members(&sets, "KUBE-LOOP-BACK"),
        ["10.244.2.2,tcp:8080,10.244.2.2"]
    );
    assert_eq!(
        members(&sets, "KUBE-CLUSTER-IP"),
        ["10.96.0.1,tcp:80", "10.96.0.2,tcp:80", "10.96.0.3,tcp:80"]
    );
    assert_eq!(members(&sets, "KUBE-NODE-PORT-TCP"), ["30002", "30003"]);
    assert_eq!(members(&sets, "KUBE-NODE-PORT-LOCAL-TCP"), ["30002"]);
    assert_eq!(members(&sets, "KUBE-EXTERNAL-IP"), ["192.168.99.22,tcp:80"]);
    assert_eq!(
        members(&sets, "KUBE-LOAD-BALANCER-LOCAL"),
        ["1.2.3.4,tcp:80"]
    );
    let local = rules.find("--match-set KUBE-NODE-PORT-LOCAL-TCP dst -j RETURN");
    let masq = rules.find("--match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ");
    assert!(
        local.is_some() && local < masq,
        "eTP Local NodePorts return first:\n{rules}"
    );
    assert!(rules.contains("-A KUBE-SERVICES ! -s 10.244.0.0/16 -m comment --comment \"Kubernetes service cluster ip + port for masquerade purpose\" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ\n"));
    let (_, other) = crate::kube_proxy_ipvs::ipvs_companions(&cluster(), &node("node-a"));
    assert_eq!(
        members(&other, "KUBE-LOOP-BACK"),
        ["10.244.1.2,tcp:8080,10.244.1.2"]
    );
}
