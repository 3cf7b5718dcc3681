//! Simulated agents for bench/aggregator.sh: generates a cluster with
//! `cnictl_gen` and serves node i's snapshot on 127.0.0.1:(BASE + i) at
//! /api/v1/node with an ETag (304 on If-None-Match), as `cnictl agent`
//! does. Writes the cluster's API objects to K8S_OUT (JSON) and prints
//! `ready` when every port listens.
//!
//! ```text
//! fake_agents --model calico-bgp --nodes 1000 --pods-per-node 110 --base-port 20000 --k8s-out FILE
//! ```
//!
//! Pods per node default to 110, Kubernetes' default kubelet limit; Calico
//! clusters past 100 nodes run three route reflectors (`cnictl_gen`).

use std::sync::Arc;

use anyhow::{bail, Context};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use cnictl_gen::{GenModel, GenSpec};

struct Args {
    model: GenModel,
    nodes: usize,
    pods_per_node: usize,
    base_port: u16,
    k8s_out: String,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        model: GenModel::CalicoBgp,
        nodes: 1000,
        pods_per_node: 110,
        base_port: 20000,
        k8s_out: "k8s.json".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--model" => a.model = v.parse()?,
            "--nodes" => a.nodes = v.parse()?,
            "--pods-per-node" => a.pods_per_node = v.parse()?,
            "--base-port" => a.base_port = v.parse()?,
            "--k8s-out" => a.k8s_out = v,
            _ => bail!("unknown flag {flag}"),
        }
    }
    Ok(a)
}

/// Node name, gzip-compressed JSON, ETag: what `cnictl agent` serves to a
/// client that accepts gzip (the aggregator always does).
type Doc = Arc<(String, Bytes, String)>;

async fn node(State(doc): State<Doc>, headers: HeaderMap) -> Response {
    let (name, body, tag) = &*doc;
    let common = [
        (header::ETAG, tag.clone()),
        (
            header::HeaderName::from_static("x-cnictl-node"),
            name.clone(),
        ),
    ];
    let inm = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    if inm == Some(tag.as_str()) {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CONTENT_ENCODING, "gzip"),
        ],
        body.clone(),
    )
        .into_response()
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes)?;
    enc.finish()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let mut spec = GenSpec::new(a.model, a.nodes);
    spec.pods_per_node = a.pods_per_node;
    let snap = cnictl_gen::generate(&spec)?;
    std::fs::write(&a.k8s_out, serde_json::to_vec(&snap.k8s)?)?;
    for (i, n) in snap.nodes.values().enumerate() {
        let body = serde_json::to_vec(n)?;
        let tag = format!("\"gen-{i}-{}-gzip\"", body.len());
        let doc: Doc = Arc::new((n.name.clone(), Bytes::from(gzip(&body)?), tag));
        let port = a.base_port + u16::try_from(i)?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("binding 127.0.0.1:{port}"))?;
        let app = Router::new()
            .route("/api/v1/node", get(node))
            .with_state(doc);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
    }
    drop(snap);
    println!("ready");
    std::future::pending::<()>().await;
    Ok(())
}
