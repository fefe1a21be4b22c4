//! The job API on a target: `PUT /v1/daemon` with `start` or `stop` (the cluster-wide side,
//! `PUT /v1/cluster` and `GET /v1/cluster?what=status|qryxstats`, is in `native::cluster`
//! and `native::daemon`; the logic in `cluster::jobs`).

use crate::core::Core;
use crate::error::ApiError;
use crate::reply::send_job_id;
use crate::req::Outcome;
use net::conn::Conn;
use std::rc::Rc;

/// Target: `PUT /v1/daemon` `{"action":"start"|"stop","value":{"ID","Kind"}}` (the message
/// read by `native::config::daemon_put`, which takes the configuration actions).
pub async fn daemon_action_msg(
    core: &Rc<Core>,
    conn: &mut Conn,
    msg: net::api::ActMsg,
) -> Result<Outcome, ApiError> {
    let a = cluster::jobs::parse_args(&msg.value);
    // A multi-object job or bucket copy/move the proxy started (its spec in `mobj`).
    if msg.action == "start" && cluster::multiobj::is_kind(&a.kind) && !a.spec.is_null() {
        let id = cluster::multiobj::start_local(&core.node, &a.spec)?;
        return send_job_id(conn, &id).await;
    }
    // An index-shard job the proxy started (its message in `spec`).
    if msg.action == "start" && a.kind == cluster::shardidx::KIND {
        let id = cluster::shardidx::start_local(&core.node, &a.bck, &a.id, &a.spec)?;
        return send_job_id(conn, &id).await;
    }
    let id = cluster::jobs::daemon_action(&core.node, &msg.action, &a)?;
    send_job_id(conn, &id).await
}
