//! Finding codes: one typed table that the checks, explain's drop
//! classification, the README's code table and the metrics all read.
//!
//! Adding a code is one variant of [`Code`] plus one row of [`TABLE`] (in
//! the same order; a test holds them in step). The string a code prints as
//! is the stable contract (`{"code": "vxlan-fdb-missing", …}`), so a
//! [`Code`] serializes as that string and sorts by it.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How bad a finding is. `check` exits 1 when any finding is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One documented, stable finding code (README "Finding codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    PodCidrOverlap,
    ServiceCidrOverlap,
    MissingPodRoute,
    WrongNextHop,
    NextHopNotAdjacent,
    VxlanFdbMissing,
    VxlanNeighMissing,
    VxlanFdbMismatch,
    MtuMismatch,
    BgpSessionDown,
    BgpRouteMissing,
    IpvsServiceMissing,
    IpvsNoBackends,
    IpvsStaleBackend,
    RouteShadowed,
    PodRouteMissing,
    IpForwardDisabled,
    CniModelMixed,
    RpFilterStrict,
    StalePodRoute,
    AgentUnreachable,
    NetfilterForwardDrop,
    NetfilterBlocksOverlay,
    IptablesBackendMixed,
    BrNetfilterMissing,
    ConntrackNearFull,
    ServiceNoBackends,
    ServiceStaleBackend,
    ServiceBackendMissing,
    ServiceRulesMissing,
    MasqueradeMissing,
    PolicyNotEnforced,
    PolicyDrift,
    NodeportNoLocalEndpoint,
    NodeAddressMismatch,
    VxlanChecksumOffload,
    MacvlanHostUnreachable,
    IpamLeakedAffinity,
    IpamBlockMultipleRoutes,
    PodIpOutsidePools,
    CiliumTunnelMissing,
}

/// A bundle section a check reads (README "Bundles"): what a node or
/// the cluster must have collected for the check to run in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Input {
    K8sNodes,
    K8sPods,
    K8sServices,
    K8sEndpointSlices,
    K8sNetworkPolicies,
    /// Calico's `k8s/ippools.json`.
    K8sIpPools,
    /// Calico's `k8s/blockaffinities.json`.
    K8sBlockAffinities,
    IpLink,
    IpAddr,
    IpRoute,
    IpRule,
    IpNeigh,
    BridgeFdb,
    Ipvsadm,
    BirdProtocols,
    BirdRoutes,
    Sysctl,
    PodNetns,
    /// Any of the netfilter files (iptables-save, nft ruleset, ipsets).
    Netfilter,
    /// The legacy backend's dump (present only when it holds rules).
    IptablesLegacy,
    /// `ethtool -k` of the tunnel devices.
    Ethtool,
    /// `uname -r`.
    Uname,
    /// `cilium-dbg bpf ipcache list -o json`.
    CiliumIpcache,
}

impl Input {
    /// The bundle file that holds the section, as skip reasons name it.
    pub fn file(self) -> &'static str {
        match self {
            Input::K8sNodes => "k8s/nodes.json",
            Input::K8sPods => "k8s/pods.json",
            Input::K8sServices => "k8s/services.json",
            Input::K8sEndpointSlices => "k8s/endpointslices.json",
            Input::K8sNetworkPolicies => "k8s/networkpolicies.json",
            Input::K8sIpPools => "k8s/ippools.json",
            Input::K8sBlockAffinities => "k8s/blockaffinities.json",
            Input::IpLink => "ip-link.json",
            Input::IpAddr => "ip-addr.json",
            Input::IpRoute => "ip-route.json",
            Input::IpRule => "ip-rule.json",
            Input::IpNeigh => "ip-neigh.json",
            Input::BridgeFdb => "bridge-fdb.json",
            Input::Ipvsadm => "ipvsadm.txt",
            Input::BirdProtocols => "bird-protocols.txt",
            Input::BirdRoutes => "bird-routes.txt",
            Input::Sysctl => "sysctl.txt",
            Input::PodNetns => "pods/<namespace>_<pod>/",
            Input::Netfilter => "iptables-save.txt / nft-ruleset.json",
            Input::IptablesLegacy => "iptables-legacy-save.txt",
            Input::Ethtool => "ethtool.txt",
            Input::Uname => "uname.txt",
            Input::CiliumIpcache => "cilium/ipcache.json",
        }
    }
}

