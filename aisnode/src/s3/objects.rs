//! S3 object requests on the core that owns the object: PutObject (plain or aws-chunked,
//! MD5 and flexible checksums verified, conditional writes), GetObject/HeadObject
//! (conditionals, ranges, `partNumber`, response header overrides, the stored checksum
//! verified), GetObjectAttributes, DeleteObject, DeleteObjects, CopyObject (conditional
//! writes too).

use super::*;
use crate::error::s3_from_cluster;
use crate::forward::get_from_neighbor;
use crate::native::objects::{send_object, SendError};
use cluster::gfn::GfnMark;
use cluster::meta::placement;
use engine::layout::Bck;
use engine::lom::Lom;
use engine::mountpath::Mountpath;
use engine::object::{ObjectReader, ObjectWriter, PutOpts};
use md5::{Digest, Md5};
use net::conn::Body;
use net::s3::checksum::{ChecksumAlgorithm, ChecksumHasher};
use net::s3::chunked::AwsChunkedDecoder;
use net::s3::conditional::{Preconditions, WriteConditions};
use net::s3::etag;
use net::s3::sigv4::{self, PayloadHash, Sha256BodyCheck, SigningContext};
use std::sync::Arc;

/// Custom metadata key of a multipart object whose parts (all but the last) have one size:
/// that size, so `GET ?partNumber=N` can serve part N.
pub(crate) const MD_PART_SIZE: &str = "S3PartSize";

/// Custom metadata keys that are ours, not user metadata.
pub(crate) const RESERVED_MD: [&str; 10] = [
    "ETag",
    MD_PART_SIZE,
    "Content-Type",
    "Content-Encoding",
    "Content-Disposition",
    "Cache-Control",
    "Content-Language",
    "Expires",
    "source",
    "orig_fntl",
];
/// Standard headers kept with the object and returned on GET/HEAD.
pub(crate) const KEPT_HEADERS: [(&str, &str); 6] = [
    ("content-type", "Content-Type"),
    ("content-encoding", "Content-Encoding"),
    ("content-disposition", "Content-Disposition"),
    ("cache-control", "Cache-Control"),
    ("content-language", "Content-Language"),
    ("expires", "Expires"),
];
pub(crate) fn lom_etag(l: &Lom) -> String {
    match l.custom_get("ETag") {
        Some(e) => format!("\"{}\"", etag::unquote(e)),
        None => format!("\"{}\"", l.cksum_value),
    }
}

/// Headers of GET/HEAD: ETag, Last-Modified, Content-Type and kept headers, user metadata.
pub(crate) fn object_headers(l: &Lom) -> Vec<(&'static str, String)> {
    let mut h: Vec<(&'static str, String)> = vec![
        ("ETag", lom_etag(l)),
        (
            "Last-Modified",
            net::time::format_http_date(l.mtime_ns / 1_000_000_000),
        ),
        ("Accept-Ranges", "bytes".into()),
        (
            "Content-Type",
            l.custom_get("Content-Type")
                .unwrap_or("application/octet-stream")
                .to_string(),
        ),
    ];
    for (_, name) in KEPT_HEADERS.iter().skip(1) {
        if let Some(v) = l.custom_get(name) {
            h.push((name, v.to_string()));
        }
    }
    if !l.version.is_empty() {
        h.push(("Ais-Version", l.version.clone()));
    }
    if !l.cksum_type.is_empty() {
        h.push(("Ais-Checksum-Type", l.cksum_type.clone()));
        h.push(("Ais-Checksum-Value", l.cksum_value.clone()));
    }
    h.push(("Server", "AIStore".into()));
    h
}

pub(crate) fn user_md_headers(l: &Lom) -> Vec<(String, String)> {
    l.custom
        .iter()
        .filter(|(k, _)| !RESERVED_MD.contains(&k.as_str()))
        .map(|(k, v)| (format!("x-amz-meta-{k}"), v.clone()))
        .collect()
}

/// Custom metadata from request headers: user metadata and kept standard headers.
pub(crate) fn md_from_request(req: &Req) -> S3Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (name, value) in &req.head.headers {
        if let Some(k) = name.strip_prefix("x-amz-meta-") {
            if k.is_empty() {
                return Err(s3err(S3ErrorCode::InvalidArgument, "empty x-amz-meta- key"));
            }
            out.retain(|(x, _)| x != k);
            out.push((k.to_string(), value.clone()));
        }
    }
    for (hdr, key) in KEPT_HEADERS {
        if let Some(v) = req.head.header(hdr) {
            let v = if hdr == "content-encoding" {
                match net::s3::chunked::content_encoding_without_aws_chunked(v) {
                    Some(rest) => rest,
                    None => continue,
                }
            } else {
                v.to_string()
            };
            out.push((key.to_string(), v));
        }
    }
    engine::lom::validate_custom(&out)
        .map_err(|e| s3err(S3ErrorCode::InvalidArgument, e.to_string()))?;
    Ok(out)
}

/// The request payload: plain or aws-chunked, with the declared SHA-256 checked.
pub(crate) struct Payload {
    decoder: Option<AwsChunkedDecoder>,
    raw: Vec<u8>,
    start: usize,
    end: usize,
    sha: Option<Sha256BodyCheck>,
    done: bool,
}

