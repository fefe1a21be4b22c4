//! Section 3: linear per-disk scaling. N simulated disks, each a loop device (direct I/O to a
//! sparse image on the disk under test) with its own ext4, all throttled to the same rate by
//! the cgroup v1 blkio controller; aisnode runs inside the group with one mountpath per disk.
//! T(N) / (N x T(1)) shows whether adding a disk adds its full rate.
//!
//! The loop devices, mounts and the group are guards: dropped on every exit path, recorded in
//! the registry for `perf cleanup` if the harness itself dies. Nothing here is faked: when the
//! throttle cannot be set up, the section is skipped and the report says why.

use crate::config::Config;
use crate::env::{dev_of, DiskCounter};
use crate::measure::{self, Endpoint, FioJob, Load, Row, MIB};
use crate::node::{Node, NodeSpec};
use crate::proc::{self, have, quick};
use crate::registry::{self, Resource};
use crate::results::Results;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;

const BLKIO: &str = "/sys/fs/cgroup/blkio";

struct LoopDisk {
    image: PathBuf,
    dev: PathBuf,
    mnt: PathBuf,
    major: u64,
    minor: u64,
    loop_res: Resource,
    mount_res: Option<Resource>,
}

/// All simulated disks; torn down on drop (unmount, detach, delete image).
struct LoopDisks {
    disks: Vec<LoopDisk>,
}

impl LoopDisks {
    fn create(cfg: &Config, n: usize) -> Result<LoopDisks> {
        let dir = cfg.work.join("scale");
        std::fs::create_dir_all(&dir)?;
        let mut all = LoopDisks { disks: Vec::new() };
        for k in 0..n {
            let image = dir.join(format!("disk{k}.img"));
            let f = std::fs::File::create(&image)
                .with_context(|| format!("create {}", image.display()))?;
            f.set_len(cfg.loop_image_bytes)?;
            drop(f);
            let dev = PathBuf::from(quick(
                "losetup",
                &[
                    "--find",
                    "--show",
                    "--direct-io=on",
                    image.to_str().context("image path is UTF-8")?,
                ],
            )?);
            let loop_res = Resource::Loop { dev: dev.clone() };
            registry::add(loop_res.clone());
            let mnt = dir.join(format!("mnt{k}"));
            // Owned by the guard from here on, so a failure below still detaches it.
            all.disks.push(LoopDisk {
                image,
                dev: dev.clone(),
                mnt: mnt.clone(),
                major: 0,
                minor: 0,
                loop_res,
                mount_res: None,
            });
            let devs = dev.to_str().context("device path is UTF-8")?;
            quick(
                "mkfs.ext4",
                &[
                    "-q",
                    "-F",
                    "-E",
                    "lazy_itable_init=0,lazy_journal_init=0",
                    devs,
                ],
            )?;
            std::fs::create_dir_all(&mnt)?;
            quick(
                "mount",
                &[devs, mnt.to_str().context("mount path is UTF-8")?],
            )?;
            let mount_res = Resource::Mount { dir: mnt.clone() };
            registry::add(mount_res.clone());
            let d = all.disks.last_mut().expect("pushed above");
            d.mount_res = Some(mount_res);
            (d.major, d.minor) = dev_of(&mnt).context("stat mount")?;
        }
        Ok(all)
    }
}

impl Drop for LoopDisks {
    fn drop(&mut self) {
        for d in self.disks.iter().rev() {
            if let Some(m) = &d.mount_res {
                match registry::undo(m) {
                    None => registry::remove(m),
                    Some(e) => {
                        eprintln!("perf [scaling]: {e} (left in the registry for `perf cleanup`)");
                    }
                }
            }
            match registry::undo(&d.loop_res) {
                None => registry::remove(&d.loop_res),
                Some(e) => {
                    eprintln!("perf [scaling]: {e} (left in the registry for `perf cleanup`)");
                }
            }
            let _ = std::fs::remove_file(&d.image);
            let _ = std::fs::remove_dir(&d.mnt);
        }
    }
}

