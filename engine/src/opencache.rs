//! Per-core cache of open object files and their decoded metadata (AIS keeps an in-memory
//! LOM cache for the same reason): a GET of a cached object costs one `statx` and the data
//! read, instead of opening the file through glommio (an `openat` and a `statx` that io_uring
//! hands to its worker threads, plus `fstat`, `fcntl`, `statfs`), reading the xattr and
//! closing it again.
//!
//! The cache holds descriptors and metadata, never object bytes: every GET still reads the
//! data with O_DIRECT and verifies its checksum as configured.
//!
//! Validity. A hit is checked with one `statx` of the path against the cached inode number,
//! size, mtime and ctime:
//! - a new object renamed into place is a different inode (the cached descriptor pins the
//!   old inode, so its number cannot be reused meanwhile);
//! - a deleted object is ENOENT;
//! - a metadata change (xattr) or a data change in place moves ctime.
//!
//! The kernel stamps ctime from a coarse clock (one scheduler tick), so two changes within
//! one tick can leave ctime equal. An entry is therefore trusted without re-reading its xattr
//! only when its ctime lies [`settle_ns`] before the moment its metadata was last read (far
//! more than a tick, or two seconds on a file system that keeps whole seconds): any change
//! after that moment must stamp a later ctime. A younger entry re-reads the xattr through
//! its descriptor on every hit until it settles.
//!
//! Each executor thread that calls [`enable`] has its own cache (shard-nothing: no locks);
//! other threads bypass it. Entries unused between two [`sweep`]s are closed, so a deleted
//! object's space and a detached mountpath's file system are released soon; [`clear`] drops
//! everything at once.

use crate::lom::Lom;
use glommio::io::DmaFile;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// How long before the moment its metadata was read an entry's ctime must lie for the entry
/// to be trusted without re-reading the xattr (far above the kernel's clock tick).
pub const SETTLE_NS: i64 = 50_000_000;

/// How long before a moment a file's ctime must lie for any change after that moment to be
/// sure to stamp a later ctime: [`SETTLE_NS`], or two seconds when `ctime_ns` has no
/// sub-second part (a file system that keeps whole seconds, such as ext4 with 128-byte
/// inodes, stamps two changes within one second alike).
pub fn settle_ns(ctime_ns: i64) -> i64 {
    if ctime_ns % 1_000_000_000 == 0 {
        2_000_000_000
    } else {
        SETTLE_NS
    }
}

/// The inode state an entry was validated against.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

struct Entry {
    file: Rc<DmaFile>,
    lom: Lom,
    stamp: Stamp,
    /// Unix ns just before the stat that preceded the last xattr read.
    read_at_ns: i64,
    used: bool,
}

struct Cache {
    cap: usize,
    map: HashMap<PathBuf, Entry>,
    hits: u64,
    misses: u64,
}

thread_local! {
    static CACHE: RefCell<Option<Cache>> = const { RefCell::new(None) };
}

/// Counters of this thread's cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub hits: u64,
    pub misses: u64,
    pub entries: usize,
}

/// Turn the cache on for this thread, holding at most `cap` open files (0 turns it off).
pub fn enable(cap: usize) {
    CACHE.with(|c| {
        *c.borrow_mut() = (cap > 0).then(|| Cache {
            cap,
            map: HashMap::with_capacity(cap.min(1 << 16)),
            hits: 0,
            misses: 0,
        });
    });
}

/// This thread's counters (all zero when the cache is off).
pub fn stats() -> Stats {
    CACHE.with(|c| {
        c.borrow()
            .as_ref()
            .map(|c| Stats {
                hits: c.hits,
                misses: c.misses,
                entries: c.map.len(),
            })
            .unwrap_or_default()
    })
}

/// Drop every entry (descriptors are closed once no reader holds them).
pub fn clear() {
    CACHE.with(|c| {
        if let Some(c) = c.borrow_mut().as_mut() {
            c.map.clear();
        }
    });
}

/// Drop the entry of `path`, if any (the object was deleted or replaced by this thread).
pub fn forget(path: &Path) {
    CACHE.with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            if let Some(c) = c.as_mut() {
                c.map.remove(path);
            }
        }
    });
}

/// Close the entries not used since the previous sweep.
pub fn sweep() {
    CACHE.with(|c| {
        if let Some(c) = c.borrow_mut().as_mut() {
            c.map.retain(|_, e| std::mem::replace(&mut e.used, false));
        }
    });
}

