//! `kubectl get bgpconfigurations|bgppeers|ippools|blockaffinities -o json`
//! (Lists of `crd.projectcalico.org/v1` objects) → [`cnictl_model::calico`].
//!
//! The `spec` fields are Calico's API types at v3.27 (projectcalico/api
//! `pkg/apis/projectcalico/v3/bgpconfig.go`, `bgppeer.go`, `ippool.go`;
//! libcalico-go `lib/apis/v3/blockaffinity.go`). Validation happens inside
//! `Deserialize`, so a bad CIDR or AS number is reported at the line and
//! column being read. `asNumber` is Calico's `numorstring.ASNumber`: a
//! number, a decimal string or the `X.Y` (asdot) form; BlockAffinity's
//! `deleted` is a string (`"true"`/`"false"`) in the CRD, a bool is
//! accepted too.

use cnictl_model::{BgpConfiguration, BgpPeer, BlockAffinity, IpPool};
use ipnet::IpNet;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use super::json::Scalar;
use super::kubectl::items;
use super::ParseError;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Meta {
    name: String,
}

#[derive(Deserialize)]
struct Obj<S> {
    #[serde(default)]
    metadata: Meta,
    spec: S,
}

/// Parses `kubectl get bgpconfigurations -o json`.
pub fn parse_bgpconfigurations(text: &str) -> Result<Vec<BgpConfiguration>, ParseError> {
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Spec {
        node_to_node_mesh_enabled: Option<bool>,
        #[serde(deserialize_with = "as_number")]
        as_number: Option<u32>,
    }
    let objs = items::<Obj<Spec>>(text)?;
    Ok(objs
        .into_iter()
        .map(|o| BgpConfiguration {
            name: o.metadata.name,
            node_to_node_mesh_enabled: o.spec.node_to_node_mesh_enabled,
            as_number: o.spec.as_number,
        })
        .collect())
}

/// Parses `kubectl get bgppeers -o json`.
pub fn parse_bgppeers(text: &str) -> Result<Vec<BgpPeer>, ParseError> {
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Spec {
        node: Option<String>,
        node_selector: Option<String>,
        #[serde(rename = "peerIP")]
        peer_ip: Option<String>,
        peer_selector: Option<String>,
        #[serde(deserialize_with = "as_number")]
        as_number: Option<u32>,
    }
    let objs = items::<Obj<Spec>>(text)?;
    let nonempty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    Ok(objs
        .into_iter()
        .map(|o| BgpPeer {
            name: o.metadata.name,
            node: nonempty(o.spec.node),
            node_selector: nonempty(o.spec.node_selector),
            peer_ip: nonempty(o.spec.peer_ip),
            peer_selector: nonempty(o.spec.peer_selector),
            as_number: o.spec.as_number,
        })
        .collect())
}

/// Parses `kubectl get ippools -o json`.
pub fn parse_ippools(text: &str) -> Result<Vec<IpPool>, ParseError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Spec {
        cidr: IpNet,
        #[serde(default)]
        block_size: Option<u8>,
        #[serde(default)]
        ipip_mode: Option<String>,
        #[serde(default)]
        vxlan_mode: Option<String>,
        #[serde(default)]
        nat_outgoing: bool,
        #[serde(default)]
        disabled: bool,
        #[serde(default)]
        node_selector: Option<String>,
    }
    let objs = items::<Obj<Spec>>(text)?;
    Ok(objs
        .into_iter()
        .map(|o| IpPool {
            name: o.metadata.name,
            cidr: o.spec.cidr,
            block_size: o.spec.block_size,
            ipip_mode: o.spec.ipip_mode,
            vxlan_mode: o.spec.vxlan_mode,
            nat_outgoing: o.spec.nat_outgoing,
            disabled: o.spec.disabled,
            node_selector: o.spec.node_selector,
        })
        .collect())
}

/// Parses `kubectl get blockaffinities -o json`.
pub fn parse_blockaffinities(text: &str) -> Result<Vec<BlockAffinity>, ParseError> {
    #[derive(Deserialize)]
    struct Spec {
        node: String,
        cidr: IpNet,
        #[serde(default)]
        state: String,
        #[serde(default, deserialize_with = "flag")]
        deleted: bool,
    }
    let objs = items::<Obj<Spec>>(text)?;
    Ok(objs
        .into_iter()
        .map(|o| BlockAffinity {
            name: o.metadata.name,
            node: o.spec.node,
            cidr: o.spec.cidr,
            state: o.spec.state,
            deleted: o.spec.deleted,
        })
        .collect())
}

