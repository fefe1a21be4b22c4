//! Section 6: global rebalance (issue 6). A multi-process cluster (one proxy, three targets
//! with two mountpaths each, every node its own `aisnode` process, all on the work directory's
//! file system) is filled with objects of one size; then an open-loop foreground load (a fixed
//! request rate, 10% PUT) runs once undisturbed (the baseline) and once while a fourth target
//! joins, which makes every target move the objects HRW now places on the newcomer.
//!
//! Measured: (a) rebalance throughput (bytes and objects moved, summed over the targets'
//! rebalance jobs from `GET /v1/cluster?what=jobs`, over the jobs' own start-to-end window)
//! against fio sequential write and read at the object size on the same file system, run right
//! before; (b) the foreground's latency percentiles during the rebalance against the baseline.
//! The second foreground run is stopped (SIGINT to aisloader `-stoppable`, which still writes
//! its summary) as soon as every target's job for the new map has finished, so its percentiles
//! cover the rebalance window (plus the second or so the new target takes to join).
//!
//! Ports come from `--rebalance-port-base` (default 23000..23999), apart from the other
//! sections and from the ports the integration tests use. Every process is a `Server` guard
//! (stopped by PID on every exit path, recorded in the registry for `perf cleanup`).

use crate::config::{Config, RebalanceClass};
use crate::env::DiskCounter;
use crate::measure::{self, Endpoint, FioJob, Load, Observed, Observer, Row, Sample, MIB};
use crate::proc::{self, http_get, Server};
use crate::results::Results;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Targets before the fourth joins.
pub const TARGETS_BEFORE: usize = 3;
const MOUNTPATHS_PER_TARGET: usize = 2;
/// The proxy only redirects; one reactor is plenty.
pub const PROXY_CORES: usize = 1;
/// Ports of the section: --rebalance-port-base .. + this.
const PORT_SPAN: u16 = 1000;
const CLUSTER_READY_TIMEOUT_S: u64 = 60;
/// Longest rebalance waited for; the report says so if it took longer.
const REBALANCE_TIMEOUT_S: u64 = 300;
/// Longest aisloader may take to list the bucket before its timed part starts.
const FG_START_TIMEOUT_S: u64 = 180;
pub const JOBS_POLL_MS: u64 = 100;
/// An aborted job that has not finished after this long is waiting for something that will
/// not happen (see `blocked_nodes`).
const ABORTED_UNFINISHED_GRACE_S: f64 = 5.0;
/// No object moved and no job finished for this long: stop waiting, report a stall.
const STALL_S: f64 = 30.0;
/// How long the freshly started cluster may take to finish its (empty) join-time rebalances.
const SETTLE_TIMEOUT_S: f64 = 15.0;
/// Restarts of a target whose join-time jobs never finished, before the measurement.
const RESTARTS_MAX: usize = 2;
/// Consecutive failed polls of the jobs list before the section gives up.
const JOBS_POLL_FAILURES_MAX: u32 = 50;
/// Closed-loop workers of the fill (PUT only).
const FILL_WORKERS: u32 = 16;
/// Upper bound of the fill's duration (it stops at the configured bytes long before).
const FILL_DURATION_MAX_S: f64 = 600.0;
/// Warning/error lines of the node logs quoted in the report per run.
const LOG_LINES_QUOTED_MAX: usize = 4;
/// Line aisloader prints when setup (listing) is done and the timed part starts.
const AISLOADER_TIMED_START: &str = "Runtime configuration:";

/// One target's rebalance work for the new map (its jobs summed).
#[derive(Debug, Clone, Serialize)]
pub struct TargetJobs {
    pub node: String,
    pub jobs: usize,
    pub objects: u64,
    pub bytes: u64,
    pub errors: u64,
    pub aborted: usize,
    pub duration_s: f64,
    /// Smap version of each of its jobs (a second job means the map changed again, or a
    /// second start for the same map, which superseded the first).
    pub smap_versions: Vec<i64>,
}

/// One size class: the fill, the rebalance, and the foreground before and during it.
#[derive(Debug, Clone, Serialize)]
pub struct RebalanceRun {
    pub size: u64,
    pub rate: f64,
    pub pct_put: u32,
    pub target_cores: usize,
    pub fill_objects: u64,
    pub fill_bytes: u64,
    /// Smap version with three targets, before the fourth was started.
    pub smap_version_before: i64,
    /// Seconds from starting the fourth target until the primary's Smap listed it and every
    /// node answered /v1/health.
    pub join_s: f64,
    /// First job start to last job end (the targets' own timestamps).
    pub duration_s: f64,
    /// From the Smap listing four targets until the harness saw every job finished.
    pub observed_s: f64,
    pub objects: u64,
    pub bytes: u64,
    /// Sum of the jobs' error counters (aisnode resets a job's counter at each pass, so this
    /// is the last pass's).
    pub errors: u64,
    pub aborted_jobs: usize,
    pub per_target: Vec<TargetJobs>,
    /// The rebalance did not finish within REBALANCE_TIMEOUT_S.
    pub timed_out: bool,
    /// Nothing moved and no job finished for STALL_S while some job was still unfinished.
    pub stalled: bool,
    /// Targets whose job for the new map never ran: it waited for older jobs of theirs that
    /// were aborted but never finished; (target, the jobs it waited for).
    pub blocked_targets: Vec<(String, Vec<String>)>,
    /// Daemon ID of the target that joined.
    pub new_target: String,
    /// Targets restarted before the measurement because their join-time jobs were stuck.
    pub restarted_targets: Vec<String>,
    /// Length of the foreground run during the rebalance (aisloader's timed part).
    pub fg_window_s: f64,
    /// Foreground failures by op and kind (aisloader's names, e.g. `GET http-404`).
    pub fg_errors_before: Vec<(String, u64)>,
    pub fg_errors_during: Vec<(String, u64)>,
    /// Objects in flight per target: the `--rebalance-workers` the targets ran with, else
    /// aisnode's default from `aisnode --help`, when found.
    pub concurrency_per_target: Option<u64>,
    /// `--rebalance-workers` passed to the targets (throttle sweep); None: aisnode's default.
    pub workers_flag: Option<usize>,
    /// A sweep entry that is the section's own run at this size (the workers value is
    /// aisnode's default), not a separate measurement.
    pub sweep_reused: bool,
    /// Rebalance window's CPU and disk, from /proc (the whole window of the foreground run).
    pub aisnode_cores: f64,
    pub aisnode_max_thread_cores: f64,
    pub aisnode_runq_wait_s_per_s: f64,
    pub machine_cores: f64,
    pub loader_cores: f64,
    pub disk_read_mib_s: f64,
    pub disk_write_mib_s: f64,
    /// WARN/ERROR lines counted in the node logs after the run, and a few of them.
    pub log_warnings: usize,
    pub log_errors: usize,
    pub log_quotes: Vec<String>,
}

