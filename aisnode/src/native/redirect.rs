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

/// Most time a redirected request's body is drained after the answer, on a connection the
/// client closes next.
pub const REDIRECT_DRAIN_AFTER_MS: u64 = 2_000;

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
    let mut query = format!(
        "{}{sep}pid={}&utm={utm}",
        req.head.query, core.node.proxy_id
    );
    // With a cluster key the target can tell this redirect from a forged `pid`/`utm`.
    if let Ok(path) = net::http::percent_decode_path(&req.head.path) {
        if let Some(sig) = cluster::auth::sign_redirect(&req.head.method, &path, &query, &utm) {
            query.push_str("&sig=");
            query.push_str(&sig);
        }
    }
    let location = format!("{base}{}?{query}", req.head.path);
    let mut close = false;
    let mut drain_after = false;
    if req.has_body() {
        if req.head.expect_continue {
            // The client has not sent the body; answer now and close rather than read it.
            close = true;
        } else if !req.head.keep_alive {
            // The client closes after this exchange. AIS's SDK over HTTPS sends the head
            // (Content-Length, `Connection: close`) without the body to learn the Location,
            // then sends the body to the target: answer first. A client that does send the
            // body gets it drained afterwards (bounded), so it sees no reset.
            close = true;
            drain_after = true;
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
    if drain_after {
        let _ = futures_lite::future::or(
            async {
                let _ = conn.body(req.head.body).drain().await;
            },
            glommio::timer::sleep(std::time::Duration::from_millis(REDIRECT_DRAIN_AFTER_MS)),
        )
        .await;
    }
    Ok(if close {
        Outcome::Close
    } else {
        Outcome::KeepAlive
    })
}
