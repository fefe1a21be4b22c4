//! Node metrics: AIS's counters (`get.n`, `put.size`, `err.get.n`, ...; AIS
//! docs/monitoring-metrics.md) plus per-core series and request latency histograms.
//!
//! Counters live per thread (each server core counts into its own set, [`Counters`]; a
//! thread that is not a core gets one on first use) and are summed only when read: a scrape
//! of `/metrics` ([`render_prometheus`]) or `what=node_status` ([`tracker_json`]). Nothing on
//! the data path touches another core's cache lines.
//!
//! Latencies and throughputs that AIS reports as averages over `periodic.stats_time` (`get_ms`,
//! `get_redir_ms`, `kalive_ms`, `get_mbps`, the disk rates) are computed by [`tick`], which
//! the node calls once per interval; Prometheus gets the cumulative totals as well
//! (`get_ns_total`), from which any rate can be derived.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How a metric behaves (AIS's kinds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only grows: a count.
    Counter,
    /// Only grows: bytes.
    Size,
    /// Only grows: nanoseconds.
    Total,
}

/// One counter: AIS's internal name (node_status tracker), its public (Prometheus) name, kind
/// and help.
pub struct Def {
    pub internal: &'static str,
    pub public: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

macro_rules! metrics {
    ($( $id:ident = $internal:literal, $public:literal, $kind:ident, $help:literal; )*) => {
        /// The counters every node keeps.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(usize)]
        pub enum M { $( $id, )* }
        /// Definitions, indexed by [`M`].
        pub const DEFS: &[Def] = &[
            $( Def { internal: $internal, public: $public, kind: Kind::$kind, help: $help }, )*
        ];
    };
}

metrics! {
    GetN = "get.n", "get_count", Counter, "total number of executed GET(object) requests";
    GetSize = "get.size", "get_bytes", Size, "GET: total cumulative size (bytes)";
    GetNsTotal = "get.ns.total", "get_ns_total", Total, "GET: total cumulative time (nanoseconds)";
    PutN = "put.n", "put_count", Counter, "total number of executed PUT(object) requests";
    PutSize = "put.size", "put_bytes", Size, "PUT: total cumulative size (bytes)";
    PutNsTotal = "put.ns.total", "put_ns_total", Total, "PUT: total cumulative time (nanoseconds)";
    HeadN = "head.n", "head_count", Counter, "total number of executed HEAD(object) requests";
    HeadNsTotal = "head.ns.total", "head_ns_total", Total, "HEAD(object): total cumulative time (nanoseconds)";
    DelN = "del.n", "del_count", Counter, "total number of executed DELETE(object) requests";
    LstN = "lst.n", "lst_count", Counter, "total number of executed list-objects requests";
    LstNsTotal = "lst.ns.total", "lst_ns_total", Total, "list-objects: total cumulative time (nanoseconds)";
    AppendN = "append.n", "append_count", Counter, "total number of executed APPEND(object) requests";
    ErrGetN = "err.get.n", "err_get_count", Counter, "total number of GET(object) errors";
    ErrPutN = "err.put.n", "err_put_count", Counter, "total number of PUT(object) errors";
    ErrHeadN = "err.head.n", "err_head_count", Counter, "total number of HEAD(object) errors (not counting 404)";
    ErrDelN = "err.del.n", "err_del_count", Counter, "total number of DELETE(object) errors";
    ErrLstN = "err.lst.n", "err_lst_count", Counter, "total number of list-objects errors";
    ErrAppendN = "err.append.n", "err_append_count", Counter, "total number of APPEND(object) errors";
    ErrHttpWriteN = "err.http.write.n", "err_http_write_count", Counter, "total number of HTTP write-response errors";
    ErrCksumN = "err.cksum.n", "err_cksum_count", Counter, "number of checksum errors (PUT with a wrong client checksum, GET of a corrupted object)";
    GetRedirN = "get.redir.n", "get_redir_count", Counter, "GET: number of requests that came redirected by a gateway";
    GetRedirNsTotal = "get.redir.ns.total", "get_redir_ns_total", Total, "GET: total gateway-to-target redirect time (nanoseconds)";
    PutRedirN = "put.redir.n", "put_redir_count", Counter, "PUT: number of requests that came redirected by a gateway";
    PutRedirNsTotal = "put.redir.ns.total", "put_redir_ns_total", Total, "PUT: total gateway-to-target redirect time (nanoseconds)";
    KaliveN = "kalive.n", "kalive_count", Counter, "in-cluster keep-alives sent";
    KaliveNsTotal = "kalive.ns.total", "kalive_ns_total", Total, "in-cluster keep-alive: total round-trip time (nanoseconds)";
    StreamOutN = "stream.out.n", "stream_out_count", Counter, "intra-cluster streaming: number of sent objects";
    StreamOutSize = "stream.out.size", "stream_out_bytes", Size, "intra-cluster streaming: total size (bytes) of sent objects";
    StreamInN = "stream.in.n", "stream_in_count", Counter, "intra-cluster streaming: number of received objects";
    StreamInSize = "stream.in.size", "stream_in_bytes", Size, "intra-cluster streaming: total size (bytes) of received objects";
    ShardIdxLoadN = "shidx.load.n", "shard_index_load_count", Counter, "shard indexes loaded from their on-disk sidecar (archpath reads after a restart or a cache eviction)";
    ShardIdxBuildN = "shidx.build.n", "shard_index_build_count", Counter, "shard indexes built by scanning the shard";
    ShardIdxBadN = "shidx.bad.n", "shard_index_rejected_count", Counter, "on-disk shard indexes found stale or damaged (and rebuilt)";
    LruEvictN = "lru.evict.n", "lru_evict_count", Counter, "LRU: number of evicted objects";
    LruEvictSize = "lru.evict.size", "lru_evict_bytes", Size, "LRU: total size (bytes) of evicted objects";
    AwsGetN = "aws.get.n", "aws_get_count", Counter, "remote backend aws: number of GET (cold GET) requests";
    AwsGetSize = "aws.get.size", "aws_get_bytes", Size, "remote backend aws: GET: total size (bytes)";
    AwsGetNsTotal = "aws.get.ns.total", "aws_get_ns_total", Total, "remote backend aws: GET: total cumulative time (nanoseconds)";
    AwsPutN = "aws.put.n", "aws_put_count", Counter, "remote backend aws: number of PUT (write-through) requests";
    AwsPutSize = "aws.put.size", "aws_put_bytes", Size, "remote backend aws: PUT: total size (bytes)";
    AwsPutNsTotal = "aws.put.ns.total", "aws_put_ns_total", Total, "remote backend aws: PUT: total cumulative time (nanoseconds)";
    AwsHeadN = "aws.head.n", "aws_head_count", Counter, "remote backend aws: number of HEAD(object) requests";
    AwsDelN = "aws.del.n", "aws_del_count", Counter, "remote backend aws: number of DELETE(object) requests";
    GetBlobN = "getblob.n", "getblob_count", Counter, "total number of executed blob download requests";
    GetBlobSize = "getblob.size", "getblob_bytes", Size, "BLOB DOWNLOAD: total cumulative size (bytes)";
    ErrGetBlobN = "err.getblob.n", "err_getblob_count", Counter, "total number of blob download errors";
    VerChangeN = "ver.change.n", "ver_change_count", Counter, "cached remote objects found changed (or deleted) on the backend";
    VerChangeSize = "ver.change.size", "ver_change_bytes", Size, "cached remote objects found changed on the backend: total size (bytes)";
    ReqN = "req.n", "core_requests", Counter, "HTTP requests served";
    ReqInSize = "req.in.size", "core_bytes_in", Size, "request body bytes received";
    ReqOutSize = "req.out.size", "core_bytes_out", Size, "response body bytes sent";
}

/// Number of counters.
pub const COUNT: usize = DEFS.len();

/// Upper bounds (seconds) of the latency histogram buckets; the last bucket is +Inf.
pub const LATENCY_BUCKETS_S: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];
const NB: usize = LATENCY_BUCKETS_S.len() + 1;