impl Payload {
    fn new(req: &Req, signing: Option<&SigningContext>) -> S3Result<Payload> {
        let hash = match req.head.header("x-amz-content-sha256") {
            Some(v) => Some(PayloadHash::parse(v)?),
            None => None,
        };
        let chunked_enc = req
            .head
            .header("content-encoding")
            .map(net::s3::chunked::is_aws_chunked)
            .unwrap_or(false);
        let decoded_len = match req.head.header("x-amz-decoded-content-length") {
            Some(v) => Some(v.trim().parse::<u64>().map_err(|_| {
                s3err(
                    S3ErrorCode::InvalidArgument,
                    format!("x-amz-decoded-content-length {v:?}"),
                )
            })?),
            None => None,
        };
        let decoder = match hash {
            Some(PayloadHash::Streaming(mode)) => Some(AwsChunkedDecoder::new(
                mode,
                signing,
                req.head.header("x-amz-trailer"),
                decoded_len,
            )?),
            _ if chunked_enc => Some(AwsChunkedDecoder::new(
                sigv4::StreamingPayload::UnsignedTrailer,
                None,
                req.head.header("x-amz-trailer"),
                decoded_len,
            )?),
            _ => None,
        };
        let sha = hash
            .as_ref()
            .and_then(net::s3::sigv4::PayloadHash::body_check);
        Ok(Payload {
            raw: if decoder.is_some() {
                vec![0; S3_RAW_BYTES]
            } else {
                Vec::new()
            },
            decoder,
            start: 0,
            end: 0,
            sha,
            done: false,
        })
    }

