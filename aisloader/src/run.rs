//! The run: bucket setup, executors and workers, closed- and open-loop scheduling, the PUT and
//! GET requests with verification, the stats printer on the main thread, the final report and
//! cleanup.
//!
//! Threads: one glommio executor per `-cores` (pinned with `-cpulist`), each running its share
//! of the workers as tasks; each worker owns one HTTP client (keep-alive connections, one read
//! buffer). The main thread only prints stats and decides when to stop. Cores share nothing on
//! the request path but a few relaxed atomics (stop flag, PUT limits, open-loop slot counter).
//!
//! Latency is measured around the whole request including redirects: from the moment the
//! request starts (closed loop) or from its intended send time (open loop, so queueing behind a
//! slow server is counted instead of hidden: no coordinated omission).

use crate::bucket::{Api, Control, ErrorBody, Listed, Signer};
use crate::content::{
    self, content_offset, content_offset_parts, content_slices, matches_content, object_size,
    random_letters, Xoshiro256pp, NAME_LETTERS,
};
use crate::format::{go_duration, local_hms, pretty_number, stats_header};
use crate::params::{Params, Target};
use crate::s3::{S3Signer, EMPTY_SHA256, UNSIGNED_PAYLOAD};
use crate::stats::{CoreCounters, CoreResult, IntervalRow, Op, Report, Snap, Steady, OPS};
use crate::{Error, Result};
use glommio::{LocalExecutorBuilder, Placement};
use net::client::{
    parse_http_url, BodySink, Client, ClientConfig, Endpoint, Request, ResponseHead,
};
use net::http::percent_encode_path;
use net::s3::signer::Signer as SigV4;
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc, Barrier, OnceLock};
use std::time::{Duration, Instant, SystemTime};
use xxhash_rust::xxh64::Xxh64;

/// Read buffer per worker: at least this (a response head must fit) ...
const READ_BUFFER_BYTES_MIN: usize = net::client::READ_BUFFER_BYTES_MIN;
/// ... at most this ...
const READ_BUFFER_BYTES_MAX: usize = 512 << 10;
/// ... or this when objects are under 1 MiB ...
const READ_BUFFER_BYTES_SMALL_OBJECTS: usize = 64 << 10;
/// ... and all workers' buffers together at most this.
const READ_BUFFERS_TOTAL_BYTES_MAX: usize = 256 << 20;
/// glommio I/O memory per executor: the loader does no file I/O, so the minimum.
const EXECUTOR_IO_MEMORY_BYTES: usize = 64 << 10;
/// How often the main thread checks for the end of the run and for Ctrl-C.
const CONTROL_POLL_MS: u64 = 100;

/// An object listed before the run, prepared for GETs.
struct ListedName {
    /// The name as stored (for `-direct` placement).
    raw: String,
    encoded: String,
    offset: usize,
    size: u64,
}

/// An object PUT by this run (name = new-object prefix + letters).
#[derive(Clone, Copy)]
struct OwnName {
    letters: [u8; NAME_LETTERS],
    offset: usize,
    size: u64,
}

/// Read-only description of the run, shared by all cores.
struct Spec {
    p: Params,
    endpoint: Endpoint,
    sig: Option<SigV4>,
    /// Request-target prefix of object paths: `/v1/objects/B/` or `/B/`.
    obj_prefix: String,
    /// Prefix of new object names: `subdir/` or empty (raw and percent-encoded).
    new_prefix_raw: String,
    new_prefix_encoded: String,
    put_query: String,
    get_query: String,
    range: Option<String>,
    listed: Vec<ListedName>,
    read_buffer_bytes: usize,
    /// `-direct`: placement from the cluster map.
    direct: Option<crate::direct::DirectMap>,
}

/// Run-wide state shared by the cores and the main thread.
struct Shared {
    stop: AtomicBool,
    puts_started: AtomicU64,
    put_bytes: AtomicU64,
    next_slot: AtomicU64,
    /// Set by the main thread once every core is ready.
    start: OnceLock<Instant>,
    end: OnceLock<Option<Instant>>,
    counters: Vec<CoreCounters>,
}

impl Shared {
    fn start(&self) -> Instant {
        *self.start.get().expect("start is set before workers run")
    }

    fn end(&self) -> Option<Instant> {
        *self.end.get().expect("end is set before workers run")
    }
}

struct Core {
    k: usize,
    spec: Arc<Spec>,
    shared: Arc<Shared>,
    result: RefCell<CoreResult>,
    own: RefCell<Vec<OwnName>>,
}

/// Run `f` on a fresh (unpinned) executor thread and wait for it.
fn on_executor<T, F, Fut>(name: &str, f: F) -> Result<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T> + 'static,
    T: Send + 'static,
{
    LocalExecutorBuilder::new(Placement::Unbound)
        .name(name)
        .io_memory(EXECUTOR_IO_MEMORY_BYTES)
        .spawn(f)
        .map_err(|source| Error::ExecutorStart {
            name: name.to_owned(),
            source,
        })?
        .join()
        .map_err(|source| Error::ExecutorFailed {
            name: name.to_owned(),
            source,
        })
}

