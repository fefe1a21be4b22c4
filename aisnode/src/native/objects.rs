//! Objects on the target core that owns their mountpath: PUT, GET (with a single range),
//! HEAD, DELETE and PATCH (custom metadata). GET verifies the stored checksum while streaming; a mismatch is
//! never a successful response: a small object gets a 500, a large one has its last buffer
//! held back and the connection is cut short, so the client sees a truncated body.

use super::body::{client_cksum, receive_into};
use super::{append, archive, multipart};
use crate::core::Core;
use crate::error::ApiError;
use crate::forward::get_from_neighbor;
use crate::reply::{io_err, CONTROL_BODY_BYTES_MAX};
use crate::req::{Outcome, Req};
use cluster::gfn::{self, GfnMark};
use cluster::meta::placement;
use cluster::transfer;
use engine::cksum::{CksumType, Hasher};
use engine::layout::Bck;
use engine::lom::Lom;
use engine::mountpath::Mountpath;
use engine::object::{ObjectReader, ObjectWriter, PutOpts, READ_BUFFER_BYTES};
use net::conn::Conn;
use net::http::{self, RangeError};
use std::rc::Rc;
use std::sync::Arc;

/// Responses whose body fits here go out in one write with the head.
pub const SMALL_RESPONSE_BYTES: usize = 64 * 1024;

pub async fn object(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mp: Arc<Mountpath>,
    bucket: &str,
    object: &str,
) -> Result<Outcome, ApiError> {
    let method = req.head.method.clone();
    // Reads find objects a resilver has not moved to their HRW mountpath yet.
    let at = |mp| locate(core, mp, bucket, object);
    super::audit::check_query(super::audit::Endpoint::Object, req)?;
    if archive::selects(req) && cluster::remote::is_remote(bucket) {
        if method != "GET" && method != "HEAD" {
            return Err(ApiError::not_implemented(format!(
                "{method} with archpath on remote bucket {} is not supported by this node (reading files in its shards is)",
                cluster::buckets::cname(bucket)
            )));
        }
        // A shard not cached yet is fetched first (cold GET), then read here.
        let at_mp = at(mp.clone());
        if !engine::object::exists(&at_mp, &Bck::ais(bucket), object) {
            let ck = core.with_props(bucket, |p| p.checksum.ty.clone())?;
            cluster::remote::cold_get(&core.node, &at_mp, bucket, object, &ck).await?;
        }
    }
    if archive::selects(req) {
        return match method.as_str() {
            "GET" | "HEAD" => archive::get(core, conn, req, at(mp), bucket, object).await,
            "PUT" => archive::put(core, conn, req, mp, bucket, object).await,
            m => Err(ApiError::not_implemented(format!(
                "{m} /v1/objects/<bucket>/<object> with archpath/archregx/archmode is not supported (GET, HEAD and PUT are)"
            ))),
        };
    }
    let mpt = req.q(multipart::QPARAM_UPLOAD_ID).is_some()
        || req.q(multipart::QPARAM_PART_NUMBER).is_some();
    if cluster::remote::is_remote(bucket) {
        // Writes that would change only the cached copy, never the backend: refused by name.
        let what = match method.as_str() {
            "POST" => Some("multipart uploads"),
            "PUT" if mpt => Some("multipart uploads"),
            "PUT" if req.q(append::QPARAM_APPEND_TYPE).is_some() => Some("append"),
            "PUT" if req.q(QPARAM_OBJECT_TO).is_some() => Some("object copy"),
            "DELETE" if mpt => Some("multipart uploads"),
            "PATCH" => Some("custom metadata changes"),
            _ => None,
        };
        if let Some(w) = what {
            return Err(ApiError::not_implemented(format!(
                "{w} on remote bucket {} are not supported by this node (GET, HEAD, PUT and DELETE are)",
                cluster::buckets::cname(bucket)
            )));
        }
    }
    match method.as_str() {
        "POST" => multipart::post(core, conn, req, mp, bucket, object).await,
        "PUT" if mpt => multipart::upload_part(core, conn, req, mp, bucket, object).await,
        "DELETE" if mpt || req.has_body() => {
            multipart::delete_with_action(core, conn, req, mp, bucket, object).await
        }
        "PUT" if req.q(append::QPARAM_APPEND_TYPE).is_some() => {
            append::append(core, conn, req, mp, bucket, object).await
        }
        "PUT" if req.q(QPARAM_OBJECT_TO).is_some() => {
            copy(core, conn, req, at(mp), bucket, object).await
        }
        "PUT" => put(core, conn, req, mp, bucket, object).await,
        "GET" => get(core, conn, req, at(mp), bucket, object).await,
        "HEAD" => head(core, conn, req, at(mp), bucket, object).await,
        "DELETE" => delete(core, conn, req, mp, bucket, object).await,
        "PATCH" => patch(core, conn, req, at(mp), bucket, object).await,
        _ => Err(ApiError::method_not_allowed(
            "GET, PUT, HEAD, DELETE, PATCH, POST",
        )),
    }
}

