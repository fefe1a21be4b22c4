//! Command line and the derived run configuration: which sections, durations, sizes, workers.
//! The defaults are the standard suite (about 15-20 minutes on a 2-core VM); `--quick` shrinks
//! everything for development.

use crate::measure::{GIB, KIB, MIB};
use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "perf",
    about = "Benchmark suite for aisnode: fio baseline, GET/PUT, per-disk scaling, peers, core scaling, rebalance"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run the suite and write <out>/<date>-<commit>.md plus charts in <out>/<date>-<commit>/.
    Run(RunArgs),
    /// Undo whatever a previous (crashed or killed) run left behind: processes, mounts, loop
    /// devices, cgroups listed in <work-dir>/resources.json.
    Cleanup {
        #[arg(long, default_value = "/var/tmp/ais-perf")]
        work_dir: PathBuf,
        /// Also delete the work directory (scratch data, logs) once everything is undone.
        #[arg(long)]
        remove_work_dir: bool,
    },
    /// Say what the suite needs and what is missing here, then exit.
    Check(RunArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Report directory.
    #[arg(long, default_value = "perf/reports")]
    pub out: PathBuf,
    /// Scratch directory for data, mountpaths, loop images, logs (must be on the disk under
    /// test, not tmpfs). Removed at the end unless --keep-work.
    #[arg(long, default_value = "/var/tmp/ais-perf")]
    pub work_dir: PathBuf,
    /// Directory with release aisnode and aisloader.
    #[arg(long, default_value = "target/release")]
    pub bin_dir: PathBuf,
    /// Comma-separated sections: fio,node,scaling,peers,cores,rebalance,requests.
    #[arg(
        long,
        default_value = "fio,node,scaling,peers,cores,rebalance,requests"
    )]
    pub only: String,
    /// Short runs, two sizes, N = 1, 2: for developing the harness, not for reports.
    #[arg(long)]
    pub quick: bool,
    /// Runs per workload for fio, node and cores (median reported).
    #[arg(long)]
    pub runs: Option<usize>,
    /// Seconds per aisloader run.
    #[arg(long)]
    pub duration_s: Option<f64>,
    /// Concurrent requests (aisloader workers) and fio iodepth.
    #[arg(long, default_value_t = 16)]
    pub workers: u32,
    /// Per-disk blkio throttle for the scaling section, MiB/s.
    #[arg(long, default_value_t = 50)]
    pub disk_rate_mib: u64,
    /// aisloader workers per disk in the scaling section. Objects land on disks at random
    /// (HRW), so a closed loop leaves a disk idle about (N-1)/(W*N+N-1) of the time: 32 keeps
    /// that under 3% at N = 8 (16 allowed 5%, a ceiling of 0.95 linearity by itself).
    #[arg(long, default_value_t = 32)]
    pub scaling_workers_per_disk: u32,
    /// First TCP port to try for servers (127.0.0.1 only).
    #[arg(long, default_value_t = 37100)]
    pub port_base: u16,
    /// First TCP port of the rebalance section's cluster (1 proxy + 4 targets, about 20 ports;
    /// kept apart from --port-base and from the ports integration tests use).
    #[arg(long, default_value_t = 23000)]
    pub rebalance_port_base: u16,
    /// Cores (pinned reactors) per target in the rebalance section.
    #[arg(long, default_value_t = 2)]
    pub rebalance_target_cores: usize,
    /// Throttle sweep of the rebalance section: comma-separated `aisnode --rebalance-workers`
    /// values (objects in flight per target). Each value other than aisnode's default repeats
    /// the add-a-target measurement (64 KiB objects) on a fresh cluster whose targets run with
    /// that flag; the default value reuses the section's own 64 KiB run. "4" (the default)
    /// adds no run.
    #[arg(long, default_value = "4")]
    pub rebalance_workers_sweep: String,
    /// Keep the work directory (data, logs, JSON) after the run.
    #[arg(long)]
    pub keep_work: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    Fio,
    Node,
    Scaling,
    Peers,
    Cores,
    Rebalance,
    Requests,
}