/// Who raises a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A check in `checks/` (registered in its registry).
    Check,
    /// The aggregator of `serve --kube`, not a check.
    Serve,
    /// A cluster-wide pass over the reference dataplane
    /// (`checks::policy`), run by the analysis pipeline once the engine
    /// is built: pod pairs through the engine, which no table check does.
    Dataplane,
}

/// Everything known about one code: one row of [`TABLE`].
#[derive(Debug, Clone, Copy)]
pub struct CodeInfo {
    pub code: Code,
    /// The stable string (`vxlan-fdb-missing`).
    pub name: &'static str,
    /// The usual severity; some checks lower it case by case (e.g.
    /// `ipvs-no-backends` is info when the Service has no ready endpoint).
    pub severity: Severity,
    /// One line for the README table.
    pub meaning: &'static str,
    /// The generic fix, where no check formats a node-specific one
    /// (explain's drop verdict).
    pub hint: &'static str,
    /// The bundle sections the code's check reads.
    pub inputs: &'static [Input],
    pub source: Source,
}

use Input as I;

const ROUTES: &[Input] = &[I::K8sNodes, I::IpRoute, I::IpAddr, I::IpRule];
const IPVS: &[Input] = &[I::K8sServices, I::Ipvsadm];
/// What the Service rule checks read: the Services, their ready endpoints
/// and the node's netfilter rules (or its IPVS tables, left to `ipvs-*`).
const SVC_RULES: &[Input] = &[I::K8sServices, I::K8sEndpointSlices, I::Netfilter];

