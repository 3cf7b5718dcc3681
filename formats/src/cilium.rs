//! Cilium's agent state as `cilium-dbg … -o json` prints it (Cilium v1.15),
//! into [`cnictl_model::Cilium`]. Unknown fields are ignored, so other
//! versions read as far as they share these fields.
//!
//! - `bpf ipcache list` (cilium-dbg/cmd/bpf_ipcache_list.go): a JSON object
//!   `prefix → [value]`, each value `RemoteEndpointInfo.String()` of
//!   pkg/maps/ipcache/ipcache.go: `identity=N encryptkey=N
//!   tunnelendpoint=IP` plus `flags=…` or `nodeid=N` depending on the
//!   version; `tunnelendpoint=0.0.0.0` means none.
//! - `bpf tunnel list` (cilium-dbg/cmd/bpf_tunnel_list.go): `tunnelList :=
//!   make(map[string][]string)` dumped from pkg/maps/tunnel: `prefix →
//!   [endpoint]`; the key/value may carry a cluster id (`IP:N` for IPv4,
//!   `IP@N`), which is dropped.
//! - `endpoint list` (cilium-dbg/cmd/endpoint_list.go): an array of
//!   api/v1/models/endpoint.go `Endpoint` (`id`, `status.state`,
//!   `status.identity.id`, `status.networking.addressing[].ipv4/ipv6`,
//!   `status.networking.interface-name`,
//!   `status.policy.realized.policy-enabled` (endpoint_policy_status.go),
//!   `status.external-identifiers.k8s-namespace/k8s-pod-name`).
//! - `status` (cilium-dbg/cmd/status.go): api/v1/models/status_response.go
//!   `StatusResponse`: `cilium.state`, `routing.inter-host-routing-mode`,
//!   `routing.intra-host-routing-mode`, `routing.tunnel-protocol`.
//! - `bpf lb list` (cilium-dbg/cmd/bpf_lb_list.go): `frontend → [backend
//!   lines]`, kept verbatim.
//!
//! The writers print the same shapes (the ipcache value as
//! `identity=N encryptkey=0 tunnelendpoint=IP flags=<none>`: the
//! encryption key is not kept).

use std::collections::BTreeMap;
use std::net::IpAddr;

use cnictl_model::{CiliumEndpoint, CiliumStatus, IpcacheEntry, TunnelEntry};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::ParseError;

/// `cilium-dbg bpf ipcache list -o json`.
pub fn parse_cilium_ipcache(text: &str) -> Result<Vec<IpcacheEntry>, ParseError> {
    let map: BTreeMap<String, Vec<String>> = serde_json::from_str(text)?;
    map.iter()
        .map(|(k, vals)| ipcache_entry(text, k, vals))
        .collect()
}

fn ipcache_entry(text: &str, key: &str, vals: &[String]) -> Result<IpcacheEntry, ParseError> {
    let bad = |what: &str, found: &str| at_key(text, key, what, found);
    let prefix = parse_prefix(key).ok_or_else(|| bad("an IP prefix", key))?;
    let value = vals.first().ok_or_else(|| bad("one value", "[]"))?;
    let field = |name: &str| {
        value
            .split_whitespace()
            .find_map(|t| t.strip_prefix(name)?.strip_prefix('='))
    };
    let identity = field("identity")
        .and_then(|v| v.trim_end_matches(',').parse().ok())
        .ok_or_else(|| bad("identity=N", value))?;
    let tunnel_endpoint = match field("tunnelendpoint") {
        Some(v) => Some(parse_ip(v).ok_or_else(|| bad("tunnelendpoint=IP", v))?),
        None => None,
    }
    .filter(|ip| !ip.is_unspecified());
    Ok(IpcacheEntry {
        prefix,
        identity,
        tunnel_endpoint,
    })
}

