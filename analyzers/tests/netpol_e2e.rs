//! The upstream Kubernetes NetworkPolicy e2e suite
//! (kubernetes/kubernetes `test/e2e/network/netpol/network_policy.go`,
//! with `model.go`, `policies.go`, `reachability.go`), as data: every test
//! is a row holding the policies as upstream's builders produce them (the
//! `spec` JSON, parsed by `cnictl_formats::netpol::networkpolicy_from_value`),
//! the probe (`ToPort`, `Protocol`) and upstream's truth table, written the
//! way upstream writes it: every pair allowed, then `Expect`,
//! `ExpectPeer`, `ExpectAllIngress` and `ExpectAllEgress` in order.
//! All 81 ordered pairs of the intent matrix *and* of pairwise evaluation
//! are asserted against it.
//!
//! The model is upstream's `NewModel`: namespaces x, y, z (labelled
//! `ns=<name>` and, as the API server does, `kubernetes.io/metadata.name`),
//! pods a, b, c in each labelled `pod=<name>`, one container per (port,
//! protocol) with a port named `serve-<port>-<protocol>`. Upstream declares
//! only the ports and protocols a test probes; every pod here declares 80
//! and 81 for TCP, UDP and SCTP, which changes no row (a named port
//! resolves only under its own protocol and number). Pod IPs are fixed
//! (10.0.1.1 is x/a … 10.0.3.3 is z/c) so the ipBlock tests can name them
//! as upstream does with `status.podIP`.
//!
//! Self pairs: upstream's tables state a value for a pod to itself, but
//! its validation ignores loopback (`ignoreLoopback = true`, kubernetes
//! issue 95879: CNIs differ on hairpin traffic), and the API reference says
//! a pod cannot block access to itself: the evaluator always allows a pod
//! to itself (`NodeOrSelfExempt`), so the 72 cells between different pods
//! are compared with the tables and each self cell must be allowed.
//!
//! Tests that change state over time (`UpdatePolicy`, `AddPodLabels`,
//! `AddNamespaceLabel`, a second `CreatePolicy` after a probe,
//! `cleanNetworkPolicies`) are written as one row per state between
//! changes: each state is a static set of objects, which is all intent
//! evaluation ever sees. What is skipped is only the transition itself
//! (how fast an agent converges), which has no meaning for intent:
//! "should enforce updated policy", "should allow ingress access from
//! updated namespace", "should allow ingress access from updated pod",
//! "should deny ingress access to updated pod", "should stop enforcing
//! policies after they are deleted" and the second half of "should ensure
//! an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed"
//! appear as their states, not as transitions. Not reproduced: the API
//! validation tests of `network_policy_api.go` (no connectivity), and the
//! Windows model (TCP and UDP only; same tables).

use std::collections::BTreeMap;
use std::net::IpAddr;

use cnictl_analyzers::policy::{Endpoint, PolicyIndex, Probe};
use cnictl_formats::netpol::networkpolicy_from_value;
use cnictl_model::netpol::{Namespace, NAMESPACE_NAME_LABEL};
use cnictl_model::{ContainerPort, K8s, Pod};

const NAMESPACES: [&str; 3] = ["x", "y", "z"];
const PODS: [&str; 3] = ["a", "b", "c"];

type Policy = (&'static str, &'static str, &'static str);

/// One upstream test (or one state of a test that changes state).
struct Row {
    /// Upstream's `f.It` name, with the state for tests that change.
    test: &'static str,
    /// (namespace, name, spec) as upstream's `GenNetworkPolicy*` build them.
    policies: &'static [Policy],
    /// Labels upstream adds before probing: ("x/b", key, value) on a pod,
    /// ("y", key, value) on a namespace.
    labels: &'static [(&'static str, &'static str, &'static str)],
    /// `TestCase{Protocol, ToPort}`.
    probe: (&'static str, u16),
    /// `NewReachability(all, true)` then these (from, to, connected), in
    /// order; "x/a", "x/*" or "*" as upstream's `Peer` matches.
    expect: &'static [(&'static str, &'static str, bool)],
}