fn api(p: &Params) -> Result<Api> {
    Ok(match &p.target {
        Target::Ais { url } => Api::Ais {
            endpoint: parse_http_url(url).map_err(Error::Url)?.0,
            provider: p.provider.clone(),
            token: p.token.clone(),
        },
        Target::S3 {
            url,
            access_key,
            secret_key,
            region,
        } => {
            let (endpoint, path) = parse_http_url(url).map_err(Error::Url)?;
            Api::S3 {
                endpoint,
                prefix: path.trim_end_matches('/').to_string(),
                sig: SigV4::new(access_key, secret_key, region),
            }
        }
    })
}

fn cname(p: &Params) -> String {
    match p.target {
        Target::Ais { .. } => format!("{}://{}", p.provider, p.bucket),
        Target::S3 { .. } => format!("s3://{}", p.bucket),
    }
}

/// Bucket checks and listing before the run (spec §7 flow steps 2-3). Returns the listed
/// objects; prints `Found N existing objects` when it listed.
pub fn setup(p: &Params) -> Result<Vec<Listed>> {
    let api = api(p)?;
    let bucket = p.bucket.clone();
    let subdir = p.subdir.clone();
    let provider_ais = p.provider == "ais" || matches!(p.target, Target::S3 { .. });
    let (put_pct, skip_list) = (p.put_pct, p.skip_list);
    let timeout = Duration::from_nanos(p.timeout_ns);
    let name = cname(p);
    let (created, listed) = on_executor("aisloader-setup", move || async move {
        let mut c = Control::new(api, timeout);
        let exists = c.bucket_exists(&bucket).await?;
        if !exists {
            if !provider_ais {
                return Err(Error::BucketNotFound { cname: name });
            }
            if put_pct < 100 {
                return Err(Error::NewBucketNeedsPuts { cname: name });
            }
            c.create_bucket(&bucket).await?;
            return Ok((true, Vec::new()));
        }
        if skip_list {
            return Ok((false, Vec::new()));
        }
        let listed = c.list_objects(&bucket, &subdir).await?;
        Ok::<_, Error>((false, listed))
    })??;
    if !created && !p.skip_list {
        if p.put_pct == 0 && listed.is_empty() {
            return Err(Error::NothingToRead {
                subdir: p.subdir.clone(),
            });
        }
        let n = listed.len() as u64;
        println!(
            "Found {} existing object{}\n",
            pretty_number(n),
            if n == 1 { "" } else { "s" }
        );
    }
    Ok(listed)
}

/// Destroy the bucket (AIS buckets only).
pub fn cleanup(p: &Params) -> Result<()> {
    let api = api(p)?;
    let bucket = p.bucket.clone();
    let timeout = Duration::from_nanos(p.timeout_ns);
    println!(
        "{} Cleaning up: destroying bucket {}",
        local_hms(SystemTime::now()),
        cname(p)
    );
    on_executor("aisloader-cleanup", move || async move {
        Control::new(api, timeout).destroy_bucket(&bucket).await
    })??;
    println!("{} Done", local_hms(SystemTime::now()));
    Ok(())
}

/// Process CPU time (user, system) in seconds, from /proc/self/stat.
pub fn process_cpu_secs() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 overall, i.e. 11 and 12 after the name.
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    let hz = clock_ticks_per_sec();
    Some((utime / hz, stime / hz))
}

#[allow(unsafe_code)]
fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as f64
    } else {
        100.0
    }
}

static STOP_SIGNALED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP_SIGNALED.store(true, Relaxed);
}