/// `numorstring.ASNumber`: 64512, "64512" or "1.10" (high.low).
fn as_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let s = Option::<Scalar>::deserialize(d)?;
    let Some(s) = s else { return Ok(None) };
    let parsed = match &s {
        Scalar::Null => return Ok(None),
        Scalar::Num(n) => u32::try_from(*n).ok(),
        Scalar::Str(t) => parse_asn(t),
        _ => None,
    };
    parsed.map(Some).ok_or_else(|| {
        D::Error::custom("asNumber: expected a 32-bit AS number (64512 or \"1.10\")")
    })
}

fn parse_asn(t: &str) -> Option<u32> {
    match t.split_once('.') {
        Some((hi, lo)) => {
            Some(u32::from(hi.parse::<u16>().ok()?) << 16 | u32::from(lo.parse::<u16>().ok()?))
        }
        None => t.parse().ok(),
    }
}

/// A bool written as a bool or as the string `"true"`/`"false"`.
fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match Scalar::deserialize(d)? {
        Scalar::Bool(b) => Ok(b),
        Scalar::Null => Ok(false),
        Scalar::Str(s) if s == "true" => Ok(true),
        Scalar::Str(s) if s == "false" || s.is_empty() => Ok(false),
        _ => Err(D::Error::custom("deleted: expected \"true\" or \"false\"")),
    }
}

/// BGPConfigurations as `kubectl get bgpconfigurations -o json` prints them.
pub fn write_bgpconfigurations(items: &[BgpConfiguration]) -> String {
    list(items.iter().map(|c| {
        let mut spec = json!({});
        put(
            &mut spec,
            "nodeToNodeMeshEnabled",
            c.node_to_node_mesh_enabled.map(Value::from),
        );
        put(&mut spec, "asNumber", c.as_number.map(Value::from));
        obj("BGPConfiguration", &c.name, spec)
    }))
}

/// BGPPeers as `kubectl get bgppeers -o json` prints them.
pub fn write_bgppeers(items: &[BgpPeer]) -> String {
    list(items.iter().map(|p| {
        let mut spec = json!({});
        put(&mut spec, "node", p.node.clone().map(Value::from));
        put(
            &mut spec,
            "nodeSelector",
            p.node_selector.clone().map(Value::from),
        );
        put(&mut spec, "peerIP", p.peer_ip.clone().map(Value::from));
        put(
            &mut spec,
            "peerSelector",
            p.peer_selector.clone().map(Value::from),
        );
        put(&mut spec, "asNumber", p.as_number.map(Value::from));
        obj("BGPPeer", &p.name, spec)
    }))
}

/// IPPools as `kubectl get ippools -o json` prints them.
pub fn write_ippools(items: &[IpPool]) -> String {
    list(items.iter().map(|p| {
        let mut spec = json!({ "cidr": p.cidr.to_string() });
        put(&mut spec, "blockSize", p.block_size.map(Value::from));
        put(&mut spec, "ipipMode", p.ipip_mode.clone().map(Value::from));
        put(
            &mut spec,
            "vxlanMode",
            p.vxlan_mode.clone().map(Value::from),
        );
        put(
            &mut spec,
            "natOutgoing",
            p.nat_outgoing.then_some(Value::Bool(true)),
        );
        put(
            &mut spec,
            "disabled",
            p.disabled.then_some(Value::Bool(true)),
        );
        put(
            &mut spec,
            "nodeSelector",
            p.node_selector.clone().map(Value::from),
        );
        obj("IPPool", &p.name, spec)
    }))
}

/// BlockAffinities as `kubectl get blockaffinities -o json` prints them.
pub fn write_blockaffinities(items: &[BlockAffinity]) -> String {
    list(items.iter().map(|a| {
        let spec = json!({
            "node": a.node, "cidr": a.cidr.to_string(), "state": a.state,
            "deleted": if a.deleted { "true" } else { "false" },
        });
        obj("BlockAffinity", &a.name, spec)
    }))
}

fn put(spec: &mut Value, key: &str, v: Option<Value>) {
    if let Some(v) = v {
        spec[key] = v;
    }
}

