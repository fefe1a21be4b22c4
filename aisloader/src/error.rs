//! `aisloader::Error`: every way the library fails, as a typed value. The binary prints it
//! (`aisloader: {e}`) and exits 1; command-line errors that decide the exit code are
//! [`crate::params::ParamError`] and [`crate::flags::FlagError`].

use net::client::ClientError;
use std::fmt;
use std::io;

#[derive(Debug)]
pub enum Error {
    // ---- Flag values (Go's `flag` and `time.ParseDuration` texts) ----
    /// A value that does not parse as its flag's type.
    BadValue,
    /// Not a size in `cos.ParseSize` syntax (the input).
    BadSize(String),
    /// Not a Go duration (the input).
    BadDuration(String),
    /// A Go duration number without a unit (the input).
    DurationMissingUnit(String),
    /// A Go duration with a unit Go does not know.
    DurationUnknownUnit { unit: String, input: String },

    // ---- Usage: what the options ask for cannot be done ----
    /// The endpoint URL does not parse.
    Url(ClientError),
    /// The bucket (its cname) does not exist and is not an AIS bucket this run could create.
    BucketNotFound { cname: String },
    /// The bucket does not exist, and a run that also reads cannot start from a new one.
    NewBucketNeedsPuts { cname: String },
    /// A 100% read run and nothing to read: the bucket (or `-subdir`, when not empty) is
    /// empty.
    NothingToRead { subdir: String },
    /// Something this loader does not do (named).
    Unsupported(&'static str),

    // ---- HTTP: the request failed, or the server said no ----
    /// A control-plane request (`method url`) got no usable answer.
    Request {
        method: String,
        url: String,
        source: ClientError,
    },
    /// A control-plane call (named by `what`) answered an unexpected status; `body` is the
    /// start of the answer.
    Status {
        what: String,
        status: u16,
        body: String,
    },

    // ---- Bad server answers ----
    /// A control-plane answer larger than `CONTROL_BODY_BYTES_MAX`.
    TooLarge { method: String, target: String },
    /// A native listing page that is not the msgpack AIS sends.
    BadListingPage {
        bytes: usize,
        source: rmp_serde::decode::Error,
    },
    /// A JSON answer (of the call named by `what`) that does not parse.
    BadJson {
        what: &'static str,
        source: serde_json::Error,
        body: String,
    },
    /// A JSON answer of the wrong shape.
    UnexpectedJson {
        what: &'static str,
        expected: &'static str,
    },
    /// An S3 listing of `bucket` whose XML does not parse (`source` says why).
    S3List { bucket: String, source: Box<Error> },
    /// Not a well-formed `ListBucketResult` (`net::s3::xml` says why).
    ListXml(String),
    /// The server returned the same continuation token twice.
    RepeatedToken { bucket: String, token: String },
    /// A listing longer than `LIST_PAGES_MAX` pages.
    TooManyPages { bucket: String },

    // ---- Local resources ----
    /// An executor thread (named) could not start.
    ExecutorStart {
        name: String,
        source: glommio::GlommioError<()>,
    },
    /// The executor of core `core` could not start.
    CoreExecutorStart {
        core: usize,
        source: glommio::GlommioError<()>,
    },
    /// An executor thread (named) failed.
    ExecutorFailed {
        name: String,
        source: glommio::GlommioError<()>,
    },
    /// The executor of core `core` failed.
    CoreFailed {
        core: usize,
        source: glommio::GlommioError<()>,
    },
    /// A core's executor ended without sending its results.
    CoreNoResults,
    /// `-direct`: the cluster map gives no placement (why).
    DirectMap(String),
    /// A local file operation (`op`, e.g. "cannot create stats output") on `path` failed.
    Io {
        op: &'static str,
        path: String,
        source: io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadValue => f.write_str("parse error"),
            Error::BadSize(s) => write!(
                f,
                "invalid size {s:?} (expected e.g. 4096, 4K, 1.5MiB, 2GB)"
            ),
            Error::BadDuration(s) => write!(f, "time: invalid duration {s:?}"),
            Error::DurationMissingUnit(s) => write!(f, "time: missing unit in duration {s:?}"),
            Error::DurationUnknownUnit { unit, input } => {
                write!(f, "time: unknown unit {unit:?} in duration {input:?}")
            }
            Error::Url(e) => write!(f, "{e}"),
            Error::BucketNotFound { cname } => write!(f, "bucket {cname} does not exist"),
            Error::NewBucketNeedsPuts { cname } => write!(
                f,
                "bucket {cname} does not exist: a new bucket requires -pctput=100 (\"new bucket, expecting 100% PUT\")"
            ),
            Error::NothingToRead { subdir } if subdir.is_empty() => {
                f.write_str("the bucket is empty, cannot run 100% read benchmark")
            }
            Error::NothingToRead { subdir } => write!(
                f,
                "no objects with prefix '{subdir}' in the bucket, cannot run 100% read benchmark"
            ),
            Error::Unsupported(what) => f.write_str(what),
            Error::DirectMap(why) => write!(f, "-direct: {why}"),
            Error::Request {
                method,
                url,
                source,
            } => write!(f, "{method} {url}: {source}"),
            Error::Status { what, status, body } => write!(f, "{what}: HTTP {status}: {body}"),
            Error::TooLarge { method, target } => write!(
                f,
                "{method} {target}: response larger than CONTROL_BODY_BYTES_MAX ({} bytes)",
                crate::bucket::CONTROL_BODY_BYTES_MAX
            ),
            Error::BadListingPage { bytes, source } => write!(
                f,
                "cannot decode msgpack listing page ({bytes} bytes): {source}"
            ),
            Error::BadJson { what, source, body } => {
                write!(f, "{what}: bad JSON ({source}): {body}")
            }
            Error::UnexpectedJson { what, expected } => write!(f, "{what}: expected {expected}"),
            Error::S3List { bucket, source } => write!(f, "S3 list {bucket}: {source}"),
            Error::ListXml(what) => f.write_str(what),
            Error::RepeatedToken { bucket, token } => write!(
                f,
                "list objects in {bucket}: server repeated continuation token {token:?}"
            ),
            Error::TooManyPages { bucket } => write!(
                f,
                "list objects in {bucket}: more than LIST_PAGES_MAX ({}) pages",
                crate::bucket::LIST_PAGES_MAX
            ),
            Error::ExecutorStart { name, source } => {
                write!(f, "cannot start executor {name}: {source}")
            }
            Error::CoreExecutorStart { core, source } => {
                write!(f, "cannot start executor for core {core}: {source}")
            }
            Error::ExecutorFailed { name, source } => write!(f, "executor {name} failed: {source}"),
            Error::CoreFailed { core, source } => write!(f, "core {core} failed: {source}"),
            Error::CoreNoResults => f.write_str("a core exited without reporting its results"),
            Error::Io { op, path, source } => write!(f, "{op} {path}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Url(e) | Error::Request { source: e, .. } => Some(e),
            Error::BadListingPage { source, .. } => Some(source),
            Error::BadJson { source, .. } => Some(source),
            Error::S3List { source, .. } => Some(source.as_ref()),
            Error::ExecutorStart { source, .. }
            | Error::CoreExecutorStart { source, .. }
            | Error::ExecutorFailed { source, .. }
            | Error::CoreFailed { source, .. } => Some(source),
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts are the ones aisloader printed before its errors were typed (scripts and
    /// tests match some of them).
    #[test]
    fn display_keeps_the_messages() {
        let cases: &[(Error, &str)] = &[
            (
                Error::NothingToRead {
                    subdir: String::new(),
                },
                "the bucket is empty, cannot run 100% read benchmark",
            ),
            (
                Error::NothingToRead {
                    subdir: "d".into(),
                },
                "no objects with prefix 'd' in the bucket, cannot run 100% read benchmark",
            ),
            (
                Error::NewBucketNeedsPuts {
                    cname: "ais://b".into(),
                },
                "bucket ais://b does not exist: a new bucket requires -pctput=100 (\"new bucket, expecting 100% PUT\")",
            ),
            (
                Error::Status {
                    what: "create bucket b".into(),
                    status: 403,
                    body: "no".into(),
                },
                "create bucket b: HTTP 403: no",
            ),
            (
                Error::DurationUnknownUnit {
                    unit: "y".into(),
                    input: "1y".into(),
                },
                "time: unknown unit \"y\" in duration \"1y\"",
            ),
            (
                Error::BadSize("1X".into()),
                "invalid size \"1X\" (expected e.g. 4096, 4K, 1.5MiB, 2GB)",
            ),
            (
                Error::S3List {
                    bucket: "b".into(),
                    source: Box::new(Error::ListXml("<Contents> without <Key>".into())),
                },
                "S3 list b: <Contents> without <Key>",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), *want, "{e:?}");
        }
    }
}
