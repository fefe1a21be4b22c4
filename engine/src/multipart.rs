//! Multipart uploads (S3), stored on the mountpath that owns the final object:
//! `%ut/<upload id>` holds the upload's manifest (object name and metadata), parts are plain
//! files `%ch/<upload id>/<part number>` with a LOM (size, checksum, and the part's ETag in
//! custom metadata). Completing streams the parts in order through an [`ObjectWriter`] into
//! the final object, so nothing is held in memory, then removes the upload.
//!
//! Manifest format (ours, byte by byte): `u32 BE` length + object name, `u64 BE` creation
//! time (unix ns), `u32 BE` count, then per key/value pair `u32 BE` length + key,
//! `u32 BE` length + value. See docs/on-disk-format.md.

use crate::error::Error;
use crate::layout::Bck;
use crate::lom::Lom;
use crate::mountpath::Mountpath;
use crate::object::{ObjectReader, ObjectWriter, PutOpts, PutResult, READ_BUFFER_BYTES};
use crate::Result;
use std::path::PathBuf;

/// Content-type dir of multipart parts and of upload manifests.
pub const CT_CHUNKS: &str = "%ch";
pub const CT_UPLOADS: &str = "%ut";
/// S3 limits part numbers to 1..=10000.
pub const PART_NUMBER_MAX: u32 = 10_000;
/// Upload IDs we generate and accept: alphanumeric, bounded.
pub const UPLOAD_ID_BYTES_MAX: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub id: String,
    pub object: String,
    pub created_ns: i64,
    pub custom: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct PartInfo {
    pub number: u32,
    pub size: u64,
    pub etag: String,
    pub mtime_ns: i64,
}

pub fn valid_upload_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= UPLOAD_ID_BYTES_MAX
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn manifest_path(mp: &Mountpath, bck: &Bck, id: &str) -> PathBuf {
    bck.dir(&mp.path).join(CT_UPLOADS).join(id)
}

fn parts_dir(mp: &Mountpath, bck: &Bck, id: &str) -> PathBuf {
    bck.dir(&mp.path).join(CT_CHUNKS).join(id)
}

pub fn part_path(mp: &Mountpath, bck: &Bck, id: &str, number: u32) -> PathBuf {
    parts_dir(mp, bck, id).join(format!("{number:05}"))
}

fn encode_manifest(u: &Upload) -> Vec<u8> {
    let mut out = Vec::new();
    let put = |out: &mut Vec<u8>, s: &str| {
        out.extend_from_slice(&(s.len() as u32).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    };
    put(&mut out, &u.object);
    out.extend_from_slice(&u.created_ns.to_be_bytes());
    out.extend_from_slice(&(u.custom.len() as u32).to_be_bytes());
    for (k, v) in &u.custom {
        put(&mut out, k);
        put(&mut out, v);
    }
    out
}

/// Why an upload manifest (of the upload named) does not decode: the caller reports it as
/// corrupted ([`Error::Corrupt`], with this as the detail).
#[derive(Debug, Clone, PartialEq, Eq)]
enum ManifestError {
    Truncated { id: String },
    NotUtf8 { id: String },
}

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ManifestError::Truncated { id } => write!(f, "upload manifest {id} truncated"),
            ManifestError::NotUtf8 { id } => write!(f, "upload manifest {id}: not UTF-8"),
        }
    }
}