/// `cilium-dbg bpf tunnel list -o json`.
pub fn parse_cilium_tunnel(text: &str) -> Result<Vec<TunnelEntry>, ParseError> {
    let map: BTreeMap<String, Vec<String>> = serde_json::from_str(text)?;
    map.iter()
        .map(|(k, vals)| {
            let bad = |what: &str, found: &str| at_key(text, k, what, found);
            let prefix = parse_ip(k).ok_or_else(|| bad("an IP", k))?;
            let v = vals.first().ok_or_else(|| bad("one value", "[]"))?;
            let endpoint = parse_ip(v).ok_or_else(|| bad("an endpoint IP", v))?;
            Ok(TunnelEntry { prefix, endpoint })
        })
        .collect()
}

/// `cilium-dbg bpf lb list -o json`, verbatim.
pub fn parse_cilium_lb(text: &str) -> Result<BTreeMap<String, Vec<String>>, ParseError> {
    Ok(serde_json::from_str(text)?)
}

/// An IP as the maps print it: bare, with `@cluster`, `:cluster` (IPv4)
/// or `[v6]:cluster`.
fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_end_matches(',');
    let s = s.split('@').next()?;
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    s.rsplit_once(':')?
        .0
        .parse::<std::net::Ipv4Addr>()
        .ok()
        .map(IpAddr::V4)
}

/// An ipcache key: `10.0.1.0/24`, or a bare IP (a host prefix).
fn parse_prefix(s: &str) -> Option<IpNet> {
    let s = s.split('@').next()?.trim();
    s.parse()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

/// An error at the key's position in the text (serde_json gives none once
/// the map is read).
fn at_key(text: &str, key: &str, expected: &str, found: &str) -> ParseError {
    let quoted = format!("\"{key}\"");
    let off = text.find(&quoted).unwrap_or(0);
    let line = text[..off].matches('\n').count() + 1;
    let column = off - text[..off].rfind('\n').map_or(0, |i| i + 1) + 1;
    ParseError::unexpected(line, column, expected, found)
}

#[derive(Deserialize, Serialize, Default)]
struct EndpointJson {
    #[serde(default)]
    id: u64,
    #[serde(default)]
    status: EpStatus,
}

#[derive(Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
struct EpStatus {
    #[serde(default)]
    state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    identity: Option<EpIdentity>,
    #[serde(default)]
    networking: EpNetworking,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    external_identifiers: Option<EpExternal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    policy: Option<EpPolicyStatus>,
}

/// api/v1/models/endpoint_policy_status.go: what is realized.
#[derive(Deserialize, Serialize, Default)]
struct EpPolicyStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    realized: Option<EpPolicy>,
}

#[derive(Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
struct EpPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    policy_enabled: Option<String>,
}

#[derive(Deserialize, Serialize, Default)]
struct EpIdentity {
    #[serde(default)]
    id: u64,
}

#[derive(Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
struct EpNetworking {
    #[serde(default)]
    addressing: Vec<EpAddressing>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    interface_name: Option<String>,
}

#[derive(Deserialize, Serialize, Default)]
struct EpAddressing {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ipv4: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ipv6: Option<IpAddr>,
}

#[derive(Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
struct EpExternal {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k8s_namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k8s_pod_name: Option<String>,
}

/// `cilium-dbg endpoint list -o json`.
pub fn parse_cilium_endpoints(text: &str) -> Result<Vec<CiliumEndpoint>, ParseError> {
    let eps: Vec<EndpointJson> = serde_json::from_str(text)?;
    Ok(eps.into_iter().map(endpoint_of).collect())
}

fn endpoint_of(e: EndpointJson) -> CiliumEndpoint {
    let s = e.status;
    let addresses = s
        .networking
        .addressing
        .iter()
        .flat_map(|a| a.ipv4.into_iter().chain(a.ipv6))
        .collect();
    let pod = s.external_identifiers.and_then(|x| {
        let (ns, name) = (x.k8s_namespace?, x.k8s_pod_name?);
        Some(format!("{ns}/{name}"))
    });
    CiliumEndpoint {
        id: e.id,
        state: s.state,
        identity: s.identity.map(|i| i.id),
        addresses,
        pod,
        interface: s.networking.interface_name,
        policy_enabled: s.policy.and_then(|p| p.realized?.policy_enabled),
    }
}

