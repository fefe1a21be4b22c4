//! Streaming reverse proxy for requests a client will not redirect (S3 uploads): the proxy
//! opens a connection to the owning target core, sends the request head unchanged (same
//! Host, path, query and signature headers, so SigV4 still verifies on the target), pipes
//! the body through in bounded pieces, then pipes the response back. Nothing is held whole
//! in memory; every read and write has the connection's deadlines.

use crate::core::Core;
use crate::error::ApiError;
use crate::req::{Outcome, Req};
use cluster::gfn::{self, GfnMark};
use net::client::{Framing, ResponseHead};
use net::conn::Conn;
use net::http::BodyKind;
use std::rc::Rc;
use std::time::Duration;

/// Deadline to connect to the target.
pub const FORWARD_CONNECT_TIMEOUT_MS: u64 = 5_000;
/// Deadline to connect to a get-from-neighbour candidate (a dead one is skipped).
pub const GFN_CONNECT_TIMEOUT_MS: u64 = 1_000;
/// Each upstream read or write must progress within this.
pub const FORWARD_IO_TIMEOUT_MS: u64 = 60_000;
/// Copy buffer per forwarded request.
pub const FORWARD_BUFFER_BYTES: usize = 256 * 1024;
/// Marker header the target sees on forwarded requests.
pub const FORWARDED_BY: &str = "Ais-Forwarded-By";

const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "expect",
    "te",
    "upgrade",
];

fn bad_gateway(m: impl Into<String>) -> ApiError {
    ApiError::new(502, m)
}

/// Forward `req` to `base_url` (`http://host:port`) and relay the answer.
pub async fn forward(
    conn: &mut Conn,
    req: &mut Req,
    base_url: &str,
    proxy_id: &str,
) -> Result<Outcome, ApiError> {
    forward_or_404(conn, req, base_url, proxy_id, false)
        .await
        .map(|o| o.expect("a 404 is passed through when not asked to yield it"))
}

