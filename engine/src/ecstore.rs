//! Erasure-coded slices and their metafiles on one mountpath (docs/on-disk-format.md,
//! "Erasure-coded slices"): where they live (`%ec/<escaped name>`, `%mt/<escaped name>`),
//! writing a received slice and its metafile into place, reading them back, tombstones, and
//! encoding a local object file into slice work files. Blocking file I/O: callers run it on
//! their core's blocking thread.
//!
//! # Invariants
//! - A slice file and its metafile are written to work files first and renamed into place,
//!   slice first, metafile last: a metafile never describes a slice that is not in place. A
//!   crash in between leaves the new slice under an older metafile, whose slice checksum then
//!   fails, so readers skip that slice.
//! - A metafile is never replaced by one of an older generation ([`Installed::Stale`]): a
//!   delayed slice of an old PUT cannot overwrite a newer one or a newer tombstone.
//!
//! # What this module does not do
//! - Choose targets, talk to other nodes, or decode: the cluster layer does (`cluster::ec`).

use crate::ec::{EcConf, EcMeta, Encoder};
use crate::error::Error;
use crate::layout::{escaped_rel, Bck};
use crate::mountpath::Mountpath;
use crate::Result;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use xxhash_rust::xxh64::Xxh64;

/// Content-type directory of slice files (and full replicas of small objects).
pub const CT_EC: &str = "%ec";
/// Content-type directory of slice metafiles (and tombstones).
pub const CT_META: &str = "%mt";
/// Read buffer of [`encode_to_work`] and [`file_xxh64`].
pub const EC_READ_BUFFER_BYTES: usize = 1 << 20;

/// Where the slice (or replica) of `object` lives on mountpath `mp`.
pub fn slice_fqn(mp: &Path, bck: &Bck, object: &str) -> PathBuf {
    let mut p = bck.dir(mp);
    p.push(CT_EC);
    p.push(escaped_rel(object));
    p
}

/// Where the metafile of `object`'s slice lives on mountpath `mp`.
pub fn meta_fqn(mp: &Path, bck: &Bck, object: &str) -> PathBuf {
    let mut p = bck.dir(mp);
    p.push(CT_META);
    p.push(escaped_rel(object));
    p
}

fn not_found(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound
        || e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error())
}

/// The metafile of `object` on `mp`: `None` if there is none; a metafile that does not
/// decode is [`Error::Corrupt`].
pub fn read_meta(mp: &Path, bck: &Bck, object: &str) -> Result<Option<EcMeta>> {
    let p = meta_fqn(mp, bck, object);
    let b = match fs::read(&p) {
        Ok(b) => b,
        Err(e) if not_found(&e) => return Ok(None),
        Err(e) => return Err(Error::io("read", &p, e)),
    };
    EcMeta::decode(&b).map(Some).map_err(|e| Error::Corrupt {
        path: p,
        detail: e.to_string(),
    })
}

/// A new, empty work file for a slice of `object` on `mp` (the bucket's `%wk`).
pub fn create_work(
    mp: &Mountpath,
    bck: &Bck,
    object: &str,
    tag: &str,
) -> Result<(PathBuf, fs::File)> {
    let wk = bck.work_dir(&mp.path);
    if !wk.is_dir() {
        mp.create_bucket(bck)?;
    }
    let work = wk.join(format!(
        "ec-{tag}.{:016x}.{}",
        xxhash_rust::xxh64::xxh64(object.as_bytes(), 0),
        crate::object::unique_suffix()
    ));
    let f = fs::OpenOptions::new()
        .write(true)
        .read(true)
        .create_new(true)
        .open(&work)
        .map_err(|e| Error::io("create work file", &work, e))?;
    Ok((work, f))
}

/// What [`install`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installed {
    /// The slice (or tombstone) and its metafile are in place.
    Done,
    /// A metafile of a newer generation is in place: nothing changed.
    Stale,
}

