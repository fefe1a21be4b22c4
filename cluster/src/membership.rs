//! Cluster membership and metadata sync for separate proxy and target processes:
//! join (`POST /v1/cluster/autoreg` to the primary), keepalive (`POST
//! /v1/cluster/keepalive/<id>`, with the slow path being a re-join), removal of nodes that
//! stopped answering (interval x factor), leave (`DELETE /v1/cluster/daemon/<id>`), and
//! metasync (`PUT /v1/metasync`, a jsp-framed `{"Smap":..,"BMD":..}` pushed by the primary).
//!
//! Every intra-cluster call has a deadline and a bounded number of retries. The control
//! plane runs as tasks on core 0; data-path cores only read published snapshots.

use crate::api_error::ApiError;
use crate::meta::{self, Bmd, Smap, Snode};
use crate::node::Node;
use crate::server::{Core, Outcome, Req};
use net::client::{Client, ClientConfig, Collect, Endpoint, Request, Unsigned};
use net::conn::Conn;
use serde::{Deserialize, Serialize};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Deadline of one intra-cluster call (AIS `timeout.cplane_operation` is 2 s; metasync of
/// a BMD with directory creation on targets may take longer).
pub const INTRA_CALL_TIMEOUT_MS: u64 = 5_000;
/// Attempts per intra-cluster call (first try included).
pub const INTRA_CALL_ATTEMPTS_MAX: u32 = 3;
/// Largest intra-cluster response body we accept (listing pages are the big ones).
pub const INTRA_BODY_BYTES_MAX: usize = 64 << 20;
/// Pause between join attempts while the primary is unreachable.
pub const JOIN_RETRY_MS: u64 = 500;
/// Longest pause between join attempts.
pub const JOIN_RETRY_MAX_MS: u64 = 10_000;

/// Result of an intra-cluster call.
pub struct CallResult {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: String,
    pub hdr_error: Option<String>,
}

/// One intra-cluster HTTP call with deadline and bounded retries on transport errors.
pub async fn call(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<CallResult, String> {
    let (ep, target) =
        net::client::parse_http_url(url).map_err(|e| format!("bad URL {url}: {e}"))?;
    let mut last = String::new();
    for attempt in 0..INTRA_CALL_ATTEMPTS_MAX {
        if attempt > 0 {
            glommio::timer::sleep(Duration::from_millis(100 * attempt as u64)).await;
        }
        let mut client = Client::new(ClientConfig {
            follow_redirects: false,
            ..Default::default()
        });
        let mut sink = Collect::new(INTRA_BODY_BYTES_MAX);
        let parts: [&[u8]; 1] = [body];
        let req = Request {
            method,
            endpoint: &ep,
            target: &target,
            headers,
            body: if body.is_empty() { &[] } else { &parts },
        };
        let deadline = Instant::now() + Duration::from_millis(INTRA_CALL_TIMEOUT_MS);
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
                    body: sink.body,
                });
            }
            Err(e) => last = format!("{method} {url}: {e}"),
        }
    }
    Err(last)
}

fn endpoint_of(url: &str) -> Option<Endpoint> {
    net::client::parse_http_url(url).ok().map(|(e, _)| e)
}

/// Join request body (AIS `cluMeta`, reduced to what we use).
#[derive(Serialize, Deserialize)]
pub struct JoinMsg {
    pub si: Snode,
    #[serde(default)]
    pub uuid: String,
}

#[derive(Serialize, Deserialize)]
pub struct JoinReply {
    pub smap: Smap,
    pub bmd: Bmd,
}

/// Start the control-plane tasks of this node on the current (core 0) executor.
pub fn start(core: Rc<Core>) {
    let node = core.node.clone();
    if node.cfg.role == crate::node::Role::All {
        return;
    }
    if node.is_primary() {
        glommio::spawn_local(watch_keepalives(node)).detach();
    } else {
        glommio::spawn_local(join_and_keepalive(node)).detach();
    }
}

