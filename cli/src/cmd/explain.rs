//! `cnictl explain SRC DST`: a path hop by hop through the reference
//! dataplane; with `--validate` / `--probe`, checked against the live
//! kernel and the wire.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use cnictl_analyzers::explain::{self, ExplainRequest, Explanation, Verdict};
use cnictl_analyzers::pipeline::Analysis;
use cnictl_analyzers::validate::{self, HopValidation, KernelAnswer, RouteQuery};
use cnictl_collect::live::{route_get, NetnsTarget, RouteGet, RouteGetReply};
use cnictl_dataplane::Dataplane;
use serde::Serialize;

use crate::args::{ExplainArgs, Output, Proto};
use crate::{out, resolve};

/// The explain document plus the live checks (`--output json`).
#[derive(Serialize)]
struct Checked<'a> {
    #[serde(flatten)]
    ex: &'a Explanation,
    #[serde(skip_serializing_if = "Option::is_none")]
    validation: Option<&'a [HopValidation]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    probe: Option<&'a probe::ProbeReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    live_notes: Vec<String>,
    /// What the importer said about the input (text dumps, inferred k8s/).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    notices: &'a [cnictl_model::Notice],
}

pub fn run(args: ExplainArgs) -> Result<ExitCode> {
    let req = request(&args)?;
    if let Some(k8s) = intent_source(&args)? {
        return intent_only(&args, &req, &k8s);
    }
    names_first(&args, &req)?;
    let (analysis, ex) = match path_nodes_only(&args, &req) {
        Some(done) => done,
        None => {
            let snap = resolve::load(&args.source, &args.cluster)?;
            let analysis = Analysis::new(Arc::new(snap));
            let ex = analysis.explain(&req)?;
            (analysis, ex)
        }
    };
    let dp = analysis.dataplane();
    let live = (args.validate || args.probe)
        .then(|| NetnsMap::resolve(&args))
        .transpose()?;
    let mut notes = Vec::new();
    let validation = match (&live, args.validate) {
        (Some(map), true) => Some(validate_live(dp, &ex, map, &mut notes)),
        _ => None,
    };
    let probed = match (&live, args.probe) {
        (Some(map), true) => Some(probe::run(dp, &ex, map, &args)?),
        _ => None,
    };
    let notices = &analysis.snapshot().notices;
    print(
        &args,
        &ex,
        (validation.as_deref(), probed.as_ref()),
        notes,
        notices,
    )?;
    Ok(live_exit_code(&ex, validation.as_deref(), probed.as_ref()))
}

/// On a bundle directory, resolve the names against `k8s/` before loading
/// any node: a typo fails in milliseconds, not after the whole dataplane.
fn names_first(args: &ExplainArgs, req: &ExplainRequest) -> Result<()> {
    let Some(dir) = args.source.bundle.as_deref().filter(|b| b.is_dir()) else {
        return Ok(());
    };
    let dir = resolve::inner_bundle_dir(dir);
    let src = cnictl_collect::bundle::DirSource::new(&dir);
    let Ok(objects) = cnictl_collect::bundle::load_objects(&src) else {
        return Ok(()); // the full load names the bad file
    };
    let dumped = node_dirs(&dir);
    let src = req.from_outside.is_none().then_some(req.src.as_str());
    explain::check_names(&objects.k8s, &dumped, src, &req.dst)?;
    Ok(())
}