/// A latency histogram: counts per bucket (non-cumulative) and the sum of observations.
pub struct Histogram {
    buckets: [AtomicU64; NB],
    sum_ns: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_ns: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    fn observe(&self, ns: u64) {
        let s = ns as f64 / 1e9;
        let i = LATENCY_BUCKETS_S
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(NB - 1);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }
}

/// The operations with their own latency histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Get,
    Put,
    Head,
    Del,
    List,
    Append,
    /// An object received from a peer (rebalance, resilver, mirror or EC traffic).
    StreamIn,
    /// Anything else (control plane, bucket and cluster requests).
    Other,
}

/// One thread's counters (one writer: its thread).
pub struct Counters {
    v: [AtomicU64; COUNT],
    get_latency: Histogram,
    put_latency: Histogram,
    /// Requests being served right now (queue depth of the core).
    inflight: AtomicU64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            v: std::array::from_fn(|_| AtomicU64::new(0)),
            get_latency: Histogram::default(),
            put_latency: Histogram::default(),
            inflight: AtomicU64::new(0),
        }
    }
}

impl Counters {
    fn add(&self, m: M, v: u64) {
        self.v[m as usize].fetch_add(v, Ordering::Relaxed);
    }
    fn get(&self, m: M) -> u64 {
        self.v[m as usize].load(Ordering::Relaxed)
    }
}

/// A registered counter set: its label (`core` id, or the thread's name) and its disk I/O
/// counters (engine::iostat) when it is a server core.
struct Entry {
    label: String,
    counters: Arc<Counters>,
    io: Option<Arc<engine::iostat::IoCounters>>,
}

