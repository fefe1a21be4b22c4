//! The job ("xaction") registry of a node: rebalance and resilver runs with an ID, start and
//! end time, counters and abort; a newer job of a kind supersedes a running one. Also the
//! pieces every job shares: pacing, the pass loop, the directory-walk batch. Starting and
//! querying jobs through the API is `crate::jobs`.

use net::time;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Jobs remembered per node.
pub const JOBS_KEPT_MAX: usize = 64;

#[derive(Debug, Default, Serialize)]
pub struct Job {
    pub id: String,
    pub kind: String,
    pub node: String,
    pub start_time_ns: i64,
    pub end_time_ns: AtomicI64Ser,
    pub objects: AtomicU64,
    pub bytes: AtomicU64,
    pub errors: AtomicU64,
    /// What the job will move in all, when known up front (a blob download: the object's
    /// size; AIS reports it as the snapshot's `in-bytes`); 0 otherwise.
    pub total_bytes: AtomicU64,
    pub aborted: AtomicBool,
    pub finished: AtomicBool,
    pub smap_version: i64,
    /// The bucket of a bucket job (`make-n-copies`); empty for cluster-wide jobs.
    #[serde(skip)]
    pub bck: String,
    /// Why it was aborted (empty if it was not).
    #[serde(skip)]
    pub abort_err: Mutex<String>,
}

/// An i64 that serializes as a number (end time, 0 while running).
#[derive(Debug, Default)]
pub struct AtomicI64Ser(pub std::sync::atomic::AtomicI64);

impl Serialize for AtomicI64Ser {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.0.load(Ordering::Relaxed))
    }
}

impl Job {
    pub fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Relaxed)
    }
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Relaxed)
    }
    pub fn abort(&self, why: &str) {
        if !self.is_finished() {
            let mut e = self.abort_err.lock().expect("abort_err lock");
            if e.is_empty() {
                *e = why.to_string();
            }
            self.aborted.store(true, Ordering::Relaxed);
        }
    }
    /// Log the job's end with its counters.
    pub fn log_finished(&self, passes: u32) {
        tracing::info!(
            job = %self.id,
            kind = %self.kind,
            objects = self.objects.load(Ordering::Relaxed),
            bytes = self.bytes.load(Ordering::Relaxed),
            errors = self.errors.load(Ordering::Relaxed),
            aborted = self.is_aborted(),
            passes,
            "job finished"
        );
    }
    pub fn finish(&self) {
        self.end_time_ns
            .0
            .store(time::now_unix_ns(), Ordering::Relaxed);
        self.finished.store(true, Ordering::Relaxed);
    }

    /// AIS's job snapshot (`core.Snap`) as the SDK's `JobSnap` reads it.
    pub fn snap(&self) -> serde_json::Value {
        let end = self.end_time_ns.0.load(Ordering::Relaxed);
        let objs = self.objects.load(Ordering::Relaxed);
        let bytes = self.bytes.load(Ordering::Relaxed);
        serde_json::json!({
            "id": self.id,
            "kind": self.kind,
            "start-time": time::format_rfc3339_nano(self.start_time_ns),
            "end-time": if end == 0 { "0001-01-01T00:00:00Z".to_string() } else { time::format_rfc3339_nano(end) },
            "bck": if self.bck.is_empty() { serde_json::Value::Null } else {
                let b = engine::layout::Bck::ais(&self.bck);
                serde_json::json!({"name": b.name, "provider": b.provider, "namespace": {"uuid": b.ns.trim_start_matches('@'), "name": ""}})
            },
            "stats": {
                "loc-objs": objs, "loc-bytes": bytes,
                "out-objs": if self.kind == "rebalance" { objs } else { 0 },
                "out-bytes": if self.kind == "rebalance" { bytes } else { 0 },
                "in-objs": 0, "in-bytes": self.total_bytes.load(Ordering::Relaxed),
            },
            "errors": self.errors.load(Ordering::Relaxed),
            "aborted": self.is_aborted(),
            "is_idle": self.is_finished(),
            "abort-err": self.abort_err.lock().expect("abort_err lock").clone(),
            "node": self.node,
        })
    }
}

