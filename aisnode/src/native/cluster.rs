//! Cluster membership over HTTP (the logic is `cluster::membership`): metasync on any node,
//! and on the primary join (`POST /v1/cluster/autoreg`), keepalive, leave, and `PUT
//! /v1/cluster` actions (maintenance, decommission, job start/stop; `set-config` and
//! `reset-config` are `super::config`); a non-primary proxy relays these to the primary.

use super::audit::{self, Endpoint};
use crate::core::Core;
use crate::error::ApiError;
use crate::reply::{discard_body, io_err, read_body, require_actmsg, send_job_id, send_ok};
use crate::req::{Outcome, Req};
use cluster::intra::{self, INTRA_BODY_BYTES_MAX};
use cluster::membership;
use net::api::ActMsg;
use net::conn::Conn;
use std::rc::Rc;

/// `PUT /v1/metasync` on any node. A refusal by the version rule answers 409 with the
/// typed reason in `Ais-Meta-Decision`.
pub async fn metasync(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
) -> Result<Outcome, ApiError> {
    let body = read_body(conn, req, INTRA_BODY_BYTES_MAX).await?;
    let caller = req.head.header("ais-caller-id").map(str::to_string);
    membership::apply_metasync(&core.node, &body, caller.as_deref()).await?;
    send_ok(conn).await
}

/// `/v1/vote/...` (primary failover, `cluster::vote`): `GET /v1/vote/proxy` answers this
/// node's vote as plain `YES`/`NO`; `PUT /v1/vote/init` (proxies) asks this proxy, the HRW
/// candidate, to run the election.
pub async fn vote(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    rest: &str,
) -> Result<Outcome, ApiError> {
    let method = req.head.method.clone();
    let can = req.q("can").map(str::to_string);
    let body = read_body(conn, req, INTRA_BODY_BYTES_MAX).await?;
    match (method.as_str(), rest.trim_end_matches('/')) {
        ("GET", "proxy") => {
            let v = cluster::vote::vote(&core.node, &body, can.as_deref()).await?;
            conn.respond(200, &[("Content-Type", "text/plain")], v.as_bytes())
                .await
                .map_err(io_err)?;
            Ok(Outcome::KeepAlive)
        }
        ("PUT", "init") if core.node.cfg.role == cluster::node::Role::Proxy => {
            cluster::vote::vote_init(&core.node, &body)?;
            send_ok(conn).await
        }
        (m, r) => Err(ApiError::not_implemented(format!(
            "{m} /v1/vote/{r} is not supported by this node"
        ))),
    }
}

/// Primary: `PUT /v1/cluster/proxy/<id>` (AIS `api.SetPrimaryProxy`): hand the primary role
/// to proxy `id`.
pub async fn set_primary(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    id: &str,
) -> Result<Outcome, ApiError> {
    discard_body(conn, req).await?;
    if req.q("can").is_some() && !req.q_true("frc") {
        return Err(ApiError::not_implemented(format!(
            "PUT /v1/cluster/proxy/{id}?can=<url> (the candidate URL of a forced set-primary) is not supported by this node"
        )));
    }
    if req.q_true("frc") {
        return Err(ApiError::not_implemented(format!(
            "PUT /v1/cluster/proxy/{id}?frc=true (force: make a proxy of another cluster primary) is not supported by this node"
        )));
    }
    cluster::vote::set_primary(&core.node, id).await?;
    send_ok(conn).await
}

/// Primary: `POST /v1/cluster/autoreg` (join or re-join).
pub async fn autoreg(core: &Rc<Core>, conn: &mut Conn, req: &mut Req) -> Result<Outcome, ApiError> {
    let body = read_body(conn, req, INTRA_BODY_BYTES_MAX).await?;
    let joined = membership::autoreg(&core.node, &body).await?;
    let json = serde_json::to_vec(&joined.reply).map_err(|e| ApiError::internal(e.to_string()))?;
    conn.respond(200, &[("Content-Type", "application/json")], &json)
        .await
        .map_err(io_err)?;
    if joined.changed {
        membership::spawn_metasync(&core.node, joined.reply.smap);
    }
    Ok(Outcome::KeepAlive)
}

