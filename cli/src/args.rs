//! The parsed command line, and nothing else (ripgrep's first stage):
//! `resolve` turns these flags into a loaded snapshot and a config.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const ABOUT: &str = "Why can't pod A reach pod B? cnictl reads each node's dataplane (links, \
routes, rules, neighbours, bridge FDB, VXLAN/IPIP, IPVS, BIRD BGP), recognises the CNI model, \
checks it across nodes and explains a path hop by hop. It never changes what it reads.";

const AFTER: &str = "\
Examples:
  cnictl demo                                     # try it: an embedded broken cluster
  cnictl check --bundle ./bundle                  # verify a collected cluster
  cnictl explain default/web-1 default/api-2 --bundle ./bundle
  cnictl snapshot --bundle ./bundle -o snap.json  # normalise once, analyse many times

Exit codes: 0 healthy / delivered, 1 findings at error severity / dropped, 2 usage or input error.
A bundle is a directory of `ip -j`, `bridge -j`, `ipvsadm`, `birdc` and `kubectl` outputs;
lab/collect-node.sh and lab/collect-k8s.sh write one (see README, \"Bundles\").";

#[derive(Debug, Parser)]
#[command(name = "cnictl", version, about = ABOUT, after_help = AFTER)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run on an embedded demo cluster: model, findings and one broken path explained.
    #[command(after_help = "Example:\n  cnictl demo\n  cnictl demo --output json")]
    Demo(DemoArgs),
    /// Detect the CNI model (per node and for the cluster) and show the evidence.
    #[command(
        after_help = "Example:\n  cnictl model --bundle fixtures/flannel-vxlan\n  cnictl model --bundle ./bundle --output json | jq -r .model"
    )]
    Model(AnalyzeArgs),
    /// Check the dataplane across all nodes and report findings.
    #[command(after_help = CHECK_AFTER)]
    Check(CheckArgs),
    /// Explain a path from SRC to DST hop by hop through the reference dataplane.
    #[command(after_help = EXPLAIN_AFTER)]
    Explain(ExplainArgs),
    /// NetworkPolicy matrix: what the policies intend for every pod pair, beside what the dataplane does.
    #[command(after_help = MATRIX_AFTER)]
    Matrix(MatrixArgs),
    /// Compare two snapshots or bundles: findings added/resolved, dataplane entries changed.
    #[command(
        after_help = "Example:\n  cnictl diff yesterday.json ./bundle-now\n\nEach side is a bundle directory or a snapshot JSON file.\nExit codes: 0 no new error finding, 1 new error findings, 2 input error."
    )]
    Diff(DiffArgs),
    /// Load a bundle (or snapshot) and write the normalised snapshot JSON.
    #[command(
        after_help = "Example:\n  cnictl snapshot --bundle fixtures/calico-bgp -o snap.json\n  cnictl snapshot --bundle ./bundle | jq '.nodes | keys'"
    )]
    Snapshot(SnapshotArgs),
    /// Write a synthetic bundle of any size for a CNI model (benchmark input).
    #[command(
        after_help = "Examples:\n  cnictl gen --model calico-bgp --nodes 1000 -o /tmp/bundle-1000\n  cnictl gen --model flannel-vxlan --nodes 5 --pods-per-node 2 --services 3 -o /tmp/small\n  cnictl gen --model calico-bgp --nodes 3 --services 10000 --kube-proxy nftables --endpoints-per-service 5 -o /tmp/svc10k\n\nWith --kube-proxy, every 10th Service is a NodePort (every 20th also externalTrafficPolicy\nLocal) and each node gets the rules kube-proxy writes in that mode: iptables-save.txt,\nnft-ruleset.json, or ipvsadm.txt + iptables-save.txt + ipset-save.txt. Without it,\n--services gives IPVS tables alone (ipvsadm.txt), as before."
    )]
    Gen(GenArgs),
    /// Build, break, record and tear down real namespace labs (root; the only writing command).
    #[command(
        after_help = "Example:\n  sudo cnictl lab up flannel-vxlan\n  sudo cnictl collect --netns cnl-node-1 --pods\n  sudo cnictl lab break vxlan-fdb-missing\n  sudo cnictl lab bundle -o /tmp/b && cnictl check --bundle /tmp/b\n  sudo cnictl lab down"
    )]
    Lab(LabArgs),
    /// Read this node's dataplane over netlink (read-only) as a NodeSnapshot or bundle part.
    #[command(
        after_help = "Examples:\n  sudo cnictl collect --pretty | less\n  sudo cnictl collect --netns cnl-node-1 --pods --pods-prefix cnl-node-1- -o node-1.json\n  sudo cnictl collect --bundle-dir ./bundle        # then add k8s/ with lab/collect-k8s.sh\n\nNeeds CAP_NET_ADMIN for IPVS and CAP_SYS_ADMIN to enter other namespaces; it never changes them."
    )]
    Collect(CollectArgs),
    /// Serve /metrics (Prometheus), a JSON API and the web UI for a bundle or snapshot.
    #[command(
        after_help = "Examples:\n  cnictl serve --bundle fixtures/flannel-vxlan-broken-vxlan-fdb-missing\n      then open http://127.0.0.1:9640 (UI), /metrics, /api/v1/findings\n  cnictl serve --watch-dir /var/lib/cnictl/bundles --listen 0.0.0.0:9640\n\nAnalysis runs in the background when the source changes; the last good result\nstays served when a refresh fails. Read-only: no endpoint changes anything."
    )]
    Serve(ServeArgs),
    /// Run the node agent (DaemonSet): collect this node, check it, serve its snapshot.
    #[command(
        after_help = "Examples:\n  cnictl agent --kube --node-name $NODE_NAME --pods            # in the DaemonSet\n  sudo cnictl agent --netns cnl-node-1 --k8s-bundle /run/cnictl-lab/cnl --insecure-no-auth --listen 127.0.0.1:9641\n\nRead-only. Its snapshot API needs a bearer token allowed by TokenReview +\nSubjectAccessReview; /metrics and /healthz stay open."
    )]
    Agent(AgentArgs),
    /// Write a full bundle of the live cluster (API objects + every agent's node).
    #[command(
        after_help = "Examples:\n  cnictl bundle --kube -o ./incident-4711      # attach to a ticket, analyse offline\n  cnictl bundle --kube --agents 10.0.0.5:9641,10.0.0.6:9641 -o ./b\n\nNodes whose agent fails are listed; the rest are still written (exit 1 then)."
    )]
    Bundle(BundleArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  cnictl completion bash > /etc/bash_completion.d/cnictl\n  cnictl completion zsh > \"${fpath[1]}/_cnictl\"\n  cnictl completion fish > ~/.config/fish/completions/cnictl.fish"
    )]
    Completion(CompletionArgs),
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