fn rename_into(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(|e| Error::io("mkdir", parent, e))?;
    }
    fs::rename(from, to).map_err(|e| Error::io("rename", to, e))
}

fn sync_dir_of(p: &Path) -> Result<()> {
    if let Some(parent) = p.parent() {
        fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io("fsync dir", parent, e))?;
    }
    Ok(())
}

/// Put a slice into place on `mp`: the work file `slice_work` (already written and, with
/// `fsync`, synced) becomes `%ec/<name>` and `meta` is written to `%mt/<name>`. A tombstone
/// (`meta.deleted`, no work file) removes the slice file instead. Unless a newer generation is
/// already there ([`Installed::Stale`]; the work file is removed).
pub fn install(
    mp: &Mountpath,
    bck: &Bck,
    object: &str,
    slice_work: Option<&Path>,
    meta: &EcMeta,
    fsync: bool,
) -> Result<Installed> {
    assert_eq!(
        slice_work.is_none(),
        meta.deleted,
        "a slice file goes with a live metafile, none with a tombstone"
    );
    let drop_work = || {
        if let Some(w) = slice_work {
            let _ = fs::remove_file(w);
        }
    };
    let cur = match read_meta(&mp.path, bck, object) {
        Ok(m) => m,
        // A damaged metafile is replaced by a good one.
        Err(Error::Corrupt { .. }) => None,
        Err(e) => {
            drop_work();
            return Err(e);
        }
    };
    if cur.is_some_and(|c| c.generation_ns > meta.generation_ns) {
        drop_work();
        return Ok(Installed::Stale);
    }
    let (mwork, mut mf): (PathBuf, fs::File) = match create_work(mp, bck, object, "mt") {
        Ok(x) => x,
        Err(e) => {
            drop_work();
            return Err(e);
        }
    };
    let r = (|| -> Result<()> {
        mf.write_all(&meta.encode())
            .map_err(|e| Error::io("write", &mwork, e))?;
        if fsync {
            mf.sync_data()
                .map_err(|e| Error::io("fdatasync", &mwork, e))?;
        }
        let sfqn = slice_fqn(&mp.path, bck, object);
        match slice_work {
            Some(w) => rename_into(w, &sfqn)?,
            None => match fs::remove_file(&sfqn) {
                Ok(()) => {}
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(Error::io("unlink", &sfqn, e)),
            },
        }
        let mfqn = meta_fqn(&mp.path, bck, object);
        rename_into(&mwork, &mfqn)?;
        if fsync {
            sync_dir_of(&sfqn)?;
            sync_dir_of(&mfqn)?;
        }
        Ok(())
    })();
    if let Err(e) = r {
        drop_work();
        let _ = fs::remove_file(&mwork);
        return Err(e);
    }
    Ok(Installed::Done)
}

/// `len` bytes at `offset` of the slice file of `object` on `mp` (fewer at its end).
pub fn read_slice_range(
    mp: &Path,
    bck: &Bck,
    object: &str,
    offset: u64,
    len: usize,
) -> Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let p = slice_fqn(mp, bck, object);
    let f = match fs::File::open(&p) {
        Ok(f) => f,
        Err(e) if not_found(&e) => return Err(Error::NotFound(p)),
        Err(e) => return Err(Error::io("open", &p, e)),
    };
    let mut buf = vec![0u8; len];
    let mut got = 0;
    while got < len {
        let n = f
            .read_at(&mut buf[got..], offset + got as u64)
            .map_err(|e| Error::io("read", &p, e))?;
        if n == 0 {
            break;
        }
        got += n;
    }
    buf.truncate(got);
    Ok(buf)
}

/// What [`check_slice`] found on a mountpath.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SliceCheck {
    /// The slice file hashes to its metafile's slice checksum.
    Intact(EcMeta),
    /// It does not, or its metafile does not decode (`None`): why.
    Bad(Option<EcMeta>, String),
    /// No metafile, a tombstone, or a live metafile without its slice file.
    Missing(Option<EcMeta>),
}

