//! The Kubernetes API reader (`--kube`): Nodes, Pods, Services,
//! EndpointSlices and, where Calico's CRDs exist, IPPools and
//! BlockAffinities, read with the kube client from a kubeconfig or the
//! in-cluster service account.
//!
//! Lists are paged (`limit` + `continue`) so a 5,000-node cluster's pods
//! never arrive as one response; each page is a List document exactly like
//! `kubectl get … -o json`, so the bundle parsers in
//! [`cnictl_formats`] map it to the model and a live read and a
//! bundle import agree by construction. Read-only: every request is a GET.

use std::path::PathBuf;
use std::time::Duration;

use cnictl_formats::{
    parse_endpointslices, parse_namespaces, parse_networkpolicies, parse_nodes, parse_pods,
    parse_services, ParseError,
};
use cnictl_model::K8s;
use futures::io::AsyncBufReadExt;
use futures::StreamExt;
use ipnet::IpNet;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde::{Deserialize, Serialize};

/// Where the API is and how to talk to it.
#[derive(Debug, Clone)]
pub struct KubeOptions {
    /// A kubeconfig file; `None` infers (`$KUBECONFIG`, `~/.kube/config`,
    /// then the in-cluster service account).
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context; `None` is its current context.
    pub context: Option<String>,
    /// Objects per page (`limit`): bounds the memory of one response.
    pub page_size: u32,
    /// Deadline for each request (one page, not the whole list).
    pub timeout: Duration,
    /// Only the pods scheduled on this node (`fieldSelector=spec.nodeName=`):
    /// an agent needs its own pods, and 5,000 agents each listing every pod
    /// would load the API server with 5,000 × all pods.
    pub pods_on_node: Option<String>,
}

impl Default for KubeOptions {
    fn default() -> Self {
        KubeOptions {
            kubeconfig: None,
            context: None,
            page_size: 500,
            timeout: Duration::from_secs(30),
            pods_on_node: None,
        }
    }
}

/// Why the API could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("cannot load kubeconfig {path}: {reason}")]
    Kubeconfig { path: String, reason: String },
    #[error("no usable cluster configuration (kubeconfig or in-cluster): {0}")]
    Infer(String),
    #[error("cannot build a kubernetes client: {0}")]
    Client(String),
    #[error("listing {resource}: unauthorized (401): {message}")]
    Unauthorized {
        resource: &'static str,
        message: String,
    },
    #[error("listing {resource}: forbidden (403): {message}")]
    Forbidden {
        resource: &'static str,
        message: String,
    },
    #[error("listing {resource}: the api answered {code}: {message}")]
    Api {
        resource: &'static str,
        code: u16,
        message: String,
    },
    #[error("listing {resource}: no answer within {timeout:?}")]
    Timeout {
        resource: &'static str,
        timeout: Duration,
    },
    #[error("listing {resource}: {reason}")]
    Transport {
        resource: &'static str,
        reason: String,
    },
    #[error("decoding {resource} page {page}: {source}")]
    Decode {
        resource: &'static str,
        page: usize,
        source: ParseError,
    },
    #[error("watching {resource}: resource version {version} is too old (410 gone)")]
    Gone {
        resource: &'static str,
        version: String,
    },
    #[error("listing {resource}: more than {max} pages (is the server ignoring limit?)")]
    TooManyPages { resource: &'static str, max: usize },
}

impl KubeError {
    /// A bounded code for the `error_code` metric label and logs.
    pub fn code(&self) -> &'static str {
        match self {
            KubeError::Kubeconfig { .. } | KubeError::Infer(_) | KubeError::Client(_) => "config",
            KubeError::Unauthorized { .. } => "unauthorized",
            KubeError::Forbidden { .. } => "forbidden",
            KubeError::Api { .. } => "api",
            KubeError::Timeout { .. } => "timeout",
            KubeError::Transport { .. } => "transport",
            KubeError::Decode { .. } => "decode",
            KubeError::Gone { .. } => "gone",
            KubeError::TooManyPages { .. } => "too_many_pages",
        }
    }
}

