//! Blob downloads (AIS `blob-download`, issue 17): one large object of a remote bucket read
//! from its backend as `num-workers` concurrent ranged GETs of `chunk-size` bytes each, and
//! stored as one object, as a job of kind [`KIND`] with progress (`loc-bytes` of
//! `in-bytes`, the object's size). Three ways in, as in AIS:
//!
//! * `POST /v1/objects/<bucket>` `{"action":"blob-download","name":<object>,"value":BlobMsg}`
//!   (the SDK's `Object.blob_download`, Go `api.BlobDownload`): [`start`] answers the job ID
//!   at once (nothing, when the object is cached already) and the job runs on;
//! * a GET with `Ais-Blob-Download: true` (and `Ais-Blob-Chunk`, `Ais-Blob-Workers`: the
//!   SDK's `get_reader(blob_download_config=...)`) or `Ais-Blob-Threshold` of an object not
//!   cached: [`get_to`] streams the object to the client as the chunks arrive, in order;
//! * `prefetch-listrange` with `blob-threshold`: objects at least that large are fetched
//!   by [`download`] (the prefetch waits for each), smaller ones by a plain cold GET.
//!
//! # Invariants
//! - All-or-nothing: the chunks go, in object order, into one work file
//!   (`engine::object::ObjectWriter`, checksummed as they are written) that is renamed into
//!   place only when every byte arrived; a failed chunk, a timeout or an abort removes it.
//! - One version: every ranged GET carries `If-Match` with the ETag the download started
//!   with, and each answer's ETag, version and total size are compared with it as well (for
//!   backends that ignore `If-Match`): an object changed on the backend mid-way fails the
//!   job (409) instead of mixing versions.
//! - Bounded memory: at most `workers` chunks are in flight or waiting for their turn, and
//!   `workers x chunk-size` never exceeds [`WINDOW_BYTES_MAX`].
//! - One fetch per object: a running blob download of an object is found by every core
//!   ([`claim`]) and a second request waits for it; a cold GET of the same object on the
//!   same core waits too (`remote::single_flight`).
//!
//! # What this module does not do
//! No chunked on-disk layout (AIS writes each chunk as its own file under a manifest): the
//! object is one plain file, as every other object here. Worker counts are not tuned to
//! load or media; chunk sizes out of bounds are refused (400), where AIS clamps them.

use crate::backend::{RemoteAttrs, S3Backend};
use crate::daemon::Node;
use crate::error::{Error, Result};
use crate::metrics::{self, M};
use crate::remote::{self, ColdSink, NoSink, Served};
use crate::xact::Job;
use engine::layout::{split_key, Bck};
use engine::mountpath::Mountpath;
use engine::object::ObjectWriter;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The job kind and the action (AIS `apc.ActBlobDl`).
pub const KIND: &str = "blob-download";

/// GET request headers (AIS `apc.HdrBlob*`).
pub const HDR_BLOB_DOWNLOAD: &str = "Ais-Blob-Download";
pub const HDR_BLOB_CHUNK: &str = "Ais-Blob-Chunk";
pub const HDR_BLOB_WORKERS: &str = "Ais-Blob-Workers";
pub const HDR_BLOB_READ_TIMEOUT: &str = "Ais-Blob-Read-Timeout";
pub const HDR_BLOB_THRESHOLD: &str = "Ais-Blob-Threshold";

/// Chunk size when the request names none (AIS's default).
pub const CHUNK_BYTES_DEFAULT: u64 = 4 << 20;
/// Smallest and largest chunk a request may ask for (AIS's bounds).
pub const CHUNK_BYTES_MIN: u64 = 32 << 10;
pub const CHUNK_BYTES_MAX: u64 = 16 << 20;
/// `num-workers` a request may give: -1 (one range at a time), 0 (the default) up to this
/// (AIS's bound of `Ais-Blob-Workers`).
pub const WORKERS_REQUEST_MAX: i64 = 128;
/// Most ranged GETs in flight for one object (AIS's hard cap).
pub const WORKERS_MAX: u64 = 32;
/// The default worker count is one per this much of the object (AIS's tuning).
pub const BYTES_PER_DEFAULT_WORKER: u64 = 256 << 20;
/// Most chunk bytes of one download held in memory (in flight or waiting for their turn).
pub const WINDOW_BYTES_MAX: u64 = 256 << 20;
/// How long one chunk's GET may take, when the request names no `chunk-read-timeout`.
pub const CHUNK_READ_TIMEOUT_MS_DEFAULT: u64 = 60_000;
/// A prefetch's `blob-threshold` below this is raised to it (AIS's minimum).
pub const PREFETCH_THRESHOLD_BYTES_MIN: u64 = 1 << 20;
/// How often a download waiting for a chunk looks whether its job was aborted.
const ABORT_POLL_MS: u64 = 20;