async fn join(node: &Arc<Node>, primary: &str) -> Result<(), String> {
    let msg = JoinMsg {
        si: node.self_snode(),
        uuid: node.smap.load().uuid.clone(),
    };
    let body = serde_json::to_vec(&msg).map_err(|e| e.to_string())?;
    let url = format!("{}/v1/cluster/autoreg", primary.trim_end_matches('/'));
    let r = call(
        "POST",
        &url,
        &[
            ("Content-Type", "application/json"),
            ("Ais-Node-Version", "5.0"),
        ],
        &body,
    )
    .await?;
    if r.status != 200 {
        return Err(format!(
            "join refused by primary ({}): {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        ));
    }
    let reply: JoinReply =
        serde_json::from_slice(&r.body).map_err(|e| format!("bad join reply: {e}"))?;
    match apply(node.clone(), Some(reply.smap), Some(reply.bmd)).await {
        // A metasync with a newer map may overtake the join reply: that is success too.
        Err(e) if e.starts_with("older") => Ok(()),
        other => other,
    }
}

/// Re-join the primary with our current Snode (its mountpaths per core changed).
pub async fn rejoin(node: &Arc<Node>) -> Result<(), String> {
    let Some(primary) = node.cfg.primary_url.clone() else {
        return Ok(());
    };
    join(node, &primary).await
}

/// Apply metadata off the reactor (persisting and bucket directories block).
async fn apply(node: Arc<Node>, smap: Option<Smap>, bmd: Option<Bmd>) -> Result<(), String> {
    let old = node.smap.load();
    let n2 = node.clone();
    let changed = glommio::executor()
        .spawn_blocking(move || {
            let node = n2;
            if let Some(b) = bmd {
                node.apply_bmd(b)?;
            }
            if let Some(s) = smap {
                let me = node.self_id().to_string();
                let changed = node.apply_smap(s.clone())?;
                if changed && !s.pmap.contains_key(&me) && !s.tmap.contains_key(&me) && s.version > 0 {
                    tracing::warn!(node_id = %me, smap_version = s.version, "removed from the cluster map: stopping keepalives");
                    node.left.store(true, std::sync::atomic::Ordering::Relaxed);
                } else if changed {
                    tracing::info!(smap_version = s.version, targets = s.tmap.len(), proxies = s.pmap.len(), "new Smap");
                }
                return Ok::<bool, String>(changed);
            }
            Ok(false)
        })
        .await?;
    if changed {
        let new = node.smap.load();
        crate::rebalance::on_smap_change(&node, &old, &new);
    }
    Ok(())
}

async fn join_and_keepalive(node: Arc<Node>) {
    let primary = node
        .cfg
        .primary_url
        .clone()
        .expect("non-primary has --primary-url");
    let interval = Duration::from_millis(node.cfg.keepalive_interval_ms);
    let mut joined = false;
    let mut failures: u32 = 0;
    loop {
        if node.left.load(std::sync::atomic::Ordering::Relaxed) {
            glommio::timer::sleep(interval).await;
            continue;
        }
        if !joined {
            match join(&node, &primary).await {
                Ok(()) => {
                    joined = true;
                    failures = 0;
                    node.joined
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                    // A (re)joined target finishes whatever an interrupted run left behind.
                    // (A metasync of the same map may be starting it on another core.)
                    if node.cfg.role == crate::node::Role::Target {
                        crate::rebalance::ensure(&node, node.smap.load().version);
                    }
                    tracing::info!(primary = %primary, node_id = %node.self_id(), smap_version = node.smap.load().version, "joined cluster");
                }
                Err(e) => {
                    failures += 1;
                    let refused = e.contains("another cluster") || e.contains("duplicate");
                    // Log the first failures and then every 20th, and back off (up to
                    // JOIN_RETRY_MAX_MS) so a refused node does not flood its log.
                    if failures <= 3 || failures.is_multiple_of(20) {
                        if refused {
                            tracing::error!(primary = %primary, error = %e, attempt = failures, "join refused by the primary");
                        } else {
                            tracing::warn!(primary = %primary, error = %e, attempt = failures, "join failed; retrying");
                        }
                    }
                    let wait = (JOIN_RETRY_MS * failures.min(20) as u64).min(JOIN_RETRY_MAX_MS);
                    glommio::timer::sleep(Duration::from_millis(wait)).await;
                    continue;
                }
            }
        }
        glommio::timer::sleep(interval).await;
        if node
            .rejoin_needed
            .swap(false, std::sync::atomic::Ordering::AcqRel)
        {
            joined = false;
            continue;
        }
        let id = node.self_id().to_string();
        let ver = node.smap.load().version.to_string();
        let url = format!(
            "{}/v1/cluster/keepalive/{id}",
            primary.trim_end_matches('/')
        );
        match call(
            "POST",
            &url,
            &[("Ais-Caller-Id", &id), ("Ais-Caller-Smap-Ver", &ver)],
            b"",
        )
        .await
        {
            Ok(r) if r.status == 200 => {}
            Ok(r) => {
                tracing::info!(
                    status = r.status,
                    "keepalive refused; re-joining (slow path)"
                );
                joined = false;
                if r.status == 404 {
                    // The primary dropped us: not ready until it takes us back.
                    node.joined
                        .store(false, std::sync::atomic::Ordering::Relaxed);
                }
            }
            Err(e) => tracing::warn!(error = %e, "keepalive to primary failed"),
        }
    }
}

/// Primary: remove nodes not heard from within interval x factor.
async fn watch_keepalives(node: Arc<Node>) {
    let interval = Duration::from_millis(node.cfg.keepalive_interval_ms);
    loop {
        glommio::timer::sleep(interval).await;
        let timeout = node.keepalive_timeout();
        let smap = node.smap.load();
        let me = node.self_id().to_string();
        let now = Instant::now();
        let stale: Vec<String> = {
            let mut seen = node.last_seen.lock().expect("last_seen lock");
            smap.pmap
                .keys()
                .chain(smap.tmap.keys())
                .filter(|id| **id != me)
                .filter(|id| {
                    now.duration_since(*seen.entry((*id).clone()).or_insert(now)) > timeout
                })
                .cloned()
                .collect()
        };
        if stale.is_empty() {
            continue;
        }
        let removed = stale.clone();
        match node.update_smap(move |s| {
            for id in &removed {
                s.pmap.remove(id);
                s.tmap.remove(id);
            }
            Ok(())
        }) {
            Ok(new) => {
                tracing::warn!(nodes = ?stale, smap_version = new.version, "nodes stopped answering keepalives: removed from Smap");
                metasync(&node, Some(&new), None, &[]).await;
            }
            Err(e) => tracing::error!(error = %e, "Smap update failed"),
        }
    }
}

/// Primary: push Smap and/or BMD to every other node (and to `extra` URLs, e.g. a node that
/// was just removed), in parallel, each with deadline and retries. Failures are logged; a
/// node that missed an update catches up through its keepalive (version mismatch -> re-join).
pub async fn metasync(node: &Arc<Node>, smap: Option<&Smap>, bmd: Option<&Bmd>, extra: &[String]) {
    let mut payload = serde_json::Map::new();
    if let Some(s) = smap {
        payload.insert(
            "Smap".into(),
            serde_json::to_value(s).expect("Smap serializes"),
        );
    }
    if let Some(b) = bmd {
        payload.insert(
            "BMD".into(),
            serde_json::to_value(b).expect("BMD serializes"),
        );
    }
    let json = serde_json::to_vec(&payload).expect("payload serializes");
    let framed = Rc::new(meta::jsp_encode(1, &json));
    let cur = node.smap.load();
    let me = node.self_id().to_string();
    let mut urls: Vec<String> = cur
        .pmap
        .values()
        .chain(cur.tmap.values())
        .filter(|n| n.daemon_id != me)
        .map(|n| n.intra_control_net.direct_url.clone())
        .collect();
    urls.extend(extra.iter().cloned());
    urls.sort();
    urls.dedup();
    let mut tasks = Vec::new();
    for u in urls {
        let body = framed.clone();
        tasks.push(glommio::spawn_local(async move {
            let url = format!("{u}/v1/metasync");
            match call("PUT", &url, &[("Content-Type", "application/octet-stream")], &body).await {
                Ok(r) if r.status == 200 => {}
                Ok(r) if String::from_utf8_lossy(&r.body).contains("older") => {
                    tracing::debug!(url = %url, "metasync overtaken by a newer one")
                }
                Ok(r) => tracing::warn!(url = %url, status = r.status, body = %String::from_utf8_lossy(&r.body), "metasync refused"),
                Err(e) => tracing::warn!(url = %url, error = %e, "metasync failed"),
            }
        }));
    }
    for t in tasks {
        t.await;
    }
}

fn io_err(e: net::conn::ConnError) -> ApiError {
    ApiError::bad_request(format!("reading request: {e}")).closing()
}

async fn read_body(conn: &mut Conn, req: &mut Req) -> Result<Vec<u8>, ApiError> {
    let b = conn
        .body(req.head.body)
        .read_to_vec(INTRA_BODY_BYTES_MAX)
        .await
        .map_err(io_err)?;
    req.body_done = true;
    Ok(b)
}

/// `PUT /v1/metasync` on any node.
pub async fn handle_metasync(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
) -> Result<Outcome, ApiError> {
    let body = read_body(conn, req).await?;
    let json = meta::jsp_decode(&body).map_err(ApiError::bad_request)?;
    #[derive(Deserialize)]
    struct Payload {
        #[serde(rename = "Smap")]
        smap: Option<Smap>,
        #[serde(rename = "BMD")]
        bmd: Option<Bmd>,
    }
    let p: Payload = serde_json::from_slice(json)
        .map_err(|e| ApiError::bad_request(format!("bad metasync payload: {e}")))?;
    if core.node.is_primary() {
        return Err(ApiError::new(
            409,
            "metasync refused: this node is the primary",
        ));
    }
    if let Err(e) = apply(core.node.clone(), p.smap, p.bmd).await {
        tracing::warn!(error = %e, "metasync refused");
        return Err(ApiError::new(409, e));
    }
    conn.respond(200, &[], b"").await.map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}

/// Primary: `POST /v1/cluster/autoreg` (join or re-join).
pub async fn handle_autoreg(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
) -> Result<Outcome, ApiError> {
    let node = core.node.clone();
    let body = read_body(conn, req).await?;
    let msg: JoinMsg = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("bad join message: {e}")))?;
    let si = msg.si;
    if !meta::valid_node_id(&si.daemon_id) {
        return Err(ApiError::bad_request(format!(
            "invalid node ID {:?}",
            si.daemon_id
        )));
    }
    if si.daemon_type != "proxy" && si.daemon_type != "target" {
        return Err(ApiError::bad_request(format!(
            "invalid node type {:?}",
            si.daemon_type
        )));
    }
    let uuid = node.smap.load().uuid.clone();
    if !msg.uuid.is_empty() && msg.uuid != uuid {
        tracing::warn!(node_id = %si.daemon_id, their_cluster = %msg.uuid, "join refused: node belongs to another cluster");
        return Err(ApiError::new(
            409,
            format!(
                "node {} belongs to another cluster ({}); this is cluster {uuid}",
                si.daemon_id, msg.uuid
            ),
        ));
    }
    let timeout = node.keepalive_timeout();
    let now = Instant::now();
    let alive = |id: &str| {
        node.last_seen
            .lock()
            .expect("last_seen lock")
            .get(id)
            .map(|t| now.duration_since(*t) <= timeout)
            .unwrap_or(false)
    };
    let smap_now = node.smap.load();
    let existing = smap_now
        .pmap
        .get(&si.daemon_id)
        .or_else(|| smap_now.tmap.get(&si.daemon_id));
    if let Some(e) = existing {
        if e.public_net.direct_url != si.public_net.direct_url && alive(&si.daemon_id) {
            tracing::warn!(node_id = %si.daemon_id, "join refused: duplicate node ID");
            return Err(ApiError::new(
                409,
                format!(
                    "duplicate node ID {}: already in the cluster at {}",
                    si.daemon_id, e.public_net.direct_url
                ),
            ));
        }
    }
    let dup_url: Vec<String> = smap_now
        .pmap
        .values()
        .chain(smap_now.tmap.values())
        .filter(|n| {
            n.daemon_id != si.daemon_id && n.public_net.direct_url == si.public_net.direct_url
        })
        .map(|n| n.daemon_id.clone())
        .collect();
    if let Some(other) = dup_url.iter().find(|id| alive(id)) {
        return Err(ApiError::new(
            409,
            format!(
                "duplicate URL {}: node {other} is there and alive",
                si.public_net.direct_url
            ),
        ));
    }
    // A re-join keeps the flags the primary set (maintenance, decommission).
    let mut si = si;
    if let Some(e) = existing {
        si.flags = e.flags;
    }
    let unchanged = existing.map(|e| *e == si).unwrap_or(false);
    node.last_seen
        .lock()
        .expect("last_seen lock")
        .insert(si.daemon_id.clone(), now);
    let smap = if unchanged && dup_url.is_empty() {
        (*node.smap.load()).clone()
    } else {
        let si2 = si.clone();
        let dups = dup_url.clone();
        let n2 = node.clone();
        let new = glommio::executor()
            .spawn_blocking(move || {
                n2.update_smap(move |s| {
                    for d in &dups {
                        s.pmap.remove(d);
                        s.tmap.remove(d);
                    }
                    if si2.daemon_type == "proxy" {
                        s.pmap.insert(si2.daemon_id.clone(), si2);
                    } else {
                        s.tmap.insert(si2.daemon_id.clone(), si2);
                    }
                    Ok(())
                })
            })
            .await?;
        tracing::info!(node_id = %si.daemon_id, kind = %si.daemon_type, smap_version = new.version, "node joined");
        new
    };
    let reply = JoinReply {
        smap: smap.clone(),
        bmd: (*node.bmd.load()).clone(),
    };
    let body = serde_json::to_vec(&reply).map_err(|e| ApiError::internal(e.to_string()))?;
    conn.respond(200, &[("Content-Type", "application/json")], &body)
        .await
        .map_err(io_err)?;
    if !unchanged {
        let n3 = node.clone();
        glommio::spawn_local(async move { metasync(&n3, Some(&smap), None, &[]).await }).detach();
    }
    Ok(Outcome::KeepAlive)
}