fn obj(kind: &str, name: &str, spec: Value) -> Value {
    json!({ "apiVersion": "crd.projectcalico.org/v1", "kind": kind, "metadata": { "name": name }, "spec": spec })
}

fn list(items: impl Iterator<Item = Value>) -> String {
    let doc = json!({ "apiVersion": "v1", "kind": "List", "items": items.collect::<Vec<_>>(), "metadata": { "resourceVersion": "" } });
    let mut s = doc.to_string();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEERS: &str = r#"{"apiVersion":"v1","kind":"List","items":[
      {"apiVersion":"crd.projectcalico.org/v1","kind":"BGPPeer",
       "metadata":{"name":"peer-with-route-reflectors","resourceVersion":"811"},
       "spec":{"nodeSelector":"all()","peerSelector":"route-reflector == 'true'"}},
      {"apiVersion":"crd.projectcalico.org/v1","kind":"BGPPeer",
       "metadata":{"name":"rack1-tor"},
       "spec":{"node":"node-1","peerIP":"192.0.2.254","asNumber":"64513"}}]}"#;

    #[test]
    fn peers_keep_selectors_and_external_ips() {
        let p = parse_bgppeers(PEERS).unwrap();
        assert_eq!(
            p[0].peer_selector.as_deref(),
            Some("route-reflector == 'true'")
        );
        assert_eq!(p[0].node_selector.as_deref(), Some("all()"));
        assert_eq!(p[1].node.as_deref(), Some("node-1"));
        assert_eq!(p[1].peer_ip.as_deref(), Some("192.0.2.254"));
        assert_eq!(p[1].as_number, Some(64513));
        assert_eq!(parse_bgppeers(&write_bgppeers(&p)).unwrap(), p);
    }

    #[test]
    fn mesh_setting_and_asdot() {
        let t = r#"{"kind":"BGPConfigurationList","items":[{"metadata":{"name":"default"},
          "spec":{"nodeToNodeMeshEnabled":false,"asNumber":"1.10","logSeverityScreen":"Info"}}]}"#;
        let c = parse_bgpconfigurations(t).unwrap();
        assert_eq!(c[0].node_to_node_mesh_enabled, Some(false));
        assert_eq!(c[0].as_number, Some(65536 + 10));
        assert_eq!(
            parse_bgpconfigurations(&write_bgpconfigurations(&c)).unwrap(),
            c
        );
    }

    #[test]
    fn pools_and_affinities_round_trip() {
        let pools = r#"{"kind":"List","items":[{"metadata":{"name":"default-ipv4-ippool"},
          "spec":{"cidr":"10.244.0.0/16","blockSize":26,"ipipMode":"Never","natOutgoing":true,"nodeSelector":"all()"}}]}"#;
        let p = parse_ippools(pools).unwrap();
        assert_eq!(p[0].block_size, Some(26));
        assert!(p[0].nat_outgoing && !p[0].disabled);
        assert_eq!(parse_ippools(&write_ippools(&p)).unwrap(), p);
        let aff = r#"{"kind":"List","items":[{"metadata":{"name":"node-1-10-244-0-0-26"},
          "spec":{"cidr":"10.244.0.0/26","deleted":"false","node":"node-1","state":"confirmed"}}]}"#;
        let a = parse_blockaffinities(aff).unwrap();
        assert_eq!(a[0].node, "node-1");
        assert!(a[0].is_live());
        assert_eq!(
            parse_blockaffinities(&write_blockaffinities(&a)).unwrap(),
            a
        );
    }

    #[test]
    fn bad_values_name_their_position() {
        let e = parse_ippools("{\"items\":[{\"spec\":{\"cidr\":\"10.244.0.0/33\"}}]}").unwrap_err();
        assert_eq!(
            (e.line(), e.message().contains("invalid")),
            (1, true),
            "{e}"
        );
        let e = parse_bgppeers("{\"items\":[\n{\"spec\":{\"asNumber\":\"x\"}}]}").unwrap_err();
        assert_eq!(e.line(), 2, "{e}");
        assert!(e.message().contains("asNumber"), "{e}");
        let e = parse_blockaffinities("{\"items\":[{\"spec\":{\"cidr\":\"10.0.0.0/26\"}}]}");
        assert!(e.unwrap_err().message().contains("node"));
    }
}
