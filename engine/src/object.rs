//! Object writes and reads with O_DIRECT through glommio DMA files, on the owning core.
//!
//! PUT: bytes are copied into aligned DMA buffers and written to a work file under `%wk`
//! with up to [`WRITE_BEHIND`] writes in flight, while the bucket's checksum (and a declared
//! checksum of another type, to verify) is computed over the stream. The tail is padded to
//! the block size, then the file is truncated to the real size, the declared checksum is
//! checked (a mismatch stores nothing), the file is fdatasync'ed (data and size), the LOM
//! xattr is set, the work file is renamed into `%ob`, and the parent directory is fsync'ed.
//! A reader sees the old object or the new one.
//!
//! GET: the file is opened first and its metadata read through the same descriptor, so
//! data and metadata always belong to the same inode even if a PUT renames over it.
//! Reads go through glommio's stream reader with [`READ_AHEAD`] buffers in flight.
//!
//! Not done here: HTTP, deciding which core owns a mountpath (callers route to it).

use crate::cksum::{Cksum, CksumType, Hasher};
use crate::error::Error;
use crate::layout::{needs_escape, Bck};
use crate::lom::{Lom, LOM_BYTES_MAX, XATTR_LOM};
use crate::mountpath::Mountpath;
use crate::Result;
use glommio::io::{DmaBuffer, DmaFile, DmaStreamReader, DmaStreamReaderBuilder, ReadResult};
use glommio::task::JoinHandle;
use std::collections::VecDeque;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Size of one DMA write buffer.
pub const WRITE_BUFFER_BYTES: usize = 1 << 20;
/// Write buffer of an object whose size is declared (a PUT with Content-Length): writes start
/// while the body still arrives (measured: 8 MiB PUT +10% over 1 MiB buffers).
pub const WRITE_BUFFER_HINTED_BYTES: usize = 256 << 10;
/// First write buffer when no size hint is given; buffers double up to WRITE_BUFFER_BYTES.
pub const WRITE_BUFFER_FIRST_BYTES: usize = 64 * 1024;
/// Writes in flight per PUT.
pub const WRITE_BEHIND: usize = 4;
/// Size of one DMA read buffer.
pub const READ_BUFFER_BYTES: usize = 1 << 20;
const _: () = assert!(READ_BUFFER_BYTES.is_power_of_two());
/// Reads in flight per GET.
pub const READ_AHEAD: usize = 4;

/// Whether the engine computes checksums of type `t`: every AIS type ([`CksumType::ALL`];
/// `xxhash` and `xxhash2` are the same XXH64, seed 0), and "" for the default.
pub fn is_supported_cksum(t: &str) -> bool {
    t.is_empty() || CksumType::parse(t).is_ok()
}

/// What a PUT needs to know beyond the bytes.
#[derive(Debug, Clone, Default)]
pub struct PutOpts {
    /// Bucket checksum type, an AIS name: computed and stored ("" for the default
    /// `xxhash2`; "none" stores none).
    pub cksum_type: String,
    /// A checksum declared for the bytes (by the client, or carried by a moved object):
    /// computed too when its type differs from the bucket's, and verified; a mismatch stores
    /// nothing. Not verified with `skip_vc`.
    pub client_cksum: Option<Cksum>,
    /// Skip validating the client checksum and the identical-content no-op.
    pub skip_vc: bool,
    pub custom: Vec<(String, String)>,
    pub versioning: bool,
    /// fdatasync the file and fsync its directory before acknowledging.
    pub fsync: bool,
    /// Keep this version instead of bumping (objects moved by rebalance keep theirs).
    pub keep_version: Option<String>,
    /// Keep this modification time (ns since the epoch) instead of now (moved objects).
    pub keep_mtime_ns: Option<i64>,
    /// Never replace an object already in place: the commit fails with [`Error::Exists`]
    /// (atomically, by `renameat2(RENAME_NOREPLACE)`). Rebalance and resilver use it so a
    /// copy they move can never overwrite one a client PUT meanwhile.
    pub no_replace: bool,
    /// Commit only if the object in place is still this one (a conditional write such as
    /// S3's `If-Match`): checked right before the rename, with no other commit of the same
    /// name on this thread in between; otherwise the commit fails with [`Error::Changed`].
    pub require: Option<Identity>,
}

/// What identifies one stored instance of an object: a replacement (even with the same
/// bytes) has another modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub size: u64,
    pub cksum_value: String,
    pub version: String,
    pub mtime_ns: i64,
}

impl Identity {
    pub fn of(lom: &Lom) -> Identity {
        Identity {
            size: lom.size,
            cksum_value: lom.cksum_value.clone(),
            version: lom.version.clone(),
            mtime_ns: lom.mtime_ns,
        }
    }
}

thread_local! {
    /// Object paths whose commit (condition check and rename) is in progress on this thread.
    /// An object is written only by the core that owns it, so this serializes every commit
    /// of one name: a conditional commit's check and its rename are never split by another.
    static PLACING: std::cell::RefCell<std::collections::HashSet<PathBuf>> =
        std::cell::RefCell::new(std::collections::HashSet::new());
}

/// Holds a name in [`PLACING`] until dropped.
struct PlacingGuard(PathBuf);

impl PlacingGuard {
    async fn acquire(fqn: &Path) -> PlacingGuard {
        loop {
            let won = PLACING.with(|s| s.borrow_mut().insert(fqn.to_path_buf()));
            if won {
                return PlacingGuard(fqn.to_path_buf());
            }
            glommio::timer::sleep(std::time::Duration::from_micros(200)).await;
        }
    }
}

impl Drop for PlacingGuard {
    fn drop(&mut self) {
        PLACING.with(|s| s.borrow_mut().remove(&self.0));
    }
}

/// Result of a committed PUT.
#[derive(Debug, Clone)]
pub struct PutResult {
    pub lom: Lom,
    /// False when the content was identical to the stored object and nothing changed.
    pub changed: bool,
}