/// Primary: `POST /v1/cluster/keepalive/<id>` (fast path: 200 only if known and in sync).
pub async fn handle_keepalive(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    id: &str,
) -> Result<Outcome, ApiError> {
    let node = core.node.clone();
    if req.has_body() {
        let _ = read_body(conn, req).await?;
    }
    let smap = node.smap.load();
    if !smap.pmap.contains_key(id) && !smap.tmap.contains_key(id) {
        return Err(ApiError::new(
            404,
            format!("node {id} is not in Smap v{}", smap.version),
        ));
    }
    node.last_seen
        .lock()
        .expect("last_seen lock")
        .insert(id.to_string(), Instant::now());
    let theirs = req.head.header("ais-caller-smap-ver").unwrap_or("");
    if theirs != smap.version.to_string() {
        return Err(ApiError::new(
            409,
            format!("node {id} has Smap v{theirs}, current is v{}", smap.version),
        ));
    }
    conn.respond(200, &[], b"").await.map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}

/// Primary: `DELETE /v1/cluster/daemon/<id>`: the node leaves the cluster.
pub async fn handle_leave(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    id: &str,
) -> Result<Outcome, ApiError> {
    let node = core.node.clone();
    if req.has_body() {
        let _ = read_body(conn, req).await?;
    }
    if id == node.self_id() {
        return Err(ApiError::bad_request(
            "the primary cannot leave its own cluster",
        ));
    }
    let smap = node.smap.load();
    let Some(sn) = smap.pmap.get(id).or_else(|| smap.tmap.get(id)).cloned() else {
        return Err(ApiError::new(
            404,
            format!("node {id} is not in Smap v{}", smap.version),
        ));
    };
    let id2 = id.to_string();
    let n2 = node.clone();
    let new = glommio::executor()
        .spawn_blocking(move || {
            n2.update_smap(move |s| {
                s.pmap.remove(&id2);
                s.tmap.remove(&id2);
                Ok(())
            })
        })
        .await?;
    node.last_seen.lock().expect("last_seen lock").remove(id);
    tracing::info!(node_id = %id, smap_version = new.version, "node left the cluster");
    metasync(
        &node,
        Some(&new),
        None,
        std::slice::from_ref(&sn.intra_control_net.direct_url),
    )
    .await;
    conn.respond(200, &[], b"").await.map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}