static REGISTRY: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

thread_local! {
    static LOCAL: RefCell<Option<Arc<Counters>>> = const { RefCell::new(None) };
}

fn register(label: String, io: Option<Arc<engine::iostat::IoCounters>>) -> Arc<Counters> {
    let c = Arc::new(Counters::default());
    REGISTRY.lock().expect("metrics registry lock").push(Entry {
        label,
        counters: c.clone(),
        io,
    });
    c
}

/// Called once on each server core's thread at start-up: its counters are labelled
/// `core="<id>"` and carry the core's disk I/O counters.
pub fn register_core(core: usize) {
    let c = register(core.to_string(), Some(engine::iostat::local()));
    LOCAL.with(|l| *l.borrow_mut() = Some(c));
}

fn with_local(f: impl FnOnce(&Counters)) {
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let c = l.get_or_insert_with(|| {
            let name = std::thread::current()
                .name()
                .unwrap_or("thread")
                .to_string();
            register(name, None)
        });
        f(c);
    });
}

/// Add `v` to counter `m` of this thread.
pub fn add(m: M, v: u64) {
    with_local(|c| c.add(m, v));
}

/// A request started on this thread (queue depth); the guard ends it.
pub fn begin_request() -> InFlight {
    with_local(|c| {
        c.inflight.fetch_add(1, Ordering::Relaxed);
    });
    InFlight(())
}

/// Ends an in-flight request when dropped.
pub struct InFlight(());

impl Drop for InFlight {
    fn drop(&mut self) {
        with_local(|c| {
            c.inflight.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// A request of kind `op` finished with `status` (0: no response was written) after
/// `elapsed_ns`, having received `bytes_in` and sent `bytes_out` body bytes.
pub fn request_done(op: Op, status: u16, bytes_in: u64, bytes_out: u64, elapsed_ns: u64) {
    with_local(|c| {
        c.add(M::ReqN, 1);
        c.add(M::ReqInSize, bytes_in);
        c.add(M::ReqOutSize, bytes_out);
        let failed = status == 0 || status >= 400;
        // A redirect is the gateway's answer: counted, but not as served bytes or latency.
        match op {
            Op::Get if failed => c.add(M::ErrGetN, 1),
            Op::Get => {
                c.add(M::GetN, 1);
                if status < 300 {
                    c.add(M::GetSize, bytes_out);
                }
                c.add(M::GetNsTotal, elapsed_ns);
                c.get_latency.observe(elapsed_ns);
            }
            Op::Put if failed => c.add(M::ErrPutN, 1),
            Op::Put => {
                c.add(M::PutN, 1);
                c.add(M::PutSize, bytes_in);
                c.add(M::PutNsTotal, elapsed_ns);
                c.put_latency.observe(elapsed_ns);
            }
            // HEAD is how clients ask "does it exist": a 404 is an answer, not an error.
            Op::Head if failed && status != 404 => c.add(M::ErrHeadN, 1),
            Op::Head => {
                c.add(M::HeadN, 1);
                c.add(M::HeadNsTotal, elapsed_ns);
            }
            Op::Del if failed => c.add(M::ErrDelN, 1),
            Op::Del => c.add(M::DelN, 1),
            Op::List if failed => c.add(M::ErrLstN, 1),
            Op::List => {
                c.add(M::LstN, 1);
                c.add(M::LstNsTotal, elapsed_ns);
            }
            Op::Append if failed => c.add(M::ErrAppendN, 1),
            Op::Append => c.add(M::AppendN, 1),
            Op::StreamIn if !failed => {
                c.add(M::StreamInN, 1);
                c.add(M::StreamInSize, bytes_in);
            }
            Op::StreamIn | Op::Other => {}
        }
    });
}

/// Per-core (per counter set) figures.
#[derive(Clone, Debug, Default)]
pub struct CoreSnap {
    pub label: String,
    pub requests: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub inflight: u64,
    pub disk_reads: u64,
    pub disk_read_bytes: u64,
    pub disk_writes: u64,
    pub disk_write_bytes: u64,
    pub disk_wait_ns: u64,
}

/// Everything summed over the registered counter sets.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub totals: [u64; COUNT],
    pub cores: Vec<CoreSnap>,
    pub get_latency: ([u64; NB], u64),
    pub put_latency: ([u64; NB], u64),
}

impl Snapshot {
    pub fn get(&self, m: M) -> u64 {
        self.totals[m as usize]
    }
}

/// Sum every counter set now.
pub fn snapshot() -> Snapshot {
    let reg = REGISTRY.lock().expect("metrics registry lock");
    let mut s = Snapshot {
        totals: [0; COUNT],
        cores: Vec::new(),
        get_latency: ([0; NB], 0),
        put_latency: ([0; NB], 0),
    };
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    for e in reg.iter() {
        let c = &e.counters;
        for (i, t) in s.totals.iter_mut().enumerate() {
            *t += load(&c.v[i]);
        }
        for (h, out) in [
            (&c.get_latency, &mut s.get_latency),
            (&c.put_latency, &mut s.put_latency),
        ] {
            for (i, b) in out.0.iter_mut().enumerate() {
                *b += load(&h.buckets[i]);
            }
            out.1 += load(&h.sum_ns);
        }
        if let Some(io) = &e.io {
            s.cores.push(CoreSnap {
                label: e.label.clone(),
                requests: c.get(M::ReqN),
                bytes_in: c.get(M::ReqInSize),
                bytes_out: c.get(M::ReqOutSize),
                inflight: load(&c.inflight),
                disk_reads: load(&io.read_ops),
                disk_read_bytes: load(&io.read_bytes),
                disk_writes: load(&io.write_ops),
                disk_write_bytes: load(&io.write_bytes),
                disk_wait_ns: load(&io.read_wait_ns) + load(&io.write_wait_ns),
            });
        }
    }
    s.cores
        .sort_by(|a, b| (a.label.len(), a.label.as_str()).cmp(&(b.label.len(), b.label.as_str())));
    s
}

// ---- per-interval figures (AIS's latency and bandwidth kinds) --------------------------------

/// One disk's figures over the last interval.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DiskRates {
    pub read_mbps: f64,
    pub write_mbps: f64,
    /// Percent of the interval the disk was busy.
    pub util: f64,
    pub avg_rsize: u64,
    pub avg_wsize: u64,
}

/// The figures of the last complete interval.
#[derive(Clone, Debug, Default)]
pub struct Interval {
    pub seconds: f64,
    /// Averages in milliseconds: `get.ns`, `put.ns`, `get.redir.ns`, `put.redir.ns`,
    /// `kalive.ns`, `lst.ns` (AIS reports them as `*_ms`).
    pub get_ms: f64,
    pub put_ms: f64,
    pub get_redir_ms: f64,
    pub put_redir_ms: f64,
    pub kalive_ms: f64,
    pub lst_ms: f64,
    /// MB/s (AIS's MB: 10^6 bytes) of GET and PUT bodies.
    pub get_mbps: f64,
    pub put_mbps: f64,
    pub disks: BTreeMap<String, DiskRates>,
}

/// /proc/diskstats fields of one disk (what the rates need).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskStat {
    pub reads: u64,
    pub read_sectors: u64,
    pub writes: u64,
    pub write_sectors: u64,
    pub io_ms: u64,
}

/// Parse /proc/diskstats into name -> stats.
pub fn parse_diskstats(text: &str) -> BTreeMap<String, DiskStat> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 13 {
            continue;
        }
        let n = |i: usize| f[i].parse::<u64>().unwrap_or(0);
        out.insert(
            f[2].to_string(),
            DiskStat {
                reads: n(3),
                read_sectors: n(5),
                writes: n(7),
                write_sectors: n(9),
                io_ms: n(12),
            },
        );
    }
    out
}