const _: () =
    assert!(CHUNK_BYTES_MIN <= CHUNK_BYTES_DEFAULT && CHUNK_BYTES_DEFAULT <= CHUNK_BYTES_MAX);
const _: () = assert!(WINDOW_BYTES_MAX >= CHUNK_BYTES_MAX);
const _: () = assert!(WORKERS_MAX as i64 <= WORKERS_REQUEST_MAX);

/// AIS's `apc.BlobMsg`, validated: what a request asks of one download.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlobMsg {
    /// 0: [`CHUNK_BYTES_DEFAULT`]; else within [`CHUNK_BYTES_MIN`]..=[`CHUNK_BYTES_MAX`].
    pub chunk_bytes: u64,
    /// -1: one range at a time; 0: the default (one per [`BYTES_PER_DEFAULT_WORKER`]).
    pub workers: i64,
    /// Cached already: download again only if the backend's copy changed (`latest-ver`).
    pub latest: bool,
    /// The size the client expects (`full-size`); 0: not given. Another size fails.
    pub full_size: u64,
    /// Per-chunk deadline (`chunk-read-timeout`); 0: [`CHUNK_READ_TIMEOUT_MS_DEFAULT`].
    pub chunk_read_timeout_ms: u64,
}

/// How one download runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub chunk_bytes: u64,
    pub workers: u64,
    pub chunk_timeout: Duration,
}

fn bad(field: &str, v: impl std::fmt::Display, expect: &str) -> Error {
    Error::BadRequest(format!("{KIND}: invalid {field} {v} (expecting {expect})"))
}

fn chunk_expect() -> String {
    format!(
        "0 for the default {}, or {} to {} bytes",
        CHUNK_BYTES_DEFAULT, CHUNK_BYTES_MIN, CHUNK_BYTES_MAX
    )
}

fn check_chunk(v: impl std::fmt::Display, n: i64) -> Result<u64> {
    if n == 0 || (CHUNK_BYTES_MIN as i64..=CHUNK_BYTES_MAX as i64).contains(&n) {
        Ok(n as u64)
    } else {
        Err(bad("chunk-size", v, &chunk_expect()))
    }
}

fn check_workers(v: impl std::fmt::Display, n: i64) -> Result<i64> {
    if (-1..=WORKERS_REQUEST_MAX).contains(&n) {
        Ok(n)
    } else {
        Err(bad(
            "num-workers",
            v,
            &format!("-1: one at a time, 0: the default, or 1 to {WORKERS_REQUEST_MAX}"),
        ))
    }
}

