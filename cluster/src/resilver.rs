//! Local resilver: after a mountpath change, move every object to the mountpath HRW now
//! names on this target. Mountpaths on the same file system move by rename (never replacing
//! a newer copy); across file systems an object is copied with its metadata (checksum
//! verified, version, custom metadata and mtime kept), committed without replacing, and only
//! then removed from its old mountpath. Like rebalance, passes repeat until one moves and
//! fails nothing; a clean finish turns leaving mountpaths into disabled or detached ones and
//! clears the pending mark (persisted, so a restarted node resumes).

use crate::daemon::Node;
use crate::error::Error;
use crate::meta::placement;
use crate::mountpaths::FinishError;
use crate::xact::Job;
use engine::cksum::Cksum;
use engine::layout::Bck;
use engine::mountpath::Mountpath;
use engine::object::{ObjectReader, ObjectWriter, PutOpts, READ_BUFFER_BYTES};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Names listed per directory-walk batch.
pub const RESILVER_BATCH: usize = 1000;
/// Passes per resilver job.
pub const RESILVER_PASSES_MAX: u32 = 20;
/// Renames per blocking call (see `run`).
pub const RESILVER_RENAME_CHUNK: usize = 32;

/// Start a resilver on this node (the current executor runs it); its job ID.
pub fn start(node: &Arc<Node>) -> String {
    node.resilvering.store(true, Ordering::Release);
    let job = node
        .jobs
        .begin("resilver", None, node.self_id(), node.smap.load().version);
    tracing::info!(job = %job.id, "resilver started");
    let id = job.id.clone();
    let node = node.clone();
    glommio::spawn_local(async move {
        node.jobs.wait_turn(&job).await;
        let passes = crate::xact::run_passes(&job, RESILVER_PASSES_MAX, || run(&node, &job)).await;
        let clean = !job.is_aborted() && job.errors.load(Ordering::Relaxed) == 0;
        if clean && node.jobs.is_newest(&job) {
            // Leaving mountpaths are empty now: finish their detach/disable.
            let mut tries = 0;
            loop {
                match crate::mountpaths::finish_resilver(&node).await {
                    Ok(()) => break,
                    Err(FinishError::NotEmpty) => {
                        // Objects arrived behind the walk: the job counts it as an error
                        // and the next resilver moves them.
                        tracing::info!("resilver: a leaving mountpath still holds objects");
                        job.errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Err(e @ FinishError::Busy) if tries < 50 && !job.is_aborted() => {
                        tries += 1;
                        tracing::info!(error = %e, "resilver: finishing the mountpath change later");
                        glommio::timer::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "resilver: could not finish the mountpath change");
                        job.errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
        }
        job.finish();
        job.log_finished(passes);
        if node.jobs.is_newest(&job) {
            // Objects changed mountpaths: their mirror copies follow (and objects lost with a
            // failed mountpath come back from their copies).
            let mirrored: Vec<String> = node
                .bmd
                .load()
                .buckets
                .iter()
                .filter(|(_, p)| p.mirror.enabled)
                .map(|(b, _)| b.clone())
                .collect();
            for b in mirrored {
                crate::mirror::start(&node, &b, None);
            }
        }
    })
    .detach();
    id
}

async fn run(node: &Arc<Node>, job: &Arc<Job>) {
    run_pass(node, job).await;
    if node.cfg.fsync {
        // Make the pass's renames durable at once (one syncfs per mountpath).
        let mps = node.mountpaths.load().with_data();
        let failed = glommio::executor()
            .spawn_blocking(move || {
                mps.iter()
                    .filter_map(|m| {
                        let d = std::fs::File::open(&m.path).ok()?;
                        rustix::fs::syncfs(&d)
                            .err()
                            .map(|e| format!("{}: {e}", m.path_str))
                    })
                    .collect::<Vec<String>>()
            })
            .await;
        for e in failed {
            tracing::error!(error = %e, "resilver: syncfs failed");
            job.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn run_pass(node: &Arc<Node>, job: &Arc<Job>) {
    let set = node.mountpaths.load();
    let buckets: Vec<String> = node.bmd.load().buckets.keys().cloned().collect();
    let sem = Rc::new(glommio::sync::Semaphore::new(
        node.effective_config().rebalance.workers.max(1) as u64,
    ));
    let fsync = node.cfg.fsync;
    let pace = crate::xact::Pace::new(node.effective_config().rebalance.max_rate);
    let since = net::time::now_unix_ns();
    for bucket in buckets {
        for src in set.with_data() {
            let mut after = String::new();
            loop {
                if job.is_aborted() {
                    return;
                }
                let batch = match crate::xact::list_batch(
                    &src,
                    &bucket,
                    &after,
                    RESILVER_BATCH,
                    since,
                )
                .await
                {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::error!(bucket = %bucket, mountpath = %src.path_str, error = %e, "resilver walk failed");
                        job.errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                };
                if batch.is_empty() {
                    break;
                }
                after = batch.last().expect("non-empty").name.clone();
                // Same file system: renames, in one blocking call per batch.
                let mut renames: Vec<(String, u64, Arc<Mountpath>)> = Vec::new();
                let mut copies: Vec<(String, Arc<Mountpath>)> = Vec::new();
                for e in batch {
                    let Some((dst, _)) = set.choose(placement::object_digest(&bucket, &e.name))
                    else {
                        continue;
                    };
                    if dst.path_str == src.path_str {
                        continue;
                    }
                    if dst.dev == src.dev {
                        renames.push((e.name, e.size, dst));
                    } else {
                        copies.push((e.name, dst));
                    }
                }
                if !renames.is_empty() && pace.limited() {
                    // Throttled: one rename per turn, on the reactor (a metadata syscall).
                    let bck = Bck::ais(&bucket);
                    for (name, size, dst) in std::mem::take(&mut renames) {
                        if job.is_aborted() {
                            return;
                        }
                        pace.wait().await;
                        let r = engine::object::move_local(&src, &dst, &bck, &name, false);
                        count_move(job, &bucket, &name, renamed(size, r));
                    }
                }
                // Small chunks: the core's blocking thread also runs glommio's own renames
                // and removes for foreground PUTs, which must not queue behind a long batch.
                // No per-object directory fsync: a rename is atomic (the object is at the
                // source or the destination after a crash), and the pass ends with syncfs.
                while !renames.is_empty() {
                    let chunk: Vec<_> = renames
                        .drain(..renames.len().min(RESILVER_RENAME_CHUNK))
                        .collect();
                    let (b, s2) = (bucket.clone(), src.clone());
                    let results = glommio::executor()
                        .spawn_blocking(move || {
                            let bck = Bck::ais(&b);
                            chunk
                                .into_iter()
                                .map(|(name, size, dst)| {
                                    let r =
                                        engine::object::move_local(&s2, &dst, &bck, &name, false);
                                    (name, size, r)
                                })
                                .collect::<Vec<_>>()
                        })
                        .await;
                    for (name, size, r) in results {
                        count_move(job, &bucket, &name, renamed(size, r));
                    }
                }
                let mut tasks = Vec::new();
                for (name, dst) in copies {
                    if job.is_aborted() {
                        break;
                    }
                    pace.wait().await;
                    let permit = sem
                        .acquire_static_permit(1)
                        .await
                        .expect("semaphore never closed");
                    let (job, bucket, src) = (job.clone(), bucket.clone(), src.clone());
                    tasks.push(glommio::spawn_local(async move {
                        let _permit = permit;
                        let r = copy(&src, &dst, &bucket, &name, fsync).await;
                        count_move(&job, &bucket, &name, r);
                    }));
                }
                for t in tasks {
                    t.await;
                }
            }
        }
    }
}

/// Account one move (rename or copy) in the job: `Some(bytes)` moved, `None` nothing to
/// move (gone, or an older copy dropped), an error is retried on the next pass.
fn count_move(job: &Job, bucket: &str, name: &str, r: Result<Option<u64>, impl std::fmt::Display>) {
    match r {
        Ok(Some(bytes)) => {
            job.objects.fetch_add(1, Ordering::Relaxed);
            job.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
        Ok(None) => {}
        Err(e) => {
            job.errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(bucket = %bucket, object = %name, error = %e, "resilver move failed; will retry on the next pass");
        }
    }
}

/// A rename's outcome as [`count_move`] takes it.
fn renamed(size: u64, r: engine::Result<engine::object::Moved>) -> engine::Result<Option<u64>> {
    r.map(|m| matches!(m, engine::object::Moved::Moved).then_some(size))
}

async fn copy(
    src: &Mountpath,
    dst: &Mountpath,
    bucket: &str,
    object: &str,
    fsync: bool,
) -> Result<Option<u64>, Error> {
    let bck = Bck::ais(bucket);
    let rd = match ObjectReader::open(src, &bck, object).await {
        Ok(rd) => rd,
        Err(engine::Error::NotFound(_)) => return Ok(None),
        Err(e) => return Err(Error::Internal(e.to_string())),
    };
    let lom = rd.lom.clone();
    let mut replace = false;
    if let Ok(have) = engine::object::read_lom_path(&engine::object::locate(dst, &bck, object)) {
        if have.mtime_ns >= lom.mtime_ns {
            rd.close().await;
            return drop_source(src, &bck, object).map(|_| None);
        }
        replace = true;
    }
    // The copy keeps the stored checksum (of whatever type) and is verified against it.
    let stored = if lom.cksum_type.is_empty() {
        None
    } else {
        match Cksum::parse(&lom.cksum_type, &lom.cksum_value) {
            Ok(c) => Some(c),
            Err(e) => {
                rd.close().await;
                return Err(Error::Internal(format!(
                    "{bucket}/{object}: stored checksum: {e}"
                )));
            }
        }
    };
    let opts = PutOpts {
        cksum_type: if lom.cksum_type.is_empty() {
            "none".into()
        } else {
            lom.cksum_type.clone()
        },
        client_cksum: stored,
        skip_vc: false,
        custom: lom.custom.clone(),
        versioning: false,
        fsync,
        keep_version: Some(lom.version.clone()),
        keep_mtime_ns: Some(lom.mtime_ns),
        no_replace: !replace,
        require: None,
    };
    let mut w = match ObjectWriter::create(dst, &bck, object).await {
        Ok(w) => w,
        Err(e) => {
            rd.close().await;
            return Err(Error::Internal(e.to_string()));
        }
    };
    if let Err(e) = w.set_cksums(&opts) {
        rd.close().await;
        w.abort().await;
        return Err(Error::Internal(e.to_string()));
    }
    w.size_hint(lom.size);
    if lom.size > 0 {
        let mut s = rd.stream(0, lom.size);
        let mut done = 0u64;
        while done < lom.size {
            let b = match s.get_buffer_aligned(READ_BUFFER_BYTES as u64).await {
                Ok(b) if !b.is_empty() => b,
                Ok(_) => {
                    let _ = s.close().await;
                    w.abort().await;
                    return Err(Error::Internal("source shorter than its metadata".into()));
                }
                Err(e) => {
                    let _ = s.close().await;
                    w.abort().await;
                    return Err(Error::Internal(format!("read: {e}")));
                }
            };
            if let Err(e) = w.write(&b).await {
                let _ = s.close().await;
                w.abort().await;
                return Err(Error::Internal(e.to_string()));
            }
            done += b.len() as u64;
        }
        let _ = s.close().await;
    } else {
        rd.close().await;
    }
    match w.commit(&opts).await {
        Ok(_) => {}
        // A client PUT landed there meanwhile: it is newer.
        Err(engine::Error::Exists(_)) => return drop_source(src, &bck, object).map(|_| None),
        Err(e) => return Err(Error::Internal(e.to_string())),
    }
    drop_source(src, &bck, object)?;
    Ok(Some(lom.size))
}

fn drop_source(src: &Mountpath, bck: &Bck, object: &str) -> Result<(), Error> {
    match engine::object::delete(src, bck, object) {
        Ok(()) | Err(engine::Error::NotFound(_)) => Ok(()),
        Err(e) => Err(Error::Internal(format!("removing the moved source: {e}"))),
    }
}
