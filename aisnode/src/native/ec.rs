//! The intra-cluster erasure-coding endpoint `/v1/ec/<bucket>/<object>` on targets (the wire
//! is specified in docs/on-disk-format.md, "Erasure-coded slices"), served by the core that
//! owns the object's mountpath on this target:
//! - `PUT` stores a slice (or replica): body = the slice bytes, header `Ais-Ec-Meta` = its
//!   metafile (hex); the body's XXH64 must match the metafile's slice checksum.
//! - `GET ?what=meta` answers the metafile bytes; `GET ?what=slice&gen=&offset=&len=` answers
//!   `len` bytes of the slice at `offset` if its metafile is still of generation `gen` (409
//!   otherwise).
//! - `GET ?what=verify&gen=&index=&replicated=&data=&parity=` checks this target's slice
//!   against its metafile (XXH64 of the whole file) and the generation and layout asked about,
//!   and answers `{"status": "ok"|"newer"|"bad"|"missing", "detail"}` (a bad one is counted
//!   here, where the disk is): the `ec-encode` check pass, without moving slice bytes.
//! - `DELETE` (header `Ais-Ec-Meta` = a tombstone) replaces the slice with the tombstone, if
//!   this target had a slice or metafile or `always=true`.
//!
//! Only node-to-node requests (marked with `pid`/`utm`) are served.

use crate::core::Core;
use crate::error::ApiError;
use crate::reply::io_err;
use crate::req::{Outcome, Req};
use cluster::ec::{parse_meta_header, verify_local, Expect, HDR_EC_META, HDR_EC_STALE, STATS};
use engine::ec::CHUNK_BYTES_MAX;
use engine::ecstore::{self, Installed};
use engine::layout::Bck;
use engine::mountpath::Mountpath;
use net::conn::Conn;
use std::io::Write;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use xxhash_rust::xxh64::Xxh64;

/// Body bytes gathered before one write to the slice work file (on the blocking thread).
pub const EC_RECV_BYTES: usize = 1 << 20;

pub async fn handle(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mp: Arc<Mountpath>,
    bucket: &str,
    object: &str,
) -> Result<Outcome, ApiError> {
    let method = req.head.method.clone();
    match method.as_str() {
        "PUT" => put(core, conn, req, mp, bucket, object).await,
        "GET" => get(conn, req, mp, bucket, object).await,
        "DELETE" => delete(core, conn, req, mp, bucket, object).await,
        _ => Err(ApiError::method_not_allowed("GET, PUT, DELETE")),
    }
}

fn meta_of(req: &Req) -> Result<engine::ec::EcMeta, ApiError> {
    let h = req
        .head
        .header(&HDR_EC_META.to_ascii_lowercase())
        .ok_or_else(|| ApiError::bad_request(format!("missing header {HDR_EC_META}")))?;
    Ok(parse_meta_header(h)?)
}

fn engine_err(e: engine::Error, bucket: &str, object: &str) -> ApiError {
    ApiError::from_engine(e, "", &format!("ais://{bucket}"), object)
}

async fn put(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mp: Arc<Mountpath>,
    bucket: &str,
    object: &str,
) -> Result<Outcome, ApiError> {
    let meta = meta_of(req)?;
    if meta.deleted {
        return Err(ApiError::bad_request("PUT of an EC tombstone (use DELETE)"));
    }
    let bck = Bck::ais(bucket);
    let (m, b, o) = (mp.clone(), bck.clone(), object.to_string());
    let (work, file) = glommio::executor()
        .spawn_blocking(move || ecstore::create_work(&m, &b, &o, "rx"))
        .await
        .map_err(|e| engine_err(e, bucket, object))?;
    let fsync = core.node.cfg.fsync;
    let received = receive(conn, req, file, fsync).await;
    let fail = |e: ApiError| {
        let w = work.clone();
        async move {
            glommio::executor()
                .spawn_blocking(move || {
                    let _ = std::fs::remove_file(w);
                })
                .await;
            Err(e)
        }
    };
    let cksum = match received {
        Ok(c) => c,
        Err(e) => return fail(e).await,
    };
    if cksum != meta.slice_cksum {
        return fail(ApiError::bad_request(format!(
            "EC slice {} of ais://{bucket}/{object}: received bytes hash to {cksum:016x}, the metafile says {:016x}",
            meta.slice_index, meta.slice_cksum
        )))
        .await;
    }
    let (m, b, o, w) = (mp.clone(), bck, object.to_string(), work.clone());
    let r = glommio::executor()
        .spawn_blocking(move || ecstore::install(&m, &b, &o, Some(&w), &meta, fsync))
        .await
        .map_err(|e| engine_err(e, bucket, object))?;
    STATS.slices_received.fetch_add(1, Ordering::Relaxed);
    let stale = [(HDR_EC_STALE, "true")];
    let hs: &[(&str, &str)] = if r == Installed::Stale { &stale } else { &[] };
    conn.respond(200, hs, b"").await.map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}

