//! Files inside shards (AIS `archpath`, `archregx`/`archmode`, `archmime`), on the target
//! core that owns the shard:
//! - `GET ?archpath=F`: exactly F's bytes. A member of an uncompressed tar (or a stored zip
//!   member) is one lookup in this core's shard index plus one ranged read of the object;
//!   other members are decompressed on the core's blocking thread. On a cache miss the
//!   index comes from its on-disk sidecar if that is valid for this instance of the object
//!   (`engine::shardidx`, docs/shard-index.md), else from a scan, which is then persisted.
//! - `GET ?archregx=R&archmode=M`: the matching members as a tar.
//! - `HEAD ?archpath=F`: F's size as `Content-Length` (404 if absent).
//! - `PUT ?archpath=F` (AIS `PutApndArch`, header `Ais-Pine`): F added to a shard, which is
//!   written as a new version through the engine's writer (created when AIS would),
//!   conditional on the shard that was read (412 if it changed meanwhile). A tar is copied up
//!   to its end-of-archive blocks and F streamed after it; a tgz, tar.lz4 or zip shard is
//!   rewritten in memory (members kept byte for byte and in order, F added after them),
//!   bounded by `engine::tarball::SHARD_EDIT_BYTES_MAX`. As in AIS, a name already in the
//!   shard is added again, not replaced (a read by name finds the first).
//!
//! Bad input (not an archive, no such member, bad mode or regex) is a 4xx naming it; nothing
//! is written. Formats come from `engine::archive`.

use super::body::receive_into;
use crate::core::Core;
use crate::error::ApiError;
use crate::forward::get_from_neighbor;
use crate::reply::io_err;
use crate::req::{Outcome, Req};
use cluster::gfn::GfnMark;
use engine::archive::{self, ArchError, FileSource, Format, Index, Matcher, Stamp};
use engine::layout::Bck;
use engine::mountpath::Mountpath;
use engine::object::{Identity, ObjectReader, ObjectWriter, PutOpts, READ_BUFFER_BYTES};
use net::conn::Conn;
use net::http;
use std::rc::Rc;
use std::sync::Arc;

pub const QPARAM_ARCHPATH: &str = "archpath";
pub const QPARAM_ARCHREGX: &str = "archregx";
pub const QPARAM_ARCHMODE: &str = "archmode";
pub const QPARAM_ARCHMIME: &str = "archmime";
/// AIS `apc.HdrPutApndArchFlags`: 0 (or absent) puts a new shard with just this file,
/// [`ARCH_APPEND`] appends to an existing shard (404 if none), [`ARCH_APPEND_IF_EXIST`]
/// appends or creates.
pub const HDR_PUT_APND_ARCH_FLAGS: &str = "ais-pine";
pub const ARCH_APPEND: i64 = 1;
pub const ARCH_APPEND_IF_EXIST: i64 = 2;

fn qv<'a>(req: &'a Req, k: &str) -> &'a str {
    req.q(k).unwrap_or("")
}

/// Whether the request is about files inside a shard.
pub fn selects(req: &Req) -> bool {
    [QPARAM_ARCHPATH, QPARAM_ARCHREGX, QPARAM_ARCHMODE]
        .iter()
        .any(|k| !qv(req, k).is_empty())
}

fn engine_err(core: &Core, bucket: &str, object: &str) -> impl Fn(engine::Error) -> ApiError {
    let tname = core.node.tname();
    let cname = format!("ais://{bucket}");
    let object = object.to_string();
    move |e| ApiError::from_engine(e, &tname, &cname, &object)
}

/// The shard's format: `archmime`, else the name's extension, else the magic.
async fn format_of(rd: &ObjectReader, object: &str, mime: &str) -> Result<Format, engine::Error> {
    if !mime.is_empty() {
        return Ok(Format::by_mime(mime)?);
    }
    if let Some(f) = Format::by_name(object) {
        return Ok(f);
    }
    let n = rd.lom.size.min(4096) as usize;
    let head = if n == 0 {
        Vec::new()
    } else {
        rd.read_range(0, n)
            .await
            .map_err(|e| engine::Error::io("read", &rd.fqn, e))?
            .to_vec()
    };
    Format::by_magic(&head[..n.min(head.len())]).ok_or_else(|| {
        ArchError::BadRequest(format!(
            "not an archive: {object:?} has no archive extension (.tar, .tgz, .tar.gz, .zip, .tar.lz4) and no known magic (set archmime)"
        ))
        .into()
    })
}

