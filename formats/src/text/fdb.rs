//! `bridge fdb show` text → [`FdbEntry`]s, as [`crate::fdb`] maps the JSON:
//! `MAC dev D [vlan N] [dst IP] [port N] [vni N] [via D] [master B]
//! [FLAGS…] [STATE]`. Flags are `self`, `master` (the bare flag; `master
//! B` names the bridge), `extern_learn`, `router`, `offload`, `sticky`; the state is
//! `permanent`, `static` or nothing for a learned entry. The text form
//! carries every field the JSON reader keeps.

use cnictl_model::FdbEntry;

use super::{lines, FromText, Toks};
use crate::json::mac;
use crate::ParseError;

const FLAGS: &[&str] = &["self", "extern_learn", "router", "offload", "sticky"];
const STATES: &[&str] = &["permanent", "static", "noarp", "stale"];

/// Parses `bridge fdb show` text.
pub fn parse_fdb_text(text: &str) -> Result<FromText<Vec<FdbEntry>>, ParseError> {
    let mut out = Vec::new();
    for (no, line) in lines(text) {
        out.push(entry(&mut Toks::new(no, line))?);
    }
    Ok(FromText::full(out))
}

fn entry(t: &mut Toks<'_>) -> Result<FdbEntry, ParseError> {
    let m = t.value("", "a MAC address")?;
    let mut e = FdbEntry {
        mac: mac(m),
        dev: String::new(),
        dst: None,
        vlan: None,
        vni: None,
        port: None,
        master: None,
        flags: Vec::new(),
        state: String::new(),
    };
    while let Some(key) = t.next() {
        match key {
            "dev" => e.dev = t.value(key, "a device name")?.to_string(),
            "vlan" => e.vlan = Some(t.parsed(key, "a VLAN id")?),
            "dst" => e.dst = Some(t.parsed(key, "an IP address")?),
            "port" => e.port = Some(t.parsed(key, "a UDP port")?),
            "vni" => e.vni = Some(t.parsed(key, "a VNI")?),
            "src_vni" | "via" | "nhid" => {
                t.value(key, "a value")?;
            }
            // `master BRIDGE` (NDA_MASTER) or the bare NTF_MASTER flag.
            "master" => match t
                .peek()
                .filter(|n| !FLAGS.contains(n) && !STATES.contains(n))
            {
                Some(bridge) => {
                    t.next();
                    e.master = Some(bridge.to_string());
                }
                None => e.flags.push("master".into()),
            },
            f if FLAGS.contains(&f) => e.flags.push(f.to_string()),
            s if STATES.contains(&s) => e.state = s.to_string(),
            other => {
                return Err(t.err(
                    Some(other),
                    "dev, vlan, dst, port, vni, master, a flag or a state",
                ))
            }
        }
    }
    if e.dev.is_empty() {
        return Err(t.err(None, "\"dev NAME\""));
    }
    Ok(e)
}
