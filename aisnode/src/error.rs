//! API errors: one status and message per failure, rendered as AIS's JSON error body (or the
//! `Hdr-Error` header for HEAD) by `reply::send_error`, or as S3 XML by the S3 front end.
//! Engine errors and `cluster::Error` map here, each in one exhaustive `match`.

use cluster::meta::version::Decision;
use cluster::Error as ClusterError;
use engine::Error as EngineError;
use net::s3::{S3Error, S3ErrorCode};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub tcode: &'static str,
    /// Close the connection after responding (malformed framing, unread body).
    pub close: bool,
    /// Extra response headers (e.g. `Content-Range` on 416, `Allow` on 405).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            tcode: "",
            close: false,
            headers: Vec::new(),
        }
    }
    pub fn bad_request(m: impl Into<String>) -> ApiError {
        ApiError::new(400, m)
    }
    pub fn internal(m: impl Into<String>) -> ApiError {
        ApiError::new(500, m)
    }
    pub fn not_implemented(m: impl Into<String>) -> ApiError {
        ApiError::new(501, m)
    }
    pub fn bucket_not_found(cname: &str) -> ApiError {
        ApiError {
            tcode: "ErrBckNotFound",
            ..ApiError::new(404, format!("bucket \"{cname}\" does not exist"))
        }
    }
    /// 405 with the methods the resource allows (the `Allow` header).
    pub fn method_not_allowed(allow: &'static str) -> ApiError {
        let mut e = ApiError::new(405, format!("method not allowed (allowed: {allow})"));
        e.headers.push(("Allow", allow.to_string()));
        e
    }
    pub fn closing(mut self) -> ApiError {
        self.close = true;
        self
    }

    /// Map an engine error for object `cname/object` served by node `node`.
    pub fn from_engine(e: EngineError, node: &str, cname: &str, object: &str) -> ApiError {
        match e {
            EngineError::InvalidName(m) => ApiError::bad_request(m),
            EngineError::NotFound(_) => {
                ApiError::new(404, format!("{node}: {cname}/{object} does not exist"))
            }
            EngineError::ChecksumMismatch { .. } => {
                cluster::metrics::add(cluster::metrics::M::ErrCksumN, 1);
                ApiError::internal(format!("{node}: {cname}/{object}: {e}"))
            }
            EngineError::InvalidChecksum(_) => ApiError::bad_request(format!("{node}: {e}")),
            EngineError::Corrupt { .. } => {
                tracing::error!(object = %format!("{cname}/{object}"), error = %e, "corrupted object");
                ApiError::internal(format!("{node}: {cname}/{object}: {e}"))
            }
            EngineError::NoSpace { .. } => ApiError::new(507, format!("{node}: {e}")),
            EngineError::Io { .. } => {
                tracing::error!(object = %format!("{cname}/{object}"), error = %e, "disk i/o error");
                cluster::fshc::report(&e);
                ApiError::internal(format!("{node}: {e}"))
            }
            EngineError::Mountpath(m) => ApiError::internal(format!("{node}: {m}")),
            EngineError::Exists(_) => {
                ApiError::new(409, format!("{node}: {cname}/{object} already exists"))
            }
            EngineError::Changed(_) => ApiError::new(412, format!("{node}: {e}")),
            EngineError::Archive(a) => {
                use engine::archive::ArchError as A;
                let status = match &a {
                    A::Invalid { .. } | A::BadRequest(_) | A::TooLarge(_) => 400,
                    A::NoMember(_) => 404,
                    A::Unsupported(_) => 501,
                    A::Io(_) => 500,
                };
                if status == 500 {
                    tracing::error!(object = %format!("{cname}/{object}"), error = %a, "disk i/o error reading a shard");
                }
                ApiError::new(status, format!("{node}: {cname}/{object}: {a}"))
            }
        }
    }
}

/// How a `cluster::Error` looks on the wire: HTTP status, AIS type code, S3 error code.
pub struct WireClass {
    pub status: u16,
    pub tcode: &'static str,
    pub s3: S3ErrorCode,
}

/// The one mapping of `cluster::Error` onto both front ends.
pub fn classify(e: &ClusterError) -> WireClass {
    let c = |status, tcode, s3| WireClass { status, tcode, s3 };
    match e {
        ClusterError::BucketNotFound(_) => c(404, "ErrBckNotFound", S3ErrorCode::NoSuchBucket),
        ClusterError::BucketExists(_) => c(
            409,
            "ErrBckAlreadyExists",
            S3ErrorCode::BucketAlreadyOwnedByYou,
        ),
        ClusterError::NodeNotFound { .. }
        | ClusterError::JobNotFound(_)
        | ClusterError::MountpathNotFound(_) => c(404, "", S3ErrorCode::InvalidArgument),
        ClusterError::BadRequest(_) => c(400, "", S3ErrorCode::InvalidArgument),
        ClusterError::Conflict(_) | ClusterError::Meta { .. } => {
            c(409, "", S3ErrorCode::InvalidRequest)
        }
        ClusterError::Forbidden(_) => c(403, "", S3ErrorCode::AccessDenied),
        ClusterError::Unavailable(_) => c(503, "", S3ErrorCode::ServiceUnavailable),
        ClusterError::PeerUnreachable(_) => c(502, "", S3ErrorCode::InternalError),
        // Another node's or a remote backend's answer, passed on with its meaning.
        ClusterError::Peer { status, .. } => c(
            *status,
            "",
            match status {
                404 => S3ErrorCode::NoSuchKey,
                403 => S3ErrorCode::AccessDenied,
                503 => S3ErrorCode::ServiceUnavailable,
                _ => S3ErrorCode::InternalError,
            },
        ),
        ClusterError::NotImplemented(_) => c(501, "", S3ErrorCode::NotImplemented),
        ClusterError::OutOfSpace(_) => c(507, "", S3ErrorCode::InsufficientStorage),
        ClusterError::Config(_) | ClusterError::Internal(_) => {
            c(500, "", S3ErrorCode::InternalError)
        }
    }
}

/// Header naming why metadata was refused (see `cluster::meta::version::Decision`).
pub const HDR_META_DECISION: &str = cluster::intra::HDR_META_DECISION;

impl From<ClusterError> for ApiError {
    fn from(e: ClusterError) -> ApiError {
        let w = classify(&e);
        let mut a = ApiError::new(
            w.status,
            match &e {
                ClusterError::Peer { message, .. } => message.clone(),
                other => other.to_string(),
            },
        );
        a.tcode = w.tcode;
        if let ClusterError::Meta { decision, .. } = &e {
            let d: Decision = *decision;
            a.headers.push((HDR_META_DECISION, d.as_str().to_string()));
        }
        a
    }
}

/// A `cluster::Error` as an S3 error.
pub fn s3_from_cluster(e: &ClusterError, bucket: &str) -> S3Error {
    let w = classify(e);
    let msg = match (w.s3, e) {
        (S3ErrorCode::NoSuchBucket, _) => "The specified bucket does not exist".to_string(),
        (S3ErrorCode::BucketAlreadyOwnedByYou, _) => {
            "Your previous request to create the named bucket succeeded and you already own it."
                .to_string()
        }
        (_, ClusterError::Peer { message, .. }) => message.clone(),
        _ => e.to_string(),
    };
    let s = S3Error::new(w.s3, msg);
    if w.s3 == S3ErrorCode::NoSuchBucket {
        s.with_resource(format!("/{bucket}"))
    } else {
        s
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}