/// This core's index of the open shard, built on the blocking thread on a miss (and kept
/// for this instance of the object only). Not persisted: see [`shard_index_at`].
pub async fn shard_index(
    rd: &ObjectReader,
    object: &str,
    mime: &str,
) -> Result<Rc<Index>, engine::Error> {
    shard_index_at(rd, object, mime, None).await
}

/// Where a shard's persisted index lives: the object's own mountpath and bucket.
pub struct Sidecar<'a> {
    pub mp: &'a Mountpath,
    pub bck: &'a Bck,
}

/// How the blocking thread came by an index.
enum Got {
    Loaded(Index),
    /// Built by a scan; with why the sidecar was not used if it was there: stale (`false`,
    /// the object was overwritten: routine) or damaged (`true`).
    Built(Index, Option<(bool, String)>),
}

/// The shard's index: this core's cache, else (with `sidecar`) its on-disk index if valid for
/// this instance of the object (`engine::shardidx`), else built by a scan on the blocking
/// thread and then persisted. A stale or damaged sidecar is counted, logged, and replaced.
pub async fn shard_index_at(
    rd: &ObjectReader,
    object: &str,
    mime: &str,
    sidecar: Option<Sidecar<'_>>,
) -> Result<Rc<Index>, engine::Error> {
    use cluster::metrics::{self, M};
    use engine::shardidx::{self, IndexedFrom, Loaded};
    let format = format_of(rd, object, mime).await?;
    let stamp = Stamp::of(&rd.lom, format);
    if let Some(idx) = archive::cached(&rd.fqn, &stamp) {
        return Ok(idx);
    }
    let fqn = rd.fqn.clone();
    let st = stamp.clone();
    let sidecar = sidecar
        .filter(|_| shardidx::persists(format))
        .map(|s| (s.mp.path.clone(), s.bck.clone()));
    let from = IndexedFrom::of(object, &rd.lom);
    let got = glommio::executor()
        .spawn_blocking(move || -> Result<Got, engine::Error> {
            let mut rejected = None;
            if let Some((root, bck)) = &sidecar {
                match shardidx::load(&shardidx::path(root, bck, &from.object), &from, format) {
                    Loaded::Valid(idx) => return Ok(Got::Loaded(idx)),
                    Loaded::Absent => {}
                    Loaded::Stale(why) => rejected = Some((false, why)),
                    Loaded::Invalid(why) => rejected = Some((true, why)),
                }
            }
            let src = FileSource::open(&fqn).map_err(|e| engine::Error::io("open", &fqn, e))?;
            if !src.is(&st) {
                // Replaced since it was opened: the caller's reader is of the old instance.
                return Err(engine::Error::Changed(fqn));
            }
            let idx = archive::index(&src, format)?;
            if let Some((root, bck)) = &sidecar {
                if let Err(e) = shardidx::store(root, bck, &from, &idx) {
                    tracing::warn!(bucket = %bck.name, object = %from.object, error = %e, "persisting the shard index failed");
                }
            }
            Ok(Got::Built(idx, rejected))
        })
        .await?;
    let built = match got {
        Got::Loaded(idx) => {
            metrics::add(M::ShardIdxLoadN, 1);
            idx
        }
        Got::Built(idx, rejected) => {
            metrics::add(M::ShardIdxBuildN, 1);
            match rejected {
                None => {}
                Some((damaged, why)) => {
                    metrics::add(M::ShardIdxBadN, 1);
                    if damaged {
                        tracing::warn!(object, reason = %why, "damaged shard index rebuilt");
                    } else {
                        tracing::debug!(object, reason = %why, "stale shard index rebuilt");
                    }
                }
            }
            idx
        }
    };
    let idx = Rc::new(built);
    archive::remember(&rd.fqn, stamp, idx.clone());
    Ok(idx)
}

