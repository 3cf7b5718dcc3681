//! `read_bird` against a real BIRD 2: two node namespaces (prefix
//! `cnlh5-`) peering iBGP as Calico's node-to-node mesh does, with node A
//! also configured for a third peer that does not exist (its session must
//! read as not Established). Runs as root with `bird` installed; skips with
//! a printed reason otherwise.

mod live_common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use cnictl_collect::live::{
    collect, read_bird, read_bird_raw, BirdError, LiveOptions, NetnsTarget,
};
use cnictl_model::Bgp;
use live_common::{skip_reason, unique_prefix, Lab};

fn config(me: &str, peers: &[&str], block: &str) -> String {
    let mut c = format!(
        r#"router id {me};
filter calico_export_to_bgp_peers {{ if ( net ~ 10.244.0.0/16 && source = RTS_STATIC ) then accept; reject; }}
filter calico_kernel_programming {{ if ( net ~ 10.244.0.0/16 && (source = RTS_BGP || source = RTS_STATIC) ) then accept; reject; }}
protocol kernel {{ learn; scan time 2; graceful restart; merge paths on;
  ipv4 {{ import all; export filter calico_kernel_programming; }}; }}
protocol device {{ scan time 2; }}
protocol direct {{ ipv4; interface -"cali*", -"tunl0", -"kube-ipvs*", "*"; }}
protocol static {{ ipv4; route {block} blackhole; }}
template bgp bgp_template {{ local as 64512;
  ipv4 {{ gateway recursive; import all; export filter calico_export_to_bgp_peers; }};
  graceful restart; connect delay time 1; connect retry time 2; error wait time 2,10; }}
"#
    );
    for p in peers {
        let name = format!("Mesh_{}", p.replace('.', "_"));
        c.push_str(&format!(
            "protocol bgp {name} from bgp_template {{ neighbor {p} as 64512; source address {me}; }}\n"
        ));
    }
    c
}

fn start_bird(lab: &mut Lab, ns: &str, dir: &Path, conf: &str) -> std::path::PathBuf {
    let (cfg, ctl, pid) = (
        dir.join(format!("{ns}.conf")),
        dir.join(format!("{ns}.ctl")),
        dir.join(format!("{ns}.pid")),
    );
    std::fs::write(&cfg, conf).unwrap();
    let status = Command::new("ip")
        .args(["netns", "exec", ns, "bird", "-c"])
        .arg(&cfg)
        .arg("-s")
        .arg(&ctl)
        .arg("-P")
        .arg(&pid)
        .status()
        .expect("run bird");
    assert!(status.success(), "bird failed to start in {ns}");
    lab.adopt_pidfile(&pid);
    ctl
}

/// Polls until the peer is Established and its block is learned (BIRD
/// converges in ~1 s; 20 s is the give-up bound).
fn wait_converged(ctl: &Path) -> Bgp {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let bgp = read_bird(ctl, Duration::from_secs(2));
        if let Ok(b) = &bgp {
            let up = b
                .protocols
                .iter()
                .any(|p| p.name == "Mesh_192_0_2_12" && p.is_established());
            let learned = b
                .routes
                .iter()
                .flatten()
                .any(|r| r.prefix.to_string() == "10.244.2.0/26");
            if up && learned {
                return bgp.unwrap();
            }
        }
        assert!(Instant::now() < deadline, "BIRD did not converge: {bgp:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn bird_sessions_and_routes_are_read_from_the_control_socket() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    if Command::new("bird").arg("--version").output().is_err() {
        eprintln!("skipped: bird (Debian bird2) not installed");
        return;
    }
    let prefix = unique_prefix("b");
    let (a, b) = (format!("{prefix}-a"), format!("{prefix}-b"));
    let mut lab = Lab::new(&[a.clone(), b.clone()]);
    lab.ip(
        &a,
        &format!("link add eth0 type veth peer name eth0 netns {b}"),
    );
    for (ns, addr) in [(&a, "192.0.2.11/24"), (&b, "192.0.2.12/24")] {
        lab.ip(ns, "link set lo up");
        lab.ip(ns, "link set eth0 up");
        lab.ip(ns, &format!("addr add {addr} dev eth0"));
    }
    let dir = tempfile::tempdir().unwrap();
    let ctl_a = start_bird(
        &mut lab,
        &a,
        dir.path(),
        &config("192.0.2.11", &["192.0.2.12", "192.0.2.13"], "10.244.1.0/26"),
    );
    start_bird(
        &mut lab,
        &b,
        dir.path(),
        &config("192.0.2.12", &["192.0.2.11"], "10.244.2.0/26"),
    );

    let bgp = wait_converged(&ctl_a);
    assert!(
        bgp.daemon
            .as_deref()
            .is_some_and(|d| d.starts_with("BIRD 2")),
        "{:?}",
        bgp.daemon
    );
    let down = bgp
        .protocols
        .iter()
        .find(|p| p.name == "Mesh_192_0_2_13")
        .expect("second peer listed");
    assert!(down.is_bgp() && !down.is_established(), "{down:?}");
    let up = bgp
        .protocols
        .iter()
        .find(|p| p.name == "Mesh_192_0_2_12")
        .unwrap();
    assert_eq!(up.neighbor_address, Some("192.0.2.12".parse().unwrap()));
    let learned = bgp
        .routes
        .iter()
        .flatten()
        .find(|r| r.prefix.to_string() == "10.244.2.0/26")
        .unwrap();
    assert_eq!(learned.protocol, "Mesh_192_0_2_12");
    assert_eq!(learned.bgp_next_hop, Some("192.0.2.12".parse().unwrap()));

    // The raw form is what birdc prints: greeting, then the reply text.
    let raw = read_bird_raw(&ctl_a, Duration::from_secs(2)).unwrap();
    assert!(raw.protocols.starts_with("BIRD 2") && raw.protocols.contains("Mesh_192_0_2_13"));

    // BIRD programmed the learned block into A's kernel; the node
    // collector sees it as `proto bird`, and carries the BGP section.
    let node = collect(&LiveOptions {
        netns: Some(NetnsTarget::Name(a.clone())),
        bird_socket: Some(ctl_a.clone()),
        ipvs: false,
        ..LiveOptions::default()
    })
    .unwrap()
    .node;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut node = node;
    while !node
        .routes
        .iter()
        .any(|r| r.dst.to_string() == "10.244.2.0/26")
    {
        assert!(
            Instant::now() < deadline,
            "BIRD did not program 10.244.2.0/26"
        );
        std::thread::sleep(Duration::from_millis(250));
        node = cnictl_collect::live::collect_node(&LiveOptions {
            netns: Some(NetnsTarget::Name(a.clone())),
            bird_socket: Some(ctl_a.clone()),
            ipvs: false,
            ..LiveOptions::default()
        })
        .unwrap();
    }
    let r = node
        .routes
        .iter()
        .find(|r| r.dst.to_string() == "10.244.2.0/26")
        .unwrap();
    assert_eq!(r.protocol, cnictl_model::Protocol::BIRD);
    assert!(node.bgp.is_some_and(|b| b.protocols.len() >= 2));

    // A socket nobody listens on is a connect error, not a hang.
    let err = read_bird(&dir.path().join("nobody.ctl"), Duration::from_millis(200)).unwrap_err();
    assert!(matches!(err, BirdError::Connect { .. }), "{err}");
}
