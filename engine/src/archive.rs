//! Reading shards (archives) as AIS does (`cmn/archive`): tar, tar.gz/tgz, zip (stored and
//! deflate) and tar.lz4. Lists members (name, size, where the data is), reads one member,
//! selects members by AIS's match modes, and keeps a per-core, bounded cache of shard indexes
//! so that a member of an uncompressed tar (or a stored zip member) is one index lookup plus
//! one ranged read of the object.
//!
//! All reading here is synchronous (`pread` through [`Source`]): callers on an executor run
//! it on the core's blocking thread. The fast path (one member of an uncompressed tar) needs
//! only [`Index::contiguous`] and a DMA read by the caller.
//!
//! # Invariants
//! - A member offset is the offset of its first data byte in the uncompressed tar stream
//!   (tar, tgz, tar.lz4) or in the object (zip: after the local header).
//! - Directories, links and other non-regular tar entries are not members (AIS lists files).
//! - An index is used only for the exact object instance it was built from (size, mtime,
//!   checksum and version match; see [`IndexCache`]).
//!
//! # What this module does not do
//! Zip64, encrypted zip members, compression methods other than stored and deflate, sparse
//! tar files (refused by name). Writing archives is `crate::tarball`.

use crate::lom::Lom;
use std::collections::HashMap;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::rc::Rc;

/// Largest member read into memory (compressed shards, zip deflate members, regex results of
/// compressed shards). A member of an uncompressed tar or a stored zip member is streamed
/// from disk and has no such limit.
pub const MEMBER_READ_BYTES_MAX: u64 = 256 << 20;
/// Largest tar built in memory for `archregx` over a compressed shard.
pub const EXTRACT_BYTES_MAX: u64 = 256 << 20;
/// Bytes read per `pread` while walking the headers of an uncompressed tar: dense enough for
/// WebDataset members (tens of KiB), small enough not to read large members we skip.
pub const TAR_WINDOW_BYTES: usize = 64 << 10;
/// Members per shard index (a bound on index memory and on listing one shard).
pub const INDEX_MEMBERS_MAX: usize = 1 << 20;
/// Shard indexes cached per core.
pub const INDEX_CACHE_SHARDS_MAX: usize = 256;
/// Members over all indexes cached per thread (bounds the cache's memory: a member costs
/// about 150 bytes plus twice its name, so ~100 MiB for WebDataset-style names).
pub const INDEX_CACHE_MEMBERS_MAX: usize = 512 << 10;
const _: () = assert!(INDEX_CACHE_MEMBERS_MAX <= INDEX_MEMBERS_MAX);
/// Largest zip central directory we read.
pub const ZIP_CENTRAL_DIR_BYTES_MAX: u64 = 64 << 20;

const BLOCK: u64 = 512;

/// A shard format, named by AIS's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Tar,
    Tgz,
    Zip,
    TarLz4,
}

/// AIS's extensions, in AIS's order of matching (`.tar` before `.tar.gz` is harmless: an
/// extension is matched at the end of a name).
pub const EXTENSIONS: [(&str, Format); 5] = [
    (".tar", Format::Tar),
    (".tgz", Format::Tgz),
    (".tar.gz", Format::Tgz),
    (".zip", Format::Zip),
    (".tar.lz4", Format::TarLz4),
];

impl Format {
    pub fn ext(self) -> &'static str {
        match self {
            Format::Tar => ".tar",
            Format::Tgz => ".tgz",
            Format::Zip => ".zip",
            Format::TarLz4 => ".tar.lz4",
        }
    }

    /// By the name's extension (AIS looks only at the extension when listing).
    pub fn by_name(name: &str) -> Option<Format> {
        EXTENSIONS
            .iter()
            .find(|(e, _)| name.ends_with(e))
            .map(|(_, f)| *f)
    }

    /// By AIS's `archmime` (an extension with or without the dot, or a MIME type that
    /// contains one: `application/x-tar`, `tar.gz`, `.zip`).
    pub fn by_mime(mime: &str) -> Result<Format, ArchError> {
        let m = mime.to_ascii_lowercase();
        if m.contains("tar.gz") {
            return Ok(Format::Tgz);
        }
        if m.contains("tar.lz4") {
            return Ok(Format::TarLz4);
        }
        for (e, f) in EXTENSIONS {
            if m.contains(&e[1..]) {
                return Ok(f);
            }
        }
        Err(ArchError::BadRequest(format!(
            "unknown archive format (archmime) {mime:?}: expecting one of .tar, .tgz, .tar.gz, .zip, .tar.lz4"
        )))
    }

    /// By the first bytes of the object (at least 262 for tar's magic).
    pub fn by_magic(head: &[u8]) -> Option<Format> {
        if head.len() >= 262 && &head[257..262] == b"ustar" {
            return Some(Format::Tar);
        }
        if head.starts_with(&[0x1f, 0x8b]) {
            return Some(Format::Tgz);
        }
        if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            return Some(Format::Zip);
        }
        if head.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
            return Some(Format::TarLz4);
        }
        None
    }
}

/// Why a shard could not be read as asked. The text names the member, mode or limit; the
/// caller adds the shard's name.
#[derive(Debug)]
pub enum ArchError {
    /// Not a valid archive of the format (or truncated/corrupted): the client's 400.
    Invalid {
        format: Format,
        detail: String,
    },
    /// No such member.
    NoMember(String),
    /// A bad `archmime`, `archmode` or `archregx`.
    BadRequest(String),
    /// A valid archive using a feature not implemented here (zip64, encryption, ...).
    Unsupported(String),
    /// Over one of this module's limits (named).
    TooLarge(String),
    Io(io::Error),
}

impl std::fmt::Display for ArchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArchError::Invalid { format, detail } => {
                write!(f, "not a valid {} archive: {detail}", format.ext())
            }
            ArchError::NoMember(m) => write!(f, "file {m:?} not found in the archive"),
            ArchError::BadRequest(m) | ArchError::Unsupported(m) | ArchError::TooLarge(m) => {
                write!(f, "{m}")
            }
            ArchError::Io(e) => write!(f, "reading the archive: {e}"),
        }
    }
}