/// The API collections cnictl reads (cluster-wide).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Nodes,
    Pods,
    Services,
    EndpointSlices,
    NetworkPolicies,
    Namespaces,
    IpPools,
    BlockAffinities,
    BgpConfigurations,
    BgpPeers,
}

impl Resource {
    /// The collection's path on the API server.
    pub fn path(self) -> &'static str {
        match self {
            Resource::Nodes => "/api/v1/nodes",
            Resource::Pods => "/api/v1/pods",
            Resource::Services => "/api/v1/services",
            Resource::EndpointSlices => "/apis/discovery.k8s.io/v1/endpointslices",
            Resource::NetworkPolicies => "/apis/networking.k8s.io/v1/networkpolicies",
            Resource::Namespaces => "/api/v1/namespaces",
            Resource::IpPools => "/apis/crd.projectcalico.org/v1/ippools",
            Resource::BlockAffinities => "/apis/crd.projectcalico.org/v1/blockaffinities",
            Resource::BgpConfigurations => "/apis/crd.projectcalico.org/v1/bgpconfigurations",
            Resource::BgpPeers => "/apis/crd.projectcalico.org/v1/bgppeers",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Resource::Nodes => "nodes",
            Resource::Pods => "pods",
            Resource::Services => "services",
            Resource::EndpointSlices => "endpointslices",
            Resource::NetworkPolicies => "networkpolicies",
            Resource::Namespaces => "namespaces",
            Resource::IpPools => "ippools",
            Resource::BlockAffinities => "blockaffinities",
            Resource::BgpConfigurations => "bgpconfigurations",
            Resource::BgpPeers => "bgppeers",
        }
    }
}

/// A guard against a server that keeps returning `continue`: 10,000 pages
/// of 500 is 5M objects, far beyond any real cluster.
const MAX_PAGES: usize = 10_000;

/// Builds a client from `opts` (kubeconfig file and context, or inferred).
pub async fn client(opts: &KubeOptions) -> Result<Client, KubeError> {
    let options = KubeConfigOptions {
        context: opts.context.clone(),
        ..KubeConfigOptions::default()
    };
    let mut config = match &opts.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path).map_err(|e| KubeError::Kubeconfig {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| KubeError::Kubeconfig {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?
        }
        None if opts.context.is_some() => Config::from_kubeconfig(&options)
            .await
            .map_err(|e| KubeError::Infer(e.to_string()))?,
        None => Config::infer()
            .await
            .map_err(|e| KubeError::Infer(e.to_string()))?,
    };
    config.connect_timeout = Some(opts.timeout);
    // Each request gets its own deadline in `get_text`; a client-wide read
    // timeout would also cut long watches short.
    config.read_timeout = None;
    Client::try_from(config).map_err(|e| KubeError::Client(e.to_string()))
}

/// Reads Nodes, Pods, Services and EndpointSlices into the model.
pub async fn read_cluster(opts: &KubeOptions) -> Result<K8s, KubeError> {
    let client = client(opts).await?;
    read_cluster_with(&client, opts).await
}

/// [`read_cluster`] with an existing client (the agent and aggregator keep
/// one). The four lists run concurrently.
pub async fn read_cluster_with(client: &Client, opts: &KubeOptions) -> Result<K8s, KubeError> {
    let (nodes, pods, services, slices, policies, namespaces) = tokio::try_join!(
        list_all(client, opts, Resource::Nodes, parse_nodes),
        list_all(client, opts, Resource::Pods, parse_pods),
        list_all(client, opts, Resource::Services, parse_services),
        list_all(client, opts, Resource::EndpointSlices, parse_endpointslices),
        unless_forbidden(list_all(
            client,
            opts,
            Resource::NetworkPolicies,
            parse_networkpolicies
        )),
        unless_forbidden(list_all(
            client,
            opts,
            Resource::Namespaces,
            parse_namespaces
        )),
    )?;
    Ok(K8s {
        nodes,
        pods,
        services: Some(services),
        endpoint_slices: Some(slices),
        network_policies: policies,
        namespaces,
        calico: read_calico_objects(client, opts).await?,
    })
}

