//! Sans-IO decoder for `aws-chunked` request bodies (`Content-Encoding: aws-chunked`,
//! `x-amz-content-sha256: STREAMING-*`), the S3 streaming upload framing:
//!
//! ```text
//! signed:    <hex size>;chunk-signature=<64 hex>\r\n<data>\r\n ... 0;chunk-signature=<sig>\r\n
//! unsigned:  <hex size>\r\n<data>\r\n ... 0\r\n
//! then:      [x-amz-checksum-<alg>:<base64>\r\n] [x-amz-trailer-signature:<64 hex>\r\n] \r\n
//! ```
//!
//! The variant comes from `x-amz-content-sha256` ([`StreamingPayload`]); the trailer, if any,
//! is announced by the `x-amz-trailer` header. The decoder runs underneath (after) HTTP
//! framing: feed it the bytes of the HTTP body (already de-chunked if the request also used
//! `Transfer-Encoding: chunked`).
//!
//! What it checks:
//! * framing, strictly (CRLF everywhere, at most 16 hex digits of size, nothing after the final
//!   empty line is consumed);
//! * with a [`SigningContext`] and a signed variant, every chunk signature (string to sign
//!   `AWS4-HMAC-SHA256-PAYLOAD`, chained from the request's seed signature) when the chunk's
//!   data ends (data is hashed incrementally, so chunks of any size stream through without
//!   being buffered), and the trailer signature (`AWS4-HMAC-SHA256-TRAILER`):
//!   `SignatureDoesNotMatch`;
//! * the trailing checksum against the decoded payload: `BadDigest`;
//! * the decoded length against `x-amz-decoded-content-length`: `IncompleteBody`.
//!
//! # Invariants
//!
//! * Like [`crate::http::ChunkedDecoder`]: works for input split at any byte boundary, makes
//!   progress whenever it can, never consumes past the end of the body, never panics, and stays
//!   failed after an error.
//! * Payload bytes are written to the caller's buffer before their chunk's signature (and the
//!   trailer checksum) can be checked: the caller must discard everything written if any call
//!   fails, and commit the object only after [`AwsChunkedDecoder::is_done`].
//!
//! # What it does not do
//!
//! * No minimum chunk size check (S3 requires 8 KiB for all but the last signed chunk; being
//!   lenient costs nothing here), no SigV4a (ECDSA) chunk signatures.
//! * No limit on the object size: the caller compares [`AwsChunkedDecoder::decoded_bytes`] with
//!   its own limit (and `x-amz-decoded-content-length` is checked here only if given).

use sha2::{Digest, Sha256};

use super::checksum::{ChecksumAlgorithm, ChecksumHasher};
use super::error::{S3Error, S3ErrorCode};
use super::sigv4::{signatures_equal, SigningContext, StreamingPayload};
use crate::hex;
use crate::http::ChunkProgress;

/// Maximum length in bytes of a chunk-size line without its CRLF: 16 hex digits, then
/// `;chunk-signature=` and 64 hex digits for signed chunks (97 bytes), rounded up.
pub const CHUNK_LINE_BYTES_MAX: usize = 128;
/// Maximum size in bytes of the trailer section, CRLFs and final empty line included (a
/// checksum line and a signature line take under 200 bytes).
pub const TRAILER_BYTES_MAX: usize = 4096;
/// Maximum number of hex digits of a chunk size (64 bits).
const CHUNK_SIZE_HEX_DIGITS_MAX: usize = 16;
const CHUNK_SIGNATURE_PREFIX: &[u8] = b";chunk-signature=";
const TRAILER_SIGNATURE_NAME: &str = "x-amz-trailer-signature";

const _: () =
    assert!(CHUNK_LINE_BYTES_MAX >= CHUNK_SIZE_HEX_DIGITS_MAX + CHUNK_SIGNATURE_PREFIX.len() + 64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Accumulating a chunk-size line in `line`.
    ChunkLine,
    /// `chunk_left` data bytes of the current chunk remain.
    Data,
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// Accumulating a trailer line (or the final empty line) in `line`.
    TrailerLine,
    Done,
    Failed,
}

/// Decoder for one aws-chunked body. See the module docs.
pub struct AwsChunkedDecoder {
    mode: StreamingPayload,
    /// Present when chunk and trailer signatures are verified.
    signing: Option<SigningContext>,
    state: State,
    /// The current chunk-size or trailer line (without CRLF).
    line: Vec<u8>,
    /// Data bytes left in the current chunk.
    chunk_left: u64,
    /// Signature announced on the current chunk's size line.
    chunk_signature: [u8; 32],
    /// Hash of the current chunk's data (only while verifying signatures).
    chunk_hasher: Sha256,
    /// The previous signature in the chain (seed, then each chunk's).
    previous_signature: [u8; 32],
    /// Trailer checksum announced by `x-amz-trailer`.
    checksum_algorithm: Option<ChecksumAlgorithm>,
    /// That checksum, computed over the decoded payload (taken when verified).
    checksum: Option<ChecksumHasher>,
    /// Value of the announced checksum trailer, once received.
    checksum_value: Option<String>,
    /// Value of `x-amz-trailer-signature`, once received.
    trailer_signature: Option<[u8; 32]>,
    trailer_bytes: usize,
    decoded_bytes: u64,
    decoded_length_bytes: Option<u64>,
}

impl std::fmt::Debug for AwsChunkedDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsChunkedDecoder")
            .field("mode", &self.mode)
            .field("verifying", &self.signing.is_some())
            .field("state", &self.state)
            .field("chunk_left", &self.chunk_left)
            .field("decoded_bytes", &self.decoded_bytes)
            .field("decoded_length_bytes", &self.decoded_length_bytes)
            .finish_non_exhaustive()
    }
}

