//! The pull-based HTTP/1.1 exchange under the remote backends: the caller sends a request head
//! (and streams a body of known length from a [`RemoteSource`]), then pulls the response body
//! with [`RemoteBody::read`] at its own pace, e.g. while writing each piece to a local object.
//! `net::client::Client` pushes bodies into a synchronous sink instead, which cannot wait for
//! a disk write; the response head parser, the chunked decoder and the error type are shared
//! with it.
//!
//! # Invariants
//!
//! * A connection carries one request at a time and goes back to the [`Pool`] only after its
//!   response body was read completely, the server allowed keep-alive, the body was not
//!   delimited by close, and no bytes followed it. A [`RemoteBody`] dropped early closes its
//!   connection.
//! * Every socket operation has a deadline: connect, writing the head and reading the response
//!   head share the operation's deadline; each write of a streamed request body and each read
//!   of a response body has [`Io::step_timeout`] of its own (a large object takes as long as
//!   it takes, but a stalled peer is detected within one timeout).
//! * A body ends only at its framing's end: a connection closed before `Content-Length` bytes
//!   or the last chunk is an error, never a short success.
//!
//! # What it does not do
//!
//! * No TLS, no redirects, no `Expect: 100-continue`, no content codings.
//! * Name resolution uses the blocking resolver once per `host:port` per core, then caches
//!   the addresses (IP literals never block).
//! * A failed request is retried once, on a fresh connection, only if it has no body and it
//!   failed on a reused idle connection before any response byte arrived. A request with a
//!   body takes an idle connection only if it idled less than [`PUT_REUSE_IDLE_MS_MAX`] (a
//!   streamed body cannot be sent twice).

use super::{BackendError, RemoteSource};
use net::client::{
    connect_any, parse_response_head, read_some, remaining, resolve_addrs, write_all_within,
    ClientError, Framing, ResponseHead,
};
use net::http::ChunkedDecoder;
use net::tls::Stream;
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Read buffer per connection (a response head must fit).
pub const CONN_BUFFER_BYTES: usize = 64 * 1024;
/// Idle keep-alive connections kept per `host:port`.
pub const IDLE_CONNS_PER_ENDPOINT_MAX: usize = 16;
/// Distinct `host:port`s with idle connections or cached addresses (virtual-hosted addressing
/// makes each bucket its own host); past it the pool forgets everything and starts over.
pub const POOL_ENDPOINTS_MAX: usize = 256;
/// Idle connections older than this are closed rather than reused (servers close idle
/// connections after a few seconds to minutes; AWS after about 20 s).
pub const IDLE_CONN_MS_MAX: u64 = 15_000;
/// A request with a body reuses an idle connection only if it idled less than this: such a
/// request cannot be retried if the server had closed the connection meanwhile.
pub const PUT_REUSE_IDLE_MS_MAX: u64 = 1_000;
/// Request bodies are streamed in pieces of this size.
pub const PUT_PIECE_BYTES: usize = 256 * 1024;

const _: () = assert!(CONN_BUFFER_BYTES >= net::client::RESPONSE_HEAD_BYTES_MAX);
const _: () = assert!(PUT_REUSE_IDLE_MS_MAX < IDLE_CONN_MS_MAX);

struct Idle {
    stream: Stream,
    since: Instant,
}

/// Keep-alive connections and resolved addresses per `host:port`, owned by one core.
#[derive(Default)]
pub struct Pool {
    idle: RefCell<HashMap<String, Vec<Idle>>>,
    addrs: RefCell<HashMap<String, Vec<SocketAddr>>>,
    connects: std::cell::Cell<u64>,
}

impl Pool {
    /// Connections opened so far (tests check keep-alive with it).
    pub fn connects(&self) -> u64 {
        self.connects.get()
    }

    /// Idle connections pooled now.
    pub fn idle_connections(&self) -> usize {
        self.idle.borrow().values().map(Vec::len).sum()
    }

