//! One measurement = one run of aisloader (`-json`) or fio (`--output-format=json`), plus what
//! the harness observes around it: CPU seconds of the server process tree and of the whole
//! machine, and bytes the block devices moved. Rows group the repeated runs of one workload and
//! summarise them by the median (by throughput) and the spread.

use crate::config::Config;
use crate::env::DiskCounter;
use crate::proc::{self, Server};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * 1024;
pub const GIB: u64 = 1024 * MIB;

/// Extra time a loader or fio run may take beyond its nominal duration (listing, setup).
const RUN_SLACK_S: u64 = 120;

#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub ops_per_s: f64,
    pub bytes_per_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub ops: u64,
    pub errors: u64,
    pub duration_s: f64,
    /// CPU seconds of the client (aisloader or fio).
    pub client_cpu_s: f64,
    /// CPU seconds of the server process tree (0 for fio).
    pub server_cpu_s: f64,
    /// CPU seconds of the busiest single server thread (a saturated reactor shows here).
    pub server_max_thread_cpu_s: f64,
    /// Seconds the server's threads were runnable but waited for a CPU (summed over threads):
    /// CPU contention, from /proc/PID/task/TID/schedstat.
    pub server_runq_wait_s: f64,
    /// Busy CPU seconds of the whole machine over the run (all CPUs; includes other users).
    pub machine_busy_s: f64,
    pub disk_read_bytes: u64,
    pub disk_write_bytes: u64,
    /// Seconds a `sync` right after the run took (PUT runs of section 4; 0 elsewhere).
    pub sync_s: f64,
    /// When `bytes_per_s` is a steady window's (`Load::ramp_s`): the whole run's figure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub whole_run_bytes_per_s: Option<f64>,
    pub command: String,
}

impl Sample {
    /// Throughput counting the time to make the written data durable-to-device afterwards.
    pub fn bytes_per_s_with_sync(&self) -> f64 {
        self.bytes_per_s * self.duration_s / (self.duration_s + self.sync_s).max(1e-9)
    }

    pub fn server_cores(&self) -> f64 {
        self.server_cpu_s / self.duration_s.max(1e-9)
    }
    pub fn server_max_thread_cores(&self) -> f64 {
        self.server_max_thread_cpu_s / self.duration_s.max(1e-9)
    }
    pub fn server_runq_wait_per_s(&self) -> f64 {
        self.server_runq_wait_s / self.duration_s.max(1e-9)
    }
    pub fn client_cores(&self) -> f64 {
        self.client_cpu_s / self.duration_s.max(1e-9)
    }
    pub fn machine_cores(&self) -> f64 {
        self.machine_busy_s / self.duration_s.max(1e-9)
    }
    /// Microseconds of server CPU per successful operation (stable on a noisy machine, unlike
    /// ops/s).
    pub fn cpu_us_per_op(&self) -> f64 {
        self.server_cpu_s * 1e6 / (self.ops as f64).max(1.0)
    }
    /// Server CPU seconds per GiB moved.
    pub fn cpu_s_per_gib(&self) -> f64 {
        self.server_cpu_s / (self.bytes_per_s * self.duration_s / GIB as f64).max(1e-9)
    }
}

/// Repeated runs of one workload on one system.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub section: String,
    pub system: String,
    /// `get`, `put`, `put-fsync`, `read`, `write`.
    pub op: String,
    pub size: u64,
    /// Number of disks (scaling) or cores (core scaling); 0 when not applicable.
    pub n: usize,
    pub samples: Vec<Sample>,
}

impl Row {
    pub fn new(section: &str, system: &str, op: &str, size: u64, n: usize) -> Row {
        Row {
            section: section.into(),
            system: system.into(),
            op: op.into(),
            size,
            n,
            samples: Vec::new(),
        }
    }

    /// The median run by throughput (the lower middle for an even count).
    pub fn median(&self) -> Option<&Sample> {
        let mut v: Vec<&Sample> = self.samples.iter().collect();
        v.sort_by(|a, b| a.bytes_per_s.total_cmp(&b.bytes_per_s));
        v.get((v.len().max(1) - 1) / 2).copied()
    }

