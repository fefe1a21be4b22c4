//! N-way mirroring on a target (AIS's `mirror` bucket props): an object of a mirrored bucket
//! has `copies` replicas on distinct mountpaths of its target, the object itself on its HRW
//! mountpath (rank 0) and one copy on each of HRW ranks 1..copies (engine::mirror stores
//! them). This module decides where copies go, makes them after a PUT, removes them with the
//! object, runs the `make-n-copies` job (enable, change, disable, repair after a mountpath
//! change), balances GETs across copies, and restores a lost or corrupted object from a good
//! copy (self-healing).

use crate::daemon::Node;
use crate::meta::{placement, Bprops};
use crate::node::mpset::MpSet;
use crate::xact::Job;
use engine::layout::Bck;
use engine::mountpath::Mountpath;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Names listed per directory-walk batch of the job.
pub const MIRROR_BATCH: usize = 500;

/// How many replicas (the object included) a bucket's objects should have.
pub fn copies_wanted(props: &Bprops) -> usize {
    if props.mirror.enabled {
        props.mirror.copies.max(1) as usize
    } else {
        1
    }
}

/// The available mountpaths that hold the copies of `object`: HRW ranks 1..n (fewer when the
/// target has fewer mountpaths).
pub fn copy_mountpaths(set: &MpSet, bucket: &str, object: &str, n: usize) -> Vec<Arc<Mountpath>> {
    if n <= 1 {
        return Vec::new();
    }
    let d = placement::object_digest(bucket, object);
    engine::hrw::rank(d, set.avail.iter().map(|m| m.digest))
        .into_iter()
        .skip(1)
        .take(n - 1)
        .map(|i| set.avail[i].clone())
        .collect()
}

/// The mountpaths that hold a replica of `object`, which is on `mp` with metadata `lom`: `mp`
/// first, then each of the bucket's copy mountpaths whose copy holds the same stored object
/// (AIS's `lom.MirrorPaths()`; their number is its `NumCopies`). Blocking: a metadata read per
/// copy, and only for a mirrored bucket.
pub fn replica_mountpaths(
    set: &MpSet,
    props: Option<&Bprops>,
    mp: &Mountpath,
    bucket: &str,
    object: &str,
    lom: &engine::lom::Lom,
) -> Vec<String> {
    let mut out = vec![mp.path_str.clone()];
    let wanted = props.map_or(1, copies_wanted);
    let bck = Bck::ais(bucket);
    for m in copy_mountpaths(set, bucket, object, wanted) {
        if m.path != mp.path
            && engine::mirror::copy_lom(&m, &bck, object)
                .is_ok_and(|c| engine::mirror::same_object(lom, &c))
        {
            out.push(m.path_str.clone());
        }
    }
    out
}

/// Counters of mirroring on this node: copies made and removed, objects restored from a
/// copy, corrupted replicas found (exposed with the node's stats).
#[derive(Debug, Default)]
pub struct MirrorStats {
    pub copies_made: AtomicU64,
    pub copies_removed: AtomicU64,
    pub restored: AtomicU64,
    pub bad_replicas: AtomicU64,
    pub copy_errors: AtomicU64,
}

/// This process's mirroring counters.
pub static STATS: MirrorStats = MirrorStats {
    copies_made: AtomicU64::new(0),
    copies_removed: AtomicU64::new(0),
    restored: AtomicU64::new(0),
    bad_replicas: AtomicU64::new(0),
    copy_errors: AtomicU64::new(0),
};

/// Corrupted replicas found, per mountpath.
static BAD_BY_MP: crate::stats::PerMountpath = crate::stats::PerMountpath::new();

/// Count a corrupted replica found on `mountpath`.
pub fn count_bad(mountpath: &str) {
    STATS.bad_replicas.fetch_add(1, Ordering::Relaxed);
    BAD_BY_MP.bump(mountpath);
}

