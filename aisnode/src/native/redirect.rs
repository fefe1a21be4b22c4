//! Redirects of object requests to the owning target core (spec §2.3): 301 for GET, 307
//! otherwise, `Location` = core URL + original path + original query + `pid` + `utm`.

use crate::core::Core;
use crate::error::ApiError;
use crate::reply::io_err;
use crate::req::{Outcome, Req};
use net::conn::Conn;
use net::time;
use std::rc::Rc;

/// Redirect an object request to the owning core (spec §2.3): 301 for GET, 307 otherwise,
/// `Location` = core URL + original path + original query + `pid` + `utm`.
/// Where a redirect points: a core of this node, or another node's core URL.
pub enum RedirectTo {
    Core(usize),
    Url(String),
}

pub async fn redirect(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    owner: RedirectTo,
) -> Result<Outcome, ApiError> {
    let status = if req.head.method == "GET" { 301 } else { 307 };
    let utm = time::base36(time::now_unix_ns() as u64);
    let sep = if req.head.query.is_empty() { "" } else { "&" };
    let base = match owner {
        RedirectTo::Core(k) => format!(
            "{}://{}:{}",
            core.node.tls.scheme(cluster::node::tls::Network::Public),
            core.node.cfg.host,
            core.node.core_port(k)
        ),
        RedirectTo::Url(u) => u,
    };
    let location = format!(
        "{base}{}?{}{sep}pid={}&utm={utm}",
        req.head.path, req.head.query, core.node.proxy_id
    );
    let mut close = false;
    if req.has_body() {
        if req.head.expect_continue {
            // The client has not sent the body; answer now and close rather than read it.
            close = true;
        } else {
            // Clients send the whole body before reading the response: consume it so the
            // client reliably sees the redirect.
            conn.body(req.head.body).drain().await.map_err(io_err)?;
        }
    }
    req.body_done = !close;
    let body: &[u8] = if status == 301 {
        b"<a href=\"\">Moved Permanently</a>.\n\n"
    } else {
        b""
    };
    let mut headers: Vec<(&str, &str)> = vec![("Location", &location)];
    if status == 301 {
        headers.push(("Content-Type", "text/html; charset=utf-8"));
    }
    if close {
        headers.push(("Connection", "close"));
    }
    conn.respond(status, &headers, body).await.map_err(io_err)?;
    Ok(if close {
        Outcome::Close
    } else {
        Outcome::KeepAlive
    })
}