impl BlobMsg {
    /// The `value` of a `blob-download` action message (AIS's JSON names; null: defaults).
    pub fn from_value(v: &serde_json::Value) -> Result<BlobMsg> {
        if v.is_null() {
            return Ok(BlobMsg::default());
        }
        if !v.is_object() {
            return Err(Error::BadRequest(format!(
                "{KIND}: invalid message {v} (expecting a JSON object)"
            )));
        }
        let int = |k: &str| -> Result<Option<i64>> {
            match v.get(k) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(x) => x.as_i64().map(Some).ok_or_else(|| bad(k, x, "an integer")),
            }
        };
        let mut m = BlobMsg::default();
        if let Some(n) = int("chunk-size")? {
            m.chunk_bytes = check_chunk(n, n)?;
        }
        if let Some(n) = int("num-workers")? {
            m.workers = check_workers(n, n)?;
        }
        if let Some(n) = int("full-size")? {
            if n < 0 {
                return Err(bad("full-size", n, "the object's size in bytes, or 0"));
            }
            m.full_size = n as u64;
        }
        match v.get("latest-ver") {
            None | Some(serde_json::Value::Null) => {}
            Some(x) => {
                m.latest = x
                    .as_bool()
                    .ok_or_else(|| bad("latest-ver", x, "true or false"))?;
            }
        }
        match v.get("chunk-read-timeout") {
            None | Some(serde_json::Value::Null) => {}
            // Go's cos.Duration: a duration string, or nanoseconds.
            Some(serde_json::Value::String(s)) => {
                m.chunk_read_timeout_ms = crate::meta::config::parse_go_duration(s)
                    .map_err(|e| bad("chunk-read-timeout", s, &e))?
                    .as_millis() as u64;
            }
            Some(x) => {
                let ns = x
                    .as_i64()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| bad("chunk-read-timeout", x, "a non-negative duration"))?;
                m.chunk_read_timeout_ms = (ns as u64).div_ceil(1_000_000);
            }
        }
        Ok(m)
    }

    /// The blob headers of a GET: `None` when the GET does not ask for a blob download
    /// (neither `Ais-Blob-Download` true nor a positive `Ais-Blob-Threshold`), else the
    /// message and the threshold (0: none). `header` looks a header up by name.
    pub fn from_headers<'a>(
        header: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<Option<(BlobMsg, u64)>> {
        let on = header(HDR_BLOB_DOWNLOAD).is_some_and(parse_bool);
        let threshold = match header(HDR_BLOB_THRESHOLD) {
            None => 0,
            Some(s) => s.trim().parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                Error::BadRequest(format!(
                    "blob-downloader: invalid {HDR_BLOB_THRESHOLD}={s:?}: expecting a non-negative number of bytes"
                ))
            })? as u64,
        };
        if !on && threshold == 0 {
            return Ok(None);
        }
        let mut m = BlobMsg::default();
        if let Some(s) = header(HDR_BLOB_WORKERS) {
            let n = s
                .trim()
                .parse::<i64>()
                .map_err(|_| bad(HDR_BLOB_WORKERS, format!("{s:?}"), "an integer"))?;
            m.workers = check_workers(format!("{HDR_BLOB_WORKERS}={s:?}"), n)?;
        }
        if let Some(s) = header(HDR_BLOB_CHUNK) {
            let n = parse_size(s).map_err(|e| bad(HDR_BLOB_CHUNK, format!("{s:?}"), &e))?;
            let n = i64::try_from(n).unwrap_or(i64::MAX);
            m.chunk_bytes = check_chunk(format!("{HDR_BLOB_CHUNK}={s:?}"), n)?;
        }
        if let Some(s) = header(HDR_BLOB_READ_TIMEOUT) {
            m.chunk_read_timeout_ms = crate::meta::config::parse_go_duration(s.trim())
                .map_err(|e| bad(HDR_BLOB_READ_TIMEOUT, format!("{s:?}"), &e))?
                .as_millis() as u64;
        }
        Ok(Some((m, threshold)))
    }

    /// How to download an object of `size` bytes.
    pub fn plan(&self, size: u64) -> Plan {
        let chunk = if self.chunk_bytes == 0 {
            CHUNK_BYTES_DEFAULT
        } else {
            self.chunk_bytes
        };
        assert!(
            (CHUNK_BYTES_MIN..=CHUNK_BYTES_MAX).contains(&chunk),
            "chunk size {chunk} out of bounds"
        );
        let chunks = size.div_ceil(chunk).max(1);
        let asked = match self.workers {
            -1 => 1,
            0 => size.div_ceil(BYTES_PER_DEFAULT_WORKER),
            n => n as u64,
        };
        let workers = asked
            .min(WORKERS_MAX)
            .min(chunks)
            .min(WINDOW_BYTES_MAX / chunk)
            .max(1);
        let ms = if self.chunk_read_timeout_ms == 0 {
            CHUNK_READ_TIMEOUT_MS_DEFAULT
        } else {
            self.chunk_read_timeout_ms
        };
        Plan {
            chunk_bytes: chunk,
            workers,
            chunk_timeout: Duration::from_millis(ms),
        }
    }
}

/// AIS's `cos.IsParseBool`: true, t, 1, y, yes, on (any case).
fn parse_bool(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "true" | "t" | "1" | "y" | "yes" | "on"
    )
}

/// AIS's `cos.ParseSize` without units: bytes (`1048576`, `512B`), SI (`4k`, `4KB`, `8m`,
/// `8MB`: powers of 1000) or IEC (`4KiB`, `8MiB`: powers of 1024), any case.
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim().to_ascii_uppercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let (si, iec): (u64, u64) = match unit.trim() {
        "" | "B" => (1, 1),
        "K" | "KB" | "KIB" => (1_000, 1 << 10),
        "M" | "MB" | "MIB" => (1_000_000, 1 << 20),
        "G" | "GB" | "GIB" => (1_000_000_000, 1 << 30),
        "T" | "TB" | "TIB" => (1_000_000_000_000, 1 << 40),
        u => return Err(format!("a size (unknown unit {u:?})")),
    };
    let mult = if unit.contains('I') { iec } else { si };
    if num.is_empty() {
        return Err("a size (no number)".into());
    }
    if let Ok(n) = num.parse::<u64>() {
        return n
            .checked_mul(mult)
            .ok_or_else(|| "a size that fits in 64 bits".into());
    }
    let f: f64 = num.parse().map_err(|_| "a size".to_string())?;
    let v = f * mult as f64;
    if !(0.0..1.8e19).contains(&v) {
        return Err("a size that fits in 64 bits".into());
    }
    Ok(v as u64)
}

