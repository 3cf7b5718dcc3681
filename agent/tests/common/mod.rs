//! Helpers shared by the agent and aggregator tests: a minimal HTTP/1.1
//! client, polling with a deadline, and a guard for namespaces the test
//! creates (prefix `cnlk…`, removed in `Drop`).

#![allow(dead_code)]

pub mod apiserver;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

/// `GET path` with extra headers, `Connection: close`.
pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    parse(&String::from_utf8_lossy(&raw))
}

fn parse(raw: &str) -> Reply {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = if headers.get("transfer-encoding").map(String::as_str) == Some("chunked") {
        dechunk(body)
    } else {
        body.to_string()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Polls `check` every 100 ms until it returns `Some` or `within` passes.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Why a test that needs root and iproute2 cannot run here, if it can't.
pub fn lab_unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root: network namespaces cannot be created".into());
    }
    let ok = Command::new("ip")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    (!ok).then(|| "iproute2 (`ip`) is not installed".to_string())
}

/// A short prefix unique to this process and `tag`, starting `cnlk`.
pub fn prefix(tag: &str) -> String {
    let mut n = std::process::id();
    let mut s = String::new();
    while n > 0 {
        let d = n % 36;
        s.insert(0, char::from_digit(d, 36).unwrap_or('0'));
        n /= 36;
    }
    format!("cnlk{s}{tag}")
}

/// A bare network namespace owned by the test.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(name: String) -> Netns {
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(std::process::Stdio::null())
            .status();
        run(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["ip", "-n", self.name.as_str()];
        all.extend_from_slice(args);
        run(&all);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

pub fn run(args: &[&str]) {
    let status = Command::new(args[0])
        .args(&args[1..])
        .status()
        .expect("spawn");
    assert!(status.success(), "{args:?} failed: {status}");
}

/// The exporter's HTTP surface over the aggregator's analysis, as
/// `cnictl serve --kube` wires it.
pub struct Exporter(pub cnictl_exporter::AppState);

impl cnictl_agent::Frontend for Exporter {
    fn router(&self) -> axum::Router {
        cnictl_exporter::router(self.0.clone())
    }

    fn refresh(&self, load: &cnictl_agent::SnapshotLoader, extra: Vec<cnictl_analyzers::Finding>) {
        let _ = self.0.refresh_blocking_with(load, extra);
    }

    fn publish_metrics(&self, openmetrics: String) {
        self.0.set_extra_metrics(openmetrics);
    }

    fn data_collected(&self, unix_secs: f64) {
        self.0.set_data_time(cnictl_exporter::DataTime {
            at: unix_secs,
            basis: cnictl_exporter::DataBasis::CollectedAt,
        });
    }
}

/// A frontend with default limits.
pub fn exporter() -> std::sync::Arc<dyn cnictl_agent::Frontend> {
    std::sync::Arc::new(Exporter(cnictl_exporter::AppState::new(
        cnictl_exporter::Limits::default(),
    )))
}
