//! `ip -d -j link show` → [`Link`]s.
//!
//! Mapping (the live netlink collector follows the same rules):
//! - `link_index` (+ `link_netnsid`) is IFLA_LINK of a link whose peer lives
//!   in another namespace: [`Link::peer_ifindex`] / [`Link::peer_netnsid`].
//! - `link` is IFLA_LINK resolved to a name in this namespace (a same-netns
//!   veth peer, a VLAN's parent): [`Link::lower`], and `peer_ifindex` is that
//!   name's ifindex in the same dump (`"if7"` names are read as ifindex 7).
//! - `address` becomes [`Link::mac`] when it is a MAC (normalised); other
//!   link-layer addresses (tunl0's `0.0.0.0`) are not MACs and give `None`.
//! - `linkinfo.info_kind` is [`Link::kind`]; `info_data` is read for vxlan
//!   (id, local/local6, remote/group(6), port, learning, link → dev name,
//!   df `set`/`unset`/`inherit`)
//!   and for IP tunnels (ipip, sit, gre, gretap, ip6tnl, ip6gre: local and
//!   remote, `any` = unset, ttl with `inherit` = unset).

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

use cnictl_model::cidr::normalize_mac;
use cnictl_model::{Link, TunnelInfo, VxlanDf, VxlanInfo};
use serde::Deserialize;

use super::json::json_line;
use super::json::{arrays, lenient_u32, Scalar};
use super::ParseError;
use serde_json::json;

/// Tunnel kinds whose `info_data` has IPIP-style `local`/`remote`/`ttl`.
const TUNNEL_KINDS: &[&str] = &[
    "ipip",
    "sit",
    "gre",
    "gretap",
    "ip6tnl",
    "ip6gre",
    "ip6gretap",
];

/// Parses an `ip -d -j link show` dump.
pub fn parse_links(text: &str) -> Result<Vec<Link>, ParseError> {
    let mut raw: Vec<JLink> = Vec::new();
    arrays::<JLink, _>(text, |_, items| {
        raw.extend(items);
        Ok(())
    })?;
    let index: HashMap<String, u32> = raw.iter().map(|l| (l.ifname.clone(), l.ifindex)).collect();
    Ok(raw.into_iter().map(|l| l.into_model(&index)).collect())
}

#[derive(Deserialize)]
struct JLink<'a> {
    ifindex: u32,
    ifname: String,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default, deserialize_with = "lenient_u32")]
    mtu: Option<u32>,
    #[serde(default)]
    operstate: Option<String>,
    #[serde(default)]
    link_type: Option<String>,
    #[serde(default, borrow)]
    address: Option<Cow<'a, str>>,
    #[serde(default)]
    master: Option<String>,
    #[serde(default, deserialize_with = "lenient_u32")]
    link_index: Option<u32>,
    #[serde(default)]
    link_netnsid: Option<i32>,
    #[serde(default, borrow)]
    link: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    linkinfo: Option<JLinkInfo<'a>>,
}

#[derive(Deserialize)]
struct JLinkInfo<'a> {
    #[serde(default)]
    info_kind: Option<String>,
    #[serde(default, borrow)]
    info_data: Option<JInfoData<'a>>,
}

/// The union of the `info_data` fields read for any kind; every field is a
/// lenient scalar so that other kinds' same-named fields never fail.
#[derive(Deserialize, Default)]
struct JInfoData<'a> {
    #[serde(default, borrow)]
    id: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    local: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    local6: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    remote: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    remote6: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    group: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    group6: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    port: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    learning: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    link: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    ttl: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    df: Option<Scalar<'a>>,
}

impl JLink<'_> {
    fn into_model(self, index: &HashMap<String, u32>) -> Link {
        let (kind, data) = match self.linkinfo {
            Some(li) => (li.info_kind, li.info_data),
            None => (None, None),
        };
        let lower = self.link.as_ref().and_then(|s| link_name(s, index));
        let peer_ifindex = self
            .link_index
            .or_else(|| self.link.as_ref().and_then(|s| link_ifindex(s, index)));
        let (vxlan, tunnel) = kind_details(kind.as_deref(), data.as_ref(), index);
        Link {
            ifindex: self.ifindex,
            name: self.ifname,
            kind,
            link_type: self.link_type,
            master: self.master,
            mtu: self.mtu.unwrap_or(0),
            mac: self.address.and_then(|a| normalize_mac(&a)),
            flags: self.flags,
            operstate: self.operstate,
            peer_ifindex,
            peer_netnsid: self.link_netnsid,
            lower,
            vxlan,
            tunnel,
        }
    }
}