pub(crate) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

fn ts_ns(t: rustix::fs::StatxTimestamp) -> i64 {
    t.tv_sec * 1_000_000_000 + i64::from(t.tv_nsec)
}

/// The stamp and atime of `path` (not following a final symlink), or why not.
pub(crate) fn stamp_path(path: &Path) -> rustix::io::Result<(Stamp, i64)> {
    use rustix::fs::{AtFlags, StatxFlags, CWD};
    let st = rustix::fs::statx(
        CWD,
        path,
        AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::TYPE | StatxFlags::INO | StatxFlags::SIZE | StatxFlags::BASIC_STATS,
    )?;
    if u32::from(st.stx_mode) & libc_s_ifmt() != libc_s_ifreg() {
        return Err(rustix::io::Errno::ISDIR);
    }
    Ok((
        Stamp {
            ino: st.stx_ino,
            size: st.stx_size,
            mtime_ns: ts_ns(st.stx_mtime),
            ctime_ns: ts_ns(st.stx_ctime),
        },
        ts_ns(st.stx_atime),
    ))
}

const fn libc_s_ifmt() -> u32 {
    0o170000
}
const fn libc_s_ifreg() -> u32 {
    0o100000
}

/// The stamp of an open file.
pub(crate) fn stamp_fd(st: &rustix::fs::Stat) -> Stamp {
    // The `stat` time fields are i64 on 64-bit Linux but narrower elsewhere.
    #[allow(clippy::unnecessary_cast)]
    Stamp {
        ino: st.st_ino as u64,
        size: st.st_size as u64,
        mtime_ns: st.st_mtime as i64 * 1_000_000_000 + st.st_mtime_nsec as i64,
        ctime_ns: st.st_ctime as i64 * 1_000_000_000 + st.st_ctime_nsec as i64,
    }
}

/// What a lookup found.
pub(crate) enum Lookup {
    /// The cache is off on this thread.
    Off,
    /// Not cached, or the cached entry was stale (and is gone).
    Miss,
    /// A valid entry: its file and metadata (atime refreshed from the stat).
    Hit(Rc<DmaFile>, Lom),
    /// The entry's inode is current but its metadata is not settled yet: the caller re-reads
    /// the xattr through `file` and calls [`refresh`].
    Reread(Rc<DmaFile>, Stamp, i64, i64),
}

pub(crate) fn lookup(path: &Path) -> Lookup {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let Some(c) = c.as_mut() else {
            return Lookup::Off;
        };
        let Some(e) = c.map.get_mut(path) else {
            c.misses += 1;
            return Lookup::Miss;
        };
        let t0 = now_ns();
        let Ok(cur) = stamp_path(path) else {
            c.map.remove(path);
            c.misses += 1;
            return Lookup::Miss;
        };
        if cur.0 != e.stamp {
            c.map.remove(path);
            c.misses += 1;
            return Lookup::Miss;
        }
        e.used = true;
        c.hits += 1;
        if e.stamp.ctime_ns + settle_ns(e.stamp.ctime_ns) < e.read_at_ns {
            let mut lom = e.lom.clone();
            lom.atime_ns = cur.1;
            Lookup::Hit(e.file.clone(), lom)
        } else {
            Lookup::Reread(e.file.clone(), cur.0, cur.1, t0)
        }
    })
}

/// Record `file` (open on `path`) with metadata `lom`, read after a stat that gave `stamp`
/// and was taken at `read_at_ns` or later.
pub(crate) fn insert(path: &Path, file: &Rc<DmaFile>, lom: &Lom, stamp: Stamp, read_at_ns: i64) {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let Some(c) = c.as_mut() else {
            return;
        };
        if c.map.len() >= c.cap && !c.map.contains_key(path) {
            // Second chance: keep what was used since the last eviction, drop the rest; if
            // everything was used, drop half.
            let before = c.map.len();
            c.map.retain(|_, e| std::mem::replace(&mut e.used, false));
            if c.map.len() == before {
                let mut n = 0usize;
                let half = before / 2;
                c.map.retain(|_, _| {
                    n += 1;
                    n > half
                });
            }
        }
        c.map.insert(
            path.to_path_buf(),
            Entry {
                file: file.clone(),
                lom: lom.clone(),
                stamp,
                read_at_ns,
                used: true,
            },
        );
    });
}
