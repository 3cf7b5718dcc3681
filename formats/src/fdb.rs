//! `bridge -j fdb show` → [`FdbEntry`]s.
//!
//! The port is `ifname` (older iproute2: `dev`); learned entries have
//! `"state": ""`; VXLAN entries carry `dst`, and optionally `vni`, `port`
//! and `via`/`viaIf`; MACs are normalised. `flags` (`self`, `master`,
//! `extern_learn`, …) are kept as printed.

use std::net::IpAddr;

use cnictl_model::FdbEntry;
use serde::Deserialize;

use super::json::json_line;
use super::json::{arrays, lenient_u16, lenient_u32, mac};
use super::ParseError;

/// Parses a `bridge -j fdb show` dump.
pub fn parse_fdb(text: &str) -> Result<Vec<FdbEntry>, ParseError> {
    let mut out = Vec::new();
    arrays::<JFdb, _>(text, |_, items| {
        out.extend(items.into_iter().map(JFdb::into_model));
        Ok(())
    })?;
    Ok(out)
}

#[derive(Deserialize)]
struct JFdb {
    mac: String,
    #[serde(alias = "dev")]
    ifname: String,
    #[serde(default)]
    dst: Option<IpAddr>,
    #[serde(default, deserialize_with = "lenient_u16")]
    vlan: Option<u16>,
    #[serde(default, deserialize_with = "lenient_u32")]
    vni: Option<u32>,
    #[serde(default, deserialize_with = "lenient_u16")]
    port: Option<u16>,
    #[serde(default)]
    master: Option<String>,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    state: Option<String>,
}

impl JFdb {
    fn into_model(self) -> FdbEntry {
        FdbEntry {
            mac: mac(&self.mac),
            dev: self.ifname,
            dst: self.dst,
            vlan: self.vlan,
            vni: self.vni,
            port: self.port,
            master: self.master,
            flags: self.flags,
            state: self.state.unwrap_or_default(),
        }
    }
}

// ---- writer: `bridge -j fdb` ------------------------------------------------

#[derive(serde::Serialize)]
struct FdbOut<'a> {
    mac: &'a str,
    ifname: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    vlan: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dst: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vni: Option<u32>,
    flags: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    master: Option<&'a str>,
    state: &'a str,
}

/// `fdb` as `bridge -j fdb show` prints it.
pub fn write_fdb(fdb: &[FdbEntry]) -> String {
    json_line(&fdb.iter().map(fdb_out).collect::<Vec<_>>())
}

fn fdb_out(f: &FdbEntry) -> FdbOut<'_> {
    FdbOut {
        mac: &f.mac,
        ifname: &f.dev,
        vlan: f.vlan,
        dst: f.dst,
        port: f.port,
        vni: f.vni,
        flags: &f.flags,
        master: f.master.as_deref(),
        state: &f.state,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_dev_key_and_vlan() {
        let text =
            r#"[{"mac":"2:0:0:0:0:1","dev":"veth0","vlan":"10","master":"br0","state":"static"}]"#;
        let f = &parse_fdb(text).unwrap()[0];
        assert_eq!(
            (f.mac.as_str(), f.dev.as_str(), f.vlan),
            ("02:00:00:00:00:01", "veth0", Some(10))
        );
        assert!(f.flags.is_empty());
        assert!(parse_fdb(r#"[{"mac":"x","ifname":"a","vlan":70000}]"#).is_err());
    }
}
