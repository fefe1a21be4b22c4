//! Sans-IO HTTP/1.1 request parsing for the AIStore-compatible object store front end.
//!
//! This module turns bytes into typed values and back; it never touches a socket or the
//! filesystem, and the only clock it reads is the `Date` of [`write_response_head`], so every
//! parser here is deterministic and can be tested (and fuzzed) on plain byte slices. The
//! connection loop owns the buffers and the I/O, and calls in here:
//!
//! * [`parse_request_head`] parses the request line and header section with `httparse`
//!   (bounded by [`HEADER_BYTES_MAX`] and [`HEADER_COUNT_MAX`]) and decides the body framing
//!   ([`BodyKind`]), connection persistence and `Expect: 100-continue`.
//! * [`ChunkedDecoder`] is a byte-at-a-time resumable state machine for
//!   `Transfer-Encoding: chunked` request bodies that copies payload bytes into a caller buffer.
//! * [`parse_range`] handles a single `Range: bytes=...` request (multi-range is rejected, as in
//!   AIStore).
//! * [`percent_decode_path`], [`parse_query`], [`percent_encode_path`] and
//!   [`percent_encode_query`] are the URL helpers (query semantics follow Go's
//!   `url.ParseQuery`, which is what AIStore clients are written against).
//! * [`reason_phrase`] and [`write_response_head`] serialize a response head (with a `Date`,
//!   RFC 9110 §6.6.1; CR and LF in names and values are neutralized in every build).
//!
//! # Invariants
//!
//! * No panics on any input: nothing derived from the peer is `unwrap`ped or indexed
//!   unchecked; every limit is a named constant with its unit in the name.
//! * Framing is strict to make request smuggling impossible through this parser: a request with
//!   both `Content-Length` and `Transfer-Encoding` is rejected, differing `Content-Length`
//!   values are rejected, chunked framing requires CRLF everywhere (a bare LF is an error), and a
//!   transfer coding other than exactly `chunked` is refused with 501.
//! * [`parse_request_head`] either returns a complete head no longer than [`HEADER_BYTES_MAX`]
//!   together with the exact number of bytes it occupies, asks for more bytes while the buffer is
//!   still within the limit, or fails. It never consumes body bytes.
//! * [`ChunkedDecoder::decode`] never consumes bytes past the end of the chunked message (the
//!   bytes after the final CRLF belong to the next pipelined request), always makes progress when
//!   it can, and works for input split at any byte boundary. After an error it stays failed.
//!
//! # What this module does not do
//!
//! * No I/O, timeouts or buffering policy; no limit on total body size (the caller enforces the
//!   object size limit against [`BodyKind::Length`] and the running total of decoded bytes).
//! * No validation of `Host`, of the method against a route table, or of object names: the path
//!   is returned raw (not percent-decoded, not normalized; `..` segments are the caller's problem).
//! * No content codings (gzip etc.), no multi-range responses, no HTTP/2, no `CONNECT`.
//! * Trailer fields of chunked bodies are syntax-checked, bounded, and discarded.

use std::fmt;

/// Maximum size in bytes of a whole request head: request line, header fields and the final
/// empty line.
pub const HEADER_BYTES_MAX: usize = 16 * 1024;
/// Maximum number of header fields in a request head.
pub const HEADER_COUNT_MAX: usize = 64;
/// Maximum length in bytes of one chunk-size line (size digits, whitespace and chunk
/// extensions), not counting its terminating CRLF.
pub const CHUNK_LINE_BYTES_MAX: usize = 4096;
/// Maximum size in bytes of the trailer section of a chunked body, including the CRLF line
/// terminators and the final empty line.
pub const TRAILER_BYTES_MAX: usize = 16 * 1024;
/// Maximum number of hex digits in a chunk size (16 hex digits = 64 bits, so a size that passes
/// this limit always fits in a `u64`).
const CHUNK_SIZE_HEX_DIGITS_MAX: u32 = 16;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a request could not be parsed. [`HttpError::status`] gives the response status to send
/// (after which the connection should be closed: the framing can no longer be trusted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// 400: the request line or header section is invalid; the message says what is wrong.
    Malformed(String),
    /// 431: the request head is longer than [`HEADER_BYTES_MAX`].
    HeaderTooLarge,
    /// 431: the request head has more than [`HEADER_COUNT_MAX`] header fields.
    TooManyHeaders,
    /// 501: the request uses a transfer coding other than `chunked`; carries the coding.
    UnsupportedTransferEncoding(String),
    /// 400: the chunked body framing is invalid; the message says what is wrong.
    BodyMalformed(String),
}

impl HttpError {
    /// HTTP status code to answer this error with.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::Malformed(_) | HttpError::BodyMalformed(_) => 400,
            HttpError::HeaderTooLarge | HttpError::TooManyHeaders => 431,
            HttpError::UnsupportedTransferEncoding(_) => 501,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Malformed(msg) => write!(f, "malformed request: {msg}"),
            HttpError::HeaderTooLarge => write!(
                f,
                "request head exceeds HEADER_BYTES_MAX ({HEADER_BYTES_MAX} bytes)"
            ),
            HttpError::TooManyHeaders => write!(
                f,
                "request has more than HEADER_COUNT_MAX ({HEADER_COUNT_MAX}) header fields"
            ),
            HttpError::UnsupportedTransferEncoding(coding) => {
                write!(
                    f,
                    "unsupported transfer coding {coding:?} (only \"chunked\" is supported)"
                )
            }
            HttpError::BodyMalformed(msg) => write!(f, "malformed chunked body: {msg}"),
        }
    }
}

impl std::error::Error for HttpError {}

// ---------------------------------------------------------------------------------------------
// Request head
// ---------------------------------------------------------------------------------------------

/// How the request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// Neither `Content-Length` nor `Transfer-Encoding`: the request has no body.
    Empty,
    /// `Content-Length: n` (`n` may be 0).
    Length(u64),
    /// `Transfer-Encoding: chunked`: decode with [`ChunkedDecoder`].
    Chunked,
}

/// A parsed request line and header section.
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// Request method exactly as sent (methods are case-sensitive).
    pub method: String,
    /// Raw path of the request target before `?`, NOT percent-decoded. `*` for `OPTIONS *`;
    /// for an absolute-form target (`http://host/p`) only the path part (`/p`, or `/`).
    pub path: String,
    /// Raw query after `?`, without the `?`; `""` if there is none.
    pub query: String,
    /// `0` for HTTP/1.0, `1` for HTTP/1.1.
    pub minor_version: u8,
    /// Header fields in order of arrival: names lowercased, values trimmed of spaces and tabs,
    /// non-UTF-8 bytes in values replaced with U+FFFD.
    pub headers: Vec<(String, String)>,
    /// Body framing.
    pub body: BodyKind,
    /// Whether the connection may be reused after this request: HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive` (and no `close`).
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent (ignored for HTTP/1.0 requests, per RFC 9110 10.1.1).
    pub expect_continue: bool,
}

impl RequestHead {
    /// Value of the first header field named `name_lower` (compared ASCII case-insensitively).
    pub fn header(&self, name_lower: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(name_lower))
            .map(|(_, value)| value.as_str())
    }

    /// Values of all header fields named `name_lower` (compared ASCII case-insensitively), in
    /// order of arrival.
    pub fn header_all<'a>(&'a self, name_lower: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(name, _)| name.eq_ignore_ascii_case(name_lower))
            .map(|(_, value)| value.as_str())
    }
}

/// Parse a request head from the start of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed (only while `buf.len() <= HEADER_BYTES_MAX`),
/// `Ok(Some((head, consumed)))` where `consumed` is the length of the head including the final
/// CRLFCRLF (body bytes start at `buf[consumed..]`), or an error. Fails with
/// [`HttpError::HeaderTooLarge`] once `buf` holds more than [`HEADER_BYTES_MAX`] bytes without a
/// complete head, i.e. also when a complete head is longer than the limit.
pub fn parse_request_head(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, HttpError> {
    // Only ever look at the first HEADER_BYTES_MAX bytes: a head that does not end within them
    // is too large no matter what follows.
    let window = &buf[..buf.len().min(HEADER_BYTES_MAX)];
    let mut header_slots = [httparse::EMPTY_HEADER; HEADER_COUNT_MAX];
    let mut req = httparse::Request::new(&mut header_slots);
    let consumed = match req.parse(window) {
        Ok(httparse::Status::Complete(consumed)) => consumed,
        Ok(httparse::Status::Partial) if buf.len() > HEADER_BYTES_MAX => {
            return Err(HttpError::HeaderTooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::TooManyHeaders),
        Err(err) => return Err(HttpError::Malformed(httparse_error_message(err).to_owned())),
    };
    let (Some(method), Some(target), Some(minor_version)) = (req.method, req.path, req.version)
    else {
        return Err(HttpError::Malformed("incomplete request line".to_owned()));
    };
    if minor_version > 1 {
        return Err(HttpError::Malformed(format!(
            "unsupported HTTP version 1.{minor_version}"
        )));
    }
    let (path, query) = split_request_target(method, target)?;

    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|h| {
            let value = String::from_utf8_lossy(h.value);
            (h.name.to_ascii_lowercase(), trim_ows(&value).to_owned())
        })
        .collect();

    let body = body_kind(minor_version, &headers)?;
    let mut head = RequestHead {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        minor_version,
        headers,
        body,
        keep_alive: false,
        expect_continue: false,
    };
    head.keep_alive = keep_alive(&head);
    head.expect_continue = minor_version >= 1
        && head
            .header_all("expect")
            .any(|v| v.eq_ignore_ascii_case("100-continue"));
    Ok(Some((head, consumed)))
}

fn httparse_error_message(err: httparse::Error) -> &'static str {
    match err {
        httparse::Error::HeaderName => "invalid byte in header field name",
        httparse::Error::HeaderValue => "invalid byte in header field value",
        httparse::Error::NewLine => "invalid line ending in request head",
        httparse::Error::Status => "invalid status in request head",
        httparse::Error::Token => "invalid request line (method or request target)",
        httparse::Error::TooManyHeaders => "too many header fields",
        httparse::Error::Version => "invalid or unsupported HTTP version",
    }
}

