//! Bundle export: [`ClusterSnapshot`] → a bundle directory (DESIGN.md
//! layout), in the formats the real tools print (`ip -j` JSON arrays,
//! `bridge -j`, `ipvsadm -Ln`, `birdc` text, `key = value` sysctls,
//! kubectl List JSON), so that [`crate::bundle::load_dir`] reads it back to
//! the same snapshot (apart from `source` and `collected_at`, which a
//! bundle does not hold).
//!
//! The whole bundle is written into a temporary sibling directory and
//! renamed into place, so readers never see half a bundle. An existing
//! `dir` is replaced only when it is empty or an earlier bundle (has
//! `k8s/nodes.json`).
//!
//! Canonical form: the loader can only give back what the formats can say,
//! so round trips are exact for snapshots in the form the loader produces
//! (e.g. rules grouped IPv4 then IPv6, a node's addresses grouped by link,
//! a point-to-point peer with the local prefix length). See the tests.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use cnictl_model::route::table_name;
use cnictl_model::{
    Addr, Bgp, ClusterSnapshot, FdbEntry, Forward, IpvsProto, Link, Neigh, NodeSnapshot, Route,
    Rule, RuleAction, VirtualService,
};
use ipnet::IpNet;
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{json, Value};

/// Why a bundle could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("refusing to write into {dir}: it is neither empty nor an earlier bundle (no k8s/nodes.json)")]
    NotABundle { dir: PathBuf },
    #[error("invalid name {name:?} for a bundle directory: it must be a single non-empty path component")]
    BadName { name: String },
    #[error("writing {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

impl WriteError {
    /// A bounded code for metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            WriteError::NotABundle { .. } => "not_a_bundle",
            WriteError::BadName { .. } => "bad_name",
            WriteError::Io { .. } => "io",
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `snap` as a bundle at `dir` (see the module docs).
pub fn write_dir(snap: &ClusterSnapshot, dir: &Path) -> Result<(), WriteError> {
    let existing = check_target(dir)?;
    for name in snap.nodes.keys() {
        check_name(name)?;
    }
    let tmp = sibling(dir, "tmp");
    fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
    let result = write_all(snap, &tmp).and_then(|()| swap_into_place(&tmp, dir, existing));
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}

/// What is at `dir` now: `Ok(true)` for an earlier bundle or an empty dir
/// to replace, `Ok(false)` when nothing is there.
fn check_target(dir: &Path) -> Result<bool, WriteError> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err(dir)(e)),
        Ok(m) if !m.is_dir() => Err(WriteError::NotABundle { dir: dir.into() }),
        Ok(_) => {
            let empty = fs::read_dir(dir).map_err(io_err(dir))?.next().is_none();
            if empty || dir.join("k8s/nodes.json").is_file() {
                Ok(true)
            } else {
                Err(WriteError::NotABundle { dir: dir.into() })
            }
        }
    }
}

fn check_name(name: &str) -> Result<(), WriteError> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\0'])
        || name.starts_with('.');
    if bad {
        return Err(WriteError::BadName { name: name.into() });
    }
    Ok(())
}

/// `.NAME.KIND-PID-N` next to `dir`, on the same filesystem for rename.
fn sibling(dir: &Path, kind: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let name = dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bundle".into());
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    parent.join(format!(".{name}.{kind}-{}-{n}", std::process::id()))
}

fn swap_into_place(tmp: &Path, dir: &Path, existing: bool) -> Result<(), WriteError> {
    if !existing {
        return fs::rename(tmp, dir).map_err(io_err(dir));
    }
    let old = sibling(dir, "old");
    fs::rename(dir, &old).map_err(io_err(dir))?;
    if let Err(e) = fs::rename(tmp, dir) {
        let _ = fs::rename(&old, dir);
        return Err(io_err(dir)(e));
    }
    fs::remove_dir_all(&old).map_err(io_err(&old))
}

