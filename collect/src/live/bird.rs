//! A client for BIRD's control socket (what `birdc` speaks): greeting,
//! `show protocols all`, `show route all`.
//!
//! Reply lines are `DDDD-text` (more follows), ` text` (continuation of the
//! previous code) and a final `DDDD text`, whose first digit says done (0),
//! runtime error (8) or syntax error (9). The client keeps its write side
//! open until the last reply has ended: BIRD closes the session as soon as
//! the client half-closes. Replies are turned into the plain text `birdc`
//! prints, so the bundle parsers read live and recorded output alike.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cnictl_model::Bgp;

/// Errors talking to BIRD.
#[derive(Debug, thiserror::Error)]
pub enum BirdError {
    #[error("cannot connect to bird socket {path}: {source}")]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("bird socket {path}: {what} timed out after {timeout:?}")]
    Timeout {
        path: PathBuf,
        what: String,
        timeout: Duration,
    },
    #[error("bird socket {path}: i/o error during {what}: {source}")]
    Io {
        path: PathBuf,
        what: String,
        source: std::io::Error,
    },
    #[error("bird socket {path}: connection closed during {what}")]
    Closed { path: PathBuf, what: String },
    #[error("bird socket {path}: unexpected line {line:?} during {what}")]
    Protocol {
        path: PathBuf,
        what: String,
        line: String,
    },
    #[error("bird socket {path}: `{command}` failed with {code}: {message}")]
    Command {
        path: PathBuf,
        command: String,
        code: u16,
        message: String,
    },
    #[error("bird reply to `{command}` could not be parsed: {source}")]
    Parse {
        command: String,
        source: cnictl_formats::ParseError,
    },
}

impl BirdError {
    /// A bounded error code for metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            BirdError::Connect { source, .. }
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                "permission_denied"
            }
            BirdError::Connect { .. } => "connect",
            BirdError::Timeout { .. } => "timeout",
            BirdError::Io { .. } | BirdError::Closed { .. } => "io",
            BirdError::Protocol { .. } | BirdError::Parse { .. } => "decode",
            BirdError::Command { .. } => "bird_error",
        }
    }
}

/// BIRD's answers, as `birdc` would print them (greeting line first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirdReply {
    /// `BIRD 2.0.12`, from the `0001 BIRD 2.0.12 ready.` greeting.
    pub daemon: String,
    pub protocols: String,
    pub routes: String,
}

/// Reads BGP state from BIRD's control socket.
pub fn read_bird(socket: &Path, timeout: Duration) -> Result<Bgp, BirdError> {
    let reply = read_bird_raw(socket, timeout)?;
    let parse_err = |command: &str| {
        let command = command.to_string();
        move |source| BirdError::Parse { command, source }
    };
    let mut bgp = cnictl_formats::parse_bird_protocols(&reply.protocols)
        .map_err(parse_err("show protocols all"))?;
    bgp.routes = Some(
        cnictl_formats::parse_bird_routes(&reply.routes).map_err(parse_err("show route all"))?,
    );
    if bgp.daemon.is_none() {
        bgp.daemon = Some(reply.daemon);
    }
    Ok(bgp)
}

/// Talks to BIRD and returns its replies as `birdc` text, unparsed.
pub fn read_bird_raw(socket: &Path, timeout: Duration) -> Result<BirdReply, BirdError> {
    let mut session = Session::connect(socket, timeout)?;
    let greeting = session.reply("greeting")?;
    let daemon = greeting
        .trim()
        .strip_suffix("ready.")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| greeting.trim().to_string());
    let protocols = session.command("show protocols all")?;
    let routes = session.command("show route all")?;
    Ok(BirdReply {
        daemon,
        protocols: format!("{greeting}{protocols}"),
        routes: format!("{greeting}{routes}"),
    })
}