impl AwsChunkedDecoder {
    /// A decoder for a body in `mode`.
    ///
    /// * `signing`: from [`crate::s3::sigv4::verify`]; with a signed `mode` every chunk and
    ///   trailer signature is verified. `None` parses signatures without checking them (for
    ///   requests the server accepts unauthenticated).
    /// * `trailer_header`: the `x-amz-trailer` header, naming the checksum trailer
    ///   (`x-amz-checksum-crc32`, `-crc32c`, `-crc64nvme`, `-sha1`, `-sha256`). Only valid with
    ///   a trailer `mode`; an unknown name is `InvalidRequest`.
    /// * `decoded_length_bytes`: the `x-amz-decoded-content-length` header, if sent.
    pub fn new(
        mode: StreamingPayload,
        signing: Option<&SigningContext>,
        trailer_header: Option<&str>,
        decoded_length_bytes: Option<u64>,
    ) -> Result<Self, S3Error> {
        let checksum_algorithm = match trailer_header.map(str::trim) {
            None | Some("") => None,
            Some(name) if !mode.has_trailer() => {
                return Err(S3Error::new(
                    S3ErrorCode::InvalidRequest,
                    format!(
                        "x-amz-trailer {name:?} requires x-amz-content-sha256 \
                         STREAMING-UNSIGNED-PAYLOAD-TRAILER or \
                         STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, not {}",
                        mode.as_str()
                    ),
                ))
            }
            Some(name) => {
                let algorithm = ChecksumAlgorithm::from_header_name(name).ok_or_else(|| {
                    S3Error::new(
                        S3ErrorCode::InvalidRequest,
                        format!(
                            "x-amz-trailer {:?} is not a supported checksum (x-amz-checksum-crc32, \
                             -crc32c, -crc64nvme, -sha1 or -sha256)",
                            name.chars().take(64).collect::<String>()
                        ),
                    )
                })?;
                Some(algorithm)
            }
        };
        let signing = signing.filter(|_| mode.chunks_signed()).cloned();
        let previous_signature = signing.as_ref().map_or([0; 32], |s| s.seed_signature);
        Ok(AwsChunkedDecoder {
            mode,
            signing,
            state: State::ChunkLine,
            line: Vec::with_capacity(CHUNK_LINE_BYTES_MAX),
            chunk_left: 0,
            chunk_signature: [0; 32],
            chunk_hasher: Sha256::new(),
            previous_signature,
            checksum_algorithm,
            checksum: checksum_algorithm.map(ChecksumHasher::new),
            checksum_value: None,
            trailer_signature: None,
            trailer_bytes: 0,
            decoded_bytes: 0,
            decoded_length_bytes,
        })
    }

    /// Consume as much of `input` as possible, writing payload bytes into `out`.
    ///
    /// Same contract as [`crate::http::ChunkedDecoder::decode`]: returns input bytes consumed,
    /// payload bytes written to `out[..written]`, and whether the body is complete (the final
    /// empty line consumed, everything verified). Stops early only when `out` is full while data
    /// is pending, or at the end of the body.
    pub fn decode(&mut self, input: &[u8], out: &mut [u8]) -> Result<ChunkProgress, S3Error> {
        let mut consumed = 0usize;
        let mut written = 0usize;
        loop {
            match self.state {
                State::Done => break,
                State::Failed => {
                    return Err(S3Error::new(
                        S3ErrorCode::IncompleteBody,
                        "aws-chunked decoder used after an error",
                    ))
                }
                State::Data => {
                    let input_left = &input[consumed..];
                    let out_left = &mut out[written..];
                    let available = input_left.len().min(out_left.len());
                    if available == 0 {
                        break;
                    }
                    let n =
                        usize::try_from(self.chunk_left).map_or(available, |l| l.min(available));
                    let data = &input_left[..n];
                    out_left[..n].copy_from_slice(data);
                    consumed += n;
                    written += n;
                    if let Err(err) = self.on_data(data) {
                        self.state = State::Failed;
                        return Err(err);
                    }
                }
                _ => {
                    let Some(&byte) = input.get(consumed) else {
                        break;
                    };
                    consumed += 1;
                    if let Err(err) = self.step(byte) {
                        self.state = State::Failed;
                        return Err(err);
                    }
                }
            }
        }
        Ok(ChunkProgress {
            consumed,
            written,
            done: self.state == State::Done,
        })
    }

    /// The body is complete and verified.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Payload bytes decoded so far.
    pub fn decoded_bytes(&self) -> u64 {
        self.decoded_bytes
    }

    /// The verified trailing checksum (algorithm and base64 value), once the body is done.
    pub fn trailer_checksum(&self) -> Option<(ChecksumAlgorithm, &str)> {
        if !self.is_done() {
            return None;
        }
        Some((self.checksum_algorithm?, self.checksum_value.as_deref()?))
    }

    /// Call when the input ended: `IncompleteBody` unless the body is complete.
    pub fn finish(&self) -> Result<(), S3Error> {
        if self.is_done() {
            return Ok(());
        }
        Err(S3Error::new(
            S3ErrorCode::IncompleteBody,
            format!(
                "The aws-chunked body ended after {} decoded bytes, before its final chunk and \
                 trailer",
                self.decoded_bytes
            ),
        ))
    }

    fn on_data(&mut self, data: &[u8]) -> Result<(), S3Error> {
        if self.signing.is_some() {
            self.chunk_hasher.update(data);
        }
        if let Some(checksum) = &mut self.checksum {
            checksum.update(data);
        }
        // data.len() <= chunk_left by construction.
        self.chunk_left -= data.len() as u64;
        self.decoded_bytes = self.decoded_bytes.saturating_add(data.len() as u64);
        if let Some(declared) = self.decoded_length_bytes {
            if self.decoded_bytes > declared {
                return Err(S3Error::new(
                    S3ErrorCode::IncompleteBody,
                    format!(
                        "The aws-chunked body carries more than the {declared} bytes of \
                         x-amz-decoded-content-length"
                    ),
                ));
            }
        }
        if self.chunk_left == 0 {
            let hash: [u8; 32] = std::mem::take(&mut self.chunk_hasher).finalize().into();
            self.verify_chunk_signature(&hash)?;
            self.state = State::DataCr;
        }
        Ok(())
    }