fn write_all(snap: &ClusterSnapshot, root: &Path) -> Result<(), WriteError> {
    let k8s = root.join("k8s");
    fs::create_dir_all(&k8s).map_err(io_err(&k8s))?;
    write_json(
        &k8s.join("nodes.json"),
        &list(snap.k8s.nodes.iter().map(k8s_node)),
    )?;
    write_json(
        &k8s.join("pods.json"),
        &list(snap.k8s.pods.iter().map(k8s_pod)),
    )?;
    if let Some(s) = &snap.k8s.services {
        write_json(&k8s.join("services.json"), &list(s.iter().map(k8s_service)))?;
    }
    if let Some(s) = &snap.k8s.endpoint_slices {
        write_json(
            &k8s.join("endpointslices.json"),
            &list(s.iter().map(k8s_slice)),
        )?;
    }
    snap.nodes
        .par_iter()
        .try_for_each(|(name, node)| write_node(node, &root.join("nodes").join(name)))
}

fn write_node(node: &NodeSnapshot, dir: &Path) -> Result<(), WriteError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    write_json(&dir.join("ip-link.json"), &links_json(&node.links))?;
    write_json(&dir.join("ip-addr.json"), &addrs_json(&node.addrs))?;
    write_json(&dir.join("ip-route.json"), &routes_json(&node.routes))?;
    if let Some(rules) = &node.rules {
        write_text(&dir.join("ip-rule.json"), &rules_text(rules))?;
    }
    if let Some(n) = &node.neighbours {
        write_json(
            &dir.join("ip-neigh.json"),
            &n.iter().map(neigh_json).collect::<Vec<_>>(),
        )?;
    }
    if let Some(f) = &node.fdb {
        write_json(
            &dir.join("bridge-fdb.json"),
            &f.iter().map(fdb_json).collect::<Vec<_>>(),
        )?;
    }
    if let Some(v) = &node.ipvs {
        write_text(&dir.join("ipvsadm.txt"), &ipvsadm_text(v))?;
    }
    if let Some(b) = &node.bgp {
        write_bird(b, dir)?;
    }
    if let Some(s) = &node.sysctls {
        let text: String = s.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
        write_text(&dir.join("sysctl.txt"), &text)?;
    }
    for pod in node.pods.values() {
        let name = format!("{}_{}", pod.namespace, pod.name);
        check_name(&name)?;
        let pdir = dir.join("pods").join(name);
        fs::create_dir_all(&pdir).map_err(io_err(&pdir))?;
        write_json(&pdir.join("ip-link.json"), &links_json(&pod.links))?;
        write_json(&pdir.join("ip-addr.json"), &addrs_json(&pod.addrs))?;
        write_json(&pdir.join("ip-route.json"), &routes_json(&pod.routes))?;
    }
    Ok(())
}

fn write_bird(b: &Bgp, dir: &Path) -> Result<(), WriteError> {
    write_text(&dir.join("bird-protocols.txt"), &bird_protocols_text(b))?;
    if let Some(routes) = &b.routes {
        write_text(&dir.join("bird-routes.txt"), &bird_routes_text(b, routes))?;
    }
    Ok(())
}

fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<(), WriteError> {
    let file = fs::File::create(path).map_err(io_err(path))?;
    let mut w = BufWriter::new(file);
    serde_json::to_writer(&mut w, value).map_err(|e| io_err(path)(e.into()))?;
    w.write_all(b"\n")
        .and_then(|()| w.flush())
        .map_err(io_err(path))
}

fn write_text(path: &Path, text: &str) -> Result<(), WriteError> {
    fs::write(path, text).map_err(io_err(path))
}

// ---- ip -j link / addr ------------------------------------------------------

#[derive(Serialize)]
struct OLink<'a> {
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
    linkinfo: Option<Value>,
}

fn links_json(links: &[Link]) -> Vec<OLink<'_>> {
    links
        .iter()
        .map(|l| OLink {
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
        })
        .collect()
}