impl Section {
    pub fn name(self) -> &'static str {
        match self {
            Section::Fio => "fio",
            Section::Node => "node",
            Section::Scaling => "scaling",
            Section::Peers => "peers",
            Section::Cores => "cores",
            Section::Rebalance => "rebalance",
            Section::Requests => "requests",
        }
    }
}

/// One object-size class of the rebalance section.
#[derive(Debug, Clone, Copy)]
pub struct RebalanceClass {
    pub size: u64,
    /// Bytes PUT into the bucket before the fourth target joins.
    pub fill_bytes: u64,
    /// Foreground requests per second (open loop), before and during the rebalance.
    pub rate: f64,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub out: PathBuf,
    pub work: PathBuf,
    pub bin: PathBuf,
    pub repo: PathBuf,
    pub sections: Vec<Section>,
    pub quick: bool,
    pub keep_work: bool,
    pub port_base: u16,
    /// Object sizes for fio, node and peers.
    pub sizes: Vec<u64>,
    pub workers: u32,
    pub runs: usize,
    pub fio_runtime_s: f64,
    pub fio_ramp_s: f64,
    pub fio_file_bytes: u64,
    pub fio_engine: String,
    pub node_duration_s: f64,
    pub peer_put_duration_s: f64,
    pub peer_get_duration_s: f64,
    pub peer_get_runs: usize,
    pub peer_put_runs: usize,
    /// Bytes at which a PUT run stops early (bounds disk use and the GET data set).
    pub put_cap_bytes: u64,
    pub scaling_ns: Vec<usize>,
    pub scaling_size: u64,
    pub scaling_workers_per_disk: u32,
    pub scaling_duration_s: f64,
    pub disk_rate_bytes: u64,
    pub loop_image_bytes: u64,
    pub cores_size: u64,
    pub cores_runs: usize,
    pub cores_duration_s: f64,
    pub rebalance_classes: Vec<RebalanceClass>,
    /// Seconds of the foreground run before the rebalance (the baseline).
    pub rebalance_baseline_s: f64,
    /// Percentage of PUTs in the foreground mix.
    pub rebalance_pct_put: u32,
    /// Seconds of requests the open-loop foreground's workers cover: workers = rate × this.
    /// Each aisloader worker claims its next request slot ahead of time, so this is also how
    /// long a stopped run lingers; and requests slower than this wait for a worker (their
    /// latency still counts from the intended start).
    pub rebalance_fg_lookahead_s: f64,
    pub rebalance_target_cores: usize,
    pub rebalance_port_base: u16,
    /// `--rebalance-workers` values of the throttle sweep, in the order given, no repeats.
    pub rebalance_workers_sweep: Vec<usize>,
    pub argv: Vec<String>,
}

impl Config {
    /// The scaling section's ramp (`aisloader -ramp`): a quarter of a run, at most 1 s.
    pub fn scaling_ramp_s(&self) -> f64 {
        (self.scaling_duration_s / 4.0).min(1.0)
    }

