//! Bundle import: a directory of standard command outputs (README "Bundles"
//! layout) → [`ClusterSnapshot`].
//!
//! ```text
//! k8s/nodes.json k8s/pods.json                       required
//! k8s/services.json k8s/endpointslices.json          optional
//! k8s/networkpolicies.json k8s/namespaces.json        optional
//! k8s/bgpconfigurations.json k8s/bgppeers.json         optional (Calico)
//! k8s/ippools.json k8s/blockaffinities.json            optional (Calico)
//! (`load_objects` reads k8s/ alone, nodes.json optional: NetworkPolicy
//! intent needs no dataplane)
//! nodes/<node>/ip-link.json ip-addr.json ip-route.json   required per node
//! nodes/<node>/ip-rule.json ip-neigh.json bridge-fdb.json ipvsadm.txt
//!   bird-protocols.txt bird-routes.txt sysctl.txt        optional
//!   iptables-save.txt ip6tables-save.txt iptables-legacy-save.txt
//!   ip6tables-legacy-save.txt nft-ruleset.json ipset-save.txt
//!   tool-versions.txt                                    optional (netfilter)
//!   ethtool.txt uname.txt                                optional (offloads, kernel)
//!   cilium/{status,ipcache,tunnel,endpoints,lb}.json     optional (`cilium-dbg … -o json`)
//! nodes/<node>/pods/<namespace>_<pod>/ip-{addr,route,link}.json  optional
//! ```
//!
//! An absent optional file gives `None` ("not collected"), never a guess;
//! a node directory holding no bundle file at all is a node not collected
//! (checks list it as skipped); unknown files and dot-directories are
//! ignored. Nodes or pods listed twice and node directories whose names
//! differ only by case are errors. Every bad file is
//! reported at once: [`BundleError`] lists each with its bundle-relative
//! path, line, column and message. Files come through a [`BundleSource`]:
//! a directory ([`DirSource`], which refuses files over a size limit and
//! symlinks leading outside the bundle) or memory ([`MemSource`], for the
//! demo bundle embedded in the binary). Nodes load in parallel (rayon).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use cnictl_model::netfilter::{Netfilter, Source, Table};
use cnictl_model::{
    Addr, Bgp, ClusterSnapshot, FdbEntry, K8s, Link, Neigh, NodeSnapshot, Notice, Route, Rule,
};
use rayon::prelude::*;

mod infer;
mod only;
mod pods;

pub use only::Only;

use pods::{load_pods, match_unnamed, unmatchable, NodeLoad};

use cnictl_formats::text::FromText;
use cnictl_formats::{self as formats, ParseError};

/// Files larger than this are refused (checked before reading).
pub const MAX_FILE_SIZE: u64 = 512 * 1024 * 1024;

/// Where a bundle's files come from. Paths are bundle-relative and use `/`.
pub trait BundleSource: Sync {
    /// A label for [`ClusterSnapshot::source`] (`bundle:DIR`, `memory:demo`).
    fn describe(&self) -> String;
    /// The file's text, or `Ok(None)` when it does not exist.
    fn read(&self, rel: &str) -> Result<Option<String>, SourceError>;
    /// Names of the subdirectories of `rel`, sorted, without dot-names;
    /// empty when `rel` does not exist.
    fn subdirs(&self, rel: &str) -> Result<Vec<String>, SourceError>;
}

/// Why a file could not be read from its source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("file is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: u64, limit: u64 },
    #[error("symlink leads outside the bundle")]
    Escapes,
    #[error("not valid UTF-8 text")]
    NotUtf8,
    #[error("not a regular file")]
    NotAFile,
    #[error("{0}")]
    Io(String),
}

