//! Writing archives. Tar (POSIX ustar): a 512-byte header per member, its bytes padded to a
//! multiple of 512, and two zero blocks at the end: what the node produces itself (its log
//! archive, `archregx` results, GetBatch output, shards of multi-object `archive` jobs and
//! dSort). [`header`] refuses names longer than ustar's 100 (+155 prefix) bytes;
//! [`member_head`] writes those with a PAX `path` record (POSIX.1-2001, read by GNU tar, Go
//! and Python).
//!
//! Shards in AIS's four formats: tar, tar.gz, tar.lz4 (one LZ4 frame) and zip (entries
//! stored uncompressed as AIS writes them, no zip64: at most 65,535 entries and 4 GiB, no
//! modification times: every entry is dated 1980-01-01). [`Shard`] builds one in memory, or
//! reopens an existing one to add members after the ones it has (kept byte for byte);
//! [`Stream`] writes one as a stream.
//!
//! # What this module does not do
//! Compressed zip entries, zip64, appending to a compressed tar without re-compressing it (a
//! new gzip member after the old end-of-archive blocks would not be one valid tar stream).

use crate::archive::{ArchError, Format};

/// The ustar header of a regular file `name` of `size` bytes, mode 0644, modified at
/// `mtime` (Unix seconds).
pub fn header(name: &str, size: u64, mtime: u64) -> std::io::Result<[u8; 512]> {
    let mut h = [0u8; 512];
    let b = name.as_bytes();
    let (prefix, base) = if b.len() <= 100 {
        (&b[..0], b)
    } else {
        // Split at a '/' so that the prefix fits 155 bytes and the rest 100.
        let cut = b[..b.len().min(156)]
            .iter()
            .rposition(|c| *c == b'/')
            .filter(|i| b.len() - i - 1 <= 100 && *i > 0)
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("tar member name too long for ustar: {name}"),
                )
            })?;
        (&b[..cut], &b[cut + 1..])
    };
    h[..base.len()].copy_from_slice(base);
    let octal = |field: &mut [u8], v: u64| {
        let s = format!("{v:0width$o}", width = field.len() - 1);
        field[..s.len()].copy_from_slice(s.as_bytes());
    };
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    if size >= 1 << 33 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("tar member {name}: {size} bytes is over ustar's 8 GiB"),
        ));
    }
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime);
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[345..345 + prefix.len()].copy_from_slice(prefix);
    // The checksum is computed with its own field as spaces.
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|c| u32::from(*c)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    Ok(h)
}

/// The header block(s) of member `name`: one ustar header, or a PAX extended header with
/// the full name followed by a ustar header with a shortened one.
pub fn member_head(name: &str, size: u64, mtime: u64) -> std::io::Result<Vec<u8>> {
    if let Ok(h) = header(name, size, mtime) {
        return Ok(h.to_vec());
    }
    if name.is_empty() || name.len() > PAX_NAME_BYTES_MAX {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "tar member name of {} bytes (1..={PAX_NAME_BYTES_MAX})",
                name.len()
            ),
        ));
    }
    // "<len> path=<name>\n", where <len> counts its own digits.
    let body = format!(" path={name}\n");
    let mut len = body.len() + 1;
    while format!("{len}{body}").len() != len {
        len += 1;
    }
    let rec = format!("{len}{body}");
    let mut short: String = name
        .chars()
        .rev()
        .take(90)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    short = short.trim_start_matches('/').to_string();
    let mut x = header(
        &format!("PaxHeaders/{}", short.replace('/', "_")),
        rec.len() as u64,
        mtime,
    )?;
    x[156] = b'x';
    reseal(&mut x);
    let mut out = x.to_vec();
    out.extend_from_slice(rec.as_bytes());
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&header(&short, size, mtime)?);
    Ok(out)
}

/// Bytes member `name` of `size` bytes takes in a tar: head(s) plus data padded to 512.
pub fn member_len(name: &str, size: u64) -> std::io::Result<u64> {
    Ok(member_head(name, 0, 0)?.len() as u64 + size.div_ceil(512) * 512)
}

/// The zero bytes after `size` bytes of member data.
pub fn padding(size: u64) -> &'static [u8] {
    &[0u8; 512][..((512 - size % 512) % 512) as usize]
}

/// Longest member name [`member_head`] writes.
pub const PAX_NAME_BYTES_MAX: usize = 4096;

/// Recompute the checksum field after a change.
fn reseal(h: &mut [u8; 512]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|c| u32::from(*c)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
}

