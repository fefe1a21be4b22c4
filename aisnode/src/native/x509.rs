//! AIS's certificate reload and query (`api.LoadX509Cert`, `api.GetX509Info`, the CLI's
//! `ais tls load-certificate` / `ais tls show`): `PUT /v1/daemon/load-x509` re-reads this
//! node's `net.http.server_crt`/`server_key`; `PUT /v1/cluster/load-x509[/NODE_ID]` on a
//! proxy does it on itself and asks every node (or the one named) to; `GET
//! /v1/daemon?what=tls_certificate` describes the certificate in use. New handshakes use the
//! new certificate; established connections keep theirs. A node without TLS answers 400, as
//! AIS does.

use crate::core::Core;
use crate::error::ApiError;
use crate::reply::{discard_body, send_json, send_ok};
use crate::req::{Outcome, Req};
use cluster::intra;
use net::conn::Conn;
use std::rc::Rc;

/// Intra-cluster path of the per-node reload.
pub const DAEMON_PATH: &str = "/v1/daemon/load-x509";

fn reload(core: &Core) -> Result<(), ApiError> {
    let Some(store) = &core.node.tls.store else {
        return Err(ApiError::bad_request(
            "invalid request to reload X.509 certificates: this node runs plain HTTP \
             (net.http.use_https is off on every network)",
        ));
    };
    store
        .reload()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    tracing::info!(server_crt = %store.crt_path().display(), "X.509 certificate reloaded");
    Ok(())
}

/// `PUT /v1/daemon/load-x509`.
pub async fn load_daemon(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
) -> Result<Outcome, ApiError> {
    discard_body(conn, req).await?;
    reload(core)?;
    send_ok(conn).await
}

/// `PUT /v1/cluster/load-x509[/NODE_ID]`.
pub async fn load_cluster(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    node_id: Option<&str>,
) -> Result<Outcome, ApiError> {
    discard_body(conn, req).await?;
    let me = [core.node.proxy_id.as_str(), core.node.target_id.as_str()];
    let smap = core.smap();
    let mut peers: Vec<(String, String)> = smap
        .pmap
        .values()
        .chain(smap.tmap.values())
        .filter(|n| !me.contains(&n.daemon_id.as_str()))
        .filter(|n| node_id.is_none_or(|id| id == n.daemon_id))
        .map(|n| (n.daemon_id.clone(), n.intra_control_net.direct_url.clone()))
        .collect();
    peers.dedup();
    let mine = node_id.is_none_or(|id| me.contains(&id));
    if let Some(id) = node_id {
        if !mine && peers.is_empty() {
            return Err(ApiError::new(
                404,
                format!("node {id:?} is not in Smap v{}", smap.version),
            ));
        }
    }
    if mine {
        reload(core)?;
    }
    let mut failed = Vec::new();
    for (id, url) in peers {
        match intra::call("PUT", &format!("{url}{DAEMON_PATH}"), &[], &[]).await {
            Ok(r) if r.status == 200 => {}
            Ok(r) => failed.push(format!("{id}: {} {}", r.status, r.message())),
            Err(e) => failed.push(format!("{id}: {e}")),
        }
    }
    if !failed.is_empty() {
        return Err(ApiError::internal(format!(
            "X.509 reload failed on: {}",
            failed.join("; ")
        )));
    }
    send_ok(conn).await
}

/// `GET /v1/daemon?what=tls_certificate`: 404 without TLS (AIS: no certificates loaded).
pub async fn info(core: &Rc<Core>, conn: &mut Conn) -> Result<Outcome, ApiError> {
    let Some(store) = &core.node.tls.store else {
        return Err(ApiError::new(
            404,
            "no X.509 certificates loaded (plain HTTP)",
        ));
    };
    let mut m = serde_json::Map::new();
    m.insert(
        "server_crt".into(),
        store.crt_path().display().to_string().into(),
    );
    for (k, v) in net::tls::cert_info(&store.chain()) {
        m.insert(k, v.into());
    }
    send_json(conn, &serde_json::Value::Object(m)).await
}
