//! Disk health (AIS's FSHC, docs/fshc.md): an I/O-class error on a mountpath (EIO, EROFS,
//! ENODEV, ...) starts a health check of that mountpath, at most one at a time and one per
//! [`FSHC_INTERVAL`]. The check looks at the mountpath root, writes, syncs, reads back and
//! removes [`FSHC_TEST_FILES`] test files, and reads the head of a few stored objects; a root
//! that is gone or [`FSHC_ERROR_LIMIT`] failed probes disable the mountpath at once (no data
//! is moved off a failing disk). The resilver that follows re-places objects on the remaining
//! mountpaths and re-protects mirrored buckets from their copies (crate::mirror). The event
//! is logged and listed in the node's stats (`fshc.faults`); the mountpath shows as disabled
//! in `what=mountpaths` until an operator enables it again.

use crate::daemon::Node;
use crate::mountpaths::Action;
use engine::mountpath::Mountpath;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

/// Least time between two checks of one mountpath.
pub const FSHC_INTERVAL: Duration = Duration::from_secs(30);
/// Test files written and read per check.
pub const FSHC_TEST_FILES: usize = 4;
/// Failed probes (of test files and object reads) that fail a mountpath.
pub const FSHC_ERROR_LIMIT: usize = 2;
/// Size of one test file.
const TEST_FILE_BYTES: usize = 1 << 20;

/// The node whose mountpaths are checked (one node per process).
static NODE: OnceLock<Weak<Node>> = OnceLock::new();
/// Mountpath → when its last check started (also: one check at a time).
static LAST: Mutex<Option<HashMap<String, Instant>>> = Mutex::new(None);
/// Mountpaths disabled by the checker: (path, reason, time in ns).
static FAULTS: Mutex<Vec<(String, String, i64)>> = Mutex::new(Vec::new());
static CHECKS: AtomicU64 = AtomicU64::new(0);

/// Check the mountpaths of `node` when I/O errors are reported.
pub fn register(node: &Arc<Node>) {
    let _ = NODE.set(Arc::downgrade(node));
}

/// Errors that say the disk or its file system is failing (not a missing file, not a full
/// disk: those are answered to the client and change nothing here).
pub fn is_io_fault(e: &std::io::Error) -> bool {
    use rustix::io::Errno;
    // glommio wraps OS errors and may keep only the kind, or only the text, of the code.
    let code = e.raw_os_error().or_else(|| {
        let s = e.to_string();
        let i = s.find("(os error ")? + "(os error ".len();
        s[i..].split(')').next()?.parse().ok()
    });
    match code {
        Some(c) => matches!(
            Errno::from_raw_os_error(c),
            Errno::IO
                | Errno::NXIO
                | Errno::BADF
                | Errno::NODEV
                | Errno::ROFS
                | Errno::STALE
                | Errno::UCLEAN
        ),
        None => matches!(
            e.kind(),
            std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::StaleNetworkFileHandle
        ),
    }
}

/// An engine error from the data path: a check of its mountpath if it is an I/O fault.
/// Must be called on a glommio executor (the check runs on its blocking thread).
pub fn report(e: &engine::Error) {
    if let engine::Error::Io { path, source, .. } = e {
        report_path(path, source);
    }
}

/// An I/O error on `path` (an object or work file): a check of the mountpath holding it, if
/// the error is an I/O fault and no check of it ran recently.
pub fn report_path(path: &Path, e: &std::io::Error) {
    if !is_io_fault(e) {
        return;
    }
    let Some(node) = NODE.get().and_then(Weak::upgrade) else {
        return;
    };
    let set = node.mountpaths.load();
    let Some(mp) = set
        .avail
        .iter()
        .find(|m| path.starts_with(&m.path))
        .cloned()
    else {
        return;
    };
    {
        let mut last = LAST.lock().expect("fshc lock");
        let last = last.get_or_insert_with(HashMap::new);
        if last
            .get(&mp.path_str)
            .is_some_and(|t| t.elapsed() < FSHC_INTERVAL)
        {
            return;
        }
        last.insert(mp.path_str.clone(), Instant::now());
    }
    tracing::warn!(mountpath = %mp.path_str, path = %path.display(), error = %e, "I/O error: checking the mountpath's health");
    glommio::spawn_local(async move {
        CHECKS.fetch_add(1, Ordering::Relaxed);
        let m2 = mp.clone();
        let verdict = glommio::executor().spawn_blocking(move || check(&m2)).await;
        match verdict {
            Ok(()) => {
                tracing::info!(mountpath = %mp.path_str, "mountpath health check passed");
            }
            Err(reason) => fault(&node, &mp.path_str, &reason).await,
        }
    })
    .detach();
}

