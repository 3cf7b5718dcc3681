//! nftables JSON expressions as `nft -j` prints them, for the kube-proxy
//! nftables-mode writer.

use ipnet::IpNet;
use serde_json::{json, Value};

use crate::kube_proxy_nft::MASQ_MARK;

/// `ipv4_addr . inet_proto . inet_service`.
pub(crate) fn dispatch_type() -> Value {
    json!(["ipv4_addr", "inet_proto", "inet_service"])
}

/// `inet_proto . inet_service`.
pub(crate) fn port_type() -> Value {
    json!(["inet_proto", "inet_service"])
}

/// `fib saddr type local`.
pub(crate) fn fib_saddr_local() -> Value {
    json!({"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["saddr"]}}, "right": "local"}})
}

pub(crate) fn goto(chain: &str) -> Value {
    json!({"goto": {"target": chain}})
}

pub(crate) fn meta(key: &str) -> Value {
    json!({"meta": {"key": key}})
}

pub(crate) fn payload(protocol: &str, field: &str) -> Value {
    json!({"payload": {"protocol": protocol, "field": field}})
}

pub(crate) fn prefix(net: IpNet) -> Value {
    json!({"prefix": {"addr": net.network(), "len": net.prefix_len()}})
}

pub(crate) fn ct_new() -> Value {
    json!({"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "new"}})
}

/// `meta mark set meta mark OP 0x4000`.
pub(crate) fn mark_op(op: &str) -> Value {
    json!({"mangle": {"key": meta("mark"), "value": { op: [meta("mark"), MASQ_MARK] }}})
}

pub(crate) fn daddr_in(set: &str) -> Value {
    json!({"match": {"op": "==", "left": payload("ip", "daddr"), "right": set}})
}

/// `ip daddr . meta l4proto . th dport`.
pub(crate) fn dispatch_key() -> Value {
    json!({"concat": [payload("ip", "daddr"), meta("l4proto"), payload("th", "dport")]})
}

/// `meta l4proto . th dport`.
pub(crate) fn port_key() -> Value {
    json!({"concat": [meta("l4proto"), payload("th", "dport")]})
}

pub(crate) fn vmap(key: Value, map: &str) -> Value {
    json!({"vmap": {"key": key, "data": map}})
}
