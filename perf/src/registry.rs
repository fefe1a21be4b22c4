//! What the harness created outside its own process (child processes, loop devices, mounts,
//! cgroups), recorded in `<work>/resources.json` as each is made, so that teardown happens
//! even when the harness dies: guards undo their resource on drop, `perf cleanup` (also run by
//! `perf/run.sh` on EXIT) and the start of every `perf run` undo whatever the file still lists.
//!
//! Invariants: an entry is written before the harness relies on the resource and removed only
//! after it is gone; processes are identified by PID *and* start time, so a recycled PID is
//! never signalled. Nothing is ever matched by name.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a process gets between SIGTERM and SIGKILL.
pub const TERM_GRACE_MS: u64 = 5_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Resource {
    /// A child process (and its own process group, which we created).
    Process {
        pid: i32,
        start_ticks: u64,
        what: String,
    },
    /// A file system we mounted.
    Mount { dir: PathBuf },
    /// A loop device we attached.
    Loop { dev: PathBuf },
    /// A cgroup directory we created.
    Cgroup { dir: PathBuf },
}

static REGISTRY: Mutex<Option<PathBuf>> = Mutex::new(None);

fn load(file: &Path) -> Vec<Resource> {
    std::fs::read(file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn store(file: &Path, items: &[Resource]) -> Result<()> {
    let tmp = file.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(items)?)
        .with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, file).with_context(|| format!("rename to {}", file.display()))?;
    Ok(())
}

/// Point the registry at `<work>/resources.json`.
pub fn open(work: &Path) -> Result<()> {
    std::fs::create_dir_all(work).with_context(|| format!("create {}", work.display()))?;
    *REGISTRY
        .lock()
        .expect("registry lock is never poisoned (panic=abort)") =
        Some(work.join("resources.json"));
    Ok(())
}

fn file() -> Option<PathBuf> {
    REGISTRY
        .lock()
        .expect("registry lock is never poisoned (panic=abort)")
        .clone()
}

pub fn add(r: Resource) {
    if let Some(f) = file() {
        let mut items = load(&f);
        items.push(r);
        if let Err(e) = store(&f, &items) {
            eprintln!("perf: cannot record resource ({e:#}); `perf cleanup` will not know it");
        }
    }
}

pub fn remove(r: &Resource) {
    if let Some(f) = file() {
        let mut items = load(&f);
        items.retain(|x| x != r);
        let _ = store(&f, &items);
    }
}

/// Start time of `pid` in clock ticks since boot (field 22 of /proc/PID/stat).
pub fn start_ticks(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn alive(pid: i32, start: u64) -> bool {
    start_ticks(pid) == Some(start) && !is_zombie(pid)
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let i = s.rfind(')')?;
            s[i + 2..].chars().next()
        })
        .is_none_or(|c| c == 'Z' || c == 'X')
}

/// kill(2), result ignored. Callers make sure `pid` is the process they mean: an unreaped
/// child, or one whose start time they just checked.
#[allow(unsafe_code)]
pub fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) takes two integers and touches no memory of ours; a stale PID only
    // yields ESRCH (memory safety never depends on which process receives the signal).
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Running as root (effective UID 0)?
#[allow(unsafe_code)]
pub fn is_root() -> bool {
    // SAFETY: geteuid(2) takes no arguments, touches no memory of ours and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// SIGTERM, wait up to TERM_GRACE_MS, then SIGKILL; only if PID and start time still match.
pub fn terminate(pid: i32, start: u64) {
    if !alive(pid, start) {
        return;
    }
    signal(pid, libc::SIGTERM);
    let deadline = Instant::now() + Duration::from_millis(TERM_GRACE_MS);
    while Instant::now() < deadline {
        if !alive(pid, start) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if alive(pid, start) {
        signal(pid, libc::SIGKILL);
    }
}

/// Undo one resource, best effort; returns what went wrong.
pub fn undo(r: &Resource) -> Option<String> {
    match r {
        Resource::Process {
            pid, start_ticks, ..
        } => {
            terminate(*pid, *start_ticks);
            None
        }
        Resource::Mount { dir } => {
            if !is_mounted(dir) {
                return None;
            }
            let ok = std::process::Command::new("umount")
                .arg(dir)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok
                || std::process::Command::new("umount")
                    .arg("-l")
                    .arg(dir)
                    .status()
                    .is_ok_and(|s| s.success())
            {
                None
            } else {
                Some(format!("umount {} failed", dir.display()))
            }
        }
        Resource::Loop { dev } => {
            let ok = std::process::Command::new("losetup")
                .arg("-d")
                .arg(dev)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            (!ok && dev.exists() && loop_attached(dev))
                .then(|| format!("losetup -d {} failed", dev.display()))
        }
        Resource::Cgroup { dir } => {
            if !dir.exists() {
                return None;
            }
            // Move anything left back to the root group of the hierarchy, then remove.
            if let (Some(root), Ok(procs)) = (
                dir.parent(),
                std::fs::read_to_string(dir.join("cgroup.procs")),
            ) {
                for pid in procs.split_whitespace() {
                    let _ = std::fs::write(root.join("cgroup.procs"), pid);
                }
            }
            for _ in 0..50 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Some(format!("rmdir {} failed", dir.display()))
        }
    }
}

fn loop_attached(dev: &Path) -> bool {
    let name = dev
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Path::new("/sys/block")
        .join(&name)
        .join("loop/backing_file")
        .exists()
}

pub fn is_mounted(dir: &Path) -> bool {
    let Ok(canon) = dir.canonicalize() else {
        return false;
    };
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|m| {
            m.lines()
                .any(|l| l.split_whitespace().nth(4) == Some(canon.to_string_lossy().as_ref()))
        })
        .unwrap_or(false)
}

/// Undo everything still recorded, newest first (processes before the mounts and loop devices
/// they use). Returns the failures.
pub fn teardown_all() -> Vec<String> {
    let Some(f) = file() else { return Vec::new() };
    let items = load(&f);
    let mut failures = Vec::new();
    // Processes first, then mounts, loop devices, cgroups: each kind in reverse creation order.
    let rank = |r: &Resource| match r {
        Resource::Process { .. } => 0,
        Resource::Mount { .. } => 1,
        Resource::Loop { .. } => 2,
        Resource::Cgroup { .. } => 3,
    };
    let mut ordered: Vec<&Resource> = items.iter().rev().collect();
    ordered.sort_by_key(|r| rank(r));
    for r in ordered {
        if let Some(e) = undo(r) {
            failures.push(e);
        } else {
            remove(r);
        }
    }
    failures
}