const MATRIX_AFTER: &str = "\
Examples:
  cnictl matrix --manifests ./k8s-manifests --proto tcp --port 5432   # review, before deploying
  cnictl matrix --bundle ./bundle                   # every port a policy names, intent vs dataplane
  cnictl matrix --bundle ./bundle --by namespace --proto tcp --port 80
  cnictl matrix --bundle ./bundle -o json | jq '.cells[] | select(.intended != (if .dataplane == \"delivered\" then \"allowed\" else .intended end))'

Intent follows the Kubernetes NetworkPolicy semantics: a pod selected by a policy
of a direction accepts only what some selecting policy's rule allows; a connection
needs the source's egress and the destination's ingress. The dataplane column is
the reference dataplane's verdict on the connection's first packet (TCP/UDP/SCTP
to the port; ICMP echo when no policy names a port); `not-evaluated` without node
dumps (--manifests, a bundle of k8s/ alone).

Without --proto/--port there is one cell per pair for each (protocol, port) any
policy names (numbers, range ends, named ports resolved on the pods), or a single
protocol-independent cell when no policy names a port. Host-network and finished
pods are left out (no agent polices them as pods). Manifests: workloads
(Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob) stand for up to 10
pods named <workload>-0, -1, …; Services, ConfigMaps and other kinds are skipped.

Exit codes: 0 intent and dataplane agree (or no dataplane), 1 some cell disagrees
(a policy not enforced, or a drop no policy asks for), 2 usage or input error
(including a bundle without k8s/networkpolicies.json).";

const CHECK_AFTER: &str = "\
Examples:
  cnictl check --bundle ./bundle
  cnictl check --bundle ./bundle --severity error --output json | jq '.findings[].code'
  cnictl check --bundle ./bundle --strict      # exit 3 if a check was skipped for missing inputs

Checks whose inputs were not collected are skipped and listed (JSON: `skipped`); the
headline then says \"incomplete\" rather than claiming a healthy dataplane.

