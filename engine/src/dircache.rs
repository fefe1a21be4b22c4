//! Large directories read once per listing instead of once per page.
//!
//! A listing pages through a bucket by start name, and every page used to read each directory
//! on its path whole (readdir) to find the names after its start: paging through a flat
//! directory of n objects cost n²/page of readdir work (about 1,000 pages of a million-name
//! readdir for an S3 client listing a million objects). This keeps the names of large
//! directories read by a listing, sorted in walk order, so that a later page finds its start
//! by binary search.
//!
//! Holds names and kinds only: sizes and metadata are still read per listed object.
//!
//! Validity. Each lookup `stat`s the directory and compares its device, inode, mtime and ctime
//! with the ones read just before the names were: a name created, removed or renamed in the
//! directory moves its ctime. The kernel stamps ctime from a coarse clock (and some file
//! systems keep whole seconds), so two changes close together can leave it equal: a directory
//! is cached only when its ctime lay [`crate::opencache::settle_ns`] (50 ms, or 2 s for whole
//! seconds) before the moment of that `stat`, after which any change must stamp a later
//! ctime. A directory written to more recently is read on every
//! page, as before (a bucket being filled while it is listed).
//!
//! Memory. At most [`MAX_BYTES`] of names (packed, about 8 bytes per name beyond its text);
//! the least recently used directories go first, and any unused for [`IDLE`] are dropped by
//! [`DirCache::sweep`] (each core's open-file sweep calls it, every few seconds). Shared
//! by the threads that list (listing is blocking and runs off the reactors), behind one mutex
//! held only for the map operations.

use crate::list::walk_order;
use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The longest a directory's ctime must lie before the `stat` preceding its readdir for its
/// names to be cached (see [`crate::opencache::settle_ns`]).
pub const SETTLE: Duration = Duration::from_secs(2);
/// Directories with fewer names are read per page (as cheap as the page itself).
pub const MIN_NAMES: usize = 512;
/// The most bytes of names held at once.
pub const MAX_BYTES: usize = 256 << 20;
/// A directory no listing used for this long is dropped.
pub const IDLE: Duration = Duration::from_secs(120);

const DIR_BIT: u32 = 1 << 31;

/// The inode state a directory's names were read at.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Stamp {
    dev: u64,
    ino: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(m: &fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }

    /// Its ctime lies at least `settle` (by default as its granularity needs) before `now`.
    fn settled(&self, now: SystemTime, settle: Option<Duration>) -> bool {
        let Ok(now) = now.duration_since(UNIX_EPOCH) else {
            return false;
        };
        let (s, ns) = self.ctime;
        if s < 0 {
            return false;
        }
        let ctime = Duration::new(s as u64, ns.clamp(0, 999_999_999) as u32);
        let settle = settle.unwrap_or_else(|| {
            Duration::from_nanos(crate::opencache::settle_ns(ctime.as_nanos() as i64) as u64)
        });
        now.checked_sub(settle).is_some_and(|limit| ctime <= limit)
    }
}

/// One directory's names in walk order (see [`crate::list`]), packed into one string.
pub struct Sorted {
    text: String,
    /// Per name: start in `text`, end in `text` (with [`DIR_BIT`] set for a directory).
    at: Vec<(u32, u32)>,
}

impl Sorted {
    fn pack(ents: &[(String, bool)]) -> Option<Sorted> {
        let len: usize = ents.iter().map(|e| e.0.len()).sum();
        if len >= DIR_BIT as usize {
            return None;
        }
        let mut text = String::with_capacity(len);
        let mut at = Vec::with_capacity(ents.len());
        for (name, dir) in ents {
            let s = text.len() as u32;
            text.push_str(name);
            at.push((s, text.len() as u32 | if *dir { DIR_BIT } else { 0 }));
        }
        Some(Sorted { text, at })
    }

