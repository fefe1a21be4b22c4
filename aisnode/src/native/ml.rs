//! Get-Batch (AIS "MOSS", `GET /v1/ml/moss[/<bucket>]`): many objects, byte ranges and files
//! inside shards, from any targets and buckets, in one archive, in request order.
//!
//! The request body is AIS's `MossReq` JSON (`in`: entries with `objname`, optional
//! `bucket`/`provider`, `archpath`, `start`/`length`, `opaque`; `mime` the output format;
//! `coer` continue on error; `onob` names without the bucket; `strm` streaming). The node that
//! receives it (a proxy, or any node) fetches each entry from the target that owns it with an
//! ordinary object GET (`archpath`, `Range`), a few entries ahead, and writes them out in
//! order: as a chunked stream (`strm`), or buffered and sent as `multipart/mixed` with the
//! `MossResp` metadata first and the archive second. The archive is `.tar` (default), `.tgz`
//! / `.tar.gz`, `.zip` (stored entries, sizes in each local header) or `.tar.lz4` (one LZ4
//! frame), with AIS's `Content-Type` for it (on the response when streaming, on the second
//! part otherwise). Member names are `<bucket>/<objname>` (`<objname>` with `onob`), plus
//! `/<archpath>` for a file from a shard; an entry that failed under `coer` is an empty
//! member under `__404__/` (and its `err_msg` in `MossResp`).
//!
//! # Limits (bounded memory)
//! [`GETBATCH_ENTRIES_MAX`] entries (400 beyond), one entry at most
//! [`cluster::intra::INTRA_BODY_BYTES_MAX`] (an error of that entry beyond), at most
//! [`GETBATCH_FETCH_AHEAD`] entries held at once while streaming, a buffered response at most
//! [`GETBATCH_BUFFERED_BYTES_MAX`] and at most [`GETBATCH_INFLIGHT_MAX`] batches per core at
//! once: 429 beyond either. A zip has no zip64: over 4 GiB the stream is cut (a 400 before
//! the first byte).
//!
//! # What this module does not do
//! Remote buckets, the `coloc` hint (accepted, it only concerns placement of the work).
//!
//! # The job
//! As in AIS (`x-moss`), Get-Batch runs as an on-demand job of kind `get-batch`, one per
//! bucket on the node that assembles the output: the first request on a bucket starts it,
//! later ones join it while it runs, and it ends [`GETBATCH_JOB_IDLE_MS`] after its last
//! request finished. Its ID is the `uuid` of `MossResp`; it counts the entries delivered
//! (objects, bytes) and the entries that failed (errors), shows in the job API (`what=jobs`,
//! `qryxstats`, `status_all`) and stops through it: requests in flight then end with an
//! error (buffered) or a cut stream. Unlike AIS, whose designated target assembles while the
//! other targets send it their entries, here the node that received the request assembles
//! (a proxy, when the client talks to one) and the targets serve ordinary GETs, so the job
//! appears on that one node.

use crate::core::Core;
use crate::error::ApiError;
use crate::reply::io_err;
use crate::req::{Outcome, Req};
use cluster::meta::placement;
use engine::tarball::{ShardFormat, Stream};
use net::conn::Conn;
use net::http;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::collections::VecDeque;
use std::io::Write;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Entries per request.
pub const GETBATCH_ENTRIES_MAX: usize = 10_000;
/// Request body (the JSON `MossReq`).
pub const GETBATCH_BODY_BYTES_MAX: usize = 8 << 20;
/// A buffered (`strm: false`) response is built in memory up to this size: 429 beyond.
pub const GETBATCH_BUFFERED_BYTES_MAX: usize = 256 << 20;
/// Entries fetched ahead of the one being written.
pub const GETBATCH_FETCH_AHEAD: usize = 4;
/// Get-Batch requests served at once per core: 429 beyond.
pub const GETBATCH_INFLIGHT_MAX: usize = 4;
/// Deadline of fetching one entry from its target.
pub const GETBATCH_ENTRY_TIMEOUT_MS: u64 = 60_000;
/// A `get-batch` job ends this long after its last request finished (AIS: one minute).
pub const GETBATCH_JOB_IDLE_MS: u64 = 10_000;
/// Prefix of the member of an entry that failed under `coer`.
pub const MISSING_FILES_DIR: &str = "__404__";