/// One failing file of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// Bundle-relative path (`nodes/node-1/ip-route.json`).
    pub path: String,
    pub kind: FileErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileErrorKind {
    #[error("required file is missing")]
    Missing,
    #[error("{0}")]
    Source(#[from] SourceError),
    #[error("{0}")]
    Parse(#[from] ParseError),
    /// Well-formed but inconsistent (a node listed twice, node dirs that
    /// differ only by case).
    #[error("{0}")]
    Invalid(String),
}

/// The iproute2 listings a node (or pod) dir may hold as JSON (`NAME.json`)
/// or as the text people paste (`NAME.txt`, or text inside `NAME.json`).
const IPROUTE_FILES: [&str; 6] = [
    "ip-link",
    "ip-addr",
    "ip-route",
    "ip-rule",
    "ip-neigh",
    "bridge-fdb",
];

impl FileError {
    /// A bounded code for metrics labels.
    pub fn code(&self) -> &'static str {
        match &self.kind {
            FileErrorKind::Missing => "missing",
            FileErrorKind::Source(SourceError::TooLarge { .. }) => "too_large",
            FileErrorKind::Source(SourceError::Escapes) => "escapes_bundle",
            FileErrorKind::Source(SourceError::NotUtf8) => "not_utf8",
            FileErrorKind::Source(SourceError::NotAFile) => "not_a_file",
            FileErrorKind::Source(SourceError::Io(_)) => "io",
            FileErrorKind::Parse(_) => "decode",
            FileErrorKind::Invalid(_) => "invalid",
        }
    }

    pub fn line(&self) -> Option<usize> {
        match &self.kind {
            FileErrorKind::Parse(p) => Some(p.line()),
            _ => None,
        }
    }

    pub fn column(&self) -> Option<usize> {
        match &self.kind {
            FileErrorKind::Parse(p) => Some(p.column()),
            _ => None,
        }
    }
}

/// `path:line:column: message`, as compilers print it, so editors jump there.
impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            FileErrorKind::Parse(p) => {
                write!(
                    f,
                    "{}:{}:{}: {}",
                    self.path,
                    p.line(),
                    p.column(),
                    p.message()
                )
            }
            other => write!(f, "{}: {other}", self.path),
        }
    }
}

/// Every file that failed, sorted by path. Display prints one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", lines(.errors))]
pub struct BundleError {
    pub errors: Vec<FileError>,
}

fn lines(errors: &[FileError]) -> String {
    let mut s = format!("invalid bundle ({} bad file(s)):", errors.len());
    for e in errors {
        s.push_str("\n  ");
        s.push_str(&e.to_string());
    }
    s
}

impl BundleError {
    fn single(path: &str, kind: FileErrorKind) -> Self {
        BundleError {
            errors: vec![FileError {
                path: path.to_string(),
                kind,
            }],
        }
    }
}

/// Loads the bundle in directory `dir`.
pub fn load_dir(dir: &Path) -> Result<ClusterSnapshot, BundleError> {
    if !dir.is_dir() {
        let msg = format!("bundle directory {} not found", dir.display());
        return Err(BundleError::single(".", SourceError::Io(msg).into()));
    }
    load(&DirSource::new(dir))
}

/// Loads a bundle from any source, reporting all bad files at once.
pub fn load(src: &dyn BundleSource) -> Result<ClusterSnapshot, BundleError> {
    let mut errors = Vec::new();
    let names = node_names(src, &mut errors);
    errors.extend(case_collisions(&names));
    // No k8s/ at all (node dumps alone): the objects are inferred from the
    // dumps and the snapshot says so. A k8s/ that lacks nodes.json stays an
    // error naming the file: that is a collection gone wrong.
    let inferring = !has_dir(src, "k8s") && has_dir(src, "nodes");
    let (k8s, nodes) = rayon::join(
        || match inferring {
            true => Ok(K8s::default()),
            false => load_k8s(src, true),
        },
        || {
            names
                .par_iter()
                .map(|n| load_node(src, n))
                .collect::<Vec<_>>()
        },
    );
    let k8s = collect_errors(k8s, &mut errors);
    let mut snap = ClusterSnapshot::new(src.describe());
    for node in nodes {
        // `None`: an empty node dir, i.e. not collected (checks skip it).
        if let Some(Some(mut n)) = collect_errors(node, &mut errors) {
            match &k8s {
                Some(k) if !inferring => match_unnamed(k, &mut n, &mut errors, &mut snap.notices),
                _ => unmatchable(&mut n, &mut snap.notices),
            }
            snap.notices.append(&mut n.notices);
            snap.nodes.insert(n.node.name.clone(), n.node);
        }
    }
    if let Some(k) = &k8s {
        errors.extend(duplicate_objects(k));
    }
    if !names.is_empty() && snap.nodes.is_empty() && errors.is_empty() {
        errors.push(FileError {
            path: "nodes/".into(),
            kind: FileErrorKind::Invalid("every node directory is empty".into()),
        });
    }
    if !errors.is_empty() {
        errors.sort_by(|a, b| a.path.cmp(&b.path));
        return Err(BundleError { errors });
    }
    snap.k8s = k8s.unwrap_or_default();
    if inferring {
        infer::infer_k8s(&mut snap);
    }
    Ok(snap)
}