/// Streaming writer of one object into a work file.
pub struct ObjectWriter {
    /// The mountpath (its file system is what a group commit syncs).
    root: PathBuf,
    file: Option<Rc<DmaFile>>,
    /// The buffer being filled; allocated on demand, sized by `next_cap`.
    buf: Option<DmaBuffer>,
    /// Size of the next buffer: starts small (or at the size hint) and doubles up to
    /// WRITE_BUFFER_BYTES, so small objects never allocate a full 1 MiB buffer.
    next_cap: usize,
    /// Largest buffer: WRITE_BUFFER_BYTES, or WRITE_BUFFER_HINTED_BYTES after a size hint.
    max_cap: usize,
    filled: usize,
    /// Offset in the file of `buf[0]`.
    offset: u64,
    /// The file's length set by `fallocate` (see [`ObjectWriter::size_hint`]).
    allocated: u64,
    in_flight: VecDeque<JoinHandle<std::io::Result<usize>>>,
    /// The bucket's checksum, over every byte written (see [`ObjectWriter::set_cksums`]).
    hasher: Hasher,
    /// A declared checksum whose digest differs from the bucket's, to verify.
    extra: Option<Hasher>,
    size: u64,
    work: PathBuf,
    fqn: PathBuf,
    /// For an object name that is a plain path: its escaped path and the mountpath's
    /// escaped flag, used when `fqn` meets a file/directory conflict (`p` beside `p/x`).
    alt: Option<(PathBuf, Arc<AtomicBool>)>,
    done: bool,
}

/// Where an object of this name is on `mp`, or would be if it existed: the escaped path for
/// names that need it; else the plain path unless that holds no file and the object sits at
/// its escaped path after a name conflict. Costs a lookup only on mountpaths that hold
/// escaped objects. Blocking (metadata only).
pub fn locate(mp: &Mountpath, bck: &Bck, object: &str) -> PathBuf {
    if needs_escape(object) {
        return bck.escaped_fqn(&mp.path, object);
    }
    let plain = bck.plain_fqn(&mp.path, object);
    if !mp.has_escaped() || is_file(&plain) {
        return plain;
    }
    let esc = bck.escaped_fqn(&mp.path, object);
    if is_file(&esc) {
        esc
    } else {
        plain
    }
}

/// Whether an object of this name is on `mp` (a regular file at [`locate`]). Blocking.
pub fn exists(mp: &Mountpath, bck: &Bck, object: &str) -> bool {
    is_file(&locate(mp, bck, object))
}

fn is_file(p: &Path) -> bool {
    std::fs::symlink_metadata(p)
        .map(|m| m.is_file())
        .unwrap_or(false)
}

/// The outcome of one attempt to put a file at an object path.
enum Placed {
    Done,
    /// The path or one of its parents is taken by the other kind (file vs directory).
    Conflict,
}

/// Create the parent directories of `to` (inside the bucket). A parent that is an object
/// file is a name conflict, not an error.
fn make_parents(to: &Path) -> Result<Placed> {
    if let Some(parent) = to.parent() {
        if !parent.is_dir() {
            if let Err(e) = std::fs::create_dir_all(parent) {
                if is_name_conflict(&e) {
                    return Ok(Placed::Conflict);
                }
                return Err(Error::io("mkdir", parent, e));
            }
        }
    }
    Ok(Placed::Done)
}

/// `rename_noreplace` into an object path, telling a name conflict (the path is a
/// directory, or a parent is a file) from an object already there.
fn place_noreplace(from: &Path, to: &Path) -> Result<Placed> {
    if let Placed::Conflict = make_parents(to)? {
        return Ok(Placed::Conflict);
    }
    match rename_noreplace(from, to) {
        Ok(()) => Ok(Placed::Done),
        Err(Error::Exists(_)) if to.is_dir() => Ok(Placed::Conflict),
        Err(Error::Io { source, .. }) if is_conflict_errno(&source) => Ok(Placed::Conflict),
        Err(e) => Err(e),
    }
}

/// EISDIR or ENOTDIR from a rename into an object path.
fn is_conflict_errno(e: &std::io::Error) -> bool {
    // glommio may keep only the kind of an OS error, not its code.
    matches!(
        e.kind(),
        std::io::ErrorKind::IsADirectory | std::io::ErrorKind::NotADirectory
    ) || matches!(
        rustix::io::Errno::from_io_error(e),
        Some(rustix::io::Errno::ISDIR | rustix::io::Errno::NOTDIR)
    )
}

pub(crate) fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{n:x}.{:x}", std::process::id())
}

impl ObjectWriter {
    /// Start a PUT of `object` into bucket `bck` on mountpath `mp`.
    pub async fn create(mp: &Mountpath, bck: &Bck, object: &str) -> Result<ObjectWriter> {
        let alt = if needs_escape(object) {
            // Set before the file can exist, so no lookup on this mountpath misses it.
            mp.escaped_flag().store(true, Ordering::Release);
            None
        } else {
            Some((bck.escaped_fqn(&mp.path, object), mp.escaped_flag()))
        };
        let mut w = Self::create_at(mp, bck, bck.fqn(&mp.path, object), object).await?;
        w.alt = alt;
        Ok(w)
    }

