//! Request heads over [`MAX_HEAD`] answered in JSON before hyper sees them.
//!
//! hyper refuses a request line over 64 KiB (414) and a head over its
//! buffer (431) itself, with an empty body — but every error of these
//! servers is JSON (SECURITY.md). [`HeadLimit`] wraps the listener: each
//! connection counts the bytes read since the last blank line that ends a
//! head (these servers take GET requests without bodies), and when a head
//! passes the limit, it writes the JSON 414 (request line) or 431
//! (headers) itself and ends the connection, so hyper never gets to
//! answer. Heads under the limit pass through untouched; the router's own
//! bound (`Limits::max_head`) covers the same for in-process use.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The largest request head read (below hyper's 65,534-byte URI limit, so
/// that this answers first).
pub const MAX_HEAD: usize = 60 * 1024;

/// A listener whose connections answer oversized heads in JSON.
pub struct HeadLimit<L>(pub L);

impl<L: Listener> Listener for HeadLimit<L> {
    type Io = Limited<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = self.0.accept().await;
        (Limited::new(io), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// One connection: counts head bytes; on overflow writes the answer, then EOF.
pub struct Limited<T> {
    io: T,
    /// Bytes since the last `\r\n\r\n`, and whether a line ended in them.
    head: usize,
    line_done: bool,
    /// The last three bytes read, to find a `\r\n\r\n` split across reads.
    tail: [u8; 3],
    /// The refusal being written (bytes left), then done.
    refusal: Option<Vec<u8>>,
}

impl<T> Limited<T> {
    fn new(io: T) -> Self {
        Limited {
            io,
            head: 0,
            line_done: false,
            tail: [0; 3],
            refusal: None,
        }
    }

    /// Counts `data`; `true` when a head went past [`MAX_HEAD`].
    fn count(&mut self, data: &[u8]) -> bool {
        for &b in data {
            self.head += 1;
            let [a, c, d] = self.tail;
            if b == b'\n' && d == b'\r' {
                self.line_done = true;
                if (a, c) == (b'\r', b'\n') {
                    self.head = 0;
                    self.line_done = false;
                }
            }
            self.tail = [c, d, b];
            if self.head > MAX_HEAD {
                return true;
            }
        }
        false
    }

    fn refuse(&mut self) {
        let (status, code, what) = match self.line_done {
            false => ("414 URI Too Long", "uri_too_long", "request line"),
            true => (
                "431 Request Header Fields Too Large",
                "headers_too_large",
                "request head",
            ),
        };
        let body = serde_json::json!({"error": {"code": code, "message": format!("{what} exceeds {MAX_HEAD} bytes")}}).to_string();
        let text = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        self.refusal = Some(text.into_bytes());
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> Limited<T> {
    /// Writes what is left of the refusal; `Ready` once it is all out (or
    /// the peer is gone).
    fn poll_refusal(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        while let Some(left) = self.refusal.as_mut().filter(|l| !l.is_empty()) {
            match Pin::new(&mut self.io).poll_write(cx, left) {
                Poll::Ready(Ok(n)) if n > 0 => {
                    left.drain(..n);
                }
                Poll::Ready(_) => break,
                Poll::Pending => return Poll::Pending,
            }
        }
        self.refusal = Some(Vec::new());
        let _ = Pin::new(&mut self.io).poll_flush(cx);
        Poll::Ready(())
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for Limited<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.refusal.is_some() {
            // EOF for hyper once the refusal is out: it closes, silently.
            return this.poll_refusal(cx).map(|()| Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let fresh = buf.filled()[before..].to_vec();
            if this.count(&fresh) {
                buf.set_filled(before);
                this.refuse();
                return this.poll_refusal(cx).map(|()| Ok(()));
            }
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Limited<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_counted_between_blank_lines() {
        let mut l = Limited::new(());
        let req = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";
        for _ in 0..10_000 {
            assert!(!l.count(req));
        }
        assert_eq!(l.head, 0);
        let mut l = Limited::new(());
        assert!(l.count(&vec![b'a'; MAX_HEAD + 1]));
        assert!(!l.line_done, "a long request line: 414");
        let mut l = Limited::new(());
        assert!(!l.count(b"GET / HTTP/1.1\r\nx-pad: "));
        assert!(l.count(&vec![b'a'; MAX_HEAD]));
        assert!(l.line_done, "long headers: 431");
    }
}
