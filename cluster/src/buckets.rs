//! The bucket control plane: create and destroy AIS buckets. The primary changes the BMD
//! (bucket directories on every mountpath, persist, publish) and pushes it to every node
//! before answering, so a client's next request finds the bucket wherever it lands; any
//! other proxy runs the operation on the primary.

use crate::daemon::Node;
use crate::error::{Error, Result};
use crate::intra;
use crate::listing::{local_tally, Tally};
use crate::meta::bprops::{self, Limits};
use crate::meta::{Bprops, Smap};
use crate::node::Role;
use engine::layout::Bck;
use net::time;
use std::sync::Arc;

/// `ais://<bucket>` as AIS names buckets in messages.
pub fn cname(bucket: &str) -> String {
    Bck::ais(bucket).cname()
}

/// Create AIS bucket `bucket` (on the primary, from any node), with the props of `value` (a
/// `create-bck` message's partial props; null: the defaults) applied over the defaults.
pub async fn create(node: &Arc<Node>, bucket: &str, value: &serde_json::Value) -> Result<()> {
    if !node.is_primary() {
        return on_primary(node, "POST", bucket, "create-bck", value)
            .await
            .map(|_| ());
    }
    let limits = if value.is_null() {
        Limits {
            targets: 0,
            min_mountpaths: None,
        }
    } else {
        limits(node).await?
    };
    let n2 = node.clone();
    let b = bucket.to_string();
    let value = value.clone();
    glommio::executor()
        .spawn_blocking(move || {
            n2.update_bmd(|bmd| {
                if bmd.buckets.contains_key(&b) {
                    return Err(Error::BucketExists(cname(&b)));
                }
                let bid = (1i64 << 62) | (bmd.version + 1);
                let dflt = Bprops::new_ais(bid, time::now_unix_ns());
                let (props, _) =
                    bprops::for_create(&dflt, &value, limits).map_err(|e| props_err(&b, e))?;
                // A new bucket has nothing to copy or encode: no job.
                create_dirs(&n2, &b)?;
                bmd.buckets.insert(b.clone(), props);
                Ok(())
            })
        })
        .await?;
    sync_bmd(node).await
}

/// The directories of new AIS bucket `bucket` on every mountpath with data (blocking).
pub(crate) fn create_dirs(node: &Node, bucket: &str) -> Result<()> {
    let bck = Bck::ais(bucket);
    for m in node.mountpaths.load().with_data() {
        m.create_bucket(&bck)
            .map_err(|e| Error::Internal(format!("create bucket {}: {e}", cname(bucket))))?;
    }
    Ok(())
}

/// `set-bprops` (partial props in `value`) or `reset-bprops` of AIS bucket `bucket` (on the
/// primary, from any node). The new props are in every node's BMD before this returns; the
/// job the change needs (`make-n-copies`, `ec-encode`) is then started on every target and
/// its ID returned (AIS answers it as the response body).
pub async fn set_props(
    node: &Arc<Node>,
    bucket: &str,
    action: &str,
    value: &serde_json::Value,
) -> Result<Option<String>> {
    if !node.is_primary() {
        let xid = on_primary(node, "PATCH", bucket, action, value).await?;
        return Ok((!xid.is_empty()).then_some(xid));
    }
    let limits = limits(node).await?;
    let n2 = node.clone();
    let (b, act, value) = (bucket.to_string(), action.to_string(), value.clone());
    let job = glommio::executor()
        .spawn_blocking(move || {
            let mut job = None;
            n2.update_bmd(|bmd| {
                let cur = bmd
                    .buckets
                    .get(&b)
                    .ok_or_else(|| Error::BucketNotFound(cname(&b)))?;
                let (new, j) = match act.as_str() {
                    "reset-bprops" => bprops::reset(cur),
                    _ => bprops::apply(cur, &value, limits).map_err(|e| props_err(&b, e))?,
                };
                job = j;
                bmd.buckets.insert(b.clone(), new);
                Ok(())
            })?;
            Ok::<_, Error>(job)
        })
        .await?;
    sync_bmd(node).await?;
    match job {
        None => Ok(None),
        Some(j) => crate::jobs::start_bucket_job(node, bucket, j.kind())
            .await
            .map(Some),
    }
}

/// `make-n-copies` (AIS `api.MakeNCopies`): mirror `bucket` with `copies` copies (1: turn
/// mirroring off and remove the extra copies); the job's ID.
pub async fn make_n_copies(node: &Arc<Node>, bucket: &str, copies: i64) -> Result<String> {
    if !(1..=bprops::MIRROR_COPIES_MAX).contains(&copies) {
        return Err(Error::BadRequest(format!(
            "invalid number of copies {copies} (expected value in range [1, {}])",
            bprops::MIRROR_COPIES_MAX
        )));
    }
    let value = serde_json::json!({"mirror": {"enabled": copies > 1, "copies": copies}});
    let started = set_props(node, bucket, "set-bprops", &value).await?;
    match started {
        Some(id) => Ok(id),
        // Already at that many copies: run the job anyway, as AIS does (it repairs).
        None => crate::jobs::start_bucket_job(node, bucket, "make-n-copies").await,
    }
}

