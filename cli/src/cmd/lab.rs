//! `cnictl lab`: real mini-clusters in network namespaces, for learning and
//! tests. The choreography (iproute2, sysctl, BIRD) is lab/lab.sh, embedded
//! here so the binary works from anywhere; this is the only subcommand that
//! writes to a dataplane, and only inside namespaces the lab itself creates.
//!
//! Everything else about a lab is Rust, in [`cnictl_gen::lab`]: its address
//! plan, its Kubernetes objects (written by the same bundle writer as
//! `cnictl gen` and `cnictl bundle`) and its state file (JSON). lab.sh gets
//! them through hidden subcommands: `lab plan` (bash assignments), `lab
//! init`, `lab fault` and `lab k8s`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use cnictl_collect::write;
use cnictl_formats::manifests::Manifests;
use cnictl_gen::lab::{KubeProxyMode, LabPolicies};
use cnictl_gen::lab_policy::StaleEdit;
use cnictl_gen::LabPlan;
use cnictl_model::ClusterSnapshot;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::args::{LabArgs, LabCommand, LabPlanArgs, LabShape, PlanFormat, RulesFormat};

const LAB_SH: &str = include_str!("../../../lab/lab.sh");
const LAB_SERVICES_SH: &str = include_str!("../../../lab/lab-services.sh");
const COLLECT_NODE_SH: &str = include_str!("../../../lab/collect-node.sh");

pub fn run(args: LabArgs) -> Result<ExitCode> {
    // Listing faults reads nothing of a lab: no root needed.
    let needs_root = !matches!(args.command, LabCommand::Faults { .. });
    match lab_argv(&args.command) {
        Some(argv) => run_script(&argv, needs_root),
        None => internal(args.command).map(|()| ExitCode::SUCCESS),
    }
}

/// The hidden subcommands lab.sh calls; they only read and write the
/// lab's own files, so they need no root.
fn internal(cmd: LabCommand) -> Result<()> {
    match cmd {
        LabCommand::Plan(a) => print_plan(&a),
        LabCommand::Init {
            shape,
            state,
            dir,
            created,
        } => init(&shape, &state, dir, created),
        LabCommand::Fault { fault, node, state } => record_fault(&fault, node, &state),
        LabCommand::K8s { state, out } => write_k8s(&LabState::load(&state)?.plan, &out),
        LabCommand::Rules {
            node,
            state,
            format,
        } => print_rules(&LabState::load(&state)?.plan, node, format),
        _ => unreachable!("lab_argv maps every script command"),
    }
}

fn run_script(argv: &[String], needs_root: bool) -> Result<ExitCode> {
    if needs_root && !is_root() {
        bail!("cnictl lab creates network namespaces and needs root (try: sudo cnictl lab …)");
    }
    let me = std::env::current_exe().context("finding the cnictl binary")?;
    let dir = unpack()?;
    let status = Command::new("bash")
        .arg(dir.join("lab.sh"))
        .args(argv)
        .env("CNICTL_COLLECT_NODE", dir.join("collect-node.sh"))
        .env("CNICTL", me)
        .status()
        .context("running bash (is it installed?)");
    let _ = fs::remove_dir_all(&dir);
    Ok(match status?.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(1) => ExitCode::from(1),
        _ => ExitCode::from(2),
    })
}

