//! Remote backends: the clients a target uses to read and write objects of remote buckets
//! (`s3://bucket`, `?provider=aws`) when AIS runs as a cache in front of them. This layer knows
//! nothing of the node (no BMD, no LOM, no mountpaths): the node calls it with bucket and key
//! names and streams bytes through it.
//!
//! * [`s3`]: [`S3Backend`], an S3 client (SigV4, path-style and virtual-hosted addressing,
//!   ListObjectsV2 pagination, streamed GET and PUT).
//! * [`config`]: [`S3Config`] from the environment and the AWS shared config and credentials
//!   files, as AIS's AWS backend reads them (`AIS_S3_CONFIG_DIR`, `S3_ENDPOINT`,
//!   `AWS_PROFILE`, ...).
//! * [`http`]: the pull-based HTTP/1.1 exchange underneath (keep-alive connections pooled per
//!   endpoint per core, a deadline on every socket operation).
//!
//! # Errors
//!
//! Every failure is a [`BackendError`] with the HTTP status AIS would answer with, the S3 error
//! code (or one of ours: `Unreachable`, `Timeout`, `ShortBody`, `BadResponse`,
//! `NotImplemented`, `SourceError`) and the remote endpoint, which `Display` names:
//! * connection refused, unresolvable host, or a deadline passed: 503;
//! * a remote 404 keeps its code (`NoSuchKey`, `NoSuchBucket`); 403 stays 403;
//! * a response that breaks HTTP or S3 (bad head, malformed XML, a body cut short): 502;
//! * what this client does not do yet (TLS, single PUTs over 5 GiB): 501.
//!
//! # What this module does not do (yet)
//!
//! * No TLS: `https://` endpoints (and so real AWS, which is reached over https) answer 501.
//! * No multipart upload: a PUT of more than [`s3::PUT_OBJECT_BYTES_MAX`] (5 GiB, S3's
//!   single-PUT limit) answers 501 naming the limit.
//! * No retries with backoff on 503/SlowDown, no region auto-discovery (a bucket in another
//!   region answers 404 `PermanentRedirect` naming its region), no `encoding-type=url` listings.

pub mod config;
pub mod http;
pub mod s3;

pub use config::S3Config;
pub use http::RemoteBody;
pub use s3::S3Backend;

use std::fmt;

/// Attributes of a remote object (HEAD, GET, or the reply to a PUT).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteAttrs {
    /// The whole object's size, also for a ranged GET (from `Content-Range`).
    pub size: u64,
    /// Without the quotes.
    pub etag: String,
    /// `x-amz-version-id`, or empty.
    pub version: String,
    /// `Last-Modified` (a PUT reply has none: its `Date`), ns since the epoch; 0 if unknown.
    pub last_modified_ns: i64,
    /// `Content-Type`, or empty (always empty after a PUT: we send none).
    pub content_type: String,
}

/// One object of a remote listing page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteEntry {
    pub name: String,
    pub size: u64,
    /// Without the quotes.
    pub etag: String,
    /// 0 if the remote gave none.
    pub last_modified_ns: i64,
}

/// One page of a remote listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemotePage {
    pub entries: Vec<RemoteEntry>,
    /// The continuation token of the next page; empty when the listing is complete.
    pub next: String,
}

/// Why a remote operation failed. See the module docs for the status of each case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendError {
    pub status: u16,
    /// The S3 error code (`NoSuchKey`, `AccessDenied`, ...) or one of ours (`Unreachable`,
    /// `Timeout`, `ShortBody`, `BadResponse`, `NotImplemented`, `SourceError`).
    pub code: String,
    pub message: String,
    /// The remote endpoint (`http://host:port`), named by `Display`.
    pub endpoint: String,
}

impl BackendError {
    pub fn new(status: u16, code: &str, message: impl Into<String>, endpoint: &str) -> Self {
        BackendError {
            status,
            code: code.to_owned(),
            message: message.into(),
            endpoint: endpoint.to_owned(),
        }
    }

    /// The remote object or bucket does not exist (404).
    pub fn is_not_found(&self) -> bool {
        self.status == 404
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "remote S3 {}: {} {}: {}",
            self.endpoint, self.status, self.code, self.message
        )
    }
}

impl std::error::Error for BackendError {}

/// Where a PUT's bytes come from: the caller's local object reader, pulled piece by piece.
/// Not `Send` (one backend per core), hence `async fn` in a trait without `Send` bounds.
#[allow(async_fn_in_trait)]
pub trait RemoteSource {
    /// Fill the front of `buf`; `Ok(0)` only at the end of the source.
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize>;
}

/// A byte slice as a source (tests, small bodies).
impl RemoteSource for &[u8] {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.len());
        buf[..n].copy_from_slice(&self[..n]);
        *self = &self[n..];
        Ok(n)
    }
}