/// The request body into `file` (synced with `fsync`), gathered into [`EC_RECV_BYTES`]
/// pieces written on the blocking thread; its XXH64.
async fn receive(
    conn: &mut Conn,
    req: &mut Req,
    mut file: std::fs::File,
    fsync: bool,
) -> Result<u64, ApiError> {
    if req.head.expect_continue {
        conn.send_continue().await.map_err(io_err)?;
    }
    let mut h = Xxh64::new(0);
    let mut buf = vec![0u8; EC_RECV_BYTES];
    let mut body = conn.body(req.head.body);
    let mut done = false;
    while !done {
        let mut filled = 0;
        while filled < buf.len() {
            let n = body.read(&mut buf[filled..]).await.map_err(io_err)?;
            if n == 0 {
                done = true;
                break;
            }
            filled += n;
        }
        h.update(&buf[..filled]);
        let (f, b, r) = glommio::executor()
            .spawn_blocking(move || {
                let r = file.write_all(&buf[..filled]);
                (file, buf, r)
            })
            .await;
        (file, buf) = (f, b);
        r.map_err(|e| ApiError::internal(format!("writing an EC slice: {e}")))?;
    }
    req.body_done = true;
    if fsync {
        glommio::executor()
            .spawn_blocking(move || file.sync_data())
            .await
            .map_err(|e| ApiError::internal(format!("syncing an EC slice: {e}")))?;
    }
    Ok(h.digest())
}

fn q_num<T: std::str::FromStr>(req: &Req, k: &str) -> Result<T, ApiError> {
    req.q(k)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::bad_request(format!("missing or invalid query parameter {k:?}")))
}

async fn get(
    conn: &mut Conn,
    req: &Req,
    mp: Arc<Mountpath>,
    bucket: &str,
    object: &str,
) -> Result<Outcome, ApiError> {
    let bck = Bck::ais(bucket);
    let what = req.q("what").unwrap_or("");
    if what == "verify" {
        let want = Expect {
            gen: q_num(req, "gen")?,
            index: q_num(req, "index")?,
            replicated: q_num(req, "replicated")?,
            data: q_num(req, "data")?,
            parity: q_num(req, "parity")?,
        };
        let (m, b, o) = (mp.clone(), bucket.to_string(), object.to_string());
        let (verdict, detail) = glommio::executor()
            .spawn_blocking(move || verify_local(&m, &b, &o, &want))
            .await;
        let body = serde_json::json!({"status": verdict.as_str(), "detail": detail}).to_string();
        conn.respond(
            200,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .await
        .map_err(io_err)?;
        return Ok(Outcome::KeepAlive);
    }
    let range = match what {
        "meta" => None,
        "slice" => {
            let gen: i64 = q_num(req, "gen")?;
            let offset: u64 = q_num(req, "offset")?;
            let len: usize = q_num(req, "len")?;
            if len > CHUNK_BYTES_MAX {
                return Err(ApiError::bad_request(format!(
                    "len {len}: at most {CHUNK_BYTES_MAX} bytes per read"
                )));
            }
            Some((gen, offset, len))
        }
        w => {
            return Err(ApiError::bad_request(format!(
                "what={w:?}: expected meta, slice or verify"
            )))
        }
    };
    let (m, o) = (mp.clone(), object.to_string());
    let r = glommio::executor()
        .spawn_blocking(move || -> engine::Result<Result<Vec<u8>, (u16, String)>> {
            let Some(meta) = ecstore::read_meta(&m.path, &bck, &o)? else {
                return Ok(Err((404, "no EC metafile".into())));
            };
            let Some((gen, offset, len)) = range else {
                return Ok(Ok(meta.encode()));
            };
            if meta.deleted || meta.generation_ns != gen {
                return Ok(Err((
                    409,
                    format!(
                        "EC slice generation is {}{}, not {gen}",
                        meta.generation_ns,
                        if meta.deleted { " (deleted)" } else { "" }
                    ),
                )));
            }
            ecstore::read_slice_range(&m.path, &bck, &o, offset, len).map(Ok)
        })
        .await;
    match r {
        Ok(Ok(body)) => {
            conn.respond(200, &[("Content-Type", "application/octet-stream")], &body)
                .await
                .map_err(io_err)?;
            Ok(Outcome::KeepAlive)
        }
        Ok(Err((status, msg))) => Err(ApiError::new(
            status,
            format!("ais://{bucket}/{object}: {msg}"),
        )),
        Err(e) => Err(engine_err(e, bucket, object)),
    }
}

async fn delete(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &Req,
    mp: Arc<Mountpath>,
    bucket: &str,
    object: &str,
) -> Result<Outcome, ApiError> {
    let tomb = meta_of(req)?;
    if !tomb.deleted {
        return Err(ApiError::bad_request(format!(
            "DELETE needs a tombstone in {HDR_EC_META}"
        )));
    }
    let always = req.q("always") == Some("true");
    let fsync = core.node.cfg.fsync;
    let (m, b, o) = (mp.clone(), Bck::ais(bucket), object.to_string());
    glommio::executor()
        .spawn_blocking(move || -> engine::Result<()> {
            let had = ecstore::read_meta(&m.path, &b, &o)
                .map(|x| x.is_some())
                .unwrap_or(true)
                || ecstore::slice_fqn(&m.path, &b, &o).exists();
            if had || always {
                ecstore::install(&m, &b, &o, None, &tomb, fsync)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| engine_err(e, bucket, object))?;
    conn.respond(200, &[], b"").await.map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}