    /// The most recently pooled connection to `authority` if it idled less than `max_idle`.
    /// Connections past [`IDLE_CONN_MS_MAX`] are closed on the way.
    fn take(&self, authority: &str, max_idle: Duration) -> Option<Stream> {
        let mut idle = self.idle.borrow_mut();
        let v = idle.get_mut(authority)?;
        // Oldest first: drop the expired ones.
        let expired = v
            .iter()
            .take_while(|c| c.since.elapsed() >= Duration::from_millis(IDLE_CONN_MS_MAX))
            .count();
        v.drain(..expired);
        match v.last() {
            Some(c) if c.since.elapsed() < max_idle => v.pop().map(|c| c.stream),
            _ => None,
        }
    }

    fn give(&self, authority: &str, stream: Stream) {
        let mut idle = self.idle.borrow_mut();
        if idle.len() >= POOL_ENDPOINTS_MAX && !idle.contains_key(authority) {
            idle.clear();
        }
        let v = idle.entry(authority.to_owned()).or_default();
        if v.len() < IDLE_CONNS_PER_ENDPOINT_MAX {
            v.push(Idle {
                stream,
                since: Instant::now(),
            });
        }
    }

    fn resolve(
        &self,
        host: &str,
        port: u16,
        authority: &str,
    ) -> Result<Vec<SocketAddr>, ClientError> {
        if let Some(a) = self.addrs.borrow().get(authority) {
            return Ok(a.clone());
        }
        let addrs = resolve_addrs(host, port, authority)?;
        let mut m = self.addrs.borrow_mut();
        if m.len() >= POOL_ENDPOINTS_MAX {
            m.clear();
        }
        m.insert(authority.to_owned(), addrs.clone());
        Ok(addrs)
    }

    async fn connect(
        &self,
        host: &str,
        port: u16,
        authority: &str,
        deadline: Instant,
    ) -> Result<Stream, ClientError> {
        let addrs = self.resolve(host, port, authority)?;
        let (s, _) = connect_any(&addrs, authority, deadline).await?;
        self.connects.set(self.connects.get() + 1);
        Ok(Stream::Plain(s))
    }
}

/// The transport error of an exchange with `endpoint` as a [`BackendError`].
pub fn transport_error(e: &ClientError, endpoint: &str) -> BackendError {
    let (status, code) = match e {
        ClientError::BadUrl(_) => (400, "InvalidArgument"),
        ClientError::Resolve { .. } | ClientError::Connect { .. } => (503, "Unreachable"),
        ClientError::Timeout { .. } => (503, "Timeout"),
        ClientError::Io { .. } | ClientError::Closed => (502, "ConnectionError"),
        ClientError::ShortBody { .. } => (502, "ShortBody"),
        ClientError::Tls { .. } => (502, "TlsError"),
        ClientError::Protocol(_)
        | ClientError::BadLocation(_)
        | ClientError::TooManyRedirects { .. } => (502, "BadResponse"),
    };
    BackendError::new(status, code, e.to_string(), endpoint)
}

/// Where a request goes.
pub struct Dest<'a> {
    pub host: &'a str,
    pub port: u16,
    /// `host:port` (the pool key).
    pub authority: &'a str,
    /// `http://host:port`, for errors.
    pub endpoint: &'a str,
}

/// Timeouts of one operation.
#[derive(Debug, Clone, Copy)]
pub struct Io {
    /// Connect, write the head, read the response head.
    pub deadline: Instant,
    /// Each write of a request body and each read of a response body.
    pub step_timeout: Duration,
}

/// The body of a response, pulled by the caller. Owns its connection until the body ends.
pub struct RemoteBody {
    conn: Option<Stream>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    framing: Framing,
    /// Body bytes still expected (`Framing::Length`).
    left: u64,
    received: u64,
    decoder: ChunkedDecoder,
    keep_alive: bool,
    done: bool,
    /// The error that ended the body: every later read returns it again (never `Ok(0)`).
    failed: Option<BackendError>,
    pool: Rc<Pool>,
    authority: String,
    endpoint: String,
    step_timeout: Duration,
}