/// Non-primary proxy: relay a control-plane request to the primary and its answer back.
pub async fn forward_to_primary(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
) -> Result<Outcome, ApiError> {
    let node = core.node.clone();
    let body = read_body(conn, req).await?;
    let primary = node.smap.load().proxy_si.public_net.direct_url.clone();
    if primary.is_empty() || endpoint_of(&primary).is_none() {
        return Err(ApiError::new(503, "primary proxy unknown: not joined yet"));
    }
    let target = if req.head.query.is_empty() {
        req.head.path.clone()
    } else {
        format!("{}?{}", req.head.path, req.head.query)
    };
    let url = format!("{primary}{target}");
    let mut hs: Vec<(&str, &str)> = Vec::new();
    for name in ["content-type", "accept"] {
        if let Some(v) = req.head.header(name) {
            hs.push((name, v));
        }
    }
    let r = call(&req.head.method, &url, &hs, &body)
        .await
        .map_err(|e| ApiError::new(503, format!("forwarding to primary: {e}")))?;
    let mut out: Vec<(&str, &str)> = Vec::new();
    if !r.content_type.is_empty() {
        out.push(("Content-Type", &r.content_type));
    }
    if let Some(h) = &r.hdr_error {
        out.push(("Hdr-Error", h));
    }
    if req.head.method == "HEAD" {
        let mut head = Vec::new();
        let len = r.body.len().to_string();
        out.push(("Content-Length", &len));
        net::http::write_response_head(&mut head, r.status, &out);
        conn.write_all(&head).await.map_err(io_err)?;
    } else {
        conn.respond(r.status, &out, &r.body)
            .await
            .map_err(io_err)?;
    }
    Ok(Outcome::KeepAlive)
}