    /// Like [`ObjectWriter::create`] but renaming into `fqn` (inside the bucket's directory
    /// on `mp`), e.g. a multipart part under `%ch`. `tag` names the work file.
    pub async fn create_at(
        mp: &Mountpath,
        bck: &Bck,
        fqn: PathBuf,
        tag: &str,
    ) -> Result<ObjectWriter> {
        assert!(
            fqn.starts_with(bck.dir(&mp.path)),
            "{} outside its bucket",
            fqn.display()
        );
        let object = tag;
        let wk = bck.work_dir(&mp.path);
        let work = wk.join(format!(
            "put.{:016x}.{}",
            xxhash_rust::xxh64::xxh64(object.as_bytes(), 0),
            unique_suffix()
        ));
        let file = match create_dma(&work) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // The bucket exists in the BMD (the caller checked) but this mountpath has
                // not seen it yet, e.g. it was attached later.
                mp.create_bucket(bck)?;
                create_dma(&work)
            }
            Err(e) => Err(e),
        }
        .map_err(|e| Error::io("create work file", &work, e))?;
        Ok(ObjectWriter {
            root: mp.path.clone(),
            file: Some(Rc::new(file)),
            buf: None,
            next_cap: WRITE_BUFFER_FIRST_BYTES,
            max_cap: WRITE_BUFFER_BYTES,
            filled: 0,
            offset: 0,
            allocated: 0,
            in_flight: VecDeque::new(),
            hasher: Hasher::new(CksumType::DEFAULT),
            extra: None,
            size: 0,
            work,
            fqn,
            alt: None,
            done: false,
        })
    }

    pub fn fqn(&self) -> &Path {
        &self.fqn
    }

    fn file(&self) -> &Rc<DmaFile> {
        self.file
            .as_ref()
            .expect("file is present until commit or abort")
    }

    /// The expected object size (e.g. Content-Length): the first buffer is sized to it.
    pub fn size_hint(&mut self, bytes: u64) {
        if self.buf.is_none() && self.size == 0 {
            self.max_cap = WRITE_BUFFER_HINTED_BYTES;
            self.next_cap =
                (bytes.max(1).div_ceil(4096) * 4096).min(WRITE_BUFFER_HINTED_BYTES as u64) as usize;
            if bytes > 0 && self.offset == 0 {
                // Allocate the blocks now (unwritten extents, size set to the padded length):
                // the O_DIRECT writes are then neither extending nor allocating, so io_uring
                // can issue them without handing them to a worker thread, and several writes
                // of one object proceed in parallel under ext4's shared inode lock. The
                // commit truncates to the real size. A file system without fallocate just
                // takes the slower path.
                let padded = bytes.div_ceil(4096) * 4096;
                if rustix::fs::fallocate(
                    dma_fd(self.file()),
                    rustix::fs::FallocateFlags::empty(),
                    0,
                    padded,
                )
                .is_ok()
                {
                    self.allocated = padded;
                }
            }
        }
    }

    /// Compute the checksums `opts` asks for while the bytes are written: the bucket's type
    /// (`cksum_type`) and a declared one (`client_cksum`, unless `skip_vc`) whose digest is of
    /// another kind. Call it before the first byte, with the options the commit will get. A
    /// writer not set up computes the default type; a commit that needs another reads the
    /// work file back (correct, but a second pass over the bytes).
    pub fn set_cksums(&mut self, opts: &PutOpts) -> Result<()> {
        assert!(
            self.size == 0,
            "checksums chosen after {} bytes of {} were written",
            self.size,
            self.work.display()
        );
        let plan = CksumPlan::of(opts)?;
        self.hasher = Hasher::new(plan.bucket);
        self.extra = plan
            .verify
            .filter(|c| !c.ty().same_digest(plan.bucket))
            .map(|c| Hasher::new(c.ty()));
        Ok(())
    }

    /// The free part of the current DMA buffer (allocated on demand): a caller receives
    /// into it directly, then calls [`ObjectWriter::advance`] with the count (no copy
    /// through an intermediate buffer). Never empty.
    pub fn spare(&mut self) -> &mut [u8] {
        if self.buf.is_none() {
            let cap = self.next_cap;
            self.buf = Some(self.file().alloc_dma_buffer(cap));
            self.next_cap = (cap * 2).min(self.max_cap);
        }
        let filled = self.filled;
        &mut self.buf.as_mut().expect("just allocated").as_bytes_mut()[filled..]
    }

    /// Take the first `n` bytes of [`ObjectWriter::spare`] as the object's next bytes
    /// (`seen` gets them too); a full buffer is written out.
    pub async fn advance(&mut self, n: usize, mut seen: impl FnMut(&[u8])) -> Result<()> {
        let buf = self.buf.as_ref().expect("advance after spare");
        let cap = buf.len();
        assert!(self.filled + n <= cap, "advance past the buffer");
        let data = &buf.as_bytes()[self.filled..self.filled + n];
        self.hasher.update(data);
        if let Some(h) = &mut self.extra {
            h.update(data);
        }
        seen(data);
        self.size += n as u64;
        self.filled += n;
        if self.filled == cap {
            self.flush_buffer(cap).await?;
        }
        Ok(())
    }

    /// Append bytes to the object.
    pub async fn write(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            let spare = self.spare();
            let n = spare.len().min(data.len());
            spare[..n].copy_from_slice(&data[..n]);
            data = &data[n..];
            self.advance(n, |_| {}).await?;
        }
        Ok(())
    }

    /// Submit `buf[..len]` (len aligned) at the current offset; keep at most WRITE_BEHIND in flight.
    async fn flush_buffer(&mut self, len: usize) -> Result<()> {
        assert!(
            len.is_multiple_of(4096) && len <= WRITE_BUFFER_BYTES,
            "unaligned DMA write of {len}"
        );
        while self.in_flight.len() >= WRITE_BEHIND {
            self.wait_one().await?;
        }
        let mut buf = self.buf.take().expect("flush of an allocated buffer");
        assert!(
            len <= buf.len(),
            "flush of {len} bytes from a {} byte buffer",
            buf.len()
        );
        buf.trim_to_size(len);
        let file = self.file().clone();
        let pos = self.offset;
        let task = glommio::spawn_local(async move {
            let t = std::time::Instant::now();
            let r = write_whole(&file, buf, pos, len).await;
            crate::iostat::write_done(t, len);
            r
        })
        .detach();
        self.in_flight.push_back(task);
        self.offset += len as u64;
        self.filled = 0;
        Ok(())
    }

    async fn wait_one(&mut self) -> Result<()> {
        if let Some(t) = self.in_flight.pop_front() {
            match t.await {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(Error::io("write", &self.work, e)),
                None => {
                    return Err(Error::io(
                        "write",
                        &self.work,
                        std::io::Error::other("write task cancelled"),
                    ))
                }
            }
        }
        Ok(())
    }

    async fn drain(&mut self) -> Result<()> {
        while !self.in_flight.is_empty() {
            self.wait_one().await?;
        }
        Ok(())
    }

    /// Bytes received so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Finish the PUT: pad and write the tail, truncate, sync, set metadata, rename into place.
    pub async fn commit(mut self, opts: &PutOpts) -> Result<PutResult> {
        if self.filled > 0 {
            let padded = self.filled.div_ceil(4096) * 4096;
            let filled = self.filled;
            self.buf
                .as_mut()
                .expect("filled implies a buffer")
                .as_bytes_mut()[filled..padded]
                .fill(0);
            self.flush_buffer(padded).await?;
        }
        self.drain().await?;
        if self.offset.max(self.allocated) != self.size {
            // Drop the tail's padding (a metadata-only change, on this thread: glommio would
            // hand it to its blocking thread).
            rustix::fs::ftruncate(dma_fd(self.file()), self.size)
                .map_err(|e| Error::io("truncate", &self.work, e.into()))?;
        }
        let plan = match CksumPlan::of(opts) {
            Ok(p) => p,
            Err(e) => {
                self.abort().await;
                return Err(e);
            }
        };
        let (cksum_value, declared) = match self.digests(&plan).await {
            Ok(v) => v,
            Err(e) => {
                self.abort().await;
                return Err(e);
            }
        };
        if let Some(want) = plan.verify {
            let actual = declared.as_deref().unwrap_or(&cksum_value);
            if actual != want.value() {
                let actual = actual.to_string();
                self.abort().await;
                return Err(Error::ChecksumMismatch {
                    ty: want.ty(),
                    expected: want.value().to_string(),
                    actual,
                });
            }
        }
        // A bucket without checksums stores no type (the LOM has no checksum records).
        let cksum_type = match plan.bucket {
            CksumType::None => String::new(),
            t => t.name().to_string(),
        };
        // A plain PUT assumes a new object: its metadata is written for "no previous copy" and
        // the rename refuses to replace anything. Only if an object is there after all (or
        // the rename fails otherwise) is the previous metadata read and the usual path taken.
        // A new object so costs no lookup of its own name before the rename.
        let assume_new = opts.require.is_none() && !opts.no_replace && self.at_plain_path();
        let mut old = if assume_new {
            None
        } else {
            read_lom_path(&self.current()).ok()
        };
        if let Some(unchanged) =
            self.unchanged(old.as_ref(), &plan, opts, &cksum_type, &cksum_value)
        {
            self.abort().await;
            return Ok(unchanged);
        }
        let mut lom = Lom {
            size: self.size,
            cksum_type,
            cksum_value,
            version: next_version(old.as_ref(), opts),
            custom: opts.custom.clone(),
            atime_ns: now_ns(),
            mtime_ns: now_ns(),
        };
        let enc = lom.encode();
        set_lom_fd(self.file(), &enc).map_err(|e| Error::io("setxattr", &self.work, e))?;
        if let Some(t) = opts.keep_mtime_ns {
            set_mtime_fd(self.file(), t).map_err(|e| Error::io("futimens", &self.work, e))?;
        }
        // Close before rename so no DMA descriptor outlives the work name.
        if let Some(Ok(f)) = self.file.take().map(Rc::try_unwrap) {
            let _ = f.close().await;
        }
        let _held = PlacingGuard::acquire(&self.fqn).await;
        if let Some(want) = &opts.require {
            let now = read_lom_path(&self.current())
                .ok()
                .map(|l| Identity::of(&l));
            if now.as_ref() != Some(want) {
                let _ = std::fs::remove_file(&self.work);
                self.done = true;
                return Err(Error::Changed(self.fqn.clone()));
            }
        }
        let placed_new = assume_new && rename_noreplace(&self.work, &self.fqn).is_ok();
        if !placed_new {
            if assume_new {
                // An object is there (or the rename needs the slow path: a missing directory,
                // a name conflict): decide against what is there now, under the guard.
                old = read_lom_path(&self.current()).ok();
                let (ty, value) = (lom.cksum_type.clone(), lom.cksum_value.clone());
                if let Some(unchanged) = self.unchanged(old.as_ref(), &plan, opts, &ty, &value) {
                    let _ = std::fs::remove_file(&self.work);
                    self.done = true;
                    return Ok(unchanged);
                }
                let version = next_version(old.as_ref(), opts);
                if version != lom.version {
                    lom.version = version;
                    rustix::fs::setxattr(
                        &self.work,
                        XATTR_LOM,
                        &lom.encode(),
                        rustix::fs::XattrFlags::empty(),
                    )
                    .map_err(|e| Error::io("setxattr", &self.work, e.into()))?;
                }
            }
            self.place(opts.no_replace).await?;
        }
        self.done = true;
        crate::opencache::forget(&self.fqn);
        drop(_held);
        if opts.fsync {
            // Data (written with O_DIRECT), xattr, size and the rename: made durable by one
            // sync of the file system shared with the concurrent PUTs on this mountpath.
            crate::groupsync::sync(&self.root)
                .await
                .map_err(|e| Error::io("syncfs", &self.root, e))?;
        }
        Ok(PutResult { lom, changed: true })
    }

    /// The bucket type's value ("" for `none`) and, when `plan` verifies a declared checksum
    /// whose digest is of another kind, the value of the declared type: from the hashers fed
    /// while writing, else (a writer not set up for these options) by reading the work file
    /// back.
    async fn digests(&mut self, plan: &CksumPlan<'_>) -> Result<(String, Option<String>)> {
        let mut fed = [
            Some(std::mem::replace(
                &mut self.hasher,
                Hasher::new(CksumType::None),
            )),
            self.extra.take(),
        ]
        .map(|h| h.map(|h| (h.ty(), h.finish())));
        let mut from_fed = |t: CksumType| {
            if t == CksumType::None {
                return Some(String::new());
            }
            fed.iter_mut()
                .flatten()
                .find(|(f, _)| f.same_digest(t))
                .map(|(_, v)| std::mem::take(v))
        };
        let mut bucket = from_fed(plan.bucket);
        let declared_ty = plan
            .verify
            .map(Cksum::ty)
            .filter(|t| !t.same_digest(plan.bucket));
        let mut declared = declared_ty.and_then(from_fed);
        let missing = [
            bucket.is_none().then_some(plan.bucket),
            declared_ty.filter(|_| declared.is_none()),
        ];
        if missing.iter().any(Option::is_some) {
            let [b, d] = self.read_back(missing).await?;
            bucket = bucket.or(b);
            declared = declared.or(d);
        }
        Ok((
            bucket.expect("the bucket type was fed or read back"),
            declared,
        ))
    }

    /// Checksums of the given types over the work file's bytes (after the tail was written
    /// and the file truncated to its size), in one pass.
    async fn read_back(&self, types: [Option<CksumType>; 2]) -> Result<[Option<String>; 2]> {
        let mut hashers = types.map(|t| t.map(Hasher::new));
        let file = self.file();
        let mut pos = 0u64;
        while pos < self.size {
            let want = (self.size - pos).min(READ_BUFFER_BYTES as u64) as usize;
            let b = file
                .read_at(pos, want)
                .await
                .map_err(|e| Error::io("read back", &self.work, e.into()))?;
            if b.is_empty() {
                return Err(Error::io(
                    "read back",
                    &self.work,
                    std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("work file ends at {pos} of {} bytes", self.size),
                    ),
                ));
            }
            let n = b.len().min(want);
            for h in hashers.iter_mut().flatten() {
                h.update(&b[..n]);
            }
            pos += n as u64;
        }
        Ok(hashers.map(|h| h.map(Hasher::finish)))
    }

    /// The object can only be at `fqn`: no escaped copy of its name can exist on this
    /// mountpath (see [`locate`]).
    fn at_plain_path(&self) -> bool {
        match &self.alt {
            None => true,
            Some((_, flag)) => !flag.load(Ordering::Acquire),
        }
    }

    /// The answer to a PUT whose content and custom metadata equal those of `old`, the copy
    /// already stored: the same checksum type (its value alone could be of another type of
    /// the same length), value and size. Nothing is written then.
    fn unchanged(
        &self,
        old: Option<&Lom>,
        plan: &CksumPlan<'_>,
        opts: &PutOpts,
        cksum_type: &str,
        cksum_value: &str,
    ) -> Option<PutResult> {
        let old = old?;
        (!opts.skip_vc
            && plan.bucket.identifies_content()
            && old.cksum_type == cksum_type
            && old.size == self.size
            && old.cksum_value == cksum_value
            && old.custom == opts.custom)
            .then(|| PutResult {
                lom: old.clone(),
                changed: false,
            })
    }

    /// Where the object of this writer is now (see [`locate`]).
    fn current(&self) -> PathBuf {
        match &self.alt {
            Some((esc, flag))
                if flag.load(Ordering::Acquire) && !is_file(&self.fqn) && is_file(esc) =>
            {
                esc.clone()
            }
            _ => self.fqn.clone(),
        }
    }

    /// Rename the work file into the object's path. A plain path that meets a name conflict
    /// (`p` beside `p/x`) falls back to the escaped path; after a plain write a stale escaped
    /// copy of the same name (left from an earlier conflict) is removed, so one name is one
    /// object. With `no_replace`, an object at either path fails with [`Error::Exists`].
    async fn place(&mut self, no_replace: bool) -> Result<()> {
        if no_replace {
            if let Some((esc, flag)) = &self.alt {
                if flag.load(Ordering::Acquire) && is_file(esc) {
                    let _ = std::fs::remove_file(&self.work);
                    self.done = true;
                    return Err(Error::Exists(esc.clone()));
                }
            }
        }
        loop {
            let placed = if no_replace {
                match place_noreplace(&self.work, &self.fqn) {
                    Err(Error::Exists(p)) => {
                        let _ = std::fs::remove_file(&self.work);
                        self.done = true;
                        return Err(Error::Exists(p));
                    }
                    r => r?,
                }
            } else {
                match make_parents(&self.fqn)? {
                    Placed::Conflict => Placed::Conflict,
                    // On this thread: a metadata-only change glommio would hand to its
                    // blocking thread (a wake-up and two context switches per PUT).
                    Placed::Done => match std::fs::rename(&self.work, &self.fqn) {
                        Ok(()) => Placed::Done,
                        Err(e) => {
                            if is_conflict_errno(&e) {
                                Placed::Conflict
                            } else {
                                return Err(Error::io("rename", &self.fqn, e));
                            }
                        }
                    },
                }
            };
            match placed {
                Placed::Done => break,
                Placed::Conflict => match self.alt.take() {
                    Some((esc, flag)) => {
                        flag.store(true, Ordering::Release);
                        self.fqn = esc;
                    }
                    None => return Err(name_conflict(&self.fqn)),
                },
            }
        }
        if let Some((esc, flag)) = &self.alt {
            if flag.load(Ordering::Acquire) && is_file(esc) {
                let _ = std::fs::remove_file(esc);
            }
        }
        Ok(())
    }

    /// Abandon the PUT and remove the work file.
    pub async fn abort(mut self) {
        let _ = self.drain().await;
        self.done = true;
        if let Some(Ok(f)) = self.file.take().map(Rc::try_unwrap) {
            let _ = f.close().await;
        }
        let _ = glommio::io::remove(&self.work).await;
    }
}

