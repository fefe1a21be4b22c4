//! `tuning measure`: O_DIRECT random reads and writes on a temporary file inside each
//! mountpath, at a few block sizes and queue depths, through one io_uring per run (the way
//! a reactor drives its disks), reporting MiB/s and IOPS per (mountpath, op, bs, qd).
//!
//! # Invariants
//! - The file is written in full before any read, so reads hit allocated blocks (reading a
//!   hole or an unwritten extent costs no disk I/O and would flatter the disk).
//! - Every buffer handed to the kernel outlives its request: buffers are owned by the run and
//!   the run drains every request before it returns, on success and on error.
//! - The temporary file is removed when the measurement ends, also on error (drop guard).
//!
//! # What this module does not do
//! It does not fsync per write (aisnode's PUT syncs once per object; this measures the
//! device path), does not measure mountpaths concurrently, and does not survive SIGKILL
//! without leaving its file (`.tuning-measure-<pid>` in the mountpath).
// One `unsafe` operation: pushing a submission-queue entry, whose buffer the kernel writes
// or reads until completion (see `run_cell`).
#![allow(unsafe_code)]

use anyhow::{bail, Context, Result};
use io_uring::{opcode, types, IoUring};
use serde::Serialize;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// O_DIRECT buffer and offset alignment: covers 512-byte and 4K logical block sizes.
pub const ALIGN_BYTES: usize = 4096;
pub const BLOCK_SIZES: [usize; 3] = [4 << 10, 64 << 10, 1 << 20];
pub const QUEUE_DEPTHS: [usize; 3] = [1, 16, 32];
/// Largest queue depth a run accepts (ring entries).
pub const QUEUE_DEPTH_MAX: usize = 256;
/// Smallest file we measure on: a few of the largest blocks.
pub const FILE_BYTES_MIN: u64 = 4 << 20;
const _: () =
    assert!(BLOCK_SIZES[2].is_multiple_of(ALIGN_BYTES) && QUEUE_DEPTHS[2] <= QUEUE_DEPTH_MAX);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Read,
    Write,
}

/// One measured (mountpath, op, bs, qd).
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub mountpath: PathBuf,
    pub op: Op,
    pub bs_bytes: usize,
    pub qd: usize,
    pub ios: u64,
    pub seconds: f64,
    pub mib_s: f64,
    pub iops: f64,
}

/// Options of a measurement.
#[derive(Debug, Clone)]
pub struct Opts {
    pub size_bytes: u64,
    pub seconds_per_cell: f64,
}

/// Parses `256M`, `1G`, `64K`, `4096`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, shift) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 10),
        Some((i, 'M' | 'm')) => (&t[..i], 20),
        Some((i, 'G' | 'g')) => (&t[..i], 30),
        _ => (t, 0),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected N, NK, NM or NG"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{s:?}: too large"))
}