/// Primary: `POST /v1/cluster/keepalive/<id>` (200 only if known and in sync).
pub async fn keepalive(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    id: &str,
) -> Result<Outcome, ApiError> {
    discard_body(conn, req).await?;
    let theirs = req.head.header("ais-caller-smap-ver").unwrap_or("");
    membership::keepalive(&core.node, id, theirs)?;
    send_ok(conn).await
}

/// Primary: `DELETE /v1/cluster/daemon/<id>`: the node leaves the cluster.
pub async fn leave(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    id: &str,
) -> Result<Outcome, ApiError> {
    discard_body(conn, req).await?;
    membership::leave(&core.node, id).await?;
    send_ok(conn).await
}

/// `PUT /v1/cluster` (primary or all-in-one node): maintenance, decommission, job start or
/// stop; answers the action's job ID as plain text.
pub async fn action(core: &Rc<Core>, conn: &mut Conn, req: &mut Req) -> Result<Outcome, ApiError> {
    let msg = require_actmsg(conn, req).await?;
    if super::config::is_config_action(&msg.action) {
        return super::config::action(core, conn, req, msg, super::config::Scope::Cluster).await;
    }
    if matches!(msg.action.as_str(), "rotate-logs" | "reset-stats") {
        return broadcast_admin(core, conn, &msg).await;
    }
    audit::check_action(Endpoint::Cluster, "PUT", &msg.action)?;
    check_options(&msg)?;
    if let Some(o) = super::lifecycle::cluster_action(core, conn, req, &msg).await? {
        return Ok(o);
    }
    let job = if matches!(msg.action.as_str(), "start" | "stop") {
        cluster::jobs::cluster_action(&core.node, &core.smap(), &msg.action, &msg.value).await?
    } else {
        membership::cluster_action(&core.node, &msg.action, &msg.value).await?
    };
    send_job_id(conn, &job).await
}

