//! Writing tar archives (POSIX ustar): a 512-byte header per member, its bytes padded to a
//! multiple of 512, and two zero blocks at the end. Enough for what the node produces itself
//! (its log archive, shards of multi-object `archive` jobs); names longer than ustar's 100
//! (+155 prefix) bytes are refused. Shards are tar or tar.gz ([`ShardFormat`]); zip and
//! tar.lz4 are not written here (the caller refuses them by name).

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

/// Append member `name` with `data` to `out`.
pub fn append(
    out: &mut impl std::io::Write,
    name: &str,
    data: &[u8],
    mtime: u64,
) -> std::io::Result<()> {
    out.write_all(&header(name, data.len() as u64, mtime)?)?;
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
        } else if m.ends_with(".zip") || m.ends_with(".tar.lz4") {
            Err(FormatError::NotSupported(what.to_string()))
        } else {
            Err(FormatError::Unknown(what.to_string()))
        }
    }
}

/// The tar stream of an existing shard (gunzipped for tgz) up to its end-of-archive blocks,
/// so members can be appended after it; an error if it is not a readable tar.
pub fn open_for_append(fmt: ShardFormat, shard: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut tar = match fmt {
        ShardFormat::Tar => shard.to_vec(),
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

/// End tar stream `tar` and encode it as `fmt`.
pub fn seal(fmt: ShardFormat, mut tar: Vec<u8>) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    finish(&mut tar)?;
    match fmt {
        ShardFormat::Tar => Ok(tar),
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
        assert!(matches!(
            ShardFormat::detect("a.zip", ""),
            Err(FormatError::NotSupported(_))
        ));
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
}