fn decode_manifest(id: &str, b: &[u8]) -> std::result::Result<Upload, ManifestError> {
    let mut pos = 0usize;
    let take = |pos: &mut usize, n: usize| -> std::result::Result<&[u8], ManifestError> {
        let s = b
            .get(*pos..*pos + n)
            .ok_or_else(|| ManifestError::Truncated { id: id.to_owned() })?;
        *pos += n;
        Ok(s)
    };
    let u32_at = |pos: &mut usize| -> std::result::Result<u32, ManifestError> {
        Ok(u32::from_be_bytes(
            take(pos, 4)?.try_into().expect("4 bytes"),
        ))
    };
    let string = |pos: &mut usize| -> std::result::Result<String, ManifestError> {
        let n = u32_at(pos)? as usize;
        String::from_utf8(take(pos, n)?.to_vec())
            .map_err(|_| ManifestError::NotUtf8 { id: id.to_owned() })
    };
    let object = string(&mut pos)?;
    let created_ns = i64::from_be_bytes(take(&mut pos, 8)?.try_into().expect("8 bytes"));
    let n = u32_at(&mut pos)?;
    let mut custom = Vec::new();
    for _ in 0..n.min(1024) {
        custom.push((string(&mut pos)?, string(&mut pos)?));
    }
    Ok(Upload {
        id: id.to_string(),
        object,
        created_ns,
        custom,
    })
}

/// Start an upload: write its manifest (blocking, small).
pub fn create(mp: &Mountpath, bck: &Bck, upload: &Upload) -> Result<()> {
    assert!(valid_upload_id(&upload.id));
    let p = manifest_path(mp, bck, &upload.id);
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).map_err(|e| Error::io("mkdir", d, e))?;
    }
    let tmp = p.with_extension("tmp");
    std::fs::write(&tmp, encode_manifest(upload))
        .map_err(|e| Error::io("write upload manifest", &tmp, e))?;
    std::fs::rename(&tmp, &p).map_err(|e| Error::io("rename upload manifest", &p, e))?;
    Ok(())
}

/// Read an upload's manifest; `NotFound` if there is no such upload.
pub fn get(mp: &Mountpath, bck: &Bck, id: &str) -> Result<Upload> {
    if !valid_upload_id(id) {
        return Err(Error::NotFound(PathBuf::from(id)));
    }
    let p = manifest_path(mp, bck, id);
    let b = std::fs::read(&p).map_err(|e| Error::io("read upload manifest", &p, e))?;
    decode_manifest(id, &b).map_err(|e| Error::Corrupt {
        path: p,
        detail: e.to_string(),
    })
}

/// All uploads in progress on this mountpath for the bucket, by object name then ID.
pub fn list(mp: &Mountpath, bck: &Bck) -> Result<Vec<Upload>> {
    let dir = bck.dir(&mp.path).join(CT_UPLOADS);
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("readdir", &dir, e)),
    };
    for e in rd.flatten() {
        let Ok(id) = e.file_name().into_string() else {
            continue;
        };
        if !valid_upload_id(&id) {
            continue;
        }
        if let Ok(u) = get(mp, bck, &id) {
            out.push(u);
        }
    }
    out.sort_by(|a, b| (&a.object, a.created_ns, &a.id).cmp(&(&b.object, b.created_ns, &b.id)));
    Ok(out)
}

/// Begin writing one part; commit the returned writer with the part's ETag in `custom`.
pub async fn part_writer(mp: &Mountpath, bck: &Bck, id: &str, number: u32) -> Result<ObjectWriter> {
    assert!(valid_upload_id(id) && (1..=PART_NUMBER_MAX).contains(&number));
    let dir = parts_dir(mp, bck, id);
    if !dir.is_dir() {
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("mkdir", &dir, e))?;
    }
    ObjectWriter::create_at(
        mp,
        bck,
        part_path(mp, bck, id, number),
        &format!("{id}.{number}"),
    )
    .await
}

/// Parts uploaded so far, in part-number order.
pub fn parts(mp: &Mountpath, bck: &Bck, id: &str) -> Result<Vec<PartInfo>> {
    let dir = parts_dir(mp, bck, id);
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("readdir", &dir, e)),
    };
    for e in rd.flatten() {
        let Some(number) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let lom: Lom = match crate::object::read_lom_path(&e.path()) {
            Ok(l) => l,
            Err(_) => continue,
        };
        let mtime_ns = e
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        out.push(PartInfo {
            number,
            size: lom.size,
            etag: lom.custom_get("ETag").unwrap_or("").to_string(),
            mtime_ns,
        });
    }
    out.sort_by_key(|p| p.number);
    Ok(out)
}