/// Like [`forward`], but with `yield_404` (get-from-neighbour) a 404 from upstream is not
/// passed on, and neither is an upstream that cannot be reached or dies before answering:
/// `Ok(None)` lets the caller answer itself (get-from-neighbour re-checks its own disk, and
/// a missing object is a 404 at once, never a 502 a client's retry policy loops on). Only
/// for requests without a body.
pub async fn forward_or_404(
    conn: &mut Conn,
    req: &mut Req,
    base_url: &str,
    proxy_id: &str,
    yield_404: bool,
) -> Result<Option<Outcome>, ApiError> {
    let (ep, _) = net::client::parse_http_url(&format!("{}/", base_url.trim_end_matches('/')))
        .map_err(|e| bad_gateway(format!("bad target URL {base_url}: {e}")))?;
    let addr = format!("{}:{}", ep.host, ep.port);
    // A neighbour that is gone must not hold the client: connect to it briefly.
    let connect_ms = if yield_404 {
        GFN_CONNECT_TIMEOUT_MS
    } else {
        FORWARD_CONNECT_TIMEOUT_MS
    };
    let unavailable = |what: String| -> Result<Option<Outcome>, ApiError> {
        if yield_404 {
            tracing::info!(neighbour = %addr, reason = %what, "get-from-neighbour: neighbour unavailable, skipped");
            Ok(None)
        } else {
            Err(bad_gateway(what))
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_millis(connect_ms);
    let mut up = match net::client::connect_stream(&ep, deadline).await {
        Ok(s) => s,
        Err(e) => return unavailable(format!("connecting to target {addr}: {e}")),
    };
    let io_t = Some(Duration::from_millis(FORWARD_IO_TIMEOUT_MS));
    let _ = up.set_read_timeout(io_t);
    let _ = up.set_write_timeout(io_t);

    let mut head = format!("{} {} HTTP/1.1\r\n", req.head.method, req.target());
    for (k, v) in &req.head.headers {
        if HOP_BY_HOP.contains(&k.as_str())
            || k.eq_ignore_ascii_case(cluster::auth::HDR_FORWARD_SIG)
        {
            continue;
        }
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str(&format!(
        "{FORWARDED_BY}: {proxy_id}\r\nConnection: close\r\n"
    ));
    // With a cluster key the target can tell this from a client claiming to be forwarded.
    if let Ok(path) = net::http::percent_decode_path(&req.head.path) {
        if let Some(sig) = cluster::auth::sign_forward(&req.head.method, &path, &req.head.query) {
            head.push_str(&format!("{}: {sig}\r\n", cluster::auth::HDR_FORWARD_SIG));
        }
    }
    match req.head.body {
        BodyKind::Empty => {}
        BodyKind::Length(n) => head.push_str(&format!("Content-Length: {n}\r\n")),
        BodyKind::Chunked => head.push_str("Transfer-Encoding: chunked\r\n"),
    }
    head.push_str("\r\n");
    if req.head.expect_continue {
        conn.send_continue()
            .await
            .map_err(|e| ApiError::bad_request(e.to_string()).closing())?;
    }
    if let Err(e) = up.write_all(head.as_bytes()).await {
        return unavailable(format!("sending to target {addr}: {e}"));
    }

    // Request body.
    let mut buf = vec![0u8; FORWARD_BUFFER_BYTES];
    {
        let chunked = matches!(req.head.body, BodyKind::Chunked);
        let mut body = conn.body(req.head.body);
        loop {
            let n = body.read(&mut buf).await.map_err(|e| {
                ApiError::bad_request(format!("reading request body: {e}")).closing()
            })?;
            if n == 0 {
                break;
            }
            if chunked {
                up.write_all(format!("{n:x}\r\n").as_bytes())
                    .await
                    .map_err(|e| bad_gateway(e.to_string()).closing())?;
            }
            up.write_all(&buf[..n]).await.map_err(|e| {
                bad_gateway(format!("sending body to target {addr}: {e}")).closing()
            })?;
            if chunked {
                up.write_all(b"\r\n")
                    .await
                    .map_err(|e| bad_gateway(e.to_string()).closing())?;
            }
        }
        if chunked {
            up.write_all(b"0\r\n\r\n")
                .await
                .map_err(|e| bad_gateway(e.to_string()).closing())?;
        }
    }
    req.body_done = true;

    // Response head.
    let mut acc: Vec<u8> = Vec::with_capacity(4096);
    let mut rh = ResponseHead::default();
    let is_head = req.head.method == "HEAD";
    let used = loop {
        let n = match up.read(&mut buf).await {
            Ok(n) => n,
            Err(e) => return unavailable(format!("reading target {addr}: {e}")),
        };
        if n == 0 {
            return unavailable(format!(
                "target {addr} closed the connection without a response"
            ));
        }
        acc.extend_from_slice(&buf[..n]);
        match net::client::parse_response_head(&acc, &mut rh, is_head) {
            Ok(Some(used)) => break used,
            Ok(None) => continue,
            Err(e) => return Err(bad_gateway(format!("target {addr}: {e}"))),
        }
    };
    if yield_404 && rh.status == 404 {
        return Ok(None);
    }
    let mut close = !req.head.keep_alive;
    let mut headers: Vec<(&str, &str)> = rh
        .headers()
        .filter(|(k, _)| !HOP_BY_HOP.contains(&k.to_ascii_lowercase().as_str()))
        .collect();
    let length: String;
    let remaining: Option<u64> = match rh.framing {
        Framing::None => {
            if let Some(cl) = rh.header("content-length") {
                headers.push(("Content-Length", cl));
            }
            Some(0)
        }
        Framing::Length(n) => {
            length = n.to_string();
            headers.push(("Content-Length", &length));
            Some(n)
        }
        Framing::Chunked | Framing::UntilClose => {
            // Targets always frame with Content-Length; anything else streams until close.
            close = true;
            None
        }
    };
    if close {
        headers.push(("Connection", "close"));
    }
    let mut out = Vec::with_capacity(1024);
    net::http::write_response_head(&mut out, rh.status, &headers);
    conn.write_all(&out)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()).closing())?;
    let rest = &acc[used..];
    let mut left = remaining.unwrap_or(u64::MAX);
    let first = (rest.len() as u64).min(left) as usize;
    if first > 0 {
        conn.write_all(&rest[..first])
            .await
            .map_err(|_| ApiError::bad_request("client went away").closing())?;
        left -= first as u64;
    }
    while left > 0 {
        let want = (buf.len() as u64).min(left) as usize;
        let n = match up.read(&mut buf[..want]).await {
            Ok(0) if remaining.is_none() => break,
            Ok(0) => {
                tracing::warn!(target = %addr, "target closed mid-response");
                return Ok(Some(Outcome::Close));
            }
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(target = %addr, error = %e, "reading target mid-response");
                return Ok(Some(Outcome::Close));
            }
        };
        if conn.write_all(&buf[..n]).await.is_err() {
            return Ok(Some(Outcome::Close));
        }
        left -= n as u64;
    }
    Ok(Some(if close {
        Outcome::Close
    } else {
        Outcome::KeepAlive
    }))
}

/// GET/HEAD missed locally: during a rebalance the object may still (or already) be on
/// another target (`cluster::gfn`). `Ok(None)`: the neighbour does not have it either (or
/// there is none); the caller looks on its own disk once more, since the object may have
/// arrived while the neighbour was asked, and otherwise answers 404. S3 requests
/// (`GfnMark::Header`) are forwarded unchanged plus the `Ais-Gfn` header, so the
/// neighbour verifies the client's signature.
pub async fn get_from_neighbor(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    bucket: &str,
    object: &str,
    mark: GfnMark,
) -> Result<Option<Outcome>, ApiError> {
    let forwarded = match mark {
        GfnMark::Query => req.q_true(gfn::QUERY_GFN),
        GfnMark::Header => req.head.header("ais-gfn").is_some(),
    };
    let Some(url) = gfn::neighbor_for_miss(&core.node, forwarded, bucket, object).await else {
        return Ok(None);
    };
    match mark {
        GfnMark::Query => {
            req.head.query = if req.head.query.is_empty() {
                format!("{}=true", gfn::QUERY_GFN)
            } else {
                format!("{}&{}=true", req.head.query, gfn::QUERY_GFN)
            }
        }
        GfnMark::Header => req
            .head
            .headers
            .push((gfn::HDR_GFN.to_string(), "true".to_string())),
    }
    let yield_404 = matches!(req.head.body, BodyKind::Empty);
    forward_or_404(conn, req, &url, &core.node.target_id, yield_404).await
}