/// The rates of one disk between two samples `secs` apart.
pub fn disk_rates(a: DiskStat, b: DiskStat, secs: f64) -> DiskRates {
    let d = |x: u64, y: u64| y.saturating_sub(x);
    let (r, w) = (d(a.reads, b.reads), d(a.writes, b.writes));
    let (rb, wb) = (
        d(a.read_sectors, b.read_sectors) * 512,
        d(a.write_sectors, b.write_sectors) * 512,
    );
    let secs = secs.max(1e-3);
    DiskRates {
        read_mbps: rb as f64 / 1e6 / secs,
        write_mbps: wb as f64 / 1e6 / secs,
        util: (d(a.io_ms, b.io_ms) as f64 / (secs * 1000.0) * 100.0).min(100.0),
        avg_rsize: rb.checked_div(r).unwrap_or(0),
        avg_wsize: wb.checked_div(w).unwrap_or(0),
    }
}

struct TickState {
    at: Instant,
    snap: [u64; COUNT],
    disks: BTreeMap<String, DiskStat>,
}

static TICK: Mutex<Option<TickState>> = Mutex::new(None);
static LAST: Mutex<Option<Interval>> = Mutex::new(None);

/// Close an interval: compute the averages since the previous call over the counters and the
/// `disks` (block device names; their /proc/diskstats lines). The node calls this every
/// `periodic.stats_time`. Reads /proc (blocking, a few microseconds).
pub fn tick(disks: &[String]) {
    let now = Instant::now();
    let snap = snapshot().totals;
    let all = std::fs::read_to_string("/proc/diskstats")
        .map(|t| parse_diskstats(&t))
        .unwrap_or_default();
    let mine: BTreeMap<String, DiskStat> = disks
        .iter()
        .filter_map(|d| all.get(d).map(|s| (d.clone(), *s)))
        .collect();
    let mut t = TICK.lock().expect("metrics tick lock");
    if let Some(prev) = t.as_ref() {
        let secs = now.duration_since(prev.at).as_secs_f64();
        let d = |m: M| snap[m as usize].saturating_sub(prev.snap[m as usize]);
        let avg_ms = |ns: M, n: M| {
            let n = d(n);
            if n == 0 {
                0.0
            } else {
                d(ns) as f64 / n as f64 / 1e6
            }
        };
        let iv = Interval {
            seconds: secs,
            get_ms: avg_ms(M::GetNsTotal, M::GetN),
            put_ms: avg_ms(M::PutNsTotal, M::PutN),
            get_redir_ms: avg_ms(M::GetRedirNsTotal, M::GetRedirN),
            put_redir_ms: avg_ms(M::PutRedirNsTotal, M::PutRedirN),
            kalive_ms: avg_ms(M::KaliveNsTotal, M::KaliveN),
            lst_ms: avg_ms(M::LstNsTotal, M::LstN),
            get_mbps: d(M::GetSize) as f64 / 1e6 / secs.max(1e-3),
            put_mbps: d(M::PutSize) as f64 / 1e6 / secs.max(1e-3),
            disks: mine
                .iter()
                .filter_map(|(n, s)| {
                    prev.disks
                        .get(n)
                        .map(|p| (n.clone(), disk_rates(*p, *s, secs)))
                })
                .collect(),
        };
        *LAST.lock().expect("metrics interval lock") = Some(iv);
    }
    *t = Some(TickState {
        at: now,
        snap,
        disks: mine,
    });
}