impl std::fmt::Debug for RemoteBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteBody")
            .field("endpoint", &self.endpoint)
            .field("framing", &self.framing)
            .field("received", &self.received)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl RemoteBody {
    /// Body bytes still to come, if the framing says (`Content-Length`); `Some(0)` at the end.
    pub fn remaining(&self) -> Option<u64> {
        match self.framing {
            _ if self.done => Some(0),
            Framing::None => Some(0),
            Framing::Length(_) => Some(self.left),
            Framing::Chunked | Framing::UntilClose => None,
        }
    }

    /// Fill the front of `buf` with the next body bytes; `Ok(0)` at the end of the body (and
    /// only there: a connection closed early is `ShortBody`). `buf` must not be empty.
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<usize, BackendError> {
        assert!(!buf.is_empty(), "RemoteBody::read needs room");
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.done {
            return Ok(0);
        }
        match self.read_inner(buf).await {
            Ok(0) => {
                self.finish();
                Ok(0)
            }
            Ok(n) => {
                self.received += n as u64;
                if self.framing == Framing::Length(self.received) {
                    // The last bytes: release the connection now, not on the next call.
                    self.finish();
                }
                Ok(n)
            }
            Err(e) => {
                self.done = true;
                self.conn = None; // closed: its state is unknown
                let e = transport_error(&e, &self.endpoint);
                self.failed = Some(e.clone());
                Err(e)
            }
        }
    }

    /// The whole (small) body, at most `limit_bytes`; more is `BadResponse`.
    pub async fn read_to_vec(&mut self, limit_bytes: usize) -> Result<Vec<u8>, BackendError> {
        let mut out = Vec::new();
        let mut piece = vec![0u8; 16 * 1024];
        loop {
            let n = self.read(&mut piece).await?;
            if n == 0 {
                return Ok(out);
            }
            if out.len() + n > limit_bytes {
                self.conn = None;
                self.done = true;
                let e = BackendError::new(
                    502,
                    "BadResponse",
                    format!("response body longer than {limit_bytes} bytes"),
                    &self.endpoint,
                );
                self.failed = Some(e.clone());
                return Err(e);
            }
            out.extend_from_slice(&piece[..n]);
        }
    }

    fn finish(&mut self) {
        self.done = true;
        if let Some(s) = self.conn.take() {
            let clean =
                self.keep_alive && self.framing != Framing::UntilClose && self.start == self.end;
            if clean {
                self.pool.give(&self.authority, s);
            }
        }
    }

    async fn fill(&mut self, what: &'static str) -> Result<usize, ClientError> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let deadline = Instant::now() + self.step_timeout;
        let stream = self.conn.as_mut().ok_or(ClientError::Closed)?;
        let n = read_some(stream, &mut self.buf[self.end..], deadline, what).await?;
        self.end += n;
        Ok(n)
    }

    async fn read_inner(&mut self, out: &mut [u8]) -> Result<usize, ClientError> {
        match self.framing {
            Framing::None => Ok(0),
            Framing::Length(total) => {
                if self.left == 0 {
                    return Ok(0);
                }
                let want = usize::try_from(self.left).map_or(out.len(), |l| l.min(out.len()));
                if self.start < self.end {
                    let n = want.min(self.end - self.start);
                    out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
                    self.start += n;
                    self.left -= n as u64;
                    return Ok(n);
                }
                // Nothing buffered: read straight into the caller's buffer.
                let deadline = Instant::now() + self.step_timeout;
                let stream = self.conn.as_mut().ok_or(ClientError::Closed)?;
                let n =
                    read_some(stream, &mut out[..want], deadline, "reading response body").await?;
                if n == 0 {
                    return Err(ClientError::ShortBody {
                        expected: Some(total),
                        received: total - self.left,
                    });
                }
                self.left -= n as u64;
                Ok(n)
            }
            Framing::UntilClose => {
                if self.start < self.end {
                    let n = out.len().min(self.end - self.start);
                    out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
                    self.start += n;
                    return Ok(n);
                }
                let deadline = Instant::now() + self.step_timeout;
                let stream = self.conn.as_mut().ok_or(ClientError::Closed)?;
                read_some(stream, out, deadline, "reading response body").await
            }
            Framing::Chunked => loop {
                if self.start < self.end {
                    let p = self
                        .decoder
                        .decode(&self.buf[self.start..self.end], out)
                        .map_err(|e| ClientError::Protocol(e.to_string()))?;
                    self.start += p.consumed;
                    if p.written > 0 {
                        // When `p.done`, the next call returns 0 and releases the connection.
                        return Ok(p.written);
                    }
                    if p.done {
                        return Ok(0);
                    }
                    if p.consumed > 0 {
                        continue;
                    }
                }
                if self.decoder.is_done() {
                    return Ok(0);
                }
                if self.end - self.start == self.buf.len() {
                    return Err(ClientError::Protocol(
                        "chunk framing does not fit the read buffer".to_owned(),
                    ));
                }
                let n = self.fill("reading chunked body").await?;
                if n == 0 {
                    return Err(ClientError::ShortBody {
                        expected: None,
                        received: self.received,
                    });
                }
            },
        }
    }
}