/// The temporary file, removed when dropped.
struct TempFile {
    path: PathBuf,
    file: std::fs::File,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `len` bytes of a buffer aligned to [`ALIGN_BYTES`], inside an owned allocation.
struct AlignedBuf {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    fn new(len: usize) -> AlignedBuf {
        let storage = vec![0x5a_u8; len + ALIGN_BYTES];
        let start = storage.as_ptr().align_offset(ALIGN_BYTES);
        assert!(start < ALIGN_BYTES, "align_offset on u8 always succeeds");
        AlignedBuf {
            storage,
            start,
            len,
        }
    }
    fn slice_mut(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

/// Tiny deterministic generator for offsets (xorshift64*): no dependency, seed printed in
/// nothing because offsets only need to be spread, not reproduced.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Measures one mountpath; `progress` is told each cell as it completes.
pub fn measure(
    mountpath: &Path,
    opts: &Opts,
    progress: &mut dyn FnMut(&Cell),
) -> Result<Vec<Cell>> {
    let size = opts.size_bytes / (BLOCK_SIZES[2] as u64) * (BLOCK_SIZES[2] as u64);
    if size < FILE_BYTES_MIN {
        bail!(
            "--size {}: at least {FILE_BYTES_MIN} bytes",
            opts.size_bytes
        );
    }
    let path = mountpath.join(format!(".tuning-measure-{}", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32)
        .open(&path)
        .with_context(|| format!("{}: create with O_DIRECT", path.display()))?;
    let tmp = TempFile { path, file };
    fill(&tmp, size)?;
    let mut cells = Vec::new();
    for &bs in &BLOCK_SIZES {
        for &qd in &QUEUE_DEPTHS {
            for op in [Op::Read, Op::Write] {
                let dur = Duration::from_secs_f64(opts.seconds_per_cell);
                let (ios, elapsed) = run_cell(&tmp.file, size, bs, qd, op, dur)
                    .with_context(|| format!("{}: {op:?} bs={bs} qd={qd}", tmp.path.display()))?;
                let secs = elapsed.as_secs_f64().max(1e-9);
                let cell = Cell {
                    mountpath: mountpath.to_path_buf(),
                    op,
                    bs_bytes: bs,
                    qd,
                    ios,
                    seconds: secs,
                    mib_s: ios as f64 * bs as f64 / f64::from(1u32 << 20) / secs,
                    iops: ios as f64 / secs,
                };
                progress(&cell);
                cells.push(cell);
            }
        }
    }
    Ok(cells)
}

/// Writes the whole file once (1 MiB O_DIRECT writes) and syncs it.
fn fill(tmp: &TempFile, size: u64) -> Result<()> {
    let mut buf = AlignedBuf::new(BLOCK_SIZES[2]);
    let mut off = 0u64;
    while off < size {
        let n = rustix::io::pwrite(&tmp.file, buf.slice_mut(), off)
            .with_context(|| format!("{}: fill at offset {off}", tmp.path.display()))?;
        if n != BLOCK_SIZES[2] {
            bail!(
                "{}: short write of {n} bytes at offset {off} (disk full?)",
                tmp.path.display()
            );
        }
        off += n as u64;
    }
    tmp.file
        .sync_all()
        .with_context(|| format!("{}: fsync", tmp.path.display()))
}

/// Keeps `qd` random `bs`-sized requests in flight for `dur`; returns completed requests and
/// the time they took.
fn run_cell(
    file: &std::fs::File,
    size: u64,
    bs: usize,
    qd: usize,
    op: Op,
    dur: Duration,
) -> Result<(u64, Duration)> {
    assert!(bs.is_multiple_of(ALIGN_BYTES) && (1..=QUEUE_DEPTH_MAX).contains(&qd));
    let blocks = size / bs as u64;
    assert!(blocks > 0);
    let mut ring = IoUring::new(qd.next_power_of_two() as u32).context("io_uring_setup")?;
    // Leaked on every early return: a request still in flight may write into its buffer
    // after the ring is gone, so a buffer is freed only after the drain loop finished.
    let mut bufs: std::mem::ManuallyDrop<Vec<AlignedBuf>> =
        std::mem::ManuallyDrop::new((0..qd).map(|_| AlignedBuf::new(bs)).collect());
    let fd = types::Fd(file.as_raw_fd());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (bs as u64) ^ ((qd as u64) << 32));
    let mut in_flight = 0usize;
    let mut done = 0u64;
    let mut failure: Option<anyhow::Error> = None;
    let start = Instant::now();
    let deadline = start + dur;

    let mut submit = |ring: &mut IoUring, slot: usize, rng: &mut Rng| -> Result<()> {
        let off = (rng.next() % blocks) * bs as u64;
        let buf = bufs[slot].slice_mut();
        let len = u32::try_from(buf.len()).expect("block sizes are at most 1 MiB");
        let entry = match op {
            Op::Read => opcode::Read::new(fd, buf.as_mut_ptr(), len)
                .offset(off)
                .build(),
            Op::Write => opcode::Write::new(fd, buf.as_ptr(), len)
                .offset(off)
                .build(),
        }
        .user_data(slot as u64);
        // SAFETY: the buffer belongs to `bufs`, which is freed only after the drain loop saw
        // every submitted request complete, and leaked on any early return; each slot has at
        // most one request in flight, so no buffer is shared. The file descriptor is borrowed
        // from `file`, which outlives the ring.
        unsafe { ring.submission().push(&entry) }
            .map_err(|_| anyhow::anyhow!("submission queue full with {qd} entries"))
    };

    for slot in 0..qd {
        submit(&mut ring, slot, &mut rng)?;
        in_flight += 1;
    }
    while in_flight > 0 {
        if let Err(e) = ring.submit_and_wait(1) {
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            // Requests may still be in flight: `bufs` is leaked, not freed.
            return Err(anyhow::Error::new(e).context("io_uring_enter"));
        }
        let completed: Vec<(usize, i32)> = ring
            .completion()
            .map(|c| (c.user_data() as usize, c.result()))
            .collect();
        let now = Instant::now();
        for (slot, res) in completed {
            in_flight -= 1;
            if res < 0 {
                failure.get_or_insert_with(|| {
                    anyhow::Error::new(std::io::Error::from_raw_os_error(-res))
                });
            } else if res as usize != bs {
                failure.get_or_insert_with(|| anyhow::anyhow!("short {op:?}: {res} of {bs} bytes"));
            } else {
                done += 1;
            }
            if failure.is_none() && now < deadline {
                submit(&mut ring, slot, &mut rng)?;
                in_flight += 1;
            }
        }
    }
    let elapsed = start.elapsed();
    drop(std::mem::ManuallyDrop::into_inner(bufs));
    match failure {
        Some(e) => Err(e),
        None => Ok((done, elapsed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_suffixes_and_refuse_garbage() {
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("1T").is_err());
        assert!(parse_size("99999999999999G").is_err());
    }

    #[test]
    fn aligned_buffers_are_aligned() {
        for len in [4096, 65536, 1 << 20] {
            let mut b = AlignedBuf::new(len);
            let s = b.slice_mut();
            assert_eq!(s.len(), len);
            assert_eq!(s.as_ptr() as usize % ALIGN_BYTES, 0);
        }
    }

    #[test]
    fn too_small_a_file_is_refused_and_nothing_is_left() {
        let d = tempfile::tempdir().unwrap();
        let opts = Opts {
            size_bytes: FILE_BYTES_MIN - 1,
            seconds_per_cell: 0.01,
        };
        assert!(measure(d.path(), &opts, &mut |_| {}).is_err());
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
    }
}
