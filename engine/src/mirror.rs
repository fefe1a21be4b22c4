//! N-way mirror copies of an object on other mountpaths of the same target.
//!
//! The object itself stays where it is (`%ob` or `%ox` on its HRW mountpath); each extra copy
//! is a file at `<mountpath>/@<provider>/<bucket>/%cp/<escaped name>` (always the escaped
//! form of [`crate::layout::escaped_rel`], so copies never meet a file/directory conflict)
//! holding the same bytes and the same `user.ais.lom` metadata. Which mountpaths hold the
//! copies is the cluster layer's choice (HRW ranks 1.. of the object); walks of objects never
//! see copies, so rebalance, resilver and listings are unaffected by them.
//!
//! Everything here is blocking file-system work: callers run it off the reactor.

use crate::error::Error;
use crate::layout::{escaped_rel, Bck};
use crate::lom::{Lom, XATTR_LOM};
use crate::mountpath::Mountpath;
use crate::Result;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// Content-type directory of mirror copies.
pub const CT_COPY: &str = "%cp";

/// Where the copy of `object` lives on a mountpath.
pub fn copy_fqn(mp: &Path, bck: &Bck, object: &str) -> PathBuf {
    let mut p = bck.dir(mp);
    p.push(CT_COPY);
    p.push(escaped_rel(object));
    p
}

/// An object file opened for copying: its descriptor and metadata (of one inode).
fn open_src(src: &Path) -> Result<(fs::File, Lom)> {
    let f = fs::File::open(src).map_err(|e| Error::io("open", src, e))?;
    if f.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(Error::NotFound(src.to_path_buf()));
    }
    let mut buf = [0u8; crate::lom::LOM_BYTES_MAX];
    let n = rustix::fs::fgetxattr(f.as_fd(), XATTR_LOM, &mut buf[..]).map_err(|e| {
        if e == rustix::io::Errno::NODATA {
            Error::Corrupt {
                path: src.into(),
                detail: format!("no {XATTR_LOM} xattr"),
            }
        } else {
            Error::io("fgetxattr", src, e.into())
        }
    })?;
    let lom = crate::object::lom_from_xattr(&buf[..n], src, || {
        rustix::fs::fstat(f.as_fd()).map_err(|e| Error::io("fstat", src, e.into()))
    })?;
    Ok((f, lom))
}

/// Copy the object file `src` (bytes and metadata) into a new work file on `dst`, checking
/// its checksum (of the stored type) on the way when `verify`; the
/// work file's path and the metadata. The caller renames it into place.
fn copy_to_work(
    src: &Path,
    dst: &Mountpath,
    bck: &Bck,
    object: &str,
    fsync: bool,
    verify: bool,
) -> Result<(PathBuf, Lom)> {
    let (mut from, lom) = open_src(src)?;
    let wk = bck.work_dir(&dst.path);
    if !wk.is_dir() {
        dst.create_bucket(bck)?;
    }
    let work = wk.join(format!(
        "cp.{:016x}.{}",
        xxhash_rust::xxh64::xxh64(object.as_bytes(), 0),
        crate::object::unique_suffix()
    ));
    let mut to = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&work)
        .map_err(|e| Error::io("create work file", &work, e))?;
    let r = (|| -> Result<()> {
        let hashed = if verify { lom.verifiable_cksum() } else { None };
        let n = if let Some(ty) = hashed {
            let mut h = crate::cksum::Hasher::new(ty);
            let mut buf = vec![0u8; 1 << 20];
            let mut n = 0u64;
            loop {
                let k = from.read(&mut buf).map_err(|e| Error::io("read", src, e))?;
                if k == 0 {
                    break;
                }
                h.update(&buf[..k]);
                to.write_all(&buf[..k])
                    .map_err(|e| Error::io("write", &work, e))?;
                n += k as u64;
            }
            let actual = h.finish();
            if actual != lom.cksum_value {
                return Err(Error::Corrupt {
                    path: src.into(),
                    detail: format!(
                        "BAD DATA CHECKSUM: stored {}, computed {actual}",
                        lom.cksum_value
                    ),
                });
            }
            n
        } else {
            // copy_file_range where the kernel can: no bytes through user space.
            std::io::copy(&mut from, &mut to).map_err(|e| Error::io("copy", &work, e))?
        };
        if n != lom.size {
            return Err(Error::Corrupt {
                path: src.into(),
                detail: format!("copied {n} bytes, metadata size {}", lom.size),
            });
        }
        rustix::fs::fsetxattr(
            to.as_fd(),
            XATTR_LOM,
            &lom.encode(),
            rustix::fs::XattrFlags::empty(),
        )
        .map_err(|e| Error::io("fsetxattr", &work, e.into()))?;
        if fsync {
            to.sync_data()
                .map_err(|e| Error::io("fdatasync", &work, e))?;
        }
        Ok(())
    })();
    if let Err(e) = r {
        let _ = fs::remove_file(&work);
        return Err(e);
    }
    Ok((work, lom))
}