struct Session {
    path: PathBuf,
    timeout: Duration,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Session {
    fn connect(path: &Path, timeout: Duration) -> Result<Self, BirdError> {
        let connect_err = |source| BirdError::Connect {
            path: path.to_path_buf(),
            source,
        };
        let stream = connect_with_timeout(path, timeout).map_err(|e| {
            if e.kind() == std::io::ErrorKind::TimedOut {
                BirdError::Timeout {
                    path: path.to_path_buf(),
                    what: "connect".into(),
                    timeout,
                }
            } else {
                connect_err(e)
            }
        })?;
        stream
            .set_read_timeout(Some(timeout))
            .map_err(connect_err)?;
        stream
            .set_write_timeout(Some(timeout))
            .map_err(connect_err)?;
        let writer = stream.try_clone().map_err(connect_err)?;
        Ok(Session {
            path: path.to_path_buf(),
            timeout,
            reader: BufReader::new(stream),
            writer,
        })
    }

    fn command(&mut self, command: &str) -> Result<String, BirdError> {
        self.writer
            .write_all(format!("{command}\n").as_bytes())
            .map_err(|e| self.io_err(command, e))?;
        self.reply(command)
    }

    /// Reads one reply up to its final `DDDD ` line, as birdc text.
    fn reply(&mut self, what: &str) -> Result<String, BirdError> {
        let mut out = String::new();
        let mut line = String::new();
        loop {
            line.clear();
            let n = self
                .reader
                .read_line(&mut line)
                .map_err(|e| self.io_err(what, e))?;
            if n == 0 {
                return Err(BirdError::Closed {
                    path: self.path.clone(),
                    what: what.into(),
                });
            }
            match classify(line.trim_end_matches(['\n', '\r'])) {
                Line::Continuation(text) => push_line(&mut out, text),
                Line::Coded { code, last, text } => {
                    if last && code >= 8000 {
                        return Err(BirdError::Command {
                            path: self.path.clone(),
                            command: what.into(),
                            code,
                            message: text.trim().into(),
                        });
                    }
                    if code != 0 {
                        push_line(&mut out, text);
                    }
                    if last {
                        return Ok(out);
                    }
                }
                Line::Other(text) => {
                    return Err(BirdError::Protocol {
                        path: self.path.clone(),
                        what: what.into(),
                        line: text.into(),
                    })
                }
            }
        }
    }

    fn io_err(&self, what: &str, source: std::io::Error) -> BirdError {
        if matches!(
            source.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) {
            return BirdError::Timeout {
                path: self.path.clone(),
                what: what.into(),
                timeout: self.timeout,
            };
        }
        BirdError::Io {
            path: self.path.clone(),
            what: what.into(),
            source,
        }
    }
}

/// Connects a unix stream socket, giving up after `timeout`. A blocking
/// connect waits without bound while the listener's backlog is full (a
/// wedged BIRD); a non-blocking one returns EAGAIN then, and is retried.
fn connect_with_timeout(path: &Path, timeout: Duration) -> std::io::Result<UnixStream> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: plain zeroed C struct, filled in below.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() >= addr.sun_path.len() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "socket path too long",
        ));
    }
    for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: socket(2) with constant arguments; the fd is owned at once.
    let raw = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let deadline = std::time::Instant::now() + timeout;
    loop {
        // SAFETY: `addr` is a valid sockaddr_un of the given size.
        let rc = unsafe {
            libc::connect(
                fd.as_raw_fd(),
                std::ptr::addr_of!(addr).cast(),
                std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EAGAIN) {
            return Err(err);
        }
        if std::time::Instant::now() >= deadline {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let stream = UnixStream::from(fd);
    stream.set_nonblocking(false)?;
    Ok(stream)
}

fn push_line(out: &mut String, text: &str) {
    out.push_str(text);
    out.push('\n');
}

#[derive(Debug, PartialEq, Eq)]
enum Line<'a> {
    Continuation(&'a str),
    Coded {
        code: u16,
        last: bool,
        text: &'a str,
    },
    Other(&'a str),
}

/// Splits one protocol line the way birdc's `server_got_reply` does.
fn classify(line: &str) -> Line<'_> {
    if let Some(rest) = line.strip_prefix(' ') {
        return Line::Continuation(rest);
    }
    let b = line.as_bytes();
    if b.len() >= 5 && b[..4].iter().all(u8::is_ascii_digit) && (b[4] == b' ' || b[4] == b'-') {
        let code = line[..4].parse().unwrap_or(0);
        return Line::Coded {
            code,
            last: b[4] == b' ',
            text: &line[5..],
        };
    }
    // "0000" alone (BIRD ends some replies with an empty final line).
    if b.len() == 4 && b.iter().all(u8::is_ascii_digit) {
        return Line::Coded {
            code: line.parse().unwrap_or(0),
            last: true,
            text: "",
        };
    }
    Line::Other(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn lines_classify_like_birdc() {
        assert_eq!(
            classify("1002-Name Proto"),
            Line::Coded {
                code: 1002,
                last: false,
                text: "Name Proto"
            }
        );
        assert_eq!(
            classify(" Routes: 1 imported"),
            Line::Continuation("Routes: 1 imported")
        );
        assert_eq!(
            classify("0000 "),
            Line::Coded {
                code: 0,
                last: true,
                text: ""
            }
        );
        assert_eq!(
            classify("9001 syntax error"),
            Line::Coded {
                code: 9001,
                last: true,
                text: "syntax error"
            }
        );
        assert_eq!(classify("garbage"), Line::Other("garbage"));
    }

    /// A scripted BIRD on a temporary socket: greeting, then a canned
    /// answer per command (transcript shape from BIRD 2.0.12).
    fn fake_bird(
        answers: Vec<&'static str>,
    ) -> (tempfile::TempDir, PathBuf, std::thread::JoinHandle<()>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bird.ctl");
        let listener = UnixListener::bind(&path).unwrap();
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"0001 BIRD 2.0.12 ready.\n").unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            for a in answers {
                let mut cmd = String::new();
                if r.read_line(&mut cmd).unwrap() == 0 {
                    return;
                }
                s.write_all(a.as_bytes()).unwrap();
            }
        });
        (dir, path, handle)
    }

    #[test]
    fn raw_replies_become_birdc_text() {
        let (_dir, path, h) = fake_bird(vec![
            "2002-Name       Proto      Table      State  Since         Info\n1002-device1    Device     ---        up     03:40:01.000  \n 1006-\n0000 \n",
            "0000 \n",
        ]);
        let r = read_bird_raw(&path, Duration::from_secs(2)).unwrap();
        h.join().unwrap();
        assert_eq!(r.daemon, "BIRD 2.0.12");
        assert_eq!(
            r.protocols,
            "BIRD 2.0.12 ready.\nName       Proto      Table      State  Since         Info\ndevice1    Device     ---        up     03:40:01.000  \n1006-\n"
        );
        assert_eq!(r.routes, "BIRD 2.0.12 ready.\n");
    }

    #[test]
    fn errors_and_silence_are_reported() {
        let (_dir, path, h) = fake_bird(vec!["9001 Syntax error, unexpected CF_SYM_UNDEFINED\n"]);
        let err = read_bird_raw(&path, Duration::from_secs(2)).unwrap_err();
        h.join().unwrap();
        assert!(
            matches!(err, BirdError::Command { code: 9001, .. }),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mute.ctl");
        let _listener = UnixListener::bind(&path).unwrap();
        let err = read_bird_raw(&path, Duration::from_millis(100)).unwrap_err();
        assert_eq!(err.code(), "timeout", "{err}");

        let err =
            read_bird_raw(&dir.path().join("none.ctl"), Duration::from_millis(100)).unwrap_err();
        assert_eq!(err.code(), "connect");
    }
}