/// The node directories; none (or an unreadable `nodes/`) is an error.
fn node_names(src: &dyn BundleSource, errors: &mut Vec<FileError>) -> Vec<String> {
    let (names, why) = match src.subdirs("nodes") {
        Ok(n) if n.is_empty() => (n, SourceError::Io("no node directories".into())),
        Ok(n) => return n,
        Err(e) => (Vec::new(), e),
    };
    errors.push(FileError {
        path: "nodes/".into(),
        kind: why.into(),
    });
    names
}

/// Whether the bundle's top level has directory `name`.
fn has_dir(src: &dyn BundleSource, name: &str) -> bool {
    src.subdirs("").is_ok_and(|d| d.iter().any(|n| n == name))
}

/// Node dirs whose names differ only by case (`node-1`, `Node-1`): node
/// names are lower-case DNS names, so one of them is a stray copy, and
/// analysing both would report the copy as a foreign node.
fn case_collisions(names: &[String]) -> Vec<FileError> {
    let mut groups: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for n in names {
        groups.entry(n.to_lowercase()).or_default().push(n);
    }
    let mut out = Vec::new();
    for (lower, group) in groups.into_iter().filter(|(_, g)| g.len() > 1) {
        // Keep the lower-case spelling (a real node name) and flag the rest.
        let keep = group
            .iter()
            .copied()
            .find(|n| *n == lower)
            .unwrap_or(group[0]);
        for n in group.into_iter().filter(|n| *n != keep) {
            out.push(FileError {
                path: format!("nodes/{n}/"),
                kind: FileErrorKind::Invalid(format!(
                    "differs from nodes/{keep}/ only by case (node names are lower-case)"
                )),
            });
        }
    }
    out
}

/// Nodes or pods listed more than once: `kubectl get` never does that, so
/// the file was concatenated or hand-edited and cannot be trusted.
fn duplicate_objects(k: &K8s) -> Vec<FileError> {
    let nodes = duplicates(k.nodes.iter().map(|n| n.name.clone()));
    let pods = duplicates(k.pods.iter().map(|p| format!("{}/{}", p.namespace, p.name)));
    let err = |path: &str, what: &str, (name, count): (String, usize)| FileError {
        path: path.to_string(),
        kind: FileErrorKind::Invalid(format!("{what} {name:?} is listed {count} times")),
    };
    let mut out: Vec<FileError> = nodes
        .into_iter()
        .map(|d| err("k8s/nodes.json", "node", d))
        .collect();
    out.extend(pods.into_iter().map(|d| err("k8s/pods.json", "pod", d)));
    out
}

/// Names seen more than once, with their counts, sorted.
fn duplicates(names: impl Iterator<Item = String>) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for n in names {
        *counts.entry(n).or_default() += 1;
    }
    counts.into_iter().filter(|(_, c)| *c > 1).collect()
}

fn collect_errors<T>(r: Result<T, Vec<FileError>>, errors: &mut Vec<FileError>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            errors.extend(e);
            None
        }
    }
}

/// Reads and parses one file: `Ok(None)` when absent, recording failures.
struct Reader<'a> {
    src: &'a dyn BundleSource,
    errors: Vec<FileError>,
    /// Files that existed (parsed or not): 0 means an empty directory.
    found: usize,
    /// What the text listings lacked.
    notices: Vec<Notice>,
}

