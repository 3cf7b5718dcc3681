//! Fuzz target: `cnictl_formats::parse_iptables_save` returns Ok or Err,
//! never panics, for every source (the first byte picks which: the family
//! and backend it implies).
#![no_main]

use cnictl_model::netfilter::Source;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let source = Source::IPTABLES[usize::from(pick) % Source::IPTABLES.len()];
    let text = String::from_utf8_lossy(rest);
    let _ = cnictl_formats::parse_iptables_save(&text, source);
});