impl RebalanceRun {
    pub fn mib_s(&self) -> f64 {
        self.bytes as f64 / MIB as f64 / self.duration_s.max(1e-9)
    }
    pub fn objects_s(&self) -> f64 {
        self.objects as f64 / self.duration_s.max(1e-9)
    }
}

// ---------------------------------------------------------------- ports, HTTP, jobs

/// Consecutive free ports from the section's range, never handed out twice.
struct Ports {
    next: u16,
    end: u16,
}

impl Ports {
    fn take(&mut self, count: u16) -> Result<u16> {
        while self.next.saturating_add(count) <= self.end {
            let first = self.next;
            match (first..first + count).find(|&p| TcpListener::bind(("127.0.0.1", p)).is_err()) {
                None => {
                    self.next = first + count;
                    return Ok(first);
                }
                Some(busy) => self.next = busy + 1,
            }
        }
        bail!(
            "no {count} consecutive free ports left below {} (--rebalance-port-base)",
            self.end
        )
    }
}

fn get_json(port: u16, path: &str) -> Result<serde_json::Value> {
    let (status, body) = http_get(port, path)?;
    if status != 200 {
        bail!(
            "GET :{port}{path}: status {status}: {}",
            String::from_utf8_lossy(&body)
                .chars()
                .take(300)
                .collect::<String>()
        );
    }
    serde_json::from_slice(&body).with_context(|| format!("GET :{port}{path}: not JSON"))
}

/// A number that may be sent as a JSON number or a string.
fn num(v: &serde_json::Value) -> i64 {
    v.as_i64()
        .or_else(|| v.as_u64().map(|x| x as i64))
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0)
}

#[derive(Debug, Clone)]
struct Job {
    id: String,
    node: String,
    smap_version: i64,
    start_ns: i64,
    end_ns: i64,
    objects: u64,
    bytes: u64,
    errors: u64,
    finished: bool,
    aborted: bool,
}

/// Rebalance jobs from `what=jobs`: a list, or an object of per-target lists.
fn parse_jobs(v: &serde_json::Value) -> Vec<Job> {
    let mut raw: Vec<&serde_json::Value> = Vec::new();
    match v {
        serde_json::Value::Array(a) => raw.extend(a),
        serde_json::Value::Object(m) => {
            for x in m.values() {
                if let serde_json::Value::Array(a) = x {
                    raw.extend(a);
                }
            }
        }
        _ => {}
    }
    raw.into_iter()
        .filter(|j| j["kind"].as_str().is_none_or(|k| k == "rebalance"))
        .map(|j| Job {
            id: j["id"].as_str().unwrap_or("?").to_owned(),
            node: j["node"].as_str().unwrap_or("?").to_owned(),
            smap_version: num(&j["smap_version"]),
            start_ns: num(&j["start_time_ns"]),
            end_ns: num(&j["end_time_ns"]),
            objects: num(&j["objects"]).max(0) as u64,
            bytes: num(&j["bytes"]).max(0) as u64,
            errors: num(&j["errors"]).max(0) as u64,
            finished: j["finished"].as_bool().unwrap_or(false),
            aborted: j["aborted"].as_bool().unwrap_or(false),
        })
        .collect()
}

/// Objects in flight per target by default (`--rebalance-workers`), from `aisnode --help`.
fn concurrency_per_target(bin: &Path) -> Option<u64> {
    let out = Command::new(bin.join("aisnode"))
        .arg("--help")
        .output()
        .ok()?;
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = help
        .lines()
        .skip_while(|l| !l.contains("--rebalance-workers"));
    let first = lines.next()?;
    std::iter::once(first)
        .chain(lines.take_while(|l| !l.trim_start().starts_with('-')))
        .find_map(|l| {
            let i = l.find("[default: ")?;
            l[i + 10..].split(']').next()?.trim().parse().ok()
        })
}

/// Aborted-but-unfinished jobs, tracked across polls: a node whose aborted job stays
/// unfinished longer than the grace is blocked (a newer job waits for it to stop first).
#[derive(Default)]
struct Blocked {
    first_seen: BTreeMap<(String, String), Instant>,
}

impl Blocked {
    /// Nodes blocked now, each with the IDs of the jobs it waits for.
    fn update(&mut self, all: &[Job]) -> BTreeMap<String, Vec<String>> {
        let now = Instant::now();
        let live: Vec<(String, String)> = all
            .iter()
            .filter(|j| j.aborted && !j.finished)
            .map(|j| (j.node.clone(), j.id.clone()))
            .collect();
        self.first_seen.retain(|k, _| live.contains(k));
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for k in live {
            let t = *self.first_seen.entry(k.clone()).or_insert(now);
            if now.duration_since(t).as_secs_f64() >= ABORTED_UNFINISHED_GRACE_S {
                out.entry(k.0).or_default().push(k.1);
            }
        }
        out
    }
}