/// The last complete interval (none before the second [`tick`]).
pub fn last_interval() -> Interval {
    LAST.lock()
        .expect("metrics interval lock")
        .clone()
        .unwrap_or_default()
}

/// The block device (name in /proc/diskstats) holding a file system, by its `st_dev`.
pub fn disk_of_dev(dev: u64) -> Option<String> {
    let (maj, min) = (rustix::fs::major(dev), rustix::fs::minor(dev));
    if maj == 0 {
        return None; // tmpfs, overlay and other virtual file systems
    }
    let link = std::fs::read_link(format!("/sys/dev/block/{maj}:{min}")).ok()?;
    link.file_name()?.to_str().map(str::to_string)
}

// ---- output ------------------------------------------------------------------------------

/// One mountpath's capacity (bytes).
#[derive(Clone, Debug)]
pub struct MpCapacity {
    pub path: String,
    pub disk: Option<String>,
    /// The file system's `st_dev` (decimal), AIS's `fs_id`.
    pub fs: String,
    pub used: u64,
    pub avail: u64,
    pub total: u64,
}

impl MpCapacity {
    pub fn pct_used(&self) -> u64 {
        (self.used * 100).checked_div(self.total).unwrap_or(0)
    }
}

/// Capacity of each of `mountpaths` (path, st_dev) by statvfs (blocking, cheap).
pub fn capacities(mountpaths: &[(String, u64)]) -> Vec<MpCapacity> {
    mountpaths
        .iter()
        .filter_map(|(p, dev)| {
            let v = rustix::fs::statvfs(p.as_str()).ok()?;
            let total = v.f_blocks * v.f_frsize;
            let avail = v.f_bavail * v.f_frsize;
            let used = total.saturating_sub(v.f_bfree * v.f_frsize);
            Some(MpCapacity {
                path: p.clone(),
                disk: disk_of_dev(*dev),
                fs: format!("{dev}"),
                used,
                avail,
                total,
            })
        })
        .collect()
}

/// What a scrape adds to the counters: the node's identity and state.
pub struct NodeInfo<'a> {
    /// `target` or `proxy` (the Prometheus subsystem, as AIS).
    pub role: &'a str,
    pub node_id: &'a str,
    pub uptime_s: u64,
    pub state_flags: u64,
    pub capacity: &'a [MpCapacity],
    /// Other numeric counters of the node's services (EC, mirror, health checker), by
    /// internal name.
    pub extra: &'a serde_json::Map<String, serde_json::Value>,
}

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out<'a> {
    s: String,
    prefix: String,
    node: &'a str,
}