/// Blob downloads running on this process's node: (target, bucket key, object) -> its job.
/// Any core finds them, so a second request for the object waits instead of fetching again.
static RUNNING: Mutex<Option<HashMap<RunningKey, Arc<Job>>>> = Mutex::new(None);

/// (target ID, bucket key, object name).
type RunningKey = (String, String, String);

fn running_key(node: &Node, key: &str, object: &str) -> RunningKey {
    (node.target_id.clone(), key.to_string(), object.to_string())
}

/// Register a new blob-download job for `object`, or give the one already running (`Err`).
fn claim(
    node: &Node,
    key: &str,
    object: &str,
    size: u64,
    parent: &str,
) -> std::result::Result<Arc<Job>, Arc<Job>> {
    let mut g = RUNNING.lock().expect("blob downloads lock");
    let m = g.get_or_insert_with(HashMap::new);
    let k = running_key(node, key, object);
    if let Some(j) = m.get(&k) {
        return Err(j.clone());
    }
    let job = node.jobs.begin_concurrent(
        KIND,
        key,
        format!("blob-{}", crate::meta::random_id(8)),
        node.self_id(),
        node.smap.load().version,
    );
    job.total_bytes.store(size, Ordering::Relaxed);
    tracing::info!(job = %job.id, bucket = %crate::buckets::cname(key), object, size, parent, "blob download started");
    m.insert(k, job.clone());
    Ok(job)
}

fn release(node: &Node, key: &str, object: &str, job: &Job) {
    job.finish();
    job.log_finished(1);
    let mut g = RUNNING.lock().expect("blob downloads lock");
    if let Some(m) = g.as_mut() {
        m.remove(&running_key(node, key, object));
    }
}

/// Wait for another request's blob download of the object to end.
async fn wait_for(job: &Job) {
    while !job.is_finished() {
        glommio::timer::sleep(Duration::from_millis(ABORT_POLL_MS)).await;
    }
}

/// Refuse a bucket that is not remote, as AIS (`expecting remote bucket`).
pub fn check_remote(key: &str) -> Result<()> {
    if remote::is_remote(key) {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "{KIND}: expecting remote bucket (have {})",
            crate::buckets::cname(key)
        )))
    }
}

/// `POST /v1/objects/<bucket>` `blob-download` on the target that owns `object` (stored on
/// `mp`): start the job and answer its ID; an empty ID when there is nothing to do (cached,
/// and not changed on the backend with `latest`), the running job's when one is at it.
pub async fn start(
    node: &Arc<Node>,
    mp: &Arc<Mountpath>,
    key: &str,
    object: &str,
    cksum_type: &str,
    msg: &BlobMsg,
) -> Result<String> {
    check_remote(key)?;
    let fqn = engine::object::locate(mp, &Bck::ais(key), object);
    if let Ok(lom) = engine::object::read_lom_path(&fqn) {
        if !msg.latest || !remote::is_stale(node, key, object, &lom).await? {
            return Ok(String::new());
        }
    }
    let attrs = remote::head(node, key, object).await?;
    check_size(msg, &attrs, key, object)?;
    crate::space::admit_write(node, 0).await?;
    let job = match claim(node, key, object, attrs.size, "api") {
        Ok(j) => j,
        Err(running) => return Ok(running.id.clone()),
    };
    let id = job.id.clone();
    let plan = msg.plan(attrs.size);
    let (node, mp, key, object, ck) = (
        node.clone(),
        mp.clone(),
        key.to_string(),
        object.to_string(),
        cksum_type.to_string(),
    );
    glommio::spawn_local(async move {
        // The outcome is the job's (aborted with the reason on failure).
        let _ = run(
            &node,
            &mp,
            &key,
            &object,
            &ck,
            &attrs,
            plan,
            &job,
            &mut NoSink,
        )
        .await;
        release(&node, &key, &object, &job);
    })
    .detach();
    Ok(id)
}

fn check_size(msg: &BlobMsg, attrs: &RemoteAttrs, key: &str, object: &str) -> Result<()> {
    if msg.full_size > 0 && msg.full_size != attrs.size {
        return Err(Error::BadRequest(format!(
            "{KIND} {}/{object}: full-size {} given, the backend has {} bytes",
            crate::buckets::cname(key),
            msg.full_size,
            attrs.size
        )));
    }
    Ok(())
}