// Specs upstream builds more than once.
const DENY_INGRESS: &str = r#"{"podSelector":{},"ingress":[],"policyTypes":["Ingress"]}"#;
const DENY_ALL: &str =
    r#"{"podSelector":{},"ingress":[],"egress":[],"policyTypes":["Ingress","Egress"]}"#;
const ALLOW_ALL_INGRESS: &str = r#"{"podSelector":{},"ingress":[{}],"policyTypes":["Ingress"]}"#;
const A_FROM_Y: &str = r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"y"}}}]}],"policyTypes":["Ingress"]}"#;
const A_FROM_Y_POD_A: &str = r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"pod":"a"}},"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"y"}}}]}],"policyTypes":["Ingress"]}"#;
const A_FROM_X_B: &str = r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"pod":"b"}}}]}],"policyTypes":["Ingress"]}"#;
const A_FROM_Y_81_TCP: &str = r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"y"}}}],"ports":[{"protocol":"TCP","port":81}]}],"policyTypes":["Ingress"]}"#;
const A_FROM_Y_80_TCP: &str = r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"y"}}}],"ports":[{"protocol":"TCP","port":80}]}],"policyTypes":["Ingress"]}"#;
const A_TO_Y_POD_A: &str = r#"{"podSelector":{"matchLabels":{"pod":"a"}},"egress":[{"to":[{"podSelector":{"matchLabels":{"pod":"a"}},"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"y"}}}]}],"policyTypes":["Egress"]}"#;
const EGRESS_A_CIDR_EXCEPT: &str = r#"{"podSelector":{"matchLabels":{"pod":"a"}},"egress":[{"to":[{"ipBlock":{"cidr":"10.0.1.1/4","except":["10.0.1.2/32"]}}]}],"policyTypes":["Egress"]}"#;
const INGRESS_PORT_80: &str =
    r#"{"podSelector":{},"ingress":[{"ports":[{"port":80}]}],"policyTypes":["Ingress"]}"#;
const EGRESS_PORT_80: &str =
    r#"{"podSelector":{},"egress":[{"ports":[{"port":80}]}],"policyTypes":["Egress"]}"#;
const A_DENY_INGRESS: &str =
    r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[],"policyTypes":["Ingress"]}"#;
const A_EGRESS_ALL: &str =
    r#"{"podSelector":{"matchLabels":{"pod":"a"}},"egress":[{}],"policyTypes":["Egress"]}"#;