impl Out<'_> {
    fn family(&mut self, name: &str, ty: &str, help: &str) {
        let _ = writeln!(self.s, "# HELP {}_{name} {help}", self.prefix);
        let _ = writeln!(self.s, "# TYPE {}_{name} {ty}", self.prefix);
    }
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: impl std::fmt::Display) {
        let _ = write!(
            self.s,
            "{}_{name}{{node_id=\"{}\"",
            self.prefix,
            esc(self.node)
        );
        for (k, val) in labels {
            let _ = write!(self.s, ",{k}=\"{}\"", esc(val));
        }
        let _ = writeln!(self.s, "}} {v}");
    }
    fn one(&mut self, name: &str, ty: &str, help: &str, v: impl std::fmt::Display) {
        self.family(name, ty, help);
        self.sample(name, &[], v);
    }
    fn histogram(&mut self, name: &str, help: &str, h: &([u64; NB], u64)) {
        self.family(name, "histogram", help);
        let mut cum = 0u64;
        for (i, n) in h.0.iter().enumerate() {
            cum += n;
            let le = LATENCY_BUCKETS_S
                .get(i)
                .map_or_else(|| "+Inf".to_string(), f64::to_string);
            let _ = writeln!(
                self.s,
                "{}_{name}_bucket{{node_id=\"{}\",le=\"{le}\"}} {cum}",
                self.prefix,
                esc(self.node)
            );
        }
        let _ = writeln!(
            self.s,
            "{}_{name}_sum{{node_id=\"{}\"}} {}",
            self.prefix,
            esc(self.node),
            h.1 as f64 / 1e9
        );
        let _ = writeln!(
            self.s,
            "{}_{name}_count{{node_id=\"{}\"}} {cum}",
            self.prefix,
            esc(self.node)
        );
    }
}

/// The Prometheus text exposition (version 0.0.4) of this node: `ais_<role>_<public name>`
/// with the `node_id` label, as AIS names them, plus the per-core, per-disk and per-mountpath
/// series and the latency histograms.
pub fn render_prometheus(info: &NodeInfo<'_>) -> String {
    let snap = snapshot();
    let iv = last_interval();
    let mut o = Out {
        s: String::with_capacity(16 * 1024),
        prefix: format!("ais_{}", info.role),
        node: info.node_id,
    };
    for (i, d) in DEFS.iter().enumerate() {
        if d.public.starts_with("core_") {
            continue;
        }
        o.one(d.public, "counter", d.help, snap.totals[i]);
    }
    for (name, help, v) in [
        ("get_ms", "GET: average time (milliseconds) over the last stats interval", iv.get_ms),
        ("put_ms", "PUT: average time (milliseconds) over the last stats interval", iv.put_ms),
        ("lst_ms", "list-objects: average time (milliseconds) over the last stats interval", iv.lst_ms),
        ("get_redir_ms", "GET: average gateway-to-target redirect latency (milliseconds) over the last stats interval", iv.get_redir_ms),
        ("put_redir_ms", "PUT: average gateway-to-target redirect latency (milliseconds) over the last stats interval", iv.put_redir_ms),
        ("kalive_ms", "in-cluster keep-alive: average round-trip time (milliseconds) over the last stats interval", iv.kalive_ms),
        ("get_mbps", "GET: average throughput (MB/s) over the last stats interval", iv.get_mbps),
        ("put_mbps", "PUT: average throughput (MB/s) over the last stats interval", iv.put_mbps),
    ] {
        o.one(name, "gauge", help, v);
    }
    o.one(
        "uptime",
        "gauge",
        "this node's uptime since its startup (seconds)",
        info.uptime_s,
    );
    o.one(
        "state_flags",
        "gauge",
        "bitwise node-state flags (AIS cmn/cos/node_state.go)",
        info.state_flags,
    );
    // Per disk (of this node's mountpaths).
    type DiskField = fn(&DiskRates) -> f64;
    let disk_fields: [(&str, &str, DiskField); 5] = [
        ("disk_read_mbps", "read bandwidth (MB/s)", |r| r.read_mbps),
        ("disk_write_mbps", "write bandwidth (MB/s)", |r| {
            r.write_mbps
        }),
        ("disk_util", "disk utilization (%)", |r| r.util),
        ("disk_avg_rsize", "average read size (bytes)", |r| {
            r.avg_rsize as f64
        }),
        ("disk_avg_wsize", "average write size (bytes)", |r| {
            r.avg_wsize as f64
        }),
    ];
    if !iv.disks.is_empty() {
        for (name, help, f) in disk_fields {
            o.family(name, "gauge", help);
            for (disk, r) in &iv.disks {
                o.sample(name, &[("disk", disk)], f(r));
            }
        }
    }
    // Per mountpath.
    if !info.capacity.is_empty() {
        type CapField = fn(&MpCapacity) -> u64;
        let cap_fields: [(&str, &str, CapField); 3] = [
            (
                "capacity_used_bytes",
                "mountpath: used bytes of its file system",
                |c| c.used,
            ),
            (
                "capacity_avail_bytes",
                "mountpath: bytes available to the node",
                |c| c.avail,
            ),
            (
                "capacity_total_bytes",
                "mountpath: total bytes of its file system",
                |c| c.total,
            ),
        ];
        for (name, help, f) in cap_fields {
            o.family(name, "gauge", help);
            for c in info.capacity {
                o.sample(name, &[("mountpath", &c.path)], f(c));
            }
        }
    }
    // Per core.
    if !snap.cores.is_empty() {
        type CoreField = fn(&CoreSnap) -> u64;
        let core_fields: [(&str, &str, &str, CoreField); 9] = [
            (
                "core_requests",
                "counter",
                "HTTP requests served by the core",
                |c| c.requests,
            ),
            (
                "core_bytes_in",
                "counter",
                "request body bytes received by the core",
                |c| c.bytes_in,
            ),
            (
                "core_bytes_out",
                "counter",
                "response body bytes sent by the core",
                |c| c.bytes_out,
            ),
            (
                "core_inflight",
                "gauge",
                "requests in progress on the core (queue depth)",
                |c| c.inflight,
            ),
            (
                "core_disk_reads",
                "counter",
                "disk reads issued by the core",
                |c| c.disk_reads,
            ),
            (
                "core_disk_read_bytes",
                "counter",
                "bytes read from disk by the core",
                |c| c.disk_read_bytes,
            ),
            (
                "core_disk_writes",
                "counter",
                "disk writes issued by the core",
                |c| c.disk_writes,
            ),
            (
                "core_disk_write_bytes",
                "counter",
                "bytes written to disk by the core",
                |c| c.disk_write_bytes,
            ),
            (
                "core_disk_wait_ns_total",
                "counter",
                "time the core's requests waited for the disk (nanoseconds)",
                |c| c.disk_wait_ns,
            ),
        ];
        for (name, ty, help, f) in core_fields {
            o.family(name, ty, help);
            for c in &snap.cores {
                o.sample(name, &[("core", &c.label)], f(c));
            }
        }
    }
    o.histogram(
        "get_latency_seconds",
        "GET(object) request latency (seconds)",
        &snap.get_latency,
    );
    o.histogram(
        "put_latency_seconds",
        "PUT(object) request latency (seconds)",
        &snap.put_latency,
    );
    for (k, v) in info.extra {
        if let Some(n) = v.as_f64() {
            let name: String = k
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            o.one(&name, "gauge", k, n);
        }
    }
    o.s
}

