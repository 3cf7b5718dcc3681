//! Live collectors: read a node's dataplane from its kernel (rtnetlink,
//! generic-netlink IPVS, /proc/sys) and its BGP daemon (BIRD's control
//! socket) into the same [`NodeSnapshot`] the bundle importer builds from
//! `ip -j` / `bridge -j` dumps of that node.
//!
//! Read-only: every request is a dump or a get. Another network namespace
//! is read from a dedicated thread that enters it (see [`netns`]); the
//! caller's thread never changes namespace.

mod bird;
mod host;
mod ipvs;
mod netfilter;
mod netns;
mod nl;
mod routeget;
mod rtnl;
mod sysctl;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use cnictl_model::{Addr, Bgp, Link, NodeSnapshot, PodNetns, Route};

pub use bird::{read_bird, read_bird_raw, BirdError, BirdReply};
pub use netns::{list_named_netns, pod_of_netns, NetnsTarget, NETNS_DIRS};
pub use routeget::{route_get, RouteGet, RouteGetReply};
pub use rtnl::{record_dumps, RawDumps};

use rtnl::Rtnl;

/// What to collect, and where.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// The namespace to read; `None` is the caller's own.
    pub netns: Option<NetnsTarget>,
    /// The node name to record; defaults to the netns name, else the host name.
    pub node_name: Option<String>,
    /// Also collect every named netns (/run/netns, /var/run/netns) as a pod.
    pub pods: bool,
    /// Only pod namespaces whose name starts with this.
    pub pod_prefix: Option<String>,
    /// Read IPVS virtual services (genetlink, then /proc/net/ip_vs).
    pub ipvs: bool,
    /// Read forwarding / rp_filter / proxy_arp sysctls.
    pub sysctls: bool,
    /// Run the node's netfilter list commands (iptables-save, nft, ipset).
    pub netfilter: bool,
    /// BIRD's control socket, when the node runs BIRD.
    pub bird_socket: Option<PathBuf>,
    /// Connect / read timeout for the BIRD socket.
    pub bird_timeout: Duration,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            netns: None,
            node_name: None,
            pods: false,
            pod_prefix: None,
            ipvs: true,
            sysctls: true,
            netfilter: true,
            bird_socket: None,
            bird_timeout: Duration::from_secs(5),
        }
    }
}

/// A node snapshot plus what the collector wants the user to know about
/// sections it could not fill (no IPVS in this kernel, BIRD not answering).
#[derive(Debug, Clone, PartialEq)]
pub struct Collected {
    pub node: NodeSnapshot,
    pub notes: Vec<String>,
}

/// Errors of the live collectors.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("cannot enter network namespace {path}: {source}")]
    Netns {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open netlink socket: {source}")]
    Socket { source: std::io::Error },
    #[error("netlink i/o failed while dumping {what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("kernel refused the {what} dump: {}", std::io::Error::from_raw_os_error(*errno))]
    Kernel { what: &'static str, errno: i32 },
    #[error("{what} dump was interrupted by concurrent changes {attempts} times in a row")]
    DumpInterrupted { what: &'static str, attempts: usize },
    #[error("malformed netlink reply while dumping {what}: {reason}")]
    Decode { what: &'static str, reason: String },
    #[error("cannot read {path}: {source}")]
    Proc {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid {path} at line {line}: {reason}")]
    ProcFormat {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("collector thread panicked")]
    ThreadPanicked,
}

impl LiveError {
    /// A bounded error code for metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            LiveError::Netns { source, .. }
            | LiveError::Socket { source }
            | LiveError::Io { source, .. }
            | LiveError::Proc { source, .. }
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                "permission_denied"
            }
            LiveError::Kernel { errno, .. } if *errno == libc::EPERM || *errno == libc::EACCES => {
                "permission_denied"
            }
            LiveError::Netns { .. } => "netns",
            LiveError::Socket { .. } | LiveError::Io { .. } => "io",
            LiveError::Kernel { .. } => "kernel",
            LiveError::DumpInterrupted { .. } => "dump_interrupted",
            LiveError::Decode { .. } | LiveError::ProcFormat { .. } => "decode",
            LiveError::Proc { .. } => "proc",
            LiveError::ThreadPanicked => "internal",
        }
    }
}

/// Reads one node: links, addresses, routes of every table, rules,
/// neighbours, bridge FDB, sysctls, IPVS and BGP as the options ask.
pub fn collect_node(opts: &LiveOptions) -> Result<NodeSnapshot, LiveError> {
    collect(opts).map(|c| c.node)
}

/// [`collect_node`] with the notes about sections left empty.
pub fn collect(opts: &LiveOptions) -> Result<Collected, LiveError> {
    let (mut node, mut notes) = netns::run_in(opts.netns.as_ref(), || read_node(opts))?;
    node.name = node_name(opts);
    if opts.pods {
        node.pods = collect_pods(opts)?;
    }
    if let Some(sock) = &opts.bird_socket {
        node.bgp = read_bgp(sock, opts.bird_timeout, &mut notes);
    }
    Ok(Collected { node, notes })
}

/// The netfilter state (with counters) of one namespace, by the same list
/// commands as [`collect`]: what `explain --probe` reads before and after
/// its probe to see which rule's counter moved. Read-only.
pub fn read_netfilter_in(
    netns: Option<&NetnsTarget>,
) -> Result<(Option<cnictl_model::netfilter::Netfilter>, Vec<String>), LiveError> {
    netns::run_in(netns, || {
        let mut notes = Vec::new();
        let nf = netfilter::read_netfilter(&mut notes);
        Ok((nf, notes))
    })
}

/// BGP state from BIRD's socket; a BIRD that does not answer is a note.
fn read_bgp(socket: &Path, timeout: Duration, notes: &mut Vec<String>) -> Option<Bgp> {
    read_bird(socket, timeout)
        .map_err(|e| notes.push(format!("bgp not collected: {e}")))
        .ok()
}

fn node_name(opts: &LiveOptions) -> String {
    if let Some(n) = &opts.node_name {
        return n.clone();
    }
    match &opts.netns {
        Some(NetnsTarget::Name(n)) => n.clone(),
        _ => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "localhost".into()),
    }
}

