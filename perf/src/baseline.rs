//! Sections 1 and 2: the raw-device baseline (fio, O_DIRECT, on the mountpaths' file system)
//! and our node's GET and PUT at each object size, interleaved run by run so that each ratio
//! ours / fio is measured under the same background load.
//!
//! PUT is compared with fio sequential write of the object size at the same queue depth
//! (workers = iodepth) over a preallocated file, and with fio writing new files of the object
//! size (the file system's allocation cost, which every PUT pays); GET with fio random read of
//! the object size from the preallocated file.
//! Two mountpaths (directories on the one file system) so that both cores own one: with a
//! single mountpath only core 0 would serve data.

use crate::config::{Config, Section};
use crate::env::DiskCounter;
use crate::measure::{self, Endpoint, FioJob, Load, Row};
use crate::node::{Node, NodeSpec};
use crate::proc;
use crate::results::Results;
use anyhow::{Context, Result};

/// Longest wait for a GET profile's run to start serving GETs (aisloader lists the bucket
/// first: 100k+ objects after the PUT rows).
const GET_PROFILE_WAIT_S: u64 = 300;

/// Most files one "new files" fio run creates (4 KiB objects: 256 MiB).
const NEW_FILES_MAX: u64 = 65_536;

pub fn run(cfg: &Config, res: &mut Results) -> Result<()> {
    let do_fio = cfg.has(Section::Fio);
    let do_node = cfg.has(Section::Node);
    let dir = cfg.work.join("node");
    std::fs::create_dir_all(&dir)?;
    let disks: Vec<DiskCounter> = DiskCounter::for_path(&dir).into_iter().collect();
    let fio_file = dir.join("fio.dat");
    let new_dir = dir.join("fio-new-files");
    if do_fio {
        eprintln!(
            "perf [fio]: laying out {} ({} MiB)",
            fio_file.display(),
            cfg.fio_file_bytes >> 20
        );
        measure::fio_layout(cfg, &fio_file, cfg.fio_file_bytes).context("fio layout")?;
    }
    let mountpaths = vec![dir.join("mp1"), dir.join("mp2")];
    let cores = res.env.as_ref().map_or(2, |e| e.cpus);
    let start = |no_fsync: bool, res: &mut Results| -> Result<Node> {
        let n = Node::start(
            cfg,
            NodeSpec {
                name: if no_fsync { "node" } else { "node-fsync" },
                mountpaths: mountpaths.clone(),
                cores,
                no_fsync,
                cgroup_procs: None,
            },
        )?;
        res.server(
            &format!(
                "aisnode (section 2{})",
                if no_fsync { "" } else { ", PUT with fsync" }
            ),
            &n.server.command,
        );
        Ok(n)
    };
    let mut node = if do_node {
        Some(start(true, res)?)
    } else {
        None
    };
    for &size in &cfg.sizes {
        let label = measure::size_label(size);
        let mut fio_read = Row::new("fio", "fio", "read", size, 0);
        let mut fio_write = Row::new("fio", "fio", "write", size, 0);
        let mut fio_new = Row::new("fio", "fio", "write-new", size, 0);
        let mut put = Row::new("node", "aisnode", "put", size, 0);
        let mut get = Row::new("node", "aisnode", "get", size, 0);
        let mut put_direct = Row::new("node", "aisnode", "put-direct", size, 0);
        let mut get_direct = Row::new("node", "aisnode", "get-direct", size, 0);
        let bucket = format!("node-{}", measure::size_tag(size));
        let endpoint = node.as_ref().map(|n| Endpoint::Ais { port: n.port });
        for r in 0..cfg.runs {
            let tag = format!("run {}/{}", r + 1, cfg.runs);
            if do_fio {
                let s = measure::fio(cfg, &FioJob::on_file(cfg, &fio_file, "write", size), &disks)?;
                measure::progress("fio", &format!("write {label} {tag}"), &s);
                fio_write.samples.push(s);
                // New files of the object size: what PUT asks of the file system (allocation).
                let s = measure::fio(
                    cfg,
                    &FioJob {
                        files: &[],
                        file_size: 0,
                        rw: "write",
                        bs: size,
                        iodepth: cfg.workers,
                        runtime_s: cfg.fio_runtime_s,
                        ramp_s: 0.0,
                        cgroup_procs: None,
                        new_files: Some((
                            &new_dir,
                            (cfg.fio_file_bytes / size).clamp(1024, NEW_FILES_MAX),
                        )),
                    },
                    &disks,
                )?;
                measure::progress("fio", &format!("write new files {label} {tag}"), &s);
                fio_new.samples.push(s);
            }
            if let (Some(n), Some(ep)) = (node.as_mut(), endpoint.as_ref()) {
                // Through the proxy (redirect, body sent twice unless 100-continue), then
                // routed by the cluster map straight to the owning core (docs/direct.md).
                // Alternate which goes first: a run right after fio's new-files pass (whose
                // files were just deleted) pays ext4's scan of recently deleted inodes.
                let order = if r % 2 == 0 {
                    [(false, &mut put), (true, &mut put_direct)]
                } else {
                    [(true, &mut put_direct), (false, &mut put)]
                };
                for (direct, row) in order {
                    row.samples.push(node_run(
                        cfg, n, ep, &bucket, &disks, size, true, direct, &tag, r,
                    )?);
                }
            }
            if do_fio {
                let s = measure::fio(
                    cfg,
                    &FioJob::on_file(cfg, &fio_file, "randread", size),
                    &disks,
                )?;
                measure::progress("fio", &format!("randread {label} {tag}"), &s);
                fio_read.samples.push(s);
            }
            if let (Some(n), Some(ep)) = (node.as_mut(), endpoint.as_ref()) {
                let order = if r % 2 == 0 {
                    [(false, &mut get), (true, &mut get_direct)]
                } else {
                    [(true, &mut get_direct), (false, &mut get)]
                };
                for (direct, row) in order {
                    row.samples.push(node_run(
                        cfg, n, ep, &bucket, &disks, size, false, direct, &tag, r,
                    )?);
                }
            }
        }
        if let (Some(n), Some(ep)) = (node.as_mut(), endpoint.as_ref()) {
            if size == measure::KIB * 4 && cfg.runs > 1 {
                profile_small(cfg, res, n, ep, &bucket, &disks)?;
            }
        }
        if let Some(n) = node.as_ref() {
            measure::destroy_ais_bucket(cfg, n.port, &bucket)?;
        }
        for row in [
            fio_read, fio_write, fio_new, put, get, put_direct, get_direct,
        ] {
            if !row.samples.is_empty() {
                res.rows.push(row);
            }
        }
    }
    if let Some(n) = node.take() {
        n.stop_and_wipe();
    }
    let _ = std::fs::remove_file(&fio_file);
    if do_node {
        // Default durability (fdatasync + directory fsync before the PUT is acknowledged).
        let mut n = start(false, res)?;
        let ep = Endpoint::Ais { port: n.port };
        for &size in &cfg.sizes {
            let mut row = Row::new("node", "aisnode", "put-fsync", size, 0);
            let bucket = format!("fsync-{}", measure::size_tag(size));
            for r in 0..cfg.runs {
                let s = measure::aisloader(
                    cfg,
                    &Load {
                        endpoint: &ep,
                        bucket: &bucket,
                        put: true,
                        size,
                        workers: cfg.workers,
                        duration_s: cfg.node_duration_s,
                        put_cap_bytes: cfg.put_cap_bytes,
                        direct: false,
                        ramp_s: 0.0,
                    },
                    &[&n.server],
                    &disks,
                    &format!("node-putfsync-{}-{r}", measure::size_tag(size)),
                )?;
                measure::progress(
                    "node",
                    &format!(
                        "PUT (fsync) {} run {}/{}",
                        measure::size_label(size),
                        r + 1,
                        cfg.runs
                    ),
                    &s,
                );
                row.samples.push(s);
                n.server.check_running()?;
            }
            measure::destroy_ais_bucket(cfg, n.port, &bucket)?;
            res.rows.push(row);
        }
        n.stop_and_wipe();
        res.durability.push((
            "aisnode (section 2)".into(),
            "`--no-fsync` for the rows compared with fio (fio does not fsync either; data is written with O_DIRECT, so it is on the device when acknowledged, but the rename and xattr are not journaled-and-flushed); the `PUT (fsync)` rows run the default: a PUT is acknowledged once a `syncfs` of its mountpath's file system that started after its rename has finished (group commit: concurrent PUTs on a mountpath share one journal commit and device cache flush)".into(),
        ));
    }
    Ok(())
}