impl From<io::Error> for ArchError {
    fn from(e: io::Error) -> ArchError {
        ArchError::Io(e)
    }
}

type Result<T, E = ArchError> = std::result::Result<T, E>;

fn invalid(format: Format, detail: impl Into<String>) -> ArchError {
    ArchError::Invalid {
        format,
        detail: detail.into(),
    }
}

/// Positional reads of an object (a file, or bytes in tests).
pub trait Source {
    fn size(&self) -> u64;
    /// Read up to `buf.len()` bytes at `off`; short only at the end.
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<usize>;

    fn read_exact_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
        let mut done = 0;
        while done < buf.len() {
            let n = self.read_at(&mut buf[done..], off + done as u64)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            done += n;
        }
        Ok(())
    }
}

/// An open file with its size (taken once: the index is checked against the object's
/// metadata, not the file).
pub struct FileSource {
    pub file: std::fs::File,
    pub size: u64,
    /// Modification time (ns since the epoch): with `size`, which instance this is.
    pub mtime_ns: i64,
}

impl FileSource {
    pub fn open(path: &std::path::Path) -> io::Result<FileSource> {
        use std::os::unix::fs::MetadataExt;
        let file = std::fs::File::open(path)?;
        let md = file.metadata()?;
        Ok(FileSource {
            file,
            size: md.len(),
            mtime_ns: md.mtime() * 1_000_000_000 + md.mtime_nsec(),
        })
    }

    /// Whether this is the instance `stamp` describes.
    pub fn is(&self, stamp: &Stamp) -> bool {
        self.size == stamp.size && self.mtime_ns == stamp.mtime_ns
    }
}

impl Source for FileSource {
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<usize> {
        if off >= self.size {
            return Ok(0);
        }
        let n = buf.len().min((self.size - off) as usize);
        self.file.read_at(&mut buf[..n], off)
    }
}

impl Source for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<usize> {
        let off = off.min(self.len() as u64) as usize;
        let n = buf.len().min(self.len() - off);
        buf[..n].copy_from_slice(&self[off..off + n]);
        Ok(n)
    }
}

/// Sequential `Read` over a [`Source`].
struct SourceReader<'a, S: Source + ?Sized> {
    src: &'a S,
    pos: u64,
}

impl<S: Source + ?Sized> Read for SourceReader<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.src.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// One file in a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    /// Uncompressed size.
    pub size: u64,
    /// First data byte: in the tar stream (tar, tgz, tar.lz4) or in the object (zip).
    pub offset: u64,
    /// Zip: compressed size, method (0 stored, 8 deflate) and CRC-32.
    pub csize: u64,
    pub method: u16,
    pub crc32: u32,
}

// ---- match modes (AIS `archive.MatchMode`) ---------------------------------------------------

/// AIS's `archmode` values, in AIS's order.
pub const MATCH_MODES: [&str; 5] = ["regexp", "prefix", "suffix", "substr", "wdskey"];

/// Selects members by `archregx` + `archmode`.
pub struct Matcher {
    mode: &'static str,
    pattern: String,
    re: Option<regex::Regex>,
}

impl Matcher {
    /// `mode` "" is `prefix` (as in AIS); a pattern "" or "*" matches every member.
    pub fn new(pattern: &str, mode: &str) -> Result<Matcher> {
        let all = pattern.is_empty() || pattern == "*";
        let mode = if mode.is_empty() || mode == "*" {
            "prefix"
        } else {
            MATCH_MODES
                .iter()
                .find(|m| **m == mode)
                .copied()
                .ok_or_else(|| {
                    ArchError::BadRequest(format!(
                        "invalid matching mode (archmode) {mode:?}, expecting one of: {}",
                        MATCH_MODES.join(", ")
                    ))
                })?
        };
        let re = if mode == "regexp" && !all {
            Some(regex::Regex::new(pattern).map_err(|e| {
                ArchError::BadRequest(format!(
                    "invalid regular expression (archregx) {pattern:?}: {e}"
                ))
            })?)
        } else {
            None
        };
        Ok(Matcher {
            mode,
            pattern: if all {
                String::new()
            } else {
                pattern.to_string()
            },
            re,
        })
    }

    pub fn matches(&self, name: &str) -> bool {
        if self.pattern.is_empty() {
            return true;
        }
        if let Some(re) = &self.re {
            return re.is_match(name);
        }
        match self.mode {
            "prefix" => name.starts_with(&self.pattern),
            "suffix" => name.ends_with(&self.pattern),
            "substr" => name.contains(&self.pattern),
            _ => wds_key(name) == self.pattern,
        }
    }
}

/// The WebDataset key of a member: its name without the last extension, without a leading
/// '/' (AIS `cos.WdsKey`).
pub fn wds_key(name: &str) -> &str {
    let base_start = name.rfind('/').map_or(0, |i| i + 1);
    let key = match name[base_start..].rfind('.') {
        Some(i) => &name[..base_start + i],
        None => name,
    };
    key.strip_prefix('/').unwrap_or(key)
}

// ---- tar -----------------------------------------------------------------------------------

/// Where tar blocks come from: a seekable object (skips are free) or a decompressor.
trait TarIn {
    /// Fill `buf` from the current position: `Ok(false)` on a clean end before any byte.
    fn read_block(&mut self, buf: &mut [u8]) -> io::Result<bool>;
    fn skip(&mut self, n: u64) -> io::Result<()>;
    fn pos(&self) -> u64;
}

/// An uncompressed tar read through a window of [`TAR_WINDOW_BYTES`].
struct Seekable<'a, S: Source + ?Sized> {
    src: &'a S,
    pos: u64,
    win: Vec<u8>,
    win_at: u64,
}

