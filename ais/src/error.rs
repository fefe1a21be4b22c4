//! The CLI's one error type. Every variant prints as one line (no backtrace, no debug
//! formatting): `main` prefixes it with `ais: ` and exits non-zero.
//!
//! Classes: the node could not be reached ([`Error::Unreachable`]), the node answered an
//! error status ([`Error::Api`], with the `message` of AIS's JSON error body), the user's
//! arguments are wrong ([`Error::Usage`]), local files failed ([`Error::Io`]), and operations
//! that finished with failures the command already itemised ([`Error::Failed`]).

use net::client::ClientError;
use std::fmt;
use std::io;

#[derive(Debug)]
pub enum Error {
    /// Connecting (or resolving) failed: `url` is what the user can check.
    Unreachable { url: String, reason: String },
    /// Any other failure of an HTTP exchange (timeout, broken connection, bad response).
    Http { url: String, error: String },
    /// The node answered `status` with this message.
    Api { status: u16, message: String },
    /// Bad arguments that clap cannot see (URIs, properties, paths).
    Usage(String),
    /// A local file or stream.
    Io { what: String, error: io::Error },
    /// A response we cannot decode.
    BadResponse { what: String, error: String },
    /// The command reported its failures already; this is the summary.
    Failed(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn io(what: impl Into<String>, error: io::Error) -> Error {
        Error::Io {
            what: what.into(),
            error,
        }
    }

    /// A client error of a request to `base_url` (the endpoint; a redirect's target names
    /// its own address).
    pub fn from_client(base_url: &str, e: &ClientError) -> Error {
        match e {
            ClientError::Connect { authority, error } => Error::Unreachable {
                url: url_of(base_url, authority),
                reason: io_reason(error),
            },
            ClientError::Resolve { authority, error } => Error::Unreachable {
                url: url_of(base_url, authority),
                reason: format!("cannot resolve: {error}"),
            },
            other => Error::Http {
                url: base_url.to_owned(),
                error: other.to_string(),
            },
        }
    }
}

/// The user's URL if `authority` is its host, else `http://authority`.
fn url_of(base_url: &str, authority: &str) -> String {
    if base_url.contains(authority) {
        base_url.to_owned()
    } else {
        let scheme = if base_url.starts_with("https://") {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{authority}")
    }
}

/// `connection refused` rather than `Connection refused (os error 111)`.
pub fn io_reason(e: &io::Error) -> String {
    let s = e.to_string();
    let s = match s.find(" (os error") {
        Some(i) => &s[..i],
        None => &s,
    };
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unreachable { url, reason } => write!(f, "cannot reach {url}: {reason}"),
            Error::Http { url, error } => write!(f, "request to {url} failed: {error}"),
            Error::Api { status, message } => write!(f, "{message} (status {status})"),
            Error::Usage(m) | Error::Failed(m) => f.write_str(m),
            Error::Io { what, error } => write!(f, "{what}: {}", io_reason(error)),
            Error::BadResponse { what, error } => {
                write!(f, "unexpected response to {what}: {error}")
            }
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_error_is_one_short_line() {
        let e = ClientError::Connect {
            authority: "127.0.0.1:1234".into(),
            error: io::Error::from(io::ErrorKind::ConnectionRefused),
        };
        let s = Error::from_client("http://127.0.0.1:1234", &e).to_string();
        assert!(s.starts_with("cannot reach http://127.0.0.1:1234: "), "{s}");
        assert!(!s.contains('\n'));
        let e = ClientError::Connect {
            authority: "10.0.0.9:8081".into(),
            error: io::Error::from_raw_os_error(111),
        };
        assert_eq!(
            Error::from_client("http://localhost:8080", &e).to_string(),
            "cannot reach http://10.0.0.9:8081: connection refused"
        );
    }
}