/// Calico's custom resources into the model, read-only lists; each `None`
/// when its CRD is not installed (404) or RBAC forbids it.
async fn read_calico_objects(
    client: &Client,
    opts: &KubeOptions,
) -> Result<cnictl_model::CalicoObjects, KubeError> {
    use cnictl_formats::calico as c;
    let (bgp_configurations, bgp_peers, ip_pools, block_affinities) = tokio::try_join!(
        unless_forbidden(list_all(
            client,
            opts,
            Resource::BgpConfigurations,
            c::parse_bgpconfigurations
        )),
        unless_forbidden(list_all(
            client,
            opts,
            Resource::BgpPeers,
            c::parse_bgppeers
        )),
        unless_forbidden(list_all(client, opts, Resource::IpPools, c::parse_ippools)),
        unless_forbidden(list_all(
            client,
            opts,
            Resource::BlockAffinities,
            c::parse_blockaffinities
        )),
    )?;
    Ok(cnictl_model::CalicoObjects {
        bgp_configurations,
        bgp_peers,
        ip_pools,
        block_affinities,
    })
}

/// A list the dataplane checks do not need (NetworkPolicies, Namespaces):
/// when an older RBAC role forbids it, it is "not collected" (`None`, and
/// policy answers say what is missing) rather than a failed read.
async fn unless_forbidden<T>(
    list: impl std::future::Future<Output = Result<T, KubeError>>,
) -> Result<Option<T>, KubeError> {
    match list.await {
        Ok(v) => Ok(Some(v)),
        Err(KubeError::Forbidden { .. } | KubeError::Api { code: 404, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Calico's IPAM objects. The model has no section for them yet; callers
/// use them to name a node's blocks where the dataplane shows none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalicoIpam {
    pub ip_pools: Vec<IpPool>,
    pub block_affinities: Vec<BlockAffinity>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpPool {
    pub name: String,
    pub cidr: IpNet,
    /// `Always`, `CrossSubnet`, `Never` (absent: `Never`).
    pub ipip_mode: String,
    pub vxlan_mode: String,
    pub nat_outgoing: bool,
    pub disabled: bool,
    pub block_size: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockAffinity {
    pub name: String,
    pub node: String,
    pub cidr: IpNet,
    /// `confirmed`, `pending`, `pendingDeletion`.
    pub state: String,
}

/// Reads Calico's IPPools and BlockAffinities; `None` when the CRDs are not
/// installed (the API answers 404 for the collection), which is no error.
pub async fn read_calico(
    client: &Client,
    opts: &KubeOptions,
) -> Result<Option<CalicoIpam>, KubeError> {
    let pools = match list_all(client, opts, Resource::IpPools, parse_ippools).await {
        Err(KubeError::Api { code: 404, .. }) => return Ok(None),
        other => other?,
    };
    let block_affinities = match list_all(
        client,
        opts,
        Resource::BlockAffinities,
        parse_block_affinities,
    )
    .await
    {
        Err(KubeError::Api { code: 404, .. }) => Vec::new(),
        other => other?,
    };
    Ok(Some(CalicoIpam {
        ip_pools: pools,
        block_affinities,
    }))
}

/// Lists a whole collection page by page. A `410 Gone` on a later page
/// means the `continue` token expired while paging (the list's snapshot is
/// too old): the list restarts once from the first page.
pub async fn list_all<T>(
    client: &Client,
    opts: &KubeOptions,
    resource: Resource,
    parse: fn(&str) -> Result<Vec<T>, ParseError>,
) -> Result<Vec<T>, KubeError> {
    match list_pages(client, opts, resource, parse).await {
        Err(KubeError::Api { code: 410, .. }) => list_pages(client, opts, resource, parse).await,
        other => other,
    }
}

async fn list_pages<T>(
    client: &Client,
    opts: &KubeOptions,
    resource: Resource,
    parse: fn(&str) -> Result<Vec<T>, ParseError>,
) -> Result<Vec<T>, KubeError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    for page in 1..=MAX_PAGES {
        let mut uri = format!("{}?limit={}", resource.path(), opts.page_size.max(1));
        if let (Resource::Pods, Some(node)) = (resource, &opts.pods_on_node) {
            uri.push_str("&fieldSelector=");
            uri.push_str(&percent_encode(&format!("spec.nodeName={node}")));
        }
        if let Some(t) = &token {
            uri.push_str("&continue=");
            uri.push_str(&percent_encode(t));
        }
        let text = get_text(client, resource, &uri, opts.timeout).await?;
        out.extend(parse(&text).map_err(|source| KubeError::Decode {
            resource: resource.name(),
            page,
            source,
        })?);
        token = list_meta(&text).map_err(|source| KubeError::Decode {
            resource: resource.name(),
            page,
            source,
        })?;
        if token.is_none() {
            return Ok(out);
        }
    }
    Err(KubeError::TooManyPages {
        resource: resource.name(),
        max: MAX_PAGES,
    })
}

/// One GET with a deadline, API errors mapped to [`KubeError`].
async fn get_text(
    client: &Client,
    resource: Resource,
    uri: &str,
    timeout: Duration,
) -> Result<String, KubeError> {
    let request = http::Request::get(uri)
        .body(Vec::new())
        .map_err(|e| KubeError::Client(e.to_string()))?;
    match tokio::time::timeout(timeout, client.request_text(request)).await {
        Err(_) => Err(KubeError::Timeout {
            resource: resource.name(),
            timeout,
        }),
        Ok(result) => result.map_err(|e| map_error(resource, e)),
    }
}

fn map_error(resource: Resource, err: kube::Error) -> KubeError {
    let resource = resource.name();
    match err {
        kube::Error::Api(r) if r.code == 401 => KubeError::Unauthorized {
            resource,
            message: r.message,
        },
        kube::Error::Api(r) if r.code == 403 => KubeError::Forbidden {
            resource,
            message: r.message,
        },
        kube::Error::Api(r) => KubeError::Api {
            resource,
            code: r.code,
            message: r.message,
        },
        other => KubeError::Transport {
            resource,
            reason: other.to_string(),
        },
    }
}

/// The `continue` token of a List page (`None` or empty: last page).
fn list_meta(text: &str) -> Result<Option<String>, ParseError> {
    #[derive(Deserialize)]
    struct Page {
        #[serde(default)]
        metadata: Meta,
    }
    #[derive(Deserialize, Default)]
    struct Meta {
        #[serde(default, rename = "continue")]
        token: Option<String>,
    }
    let page: Page = serde_json::from_str(text).map_err(|e| json_error(&e))?;
    Ok(page.metadata.token.filter(|t| !t.is_empty()))
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass):
/// `continue` tokens are base64 and carry `+`, `/` and `=`.
fn percent_encode(value: &str) -> String {
    const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// One agent pod found by [`list_agent_pods`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPod {
    pub node: String,
    pub ip: std::net::IpAddr,
}

/// The running pods matching `selector` in `namespace` (the agent
/// DaemonSet's), with their node and pod IP (the node IP: agents run with
/// hostNetwork). Pods without an IP yet are left out.
pub async fn list_agent_pods(
    client: &Client,
    opts: &KubeOptions,
    namespace: &str,
    selector: &str,
) -> Result<Vec<AgentPod>, KubeError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    for page in 1..=MAX_PAGES {
        let mut uri = format!(
            "/api/v1/namespaces/{}/pods?limit={}&labelSelector={}",
            percent_encode(namespace),
            opts.page_size.max(1),
            percent_encode(selector)
        );
        if let Some(t) = &token {
            uri.push_str("&continue=");
            uri.push_str(&percent_encode(t));
        }
        let text = get_text(client, Resource::Pods, &uri, opts.timeout).await?;
        let decode = |source| KubeError::Decode {
            resource: "pods",
            page,
            source,
        };
        out.extend(running_agents(parse_pods(&text).map_err(decode)?));
        token = list_meta(&text).map_err(decode)?;
        if token.is_none() {
            return Ok(out);
        }
    }
    Err(KubeError::TooManyPages {
        resource: "pods",
        max: MAX_PAGES,
    })
}

/// What a watch saw before the server ended it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchOutcome {
    /// ADDED / MODIFIED / DELETED events (BOOKMARKs are not counted).
    pub changes: u64,
    /// The last resourceVersion seen: where the next watch resumes.
    pub resource_version: Option<String>,
}

/// Watches `resource` from `resource_version` until the server closes the
/// stream (after `timeout_seconds`), calling `on_change` for each change so
/// the caller can schedule a re-read. An `ERROR` event with code 410 is
/// [`KubeError::Gone`]: the caller re-lists.
/// The running pods with a node and an address.
fn running_agents(pods: Vec<cnictl_model::Pod>) -> impl Iterator<Item = AgentPod> {
    pods.into_iter()
        .filter(|p| p.phase == "Running")
        .filter_map(|p| {
            Some(AgentPod {
                node: p.node?,
                ip: *p.ips.first()?,
            })
        })
}

pub async fn watch(
    client: &Client,
    resource: Resource,
    resource_version: &str,
    timeout_seconds: u32,
    mut on_change: impl FnMut(),
) -> Result<WatchOutcome, KubeError> {
    let uri = format!(
        "{}?watch=true&allowWatchBookmarks=true&timeoutSeconds={timeout_seconds}&resourceVersion={}",
        resource.path(),
        percent_encode(resource_version)
    );
    let request = http::Request::get(uri)
        .body(Vec::new())
        .map_err(|e| KubeError::Client(e.to_string()))?;
    let deadline = Duration::from_secs(u64::from(timeout_seconds) + 30);
    let body = tokio::time::timeout(deadline, client.request_stream(request))
        .await
        .map_err(|_| KubeError::Timeout {
            resource: resource.name(),
            timeout: deadline,
        })?
        .map_err(|e| map_error(resource, e))?;
    let mut lines = Box::pin(body.lines());
    let mut outcome = WatchOutcome::default();
    loop {
        let next = tokio::time::timeout(deadline, lines.next()).await;
        let Some(line) = next_line(resource, deadline, next)? else {
            return Ok(outcome);
        };
        if !line.trim().is_empty() {
            watch_event(resource, &line, &mut outcome, &mut on_change)?;
        }
    }
}

/// The next line of a watch stream, `None` at its end.
fn next_line<E: std::fmt::Display>(
    resource: Resource,
    deadline: Duration,
    next: Result<Option<Result<String, E>>, tokio::time::error::Elapsed>,
) -> Result<Option<String>, KubeError> {
    match next {
        Err(_) => Err(KubeError::Timeout {
            resource: resource.name(),
            timeout: deadline,
        }),
        Ok(None) => Ok(None),
        Ok(Some(line)) => line.map(Some).map_err(|e| KubeError::Transport {
            resource: resource.name(),
            reason: e.to_string(),
        }),
    }
}

/// One line of a watch stream.
#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    object: EventObject,
}

#[derive(Deserialize, Default)]
struct EventObject {
    #[serde(default)]
    metadata: EventMeta,
    #[serde(default)]
    code: Option<u16>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize, Default)]