/// The version a PUT stores over `old` (none: a new object).
fn next_version(old: Option<&Lom>, opts: &PutOpts) -> String {
    if let Some(v) = &opts.keep_version {
        v.clone()
    } else if opts.versioning {
        let prev = old.and_then(|o| o.version.parse::<u64>().ok()).unwrap_or(0);
        (prev + 1).to_string()
    } else {
        String::new()
    }
}

/// The checksums a commit with given [`PutOpts`] needs.
struct CksumPlan<'a> {
    /// The bucket's type: computed and stored.
    bucket: CksumType,
    /// The declared checksum to verify (none with `skip_vc`, or when declared `none`).
    verify: Option<&'a Cksum>,
}

impl CksumPlan<'_> {
    fn of(opts: &PutOpts) -> Result<CksumPlan<'_>> {
        let bucket = match opts.cksum_type.as_str() {
            "" => CksumType::DEFAULT,
            t => CksumType::parse(t)?,
        };
        let verify = opts
            .client_cksum
            .as_ref()
            .filter(|c| !opts.skip_vc && c.ty() != CksumType::None);
        Ok(CksumPlan { bucket, verify })
    }
}

/// A file/directory conflict at a path that has no fallback (an escaped path or a part
/// file): the escaping rules make this impossible for object names, so it is reported, never
/// written over.
fn name_conflict(fqn: &Path) -> Error {
    Error::InvalidName(format!(
        "{}: the path is taken by a file or directory of another kind",
        fqn.display()
    ))
}