const _: () = assert!(GETBATCH_FETCH_AHEAD >= 1 && GETBATCH_INFLIGHT_MAX >= 1);

thread_local! {
    static INFLIGHT: Cell<usize> = const { Cell::new(0) };
}

/// Counts a batch in flight on this core until dropped.
struct InflightGuard;

impl InflightGuard {
    fn acquire() -> Option<InflightGuard> {
        INFLIGHT.with(|n| {
            if n.get() >= GETBATCH_INFLIGHT_MAX {
                None
            } else {
                n.set(n.get() + 1);
                Some(InflightGuard)
            }
        })
    }
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        INFLIGHT.with(|n| n.set(n.get() - 1));
    }
}

/// The running `get-batch` jobs of this node, one per bucket: the job, how many requests are
/// in it now, and when the last one left (unix ns).
type Running = Vec<(Arc<cluster::xact::Job>, usize, i64)>;
static JOBS: Mutex<Running> = Mutex::new(Vec::new());

/// A request's share of its bucket's `get-batch` job; leaving it (drop) may end the job.
struct JobGuard {
    job: Arc<cluster::xact::Job>,
}

impl JobGuard {
    /// Join the running `get-batch` job of `bucket`, or start one.
    fn join(core: &Core, bucket: &str) -> JobGuard {
        let mut jobs = JOBS.lock().expect("get-batch jobs lock");
        if let Some((j, n, _)) = jobs
            .iter_mut()
            .find(|(j, _, _)| j.bck == bucket && !j.is_finished() && !j.is_aborted())
        {
            *n += 1;
            return JobGuard { job: j.clone() };
        }
        let node = &core.node;
        let job = node.jobs.begin_concurrent(
            "get-batch",
            bucket,
            cluster::meta::ids::random_id(9),
            node.self_id(),
            node.smap.load().version,
        );
        tracing::info!(job = %job.id, bucket = %cluster::buckets::cname(bucket), "get-batch job started");
        jobs.push((job.clone(), 1, 0));
        JobGuard { job }
    }

    /// Count one entry: delivered (`Some(bytes)`) or failed.
    fn count(&self, delivered: Option<usize>) {
        match delivered {
            Some(b) => {
                self.job.objects.fetch_add(1, Ordering::Relaxed);
                self.job.bytes.fetch_add(b as u64, Ordering::Relaxed);
            }
            None => {
                self.job.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// End `job` if no request is in it and the last one left at least `idle_ns` ago.
fn end_if_idle(jobs: &mut Running, job: &Arc<cluster::xact::Job>, idle_ns: i64) {
    let Some(i) = jobs.iter().position(|(j, _, _)| Arc::ptr_eq(j, job)) else {
        return;
    };
    let (_, n, last) = jobs[i];
    if n == 0 && net::time::now_unix_ns() - last >= idle_ns {
        job.finish();
        job.log_finished(0);
        jobs.remove(i);
    }
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        let mut jobs = JOBS.lock().expect("get-batch jobs lock");
        let Some(e) = jobs.iter_mut().find(|(j, _, _)| Arc::ptr_eq(j, &self.job)) else {
            return;
        };
        e.1 -= 1;
        e.2 = net::time::now_unix_ns();
        if e.1 > 0 {
            return;
        }
        if self.job.is_aborted() {
            // Stopped through the API: it ends with its last request.
            end_if_idle(&mut jobs, &self.job, 0);
            return;
        }
        // End it unless a request joins within GETBATCH_JOB_IDLE_MS.
        let job = self.job.clone();
        glommio::spawn_local(async move {
            glommio::timer::sleep(Duration::from_millis(GETBATCH_JOB_IDLE_MS)).await;
            let idle_ns = GETBATCH_JOB_IDLE_MS as i64 * 1_000_000;
            end_if_idle(
                &mut JOBS.lock().expect("get-batch jobs lock"),
                &job,
                idle_ns,
            );
        })
        .detach();
    }
}

/// AIS `apc.MossIn`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MossIn {
    pub objname: String,
    pub bucket: String,
    pub provider: String,
    pub uname: String,
    pub opaque: String,
    pub archpath: String,
    pub start: i64,
    pub length: i64,
}

/// AIS `apc.MossReq`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MossReq {
    #[serde(rename = "in")]
    pub entries: Vec<MossIn>,
    pub mime: String,
    pub coer: bool,
    pub onob: bool,
    pub strm: bool,
    pub coloc: i64,
}

/// AIS `apc.MossOut`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MossOut {
    pub objname: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub archpath: String,
    pub bucket: String,
    pub provider: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub opaque: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub err_msg: String,
    pub size: i64,
}