/// Append member `name` with `data` to `out`.
pub fn append(
    out: &mut impl std::io::Write,
    name: &str,
    data: &[u8],
    mtime: u64,
) -> std::io::Result<()> {
    out.write_all(&member_head(name, data.len() as u64, mtime)?)?;
    out.write_all(data)?;
    let pad = (512 - data.len() % 512) % 512;
    out.write_all(&[0u8; 512][..pad])
}

/// End the archive.
pub fn finish(out: &mut impl std::io::Write) -> std::io::Result<()> {
    out.write_all(&[0u8; 1024])
}

/// Formats of shards this module writes (AIS's four).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardFormat {
    Tar,
    /// tar compressed with gzip (`.tgz`, `.tar.gz`).
    Tgz,
    /// zip with stored (uncompressed) entries, as AIS writes them.
    Zip,
    /// tar compressed as one LZ4 frame (`.tar.lz4`).
    TarLz4,
}

/// Not an archive format AIS knows (the name or `mime` as given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFormat(pub String);

impl ShardFormat {
    /// The format of shard `name`, as AIS decides it: `mime` (`tar`, `.tgz`, `tar.gz`, ...)
    /// when set, else the name's extension.
    pub fn detect(name: &str, mime: &str) -> Result<ShardFormat, UnknownFormat> {
        let what = if mime.is_empty() { name } else { mime };
        let m = what.trim().to_ascii_lowercase();
        let m = if mime.is_empty() {
            m
        } else {
            format!(".{}", m.trim_start_matches('.'))
        };
        if m.ends_with(".tar") {
            Ok(ShardFormat::Tar)
        } else if m.ends_with(".tgz") || m.ends_with(".tar.gz") {
            Ok(ShardFormat::Tgz)
        } else if m.ends_with(".zip") {
            Ok(ShardFormat::Zip)
        } else if m.ends_with(".tar.lz4") {
            Ok(ShardFormat::TarLz4)
        } else {
            Err(UnknownFormat(what.to_string()))
        }
    }

    /// The reader's name of this format.
    pub fn archive(self) -> Format {
        match self {
            ShardFormat::Tar => Format::Tar,
            ShardFormat::Tgz => Format::Tgz,
            ShardFormat::Zip => Format::Zip,
            ShardFormat::TarLz4 => Format::TarLz4,
        }
    }

    pub fn of(f: Format) -> ShardFormat {
        match f {
            Format::Tar => ShardFormat::Tar,
            Format::Tgz => ShardFormat::Tgz,
            Format::Zip => ShardFormat::Zip,
            Format::TarLz4 => ShardFormat::TarLz4,
        }
    }

    /// The `Content-Type` of a response in this format (AIS `archive.ContentTypeFromExt`).
    pub fn content_type(self) -> &'static str {
        match self {
            ShardFormat::Tar => "application/x-tar",
            ShardFormat::Tgz => "application/gzip",
            ShardFormat::Zip => "application/zip",
            ShardFormat::TarLz4 => "application/x-lz4",
        }
    }
}

/// Largest shard reopened in memory to add members to it ([`Shard::reopen`]): the
/// uncompressed tar stream of a tar, tgz or tar.lz4 shard, or the zip itself. Beyond it the
/// caller gets [`ArchError::TooLarge`] naming this constant.
pub const SHARD_EDIT_BYTES_MAX: u64 = 256 << 20;

/// A shard being assembled in memory: the uncompressed tar stream (compressed by
/// [`Shard::seal`], off the executor), or the zip's entries and central directory.
pub struct Shard {
    fmt: ShardFormat,
    /// tar: the tar stream so far; zip: local headers and data so far.
    buf: Vec<u8>,
    /// zip: the central directory so far.
    central: Vec<u8>,
    entries: usize,
}

/// Most entries of a zip shard (no zip64).
pub const ZIP_ENTRIES_MAX: usize = 0xffff;
/// Largest zip shard (no zip64: 32-bit offsets and sizes).
pub const ZIP_BYTES_MAX: u64 = 0xffff_ffff;
const ZIP_LOCAL_SIG: u32 = 0x0403_4b50;
const ZIP_CENTRAL_SIG: u32 = 0x0201_4b50;
const ZIP_END_SIG: u32 = 0x0605_4b50;
const ZIP_END_BYTES: usize = 22;
/// 1980-01-01 00:00 in MS-DOS date and time.
const ZIP_DOS_DATE: u16 = (1 << 5) | 1;
/// Names are UTF-8 (general-purpose flag bit 11).
const ZIP_FLAG_UTF8: u16 = 1 << 11;
const _: () = assert!(SHARD_EDIT_BYTES_MAX < ZIP_BYTES_MAX);

fn invalid_input(why: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, why)
}

