//! Configuration endpoints (the logic is `cluster::config`):
//! - `PUT /v1/cluster/set-config?section.field=value&...` (AIS `api.SetClusterConfig`,
//!   `ais config cluster key=value`) and `PUT /v1/cluster` with the action `set-config`
//!   (value: nested JSON, AIS `SetClusterConfigUsingMsg`) or `reset-config`: the primary
//!   changes the cluster config and pushes it to every node;
//! - `PUT /v1/daemon/set-config?...`, `PUT /v1/daemon` with `set-config`/`reset-config`,
//!   and the same through any proxy as `/v1/reverse/daemon[/set-config]` with `Ais-Node-Id`
//!   (AIS `SetDaemonConfig`, `ResetDaemonConfig`): one node's override;
//! - `GET /v1/daemon?what=config` (this node's effective config) and `GET
//!   /v1/cluster?what=cluster_config` (the cluster config).

use super::audit;
use crate::core::Core;
use crate::error::ApiError;
use crate::reply::{discard_body, require_actmsg, send_json, send_ok};
use crate::req::{Outcome, Req};
use cluster::meta::config::Patch;
use net::api::ActMsg;
use net::conn::Conn;
use std::rc::Rc;

/// The configuration actions of `ActMsg`.
pub fn is_config_action(action: &str) -> bool {
    matches!(action, "set-config" | "reset-config")
}

/// The query's `section.field=value` pairs (and `transient`).
fn query_patch(req: &Req) -> Patch {
    Patch::Query(req.query.clone())
}

/// What a configuration request changes: the cluster config (on the primary, or `--role
/// all`) or this node's override.
#[derive(Clone, Copy)]
pub enum Scope {
    Cluster,
    Node,
}

async fn set(
    core: &Core,
    req: &Req,
    scope: Scope,
    patch: Patch,
    transient: bool,
) -> Result<(), ApiError> {
    if let Scope::Cluster = scope {
        turning_auth_on(core, req, &patch)?;
    }
    match scope {
        Scope::Cluster => cluster::config::set_cluster(&core.node, patch, transient)
            .await
            .map(|_| ())?,
        Scope::Node => cluster::config::set_node(&core.node, patch, transient).await?,
    }
    Ok(())
}

/// A change that turns client authentication on needs this node's signing key and, as in
/// AIS, a valid admin token in the request itself (whoever enables it can still get in).
fn turning_auth_on(core: &Core, req: &Req, patch: &Patch) -> Result<(), ApiError> {
    let cur = core.node.config.load();
    if cur.cluster.auth.required() {
        return Ok(());
    }
    let Ok(p) = patch.to_json(&cur.effective.to_json()) else {
        return Ok(()); // the change itself is refused, with its own reason
    };
    let on = ["client_auth_required", "enabled"]
        .iter()
        .any(|k| p["auth"][k].as_bool() == Some(true) || p["auth"][k].as_str() == Some("true"));
    if !on {
        return Ok(());
    }
    if let Some(why) = cluster::auth::keys_missing() {
        return Err(ApiError::bad_request(format!(
            "auth.client_auth_required: {why}"
        )));
    }
    crate::auth::authorize(core, req, None, cluster::meta::access::ADMIN)
}

/// `PUT /v1/cluster/set-config?...` (cluster) or `PUT /v1/daemon/set-config?...` (node).
pub async fn set_query(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    scope: Scope,
) -> Result<Outcome, ApiError> {
    discard_body(conn, req).await?;
    set(core, req, scope, query_patch(req), req.q_true("transient")).await?;
    send_ok(conn).await
}

/// `set-config` / `reset-config` as an `ActMsg`: `PUT /v1/cluster` (cluster) or `PUT
/// /v1/daemon` (node).
pub async fn action(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &Req,
    msg: ActMsg,
    scope: Scope,
) -> Result<Outcome, ApiError> {
    match (msg.action.as_str(), scope) {
        ("set-config", _) => {
            set(
                core,
                req,
                scope,
                Patch::Json(msg.value),
                req.q_true("transient"),
            )
            .await?;
        }
        ("reset-config", Scope::Cluster) => {
            cluster::config::reset_cluster(&core.node).await?;
        }
        ("reset-config", Scope::Node) => cluster::config::reset_node(&core.node).await?,
        (a, _) => unreachable!("not a config action: {a}"),
    }
    send_ok(conn).await
}

/// `PUT /v1/daemon`: the configuration actions on any node; job actions on a target (or
/// `--role all`).
pub async fn daemon_put(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
) -> Result<Outcome, ApiError> {
    let msg = require_actmsg(conn, req).await?;
    if is_config_action(&msg.action) {
        return action(core, conn, req, msg, Scope::Node).await;
    }
    if let Some(o) = node_admin(conn, &msg).await? {
        return Ok(o);
    }
    if let Some(o) = super::lifecycle::daemon_shutdown(conn, &msg).await? {
        return Ok(o);
    }
    if core.node.cfg.role == cluster::node::Role::Proxy {
        return Err(ApiError::not_implemented(
            "PUT /v1/daemon/ is not supported by this node",
        ));
    }
    super::jobs::daemon_action_msg(core, conn, msg).await
}

/// `PUT /v1/reverse/daemon[/set-config]` for this node (the proxy named it, or relayed it
/// here).
pub async fn reverse_put_here(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    rest: &str,
) -> Result<Outcome, ApiError> {
    if rest == "daemon/set-config" {
        return set_query(core, conn, req, Scope::Node).await;
    }
    let msg = require_actmsg(conn, req).await?;
    if is_config_action(&msg.action) {
        return action(core, conn, req, msg, Scope::Node).await;
    }
    if let Some(o) = node_admin(conn, &msg).await? {
        return Ok(o);
    }
    audit::check_action(audit::Endpoint::ReverseDaemon, "PUT", &msg.action)?;
    Err(ApiError::bad_request(format!(
        "invalid action {:?}",
        msg.action
    )))
}

/// `GET ...?what=config|cluster_config`: this node's effective config (`/v1/daemon`
/// `what=config`) or the cluster config.
pub async fn query(
    core: &Rc<Core>,
    conn: &mut Conn,
    resource: &str,
    what: &str,
) -> Result<Outcome, ApiError> {
    let view = core.node.config.load();
    let doc = if resource == "daemon" && what == "config" {
        // `proxy.non_electable` is this node's own (the `--non-electable` flag), not the
        // cluster's: report it as the node runs.
        let mut c = view.effective.clone();
        c.proxy.non_electable = core.node.cfg.non_electable;
        c.to_json()
    } else {
        view.cluster.to_json()
    };
    send_json(conn, &doc).await
}

/// This node's `rotate-logs` and `reset-stats` (value: errors only, a boolean); `None` for
/// another action.
pub async fn node_admin(conn: &mut Conn, msg: &ActMsg) -> Result<Option<Outcome>, ApiError> {
    match msg.action.as_str() {
        "rotate-logs" => {
            if let Some(log) = crate::logfile::get() {
                log.rotate_now();
            }
        }
        "reset-stats" => {
            let errors_only = match &msg.value {
                serde_json::Value::Null => false,
                serde_json::Value::Bool(b) => *b,
                v => {
                    return Err(ApiError::bad_request(format!(
                        "reset-stats: value must be a boolean (errors only), got {v}"
                    )))
                }
            };
            cluster::metrics::reset(errors_only);
        }
        _ => return Ok(None),
    }
    send_ok(conn).await.map(Some)
}
