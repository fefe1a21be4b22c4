//! Get-from-neighbour: during a rebalance an object may still (or already) be on another
//! target than the one HRW names now. A GET/HEAD that misses asks that neighbour (the API
//! layer forwards the request there, marked so the neighbour does not forward it again); a
//! DELETE is applied there too, so rebalance cannot bring the object back.

use crate::daemon::Node;
use crate::error::Result;
use crate::intra;
use crate::meta::{placement, Smap};
use crate::node::Role;
use net::time;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Most time a miss waits for this target's join to complete (see [`wait_joined`]).
pub const GFN_JOIN_WAIT_MS: u64 = 2000;

/// Header that marks an S3 request forwarded by get-from-neighbour.
pub const HDR_GFN: &str = "Ais-Gfn";
/// Query parameter that marks a native request forwarded by get-from-neighbour.
pub const QUERY_GFN: &str = "gfn";

/// How a forwarded get-from-neighbour request is marked, so the neighbour does not forward
/// it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GfnMark {
    /// Native API: `gfn=true` in the query.
    Query,
    /// S3: the [`HDR_GFN`] header (a query parameter would break the client's SigV4
    /// signature; an unsigned header does not).
    Header,
}

/// Record the Smap before a change of the active target set (where objects still are).
pub fn remember_previous(node: &Node, old: &Smap, new: &Smap) {
    let prev = if old.version > 0 {
        old.clone()
    } else {
        // A node that just joined has no previous map: the cluster's previous target set
        // is the new one without us.
        let mut p = new.clone();
        p.tmap.remove(&node.target_id);
        p
    };
    *node.prev_smap.lock().expect("prev_smap lock") = Some(std::sync::Arc::new(prev));
}

/// Where else an object may be during a rebalance: its owner by the current Smap if that is
/// another target (a client redirected under the old map reaches the old owner after the
/// object moved on), else its owner by the previous Smap (the new owner before the object
/// arrived). `None` if both are this target (or this node is not a separate target).
pub fn neighbor_url(node: &Node, smap: &Smap, bucket: &str, object: &str) -> Option<String> {
    if node.cfg.role != Role::Target {
        return None;
    }
    if let Some(o) = placement::owner(smap, bucket, object) {
        if o.target_id != node.target_id {
            return Some(o.url);
        }
    }
    let prev = node.prev_smap.lock().expect("prev_smap lock").clone()?;
    let o = placement::owner(&prev, bucket, object)?;
    // A previous owner shut down for a while (`meta::FLAG_SHUTDOWN`) is not asked: it
    // would only refuse the connection, and the miss answers a fast 404. (One in
    // maintenance or being decommissioned still runs and holds its objects: asked.)
    let asked = !smap
        .tmap
        .get(&o.target_id)
        .is_some_and(crate::meta::Snode::is_shut_down);
    (o.target_id != node.target_id && asked).then_some(o.url)
}

/// A proxy redirects to a target as soon as the primary added it to the Smap, which can be
/// before the target applied that Smap (and learned the previous one, where its objects still
/// are). A miss in that window waits for the join to complete instead of answering 404.
pub async fn wait_joined(node: &Node) {
    if node.cfg.role != Role::Target {
        return;
    }
    let t0 = std::time::Instant::now();
    while !node.joined.load(Ordering::Acquire)
        || !node.smap.load().tmap.contains_key(&node.target_id)
    {
        if t0.elapsed() > Duration::from_millis(GFN_JOIN_WAIT_MS) {
            return;
        }
        glommio::timer::sleep(Duration::from_millis(10)).await;
    }
}

/// The neighbour to ask for a GET/HEAD that missed here, after waiting for our join;
/// `None` if the request was itself forwarded by get-from-neighbour or there is none.
pub async fn neighbor_for_miss(
    node: &Node,
    already_forwarded: bool,
    bucket: &str,
    object: &str,
) -> Option<String> {
    if already_forwarded {
        return None;
    }
    wait_joined(node).await;
    neighbor_url(node, &node.smap.load(), bucket, object)
}

/// DELETE: also delete on the previous owner (so rebalance cannot bring the object back).
/// True if the previous owner had it.
pub async fn delete_on_previous_owner(
    node: &Node,
    already_forwarded: bool,
    bucket: &str,
    object: &str,
) -> bool {
    let Some(base) = neighbor_for_miss(node, already_forwarded, bucket, object).await else {
        return false;
    };
    let url = format!(
        "{base}/v1/objects/{}&{QUERY_GFN}=true&pid={}&utm={}",
        crate::meta::url_obj_q(bucket, object),
        node.target_id,
        time::base36(time::now_unix_ns() as u64)
    );
    matches!(delete(&url).await, Ok(200))
}

async fn delete(url: &str) -> Result<u16> {
    Ok(intra::call("DELETE", url, &[], b"").await?.status)
}