/// Write zip entry `name` (stored) at `offset`: its local header and data to `local`, its
/// central directory record to `central`; an error if the archive would then be over
/// [`ZIP_BYTES_MAX`] (the central directory and end record included).
fn zip_entry(
    local: &mut Vec<u8>,
    central: &mut Vec<u8>,
    offset: u64,
    name: &str,
    data: &[u8],
) -> std::io::Result<()> {
    let end = offset
        + central.len() as u64
        + 2 * (46 + name.len() as u64)
        + data.len() as u64
        + ZIP_END_BYTES as u64;
    if end > ZIP_BYTES_MAX || name.len() > 0xffff || name.is_empty() {
        return Err(invalid_input(format!(
            "zip member {name:?}: the archive would be over {ZIP_BYTES_MAX} bytes (no zip64), or a bad name"
        )));
    }
    let mut crc = flate2::Crc::new();
    crc.update(data);
    let (crc, size) = (crc.sum(), data.len() as u32);
    let offset = offset as u32;
    let name_len = name.len() as u16;
    let b = local;
    b.extend_from_slice(&ZIP_LOCAL_SIG.to_le_bytes());
    for v in [20u16, ZIP_FLAG_UTF8, 0, 0, ZIP_DOS_DATE] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    for v in [crc, size, size] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&name_len.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(name.as_bytes());
    b.extend_from_slice(data);
    let c = central;
    c.extend_from_slice(&ZIP_CENTRAL_SIG.to_le_bytes());
    for v in [20u16, 20, ZIP_FLAG_UTF8, 0, 0, ZIP_DOS_DATE] {
        c.extend_from_slice(&v.to_le_bytes());
    }
    for v in [crc, size, size] {
        c.extend_from_slice(&v.to_le_bytes());
    }
    for v in [name_len, 0, 0, 0, 0] {
        c.extend_from_slice(&v.to_le_bytes());
    }
    c.extend_from_slice(&0u32.to_le_bytes());
    c.extend_from_slice(&offset.to_le_bytes());
    c.extend_from_slice(name.as_bytes());
    Ok(())
}

/// The central directory `central` of `entries` entries at `cd_off`, and the end record.
fn zip_end(out: &mut Vec<u8>, central: &[u8], entries: usize, cd_off: u64) {
    assert!(entries <= ZIP_ENTRIES_MAX && cd_off + central.len() as u64 <= ZIP_BYTES_MAX);
    let n = entries as u16;
    out.extend_from_slice(central);
    out.extend_from_slice(&ZIP_END_SIG.to_le_bytes());
    for v in [0u16, 0, n, n] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&(cd_off as u32).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
}

impl Shard {
    pub fn new(fmt: ShardFormat) -> Shard {
        Shard {
            fmt,
            buf: Vec::new(),
            central: Vec::new(),
            entries: 0,
        }
    }

    /// Continue the existing shard `bytes` to add members after the ones it has, which are
    /// kept byte for byte and in order (AIS appends, it never replaces a member: a name added
    /// twice is in the shard twice, and a read finds the first). A tar-based shard's tar
    /// stream is kept up to its end-of-archive blocks; a zip keeps everything before its
    /// central directory, and its central directory records. An error if `bytes` is not a
    /// readable shard of that format (zip: every entry's local header is checked; zip64 and
    /// encrypted entries are refused), or is over [`SHARD_EDIT_BYTES_MAX`].
    pub fn reopen(fmt: ShardFormat, bytes: &[u8]) -> Result<Shard, ArchError> {
        if fmt != ShardFormat::Zip {
            let mut s = Shard::new(fmt);
            s.buf = open_for_append(fmt, bytes)?;
            return Ok(s);
        }
        if bytes.len() as u64 > SHARD_EDIT_BYTES_MAX {
            return Err(edit_too_large(Format::Zip));
        }
        // Every entry readable where the central directory says.
        crate::archive::index(bytes, Format::Zip)?;
        let bad = |why: &str| ArchError::Invalid {
            format: Format::Zip,
            detail: why.to_string(),
        };
        let at = bytes
            .len()
            .checked_sub(ZIP_END_BYTES)
            .and_then(|last| {
                (0..=last)
                    .rev()
                    .take(0x1_0000 + 1)
                    .find(|i| bytes[*i..*i + 4] == ZIP_END_SIG.to_le_bytes())
            })
            .ok_or_else(|| bad("no end-of-central-directory record"))?;
        let e = &bytes[at..];
        let u16_at = |o: usize| usize::from(u16::from_le_bytes([e[o], e[o + 1]]));
        let u32_at = |o: usize| u32::from_le_bytes([e[o], e[o + 1], e[o + 2], e[o + 3]]) as usize;
        let (count, cd_size, cd_off) = (u16_at(10), u32_at(12), u32_at(16));
        let cd_end = cd_off
            .checked_add(cd_size)
            .filter(|end| *end <= at)
            .ok_or_else(|| bad("central directory out of bounds"))?;
        if count >= ZIP_ENTRIES_MAX {
            return Err(ArchError::TooLarge(format!(
                "a zip of {count} entries cannot take one more (ZIP_ENTRIES_MAX {ZIP_ENTRIES_MAX}, no zip64)"
            )));
        }
        Ok(Shard {
            fmt,
            buf: bytes[..cd_off].to_vec(),
            central: bytes[cd_off..cd_end].to_vec(),
            entries: count,
        })
    }

