//! Global rebalance (target side).
//!
//! When the set of targets in the Smap changes, each target walks its mountpaths and sends
//! every object that HRW now places on another target to that target's owning core
//! (`PUT ...?rebalance=true` with the object's checksum, version and custom metadata); the
//! local copy is removed only after the new owner answered 200, i.e. has it durably. The
//! receiver never overwrites a copy it already has (a client PUT after the map change is
//! newer). Meanwhile reads and deletes find objects through get-from-neighbour (`crate::gfn`).
//! Rebalance is idempotent: a target runs a pass whenever it joins (and so after a
//! restart), which finishes an interrupted run.
//!
//! Jobs ("xactions", see xact.rs) are listed at `GET /v1/daemon?what=jobs` (per target)
//! and `GET /v1/cluster?what=jobs` (a proxy gathers all targets). Transfers reuse
//! keep-alive connections per destination; at most `--rebalance-workers` objects are in
//! flight per target.

use crate::daemon::Node;
use crate::error::Error;
use crate::meta::{placement, Smap};
use crate::node::Role;
use crate::xact::Job;
use engine::layout::Bck;
use engine::mountpath::Mountpath;
use engine::object::{ObjectReader, READ_BUFFER_BYTES};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use net::time;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
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

/// Deadline to connect to a new owner.
pub const REBALANCE_CONNECT_TIMEOUT_MS: u64 = 5_000;
/// Largest reply head from a new owner.
pub const REBALANCE_REPLY_HEAD_BYTES_MAX: usize = 32 * 1024;

/// Keep-alive connections to new owners, reused across objects of one job (a connection
/// per object costs more than a small object's transfer).
#[derive(Default)]
struct Pool {
    idle: RefCell<HashMap<String, Vec<TcpStream>>>,
}

impl Pool {
    fn take(&self, addr: &str) -> Option<TcpStream> {
        self.idle
            .borrow_mut()
            .get_mut(addr)
            .and_then(std::vec::Vec::pop)
    }
    fn give(&self, addr: &str, s: TcpStream) {
        let mut m = self.idle.borrow_mut();
        let v = m.entry(addr.to_string()).or_default();
        if v.len() < REBALANCE_POOL_PER_DEST_MAX {
            v.push(s);
        }
    }
}

/// Called on a target after a new Smap was applied: start a rebalance if the target set
/// changed (and remember the old map for get-from-neighbour).
pub fn on_smap_change(node: &Arc<Node>, old: &Smap, new: &Smap) {
    if node.cfg.role != Role::Target {
        return;
    }
    if old.active_target_ids() == new.active_target_ids() && old.version > 0 {
        return;
    }
    crate::gfn::remember_previous(node, old, new);
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
                    let Some(owner) = placement::owner(&smap, &bucket, &e.name) else {
                        continue;
                    };
                    if owner.target_id == me {
                        continue;
                    }
                    let url = owner.url;
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

/// Stream one object to its new owner and remove the local copy once it is acknowledged.
async fn send(
    node: &Arc<Node>,
    pool: &Pool,
    bucket: &str,
    mp: &Mountpath,
    object: &str,
    base_url: &str,
) -> Result<u64, Error> {
    let bck = Bck::ais(bucket);
    let rd = match ObjectReader::open(mp, &bck, object).await {
        Ok(rd) => rd,
        // Deleted (or already moved) since the walk listed it: nothing to do.
        Err(engine::Error::NotFound(_)) => return Ok(0),
        Err(e) => return Err(Error::Internal(e.to_string())),
    };
    let lom = rd.lom.clone();
    let (ep, _) = net::client::parse_http_url(&format!("{base_url}/"))
        .map_err(|e| Error::PeerUnreachable(e.to_string()))?;
    let addr = format!("{}:{}", ep.host, ep.port);
    let mut up = match pool.take(&addr) {
        Some(s) => s,
        None => match TcpStream::connect_timeout(
            addr.as_str(),
            Duration::from_millis(REBALANCE_CONNECT_TIMEOUT_MS),
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
                return Err(Error::PeerUnreachable(format!("connect {addr}: {e}")));
            }
        },
    };
    let target = format!(
        "/v1/objects/{bucket}/{}?provider=ais&rebalance=true&pid={}&utm={}",
        net::http::percent_encode_path(object),
        node.self_id(),
        time::base36(time::now_unix_ns() as u64)
    );
    let custom: Vec<String> = lom.custom.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut headers: Vec<(&str, &str)> = Vec::with_capacity(3 + custom.len());
    if !lom.cksum_type.is_empty() {
        headers.push(("Ais-Checksum-Type", &lom.cksum_type));
        headers.push(("Ais-Checksum-Value", &lom.cksum_value));
    }
    if !lom.version.is_empty() {
        headers.push(("Ais-Version", &lom.version));
    }
    for kv in &custom {
        headers.push(("Ais-Custom-Md", kv));
    }
    let mut head = Vec::with_capacity(512);
    net::client::write_request_head(&mut head, "PUT", &addr, &target, &headers, lom.size);
    if let Err(e) = up.write_all(&head).await {
        rd.close().await;
        return Err(Error::PeerUnreachable(format!("send to {addr}: {e}")));
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
                    return Err(Error::Internal(
                        "local copy shorter than its metadata".into(),
                    ));
                }
                Err(e) => {
                    let _ = s.close().await;
                    return Err(Error::Internal(format!("read: {e}")));
                }
            };
            if let Err(e) = up.write_all(&b).await {
                let _ = s.close().await;
                return Err(Error::PeerUnreachable(format!("send to {addr}: {e}")));
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
            .map_err(|e| Error::PeerUnreachable(format!("read reply from {addr}: {e}")))?;
        if n == 0 {
            return Err(Error::PeerUnreachable(format!(
                "{addr} closed without a reply"
            )));
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
            Ok(None) if resp.len() < REBALANCE_REPLY_HEAD_BYTES_MAX => continue,
            Ok(None) => {
                return Err(Error::PeerUnreachable(format!(
                    "{addr}: oversized reply head"
                )))
            }
            Err(e) => return Err(Error::PeerUnreachable(format!("{addr}: {e}"))),
        }
    };
    if status != 200 {
        return Err(Error::Peer {
            status,
            message: format!("{addr}: {}", String::from_utf8_lossy(&resp)),
        });
    }
    if reusable {
        pool.give(&addr, up);
    }
    // The new owner has it durably: remove ours.
    match engine::object::delete(mp, &bck, object) {
        Ok(()) | Err(engine::Error::NotFound(_)) => {}
        Err(e) => return Err(Error::Internal(format!("removing moved object: {e}"))),
    }
    Ok(size)
}
