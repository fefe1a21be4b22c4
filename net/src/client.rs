//! HTTP/1.1 client on glommio for load generation and tools: one [`Client`] per task (worker),
//! keep-alive connections pooled per `host:port`, redirects followed to absolute or relative
//! `Location`s, response bodies streamed through a caller [`BodySink`], and one deadline per
//! request.
//!
//! The response head parser ([`parse_response_head`]) is sans-IO (httparse underneath) and
//! decides the body framing per RFC 9112 §6.3: no body for HEAD, 1xx, 204 and 304; chunked
//! (decoded with [`crate::http::ChunkedDecoder`]); `Content-Length`; otherwise until close.
//!
//! # Invariants
//!
//! * No request pipelining: a connection carries one request at a time, and it goes back to the
//!   idle pool only when the response was read completely, the server allowed keep-alive, and
//!   no unexpected bytes followed the response. Anything else closes it.
//! * After the read buffer is allocated (once per client), a request allocates nothing in the
//!   steady state: head bytes, header offsets and the redirect target reuse their buffers, and
//!   body bytes pass through the read buffer to the sink. Object-sized buffers never exist.
//! * Every socket operation has a deadline: each read, write and connect is bounded by what is
//!   left of the request's deadline, so a request never outlives it by more than one timer tick.
//! * Nothing a server sends is `unwrap`ped; malformed heads, framing and `Location`s are
//!   [`ClientError::Protocol`] / [`ClientError::BadLocation`].
//!
//! # What it does not do
//!
//! * `https://` (and `https://` redirects) through [`crate::tls`]: the request's
//!   [`ClientConfig::tls`], else the process's [`crate::tls::default_client`]; pooled
//!   connections are keyed by scheme and authority, so a TLS session is reused like a plain one.
//! * No HTTP/2, no proxies, no cookies, no content codings.
//! * Name resolution uses the blocking resolver once per `host:port` per client, then caches the
//!   address; IP literals (what AIS puts into redirects) never block.
//! * No retries except one: a request that fails on a *reused* idle connection before any byte
//!   of the response arrived is re-sent once on a new connection (the server may have closed the
//!   idle connection; this is what every keep-alive client must do).

use crate::http::ChunkedDecoder;
use crate::tls::{ClientTls, Stream, TlsStream};
use glommio::net::TcpStream;
use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Maximum size in bytes of a response head (status line, header fields, final empty line).
pub const RESPONSE_HEAD_BYTES_MAX: usize = 32 * 1024;
/// Maximum number of header fields in a response head.
pub const RESPONSE_HEADER_COUNT_MAX: usize = 100;
/// Maximum number of redirects followed for one request.
pub const REDIRECTS_MAX: u32 = 8;
/// Idle keep-alive connections kept per `host:port` (a worker issues one request at a time, so
/// more than one is rarely useful).
pub const IDLE_CONNS_PER_ENDPOINT_MAX: usize = 4;
/// Distinct `host:port` endpoints remembered per client (addresses and idle connections).
pub const ENDPOINTS_MAX: usize = 64;
/// Default read buffer per client.
pub const READ_BUFFER_BYTES_DEFAULT: usize = 64 * 1024;
/// Smallest allowed read buffer: a response head must fit.
pub const READ_BUFFER_BYTES_MIN: usize = RESPONSE_HEAD_BYTES_MAX;
/// Request bodies up to this size are copied behind the head and sent with one write; larger
/// bodies are written from the caller's slices without copying.
pub const COALESCE_BODY_BYTES_MAX: usize = 16 * 1024;

const _: () = assert!(READ_BUFFER_BYTES_DEFAULT >= READ_BUFFER_BYTES_MIN);
const _: () = assert!(RESPONSE_HEAD_BYTES_MAX <= READ_BUFFER_BYTES_MIN);

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a request failed. [`ClientError::kind`] gives a short stable label for counting.
#[derive(Debug)]
pub enum ClientError {
    /// The URL is not `http[s]://host[:port][/path]`.
    BadUrl(String),
    /// `host:port` did not resolve.
    Resolve { authority: String, error: String },
    /// Connecting failed (refused, unreachable, ...).
    Connect { authority: String, error: io::Error },
    /// The request deadline passed; `what` names the step that was waiting.
    Timeout { what: &'static str },
    /// Socket error after connecting.
    Io {
        what: &'static str,
        error: io::Error,
    },
    /// The server closed the connection before a complete response head.
    Closed,
    /// The server closed the connection in the middle of a `Content-Length` or chunked body.
    ShortBody {
        expected: Option<u64>,
        received: u64,
    },
    /// The response violates HTTP/1.1 (head, framing, chunked encoding).
    Protocol(String),
    /// A redirect had no usable `Location`.
    BadLocation(String),
    /// More than [`REDIRECTS_MAX`] redirects.
    TooManyRedirects { last_location: String },
    /// The TLS handshake failed (untrusted certificate, refused client certificate, not a TLS
    /// server), or `https://` without TLS client settings.
    Tls { authority: String, error: String },
}

impl ClientError {
    /// Short label: `connect`, `resolve`, `timeout`, `io`, `closed`, `short-body`, `protocol`,
    /// `redirect`, `bad-url`.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientError::BadUrl(_) => "bad-url",
            ClientError::Resolve { .. } => "resolve",
            ClientError::Connect { .. } => "connect",
            ClientError::Timeout { .. } => "timeout",
            ClientError::Io { .. } => "io",
            ClientError::Closed => "closed",
            ClientError::ShortBody { .. } => "short-body",
            ClientError::Protocol(_) => "protocol",
            ClientError::BadLocation(_) | ClientError::TooManyRedirects { .. } => "redirect",
            ClientError::Tls { .. } => "tls",
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::BadUrl(u) => {
                write!(
                    f,
                    "invalid URL {u:?}: expected http[s]://host[:port][/path]"
                )
            }
            ClientError::Resolve { authority, error } => {
                write!(f, "cannot resolve {authority}: {error}")
            }
            ClientError::Connect { authority, error } => {
                write!(f, "cannot connect to {authority}: {error}")
            }
            ClientError::Timeout { what } => write!(f, "request deadline passed while {what}"),
            ClientError::Io { what, error } => write!(f, "i/o error while {what}: {error}"),
            ClientError::Closed => write!(f, "server closed the connection before a response"),
            ClientError::ShortBody {
                expected: Some(n),
                received,
            } => write!(
                f,
                "server closed the connection after {received} of {n} body bytes"
            ),
            ClientError::ShortBody {
                expected: None,
                received,
            } => write!(
                f,
                "server closed the connection inside a chunked body after {received} bytes"
            ),
            ClientError::Protocol(m) => write!(f, "invalid HTTP response: {m}"),
            ClientError::BadLocation(m) => write!(f, "unusable redirect: {m}"),
            ClientError::Tls { authority, error } => {
                write!(f, "TLS with {authority} failed: {error}")
            }
            ClientError::TooManyRedirects { last_location } => write!(
                f,
                "more than REDIRECTS_MAX ({REDIRECTS_MAX}) redirects, last to {last_location}"
            ),
        }
    }
}

impl std::error::Error for ClientError {}

// ---------------------------------------------------------------------------------------------
// URLs
// ---------------------------------------------------------------------------------------------

/// Where requests go: host, port and whether it speaks TLS (`https`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// `host:port` as sent in `Host` (IPv6 in brackets); with `tls`, the connection-pool key.
    pub authority: String,
    /// `https`.
    pub tls: bool,
}

impl Endpoint {
    /// An `https` endpoint.
    pub fn with_tls(mut self, tls: bool) -> Endpoint {
        self.tls = tls;
        self
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }

    pub fn new(host: &str, port: u16) -> Endpoint {
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Endpoint {
            host: host.to_owned(),
            port,
            authority,
            tls: false,
        }
    }

    /// Parse `host`, `host:port`, `[v6]` or `[v6]:port` (port defaults to 80).
    pub fn parse_authority(authority: &str) -> Result<Endpoint, ClientError> {
        let bad = || ClientError::BadUrl(authority.to_owned());
        let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
            let (h, after) = rest.split_once(']').ok_or_else(bad)?;
            match after {
                "" => (h, 80),
                p => (
                    h,
                    p.strip_prefix(':')
                        .and_then(|p| p.parse::<u16>().ok())
                        .ok_or_else(bad)?,
                ),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad())?),
                None => (authority, 80),
            }
        };
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'));
        if !host_ok || port == 0 {
            return Err(bad());
        }
        Ok(Endpoint::new(host, port))
    }
}

/// Split `http[s]://authority/target` into the endpoint and the request target (`/` if absent).
pub fn parse_http_url(url: &str) -> Result<(Endpoint, String), ClientError> {
    let (tls, rest) = match strip_prefix_ignore_case(url, "http://") {
        Some(r) => (false, r),
        None => (
            true,
            strip_prefix_ignore_case(url, "https://")
                .ok_or_else(|| ClientError::BadUrl(url.to_owned()))?,
        ),
    };
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(split);
    let endpoint = Endpoint::parse_authority(authority)
        .map_err(|_| ClientError::BadUrl(url.to_owned()))?
        .with_tls(tls);
    let target = match target {
        "" => "/".to_owned(),
        t if t.starts_with('?') => format!("/{t}"),
        t => t.to_owned(),
    };
    Ok((endpoint, target))
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

// ---------------------------------------------------------------------------------------------
// Response head (sans-IO)
// ---------------------------------------------------------------------------------------------

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (HEAD request, 1xx, 204, 304).
    None,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: the body ends when the server closes the connection.
    UntilClose,
}

/// A parsed response head. Reused across requests: [`parse_response_head`] overwrites it
/// without reallocating once its buffers have grown.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    pub status: u16,
    /// `0` for HTTP/1.0, `1` for HTTP/1.1.
    pub minor_version: u8,
    pub framing: Framing,
    /// The server allows another request on this connection.
    pub keep_alive: bool,
    raw: Vec<u8>,
    /// Offsets into `raw`: (name start, name end, value start, value end).
    fields: Vec<[u32; 4]>,
}

impl Default for ResponseHead {
    fn default() -> Self {
        ResponseHead {
            status: 0,
            minor_version: 1,
            framing: Framing::None,
            keep_alive: false,
            raw: Vec::new(),
            fields: Vec::new(),
        }
    }
}

impl ResponseHead {
    /// Value of the first header field named `name` (ASCII case-insensitive), trimmed; `None`
    /// if absent or not UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// All header fields in order of arrival (fields with non-UTF-8 bytes are skipped).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.fields.iter().filter_map(|[ns, ne, vs, ve]| {
            let name = std::str::from_utf8(self.raw.get(*ns as usize..*ne as usize)?).ok()?;
            let value = std::str::from_utf8(self.raw.get(*vs as usize..*ve as usize)?).ok()?;
            Some((name, value.trim_matches([' ', '\t'])))
        })
    }

    /// `Content-Length` of a [`Framing::Length`] response.
    pub fn content_length(&self) -> Option<u64> {
        match self.framing {
            Framing::Length(n) => Some(n),
            _ => None,
        }
    }

    pub fn is_redirect(&self) -> bool {
        matches!(self.status, 301 | 302 | 303 | 307 | 308)
    }
}