    fn verify_chunk_signature(&mut self, chunk_sha256: &[u8; 32]) -> Result<(), S3Error> {
        let Some(signing) = &self.signing else {
            return Ok(());
        };
        let expected = signing.chunk_signature(&self.previous_signature, chunk_sha256);
        if !signatures_equal(&expected, &self.chunk_signature) {
            return Err(S3Error::new(
                S3ErrorCode::SignatureDoesNotMatch,
                format!(
                    "The chunk signature of the chunk ending at decoded byte {} does not match",
                    self.decoded_bytes
                ),
            ));
        }
        self.previous_signature = self.chunk_signature;
        Ok(())
    }

    /// Advance by one framing byte (never called in `Data`, `Done` or `Failed`).
    fn step(&mut self, byte: u8) -> Result<(), S3Error> {
        match self.state {
            State::ChunkLine => {
                if byte != b'\n' {
                    if self.line.len() == CHUNK_LINE_BYTES_MAX + 1 {
                        return Err(malformed(format!(
                            "a chunk-size line exceeds CHUNK_LINE_BYTES_MAX \
                             ({CHUNK_LINE_BYTES_MAX} bytes)"
                        )));
                    }
                    self.line.push(byte);
                    return Ok(());
                }
                let line = take_crlf_line(&mut self.line)?;
                self.on_chunk_line(&line)?;
            }
            State::DataCr => {
                if byte != b'\r' {
                    return Err(malformed("missing CRLF after chunk data".to_owned()));
                }
                self.state = State::DataLf;
            }
            State::DataLf => {
                if byte != b'\n' {
                    return Err(malformed("missing CRLF after chunk data".to_owned()));
                }
                self.state = State::ChunkLine;
            }
            State::TrailerLine => {
                self.trailer_bytes += 1;
                if self.trailer_bytes > TRAILER_BYTES_MAX {
                    return Err(trailer_error(format!(
                        "the trailer section exceeds TRAILER_BYTES_MAX ({TRAILER_BYTES_MAX} bytes)"
                    )));
                }
                if byte != b'\n' {
                    self.line.push(byte);
                    return Ok(());
                }
                let line = take_crlf_line(&mut self.line)?;
                if line.is_empty() {
                    self.finish_trailers()?;
                    self.state = State::Done;
                } else {
                    self.on_trailer_line(&line)?;
                }
            }
            State::Data | State::Done | State::Failed => {
                debug_assert!(false, "step() called in state {:?}", self.state);
            }
        }
        Ok(())
    }

    fn on_chunk_line(&mut self, line: &[u8]) -> Result<(), S3Error> {
        let (size_hex, rest) = match line.iter().position(|&b| b == b';') {
            Some(i) => line.split_at(i),
            None => (line, &[][..]),
        };
        if size_hex.is_empty()
            || size_hex.len() > CHUNK_SIZE_HEX_DIGITS_MAX
            || !size_hex.iter().all(u8::is_ascii_hexdigit)
        {
            return Err(malformed(format!(
                "invalid chunk size {:?} (1 to {CHUNK_SIZE_HEX_DIGITS_MAX} hex digits)",
                String::from_utf8_lossy(&size_hex[..size_hex.len().min(32)])
            )));
        }
        let size = size_hex.iter().fold(0u64, |acc, &b| {
            (acc << 4) | u64::from(hex::digit(b).unwrap_or(0))
        });
        if self.mode.chunks_signed() {
            let signature = rest
                .strip_prefix(CHUNK_SIGNATURE_PREFIX)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(hex::decode::<32>)
                .ok_or_else(|| {
                    malformed(format!(
                        "a signed chunk must be <hex size>;chunk-signature=<64 hex digits>, \
                         got {:?}",
                        String::from_utf8_lossy(&line[..line.len().min(120)])
                    ))
                })?;
            self.chunk_signature = signature;
        } else if !rest.is_empty() {
            return Err(malformed(format!(
                "an unsigned chunk must be <hex size> alone, got {:?}",
                String::from_utf8_lossy(&line[..line.len().min(120)])
            )));
        }
        if size > 0 {
            self.chunk_left = size;
            self.state = State::Data;
            return Ok(());
        }
        // The final, zero-size chunk.
        let empty_hash: [u8; 32] = Sha256::digest(b"").into();
        self.verify_chunk_signature(&empty_hash)?;
        if let Some(declared) = self.decoded_length_bytes {
            if self.decoded_bytes != declared {
                return Err(S3Error::new(
                    S3ErrorCode::IncompleteBody,
                    format!(
                        "The aws-chunked body carries {} bytes, not the {declared} bytes of \
                         x-amz-decoded-content-length",
                        self.decoded_bytes
                    ),
                ));
            }
        }
        self.state = State::TrailerLine;
        Ok(())
    }

    fn on_trailer_line(&mut self, line: &[u8]) -> Result<(), S3Error> {
        if !self.mode.has_trailer() {
            return Err(trailer_error(format!(
                "{} bodies end with an empty line after the final chunk, found trailer data",
                self.mode.as_str()
            )));
        }
        let line = std::str::from_utf8(line)
            .map_err(|_| trailer_error("a trailer line is not UTF-8".to_owned()))?;
        let Some((name, value)) = line.split_once(':') else {
            return Err(trailer_error(format!(
                "trailer line {:?} is not name:value",
                truncate(line)
            )));
        };
        let name = name.trim();
        let value = value.trim();
        if let Some(algorithm) = self.checksum_algorithm {
            if name.eq_ignore_ascii_case(algorithm.header_name()) {
                if self.checksum_value.replace(value.to_owned()).is_some() {
                    return Err(trailer_error(format!("trailer {name} is repeated")));
                }
                return Ok(());
            }
        }
        if self.mode == StreamingPayload::SignedTrailer
            && name.eq_ignore_ascii_case(TRAILER_SIGNATURE_NAME)
        {
            let signature = hex::decode::<32>(value).ok_or_else(|| {
                trailer_error(format!("{TRAILER_SIGNATURE_NAME} must be 64 hex digits"))
            })?;
            if self.trailer_signature.replace(signature).is_some() {
                return Err(trailer_error(format!(
                    "{TRAILER_SIGNATURE_NAME} is repeated"
                )));
            }
            return Ok(());
        }
        Err(trailer_error(format!(
            "unexpected trailer {:?} (x-amz-trailer announced {})",
            truncate(name),
            self.checksum_algorithm
                .map_or("none", ChecksumAlgorithm::header_name)
        )))
    }

