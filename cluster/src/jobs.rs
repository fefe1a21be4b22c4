//! Jobs through the API (the job API of the spec and the `aistore` SDK's `Job`).
//!
//! Per target: `GET /v1/daemon?what=jobs` (our JSON: every registry field), and
//! `PUT /v1/daemon` `{"action":"start"|"stop","value":{"ID","Kind"}}`.
//! Cluster (any proxy, or an all-in-one node): `GET /v1/cluster?what=status` with a JSON body
//! `{"ID","Kind"}` answers `{"uuid","err","end_time","aborted"}` aggregated over the
//! targets (end_time 0 while any target still runs it); `what=status_all` the same for every
//! matching job and `what=running_all` the `kind[id]` of the running ones (the SDK's
//! `Cluster.list_jobs_status` / `list_running_jobs`); `GET /v1/cluster?what=qryxstats`
//! answers `{target id: [job snapshot]}` in AIS's snapshot shape; `PUT /v1/cluster`
//! `{"action":"start","value":{"Kind":"rebalance"|"resilver","DaemonID"}}` starts one and
//! answers its ID; `{"action":"stop","value":{"ID","Kind"}}` aborts it on every target.
//! The HTTP side is in the `aisnode` crate; this module decides and computes.

use crate::daemon::Node;
use crate::error::{Error, Result};
use crate::intra;
use crate::meta::Smap;
use crate::node::Role;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct JobArgs {
    #[serde(rename = "ID", default)]
    pub id: String,
    #[serde(rename = "Kind", default)]
    pub kind: String,
    #[serde(rename = "DaemonID", default)]
    pub daemon_id: String,
    /// The bucket of a bucket job (`Bck.name`).
    #[serde(skip)]
    pub bck: String,
    /// A multi-object or bucket-copy job's specification (`multiobj::Spec`, sent by the
    /// proxy as `mobj`), or an `index-shard` message (`shardidx`, sent as `spec`); the
    /// target's handler starts it. Null otherwise.
    #[serde(skip)]
    pub spec: serde_json::Value,
}

/// The job arguments of a control message's `value`.
pub fn parse_args(v: &serde_json::Value) -> JobArgs {
    // Accept Go's field names and lower-case ones.
    let s = |a: &str, b: &str| {
        v.get(a)
            .or_else(|| v.get(b))
            .and_then(|x| x.as_str())
            .unwrap_or("")
            .to_string()
    };
    JobArgs {
        id: s("ID", "id"),
        kind: s("Kind", "kind"),
        daemon_id: s("DaemonID", "node"),
        bck: v
            .get("Bck")
            .or_else(|| v.get("bck"))
            .and_then(|b| b.get("name"))
            .and_then(|x| x.as_str())
            .unwrap_or("")
            .to_string(),
        spec: v
            .get("mobj")
            .or_else(|| v.get("spec"))
            .cloned()
            .unwrap_or_default(),
    }
}

fn matches(snap: &serde_json::Value, a: &JobArgs) -> bool {
    (a.id.is_empty() || snap["id"] == a.id.as_str())
        && (a.kind.is_empty() || snap["kind"] == a.kind.as_str())
}

/// This node's jobs (`what=jobs`): our flat fields (times in ns, counters, finished) merged
/// with AIS's snapshot fields (the SDK's `JobSnap`).
pub fn jobs_json(node: &Node) -> serde_json::Value {
    let v: Vec<serde_json::Value> = node
        .jobs
        .all()
        .iter()
        .map(|j| {
            let mut flat = serde_json::to_value(&**j).unwrap_or_default();
            if let (Some(f), serde_json::Value::Object(s)) = (flat.as_object_mut(), j.snap()) {
                for (k, v) in s {
                    f.entry(k).or_insert(v);
                }
            }
            flat
        })
        .collect();
    serde_json::Value::Array(v)
}