/// Assemble the listed parts, in order, into the final object, then remove the upload.
pub async fn complete(
    mp: &Mountpath,
    bck: &Bck,
    id: &str,
    numbers: &[u32],
    opts: &PutOpts,
) -> Result<PutResult> {
    let w = assemble(mp, bck, id, numbers, opts).await?;
    let res = w.commit(opts).await?;
    abort(mp, bck, id)?;
    Ok(res)
}

/// The first half of [`complete`]: stream the listed parts, in order, into a writer of the
/// final object, not yet committed (the caller can check conditions right before it commits,
/// then removes the upload with [`abort`]). The writer computes the checksums `opts` (the
/// options its commit will get) ask for.
pub async fn assemble(
    mp: &Mountpath,
    bck: &Bck,
    id: &str,
    numbers: &[u32],
    opts: &PutOpts,
) -> Result<ObjectWriter> {
    let upload = get(mp, bck, id)?;
    let mut w = ObjectWriter::create(mp, bck, &upload.object).await?;
    if let Err(e) = w.set_cksums(opts) {
        w.abort().await;
        return Err(e);
    }
    for n in numbers {
        let p = part_path(mp, bck, id, *n);
        let rd = match ObjectReader::open_path(p.clone()).await {
            Ok(r) => r,
            Err(e) => {
                w.abort().await;
                return Err(e);
            }
        };
        let size = rd.lom.size;
        let mut s = rd.stream(0, size);
        let mut copied = 0u64;
        while copied < size {
            let b = match s.get_buffer_aligned(READ_BUFFER_BYTES as u64).await {
                Ok(b) if !b.is_empty() => b,
                Ok(_) => {
                    let _ = s.close().await;
                    w.abort().await;
                    return Err(Error::Corrupt {
                        path: p,
                        detail: "part shorter than its metadata".into(),
                    });
                }
                Err(e) => {
                    let _ = s.close().await;
                    w.abort().await;
                    return Err(Error::io("read part", &p, e.into()));
                }
            };
            copied += b.len() as u64;
            if let Err(e) = w.write(&b).await {
                let _ = s.close().await;
                w.abort().await;
                return Err(e);
            }
        }
        let _ = s.close().await;
    }
    Ok(w)
}

/// Remove an upload and all its parts (blocking).
pub fn abort(mp: &Mountpath, bck: &Bck, id: &str) -> Result<()> {
    if !valid_upload_id(id) {
        return Err(Error::NotFound(PathBuf::from(id)));
    }
    let m = manifest_path(mp, bck, id);
    std::fs::remove_file(&m).map_err(|e| Error::io("remove upload manifest", &m, e))?;
    let d = parts_dir(mp, bck, id);
    match std::fs::remove_dir_all(&d) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove parts", &d, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_roundtrip_and_truncation() {
        let u = Upload {
            id: "abc".into(),
            object: "dir/obj name".into(),
            created_ns: 42,
            custom: vec![("Content-Type".into(), "text/plain".into())],
        };
        let b = encode_manifest(&u);
        assert_eq!(decode_manifest("abc", &b).unwrap(), u);
        for cut in 0..b.len() {
            assert!(decode_manifest("abc", &b[..cut]).is_err(), "cut at {cut}");
        }
        let e = decode_manifest("abc", &b[..3]).unwrap_err();
        assert_eq!(e, ManifestError::Truncated { id: "abc".into() });
        assert_eq!(e.to_string(), "upload manifest abc truncated");
    }

    #[test]
    fn upload_ids_cannot_escape() {
        assert!(valid_upload_id("Abc123-_x"));
        for bad in [
            "",
            "../x",
            "a/b",
            ".",
            "..",
            &"a".repeat(UPLOAD_ID_BYTES_MAX + 1),
        ] {
            assert!(!valid_upload_id(bad), "{bad}");
        }
    }
}
