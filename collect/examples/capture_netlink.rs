//! Records the raw netlink replies of the live collector's rtnetlink dumps
//! in a namespace lab, with the `ip -j` / `bridge -j` JSON of the same
//! state taken right after, as test data for the decoders of
//! cnictl-formats (formats/tests/data/netlink/, read by
//! formats/tests/netlink_captured.rs).
//!
//! ```text
//! sudo cargo run -p cnictl-collect --example capture_netlink [-- OUT_DIR]
//! ```
//!
//! The lab is the one `tests/live_netns.rs` checks the collector on
//! (`live_common::build_node`): namespaces named `cnlh5-cap…`, created and
//! deleted by this tool, nothing in the root namespace.

#[path = "../tests/live_common/mod.rs"]
mod live_common;

use std::path::{Path, PathBuf};

use cnictl_collect::live::{record_dumps, NetnsTarget, RawDumps};
use live_common::{build_node, skip_reason, unique_prefix, Lab};

fn main() {
    if let Some(why) = skip_reason() {
        eprintln!("cannot capture: {why}");
        std::process::exit(2);
    }
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../formats/tests/data/netlink")
        });
    let prefix = unique_prefix("cap");
    let (a, b, p) = (
        format!("{prefix}-a"),
        format!("{prefix}-b"),
        format!("{prefix}_web"),
    );
    let lab = Lab::new(&[a.clone(), b.clone(), p.clone()]);
    build_node(&lab, &a, &b, &p);
    let raw = record_dumps(Some(&NetnsTarget::Name(a.clone()))).expect("recording the dumps");
    let files = files(&lab, &a, raw);
    std::fs::create_dir_all(&out).expect("creating the output directory");
    for (name, bytes) in files {
        let path = out.join(name);
        std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        println!("{:>7} bytes  {}", bytes.len(), path.display());
    }
}

/// Each dump and the JSON of the same state, by file name.
fn files(lab: &Lab, ns: &str, raw: RawDumps) -> Vec<(&'static str, Vec<u8>)> {
    let json = |cmd: &str| lab.exec(ns, cmd).into_bytes();
    let rules = [json("ip -4 -j rule show"), json("ip -6 -j rule show")].concat();
    vec![
        ("links.bin", raw.links),
        ("addrs.bin", raw.addrs),
        ("routes.bin", raw.routes),
        ("rules.bin", raw.rules),
        ("neighbours.bin", raw.neighbours),
        ("fdb.bin", raw.fdb),
        ("ip-link.json", json("ip -d -j link show")),
        ("ip-addr.json", json("ip -j addr show")),
        ("ip-route.json", json("ip -d -j route show table all")),
        ("ip-rule.json", rules),
        ("ip-neigh.json", json("ip -j neigh show")),
        ("bridge-fdb.json", json("bridge -j fdb show")),
    ]
}