/// Start a job of `kind` on this target (rebalance or resilver); its ID.
pub fn start_local(node: &Arc<Node>, a: &JobArgs) -> Result<String> {
    match a.kind.as_str() {
        "rebalance" => Ok(crate::rebalance::start(
            node,
            node.smap.load().version,
            (!a.id.is_empty()).then(|| a.id.clone()),
        )),
        "resilver" => Ok(crate::resilver::start(node)),
        "make-n-copies" => {
            if !node.bmd.load().buckets.contains_key(&a.bck) {
                return Err(Error::BucketNotFound(crate::buckets::cname(&a.bck)));
            }
            Ok(crate::mirror::start(
                node,
                &a.bck,
                (!a.id.is_empty()).then(|| a.id.clone()),
            ))
        }
        "ec-encode" => {
            if !node.bmd.load().buckets.contains_key(&a.bck) {
                return Err(Error::BucketNotFound(crate::buckets::cname(&a.bck)));
            }
            Ok(crate::ec::start(
                node,
                &a.bck,
                (!a.id.is_empty()).then(|| a.id.clone()),
            ))
        }
        crate::lru::KIND => Ok(crate::lru::start(
            node,
            (!a.id.is_empty()).then(|| a.id.clone()),
        )),
        crate::space::KIND_CLEANUP => Ok(crate::space::start_cleanup(
            node,
            (!a.id.is_empty()).then(|| a.id.clone()),
        )),
        "" => Err(Error::BadRequest(
            "job kind is not defined (\"Kind\")".into(),
        )),
        k => Err(Error::NotImplemented(format!(
            "starting jobs of kind {k:?} is not supported (rebalance, resilver, make-n-copies, ec-encode, lru, cleanup-store)"
        ))),
    }
}

/// `PUT <target>/v1/daemon` with a job control message (intra-control network); the answer
/// when it is 200, else an error naming `what` and the target.
pub(crate) async fn daemon_put(
    t: &crate::meta::Snode,
    what: &str,
    payload: &[u8],
) -> Result<intra::CallResult> {
    let url = format!("{}/v1/daemon", t.intra_control_net.direct_url);
    let r = intra::call(
        "PUT",
        &url,
        &[("Content-Type", "application/json")],
        payload,
    )
    .await
    .map_err(|e| Error::PeerUnreachable(format!("{what} on target {}: {e}", t.daemon_id)))?;
    if r.status != 200 {
        return Err(Error::Peer {
            status: r.status,
            message: format!(
                "{what} on target {}: {}",
                t.daemon_id,
                String::from_utf8_lossy(&r.body)
            ),
        });
    }
    Ok(r)
}

/// Start bucket job `kind` (`make-n-copies`, `ec-encode`) of `bucket` on every active target (or on this
/// node if it is one), all under one ID; the ID.
pub async fn start_bucket_job(node: &Arc<Node>, bucket: &str, kind: &str) -> Result<String> {
    let a = JobArgs {
        id: format!(
            "{}-{}",
            if kind == "make-n-copies" { "mnc" } else { kind },
            crate::meta::random_id(8)
        ),
        kind: kind.to_string(),
        daemon_id: String::new(),
        bck: bucket.to_string(),
        spec: serde_json::Value::Null,
    };
    if node.cfg.role != Role::Proxy {
        return start_local(node, &a);
    }
    let smap = node.smap.load();
    let payload = serde_json::to_vec(&serde_json::json!({
        "action": "start",
        "value": {"ID": a.id, "Kind": a.kind, "Bck": {"name": bucket, "provider": "ais"}},
    }))
    .map_err(|e| Error::Internal(e.to_string()))?;
    for t in smap.active_targets() {
        daemon_put(t, kind, &payload).await?;
    }
    Ok(a.id)
}

/// Target: `PUT /v1/daemon` with `start` (the job's ID) or `stop` (how many were aborted).
pub fn daemon_action(node: &Arc<Node>, action: &str, a: &JobArgs) -> Result<String> {
    match action {
        "start" => start_local(node, a),
        "stop" => Ok(node.jobs.abort_matching(&a.id, &a.kind).to_string()),
        x => Err(Error::NotImplemented(format!(
            "daemon action {x:?} is not supported by this node"
        ))),
    }
}

/// `GET <target>/v1/daemon?what=<what>` on every target of the Smap, as `{target id: JSON}`
/// (intra-control network); any failure names the target.
pub async fn from_targets(
    smap: &Smap,
    what: &str,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    let mut out = serde_json::Map::new();
    for t in smap.tmap.values() {
        let v = intra::daemon_query(&t.intra_control_net.direct_url, what)
            .await
            .map_err(|e| {
                Error::PeerUnreachable(format!("{what} of target {}: {e}", t.daemon_id))
            })?;
        out.insert(t.daemon_id.clone(), v);
    }
    Ok(out)
}

/// Job snapshots of every target (or of this node unless it is a proxy): `{target id: [snap]}`.
pub async fn gather(
    node: &Node,
    smap: &Smap,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    if node.cfg.role != Role::Proxy {
        let mut out = serde_json::Map::new();
        out.insert(node.target_id.clone(), jobs_json(node));
        return Ok(out);
    }
    let mut out = from_targets(smap, "jobs").await?;
    // The proxy's own jobs (the primary's part of a `move-bck`: removing the source from
    // the BMD once every target is done), so the job counts as running until then.
    if !node.jobs.all().is_empty() {
        out.insert(node.proxy_id.clone(), jobs_json(node));
    }
    Ok(out)
}