/// `linkinfo` as `ip -d -j` prints it for the kinds the model details.
fn linkinfo(kind: &str, l: &Link) -> Value {
    let mut data = serde_json::Map::new();
    if let Some(v) = &l.vxlan {
        data.insert("id".into(), json!(v.vni));
        if let Some(ip) = v.local {
            data.insert(
                if ip.is_ipv6() { "local6" } else { "local" }.into(),
                json!(ip),
            );
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
    }
    if let Some(t) = &l.tunnel {
        let any = |ip: Option<IpAddr>| ip.map_or(json!("any"), |ip| json!(ip));
        data.insert("remote".into(), any(t.remote));
        data.insert("local".into(), any(t.local));
        data.insert("ttl".into(), t.ttl.map_or(json!("inherit"), |t| json!(t)));
    }
    if data.is_empty() {
        json!({ "info_kind": kind })
    } else {
        json!({ "info_kind": kind, "info_data": data })
    }
}

#[derive(Serialize)]
struct OAddrLink<'a> {
    ifindex: u32,
    ifname: &'a str,
    addr_info: Vec<OAddr<'a>>,
}

#[derive(Serialize)]
struct OAddr<'a> {
    family: &'static str,
    local: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<IpAddr>,
    prefixlen: u8,
    scope: &'a str,
}

/// Groups consecutive addresses of the same link, as `ip -j addr` does.
fn addrs_json(addrs: &[Addr]) -> Vec<OAddrLink<'_>> {
    let mut out: Vec<OAddrLink> = Vec::new();
    for a in addrs {
        let entry = OAddr {
            family: if a.addr.addr().is_ipv6() {
                "inet6"
            } else {
                "inet"
            },
            local: a.addr.addr(),
            address: a.peer.map(|p| p.addr()),
            prefixlen: a.addr.prefix_len(),
            scope: &a.scope,
        };
        match out.last_mut() {
            Some(l) if l.ifindex == a.ifindex && l.ifname == a.dev => l.addr_info.push(entry),
            _ => out.push(OAddrLink {
                ifindex: a.ifindex,
                ifname: &a.dev,
                addr_info: vec![entry],
            }),
        }
    }
    out
}

// ---- ip -j route ------------------------------------------------------------

#[derive(Serialize)]
struct ORoute<'a> {
    #[serde(rename = "type")]
    route_type: &'static str,
    dst: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dev: Option<&'a str>,
    table: String,
    protocol: String,
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    metric: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prefsrc: Option<IpAddr>,
    flags: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pref: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    nexthops: Vec<ONextHop<'a>>,
}

#[derive(Serialize)]
struct ONextHop<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dev: Option<&'a str>,
    weight: u32,
    flags: Vec<&'static str>,
}

/// `default`, a bare address for host routes, else the prefix.
fn dst_text(dst: &IpNet) -> String {
    if dst.prefix_len() == 0 {
        "default".into()
    } else if dst.prefix_len() == dst.max_prefix_len() {
        dst.addr().to_string()
    } else {
        dst.to_string()
    }
}

fn routes_json(routes: &[Route]) -> Vec<ORoute<'_>> {
    routes.iter().map(route_json).collect()
}

fn route_json(r: &Route) -> ORoute<'_> {
    let v6 = r.dst.addr().is_ipv6();
    let mut flags: Vec<&str> = Vec::with_capacity(r.flags.len() + 1);
    if r.onlink {
        flags.push("onlink");
    }
    flags.extend(r.flags.iter().map(String::as_str));
    ORoute {
        route_type: r.route_type.as_str(),
        dst: dst_text(&r.dst),
        gateway: r.gateway,
        dev: r.dev.as_deref(),
        table: table_name(r.table),
        protocol: r.protocol.to_string(),
        scope: r.scope.to_string(),
        metric: (r.metric != 0 || v6).then_some(r.metric),
        prefsrc: r.prefsrc,
        flags,
        // iproute2 prints the router preference for IPv6 routes only; the
        // loader uses it to tell an IPv6 `default` from an IPv4 one.
        pref: v6.then_some("medium"),
        nexthops: r
            .nexthops
            .iter()
            .map(|n| ONextHop {
                gateway: n.gateway,
                dev: n.dev.as_deref(),
                weight: n.weight,
                flags: if n.onlink { vec!["onlink"] } else { Vec::new() },
            })
            .collect(),
    }
}

// ---- ip -j rule, neigh, bridge fdb ----------------------------------------