    fn finish_trailers(&mut self) -> Result<(), S3Error> {
        if let Some(algorithm) = self.checksum_algorithm {
            let name = algorithm.header_name();
            if self.checksum_value.is_none() {
                return Err(trailer_error(format!(
                    "the trailer {name} announced by x-amz-trailer is missing"
                )));
            }
            if self.mode == StreamingPayload::SignedTrailer && self.trailer_signature.is_none() {
                return Err(trailer_error(format!(
                    "{TRAILER_SIGNATURE_NAME} is missing"
                )));
            }
        }
        if let (Some(signing), Some(provided)) = (&self.signing, &self.trailer_signature) {
            let mut canonical = String::new();
            if let (Some(algorithm), Some(value)) = (self.checksum_algorithm, &self.checksum_value)
            {
                canonical.push_str(algorithm.header_name());
                canonical.push(':');
                canonical.push_str(value);
                canonical.push('\n');
            }
            let expected =
                signing.trailer_signature(&self.previous_signature, canonical.as_bytes());
            if !signatures_equal(&expected, provided) {
                return Err(S3Error::new(
                    S3ErrorCode::SignatureDoesNotMatch,
                    "The trailer signature (x-amz-trailer-signature) does not match",
                ));
            }
        }
        if let (Some(checksum), Some(value)) = (self.checksum.take(), &self.checksum_value) {
            let name = checksum.algorithm().header_name();
            checksum.verify(name, value)?;
        }
        Ok(())
    }
}

/// Take the accumulated line, which must end with CR (the LF was just seen), without the CR.
fn take_crlf_line(line: &mut Vec<u8>) -> Result<Vec<u8>, S3Error> {
    if line.last() != Some(&b'\r') {
        return Err(malformed("a line is terminated by a bare LF".to_owned()));
    }
    line.pop();
    let taken = line.clone();
    line.clear();
    Ok(taken)
}

fn malformed(detail: String) -> S3Error {
    S3Error::new(
        S3ErrorCode::InvalidRequest,
        format!("Malformed aws-chunked body: {detail}"),
    )
}