Exit codes: 0 no error-severity finding, 1 at least one, 2 usage or input error,
3 (with --strict) no error finding but checks were skipped.
Finding codes are listed in the README (\"Finding codes\").";

const EXPLAIN_AFTER: &str = "\
SRC is a pod (ns/name or a unique name), node/NAME or an IP; DST is a pod, an IP, a
Service (svc/ns/name[:port]) or its ClusterIP, a NodePort (node/NAME:NODEPORT), or an
address outside the cluster (egress). --from-outside IP makes the source a client outside
the cluster; then give only DST.

Examples:
  cnictl explain default/web-1 default/api-2 --bundle ./bundle
  cnictl explain web-1 svc/default/api:80 --reverse --bundle ./bundle  # every backend, and the reply
  cnictl explain --from-outside 203.0.113.10 node/node-1:30080 --bundle ./bundle
  cnictl explain web-1 203.0.113.10 --port 443 --reverse --bundle ./bundle  # egress: SNAT, reply
  cnictl explain 10.244.1.2 10.244.2.3 --size 1500 --reverse --snapshot snap.json
  cnictl explain web-1 api-2 --port 8080 --verbose --bundle ./bundle   # every netfilter rule evaluated

Netfilter: at every hook the node's iptables (legacy and nft backends) and nftables rules
are evaluated for the first packet of a connection (--reverse: its reply); a hop names the
rule that dropped, rejected, rewrote or marked the packet. A rule cnictl cannot evaluate
makes the verdict `unknown`, naming the rule. A Service is followed through the rules
kube-proxy wrote (iptables, nftables or IPVS mode), one backend per endpoint with its
share of new connections.

Exit codes: 0 delivered, 1 dropped (for a Service: any backend dropped; JSON
delivered_share says how much still works), 2 usage or input error, 3 unknown (the answer
depends on something cnictl could not evaluate or that was not collected).";

/// Where the cluster comes from. Exactly one source.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct Source {
    /// A bundle directory (README "Bundles": k8s/*.json, nodes/<node>/*),
    /// or a .tar, .tar.gz/.tgz or .zip of one (read in memory; one
    /// top-level folder around the bundle is fine).
    #[arg(long, value_name = "DIR|ARCHIVE")]
    pub bundle: Option<PathBuf>,
    /// A snapshot JSON written by `cnictl snapshot` (or gzipped: .json.gz).
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,
    /// The live cluster: objects from the Kubernetes API, each node's
    /// dataplane from its `cnictl agent` (see the cluster options).
    #[arg(long)]
    pub kube: bool,
}

/// How to reach a cluster: the API and the agents.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// kubeconfig file [default: $KUBECONFIG, ~/.kube/config, or in-cluster].
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// kubeconfig context [default: the current one].
    #[arg(long)]
    pub context: Option<String>,
    /// Namespace of the agent DaemonSet.
    #[arg(long, default_value = "cnictl")]
    pub agent_namespace: String,
    /// Label selector of the agent pods.
    #[arg(
        long,
        default_value = "app.kubernetes.io/name=cnictl,app.kubernetes.io/component=agent"
    )]
    pub agent_selector: String,
    /// Port the agents listen on.
    #[arg(long, default_value_t = 9641)]
    pub agent_port: u16,
    /// Pull these agents (host:port,…) instead of discovering them through the API.
    #[arg(long, value_delimiter = ',', value_name = "HOST:PORT")]
    pub agents: Vec<String>,
    /// Bearer token file sent to agents [in a pod: the service account token].
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// With --agents: take the Kubernetes objects from this bundle's k8s/
    /// instead of the API (labs: /run/cnictl-lab/PREFIX).
    #[arg(long, value_name = "DIR")]
    pub k8s_from: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Text for a terminal.
    #[default]
    Text,
    /// Text with every detail (as kubectl's wide): explain's netfilter
    /// rule lists (`--verbose`), each consequence's evidence and hint in
    /// check; the same as text elsewhere.
    Wide,
    /// One JSON document (the contract in README).
    Json,
    /// The JSON document as YAML.
    Yaml,
}