impl<'a> Reader<'a> {
    fn new(src: &'a dyn BundleSource) -> Self {
        Reader {
            src,
            errors: Vec::new(),
            found: 0,
            notices: Vec::new(),
        }
    }

    fn optional<T>(
        &mut self,
        path: &str,
        parse: impl Fn(&str) -> Result<T, ParseError>,
    ) -> Option<T> {
        self.read(path, false, parse)
    }

    fn required<T>(
        &mut self,
        path: &str,
        parse: impl Fn(&str) -> Result<T, ParseError>,
    ) -> Option<T> {
        self.read(path, true, parse)
    }

    /// Reads once and parses; an absent file is an error only if required.
    fn read<T>(
        &mut self,
        path: &str,
        required: bool,
        parse: impl Fn(&str) -> Result<T, ParseError>,
    ) -> Option<T> {
        let text = match self.src.read(path) {
            Ok(Some(t)) => t,
            Ok(None) if required => return self.fail(path, FileErrorKind::Missing),
            Ok(None) => return None,
            Err(e) => return self.fail(path, e.into()),
        };
        self.found += 1;
        match parse(&text) {
            Ok(v) => Some(v),
            Err(e) => self.fail(path, e.into()),
        }
    }

    /// An iproute2 listing `STEM` of `dir`: `STEM.json` (JSON, or its text
    /// form pasted there) or `STEM.txt` (text); both present is an error.
    /// What a text form lacks becomes a notice naming the file.
    fn iproute<T>(
        &mut self,
        dir: &str,
        stem: &str,
        required: bool,
        json: impl Fn(&str) -> Result<T, ParseError>,
        text: impl Fn(&str) -> Result<FromText<T>, ParseError>,
    ) -> Option<T> {
        debug_assert!(IPROUTE_FILES.contains(&stem));
        let (jpath, tpath) = (format!("{dir}/{stem}.json"), format!("{dir}/{stem}.txt"));
        let Some((path, dump)) = self.either(&jpath, &tpath)? else {
            return match required {
                true => self.fail(&jpath, FileErrorKind::Missing),
                false => None,
            };
        };
        self.found += 1;
        if path == jpath && !formats::text::is_text(&dump) {
            return json(&dump)
                .map_err(|e| self.fail::<()>(&path, e.into()))
                .ok();
        }
        match text(&dump) {
            Ok(v) => {
                let lacks = v.lacks.into_iter().map(|m| {
                    Notice::new(
                        Notice::TEXT_DUMP,
                        &path,
                        format!("a text listing without {m}"),
                    )
                });
                self.notices.extend(lacks);
                Some(v.value)
            }
            Err(e) => self.fail(&path, e.into()),
        }
    }

    /// The text of `json` or `txt`, whichever exists: `Some(None)` when
    /// neither does, `None` after recording an error.
    fn either(&mut self, json: &str, txt: &str) -> Option<Option<(String, String)>> {
        let j = self
            .src
            .read(json)
            .map_err(|e| self.fail::<()>(json, e.into()))
            .ok()?;
        let t = self
            .src
            .read(txt)
            .map_err(|e| self.fail::<()>(txt, e.into()))
            .ok()?;
        match (j, t) {
            (Some(_), Some(_)) => self.fail(
                txt,
                FileErrorKind::Invalid(format!("{json} is there too: keep one of the two")),
            ),
            (Some(d), None) => Some(Some((json.to_string(), d))),
            (None, Some(d)) => Some(Some((txt.to_string(), d))),
            (None, None) => Some(None),
        }
    }

    fn fail<T>(&mut self, path: &str, kind: FileErrorKind) -> Option<T> {
        self.errors.push(FileError {
            path: path.to_string(),
            kind,
        });
        None
    }

    fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, Vec<FileError>> {
        if self.errors.is_empty() {
            Ok(value())
        } else {
            Err(self.errors)
        }
    }
}

/// The iproute2 listings of a node dir (or, without the last three, of a
/// pod dir).
#[derive(Default)]
struct Listings {
    links: Option<Vec<Link>>,
    addrs: Option<Vec<Addr>>,
    routes: Option<Vec<Route>>,
    rules: Option<Vec<Rule>>,
    neighbours: Option<Vec<Neigh>>,
    fdb: Option<Vec<FdbEntry>>,
}

