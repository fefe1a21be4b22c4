//! Append, as the SDK's `ObjectWriter.append_content` and AIS's `api.AppendObject` send it:
//! `PUT /v1/objects/B/O?append_type=append&append_handle=H` adds the body to a work file
//! (the first append, with an empty handle, starts it from the object's current content if
//! the object exists) and answers the handle to pass next in `Ais-Append-Handle`;
//! `append_type=flush` makes the work file the object's new version (verifying
//! `Ais-Checksum-Type/Value` of any type if given: an unknown type or a malformed value is a
//! 400 before anything is appended, a mismatch a 400 that keeps the session). Until the
//! flush, readers see the object as it was.
//!
//! The handle is `<target id>|<work file name>`; the work file lives in the bucket's `%wk`
//! on the object's mountpath and its name carries a digest of the object name, so a handle
//! can only ever name an append work file of the same object on this target. Work files are
//! cleared when the node starts (an append session does not survive a restart, as in AIS).
//! A flush with a body appends the body first (AIS would drop it: losing data silently is
//! worse than a superset).

use crate::core::Core;
use crate::error::ApiError;
use crate::reply::{io_err, read_body};
use crate::req::{Outcome, Req};
use engine::cksum::Cksum;
use engine::layout::Bck;
use engine::mountpath::Mountpath;
use engine::object::{ObjectWriter, PutOpts};
use net::conn::Conn;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

pub const QPARAM_APPEND_TYPE: &str = "append_type";
pub const QPARAM_APPEND_HANDLE: &str = "append_handle";
pub const HDR_APPEND_HANDLE: &str = "Ais-Append-Handle";
/// Most bytes one append request may carry (it is buffered before the blocking write).
pub const APPEND_BODY_BYTES_MAX: usize = 64 << 20;
/// Copy buffer of the flush (work file to object).
const FLUSH_BUFFER_BYTES: usize = 1 << 20;

const HANDLE_SEPARATOR: char = '|';

fn work_prefix(object: &str) -> String {
    format!(
        "apnd.{:016x}.",
        xxhash_rust::xxh64::xxh64(object.as_bytes(), 0)
    )
}

/// The work file a handle names, checked to belong to `object` on this target.
fn work_file(
    core: &Core,
    mp: &Mountpath,
    bucket: &str,
    object: &str,
    handle: &str,
) -> Result<PathBuf, ApiError> {
    let bad = |why: &str| ApiError::bad_request(format!("invalid {QPARAM_APPEND_HANDLE}: {why}"));
    let (node, name) = handle
        .split_once(HANDLE_SEPARATOR)
        .ok_or_else(|| bad("malformed"))?;
    if node != core.node.target_id {
        return Err(bad("issued by another target"));
    }
    if !name.starts_with(&work_prefix(object))
        || name.contains('/')
        || name.contains("..")
        || name.len() > 128
    {
        return Err(bad("not an append of this object"));
    }
    let p = Bck::ais(bucket).work_dir(&mp.path).join(name);
    if !p.is_file() {
        return Err(ApiError::new(
            404,
            format!(
                "append session {handle:?} of ais://{bucket}/{object} does not exist (flushed, or the node restarted)"
            ),
        ));
    }
    Ok(p)
}

