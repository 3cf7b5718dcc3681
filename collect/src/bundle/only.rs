//! A bundle seen through a node filter: the Kubernetes objects whole, the
//! dumps of the named nodes only. `explain` loads the nodes a path can
//! touch this way (on 1,000 nodes, two dumps instead of all); the other
//! nodes stay in `k8s/nodes.json`, without a dump, as any node not
//! collected.

use std::collections::BTreeSet;

use super::{BundleSource, SourceError};

/// `inner` with only `nodes` under `nodes/`.
pub struct Only<'a> {
    pub inner: &'a dyn BundleSource,
    pub nodes: BTreeSet<String>,
}

impl BundleSource for Only<'_> {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn read(&self, rel: &str) -> Result<Option<String>, SourceError> {
        self.inner.read(rel)
    }

    fn subdirs(&self, rel: &str) -> Result<Vec<String>, SourceError> {
        let all = self.inner.subdirs(rel)?;
        if rel.trim_end_matches('/') != "nodes" {
            return Ok(all);
        }
        Ok(all.into_iter().filter(|n| self.nodes.contains(n)).collect())
    }
}
