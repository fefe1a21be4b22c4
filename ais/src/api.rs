//! One client session with the cluster: the endpoint (`AIS_ENDPOINT`), a `net::client::Client`
//! (keep-alive, redirects followed to the owning target), and the AIS conventions every
//! command shares: JSON `ActMsg` bodies, `provider=` queries, error bodies turned into
//! [`Error::Api`] with the node's `message`, and one deadline per request.
//!
//! # Invariants
//!
//! * A status of 400 or more is never returned as success: the body (or `Hdr-Error` of a
//!   HEAD) becomes the error's message, and never reaches a caller's sink (an object's file).
//! * Control responses are kept in memory up to [`CONTROL_BODY_BYTES_MAX`]; object bodies
//!   stream through the caller's sink.
//!
//! # What it does not do
//!
//! * No TLS and no authentication tokens (`net::client` speaks plain HTTP/1.1).
//! * Request bodies are in memory (the client sends slices): an object PUT reads its file
//!   first. Fine for the files a CLI uploads; a multi-GiB file needs that much memory.

use crate::error::{Error, Result};
use net::client::{
    parse_http_url, parse_token_file, Bearer, BodySink, Client, ClientConfig, Collect, Endpoint,
    Request, ResponseHead,
};
use std::time::{Duration, Instant};

/// Default endpoint, as AIS's CLI.
pub const ENDPOINT_DEFAULT: &str = "http://localhost:8080";
/// Largest control-plane response kept (a 10,000-entry listing page is about 1 MiB).
pub const CONTROL_BODY_BYTES_MAX: usize = 64 << 20;
/// Deadline of one control-plane request.
pub const CONTROL_TIMEOUT_MS: u64 = 60_000;
/// Deadline of one object transfer (PUT or GET of one object).
pub const OBJECT_TIMEOUT_MS: u64 = 30 * 60_000;
/// Error text kept from an error response body.
const ERROR_TEXT_BYTES_MAX: usize = 4096;

/// A response to a control request: status and body.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self, what: &str) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body).map_err(|e| Error::BadResponse {
            what: what.to_owned(),
            error: format!("{e} (body: {})", text_head(&self.body)),
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).trim().to_owned()
    }
}

fn text_head(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(200)]);
    s.trim().replace('\n', " ")
}

/// The message of an error response: AIS's JSON `message` (from the body, or from
/// `Hdr-Error` when there is no body), else the body text, else the status alone.
pub fn error_message(status: u16, body: &[u8], hdr_error: Option<&str>) -> String {
    let from_json = |b: &[u8]| -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(b).ok()?;
        v.get("message")?.as_str().map(str::to_owned)
    };
    let m = from_json(body)
        .or_else(|| hdr_error.and_then(|h| from_json(h.as_bytes())))
        .or_else(|| {
            let t = text_head(&body[..body.len().min(ERROR_TEXT_BYTES_MAX)]);
            (!t.is_empty()).then_some(t)
        })
        .or_else(|| hdr_error.map(str::to_owned))
        .unwrap_or_else(|| format!("HTTP status {status}"));
    // One line, whatever the node sent.
    m.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Passes a successful response's body to `inner`; keeps an error response's body apart.
struct Guarded<'a, K: BodySink> {
    inner: &'a mut K,
    error: Option<(u16, Vec<u8>, Option<String>)>,
}

impl<K: BodySink> BodySink for Guarded<'_, K> {
    fn head(&mut self, head: &ResponseHead) {
        if head.status >= 300 {
            self.error = Some((
                head.status,
                Vec::new(),
                head.header("hdr-error").map(str::to_owned),
            ));
        } else {
            self.inner.head(head);
        }
    }

    fn data(&mut self, bytes: &[u8]) {
        match &mut self.error {
            Some((_, body, _)) => {
                let room = ERROR_TEXT_BYTES_MAX.saturating_sub(body.len());
                body.extend_from_slice(&bytes[..bytes.len().min(room)]);
            }
            None => self.inner.data(bytes),
        }
    }
}

/// A client session (one per task: the client is not `Send`).
pub struct Api {
    /// The endpoint URL as the user gave it (no trailing `/`), for messages.
    pub url: String,
    endpoint: Endpoint,
    /// A path prefix of the endpoint URL (usually empty).
    base_path: String,
    /// AuthN token sent with every request ([`auth_token`]).
    token: Option<String>,
    client: Client,
}

