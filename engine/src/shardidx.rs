//! The persisted shard index: the member table of one shard (tar, or zip) kept in a sidecar
//! file beside the object, so that after a restart a member read is still one lookup plus
//! one ranged read instead of a scan. The format is ours, open and versioned; it is
//! specified byte by byte in docs/shard-index.md (keep the two in step).
//!
//! Where: `<mountpath>/@<provider>[/<ns>]/<bucket>/%si/<escaped object name>` on the
//! mountpath of the object it describes (the escaped form of docs/on-disk-format.md `%ox`,
//! so a sidecar never meets a file/directory conflict). Listings walk `%ob` and `%ox` only,
//! so a sidecar is never an object. Written through a work file under `%wk` and renamed
//! into place; not fsynced: it can always be rebuilt from the object, and a torn or lost
//! write is caught by its own checksum.
//!
//! # Invariants
//! - A sidecar is used only if its own XXH64 matches, it decodes completely within every
//!   bound, and it was built from the object as it is now ([`IndexedFrom::matches`]: size,
//!   checksum type and value, version; and the modification time when the object has no
//!   checksum). Anything else is [`Loaded::Invalid`] or [`Loaded::Stale`]: never trusted.
//! - Every member lies inside the object (`offset + stored size <= object size`).
//!
//! # What this module does not do
//! Compressed tars (tgz, tar.lz4): their member offsets are in the decompressed stream, so
//! an index saves no read and is not persisted. Cleaning sidecars whose object moved to
//! another target (they are stale-detected if an object of that name comes back).

use crate::archive::{Format, Index, Member, INDEX_MEMBERS_MAX};
use crate::layout::{escaped_rel, Bck};
use crate::lom::Lom;
use std::io;
use std::path::{Path, PathBuf};

/// Content-type directory of shard-index sidecars.
pub const CT_SHARD_INDEX: &str = "%si";
/// First eight bytes of every sidecar.
pub const MAGIC: &[u8; 8] = b"AISSHIDX";
/// The format version this code writes and reads.
pub const VERSION: u16 = 1;
/// Fixed header bytes before the four strings.
pub const HEADER_BYTES: usize = 40;
/// Trailing XXH64 of everything before it.
pub const TRAILER_BYTES: usize = 8;
/// Longest member name stored (a PAX path may be long, but not this long).
pub const NAME_BYTES_MAX: usize = 64 << 10;
/// Largest sidecar written or read: an index over it is not persisted (it stays in memory).
pub const FILE_BYTES_MAX: u64 = 256 << 20;
/// Fixed bytes of one entry besides its name.
const ENTRY_FIXED_BYTES: usize = 4 + 8 + 8 + 8 + 2 + 4;
const _: () = assert!(HEADER_BYTES + TRAILER_BYTES < FILE_BYTES_MAX as usize);
const _: () = assert!(INDEX_MEMBERS_MAX * ENTRY_FIXED_BYTES < FILE_BYTES_MAX as usize);

/// The object instance an index was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedFrom {
    pub object: String,
    pub size: u64,
    pub mtime_ns: i64,
    pub cksum_type: String,
    pub cksum_value: String,
    pub version: String,
}

impl IndexedFrom {
    pub fn of(object: &str, lom: &Lom) -> IndexedFrom {
        IndexedFrom {
            object: object.to_string(),
            size: lom.size,
            mtime_ns: lom.mtime_ns,
            cksum_type: lom.cksum_type.clone(),
            cksum_value: lom.cksum_value.clone(),
            version: lom.version.clone(),
        }
    }

    /// Why an index built from `self` does not describe `now` (`None`: it does). Without
    /// a checksum the modification time stands in for the content.
    pub fn mismatch(&self, now: &IndexedFrom) -> Option<String> {
        if self.object != now.object {
            return Some(format!("built for object {:?}", self.object));
        }
        if self.size != now.size {
            return Some(format!(
                "built from {} bytes, object has {}",
                self.size, now.size
            ));
        }
        if self.cksum_type != now.cksum_type || self.cksum_value != now.cksum_value {
            return Some(format!(
                "built from checksum {}:{}, object has {}:{}",
                self.cksum_type, self.cksum_value, now.cksum_type, now.cksum_value
            ));
        }
        if self.version != now.version {
            return Some(format!(
                "built from version {:?}, object has {:?}",
                self.version, now.version
            ));
        }
        if now.cksum_value.is_empty() && self.mtime_ns != now.mtime_ns {
            return Some("object without checksum was modified since".into());
        }
        None
    }
}

/// Formats a sidecar may describe (those whose members are stored as they are).
pub fn persists(format: Format) -> bool {
    matches!(format, Format::Tar | Format::Zip)
}