/// The counters as JSON (`what=node_status`).
pub fn stats_json() -> serde_json::Value {
    let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let by_mp = BAD_BY_MP.json();
    serde_json::json!({
        "mirror.bad_replicas_by_mountpath": by_mp,
        "mirror.copies_made": g(&STATS.copies_made),
        "mirror.copies_removed": g(&STATS.copies_removed),
        "mirror.restored": g(&STATS.restored),
        "mirror.bad_replicas": g(&STATS.bad_replicas),
        "mirror.copy_errors": g(&STATS.copy_errors),
    })
}

/// After a PUT committed `object` on `mp`: make its copies (blocking). A copy that fails on
/// its destination is logged and counted, not a failed PUT (the object is stored); a stale
/// copy it could not replace is removed, so a read never mistakes it for the object. The
/// copies made; an error only if the object itself is gone meanwhile (its mountpath lost it:
/// the PUT must not be acknowledged).
pub fn after_put(
    set: &MpSet,
    mp: &Mountpath,
    bucket: &str,
    object: &str,
    copies: usize,
    fsync: bool,
) -> engine::Result<usize> {
    let bck = Bck::ais(bucket);
    let src = engine::object::locate(mp, &bck, object);
    let mut made = 0;
    for dst in copy_mountpaths(set, bucket, object, copies) {
        if dst.path == mp.path {
            continue;
        }
        match engine::mirror::make_copy(&src, &dst, &bck, object, fsync, false) {
            Ok(_) => {
                made += 1;
                STATS.copies_made.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                STATS.copy_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(bucket, object, mountpath = %dst.path_str, error = %e, "making a mirror copy failed");
                let _ = engine::mirror::remove_copy(&dst, &bck, object);
                if !engine::object::exists(mp, &bck, object) {
                    return Err(engine::Error::Io {
                        op: "making mirror copies",
                        path: src,
                        source: std::io::Error::other(
                            "the object vanished from its mountpath before its copies were made",
                        ),
                    });
                }
            }
        }
    }
    Ok(made)
}