/// The AuthN token, as AIS's CLI finds it: `AIS_AUTHN_TOKEN` (the token itself), else the file
/// `AIS_AUTHN_TOKEN_FILE` or `~/.config/ais/cli/auth.token` (AuthN's `{"token": ...}`).
fn auth_token() -> Option<String> {
    if let Some(t) = std::env::var("AIS_AUTHN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
    {
        return Some(t);
    }
    let file = std::env::var("AIS_AUTHN_TOKEN_FILE")
        .ok()
        .filter(|f| !f.is_empty())
        .or_else(|| {
            std::env::var("HOME")
                .ok()
                .map(|h| format!("{h}/.config/ais/cli/auth.token"))
        })?;
    parse_token_file(&std::fs::read_to_string(file).ok()?)
}

impl Api {
    pub fn new(url: &str) -> Result<Api> {
        let url = url.trim().trim_end_matches('/').to_owned();
        let (endpoint, path) = parse_http_url(&url)
            .map_err(|e| Error::Usage(format!("invalid AIS_ENDPOINT {url:?}: {e}")))?;
        let base_path = path.trim_end_matches('/').to_owned();
        // AIS's CLI variables; verification is on unless AIS_SKIP_VERIFY_CRT says otherwise.
        let tls = if endpoint.tls {
            let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
            let opts = net::tls::ClientTlsOpts::from_env(get, false)
                .map_err(|e| Error::Usage(e.to_string()))?;
            let c = net::tls::ClientTls::new(&opts).map_err(|e| Error::Usage(e.to_string()))?;
            // Every client of this process (workers of multi-object commands too).
            net::tls::set_default_client(c.clone());
            Some(c)
        } else {
            None
        };
        Ok(Api {
            url,
            endpoint,
            base_path,
            token: auth_token(),
            client: Client::new(ClientConfig {
                user_agent: format!("ais/rust/{}", env!("CARGO_PKG_VERSION")),
                // A file put through the proxy: the 307 comes before the body, which then
                // crosses the network once (curl's threshold).
                expect_continue_min_bytes: Some(1 << 20),
                tls,
                ..ClientConfig::default()
            }),
        })
    }

    /// A new session to the same endpoint (for a concurrent worker).
    pub fn fork(&self) -> Api {
        Api::new(&self.url).expect("the URL parsed before")
    }

    /// The response head of the last request.
    pub fn head(&self) -> &ResponseHead {
        self.client.head()
    }

    /// Send a request and stream a successful (< 300) response's body into `sink`; an error
    /// status is [`Error::Api`].
    pub async fn exchange<K: BodySink>(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[&[u8]],
        sink: &mut K,
        timeout: Duration,
    ) -> Result<u16> {
        let full = format!("{}{target}", self.base_path);
        let req = Request {
            method,
            endpoint: &self.endpoint,
            target: &full,
            headers,
            body,
        };
        let mut guarded = Guarded {
            inner: sink,
            error: None,
        };
        let deadline = Instant::now() + timeout;
        let r = self
            .client
            .execute(
                &req,
                &mut Bearer(self.token.clone()),
                &mut guarded,
                deadline,
            )
            .await
            .map_err(|e| Error::from_client(&self.url, &e))?;
        if let Some((status, body, hdr)) = guarded.error {
            return Err(Error::Api {
                status,
                message: error_message(status, &body, hdr.as_deref()),
            });
        }
        Ok(r.status)
    }

    /// A control request: the whole response in memory.
    pub async fn call(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Reply> {
        let mut sink = Collect::new(CONTROL_BODY_BYTES_MAX);
        let bodies: [&[u8]; 1] = [body];
        let status = self
            .exchange(
                method,
                target,
                headers,
                if body.is_empty() { &[] } else { &bodies },
                &mut sink,
                Duration::from_millis(CONTROL_TIMEOUT_MS),
            )
            .await?;
        if sink.truncated {
            return Err(Error::BadResponse {
                what: format!("{method} {target}"),
                error: format!("response larger than {CONTROL_BODY_BYTES_MAX} bytes"),
            });
        }
        Ok(Reply {
            status,
            body: sink.body,
        })
    }

    /// A control request with an `ActMsg` JSON body.
    pub async fn act(
        &mut self,
        method: &str,
        target: &str,
        extra_headers: &[(&str, &str)],
        action: &str,
        value: &serde_json::Value,
    ) -> Result<Reply> {
        let body = serde_json::json!({"action": action, "name": "", "value": value}).to_string();
        let mut hs: Vec<(&str, &str)> = vec![("Content-Type", "application/json")];
        hs.extend_from_slice(extra_headers);
        self.call(method, target, &hs, body.as_bytes()).await
    }

    /// `GET target` answered with JSON.
    pub async fn get_json(
        &mut self,
        target: &str,
        headers: &[(&str, &str)],
    ) -> Result<serde_json::Value> {
        self.call("GET", target, headers, b"").await?.json(target)
    }

    /// `GET target` with a JSON body (AIS's job queries), answered with JSON.
    pub async fn get_json_with(
        &mut self,
        target: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value> {
        let b = body.to_string();
        self.call(
            "GET",
            target,
            &[("Content-Type", "application/json")],
            b.as_bytes(),
        )
        .await?
        .json(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_message_sources() {
        let body = br#"{"message":"bucket \"ais://x\" does not exist","status":404}"#;
        assert_eq!(
            error_message(404, body, None),
            "bucket \"ais://x\" does not exist"
        );
        assert_eq!(
            error_message(404, b"", Some(r#"{"message":"ais://b/o does not exist"}"#)),
            "ais://b/o does not exist"
        );
        assert_eq!(
            error_message(500, b"line one\nline two", None),
            "line one line two"
        );
        assert_eq!(error_message(503, b"", None), "HTTP status 503");
    }

    #[test]
    fn endpoint_urls() {
        assert!(Api::new("http://127.0.0.1:8080/").is_ok());
        assert!(Api::new("https://x:1").is_ok());
        assert!(Api::new("ftp://x:1").is_err());
        assert!(Api::new("localhost:8080").is_err());
    }
}
