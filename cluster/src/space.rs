//! Space on a target: each mountpath's used capacity against the cluster config's `space`
//! watermarks, the out-of-space check before a write, access times of warm GETs, the
//! automatic LRU trigger, and the space cleanup job (AIS kind `cleanup-store`).
//!
//! * **Capacity** per mountpath is statvfs of its file system (`crate::metrics::capacities`,
//!   what `/metrics` and `node_status` report), refreshed on core 0 every
//!   `lru.capacity_upd_time`, when the `space`/`lru` config changed, and after
//!   [`CAP_CHECK_BYTES`] were written. The largest used percent is kept in an atomic: the
//!   check before every write is a few atomic operations. A write that would take the bytes
//!   written since the last refresh past the **headroom** (the least any mountpath could
//!   take before `space.out_of_space`, as of that refresh) refreshes first: on a small disk
//!   `out_of_space` holds before the periodic refresh notices.
//! * **Out of space**: a write (native or S3 PUT, cold GET) on a target whose fullest
//!   mountpath is above `space.out_of_space` first refreshes capacity, then runs the LRU job
//!   once (waiting for it; at most once per [`OOS_LRU_RETRY_MS`] for all writes), and is
//!   refused with 507 only if that did not make room ([`admit_write`]). Nothing is written
//!   before the refusal.
//! * **Atime**: a warm GET records the object's access time in memory on its core (no
//!   metadata write on the GET path). Each core writes its recorded access times to the
//!   objects' files (`utimensat`, atime only) every [`ATIME_FLUSH_MS`], when its table holds
//!   [`ATIME_PENDING_MAX`] entries, and when the LRU job asks ([`flush_atimes`]) before it
//!   selects what to evict. A cold GET needs no entry: the new file's atime is its creation.
//! * **Cleanup** (`cleanup-store`): removes work files (`%wk`) not modified for
//!   `space.dont_cleanup_time` (a write in progress keeps its file's mtime fresh; AIS removes
//!   work files of an earlier process, which a restart here already does).
//!
//! # Test knob
//! `AISNODE_TEST_CAPACITY_BYTES=<n>` (environment, read at start) makes every mountpath look
//! like a file system of `n` bytes whose used bytes are the sizes of the files under the
//! mountpath, so that tests can cross watermarks deterministically on a shared disk. Never
//! set it in production.
//!
//! # What this module does not do
//! No eviction (`crate::lru`); no per-bucket capacity limits; misplaced copies and EC
//! leftovers are not part of cleanup yet.

use crate::daemon::Node;
use crate::error::{Error, Result};
use crate::meta::space::pct_used;
use crate::xact::Job;
use engine::layout::Bck;
use engine::mountpath::Mountpath;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The job kind of space cleanup (AIS `apc.ActStoreCleanup`).
pub const KIND_CLEANUP: &str = "cleanup-store";
/// Bytes written after which capacity is refreshed before the next period (AIS
/// `capCheckThresh`).
pub const CAP_CHECK_BYTES: u64 = 256 << 20;
/// How often core 0 looks at the config and written bytes (capacity itself is refreshed
/// only as described in the module doc).
pub const SPACE_TICK_MS: u64 = 1_000;
/// A core writes its recorded access times at least this often.
pub const ATIME_FLUSH_MS: u64 = 60_000;
/// ... and as soon as it has recorded this many (bounds the table's memory per core).
pub const ATIME_PENDING_MAX: usize = 64 * 1024;
/// How often a core's atime writer looks for work.
const ATIME_POLL_MS: u64 = 100;
/// How long [`flush_atimes`] waits for the cores.
const ATIME_FLUSH_WAIT_MS: u64 = 5_000;
/// A write that finds the target out of space runs LRU at most this often (others wait for
/// a running one, or are refused).
pub const OOS_LRU_RETRY_MS: u64 = 10_000;
/// When a write last ran LRU for room (Unix ms).
static LAST_OOS_LRU_MS: AtomicU64 = AtomicU64::new(0);
/// Environment variable of the test knob (module doc).
pub const TEST_CAPACITY_ENV: &str = "AISNODE_TEST_CAPACITY_BYTES";

/// Largest used percent over the available mountpaths at the last refresh.
static PCT_MAX: AtomicU64 = AtomicU64::new(0);
/// Bytes admitted for writing since the last refresh.
static WRITTEN: AtomicU64 = AtomicU64::new(0);
/// Bytes the fullest mountpath could take at the last refresh before it is out of space
/// (module doc); a write past it refreshes first.
static HEADROOM: AtomicU64 = AtomicU64::new(0);
/// Config version the last refresh saw (a change of the watermarks refreshes at once).
static REFRESH_CFG_VERSION: AtomicI64 = AtomicI64::new(-1);
/// Per-mountpath capacity at the last refresh (for `node_status`, the LRU job's log).
static LAST: Mutex<Vec<MpUsage>> = Mutex::new(Vec::new());

