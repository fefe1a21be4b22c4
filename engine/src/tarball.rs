//! Writing tar archives (POSIX ustar): a 512-byte header per member, its bytes padded to a
//! multiple of 512, and two zero blocks at the end. Enough for what the node produces itself
//! (its log archive, `archregx` results, GetBatch output, shards of multi-object `archive`
//! jobs). [`header`] refuses names longer than ustar's 100 (+155 prefix) bytes; [`member_head`]
//! writes those with a PAX `path` record (POSIX.1-2001, read by GNU tar, Go and Python).
//! Shards ([`Shard`]) are tar, tar.gz or zip (entries stored uncompressed, no zip64: at most
//! 65,535 entries and 4 GiB, no modification times: every entry is dated 1980-01-01);
//! tar.lz4 is not written here (the caller refuses it).

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

/// Formats of shards this module writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardFormat {
    Tar,
    /// tar compressed with gzip (`.tgz`, `.tar.gz`).
    Tgz,
    /// zip with stored (uncompressed) entries.
    Zip,
}

/// Why a shard format was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// AIS has it (zip, tar.lz4); this module does not write it.
    NotSupported(String),
    /// Not an archive format AIS knows.
    Unknown(String),
}

impl ShardFormat {
    /// The format of shard `name`, as AIS decides it: `mime` (`tar`, `.tgz`, `tar.gz`, ...)
    /// when set, else the name's extension.
    pub fn detect(name: &str, mime: &str) -> Result<ShardFormat, FormatError> {
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
            Err(FormatError::NotSupported(what.to_string()))
        } else {
            Err(FormatError::Unknown(what.to_string()))
        }
    }
}

/// A shard being assembled in memory.
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

fn invalid_data(why: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string())
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

    /// Continue the existing shard `bytes` (to append members); an error if it is not a
    /// readable shard of that format.
    pub fn reopen(fmt: ShardFormat, bytes: &[u8]) -> std::io::Result<Shard> {
        if fmt != ShardFormat::Zip {
            let mut s = Shard::new(fmt);
            s.buf = open_for_append(fmt, bytes)?;
            return Ok(s);
        }
        let at = bytes
            .len()
            .checked_sub(ZIP_END_BYTES)
            .and_then(|last| {
                (0..=last)
                    .rev()
                    .take(0x1_0000)
                    .find(|i| bytes[*i..*i + 4] == ZIP_END_SIG.to_le_bytes())
            })
            .ok_or_else(|| invalid_data("zip without its end-of-central-directory record"))?;
        let e = &bytes[at..];
        let u16_at = |o: usize| usize::from(u16::from_le_bytes([e[o], e[o + 1]]));
        let u32_at = |o: usize| u32::from_le_bytes([e[o], e[o + 1], e[o + 2], e[o + 3]]) as usize;
        let (count, cd_size, cd_off) = (u16_at(10), u32_at(12), u32_at(16));
        let cd_end = cd_off
            .checked_add(cd_size)
            .filter(|end| *end <= at)
            .ok_or_else(|| invalid_data("zip central directory out of bounds"))?;
        Ok(Shard {
            fmt,
            buf: bytes[..cd_off].to_vec(),
            central: bytes[cd_off..cd_end].to_vec(),
            entries: count,
        })
    }

    /// Bytes so far.
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
        let too_big = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("zip member {name}: the shard would be over {ZIP_ENTRIES_MAX} entries or {ZIP_BYTES_MAX} bytes (no zip64)"),
            )
        };
        let end = self.len() as u64 + 2 * (46 + name.len() as u64) + data.len() as u64;
        if self.entries >= ZIP_ENTRIES_MAX || end > ZIP_BYTES_MAX || name.len() > 0xffff {
            return Err(too_big());
        }
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let (crc, size) = (crc.sum(), data.len() as u32);
        let offset = self.buf.len() as u32;
        let name_len = name.len() as u16;
        let b = &mut self.buf;
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
        let c = &mut self.central;
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
        self.entries += 1;
        Ok(())
    }

    /// The finished shard.
    pub fn seal(self) -> std::io::Result<Vec<u8>> {
        if self.fmt != ShardFormat::Zip {
            return seal(self.fmt, self.buf);
        }
        let (cd_off, cd_size) = (self.buf.len() as u32, self.central.len() as u32);
        let n = self.entries as u16;
        let mut out = self.buf;
        out.extend_from_slice(&self.central);
        out.extend_from_slice(&ZIP_END_SIG.to_le_bytes());
        for v in [0u16, 0, n, n] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&cd_size.to_le_bytes());
        out.extend_from_slice(&cd_off.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        Ok(out)
    }
}

/// The tar stream of an existing shard (gunzipped for tgz) up to its end-of-archive blocks,
/// so members can be appended after it; an error if it is not a readable tar.
pub fn open_for_append(fmt: ShardFormat, shard: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut tar = match fmt {
        ShardFormat::Tar => shard.to_vec(),
        ShardFormat::Zip => return Err(invalid_data("not a tar stream: zip")),
        ShardFormat::Tgz => {
            let mut v = Vec::new();
            flate2::read::GzDecoder::new(shard).read_to_end(&mut v)?;
            v
        }
    };
    let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string());
    let mut pos = 0usize;
    loop {
        let Some(h) = tar.get(pos..pos + 512) else {
            return Err(bad("tar ends without its end-of-archive blocks"));
        };
        if h.iter().all(|c| *c == 0) {
            break;
        }
        let field = std::str::from_utf8(&h[124..136]).map_err(|_| bad("tar size field"))?;
        let size = u64::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8)
            .map_err(|_| bad("tar size field is not octal"))?;
        let padded = usize::try_from(size.div_ceil(512) * 512).map_err(|_| bad("tar size"))?;
        pos = pos
            .checked_add(512 + padded)
            .filter(|p| *p <= tar.len())
            .ok_or_else(|| bad("tar member runs past the end"))?;
    }
    tar.truncate(pos);
    Ok(tar)
}

/// End tar stream `tar` and encode it as `fmt` (tar or tgz).
pub fn seal(fmt: ShardFormat, mut tar: Vec<u8>) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    finish(&mut tar)?;
    match fmt {
        ShardFormat::Tar => Ok(tar),
        ShardFormat::Zip => Err(invalid_data("a zip shard is sealed by Shard::seal")),
        ShardFormat::Tgz => {
            let mut e = flate2::write::GzEncoder::new(
                Vec::with_capacity(tar.len() / 2),
                flate2::Compression::fast(),
            );
            e.write_all(&tar)?;
            e.finish()
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
        assert!(matches!(
            ShardFormat::detect("a.tar.lz4", ""),
            Err(FormatError::NotSupported(_))
        ));
        assert!(matches!(
            ShardFormat::detect("a.bin", ""),
            Err(FormatError::Unknown(_))
        ));
    }

    #[test]
    fn append_after_sealing_keeps_every_member() {
        for fmt in [ShardFormat::Tar, ShardFormat::Tgz] {
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
}