/// mkdir of a path whose ancestor is a regular file (EEXIST on the file, or ENOTDIR below it).
fn is_name_conflict(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::AlreadyExists
        || e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error())
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        if !self.done {
            // Dropped mid-stream (client went away, deadline): the work file must not linger.
            let _ = std::fs::remove_file(&self.work);
        }
    }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// The descriptor of an open DMA file, for the metadata syscalls glommio has no call for.
/// (glommio 0.9 implements `AsRawFd` but not `AsFd`.)
#[allow(unsafe_code)]
fn dma_fd(file: &DmaFile) -> BorrowedFd<'_> {
    // SAFETY: `borrow_raw` needs an open descriptor other than -1 that stays open while the
    // `BorrowedFd` lives. `DmaFile::as_raw_fd` returns the descriptor the file owns (it panics
    // rather than return one it no longer has), and glommio closes it only in `close(self)` or
    // on drop, neither of which can happen while `file` is borrowed for the returned lifetime.
    unsafe { BorrowedFd::borrow_raw(file.as_raw_fd()) }
}

fn set_mtime_fd(file: &DmaFile, mtime_ns: i64) -> std::io::Result<()> {
    let fd = dma_fd(file);
    let ts = rustix::fs::Timespec {
        tv_sec: mtime_ns.div_euclid(1_000_000_000),
        tv_nsec: mtime_ns.rem_euclid(1_000_000_000) as _,
    };
    // The access time stays the file's creation: a kept modification time (a cold GET's
    // backend time, a moved object's) says nothing about when the object was last read, and
    // LRU eviction goes by atime.
    let times = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_OMIT,
        },
        last_modification: ts,
    };
    rustix::fs::futimens(fd, &times).map_err(Into::into)
}

