//! The netfilter pieces against the real tools, in a network namespace this
//! test creates (`cnl-nft-<pid>`) and deletes: the kube-proxy iptables-mode
//! rules `cnictl_gen::kube_proxy` writes load with `iptables-restore`, and
//! what `iptables-save -c` then prints parses to the same rules as the text
//! that was loaded (so the generator writes what kube-proxy's iptables
//! accepts and the parser reads the tool's own output the same way).
//! Needs root, `ip` and `iptables`; skips with a printed reason otherwise.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};

use cnictl_formats::iptables::parse_iptables_save;
use cnictl_model::k8s::{Endpoint, EndpointPort, EndpointSlice, K8s, Service, ServicePort};
use cnictl_model::netfilter::{Expr, Match, Source, Statistic, Table};

/// Deletes the namespace whatever the test did.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn why_not() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root".into());
    }
    for tool in ["ip", "iptables-restore", "iptables-save"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .ok()?;
        if !found.status.success() {
            return Some(format!(
                "{tool} not installed (apt-get install iproute2 iptables)"
            ));
        }
    }
    None
}

fn service(
    name: &str,
    ip: &str,
    port: u16,
    proto: &str,
    endpoints: &[&str],
) -> (Service, EndpointSlice) {
    let svc = Service {
        namespace: "default".into(),
        name: name.into(),
        service_type: "ClusterIP".into(),
        cluster_ips: vec![ip.parse().unwrap()],
        ports: vec![ServicePort {
            name: Some("p".into()),
            protocol: proto.into(),
            port,
            target_port: None,
            node_port: None,
        }],
        selector: BTreeMap::new(),
    };
    let eps = endpoints.iter().map(|e| Endpoint {
        addresses: vec![e.parse::<IpAddr>().unwrap()],
        ready: true,
        node: None,
        pod: None,
    });
    let slice = EndpointSlice {
        namespace: "default".into(),
        name: format!("{name}-x"),
        service: Some(name.into()),
        address_type: "IPv4".into(),
        endpoints: eps.collect(),
        ports: vec![EndpointPort {
            name: Some("p".into()),
            protocol: proto.into(),
            port: 8080,
        }],
    };
    (svc, slice)
}

fn cluster() -> K8s {
    let all = [
        service(
            "web",
            "10.96.0.20",
            80,
            "TCP",
            &["10.244.1.2", "10.244.2.2", "10.244.3.2"],
        ),
        service("dns", "10.96.0.10", 53, "UDP", &["10.244.1.3"]),
        service("empty", "10.96.0.30", 443, "TCP", &[]),
    ];
    let (services, slices) = all.into_iter().unzip();
    K8s {
        services: Some(services),
        endpoint_slices: Some(slices),
        ..K8s::default()
    }
}

fn run(ns: &str, args: &[&str], input: Option<&str>) -> String {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = input {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Rules without their text and counters, probabilities to 1e-6: the
/// kernel keeps a probability as a 32-bit fraction (1/3 prints back as
/// 0.33333333349).
fn shapes(tables: &[Table]) -> Vec<(String, String, Vec<String>)> {
    let mut out: Vec<_> = tables
        .iter()
        .flat_map(|t| {
            t.chains.iter().map(move |c| {
                (
                    t.name.clone(),
                    c.name.clone(),
                    c.rules.iter().map(|r| shape(&r.exprs)).collect(),
                )
            })
        })
        .collect();
    out.sort();
    out
}

fn shape(exprs: &[Expr]) -> String {
    let rounded: Vec<Expr> = exprs
        .iter()
        .map(|e| match e {
            Expr::Match(Match::Statistic {
                mode: Statistic::Random { probability },
                neg,
            }) => {
                let probability = (probability * 1e6).round() / 1e6;
                Expr::Match(Match::Statistic {
                    mode: Statistic::Random { probability },
                    neg: *neg,
                })
            }
            other => other.clone(),
        })
        .collect();
    format!("{rounded:?}")
}

#[test]
fn generated_kube_proxy_rules_load_and_read_back_the_same() {
    if let Some(why) = why_not() {
        eprintln!("skipping generated_kube_proxy_rules_load_and_read_back_the_same: {why}");
        return;
    }
    let ns = Netns(format!("cnl-nft-{}", std::process::id()));
    let _ = Command::new("ip").args(["netns", "del", &ns.0]).status();
    assert!(Command::new("ip")
        .args(["netns", "add", &ns.0])
        .status()
        .unwrap()
        .success());
    let text = cnictl_gen::kube_proxy::iptables_save(&cluster(), "10.244.0.0/16".parse().unwrap());
    run(&ns.0, &["iptables-restore"], Some(&text));
    let saved = run(&ns.0, &["iptables-save", "-c"], None);
    let ours = parse_iptables_save(&text, Source::IptablesSave).unwrap();
    let theirs = parse_iptables_save(&saved, Source::IptablesSave).unwrap();
    assert_eq!(shapes(&ours), shapes(&theirs));
    assert!(saved.contains("-A KUBE-SERVICES -d 10.96.0.30/32 -p tcp -m comment --comment \"default/empty:p has no endpoints\""), "{saved}");
    assert!(
        saved.contains("--probability 0.33333333349"),
        "three endpoints: the first branch takes a third: {saved}"
    );
}
