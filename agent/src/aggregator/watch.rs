//! Watches on the API objects the aggregator lists, so it re-lists them
//! only when something changed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::kube::{self as kubeapi, KubeOptions};

/// The longest the aggregator trusts its watches without a full re-list.
pub(super) const RELIST_EVERY: Duration = Duration::from_secs(600);
/// A watch request's server-side lifetime before it is renewed.
const WATCH_SECONDS: u32 = 300;

/// One watch per object kind, for the life of the aggregator: any change
/// (or any watch error — 410 Gone, a server that cannot watch) marks the
/// objects dirty, so the refresh loop re-lists. Resumes from the last
/// resourceVersion seen; after an error it starts again from "now" (a
/// fresh resourceVersion), having marked dirty so nothing is missed.
pub(super) fn spawn_watches(client: kube::Client, opts: KubeOptions, dirty: Arc<AtomicBool>) {
    use kubeapi::Resource;
    for resource in [
        Resource::Nodes,
        Resource::Pods,
        Resource::Services,
        Resource::EndpointSlices,
        Resource::NetworkPolicies,
        Resource::Namespaces,
    ] {
        let (client, opts, dirty) = (client.clone(), opts.clone(), dirty.clone());
        tokio::spawn(async move {
            loop {
                let version = kubeapi::current_version(&client, &opts, resource).await;
                if matches!(version, Err(kubeapi::KubeError::Forbidden { .. })) {
                    // Optional kinds under an older role: listed as "not
                    // collected"; re-listing every 10 s would change nothing.
                    return;
                }
                let Ok(version) = version else {
                    dirty.store(true, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    continue;
                };
                // Anything between the last list and `version` is unseen.
                dirty.store(true, Ordering::SeqCst);
                watch_from(&client, resource, version, &dirty).await;
                dirty.store(true, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
        });
    }
}

/// Watches `resource` from `version`, renewing the watch as it ends,
/// until it fails; every event raises `dirty`.
async fn watch_from(
    client: &kube::Client,
    resource: kubeapi::Resource,
    mut version: String,
    dirty: &AtomicBool,
) {
    let mark = || dirty.store(true, Ordering::SeqCst);
    loop {
        let began = Instant::now();
        let Ok(out) = kubeapi::watch(client, resource, &version, WATCH_SECONDS, mark).await else {
            return;
        };
        version = out.resource_version.unwrap_or(version);
        // A server that ends watches at once must not be asked again in
        // a tight loop.
        if began.elapsed() < Duration::from_secs(1) {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}