    pub fn len(&self) -> usize {
        self.at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// The `i`th name and whether it is a directory.
    pub fn get(&self, i: usize) -> (&str, bool) {
        let (s, e) = self.at[i];
        (
            &self.text[s as usize..(e & !DIR_BIT) as usize],
            e & DIR_BIT != 0,
        )
    }

    /// The index of the first name for which `pred` (true for a prefix of the names) is false.
    pub fn partition_point(&self, pred: impl Fn(&str, bool) -> bool) -> usize {
        let mut lo = 0;
        let mut hi = self.at.len();
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (n, d) = self.get(mid);
            if pred(n, d) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    fn bytes(&self) -> usize {
        self.text.len() + self.at.len() * 8 + 64
    }
}

struct Held {
    stamp: Stamp,
    names: Arc<Sorted>,
    used: Instant,
    /// Unix ns just before the `stat` that preceded the readdir.
    read_at_ns: i64,
    /// The ctime lay far enough back then (see [`DirCache::sorted`]).
    settled: bool,
}

/// Directories' sorted names, validated per lookup (see the module documentation).
pub struct DirCache {
    /// `None`: as the ctime's granularity needs.
    settle: Option<Duration>,
    min_names: usize,
    max_bytes: usize,
    held: Mutex<(HashMap<PathBuf, Held>, usize)>,
}

impl DirCache {
    pub fn new(settle: Option<Duration>, min_names: usize, max_bytes: usize) -> DirCache {
        DirCache {
            settle,
            min_names,
            max_bytes,
            held: Mutex::new((HashMap::new(), 0)),
        }
    }

    /// `dir`'s names in walk order, or `None` when `dir` changed within [`SETTLE`] (the
    /// caller reads it itself) or does not exist. Blocking: `stat`, and readdir on a miss.
    pub fn sorted(&self, dir: &Path) -> io::Result<Option<Arc<Sorted>>> {
        self.lookup(dir, None)
    }

    /// [`DirCache::sorted`] for a job's walk that started at `since_ns` (Unix ns) and lists
    /// what is there as it goes (rebalance, resilver, LRU, a multi-object job), while it
    /// moves or removes what it lists: names read at or after `since_ns` are reused although
    /// the directory changed since, and a directory is read and kept however recently it
    /// changed. A walk then reads each large directory about once, not once per batch. Such
    /// names serve other listings only as [`DirCache::sorted`] allows.
    pub fn since(&self, dir: &Path, since_ns: i64) -> io::Result<Option<Arc<Sorted>>> {
        self.lookup(dir, Some(since_ns))
    }

    fn lookup(&self, dir: &Path, since_ns: Option<i64>) -> io::Result<Option<Arc<Sorted>>> {
        let now = SystemTime::now();
        let now_ns = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64);
        let m = match fs::metadata(dir) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let stamp = Stamp::of(&m);
        {
            let mut g = self.lock();
            let (map, bytes) = &mut *g;
            let t = Instant::now();
            if let Some(h) = map.get_mut(dir) {
                let same_dir = h.stamp.dev == stamp.dev && h.stamp.ino == stamp.ino;
                if (h.stamp == stamp && h.settled)
                    || (same_dir && since_ns.is_some_and(|s| h.read_at_ns >= s))
                {
                    h.used = t;
                    return Ok(Some(h.names.clone()));
                }
                *bytes -= h.names.bytes();
                map.remove(dir);
            }
        }
        let settled = stamp.settled(now, self.settle);
        if !settled && since_ns.is_none() {
            return Ok(None);
        }
        let mut ents: Vec<(String, bool)> = Vec::new();
        let rd = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        for e in rd {
            let e = e?;
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            ents.push((name, is_dir));
        }
        ents.sort_unstable_by(walk_order);
        let Some(names) = Sorted::pack(&ents).map(Arc::new) else {
            return Ok(None);
        };
        drop(ents);
        let size = names.bytes();
        if names.len() >= self.min_names && size <= self.max_bytes {
            let mut g = self.lock();
            let (map, bytes) = &mut *g;
            while *bytes + size > self.max_bytes {
                let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, h)| h.used)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                if let Some(h) = map.remove(&oldest) {
                    *bytes -= h.names.bytes();
                }
            }
            let held = Held {
                stamp,
                names: names.clone(),
                used: Instant::now(),
                read_at_ns: now_ns,
                settled,
            };
            if let Some(old) = map.insert(dir.to_path_buf(), held) {
                *bytes -= old.names.bytes();
            }
            *bytes += size;
        }
        Ok(Some(names))
    }

    /// Drops the directories no listing used for [`IDLE`].
    pub fn sweep(&self) {
        let mut g = self.lock();
        let (map, bytes) = &mut *g;
        let now = Instant::now();
        map.retain(|_, h| {
            let keep = now.duration_since(h.used) < IDLE;
            if !keep {
                *bytes -= h.names.bytes();
            }
            keep
        });
    }

    fn lock(&self) -> MutexGuard<'_, (HashMap<PathBuf, Held>, usize)> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many directories and bytes of names are held.
    pub fn held(&self) -> (usize, usize) {
        let g = self.lock();
        (g.0.len(), g.1)
    }
}

