//! Fuzz harness for `/api/v1/explain`'s query string: arbitrary and
//! percent-mangled query strings go through the same extractor the route
//! uses (axum's `Query<ExplainQuery>`), `to_request` and `run` over an
//! analysed fixture. Every outcome must be a 400/404-class `ApiError` or a
//! document — never a panic, never a 5xx.
//!
//! Cases: `CNICTL_FUZZ_CASES` (default 256). Long run:
//! `CNICTL_FUZZ_CASES=100000 cargo test --release -p cnictl-exporter --test fuzz_query`.

use std::path::Path;
use std::sync::OnceLock;

use axum::extract::Query;
use axum::http::Uri;
use axum::response::IntoResponse;
use cnictl_analyzers::pipeline::Analysis;
use cnictl_exporter::explain::{run, ExplainQuery};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("CNICTL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// flannel-vxlan-ipvs analysed once (pods, nodes, Services with IPVS).
fn analysis() -> &'static Analysis {
    static A: OnceLock<Analysis> = OnceLock::new();
    A.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/flannel-vxlan-ipvs");
        let snap = cnictl_collect::bundle::load_dir(&dir).expect("fixture bundle loads");
        Analysis::new(std::sync::Arc::new(snap))
    })
}

/// One `key=value` pair, from the real keys and values plus noise.
fn pair() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "src", "dst", "port", "proto", "size", "df", "reverse", "SRC", "x", "", "src[]",
    ]);
    let value = prop_oneof![
        prop::sample::select(vec![
            "default/web-1",
            "default%2Fapi-2",
            "web-2",
            "node/node-3",
            "10.244.1.2",
            "svc/default/api:8080",
            "svc%2Fdefault%2Fweb",
            "tcp",
            "udp",
            "icmp",
            "80",
            "65536",
            "-1",
            "1e3",
            "true",
            "false",
            "1",
            "yes",
            "",
            "%",
            "%zz",
            "%ff%fe",
            "%00",
            "+",
            "%2B",
            "%C3%A9",
            "a&b",
            "==",
        ])
        .prop_map(str::to_string),
        "[ -~]{0,24}".prop_map(|s| s.replace(['&', '#'], "")),
    ];
    (key, value, any::<bool>()).prop_map(|(k, v, eq)| {
        if eq {
            format!("{k}={v}")
        } else {
            k.to_string()
        }
    })
}

/// The status the route would answer for this query string.
fn answer(query: &str) -> Option<u16> {
    let uri: Uri = format!("/api/v1/explain?{query}").parse().ok()?;
    let status = match Query::<ExplainQuery>::try_from_uri(&uri) {
        Err(rejection) => rejection.into_response().status(),
        Ok(Query(q)) => match run(analysis(), &q) {
            Ok(ex) => {
                assert!(serde_json::to_vec(&ex).is_ok(), "document serialises");
                axum::http::StatusCode::OK
            }
            Err(e) => e.into_response().status(),
        },
    };
    Some(status.as_u16())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Structured queries: any mix of keys and values.
    #[test]
    fn explain_queries_never_5xx(pairs in prop::collection::vec(pair(), 0..8)) {
        let query = pairs.join("&");
        if let Some(status) = answer(&query) {
            prop_assert!(status < 500, "{query:?} -> {status}");
        }
    }

    /// Raw query strings (whatever `Uri` accepts).
    #[test]
    fn raw_query_strings_never_5xx(query in "[!-~]{0,200}") {
        if let Some(status) = answer(&query) {
            prop_assert!(status < 500, "{query:?} -> {status}");
        }
    }
}

#[test]
fn a_valid_query_answers_200() {
    assert_eq!(answer("src=default/web-1&dst=default/api-2"), Some(200));
    assert_eq!(answer("src=default/web-1&dst=nope/nope"), Some(404));
    assert_eq!(answer("src=default/web-1"), Some(400));
}