/// Remove every copy of `object` on this target (every mountpath that may hold data);
/// blocking. Called before the object itself is removed, so a crash in between leaves an
/// object without copies, never copies without their object.
pub fn remove_copies(set: &MpSet, bucket: &str, object: &str) -> engine::Result<()> {
    let bck = Bck::ais(bucket);
    for m in set.with_data() {
        if engine::mirror::remove_copy(&m, &bck, object)? {
            STATS.copies_removed.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

thread_local! {
    /// Round-robin position of GETs balanced across copies, per core.
    static NEXT_REPLICA: Cell<usize> = const { Cell::new(0) };
}

/// The file a balanced GET of a mirrored object should read: the next replica in turn (the
/// object or one of its copies), if that copy holds the same stored object as the one on
/// `mp`; `None`: read the object itself. Blocking (two metadata reads when a copy is chosen).
pub fn pick_replica(
    set: &MpSet,
    mp: &Mountpath,
    bucket: &str,
    object: &str,
    copies: usize,
) -> Option<std::path::PathBuf> {
    if copies <= 1 {
        return None;
    }
    let k = NEXT_REPLICA.with(|c| {
        let k = c.get();
        c.set(k.wrapping_add(1));
        k
    }) % copies;
    if k == 0 {
        return None;
    }
    let dst = copy_mountpaths(set, bucket, object, copies)
        .into_iter()
        .nth(k - 1)?;
    let bck = Bck::ais(bucket);
    let main = engine::object::read_lom_path(&engine::object::locate(mp, &bck, object)).ok()?;
    let copy = engine::mirror::copy_lom(&dst, &bck, object).ok()?;
    engine::mirror::same_object(&main, &copy)
        .then(|| engine::mirror::copy_fqn(&dst.path, &bck, object))
}

/// Self-healing: the object on `mp` is missing (`corrupted` false) or failed its checksum
/// (`corrupted` true); restore it from a good copy (each candidate checked while copied). A
/// corrupted object is removed first. `Ok(true)`: restored; `Ok(false)`: no good copy.
/// Blocking.
pub fn restore(
    set: &MpSet,
    mp: &Mountpath,
    bucket: &str,
    object: &str,
    corrupted: bool,
    fsync: bool,
) -> engine::Result<bool> {
    let bck = Bck::ais(bucket);
    if corrupted {
        count_bad(&mp.path_str);
        match engine::object::delete(mp, &bck, object) {
            Ok(()) | Err(engine::Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    // Copies at the current ranks first, then any other mountpath (a copy left behind by a
    // mountpath change the job has not repaired yet).
    let mut candidates: Vec<Arc<Mountpath>> = copy_mountpaths(set, bucket, object, set.avail.len());
    for m in set.with_data() {
        if !candidates.iter().any(|c| c.path == m.path) {
            candidates.push(m);
        }
    }
    for c in candidates {
        let cp = engine::mirror::copy_fqn(&c.path, &bck, object);
        if !cp.exists() {
            continue;
        }
        match engine::mirror::restore_from(&cp, mp, &bck, object, fsync) {
            Ok(_) => {
                STATS.restored.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(bucket, object, from = %cp.display(), corrupted, "restored an object from its mirror copy");
                return Ok(true);
            }
            // A client PUT landed meanwhile: that is the object now.
            Err(engine::Error::Exists(_)) => return Ok(true),
            Err(engine::Error::Corrupt { path, detail }) => {
                count_bad(&c.path_str);
                tracing::error!(path = %path.display(), detail, "mirror copy is corrupted: removed");
                let _ = engine::mirror::remove_copy(&c, &bck, object);
            }
            Err(e) => {
                tracing::error!(bucket, object, from = %cp.display(), error = %e, "restoring from a mirror copy failed");
            }
        }
    }
    Ok(false)
}

/// An object of `bucket` was found missing and restored from a copy: its mountpath may have
/// lost more (a wiped or replaced disk). Start a `make-n-copies` repair of the bucket unless
/// one is running or ran in the last [`KICK_INTERVAL`].
pub fn kick(node: &Arc<Node>, bucket: &str) {
    static LAST: std::sync::Mutex<Vec<(String, std::time::Instant)>> =
        std::sync::Mutex::new(Vec::new());
    {
        let mut last = LAST.lock().expect("kick lock");
        if last
            .iter()
            .any(|(b, t)| b == bucket && t.elapsed() < KICK_INTERVAL)
        {
            return;
        }
        last.retain(|(b, _)| b != bucket);
        last.push((bucket.to_string(), std::time::Instant::now()));
    }
    let running = node
        .jobs
        .all()
        .iter()
        .any(|j| j.kind == "make-n-copies" && j.bck == bucket && !j.is_finished());
    if !running {
        tracing::warn!(
            bucket,
            "an object was lost from its mountpath: repairing the bucket's copies"
        );
        start(node, bucket, None);
    }
}

/// Least time between two repairs [`kick`] starts for one bucket.
pub const KICK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// File (in the config dir) naming the buckets whose `make-n-copies` has not finished
/// cleanly: a restarted target runs them again, so a props change never stays half done.
pub const PENDING_FILE: &str = ".ais.mirror-pending";

fn pending_update(node: &Node, bucket: &str, add: bool) {
    crate::xact::pending_update(node, PENDING_FILE, bucket, add);
}

/// After a (re)start: once this target is in the cluster map, run `make-n-copies` for every
/// bucket whose last run did not finish cleanly and every mirrored bucket (copies may have
/// been lost, or props changed, while it was down).
pub fn resume(node: &Arc<Node>) {
    let node = node.clone();
    glommio::spawn_local(async move {
        crate::xact::wait_in_map(&node).await;
        let pending = crate::xact::pending(&node, PENDING_FILE);
        let bmd = node.bmd.load();
        for (b, p) in &bmd.buckets {
            if p.mirror.enabled || pending.contains(b) {
                tracing::info!(bucket = %b, "resuming mirror convergence after a restart");
                start(&node, b, None);
            }
        }
        for b in pending.iter().filter(|b| !bmd.buckets.contains_key(*b)) {
            pending_update(&node, b, false);
        }
    })
    .detach();
}

/// Start `make-n-copies` of `bucket` on this target (the current executor runs it): every
/// object gets the copies its bucket's props ask for now (none when mirroring is off), on the
/// mountpaths HRW names; copies elsewhere are removed; an object lost from its mountpath is
/// restored from a copy. Its ID.
pub fn start(node: &Arc<Node>, bucket: &str, id: Option<String>) -> String {
    let job = node.jobs.begin_bck(
        "make-n-copies",
        bucket,
        id,
        node.self_id(),
        node.smap.load().version,
    );
    tracing::info!(job = %job.id, bucket, "make-n-copies started");
    pending_update(node, bucket, true);
    let jid = job.id.clone();
    let node = node.clone();
    let bucket = bucket.to_string();
    glommio::spawn_local(async move {
        node.jobs.wait_turn(&job).await;
        let passes = crate::xact::run_passes(&job, 5, || run(&node, &job, &bucket)).await;
        job.finish();
        job.log_finished(passes);
        if !job.is_aborted() && job.errors.load(Ordering::Relaxed) == 0 && node.jobs.is_newest(&job)
        {
            pending_update(&node, &bucket, false);
        }
    })
    .detach();
    jid
}

async fn run(node: &Arc<Node>, job: &Arc<Job>, bucket: &str) {
    let Some(props) = node.bmd.load().buckets.get(bucket).cloned() else {
        job.abort(&format!("bucket {bucket} is gone"));
        return;
    };
    let copies = copies_wanted(&props);
    let set = node.mountpaths.load();
    // 1. Every object on its HRW mountpath: its copies where they belong, none elsewhere.
    for mp in set.avail.clone() {
        let mut after = String::new();
        while let Some(batch) =
            crate::xact::next_batch(job, &mp, bucket, &mut after, MIRROR_BATCH).await
        {
            let names: Vec<String> = batch.into_iter().map(|e| e.name).collect();
            let (s2, m2, b2, fsync) = (set.clone(), mp.clone(), bucket.to_string(), node.cfg.fsync);
            let (objs, bytes, errs) = glommio::executor()
                .spawn_blocking(move || {
                    let (mut o, mut by, mut er) = (0u64, 0u64, 0u64);
                    for n in names {
                        match converge(&s2, &m2, &b2, &n, copies, fsync, true) {
                            Ok((made, k)) if made > 0 => {
                                o += 1;
                                by += k;
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::error!(bucket = %b2, object = %n, error = %e, "make-n-copies failed for an object");
                                er += 1;
                            }
                        }
                    }
                    (o, by, er)
                })
                .await;
            job.objects.fetch_add(objs, Ordering::Relaxed);
            job.bytes.fetch_add(bytes, Ordering::Relaxed);
            job.errors.fetch_add(errs, Ordering::Relaxed);
        }
    }
    // 2. Copies whose object is not on its mountpath: restore the object (this target owns it
    // and the bucket is mirrored) or drop the copy (left from a deleted, moved or trimmed
    // object).
    let me = node.target_id.clone();
    let smap = node.smap.load();
    for mp in set.with_data() {
        if job.is_aborted() {
            return;
        }
        let (s2, m2, b2, fsync) = (set.clone(), mp.clone(), bucket.to_string(), node.cfg.fsync);
        let smap2 = smap.clone();
        let me2 = me.clone();
        let (objs, errs) = glommio::executor()
            .spawn_blocking(move || {
                let bck = Bck::ais(&b2);
                let (mut o, mut er) = (0u64, 0u64);
                let names = match engine::mirror::list_copies(&m2, &bck) {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::error!(mountpath = %m2.path_str, error = %e, "make-n-copies: walking copies failed");
                        return (0, 1);
                    }
                };
                for n in names {
                    let Some((home, _)) = s2.choose(placement::object_digest(&b2, &n)) else {
                        continue;
                    };
                    let owned = placement::target(&smap2, placement::object_digest(&b2, &n))
                        .is_some_and(|t| t.daemon_id == me2);
                    let present = engine::object::exists(&home, &bck, &n);
                    if !present && owned && copies > 1 {
                        match restore(&s2, &home, &b2, &n, false, fsync) {
                            Ok(true) => {
                                o += 1;
                                if let Err(e) = converge(&s2, &home, &b2, &n, copies, fsync, false) {
                                    tracing::error!(object = %n, error = %e, "make-n-copies: re-copying a restored object failed");
                                    er += 1;
                                }
                                // The copy it came from may now sit where no copy belongs.
                                if !copy_mountpaths(&s2, &b2, &n, copies).iter().any(|c| c.path == m2.path)
                                    && engine::mirror::remove_copy(&m2, &bck, &n).unwrap_or(false)
                                {
                                    STATS.copies_removed.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            Ok(false) => {}
                            Err(e) => {
                                tracing::error!(object = %n, error = %e, "make-n-copies: restoring from a copy failed");
                                er += 1;
                            }
                        }
                        continue;
                    }
                    let wanted = present
                        && copy_mountpaths(&s2, &b2, &n, copies)
                            .iter()
                            .any(|c| c.path == m2.path);
                    if !wanted {
                        match engine::mirror::remove_copy(&m2, &bck, &n) {
                            Ok(true) => {
                                STATS.copies_removed.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(false) => {}
                            Err(e) => {
                                tracing::error!(object = %n, error = %e, "make-n-copies: removing a copy failed");
                                er += 1;
                            }
                        }
                    }
                }
                (o, er)
            })
            .await;
        job.objects.fetch_add(objs, Ordering::Relaxed);
        job.errors.fetch_add(errs, Ordering::Relaxed);
    }
}

/// One object on its HRW mountpath `mp`: make the copies it lacks (or whose content differs)
/// on its copy mountpaths. Copies it should not have are removed by the job's second step.
/// A corrupted object is restored from a good copy first (with `heal`). The copies made and
/// their bytes.
fn converge(
    set: &MpSet,
    mp: &Mountpath,
    bucket: &str,
    object: &str,
    copies: usize,
    fsync: bool,
    heal: bool,
) -> engine::Result<(u64, u64)> {
    let bck = Bck::ais(bucket);
    let src = engine::object::locate(mp, &bck, object);
    let main = match engine::object::read_lom_path(&src) {
        Ok(l) => l,
        // Deleted since the walk listed it.
        Err(engine::Error::NotFound(_)) => return Ok((0, 0)),
        Err(e) => return Err(e),
    };
    let (mut made, mut bytes) = (0, 0);
    for dst in copy_mountpaths(set, bucket, object, copies) {
        let fresh = engine::mirror::copy_lom(&dst, &bck, object)
            .map(|c| engine::mirror::same_object(&main, &c))
            .unwrap_or(false);
        if fresh {
            continue;
        }
        match engine::mirror::make_copy(&src, &dst, &bck, object, fsync, true) {
            Ok(l) => {
                STATS.copies_made.fetch_add(1, Ordering::Relaxed);
                made += 1;
                bytes += l.size;
            }
            Err(engine::Error::Corrupt { .. }) if heal => {
                // The object itself is bad: heal it from a copy, never spread it.
                if !restore(set, mp, bucket, object, true, fsync)? {
                    return Err(engine::Error::Corrupt {
                        path: src.clone(),
                        detail: "corrupted, and no good mirror copy to restore it from".into(),
                    });
                }
                return converge(set, mp, bucket, object, copies, fsync, false);
            }
            Err(e) => return Err(e),
        }
    }
    Ok((made, bytes))
}
