//! The S3 protocol layer (spec §8), sans-IO: bytes and strings in, typed values and response
//! bodies out. The server's S3 handlers (in `cluster`) call in here; nothing here touches a
//! socket, a clock, the filesystem or a credential store (secrets come in through a closure,
//! the time as an argument).
//!
//! * [`error`]: [`S3Error`] / [`S3ErrorCode`], HTTP statuses and the XML error body.
//! * [`sigv4`]: SigV4 header and presigned-URL authentication ([`sigv4::parse_auth`],
//!   [`sigv4::verify`]).
//! * [`signer`]: the client side of SigV4 (aisloader and the node's S3 backend sign with it).
//! * [`sigv2`]: the legacy HMAC-SHA1 signature, header (`AWS ak:sig`) and presigned query.
//! * [`names`]: S3's bucket naming rules.
//! * [`chunked`]: the `aws-chunked` body decoder with chunk and trailer signature checks and
//!   trailing checksums ([`chunked::AwsChunkedDecoder`]).
//! * [`checksum`]: `Content-MD5` and `x-amz-checksum-*` values.
//! * [`xml`]: response bodies (listings, multipart, copy, delete, bucket configuration) and
//!   request-body parsers (CompleteMultipartUpload, Delete, CreateBucketConfiguration,
//!   VersioningConfiguration).
//! * [`etag`]: single-part and multipart ETags.
//! * [`conditional`]: `If-Match` / `If-None-Match` / `If-Modified-Since` /
//!   `If-Unmodified-Since` (and the `x-amz-copy-source-if-*` forms).
//! * [`time`]: ISO 8601, SigV4 and HTTP-date timestamps (an alias of [`crate::time`]).
//!
//! Invariants shared by every submodule: no panics on client input (fuzzed in `net/fuzz`), every
//! limit is a named constant with its unit, errors carry the S3 code and a message naming the
//! value or limit at fault.

pub mod checksum;
pub mod chunked;
pub mod conditional;
pub mod error;
pub mod etag;
pub mod names;
pub mod signer;
pub mod sigv2;
pub mod sigv4;
pub mod xml;

pub use error::{S3Error, S3ErrorCode};

/// Maximum length in bytes of an object key (UTF-8), as in S3 (`KeyTooLongError` past it).
pub const KEY_BYTES_MAX: usize = 1024;