/// Run `f` over the shard file on the blocking thread (decompression, zip inflate).
async fn blocking<T: Send + 'static>(
    rd: &ObjectReader,
    f: impl FnOnce(&FileSource) -> Result<T, ArchError> + Send + 'static,
) -> Result<T, engine::Error> {
    let fqn = rd.fqn.clone();
    let (size, mtime) = (rd.lom.size, rd.lom.mtime_ns);
    glommio::executor()
        .spawn_blocking(move || -> Result<T, engine::Error> {
            let src = FileSource::open(&fqn).map_err(|e| engine::Error::io("open", &fqn, e))?;
            if src.size != size || src.mtime_ns != mtime {
                return Err(engine::Error::Changed(fqn));
            }
            Ok(f(&src)?)
        })
        .await
}

/// Open the shard for reading, or (`Err(Ok)`) the answer a neighbour gave during a rebalance.
async fn open(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mp: &Arc<Mountpath>,
    bucket: &str,
    object: &str,
) -> Result<Result<ObjectReader, Outcome>, ApiError> {
    let fail = engine_err(core, bucket, object);
    match core.open_for_get(mp, bucket, object).await {
        Ok(rd) => Ok(Ok(rd)),
        Err(engine::Error::NotFound(_)) => {
            if let Some(o) =
                get_from_neighbor(core, conn, req, bucket, object, GfnMark::Query).await?
            {
                return Ok(Err(o));
            }
            ObjectReader::open(mp, &Bck::ais(bucket), object)
                .await
                .map(Ok)
                .map_err(fail)
        }
        Err(e) => Err(fail(e)),
    }
}

/// Validated selection of a GET or HEAD.
enum Select {
    One(String),
    Match(Matcher),
}