/// What to answer to `GET /v1/cluster?what=qryxstats|status` with `{"ID","Kind"}`.
pub async fn query(
    node: &Node,
    smap: &Smap,
    what: &str,
    args: Option<&serde_json::Value>,
) -> Result<serde_json::Value> {
    let a = args.map(parse_args).unwrap_or_default();
    let all = gather(node, smap).await?;
    let mut per: serde_json::Map<String, serde_json::Value> = serde_json::Map::new();
    for (tid, snaps) in all {
        if !a.daemon_id.is_empty() && tid != a.daemon_id {
            continue;
        }
        let list: Vec<serde_json::Value> = snaps
            .as_array()
            .map(|v| v.iter().filter(|s| matches(s, &a)).cloned().collect())
            .unwrap_or_default();
        if !list.is_empty() {
            per.insert(tid, serde_json::Value::Array(list));
        }
    }
    if what == "qryxstats" {
        return Ok(serde_json::Value::Object(per));
    }
    if a.id.is_empty() && a.kind.is_empty() {
        return Err(Error::BadRequest(
            "job status: neither ID nor Kind given".into(),
        ));
    }
    // Per target the newest matching job; the cluster-wide status aggregates them.
    let newest: Vec<&serde_json::Value> = per
        .values()
        .filter_map(|v| v.as_array().and_then(|l| l.last()))
        .collect();
    if newest.is_empty() {
        return Err(Error::JobNotFound(format!(
            "job {} not found",
            if a.id.is_empty() { &a.kind } else { &a.id }
        )));
    }
    let mut st = status_of(&newest);
    if let Some(m) = st.as_object_mut() {
        m.remove("kind");
    }
    Ok(st)
}

/// A job is running while any target still runs it.
fn is_running(snaps: &[&serde_json::Value]) -> bool {
    snaps.iter().any(|s| s["is_idle"] == false)
}

/// AIS's `nl.Status` of one job from its snapshots on the targets: `{kind, uuid, err,
/// end_time, aborted}`, `end_time` 0 while any target runs it.
fn status_of(snaps: &[&serde_json::Value]) -> serde_json::Value {
    let running = is_running(snaps);
    let aborted = snaps.iter().any(|s| s["aborted"] == true);
    let err = snaps
        .iter()
        .filter_map(|s| s["abort-err"].as_str().filter(|e| !e.is_empty()))
        .map(str::to_string)
        .next()
        .unwrap_or_default();
    let end = snaps
        .iter()
        .filter_map(|s| s["end-time"].as_str())
        .filter_map(net::time::parse_rfc3339_nano)
        .max()
        .unwrap_or(0);
    serde_json::json!({
        "kind": snaps[0]["kind"],
        "uuid": snaps[0]["id"],
        "err": err,
        "end_time": if running { 0 } else { end },
        "aborted": aborted,
    })
}

/// The matching jobs of every target, grouped by job ID, oldest first (by start time).
async fn jobs_by_id(node: &Node, smap: &Smap, a: &JobArgs) -> Result<Vec<Vec<serde_json::Value>>> {
    let all = gather(node, smap).await?;
    let mut groups: Vec<Vec<serde_json::Value>> = Vec::new();
    for snaps in all.into_values() {
        for s in snaps.as_array().into_iter().flatten() {
            if !matches(s, a) {
                continue;
            }
            match groups.iter_mut().find(|g| g[0]["id"] == s["id"]) {
                Some(g) => g.push(s.clone()),
                None => groups.push(vec![s.clone()]),
            }
        }
    }
    let start = |g: &Vec<serde_json::Value>| {
        g.iter()
            .filter_map(|s| s["start-time"].as_str())
            .filter_map(net::time::parse_rfc3339_nano)
            .min()
            .unwrap_or(0)
    };
    groups.sort_by_key(start);
    Ok(groups)
}

/// `GET /v1/cluster?what=status_all` with AIS's `QueryMsg` `{id, kind, node, show_active}`
/// (the SDK's `Cluster.list_jobs_status`): the status of every matching job, oldest first;
/// `show_active` keeps only running ones. As in AIS, `node` does not filter (a job's status
/// is cluster-wide).
pub async fn status_all(
    node: &Node,
    smap: &Smap,
    args: Option<&serde_json::Value>,
) -> Result<serde_json::Value> {
    let mut a = args.map(parse_args).unwrap_or_default();
    a.daemon_id.clear();
    let only_running = args.is_some_and(|v| v["show_active"] == true);
    let out: Vec<serde_json::Value> = jobs_by_id(node, smap, &a)
        .await?
        .iter()
        .map(|g| g.iter().collect::<Vec<_>>())
        .filter(|g| !only_running || is_running(g))
        .map(|g| status_of(&g))
        .collect();
    Ok(serde_json::Value::Array(out))
}

