//! Writing tar archives (POSIX ustar): a 512-byte header per member, its bytes padded to a
//! multiple of 512, and two zero blocks at the end. Enough for what the node produces itself
//! (its log archive, `archregx` results, GetBatch output). [`header`] refuses names longer
//! than ustar's 100 (+155 prefix) bytes; [`member_head`] writes those with a PAX `path`
//! record (POSIX.1-2001, read by GNU tar, Go and Python).

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

#[cfg(test)]
mod tests {
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