/// A prefetch's download of one large object (`attrs` from the backend's HEAD): runs as a
/// blob-download job of its own and waits for it; the bytes stored.
#[allow(clippy::too_many_arguments)]
pub async fn download(
    node: &Arc<Node>,
    mp: &Arc<Mountpath>,
    key: &str,
    object: &str,
    cksum_type: &str,
    attrs: &RemoteAttrs,
    msg: &BlobMsg,
    parent: &str,
) -> Result<u64> {
    let job = match claim(node, key, object, attrs.size, parent) {
        Ok(j) => j,
        Err(running) => {
            wait_for(&running).await;
            return stored_size(mp, key, object).ok_or_else(|| job_error(&running, key, object));
        }
    };
    // The outcome is the job's (aborted with the reason on failure).
    let _ = run(
        node,
        mp,
        key,
        object,
        cksum_type,
        attrs,
        msg.plan(attrs.size),
        &job,
        &mut NoSink,
    )
    .await;
    release(node, key, object, &job);
    if job.is_aborted() {
        return Err(job_error(&job, key, object));
    }
    stored_size(mp, key, object).ok_or_else(|| {
        Error::Internal(format!(
            "{KIND} {}/{object}: not stored",
            crate::buckets::cname(key)
        ))
    })
}

fn stored_size(mp: &Mountpath, key: &str, object: &str) -> Option<u64> {
    engine::object::read_lom_path(&engine::object::locate(mp, &Bck::ais(key), object))
        .ok()
        .map(|l| l.size)
}

fn job_error(job: &Job, key: &str, object: &str) -> Error {
    let why = job.abort_err.lock().expect("abort_err lock").clone();
    Error::Internal(format!(
        "{KIND}[{}] {}/{object}: {}",
        job.id,
        crate::buckets::cname(key),
        if why.is_empty() { "failed" } else { &why }
    ))
}

/// GET with blob headers of an object not cached: download it as a blob-download job while
/// streaming it to `sink` in order. `None`: the object is below `threshold` (the caller
/// does a plain cold GET); `Served::No`: another request fetched it (serve the stored copy,
/// or miss).
#[allow(clippy::too_many_arguments)]
pub async fn get_to<S: ColdSink>(
    node: &Arc<Node>,
    mp: &Arc<Mountpath>,
    key: &str,
    object: &str,
    cksum_type: &str,
    msg: &BlobMsg,
    threshold: u64,
    sink: &mut S,
) -> Result<Option<Served>> {
    check_remote(key)?;
    let attrs = remote::head(node, key, object).await?;
    if attrs.size < threshold {
        return Ok(None);
    }
    check_size(msg, &attrs, key, object)?;
    let job = match claim(node, key, object, attrs.size, "GET") {
        Ok(j) => j,
        Err(running) => {
            wait_for(&running).await;
            return Ok(Some(Served::No));
        }
    };
    let r = run(
        node,
        mp,
        key,
        object,
        cksum_type,
        &attrs,
        msg.plan(attrs.size),
        &job,
        sink,
    )
    .await;
    release(node, key, object, &job);
    r.map(Some)
}

/// Run the download of `job` (once per core: `remote::single_flight`) and account for it: a
/// failure aborts the job with its reason, success counts the object.
#[allow(clippy::too_many_arguments)]
async fn run<S: ColdSink>(
    node: &Arc<Node>,
    mp: &Arc<Mountpath>,
    key: &str,
    object: &str,
    cksum_type: &str,
    attrs: &RemoteAttrs,
    plan: Plan,
    job: &Arc<Job>,
    sink: &mut S,
) -> Result<Served> {
    let r = remote::single_flight(
        key,
        object,
        fetch(node, mp, key, object, cksum_type, attrs, plan, job, sink),
    )
    .await;
    if job.is_aborted() || r.is_err() {
        if let Err(e) = &r {
            job.abort(&e.to_string());
        }
        job.errors.fetch_add(1, Ordering::Relaxed);
        metrics::add(M::ErrGetBlobN, 1);
    } else if stored_size(mp, key, object).is_some() {
        // Stored by this download, or by the fetch it waited for.
        job.objects.fetch_add(1, Ordering::Relaxed);
    }
    r
}

