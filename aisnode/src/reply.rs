//! Reading control bodies and writing the native API's responses: JSON, empty 200, job IDs,
//! listing pages, and errors in AIS's shape.

use crate::core::Core;
use crate::error::ApiError;
use crate::req::{Listener, Outcome, Req};
use net::api::{ActMsg, LsoPage};
use net::conn::{Conn, ConnError};
use net::http;

/// Control messages (JSON bodies) larger than this are refused.
pub const CONTROL_BODY_BYTES_MAX: usize = 1 << 20;

/// A broken client connection: answer (if still possible) and close.
pub fn io_err(e: ConnError) -> ApiError {
    ApiError::bad_request(format!("reading request: {e}")).closing()
}

/// The request body, up to `limit` bytes.
pub async fn read_body(conn: &mut Conn, req: &mut Req, limit: usize) -> Result<Vec<u8>, ApiError> {
    if let Some(b) = req.prefetched.take() {
        if b.len() > limit {
            return Err(ApiError::new(
                413,
                format!("request body of {} bytes exceeds {limit}", b.len()),
            ));
        }
        return Ok(b);
    }
    let b = conn
        .body(req.head.body)
        .read_to_vec(limit)
        .await
        .map_err(io_err)?;
    req.body_done = true;
    Ok(b)
}

/// A control request's JSON body; `None` if it is empty.
pub async fn read_json<T: serde::de::DeserializeOwned>(
    conn: &mut Conn,
    req: &mut Req,
) -> Result<Option<T>, ApiError> {
    let body = read_body(conn, req, CONTROL_BODY_BYTES_MAX).await?;
    parse_json(&body)
}

/// A control body as JSON; `None` if it is empty.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<Option<T>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON control message: {e}")))
}

/// A control request's action message; `None` if the body is empty.
pub async fn read_actmsg(conn: &mut Conn, req: &mut Req) -> Result<Option<ActMsg>, ApiError> {
    read_json(conn, req).await
}

/// A control request's action message, which must be there.
pub async fn require_actmsg(conn: &mut Conn, req: &mut Req) -> Result<ActMsg, ApiError> {
    let body = read_body(conn, req, CONTROL_BODY_BYTES_MAX).await?;
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON control message: {e}")))
}

pub async fn send_json(conn: &mut Conn, v: &impl serde::Serialize) -> Result<Outcome, ApiError> {
    let body = serde_json::to_vec(v).map_err(|e| ApiError::internal(e.to_string()))?;
    conn.respond(200, &[("Content-Type", "application/json")], &body)
        .await
        .map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}

pub async fn send_ok(conn: &mut Conn) -> Result<Outcome, ApiError> {
    conn.respond(200, &[], b"").await.map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}

/// 200 with a job ID (or nothing) as plain text: what AIS answers to an action that
/// starts or stops a job.
pub async fn send_job_id(conn: &mut Conn, id: &str) -> Result<Outcome, ApiError> {
    conn.respond(200, &[("Content-Type", "text/plain")], id.as_bytes())
        .await
        .map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}

/// A listing page as the client asked: msgpack (the SDK) or JSON.
pub async fn send_page(conn: &mut Conn, req: &Req, page: &LsoPage) -> Result<Outcome, ApiError> {
    let msgpack = req
        .head
        .header("accept")
        .is_some_and(|a| a.contains("application/msgpack"));
    let (ctype, body) = if msgpack {
        ("application/msgpack", page.to_msgpack())
    } else {
        ("application/json", page.to_json())
    };
    conn.respond(200, &[("Content-Type", ctype)], &body)
        .await
        .map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}

/// Send an error in AIS's JSON shape (or `Hdr-Error` for HEAD).
pub async fn send_error(
    core: &Core,
    conn: &mut Conn,
    req: &Req,
    e: &ApiError,
) -> Result<(), ConnError> {
    let node = if req.listener == Listener::Public && req.q("pid").is_none() {
        core.node.pname()
    } else {
        core.node.tname()
    };
    let body = net::api::ErrBody {
        tcode: e.tcode,
        message: &e.message,
        method: &req.head.method,
        url_path: &req.head.path,
        remote_addr: &req.remote,
        caller: "",
        node: &node,
        status: e.status,
    }
    .to_json();
    let mut headers: Vec<(&str, &str)> = vec![
        ("Content-Type", "application/json"),
        ("X-Content-Type-Options", "nosniff"),
    ];
    for (k, v) in &e.headers {
        headers.push((k, v));
    }
    if e.close {
        headers.push(("Connection", "close"));
    }
    if req.head.method == "HEAD" {
        headers.push(("Hdr-Error", &body));
        let mut out = Vec::new();
        headers.push(("Content-Length", "0"));
        http::write_response_head(&mut out, e.status, &headers);
        conn.write_all(&out).await
    } else {
        conn.respond(e.status, &headers, body.as_bytes()).await
    }
}

/// Read and drop a request body the handler has no use for (intra-cluster size limit), so the
/// connection stays usable.
pub async fn discard_body(conn: &mut Conn, req: &mut Req) -> Result<(), ApiError> {
    if req.has_body() {
        read_body(conn, req, cluster::intra::INTRA_BODY_BYTES_MAX).await?;
    }
    Ok(())
}