#[derive(Default)]
pub struct Jobs {
    list: Mutex<Vec<Arc<Job>>>,
}

impl Jobs {
    /// Register a new job of `kind`; a newer job supersedes (aborts) running ones of the
    /// same kind. `id`: the cluster-wide ID when the caller has one.
    pub fn begin(&self, kind: &str, id: Option<String>, node: &str, smap_version: i64) -> Arc<Job> {
        self.begin_if(kind, "", id, node, smap_version, false)
            .expect("unconditional begin")
    }

    /// [`Jobs::begin`] of a job on one bucket: it supersedes only jobs of its kind on the
    /// same bucket.
    pub fn begin_bck(
        &self,
        kind: &str,
        bck: &str,
        id: Option<String>,
        node: &str,
        smap_version: i64,
    ) -> Arc<Job> {
        self.begin_if(kind, bck, id, node, smap_version, false)
            .expect("unconditional begin")
    }

    /// Like [`Jobs::begin`], unless a job of `kind` for the same Smap version is running or
    /// finished cleanly (not aborted, no errors): then `None`. Two triggers for one map
    /// change (a join reply and a metasync racing on two cores) start one job, not two.
    pub fn begin_once(
        &self,
        kind: &str,
        id: Option<String>,
        node: &str,
        smap_version: i64,
    ) -> Option<Arc<Job>> {
        self.begin_if(kind, "", id, node, smap_version, true)
    }

    /// A job that runs beside others of its kind (multi-object jobs: each request is its own
    /// job, as in AIS, and none supersedes another). `id` is the cluster-wide ID.
    pub fn begin_concurrent(
        &self,
        kind: &str,
        bck: &str,
        id: String,
        node: &str,
        smap_version: i64,
    ) -> Arc<Job> {
        let job = Arc::new(Job {
            id,
            kind: kind.into(),
            bck: bck.into(),
            node: node.into(),
            start_time_ns: time::now_unix_ns(),
            smap_version,
            ..Default::default()
        });
        let mut jobs = self.list.lock().expect("jobs lock");
        jobs.push(job.clone());
        while jobs.len() > JOBS_KEPT_MAX {
            match jobs.iter().position(|j| j.is_finished()) {
                Some(i) => {
                    jobs.remove(i);
                }
                None => break,
            }
        }
        job
    }

    fn begin_if(
        &self,
        kind: &str,
        bck: &str,
        id: Option<String>,
        node: &str,
        smap_version: i64,
        once: bool,
    ) -> Option<Arc<Job>> {
        let job = Arc::new(Job {
            id: id.unwrap_or_else(|| format!("{}-{}", short(kind), crate::meta::random_id(8))),
            kind: kind.into(),
            bck: bck.into(),
            node: node.into(),
            start_time_ns: time::now_unix_ns(),
            smap_version,
            ..Default::default()
        });
        let mut jobs = self.list.lock().expect("jobs lock");
        if once
            && jobs.iter().any(|j| {
                j.kind == kind
                    && j.smap_version == smap_version
                    && !j.is_aborted()
                    && (!j.is_finished() || j.errors.load(Ordering::Relaxed) == 0)
            })
        {
            return None;
        }
        // IDs are unique per node: a second run for the same change gets a suffix.
        let mut job = job;
        if jobs.iter().any(|j| j.id == job.id) {
            let n = (2..)
                .find(|n| !jobs.iter().any(|j| j.id == format!("{}.{n}", job.id)))
                .unwrap_or(2);
            if let Some(j) = Arc::get_mut(&mut job) {
                j.id = format!("{}.{n}", j.id);
            }
        }
        for j in jobs.iter().filter(|j| j.kind == kind && j.bck == bck) {
            j.abort(&format!("superseded by {}", job.id));
        }
        jobs.push(job.clone());
        // Forget the oldest finished jobs beyond the limit (running ones stay: newer jobs
        // wait for them).
        while jobs.len() > JOBS_KEPT_MAX {
            match jobs.iter().position(|j| j.is_finished()) {
                Some(i) => {
                    jobs.remove(i);
                }
                None => break,
            }
        }
        Some(job)
    }