/// A request body: none, or `size` bytes pulled from a source.
pub enum Body<'a, S: RemoteSource> {
    None,
    Stream { size: u64, src: &'a mut S },
}

/// Send `head` (a complete request head, its `Content-Length` included when there is a body)
/// and the body to `dest`, read the response head. `request_was_head`: a HEAD request (no
/// response body). The returned body must be read to its end for the connection to be reused.
pub async fn exchange<S: RemoteSource>(
    pool: &Rc<Pool>,
    dest: &Dest<'_>,
    head: &[u8],
    mut body: Body<'_, S>,
    request_was_head: bool,
    io: Io,
) -> Result<(ResponseHead, RemoteBody), BackendError> {
    let has_body = matches!(body, Body::Stream { .. });
    let max_idle = Duration::from_millis(if has_body {
        PUT_REUSE_IDLE_MS_MAX
    } else {
        IDLE_CONN_MS_MAX
    });
    let mut fresh_only = false;
    loop {
        let pooled = if fresh_only {
            None
        } else {
            pool.take(dest.authority, max_idle)
        };
        let reused = pooled.is_some();
        let stream = match pooled {
            Some(s) => s,
            None => pool
                .connect(dest.host, dest.port, dest.authority, io.deadline)
                .await
                .map_err(|e| transport_error(&e, dest.endpoint))?,
        };
        match exchange_on(pool, stream, dest, head, &mut body, request_was_head, io).await {
            Ok(r) => return Ok(r),
            Err((e, before_response)) => {
                let retry = reused && !has_body && before_response;
                if retry {
                    fresh_only = true;
                    continue;
                }
                return Err(e);
            }
        }
    }
}