/// One mountpath's capacity (bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpUsage {
    pub path: String,
    pub used: u64,
    pub total: u64,
}

impl MpUsage {
    pub fn pct(&self) -> u64 {
        pct_used(self.used, self.total)
    }
}

fn test_capacity() -> Option<u64> {
    static V: OnceLock<Option<u64>> = OnceLock::new();
    *V.get_or_init(|| {
        std::env::var(TEST_CAPACITY_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
    })
}

/// Sizes of the regular files under `dir` (the test knob's "used"). Blocking.
fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    total
}

/// The capacity of mountpath `mp` now (statvfs, or the test knob). Blocking.
pub fn usage(mp: &Mountpath) -> Option<MpUsage> {
    if let Some(total) = test_capacity() {
        return Some(MpUsage {
            path: mp.path_str.clone(),
            used: dir_bytes(&mp.path).min(total),
            total,
        });
    }
    crate::metrics::capacities(&[(mp.path_str.clone(), mp.dev)])
        .pop()
        .map(|c| MpUsage {
            path: c.path,
            used: c.used,
            total: c.total,
        })
}

/// Refresh every available mountpath's capacity (on the core's blocking thread); the
/// largest used percent.
pub async fn refresh(node: &Arc<Node>) -> u64 {
    let set = node.mountpaths.load();
    let version = node.config.load().cluster.config_version;
    let mps: Vec<Arc<Mountpath>> = set.avail.clone();
    let all = glommio::executor()
        .spawn_blocking(move || mps.iter().filter_map(|m| usage(m)).collect::<Vec<_>>())
        .await;
    let max = all.iter().map(MpUsage::pct).max().unwrap_or(0);
    let oos = node
        .config
        .load()
        .effective
        .space
        .out_of_space
        .clamp(0, 100) as u128;
    let headroom = all
        .iter()
        .map(|m| ((u128::from(m.total) * oos / 100) as u64).saturating_sub(m.used))
        .min()
        .unwrap_or(0);
    PCT_MAX.store(max, Ordering::Relaxed);
    HEADROOM.store(headroom, Ordering::Relaxed);
    WRITTEN.store(0, Ordering::Relaxed);
    REFRESH_CFG_VERSION.store(version, Ordering::Relaxed);
    *LAST.lock().expect("space lock") = all;
    max
}

/// Capacity as of the last refresh, per mountpath.
pub fn last_usage() -> Vec<MpUsage> {
    LAST.lock().expect("space lock").clone()
}

/// The message of a refused write (AIS's wording).
fn oos_error(node: &Node, pct: u64) -> Error {
    let (used, total) = last_usage()
        .iter()
        .fold((0, 0), |(u, t), m| (u + m.used, t + m.total));
    Error::OutOfSpace(format!(
        "{}: out of space: used {pct}% of total capacity on at least one of the mountpaths (space.out_of_space {}%; total used {used} out of {total} bytes)",
        node.tname(),
        node.config.load().effective.space.out_of_space
    ))
}

thread_local! {
    /// This core's view of the config (one atomic load unless it changed).
    static CONFIG: crate::node::LocalView<crate::meta::config::ConfigView> =
        crate::node::LocalView::default();
}

/// Before a write of about `bytes` (0 when not known): `Err(OutOfSpace)` if the target is
/// above `space.out_of_space` even after one LRU run (see the module doc).
pub async fn admit_write(node: &Arc<Node>, bytes: u64) -> Result<()> {
    let written = WRITTEN.fetch_add(bytes, Ordering::Relaxed) + bytes;
    let cfg = CONFIG.with(|c| c.get(&node.config));
    let space = &cfg.effective.space;
    let stale = REFRESH_CFG_VERSION.load(Ordering::Relaxed) != cfg.cluster.config_version
        || (bytes > 0 && written > HEADROOM.load(Ordering::Relaxed));
    if !stale && !space.is_oos(PCT_MAX.load(Ordering::Relaxed)) {
        return Ok(());
    }
    if !space.is_oos(refresh(node).await) {
        // The refresh saw the space before this write: count it against the new headroom.
        WRITTEN.fetch_add(bytes, Ordering::Relaxed);
        return Ok(());
    }
    // One LRU run per OOS_LRU_RETRY_MS at most: while nothing can be evicted, writes are
    // refused at the cost of a statvfs, not of a walk each.
    let now_ms = (net::time::now_unix_ns() / 1_000_000) as u64;
    let last = LAST_OOS_LRU_MS.load(Ordering::Relaxed);
    if now_ms.saturating_sub(last) >= OOS_LRU_RETRY_MS
        && LAST_OOS_LRU_MS
            .compare_exchange(last, now_ms, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!(
            pct = PCT_MAX.load(Ordering::Relaxed),
            "out of space: running LRU before refusing the write"
        );
        crate::lru::run_and_wait(node).await;
    } else if crate::lru::is_running(node) {
        crate::lru::wait(node).await;
    }
    let pct = refresh(node).await;
    if space.is_oos(pct) {
        return Err(oos_error(node, pct));
    }
    WRITTEN.fetch_add(bytes, Ordering::Relaxed);
    Ok(())
}

