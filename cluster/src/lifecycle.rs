//! Graceful lifecycle (issue 13, part 5): a node that stops for a while and comes back.
//!
//! A node stopping gracefully (SIGTERM or SIGINT, `PUT /v1/cluster {"action":
//! "shutdown-node"}`, `{"action": "shutdown"}`) first has the primary flag it
//! [`FLAG_SHUTDOWN`] in the Smap and metasync that map; only then does it stop accepting
//! connections and drain (the server does that part). So by the time its listeners close,
//! every proxy already redirects elsewhere.
//!
//! # Semantics of the flag (a decision; AIS differs)
//!
//! AIS's `shutdown-node` puts the node into maintenance (rebalancing its objects away
//! unless `skip_rebalance`) and leaves it there until an operator runs `stop-maintenance`;
//! AIS's SIGTERM removes the node from the Smap (self-unregister). Here, where a change of
//! the target set starts a rebalance straight from the Smap, both would move every object
//! twice for a node that is only restarting. So a stopped node is a known, temporary
//! absence:
//! - out of HRW placement (`Snode::is_active`): clients are redirected to the other
//!   targets, where its objects answer from redundant copies (EC restore) or 404;
//! - no rebalance (`Smap::rebalance_target_ids` does not change), neither when it leaves
//!   nor when it comes back;
//! - kept in the Smap: the primary's keepalive watcher skips it (AIS too keeps a shut-down
//!   node in the map: "it'll remain in the cluster map and can be restarted to rejoin");
//! - its re-join clears the flag (`membership::autoreg`), and it is redirected to again.
//!
//! A node already in maintenance or being decommissioned is not flagged: its objects are
//! moving away anyway. The primary cannot flag itself (failover is another issue).
//!
//! # What this module does not do
//!
//! Close listeners, drain requests or exit: that is the server's (`aisnode/src/server.rs`).

use crate::daemon::Node;
use crate::error::{Error, Result};
use crate::intra::{call, call_once};
use crate::membership;
use crate::meta::{Smap, FLAG_SHUTDOWN};
use crate::node::Role;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most time the primary waits, during a cluster shutdown, for one group of nodes
/// (targets, then proxies) to exit before it moves on.
pub const CLUSTER_SHUTDOWN_WAIT_MS: u64 = 60_000;
/// Pause between checks that a node has exited.
pub const EXIT_POLL_MS: u64 = 100;

/// AIS `apc.ActShutdownNode`.
pub const ACT_SHUTDOWN_NODE: &str = "shutdown-node";
/// AIS `apc.ActShutdownCluster`.
pub const ACT_SHUTDOWN_CLUSTER: &str = "shutdown";

/// Non-primary node about to drain: ask the primary to flag us shut down for a while.
/// Returns once the primary has metasynced the new Smap (proxies redirect elsewhere).
/// Nothing to do on the primary or an all-in-one node.
pub async fn announce_shutdown(node: &Arc<Node>) -> Result<()> {
    if node.cfg.role == Role::All || node.is_primary() {
        return Ok(());
    }
    let primary = membership::primary_url(node)?;
    let me = node.self_id().to_string();
    let body = serde_json::json!({"action": ACT_SHUTDOWN_NODE, "value": {"sid": me}});
    let body = serde_json::to_vec(&body).expect("JSON serializes");
    call(
        "PUT",
        &format!("{primary}/v1/cluster"),
        &[("Content-Type", "application/json"), ("Ais-Caller-Id", &me)],
        &body,
    )
    .await?
    .ok()?;
    Ok(())
}

/// Primary: flag `sids` shut down for a while and metasync the map (every reachable node
/// has it when this returns). Nodes in maintenance or being decommissioned, and nodes
/// already flagged, are left as they are.
pub async fn flag_shut_down(node: &Arc<Node>, sids: Vec<String>) -> Result<Arc<Smap>> {
    let smap = node.smap.load();
    for sid in &sids {
        if smap.node(sid).is_none() {
            return Err(Error::NodeNotFound {
                id: sid.clone(),
                smap_version: smap.version,
            });
        }
    }
    let needed = sids.iter().any(|sid| {
        smap.node(sid)
            .is_some_and(|n| n.keeps_its_objects() && !n.is_shut_down())
    });
    if !needed {
        return Ok(smap);
    }
    let n2 = node.clone();
    let new = glommio::executor()
        .spawn_blocking(move || {
            n2.update_smap(move |s| {
                for sid in &sids {
                    let n = s.pmap.get_mut(sid).or_else(|| s.tmap.get_mut(sid));
                    if let Some(n) = n.filter(|n| n.keeps_its_objects()) {
                        n.flags |= FLAG_SHUTDOWN;
                    }
                }
                Ok(())
            })
        })
        .await?;
    tracing::info!(
        smap_version = new.version,
        "nodes flagged shut down for a while"
    );
    membership::metasync(node, Some(&new), None, &[]).await;
    Ok(node.smap.load())
}