/// lab.sh's arguments for a user-facing subcommand (None: an internal one).
fn lab_argv(cmd: &LabCommand) -> Option<Vec<String>> {
    let (mut v, prefix) = match cmd {
        LabCommand::Up {
            model,
            nodes,
            pods,
            prefix,
            kube_proxy,
            policies,
            dual_stack,
            cross_subnet,
            direct_routing,
            reflectors,
        } => {
            let mut v = up_argv(model, *nodes, *pods, kube_proxy, policies.as_deref());
            let flags = [
                (*dual_stack, "--dual-stack"),
                (*cross_subnet, "--cross-subnet"),
                (*direct_routing, "--direct-routing"),
            ];
            v.extend(flags.iter().filter(|f| f.0).map(|f| f.1.to_string()));
            if *reflectors > 0 {
                v.extend(["--reflectors".into(), reflectors.to_string()]);
            }
            (v, Some(prefix))
        }
        LabCommand::Down { prefix } => (strings(&["down"]), Some(prefix)),
        LabCommand::Break {
            fault,
            node,
            prefix,
        } => (strings(&["break", fault, "--node", node]), Some(prefix)),
        LabCommand::Bundle { out, force, prefix } => (bundle_argv(out, *force), Some(prefix)),
        LabCommand::Ping { prefix } => (strings(&["ping"]), Some(prefix)),
        LabCommand::Status { prefix } => (strings(&["status"]), prefix.as_ref()),
        LabCommand::Faults { model } => {
            let mut v = strings(&["faults"]);
            v.extend(model.iter().cloned());
            (v, None)
        }
        _ => return None,
    };
    if let Some(p) = prefix {
        v.extend(strings(&["--prefix", p]));
    }
    Some(v)
}

fn up_argv(
    model: &str,
    nodes: u32,
    pods: u32,
    kube_proxy: &str,
    policies: Option<&Path>,
) -> Vec<String> {
    let (nodes, pods) = (nodes.to_string(), pods.to_string());
    let (n, p, k) = (&nodes, &pods, kube_proxy);
    let mut v = strings(&["up", model, "--nodes", n, "--pods", p, "--kube-proxy", k]);
    if let Some(file) = policies {
        // lab.sh hands it to `lab init`, from wherever it runs.
        let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
        v.extend(["--policies".to_string(), abs.display().to_string()]);
    }
    v
}

fn bundle_argv(out: &Path, force: bool) -> Vec<String> {
    let mut v = vec!["bundle".to_string(), out.display().to_string()];
    if force {
        v.push("--force".into());
    }
    v
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

/// Writes the embedded scripts to a private directory for this run.
fn unpack() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("cnictl-lab-{}", std::process::id()));
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
    write_exec(&dir.join("lab.sh"), LAB_SH)?;
    write_exec(&dir.join("lab-services.sh"), LAB_SERVICES_SH)?;
    write_exec(&dir.join("collect-node.sh"), COLLECT_NODE_SH)?;
    Ok(dir)
}

fn write_exec(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o700))?;
    Ok(())
}

fn is_root() -> bool {
    // /proc/self/status "Uid:" line: real, effective, saved, fs.
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status.lines().find(|l| l.starts_with("Uid:"));
    uid.and_then(|l| l.split_whitespace().nth(2)) == Some("0")
}

// ---------------------------------------------------------------- state

/// A lab's state file, `<run dir>/<prefix>.state`: its plan (with the
/// faults that changed objects or BIRD's config) and what lab.sh needs
/// back on every later command.
#[derive(Debug, Serialize, Deserialize)]
struct LabState {
    plan: LabPlan,
    /// k8s/, pod maps, BIRD configs, sockets, pidfiles, logs.
    dir: PathBuf,
    created: String,
    /// Faults injected so far, as "FAULT@node-N".
    #[serde(default)]
    injected: Vec<String>,
}

impl LabState {
    fn load(path: &Path) -> Result<LabState> {
        let text =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Temp file and rename: a reader sees the old state or the new one.
    fn save(&self, path: &Path) -> Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let text = serde_json::to_string_pretty(self)? + "\n";
        fs::write(&tmp, text).with_context(|| format!("writing {}", path.display()))?;
        fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
    }
}

fn new_plan(shape: &LabShape) -> Result<LabPlan> {
    let plan = LabPlan::new(&shape.model, shape.nodes, shape.pods, &shape.prefix)?;
    let Some(mode) = KubeProxyMode::parse(&shape.kube_proxy) else {
        bail!("--kube-proxy must be iptables or nftables");
    };
    let plan = plan
        .with_kube_proxy(mode)
        .with_dual_stack(shape.dual_stack)?
        .with_underlay(shape.cross_subnet, shape.direct_routing)?
        .with_reflectors(shape.reflectors)?;
    match &shape.policies {
        Some(file) => Ok(plan.with_policies(read_policies(file)?)),
        None => Ok(plan),
    }
}