fn sync_parent(p: &Path) -> Result<()> {
    if let Some(parent) = p.parent() {
        fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io("fsync dir", parent, e))?;
    }
    Ok(())
}

/// Make (or refresh) the copy of the object file `src` on mountpath `dst`; the metadata
/// copied. With `verify` the bytes are checked against the source's checksum first (a
/// corrupted source is [`Error::Corrupt`] and no copy is made).
pub fn make_copy(
    src: &Path,
    dst: &Mountpath,
    bck: &Bck,
    object: &str,
    fsync: bool,
    verify: bool,
) -> Result<Lom> {
    let (work, lom) = copy_to_work(src, dst, bck, object, fsync, verify)?;
    let to = copy_fqn(&dst.path, bck, object);
    let r = (|| -> Result<()> {
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io("mkdir", parent, e))?;
        }
        fs::rename(&work, &to).map_err(|e| Error::io("rename", &to, e))?;
        if fsync {
            sync_parent(&to)?;
        }
        Ok(())
    })();
    if let Err(e) = r {
        let _ = fs::remove_file(&work);
        return Err(e);
    }
    Ok(lom)
}

/// Restore the object on `mp` from a good copy at `copy` (checked while copied), without
/// replacing an object already in place: a client PUT that landed meanwhile wins
/// ([`Error::Exists`]). The caller removes a corrupted object first.
pub fn restore_from(
    copy: &Path,
    mp: &Mountpath,
    bck: &Bck,
    object: &str,
    fsync: bool,
) -> Result<Lom> {
    let (work, lom) = copy_to_work(copy, mp, bck, object, fsync, true)?;
    let (placed, to) = crate::object::place_file_noreplace(&work, mp, bck, object);
    if let Err(e) = placed {
        let _ = fs::remove_file(&work);
        return Err(e);
    }
    if fsync {
        sync_parent(&to)?;
    }
    Ok(lom)
}

/// Remove the copy of `object` on `mp` (and the piece directories of a long name that are
/// left empty); `false` if there was none.
pub fn remove_copy(mp: &Mountpath, bck: &Bck, object: &str) -> Result<bool> {
    let p = copy_fqn(&mp.path, bck, object);
    match fs::remove_file(&p) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) => {
            return Ok(false)
        }
        Err(e) => return Err(Error::io("unlink", &p, e)),
    }
    let stop = bck.dir(&mp.path).join(CT_COPY);
    let mut dir = p.parent().map(Path::to_path_buf);
    while let Some(d) = dir {
        if d == stop || fs::remove_dir(&d).is_err() {
            break;
        }
        dir = d.parent().map(Path::to_path_buf);
    }
    Ok(true)
}

/// The metadata of the copy of `object` on `mp` ([`Error::NotFound`] if there is none).
pub fn copy_lom(mp: &Mountpath, bck: &Bck, object: &str) -> Result<Lom> {
    crate::object::read_lom_path(&copy_fqn(&mp.path, bck, object))
}

/// Whether two metadata records describe the same stored object (so a copy may stand in for
/// the object): size, checksum, version and custom metadata agree.
pub fn same_object(a: &Lom, b: &Lom) -> bool {
    a.size == b.size
        && a.cksum_value == b.cksum_value
        && a.version == b.version
        && a.custom == b.custom
}

/// Names of every copy on `mp` of bucket `bck`'s objects (unordered).
pub fn list_copies(mp: &Mountpath, bck: &Bck) -> Result<Vec<String>> {
    let mut out = Vec::new();
    crate::list::walk_escaped(
        &bck.dir(&mp.path).join(CT_COPY),
        &mut Vec::new(),
        &mut |n, _| out.push(n),
    )?;
    Ok(out)
}