/// The table, in [`Code`]'s variant order.
pub const TABLE: [CodeInfo; 41] = [
    CodeInfo {
        code: Code::PodCidrOverlap,
        name: "pod-cidr-overlap",
        severity: Severity::Error,
        meaning: "two nodes' pod CIDRs (or IPAM blocks) overlap",
        hint: "give every node a disjoint pod CIDR (kube-controller-manager --cluster-cidr / the IPAM pool) and recreate the affected nodes' pods",
        inputs: &[I::K8sNodes, I::IpRoute],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::ServiceCidrOverlap,
        name: "service-cidr-overlap",
        severity: Severity::Error,
        meaning: "a pod CIDR overlaps the service range or a node subnet",
        hint: "move the pod CIDR out of the service range and the node subnets",
        inputs: &[I::K8sNodes, I::K8sServices, I::IpAddr],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::MissingPodRoute,
        name: "missing-pod-route",
        severity: Severity::Error,
        meaning: "a node has no usable route to another node's pod CIDR",
        hint: "add the route to the destination pod CIDR on this node: check the CNI agent there (flanneld / calico-node / BIRD) and `ip route get <dst>`",
        inputs: ROUTES,
        source: Source::Check,
    },
    CodeInfo {
        code: Code::WrongNextHop,
        name: "wrong-next-hop",
        severity: Severity::Error,
        meaning: "the route exists but points at the wrong node / VTEP / device",
        hint: "the route points at the wrong node, VTEP or device: compare it with the destination node's IP / VTEP and let the CNI agent reprogram it",
        inputs: ROUTES,
        source: Source::Check,
    },
    CodeInfo {
        code: Code::NextHopNotAdjacent,
        name: "next-hop-not-adjacent",
        severity: Severity::Error,
        meaning: "host-gw / native-routing next hop is not on a directly connected subnet",
        hint: "host-gw/native routing needs the next hop on a directly connected subnet: put the nodes on one L2 segment or switch to an overlay (VXLAN/IPIP)",
        inputs: ROUTES,
        source: Source::Check,
    },
    CodeInfo {
        code: Code::VxlanFdbMissing,
        name: "vxlan-fdb-missing",
        severity: Severity::Error,
        meaning: "no FDB entry maps a remote VTEP MAC to its node IP",
        hint: "add `bridge fdb append <VTEP-MAC> dev <vxlan-dev> dst <node-ip>` (restart flanneld/calico-node to reprogram)",
        inputs: &[I::K8sNodes, I::IpLink, I::IpAddr, I::BridgeFdb],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::VxlanNeighMissing,
        name: "vxlan-neigh-missing",
        severity: Severity::Error,
        meaning: "no neighbour entry for a remote VTEP IP on the VXLAN device",
        hint: "add `ip neigh replace <VTEP-IP> lladdr <VTEP-MAC> dev <vxlan-dev> nud permanent` (restart the CNI agent to reprogram)",
        inputs: &[I::K8sNodes, I::IpLink, I::IpAddr, I::IpNeigh],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::VxlanFdbMismatch,
        name: "vxlan-fdb-mismatch",
        severity: Severity::Error,
        meaning: "the FDB/neighbour entry points at the wrong node or MAC",
        hint: "the FDB/neighbour entry names another node's VTEP: fix it to the destination node's VTEP MAC and IP",
        inputs: &[I::K8sNodes, I::IpLink, I::IpAddr, I::BridgeFdb, I::IpNeigh],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::MtuMismatch,
        name: "mtu-mismatch",
        severity: Severity::Error,
        meaning: "pod/tunnel MTU leaves no room for the encapsulation on the underlay",
        hint: "lower the pod/veth MTU to the underlay MTU minus the encapsulation (VXLAN 50, IPIP 20), or raise the underlay MTU",
        inputs: &[I::K8sNodes, I::IpLink, I::IpAddr, I::PodNetns],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::BgpSessionDown,
        name: "bgp-session-down",
        severity: Severity::Error,
        meaning: "a BGP peer is not Established",
        hint: "a BGP peer is not Established, so its pod blocks are not learned: check `birdc show protocols all` on both ends (enabled? reachable on TCP 179? AS numbers?)",
        inputs: &[I::BirdProtocols],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::BgpRouteMissing,
        name: "bgp-route-missing",
        severity: Severity::Error,
        meaning: "a peer's pod CIDR/block is not learned, or learned but not in the kernel",
        hint: "the peer's pod block is not learned: check `birdc show protocols` / `show route` on this node and the peer's export filter",
        inputs: &[I::K8sNodes, I::IpRoute, I::BirdProtocols, I::BirdRoutes],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::IpvsServiceMissing,
        name: "ipvs-service-missing",
        severity: Severity::Error,
        meaning: "a Service ClusterIP:port has no IPVS virtual server",
        hint: "kube-proxy has not programmed this Service: check kube-proxy's logs and `ipvsadm -Ln -t <vip>:<port>`",
        inputs: IPVS,
        source: Source::Check,
    },
    CodeInfo {
        code: Code::IpvsNoBackends,
        name: "ipvs-no-backends",
        severity: Severity::Error,
        meaning: "a virtual server has no real servers (or all weight 0)",
        hint: "the Service has no real servers: check its endpoints (`kubectl get endpointslices`) and pod readiness",
        inputs: &[I::K8sServices, I::K8sEndpointSlices, I::Ipvsadm],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::IpvsStaleBackend,
        name: "ipvs-stale-backend",
        // Error: a stale real server blackholes its share of new
        // connections (measured in a lab: 2 of 6 connects failed).
        severity: Severity::Error,
        meaning: "a real server is not a ready endpoint of the Service (or one is missing)",
        hint: "kube-proxy's real servers differ from the ready endpoints: check kube-proxy's logs and resync it",
        inputs: &[I::K8sServices, I::K8sEndpointSlices, I::Ipvsadm],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::RouteShadowed,
        name: "route-shadowed",
        severity: Severity::Error,
        meaning: "a more specific or blackhole/unreachable route hides a pod route",
        hint: "a more specific or blackhole/unreachable route (or rule) hides the pod route: remove it or fix its prefix",
        inputs: ROUTES,
        source: Source::Check,
    },
    CodeInfo {
        code: Code::PodRouteMissing,
        name: "pod-route-missing",
        severity: Severity::Error,
        meaning: "a local pod has no route/bridge attachment reaching its veth",
        hint: "the destination pod has no route/bridge attachment on its node: restore its /32 route (Calico) or enslave its veth to the bridge (`ip link set <veth> master cni0`)",
        inputs: &[I::K8sPods, I::IpRoute, I::IpLink, I::PodNetns],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::IpForwardDisabled,
        name: "ip-forward-disabled",
        severity: Severity::Error,
        meaning: "net.ipv4.ip_forward is 0 on a node that must forward",
        hint: "set `sysctl -w net.ipv4.ip_forward=1` on this node (and persist it)",
        inputs: &[I::Sysctl],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::CniModelMixed,
        name: "cni-model-mixed",
        severity: Severity::Warning,
        meaning: "nodes run different CNI models",
        hint: "run one CNI on every node (or finish the migration)",
        inputs: &[I::K8sNodes, I::IpLink, I::IpRoute],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::RpFilterStrict,
        name: "rp-filter-strict",
        severity: Severity::Warning,
        meaning: "strict rp_filter on a tunnel or pod-facing device where paths can be asymmetric",
        hint: "the route back to the source leaves through another device: set rp_filter to 2 (loose) or 0 on this device and conf.all, or make the routes symmetric",
        inputs: &[I::Sysctl, I::IpLink, I::IpRoute],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::StalePodRoute,
        name: "stale-pod-route",
        severity: Severity::Warning,
        meaning: "a /32 pod route points at a missing veth or at an IP no pod on this node holds",
        hint: "delete the stale /32 route (the CNI agent left it behind)",
        inputs: &[I::K8sPods, I::IpRoute, I::IpLink],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::AgentUnreachable,
        name: "agent-unreachable",
        severity: Severity::Warning,
        meaning: "the aggregator cannot pull a node's agent; the node is analysed from its last snapshot, or not at all (raised by `serve --kube`, not by a check)",
        hint: "check the node's cnictl agent pod (running? reachable on its port? token accepted?)",
        inputs: &[],
        source: Source::Serve,
    },
    CodeInfo {
        code: Code::NetfilterForwardDrop,
        name: "netfilter-forward-drop",
        severity: Severity::Error,
        meaning: "a netfilter verdict on the forward path drops pod traffic the CNI model must pass, and no NetworkPolicy accounts for it",
        hint: "a netfilter rule or chain policy drops forwarded pod traffic: accept the pod CIDR in FORWARD (e.g. `iptables -A FORWARD -s <pod-cidr> -j ACCEPT` and the reverse), or remove the rule that drops it",
        inputs: &[I::K8sNodes, I::Netfilter],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::NetfilterBlocksOverlay,
        name: "netfilter-blocks-overlay",
        severity: Severity::Error,
        meaning: "a netfilter rule on a node drops or rejects the inter-node transport itself: VXLAN UDP to the VTEP port, IPIP, BGP 179/tcp from a peer",
        hint: "a firewall rule drops the overlay between nodes: allow the VXLAN port (udp 8472 flannel, 4789 Calico), IP protocol 4 (IPIP) or tcp 179 (BGP) from the other nodes",
        inputs: &[I::K8sNodes, I::Netfilter],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::IptablesBackendMixed,
        name: "iptables-backend-mixed",
        severity: Severity::Warning,
        meaning: "rules in both the iptables-legacy and the iptables-nft backends",
        hint: "components on this node write to different iptables backends: both rule sets run, so rules in one are invisible to tools using the other; move every component to one backend and flush the other",
        inputs: &[I::Netfilter, I::IptablesLegacy],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::BrNetfilterMissing,
        name: "br-netfilter-missing",
        severity: Severity::Warning,
        meaning: "bridged pods and Service NAT rules, but net.bridge.bridge-nf-call-iptables is 0 or absent: same-node Service traffic bypasses the NAT",
        hint: "load br_netfilter and set `sysctl -w net.bridge.bridge-nf-call-iptables=1` (kube-proxy and most CNIs require it)",
        inputs: &[I::IpLink, I::Netfilter, I::Sysctl],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::ConntrackNearFull,
        name: "conntrack-near-full",
        severity: Severity::Warning,
        meaning: "nf_conntrack_count is at least 90 % of nf_conntrack_max: new connections are about to be dropped",
        hint: "the conntrack table is nearly full: raise net.netfilter.nf_conntrack_max, or find what opens so many connections",
        inputs: &[I::Sysctl],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::ServiceNoBackends,
        name: "service-no-backends",
        // Warning, not error: every connection to the port is refused, but
        // the dataplane does what the cluster asks; the cause is the
        // workload (no ready pod matches the selector), and a Deployment
        // scaled to zero is a legitimate state that must not fail `check`.
        severity: Severity::Warning,
        meaning: "a Service port with a selector has no ready endpoint: every connection to it is refused",
        hint: "no ready pod backs this Service: check its selector against the pods' labels and their readiness (`kubectl get endpointslices -l kubernetes.io/service-name=<name>`)",
        inputs: &[I::K8sServices, I::K8sEndpointSlices],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::ServiceStaleBackend,
        name: "service-stale-backend",
        severity: Severity::Error,
        meaning: "a node's Service rules send a share of new connections to an address that is not a ready endpoint",
        hint: "kube-proxy on this node has not synced: check its logs and restart it; the stale share of new connections fails until then",
        inputs: SVC_RULES,
        source: Source::Check,
    },
    CodeInfo {
        code: Code::ServiceBackendMissing,
        name: "service-backend-missing",
        severity: Severity::Warning,
        meaning: "a ready endpoint of a Service is absent from a node's Service rules (error when none is present)",
        hint: "kube-proxy on this node has not synced the Service's endpoints: check its logs and restart it",
        inputs: SVC_RULES,
        source: Source::Check,
    },
    CodeInfo {
        code: Code::ServiceRulesMissing,
        name: "service-rules-missing",
        severity: Severity::Error,
        meaning: "a Service port has no rule on a node whose rules handle other Services: clients on that node cannot reach it",
        hint: "kube-proxy on this node has not programmed this Service: check its logs and restart it",
        inputs: SVC_RULES,
        source: Source::Check,
    },
    CodeInfo {
        code: Code::MasqueradeMissing,
        name: "masquerade-missing",
        severity: Severity::Error,
        meaning: "a packet kube-proxy marks for masquerade, or pod egress its peers SNAT, leaves a node un-NATed: replies cannot return",
        hint: "restore the node's masquerade rule: restart kube-proxy (KUBE-POSTROUTING / masquerading) or the CNI agent (flanneld --ip-masq, Calico natOutgoing)",
        inputs: &[I::K8sNodes, I::IpRoute, I::Netfilter],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::PolicyNotEnforced,
        name: "policy-not-enforced",
        severity: Severity::Error,
        meaning: "the NetworkPolicies deny a pod pair's connection but the dataplane delivers it: the policy is not enforced (agent down, its rules missing on a node)",
        hint: "check the policy agent (calico-node / kube-router) on the node: running, and its rules present (iptables-save | grep -E 'cali-|KUBE-POD-FW'); restart it to reprogram them",
        inputs: &[I::K8sPods, I::K8sNetworkPolicies, I::Netfilter],
        source: Source::Dataplane,
    },
    CodeInfo {
        code: Code::PolicyDrift,
        name: "policy-drift",
        severity: Severity::Warning,
        meaning: "a policy agent's rule drops a pod pair's connection that the NetworkPolicies allow: its rules or ipsets are stale",
        hint: "compare the agent's ipsets and chains with the policies (ipset list; iptables-save); restarting the agent resyncs them",
        inputs: &[I::K8sPods, I::K8sNetworkPolicies, I::Netfilter],
        source: Source::Dataplane,
    },
    CodeInfo {
        code: Code::NodeportNoLocalEndpoint,
        name: "nodeport-no-local-endpoint",
        severity: Severity::Info,
        meaning: "an externalTrafficPolicy: Local NodePort/LoadBalancer Service has no ready endpoint on a node: external traffic entering there is dropped (by design)",
        hint: "expected with externalTrafficPolicy: Local; send external traffic only to nodes with a ready endpoint (the load balancer's health check does), or use Cluster",
        inputs: &[I::K8sNodes, I::K8sServices, I::K8sEndpointSlices],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::NodeAddressMismatch,
        name: "node-address-mismatch",
        severity: Severity::Error,
        meaning: "a node's transport address (Flannel public-ip, Calico IPv4Address, VXLAN local, BGP source address) is not its InternalIP: autodetection picked docker0 or another interface (a warning when that interface is a real one)",
        hint: "tell the CNI which interface or address to use (flanneld --iface/--public-ip, calico-node IP_AUTODETECTION_METHOD=kubernetes-internal-ip) and restart it on that node",
        inputs: &[I::K8sNodes, I::IpLink, I::IpAddr, I::BirdProtocols],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::VxlanChecksumOffload,
        name: "vxlan-checksum-offload",
        severity: Severity::Warning,
        meaning: "a VXLAN device offloads its UDP checksum on a kernel with the known checksum bug (before 5.7): NATed overlay packets (Service and NodePort traffic) leave with a bad checksum and are dropped",
        hint: "ethtool -K <vxlan device> tx-checksum-ip-generic off on that node (persist it), or run a kernel with the fix",
        inputs: &[I::IpLink, I::Ethtool, I::Uname],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::MacvlanHostUnreachable,
        name: "macvlan-host-unreachable",
        severity: Severity::Error,
        meaning: "a node cannot reach its own macvlan/ipvlan pods: no shim device on the parent routes to them (a warning for a secondary network's address)",
        hint: "add a macvlan/ipvlan shim on the parent in the host with a route to the pods (ip link add <parent>-shim link <parent> type macvlan mode bridge; ip route add <pod>/32 dev <parent>-shim)",
        inputs: &[I::IpLink, I::IpAddr, I::IpRoute, I::PodNetns],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::IpamLeakedAffinity,
        name: "ipam-leaked-affinity",
        severity: Severity::Error,
        meaning: "a node blackholes (and BIRD announces) a Calico IPAM block whose pods or affinity are on another node: traffic from that node to those pods is dropped there",
        hint: "a stale or leaked block affinity: check `kubectl get blockaffinities.crd.projectcalico.org` for the block, and the node's `birdc show route <block> all`; release the affinity (calicoctl ipam check / release) so confd drops the static blackhole",
        inputs: &[I::K8sPods, I::IpRoute, I::K8sBlockAffinities],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::IpamBlockMultipleRoutes,
        name: "ipam-block-multiple-routes",
        severity: Severity::Error,
        meaning: "a pod block is routed (ECMP) to more than one node: flows hashed to the wrong node are dropped or detoured",
        hint: "two nodes announce the block (a leaked affinity, or a duplicate static route): `birdc show route <block> all` names them; fix the node that does not hold the block's pods",
        inputs: &[I::K8sPods, I::IpRoute, I::K8sBlockAffinities],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::PodIpOutsidePools,
        name: "pod-ip-outside-pools",
        severity: Severity::Warning,
        meaning: "a pod's IP is in no enabled Calico IPPool: BIRD's export filter does not announce it, so other nodes may have no route to it",
        hint: "the pod got its address outside Calico IPAM (a static IP annotation, a deleted or disabled pool): `kubectl get ippools.crd.projectcalico.org -o wide`; recreate the pod or restore the pool",
        inputs: &[I::K8sPods, I::K8sIpPools],
        source: Source::Check,
    },
    CodeInfo {
        code: Code::CiliumTunnelMissing,
        name: "cilium-tunnel-missing",
        severity: Severity::Error,
        meaning: "in Cilium tunnel mode, a node's ipcache and tunnel map name no node (or the wrong one) for a peer's pods: its eBPF cannot encapsulate to them, whatever the routes say",
        hint: "compare cilium-dbg bpf ipcache list / bpf tunnel list with the peer's CiliumNode; restart the cilium agent on that node",
        inputs: &[I::IpLink, I::K8sNodes, I::CiliumIpcache],
        source: Source::Check,
    },
];