/// `PUT ?object_to=<uname>`: copy this object (the SDK's `Object.copy`, AIS's
/// `api.CopyObject`).
pub const QPARAM_OBJECT_TO: &str = "object_to";

/// A destination uname (`ais/@#/<bucket>/<object>`, as the SDK's `Object.uname` writes it)
/// as (bucket, object).
fn parse_uname(uname: &str) -> Result<(&str, &str), ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "invalid {QPARAM_OBJECT_TO} {uname:?}: expected <provider>/<namespace>/<bucket>/<object>"
        ))
    };
    let (provider, rest) = uname.split_once('/').ok_or_else(bad)?;
    let (ns, rest) = rest.split_once('/').ok_or_else(bad)?;
    let (bucket, object) = rest.split_once('/').ok_or_else(bad)?;
    if provider != "ais" {
        return Err(ApiError::not_implemented(format!(
            "copying to bucket \"{provider}://{bucket}\": remote backends are not configured on this cluster"
        )));
    }
    if !(ns.is_empty() || ns == "@#") {
        return Err(ApiError::not_implemented(format!(
            "copying to namespace {ns:?}: only the global namespace is supported"
        )));
    }
    engine::name::validate_bucket(bucket).map_err(|e| ApiError::bad_request(e.to_string()))?;
    engine::name::validate_native_object(object)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok((bucket, object))
}