impl Output {
    /// JSON or YAML: the machine-readable document.
    pub fn is_document(self) -> bool {
        matches!(self, Output::Json | Output::Yaml)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Color {
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args)]
pub struct Render {
    /// Output format, as kubectl's: text, wide, json or yaml (`-O` still works).
    #[arg(long, short = 'o', short_alias = 'O', value_enum, default_value_t)]
    pub output: Output,
    /// Colour in text output (auto: only on a terminal, and not with NO_COLOR).
    #[arg(long, value_enum, default_value_t)]
    pub color: Color,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub render: Render,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub source: Source,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub render: Render,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum MinSeverity {
    Error,
    Warning,
    Info,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub source: Source,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub render: Render,
    /// Show only findings at this severity or worse (the text says how
    /// many were hidden; the exit code still counts every error).
    #[arg(long, value_enum, default_value = "info")]
    pub severity: MinSeverity,
    /// Exit 3 when any check was skipped for missing inputs (and there is
    /// no error finding, which exits 1): a clean bill of health must cover
    /// every check.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Proto {
    Icmp,
    Tcp,
    Udp,
}

/// Protocols a NetworkPolicy port names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyProto {
    Tcp,
    Udp,
    Sctp,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum MatrixBy {
    #[default]
    Pod,
    Namespace,
}

#[derive(Debug, Args)]
#[group(id = "input", required = true, multiple = false, args = ["bundle", "snapshot", "kube", "manifests"])]
pub struct MatrixArgs {
    /// A bundle directory or archive (k8s/networkpolicies.json needed; a
    /// bundle of k8s/ alone gives intent only).
    #[arg(long, value_name = "DIR|ARCHIVE")]
    pub bundle: Option<PathBuf>,
    /// A snapshot JSON written by `cnictl snapshot` (or .json.gz).
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,
    /// The live cluster (API objects and every agent's node).
    #[arg(long)]
    pub kube: bool,
    /// A file or directory of Kubernetes manifests (YAML or JSON: Pods,
    /// workloads, Namespaces, NetworkPolicies): intent before deploying.
    #[arg(long, value_name = "PATH")]
    pub manifests: Option<PathBuf>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub render: Render,
    /// Protocol of the connection [default with --port: tcp].
    #[arg(long, value_enum)]
    pub proto: Option<PolicyProto>,
    /// Destination port of the connection.
    #[arg(long)]
    pub port: Option<u16>,
    /// One cell per ordered pod pair, or per ordered namespace pair
    /// (`partial` when only some of its pod pairs are allowed).
    #[arg(long, value_enum, default_value_t)]
    pub by: MatrixBy,
    /// Only intent: skip the dataplane column even when nodes were collected.
    #[arg(long)]
    pub no_dataplane: bool,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Source: a pod (ns/name or unique name), node/NAME (its host network)
    /// or an IP. With --from-outside give only DST.
    #[arg(value_name = "SRC")]
    pub src: String,
    /// Destination: a pod, node/NAME[:NODEPORT], an IP (a ClusterIP is
    /// explained as its Service; an address outside the cluster is egress),
    /// or a Service as svc/ns/name[:port].
    #[arg(value_name = "DST", required_unless_present = "from_outside")]
    pub dst: Option<String>,
    /// The source is a client outside the cluster with this address: it
    /// enters the node DST names (node/NAME:NODEPORT, a node IP), or with a
    /// LoadBalancer or external IP (svc/ns/name gives the first) the node
    /// --via names. E.g. `--from-outside 203.0.113.10 node/node-1:30080`.
    #[arg(long, value_name = "IP")]
    pub from_outside: Option<std::net::IpAddr>,
    /// With --from-outside: the node the load balancer or router sends the
    /// packet to, when DST is no node's address.
    #[arg(long, value_name = "NODE", requires = "from_outside")]
    pub via: Option<String>,
    #[command(flatten)]
    pub source: Source,
    /// Kubernetes manifests (a file or directory of YAML/JSON) instead of
    /// a cluster: only the NetworkPolicy intent is answered (verdict
    /// unknown, exit 3). A bundle of k8s/ alone is answered the same way.
    #[arg(long, value_name = "PATH", group = "Source")]
    pub manifests: Option<PathBuf>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub render: Render,
    /// Destination port (tcp/udp; defaults to the Service port for svc/...).
    #[arg(long)]
    pub port: Option<u16>,
    /// Protocol of the probe packet [default: tcp with a port or a Service, else icmp].
    #[arg(long, value_enum)]
    pub proto: Option<Proto>,
    /// IP total length of the packet in bytes (a default ping is 84).
    #[arg(long, default_value_t = 84, value_parser = clap::value_parser!(u16).range(20..))]
    pub size: u16,
    /// Clear Don't-Fragment (set by default, as ping and TCP do).
    #[arg(long)]
    pub no_df: bool,
    /// Address family of dual-stack pods named by name [default: that of
    /// an IP given for the other end, else 4].
    #[arg(long, value_parser = ["4", "6"])]
    pub family: Option<String>,
    /// Also trace the way back and flag asymmetry.
    #[arg(long)]
    pub reverse: bool,
    /// The namespace of pods and Services given by bare name (as kubectl's
    /// -n): `web-1` is then `NS/web-1`.
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: Option<String>,
    /// List every netfilter hook passed and every rule evaluated there,
    /// matched or not (text; in JSON the `netfilter[].evaluated` lists).
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// One line per node crossed (devices in order, tunnels and NAT on the
    /// way) and the verdict, like `ovn-trace --minimal`: for a healthy path
    /// all you need. Text only.
    #[arg(long, conflicts_with = "verbose")]
    pub brief: bool,
    /// Live, read-only: ask each hop's kernel the same routing question
    /// (RTM_GETROUTE, as `ip route get`) and mark every routing hop
    /// `✓ kernel agrees` or `✗ kernel says …`. Needs --lab or --netns-map
    /// (and root to enter namespaces). Exit code 1 if any hop disagrees,
    /// 2 if no hop could be checked.
    #[arg(long)]
    pub validate: bool,
    /// Live, opt-in (root / CAP_NET_RAW): send one probe (ICMP echo, or UDP
    /// to --port with --proto udp) from the source pod's netns and capture it
    /// with libpcap on the pod's veth, the tunnel device and the source
    /// node's underlay device, checking outer src/dst, VNI and inner src/dst
    /// against the prediction. Exit code 1 if the wire disagrees.
    #[arg(long)]
    pub probe: bool,
    /// Live namespaces for --validate/--probe: NODE=NETNS or NS/POD=NETNS,
    /// comma-separated (e.g. node-1=cnl-node-1,default/web-1=cnl-node-1-web-1).
    #[arg(long, value_name = "MAP", value_delimiter = ',')]
    pub netns_map: Vec<String>,
    /// Map a `cnictl lab` prefix: node-N → PREFIX-node-N, pods by the lab's
    /// pod maps in /run/cnictl-lab/PREFIX/ (else PREFIX-NODE-POD).
    #[arg(long, value_name = "PREFIX")]
    pub lab: Option<String>,
    /// How long --probe captures, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1500)]
    pub probe_timeout: u64,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The earlier state: a bundle directory or a snapshot JSON file.
    pub old: PathBuf,
    /// The later state: a bundle directory or a snapshot JSON file.
    pub new: PathBuf,
    /// Also show what is noise in an incident: neighbour states flapping
    /// (REACHABLE/STALE/DELAY), veth MACs and indices after pod restarts,
    /// IPv6 link-local addresses, counters (`…_count` sysctls).
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub render: Render,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    #[command(flatten)]
    pub source: Source,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Write here (atomically) instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Indent the JSON.
    #[arg(long)]
    pub pretty: bool,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// CNI model: flannel-vxlan, flannel-host-gw, calico-bgp or calico-ipip.
    #[arg(long)]
    pub model: String,
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Pods per node (Kubernetes' default maximum is 110).
    #[arg(long, default_value_t = 110)]
    pub pods_per_node: usize,
    /// Services (each node then gets kube-proxy IPVS tables, or the rules of --kube-proxy).
    #[arg(long, default_value_t = 0)]
    pub services: usize,
    /// kube-proxy mode whose rules each node gets: iptables, nftables or ipvs.
    /// When omitted, --services gives IPVS tables only (no NodePorts, no rules).
    #[arg(long, value_name = "MODE")]
    pub kube_proxy: Option<String>,
    /// Ready endpoints per Service (default: 3, at most one per node).
    #[arg(long, value_name = "M")]
    pub endpoints_per_service: Option<usize>,
    /// The bundle directory to write (must not exist, or be empty).
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct LabArgs {
    #[command(subcommand)]
    pub command: LabCommand,
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Build a lab: underlay, node and pod namespaces for MODEL, then a ping matrix.
    #[command(
        after_help = "Example:\n  sudo cnictl lab up flannel-vxlan\n  sudo cnictl lab up calico-bgp --nodes 4 --pods 3 --prefix cnl2\n  sudo cnictl lab up flannel-vxlan --kube-proxy nftables\n  sudo cnictl lab up calico-bgp --policies lab/testdata/policies/lab-policies.yaml\n  sudo cnictl lab up calico-vxlan --cross-subnet\n  sudo cnictl lab up flannel-vxlan --direct-routing\n  sudo cnictl lab up calico-bgp --nodes 4 --reflectors 1"
    )]
    Up {
        /// flannel-vxlan, flannel-host-gw, calico-bgp (runs one BIRD 2 per
        /// node) or calico-vxlan (Felix's vxlan.calico, no BGP).
        model: String,
        #[arg(long, default_value_t = 3)]
        nodes: u32,
        /// Pods per node.
        #[arg(long, default_value_t = 2)]
        pods: u32,
        /// Name prefix of every namespace the lab creates (must start with "cnl").
        #[arg(long, default_value = "cnl")]
        prefix: String,
        /// kube-proxy's mode: iptables (KUBE-* chains) or nftables (its `ip kube-proxy` table).
        #[arg(long = "kube-proxy", default_value = "iptables", value_parser = ["iptables", "nftables"])]
        kube_proxy: String,
        /// NetworkPolicies (and Namespaces, for their labels) as YAML or JSON manifests,
        /// programmed as the model's policy agent would (Felix on calico-bgp, kube-router
        /// on Flannel); pods then carry role=frontend|backend and port http 8080/TCP.
        #[arg(long, value_name = "FILE")]
        policies: Option<PathBuf>,
        /// IPv6 beside IPv4 (flannel-host-gw, flannel-vxlan, calico-bgp): both families.
        #[arg(long = "dual-stack")]
        dual_stack: bool,
        /// Odd nodes on 192.0.2.0/24, even ones on 198.51.100.0/24, routed between;
        /// calico-vxlan then runs vxlanMode CrossSubnet (same-subnet peers direct).
        #[arg(long = "cross-subnet")]
        cross_subnet: bool,
        /// flannel-vxlan with "DirectRouting": true (implies --cross-subnet):
        /// same-subnet peers routed directly, the others over VXLAN.
        #[arg(long = "direct-routing")]
        direct_routing: bool,
        /// calico-bgp: nodes 1..=N are route reflectors, no node-to-node mesh (BIRD
        /// as Calico's confd renders it; BGPConfiguration/BGPPeer objects in k8s/).
        #[arg(long, value_name = "N", default_value_t = 0)]
        reflectors: u32,
    },
    /// Remove everything the lab created (namespaces, BIRD daemons, state), even after a crash.
    Down {
        #[arg(long, default_value = "cnl")]
        prefix: String,
    },
    /// Inject one fault into a running lab and print the commands it ran.
    #[command(after_help = LAB_BREAK_AFTER)]
    Break {
        /// The fault, named by the finding code it should produce.
        fault: String,
        /// The node to break.
        #[arg(long, default_value = "node-1")]
        node: String,
        #[arg(long, default_value = "cnl")]
        prefix: String,
    },
    /// Record the running lab as a bundle (the layout in the README, "Bundles").
    #[command(
        after_help = "Example:\n  sudo cnictl lab bundle -o /tmp/lab-bundle && cnictl check --bundle /tmp/lab-bundle"
    )]
    Bundle {
        /// The bundle directory to write.
        #[arg(long, short = 'o', value_name = "DIR")]
        out: PathBuf,
        /// Replace an existing bundle directory.
        #[arg(long)]
        force: bool,
        #[arg(long, default_value = "cnl")]
        prefix: String,
    },
    /// Ping every pod from every pod; exit 1 if any pair is unreachable.
    Ping {
        #[arg(long, default_value = "cnl")]
        prefix: String,
    },
    /// Show running labs: model, nodes, pods, injected faults.
    Status {
        #[arg(long)]
        prefix: Option<String>,
    },
    /// List the faults `lab break` can inject into a lab of MODEL (or of every model).
    #[command(after_help = "Example:\n  cnictl lab faults calico-bgp")]
    Faults {
        /// flannel-vxlan, flannel-host-gw, calico-bgp or calico-vxlan.
        model: Option<String>,
    },
    /// Internal (lab.sh): print a lab's plan, from its state file or for a
    /// new lab of MODEL.
    #[command(hide = true)]
    Plan(LabPlanArgs),
    /// Internal (lab.sh): write a new lab's state file.
    #[command(hide = true)]
    Init {
        #[command(flatten)]
        shape: LabShape,
        #[arg(long, value_name = "FILE")]
        state: PathBuf,
        /// The lab's directory (k8s/, pod maps, BIRD files).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Creation time (RFC 3339).
        #[arg(long)]
        created: String,
    },
    /// Internal (lab.sh): record an injected fault in the state file.
    #[command(hide = true)]
    Fault {
        fault: String,
        /// The node index it was injected on.
        #[arg(long)]
        node: u32,
        #[arg(long, value_name = "FILE")]
        state: PathBuf,
    },
    /// Internal (lab.sh): print node N's netfilter rules (kube-proxy's,
    /// then the CNI's) as `iptables-restore --noflush` input.
    #[command(hide = true)]
    Rules {
        /// The node index.
        #[arg(long)]
        node: u32,
        #[arg(long, value_name = "FILE")]
        state: PathBuf,
        /// iptables: `iptables-restore` input; nft: kube-proxy's table as
        /// `nft -j` input (nftables mode; empty otherwise); ipset: `ipset
        /// restore` input.
        #[arg(long, value_enum, default_value_t)]
        format: RulesFormat,
    },
    /// Internal (lab.sh): write the lab's Kubernetes objects to DIR/k8s/.
    #[command(hide = true)]
    K8s {
        #[arg(long, value_name = "FILE")]
        state: PathBuf,
        #[arg(long, short = 'o', value_name = "DIR")]
        out: PathBuf,
    },
}

