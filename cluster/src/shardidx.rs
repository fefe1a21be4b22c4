//! The shard-index job and summary, as AIS has them (`index-shard`, `summary-shard`; the
//! persisted index itself is `engine::shardidx`, its format docs/shard-index.md):
//!
//! - `index-shard` (`POST /v1/buckets/B` with `{"prefix", "num-workers", "skip-verify"}`):
//!   the primary (or the all-in-one node) checks the message and starts the job on every
//!   active target under one ID (`PUT /v1/daemon` `start` with the message as `spec`). Each
//!   target walks its objects of B with the prefix, skips every name that does not end in
//!   `.tar` (AIS indexes plain tars only), keeps an index that is valid for the object as it
//!   is now (with `skip-verify`: any index that exists, unread), and builds and persists the
//!   others (absent, stale, damaged). The job counts the shards it indexed (objects) and
//!   their bytes; a `.tar` that is not a valid tar is one of its errors.
//! - `summary-shard` (`GET /v1/buckets/B` with `{"uuid", "prefix"}`): per target, its local
//!   `.tar` objects, how many have a valid index, their members, and how many indexes are
//!   stale or damaged; a proxy adds the targets up (AIS `ShardSummResult`, numbers as JSON
//!   strings). Run as AIS runs a bucket summary: 202 with an ID, then polled with it.
//!
//! # What this module does not do
//! Several workers per target (`num-workers` above 1 is refused by name: the walk runs one
//! object at a time on the job core's blocking thread); remote buckets.

use crate::buckets::cname;
use crate::daemon::Node;
use crate::error::{Error, Result};
use crate::intra;
use crate::node::Role;
use crate::xact::Job;
use engine::archive::{self, FileSource, Format};
use engine::layout::Bck;
use engine::mountpath::Mountpath;
use engine::shardidx::{self, IndexedFrom, Loaded};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The job's kind (AIS `apc.ActIndexShard`).
pub const KIND: &str = "index-shard";
/// The summary's action (AIS `apc.ActSummaryShard`).
pub const SUMMARY: &str = "summary-shard";
/// Names listed per walk batch (one blocking call indexes a batch).
pub const WALK_BATCH: usize = 64;
/// The only extension indexed (AIS: plain tars).
pub const TAR_EXT: &str = ".tar";

/// AIS `apc.IndexShardMsg`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct IndexShardMsg {
    #[serde(default)]
    pub prefix: String,
    #[serde(rename = "num-workers", default)]
    pub num_workers: i64,
    #[serde(rename = "skip-verify", default)]
    pub skip_verify: bool,
}

/// The message of an `index-shard` request (null: the defaults). Unknown fields and wrong
/// types are a 400 naming them; more than one worker a 501.
pub fn parse_msg(v: &serde_json::Value) -> Result<IndexShardMsg> {
    let msg = match v {
        serde_json::Value::Null => IndexShardMsg::default(),
        serde_json::Value::Object(m) => {
            if let Some(k) = m
                .keys()
                .find(|k| !matches!(k.as_str(), "prefix" | "num-workers" | "skip-verify"))
            {
                return Err(Error::BadRequest(format!(
                    "{KIND}: unknown field {k:?} (expected prefix, num-workers, skip-verify)"
                )));
            }
            serde_json::from_value(v.clone())
                .map_err(|e| Error::BadRequest(format!("{KIND}: invalid message {v}: {e}")))?
        }
        other => {
            return Err(Error::BadRequest(format!(
                "{KIND}: invalid message {other} (expected a JSON object)"
            )))
        }
    };
    match msg.num_workers {
        -1..=1 => Ok(msg),
        n if n < -1 => Err(Error::BadRequest(format!(
            "{KIND}: invalid num-workers {n} (-1: none, 0: auto, or a positive number)"
        ))),
        n => Err(Error::NotImplemented(format!(
            "{KIND}: num-workers {n}: parallel indexing workers are not supported by this node (0, -1 or 1: one object at a time)"
        ))),
    }
}

