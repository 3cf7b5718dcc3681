//! `Dataplane::new`: compiles a snapshot once into the tables of
//! [`crate::tables`] — one [`Namespace`](crate::tables::Namespace) per node
//! root and collected pod netns, then the cluster-wide maps and the
//! attachment of pods whose netns was not collected. Compiling only: the
//! lookups the engine runs live with the tables and in `query.rs`.

mod links;
mod namespace;
mod neighbours;
mod nodes;
mod pods;
mod routes;
mod segments;

use cnictl_model::{ClusterSnapshot, NodeSnapshot};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::hints::Hints;
use crate::tables::{Dataplane, Namespace};

use namespace::NamespaceSource;

impl Dataplane {
    /// Compiles the snapshot with no [`Hints`]. Never fails: what is missing
    /// is recorded and reported by the traces that need it.
    pub fn new(snap: &ClusterSnapshot) -> Dataplane {
        Dataplane::with_hints(snap, &Hints::default())
    }

    /// Compiles the snapshot, filling in from `hints` what it cannot show
    /// (the gateway of pods whose netns was not collected, proxy ARP when
    /// sysctls were not collected).
    pub fn with_hints(snap: &ClusterSnapshot, hints: &Hints) -> Dataplane {
        let mut dp = Dataplane::empty(snap.nodes.len());
        let list: Vec<(&String, &NodeSnapshot)> = snap.nodes.iter().collect();
        let roots = compile_roots(&list);
        for (i, ((name, node), ns)) in list.into_iter().zip(roots).enumerate() {
            dp.add_node(i as u32, name, node, ns, snap);
        }
        dp.add_k8s_pods(snap);
        dp.attach_inferred_pods(hints);
        dp.build_segments();
        dp.index_pod_names();
        dp
    }

    fn empty(nodes: usize) -> Dataplane {
        Dataplane {
            nodes: Vec::with_capacity(nodes),
            ns: Vec::new(),
            pods: Vec::new(),
            node_by_name: FxHashMap::default(),
            pod_by_key: FxHashMap::default(),
            pod_by_name: FxHashMap::default(),
            pod_by_ip: FxHashMap::default(),
            underlay: FxHashMap::default(),
        }
    }

    fn index_pod_names(&mut self) {
        for (i, p) in self.pods.iter().enumerate() {
            let name = p.key.rsplit_once('/').map_or(p.key.as_str(), |(_, n)| n);
            self.pod_by_name
                .entry(name.to_string())
                .or_default()
                .push(i as u32);
        }
    }
}

/// Compiling a node's tables is independent work: spread it over cores.
fn compile_roots(list: &[(&String, &NodeSnapshot)]) -> Vec<Namespace> {
    list.par_iter()
        .enumerate()
        .map(|(i, (_, node))| namespace::compile(NamespaceSource::root(i as u32, node)))
        .collect()
}