#[derive(Deserialize, Serialize, Default)]
struct StatusJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cilium: Option<StatusState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    routing: Option<Routing>,
}

#[derive(Deserialize, Serialize, Default)]
struct StatusState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<String>,
}

#[derive(Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
struct Routing {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inter_host_routing_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    intra_host_routing_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tunnel_protocol: Option<String>,
}

/// `cilium-dbg status -o json`.
pub fn parse_cilium_status(text: &str) -> Result<CiliumStatus, ParseError> {
    let s: StatusJson = serde_json::from_str(text)?;
    let r = s.routing.unwrap_or_default();
    Ok(CiliumStatus {
        state: s.cilium.and_then(|c| c.state),
        inter_host_routing: r.inter_host_routing_mode,
        intra_host_routing: r.intra_host_routing_mode,
        tunnel_protocol: r.tunnel_protocol,
    })
}

/// The ipcache as `bpf ipcache list -o json` prints it.
pub fn write_cilium_ipcache(entries: &[IpcacheEntry]) -> String {
    let map: BTreeMap<String, Vec<String>> = entries
        .iter()
        .map(|e| {
            let tep = e
                .tunnel_endpoint
                .map_or("0.0.0.0".into(), |ip| ip.to_string());
            let v = format!(
                "identity={} encryptkey=0 tunnelendpoint={tep} flags=<none>",
                e.identity
            );
            (e.prefix.to_string(), vec![v])
        })
        .collect();
    pretty(&map)
}

/// The tunnel map as `bpf tunnel list -o json` prints it.
pub fn write_cilium_tunnel(entries: &[TunnelEntry]) -> String {
    let map: BTreeMap<String, Vec<String>> = entries
        .iter()
        .map(|e| (e.prefix.to_string(), vec![e.endpoint.to_string()]))
        .collect();
    pretty(&map)
}

/// The endpoints in `endpoint list -o json`'s shape (the fields read).
pub fn write_cilium_endpoints(eps: &[CiliumEndpoint]) -> String {
    let out: Vec<EndpointJson> = eps.iter().map(endpoint_json).collect();
    pretty(&out)
}

fn endpoint_json(e: &CiliumEndpoint) -> EndpointJson {
    let (v4, v6): (Vec<IpAddr>, Vec<IpAddr>) = e.addresses.iter().partition(|a| a.is_ipv4());
    let addressing = vec![EpAddressing {
        ipv4: v4.first().copied(),
        ipv6: v6.first().copied(),
    }];
    let external_identifiers = e.pod.as_ref().and_then(|p| {
        let (ns, name) = p.split_once('/')?;
        Some(EpExternal {
            k8s_namespace: Some(ns.into()),
            k8s_pod_name: Some(name.into()),
        })
    });
    EndpointJson {
        id: e.id,
        status: EpStatus {
            state: e.state.clone(),
            identity: e.identity.map(|id| EpIdentity { id }),
            networking: EpNetworking {
                addressing,
                interface_name: e.interface.clone(),
            },
            external_identifiers,
            policy: e.policy_enabled.as_ref().map(|p| EpPolicyStatus {
                realized: Some(EpPolicy {
                    policy_enabled: Some(p.clone()),
                }),
            }),
        },
    }
}

/// The status in `status -o json`'s shape (the fields read).
pub fn write_cilium_status(s: &CiliumStatus) -> String {
    let out = StatusJson {
        cilium: Some(StatusState {
            state: s.state.clone(),
        }),
        routing: Some(Routing {
            inter_host_routing_mode: s.inter_host_routing.clone(),
            intra_host_routing_mode: s.intra_host_routing.clone(),
            tunnel_protocol: s.tunnel_protocol.clone(),
        }),
    };
    pretty(&out)
}

/// The lb list as read.
pub fn write_cilium_lb(lb: &BTreeMap<String, Vec<String>>) -> String {
    pretty(lb)
}