/// `ec-encode` (AIS `api.ECEncodeBucket`): erasure-code `bucket` with the EC configuration
/// in `value` (AIS sends it as a JSON string holding a JSON object; an object is accepted
/// too: `data_slices`, `parity_slices`, ...); the job's ID. EC already enabled with that
/// configuration: the job runs again (it re-encodes what this node owns).
pub async fn ec_encode(
    node: &Arc<Node>,
    bucket: &str,
    value: &serde_json::Value,
) -> Result<String> {
    let conf = match value {
        serde_json::Value::String(s) => {
            serde_json::from_str::<serde_json::Value>(s).map_err(|e| {
                Error::BadRequest(format!("ec-encode: invalid EC configuration {s:?}: {e}"))
            })?
        }
        serde_json::Value::Null => serde_json::json!({}),
        v => v.clone(),
    };
    let serde_json::Value::Object(mut ec) = conf else {
        return Err(Error::BadRequest(format!(
            "ec-encode: invalid EC configuration {value} (expected a JSON object)"
        )));
    };
    ec.insert("enabled".into(), serde_json::Value::Bool(true));
    let value = serde_json::json!({ "ec": ec });
    match set_props(node, bucket, "set-bprops", &value).await? {
        Some(id) => Ok(id),
        None => crate::jobs::start_bucket_job(node, bucket, "ec-encode").await,
    }
}

fn props_err(bucket: &str, e: bprops::PropsError) -> Error {
    let m = format!("{}: {e}", cname(bucket));
    match e {
        bprops::PropsError::Invalid(_) => Error::BadRequest(m),
        bprops::PropsError::NotImplemented(_) => Error::NotImplemented(m),
        bprops::PropsError::Conflict(_) => Error::Conflict(m),
    }
}

/// The cluster as props validation sees it: active targets, and the fewest available
/// mountpaths any of them has (asked over the intra-control network).
async fn limits(node: &Arc<Node>) -> Result<Limits> {
    if node.cfg.role == Role::All {
        return Ok(Limits {
            targets: 1,
            min_mountpaths: Some(node.mountpaths.load().avail.len()),
        });
    }
    let smap = node.smap.load();
    let targets: Vec<_> = smap.active_targets().collect();
    let mut min = None::<usize>;
    for t in &targets {
        let v = intra::daemon_query(&t.intra_control_net.direct_url, "mountpaths")
            .await
            .map_err(|e| {
                Error::Unavailable(format!("mountpaths of target {}: {e}", t.daemon_id))
            })?;
        let n = v["available"].as_array().map(Vec::len).unwrap_or(0);
        min = Some(min.map_or(n, |m| m.min(n)));
    }
    Ok(Limits {
        targets: targets.len(),
        min_mountpaths: min,
    })
}

/// Destroy AIS bucket `bucket` and its data (on the primary, from any node).
pub async fn destroy(node: &Arc<Node>, bucket: &str) -> Result<()> {
    if !node.is_primary() {
        return on_primary(
            node,
            "DELETE",
            bucket,
            "destroy-bck",
            &serde_json::Value::Null,
        )
        .await
        .map(|_| ());
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
    sync_bmd(node).await
}

/// Primary of a multi-node cluster: push the new BMD to every node. A primary that learns
/// from the push that it was deposed meanwhile does not acknowledge the change (503): the
/// elected primary's metadata wins.
pub(crate) async fn sync_bmd(node: &Arc<Node>) -> Result<()> {
    if node.cfg.role != Role::All {
        let bmd = node.bmd.load();
        if crate::metasync::metasync(node, None, Some(&bmd), &[]).await
            == crate::metasync::Pushed::Deposed
        {
            return Err(Error::Unavailable(format!(
                "{}: deposed as primary while making this change (another primary was elected): not applied, retry",
                node.pname()
            )));
        }
    }
    Ok(())
}

/// Non-primary proxy: run a bucket operation on the primary; the primary's response body.
pub(crate) async fn on_primary(
    node: &Node,
    method: &str,
    bucket: &str,
    action: &str,
    value: &serde_json::Value,
) -> Result<String> {
    let body =
        serde_json::to_vec(&serde_json::json!({"action": action, "name": "", "value": value}))
            .map_err(|e| Error::Internal(e.to_string()))?;
    let body = &body;
    let r = crate::membership::relay_to_primary(node, |primary| async move {
        let (provider, name) = engine::layout::split_key(bucket);
        let url = format!("{primary}/v1/buckets/{name}?provider={provider}");
        intra::call(method, &url, &[("Content-Type", "application/json")], body).await
    })
    .await
    .map_err(|e| match e {
        Error::PeerUnreachable(m) => Error::Unavailable(format!("forwarding to primary: {m}")),
        e => e,
    })?;
    match r.status {
        200 => Ok(String::from_utf8_lossy(&r.body).to_string()),
        404 => Err(Error::BucketNotFound(cname(bucket))),
        409 if action == "create-bck" => Err(Error::BucketExists(cname(bucket))),
        _ => r.ok().map(|r| String::from_utf8_lossy(&r.body).to_string()),
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
    let node = node.clone();
    start_summary_task(async move {
        let mut out = Vec::new();
        for b in &buckets {
            let smap = node.smap.load();
            out.push(summary(&node, &smap, b, &prefix).await?);
        }
        Ok(out)
    })
}

/// Run a summary (`task`, on the current executor) whose result [`poll_summary`] gives
/// under the returned ID (bucket summaries, `crate::shardidx`'s shard summaries).
pub fn start_summary_task(
    task: impl std::future::Future<Output = Result<Vec<serde_json::Value>>> + 'static,
) -> String {
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
    let id2 = id.clone();
    glommio::spawn_local(async move {
        let res = task.await;
        let mut all = SUMMARIES.lock().expect("summaries lock");
        if let Some(s) = all.iter_mut().find(|s| s.id == id2) {
            s.result = Some(res);
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
