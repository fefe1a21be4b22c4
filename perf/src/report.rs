//! The markdown report: headline ratios first (with, for every ratio below 0.9, the evidence
//! the harness has about what limits it), then the environment, durability, one section per
//! benchmark with tables and charts, notes, and every exact command that ran.

use crate::config::Config;
use crate::measure::{size_label, Row, Sample, MIB};
use crate::plot::{self, Series};
use crate::results::Results;
use anyhow::Result;
use std::fmt::Write as _;
use std::path::Path;

/// Ratios below this are explained in the report.
pub const RATIO_FLAG: f64 = 0.9;
/// Seconds per second aisnode's runnable threads may wait for a CPU before a run counts as
/// CPU-starved (schedstat run-queue time summed over threads).
const RUNQ_WAIT_STARVED_S_PER_S: f64 = 0.3;

fn mib(bps: f64) -> String {
    let v = bps / MIB as f64;
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn ms(us: f64) -> String {
    let v = us / 1e3;
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    match r {
        Some(r) if r < RATIO_FLAG => format!("**{r:.2}**"),
        Some(r) => format!("{r:.2}"),
        None => "–".into(),
    }
}

fn spread(row: &Row) -> String {
    let (lo, hi) = row.spread();
    if row.samples.len() > 1 {
        format!("{} ({}–{})", mib(row.bps()), mib(lo), mib(hi))
    } else {
        mib(row.bps())
    }
}

fn op_label(op: &str) -> &str {
    match op {
        "get" => "GET",
        "put" => "PUT",
        "put-fsync" => "PUT (fsync)",
        "get-direct" => "GET (direct)",
        "put-direct" => "PUT (direct)",
        "read" => "randread",
        "write" => "write",
        "write-new" => "write, new files",
        o => o,
    }
}

/// Where the CPUs went during a run (for the explanations of low ratios).
fn cpu_text(s: &Sample, ncpu: usize) -> String {
    let busy = s.machine_cores();
    format!(
        "{busy:.2} of {ncpu} CPUs busy (aisnode {:.2}, its busiest thread {:.2}, aisloader {:.2}, everything else {:.2}); aisnode's threads waited {:.2} s/s for a CPU",
        s.server_cores(),
        s.server_max_thread_cores(),
        s.client_cores(),
        (busy - s.server_cores() - s.client_cores()).max(0.0),
        s.server_runq_wait_per_s()
    )
}

/// What the harness can say about a ratio below RATIO_FLAG, from CPU and disk counters.
fn diagnose(
    ours: &Sample,
    op: &str,
    other: Option<(&str, &Sample)>,
    device_bps: Option<f64>,
    ncpu: usize,
) -> String {
    let mut why = Vec::new();
    let busy = ours.machine_cores();
    let cpu = cpu_text(ours, ncpu);
    let is_get = op == "get";
    let moved = if is_get {
        ours.disk_read_bytes
    } else {
        ours.disk_write_bytes
    } as f64
        / ours.duration_s.max(1e-9);
    let ours_cpu = ours.server_cores() + ours.client_cores();
    let starved = ours.server_runq_wait_per_s() >= RUNQ_WAIT_STARVED_S_PER_S;
    if ours_cpu >= 0.75 * ncpu as f64 && (starved || busy >= 0.85 * ncpu as f64) {
        why.push(format!(
            "CPU-bound: aisnode and aisloader together fill the {ncpu} CPUs they share: {cpu}"
        ));
    } else if ours.server_max_thread_cores() >= 0.9 {
        why.push(format!("one aisnode thread (reactor) was saturated: {cpu}"));
    } else if starved || busy >= 0.85 * ncpu as f64 {
        why.push(format!(
            "CPU contention: aisnode's threads were kept waiting for a CPU, largely by work other than aisnode and aisloader: {cpu} (\"everything else\" is kernel threads such as I/O completion and loopback networking, plus other users of this shared machine)"
        ));
    }
    if let Some((name, o)) = other {
        let served = o.bytes_per_s * o.duration_s;
        if is_get && served > 0.0 {
            let from_disk = o.disk_read_bytes as f64 / served;
            if from_disk < 0.5 {
                why.push(format!(
                    "{name} read only {:.0}% of the bytes it served from the disk ({} MiB/s read vs {} MiB/s served): it serves from the page cache, aisnode reads with O_DIRECT",
                    100.0 * from_disk,
                    mib(o.disk_read_bytes as f64 / o.duration_s.max(1e-9)),
                    mib(o.bytes_per_s)
                ));
            }
        }
        if !is_get && o.disk_write_bytes as f64 / (o.bytes_per_s * o.duration_s).max(1.0) < 0.5 {
            why.push(format!(
                "{name} wrote only {} MiB/s to the disk during its run while acknowledging {} MiB/s (write-back after the run), aisnode writes with O_DIRECT before acknowledging",
                mib(o.disk_write_bytes as f64 / o.duration_s.max(1e-9)),
                mib(o.bytes_per_s)
            ));
        }
    }
    if let Some(d) = device_bps {
        if moved >= 0.85 * d {
            why.push(format!("device-bound: aisnode moved {} MiB/s to/from the disk, fio's ceiling here is {} MiB/s", mib(moved), mib(d)));
        }
    }
    if why.is_empty() {
        why.push(format!(
            "neither CPU ({cpu}) nor the disk ({} MiB/s moved) is saturated: per-request latency (p50 {} ms) bounds this closed loop at its fixed concurrency",
            mib(moved),
            ms(ours.p50_us)
        ));
    } else if !why.iter().any(|w| w.contains("CPUs busy")) {
        why.push(format!("CPU: {cpu}"));
    }
    why.join("; ")
}

pub fn write(
    cfg: &Config,
    res: &Results,
    md_path: &Path,
    assets: &Path,
    total_s: f64,
) -> Result<()> {
    let env = res.env.as_ref();
    let ncpu = env.map_or(2, |e| e.cpus);
    let stem = assets
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(
        w,
        "# aisnode benchmark report: {}, commit {}\n",
        env.map_or("", |e| e.date.as_str()),
        env.map_or("unknown", |e| e.commit_short.as_str())
    );
    let _ = writeln!(
        w,
        "Generated by `perf/run.sh` (which ran `{}`) in {:.1} minutes. Sections run: {}. Raw numbers of every run: [`{stem}/results.json`]({stem}/results.json).\n",
        cfg.argv.join(" "),
        total_s / 60.0,
        cfg.sections.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")
    );
    let _ = writeln!(
        w,
        "Every ratio is measured within this run (same machine, minutes apart, runs interleaved where possible); throughput is the median of the runs listed with each table, with (min–max) when there were several. Latencies are aisloader's hdrhistogram percentiles (fio: completion latency). Ratios below {RATIO_FLAG} are **bold** and explained under [Ratios below {RATIO_FLAG}](#ratios-below-09).\n"
    );

    // ---------------- headline ----------------
    let _ = writeln!(w, "## Headline ratios\n");
    let mut flagged: Vec<String> = Vec::new();
    if res.rows.iter().any(|r| r.section == "fio") && res.rows.iter().any(|r| r.section == "node") {
        let _ = writeln!(w, "**aisnode / fio** (GET vs fio randread, PUT `--no-fsync` vs fio write, same block size and queue depth {}):\n", cfg.workers);
        let _ = writeln!(
            w,
            "| object size | GET | GET direct | PUT | PUT direct | PUT with fsync | PUT with fsync / PUT | PUT / fio writing new files of the object size | PUT direct / fio writing new files |\n|---|---|---|---|---|---|---|---|---|"
        );
        for &size in &cfg.sizes {
            let g = ratio(
                res.bps("node", "aisnode", "get", size, 0),
                res.bps("fio", "fio", "read", size, 0),
            );
            let p = ratio(
                res.bps("node", "aisnode", "put", size, 0),
                res.bps("fio", "fio", "write", size, 0),
            );
            let pf = ratio(
                res.bps("node", "aisnode", "put-fsync", size, 0),
                res.bps("fio", "fio", "write", size, 0),
            );
            let pn = ratio(
                res.bps("node", "aisnode", "put", size, 0),
                res.bps("fio", "fio", "write-new", size, 0),
            );
            let gd = ratio(
                res.bps("node", "aisnode", "get-direct", size, 0),
                res.bps("fio", "fio", "read", size, 0),
            );
            let pd = ratio(
                res.bps("node", "aisnode", "put-direct", size, 0),
                res.bps("fio", "fio", "write", size, 0),
            );
            let pfp = ratio(
                res.bps("node", "aisnode", "put-fsync", size, 0),
                res.bps("node", "aisnode", "put", size, 0),
            );
            let pdn = ratio(
                res.bps("node", "aisnode", "put-direct", size, 0),
                res.bps("fio", "fio", "write-new", size, 0),
            );
            let plain = |r: Option<f64>| r.map_or("–".into(), |r| format!("{r:.2}"));
            let _ = writeln!(
                w,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                size_label(size),
                fmt_ratio(g),
                fmt_ratio(gd),
                fmt_ratio(p),
                fmt_ratio(pd),
                fmt_ratio(pf),
                plain(pfp),
                plain(pn),
                plain(pdn)
            );
            for (op, fop, r) in [("get", "read", g), ("put", "write", p)] {
                if let (Some(r), Some(ours), Some(f)) = (
                    r,
                    res.find("node", "aisnode", op, size, 0)
                        .and_then(|x| x.median()),
                    res.find("fio", "fio", fop, size, 0),
                ) {
                    if r < RATIO_FLAG {
                        let new_row = res
                            .find("fio", "fio", "write-new", size, 0)
                            .and_then(|x| x.median());
                        let new_files = match new_row {
                            Some(n) if op == "put" && n.client_cores() >= 0.85 => format!(
                                " fio writing new files of {} reached only {} MiB/s and was itself CPU-bound ({:.2} cores in one thread creating, opening and closing files), so no device ceiling exists for small new files here.",
                                size_label(size),
                                mib(n.bytes_per_s),
                                n.client_cores()
                            ),
                            Some(n) if op == "put" => format!(
                                " fio writing new files of {} (allocation, no xattr or rename) reached {} MiB/s, {:.2} of its overwrite rate: that much of the gap is the file system allocating new files, and aisnode reached {:.2} of it.",
                                size_label(size),
                                mib(n.bytes_per_s),
                                n.bytes_per_s / f.bps(),
                                ours.bytes_per_s / n.bytes_per_s
                            ),
                            _ => String::new(),
                        };
                        flagged.push(format!(
                            "aisnode / fio, {} {}: {r:.2}.{new_files} {}",
                            op_label(op),
                            size_label(size),
                            diagnose(ours, op, None, Some(f.bps()), ncpu)
                        ));
                    }
                }
            }
        }
        let _ = writeln!(w);
    }
    if res.rows.iter().any(|r| r.section == "node") {
        let _ = writeln!(
            w,
            "**aisnode CPU per request** (microseconds of CPU of the aisnode process per successful request, from /proc/PID/stat around each run, median run; in parentheses CPU seconds per GiB moved). Through the proxy a request costs the redirect hop (aisloader sends PUT bodies of 1 MiB and more with `Expect: 100-continue`, so those cross the network once; a smaller PUT's body goes to the proxy and again to the target); direct requests are routed by the cluster map ([docs/direct.md](../../docs/direct.md)):\n"
        );
        let ops = ["get", "get-direct", "put", "put-direct", "put-fsync"];
        let _ = writeln!(
            w,
            "| object size | {} |\n|---|{}",
            ops.iter()
                .map(|o| op_label(o))
                .collect::<Vec<_>>()
                .join(" | "),
            "---|".repeat(ops.len())
        );
        for &size in &cfg.sizes {
            let cells: Vec<String> = ops
                .iter()
                .map(|op| {
                    res.find("node", "aisnode", op, size, 0)
                        .and_then(|r| r.median())
                        .map_or("–".into(), |s| {
                            format!("{:.1} ({:.2})", s.cpu_us_per_op(), s.cpu_s_per_gib())
                        })
                })
                .collect();
            let _ = writeln!(w, "| {} | {} |", size_label(size), cells.join(" | "));
        }
        let _ = writeln!(w);
    }
    let scaling_rows: Vec<&Row> = res.rows.iter().filter(|r| r.section == "scaling").collect();
    if !scaling_rows.is_empty() {
        let _ = writeln!(
            w,
            "**Linearity** T(N) / (N × T(1)), {} objects, each disk throttled to {} MiB/s. T is aisloader's steady window (`-ramp`: from {:.2} s after the start to the deadline): the closed loop's drain after the deadline, when the outstanding requests finish on fewer and fewer disks, is left out. Whole-run figures: {}.\n",
            size_label(cfg.scaling_size),
            cfg.disk_rate_bytes / MIB,
            cfg.scaling_ramp_s(),
            whole_run_linearity(res, cfg)
        );
        let _ = writeln!(
            w,
            "| N | GET | PUT | GET / fio on the same N disks | PUT / fio on the same N disks |\n|---|---|---|---|---|"
        );
        for &n in &cfg.scaling_ns {
            let mut cells = Vec::new();
            let mut vs_fio = Vec::new();
            for op in ["get", "put"] {
                let fop = if op == "get" { "read" } else { "write" };
                let fio_n = res.bps("scaling-fio", "fio", fop, cfg.scaling_size, n);
                vs_fio.push(fmt_ratio(ratio(
                    res.bps("scaling", "aisnode", op, cfg.scaling_size, n),
                    fio_n,
                )));
                let t1 = res.bps("scaling", "aisnode", op, cfg.scaling_size, 1);
                let tn = res.bps("scaling", "aisnode", op, cfg.scaling_size, n);
                let r = ratio(tn, t1.map(|t| t * n as f64));
                if let (Some(r), Some(s)) = (
                    r,
                    res.find("scaling", "aisnode", op, cfg.scaling_size, n)
                        .and_then(|x| x.median()),
                ) {
                    if r < RATIO_FLAG {
                        let per_disk = res
                            .per_disk_mib_s
                            .iter()
                            .find(|(k, o, _)| *k == n && o == op)
                            .map(|(_, _, v)| {
                                v.iter()
                                    .map(|x| format!("{x:.0}"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            })
                            .unwrap_or_default();
                        let rate = (cfg.disk_rate_bytes / MIB) as f64;
                        let slow: Vec<String> = res
                            .per_disk_mib_s
                            .iter()
                            .find(|(k, o, _)| *k == n && o == op)
                            .map(|(_, _, v)| {
                                v.iter()
                                    .enumerate()
                                    .filter(|(_, x)| **x < 0.9 * rate)
                                    .map(|(i, x)| format!("disk {i} at {x:.0}"))
                                    .collect()
                            })
                            .unwrap_or_default();
                        let ideal = rate * n as f64;
                        let mut disks = match fio_n {
                            Some(f) if f / (MIB as f64) < 0.9 * ideal => format!(
                                "the disks themselves fell short: fio on the same {n} throttled disks reached {} of {ideal:.0} MiB/s (the loop devices share one virtio disk, and the machine, with other users), and aisnode reached {:.2} of fio",
                                mib(f),
                                s.bytes_per_s / f
                            ),
                            Some(f) => format!(
                                "fio reached {} MiB/s on the same {n} disks, so the shortfall is in aisnode's request path, not the disks",
                                mib(f)
                            ),
                            None => String::new(),
                        };
                        if !slow.is_empty() {
                            disks.push_str(&format!(
                                "; disks below their throttle: {} of {rate:.0} MiB/s",
                                slow.join(", ")
                            ));
                        }
                        flagged.push(format!(
                            "linearity {} N={n}: {r:.2} (per-disk MiB/s: {per_disk}). {disks}; {}",
                            op_label(op),
                            diagnose(s, op, None, None, ncpu)
                        ));
                    }
                }
                cells.push(fmt_ratio(r));
            }
            let _ = writeln!(
                w,
                "| {n} | {} | {} | {} | {} |",
                cells[0], cells[1], vs_fio[0], vs_fio[1]
            );
        }
        let _ = writeln!(w);
    }
    let peers: Vec<String> = {
        let mut v: Vec<String> = Vec::new();
        for r in res
            .rows
            .iter()
            .filter(|r| r.section == "peers" && r.system != "aisnode")
        {
            if !v.contains(&r.system) {
                v.push(r.system.clone());
            }
        }
        v
    };
    if !peers.is_empty() {
        let _ = writeln!(w, "**aisnode / peer** (same aisloader, same workers, same disk; peers through S3, aisnode through {}; > 1 means aisnode is faster):\n", res.peers_ours_api);
        let _ = writeln!(w, "| workload | {} |", peers.join(" | "));
        let _ = writeln!(w, "|---|{}", "---|".repeat(peers.len()));
        for op in ["put", "get"] {
            for &size in &cfg.sizes {
                let ours = res.find("peers", "aisnode", op, size, 0);
                let mut cells = Vec::new();
                for p in &peers {
                    let other = res.find("peers", p, op, size, 0);
                    let r = ratio(ours.map(Row::bps), other.map(Row::bps));
                    if let (Some(r), Some(o), Some(x)) = (
                        r,
                        ours.and_then(|r| r.median()),
                        other.and_then(|r| r.median()),
                    ) {
                        if r < RATIO_FLAG {
                            let with_sync = if op == "put" {
                                format!(
                                    "; counting the sync after the run: {:.2}",
                                    o.bytes_per_s_with_sync() / x.bytes_per_s_with_sync().max(1e-9)
                                )
                            } else {
                                String::new()
                            };
                            flagged.push(format!(
                                "aisnode / {p}, {} {}: {r:.2} ({} vs {} MiB/s{with_sync}). {}",
                                op_label(op),
                                size_label(size),
                                mib(o.bytes_per_s),
                                mib(x.bytes_per_s),
                                diagnose(o, op, Some((p, x)), None, ncpu)
                            ));
                        }
                    }
                    cells.push(fmt_ratio(r));
                }
                if ours.is_some() {
                    let _ = writeln!(
                        w,
                        "| {} {} | {} |",
                        op_label(op),
                        size_label(size),
                        cells.join(" | ")
                    );
                }
            }
        }
        let _ = writeln!(w);
    }
    if res.rows.iter().any(|r| r.section == "cores") {
        let _ = writeln!(
            w,
            "**Core scaling** T(2 cores) / T(1 core), {} objects:\n",
            size_label(cfg.cores_size)
        );
        let _ = writeln!(w, "| GET | PUT |\n|---|---|");
        let g = ratio(
            res.bps("cores", "aisnode", "get", cfg.cores_size, 2),
            res.bps("cores", "aisnode", "get", cfg.cores_size, 1),
        );
        let p = ratio(
            res.bps("cores", "aisnode", "put", cfg.cores_size, 2),
            res.bps("cores", "aisnode", "put", cfg.cores_size, 1),
        );
        let _ = writeln!(
            w,
            "| {} | {} |\n",
            g.map_or("–".into(), |r| format!("{r:.2}")),
            p.map_or("–".into(), |r| format!("{r:.2}"))
        );
    }
    rebalance_headline(res, w, &mut flagged, ncpu, cfg.workers);
    let _ = writeln!(w, "### Ratios below {RATIO_FLAG}\n");
    if flagged.is_empty() {
        let _ = writeln!(w, "None.\n");
    } else {
        let _ = writeln!(
            w,
            "What the harness measured around each run (CPU from /proc/PID/stat of the server's process tree and the loader, whole-machine busy time from /proc/stat, device bytes from /proc/diskstats):\n"
        );
        for f in &flagged {
            let _ = writeln!(w, "- {f}");
        }
        let _ = writeln!(w);
    }

    // ---------------- environment ----------------
    if let Some(e) = env {
        let _ = writeln!(w, "## Environment\n\n| | |\n|---|---|");
        let _ = writeln!(
            w,
            "| commit | `{}`{} |",
            e.commit,
            if e.dirty_files > 0 {
                format!(
                    " plus {} uncommitted file(s) in the work tree",
                    e.dirty_files
                )
            } else {
                String::new()
            }
        );
        let _ = writeln!(w, "| kernel | {} |", e.kernel);
        let _ = writeln!(w, "| CPU | {} × {} |", e.cpus, e.cpu_model);
        let _ = writeln!(w, "| memory | {:.1} GiB |", e.mem_gib);
        let _ = writeln!(w, "| work directory | {} |", e.work_dir);
        let _ = writeln!(
            w,
            "| file system | {} on {} (`{}`){} |",
            e.fs_type,
            e.fs_source,
            e.mount_options,
            journal_remark(&e.fs_journal)
        );
        let _ = writeln!(
            w,
            "| block device | {} (scheduler `{}`, rotational {}) |",
            e.block_device, e.scheduler, e.rotational
        );
        let _ = writeln!(w, "| cgroup | {} |", e.cgroup_blkio);
        let _ = writeln!(w, "| load average before | {} |", e.load_before);
        let _ = writeln!(
            w,
            "| object sizes | {} |",
            cfg.sizes
                .iter()
                .map(|&s| size_label(s))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            w,
            "| concurrency | {} aisloader workers = fio iodepth {} |",
            cfg.workers, cfg.workers
        );
        let _ = writeln!(w, "| mountpaths | sections 2, 4, 5: two directories on the file system above (one per core); section 3: one loop-device ext4 per mountpath; section 6: two directories per target on the file system above |");
        for (k, v) in &e.versions {
            let _ = writeln!(w, "| {k} | {} |", v.replace('|', "\\|"));
        }
        let _ = writeln!(w);
    }
    if !res.durability.is_empty() {
        let _ = writeln!(
            w,
            "## Durability each system ran with\n\n| system | durability |\n|---|---|"
        );
        for (s, d) in &res.durability {
            let _ = writeln!(w, "| {s} | {d} |");
        }
        let _ = writeln!(w, "\nfio runs with O_DIRECT and no fsync.\n");
    }

    // ---------------- sections ----------------
    let sample_cols = |s: &Sample| {
        format!(
            "{} | {} | {} | {} | {}",
            format_args!("{:.0}", s.ops_per_s),
            ms(s.p50_us),
            ms(s.p99_us),
            ms(s.p999_us),
            ms(s.max_us)
        )
    };
    if res.rows.iter().any(|r| r.section == "fio") {
        let _ = writeln!(w, "## 1. Raw-device baseline (fio)\n");
        let _ = writeln!(
            w,
            "fio {} with O_DIRECT on a preallocated {} MiB file on the mountpaths' file system, iodepth {}, {} s after {} s ramp, {} run(s) each, interleaved with section 2's runs. Reads are random at the object size; writes sequential at the object size over the preallocated file (the device's write rate); \"write, new files\" writes one pass of new files of the object size into one directory (created on open, no preallocation: the file system allocates as aisnode's PUT makes it do), without ramp; for small files that mode is CPU-bound in fio itself (one thread creates, opens and closes every file: see its CPU column), so it is a device ceiling only for large files.\n",
            cfg.fio_engine, cfg.fio_file_bytes >> 20, cfg.workers, cfg.fio_runtime_s, cfg.fio_ramp_s, cfg.runs
        );
        let _ = writeln!(w, "| size | op | MiB/s | IOPS | p50 ms | p99 ms | p99.9 ms | max ms | fio CPU (cores) |\n|---|---|---|---|---|---|---|---|---|");
        for r in res.rows.iter().filter(|r| r.section == "fio") {
            if let Some(s) = r.median() {
                let _ = writeln!(
                    w,
                    "| {} | {} | {} | {} | {:.2} |",
                    size_label(r.size),
                    op_label(&r.op),
                    spread(r),
                    sample_cols(s),
                    s.client_cores()
                );
            }
        }
        let _ = writeln!(w);
    }
    if res.rows.iter().any(|r| r.section == "node") {
        let _ = writeln!(w, "## 2. aisnode GET and PUT\n");
        let _ = writeln!(
            w,
            "aisloader (native API) → one aisnode with {ncpu} cores and two mountpaths; {} workers, {} s per run, {} runs per row; PUT runs stop early at {} MiB written. GET reads random objects written by the PUT runs. Cores columns are CPU-seconds per second over the run.\n",
            cfg.workers, cfg.node_duration_s, cfg.runs, cfg.put_cap_bytes >> 20
        );
        let _ = writeln!(w, "| size | op | MiB/s | ops/s | p50 ms | p99 ms | p99.9 ms | max ms | ratio to fio | aisnode CPU µs/op | aisnode CPU s/GiB | aisnode cores | busiest aisnode thread | aisnode run-queue wait s/s | loader cores | machine busy | errors |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for &size in &cfg.sizes {
            for op in ["put", "put-direct", "put-fsync", "get", "get-direct"] {
                if let Some(r) = res.find("node", "aisnode", op, size, 0) {
                    if let Some(s) = r.median() {
                        let fop = if op.starts_with("get") {
                            "read"
                        } else {
                            "write"
                        };
                        let rf = ratio(Some(r.bps()), res.bps("fio", "fio", fop, size, 0));
                        let _ = writeln!(
                            w,
                            "| {} | {} | {} | {} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
                            size_label(size),
                            op_label(op),
                            spread(r),
                            sample_cols(s),
                            fmt_ratio(rf),
                            s.cpu_us_per_op(),
                            s.cpu_s_per_gib(),
                            s.server_cores(),
                            s.server_max_thread_cores(),
                            s.server_runq_wait_per_s(),
                            s.client_cores(),
                            s.machine_cores(),
                            r.samples.iter().map(|x| x.errors).sum::<u64>()
                        );
                    }
                }
            }
        }
        let _ = writeln!(w);
        for (op, fop, name) in [("get", "read", "GET"), ("put", "write", "PUT")] {
            let x: Vec<String> = cfg.sizes.iter().map(|&s| size_label(s)).collect();
            let mut series = vec![
                Series {
                    name: format!("aisnode {name}"),
                    values: cfg
                        .sizes
                        .iter()
                        .map(|&s| res.bps("node", "aisnode", op, s, 0).map(|v| v / MIB as f64))
                        .collect(),
                    dashed: false,
                    color: None,
                },
                Series {
                    name: format!("fio {}", op_label(fop)),
                    values: cfg
                        .sizes
                        .iter()
                        .map(|&s| res.bps("fio", "fio", fop, s, 0).map(|v| v / MIB as f64))
                        .collect(),
                    dashed: true,
                    color: None,
                },
            ];
            if op == "put" {
                series.push(Series {
                    name: "fio write, new files".into(),
                    values: cfg
                        .sizes
                        .iter()
                        .map(|&s| {
                            res.bps("fio", "fio", "write-new", s, 0)
                                .map(|v| v / MIB as f64)
                        })
                        .collect(),
                    dashed: true,
                    color: Some(3),
                });
                series.push(Series {
                    name: "aisnode PUT (fsync)".into(),
                    values: cfg
                        .sizes
                        .iter()
                        .map(|&s| {
                            res.bps("node", "aisnode", "put-fsync", s, 0)
                                .map(|v| v / MIB as f64)
                        })
                        .collect(),
                    dashed: false,
                    color: None,
                });
            }
            let file = format!("node-{op}.svg");
            plot::lines(
                &assets.join(&file),
                &format!("{name} throughput by object size: aisnode vs fio"),
                &x,
                "MiB/s (log)",
                true,
                &series,
            )?;
            let _ = writeln!(w, "![{name} throughput]({stem}/{file})\n");
        }
        let x: Vec<String> = cfg.sizes.iter().map(|&s| size_label(s)).collect();
        let mut series = Vec::new();
        for (op, name) in [("get", "GET"), ("put", "PUT")] {
            for (k, pname) in [(0, "p50"), (1, "p99"), (2, "p99.9")] {
                series.push(Series {
                    name: format!("{name} {pname}"),
                    values: cfg
                        .sizes
                        .iter()
                        .map(|&s| {
                            res.find("node", "aisnode", op, s, 0)
                                .and_then(|r| r.median())
                                .map(|m| [m.p50_us, m.p99_us, m.p999_us][k] / 1e3)
                        })
                        .collect(),
                    dashed: op == "put",
                    color: Some(k),
                });
            }
        }
        plot::lines(
            &assets.join("node-latency.svg"),
            "aisnode latency percentiles by object size",
            &x,
            "ms (log)",
            true,
            &series,
        )?;
        let _ = writeln!(w, "![latency]({stem}/node-latency.svg)\n");
    }
    if !scaling_rows.is_empty() || res.notes.iter().any(|(s, _)| s == "scaling") {
        let _ = writeln!(w, "## 3. Linear per-disk scaling\n");
        let _ = writeln!(
            w,
            "N loop devices (direct I/O onto sparse image files on the disk under test), each with its own ext4 and one aisnode mountpath, each limited by the cgroup v1 blkio throttle to {} MiB/s read and write (aisnode runs inside the group). {} objects, {} workers per disk, {} s per run. The throttle is set well below the device's own rate (fio above) so that N = {} disks stay under it. Objects land on disks by HRW, i.e. uniformly at random, so with a closed loop some disks momentarily hold more of the outstanding requests than others and one may idle; with W requests per disk the idle share of a disk is about (N−1)/(W·N+N−1) (product-form estimate), which is why W is large here.\n",
            cfg.disk_rate_bytes / MIB,
            size_label(cfg.scaling_size),
            cfg.scaling_workers_per_disk,
            cfg.scaling_duration_s,
            cfg.scaling_ns.iter().max().unwrap_or(&1)
        );
        for (s, n) in res.notes.iter().filter(|(s, _)| s == "scaling") {
            let _ = writeln!(w, "- {s}: {n}");
        }
        let _ = writeln!(w);
        let fio_rows: Vec<&Row> = res
            .rows
            .iter()
            .filter(|r| r.section == "scaling-fio")
            .collect();
        if !fio_rows.is_empty() {
            let _ = writeln!(
                w,
                "Ceiling of the same N throttled disks, measured right before aisnode on them (fio inside the group, one job per disk, {} O_DIRECT, iodepth {} per disk):\n",
                size_label(cfg.scaling_size),
                cfg.scaling_workers_per_disk
            );
            let _ = writeln!(w, "| N | op | MiB/s | IOPS | p50 ms | p99 ms | p99.9 ms | max ms |\n|---|---|---|---|---|---|---|---|");
            for r in fio_rows {
                if let Some(s) = r.median() {
                    let _ = writeln!(
                        w,
                        "| {} | {} | {} | {} |",
                        r.n,
                        op_label(&r.op),
                        mib(s.bytes_per_s),
                        sample_cols(s)
                    );
                }
            }
            let _ = writeln!(w);
        }
        if !scaling_rows.is_empty() {
            let _ = writeln!(w, "| N | op | MiB/s | T(N)/(N×T(1)) | T(N)/fio(N) | ops/s | p50 ms | p99 ms | p99.9 ms | max ms | per-disk MiB/s (diskstats) | aisnode cores | busiest aisnode thread | aisnode run-queue wait s/s | machine busy |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
            for &n in &cfg.scaling_ns {
                for op in ["get", "put"] {
                    if let Some(r) = res.find("scaling", "aisnode", op, cfg.scaling_size, n) {
                        if let Some(s) = r.median() {
                            let t1 = res.bps("scaling", "aisnode", op, cfg.scaling_size, 1);
                            let lin = ratio(Some(r.bps()), t1.map(|t| t * n as f64));
                            let per_disk = res
                                .per_disk_mib_s
                                .iter()
                                .find(|(k, o, _)| *k == n && o == op)
                                .map(|(_, _, v)| {
                                    v.iter()
                                        .map(|x| format!("{x:.0}"))
                                        .collect::<Vec<_>>()
                                        .join(" ")
                                })
                                .unwrap_or_default();
                            let fop = if op == "get" { "read" } else { "write" };
                            let vs_fio = ratio(
                                Some(r.bps()),
                                res.bps("scaling-fio", "fio", fop, cfg.scaling_size, n),
                            );
                            let _ = writeln!(
                                w,
                                "| {n} | {} | {} | {} | {} | {} | {per_disk} | {:.2} | {:.2} | {:.2} | {:.2} |",
                                op_label(op),
                                mib(s.bytes_per_s),
                                fmt_ratio(lin),
                                fmt_ratio(vs_fio),
                                sample_cols(s),
                                s.server_cores(),
                                s.server_max_thread_cores(),
                                s.server_runq_wait_per_s(),
                                s.machine_cores()
                            );
                        }
                    }
                }
            }
            let _ = writeln!(w);
            let x: Vec<String> = cfg.scaling_ns.iter().map(ToString::to_string).collect();
            let mut series = Vec::new();
            for (op, name) in [("get", "GET"), ("put", "PUT")] {
                let t1 = res.bps("scaling", "aisnode", op, cfg.scaling_size, 1);
                let c = Some(if op == "get" { 0 } else { 1 });
                series.push(Series {
                    name: format!("{name} T(N)"),
                    values: cfg
                        .scaling_ns
                        .iter()
                        .map(|&n| {
                            res.bps("scaling", "aisnode", op, cfg.scaling_size, n)
                                .map(|v| v / MIB as f64)
                        })
                        .collect(),
                    dashed: false,
                    color: c,
                });
                series.push(Series {
                    name: format!("{name} N×T(1)"),
                    values: cfg
                        .scaling_ns
                        .iter()
                        .map(|&n| t1.map(|t| t * n as f64 / MIB as f64))
                        .collect(),
                    dashed: true,
                    color: c,
                });
            }
            plot::lines(
                &assets.join("scaling.svg"),
                "Aggregate throughput vs number of throttled disks",
                &x,
                "MiB/s",
                false,
                &series,
            )?;
            let _ = writeln!(w, "![scaling]({stem}/scaling.svg)\n");
        }
    }
    if res.rows.iter().any(|r| r.section == "peers") {
        let _ = writeln!(w, "## 4. Peers on the same machine and disk\n");
        let _ = writeln!(
            w,
            "Every system is driven by the same aisloader, {} workers; the peers in S3 mode (`-s3endpoint`, SigV4, path style), aisnode through {}. Per object size: {} PUT run(s) of {} s per system in rotating order (stopping early at {} MiB; `sync` after each, timed), then {} GET run(s) of {} s per system in rotating order, with `sync; echo 1 > /proc/sys/vm/drop_caches` before each GET run (no object data in memory at the start; dentries and inodes stay cached). aisnode runs with {ncpu} cores and two mountpaths. nginx serves the files s3s-fs wrote (plus a static ListObjectsV2 document so aisloader can list), GET only. \"disk MiB/s\" is what the device moved during the run (reads for GET, writes for PUT): a GET row reading far less than it served came from the page cache.\n",
            cfg.workers, res.peers_ours_api, cfg.peer_put_runs, cfg.peer_put_duration_s, cfg.put_cap_bytes >> 20, cfg.peer_get_runs, cfg.peer_get_duration_s
        );
        let systems: Vec<String> = std::iter::once("aisnode".to_owned())
            .chain(peers.iter().cloned())
            .collect();
        for op in ["put", "get"] {
            let _ = writeln!(w, "### {}\n", op_label(op));
            if op == "put" {
                let _ = writeln!(w, "\"incl. sync\" counts the `sync` after the run in the time: the peers acknowledge from the page cache and write back later, aisnode writes with O_DIRECT before acknowledging.\n");
                let _ = writeln!(w, "| size | system | MiB/s | ops/s | p50 ms | p99 ms | p99.9 ms | max ms | aisnode / this | MiB/s incl. sync | aisnode / this incl. sync | server cores | loader cores | machine busy | disk MiB/s | errors |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
            } else {
                let _ = writeln!(w, "| size | system | MiB/s | ops/s | p50 ms | p99 ms | p99.9 ms | max ms | aisnode / this | server cores | loader cores | machine busy | disk MiB/s | errors |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
            }
            for &size in &cfg.sizes {
                let ours = res.bps("peers", "aisnode", op, size, 0);
                let ours_sync = res
                    .find("peers", "aisnode", op, size, 0)
                    .and_then(|r| r.median())
                    .map(Sample::bytes_per_s_with_sync);
                for sys in &systems {
                    if let Some(r) = res.find("peers", sys, op, size, 0) {
                        if let Some(s) = r.median() {
                            let disk = if op == "get" {
                                s.disk_read_bytes
                            } else {
                                s.disk_write_bytes
                            } as f64
                                / s.duration_s.max(1e-9);
                            let is_ours = sys == "aisnode";
                            let rr = if is_ours {
                                "–".into()
                            } else {
                                fmt_ratio(ratio(ours, Some(r.bps())))
                            };
                            let sync_cols = if op == "put" {
                                let rs = if is_ours {
                                    "–".into()
                                } else {
                                    fmt_ratio(ratio(ours_sync, Some(s.bytes_per_s_with_sync())))
                                };
                                format!(" {} | {rs} |", mib(s.bytes_per_s_with_sync()))
                            } else {
                                String::new()
                            };
                            let _ = writeln!(
                                w,
                                "| {} | {sys} | {} | {} | {rr} |{sync_cols} {:.2} | {:.2} | {:.2} | {} | {} |",
                                size_label(size),
                                spread(r),
                                sample_cols(s),
                                s.server_cores(),
                                s.client_cores(),
                                s.machine_cores(),
                                mib(disk),
                                r.samples.iter().map(|x| x.errors).sum::<u64>()
                            );
                        }
                    }
                }
            }
            let _ = writeln!(w);
        }
        let mut groups = Vec::new();
        let mut series: Vec<Series> = systems
            .iter()
            .map(|s| Series {
                name: s.clone(),
                values: Vec::new(),
                dashed: false,
                color: None,
            })
            .collect();
        let mut ratio_series: Vec<Series> = peers
            .iter()
            .map(|p| Series {
                name: format!("aisnode / {p}"),
                values: Vec::new(),
                dashed: false,
                color: None,
            })
            .collect();
        for op in ["put", "get"] {
            for &size in &cfg.sizes {
                if res.find("peers", "aisnode", op, size, 0).is_none() {
                    continue;
                }
                groups.push(format!("{} {}", op_label(op), size_label(size)));
                for (k, sys) in systems.iter().enumerate() {
                    series[k]
                        .values
                        .push(res.bps("peers", sys, op, size, 0).map(|v| v / MIB as f64));
                }
                let ours = res.bps("peers", "aisnode", op, size, 0);
                for (k, p) in peers.iter().enumerate() {
                    ratio_series[k]
                        .values
                        .push(ratio(ours, res.bps("peers", p, op, size, 0)));
                }
            }
        }
        plot::bars(
            &assets.join("peers-throughput.svg"),
            "Throughput per workload and system (S3, same aisloader)",
            &groups,
            "MiB/s (log)",
            true,
            &series,
            None,
        )?;
        plot::bars(
            &assets.join("peers-ratio.svg"),
            "aisnode / peer (above 1: aisnode faster; dashed: 1.0)",
            &groups,
            "ratio (log)",
            true,
            &ratio_series,
            Some(1.0),
        )?;
        let _ = writeln!(w, "![peers throughput]({stem}/peers-throughput.svg)\n\n![peers ratio]({stem}/peers-ratio.svg)\n");
    }
    if !res.profiles.is_empty() {
        let _ = writeln!(w, "### Where a 4 KiB request's CPU goes\n");
        let _ = writeln!(
            w,
            "`perf record -F 999 -g` of the aisnode process during one extra run of each 4 KiB row (not counted above; a GET run first lists the bucket, and its recording starts once the node counts GETs (its `/metrics`), so the listing is not in it). Per profile: the symbols with the most self time (kernel `[k]` and user `[.]`), then aisnode's user-space functions by inclusive time. Full text in [`{stem}/profiles.txt`]({stem}/profiles.txt).\n"
        );
        let mut all = String::new();
        for (label, text) in &res.profiles {
            let _ = writeln!(
                w,
                "<details><summary>{label}</summary>\n\n```\n{text}```\n</details>\n"
            );
            let _ = writeln!(all, "==== {label} ====\n{text}\n");
        }
        std::fs::write(assets.join("profiles.txt"), all)?;
    }
    if res.rows.iter().any(|r| r.section == "cores") {
        let _ = writeln!(w, "## 5. Core scaling\n");
        let _ = writeln!(
            w,
            "aisnode with `--cores 1` and `--cores 2` (two mountpaths either way, so with one core that core owns both), {} objects, {} workers, {} s per run, {} runs; aisloader (one executor thread, not pinned) shares the {ncpu} CPUs, so its CPU use is shown too.\n",
            size_label(cfg.cores_size), cfg.workers, cfg.cores_duration_s, cfg.cores_runs
        );
        let _ = writeln!(w, "| cores | op | MiB/s | ops/s | p50 ms | p99 ms | p99.9 ms | max ms | vs 1 core | aisnode CPU µs/op | aisnode cores | busiest aisnode thread | aisnode run-queue wait s/s | loader cores | machine busy |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for op in ["get", "put"] {
            for n in [1usize, 2] {
                if let Some(r) = res.find("cores", "aisnode", op, cfg.cores_size, n) {
                    if let Some(s) = r.median() {
                        let rr = ratio(
                            Some(r.bps()),
                            res.bps("cores", "aisnode", op, cfg.cores_size, 1),
                        );
                        let _ = writeln!(
                            w,
                            "| {n} | {} | {} | {} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
                            op_label(op),
                            spread(r),
                            sample_cols(s),
                            rr.map_or("–".into(), |r| format!("{r:.2}")),
                            s.cpu_us_per_op(),
                            s.server_cores(),
                            s.server_max_thread_cores(),
                            s.server_runq_wait_per_s(),
                            s.client_cores(),
                            s.machine_cores()
                        );
                    }
                }
            }
        }
        let _ = writeln!(w);
        let groups = vec!["GET".to_owned(), "PUT".to_owned()];
        let series: Vec<Series> = [1usize, 2]
            .iter()
            .map(|&n| Series {
                name: format!("{n} core{}", if n > 1 { "s" } else { "" }),
                values: ["get", "put"]
                    .iter()
                    .map(|op| {
                        res.find("cores", "aisnode", op, cfg.cores_size, n)
                            .and_then(|r| r.median())
                            .map(|s| s.ops_per_s)
                    })
                    .collect(),
                dashed: false,
                color: None,
            })
            .collect();
        plot::bars(
            &assets.join("cores.svg"),
            &format!(
                "{} objects: ops/s with 1 and 2 aisnode cores",
                size_label(cfg.cores_size)
            ),
            &groups,
            "ops/s",
            false,
            &series,
            None,
        )?;
        let _ = writeln!(w, "![cores]({stem}/cores.svg)\n");
    }
    if !res.rebalance.is_empty() || res.notes.iter().any(|(s, _)| s == "rebalance") {
        rebalance_section(cfg, res, w, assets, &stem, ncpu)?;
    }
    crate::requests::report(res, w);
    let other_notes: Vec<&(String, String)> = res
        .notes
        .iter()
        .filter(|(s, _)| s != "scaling" && s != "rebalance")
        .collect();
    if !other_notes.is_empty() {
        let _ = writeln!(w, "## Notes\n");
        for (s, n) in other_notes {
            let _ = writeln!(w, "- {s}: {n}");
        }
        let _ = writeln!(w);
    }
    let _ = writeln!(w, "## Section timings\n\n| section | seconds |\n|---|---|");
    for (s, t) in &res.timings {
        let _ = writeln!(w, "| {s} | {t:.0} |");
    }
    let _ = writeln!(w, "\n## Exact commands\n\nServers:\n");
    for (what, cmd) in &res.servers {
        let _ = writeln!(w, "- {what}: `{cmd}`");
    }
    let _ = writeln!(
        w,
        "\n<details><summary>Every measured run ({} runs)</summary>\n\n```",
        res.rows.iter().map(|r| r.samples.len()).sum::<usize>()
    );
    for r in &res.rows {
        for s in &r.samples {
            let _ = writeln!(w, "{}", s.command);
        }
    }
    let _ = writeln!(w, "```\n\n</details>");
    std::fs::write(md_path, md)?;
    Ok(())
}

// ---------------- section 6: rebalance ----------------

/// Rate at which one disk can move data from one file to another: every byte is read once
/// and written once, so the times add.
fn move_ceiling(read_bps: f64, write_bps: f64) -> f64 {
    1.0 / (1.0 / read_bps.max(1e-9) + 1.0 / write_bps.max(1e-9))
}

fn rebalance_fio(res: &Results, size: u64) -> (Option<f64>, Option<f64>) {
    (
        res.bps("rebalance-fio", "fio", "read", size, 0),
        res.bps("rebalance-fio", "fio", "write", size, 0),
    )
}

fn rebalance_fg<'a>(res: &'a Results, phase: &str, op: &str, size: u64) -> Option<&'a Sample> {
    res.find("rebalance", phase, op, size, 0)
        .and_then(|r| r.median())
}

/// Share of the disk's time a run's reads and writes take at fio's rates (1.0: saturated).
fn disk_share(s: &Sample, read_bps: Option<f64>, write_bps: Option<f64>) -> Option<f64> {
    let d = s.duration_s.max(1e-9);
    Some(s.disk_read_bytes as f64 / d / read_bps? + s.disk_write_bytes as f64 / d / write_bps?)
}

fn disk_text(s: &Sample, share: Option<f64>) -> String {
    let d = s.duration_s.max(1e-9);
    format!(
        "the disk read {} and wrote {} MiB/s{}",
        mib(s.disk_read_bytes as f64 / d),
        mib(s.disk_write_bytes as f64 / d),
        share.map_or(String::new(), |u| format!(
            " ({:.0}% of the time fio would need for that at this block size)",
            100.0 * u
        ))
    )
}

/// CPU as the cause for a 5-process cluster: the machine mostly busy, and aisnode's threads
/// kept waiting. Run-queue wait alone is summed over some 30 threads here and reaches the
/// single-node threshold in bursts even with a CPU idle, so it does not decide by itself.
fn cluster_cpu_bound(s: &Sample, ncpu: usize) -> bool {
    let busy = s.machine_cores();
    busy >= 0.85 * ncpu as f64
        || (s.server_runq_wait_per_s() >= RUNQ_WAIT_STARVED_S_PER_S && busy >= 0.7 * ncpu as f64)
}

fn diagnose_rebalance(
    r: &crate::rebalance::RebalanceRun,
    during: &Sample,
    fio: (Option<f64>, Option<f64>),
    ncpu: usize,
    iodepth: u32,
) -> String {
    let mut why = Vec::new();
    let share = disk_share(during, fio.0, fio.1);
    if share.is_some_and(|u| u >= 0.85) {
        why.push(format!("device-bound: {}", disk_text(during, share)));
    }
    if cluster_cpu_bound(during, ncpu) {
        why.push(format!("CPU: {}", cpu_text(during, ncpu)));
    } else if during.server_max_thread_cores() >= 0.9 {
        why.push(format!(
            "one aisnode thread (reactor) was saturated: {}",
            cpu_text(during, ncpu)
        ));
    }
    let senders = r.per_target.iter().filter(|t| t.objects > 0).count().max(1);
    if let Some(c) = r.concurrency_per_target {
        let slots = c as f64 * senders as f64;
        let per_obj_ms = 1e3 * slots / r.objects_s().max(1e-9);
        let text = format!(
            "each target keeps at most {c} objects in flight (`--rebalance-workers`, default), so {senders} sending target(s) had {slots:.0} in flight in all, and each object took {per_obj_ms:.1} ms per slot (= slots / objects per second: open and read with O_DIRECT, send over loopback, the new owner's write and rename, its answer, the local delete); throughput is slots / per-object time, while fio keeps {iodepth} I/Os in flight at the device"
        );
        if why.is_empty() {
            why.push(format!(
                "neither the disk ({}) nor the CPUs ({}) were saturated: the rebalance is latency-bound: {text}",
                disk_text(during, share),
                cpu_text(during, ncpu)
            ));
        } else {
            why.push(text);
        }
    } else if why.is_empty() {
        why.push(format!(
            "neither the disk ({}) nor the CPUs ({}) were saturated: per-object latency at the rebalance's fixed concurrency bounds it",
            disk_text(during, share),
            cpu_text(during, ncpu)
        ));
    }
    let blocked_old = r
        .blocked_targets
        .iter()
        .filter(|(n, _)| *n != r.new_target)
        .count();
    if blocked_old > 0 {
        why.push(format!(
            "{blocked_old} of the {} old targets never ran their rebalance (blocked, see the notes)",
            crate::rebalance::TARGETS_BEFORE
        ));
    }
    why.join("; ")
}

fn diagnose_interference(
    before: &Sample,
    during: &Sample,
    fio: (Option<f64>, Option<f64>),
    ncpu: usize,
) -> String {
    let (ub, ud) = (
        disk_share(before, fio.0, fio.1),
        disk_share(during, fio.0, fio.1),
    );
    let pct = |u: Option<f64>| u.map_or("–".into(), |u| format!("{:.0}%", 100.0 * u));
    let d = |s: &Sample| (s.disk_read_bytes + s.disk_write_bytes) as f64 / s.duration_s.max(1e-9);
    let evidence = format!(
        "before → during: {:.2} → {:.2} of {ncpu} CPUs busy, aisnode {:.2} → {:.2} cores (busiest thread {:.2} → {:.2}), aisnode's threads waited {:.2} → {:.2} s/s for a CPU, the disk moved {} → {} MiB/s (read + write; {} → {} of the time fio would need)",
        before.machine_cores(),
        during.machine_cores(),
        before.server_cores(),
        during.server_cores(),
        before.server_max_thread_cores(),
        during.server_max_thread_cores(),
        before.server_runq_wait_per_s(),
        during.server_runq_wait_per_s(),
        mib(d(before)),
        mib(d(during)),
        pct(ub),
        pct(ud)
    );
    let mut why = Vec::new();
    if ud.is_some_and(|u| u >= 0.85) {
        why.push("the disk was near its limit: foreground I/O queued behind the rebalance's reads and writes".to_owned());
    }
    if cluster_cpu_bound(during, ncpu) {
        why.push(format!(
            "CPU contention: the rebalance's work shares the {ncpu} CPUs with the foreground"
        ));
    }
    if why.is_empty() {
        why.push("neither the disk nor the CPUs were saturated, so the added latency is queueing inside aisnode: each target runs its rebalance transfers on the same reactors and disks that serve the foreground, and a foreground GET of an object not yet moved pays a redirect to its previous owner (get-from-neighbour)".to_owned());
    }
    format!("{}: {evidence}", why.join("; "))
}

fn rebalance_headline(
    res: &Results,
    w: &mut String,
    flagged: &mut Vec<String>,
    ncpu: usize,
    iodepth: u32,
) {
    if res.rebalance.is_empty() {
        return;
    }
    let _ = writeln!(w, "**Rebalance** (a fourth target joins three loaded ones, section 6): moved MiB/s against fio on the same disk (the one-disk move ceiling reads and writes every byte: 1 / (1/read + 1/write)), and the foreground's GET latency before / during the rebalance (1.00: no impact):\n");
    let _ = writeln!(w, "| object size | moved MiB/s | objects/s | / fio write | / fio read | / one-disk move ceiling | GET p99 ms before → during | GET p99 before / during | GET p50 before / during |\n|---|---|---|---|---|---|---|---|---|");
    for r in &res.rebalance {
        let fio = rebalance_fio(res, r.size);
        let bps = r.mib_s() * MIB as f64;
        let ceiling = match fio {
            (Some(rd), Some(wr)) => Some(move_ceiling(rd, wr)),
            _ => None,
        };
        let rc = ratio(Some(bps), ceiling);
        let (b, d) = (
            rebalance_fg(res, "before", "get", r.size),
            rebalance_fg(res, "during", "get", r.size),
        );
        let p99 = ratio(b.map(|s| s.p99_us), d.map(|s| s.p99_us));
        let p50 = ratio(b.map(|s| s.p50_us), d.map(|s| s.p50_us));
        let _ = writeln!(
            w,
            "| {} | {} | {:.0} | {} | {} | {} | {} → {} | {} | {} |",
            size_label(r.size),
            mib(bps),
            r.objects_s(),
            fmt_ratio(ratio(Some(bps), fio.1)),
            fmt_ratio(ratio(Some(bps), fio.0)),
            fmt_ratio(rc),
            b.map_or("–".into(), |s| ms(s.p99_us)),
            d.map_or("–".into(), |s| ms(s.p99_us)),
            fmt_ratio(p99),
            fmt_ratio(p50)
        );
        if let (Some(x), Some(d), Some(c)) = (rc, d, ceiling) {
            if x < RATIO_FLAG {
                flagged.push(format!(
                    "rebalance / one-disk move ceiling, {}: {x:.2} ({} of {} MiB/s). {}",
                    size_label(r.size),
                    mib(bps),
                    mib(c),
                    diagnose_rebalance(r, d, fio, ncpu, iodepth)
                ));
            }
        }
        if let (Some(x), Some(b), Some(d)) = (p99, b, d) {
            if x < RATIO_FLAG {
                flagged.push(format!(
                    "foreground GET p99 before / during the rebalance, {}: {x:.2} ({} → {} ms; p50 {} → {} ms). {}",
                    size_label(r.size),
                    ms(b.p99_us),
                    ms(d.p99_us),
                    ms(b.p50_us),
                    ms(d.p50_us),
                    diagnose_interference(b, d, fio, ncpu)
                ));
            }
        }
    }
    let _ = writeln!(w);
}

fn rebalance_sweep_fg<'a>(
    res: &'a Results,
    phase: &str,
    w: usize,
    size: u64,
) -> Option<&'a Sample> {
    res.find("rebalance-sweep", phase, "get", size, w)
        .and_then(|r| r.median())
}

/// The throttle sweep (`--rebalance-workers-sweep`): rebalance speed against foreground GET
/// latency per `--rebalance-workers` value.
fn rebalance_sweep_table(cfg: &Config, res: &Results, w: &mut String) {
    let runs = &res.rebalance_sweep;
    if runs.len() < 2 && runs.iter().all(|r| r.sweep_reused) {
        return;
    }
    let _ = writeln!(
        w,
        "### Throttle sweep: rebalance workers per target
"
    );
    let _ = writeln!(
        w,
        "`--rebalance-workers-sweep {}`: the measurement above at {} (same fill, foreground rate and baseline length), once per value on a fresh cluster whose targets run with `aisnode --rebalance-workers <value>` (objects in flight per target; no `--rebalance-max-rate`). The value equal to aisnode's default is the run above, not repeated. Bounded concurrency trades rebalance speed for foreground latency: fewer workers should move slower and disturb the foreground less.\n",
        cfg.rebalance_workers_sweep
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
        runs.first().map_or("–".into(), |r| size_label(r.size))
    );
    let _ = writeln!(w, "| workers per target | run | moved objects | duration s | moved MiB/s | objects/s | / one-disk move ceiling | GET p50 ms before → during | GET p99 ms before → during | GET p99 before / during | GET requests during | failed during | job errors, aborted jobs |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in runs {
        let wk = r.workers_flag.unwrap_or(0);
        let fio = rebalance_fio(res, r.size);
        let ceiling = match fio {
            (Some(rd), Some(wr)) => Some(move_ceiling(rd, wr)),
            _ => None,
        };
        let bps = r.mib_s() * MIB as f64;
        let (b, d) = (
            rebalance_sweep_fg(res, "before", wk, r.size),
            rebalance_sweep_fg(res, "during", wk, r.size),
        );
        let failed: Vec<String> = r
            .fg_errors_during
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        let pair = |f: fn(&Sample) -> f64| {
            format!(
                "{} → {}",
                b.map_or("–".into(), |s| ms(f(s))),
                d.map_or("–".into(), |s| ms(f(s)))
            )
        };
        let _ = writeln!(
            w,
            "| {wk} | {} | {} | {:.2} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {}, {} |",
            if r.sweep_reused {
                "the run above"
            } else {
                "own cluster"
            },
            r.objects,
            r.duration_s,
            mib(bps),
            r.objects_s(),
            fmt_ratio(ratio(Some(bps), ceiling)),
            pair(|s| s.p50_us),
            pair(|s| s.p99_us),
            fmt_ratio(ratio(b.map(|s| s.p99_us), d.map(|s| s.p99_us))),
            d.map_or("–".into(), |s| s.ops.to_string()),
            if failed.is_empty() {
                "0".to_owned()
            } else {
                failed.join(", ")
            },
            r.errors,
            r.aborted_jobs
        );
    }
    let _ = writeln!(w);
}

fn rebalance_section(
    cfg: &Config,
    res: &Results,
    w: &mut String,
    assets: &Path,
    stem: &str,
    ncpu: usize,
) -> Result<()> {
    let _ = writeln!(w, "## 6. Rebalance\n");
    let workers = res
        .rebalance
        .iter()
        .find_map(|r| r.concurrency_per_target)
        .map_or("its default".to_owned(), |c| format!("{c} (the default)"));
    let cores = res
        .rebalance
        .first()
        .map_or(cfg.rebalance_target_cores, |r| r.target_cores);
    let why_cores = if cores > 1 {
        format!("Why {cores} cores per target: aisnode pins its core k to CPU k mod {ncpu}, so with one core per process every node's only reactor would sit on CPU 0 while the other CPU(s) idle; with {cores} every node spreads over {} CPUs.", cores.min(ncpu))
    } else {
        format!("With one core per target every node's only reactor is pinned to CPU 0 (aisnode pins its core k to CPU k mod {ncpu}), so all nodes share that CPU.")
    };
    let _ = writeln!(
        w,
        "One proxy (`--cores {}`) and {} targets, every node its own `aisnode` process on 127.0.0.1 (ports from {}), each target with `--cores {cores}`, `--no-fsync` and two mountpaths (directories on the work directory's file system, so every target shares the one disk). {why_cores} Rebalance workers per target: {workers}; no `--rebalance-max-rate`.\n",
        crate::rebalance::PROXY_CORES,
        crate::rebalance::TARGETS_BEFORE,
        cfg.rebalance_port_base,
    );
    let _ = writeln!(
        w,
        "Per object size: fio sequential write and read at the object size (O_DIRECT, iodepth {}, {} s after {} s ramp) on the same file system right before; the cluster is filled through aisloader (PUT only, 16 workers) with the bytes below; page cache dropped; then the foreground, an aisloader open loop at a fixed rate ({}% PUT, the rest GETs of random listed objects; {} s worth of requests in workers (rate × {}), and latency counts from each request's intended start, so a slow request that makes the next wait for a worker is still charged in full), runs {} s undisturbed (**before**). Then the same foreground starts again and, as soon as it has listed the bucket, a fourth target is started; it joins, and every target moves what HRW now places on it. The harness polls `GET /v1/cluster?what=jobs` every {} ms and stops the foreground (SIGINT to `aisloader -stoppable`, which still writes its summary) when every target's rebalance job for the new Smap has finished, so **during** covers the join (about a second) and the rebalance. Moved bytes and objects are the sum over the targets' jobs; the duration is first job start to last job end (the targets' own clocks).\n",
        cfg.workers,
        cfg.fio_runtime_s,
        cfg.fio_ramp_s,
        cfg.rebalance_pct_put,
        cfg.rebalance_fg_lookahead_s,
        cfg.rebalance_fg_lookahead_s,
        cfg.rebalance_baseline_s,
        crate::rebalance::JOBS_POLL_MS
    );
    if !res.rebalance.is_empty() {
        let _ = writeln!(w, "| size | filled (objects, MiB) | moved objects | moved MiB | duration s | MiB/s | objects/s | fio write MiB/s | fio read MiB/s | move ceiling MiB/s | / ceiling | job errors | aborted jobs | join s | foreground rate |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for r in &res.rebalance {
            let fio = rebalance_fio(res, r.size);
            let ceiling = match fio {
                (Some(rd), Some(wr)) => Some(move_ceiling(rd, wr)),
                _ => None,
            };
            let bps = r.mib_s() * MIB as f64;
            let _ = writeln!(
                w,
                "| {} | {}, {} | {} | {} | {:.2} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {:.2} | {:.0}/s |",
                size_label(r.size),
                r.fill_objects,
                r.fill_bytes >> 20,
                r.objects,
                r.bytes >> 20,
                r.duration_s,
                mib(bps),
                r.objects_s(),
                fio.1.map_or("–".into(), mib),
                fio.0.map_or("–".into(), mib),
                ceiling.map_or("–".into(), mib),
                fmt_ratio(ratio(Some(bps), ceiling)),
                r.errors,
                r.aborted_jobs,
                r.join_s,
                r.rate
            );
        }
        let _ = writeln!(w, "\nCPU and disk over the **during** window (join + rebalance, with the foreground running); \"everything else\" is other users of this shared machine and kernel threads:\n");
        let _ = writeln!(w, "| size | window s | rebalance share of it | aisnode cores (all 5 processes) | busiest aisnode thread | aisnode run-queue wait s/s | aisloader cores | machine busy (of {ncpu}) | disk read MiB/s | disk write MiB/s |\n|---|---|---|---|---|---|---|---|---|---|");
        for r in &res.rebalance {
            let _ = writeln!(
                w,
                "| {} | {:.1} | {:.0}% | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |",
                size_label(r.size),
                r.fg_window_s,
                100.0 * (r.duration_s / r.fg_window_s.max(1e-9)).min(1.0),
                r.aisnode_cores,
                r.aisnode_max_thread_cores,
                r.aisnode_runq_wait_s_per_s,
                r.loader_cores,
                r.machine_cores,
                mib(r.disk_read_mib_s * MIB as f64),
                mib(r.disk_write_mib_s * MIB as f64)
            );
        }
        let _ = writeln!(w, "\nPer target (the new target has nothing to send; \"jobs\" counts its rebalance jobs for the new Smap):\n");
        let _ = writeln!(w, "| size | target | jobs (Smap versions) | objects sent | MiB sent | job s | errors | aborted |\n|---|---|---|---|---|---|---|---|");
        for r in &res.rebalance {
            for t in &r.per_target {
                let _ = writeln!(
                    w,
                    "| {} | {} | {} ({}) | {} | {} | {:.2} | {} | {} |",
                    size_label(r.size),
                    if t.node == r.new_target {
                        format!("{} (joined)", t.node)
                    } else {
                        t.node.clone()
                    },
                    t.jobs,
                    t.smap_versions
                        .iter()
                        .map(|v| format!("v{v}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    t.objects,
                    t.bytes >> 20,
                    t.duration_s,
                    t.errors,
                    t.aborted
                );
            }
        }
        let _ = writeln!(w, "\nForeground, open loop, before and during the rebalance (failed requests by kind in the last column). A percentile rests on the requests counted: with fewer than 1000, p99.9 is about the maximum:\n");
        let _ = writeln!(w, "| size | op | phase | requests | ops/s | p50 ms | p99 ms | p99.9 ms | max ms | p99 before / during | aisnode cores | aisnode run-queue wait s/s | machine busy | failed |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for r in &res.rebalance {
            for op in ["get", "put"] {
                let b = rebalance_fg(res, "before", op, r.size);
                for phase in ["before", "during"] {
                    if let Some(s) = rebalance_fg(res, phase, op, r.size) {
                        let errs = if phase == "before" {
                            &r.fg_errors_before
                        } else {
                            &r.fg_errors_during
                        };
                        let prefix = format!("{} ", op_label(op));
                        let mine: Vec<String> = errs
                            .iter()
                            .filter_map(|(k, n)| {
                                k.strip_prefix(&prefix).map(|kind| format!("{kind}: {n}"))
                            })
                            .collect();
                        let failed = if mine.is_empty() {
                            "0".to_owned()
                        } else {
                            mine.join(", ")
                        };
                        let rr = if phase == "during" {
                            fmt_ratio(ratio(b.map(|x| x.p99_us), Some(s.p99_us)))
                        } else {
                            "–".into()
                        };
                        let _ = writeln!(
                            w,
                            "| {} | {} | {phase} | {} | {:.0} | {} | {} | {} | {} | {rr} | {:.2} | {:.2} | {:.2} | {failed} |",
                            size_label(r.size),
                            op_label(op),
                            s.ops,
                            s.ops_per_s,
                            ms(s.p50_us),
                            ms(s.p99_us),
                            ms(s.p999_us),
                            ms(s.max_us),
                            s.server_cores(),
                            s.server_runq_wait_per_s(),
                            s.machine_cores()
                        );
                    }
                }
            }
        }
        let _ = writeln!(w);
        let mut groups = Vec::new();
        let mut before = Vec::new();
        let mut during = Vec::new();
        for r in &res.rebalance {
            for (k, name) in [(0, "p50"), (1, "p99"), (2, "p99.9")] {
                groups.push(format!("GET {} {name}", size_label(r.size)));
                let pick = |s: &Sample| [s.p50_us, s.p99_us, s.p999_us][k] / 1e3;
                before.push(rebalance_fg(res, "before", "get", r.size).map(pick));
                during.push(rebalance_fg(res, "during", "get", r.size).map(pick));
            }
        }
        plot::bars(
            &assets.join("rebalance-latency.svg"),
            "Foreground GET latency before and during the rebalance",
            &groups,
            "ms (log)",
            true,
            &[
                Series {
                    name: "before".into(),
                    values: before,
                    dashed: false,
                    color: Some(0),
                },
                Series {
                    name: "during rebalance".into(),
                    values: during,
                    dashed: false,
                    color: Some(3),
                },
            ],
            None,
        )?;
        let _ = writeln!(w, "![rebalance latency]({stem}/rebalance-latency.svg)\n");
        let quotes: Vec<String> = res
            .rebalance
            .iter()
            .flat_map(|r| {
                let head = format!(
                    "{}: {} WARN and {} ERROR line(s) in the node logs",
                    size_label(r.size),
                    r.log_warnings,
                    r.log_errors
                );
                std::iter::once(head).chain(r.log_quotes.iter().map(|q| format!("  `{q}`")))
            })
            .collect();
        let _ = writeln!(w, "aisnode's logs after each run:\n");
        for q in quotes {
            let _ = writeln!(w, "- {q}");
        }
        let _ = writeln!(w);
    }
    rebalance_sweep_table(cfg, res, w);
    let notes: Vec<&String> = res
        .notes
        .iter()
        .filter(|(s, _)| s == "rebalance")
        .map(|(_, n)| n)
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(w, "What the harness saw aisnode do (and did about it):\n");
        for n in notes {
            let _ = writeln!(w, "- {n}");
        }
        let _ = writeln!(w);
    }
    Ok(())
}

/// What the report says of an ext4 journal ("jbd2", "none", or unknown).
fn journal_remark(journal: &str) -> &'static str {
    match journal {
        "jbd2" => ", with a journal",
        "none" => {
            ", **without a journal**: ext4 then skips every free inode freed in the last minute \
             (six if its inode table block is still dirty), reading its table entry to find out, \
             so after many deletes creating a file costs far more CPU, and PUT rows and fio's \
             new-file rows meet that at different moments (perf/micro/README.md, `put4k.sh`)"
        }
        _ => "",
    }
}

/// The linearity of the whole-run figures (drain included), "GET N=2 0.97, ..." for the
/// report's note.
fn whole_run_linearity(res: &Results, cfg: &Config) -> String {
    let whole = |op: &str, n: usize| {
        res.find("scaling", "aisnode", op, cfg.scaling_size, n)
            .and_then(|r| r.median())
            .map(|s| s.whole_run_bytes_per_s.unwrap_or(s.bytes_per_s))
    };
    let mut v = Vec::new();
    for op in ["get", "put"] {
        for &n in cfg.scaling_ns.iter().filter(|&&n| n > 1) {
            if let Some(r) = ratio(whole(op, n), whole(op, 1).map(|t| t * n as f64)) {
                v.push(format!("{} N={n} {r:.2}", op.to_uppercase()));
            }
        }
    }
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}