/// The node ID of a `shutdown-node` message (`{"sid": ..}`; AIS's `ActValRmNode`).
pub fn shutdown_node_sid(value: &serde_json::Value) -> Result<String> {
    match value.get("sid").and_then(|v| v.as_str()) {
        Some(s) if !s.is_empty() => Ok(s.to_string()),
        _ => Err(Error::BadRequest(format!(
            "{ACT_SHUTDOWN_NODE}: missing node ID (value {{\"sid\": \"<id>\"}}), got {value}"
        ))),
    }
}

/// Primary: `PUT /v1/cluster {"action": "shutdown-node", "value": {"sid": ..}}`. Flags the
/// node and, unless the node itself asked (`caller`, it is already stopping), tells it to
/// stop (`PUT /v1/daemon` with the same action, as AIS does).
pub async fn shutdown_node(
    node: &Arc<Node>,
    value: &serde_json::Value,
    caller: Option<&str>,
) -> Result<()> {
    let sid = shutdown_node_sid(value)?;
    if sid == node.self_id() {
        return Err(Error::BadRequest(format!(
            "{sid} is the primary: {ACT_SHUTDOWN_NODE} cannot stop it (use \
             {ACT_SHUTDOWN_CLUSTER:?}, or stop its process)"
        )));
    }
    let smap = flag_shut_down(node, vec![sid.clone()]).await?;
    if caller == Some(sid.as_str()) {
        return Ok(());
    }
    let url = smap
        .node(&sid)
        .map(|n| n.intra_control_net.direct_url.clone())
        .ok_or_else(|| Error::NodeNotFound {
            id: sid.clone(),
            smap_version: smap.version,
        })?;
    tell_to_stop(&url, ACT_SHUTDOWN_NODE).await
}

async fn tell_to_stop(url: &str, action: &str) -> Result<()> {
    let body = serde_json::to_vec(&serde_json::json!({ "action": action })).expect("JSON");
    call(
        "PUT",
        &format!("{}/v1/daemon", url.trim_end_matches('/')),
        &[("Content-Type", "application/json")],
        &body,
    )
    .await?
    .ok()?;
    Ok(())
}

/// Primary: `PUT /v1/cluster {"action": "shutdown"}`, first part: flag every other node
/// shut down for a while (one Smap version). Returns the control URLs of the targets and
/// of the other proxies, in the order they are to stop ([`stop_in_order`]).
pub async fn shutdown_cluster(node: &Arc<Node>) -> Result<(Vec<String>, Vec<String>)> {
    let me = node.self_id().to_string();
    let smap = node.smap.load();
    let others: Vec<String> = smap
        .nodes()
        .filter(|n| n.daemon_id != me)
        .map(|n| n.daemon_id.clone())
        .collect();
    let smap = flag_shut_down(node, others).await?;
    let urls = |m: &std::collections::BTreeMap<String, crate::meta::Snode>| -> Vec<String> {
        m.values()
            .filter(|n| n.daemon_id != me)
            .map(|n| n.intra_control_net.direct_url.clone())
            .collect()
    };
    Ok((urls(&smap.tmap), urls(&smap.pmap)))
}

/// Primary, second part of a cluster shutdown: stop the targets and wait until they have
/// exited, then the other proxies, then call `stop_self` (the primary drains and exits
/// last). A node that does not exit within [`CLUSTER_SHUTDOWN_WAIT_MS`] is logged and
/// left behind.
pub async fn stop_in_order(targets: Vec<String>, proxies: Vec<String>, stop_self: impl FnOnce()) {
    for (what, group) in [("targets", targets), ("proxies", proxies)] {
        for url in &group {
            if let Err(e) = tell_to_stop(url, ACT_SHUTDOWN_CLUSTER).await {
                tracing::warn!(url = %url, error = %e, "cluster shutdown: node did not take the request");
            }
        }
        let t0 = Instant::now();
        for url in &group {
            while !exited(url).await {
                if t0.elapsed() > Duration::from_millis(CLUSTER_SHUTDOWN_WAIT_MS) {
                    tracing::error!(url = %url, "cluster shutdown: node still running; moving on");
                    break;
                }
                glommio::timer::sleep(Duration::from_millis(EXIT_POLL_MS)).await;
            }
        }
        tracing::info!(
            group = what,
            nodes = group.len(),
            "cluster shutdown: group stopped"
        );
    }
    stop_self();
}

/// True when the node at `url` no longer accepts connections (or answers anything but a
/// health check).
async fn exited(url: &str) -> bool {
    let url = format!("{}/v1/health", url.trim_end_matches('/'));
    !matches!(call_once("GET", &url, &[], b"", EXIT_POLL_MS * 10).await, Ok(r) if r.status == 200)
}
