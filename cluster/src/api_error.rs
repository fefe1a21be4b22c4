//! API errors: one status and message per failure, rendered as AIS's JSON error body (or the
//! `Hdr-Error` header for HEAD). Engine errors map here in one exhaustive `match`.

use engine::Error as EngineError;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub tcode: &'static str,
    /// Close the connection after responding (malformed framing, unread body).
    pub close: bool,
    /// Extra response headers (e.g. `Content-Range` on 416).
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
    pub fn bucket_exists(cname: &str) -> ApiError {
        ApiError {
            tcode: "ErrBckAlreadyExists",
            ..ApiError::new(409, format!("bucket \"{cname}\" already exists"))
        }
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
                ApiError::internal(format!("{node}: {cname}/{object}: {e}"))
            }
            EngineError::UnsupportedChecksum(_) => ApiError::bad_request(format!("{node}: {e}")),
            EngineError::Corrupt { .. } => {
                tracing::error!(object = %format!("{cname}/{object}"), error = %e, "corrupted object");
                ApiError::internal(format!("{node}: {cname}/{object}: {e}"))
            }
            EngineError::NoSpace { .. } => ApiError::new(507, format!("{node}: {e}")),
            EngineError::Io { .. } => {
                tracing::error!(object = %format!("{cname}/{object}"), error = %e, "disk i/o error");
                ApiError::internal(format!("{node}: {e}"))
            }
            EngineError::Mountpath(m) => ApiError::internal(format!("{node}: {m}")),
            EngineError::Exists(_) => {
                ApiError::new(409, format!("{node}: {cname}/{object} already exists"))
            }
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}