/// On a bundle directory, the answer from the dumps of the nodes the path
/// starts and ends on only (`explain::endpoint_nodes`), kept when it was
/// delivered without leaving them; `None` asks the whole bundle. Worth it
/// only when those nodes are a small part of the bundle.
fn path_nodes_only(args: &ExplainArgs, req: &ExplainRequest) -> Option<(Analysis, Explanation)> {
    let live = args.validate || args.probe || req.from_outside.is_some() || req.via.is_some();
    let dir = args
        .source
        .bundle
        .as_deref()
        .filter(|b| !live && b.is_dir())?;
    let dir = resolve::inner_bundle_dir(dir);
    let src = cnictl_collect::bundle::DirSource::new(&dir);
    let objects = cnictl_collect::bundle::load_objects(&src).ok()?;
    let nodes = explain::endpoint_nodes(&objects.k8s, &req.src, &req.dst)?;
    if nodes.len() * PARTIAL_SHARE > objects.k8s.nodes.len() {
        return None;
    }
    let only = cnictl_collect::bundle::Only { inner: &src, nodes };
    let analysis = Analysis::new(Arc::new(cnictl_collect::bundle::load(&only).ok()?));
    let ex = analysis.explain(req).ok()?;
    stayed_on(&ex, &only.nodes).then_some((analysis, ex))
}

/// Load only the path's nodes when they are at most 1/this of the bundle.
const PARTIAL_SHARE: usize = 8;

/// Delivered (both ways, every backend) on the loaded nodes alone: the
/// answer the whole bundle would give, since no other node's tables were
/// consulted.
fn stayed_on(ex: &Explanation, nodes: &std::collections::BTreeSet<String>) -> bool {
    let delivered = |v: explain::Verdict| v == explain::Verdict::Delivered;
    delivered(ex.verdict)
        && ex.hops.iter().all(|h| nodes.contains(&h.node))
        && ex.backends.iter().all(|b| delivered(b.verdict))
        && ex.reverse.as_deref().is_none_or(|r| stayed_on(r, nodes))
}