/// Split a request target into (raw path, raw query).
fn split_request_target<'t>(
    method: &str,
    target: &'t str,
) -> Result<(&'t str, &'t str), HttpError> {
    if let Some(b) = target.bytes().find(u8::is_ascii_control) {
        return Err(HttpError::Malformed(format!(
            "control character 0x{b:02x} in request target"
        )));
    }
    let path_and_query = if target.starts_with('/') {
        target
    } else if target == "*" {
        if method == "OPTIONS" {
            return Ok(("*", ""));
        }
        return Err(HttpError::Malformed(
            "asterisk-form request target is only allowed with OPTIONS".to_owned(),
        ));
    } else if let Some(rest) = strip_prefix_ignore_ascii_case(target, "http://")
        .or_else(|| strip_prefix_ignore_ascii_case(target, "https://"))
    {
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        if authority_end == 0 {
            return Err(HttpError::Malformed(
                "absolute-form request target without host".to_owned(),
            ));
        }
        let after_authority = &rest[authority_end..];
        if let Some(query) = after_authority.strip_prefix('?') {
            return Ok(("/", query));
        }
        if after_authority.is_empty() {
            return Ok(("/", ""));
        }
        after_authority
    } else {
        return Err(HttpError::Malformed(
            "request target must be origin-form (\"/path\"), absolute-form or \"*\"".to_owned(),
        ));
    };
    Ok(path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, "")))
}

fn strip_prefix_ignore_ascii_case<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// Trim optional whitespace (SP / HTAB) from both ends.
fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// Decide the body framing from `Content-Length` / `Transfer-Encoding` (RFC 9112 section 6).
fn body_kind(minor_version: u8, headers: &[(String, String)]) -> Result<BodyKind, HttpError> {
    let mut content_length: Option<u64> = None;
    let mut has_transfer_encoding = false;
    let mut codings: Vec<&str> = Vec::new();
    for (name, value) in headers {
        if name == "content-length" {
            // A list of identical values ("5, 5") is tolerated as RFC 9110 8.6 allows.
            for item in value.split(',') {
                let item = trim_ows(item);
                let Some(length) = parse_decimal_u64(item) else {
                    return Err(HttpError::Malformed(format!(
                        "invalid Content-Length {item:?}"
                    )));
                };
                match content_length {
                    Some(previous) if previous != length => {
                        return Err(HttpError::Malformed(format!(
                            "conflicting Content-Length values {previous} and {length}"
                        )))
                    }
                    _ => content_length = Some(length),
                }
            }
        } else if name == "transfer-encoding" {
            has_transfer_encoding = true;
            codings.extend(value.split(',').map(trim_ows).filter(|c| !c.is_empty()));
        }
    }
    if !has_transfer_encoding {
        return Ok(content_length.map_or(BodyKind::Empty, BodyKind::Length));
    }
    if content_length.is_some() {
        return Err(HttpError::Malformed(
            "both Content-Length and Transfer-Encoding present (possible request smuggling)"
                .to_owned(),
        ));
    }
    if minor_version == 0 {
        // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message means the framing is faulty.
        return Err(HttpError::Malformed(
            "Transfer-Encoding in an HTTP/1.0 request".to_owned(),
        ));
    }
    match codings.as_slice() {
        [] => Err(HttpError::Malformed("empty Transfer-Encoding".to_owned())),
        [only] if only.eq_ignore_ascii_case("chunked") => Ok(BodyKind::Chunked),
        // We implement no other coding, so anything stacked under or over `chunked` (e.g.
        // "gzip, chunked") cannot be decoded: report the first coding we do not support.
        _ => {
            let unsupported = codings
                .iter()
                .find(|c| !c.eq_ignore_ascii_case("chunked"))
                .copied()
                .unwrap_or("chunked");
            Err(HttpError::UnsupportedTransferEncoding(
                unsupported.to_owned(),
            ))
        }
    }
}

/// Parse a non-empty string of ASCII digits into a `u64`, rejecting signs, whitespace and
/// overflow.
fn parse_decimal_u64(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0u64, |acc, b| {
        let digit = char::from(b).to_digit(10)?;
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

fn keep_alive(head: &RequestHead) -> bool {
    let mut close = false;
    let mut keep_alive = false;
    for token in head
        .header_all("connection")
        .flat_map(|v| v.split(','))
        .map(trim_ows)
    {
        if token.eq_ignore_ascii_case("close") {
            close = true;
        } else if token.eq_ignore_ascii_case("keep-alive") {
            keep_alive = true;
        }
    }
    if close {
        false
    } else {
        head.minor_version >= 1 || keep_alive
    }
}

// ---------------------------------------------------------------------------------------------
// Chunked transfer coding
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum ChunkState {
    /// At the start of a chunk-size line: expecting the first hex digit.
    #[default]
    SizeStart,
    /// Inside the hex digits of the chunk size.
    Size,
    /// After the size digits, in whitespace before `;` or CR.
    SizeWhitespace,
    /// Inside chunk extensions, until CR.
    Extension,
    /// Saw the CR of the chunk-size line, expecting LF.
    SizeLf,
    /// Copying chunk data; `ChunkedDecoder::chunk_bytes` are left (always > 0 here).
    Data,
    /// After chunk data, expecting CR.
    DataCr,
    /// After chunk data and CR, expecting LF.
    DataLf,
    /// At the start of a trailer line (or of the empty line ending the message).
    TrailerLineStart,
    /// Inside a trailer field name.
    TrailerName,
    /// Inside a trailer field value, until CR.
    TrailerValue,
    /// Saw the CR of a trailer line, expecting LF; `last` if the line was empty.
    TrailerLf { last: bool },
    /// The whole message, trailers included, has been consumed.
    Done,
    /// A framing error was reported; the decoder must not be used further.
    Failed,
}

/// Resumable, sans-IO decoder for a `Transfer-Encoding: chunked` body.
///
/// Feed it the bytes that follow the request head, in pieces of any size, with
/// [`ChunkedDecoder::decode`]; it copies the payload into the caller's buffer and stops right
/// after the final CRLF of the trailer section. Chunk extensions are accepted and ignored;
/// trailer fields are syntax-checked, bounded by [`TRAILER_BYTES_MAX`], and discarded.
#[derive(Debug, Default)]
pub struct ChunkedDecoder {
    state: ChunkState,
    /// Chunk size being accumulated (size line states), or data bytes left in the chunk (`Data`).
    chunk_bytes: u64,
    /// Hex digits seen in the current chunk size.
    size_digits: u32,
    /// Bytes of the current chunk-size line so far, excluding CRLF.
    line_bytes: usize,
    /// Bytes of the trailer section so far, including CRLFs.
    trailer_bytes: usize,
}

/// Result of one [`ChunkedDecoder::decode`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkProgress {
    /// Input bytes consumed (a prefix of the input).
    pub consumed: usize,
    /// Payload bytes written to the front of the output buffer.
    pub written: usize,
    /// The terminating zero-size chunk and the trailer section have been fully consumed.
    pub done: bool,
}

impl ChunkedDecoder {
    /// A decoder positioned at the start of a chunked body.
    pub fn new() -> Self {
        Self::default()
    }

    /// Consume as much of `input` as possible, writing payload bytes into `out`.
    ///
    /// Returns how many input bytes were consumed, how many payload bytes were written to
    /// `out[..written]`, and whether the terminating zero chunk plus trailer section has been
    /// fully consumed. Stops early only when `out` is full while chunk data is pending, or when
    /// the message is complete (bytes after it are left unconsumed). Hence it makes progress
    /// whenever `input` is non-empty, the message is not done, and either `out` is non-empty or
    /// the next input bytes are framing. Works for input split at any byte boundary. After an
    /// error every further call fails too.
    pub fn decode(&mut self, input: &[u8], out: &mut [u8]) -> Result<ChunkProgress, HttpError> {
        let mut consumed = 0usize;
        let mut written = 0usize;
        loop {
            match self.state {
                ChunkState::Done => break,
                ChunkState::Failed => {
                    return Err(HttpError::BodyMalformed(
                        "decoder used after a framing error".to_owned(),
                    ))
                }
                ChunkState::Data => {
                    let input_left = &input[consumed..];
                    let out_left = &mut out[written..];
                    let available = input_left.len().min(out_left.len());
                    if available == 0 {
                        break;
                    }
                    let n = usize::try_from(self.chunk_bytes)
                        .map_or(available, |left| left.min(available));
                    out_left[..n].copy_from_slice(&input_left[..n]);
                    consumed += n;
                    written += n;
                    // n <= chunk_bytes by construction.
                    self.chunk_bytes -= n as u64;
                    if self.chunk_bytes == 0 {
                        self.state = ChunkState::DataCr;
                    }
                }
                _ => {
                    let Some(&byte) = input.get(consumed) else {
                        break;
                    };
                    consumed += 1;
                    if let Err(err) = self.step(byte) {
                        self.state = ChunkState::Failed;
                        return Err(err);
                    }
                }
            }
        }
        Ok(ChunkProgress {
            consumed,
            written,
            done: self.state == ChunkState::Done,
        })
    }

    /// The terminating zero chunk and trailer section have been fully consumed.
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Advance the framing state machine by one byte (never called in `Data`/`Done`/`Failed`).
    fn step(&mut self, byte: u8) -> Result<(), HttpError> {
        match self.state {
            ChunkState::SizeStart => {
                self.count_line_byte()?;
                let Some(digit) = crate::hex::digit(byte) else {
                    return Err(malformed_body(if byte == b'\r' || byte == b'\n' {
                        "empty chunk size".to_owned()
                    } else {
                        format!("expected hex chunk size, found byte 0x{byte:02x}")
                    }));
                };
                self.chunk_bytes = u64::from(digit);
                self.size_digits = 1;
                self.state = ChunkState::Size;
            }
            ChunkState::Size => {
                if byte == b'\r' {
                    self.state = ChunkState::SizeLf;
                    return Ok(());
                }
                self.count_line_byte()?;
                if let Some(digit) = crate::hex::digit(byte) {
                    if self.size_digits >= CHUNK_SIZE_HEX_DIGITS_MAX {
                        return Err(malformed_body(format!(
                            "chunk size has more than {CHUNK_SIZE_HEX_DIGITS_MAX} hex digits"
                        )));
                    }
                    // Cannot overflow: at most 16 hex digits = 64 bits.
                    self.chunk_bytes = (self.chunk_bytes << 4) | u64::from(digit);
                    self.size_digits += 1;
                } else {
                    self.state = Self::after_size_digits(byte)?;
                }
            }
            ChunkState::SizeWhitespace => {
                if byte == b'\r' {
                    self.state = ChunkState::SizeLf;
                    return Ok(());
                }
                self.count_line_byte()?;
                self.state = Self::after_size_digits(byte)?;
            }
            ChunkState::Extension => {
                if byte == b'\r' {
                    self.state = ChunkState::SizeLf;
                    return Ok(());
                }
                self.count_line_byte()?;
                if byte != b'\t' && byte.is_ascii_control() {
                    return Err(malformed_body(format!(
                        "control byte 0x{byte:02x} in chunk extension"
                    )));
                }
            }
            ChunkState::SizeLf => {
                if byte != b'\n' {
                    return Err(malformed_body(
                        "chunk size line not terminated by CRLF".to_owned(),
                    ));
                }
                self.line_bytes = 0;
                self.size_digits = 0;
                self.state = if self.chunk_bytes == 0 {
                    ChunkState::TrailerLineStart
                } else {
                    ChunkState::Data
                };
            }
            ChunkState::DataCr => {
                if byte != b'\r' {
                    return Err(malformed_body("missing CRLF after chunk data".to_owned()));
                }
                self.state = ChunkState::DataLf;
            }
            ChunkState::DataLf => {
                if byte != b'\n' {
                    return Err(malformed_body("missing CRLF after chunk data".to_owned()));
                }
                self.state = ChunkState::SizeStart;
            }
            ChunkState::TrailerLineStart => {
                self.count_trailer_byte()?;
                self.state = if byte == b'\r' {
                    ChunkState::TrailerLf { last: true }
                } else if is_tchar(byte) {
                    ChunkState::TrailerName
                } else {
                    return Err(malformed_body(format!(
                        "invalid byte 0x{byte:02x} at start of trailer field"
                    )));
                };
            }
            ChunkState::TrailerName => {
                self.count_trailer_byte()?;
                if byte == b':' {
                    self.state = ChunkState::TrailerValue;
                } else if !is_tchar(byte) {
                    return Err(malformed_body(format!(
                        "invalid byte 0x{byte:02x} in trailer field name"
                    )));
                }
            }
            ChunkState::TrailerValue => {
                self.count_trailer_byte()?;
                if byte == b'\r' {
                    self.state = ChunkState::TrailerLf { last: false };
                } else if byte != b'\t' && byte.is_ascii_control() {
                    return Err(malformed_body(format!(
                        "invalid byte 0x{byte:02x} in trailer field value"
                    )));
                }
            }
            ChunkState::TrailerLf { last } => {
                self.count_trailer_byte()?;
                if byte != b'\n' {
                    return Err(malformed_body(
                        "trailer line not terminated by CRLF".to_owned(),
                    ));
                }
                self.state = if last {
                    ChunkState::Done
                } else {
                    ChunkState::TrailerLineStart
                };
            }
            ChunkState::Data | ChunkState::Done | ChunkState::Failed => {
                debug_assert!(false, "step() called in state {:?}", self.state);
            }
        }
        Ok(())
    }

    /// State after a non-digit, non-CR byte that follows the chunk size digits.
    fn after_size_digits(byte: u8) -> Result<ChunkState, HttpError> {
        match byte {
            b' ' | b'\t' => Ok(ChunkState::SizeWhitespace),
            b';' => Ok(ChunkState::Extension),
            b'\n' => Err(malformed_body(
                "chunk size line terminated by bare LF".to_owned(),
            )),
            _ => Err(malformed_body(format!(
                "invalid byte 0x{byte:02x} after chunk size"
            ))),
        }
    }

    fn count_line_byte(&mut self) -> Result<(), HttpError> {
        self.line_bytes += 1;
        if self.line_bytes > CHUNK_LINE_BYTES_MAX {
            return Err(malformed_body(format!(
                "chunk size line exceeds CHUNK_LINE_BYTES_MAX ({CHUNK_LINE_BYTES_MAX} bytes)"
            )));
        }
        Ok(())
    }

    fn count_trailer_byte(&mut self) -> Result<(), HttpError> {
        self.trailer_bytes += 1;
        if self.trailer_bytes > TRAILER_BYTES_MAX {
            return Err(malformed_body(format!(
                "trailer section exceeds TRAILER_BYTES_MAX ({TRAILER_BYTES_MAX} bytes)"
            )));
        }
        Ok(())
    }
}

fn malformed_body(msg: String) -> HttpError {
    HttpError::BodyMalformed(msg)
}

/// RFC 9110 `tchar` (header field name characters).
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

// ---------------------------------------------------------------------------------------------
// Range
// ---------------------------------------------------------------------------------------------

/// A satisfiable byte range of an object: `len >= 1` and `start + len <= size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// Offset of the first byte.
    pub start: u64,
    /// Number of bytes.
    pub len: u64,
}