    pub fn bps(&self) -> f64 {
        self.median().map_or(0.0, |s| s.bytes_per_s)
    }

    /// (min, max) throughput over runs.
    pub fn spread(&self) -> (f64, f64) {
        let it = self.samples.iter().map(|s| s.bytes_per_s);
        (
            it.clone().fold(f64::INFINITY, f64::min),
            it.fold(0.0, f64::max),
        )
    }
}

pub fn size_label(size: u64) -> String {
    if size >= MIB && size.is_multiple_of(MIB) {
        format!("{} MiB", size / MIB)
    } else if size >= KIB && size.is_multiple_of(KIB) {
        format!("{} KiB", size / KIB)
    } else {
        format!("{size} B")
    }
}

/// Size as aisloader and fio spell it.
pub fn size_arg(size: u64) -> String {
    if size.is_multiple_of(MIB) {
        format!("{}MiB", size / MIB)
    } else if size.is_multiple_of(KIB) {
        format!("{}KiB", size / KIB)
    } else {
        size.to_string()
    }
}

fn fio_size_arg(size: u64) -> String {
    if size.is_multiple_of(MIB) {
        format!("{}m", size / MIB)
    } else if size.is_multiple_of(KIB) {
        format!("{}k", size / KIB)
    } else {
        size.to_string()
    }
}

/// Where aisloader sends requests.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// Native AIS API of aisnode.
    Ais { port: u16 },
    /// Any S3 server (path style).
    S3 {
        url: String,
        access_key: String,
        secret_key: String,
    },
}

#[derive(Debug, Clone)]
pub struct Load<'a> {
    pub endpoint: &'a Endpoint,
    pub bucket: &'a str,
    pub put: bool,
    pub size: u64,
    pub workers: u32,
    pub duration_s: f64,
    /// Stop a PUT run once this many bytes are written (0: no cap).
    pub put_cap_bytes: u64,
    /// `aisloader -direct`: requests routed by the cluster map straight to the owning core
    /// (no redirect hop; a PUT's body sent once), aisnode's `docs/direct.md`.
    pub direct: bool,
    /// With a ramp (seconds, > 0): the throughput is aisloader's steady window, from the
    /// ramp to the deadline (`-ramp`), not the whole run. A closed loop of many requests per
    /// disk drains after the deadline on fewer and fewer disks (objects land on disks at
    /// random), which the whole-run figure counts against N disks more than against one.
    pub ramp_s: f64,
}