impl<S: Source + ?Sized> TarIn for Seekable<'_, S> {
    fn read_block(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        let end = self.win_at + self.win.len() as u64;
        if self.pos < self.win_at || self.pos + buf.len() as u64 > end {
            self.win.resize(TAR_WINDOW_BYTES.max(buf.len()), 0);
            let n = self.src.read_at(&mut self.win, self.pos)?;
            self.win.truncate(n);
            self.win_at = self.pos;
        }
        let i = (self.pos - self.win_at) as usize;
        let have = self.win.len().saturating_sub(i);
        if have == 0 {
            return Ok(false);
        }
        if have < buf.len() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.copy_from_slice(&self.win[i..i + buf.len()]);
        self.pos += buf.len() as u64;
        Ok(true)
    }
    fn skip(&mut self, n: u64) -> io::Result<()> {
        if self.pos + n > self.src.size() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.pos += n;
        Ok(())
    }
    fn pos(&self) -> u64 {
        self.pos
    }
}

/// A tar stream out of a decompressor.
struct Streamed<R: Read> {
    r: R,
    pos: u64,
}

impl<R: Read> TarIn for Streamed<R> {
    fn read_block(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        let mut done = 0;
        while done < buf.len() {
            let n = self.r.read(&mut buf[done..])?;
            if n == 0 {
                if done == 0 {
                    return Ok(false);
                }
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            done += n;
        }
        self.pos += buf.len() as u64;
        Ok(true)
    }
    fn skip(&mut self, n: u64) -> io::Result<()> {
        let got = io::copy(&mut (&mut self.r).take(n), &mut io::sink())?;
        self.pos += got;
        if got < n {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
    fn pos(&self) -> u64 {
        self.pos
    }
}

/// What the walker does with a member's data.
enum Want {
    Skip,
    Read,
    Stop,
}

fn parse_octal(f: &[u8]) -> Option<u64> {
    if f.first().is_some_and(|b| b & 0x80 != 0) {
        // GNU base-256: big-endian, high bit of the first byte set.
        let mut v: u64 = u64::from(f[0] & 0x7f);
        for b in &f[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(*b))?;
        }
        return Some(v);
    }
    let s: Vec<u8> = f
        .iter()
        .copied()
        .take_while(|b| *b != 0)
        .filter(|b| *b != b' ')
        .collect();
    if s.is_empty() {
        return Some(0);
    }
    let s = std::str::from_utf8(&s).ok()?;
    u64::from_str_radix(s, 8).ok()
}

fn cstr(f: &[u8]) -> String {
    let end = f.iter().position(|b| *b == 0).unwrap_or(f.len());
    String::from_utf8_lossy(&f[..end]).into_owned()
}

fn header_ok(h: &[u8; 512]) -> bool {
    let Some(want) = parse_octal(&h[148..156]) else {
        return false;
    };
    let sum: u64 = h
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(*b)
            }
        })
        .sum();
    sum == want
}

/// `path` and `size` of PAX records (`<len> <key>=<value>\n`).
fn pax(data: &[u8], path: &mut Option<String>, size: &mut Option<u64>) -> bool {
    let mut rest = data;
    while !rest.is_empty() {
        let Some(sp) = rest.iter().position(|b| *b == b' ') else {
            return false;
        };
        let Some(len) = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        else {
            return false;
        };
        if len <= sp + 1 || len > rest.len() {
            return false;
        }
        let rec = &rest[sp + 1..len];
        let rec = rec.strip_suffix(b"\n").unwrap_or(rec);
        if let Some(eq) = rec.iter().position(|b| *b == b'=') {
            let (k, v) = (&rec[..eq], &rec[eq + 1..]);
            match k {
                b"path" => *path = Some(String::from_utf8_lossy(v).into_owned()),
                b"size" => *size = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok()),
                _ => {}
            }
        }
        rest = &rest[len..];
    }
    true
}

/// Walk the members of a tar stream: `on(member)` decides; with `Want::Read` the data comes
/// to `data(member, bytes)` (at most [`MEMBER_READ_BYTES_MAX`]), which returns whether to go on.
fn walk_tar(
    input: &mut dyn TarIn,
    format: Format,
    mut on: impl FnMut(&Member) -> Result<Want>,
    mut data: impl FnMut(&Member, Vec<u8>) -> Result<bool>,
) -> Result<u64> {
    let mut h = [0u8; 512];
    let mut long_name: Option<String> = None;
    let mut pax_path: Option<String> = None;
    let mut pax_size: Option<u64> = None;
    let mut first = true;
    loop {
        let at = input.pos();
        let bad = |d: String| invalid(format, d);
        if !input
            .read_block(&mut h)
            .map_err(|e| tar_io(format, at, e))?
        {
            if first {
                return Err(bad("empty".into()));
            }
            return Ok(at); // no end-of-archive blocks: still a valid end, as in Go
        }
        if h.iter().all(|b| *b == 0) {
            return Ok(at);
        }
        if !header_ok(&h) {
            return Err(bad(format!("bad tar header checksum at offset {at}")));
        }
        first = false;
        let Some(mut size) = parse_octal(&h[124..136]) else {
            return Err(bad(format!(
                "bad size field in the tar header at offset {at}"
            )));
        };
        let flag = h[156];
        let padded = size.div_ceil(BLOCK) * BLOCK;
        match flag {
            b'L' | b'x' | b'K' | b'g' => {
                if size > 1 << 20 {
                    return Err(bad(format!("{size}-byte extended header at offset {at}")));
                }
                let mut buf = vec![0u8; padded as usize];
                if !input
                    .read_block(&mut buf)
                    .map_err(|e| tar_io(format, at, e))?
                    && padded > 0
                {
                    return Err(bad(format!("truncated extended header at offset {at}")));
                }
                buf.truncate(size as usize);
                match flag {
                    b'L' => long_name = Some(cstr(&buf)),
                    b'x' if !pax(&buf, &mut pax_path, &mut pax_size) => {
                        return Err(bad(format!("bad PAX header at offset {at}")));
                    }
                    _ => {}
                }
                continue;
            }
            b'S' => {
                return Err(ArchError::Unsupported(format!(
                    "sparse tar member at offset {at} is not supported"
                )))
            }
            _ => {}
        }
        let mut name = cstr(&h[..100]);
        if &h[257..263] == b"ustar\0" {
            let prefix = cstr(&h[345..500]);
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        if let Some(n) = long_name.take() {
            name = n;
        }
        if let Some(n) = pax_path.take() {
            name = n;
        }
        if let Some(s) = pax_size.take() {
            size = s;
        }
        let padded = size.div_ceil(BLOCK) * BLOCK;
        let data_at = input.pos();
        let regular = matches!(flag, b'0' | 0 | b'7') && !name.ends_with('/');
        let m = Member {
            name,
            size,
            offset: data_at,
            csize: size,
            method: 0,
            crc32: 0,
        };
        let want = if regular { on(&m)? } else { Want::Skip };
        match want {
            Want::Stop => return Ok(data_at),
            Want::Skip => input.skip(padded).map_err(|e| tar_io(format, at, e))?,
            Want::Read => {
                if size > MEMBER_READ_BYTES_MAX {
                    return Err(too_large(&m.name, size));
                }
                let mut buf = vec![0u8; padded as usize];
                if padded > 0
                    && !input
                        .read_block(&mut buf)
                        .map_err(|e| tar_io(format, at, e))?
                {
                    return Err(bad(format!("truncated member {:?}", m.name)));
                }
                buf.truncate(size as usize);
                if !data(&m, buf)? {
                    return Ok(input.pos());
                }
            }
        }
    }
}

fn tar_io(format: Format, at: u64, e: io::Error) -> ArchError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        invalid(format, format!("truncated at offset {at}"))
    } else if e.kind() == io::ErrorKind::InvalidData || e.kind() == io::ErrorKind::InvalidInput {
        invalid(format, format!("{e} (near offset {at} of the tar stream)"))
    } else {
        ArchError::Io(e)
    }
}