fn selection(req: &Req) -> Result<Select, ApiError> {
    let path = qv(req, QPARAM_ARCHPATH);
    let regx = qv(req, QPARAM_ARCHREGX);
    let mode = qv(req, QPARAM_ARCHMODE);
    if !path.is_empty() && (!regx.is_empty() || !mode.is_empty()) {
        return Err(ApiError::bad_request(format!(
            "archpath={path:?} cannot be combined with archregx/archmode (one file, or a selection)"
        )));
    }
    if !path.is_empty() {
        return Ok(Select::One(path.to_string()));
    }
    Matcher::new(regx, mode)
        .map(Select::Match)
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// `GET` and `HEAD` of files inside a shard.
pub async fn get(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mp: Arc<Mountpath>,
    bucket: &str,
    object: &str,
) -> Result<Outcome, ApiError> {
    let tname = core.node.tname();
    let sel = selection(req)?;
    if let Some(v) = req.head.header("range") {
        let mut e = ApiError::new(
            416,
            format!("{tname}: a range ({v:?}) cannot be combined with archpath/archregx"),
        );
        e.headers.push(("Content-Range", "bytes */0".into()));
        return Err(e);
    }
    let fail = engine_err(core, bucket, object);
    let rd = match open(core, conn, req, &mp, bucket, object).await? {
        Ok(rd) => rd,
        Err(served) => return Ok(served),
    };
    let mime = qv(req, QPARAM_ARCHMIME).to_string();
    let bck = Bck::ais(bucket);
    let sidecar = Sidecar { mp: &mp, bck: &bck };
    let idx = match shard_index_at(&rd, object, &mime, Some(sidecar)).await {
        Ok(i) => i,
        Err(e) => {
            rd.close().await;
            return Err(fail(e));
        }
    };
    let head_only = req.head.method == "HEAD";
    match sel {
        Select::One(name) => {
            let Some(m) = idx.find(&name).cloned() else {
                rd.close().await;
                return Err(fail(ArchError::NoMember(name).into()));
            };
            let len = m.size.to_string();
            let hs = [
                ("Content-Type", "application/octet-stream"),
                ("Content-Length", len.as_str()),
            ];
            if head_only {
                rd.close().await;
                let mut out = Vec::with_capacity(256);
                http::write_response_head(&mut out, 200, &hs);
                conn.write_all(&out).await.map_err(io_err)?;
                return Ok(Outcome::KeepAlive);
            }
            if let Some((off, size)) = idx.contiguous(&m) {
                return match super::objects::send_object(conn, rd, off, size, 200, &hs, false).await
                {
                    Ok(o) => Ok(o),
                    Err(super::objects::SendError::Conn(e)) => Err(io_err(e)),
                    Err(super::objects::SendError::Read(e)) => Err(ApiError::internal(format!(
                        "{tname}: reading {name:?} in ais://{bucket}/{object}: {e}"
                    ))),
                    Err(_) => Ok(Outcome::Close),
                };
            }
            let idx2 = strip(&idx);
            let bytes = blocking(&rd, move |src| archive::read_member(src, &idx2, &m)).await;
            rd.close().await;
            let bytes = bytes.map_err(fail)?;
            conn.respond(200, &hs[..1], &bytes).await.map_err(io_err)?;
            Ok(Outcome::KeepAlive)
        }
        Select::Match(matcher) => {
            if head_only {
                rd.close().await;
                return Err(ApiError::bad_request(
                    "HEAD with archregx: name one file with archpath",
                ));
            }
            send_matches(conn, rd, &idx, matcher, &fail).await
        }
    }
}

/// A copy of the index without its lookup table, to move to the blocking thread.
fn strip(idx: &Index) -> Index {
    archive::Index::from_members(idx.format, idx.members.clone(), idx.end)
}

/// The members `matcher` selects, as a tar: streamed from the object for an uncompressed
/// tar (its length known up front), built in memory (bounded) otherwise.
async fn send_matches(
    conn: &mut Conn,
    rd: ObjectReader,
    idx: &Index,
    matcher: Matcher,
    fail: &impl Fn(engine::Error) -> ApiError,
) -> Result<Outcome, ApiError> {
    let mtime = (rd.lom.mtime_ns / 1_000_000_000).max(0) as u64;
    if idx.format == Format::Tar {
        let picked: Vec<&archive::Member> = idx
            .members
            .iter()
            .filter(|m| matcher.matches(&m.name))
            .collect();
        let mut total = 1024u64;
        for m in &picked {
            total += engine::tarball::member_len(&m.name, m.size)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
        }
        let len = total.to_string();
        let mut head = Vec::with_capacity(512);
        http::write_response_head(
            &mut head,
            200,
            &[
                ("Content-Type", "application/x-tar"),
                ("Content-Length", &len),
            ],
        );
        conn.write_all(&head).await.map_err(io_err)?;
        for m in picked {
            let h = engine::tarball::member_head(&m.name, m.size, mtime)
                .expect("checked by member_len above");
            if conn.write_all(&h).await.is_err() {
                rd.close().await;
                return Ok(Outcome::Close);
            }
            let mut done = 0u64;
            while done < m.size {
                let n = (m.size - done).min(READ_BUFFER_BYTES as u64) as usize;
                let buf = match rd.read_range(m.offset + done, n).await {
                    Ok(b) if b.len() >= n => b,
                    _ => {
                        tracing::error!(path = %rd.fqn.display(), member = %m.name, "shard read failed mid-response");
                        rd.close().await;
                        return Ok(Outcome::Close);
                    }
                };
                if conn.write_all(&buf[..n]).await.is_err() {
                    rd.close().await;
                    return Ok(Outcome::Close);
                }
                done += n as u64;
            }
            if conn
                .write_all(engine::tarball::padding(m.size))
                .await
                .is_err()
            {
                rd.close().await;
                return Ok(Outcome::Close);
            }
        }
        rd.close().await;
        conn.write_all(&[0u8; 1024]).await.map_err(io_err)?;
        return Ok(Outcome::KeepAlive);
    }
    let idx2 = strip(idx);
    let out = blocking(&rd, move |src| {
        let mut out = Vec::new();
        let mut err = None;
        archive::for_each_match(src, &idx2, &matcher, |m, b| {
            if err.is_none() {
                if let Err(e) = engine::tarball::append(&mut out, &m.name, &b, mtime) {
                    err = Some(e);
                }
            }
        })?;
        if let Some(e) = err {
            return Err(ArchError::BadRequest(e.to_string()));
        }
        engine::tarball::finish(&mut out)?;
        Ok(out)
    })
    .await;
    rd.close().await;
    let out = out.map_err(fail)?;
    conn.respond(200, &[("Content-Type", "application/x-tar")], &out)
        .await
        .map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}

/// `PUT ?archpath=F` (AIS `PutApndArch`): add the body as file F of a shard.
pub async fn put(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mp: Arc<Mountpath>,
    bucket: &str,
    object: &str,
) -> Result<Outcome, ApiError> {
    let tname = core.node.tname();
    let cname = format!("ais://{bucket}");
    let fail = engine_err(core, bucket, object);
    let mut name = qv(req, QPARAM_ARCHPATH).to_string();
    if !qv(req, QPARAM_ARCHREGX).is_empty() || !qv(req, QPARAM_ARCHMODE).is_empty() {
        return Err(ApiError::bad_request(format!(
            "{tname}: PUT {cname}/{object}: archregx/archmode select files to read; name the file to add with archpath"
        ))
        .closing());
    }
    // AIS: a path given as <shard>/<file> names <file>.
    if let Some(rel) = name.strip_prefix(&format!("{object}/")) {
        name = rel.to_string();
    }
    let flags: i64 = match req.head.header(HDR_PUT_APND_ARCH_FLAGS) {
        None | Some("") => 0,
        Some(v) => v.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "failed to archive {cname}/{object}: invalid flags {v:?} in the request (Ais-Pine)"
            ))
            .closing()
        })?,
    };
    if !matches!(flags, 0 | ARCH_APPEND | ARCH_APPEND_IF_EXIST) {
        return Err(ApiError::bad_request(format!(
            "failed to archive {cname}/{object}: unknown flags {flags} (Ais-Pine: 0, 1 append, 2 append or create)"
        ))
        .closing());
    }
    if name.is_empty() || name.ends_with('/') || name.contains('\0') {
        return Err(ApiError::bad_request(format!(
            "failed to archive {cname}/{object}: invalid file name (archpath) {name:?}"
        ))
        .closing());
    }
    let size = match req.head.body {
        http::BodyKind::Length(n) if n > 0 => n,
        _ => {
            return Err(ApiError::bad_request(format!(
                "failed to archive {cname}/{object}: missing \"Content-Length\" in the request"
            ))
            .closing())
        }
    };
    let mime = qv(req, QPARAM_ARCHMIME).to_string();
    let bck = Bck::ais(bucket);
    let existing = match ObjectReader::open(&mp, &bck, object).await {
        Ok(rd) => Some(rd),
        Err(engine::Error::NotFound(_)) => None,
        Err(e) => return Err(fail(e).closing()),
    };
    if existing.is_none() && flags == ARCH_APPEND {
        return Err(ApiError::new(
            404,
            format!("{tname}: {cname}/{object} does not exist (Ais-Pine {ARCH_APPEND}: append to an existing shard)"),
        )
        .closing());
    }
    // flags 0 replaces the shard with a new one holding just this file, as AIS does.
    let append_to = if flags == 0 { None } else { existing };
    let format = match &append_to {
        Some(rd) => format_of(rd, object, &mime).await,
        None if !mime.is_empty() => Format::by_mime(&mime).map_err(Into::into),
        None => Format::by_name(object).ok_or_else(|| {
            ArchError::BadRequest(format!(
                "cannot tell the archive format of new shard {object:?}: give it an archive extension or set archmime"
            ))
            .into()
        }),
    };
    let format = match format {
        Ok(f) => f,
        Err(e) => {
            if let Some(rd) = append_to {
                rd.close().await;
            }
            return Err(fail(e).closing());
        }
    };
    if format != Format::Tar {
        return put_rewrite(
            core, conn, req, mp, bucket, object, &name, size, format, append_to,
        )
        .await;
    }
    let indexed = match &append_to {
        Some(rd) => Some(
            shard_index(rd, object, &mime)
                .await
                .map(|idx| (idx.end, Identity::of(&rd.lom))),
        ),
        None => None,
    };
    let (prefix_end, require) = match indexed {
        None => (0, None),
        Some(Ok((end, id))) => (end, Some(id)),
        Some(Err(e)) => {
            if let Some(rd) = append_to {
                rd.close().await;
            }
            return Err(fail(e).closing());
        }
    };
    let head = match engine::tarball::member_head(
        &name,
        size,
        (net::time::now_unix_ns() / 1_000_000_000) as u64,
    ) {
        Ok(h) => h,
        Err(e) => {
            if let Some(rd) = append_to {
                rd.close().await;
            }
            return Err(
                ApiError::bad_request(format!("failed to archive {cname}/{object}: {e}")).closing(),
            );
        }
    };
    let (cksum_type, versioning) =
        core.with_props(bucket, |p| (p.checksum.ty.clone(), p.versioning.enabled))?;
    let opts = PutOpts {
        cksum_type,
        versioning,
        fsync: core.node.cfg.fsync,
        require,
        ..PutOpts::default()
    };
    let mut w = match ObjectWriter::create(&mp, &bck, object).await {
        Ok(w) => w,
        Err(e) => {
            if let Some(rd) = append_to {
                rd.close().await;
            }
            return Err(fail(e).closing());
        }
    };
    if let Err(e) = w.set_cksums(&opts) {
        w.abort().await;
        if let Some(rd) = append_to {
            rd.close().await;
        }
        return Err(fail(e).closing());
    }
    // The old shard up to its end-of-archive blocks, then the new member's header.
    if let Some(rd) = append_to {
        let mut done = 0u64;
        while done < prefix_end {
            let n = (prefix_end - done).min(READ_BUFFER_BYTES as u64) as usize;
            let r = match rd.read_range(done, n).await {
                Ok(b) if b.len() >= n => w.write(&b[..n]).await,
                Ok(_) => Err(engine::Error::Corrupt {
                    path: rd.fqn.clone(),
                    detail: "shorter than its metadata size".into(),
                }),
                Err(e) => Err(engine::Error::io("read", &rd.fqn, e)),
            };
            if let Err(e) = r {
                w.abort().await;
                rd.close().await;
                return Err(fail(e).closing());
            }
            done += n as u64;
        }
        rd.close().await;
    }
    if let Err(e) = w.write(&head).await {
        w.abort().await;
        return Err(fail(e).closing());
    }
    let mut w = receive_into(conn, req, w, |_| {}, &fail).await?;
    let tail: Vec<u8> = [engine::tarball::padding(size), &[0u8; 1024][..]].concat();
    if let Err(e) = w.write(&tail).await {
        w.abort().await;
        return Err(fail(e));
    }
    commit_shard(core, conn, w, &opts, &mp, bucket, object).await
}