/// A new lab's shape, as `lab up` takes it.
#[derive(Debug, Args)]
pub struct LabShape {
    pub model: String,
    #[arg(long, default_value_t = 3)]
    pub nodes: u32,
    #[arg(long, default_value_t = 2)]
    pub pods: u32,
    #[arg(long, default_value = "cnl")]
    pub prefix: String,
    #[arg(long = "kube-proxy", default_value = "iptables", value_parser = ["iptables", "nftables"])]
    pub kube_proxy: String,
    /// NetworkPolicy manifests (YAML or JSON) the lab's policy agent programs.
    #[arg(long, value_name = "FILE")]
    pub policies: Option<PathBuf>,
    // The flags below mean what `lab up` documents for them.
    #[arg(long = "dual-stack")]
    pub dual_stack: bool,
    #[arg(long = "cross-subnet")]
    pub cross_subnet: bool,
    #[arg(long = "direct-routing")]
    pub direct_routing: bool,
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub reflectors: u32,
}

/// Which of a lab node's rules `lab rules` prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum RulesFormat {
    #[default]
    Iptables,
    Nft,
    Ipset,
}

#[derive(Debug, Args)]
pub struct LabPlanArgs {
    /// The lab's state file.
    #[arg(long, value_name = "FILE", conflicts_with = "model")]
    pub state: Option<PathBuf>,
    /// A new lab instead: flannel-vxlan, flannel-host-gw, calico-bgp or calico-vxlan.
    #[arg(required_unless_present = "state")]
    pub model: Option<String>,
    #[arg(long, default_value_t = 3)]
    pub nodes: u32,
    #[arg(long, default_value_t = 2)]
    pub pods: u32,
    #[arg(long, default_value = "cnl")]
    pub prefix: String,
    #[arg(long = "kube-proxy", default_value = "iptables", value_parser = ["iptables", "nftables"])]
    pub kube_proxy: String,
    #[arg(long = "dual-stack")]
    pub dual_stack: bool,
    #[arg(long = "cross-subnet")]
    pub cross_subnet: bool,
    #[arg(long = "direct-routing")]
    pub direct_routing: bool,
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub reflectors: u32,
    #[arg(long, value_enum, default_value_t)]
    pub format: PlanFormat,
}

