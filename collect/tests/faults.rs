//! Faults while collecting: a BIRD socket that hangs, errs, closes or is
//! missing; a network namespace that is gone or is not a namespace; the
//! error codes the exporter's `error_code` label gets for permission
//! problems. Each fault must end in a clear error (or a note, where the
//! collector degrades) within its timeout — never a hang or a panic.
//! SECURITY.md's fault table points here.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cnictl_collect::live::{collect, LiveError, LiveOptions, NetnsTarget};
use cnictl_collect::live::{read_bird, BirdError};

const GREETING: &str = "0001 BIRD 2.0.12 ready.\n";

/// A fake BIRD control socket in a temp dir: accepts one connection and
/// runs `serve` on it (in a thread, joined by the caller).
fn fake_bird(
    serve: impl FnOnce(std::os::unix::net::UnixStream) + Send + 'static,
) -> (tempfile::TempDir, PathBuf, JoinHandle<()>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bird.ctl");
    let listener = UnixListener::bind(&path).unwrap();
    let handle = std::thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            serve(stream);
        }
    });
    (dir, path, handle)
}

/// Answers the greeting, then one command with `reply`, then waits for EOF.
fn answer_with(reply: &'static str) -> impl FnOnce(std::os::unix::net::UnixStream) + Send {
    move |mut s| {
        let _ = s.write_all(GREETING.as_bytes());
        let mut line = String::new();
        let mut r = BufReader::new(s.try_clone().unwrap());
        if r.read_line(&mut line).is_ok() {
            let _ = s.write_all(reply.as_bytes());
        }
        line.clear();
        let _ = r.read_line(&mut line);
    }
}

#[test]
fn bird_that_accepts_and_never_answers_times_out() {
    let (_d, path, handle) = fake_bird(|s| {
        // Holds the connection open, silent, past the client's timeout.
        std::thread::sleep(Duration::from_millis(1500));
        drop(s);
    });
    let timeout = Duration::from_millis(300);
    let start = Instant::now();
    let err = read_bird(&path, timeout).unwrap_err();
    let took = start.elapsed();
    assert!(
        matches!(&err, BirdError::Timeout { what, timeout: t, .. } if what == "greeting" && *t == timeout),
        "{err:?}"
    );
    assert_eq!(err.code(), "timeout");
    let msg = err.to_string();
    assert!(msg.contains("timed out after 300ms"), "{msg}");
    assert!(msg.contains(path.to_str().unwrap()), "{msg}");
    assert!(took < Duration::from_millis(1200), "took {took:?}");
    handle.join().unwrap();
}

#[test]
fn bird_error_reply_is_a_command_error_with_its_code() {
    for (reply, code) in [
        ("9001 Syntax error\n", 9001),
        ("8001 Access denied\n", 8001),
    ] {
        let (_d, path, handle) = fake_bird(answer_with(reply));
        let err = read_bird(&path, Duration::from_secs(2)).unwrap_err();
        match &err {
            BirdError::Command {
                command, code: c, ..
            } => {
                assert_eq!(command, "show protocols all");
                assert_eq!(*c, code);
            }
            other => panic!("expected a command error, got {other:?}"),
        }
        assert_eq!(err.code(), "bird_error");
        assert!(err.to_string().contains(&code.to_string()), "{err}");
        handle.join().unwrap();
    }
}

#[test]
fn bird_closing_mid_reply_is_a_clear_error() {
    let (_d, path, handle) = fake_bird(|mut s| {
        let _ = s.write_all(GREETING.as_bytes());
        let _ = s.write_all(b"1002-bgp1 BGP --- up\n");
    });
    let err = read_bird(&path, Duration::from_secs(2)).unwrap_err();
    assert!(
        matches!(err, BirdError::Closed { .. } | BirdError::Io { .. }),
        "{err:?}"
    );
    assert_eq!(err.code(), "io");
    handle.join().unwrap();
}

#[test]
fn bird_speaking_garbage_is_a_protocol_error() {
    let (_d, path, handle) = fake_bird(|mut s| {
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\n");
    });
    let err = read_bird(&path, Duration::from_secs(2)).unwrap_err();
    assert!(matches!(err, BirdError::Protocol { .. }), "{err:?}");
    assert_eq!(err.code(), "decode");
    handle.join().unwrap();
}