const ROWS: &[Row] = &[
    // ---- "NetworkPolicy between server and client" (TCP) ----
    Row {
        test: "should support a 'default-deny-ingress' policy",
        policies: &[("x", "deny-ingress", DENY_INGRESS)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("*", "x/*", false)],
    },
    Row {
        test: "should support a 'default-deny-all' policy",
        policies: &[("x", "deny-all", DENY_ALL)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("*", "x/*", false), ("x/*", "*", false)],
    },
    Row {
        test: "should enforce policy to allow traffic from pods within server namespace based on PodSelector",
        policies: &[("x", "x-a-allows-x-b", A_FROM_X_B)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("*", "x/a", false), ("x/b", "x/a", true)],
    },
    Row {
        test: "should enforce policy to allow ingress traffic for a target",
        policies: &[
            ("x", "deny-all", DENY_INGRESS),
            ("x", "allow-all-to-a", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{},"namespaceSelector":{}}]}],"policyTypes":["Ingress"]}"#),
        ],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("*", "x/a", true), ("*", "x/b", false), ("*", "x/c", false)],
    },
    Row {
        test: "should enforce policy to allow ingress traffic from pods in all namespaces",
        policies: &[("x", "allow-from-another-ns", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{}}}]}],"policyTypes":["Ingress"]}"#)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[],
    },
    Row {
        test: "should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector",
        policies: &[("x", "allow-client-a-via-ns-selector", A_FROM_Y)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("x/*", "x/a", false), ("z/*", "x/a", false)],
    },
    Row {
        test: "should enforce policy based on PodSelector with MatchExpressions",
        policies: &[("x", "x-a-allows-x-b", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{"matchExpressions":[{"key":"pod","operator":"In","values":["b"]}]}}]}],"policyTypes":["Ingress"]}"#)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("*", "x/a", false), ("x/b", "x/a", true)],
    },
    Row {
        test: "should enforce policy based on NamespaceSelector with MatchExpressions",
        policies: &[("x", "allow-ns-y-match-selector", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"In","values":["y"]}]}}]}],"policyTypes":["Ingress"]}"#)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("x/*", "x/a", false), ("z/*", "x/a", false)],
    },
    Row {
        test: "should enforce policy based on PodSelector or NamespaceSelector",
        policies: &[("x", "allow-ns-y-match-selector", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"NotIn","values":["x"]}]}},{"podSelector":{"matchLabels":{"pod":"b"}}}]}],"policyTypes":["Ingress"]}"#)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("x/a", "x/a", false), ("x/c", "x/a", false)],
    },
    Row {
        test: "should enforce policy based on PodSelector and NamespaceSelector",
        policies: &[("x", "allow-ns-y-podselector-and-nsselector", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"pod":"b"}},"namespaceSelector":{"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"NotIn","values":["x"]}]}}]}],"policyTypes":["Ingress"]}"#)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("*", "x/a", false), ("y/b", "x/a", true), ("z/b", "x/a", true)],
    },
    Row {
        test: "should enforce policy based on Multiple PodSelectors and NamespaceSelectors",
        policies: &[("x", "allow-ns-y-z-pod-b-c", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{"matchExpressions":[{"key":"pod","operator":"In","values":["b","c"]}]},"namespaceSelector":{"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"NotIn","values":["x"]}]}}]}],"policyTypes":["Ingress"]}"#)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("x/*", "x/a", false), ("y/a", "x/a", false), ("z/a", "x/a", false)],
    },
    Row {
        test: "should enforce policy based on any PodSelectors",
        policies: &[("x", "allow-ns-x-pod-b-c", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"pod":"b"}}},{"podSelector":{"matchLabels":{"pod":"c"}}}]}],"policyTypes":["Ingress"]}"#)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("*", "x/a", false), ("x/b", "x/a", true), ("x/c", "x/a", true)],
    },
    Row {
        test: "should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector",
        policies: &[("x", "allow-ns-y-pod-a-via-namespace-pod-selector", A_FROM_Y_POD_A)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("*", "x/a", false), ("y/a", "x/a", true)],
    },
    Row {
        test: "should enforce policy based on Ports",
        policies: &[("x", "allow-client-a-via-ns-selector", A_FROM_Y_81_TCP)],
        labels: &[],
        probe: ("TCP", 81),
        expect: &[("x/*", "x/a", false), ("y/*", "x/a", true), ("z/*", "x/a", false)],
    },
    Row {
        test: "should enforce multiple, stacked policies with overlapping podSelectors (port 81)",
        policies: &[("x", "allow-client-a-via-ns-selector", A_FROM_Y_81_TCP)],
        labels: &[],
        probe: ("TCP", 81),
        expect: &[("x/*", "x/a", false), ("y/*", "x/a", true), ("z/*", "x/a", false)],
    },
    Row {
        test: "should enforce multiple, stacked policies with overlapping podSelectors (port 80)",
        policies: &[("x", "allow-client-a-via-ns-selector", A_FROM_Y_81_TCP)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("*", "x/a", false)],
    },
    Row {
        test: "should enforce multiple, stacked policies with overlapping podSelectors (port 80 after allow-client-a-via-ns-selector-80)",
        policies: &[
            ("x", "allow-client-a-via-ns-selector", A_FROM_Y_81_TCP),
            ("x", "allow-client-a-via-ns-selector-80", A_FROM_Y_80_TCP),
        ],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("x/*", "x/a", false), ("y/*", "x/a", true), ("z/*", "x/a", false)],
    },
    Row {
        test: "should support allow-all policy (port 80)",
        policies: &[("x", "allow-all", ALLOW_ALL_INGRESS)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[],
    },
    Row {
        test: "should support allow-all policy (port 81)",
        policies: &[("x", "allow-all", ALLOW_ALL_INGRESS)],
        labels: &[],
        probe: ("TCP", 81),
        expect: &[],
    },
    Row {
        test: "should allow ingress access on one named port (port 81)",
        policies: &[("x", "allow-all", r#"{"podSelector":{},"ingress":[{"ports":[{"port":"serve-81-tcp"}]}],"policyTypes":["Ingress"]}"#)],
        labels: &[],
        probe: ("TCP", 81),
        expect: &[],
    },
    Row {
        test: "should allow ingress access on one named port (port 80)",
        policies: &[("x", "allow-all", r#"{"podSelector":{},"ingress":[{"ports":[{"port":"serve-81-tcp"}]}],"policyTypes":["Ingress"]}"#)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("*", "x/*", false)],
    },
    Row {
        test: "should allow ingress access from namespace on one named port (port 80)",
        policies: &[("x", "allow-client-a-via-ns-selector-80", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"y"}}}],"ports":[{"protocol":"TCP","port":"serve-80-tcp"}]}],"policyTypes":["Ingress"]}"#)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("x/*", "x/a", false), ("z/*", "x/a", false)],
    },
    Row {
        test: "should allow ingress access from namespace on one named port (port 81)",
        policies: &[("x", "allow-client-a-via-ns-selector-80", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"y"}}}],"ports":[{"protocol":"TCP","port":"serve-80-tcp"}]}],"policyTypes":["Ingress"]}"#)],
        labels: &[],
        probe: ("TCP", 81),
        expect: &[("*", "x/a", false)],
    },
    Row {
        test: "should allow egress access on one named port (port 80)",
        policies: &[("x", "allow-egress", r#"{"podSelector":{},"egress":[{"ports":[{"port":"serve-80-tcp"}]}],"policyTypes":["Egress"]}"#)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[],
    },
    Row {
        test: "should allow egress access on one named port (port 81)",
        policies: &[("x", "allow-egress", r#"{"podSelector":{},"egress":[{"ports":[{"port":"serve-80-tcp"}]}],"policyTypes":["Egress"]}"#)],
        labels: &[],
        probe: ("TCP", 81),
        expect: &[("x/*", "*", false)],
    },
    Row {
        test: "should enforce updated policy (allow all)",
        policies: &[("x", "allow-all-mutate-to-deny-all", ALLOW_ALL_INGRESS)],
        labels: &[],
        probe: ("TCP", 81),
        expect: &[],
    },
    Row {
        test: "should enforce updated policy (updated to deny all)",
        policies: &[("x", "allow-all-mutate-to-deny-all", DENY_INGRESS)],
        labels: &[],
        probe: ("TCP", 81),
        expect: &[("*", "x/*", false)],
    },
    Row {
        test: "should allow ingress access from updated namespace (before the label)",
        policies: &[("x", "allow-client-a-via-ns-selector", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"ns2":"updated"}}}]}],"policyTypes":["Ingress"]}"#)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("*", "x/a", false)],
    },
    Row {
        test: "should allow ingress access from updated namespace (y labelled ns2=updated)",
        policies: &[("x", "allow-client-a-via-ns-selector", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"ns2":"updated"}}}]}],"policyTypes":["Ingress"]}"#)],
        labels: &[("y", "ns2", "updated")],
        probe: ("TCP", 80),
        expect: &[("*", "x/a", false), ("y/*", "*", true)],
    },
    Row {
        test: "should allow ingress access from updated pod (before the label)",
        policies: &[("x", "allow-client-a-via-pod-selector", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"pod":"b","pod2":"updated"}}}]}],"policyTypes":["Ingress"]}"#)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("*", "x/a", false)],
    },
    Row {
        test: "should allow ingress access from updated pod (x/b labelled pod2=updated)",
        policies: &[("x", "allow-client-a-via-pod-selector", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"pod":"b","pod2":"updated"}}}]}],"policyTypes":["Ingress"]}"#)],
        labels: &[("x/b", "pod2", "updated")],
        probe: ("TCP", 80),
        expect: &[("*", "x/a", false), ("x/b", "x/a", true)],
    },
    Row {
        test: "should deny ingress from pods on other namespaces",
        policies: &[("x", "deny-empty-policy", r#"{"podSelector":{},"ingress":[{"from":[{"podSelector":{"matchLabels":{}}}]}],"policyTypes":["Ingress"]}"#)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("y/*", "x/*", false), ("z/*", "x/*", false)],
    },
    Row {
        test: "should deny ingress access to updated pod (before the label)",
        policies: &[("x", "deny-ingress-via-label-selector", r#"{"podSelector":{"matchLabels":{"target":"isolated"}},"ingress":[],"policyTypes":["Ingress"]}"#)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[],
    },
    Row {
        test: "should deny ingress access to updated pod (x/a labelled target=isolated)",
        policies: &[("x", "deny-ingress-via-label-selector", r#"{"podSelector":{"matchLabels":{"target":"isolated"}},"ingress":[],"policyTypes":["Ingress"]}"#)],
        labels: &[("x/a", "target", "isolated")],
        probe: ("TCP", 80),
        expect: &[("*", "x/a", false)],
    },
    Row {
        test: "should deny egress from pods based on PodSelector",
        policies: &[("x", "deny-egress-pod-a", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"egress":[],"policyTypes":["Egress"]}"#)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("x/a", "*", false)],
    },
    Row {
        test: "should deny egress from all pods in a namespace",
        policies: &[("x", "deny-egress-ns-x", r#"{"podSelector":{},"egress":[],"policyTypes":["Egress"]}"#)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("x/*", "*", false)],
    },
    Row {
        test: "should work with Ingress, Egress specified together (port 80)",
        policies: &[("x", "allow-client-a-via-pod-selector", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"pod":"b"}}}]}],"egress":[{"ports":[{"port":80}]}],"policyTypes":["Egress","Ingress"]}"#)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("*", "x/a", false), ("x/b", "x/a", true)],
    },
    Row {
        test: "should work with Ingress, Egress specified together (port 81)",
        policies: &[("x", "allow-client-a-via-pod-selector", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"pod":"b"}}}]}],"egress":[{"ports":[{"port":80}]}],"policyTypes":["Egress","Ingress"]}"#)],
        labels: &[],
        probe: ("TCP", 81),
        expect: &[("*", "x/a", false), ("x/a", "*", false), ("x/b", "x/a", true)],
    },
    Row {
        test: "should support denying of egress traffic on the client side (even if the server explicitly allows this traffic)",
        policies: &[
            ("x", "allow-to-ns-y-pod-a", A_TO_Y_POD_A),
            ("y", "allow-from-xa-on-ya-match-selector", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"pod":"a"}},"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"x"}}}]}],"policyTypes":["Ingress"]}"#),
            ("y", "allow-from-xa-on-yb-match-selector", r#"{"podSelector":{"matchLabels":{"pod":"b"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"pod":"a"}},"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"x"}}}]}],"policyTypes":["Ingress"]}"#),
        ],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("x/a", "*", false), ("*", "y/a", false), ("x/a", "y/a", true), ("*", "y/b", false)],
    },
    Row {
        test: "should enforce egress policy allowing traffic to a server in a different namespace based on PodSelector and NamespaceSelector",
        policies: &[("x", "allow-to-ns-y-pod-a", A_TO_Y_POD_A)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("x/a", "*", false), ("x/a", "y/a", true)],
    },
    Row {
        test: "should enforce ingress policy allowing any port traffic to a server on a specific protocol (TCP)",
        policies: &[("x", "allow-ingress-by-proto", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"ports":[{"protocol":"TCP"}]}],"policyTypes":["Ingress"]}"#)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[],
    },
    Row {
        test: "should enforce ingress policy allowing any port traffic to a server on a specific protocol (UDP)",
        policies: &[("x", "allow-ingress-by-proto", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"ports":[{"protocol":"TCP"}]}],"policyTypes":["Ingress"]}"#)],
        labels: &[],
        probe: ("UDP", 80),
        expect: &[("*", "x/a", false)],
    },
    Row {
        test: "should enforce multiple ingress policies with ingress allow-all policy taking precedence (port 80 only)",
        policies: &[("x", "allow-ingress-port-80", INGRESS_PORT_80)],
        labels: &[],
        probe: ("TCP", 81),
        expect: &[("*", "x/*", false)],
    },
    Row {
        test: "should enforce multiple ingress policies with ingress allow-all policy taking precedence (after allow-ingress)",
        policies: &[
            ("x", "allow-ingress-port-80", INGRESS_PORT_80),
            ("x", "allow-ingress", ALLOW_ALL_INGRESS),
        ],
        labels: &[],
        probe: ("TCP", 81),
        expect: &[],
    },
    Row {
        test: "should enforce multiple egress policies with egress allow-all policy taking precedence (port 80 only)",
        policies: &[("x", "allow-egress-port-80", EGRESS_PORT_80)],
        labels: &[],
        probe: ("TCP", 81),
        expect: &[("x/*", "*", false)],
    },
    Row {
        test: "should enforce multiple egress policies with egress allow-all policy taking precedence (after allow-egress)",
        policies: &[
            ("x", "allow-egress-port-80", EGRESS_PORT_80),
            ("x", "allow-egress", r#"{"podSelector":{},"egress":[{}],"policyTypes":["Egress"]}"#),
        ],
        labels: &[],
        probe: ("TCP", 81),
        expect: &[],
    },
    Row {
        test: "should stop enforcing policies after they are deleted (deny-all present)",
        policies: &[("x", "deny-all", DENY_ALL)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("x/*", "*", false), ("*", "x/*", false)],
    },
    Row {
        test: "should stop enforcing policies after they are deleted (after cleanNetworkPolicies)",
        policies: &[],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[],
    },
    Row {
        test: "should allow egress access to server in CIDR block",
        policies: &[("x", "allow-client-a-via-cidr-egress-rule", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"egress":[{"to":[{"ipBlock":{"cidr":"10.0.2.2/32"}}]}],"policyTypes":["Egress"]}"#)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("x/a", "*", false), ("x/a", "y/b", true)],
    },
    Row {
        test: "should enforce except clause while egress access to server in CIDR block",
        policies: &[("x", "allow-client-a-via-cidr-egress-rule", EGRESS_A_CIDR_EXCEPT)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("x/a", "x/b", false)],
    },
    Row {
        test: "should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed (except clause)",
        policies: &[("x", "allow-client-a-via-cidr-egress-rule", EGRESS_A_CIDR_EXCEPT)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("x/a", "x/b", false)],
    },
    Row {
        test: "should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed (updated to x/b's /32)",
        policies: &[("x", "allow-client-a-via-cidr-egress-rule", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"egress":[{"to":[{"ipBlock":{"cidr":"10.0.1.2/32"}}]}],"policyTypes":["Egress"]}"#)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("x/a", "*", false), ("x/a", "x/b", true)],
    },
    Row {
        test: "should enforce policies to check ingress and egress policies can be controlled independently based on PodSelector (egress allowed)",
        policies: &[("x", "allow-egress-for-target", A_EGRESS_ALL)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[],
    },
    Row {
        test: "should enforce policies to check ingress and egress policies can be controlled independently based on PodSelector (ingress denied)",
        policies: &[
            ("x", "allow-egress-for-target", A_EGRESS_ALL),
            ("x", "deny-ingress-via-label-selector", A_DENY_INGRESS),
        ],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("*", "x/a", false)],
    },
    Row {
        test: "should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even if the plugin doesn't support SCTP",
        policies: &[
            ("x", "deny-ingress", DENY_INGRESS),
            ("x", "allow-only-sctp-ingress-on-port-81", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"ports":[{"protocol":"SCTP","port":81}]}],"policyTypes":["Ingress"]}"#),
        ],
        labels: &[],
        probe: ("TCP", 81),
        expect: &[("*", "x/*", false)],
    },
    Row {
        test: "should properly isolate pods that are selected by a policy allowing SCTP, even if the plugin doesn't support SCTP",
        policies: &[("x", "allow-only-sctp-ingress-on-port-80", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"ports":[{"protocol":"SCTP","port":80}]}],"policyTypes":["Ingress"]}"#)],
        labels: &[],
        probe: ("TCP", 81),
        expect: &[("*", "x/a", false)],
    },
    Row {
        test: "should not allow access by TCP when a policy specifies only UDP",
        policies: &[("x", "allow-only-udp-ingress-on-port-81", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"ports":[{"protocol":"UDP","port":81}]}],"policyTypes":["Ingress"]}"#)],
        labels: &[],
        probe: ("TCP", 81),
        expect: &[("*", "x/a", false)],
    },
    Row {
        test: "should enforce policy to allow traffic based on NamespaceSelector with MatchLabels using default ns label",
        policies: &[("x", "allow-client-a-via-ns-selector-for-immutable-ns-label", A_FROM_Y)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("x/*", "x/a", false), ("z/*", "x/a", false)],
    },
    Row {
        test: "should enforce policy based on NamespaceSelector with MatchExpressions using default ns label",
        policies: &[("x", "allow-ns-y-match-selector-for-immutable-ns-label", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"egress":[{"to":[{"namespaceSelector":{"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"NotIn","values":["y"]}]}}]}],"policyTypes":["Egress"]}"#)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("x/a", "y/*", false)],
    },
    // ---- "NetworkPolicy between server and client using UDP" ----
    Row {
        test: "UDP: should support a 'default-deny-ingress' policy",
        policies: &[("x", "deny-all", DENY_INGRESS)],
        labels: &[],
        probe: ("UDP", 80),
        expect: &[("*", "x/*", false)],
    },
    Row {
        test: "UDP: should enforce policy based on Ports",
        policies: &[("x", "allow-ingress-on-port-81-ns-x", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"y"}}}],"ports":[{"protocol":"UDP","port":81}]}],"policyTypes":["Ingress"]}"#)],
        labels: &[],
        probe: ("UDP", 81),
        expect: &[("x/*", "x/a", false), ("z/*", "x/a", false)],
    },
    Row {
        test: "UDP: should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector",
        policies: &[("x", "allow-ns-y-pod-a-via-namespace-pod-selector", A_FROM_Y_POD_A)],
        labels: &[],
        probe: ("UDP", 80),
        expect: &[("*", "x/a", false), ("y/a", "x/a", true)],
    },
    // ---- "NetworkPolicy between server and client using SCTP" ----
    Row {
        test: "SCTP: should support a 'default-deny-ingress' policy",
        policies: &[("x", "deny-all", DENY_INGRESS)],
        labels: &[],
        probe: ("SCTP", 80),
        expect: &[("*", "x/*", false)],
    },
    Row {
        test: "SCTP: should enforce policy based on Ports",
        policies: &[("x", "allow-ingress-on-port-81-ns-x", r#"{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"y"}}}],"ports":[{"protocol":"SCTP","port":81}]}],"policyTypes":["Ingress"]}"#)],
        labels: &[],
        probe: ("SCTP", 81),
        expect: &[("x/*", "x/a", false), ("z/*", "x/a", false)],
    },
    Row {
        test: "SCTP: should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector",
        policies: &[("x", "allow-ns-y-pod-a-via-namespace-pod-selector", A_FROM_Y_POD_A)],
        labels: &[],
        probe: ("SCTP", 80),
        expect: &[("*", "x/a", false), ("y/a", "x/a", true)],
    },
];

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Upstream's `Container.Spec()`: one named port per (port, protocol).
fn container_ports() -> Vec<ContainerPort> {
    let each = [80u16, 81].into_iter().flat_map(|port| {
        ["TCP", "UDP", "SCTP"].map(|proto| ContainerPort {
            name: Some(format!("serve-{port}-{}", proto.to_ascii_lowercase())),
            port,
            protocol: proto.into(),
        })
    });
    each.collect()
}

fn pod(ni: usize, pi: usize) -> Pod {
    let ip: IpAddr = format!("10.0.{}.{}", ni + 1, pi + 1).parse().expect("ip");
    Pod {
        namespace: NAMESPACES[ni].into(),
        name: PODS[pi].into(),
        node: Some("node-1".into()),
        ips: vec![ip],
        phase: "Running".into(),
        labels: labels(&[("pod", PODS[pi])]),
        container_ports: container_ports(),
        ..Pod::default()
    }
}

fn namespace(name: &str) -> Namespace {
    Namespace {
        name: name.into(),
        labels: labels(&[("ns", name), (NAMESPACE_NAME_LABEL, name)]),
    }
}

fn policy((ns, name, spec): &Policy) -> cnictl_model::NetworkPolicy {
    let spec: serde_json::Value = serde_json::from_str(spec).expect("spec JSON");
    let obj = serde_json::json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"namespace": ns, "name": name},
        "spec": spec,
    });
    networkpolicy_from_value(obj).expect("NetworkPolicy")
}

/// The row's cluster: upstream's model, the row's labels, its policies.
fn cluster(row: &Row) -> K8s {
    let mut pods: Vec<Pod> = (0..9).map(|i| pod(i / 3, i % 3)).collect();
    let mut namespaces: Vec<Namespace> = NAMESPACES.iter().map(|n| namespace(n)).collect();
    for (target, k, v) in row.labels {
        let labels = match target.contains('/') {
            true => pods
                .iter_mut()
                .find(|p| p.key() == *target)
                .map(|p| &mut p.labels),
            false => namespaces
                .iter_mut()
                .find(|n| n.name == *target)
                .map(|n| &mut n.labels),
        };
        let labels = labels.unwrap_or_else(|| panic!("{}: no {target}", row.test));
        labels.insert(k.to_string(), v.to_string());
    }
    K8s {
        pods,
        network_policies: Some(row.policies.iter().map(policy).collect()),
        namespaces: Some(namespaces),
        ..K8s::default()
    }
}

/// Upstream's `Peer.Matches`: "*" any pod, "x/*" any pod of x.
fn peer_matches(pattern: &str, key: &str) -> bool {
    match pattern.split_once('/') {
        None => pattern == "*",
        Some((ns, "*")) => key.split_once('/').is_some_and(|(n, _)| n == ns),
        Some(_) => pattern == key,
    }
}

/// Upstream's truth table for `from` → `to`.
fn expected(row: &Row, from: &str, to: &str) -> bool {
    let mut hits = row
        .expect
        .iter()
        .filter(|(f, t, _)| peer_matches(f, from) && peer_matches(t, to));
    hits.next_back().is_none_or(|(_, _, connected)| *connected)
}

/// Every cell where the matrix or pairwise evaluation disagrees with the
/// table: "test: x/a -> y/b expected allowed, matrix denied, pair denied".
fn mismatches(row: &Row) -> Vec<String> {
    let k8s = cluster(row);
    let index = PolicyIndex::new(&k8s).expect("policies collected");
    let probe = Probe::new(row.probe.0, row.probe.1);
    let matrix = index.matrix(&probe);
    let mut out = Vec::new();
    for s in 0..index.pods().len() {
        for d in 0..index.pods().len() {
            let (from, to) = (index.pods()[s].key(), index.pods()[d].key());
            let want = s == d || expected(row, &from, &to);
            let by_matrix = matrix.allowed(s, d);
            let by_pair = index
                .pair(Endpoint::Pod(s), Endpoint::Pod(d), &probe)
                .allowed();
            if by_matrix != want || by_pair != want {
                out.push(format!(
                    "{}: {from} -> {to} expected {want}, matrix {by_matrix}, pair {by_pair}",
                    row.test
                ));
            }
        }
    }
    out
}

#[test]
fn upstream_e2e_truth_tables_hold_for_all_81_pairs() {
    let failures: Vec<String> = ROWS.iter().flat_map(mismatches).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_row_sees_nine_pods_and_its_policies() {
    for row in ROWS {
        let k8s = cluster(row);
        let index = PolicyIndex::new(&k8s).expect("policies collected");
        assert_eq!(index.pods().len(), 9, "{}", row.test);
        assert_eq!(index.policy_count(), row.policies.len(), "{}", row.test);
    }
}

/// The harness can fail: the same policies against a table that forgets
/// x/c (default-deny-ingress isolates it too, the table says open) are
/// caught on exactly the 8 cells into x/c from other pods (x/c to itself
/// is always allowed).
#[test]
fn a_wrong_table_is_caught() {
    let wrong = Row {
        test: "default-deny-ingress with a wrong table",
        policies: &[("x", "deny-ingress", DENY_INGRESS)],
        labels: &[],
        probe: ("TCP", 80),
        expect: &[("*", "x/a", false), ("*", "x/b", false)],
    };
    assert_eq!(mismatches(&wrong).len(), 8);
}
