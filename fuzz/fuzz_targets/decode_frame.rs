//! Fuzz target: `cnictl_formats::frame::decode_frame` on arbitrary frames of each
//! link type the capture reads (first byte picks Ethernet, raw IPv4,
//! DLT_RAW, LINKTYPE_IPV4 or Linux cooked).
#![no_main]

use cnictl_formats::frame::{
    decode_frame, DLT_RAW, LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_LINUX_SLL, LINKTYPE_RAW,
};
use libfuzzer_sys::fuzz_target;

const LINKTYPES: [i32; 5] = [
    LINKTYPE_ETHERNET,
    LINKTYPE_RAW,
    DLT_RAW,
    LINKTYPE_IPV4,
    LINKTYPE_LINUX_SLL,
];

fuzz_target!(|data: &[u8]| {
    if let Some((first, frame)) = data.split_first() {
        let linktype = LINKTYPES[usize::from(*first) % LINKTYPES.len()];
        if let Ok(d) = decode_frame(linktype, frame) {
            let _ = cnictl_formats::frame::describe(&d);
        }
    }
});