    pub fn from_args(a: &RunArgs) -> Result<Config> {
        let mut sections = Vec::new();
        for s in a.only.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            sections.push(match s {
                "fio" => Section::Fio,
                "node" => Section::Node,
                "scaling" => Section::Scaling,
                "peers" => Section::Peers,
                "cores" => Section::Cores,
                "rebalance" => Section::Rebalance,
                "requests" => Section::Requests,
                other => {
                    bail!("unknown section {other:?} in --only (fio,node,scaling,peers,cores,rebalance,requests)")
                }
            });
        }
        sections.sort();
        sections.dedup();
        if a.workers == 0 || a.workers > 1024 {
            bail!("--workers must be 1..=1024");
        }
        if a.rebalance_target_cores == 0 || a.rebalance_target_cores > 8 {
            bail!("--rebalance-target-cores must be 1..=8");
        }
        if a.rebalance_port_base < 1024 || a.rebalance_port_base > 65000 {
            bail!("--rebalance-port-base must be 1024..=65000");
        }
        let mut rebalance_workers_sweep: Vec<usize> = Vec::new();
        for x in a
            .rebalance_workers_sweep
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
        {
            let n: usize = x
                .parse()
                .map_err(|_| anyhow::anyhow!("--rebalance-workers-sweep: {x:?} is not a number"))?;
            if n == 0 || n > 1024 {
                bail!("--rebalance-workers-sweep values must be 1..=1024");
            }
            if !rebalance_workers_sweep.contains(&n) {
                rebalance_workers_sweep.push(n);
            }
        }
        if a.disk_rate_mib == 0 {
            bail!("--disk-rate-mib must be positive");
        }
        let cwd = std::env::current_dir()?;
        let abs = |p: &PathBuf| {
            if p.is_absolute() {
                p.clone()
            } else {
                cwd.join(p)
            }
        };
        let q = a.quick;
        let d = a.duration_s;
        Ok(Config {
            out: abs(&a.out),
            work: abs(&a.work_dir),
            bin: abs(&a.bin_dir),
            repo: cwd.clone(),
            sections,
            quick: q,
            keep_work: a.keep_work,
            port_base: a.port_base,
            sizes: if q {
                vec![4 * KIB, MIB]
            } else {
                vec![4 * KIB, 64 * KIB, MIB, 8 * MIB]
            },
            workers: a.workers,
            runs: a.runs.unwrap_or(if q { 1 } else { 3 }),
            fio_runtime_s: if q { 2.0 } else { 3.0 },
            fio_ramp_s: 1.0,
            fio_file_bytes: if q { 512 * MIB } else { 2 * GIB },
            fio_engine: "io_uring".into(),
            node_duration_s: d.unwrap_or(if q { 2.0 } else { 4.0 }),
            peer_put_duration_s: d.unwrap_or(if q { 2.0 } else { 4.0 }),
            peer_get_duration_s: d.unwrap_or(if q { 2.0 } else { 3.0 }),
            peer_get_runs: if q { 1 } else { 3 },
            peer_put_runs: if q { 1 } else { 2 },
            put_cap_bytes: if q { 512 * MIB } else { 2 * GIB },
            scaling_ns: if q { vec![1, 2] } else { vec![1, 2, 4, 8] },
            scaling_size: MIB,
            scaling_workers_per_disk: a.scaling_workers_per_disk,
            scaling_duration_s: d.unwrap_or(if q { 3.0 } else { 6.0 }),
            disk_rate_bytes: a.disk_rate_mib * MIB,
            loop_image_bytes: 4 * GIB,
            cores_size: 4 * KIB,
            cores_runs: if q { 1 } else { 3 },
            cores_duration_s: d.unwrap_or(if q { 2.0 } else { 4.0 }),
            // 64 KiB: 500 req/s is about 15% of what this 3-target cluster serves closed-loop
            // here; 1 MiB: 100 req/s, about 100 MiB/s. Fixed rates, so reports stay comparable;
            // 4 GiB of 1 MiB objects so that the rebalance lasts a few seconds.
            rebalance_classes: if q {
                vec![RebalanceClass {
                    size: 64 * KIB,
                    fill_bytes: 256 * MIB,
                    rate: 500.0,
                }]
            } else {
                vec![
                    RebalanceClass {
                        size: 64 * KIB,
                        fill_bytes: 2 * GIB,
                        rate: 500.0,
                    },
                    RebalanceClass {
                        size: MIB,
                        fill_bytes: 4 * GIB,
                        rate: 100.0,
                    },
                ]
            },
            rebalance_baseline_s: if q { 6.0 } else { 20.0 },
            rebalance_pct_put: 10,
            rebalance_fg_lookahead_s: 0.25,
            rebalance_target_cores: a.rebalance_target_cores,
            rebalance_port_base: a.rebalance_port_base,
            rebalance_workers_sweep,
            argv: std::env::args().collect(),
        })
    }

    pub fn has(&self, s: Section) -> bool {
        self.sections.contains(&s)
    }
}
