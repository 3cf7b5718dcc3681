//! Fuzz harness without libFuzzer (fuzz/ holds the cargo-fuzz targets; this
//! runs on stable, in CI). Every input reader of the collector gets
//! byte-level mutations of the real inputs it reads — every fixture
//! bundle's node and k8s files, the recordings in tests/data, recorded pcap
//! frames, BIRD socket replies served over a real unix socket — and must
//! answer `Ok` or `Err`, never panic. parsers_never_panic.rs covers random
//! text and char-level edits of tests/data; this file adds the fixture seed
//! corpus, byte-level splices, `/proc/net/ip_vs`, `decode_frame`, the BIRD
//! reply reader and snapshot JSON.
//!
//! Cases per property: `CNICTL_FUZZ_CASES` (default 256, which keeps this
//! file under ~5 s in debug). Long run:
//! `CNICTL_FUZZ_CASES=200000 cargo test --release -p cnictl-collect --test fuzz_harness`.

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cnictl_formats::frame::{
    decode_frame, describe, DLT_RAW, LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_LINUX_SLL,
    LINKTYPE_RAW,
};
use cnictl_formats::{self as formats, ParseError};
use proptest::prelude::*;

type Parser = fn(&str) -> Result<(), ParseError>;

/// Cases per property, from `CNICTL_FUZZ_CASES`.
fn cases(default: u32) -> u32 {
    std::env::var("CNICTL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Each text parser with the bundle file name it reads and the
/// tests/data recordings of the same command.
fn parsers() -> Vec<(&'static str, &'static [&'static str], Parser)> {
    vec![
        (
            "ip-link.json",
            &["ip-link.json", "ip-link-odd.json", "pod-ip-link.json"],
            |t| formats::parse_links(t).map(drop),
        ),
        ("ip-addr.json", &["ip-addr.json", "pod-ip-addr.json"], |t| {
            formats::parse_addrs(t).map(drop)
        }),
        (
            "ip-route.json",
            &[
                "ip-route.json",
                "ip-route-old.json",
                "ip-route-v6.json",
                "ip-route-nodetail.json",
            ],
            |t| formats::parse_routes(t).map(drop),
        ),
        (
            "ip-rule.json",
            &["ip-rule.json", "ip-rule-old.json", "ip-rule-v6.json"],
            |t| formats::parse_rules(t).map(drop),
        ),
        (
            "ip-neigh.json",
            &["ip-neigh.json", "ip-neigh-old.json", "ip-neigh-v6.json"],
            |t| formats::parse_neighbours(t).map(drop),
        ),
        (
            "bridge-fdb.json",
            &["bridge-fdb.json", "bridge-fdb-old.json"],
            |t| formats::parse_fdb(t).map(drop),
        ),
        // The plain-text listings (fixtures/*-text-dumps).
        ("ip-link.txt", &[], |t| {
            formats::text::parse_links_text(t).map(drop)
        }),
        ("ip-addr.txt", &[], |t| {
            formats::text::parse_addrs_text(t).map(drop)
        }),
        ("ip-route.txt", &[], |t| {
            formats::text::parse_routes_text(t).map(drop)
        }),
        ("ip-rule.txt", &[], |t| {
            formats::text::parse_rules_text(t).map(drop)
        }),
        ("ip-neigh.txt", &[], |t| {
            formats::text::parse_neighbours_text(t).map(drop)
        }),
        ("bridge-fdb.txt", &[], |t| {
            formats::text::parse_fdb_text(t).map(drop)
        }),
        ("ipvsadm.txt", &["ipvsadm.txt"], |t| {
            formats::parse_ipvsadm(t).map(drop)
        }),
        ("bird-protocols.txt", &["bird-protocols.txt"], |t| {
            formats::parse_bird_protocols(t).map(drop)
        }),
        ("bird-routes.txt", &["bird-routes.txt"], |t| {
            formats::parse_bird_routes(t).map(drop)
        }),
        ("sysctl.txt", &["sysctl.txt"], |t| {
            formats::parse_sysctl(t).map(drop)
        }),
        ("nodes.json", &["k8s-nodes.json"], |t| {
            formats::parse_nodes(t).map(drop)
        }),
        ("pods.json", &["k8s-pods.json"], |t| {
            formats::parse_pods(t).map(drop)
        }),
        ("services.json", &["k8s-services.json"], |t| {
            formats::parse_services(t).map(drop)
        }),
        ("endpointslices.json", &["k8s-endpointslices.json"], |t| {
            formats::parse_endpointslices(t).map(drop)
        }),
    ]
}

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The seed corpus of one parser: its recordings plus the file of that
/// name in every fixture bundle (nodes/*/NAME and k8s/NAME), deduplicated.
fn seeds(bundle_name: &str, recordings: &[&str]) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = recordings
        .iter()
        .map(|r| manifest().join("tests/data").join(r))
        .collect();
    let fixtures = manifest().join("../fixtures");
    let bundles = std::fs::read_dir(&fixtures).expect("fixtures/ is readable");
    for bundle in bundles.flatten().map(|e| e.path()) {
        paths.push(bundle.join("k8s").join(bundle_name));
        if let Ok(nodes) = std::fs::read_dir(bundle.join("nodes")) {
            paths.extend(nodes.flatten().map(|n| n.path().join(bundle_name)));
        }
    }
    // A fixture's `.json` name may hold the text form (read by the text
    // parsers): not a seed of the JSON parser.
    let json = bundle_name.ends_with(".json");
    let mut out: Vec<Vec<u8>> = paths
        .iter()
        .filter(|p| p.is_file())
        .map(|p| read(p))
        .filter(|b| !(json && formats::text::is_text(&String::from_utf8_lossy(b))))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// One byte-level mutation, libFuzzer style.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, &'static [u8]),
    Delete(usize, usize),
    /// Copies `len` bytes from `from` to `to` (repeats a record elsewhere).
    Splice {
        from: usize,
        len: usize,
        to: usize,
    },
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let tokens: Vec<&'static [u8]> = vec![
        b"\"",
        b"{",
        b"}",
        b"[",
        b"]",
        b",",
        b":",
        b"null",
        b"true",
        b"-1",
        b"0",
        b"4294967296",
        b"18446744073709551616",
        b"1e999",
        b"\"\"",
        b"\\u0000",
        b"\\ud800",
        b"/",
        b"/33",
        b"/129",
        b"::",
        b"::ffff:1.2.3.4",
        b"255.255.255.256",
        b"0x",
        b"\n",
        b"\r\n",
        b"\t",
        b" ",
        b"->",
        b"\xff",
        b"\xc3",
        b"\xe2\x82",
        b"0000 ",
        b"1002-",
        b"9001 ",
        b"[",
        b"\"dst\":",
        b"\"dev\":",
        b"\"ifindex\":",
        b"\"mtu\":",
        b"\"metadata\":",
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), prop::sample::select(tokens)).prop_map(|(i, t)| Mutation::Insert(i, t)),
        (any::<usize>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<usize>(), 1usize..256, any::<usize>())
            .prop_map(|(from, len, to)| Mutation::Splice { from, len, to }),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(seed: &[u8], muts: &[Mutation]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for m in muts {
        let len = b.len();
        match *m {
            Mutation::Flip(i, x) if len > 0 => b[i % len] ^= x | 1,
            Mutation::Insert(i, t) => {
                let at = i % (len + 1);
                b.splice(at..at, t.iter().copied());
            }
            Mutation::Delete(i, n) if len > 0 => {
                let at = i % len;
                b.drain(at..(at + n).min(len));
            }
            Mutation::Splice { from, len: n, to } if len > 0 => {
                let from = from % len;
                let chunk = b[from..(from + n).min(len)].to_vec();
                let to = to % (len + 1);
                b.splice(to..to, chunk);
            }
            Mutation::Truncate(i) => b.truncate(i % (len + 1)),
            _ => {}
        }
    }
    b
}

/// Errors point inside the input (or one past its last line).
fn check_position(text: &str, r: Result<(), ParseError>) -> Result<(), TestCaseError> {
    if let Err(e) = r {
        let lines = text.lines().count().max(1);
        prop_assert!(
            e.line() >= 1 && e.line() <= lines + 1,
            "line {} of {lines}: {e}",
            e.line()
        );
        prop_assert!(e.column() >= 1, "{e}");
    }
    Ok(())
}

/// All parsers' seed corpora, loaded once per test.
fn corpora() -> Vec<(Parser, Vec<Vec<u8>>)> {
    parsers()
        .into_iter()
        .map(|(name, recs, p)| (p, seeds(name, recs)))
        .collect()
}

/// A `/proc/net/ip_vs` as the kernel prints it (none is recorded).
const PROC_IP_VS: &str = "IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
TCP  0A60000A:0050 rr persistent 2500
  -> 0AF40102:1F90      Masq    1      0          0
  -> 0AF40203:1F90      Masq    0      0          0
UDP  [2001:0db8:0000:0000:0000:0000:0000:000a]:0035 rr
  -> [2001:0db8:0000:0000:0000:0000:0000:0102]:0035      Masq    1      0          0
FWM  00000005 wlc
";

/// The frames of tests/data/pcap with their link types, read without
/// libpcap (classic pcap: 24-byte file header, 16-byte record headers).
fn frames() -> Vec<(i32, Vec<u8>)> {
    let dir = manifest().join("tests/data/pcap");
    let mut out = Vec::new();
    for path in std::fs::read_dir(&dir)
        .expect("pcap dir")
        .flatten()
        .map(|e| e.path())
    {
        if path.extension().is_some_and(|e| e == "pcap") {
            out.extend(pcap_frames(&read(&path)));
        }
    }
    assert!(!out.is_empty(), "no recorded frames in {}", dir.display());
    out
}

fn pcap_frames(raw: &[u8]) -> Vec<(i32, Vec<u8>)> {
    let u32_at = |at: usize| {
        raw.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let Some(linktype) = u32_at(20) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut at = 24;
    while let Some(len) = u32_at(at + 8) {
        let start = at + 16;
        let Some(frame) = raw.get(start..start + len as usize) else {
            break;
        };
        out.push((linktype as i32, frame.to_vec()));
        at = start + len as usize;
    }
    out
}

const LINKTYPES: [i32; 5] = [
    LINKTYPE_ETHERNET,
    LINKTYPE_RAW,
    DLT_RAW,
    LINKTYPE_IPV4,
    LINKTYPE_LINUX_SLL,
];

/// A BIRD session as the socket speaks it: greeting, then the replies to
/// `show protocols all` and `show route all`.
fn bird_session() -> Vec<u8> {
    let data = manifest().join("tests/data");
    let mut s = b"0001 BIRD 2.0.12 ready.\n".to_vec();
    s.extend(read(&data.join("bird-protocols.raw.txt")));
    s.extend(read(&data.join("bird-routes.raw.txt")));
    s
}

/// Serves `bytes` once on a fresh unix socket, then half-closes and
/// drains what the client sends, and runs `read_bird` against it.
fn bird_against(bytes: Vec<u8>) -> Result<cnictl_model::Bgp, cnictl_collect::live::BirdError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bird.ctl");
    let listener = UnixListener::bind(&path).expect("bind unix socket");
    let server = std::thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            let _ = conn.write_all(&bytes);
            let _ = conn.shutdown(std::net::Shutdown::Write);
            let _ = conn.read_to_end(&mut Vec::new());
        }
    });
    let out = cnictl_collect::live::read_bird(&path, Duration::from_secs(5));
    server.join().expect("bird server thread");
    out
}