/// `PUT ?append_type=append|flush`.
pub async fn append(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mp: Arc<Mountpath>,
    bucket: &str,
    object: &str,
) -> Result<Outcome, ApiError> {
    let op = req.q(QPARAM_APPEND_TYPE).unwrap_or("").to_string();
    if op != "append" && op != "flush" {
        return Err(ApiError::bad_request(format!(
            "invalid {QPARAM_APPEND_TYPE} {op:?} (expecting \"append\" or \"flush\")"
        )));
    }
    let props = core.bucket_props(bucket)?;
    // Only the flush verifies a declared checksum (over the whole work file).
    let client_cksum = if op == "flush" {
        super::body::client_cksum(req).map_err(|e| {
            ApiError::bad_request(format!(
                "{}: flush ais://{bucket}/{object}: {e}",
                core.node.tname()
            ))
        })?
    } else {
        None
    };
    let handle = req.q(QPARAM_APPEND_HANDLE).unwrap_or("").to_string();
    let body = read_body(conn, req, APPEND_BODY_BYTES_MAX).await?;
    let bck = Bck::ais(bucket);
    let (work, name) = if handle.is_empty() {
        if op == "flush" {
            return Err(ApiError::bad_request(format!(
                "flush needs the {QPARAM_APPEND_HANDLE} of an append"
            )));
        }
        let name = format!("{}{}", work_prefix(object), cluster::meta::random_id(12));
        (bck.work_dir(&mp.path).join(&name), name)
    } else {
        let p = work_file(core, &mp, bucket, object, &handle)?;
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        (p, name)
    };
    // The first append starts from the object's current content (AIS: append to an
    // existing object); later ones add to the work file.
    let src = (handle.is_empty()).then(|| engine::object::locate(&mp, &bck, object));
    let (w2, m2, b2) = (work.clone(), mp.clone(), bucket.to_string());
    let wrote = glommio::executor()
        .spawn_blocking(move || -> std::io::Result<()> {
            if !w2.parent().is_some_and(std::path::Path::is_dir) {
                // The bucket exists in the BMD but this mountpath has not seen it yet.
                m2.create_bucket(&Bck::ais(&b2))
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
            }
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&w2)?;
            if let Some(src) = src {
                match std::fs::File::open(&src) {
                    Ok(mut s) => {
                        std::io::copy(&mut s, &mut f)?;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            f.write_all(&body)?;
            f.sync_data()
        })
        .await;
    if let Err(e) = wrote {
        return Err(ApiError::internal(format!(
            "{}: append to ais://{bucket}/{object}: {e}",
            core.node.tname()
        )));
    }
    let new_handle = format!("{}{HANDLE_SEPARATOR}{name}", core.node.target_id);
    if op == "append" {
        conn.respond(200, &[(HDR_APPEND_HANDLE, &new_handle)], b"")
            .await
            .map_err(io_err)?;
        return Ok(Outcome::KeepAlive);
    }
    flush(core, conn, &mp, bucket, object, &work, &props, client_cksum).await
}

#[allow(clippy::too_many_arguments)]
async fn flush(
    core: &Rc<Core>,
    conn: &mut Conn,
    mp: &Mountpath,
    bucket: &str,
    object: &str,
    work: &std::path::Path,
    props: &cluster::meta::Bprops,
    client_cksum: Option<Cksum>,
) -> Result<Outcome, ApiError> {
    let tname = core.node.tname();
    let cname = format!("ais://{bucket}");
    let fail = |e| match e {
        // The client's declaration is wrong, not this node: 400, and the session stays.
        e @ engine::Error::ChecksumMismatch { .. } => {
            ApiError::bad_request(format!("{tname}: flush {cname}/{object}: {e}"))
        }
        e => ApiError::from_engine(e, &tname, &cname, object),
    };
    let opts = PutOpts {
        cksum_type: props.checksum.ty.clone(),
        client_cksum,
        versioning: props.versioning.enabled,
        fsync: core.node.cfg.fsync,
        ..Default::default()
    };
    let mut w = ObjectWriter::create(mp, &Bck::ais(bucket), object)
        .await
        .map_err(fail)?;
    if let Err(e) = w.set_cksums(&opts) {
        w.abort().await;
        return Err(fail(e));
    }
    // The work file is read on the blocking thread, a bounded chunk per hop.
    let path = work.to_path_buf();
    let opened = glommio::executor()
        .spawn_blocking(move || {
            let f = std::fs::File::open(&path)?;
            let size = f.metadata()?.len();
            Ok::<_, std::io::Error>((f, size))
        })
        .await;
    let (mut file, size) = match opened {
        Ok(v) => v,
        Err(e) => {
            w.abort().await;
            return Err(ApiError::internal(format!(
                "{tname}: open append work file: {e}"
            )));
        }
    };
    w.size_hint(size);
    loop {
        let (f, chunk) = glommio::executor()
            .spawn_blocking(move || {
                let mut b = vec![0u8; FLUSH_BUFFER_BYTES];
                let r = file.read(&mut b).map(|n| {
                    b.truncate(n);
                    b
                });
                (file, r)
            })
            .await;
        file = f;
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                w.abort().await;
                return Err(ApiError::internal(format!(
                    "{tname}: read append work file: {e}"
                )));
            }
        };
        if chunk.is_empty() {
            break;
        }
        if let Err(e) = w.write(&chunk).await {
            w.abort().await;
            return Err(fail(e));
        }
    }
    w.commit(&opts).await.map_err(fail)?;
    core.mirror_after_put(mp, bucket, object)
        .await
        .map_err(fail)?;
    core.ec_after_put(mp, bucket, object).await?;
    let path = work.to_path_buf();
    glommio::executor()
        .spawn_blocking(move || {
            let _ = std::fs::remove_file(path);
        })
        .await;
    conn.respond(200, &[], b"").await.map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}
