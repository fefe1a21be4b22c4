//! Metasync, the primary's side: push the Smap, BMD and cluster config to every other node
//! (`PUT /v1/metasync`, a jsp-framed `{"Smap":..,"BMD":..,"Config":..}`). The receiving side
//! is `crate::membership::apply_metasync`. A push refused as older (another node holds a
//! newer Smap: we were deposed) is noted in `NodeState::newer_smap_seen` for the control
//! loop to act on.

use crate::daemon::Node;
use crate::intra::call;
use crate::meta::version::Decision;
use crate::meta::{jsp, Bmd, Smap};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Primary: push Smap and/or BMD to every other node (and to `extra` URLs, e.g. a node that
/// was just removed), in parallel, each with deadline and retries. Failures are logged; a
/// node that missed an update catches up through its keepalive (version mismatch -> re-join).
pub async fn metasync(
    node: &Arc<Node>,
    smap: Option<&Smap>,
    bmd: Option<&Bmd>,
    extra: &[String],
) -> Pushed {
    let was_primary = node.is_primary();
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
    // Every push carries the cluster config too; a node applies it by the version rule.
    payload.insert("Config".into(), node.config.load().cluster.to_json());
    // And the revoked tokens (a set that only grows until they expire: merged, no version),
    // so a node that joins or comes back refuses them too.
    let revoked = crate::auth::revoked_tokens();
    if !revoked.is_empty() {
        let list = crate::auth::TokenList {
            tokens: revoked,
            version: "0".into(),
        };
        payload.insert(
            "Tokens".into(),
            serde_json::to_value(list).expect("token list serializes"),
        );
    }
    let json = serde_json::to_vec(&payload).expect("payload serializes");
    let framed = Rc::new(jsp::encode(1, &json));
    let cur = node.smap.load();
    let me = node.self_id().to_string();
    let mut urls: Vec<String> = cur
        .pmap
        .values()
        .chain(cur.tmap.values())
        // A node shut down for a while gets it too: while it drains, its keepalives must
        // match (a mismatch would send it down the re-join path, which clears the flag).
        .filter(|n| n.daemon_id != me)
        .map(|n| n.intra_control_net.direct_url.clone())
        .collect();
    urls.extend(extra.iter().cloned());
    urls.sort();
    urls.dedup();
    let mut tasks = Vec::new();
    let older = Rc::new(std::cell::Cell::new(false));
    for u in urls {
        let body = framed.clone();
        let older = older.clone();
        let me = me.clone();
        tasks.push(glommio::spawn_local(async move {
            let url = format!("{u}/v1/metasync");
            match call("PUT", &url, &[("Content-Type", "application/octet-stream"), ("Ais-Caller-Id", &me)], &body).await {
                Ok(r) if r.status == 200 => {}
                Ok(r) if r.meta_decision.as_deref().and_then(Decision::parse) == Some(Decision::Older) => {
                    tracing::debug!(url = %url, "metasync overtaken by a newer one");
                    older.set(true);
                }
                Ok(r) => tracing::warn!(url = %url, status = r.status, body = %String::from_utf8_lossy(&r.body), "metasync refused"),
                Err(e) => tracing::warn!(url = %url, error = %e, "metasync failed"),
            }
        }));
    }
    for t in tasks {
        t.await;
    }
    if older.get() && node.is_primary() {
        // A node holds a newer Smap than the one we (the primary) just made: another
        // primary was elected while we were away. The primary's next keepalive turn finds
        // and follows it (crate::vote::adopt_newer_smap).
        node.newer_smap_seen.store(true, Ordering::Release);
        return Pushed::Deposed;
    }
    if was_primary && !node.is_primary() {
        // Deposed while the push was still retrying (cut off, then following the elected
        // primary before the last attempts ended).
        return Pushed::Deposed;
    }
    Pushed::Done
}

/// How a push went for the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Sent to every node (failures to reach some are logged; they catch up by keepalive).
    Done,
    /// A node refused it as older: another primary was elected while we were away. A change
    /// this push carried is not the cluster's and must not be acknowledged.
    Deposed,
}
