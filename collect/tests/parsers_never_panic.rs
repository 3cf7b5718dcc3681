//! Property: every parser returns `Ok` or `Err` — never panics — on
//! arbitrary text and on mutated real recordings; errors carry a position
//! inside the input.

use cnictl_formats::{self as formats, ParseError};
use proptest::prelude::*;

type Parser = fn(&str) -> Result<(), ParseError>;

/// Each parser with the recorded input it is mutated from.
fn parsers() -> Vec<(&'static str, Parser)> {
    vec![
        ("ip-link.json", |t| formats::parse_links(t).map(drop)),
        ("ip-link-odd.json", |t| formats::parse_links(t).map(drop)),
        ("ip-addr.json", |t| formats::parse_addrs(t).map(drop)),
        ("ip-route.json", |t| formats::parse_routes(t).map(drop)),
        ("ip-route-old.json", |t| formats::parse_routes(t).map(drop)),
        ("ip-rule.json", |t| formats::parse_rules(t).map(drop)),
        ("ip-neigh.json", |t| formats::parse_neighbours(t).map(drop)),
        ("bridge-fdb.json", |t| formats::parse_fdb(t).map(drop)),
        ("ipvsadm.txt", |t| formats::parse_ipvsadm(t).map(drop)),
        ("bird-protocols.txt", |t| {
            formats::parse_bird_protocols(t).map(drop)
        }),
        ("bird-protocols.raw.txt", |t| {
            formats::parse_bird_protocols(t).map(drop)
        }),
        ("bird-routes.txt", |t| {
            formats::parse_bird_routes(t).map(drop)
        }),
        ("bird-routes.raw.txt", |t| {
            formats::parse_bird_routes(t).map(drop)
        }),
        ("sysctl.txt", |t| formats::parse_sysctl(t).map(drop)),
        ("k8s-nodes.json", |t| formats::parse_nodes(t).map(drop)),
        ("k8s-pods.json", |t| formats::parse_pods(t).map(drop)),
        ("k8s-services.json", |t| {
            formats::parse_services(t).map(drop)
        }),
        ("k8s-endpointslices.json", |t| {
            formats::parse_endpointslices(t).map(drop)
        }),
    ]
}

fn data(name: &str) -> String {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Errors point inside the input (or one past its last line).
fn check_position(text: &str, r: Result<(), ParseError>) {
    if let Err(e) = r {
        let lines = text.lines().count().max(1);
        assert!(
            e.line() >= 1 && e.line() <= lines + 1,
            "line {} of {lines}: {e}",
            e.line()
        );
        assert!(e.column() >= 1, "{e}");
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, char),
    Insert(usize, String),
    Delete(usize, usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let interesting = prop::sample::select(vec![
        "\"",
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "null",
        "-1",
        "99999999999",
        "\"80\"",
        "0x",
        "/",
        "\n",
        "\t",
        " ",
        "::",
        "[",
        "1007-",
        " ",
        "9001 ",
        "->",
        "default",
        "any",
        "\u{fffd}",
        "é",
    ]);
    prop_oneof![
        (any::<usize>(), any::<char>()).prop_map(|(i, c)| Edit::Replace(i, c)),
        (any::<usize>(), interesting).prop_map(|(i, s)| Edit::Insert(i, s.to_string())),
        (any::<usize>(), 1usize..40).prop_map(|(i, n)| Edit::Delete(i, n)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        let len = chars.len().max(1);
        match e {
            Edit::Replace(i, c) if !chars.is_empty() => chars[i % len] = *c,
            Edit::Insert(i, s) => {
                let at = i % (chars.len() + 1);
                chars.splice(at..at, s.chars());
            }
            Edit::Delete(i, n) if !chars.is_empty() => {
                let at = i % len;
                let end = (at + n).min(chars.len());
                chars.drain(at..end);
            }
            Edit::Truncate(i) => chars.truncate(i % (chars.len() + 1)),
            _ => {}
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text(text in ".{0,400}") {
        for (_, p) in parsers() {
            check_position(&text, p(&text));
        }
    }

    #[test]
    fn arbitrary_bytes_as_lossy_text(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        for (_, p) in parsers() {
            check_position(&text, p(&text));
        }
    }

    #[test]
    fn mutated_recordings(edits in prop::collection::vec(edit(), 1..6)) {
        for (file, p) in parsers() {
            let text = apply(&data(file), &edits);
            check_position(&text, p(&text));
        }
    }
}

#[test]
fn recordings_parse_unmutated() {
    for (file, p) in parsers() {
        let text = data(file);
        assert!(p(&text).is_ok(), "{file}: {:?}", p(&text));
    }
}

/// The files of a minimal valid bundle, one of which a test replaces.
fn minimal_bundle() -> std::collections::BTreeMap<String, String> {
    let mut f = std::collections::BTreeMap::new();
    f.insert("k8s/nodes.json".to_string(), data("k8s-nodes.json"));
    f.insert("k8s/pods.json".to_string(), data("k8s-pods.json"));
    for (file, src) in [
        ("ip-link.json", "ip-link.json"),
        ("ip-addr.json", "ip-addr.json"),
        ("ip-route.json", "ip-route.json"),
        ("ip-rule.json", "ip-rule.json"),
        ("ipvsadm.txt", "ipvsadm.txt"),
        ("bird-protocols.txt", "bird-protocols.txt"),
        ("sysctl.txt", "sysctl.txt"),
    ] {
        f.insert(format!("nodes/n1/{file}"), data(src));
    }
    f
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever one file holds, the loader returns a snapshot or errors
    /// that name that very file.
    #[test]
    fn loader_names_the_corrupted_file(which in 0usize..9, edits in prop::collection::vec(edit(), 1..6)) {
        let mut files = minimal_bundle();
        let key = files.keys().nth(which).cloned().unwrap();
        let mutated = apply(&files[&key], &edits);
        files.insert(key.clone(), mutated);
        let src = cnictl_collect::bundle::MemSource::new("m", files);
        if let Err(e) = cnictl_collect::bundle::load(&src) {
            prop_assert!(e.errors.iter().all(|f| f.path == key), "{e}");
        }
    }
}
