//! Fuzz target: snapshot JSON (`ClusterSnapshot`) deserialises or errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = serde_json::from_str::<cnictl_model::ClusterSnapshot>(&text);
});
