//! A real Kubernetes API server for the live tests: etcd + kube-apiserver
//! 1.20.2 (built from Debian 12's `kubernetes` source package by
//! scripts/build-kube-apiserver.sh) on loopback, on free ports, in a temp
//! dir, with a self-signed CA (openssl), a static token file and RBAC
//! authorization — the checks a cluster's API server makes on cnictl's
//! service accounts, not recorded answers.
//!
//! Tests reach it as a deployment does: through a kubeconfig naming the
//! server, its CA and a bearer token ([`ApiServer::opts`]).
//!
//! Run or skip: the binaries (kube-apiserver in the build cache, `etcd`,
//! `openssl`) must exist; otherwise the tests print `skipped: …` — unless
//! `CNICTL_REQUIRE_APISERVER=1` (set by CI) says they must run, and then
//! they fail. No root needed: everything listens on 127.0.0.1.
//!
//! One server per test binary, shared by the tests running at once
//! ([`shared`]); it is killed (only the two processes it started, by
//! their handles) when the last test holding it ends.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use cnictl_agent::KubeOptions;

/// The version scripts/build-kube-apiserver.sh builds.
pub const VERSION: &str = "1.20.2";

/// Who a test acts as. The service accounts' users are the names the API
/// server gives a service account (`system:serviceaccount:NS:NAME`), which
/// is what deploy/'s ClusterRoleBindings name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// `system:masters`: creates every object the tests need.
    Admin,
    /// The agent DaemonSet's service account `cnictl/cnictl-agent`.
    Agent,
    /// The aggregator's service account `cnictl/cnictl-aggregator`.
    Aggregator,
    /// A service account in the same namespace that no binding names.
    Stranger,
}

impl Who {
    /// The static token of this identity (tokens.csv).
    pub fn token(self) -> &'static str {
        match self {
            Who::Admin => "admin-token-c0ffee",
            Who::Agent => "agent-token-5ca1ab1e",
            Who::Aggregator => "aggregator-token-feed",
            Who::Stranger => "stranger-token-bad",
        }
    }

    /// The user name the API server authenticates the token as.
    pub fn user(self) -> &'static str {
        match self {
            Who::Admin => "cnictl-test-admin",
            Who::Agent => "system:serviceaccount:cnictl:cnictl-agent",
            Who::Aggregator => "system:serviceaccount:cnictl:cnictl-aggregator",
            Who::Stranger => "system:serviceaccount:cnictl:cnictl-stranger",
        }
    }

    fn groups(self) -> &'static str {
        match self {
            Who::Admin => "system:masters",
            _ => "system:serviceaccounts,system:serviceaccounts:cnictl",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Who::Admin => "admin",
            Who::Agent => "agent",
            Who::Aggregator => "aggregator",
            Who::Stranger => "stranger",
        }
    }
}

const EVERYONE: [Who; 4] = [Who::Admin, Who::Agent, Who::Aggregator, Who::Stranger];

/// The kube-apiserver binary: `$CNICTL_KUBE_APISERVER`, else where
/// scripts/build-kube-apiserver.sh puts it.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("CNICTL_KUBE_APISERVER") {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("CNICTL_CACHE").unwrap_or_else(|| "/var/cache/cnictl".into());
    Path::new(&cache)
        .join(format!("kube-apiserver-{VERSION}"))
        .join("kube-apiserver")
}

/// Why the server cannot run here, if it can't.
pub fn unavailable() -> Option<String> {
    let bin = binary();
    if !runs(&bin, "--version") {
        return Some(format!(
            "no kube-apiserver at {} (scripts/build-kube-apiserver.sh builds it)",
            bin.display()
        ));
    }
    if !runs(Path::new("etcd"), "--version") {
        return Some("etcd is not installed (Debian etcd-server)".into());
    }
    (!runs(Path::new("openssl"), "version")).then(|| "openssl is not installed".into())
}