struct EventMeta {
    #[serde(default, rename = "resourceVersion")]
    resource_version: Option<String>,
}

/// Decodes one watch event line into `outcome`.
fn watch_event(
    resource: Resource,
    line: &str,
    outcome: &mut WatchOutcome,
    on_change: &mut impl FnMut(),
) -> Result<(), KubeError> {
    let event: Event = serde_json::from_str(line).map_err(|e| KubeError::Decode {
        resource: resource.name(),
        page: 0,
        source: json_error(&e),
    })?;
    if event.kind == "ERROR" {
        return Err(event_error(resource, event.object, outcome));
    }
    if let Some(rv) = event.object.metadata.resource_version {
        outcome.resource_version = Some(rv);
    }
    if event.kind != "BOOKMARK" {
        outcome.changes += 1;
        on_change();
    }
    Ok(())
}

/// An ERROR event: 410 means the version is too old to resume from.
fn event_error(resource: Resource, object: EventObject, outcome: &WatchOutcome) -> KubeError {
    match object.code.unwrap_or(500) {
        410 => KubeError::Gone {
            resource: resource.name(),
            version: outcome.resource_version.clone().unwrap_or_default(),
        },
        code => KubeError::Api {
            resource: resource.name(),
            code,
            message: object.message.unwrap_or_default(),
        },
    }
}

