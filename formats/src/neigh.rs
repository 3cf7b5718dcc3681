//! `ip -j neigh show` → [`Neigh`]s.
//!
//! `state` is a list of NUD names (older iproute2: one string); `router`
//! and `proxy` are printed as `"router": null` and mean true when present;
//! `lladdr` is normalised (lower case, zero padded) when it is a MAC.

use std::net::IpAddr;

use cnictl_model::Neigh;
use serde::Deserialize;

use super::json::json_line;
use super::json::{arrays, mac, present, string_or_list};
use super::ParseError;

/// Parses an `ip -j neigh show` dump (proxy entries included when present).
pub fn parse_neighbours(text: &str) -> Result<Vec<Neigh>, ParseError> {
    let mut out = Vec::new();
    arrays::<JNeigh, _>(text, |_, items| {
        out.extend(items.into_iter().map(JNeigh::into_model));
        Ok(())
    })?;
    Ok(out)
}

#[derive(Deserialize)]
struct JNeigh {
    dst: IpAddr,
    dev: String,
    #[serde(default)]
    lladdr: Option<String>,
    #[serde(default, deserialize_with = "string_or_list")]
    state: Vec<String>,
    #[serde(default, deserialize_with = "present")]
    router: bool,
    #[serde(default, deserialize_with = "present")]
    proxy: bool,
}

impl JNeigh {
    fn into_model(self) -> Neigh {
        Neigh {
            dst: self.dst,
            dev: self.dev,
            lladdr: self.lladdr.as_deref().map(mac),
            state: self.state,
            router: self.router,
            proxy: self.proxy,
        }
    }
}

// ---- writer: `ip -j neigh` --------------------------------------------------

#[derive(serde::Serialize)]
struct NeighOut<'a> {
    dst: IpAddr,
    dev: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    lladdr: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    router: Option<()>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proxy: Option<()>,
    state: &'a [String],
}

/// `neighbours` as `ip -j neigh` prints them.
pub fn write_neighbours(neighbours: &[Neigh]) -> String {
    json_line(&neighbours.iter().map(neigh_out).collect::<Vec<_>>())
}

fn neigh_out(n: &Neigh) -> NeighOut<'_> {
    NeighOut {
        dst: n.dst,
        dev: &n.dev,
        lladdr: n.lladdr.as_deref(),
        router: n.router.then_some(()),
        proxy: n.proxy.then_some(()),
        state: &n.state,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_and_new_forms() {
        let text = r#"[{"dst":"10.0.0.1","dev":"eth0","lladdr":"2:0:0:0:0:A","state":"REACHABLE","router":null},
                      {"dst":"10.0.0.7","dev":"eth0","proxy":null}]"#;
        let n = parse_neighbours(text).unwrap();
        assert_eq!(n[0].lladdr.as_deref(), Some("02:00:00:00:00:0a"));
        assert_eq!(n[0].state, vec!["REACHABLE".to_string()]);
        assert!(n[0].router && !n[0].proxy);
        assert!(n[1].proxy && n[1].lladdr.is_none() && n[1].state.is_empty());
        assert!(parse_neighbours(r#"[{"dst":"nope","dev":"eth0"}]"#).is_err());
    }
}