fn too_large(name: &str, size: u64) -> ArchError {
    ArchError::TooLarge(format!(
        "archived file {name:?} of {size} bytes is over the {MEMBER_READ_BYTES_MAX}-byte limit of in-memory reads (MEMBER_READ_BYTES_MAX)"
    ))
}

/// The decompressed tar stream of a compressed shard.
fn decompressed<'a, S: Source + ?Sized>(src: &'a S, format: Format) -> Result<Box<dyn Read + 'a>> {
    let raw = io::BufReader::with_capacity(256 << 10, SourceReader { src, pos: 0 });
    Ok(match format {
        Format::Tgz => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
        Format::TarLz4 => Box::new(lz4_flex::frame::FrameDecoder::new(raw)),
        Format::Tar | Format::Zip => unreachable!("not a compressed tar: {format:?}"),
    })
}

fn tar_input<'a, S: Source + ?Sized>(src: &'a S, format: Format) -> Result<Box<dyn TarIn + 'a>> {
    Ok(match format {
        Format::Tar => Box::new(Seekable {
            src,
            pos: 0,
            win: Vec::new(),
            win_at: 0,
        }),
        _ => Box::new(Streamed {
            r: decompressed(src, format)?,
            pos: 0,
        }),
    })
}

// ---- zip -----------------------------------------------------------------------------------