/// Non-primary proxy: relay a control-plane request to the primary and its answer back.
pub async fn forward_to_primary(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
) -> Result<Outcome, ApiError> {
    let body = read_body(conn, req, INTRA_BODY_BYTES_MAX).await?;
    let mut hs: Vec<(&str, &str)> = Vec::new();
    for name in ["content-type", "accept"] {
        if let Some(v) = req.head.header(name) {
            hs.push((name, v));
        }
    }
    let target = req.target();
    let (target, method, hs, body) = (&target, &req.head.method, &hs, &body);
    let r = membership::relay_to_primary(&core.node, |primary| async move {
        intra::call(method, &format!("{primary}{target}"), hs, body).await
    })
    .await
    .map_err(|e| match e {
        cluster::Error::PeerUnreachable(m) => {
            ApiError::new(503, format!("forwarding to primary: {m}"))
        }
        e => e.into(),
    })?;
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

/// Options of `PUT /v1/cluster` messages this node does not implement, refused when set to
/// anything but their defaults (never dropped):
/// - maintenance and decommission (AIS `ActValRmNode`): several nodes at once (`sids`),
///   no rebalance (`skip_rebalance`), wiping user data (`rm_user_data`), keeping the initial
///   config (`keep_initial_config`). `no_shutdown` is what this node always does: a
///   decommissioned target leaves the map and stays up;
/// - job start (AIS `xact.ArgsMsg`): a bucket-limited rebalance (`Bck`, or a prefix in the
///   message's `name`), several buckets (`Buckets`), job flags (`flags`).
fn check_options(msg: &ActMsg) -> Result<(), ApiError> {
    let v = &msg.value;
    let what = format!("PUT /v1/cluster {:?}", msg.action);
    let set = |k: &str| -> Option<&serde_json::Value> {
        v.get(k).filter(|x| match x {
            serde_json::Value::Null => false,
            serde_json::Value::Bool(b) => *b,
            serde_json::Value::Array(a) => !a.is_empty(),
            serde_json::Value::Object(o) => {
                // A bucket: set when it names one.
                o.get("name")
                    .and_then(|n| n.as_str())
                    .is_some_and(|n| !n.is_empty())
            }
            serde_json::Value::Number(n) => n.as_u64() != Some(0),
            serde_json::Value::String(s) => !s.is_empty(),
        })
    };
    // The first option of `opts` that is set, refused by name.
    let refuse_set = |opts: &[(&str, &str)]| -> Result<(), ApiError> {
        match opts
            .iter()
            .find_map(|(k, meaning)| set(k).map(|x| (k, x, meaning)))
        {
            Some((k, x, meaning)) => Err(audit::refuse_field(&what, k, x, meaning)),
            None => Ok(()),
        }
    };
    const NODE_OPTS: [(&str, &str); 3] = [
        ("sids", "several nodes in one request"),
        ("rm_user_data", "remove the node's user data"),
        (
            "keep_initial_config",
            "keep the node's initial configuration",
        ),
    ];
    match msg.action.as_str() {
        "start-maintenance" | "stop-maintenance" | "decommission-node" => {
            refuse_set(&NODE_OPTS)?;
            refuse_set(&[("skip_rebalance", "skip the global rebalance")])?;
        }
        // `skip_rebalance` is what a shutdown always does here (cluster::lifecycle).
        "shutdown-node" => refuse_set(&NODE_OPTS)?,
        "start" => {
            refuse_set(&[
                ("Bck", "a job limited to one bucket"),
                ("Buckets", "a job over several buckets"),
                ("flags", "job flags"),
            ])?;
            if !msg.name.is_empty() && cluster::jobs::parse_args(v).kind == "rebalance" {
                return Err(ApiError::bad_request(format!(
                    "{what}: invalid limited-scope job (no bucket, {:?} prefix)",
                    msg.name
                )));
            }
        }
        _ => {}
    }
    Ok(())
}

/// `rotate-logs` and `reset-stats` of the whole cluster: the same action to every node of the
/// map (`PUT /v1/daemon`); an error names the nodes that did not do it.
async fn broadcast_admin(
    core: &Rc<Core>,
    conn: &mut Conn,
    msg: &ActMsg,
) -> Result<Outcome, ApiError> {
    if msg.action == "reset-stats"
        && !matches!(
            msg.value,
            serde_json::Value::Null | serde_json::Value::Bool(_)
        )
    {
        return Err(ApiError::bad_request(format!(
            "reset-stats: value must be a boolean (errors only), got {}",
            msg.value
        )));
    }
    let body = serde_json::to_vec(msg).map_err(|e| ApiError::internal(e.to_string()))?;
    let smap = core.smap();
    let mut failed = Vec::new();
    for (id, sn) in smap.pmap.iter().chain(smap.tmap.iter()) {
        let url = format!("{}/v1/daemon", sn.intra_control_net.direct_url);
        match intra::call("PUT", &url, &[("Content-Type", "application/json")], &body).await {
            Ok(r) if r.status == 200 => {}
            Ok(r) => failed.push(format!("{id}: {} {}", r.status, r.message())),
            Err(e) => failed.push(format!("{id}: {e}")),
        }
    }
    if !failed.is_empty() {
        return Err(ApiError::new(
            503,
            format!("{}: not done on {}", msg.action, failed.join("; ")),
        ));
    }
    send_ok(conn).await
}

/// Primary: `PUT /v1/cluster/attach|detach?what=remote` (AIS `api.AttachRemoteAIS` /
/// `DetachRemoteAIS`): headers `Ais-Remote-Ais-Alias` and `Ais-Remote-Ais-Url`.
pub async fn remote_ais(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    action: &str,
) -> Result<Outcome, ApiError> {
    discard_body(conn, req).await?;
    match req.q("what").unwrap_or("") {
        "remote" => {}
        w => {
            return Err(ApiError::not_implemented(format!(
                "PUT /v1/cluster/{action}?what={w:?}: only what=remote (remote AIS clusters) is supported"
            )))
        }
    }
    let alias = req
        .head
        .header("ais-remote-ais-alias")
        .unwrap_or("")
        .to_string();
    if alias.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{action}: missing the remote cluster's alias (header Ais-Remote-Ais-Alias)"
        )));
    }
    if action == "attach" {
        let url = req
            .head
            .header("ais-remote-ais-url")
            .unwrap_or("")
            .to_string();
        cluster::config::attach_remote_ais(&core.node, &alias, &url).await?;
    } else {
        cluster::config::detach_remote_ais(&core.node, &alias).await?;
    }
    send_ok(conn).await
}