    /// Wait until every older job of `job`'s kind has stopped (passes never overlap). Only
    /// older ones: two jobs started back to back would otherwise wait for each other forever.
    /// Older jobs were aborted by [`Jobs::begin`], so they stop promptly.
    pub async fn wait_turn(&self, job: &Arc<Job>) {
        loop {
            let busy = {
                let jobs = self.list.lock().expect("jobs lock");
                jobs.iter()
                    .take_while(|j| !Arc::ptr_eq(j, job))
                    .any(|j| j.kind == job.kind && j.bck == job.bck && !j.is_finished())
            };
            if !busy {
                return;
            }
            glommio::timer::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Is `job` the newest of its kind?
    pub fn is_newest(&self, job: &Arc<Job>) -> bool {
        self.list
            .lock()
            .expect("jobs lock")
            .iter()
            .rev()
            .find(|j| j.kind == job.kind && j.bck == job.bck)
            .map(|j| Arc::ptr_eq(j, job))
            .unwrap_or(false)
    }

    pub fn all(&self) -> Vec<Arc<Job>> {
        self.list.lock().expect("jobs lock").clone()
    }

    /// Abort running jobs matching `id` (if set) and `kind` (if set); how many.
    pub fn abort_matching(&self, id: &str, kind: &str) -> usize {
        let mut n = 0;
        for j in self.list.lock().expect("jobs lock").iter() {
            if (id.is_empty() || j.id == id)
                && (kind.is_empty() || j.kind == kind)
                && !j.is_finished()
            {
                j.abort("aborted through the API");
                n += 1;
            }
        }
        n
    }
}

/// Paces a job to at most `rate` objects per second (0: no limit).
pub struct Pace {
    step: Option<Duration>,
    next: std::cell::Cell<std::time::Instant>,
}

impl Pace {
    pub fn new(rate: u32) -> Pace {
        Pace {
            step: (rate > 0).then(|| Duration::from_secs_f64(1.0 / f64::from(rate))),
            next: std::cell::Cell::new(std::time::Instant::now()),
        }
    }
    pub fn limited(&self) -> bool {
        self.step.is_some()
    }
    /// Wait for the next object's turn.
    pub async fn wait(&self) {
        let Some(step) = self.step else { return };
        let now = std::time::Instant::now();
        let at = self.next.get().max(now);
        self.next.set(at + step);
        if at > now {
            glommio::timer::sleep(at - now).await;
        }
    }
}

/// Run a job's passes until one moves nothing and fails nothing (failed transfers are
/// retried; objects that arrived behind a pass's walk are caught), the job is aborted, or
/// `max` passes ran. A pass's errors are what its `errors` counter shows. Returns the passes.
pub async fn run_passes<F, Fut>(job: &Arc<Job>, max: u32, mut pass: F) -> u32
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut passes = 0u32;
    loop {
        let before = job.objects.load(Ordering::Relaxed);
        job.errors.store(0, Ordering::Relaxed);
        pass().await;
        passes += 1;
        let moved = job.objects.load(Ordering::Relaxed) - before;
        let errors = job.errors.load(Ordering::Relaxed);
        if job.is_aborted() || (moved == 0 && errors == 0) || passes >= max {
            return passes;
        }
        glommio::timer::sleep(Duration::from_millis(if errors > 0 { 500 } else { 20 })).await;
    }
}

/// Add `bucket` to (or remove it from) the list of buckets with an unfinished job kept in
/// `<confdir>/<file>` (jsp-framed JSON), so a restarted node runs the job again.
pub fn pending_update(node: &crate::daemon::Node, file: &str, bucket: &str, add: bool) {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().expect("pending lock");
    let path = node.confdir.join(file);
    let mut list: Vec<String> = crate::node::store::load(&path)
        .ok()
        .flatten()
        .unwrap_or_default();
    let had = list.iter().any(|b| b == bucket);
    if add == had {
        return;
    }
    if add {
        list.push(bucket.to_string());
    } else {
        list.retain(|b| b != bucket);
    }
    if let Err(e) = crate::node::store::persist(&path, 1, &list) {
        tracing::error!(file, error = %e, "persisting the pending jobs failed");
    }
}

/// Wait (up to 30 s) until this target is in the cluster map it holds: jobs resumed after a
/// restart start once the node has joined and has the current BMD.
pub async fn wait_in_map(node: &crate::daemon::Node) {
    for _ in 0..300 {
        if node.cfg.role == crate::node::Role::All
            || node.smap.load().tmap.contains_key(&node.target_id)
        {
            return;
        }
        glommio::timer::sleep(Duration::from_millis(100)).await;
    }
}

/// The buckets listed in `<confdir>/<file>` (see [`pending_update`]).
pub fn pending(node: &crate::daemon::Node, file: &str) -> Vec<String> {
    crate::node::store::load(&node.confdir.join(file))
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// The next batch of a job's walk of `bucket` on `mp` (up to `n` objects after `after`,
/// which moves on past them); `None` when the walk is done, the job aborted, or the listing
/// failed (logged and counted as one of the job's errors).
pub async fn next_batch(
    job: &Job,
    mp: &Arc<engine::mountpath::Mountpath>,
    bucket: &str,
    after: &mut String,
    n: usize,
) -> Option<Vec<engine::list::ListEntry>> {
    if job.is_aborted() {
        return None;
    }
    match list_batch(mp, bucket, after, n, job.start_time_ns).await {
        Ok(b) => {
            after.clone_from(&b.last()?.name);
            Some(b)
        }
        Err(e) => {
            tracing::error!(job = %job.id, bucket, error = %e, "walk failed");
            job.errors.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// The next `n` object names of `bucket` on `mp` after `after` (a job's walk that started
/// at `since_ns`, see [`engine::list::list_since`]), listed on the core's blocking thread.
pub async fn list_batch(
    mp: &Arc<engine::mountpath::Mountpath>,
    bucket: &str,
    after: &str,
    n: usize,
    since_ns: i64,
) -> engine::Result<Vec<engine::list::ListEntry>> {
    let (m, b, a) = (mp.clone(), bucket.to_string(), after.to_string());
    glommio::executor()
        .spawn_blocking(move || {
            let bck = engine::layout::Bck::ais(&b);
            engine::list::list_since(&m, &bck, "", &a, n, false, since_ns)
        })
        .await
}

fn short(kind: &str) -> &str {
    match kind {
        "rebalance" => "g",
        "resilver" => "r",
        "make-n-copies" => "mnc",
        k => k,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn begin_once_starts_one_job_per_map_version() {
        let jobs = Jobs::default();
        let a = jobs
            .begin_once("rebalance", Some("g5".into()), "t1", 5)
            .expect("first");
        // A second trigger for the same map while the first runs: no second job, and the
        // first is not superseded.
        assert!(jobs
            .begin_once("rebalance", Some("g5".into()), "t1", 5)
            .is_none());
        assert!(!a.is_aborted());
        // Finished cleanly: still nothing to do for this map.
        a.finish();
        assert!(jobs
            .begin_once("rebalance", Some("g5".into()), "t1", 5)
            .is_none());
        // A newer map starts a new job.
        let b = jobs
            .begin_once("rebalance", Some("g6".into()), "t1", 6)
            .expect("newer map");
        // Errors in a finished job: the same map runs again (with a suffixed ID).
        b.errors.fetch_add(1, Ordering::Relaxed);
        b.finish();
        let c = jobs
            .begin_once("rebalance", Some("g6".into()), "t1", 6)
            .expect("retry");
        assert_eq!(c.id, "g6.2");
        // An aborted job does not count either.
        c.abort("stopped");
        c.finish();
        assert!(jobs
            .begin_once("rebalance", Some("g6".into()), "t1", 6)
            .is_some());
        // begin always starts, superseding a running one.
        let d = jobs.begin("rebalance", Some("g6".into()), "t1", 6);
        assert_eq!(
            jobs.all()
                .iter()
                .filter(|j| j.kind == "rebalance" && !j.is_finished())
                .count(),
            2
        );
        assert!(!d.is_aborted());
    }
}
