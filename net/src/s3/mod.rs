//! The S3 protocol layer (spec §8), sans-IO: bytes and strings in, typed values and response
//! bodies out. The server's S3 handlers (in `cluster`) call in here; nothing here touches a
//! socket, a clock, the filesystem or a credential store (secrets come in through a closure,
//! the time as an argument).
//!
//! * [`error`]: [`S3Error`] / [`S3ErrorCode`], HTTP statuses and the XML error body.
//! * [`sigv4`]: SigV4 header and presigned-URL authentication ([`sigv4::parse_auth`],
//!   [`sigv4::verify`]).
//! * [`chunked`]: the `aws-chunked` body decoder with chunk and trailer signature checks and
//!   trailing checksums ([`chunked::AwsChunkedDecoder`]).
//! * [`checksum`]: `Content-MD5` and `x-amz-checksum-*` values.
//! * [`xml`]: response bodies (listings, multipart, copy, delete, bucket configuration) and
//!   request-body parsers (CompleteMultipartUpload, Delete, CreateBucketConfiguration,
//!   VersioningConfiguration).
//! * [`etag`]: single-part and multipart ETags.
//! * [`conditional`]: `If-Match` / `If-None-Match` / `If-Modified-Since` /
//!   `If-Unmodified-Since` (and the `x-amz-copy-source-if-*` forms).
//! * [`time`]: ISO 8601, SigV4 and HTTP-date timestamps.
//!
//! Invariants shared by every submodule: no panics on client input (fuzzed in `net/fuzz`), every
//! limit is a named constant with its unit, errors carry the S3 code and a message naming the
//! value or limit at fault.

pub mod checksum;
pub mod chunked;
pub mod conditional;
pub mod error;
pub mod etag;
pub mod sigv4;
pub mod time;
pub mod xml;

pub use error::{S3Error, S3ErrorCode};

/// Maximum length in bytes of an object key (UTF-8), as in S3 (`KeyTooLongError` past it).
pub const KEY_BYTES_MAX: usize = 1024;

/// Lowercase hex of `bytes`.
pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// Exactly `N * 2` hex digits (either case) to `N` bytes.
pub(crate) fn parse_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let b = s.as_bytes();
    if b.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        out[i] = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
    }
    Some(out)
}

/// 64 hex digits to 32 bytes (a SHA-256 or SigV4 signature).
pub(crate) fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    parse_hex::<32>(s)
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_bad_input() {
        let bytes: [u8; 4] = [0x00, 0x9f, 0xa0, 0xff];
        assert_eq!(hex_lower(&bytes), "009fa0ff");
        assert_eq!(parse_hex::<4>("009fa0ff"), Some(bytes));
        assert_eq!(parse_hex::<4>("009FA0FF"), Some(bytes));
        for bad in [
            "009fa0f",
            "009fa0fff",
            "009fa0fg",
            "+09fa0ff",
            "\u{e9}9fa0ff",
        ] {
            assert_eq!(parse_hex::<4>(bad), None, "{bad:?}");
        }
    }
}
