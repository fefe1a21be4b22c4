//! Intra-cluster calls: one request to another node with a deadline and a bounded number of
//! retries on transport errors, on `net::client`. Every control-plane service talks to its
//! peers through here.

use crate::error::{Error, Result};
use net::client::{Client, ClientConfig, Collect, Request, Unsigned};
use std::time::{Duration, Instant};

/// Deadline of one intra-cluster call (AIS `timeout.cplane_operation` is 2 s; metasync of
/// a BMD with directory creation on targets may take longer).
pub const INTRA_CALL_TIMEOUT_MS: u64 = 5_000;
/// Attempts per intra-cluster call (first try included).
pub const INTRA_CALL_ATTEMPTS_MAX: u32 = 3;
/// Largest intra-cluster response body we accept (listing pages are the big ones).
pub const INTRA_BODY_BYTES_MAX: usize = 64 << 20;

/// The answer of another node.
pub struct CallResult {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: String,
    pub hdr_error: Option<String>,
    /// `Ais-Meta-Decision` of a refused metasync or join (see `meta::version::Decision`).
    pub meta_decision: Option<String>,
}

impl CallResult {
    /// The error message of a non-200 answer: AIS's JSON `message` if there is one, the
    /// body as text otherwise.
    pub fn message(&self) -> String {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| {
                v.get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| String::from_utf8_lossy(&self.body).into_owned())
    }

    /// A non-200 answer as [`Error::Peer`]; 200 as `Ok`.
    pub fn ok(self) -> Result<CallResult> {
        if self.status == 200 {
            Ok(self)
        } else {
            Err(Error::Peer {
                status: self.status,
                message: self.message(),
            })
        }
    }
}

/// One intra-cluster HTTP call with deadline and bounded retries on transport errors. An
/// error status is an answer (`Ok`); only an unreachable peer is an `Err`.
pub async fn call(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<CallResult> {
    call_with(
        method,
        url,
        headers,
        body,
        INTRA_CALL_ATTEMPTS_MAX,
        INTRA_CALL_TIMEOUT_MS,
    )
    .await
}

/// One attempt with its own deadline: for callers that skip a peer that does not answer
/// quickly (a dead target must not hold an EC restore) rather than wait for it.
pub async fn call_once(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout_ms: u64,
) -> Result<CallResult> {
    call_with(method, url, headers, body, 1, timeout_ms).await
}

async fn call_with(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    attempts: u32,
    timeout_ms: u64,
) -> Result<CallResult> {
    let (ep, target) = net::client::parse_http_url(url)
        .map_err(|e| Error::PeerUnreachable(format!("bad URL {url}: {e}")))?;
    let mut last = String::new();
    for attempt in 0..attempts {
        if attempt > 0 {
            glommio::timer::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
        }
        let mut client = Client::new(ClientConfig {
            follow_redirects: false,
            ..Default::default()
        });
        let mut sink = Collect::new(INTRA_BODY_BYTES_MAX);
        let parts: [&[u8]; 1] = [body];
        let authz = with_node_token(headers);
        let req = Request {
            method,
            endpoint: &ep,
            target: &target,
            headers: &authz.as_refs(),
            body: if body.is_empty() { &[] } else { &parts },
        };
        let deadline = Instant::now() + Duration::from_millis(timeout_ms);
        match client
            .execute(&req, &mut Unsigned, &mut sink, deadline)
            .await
        {
            Ok(r) => {
                let head = client.head();
                return Ok(CallResult {
                    status: r.status,
                    content_type: head.header("content-type").unwrap_or("").to_string(),
                    hdr_error: head.header("hdr-error").map(str::to_string),
                    meta_decision: head.header(HDR_META_DECISION).map(str::to_string),
                    body: sink.body,
                });
            }
            Err(e) => last = format!("{method} {url}: {e}"),
        }
    }
    Err(Error::PeerUnreachable(last))
}

/// A call's headers plus, when this node has a signing key, `Authorization` with its own
/// token (`crate::auth::node_token`): nodes calling each other pass the checks clients get.
struct Headers<'a> {
    given: &'a [(&'a str, &'a str)],
    bearer: Option<String>,
}

impl<'a> Headers<'a> {
    fn as_refs(&self) -> Vec<(&str, &str)> {
        let mut v: Vec<(&str, &str)> = self.given.to_vec();
        if let Some(b) = &self.bearer {
            if !self
                .given
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            {
                v.push(("Authorization", b.as_str()));
            }
        }
        v
    }
}

fn with_node_token<'a>(given: &'a [(&'a str, &'a str)]) -> Headers<'a> {
    Headers {
        given,
        bearer: crate::auth::node_token().map(|t| format!("Bearer {t}")),
    }
}

/// Idle clients kept per thread for [`get_pooled`] (each keeps its own keep-alive
/// connections, one per peer it talked to).
pub const POOLED_CLIENTS_MAX: usize = 16;

thread_local! {
    static POOL: std::cell::RefCell<Vec<Client>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One GET on a kept-alive connection of this thread's pool (data-path calls that come in
/// bursts, such as Get-Batch fetching its entries): one attempt with its own deadline; a
/// reused connection the peer closed is retried by the client. Body up to
/// [`INTRA_BODY_BYTES_MAX`].
pub async fn get_pooled(
    url: &str,
    headers: &[(&str, &str)],
    timeout_ms: u64,
) -> Result<CallResult> {
    let (ep, target) = net::client::parse_http_url(url)
        .map_err(|e| Error::PeerUnreachable(format!("bad URL {url}: {e}")))?;
    let mut client = POOL.with(|p| p.borrow_mut().pop()).unwrap_or_else(|| {
        Client::new(ClientConfig {
            follow_redirects: false,
            ..Default::default()
        })
    });
    let mut sink = Collect::new(INTRA_BODY_BYTES_MAX);
    let authz = with_node_token(headers);
    let req = Request {
        method: "GET",
        endpoint: &ep,
        target: &target,
        headers: &authz.as_refs(),
        body: &[],
    };
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    let r = client
        .execute(&req, &mut Unsigned, &mut sink, deadline)
        .await
        .map_err(|e| Error::PeerUnreachable(format!("GET {url}: {e}")))?;
    let head = client.head();
    let out = CallResult {
        status: r.status,
        content_type: head.header("content-type").unwrap_or("").to_string(),
        hdr_error: head.header("hdr-error").map(str::to_string),
        meta_decision: head.header(HDR_META_DECISION).map(str::to_string),
        body: sink.body,
    };
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < POOLED_CLIENTS_MAX {
            p.push(client);
        }
    });
    Ok(out)
}

/// Header of a refused metasync or join: the typed reason (`meta::version::Decision`).
pub const HDR_META_DECISION: &str = "Ais-Meta-Decision";

/// `GET <node>/v1/daemon?what=<what>` as JSON (intra-control network).
pub async fn daemon_query(base_url: &str, what: &str) -> Result<serde_json::Value> {
    let r = call(
        "GET",
        &format!("{base_url}/v1/daemon?what={what}"),
        &[],
        b"",
    )
    .await?
    .ok()?;
    serde_json::from_slice(&r.body)
        .map_err(|e| Error::PeerUnreachable(format!("{base_url}: bad {what} answer: {e}")))
}
