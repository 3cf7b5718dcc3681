//! Agents + aggregator end to end on loopback: a real Flannel VXLAN
//! namespace lab (3 nodes × 2 pods, `lab/lab.sh`, prefix `cnlk…`, torn down
//! in `Drop`), three in-process agents reading the node namespaces with
//! `insecure_no_auth`, and an aggregator with a static agent list. One
//! agent is stopped mid-run and restarted on the same port: the aggregator
//! reports it (finding + metric), keeps serving every node, and recovers.
//! Then `bundle --kube`'s writer records the cluster with one dead agent.
//!
//! Needs root and iproute2 (skips with a reason otherwise). No Kubernetes
//! API runs here: the API objects come from the lab's `k8s/` directory.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cnictl_agent::{
    run_agent_on, run_aggregator_on, write_bundle, AgentConfig, AggregatorConfig, Discovery,
    ExpectedSource, KubeOptions,
};
use cnictl_collect::live::{LiveOptions, NetnsTarget};
use common::{eventually, get, lab_unavailable, prefix};
use serde_json::Value;
use tokio::sync::oneshot;

struct Lab {
    prefix: String,
    script: PathBuf,
}

impl Lab {
    fn up(prefix: String) -> Lab {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lab/lab.sh");
        let lab = Lab { prefix, script };
        lab.run(&["down"]);
        let out = Command::new("bash")
            .arg(&lab.script)
            .args(["up", "flannel-vxlan", "--prefix", &lab.prefix])
            .output()
            .expect("run lab.sh");
        assert!(
            out.status.success(),
            "lab up failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        lab
    }

    fn run(&self, args: &[&str]) {
        let _ = Command::new("bash")
            .arg(&self.script)
            .args(args)
            .args(["--prefix", &self.prefix])
            .output();
    }

    /// The lab's state dir: its `k8s/*.json` are the API objects.
    fn state_dir(&self) -> PathBuf {
        let base = std::env::var("CNICTL_LAB_RUN").unwrap_or_else(|_| "/run/cnictl-lab".into());
        PathBuf::from(base).join(&self.prefix)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.run(&["down"]);
    }
}

fn agent_config(lab: &Lab, n: usize) -> AgentConfig {
    let node_ns = format!("{}-node-{n}", lab.prefix);
    let live = LiveOptions {
        netns: Some(NetnsTarget::Name(node_ns.clone())),
        node_name: Some(format!("node-{n}")),
        pods: true,
        pod_prefix: Some(format!("{node_ns}-")),
        ipvs: false,
        ..LiveOptions::default()
    };
    let mut cfg = AgentConfig::new(live, KubeOptions::default());
    cfg.interval = Duration::from_secs(5);
    cfg.debounce = Duration::from_millis(200);
    cfg.expected = ExpectedSource::Bundle(lab.state_dir());
    cfg.insecure_no_auth = true;
    cfg
}

/// Runs an agent on `addr` (port 0: any) until the returned sender fires.
async fn spawn_agent(addr: SocketAddr, cfg: AgentConfig) -> (SocketAddr, oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("bind agent");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = run_agent_on(listener, cfg, async move {
            let _ = rx.await;
        })
        .await;
    });
    (addr, tx)
}

async fn json(addr: SocketAddr, path: &str) -> Option<Value> {
    let r = get(addr, path, &[]).await;
    if r.status != 200 {
        return None;
    }
    serde_json::from_str(&r.body).ok()
}