/// One extra run of each 4 KiB row (PUT and GET, through the proxy and direct) under
/// `perf record` (not counted in the tables: the profiler costs some CPU), for the report's
/// per-stage view of where a small request's CPU goes.
fn profile_small(
    cfg: &Config,
    res: &mut Results,
    n: &mut Node,
    ep: &Endpoint,
    bucket: &str,
    disks: &[DiskCounter],
) -> Result<()> {
    if !measure::profiler_works() {
        res.note(
            "node",
            "perf is not available: no profiles of the 4 KiB rows",
        );
        return Ok(());
    }
    for (put, direct) in [(true, false), (true, true), (false, false), (false, true)] {
        let label = format!(
            "{} 4 KiB{}",
            if put { "PUT" } else { "GET" },
            if direct {
                " (direct)"
            } else {
                " (through the proxy)"
            }
        );
        let tag = format!(
            "{}{}",
            if put { "put" } else { "get" },
            if direct { "-direct" } else { "" }
        );
        // A GET run first lists the bucket (100k+ objects, not part of its duration): the
        // recording starts once the node counts GETs, from a thread watching its metrics,
        // and lasts the rest of the run.
        let run_s = cfg.node_duration_s;
        let record_s = (run_s - 0.5).max(1.0);
        let (pid, port, cfg2, tag2) = (n.server.pid, n.port, cfg.clone(), tag.clone());
        let profiler = std::thread::spawn(move || {
            if !put {
                let t0 = std::time::Instant::now();
                let base = get_count(port).unwrap_or(0);
                while get_count(port).unwrap_or(0) <= base {
                    if t0.elapsed().as_secs() > GET_PROFILE_WAIT_S {
                        return None;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
            }
            measure::Profiler::start(&cfg2, pid, record_s, &tag2)
        });
        let _ = measure::aisloader(
            cfg,
            &Load {
                endpoint: ep,
                bucket,
                put,
                size: measure::KIB * 4,
                workers: cfg.workers,
                duration_s: run_s,
                put_cap_bytes: cfg.put_cap_bytes,
                direct,
                ramp_s: 0.0,
            },
            &[&n.server],
            disks,
            &format!("node-profile-{tag}"),
        )?;
        n.server.check_running()?;
        match profiler
            .join()
            .ok()
            .flatten()
            .and_then(measure::Profiler::finish)
        {
            Some(text) => res.profiles.push((label, text)),
            None => res.note("node", format!("perf record of {label} failed")),
        }
    }
    Ok(())
}

/// The node's count of GET requests served (`ais_target_get_count` in its `/metrics`).
fn get_count(port: u16) -> Option<u64> {
    let (_, body) = proc::http_get(port, "/metrics").ok()?;
    String::from_utf8_lossy(&body)
        .lines()
        .filter(|l| l.starts_with("ais_target_get_count"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .reduce(|a, b| a + b)
}

/// One aisloader run of section 2 (PUT or GET, through the proxy or direct), reported as it
/// ends.
#[allow(clippy::too_many_arguments)]
fn node_run(
    cfg: &Config,
    n: &mut Node,
    ep: &Endpoint,
    bucket: &str,
    disks: &[DiskCounter],
    size: u64,
    put: bool,
    direct: bool,
    tag: &str,
    r: usize,
) -> Result<measure::Sample> {
    let op = if put { "put" } else { "get" };
    let s = measure::aisloader(
        cfg,
        &Load {
            endpoint: ep,
            bucket,
            put,
            size,
            workers: cfg.workers,
            duration_s: cfg.node_duration_s,
            put_cap_bytes: if put { cfg.put_cap_bytes } else { 0 },
            direct,
            ramp_s: 0.0,
        },
        &[&n.server],
        disks,
        &format!(
            "node-{op}{}-{}-{r}",
            if direct { "-direct" } else { "" },
            measure::size_tag(size)
        ),
    )?;
    let what = match (put, direct) {
        (true, false) => "PUT",
        (true, true) => "PUT (direct)",
        (false, false) => "GET",
        (false, true) => "GET (direct)",
    };
    measure::progress(
        "node",
        &format!("{what} {} {tag}", measure::size_label(size)),
        &s,
    );
    n.server.check_running()?;
    Ok(s)
}