/// `rename(from, to)` that fails with [`Error::Exists`] instead of replacing `to`. Blocking
/// (metadata only).
pub fn rename_noreplace(from: &Path, to: &Path) -> Result<()> {
    match rustix::fs::renameat_with(
        rustix::fs::CWD,
        from,
        rustix::fs::CWD,
        to,
        rustix::fs::RenameFlags::NOREPLACE,
    ) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::EXIST) => Err(Error::Exists(to.to_path_buf())),
        Err(e) => Err(Error::io("rename", to, e.into())),
    }
}

/// Rename the file `from` (an object file: bytes and metadata) into the object's place on
/// `mp` without replacing one already there ([`Error::Exists`]), falling back to the escaped
/// path on a name conflict as a PUT does; where it went (or would have). Blocking.
pub(crate) fn place_file_noreplace(
    from: &Path,
    mp: &Mountpath,
    bck: &Bck,
    object: &str,
) -> (Result<()>, PathBuf) {
    let mut to = locate(mp, bck, object);
    let mut placed = place_noreplace(from, &to);
    if let (Ok(Placed::Conflict), false) = (&placed, needs_escape(object)) {
        mp.escaped_flag().store(true, Ordering::Release);
        to = bck.escaped_fqn(&mp.path, object);
        placed = place_noreplace(from, &to);
    }
    let r = match placed {
        Ok(Placed::Done) => Ok(()),
        Ok(Placed::Conflict) => Err(name_conflict(&to)),
        Err(e) => Err(e),
    };
    (r, to)
}

/// What [`move_local`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    /// Renamed into place on the destination mountpath.
    Moved,
    /// The destination already had a copy at least as new: the source was removed.
    DroppedOlder,
    /// The source was gone (deleted or moved meanwhile).
    Gone,
}

/// Move an object between two mountpaths on the same file system by rename (resilver).
/// Never replaces a newer copy at the destination (e.g. a client PUT after the mountpath
/// change): when both exist the newer modification time wins. With `fsync`, the
/// destination directory is synced before the source name can be considered gone.
/// Blocking (metadata only).
pub fn move_local(
    src: &Mountpath,
    dst: &Mountpath,
    bck: &Bck,
    object: &str,
    fsync: bool,
) -> Result<Moved> {
    let from = locate(src, bck, object);
    let (placed, to) = place_file_noreplace(&from, dst, bck, object);
    let out = match placed {
        Ok(()) => Moved::Moved,
        Err(Error::NotFound(_)) => return Ok(Moved::Gone),
        Err(Error::Exists(_)) => {
            let mtime = |p: &Path| {
                std::fs::metadata(p)
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .map(|t| t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default())
            };
            match (mtime(&from), mtime(&to)) {
                (None, _) => return Ok(Moved::Gone),
                (Some(a), Some(b)) if a > b => {
                    std::fs::rename(&from, &to).map_err(|e| Error::io("rename", &to, e))?;
                    Moved::Moved
                }
                _ => {
                    match delete(src, bck, object) {
                        Ok(()) | Err(Error::NotFound(_)) => {}
                        Err(e) => return Err(e),
                    }
                    return Ok(Moved::DroppedOlder);
                }
            }
        }
        Err(e) => return Err(e),
    };
    if fsync {
        if let Some(parent) = to.parent() {
            std::fs::File::open(parent)
                .and_then(|d| d.sync_all())
                .map_err(|e| Error::io("fsync dir", parent, e))?;
        }
    }
    prune_empty_parents(src, bck, &from);
    // The shard index stays behind on `src`: drop it (it is rebuilt on `dst` when needed).
    let _ = crate::shardidx::remove(&src.path, bck, object);
    Ok(out)
}

fn set_lom_fd(file: &DmaFile, enc: &[u8]) -> std::io::Result<()> {
    rustix::fs::fsetxattr(
        dma_fd(file),
        XATTR_LOM,
        enc,
        rustix::fs::XattrFlags::empty(),
    )
    .map_err(Into::into)
}

/// Decode the xattr bytes `xattr` of the object at `path`, then check them against the file's
/// `stat` (called only once the bytes decoded): the sizes must agree, and atime and mtime come
/// from the file.
pub(crate) fn lom_from_xattr(
    xattr: &[u8],
    path: &Path,
    stat: impl FnOnce() -> Result<rustix::fs::Stat>,
) -> Result<Lom> {
    let mut lom = Lom::decode(xattr).map_err(|e| Error::Corrupt {
        path: path.into(),
        detail: e.to_string(),
    })?;
    let st = stat()?;
    if st.st_size as u64 != lom.size {
        return Err(Error::Corrupt {
            path: path.into(),
            detail: format!(
                "file size {} differs from metadata size {}",
                st.st_size, lom.size
            ),
        });
    }
    // The `stat` time fields are i64 on 64-bit Linux but narrower elsewhere.
    #[allow(clippy::unnecessary_cast)]
    {
        lom.atime_ns = st.st_atime as i64 * 1_000_000_000 + st.st_atime_nsec as i64;
        lom.mtime_ns = st.st_mtime as i64 * 1_000_000_000 + st.st_mtime_nsec as i64;
    }
    Ok(lom)
}

fn lom_err(path: &Path, e: rustix::io::Errno) -> Error {
    if e == rustix::io::Errno::NODATA {
        Error::Corrupt {
            path: path.into(),
            detail: format!("no {XATTR_LOM} xattr"),
        }
    } else {
        Error::io("getxattr", path, e.into())
    }
}

