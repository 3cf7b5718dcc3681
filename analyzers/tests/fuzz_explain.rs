//! Fuzz harness for explain's endpoint resolution: arbitrary SRC/DST
//! strings (mutated pod keys, node/NAME, IPs, svc/NS/NAME[:PORT], random
//! text), protocols, ports and sizes over a recorded fixture with services.
//! `explain` must answer a document or an `ExplainError` — never panic —
//! and well-formed pod pairs must always resolve. The same input space runs
//! under libFuzzer as fuzz/fuzz_targets/explain_endpoints.rs.
//!
//! Cases: `CNICTL_FUZZ_CASES` (default 256). Long run:
//! `CNICTL_FUZZ_CASES=100000 cargo test --release -p cnictl-analyzers --test fuzz_explain`.

use std::path::Path;
use std::sync::OnceLock;

use cnictl_analyzers::explain::{explain, parse_proto, render_text, ExplainRequest};
use cnictl_analyzers::hints;
use cnictl_dataplane::Dataplane;
use cnictl_model::ClusterSnapshot;
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("CNICTL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// flannel-vxlan-ipvs: pods on three nodes, host-network pods and three
/// Services with IPVS; loaded once for all cases.
fn fixture() -> &'static (ClusterSnapshot, Dataplane) {
    static F: OnceLock<(ClusterSnapshot, Dataplane)> = OnceLock::new();
    F.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/flannel-vxlan-ipvs");
        let snap = cnictl_collect::bundle::load_dir(&dir).expect("fixture bundle loads");
        let dp = hints::dataplane(&snap);
        (snap, dp)
    })
}

/// The pod-network pods (host-network pods are not indexed by the
/// dataplane: explain answers "unknown" for them, see fuzz/README.md).
fn pod_keys() -> Vec<String> {
    let pods = fixture().0.k8s.pods.iter();
    pods.filter(|p| !p.host_network).map(|p| p.key()).collect()
}

/// Endpoint specs near the valid ones, where resolution bugs live.
fn spec() -> impl Strategy<Value = String> {
    let known = prop::sample::select(vec![
        "default/web-1",
        "web-1",
        "default/api-3",
        "node/node-1",
        "node/node-9",
        "10.244.1.2",
        "10.244.9.9",
        "192.0.2.12",
        "10.96.100.10",
        "svc/default/web",
        "svc/default/web:80",
        "svc/default/api:8080",
        "svc/default/api:0",
        "svc/default/api:99999",
        "svc/default/kubernetes:443",
        "svc/x",
        "svc/",
        "svc//:",
        "node/",
        "/",
        "//",
        "::1",
        "fe80::1%eth0",
        "10.244.1.2/24",
        "0.0.0.0",
        "255.255.255.255",
        "kube-flannel/kube-flannel-ds-430e6",
    ]);
    let affix = prop::sample::select(vec![
        "", " ", "/", ":", ":80", "%", "\u{0}", "é", "\u{fffd}", "/x", "..", "svc/", "node/",
    ]);
    prop_oneof![
        3 => (known, affix.clone(), affix).prop_map(|(k, a, b)| format!("{a}{k}{b}")),
        1 => ".{0,40}",
        1 => "[a-z0-9/:.\\-]{0,30}",
        1 => (any::<[u8; 4]>()).prop_map(|o| format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])),
    ]
}

fn request() -> impl Strategy<Value = ExplainRequest> {
    (
        spec(),
        spec(),
        prop::option::of(any::<u16>()),
        prop::option::of(prop::sample::select(vec![
            "tcp", "udp", "icmp", "TCP", "sctp", "",
        ])),
        prop::option::of(prop_oneof![
            Just(0u32),
            Just(20),
            Just(1450),
            Just(9001),
            Just(65536),
            any::<u32>()
        ]),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(src, dst, port, proto, size, no_df, reverse)| {
            let mut req = ExplainRequest::new(src, dst);
            req.port = port;
            req.proto = proto.and_then(|p| parse_proto(p).ok());
            req.size = size;
            req.no_df = no_df;
            req.reverse = reverse;
            req
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Any request: a rendered document or an error with a message.
    #[test]
    fn arbitrary_endpoints_never_panic(req in request()) {
        let (snap, dp) = fixture();
        match explain(snap, dp, &req) {
            Ok(ex) => prop_assert!(!render_text(&ex).is_empty()),
            Err(e) => prop_assert!(!e.to_string().is_empty() && !e.code().is_empty()),
        }
    }

    /// Every ordered pair of pod-network pods resolves, whatever the packet.
    #[test]
    fn pod_pairs_always_resolve(
        a in any::<prop::sample::Index>(),
        b in any::<prop::sample::Index>(),
        port in prop::option::of(1u16..),
        size in prop::option::of(28u32..9001),
        reverse in any::<bool>(),
    ) {
        let keys = pod_keys();
        let mut req = ExplainRequest::new(a.get(&keys).clone(), b.get(&keys).clone());
        req.port = port;
        req.size = size;
        req.reverse = reverse;
        let (snap, dp) = fixture();
        let ex = explain(snap, dp, &req);
        prop_assert!(ex.is_ok(), "{} -> {}: {:?}", req.src, req.dst, ex.err());
    }
}