/// The names of the bundle's `nodes/<name>/` directories.
fn node_dirs(dir: &Path) -> Vec<String> {
    let entries = std::fs::read_dir(dir.join("nodes")).into_iter().flatten();
    entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// The Kubernetes objects when there is no dataplane to trace: manifests,
/// or a bundle directory without `nodes/`.
fn intent_source(args: &ExplainArgs) -> Result<Option<cnictl_model::K8s>> {
    if let Some(path) = &args.manifests {
        let k8s = cnictl_collect::manifests::load(path)
            .with_context(|| format!("reading manifests {}", path.display()))?;
        return Ok(Some(k8s));
    }
    let no_nodes = |b: &Path| b.is_dir() && !resolve::inner_bundle_dir(b).join("nodes").is_dir();
    match args.source.bundle.as_deref().filter(|b| no_nodes(b)) {
        Some(_) => Ok(Some(
            resolve::load_for_intent(&args.source, &args.cluster)?.k8s,
        )),
        None => Ok(None),
    }
}

/// explain without a dataplane: the policy section, verdict unknown (3).
fn intent_only(
    args: &ExplainArgs,
    req: &ExplainRequest,
    k8s: &cnictl_model::K8s,
) -> Result<ExitCode> {
    use cnictl_analyzers::explain::policy;
    use cnictl_analyzers::policy::Probe;
    let probe = match (req.proto, req.port) {
        (Some(cnictl_dataplane::Proto::Udp), Some(p)) => Probe::new("UDP", p),
        (_, Some(p)) => Probe::new("TCP", p),
        _ => Probe {
            protocol: Some("ICMP".into()),
            port: None,
        },
    };
    let ns = args.namespace.as_deref();
    let doc =
        policy::intent_only(k8s, (&req.src, &req.dst), ns, &probe).map_err(anyhow::Error::msg)?;
    match args.render.output {
        o if o.is_document() => crate::out::print_doc(&doc, o)?,
        _ => crate::out::print(&intent_text(&doc))?,
    }
    Ok(ExitCode::from(3))
}

fn intent_text(d: &cnictl_analyzers::explain::policy::IntentOnly) -> String {
    let p = &d.policy;
    let what = p
        .port
        .map_or_else(|| p.protocol.clone(), |n| format!("{} {n}", p.protocol));
    let mut s = format!(
        "explain {} → {}: {what} (NetworkPolicy intent only)
",
        d.src, d.dst
    );
    s += &format!(
        "policy ({what}): {}
  {}
  {}
",
        p.intended, p.egress.line, p.ingress.line
    );
    for a in &p.assumptions {
        s += &format!(
            "  assumed: {a}
"
        );
    }
    s += &format!(
        "verdict: UNKNOWN: {}
",
        d.unknown
    );
    s
}

/// 2 when no hop could be checked live (wrong mapping, not root: an input
/// error, not a clean bill of health), 1 when the kernel or the wire
/// disagrees, else the verdict's code.
fn live_exit_code(
    ex: &Explanation,
    validation: Option<&[HopValidation]>,
    probed: Option<&probe::ProbeReport>,
) -> ExitCode {
    let live_bad =
        validation.is_some_and(validate::any_disagreement) || probed.is_some_and(|p| !p.ok);
    let none_checked = validation.is_some_and(|v| {
        !v.is_empty() && v.iter().all(|h| h.status == validate::Status::Unchecked)
    });
    if none_checked {
        ExitCode::from(2)
    } else if live_bad {
        ExitCode::from(1)
    } else {
        exit_code(ex)
    }
}

type Live<'a> = (Option<&'a [HopValidation]>, Option<&'a probe::ProbeReport>);

fn print(
    args: &ExplainArgs,
    ex: &Explanation,
    (validation, probed): Live<'_>,
    live_notes: Vec<String>,
    notices: &[cnictl_model::Notice],
) -> Result<()> {
    let output = args.render.output;
    match output {
        o if o.is_document() => out::print_doc(
            &Checked {
                ex,
                validation,
                probe: probed,
                live_notes,
                notices,
            },
            o,
        ),
        _ if args.brief => {
            let mut text = explain::render_brief(ex);
            text.push_str(&out::notices_text(notices));
            out::print(&text)
        }
        o => {
            let mut text = explain::render_text(ex);
            if args.verbose || o == Output::Wide {
                text.push_str(&explain::render_netfilter(ex));
            }
            if let Some(v) = validation {
                text = validate::annotate_text(&text, v);
                let count = |st| v.iter().filter(|h| h.status == st).count();
                text.push_str(&format!(
                    "validation: {} routing hops: {} agree, {} disagree, {} not checked\n",
                    v.len(),
                    count(validate::Status::Agree),
                    count(validate::Status::Disagree),
                    count(validate::Status::Unchecked)
                ));
            }
            for n in &live_notes {
                text.push_str(&format!("note: {n}\n"));
            }
            if let Some(p) = probed {
                text.push_str(&p.text());
            }
            text.push_str(&out::notices_text(notices));
            out::print(&text)
        }
    }
}

/// A bare pod or Service name in `--namespace` (`-n NS web-1` is
/// `NS/web-1`, `svc/api` is `svc/NS/api`); IPs, `node/…` and qualified
/// names stay as given.
fn in_namespace(spec: &str, ns: Option<&str>) -> String {
    let (prefix, name) = spec
        .strip_prefix("svc/")
        .map_or(("", spec), |n| ("svc/", n));
    let bare = !name.contains('/') && name.parse::<std::net::IpAddr>().is_err();
    match ns {
        Some(ns) if bare => format!("{prefix}{ns}/{name}"),
        _ => spec.to_string(),
    }
}

/// The request: SRC DST, or with --from-outside only DST (which clap puts
/// in the first positional).
pub fn request(args: &ExplainArgs) -> Result<ExplainRequest> {
    let ns = args.namespace.as_deref();
    let (src, dst) = match (args.from_outside, &args.dst) {
        (Some(ip), None) => (format!("outside/{ip}"), args.src.as_str()),
        (Some(_), Some(_)) => {
            bail!("with --from-outside give only DST: the source is the outside address")
        }
        (None, Some(dst)) => (in_namespace(&args.src, ns), dst.as_str()),
        (None, None) => bail!("DST missing: cnictl explain SRC DST"),
    };
    let mut req = ExplainRequest::new(src, in_namespace(dst, ns));
    req.from_outside = args.from_outside;
    req.via = args.via.clone();
    req.port = args.port;
    req.proto = args.proto.map(|p| match p {
        Proto::Icmp => cnictl_dataplane::Proto::Icmp,
        Proto::Tcp => cnictl_dataplane::Proto::Tcp,
        Proto::Udp => cnictl_dataplane::Proto::Udp,
    });
    req.size = Some(u32::from(args.size));
    req.no_df = args.no_df;
    req.family = args.family.as_deref().map(|f| match f {
        "6" => explain::Family::V6,
        _ => explain::Family::V4,
    });
    req.reverse = args.reverse;
    req.verbose = args.verbose;
    Ok(req)
}

/// 0 when the packet (and, with --reverse, its answer) is delivered, 1
/// when either is dropped, 3 when neither is dropped but one is unknown.
pub fn exit_code(ex: &explain::Explanation) -> ExitCode {
    let verdicts = [Some(ex.verdict), ex.reverse.as_ref().map(|r| r.verdict)];
    let any = |v: Verdict| verdicts.contains(&Some(v));
    ExitCode::from(match (any(Verdict::Dropped), any(Verdict::Unknown)) {
        (true, _) => 1,
        (false, true) => 3,
        (false, false) => 0,
    })
}

/// Snapshot node / pod → live network namespace name.
#[derive(Debug, Default)]
pub struct NetnsMap {
    explicit: HashMap<String, String>,
    lab: Option<(String, HashMap<String, String>)>,
}

impl NetnsMap {
    /// From `--netns-map` and `--lab`; the only place that reads the lab's
    /// pod maps (`$CNICTL_LAB_RUN`, default /run/cnictl-lab).
    pub fn resolve(args: &ExplainArgs) -> Result<NetnsMap> {
        if args.lab.is_none() && args.netns_map.is_empty() {
            bail!("--validate and --probe need --lab PREFIX or --netns-map NODE=NETNS,...");
        }
        let mut map = NetnsMap::default();
        for item in args.netns_map.iter().filter(|s| !s.is_empty()) {
            let Some((k, v)) = item.split_once('=') else {
                bail!("invalid --netns-map entry {item:?}: expected NODE=NETNS or NS/POD=NETNS");
            };
            map.explicit.insert(k.trim().into(), v.trim().into());
        }
        if let Some(prefix) = &args.lab {
            let run = std::env::var_os("CNICTL_LAB_RUN")
                .map_or_else(|| PathBuf::from("/run/cnictl-lab"), PathBuf::from);
            map.lab = Some((prefix.clone(), lab_pod_maps(&run.join(prefix))));
        }
        Ok(map)
    }

    /// The netns of a node (`pod: None`) or of one of its pods.
    pub fn netns(&self, node: &str, pod: Option<&str>) -> Option<String> {
        let key = pod.unwrap_or(node);
        if let Some(v) = self.explicit.get(key) {
            return Some(v.clone());
        }
        let (prefix, pods) = self.lab.as_ref()?;
        match pod {
            None => Some(format!("{prefix}-{node}")),
            Some(p) => pods.get(p).cloned().or_else(|| {
                let name = p.rsplit('/').next().unwrap_or(p);
                Some(format!("{prefix}-{node}-{name}"))
            }),
        }
    }
}

/// `podmap-node-N` files: "NETNS NS_POD" lines → `ns/pod` → netns. A lab
/// without them (or an unreadable one) falls back to the naming rule.
fn lab_pod_maps(dir: &Path) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let is_map = e.file_name().to_string_lossy().starts_with("podmap-");
        let Some(text) = is_map
            .then(|| std::fs::read_to_string(e.path()).ok())
            .flatten()
        else {
            continue;
        };
        for line in text.lines() {
            let mut f = line.split_whitespace();
            if let (Some(ns), Some(key)) = (f.next(), f.next()) {
                if let Some((pns, pod)) = key.split_once('_') {
                    out.insert(format!("{pns}/{pod}"), ns.to_string());
                }
            }
        }
    }
    out
}