/// Read an object's metadata by path (blocking metadata syscalls; used for HEAD and listing).
pub fn read_lom_path(path: &Path) -> Result<Lom> {
    let mut buf = [0u8; LOM_BYTES_MAX];
    let n = rustix::fs::getxattr(path, XATTR_LOM, &mut buf[..]).map_err(|e| {
        if e == rustix::io::Errno::NOENT || e == rustix::io::Errno::NOTDIR || path.is_dir() {
            Error::NotFound(path.into())
        } else {
            lom_err(path, e)
        }
    })?;
    lom_from_xattr(&buf[..n], path, || {
        rustix::fs::stat(path).map_err(|e| Error::io("stat", path, e.into()))
    })
}

/// Check the object file at `path` against its own metadata (one open file, so one inode):
/// its length and, for a checksum type this engine computes, its checksum (an object of type
/// `none` or of an unknown type counts as intact). Its metadata and, if it is damaged, why.
/// Metadata that does not decode or disagrees with the file's size is [`Error::Corrupt`].
/// Blocking reads of the whole file.
pub fn check_path(path: &Path) -> Result<(Lom, Option<String>)> {
    use std::io::Read;
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NotFound(path.into()))
        }
        Err(e) => return Err(Error::io("open", path, e)),
    };
    let mut buf = [0u8; LOM_BYTES_MAX];
    let n = rustix::fs::fgetxattr(&f, XATTR_LOM, &mut buf[..]).map_err(|e| lom_err(path, e))?;
    let lom = lom_from_xattr(&buf[..n], path, || {
        rustix::fs::fstat(&f).map_err(|e| Error::io("fstat", path, e.into()))
    })?;
    let mut h = lom.verifiable_cksum().map(Hasher::new);
    let mut data = vec![0u8; READ_BUFFER_BYTES];
    let mut len = 0u64;
    loop {
        let k = f.read(&mut data).map_err(|e| Error::io("read", path, e))?;
        if k == 0 {
            break;
        }
        if let Some(h) = &mut h {
            h.update(&data[..k]);
        }
        len += k as u64;
    }
    if len != lom.size {
        let why = format!("read {len} bytes, metadata size {}", lom.size);
        return Ok((lom, Some(why)));
    }
    let why = h.map(Hasher::finish).and_then(|actual| {
        (actual != lom.cksum_value).then(|| {
            format!(
                "BAD DATA CHECKSUM: stored {}, computed {actual}",
                lom.cksum_value
            )
        })
    });
    Ok((lom, why))
}

/// Replace an object's custom metadata (blocking xattr write; the data is untouched).
pub fn set_custom(path: &Path, custom: Vec<(String, String)>) -> Result<Lom> {
    let mut lom = read_lom_path(path)?;
    lom.custom = custom;
    let enc = lom.encode();
    rustix::fs::setxattr(path, XATTR_LOM, &enc, rustix::fs::XattrFlags::empty())
        .map_err(|e| Error::io("setxattr", path, e.into()))?;
    Ok(lom)
}

/// An open object: metadata plus a DMA file to stream from (shared with this core's
/// [`crate::opencache`] when it caches).
pub struct ObjectReader {
    pub lom: Lom,
    pub fqn: PathBuf,
    file: Rc<DmaFile>,
}

impl ObjectReader {
    pub async fn open(mp: &Mountpath, bck: &Bck, object: &str) -> Result<ObjectReader> {
        Self::open_path(locate(mp, bck, object)).await
    }

    /// Open any object-format file (object or multipart part) by full path.
    pub async fn open_path(fqn: PathBuf) -> Result<ObjectReader> {
        use crate::opencache::{self, Lookup};
        let caching = match opencache::lookup(&fqn) {
            Lookup::Off => false,
            Lookup::Miss => true,
            Lookup::Hit(file, lom) => return Ok(ObjectReader { lom, fqn, file }),
            Lookup::Reread(file, stamp, atime_ns, read_at) => {
                let fd = dma_fd(&file);
                let mut buf = [0u8; LOM_BYTES_MAX];
                let lom = rustix::fs::fgetxattr(fd, XATTR_LOM, &mut buf[..])
                    .map_err(|e| lom_err(&fqn, e))
                    .and_then(|n| lom_checked(&buf[..n], &fqn, stamp, atime_ns));
                return match lom {
                    Ok(lom) => {
                        opencache::insert(&fqn, &file, &lom, stamp, read_at);
                        Ok(ObjectReader { lom, fqn, file })
                    }
                    Err(e) => {
                        opencache::forget(&fqn);
                        Err(e)
                    }
                };
            }
        };
        // Opened on this thread (see `open_dma`); the stat and statfs are of the descriptor,
        // so a concurrent unlink cannot fail them.
        let read_at = crate::opencache::now_ns();
        let file = match open_dma(&fqn) {
            Ok(f) => Rc::new(f),
            Err(e) => {
                return Err(match e.raw_os_error() {
                    Some(2) | Some(20) | Some(21) => Error::NotFound(fqn),
                    // A name that is a directory of other objects' names is no object.
                    _ if fqn.is_dir() => Error::NotFound(fqn),
                    _ => Error::io("open", &fqn, e),
                });
            }
        };
        let fd = dma_fd(&file);
        let st = match rustix::fs::fstat(fd) {
            Ok(st) => st,
            Err(e) => {
                let _ = file.close_rc().await;
                return Err(Error::io("fstat", &fqn, e.into()));
            }
        };
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
            let _ = file.close_rc().await;
            return Err(Error::NotFound(fqn));
        }
        // The stat precedes the xattr read: a change after it moves ctime (see opencache).
        let stamp = crate::opencache::stamp_fd(&st);
        #[allow(clippy::unnecessary_cast)]
        let atime_ns = st.st_atime as i64 * 1_000_000_000 + st.st_atime_nsec as i64;
        let mut buf = [0u8; LOM_BYTES_MAX];
        let lom = rustix::fs::fgetxattr(dma_fd(&file), XATTR_LOM, &mut buf[..])
            .map_err(|e| lom_err(&fqn, e))
            .and_then(|n| lom_checked(&buf[..n], &fqn, stamp, atime_ns));
        let lom = match lom {
            Ok(l) => l,
            Err(e) => {
                let _ = file.close_rc().await;
                return Err(e);
            }
        };
        if caching {
            opencache::insert(&fqn, &file, &lom, stamp, read_at);
        }
        Ok(ObjectReader { lom, fqn, file })
    }

    /// Stream `[start, start+len)` with read-ahead. Buffers come back at most
    /// [`READ_BUFFER_BYTES`] long via `get_buffer_aligned`.
    pub fn stream(self, start: u64, len: u64) -> DmaStreamReader {
        // Size buffers and read-ahead to the range: a 4 KiB GET must not allocate (and have
        // the kernel zero) READ_AHEAD x 1 MiB of DMA memory.
        let first_block = start / 4096 * 4096;
        let span = (start + len).div_ceil(4096) * 4096 - first_block;
        // glommio's stream reader indexes buffers by `pos / buffer_size`: keep it a power of two.
        let buffer = (span.max(4096) as usize)
            .next_power_of_two()
            .min(READ_BUFFER_BYTES);
        let ahead = (span.div_ceil(buffer as u64) as usize).clamp(1, READ_AHEAD);
        DmaStreamReaderBuilder::from_rc(self.file)
            .with_buffer_size(buffer)
            .with_read_ahead(ahead)
            .with_start_pos(start)
            .with_end_pos(start + len)
            .build()
    }

    /// Read all of `[start, start+len)` with one aligned DMA read (for ranges up to
    /// [`READ_BUFFER_BYTES`]): no stream state, no read-ahead tasks.
    pub async fn read_range(&self, start: u64, len: usize) -> std::io::Result<ReadResult> {
        let t = std::time::Instant::now();
        let r = self.file.read_at(start, len).await;
        crate::iostat::read_done(t, len);
        r.map_err(std::io::Error::from)
    }

    pub async fn close(self) {
        let _ = self.file.close_rc().await;
    }
}