impl Code {
    /// Every code, in table order (metrics and the README enumerate this).
    pub const ALL: [Code; TABLE.len()] = {
        let mut all = [Code::PodCidrOverlap; TABLE.len()];
        let mut i = 0;
        while i < TABLE.len() {
            all[i] = TABLE[i].code;
            i += 1;
        }
        all
    };

    /// The code's row of [`TABLE`].
    pub fn info(self) -> &'static CodeInfo {
        &TABLE[self as usize]
    }

    /// The stable string (`vxlan-fdb-missing`).
    pub fn as_str(self) -> &'static str {
        self.info().name
    }

    /// The usual severity.
    pub fn severity(self) -> Severity {
        self.info().severity
    }

    pub fn meaning(self) -> &'static str {
        self.info().meaning
    }

    pub fn hint(self) -> &'static str {
        self.info().hint
    }

    pub fn inputs(self) -> &'static [Input] {
        self.info().inputs
    }

    /// Parses a code as [`Code::as_str`] prints it.
    pub fn parse(s: &str) -> Option<Code> {
        TABLE.iter().find(|i| i.name == s).map(|i| i.code)
    }
}

/// The README's "Finding codes" table, generated from [`TABLE`] (a test
/// fails when README.md differs).
pub fn readme_table() -> String {
    let mut s = String::from("| code | usual severity | meaning |\n|---|---|---|\n");
    for i in &TABLE {
        let (name, severity, meaning) = (i.name, i.severity.as_str(), i.meaning);
        s.push_str(&format!("| `{name}` | {severity} | {meaning} |\n"));
    }
    s
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Codes sort by their string, so the report order stays what it was when
/// codes were strings.
impl Ord for Code {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Code {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Code {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Code::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown finding code {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_are_in_variant_order() {
        for (i, row) in TABLE.iter().enumerate() {
            assert_eq!(row.code as usize, i, "{}", row.name);
            assert_eq!(Code::parse(row.name), Some(row.code));
        }
    }

    #[test]
    fn serializes_as_the_stable_string() {
        let j = serde_json::to_string(&Code::VxlanFdbMissing).unwrap();
        assert_eq!(j, "\"vxlan-fdb-missing\"");
        assert_eq!(
            serde_json::from_str::<Code>(&j).unwrap(),
            Code::VxlanFdbMissing
        );
        assert!(serde_json::from_str::<Code>("\"no-such-code\"").is_err());
    }
}
