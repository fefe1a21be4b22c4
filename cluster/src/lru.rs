//! The LRU job (AIS kind `lru`): on each mountpath whose used capacity reached
//! `space.highwm`, evict the least recently accessed objects of buckets whose props have
//! `lru.enabled` (remote buckets by default; an `ais://` bucket only if enabled on it
//! explicitly, as AIS allows) until the mountpath is down to `space.lowwm`.
//!
//! * Oldest access time first over all such buckets of the mountpath; an object accessed
//!   within the cluster's `lru.dont_evict_time` is never evicted.
//! * Bounded memory: a walk keeps only the `lru.batch_size` oldest candidates (a max-heap
//!   by atime, [`Oldest`]); if more were seen and the mountpath is still above the low
//!   watermark after evicting them, the next round walks again (evicted objects are gone, so
//!   it selects the next oldest).
//! * Eviction removes the local object and its mirror copies (copies first), as DELETE
//!   does; for a remote bucket the backend keeps the object and a later GET fetches it again.
//! * Access times: the cores first write the times of warm GETs they recorded
//!   (`crate::space::flush_atimes`), then the walk reads them from the files.
//!
//! Started through the job API (`start` with kind `lru`), automatically when a mountpath
//! crosses the high watermark (`crate::space`), and by a write that finds the target out of
//! space. A running LRU job is reused, not superseded (AIS `WprUse`).
//!
//! # What this module does not do
//! No throttling by disk utilization (AIS `load.Advice`); no per-bucket `batch_size` or
//! `dont_evict_time` (AIS uses the cluster's, and so does this).

use crate::daemon::Node;
use crate::meta::Bprops;
use crate::xact::Job;
use engine::layout::Bck;
use engine::mountpath::Mountpath;
use std::collections::BinaryHeap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// The job kind (AIS `apc.ActLRU`).
pub const KIND: &str = "lru";
/// Objects listed per step of the walk.
const WALK_BATCH: usize = 1_000;
/// Rounds of select-then-evict per mountpath per run (each round frees at least one batch).
const ROUNDS_MAX: usize = 1_000;
/// How long a write that found the target out of space waits for the LRU job.
pub const WAIT_FOR_LRU_MS: u64 = 60_000;

/// One object that may be evicted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Candidate {
    /// First: the ordering is by access time (then by name, for a deterministic order).
    pub atime_ns: i64,
    pub bucket: String,
    pub name: String,
    pub size: u64,
}

/// Whether the objects of a bucket with these props may be evicted.
pub fn bucket_evictable(props: &Bprops) -> bool {
    props.lru.enabled
}

/// Whether an object last accessed at `atime_ns` may be evicted at `now_ns`.
pub fn old_enough(atime_ns: i64, now_ns: i64, dont_evict: Duration) -> bool {
    atime_ns.saturating_add(dont_evict.as_nanos().min(i64::MAX as u128) as i64) <= now_ns
}

/// The `cap` oldest candidates offered (a max-heap by atime: the newest kept is on top and
/// is the one replaced by an older offer). Memory is bounded by `cap` whatever the bucket
/// size.
pub struct Oldest {
    cap: usize,
    heap: BinaryHeap<Candidate>,
    /// Some candidate was left out (the next round may find more).
    pub more: bool,
}

impl Oldest {
    pub fn new(cap: usize) -> Oldest {
        assert!(cap > 0, "a batch holds at least one candidate");
        Oldest {
            cap,
            heap: BinaryHeap::with_capacity(cap.min(1 << 16)),
            more: false,
        }
    }

