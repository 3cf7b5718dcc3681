//! The web UI in a real headless Chromium (Debian `chromium`), driven by
//! playwright-core (web/tests/ui.test.mjs) against live servers on free
//! loopback ports: one on the recorded Flannel VXLAN bundle whose node-1
//! maps node-2's VTEP MAC to node-3's IP (a delivered tunnel path and a dropped
//! one), one on a generated 300-node cluster (paging stays quick), one on
//! the calico-bgp bundle with NetworkPolicies (the Policy view), one on the
//! calico-bgp bundle with a BGP session down (findings by root cause). Skips,
//! saying why, when chromium, node or the npm dependencies are missing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cnictl_exporter::{Loader, ServeConfig, Source};

const CHROMIUM: &str = "/usr/bin/chromium";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Why the browser test cannot run here, if it cannot.
fn missing_prerequisite(tests_dir: &Path) -> Option<String> {
    if !Path::new(CHROMIUM).exists() {
        return Some(format!(
            "{CHROMIUM} not installed (apt-get install chromium)"
        ));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("node not installed (apt-get install nodejs)".into());
    }
    if tests_dir.join("node_modules/playwright-core").exists() {
        return None;
    }
    let ci = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(tests_dir)
        .output();
    match ci {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "npm ci in web/tests failed: {}",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )),
        Err(e) => Some(format!("npm not runnable: {e}")),
    }
}

/// A generated Calico BGP cluster at the default 110 pods per node.
fn healthy_sized(nodes: usize) -> cnictl_model::ClusterSnapshot {
    let spec = cnictl_gen::GenSpec::new(cnictl_gen::GenModel::CalicoBgp, nodes);
    cnictl_gen::generate(&spec).expect("generate")
}

/// The healthy flannel-vxlan fixture with node-2's FORWARD policy DROP, as
/// `iptables-save -c` prints it: a netfilter drop for the path diagram.
fn forward_drop_cluster() -> cnictl_model::ClusterSnapshot {
    use cnictl_model::netfilter::{Netfilter, Source};
    let bundle = repo_root().join("fixtures/flannel-vxlan");
    let mut snap = cnictl_collect::bundle::load_dir(&bundle).expect("fixture bundle loads");
    let text =
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [7:588]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n";
    let tables = cnictl_formats::parse_iptables_save(text, Source::IptablesSave).expect("rules");
    let node = snap.nodes.get_mut("node-2").expect("node-2");
    node.netfilter = Some(Netfilter {
        tables,
        sources: vec![Source::IptablesSave],
        ..Netfilter::default()
    });
    snap
}

/// Starts the real server (serve_on) on 127.0.0.1:0; returns its URL.
async fn start_server(
    snap: cnictl_model::ClusterSnapshot,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    start_server_on(Arc::new(move || Ok(snap.clone())), None, true).await
}

/// [`start_server`] with any loader, watching `watch` (its files date the
/// data), waiting for the first analysis when `ready`.
async fn start_server_on(
    loader: Loader,
    watch: Option<PathBuf>,
    ready: bool,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let dir = tempfile::tempdir().expect("tempdir");
    let source = watch.unwrap_or_else(|| dir.path().join("none.json"));
    let mut cfg = ServeConfig::new(Source::Bundle(source), loader);
    cfg.refresh = Duration::from_secs(3600);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _keep = dir;
        let stop = async {
            let _ = rx.await;
        };
        if let Err(e) = cnictl_exporter::serve_on(listener, cfg, stop).await {
            eprintln!("server: {e}");
        }
    });
    let url = format!("http://{addr}");
    if ready {
        wait_ready(&url).await;
    }
    (url, tx)
}

/// Polls /readyz until the first analysis is in.
async fn wait_ready(url: &str) {
    let addr: std::net::SocketAddr = url
        .trim_start_matches("http://")
        .parse()
        .expect("server address");
    let deadline = Instant::now() + Duration::from_secs(180);
    while Instant::now() < deadline {
        if matches!(common::http_get(addr, "/readyz").await, Ok((200, _))) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server at {url} not ready within 180 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_in_headless_chromium() {
    let tests_dir = repo_root().join("web/tests");
    if let Some(why) = missing_prerequisite(&tests_dir) {
        eprintln!("skipping browser test: {why}");
        return;
    }
    let bundle = repo_root().join("fixtures/flannel-vxlan-broken-vxlan-fdb-mismatch");
    let snap = cnictl_collect::bundle::load_dir(&bundle).expect("fixture bundle loads");
    let (url, stop) = start_server_on(
        Arc::new(move || Ok(snap.clone())),
        Some(bundle.clone()),
        true,
    )
    .await;
    let bad_message =
        "reading bundle /srv/bundles/today: k8s/nodes.json: No such file or directory";
    let (bad_url, stop_bad) =
        start_server_on(Arc::new(move || Err(bad_message.to_string())), None, false).await;
    let (scale_url, stop_scale) = start_server(healthy_sized(300)).await;
    let (nf_url, stop_nf) = start_server(forward_drop_cluster()).await;
    let (policy_url, stop_policy) = start_server(common::policy_snapshot()).await;
    let bgp_down = repo_root().join("fixtures/calico-bgp-broken-bgp-session-down");
    let bgp_down = cnictl_collect::bundle::load_dir(&bgp_down).expect("fixture bundle loads");
    let (root_url, stop_root) = start_server(bgp_down).await;
    let profile = tempfile::tempdir().expect("profile dir");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let shot = target.join("ui-screenshot.png");
    let shots = target.join("ui-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let out = tokio::process::Command::new("node")
        .arg("ui.test.mjs")
        .current_dir(&tests_dir)
        .env("CNICTL_URL", &url)
        // fixtures/README.md: the fault is on node-1, toward node-2.
        .env("CNICTL_SRC", "default/web-1")
        .env("CNICTL_DST", "default/api-2")
        .env("CNICTL_OK_SRC", "default/web-3")
        .env("CNICTL_OK_DST", "default/api-2")
        .env("CNICTL_BROKEN_NODE", "node-1")
        .env("CNICTL_MODEL", "flannel-vxlan")
        .env("CNICTL_SCALE_URL", &scale_url)
        .env("CNICTL_NF_URL", &nf_url)
        .env("CNICTL_POLICY_URL", &policy_url)
        .env("CNICTL_ROOT_URL", &root_url)
        .env("CNICTL_SCREENSHOT", &shot)
        .env("CNICTL_SHOTS", &shots)
        .env("CNICTL_SOURCE", "flannel-vxlan-broken-vxlan-fdb-mismatch")
        .env("CNICTL_BAD_URL", &bad_url)
        .env("CNICTL_BAD_MESSAGE", bad_message)
        .env("CNICTL_PROFILE", profile.path())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), out)
        .await
        .expect("browser test finishes within 180 s")
        .expect("node runs");
    let _ = stop.send(());
    let _ = stop_scale.send(());
    let _ = stop_nf.send(());
    let _ = stop_policy.send(());
    let _ = stop_root.send(());
    let _ = stop_bad.send(());
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{log}");
    assert!(out.status.success(), "browser test failed:\n{log}");
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "screenshot {} written ({size} bytes)",
        shot.display()
    );
    for view in [
        "overview",
        "findings",
        "findings-root-causes",
        "node",
        "explain",
        "explain-reverse",
        "load-error",
        "policy",
        "policy-namespace",
        "policy-missing",
    ] {
        let p = shots.join(format!("{view}.png"));
        let size = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        assert!(
            size > 5_000,
            "screenshot {} written ({size} bytes)",
            p.display()
        );
    }
}