/// Parse a response head at the start of `buf` into `head`.
///
/// `request_was_head`: the request method was HEAD (its response never has a body). Returns
/// `Ok(None)` when more bytes are needed, `Ok(Some(consumed))` with the head length (body bytes
/// start at `buf[consumed..]`), or an error. Interim 1xx responses are returned like any other;
/// the caller skips them.
pub fn parse_response_head(
    buf: &[u8],
    head: &mut ResponseHead,
    request_was_head: bool,
) -> Result<Option<usize>, ClientError> {
    let window = &buf[..buf.len().min(RESPONSE_HEAD_BYTES_MAX)];
    let mut slots = [httparse::EMPTY_HEADER; RESPONSE_HEADER_COUNT_MAX];
    let mut resp = httparse::Response::new(&mut slots);
    let consumed = match resp.parse(window) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= RESPONSE_HEAD_BYTES_MAX => {
            return Err(ClientError::Protocol(format!(
                "response head exceeds RESPONSE_HEAD_BYTES_MAX ({RESPONSE_HEAD_BYTES_MAX} bytes)"
            )))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ClientError::Protocol(format!(
                "more than RESPONSE_HEADER_COUNT_MAX ({RESPONSE_HEADER_COUNT_MAX}) header fields"
            )))
        }
        Err(e) => return Err(ClientError::Protocol(format!("bad response head: {e}"))),
    };
    let (Some(status), Some(minor)) = (resp.code, resp.version) else {
        return Err(ClientError::Protocol("incomplete status line".to_owned()));
    };
    if !(100..=999).contains(&status) {
        return Err(ClientError::Protocol(format!(
            "status {status} is not 3 digits"
        )));
    }
    head.status = status;
    head.minor_version = minor;
    head.raw.clear();
    head.raw.extend_from_slice(&buf[..consumed]);
    head.fields.clear();
    let base = buf.as_ptr() as usize;
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut other_coding = false;
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    for h in resp.headers.iter() {
        // httparse hands out sub-slices of `buf`; their offsets fit in u32 because the head is
        // at most RESPONSE_HEAD_BYTES_MAX long.
        let ns = h.name.as_ptr() as usize - base;
        let vs = h.value.as_ptr() as usize - base;
        head.fields.push([
            ns as u32,
            (ns + h.name.len()) as u32,
            vs as u32,
            (vs + h.value.len()) as u32,
        ]);
        let value = trim_ows(h.value);
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = parse_content_length(value)?;
            if content_length.is_some_and(|prev| prev != n) {
                return Err(ClientError::Protocol(
                    "conflicting Content-Length values".to_owned(),
                ));
            }
            content_length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            for coding in value.split(|&b| b == b',') {
                let coding = trim_ows(coding);
                if coding.is_empty() {
                    continue;
                }
                // Only the last coding decides; "chunked" must be last if present.
                chunked = coding.eq_ignore_ascii_case(b"chunked");
                other_coding |= !chunked;
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in value.split(|&b| b == b',') {
                let token = trim_ows(token);
                conn_close |= token.eq_ignore_ascii_case(b"close");
                conn_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    head.keep_alive = if minor >= 1 {
        !conn_close
    } else {
        conn_keep_alive && !conn_close
    };
    head.framing =
        if request_was_head || (100..200).contains(&status) || status == 204 || status == 304 {
            Framing::None
        } else if chunked {
            if content_length.is_some() {
                // RFC 9112 §6.3: Transfer-Encoding wins, and the connection must not be reused.
                head.keep_alive = false;
            }
            Framing::Chunked
        } else if other_coding {
            head.keep_alive = false;
            Framing::UntilClose
        } else if let Some(n) = content_length {
            Framing::Length(n)
        } else {
            head.keep_alive = false;
            Framing::UntilClose
        };
    Ok(Some(consumed))
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn parse_content_length(v: &[u8]) -> Result<u64, ClientError> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return Err(ClientError::Protocol(format!(
            "invalid Content-Length {:?}",
            String::from_utf8_lossy(v)
        )));
    }
    Ok(v.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

// ---------------------------------------------------------------------------------------------
// Requests, sinks, signers
// ---------------------------------------------------------------------------------------------

/// Write an HTTP/1.1 request head (`Host`, the given headers, `Content-Length`) for callers
/// that stream a body of known length over a connection of their own (rebalance transfers).
/// Header names and values must not contain CR or LF (asserted: they come from our code).
pub fn write_request_head(
    out: &mut Vec<u8>,
    method: &str,
    authority: &str,
    target: &str,
    headers: &[(&str, &str)],
    content_length: u64,
) {
    for (name, value) in headers {
        assert!(
            !name.contains(['\r', '\n']) && !value.contains(['\r', '\n']),
            "CR/LF in request header {name:?}"
        );
    }
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(authority.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Length: ");
    push_decimal(out, content_length);
    out.extend_from_slice(b"\r\n\r\n");
}

/// One request. `target` is the origin-form request target (`/path?query`), already
/// percent-encoded. `body` slices are sent in order; `Content-Length` is their total length.
pub struct Request<'a> {
    pub method: &'a str,
    pub endpoint: &'a Endpoint,
    pub target: &'a str,
    /// Extra header fields (not `Host` or `Content-Length`, which the client writes).
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [&'a [u8]],
}

/// Receives the final (non-redirect) response: the head first, then the body in pieces.
pub trait BodySink {
    fn head(&mut self, _head: &ResponseHead) {}
    fn data(&mut self, bytes: &[u8]);
}

/// Discards the body.
pub struct Discard;

impl BodySink for Discard {
    fn data(&mut self, _bytes: &[u8]) {}
}

/// Collects the body up to `limit_bytes` (the rest is counted, not kept).
pub struct Collect {
    pub body: Vec<u8>,
    pub limit_bytes: usize,
    pub truncated: bool,
}

impl Collect {
    pub fn new(limit_bytes: usize) -> Collect {
        Collect {
            body: Vec::new(),
            limit_bytes,
            truncated: false,
        }
    }
}

impl BodySink for Collect {
    fn data(&mut self, bytes: &[u8]) {
        let room = self.limit_bytes.saturating_sub(self.body.len());
        if bytes.len() > room {
            self.truncated = true;
        }
        self.body.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

/// Adds per-hop header lines (e.g. an AWS SigV4 `Authorization`), called for the first request
/// and again for every redirect with that hop's method, authority and target.
pub trait HopSigner {
    /// Append complete header lines (`Name: value\r\n`) to `out`.
    fn sign(&mut self, method: &str, authority: &str, target: &str, out: &mut Vec<u8>);
}

/// Adds nothing.
pub struct Unsigned;

impl HopSigner for Unsigned {
    fn sign(&mut self, _: &str, _: &str, _: &str, _: &mut Vec<u8>) {}
}

/// Adds `Authorization: Bearer <token>` (an AIS AuthN token) when there is one.
pub struct Bearer(pub Option<String>);

impl HopSigner for Bearer {
    fn sign(&mut self, _: &str, _: &str, _: &str, out: &mut Vec<u8>) {
        if let Some(t) = &self.0 {
            crate::http::push_header_line(out, "Authorization", &format!("Bearer {t}"));
        }
    }
}

/// An AuthN token as a file holds it: AuthN's JSON `{"token": "..."}` or the bare token.
pub fn parse_token_file(text: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct TokenMsg {
        token: String,
    }
    let t = match serde_json::from_str::<TokenMsg>(text) {
        Ok(m) => m.token,
        Err(_) => text.trim().to_owned(),
    };
    (!t.is_empty() && !t.contains(char::is_whitespace)).then_some(t)
}

/// Outcome of [`Client::execute`]: the final response's status (the head is in
/// [`Client::head`]).
#[derive(Debug, Clone, Copy)]
pub struct Response {
    pub status: u16,
    /// Redirects followed.
    pub redirects: u32,
    /// When the final response head was complete (time to first byte).
    pub head_at: Instant,
    /// Body bytes delivered to the sink.
    pub body_bytes: u64,
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Read buffer size (at least [`READ_BUFFER_BYTES_MIN`]).
    pub read_buffer_bytes: usize,
    /// Follow 301/302/303/307/308.
    pub follow_redirects: bool,
    /// `User-Agent` sent with every request (empty: none).
    pub user_agent: String,
    /// Send `Expect: 100-continue` with request bodies of at least this many bytes and send the
    /// body only after `100 Continue` (or after [`EXPECT_CONTINUE_WAIT`] without an answer, as
    /// RFC 9110 10.1.1 allows). A redirect that comes instead is followed without the body
    /// having crossed the network: an AIS proxy answers a PUT's 307 before reading the body.
    /// The hop after a redirect sends its body at once (no second wait).
    /// `None`: never.
    pub expect_continue_min_bytes: Option<u64>,
    /// TLS settings for `https://` endpoints; `None`: the process's
    /// [`crate::tls::default_client`].
    pub tls: Option<ClientTls>,
}

/// How long a request with `Expect: 100-continue` waits for the server's interim answer before
/// sending its body anyway (a server or proxy that ignores the expectation).
pub const EXPECT_CONTINUE_WAIT: Duration = Duration::from_secs(1);

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            read_buffer_bytes: READ_BUFFER_BYTES_DEFAULT,
            follow_redirects: true,
            user_agent: String::new(),
            expect_continue_min_bytes: None,
            tls: None,
        }
    }
}

struct EndpointState {
    authority: String,
    tls: bool,
    host: String,
    port: u16,
    /// Resolved addresses; the first one connected last time.
    addrs: Vec<SocketAddr>,
    idle: Vec<Stream>,
}

/// An HTTP/1.1 client owned by one task. Not `Send`: it lives on one glommio executor.
pub struct Client {
    cfg: ClientConfig,
    endpoints: Vec<EndpointState>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Output buffer for chunked decoding (allocated on the first chunked response).
    scratch: Vec<u8>,
    wbuf: Vec<u8>,
    head: ResponseHead,
    location: String,
    hop_target: String,
    connects: u64,
}

/// Where the current hop goes.
struct Hop<'a> {
    method: &'a str,
    endpoint: usize,
    body: &'a [&'a [u8]],
    body_len: u64,
    /// The hop follows a redirect: its server is where the body goes, so it is sent without
    /// waiting for `100 Continue` (that wait would only add a round trip).
    redirected: bool,
}

/// A hop that failed on a reused connection before any response byte: safe to retry.
enum HopError {
    Retryable(ClientError),
    Fatal(ClientError),
}

impl Client {
    pub fn new(mut cfg: ClientConfig) -> Client {
        cfg.read_buffer_bytes = cfg.read_buffer_bytes.max(READ_BUFFER_BYTES_MIN);
        Client {
            buf: vec![0; cfg.read_buffer_bytes],
            cfg,
            endpoints: Vec::new(),
            start: 0,
            end: 0,
            scratch: Vec::new(),
            wbuf: Vec::with_capacity(1024 + COALESCE_BODY_BYTES_MAX),
            head: ResponseHead::default(),
            location: String::new(),
            hop_target: String::new(),
            connects: 0,
        }
    }

    /// The head of the last final response.
    pub fn head(&self) -> &ResponseHead {
        &self.head
    }

    /// Connections opened so far (keep-alive effectiveness).
    pub fn connects(&self) -> u64 {
        self.connects
    }

    /// Idle connections currently pooled.
    pub fn idle_connections(&self) -> usize {
        self.endpoints.iter().map(|e| e.idle.len()).sum()
    }

    /// Send `req`, follow redirects (re-sending the body except after 303), and stream the
    /// final response's body into `sink`. Fails with [`ClientError::Timeout`] once `deadline`
    /// passes. An HTTP error status is a successful exchange: check [`Response::status`].
    pub async fn execute<K: BodySink, S: HopSigner>(
        &mut self,
        req: &Request<'_>,
        signer: &mut S,
        sink: &mut K,
        deadline: Instant,
    ) -> Result<Response, ClientError> {
        let mut endpoint = self.endpoint_id(req.endpoint);
        let mut method = req.method;
        let mut body = req.body;
        let body_len: u64 = body.iter().map(|b| b.len() as u64).sum();
        let mut body_len_hop = body_len;
        let mut target = std::mem::take(&mut self.hop_target);
        target.clear();
        target.push_str(req.target);
        let mut redirects = 0u32;
        let result = loop {
            let hop = Hop {
                method,
                endpoint,
                body,
                body_len: body_len_hop,
                redirected: redirects > 0,
            };
            let final_hop = !self.cfg.follow_redirects;
            let r = match self
                .exchange(
                    &hop,
                    &target,
                    req.headers,
                    signer,
                    sink,
                    deadline,
                    final_hop,
                )
                .await
            {
                Ok(r) => r,
                Err(e) => break Err(e),
            };
            let Some(resp) = r else {
                // A redirect: its body was drained and `self.location` holds the Location.
                redirects += 1;
                if redirects > REDIRECTS_MAX {
                    break Err(ClientError::TooManyRedirects {
                        last_location: self.location.clone(),
                    });
                }
                if self.head.status == 303 && method != "HEAD" {
                    method = "GET";
                    body = &[];
                    body_len_hop = 0;
                }
                match self.follow_location(endpoint, &mut target) {
                    Ok(id) => endpoint = id,
                    Err(e) => break Err(e),
                }
                continue;
            };
            break Ok(Response { redirects, ..resp });
        };
        self.hop_target = target;
        result
    }

    /// One request/response exchange, with one retry on a stale pooled connection. Returns
    /// `Ok(None)` for a redirect to follow.
    #[allow(clippy::too_many_arguments)]
    async fn exchange<K: BodySink, S: HopSigner>(
        &mut self,
        hop: &Hop<'_>,
        target: &str,
        headers: &[(&str, &str)],
        signer: &mut S,
        sink: &mut K,
        deadline: Instant,
        final_hop: bool,
    ) -> Result<Option<Response>, ClientError> {
        let mut tried_fresh = false;
        loop {
            let (stream, reused) = match self.endpoints[hop.endpoint].idle.pop() {
                Some(s) if !tried_fresh => (s, true),
                _ => (self.connect(hop.endpoint, deadline).await?, false),
            };
            match self
                .exchange_on(
                    stream, reused, hop, target, headers, signer, sink, deadline, final_hop,
                )
                .await
            {
                Ok(r) => return Ok(r),
                Err(HopError::Retryable(_)) if reused => {
                    tried_fresh = true;
                    continue;
                }
                Err(HopError::Retryable(e) | HopError::Fatal(e)) => return Err(e),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn exchange_on<K: BodySink, S: HopSigner>(
        &mut self,
        mut stream: Stream,
        reused: bool,
        hop: &Hop<'_>,
        target: &str,
        headers: &[(&str, &str)],
        signer: &mut S,
        sink: &mut K,
        deadline: Instant,
        final_hop: bool,
    ) -> Result<Option<Response>, HopError> {
        let expect = hop.body_len > 0
            && !hop.redirected
            && self
                .cfg
                .expect_continue_min_bytes
                .is_some_and(|min| hop.body_len >= min);
        self.build_head(hop, target, headers, signer, expect);
        self.start = 0;
        self.end = 0;
        let mut force_close = false;
        if expect {
            match self.await_continue(&mut stream, deadline).await {
                Ok(true) => {}
                Ok(false) => {
                    // A final answer before the body was sent (a redirect, an error): the body
                    // stays unsent, so this connection cannot carry another request.
                    force_close = true;
                    return self
                        .finish_exchange(stream, hop, sink, deadline, final_hop, force_close)
                        .await;
                }
                Err(e @ (ClientError::Closed | ClientError::Io { .. })) if reused => {
                    return Err(HopError::Retryable(e))
                }
                Err(e) => return Err(HopError::Fatal(e)),
            }
            self.wbuf.clear();
        }
        // Write the request. If the server answers early and closes (e.g. an error before
        // reading a large body), a write error is not the end: its response may be readable.
        let write_result = self.write_request(&mut stream, hop, deadline).await;
        if let Err(e) = write_result {
            if matches!(e, ClientError::Timeout { .. }) {
                return Err(HopError::Fatal(e));
            }
            force_close = true;
            match self
                .read_head(&mut stream, hop.method == "HEAD", deadline)
                .await
            {
                Ok(()) => {}
                Err(_) if reused => return Err(HopError::Retryable(e)),
                Err(_) => return Err(HopError::Fatal(e)),
            }
        } else {
            match self
                .read_head(&mut stream, hop.method == "HEAD", deadline)
                .await
            {
                Ok(()) => {}
                Err(e @ (ClientError::Closed | ClientError::Io { .. }))
                    if reused && self.end == 0 =>
                {
                    return Err(HopError::Retryable(e))
                }
                Err(e) => return Err(HopError::Fatal(e)),
            }
        }
        self.finish_exchange(stream, hop, sink, deadline, final_hop, force_close)
            .await
    }

    /// After `Expect: 100-continue`, send the head alone and wait for the interim answer:
    /// `Ok(true)` to send the body (100 Continue, or no answer within
    /// [`EXPECT_CONTINUE_WAIT`]), `Ok(false)` when a final response head is already in
    /// `self.head`.
    async fn await_continue(
        &mut self,
        stream: &mut Stream,
        deadline: Instant,
    ) -> Result<bool, ClientError> {
        write_all(stream, &self.wbuf, deadline).await?;
        let wait_until = deadline.min(Instant::now() + EXPECT_CONTINUE_WAIT);
        loop {
            if self.start < self.end {
                if let Some(used) =
                    parse_response_head(&self.buf[self.start..self.end], &mut self.head, false)?
                {
                    self.start += used;
                    match self.head.status {
                        100 => return Ok(true),
                        101 => {
                            return Err(ClientError::Protocol(
                                "unexpected 101 Switching Protocols".to_owned(),
                            ))
                        }
                        102..=199 => continue,
                        _ => return Ok(false),
                    }
                }
            }
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                return Err(ClientError::Protocol(
                    "response head does not fit the read buffer".to_owned(),
                ));
            }
            let n = match read_some(
                stream,
                &mut self.buf[self.end..],
                wait_until,
                "waiting for 100 Continue",
            )
            .await
            {
                Ok(n) => n,
                // No interim answer in time and nothing half-read: send the body anyway.
                Err(ClientError::Timeout { .. }) if self.end == 0 && Instant::now() < deadline => {
                    return Ok(true)
                }
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Err(if self.end == 0 {
                    ClientError::Closed
                } else {
                    ClientError::Protocol("connection closed inside the response head".to_owned())
                });
            }
            self.end += n;
        }
    }

    /// The part of an exchange after the final response head is in `self.head`: follow a
    /// redirect (`Ok(None)`) or stream the body into `sink`.
    async fn finish_exchange<K: BodySink>(
        &mut self,
        mut stream: Stream,
        hop: &Hop<'_>,
        sink: &mut K,
        deadline: Instant,
        final_hop: bool,
        force_close: bool,
    ) -> Result<Option<Response>, HopError> {
        let head_at = Instant::now();
        let redirect = self.cfg.follow_redirects && !final_hop && self.head.is_redirect();
        let body_bytes;
        if redirect {
            self.location.clear();
            match self.head.header("location") {
                Some(l) if !l.is_empty() => self.location.push_str(l),
                _ => {
                    return Err(HopError::Fatal(ClientError::BadLocation(format!(
                        "status {} without Location",
                        self.head.status
                    ))))
                }
            }
            self.read_body(&mut stream, &mut Discard, deadline)
                .await
                .map_err(HopError::Fatal)?;
        } else {
            sink.head(&self.head);
            body_bytes = self
                .read_body(&mut stream, sink, deadline)
                .await
                .map_err(HopError::Fatal)?;
            self.release(hop.endpoint, stream, force_close);
            return Ok(Some(Response {
                status: self.head.status,
                redirects: 0,
                head_at,
                body_bytes,
            }));
        }
        self.release(hop.endpoint, stream, force_close);
        Ok(None)
    }

    /// Return `stream` to the idle pool if the exchange left it clean and reusable.
    fn release(&mut self, endpoint: usize, stream: Stream, force_close: bool) {
        let clean = !force_close
            && self.head.keep_alive
            && self.head.framing != Framing::UntilClose
            && self.start == self.end;
        let ep = &mut self.endpoints[endpoint];
        if clean && ep.idle.len() < IDLE_CONNS_PER_ENDPOINT_MAX {
            ep.idle.push(stream);
        }
    }

    fn build_head<S: HopSigner>(
        &mut self,
        hop: &Hop<'_>,
        target: &str,
        headers: &[(&str, &str)],
        signer: &mut S,
        expect_continue: bool,
    ) {
        let w = &mut self.wbuf;
        w.clear();
        let ep = &self.endpoints[hop.endpoint];
        w.extend_from_slice(hop.method.as_bytes());
        w.push(b' ');
        w.extend_from_slice(target.as_bytes());
        w.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        w.extend_from_slice(ep.authority.as_bytes());
        w.extend_from_slice(b"\r\n");
        if !self.cfg.user_agent.is_empty() {
            w.extend_from_slice(b"User-Agent: ");
            w.extend_from_slice(self.cfg.user_agent.as_bytes());
            w.extend_from_slice(b"\r\n");
        }
        for (name, value) in headers {
            // CR/LF (an object name or metadata value gone wrong) must not split the head.
            crate::http::push_header_line(w, name, value);
        }
        let sends_length = hop.body_len > 0 || matches!(hop.method, "PUT" | "POST" | "PATCH");
        if sends_length {
            w.extend_from_slice(b"Content-Length: ");
            push_decimal(w, hop.body_len);
            w.extend_from_slice(b"\r\n");
        }
        if expect_continue {
            w.extend_from_slice(b"Expect: 100-continue\r\n");
        }
        signer.sign(hop.method, &ep.authority, target, w);
        w.extend_from_slice(b"\r\n");
    }

    async fn write_request(
        &mut self,
        stream: &mut Stream,
        hop: &Hop<'_>,
        deadline: Instant,
    ) -> Result<(), ClientError> {
        if hop.body_len as usize <= COALESCE_BODY_BYTES_MAX {
            for b in hop.body {
                self.wbuf.extend_from_slice(b);
            }
            return write_all(stream, &self.wbuf, deadline).await;
        }
        write_all(stream, &self.wbuf, deadline).await?;
        for b in hop.body {
            if !b.is_empty() {
                write_all(stream, b, deadline).await?;
            }
        }
        Ok(())
    }

    /// Read and parse the next final response head (skipping 1xx) into `self.head`; body bytes
    /// that arrived with it stay in `buf[start..end]`.
    async fn read_head(
        &mut self,
        stream: &mut Stream,
        request_was_head: bool,
        deadline: Instant,
    ) -> Result<(), ClientError> {
        loop {
            if self.start < self.end {
                if let Some(used) = parse_response_head(
                    &self.buf[self.start..self.end],
                    &mut self.head,
                    request_was_head,
                )? {
                    self.start += used;
                    if (100..200).contains(&self.head.status) {
                        if self.head.status == 101 {
                            return Err(ClientError::Protocol(
                                "unexpected 101 Switching Protocols".to_owned(),
                            ));
                        }
                        continue;
                    }
                    return Ok(());
                }
            }
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                return Err(ClientError::Protocol(
                    "response head does not fit the read buffer".to_owned(),
                ));
            }
            let n = read_some(
                stream,
                &mut self.buf[self.end..],
                deadline,
                "reading response head",
            )
            .await?;
            if n == 0 {
                return Err(if self.end == 0 {
                    ClientError::Closed
                } else {
                    ClientError::Protocol("connection closed inside the response head".to_owned())
                });
            }
            self.end += n;
        }
    }

    /// Stream the body of `self.head` into `sink`; returns the number of body bytes.
    async fn read_body<K: BodySink>(
        &mut self,
        stream: &mut Stream,
        sink: &mut K,
        deadline: Instant,
    ) -> Result<u64, ClientError> {
        match self.head.framing {
            Framing::None => Ok(0),
            Framing::Length(total) => {
                let mut received = 0u64;
                while received < total {
                    if self.start == self.end {
                        let want = usize::try_from(total - received)
                            .map_or(self.buf.len(), |w| w.min(self.buf.len()));
                        let n = read_some(
                            stream,
                            &mut self.buf[..want],
                            deadline,
                            "reading response body",
                        )
                        .await?;
                        if n == 0 {
                            return Err(ClientError::ShortBody {
                                expected: Some(total),
                                received,
                            });
                        }
                        self.start = 0;
                        self.end = n;
                    }
                    let avail = (self.end - self.start) as u64;
                    let take = avail.min(total - received) as usize;
                    sink.data(&self.buf[self.start..self.start + take]);
                    self.start += take;
                    received += take as u64;
                }
                Ok(received)
            }
            Framing::UntilClose => {
                let mut received = (self.end - self.start) as u64;
                if self.start < self.end {
                    sink.data(&self.buf[self.start..self.end]);
                }
                self.start = 0;
                self.end = 0;
                loop {
                    let n =
                        read_some(stream, &mut self.buf, deadline, "reading response body").await?;
                    if n == 0 {
                        return Ok(received);
                    }
                    sink.data(&self.buf[..n]);
                    received += n as u64;
                }
            }
            Framing::Chunked => {
                if self.scratch.len() != self.buf.len() {
                    self.scratch = vec![0; self.buf.len()];
                }
                let mut decoder = ChunkedDecoder::new();
                let mut received = 0u64;
                loop {
                    if self.start < self.end {
                        let p = decoder
                            .decode(&self.buf[self.start..self.end], &mut self.scratch)
                            .map_err(|e| ClientError::Protocol(e.to_string()))?;
                        self.start += p.consumed;
                        if p.written > 0 {
                            sink.data(&self.scratch[..p.written]);
                            received += p.written as u64;
                        }
                        if p.done {
                            return Ok(received);
                        }
                        if p.consumed > 0 || p.written > 0 {
                            continue;
                        }
                    }
                    if self.start > 0 {
                        self.buf.copy_within(self.start..self.end, 0);
                        self.end -= self.start;
                        self.start = 0;
                    }
                    let n = read_some(
                        stream,
                        &mut self.buf[self.end..],
                        deadline,
                        "reading chunked body",
                    )
                    .await?;
                    if n == 0 {
                        return Err(ClientError::ShortBody {
                            expected: None,
                            received,
                        });
                    }
                    self.end += n;
                }
            }
        }
    }

    fn endpoint_id(&mut self, ep: &Endpoint) -> usize {
        if let Some(i) = self
            .endpoints
            .iter()
            .position(|e| e.authority == ep.authority && e.tls == ep.tls)
        {
            return i;
        }
        self.insert_endpoint(ep.clone())
    }

    fn insert_endpoint(&mut self, ep: Endpoint) -> usize {
        if self.endpoints.len() >= ENDPOINTS_MAX {
            // Forget the oldest endpoint (its idle connections close).
            self.endpoints.remove(0);
        }
        self.endpoints.push(EndpointState {
            authority: ep.authority,
            tls: ep.tls,
            host: ep.host,
            port: ep.port,
            addrs: Vec::new(),
            idle: Vec::new(),
        });
        self.endpoints.len() - 1
    }

    /// Resolve `self.location` against the current hop; writes the new target and returns the
    /// endpoint id.
    fn follow_location(
        &mut self,
        current: usize,
        target: &mut String,
    ) -> Result<usize, ClientError> {
        let loc = std::mem::take(&mut self.location);
        let result = self.resolve_location(current, &loc, target);
        self.location = loc;
        result
    }

    fn resolve_location(
        &mut self,
        current: usize,
        loc: &str,
        target: &mut String,
    ) -> Result<usize, ClientError> {
        if loc.starts_with('/') && !loc.starts_with("//") {
            target.clear();
            target.push_str(loc);
            return Ok(current);
        }
        let (tls, rest) = if let Some(r) = strip_prefix_ignore_case(loc, "http://") {
            (false, r)
        } else if let Some(r) = strip_prefix_ignore_case(loc, "https://") {
            (true, r)
        } else {
            return Err(ClientError::BadLocation(format!(
                "Location {loc:?} is neither http(s):// nor an absolute path"
            )));
        };
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        target.clear();
        if !path.starts_with('/') {
            target.push('/');
        }
        target.push_str(path);
        if let Some(i) = self
            .endpoints
            .iter()
            .position(|e| e.tls == tls && e.authority.eq_ignore_ascii_case(authority))
        {
            return Ok(i);
        }
        let ep = Endpoint::parse_authority(authority)
            .map_err(|_| ClientError::BadLocation(format!("Location {loc:?} has a bad host:port")))?
            .with_tls(tls);
        if let Some(i) = self
            .endpoints
            .iter()
            .position(|e| e.authority == ep.authority && e.tls == ep.tls)
        {
            return Ok(i);
        }
        Ok(self.insert_endpoint(ep))
    }

    async fn connect(&mut self, endpoint: usize, deadline: Instant) -> Result<Stream, ClientError> {
        let ep = &mut self.endpoints[endpoint];
        if ep.addrs.is_empty() {
            ep.addrs = resolve_addrs(&ep.host, ep.port, &ep.authority)?;
        }
        let (s, i) = connect_any(&ep.addrs, &ep.authority, deadline).await?;
        // Try the address that worked first next time.
        ep.addrs.swap(0, i);
        self.connects += 1;
        if !ep.tls {
            return Ok(Stream::Plain(s));
        }
        let tls = self.cfg.tls.clone().or_else(crate::tls::default_client);
        connect_tls(s, tls.as_ref(), &ep.host, &ep.authority, deadline).await
    }
}

/// A new connection to `ep` by `deadline` (TCP_NODELAY; the TLS handshake for `https`
/// with the process's [`crate::tls::default_client`]), for callers that speak HTTP on the
/// stream themselves (object transfers, the reverse proxy).
pub async fn connect_stream(ep: &Endpoint, deadline: Instant) -> Result<Stream, ClientError> {
    let addrs = resolve_addrs(&ep.host, ep.port, &ep.authority)?;
    let (s, _) = connect_any(&addrs, &ep.authority, deadline).await?;
    if !ep.tls {
        return Ok(Stream::Plain(s));
    }
    let tls = crate::tls::default_client();
    connect_tls(s, tls.as_ref(), &ep.host, &ep.authority, deadline).await
}

/// The TLS handshake on a connected stream, by `deadline`.
pub async fn connect_tls(
    s: TcpStream,
    tls: Option<&ClientTls>,
    host: &str,
    authority: &str,
    deadline: Instant,
) -> Result<Stream, ClientError> {
    let Some(tls) = tls else {
        return Err(ClientError::Tls {
            authority: authority.to_owned(),
            error: "https:// without TLS client settings (CA file or skip-verify)".to_owned(),
        });
    };
    let left = remaining(deadline).ok_or(ClientError::Timeout {
        what: "TLS handshake",
    })?;
    s.set_read_timeout(Some(left))
        .map_err(|e| map_io(e.into(), "TLS handshake"))?;
    s.set_write_timeout(Some(left))
        .map_err(|e| map_io(e.into(), "TLS handshake"))?;
    match TlsStream::connect(s, tls, host).await {
        Ok(t) => Ok(Stream::Tls(Box::new(t))),
        Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(ClientError::Timeout {
            what: "TLS handshake",
        }),
        Err(e) => Err(ClientError::Tls {
            authority: authority.to_owned(),
            error: e.to_string(),
        }),
    }
}

/// The addresses of `host:port` (the blocking resolver; IP literals never block); at least
/// one, else [`ClientError::Resolve`] naming `authority`.
pub fn resolve_addrs(
    host: &str,
    port: u16,
    authority: &str,
) -> Result<Vec<SocketAddr>, ClientError> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| ClientError::Resolve {
            authority: authority.to_owned(),
            error: e.to_string(),
        })?
        .collect();
    if addrs.is_empty() {
        return Err(ClientError::Resolve {
            authority: authority.to_owned(),
            error: "no addresses".to_owned(),
        });
    }
    Ok(addrs)
}

