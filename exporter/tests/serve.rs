//! The real server loop: `serve_on` with a watched directory. The first
//! analysis waits for valid input, a change is picked up within `refresh`,
//! and a broken input keeps the last good analysis served while the
//! failure shows in /readyz and the metrics.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cnictl_exporter::{Loader, ServeConfig, Source};
use common::*;

/// Reads `snapshot.json` from the watched directory.
fn loader(dir: &Path) -> Loader {
    let file = dir.join("snapshot.json");
    Arc::new(move || {
        let text = std::fs::read(&file).map_err(|e| format!("reading {}: {e}", file.display()))?;
        serde_json::from_slice(&text).map_err(|e| format!("parsing {}: {e}", file.display()))
    })
}

/// Polls `path` until `pred(status, body)` holds (or 20 s pass).
async fn until(addr: std::net::SocketAddr, path: &str, pred: impl Fn(u16, &str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok((status, body)) = http_get(addr, path).await {
            if pred(status, &body) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "timed out on {path}: last {status} {body}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn write_atomic(dir: &Path, bytes: &[u8]) {
    let tmp: PathBuf = dir.join(".snapshot.tmp");
    std::fs::write(&tmp, bytes).expect("write");
    std::fs::rename(&tmp, dir.join("snapshot.json")).expect("rename");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_dir_refreshes_and_survives_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = ServeConfig::new(
        Source::WatchDir(dir.path().to_path_buf()),
        loader(dir.path()),
    );
    cfg.refresh = Duration::from_secs(1);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(cnictl_exporter::serve_on(listener, cfg, async {
        let _ = rx.await;
    }));

    // No input yet: up but not ready, and the reason is visible.
    until(addr, "/readyz", |s, b| s == 503 && b.contains("reading")).await;
    assert_eq!(http_get(addr, "/healthz").await.expect("healthz").0, 200);

    write_atomic(dir.path(), &serde_json::to_vec(&healthy(3)).expect("json"));
    until(addr, "/readyz", |s, _| s == 200).await;
    let model = until(addr, "/api/v1/model", |s, _| s == 200).await;
    assert!(model.contains("\"nodes\":3"), "{model}");

    write_atomic(dir.path(), &serde_json::to_vec(&broken(4)).expect("json"));
    until(addr, "/api/v1/model", |s, b| {
        s == 200 && b.contains("\"nodes\":4")
    })
    .await;

    write_atomic(dir.path(), b"{\"schema\": \"cnictl/v1\", truncated");
    let ready = until(addr, "/readyz", |s, b| {
        s == 200 && b.contains("\"stale\":true")
    })
    .await;
    assert!(ready.contains("parsing"), "{ready}");
    let model = http_get(addr, "/api/v1/model").await.expect("model").1;
    assert!(
        model.contains("\"nodes\":4"),
        "last good analysis still served: {model}"
    );
    let metrics = http_get(addr, "/metrics").await.expect("metrics").1;
    assert!(
        metrics.contains("cnictl_last_refresh_failed 1"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("cnictl_analysis_errors_total{error_code=\"load\"} 0"),
        "{metrics}"
    );

    let _ = tx.send(());
    let res = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("shuts down");
    assert!(matches!(res, Ok(Ok(()))), "{res:?}");
}

#[tokio::test]
async fn refresh_below_one_second_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = ServeConfig::new(Source::Bundle(dir.path().to_path_buf()), loader(dir.path()));
    cfg.refresh = Duration::from_millis(10);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let err = cnictl_exporter::serve_on(listener, cfg, async {})
        .await
        .expect_err("refused");
    assert_eq!(err.code(), "config");
    assert!(err.to_string().contains("refresh"), "{err}");
}

#[tokio::test]
async fn bind_failure_names_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = ServeConfig::new(Source::Bundle(dir.path().to_path_buf()), loader(dir.path()));
    cfg.listen = taken.local_addr().expect("addr");
    let err = cnictl_exporter::serve(cfg).await.expect_err("port in use");
    assert_eq!(err.code(), "bind");
    assert!(
        err.to_string()
            .contains(&taken.local_addr().expect("addr").to_string()),
        "{err}"
    );
}