/// AIS's `tracker` of `what=node_status`: internal name -> value. Cumulative counters, the
/// last interval's averages (`get.ns`, `get.bps`, `disk.<name>.util`, ...), `up.ns.time` and
/// `state.flags`.
pub fn tracker_json(
    uptime_ns: u64,
    state_flags: u64,
) -> serde_json::Map<String, serde_json::Value> {
    let snap = snapshot();
    let iv = last_interval();
    let mut t = serde_json::Map::new();
    for (i, d) in DEFS.iter().enumerate() {
        t.insert(d.internal.to_string(), snap.totals[i].into());
    }
    let ns = |ms: f64| ((ms * 1e6) as u64).into();
    t.insert("get.ns".into(), ns(iv.get_ms));
    t.insert("put.ns".into(), ns(iv.put_ms));
    t.insert("lst.ns".into(), ns(iv.lst_ms));
    t.insert("get.redir.ns".into(), ns(iv.get_redir_ms));
    t.insert("put.redir.ns".into(), ns(iv.put_redir_ms));
    t.insert("kalive.ns".into(), ns(iv.kalive_ms));
    t.insert("get.bps".into(), ((iv.get_mbps * 1e6) as u64).into());
    t.insert("put.bps".into(), ((iv.put_mbps * 1e6) as u64).into());
    for (d, r) in &iv.disks {
        t.insert(
            format!("disk.{d}.read.bps"),
            ((r.read_mbps * 1e6) as u64).into(),
        );
        t.insert(
            format!("disk.{d}.write.bps"),
            ((r.write_mbps * 1e6) as u64).into(),
        );
        t.insert(format!("disk.{d}.util"), (r.util.round() as u64).into());
        t.insert(format!("disk.{d}.avg.rsize"), r.avg_rsize.into());
        t.insert(format!("disk.{d}.avg.wsize"), r.avg_wsize.into());
    }
    t.insert("up.ns.time".into(), uptime_ns.into());
    t.insert("state.flags".into(), state_flags.into());
    t
}

/// AIS's `reset-stats`: zero every counter of this node, or only the `err.*` ones. A
/// Prometheus server sees a counter reset, as after a restart.
pub fn reset(errors_only: bool) {
    let reg = REGISTRY.lock().expect("metrics registry lock");
    for e in reg.iter() {
        for (i, d) in DEFS.iter().enumerate() {
            if !errors_only || d.internal.starts_with("err.") {
                e.counters.v[i].store(0, Ordering::Relaxed);
            }
        }
        if errors_only {
            continue;
        }
        for h in [&e.counters.get_latency, &e.counters.put_latency] {
            for b in &h.buckets {
                b.store(0, Ordering::Relaxed);
            }
            h.sum_ns.store(0, Ordering::Relaxed);
        }
        if let Some(io) = &e.io {
            for c in [
                &io.read_ops,
                &io.read_bytes,
                &io.read_wait_ns,
                &io.write_ops,
                &io.write_bytes,
                &io.write_wait_ns,
            ] {
                c.store(0, Ordering::Relaxed);
            }
        }
    }
    drop(reg);
    // The next interval starts from zero too.
    *TICK.lock().expect("metrics tick lock") = None;
}