fn format_code(f: Format) -> u8 {
    match f {
        Format::Tar => 1,
        Format::Zip => 2,
        // Not persisted (see `persists`); callers check first.
        Format::Tgz => 3,
        Format::TarLz4 => 4,
    }
}

/// The sidecar path of `object` of `bck` on the mountpath rooted at `mountpath`.
pub fn path(mountpath: &Path, bck: &Bck, object: &str) -> PathBuf {
    let dir = bck.dir(mountpath).join(CT_SHARD_INDEX);
    let p = dir.join(escaped_rel(object));
    assert!(
        p.starts_with(&dir),
        "{} outside {CT_SHARD_INDEX}",
        p.display()
    );
    p
}

/// Encode an index (`None` if the format is not persisted or the result would be over
/// [`FILE_BYTES_MAX`]).
pub fn encode(from: &IndexedFrom, idx: &Index) -> Option<Vec<u8>> {
    if !persists(idx.format) || idx.members.len() > INDEX_MEMBERS_MAX {
        return None;
    }
    let strings = [
        &from.object,
        &from.cksum_type,
        &from.cksum_value,
        &from.version,
    ];
    if strings.iter().any(|s| s.len() > u16::MAX as usize)
        || idx.members.iter().any(|m| m.name.len() > NAME_BYTES_MAX)
    {
        return None;
    }
    let total = HEADER_BYTES
        + strings.iter().map(|s| 2 + s.len()).sum::<usize>()
        + idx
            .members
            .iter()
            .map(|m| ENTRY_FIXED_BYTES + m.name.len())
            .sum::<usize>()
        + TRAILER_BYTES;
    if total as u64 > FILE_BYTES_MAX {
        return None;
    }
    let mut b = Vec::with_capacity(total);
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&VERSION.to_le_bytes());
    b.push(format_code(idx.format));
    b.push(0);
    b.extend_from_slice(&(idx.members.len() as u32).to_le_bytes());
    b.extend_from_slice(&from.size.to_le_bytes());
    b.extend_from_slice(&from.mtime_ns.to_le_bytes());
    b.extend_from_slice(&idx.end.to_le_bytes());
    assert_eq!(b.len(), HEADER_BYTES);
    for s in strings {
        b.extend_from_slice(&(s.len() as u16).to_le_bytes());
        b.extend_from_slice(s.as_bytes());
    }
    for m in &idx.members {
        b.extend_from_slice(&(m.name.len() as u32).to_le_bytes());
        b.extend_from_slice(m.name.as_bytes());
        b.extend_from_slice(&m.offset.to_le_bytes());
        b.extend_from_slice(&m.size.to_le_bytes());
        b.extend_from_slice(&m.csize.to_le_bytes());
        b.extend_from_slice(&m.method.to_le_bytes());
        b.extend_from_slice(&m.crc32.to_le_bytes());
    }
    let sum = xxhash_rust::xxh64::xxh64(&b, 0);
    b.extend_from_slice(&sum.to_le_bytes());
    assert_eq!(b.len(), total);
    Some(b)
}

/// Bounds-checked reads of a sidecar's bytes.
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| format!("truncated at byte {} (wanted {n} more)", self.at))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn string(&mut self, n: usize, what: &str) -> Result<String, String> {
        let at = self.at;
        String::from_utf8(self.take(n)?.to_vec())
            .map_err(|_| format!("{what} at byte {at} is not UTF-8"))
    }
}

