//! One HTTP/1.1 server connection on a [`Stream`] (plain glommio `TcpStream` or TLS): reads request heads under a
//! deadline, streams request bodies (Content-Length or chunked) without holding them whole,
//! and writes responses. Parsing itself is sans-IO in [`crate::http`].
//!
//! Deadlines: the whole head must arrive within [`HEADER_TIMEOUT_MS`] of its first byte
//! (slow-loris clients are cut off), an idle keep-alive connection is closed after
//! [`IDLE_TIMEOUT_MS`], and each body read or write must progress within [`BODY_IO_TIMEOUT_MS`].
//! A connection can be taken apart ([`Conn::into_parts_rewound`]) and rebuilt on another core with its
//! buffered bytes, which is how a request is handed to the core that owns its object.

use crate::http::{self, BodyKind, ChunkedDecoder, HttpError, RequestHead};
use crate::tls::Stream;
use std::fmt;
use std::io;
use std::time::{Duration, Instant};

/// Read buffer per connection (heads and chunked framing pass through it).
pub const CONN_BUFFER_BYTES: usize = 64 * 1024;
/// Deadline for a whole request head, from its first byte (or from accept).
pub const HEADER_TIMEOUT_MS: u64 = 10_000;
/// Idle keep-alive connections are closed after this.
pub const IDLE_TIMEOUT_MS: u64 = 60_000;
/// Each body read or response write must make progress within this.
pub const BODY_IO_TIMEOUT_MS: u64 = 30_000;

const _: () = assert!(CONN_BUFFER_BYTES > http::HEADER_BYTES_MAX);

#[derive(Debug)]
pub enum ConnError {
    Io(io::Error),
    Timeout(&'static str),
    Http(HttpError),
    /// The peer closed in the middle of a head or body.
    UnexpectedEof,
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnError::Io(e) => write!(f, "i/o error: {e}"),
            ConnError::Timeout(what) => write!(f, "timed out waiting for {what}"),
            ConnError::Http(e) => write!(f, "{e}"),
            ConnError::UnexpectedEof => write!(f, "connection closed by peer mid-request"),
        }
    }
}

impl std::error::Error for ConnError {}

impl From<HttpError> for ConnError {
    fn from(e: HttpError) -> Self {
        ConnError::Http(e)
    }
}

fn map_io(e: io::Error, what: &'static str) -> ConnError {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ConnError::Timeout(what),
        _ => ConnError::Io(e),
    }
}

pub struct Conn {
    pub stream: Stream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes of the last head returned, so it can be rewound for a hand-off.
    last_head: Vec<u8>,
    served: u64,
    stats: RequestStats,
}

/// What the current request moved on its connection: the final status of the response
/// written, body bytes received and response body bytes sent (the metrics of the node read it
/// after each request; see [`Conn::request_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// Final (>= 200) status of the response head written; 0 if none was written.
    pub status: u16,
    /// Request body bytes read.
    pub bytes_in: u64,
    /// Response body bytes written (after the head).
    pub bytes_out: u64,
}

/// The status of a response head at the start of `data` (`HTTP/1.1 200 ...`) and the length
/// of the head if it ends within `data`.
fn response_head_status(data: &[u8]) -> Option<(u16, Option<usize>)> {
    let rest = data.strip_prefix(b"HTTP/1.")?;
    let d = rest.get(2..5)?;
    if rest.get(1) != Some(&b' ') || !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let status = d.iter().fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'));
    let end = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    Some((status, end))
}

impl Conn {
    pub fn new(stream: Stream) -> Conn {
        Conn::from_parts(stream, Vec::new())
    }

    /// Rebuild a connection from a stream and bytes already read from it.
    pub fn from_parts(stream: Stream, leftover: Vec<u8>) -> Conn {
        let _ = stream.set_nodelay(true);
        let mut buf = vec![0u8; CONN_BUFFER_BYTES.max(leftover.len())];
        buf[..leftover.len()].copy_from_slice(&leftover);
        Conn {
            stream,
            end: leftover.len(),
            buf,
            start: 0,
            last_head: Vec::new(),
            served: 0,
            stats: RequestStats::default(),
        }
    }

    /// Put the last head back in front of the buffered bytes and return stream and bytes.
    pub fn into_parts_rewound(self) -> (Stream, Vec<u8>) {
        let mut v = self.last_head;
        v.extend_from_slice(&self.buf[self.start..self.end]);
        (self.stream, v)
    }