fn counters(disks: &[DiskCounter]) -> (u64, u64) {
    disks
        .iter()
        .map(DiskCounter::read)
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

/// Flush dirty data and drop the page cache (root only; a no-op otherwise), so the next read
/// run finds no object data in memory for any system. Dentries and inodes stay cached (`1`,
/// not `3`): a long-running server keeps its metadata warm, while data sets exceed memory.
pub fn drop_caches() {
    sync();
    let _ = std::fs::write("/proc/sys/vm/drop_caches", "1");
}

/// sync(2): flush every file system's dirty data.
#[allow(unsafe_code)]
pub fn sync() {
    // SAFETY: sync(2) takes no arguments, touches no memory of ours and cannot fail.
    unsafe { libc::sync() };
}

pub fn json_dir(cfg: &Config) -> Result<PathBuf> {
    let d = cfg.work.join("json");
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

/// One aisloader run against `servers` (whose CPU is accounted) on `disks`.
pub fn aisloader(
    cfg: &Config,
    load: &Load,
    servers: &[&Server],
    disks: &[DiskCounter],
    tag: &str,
) -> Result<Sample> {
    let json = json_dir(cfg)?.join(format!("{tag}.json"));
    let _ = std::fs::remove_file(&json);
    let mut cmd = Command::new(cfg.bin.join("aisloader"));
    match load.endpoint {
        Endpoint::Ais { port } => {
            cmd.args(["-ip", "127.0.0.1", "-port", &port.to_string()]);
            cmd.arg(format!("-bucket=ais://{}", load.bucket));
        }
        Endpoint::S3 {
            url,
            access_key,
            secret_key,
        } => {
            cmd.arg(format!("-s3endpoint={url}"));
            cmd.arg(format!("-s3accesskey={access_key}"));
            cmd.arg(format!("-s3secretkey={secret_key}"));
            cmd.arg(format!("-bucket={}", load.bucket));
        }
    }
    cmd.arg("-cleanup=false");
    cmd.arg(format!("-pctput={}", if load.put { 100 } else { 0 }));
    cmd.arg(format!("-minsize={}", size_arg(load.size)));
    cmd.arg(format!("-maxsize={}", size_arg(load.size)));
    cmd.arg(format!("-duration={}ms", (load.duration_s * 1000.0) as u64));
    cmd.arg(format!("-numworkers={}", load.workers));
    if load.put {
        // A 100% PUT run needs no listing of what is already there.
        cmd.arg("-skiplist");
    }
    if load.put && load.put_cap_bytes > 0 {
        cmd.arg(format!("-totalputsize={}", load.put_cap_bytes));
    }
    if load.direct {
        cmd.arg("-direct");
    }
    if load.ramp_s > 0.0 {
        cmd.arg(format!("-ramp={}ms", (load.ramp_s * 1000.0) as u64));
    }
    cmd.args(["-statsinterval=0", "-quiet"]);
    cmd.arg(format!("-json={}", json.display()));
    let log = cfg.work.join("logs/aisloader.log");
    // aisloader lists the bucket before the timed part: measure CPU and disks around the whole
    // run and scale by the loader's own measured duration. The server's CPU is also sampled
    // every 50 ms, so that its share in the timed part (the last `duration_s` before the
    // loader exits) is exact: listing a bucket of 100k objects costs the server far more CPU
    // than its share of the wall time.
    let pids: Vec<i32> = servers.iter().map(|s| s.pid).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (stop, pids) = (stop.clone(), pids.clone());
        std::thread::spawn(move || {
            let mut v: Vec<(Instant, f64)> = Vec::new();
            loop {
                v.push((
                    Instant::now(),
                    pids.iter().map(|&p| proc::cpu_s_tree(p)).sum(),
                ));
                if stop.load(std::sync::atomic::Ordering::Acquire) {
                    return v;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let obs = Observer::start(&pids, disks);
    let timeout = Duration::from_secs(load.duration_s as u64 + RUN_SLACK_S);
    let ran = proc::run(&mut cmd, &log, timeout, false);
    stop.store(true, std::sync::atomic::Ordering::Release);
    let cpu_samples = sampler.join().unwrap_or_default();
    let (_, out) = ran?;
    let seen = obs.finish();
    let text = std::fs::read_to_string(&json)
        .with_context(|| format!("aisloader wrote no {}; output:\n{out}", json.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).context("parse aisloader JSON")?;
    let op = if load.put { "put" } else { "get" };
    let mut s = sample_from_aisloader_json(&v, op, &seen, proc::render(&cmd));
    if load.ramp_s > 0.0 {
        let st = &v[op]["steady"];
        match (
            st["ops_per_s"].as_f64(),
            st["throughput_bytes_per_s"].as_f64(),
        ) {
            (Some(ops), Some(bytes)) => {
                s.whole_run_bytes_per_s = Some(s.bytes_per_s);
                (s.ops_per_s, s.bytes_per_s) = (ops, bytes);
            }
            _ => bail!("{tag}: aisloader reported no steady window (-ramp); output:\n{out}"),
        }
    }
    if let Some(cpu) = cpu_in_last(&cpu_samples, s.duration_s) {
        s.server_cpu_s = cpu;
    }
    if s.ops == 0 {
        bail!(
            "{tag}: no successful {op}s (errors {}); aisloader output:\n{out}",
            s.errors
        );
    }
    Ok(s)
}

/// CPU and disk counters taken at the start of a run (see `Observer::finish`).
pub struct Observer<'a> {
    pids: Vec<i32>,
    disks: &'a [DiskCounter],
    cpu0: f64,
    threads0: Vec<std::collections::HashMap<i32, (f64, f64)>>,
    busy0: f64,
    disk0: (u64, u64),
    t0: Instant,
}

/// What an `Observer` saw between start and finish (totals over its wall time).
#[derive(Debug, Clone, Copy, Default)]
pub struct Observed {
    pub wall_s: f64,
    /// CPU seconds of the server process trees.
    pub server_cpu_s: f64,
    pub max_thread_cpu_s: f64,
    pub runq_wait_s: f64,
    pub machine_busy_s: f64,
    pub disk_read_bytes: u64,
    pub disk_write_bytes: u64,
}

impl<'a> Observer<'a> {
    /// Start counting CPU of the process trees `pids` (and their threads), the machine's busy
    /// time, and bytes moved by `disks`.
    pub fn start(pids: &[i32], disks: &'a [DiskCounter]) -> Observer<'a> {
        Observer {
            pids: pids.to_vec(),
            disks,
            cpu0: pids.iter().map(|&p| proc::cpu_s_tree(p)).sum(),
            threads0: pids.iter().map(|&p| proc::thread_sched_s(p)).collect(),
            busy0: proc::machine_busy_s(),
            disk0: counters(disks),
            t0: Instant::now(),
        }
    }

    /// Also count a process started after `start` (all of its CPU falls in the window).
    pub fn add_new_process(&mut self, pid: i32) {
        self.pids.push(pid);
        self.threads0.push(std::collections::HashMap::new());
    }

    pub fn finish(&self) -> Observed {
        let wall_s = self.t0.elapsed().as_secs_f64();
        let cpu1: f64 = self.pids.iter().map(|&p| proc::cpu_s_tree(p)).sum();
        let thread_deltas: Vec<(f64, f64)> = self
            .pids
            .iter()
            .zip(&self.threads0)
            .flat_map(|(&pid, t0)| {
                proc::thread_sched_s(pid)
                    .into_iter()
                    .map(|(tid, (run, wait))| {
                        let (r0, w0) = t0.get(&tid).copied().unwrap_or((0.0, 0.0));
                        (run - r0, wait - w0)
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let disk1 = counters(self.disks);
        Observed {
            wall_s,
            server_cpu_s: cpu1 - self.cpu0,
            max_thread_cpu_s: thread_deltas.iter().map(|d| d.0).fold(0.0f64, f64::max),
            runq_wait_s: thread_deltas.iter().map(|d| d.1).sum(),
            machine_busy_s: proc::machine_busy_s() - self.busy0,
            disk_read_bytes: disk1.0.saturating_sub(self.disk0.0),
            disk_write_bytes: disk1.1.saturating_sub(self.disk0.1),
        }
    }
}

/// One op (`get` or `put`) of an aisloader `-json` summary as a Sample, with the server CPU
/// and disk bytes `seen` around the run attributed to the loader's timed part in proportion
/// (the observed window also covers listing and start-up, which are short next to it).
pub fn sample_from_aisloader_json(
    v: &serde_json::Value,
    op: &str,
    seen: &Observed,
    command: String,
) -> Sample {
    let o = &v[op];
    let lat = &o["latency_us"];
    let duration_s = v["duration_s"].as_f64().unwrap_or(seen.wall_s);
    let frac = (duration_s / seen.wall_s.max(1e-9)).min(1.0);
    let f = |x: f64| x * frac;
    Sample {
        ops_per_s: o["ops_per_s"].as_f64().unwrap_or(0.0),
        bytes_per_s: o["throughput_bytes_per_s"].as_f64().unwrap_or(0.0),
        p50_us: lat["p50"].as_f64().unwrap_or(0.0),
        p99_us: lat["p99"].as_f64().unwrap_or(0.0),
        p999_us: lat["p999"].as_f64().unwrap_or(0.0),
        max_us: lat["max"].as_f64().unwrap_or(0.0),
        ops: o["ops"].as_u64().unwrap_or(0),
        errors: v["errors_total"].as_u64().unwrap_or(0),
        duration_s,
        client_cpu_s: v["loader_cpu_s"]["user"].as_f64().unwrap_or(0.0)
            + v["loader_cpu_s"]["system"].as_f64().unwrap_or(0.0),
        server_cpu_s: f(seen.server_cpu_s),
        server_max_thread_cpu_s: f(seen.max_thread_cpu_s),
        server_runq_wait_s: f(seen.runq_wait_s),
        machine_busy_s: f(seen.machine_busy_s),
        disk_read_bytes: f(seen.disk_read_bytes as f64) as u64,
        disk_write_bytes: f(seen.disk_write_bytes as f64) as u64,
        sync_s: 0.0,
        whole_run_bytes_per_s: None,
        command,
    }
}

/// Destroy an AIS bucket through aisloader's cleanup-only mode.
pub fn destroy_ais_bucket(cfg: &Config, port: u16, bucket: &str) -> Result<()> {
    let mut cmd = Command::new(cfg.bin.join("aisloader"));
    cmd.args(["-ip", "127.0.0.1", "-port", &port.to_string()])
        .arg(format!("-bucket=ais://{bucket}"))
        .args(["-cleanup=true", "-duration=0", "-quiet"]);
    proc::run(
        &mut cmd,
        &cfg.work.join("logs/aisloader.log"),
        Duration::from_secs(600),
        false,
    )?;
    Ok(())
}

/// fio job description.
pub struct FioJob<'a> {
    /// One job per file (e.g. one per disk), all with the options below.
    pub files: &'a [PathBuf],
    pub file_size: u64,
    /// `randread` or `write` (or `read`, `randwrite`).
    pub rw: &'a str,
    pub bs: u64,
    pub iodepth: u32,
    pub runtime_s: f64,
    pub ramp_s: f64,
    /// Run inside this cgroup (cgroup.procs path), e.g. a blkio-throttled group.
    pub cgroup_procs: Option<&'a Path>,
    /// Instead of `files`: write this many new files of `bs` bytes each into the directory
    /// (created on open, no preallocation), as a stream of new objects is to the file system.
    pub new_files: Option<(&'a Path, u64)>,
}

impl<'a> FioJob<'a> {
    /// The common job: `rw` with blocks of `bs` on one preallocated file of
    /// `cfg.fio_file_bytes`, `cfg.workers` deep, for the configured runtime and ramp.
    pub fn on_file(cfg: &Config, file: &'a PathBuf, rw: &'a str, bs: u64) -> Self {
        FioJob {
            files: std::slice::from_ref(file),
            file_size: cfg.fio_file_bytes,
            rw,
            bs,
            iodepth: cfg.workers,
            runtime_s: cfg.fio_runtime_s,
            ramp_s: cfg.fio_ramp_s,
            cgroup_procs: None,
            new_files: None,
        }
    }
}

/// Lay out (write once) a file for fio, O_DIRECT.
pub fn fio_layout(cfg: &Config, file: &Path, size: u64) -> Result<()> {
    if std::fs::metadata(file)
        .map(|m| m.len() >= size)
        .unwrap_or(false)
    {
        return Ok(());
    }
    let mut cmd = Command::new("fio");
    cmd.arg("--name=layout")
        .arg(format!("--filename={}", file.display()))
        .arg(format!("--size={}", fio_size_arg(size)))
        .args(["--rw=write", "--bs=1m", "--direct=1", "--iodepth=16"])
        .arg(format!("--ioengine={}", cfg.fio_engine))
        .arg("--output-format=json");
    proc::run(
        &mut cmd,
        &cfg.work.join("logs/fio.log"),
        Duration::from_secs(900),
        false,
    )?;
    Ok(())
}

pub fn fio(cfg: &Config, job: &FioJob, disks: &[DiskCounter]) -> Result<Sample> {
    // Global options first; then one job per file (one per disk), summed by group_reporting.
    let mut fio_args: Vec<String> = vec![
        "--direct=1".into(),
        format!("--ioengine={}", cfg.fio_engine),
        format!("--rw={}", job.rw),
        format!("--bs={}", fio_size_arg(job.bs)),
        format!("--iodepth={}", job.iodepth),
        format!("--runtime={}ms", (job.runtime_s * 1000.0) as u64),
        "--group_reporting".into(),
        "--output-format=json".into(),
    ];
    match job.new_files {
        None => {
            fio_args.push(format!("--size={}", fio_size_arg(job.file_size)));
            fio_args.push("--time_based".into());
            fio_args.push(format!("--ramp_time={}ms", (job.ramp_s * 1000.0) as u64));
            for (k, f) in job.files.iter().enumerate() {
                fio_args.push(format!("--name={}-{}-{k}", job.rw, fio_size_arg(job.bs)));
                fio_args.push(format!("--filename={}", f.display()));
            }
        }
        Some((dir, count)) => {
            // One pass over `count` new files; stops at the runtime if that comes first.
            let _ = std::fs::remove_dir_all(dir);
            std::fs::create_dir_all(dir)?;
            fio_args.extend([
                format!("--name=new-files-{}", fio_size_arg(job.bs)),
                format!("--directory={}", dir.display()),
                format!("--nrfiles={count}"),
                format!("--filesize={}", fio_size_arg(job.bs)),
                "--create_on_open=1".into(),
                "--fallocate=none".into(),
                "--file_service_type=sequential".into(),
                format!("--openfiles={}", job.iodepth),
            ]);
        }
    }
    let mut cmd = match job.cgroup_procs {
        None => {
            let mut c = Command::new("fio");
            c.args(&fio_args);
            c
        }
        Some(procs) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(r#"echo $$ > "$0" && exec "$@""#)
                .arg(procs)
                .arg("fio")
                .args(&fio_args);
            c
        }
    };
    let disk0 = counters(disks);
    let t0 = Instant::now();
    let timeout = Duration::from_secs((job.runtime_s + job.ramp_s) as u64 + RUN_SLACK_S);
    let (_, out) = proc::run(&mut cmd, &cfg.work.join("logs/fio.log"), timeout, false)?;
    let wall = t0.elapsed().as_secs_f64();
    let disk1 = counters(disks);
    if let Some((dir, _)) = job.new_files {
        let _ = std::fs::remove_dir_all(dir);
    }
    let start = out.find('{').context("fio printed no JSON")?;
    let v: serde_json::Value = serde_json::from_str(&out[start..]).context("parse fio JSON")?;
    let j = &v["jobs"][0];
    let dir = if job.rw.contains("read") {
        "read"
    } else {
        "write"
    };
    let d = &j[dir];
    let pct = |k: &str| d["clat_ns"]["percentile"][k].as_f64().unwrap_or(0.0) / 1e3;
    let runtime_s = d["runtime"].as_f64().unwrap_or(0.0) / 1e3;
    let cpu_frac =
        (j["usr_cpu"].as_f64().unwrap_or(0.0) + j["sys_cpu"].as_f64().unwrap_or(0.0)) / 100.0;
    let errors = j["error"].as_u64().unwrap_or(0);
    let frac = (runtime_s / wall).min(1.0);
    Ok(Sample {
        ops_per_s: d["iops"].as_f64().unwrap_or(0.0),
        bytes_per_s: d["bw_bytes"].as_f64().unwrap_or(0.0),
        p50_us: pct("50.000000"),
        p99_us: pct("99.000000"),
        p999_us: pct("99.900000"),
        max_us: d["clat_ns"]["max"].as_f64().unwrap_or(0.0) / 1e3,
        ops: d["total_ios"].as_u64().unwrap_or(0),
        errors,
        duration_s: runtime_s,
        client_cpu_s: cpu_frac * runtime_s,
        server_cpu_s: 0.0,
        server_max_thread_cpu_s: 0.0,
        server_runq_wait_s: 0.0,
        machine_busy_s: 0.0,
        disk_read_bytes: ((disk1.0 - disk0.0) as f64 * frac) as u64,
        disk_write_bytes: ((disk1.1 - disk0.1) as f64 * frac) as u64,
        sync_s: 0.0,
        whole_run_bytes_per_s: None,
        command: proc::render(&cmd),
    })
}

/// Whether fio supports an ioengine here (io_uring may be disabled by the kernel).
pub fn fio_engine_works(dir: &Path, engine: &str) -> bool {
    let f = dir.join("fio-engine-probe.dat");
    let ok = Command::new("fio")
        .arg("--name=probe")
        .arg(format!("--filename={}", f.display()))
        .args([
            "--size=1m",
            "--rw=read",
            "--bs=4k",
            "--direct=1",
            "--output-format=json",
        ])
        .arg(format!("--ioengine={engine}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let _ = std::fs::remove_file(&f);
    ok
}

/// One progress line per run on stderr.
pub fn progress(section: &str, label: &str, s: &Sample) {
    eprintln!(
        "perf [{section}] {label}: {:.1} MiB/s, {:.0} ops/s, p50 {:.2} ms, p99 {:.2} ms, errors {}, server {:.2} cores, client {:.2} cores, machine {:.2} cores",
        s.bytes_per_s / MIB as f64,
        s.ops_per_s,
        s.p50_us / 1e3,
        s.p99_us / 1e3,
        s.errors,
        s.server_cores(),
        s.client_cores(),
        s.machine_cores(),
    );
}

/// Short size tag for bucket names: 4k, 64k, 1m, 8m.
pub fn size_tag(size: u64) -> String {
    if size.is_multiple_of(MIB) {
        format!("{}m", size / MIB)
    } else if size.is_multiple_of(KIB) {
        format!("{}k", size / KIB)
    } else {
        format!("{size}b")
    }
}

/// Whether `perf record` can run here (installed, and allowed to sample).
pub fn profiler_works() -> bool {
    Command::new("perf")
        .args(["record", "-q", "-o", "/dev/null", "--", "true"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A `perf record -g` of process `pid` for `seconds`, started now in the background; `None`
/// when `perf` cannot run here (not installed, or not allowed).
pub struct Profiler {
    child: std::process::Child,
    data: PathBuf,
}

impl Profiler {
    pub fn start(cfg: &Config, pid: i32, seconds: f64, tag: &str) -> Option<Profiler> {
        let data = cfg.work.join(format!("profile-{tag}.data"));
        let _ = std::fs::remove_file(&data);
        let mut cmd = Command::new("perf");
        cmd.args(["record", "-q", "-F", "999", "-g"]);
        let child = cmd
            .args(["-p", &pid.to_string(), "-o"])
            .arg(&data)
            .args(["--", "sleep", &format!("{seconds:.1}")])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        Some(Profiler { child, data })
    }

    /// Wait for the recording to end; the top of `perf report` by self time (user and kernel
    /// symbols with their share of the samples), then the user-space symbols by inclusive
    /// time (where aisnode's own code spends, callees included).
    pub fn finish(mut self) -> Option<String> {
        let ok = self.child.wait().ok()?.success();
        let report = |args: &[&str]| -> Option<String> {
            let o = Command::new("perf")
                .args(["report", "--stdio", "-i"])
                .arg(&self.data)
                .args(args)
                .output()
                .ok()?;
            Some(String::from_utf8_lossy(&o.stdout).into_owned())
        };
        let keep = |text: String, n: usize, user_only: bool| -> String {
            text.lines()
                .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                .filter(|l| !user_only || !l.contains("[k]"))
                .take(n)
                .collect::<Vec<_>>()
                .join("\n")
        };
        let out = if ok {
            let own = report(&["--no-children", "--sort", "dso,sym", "-g", "none"])?;
            let incl = report(&["--children", "--sort", "sym", "-g", "none"])?;
            Some(format!(
                "self time, top 40 (dso, symbol):\n{}\n\nuser-space symbols by inclusive time (callees included), top 30:\n{}\n",
                keep(own, 40, false),
                keep(incl, 30, true)
            ))
        } else {
            None
        };
        let _ = std::fs::remove_file(&self.data);
        out
    }
}

/// CPU seconds between the last sample and the one `window_s` before it (linear between
/// samples); `None` with fewer than two samples.
fn cpu_in_last(samples: &[(Instant, f64)], window_s: f64) -> Option<f64> {
    let &(t_end, c_end) = samples.last()?;
    if samples.len() < 2 {
        return None;
    }
    let t0 = t_end.checked_sub(Duration::from_secs_f64(window_s.max(0.0)))?;
    let i = samples.iter().position(|(t, _)| *t >= t0)?;
    let c0 = if i == 0 {
        samples[0].1
    } else {
        let (ta, ca) = samples[i - 1];
        let (tb, cb) = samples[i];
        let span = (tb - ta).as_secs_f64().max(1e-9);
        ca + (cb - ca) * ((t0 - ta).as_secs_f64() / span).clamp(0.0, 1.0)
    };
    Some((c_end - c0).max(0.0))
}