/// `index-shard` on a proxy or the all-in-one node: start the job on every active target
/// (a non-primary proxy asks the primary); the job's ID.
pub async fn start(node: &Arc<Node>, bucket: &str, value: &serde_json::Value) -> Result<String> {
    if node.cfg.role == Role::Proxy && !node.is_primary() {
        return crate::buckets::on_primary(node, "POST", bucket, KIND, value).await;
    }
    if !node.bmd.load().buckets.contains_key(bucket) {
        return Err(Error::BucketNotFound(cname(bucket)));
    }
    let msg = parse_msg(value)?;
    let id = format!("shidx-{}", crate::meta::random_id(8));
    let spec = serde_json::to_value(&msg).map_err(|e| Error::Internal(e.to_string()))?;
    if node.cfg.role != Role::Proxy {
        return start_local(node, bucket, &id, &spec);
    }
    let smap = node.smap.load();
    let targets: Vec<_> = smap.active_targets().cloned().collect();
    if targets.is_empty() {
        return Err(Error::Unavailable(format!(
            "no active targets in the cluster map (Smap v{})",
            smap.version
        )));
    }
    let payload = serde_json::to_vec(&serde_json::json!({
        "action": "start",
        "value": {"ID": id, "Kind": KIND, "Bck": {"name": bucket, "provider": "ais"}, "spec": spec},
    }))
    .map_err(|e| Error::Internal(e.to_string()))?;
    for t in &targets {
        crate::jobs::daemon_put(t, KIND, &payload).await?;
    }
    Ok(id)
}

/// Target: run job `id` over this node's objects of `bucket`; its ID.
pub fn start_local(
    node: &Arc<Node>,
    bucket: &str,
    id: &str,
    spec: &serde_json::Value,
) -> Result<String> {
    if !node.bmd.load().buckets.contains_key(bucket) {
        return Err(Error::BucketNotFound(cname(bucket)));
    }
    if id.is_empty() {
        return Err(Error::BadRequest(format!("{KIND}: the job ID is missing")));
    }
    let msg = parse_msg(spec)?;
    let job = node.jobs.begin_concurrent(
        KIND,
        bucket,
        id.to_string(),
        node.self_id(),
        node.smap.load().version,
    );
    tracing::info!(job = %job.id, bucket = %cname(bucket), prefix = %msg.prefix, "index-shard started");
    let (node, bucket) = (node.clone(), bucket.to_string());
    glommio::spawn_local(async move {
        for mp in node.mountpaths.load().avail.clone() {
            walk(&job, &mp, &bucket, &msg).await;
        }
        job.finish();
        job.log_finished(1);
    })
    .detach();
    Ok(id.to_string())
}

/// What indexing one object did.
enum Done {
    NotTar,
    /// Its index was valid (or, with skip-verify, existed).
    Kept,
    Built(u64),
    /// Gone or replaced while the job looked at it.
    Skipped,
}