/// Decode a sidecar: what it was built from and the index. `Err` names the first fault
/// (checksum, magic, version, a bound); such a sidecar is never used.
pub fn decode(b: &[u8]) -> Result<(IndexedFrom, Index), String> {
    if b.len() < HEADER_BYTES + 4 * 2 + TRAILER_BYTES {
        return Err(format!("{} bytes: shorter than any index", b.len()));
    }
    if b.len() as u64 > FILE_BYTES_MAX {
        return Err(format!("{} bytes: over FILE_BYTES_MAX", b.len()));
    }
    let (body, trailer) = b.split_at(b.len() - TRAILER_BYTES);
    let want = u64::from_le_bytes(trailer.try_into().expect("8 bytes"));
    let got = xxhash_rust::xxh64::xxh64(body, 0);
    if want != got {
        return Err(format!(
            "checksum mismatch (stored {want:016x}, computed {got:016x})"
        ));
    }
    let mut c = Cursor { b: body, at: 0 };
    if c.take(8)? != MAGIC {
        return Err("bad magic".into());
    }
    let version = c.u16()?;
    if version != VERSION {
        return Err(format!(
            "format version {version} (this node reads {VERSION})"
        ));
    }
    let format = match c.take(2)? {
        [1, 0] => Format::Tar,
        [2, 0] => Format::Zip,
        [f, r] => return Err(format!("archive format {f}, reserved {r}")),
        _ => unreachable!("took 2 bytes"),
    };
    let count = c.u32()? as usize;
    if count > INDEX_MEMBERS_MAX {
        return Err(format!("{count} members, over INDEX_MEMBERS_MAX"));
    }
    let size = c.u64()?;
    let mtime_ns = c.u64()? as i64;
    let end = c.u64()?;
    if end > size {
        return Err(format!("end {end} past the object's {size} bytes"));
    }
    let mut strs = Vec::with_capacity(4);
    for what in ["object name", "checksum type", "checksum value", "version"] {
        let n = c.u16()? as usize;
        strs.push(c.string(n, what)?);
    }
    let [object, cksum_type, cksum_value, version]: [String; 4] =
        strs.try_into().expect("four strings");
    // Each entry takes at least ENTRY_FIXED_BYTES: a count the bytes cannot hold is a lie.
    if count > (body.len() - c.at) / ENTRY_FIXED_BYTES {
        return Err(format!(
            "{count} members do not fit in {} bytes",
            body.len()
        ));
    }
    let mut members = Vec::with_capacity(count);
    for i in 0..count {
        let n = c.u32()? as usize;
        if n == 0 || n > NAME_BYTES_MAX {
            return Err(format!("member {i}: name of {n} bytes"));
        }
        let name = c.string(n, "member name")?;
        let (offset, msize, csize) = (c.u64()?, c.u64()?, c.u64()?);
        let method = c.u16()?;
        let crc32 = c.u32()?;
        let ok = match format {
            Format::Tar => method == 0 && csize == msize && crc32 == 0,
            _ => method == 0 && csize == msize || method == 8,
        };
        if !ok {
            return Err(format!(
                "member {i} ({name:?}): method {method}, sizes {msize}/{csize}"
            ));
        }
        if offset.checked_add(csize).is_none_or(|e| e > size) {
            return Err(format!(
                "member {i} ({name:?}) at {offset}+{csize} past the object's {size} bytes"
            ));
        }
        members.push(Member {
            name,
            size: msize,
            offset,
            csize,
            method,
            crc32,
        });
    }
    if c.at != body.len() {
        return Err(format!("{} bytes after the last member", body.len() - c.at));
    }
    let from = IndexedFrom {
        object,
        size,
        mtime_ns,
        cksum_type,
        cksum_value,
        version,
    };
    Ok((from, Index::from_members(format, members, end)))
}

/// What a look at a sidecar found.
#[derive(Debug)]
pub enum Loaded {
    /// No sidecar.
    Absent,
    /// Valid for the object as it is now.
    Valid(Index),
    /// Intact, but built from another instance of the object (or another format): why.
    Stale(String),
    /// Unreadable or damaged: why.
    Invalid(String),
}

/// Read and check the sidecar at `path` against the object as it is now (`now`, read as
/// `format`). Blocking.
pub fn load(path: &Path, now: &IndexedFrom, format: Format) -> Loaded {
    let bytes = match std::fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Loaded::Absent,
        Err(e) => return Loaded::Invalid(format!("stat: {e}")),
        Ok(md) if md.len() > FILE_BYTES_MAX => {
            return Loaded::Invalid(format!("{} bytes: over FILE_BYTES_MAX", md.len()))
        }
        Ok(_) => match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Loaded::Absent,
            Err(e) => return Loaded::Invalid(format!("read: {e}")),
        },
    };
    match decode(&bytes) {
        Err(why) => Loaded::Invalid(why),
        Ok((_, idx)) if idx.format != format => Loaded::Stale(format!(
            "built as {}, read as {}",
            idx.format.ext(),
            format.ext()
        )),
        Ok((from, idx)) => match from.mismatch(now) {
            Some(why) => Loaded::Stale(why),
            None => Loaded::Valid(idx),
        },
    }
}

/// Whether `object` has a sidecar on the mountpath (any, valid or not). Blocking.
pub fn exists(mountpath: &Path, bck: &Bck, object: &str) -> bool {
    path(mountpath, bck, object).is_file()
}