    /// Bytes so far (uncompressed: the tar stream, or the zip).
    pub fn len(&self) -> usize {
        self.buf.len() + self.central.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Add member `name` with `data`, modified at `mtime` (Unix seconds; not kept in zip).
    pub fn add(&mut self, name: &str, data: &[u8], mtime: u64) -> std::io::Result<()> {
        if self.fmt != ShardFormat::Zip {
            append(&mut self.buf, name, data, mtime)?;
            self.entries += 1;
            return Ok(());
        }
        if self.entries >= ZIP_ENTRIES_MAX {
            return Err(invalid_input(format!(
                "zip member {name}: the shard would be over {ZIP_ENTRIES_MAX} entries (no zip64)"
            )));
        }
        let offset = self.buf.len() as u64;
        zip_entry(&mut self.buf, &mut self.central, offset, name, data)?;
        self.entries += 1;
        Ok(())
    }

    /// The finished shard (compression runs here: call it off the executor).
    pub fn seal(self) -> std::io::Result<Vec<u8>> {
        if self.fmt != ShardFormat::Zip {
            return seal(self.fmt, self.buf);
        }
        let cd_off = self.buf.len() as u64;
        let mut out = self.buf;
        zip_end(&mut out, &self.central, self.entries, cd_off);
        Ok(out)
    }
}

fn edit_too_large(f: Format) -> ArchError {
    ArchError::TooLarge(format!(
        "the {} shard is over SHARD_EDIT_BYTES_MAX ({SHARD_EDIT_BYTES_MAX} bytes uncompressed), the largest this node reopens to add files to",
        f.ext()
    ))
}

/// The tar stream of an existing shard (decompressed for tgz and tar.lz4) up to its
/// end-of-archive blocks, so members can be appended after it; an error if it is not a
/// readable tar of that format or is over [`SHARD_EDIT_BYTES_MAX`] uncompressed.
pub fn open_for_append(fmt: ShardFormat, shard: &[u8]) -> Result<Vec<u8>, ArchError> {
    use std::io::Read;
    let format = fmt.archive();
    let inflate = |r: &mut dyn Read| -> Result<Vec<u8>, ArchError> {
        let mut v = Vec::new();
        r.take(SHARD_EDIT_BYTES_MAX + 1)
            .read_to_end(&mut v)
            .map_err(|e| ArchError::Invalid {
                format,
                detail: format!("cannot decompress: {e}"),
            })?;
        Ok(v)
    };
    let mut tar = match fmt {
        ShardFormat::Tar => shard.to_vec(),
        ShardFormat::Zip => {
            return Err(ArchError::BadRequest(
                "a zip shard is not a tar stream".into(),
            ))
        }
        ShardFormat::Tgz => inflate(&mut flate2::read::MultiGzDecoder::new(shard))?,
        ShardFormat::TarLz4 => inflate(&mut lz4_flex::frame::FrameDecoder::new(shard))?,
    };
    if tar.len() as u64 > SHARD_EDIT_BYTES_MAX {
        return Err(edit_too_large(format));
    }
    let end = crate::archive::index(&tar[..], Format::Tar)
        .map_err(|e| match e {
            ArchError::Invalid { detail, .. } => ArchError::Invalid { format, detail },
            other => other,
        })?
        .end;
    tar.truncate(usize::try_from(end).expect("within the tar in memory"));
    Ok(tar)
}

/// End tar stream `tar` and encode it as `fmt` (tar, tgz or tar.lz4).
pub fn seal(fmt: ShardFormat, mut tar: Vec<u8>) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    finish(&mut tar)?;
    match fmt {
        ShardFormat::Tar => Ok(tar),
        ShardFormat::Zip => Err(invalid_input("a zip shard is sealed by Shard::seal".into())),
        ShardFormat::Tgz => {
            let mut e = flate2::write::GzEncoder::new(
                Vec::with_capacity(tar.len() / 2),
                flate2::Compression::fast(),
            );
            e.write_all(&tar)?;
            e.finish()
        }
        ShardFormat::TarLz4 => {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(tar.len() / 2));
            e.write_all(&tar)?;
            e.finish().map_err(std::io::Error::other)
        }
    }
}

