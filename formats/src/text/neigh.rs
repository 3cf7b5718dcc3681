//! `ip neigh show` text → [`Neigh`]s, as [`crate::neigh`] maps the JSON:
//! `DST dev D [lladdr L] [router] [proxy] [extern_learn] STATE…`, NUD
//! states in upper case (`REACHABLE`, `PERMANENT`, `FAILED`, …). The text
//! form carries every field the JSON reader keeps.

use cnictl_model::Neigh;

use super::{lines, FromText, Toks};
use crate::json::mac;
use crate::ParseError;

/// Parses `ip neigh show` text.
pub fn parse_neighbours_text(text: &str) -> Result<FromText<Vec<Neigh>>, ParseError> {
    let mut out = Vec::new();
    for (no, line) in lines(text) {
        out.push(neighbour(&mut Toks::new(no, line))?);
    }
    Ok(FromText::full(out))
}

fn neighbour(t: &mut Toks<'_>) -> Result<Neigh, ParseError> {
    let dst = t.value("", "a neighbour address")?;
    let dst = dst
        .parse()
        .map_err(|_| t.err(Some(dst), "a neighbour address"))?;
    let mut n = Neigh {
        dst,
        dev: String::new(),
        lladdr: None,
        state: Vec::new(),
        router: false,
        proxy: false,
    };
    while let Some(key) = t.next() {
        match key {
            "dev" => n.dev = t.value(key, "a device name")?.to_string(),
            "lladdr" => n.lladdr = Some(mac(t.value(key, "a link-layer address")?)),
            "router" => n.router = true,
            "proxy" => n.proxy = true,
            "extern_learn" | "managed" => {}
            "protocol" | "probes" | "used" | "vni" | "port" | "nud" => {
                t.value(key, "a value")?;
            }
            s if !s.is_empty() && s.chars().all(|c| c.is_ascii_uppercase() || c == '_') => {
                n.state.push(s.to_string())
            }
            other => return Err(t.err(Some(other), "dev, lladdr, router, proxy or a NUD state")),
        }
    }
    if n.dev.is_empty() {
        return Err(t.err(None, "\"dev NAME\""));
    }
    Ok(n)
}
