//! Mountpaths: one local file system directory each, chosen per object by HRW.
//!
//! Init is blocking (it runs before the reactors start): create or check the directory,
//! refuse nested or duplicate mountpaths, write the DMA probe marker, and clear work files
//! left by a previous process (no PUT can be in flight at start-up).
//!
//! glommio probes IOPOLL support with a read at offset 0 of the first DMA file opened on a
//! device; on an empty file that read returns 0 and glommio wrongly marks the device
//! pollable, after which every DMA read fails with EOPNOTSUPP. [`Mountpath::prime_dma`]
//! therefore opens a non-empty marker first on every mountpath; tests/dma_probe.rs keeps it so.

use crate::error::Error;
use crate::hrw;
use crate::layout::{Bck, CT_ALL, CT_WORK, MARKERS_DIR, TRASH_DIR};
use crate::Result;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Marker file that the first DMA open on each mountpath's device reads.
pub const DMA_PROBE_FILE: &str = "dma-probe";
/// Size of the marker: one full block, so glommio's probe read returns data.
pub const DMA_PROBE_BYTES: usize = 4096;
/// Xattr on the mountpath root holding the target's node ID (spec §1).
pub const XATTR_DAEMON_ID: &str = "user.ais.daemon_id";

#[derive(Debug)]
pub struct Mountpath {
    /// Cleaned absolute path, as configured (not symlink-resolved): HRW hashes this string.
    pub path: PathBuf,
    pub path_str: String,
    /// `XXH64(path_str, MLCG32)`.
    pub digest: u64,
    /// `st_dev` of the mountpath's file system.
    pub dev: u64,
    /// Set once any bucket on this mountpath holds an object at its escaped path (`%ox`):
    /// until then a plain name is looked up at its plain path only, so the common case pays
    /// nothing for escaping. Shared with writers, which set it before creating such a file.
    escaped: Arc<AtomicBool>,
}

