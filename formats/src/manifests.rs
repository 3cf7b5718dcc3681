//! Kubernetes manifests (YAML or JSON, one or many documents, `List`s) →
//! the objects NetworkPolicy intent needs: Pods, Namespaces,
//! NetworkPolicies, and the pod templates of workloads (Deployment,
//! ReplicaSet, StatefulSet, DaemonSet, ReplicationController, Job,
//! CronJob), which stand for their pods. Other kinds (Services,
//! ConfigMaps, RBAC, …) carry no policy meaning and are skipped; so are
//! documents without a `kind` (a Helm `values.yaml`).
//!
//! YAML is read with `serde_yaml_ng` (the maintained fork of `serde_yaml`);
//! JSON is YAML, so one reader takes both.

use cnictl_model::netpol::{Namespace, NetworkPolicy};
use cnictl_model::{K8s, OwnerRef, Pod};
use serde::Deserialize;
use serde_json::Value;

use super::kubectl::JPod;
use super::netpol::{namespace_from_value, networkpolicy_from_value};

/// At most this many pods stand for one workload (its `replicas`, at least
/// one, so a workload scaled to zero still shows in a matrix).
pub const MAX_REPLICAS: u64 = 10;

/// A document that could not be read: which one (0-based) and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}document {document}{}: {message}", position(*line, *column), object.as_deref().map(|o| format!(" ({o})")).unwrap_or_default())]
pub struct ManifestError {
    pub document: usize,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// `Kind ns/name` when the document was YAML but not a valid object.
    pub object: Option<String>,
    pub message: String,
}

fn position(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("line {l}, column {c}, "),
        _ => String::new(),
    }
}

/// The objects of every manifest read so far.
#[derive(Debug, Default)]
pub struct Manifests {
    pods: Vec<Pod>,
    workloads: Vec<Workload>,
    namespaces: Vec<Namespace>,
    policies: Vec<NetworkPolicy>,
}

#[derive(Debug)]
struct Workload {
    kind: String,
    replicas: u64,
    owner: Option<OwnerRef>,
    /// The pod template, named and namespaced as the workload.
    template: Pod,
}

impl Manifests {
    /// Reads every document of one file's text.
    pub fn add_text(&mut self, text: &str) -> Result<(), ManifestError> {
        for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
            let value = Value::deserialize(doc).map_err(|e| yaml_error(i, &e))?;
            self.add_value(value).map_err(|(object, e)| ManifestError {
                document: i,
                line: None,
                column: None,
                object: Some(object),
                message: e.to_string(),
            })?;
        }
        Ok(())
    }

    fn add_value(&mut self, v: Value) -> Result<(), (String, serde_json::Error)> {
        let kind = v
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let object = format!("{kind} {}", object_name(&v));
        let label = || object.clone();
        match kind.as_str() {
            k if k.ends_with("List") => return self.add_list(v),
            "Pod" => self.pods.push(pod(v).map_err(|e| (label(), e))?),
            "NetworkPolicy" => {
                let p = networkpolicy_from_value(v).map_err(|e| (label(), e))?;
                self.policies.push(p);
            }
            "Namespace" => self
                .namespaces
                .push(namespace_from_value(v).map_err(|e| (label(), e))?),
            k if template_path(k).is_some() => {
                let w = workload(&kind, &v).map_err(|e| (label(), e))?;
                self.workloads.push(w);
            }
            _ => {}
        }
        Ok(())
    }

    fn add_list(&mut self, v: Value) -> Result<(), (String, serde_json::Error)> {
        let Value::Object(mut o) = v else {
            return Ok(());
        };
        let Some(Value::Array(items)) = o.remove("items") else {
            return Ok(());
        };
        items.into_iter().try_for_each(|item| self.add_value(item))
    }

    /// The cluster these manifests describe: given Pods, plus the pods of
    /// every workload whose pods are not given.
    pub fn into_k8s(self) -> K8s {
        let mut pods = self.pods;
        let expand: Vec<&Workload> = self
            .workloads
            .iter()
            .filter(|w| !has_pods(w, &pods) && !owner_given(w, &self.workloads))
            .collect();
        let expanded: Vec<Pod> = expand.into_iter().flat_map(replicas).collect();
        pods.extend(expanded);
        K8s {
            pods,
            network_policies: Some(self.policies),
            namespaces: Some(self.namespaces),
            ..K8s::default()
        }
    }
}

fn yaml_error(document: usize, e: &serde_yaml_ng::Error) -> ManifestError {
    let loc = e.location();
    ManifestError {
        document,
        line: loc.as_ref().map(|l| l.line()),
        column: loc.as_ref().map(|l| l.column()),
        object: None,
        message: e.to_string(),
    }
}

