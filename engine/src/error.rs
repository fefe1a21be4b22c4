//! The engine's one error enum. Operating errors (bad names, missing objects) are returned
//! to the caller; corruption is its own variant and is never retried silently.

use crate::cksum::{CksumError, CksumType};
use std::fmt;
use std::io;
use std::path::PathBuf;

#[derive(Debug)]
pub enum Error {
    /// A bucket or object name a client sent is not acceptable; the text names the problem.
    InvalidName(String),
    /// The object (or its bucket directory) does not exist on this mountpath.
    NotFound(PathBuf),
    /// A declared checksum (a client's, or the one a moved object carries) does not match
    /// the received bytes: nothing was stored.
    ChecksumMismatch {
        ty: CksumType,
        expected: String,
        actual: String,
    },
    /// A checksum type the engine does not know, or a value not of its type's form.
    InvalidChecksum(CksumError),
    /// Stored bytes or metadata do not match their checksum.
    Corrupt { path: PathBuf, detail: String },
    /// The mountpath's file system is full.
    NoSpace { path: PathBuf },
    /// Any other I/O failure, with the operation and path involved.
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// Mountpath configuration problem (nested, not a directory, unusable).
    Mountpath(String),
    /// A no-replace commit or move found the object already in place.
    Exists(PathBuf),
    /// A conditional commit ([`crate::object::PutOpts::require`]) found the object changed
    /// since the condition was checked: nothing was written.
    Changed(PathBuf),
    /// A shard could not be read as asked (not an archive, no such member, a bad match
    /// mode, a limit): see [`crate::archive::ArchError`].
    Archive(crate::archive::ArchError),
}

impl Error {
    /// Classify an I/O error: ENOSPC/EDQUOT become [`Error::NoSpace`], ENOENT becomes
    /// [`Error::NotFound`], the rest stay [`Error::Io`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        let path = path.into();
        // glommio wraps OS errors in custom io::Errors that keep the kind but not the
        // raw code, so classify by both.
        match (source.raw_os_error(), source.kind()) {
            (Some(28) | Some(122), _)
            | (_, io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded) => {
                Error::NoSpace { path }
            }
            (Some(2), _) | (_, io::ErrorKind::NotFound) => Error::NotFound(path),
            _ => Error::Io { op, path, source },
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidName(m) => write!(f, "{m}"),
            Error::NotFound(p) => write!(f, "{} does not exist", p.display()),
            // AIS's form: `BAD DATA CHECKSUM: <type>(<expected> != <computed>)`.
            Error::ChecksumMismatch {
                ty,
                expected,
                actual,
            } => write!(f, "BAD DATA CHECKSUM: {ty}({expected} != {actual})"),
            Error::InvalidChecksum(e) => write!(f, "{e}"),
            Error::Corrupt { path, detail } => {
                write!(f, "corrupted object {}: {detail}", path.display())
            }
            Error::NoSpace { path } => write!(f, "out of space on {}", path.display()),
            Error::Io { op, path, source } => {
                write!(f, "{op} {} failed: {source}", path.display())
            }
            Error::Mountpath(m) => write!(f, "{m}"),
            Error::Exists(p) => write!(f, "{} already exists", p.display()),
            Error::Archive(e) => write!(f, "{e}"),
            Error::Changed(p) => write!(
                f,
                "{} changed while the conditional write was in progress",
                p.display()
            ),
        }
    }
}

impl std::error::Error for Error {}

impl From<crate::archive::ArchError> for Error {
    fn from(e: crate::archive::ArchError) -> Error {
        Error::Archive(e)
    }
}

impl From<CksumError> for Error {
    fn from(e: CksumError) -> Error {
        Error::InvalidChecksum(e)
    }
}