impl Mountpath {
    /// Create (if missing) and check a mountpath directory. Blocking.
    pub fn init(configured: &Path) -> Result<Mountpath> {
        let abs = if configured.is_absolute() {
            configured.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| Error::io("getcwd", configured, e))?
                .join(configured)
        };
        let path_str = crate::layout::clean_abs(&abs.to_string_lossy()).ok_or_else(|| {
            Error::Mountpath(format!("mountpath {}: not absolute", abs.display()))
        })?;
        if path_str == "/" {
            return Err(Error::Mountpath("mountpath \"/\" is not allowed".into()));
        }
        let path = PathBuf::from(&path_str);
        if path.exists() && !path.is_dir() {
            return Err(Error::Mountpath(format!(
                "mountpath {}: not a directory",
                path.display()
            )));
        }
        fs::create_dir_all(&path).map_err(|e| {
            Error::Mountpath(format!(
                "mountpath {}: cannot create directory: {e}",
                path.display()
            ))
        })?;
        let md = fs::metadata(&path)
            .map_err(|e| Error::Mountpath(format!("mountpath {}: {e}", path.display())))?;
        if !md.is_dir() {
            return Err(Error::Mountpath(format!(
                "mountpath {}: not a directory",
                path.display()
            )));
        }
        let mp = Mountpath {
            digest: hrw::digest(path_str.as_bytes()),
            path,
            path_str,
            dev: md.dev(),
            escaped: Arc::new(AtomicBool::new(false)),
        };
        mp.write_probe_marker()?;
        mp.clear_work_files();
        let any_escaped = mp.bucket_dirs().iter().any(|b| {
            fs::read_dir(b.join(crate::layout::CT_ESCAPED))
                .map(|mut rd| rd.next().is_some())
                .unwrap_or(false)
        });
        mp.escaped.store(any_escaped, Ordering::Relaxed);
        Ok(mp)
    }

    /// Whether any object on this mountpath may be at its escaped path.
    pub fn has_escaped(&self) -> bool {
        self.escaped.load(Ordering::Acquire)
    }

    /// The flag behind [`Mountpath::has_escaped`], for a writer to set before it creates an
    /// escaped file (set first, so no lookup can miss the file once it exists).
    pub fn escaped_flag(&self) -> Arc<AtomicBool> {
        self.escaped.clone()
    }

    fn write_probe_marker(&self) -> Result<()> {
        let dir = self.path.join(MARKERS_DIR);
        fs::create_dir_all(&dir).map_err(|e| self.unusable("create markers dir", e))?;
        let p = dir.join(DMA_PROBE_FILE);
        let ok = fs::metadata(&p)
            .map(|m| m.len() >= DMA_PROBE_BYTES as u64)
            .unwrap_or(false);
        if !ok {
            let tmp = dir.join(format!("{DMA_PROBE_FILE}.tmp"));
            fs::write(&tmp, vec![0xA5u8; DMA_PROBE_BYTES])
                .map_err(|e| self.unusable("write DMA probe marker", e))?;
            fs::rename(&tmp, &p).map_err(|e| self.unusable("rename DMA probe marker", e))?;
        }
        Ok(())
    }

    fn unusable(&self, what: &str, e: std::io::Error) -> Error {
        Error::Mountpath(format!("mountpath {}: {what}: {e}", self.path.display()))
    }

    pub fn probe_path(&self) -> PathBuf {
        self.path.join(MARKERS_DIR).join(DMA_PROBE_FILE)
    }

    /// Open the non-empty marker with a DMA file so that glommio's per-device IOPOLL probe
    /// reads real bytes. Call on the owning reactor before any other DMA open.
    pub async fn prime_dma(&self) -> Result<()> {
        let p = self.probe_path();
        let f = glommio::io::DmaFile::open(&p)
            .await
            .map_err(|e| Error::io("open DMA probe", &p, e.into()))?;
        let r = f.read_at_aligned(0, DMA_PROBE_BYTES).await;
        let _ = f.close().await;
        match r {
            Ok(b) if b.len() == DMA_PROBE_BYTES => Ok(()),
            Ok(b) => Err(Error::Mountpath(format!(
                "mountpath {}: DMA probe read {} of {DMA_PROBE_BYTES} bytes",
                self.path.display(),
                b.len()
            ))),
            Err(e) => Err(Error::io("DMA probe read", &p, e.into())),
        }
    }

    /// Remove every work file of every bucket: called at init, when nothing is in flight.
    /// Buckets sit at `@provider/<bucket>` or `@provider/<ns>/<bucket>`.
    fn clear_work_files(&self) {
        for bdir in self.bucket_dirs() {
            let wk = bdir.join(CT_WORK);
            if wk.is_dir() {
                let _ = fs::remove_dir_all(&wk);
                let _ = fs::create_dir(&wk);
            }
        }
        let _ = fs::remove_dir_all(self.path.join(TRASH_DIR));
    }

    /// Directories of all buckets present on this mountpath (those holding a `%ob` dir).
    pub fn bucket_dirs(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let subdirs = |p: &Path| -> Vec<PathBuf> {
            fs::read_dir(p)
                .map(|rd| {
                    rd.flatten()
                        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                        .map(|e| e.path())
                        .collect()
                })
                .unwrap_or_default()
        };
        for prov in subdirs(&self.path) {
            if !prov
                .file_name()
                .map(|n| n.to_string_lossy().starts_with('@'))
                .unwrap_or(false)
            {
                continue;
            }
            for child in subdirs(&prov) {
                if child.join(crate::layout::CT_OBJECT).is_dir() {
                    out.push(child);
                } else {
                    out.extend(
                        subdirs(&child)
                            .into_iter()
                            .filter(|g| g.join(crate::layout::CT_OBJECT).is_dir()),
                    );
                }
            }
        }
        out
    }

    pub fn read_daemon_id(&self) -> Option<String> {
        let mut buf = [0u8; 128];
        let n = rustix::fs::getxattr(&self.path, XATTR_DAEMON_ID, &mut buf[..]).ok()?;
        String::from_utf8(buf[..n].to_vec()).ok()
    }

    pub fn write_daemon_id(&self, id: &str) -> Result<()> {
        rustix::fs::setxattr(
            &self.path,
            XATTR_DAEMON_ID,
            id.as_bytes(),
            rustix::fs::XattrFlags::empty(),
        )
        .map_err(|e| Error::io("setxattr daemon_id", &self.path, e.into()))
    }

    /// Create a bucket's content-type directories. Blocking (control plane).
    pub fn create_bucket(&self, bck: &Bck) -> Result<()> {
        let dir = bck.dir(&self.path);
        for ct in CT_ALL {
            let p = dir.join(ct);
            fs::create_dir_all(&p).map_err(|e| Error::io("mkdir", &p, e))?;
        }
        Ok(())
    }

    /// Remove a bucket and all its data: rename into the trash dir (atomic, so the bucket
    /// is gone at once), then delete the trash in the background. Whatever a crash leaves
    /// in the trash is removed at the next start.
    pub fn destroy_bucket(&self, bck: &Bck) -> Result<()> {
        if let Some(dst) = self.trash_bucket(bck)? {
            std::thread::Builder::new()
                .name("trash".into())
                .spawn(move || {
                    let _ = fs::remove_dir_all(&dst);
                })
                .map_err(|e| Error::io("spawn trash remover", &self.path, e))?;
        }
        Ok(())
    }

    /// Rename a bucket's directory into the trash; `None` if it was not on this mountpath.
    fn trash_bucket(&self, bck: &Bck) -> Result<Option<PathBuf>> {
        let dir = bck.dir(&self.path);
        if !dir.exists() {
            return Ok(None);
        }
        let trash = self.path.join(TRASH_DIR);
        fs::create_dir_all(&trash).map_err(|e| Error::io("mkdir", &trash, e))?;
        let dst = trash.join(format!("{}-{}-{}", bck.name, std::process::id(), unique()));
        fs::rename(&dir, &dst).map_err(|e| Error::io("rename to trash", &dir, e))?;
        Ok(Some(dst))
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ N.fetch_add(1, Ordering::Relaxed)
}

