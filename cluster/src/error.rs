//! `cluster::Error`: every way a cluster operation fails, as a typed value. Callers decide on
//! the variant, never on message text; the API layer (the `aisnode` crate) maps each variant
//! to an HTTP status, an AIS JSON error and an S3 error code in one exhaustive `match`.

use crate::meta::version::Decision;

#[derive(Debug, Clone)]
pub enum Error {
    /// An AIS bucket (its cname, `ais://b`) is not in the BMD.
    BucketNotFound(String),
    /// Creating a bucket the BMD already has.
    BucketExists(String),
    /// A node ID the current Smap does not have.
    NodeNotFound { id: String, smap_version: i64 },
    /// A job the targets do not know (message names it).
    JobNotFound(String),
    /// A mountpath this target does not have (message names it).
    MountpathNotFound(String),
    /// The request is malformed or names something invalid (message says what).
    BadRequest(String),
    /// Refused by the current state: the last active target, a duplicate node ID, another
    /// change in progress, a mountpath of another target.
    Conflict(String),
    /// A Smap or BMD refused by the version rule.
    Meta {
        what: &'static str,
        decision: Decision,
        detail: String,
    },
    /// Not allowed here: outside a configured root, a disabled feature.
    Forbidden(String),
    /// Nothing can serve it yet: no targets, the primary is not known.
    Unavailable(String),
    /// Another node could not be reached, or answered something unreadable.
    PeerUnreachable(String),
    /// Another node answered with an error status, passed on as it is.
    Peer { status: u16, message: String },
    /// A known request this node does not implement (named).
    NotImplemented(String),
    /// Start-up configuration that cannot work (flags, persisted state, mountpaths).
    Config(String),
    /// The target is above `space.out_of_space` (507): the write was refused, nothing stored.
    OutOfSpace(String),
    /// A local failure the client cannot fix: persisting metadata, a disk operation.
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn meta(what: &'static str, decision: Decision, detail: impl Into<String>) -> Error {
        Error::Meta {
            what,
            decision,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::BucketNotFound(cname) => write!(f, "bucket \"{cname}\" does not exist"),
            Error::BucketExists(cname) => write!(f, "bucket \"{cname}\" already exists"),
            Error::NodeNotFound { id, smap_version } => {
                write!(f, "node {id:?} is not in Smap v{smap_version}")
            }
            Error::JobNotFound(m)
            | Error::MountpathNotFound(m)
            | Error::BadRequest(m)
            | Error::Conflict(m)
            | Error::Forbidden(m)
            | Error::Unavailable(m)
            | Error::PeerUnreachable(m)
            | Error::NotImplemented(m)
            | Error::Config(m)
            | Error::OutOfSpace(m)
            | Error::Internal(m) => f.write_str(m),
            Error::Meta { detail, .. } => f.write_str(detail),
            Error::Peer { status, message } => write!(f, "{status}: {message}"),
        }
    }
}

impl std::error::Error for Error {}
