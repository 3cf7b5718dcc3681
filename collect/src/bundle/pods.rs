//! The pod network namespaces of a node dir (`pods/…`): dumps named
//! `<namespace>_<pod>`, and those under a runtime name matched to their pod
//! by the addresses `k8s/pods.json` gives it.

use std::collections::BTreeMap;

use cnictl_model::{K8s, NodeSnapshot, Notice, PodNetns};

use super::{FileError, FileErrorKind, Reader};

/// A node dir as read, before the pods' netns named by their runtime are
/// matched to their pods.
pub(super) struct NodeLoad {
    pub(super) node: NodeSnapshot,
    pub(super) notices: Vec<Notice>,
    /// `pods/<dir>/` whose name is no `<namespace>_<pod>` (`cni-1a2b…`).
    pub(super) unnamed: Vec<(String, PodNetns)>,
}

/// `pods/<namespace>_<pod>/`: namespaces and pod names are DNS labels and
/// cannot hold `_`, so the first `_` splits them. A dir without `_`
/// (`cni-1a2b…`, a netns under the container runtime's name) or
/// `netns_<name>` (what `lab/collect-node.sh` and `cnictl collect` write
/// for a netns they cannot name) is returned apart, as `netns/<name>`, to
/// be matched to its pod by address once `k8s/` is read.
type Pods = (BTreeMap<String, PodNetns>, Vec<(String, PodNetns)>);

pub(super) fn load_pods(r: &mut Reader<'_>, dir: &str) -> Pods {
    let pods_dir = format!("{dir}/pods");
    let names = match r.src.subdirs(&pods_dir) {
        Ok(n) => n,
        Err(e) => return r.fail(&pods_dir, e.into()).unwrap_or_default(),
    };
    let (mut named, mut unnamed) = (BTreeMap::new(), Vec::new());
    for d in names {
        let (ns, pod) = match d.split_once('_') {
            Some(("netns", name)) | Some(("", name)) => ("", name),
            Some(split) => split,
            None => ("", d.as_str()),
        };
        let base = format!("{pods_dir}/{d}");
        let l = r.listings(&base, false);
        let pn = PodNetns {
            namespace: if ns.is_empty() { "netns" } else { ns }.to_string(),
            name: pod.to_string(),
            links: l.links.unwrap_or_default(),
            addrs: l.addrs.unwrap_or_default(),
            routes: l.routes.unwrap_or_default(),
        };
        match ns.is_empty() {
            true => unnamed.push((base, pn)),
            false => {
                named.insert(format!("{ns}/{pod}"), pn);
            }
        }
    }
    (named, unnamed)
}

/// Gives each runtime-named pod netns the pod whose `podIPs` it holds; one
/// that matches no pod stays `netns/<name>` (said in a notice), one that
/// matches a pod dumped under its own name too is an error.
pub(super) fn match_unnamed(
    k8s: &K8s,
    load: &mut NodeLoad,
    errors: &mut Vec<FileError>,
    notices: &mut Vec<Notice>,
) {
    for (path, mut pn) in std::mem::take(&mut load.unnamed) {
        let ips: Vec<_> = pn
            .addrs
            .iter()
            .map(|a| a.addr.addr())
            .filter(|ip| !is_link_local(ip))
            .collect();
        let Some(pod) = k8s
            .pods
            .iter()
            .find(|p| !p.host_network && p.ips.iter().any(|ip| ips.contains(ip)))
        else {
            let shown: Vec<String> = ips.iter().map(ToString::to_string).collect();
            let why = format!(
                "no pod of k8s/pods.json has its address ({}): kept as netns/{}",
                shown.join(", "),
                pn.name
            );
            notices.push(Notice::new(
                Notice::POD_NETNS_UNMATCHED,
                format!("{path}/"),
                why,
            ));
            load.node.pods.insert(format!("netns/{}", pn.name), pn);
            continue;
        };
        let key = format!("{}/{}", pod.namespace, pod.name);
        if load.node.pods.contains_key(&key) {
            errors.push(FileError {
                path: format!("{path}/"),
                kind: FileErrorKind::Invalid(format!(
                    "holds the addresses of pod {key}, dumped again beside it"
                )),
            });
            continue;
        }
        (pn.namespace, pn.name) = (pod.namespace.clone(), pod.name.clone());
        load.node.pods.insert(key, pn);
    }
}

fn is_link_local(ip: &std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback() || v4.is_link_local(),
        std::net::IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// Without `k8s/pods.json`, a runtime-named pod netns names no pod: it
/// stays `netns/<name>`, said in a notice.
pub(super) fn unmatchable(load: &mut NodeLoad, notices: &mut Vec<Notice>) {
    for (path, pn) in std::mem::take(&mut load.unnamed) {
        let why = format!("a pod netns under its runtime name: without k8s/pods.json it cannot be matched to its pod: kept as netns/{}", pn.name);
        load.node.pods.insert(format!("netns/{}", pn.name), pn);
        notices.push(Notice::new(
            Notice::POD_NETNS_UNMATCHED,
            format!("{path}/"),
            why,
        ));
    }
}
