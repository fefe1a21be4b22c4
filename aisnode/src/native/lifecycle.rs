//! Shutting nodes down through the API (AIS `ActShutdownNode`, `ActShutdownCluster`); the
//! logic is `cluster::lifecycle`, the drain itself `server.rs`.
//!
//! - `PUT /v1/cluster {"action":"shutdown-node","value":{"sid":..}}` (primary): flag the
//!   node shut down for a while, then tell it to stop. The node stops through the same path
//!   as SIGTERM: this handler raises SIGTERM in its own process.
//! - `PUT /v1/cluster {"action":"shutdown"}` (primary): every node, targets first, then the
//!   other proxies, then the primary.
//! - `PUT /v1/daemon {"action":"shutdown-node"|"shutdown"}` (any node, sent by the
//!   primary): stop this node.
//!
//! On an all-in-one node (`--role all`) both cluster actions stop the process.

use crate::core::Core;
use crate::error::ApiError;
use crate::reply::{send_job_id, send_ok};
use crate::req::{Outcome, Req};
use cluster::lifecycle::{self, ACT_SHUTDOWN_CLUSTER, ACT_SHUTDOWN_NODE};
use cluster::node::Role;
use net::api::ActMsg;
use net::conn::Conn;
use std::rc::Rc;

/// Stop this process gracefully: SIGTERM to ourselves, which the main thread waits for
/// (`server::run`), so the API and the signal take one path.
pub fn stop_self() {
    tracing::info!("stopping on request");
    #[allow(unsafe_code)]
    // SAFETY: kill(2) on our own PID with a valid signal number has no memory effects.
    let rc = unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
    assert_eq!(rc, 0, "kill(getpid(), SIGTERM) failed");
}

/// `PUT /v1/cluster` shutdown actions (primary or all-in-one node); `None` for any other
/// action (the caller handles it).
pub async fn cluster_action(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &Req,
    msg: &ActMsg,
) -> Result<Option<Outcome>, ApiError> {
    let node = &core.node;
    match msg.action.as_str() {
        ACT_SHUTDOWN_NODE if node.cfg.role == Role::All => {
            let sid = lifecycle::shutdown_node_sid(&msg.value)?;
            if sid != node.proxy_id && sid != node.target_id {
                return Err(cluster::Error::NodeNotFound {
                    id: sid,
                    smap_version: core.smap().version,
                }
                .into());
            }
            let o = send_job_id(conn, "").await?;
            stop_self();
            Ok(Some(o))
        }
        ACT_SHUTDOWN_NODE => {
            let caller = req.head.header("ais-caller-id");
            lifecycle::shutdown_node(node, &msg.value, caller).await?;
            Ok(Some(send_job_id(conn, "").await?))
        }
        ACT_SHUTDOWN_CLUSTER if node.cfg.role == Role::All => {
            let o = send_ok(conn).await?;
            stop_self();
            Ok(Some(o))
        }
        ACT_SHUTDOWN_CLUSTER => {
            let (targets, proxies) = lifecycle::shutdown_cluster(node).await?;
            let o = send_ok(conn).await?;
            glommio::spawn_local(lifecycle::stop_in_order(targets, proxies, stop_self)).detach();
            Ok(Some(o))
        }
        _ => Ok(None),
    }
}

/// `PUT /v1/daemon` with a shutdown action (`native::config::daemon_put` routes it here):
/// answer, then stop this node the SIGTERM way. `None`: not a shutdown action.
pub async fn daemon_shutdown(
    conn: &mut Conn,
    msg: &net::api::ActMsg,
) -> Result<Option<Outcome>, ApiError> {
    match msg.action.as_str() {
        ACT_SHUTDOWN_NODE | ACT_SHUTDOWN_CLUSTER => {
            let o = send_ok(conn).await?;
            stop_self();
            Ok(Some(o))
        }
        _ => Ok(None),
    }
}