/// The download itself: chunks fetched `plan.workers` at a time, written in order into one
/// work file, committed when all arrived. The client (`sink`) gets the head once the first
/// chunk is in, then each chunk in order; the last one only after the commit. Any failure
/// (and an abort of `job`) removes the work file; after the head it cuts the response
/// ([`Served::Cut`]) and the reason goes to the job.
#[allow(clippy::too_many_arguments)]
async fn fetch<S: ColdSink>(
    node: &Arc<Node>,
    mp: &Arc<Mountpath>,
    key: &str,
    object: &str,
    cksum_type: &str,
    attrs: &RemoteAttrs,
    plan: Plan,
    job: &Arc<Job>,
    sink: &mut S,
) -> Result<Served> {
    let t0 = std::time::Instant::now();
    let (_, name) = split_key(key);
    let be = remote::backend(node, key)?;
    let cname = crate::buckets::cname(key);
    let local = |e: engine::Error| Error::Internal(format!("{KIND} {cname}/{object}: {e}"));
    let size = attrs.size;
    let chunks = size.div_ceil(plan.chunk_bytes);
    let spawn = |i: u64| {
        let first = i * plan.chunk_bytes;
        let len = plan.chunk_bytes.min(size - first);
        glommio::spawn_local(get_chunk(
            be.clone(),
            name.to_string(),
            object.to_string(),
            first,
            len,
            attrs.clone(),
            plan.chunk_timeout,
        ))
    };
    let mut window = VecDeque::new();
    let mut next = 0u64;
    while next < chunks && (window.len() as u64) < plan.workers {
        window.push_back(spawn(next));
        next += 1;
    }
    let mut w = ObjectWriter::create(mp, &Bck::ais(key), object)
        .await
        .map_err(local)?;
    w.size_hint(size);
    let opts = remote::put_opts(node, key, attrs, cksum_type);
    if let Err(e) = w.set_cksums(&opts) {
        w.abort().await;
        return Err(local(e));
    }
    let mut sent_head = false;
    let mut streaming = true;
    let mut last = Vec::new();
    let fail = |e: Error, sent_head: bool| -> Result<Served> {
        if sent_head {
            tracing::warn!(job = %job.id, bucket = %cname, object, error = %e, "blob download failed after the response head");
            job.abort(&e.to_string());
            Ok(Served::Cut)
        } else {
            Err(e)
        }
    };
    let aborted = || {
        let why = job.abort_err.lock().expect("abort_err lock").clone();
        Error::Conflict(format!("{KIND}[{}] {cname}/{object}: {why}", job.id))
    };
    for i in 0..chunks {
        let task = window
            .pop_front()
            .expect("a chunk is scheduled for every index");
        // Between chunks, and while one is awaited: an abort stops the download.
        let got = if job.is_aborted() {
            Err(aborted())
        } else {
            futures_lite::future::or(task, async {
                loop {
                    glommio::timer::sleep(Duration::from_millis(ABORT_POLL_MS)).await;
                    if job.is_aborted() {
                        return Err(aborted());
                    }
                }
            })
            .await
        };
        let data = match got {
            Ok(d) => d,
            Err(e) => {
                drop(window); // cancels the chunks in flight
                w.abort().await;
                return fail(e, sent_head);
            }
        };
        if next < chunks {
            window.push_back(spawn(next));
            next += 1;
        }
        if !sent_head {
            streaming = sink.head(attrs).await.is_ok();
            sent_head = streaming;
        }
        if let Err(e) = w.write(&data).await {
            drop(window);
            w.abort().await;
            return fail(local(e), sent_head);
        }
        job.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        metrics::add(M::AwsGetSize, data.len() as u64);
        if i + 1 == chunks {
            // The last piece goes to the client only after the commit: a reader that got
            // the whole object finds it stored, and a failed commit cuts the response.
            last = data;
        } else if streaming && sink.data(&data).await.is_err() {
            streaming = false; // the client went away; the object is still stored
        }
    }
    assert!(window.is_empty(), "every scheduled chunk was consumed");
    assert_eq!(w.size(), size, "{cname}/{object}: every chunk was written");
    if job.is_aborted() {
        w.abort().await;
        return fail(aborted(), sent_head);
    }
    if !sent_head {
        // An empty object: no chunks.
        streaming = sink.head(attrs).await.is_ok();
        sent_head = streaming;
    }
    if let Err(e) = w.commit(&opts).await {
        return fail(local(e), sent_head);
    }
    // AIS counts a blob download as one backend GET of the object.
    metrics::add(M::AwsGetN, 1);
    metrics::add(M::AwsGetNsTotal, t0.elapsed().as_nanos() as u64);
    metrics::add(M::GetBlobN, 1);
    metrics::add(M::GetBlobSize, size);
    if streaming && !last.is_empty() && sink.data(&last).await.is_err() {
        streaming = false;
    }
    Ok(if sent_head && streaming {
        Served::Yes
    } else if sent_head {
        Served::Cut
    } else {
        Served::No
    })
}