fn trailer_error(detail: String) -> S3Error {
    S3Error::new(
        S3ErrorCode::MalformedTrailerError,
        format!("Malformed aws-chunked trailer: {detail}"),
    )
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Does a `Content-Encoding` value list `aws-chunked`?
pub fn is_aws_chunked(content_encoding: &str) -> bool {
    content_encoding
        .split(',')
        .any(|coding| coding.trim().eq_ignore_ascii_case("aws-chunked"))
}

/// The `Content-Encoding` to store for the object: the value without `aws-chunked` (`None` if
/// nothing else remains).
pub fn content_encoding_without_aws_chunked(content_encoding: &str) -> Option<String> {
    let rest: Vec<&str> = content_encoding
        .split(',')
        .map(str::trim)
        .filter(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    (!rest.is_empty()).then(|| rest.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hex;
    use crate::s3::sigv4::tests::{headers, lookup, ACCESS_KEY, EXAMPLE_NOW, SECRET_KEY};
    use crate::s3::sigv4::{parse_auth, verify, AuthKind, PayloadHash, RequestParts};
    use proptest::prelude::*;

    const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
    const CHUNK1: &str = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
    const CHUNK2: &str = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497";
    const FINAL: &str = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9";

    /// The AWS "Example: PUT Object" of "Signature Calculations for the Authorization Header:
    /// Transferring Payload in Multiple Chunks": verify the request, return its context.
    fn aws_example_context() -> SigningContext {
        let hdrs = headers(&[
            ("host", "s3.amazonaws.com"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            (
                "authorization",
                &format!(
                    "AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20130524/us-east-1/s3/aws4_request,\
                     SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;\
                     x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature={SEED}"
                ),
            ),
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("content-length", "66824"),
        ]);
        let req = RequestParts {
            method: "PUT",
            raw_path: "/examplebucket/chunkObject.txt",
            raw_query: "",
            headers: &hdrs,
        };
        let AuthKind::Header(auth) = parse_auth(&req).unwrap() else {
            panic!("header auth expected");
        };
        verify(&req, &auth, lookup, EXAMPLE_NOW).expect("the AWS seed signature verifies")
    }

    /// The example body: 65536 + 1024 bytes of 'a' in two chunks, then the final chunk.
    fn aws_example_body() -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(format!("10000;chunk-signature={CHUNK1}\r\n").as_bytes());
        body.extend_from_slice(&[b'a'; 65536]);
        body.extend_from_slice(format!("\r\n400;chunk-signature={CHUNK2}\r\n").as_bytes());
        body.extend_from_slice(&[b'a'; 1024]);
        body.extend_from_slice(format!("\r\n0;chunk-signature={FINAL}\r\n\r\n").as_bytes());
        body
    }

    /// Decode `input` fed in pieces of `piece_len` with an output buffer of `out_len`.
    fn decode_all(
        decoder: &mut AwsChunkedDecoder,
        input: &[u8],
        piece_len: usize,
        out_len: usize,
    ) -> Result<(Vec<u8>, usize), S3Error> {
        let mut out = vec![0u8; out_len];
        let mut payload = Vec::new();
        let mut offset = 0;
        while offset < input.len() && !decoder.is_done() {
            let end = (offset + piece_len).min(input.len());
            let mut piece = &input[offset..end];
            while !piece.is_empty() && !decoder.is_done() {
                let progress = decoder.decode(piece, &mut out)?;
                assert!(progress.consumed > 0 || progress.written > 0 || progress.done);
                payload.extend_from_slice(&out[..progress.written]);
                piece = &piece[progress.consumed..];
                offset += progress.consumed;
            }
        }
        Ok((payload, offset))
    }

    #[test]
    fn aws_example_chunked_put_decodes_and_verifies() {
        let ctx = aws_example_context();
        assert_eq!(hex::encode(&ctx.seed_signature), SEED);
        assert_eq!(
            ctx.payload,
            PayloadHash::Streaming(StreamingPayload::Signed)
        );
        // The published chunk signatures chain from the seed.
        let c1 = ctx.chunk_signature(&ctx.seed_signature, &Sha256::digest([b'a'; 65536]).into());
        assert_eq!(hex::encode(&c1), CHUNK1);
        let c2 = ctx.chunk_signature(&c1, &Sha256::digest([b'a'; 1024]).into());
        assert_eq!(hex::encode(&c2), CHUNK2);
        let c3 = ctx.chunk_signature(&c2, &Sha256::digest(b"").into());
        assert_eq!(hex::encode(&c3), FINAL);

        let body = aws_example_body();
        assert_eq!(body.len(), 66824, "Content-Length of the example");
        let mut decoder =
            AwsChunkedDecoder::new(StreamingPayload::Signed, Some(&ctx), None, Some(66560))
                .unwrap();
        let mut with_garbage = body.clone();
        with_garbage.extend_from_slice(b"NEXT REQUEST");
        let (payload, consumed) =
            decode_all(&mut decoder, &with_garbage, usize::MAX, 70_000).unwrap();
        assert_eq!(consumed, body.len(), "stops right after the final CRLF");
        assert_eq!(payload, vec![b'a'; 66560]);
        assert!(decoder.is_done());
        assert_eq!(decoder.finish(), Ok(()));
        assert_eq!(decoder.decoded_bytes(), 66560);
        assert_eq!(decoder.trailer_checksum(), None);
    }

    #[test]
    fn aws_example_with_a_wrong_chunk_signature_fails_at_that_chunk() {
        let ctx = aws_example_context();
        let body = aws_example_body();
        let tampered = String::from_utf8(body.clone())
            .unwrap()
            .replace(CHUNK2, &"0".repeat(64));
        let mut decoder =
            AwsChunkedDecoder::new(StreamingPayload::Signed, Some(&ctx), None, None).unwrap();
        let err = decode_all(&mut decoder, tampered.as_bytes(), 1000, 4096).unwrap_err();
        assert_eq!(err.code, S3ErrorCode::SignatureDoesNotMatch);
        assert!(err.message.contains("66560"), "{}", err.message);
        // Tampered data fails too.
        let mut flipped = body.clone();
        flipped[100] = b'b';
        let mut decoder =
            AwsChunkedDecoder::new(StreamingPayload::Signed, Some(&ctx), None, None).unwrap();
        let err = decode_all(&mut decoder, &flipped, 4096, 4096).unwrap_err();
        assert_eq!(err.code, S3ErrorCode::SignatureDoesNotMatch);
        assert!(err.message.contains("65536"), "{}", err.message);
        // And the decoder stays failed.
        assert!(decoder.decode(b"0", &mut [0; 8]).is_err());
        // Without a context the same tampered body decodes (signatures unchecked).
        let mut decoder =
            AwsChunkedDecoder::new(StreamingPayload::Signed, None, None, None).unwrap();
        assert!(decode_all(&mut decoder, &flipped, 4096, 4096).is_ok());
    }

    #[test]
    fn decoded_length_mismatch_is_incomplete_body() {
        let ctx = aws_example_context();
        for declared in [66559, 66561, 0] {
            let mut decoder =
                AwsChunkedDecoder::new(StreamingPayload::Signed, Some(&ctx), None, Some(declared))
                    .unwrap();
            let err = decode_all(&mut decoder, &aws_example_body(), 512, 512).unwrap_err();
            assert_eq!(err.code, S3ErrorCode::IncompleteBody, "declared {declared}");
        }
    }

    #[test]
    fn truncated_body_is_incomplete_at_finish() {
        let body = aws_example_body();
        let mut decoder =
            AwsChunkedDecoder::new(StreamingPayload::Signed, None, None, None).unwrap();
        let (_, consumed) = decode_all(&mut decoder, &body[..body.len() - 1], 100, 100).unwrap();
        assert_eq!(consumed, body.len() - 1);
        assert!(!decoder.is_done());
        assert_eq!(
            decoder.finish().unwrap_err().code,
            S3ErrorCode::IncompleteBody
        );
    }

    /// Encode `payload` in chunks of `sizes` (cycled) in `mode`, signing with `ctx` when given,
    /// with an optional checksum trailer.
    fn encode(
        payload: &[u8],
        sizes: &[usize],
        mode: StreamingPayload,
        ctx: Option<&SigningContext>,
        checksum: Option<ChecksumAlgorithm>,
    ) -> Vec<u8> {
        let mut body = Vec::new();
        let mut previous = ctx.map_or([0; 32], |c| c.seed_signature);
        let mut chunks: Vec<&[u8]> = Vec::new();
        let mut rest = payload;
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].max(1).min(rest.len());
            chunks.push(&rest[..n]);
            rest = &rest[n..];
            i += 1;
        }
        chunks.push(&[]);
        for chunk in chunks {
            body.extend_from_slice(format!("{:x}", chunk.len()).as_bytes());
            if mode.chunks_signed() {
                let sig = ctx.map_or([7; 32], |c| {
                    c.chunk_signature(&previous, &Sha256::digest(chunk).into())
                });
                previous = sig;
                body.extend_from_slice(
                    format!(";chunk-signature={}", hex::encode(&sig)).as_bytes(),
                );
            }
            body.extend_from_slice(b"\r\n");
            body.extend_from_slice(chunk);
            if !chunk.is_empty() {
                body.extend_from_slice(b"\r\n");
            }
        }
        if let Some(alg) = checksum {
            let mut h = ChecksumHasher::new(alg);
            h.update(payload);
            let line = format!("{}:{}\n", alg.header_name(), h.finish_base64());
            body.extend_from_slice(line.replace('\n', "\r\n").as_bytes());
            if mode == StreamingPayload::SignedTrailer {
                let sig = ctx.map_or([7; 32], |c| c.trailer_signature(&previous, line.as_bytes()));
                body.extend_from_slice(
                    format!("x-amz-trailer-signature:{}\r\n", hex::encode(&sig)).as_bytes(),
                );
            }
        }
        body.extend_from_slice(b"\r\n");
        body
    }

    fn find(haystack: &[u8], needle: &[u8]) -> usize {
        haystack
            .windows(needle.len())
            .position(|w| w == needle)
            .expect("needle present")
    }

    fn test_context(mode: StreamingPayload) -> SigningContext {
        SigningContext::new(
            SECRET_KEY,
            ACCESS_KEY,
            "20130524T000000Z",
            "us-east-1",
            [0x42; 32],
            PayloadHash::Streaming(mode),
        )
    }

    #[test]
    fn unsigned_trailer_as_boto3_sends_it() {
        // botocore's AwsChunkedWrapper: "<hex>\r\n<data>\r\n" chunks, then
        // "0\r\nx-amz-checksum-crc32:<b64>\r\n\r\n".
        let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        let mut decoder = AwsChunkedDecoder::new(
            StreamingPayload::UnsignedTrailer,
            None,
            Some("x-amz-checksum-crc32"),
            Some(11),
        )
        .unwrap();
        let (payload, consumed) = decode_all(&mut decoder, body, 3, 4).unwrap();
        assert_eq!(payload, b"hello world");
        assert_eq!(consumed, body.len());
        assert_eq!(
            decoder.trailer_checksum(),
            Some((ChecksumAlgorithm::Crc32, "DUoRhQ=="))
        );
        // Wrong checksum: BadDigest.
        let bad = String::from_utf8(body.to_vec())
            .unwrap()
            .replace("DUoRhQ==", "AAAAAA==");
        let mut decoder = AwsChunkedDecoder::new(
            StreamingPayload::UnsignedTrailer,
            None,
            Some("x-amz-checksum-crc32"),
            None,
        )
        .unwrap();
        let err = decode_all(&mut decoder, bad.as_bytes(), 64, 64).unwrap_err();
        assert_eq!(err.code, S3ErrorCode::BadDigest);
        // No trailer announced: "0\r\n\r\n" ends the body.
        let mut decoder =
            AwsChunkedDecoder::new(StreamingPayload::UnsignedTrailer, None, None, None).unwrap();
        let (payload, _) = decode_all(&mut decoder, b"2\r\nok\r\n0\r\n\r\n", 64, 64).unwrap();
        assert_eq!(payload, b"ok");
        assert!(decoder.is_done());
    }

    #[test]
    fn crc32_of_hello_world_matches_python() {
        // base64.b64encode(zlib.crc32(b"hello world").to_bytes(4, "big")) == b"DUoRhQ=="
        let mut h = ChecksumHasher::new(ChecksumAlgorithm::Crc32);
        h.update(b"hello world");
        assert_eq!(h.finish_base64(), "DUoRhQ==");
    }

    #[test]
    fn signed_trailer_verifies_every_algorithm() {
        let mode = StreamingPayload::SignedTrailer;
        let ctx = test_context(mode);
        let payload: Vec<u8> = (0..20_000u32).map(|i| (i % 253) as u8).collect();
        for alg in ChecksumAlgorithm::ALL {
            let body = encode(&payload, &[8192, 3000], mode, Some(&ctx), Some(alg));
            let mut decoder = AwsChunkedDecoder::new(
                mode,
                Some(&ctx),
                Some(alg.header_name()),
                Some(payload.len() as u64),
            )
            .unwrap();
            let (decoded, _) = decode_all(&mut decoder, &body, 777, 1000).unwrap();
            assert_eq!(decoded, payload, "{alg:?}");
            assert_eq!(decoder.trailer_checksum().map(|(a, _)| a), Some(alg));
        }
        // A tampered trailer signature, or a checksum changed under a valid chunk chain.
        let body = encode(
            &payload,
            &[8192],
            mode,
            Some(&ctx),
            Some(ChecksumAlgorithm::Crc32c),
        );
        let sig_line_at = find(&body, b"x-amz-trailer-signature:");
        let sig_at = sig_line_at + 24;
        let mut tampered = body.clone();
        tampered[sig_at] = if tampered[sig_at] == b'0' { b'1' } else { b'0' };
        let mut decoder =
            AwsChunkedDecoder::new(mode, Some(&ctx), Some("x-amz-checksum-crc32c"), None).unwrap();
        let err = decode_all(&mut decoder, &tampered, 4096, 4096).unwrap_err();
        assert_eq!(err.code, S3ErrorCode::SignatureDoesNotMatch);
        // Missing signature line.
        let without: Vec<u8> = {
            let mut v = body[..sig_line_at].to_vec();
            v.extend_from_slice(b"\r\n");
            v
        };
        let mut decoder =
            AwsChunkedDecoder::new(mode, Some(&ctx), Some("x-amz-checksum-crc32c"), None).unwrap();
        let err = decode_all(&mut decoder, &without, 4096, 4096).unwrap_err();
        assert_eq!(err.code, S3ErrorCode::MalformedTrailerError);
    }

    #[test]
    fn trailer_errors() {
        let mode = StreamingPayload::UnsignedTrailer;
        let cases: [(&[u8], Option<&str>, S3ErrorCode); 7] = [
            // Announced trailer missing.
            (
                b"0\r\n\r\n",
                Some("x-amz-checksum-crc32"),
                S3ErrorCode::MalformedTrailerError,
            ),
            // Unannounced trailer.
            (
                b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n",
                None,
                S3ErrorCode::MalformedTrailerError,
            ),
            // Other trailer than announced.
            (
                b"0\r\nx-amz-checksum-sha1:AAAAAA==\r\n\r\n",
                Some("x-amz-checksum-crc32"),
                S3ErrorCode::MalformedTrailerError,
            ),
            // Repeated.
            (
                b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n",
                Some("x-amz-checksum-crc32"),
                S3ErrorCode::MalformedTrailerError,
            ),
            // Not name:value.
            (
                b"0\r\ngarbage\r\n\r\n",
                Some("x-amz-checksum-crc32"),
                S3ErrorCode::MalformedTrailerError,
            ),
            // Bad base64.
            (
                b"0\r\nx-amz-checksum-crc32:!!\r\n\r\n",
                Some("x-amz-checksum-crc32"),
                S3ErrorCode::InvalidRequest,
            ),
            // A signature line in the unsigned variant.
            (
                b"0\r\nx-amz-trailer-signature:00\r\n\r\n",
                None,
                S3ErrorCode::MalformedTrailerError,
            ),
        ];
        for (body, trailer, code) in cases {
            let mut decoder = AwsChunkedDecoder::new(mode, None, trailer, None).unwrap();
            let err = decode_all(&mut decoder, body, 64, 64).unwrap_err();
            assert_eq!(err.code, code, "{}", String::from_utf8_lossy(body));
        }
        // The non-trailer variant takes no trailer data at all.
        let mut decoder =
            AwsChunkedDecoder::new(StreamingPayload::Signed, None, None, None).unwrap();
        let body = format!("0;chunk-signature={FINAL}\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n");
        let err = decode_all(&mut decoder, body.as_bytes(), 64, 64).unwrap_err();
        assert_eq!(err.code, S3ErrorCode::MalformedTrailerError);
    }

    #[test]
    fn constructor_validates_the_trailer_header() {
        let err = AwsChunkedDecoder::new(
            StreamingPayload::Signed,
            None,
            Some("x-amz-checksum-crc32"),
            None,
        )
        .unwrap_err();
        assert_eq!(err.code, S3ErrorCode::InvalidRequest);
        let err = AwsChunkedDecoder::new(
            StreamingPayload::UnsignedTrailer,
            None,
            Some("x-amz-checksum-md5"),
            None,
        )
        .unwrap_err();
        assert_eq!(err.code, S3ErrorCode::InvalidRequest);
        assert!(AwsChunkedDecoder::new(
            StreamingPayload::UnsignedTrailer,
            None,
            Some(" X-Amz-Checksum-CRC32C "),
            None
        )
        .is_ok());
    }

    #[test]
    fn malformed_framing_is_rejected() {
        let sig = "0".repeat(64);
        let signed_cases: Vec<Vec<u8>> = vec![
            b"\r\n".to_vec(),
            b"5\r\nhello\r\n0\r\n\r\n".to_vec(),
            format!("5;chunk-signature={}\r\nhello\r\n", &sig[..63]).into_bytes(),
            format!("5;chunk-signatur={sig}\r\nhello\r\n").into_bytes(),
            format!("5;chunk-signature={sig};x=y\r\nhello\r\n").into_bytes(),
            format!("5 ;chunk-signature={sig}\r\nhello\r\n").into_bytes(),
            format!("g;chunk-signature={sig}\r\n").into_bytes(),
            format!("5;chunk-signature={sig}\nhello\r\n").into_bytes(),
            format!("5;chunk-signature={sig}\r\nhelloX\r\n").into_bytes(),
            format!("5;chunk-signature={sig}\r\nhello\rX").into_bytes(),
            format!("{};chunk-signature={sig}\r\n", "1".repeat(17)).into_bytes(),
            format!("0;chunk-signature={sig}\r\n\n").into_bytes(),
            vec![b'1'; CHUNK_LINE_BYTES_MAX + 2],
        ];
        for body in signed_cases {
            let mut decoder =
                AwsChunkedDecoder::new(StreamingPayload::Signed, None, None, None).unwrap();
            let err =
                decode_all(&mut decoder, &body, 7, 3).expect_err(&String::from_utf8_lossy(&body));
            assert!(
                matches!(
                    err.code,
                    S3ErrorCode::InvalidRequest | S3ErrorCode::MalformedTrailerError
                ),
                "{err}"
            );
        }
        for body in [&b"5;x\r\nhello\r\n"[..], b"-5\r\n", b"0x5\r\n", b";\r\n"] {
            let mut decoder =
                AwsChunkedDecoder::new(StreamingPayload::UnsignedTrailer, None, None, None)
                    .unwrap();
            let err = decode_all(&mut decoder, body, 64, 64).unwrap_err();
            assert_eq!(
                err.code,
                S3ErrorCode::InvalidRequest,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn line_limits_are_exact() {
        // A chunk line of exactly CHUNK_LINE_BYTES_MAX bytes (plus CRLF) reaches the parser
        // (and fails there on its content); one more byte fails on the limit.
        let mut decoder =
            AwsChunkedDecoder::new(StreamingPayload::UnsignedTrailer, None, None, None).unwrap();
        let mut body = vec![b'1'; CHUNK_LINE_BYTES_MAX];
        body.extend_from_slice(b"\r\n");
        let err = decode_all(&mut decoder, &body, 1000, 10).unwrap_err();
        assert!(
            err.message.contains("invalid chunk size"),
            "{}",
            err.message
        );
        let mut decoder =
            AwsChunkedDecoder::new(StreamingPayload::UnsignedTrailer, None, None, None).unwrap();
        let mut body = vec![b'1'; CHUNK_LINE_BYTES_MAX + 1];
        body.extend_from_slice(b"\r\n");
        let err = decode_all(&mut decoder, &body, 1000, 10).unwrap_err();
        assert!(
            err.message.contains("CHUNK_LINE_BYTES_MAX"),
            "{}",
            err.message
        );

        // A trailer section of exactly TRAILER_BYTES_MAX bytes (a checksum line padded with
        // blanks before its value) is accepted; one more byte fails on the limit.
        let trailer_section = |len: usize| {
            let mut line = b"x-amz-checksum-crc32:".to_vec();
            line.resize(len - b"DUoRhQ==\r\n\r\n".len(), b' ');
            line.extend_from_slice(b"DUoRhQ==\r\n\r\n");
            assert_eq!(line.len(), len);
            let mut body = b"b\r\nhello world\r\n0\r\n".to_vec();
            body.extend_from_slice(&line);
            body
        };
        let mut decoder = AwsChunkedDecoder::new(
            StreamingPayload::UnsignedTrailer,
            None,
            Some("x-amz-checksum-crc32"),
            None,
        )
        .unwrap();
        let (payload, _) =
            decode_all(&mut decoder, &trailer_section(TRAILER_BYTES_MAX), 1000, 10).unwrap();
        assert_eq!(payload, b"hello world");
        assert!(decoder.is_done());
        let mut decoder = AwsChunkedDecoder::new(
            StreamingPayload::UnsignedTrailer,
            None,
            Some("x-amz-checksum-crc32"),
            None,
        )
        .unwrap();
        let err = decode_all(
            &mut decoder,
            &trailer_section(TRAILER_BYTES_MAX + 1),
            1000,
            10,
        )
        .unwrap_err();
        assert_eq!(err.code, S3ErrorCode::MalformedTrailerError);
        assert!(err.message.contains("TRAILER_BYTES_MAX"), "{}", err.message);
    }

    #[test]
    fn empty_output_buffer_consumes_framing_only() {
        let mut decoder =
            AwsChunkedDecoder::new(StreamingPayload::UnsignedTrailer, None, None, None).unwrap();
        let progress = decoder.decode(b"3\r\nabc\r\n0\r\n\r\n", &mut []).unwrap();
        assert_eq!(
            (progress.consumed, progress.written, progress.done),
            (3, 0, false)
        );
        let mut out = [0u8; 8];
        let progress = decoder.decode(b"abc\r\n0\r\n\r\nXYZ", &mut out).unwrap();
        assert_eq!(
            (progress.consumed, progress.written, progress.done),
            (10, 3, true)
        );
        assert_eq!(&out[..3], b"abc");
        let progress = decoder.decode(b"XYZ", &mut out).unwrap();
        assert_eq!(
            (progress.consumed, progress.written, progress.done),
            (0, 0, true)
        );
    }

    #[test]
    fn content_encoding_helpers() {
        assert!(is_aws_chunked("aws-chunked"));
        assert!(is_aws_chunked("gzip, AWS-Chunked"));
        assert!(!is_aws_chunked("gzip"));
        assert_eq!(content_encoding_without_aws_chunked("aws-chunked"), None);
        assert_eq!(
            content_encoding_without_aws_chunked("gzip,aws-chunked"),
            Some("gzip".to_owned())
        );
        assert_eq!(
            content_encoding_without_aws_chunked("aws-chunked, gzip, br"),
            Some("gzip,br".to_owned())
        );
    }

    proptest! {
        #[test]
        fn aws_example_decodes_identically_at_any_split(
            piece_len in 1usize..5000,
            out_len in 1usize..5000,
        ) {
            let ctx = aws_example_context();
            let mut decoder = AwsChunkedDecoder::new(
                StreamingPayload::Signed, Some(&ctx), None, Some(66560)).unwrap();
            let (payload, consumed) =
                decode_all(&mut decoder, &aws_example_body(), piece_len, out_len).unwrap();
            prop_assert_eq!(consumed, 66824);
            prop_assert_eq!(payload, vec![b'a'; 66560]);
            prop_assert!(decoder.is_done());
        }

        #[test]
        fn every_mode_round_trips_at_any_split(
            payload in proptest::collection::vec(any::<u8>(), 0..3000),
            sizes in proptest::collection::vec(1usize..700, 1..6),
            piece_len in 1usize..300,
            out_len in 1usize..300,
            mode_index in 0usize..3,
            alg_index in 0usize..6,
        ) {
            let mode = [
                StreamingPayload::Signed,
                StreamingPayload::SignedTrailer,
                StreamingPayload::UnsignedTrailer,
            ][mode_index];
            let alg = if mode.has_trailer() {
                ChecksumAlgorithm::ALL.get(alg_index).copied()
            } else {
                None
            };
            let ctx = test_context(mode);
            let body = encode(&payload, &sizes, mode, Some(&ctx), alg);
            let mut decoder = AwsChunkedDecoder::new(
                mode,
                Some(&ctx),
                alg.map(ChecksumAlgorithm::header_name),
                Some(payload.len() as u64),
            ).unwrap();
            let (decoded, consumed) = decode_all(&mut decoder, &body, piece_len, out_len).unwrap();
            prop_assert_eq!(decoded, payload);
            prop_assert_eq!(consumed, body.len());
            prop_assert!(decoder.is_done());
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            body in proptest::collection::vec(any::<u8>(), 0..512),
            mode_index in 0usize..3,
        ) {
            let mode = [
                StreamingPayload::Signed,
                StreamingPayload::SignedTrailer,
                StreamingPayload::UnsignedTrailer,
            ][mode_index];
            let ctx = test_context(mode);
            let trailer = mode.has_trailer().then_some("x-amz-checksum-crc32");
            let mut decoder = AwsChunkedDecoder::new(mode, Some(&ctx), trailer, None).unwrap();
            let _ = decode_all(&mut decoder, &body, 13, 5);
        }
    }
}