/// `PUT ?archpath=F` into a tgz, tar.lz4 or zip shard (or a new one): these formats cannot
/// be appended to in place, so, as AIS does, the shard is read whole, its members kept byte
/// for byte and in order (the decompressed tar stream up to its end-of-archive blocks; the
/// zip's entries and central directory records), F added after them, and the result
/// re-compressed (zip: a new local entry and a rewritten central directory) on the core's
/// blocking thread, then written as a new version conditional on the shard read (412 if it
/// changed meanwhile). Shard and file together are bounded by
/// [`engine::tarball::SHARD_EDIT_BYTES_MAX`] (uncompressed): 400 naming it beyond.
#[allow(clippy::too_many_arguments)]
async fn put_rewrite(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mp: Arc<Mountpath>,
    bucket: &str,
    object: &str,
    name: &str,
    size: u64,
    format: Format,
    append_to: Option<ObjectReader>,
) -> Result<Outcome, ApiError> {
    use engine::tarball::{Shard, ShardFormat, SHARD_EDIT_BYTES_MAX};
    let cname = format!("ais://{bucket}");
    let fail = engine_err(core, bucket, object);
    let shard_size = append_to.as_ref().map_or(0, |rd| rd.lom.size);
    if size.saturating_add(shard_size) > SHARD_EDIT_BYTES_MAX {
        if let Some(rd) = append_to {
            rd.close().await;
        }
        return Err(fail(
            ArchError::TooLarge(format!(
                "adding {size} bytes to a {}-byte {} shard: over SHARD_EDIT_BYTES_MAX ({SHARD_EDIT_BYTES_MAX} bytes), the largest this node rewrites to add a file to a compressed or zip shard",
                shard_size,
                format.ext()
            ))
            .into(),
        )
        .closing());
    }
    let body = conn.body(req.head.body).read_to_vec(size as usize).await;
    req.body_done = true;
    let body = match body {
        Ok(b) if b.len() as u64 == size => b,
        other => {
            if let Some(rd) = append_to {
                rd.close().await;
            }
            let why = other.map_or_else(|e| e.to_string(), |b| format!("{} bytes", b.len()));
            return Err(ApiError::bad_request(format!(
                "failed to archive {cname}/{object}: reading the {size}-byte body: {why}"
            ))
            .closing());
        }
    };
    let fmt = ShardFormat::of(format);
    let mtime = (net::time::now_unix_ns() / 1_000_000_000) as u64;
    let file = name.to_string();
    let add = move |mut shard: Shard| -> Result<Vec<u8>, ArchError> {
        if shard.len() as u64 + body.len() as u64 > SHARD_EDIT_BYTES_MAX {
            return Err(ArchError::TooLarge(format!(
                "the {} shard with {file:?} added would be over SHARD_EDIT_BYTES_MAX ({SHARD_EDIT_BYTES_MAX} bytes uncompressed)",
                fmt.archive().ext()
            )));
        }
        shard
            .add(&file, &body, mtime)
            .map_err(|e| ArchError::BadRequest(e.to_string()))?;
        Ok(shard.seal()?)
    };
    let (built, require) = match append_to {
        Some(rd) => {
            let require = Identity::of(&rd.lom);
            let len = rd.lom.size;
            let built = blocking(&rd, move |src| {
                let mut bytes = vec![0u8; len as usize];
                engine::archive::Source::read_exact_at(src, &mut bytes, 0)?;
                add(Shard::reopen(fmt, &bytes)?)
            })
            .await;
            rd.close().await;
            (built, Some(require))
        }
        None => (
            glommio::executor()
                .spawn_blocking(move || add(Shard::new(fmt)).map_err(engine::Error::from))
                .await,
            None,
        ),
    };
    let bytes = built.map_err(&fail)?;
    let (cksum_type, versioning) =
        core.with_props(bucket, |p| (p.checksum.ty.clone(), p.versioning.enabled))?;
    let opts = PutOpts {
        cksum_type,
        versioning,
        fsync: core.node.cfg.fsync,
        require,
        ..PutOpts::default()
    };
    let bck = Bck::ais(bucket);
    let mut w = ObjectWriter::create(&mp, &bck, object)
        .await
        .map_err(&fail)?;
    if let Err(e) = w.set_cksums(&opts) {
        w.abort().await;
        return Err(fail(e));
    }
    if let Err(e) = w.write(&bytes).await {
        w.abort().await;
        return Err(fail(e));
    }
    drop(bytes);
    commit_shard(core, conn, w, &opts, &mp, bucket, object).await
}

/// Commit a shard's new version (mirror copies and EC slices after it, as any PUT) and
/// answer 200.
async fn commit_shard(
    core: &Rc<Core>,
    conn: &mut Conn,
    w: ObjectWriter,
    opts: &PutOpts,
    mp: &Arc<Mountpath>,
    bucket: &str,
    object: &str,
) -> Result<Outcome, ApiError> {
    let fail = engine_err(core, bucket, object);
    let res = w.commit(opts).await.map_err(&fail)?;
    if res.changed {
        core.mirror_after_put(mp, bucket, object)
            .await
            .map_err(&fail)?;
        core.ec_after_put(mp, bucket, object).await?;
    }
    conn.respond(200, &[], b"").await.map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}
