//! The bucket control plane: create and destroy AIS buckets. The primary changes the BMD
//! (bucket directories on every mountpath, persist, publish) and pushes it to every node
//! before answering, so a client's next request finds the bucket wherever it lands; any
//! other proxy runs the operation on the primary.

use crate::daemon::Node;
use crate::error::{Error, Result};
use crate::intra;
use crate::meta::Bprops;
use crate::node::Role;
use engine::layout::Bck;
use net::time;
use std::sync::Arc;

/// `ais://<bucket>` as AIS names buckets in messages.
pub fn cname(bucket: &str) -> String {
    format!("ais://{bucket}")
}

/// Create AIS bucket `bucket` (on the primary, from any node).
pub async fn create(node: &Arc<Node>, bucket: &str) -> Result<()> {
    if !node.is_primary() {
        return on_primary(node, "POST", bucket, "create-bck").await;
    }
    let n2 = node.clone();
    let b = bucket.to_string();
    glommio::executor()
        .spawn_blocking(move || {
            n2.update_bmd(|bmd| {
                if bmd.buckets.contains_key(&b) {
                    return Err(Error::BucketExists(cname(&b)));
                }
                let bck = Bck::ais(&b);
                for m in n2.mountpaths.load().with_data() {
                    m.create_bucket(&bck).map_err(|e| {
                        Error::Internal(format!("create bucket {}: {e}", cname(&b)))
                    })?;
                }
                let bid = (1i64 << 62) | (bmd.version + 1);
                bmd.buckets
                    .insert(b.clone(), Bprops::new_ais(bid, time::now_unix_ns()));
                Ok(())
            })
        })
        .await?;
    sync_bmd(node).await;
    Ok(())
}

/// Destroy AIS bucket `bucket` and its data (on the primary, from any node).
pub async fn destroy(node: &Arc<Node>, bucket: &str) -> Result<()> {
    if !node.is_primary() {
        return on_primary(node, "DELETE", bucket, "destroy-bck").await;
    }
    let n2 = node.clone();
    let b = bucket.to_string();
    glommio::executor()
        .spawn_blocking(move || {
            // Drop it from the BMD first so no new PUT lands, then remove the data.
            n2.update_bmd(|bmd| {
                bmd.buckets
                    .remove(&b)
                    .map(|_| ())
                    .ok_or_else(|| Error::BucketNotFound(cname(&b)))
            })?;
            let bck = Bck::ais(&b);
            for m in n2.mountpaths.load().with_data() {
                if let Err(e) = m.destroy_bucket(&bck) {
                    tracing::error!(bucket = %cname(&b), mountpath = %m.path_str, error = %e, "removing bucket data failed");
                }
            }
            Ok::<(), Error>(())
        })
        .await?;
    sync_bmd(node).await;
    Ok(())
}

/// Primary of a multi-node cluster: push the new BMD to every node.
async fn sync_bmd(node: &Arc<Node>) {
    if node.cfg.role != Role::All {
        let bmd = node.bmd.load();
        crate::membership::metasync(node, None, Some(&bmd), &[]).await;
    }
}

/// Non-primary proxy: run a bucket create/destroy on the primary.
async fn on_primary(node: &Node, method: &str, bucket: &str, action: &str) -> Result<()> {
    let primary = node.smap.load().proxy_si.public_net.direct_url.clone();
    if primary.is_empty() {
        return Err(Error::Unavailable(
            "primary proxy unknown: not joined yet".into(),
        ));
    }
    let url = format!("{primary}/v1/buckets/{bucket}?provider=ais");
    let body =
        serde_json::to_vec(&serde_json::json!({"action": action, "name": "", "value": null}))
            .map_err(|e| Error::Internal(e.to_string()))?;
    let r = intra::call(method, &url, &[("Content-Type", "application/json")], &body)
        .await
        .map_err(|e| Error::Unavailable(format!("forwarding to primary: {e}")))?;
    match r.status {
        200 => Ok(()),
        404 => Err(Error::BucketNotFound(cname(bucket))),
        409 => Err(Error::BucketExists(cname(bucket))),
        _ => r.ok().map(|_| ()),
    }
}