// ---- access times -------------------------------------------------------------------------

thread_local! {
    /// Access times recorded on this core, by the object's path, not yet written.
    static ATIMES: RefCell<HashMap<PathBuf, i64>> = RefCell::new(HashMap::new());
}

/// Flush requests ([`flush_atimes`]) so far.
static FLUSH_REQ: AtomicU64 = AtomicU64::new(0);
/// Each core's last flush request served.
static FLUSH_ACKS: Mutex<Vec<Arc<AtomicU64>>> = Mutex::new(Vec::new());
/// Whether any core writes atimes (no cores registered: nothing to wait for).
static ATIME_WRITERS: AtomicBool = AtomicBool::new(false);

/// A warm GET of `object` of bucket `key` on `mp` (now): recorded in memory on this core.
pub fn touch(mp: &Mountpath, key: &str, object: &str) {
    let path = Bck::ais(key).fqn(&mp.path, object);
    let now = net::time::now_unix_ns();
    ATIMES.with(|a| {
        a.borrow_mut().insert(path, now);
    });
}

/// Write `atimes` to their files (atime only; an object gone meanwhile is skipped). Blocking.
fn write_atimes(atimes: HashMap<PathBuf, i64>) {
    use rustix::fs::{Timespec, Timestamps, UTIME_OMIT};
    for (p, t) in atimes {
        let ts = Timestamps {
            last_access: Timespec {
                tv_sec: t.div_euclid(1_000_000_000),
                tv_nsec: t.rem_euclid(1_000_000_000) as _,
            },
            last_modification: Timespec {
                tv_sec: 0,
                tv_nsec: UTIME_OMIT,
            },
        };
        let _ = rustix::fs::utimensat(rustix::fs::CWD, &p, &ts, rustix::fs::AtFlags::empty());
    }
}

/// This core's atime writer (see the module doc).
fn start_atime_writer() {
    let ack = Arc::new(AtomicU64::new(FLUSH_REQ.load(Ordering::Relaxed)));
    FLUSH_ACKS.lock().expect("acks lock").push(ack.clone());
    ATIME_WRITERS.store(true, Ordering::Relaxed);
    glommio::spawn_local(async move {
        let mut since = std::time::Instant::now();
        loop {
            glommio::timer::sleep(Duration::from_millis(ATIME_POLL_MS)).await;
            let req = FLUSH_REQ.load(Ordering::Acquire);
            let n = ATIMES.with(|a| a.borrow().len());
            let due = req > ack.load(Ordering::Relaxed)
                || n >= ATIME_PENDING_MAX
                || (n > 0 && since.elapsed() >= Duration::from_millis(ATIME_FLUSH_MS));
            if !due {
                continue;
            }
            let batch = ATIMES.with(|a| std::mem::take(&mut *a.borrow_mut()));
            if !batch.is_empty() {
                glommio::executor()
                    .spawn_blocking(move || write_atimes(batch))
                    .await;
            }
            since = std::time::Instant::now();
            ack.store(req, Ordering::Release);
        }
    })
    .detach();
}

/// Have every core write the access times it recorded so far (the LRU job, before it reads
/// them from the files); waits up to a few seconds.
pub async fn flush_atimes() {
    if !ATIME_WRITERS.load(Ordering::Relaxed) {
        return;
    }
    let req = FLUSH_REQ.fetch_add(1, Ordering::AcqRel) + 1;
    let deadline = std::time::Instant::now() + Duration::from_millis(ATIME_FLUSH_WAIT_MS);
    loop {
        let done = FLUSH_ACKS
            .lock()
            .expect("acks lock")
            .iter()
            .all(|a| a.load(Ordering::Acquire) >= req);
        if done {
            return;
        }
        if std::time::Instant::now() >= deadline {
            tracing::warn!("lru: not every core wrote its access times in time");
            return;
        }
        glommio::timer::sleep(Duration::from_millis(ATIME_POLL_MS / 2)).await;
    }
}