/// Where the bytes of a [`Stream`] go before they are taken: as they are, or through an
/// encoder.
enum Sink {
    Plain(Vec<u8>),
    Gz(flate2::write::GzEncoder<Vec<u8>>),
    Lz4(lz4_flex::frame::FrameEncoder<Vec<u8>>),
}

/// A shard written as a stream (GetBatch): each member is encoded as it is added and the
/// bytes ready so far are [`Stream::take`]n and sent; [`Stream::finish`] gives the end (tar's
/// zero blocks and the encoder's tail; zip's central directory). Zip entries are stored and
/// written with their sizes and CRC in the local header (each member is whole in memory when
/// added), so no data descriptors; no zip64 (at most [`ZIP_ENTRIES_MAX`] entries and
/// [`ZIP_BYTES_MAX`] bytes: an error beyond).
pub struct Stream {
    fmt: ShardFormat,
    sink: Sink,
    /// zip: bytes produced so far, taken or not (the next local header's offset).
    zip_at: u64,
    central: Vec<u8>,
    entries: usize,
}

impl Stream {
    pub fn new(fmt: ShardFormat) -> Stream {
        let sink = match fmt {
            ShardFormat::Tar | ShardFormat::Zip => Sink::Plain(Vec::new()),
            ShardFormat::Tgz => Sink::Gz(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::fast(),
            )),
            ShardFormat::TarLz4 => Sink::Lz4(lz4_flex::frame::FrameEncoder::new(Vec::new())),
        };
        Stream {
            fmt,
            sink,
            zip_at: 0,
            central: Vec::new(),
            entries: 0,
        }
    }

    pub fn format(&self) -> ShardFormat {
        self.fmt
    }

    /// Add member `name` with `data`, modified at `mtime` (Unix seconds; not kept in zip).
    pub fn add(&mut self, name: &str, data: &[u8], mtime: u64) -> std::io::Result<()> {
        match &mut self.sink {
            Sink::Plain(v) if self.fmt == ShardFormat::Zip => {
                if self.entries >= ZIP_ENTRIES_MAX {
                    return Err(invalid_input(format!(
                        "zip member {name}: over {ZIP_ENTRIES_MAX} entries (no zip64)"
                    )));
                }
                let before = v.len();
                zip_entry(v, &mut self.central, self.zip_at, name, data)?;
                self.zip_at += (v.len() - before) as u64;
            }
            Sink::Plain(v) => append(v, name, data, mtime)?,
            Sink::Gz(g) => append(g, name, data, mtime)?,
            Sink::Lz4(l) => append(l, name, data, mtime)?,
        }
        self.entries += 1;
        Ok(())
    }

    /// Bytes ready to send (taken out).
    pub fn take(&mut self) -> Vec<u8> {
        match &mut self.sink {
            Sink::Plain(v) => std::mem::take(v),
            Sink::Gz(g) => std::mem::take(g.get_mut()),
            Sink::Lz4(l) => std::mem::take(l.get_mut()),
        }
    }

    /// Bytes ready and not taken.
    pub fn pending(&self) -> usize {
        match &self.sink {
            Sink::Plain(v) => v.len(),
            Sink::Gz(g) => g.get_ref().len(),
            Sink::Lz4(l) => l.get_ref().len(),
        }
    }

    /// The rest of the stream: what is pending and the archive's end.
    pub fn finish(self) -> std::io::Result<Vec<u8>> {
        match self.sink {
            Sink::Plain(mut v) if self.fmt == ShardFormat::Zip => {
                zip_end(&mut v, &self.central, self.entries, self.zip_at);
                Ok(v)
            }
            Sink::Plain(mut v) => {
                finish(&mut v)?;
                Ok(v)
            }
            Sink::Gz(mut g) => {
                finish(&mut g)?;
                g.finish()
            }
            Sink::Lz4(mut l) => {
                finish(&mut l)?;
                l.finish().map_err(std::io::Error::other)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_detected_by_mime_then_name() {
        assert_eq!(ShardFormat::detect("a.tar", ""), Ok(ShardFormat::Tar));
        assert_eq!(ShardFormat::detect("a.tgz", ""), Ok(ShardFormat::Tgz));
        assert_eq!(ShardFormat::detect("a.TAR.GZ", ""), Ok(ShardFormat::Tgz));
        assert_eq!(ShardFormat::detect("a.bin", "tar"), Ok(ShardFormat::Tar));
        assert_eq!(ShardFormat::detect("a.tar", ".tgz"), Ok(ShardFormat::Tgz));
        assert_eq!(ShardFormat::detect("a.zip", ""), Ok(ShardFormat::Zip));
        assert_eq!(
            ShardFormat::detect("a.tar.lz4", ""),
            Ok(ShardFormat::TarLz4)
        );
        assert_eq!(ShardFormat::detect("a", "tar.lz4"), Ok(ShardFormat::TarLz4));
        assert_eq!(
            ShardFormat::detect("a.bin", ""),
            Err(UnknownFormat("a.bin".into()))
        );
    }

    #[test]
    fn append_after_sealing_keeps_every_member() {
        for fmt in [ShardFormat::Tar, ShardFormat::Tgz, ShardFormat::TarLz4] {
            let mut t = Vec::new();
            append(&mut t, "a", b"first", 1).unwrap();
            append(&mut t, "b", &[9u8; 700], 1).unwrap();
            let shard = seal(fmt, t).unwrap();
            let mut t = open_for_append(fmt, &shard).unwrap();
            assert_eq!(t.len(), 512 + 512 + 512 + 1024);
            append(&mut t, "c", b"third", 1).unwrap();
            let shard = seal(fmt, t).unwrap();
            let tar = open_for_append(fmt, &shard).unwrap();
            // a: head + 1 block; b: head + 2 blocks; c: head + 1 block.
            assert_eq!(tar.len(), 7 * 512);
            assert_eq!(&tar[6 * 512..6 * 512 + 5], b"third");
        }
        assert!(open_for_append(ShardFormat::Tar, &[1u8; 100]).is_err());
        assert!(Shard::reopen(ShardFormat::Zip, b"not a zip").is_err());
    }

    #[test]
    fn zip_shards_list_every_member_and_take_appends() {
        let mut z = Shard::new(ShardFormat::Zip);
        z.add("a/b.txt", b"hello", 0).unwrap();
        z.add("c", &[7u8; 1000], 0).unwrap();
        let bytes = z.seal().unwrap();
        // End record: 2 entries, the central directory right after the data.
        let e = &bytes[bytes.len() - ZIP_END_BYTES..];
        assert_eq!(e[..4], ZIP_END_SIG.to_le_bytes());
        assert_eq!(u16::from_le_bytes([e[10], e[11]]), 2);
        let mut z = Shard::reopen(ShardFormat::Zip, &bytes).unwrap();
        z.add("d", b"x", 0).unwrap();
        let bytes = z.seal().unwrap();
        let e = &bytes[bytes.len() - ZIP_END_BYTES..];
        assert_eq!(u16::from_le_bytes([e[10], e[11]]), 3);
        // Data stored as is, after a 30-byte local header and the name.
        assert_eq!(&bytes[30 + 7..30 + 7 + 5], b"hello");
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.zip");
        std::fs::write(&p, &bytes).unwrap();
        let Ok(out) = std::process::Command::new("python3")
            .args(["-c", "import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(sorted(z.namelist()), z.read('c')==bytes([7])*1000)"])
            .arg(&p)
            .output()
        else {
            return; // no python3 here
        };
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(
            s.contains("['a/b.txt', 'c', 'd'] True"),
            "{s} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(open_for_append(ShardFormat::Tgz, b"not gzip").is_err());
    }

    #[test]
    fn gnu_tar_reads_what_we_write() {
        let d = tempfile::tempdir().unwrap();
        let mut v = Vec::new();
        super::append(&mut v, "a.txt", b"hello\n", 1_700_000_000).unwrap();
        let long = format!("{}/{}", "d".repeat(120), "b.log");
        super::append(&mut v, &long, &[7u8; 1000], 1_700_000_000).unwrap();
        super::finish(&mut v).unwrap();
        assert_eq!(v.len() % 512, 0);
        let p = d.path().join("x.tar");
        std::fs::write(&p, &v).unwrap();
        let Ok(out) = std::process::Command::new("tar")
            .arg("-tvf")
            .arg(&p)
            .output()
        else {
            return; // no tar(1) here
        };
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{listing} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            listing.contains(" 6 ") && listing.contains("a.txt"),
            "{listing}"
        );
        assert!(
            listing.contains(&long) && listing.contains(" 1000 "),
            "{listing}"
        );
        assert!(super::header(&"x".repeat(300), 1, 0).is_err());
    }

    #[test]
    fn pax_long_names_round_trip_through_our_reader_and_gnu_tar() {
        let name = format!("bucket/{}/obj.bin", "x".repeat(300));
        let mut v = Vec::new();
        super::append(&mut v, &name, b"data", 1).unwrap();
        super::finish(&mut v).unwrap();
        assert_eq!(super::member_len(&name, 4).unwrap() + 1024, v.len() as u64);
        let idx = crate::archive::index(&v[..], crate::archive::Format::Tar).unwrap();
        assert_eq!(idx.members.len(), 1);
        assert_eq!(idx.members[0].name, name);
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.tar");
        std::fs::write(&p, &v).unwrap();
        if let Ok(out) = std::process::Command::new("tar")
            .arg("-tf")
            .arg(&p)
            .output()
        {
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), name);
        }
    }

    fn files() -> Vec<(String, Vec<u8>)> {
        (0..20u32)
            .map(|i| {
                (
                    format!("{i:06}.{}", if i % 2 == 0 { "jpg" } else { "cls" }),
                    (0..(i * 997) % 5000).map(|k| (k * 31 + i) as u8).collect(),
                )
            })
            .collect()
    }

    /// Every member of `bytes` (read by our reader) as (name, data), in archive order.
    fn read_back(bytes: &[u8], f: Format) -> Vec<(String, Vec<u8>)> {
        let idx = crate::archive::index(bytes, f).unwrap();
        idx.members
            .iter()
            .map(|m| {
                (
                    m.name.clone(),
                    crate::archive::read_member(bytes, &idx, m).unwrap(),
                )
            })
            .collect()
    }

    fn python(script: &str, file: &std::path::Path) -> Option<String> {
        let out = std::process::Command::new("python3")
            .args(["-c", script])
            .arg(file)
            .output()
            .ok()?; // no python3 here
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    #[test]
    fn streams_in_every_format_read_back_by_our_reader_and_others() {
        let want = files();
        let d = tempfile::tempdir().unwrap();
        for fmt in [
            ShardFormat::Tar,
            ShardFormat::Tgz,
            ShardFormat::Zip,
            ShardFormat::TarLz4,
        ] {
            let mut s = Stream::new(fmt);
            let mut out = Vec::new();
            for (n, data) in &want {
                s.add(n, data, 1_700_000_000).unwrap();
                // Taken as it goes, as GetBatch sends it.
                out.extend(s.take());
                assert_eq!(s.pending(), 0);
            }
            out.extend(s.finish().unwrap());
            assert_eq!(read_back(&out, fmt.archive()), want, "{fmt:?}");
            let p = d.path().join(format!("x{}", fmt.archive().ext()));
            std::fs::write(&p, &out).unwrap();
            match fmt {
                ShardFormat::Zip => {
                    let Some(s) = python(
                        "import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(len(z.namelist()), sum(len(z.read(n)) for n in z.namelist()))",
                        &p,
                    ) else {
                        continue;
                    };
                    let total: usize = want.iter().map(|(_, d)| d.len()).sum();
                    assert_eq!(s.trim(), format!("{} {total}", want.len()));
                }
                ShardFormat::TarLz4 => {
                    let mut tar = Vec::new();
                    std::io::Read::read_to_end(
                        &mut lz4_flex::frame::FrameDecoder::new(&out[..]),
                        &mut tar,
                    )
                    .unwrap();
                    assert_eq!(tar.len() % 512, 0);
                    assert_eq!(read_back(&tar, Format::Tar), want);
                }
                ShardFormat::Tar => {}
                ShardFormat::Tgz => {
                    let Ok(o) = std::process::Command::new("tar")
                        .arg("-tzf")
                        .arg(&p)
                        .output()
                    else {
                        continue; // no tar(1) here
                    };
                    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                    let names: Vec<String> = String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .map(str::to_string)
                        .collect();
                    assert_eq!(
                        names,
                        want.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()
                    );
                }
            }
        }
    }

    #[test]
    fn reopened_shards_keep_every_member_byte_for_byte() {
        let want = files();
        for fmt in [
            ShardFormat::Tar,
            ShardFormat::Tgz,
            ShardFormat::Zip,
            ShardFormat::TarLz4,
        ] {
            let mut s = Shard::new(fmt);
            for (n, data) in &want[..10] {
                s.add(n, data, 1).unwrap();
            }
            let mut bytes = s.seal().unwrap();
            for (n, data) in &want[10..] {
                let before = read_back(&bytes, fmt.archive());
                let mut s = Shard::reopen(fmt, &bytes).unwrap();
                s.add(n, data, 2).unwrap();
                bytes = s.seal().unwrap();
                let after = read_back(&bytes, fmt.archive());
                assert_eq!(after[..before.len()], before[..], "{fmt:?}");
                assert_eq!(after[before.len()], (n.clone(), data.clone()), "{fmt:?}");
            }
            assert_eq!(read_back(&bytes, fmt.archive()), want, "{fmt:?}");
            // A name added again is there twice; a read by name finds the first (as in AIS).
            let mut s = Shard::reopen(fmt, &bytes).unwrap();
            s.add(&want[0].0, b"second", 3).unwrap();
            let bytes = s.seal().unwrap();
            let idx = crate::archive::index(&bytes[..], fmt.archive()).unwrap();
            assert_eq!(idx.members.len(), want.len() + 1);
            let m = idx.find(&want[0].0).unwrap();
            assert_eq!(
                crate::archive::read_member(&bytes[..], &idx, m).unwrap(),
                want[0].1
            );
        }
    }

    #[test]
    fn a_zip_written_elsewhere_keeps_its_bytes_when_a_member_is_added() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("py.zip");
        // Deflated entries, a directory, data descriptors (written to a pipe-like stream).
        let Some(_) = python(
            "import sys,zipfile\nwith zipfile.ZipFile(sys.argv[1],'w',zipfile.ZIP_DEFLATED) as z:\n  z.writestr('d/',b'')\n  z.writestr('a.txt',b'hello '*1000)\n  with z.open('b.bin','w') as f: f.write(bytes(range(256))*40)\n",
            &p,
        ) else {
            return;
        };
        let orig = std::fs::read(&p).unwrap();
        let mut s = Shard::reopen(ShardFormat::Zip, &orig).unwrap();
        s.add("c/new.bin", &[5u8; 3000], 0).unwrap();
        let bytes = s.seal().unwrap();
        let idx = crate::archive::index(&orig[..], Format::Zip).unwrap();
        let cd = idx
            .members
            .iter()
            .map(|m| m.offset + m.csize)
            .max()
            .unwrap() as usize;
        assert_eq!(
            bytes[..cd],
            orig[..cd],
            "entries before the central directory kept"
        );
        std::fs::write(&p, &bytes).unwrap();
        let s = python(
            "import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(z.namelist(), z.read('a.txt')==b'hello '*1000, z.read('c/new.bin')==bytes([5])*3000)",
            &p,
        )
        .unwrap();
        assert_eq!(s.trim(), "['d/', 'a.txt', 'b.bin', 'c/new.bin'] True True");
    }

    #[test]
    fn corrupt_or_oversized_shards_are_not_reopened() {
        let mut s = Shard::new(ShardFormat::Tar);
        s.add("a", b"abc", 1).unwrap();
        let tar = s.seal().unwrap();
        for (fmt, junk) in [
            (
                ShardFormat::Tgz,
                b"\x1f\x8b\x08\x00junk-not-deflate".to_vec(),
            ),
            (ShardFormat::TarLz4, b"\x04\x22\x4d\x18junk".to_vec()),
            (ShardFormat::Zip, b"PK\x03\x04 not a zip at all".to_vec()),
            (ShardFormat::Tar, vec![0x41u8; 2048]),
        ] {
            assert!(
                matches!(Shard::reopen(fmt, &junk), Err(ArchError::Invalid { .. })),
                "{fmt:?}"
            );
        }
        // A tgz cut short, and a zip whose central directory points past a cut.
        let gz = seal(
            ShardFormat::Tgz,
            open_for_append(ShardFormat::Tar, &tar).unwrap(),
        )
        .unwrap();
        assert!(Shard::reopen(ShardFormat::Tgz, &gz[..gz.len() - 9]).is_err());
        let mut z = Shard::new(ShardFormat::Zip);
        z.add("x", &[1u8; 100], 0).unwrap();
        let z = z.seal().unwrap();
        let mut cut = z[..20].to_vec();
        cut.extend_from_slice(&z[z.len() - 22..]);
        assert!(Shard::reopen(ShardFormat::Zip, &cut).is_err());
        // One byte past SHARD_EDIT_BYTES_MAX uncompressed: refused by the limit's name.
        let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..SHARD_EDIT_BYTES_MAX >> 20 {
            std::io::Write::write_all(&mut e, &zeros).unwrap();
        }
        std::io::Write::write_all(&mut e, &[0u8]).unwrap();
        let big = e.finish().unwrap();
        assert!(
            matches!(Shard::reopen(ShardFormat::TarLz4, &big), Err(ArchError::TooLarge(m)) if m.contains("SHARD_EDIT_BYTES_MAX"))
        );
    }
}