/// Check the slice (or replica) of `object` on `mp` against its metafile: XXH64 (seed 0) of
/// the whole slice file against the metafile's slice checksum. A metafile replaced while the
/// file was read (a PUT or DELETE meanwhile) means the check is done again, up to three times.
/// Blocking reads of the whole slice file.
pub fn check_slice(mp: &Path, bck: &Bck, object: &str) -> Result<SliceCheck> {
    let mut last = SliceCheck::Missing(None);
    for _ in 0..3 {
        let meta = match read_meta(mp, bck, object) {
            Ok(Some(m)) => m,
            Ok(None) => return Ok(SliceCheck::Missing(None)),
            Err(Error::Corrupt { detail, .. }) => {
                return Ok(SliceCheck::Bad(None, format!("metafile: {detail}")))
            }
            Err(e) => return Err(e),
        };
        if meta.deleted {
            return Ok(SliceCheck::Missing(Some(meta)));
        }
        last = match file_xxh64(&slice_fqn(mp, bck, object)) {
            Err(Error::NotFound(_)) => SliceCheck::Missing(Some(meta.clone())),
            Err(e) => return Err(e),
            Ok((cksum, _)) if cksum == meta.slice_cksum => SliceCheck::Intact(meta.clone()),
            Ok((cksum, len)) => SliceCheck::Bad(
                Some(meta.clone()),
                format!(
                    "{len} bytes hash to {cksum:016x}, the metafile says {:016x}",
                    meta.slice_cksum
                ),
            ),
        };
        if read_meta(mp, bck, object).ok().flatten().as_ref() == Some(&meta) {
            return Ok(last);
        }
    }
    Ok(last)
}

/// Remove the slice and metafile of `object` on `mp` (no tombstone); whether there was one.
pub fn remove(mp: &Path, bck: &Bck, object: &str) -> Result<bool> {
    let mut any = false;
    for p in [slice_fqn(mp, bck, object), meta_fqn(mp, bck, object)] {
        match fs::remove_file(&p) {
            Ok(()) => any = true,
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(Error::io("unlink", &p, e)),
        }
    }
    Ok(any)
}

/// XXH64 (seed 0) and length of a whole file, read in [`EC_READ_BUFFER_BYTES`] pieces.
pub fn file_xxh64(path: &Path) -> Result<(u64, u64)> {
    let mut f = fs::File::open(path).map_err(|e| {
        if not_found(&e) {
            Error::NotFound(path.to_path_buf())
        } else {
            Error::io("open", path, e)
        }
    })?;
    let mut h = Xxh64::new(0);
    let mut buf = vec![0u8; EC_READ_BUFFER_BYTES];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(|e| Error::io("read", path, e))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((h.digest(), n))
}

/// One encoded slice in a work file: its path and XXH64 (seed 0).
#[derive(Debug)]
pub struct SliceWork {
    pub path: PathBuf,
    pub cksum: u64,
}