fn runs(bin: &Path, arg: &str) -> bool {
    Command::new(bin)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Must the live API-server tests run (CI), rather than skip?
pub fn required() -> bool {
    std::env::var("CNICTL_REQUIRE_APISERVER").is_ok_and(|v| v == "1")
}

static SHARED: Mutex<Weak<ApiServer>> = Mutex::new(Weak::new());

/// The running server, started if no test holds one; `None` (after
/// printing why) when it cannot run here and CI does not require it.
pub fn shared() -> Option<Arc<ApiServer>> {
    if let Some(why) = unavailable() {
        assert!(
            !required(),
            "CNICTL_REQUIRE_APISERVER=1 but the API-server tests cannot run: {why}"
        );
        eprintln!("skipped: {why}");
        return None;
    }
    let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(server) = slot.upgrade() {
        return Some(server);
    }
    let server = Arc::new(ApiServer::start());
    *slot = Arc::downgrade(&server);
    Some(server)
}

/// etcd and kube-apiserver, killed on drop (the server first, then its
/// store, then the temp dir goes: fields drop in this order).
pub struct ApiServer {
    apiserver: Process,
    etcd: Process,
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    dir: tempfile::TempDir,
}

/// A child this harness started, killed (by its handle, nothing else) and
/// reaped when dropped — also when a later start-up step panics.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port nobody listens on now (the kernel's choice for port 0).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 signed by it (rustls refuses a
/// self-signed leaf) and the service-account signing key.
fn certificates(dir: &Path) {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write server.ext");
    for args in [
        &["genrsa", "-out", "ca.key", "2048"][..],
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            "/CN=cnictl-test-ca",
            "-days",
            "2",
            "-out",
            "ca.crt",
        ],
        &["genrsa", "-out", "server.key", "2048"],
        &[
            "req",
            "-new",
            "-key",
            "server.key",
            "-subj",
            "/CN=kube-apiserver",
            "-out",
            "server.csr",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
        &["genrsa", "-out", "sa.key", "2048"],
    ] {
        openssl(dir, args);
    }
}

/// tokens.csv: `token,user,uid,"groups"` per identity.
fn token_file(dir: &Path) {
    let text: String = EVERYONE
        .iter()
        .map(|w| {
            format!(
                "{},{},uid-{},\"{}\"\n",
                w.token(),
                w.user(),
                w.name(),
                w.groups()
            )
        })
        .collect();
    std::fs::write(dir.join("tokens.csv"), text).expect("write tokens.csv");
}

fn spawn(dir: &Path, name: &str, mut cmd: Command) -> Process {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("log file");
    let err = log.try_clone().expect("log file");
    let child = cmd.stdin(Stdio::null()).stdout(log).stderr(err).spawn();
    Process(child.unwrap_or_else(|e| panic!("cannot start {name}: {e}")))
}

fn start_etcd(dir: &Path) -> (Process, u16) {
    let (client, peer) = (free_port(), free_port());
    let client_url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let mut cmd = Command::new("etcd");
    cmd.arg("--name=cnictl-test")
        .arg(format!("--data-dir={}", dir.join("etcd").display()))
        .arg(format!("--listen-client-urls={client_url}"))
        .arg(format!("--advertise-client-urls={client_url}"))
        .arg(format!("--listen-peer-urls={peer_url}"))
        .arg(format!("--initial-advertise-peer-urls={peer_url}"))
        .arg(format!("--initial-cluster=cnictl-test={peer_url}"));
    (spawn(dir, "etcd", cmd), client)
}

/// The flags LAB-NOTES found to work on loopback. EndpointSlices: 1.20
/// serves only v1beta1; it is turned off so a CRD can serve the
/// `discovery.k8s.io/v1` path the client reads (see the tests).
fn apiserver_command(dir: &Path, etcd_port: u16, port: u16) -> Command {
    let f = |name: &str| dir.join(name).display().to_string();
    let mut cmd = Command::new(binary());
    cmd.arg(format!("--etcd-servers=http://127.0.0.1:{etcd_port}"))
        .args(["--bind-address=127.0.0.1", "--advertise-address=127.0.0.1"])
        .arg(format!("--secure-port={port}"))
        .arg("--insecure-port=0")
        .arg(format!("--cert-dir={}", f("certs")))
        .arg(format!("--tls-cert-file={}", f("server.crt")))
        .arg(format!("--tls-private-key-file={}", f("server.key")))
        .arg(format!("--client-ca-file={}", f("ca.crt")))
        .arg(format!("--token-auth-file={}", f("tokens.csv")))
        .args(["--anonymous-auth=false", "--authorization-mode=RBAC"])
        .arg("--service-account-issuer=https://kubernetes.default.svc.cluster.local")
        .arg(format!("--service-account-key-file={}", f("sa.key")))
        .arg(format!(
            "--service-account-signing-key-file={}",
            f("sa.key")
        ))
        .args([
            "--service-cluster-ip-range=10.96.0.0/16",
            "--endpoint-reconciler-type=none",
            "--disable-admission-plugins=ServiceAccount",
            "--runtime-config=discovery.k8s.io/v1beta1=false",
        ]);
    cmd
}

impl ApiServer {
    /// Starts etcd and kube-apiserver and waits until `/readyz` answers.
    pub fn start() -> ApiServer {
        let began = Instant::now();
        let dir = tempfile::tempdir().expect("temp dir");
        certificates(dir.path());
        token_file(dir.path());
        let (etcd, etcd_port) = start_etcd(dir.path());
        let port = free_port();
        let cmd = apiserver_command(dir.path(), etcd_port, port);
        let apiserver = spawn(dir.path(), "kube-apiserver", cmd);
        let server = ApiServer {
            apiserver,
            etcd,
            url: format!("https://127.0.0.1:{port}"),
            dir,
        };
        for who in EVERYONE {
            server.write_kubeconfig(who);
        }
        server.wait_ready(Duration::from_secs(90));
        eprintln!(
            "kube-apiserver {VERSION} ready at {} in {:?}",
            server.url,
            began.elapsed()
        );
        server
    }

    /// The kubeconfig of `who`: server, CA, bearer token.
    pub fn kubeconfig(&self, who: Who) -> PathBuf {
        self.dir.path().join(format!("kubeconfig-{}", who.name()))
    }

    /// What a cnictl binary pointed at this server with `who`'s kubeconfig
    /// uses; small pages so paging is exercised.
    pub fn opts(&self, who: Who) -> KubeOptions {
        KubeOptions {
            kubeconfig: Some(self.kubeconfig(who)),
            context: None,
            page_size: 3,
            timeout: Duration::from_secs(20),
            pods_on_node: None,
        }
    }

    /// A client for `who`, built by the agent's own code.
    pub async fn client(&self, who: Who) -> kube::Client {
        cnictl_agent::kube::client(&self.opts(who))
            .await
            .expect("client from kubeconfig")
    }

    fn write_kubeconfig(&self, who: Who) {
        let ca = self.dir.path().join("ca.crt");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    \
             server: {}\n    certificate-authority: {}\nusers:\n- name: {n}\n  user:\n    \
             token: {}\ncontexts:\n- name: test\n  context: {{cluster: test, user: {n}}}\n\
             current-context: test\n",
            self.url,
            ca.display(),
            who.token(),
            n = who.name(),
        );
        std::fs::write(self.kubeconfig(who), text).expect("write kubeconfig");
    }

    /// Polls `/readyz` as the admin, on a thread of its own (callers may
    /// be inside a tokio runtime, which cannot block on another).
    fn wait_ready(&self, within: Duration) {
        std::thread::scope(|s| {
            s.spawn(|| self.poll_ready(within))
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e))
        });
    }

    fn poll_ready(&self, within: Duration) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let deadline = Instant::now() + within;
        rt.block_on(async {
            let client = self.client(Who::Admin).await;
            loop {
                let req = http::Request::get("/readyz")
                    .body(Vec::new())
                    .expect("request");
                if client
                    .request_text(req)
                    .await
                    .is_ok_and(|t| t.trim() == "ok")
                {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "kube-apiserver not ready within {within:?}; its log:\n{}",
                    self.log_tail()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
    }

    /// The end of both logs, for failure messages.
    pub fn log_tail(&self) -> String {
        ["etcd", "kube-apiserver"]
            .iter()
            .map(|n| {
                let text = std::fs::read_to_string(self.dir.path().join(format!("{n}.log")))
                    .unwrap_or_default();
                let start = text.len().saturating_sub(3000);
                format!("== {n}.log\n{}", text.get(start..).unwrap_or(&text))
            })
            .collect()
    }
}