/// Decode the xattr bytes of the object at `path` and check them against the file's stamp
/// (taken before the xattr was read): sizes agree; atime and mtime come from the file.
fn lom_checked(
    xattr: &[u8],
    path: &Path,
    stamp: crate::opencache::Stamp,
    atime_ns: i64,
) -> Result<Lom> {
    let mut lom = Lom::decode(xattr).map_err(|e| Error::Corrupt {
        path: path.into(),
        detail: e.to_string(),
    })?;
    if stamp.size != lom.size {
        return Err(Error::Corrupt {
            path: path.into(),
            detail: format!(
                "file size {} differs from metadata size {}",
                stamp.size, lom.size
            ),
        });
    }
    lom.atime_ns = atime_ns;
    lom.mtime_ns = stamp.mtime_ns;
    Ok(lom)
}

/// One aligned O_DIRECT write of `len` bytes at `pos`, all of them or an error. The kernel
/// may write only part of a buffer (a full file system: a fallocate that failed earlier is
/// ignored); counting that as written would commit an object shorter than its metadata says.
/// Writing the rest tells why (ENOSPC, EDQUOT, EIO, classified by [`Error::io`]): its bytes
/// do not matter, the work file is removed when the error aborts the write.
async fn write_whole(
    file: &DmaFile,
    buf: DmaBuffer,
    pos: u64,
    len: usize,
) -> std::io::Result<usize> {
    let n = file.write_at(buf, pos).await?;
    if n == len {
        return Ok(n);
    }
    let short =
        || std::io::Error::other(format!("short write: {n} of {len} bytes at offset {pos}"));
    if !n.is_multiple_of(4096) || n > len {
        return Err(short());
    }
    let mut rest = file.alloc_dma_buffer(len - n);
    rest.as_bytes_mut().fill(0);
    match file.write_at(rest, pos + n as u64).await {
        Err(e) => Err(e.into()),
        Ok(_) => Err(short()),
    }
}

/// Create a new work file for O_DIRECT writes (read and write; fails if it exists), opened
/// on this thread: see [`DmaFile::from_file`].
fn create_dma(path: &Path) -> std::io::Result<DmaFile> {
    open_direct(path, true)
}

/// Open an existing file for O_DIRECT reads on this thread (see [`DmaFile::from_file`]).
fn open_dma(path: &Path) -> std::io::Result<DmaFile> {
    open_direct(path, false)
}

/// `openat(2)` with O_DIRECT (a file system without it, such as tmpfs, answers EINVAL: then
/// without, and DmaFile decides), wrapped as a DMA file. `create`: a new file for reading
/// and writing, else an existing one for reading.
fn open_direct(path: &Path, create: bool) -> std::io::Result<DmaFile> {
    use std::os::unix::fs::OpenOptionsExt;
    let direct = rustix::fs::OFlags::DIRECT.bits() as i32;
    let open = |flags: i32| {
        std::fs::OpenOptions::new()
            .create_new(create)
            .read(true)
            .write(create)
            .custom_flags(flags)
            .open(path)
    };
    let (f, flags) = match open(direct) {
        Ok(f) => (f, direct),
        Err(e) if e.raw_os_error() == Some(22) => (open(0)?, 0),
        Err(e) => return Err(e),
    };
    let access = if create {
        rustix::fs::OFlags::RDWR.bits() as i32
    } else {
        0
    };
    DmaFile::from_file(f, path, flags | access)
}

/// Remove an object. Blocking unlink (metadata only).
pub fn delete(mp: &Mountpath, bck: &Bck, object: &str) -> Result<()> {
    let fqn = locate(mp, bck, object);
    match std::fs::symlink_metadata(&fqn) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err(Error::NotFound(fqn)),
        Err(e) => return Err(Error::io("stat", &fqn, e)),
    }
    std::fs::remove_file(&fqn).map_err(|e| Error::io("unlink", &fqn, e))?;
    crate::opencache::forget(&fqn);
    prune_empty_parents(mp, bck, &fqn);
    // Its shard index goes with it (one unlink, usually of nothing). A sidecar left behind
    // by a failure here is stale-detected, never served.
    let _ = crate::shardidx::remove(&mp.path, bck, object);
    Ok(())
}

/// Remove the now-empty parent directories of a removed object up to `%ob` (or `%ox`), so
/// listings stay clean. Blocking (metadata only).
fn prune_empty_parents(mp: &Mountpath, bck: &Bck, fqn: &Path) {
    let esc = bck.dir(&mp.path).join(crate::layout::CT_ESCAPED);
    let stop = if fqn.starts_with(&esc) {
        esc
    } else {
        bck.dir(&mp.path).join(crate::layout::CT_OBJECT)
    };
    let mut dir = fqn.parent().map(Path::to_path_buf);
    while let Some(d) = dir {
        if d == stop || std::fs::remove_dir(&d).is_err() {
            break;
        }
        dir = d.parent().map(Path::to_path_buf);
    }
}
