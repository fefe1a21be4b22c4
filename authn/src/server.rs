//! AuthN's HTTP/1.1 server: std threads and blocking sockets (AuthN takes a few requests a
//! minute; the object path never calls it). One thread accepts; each connection gets a thread
//! of its own, up to [`CONNS_MAX`]. Request heads are parsed by `net::http` (its limits:
//! `HEADER_BYTES_MAX`, `HEADER_COUNT_MAX`); bodies are `Content-Length` or chunked, at most
//! [`BODY_BYTES_MAX`]; connections are kept alive.
//!
//! # Invariants
//!
//! * Every read and write on a client socket has a deadline ([`IO_TIMEOUT_MS`]; an idle
//!   keep-alive connection is closed after [`IDLE_TIMEOUT_MS`]); a whole request must arrive
//!   within [`REQUEST_READ_MS`] of its first byte (else 408).
//! * A request whose framing cannot be trusted (bad head, body too large, bad chunk) is
//!   answered and its connection closed.
//! * After [`Server::stop`], no new connection is served and no new request is started on a
//!   kept-alive one; [`Server::wait_idle`] waits for the requests in flight.
//!
//! # What this module does not do
//!
//! * No TLS, no HTTP/2, no pipelining beyond what keep-alive gives (requests are answered in
//!   order, one at a time per connection).

use crate::service::{error_body, Request, Service};
use crate::store::Fail;
use net::http::{self, BodyKind, ChunkedDecoder};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest request body (users, roles, clusters are small JSON documents).
pub const BODY_BYTES_MAX: usize = 1 << 20;
/// Deadline of each read and write while a request is being received or answered.
pub const IO_TIMEOUT_MS: u64 = 30_000;
/// A request's head and body must arrive within this long of its first byte (a client that
/// trickles bytes cannot hold a connection thread for longer).
pub const REQUEST_READ_MS: u64 = 60_000;
/// An idle keep-alive connection is closed after this long.
pub const IDLE_TIMEOUT_MS: u64 = 60_000;
/// Connections served at once; more are answered 503 and closed.
pub const CONNS_MAX: usize = 256;
/// Bytes read from a socket at a time.
const READ_CHUNK_BYTES: usize = 16 * 1024;

const _: () = assert!(READ_CHUNK_BYTES >= 4096 && BODY_BYTES_MAX > http::HEADER_BYTES_MAX);

/// A listening AuthN server.
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    service: Arc<Service>,
    stopping: Arc<AtomicBool>,
    conns: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
    request_read: Duration,
}

impl Server {
    /// Bind `host:port` (port 0: any free port).
    pub fn bind(host: &str, port: u16, service: Arc<Service>) -> std::io::Result<Server> {
        let listener = TcpListener::bind((host, port))?;
        let addr = listener.local_addr()?;
        Ok(Server {
            listener,
            addr,
            service,
            stopping: Arc::new(AtomicBool::new(false)),
            conns: Arc::new(AtomicUsize::new(0)),
            in_flight: Arc::new(AtomicUsize::new(0)),
            request_read: Duration::from_millis(REQUEST_READ_MS),
        })
    }

    /// How long a request may take to arrive (default [`REQUEST_READ_MS`]; tests shorten it).
    pub fn set_request_read(&mut self, d: Duration) {
        self.request_read = d;
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that stops the accept loop from another thread.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            addr: self.addr,
            stopping: self.stopping.clone(),
            in_flight: self.in_flight.clone(),
        }
    }

    /// Accept and serve until stopped.
    pub fn run(&self) {
        for conn in self.listener.incoming() {
            if self.stopping.load(Ordering::Acquire) {
                break;
            }
            let stream = match conn {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            if self.conns.fetch_add(1, Ordering::AcqRel) >= CONNS_MAX {
                self.conns.fetch_sub(1, Ordering::AcqRel);
                refuse_busy(stream);
                continue;
            }
            let request_read = self.request_read;
            let (service, stopping, conns, in_flight) = (
                self.service.clone(),
                self.stopping.clone(),
                self.conns.clone(),
                self.in_flight.clone(),
            );
            let spawned = std::thread::Builder::new()
                .name("authn-conn".into())
                .spawn(move || {
                    serve_conn(stream, &service, &stopping, &in_flight, request_read);
                    conns.fetch_sub(1, Ordering::AcqRel);
                });
            if let Err(e) = spawned {
                self.conns.fetch_sub(1, Ordering::AcqRel);
                tracing::warn!(error = %e, "cannot start a connection thread");
            }
        }
    }
}