/// Refuse duplicate or nested mountpaths (one inside another), checked on resolved paths.
pub fn check_not_nested(mps: &[Mountpath]) -> Result<()> {
    check_not_nested_refs(&mps.iter().collect::<Vec<_>>())
}

/// [`check_not_nested`] over borrowed mountpaths (e.g. a runtime set plus a new one).
pub fn check_not_nested_refs(mps: &[&Mountpath]) -> Result<()> {
    let resolved: Vec<PathBuf> = mps
        .iter()
        .map(|m| fs::canonicalize(&m.path).unwrap_or_else(|_| m.path.clone()))
        .collect();
    for (i, a) in resolved.iter().enumerate() {
        for (j, b) in resolved.iter().enumerate() {
            if i == j {
                continue;
            }
            if a == b {
                return Err(Error::Mountpath(format!(
                    "mountpaths {} and {} are the same directory",
                    mps[i].path.display(),
                    mps[j].path.display()
                )));
            }
            if b.starts_with(a) {
                return Err(Error::Mountpath(format!(
                    "mountpath {} is nested inside mountpath {}",
                    mps[j].path.display(),
                    mps[i].path.display()
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_and_duplicate_mountpaths_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let a = Mountpath::init(&t.path().join("a")).unwrap();
        let b = Mountpath::init(&t.path().join("a/b")).unwrap();
        let c = Mountpath::init(&t.path().join("c")).unwrap();
        let e = check_not_nested(&[a, b]).unwrap_err().to_string();
        assert!(e.contains("nested"), "{e}");
        let a2 = Mountpath::init(&t.path().join("a/")).unwrap();
        let c2 = Mountpath::init(&t.path().join("./c")).unwrap();
        assert!(check_not_nested(&[a2, c]).is_ok());
        let c3 = Mountpath::init(&t.path().join("c")).unwrap();
        assert!(check_not_nested(&[c2, c3])
            .unwrap_err()
            .to_string()
            .contains("same"));
    }

    #[test]
    fn mountpath_on_a_file_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("file");
        fs::write(&f, b"x").unwrap();
        assert!(Mountpath::init(&f)
            .unwrap_err()
            .to_string()
            .contains("not a directory"));
    }

    #[test]
    fn init_writes_probe_marker_and_clears_work_files() {
        let t = tempfile::tempdir().unwrap();
        let mp = Mountpath::init(t.path()).unwrap();
        assert_eq!(
            fs::metadata(mp.probe_path()).unwrap().len(),
            DMA_PROBE_BYTES as u64
        );
        let b = Bck::ais("b1");
        mp.create_bucket(&b).unwrap();
        let w = b.work_dir(&mp.path).join("put.leftover");
        fs::write(&w, b"partial").unwrap();
        let _ = Mountpath::init(t.path()).unwrap();
        assert!(!w.exists());
        assert!(b.work_dir(&mp.path).is_dir());
    }

    #[test]
    fn daemon_id_xattr_roundtrip() {
        let t = tempfile::tempdir().unwrap();
        let mp = Mountpath::init(t.path()).unwrap();
        assert_eq!(mp.read_daemon_id(), None);
        mp.write_daemon_id("abcDt8081").unwrap();
        assert_eq!(mp.read_daemon_id().as_deref(), Some("abcDt8081"));
    }
}
