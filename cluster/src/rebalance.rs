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
use crate::transfer;
use crate::xact::Job;
use engine::layout::Bck;
use engine::mountpath::Mountpath;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Objects in flight per rebalance by default (bounded so foreground traffic keeps its
/// latency); `rebalance.workers` of the cluster config (`--rebalance-workers`) changes it.
pub const REBALANCE_CONCURRENCY_DEFAULT: usize = crate::meta::config::REBALANCE_WORKERS_DEFAULT;
/// Names listed per directory-walk batch.
pub const REBALANCE_BATCH: usize = 1000;
/// Passes per rebalance job (each pass after the first retries what failed or arrived late).
pub const REBALANCE_PASSES_MAX: u32 = 20;

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
    if old.rebalance_target_ids() == new.rebalance_target_ids() && old.version > 0 {
        // A target shut down for a while, or came back from it (`meta::FLAG_SHUTDOWN`):
        // placement changed, but its objects stay on it; get-from-neighbour covers what
        // was written elsewhere meanwhile.
        tracing::info!(
            smap_version = new.version,
            "placement changed by a temporary shutdown: no rebalance"
        );
        return;
    }
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
        let pool = Rc::new(transfer::Pool::default());
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

async fn run(node: &Arc<Node>, job: &Arc<Job>, pool: &Rc<transfer::Pool>) {
    let me = node.self_id().to_string();
    let buckets: Vec<String> = node.bmd.load().buckets.keys().cloned().collect();
    let sem = Rc::new(glommio::sync::Semaphore::new(
        node.effective_config().rebalance.workers.max(1) as u64,
    ));
    let mps = node.mountpaths.load().with_data();
    let pace = crate::xact::Pace::new(node.effective_config().rebalance.max_rate);
    let since = net::time::now_unix_ns();
    for bucket in buckets {
        for mp in &mps {
            let mut after = String::new();
            loop {
                if job.is_aborted() {
                    return;
                }
                let batch = match crate::xact::list_batch(
                    mp,
                    &bucket,
                    &after,
                    REBALANCE_BATCH,
                    since,
                )
                .await
                {
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
                        match move_object(&node, &pool, &bucket, &mp, &e.name, &url).await {
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
/// Returns the bytes moved (0 if the object went away since the walk listed it).
async fn move_object(
    node: &Node,
    pool: &transfer::Pool,
    bucket: &str,
    mp: &Mountpath,
    object: &str,
    base_url: &str,
) -> Result<u64, Error> {
    let to = transfer::Dest {
        base_url,
        bucket,
        object,
    };
    let Some(size) =
        transfer::send(node, pool, mp, bucket, object, &to, transfer::Mode::Move).await?
    else {
        return Ok(0);
    };
    // The new owner has it durably: remove ours.
    // Its mirror copies go with it (the new owner makes its own).
    let removed = crate::mirror::remove_copies(&node.mountpaths.load(), bucket, object)
        .and_then(|()| engine::object::delete(mp, &Bck::ais(bucket), object));
    match removed {
        Ok(()) | Err(engine::Error::NotFound(_)) => Ok(size),
        Err(e) => Err(Error::Internal(format!("removing moved object: {e}"))),
    }
}