#[test]
fn missing_bird_socket_is_a_connect_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-bird.ctl");
    let start = Instant::now();
    let err = read_bird(&path, Duration::from_secs(2)).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(1));
    assert!(matches!(err, BirdError::Connect { .. }), "{err:?}");
    assert_eq!(err.code(), "connect");
    assert!(err.to_string().contains("no-such-bird.ctl"), "{err}");
}

/// The whole collector degrades: BIRD hanging costs a note, not the node.
#[test]
fn collect_with_a_hung_bird_keeps_the_node_and_notes_bgp() {
    let (_d, path, handle) = fake_bird(|s| {
        std::thread::sleep(Duration::from_millis(1500));
        drop(s);
    });
    let opts = LiveOptions {
        ipvs: false,
        sysctls: false,
        bird_socket: Some(path),
        bird_timeout: Duration::from_millis(300),
        ..LiveOptions::default()
    };
    let c = collect(&opts).expect("our own netns can be dumped without privileges");
    assert!(c.node.bgp.is_none());
    assert!(!c.node.links.is_empty(), "lo at least");
    assert!(
        c.notes
            .iter()
            .any(|n| n.starts_with("bgp not collected:") && n.contains("timed out")),
        "{:?}",
        c.notes
    );
    handle.join().unwrap();
}

fn collect_netns(path: &Path) -> LiveError {
    let opts = LiveOptions {
        netns: Some(NetnsTarget::Path(path.to_path_buf())),
        ipvs: false,
        ..LiveOptions::default()
    };
    collect(&opts).expect_err("no namespace there")
}

#[test]
fn netns_path_that_does_not_exist_names_it() {
    let err = collect_netns(Path::new("/run/netns/cnlh10-never-existed"));
    assert!(matches!(err, LiveError::Netns { .. }), "{err:?}");
    assert_eq!(err.code(), "netns");
    assert!(err.to_string().contains("/run/netns/cnlh10-never-existed"));
}

#[test]
fn file_that_is_not_a_netns_is_refused() {
    let f = tempfile::NamedTempFile::new().unwrap();
    let err = collect_netns(f.path());
    assert!(matches!(err, LiveError::Netns { .. }), "{err:?}");
    assert!(err.to_string().contains(f.path().to_str().unwrap()));
}

/// Needs root (`ip netns add`): a namespace deleted between listing and
/// entering is a clear netns error, not a hang or an empty snapshot.
#[test]
fn netns_deleted_before_entering_is_a_netns_error() {
    let name = format!("cnlh10-gone-{}", std::process::id());
    let ip = |args: &[&str]| {
        std::process::Command::new("ip")
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !ip(&["netns", "add", &name]) {
        eprintln!("skipped: cannot create a network namespace (needs root and iproute2)");
        return;
    }
    let listed = cnictl_collect::live::list_named_netns().unwrap_or_default();
    let deleted = ip(&["netns", "del", &name]);
    assert!(deleted, "could not delete {name}");
    assert!(listed.contains(&name), "{listed:?}");
    let opts = LiveOptions {
        netns: Some(NetnsTarget::Name(name.clone())),
        ipvs: false,
        ..LiveOptions::default()
    };
    let err = collect(&opts).expect_err("the namespace is gone");
    assert!(matches!(err, LiveError::Netns { .. }), "{err:?}");
    assert!(err.to_string().contains(&name), "{err}");
}

/// IPVS dumps need CAP_NET_ADMIN: without it the kernel answers EPERM,
/// which must surface as `permission_denied` (the metrics label) with a
/// readable message. This kernel has no IPVS module, so the refusal cannot
/// be provoked here; the mapping from the kernel's answer is what is tested.
#[test]
fn ipvs_permission_refusal_maps_to_permission_denied() {
    for errno in [libc::EPERM, libc::EACCES] {
        let err = LiveError::Kernel {
            what: "ipvs services",
            errno,
        };
        assert_eq!(err.code(), "permission_denied");
        let msg = err.to_string();
        assert!(
            msg.starts_with("kernel refused the ipvs services dump: "),
            "{msg}"
        );
    }
    let other = LiveError::Kernel {
        what: "ipvs services",
        errno: libc::EINVAL,
    };
    assert_eq!(other.code(), "kernel");
    let denied = LiveError::Netns {
        path: "/proc/1/ns/net".into(),
        source: std::io::Error::from_raw_os_error(libc::EPERM),
    };
    assert_eq!(denied.code(), "permission_denied");
}