impl Reader<'_> {
    /// `ip-link`, `ip-addr` and `ip-route` (required in a node dir:
    /// `node`), and in a node dir `ip-rule`, `ip-neigh` and `bridge-fdb`.
    fn listings(&mut self, dir: &str, node: bool) -> Listings {
        use formats::text as t;
        let mut l = Listings {
            links: self.iproute(
                dir,
                "ip-link",
                node,
                formats::parse_links,
                t::parse_links_text,
            ),
            addrs: self.iproute(
                dir,
                "ip-addr",
                node,
                formats::parse_addrs,
                t::parse_addrs_text,
            ),
            routes: self.iproute(
                dir,
                "ip-route",
                node,
                formats::parse_routes,
                t::parse_routes_text,
            ),
            ..Listings::default()
        };
        if node {
            l.rules = self.iproute(
                dir,
                "ip-rule",
                false,
                formats::parse_rules,
                t::parse_rules_text,
            );
            let neigh = (formats::parse_neighbours, t::parse_neighbours_text);
            l.neighbours = self.iproute(dir, "ip-neigh", false, neigh.0, neigh.1);
            l.fdb = self.iproute(
                dir,
                "bridge-fdb",
                false,
                formats::parse_fdb,
                t::parse_fdb_text,
            );
        }
        l
    }
}

/// A bundle's Kubernetes objects alone (`k8s/`; `nodes.json` optional), for
/// questions of intent (NetworkPolicy) that need no dataplane: what a
/// policy author has before anything runs. Node directories are ignored.
pub fn load_objects(src: &dyn BundleSource) -> Result<ClusterSnapshot, BundleError> {
    let mut snap = ClusterSnapshot::new(src.describe());
    match load_k8s(src, false) {
        Ok(k8s) => {
            snap.k8s = k8s;
            Ok(snap)
        }
        Err(errors) => Err(BundleError { errors }),
    }
}

/// `k8s/nodes.json` is required when there are node dumps to tie to it.
fn load_k8s(src: &dyn BundleSource, with_nodes: bool) -> Result<K8s, Vec<FileError>> {
    let mut r = Reader::new(src);
    let nodes = r.read("k8s/nodes.json", with_nodes, formats::parse_nodes);
    let pods = r.required("k8s/pods.json", formats::parse_pods);
    let services = r.optional("k8s/services.json", formats::parse_services);
    let endpoint_slices = r.optional("k8s/endpointslices.json", formats::parse_endpointslices);
    let network_policies = r.optional("k8s/networkpolicies.json", formats::parse_networkpolicies);
    let namespaces = r.optional("k8s/namespaces.json", formats::parse_namespaces);
    let calico = load_calico(&mut r);
    r.finish(|| K8s {
        nodes: nodes.unwrap_or_default(),
        pods: pods.unwrap_or_default(),
        services,
        endpoint_slices,
        network_policies,
        namespaces,
        calico,
    })
}

/// Calico's custom resources, each optional (a cluster without Calico, or
/// a collection without them: `None`).
fn load_calico(r: &mut Reader<'_>) -> cnictl_model::CalicoObjects {
    cnictl_model::CalicoObjects {
        bgp_configurations: r.optional(
            "k8s/bgpconfigurations.json",
            formats::parse_bgpconfigurations,
        ),
        bgp_peers: r.optional("k8s/bgppeers.json", formats::parse_bgppeers),
        ip_pools: r.optional("k8s/ippools.json", formats::parse_ippools),
        block_affinities: r.optional("k8s/blockaffinities.json", formats::parse_blockaffinities),
    }
}

