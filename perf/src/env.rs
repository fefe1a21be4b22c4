//! The environment a report was measured in (commit, kernel, CPU, memory, file system and block
//! device of the work directory, tool versions) and block-device counters for one path.

use crate::proc::quick;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    pub date: String,
    pub commit: String,
    pub commit_short: String,
    pub dirty_files: usize,
    pub kernel: String,
    pub cpu_model: String,
    pub cpus: usize,
    pub mem_gib: f64,
    pub work_dir: String,
    pub fs_type: String,
    pub fs_source: String,
    pub mount_options: String,
    /// ext4's journal: "jbd2", "none", or empty (not ext4, or not readable).
    pub fs_journal: String,
    pub block_device: String,
    pub scheduler: String,
    pub rotational: String,
    pub cgroup_blkio: String,
    pub versions: Vec<(String, String)>,
    pub load_before: String,
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_owned()
}

fn version(program: &str, args: &[&str]) -> String {
    match Command::new(program).args(args).output() {
        Ok(o) => {
            let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            first_line(&s)
        }
        Err(_) => "not installed".to_owned(),
    }
}

/// Find the mount holding `path`: (mount point, fs type, source, options).
pub fn mount_of(path: &Path) -> (String, String, String, String) {
    let canon = path.canonicalize().unwrap_or_else(|_| path.to_owned());
    let canon = canon.to_string_lossy().into_owned();
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut best = (String::new(), String::new(), String::new(), String::new());
    for l in info.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let Some(sep) = f.iter().position(|x| *x == "-") else {
            continue;
        };
        if f.len() < sep + 3 || f.len() < 6 {
            continue;
        }
        let mp = f[4];
        let under = canon == mp || mp == "/" || canon.starts_with(&format!("{mp}/"));
        if under && mp.len() >= best.0.len() {
            best = (
                mp.to_owned(),
                f[sep + 1].to_owned(),
                f[sep + 2].to_owned(),
                f[5].to_owned(),
            );
        }
    }
    best
}

/// The journal of an ext4 file system on block device `name`, from its `journal_task` in
/// sysfs (`<none>` without a journal): "jbd2", "none", or empty when not ext4 or unreadable.
fn ext4_journal(fs_type: &str, name: &str) -> String {
    if fs_type != "ext4" {
        return String::new();
    }
    let task = std::fs::read_to_string(format!("/sys/fs/ext4/{name}/journal_task"));
    journal_of_task(task.as_deref().ok())
}

fn journal_of_task(task: Option<&str>) -> String {
    match task.map(str::trim) {
        None | Some("") => String::new(),
        Some("<none>") => "none".to_owned(),
        Some(_) => "jbd2".to_owned(),
    }
}

/// major:minor of the device holding `path`.
pub fn dev_of(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(path).ok()?.dev();
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    Some((major, minor))
}

/// Kernel name of a block device (`vda`, `loop3`), and its whole-disk parent for partitions.
pub fn block_name(major: u64, minor: u64) -> Option<(String, String)> {
    let link = std::fs::read_link(format!("/sys/dev/block/{major}:{minor}")).ok()?;
    let name = link.file_name()?.to_string_lossy().into_owned();
    let parent = link
        .parent()
        .and_then(|p| p.file_name())
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| Path::new("/sys/block").join(p).exists())
        .unwrap_or_else(|| name.clone());
    Some((name, parent))
}

/// Bytes read and written so far by one block device (from /proc/diskstats).
#[derive(Debug, Clone)]
pub struct DiskCounter {
    pub major: u64,
    pub minor: u64,
}

impl DiskCounter {
    pub fn for_path(path: &Path) -> Option<DiskCounter> {
        let (major, minor) = dev_of(path)?;
        Some(DiskCounter { major, minor })
    }

    /// (bytes read, bytes written).
    pub fn read(&self) -> (u64, u64) {
        let s = std::fs::read_to_string("/proc/diskstats").unwrap_or_default();
        for l in s.lines() {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() > 9
                && f[0].parse::<u64>().ok() == Some(self.major)
                && f[1].parse::<u64>().ok() == Some(self.minor)
            {
                let sr: u64 = f[5].parse().unwrap_or(0);
                let sw: u64 = f[9].parse().unwrap_or(0);
                return (sr * 512, sw * 512);
            }
        }
        (0, 0)
    }
}

pub fn capture(work: &Path, bin: &Path, repo: &Path) -> Environment {
    let git = |args: &[&str]| {
        let mut a = vec!["-C", repo.to_str().unwrap_or(".")];
        a.extend_from_slice(args);
        quick("git", &a).unwrap_or_else(|_| "unknown".to_owned())
    };
    let dirty_files = git(&["status", "--porcelain"])
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    let mem_kib: f64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let (mp, fs_type, fs_source, opts) = mount_of(work);
    let (block_device, scheduler, rotational) =
        match dev_of(work).and_then(|(a, b)| block_name(a, b)) {
            Some((name, disk)) => {
                let q = PathBuf::from("/sys/block").join(&disk).join("queue");
                let rd = |f: &str| {
                    std::fs::read_to_string(q.join(f))
                        .map(|s| s.trim().to_owned())
                        .unwrap_or_default()
                };
                (name, rd("scheduler"), rd("rotational"))
            }
            None => ("unknown".into(), String::new(), String::new()),
        };
    let fs_journal = ext4_journal(&fs_type, &block_device);
    let cgroup_blkio = if Path::new("/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device").exists()
    {
        "cgroup v1 blkio throttle available".to_owned()
    } else {
        "cgroup v1 blkio throttle not mounted".to_owned()
    };
    let tool = |p: &str| bin.join(p).to_string_lossy().into_owned();
    let versions = vec![
        (
            "aisnode".to_owned(),
            version(&tool("aisnode"), &["--version"]),
        ),
        (
            "aisloader".to_owned(),
            version(&tool("aisloader"), &["-version"]),
        ),
        ("fio".to_owned(), version("fio", &["--version"])),
        ("s3s-fs".to_owned(), version("s3s-fs", &["--version"])),
        ("garage".to_owned(), version("garage", &["--version"])),
        ("rclone".to_owned(), version("rclone", &["version"])),
        ("nginx".to_owned(), version("nginx", &["-v"])),
        ("rustc".to_owned(), version("rustc", &["--version"])),
    ];
    Environment {
        date: quick("date", &["+%Y-%m-%d %H:%M:%S %Z"]).unwrap_or_default(),
        commit: git(&["rev-parse", "HEAD"]),
        commit_short: git(&["rev-parse", "--short", "HEAD"]),
        dirty_files,
        kernel: quick("uname", &["-sr"]).unwrap_or_default(),
        cpu_model,
        cpus: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        mem_gib: mem_kib / (1024.0 * 1024.0),
        work_dir: format!("{} (mounted at {mp})", work.display()),
        fs_type,
        fs_source,
        mount_options: opts,
        fs_journal,
        block_device,
        scheduler,
        rotational,
        cgroup_blkio,
        versions,
        load_before: std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ext4_journal_from_its_task() {
        assert_eq!(journal_of_task(Some("<none>\n")), "none");
        assert_eq!(journal_of_task(Some("20240\n")), "jbd2");
        assert_eq!(journal_of_task(Some("")), "");
        assert_eq!(journal_of_task(None), "");
        assert_eq!(ext4_journal("xfs", "vda"), "");
    }
}