/// Everything that is read inside the target namespace.
fn read_node(opts: &LiveOptions) -> Result<(NodeSnapshot, Vec<String>), LiveError> {
    let mut notes = Vec::new();
    let mut rt = Rtnl::open()?;
    let links = rt.links()?;
    let names = link_names(&links);
    let mut node = NodeSnapshot {
        addrs: rt.addrs(&names)?,
        routes: rt.routes(&names)?,
        rules: Some(rt.rules()?),
        neighbours: Some(rt.neighbours(&names)?),
        fdb: Some(rt.fdb(&names)?),
        ..NodeSnapshot::default()
    };
    if opts.sysctls {
        node.sysctls = Some(sysctl::read_sysctls(&links));
    }
    if opts.netfilter {
        node.netfilter = netfilter::read_netfilter(&mut notes);
    }
    node.kernel = host::read_kernel();
    node.offloads = host::read_offloads(&links, &mut notes);
    if opts.ipvs {
        match ipvs::read_ipvs()? {
            Ok(services) => node.ipvs = Some(services),
            Err(note) => notes.push(note),
        }
    }
    node.links = links;
    Ok((node, notes))
}

/// Every named netns (except the node's own) as a pod, keyed `namespace/name`.
fn collect_pods(opts: &LiveOptions) -> Result<BTreeMap<String, PodNetns>, LiveError> {
    let own = match &opts.netns {
        Some(t) => t.path(),
        None => PathBuf::from("/proc/thread-self/ns/net"),
    };
    let own_id = netns::ns_id(&own);
    let prefix = opts.pod_prefix.as_deref().unwrap_or("");
    let mut pods = BTreeMap::new();
    for name in list_named_netns()? {
        if !name.starts_with(prefix) {
            continue;
        }
        let Some(path) = netns::named_path(&name) else {
            continue;
        };
        if own_id.is_some() && netns::ns_id(&path) == own_id {
            continue;
        }
        let (links, addrs, routes) = netns::run_in(Some(&NetnsTarget::Path(path)), read_pod)?;
        let (namespace, pod) = pod_of_netns(&name);
        let key = format!("{namespace}/{pod}");
        pods.insert(
            key,
            PodNetns {
                namespace,
                name: pod,
                links,
                addrs,
                routes,
            },
        );
    }
    Ok(pods)
}

type PodParts = (Vec<Link>, Vec<Addr>, Vec<Route>);

fn read_pod() -> Result<PodParts, LiveError> {
    let mut rt = Rtnl::open()?;
    let links = rt.links()?;
    let names = link_names(&links);
    Ok((links, rt.addrs(&names)?, rt.routes(&names)?))
}

fn link_names(links: &[Link]) -> HashMap<u32, String> {
    links.iter().map(|l| (l.ifindex, l.name.clone())).collect()
}