/// Why a `Range` header cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeError {
    /// The range does not overlap the object (answer 416 with `Content-Range: bytes */size`).
    Unsatisfiable,
    /// More than one range was requested; not supported (as in AIStore).
    MultiRange,
    /// The header is syntactically invalid or uses a unit other than `bytes`.
    Malformed(String),
}

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RangeError::Unsatisfiable => write!(f, "range not satisfiable"),
            RangeError::MultiRange => write!(f, "multiple ranges are not supported"),
            RangeError::Malformed(msg) => write!(f, "malformed Range header: {msg}"),
        }
    }
}

impl std::error::Error for RangeError {}

/// Parse a single-range `Range` header value against an object of `size` bytes.
///
/// Forms: `bytes=a-b` (b clamps to `size - 1`), `bytes=a-`, `bytes=-n` (the last `n` bytes; a
/// suffix longer than the object selects the whole object). `start >= size`, `bytes=-0`, and any
/// range of an empty object are [`RangeError::Unsatisfiable`]; `a > b`, a unit other than `bytes`
/// (case-insensitive) or bad numbers are [`RangeError::Malformed`]; a comma is
/// [`RangeError::MultiRange`]. Numbers too large for `u64` are treated as `u64::MAX`, which is
/// exact for every comparison made here.
pub fn parse_range(value: &str, size: u64) -> Result<ByteRange, RangeError> {
    let value = trim_ows(value);
    let Some((unit, spec)) = value.split_once('=') else {
        return Err(RangeError::Malformed(format!("missing '=' in {value:?}")));
    };
    let unit = trim_ows(unit);
    if !unit.eq_ignore_ascii_case("bytes") {
        return Err(RangeError::Malformed(format!(
            "unsupported range unit {unit:?}"
        )));
    }
    if spec.contains(',') {
        return Err(RangeError::MultiRange);
    }
    let Some((first, last)) = trim_ows(spec).split_once('-') else {
        return Err(RangeError::Malformed(format!("missing '-' in {spec:?}")));
    };
    let (first, last) = (trim_ows(first), trim_ows(last));
    match (first.is_empty(), last.is_empty()) {
        (true, true) => Err(RangeError::Malformed("empty range".to_owned())),
        (true, false) => {
            let suffix = parse_range_number(last)?;
            if suffix == 0 || size == 0 {
                return Err(RangeError::Unsatisfiable);
            }
            let len = suffix.min(size);
            Ok(ByteRange {
                start: size - len,
                len,
            })
        }
        (false, true) => {
            let start = parse_range_number(first)?;
            if start >= size {
                return Err(RangeError::Unsatisfiable);
            }
            Ok(ByteRange {
                start,
                len: size - start,
            })
        }
        (false, false) => {
            let start = parse_range_number(first)?;
            let end = parse_range_number(last)?;
            if start > end {
                return Err(RangeError::Malformed(format!(
                    "range start {start} is after range end {end}"
                )));
            }
            if start >= size {
                return Err(RangeError::Unsatisfiable);
            }
            let end = end.min(size - 1);
            Ok(ByteRange {
                start,
                len: end - start + 1,
            })
        }
    }
}