/// IPv4 rules as one array, then IPv6 rules as a second one when there are
/// any (`ip -4 -j rule; ip -6 -j rule`).
fn rules_text(rules: &[Rule]) -> String {
    let (v6, v4): (Vec<&Rule>, Vec<&Rule>) = rules.iter().partition(|r| r.family == "inet6");
    let mut s = serde_json::to_string(&v4.iter().map(|r| rule_json(r)).collect::<Vec<_>>())
        .unwrap_or_default();
    s.push('\n');
    if !v6.is_empty() {
        s.push_str(
            &serde_json::to_string(&v6.iter().map(|r| rule_json(r)).collect::<Vec<_>>())
                .unwrap_or_default(),
        );
        s.push('\n');
    }
    s
}

fn rule_json(r: &Rule) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("priority".into(), json!(r.priority));
    if r.not {
        m.insert("not".into(), Value::Null);
    }
    let mut sel = |key: &str, len_key: &str, net: &Option<IpNet>| match net {
        Some(n) => {
            m.insert(key.into(), json!(n.trunc().addr()));
            if n.prefix_len() != n.max_prefix_len() {
                m.insert(len_key.into(), json!(n.prefix_len()));
            }
        }
        None if key == "src" => {
            m.insert(key.into(), json!("all"));
        }
        None => {}
    };
    sel("src", "srclen", &r.src);
    sel("dst", "dstlen", &r.dst);
    if let Some(i) = &r.iif {
        m.insert("iif".into(), json!(i));
    }
    if let Some(o) = &r.oif {
        m.insert("oif".into(), json!(o));
    }
    if let Some(f) = r.fwmark {
        m.insert("fwmark".into(), json!(format!("{f:#x}")));
    }
    if let Some(f) = r.fwmask {
        m.insert("fwmask".into(), json!(format!("{f:#x}")));
    }
    match r.action {
        RuleAction::Table(t) => m.insert("table".into(), json!(table_name(t))),
        RuleAction::Goto(g) => m.insert("goto".into(), json!(g)),
        RuleAction::Nop => m.insert("nop".into(), Value::Null),
        RuleAction::Blackhole => m.insert("action".into(), json!("blackhole")),
        RuleAction::Unreachable => m.insert("action".into(), json!("unreachable")),
        RuleAction::Prohibit => m.insert("action".into(), json!("prohibit")),
    };
    if let Some(n) = r.suppress_prefixlen {
        m.insert("suppress_prefixlen".into(), json!(n));
    }
    Value::Object(m)
}

#[derive(Serialize)]
struct ONeigh<'a> {
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

fn neigh_json(n: &Neigh) -> ONeigh<'_> {
    ONeigh {
        dst: n.dst,
        dev: &n.dev,
        lladdr: n.lladdr.as_deref(),
        router: n.router.then_some(()),
        proxy: n.proxy.then_some(()),
        state: &n.state,
    }
}

#[derive(Serialize)]
struct OFdb<'a> {
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

fn fdb_json(f: &FdbEntry) -> OFdb<'_> {
    OFdb {
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

// ---- ipvsadm -Ln ------------------------------------------------------------

fn ipvsadm_text(services: &[VirtualService]) -> String {
    let mut s = String::from(
        "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
    );
    for vs in services {
        let addr = match (vs.proto, vs.vip) {
            (IpvsProto::Fwmark, _) => vs.fwmark.unwrap_or(0).to_string(),
            (_, Some(ip)) => addr_port(ip, vs.port),
            (_, None) => format!("0.0.0.0:{}", vs.port),
        };
        let proto = match vs.proto {
            IpvsProto::Tcp => "TCP",
            IpvsProto::Udp => "UDP",
            IpvsProto::Sctp => "SCTP",
            IpvsProto::Fwmark => "FWM",
        };
        let _ = write!(s, "{proto}  {addr} {}", vs.scheduler);
        if let Some(t) = vs.persistent {
            let _ = write!(s, " persistent {t}");
        }
        if vs.flags.iter().any(|f| f == "ops") {
            s.push_str(" ops");
        }
        let other: Vec<&str> = vs
            .flags
            .iter()
            .map(String::as_str)
            .filter(|f| *f != "ops" && *f != "persistent")
            .collect();
        if !other.is_empty() {
            let _ = write!(s, " ({})", other.join(","));
        }
        s.push('\n');
        for r in &vs.reals {
            let fwd = match r.forward {
                Forward::Masq => "Masq",
                Forward::Route => "Route",
                Forward::Tunnel => "Tunnel",
                Forward::Local => "Local",
            };
            let line = format!(
                "  -> {:<28} {fwd:<7} {:<6} {:<10} {:<10}",
                addr_port(r.ip, r.port),
                r.weight,
                r.active_conns,
                r.inactive_conns
            );
            s.push_str(line.trim_end());
            s.push('\n');
        }
    }
    s
}

fn addr_port(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v) => format!("{v}:{port}"),
        IpAddr::V6(v) => format!("[{v}]:{port}"),
    }
}