/// One attempt. The error says whether it happened before any response byte arrived.
async fn exchange_on<S: RemoteSource>(
    pool: &Rc<Pool>,
    mut stream: Stream,
    dest: &Dest<'_>,
    head: &[u8],
    body: &mut Body<'_, S>,
    request_was_head: bool,
    io: Io,
) -> Result<(ResponseHead, RemoteBody), (BackendError, bool)> {
    let ep = dest.endpoint;
    let terr = |e: &ClientError| transport_error(e, ep);
    let mut write_failed = None;
    if let Err(e) = write_all_within(&mut stream, head, io.deadline, "writing request head").await {
        write_failed = Some(e);
    }
    if write_failed.is_none() {
        if let Body::Stream { size, src } = body {
            match send_body(&mut stream, *size, &mut **src, io.step_timeout, ep).await {
                Ok(()) => {}
                Err(SendError::Source(e)) => return Err((e, false)),
                Err(SendError::Socket(e)) => write_failed = Some(e),
            }
        }
    }
    if let Some(e) = &write_failed {
        if matches!(e, ClientError::Timeout { .. }) {
            return Err((terr(e), false));
        }
    }
    // The response head (also after a failed write: a server that refuses a body early, e.g.
    // 403, answers and closes).
    let deadline = if has_stream_body(body) {
        Instant::now()
            + io.step_timeout
                .max(remaining(io.deadline).unwrap_or_default())
    } else {
        io.deadline
    };
    let mut buf = vec![0u8; CONN_BUFFER_BYTES];
    let mut end = 0usize;
    let mut resp = ResponseHead::default();
    let start = loop {
        if end > 0 {
            match parse_response_head(&buf[..end], &mut resp, request_was_head) {
                Ok(Some(used)) if (100..200).contains(&resp.status) => {
                    buf.copy_within(used..end, 0);
                    end -= used;
                    continue;
                }
                Ok(Some(used)) => break used,
                Ok(None) => {}
                Err(e) => return Err((terr(&e), false)),
            }
        }
        if end == buf.len() {
            return Err((
                terr(&ClientError::Protocol(
                    "response head does not fit the read buffer".to_owned(),
                )),
                false,
            ));
        }
        match read_some(
            &mut stream,
            &mut buf[end..],
            deadline,
            "reading response head",
        )
        .await
        {
            Ok(0) if end == 0 => {
                let e = write_failed.unwrap_or(ClientError::Closed);
                return Err((terr(&e), true));
            }
            Ok(0) => {
                return Err((
                    terr(&ClientError::Protocol(
                        "connection closed inside the response head".to_owned(),
                    )),
                    false,
                ))
            }
            Ok(n) => end += n,
            Err(e) => {
                let before = end == 0;
                let e = if before { write_failed.unwrap_or(e) } else { e };
                return Err((terr(&e), before));
            }
        }
    };
    let framing = resp.framing;
    let keep_alive = resp.keep_alive && write_failed.is_none();
    let mut rb = RemoteBody {
        conn: Some(stream),
        buf,
        start,
        end,
        framing,
        left: match framing {
            Framing::Length(n) => n,
            _ => 0,
        },
        received: 0,
        decoder: ChunkedDecoder::new(),
        keep_alive,
        done: false,
        failed: None,
        pool: pool.clone(),
        authority: dest.authority.to_owned(),
        endpoint: ep.to_owned(),
        step_timeout: io.step_timeout,
    };
    if matches!(framing, Framing::None | Framing::Length(0)) {
        rb.finish();
    }
    Ok((resp, rb))
}

fn has_stream_body<S: RemoteSource>(b: &Body<'_, S>) -> bool {
    matches!(b, Body::Stream { .. })
}

enum SendError {
    Source(BackendError),
    Socket(ClientError),
}

/// Stream exactly `size` bytes from `src`; a source that ends early or fails is `SourceError`.
async fn send_body<S: RemoteSource + ?Sized>(
    stream: &mut Stream,
    size: u64,
    src: &mut S,
    step_timeout: Duration,
    endpoint: &str,
) -> Result<(), SendError> {
    let mut piece = vec![0u8; PUT_PIECE_BYTES.min(usize::try_from(size).unwrap_or(usize::MAX))];
    let mut sent = 0u64;
    while sent < size {
        let want = usize::try_from(size - sent).map_or(piece.len(), |l| l.min(piece.len()));
        let n = src.read(&mut piece[..want]).await.map_err(|e| {
            SendError::Source(BackendError::new(
                500,
                "SourceError",
                format!("reading the local source after {sent} of {size} bytes: {e}"),
                endpoint,
            ))
        })?;
        if n == 0 {
            return Err(SendError::Source(BackendError::new(
                500,
                "SourceError",
                format!("the local source ended after {sent} of {size} bytes"),
                endpoint,
            )));
        }
        assert!(n <= want, "RemoteSource::read returned more than asked");
        let deadline = Instant::now() + step_timeout;
        write_all_within(stream, &piece[..n], deadline, "writing request body")
            .await
            .map_err(SendError::Socket)?;
        sent += n as u64;
    }
    Ok(())
}