/// `GET /v1/cluster?what=running_all` with `{kind}` (the SDK's `Cluster.list_running_jobs`):
/// `kind[id]` of every running job, sorted, each once.
pub async fn running_all(
    node: &Node,
    smap: &Smap,
    args: Option<&serde_json::Value>,
) -> Result<serde_json::Value> {
    let mut a = args.map(parse_args).unwrap_or_default();
    a.daemon_id.clear();
    a.id.clear();
    let mut out: Vec<String> = jobs_by_id(node, smap, &a)
        .await?
        .iter()
        .map(|g| g.iter().collect::<Vec<_>>())
        .filter(|g| is_running(g))
        .map(|g| {
            format!(
                "{}[{}]",
                g[0]["kind"].as_str().unwrap_or(""),
                g[0]["id"].as_str().unwrap_or("")
            )
        })
        .collect();
    out.sort();
    out.dedup();
    Ok(serde_json::json!(out))
}

/// `PUT /v1/cluster` with `start` or `stop` (primary proxy or all-in-one node): sent to the
/// targets concerned; the job ID (start) or nothing (stop).
pub async fn cluster_action(
    node: &Arc<Node>,
    smap: &Smap,
    action: &str,
    value: &serde_json::Value,
) -> Result<String> {
    let mut a = parse_args(value);
    if node.cfg.role != Role::Proxy {
        return match action {
            "start" => start_local(node, &a),
            _ => {
                node.jobs.abort_matching(&a.id, &a.kind);
                Ok(String::new())
            }
        };
    }
    if action == "start" && a.kind == "make-n-copies" {
        if a.bck.is_empty() {
            return Err(Error::BadRequest(
                "make-n-copies: the bucket is not defined (\"Bck\")".into(),
            ));
        }
        if !node.bmd.load().buckets.contains_key(&a.bck) {
            return Err(Error::BucketNotFound(crate::buckets::cname(&a.bck)));
        }
        return start_bucket_job(node, &a.bck.clone(), "make-n-copies").await;
    }
    if action == "start" {
        match a.kind.as_str() {
            "rebalance" => {
                a.id = format!("g{}-{}", smap.version, crate::meta::random_id(4));
                a.daemon_id.clear();
            }
            "resilver" => a.id.clear(),
            // One ID on every target (AIS: a global job).
            crate::lru::KIND | crate::space::KIND_CLEANUP => {
                a.id = format!("{}-{}", a.kind, crate::meta::random_id(8));
                a.daemon_id.clear();
            }
            "" => {
                return Err(Error::BadRequest(
                    "job kind is not defined (\"Kind\")".into(),
                ))
            }
            k => {
                return Err(Error::NotImplemented(format!(
                    "starting jobs of kind {k:?} is not supported (rebalance, resilver, lru, cleanup-store)"
                )))
            }
        }
    }
    if action == "stop" && (a.daemon_id.is_empty() || a.daemon_id == node.proxy_id) {
        // The proxy's own jobs (a get-batch it assembles, its part of a move-bck).
        node.jobs.abort_matching(&a.id, &a.kind);
        if a.daemon_id == node.proxy_id {
            return Ok(String::new());
        }
    }
    let targets: Vec<_> = smap
        .tmap
        .values()
        .filter(|t| a.daemon_id.is_empty() || t.daemon_id == a.daemon_id)
        .cloned()
        .collect();
    if targets.is_empty() {
        return Err(Error::NodeNotFound {
            id: a.daemon_id.clone(),
            smap_version: smap.version,
        });
    }
    let payload = serde_json::to_vec(&serde_json::json!({
        "action": action,
        "value": {"ID": a.id, "Kind": a.kind, "DaemonID": a.daemon_id},
    }))
    .map_err(|e| Error::Internal(e.to_string()))?;
    let mut ids = Vec::new();
    for t in &targets {
        let r = daemon_put(t, action, &payload).await?;
        ids.push(String::from_utf8_lossy(&r.body).to_string());
    }
    if action != "start" {
        return Ok(String::new());
    }
    // Rebalance: the one cluster-wide ID; resilver: per target (one target named).
    Ok(if a.id.is_empty() {
        ids.into_iter().next().unwrap_or_default()
    } else {
        a.id.clone()
    })
}