/// Non-empty ASCII digits; saturates at `u64::MAX` instead of failing on overflow.
fn parse_range_number(s: &str) -> Result<u64, RangeError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RangeError::Malformed(format!("invalid range number {s:?}")));
    }
    Ok(s.bytes().fold(0u64, |acc, b| {
        acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

// ---------------------------------------------------------------------------------------------
// URL helpers
// ---------------------------------------------------------------------------------------------

/// Strict percent-decoding of a URL path: every `%` must be followed by two hex digits, the
/// result must be valid UTF-8, and `+` stays `+`. The result is not otherwise validated (it may
/// contain `/`, `..` or `%00`-decoded NUL; object name rules belong to the caller).
pub fn percent_decode_path(s: &str) -> Result<String, HttpError> {
    let bytes = percent_decode_bytes(s, false)?;
    String::from_utf8(bytes)
        .map_err(|_| HttpError::Malformed(format!("percent-decoded path {s:?} is not UTF-8")))
}

/// Parse a query string like Go's `url.ParseQuery`: pairs separated by `&`, `key=value` (a key
/// without `=` gets `""`), `+` means space, percent-escapes are decoded. Empty pieces are skipped;
/// order and repeated keys are preserved. Invalid escapes or non-UTF-8 results are
/// [`HttpError::Malformed`]. Unlike Go, `;` is an ordinary character (Go rejects the pair).
pub fn parse_query(q: &str) -> Result<Vec<(String, String)>, HttpError> {
    let mut pairs = Vec::new();
    for piece in q.split('&').filter(|piece| !piece.is_empty()) {
        let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
        pairs.push((decode_query_component(key)?, decode_query_component(value)?));
    }
    Ok(pairs)
}

fn decode_query_component(s: &str) -> Result<String, HttpError> {
    let bytes = percent_decode_bytes(s, true)?;
    String::from_utf8(bytes).map_err(|_| {
        HttpError::Malformed(format!(
            "percent-decoded query component {s:?} is not UTF-8"
        ))
    })
}

fn percent_decode_bytes(s: &str, plus_is_space: bool) -> Result<Vec<u8>, HttpError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(crate::hex::digit);
                let lo = bytes.get(i + 2).copied().and_then(crate::hex::digit);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    let escape: String = s.get(i..).unwrap_or("").chars().take(3).collect();
                    return Err(HttpError::Malformed(format!(
                        "invalid percent-escape {escape:?} at byte {i}"
                    )));
                };
                out.push((hi << 4) | lo);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(byte);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Percent-encode `s` for use in a URL path: unreserved characters (`A-Z a-z 0-9 - . _ ~`) and
/// `/` are kept, every other byte becomes `%XX` (uppercase hex), like Python's
/// `urllib.parse.quote(s, safe='/')`.
pub fn percent_encode_path(s: &str) -> String {
    percent_encode(s, true)
}

/// Percent-encode one query key or value: unreserved characters are kept, every other byte
/// (including `/`, `&`, `=`, `+`, space) becomes `%XX`; space is `%20`.
pub fn percent_encode_query(s: &str) -> String {
    percent_encode(s, false)
}

fn percent_encode(s: &str, keep_slash: bool) -> String {
    const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && byte == b'/')
        {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(byte >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(byte & 0x0f)]));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Response head
// ---------------------------------------------------------------------------------------------

/// Standard reason phrase for `status` (IANA registry); `""` for unregistered codes, which is a
/// valid (empty) reason phrase on the wire.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => "",
    }
}

/// Append `HTTP/1.1 {status} {reason}\r\n`, then `name: value\r\n` for each header (names
/// written as given), then `Date: <now>\r\n` (IMF-fixdate, cached per second, see
/// [`crate::time::with_http_date_now`]) unless `headers` has a `Date` of its own or the status is
/// 1xx, then the empty line, to `out`. RFC 9110 §6.6.1 asks an origin server with a clock for a
/// `Date` in every 2xx, 3xx and 4xx response and allows it in 5xx and 1xx; this writes it in
/// all final responses.
///
/// CR and LF in names and values are replaced with a space, in every build, so a value that
/// came from a client can never split the head (response splitting, header injection). A status
/// outside `100..=999` (debug-asserted) is written as 500.
pub fn write_response_head(out: &mut Vec<u8>, status: u16, headers: &[(&str, &str)]) {
    let closing = status >= 200
        && CLOSING_RESPONSES.with(std::cell::Cell::get)
        && !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("connection"));
    let with_close;
    let headers = if closing {
        with_close = [headers, &[("Connection", "close")]].concat();
        &with_close[..]
    } else {
        headers
    };
    let dated = status >= 200 && !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("date"));
    if dated {
        crate::time::with_http_date_now(|date| write_head(out, status, headers, Some(date)));
    } else {
        write_head(out, status, headers, None);
    }
}