    async fn read(&mut self, body: &mut Body<'_>, out: &mut [u8]) -> S3Result<usize> {
        if self.done {
            return Ok(0);
        }
        let Some(dec) = self.decoder.as_mut() else {
            let n = body.read(out).await.map_err(conn_err)?;
            if let Some(s) = self.sha.as_mut() {
                s.update(&out[..n]);
            }
            if n == 0 {
                self.done = true;
                if let Some(s) = self.sha.take() {
                    s.finish()?;
                }
            }
            return Ok(n);
        };
        loop {
            if self.start < self.end {
                let p = dec.decode(&self.raw[self.start..self.end], out)?;
                self.start += p.consumed;
                if p.written > 0 {
                    return Ok(p.written);
                }
                if dec.is_done() {
                    self.done = true;
                    // The HTTP body must end with the aws-chunked one. Read it to its end: an
                    // HTTP-chunked body's last chunk (`0\r\n\r\n`) may still be on the way,
                    // and left unread it would be parsed as the next request on this
                    // connection.
                    let mut extra = self.end - self.start;
                    loop {
                        let n = body.read(&mut self.raw).await.map_err(conn_err)?;
                        if n == 0 {
                            break;
                        }
                        extra += n;
                    }
                    if extra > 0 {
                        return Err(s3err(
                            S3ErrorCode::InvalidRequest,
                            format!("{extra} bytes after the end of the aws-chunked body"),
                        ));
                    }
                    return Ok(0);
                }
                if p.consumed > 0 {
                    continue;
                }
            }
            if self.start > 0 {
                self.raw.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.raw.len() {
                return Err(s3err(
                    S3ErrorCode::InvalidRequest,
                    "aws-chunked framing line too long",
                ));
            }
            let n = body
                .read(&mut self.raw[self.end..])
                .await
                .map_err(conn_err)?;
            if n == 0 {
                dec.finish()?;
                self.done = true;
                return Ok(0);
            }
            self.end += n;
        }
    }

    fn trailer_checksum(&self) -> Option<(ChecksumAlgorithm, String)> {
        self.decoder
            .as_ref()
            .and_then(|d| d.trailer_checksum().map(|(a, v)| (a, v.to_string())))
    }
}

/// Stream a request payload into `w`, computing MD5 (and a declared flexible checksum).
pub(crate) async fn receive(
    conn: &mut Conn,
    req: &mut Req,
    w: &mut ObjectWriter,
    signing: Option<&SigningContext>,
) -> S3Result<[u8; 16]> {
    let mut payload = Payload::new(req, signing)?;
    match (
        req.head
            .header("x-amz-decoded-content-length")
            .and_then(|v| v.trim().parse::<u64>().ok()),
        req.head.body,
    ) {
        (Some(n), _) | (None, net::http::BodyKind::Length(n)) => w.size_hint(n),
        _ => {}
    }
    let mut header_ck: Option<(ChecksumHasher, String, String)> = None;
    for alg in ChecksumAlgorithm::ALL {
        if let Some(v) = req.head.header(alg.header_name()) {
            header_ck = Some((
                ChecksumHasher::new(alg),
                alg.header_name().to_string(),
                v.to_string(),
            ));
        }
    }
    let content_md5 = match req.head.header("content-md5") {
        Some(v) => Some(net::s3::checksum::parse_content_md5(v)?),
        None => None,
    };
    if req.head.expect_continue {
        conn.send_continue().await.map_err(conn_err)?;
    }
    let mut md5 = Md5::new();
    let mut total = 0u64;
    {
        // Received straight into the writer's DMA buffer (no intermediate copy).
        let mut body = conn.body(req.head.body);
        loop {
            let n = payload.read(&mut body, w.spare()).await?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > PUT_BYTES_MAX {
                return Err(s3err(
                    S3ErrorCode::EntityTooLarge,
                    format!("object exceeds {PUT_BYTES_MAX} bytes"),
                ));
            }
            w.advance(n, |b| {
                md5.update(b);
                if let Some((h, _, _)) = header_ck.as_mut() {
                    h.update(b);
                }
            })
            .await
            .map_err(|e| from_engine(e, "", ""))?;
        }
    }
    req.body_done = true;
    let digest: [u8; 16] = md5.finalize().into();
    if let Some(want) = content_md5 {
        net::s3::checksum::verify_content_md5(&want, &digest)?;
    }
    if let Some((h, name, value)) = header_ck {
        h.verify(&name, &value)?;
    }
    let _ = payload.trailer_checksum();
    Ok(digest)
}

pub(crate) fn put_opts(core: &Core, bucket: &str, custom: Vec<(String, String)>) -> PutOpts {
    let bmd = core.bmd();
    let props = bmd.buckets.get(bucket);
    PutOpts {
        cksum_type: props
            .map(|p| p.checksum.ty.clone())
            .unwrap_or_else(|| "xxhash2".into()),
        client_cksum: None,
        skip_vc: false,
        custom,
        versioning: props.map(|p| p.versioning.enabled).unwrap_or(true),
        fsync: core.node.cfg.fsync,
        ..Default::default()
    }
}

pub(crate) async fn put_object(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mpi: Arc<Mountpath>,
    t: &Target,
    signing: Option<SigningContext>,
) -> S3Result<Outcome> {
    let cond_headers = write_condition_headers(req);
    let conds = WriteConditions::from_headers(&cond_headers)?;
    let mut opts = put_opts(core, &t.bucket, md_from_request(req)?);
    let mp = &mpi;
    let bck = Bck::ais(&t.bucket);
    // Past `space.out_of_space` (after one LRU run): 507 before anything is written.
    let size = match req.head.body {
        net::http::BodyKind::Length(n) => n,
        _ => 0,
    };
    cluster::space::admit_write(&core.node, size)
        .await
        .map_err(|e| s3_from_cluster(&e, &t.bucket))?;
    let mut w = ObjectWriter::create(mp, &bck, &t.key)
        .await
        .map_err(|e| from_engine(e, &t.bucket, &t.key))?;
    if let Err(e) = w.set_cksums(&opts) {
        w.abort().await;
        return Err(from_engine(e, &t.bucket, &t.key));
    }
    let digest = match receive(conn, req, &mut w, signing.as_ref()).await {
        Ok(d) => d,
        Err(e) => {
            w.abort().await;
            return Err(e);
        }
    };
    let etag_hex = etag::md5_etag(&digest);
    opts.custom.retain(|(k, _)| k != "ETag");
    opts.custom
        .push(("ETag".into(), etag::unquote(&etag_hex).to_string()));
    if let Err(e) = check_write_conditions(core, &conds, &mpi, t, &mut opts) {
        w.abort().await;
        return Err(e);
    }
    let res = w
        .commit(&opts)
        .await
        .map_err(|e| commit_err(e, &conds, t))?;
    if cluster::remote::is_remote(&t.bucket) {
        // Write-through (cluster::remote): a failed upload takes the cached copy with it.
        if let Err(e) = cluster::remote::put(&core.node, &mpi, &t.bucket, &t.key).await {
            let _ = core.delete_object(&mpi, &t.bucket, &t.key);
            return Err(s3_from_cluster(&e, &t.bucket));
        }
    }
    if res.changed {
        core.mirror_after_put(&mpi, &t.bucket, &t.key)
            .await
            .map_err(|e| from_engine(e, &t.bucket, &t.key))?;
        core.ec_after_put(&mpi, &t.bucket, &t.key)
            .await
            .map_err(|e| internal(e.to_string()))?;
    }
    send_empty(conn, 200, &[("ETag", &etag_hex)]).await
}

/// The `If-Match` / `If-None-Match` headers (copied: the request is read on after them).
pub(crate) fn write_condition_headers(req: &Req) -> Vec<(String, String)> {
    req.head
        .headers
        .iter()
        .filter(|(k, _)| k == "if-match" || k == "if-none-match")
        .cloned()
        .collect()
}

/// Conditional writes, right before the commit on the owning core: the object as it is now
/// (wherever a running resilver left it) against `If-None-Match: *` / `If-Match`. With
/// `If-None-Match` the commit also refuses to replace an object that appears meanwhile
/// (`renameat2(RENAME_NOREPLACE)`, see [`commit_err`]).
pub(crate) fn check_write_conditions(
    core: &Core,
    conds: &WriteConditions,
    mpi: &Arc<Mountpath>,
    t: &Target,
    opts: &mut PutOpts,
) -> S3Result<()> {
    if conds.is_empty() {
        return Ok(());
    }
    let mp = crate::native::objects::locate(core, mpi.clone(), &t.bucket, &t.key);
    let current = match engine::object::read_lom_path(&engine::object::locate(
        &mp,
        &Bck::ais(&t.bucket),
        &t.key,
    )) {
        Ok(l) => Some(l),
        Err(engine::Error::NotFound(_)) => None,
        Err(e) => return Err(from_engine(e, &t.bucket, &t.key)),
    };
    conds
        .evaluate(current.as_ref().map(lom_etag).as_deref())
        .map_err(|e| e.with_resource(format!("/{}/{}", t.bucket, t.key)))?;
    if conds.if_match.is_some() {
        // The commit re-checks that this very object is still in place, atomically with
        // its rename (a concurrent writer makes it fail with `Changed`).
        opts.require = current.as_ref().map(engine::object::Identity::of);
    }
    if conds.if_none_match.is_some() {
        opts.no_replace = true;
        // No identical-content no-op: an existing object must fail the commit.
        opts.skip_vc = true;
    }
    Ok(())
}

/// A commit error: `Exists` is an `If-None-Match: *` write that lost to another one.
pub(crate) fn commit_err(e: engine::Error, conds: &WriteConditions, t: &Target) -> S3Error {
    match e {
        engine::Error::Exists(_) if conds.if_none_match.is_some() => conds
            .evaluate(Some("\"\""))
            .err()
            .unwrap_or_else(|| internal("conditional write"))
            .with_resource(format!("/{}/{}", t.bucket, t.key)),
        // The object changed between the If-Match check and the commit.
        engine::Error::Changed(_) if conds.if_match.is_some() => conds
            .evaluate(None)
            .err()
            .unwrap_or_else(|| internal("conditional write"))
            .with_resource(format!("/{}/{}", t.bucket, t.key)),
        e => from_engine(e, &t.bucket, &t.key),
    }
}

/// The object opened for reading, or the response a neighbour served during a rebalance.
enum Opened {
    Reader(Box<ObjectReader>),
    Served(Outcome),
}

/// Open the object; on a miss during a rebalance the previous owner may still have it, and
/// serves the request unchanged (`Ais-Gfn` header).
async fn open_or_neighbor(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mp: &Arc<Mountpath>,
    t: &Target,
) -> S3Result<Opened> {
    match core.open_for_get(mp, &t.bucket, &t.key).await {
        Ok(rd) => {
            // A warm GET of an evictable object: its access time, for LRU (in memory;
            // written in batches). Buckets LRU never looks at pay nothing.
            if core
                .with_props(&t.bucket, |p| p.lru.enabled)
                .unwrap_or(false)
            {
                cluster::space::touch(mp, &t.bucket, &t.key);
            }
            Ok(Opened::Reader(Box::new(rd)))
        }
        Err(engine::Error::NotFound(_)) => {
            match get_from_neighbor(core, conn, req, &t.bucket, &t.key, GfnMark::Header).await {
                Ok(Some(o)) => Ok(Opened::Served(o)),
                // A remote bucket's object not cached here: cold GET, then served from here.
                Ok(None) if cluster::remote::is_remote(&t.bucket) => {
                    let ck = core.with_props(&t.bucket, |p| p.checksum.ty.clone());
                    let ck = ck.map_err(|e| internal(e.message))?;
                    cluster::space::admit_write(&core.node, 0)
                        .await
                        .map_err(|e| s3_from_cluster(&e, &t.bucket))?;
                    cluster::remote::cold_get(&core.node, mp, &t.bucket, &t.key, &ck)
                        .await
                        .map_err(|e| s3_from_cluster(&e, &t.bucket))?;
                    ObjectReader::open(mp, &Bck::ais(&t.bucket), &t.key)
                        .await
                        .map(|rd| Opened::Reader(Box::new(rd)))
                        .map_err(|e| from_engine(e, &t.bucket, &t.key))
                }
                // Rebalance may have moved it here while the neighbour was asked.
                Ok(None) => ObjectReader::open(mp, &Bck::ais(&t.bucket), &t.key)
                    .await
                    .map(|rd| Opened::Reader(Box::new(rd)))
                    .map_err(|e| from_engine(e, &t.bucket, &t.key)),
                Err(e) => Err(internal(e.message)),
            }
        }
        Err(e) => Err(from_engine(e, &t.bucket, &t.key)),
    }
}

/// Parts of a multipart object: the `-N` of its ETag.
pub(crate) fn parts_count(l: &Lom) -> Option<u32> {
    let et = lom_etag(l);
    let (_, n) = etag::unquote(&et).rsplit_once('-')?;
    n.parse::<u32>().ok().filter(|n| *n >= 1)
}

/// The byte range of part `n` of an object (`?partNumber=N`): `(start, len, parts count)`;
/// the count is `None` for an object that is not multipart (its only part is the whole
/// object).
fn part_range(l: &Lom, n: u32, t: &Target) -> S3Result<(u64, u64, Option<u32>)> {
    let bad = || {
        s3err(
            S3ErrorCode::InvalidPartNumber,
            format!(
                "The requested partnumber is not satisfiable: part {n} of an object of {} part(s)",
                parts_count(l).unwrap_or(1)
            ),
        )
        .with_resource(format!("/{}/{}", t.bucket, t.key))
    };
    let Some(count) = parts_count(l) else {
        return if n == 1 {
            Ok((0, l.size, None))
        } else {
            Err(bad())
        };
    };
    if n > count {
        return Err(bad());
    }
    // The part size kept at CompleteMultipartUpload, if it is consistent with the object.
    let ps = l
        .custom_get(MD_PART_SIZE)
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|ps| *ps > 0 && l.size.div_ceil(*ps).max(1) == u64::from(count));
    let Some(ps) = ps else {
        return Err(s3err(
            S3ErrorCode::NotImplemented,
            format!(
                "GET ?partNumber of this multipart object is not implemented: its part sizes \
                 are not known (parts of different sizes, or completed by an older version); \
                 use a Range (object of {} bytes, {count} parts)",
                l.size
            ),
        ));
    };
    let start = (u64::from(n) - 1) * ps;
    Ok((start, ps.min(l.size - start), Some(count)))
}

