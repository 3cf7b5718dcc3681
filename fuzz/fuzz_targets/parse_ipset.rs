//! Fuzz target: `cnictl_formats::parse_ipset_save` (`ipset save`) returns
//! Ok or Err, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = cnictl_formats::parse_ipset_save(&text);
});