thread_local! {
    /// Set on a server thread that is draining: see [`set_closing_responses`].
    static CLOSING_RESPONSES: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// From now on every final response head this thread writes says `Connection: close`
/// (unless it names `Connection` itself): a draining server tells keep-alive clients to
/// take their next request elsewhere. Per thread because a server core is one thread.
pub fn set_closing_responses(on: bool) {
    CLOSING_RESPONSES.with(|c| c.set(on));
}

/// [`write_response_head`] with the `Date` value given (`None`: no `Date` added).
fn write_head(out: &mut Vec<u8>, status: u16, headers: &[(&str, &str)], date: Option<&str>) {
    debug_assert!(
        (100..=999).contains(&status),
        "status {status} is not a 3-digit code"
    );
    let status = if (100..=999).contains(&status) {
        status
    } else {
        500
    };
    out.extend_from_slice(b"HTTP/1.1 ");
    // Three ASCII digits; `status` is in 100..=999 here.
    out.extend_from_slice(&[
        b'0' + (status / 100) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
        b' ',
    ]);
    out.extend_from_slice(reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        push_header_line(out, name, value);
    }
    if let Some(date) = date {
        push_header_line(out, "Date", date);
    }
    out.extend_from_slice(b"\r\n");
}

/// `name: value\r\n` with CR and LF in either replaced by a space (see
/// [`write_response_head`]); the request writer of [`crate::client`] shares it.
pub fn push_header_line(out: &mut Vec<u8>, name: &str, value: &str) {
    push_header_text(out, name);
    out.extend_from_slice(b": ");
    push_header_text(out, value);
    out.extend_from_slice(b"\r\n");
}

fn has_cr_or_lf(s: &str) -> bool {
    s.bytes().any(|b| b == b'\r' || b == b'\n')
}

fn push_header_text(out: &mut Vec<u8>, s: &str) {
    if has_cr_or_lf(s) {
        out.extend(
            s.bytes()
                .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_ok(raw: &[u8]) -> (RequestHead, usize) {
        match parse_request_head(raw) {
            Ok(Some(parsed)) => parsed,
            other => panic!(
                "expected a complete head for {:?}, got {other:?}",
                String::from_utf8_lossy(raw)
            ),
        }
    }

    // ----- request head: accepted -----

    struct HeadCase {
        name: &'static str,
        raw: &'static str,
        method: &'static str,
        path: &'static str,
        query: &'static str,
        minor_version: u8,
        body: BodyKind,
        keep_alive: bool,
        expect_continue: bool,
    }

    #[test]
    fn parse_request_head_accepts_valid_heads() {
        let cases = [
            HeadCase {
                name: "simple GET 1.1 keeps alive, no body",
                raw: "GET /v1/objects/bck/obj HTTP/1.1\r\nHost: x\r\n\r\n",
                method: "GET",
                path: "/v1/objects/bck/obj",
                query: "",
                minor_version: 1,
                body: BodyKind::Empty,
                keep_alive: true,
                expect_continue: false,
            },
            HeadCase {
                name: "GET with query splits at first '?'",
                raw: "GET /v1/buckets/b?provider=ais&what=x?y HTTP/1.1\r\n\r\n",
                method: "GET",
                path: "/v1/buckets/b",
                query: "provider=ais&what=x?y",
                minor_version: 1,
                body: BodyKind::Empty,
                keep_alive: true,
                expect_continue: false,
            },
            HeadCase {
                name: "path stays percent-encoded",
                raw: "GET /v1/objects/b/a%20b%2Fc? HTTP/1.1\r\n\r\n",
                method: "GET",
                path: "/v1/objects/b/a%20b%2Fc",
                query: "",
                minor_version: 1,
                body: BodyKind::Empty,
                keep_alive: true,
                expect_continue: false,
            },
            HeadCase {
                name: "PUT with Content-Length and Expect 100-continue",
                raw: "PUT /v1/objects/b/o HTTP/1.1\r\nContent-Length: 1048576\r\nExpect: 100-Continue\r\n\r\n",
                method: "PUT",
                path: "/v1/objects/b/o",
                query: "",
                minor_version: 1,
                body: BodyKind::Length(1_048_576),
                keep_alive: true,
                expect_continue: true,
            },
            HeadCase {
                name: "PUT chunked, coding name case-insensitive",
                raw: "PUT /o HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n",
                method: "PUT",
                path: "/o",
                query: "",
                minor_version: 1,
                body: BodyKind::Chunked,
                keep_alive: true,
                expect_continue: false,
            },
            HeadCase {
                name: "Content-Length 0 is Length(0)",
                raw: "PUT /o HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                method: "PUT",
                path: "/o",
                query: "",
                minor_version: 1,
                body: BodyKind::Length(0),
                keep_alive: true,
                expect_continue: false,
            },
            HeadCase {
                name: "repeated identical Content-Length accepted",
                raw: "PUT /o HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n",
                method: "PUT",
                path: "/o",
                query: "",
                minor_version: 1,
                body: BodyKind::Length(5),
                keep_alive: true,
                expect_continue: false,
            },
            HeadCase {
                name: "Content-Length list of identical values accepted",
                raw: "PUT /o HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n",
                method: "PUT",
                path: "/o",
                query: "",
                minor_version: 1,
                body: BodyKind::Length(5),
                keep_alive: true,
                expect_continue: false,
            },
            HeadCase {
                name: "HTTP/1.0 defaults to close",
                raw: "GET / HTTP/1.0\r\n\r\n",
                method: "GET",
                path: "/",
                query: "",
                minor_version: 0,
                body: BodyKind::Empty,
                keep_alive: false,
                expect_continue: false,
            },
            HeadCase {
                name: "HTTP/1.0 with Connection keep-alive keeps alive",
                raw: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
                method: "GET",
                path: "/",
                query: "",
                minor_version: 0,
                body: BodyKind::Empty,
                keep_alive: true,
                expect_continue: false,
            },
            HeadCase {
                name: "HTTP/1.0 ignores Expect 100-continue",
                raw: "PUT /o HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n",
                method: "PUT",
                path: "/o",
                query: "",
                minor_version: 0,
                body: BodyKind::Length(1),
                keep_alive: false,
                expect_continue: false,
            },
            HeadCase {
                name: "HTTP/1.1 with Connection close does not keep alive",
                raw: "GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
                method: "GET",
                path: "/",
                query: "",
                minor_version: 1,
                body: BodyKind::Empty,
                keep_alive: false,
                expect_continue: false,
            },
            HeadCase {
                name: "close token wins over keep-alive token in a list",
                raw: "GET / HTTP/1.0\r\nConnection: keep-alive, Close\r\n\r\n",
                method: "GET",
                path: "/",
                query: "",
                minor_version: 0,
                body: BodyKind::Empty,
                keep_alive: false,
                expect_continue: false,
            },
            HeadCase {
                name: "absolute-form target yields its path and query",
                raw: "GET http://proxy:8080/v1/daemon?what=smap HTTP/1.1\r\n\r\n",
                method: "GET",
                path: "/v1/daemon",
                query: "what=smap",
                minor_version: 1,
                body: BodyKind::Empty,
                keep_alive: true,
                expect_continue: false,
            },
            HeadCase {
                name: "absolute-form target without path yields '/'",
                raw: "GET HTTPS://host HTTP/1.1\r\n\r\n",
                method: "GET",
                path: "/",
                query: "",
                minor_version: 1,
                body: BodyKind::Empty,
                keep_alive: true,
                expect_continue: false,
            },
            HeadCase {
                name: "absolute-form target with only a query yields '/'",
                raw: "GET http://host?a=1 HTTP/1.1\r\n\r\n",
                method: "GET",
                path: "/",
                query: "a=1",
                minor_version: 1,
                body: BodyKind::Empty,
                keep_alive: true,
                expect_continue: false,
            },
            HeadCase {
                name: "OPTIONS asterisk-form",
                raw: "OPTIONS * HTTP/1.1\r\n\r\n",
                method: "OPTIONS",
                path: "*",
                query: "",
                minor_version: 1,
                body: BodyKind::Empty,
                keep_alive: true,
                expect_continue: false,
            },
            HeadCase {
                name: "unknown Expect value is not 100-continue",
                raw: "PUT /o HTTP/1.1\r\nContent-Length: 1\r\nExpect: something\r\n\r\n",
                method: "PUT",
                path: "/o",
                query: "",
                minor_version: 1,
                body: BodyKind::Length(1),
                keep_alive: true,
                expect_continue: false,
            },
        ];
        for case in cases {
            let (head, consumed) = parse_ok(case.raw.as_bytes());
            assert_eq!(consumed, case.raw.len(), "{}: consumed", case.name);
            assert_eq!(head.method, case.method, "{}: method", case.name);
            assert_eq!(head.path, case.path, "{}: path", case.name);
            assert_eq!(head.query, case.query, "{}: query", case.name);
            assert_eq!(
                head.minor_version, case.minor_version,
                "{}: version",
                case.name
            );
            assert_eq!(head.body, case.body, "{}: body", case.name);
            assert_eq!(
                head.keep_alive, case.keep_alive,
                "{}: keep_alive",
                case.name
            );
            assert_eq!(
                head.expect_continue, case.expect_continue,
                "{}: expect_continue",
                case.name
            );
        }
    }

    #[test]
    fn parse_request_head_consumes_only_the_head_when_body_follows() {
        let raw = b"PUT /o HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n";
        let (head, consumed) = parse_ok(raw);
        assert_eq!(head.body, BodyKind::Length(5));
        assert_eq!(&raw[consumed..consumed + 5], b"hello");
    }

    #[test]
    fn header_values_are_lowercased_trimmed_lossy_and_queryable() {
        let raw = b"GET / HTTP/1.1\r\nX-AIS-Thing:   a b \t\r\nACCEPT: one\r\naccept: two\r\nX-Bin: \xffok\r\n\r\n";
        let (head, _) = parse_ok(raw);
        assert_eq!(
            head.headers,
            vec![
                ("x-ais-thing".to_owned(), "a b".to_owned()),
                ("accept".to_owned(), "one".to_owned()),
                ("accept".to_owned(), "two".to_owned()),
                ("x-bin".to_owned(), "\u{fffd}ok".to_owned()),
            ]
        );
        assert_eq!(head.header("x-ais-thing"), Some("a b"));
        assert_eq!(head.header("accept"), Some("one"));
        assert_eq!(
            head.header("Accept"),
            Some("one"),
            "lookup is case-insensitive"
        );
        assert_eq!(
            head.header_all("accept").collect::<Vec<_>>(),
            vec!["one", "two"]
        );
        assert_eq!(head.header("missing"), None);
        assert_eq!(head.header_all("missing").count(), 0);
    }

    #[test]
    fn parse_request_head_returns_none_for_every_strict_prefix() {
        let raw =
            b"PUT /v1/objects/b/o?provider=ais HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
        for end in 0..raw.len() {
            assert!(
                matches!(parse_request_head(&raw[..end]), Ok(None)),
                "prefix of {end} bytes should need more input"
            );
        }
        assert_eq!(parse_ok(raw).1, raw.len());
    }

    /// A complete head of exactly `len` bytes, padded with one header.
    fn head_of_len(len: usize) -> Vec<u8> {
        let prefix = b"GET / HTTP/1.1\r\nX-Pad: ";
        let suffix = b"\r\n\r\n";
        let pad = len - prefix.len() - suffix.len();
        let mut raw = prefix.to_vec();
        raw.extend(std::iter::repeat_n(b'a', pad));
        raw.extend_from_slice(suffix);
        assert_eq!(raw.len(), len);
        raw
    }

    #[test]
    fn head_exactly_at_header_bytes_max_is_accepted() {
        let raw = head_of_len(HEADER_BYTES_MAX);
        assert_eq!(parse_ok(&raw).1, HEADER_BYTES_MAX);
        // Body bytes beyond the limit do not matter.
        let mut with_body = raw.clone();
        with_body.extend(std::iter::repeat_n(b'x', 1000));
        assert_eq!(parse_ok(&with_body).1, HEADER_BYTES_MAX);
    }

    #[test]
    fn head_one_past_header_bytes_max_is_too_large() {
        let raw = head_of_len(HEADER_BYTES_MAX + 1);
        assert_eq!(
            parse_request_head(&raw).unwrap_err(),
            HttpError::HeaderTooLarge
        );
        assert!(
            matches!(parse_request_head(&raw[..HEADER_BYTES_MAX]), Ok(None)),
            "the first HEADER_BYTES_MAX bytes alone are an incomplete head that may still end"
        );
    }

    #[test]
    fn incomplete_head_past_header_bytes_max_is_too_large() {
        let mut raw = b"GET / HTTP/1.1\r\nX-Pad: ".to_vec();
        raw.resize(HEADER_BYTES_MAX, b'a');
        assert!(matches!(parse_request_head(&raw), Ok(None)));
        raw.push(b'a');
        assert_eq!(
            parse_request_head(&raw).unwrap_err(),
            HttpError::HeaderTooLarge
        );
    }

    fn head_with_headers(count: usize) -> Vec<u8> {
        let mut raw = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..count {
            raw.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        raw
    }

    #[test]
    fn header_count_exactly_at_max_is_accepted() {
        let (head, _) = parse_ok(&head_with_headers(HEADER_COUNT_MAX));
        assert_eq!(head.headers.len(), HEADER_COUNT_MAX);
    }

    #[test]
    fn header_count_one_past_max_is_rejected_with_431() {
        let err = parse_request_head(&head_with_headers(HEADER_COUNT_MAX + 1)).unwrap_err();
        assert_eq!(err, HttpError::TooManyHeaders);
        assert_eq!(err.status(), 431);
    }

    // ----- request head: rejected -----

    #[derive(Debug)]
    enum Expect {
        Malformed,
        Unsupported(&'static str),
    }

    #[test]
    fn parse_request_head_rejects_invalid_heads() {
        let cases: &[(&str, &[u8], Expect)] = &[
            (
                "Content-Length and Transfer-Encoding together (smuggling)",
                b"PUT /o HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "Transfer-Encoding before Content-Length (smuggling)",
                b"PUT /o HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "conflicting Content-Length headers",
                b"PUT /o HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "conflicting Content-Length list",
                b"PUT /o HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "non-decimal Content-Length",
                b"PUT /o HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "negative Content-Length",
                b"PUT /o HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "signed Content-Length",
                b"PUT /o HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "empty Content-Length",
                b"PUT /o HTTP/1.1\r\nContent-Length: \r\n\r\n",
                Expect::Malformed,
            ),
            (
                "Content-Length with inner space",
                b"PUT /o HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "Content-Length overflowing u64",
                b"PUT /o HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "Transfer-Encoding gzip is not implemented",
                b"PUT /o HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
                Expect::Unsupported("gzip"),
            ),
            (
                "Transfer-Encoding identity is not implemented",
                b"PUT /o HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n",
                Expect::Unsupported("identity"),
            ),
            (
                "gzip under chunked cannot be decoded",
                b"PUT /o HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                Expect::Unsupported("gzip"),
            ),
            (
                "chunked not final",
                b"PUT /o HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
                Expect::Unsupported("gzip"),
            ),
            (
                "chunked applied twice",
                b"PUT /o HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
                Expect::Unsupported("chunked"),
            ),
            (
                "empty Transfer-Encoding",
                b"PUT /o HTTP/1.1\r\nTransfer-Encoding: \r\n\r\n",
                Expect::Malformed,
            ),
            (
                "Transfer-Encoding in HTTP/1.0",
                b"PUT /o HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "request line without version",
                b"GET /\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "request line with HTTP/2.0",
                b"GET / HTTP/2.0\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "request line without method",
                b"/ HTTP/1.1\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "request line with extra token",
                b"GET / HTTP/1.1 x\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "request line with double space",
                b"GET  / HTTP/1.1\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "lowercase protocol name",
                b"GET / http/1.1\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "NUL in path",
                b"GET /a\0b HTTP/1.1\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "tab in path",
                b"GET /a\tb HTTP/1.1\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "DEL in path",
                b"GET /a\x7fb HTTP/1.1\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "relative target",
                b"GET foo HTTP/1.1\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "asterisk target with GET",
                b"GET * HTTP/1.1\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "authority-form target",
                b"CONNECT host:443 HTTP/1.1\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "absolute-form without host",
                b"GET http:///x HTTP/1.1\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "header line without colon",
                b"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "space before header colon",
                b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "obsolete line folding",
                b"GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "NUL in header value",
                b"GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n",
                Expect::Malformed,
            ),
            (
                "binary garbage",
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
                Expect::Malformed,
            ),
        ];
        for (name, raw, expected) in cases {
            let err = match parse_request_head(raw) {
                Err(err) => err,
                other => panic!("{name}: expected an error, got {other:?}"),
            };
            match (expected, &err) {
                (Expect::Malformed, HttpError::Malformed(_)) => assert_eq!(err.status(), 400),
                (Expect::Unsupported(coding), HttpError::UnsupportedTransferEncoding(got)) => {
                    assert_eq!(got, coding, "{name}");
                    assert_eq!(err.status(), 501);
                }
                _ => panic!("{name}: expected {expected:?}, got {err:?}"),
            }
        }
    }

    #[test]
    fn http_error_status_and_display_name_the_problem() {
        let cases = [
            (HttpError::Malformed("bad".into()), 400, "bad"),
            (
                HttpError::HeaderTooLarge,
                431,
                "HEADER_BYTES_MAX (16384 bytes)",
            ),
            (HttpError::TooManyHeaders, 431, "HEADER_COUNT_MAX (64)"),
            (
                HttpError::UnsupportedTransferEncoding("gzip".into()),
                501,
                "\"gzip\"",
            ),
            (
                HttpError::BodyMalformed("missing CRLF".into()),
                400,
                "missing CRLF",
            ),
        ];
        for (err, status, needle) in cases {
            assert_eq!(err.status(), status, "{err:?}");
            let text = err.to_string();
            assert!(text.contains(needle), "{text:?} should contain {needle:?}");
        }
    }

    proptest! {
        #[test]
        fn parse_request_head_never_panics_and_consumed_fits(buf in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(Some((_, consumed))) = parse_request_head(&buf) {
                prop_assert!(consumed <= buf.len());
            }
        }

        #[test]
        fn parse_request_head_prefix_is_none_then_complete(
            path in "/[a-zA-Z0-9%/._~-]{0,40}",
            query in "[a-zA-Z0-9=&%+]{0,40}",
            values in proptest::collection::vec("[ -~]{0,30}", 0..8),
        ) {
            let mut raw = format!("GET {path}?{query} HTTP/1.1\r\n");
            for (i, v) in values.iter().enumerate() {
                raw.push_str(&format!("X-{i}: {v}\r\n"));
            }
            raw.push_str("\r\n");
            let raw = raw.as_bytes();
            for end in 0..raw.len() {
                prop_assert!(matches!(parse_request_head(&raw[..end]), Ok(None)));
            }
            let (head, consumed) = parse_ok(raw);
            prop_assert_eq!(consumed, raw.len());
            prop_assert_eq!(head.path, path);
            prop_assert_eq!(head.query, query);
            let trimmed: Vec<&str> = values.iter().map(|v| v.trim_matches([' ', '\t'])).collect();
            let got: Vec<&str> = head.headers.iter().map(|(_, v)| v.as_str()).collect();
            prop_assert_eq!(got, trimmed);
        }
    }

    // ----- chunked decoding -----

    /// Outcome of feeding `input` in pieces of `piece_len` bytes with an output buffer of
    /// `out_len` bytes: (payload, bytes consumed, done).
    fn decode_pieces(
        input: &[u8],
        piece_len: usize,
        out_len: usize,
    ) -> Result<(Vec<u8>, usize, bool), HttpError> {
        let mut decoder = ChunkedDecoder::new();
        let mut out = vec![0u8; out_len];
        let mut payload = Vec::new();
        let mut offset = 0;
        while offset < input.len() && !decoder.is_done() {
            let piece_end = (offset + piece_len).min(input.len());
            let progress = decoder.decode(&input[offset..piece_end], &mut out)?;
            assert!(
                progress.consumed > 0 || progress.written > 0 || progress.done,
                "no progress at offset {offset}"
            );
            payload.extend_from_slice(&out[..progress.written]);
            offset += progress.consumed;
            assert_eq!(progress.done, decoder.is_done());
        }
        Ok((payload, offset, decoder.is_done()))
    }

    /// Decode in every interesting way and check that all agree.
    fn decode_all_ways(input: &[u8]) -> Result<(Vec<u8>, usize, bool), HttpError> {
        let reference = decode_pieces(input, input.len().max(1), input.len().max(1));
        for (piece_len, out_len) in [(1, 1), (1, 4096), (3, 2), (7, 1), (4096, 3)] {
            let got = decode_pieces(input, piece_len, out_len);
            match (&reference, &got) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "piece {piece_len} out {out_len}"),
                (Err(HttpError::BodyMalformed(_)), Err(HttpError::BodyMalformed(_))) => {}
                _ => panic!("piece {piece_len} out {out_len}: {reference:?} vs {got:?}"),
            }
        }
        reference
    }

    #[test]
    fn chunked_decoder_decodes_valid_bodies_at_any_split() {
        let long_ext = format!(
            "5;{}\r\nhello\r\n0\r\n\r\n",
            "e".repeat(CHUNK_LINE_BYTES_MAX - 2)
        );
        let cases: &[(&str, &[u8], &[u8])] = &[
            ("single chunk", b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
            ("empty body", b"0\r\n\r\n", b""),
            (
                "several chunks",
                b"3\r\nabc\r\n1\r\nd\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n",
                b"abcd0123456789abcdef",
            ),
            (
                "uppercase and lowercase hex",
                b"A\r\n0123456789\r\nb\r\nabcdefghijk\r\n0\r\n\r\n",
                b"0123456789abcdefghijk",
            ),
            (
                "leading zeros in size",
                b"0005\r\nhello\r\n000\r\n\r\n",
                b"hello",
            ),
            (
                "sixteen hex digits",
                b"0000000000000005\r\nhello\r\n0\r\n\r\n",
                b"hello",
            ),
            (
                "chunk extensions ignored",
                b"5;name=value;flag\r\nhello\r\n0;last=\"x y\"\r\n\r\n",
                b"hello",
            ),
            (
                "whitespace before extension",
                b"5 \t;a=b\r\nhello\r\n0\r\n\r\n",
                b"hello",
            ),
            (
                "whitespace after size",
                b"5 \r\nhello\r\n0\r\n\r\n",
                b"hello",
            ),
            (
                "CRLF bytes inside data are payload",
                b"4\r\n\r\n\r\n\r\n0\r\n\r\n",
                b"\r\n\r\n",
            ),
            (
                "trailers parsed and discarded",
                b"5\r\nhello\r\n0\r\nX-Checksum: abc\r\nOther:\t v \r\nEmpty:\r\n\r\n",
                b"hello",
            ),
            ("chunk line exactly at limit", long_ext.as_bytes(), b"hello"),
        ];
        for (name, body, payload) in cases {
            // Bytes of a pipelined next request must be left alone.
            let mut input = body.to_vec();
            input.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
            let (got, consumed, done) =
                decode_all_ways(&input).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got, *payload, "{name}: payload");
            assert_eq!(consumed, body.len(), "{name}: consumed");
            assert!(done, "{name}: done");
        }
    }

    #[test]
    fn chunked_decoder_rejects_bad_framing() {
        let long_line = format!(
            "5;{}\r\nhello\r\n0\r\n\r\n",
            "e".repeat(CHUNK_LINE_BYTES_MAX - 1)
        );
        let long_digits = format!("{}\r\n", "0".repeat(CHUNK_LINE_BYTES_MAX + 1));
        let cases: &[(&str, &[u8])] = &[
            ("bad hex digit", b"zz\r\n"),
            ("hex digit then garbage", b"5g\r\nhello\r\n0\r\n\r\n"),
            ("empty size", b"\r\nhello\r\n0\r\n\r\n"),
            ("extension without size", b";a=b\r\nhello\r\n0\r\n\r\n"),
            (
                "leading whitespace before size",
                b" 5\r\nhello\r\n0\r\n\r\n",
            ),
            ("signed size", b"+5\r\nhello\r\n0\r\n\r\n"),
            (
                "seventeen hex digits",
                b"00000000000000005\r\nhello\r\n0\r\n\r\n",
            ),
            ("size overflowing u64", b"10000000000000000\r\n"),
            ("bare LF after size", b"5\nhello\r\n0\r\n\r\n"),
            ("CR without LF after size", b"5\rhello\r\n0\r\n\r\n"),
            ("bare LF in extension", b"5;a\nhello\r\n0\r\n\r\n"),
            ("NUL in extension", b"5;a\0\r\nhello\r\n0\r\n\r\n"),
            ("missing CRLF after data", b"3\r\nabcX\r\n0\r\n\r\n"),
            ("data longer than size", b"3\r\nabcd\r\n0\r\n\r\n"),
            ("bare LF after data", b"3\r\nabc\n0\r\n\r\n"),
            ("CR then garbage after data", b"3\r\nabc\rX0\r\n\r\n"),
            ("oversized chunk line via extension", long_line.as_bytes()),
            ("oversized chunk line via zeros", long_digits.as_bytes()),
            ("trailer without colon", b"0\r\nX-Checksum abc\r\n\r\n"),
            ("trailer with empty name", b"0\r\n: abc\r\n\r\n"),
            ("trailer with bare LF", b"0\r\nX-A: b\n\r\n"),
            ("trailer with NUL", b"0\r\nX-A: b\0\r\n\r\n"),
            ("final line CR without LF", b"0\r\n\rX"),
            ("obs-fold in trailer", b"0\r\nX-A: b\r\n c\r\n\r\n"),
        ];
        for (name, body) in cases {
            match decode_all_ways(body) {
                Err(HttpError::BodyMalformed(msg)) => assert!(!msg.is_empty(), "{name}"),
                other => panic!("{name}: expected BodyMalformed, got {other:?}"),
            }
        }
    }

    #[test]
    fn chunked_trailer_section_limit_is_exact() {
        // Trailer section = "X: " + value + "\r\n" + "\r\n".
        let fixed = "X: \r\n\r\n".len();
        let at_limit = format!("0\r\nX: {}\r\n\r\n", "v".repeat(TRAILER_BYTES_MAX - fixed));
        let (payload, consumed, done) = decode_all_ways(at_limit.as_bytes()).unwrap();
        assert!(payload.is_empty() && done);
        assert_eq!(consumed, at_limit.len());

        let past_limit = format!(
            "0\r\nX: {}\r\n\r\n",
            "v".repeat(TRAILER_BYTES_MAX - fixed + 1)
        );
        let err = decode_all_ways(past_limit.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("TRAILER_BYTES_MAX"), "{err}");
    }

    #[test]
    fn chunked_line_limit_error_names_the_limit() {
        let body = format!("5;{}\r\n", "e".repeat(CHUNK_LINE_BYTES_MAX));
        let err = decode_pieces(body.as_bytes(), 64, 64).unwrap_err();
        assert!(err.to_string().contains("CHUNK_LINE_BYTES_MAX"), "{err}");
    }

    #[test]
    fn chunked_decoder_with_empty_out_consumes_framing_but_no_data() {
        let mut decoder = ChunkedDecoder::new();
        let input = b"5\r\nhello\r\n0\r\n\r\n";
        let progress = decoder.decode(input, &mut []).unwrap();
        assert_eq!(
            progress,
            ChunkProgress {
                consumed: 3,
                written: 0,
                done: false
            }
        );
        let mut out = [0u8; 16];
        let progress = decoder.decode(&input[3..], &mut out).unwrap();
        assert_eq!(
            progress,
            ChunkProgress {
                consumed: input.len() - 3,
                written: 5,
                done: true
            }
        );
        assert_eq!(&out[..5], b"hello");
    }

    #[test]
    fn chunked_decoder_after_done_consumes_nothing() {
        let mut decoder = ChunkedDecoder::new();
        let mut out = [0u8; 8];
        assert!(decoder.decode(b"0\r\n\r\n", &mut out).unwrap().done);
        let progress = decoder.decode(b"1\r\nx\r\n", &mut out).unwrap();
        assert_eq!(
            progress,
            ChunkProgress {
                consumed: 0,
                written: 0,
                done: true
            }
        );
        assert!(decoder.is_done());
    }

    #[test]
    fn chunked_decoder_stays_failed_after_an_error() {
        let mut decoder = ChunkedDecoder::new();
        let mut out = [0u8; 8];
        assert!(decoder.decode(b"x", &mut out).is_err());
        assert!(matches!(
            decoder.decode(b"0\r\n\r\n", &mut out),
            Err(HttpError::BodyMalformed(_))
        ));
        assert!(!decoder.is_done());
    }

    #[test]
    fn chunked_decoder_handles_huge_declared_chunk_incrementally() {
        let mut decoder = ChunkedDecoder::new();
        let mut out = [0u8; 4];
        let progress = decoder
            .decode(b"ffffffffffffffff\r\nabcdefgh", &mut out)
            .unwrap();
        assert_eq!(
            progress,
            ChunkProgress {
                consumed: 22,
                written: 4,
                done: false
            }
        );
        assert_eq!(&out, b"abcd");
    }

    /// Encode `payload` as a chunked body with chunk sizes taken cyclically from `sizes`.
    fn encode_chunked(
        payload: &[u8],
        sizes: &[usize],
        upper: bool,
        ext: bool,
        trailers: bool,
    ) -> Vec<u8> {
        let mut body = Vec::new();
        let mut rest = payload;
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].min(rest.len());
            i += 1;
            let size = if upper {
                format!("{n:X}")
            } else {
                format!("{n:x}")
            };
            body.extend_from_slice(size.as_bytes());
            if ext {
                body.extend_from_slice(b";chunk-signature=abc123");
            }
            body.extend_from_slice(b"\r\n");
            body.extend_from_slice(&rest[..n]);
            body.extend_from_slice(b"\r\n");
            rest = &rest[n..];
        }
        body.extend_from_slice(b"0\r\n");
        if trailers {
            body.extend_from_slice(b"X-Amz-Checksum-Crc32: AAAAAA==\r\nX-Other: 1\r\n");
        }
        body.extend_from_slice(b"\r\n");
        body
    }

    proptest! {
        #[test]
        fn chunked_roundtrip_with_arbitrary_splits_and_small_out(
            payload in proptest::collection::vec(any::<u8>(), 0..2048),
            sizes in proptest::collection::vec(1usize..300, 1..16),
            splits in proptest::collection::vec(1usize..64, 1..32),
            out_len in 1usize..32,
            upper in any::<bool>(),
            ext in any::<bool>(),
            trailers in any::<bool>(),
        ) {
            let body = encode_chunked(&payload, &sizes, upper, ext, trailers);
            let mut input = body.clone();
            input.extend_from_slice(b"NEXT REQUEST");
            let mut decoder = ChunkedDecoder::new();
            let mut out = vec![0u8; out_len];
            let mut decoded = Vec::new();
            let mut offset = 0;
            let mut split = 0;
            while !decoder.is_done() {
                prop_assert!(offset < input.len(), "ran out of input before done");
                let piece_end = (offset + splits[split % splits.len()]).min(input.len());
                split += 1;
                let mut piece = &input[offset..piece_end];
                while !piece.is_empty() && !decoder.is_done() {
                    let progress = decoder.decode(piece, &mut out).unwrap();
                    prop_assert!(progress.consumed <= piece.len() && progress.written <= out.len());
                    prop_assert!(progress.consumed > 0 || progress.written > 0 || progress.done);
                    decoded.extend_from_slice(&out[..progress.written]);
                    piece = &piece[progress.consumed..];
                    offset += progress.consumed;
                }
            }
            prop_assert_eq!(decoded, payload);
            prop_assert_eq!(offset, body.len());
        }

        #[test]
        fn chunked_arbitrary_input_never_panics_or_stalls(
            input in proptest::collection::vec(any::<u8>(), 0..256),
            out_len in 1usize..8,
        ) {
            // Bias towards framing-like bytes by also trying a hex-prefixed variant.
            for candidate in [input.clone(), [b"3\r\n".as_slice(), &input].concat()] {
                let _ = decode_pieces(&candidate, 5, out_len);
            }
        }
    }

    // ----- Range -----

    #[test]
    fn parse_range_handles_all_forms() {
        use RangeError::{MultiRange, Unsatisfiable};
        let ok = |start, len| Ok(ByteRange { start, len });
        let malformed = Err::<ByteRange, _>(RangeError::Malformed(String::new()));
        let cases: Vec<(&str, u64, Result<ByteRange, RangeError>)> = vec![
            ("bytes=0-99", 1000, ok(0, 100)),
            ("bytes=10-10", 1000, ok(10, 1)),
            ("bytes=0-0", 1, ok(0, 1)),
            ("bytes=999-999", 1000, ok(999, 1)),
            ("bytes=990-", 1000, ok(990, 10)),
            ("bytes=999-", 1000, ok(999, 1)),
            ("bytes=0-", 1000, ok(0, 1000)),
            ("bytes=-10", 1000, ok(990, 10)),
            ("bytes=-1", 1000, ok(999, 1)),
            ("bytes=-1000", 1000, ok(0, 1000)),
            ("bytes=-5000", 1000, ok(0, 1000)),
            ("bytes=500-5000", 1000, ok(500, 500)),
            ("bytes=0-99999999999999999999999", 1000, ok(0, 1000)),
            ("bytes=-99999999999999999999999", 1000, ok(0, 1000)),
            ("BYTES=1-2", 1000, ok(1, 2)),
            ("  bytes = 1 - 2  ", 1000, ok(1, 2)),
            ("bytes=1000-", 1000, Err(Unsatisfiable)),
            ("bytes=1000-2000", 1000, Err(Unsatisfiable)),
            ("bytes=99999999999999999999999-", 1000, Err(Unsatisfiable)),
            ("bytes=-0", 1000, Err(Unsatisfiable)),
            ("bytes=0-0", 0, Err(Unsatisfiable)),
            ("bytes=0-", 0, Err(Unsatisfiable)),
            ("bytes=-1", 0, Err(Unsatisfiable)),
            ("bytes=0-1,5-6", 1000, Err(MultiRange)),
            ("bytes=0-1,", 1000, Err(MultiRange)),
            ("bytes=5-4", 1000, malformed.clone()),
            ("bytes=5-4", 0, malformed.clone()),
            ("items=0-1", 1000, malformed.clone()),
            ("items=0-1,2-3", 1000, malformed.clone()),
            ("bytes 0-1", 1000, malformed.clone()),
            ("bytes=", 1000, malformed.clone()),
            ("bytes=-", 1000, malformed.clone()),
            ("bytes=5", 1000, malformed.clone()),
            ("bytes=a-b", 1000, malformed.clone()),
            ("bytes=+1-2", 1000, malformed.clone()),
            ("bytes=1-+2", 1000, malformed.clone()),
            ("bytes=-5-6", 1000, malformed.clone()),
            ("bytes=1-2-3", 1000, malformed.clone()),
            ("", 1000, malformed),
        ];
        for (value, size, expected) in cases {
            let got = parse_range(value, size);
            match (&expected, &got) {
                (Err(RangeError::Malformed(_)), Err(RangeError::Malformed(msg))) => {
                    assert!(!msg.is_empty(), "{value}");
                }
                _ => assert_eq!(got, expected, "{value:?} size {size}"),
            }
        }
    }

    proptest! {
        #[test]
        fn parse_range_result_lies_within_object(a in 0u64..2000, b in 0u64..2000, size in 0u64..1500, form in 0u8..3) {
            let value = match form {
                0 => format!("bytes={a}-{b}"),
                1 => format!("bytes={a}-"),
                _ => format!("bytes=-{b}"),
            };
            if let Ok(range) = parse_range(&value, size) {
                prop_assert!(range.len >= 1);
                prop_assert!(range.start.checked_add(range.len).is_some_and(|end| end <= size));
            }
        }
    }

    // ----- URL helpers -----

    #[test]
    fn percent_decode_path_cases() {
        let cases: &[(&str, Option<&str>)] = &[
            ("/v1/objects/b/o", Some("/v1/objects/b/o")),
            ("a%20b", Some("a b")),
            ("a+b", Some("a+b")),
            ("%2Fx%2fy", Some("/x/y")),
            ("%41%42%43", Some("ABC")),
            ("%E2%82%AC", Some("\u{20ac}")),
            ("%25", Some("%")),
            ("\u{20ac}", Some("\u{20ac}")),
            ("", Some("")),
            ("%zz", None),
            ("%4", None),
            ("%", None),
            ("a%", None),
            ("%g0", None),
            ("%ff", None),
            ("%C3%28", None),
        ];
        for (input, expected) in cases {
            match (percent_decode_path(input), expected) {
                (Ok(got), Some(want)) => assert_eq!(got, *want, "{input:?}"),
                (Err(HttpError::Malformed(msg)), None) => assert!(!msg.is_empty()),
                (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn parse_query_cases() {
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        type Pairs = Vec<(String, String)>;
        let cases: Vec<(&str, Option<Pairs>)> = vec![
            ("", Some(vec![])),
            ("a=1", Some(pairs(&[("a", "1")]))),
            (
                "a=1&b=2&a=3",
                Some(pairs(&[("a", "1"), ("b", "2"), ("a", "3")])),
            ),
            ("q=hello+world", Some(pairs(&[("q", "hello world")]))),
            ("q=a%2Bb", Some(pairs(&[("q", "a+b")]))),
            ("na+me=v%20w", Some(pairs(&[("na me", "v w")]))),
            ("flag", Some(pairs(&[("flag", "")]))),
            ("flag=", Some(pairs(&[("flag", "")]))),
            ("=v", Some(pairs(&[("", "v")]))),
            ("a=1&&b=2&", Some(pairs(&[("a", "1"), ("b", "2")]))),
            ("a=b=c", Some(pairs(&[("a", "b=c")]))),
            ("a=1;b=2", Some(pairs(&[("a", "1;b=2")]))),
            ("prefix=%E2%82%AC", Some(pairs(&[("prefix", "\u{20ac}")]))),
            ("a=%zz", None),
            ("a%4=1", None),
            ("a=%ff", None),
        ];
        for (input, expected) in cases {
            match (parse_query(input), expected) {
                (Ok(got), Some(want)) => assert_eq!(got, want, "{input:?}"),
                (Err(HttpError::Malformed(_)), None) => {}
                (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn percent_encode_cases() {
        let cases = [
            ("abc-._~XYZ019", "abc-._~XYZ019", "abc-._~XYZ019"),
            ("a/b c", "a/b%20c", "a%2Fb%20c"),
            (
                "a+b&c=d?e#f%",
                "a%2Bb%26c%3Dd%3Fe%23f%25",
                "a%2Bb%26c%3Dd%3Fe%23f%25",
            ),
            ("\u{20ac}", "%E2%82%AC", "%E2%82%AC"),
            ("", "", ""),
        ];
        for (input, path, query) in cases {
            assert_eq!(percent_encode_path(input), path, "path {input:?}");
            assert_eq!(percent_encode_query(input), query, "query {input:?}");
        }
    }

    proptest! {
        #[test]
        fn percent_encode_path_roundtrips(s in any::<String>()) {
            let encoded = percent_encode_path(&s);
            prop_assert!(encoded.bytes().all(|b| b.is_ascii_graphic()));
            prop_assert_eq!(percent_decode_path(&encoded).unwrap(), s);
        }

        #[test]
        fn percent_encode_query_roundtrips_through_parse_query(k in any::<String>(), v in any::<String>()) {
            let q = format!("{}={}&x=1", percent_encode_query(&k), percent_encode_query(&v));
            let parsed = parse_query(&q).unwrap();
            prop_assert_eq!(parsed, vec![(k, v), ("x".to_owned(), "1".to_owned())]);
        }

        #[test]
        fn percent_decode_and_parse_query_never_panic(s in "[%+&=a-fA-F0-9\u{80}-\u{10ff}]{0,40}") {
            let _ = percent_decode_path(&s);
            let _ = parse_query(&s);
        }
    }

    // ----- response head -----

    #[test]
    fn reason_phrase_covers_common_codes() {
        let cases = [
            (100, "Continue"),
            (200, "OK"),
            (204, "No Content"),
            (206, "Partial Content"),
            (301, "Moved Permanently"),
            (307, "Temporary Redirect"),
            (400, "Bad Request"),
            (403, "Forbidden"),
            (404, "Not Found"),
            (405, "Method Not Allowed"),
            (408, "Request Timeout"),
            (409, "Conflict"),
            (411, "Length Required"),
            (413, "Content Too Large"),
            (416, "Range Not Satisfiable"),
            (429, "Too Many Requests"),
            (431, "Request Header Fields Too Large"),
            (500, "Internal Server Error"),
            (501, "Not Implemented"),
            (503, "Service Unavailable"),
            (507, "Insufficient Storage"),
            (599, ""),
        ];
        for (status, phrase) in cases {
            assert_eq!(reason_phrase(status), phrase, "{status}");
        }
    }

    #[test]
    fn write_response_head_formats_status_line_and_headers() {
        type Headers<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(u16, Headers, &str)] = &[
            (200, &[], "HTTP/1.1 200 OK\r\n\r\n"),
            (
                206,
                &[("Content-Range", "bytes 0-9/100"), ("Content-Length", "10")],
                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/100\r\nContent-Length: 10\r\n\r\n",
            ),
            (100, &[], "HTTP/1.1 100 Continue\r\n\r\n"),
            (599, &[("x", "")], "HTTP/1.1 599 \r\nx: \r\n\r\n"),
        ];
        for (status, headers, expected) in cases {
            let mut out = b"prefix".to_vec();
            write_head(&mut out, *status, headers, None);
            assert_eq!(String::from_utf8(out).unwrap(), format!("prefix{expected}"));
        }
        let mut out = Vec::new();
        write_head(
            &mut out,
            204,
            &[("X", "1")],
            Some("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(
            out,
            b"HTTP/1.1 204 No Content\r\nX: 1\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"
        );
    }

    /// Every final response gets exactly one `Date`, the current one unless the caller passed
    /// its own; interim (1xx) responses get none.
    #[test]
    fn write_response_head_adds_the_current_date_unless_given() {
        fn dates(out: &[u8]) -> Vec<String> {
            let mut slots = [httparse::EMPTY_HEADER; 8];
            let mut resp = httparse::Response::new(&mut slots);
            assert!(resp.parse(out).unwrap().is_complete());
            resp.headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case("date"))
                .map(|h| String::from_utf8(h.value.to_vec()).unwrap())
                .collect()
        }
        for status in [200, 206, 301, 404, 500, 503] {
            let before = crate::time::now_unix_ns() / 1_000_000_000;
            let mut out = Vec::new();
            write_response_head(&mut out, status, &[("Content-Length", "0")]);
            let after = crate::time::now_unix_ns() / 1_000_000_000;
            let found = dates(&out);
            assert_eq!(found.len(), 1, "{status}: {found:?}");
            let secs = crate::time::parse_http_date(&found[0]).expect("IMF-fixdate");
            assert!((before..=after).contains(&secs), "{status}: {found:?}");
        }
        let mut out = Vec::new();
        let own = "Sun, 06 Nov 1994 08:49:37 GMT";
        write_response_head(&mut out, 200, &[("date", own)]);
        assert_eq!(dates(&out), [own]);
        let mut out = Vec::new();
        write_response_head(&mut out, 100, &[]);
        assert_eq!(out, b"HTTP/1.1 100 Continue\r\n\r\n");
    }

    /// Runs in release builds too: CR/LF never splits the head, whatever the build.
    #[test]
    fn draining_thread_says_connection_close_once() {
        let head = |headers: &[(&str, &str)], status| {
            let mut out = Vec::new();
            write_response_head(&mut out, status, headers);
            String::from_utf8(out).unwrap().to_ascii_lowercase()
        };
        assert!(!head(&[], 200).contains("connection:"));
        set_closing_responses(true);
        let h = head(&[("Content-Length", "0")], 200);
        assert_eq!(h.matches("connection: close").count(), 1, "{h}");
        let h = head(&[("Connection", "close")], 404);
        assert_eq!(h.matches("connection:").count(), 1, "{h}");
        assert!(!head(&[], 100).contains("connection:"), "not on 1xx");
        // Another thread (another core) is not draining.
        assert!(
            std::thread::spawn(move || !head(&[], 200).contains("connection:"))
                .join()
                .unwrap()
        );
        set_closing_responses(false);
        assert!(!head(&[], 200).contains("connection:"));
    }

    #[test]
    fn write_response_head_neutralizes_crlf_in_names_and_values() {
        let mut out = Vec::new();
        write_head(
            &mut out,
            200,
            &[("X-A", "a\r\nSet-Cookie: x"), ("X-B\nY", "1\r2")],
            None,
        );
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nX-A: a  Set-Cookie: x\r\nX-B Y: 1 2\r\n\r\n"
        );
        let mut out = Vec::new();
        write_response_head(&mut out, 200, &[("X-A", "a\r\nSet-Cookie: x\r\n\r\nbody")]);
        let mut slots = [httparse::EMPTY_HEADER; 8];
        let mut resp = httparse::Response::new(&mut slots);
        assert_eq!(
            resp.parse(&out).unwrap(),
            httparse::Status::Complete(out.len())
        );
        let names: Vec<&str> = resp.headers.iter().map(|h| h.name).collect();
        assert_eq!(names, ["X-A", "Date"]);
        assert_eq!(resp.headers[0].value, b"a  Set-Cookie: x    body");
    }

    #[test]
    fn write_response_head_output_parses_back_as_http() {
        let mut out = Vec::new();
        write_response_head(
            &mut out,
            404,
            &[("Content-Length", "0"), ("Ais-Error", "not found")],
        );
        let mut slots = [httparse::EMPTY_HEADER; 4];
        let mut resp = httparse::Response::new(&mut slots);
        assert_eq!(
            resp.parse(&out).unwrap(),
            httparse::Status::Complete(out.len())
        );
        assert_eq!(resp.code, Some(404));
        assert_eq!(resp.reason, Some("Not Found"));
        assert_eq!(resp.headers.len(), 3, "Content-Length, Ais-Error, Date");
    }
}