/// The cache the listings of this process share.
pub static DIRS: LazyLock<DirCache> = LazyLock::new(|| DirCache::new(None, MIN_NAMES, MAX_BYTES));

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_of(root: &Path, name: &str, n: usize) -> PathBuf {
        let d = root.join(name);
        fs::create_dir(&d).unwrap();
        for i in 0..n {
            fs::write(d.join(format!("n{i:03}")), b"").unwrap();
        }
        fs::create_dir(d.join("n1")).unwrap();
        fs::write(d.join("n1-x"), b"").unwrap();
        d
    }

    #[test]
    fn keeps_large_settled_directories_sorted_within_its_byte_bound_least_recently_used_out() {
        let t = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir_of(t.path(), "a", 600),
            dir_of(t.path(), "b", 600),
            dir_of(t.path(), "c", 600),
        );
        let small = dir_of(t.path(), "small", 10);
        let one = 600 * 4 + 2 + 4 + 602 * 8 + 64;
        let dc = DirCache::new(Some(Duration::ZERO), 512, 2 * one + 100);
        let s = dc.sorted(&a).unwrap().unwrap();
        assert_eq!(s.len(), 602);
        // Walk order: the directory `n1` sorts as `n1/`, after the file `n1-x` ('-' < '/').
        let at = |i: usize| s.get(i);
        assert_eq!((at(99), at(100)), (("n099", false), ("n1-x", false)));
        assert_eq!((at(101), at(102)), (("n1", true), ("n100", false)));
        assert_eq!(dc.held(), (1, one));
        dc.sorted(&b).unwrap().unwrap();
        let a2 = dc.sorted(&a).unwrap().unwrap();
        assert!(Arc::ptr_eq(&s, &a2), "a hit returns the kept names");
        dc.sorted(&c).unwrap().unwrap();
        assert_eq!(
            dc.held(),
            (2, 2 * one),
            "b, least recently used, made room for c"
        );
        assert!(Arc::ptr_eq(&s, &dc.sorted(&a).unwrap().unwrap()));
        assert_eq!(dc.sorted(&small).unwrap().unwrap().len(), 12);
        assert_eq!(dc.held().0, 2, "a small directory is read, not kept");
        assert!(dc.sorted(&t.path().join("none")).unwrap().is_none());
        // Not settled: the caller reads it.
        let young = DirCache::new(Some(Duration::from_secs(3600)), 0, 1 << 20);
        assert!(young.sorted(&a).unwrap().is_none());
        dc.sweep();
        assert_eq!(dc.held().0, 2, "used just now: kept");
    }

    #[test]
    fn a_walk_reuses_the_names_it_read_however_the_directory_changed_since() {
        let t = tempfile::tempdir().unwrap();
        let d = dir_of(t.path(), "a", 600);
        let dc = DirCache::new(None, 512, 1 << 30);
        let start = crate::opencache::now_ns();
        assert!(
            dc.sorted(&d).unwrap().is_none(),
            "just written: not settled"
        );
        let s = dc.since(&d, start).unwrap().unwrap();
        assert_eq!(
            dc.held().0,
            1,
            "a walk keeps what it read although not settled"
        );
        fs::remove_file(d.join("n000")).unwrap();
        fs::write(d.join("n999"), b"").unwrap();
        let again = dc.since(&d, start).unwrap().unwrap();
        assert!(
            Arc::ptr_eq(&s, &again),
            "the walk's own names, changed directory or not"
        );
        let later = crate::opencache::now_ns();
        let fresh = dc.since(&d, later).unwrap().unwrap();
        assert!(
            !Arc::ptr_eq(&s, &fresh),
            "a walk that started later reads it again"
        );
        assert_eq!(
            (fresh.get(0), fresh.get(fresh.len() - 1)),
            (("n001", false), ("n999", false))
        );
        assert!(
            dc.sorted(&d).unwrap().is_none(),
            "a listing takes only settled names"
        );
        assert_eq!(dc.held().0, 0);
    }

    #[test]
    fn a_ctime_in_whole_seconds_must_lie_two_seconds_back_one_with_nanoseconds_50_ms() {
        let at = |s: i64, ns: i64| Stamp {
            dev: 1,
            ino: 1,
            mtime: (s, ns),
            ctime: (s, ns),
        };
        let t = |s: u64, ms: u64| UNIX_EPOCH + Duration::from_millis(s * 1000 + ms);
        assert!(!at(100, 0).settled(t(101, 900), None));
        assert!(at(100, 0).settled(t(102, 0), None));
        assert!(!at(100, 7).settled(t(100, 40), None));
        assert!(at(100, 7).settled(t(100, 60), None));
        assert!(!at(100, 7).settled(t(99, 0), None), "a ctime in the future");
        assert!(at(100, 7).settled(t(100, 1), Some(Duration::ZERO)));
    }
}