/// A blkio cgroup we created; removed on drop (after its members are gone or moved out).
struct Cgroup {
    dir: PathBuf,
    res: Resource,
}

impl Cgroup {
    fn create(dir: PathBuf) -> Result<Cgroup> {
        std::fs::create_dir(&dir).with_context(|| format!("create cgroup {}", dir.display()))?;
        let res = Resource::Cgroup { dir: dir.clone() };
        registry::add(res.clone());
        Ok(Cgroup { dir, res })
    }

    fn procs(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    fn throttle(&self, major: u64, minor: u64, bps: u64) -> Result<()> {
        for f in [
            "blkio.throttle.read_bps_device",
            "blkio.throttle.write_bps_device",
        ] {
            std::fs::write(self.dir.join(f), format!("{major}:{minor} {bps}"))
                .with_context(|| format!("write {}/{f}", self.dir.display()))?;
        }
        Ok(())
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        match registry::undo(&self.res) {
            None => registry::remove(&self.res),
            Some(e) => eprintln!("perf [scaling]: {e} (left in the registry for `perf cleanup`)"),
        }
    }
}

/// Why the section cannot run here, if it cannot.
pub fn precondition() -> Option<String> {
    if !registry::is_root() {
        return Some("needs root (loop devices, mkfs, mount, cgroup blkio throttle)".into());
    }
    for p in ["losetup", "mkfs.ext4", "mount", "umount", "fio"] {
        if !have(p) {
            return Some(format!("`{p}` is not installed"));
        }
    }
    if !Path::new("/dev/loop-control").exists() {
        return Some(
            "no /dev/loop-control: loop devices unavailable (container without them?)".into(),
        );
    }
    None
}

/// Make sure the blkio hierarchy is mounted; mount it if possible.
fn blkio_ready(res: &mut Results) -> bool {
    let ctl = Path::new(BLKIO).join("blkio.throttle.read_bps_device");
    if ctl.exists() {
        return true;
    }
    let _ = std::fs::create_dir_all(BLKIO);
    let mounted = std::process::Command::new("mount")
        .args(["-t", "cgroup", "-o", "blkio", "none", BLKIO])
        .status()
        .is_ok_and(|s| s.success());
    if mounted && ctl.exists() {
        res.note(
            "scaling",
            format!("mounted the cgroup v1 blkio hierarchy at {BLKIO} (left mounted)"),
        );
        return true;
    }
    false
}

pub fn run(cfg: &Config, res: &mut Results) -> Result<()> {
    if let Some(why) = precondition() {
        res.note("scaling", format!("section skipped: {why}"));
        return Ok(());
    }
    if !blkio_ready(res) {
        res.note(
            "scaling",
            format!("section skipped: throttling is impossible here: no cgroup v1 blkio controller at {BLKIO} and mounting one failed (cgroup v2-only kernel?); no unthrottled numbers are reported in its place"),
        );
        return Ok(());
    }
    let max_n = cfg.scaling_ns.iter().copied().max().unwrap_or(1);
    let disks = LoopDisks::create(cfg, max_n)?;
    let cg = Cgroup::create(PathBuf::from(BLKIO).join(format!("ais-perf-{}", std::process::id())))?;
    for d in &disks.disks {
        cg.throttle(d.major, d.minor, cfg.disk_rate_bytes)?;
    }
    let rate_mib = cfg.disk_rate_bytes / MIB;
    let loop_names: Vec<String> = disks
        .disks
        .iter()
        .map(|d| d.dev.display().to_string())
        .collect();
    res.note(
        "scaling",
        format!(
            "{max_n} loop devices ({}) with --direct-io=on over sparse {} GiB images in {}, ext4 each, throttled to {rate_mib} MiB/s read and write per device in {}",
            loop_names.join(", "),
            cfg.loop_image_bytes >> 30,
            cfg.work.join("scale").display(),
            cg.dir.display()
        ),
    );
    let counters: Vec<DiskCounter> = disks
        .disks
        .iter()
        .map(|d| DiskCounter {
            major: d.major,
            minor: d.minor,
        })
        .collect();
    // The ceiling of the same N throttled disks, measured right before aisnode on them: fio
    // inside the group, one job per disk at the per-disk queue depth, files laid out (written)
    // beforehand outside the group so reads hit real blocks.
    let fio_files: Vec<PathBuf> = disks.disks.iter().map(|d| d.mnt.join("fio.dat")).collect();
    let fio_size = (cfg.disk_rate_bytes * 4).min(512 * MIB);
    for f in &fio_files {
        measure::fio_layout(cfg, f, fio_size)?;
    }
    for &n in &cfg.scaling_ns {
        for (rw, op) in [("write", "write"), ("randread", "read")] {
            let s = measure::fio(
                cfg,
                &FioJob {
                    files: &fio_files[..n],
                    file_size: fio_size,
                    rw,
                    bs: cfg.scaling_size,
                    iodepth: cfg.scaling_workers_per_disk,
                    runtime_s: cfg.fio_runtime_s,
                    ramp_s: cfg.fio_ramp_s,
                    cgroup_procs: Some(&cg.procs()),
                    new_files: None,
                },
                &counters[..n],
            )?;
            measure::progress("scaling", &format!("fio {rw} on {n} throttled disk(s)"), &s);
            let mut row = Row::new("scaling-fio", "fio", op, cfg.scaling_size, n);
            row.samples.push(s);
            res.rows.push(row);
        }
        let mountpaths: Vec<PathBuf> = disks.disks[..n].iter().map(|d| d.mnt.join("ais")).collect();
        let cores = res.env.as_ref().map_or(2, |e| e.cpus);
        let mut node = Node::start(
            cfg,
            NodeSpec {
                name: &format!("scale-n{n}"),
                mountpaths,
                cores,
                no_fsync: true,
                cgroup_procs: Some(&cg.procs()),
            },
        )?;
        res.server(&format!("aisnode (section 3, N={n})"), &node.server.command);
        let ep = Endpoint::Ais { port: node.port };
        let bucket = format!("scale-n{n}");
        for put in [true, false] {
            let op = if put { "put" } else { "get" };
            let before: Vec<(u64, u64)> = counters[..n].iter().map(DiskCounter::read).collect();
            let t0 = Instant::now();
            let s = measure::aisloader(
                cfg,
                &Load {
                    endpoint: &ep,
                    bucket: &bucket,
                    put,
                    size: cfg.scaling_size,
                    workers: cfg.scaling_workers_per_disk * n as u32,
                    duration_s: cfg.scaling_duration_s,
                    put_cap_bytes: 0,
                    direct: false,
                    ramp_s: cfg.scaling_ramp_s(),
                },
                &[&node.server],
                &counters[..n],
                &format!("scale-{op}-n{n}"),
            )?;
            let wall = t0.elapsed().as_secs_f64();
            let per_disk: Vec<f64> = counters[..n]
                .iter()
                .zip(&before)
                .map(|(c, b)| {
                    let a = c.read();
                    let bytes = if put { a.1 - b.1 } else { a.0 - b.0 };
                    bytes as f64 / wall / MIB as f64
                })
                .collect();
            measure::progress("scaling", &format!("{} N={n}", op.to_uppercase()), &s);
            node.server.check_running()?;
            res.per_disk_mib_s.push((n, op.into(), per_disk));
            let mut row = Row::new("scaling", "aisnode", op, cfg.scaling_size, n);
            row.samples.push(s);
            res.rows.push(row);
        }
        node.stop_and_wipe();
        proc::check_interrupted()?;
    }
    drop(cg);
    drop(disks);
    if registry::is_mounted(&cfg.work.join("scale/mnt0")) {
        bail!("scaling: mounts still present after teardown");
    }
    res.durability.push((
        "aisnode (section 3)".into(),
        "`--no-fsync` (throughput of the throttled data path; journal commits of ext4 are issued by jbd2, outside the group, and are not throttled)".into(),
    ));
    Ok(())
}