/// Disable a failing mountpath now (no resilver reads from it) and start the resilver that
/// re-places and re-protects its objects elsewhere.
pub async fn fault(node: &Arc<Node>, path: &str, reason: &str) {
    tracing::error!(
        mountpath = path,
        reason,
        "mountpath failed its health check: disabled"
    );
    FAULTS.lock().expect("fshc lock").push((
        path.to_string(),
        reason.to_string(),
        net::time::now_unix_ns(),
    ));
    match crate::mountpaths::change(node, Action::Fault, path, false).await {
        Ok(job) => {
            tracing::warn!(mountpath = path, resilver = ?job, "failed mountpath disabled");
        }
        Err(e) => {
            tracing::error!(mountpath = path, error = %e, "could not disable the failed mountpath");
        }
    }
}

/// The checker's counters and the mountpaths it disabled (`what=node_status`).
pub fn stats_json() -> serde_json::Value {
    let faults: Vec<serde_json::Value> = FAULTS
        .lock()
        .expect("fshc lock")
        .iter()
        .map(|(p, r, t)| serde_json::json!({"mountpath": p, "reason": r, "time_ns": t}))
        .collect();
    serde_json::json!({"fshc.checks": CHECKS.load(Ordering::Relaxed), "fshc.faults": faults})
}

/// The health check (blocking): `Err(reason)` when the mountpath should be disabled.
pub fn check(mp: &Mountpath) -> Result<(), String> {
    // 1. The root: it must still be the directory we were given (a wiped or unmounted disk
    // fails here), readable.
    let md = std::fs::metadata(&mp.path).map_err(|e| format!("stat {}: {e}", mp.path_str))?;
    use std::os::unix::fs::MetadataExt;
    if !md.is_dir() || md.dev() != mp.dev {
        return Err(format!(
            "{} is no longer the mountpath's file system (device {} became {})",
            mp.path_str,
            mp.dev,
            md.dev()
        ));
    }
    std::fs::read_dir(&mp.path).map_err(|e| format!("readdir {}: {e}", mp.path_str))?;
    let mut errors = Vec::new();
    // 2. Write, sync, read back and remove test files.
    let dir = mp.path.join(engine::layout::MARKERS_DIR);
    for i in 0..FSHC_TEST_FILES {
        let p = dir.join(format!("fshc-{}-{i}", std::process::id()));
        let want: Vec<u8> = (0..TEST_FILE_BYTES).map(|k| (k * 31 + i) as u8).collect();
        let r = (|| -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            let mut f = std::fs::File::create(&p)?;
            f.write_all(&want)?;
            f.sync_all()?;
            drop(f);
            let mut got = Vec::with_capacity(TEST_FILE_BYTES);
            std::fs::File::open(&p)?.read_to_end(&mut got)?;
            if got != want {
                return Err(std::io::Error::other("read back different bytes"));
            }
            Ok(())
        })();
        let _ = std::fs::remove_file(&p);
        if let Err(e) = r {
            errors.push(format!("test file {}: {e}", p.display()));
        }
    }
    // 3. Read the head of a few stored objects.
    for p in sample_objects(&mp.path, FSHC_TEST_FILES) {
        let mut buf = vec![0u8; 64 * 1024];
        if let Err(e) = std::fs::File::open(&p).and_then(|mut f| f.read(&mut buf)) {
            errors.push(format!("reading {}: {e}", p.display()));
        }
    }
    if errors.len() >= FSHC_ERROR_LIMIT {
        return Err(format!(
            "{} of the health probes failed: {}",
            errors.len(),
            errors.join("; ")
        ));
    }
    if !errors.is_empty() {
        tracing::warn!(mountpath = %mp.path_str, errors = ?errors, "mountpath health check: an error below the limit");
    }
    Ok(())
}

/// Up to `n` object files under the mountpath (the first ones a walk finds).
fn sample_objects(root: &Path, n: usize) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(t) = e.file_type() else { continue };
            let name = e.file_name();
            let name = name.to_string_lossy();
            if t.is_dir() {
                if name != engine::layout::MARKERS_DIR
                    && name != engine::layout::TRASH_DIR
                    && name != engine::layout::CT_WORK
                {
                    stack.push(e.path());
                }
            } else if t.is_file()
                && d.components()
                    .any(|c| c.as_os_str() == engine::layout::CT_OBJECT)
            {
                out.push(e.path());
                if out.len() >= n {
                    return out;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_faults_by_code_kind_or_text() {
        let code = |c| std::io::Error::from_raw_os_error(c);
        assert!(is_io_fault(&code(5)) && is_io_fault(&code(30)) && is_io_fault(&code(19)));
        assert!(!is_io_fault(&code(2)) && !is_io_fault(&code(28)) && !is_io_fault(&code(13)));
        let wrapped =
            std::io::Error::other("create failed: Read-only file system (os error 30), op: x");
        assert!(is_io_fault(&wrapped));
        let enoent = std::io::Error::other("No such file or directory (os error 2)");
        assert!(!is_io_fault(&enoent));
        assert!(is_io_fault(&std::io::Error::from(
            std::io::ErrorKind::ReadOnlyFilesystem
        )));
    }
}