// ---- the per-core service -----------------------------------------------------------------

/// Start this core's part: its atime writer; on core 0 also the capacity refresh and the
/// automatic LRU trigger.
pub fn start_core(node: &Arc<Node>, core: usize) {
    if node.cfg.role == crate::node::Role::Proxy {
        return;
    }
    start_atime_writer();
    if core != 0 {
        return;
    }
    let node = node.clone();
    glommio::spawn_local(async move {
        let mut last = std::time::Instant::now();
        refresh(&node).await;
        loop {
            glommio::timer::sleep(Duration::from_millis(SPACE_TICK_MS)).await;
            let cfg = node.config.load();
            let changed = REFRESH_CFG_VERSION.load(Ordering::Relaxed) != cfg.cluster.config_version;
            let due = last.elapsed() >= cfg.effective.lru.capacity_upd_time.0
                || WRITTEN.load(Ordering::Relaxed) >= CAP_CHECK_BYTES;
            if !changed && !due {
                continue;
            }
            last = std::time::Instant::now();
            let pct = refresh(&node).await;
            if cfg.effective.space.above_high(pct) && !crate::lru::is_running(&node) {
                tracing::info!(
                    pct,
                    highwm = cfg.effective.space.highwm,
                    "used capacity above the high watermark: starting LRU"
                );
                crate::lru::start(&node, None);
            }
        }
    })
    .detach();
}

// ---- space cleanup ------------------------------------------------------------------------

/// Start space cleanup (`cleanup-store`) on this target; its ID. A running one is reused.
pub fn start_cleanup(node: &Arc<Node>, id: Option<String>) -> String {
    if let Some(j) = node
        .jobs
        .all()
        .into_iter()
        .find(|j| j.kind == KIND_CLEANUP && !j.is_finished())
    {
        return j.id.clone();
    }
    let job = node
        .jobs
        .begin(KIND_CLEANUP, id, node.self_id(), node.smap.load().version);
    let ret = job.id.clone();
    let node = node.clone();
    glommio::spawn_local(async move {
        run_cleanup(&node, &job).await;
        job.finish();
        job.log_finished(1);
    })
    .detach();
    ret
}

async fn run_cleanup(node: &Arc<Node>, job: &Arc<Job>) {
    let older = node.config.load().effective.space.dont_cleanup_time.0;
    let mps = node.mountpaths.load().with_data();
    let j = job.clone();
    glommio::executor()
        .spawn_blocking(move || {
            for mp in mps {
                for bdir in mp.bucket_dirs() {
                    if j.is_aborted() {
                        return;
                    }
                    let (n, bytes, errs) =
                        remove_old_files(&bdir.join(engine::layout::CT_WORK), older);
                    j.objects.fetch_add(n, Ordering::Relaxed);
                    j.bytes.fetch_add(bytes, Ordering::Relaxed);
                    j.errors.fetch_add(errs, Ordering::Relaxed);
                }
            }
        })
        .await;
}

/// Remove the regular files directly under `dir` not modified for `older`: (files, bytes,
/// errors). Blocking.
pub fn remove_old_files(dir: &Path, older: Duration) -> (u64, u64, u64) {
    let (mut n, mut bytes, mut errs) = (0, 0, 0);
    let Ok(rd) = std::fs::read_dir(dir) else {
        return (0, 0, 0);
    };
    let now = std::time::SystemTime::now();
    for e in rd.flatten() {
        let Ok(md) = e.metadata() else { continue };
        if !md.is_file() {
            continue;
        }
        let age = md
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        if age < older {
            continue;
        }
        match std::fs::remove_file(e.path()) {
            Ok(()) => {
                n += 1;
                bytes += md.len();
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                errs += 1;
                tracing::warn!(path = %e.path().display(), error = %err, "cleanup: removing an old work file failed");
            }
        }
    }
    (n, bytes, errs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleanup_removes_only_old_work_files() {
        let d = std::env::temp_dir().join(format!("space-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("old"), b"12345").unwrap();
        std::fs::write(d.join("new"), b"1").unwrap();
        std::fs::write(d.join("sub/old"), b"1").unwrap();
        let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
        let f = std::fs::File::options()
            .write(true)
            .open(d.join("old"))
            .unwrap();
        f.set_modified(hour_ago).unwrap();
        assert_eq!(remove_old_files(&d, Duration::from_secs(1800)), (1, 5, 0));
        assert!(!d.join("old").exists() && d.join("new").exists() && d.join("sub/old").exists());
        assert_eq!(dir_bytes(&d), 2);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
