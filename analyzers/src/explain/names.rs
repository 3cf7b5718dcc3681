//! Names checked against the Kubernetes objects alone, before any node's
//! dataplane is loaded: on a 1,000-node bundle a mistyped pod name is
//! answered from `k8s/` in milliseconds instead of after loading every
//! node. Conservative by design: only a name that nothing in the objects
//! (or the dumped node directories) could be is refused here; everything
//! else — IPs, ambiguous names, pods without a dataplane — goes on to the
//! full resolution, which has the last word.

use std::net::IpAddr;

use cnictl_model::K8s;

use super::ExplainError;

/// Refuses `src`/`dst` when no pod, node or Service could be meant, with
/// the closest known name as "did you mean".
pub fn check_names(
    k8s: &K8s,
    dumped: &[String],
    src: Option<&str>,
    dst: &str,
) -> Result<(), ExplainError> {
    let known = Known { k8s, dumped };
    if let Some(s) = src {
        known.check(s, "source")?;
    }
    known.check(dst, "destination")
}

struct Known<'a> {
    k8s: &'a K8s,
    /// Node directories of the bundle (`nodes/<name>/`).
    dumped: &'a [String],
}

impl Known<'_> {
    fn check(&self, spec: &str, role: &'static str) -> Result<(), ExplainError> {
        match self.could_be(spec) {
            Some(false) => Err(self.unknown(spec, role)),
            _ => Ok(()),
        }
    }

    /// `Some(false)`: nothing in the objects is called so; `None`: the
    /// objects cannot tell (an IP, Services not collected).
    fn could_be(&self, spec: &str) -> Option<bool> {
        if spec.parse::<IpAddr>().is_ok() {
            return None;
        }
        if let Some(rest) = spec.strip_prefix("svc/") {
            return self.service(rest);
        }
        if let Some(rest) = spec.strip_prefix("node/") {
            let name = rest.rsplit_once(':').map_or(rest, |(n, _)| n);
            return Some(self.node(name));
        }
        Some(self.pod_or_node(spec))
    }

    fn service(&self, rest: &str) -> Option<bool> {
        let key = match rest.rsplit_once(':') {
            Some((k, p)) if p.parse::<u16>().is_ok() => k,
            _ => rest,
        };
        let services = self.k8s.services.as_ref()?;
        Some(services.iter().any(|s| s.is(key)))
    }

    fn node(&self, name: &str) -> bool {
        self.k8s.nodes.iter().any(|n| n.name == name) || self.dumped.iter().any(|d| d == name)
    }

    fn pod_or_node(&self, spec: &str) -> bool {
        let pods = &self.k8s.pods;
        match spec.split_once('/') {
            Some(_) => pods.iter().any(|p| p.key() == spec),
            None => pods.iter().any(|p| p.name == spec) || self.node(spec),
        }
    }

    fn unknown(&self, spec: &str, role: &'static str) -> ExplainError {
        if let Some(rest) = spec.strip_prefix("svc/") {
            let key = rest.rsplit_once(':').map_or(rest, |(k, _)| k);
            return ExplainError::UnknownService(key.into());
        }
        let suggestion = self
            .closest(spec)
            .map(|s| format!("; did you mean {s:?}?"))
            .unwrap_or_default();
        ExplainError::Unknown {
            role,
            spec: spec.into(),
            suggestion,
        }
    }

    /// As the full resolution's "did you mean", over the objects.
    fn closest(&self, spec: &str) -> Option<String> {
        let nodes = self.k8s.nodes.iter().map(|n| n.name.clone());
        super::resolve::nearest(self.k8s, nodes, spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cnictl_model::{K8sNode, Pod};

    fn k8s() -> K8s {
        let mut k = K8s::default();
        k.nodes.push(K8sNode {
            name: "node-1".into(),
            ..K8sNode::default()
        });
        let mut p = Pod::default();
        (p.namespace, p.name) = ("default".into(), "web-1".into());
        k.pods.push(p);
        k
    }

    #[test]
    fn a_typo_is_refused_with_the_closest_name_and_the_rest_pass() {
        let k = k8s();
        let e = check_names(&k, &[], Some("default/web-l"), "10.0.0.1").unwrap_err();
        assert!(
            e.to_string().contains("did you mean \"default/web-1\""),
            "{e}"
        );
        assert!(check_names(&k, &[], Some("web-1"), "node/node-1:30080").is_ok());
        assert!(check_names(&k, &["node-9".into()], Some("node-9"), "default/web-1").is_ok());
        assert!(
            check_names(&k, &[], None, "svc/default/api:80").is_ok(),
            "Services not collected"
        );
        let mut k = k;
        k.services = Some(Vec::new());
        assert!(check_names(&k, &[], None, "svc/default/api:80").is_err());
        assert!(check_names(&k, &[], Some("node/node-2"), "web-1").is_err());
    }
}