/// The NetworkPolicies and Namespaces of a manifest file (YAML or JSON).
fn read_policies(file: &Path) -> Result<LabPolicies> {
    let text = cnictl_collect::files::read_text(file, cnictl_collect::bundle::MAX_FILE_SIZE)
        .with_context(|| format!("reading {}", file.display()))?;
    let mut m = Manifests::default();
    m.add_text(&text)
        .with_context(|| format!("reading {}", file.display()))?;
    let k8s = m.into_k8s();
    let policies = k8s.network_policies.unwrap_or_default();
    if policies.is_empty() {
        bail!("{}: no NetworkPolicy in it", file.display());
    }
    let namespaces = k8s.namespaces.unwrap_or_default();
    Ok(LabPolicies {
        policies,
        namespaces,
    })
}

fn init(shape: &LabShape, state: &Path, dir: PathBuf, created: String) -> Result<()> {
    let plan = new_plan(shape)?;
    let st = LabState {
        plan,
        dir,
        created,
        injected: Vec::new(),
    };
    st.save(state)
}

fn record_fault(fault: &str, node: u32, state: &Path) -> Result<()> {
    let mut st = LabState::load(state)?;
    if !st.plan.node_indices().any(|n| n == node) {
        bail!("no node-{node} in this lab");
    }
    st.plan.apply_fault(fault, node);
    st.injected.push(format!("{fault}@node-{node}"));
    st.save(state)
}

/// Node `node`'s netfilter rules, for lab.sh to load into its namespace
/// (iptables-restore, `nft -j -f` or `ipset restore` input).
fn print_rules(plan: &LabPlan, node: u32, format: RulesFormat) -> Result<()> {
    if !plan.node_indices().any(|n| n == node) {
        bail!("no node-{node} in this lab");
    }
    let text = match format {
        RulesFormat::Iptables => plan.iptables_restore(node),
        RulesFormat::Nft => plan.nft_ruleset(node),
        RulesFormat::Ipset => plan.ipset_restore(node),
    };
    print!("{text}");
    Ok(())
}

/// Writes the lab's objects with the bundle writer into a scratch bundle
/// beside `out/k8s`, then renames each file into place (each one is
/// replaced atomically).
fn write_k8s(plan: &LabPlan, out: &Path) -> Result<()> {
    let dest = out.join("k8s");
    fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;
    let scratch = tempfile::Builder::new().prefix(".k8s-").tempdir_in(out)?;
    let bundle = scratch.path().join("bundle");
    let mut snap = ClusterSnapshot::new(format!("lab:{}", plan.prefix));
    snap.k8s = plan.k8s();
    write::write_dir(&snap, &bundle)?;
    for entry in fs::read_dir(bundle.join("k8s"))? {
        let entry = entry?;
        let to = dest.join(entry.file_name());
        fs::rename(entry.path(), &to).with_context(|| format!("writing {}", to.display()))?;
    }
    Ok(())
}

// ---------------------------------------------------------------- plan

fn print_plan(a: &LabPlanArgs) -> Result<()> {
    let (plan, state) = match (&a.state, &a.model) {
        (Some(path), _) => {
            let st = LabState::load(path)?;
            (st.plan.clone(), Some(st))
        }
        (None, model) => (plan_for(a, model.as_deref().unwrap_or_default())?, None),
    };
    let mut vars = scalar_vars(&plan, state.as_ref());
    vars.extend(node_vars(&plan));
    vars.extend(pod_vars(&plan));
    match a.format {
        PlanFormat::Shell => print!("{}", shell(&vars)),
        PlanFormat::Json => println!("{}", serde_json::to_string_pretty(&json(&vars))?),
    }
    Ok(())
}

fn plan_for(a: &LabPlanArgs, model: &str) -> Result<LabPlan> {
    new_plan(&LabShape {
        model: model.to_string(),
        nodes: a.nodes,
        pods: a.pods,
        prefix: a.prefix.clone(),
        kube_proxy: a.kube_proxy.clone(),
        policies: None,
        dual_stack: a.dual_stack,
        cross_subnet: a.cross_subnet,
        direct_routing: a.direct_routing,
        reflectors: a.reflectors,
    })
}