/// Copy `bucket/object` (on this core) to the object `object_to` names, in this or another
/// AIS bucket: the bytes, checksum (verified by the receiver) and custom metadata go to the
/// destination's owning core as a new version there; the source is untouched. `latest-ver`
/// and `synchronize` concern remote buckets only (AIS ignores them for AIS buckets, and so
/// do we).
async fn copy(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mp: Arc<Mountpath>,
    bucket: &str,
    object: &str,
) -> Result<Outcome, ApiError> {
    if req.has_body() {
        return Err(ApiError::bad_request(format!(
            "{QPARAM_OBJECT_TO}: a copy request has no body"
        ))
        .closing());
    }
    let to = req.q(QPARAM_OBJECT_TO).unwrap_or("").to_string();
    let (dst_bucket, dst_object) = parse_uname(&to)?;
    if dst_bucket == bucket && dst_object == object {
        return Err(ApiError::bad_request(format!(
            "cannot copy {bucket}/{object} onto itself"
        )));
    }
    let known = core.bmd().buckets.contains_key(dst_bucket)
        || cluster::membership::refresh_bmd_for(&core.node, dst_bucket).await;
    if !known {
        return Err(ApiError::bucket_not_found(&cluster::buckets::cname(
            dst_bucket,
        )));
    }
    core.check_access(dst_bucket, cluster::meta::access::PUT)?;
    let bck = Bck::ais(bucket);
    if !engine::object::exists(&mp, &bck, object) {
        // During a rebalance the source may still be on its previous owner: the copy runs
        // there (the request has no body, so it can be forwarded as it is).
        if let Some(o) = get_from_neighbor(core, conn, req, bucket, object, GfnMark::Query).await? {
            return Ok(o);
        }
    }
    let smap = core.smap();
    let Some(owner) = placement::owner(&smap, dst_bucket, dst_object) else {
        return Err(ApiError::new(
            503,
            format!("no targets in the cluster map (Smap v{})", smap.version),
        ));
    };
    let dest = transfer::Dest {
        base_url: &owner.url,
        bucket: dst_bucket,
        object: dst_object,
    };
    let pool = transfer::Pool::default();
    match transfer::send(
        &core.node,
        &pool,
        &mp,
        bucket,
        object,
        &dest,
        transfer::Mode::Copy,
    )
    .await
    {
        Ok(Some(_)) => {
            conn.respond(200, &[], b"").await.map_err(io_err)?;
            Ok(Outcome::KeepAlive)
        }
        Ok(None) => Err(ApiError::new(
            404,
            format!(
                "{}: ais://{bucket}/{object} does not exist",
                core.node.tname()
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Where an object is: its HRW mountpath, or, while a resilver has not moved it there yet,
/// whichever other mountpath holds it.
pub fn locate(core: &Core, mp: Arc<Mountpath>, bucket: &str, object: &str) -> Arc<Mountpath> {
    if !core
        .node
        .resilvering
        .load(std::sync::atomic::Ordering::Acquire)
    {
        return mp;
    }
    let bck = Bck::ais(bucket);
    if engine::object::exists(&mp, &bck, object) {
        return mp;
    }
    core.mps()
        .with_data()
        .into_iter()
        .find(|m| m.path_str != mp.path_str && engine::object::exists(m, &bck, object))
        .unwrap_or(mp)
}

/// An object's metadata, or (`Err`) the response a neighbour served during a rebalance.
async fn lom_or_neighbor(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    fqn: &std::path::Path,
    bucket: &str,
    object: &str,
) -> Result<Result<Lom, Outcome>, ApiError> {
    let fail = |e| ApiError::from_engine(e, &core.node.tname(), &format!("ais://{bucket}"), object);
    match engine::object::read_lom_path(fqn) {
        Ok(l) => Ok(Ok(l)),
        Err(engine::Error::NotFound(_)) => {
            if let Some(o) =
                get_from_neighbor(core, conn, req, bucket, object, GfnMark::Query).await?
            {
                return Ok(Err(o));
            }
            // Rebalance may have moved it here while the neighbour was asked.
            engine::object::read_lom_path(fqn).map(Ok).map_err(fail)
        }
        Err(e) => Err(fail(e)),
    }
}

/// Metadata headers (spec §5).
fn md_headers(lom: &Lom) -> Vec<(&'static str, String)> {
    let mut h = Vec::with_capacity(6);
    if !lom.cksum_type.is_empty() {
        h.push(("Ais-Checksum-Type", lom.cksum_type.clone()));
        h.push(("Ais-Checksum-Value", lom.cksum_value.clone()));
    }
    if lom.atime_ns != 0 {
        h.push(("Ais-Atime", lom.atime_ns.to_string()));
    }
    if !lom.version.is_empty() {
        h.push(("Ais-Version", lom.version.clone()));
    }
    for (k, v) in &lom.custom {
        h.push(("Ais-Custom-Md", format!("{k}={v}")));
        if k == "ETag" {
            h.push(("ETag", v.clone()));
        }
    }
    h
}

fn parse_custom(req: &Req) -> Result<Vec<(String, String)>, ApiError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for v in req.head.header_all("ais-custom-md") {
        for kv in v.split(',') {
            let kv = kv.trim();
            if kv.is_empty() {
                continue;
            }
            let (k, val) = kv.split_once('=').ok_or_else(|| {
                ApiError::bad_request(format!("invalid Ais-Custom-Md {kv:?}: expected key=value"))
            })?;
            out.retain(|(x, _)| x != k.trim());
            out.push((k.trim().to_string(), val.trim().to_string()));
        }
    }
    engine::lom::validate_custom(&out).map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(out)
}

async fn put(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mp: Arc<Mountpath>,
    bucket: &str,
    object: &str,
) -> Result<Outcome, ApiError> {
    let node = core.node.clone();
    let cname = format!("ais://{bucket}");
    let tname = node.tname();
    let (cksum_type, versioning) =
        core.with_props(bucket, |p| (p.checksum.ty.clone(), p.versioning.enabled))?;
    let custom = parse_custom(req)?;
    // Refused before the body is read: an unknown type or a malformed value (even with
    // `skip_vc`, which only skips verifying a checksum this node understands).
    let client_cksum = client_cksum(req)
        .map_err(|e| ApiError::bad_request(format!("{tname}: PUT {cname}/{object}: {e}")))?;
    let skip_vc = req.q_true("skip_vc");
    // Rebalance: an object moved by rebalance keeps its version, and never overwrites a
    // copy the new owner already has (that one was PUT by a client after the map changed).
    let rebalance = req.redirected() && req.q_true("rebalance");
    let bck = Bck::ais(bucket);
    if rebalance && engine::object::exists(&mp, &bck, object) {
        conn.body(req.head.body).drain().await.map_err(io_err)?;
        req.body_done = true;
        conn.respond(200, &[("Ais-Rebalance", "exists")], b"")
            .await
            .map_err(io_err)?;
        return Ok(Outcome::KeepAlive);
    }
    let opts = PutOpts {
        cksum_type,
        client_cksum,
        skip_vc,
        custom,
        versioning,
        fsync: node.cfg.fsync,
        keep_version: if rebalance {
            req.head.header("ais-version").map(str::to_string)
        } else {
            None
        },
        keep_mtime_ns: if rebalance {
            req.head
                .header(cluster::transfer::HDR_MTIME_NS)
                .and_then(|v| v.parse().ok())
        } else {
            None
        },
        // Atomically: a client PUT that lands meanwhile is newer than the moved copy.
        no_replace: rebalance,
        require: None,
    };
    if !rebalance {
        // Past `space.out_of_space` (after one LRU run): 507 before anything is written.
        let size = match req.head.body {
            net::http::BodyKind::Length(n) => n,
            _ => 0,
        };
        cluster::space::admit_write(&node, size).await?;
    }
    let mut w = ObjectWriter::create(&mp, &bck, object)
        .await
        .map_err(|e| ApiError::from_engine(e, &tname, &cname, object))?;
    if let Err(e) = w.set_cksums(&opts) {
        w.abort().await;
        return Err(ApiError::from_engine(e, &tname, &cname, object));
    }
    let w = receive_into(
        conn,
        req,
        w,
        |_| {},
        |e| ApiError::from_engine(e, &tname, &cname, object),
    )
    .await?;
    // A move of this bucket (`move-bck`) that began while the body arrived: refused here too,
    // just before the commit, so that no PUT admitted before the move lands after the move's
    // passes walked past it (cluster::multiobj).
    if !rebalance
        && core
            .with_props(bucket, cluster::multiobj::renaming)
            .unwrap_or(false)
    {
        w.abort().await;
        return Err(ApiError::new(
            409,
            format!("{cname} is being renamed (move-bck): PUT {cname}/{object} refused until the job ends"),
        ));
    }
    let res = match w.commit(&opts).await {
        Ok(r) => r,
        Err(engine::Error::Exists(_)) if rebalance => {
            conn.respond(200, &[("Ais-Rebalance", "exists")], b"")
                .await
                .map_err(io_err)?;
            return Ok(Outcome::KeepAlive);
        }
        Err(e) => return Err(ApiError::from_engine(e, &tname, &cname, object)),
    };
    if cluster::remote::is_remote(bucket) && !rebalance {
        // Write-through: the stored bytes go to the backend; if that fails the local copy
        // goes too, and the client gets the backend's error.
        if let Err(e) = cluster::remote::put(&node, &mp, bucket, object).await {
            let _ = core.delete_object(&mp, bucket, object);
            return Err(e.into());
        }
    }
    if res.changed {
        core.mirror_after_put(&mp, bucket, object)
            .await
            .map_err(|e| ApiError::from_engine(e, &tname, &cname, object))?;
        core.ec_after_put(&mp, bucket, object).await?;
    }
    let hs = md_headers(&res.lom);
    let hv: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    conn.respond(200, &hv, b"").await.map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}

async fn get(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mp: Arc<Mountpath>,
    bucket: &str,
    object: &str,
) -> Result<Outcome, ApiError> {
    let node = core.node.clone();
    let cname = cluster::buckets::cname(bucket);
    let tname = node.tname();
    // A neighbour asking during a rebalance (get-from-neighbour) gets only what is here.
    let remote = cluster::remote::is_remote(bucket) && !req.q_true(gfn::QUERY_GFN);
    // The checksum type only for a cold GET: no allocation on the GET path of `ais://`.
    let (validate_warm_get, cksum_type, latest, lru) = core.with_props(bucket, |p| {
        (
            p.checksum.validate_warm_get,
            if remote {
                p.checksum.ty.clone()
            } else {
                String::new()
            },
            p.versioning.validate_warm_get,
            p.lru.enabled,
        )
    })?;
    let latest = remote && (latest || req.q_true("latest-ver"));
    // A GET through the blob downloader (AIS `Ais-Blob-*` headers): bad values are a 400
    // whether or not the object is cached, and only remote buckets have one.
    let blob = cluster::blob::BlobMsg::from_headers(|h| req.head.header(h))?;
    if blob.is_some() {
        cluster::blob::check_remote(bucket).map_err(|_| {
            ApiError::bad_request(format!(
                "blob-downloader is not supported for local buckets: {cname}"
            ))
        })?;
    }
    // A corrupted replica found while serving is healed once and the GET retried.
    let mut healed = false;
    let mut fetched = false;
    loop {
        let rd = match core.open_for_get(&mp, bucket, object).await {
            Ok(rd) => rd,
            Err(engine::Error::NotFound(_)) => {
                if let Some(o) =
                    get_from_neighbor(core, conn, req, bucket, object, GfnMark::Query).await?
                {
                    return Ok(o);
                }
                if remote && !fetched {
                    // Cold GET: from the backend into the local object (not past
                    // `space.out_of_space`); a whole-object GET gets the bytes as they arrive,
                    // a range is served from the local copy.
                    cluster::space::admit_write(&node, 0).await?;
                    fetched = true;
                    if req.head.header("range").is_some() {
                        cluster::remote::cold_get(&node, &mp, bucket, object, &cksum_type).await?;
                        continue;
                    }
                    if let Some((msg, threshold)) = &blob {
                        // Parallel ranged GETs, streamed in order as they arrive; below the
                        // threshold a plain cold GET.
                        let mut sink = ClientSink { conn: &mut *conn };
                        match cluster::blob::get_to(
                            &node,
                            &mp,
                            bucket,
                            object,
                            &cksum_type,
                            msg,
                            *threshold,
                            &mut sink,
                        )
                        .await?
                        {
                            Some(cluster::remote::Served::Yes) => return Ok(Outcome::KeepAlive),
                            Some(cluster::remote::Served::Cut) => return Ok(Outcome::Close),
                            Some(cluster::remote::Served::No) => continue,
                            None => {}
                        }
                    }
                    let mut sink = ClientSink { conn: &mut *conn };
                    match cluster::remote::cold_get_to(
                        &node,
                        &mp,
                        bucket,
                        object,
                        &cksum_type,
                        &mut sink,
                    )
                    .await?
                    {
                        cluster::remote::Served::Yes => return Ok(Outcome::KeepAlive),
                        cluster::remote::Served::Cut => return Ok(Outcome::Close),
                        cluster::remote::Served::No => continue,
                    }
                }
                // Rebalance may have moved it here while the neighbour was asked.
                ObjectReader::open(&mp, &Bck::ais(bucket), object)
                    .await
                    .map_err(|e| ApiError::from_engine(e, &tname, &cname, object))?
            }
            Err(e) => return Err(ApiError::from_engine(e, &tname, &cname, object)),
        };
        if latest && !fetched {
            // Warm GET of the latest version: unchanged on the backend, or fetched again (a
            // remote delete deletes the cached copy: 404).
            let stale = cluster::remote::is_stale(&node, bucket, object, &rd.lom).await?;
            if stale {
                rd.close().await;
                match cluster::remote::cold_get(&node, &mp, bucket, object, &cksum_type).await {
                    Ok(()) => {}
                    Err(e) if cluster::remote::is_not_found(&e) => {
                        let _ = core.delete_object(&mp, bucket, object);
                        return Err(e.into());
                    }
                    Err(e) => return Err(e.into()),
                }
                fetched = true;
                continue;
            }
        }
        if !fetched && lru {
            // A warm GET of an evictable object: its access time, for LRU (in memory;
            // written in batches). Buckets LRU never looks at pay nothing.
            cluster::space::touch(&mp, bucket, object);
        }
        let read_from = rd.fqn.clone();
        let size = rd.lom.size;
        let range = match req.head.header("range") {
            None => None,
            Some(v) => match http::parse_range(v, size) {
                Ok(r) => Some(r),
                Err(e) => {
                    rd.close().await;
                    let msg = match e {
                    RangeError::Unsatisfiable => format!("{tname}: range {v:?} not satisfiable for {cname}/{object} of size {size}"),
                    RangeError::MultiRange => format!("{tname}: multi-range requests are not supported ({v:?})"),
                    RangeError::Malformed(m) => format!("{tname}: invalid range {v:?}: {m}"),
                };
                    let mut err = ApiError::new(416, msg);
                    err.headers
                        .push(("Content-Range", format!("bytes */{size}")));
                    return Err(err);
                }
            },
        };
        let (start, len, status) = match range {
            Some(r) => (r.start, r.len, 206),
            None => (0, size, 200),
        };
        let verify = range.is_none() && validate_warm_get;
        let mut hs = md_headers(&rd.lom);
        hs.push(("Content-Type", "application/octet-stream".into()));
        hs.push(("Content-Length", len.to_string()));
        hs.push(("Accept-Ranges", "bytes".into()));
        if status == 206 {
            hs.push((
                "Content-Range",
                format!("bytes {}-{}/{size}", start, start + len.saturating_sub(1)),
            ));
        }
        let what = format!("{cname}/{object}");
        let hv: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        return match send_object(conn, rd, start, len, status, &hv, verify).await {
            Ok(o) => Ok(o),
            Err(SendError::Corrupt { .. })
                if !healed && core.heal_bad_read(&mp, bucket, object, &read_from).await =>
            {
                // Nothing was sent yet: serve the healed object.
                healed = true;
                continue;
            }
            Err(SendError::Corrupt {
                ty,
                expected,
                actual,
            }) => Err(ApiError::internal(format!(
                "{tname}: {what}: {} (object is corrupted)",
                engine::Error::ChecksumMismatch {
                    ty,
                    expected,
                    actual
                }
            ))),
            Err(SendError::CorruptSent) => {
                // The head is out: the client sees a cut response, a retry reads healed bytes.
                core.heal_bad_read(&mp, bucket, object, &read_from).await;
                Ok(Outcome::Close)
            }
            Err(SendError::Read(e)) => {
                cluster::fshc::report_path(&read_from, &e);
                Err(ApiError::internal(format!("{tname}: reading {what}: {e}")))
            }
            Err(SendError::Conn(e)) => Err(io_err(e)),
        };
    }
}

/// A cold GET's client: the response head when the backend answered, then the bytes as they
/// arrive (cluster::remote::cold_get_to).
struct ClientSink<'a> {
    conn: &'a mut Conn,
}

impl cluster::remote::ColdSink for ClientSink<'_> {
    async fn head(&mut self, a: &cluster::backend::RemoteAttrs) -> std::io::Result<()> {
        let len = a.size.to_string();
        let etag = format!("\"{}\"", a.etag);
        let mut hs: Vec<(&str, &str)> = vec![
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", &len),
            ("Accept-Ranges", "bytes"),
            ("ETag", &etag),
        ];
        if !a.version.is_empty() {
            hs.push(("Ais-Version", &a.version));
        }
        let mut out = Vec::with_capacity(256);
        http::write_response_head(&mut out, 200, &hs);
        self.conn
            .write_all(&out)
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
    }

    async fn data(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.conn
            .write_all(bytes)
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

/// Why [`send_object`] could not send a response; nothing was written to the client yet,
/// except with `CorruptSent`.
pub enum SendError {
    /// The bytes read do not match the stored checksum of type `ty`.
    Corrupt {
        ty: CksumType,
        expected: String,
        actual: String,
    },
    /// The checksum failed after the response head (and all but the last buffer) went out:
    /// the connection must be closed, the client sees a cut response.
    CorruptSent,
    Read(std::io::Error),
    Conn(net::conn::ConnError),
}

/// Stream `[start, start+len)` of an open object with a response head of `status` and
/// `headers` (which must include Content-Length). With `verify`, the whole object is checked
/// against its stored checksum, of whichever type it is (an object without one, or of a type
/// this node does not know, is not checked): an object that fits in one read buffer is
/// checked before anything is sent (so the caller can answer with an error); a larger one has
/// its last buffer held back and the connection is cut on mismatch. Errors after the head was
/// sent end in `Outcome::Close`.
pub async fn send_object(
    conn: &mut Conn,
    rd: ObjectReader,
    start: u64,
    len: u64,
    status: u16,
    headers: &[(&str, &str)],
    verify: bool,
) -> Result<Outcome, SendError> {
    let expected = rd.lom.cksum_value.clone();
    let fqn = rd.fqn.clone();
    // Room for a small body too: it goes out with the head in one write.
    let small = if len <= SMALL_RESPONSE_BYTES as u64 {
        len as usize
    } else {
        0
    };
    let mut head = Vec::with_capacity(512 + small);
    http::write_response_head(&mut head, status, headers);
    let mut hasher = if verify {
        rd.lom.verifiable_cksum().map(Hasher::new)
    } else {
        None
    };
    let check = |hasher: Option<Hasher>| {
        let Some(h) = hasher else {
            return Ok(());
        };
        let ty = h.ty();
        let actual = h.finish();
        if actual == expected {
            return Ok(());
        }
        tracing::error!(path = %fqn.display(), cksum_type = %ty, expected = %expected, actual = %actual, "checksum mismatch on GET: corrupted object");
        cluster::metrics::add(cluster::metrics::M::ErrCksumN, 1);
        Err(SendError::Corrupt {
            ty,
            expected: expected.clone(),
            actual,
        })
    };
    if len == 0 {
        rd.close().await;
        check(hasher)?;
        conn.write_all(&head).await.map_err(SendError::Conn)?;
        return Ok(Outcome::KeepAlive);
    }
    if len <= SMALL_RESPONSE_BYTES as u64 {
        // One aligned DMA read, checked, then head and body in one write: no stream state
        // and no read-ahead tasks for a small object.
        let read = rd.read_range(start, len as usize).await;
        rd.close().await;
        let buf = read.map_err(SendError::Read)?;
        let n = len as usize;
        if buf.len() < n {
            tracing::error!(path = %fqn.display(), "object shorter than its metadata size");
            return Err(SendError::Read(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("{} bytes read of {n}", buf.len()),
            )));
        }
        if let Some(h) = &mut hasher {
            h.update(&buf[..n]);
        }
        check(hasher)?;
        head.extend_from_slice(&buf[..n]);
        conn.write_all(&head).await.map_err(SendError::Conn)?;
        return Ok(Outcome::KeepAlive);
    }
    let mut stream = rd.stream(start, len);
    let first = match engine::iostat::next_buffer(&mut stream, READ_BUFFER_BYTES as u64).await {
        Ok(b) => b,
        Err(e) => {
            let _ = stream.close().await;
            return Err(SendError::Read(e.into()));
        }
    };
    if let Some(h) = &mut hasher {
        h.update(&first);
    }
    let mut sent = first.len() as u64;
    if sent >= len {
        let _ = stream.close().await;
        check(hasher)?;
        if first.len() <= SMALL_RESPONSE_BYTES {
            head.extend_from_slice(&first);
            conn.write_all(&head).await.map_err(SendError::Conn)?;
        } else {
            conn.write_all(&head).await.map_err(SendError::Conn)?;
            if conn.write_all(&first).await.is_err() {
                return Ok(Outcome::Close);
            }
        }
        return Ok(Outcome::KeepAlive);
    }
    // Large object: headers now, and always one buffer held back until the checksum holds.
    if let Err(e) = conn.write_all(&head).await {
        let _ = stream.close().await;
        return Err(SendError::Conn(e));
    }
    let mut pending = first;
    while sent < len {
        let next = match engine::iostat::next_buffer(&mut stream, READ_BUFFER_BYTES as u64).await {
            Ok(b) if !b.is_empty() => b,
            Ok(_) => {
                let _ = stream.close().await;
                tracing::error!(path = %fqn.display(), "object shorter than its metadata size");
                return Ok(Outcome::Close);
            }
            Err(e) => {
                let _ = stream.close().await;
                let e: std::io::Error = e.into();
                tracing::error!(path = %fqn.display(), error = %e, "disk read failed mid-GET");
                return Ok(Outcome::Close);
            }
        };
        if let Some(h) = &mut hasher {
            h.update(&next);
        }
        sent += next.len() as u64;
        if let Err(e) = conn.write_all(&pending).await {
            let _ = stream.close().await;
            tracing::debug!(error = %e, "client went away during GET");
            return Ok(Outcome::Close);
        }
        pending = next;
    }
    let _ = stream.close().await;
    if check(hasher).is_err() {
        return Err(SendError::CorruptSent);
    }
    if conn.write_all(&pending).await.is_err() {
        return Ok(Outcome::Close);
    }
    Ok(Outcome::KeepAlive)
}

async fn head(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mp: Arc<Mountpath>,
    bucket: &str,
    object: &str,
) -> Result<Outcome, ApiError> {
    let tname = core.node.tname();
    let fqn = engine::object::locate(&mp, &Bck::ais(bucket), object);
    if cluster::remote::is_remote(bucket) && !fqn.exists() && !req.q_true(gfn::QUERY_GFN) {
        return head_remote(core, conn, req, bucket, object).await;
    }
    let lom = match lom_or_neighbor(core, conn, req, &fqn, bucket, object).await? {
        Ok(l) => l,
        Err(served) => return Ok(served),
    };
    if req.q_true("validate-checksum") {
        validate_checksum(&mp, bucket, object, &tname).await?;
    }
    let mut hs = md_headers(&lom);
    hs.push(("Content-Length", lom.size.to_string()));
    hs.push(("Ais-Present", "true".into()));
    let location = || format!("{tname}:{}", mp.path_str);
    // AIS's NumCopies and MirrorPaths (mountpaths, comma-separated).
    let mirror = || {
        let paths = cluster::mirror::replica_mountpaths(
            &core.node.mountpaths.load(),
            core.bmd().buckets.get(bucket),
            &mp,
            bucket,
            object,
            &lom,
        );
        (paths.len().to_string(), format!("[{}]", paths.join(",")))
    };
    match req.q("props") {
        // HEAD v1: everything.
        None => {
            hs.push(("Ais-Bucket-Name", bucket.into()));
            hs.push(("Ais-Bucket-Provider", "ais".into()));
            hs.push(("Ais-Name", object.into()));
            hs.push(("Ais-Location", location()));
            let (copies, paths) = mirror();
            hs.push(("Ais-Mirror-Copies", copies));
            hs.push(("Ais-Mirror-Paths", paths));
        }
        // HEAD v2 (the SDK's `Object.head(props)`): the selected properties on top of the
        // metadata headers.
        Some(props) => {
            for p in props.split(',').map(str::trim) {
                match p {
                    "location" => hs.push(("Ais-Location", location())),
                    "copies" => {
                        let (copies, paths) = mirror();
                        hs.push(("Ais-Mirror-Copies", copies));
                        hs.push(("Ais-Mirror-Paths", paths));
                    }
                    "last-modified" => hs.push((
                        "Last-Modified",
                        net::time::format_http_date(lom.mtime_ns / 1_000_000_000),
                    )),
                    "etag" if !hs.iter().any(|(k, _)| *k == "ETag") => hs.push((
                        "ETag",
                        format!("\"{}\"", lom.custom_get("ETag").unwrap_or(&lom.cksum_value)),
                    )),
                    _ => {}
                }
            }
        }
    }
    let hv: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut out = Vec::with_capacity(512);
    http::write_response_head(&mut out, 200, &hv);
    conn.write_all(&out).await.map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}

/// HEAD of a remote bucket's object that is not cached here: the backend's attributes, with
/// `Ais-Present: false` (AIS's answer for a remote object not in the cluster).
async fn head_remote(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &Req,
    bucket: &str,
    object: &str,
) -> Result<Outcome, ApiError> {
    if req.q_true("check_cached") || req.q("fltpresence").is_some_and(|v| v == "1") {
        return Err(ApiError::new(
            404,
            format!(
                "{}/{object} is not present in the cluster",
                cluster::buckets::cname(bucket)
            ),
        ));
    }
    let a = cluster::remote::head(&core.node, bucket, object).await?;
    let mut hs: Vec<(&str, String)> = vec![
        ("Content-Length", a.size.to_string()),
        ("Ais-Present", "false".into()),
        (
            "Ais-Bucket-Name",
            engine::layout::split_key(bucket).1.into(),
        ),
        ("Ais-Bucket-Provider", "aws".into()),
        ("Ais-Name", object.into()),
        ("ETag", format!("\"{}\"", a.etag)),
        (
            "Last-Modified",
            net::time::format_http_date(a.last_modified_ns / 1_000_000_000),
        ),
        ("Ais-Custom-Md", format!("ETag={}", a.etag)),
    ];
    if !a.version.is_empty() {
        hs.push(("Ais-Version", a.version.clone()));
    }
    let hv: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut out = Vec::with_capacity(512);
    http::write_response_head(&mut out, 200, &hv);
    conn.write_all(&out).await.map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}

/// `HEAD ?validate-checksum=true`: read the whole object and check its stored checksum, of
/// whichever type (a mismatch is the same error a GET of a corrupted object gets). The bytes
/// are checked against the metadata read through the same descriptor, so a PUT that replaces
/// the object meanwhile cannot pair one version's bytes with another's checksum.
async fn validate_checksum(
    mp: &Mountpath,
    bucket: &str,
    object: &str,
    tname: &str,
) -> Result<(), ApiError> {
    let cname = format!("ais://{bucket}");
    let rd = ObjectReader::open(mp, &Bck::ais(bucket), object)
        .await
        .map_err(|e| ApiError::from_engine(e, tname, &cname, object))?;
    let Some(ty) = rd.lom.verifiable_cksum() else {
        rd.close().await;
        return Ok(());
    };
    let lom = rd.lom.clone();
    let size = lom.size;
    let mut hasher = Hasher::new(ty);
    let mut s = rd.stream(0, size);
    let mut done = 0u64;
    while done < size {
        match s.get_buffer_aligned(READ_BUFFER_BYTES as u64).await {
            Ok(b) if !b.is_empty() => {
                hasher.update(&b);
                done += b.len() as u64;
            }
            Ok(_) => break,
            Err(e) => {
                let _ = s.close().await;
                let e: std::io::Error = e.into();
                return Err(ApiError::internal(format!(
                    "{tname}: reading {cname}/{object}: {e}"
                )));
            }
        }
    }
    let _ = s.close().await;
    let actual = hasher.finish();
    if done != size || actual != lom.cksum_value {
        tracing::error!(bucket, object, cksum_type = %ty, expected = %lom.cksum_value, actual = %actual, "checksum mismatch on HEAD validate-checksum: corrupted object");
        return Err(ApiError::internal(format!(
            "{tname}: {cname}/{object}: {} (object is corrupted)",
            engine::Error::ChecksumMismatch {
                ty,
                expected: lom.cksum_value.clone(),
                actual
            }
        )));
    }
    Ok(())
}

async fn delete(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &Req,
    mp: Arc<Mountpath>,
    bucket: &str,
    object: &str,
) -> Result<Outcome, ApiError> {
    let node = core.node.clone();
    let cname = format!("ais://{bucket}");
    let tname = node.tname();
    // During rebalance the object may still sit on its previous owner: delete it there too,
    // or rebalance would bring it back.
    let mut prev =
        gfn::delete_on_previous_owner(&node, req.q_true(gfn::QUERY_GFN), bucket, object).await;
    if node.resilvering.load(std::sync::atomic::Ordering::Acquire) {
        // Not yet resilvered copies elsewhere on this target go too.
        for m in core.mps().with_data() {
            if m.path_str != mp.path_str
                && engine::object::delete(&m, &Bck::ais(bucket), object).is_ok()
            {
                prev = true;
            }
        }
    }
    // A remote bucket's object goes on the backend first (the source of truth).
    if cluster::remote::is_remote(bucket) {
        cluster::remote::delete(&node, bucket, object).await?;
        prev = true;
    }
    // Slices first (tombstones), the object last: see cluster::ec.
    core.ec_delete(bucket, object).await;
    match core.delete_object(&mp, bucket, object) {
        Ok(()) => {}
        Err(engine::Error::NotFound(_)) if prev => {}
        Err(engine::Error::NotFound(_)) => {
            return Err(ApiError::new(
                404,
                format!("{tname}: {cname}/{object} doesn't exist"),
            ));
        }
        Err(e) => return Err(ApiError::from_engine(e, &tname, &cname, object)),
    }
    conn.respond(200, &[], b"").await.map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}

/// `PATCH /v1/objects/B/O`: merge custom metadata keys (or replace them all with
/// `set-new-custom=true`), body `{"action":"","value":{"k":"v"}}`.
async fn patch(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mp: Arc<Mountpath>,
    bucket: &str,
    object: &str,
) -> Result<Outcome, ApiError> {
    let node = core.node.clone();
    let cname = format!("ais://{bucket}");
    let tname = node.tname();
    let body = conn
        .body(req.head.body)
        .read_to_vec(CONTROL_BODY_BYTES_MAX)
        .await
        .map_err(io_err)?;
    req.body_done = true;
    let msg: net::api::ActMsg = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON control message: {e}")))?;
    let serde_json::Value::Object(map) = msg.value else {
        return Err(ApiError::bad_request(
            "custom metadata must be a JSON object of string values",
        ));
    };
    let mut new: Vec<(String, String)> = Vec::new();
    for (k, v) in map {
        let v = match v {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        new.push((k, v));
    }
    let replace = req.q_true("set-new-custom");
    let fqn = engine::object::locate(&mp, &Bck::ais(bucket), object);
    let lom = match lom_or_neighbor(core, conn, req, &fqn, bucket, object).await? {
        Ok(l) => l,
        Err(served) => return Ok(served),
    };
    let mut custom = if replace { Vec::new() } else { lom.custom };
    for (k, v) in new {
        custom.retain(|(x, _)| *x != k);
        custom.push((k, v));
    }
    engine::lom::validate_custom(&custom).map_err(|e| ApiError::bad_request(e.to_string()))?;
    engine::object::set_custom(&fqn, custom)
        .map_err(|e| ApiError::from_engine(e, &tname, &cname, object))?;
    conn.respond(200, &[], b"").await.map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}