// ---- birdc ------------------------------------------------------------------

fn bird_protocols_text(b: &Bgp) -> String {
    let mut s = String::new();
    if let Some(d) = &b.daemon {
        let _ = writeln!(s, "{d} ready.");
    }
    s.push_str("Name       Proto      Table      State  Since         Info\n");
    for p in &b.protocols {
        let row = format!(
            "{:<10} {:<10} {:<10} {:<6} {:<13} {}",
            p.name,
            p.proto,
            p.table.as_deref().unwrap_or("---"),
            p.state,
            p.since.as_deref().unwrap_or("---"),
            p.info
        );
        s.push_str(row.trim_end());
        s.push('\n');
        if let Some(st) = &p.bgp_state {
            let _ = writeln!(s, "  BGP state:          {st}");
        }
        let mut detail = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                let _ = writeln!(s, "    {k:<17} {v}");
            }
        };
        detail(
            "Neighbor address:",
            p.neighbor_address.map(|a| a.to_string()),
        );
        detail("Neighbor AS:", p.neighbor_as.map(|a| a.to_string()));
        detail("Local AS:", p.local_as.map(|a| a.to_string()));
        detail("Last error:", p.last_error.clone());
        if p.routes_imported.is_some() || p.routes_exported.is_some() {
            let _ = writeln!(
                s,
                "  Channel ipv4\n    State:          UP\n    Routes:         {} imported, {} exported, 0 preferred",
                p.routes_imported.unwrap_or(0),
                p.routes_exported.unwrap_or(0)
            );
        }
        s.push('\n');
    }
    s
}

fn bird_routes_text(b: &Bgp, routes: &[cnictl_model::BgpRoute]) -> String {
    let mut s = String::new();
    if let Some(d) = &b.daemon {
        let _ = writeln!(s, "{d} ready.");
    }
    let mut table: Option<bool> = None;
    for r in routes {
        let v6 = r.prefix.addr().is_ipv6();
        if table != Some(v6) {
            let _ = writeln!(s, "Table master{}:", if v6 { 6 } else { 4 });
            table = Some(v6);
        }
        let best = if r.best { " *" } else { "" };
        let _ = writeln!(
            s,
            "{:<20} {} [{} 00:00:00.000]{best} (100)",
            r.prefix.to_string(),
            r.kind,
            r.protocol
        );
        match (r.via, &r.dev) {
            (Some(via), Some(dev)) => {
                let _ = writeln!(s, "\tvia {via} on {dev}");
            }
            (Some(via), None) => {
                let _ = writeln!(s, "\tvia {via}");
            }
            (None, Some(dev)) => {
                let _ = writeln!(s, "\tdev {dev}");
            }
            (None, None) => {}
        }
        if let Some(nh) = r.bgp_next_hop {
            let _ = writeln!(s, "\tBGP.next_hop: {nh}");
        }
        if let Some(path) = &r.as_path {
            let _ = writeln!(s, "\tBGP.as_path: {path}");
        }
    }
    s
}

// ---- kubectl List JSON ------------------------------------------------------

fn list(items: impl Iterator<Item = Value>) -> Value {
    json!({ "apiVersion": "v1", "kind": "List", "items": items.collect::<Vec<_>>(), "metadata": { "resourceVersion": "" } })
}