/// One chunk: bytes `first..first+len` of the version `want` describes, within `timeout`.
async fn get_chunk(
    be: std::rc::Rc<S3Backend>,
    bucket: String,
    object: String,
    first: u64,
    len: u64,
    want: RemoteAttrs,
    timeout: Duration,
) -> Result<Vec<u8>> {
    let what = format!("{bucket}/{object} bytes {first}-{}", first + len - 1);
    let fetch = async {
        let (a, mut body) = be
            .get_object_if(&bucket, &object, Some((first, first + len - 1)), &want.etag)
            .await
            .map_err(|e| {
                if e.status == 412 {
                    changed(&what, &want, "ETag no longer matches")
                } else {
                    Error::Peer {
                        status: e.status,
                        message: format!("{KIND} {what}: {e}"),
                    }
                }
            })?;
        if a.size != want.size
            || (!want.etag.is_empty() && !a.etag.is_empty() && a.etag != want.etag)
            || (!want.version.is_empty() && !a.version.is_empty() && a.version != want.version)
        {
            return Err(changed(
                &what,
                &want,
                &format!(
                    "now size {} ETag {:?} version {:?}",
                    a.size, a.etag, a.version
                ),
            ));
        }
        if body.remaining() != Some(len) {
            return Err(Error::Peer {
                status: 502,
                message: format!(
                    "{KIND} {what}: the backend answered {:?} bytes instead of the range",
                    body.remaining()
                ),
            });
        }
        let mut buf = vec![0u8; len as usize];
        let mut got = 0usize;
        while got < buf.len() {
            let n = body.read(&mut buf[got..]).await.map_err(|e| Error::Peer {
                status: e.status,
                message: format!("{KIND} {what}: {e}"),
            })?;
            if n == 0 {
                return Err(Error::Peer {
                    status: 502,
                    message: format!("{KIND} {what}: the backend sent {got} of {len} bytes"),
                });
            }
            got += n;
        }
        Ok(buf)
    };
    futures_lite::future::or(fetch, async {
        glommio::timer::sleep(timeout).await;
        Err(Error::Peer {
            status: 504,
            message: format!(
                "{KIND} {what}: no answer within {} ms (chunk-read-timeout)",
                timeout.as_millis()
            ),
        })
    })
    .await
}