/// Asks every namespace its questions (one netlink socket per namespace,
/// on a thread that entered it) and compares.
fn validate_live(
    dp: &Dataplane,
    ex: &Explanation,
    map: &NetnsMap,
    notes: &mut Vec<String>,
) -> Vec<HopValidation> {
    let plan = validate::route_queries(dp, ex);
    notes.extend(plan.notes.iter().cloned());
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut answers: Vec<KernelAnswer> =
        vec![KernelAnswer::Unavailable(String::new()); plan.queries.len()];
    for (i, q) in plan.queries.iter().enumerate() {
        let (node, pod) = validate::query_ns(q);
        match map.netns(node, pod) {
            Some(ns) => groups.entry(ns).or_default().push(i),
            None => {
                answers[i] = KernelAnswer::Unavailable(format!(
                    "no netns mapped for {}",
                    pod.map_or_else(|| format!("node {node}"), |p| format!("pod {p}"))
                ))
            }
        }
    }
    for (ns, idx) in groups {
        let qs: Vec<RouteGet> = idx
            .iter()
            .map(|&i| to_route_get(&plan.queries[i]))
            .collect();
        match route_get(Some(&NetnsTarget::Name(ns.clone())), &qs) {
            Ok(replies) => {
                for (&i, r) in idx.iter().zip(replies) {
                    answers[i] = to_answer(r);
                }
            }
            Err(e) => {
                for &i in &idx {
                    answers[i] = KernelAnswer::Unavailable(format!("netns {ns}: {e}"));
                }
            }
        }
    }
    validate::compare(&plan.queries, &answers)
}