/// Encode the object file `src` (`obj_size` bytes) into D+P slice work files on `mp`, read
/// in pieces of one stripe and encoded with [`Encoder::feed`]: memory is about two stripes
/// whatever the object size. On any error every work file is removed. A source whose length
/// differs from `obj_size` (replaced meanwhile) is an error.
pub fn encode_to_work(
    src: &Path,
    obj_size: u64,
    mp: &Mountpath,
    bck: &Bck,
    object: &str,
    conf: EcConf,
    fsync: bool,
) -> Result<Vec<SliceWork>> {
    let mut files: Vec<(PathBuf, fs::File, Xxh64)> = Vec::with_capacity(conf.slices());
    let r = (|| -> Result<()> {
        for i in 0..conf.slices() {
            let (p, f) = create_work(mp, bck, object, &format!("s{i}"))?;
            files.push((p, f, Xxh64::new(0)));
        }
        let mut from = fs::File::open(src).map_err(|e| {
            if not_found(&e) {
                Error::NotFound(src.to_path_buf())
            } else {
                Error::io("open", src, e)
            }
        })?;
        let bad = |detail: String| Error::Corrupt {
            path: src.to_path_buf(),
            detail,
        };
        let mut enc = Encoder::new(conf, obj_size).map_err(|e| bad(e.to_string()))?;
        let mut buf = vec![0u8; conf.data * crate::ec::CHUNK_BYTES_MAX];
        let mut read = 0u64;
        while read < obj_size {
            let want = (obj_size - read).min(buf.len() as u64) as usize;
            let k = from
                .read(&mut buf[..want])
                .map_err(|e| Error::io("read", src, e))?;
            if k == 0 {
                return Err(bad(format!("{read} bytes, metadata size {obj_size}")));
            }
            read += k as u64;
            let mut rest = &buf[..k];
            while let Some(stripe) = enc.feed(&mut rest).map_err(|e| bad(e.to_string()))? {
                for ((p, f, h), c) in files.iter_mut().zip(stripe.chunks()) {
                    h.update(c);
                    f.write_all(c)
                        .map_err(|e| Error::io("write", p.as_path(), e))?;
                }
            }
        }
        enc.finish().map_err(|e| bad(e.to_string()))?;
        if fsync {
            for (p, f, _) in &files {
                f.sync_data().map_err(|e| Error::io("fdatasync", p, e))?;
            }
        }
        Ok(())
    })();
    if let Err(e) = r {
        for (p, _, _) in &files {
            let _ = fs::remove_file(p);
        }
        return Err(e);
    }
    Ok(files
        .into_iter()
        .map(|(path, _, h)| SliceWork {
            path,
            cksum: h.digest(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec::{Decoder, META_VERSION};

    fn meta(gen: i64, deleted: bool) -> EcMeta {
        EcMeta {
            version: META_VERSION,
            data: 2,
            parity: 1,
            slice_index: 1,
            obj_size: if deleted { 0 } else { 5 },
            generation_ns: gen,
            obj_cksum_type: String::new(),
            obj_cksum_value: String::new(),
            obj_version: String::new(),
            slice_cksum: 0,
            targets: vec!["a".into(), "b".into(), "c".into()],
            replicated: false,
            deleted,
        }
    }

    #[test]
    fn install_keeps_the_newest_generation_and_tombstones_remove_the_slice() {
        let dir = tempfile::tempdir().unwrap();
        let mp = Mountpath::init(&dir.path().join("mp")).unwrap();
        let bck = Bck::ais("b");
        mp.create_bucket(&bck).unwrap();
        let put = |gen: i64, bytes: &[u8]| {
            let (w, mut f) = create_work(&mp, &bck, "d/o", "t").unwrap();
            f.write_all(bytes).unwrap();
            install(&mp, &bck, "d/o", Some(&w), &meta(gen, false), false).unwrap()
        };
        assert_eq!(put(10, b"ten"), Installed::Done);
        assert_eq!(put(5, b"five"), Installed::Stale);
        assert_eq!(
            read_slice_range(&mp.path, &bck, "d/o", 0, 64).unwrap(),
            b"ten"
        );
        assert_eq!(read_slice_range(&mp.path, &bck, "d/o", 1, 1).unwrap(), b"e");
        let tomb = meta(20, true);
        assert_eq!(
            install(&mp, &bck, "d/o", None, &tomb, true).unwrap(),
            Installed::Done
        );
        assert_eq!(read_meta(&mp.path, &bck, "d/o").unwrap(), Some(tomb));
        assert!(matches!(
            read_slice_range(&mp.path, &bck, "d/o", 0, 1),
            Err(Error::NotFound(_))
        ));
        assert_eq!(put(15, b"late"), Installed::Stale);
        assert_eq!(put(25, b"again"), Installed::Done);
        assert!(remove(&mp.path, &bck, "d/o").unwrap());
        assert_eq!(read_meta(&mp.path, &bck, "d/o").unwrap(), None);
        // No work file is left behind.
        assert_eq!(fs::read_dir(bck.work_dir(&mp.path)).unwrap().count(), 0);
    }

    #[test]
    fn check_slice_finds_intact_flipped_and_missing_slices() {
        let dir = tempfile::tempdir().unwrap();
        let mp = Mountpath::init(&dir.path().join("mp")).unwrap();
        let bck = Bck::ais("b");
        mp.create_bucket(&bck).unwrap();
        assert_eq!(
            check_slice(&mp.path, &bck, "o").unwrap(),
            SliceCheck::Missing(None)
        );
        let bytes = b"slice bytes".to_vec();
        let m = EcMeta {
            slice_cksum: xxhash_rust::xxh64::xxh64(&bytes, 0),
            ..meta(10, false)
        };
        let (w, mut f) = create_work(&mp, &bck, "o", "t").unwrap();
        f.write_all(&bytes).unwrap();
        install(&mp, &bck, "o", Some(&w), &m, false).unwrap();
        assert_eq!(
            check_slice(&mp.path, &bck, "o").unwrap(),
            SliceCheck::Intact(m.clone())
        );
        let mut flipped = bytes.clone();
        flipped[3] ^= 0x04;
        fs::write(slice_fqn(&mp.path, &bck, "o"), &flipped).unwrap();
        assert!(matches!(
            check_slice(&mp.path, &bck, "o").unwrap(),
            SliceCheck::Bad(Some(ref x), _) if *x == m
        ));
        fs::remove_file(slice_fqn(&mp.path, &bck, "o")).unwrap();
        assert_eq!(
            check_slice(&mp.path, &bck, "o").unwrap(),
            SliceCheck::Missing(Some(m))
        );
        fs::write(meta_fqn(&mp.path, &bck, "o"), b"garbage").unwrap();
        assert!(matches!(
            check_slice(&mp.path, &bck, "o").unwrap(),
            SliceCheck::Bad(None, _)
        ));
    }

    #[test]
    fn encoded_work_files_decode_to_the_object() {
        let dir = tempfile::tempdir().unwrap();
        let mp = Mountpath::init(&dir.path().join("mp")).unwrap();
        let bck = Bck::ais("b");
        mp.create_bucket(&bck).unwrap();
        let conf = EcConf { data: 2, parity: 1 };
        let obj: Vec<u8> = (0..3 * crate::ec::CHUNK_BYTES_MAX as u64 + 777)
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let src = dir.path().join("src");
        fs::write(&src, &obj).unwrap();
        let slices = encode_to_work(&src, obj.len() as u64, &mp, &bck, "o", conf, false).unwrap();
        assert_eq!(slices.len(), 3);
        let bytes: Vec<Vec<u8>> = slices.iter().map(|s| fs::read(&s.path).unwrap()).collect();
        for (s, b) in slices.iter().zip(&bytes) {
            assert_eq!(s.cksum, xxhash_rust::xxh64::xxh64(b, 0));
        }
        // Slice 0 lost: decode from 1 and 2.
        let mut dec = Decoder::new(conf, obj.len() as u64, &[1, 2]).unwrap();
        let mut out = Vec::new();
        while let Some(st) = dec.stripe() {
            let at = st.slice_offset() as usize;
            let chunks = [
                (1, &bytes[1][at..at + st.chunk]),
                (2, &bytes[2][at..at + st.chunk]),
            ];
            out.extend_from_slice(dec.decode_stripe(&chunks).unwrap().object);
        }
        assert_eq!(out, obj);
        // A source shorter than its size leaves no work file.
        assert!(encode_to_work(&src, obj.len() as u64 + 1, &mp, &bck, "o", conf, false).is_err());
        let left = fs::read_dir(bck.work_dir(&mp.path)).unwrap().count();
        assert_eq!(left, 3, "only the first run's work files");
    }
}