/// One variable of the plan: a value, one per node (node n at index n), or
/// one per pod (key "n.p").
enum Var {
    One(String),
    Nodes(Vec<String>),
    Pods(Vec<(String, String)>),
}

type Vars = Vec<(&'static str, Var)>;

fn scalar_vars(plan: &LabPlan, state: Option<&LabState>) -> Vars {
    let one = |s: &dyn ToString| Var::One(s.to_string());
    let reject = plan
        .faults
        .bird_reject
        .map(|r| format!("{}:{}", r.node, r.peer));
    let overlap = plan.overlap();
    let mut vars = vec![
        ("PREFIX", one(&plan.prefix)),
        ("MODEL", one(&plan.model)),
        ("NODES", one(&plan.nodes)),
        ("PODS", one(&plan.pods_per_node)),
        ("BIRD_REJECT", Var::One(reject.unwrap_or_default())),
        ("UL_NS", one(&plan.ul_ns())),
        ("GATEWAY", one(&plan.gateway())),
        ("DOCKER0_IP", one(&plan.docker0_ip())),
        ("POD_RANGE", one(&plan.pod_range())),
        ("POD_MTU", one(&plan.pod_mtu())),
        ("OVERLAP_NODE", one(&overlap.node)),
        ("OVERLAP_CIDR", one(&overlap.cidr)),
        ("KUBE_PROXY", one(&plan.kube_proxy.as_str())),
        ("OUT_NS", one(&plan.outside_ns())),
        ("OUT_IP", one(&plan.outside_ip())),
        ("OUT_GW", one(&plan.outside_gateway())),
        ("POLICIES", one(&u8::from(plan.has_policies()))),
        ("DUAL_STACK", one(&u8::from(plan.dual_stack))),
        ("REFLECTORS", one(&plan.reflectors)),
        ("BIRD_LEAK", Var::One(pair(plan.faults.leaked_affinity))),
        ("BIRD_REJECT6", Var::One(pair(plan.faults.bird_reject6))),
        ("GATEWAY6", one(&plan.gateway6())),
        ("POD_RANGE6", one(&plan.pod_range6())),
        ("GATEWAY2", one(&plan.gateway2())),
        ("CROSS_SUBNET", one(&u8::from(plan.cross_subnet))),
        ("DIRECT_SAME", one(&u8::from(plan.same_subnet_direct()))),
        ("VX_DEV", one(&plan.vxlan().0)),
        ("VX_VNI", one(&plan.vxlan().1)),
        ("VX_PORT", one(&plan.vxlan().2)),
    ];
    if let Some(st) = state {
        vars.push(("DIR", one(&st.dir.display())));
        vars.push(("CREATED", one(&st.created)));
        vars.push(("FAULTS", Var::One(st.injected.join(" "))));
    }
    vars
}

fn node_vars(plan: &LabPlan) -> Vars {
    let per_node = |f: &dyn Fn(u32) -> String| Var::Nodes(plan.node_indices().map(f).collect());
    vec![
        ("NODE_NS", per_node(&|n| plan.node_ns(n))),
        ("NODE_IP", per_node(&|n| plan.node_ip(n).to_string())),
        ("PUBLIC_IP", per_node(&|n| plan.public_ip(n).to_string())),
        ("NODE_MAC", per_node(&|n| plan.node_mac(n))),
        ("VTEP_IP", per_node(&|n| plan.vtep_ip(n).to_string())),
        ("VTEP_MAC", per_node(&|n| plan.vtep_mac(n))),
        ("POD_CIDR", per_node(&|n| plan.pod_cidr(n).to_string())),
        ("BLOCK", per_node(&|n| plan.calico_block(n).to_string())),
        ("CNI0_IP", per_node(&|n| plan.cni0_ip(n).to_string())),
        ("CNI0_MAC", per_node(&|n| plan.cni0_mac(n))),
        ("MESH", per_node(&|n| plan.mesh_name(n))),
        ("PEER", per_node(&|n| plan.peers(n).0.to_string())),
        ("THIRD", per_node(&|n| plan.peers(n).1.to_string())),
        ("OFFLINK_IP", per_node(&|n| plan.offlink_ip(n).to_string())),
        ("SHADOW_NET", per_node(&|n| plan.shadow_net(n).to_string())),
        (
            "SVC_OVERLAP_IP",
            per_node(&|n| plan.service_overlap_ip(n).to_string()),
        ),
        ("NODE_IP6", per_node(&|n| plan.node_ip6(n).to_string())),
        ("POD_CIDR6", per_node(&|n| plan.pod_cidr6(n).to_string())),
        ("CNI0_IP6", per_node(&|n| plan.cni0_ip6(n).to_string())),
        ("BLOCK6", per_node(&|n| plan.calico_block6(n).to_string())),
        ("MESH6", per_node(&|n| plan.session_name6(n))),
        ("VTEP_IP6", per_node(&|n| plan.vtep_ip6(n).to_string())),
        ("VTEP_MAC6", per_node(&|n| plan.vtep_mac6(n))),
        ("STALE_SET", per_node(&|n| stale(plan, n, |e| e.set))),
        ("STALE_DEL", per_node(&|n| stale(plan, n, |e| e.del))),
        ("STALE_ADD", per_node(&|n| stale(plan, n, |e| e.add))),
        ("NODE_GW", per_node(&|n| plan.node_gateway(n).to_string())),
        (
            "SUBNET2",
            per_node(&|n| u8::from(plan.in_second_subnet(n)).to_string()),
        ),
        ("PEER_NET", per_node(&|n| plan.peer_net(n).to_string())),
    ]
}

/// "N:M" of a node pair fault, "" without one.
fn pair(p: Option<cnictl_gen::lab::NodePair>) -> String {
    p.map(|r| format!("{}:{}", r.node, r.peer))
        .unwrap_or_default()
}

/// One part of policy-ipset-stale's edit on node n ("" without one).
fn stale(plan: &LabPlan, n: u32, part: fn(StaleEdit) -> String) -> String {
    plan.stale_ipset(n).map(part).unwrap_or_default()
}

fn pod_vars(plan: &LabPlan) -> Vars {
    let per_pod = |f: &dyn Fn(u32, u32) -> String| {
        let pods = plan
            .node_indices()
            .flat_map(|n| plan.pod_indices().map(move |p| (n, p)));
        Var::Pods(pods.map(|(n, p)| (format!("{n}.{p}"), f(n, p))).collect())
    };
    vec![
        ("POD_NS", per_pod(&|n, p| plan.pod_ns(n, p))),
        ("POD_NAME", per_pod(&|n, p| plan.pod_name(n, p))),
        ("POD_IP", per_pod(&|n, p| plan.pod_ip(n, p).to_string())),
        ("POD_MAC", per_pod(&|n, p| plan.pod_mac(n, p))),
        ("POD_IP6", per_pod(&|n, p| plan.pod_ip6(n, p).to_string())),
        ("HOST_VETH", per_pod(&|n, p| plan.host_veth(n, p))),
        (
            "POD_GONE",
            per_pod(&|n, p| u8::from(plan.pod_gone(n, p)).to_string()),
        ),
    ]
}

/// Bash assignments: `NAME=value`, `NAME=([1]=… [2]=…)` per node and
/// `declare -gA NAME=([1.1]=…)` per pod, every value quoted for `eval`.
fn shell(vars: &Vars) -> String {
    let mut out = String::new();
    for (name, var) in vars {
        let line = match var {
            Var::One(v) => format!("{name}={}", sh_quote(v)),
            Var::Nodes(vs) => {
                let keyed = vs.iter().enumerate().map(|(i, v)| ((i + 1).to_string(), v));
                format!("{name}=({})", sh_items(keyed))
            }
            Var::Pods(vs) => {
                let keyed = vs.iter().map(|(k, v)| (k.clone(), v));
                format!("declare -gA {name}=({})", sh_items(keyed))
            }
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn sh_items<'a>(items: impl Iterator<Item = (String, &'a String)>) -> String {
    let items: Vec<String> = items
        .map(|(k, v)| format!("[{k}]={}", sh_quote(v)))
        .collect();
    items.join(" ")
}

/// `s` as one shell word: bare when it holds only safe characters, else
/// single-quoted.
fn sh_quote(s: &str) -> String {
    let safe = |b: u8| b.is_ascii_alphanumeric() || b"_./:@%+,-".contains(&b);
    if !s.is_empty() && s.bytes().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The same variables as JSON: per-node values as arrays (node-1 first),
/// per-pod values as objects keyed "n.p".
fn json(vars: &Vars) -> Value {
    let map = vars.iter().map(|(name, var)| {
        let v = match var {
            Var::One(v) => Value::from(v.as_str()),
            Var::Nodes(vs) => Value::from(vs.clone()),
            Var::Pods(vs) => vs
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                .collect(),
        };
        (name.to_string(), v)
    });
    Value::Object(map.collect())
}

#[cfg(test)]
mod tests {
    use cnictl_formats::kubectl;
    use cnictl_model::K8s;

    use super::*;

    /// k8s/*.json that lab.sh wrote before its objects moved to Rust
    /// (lab/testdata/k8s/CASE), and the lab each came from: model, nodes,
    /// pods per node, faults injected (on node N).
    /// (case, model, nodes, pods per node, [(fault, node)]).
    type Recorded = (
        &'static str,
        &'static str,
        u32,
        u32,
        &'static [(&'static str, u32)],
    );

    const RECORDED: &[Recorded] = &[
        ("flannel-vxlan-3x2", "flannel-vxlan", 3, 2, &[]),
        ("flannel-host-gw-3x2", "flannel-host-gw", 3, 2, &[]),
        ("calico-bgp-3x2", "calico-bgp", 3, 2, &[]),
        ("flannel-vxlan-2x1", "flannel-vxlan", 2, 1, &[]),
        (
            "flannel-vxlan-5x6-mtu-mismatch-node-1",
            "flannel-vxlan",
            5,
            6,
            &[("mtu-mismatch", 1)],
        ),
        (
            "flannel-vxlan-3x2-pod-cidr-overlap-node-1",
            "flannel-vxlan",
            3,
            2,
            &[("pod-cidr-overlap", 1)],
        ),
        (
            "flannel-host-gw-3x2-pod-cidr-overlap-node-3",
            "flannel-host-gw",
            3,
            2,
            &[("pod-cidr-overlap", 3)],
        ),
        (
            "flannel-host-gw-3x2-service-cidr-overlap-node-2",
            "flannel-host-gw",
            3,
            2,
            &[("service-cidr-overlap", 2)],
        ),
        (
            "calico-bgp-4x5-bgp-route-missing-node-2",
            "calico-bgp",
            4,
            5,
            &[("bgp-route-missing", 2)],
        ),
    ];

    fn read_k8s(dir: &Path) -> K8s {
        let read = |f: &str| fs::read_to_string(dir.join(f)).expect("recorded file");
        K8s {
            nodes: kubectl::parse_nodes(&read("nodes.json")).expect("nodes"),
            pods: kubectl::parse_pods(&read("pods.json")).expect("pods"),
            services: Some(kubectl::parse_services(&read("services.json")).expect("svc")),
            endpoint_slices: Some(
                kubectl::parse_endpointslices(&read("endpointslices.json")).expect("slices"),
            ),
            calico: read_calico(dir),
            ..K8s::default()
        }
    }

    /// The Calico objects a calico lab writes beside the others.
    fn read_calico(dir: &Path) -> cnictl_model::CalicoObjects {
        let read = |f: &str| fs::read_to_string(dir.join(f)).ok();
        use cnictl_formats as f;
        cnictl_model::CalicoObjects {
            bgp_configurations: read("bgpconfigurations.json")
                .map(|t| f::parse_bgpconfigurations(&t).expect("calico objects parse")),
            bgp_peers: read("bgppeers.json")
                .map(|t| f::parse_bgppeers(&t).expect("calico objects parse")),
            ip_pools: read("ippools.json")
                .map(|t| f::parse_ippools(&t).expect("calico objects parse")),
            block_affinities: read("blockaffinities.json")
                .map(|t| f::parse_blockaffinities(&t).expect("calico objects parse")),
        }
    }

    /// The recordings predate web's NodePort (30080, externalTrafficPolicy
    /// Cluster) and the Calico objects (IPPool, BlockAffinities) a calico
    /// lab now writes: everything else must be as recorded, web as the
    /// ClusterIP Service it was then.
    fn as_recorded(mut k: K8s) -> K8s {
        k.calico = Default::default();
        for s in k.services.iter_mut().flatten().filter(|s| s.name == "web") {
            assert_eq!(s.ports[0].node_port, Some(30080));
            s.service_type = "ClusterIP".into();
            s.external_traffic_policy = None;
            s.ports[0].node_port = None;
        }
        k
    }

    fn recorded_dir(case: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../lab/testdata/k8s")
            .join(case)
    }

    #[test]
    fn objects_equal_what_lab_sh_recorded() {
        for &(case, model, nodes, pods, faults) in RECORDED {
            let mut plan = LabPlan::new(model, nodes, pods, "cnlt").expect("valid lab");
            for &(fault, node) in faults {
                plan.apply_fault(fault, node);
            }
            let mut recorded = read_k8s(&recorded_dir(case));
            // The recordings carry kubelet's own node labels
            // (kubernetes.io/hostname, …); the lab writes only the labels a
            // CNI reads (route reflectors), none on these labs.
            recorded.nodes.iter_mut().for_each(|n| n.labels.clear());
            assert_eq!(as_recorded(plan.k8s()), recorded, "{case}");
            let out = tempfile::tempdir().expect("temp dir");
            write_k8s(&plan, out.path()).expect("k8s written");
            let written = read_k8s(&out.path().join("k8s"));
            assert_eq!(written, plan.k8s(), "{case}: through the writer");
        }
    }

    #[test]
    fn state_round_trips_and_records_faults() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("cnlt.state");
        let shape = LabShape {
            model: "calico-bgp".into(),
            nodes: 3,
            pods: 2,
            prefix: "cnlt".into(),
            kube_proxy: "nftables".into(),
            policies: None,
            dual_stack: false,
            cross_subnet: false,
            direct_routing: false,
            reflectors: 0,
        };
        init(&shape, &path, dir.path().join("cnlt"), "now".into()).expect("init");
        record_fault("bgp-route-missing", 1, &path).expect("fault");
        assert!(record_fault("bgp-route-missing", 4, &path).is_err());
        let st = LabState::load(&path).expect("state");
        assert_eq!(st.injected, ["bgp-route-missing@node-1"]);
        let vars = shell(&scalar_vars(&st.plan, Some(&st)));
        assert!(vars.contains("BIRD_REJECT=1:2\n"), "{vars}");
        assert!(vars.contains("FAULTS=bgp-route-missing@node-1\n"), "{vars}");
        assert!(vars.contains("KUBE_PROXY=nftables\n"), "{vars}");
    }

    #[test]
    fn shell_output_evaluates_in_bash() {
        let plan = LabPlan::new("flannel-vxlan", 3, 2, "cnlt").expect("valid lab");
        let mut vars = scalar_vars(&plan, None);
        vars.extend(node_vars(&plan));
        vars.extend(pod_vars(&plan));
        vars.push(("ODD", Var::One("it's a $(test)".into())));
        let script = format!(
            "{}\necho \"${{NODE_IP[2]}} ${{HOST_VETH[1.2]}} ${{POD_NS[3.1]}} $ODD\"",
            shell(&vars)
        );
        let o = Command::new("bash")
            .arg("-c")
            .arg(script)
            .output()
            .expect("bash runs");
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            out.trim(),
            "192.0.2.12 veth46ff261e cnlt-node-3-web-3 it's a $(test)"
        );
    }
}
