//! The bucket control plane: create and destroy AIS buckets. The primary changes the BMD
//! (bucket directories on every mountpath, persist, publish) and pushes it to every node
//! before answering, so a client's next request finds the bucket wherever it lands; any
//! other proxy runs the operation on the primary.

use crate::daemon::Node;
use crate::error::{Error, Result};
use crate::intra;
use crate::listing::{local_tally, Tally};
use crate::meta::{Bprops, Smap};
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

/// AIS `BsummResult` (JSON) of `bucket` from a tally: counts and sizes, the smallest,
/// average and largest object, the share of the disks' capacity it takes (`used_pct`).
/// `size_on_disk` is the objects' apparent size (their bytes).
pub fn summary_json(bucket: &str, t: &Tally) -> serde_json::Value {
    // Rounded to the nearest, as AIS's `cos.DivRoundU64`; 0 when dividing by 0.
    let round_div = |a: u64, b: u64| (a + b / 2).checked_div(b).unwrap_or(0);
    let avg = round_div(t.bytes, t.count);
    let used_pct = round_div(t.bytes * 100, t.disks);
    serde_json::json!({
        "name": bucket,
        "provider": "ais",
        "namespace": {"uuid": "", "name": ""},
        "ObjCount": {
            "obj_count_present": t.count.to_string(),
            "obj_count_remote": "0",
        },
        "ObjSize": {
            "obj_min_size": if t.count == 0 { 0 } else { t.min },
            "obj_avg_size": avg,
            "obj_max_size": t.max,
        },
        "TotalSize": {
            "size_on_disk": t.bytes.to_string(),
            "size_all_present_objs": t.bytes.to_string(),
            "size_all_remote_objs": "0",
            "total_disks_size": t.disks.to_string(),
        },
        "used_pct": used_pct,
        "is_present": true,
    })
}

/// The tally inside a [`summary_json`] (a target's answer to a proxy).
fn tally_of(v: &serde_json::Value) -> Option<Tally> {
    let n = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.parse::<u64>().ok(),
        other => other.as_u64(),
    };
    Some(Tally {
        count: n(&v["ObjCount"]["obj_count_present"])?,
        bytes: n(&v["TotalSize"]["size_all_present_objs"])?,
        min: n(&v["ObjSize"]["obj_min_size"])?,
        max: n(&v["ObjSize"]["obj_max_size"])?,
        disks: n(&v["TotalSize"]["total_disks_size"])?,
    })
}

/// Summary of `bucket` (objects with `prefix`): this target's (a target or the all-in-one
/// node), or every active target's added up (a proxy asks each with `summary-bck`).
pub async fn summary(
    node: &Arc<Node>,
    smap: &Smap,
    bucket: &str,
    prefix: &str,
) -> Result<serde_json::Value> {
    if !node.bmd.load().buckets.contains_key(bucket) {
        return Err(Error::BucketNotFound(cname(bucket)));
    }
    if node.cfg.role != Role::Proxy {
        let t = local_tally(node, bucket, prefix).await?;
        return Ok(summary_json(bucket, &t));
    }
    let body = serde_json::to_vec(&serde_json::json!({
        "action": "summary-bck",
        "name": "",
        "value": {"uuid": "", "prefix": prefix, "cached": true, "present": true},
    }))
    .map_err(|e| Error::Internal(e.to_string()))?;
    let mut total = Tally::default();
    let targets: Vec<_> = smap.active_targets().cloned().collect();
    if targets.is_empty() {
        return Err(Error::Unavailable(format!(
            "no active targets in Smap v{} to summarize {}",
            smap.version,
            cname(bucket)
        )));
    }
    for t in targets {
        let url = format!(
            "{}/v1/buckets/{bucket}?provider=ais",
            t.public_net.direct_url
        );
        let r = intra::call("GET", &url, &[("Content-Type", "application/json")], &body)
            .await?
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&r.body).map_err(|e| {
            Error::PeerUnreachable(format!("target {}: bad summary: {e}", t.daemon_id))
        })?;
        let one = tally_of(&v[0]).ok_or_else(|| {
            Error::PeerUnreachable(format!("target {}: bad summary {v}", t.daemon_id))
        })?;
        total.add(&one);
    }
    Ok(summary_json(bucket, &total))
}

