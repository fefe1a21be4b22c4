//! Global rebalance (target side) and get-from-neighbour.
//!
//! When the set of targets in the Smap changes, each target walks its mountpaths and sends
//! every object that HRW now places on another target to that target's owning core
//! (`PUT ...?rebalance=true` with the object's checksum, version and custom metadata); the
//! local copy is removed only after the new owner answered 200, i.e. has it durably. The
//! receiver never overwrites a copy it already has (a client PUT after the map change is
//! newer). A GET/HEAD that misses on the new owner is forwarded to the previous owner
//! (get-from-neighbour); a DELETE is also applied there, so rebalance cannot resurrect it.
//! Rebalance is idempotent: a target runs a pass whenever it joins (and so after a
//! restart), which finishes an interrupted run.
//!
//! Jobs ("xactions", see xact.rs) are listed at `GET /v1/daemon?what=jobs` (per target)
//! and `GET /v1/cluster?what=jobs` (a proxy gathers all targets). Transfers reuse
//! keep-alive connections per destination; at most `--rebalance-workers` objects are in
//! flight per target.

use crate::api_error::ApiError;
use crate::meta::Smap;
use crate::node::{Node, Role};
use crate::server::{Core, Outcome, Req};
use engine::layout::Bck;
use engine::mountpath::Mountpath;
use engine::object::{ObjectReader, READ_BUFFER_BYTES};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use net::conn::Conn;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Objects in flight per rebalance by default (bounded so foreground traffic keeps its
/// latency); `--rebalance-workers` changes it.
pub const REBALANCE_CONCURRENCY_DEFAULT: usize = 4;
/// Names listed per directory-walk batch.
pub const REBALANCE_BATCH: usize = 1000;
/// Per-object transfer deadline for each socket operation.
pub const REBALANCE_IO_TIMEOUT_MS: u64 = 60_000;
/// Passes per rebalance job (each pass after the first retries what failed or arrived late).
pub const REBALANCE_PASSES_MAX: u32 = 20;
/// Idle keep-alive connections kept per destination during a job.
pub const REBALANCE_POOL_PER_DEST_MAX: usize = 16;

pub use crate::xact::Job;

/// Per-node rebalance state.
#[derive(Default)]
pub struct RebalanceState {
    /// The Smap before the last change of the target set (for get-from-neighbour).
    pub prev_smap: Mutex<Option<Arc<Smap>>>,
}

/// Keep-alive connections to new owners, reused across objects of one job (a connection
/// per object costs more than a small object's transfer).
#[derive(Default)]
struct Pool {
    idle: RefCell<HashMap<String, Vec<TcpStream>>>,
}

impl Pool {
    fn take(&self, addr: &str) -> Option<TcpStream> {
        self.idle.borrow_mut().get_mut(addr).and_then(|v| v.pop())
    }
    fn give(&self, addr: &str, s: TcpStream) {
        let mut m = self.idle.borrow_mut();
        let v = m.entry(addr.to_string()).or_default();
        if v.len() < REBALANCE_POOL_PER_DEST_MAX {
            v.push(s);
        }
    }
}

fn eligible_targets(s: &Smap) -> Vec<&str> {
    let mut v: Vec<&str> = s
        .tmap
        .values()
        .filter(|t| t.flags & (crate::meta::FLAG_MAINTENANCE | crate::meta::FLAG_DECOMMISSION) == 0)
        .map(|t| t.daemon_id.as_str())
        .collect();
    v.sort_unstable();
    v
}

/// Called on a target after a new Smap was applied: start a rebalance if the target set
/// changed (and remember the old map for get-from-neighbour).
pub fn on_smap_change(node: &Arc<Node>, old: &Smap, new: &Smap) {
    if node.cfg.role != Role::Target {
        return;
    }
    if eligible_targets(old) == eligible_targets(new) && old.version > 0 {
        return;
    }
    let prev = if old.version > 0 {
        old.clone()
    } else {
        // A node that just joined has no previous map: the cluster's previous target set
        // is the new one without us.
        let mut p = new.clone();
        p.tmap.remove(&node.target_id);
        p
    };
    *node.rebalance.prev_smap.lock().expect("prev_smap lock") = Some(Arc::new(prev));
    ensure(node, new.version);
}

/// Start a rebalance on this target (the current executor runs it); its job ID. A newer
/// rebalance supersedes a running one. `id`: the cluster-wide ID (API start) if any.
pub fn start(node: &Arc<Node>, smap_version: i64, id: Option<String>) -> String {
    let job = node.jobs.begin(
        "rebalance",
        Some(id.unwrap_or_else(|| format!("g{smap_version}"))),
        node.self_id(),
        smap_version,
    );
    run_job(node, job)
}

/// Make sure a rebalance for `smap_version` runs or ran cleanly on this target: starts one
/// unless a job for that map is running or finished without errors or abort. The automatic
/// triggers (a new Smap, a (re)join) use this; an API start always starts.
pub fn ensure(node: &Arc<Node>, smap_version: i64) -> Option<String> {
    let job = node.jobs.begin_once(
        "rebalance",
        Some(format!("g{smap_version}")),
        node.self_id(),
        smap_version,
    )?;
    Some(run_job(node, job))
}

fn run_job(node: &Arc<Node>, job: Arc<Job>) -> String {
    let smap_version = job.smap_version;
    tracing::info!(job = %job.id, smap_version, "rebalance started");
    let id = job.id.clone();
    let node = node.clone();
    glommio::spawn_local(async move {
        node.jobs.wait_turn(&job).await;
        let pool = Rc::new(Pool::default());
        // Repeat passes until one moves nothing and fails nothing: failed transfers are
        // retried, and objects PUT on the old owner while a pass ran are caught.
        let passes =
            crate::xact::run_passes(&job, REBALANCE_PASSES_MAX, || run(&node, &job, &pool)).await;
        job.finish();
        job.log_finished(passes);
    })
    .detach();
    id
}

async fn run(node: &Arc<Node>, job: &Arc<Job>, pool: &Rc<Pool>) {
    let me = node.self_id().to_string();
    let buckets: Vec<String> = node.bmd.load().buckets.keys().cloned().collect();
    let sem = Rc::new(glommio::sync::Semaphore::new(
        node.cfg.rebalance_workers.max(1) as u64,
    ));
    let mps = node.mountpaths.load().with_data();
    let pace = crate::xact::Pace::new(node.cfg.rebalance_max_rate);
    for bucket in buckets {
        for mp in &mps {
            let mut after = String::new();
            loop {
                if job.is_aborted() {
                    return;
                }
                let batch =
                    match crate::xact::list_batch(mp, &bucket, &after, REBALANCE_BATCH).await {
                        Ok(b) => b,
                        Err(e) => {
                            tracing::error!(bucket = %bucket, error = %e, "rebalance walk failed");
                            job.errors.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                    };
                if batch.is_empty() {
                    break;
                }
                after = batch.last().expect("non-empty").name.clone();
                let smap = node.smap.load();
                let mut tasks = Vec::new();
                for e in batch {
                    if job.is_aborted() {
                        break;
                    }
                    let Some((owner_id, url)) = owner(&smap, &bucket, &e.name) else {
                        continue;
                    };
                    if owner_id == me {
                        continue;
                    }
                    pace.wait().await;
                    let permit = sem
                        .acquire_static_permit(1)
                        .await
                        .expect("semaphore never closed");
                    let (node, job, bucket, mp, pool) = (
                        node.clone(),
                        job.clone(),
                        bucket.clone(),
                        mp.clone(),
                        pool.clone(),
                    );
                    tasks.push(glommio::spawn_local(async move {
                        let _permit = permit;
                        match send(&node, &pool, &bucket, &mp, &e.name, &url).await {
                            Ok(bytes) => {
                                job.objects.fetch_add(1, Ordering::Relaxed);
                                job.bytes.fetch_add(bytes, Ordering::Relaxed);
                            }
                            Err(err) => {
                                job.errors.fetch_add(1, Ordering::Relaxed);
                                tracing::warn!(bucket = %bucket, object = %e.name, error = %err, "rebalance transfer failed; will retry on the next pass");
                            }
                        }
                    }));
                }
                for t in tasks {
                    t.await;
                }
            }
        }
    }
}

/// HRW owner (target ID, owning core URL) of an object in `smap`.
fn owner(smap: &Smap, bucket: &str, object: &str) -> Option<(String, String)> {
    crate::proxy::owner(smap, bucket, object)
}

/// Stream one object to its new owner and remove the local copy once it is acknowledged.
async fn send(
    node: &Arc<Node>,
    pool: &Pool,
    bucket: &str,
    mp: &Mountpath,
    object: &str,
    base_url: &str,
) -> Result<u64, String> {
    let bck = Bck::ais(bucket);
    let rd = match ObjectReader::open(mp, &bck, object).await {
        Ok(rd) => rd,
        // Deleted (or already moved) since the walk listed it: nothing to do.
        Err(engine::Error::NotFound(_)) => return Ok(0),
        Err(e) => return Err(e.to_string()),
    };
    let lom = rd.lom.clone();
    let (ep, _) =
        net::client::parse_http_url(&format!("{base_url}/")).map_err(|e| e.to_string())?;
    let addr = format!("{}:{}", ep.host, ep.port);
    let mut up = match pool.take(&addr) {
        Some(s) => s,
        None => match TcpStream::connect_timeout(
            addr.as_str(),
            Duration::from_millis(crate::forward::FORWARD_CONNECT_TIMEOUT_MS),
        )
        .await
        {
            Ok(s) => {
                let t = Some(Duration::from_millis(REBALANCE_IO_TIMEOUT_MS));
                let _ = s.set_read_timeout(t);
                let _ = s.set_write_timeout(t);
                let _ = s.set_nodelay(true);
                s
            }
            Err(e) => {
                rd.close().await;
                return Err(format!("connect {addr}: {e}"));
            }
        },
    };
    let mut head = format!(
        "PUT /v1/objects/{bucket}/{}?provider=ais&rebalance=true&pid={}&utm={} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n",
        net::http::percent_encode_path(object),
        node.self_id(),
        crate::time::base36(crate::time::now_unix_ns() as u64),
        lom.size
    );
    if !lom.cksum_type.is_empty() {
        head.push_str(&format!(
            "Ais-Checksum-Type: {}\r\nAis-Checksum-Value: {}\r\n",
            lom.cksum_type, lom.cksum_value
        ));
    }
    if !lom.version.is_empty() {
        head.push_str(&format!("Ais-Version: {}\r\n", lom.version));
    }
    for (k, v) in &lom.custom {
        head.push_str(&format!("Ais-Custom-Md: {k}={v}\r\n"));
    }
    head.push_str("\r\n");
    if let Err(e) = up.write_all(head.as_bytes()).await {
        rd.close().await;
        return Err(format!("send to {addr}: {e}"));
    }
    let size = lom.size;
    if size > 0 {
        let mut s = rd.stream(0, size);
        let mut sent = 0u64;
        while sent < size {
            let b = match s.get_buffer_aligned(READ_BUFFER_BYTES as u64).await {
                Ok(b) if !b.is_empty() => b,
                Ok(_) => {
                    let _ = s.close().await;
                    return Err("local copy shorter than its metadata".into());
                }
                Err(e) => {
                    let _ = s.close().await;
                    return Err(format!("read: {e}"));
                }
            };
            if let Err(e) = up.write_all(&b).await {
                let _ = s.close().await;
                return Err(format!("send to {addr}: {e}"));
            }
            sent += b.len() as u64;
        }
        let _ = s.close().await;
    } else {
        rd.close().await;
    }
    let mut resp = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    let (status, reusable) = loop {
        let n = up
            .read(&mut buf)
            .await
            .map_err(|e| format!("read reply from {addr}: {e}"))?;
        if n == 0 {
            return Err(format!("{addr} closed without a reply"));
        }
        resp.extend_from_slice(&buf[..n]);
        let mut rh = net::client::ResponseHead::default();
        match net::client::parse_response_head(&resp, &mut rh, false) {
            Ok(Some(used)) => {
                let empty = matches!(
                    rh.framing,
                    net::client::Framing::None | net::client::Framing::Length(0)
                );
                break (rh.status, rh.keep_alive && empty && used == resp.len());
            }
            Ok(None) if resp.len() < 32 * 1024 => continue,
            Ok(None) => return Err(format!("{addr}: oversized reply head")),
            Err(e) => return Err(format!("{addr}: {e}")),
        }
    };
    if status != 200 {
        return Err(format!(
            "{addr} answered {status}: {}",
            String::from_utf8_lossy(&resp)
        ));
    }
    if reusable {
        pool.give(&addr, up);
    }
    // The new owner has it durably: remove ours.
    match engine::object::delete(mp, &bck, object) {
        Ok(()) | Err(engine::Error::NotFound(_)) => {}
        Err(e) => return Err(format!("removing moved object: {e}")),
    }
    Ok(size)
}

/// Where else an object may be during a rebalance: its owner by the current Smap if that is
/// another target (a client redirected under the old map reaches the old owner after the
/// object moved on), else its owner by the previous Smap (the new owner before the object
/// arrived). `None` if both are this target.
fn neighbor_url(core: &Core, bucket: &str, object: &str) -> Option<String> {
    let node = &core.node;
    if node.cfg.role != Role::Target {
        return None;
    }
    if let Some((id, url)) = owner(&core.smap(), bucket, object) {
        if id != node.target_id {
            return Some(url);
        }
    }
    let prev = node
        .rebalance
        .prev_smap
        .lock()
        .expect("prev_smap lock")
        .clone()?;
    let (id, url) = owner(&prev, bucket, object)?;
    (id != node.target_id).then_some(url)
}

/// Most time a miss waits for this target's join to complete (see [`wait_joined`]).
pub const GFN_JOIN_WAIT_MS: u64 = 2000;

/// A proxy redirects to a target as soon as the primary added it to the Smap, which can be
/// before the target applied that Smap (and learned the previous one, where its objects still
/// are). A miss in that window waits for the join to complete instead of answering 404.
async fn wait_joined(core: &Core) {
    let node = &core.node;
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

/// How a forwarded get-from-neighbour request is marked, so the neighbour does not forward
/// it again.
#[derive(Clone, Copy)]
pub enum GfnMark {
    /// Native API: `gfn=true` in the query.
    Query,
    /// S3: the [`HDR_GFN`] header (a query parameter would break the client's SigV4
    /// signature; an unsigned header does not).
    Header,
}

/// Header that marks an S3 request forwarded by get-from-neighbour.
pub const HDR_GFN: &str = "Ais-Gfn";

/// GET/HEAD missed locally: during a rebalance the object may still (or already) be on
/// another target. `Ok(None)`: the neighbour does not have it either (or there is none);
/// the caller looks on its own disk once more, since the object may have arrived while the
/// neighbour was asked, and otherwise answers 404. S3 requests (`GfnMark::Header`) are
/// forwarded unchanged plus [`HDR_GFN`], so the neighbour verifies the client's signature.
pub async fn get_from_neighbor(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    bucket: &str,
    object: &str,
    mark: GfnMark,
) -> Result<Option<Outcome>, ApiError> {
    let forwarded = match mark {
        GfnMark::Query => req.q_true("gfn"),
        GfnMark::Header => req.head.header("ais-gfn").is_some(),
    };
    if forwarded {
        return Ok(None);
    }
    wait_joined(core).await;
    let Some(url) = neighbor_url(core, bucket, object) else {
        return Ok(None);
    };
    match mark {
        GfnMark::Query => {
            req.head.query = if req.head.query.is_empty() {
                "gfn=true".into()
            } else {
                format!("{}&gfn=true", req.head.query)
            }
        }
        GfnMark::Header => req
            .head
            .headers
            .push((HDR_GFN.to_string(), "true".to_string())),
    }
    let yield_404 = matches!(req.head.body, net::http::BodyKind::Empty);
    crate::forward::forward_or_404(conn, req, &url, &core.node.target_id, yield_404).await
}

/// DELETE: also delete on the previous owner (so rebalance cannot bring the object back).
/// True if the previous owner had it.
pub async fn delete_on_previous_owner(
    core: &Rc<Core>,
    req: &Req,
    bucket: &str,
    object: &str,
) -> bool {
    if req.q_true("gfn") {
        return false;
    }
    wait_joined(core).await;
    let Some(base) = neighbor_url(core, bucket, object) else {
        return false;
    };
    let url = format!(
        "{base}/v1/objects/{bucket}/{}?provider=ais&gfn=true&pid={}&utm={}",
        net::http::percent_encode_path(object),
        core.node.target_id,
        crate::time::base36(crate::time::now_unix_ns() as u64)
    );
    matches!(crate::membership::call("DELETE", &url, &[], b"").await, Ok(r) if r.status == 200)
}