/// The VXLAN or tunnel details of `info_data`. Without `-d` there is no
/// info_data: details stay unknown (None).
fn kind_details(
    kind: Option<&str>,
    data: Option<&JInfoData>,
    index: &HashMap<String, u32>,
) -> (Option<VxlanInfo>, Option<TunnelInfo>) {
    let Some(data) = data else {
        return (None, None);
    };
    match kind {
        Some("vxlan") => (Some(vxlan_info(data, index)), None),
        Some(k) if TUNNEL_KINDS.contains(&k) => (None, Some(tunnel_info(data))),
        _ => (None, None),
    }
}

/// `"link": "eth0"` names a link of this namespace; `"if7"` or a number is
/// an ifindex ip could not resolve.
fn link_name(s: &Scalar, index: &HashMap<String, u32>) -> Option<String> {
    match s {
        Scalar::Str(name) if !name.is_empty() => Some(name.to_string()),
        Scalar::Num(n) => index
            .iter()
            .find(|(_, &i)| u64::from(i) == *n)
            .map(|(name, _)| name.clone()),
        _ => None,
    }
}

fn link_ifindex(s: &Scalar, index: &HashMap<String, u32>) -> Option<u32> {
    match s {
        Scalar::Str(name) => index
            .get(name.as_ref())
            .copied()
            .or_else(|| name.strip_prefix("if").and_then(|n| n.parse().ok())),
        Scalar::Num(n) => u32::try_from(*n).ok(),
        _ => None,
    }
}

fn scalar_ip(s: &Option<Scalar>) -> Option<IpAddr> {
    match s.as_ref()?.as_str()? {
        "any" | "" => None,
        other => other.parse().ok(),
    }
}

fn vxlan_info(d: &JInfoData, index: &HashMap<String, u32>) -> VxlanInfo {
    VxlanInfo {
        vni: number(&d.id).unwrap_or(0),
        local: scalar_ip(&d.local).or_else(|| scalar_ip(&d.local6)),
        remote: scalar_ip(&d.remote)
            .or_else(|| scalar_ip(&d.group))
            .or_else(|| scalar_ip(&d.remote6))
            .or_else(|| scalar_ip(&d.group6)),
        port: number(&d.port).unwrap_or(0),
        learning: !matches!(d.learning, Some(Scalar::Bool(false)) | Some(Scalar::Num(0))),
        dev: d.link.as_ref().and_then(|s| vxlan_dev(s, index)),
        df: d.df.as_ref().and_then(vxlan_df),
    }
}

/// `"df"`: iproute2 prints the word; an unknown word is not guessed.
fn vxlan_df(s: &Scalar) -> Option<VxlanDf> {
    match s.as_str()? {
        "unset" => Some(VxlanDf::Unset),
        "set" => Some(VxlanDf::Set),
        "inherit" => Some(VxlanDf::Inherit),
        _ => None,
    }
}

/// A numeric field that fits `T`.
fn number<T: TryFrom<u64>>(s: &Option<Scalar>) -> Option<T> {
    s.as_ref()?.as_u64().and_then(|n| T::try_from(n).ok())
}

/// The underlay device: a name, or `ifN` / N that the index may resolve.
fn vxlan_dev(s: &Scalar, index: &HashMap<String, u32>) -> Option<String> {
    let Scalar::Str(name) = s else {
        return link_name(s, index);
    };
    match name.strip_prefix("if").and_then(|n| n.parse::<u64>().ok()) {
        Some(n) => link_name(&Scalar::Num(n), index).or(Some(name.to_string())),
        None => Some(name.to_string()),
    }
}

fn tunnel_info(d: &JInfoData) -> TunnelInfo {
    TunnelInfo {
        local: scalar_ip(&d.local).or_else(|| scalar_ip(&d.local6)),
        remote: scalar_ip(&d.remote).or_else(|| scalar_ip(&d.remote6)),
        ttl: number::<u8>(&d.ttl).filter(|&t| t != 0),
    }
}

// ---- writer: `ip -d -j link` ------------------------------------------------

#[derive(serde::Serialize)]
struct LinkOut<'a> {
    ifindex: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    link_index: Option<u32>,
    ifname: &'a str,
    flags: &'a [String],
    mtu: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    master: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    operstate: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    link_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    link: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    link_netnsid: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    linkinfo: Option<serde_json::Value>,
}

/// `links` as `ip -d -j link` prints them (one array and a newline), in
/// the shape [`parse_links`] reads back.
pub fn write_links(links: &[Link]) -> String {
    json_line(&links.iter().map(link_out).collect::<Vec<_>>())
}

fn link_out(l: &Link) -> LinkOut<'_> {
    LinkOut {
        ifindex: l.ifindex,
        link_index: l.peer_ifindex,
        ifname: &l.name,
        flags: &l.flags,
        mtu: l.mtu,
        master: l.master.as_deref(),
        operstate: l.operstate.as_deref(),
        link_type: l.link_type.as_deref(),
        address: l.mac.as_deref(),
        link: l.lower.as_deref(),
        link_netnsid: l.peer_netnsid,
        linkinfo: l.kind.as_ref().map(|k| linkinfo(k, l)),
    }
}