fn object_name(v: &Value) -> String {
    let meta = &v["metadata"];
    let name = meta["name"].as_str().unwrap_or("?");
    match meta["namespace"].as_str() {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

/// A missing `metadata.namespace` in a manifest means `default` (what
/// `kubectl apply` does without `-n`).
fn pod(v: Value) -> Result<Pod, serde_json::Error> {
    let mut p = serde_json::from_value::<JPod>(v)?.into_model();
    if p.namespace.is_empty() {
        p.namespace = "default".into();
    }
    Ok(p)
}

/// Where a workload kind keeps its pod template.
fn template_path(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "Deployment"
        | "ReplicaSet"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicationController"
        | "Job" => Some(&["spec", "template"]),
        "CronJob" => Some(&["spec", "jobTemplate", "spec", "template"]),
        _ => None,
    }
}

fn workload(kind: &str, v: &Value) -> Result<Workload, serde_json::Error> {
    let path = template_path(kind).unwrap_or_default();
    let template = path.iter().fold(v, |v, key| &v[*key]).clone();
    let mut template = pod(template)?;
    let meta: Value = v["metadata"].clone();
    template.name = meta["name"].as_str().unwrap_or_default().to_string();
    template.namespace = meta["namespace"].as_str().unwrap_or("default").to_string();
    let replicas = match kind {
        "DaemonSet" | "Job" | "CronJob" => 1,
        _ => v["spec"]["replicas"].as_u64().unwrap_or(1),
    };
    Ok(Workload {
        kind: kind.to_string(),
        replicas,
        owner: owner(&meta),
        template,
    })
}

fn owner(meta: &Value) -> Option<OwnerRef> {
    let refs = meta["ownerReferences"].as_array()?;
    let o = refs
        .iter()
        .find(|o| o["controller"].as_bool() == Some(true))?;
    Some(OwnerRef {
        kind: o["kind"].as_str()?.to_string(),
        name: o["name"].as_str()?.to_string(),
    })
}

/// Whether the manifests give this workload's pods: a Pod it controls, or
/// (for a Deployment) a Pod of one of its ReplicaSets (`<name>-<hash>`).
fn has_pods(w: &Workload, pods: &[Pod]) -> bool {
    let t = &w.template;
    pods.iter()
        .filter(|p| p.namespace == t.namespace)
        .filter_map(|p| p.owner.as_ref())
        .any(|o| {
            (o.kind == w.kind && o.name == t.name)
                || (w.kind == "Deployment" && o.kind == "ReplicaSet" && rs_of(&o.name, &t.name))
        })
}

fn rs_of(replica_set: &str, deployment: &str) -> bool {
    replica_set
        .strip_prefix(deployment)
        .is_some_and(|rest| rest.starts_with('-'))
}

/// A ReplicaSet (or Job) whose controlling Deployment (CronJob) is in the
/// manifests: the owner's pods stand for it.
fn owner_given(w: &Workload, all: &[Workload]) -> bool {
    let Some(o) = &w.owner else { return false };
    let ns = &w.template.namespace;
    all.iter()
        .any(|x| x.kind == o.kind && x.template.name == o.name && &x.template.namespace == ns)
}

/// The pods a workload stands for: `<name>-0` … (StatefulSet names, for
/// every kind: the names are cnictl's, the labels and ports the template's).
fn replicas(w: &Workload) -> Vec<Pod> {
    let n = w.replicas.clamp(1, MAX_REPLICAS);
    (0..n)
        .map(|i| Pod {
            name: format!("{}-{i}", w.template.name),
            owner: Some(OwnerRef {
                kind: w.kind.clone(),
                name: w.template.name.clone(),
            }),
            ..w.template.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
---
kind: List
items:
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: deny}
  spec: {podSelector: {}}
- {apiVersion: v1, kind: Namespace, metadata: {name: shop, labels: {team: a}}}
"#;

    #[test]
    fn workloads_stand_for_their_pods_and_other_kinds_are_skipped() {
        let mut m = Manifests::default();
        m.add_text(APP).unwrap();
        let k = m.into_k8s();
        let names: Vec<String> = k.pods.iter().map(Pod::key).collect();
        assert_eq!(names, ["shop/web-0", "shop/web-1"]);
        assert_eq!(k.pods[0].container_ports[0].port, 8080);
        assert_eq!(k.pods[0].labels["app"], "web");
        assert_eq!(k.network_policies.unwrap()[0].key(), "default/deny");
        assert_eq!(k.namespaces.unwrap()[0].labels["team"], "a");
    }

    #[test]
    fn given_pods_are_not_expanded_again() {
        let pod = r#"{"kind":"Pod","metadata":{"name":"web-5d4-abcde","namespace":"shop",
          "ownerReferences":[{"kind":"ReplicaSet","name":"web-5d4","controller":true}]}}"#;
        let mut m = Manifests::default();
        m.add_text(APP).unwrap();
        m.add_text(pod).unwrap();
        let k = m.into_k8s();
        assert_eq!(k.pods.len(), 1);
    }

    #[test]
    fn bad_yaml_and_bad_objects_name_their_position() {
        let e = Manifests::default().add_text("a: [1,\n").unwrap_err();
        assert!(e.line.is_some() && e.document == 0, "{e}");
        let bad = "kind: NetworkPolicy\nmetadata: {name: x}\nspec: {podSelector: {matchExpressions: [{key: a, operator: Maybe}]}}\n";
        let e = Manifests::default().add_text(bad).unwrap_err();
        assert!(
            e.to_string().contains("NetworkPolicy x") && e.message.contains("Maybe"),
            "{e}"
        );
    }
}