/// The resourceVersion of a collection right now (a one-item list), where
/// a watch starts.
pub async fn current_version(
    client: &Client,
    opts: &KubeOptions,
    resource: Resource,
) -> Result<String, KubeError> {
    #[derive(Deserialize)]
    struct Page {
        #[serde(default)]
        metadata: Meta,
    }
    #[derive(Deserialize, Default)]
    struct Meta {
        #[serde(default, rename = "resourceVersion")]
        resource_version: String,
    }
    let uri = format!("{}?limit=1", resource.path());
    let text = get_text(client, resource, &uri, opts.timeout).await?;
    let page: Page = serde_json::from_str(&text).map_err(|e| KubeError::Decode {
        resource: resource.name(),
        page: 1,
        source: json_error(&e),
    })?;
    Ok(page.metadata.resource_version)
}

fn parse_ippools(text: &str) -> Result<Vec<IpPool>, ParseError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Spec {
        cidr: IpNet,
        #[serde(default)]
        ipip_mode: Option<String>,
        #[serde(default)]
        vxlan_mode: Option<String>,
        #[serde(default)]
        nat_outgoing: bool,
        #[serde(default)]
        disabled: bool,
        #[serde(default)]
        block_size: Option<u8>,
    }
    let items: Vec<CrdItem<Spec>> = crd_items(text)?;
    Ok(items
        .into_iter()
        .map(|i| IpPool {
            name: i.metadata.name,
            cidr: i.spec.cidr,
            ipip_mode: i.spec.ipip_mode.unwrap_or_else(|| "Never".into()),
            vxlan_mode: i.spec.vxlan_mode.unwrap_or_else(|| "Never".into()),
            nat_outgoing: i.spec.nat_outgoing,
            disabled: i.spec.disabled,
            block_size: i.spec.block_size,
        })
        .collect())
}