fn pretty<T: Serialize>(v: &T) -> String {
    // Maps of strings and plain structs always serialize.
    serde_json::to_string_pretty(v).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    // The shape printed by cilium-dbg v1.15 (values as
    // RemoteEndpointInfo.String() formats them).
    const IPCACHE: &str = r#"{
  "10.244.2.0/24": ["identity=2 encryptkey=0 tunnelendpoint=192.0.2.12 flags=<none>"],
  "10.244.1.2/32": ["identity=12345 encryptkey=0 tunnelendpoint=0.0.0.0 flags=<none>"],
  "192.0.2.12/32": ["identity=6 encryptkey=0 tunnelendpoint=0.0.0.0 nodeid=2"]
}"#;

    #[test]
    fn ipcache_reads_identity_and_tunnel_endpoint() {
        let e = parse_cilium_ipcache(IPCACHE).expect("parses");
        let remote = e.iter().find(|x| x.prefix.to_string() == "10.244.2.0/24");
        let remote = remote.expect("remote CIDR");
        assert_eq!(remote.identity, 2);
        assert_eq!(
            remote.tunnel_endpoint,
            Some("192.0.2.12".parse().expect("ip"))
        );
        let local = e.iter().find(|x| x.prefix.to_string() == "10.244.1.2/32");
        assert_eq!(local.expect("local").tunnel_endpoint, None);
        let back = parse_cilium_ipcache(&write_cilium_ipcache(&e)).expect("round trip");
        assert_eq!(back, e);
    }

    #[test]
    fn ipcache_bad_value_names_its_line() {
        let text = "{\n  \"10.244.2.0/24\": [\"encryptkey=0\"]\n}";
        let err = parse_cilium_ipcache(text).expect_err("no identity");
        assert_eq!((err.line(), err.column()), (2, 3));
        assert!(err.message().contains("identity=N"), "{err}");
    }

    #[test]
    fn malformed_json_gives_its_position() {
        let err = parse_cilium_tunnel("{\n \"10.244.2.0\": [1]\n}").expect_err("bad");
        assert_eq!(err.line(), 2, "{err}");
    }

    #[test]
    fn tunnel_accepts_cluster_suffixes() {
        let text = r#"{"10.244.2.0:0": ["192.0.2.12:0"], "10.244.3.0": ["192.0.2.13"]}"#;
        let t = parse_cilium_tunnel(text).expect("parses");
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].endpoint, "192.0.2.12".parse::<IpAddr>().expect("ip"));
        assert_eq!(
            parse_cilium_tunnel(&write_cilium_tunnel(&t)).expect("rt"),
            t
        );
    }

    #[test]
    fn endpoints_and_status_read_the_api_models() {
        let text = r#"[{"id": 1021, "spec": {"label-configuration": {}},
          "status": {"state": "ready", "identity": {"id": 12345, "labels": ["k8s:app=web"]},
            "networking": {"addressing": [{"ipv4": "10.244.1.2"}], "interface-name": "lxc1",
              "host-mac": "aa:bb:cc:dd:ee:ff"},
            "external-identifiers": {"k8s-namespace": "default", "k8s-pod-name": "web-1",
              "pod-name": "default/web-1"},
            "policy": {"realized": {"policy-enabled": "none"}}}}]"#;
        let eps = parse_cilium_endpoints(text).expect("parses");
        assert_eq!(eps[0].pod.as_deref(), Some("default/web-1"));
        assert_eq!(eps[0].state, "ready");
        assert_eq!(eps[0].enforces("ingress"), Some(false));
        assert_eq!(
            parse_cilium_endpoints(&write_cilium_endpoints(&eps)).expect("rt"),
            eps
        );
        let st = r#"{"cilium": {"state": "Ok", "msg": ""}, "routing":
          {"intra-host-routing-mode": "BPF", "inter-host-routing-mode": "Tunnel",
           "tunnel-protocol": "vxlan"}, "kube-proxy-replacement": {"mode": "True"}}"#;
        let s = parse_cilium_status(st).expect("parses");
        assert_eq!(s.inter_host_routing.as_deref(), Some("Tunnel"));
        assert_eq!(
            parse_cilium_status(&write_cilium_status(&s)).expect("rt"),
            s
        );
    }
}