/// Write the sidecar of `object` (work file under `%wk`, then rename over any older one).
/// `Ok(false)`: not persisted (format or size). Blocking.
pub fn store(mountpath: &Path, bck: &Bck, from: &IndexedFrom, idx: &Index) -> io::Result<bool> {
    let Some(bytes) = encode(from, idx) else {
        return Ok(false);
    };
    let dst = path(mountpath, bck, &from.object);
    let work = bck.work_dir(mountpath).join(format!(
        "shidx.{:016x}.{}",
        xxhash_rust::xxh64::xxh64(from.object.as_bytes(), 0),
        crate::object::unique_suffix()
    ));
    match std::fs::write(&work, &bytes) {
        // A mountpath attached after the bucket was made may lack `%wk`.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir(bck.work_dir(mountpath))?;
            std::fs::write(&work, &bytes)?;
        }
        r => r?,
    }
    // `%si` only inside an existing bucket directory (never re-make a destroyed bucket's),
    // then the piece directories of a long name.
    let si = bck.dir(mountpath).join(CT_SHARD_INDEX);
    let parent = dst.parent().expect("a sidecar path has a parent");
    let placed = match std::fs::create_dir(&si) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
        _ => std::fs::create_dir_all(parent),
    }
    .and_then(|()| std::fs::rename(&work, &dst));
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&work);
        return Err(e);
    }
    Ok(true)
}