async fn walk(job: &Arc<Job>, mp: &Arc<Mountpath>, bucket: &str, msg: &IndexShardMsg) {
    let mut after = String::new();
    while !job.is_aborted() {
        let (m, b, p, a, skip) = (
            mp.clone(),
            bucket.to_string(),
            msg.prefix.clone(),
            after.clone(),
            msg.skip_verify,
        );
        let since = job.start_time_ns;
        let batch = glommio::executor()
            .spawn_blocking(move || {
                let bck = Bck::ais(&b);
                let names = engine::list::list_since(&m, &bck, &p, &a, WALK_BATCH, false, since)?;
                let done: Vec<(String, std::result::Result<Done, String>)> = names
                    .into_iter()
                    .map(|e| {
                        let r = index_one(&m, &bck, &e.name, skip);
                        (e.name, r)
                    })
                    .collect();
                Ok::<_, engine::Error>(done)
            })
            .await;
        let done = match batch {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(job = %job.id, bucket, mountpath = %mp.path_str, error = %e, "index-shard walk failed");
                job.errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let Some((last, _)) = done.last() else {
            return;
        };
        after.clone_from(last);
        for (name, r) in done {
            match r {
                Ok(Done::Built(size)) => {
                    job.objects.fetch_add(1, Ordering::Relaxed);
                    job.bytes.fetch_add(size, Ordering::Relaxed);
                }
                Ok(Done::NotTar | Done::Kept | Done::Skipped) => {}
                Err(e) => {
                    tracing::warn!(job = %job.id, bucket, object = %name, error = %e, "index-shard: not indexed");
                    job.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Index one object if it is a tar without a valid index. Blocking.
fn index_one(
    mp: &Mountpath,
    bck: &Bck,
    object: &str,
    skip_verify: bool,
) -> std::result::Result<Done, String> {
    if !object.ends_with(TAR_EXT) {
        return Ok(Done::NotTar);
    }
    if skip_verify && shardidx::exists(&mp.path, bck, object) {
        return Ok(Done::Kept);
    }
    let fqn = engine::object::locate(mp, bck, object);
    let lom = match engine::object::read_lom_path(&fqn) {
        Ok(l) => l,
        Err(engine::Error::NotFound(_)) => return Ok(Done::Skipped),
        Err(e) => return Err(e.to_string()),
    };
    let from = IndexedFrom::of(object, &lom);
    let side = shardidx::path(&mp.path, bck, object);
    if let Loaded::Valid(_) = shardidx::load(&side, &from, Format::Tar) {
        return Ok(Done::Kept);
    }
    let src = match FileSource::open(&fqn) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Done::Skipped),
        Err(e) => return Err(format!("open: {e}")),
    };
    if src.size != lom.size || src.mtime_ns != lom.mtime_ns {
        return Ok(Done::Skipped); // replaced between the metadata and the open
    }
    let idx = archive::index(&src, Format::Tar).map_err(|e| e.to_string())?;
    shardidx::store(&mp.path, bck, &from, &idx).map_err(|e| format!("persisting: {e}"))?;
    Ok(Done::Built(lom.size))
}

// ---- summary -------------------------------------------------------------------------------

/// AIS `apc.ShardSummResult`, one target's or added up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardSumm {
    pub tar_objs: u64,
    pub tar_size: u64,
    pub shards: u64,
    pub shard_size: u64,
    pub archived_objs: u64,
    pub stale_indexes: u64,
    pub invalid_indexes: u64,
}

const SUMM_FIELDS: [&str; 7] = [
    "tar-objs",
    "tar-size",
    "shards",
    "shard-size",
    "archived-objs",
    "stale-indexes",
    "invalid-indexes",
];

impl ShardSumm {
    fn fields(&mut self) -> [&mut u64; 7] {
        [
            &mut self.tar_objs,
            &mut self.tar_size,
            &mut self.shards,
            &mut self.shard_size,
            &mut self.archived_objs,
            &mut self.stale_indexes,
            &mut self.invalid_indexes,
        ]
    }

    /// AIS's JSON: every number a string.
    pub fn to_json(&self) -> serde_json::Value {
        let mut me = self.clone();
        let mut m = serde_json::Map::new();
        for (k, v) in SUMM_FIELDS.iter().zip(me.fields()) {
            m.insert(k.to_string(), v.to_string().into());
        }
        serde_json::Value::Object(m)
    }

    pub fn from_json(v: &serde_json::Value) -> Option<ShardSumm> {
        let mut s = ShardSumm::default();
        for (k, f) in SUMM_FIELDS.iter().zip(s.fields()) {
            *f = match &v[*k] {
                serde_json::Value::String(x) => x.parse().ok()?,
                x => x.as_u64()?,
            };
        }
        Some(s)
    }

    pub fn add(&mut self, o: &ShardSumm) {
        let mut o = o.clone();
        for (a, b) in self.fields().into_iter().zip(o.fields()) {
            *a += *b;
        }
    }
}

/// The `uuid` and `prefix` of a `summary-shard` message (AIS `ShardSummMsg`).
pub fn summary_args(v: &serde_json::Value) -> Result<(String, String)> {
    let obj = match v {
        serde_json::Value::Null => return Ok((String::new(), String::new())),
        serde_json::Value::Object(m) => m,
        other => {
            return Err(Error::BadRequest(format!(
                "{SUMMARY}: invalid message {other} (expected a JSON object)"
            )))
        }
    };
    let mut out = (String::new(), String::new());
    for (k, x) in obj {
        let slot = match k.as_str() {
            "uuid" => &mut out.0,
            "prefix" => &mut out.1,
            _ => {
                return Err(Error::BadRequest(format!(
                    "{SUMMARY}: unknown field {k:?} (expected uuid, prefix)"
                )))
            }
        };
        *slot = x
            .as_str()
            .ok_or_else(|| Error::BadRequest(format!("{SUMMARY}: {k} must be a string, not {x}")))?
            .to_string();
    }
    Ok(out)
}

/// This target's summary of `bucket` (objects with `prefix`), or (a proxy) every active
/// target's added up.
pub async fn summary(node: &Arc<Node>, bucket: &str, prefix: &str) -> Result<ShardSumm> {
    if !node.bmd.load().buckets.contains_key(bucket) {
        return Err(Error::BucketNotFound(cname(bucket)));
    }
    if node.cfg.role != Role::Proxy {
        let mut total = ShardSumm::default();
        for mp in node.mountpaths.load().avail.clone() {
            total.add(&local_summary(&mp, bucket, prefix).await?);
        }
        return Ok(total);
    }
    let body = serde_json::to_vec(&serde_json::json!({
        "action": SUMMARY, "name": "", "value": {"prefix": prefix},
    }))
    .map_err(|e| Error::Internal(e.to_string()))?;
    let smap = node.smap.load();
    let mut total = ShardSumm::default();
    for t in smap.active_targets() {
        let url = format!(
            "{}/v1/buckets/{bucket}?provider=ais",
            t.public_net.direct_url
        );
        let r = intra::call("GET", &url, &[("Content-Type", "application/json")], &body)
            .await?
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
        let one = ShardSumm::from_json(&v).ok_or_else(|| {
            Error::PeerUnreachable(format!(
                "target {}: bad {SUMMARY} answer {}",
                t.daemon_id,
                String::from_utf8_lossy(&r.body)
            ))
        })?;
        total.add(&one);
    }
    Ok(total)
}

/// One mountpath's share of a summary (walked on the blocking thread).
async fn local_summary(mp: &Arc<Mountpath>, bucket: &str, prefix: &str) -> Result<ShardSumm> {
    let (m, b, p) = (mp.clone(), bucket.to_string(), prefix.to_string());
    glommio::executor()
        .spawn_blocking(move || {
            let bck = Bck::ais(&b);
            let mut s = ShardSumm::default();
            let mut after = String::new();
            let since = net::time::now_unix_ns();
            loop {
                let batch = engine::list::list_since(&m, &bck, &p, &after, 1000, true, since)
                    .map_err(|e| Error::Internal(format!("{SUMMARY}: {e}")))?;
                let Some(last) = batch.last() else {
                    return Ok(s);
                };
                after.clone_from(&last.name);
                for e in batch.iter().filter(|e| e.name.ends_with(TAR_EXT)) {
                    let Some(lom) = &e.lom else { continue };
                    s.tar_objs += 1;
                    s.tar_size += lom.size;
                    let from = IndexedFrom::of(&e.name, lom);
                    match shardidx::load(
                        &shardidx::path(&m.path, &bck, &e.name),
                        &from,
                        Format::Tar,
                    ) {
                        Loaded::Absent => {}
                        Loaded::Valid(idx) => {
                            s.shards += 1;
                            s.shard_size += lom.size;
                            s.archived_objs += idx.members.len() as u64;
                        }
                        Loaded::Stale(_) => s.stale_indexes += 1,
                        Loaded::Invalid(_) => s.invalid_indexes += 1,
                    }
                }
            }
        })
        .await
}

/// `summary-shard` on a proxy or the all-in-one node: the first request (no `uuid`) starts it
/// and gets its ID; asked with the ID, `None` while it runs, then the result.
pub fn start_summary(node: &Arc<Node>, bucket: &str, prefix: &str) -> String {
    let (node, bucket, prefix) = (node.clone(), bucket.to_string(), prefix.to_string());
    crate::buckets::start_summary_task(async move {
        Ok(vec![summary(&node, &bucket, &prefix).await?.to_json()])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_checked() {
        let m =
            parse_msg(&serde_json::json!({"prefix": "s/", "num-workers": 0, "skip-verify": true}))
                .expect("valid");
        assert_eq!((m.prefix.as_str(), m.skip_verify), ("s/", true));
        assert!(parse_msg(&serde_json::Value::Null).is_ok());
        for bad in [
            serde_json::json!({"prefix": 5}),
            serde_json::json!({"skip-verify": "yes"}),
            serde_json::json!({"prefx": "a"}),
            serde_json::json!({"num-workers": -2}),
            serde_json::json!("a"),
        ] {
            assert!(
                matches!(parse_msg(&bad), Err(Error::BadRequest(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_msg(&serde_json::json!({"num-workers": 4})),
            Err(Error::NotImplemented(m)) if m.contains("num-workers")
        ));
        assert!(summary_args(&serde_json::json!({"uuid": 1})).is_err());
        assert_eq!(
            summary_args(&serde_json::json!({"prefix": "p"}))
                .expect("valid")
                .1,
            "p"
        );
    }

    #[test]
    fn summary_json_round_trips_as_strings() {
        let s = ShardSumm {
            tar_objs: 3,
            tar_size: 30720,
            shards: 2,
            shard_size: 20480,
            archived_objs: 17,
            stale_indexes: 1,
            invalid_indexes: 0,
        };
        let v = s.to_json();
        assert_eq!(v["tar-objs"], "3");
        assert_eq!(v["archived-objs"], "17");
        let mut t = ShardSumm::from_json(&v).expect("parses");
        assert_eq!(t, s);
        t.add(&s);
        assert_eq!(t.shards, 4);
    }
}