/// `-stoppable`: SIGINT and SIGTERM end the run gracefully (final stats are still printed).
#[allow(unsafe_code)]
fn install_stop_signals() {
    let handler = on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// Where interval and final stats go (`-stats-output`).
pub struct StatsOut {
    w: Box<dyn Write>,
    pub name: String,
}

impl StatsOut {
    pub fn open(path: Option<&str>) -> Result<StatsOut> {
        match path {
            None => Ok(StatsOut {
                w: Box::new(std::io::stdout()),
                name: "/dev/stdout".to_owned(),
            }),
            Some(p) => Ok(StatsOut {
                w: Box::new(std::fs::File::create(p).map_err(|source| Error::Io {
                    op: "cannot create stats output",
                    path: p.to_owned(),
                    source,
                })?),
                name: p.to_owned(),
            }),
        }
    }

    fn write(&mut self, s: &str) {
        // Stats output failing (e.g. a closed pipe) must not stop the load.
        let _ = self.w.write_all(s.as_bytes());
        let _ = self.w.flush();
    }
}

/// Run the workload; returns the final report (not yet printed).
pub fn run_workload(p: &Params, listed: Vec<Listed>, out: &mut StatsOut) -> Result<Report> {
    let (endpoint, url_path) = match &p.target {
        Target::Ais { url } | Target::S3 { url, .. } => parse_http_url(url).map_err(Error::Url)?,
    };
    // An S3 endpoint may carry a path (aisnode serves S3 under /s3).
    let s3_prefix = url_path.trim_end_matches('/').to_string();
    let sig = match &p.target {
        Target::S3 {
            access_key,
            secret_key,
            region,
            ..
        } => Some(SigV4::new(access_key, secret_key, region)),
        Target::Ais { .. } => None,
    };
    let bucket_enc = percent_encode_path(&p.bucket);
    let (obj_prefix, put_query, mut get_query) = match p.target {
        Target::Ais { .. } => (
            format!("/v1/objects/{bucket_enc}/"),
            format!("?provider={}&skip_vc=true", p.provider),
            format!("?provider={}", p.provider),
        ),
        Target::S3 { .. } => (
            format!("{s3_prefix}/{bucket_enc}/"),
            String::new(),
            String::new(),
        ),
    };
    if p.latest && matches!(p.target, Target::Ais { .. }) {
        get_query.push_str("&latest-ver=true");
    }
    let new_prefix_raw = if p.subdir.is_empty() {
        String::new()
    } else {
        format!("{}/", p.subdir)
    };
    let range = (p.read_len > 0).then(|| {
        format!(
            "bytes={}-{}",
            p.read_off,
            p.read_off.saturating_add(p.read_len - 1)
        )
    });
    // Large objects read in large pieces (fewer syscalls); small ones need little. Either way
    // all workers together stay under READ_BUFFERS_TOTAL_BYTES_MAX unless each is at the floor.
    let wanted = if p.max_size >= 1 << 20 {
        READ_BUFFER_BYTES_MAX
    } else {
        READ_BUFFER_BYTES_SMALL_OBJECTS
    };
    let read_buffer_bytes = (READ_BUFFERS_TOTAL_BYTES_MAX / p.workers as usize)
        .min(wanted)
        .max(READ_BUFFER_BYTES_MIN);
    let direct = if p.direct {
        let api = api(p)?;
        let timeout = Duration::from_nanos(p.timeout_ns);
        let smap = on_executor("aisloader-smap", move || async move {
            Control::new(api, timeout).smap().await
        })??;
        Some(crate::direct::DirectMap::from_smap(&smap).map_err(Error::DirectMap)?)
    } else {
        None
    };
    let listed = listed
        .into_iter()
        .map(|l| ListedName {
            raw: l.name.clone(),
            encoded: percent_encode_path(&l.name),
            offset: content_offset(l.name.as_bytes()),
            size: l.size,
        })
        .collect();
    let spec = Arc::new(Spec {
        p: p.clone(),
        endpoint,
        sig,
        obj_prefix,
        new_prefix_encoded: percent_encode_path(&new_prefix_raw),
        new_prefix_raw,
        put_query,
        get_query,
        range,
        listed,
        read_buffer_bytes,
        direct,
    });
    // Build the content pool before the clock starts.
    let _ = content::pool();
    if p.stoppable {
        install_stop_signals();
    }
    let cores = p.cores as usize;
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        puts_started: AtomicU64::new(0),
        put_bytes: AtomicU64::new(0),
        next_slot: AtomicU64::new(0),
        start: OnceLock::new(),
        end: OnceLock::new(),
        counters: (0..cores).map(|_| CoreCounters::default()).collect(),
    });
    let ready = Arc::new(Barrier::new(cores + 1));
    let go = Arc::new(Barrier::new(cores + 1));
    let (tx, rx) = mpsc::channel::<CoreResult>();
    let mut handles = Vec::with_capacity(cores);
    for k in 0..cores {
        let placement = match p.cpus.get(k) {
            Some(cpu) => Placement::Fixed(*cpu),
            None => Placement::Unbound,
        };
        let (spec, shared, ready, go, tx) = (
            spec.clone(),
            shared.clone(),
            ready.clone(),
            go.clone(),
            tx.clone(),
        );
        let h = LocalExecutorBuilder::new(placement)
            .name(&format!("aisloader-{k}"))
            .io_memory(EXECUTOR_IO_MEMORY_BYTES)
            .spawn(move || async move {
                // Blocking here is deliberate: the executor has no other work yet, and the
                // clock must not start before every core is up.
                ready.wait();
                go.wait();
                let r = core_main(k, spec, shared).await;
                let _ = tx.send(r);
            });
        // On failure the cores already started stay parked at the barrier; the caller exits.
        handles.push(h.map_err(|source| Error::CoreExecutorStart { core: k, source })?);
    }
    drop(tx);
    ready.wait();
    let cpu_before = process_cpu_secs();
    let start = Instant::now();
    let end = p.duration_ns.map(|d| start + Duration::from_nanos(d));
    shared.start.set(start).expect("set once");
    shared.end.set(end).expect("set once");
    out.write(&format!("\n{}", stats_header()));
    go.wait();

    let interval = Duration::from_secs(p.stats_interval_s);
    let mut next_tick = (p.stats_interval_s > 0).then(|| start + interval);
    let mut interval_start = start;
    let mut prev = [Snap::default(); 2];
    let mut merged = CoreResult::default();
    let mut finished = 0;
    // The steady window (`-ramp` to the deadline): counters taken when each edge passes.
    let ramp_at = end.map(|_| start + Duration::from_nanos(p.ramp_ns));
    let mut window_from: Option<(Instant, [Snap; 2])> = None;
    let mut steady: Option<Steady> = None;
    while finished < cores {
        let now = Instant::now();
        let mut wake = now + Duration::from_millis(CONTROL_POLL_MS);
        if let Some(t) = next_tick {
            wake = wake.min(t);
        }
        if let Some(e) = end {
            if !shared.stop.load(Relaxed) {
                wake = wake.min(e);
            }
        }
        if let (Some(r), None) = (ramp_at, &window_from) {
            wake = wake.min(r);
        }
        match rx.recv_timeout(wake.saturating_duration_since(now)) {
            Ok(r) => {
                merged.merge(&r);
                finished += 1;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        let now = Instant::now();
        if window_from.is_none() && ramp_at.is_some_and(|r| now >= r) {
            window_from = Some((now, totals(&shared)));
        }
        if end.is_some_and(|e| now >= e) && steady.is_none() {
            if let Some((from, at_ramp)) = &window_from {
                let at_end = totals(&shared);
                steady = Some(Steady {
                    from_s: from.duration_since(start).as_secs_f64(),
                    to_s: now.duration_since(start).as_secs_f64(),
                    ops: [at_end[0].since(&at_ramp[0]), at_end[1].since(&at_ramp[1])],
                });
            }
        }
        if end.is_some_and(|e| now >= e) || STOP_SIGNALED.load(Relaxed) {
            shared.stop.store(true, Relaxed);
        }
        if let Some(t) = next_tick {
            if now >= t && finished < cores {
                let rows = interval_rows(p, &shared, &mut prev, interval_start, start, now);
                out.write(&rows);
                interval_start = now;
                next_tick = Some(if t + interval > now {
                    t + interval
                } else {
                    now + interval
                });
            }
        }
    }
    let run_end = Instant::now();
    shared.stop.store(true, Relaxed);
    for (k, h) in handles.into_iter().enumerate() {
        h.join()
            .map_err(|source| Error::CoreFailed { core: k, source })?;
    }
    if finished < cores {
        return Err(Error::CoreNoResults);
    }
    let cpu = match (cpu_before, process_cpu_secs()) {
        (Some((u0, s0)), Some((u1, s1))) => Some((u1 - u0, s1 - s0)),
        _ => None,
    };
    Ok(Report {
        duration_ns: run_end.duration_since(start).as_nanos() as u64,
        steady,
        result: merged,
        cpu_secs: cpu,
        rate: p.rate,
        workers: p.workers,
        cores: p.cores,
    })
}

/// Every core's counters of each operation, summed.
fn totals(shared: &Shared) -> [Snap; 2] {
    OPS.map(|op| {
        let mut t = Snap::default();
        for c in &shared.counters {
            t.add(&c.ops[op as usize].snap());
        }
        t
    })
}

fn interval_rows(
    p: &Params,
    shared: &Shared,
    prev: &mut [Snap; 2],
    interval_start: Instant,
    start: Instant,
    now: Instant,
) -> String {
    let hms = local_hms(SystemTime::now());
    let mut out = String::new();
    let queued = if p.rate > 0.0 {
        let due = (now.duration_since(start).as_secs_f64() * p.rate) as u64;
        due.saturating_sub(shared.next_slot.load(Relaxed))
    } else {
        0
    };
    for op in OPS {
        let i = op as usize;
        let mut total = Snap::default();
        let (mut min, mut max, mut pending) = (u64::MAX, 0u64, 0u64);
        for c in &shared.counters {
            let oc = &c.ops[i];
            total.add(&oc.snap());
            let (lo, hi) = oc.take_min_max();
            min = min.min(lo);
            max = max.max(hi);
            pending += oc.pending();
        }
        let row = IntervalRow {
            hms: &hms,
            op,
            interval: total.since(&prev[i]),
            total,
            interval_min_ns: if min == u64::MAX { 0 } else { min },
            interval_max_ns: max,
            pending,
            queued,
            interval_secs: now.duration_since(interval_start).as_secs_f64(),
            total_secs: now.duration_since(start).as_secs_f64(),
        };
        if let Some(r) = row.render() {
            out.push_str(&r);
        }
        prev[i] = total;
    }
    out
}

async fn core_main(k: usize, spec: Arc<Spec>, shared: Arc<Shared>) -> CoreResult {
    let cores = spec.p.cores;
    let core = Rc::new(Core {
        k,
        spec,
        shared,
        result: RefCell::new(CoreResult::default()),
        own: RefCell::new(Vec::new()),
    });
    let tasks: Vec<_> = (0..core.spec.p.workers)
        .filter(|w| w % cores == k as u64)
        .map(|w| glommio::spawn_local(worker(core.clone(), w)))
        .collect();
    for t in tasks {
        t.await;
    }
    let result = core.result.borrow().clone();
    result
}

/// Per-worker reusable state.
struct Worker {
    core: Rc<Core>,
    client: Client,
    rng: Xoshiro256pp,
    target: String,
    slices: Vec<&'static [u8]>,
    signer: Signer,
    err_body: ErrorBody,
    get_sink: GetSink,
    timeout: Duration,
}

async fn worker(core: Rc<Core>, w: u64) {
    let spec = core.spec.clone();
    let p = &spec.p;
    let mut signer = match (&spec.sig, &p.token) {
        (Some(sig), _) => Signer::S3(Box::new(S3Signer::new(sig.clone()))),
        (None, Some(t)) => Signer::Bearer(t.clone()),
        (None, None) => Signer::None,
    };
    if let Signer::S3(s) = &mut signer {
        s.range = spec.range.clone();
    }
    let mut wk = Worker {
        client: Client::new(ClientConfig {
            read_buffer_bytes: spec.read_buffer_bytes,
            follow_redirects: true,
            user_agent: "aisloader".to_owned(),
            expect_continue_min_bytes: p.expect_continue_min_bytes,
            tls: None,
        }),
        rng: Xoshiro256pp::new(p.seed ^ (w + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        target: String::with_capacity(256),
        slices: Vec::with_capacity(4),
        signer,
        err_body: ErrorBody::default(),
        get_sink: GetSink::default(),
        timeout: Duration::from_nanos(p.timeout_ns),
        core,
    };
    let shared = wk.core.shared.clone();
    let open_loop = p.rate > 0.0;
    let slot_ns = if open_loop { 1e9 / p.rate } else { 0.0 };
    let start = shared.start();
    let end = shared.end();
    loop {
        if shared.stop.load(Relaxed) {
            break;
        }
        let base = if open_loop {
            let slot = shared.next_slot.fetch_add(1, Relaxed);
            let intended = start + Duration::from_nanos((slot as f64 * slot_ns) as u64);
            if end.is_some_and(|e| intended >= e) {
                break;
            }
            let now = Instant::now();
            if intended > now {
                glommio::timer::sleep(intended - now).await;
                if shared.stop.load(Relaxed) {
                    break;
                }
            }
            intended
        } else {
            Instant::now()
        };
        let have_names = !spec.listed.is_empty() || !wk.core.own.borrow().is_empty();
        let put = p.put_pct > 0 && (!have_names || wk.rng.next_u64() % 100 < p.put_pct);
        if put {
            if !do_put(&mut wk, &spec, base).await {
                break;
            }
        } else if have_names {
            do_get(&mut wk, &spec, base).await;
        } else {
            break; // 100% GET with nothing to read (setup refuses this; be safe)
        }
    }
}

/// The 16 lowercase hex digits of `v` (an XXH64 checksum value), without allocating.
fn lowercase_hex16(v: u64, out: &mut [u8; 16]) -> &str {
    net::hex::encode_into(&v.to_be_bytes(), out)
}

fn record_error(core: &Core, op: Op, kind: &str, message: impl FnOnce() -> String) {
    core.shared.counters[core.k].ops[op as usize].end_err();
    let first = core.result.borrow_mut().record_err(op, kind, message);
    if first {
        let r = core.result.borrow();
        if let Some(m) = r.first_error.get(&(op, kind.to_owned())) {
            eprintln!(
                "{} {} error ({kind}), first on core {}: {m}",
                local_hms(SystemTime::now()),
                op.label(),
                core.k
            );
        }
    }
}

/// One PUT; false when a PUT limit was reached (the run is over).
async fn do_put(wk: &mut Worker, spec: &Spec, base: Instant) -> bool {
    let p = &spec.p;
    let shared = &wk.core.shared;
    if p.max_puts > 0 && shared.puts_started.fetch_add(1, Relaxed) >= p.max_puts {
        shared.stop.store(true, Relaxed);
        return false;
    }
    let size = object_size(&mut wk.rng, p.min_size, p.max_size);
    if p.total_put_bytes > 0 && shared.put_bytes.fetch_add(size, Relaxed) >= p.total_put_bytes {
        shared.stop.store(true, Relaxed);
        return false;
    }
    let mut letters = [0u8; NAME_LETTERS];
    random_letters(&mut wk.rng, &mut letters);
    let letters_str = std::str::from_utf8(&letters).expect("letters are ASCII");
    let offset = content_offset_parts(&[spec.new_prefix_raw.as_bytes(), &letters]);
    wk.target.clear();
    wk.target.push_str(&spec.obj_prefix);
    wk.target.push_str(&spec.new_prefix_encoded);
    wk.target.push_str(letters_str);
    wk.target.push_str(&spec.put_query);
    wk.slices.clear();
    content_slices(offset, size, &mut wk.slices);
    let mut hex = [0u8; 16];
    let mut headers: [(&str, &str); 3] = [("", ""); 3];
    let mut n_headers = 0;
    let endpoint = match &spec.direct {
        Some(m) => {
            headers[0] = (crate::direct::HDR_DIRECT, "true");
            n_headers = 1;
            let mut name = String::with_capacity(spec.new_prefix_raw.len() + NAME_LETTERS);
            name.push_str(&spec.new_prefix_raw);
            name.push_str(letters_str);
            m.endpoint(&p.provider, &p.bucket, &name)
        }
        None => &spec.endpoint,
    };
    if p.send_cksum && spec.sig.is_none() {
        let mut h = Xxh64::new(0);
        for s in &wk.slices {
            h.update(s);
        }
        headers[n_headers] = ("Ais-Checksum-Type", "xxhash");
        headers[n_headers + 1] = ("Ais-Checksum-Value", lowercase_hex16(h.digest(), &mut hex));
        n_headers += 2;
    }
    if let Signer::S3(s) = &mut wk.signer {
        s.payload_hash = UNSIGNED_PAYLOAD;
        s.range = None;
    }
    let req = Request {
        method: "PUT",
        endpoint,
        target: &wk.target,
        headers: &headers[..n_headers],
        body: &wk.slices,
    };
    let counters = &shared.counters[wk.core.k].ops[Op::Put as usize];
    counters.begin();
    let deadline = Instant::now() + wk.timeout;
    let r = wk
        .client
        .execute(&req, &mut wk.signer, &mut wk.err_body, deadline)
        .await;
    let latency_ns = Instant::now().saturating_duration_since(base).as_nanos() as u64;
    match r {
        Ok(resp) if (200..300).contains(&resp.status) => {
            counters.end_ok(size, latency_ns);
            wk.core
                .result
                .borrow_mut()
                .record_ok(Op::Put, size, latency_ns, None);
            // Names are kept only for GETs: a 100% PUT run would grow this without bound.
            if p.put_pct < 100 {
                wk.core.own.borrow_mut().push(OwnName {
                    letters,
                    offset,
                    size,
                });
            }
        }
        Ok(resp) => {
            let kind = format!("http-{}", resp.status);
            record_error(&wk.core, Op::Put, &kind, || {
                format!(
                    "PUT {}: HTTP {}: {}",
                    wk.target,
                    resp.status,
                    wk.err_body.message()
                )
            });
        }
        Err(e) => record_error(&wk.core, Op::Put, e.kind(), || {
            format!("PUT {}: {e}", wk.target)
        }),
    }
    true
}

/// Streams a GET body: checks content against the name's stream and hashes full bodies.
#[derive(Default)]
struct GetSink {
    verify: bool,
    offset: usize,
    expect_pos: u64,
    status: u16,
    pos: u64,
    first_pos: u64,
    hasher: Option<Xxh64>,
    hashing: bool,
    mismatch: Option<u64>,
    err: ErrorBody,
}

impl GetSink {
    fn reset(&mut self, verify: bool, offset: usize, expect_pos: u64) {
        self.verify = verify;
        self.offset = offset;
        self.expect_pos = expect_pos;
        self.status = 0;
        self.pos = 0;
        self.first_pos = 0;
        self.hashing = false;
        self.mismatch = None;
    }
}

/// Start offset of `Content-Range: bytes a-b/n`.
fn content_range_start(head: &ResponseHead) -> Option<u64> {
    let v = head.header("content-range")?;
    let rest = v.trim().strip_prefix("bytes ")?;
    rest.split('-').next()?.trim().parse().ok()
}

impl BodySink for GetSink {
    fn head(&mut self, head: &ResponseHead) {
        self.status = head.status;
        self.err.head(head);
        self.pos = match head.status {
            206 => content_range_start(head).unwrap_or(self.expect_pos),
            _ => 0,
        };
        self.first_pos = self.pos;
        self.hashing = self.verify && head.status == 200;
        if self.hashing {
            self.hasher.get_or_insert_with(|| Xxh64::new(0)).reset(0);
        }
    }

    fn data(&mut self, bytes: &[u8]) {
        if self.status != 200 && self.status != 206 {
            self.err.data(bytes);
            return;
        }
        if self.verify && self.mismatch.is_none() && !matches_content(self.offset, self.pos, bytes)
        {
            let i = content::first_mismatch(self.offset, self.pos, bytes).unwrap_or(0);
            self.mismatch = Some(self.pos + i as u64);
        }
        if self.hashing {
            if let Some(h) = &mut self.hasher {
                h.update(bytes);
            }
        }
        self.pos += bytes.len() as u64;
    }
}

/// What `-verify` checks after a successful GET.
struct GetCheck<'a> {
    status: u16,
    body_bytes: u64,
    /// Object size as listed or as PUT by this run.
    size: u64,
    /// Object offset of the first body byte (0, or the Content-Range start).
    first_pos: u64,
    read_len: u64,
    /// Object offset of the first byte that differs from the name's content.
    mismatch: Option<u64>,
    /// xxh64 of a full (200) body.
    digest: Option<u64>,
    cksum_type: Option<&'a str>,
    cksum_value: Option<&'a str>,
}

/// `Err((kind, message))` when the GET returned wrong bytes, a wrong length, or a body whose
/// xxh64 differs from `Ais-Checksum-Value` (checked only for xxhash checksums of full GETs).
fn check_get(c: &GetCheck<'_>) -> Result<(), (&'static str, String)> {
    if let Some(at) = c.mismatch {
        return Err((
            "verify",
            format!("content differs from the expected bytes at offset {at}"),
        ));
    }
    let expected_len = if c.status == 200 {
        c.size
    } else {
        c.size.saturating_sub(c.first_pos).min(c.read_len.max(1))
    };
    if c.body_bytes != expected_len {
        return Err((
            "verify-size",
            format!(
                "{} body bytes, expected {expected_len} (object size {}, status {})",
                c.body_bytes, c.size, c.status
            ),
        ));
    }
    if let (Some(digest), Some("xxhash" | "xxhash2"), Some(want)) =
        (c.digest, c.cksum_type, c.cksum_value)
    {
        let mut hex = [0u8; 16];
        let got = lowercase_hex16(digest, &mut hex);
        if !want.eq_ignore_ascii_case(got) {
            return Err((
                "verify-cksum",
                format!("Ais-Checksum-Value {want}, xxh64 of the body {got}"),
            ));
        }
    }
    Ok(())
}

async fn do_get(wk: &mut Worker, spec: &Spec, base: Instant) {
    let p = &spec.p;
    let total = spec.listed.len() + wk.core.own.borrow().len();
    let idx = (wk.rng.next_u64() % total as u64) as usize;
    wk.target.clear();
    wk.target.push_str(&spec.obj_prefix);
    let mut endpoint = &spec.endpoint;
    let (offset, size) = if idx < spec.listed.len() {
        let l = &spec.listed[idx];
        wk.target.push_str(&l.encoded);
        if let Some(m) = &spec.direct {
            endpoint = m.endpoint(&p.provider, &p.bucket, &l.raw);
        }
        (l.offset, l.size)
    } else {
        let o = wk.core.own.borrow()[idx - spec.listed.len()];
        wk.target.push_str(&spec.new_prefix_encoded);
        let letters = std::str::from_utf8(&o.letters).expect("letters are ASCII");
        wk.target.push_str(letters);
        if let Some(m) = &spec.direct {
            let mut name = String::with_capacity(spec.new_prefix_raw.len() + NAME_LETTERS);
            name.push_str(&spec.new_prefix_raw);
            name.push_str(letters);
            endpoint = m.endpoint(&p.provider, &p.bucket, &name);
        }
        (o.offset, o.size)
    };
    wk.target.push_str(&spec.get_query);
    let mut headers_buf: [(&str, &str); 2] = [("", ""); 2];
    let mut n_headers = 0;
    if let Some(r) = &spec.range {
        headers_buf[0] = ("Range", r.as_str());
        n_headers = 1;
    }
    if spec.direct.is_some() {
        headers_buf[n_headers] = (crate::direct::HDR_DIRECT, "true");
        n_headers += 1;
    }
    let headers = &headers_buf[..n_headers];
    if let Signer::S3(s) = &mut wk.signer {
        s.payload_hash = EMPTY_SHA256;
        if s.range.as_deref() != spec.range.as_deref() {
            s.range = spec.range.clone();
        }
    }
    wk.get_sink.reset(p.verify, offset, p.read_off);
    let req = Request {
        method: "GET",
        endpoint,
        target: &wk.target,
        headers,
        body: &[],
    };
    let counters = &wk.core.shared.counters[wk.core.k].ops[Op::Get as usize];
    counters.begin();
    let deadline = Instant::now() + wk.timeout;
    let r = wk
        .client
        .execute(&req, &mut wk.signer, &mut wk.get_sink, deadline)
        .await;
    let latency_ns = Instant::now().saturating_duration_since(base).as_nanos() as u64;
    let resp = match r {
        Ok(resp) => resp,
        Err(e) => {
            record_error(&wk.core, Op::Get, e.kind(), || {
                format!("GET {}: {e}", wk.target)
            });
            return;
        }
    };
    if resp.status != 200 && resp.status != 206 {
        let kind = format!("http-{}", resp.status);
        record_error(&wk.core, Op::Get, &kind, || {
            format!(
                "GET {}: HTTP {}: {}",
                wk.target,
                resp.status,
                wk.get_sink.err.message()
            )
        });
        return;
    }
    if p.verify {
        let s = &wk.get_sink;
        let head = wk.client.head();
        let check = GetCheck {
            status: resp.status,
            body_bytes: resp.body_bytes,
            size,
            first_pos: s.first_pos,
            read_len: p.read_len,
            mismatch: s.mismatch,
            digest: if s.hashing {
                s.hasher.as_ref().map(Xxh64::digest)
            } else {
                None
            },
            cksum_type: head.header("ais-checksum-type"),
            cksum_value: head.header("ais-checksum-value"),
        };
        if let Err((kind, msg)) = check_get(&check) {
            record_error(&wk.core, Op::Get, kind, || {
                format!("GET {}: {msg}", wk.target)
            });
            return;
        }
    }
    let ttfb_ns = resp.head_at.saturating_duration_since(base).as_nanos() as u64;
    counters.end_ok(resp.body_bytes, latency_ns);
    wk.core
        .result
        .borrow_mut()
        .record_ok(Op::Get, resp.body_bytes, latency_ns, Some(ttfb_ns));
}

/// Everything after argument parsing: setup, run, report, cleanup. Returns the exit code.
pub fn execute(p: &Params) -> Result<()> {
    let listed = setup(p)?;
    print!("{}", crate::params::runtime_configuration(p));
    if p.cleanup {
        let what = if p.provider == "ais" {
            "destroyed"
        } else {
            "emptied"
        };
        println!(
            "BEWARE: cleanup is enabled, bucket {} will be {what} upon termination!",
            cname(p)
        );
    }
    let mut out = StatsOut::open(p.stats_output.as_deref())?;
    let t0 = Instant::now();
    let report = run_workload(p, listed, &mut out);
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            if p.cleanup {
                let _ = cleanup(p);
            }
            return Err(e);
        }
    };
    let hms = local_hms(SystemTime::now());
    out.write(&format!("\n{}{}", stats_header(), report.final_rows(&hms)));
    println!("Stats written to {}", out.name);
    print!("{}", report.extras());
    if let Some(path) = &p.json {
        let text = serde_json::to_string_pretty(&report.to_json()).expect("report serializes");
        if path == "-" {
            println!("{text}");
        } else {
            std::fs::write(path, text + "\n").map_err(|source| Error::Io {
                op: "cannot write -json",
                path: path.clone(),
                source,
            })?;
            println!("Summary written to {path}");
        }
    }
    let cleanup_result = if p.cleanup { cleanup(p) } else { Ok(()) };
    println!(
        "\nActual run duration: {}",
        go_duration(t0.elapsed().as_nanos() as i64)
    );
    cleanup_result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex16() {
        let mut b = [0u8; 16];
        assert_eq!(
            lowercase_hex16(0xef46db3751d8e999, &mut b),
            "ef46db3751d8e999"
        );
        assert_eq!(lowercase_hex16(1, &mut b), "0000000000000001");
    }

    #[test]
    fn get_verification_table() {
        let ok = GetCheck {
            status: 200,
            body_bytes: 4096,
            size: 4096,
            first_pos: 0,
            read_len: 0,
            mismatch: None,
            digest: Some(0xa50e_d8cd_69b5_740a),
            cksum_type: Some("xxhash2"),
            cksum_value: Some("a50ed8cd69b5740a"),
        };
        assert_eq!(check_get(&ok), Ok(()));
        let kind = |c: GetCheck| check_get(&c).unwrap_err().0;
        assert_eq!(
            kind(GetCheck {
                mismatch: Some(7),
                ..ok
            }),
            "verify"
        );
        assert_eq!(
            kind(GetCheck {
                body_bytes: 4095,
                ..ok
            }),
            "verify-size"
        );
        assert_eq!(
            kind(GetCheck {
                cksum_value: Some("0000000000000000"),
                ..ok
            }),
            "verify-cksum"
        );
        // Unknown checksum types and absent headers are not compared.
        assert_eq!(
            check_get(&GetCheck {
                cksum_type: Some("md5"),
                cksum_value: Some("x"),
                ..ok
            }),
            Ok(())
        );
        assert_eq!(
            check_get(&GetCheck {
                cksum_value: None,
                ..ok
            }),
            Ok(())
        );
        // Ranges: length is min(readlen, size - start); the whole-object checksum is not used.
        let range = GetCheck {
            status: 206,
            body_bytes: 1000,
            first_pos: 100,
            read_len: 1000,
            digest: None,
            ..ok
        };
        assert_eq!(check_get(&range), Ok(()));
        assert_eq!(
            check_get(&GetCheck {
                body_bytes: 96,
                first_pos: 4000,
                ..range
            }),
            Ok(())
        );
        assert_eq!(
            kind(GetCheck {
                body_bytes: 999,
                ..range
            }),
            "verify-size"
        );
    }

    #[test]
    fn proc_stat_is_readable() {
        let (u, s) = process_cpu_secs().expect("/proc/self/stat");
        assert!(u >= 0.0 && s >= 0.0);
    }
}
