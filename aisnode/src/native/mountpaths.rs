//! The mountpath API (AIS's daemon API; the changes themselves are `cluster::mountpaths`):
//! `PUT /v1/daemon/mountpaths` `{"action":"attach-mp","value":PATH}`; `DELETE ...`
//! `detach-mp`; `POST ...` `enable-mp` or `disable-mp`; also through any proxy as
//! `/v1/reverse/daemon/mountpaths` with the `Ais-Node-Id` header; `dntres=true` skips the
//! resilver. Changes that change nothing answer 204; the others answer the resilver's job ID.

use super::audit::{self, Endpoint};
use crate::core::Core;
use crate::error::ApiError;
use crate::reply::{io_err, require_actmsg, send_job_id};
use crate::req::{Outcome, Req};
use cluster::mountpaths::{self, Action};
use cluster::node::Role;
use net::conn::Conn;
use std::rc::Rc;

/// `PUT|DELETE|POST /v1/daemon/mountpaths` on a target.
pub async fn handle(core: &Rc<Core>, conn: &mut Conn, req: &mut Req) -> Result<Outcome, ApiError> {
    let node = core.node.clone();
    if node.cfg.role == Role::Proxy {
        return Err(ApiError::bad_request(format!(
            "{}: a proxy has no mountpaths; send the request to a target (or through a proxy as /v1/reverse/daemon/mountpaths with Ais-Node-Id)",
            node.pname()
        )));
    }
    audit::check_query(Endpoint::Mountpaths, req)?;
    let msg = require_actmsg(conn, req).await?;
    audit::check_action(Endpoint::Mountpaths, &req.head.method, &msg.action)?;
    let action = Action::parse(&req.head.method, &msg.action)?;
    let path = match &msg.value {
        serde_json::Value::String(s) if !s.trim().is_empty() => s.trim().to_string(),
        _ => {
            return Err(ApiError::bad_request(
                "mountpath is not defined (value must be the mountpath's path)",
            ))
        }
    };
    // AIS `dntres`: do not resilver data off a mountpath being disabled or detached.
    let dont_resilver = req.q_true("dntres");
    match mountpaths::change(&node, action, &path, dont_resilver).await? {
        None => {
            conn.respond(204, &[], b"").await.map_err(io_err)?;
            Ok(Outcome::KeepAlive)
        }
        Some(job) => send_job_id(conn, &job).await,
    }
}

/// `GET /v1/cluster?what=mountpaths`: `{target id: MountpathList}` (a proxy asks every
/// target; a storing node answers for itself).
pub async fn gather(core: &Rc<Core>) -> Result<serde_json::Value, ApiError> {
    if core.node.cfg.role != Role::Proxy {
        let mut out = serde_json::Map::new();
        out.insert(core.node.target_id.clone(), core.mps().list_json());
        return Ok(serde_json::Value::Object(out));
    }
    let all = cluster::jobs::from_targets(&core.smap(), "mountpaths").await?;
    Ok(serde_json::Value::Object(all))
}