/// Response header overrides of a GET (`response-content-type=...` and friends).
const RESPONSE_OVERRIDES: [(&str, &str); 6] = [
    ("response-content-type", "Content-Type"),
    ("response-content-language", "Content-Language"),
    ("response-expires", "Expires"),
    ("response-cache-control", "Cache-Control"),
    ("response-content-disposition", "Content-Disposition"),
    ("response-content-encoding", "Content-Encoding"),
];

pub(crate) async fn get_object(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mpi: Arc<Mountpath>,
    t: &Target,
) -> S3Result<Outcome> {
    let part: Option<u32> = match req.q("partNumber") {
        None => None,
        Some(v) => Some(
            v.parse::<u32>()
                .ok()
                .filter(|n| (1..=engine::multipart::PART_NUMBER_MAX).contains(n))
                .ok_or_else(|| {
                    s3err(
                        S3ErrorCode::InvalidArgument,
                        format!("Part number must be an integer between 1 and 10000, inclusive (got {v:?})"),
                    )
                })?,
        ),
    };
    if part.is_some() && req.head.header("range").is_some() {
        return Err(s3err(
            S3ErrorCode::InvalidRequest,
            "Cannot specify both Range header and partNumber query parameter",
        ));
    }
    let rd = match open_or_neighbor(core, conn, req, &mpi, t).await? {
        Opened::Reader(rd) => *rd,
        Opened::Served(o) => return Ok(o),
    };
    let lom = rd.lom.clone();
    let pre = Preconditions::from_headers(&req.head.headers);
    let is_head = req.head.method == "HEAD";
    if let Err(e) = pre.evaluate(&lom_etag(&lom), lom.mtime_ns / 1_000_000_000, true) {
        rd.close().await;
        if e.status() == 304 {
            let et = lom_etag(&lom);
            let lm = net::time::format_http_date(lom.mtime_ns / 1_000_000_000);
            return send_empty(conn, 304, &[("ETag", &et), ("Last-Modified", &lm)]).await;
        }
        return Err(e);
    }
    let size = lom.size;
    let mut parts_header: Option<u32> = None;
    let range = match (part, req.head.header("range")) {
        (Some(n), _) => match part_range(&lom, n, t) {
            Ok((start, len, count)) => {
                parts_header = count;
                // An empty object has no byte range: its part 1 is a plain 200.
                (size > 0).then_some(http::ByteRange { start, len })
            }
            Err(e) => {
                rd.close().await;
                return Err(e);
            }
        },
        (None, None) => None,
        (None, Some(v)) => match http::parse_range(v, size) {
            Ok(r) => Some(r),
            Err(_) => {
                rd.close().await;
                return Err(s3err(
                    S3ErrorCode::InvalidRange,
                    "The requested range is not satisfiable",
                )
                .with_resource(format!("/{}/{}", t.bucket, t.key)));
            }
        },
    };
    let mut hs = object_headers(&lom);
    for (param, header) in RESPONSE_OVERRIDES {
        if let Some(v) = req.q(param) {
            hs.retain(|(k, _)| *k != header);
            hs.push((header, v.to_string()));
        }
    }
    if let Some(n) = parts_header {
        hs.push(("x-amz-mp-parts-count", n.to_string()));
    }
    let user: Vec<(String, String)> = user_md_headers(&lom);
    let (start, len, status) = match range {
        Some(r) => (r.start, r.len, 206),
        None => (0, size, 200),
    };
    if status == 206 {
        hs.push((
            "Content-Range",
            format!("bytes {}-{}/{size}", start, start + len.saturating_sub(1)),
        ));
    }
    hs.push(("Content-Length", len.to_string()));
    if is_head {
        rd.close().await;
        let mut out = Vec::new();
        let mut hv: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        hv.extend(user.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        http::write_response_head(&mut out, status, &hv);
        conn.write_all(&out).await.map_err(conn_err)?;
        return Ok(Outcome::KeepAlive);
    }
    let verify = range.is_none()
        && core
            .bmd()
            .buckets
            .get(&t.bucket)
            .map(|p| p.checksum.validate_warm_get)
            .unwrap_or(true);
    let mut hv: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    hv.extend(user.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let read_from = rd.fqn.clone();
    match send_object(conn, rd, start, len, status, &hv, verify).await {
        Ok(o) => Ok(o),
        Err(SendError::Corrupt {
            ty,
            expected,
            actual,
        }) => {
            // A mirrored object is healed now; the client's retry (S3 SDKs retry a 500)
            // reads good bytes. Never the bad ones.
            let healed = core
                .heal_bad_read(&mpi, &t.bucket, &t.key, &read_from)
                .await;
            Err(internal(format!(
                "object {}/{} is corrupted: stored {ty} checksum {expected}, computed {actual}{}",
                t.bucket,
                t.key,
                if healed {
                    " (healed from a mirror copy: retry)"
                } else {
                    ""
                }
            )))
        }
        Err(SendError::CorruptSent) => {
            core.heal_bad_read(&mpi, &t.bucket, &t.key, &read_from)
                .await;
            Ok(Outcome::Close)
        }
        Err(SendError::Read(e)) => Err(internal(format!("reading {}/{}: {e}", t.bucket, t.key))),
        Err(SendError::Conn(e)) => Err(conn_err(e)),
    }
}

/// GetObjectAttributes (`GET ?attributes`, the attributes named by
/// `x-amz-object-attributes`): ETag, ObjectSize, StorageClass, and for multipart objects
/// ObjectParts with the parts count. Checksum is left out (AIS keeps no S3 checksum).
pub(crate) async fn get_object_attributes(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mpi: Arc<Mountpath>,
    t: &Target,
) -> S3Result<Outcome> {
    let names: Vec<&str> = req
        .head
        .headers
        .iter()
        .filter(|(k, _)| k == "x-amz-object-attributes")
        .map(|(_, v)| v.as_str())
        .collect();
    if names.is_empty() {
        return Err(s3err(
            S3ErrorCode::InvalidArgument,
            "GetObjectAttributes needs the x-amz-object-attributes header",
        ));
    }
    let wanted = xml::parse_object_attributes(&names.join(","))?;
    let rd = match open_or_neighbor(core, conn, req, &mpi, t).await? {
        Opened::Reader(rd) => *rd,
        Opened::Served(o) => return Ok(o),
    };
    let lom = rd.lom.clone();
    rd.close().await;
    let pre = Preconditions::from_headers(&req.head.headers);
    if let Err(e) = pre.evaluate(&lom_etag(&lom), lom.mtime_ns / 1_000_000_000, true) {
        if e.status() == 304 {
            let et = lom_etag(&lom);
            let lm = net::time::format_http_date(lom.mtime_ns / 1_000_000_000);
            return send_empty(conn, 304, &[("ETag", &et), ("Last-Modified", &lm)]).await;
        }
        return Err(e);
    }
    let body = xml::get_object_attributes_result(
        &xml::ObjectAttributes {
            etag: lom_etag(&lom),
            size_bytes: lom.size,
            parts_count: parts_count(&lom),
        },
        &wanted,
    );
    let lm = net::time::format_http_date(lom.mtime_ns / 1_000_000_000);
    send_xml(conn, 200, &body, &[("Last-Modified", &lm)]).await
}

pub(crate) async fn delete_object(
    core: &Rc<Core>,
    conn: &mut Conn,
    mpi: Arc<Mountpath>,
    t: &Target,
) -> S3Result<Outcome> {
    if cluster::remote::is_remote(&t.bucket) {
        cluster::remote::delete(&core.node, &t.bucket, &t.key)
            .await
            .map_err(|e| s3_from_cluster(&e, &t.bucket))?;
    }
    core.ec_delete(&t.bucket, &t.key).await;
    match core.delete_object(&mpi, &t.bucket, &t.key) {
        Ok(()) | Err(engine::Error::NotFound(_)) => send_empty(conn, 204, &[]).await,
        Err(e) => Err(from_engine(e, &t.bucket, &t.key)),
    }
}

/// DeleteObjects: each key deleted on its owner. An entry with a `<VersionId>` other than
/// `null` (the only version an object has) is answered with a per-key `NoSuchVersion` error
/// and deletes nothing.
pub(crate) async fn delete_objects(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    bucket: &str,
) -> S3Result<Outcome> {
    let body = read_small_body(conn, req).await?;
    super::refuse_if_renaming(core, bucket, "DeleteObjects")?;
    let (entries, quiet) = xml::parse_delete_objects_entries(&body)?;
    // Refusals decided before anything is deleted, in request order.
    let mut outcomes: Vec<Option<xml::DeleteOutcome>> = Vec::with_capacity(entries.len());
    let mut todo: Vec<(usize, String, Option<String>)> = Vec::new();
    for (i, e) in entries.into_iter().enumerate() {
        let refusal = match &e.version_id {
            Some(v) if v != xml::NULL_VERSION_ID => Some((
                S3ErrorCode::NoSuchVersion,
                format!("The specified version does not exist: {v:?} (objects have one version, \"null\"); nothing was deleted"),
            )),
            _ => engine::name::validate_object(&e.key)
                .err()
                .map(|err| (S3ErrorCode::InvalidArgument, err.to_string())),
        };
        match refusal {
            Some((code, message)) => outcomes.push(Some(xml::DeleteOutcome::Error {
                key: e.key,
                version_id: e.version_id,
                code,
                message,
            })),
            None => {
                outcomes.push(None);
                todo.push((i, e.key, e.version_id));
            }
        }
    }
    if core.node.cfg.role == Role::Proxy {
        // Each key's owner target deletes it (native DELETE with the redirect marker).
        let smap = core.smap();
        for (i, key, version_id) in todo {
            let Some(base) = placement::owner(&smap, bucket, &key).map(|o| o.url) else {
                outcomes[i] = Some(xml::DeleteOutcome::Error {
                    key,
                    version_id,
                    code: S3ErrorCode::ServiceUnavailable,
                    message: "no targets".into(),
                });
                continue;
            };
            let url = format!(
                "{base}/v1/objects/{bucket}/{}?provider=ais&pid={}&utm={}",
                http::percent_encode_path(&key),
                core.node.proxy_id,
                time::base36(time::now_unix_ns() as u64)
            );
            outcomes[i] = Some(match cluster::intra::call("DELETE", &url, &[], b"").await {
                Ok(r) if r.status == 200 || r.status == 404 => {
                    xml::DeleteOutcome::Deleted { key, version_id }
                }
                Ok(r) => xml::DeleteOutcome::Error {
                    key,
                    version_id,
                    code: S3ErrorCode::InternalError,
                    message: String::from_utf8_lossy(&r.body).into_owned(),
                },
                Err(e) => xml::DeleteOutcome::Error {
                    key,
                    version_id,
                    code: S3ErrorCode::InternalError,
                    message: e.to_string(),
                },
            });
        }
    } else {
        // Slices first (tombstones), the objects last: see cluster::ec.
        for (_, key, _) in &todo {
            core.ec_delete(bucket, key).await;
        }
        let node = core.node.clone();
        let b = bucket.to_string();
        let done = glommio::executor()
            .spawn_blocking(move || {
                let bck = Bck::ais(&b);
                todo.into_iter()
                    .map(|(i, key, version_id)| {
                        let set = node.mountpaths.load();
                        let (mp, _) = set
                            .choose(placement::object_digest(&b, &key))
                            .expect("at least one mountpath");
                        if node.resilvering.load(std::sync::atomic::Ordering::Acquire) {
                            for m in set.with_data() {
                                if m.path_str != mp.path_str {
                                    let _ = engine::object::delete(&m, &bck, &key);
                                }
                            }
                        }
                        let removed = cluster::mirror::remove_copies(&set, &b, &key)
                            .and_then(|()| engine::object::delete(&mp, &bck, &key));
                        let o = match removed {
                            Ok(()) | Err(engine::Error::NotFound(_)) => {
                                xml::DeleteOutcome::Deleted { key, version_id }
                            }
                            Err(e) => xml::DeleteOutcome::Error {
                                key,
                                version_id,
                                code: S3ErrorCode::InternalError,
                                message: e.to_string(),
                            },
                        };
                        (i, o)
                    })
                    .collect::<Vec<_>>()
            })
            .await;
        for (i, o) in done {
            outcomes[i] = Some(o);
        }
    }
    let outcomes: Vec<xml::DeleteOutcome> = outcomes.into_iter().flatten().collect();
    send_xml(conn, 200, &xml::delete_result(&outcomes, quiet), &[]).await
}

/// `x-amz-copy-source: [/]bucket/key[?versionId=..]`, percent-encoded. A version other than
/// `null` does not exist (`NoSuchVersion`).
pub(crate) fn parse_copy_source(v: &str) -> S3Result<(String, String)> {
    let (v, query) = v.split_once('?').unwrap_or((v, ""));
    for (name, value) in http::parse_query(query).unwrap_or_default() {
        if name == "versionId" && value != xml::NULL_VERSION_ID {
            return Err(s3err(
                S3ErrorCode::NoSuchVersion,
                format!("The specified version of the copy source does not exist: {value:?} (objects have one version, \"null\")"),
            ));
        }
    }
    let decoded = http::percent_decode_path(v).map_err(|e| {
        s3err(
            S3ErrorCode::InvalidArgument,
            format!("x-amz-copy-source: {e}"),
        )
    })?;
    let d = decoded.trim_start_matches('/');
    let (b, k) = d.split_once('/').ok_or_else(|| {
        s3err(
            S3ErrorCode::InvalidArgument,
            "x-amz-copy-source must be bucket/key",
        )
    })?;
    engine::name::validate_bucket(b)
        .map_err(|e| s3err(S3ErrorCode::InvalidArgument, e.to_string()))?;
    engine::name::validate_object(k)
        .map_err(|e| s3err(S3ErrorCode::InvalidArgument, e.to_string()))?;
    Ok((b.to_string(), k.to_string()))
}

/// The source of a CopyObject / UploadPartCopy: on this target (read from its mountpath,
/// whichever core owns it: a bounded, sequential read), or in a cluster on another target
/// (read from the owning core through the native API, in [`REMOTE_COPY_CHUNK_BYTES`] range
/// requests).
pub(crate) enum CopySource {
    Local(Box<ObjectReader>),
    Remote {
        /// The owning core's base URL.
        base: String,
        bucket: String,
        key: String,
        lom: Lom,
    },
}

/// Bytes per range request when the copy source is on another target (held in memory).
pub(crate) const REMOTE_COPY_CHUNK_BYTES: u64 = 8 << 20;
/// Deadline of one request to the target that holds a copy source.
const REMOTE_COPY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl CopySource {
    pub(crate) fn lom(&self) -> &Lom {
        match self {
            CopySource::Local(rd) => &rd.lom,
            CopySource::Remote { lom, .. } => lom,
        }
    }

    pub(crate) async fn close(self) {
        if let CopySource::Local(rd) = self {
            rd.close().await;
        }
    }
}

fn remote_url(base: &str, bucket: &str, key: &str, query: &str) -> String {
    format!(
        "{base}/v1/objects/{bucket}/{}?provider=ais{query}",
        http::percent_encode_path(key)
    )
}

/// The metadata of an object on another target (native `HEAD`), `None` if it has none.
async fn remote_lom(base: &str, bucket: &str, key: &str) -> S3Result<Option<Lom>> {
    use net::client::{Client, ClientConfig, Discard, Request, Unsigned};
    let url = remote_url(base, bucket, key, "&props=last-modified");
    let (ep, target) = net::client::parse_http_url(&url)
        .map_err(|e| internal(format!("copy source URL {url}: {e}")))?;
    let mut client = Client::new(ClientConfig {
        follow_redirects: false,
        ..Default::default()
    });
    let authz = cluster::auth::node_authorization();
    let headers: Vec<(&str, &str)> = authz
        .iter()
        .map(|a| ("Authorization", a.as_str()))
        .collect();
    let req = Request {
        method: "HEAD",
        endpoint: &ep,
        target: &target,
        headers: &headers,
        body: &[],
    };
    let deadline = std::time::Instant::now() + REMOTE_COPY_TIMEOUT;
    let r = client
        .execute(&req, &mut Unsigned, &mut Discard, deadline)
        .await
        .map_err(|e| internal(format!("HEAD {url}: {e}")))?;
    match r.status {
        200 => {}
        404 => return Ok(None),
        s => return Err(internal(format!("HEAD {url}: HTTP {s}"))),
    }
    let head = client.head();
    let mut lom = Lom {
        size: head
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| internal(format!("HEAD {url}: no Content-Length")))?,
        cksum_type: head.header("ais-checksum-type").unwrap_or("").to_string(),
        cksum_value: head.header("ais-checksum-value").unwrap_or("").to_string(),
        version: head.header("ais-version").unwrap_or("").to_string(),
        mtime_ns: head
            .header("last-modified")
            .and_then(net::time::parse_http_date)
            .unwrap_or(0)
            .saturating_mul(1_000_000_000),
        ..Default::default()
    };
    for (name, value) in head.headers() {
        if name.eq_ignore_ascii_case("ais-custom-md") {
            if let Some((k, v)) = value.split_once('=') {
                lom.custom.push((k.to_string(), v.to_string()));
            }
        }
    }
    Ok(Some(lom))
}

/// The copy source named by `x-amz-copy-source`, its `x-amz-copy-source-if-*` conditions
/// checked: `(bucket, key, source)`.
pub(crate) async fn open_copy_source(
    core: &Rc<Core>,
    req: &Req,
) -> S3Result<(String, String, CopySource)> {
    let (sb, sk) = parse_copy_source(req.head.header("x-amz-copy-source").unwrap_or(""))?;
    if !core.bmd().buckets.contains_key(&sb) {
        return Err(no_such_bucket(&sb));
    }
    let owner = placement::owner(&core.smap(), &sb, &sk);
    let src = match owner {
        Some(o) if o.target_id != core.node.target_id => {
            let lom = remote_lom(&o.url, &sb, &sk)
                .await?
                .ok_or_else(|| from_engine(engine::Error::NotFound(sk.clone().into()), &sb, &sk))?;
            CopySource::Remote {
                base: o.url,
                bucket: sb.clone(),
                key: sk.clone(),
                lom,
            }
        }
        _ => {
            let (smp, _) = core.owner(&sb, &sk);
            let smp = crate::native::objects::locate(core, smp, &sb, &sk);
            let rd = ObjectReader::open(&smp, &Bck::ais(&sb), &sk)
                .await
                .map_err(|e| from_engine(e, &sb, &sk))?;
            CopySource::Local(Box::new(rd))
        }
    };
    let l = src.lom();
    if let Err(e) = Preconditions::from_copy_source_headers(&req.head.headers).evaluate(
        &lom_etag(l),
        l.mtime_ns / 1_000_000_000,
        false,
    ) {
        src.close().await;
        return Err(e);
    }
    Ok((sb, sk, src))
}

/// Stream `len` bytes of the source from `start` into `w`; the MD5 of what was copied. On
/// error the caller aborts `w`.
pub(crate) async fn copy_into(
    src: CopySource,
    start: u64,
    len: u64,
    w: &mut ObjectWriter,
    what: &str,
) -> S3Result<[u8; 16]> {
    match src {
        CopySource::Local(rd) => copy_local(*rd, start, len, w, what).await,
        CopySource::Remote {
            base,
            bucket,
            key,
            lom,
        } => {
            let digest = copy_remote(&base, &bucket, &key, start, len, w, what).await?;
            // The source must not have changed between the range requests.
            match remote_lom(&base, &bucket, &key).await? {
                Some(now)
                    if now.version == lom.version
                        && now.size == lom.size
                        && lom_etag(&now) == lom_etag(&lom) =>
                {
                    Ok(digest)
                }
                _ => Err(internal(format!(
                    "copy source {what} changed while it was being copied; retry"
                ))),
            }
        }
    }
}

async fn copy_local(
    rd: ObjectReader,
    start: u64,
    len: u64,
    w: &mut ObjectWriter,
    src: &str,
) -> S3Result<[u8; 16]> {
    let mut s = rd.stream(start, len);
    let mut md5 = Md5::new();
    let mut copied = 0u64;
    while copied < len {
        let b = match s
            .get_buffer_aligned(engine::object::READ_BUFFER_BYTES as u64)
            .await
        {
            Ok(b) if !b.is_empty() => b,
            Ok(_) => {
                let _ = s.close().await;
                return Err(internal(format!(
                    "source {src} is shorter than its metadata"
                )));
            }
            Err(e) => {
                let _ = s.close().await;
                return Err(internal(format!("reading {src}: {e}")));
            }
        };
        let b = &b[..b
            .len()
            .min(usize::try_from(len - copied).unwrap_or(usize::MAX))];
        md5.update(b);
        copied += b.len() as u64;
        if let Err(e) = w.write(b).await {
            let _ = s.close().await;
            return Err(from_engine(e, "", src));
        }
    }
    let _ = s.close().await;
    Ok(md5.finalize().into())
}

async fn copy_remote(
    base: &str,
    bucket: &str,
    key: &str,
    start: u64,
    len: u64,
    w: &mut ObjectWriter,
    what: &str,
) -> S3Result<[u8; 16]> {
    use net::client::{Client, ClientConfig, Collect, Request, Unsigned};
    let url = remote_url(base, bucket, key, "");
    let (ep, target) = net::client::parse_http_url(&url)
        .map_err(|e| internal(format!("copy source URL {url}: {e}")))?;
    let mut client = Client::new(ClientConfig {
        follow_redirects: false,
        ..Default::default()
    });
    let mut md5 = Md5::new();
    let mut off = start;
    let end = start + len;
    while off < end {
        let n = (end - off).min(REMOTE_COPY_CHUNK_BYTES);
        let range = format!("bytes={off}-{}", off + n - 1);
        let authz = cluster::auth::node_authorization();
        let mut headers = vec![("Range", range.as_str())];
        if let Some(a) = &authz {
            headers.push(("Authorization", a.as_str()));
        }
        let req = Request {
            method: "GET",
            endpoint: &ep,
            target: &target,
            headers: &headers,
            body: &[],
        };
        let limit = usize::try_from(n).unwrap_or(usize::MAX);
        let mut sink = Collect::new(limit);
        let deadline = std::time::Instant::now() + REMOTE_COPY_TIMEOUT;
        let r = client
            .execute(&req, &mut Unsigned, &mut sink, deadline)
            .await
            .map_err(|e| internal(format!("reading copy source {what} from {url}: {e}")))?;
        if !matches!(r.status, 200 | 206) || sink.truncated || sink.body.len() as u64 != n {
            return Err(internal(format!(
                "reading copy source {what} from {url} ({range}): HTTP {}, {} bytes",
                r.status,
                sink.body.len()
            )));
        }
        md5.update(&sink.body);
        w.write(&sink.body)
            .await
            .map_err(|e| from_engine(e, "", what))?;
        off += n;
    }
    Ok(md5.finalize().into())
}

pub(crate) async fn copy_object(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &Req,
    mpi: Arc<Mountpath>,
    t: &Target,
) -> S3Result<Outcome> {
    let replace = req
        .head
        .header("x-amz-metadata-directive")
        .map(|d| d.eq_ignore_ascii_case("REPLACE"))
        .unwrap_or(false);
    let cond_headers = write_condition_headers(req);
    let conds = WriteConditions::from_headers(&cond_headers)?;
    let (sb, sk) = parse_copy_source(req.head.header("x-amz-copy-source").unwrap_or(""))?;
    if sb == t.bucket && sk == t.key && !replace {
        return Err(s3err(S3ErrorCode::InvalidRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata."));
    }
    let custom = if replace {
        Some(md_from_request(req)?)
    } else {
        None
    };
    let (sb, sk, rd) = open_copy_source(core, req).await?;
    let src = rd.lom().clone();
    let custom = custom.unwrap_or_else(|| {
        src.custom
            .iter()
            .filter(|(k, _)| k != "ETag" && k != MD_PART_SIZE)
            .cloned()
            .collect()
    });
    let mut opts = put_opts(core, &t.bucket, custom);
    let mut w = match ObjectWriter::create(&mpi, &Bck::ais(&t.bucket), &t.key).await {
        Ok(w) => w,
        Err(e) => {
            rd.close().await;
            return Err(from_engine(e, &t.bucket, &t.key));
        }
    };
    if let Err(e) = w.set_cksums(&opts) {
        rd.close().await;
        w.abort().await;
        return Err(from_engine(e, &t.bucket, &t.key));
    }
    let digest = match copy_into(rd, 0, src.size, &mut w, &format!("{sb}/{sk}")).await {
        Ok(d) => d,
        Err(e) => {
            w.abort().await;
            return Err(e);
        }
    };
    let et = etag::md5_etag(&digest);
    opts.custom
        .push(("ETag".into(), etag::unquote(&et).to_string()));
    if let Err(e) = check_write_conditions(core, &conds, &mpi, t, &mut opts) {
        w.abort().await;
        return Err(e);
    }
    let res = w
        .commit(&opts)
        .await
        .map_err(|e| commit_err(e, &conds, t))?;
    if res.changed {
        core.mirror_after_put(&mpi, &t.bucket, &t.key)
            .await
            .map_err(|e| from_engine(e, &t.bucket, &t.key))?;
        core.ec_after_put(&mpi, &t.bucket, &t.key)
            .await
            .map_err(|e| internal(e.to_string()))?;
    }
    send_xml(
        conn,
        200,
        &xml::copy_object_result(res.lom.mtime_ns, &et),
        &[],
    )
    .await
}