/// Remove the sidecar of `object` if there is one (and the piece directories of a long
/// name that are left empty). Blocking.
pub fn remove(mountpath: &Path, bck: &Bck, object: &str) -> io::Result<()> {
    let p = path(mountpath, bck, object);
    match std::fs::remove_file(&p) {
        Ok(()) => {}
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(())
        }
        Err(e) => return Err(e),
    }
    let stop = bck.dir(mountpath).join(CT_SHARD_INDEX);
    let mut dir = p.parent().map(Path::to_path_buf);
    while let Some(d) = dir {
        if d == stop || std::fs::remove_dir(&d).is_err() {
            break;
        }
        dir = d.parent().map(Path::to_path_buf);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from() -> IndexedFrom {
        IndexedFrom {
            object: "shards/s-001.tar".into(),
            size: 10240,
            mtime_ns: 1_700_000_000_123_456_789,
            cksum_type: "xxhash2".into(),
            cksum_value: "0123456789abcdef".into(),
            version: "3".into(),
        }
    }

    fn tar_index() -> Index {
        let m = |name: &str, offset: u64, size: u64| Member {
            name: name.into(),
            size,
            offset,
            csize: size,
            method: 0,
            crc32: 0,
        };
        Index::from_members(
            Format::Tar,
            vec![
                m("000001.jpg", 512, 3000),
                m("000001.cls", 4096, 1),
                m("dir/é long name.txt", 5120, 0),
            ],
            5120,
        )
    }

    #[test]
    fn round_trip_tar_and_zip() {
        let f = from();
        let idx = tar_index();
        let b = encode(&f, &idx).expect("encodes");
        assert_eq!(&b[..8], MAGIC);
        let (f2, idx2) = decode(&b).expect("decodes");
        assert_eq!(f2, f);
        assert_eq!(idx2.format, Format::Tar);
        assert_eq!(idx2.members, idx.members);
        assert_eq!(idx2.end, idx.end);
        assert_eq!(idx2.find("000001.cls").map(|m| m.offset), Some(4096));

        let zip = Index::from_members(
            Format::Zip,
            vec![Member {
                name: "a.txt".into(),
                size: 100,
                offset: 40,
                csize: 60,
                method: 8,
                crc32: 0xdead_beef,
            }],
            f.size,
        );
        let (_, z2) = decode(&encode(&f, &zip).expect("zip encodes")).expect("zip decodes");
        assert_eq!(z2.members, zip.members);
        assert_eq!(z2.format, Format::Zip);
        // Compressed tars are not persisted.
        let tgz = Index::from_members(Format::Tgz, vec![], 0);
        assert!(encode(&f, &tgz).is_none());
    }

    #[test]
    fn any_flipped_byte_is_rejected() {
        let b = encode(&from(), &tar_index()).expect("encodes");
        for i in 0..b.len() {
            let mut c = b.clone();
            c[i] ^= 0x20;
            assert!(decode(&c).is_err(), "flipped byte {i} accepted");
        }
        for n in 0..b.len() {
            assert!(decode(&b[..n]).is_err(), "truncated to {n} accepted");
        }
    }

    /// Re-seal a body whose fields were altered, as a buggy writer would.
    fn sealed(mut body: Vec<u8>) -> Vec<u8> {
        body.truncate(body.len() - TRAILER_BYTES);
        let s = xxhash_rust::xxh64::xxh64(&body, 0);
        body.extend_from_slice(&s.to_le_bytes());
        body
    }

    #[test]
    fn bad_fields_are_rejected_even_with_a_good_checksum() {
        let good = encode(&from(), &tar_index()).expect("encodes");
        // version 2
        let mut b = good.clone();
        b[8] = 2;
        assert!(decode(&sealed(b)).unwrap_err().contains("version"));
        // unknown archive format
        let mut b = good.clone();
        b[10] = 9;
        assert!(decode(&sealed(b)).is_err());
        // member count larger than the entries
        let mut b = good.clone();
        b[12] = 200;
        assert!(decode(&sealed(b)).is_err());
        // a member past the object's end: shrink the recorded size
        let mut f = from();
        f.size = 4000;
        let mut idx = tar_index();
        idx.end = 0;
        assert!(decode(&encode(&f, &idx).expect("encodes"))
            .unwrap_err()
            .contains("past the object"));
    }

    #[test]
    fn long_names_use_piece_directories_that_go_with_the_sidecar() {
        let dir = std::env::temp_dir().join(format!("shidx-long-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let bck = Bck::ais("b");
        std::fs::create_dir_all(bck.dir(&dir)).expect("bucket dir");
        let mut f = from();
        f.object = format!("deep/{}/x.tar", "n".repeat(400));
        // `%wk` is made when missing (a mountpath attached later).
        assert!(store(&dir, &bck, &f, &tar_index()).expect("stored"));
        let p = path(&dir, &bck, &f.object);
        assert_ne!(
            p.parent(),
            Some(bck.dir(&dir).join(CT_SHARD_INDEX).as_path())
        );
        assert!(matches!(load(&p, &f, Format::Tar), Loaded::Valid(_)));
        remove(&dir, &bck, &f.object).expect("removed");
        let si = bck.dir(&dir).join(CT_SHARD_INDEX);
        assert_eq!(std::fs::read_dir(&si).expect("ls %si").count(), 0);
        // No bucket directory: nothing is made.
        let gone = Bck::ais("gone");
        assert!(store(&dir, &gone, &f, &tar_index()).is_err());
        assert!(!gone.dir(&dir).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn stale_index_is_rejected() {
        let dir = std::env::temp_dir().join(format!("shidx-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let bck = Bck::ais("b");
        std::fs::create_dir_all(bck.work_dir(&dir)).expect("work dir");
        let f = from();
        assert!(store(&dir, &bck, &f, &tar_index()).expect("stored"));
        let p = path(&dir, &bck, &f.object);
        assert!(p.starts_with(bck.dir(&dir).join(CT_SHARD_INDEX)));
        assert!(matches!(load(&p, &f, Format::Tar), Loaded::Valid(_)));
        // Another format requested: not this index.
        assert!(matches!(load(&p, &f, Format::Zip), Loaded::Stale(_)));
        let mut other = f.clone();
        other.size += 1;
        assert!(matches!(load(&p, &other, Format::Tar), Loaded::Stale(_)));
        let mut other = f.clone();
        other.cksum_value = "fedcba9876543210".into();
        assert!(matches!(load(&p, &other, Format::Tar), Loaded::Stale(_)));
        let mut other = f.clone();
        other.version = "4".into();
        assert!(matches!(load(&p, &other, Format::Tar), Loaded::Stale(_)));
        let mut other = f.clone();
        other.object = "shards/s-002.tar".into();
        assert!(matches!(load(&p, &other, Format::Tar), Loaded::Stale(_)));
        // A copy elsewhere (another mtime) with the same checksum is the same content ...
        let mut other = f.clone();
        other.mtime_ns += 1;
        assert!(matches!(load(&p, &other, Format::Tar), Loaded::Valid(_)));
        // ... but without a checksum the mtime decides.
        let mut nock = f.clone();
        nock.cksum_type.clear();
        nock.cksum_value.clear();
        assert!(store(&dir, &bck, &nock, &tar_index()).expect("stored"));
        assert!(matches!(load(&p, &nock, Format::Tar), Loaded::Valid(_)));
        nock.mtime_ns += 1;
        assert!(matches!(load(&p, &nock, Format::Tar), Loaded::Stale(_)));
        // A damaged file is invalid, never stale or valid.
        let mut b = std::fs::read(&p).expect("read");
        b[50] ^= 1;
        std::fs::write(&p, &b).expect("write");
        assert!(matches!(load(&p, &f, Format::Tar), Loaded::Invalid(_)));
        remove(&dir, &bck, &f.object).expect("removed");
        assert!(matches!(load(&p, &f, Format::Tar), Loaded::Absent));
        remove(&dir, &bck, &f.object).expect("removing twice is fine");
        // No work files left behind.
        assert_eq!(
            std::fs::read_dir(bck.work_dir(&dir)).expect("ls").count(),
            0
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