/// AIS `apc.MossResp`.
#[derive(Debug, Serialize)]
pub struct MossResp {
    pub out: Vec<MossOut>,
    pub uuid: String,
}

/// One entry, checked: where to get it and what to call it.
#[derive(Debug, Clone)]
struct Entry {
    bucket: String,
    objname: String,
    archpath: String,
    /// (start, length or None to the end); `None`: everything.
    range: Option<(u64, Option<u64>)>,
}

/// What fetching an entry gave: its bytes, or the status and message of its failure.
type Fetched = Result<Vec<u8>, (u16, String)>;

fn check_entry(e: &MossIn, default_bucket: &str, i: usize) -> Result<Entry, ApiError> {
    let bad =
        |m: String| ApiError::bad_request(format!("get-batch entry {i} ({:?}): {m}", e.objname));
    let (mut bucket, mut provider, mut objname) =
        (e.bucket.clone(), e.provider.clone(), e.objname.clone());
    if !e.uname.is_empty() {
        // <provider>/<namespace>/<bucket>/<object>
        let mut p = e.uname.splitn(4, '/');
        match (p.next(), p.next(), p.next(), p.next()) {
            (Some(pr), Some(_ns), Some(b), Some(o)) if !b.is_empty() && !o.is_empty() => {
                provider = pr.to_string();
                bucket = b.to_string();
                objname = o.to_string();
            }
            _ => return Err(bad(format!("invalid uname {:?}", e.uname))),
        }
    }
    if bucket.is_empty() {
        bucket = default_bucket.to_string();
    }
    if bucket.is_empty() {
        return Err(bad(
            "no bucket: name one in the entry or in the URL (/v1/ml/moss/<bucket>)".into(),
        ));
    }
    if !matches!(provider.as_str(), "" | "ais") {
        return Err(ApiError::not_implemented(format!(
            "get-batch entry {i}: provider {provider:?}: remote backends are not configured on this cluster"
        )));
    }
    engine::name::validate_bucket(&bucket).map_err(|e| bad(e.to_string()))?;
    engine::name::validate_object(&objname).map_err(|e| bad(e.to_string()))?;
    if e.start < 0 {
        return Err(bad(format!("start={} must be >= 0", e.start)));
    }
    if e.length < -1 {
        return Err(bad(format!(
            "length={} must be > 0, or -1 to read to the end",
            e.length
        )));
    }
    if e.start > 0 && e.length == 0 {
        return Err(bad(format!(
            "start={} requires a length (-1 to read to the end)",
            e.start
        )));
    }
    let range = match (e.start, e.length) {
        (0, 0) => None,
        (s, -1) => Some((s as u64, None)),
        (s, l) => Some((s as u64, Some(l as u64))),
    };
    Ok(Entry {
        bucket,
        objname,
        archpath: e.archpath.clone(),
        range,
    })
}

impl Entry {
    fn member_name(&self, onob: bool) -> String {
        let mut n = if onob {
            self.objname.clone()
        } else {
            format!("{}/{}", self.bucket, self.objname)
        };
        if !self.archpath.is_empty() {
            n.push('/');
            n.push_str(self.archpath.trim_start_matches('/'));
        }
        n
    }
}