    pub fn requests_served(&self) -> u64 {
        self.served
    }

    /// What the request of the last head read moved so far (reset by [`Conn::read_head`]).
    pub fn request_stats(&self) -> RequestStats {
        self.stats
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    async fn fill(&mut self, timeout: Duration, what: &'static str) -> Result<usize, ConnError> {
        if self.start > 0 && self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let t = timeout.max(Duration::from_millis(1));
        self.stream
            .set_read_timeout(Some(t))
            .map_err(ConnError::Io)?;
        let n = self
            .stream
            .read(&mut self.buf[self.end..])
            .await
            .map_err(|e| map_io(e, what))?;
        self.end += n;
        Ok(n)
    }

    /// Read the next request head. `Ok(None)` when the peer closed (or idled out) cleanly
    /// between requests.
    pub async fn read_head(&mut self) -> Result<Option<RequestHead>, ConnError> {
        let mut deadline: Option<Instant> = None;
        loop {
            if self.start < self.end {
                if let Some((head, used)) = http::parse_request_head(self.buffered())? {
                    self.last_head.clear();
                    self.last_head
                        .extend_from_slice(&self.buf[self.start..self.start + used]);
                    self.start += used;
                    self.served += 1;
                    self.stats = RequestStats::default();
                    return Ok(Some(head));
                }
                deadline.get_or_insert_with(|| {
                    Instant::now() + Duration::from_millis(HEADER_TIMEOUT_MS)
                });
            }
            let timeout = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None if self.served == 0 => Duration::from_millis(HEADER_TIMEOUT_MS),
                None => Duration::from_millis(IDLE_TIMEOUT_MS),
            };
            if timeout.is_zero() {
                return Err(ConnError::Timeout("request head"));
            }
            match self.fill(timeout, "request head").await {
                Ok(0) if self.start == self.end => return Ok(None),
                Ok(0) => return Err(ConnError::UnexpectedEof),
                Ok(_) => {}
                Err(ConnError::Timeout(_)) if self.start == self.end && deadline.is_none() => {
                    return Ok(None)
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A reader of the current request's body.
    pub fn body(&mut self, kind: BodyKind) -> Body<'_> {
        let state = match kind {
            BodyKind::Empty => BodyState::Length(0),
            BodyKind::Length(n) => BodyState::Length(n),
            BodyKind::Chunked => BodyState::Chunked(ChunkedDecoder::new()),
        };
        Body { conn: self, state }
    }

    pub async fn write_all(&mut self, data: &[u8]) -> Result<(), ConnError> {
        // Every response goes out through here: its head (the first write of a response,
        // after any `100 Continue`) gives the status, the rest is body.
        let body = match (self.stats.status, response_head_status(data)) {
            (0, Some((s, end))) if s >= 200 => {
                self.stats.status = s;
                end.map_or(0, |e| data.len() - e)
            }
            (0, Some(_)) => 0,
            _ => data.len(),
        };
        self.stats.bytes_out += body as u64;
        self.stream
            .set_write_timeout(Some(Duration::from_millis(BODY_IO_TIMEOUT_MS)))
            .map_err(ConnError::Io)?;
        self.stream
            .write_all(data)
            .await
            .map_err(|e| map_io(e, "response write"))
    }

    /// Write a complete response with a small in-memory body.
    pub async fn respond(
        &mut self,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), ConnError> {
        let mut out = Vec::with_capacity(256 + body.len());
        let len = body.len().to_string();
        let mut hs: Vec<(&str, &str)> = headers.to_vec();
        hs.push(("Content-Length", &len));
        http::write_response_head(&mut out, status, &hs);
        out.extend_from_slice(body);
        self.write_all(&out).await
    }

    /// `100 Continue` for clients that sent `Expect: 100-continue`.
    pub async fn send_continue(&mut self) -> Result<(), ConnError> {
        self.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await
    }

    pub async fn close(self) {
        self.stream.shutdown().await;
    }
}

enum BodyState {
    Length(u64),
    Chunked(ChunkedDecoder),
}

/// Streaming request body. `read` returns 0 at the end of the body.
pub struct Body<'a> {
    conn: &'a mut Conn,
    state: BodyState,
}

impl Body<'_> {
    pub fn remaining_hint(&self) -> Option<u64> {
        match &self.state {
            BodyState::Length(n) => Some(*n),
            BodyState::Chunked(_) => None,
        }
    }

    pub fn is_done(&self) -> bool {
        match &self.state {
            BodyState::Length(n) => *n == 0,
            BodyState::Chunked(d) => d.is_done(),
        }
    }

    pub async fn read(&mut self, out: &mut [u8]) -> Result<usize, ConnError> {
        if out.is_empty() {
            return Ok(0);
        }
        let io_timeout = Duration::from_millis(BODY_IO_TIMEOUT_MS);
        match &mut self.state {
            BodyState::Length(remaining) => {
                if *remaining == 0 {
                    return Ok(0);
                }
                let want = (*remaining).min(out.len() as u64) as usize;
                let c = &mut *self.conn;
                let n = if c.start < c.end {
                    let n = want.min(c.end - c.start);
                    out[..n].copy_from_slice(&c.buf[c.start..c.start + n]);
                    c.start += n;
                    n
                } else {
                    c.stream
                        .set_read_timeout(Some(io_timeout))
                        .map_err(ConnError::Io)?;
                    let n = c
                        .stream
                        .read(&mut out[..want])
                        .await
                        .map_err(|e| map_io(e, "request body"))?;
                    if n == 0 {
                        return Err(ConnError::UnexpectedEof);
                    }
                    n
                };
                *remaining -= n as u64;
                self.conn.stats.bytes_in += n as u64;
                Ok(n)
            }
            BodyState::Chunked(dec) => loop {
                if dec.is_done() {
                    return Ok(0);
                }
                let c = &mut *self.conn;
                if c.start < c.end {
                    let p = dec.decode(&c.buf[c.start..c.end], out)?;
                    c.start += p.consumed;
                    if p.written > 0 {
                        c.stats.bytes_in += p.written as u64;
                        return Ok(p.written);
                    }
                    if p.done {
                        return Ok(0);
                    }
                    if p.consumed > 0 {
                        continue;
                    }
                }
                if c.fill(io_timeout, "request body").await? == 0 {
                    return Err(ConnError::UnexpectedEof);
                }
            },
        }
    }

    /// Read and discard the rest of the body; returns the bytes discarded.
    pub async fn drain(&mut self) -> Result<u64, ConnError> {
        // One scratch buffer per thread, not a zeroed 64 KiB per drained body.
        thread_local! {
            static SCRATCH: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
        }
        let mut scratch = SCRATCH.with(std::cell::Cell::take);
        if scratch.len() < 64 * 1024 {
            scratch = vec![0u8; 64 * 1024];
        }
        let mut total = 0u64;
        let r = loop {
            match self.read(&mut scratch).await {
                Ok(0) => break Ok(total),
                Ok(n) => total += n as u64,
                Err(e) => break Err(e),
            }
        };
        SCRATCH.with(|s| s.set(scratch));
        r
    }

    /// Read the whole body into memory, refusing more than `limit` bytes (control messages).
    pub async fn read_to_vec(&mut self, limit: usize) -> Result<Vec<u8>, ConnError> {
        let mut v = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let n = self.read(&mut chunk).await?;
            if n == 0 {
                return Ok(v);
            }
            if v.len() + n > limit {
                return Err(ConnError::Http(HttpError::Malformed(format!(
                    "request body exceeds {limit} bytes allowed for control messages"
                ))));
            }
            v.extend_from_slice(&chunk[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::response_head_status;

    #[test]
    fn response_head_status_reads_the_status_and_head_length() {
        let r = b"HTTP/1.1 206 Partial Content\r\nA: b\r\n\r\nbody";
        assert_eq!(response_head_status(r), Some((206, Some(r.len() - 4))));
        assert_eq!(
            response_head_status(b"HTTP/1.1 100 Continue\r\n\r\n"),
            Some((100, Some(25)))
        );
        assert_eq!(response_head_status(b"HTTP/1.1 404 Not"), Some((404, None)));
        assert_eq!(response_head_status(b"body bytes HTTP/1.1 200"), None);
        assert_eq!(response_head_status(b"HTTP/1.1 2x0 OK"), None);
        assert_eq!(response_head_status(b"HTTP/1.1"), None);
    }
}