/// Primary: `PUT /v1/cluster` with `{"action": "start-maintenance" | "stop-maintenance" |
/// "decommission-node", "value": {"sid": "<node id>"}}`. Maintenance and decommission flag
/// the target in the Smap, which takes it out of HRW placement and starts a rebalance that
/// moves its objects away; a decommissioned target leaves the Smap once its rebalance has
/// finished without errors. Answers with the action's job ID as plain text.
pub async fn handle_cluster_action(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
) -> Result<Outcome, ApiError> {
    let node = core.node.clone();
    let body = read_body(conn, req).await?;
    let msg: net::api::ActMsg = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON control message: {e}")))?;
    if matches!(msg.action.as_str(), "start" | "stop") {
        return crate::xact::cluster_action(core, conn, msg).await;
    }
    let sid = msg
        .value
        .get("sid")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    let (set, clear): (u64, u64) = match msg.action.as_str() {
        "start-maintenance" => (meta::FLAG_MAINTENANCE, 0),
        "stop-maintenance" => (0, meta::FLAG_MAINTENANCE),
        "decommission-node" | "decommission" => (meta::FLAG_DECOMMISSION, 0),
        a => {
            return Err(ApiError::not_implemented(format!(
                "cluster action {a:?} is not supported by this node"
            )))
        }
    };
    let smap = node.smap.load();
    let Some(t) = smap.tmap.get(&sid).cloned() else {
        return Err(ApiError::new(
            404,
            format!("target {sid:?} is not in Smap v{}", smap.version),
        ));
    };
    let eligible = smap
        .tmap
        .values()
        .filter(|t| t.flags & (meta::FLAG_MAINTENANCE | meta::FLAG_DECOMMISSION) == 0)
        .count();
    if set != 0
        && t.flags & (meta::FLAG_MAINTENANCE | meta::FLAG_DECOMMISSION) == 0
        && eligible <= 1
    {
        return Err(ApiError::new(
            409,
            format!("cannot take {sid} out of service: it is the last active target"),
        ));
    }
    let n2 = node.clone();
    let sid2 = sid.clone();
    let new = glommio::executor()
        .spawn_blocking(move || {
            n2.update_smap(move |s| {
                let t = s.tmap.get_mut(&sid2).expect("checked above");
                t.flags = (t.flags | set) & !clear;
                Ok(())
            })
        })
        .await?;
    tracing::info!(node_id = %sid, action = %msg.action, smap_version = new.version, "target flags changed");
    metasync(&node, Some(&new), None, &[]).await;
    let job = format!("{}-{}", msg.action, meta::random_id(8));
    if set == meta::FLAG_DECOMMISSION {
        let url = t.public_net.direct_url.clone();
        let ver = new.version;
        glommio::spawn_local(finish_decommission(node.clone(), sid.clone(), url, ver)).detach();
    }
    crate::xact::respond_job_id(conn, &job).await
}