fn agent_states(doc: &Value) -> Vec<(String, String)> {
    doc["agents"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    (
                        x["node"].as_str().unwrap_or("").to_string(),
                        x["state"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aggregator_survives_an_agent_restart_and_writes_bundles() {
    if let Some(why) = lab_unavailable() {
        eprintln!("skipping aggregator_survives_an_agent_restart_and_writes_bundles: {why}");
        return;
    }
    let lab = Lab::up(prefix("a"));
    let mut agents = Vec::new();
    for n in 1..=3 {
        agents.push(spawn_agent("127.0.0.1:0".parse().expect("addr"), agent_config(&lab, n)).await);
    }
    let targets: Vec<String> = agents.iter().map(|(a, _)| a.to_string()).collect();

    let mut cfg = AggregatorConfig::new(Discovery::Static(targets.clone()), None);
    cfg.k8s_bundle = Some(lab.state_dir());
    cfg.refresh = Duration::from_millis(300);
    cfg.timeout = Duration::from_secs(2);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let agg = listener.local_addr().expect("addr");
    let (stop_agg, agg_rx) = oneshot::channel::<()>();
    tokio::spawn(run_aggregator_on(
        listener,
        cfg.clone(),
        common::exporter(),
        async move {
            let _ = agg_rx.await;
        },
    ));

    // All three up, the cluster analysed as one Flannel VXLAN cluster.
    eventually(
        Duration::from_secs(30),
        "three agents up and analysed",
        || async move {
            let doc = json(agg, "/api/v1/agents").await?;
            let up = agent_states(&doc).iter().filter(|(_, s)| s == "up").count();
            let nodes = json(agg, "/api/v1/nodes").await?;
            let with_dump = nodes["nodes"]
                .as_array()?
                .iter()
                .filter(|n| n["has_dump"] == true)
                .count();
            (up == 3 && with_dump == 3 && nodes["model"] == "flannel-vxlan").then_some(())
        },
    )
    .await;
    // The agents keep collecting (every 5 s): the data's time follows
    // them, whether or not anything changed and was re-analysed.
    let dated = |agg| async move { json(agg, "/api/v1/model").await?["data_time"]["at"].as_f64() };
    let t0 = dated(agg).await.expect("the data are dated");
    eventually(
        Duration::from_secs(20),
        "the data time follows the agents' collections",
        || async move { (dated(agg).await? > t0).then_some(()) },
    )
    .await;
    let healthy = json(agg, "/api/v1/findings").await.expect("findings");
    let errors: Vec<&Value> = healthy["findings"]
        .as_array()
        .map(|f| f.iter().filter(|x| x["severity"] == "error").collect())
        .unwrap_or_default();
    assert!(
        errors.is_empty(),
        "a healthy lab has no error findings: {errors:?}"
    );

    // Stop node-2's agent: reported, everything else still served.
    let (addr2, stop2) = agents.remove(1);
    let _ = stop2.send(());
    let down = eventually(
        Duration::from_secs(20),
        "node-2 reported unreachable",
        || async move {
            let doc = json(agg, "/api/v1/agents").await?;
            agent_states(&doc)
                .contains(&("node-2".to_string(), "unreachable".to_string()))
                .then_some(doc)
        },
    )
    .await;
    let finding = &down["findings"][0];
    assert_eq!(finding["code"], "agent-unreachable");
    assert_eq!(finding["node"], "node-2");
    // …and served with every other finding, after the next analysis.
    eventually(
        Duration::from_secs(20),
        "agent-unreachable in /api/v1/findings",
        || async move {
            let doc = json(agg, "/api/v1/findings?code=agent-unreachable").await?;
            doc.to_string()
                .contains("\"node\":\"node-2\"")
                .then_some(doc)
        },
    )
    .await;
    let metrics = get(agg, "/metrics", &[]).await;
    for want in [
        "cnictl_aggregator_agents{state=\"unreachable\"} 1",
        "cnictl_aggregator_agent_up{node=\"node-2\"} 0",
        "cnictl_aggregator_agent_up{node=\"node-1\"} 1",
        "cnictl_aggregator_agent_collected_timestamp_seconds{node=\"node-2\"}",
    ] {
        assert!(metrics.body.contains(want), "{want}:\n{}", metrics.body);
    }
    let om = get(
        agg,
        "/metrics",
        &[("accept", "application/openmetrics-text; version=1.0.0")],
    )
    .await;
    assert!(
        om.body.trim_end().ends_with("# EOF") && om.body.matches("# EOF").count() == 1,
        "one OpenMetrics document"
    );
    let nodes = json(agg, "/api/v1/nodes").await.expect("nodes");
    assert_eq!(
        nodes["nodes"]
            .as_array()
            .map(|n| n.iter().filter(|x| x["has_dump"] == true).count()),
        Some(3),
        "node-2's last snapshot is kept while its agent is down"
    );

    // Restart it on the same port: recovered, finding gone.
    let (again, stop2) = spawn_agent(addr2, agent_config(&lab, 2)).await;
    assert_eq!(again, addr2);
    eventually(Duration::from_secs(20), "node-2 back up", || async move {
        let doc = json(agg, "/api/v1/agents").await?;
        let states = agent_states(&doc);
        (states.iter().all(|(_, s)| s == "up") && doc["findings"].as_array()?.is_empty())
            .then_some(())
    })
    .await;
    let metrics = get(agg, "/metrics", &[]).await;
    assert!(metrics
        .body
        .contains("cnictl_aggregator_agents{state=\"unreachable\"} 0"));

    // bundle --kube's writer: three nodes written, one dead agent listed.
    let out = tempfile::tempdir().expect("tempdir");
    let dir = out.path().join("bundle");
    let mut with_dead = targets.clone();
    with_dead.push("127.0.0.1:1".to_string());
    let mut bcfg = AggregatorConfig::new(Discovery::Static(with_dead), None);
    bcfg.k8s_bundle = Some(lab.state_dir());
    bcfg.timeout = Duration::from_secs(2);
    let outcome = write_bundle(&bcfg, &dir, false)
        .await
        .expect("bundle written");
    let mut written = outcome.nodes_written.clone();
    written.sort();
    assert_eq!(written, vec!["node-1", "node-2", "node-3"]);
    assert_eq!(outcome.failed.len(), 1);
    assert_eq!(outcome.failed[0].0, "127.0.0.1:1");
    let snap = cnictl_collect::bundle::load_dir(&dir).expect("the bundle loads");
    assert_eq!(snap.nodes.len(), 3);
    assert_eq!(snap.k8s.nodes.len(), 3);
    let report = cnictl_analyzers::checks::run(&snap);
    assert!(!report.has_errors(), "{:?}", report.findings);

    let _ = stop2.send(());
    for (_, stop) in agents {
        let _ = stop.send(());
    }
    let _ = stop_agg.send(());
}