fn k8s_node(n: &cnictl_model::K8sNode) -> Value {
    let mut spec = serde_json::Map::new();
    if let Some(first) = n.pod_cidrs.first() {
        spec.insert("podCIDR".into(), json!(first));
        spec.insert("podCIDRs".into(), json!(n.pod_cidrs));
    }
    let addresses: Vec<Value> = n
        .internal_ips
        .iter()
        .map(|ip| json!({"type": "InternalIP", "address": ip}))
        .collect();
    let mut status = json!({ "addresses": addresses });
    if let Some(ready) = n.ready {
        status["conditions"] =
            json!([{ "type": "Ready", "status": if ready { "True" } else { "False" } }]);
    }
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": { "name": n.name, "annotations": n.annotations },
        "spec": spec, "status": status,
    })
}

fn k8s_pod(p: &cnictl_model::Pod) -> Value {
    let mut spec = json!({ "hostNetwork": p.host_network });
    if let Some(node) = &p.node {
        spec["nodeName"] = json!(node);
    }
    let mut status = json!({ "phase": p.phase });
    if let Some(first) = p.ips.first() {
        status["podIP"] = json!(first);
        status["podIPs"] = json!(p
            .ips
            .iter()
            .map(|ip| json!({ "ip": ip }))
            .collect::<Vec<_>>());
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": p.name, "namespace": p.namespace, "labels": p.labels },
        "spec": spec, "status": status,
    })
}

fn k8s_service(s: &cnictl_model::Service) -> Value {
    let ports: Vec<Value> = s
        .ports
        .iter()
        .map(|p| {
            let mut o = json!({ "protocol": p.protocol, "port": p.port });
            if let Some(n) = &p.name {
                o["name"] = json!(n);
            }
            if let Some(t) = &p.target_port {
                o["targetPort"] = match t.parse::<u32>() {
                    Ok(n) if n.to_string() == *t => json!(n),
                    _ => json!(t),
                };
            }
            if let Some(np) = p.node_port {
                o["nodePort"] = json!(np);
            }
            o
        })
        .collect();
    let mut spec = json!({ "type": s.service_type, "ports": ports, "selector": s.selector });
    match s.cluster_ips.first() {
        Some(first) => {
            spec["clusterIP"] = json!(first);
            spec["clusterIPs"] = json!(s.cluster_ips);
        }
        None => spec["clusterIP"] = json!("None"),
    }
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": { "name": s.name, "namespace": s.namespace },
        "spec": spec,
    })
}

fn k8s_slice(e: &cnictl_model::EndpointSlice) -> Value {
    let mut labels = BTreeMap::new();
    if let Some(svc) = &e.service {
        labels.insert("kubernetes.io/service-name", svc.as_str());
    }
    let endpoints: Vec<Value> = e
        .endpoints
        .iter()
        .map(|ep| {
            let mut o = json!({ "addresses": ep.addresses, "conditions": { "ready": ep.ready } });
            if let Some(n) = &ep.node {
                o["nodeName"] = json!(n);
            }
            if let Some(pod) = &ep.pod {
                let (ns, name) = pod.split_once('/').unwrap_or(("", pod));
                o["targetRef"] = json!({ "kind": "Pod", "namespace": ns, "name": name });
            }
            o
        })
        .collect();
    let ports: Vec<Value> = e
        .ports
        .iter()
        .map(|p| {
            let mut o = json!({ "protocol": p.protocol, "port": p.port });
            if let Some(n) = &p.name {
                o["name"] = json!(n);
            }
            o
        })
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": { "name": e.name, "namespace": e.namespace, "labels": labels },
        "addressType": e.address_type, "endpoints": endpoints, "ports": ports,
    })
}

/// Writes one node's part of a bundle, `BUNDLE/nodes/<node>/…`, into
/// `bundle` (created when absent; other nodes and k8s/ are left alone), as
/// `cnictl collect --bundle-dir` does on each node. The node directory is
/// built beside its final place and swapped in, so a reader never sees half
/// of it.
pub fn write_node_dir(node: &NodeSnapshot, bundle: &Path) -> Result<(), WriteError> {
    check_name(&node.name)?;
    let nodes = bundle.join("nodes");
    fs::create_dir_all(&nodes).map_err(io_err(&nodes))?;
    let dir = nodes.join(&node.name);
    let existing = dir.is_dir();
    let tmp = sibling(&dir, "tmp");
    let result = write_node(node, &tmp).and_then(|()| swap_into_place(&tmp, &dir, existing));
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}
