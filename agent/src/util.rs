//! Small shared helpers: wall-clock timestamps for the documents the agent
//! and aggregator publish (analysis itself never reads the clock), entity
//! tags, and a bundle's `k8s/` objects.

use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use cnictl_formats::{
    parse_bgpconfigurations, parse_bgppeers, parse_blockaffinities, parse_endpointslices,
    parse_ippools, parse_namespaces, parse_networkpolicies, parse_nodes, parse_pods,
    parse_services, ParseError,
};
use cnictl_model::K8s;

/// Seconds since the Unix epoch, as f64 (0 if the clock is before 1970).
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds (UTC).
pub fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The current time in RFC 3339.
pub fn now_rfc3339() -> String {
    rfc3339(unix_now() as i64)
}

/// A strong entity tag over a document's bytes.
pub fn etag(bytes: &[u8]) -> String {
    let mut h = DefaultHasher::new();
    h.write(bytes);
    format!("\"{:016x}-{:x}\"", h.finish(), bytes.len())
}

/// The API objects of a bundle's `k8s/` directory (nodes.json and
/// pods.json required, services.json and endpointslices.json optional), as
/// the lab writes them: a bundle without `nodes/` is enough.
pub fn read_k8s_dir(bundle: &Path) -> Result<K8s, String> {
    let dir = bundle.join("k8s");
    let read = |name: &str, required: bool| -> Result<Option<String>, String> {
        let path = dir.join(name);
        if !required && !path.exists() {
            return Ok(None);
        }
        // Bounded, and a FIFO or device is refused rather than read.
        let limit = cnictl_collect::bundle::MAX_FILE_SIZE;
        cnictl_collect::files::read_text(&path, limit)
            .map(Some)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let bad = |name: &str, e: ParseError| format!("invalid {}/{name}: {e}", dir.display());
    let nodes = read("nodes.json", true)?.unwrap_or_default();
    let pods = read("pods.json", true)?.unwrap_or_default();
    Ok(K8s {
        nodes: parse_nodes(&nodes).map_err(|e| bad("nodes.json", e))?,
        pods: parse_pods(&pods).map_err(|e| bad("pods.json", e))?,
        services: read("services.json", false)?
            .map(|t| parse_services(&t).map_err(|e| bad("services.json", e)))
            .transpose()?,
        endpoint_slices: read("endpointslices.json", false)?
            .map(|t| parse_endpointslices(&t).map_err(|e| bad("endpointslices.json", e)))
            .transpose()?,
        network_policies: read("networkpolicies.json", false)?
            .map(|t| parse_networkpolicies(&t).map_err(|e| bad("networkpolicies.json", e)))
            .transpose()?,
        namespaces: read("namespaces.json", false)?
            .map(|t| parse_namespaces(&t).map_err(|e| bad("namespaces.json", e)))
            .transpose()?,
        calico: cnictl_model::CalicoObjects {
            bgp_configurations: optional(&read, "bgpconfigurations.json", parse_bgpconfigurations)?,
            bgp_peers: optional(&read, "bgppeers.json", parse_bgppeers)?,
            ip_pools: optional(&read, "ippools.json", parse_ippools)?,
            block_affinities: optional(&read, "blockaffinities.json", parse_blockaffinities)?,
        },
    })
}

/// How [`read_k8s_dir`] reads one file (name, required).
type ReadFile<'a> = &'a dyn Fn(&str, bool) -> Result<Option<String>, String>;

/// An optional `k8s/` file of [`read_k8s_dir`], parsed.
fn optional<T>(
    read: ReadFile<'_>,
    name: &str,
    parse: fn(&str) -> Result<T, ParseError>,
) -> Result<Option<T>, String> {
    let Some(text) = read(name, false)? else {
        return Ok(None);
    };
    parse(&text)
        .map(Some)
        .map_err(|e| format!("invalid k8s/{name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
    }

    #[test]
    fn etags_differ_with_content() {
        assert_ne!(etag(b"a"), etag(b"b"));
        assert_eq!(etag(b"abc"), etag(b"abc"));
    }
}