/// `what=metrics` (AIS's GetMetricNames): every tracker name and its kind.
pub fn names_json() -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for d in DEFS {
        let kind = match d.kind {
            Kind::Counter => "counter",
            Kind::Size => "size",
            Kind::Total => "total",
        };
        m.insert(d.internal.into(), kind.into());
    }
    for n in [
        "get.ns",
        "put.ns",
        "lst.ns",
        "get.redir.ns",
        "put.redir.ns",
        "kalive.ns",
    ] {
        m.insert(n.into(), "latency".into());
    }
    for n in ["get.bps", "put.bps"] {
        m.insert(n.into(), "bw".into());
    }
    m.insert("up.ns.time".into(), "special".into());
    m.insert("state.flags".into(), "gauge".into());
    serde_json::Value::Object(m)
}

/// AIS node-state flag bits (cmn/cos/node_state.go) this node reports.
pub mod flags {
    pub const CLUSTER_STARTED: u64 = 1 << 1;
    pub const NODE_STARTED: u64 = 1 << 2;
    pub const REBALANCING: u64 = 1 << 3;
    pub const RESILVERING: u64 = 1 << 5;
    pub const MAINTENANCE_MODE: u64 = 1 << 10;
    pub const DISK_FAULT: u64 = 1 << 13;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diskstats_parse_and_rates() {
        let a = parse_diskstats(
            " 253       0 vda 100 0 2000 50 200 0 4000 80 0 300 130 0 0 0 0\n 7 0 loop0 1 2 3\n",
        );
        assert_eq!(a.len(), 1);
        let s = a["vda"];
        assert_eq!(
            (s.reads, s.read_sectors, s.writes, s.write_sectors, s.io_ms),
            (100, 2000, 200, 4000, 300)
        );
        let b = DiskStat {
            reads: 110,
            read_sectors: 2000 + 2048 * 10,
            writes: 200,
            write_sectors: 4000,
            io_ms: 800,
        };
        let r = disk_rates(s, b, 1.0);
        assert_eq!(r.avg_rsize, 1024 * 1024);
        assert!((r.read_mbps - 10.48576).abs() < 1e-6, "{r:?}");
        assert_eq!(r.write_mbps, 0.0);
        assert!((r.util - 50.0).abs() < 1e-9);
        assert_eq!(r.avg_wsize, 0);
    }

    #[test]
    fn requests_are_counted_per_thread_and_summed() {
        std::thread::spawn(|| {
            register_core(7);
            request_done(Op::Get, 200, 0, 4096, 2_000_000);
            request_done(Op::Get, 404, 0, 100, 1_000);
            request_done(Op::Put, 200, 1000, 0, 3_000_000);
            request_done(Op::Head, 404, 0, 0, 1_000);
            request_done(Op::Head, 500, 0, 0, 1_000);
        })
        .join()
        .unwrap();
        std::thread::spawn(|| request_done(Op::Get, 200, 0, 10, 1_000))
            .join()
            .unwrap();
        let s = snapshot();
        assert!(s.get(M::GetN) >= 2 && s.get(M::GetSize) >= 4106, "{s:?}");
        assert!(s.get(M::ErrGetN) >= 1 && s.get(M::ErrHeadN) >= 1);
        assert!(s.get(M::PutSize) >= 1000);
        let core = s.cores.iter().find(|c| c.label == "7").expect("core 7");
        assert_eq!(
            (core.requests, core.bytes_in, core.bytes_out),
            (5, 1000, 4196)
        );
        let text = render_prometheus(&NodeInfo {
            role: "target",
            node_id: "t1",
            uptime_s: 3,
            state_flags: flags::NODE_STARTED,
            capacity: &[],
            extra: &serde_json::Map::new(),
        });
        assert!(
            text.contains("# TYPE ais_target_get_count counter\n"),
            "{text}"
        );
        assert!(text.contains("ais_target_core_requests{node_id=\"t1\",core=\"7\"} 5\n"));
        assert!(text.contains("ais_target_put_latency_seconds_bucket{node_id=\"t1\",le=\"0.005\"}"));
        assert!(text.contains("ais_target_state_flags{node_id=\"t1\"} 4\n"));
        // The 2 ms GET is in the 2.5 ms bucket and every one above it.
        let line = text
            .lines()
            .find(|l| {
                l.starts_with("ais_target_get_latency_seconds_bucket{node_id=\"t1\",le=\"0.001\"}")
            })
            .unwrap();
        let below: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        let line = text
            .lines()
            .find(|l| {
                l.starts_with("ais_target_get_latency_seconds_bucket{node_id=\"t1\",le=\"0.0025\"}")
            })
            .unwrap();
        let at: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(at > below, "{text}");
    }
}