/// Wait until the decommissioned target's rebalance (started by Smap `version` or later)
/// finished without errors, then remove it from the Smap.
async fn finish_decommission(node: Arc<Node>, sid: String, url: String, version: i64) {
    let poll = Duration::from_millis(node.cfg.keepalive_interval_ms.clamp(100, 2000));
    loop {
        glommio::timer::sleep(poll).await;
        if !node.smap.load().tmap.contains_key(&sid) {
            return;
        }
        let r = match call("GET", &format!("{url}/v1/daemon?what=jobs"), &[], b"").await {
            Ok(r) if r.status == 200 => r,
            _ => continue,
        };
        let Ok(serde_json::Value::Array(jobs)) =
            serde_json::from_slice::<serde_json::Value>(&r.body)
        else {
            continue;
        };
        let done = jobs.iter().any(|j| {
            j["kind"] == "rebalance"
                && j["finished"] == true
                && j["aborted"] == false
                && j["errors"].as_u64() == Some(0)
                && j["smap_version"].as_i64().unwrap_or(0) >= version
        });
        if !done {
            continue;
        }
        let id = sid.clone();
        let n2 = node.clone();
        match glommio::executor()
            .spawn_blocking(move || {
                n2.update_smap(move |s| {
                    s.tmap.remove(&id);
                    Ok(())
                })
            })
            .await
        {
            Ok(new) => {
                tracing::info!(node_id = %sid, smap_version = new.version, "decommissioned target left the cluster");
                metasync(&node, Some(&new), None, std::slice::from_ref(&url)).await;
            }
            Err(e) => tracing::error!(error = %e, "removing decommissioned target failed"),
        }
        return;
    }
}

/// Target: a request names a bucket our BMD does not have. Right after a join, other nodes
/// may already route to us (rebalance, clients) before our copy arrives: pull the BMD from
/// the primary once and apply it if newer. True if the bucket exists afterwards.
pub async fn refresh_bmd_for(node: &Arc<Node>, bucket: &str) -> bool {
    let primary = match &node.cfg.primary_url {
        Some(p) => p.clone(),
        None => return false,
    };
    let Ok(r) = call("GET", &format!("{primary}/v1/daemon?what=bmd"), &[], b"").await else {
        return false;
    };
    if r.status != 200 {
        return false;
    }
    let Ok(bmd) = serde_json::from_slice::<Bmd>(&r.body) else {
        return false;
    };
    let n2 = node.clone();
    let _ = glommio::executor()
        .spawn_blocking(move || n2.apply_bmd(bmd))
        .await;
    node.bmd.load().buckets.contains_key(bucket)
}