/// Fetch one entry from the target that owns it (on a kept-alive intra-cluster connection).
async fn fetch(core: Rc<Core>, e: Entry) -> Fetched {
    let smap = core.smap();
    if !core.bmd().buckets.contains_key(&e.bucket)
        && !cluster::membership::refresh_bmd_for(&core.node, &e.bucket).await
    {
        return Err((404, format!("bucket \"ais://{}\" does not exist", e.bucket)));
    }
    let Some(owner) = placement::owner(&smap, &e.bucket, &e.objname) else {
        return Err((
            503,
            format!("no targets in the cluster map (Smap v{})", smap.version),
        ));
    };
    let mut url = format!(
        "{}/v1/objects/{}/{}?provider=ais&pid={}&utm={}",
        owner.url,
        http::percent_encode_path(&e.bucket),
        http::percent_encode_path(&e.objname),
        http::percent_encode_query(&core.node.proxy_id),
        net::time::base36(net::time::now_unix_ns() as u64),
    );
    if !e.archpath.is_empty() {
        url.push_str("&archpath=");
        url.push_str(&http::percent_encode_query(&e.archpath));
    }
    // A range of a plain object is the target's; of a file in a shard, applied here.
    let range_hdr = match (e.range, e.archpath.is_empty()) {
        (Some((s, Some(l))), true) => Some(format!("bytes={s}-{}", s + l - 1)),
        (Some((s, None)), true) => Some(format!("bytes={s}-")),
        _ => None,
    };
    let headers: Vec<(&str, &str)> = range_hdr.iter().map(|r| ("Range", r.as_str())).collect();
    let r = match cluster::intra::get_pooled(&url, &headers, GETBATCH_ENTRY_TIMEOUT_MS).await {
        Ok(r) => r,
        Err(err) => return Err((502, err.to_string())),
    };
    if !matches!(r.status, 200 | 206) {
        let msg = r.hdr_error.clone().unwrap_or_else(|| r.message());
        return Err((r.status, msg));
    }
    let mut body = r.body;
    if body.len() >= cluster::intra::INTRA_BODY_BYTES_MAX {
        return Err((
            400,
            format!(
                "ais://{}/{}: over the {}-byte limit of one get-batch entry",
                e.bucket,
                e.objname,
                cluster::intra::INTRA_BODY_BYTES_MAX
            ),
        ));
    }
    if let (Some((s, l)), false) = (e.range, e.archpath.is_empty()) {
        let size = body.len() as u64;
        let end = l.map_or(size, |l| s.saturating_add(l));
        if (s >= size && !(s == 0 && size == 0)) || end > size {
            return Err((
                416,
                format!(
                    "range [{s}, {end}) not satisfiable for {:?} of {size} bytes in ais://{}/{}",
                    e.archpath, e.bucket, e.objname
                ),
            ));
        }
        body = body[s as usize..end as usize].to_vec();
    }
    Ok(body)
}

/// The output format (`mime`): AIS's four, written by `engine::tarball::Stream`.
fn out_format(mime: &str) -> Result<ShardFormat, ApiError> {
    match mime.trim_start_matches('.') {
        "" | "tar" => Ok(ShardFormat::Tar),
        "tgz" | "tar.gz" => Ok(ShardFormat::Tgz),
        "zip" => Ok(ShardFormat::Zip),
        "tar.lz4" => Ok(ShardFormat::TarLz4),
        _ => Err(ApiError::bad_request(format!(
            "invalid get-batch output format (mime) {mime:?}: expecting .tar, .tgz, .tar.gz, .zip or .tar.lz4"
        ))),
    }
}

async fn chunk(conn: &mut Conn, data: &[u8]) -> Result<(), net::conn::ConnError> {
    if data.is_empty() {
        return Ok(());
    }
    let mut b = Vec::with_capacity(data.len() + 16);
    let _ = write!(b, "{:x}\r\n", data.len());
    b.extend_from_slice(data);
    b.extend_from_slice(b"\r\n");
    conn.write_all(&b).await
}