/// How `lab plan` prints: bash assignments (arrays indexed by node, and by
/// "node.pod" for pods) or the same variables as JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    #[default]
    Shell,
    Json,
}

const LAB_BREAK_AFTER: &str = concat!(
    "Faults (`cnictl lab faults MODEL` lists those that apply): ",
    "missing-pod-route, wrong-next-hop, next-hop-not-adjacent, vxlan-fdb-missing, ",
    "vxlan-neigh-missing, vxlan-fdb-mismatch, mtu-mismatch, bgp-session-down, bgp-route-missing, ",
    "route-shadowed, pod-route-missing, ip-forward-disabled, pod-cidr-overlap, service-cidr-overlap, ",
    "ipam-leaked-affinity (calico-bgp: node-N also gets the peer's block affinity, BIRD blackholes and announces it); ",
    "in a lab up with --dual-stack, IPv6 only: missing-pod-route-v6 (node-N's route to the peer's IPv6 pod CIDR deleted), vxlan-fdb-missing-v6, vxlan-neigh-missing-v6 (flannel-vxlan: its flannel-v6.1 FDB / neighbour entry for the peer deleted), bgp-session-down-v6, bgp-route-missing-v6 (calico-bgp: node-N's IPv6 session to the peer shut, or rejecting the peer's IPv6 block)",
    "\n\nNetfilter faults, injected with the node's own iptables in its namespace:\n",
    "  forward-drop    FORWARD policy DROP, as Docker sets it (Flannel: FLANNEL-FWD flushed too)\n",
    "  block-vxlan     INPUT drops udp/8472, Flannel's VXLAN port (flannel-vxlan)\n",
    "  block-bgp       INPUT drops tcp/179 from the BGP peers; sessions reset (calico-bgp)\n",
    "  backend-mixed   a stale iptables-legacy FORWARD rule drops traffic to pod web-N",
    "\n\nService faults (either kube-proxy mode; kube-proxy's rules resynced as it would):\n",
    "  service-stale-backend  pod web on the next node deleted; node-N's kube-proxy keeps its endpoint\n",
    "  service-no-backends    every default/api pod not ready: every node rejects its ClusterIP\n",
    "  service-rules-missing  node-N's kube-proxy has no rules for default/web\n",
    "  masquerade-missing     node-N's CNI rule masquerading pod traffic to the outside deleted\n",
    "  nodeport-local         default/web's NodePort switched to externalTrafficPolicy Local, web's pod on the node not ready",
    "\n\nNetworkPolicy faults (a lab up with --policies):\n",
    "  policy-rules-missing   the policy agent's rules absent on node-N: its jumps from the built-in chains deleted, its policy chains flushed\n",
    "  policy-ipset-stale     in node-N's ipset of a policy's peers, one pod's member deleted and another pod's added",
    "\n\nExample:\n  sudo cnictl lab break vxlan-fdb-missing --node node-1",
    "\n  sudo cnictl lab break forward-drop --node node-2"
);