/// Stops a [`Server`] from another thread.
#[derive(Clone)]
pub struct Stopper {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    in_flight: Arc<AtomicUsize>,
}

impl Stopper {
    /// Stop accepting (the accept loop is woken by a connection of our own).
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        let wake = if self.addr.ip().is_unspecified() {
            SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), self.addr.port())
        } else {
            self.addr
        };
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
    }

    /// Wait until no request is in flight, at most `deadline`; whether it got there.
    pub fn wait_idle(&self, deadline: Duration) -> bool {
        let end = Instant::now() + deadline;
        while self.in_flight.load(Ordering::Acquire) > 0 {
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }
}

fn refuse_busy(mut s: TcpStream) {
    let _ = s.set_write_timeout(Some(Duration::from_millis(IO_TIMEOUT_MS)));
    let f = Fail::new(503, format!("too many connections (at most {CONNS_MAX})"));
    let r = error_body(&f, &Request::default());
    let _ = write_response(&mut s, r.status, &[], &r.body, true, true);
    let _ = s.shutdown(Shutdown::Both);
}

fn write_response(
    s: &mut TcpStream,
    status: u16,
    extra: &[(&str, String)],
    body: &[u8],
    json: bool,
    close: bool,
) -> std::io::Result<()> {
    let len = body.len().to_string();
    let mut headers: Vec<(&str, &str)> = vec![("Content-Length", len.as_str())];
    if json {
        headers.push(("Content-Type", "application/json"));
    }
    if close {
        headers.push(("Connection", "close"));
    }
    headers.extend(extra.iter().map(|(n, v)| (*n, v.as_str())));
    let mut out = Vec::with_capacity(256 + body.len());
    http::write_response_head(&mut out, status, &headers);
    out.extend_from_slice(body);
    s.write_all(&out)
}

/// Read more bytes into `buf` before `deadline`; `Ok(false)` on end of stream.
fn fill_by(s: &mut TcpStream, buf: &mut Vec<u8>, deadline: Instant) -> std::io::Result<bool> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(std::io::ErrorKind::TimedOut.into());
    }
    s.set_read_timeout(Some(left.min(Duration::from_millis(IO_TIMEOUT_MS))))?;
    fill(s, buf)
}

/// Read more bytes into `buf`; `Ok(false)` on end of stream.
fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    let start = buf.len();
    buf.resize(start + READ_CHUNK_BYTES, 0);
    let r = s.read(&mut buf[start..]);
    let n = *r.as_ref().unwrap_or(&0);
    buf.truncate(start + n);
    r.map(|n| n > 0)
}

