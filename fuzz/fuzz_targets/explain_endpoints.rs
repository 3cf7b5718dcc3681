//! Fuzz target: `analyzers::explain::explain` with arbitrary SRC/DST/proto
//! strings (input `SRC\nDST\nPROTO`) over a recorded flannel-vxlan fixture
//! with services; resolution must answer Ok or an ExplainError, never panic.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use cnictl_analyzers::explain::{explain, parse_proto, render_text, ExplainRequest};
use cnictl_analyzers::hints;
use cnictl_dataplane::Dataplane;
use cnictl_model::ClusterSnapshot;
use libfuzzer_sys::fuzz_target;

fn fixture() -> &'static (ClusterSnapshot, Dataplane) {
    static F: OnceLock<(ClusterSnapshot, Dataplane)> = OnceLock::new();
    F.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/flannel-vxlan-ipvs");
        let snap = cnictl_collect::bundle::load_dir(&dir).expect("fixture bundle loads");
        let dp = hints::dataplane(&snap);
        (snap, dp)
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\n');
    let src = parts.next().unwrap_or_default();
    let dst = parts.next().unwrap_or_default();
    let mut req = ExplainRequest::new(src, dst);
    req.proto = parts.next().and_then(|p| parse_proto(p).ok());
    if let Some(rest) = parts.next() {
        let b = rest.as_bytes();
        req.port = b.first().map(|&p| u16::from(p) * 257);
        req.size = b.get(1).map(|&s| u32::from(s) * 40);
        req.no_df = b.get(2).is_some_and(|&x| x & 1 == 1);
        req.reverse = b.get(2).is_some_and(|&x| x & 2 == 2);
    }
    let (snap, dp) = fixture();
    if let Ok(ex) = explain(snap, dp, &req) {
        let _ = render_text(&ex);
    }
});