/// `GET /v1/ml/moss[/<bucket>]`.
pub async fn handle(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    rest: &str,
) -> Result<Outcome, ApiError> {
    let method = req.head.method.clone();
    let (what, bucket) = match rest.split_once('/') {
        Some((w, b)) => (w, b.trim_end_matches('/')),
        None => (rest.trim_end_matches('/'), ""),
    };
    if what != "moss" {
        return Err(ApiError::new(
            404,
            format!("unknown resource /v1/ml/{rest} (this node serves /v1/ml/moss)"),
        ));
    }
    if method != "GET" {
        return Err(ApiError::method_not_allowed("GET"));
    }
    if !bucket.is_empty() {
        engine::name::validate_bucket(bucket).map_err(|e| ApiError::bad_request(e.to_string()))?;
        if let Some(p) = req.q("provider").filter(|p| !p.is_empty() && *p != "ais") {
            return Err(ApiError::not_implemented(format!(
                "get-batch from provider {p:?}: remote backends are not configured on this cluster"
            )));
        }
    }
    let body = conn
        .body(req.head.body)
        .read_to_vec(GETBATCH_BODY_BYTES_MAX)
        .await
        .map_err(|e| ApiError::bad_request(format!("get-batch request body: {e}")).closing())?;
    req.body_done = true;
    let mreq: MossReq = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!("invalid get-batch request (MossReq JSON): {e}"))
    })?;
    if mreq.entries.is_empty() {
        return Err(ApiError::bad_request(
            "get-batch request with no entries (\"in\" is empty)",
        ));
    }
    if mreq.entries.len() > GETBATCH_ENTRIES_MAX {
        return Err(ApiError::bad_request(format!(
            "get-batch request with {} entries: at most GETBATCH_ENTRIES_MAX ({GETBATCH_ENTRIES_MAX})",
            mreq.entries.len()
        )));
    }
    let entries = mreq
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| check_entry(e, bucket, i))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Stream::new(out_format(&mreq.mime)?);
    let Some(_guard) = InflightGuard::acquire() else {
        return Err(ApiError::new(
            429,
            format!("too many get-batch requests on this core (GETBATCH_INFLIGHT_MAX {GETBATCH_INFLIGHT_MAX}): retry later"),
        ));
    };
    let job = JobGuard::join(
        core,
        if bucket.is_empty() {
            &entries[0].bucket
        } else {
            bucket
        },
    );
    let uuid = job.job.id.clone();
    let mtime = (net::time::now_unix_ns() / 1_000_000_000) as u64;
    let mut pending: VecDeque<glommio::task::JoinHandle<Fetched>> = VecDeque::new();
    let mut next = 0usize;
    let mut outs: Vec<MossOut> = Vec::with_capacity(entries.len());
    let mut started = false;
    for (i, (e, src)) in entries.iter().zip(&mreq.entries).enumerate() {
        while next < entries.len() && pending.len() < GETBATCH_FETCH_AHEAD {
            let (c, ahead) = (core.clone(), entries[next].clone());
            pending.push_back(glommio::spawn_local(fetch(c, ahead)).detach());
            next += 1;
        }
        let mut got = pending
            .pop_front()
            .expect("fetched ahead")
            .await
            .unwrap_or_else(|| Err((500, "get-batch fetch task cancelled".into())));
        if job.job.is_aborted() {
            got = Err((
                409,
                format!(
                    "get-batch job {} was stopped through the job API",
                    job.job.id
                ),
            ));
        }
        job.count(got.as_ref().ok().map(Vec::len));
        let mut mo = MossOut {
            objname: e.objname.clone(),
            archpath: e.archpath.clone(),
            bucket: e.bucket.clone(),
            provider: "ais".into(),
            opaque: src.opaque.clone(),
            ..MossOut::default()
        };
        let (name, data) = match got {
            Ok(b) => {
                mo.size = b.len() as i64;
                (e.member_name(mreq.onob), b)
            }
            Err((_, msg)) if mreq.coer && !job.job.is_aborted() => {
                mo.err_msg = msg;
                (
                    format!("{MISSING_FILES_DIR}/{}", e.member_name(mreq.onob)),
                    Vec::new(),
                )
            }
            Err((status, msg)) => {
                if started {
                    // The client sees a cut stream (no final chunk).
                    tracing::warn!(bucket = %e.bucket, object = %e.objname, error = %msg, "get-batch entry failed mid-stream");
                    return Ok(Outcome::Close);
                }
                return Err(ApiError::new(
                    status,
                    format!(
                        "get-batch entry {i} (ais://{}/{}): {msg}",
                        e.bucket, e.objname
                    ),
                ));
            }
        };
        if let Err(err) = out.add(&name, &data, mtime) {
            if started {
                tracing::warn!(bucket = %e.bucket, object = %e.objname, error = %err, "get-batch entry cannot be written mid-stream");
                return Ok(Outcome::Close);
            }
            return Err(ApiError::bad_request(format!("get-batch entry {i}: {err}")));
        }
        drop(data);
        outs.push(mo);
        if mreq.strm {
            if !started {
                let mut head = Vec::with_capacity(256);
                let ct = out.format().content_type();
                http::write_response_head(
                    &mut head,
                    200,
                    &[("Content-Type", ct), ("Transfer-Encoding", "chunked")],
                );
                conn.write_all(&head).await.map_err(io_err)?;
                started = true;
            }
            let b = out.take();
            if chunk(conn, &b).await.is_err() {
                return Ok(Outcome::Close);
            }
        } else if out.pending() > GETBATCH_BUFFERED_BYTES_MAX {
            return Err(ApiError::new(
                429,
                format!(
                    "get-batch buffered response over GETBATCH_BUFFERED_BYTES_MAX ({GETBATCH_BUFFERED_BYTES_MAX} bytes) at entry {i}: use streaming (strm) or smaller batches"
                ),
            ));
        }
    }
    let fmt = out.format();
    let tail = out
        .finish()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if mreq.strm {
        if chunk(conn, &tail).await.is_err() {
            return Ok(Outcome::Close);
        }
        conn.write_all(b"0\r\n\r\n").await.map_err(io_err)?;
        return Ok(Outcome::KeepAlive);
    }
    let meta = serde_json::to_vec(&MossResp { out: outs, uuid }).expect("serializable");
    let boundary = format!("moss-{}", cluster::meta::ids::random_id(16));
    let part1 = format!("--{boundary}\r\nContent-Type: application/json\r\n\r\n");
    let part2 = format!(
        "\r\n--{boundary}\r\nContent-Type: {}\r\n\r\n",
        fmt.content_type()
    );
    let end = format!("\r\n--{boundary}--\r\n");
    let len = part1.len() + meta.len() + part2.len() + tail.len() + end.len();
    let ct = format!("multipart/mixed; boundary={boundary}");
    let len_s = len.to_string();
    let mut head = Vec::with_capacity(512 + meta.len());
    http::write_response_head(
        &mut head,
        200,
        &[("Content-Type", &ct), ("Content-Length", &len_s)],
    );
    head.extend_from_slice(part1.as_bytes());
    head.extend_from_slice(&meta);
    head.extend_from_slice(part2.as_bytes());
    conn.write_all(&head).await.map_err(io_err)?;
    conn.write_all(&tail).await.map_err(io_err)?;
    conn.write_all(end.as_bytes()).await.map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(j: serde_json::Value) -> MossIn {
        serde_json::from_value(j).unwrap()
    }

    #[test]
    fn entries_are_checked_and_named_as_ais_names_them() {
        let e = check_entry(&entry(serde_json::json!({"objname": "a/b"})), "bk", 0).unwrap();
        assert_eq!(e.member_name(false), "bk/a/b");
        assert_eq!(e.member_name(true), "a/b");
        let e = check_entry(
            &entry(serde_json::json!({"objname": "s.tar", "bucket": "x", "provider": "ais", "archpath": "/d/f.jpg"})),
            "bk",
            0,
        )
        .unwrap();
        assert_eq!(e.member_name(false), "x/s.tar/d/f.jpg");
        let e = check_entry(
            &entry(serde_json::json!({"objname": "o", "start": 5, "length": -1})),
            "b",
            0,
        )
        .unwrap();
        assert_eq!(e.range, Some((5, None)));
        for bad in [
            serde_json::json!({"objname": "o", "start": -1, "length": 2}),
            serde_json::json!({"objname": "o", "length": -2}),
            serde_json::json!({"objname": "o", "start": 3}),
            serde_json::json!({"objname": ""}),
        ] {
            assert_eq!(
                check_entry(&entry(bad.clone()), "b", 0).unwrap_err().status,
                400,
                "{bad}"
            );
        }
        assert_eq!(
            check_entry(&entry(serde_json::json!({"objname": "o"})), "", 0)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            check_entry(
                &entry(serde_json::json!({"objname": "o", "bucket": "b", "provider": "s3"})),
                "",
                0
            )
            .unwrap_err()
            .status,
            501
        );
        let e = check_entry(
            &entry(serde_json::json!({"objname": "x", "uname": "ais/@#/bb/o/p"})),
            "",
            0,
        )
        .unwrap();
        assert_eq!((e.bucket.as_str(), e.objname.as_str()), ("bb", "o/p"));
    }

    #[test]
    fn output_formats() {
        for (m, f) in [
            ("", ShardFormat::Tar),
            (".tar", ShardFormat::Tar),
            ("tgz", ShardFormat::Tgz),
            (".tar.gz", ShardFormat::Tgz),
            (".zip", ShardFormat::Zip),
            (".tar.lz4", ShardFormat::TarLz4),
        ] {
            assert_eq!(out_format(m).unwrap(), f, "{m}");
        }
        assert_eq!(out_format(".rar").err().unwrap().status, 400);
    }
}