    pub fn offer(&mut self, c: Candidate) {
        if self.heap.len() < self.cap {
            self.heap.push(c);
            return;
        }
        self.more = true;
        let newest = self.heap.peek().expect("full heap is not empty");
        if c < *newest {
            self.heap.pop();
            self.heap.push(c);
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The candidates, oldest first.
    pub fn into_sorted(self) -> Vec<Candidate> {
        self.heap.into_sorted_vec()
    }
}

/// Is an LRU job running on this node?
pub fn is_running(node: &Node) -> bool {
    running(node).is_some()
}

fn running(node: &Node) -> Option<Arc<Job>> {
    node.jobs
        .all()
        .into_iter()
        .find(|j| j.kind == KIND && !j.is_finished())
}

/// Start the LRU job on this target (or return the running one's ID).
pub fn start(node: &Arc<Node>, id: Option<String>) -> String {
    if let Some(j) = running(node) {
        return j.id.clone();
    }
    let job = node
        .jobs
        .begin(KIND, id, node.self_id(), node.smap.load().version);
    let ret = job.id.clone();
    let node = node.clone();
    glommio::spawn_local(async move {
        run(&node, &job).await;
        job.finish();
        job.log_finished(1);
    })
    .detach();
    ret
}

/// Start the LRU job (or join the running one) and wait until it ends, up to
/// [`WAIT_FOR_LRU_MS`].
pub async fn run_and_wait(node: &Arc<Node>) {
    start(node, None);
    wait(node).await;
}

/// Wait until no LRU job runs, up to [`WAIT_FOR_LRU_MS`].
pub async fn wait(node: &Node) {
    let deadline = std::time::Instant::now() + Duration::from_millis(WAIT_FOR_LRU_MS);
    while let Some(j) = running(node) {
        if std::time::Instant::now() >= deadline {
            tracing::warn!(job = %j.id, "lru: still running after the write's wait");
            return;
        }
        glommio::timer::sleep(Duration::from_millis(20)).await;
    }
}

async fn run(node: &Arc<Node>, job: &Arc<Job>) {
    crate::space::flush_atimes().await;
    let mps = node.mountpaths.load().avail.clone();
    for mp in mps {
        if job.is_aborted() {
            return;
        }
        run_mountpath(node, job, &mp).await;
    }
    // The capacity the rest of the node sees reflects what was freed.
    crate::space::refresh(node).await;
}

/// Select and evict on one mountpath until it is down to the low watermark, nothing more is
/// evictable, or the job is aborted.
async fn run_mountpath(node: &Arc<Node>, job: &Arc<Job>, mp: &Arc<Mountpath>) {
    for _ in 0..ROUNDS_MAX {
        let cfg = node.config.load().effective.clone();
        let m = mp.clone();
        let Some(u) = glommio::executor()
            .spawn_blocking(move || crate::space::usage(&m))
            .await
        else {
            return;
        };
        let mut need = cfg.space.evict_bytes(u.used, u.total);
        if need == 0 {
            return;
        }
        tracing::info!(job = %job.id, mountpath = %mp.path_str, used = u.used, total = u.total, need, "lru: evicting");
        let buckets: Vec<String> = node
            .bmd
            .load()
            .buckets
            .iter()
            .filter(|(_, p)| bucket_evictable(p))
            .map(|(k, _)| k.clone())
            .collect();
        let batch = usize::try_from(cfg.lru.batch_size).unwrap_or(1).max(1);
        let dont_evict = cfg.lru.dont_evict_time.0;
        let oldest = select(job, mp, &buckets, batch, dont_evict).await;
        if oldest.is_empty() {
            return;
        }
        let more = oldest.more;
        for c in oldest.into_sorted() {
            if need == 0 || job.is_aborted() {
                break;
            }
            if evict(node, job, mp, &c).await {
                need = need.saturating_sub(c.size);
            }
        }
        if !more || job.is_aborted() {
            return;
        }
    }
}

/// Walk `buckets` on `mp`, keeping the `batch` oldest objects old enough to evict.
async fn select(
    job: &Arc<Job>,
    mp: &Arc<Mountpath>,
    buckets: &[String],
    batch: usize,
    dont_evict: Duration,
) -> Oldest {
    let mut oldest = Oldest::new(batch);
    let now = net::time::now_unix_ns();
    for b in buckets {
        let mut after = String::new();
        loop {
            if job.is_aborted() {
                return oldest;
            }
            let (m, bk, a) = (mp.clone(), b.clone(), after.clone());
            let page = glommio::executor()
                .spawn_blocking(move || {
                    engine::list::list_since(&m, &Bck::ais(&bk), "", &a, WALK_BATCH, true, now)
                })
                .await;
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(job = %job.id, bucket = %b, mountpath = %mp.path_str, error = %e, "lru: walk failed");
                    job.errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            };
            let Some(last) = page.last() else { break };
            after.clone_from(&last.name);
            let n = page.len();
            for e in page {
                let Some(lom) = e.lom else { continue };
                if old_enough(lom.atime_ns, now, dont_evict) {
                    oldest.offer(Candidate {
                        atime_ns: lom.atime_ns,
                        bucket: b.clone(),
                        name: e.name,
                        size: lom.size,
                    });
                }
            }
            if n < WALK_BATCH {
                break;
            }
        }
    }
    oldest
}

/// Evict one candidate (its copies, then the object); whether it was removed.
async fn evict(node: &Arc<Node>, job: &Arc<Job>, mp: &Arc<Mountpath>, c: &Candidate) -> bool {
    let (set, m, b, o) = (
        node.mountpaths.load(),
        mp.clone(),
        c.bucket.clone(),
        c.name.clone(),
    );
    let r = glommio::executor()
        .spawn_blocking(move || {
            crate::mirror::remove_copies(&set, &b, &o)?;
            engine::object::delete(&m, &Bck::ais(&b), &o)
        })
        .await;
    match r {
        Ok(()) => {
            job.objects.fetch_add(1, Ordering::Relaxed);
            job.bytes.fetch_add(c.size, Ordering::Relaxed);
            crate::metrics::add(crate::metrics::M::LruEvictN, 1);
            crate::metrics::add(crate::metrics::M::LruEvictSize, c.size);
            true
        }
        Err(e) if e.is_not_found() => false,
        Err(e) => {
            tracing::error!(job = %job.id, bucket = %c.bucket, object = %c.name, error = %e, "lru: evicting failed");
            job.errors.fetch_add(1, Ordering::Relaxed);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn cand(atime: i64, name: &str) -> Candidate {
        Candidate {
            atime_ns: atime,
            bucket: "aws:b".into(),
            name: name.into(),
            size: 10,
        }
    }

    #[test]
    fn keeps_the_oldest_batch_oldest_first() {
        let mut o = Oldest::new(3);
        for (t, n) in [
            (50, "e"),
            (10, "a"),
            (40, "d"),
            (30, "c"),
            (20, "b"),
            (60, "f"),
        ] {
            o.offer(cand(t, n));
        }
        assert!(o.more);
        assert_eq!(o.len(), 3);
        let names: Vec<String> = o.into_sorted().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["a", "b", "c"]);
        // Fewer than a batch: nothing left out.
        let mut o = Oldest::new(3);
        o.offer(cand(5, "x"));
        o.offer(cand(1, "y"));
        assert!(!o.more);
        assert_eq!(o.into_sorted()[0].name, "y");
    }

    #[test]
    fn dont_evict_time_protects_recent_objects() {
        let h = Duration::from_secs(3600);
        let now = 10 * 3_600_000_000_000i64;
        assert!(old_enough(now - 3_600_000_000_000, now, h));
        assert!(!old_enough(now - 3_600_000_000_000 + 1, now, h));
        assert!(!old_enough(now, now, h));
        assert!(old_enough(i64::MIN, now, Duration::MAX));
        assert!(!old_enough(now, now, Duration::MAX));
    }

    #[test]
    fn only_buckets_with_lru_enabled_are_evictable() {
        let mut buckets: BTreeMap<String, Bprops> = BTreeMap::new();
        let mut ais = Bprops::new_ais(1, 0);
        ais.lru.enabled = false;
        let mut aws = Bprops::new_ais(2, 0);
        aws.provider = "aws".into();
        aws.lru.enabled = true;
        let mut ais_on = Bprops::new_ais(3, 0);
        ais_on.lru.enabled = true;
        buckets.insert("a".into(), ais);
        buckets.insert("aws:r".into(), aws);
        buckets.insert("on".into(), ais_on);
        let mut ev: Vec<&String> = buckets
            .iter()
            .filter(|(_, p)| bucket_evictable(p))
            .map(|(k, _)| k)
            .collect();
        ev.sort();
        assert_eq!(ev, ["aws:r", "on"]);
        // A new ais:// bucket is not evictable by default.
        assert!(!bucket_evictable(&Bprops::new_ais(4, 0)));
    }
}