#[derive(Debug, Args)]
pub struct CollectArgs {
    /// Read this named network namespace (/run/netns/NAME) instead of our own.
    #[arg(long, value_name = "NAME", conflicts_with = "netns_path")]
    pub netns: Option<String>,
    /// Read the namespace behind this file (e.g. /proc/PID/ns/net).
    #[arg(long, value_name = "PATH")]
    pub netns_path: Option<PathBuf>,
    /// The node name to record [default: the netns name, else the host name].
    #[arg(long)]
    pub node_name: Option<String>,
    /// Also collect every named netns (/run/netns, /var/run/netns) as a pod.
    #[arg(long)]
    pub pods: bool,
    /// With --pods: only namespaces whose name starts with this.
    #[arg(long, value_name = "PREFIX")]
    pub pods_prefix: Option<String>,
    /// BIRD's control socket [default: /run/bird/bird.ctl when it exists].
    #[arg(long, value_name = "PATH")]
    pub bird_socket: Option<PathBuf>,
    /// Do not read IPVS.
    #[arg(long)]
    pub no_ipvs: bool,
    /// Do not run the node's iptables-save / nft / ipset list commands
    #[arg(long)]
    pub no_netfilter: bool,
    /// Write the NodeSnapshot JSON here (atomically) instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE", conflicts_with = "bundle_dir")]
    pub out: Option<PathBuf>,
    /// Write the node's part of a bundle (nodes/<node>/…) into this bundle directory.
    #[arg(long, value_name = "DIR")]
    pub bundle_dir: Option<PathBuf>,
    /// Indent the JSON.
    #[arg(long)]
    pub pretty: bool,
}