// ---------------------------------------------------------------- cluster

struct AisNode {
    server: Server,
    port: u16,
}

/// One proxy and its targets, each a separate aisnode process; stopped (targets first) when
/// dropped.
struct Cluster {
    dir: PathBuf,
    proxy: Option<AisNode>,
    targets: Vec<AisNode>,
    target_cores: usize,
    /// `--rebalance-workers` for every target (None: aisnode's default).
    rebalance_workers: Option<usize>,
    /// Logs of node runs that were restarted.
    old_logs: Vec<PathBuf>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Targets first, so none is left trying to reach a stopped primary.
        while let Some(t) = self.targets.pop() {
            drop(t);
        }
        drop(self.proxy.take());
    }
}

impl Cluster {
    fn proxy_port(&self) -> u16 {
        self.proxy.as_ref().map_or(0, |p| p.port)
    }

    fn spawn(
        &self,
        cfg: &Config,
        name: &str,
        role: &str,
        port: u16,
        cores: usize,
    ) -> Result<Server> {
        let data = self.dir.join(name);
        std::fs::create_dir_all(&data)?;
        let mut cmd = Command::new(cfg.bin.join("aisnode"));
        cmd.args(["--role", role, "--host", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .args(["--core-port-base", &(port + 1).to_string()])
            .arg("--data-dir")
            .arg(&data)
            .args(["--cores", &cores.to_string()]);
        if role == "target" {
            for k in 1..=MOUNTPATHS_PER_TARGET {
                let mp = data.join(format!("mp{k}"));
                std::fs::create_dir_all(&mp)?;
                cmd.arg("--mountpath").arg(mp);
            }
            cmd.arg("--no-fsync");
            if let Some(w) = self.rebalance_workers {
                cmd.args(["--rebalance-workers", &w.to_string()]);
            }
            cmd.arg("--primary-url")
                .arg(format!("http://127.0.0.1:{}", self.proxy_port()));
        }
        let log = cfg.work.join(format!(
            "logs/rebalance-{}-{name}.log",
            self.dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        let mut s = Server::spawn(&format!("aisnode ({name})"), cmd, &log)?;
        let last = if role == "target" {
            port + cores as u16
        } else {
            port
        };
        for p in port..=last {
            s.wait_port(p, Duration::from_secs(CLUSTER_READY_TIMEOUT_S))?;
        }
        Ok(s)
    }

    fn start(
        cfg: &Config,
        dir: &Path,
        ports: &mut Ports,
        target_cores: usize,
        rebalance_workers: Option<usize>,
    ) -> Result<Cluster> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)?;
        let mut c = Cluster {
            dir: dir.to_owned(),
            proxy: None,
            targets: Vec::new(),
            target_cores,
            rebalance_workers,
            old_logs: Vec::new(),
        };
        let pp = ports.take(1 + PROXY_CORES as u16)?;
        let server = c.spawn(cfg, "proxy", "proxy", pp, PROXY_CORES)?;
        c.proxy = Some(AisNode { server, port: pp });
        for _ in 0..TARGETS_BEFORE {
            c.add_target(cfg, ports)?;
        }
        c.wait_ready()?;
        Ok(c)
    }

    /// Start one more target (it joins through the primary); returns once it listens.
    fn add_target(&mut self, cfg: &Config, ports: &mut Ports) -> Result<()> {
        let port = ports.take(1 + self.target_cores as u16)?;
        let name = format!("target{}", self.targets.len());
        let server = self.spawn(cfg, &name, "target", port, self.target_cores)?;
        self.targets.push(AisNode { server, port });
        Ok(())
    }

    /// Stop target `idx` and start it again on the same port and mountpaths (so with the same
    /// ID, which aisnode keeps in the mountpaths' xattrs); it rejoins the cluster.
    fn restart_target(&mut self, cfg: &Config, idx: usize) -> Result<()> {
        let port = self.targets[idx].port;
        let name = format!("target{idx}");
        // Dropping the guard stops the process (SIGTERM, then SIGKILL after a grace).
        let old = self.targets.remove(idx);
        let log = old.server.log.clone();
        drop(old);
        // Keep the first run's log (the evidence) next to the new one.
        let kept = log.with_extension(format!("before-restart-{}.log", self.old_logs.len() + 1));
        if std::fs::rename(&log, &kept).is_ok() {
            self.old_logs.push(kept);
        }
        let server = self.spawn(cfg, &name, "target", port, self.target_cores)?;
        self.targets.insert(idx, AisNode { server, port });
        Ok(())
    }

    /// Index of our target with this daemon ID (from the primary's Smap).
    fn target_index(&self, id: &str) -> Result<usize> {
        let smap = get_json(self.proxy_port(), "/v1/daemon?what=smap")?;
        let port = match &smap["tmap"][id]["public_net"]["daemon_port"] {
            serde_json::Value::String(s) => s.parse::<u16>().ok(),
            x => x.as_u64().map(|p| p as u16),
        }
        .with_context(|| format!("target {id} is not in the primary's Smap"))?;
        self.targets
            .iter()
            .position(|t| t.port == port)
            .with_context(|| format!("target {id} (port {port}) is not one we started"))
    }

    /// Daemon IDs of the targets in the primary's Smap.
    fn target_ids(&self) -> Result<Vec<String>> {
        let smap = get_json(self.proxy_port(), "/v1/daemon?what=smap")?;
        Ok(smap["tmap"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default())
    }

    /// Wait until the fresh cluster's join-time rebalance jobs (nothing to move yet) have all
    /// finished. A target whose aborted join-time jobs never finish is restarted (at most
    /// RESTARTS_MAX times), because every later rebalance on it would wait for them forever;
    /// the report says so. Returns the IDs of the targets restarted.
    fn settle(&mut self, cfg: &Config, res: &mut Results, label: &str) -> Result<Vec<String>> {
        let mut restarted: Vec<String> = Vec::new();
        let mut blocked = Blocked::default();
        let mut t0 = Instant::now();
        loop {
            proc::check_interrupted()?;
            self.check_running()?;
            let all = parse_jobs(&get_json(self.proxy_port(), "/v1/cluster?what=jobs")?);
            if all.iter().all(|j| j.finished) {
                return Ok(restarted);
            }
            let stuck = blocked.update(&all);
            for (node, ids) in &stuck {
                let n = restarted.iter().filter(|r| *r == node).count();
                if n >= RESTARTS_MAX {
                    res.note(
                        "rebalance",
                        format!("{label}: target {node}: rebalance job(s) {} still aborted and unfinished after {n} restart(s); measuring anyway", ids.join(", ")),
                    );
                    return Ok(restarted);
                }
                let idx = self.target_index(node)?;
                res.note(
                    "rebalance",
                    format!(
                        "{label}: right after the cluster formed, target {node} (port {}) had rebalance job(s) {} aborted but never finished (each waits for the other to finish: the deadlock described under Rebalance), so every later rebalance on it would wait forever; restarted it (same port and mountpaths, so the same ID) before the measurement",
                        self.targets[idx].port,
                        ids.join(", ")
                    ),
                );
                self.restart_target(cfg, idx)?;
                self.wait_ready()?;
                restarted.push(node.clone());
                blocked = Blocked::default();
                t0 = Instant::now();
            }
            if t0.elapsed().as_secs_f64() > SETTLE_TIMEOUT_S {
                let open: Vec<String> = all
                    .iter()
                    .filter(|j| !j.finished)
                    .map(|j| format!("{} on {}", j.id, j.node))
                    .collect();
                res.note(
                    "rebalance",
                    format!("{label}: join-time rebalance jobs still unfinished after {SETTLE_TIMEOUT_S} s: {}; measuring anyway", open.join(", ")),
                );
                return Ok(restarted);
            }
            std::thread::sleep(Duration::from_millis(JOBS_POLL_MS));
        }
    }

    fn nodes_mut(&mut self) -> impl Iterator<Item = &mut AisNode> {
        self.proxy.iter_mut().chain(self.targets.iter_mut())
    }

    fn check_running(&mut self) -> Result<()> {
        for n in self.nodes_mut() {
            n.server.check_running()?;
        }
        Ok(())
    }

    fn pids(&self) -> Vec<i32> {
        self.proxy
            .iter()
            .chain(&self.targets)
            .map(|n| n.server.pid)
            .collect()
    }

    fn smap_version(&self) -> Result<i64> {
        Ok(num(
            &get_json(self.proxy_port(), "/v1/daemon?what=smap")?["version"]
        ))
    }

    /// Wait until the primary's Smap lists exactly our targets (by port), every node answers
    /// /v1/health with 200 and holds the primary's Smap version; returns that version.
    fn wait_ready(&mut self) -> Result<i64> {
        let deadline = Instant::now() + Duration::from_secs(CLUSTER_READY_TIMEOUT_S);
        let want: Vec<String> = {
            let mut v: Vec<String> = self.targets.iter().map(|t| t.port.to_string()).collect();
            v.sort();
            v
        };
        let mut last = String::from("no answer yet");
        loop {
            proc::check_interrupted()?;
            self.check_running()?;
            match self.ready_once(&want) {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => {}
                Err(e) => last = format!("{e:#}"),
            }
            if Instant::now() > deadline {
                bail!("cluster not ready within {CLUSTER_READY_TIMEOUT_S} s: {last}");
            }
            std::thread::sleep(Duration::from_millis(JOBS_POLL_MS));
        }
    }

    fn ready_once(&self, want: &[String]) -> Result<Option<i64>> {
        let smap = get_json(self.proxy_port(), "/v1/daemon?what=smap")?;
        let version = num(&smap["version"]);
        let mut have: Vec<String> = smap["tmap"]
            .as_object()
            .map(|m| {
                m.values()
                    .map(|t| match &t["public_net"]["daemon_port"] {
                        serde_json::Value::String(s) => s.clone(),
                        x => x.to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        have.sort();
        if have != want {
            bail!("primary's Smap v{version} lists targets on ports {have:?}, want {want:?}");
        }
        for n in self.proxy.iter().chain(&self.targets) {
            let (status, _) = http_get(n.port, "/v1/health")?;
            if status != 200 {
                bail!("port {}: /v1/health answered {status}", n.port);
            }
            let v = num(&get_json(n.port, "/v1/daemon?what=smap")?["version"]);
            if v != version {
                bail!("port {} holds Smap v{v}, the primary v{version}", n.port);
            }
        }
        Ok(Some(version))
    }

    fn commands(&self) -> Vec<(String, String)> {
        self.proxy
            .iter()
            .chain(&self.targets)
            .map(|n| (n.server.what.clone(), n.server.command.clone()))
            .collect()
    }

    fn logs(&self) -> Vec<PathBuf> {
        self.proxy
            .iter()
            .chain(&self.targets)
            .map(|n| n.server.log.clone())
            .chain(self.old_logs.iter().cloned())
            .collect()
    }

    /// Stop every node (targets first) and remove the data directories.
    fn stop_and_wipe(mut self) {
        while let Some(t) = self.targets.pop() {
            drop(t);
        }
        drop(self.proxy.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------- foreground load

/// Workers of the open-loop foreground: `rebalance_fg_lookahead_s` worth of requests.
pub fn fg_workers(cfg: &Config, class: &RebalanceClass) -> u32 {
    (class.rate * cfg.rebalance_fg_lookahead_s).ceil().max(8.0) as u32
}

/// What one foreground run measured.
struct FgResult {
    get: Sample,
    put: Sample,
    /// Failures by op and kind, e.g. ("GET http-404", 3).
    errors: Vec<(String, u64)>,
    /// aisloader's report of the first failure of each kind (which node answered what).
    first_errors: Vec<String>,
}

/// An open-loop aisloader run in the background.
struct Foreground {
    server: Server,
    json: PathBuf,
}

impl Foreground {
    fn start(
        cfg: &Config,
        proxy_port: u16,
        bucket: &str,
        class: &RebalanceClass,
        duration_s: f64,
        stoppable: bool,
        tag: &str,
    ) -> Result<Foreground> {
        let json = measure::json_dir(cfg)?.join(format!("rebalance-{tag}.json"));
        let _ = std::fs::remove_file(&json);
        let size = measure::size_arg(class.size);
        let mut cmd = Command::new(cfg.bin.join("aisloader"));
        cmd.args(["-ip", "127.0.0.1", "-port", &proxy_port.to_string()])
            .arg(format!("-bucket=ais://{bucket}"))
            .arg("-cleanup=false")
            .arg(format!("-pctput={}", cfg.rebalance_pct_put))
            .arg(format!("-minsize={size}"))
            .arg(format!("-maxsize={size}"))
            .arg(format!("-rate={}", class.rate))
            .arg(format!("-numworkers={}", fg_workers(cfg, class)))
            .arg(format!("-duration={}ms", (duration_s * 1000.0) as u64))
            .args(["-statsinterval=0", "-quiet"])
            .arg(format!("-json={}", json.display()));
        if stoppable {
            cmd.arg("-stoppable");
        }
        let log = cfg.work.join(format!("logs/rebalance-fg-{tag}.log"));
        let server = Server::spawn(&format!("aisloader ({tag})"), cmd, &log)?;
        Ok(Foreground { server, json })
    }

    /// Wait until aisloader has listed the bucket and started its timed part.
    fn wait_timed_start(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(FG_START_TIMEOUT_S);
        loop {
            proc::check_interrupted()?;
            if std::fs::read_to_string(&self.server.log)
                .is_ok_and(|s| s.contains(AISLOADER_TIMED_START))
            {
                return Ok(());
            }
            self.server.check_running()?;
            if Instant::now() > deadline {
                bail!(
                    "{} did not start its timed part within {FG_START_TIMEOUT_S} s; log {}:\n{}",
                    self.server.what,
                    self.server.log.display(),
                    proc::tail(&self.server.log, 20)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// After aisloader exited: its GET and PUT samples and failures by kind.
    fn finish(mut self, seen: &Observed) -> Result<FgResult> {
        let st = self.server.wait_exit(Duration::from_secs(60))?;
        let text = std::fs::read_to_string(&self.json).with_context(|| {
            format!(
                "{} ({st}) wrote no {}; log:\n{}",
                self.server.what,
                self.json.display(),
                proc::tail(&self.server.log, 20)
            )
        })?;
        let v: serde_json::Value = serde_json::from_str(&text).context("parse aisloader JSON")?;
        let get = measure::sample_from_aisloader_json(&v, "get", seen, self.server.command.clone());
        let put = measure::sample_from_aisloader_json(&v, "put", seen, self.server.command.clone());
        if get.ops == 0 {
            bail!(
                "{}: no successful GETs; log:\n{}",
                self.server.what,
                proc::tail(&self.server.log, 20)
            );
        }
        // Failures by op and kind, e.g. ("GET http-404", 3).
        let mut errors = Vec::new();
        for op in ["get", "put"] {
            if let Some(m) = v[op]["errors_by_kind"].as_object() {
                for (k, n) in m {
                    let n = n.as_u64().unwrap_or(0);
                    if n > 0 {
                        errors.push((format!("{} {k}", op.to_uppercase()), n));
                    }
                }
            }
        }
        let first_errors = std::fs::read_to_string(&self.server.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(" error (") && l.contains("first"))
            .take(LOG_LINES_QUOTED_MAX)
            .map(|l| l.chars().take(400).collect())
            .collect();
        Ok(FgResult {
            get,
            put,
            errors,
            first_errors,
        })
    }
}

// ---------------------------------------------------------------- the section

fn have_fio() -> bool {
    Command::new("fio")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// (warnings, errors, a few quoted lines) in the node logs.
fn scan_logs(logs: &[PathBuf]) -> (usize, usize, Vec<String>) {
    let (mut warns, mut errs, mut quotes) = (0, 0, Vec::new());
    for l in logs {
        let name = l
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for line in std::fs::read_to_string(l).unwrap_or_default().lines() {
            let w = line.contains(" WARN ");
            let e = line.contains(" ERROR ") || line.contains("panicked");
            warns += usize::from(w);
            errs += usize::from(e);
            if (w || e) && quotes.len() < LOG_LINES_QUOTED_MAX {
                quotes.push(format!(
                    "{name}: {}",
                    line.chars().take(300).collect::<String>()
                ));
            }
        }
    }
    (warns, errs, quotes)
}

pub fn run(cfg: &Config, res: &mut Results) -> Result<()> {
    let dir = cfg.work.join("rebalance");
    std::fs::create_dir_all(&dir)?;
    let disks: Vec<DiskCounter> = DiskCounter::for_path(&dir).into_iter().collect();
    let mut ports = Ports {
        next: cfg.rebalance_port_base,
        end: cfg.rebalance_port_base.saturating_add(PORT_SPAN),
    };
    let fio_file = dir.join("fio.dat");
    let fio = have_fio();
    if fio {
        eprintln!(
            "perf [rebalance]: laying out {} ({} MiB) for fio",
            fio_file.display(),
            cfg.fio_file_bytes >> 20
        );
        measure::fio_layout(cfg, &fio_file, cfg.fio_file_bytes).context("fio layout")?;
    } else {
        res.note(
            "rebalance",
            "fio is not installed: rebalance throughput is reported without its ratio to the disk",
        );
    }
    for class in &cfg.rebalance_classes {
        if fio {
            for (rw, op) in [("write", "write"), ("read", "read")] {
                let s = measure::fio(
                    cfg,
                    &FioJob::on_file(cfg, &fio_file, rw, class.size),
                    &disks,
                )?;
                measure::progress(
                    "rebalance",
                    &format!("fio {rw} {}", measure::size_label(class.size)),
                    &s,
                );
                let mut row = Row::new("rebalance-fio", "fio", op, class.size, 0);
                row.samples.push(s);
                res.rows.push(row);
            }
        }
        one_class(cfg, res, class, &dir, &disks, &mut ports, None)?;
        proc::check_interrupted()?;
    }
    sweep(cfg, res, &dir, &disks, &mut ports)?;
    let _ = std::fs::remove_file(&fio_file);
    let _ = std::fs::remove_dir_all(&dir);
    res.durability.push((
        "aisnode (section 6)".into(),
        "`--no-fsync` on every target (as for the rows compared with fio in section 2): a moved object is written with O_DIRECT and acknowledged before the sender deletes its copy, without fdatasync".into(),
    ));
    Ok(())
}

/// Object size of the throttle sweep's runs (the class of that size, else the first class).
pub const SWEEP_SIZE: u64 = 64 * measure::KIB;

/// The throttle sweep (`--rebalance-workers-sweep`): the add-a-target measurement of one size
/// class again, on a fresh cluster per workers value whose targets run with
/// `--rebalance-workers <value>`. The value equal to aisnode's default reuses the section's
/// own run of that class (same setup, no flag needed). A failed value is noted and the sweep
/// goes on.
fn sweep(
    cfg: &Config,
    res: &mut Results,
    dir: &Path,
    disks: &[DiskCounter],
    ports: &mut Ports,
) -> Result<()> {
    let Some(class) = cfg
        .rebalance_classes
        .iter()
        .find(|c| c.size == SWEEP_SIZE)
        .or(cfg.rebalance_classes.first())
        .copied()
    else {
        return Ok(());
    };
    let default = concurrency_per_target(&cfg.bin).map(|c| c as usize);
    for &w in &cfg.rebalance_workers_sweep {
        proc::check_interrupted()?;
        let main = res
            .rebalance
            .iter()
            .find(|r| r.size == class.size && r.workers_flag.is_none())
            .cloned();
        if let (Some(mut r), true) = (main, default == Some(w)) {
            // The section's own run already is this point of the sweep.
            for (phase, op) in [
                ("before", "get"),
                ("before", "put"),
                ("during", "get"),
                ("during", "put"),
            ] {
                if let Some(row) = res.find("rebalance", phase, op, class.size, 0).cloned() {
                    let mut row2 = Row::new("rebalance-sweep", phase, op, class.size, w);
                    row2.samples = row.samples;
                    res.rows.push(row2);
                }
            }
            r.workers_flag = Some(w);
            r.sweep_reused = true;
            res.rebalance_sweep.push(r);
            continue;
        }
        eprintln!(
            "perf [rebalance]: sweep: {} with --rebalance-workers {w}",
            measure::size_label(class.size)
        );
        if let Err(e) = one_class(cfg, res, &class, dir, disks, ports, Some(w)) {
            proc::check_interrupted()?;
            res.note(
                "rebalance",
                format!(
                    "sweep, {} with --rebalance-workers {w}: failed: {e:#}",
                    measure::size_label(class.size)
                ),
            );
        }
    }
    Ok(())
}

/// One add-a-target measurement. `workers`: None for the section's own run (aisnode's default
/// `--rebalance-workers`, results in `res.rebalance` and rows of section "rebalance" with
/// n = 0); Some(w) for a throttle-sweep run (targets started with `--rebalance-workers w`,
/// results in `res.rebalance_sweep` and rows of section "rebalance-sweep" with n = w).
fn one_class(
    cfg: &Config,
    res: &mut Results,
    class: &RebalanceClass,
    dir: &Path,
    disks: &[DiskCounter],
    ports: &mut Ports,
    workers: Option<usize>,
) -> Result<()> {
    let size = class.size;
    let (label, tag, section, n) = match workers {
        None => (
            measure::size_label(size),
            measure::size_tag(size),
            "rebalance",
            0,
        ),
        Some(w) => (
            format!("{}, {w} rebalance workers", measure::size_label(size)),
            format!("{}-w{w}", measure::size_tag(size)),
            "rebalance-sweep",
            w,
        ),
    };
    let cores = cfg.rebalance_target_cores;
    let mut cl = Cluster::start(
        cfg,
        &dir.join(format!("cluster-{tag}")),
        ports,
        cores,
        workers,
    )?;
    let proxy = cl.proxy_port();
    let restarted_targets = cl.settle(cfg, res, &label)?;
    eprintln!(
        "perf [rebalance]: {label}: 1 proxy + {TARGETS_BEFORE} targets up (proxy on :{proxy})"
    );
    let bucket = format!("rebalance-{tag}");
    let fill = measure::aisloader(
        cfg,
        &Load {
            endpoint: &Endpoint::Ais { port: proxy },
            bucket: &bucket,
            put: true,
            size,
            workers: FILL_WORKERS,
            duration_s: FILL_DURATION_MAX_S,
            put_cap_bytes: class.fill_bytes,
            direct: false,
            ramp_s: 0.0,
        },
        &cl.proxy
            .iter()
            .chain(&cl.targets)
            .map(|n| &n.server)
            .collect::<Vec<_>>(),
        disks,
        &format!("rebalance-fill-{tag}"),
    )?;
    measure::progress("rebalance", &format!("fill {label}"), &fill);
    let (fill_objects, fill_bytes) = (fill.ops, (fill.bytes_per_s * fill.duration_s) as u64);
    let fill_n = if workers.is_some() { n } else { TARGETS_BEFORE };
    let mut row = Row::new(section, "fill", "put", size, fill_n);
    row.samples.push(fill);
    res.rows.push(row);
    cl.check_running()?;
    // No object data in memory for the baseline either (aisnode uses O_DIRECT anyway).
    measure::drop_caches();

    // Baseline: the same open loop, no rebalance.
    let mut fg = Foreground::start(
        cfg,
        proxy,
        &bucket,
        class,
        cfg.rebalance_baseline_s,
        false,
        &format!("before-{tag}"),
    )?;
    fg.wait_timed_start()?;
    let obs = Observer::start(&cl.pids(), disks);
    fg.server
        .wait_exit(Duration::from_secs(cfg.rebalance_baseline_s as u64 + 120))?;
    let seen = obs.finish();
    let FgResult {
        get: get_b,
        put: put_b,
        errors: err_b,
        first_errors: first_b,
    } = fg.finish(&seen)?;
    measure::progress(
        "rebalance",
        &format!("foreground GET {label}, before"),
        &get_b,
    );
    cl.check_running()?;

    // During: start the same load, then the fourth target; stop the load when every target's
    // job for the new map has finished.
    let v_before = cl.smap_version()?;
    let mut fg = Foreground::start(
        cfg,
        proxy,
        &bucket,
        class,
        (REBALANCE_TIMEOUT_S + 60) as f64,
        true,
        &format!("during-{tag}"),
    )?;
    fg.wait_timed_start()?;
    let old_ids = cl.target_ids()?;
    let mut obs = Observer::start(&cl.pids(), disks);
    let t_spawn = Instant::now();
    cl.add_target(cfg, ports)?;
    // A brand-new process: all its CPU falls in the window.
    obs.add_new_process(cl.targets.last().map_or(0, |t| t.server.pid));
    cl.wait_ready()?;
    let join_s = t_spawn.elapsed().as_secs_f64();
    eprintln!(
        "perf [rebalance]: {label}: fourth target joined in {join_s:.2} s (Smap was v{v_before})"
    );
    let t_join = Instant::now();
    let ids = cl.target_ids()?;
    let new_target = ids
        .iter()
        .find(|id| !old_ids.contains(id))
        .cloned()
        .unwrap_or_default();
    let mut failures = 0u32;
    let mut last_print = Instant::now();
    let (mut timed_out, mut stalled) = (false, false);
    let mut blocked = Blocked::default();
    let mut stuck: BTreeMap<String, Vec<String>>;
    let (mut progress, mut t_progress) = ((0u64, 0usize), Instant::now());
    let jobs: Vec<Job> = loop {
        proc::check_interrupted()?;
        cl.check_running()?;
        fg.server.check_running()?;
        let all = match get_json(proxy, "/v1/cluster?what=jobs") {
            Ok(v) => {
                failures = 0;
                parse_jobs(&v)
            }
            Err(e) => {
                failures += 1;
                if failures >= JOBS_POLL_FAILURES_MAX {
                    return Err(e.context("polling the rebalance jobs"));
                }
                std::thread::sleep(Duration::from_millis(JOBS_POLL_MS));
                continue;
            }
        };
        stuck = blocked.update(&all);
        let cur: Vec<Job> = all
            .into_iter()
            .filter(|j| j.smap_version > v_before)
            .collect();
        // Done when every target has finished its job(s) for the new map, or is blocked (its
        // job waits for older ones that will never finish).
        let done = ids.iter().all(|id| {
            stuck.contains_key(id) || {
                let mine: Vec<&Job> = cur.iter().filter(|j| &j.node == id).collect();
                !mine.is_empty() && mine.iter().all(|j| j.finished)
            }
        });
        if done {
            break cur;
        }
        let now = (
            cur.iter().map(|j| j.objects).sum::<u64>(),
            cur.iter().filter(|j| j.finished).count(),
        );
        if now != progress {
            (progress, t_progress) = (now, Instant::now());
        }
        if t_progress.elapsed().as_secs_f64() > STALL_S {
            stalled = true;
            break cur;
        }
        if t_join.elapsed() > Duration::from_secs(REBALANCE_TIMEOUT_S) {
            timed_out = true;
            break cur;
        }
        if last_print.elapsed() > Duration::from_secs(5) {
            last_print = Instant::now();
            eprintln!(
                "perf [rebalance]: {label}: {:.0} s, {} objects, {} MiB moved so far",
                t_join.elapsed().as_secs_f64(),
                now.0,
                cur.iter().map(|j| j.bytes).sum::<u64>() >> 20
            );
        }
        std::thread::sleep(Duration::from_millis(JOBS_POLL_MS));
    };
    let observed_s = t_join.elapsed().as_secs_f64();
    fg.server.signal(libc::SIGINT)?;
    fg.server.wait_exit(Duration::from_secs(60))?;
    let seen = obs.finish();
    let FgResult {
        get: get_d,
        put: put_d,
        errors: err_d,
        first_errors: first_d,
    } = fg.finish(&seen)?;
    measure::progress(
        "rebalance",
        &format!("foreground GET {label}, during"),
        &get_d,
    );
    cl.check_running()?;

    // The jobs' own window; a blocked target's job never started moving, so it is left out.
    let moving: Vec<&Job> = jobs
        .iter()
        .filter(|j| !stuck.contains_key(&j.node))
        .collect();
    let start_ns = moving
        .iter()
        .map(|j| j.start_ns)
        .filter(|&t| t > 0)
        .min()
        .unwrap_or(0);
    let end_ns = if moving.iter().all(|j| j.finished) {
        moving.iter().map(|j| j.end_ns).max().unwrap_or(0)
    } else {
        0
    };
    let duration_s = if end_ns > start_ns && start_ns > 0 {
        (end_ns - start_ns) as f64 / 1e9
    } else {
        observed_s
    };
    let mut per: BTreeMap<String, TargetJobs> = BTreeMap::new();
    for j in &jobs {
        let t = per.entry(j.node.clone()).or_insert_with(|| TargetJobs {
            node: j.node.clone(),
            jobs: 0,
            objects: 0,
            bytes: 0,
            errors: 0,
            aborted: 0,
            duration_s: 0.0,
            smap_versions: Vec::new(),
        });
        t.jobs += 1;
        t.smap_versions.push(j.smap_version);
        t.objects += j.objects;
        t.bytes += j.bytes;
        t.errors += j.errors;
        t.aborted += usize::from(j.aborted);
        if j.end_ns > j.start_ns {
            t.duration_s = t.duration_s.max((j.end_ns - j.start_ns) as f64 / 1e9);
        }
    }
    let (log_warnings, log_errors, log_quotes) = scan_logs(&cl.logs());
    let window = get_d.duration_s.max(1e-9);
    let run = RebalanceRun {
        size,
        rate: class.rate,
        pct_put: cfg.rebalance_pct_put,
        target_cores: cores,
        fill_objects,
        fill_bytes,
        smap_version_before: v_before,
        join_s,
        duration_s,
        observed_s,
        objects: jobs.iter().map(|j| j.objects).sum(),
        bytes: jobs.iter().map(|j| j.bytes).sum(),
        errors: jobs.iter().map(|j| j.errors).sum(),
        aborted_jobs: jobs.iter().filter(|j| j.aborted).count(),
        per_target: per.into_values().collect(),
        timed_out,
        stalled,
        blocked_targets: stuck.into_iter().collect(),
        restarted_targets,
        new_target: new_target.clone(),
        fg_window_s: get_d.duration_s,
        fg_errors_before: err_b,
        fg_errors_during: err_d,
        concurrency_per_target: workers
            .map(|w| w as u64)
            .or_else(|| concurrency_per_target(&cfg.bin)),
        workers_flag: workers,
        sweep_reused: false,
        aisnode_cores: get_d.server_cores(),
        aisnode_max_thread_cores: get_d.server_max_thread_cores(),
        aisnode_runq_wait_s_per_s: get_d.server_runq_wait_per_s(),
        machine_cores: get_d.machine_cores(),
        loader_cores: get_d.client_cores(),
        disk_read_mib_s: get_d.disk_read_bytes as f64 / MIB as f64 / window,
        disk_write_mib_s: get_d.disk_write_bytes as f64 / MIB as f64 / window,
        log_warnings,
        log_errors,
        log_quotes,
    };
    eprintln!(
        "perf [rebalance]: {label}: moved {} objects, {} MiB in {:.2} s = {:.1} MiB/s, {:.0} objects/s; errors {}, aborted jobs {}; foreground GET p99 {:.2} ms before, {:.2} ms during",
        run.objects,
        run.bytes >> 20,
        run.duration_s,
        run.mib_s(),
        run.objects_s(),
        run.errors,
        run.aborted_jobs,
        get_b.p99_us / 1e3,
        get_d.p99_us / 1e3
    );
    if timed_out {
        res.note(
            "rebalance",
            format!("{label}: the rebalance had not finished after {REBALANCE_TIMEOUT_S} s; the figures cover what was moved until then"),
        );
    }
    if stalled {
        res.note(
            "rebalance",
            format!("{label}: the rebalance stalled: no object moved and no job finished for {STALL_S} s while job(s) were unfinished; the figures cover what was moved until then, and the foreground window includes the stall"),
        );
    }
    for (phase, errs, first) in [
        ("before", &run.fg_errors_before, &first_b),
        ("during", &run.fg_errors_during, &first_d),
    ] {
        if !errs.is_empty() {
            let kinds: Vec<String> = errs.iter().map(|(k, n)| format!("{k}: {n}")).collect();
            let quotes: Vec<String> = first.iter().map(|l| format!("`{l}`")).collect();
            res.note(
                "rebalance",
                format!(
                    "{label}: foreground requests failed {phase} the rebalance ({}); aisloader's first report of each: {}",
                    kinds.join(", "),
                    if quotes.is_empty() { "none in its log".to_owned() } else { quotes.join("; ") }
                ),
            );
        }
    }
    for (node, waits) in &run.blocked_targets {
        let text = if *node == new_target {
            format!("{label}: the joining target {node} has rebalance job(s) {} aborted but never finished (the join-time deadlock); it had nothing to send, but every later rebalance on it would wait forever", waits.join(", "))
        } else {
            format!("{label}: target {node}'s rebalance for the new map never ran: it waits for its older job(s) {}, which were aborted but never finished; its share of the objects was not moved (GETs of them rely on get-from-neighbour)", waits.join(", "))
        };
        res.note("rebalance", text);
    }
    for (what, cmd) in cl.commands() {
        res.server(&format!("{what}, section 6 ({label})"), &cmd);
    }
    for (sys, op, s) in [
        ("before", "get", get_b),
        ("before", "put", put_b),
        ("during", "get", get_d),
        ("during", "put", put_d),
    ] {
        let mut row = Row::new(section, sys, op, size, n);
        row.samples.push(s);
        res.rows.push(row);
    }
    if workers.is_some() {
        res.rebalance_sweep.push(run);
    } else {
        res.rebalance.push(run);
    }
    cl.stop_and_wipe();
    Ok(())
}