/// One node dir; `Ok(None)` when it holds no bundle file at all (the
/// collection failed there): the node is then "not collected", which the
/// checks list as skipped, instead of failing the whole bundle.
fn load_node(src: &dyn BundleSource, name: &str) -> Result<Option<NodeLoad>, Vec<FileError>> {
    let dir = format!("nodes/{name}");
    // A node dir that is a symlink out of the bundle: one error for the dir
    // rather than one per file inside it.
    if let Err(e) = src.subdirs(&dir) {
        return Err(vec![FileError {
            path: format!("{dir}/"),
            kind: e.into(),
        }]);
    }
    let mut r = Reader::new(src);
    let l = r.listings(&dir, true);
    let ipvs = r.optional(&format!("{dir}/ipvsadm.txt"), formats::parse_ipvsadm);
    let bgp = r.optional(
        &format!("{dir}/bird-protocols.txt"),
        formats::parse_bird_protocols,
    );
    let bird_routes = r.optional(
        &format!("{dir}/bird-routes.txt"),
        formats::parse_bird_routes,
    );
    let sysctls = r.optional(&format!("{dir}/sysctl.txt"), formats::parse_sysctl);
    let netfilter = load_netfilter(&mut r, &dir);
    let offloads = r.optional(
        &format!("{dir}/ethtool.txt"),
        formats::parse_ethtool_features,
    );
    let kernel = r.optional(&format!("{dir}/uname.txt"), formats::parse_uname);
    let cilium = load_cilium(&mut r, &dir);
    let (pods, unnamed) = load_pods(&mut r, &dir);
    let empty = r.found == 0 && r.errors.iter().all(|e| e.kind == FileErrorKind::Missing);
    if empty {
        return Ok(None);
    }
    let notices = std::mem::take(&mut r.notices);
    let node = r.finish(|| NodeSnapshot {
        name: name.to_string(),
        links: l.links.unwrap_or_default(),
        addrs: l.addrs.unwrap_or_default(),
        routes: l.routes.unwrap_or_default(),
        rules: l.rules,
        neighbours: l.neighbours,
        fdb: l.fdb,
        ipvs,
        // Routes without protocols are not enough to judge sessions:
        // BGP counts as collected only when bird-protocols.txt is there.
        bgp: bgp.map(|b| Bgp {
            routes: bird_routes,
            ..b
        }),
        sysctls,
        pods,
        netfilter,
        offloads,
        kernel,
        cilium,
    })?;
    Ok(Some(NodeLoad {
        node,
        notices,
        unnamed,
    }))
}

/// The `cilium/` files of a node dir: `None` when none of them is there.
fn load_cilium(r: &mut Reader<'_>, dir: &str) -> Option<cnictl_model::Cilium> {
    let path = |f: &str| format!("{dir}/cilium/{f}.json");
    let c = cnictl_model::Cilium {
        status: r.optional(&path("status"), formats::parse_cilium_status),
        ipcache: r.optional(&path("ipcache"), formats::parse_cilium_ipcache),
        tunnel: r.optional(&path("tunnel"), formats::parse_cilium_tunnel),
        endpoints: r.optional(&path("endpoints"), formats::parse_cilium_endpoints),
        lb: r.optional(&path("lb"), formats::parse_cilium_lb),
    };
    (c != cnictl_model::Cilium::default()).then_some(c)
}

/// The netfilter files of a node dir: `None` when none of them is there.
/// A bad file is an error naming it, its line and what was expected.
fn load_netfilter(r: &mut Reader<'_>, dir: &str) -> Option<Netfilter> {
    let mut nf = Netfilter::default();
    for source in Source::IPTABLES {
        let parse = |t: &str| formats::iptables::parse_iptables_save(t, source);
        add_tables(
            &mut nf,
            source,
            r.optional(&format!("{dir}/{}", source.file()), parse),
        );
    }
    let nft = r.optional(&format!("{dir}/nft-ruleset.json"), |t| {
        formats::nft::parse_nft_ruleset(t).map(|tables| (tables, t.to_string()))
    });
    let (tables, raw) = nft.unzip();
    add_tables(&mut nf, Source::NftRuleset, tables);
    nf.nft_json = raw;
    nf.ipsets = r.optional(
        &format!("{dir}/ipset-save.txt"),
        formats::ipset::parse_ipset_save,
    );
    nf.tool_versions = r.optional(&format!("{dir}/tool-versions.txt"), |t| {
        Ok(t.trim().to_string())
    });
    let collected = !nf.sources.is_empty() || nf.ipsets.is_some();
    collected.then_some(nf)
}