/// Connect to the first of `addrs` that accepts before `deadline` (TCP_NODELAY set): the
/// stream and the index of the address. A timeout ends the attempt; a refusal tries the next.
pub async fn connect_any(
    addrs: &[SocketAddr],
    authority: &str,
    deadline: Instant,
) -> Result<(TcpStream, usize), ClientError> {
    let mut last_err = None;
    for (i, addr) in addrs.iter().enumerate() {
        let left = remaining(deadline).ok_or(ClientError::Timeout { what: "connecting" })?;
        match TcpStream::connect_timeout(*addr, left).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok((s, i));
            }
            Err(e) => {
                let e: io::Error = e.into();
                if e.kind() == io::ErrorKind::TimedOut {
                    return Err(ClientError::Timeout { what: "connecting" });
                }
                last_err = Some(e);
            }
        }
    }
    Err(ClientError::Connect {
        authority: authority.to_owned(),
        error: last_err.unwrap_or_else(|| io::Error::other("no address to connect to")),
    })
}

/// What is left until `deadline`; `None` once it passed.
pub fn remaining(deadline: Instant) -> Option<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    // glommio rejects zero timeouts; anything under a microsecond has passed for our purposes.
    (left >= Duration::from_micros(1)).then_some(left)
}

/// A socket error of step `what` (a timed-out one as [`ClientError::Timeout`]).
pub fn map_io(e: io::Error, what: &'static str) -> ClientError {
    match e.kind() {
        io::ErrorKind::TimedOut => ClientError::Timeout { what },
        _ => ClientError::Io { what, error: e },
    }
}