fn changed(what: &str, want: &RemoteAttrs, how: &str) -> Error {
    Error::Conflict(format!(
        "{KIND} {what}: the object changed on the backend during the download (started with size {} ETag {:?}; {how}): nothing stored",
        want.size, want.etag
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_are_read_as_the_sdk_and_go_send_them() {
        let m = BlobMsg::from_value(
            &json!({"latest-ver": false, "chunk-size": 8 << 20, "num-workers": 4}),
        )
        .unwrap();
        assert_eq!(
            m,
            BlobMsg {
                chunk_bytes: 8 << 20,
                workers: 4,
                ..Default::default()
            }
        );
        assert_eq!(
            BlobMsg::from_value(&json!(null)).unwrap(),
            BlobMsg::default()
        );
        let m = BlobMsg::from_value(&json!({"chunk-size": 0, "full-size": 5, "num-workers": -1,
            "latest-ver": true, "chunk-read-timeout": "1m30s"}))
        .unwrap();
        assert_eq!(
            (m.workers, m.full_size, m.latest, m.chunk_read_timeout_ms),
            (-1, 5, true, 90_000)
        );
        assert_eq!(
            BlobMsg::from_value(&json!({"chunk-read-timeout": 2_000_000_000i64}))
                .unwrap()
                .chunk_read_timeout_ms,
            2000
        );
    }

    #[test]
    fn bad_values_are_refused_naming_the_field() {
        for (v, field) in [
            (json!({"num-workers": -2}), "num-workers"),
            (json!({"num-workers": 129}), "num-workers"),
            (json!({"num-workers": "4"}), "num-workers"),
            (json!({"chunk-size": -1}), "chunk-size"),
            (json!({"chunk-size": CHUNK_BYTES_MIN - 1}), "chunk-size"),
            (json!({"chunk-size": CHUNK_BYTES_MAX + 1}), "chunk-size"),
            (json!({"full-size": -3}), "full-size"),
            (json!({"latest-ver": 1}), "latest-ver"),
            (json!({"chunk-read-timeout": "soon"}), "chunk-read-timeout"),
            (json!([1]), "message"),
        ] {
            match BlobMsg::from_value(&v) {
                Err(Error::BadRequest(m)) => assert!(m.contains(field), "{v}: {m}"),
                r => panic!("{v}: {r:?}"),
            }
        }
        // At the limits: accepted.
        for v in [
            json!({"chunk-size": CHUNK_BYTES_MIN, "num-workers": WORKERS_REQUEST_MAX}),
            json!({"chunk-size": CHUNK_BYTES_MAX, "num-workers": -1}),
        ] {
            BlobMsg::from_value(&v).unwrap();
        }
    }

    #[test]
    fn headers_select_and_parameterize_a_blob_get() {
        let hs = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| *v)
        };
        assert_eq!(BlobMsg::from_headers(hs(&[])).unwrap(), None);
        assert_eq!(
            BlobMsg::from_headers(hs(&[
                (HDR_BLOB_DOWNLOAD, "false"),
                (HDR_BLOB_CHUNK, "1MiB")
            ]))
            .unwrap(),
            None
        );
        let (m, t) = BlobMsg::from_headers(hs(&[
            (HDR_BLOB_DOWNLOAD, "true"),
            (HDR_BLOB_CHUNK, "1MiB"),
            (HDR_BLOB_WORKERS, "5"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!((m.chunk_bytes, m.workers, t), (1 << 20, 5, 0));
        let (m, t) = BlobMsg::from_headers(hs(&[
            (HDR_BLOB_THRESHOLD, "1000"),
            (HDR_BLOB_READ_TIMEOUT, "5s"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!((m.chunk_read_timeout_ms, t), (5000, 1000));
        for bad in [
            &[(HDR_BLOB_DOWNLOAD, "yes"), (HDR_BLOB_WORKERS, "-2")][..],
            &[(HDR_BLOB_DOWNLOAD, "on"), (HDR_BLOB_WORKERS, "x")][..],
            &[(HDR_BLOB_DOWNLOAD, "1"), (HDR_BLOB_CHUNK, "1k")][..],
            &[(HDR_BLOB_DOWNLOAD, "1"), (HDR_BLOB_CHUNK, "1qb")][..],
            &[(HDR_BLOB_THRESHOLD, "-1")][..],
        ] {
            let pairs: Vec<(&str, &str)> = bad.to_vec();
            let r = BlobMsg::from_headers(|k: &str| {
                pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| *v)
            });
            assert!(matches!(r, Err(Error::BadRequest(_))), "{bad:?}: {r:?}");
        }
    }

    #[test]
    fn sizes_follow_ais_units() {
        for (s, n) in [
            ("1048576", 1 << 20),
            ("512B", 512),
            ("4k", 4000),
            ("4KB", 4000),
            ("4KiB", 4096),
            ("8mb", 8_000_000),
            ("8MiB", 8 << 20),
            ("1.5MiB", 3 << 19),
            (" 2gib ", 2 << 30),
        ] {
            assert_eq!(parse_size(s), Ok(n), "{s}");
        }
        for s in ["", "MiB", "1XB", "-1", "99999999999999999999"] {
            assert!(parse_size(s).is_err(), "{s}");
        }
    }

    #[test]
    fn plans_bound_workers_by_chunks_window_and_cap() {
        let m = |chunk_bytes, workers| BlobMsg {
            chunk_bytes,
            workers,
            ..Default::default()
        };
        let p = m(8 << 20, 4).plan(64 << 20);
        assert_eq!((p.chunk_bytes, p.workers), (8 << 20, 4));
        assert_eq!(
            p.chunk_timeout,
            Duration::from_millis(CHUNK_READ_TIMEOUT_MS_DEFAULT)
        );
        // Defaults: 4 MiB chunks, one worker per 256 MiB.
        assert_eq!(m(0, 0).plan(64 << 20).workers, 1);
        assert_eq!(m(0, 0).plan(1 << 30).workers, 4);
        assert_eq!(m(0, 0).plan(1 << 30).chunk_bytes, CHUNK_BYTES_DEFAULT);
        // Serial, more workers than chunks, the hard cap, the memory window.
        assert_eq!(m(0, -1).plan(1 << 30).workers, 1);
        assert_eq!(m(8 << 20, 16).plan(20 << 20).workers, 3);
        assert_eq!(m(CHUNK_BYTES_MIN, 128).plan(1 << 30).workers, WORKERS_MAX);
        assert_eq!(
            m(CHUNK_BYTES_MAX, 32).plan(1 << 40).workers,
            WINDOW_BYTES_MAX / CHUNK_BYTES_MAX
        );
        // An empty object still plans one worker.
        assert_eq!(m(0, 8).plan(0).workers, 1);
    }
}