fn to_route_get(q: &RouteQuery) -> RouteGet {
    RouteGet {
        dst: q.dst,
        src: q.src,
        iif: q.iif.clone(),
        oif: None,
        mark: q.mark,
    }
}

fn to_answer(r: RouteGetReply) -> KernelAnswer {
    match r {
        RouteGetReply::Route(route) => KernelAnswer::Route(route),
        RouteGetReply::Refused { errno } => KernelAnswer::Refused { errno },
        RouteGetReply::NoSuchDevice { name } => KernelAnswer::NoSuchDevice(name),
    }
}

mod probe {
    //! `--probe`: capture points from the analyzers, capture and send
    //! from collect; this only wires them and renders the report.

    use std::time::Duration;

    use anyhow::{bail, Result};
    use cnictl_analyzers::explain::Explanation;
    use cnictl_analyzers::validate::{self, ProbePoint};
    use cnictl_collect::live::NetnsTarget;
    use cnictl_collect::probe::{self, CaptureSpec, WireExpect};
    use cnictl_dataplane::Dataplane;
    use cnictl_formats::frame::{describe, Encap};
    use serde::Serialize;

    use super::NetnsMap;
    use crate::args::{ExplainArgs, Proto};

    /// What `--probe` saw at each point.
    #[derive(Debug, Serialize)]
    pub struct ProbeReport {
        /// True when every point saw the probe as predicted.
        pub ok: bool,
        /// Whether ping got its echo reply (ICMP only).
        pub replied: bool,
        pub points: Vec<PointResult>,
        /// For a netfilter drop: the deciding rule's packet counter around
        /// the probe.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub counter: Option<crate::cmd::nfcount::CounterCheck>,
    }

    #[derive(Debug, Serialize)]
    pub struct PointResult {
        #[serde(flatten)]
        pub point: ProbePoint,
        pub netns: String,
        pub status: &'static str,
        pub seen: String,
    }