#[derive(Debug, Args)]
#[group(id = "serve_source", required = true, multiple = false)]
pub struct ServeSource {
    /// A bundle directory, re-analysed when its files change.
    #[arg(long, value_name = "DIR", group = "serve_source")]
    pub bundle: Option<PathBuf>,
    /// A snapshot JSON file, re-analysed when it changes.
    #[arg(long, value_name = "FILE", group = "serve_source")]
    pub snapshot: Option<PathBuf>,
    /// A directory that receives bundles or snapshot files: the newest one
    /// is analysed (or DIR itself when it is a bundle).
    #[arg(long, value_name = "DIR", group = "serve_source")]
    pub watch_dir: Option<PathBuf>,
    /// Aggregate a live cluster: discover the agents through the API (or
    /// --agents) and pull every node's snapshot each refresh.
    #[arg(long, group = "serve_source")]
    pub kube: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub source: ServeSource,
    /// Address to listen on. Loopback by default: exposing the dataplane of a
    /// cluster is a decision, not a default.
    #[arg(long, default_value = "127.0.0.1:9640")]
    pub listen: std::net::SocketAddr,
    /// How often to look for changes in the source (or pull the agents): 30s, 5m, 1h.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub refresh: std::time::Duration,
    /// Log lines on standard error as text or JSON (filter: CNICTL_LOG=info|debug|…).
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: crate::logging::LogFormat,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `30`, `30s`, `500ms`, `5m`, `1h` → a Duration of at least 1 ms.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let (num, unit) = s.trim().split_at(
        s.trim()
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(s.trim().len()),
    );
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a number with an optional unit (ms, s, m, h)"))?;
    let ms = match unit {
        "ms" => n,
        "" | "s" => n.saturating_mul(1000),
        "m" => n.saturating_mul(60_000),
        "h" => n.saturating_mul(3_600_000),
        other => return Err(format!("{s:?}: unknown unit {other:?} (ms, s, m, h)")),
    };
    if ms == 0 {
        return Err(format!("{s:?}: must be more than zero"));
    }
    Ok(std::time::Duration::from_millis(ms))
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Address to serve the node's snapshot, findings and /metrics on.
    #[arg(long, default_value = "0.0.0.0:9641")]
    pub listen: std::net::SocketAddr,
    /// Read the cluster's expected state from the Kubernetes API and check
    /// bearer tokens with TokenReview + SubjectAccessReview.
    #[arg(long, conflicts_with = "k8s_bundle")]
    pub kube: bool,
    /// Take the expected state from this bundle's k8s/ (labs, tests).
    #[arg(long, value_name = "DIR")]
    pub k8s_bundle: Option<PathBuf>,
    /// This node's Kubernetes name [default: the host name].
    #[arg(long)]
    pub node_name: Option<String>,
    /// Collect every … interval, and on netlink changes (debounced).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub interval: std::time::Duration,
    /// Read this named netns instead of our own (labs).
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
    /// Also collect the pod network namespaces (/run/netns, /var/run/netns).
    #[arg(long)]
    pub pods: bool,
    /// With --pods: only namespaces whose name starts with this.
    #[arg(long, value_name = "PREFIX")]
    pub pods_prefix: Option<String>,
    /// BIRD's control socket.
    #[arg(long, value_name = "PATH")]
    pub bird_socket: Option<PathBuf>,
    /// Allow live probes (needs NET_RAW); accepted for the manifests, probes are opt-in per request.
    #[arg(long)]
    pub probe: bool,
    /// Serve the snapshot without authentication. ONLY for local labs: it
    /// exposes the node's whole network configuration to anyone who can connect.
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// Log lines on standard error as text or JSON (filter: CNICTL_LOG=info|debug|…).
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: crate::logging::LogFormat,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

#[derive(Debug, Args)]
pub struct BundleArgs {
    /// Pull the live cluster (API + agents).
    #[arg(long, required = true)]
    pub kube: bool,
    /// The bundle directory to write (must not exist, or be empty / an earlier bundle).
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}