fn add_tables(nf: &mut Netfilter, source: Source, tables: Option<Vec<Table>>) {
    if let Some(tables) = tables {
        nf.tables.extend(tables);
        nf.sources.push(source);
    }
}

/// A bundle directory on disk.
#[derive(Debug, Clone)]
pub struct DirSource {
    root: PathBuf,
    /// The root with symlinks resolved, to check that files stay inside.
    canonical: PathBuf,
    max_file_size: u64,
}

impl DirSource {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let canonical = fs::canonicalize(&root).unwrap_or_else(|_| root.clone());
        DirSource {
            root,
            canonical,
            max_file_size: MAX_FILE_SIZE,
        }
    }

    /// Overrides the [`MAX_FILE_SIZE`] limit.
    pub fn with_max_file_size(mut self, bytes: u64) -> Self {
        self.max_file_size = bytes;
        self
    }

    /// The real path of `rel`, `Ok(None)` when it does not exist, an error
    /// when it resolves outside the bundle.
    fn resolve(&self, rel: &str) -> Result<Option<PathBuf>, SourceError> {
        match fs::canonicalize(self.root.join(rel)) {
            Ok(p) if p.starts_with(&self.canonical) => Ok(Some(p)),
            Ok(_) => Err(SourceError::Escapes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SourceError::Io(e.to_string())),
        }
    }
}

impl BundleSource for DirSource {
    fn describe(&self) -> String {
        format!("bundle:{}", self.root.display())
    }

    fn read(&self, rel: &str) -> Result<Option<String>, SourceError> {
        let Some(path) = self.resolve(rel)? else {
            return Ok(None);
        };
        // Bounded: the size is checked before reading and the read stops
        // past the limit (a file may grow in between).
        use crate::files::{read_text, ReadError};
        match read_text(&path, self.max_file_size) {
            Ok(s) => Ok(Some(s)),
            Err(ReadError::NotAFile) => Err(SourceError::NotAFile),
            Err(ReadError::TooLarge { size, limit }) => Err(SourceError::TooLarge { size, limit }),
            Err(ReadError::Grew { limit }) => Err(SourceError::TooLarge {
                size: limit + 1,
                limit,
            }),
            Err(ReadError::NotUtf8) => Err(SourceError::NotUtf8),
            Err(ReadError::Io(e)) => Err(SourceError::Io(e)),
        }
    }

    fn subdirs(&self, rel: &str) -> Result<Vec<String>, SourceError> {
        let Some(path) = self.resolve(rel)? else {
            return Ok(Vec::new());
        };
        let entries = fs::read_dir(&path).map_err(|e| SourceError::Io(e.to_string()))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| SourceError::Io(e.to_string()))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            // Follows symlinks: a linked node dir counts when it stays inside.
            if fs::metadata(entry.path()).is_ok_and(|m| m.is_dir()) {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }
}

/// A bundle held in memory: relative path → file text.
#[derive(Debug, Clone, Default)]
pub struct MemSource {
    pub label: String,
    pub files: BTreeMap<String, String>,
}

impl MemSource {
    pub fn new(label: impl Into<String>, files: BTreeMap<String, String>) -> Self {
        MemSource {
            label: label.into(),
            files,
        }
    }
}

impl BundleSource for MemSource {
    fn describe(&self) -> String {
        self.label.clone()
    }

    fn read(&self, rel: &str) -> Result<Option<String>, SourceError> {
        Ok(self.files.get(rel).cloned())
    }

    fn subdirs(&self, rel: &str) -> Result<Vec<String>, SourceError> {
        let prefix = match rel.trim_end_matches('/') {
            "" | "." => String::new(),
            r => format!("{r}/"),
        };
        let dirs: BTreeSet<String> = self
            .files
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, _)| {
                k[prefix.len()..]
                    .split_once('/')
                    .map(|(d, _)| d.to_string())
            })
            .filter(|d| !d.is_empty() && !d.starts_with('.'))
            .collect();
        Ok(dirs.into_iter().collect())
    }
}