    impl ProbeReport {
        pub fn text(&self) -> String {
            let mut s = String::from("probe:\n");
            for p in &self.points {
                let mark = if p.status == "agree" { "✓" } else { "✗" };
                s.push_str(&format!(
                    "  {mark} hop {} {} {} ({}): {}\n",
                    p.point.hop, p.point.node, p.point.iface, p.point.role, p.seen
                ));
            }
            let reply = if self.replied {
                "echo reply received"
            } else {
                "no echo reply"
            };
            s.push_str(&format!("  {reply}\n"));
            if let Some(c) = &self.counter {
                s.push_str(&c.text());
            }
            s
        }
    }

    pub fn run(
        dp: &Dataplane,
        ex: &Explanation,
        map: &NetnsMap,
        args: &ExplainArgs,
    ) -> Result<ProbeReport> {
        let points = validate::probe_points(dp, ex);
        let (Some(src_pod), Some(first)) = (ex.src.pod.as_deref(), points.first()) else {
            bail!("--probe needs a pod source whose path leaves its node's namespace");
        };
        let Some(src_ns) = map.netns(&first.node, Some(src_pod)) else {
            bail!("--probe: no netns mapped for pod {src_pod}");
        };
        let mut specs = Vec::new();
        let mut netns = Vec::new();
        for p in &points {
            let Some(ns) = map.netns(&p.node, None) else {
                bail!("--probe: no netns mapped for node {}", p.node);
            };
            specs.push(CaptureSpec {
                netns: Some(NetnsTarget::Name(ns.clone())),
                iface: p.iface.clone(),
                filter: filter(p),
            });
            netns.push(ns);
        }
        let udp = matches!(args.proto, Some(Proto::Udp)).then_some(args.port.unwrap_or(9));
        let spec = probe::ProbeSpec {
            dst: ex.packet.dst,
            udp_port: udp,
            size: ex.packet.size,
            df: ex.packet.df,
        };
        let mut replied = false;
        let target = crate::cmd::nfcount::before(ex, map)?;
        let caps = probe::capture_while(&specs, Duration::from_millis(args.probe_timeout), || {
            replied = probe::send_probe(&src_ns, &spec)?;
            Ok(())
        })?;
        let counter = target.map(crate::cmd::nfcount::after).transpose()?;
        let results: Vec<PointResult> = points
            .into_iter()
            .zip(caps)
            .zip(netns)
            .map(|((point, cap), ns)| judge(point, cap, ns))
            .collect();
        Ok(ProbeReport {
            ok: results.iter().all(|r| r.status == "agree")
                && counter.as_ref().is_none_or(|c| c.moved),
            replied,
            points: results,
            counter,
        })
    }

    /// BPF: where the packet should be encapsulated, any VXLAN/IPIP
    /// packet (so a wrong outer header is seen and reported) or the inner
    /// packet left bare; elsewhere the inner pair.
    fn filter(p: &ProbePoint) -> String {
        let inner = format!("src host {} and dst host {}", p.inner_src, p.inner_dst);
        let vxlan = p.vxlan.map(|(_, port)| format!("udp dst port {port} or "));
        match p.outer {
            None => format!("ip and {inner}"),
            Some(_) => format!(
                "ip and ({}ip proto 4 or ({inner}))",
                vxlan.unwrap_or_default()
            ),
        }
    }

    fn judge(
        point: ProbePoint,
        cap: Result<probe::Captured, probe::ProbeError>,
        netns: String,
    ) -> PointResult {
        let expect = WireExpect {
            inner_src: point.inner_src,
            inner_dst: point.inner_dst,
            outer: point.outer,
            encap: match (point.vxlan, point.ipip) {
                (Some((vni, port)), _) => Some(Encap::Vxlan { vni, port }),
                (None, true) => Some(Encap::Ipip),
                _ => None,
            },
        };
        let (status, seen) = match cap {
            Err(e) => ("error", e.to_string()),
            Ok(c) => match probe::check_wire(&c.frames, &expect) {
                Ok(d) => ("agree", describe(&d)),
                Err(why) => ("disagree", why),
            },
        };
        PointResult {
            point,
            netns,
            status,
            seen,
        }
    }
}