/// One read into `buf` by `deadline`.
pub async fn read_some(
    stream: &mut Stream,
    buf: &mut [u8],
    deadline: Instant,
    what: &'static str,
) -> Result<usize, ClientError> {
    let left = remaining(deadline).ok_or(ClientError::Timeout { what })?;
    stream
        .set_read_timeout(Some(left))
        .map_err(|e| map_io(e, what))?;
    stream.read(buf).await.map_err(|e| map_io(e, what))
}

async fn write_all(stream: &mut Stream, data: &[u8], deadline: Instant) -> Result<(), ClientError> {
    write_all_within(stream, data, deadline, "writing request").await
}

/// Write all of `data` by `deadline` (`what`: the step, for errors).
pub async fn write_all_within(
    stream: &mut Stream,
    data: &[u8],
    deadline: Instant,
    what: &'static str,
) -> Result<(), ClientError> {
    let left = remaining(deadline).ok_or(ClientError::Timeout { what })?;
    stream
        .set_write_timeout(Some(left))
        .map_err(|e| map_io(e, what))?;
    stream.write_all(data).await.map_err(|e| map_io(e, what))
}

fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    fn parse(s: &str, head_req: bool) -> Result<Option<(ResponseHead, usize)>, ClientError> {
        let mut h = ResponseHead::default();
        Ok(parse_response_head(s.as_bytes(), &mut h, head_req)?.map(|n| (h, n)))
    }

    #[test]
    fn response_head_framing_table() {
        let cases: &[(&str, bool, Framing, bool)] = &[
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
                false,
                Framing::Length(5),
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
                false,
                Framing::Length(5),
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                false,
                Framing::Chunked,
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                false,
                Framing::Chunked,
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
                false,
                Framing::Chunked,
                false,
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                false,
                Framing::UntilClose,
                false,
            ),
            ("HTTP/1.1 200 OK\r\n\r\n", false, Framing::UntilClose, false),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
                true,
                Framing::None,
                true,
            ),
            (
                "HTTP/1.1 204 No Content\r\n\r\n",
                false,
                Framing::None,
                true,
            ),
            (
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
                false,
                Framing::None,
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                false,
                Framing::Length(0),
                false,
            ),
            (
                "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n",
                false,
                Framing::Length(1),
                false,
            ),
            (
                "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n",
                false,
                Framing::Length(1),
                true,
            ),
        ];
        for (raw, head_req, framing, keep_alive) in cases {
            let (h, n) = parse(raw, *head_req).unwrap().unwrap();
            assert_eq!(n, raw.len(), "{raw:?}");
            assert_eq!(h.framing, *framing, "{raw:?}");
            assert_eq!(h.keep_alive, *keep_alive, "{raw:?}");
        }
    }

    #[test]
    fn response_head_errors_and_partial() {
        assert!(parse("HTTP/1.1 200 OK\r\nContent-Le", false)
            .unwrap()
            .is_none());
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n",
            "HTXP/1.1 200 OK\r\n\r\n",
        ] {
            let e = parse(bad, false).unwrap_err();
            assert_eq!(e.kind(), "protocol", "{bad:?}");
        }
    }

    #[test]
    fn response_head_over_limit_fails_and_at_limit_parses() {
        let mut raw = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        let tail = b"\r\nContent-Length: 0\r\n\r\n";
        raw.resize(RESPONSE_HEAD_BYTES_MAX - tail.len(), b'a');
        raw.extend_from_slice(tail);
        assert_eq!(raw.len(), RESPONSE_HEAD_BYTES_MAX);
        let mut h = ResponseHead::default();
        assert_eq!(
            parse_response_head(&raw, &mut h, false).unwrap(),
            Some(raw.len())
        );
        let mut over = raw.clone();
        over.insert(20, b'a');
        assert!(parse_response_head(&over, &mut h, false).is_err());
    }

    #[test]
    fn header_lookup_is_case_insensitive_and_trimmed() {
        let (h, _) = parse(
            "HTTP/1.1 301 Moved Permanently\r\nlocation:  http://127.0.0.1:9/x?a=1 \r\nAis-Checksum-Value: 00ff\r\nContent-Length: 0\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert!(h.is_redirect());
        assert_eq!(h.header("Location"), Some("http://127.0.0.1:9/x?a=1"));
        assert_eq!(h.header("ais-checksum-value"), Some("00ff"));
        assert_eq!(h.header("etag"), None);
    }

    #[test]
    fn url_and_authority_parsing() {
        let (ep, t) = parse_http_url("http://localhost:8080/v1/health?x=1").unwrap();
        assert_eq!(
            (ep.host.as_str(), ep.port, t.as_str()),
            ("localhost", 8080, "/v1/health?x=1")
        );
        let (ep, t) = parse_http_url("HTTP://10.0.0.1").unwrap();
        assert_eq!((ep.authority.as_str(), t.as_str()), ("10.0.0.1:80", "/"));
        let (ep, t) = parse_http_url("http://[::1]:81?q").unwrap();
        assert_eq!(
            (ep.host.as_str(), ep.authority.as_str(), t.as_str()),
            ("::1", "[::1]:81", "/?q")
        );
        let (ep, t) = parse_http_url("HTTPS://10.0.0.1:8443/v1?x").unwrap();
        assert_eq!(
            (ep.authority.as_str(), ep.tls, ep.scheme(), t.as_str()),
            ("10.0.0.1:8443", true, "https", "/v1?x")
        );
        assert!(!parse_http_url("http://10.0.0.1").unwrap().0.tls);
        for bad in [
            "https:/x/",
            "http://:80/",
            "http://x:0/",
            "http://x:99999/",
            "http://a b/",
            "ftp://x",
        ] {
            assert!(parse_http_url(bad).is_err(), "{bad}");
        }
    }

    /// A one-thread test server: for each accepted connection, reads one request head (and a
    /// Content-Length body), then writes the next canned response; `None` closes the connection
    /// without answering.
    fn serve(responses: Vec<Option<Vec<u8>>>) -> (u16, std::thread::JoinHandle<Vec<String>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let h = std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut responses = responses.into_iter().peekable();
            'conns: while responses.peek().is_some() {
                let (mut s, _) = l.accept().unwrap();
                while responses.peek().is_some() {
                    let mut buf = Vec::new();
                    let mut byte = [0u8; 1];
                    while !buf.ends_with(b"\r\n\r\n") {
                        if s.read(&mut byte).unwrap_or(0) == 0 {
                            continue 'conns;
                        }
                        buf.push(byte[0]);
                    }
                    let head = String::from_utf8(buf).unwrap();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    let mut body = vec![0u8; len];
                    s.read_exact(&mut body).unwrap();
                    seen.push(format!("{}|{}", head.lines().next().unwrap(), body.len()));
                    match responses.next().flatten() {
                        Some(r) => s.write_all(&r).unwrap(),
                        None => continue 'conns,
                    }
                }
            }
            seen
        });
        (port, h)
    }

    fn run<F: std::future::Future<Output = T> + 'static, T: 'static>(f: F) -> T {
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .make()
            .unwrap()
            .run(f)
    }

    #[test]
    fn chunked_body_keep_alive_and_redirect_to_other_port_resend_body() {
        // Target: answers the redirected PUT, then a chunked GET on the same connection.
        let (tport, target) = serve(vec![
            Some(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec()),
            Some(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n".to_vec()),
        ]);
        let loc = format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{tport}/o?pid=p\r\nContent-Length: 0\r\n\r\n");
        let (pport, proxy) = serve(vec![Some(loc.into_bytes())]);
        let got = run(async move {
            let mut c = Client::new(ClientConfig::default());
            let ep = Endpoint::new("127.0.0.1", pport);
            let deadline = Instant::now() + Duration::from_secs(10);
            let body: &[&[u8]] = &[b"hello ", b"world"];
            let put = Request {
                method: "PUT",
                endpoint: &ep,
                target: "/o",
                headers: &[],
                body,
            };
            let r = c
                .execute(&put, &mut Unsigned, &mut Discard, deadline)
                .await
                .unwrap();
            assert_eq!((r.status, r.redirects), (200, 1));
            let tep = Endpoint::new("127.0.0.1", tport);
            let get = Request {
                method: "GET",
                endpoint: &tep,
                target: "/o",
                headers: &[],
                body: &[],
            };
            let mut sink = Collect::new(100);
            let r = c
                .execute(&get, &mut Unsigned, &mut sink, deadline)
                .await
                .unwrap();
            assert_eq!(r.status, 200);
            assert_eq!(c.connects(), 2, "the target connection was reused");
            String::from_utf8(sink.body).unwrap()
        });
        assert_eq!(got, "abcde");
        assert_eq!(proxy.join().unwrap(), vec!["PUT /o HTTP/1.1|11"]);
        assert_eq!(
            target.join().unwrap(),
            vec!["PUT /o?pid=p HTTP/1.1|11", "GET /o HTTP/1.1|0"]
        );
    }

    /// One connection of a test server that understands `Expect: 100-continue`: reads the head;
    /// `redirect` answers it at once (body never read); otherwise 100 Continue (unless `silent`)
    /// and the body, then 200. Returns the head's first line, whether it carried the
    /// expectation, and the body bytes read.
    fn serve_expect(
        l: TcpListener,
        redirect: Option<String>,
        silent: bool,
    ) -> (String, bool, usize) {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            assert_eq!(s.read(&mut byte).unwrap(), 1);
            buf.push(byte[0]);
        }
        let head = String::from_utf8(buf).unwrap();
        let expect = head.lines().any(|l| l == "Expect: 100-continue");
        let first = head.lines().next().unwrap().to_owned();
        if let Some(loc) = redirect {
            let r = format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: {loc}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
            s.write_all(r.as_bytes()).unwrap();
            return (first, expect, 0);
        }
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .map_or(0, |v| v.trim().parse().unwrap());
        if expect && !silent {
            s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").unwrap();
        }
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        (first, expect, len)
    }

    #[test]
    fn expect_continue_follows_a_redirect_without_sending_the_body_twice() {
        let tl = TcpListener::bind("127.0.0.1:0").unwrap();
        let tport = tl.local_addr().unwrap().port();
        let pl = TcpListener::bind("127.0.0.1:0").unwrap();
        let pport = pl.local_addr().unwrap().port();
        let target = std::thread::spawn(move || {
            let first = serve_expect(tl.try_clone().unwrap(), None, false);
            (first, serve_expect(tl, None, false))
        });
        let loc = format!("http://127.0.0.1:{tport}/o?pid=p");
        let proxy = std::thread::spawn(move || serve_expect(pl, Some(loc), false));
        // A server that ignores the expectation: the body goes after EXPECT_CONTINUE_WAIT.
        let sl = TcpListener::bind("127.0.0.1:0").unwrap();
        let sport = sl.local_addr().unwrap().port();
        let silent = std::thread::spawn(move || serve_expect(sl, None, true));
        let (small, waited) = run(async move {
            let mut c = Client::new(ClientConfig {
                expect_continue_min_bytes: Some(8),
                ..ClientConfig::default()
            });
            let deadline = Instant::now() + Duration::from_secs(10);
            let body: &[&[u8]] = &[b"hello ", b"world"];
            let ep = Endpoint::new("127.0.0.1", pport);
            let put = Request {
                method: "PUT",
                endpoint: &ep,
                target: "/o",
                headers: &[],
                body,
            };
            let r = c
                .execute(&put, &mut Unsigned, &mut Discard, deadline)
                .await
                .unwrap();
            assert_eq!((r.status, r.redirects), (200, 1));
            let sep = Endpoint::new("127.0.0.1", sport);
            let put = Request {
                method: "PUT",
                endpoint: &sep,
                target: "/s",
                headers: &[],
                body,
            };
            let t0 = Instant::now();
            let r = c
                .execute(&put, &mut Unsigned, &mut Discard, deadline)
                .await
                .unwrap();
            assert_eq!(r.status, 200);
            let waited = t0.elapsed();
            // Below the threshold: no expectation (the target's pooled connection is reused).
            let tep = Endpoint::new("127.0.0.1", tport);
            let small: &[&[u8]] = &[b"tiny"];
            let put = Request {
                method: "PUT",
                endpoint: &tep,
                target: "/t",
                headers: &[],
                body: small,
            };
            let r = c.execute(&put, &mut Unsigned, &mut Discard, deadline).await;
            (r.map(|r| r.status).map_err(|e| e.kind().to_owned()), waited)
        });
        assert_eq!(
            proxy.join().unwrap(),
            ("PUT /o HTTP/1.1".to_owned(), true, 0),
            "the proxy never saw the body"
        );
        let (redirected, small_put) = target.join().unwrap();
        let body_at_once = ("PUT /o?pid=p HTTP/1.1".to_owned(), false, 11);
        assert_eq!(
            redirected, body_at_once,
            "no expectation after the redirect"
        );
        let no_expect = ("PUT /t HTTP/1.1".to_owned(), false, 4);
        assert_eq!(small_put, no_expect, "no expectation below the threshold");
        assert_eq!(
            silent.join().unwrap(),
            ("PUT /s HTTP/1.1".to_owned(), true, 11)
        );
        assert!(waited >= EXPECT_CONTINUE_WAIT, "{waited:?}");
        assert_eq!(small, Ok(200));
    }

    #[test]
    fn token_files_and_the_bearer_header() {
        assert_eq!(
            parse_token_file(r#"{"token": "a.b.c"}"#),
            Some("a.b.c".into())
        );
        assert_eq!(parse_token_file("a.b.c\n"), Some("a.b.c".into()));
        assert_eq!(parse_token_file(""), None);
        assert_eq!(parse_token_file(r#"{"token": ""}"#), None);
        assert_eq!(parse_token_file("two words"), None);
        let mut out = Vec::new();
        Bearer(Some("t0k".into())).sign("GET", "h:1", "/", &mut out);
        assert_eq!(out, b"Authorization: Bearer t0k\r\n");
        out.clear();
        Bearer(None).sign("GET", "h:1", "/", &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn short_body_and_connection_close_and_stale_retry() {
        let (port, server) = serve(vec![
            // 1: Connection: close -> next request needs a new connection.
            Some(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok".to_vec()),
            // 2: keep-alive response; then the server drops the idle connection (3 = None).
            Some(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()),
            None,
            // 4: after the transparent retry on a fresh connection: a short body.
            Some(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".to_vec()),
        ]);
        let (kinds, connects) = run(async move {
            let mut c = Client::new(ClientConfig::default());
            let ep = Endpoint::new("127.0.0.1", port);
            let deadline = Instant::now() + Duration::from_secs(10);
            let get = Request {
                method: "GET",
                endpoint: &ep,
                target: "/",
                headers: &[],
                body: &[],
            };
            let mut kinds = Vec::new();
            for _ in 0..3 {
                kinds.push(
                    match c.execute(&get, &mut Unsigned, &mut Discard, deadline).await {
                        Ok(r) => r.status.to_string(),
                        Err(e) => e.kind().to_owned(),
                    },
                );
            }
            (kinds, c.connects())
        });
        drop(server);
        assert_eq!(kinds, ["200", "200", "short-body"]);
        assert_eq!(connects, 3);
    }

    #[test]
    fn deadline_and_connect_errors_are_classified() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let closed_port = {
            let t = TcpListener::bind("127.0.0.1:0").unwrap();
            t.local_addr().unwrap().port()
        };
        let kinds = run(async move {
            let mut c = Client::new(ClientConfig::default());
            let ep = Endpoint::new("127.0.0.1", port);
            let get = Request {
                method: "GET",
                endpoint: &ep,
                target: "/",
                headers: &[],
                body: &[],
            };
            let deadline = Instant::now() + Duration::from_millis(200);
            let slow = c
                .execute(&get, &mut Unsigned, &mut Discard, deadline)
                .await
                .unwrap_err();
            let ep2 = Endpoint::new("127.0.0.1", closed_port);
            let get2 = Request {
                endpoint: &ep2,
                ..get
            };
            let deadline = Instant::now() + Duration::from_secs(5);
            let refused = c
                .execute(&get2, &mut Unsigned, &mut Discard, deadline)
                .await
                .unwrap_err();
            (slow.kind(), refused.kind())
        });
        drop(l);
        assert_eq!(kinds, ("timeout", "connect"));
    }
}