fn parse_block_affinities(text: &str) -> Result<Vec<BlockAffinity>, ParseError> {
    #[derive(Deserialize)]
    struct Spec {
        node: String,
        cidr: IpNet,
        #[serde(default)]
        state: String,
    }
    let items: Vec<CrdItem<Spec>> = crd_items(text)?;
    Ok(items
        .into_iter()
        .map(|i| BlockAffinity {
            name: i.metadata.name,
            node: i.spec.node,
            cidr: i.spec.cidr,
            state: i.spec.state,
        })
        .collect())
}

/// serde_json's error with its position, as the bundle parsers report it.
fn json_error(e: &serde_json::Error) -> ParseError {
    ParseError::Json {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    }
}

#[derive(Deserialize)]
struct CrdItem<S> {
    metadata: CrdMeta,
    spec: S,
}

#[derive(Deserialize)]
struct CrdMeta {
    name: String,
}

fn crd_items<S: serde::de::DeserializeOwned>(text: &str) -> Result<Vec<CrdItem<S>>, ParseError> {
    #[derive(Deserialize)]
    struct List<S> {
        items: Vec<CrdItem<S>>,
    }
    serde_json::from_str::<List<S>>(text)
        .map(|l| l.items)
        .map_err(|e| json_error(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_are_encoded() {
        assert_eq!(percent_encode("eyJ2Ijo+/=x"), "eyJ2Ijo%2B%2F%3Dx");
    }

    #[test]
    fn empty_continue_is_last_page() {
        let page = r#"{"kind":"NodeList","metadata":{"continue":""},"items":[]}"#;
        assert_eq!(list_meta(page).ok(), Some(None));
        let page = r#"{"metadata":{"continue":"abc"},"items":[]}"#;
        assert_eq!(list_meta(page).ok(), Some(Some("abc".to_string())));
    }

    #[test]
    fn ippools_parse_with_defaults() {
        let text = r#"{"items":[{"metadata":{"name":"default-ipv4-ippool"},
            "spec":{"cidr":"10.244.0.0/16","ipipMode":"Always","natOutgoing":true,"blockSize":26}}]}"#;
        let pools = parse_ippools(text).unwrap_or_default();
        assert_eq!(pools.len(), 1);
        assert_eq!(pools[0].ipip_mode, "Always");
        assert_eq!(pools[0].vxlan_mode, "Never");
        assert_eq!(pools[0].block_size, Some(26));
    }
}