/// The props of a `create-bck` value (AIS `BpropsToSet`) that differ from the defaults a new
/// bucket gets, as `dotted.name=value` (empty: none, or only defaults). Bucket props cannot
/// be set yet (issue 12), so only a request for the defaults can be honoured.
pub fn non_default_props(value: &serde_json::Value) -> Vec<String> {
    fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, serde_json::Value)>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flatten(&key, x, out);
                }
            }
            serde_json::Value::Null => {}
            other => out.push((prefix.to_string(), other.clone())),
        }
    }
    fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
        let s = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        a == b || s(a) == s(b)
    }
    let defaults = serde_json::to_value(Bprops::new_ais(0, 0)).unwrap_or_default();
    let mut dflt = Vec::new();
    flatten("", &defaults, &mut dflt);
    let mut asked = Vec::new();
    flatten("", value, &mut asked);
    asked
        .into_iter()
        .filter(|(k, v)| !dflt.iter().any(|(dk, dv)| dk == k && same(dv, v)))
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

/// How long a finished bucket summary can still be read.
pub const SUMMARY_KEEP_SECS: u64 = 600;

/// A bucket summary started by `summary-bck` or bucket info, until its result is read (AIS
/// runs it as a job; here it is a task of the node that was asked).
struct Summ {
    id: String,
    started: std::time::Instant,
    /// `None` while it runs.
    result: Option<Result<Vec<serde_json::Value>>>,
}

/// The summaries of this process (one node per process).
static SUMMARIES: std::sync::Mutex<Vec<Summ>> = std::sync::Mutex::new(Vec::new());

/// Start summarizing `buckets` (objects with `prefix`) on the current executor; its ID.
pub fn start_summary(node: &Arc<Node>, buckets: Vec<String>, prefix: String) -> String {
    let id = crate::meta::random_id(9);
    {
        let mut all = SUMMARIES.lock().expect("summaries lock");
        all.retain(|s| s.started.elapsed().as_secs() < SUMMARY_KEEP_SECS);
        all.push(Summ {
            id: id.clone(),
            started: std::time::Instant::now(),
            result: None,
        });
    }
    let (node, id2) = (node.clone(), id.clone());
    glommio::spawn_local(async move {
        let mut out = Vec::new();
        let mut res = Ok(());
        for b in &buckets {
            let smap = node.smap.load();
            match summary(&node, &smap, b, &prefix).await {
                Ok(v) => out.push(v),
                Err(e) => {
                    res = Err(e);
                    break;
                }
            }
        }
        let mut all = SUMMARIES.lock().expect("summaries lock");
        if let Some(s) = all.iter_mut().find(|s| s.id == id2) {
            s.result = Some(res.map(|()| out));
        }
    })
    .detach();
    id
}

/// The result of summary `id`: `None` while it runs.
pub fn poll_summary(id: &str) -> Result<Option<Vec<serde_json::Value>>> {
    let all = SUMMARIES.lock().expect("summaries lock");
    match all.iter().find(|s| s.id == id) {
        None => Err(Error::JobNotFound(format!(
            "bucket summary {id:?} not found (not started here, or older than {SUMMARY_KEEP_SECS} s)"
        ))),
        Some(s) => s.result.clone().transpose(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_default_props_are_accepted() {
        assert!(non_default_props(&serde_json::Value::Null).is_empty());
        assert!(non_default_props(&serde_json::json!({})).is_empty());
        let dflt = serde_json::json!({"versioning": {"enabled": true}, "checksum": {"type": "xxhash2"}, "mirror": {"enabled": false, "copies": "1"}, "access": 4194303});
        assert!(
            non_default_props(&dflt).is_empty(),
            "{:?}",
            non_default_props(&dflt)
        );
        let other = serde_json::json!({"mirror": {"enabled": true, "copies": 2}, "checksum": {"type": "sha256"}, "rate_limit": {"x": 1}});
        let mut got = non_default_props(&other);
        got.sort();
        assert_eq!(
            got,
            [
                "checksum.type=\"sha256\"",
                "mirror.copies=2",
                "mirror.enabled=true",
                "rate_limit.x=1"
            ]
        );
    }
}
