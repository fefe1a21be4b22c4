//! The job API on a target: `PUT /v1/daemon` with `start` or `stop` (the cluster-wide side,
//! `PUT /v1/cluster` and `GET /v1/cluster?what=status|qryxstats`, is in `native::cluster`
//! and `native::daemon`; the logic in `cluster::jobs`).

use crate::core::Core;
use crate::error::ApiError;
use crate::reply::{require_actmsg, send_job_id};
use crate::req::{Outcome, Req};
use net::conn::Conn;
use std::rc::Rc;

/// Target: `PUT /v1/daemon` `{"action":"start"|"stop","value":{"ID","Kind"}}`.
pub async fn daemon_action(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
) -> Result<Outcome, ApiError> {
    let msg = require_actmsg(conn, req).await?;
    let a = cluster::jobs::parse_args(&msg.value);
    let id = cluster::jobs::daemon_action(&core.node, &msg.action, &a)?;
    send_job_id(conn, &id).await
}