fn le16(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}
fn le32(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Members of a zip: end-of-central-directory record from the tail, the central directory,
/// and each member's local header (for its data offset).
fn zip_members<S: Source + ?Sized>(src: &S) -> Result<Vec<Member>> {
    let z = Format::Zip;
    let size = src.size();
    if size < 22 {
        return Err(invalid(
            z,
            "shorter than an end-of-central-directory record",
        ));
    }
    let tail_len = size.min(22 + 0xffff);
    let mut tail = vec![0u8; tail_len as usize];
    src.read_exact_at(&mut tail, size - tail_len)?;
    let Some(e) = (0..=tail.len() - 22)
        .rev()
        .find(|i| le32(&tail, *i) == 0x0605_4b50)
    else {
        return Err(invalid(z, "no end-of-central-directory record"));
    };
    let entries = u64::from(le16(&tail, e + 10));
    let cd_size = u64::from(le32(&tail, e + 12));
    let cd_off = u64::from(le32(&tail, e + 16));
    if entries == 0xffff || cd_size == 0xffff_ffff || cd_off == 0xffff_ffff {
        return Err(ArchError::Unsupported(
            "zip64 archives are not supported".into(),
        ));
    }
    if cd_size > ZIP_CENTRAL_DIR_BYTES_MAX {
        return Err(ArchError::TooLarge(format!(
            "zip central directory of {cd_size} bytes is over ZIP_CENTRAL_DIR_BYTES_MAX ({ZIP_CENTRAL_DIR_BYTES_MAX})"
        )));
    }
    if cd_off + cd_size > size {
        return Err(invalid(z, "central directory outside the file"));
    }
    let mut cd = vec![0u8; cd_size as usize];
    src.read_exact_at(&mut cd, cd_off)?;
    let mut out = Vec::new();
    let mut i = 0usize;
    for _ in 0..entries {
        if i + 46 > cd.len() || le32(&cd, i) != 0x0201_4b50 {
            return Err(invalid(
                z,
                format!(
                    "bad central directory entry at offset {}",
                    cd_off + i as u64
                ),
            ));
        }
        let flags = le16(&cd, i + 8);
        let method = le16(&cd, i + 10);
        let crc32 = le32(&cd, i + 16);
        let csize = u64::from(le32(&cd, i + 20));
        let usize_ = u64::from(le32(&cd, i + 24));
        let (nl, el, cl) = (
            usize::from(le16(&cd, i + 28)),
            usize::from(le16(&cd, i + 30)),
            usize::from(le16(&cd, i + 32)),
        );
        let lho = u64::from(le32(&cd, i + 42));
        if i + 46 + nl > cd.len() {
            return Err(invalid(
                z,
                "central directory entry name outside the directory",
            ));
        }
        let name = String::from_utf8_lossy(&cd[i + 46..i + 46 + nl]).into_owned();
        i += 46 + nl + el + cl;
        if name.ends_with('/') {
            continue;
        }
        if flags & 1 != 0 {
            return Err(ArchError::Unsupported(format!(
                "zip member {name:?} is encrypted"
            )));
        }
        if csize == 0xffff_ffff || usize_ == 0xffff_ffff {
            return Err(ArchError::Unsupported(
                "zip64 archives are not supported".into(),
            ));
        }
        let mut lh = [0u8; 30];
        src.read_exact_at(&mut lh, lho)
            .map_err(|_| invalid(z, format!("local header of {name:?} outside the file")))?;
        if le32(&lh, 0) != 0x0403_4b50 {
            return Err(invalid(
                z,
                format!("bad local header of {name:?} at offset {lho}"),
            ));
        }
        let offset = lho + 30 + u64::from(le16(&lh, 26)) + u64::from(le16(&lh, 28));
        if offset + csize > size {
            return Err(invalid(z, format!("data of {name:?} outside the file")));
        }
        out.push(Member {
            name,
            size: usize_,
            offset,
            csize,
            method,
            crc32,
        });
        if out.len() > INDEX_MEMBERS_MAX {
            return Err(members_over());
        }
    }
    Ok(out)
}

fn members_over() -> ArchError {
    ArchError::TooLarge(format!(
        "more than INDEX_MEMBERS_MAX ({INDEX_MEMBERS_MAX}) files in one archive"
    ))
}

fn zip_read<S: Source + ?Sized>(src: &S, m: &Member) -> Result<Vec<u8>> {
    if m.size > MEMBER_READ_BYTES_MAX || m.csize > MEMBER_READ_BYTES_MAX {
        return Err(too_large(&m.name, m.size.max(m.csize)));
    }
    let mut raw = vec![0u8; m.csize as usize];
    src.read_exact_at(&mut raw, m.offset)?;
    let out = match m.method {
        0 => raw,
        8 => {
            let mut out = Vec::with_capacity(m.size as usize);
            flate2::read::DeflateDecoder::new(&raw[..])
                .take(m.size + 1)
                .read_to_end(&mut out)
                .map_err(|e| invalid(Format::Zip, format!("member {:?}: {e}", m.name)))?;
            out
        }
        other => {
            return Err(ArchError::Unsupported(format!(
            "zip member {:?}: compression method {other} (only stored and deflate are supported)",
            m.name
        )))
        }
    };
    if out.len() as u64 != m.size || crc32fast::hash(&out) != m.crc32 {
        return Err(invalid(
            Format::Zip,
            format!("member {:?} does not match its size or CRC-32", m.name),
        ));
    }
    Ok(out)
}

// ---- index ---------------------------------------------------------------------------------

/// The members of one shard instance.
#[derive(Debug)]
pub struct Index {
    pub format: Format,
    /// Archive order.
    pub members: Vec<Member>,
    by_name: HashMap<String, usize>,
    /// Tar: where the end-of-archive blocks (or the end) start: an append writes there.
    pub end: u64,
}

impl Index {
    /// An index of `members` (in archive order) ending at `end`.
    pub fn from_members(format: Format, members: Vec<Member>, end: u64) -> Index {
        let mut by_name = HashMap::with_capacity(members.len());
        for (i, m) in members.iter().enumerate() {
            // The first of duplicate names, as AIS's sequential read finds it.
            by_name.entry(m.name.clone()).or_insert(i);
        }
        Index {
            format,
            members,
            by_name,
            end,
        }
    }

    /// A member by name; a leading '/' on either side is ignored (AIS `namesEq`).
    pub fn find(&self, name: &str) -> Option<&Member> {
        let i = self
            .by_name
            .get(name)
            .or_else(|| self.by_name.get(name.trim_start_matches('/')))
            .or_else(|| {
                self.by_name
                    .get(&format!("/{}", name.trim_start_matches('/')))
            })?;
        Some(&self.members[*i])
    }

    /// Where `m`'s bytes are in the object, if they are stored there as they are (an
    /// uncompressed tar, a stored zip member): (offset, size).
    pub fn contiguous(&self, m: &Member) -> Option<(u64, u64)> {
        match self.format {
            Format::Tar => Some((m.offset, m.size)),
            Format::Zip if m.method == 0 => Some((m.offset, m.size)),
            _ => None,
        }
    }

    /// Members sorted by name (listing order), each name once.
    pub fn sorted(&self) -> Vec<&Member> {
        let mut v: Vec<&Member> = self.by_name.values().map(|i| &self.members[*i]).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
}

/// Build the index of a shard.
pub fn index<S: Source + ?Sized>(src: &S, format: Format) -> Result<Index> {
    if format == Format::Zip {
        let members = zip_members(src)?;
        return Ok(Index::from_members(format, members, src.size()));
    }
    let mut input = tar_input(src, format)?;
    let mut members = Vec::new();
    let mut over = false;
    let end = walk_tar(
        input.as_mut(),
        format,
        |m| {
            if members.len() >= INDEX_MEMBERS_MAX {
                over = true;
                return Ok(Want::Stop);
            }
            members.push(m.clone());
            Ok(Want::Skip)
        },
        |_, _| Ok(true),
    )?;
    if over {
        return Err(members_over());
    }
    Ok(Index::from_members(format, members, end))
}

/// Read one member into memory (any format; the fast path for [`Index::contiguous`]
/// members is the caller's ranged read).
pub fn read_member<S: Source + ?Sized>(src: &S, idx: &Index, m: &Member) -> Result<Vec<u8>> {
    if m.size > MEMBER_READ_BYTES_MAX {
        return Err(too_large(&m.name, m.size));
    }
    match idx.format {
        Format::Zip => zip_read(src, m),
        Format::Tar => {
            let mut buf = vec![0u8; m.size as usize];
            src.read_exact_at(&mut buf, m.offset)
                .map_err(|_| invalid(Format::Tar, format!("member {:?} is truncated", m.name)))?;
            Ok(buf)
        }
        f => {
            let mut input = tar_input(src, f)?;
            let mut out = None;
            walk_tar(
                input.as_mut(),
                f,
                |x| {
                    Ok(if x.offset == m.offset {
                        Want::Read
                    } else if x.offset > m.offset {
                        Want::Stop
                    } else {
                        Want::Skip
                    })
                },
                |_, b| {
                    out = Some(b);
                    Ok(false)
                },
            )?;
            out.ok_or_else(|| ArchError::NoMember(m.name.clone()))
        }
    }
}

/// Call `f(member, bytes)` for every member `matcher` selects, in archive order (one pass
/// over a compressed tar). Bytes of all selected members together are bounded by
/// [`EXTRACT_BYTES_MAX`].
pub fn for_each_match<S: Source + ?Sized>(
    src: &S,
    idx: &Index,
    matcher: &Matcher,
    mut f: impl FnMut(&Member, Vec<u8>),
) -> Result<()> {
    let mut total = 0u64;
    let mut budget = |m: &Member| {
        total += m.size;
        if total > EXTRACT_BYTES_MAX {
            Err(ArchError::TooLarge(format!(
                "matching files total over EXTRACT_BYTES_MAX ({EXTRACT_BYTES_MAX} bytes)"
            )))
        } else {
            Ok(())
        }
    };
    match idx.format {
        Format::Tar | Format::Zip => {
            for m in idx.members.iter().filter(|m| matcher.matches(&m.name)) {
                budget(m)?;
                let b = read_member(src, idx, m)?;
                f(m, b);
            }
            Ok(())
        }
        fmt => {
            let mut input = tar_input(src, fmt)?;
            let mut err = None;
            walk_tar(
                input.as_mut(),
                fmt,
                |m| {
                    if !matcher.matches(&m.name) {
                        return Ok(Want::Skip);
                    }
                    if let Err(e) = budget(m) {
                        err = Some(e);
                        return Ok(Want::Stop);
                    }
                    Ok(Want::Read)
                },
                |m, b| {
                    f(m, b);
                    Ok(true)
                },
            )?;
            err.map_or(Ok(()), Err)
        }
    }
}

/// The format of a shard: `archmime` if given, else the name's extension, else the magic
/// at the start of the object.
pub fn detect<S: Source + ?Sized>(src: &S, name: &str, mime: &str) -> Result<Format> {
    if !mime.is_empty() {
        return Format::by_mime(mime);
    }
    if let Some(f) = Format::by_name(name) {
        return Ok(f);
    }
    let mut head = vec![0u8; 512.min(src.size() as usize)];
    src.read_exact_at(&mut head, 0)?;
    Format::by_magic(&head).ok_or_else(|| {
        ArchError::BadRequest(format!(
            "{name:?} is not an archive: no archive extension (.tar, .tgz, .tar.gz, .zip, .tar.lz4) and no known magic; set archmime"
        ))
    })
}

// ---- per-core index cache ------------------------------------------------------------------

/// What an index is valid for: one stored instance of the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    pub size: u64,
    pub mtime_ns: i64,
    pub cksum: String,
    pub version: String,
    pub format: Format,
}

impl Stamp {
    pub fn of(lom: &Lom, format: Format) -> Stamp {
        Stamp {
            size: lom.size,
            mtime_ns: lom.mtime_ns,
            cksum: lom.cksum_value.clone(),
            version: lom.version.clone(),
            format,
        }
    }
}

struct Cached {
    stamp: Stamp,
    idx: Rc<Index>,
    used: u64,
}

/// Shard indexes of this core, at most [`INDEX_CACHE_SHARDS_MAX`] shards and
/// [`INDEX_CACHE_MEMBERS_MAX`] members; the least recently used go first.
#[derive(Default)]
pub struct IndexCache {
    map: HashMap<std::path::PathBuf, Cached>,
    members: usize,
    clock: u64,
}

thread_local! {
    static CACHE: std::cell::RefCell<IndexCache> = std::cell::RefCell::new(IndexCache::default());
}

impl IndexCache {
    fn get(&mut self, fqn: &std::path::Path, stamp: &Stamp) -> Option<Rc<Index>> {
        self.clock += 1;
        let c = self.map.get_mut(fqn)?;
        if c.stamp != *stamp {
            let n = c.idx.members.len();
            self.map.remove(fqn);
            self.members -= n;
            return None;
        }
        c.used = self.clock;
        Some(c.idx.clone())
    }

    fn put(&mut self, fqn: &std::path::Path, stamp: Stamp, idx: Rc<Index>) {
        if idx.members.len() > INDEX_CACHE_MEMBERS_MAX {
            return;
        }
        if let Some(old) = self.map.remove(fqn) {
            self.members -= old.idx.members.len();
        }
        while self.map.len() >= INDEX_CACHE_SHARDS_MAX
            || self.members + idx.members.len() > INDEX_CACHE_MEMBERS_MAX
        {
            let Some(k) = self
                .map
                .iter()
                .min_by_key(|(_, c)| c.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            let c = self.map.remove(&k).expect("key just found");
            self.members -= c.idx.members.len();
        }
        self.clock += 1;
        self.members += idx.members.len();
        self.map.insert(
            fqn.to_path_buf(),
            Cached {
                stamp,
                idx,
                used: self.clock,
            },
        );
    }
}

/// This core's index of the shard at `fqn` if it is of this instance (`stamp`).
pub fn cached(fqn: &std::path::Path, stamp: &Stamp) -> Option<Rc<Index>> {
    CACHE.with(|c| c.borrow_mut().get(fqn, stamp))
}

/// Keep an index on this core.
pub fn remember(fqn: &std::path::Path, stamp: Stamp, idx: Rc<Index>) {
    CACHE.with(|c| c.borrow_mut().put(fqn, stamp, idx));
}

/// Indexes on this core (tests, metrics).
pub fn cached_count() -> usize {
    CACHE.with(|c| c.borrow().map.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tarball;
    use std::io::Write;

    fn sample_tar(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut v = Vec::new();
        for (n, d) in files {
            tarball::append(&mut v, n, d, 1_700_000_000).unwrap();
        }
        tarball::finish(&mut v).unwrap();
        v
    }

    fn files() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("000001.jpg", (0..5000u32).map(|i| (i * 7) as u8).collect()),
            ("000001.cls", b"3\n".to_vec()),
            ("000002.jpg", vec![9u8; 512]),
            ("000002.cls", b"7\n".to_vec()),
            ("empty", Vec::new()),
        ]
    }

    /// A zip writer (stored or deflate), enough for tests: local headers, central
    /// directory, end record.
    fn sample_zip(files: &[(&str, Vec<u8>)], deflate: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut cd = Vec::new();
        for (name, data) in files {
            let comp = if deflate {
                let mut e =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            } else {
                data.clone()
            };
            let method: u16 = if deflate { 8 } else { 0 };
            let crc = crc32fast::hash(data);
            let off = out.len() as u32;
            out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
            out.extend_from_slice(&20u16.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&method.to_le_bytes());
            out.extend_from_slice(&[0u8; 4]);
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&(comp.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&3u16.to_le_bytes()); // extra
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&[0u8; 3]);
            out.extend_from_slice(&comp);
            cd.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            cd.extend_from_slice(&20u16.to_le_bytes());
            cd.extend_from_slice(&20u16.to_le_bytes());
            cd.extend_from_slice(&0u16.to_le_bytes());
            cd.extend_from_slice(&method.to_le_bytes());
            cd.extend_from_slice(&[0u8; 4]);
            cd.extend_from_slice(&crc.to_le_bytes());
            cd.extend_from_slice(&(comp.len() as u32).to_le_bytes());
            cd.extend_from_slice(&(data.len() as u32).to_le_bytes());
            cd.extend_from_slice(&(name.len() as u16).to_le_bytes());
            cd.extend_from_slice(&[0u8; 12]);
            cd.extend_from_slice(&off.to_le_bytes());
            cd.extend_from_slice(name.as_bytes());
        }
        let cd_off = out.len() as u32;
        out.extend_from_slice(&cd);
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0u8; 4]);
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(cd.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_off.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    fn check_all(src: &[u8], format: Format) {
        let idx = index(src, format).unwrap();
        let want = files();
        assert_eq!(
            idx.members
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>(),
            want.iter().map(|(n, _)| *n).collect::<Vec<_>>()
        );
        for (n, d) in &want {
            let m = idx.find(n).unwrap();
            assert_eq!(m.size, d.len() as u64, "{n}");
            assert_eq!(&read_member(src, &idx, m).unwrap(), d, "{n} {format:?}");
            if let Some((off, len)) = idx.contiguous(m) {
                assert_eq!(&src[off as usize..(off + len) as usize], &d[..]);
            }
        }
        assert!(idx.find("nope").is_none());
        assert!(idx.find("/000001.cls").is_some(), "leading slash ignored");
        let m = Matcher::new("000002", "wdskey").unwrap();
        let mut got = Vec::new();
        for_each_match(src, &idx, &m, |m, b| got.push((m.name.clone(), b))).unwrap();
        assert_eq!(
            got,
            vec![
                ("000002.jpg".to_string(), vec![9u8; 512]),
                ("000002.cls".to_string(), b"7\n".to_vec())
            ]
        );
    }

    #[test]
    fn tar_members_offsets_and_reads() {
        let t = sample_tar(&files());
        check_all(&t, Format::Tar);
        let idx = index(&t[..], Format::Tar).unwrap();
        // The end is where the two zero blocks start.
        assert_eq!(idx.end as usize, t.len() - 1024);
        assert_eq!(idx.members[0].offset, 512);
    }

    #[test]
    fn tgz_and_lz4_members() {
        let t = sample_tar(&files());
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&t).unwrap();
        check_all(&gz.finish().unwrap(), Format::Tgz);
        let mut lz = lz4_flex::frame::FrameEncoder::new(Vec::new());
        lz.write_all(&t).unwrap();
        let lz = lz.finish().unwrap();
        assert_eq!(Format::by_magic(&lz), Some(Format::TarLz4));
        check_all(&lz, Format::TarLz4);
    }

    #[test]
    fn zip_stored_and_deflate() {
        let z = sample_zip(&files(), false);
        check_all(&z, Format::Zip);
        let z = sample_zip(&files(), true);
        check_all(&z, Format::Zip);
        // A flipped byte in deflated data is caught (size or CRC), never served.
        let mut bad = sample_zip(&files(), true);
        let idx = index(&bad[..], Format::Zip).unwrap();
        let m = idx.find("000001.jpg").unwrap().clone();
        bad[m.offset as usize + 10] ^= 0xff;
        assert!(matches!(
            read_member(&bad[..], &idx, &m),
            Err(ArchError::Invalid { .. })
        ));
    }

    #[test]
    fn system_zip_is_read_when_present() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.txt"), b"hello zip\n".repeat(100)).unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/b.bin"), [1u8, 2, 3]).unwrap();
        let Ok(st) = std::process::Command::new("zip")
            .current_dir(d.path())
            .args(["-q", "-r", "x.zip", "a.txt", "sub"])
            .status()
        else {
            return; // no zip(1) here
        };
        assert!(st.success());
        let src = FileSource::open(&d.path().join("x.zip")).unwrap();
        assert_eq!(detect(&src, "x", "").unwrap(), Format::Zip);
        let idx = index(&src, Format::Zip).unwrap();
        let names: Vec<_> = idx.sorted().iter().map(|m| m.name.clone()).collect();
        assert_eq!(
            names,
            vec!["a.txt", "sub/b.bin"],
            "directories are not members"
        );
        let m = idx.find("a.txt").unwrap();
        assert_eq!(
            read_member(&src, &idx, m).unwrap(),
            b"hello zip\n".repeat(100)
        );
    }

    #[test]
    fn long_names_gnu_and_pax() {
        // ustar prefix (written by tarball), GNU 'L' and PAX 'x' long names.
        let long = format!("{}/{}", "d".repeat(120), "f.bin");
        let t = sample_tar(&[(long.as_str(), b"abc".to_vec())]);
        let idx = index(&t[..], Format::Tar).unwrap();
        assert_eq!(idx.members[0].name, long);
        let d = tempfile::tempdir().unwrap();
        let name = format!("{}.txt", "n".repeat(200));
        std::fs::write(d.path().join(&name), b"long").unwrap();
        for fmt in ["gnu", "pax"] {
            let out = d.path().join(format!("{fmt}.tar"));
            let Ok(st) = std::process::Command::new("tar")
                .current_dir(d.path())
                .arg(format!("--format={fmt}"))
                .arg("-cf")
                .arg(&out)
                .arg(&name)
                .status()
            else {
                return;
            };
            assert!(st.success());
            let src = FileSource::open(&out).unwrap();
            let idx = index(&src, Format::Tar).unwrap();
            assert_eq!(idx.members.len(), 1, "{fmt}");
            assert_eq!(idx.members[0].name, name, "{fmt}");
            assert_eq!(read_member(&src, &idx, &idx.members[0]).unwrap(), b"long");
        }
    }

    #[test]
    fn not_archives_and_truncation_are_invalid() {
        let junk = vec![0x41u8; 4096];
        assert!(matches!(
            index(&junk[..], Format::Tar),
            Err(ArchError::Invalid { .. })
        ));
        assert!(matches!(
            index(&junk[..], Format::Tgz),
            Err(ArchError::Invalid { .. })
        ));
        assert!(matches!(
            index(&junk[..], Format::Zip),
            Err(ArchError::Invalid { .. })
        ));
        assert!(matches!(
            index(&junk[..], Format::TarLz4),
            Err(ArchError::Invalid { .. })
        ));
        assert!(index(&[0u8; 0][..], Format::Tar).is_err());
        let t = sample_tar(&files());
        // Cut inside the first member's data.
        assert!(matches!(
            index(&t[..1000], Format::Tar),
            Err(ArchError::Invalid { .. })
        ));
        let mut flipped = t.clone();
        flipped[512 + 5120 + 10] ^= 1; // a name byte of the second member's header
        assert!(index(&flipped[..], Format::Tar).is_err());
        assert!(detect(&junk[..], "plain.bin", "").is_err());
        assert_eq!(detect(&t[..], "noext", "").unwrap(), Format::Tar);
        assert_eq!(detect(&t[..], "x.zip", "tar").unwrap(), Format::Tar);
    }

    #[test]
    fn formats_by_name_and_mime() {
        for (n, f) in [
            ("a.tar", Some(Format::Tar)),
            ("a.tgz", Some(Format::Tgz)),
            ("a/b.tar.gz", Some(Format::Tgz)),
            ("a.zip", Some(Format::Zip)),
            ("a.tar.lz4", Some(Format::TarLz4)),
            ("a.gz", None),
            ("tar", None),
        ] {
            assert_eq!(Format::by_name(n), f, "{n}");
        }
        for (m, f) in [
            (".tar", Format::Tar),
            ("application/x-tar", Format::Tar),
            ("tgz", Format::Tgz),
            (".tar.gz", Format::Tgz),
            ("zip", Format::Zip),
            ("tar.lz4", Format::TarLz4),
        ] {
            assert_eq!(Format::by_mime(m).unwrap(), f, "{m}");
        }
        assert!(Format::by_mime("rar").is_err());
    }

    #[test]
    fn match_modes() {
        let t = |p: &str, mode: &str, name: &str| Matcher::new(p, mode).unwrap().matches(name);
        assert!(t("a/", "prefix", "a/b.jpg") && !t("b", "prefix", "a/b.jpg"));
        assert!(t(".jpg", "suffix", "a/b.jpg") && !t(".cls", "suffix", "a/b.jpg"));
        assert!(t("/b", "substr", "a/b.jpg") && !t("x", "substr", "a/b.jpg"));
        assert!(t("a/b", "wdskey", "a/b.jpg") && !t("a", "wdskey", "a/b.jpg"));
        assert!(t("a/b.x", "wdskey", "a/b.x.jpg"));
        assert!(t(r"^a/\d+\.cls$", "regexp", "a/12.cls") && !t(r"^\d", "regexp", "a/12.cls"));
        assert!(t("", "regexp", "anything") && t("*", "", "anything"));
        assert!(t("a", "", "abc"), "empty mode is prefix");
        assert!(
            matches!(Matcher::new("x", "glob"), Err(ArchError::BadRequest(m)) if m.contains("glob"))
        );
        assert!(
            matches!(Matcher::new("(", "regexp"), Err(ArchError::BadRequest(m)) if m.contains("archregx"))
        );
        assert_eq!(wds_key("/x/000123.jpg"), "x/000123");
        assert_eq!(wds_key("a.b/c"), "a.b/c");
    }

    #[test]
    fn index_cache_is_bounded_and_checks_the_stamp() {
        let t = sample_tar(&files());
        let idx = Rc::new(index(&t[..], Format::Tar).unwrap());
        let stamp = |size| Stamp {
            size,
            mtime_ns: 1,
            cksum: "c".into(),
            version: "1".into(),
            format: Format::Tar,
        };
        let mut c = IndexCache::default();
        for i in 0..INDEX_CACHE_SHARDS_MAX + 10 {
            c.put(
                std::path::Path::new(&format!("/s{i}")),
                stamp(1),
                idx.clone(),
            );
        }
        assert_eq!(c.map.len(), INDEX_CACHE_SHARDS_MAX);
        assert_eq!(c.members, INDEX_CACHE_SHARDS_MAX * idx.members.len());
        let last = format!("/s{}", INDEX_CACHE_SHARDS_MAX + 9);
        assert!(c.get(std::path::Path::new(&last), &stamp(1)).is_some());
        // Another instance of the object (size changed): a miss, and dropped.
        assert!(c.get(std::path::Path::new(&last), &stamp(2)).is_none());
        assert_eq!(c.map.len(), INDEX_CACHE_SHARDS_MAX - 1);
        assert!(
            c.get(std::path::Path::new("/s0"), &stamp(1)).is_none(),
            "oldest evicted"
        );
    }
}