/// A request body read in full, or why not (answered, then the connection is closed).
fn read_body(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    kind: BodyKind,
    deadline: Instant,
) -> Result<Vec<u8>, Fail> {
    let io = |e: std::io::Error| {
        if matches!(
            e.kind(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
        ) {
            Fail::new(408, format!("the request body did not arrive in time: {e}"))
        } else {
            Fail::new(400, format!("reading the request body: {e}"))
        }
    };
    match kind {
        BodyKind::Empty => Ok(Vec::new()),
        BodyKind::Length(n) => {
            if n > BODY_BYTES_MAX as u64 {
                return Err(Fail::new(
                    413,
                    format!(
                        "request body of {n} bytes exceeds BODY_BYTES_MAX ({BODY_BYTES_MAX} bytes)"
                    ),
                ));
            }
            let n = n as usize;
            while buf.len() < n {
                if !fill_by(s, buf, deadline).map_err(io)? {
                    return Err(Fail::new(400, "connection closed inside the request body"));
                }
            }
            Ok(buf.drain(..n).collect())
        }
        BodyKind::Chunked => {
            let mut dec = ChunkedDecoder::new();
            let mut body = Vec::new();
            let mut out = vec![0u8; READ_CHUNK_BYTES];
            loop {
                let p = dec
                    .decode(buf, &mut out)
                    .map_err(|e| Fail::new(e.status(), e.to_string()))?;
                buf.drain(..p.consumed);
                if body.len() + p.written > BODY_BYTES_MAX {
                    return Err(Fail::new(
                        413,
                        format!("request body exceeds BODY_BYTES_MAX ({BODY_BYTES_MAX} bytes)"),
                    ));
                }
                body.extend_from_slice(&out[..p.written]);
                if p.done {
                    return Ok(body);
                }
                if p.consumed == 0 && p.written == 0 && !fill_by(s, buf, deadline).map_err(io)? {
                    return Err(Fail::new(400, "connection closed inside the request body"));
                }
            }
        }
    }
}

fn serve_conn(
    mut s: TcpStream,
    service: &Service,
    stopping: &AtomicBool,
    in_flight: &AtomicUsize,
    request_read: Duration,
) {
    let peer = s.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let _ = s.set_nodelay(true);
    if s.set_write_timeout(Some(Duration::from_millis(IO_TIMEOUT_MS)))
        .is_err()
    {
        return;
    }
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK_BYTES);
    loop {
        // Idle: wait up to IDLE_TIMEOUT_MS for the first byte of the next request.
        if buf.is_empty() {
            if s.set_read_timeout(Some(Duration::from_millis(IDLE_TIMEOUT_MS)))
                .is_err()
            {
                return;
            }
            match fill(&mut s, &mut buf) {
                Ok(true) => {}
                // Closed, or idle too long: nothing to answer.
                _ => return,
            }
        }
        let deadline = Instant::now() + request_read;
        let parsed = loop {
            match http::parse_request_head(&buf) {
                Ok(Some(h)) => break Ok(h),
                Ok(None) => match fill_by(&mut s, &mut buf, deadline) {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => {
                        break Err(Fail::new(
                            408,
                            format!("the request head did not arrive in time: {e}"),
                        ))
                    }
                },
                Err(e) => break Err(Fail::new(e.status(), e.to_string())),
            }
        };
        let (head, consumed) = match parsed {
            Ok(h) => h,
            Err(f) => {
                let r = error_body(&f, &Request::default());
                let _ = write_response(&mut s, r.status, &[], &r.body, true, true);
                return;
            }
        };
        if stopping.load(Ordering::Acquire) {
            let f = Fail::new(503, "AuthN is stopping");
            let r = error_body(&f, &Request::default());
            let _ = write_response(&mut s, r.status, &[], &r.body, true, true);
            return;
        }
        buf.drain(..consumed);
        in_flight.fetch_add(1, Ordering::AcqRel);
        let keep = serve_request(&mut s, &mut buf, &head, &peer, service, deadline);
        in_flight.fetch_sub(1, Ordering::AcqRel);
        if !keep || stopping.load(Ordering::Acquire) {
            let _ = s.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Read the body, answer; whether the connection may take another request.
fn serve_request(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    head: &http::RequestHead,
    peer: &str,
    service: &Service,
    deadline: Instant,
) -> bool {
    if head.expect_continue
        && head.body != BodyKind::Empty
        && s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err()
    {
        return false;
    }
    let req_for_errors = Request {
        method: &head.method,
        path: &head.path,
        remote_addr: peer,
        ..Default::default()
    };
    let body = match read_body(s, buf, head.body, deadline) {
        Ok(b) => b,
        Err(f) => {
            let r = error_body(&f, &req_for_errors);
            let _ = write_response(s, r.status, &[], &r.body, true, true);
            return false;
        }
    };
    let req = Request {
        method: &head.method,
        path: &head.path,
        authorization: head.header("authorization"),
        amz_token: head.header("x-amz-security-token"),
        remote_addr: peer,
        body: &body,
    };
    let r = service.handle(&req);
    tracing::debug!(method = %head.method, path = %head.path, status = r.status, "request");
    let close = !head.keep_alive;
    write_response(s, r.status, &r.headers, &r.body, r.json, close).is_ok() && !close
}