/// `linkinfo` as `ip -d -j` prints it for the kinds the model details.
fn linkinfo(kind: &str, l: &Link) -> serde_json::Value {
    let mut data = serde_json::Map::new();
    if let Some(v) = &l.vxlan {
        vxlan_data(v, &mut data);
    }
    if let Some(t) = &l.tunnel {
        tunnel_data(t, &mut data);
    }
    if data.is_empty() {
        json!({ "info_kind": kind })
    } else {
        json!({ "info_kind": kind, "info_data": data })
    }
}

fn vxlan_data(v: &VxlanInfo, data: &mut serde_json::Map<String, serde_json::Value>) {
    data.insert("id".into(), json!(v.vni));
    if let Some(ip) = v.local {
        let key = if ip.is_ipv6() { "local6" } else { "local" };
        data.insert(key.into(), json!(ip));
    }
    if let Some(ip) = v.remote {
        let key = match (ip.is_multicast(), ip.is_ipv6()) {
            (true, false) => "group",
            (true, true) => "group6",
            (false, false) => "remote",
            (false, true) => "remote6",
        };
        data.insert(key.into(), json!(ip));
    }
    if let Some(dev) = &v.dev {
        data.insert("link".into(), json!(dev));
    }
    data.insert("port".into(), json!(v.port));
    data.insert("learning".into(), json!(v.learning));
    if let Some(df) = v.df {
        data.insert("df".into(), json!(df.as_str()));
    }
}

fn tunnel_data(t: &TunnelInfo, data: &mut serde_json::Map<String, serde_json::Value>) {
    let any = |ip: Option<IpAddr>| ip.map_or(json!("any"), |ip| json!(ip));
    data.insert("remote".into(), any(t.remote));
    data.insert("local".into(), any(t.local));
    data.insert("ttl".into(), t.ttl.map_or(json!("inherit"), |t| json!(t)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vxlan_df_word_is_read_and_written_back() {
        let text = r#"[{"ifindex":6,"ifname":"flannel.1","flags":["UP"],"mtu":1450,
            "linkinfo":{"info_kind":"vxlan","info_data":{"id":1,"port":8472,"learning":false,"df":"set"}}}]"#;
        let links = parse_links(text).unwrap();
        assert_eq!(links[0].vxlan.as_ref().unwrap().df, Some(VxlanDf::Set));
        assert_eq!(parse_links(&write_links(&links)).unwrap(), links);
        let odd = text.replace(r#""set""#, r#""sometimes""#);
        assert_eq!(
            parse_links(&odd).unwrap()[0].vxlan.as_ref().unwrap().df,
            None
        );
    }

    #[test]
    fn ipip_any_is_none_and_ttl_inherit() {
        let text = r#"[{"ifindex":9,"ifname":"tunl0","flags":["NOARP","UP"],"mtu":1480,
            "link_type":"ipip","address":"0.0.0.0",
            "linkinfo":{"info_kind":"ipip","info_data":{"proto":"ip","remote":"any","local":"any","ttl":"inherit","pmtudisc":true}}}]"#;
        let l = &parse_links(text).unwrap()[0];
        assert_eq!(l.kind.as_deref(), Some("ipip"));
        assert_eq!(l.mac, None);
        assert_eq!(l.tunnel, Some(TunnelInfo::default()));
    }

    #[test]
    fn vxlan_link_ifindex_resolved_from_dump() {
        let text = r#"[{"ifindex":2,"ifname":"eth0","mtu":1500},
            {"ifindex":6,"ifname":"flannel.1","mtu":"1450","address":"E:1:a:b:c:D",
             "linkinfo":{"info_kind":"vxlan","info_data":{"id":"1","group":"239.1.1.1","link":2,"port":8472,"learning":false}}}]"#;
        let l = &parse_links(text).unwrap()[1];
        let v = l.vxlan.as_ref().unwrap();
        assert_eq!(v.dev.as_deref(), Some("eth0"));
        assert_eq!(v.remote, Some("239.1.1.1".parse().unwrap()));
        assert_eq!((v.vni, v.port, v.learning, l.mtu), (1, 8472, false, 1450));
        assert_eq!(l.mac.as_deref(), Some("0e:01:0a:0b:0c:0d"));
    }

    #[test]
    fn same_netns_veth_peer_by_name() {
        let text = r#"[{"ifindex":3,"ifname":"a","link":"b","mtu":1500},{"ifindex":4,"ifname":"b","link":"a","mtu":1500}]"#;
        let l = parse_links(text).unwrap();
        assert_eq!(
            (l[0].lower.as_deref(), l[0].peer_ifindex),
            (Some("b"), Some(4))
        );
    }
}