#[test]
fn seeds_parse_unmutated() {
    for (p, corpus) in corpora() {
        assert!(!corpus.is_empty());
        for seed in corpus {
            let text = String::from_utf8_lossy(&seed);
            assert!(
                p(&text).is_ok(),
                "{:?}: {}",
                p(&text),
                &text[..text.len().min(200)]
            );
        }
    }
    assert!(cnictl_formats::parse_proc_ip_vs(PROC_IP_VS, 250).is_ok());
    assert!(bird_against(bird_session()).is_ok());
    for (lt, f) in frames() {
        assert!(decode_frame(lt, &f).is_ok(), "linktype {lt}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    /// Every text parser on byte-mutated fixture files.
    #[test]
    fn text_parsers_on_mutated_fixtures(
        which in any::<usize>(),
        pick in any::<usize>(),
        muts in prop::collection::vec(mutation(), 1..8),
    ) {
        thread_local!(static C: Vec<(Parser, Vec<Vec<u8>>)> = corpora());
        C.with(|c| {
            let (p, corpus) = &c[which % c.len()];
            let seed = &corpus[pick % corpus.len()];
            let text = String::from_utf8_lossy(&mutate(seed, &muts)).into_owned();
            check_position(&text, p(&text))
        })?;
    }

    /// `/proc/net/ip_vs` on mutations and arbitrary text; errors name a
    /// line inside the input.
    #[test]
    fn proc_ip_vs_never_panics(
        muts in prop::collection::vec(mutation(), 0..8),
        text in ".{0,300}",
        hz in prop_oneof![Just(0u32), Just(100), Just(250), any::<u32>()],
    ) {
        for t in [String::from_utf8_lossy(&mutate(PROC_IP_VS.as_bytes(), &muts)).into_owned(), text] {
            if let Err(cnictl_formats::netlink::ipvs::ProcIpVsError { line, .. }) =
                cnictl_formats::parse_proc_ip_vs(&t, hz)
            {
                prop_assert!(line >= 1 && line <= t.lines().count().max(1), "line {line}");
            }
        }
    }

    /// `decode_frame` on mutated recorded frames under every link type,
    /// and on random bytes; a decoded frame describes itself.
    #[test]
    fn decode_frame_never_panics(
        pick in any::<usize>(),
        lt in prop::sample::select(LINKTYPES.to_vec()),
        muts in prop::collection::vec(mutation(), 0..6),
        random in prop::collection::vec(any::<u8>(), 0..128),
    ) {
        thread_local!(static F: Vec<(i32, Vec<u8>)> = frames());
        let frame = F.with(|f| mutate(&f[pick % f.len()].1, &muts));
        for bytes in [&frame, &random] {
            if let Ok(d) = decode_frame(lt, bytes) {
                prop_assert!(!describe(&d).is_empty());
            }
        }
    }

    /// Snapshot JSON (what `cnictl snapshot` writes and serve/diff read)
    /// deserialises or errors on mutated real snapshots.
    #[test]
    fn snapshot_json_never_panics(muts in prop::collection::vec(mutation(), 1..8)) {
        thread_local!(static S: Vec<u8> = {
            let snap = cnictl_collect::bundle::load_dir(&manifest().join("../fixtures/flannel-vxlan-ipvs"))
                .expect("fixture loads");
            serde_json::to_vec(&snap).expect("snapshot serialises")
        });
        let bytes = S.with(|s| mutate(s, &muts));
        if let Ok(snap) = serde_json::from_slice::<cnictl_model::ClusterSnapshot>(&bytes) {
            prop_assert!(serde_json::to_vec(&snap).is_ok());
        }
    }
}

proptest! {
    // A socket and a thread per case: a quarter of the cases.
    #![proptest_config(ProptestConfig { cases: cases(256).div_ceil(4), ..ProptestConfig::default() })]

    /// The BIRD socket client on mutated sessions: a parsed Bgp or an
    /// error, never a panic or a hang (the server half-closes).
    #[test]
    fn bird_socket_reply_never_panics(muts in prop::collection::vec(mutation(), 1..6)) {
        thread_local!(static B: Vec<u8> = bird_session());
        let bytes = B.with(|b| mutate(b, &muts));
        match bird_against(bytes) {
            Ok(_) => {}
            Err(e) => prop_assert!(!e.to_string().is_empty() && !e.code().is_empty()),
        }
    }
}
