//! S3 multipart uploads: Create, UploadPart, UploadPartCopy, Complete (parts checked against
//! their ETags and the minimum size; conditional writes; a re-sent Complete of a completed
//! upload answers the same result), Abort, ListParts, ListMultipartUploads. Parts live on the
//! object's mountpath (`engine::multipart`).

use super::objects::{
    check_write_conditions, commit_err, copy_into, lom_etag, md_from_request, open_copy_source,
    put_opts, receive, write_condition_headers, MD_PART_SIZE,
};
use super::*;
use engine::layout::Bck;
use engine::mountpath::Mountpath;
use net::s3::conditional::WriteConditions;
use net::s3::etag;
use net::s3::sigv4::SigningContext;
use std::sync::Arc;

/// S3's minimum size of every multipart part but the last.
pub const PART_BYTES_MIN: u64 = 5 << 20;

pub(crate) fn upload_id(req: &Req) -> S3Result<String> {
    let id = req.q("uploadId").unwrap_or("");
    if !engine::multipart::valid_upload_id(id) {
        return Err(s3err(
            S3ErrorCode::NoSuchUpload,
            "The specified upload does not exist.",
        ));
    }
    Ok(id.to_string())
}

fn part_number(req: &Req) -> S3Result<u32> {
    req.q("partNumber")
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=engine::multipart::PART_NUMBER_MAX).contains(n))
        .ok_or_else(|| {
            s3err(
                S3ErrorCode::InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive",
            )
        })
}

pub(crate) fn get_upload(
    _core: &Core,
    mpi: &Mountpath,
    t: &Target,
    id: &str,
) -> S3Result<engine::multipart::Upload> {
    match engine::multipart::get(mpi, &Bck::ais(&t.bucket), id) {
        Ok(u) if u.object == t.key => Ok(u),
        Ok(_) | Err(engine::Error::NotFound(_)) => Err(s3err(S3ErrorCode::NoSuchUpload, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")),
        Err(e) => Err(from_engine(e, &t.bucket, &t.key)),
    }
}

pub(crate) async fn create_upload(
    _core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mpi: Arc<Mountpath>,
    t: &Target,
) -> S3Result<Outcome> {
    let custom = md_from_request(req)?;
    if req.has_body() {
        let _ = read_small_body(conn, req).await?;
    }
    let id = cluster::meta::random_id(24);
    let u = engine::multipart::Upload {
        id: id.clone(),
        object: t.key.clone(),
        created_ns: time::now_unix_ns(),
        custom,
    };
    engine::multipart::create(&mpi, &Bck::ais(&t.bucket), &u)
        .map_err(|e| from_engine(e, &t.bucket, &t.key))?;
    send_xml(
        conn,
        200,
        &xml::initiate_multipart_upload_result(&t.bucket, &t.key, &id),
        &[],
    )
    .await
}

pub(crate) async fn upload_part(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mpi: Arc<Mountpath>,
    t: &Target,
    signing: Option<SigningContext>,
) -> S3Result<Outcome> {
    let id = upload_id(req)?;
    let number = part_number(req)?;
    get_upload(core, &mpi, t, &id)?;
    let bck = Bck::ais(&t.bucket);
    let mut opts = part_opts(core, &t.bucket);
    let mut w = engine::multipart::part_writer(&mpi, &bck, &id, number)
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
    let et = etag::md5_etag(&digest);
    opts.custom = part_custom(&et);
    w.commit(&opts)
        .await
        .map_err(|e| from_engine(e, &t.bucket, &t.key))?;
    send_empty(conn, 200, &[("ETag", &et)]).await
}

/// How a part is committed: no version, no identical-content check; its MD5 ETag
/// ([`part_custom`]) is set once the bytes are in.
fn part_opts(core: &Core, bucket: &str) -> engine::object::PutOpts {
    let mut opts = put_opts(core, bucket, Vec::new());
    opts.skip_vc = true;
    opts.versioning = false;
    opts
}

/// The custom metadata of a part: its MD5 ETag.
fn part_custom(etag_quoted: &str) -> Vec<(String, String)> {
    vec![("ETag".into(), etag::unquote(etag_quoted).to_string())]
}

/// UploadPartCopy (`PUT ?partNumber&uploadId` with `x-amz-copy-source` and optionally
/// `x-amz-copy-source-range: bytes=first-last`): the part is that range of the source object
/// (any bucket, any core's mountpath), its ETag the MD5 of the bytes copied.
pub(crate) async fn upload_part_copy(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mpi: Arc<Mountpath>,
    t: &Target,
) -> S3Result<Outcome> {
    let id = upload_id(req)?;
    let number = part_number(req)?;
    get_upload(core, &mpi, t, &id)?;
    if req.has_body() {
        let _ = read_small_body(conn, req).await?;
    }
    let (sb, sk, rd) = open_copy_source(core, req).await?;
    let size = rd.lom().size;
    let (start, len) = match req.head.header("x-amz-copy-source-range") {
        None => (0, size),
        Some(v) => match parse_copy_range(v, size) {
            Ok(r) => r,
            Err(e) => {
                rd.close().await;
                return Err(e);
            }
        },
    };
    let bck = Bck::ais(&t.bucket);
    let mut opts = part_opts(core, &t.bucket);
    let mut w = match engine::multipart::part_writer(&mpi, &bck, &id, number).await {
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
    let digest = match copy_into(rd, start, len, &mut w, &format!("{sb}/{sk}")).await {
        Ok(d) => d,
        Err(e) => {
            w.abort().await;
            return Err(e);
        }
    };
    let et = etag::md5_etag(&digest);
    opts.custom = part_custom(&et);
    let res = w
        .commit(&opts)
        .await
        .map_err(|e| from_engine(e, &t.bucket, &t.key))?;
    send_xml(
        conn,
        200,
        &xml::copy_part_result(res.lom.mtime_ns, &et),
        &[],
    )
    .await
}

/// `x-amz-copy-source-range: bytes=first-last` (both required, inclusive, within the
/// source): `(start, len)`. Anything else is `InvalidArgument` (S3's answer).
fn parse_copy_range(v: &str, size: u64) -> S3Result<(u64, u64)> {
    let bad = || {
        s3err(
            S3ErrorCode::InvalidArgument,
            format!(
                "The x-amz-copy-source-range value must be of the form bytes=first-last where \
                 first and last are the zero-based offsets of the first and last bytes to copy \
                 within a source of {size} bytes (got {:?})",
                v.chars().take(64).collect::<String>()
            ),
        )
    };
    let (first, last) = v
        .trim()
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(bad)?;
    let first: u64 = first.trim().parse().map_err(|_| bad())?;
    let last: u64 = last.trim().parse().map_err(|_| bad())?;
    if first > last || last >= size {
        return Err(bad());
    }
    Ok((first, last - first + 1))
}

pub(crate) async fn complete_upload(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mpi: Arc<Mountpath>,
    t: &Target,
) -> S3Result<Outcome> {
    let id = upload_id(req)?;
    let cond_headers = write_condition_headers(req);
    let conds = WriteConditions::from_headers(&cond_headers)?;
    let body = read_small_body(conn, req).await?;
    let u = match get_upload(core, &mpi, t, &id) {
        Ok(u) => u,
        Err(e) if e.code == S3ErrorCode::NoSuchUpload => {
            return resent_complete(core, conn, &mpi, t, &body, e).await;
        }
        Err(e) => return Err(e),
    };
    let wanted = xml::parse_complete_multipart(&body)?;
    if wanted.is_empty() {
        return Err(s3err(
            S3ErrorCode::MalformedXml,
            "CompleteMultipartUpload lists no parts",
        ));
    }
    let bck = Bck::ais(&t.bucket);
    let have =
        engine::multipart::parts(&mpi, &bck, &id).map_err(|e| from_engine(e, &t.bucket, &t.key))?;
    let mut md5s = Vec::with_capacity(wanted.len());
    let mut sizes = Vec::with_capacity(wanted.len());
    for (i, (n, et)) in wanted.iter().enumerate() {
        let p = have.iter().find(|p| p.number == *n).ok_or_else(|| {
            s3err(
                S3ErrorCode::InvalidPart,
                format!("part {n} was not uploaded"),
            )
        })?;
        if etag::unquote(et) != etag::unquote(&p.etag) {
            return Err(s3err(
                S3ErrorCode::InvalidPart,
                format!(
                    "part {n}: ETag {et} does not match the uploaded part's {}",
                    p.etag
                ),
            ));
        }
        // AWS's minimum part size; AIS accepts any (`--s3-ais-semantics`).
        if i + 1 < wanted.len() && p.size < PART_BYTES_MIN && !core.node.cfg.s3_ais_semantics {
            return Err(s3err(S3ErrorCode::EntityTooSmall, format!("part {n} is {} bytes; every part but the last must be at least {PART_BYTES_MIN}", p.size)));
        }
        md5s.push(
            etag::parse_md5_etag(&p.etag)
                .ok_or_else(|| internal(format!("part {n} has no MD5 ETag")))?,
        );
        sizes.push(p.size);
    }
    let final_etag = etag::multipart_etag(&md5s);
    let mut custom = u.custom.clone();
    custom.push(("ETag".into(), etag::unquote(&final_etag).to_string()));
    // Parts of one size (but the last, which may be smaller) let `GET ?partNumber=N` find
    // part N; other layouts are not served by part number.
    let first = sizes[0];
    let (last, rest) = sizes.split_last().expect("at least one part");
    if rest.iter().all(|s| *s == first) && *last <= first && first > 0 {
        custom.push((MD_PART_SIZE.into(), first.to_string()));
    }
    let numbers: Vec<u32> = wanted.iter().map(|(n, _)| *n).collect();
    let mut opts = put_opts(core, &t.bucket, custom);
    let w = engine::multipart::assemble(&mpi, &bck, &id, &numbers, &opts)
        .await
        .map_err(|e| from_engine(e, &t.bucket, &t.key))?;
    if let Err(e) = check_write_conditions(core, &conds, &mpi, t, &mut opts) {
        w.abort().await;
        return Err(e);
    }
    w.commit(&opts)
        .await
        .map_err(|e| commit_err(e, &conds, t))?;
    core.mirror_after_put(&mpi, &t.bucket, &t.key)
        .await
        .map_err(|e| from_engine(e, &t.bucket, &t.key))?;
    core.ec_after_put(&mpi, &t.bucket, &t.key)
        .await
        .map_err(|e| super::internal(e.to_string()))?;
    engine::multipart::abort(&mpi, &bck, &id).map_err(|e| from_engine(e, &t.bucket, &t.key))?;
    let location = format!("/s3/{}/{}", t.bucket, t.key);
    send_xml(
        conn,
        200,
        &xml::complete_multipart_upload_result(&location, &t.bucket, &t.key, &final_etag),
        &[],
    )
    .await
}

/// A CompleteMultipartUpload for an upload that no longer exists: if it was completed and the
/// object is what these parts made (its ETag is the multipart ETag of the listed part ETags),
/// S3 answers the same result again (a client retrying after a lost response); otherwise
/// `NoSuchUpload`.
async fn resent_complete(
    core: &Rc<Core>,
    conn: &mut Conn,
    mpi: &Arc<Mountpath>,
    t: &Target,
    body: &[u8],
    no_such_upload: S3Error,
) -> S3Result<Outcome> {
    let Ok(wanted) = xml::parse_complete_multipart(body) else {
        return Err(no_such_upload);
    };
    let Some(md5s) = wanted
        .iter()
        .map(|(_, et)| etag::parse_md5_etag(et))
        .collect::<Option<Vec<[u8; 16]>>>()
    else {
        return Err(no_such_upload);
    };
    let produced = etag::multipart_etag(&md5s);
    let mp = crate::native::objects::locate(core, mpi.clone(), &t.bucket, &t.key);
    let Ok(lom) =
        engine::object::read_lom_path(&engine::object::locate(&mp, &Bck::ais(&t.bucket), &t.key))
    else {
        return Err(no_such_upload);
    };
    if etag::unquote(&lom_etag(&lom)) != etag::unquote(&produced) {
        return Err(no_such_upload);
    }
    let location = format!("/s3/{}/{}", t.bucket, t.key);
    send_xml(
        conn,
        200,
        &xml::complete_multipart_upload_result(&location, &t.bucket, &t.key, &produced),
        &[],
    )
    .await
}

pub(crate) async fn abort_upload(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &Req,
    mpi: Arc<Mountpath>,
    t: &Target,
) -> S3Result<Outcome> {
    let id = upload_id(req)?;
    get_upload(core, &mpi, t, &id)?;
    engine::multipart::abort(&mpi, &Bck::ais(&t.bucket), &id)
        .map_err(|e| from_engine(e, &t.bucket, &t.key))?;
    send_empty(conn, 204, &[]).await
}

pub(crate) async fn list_parts(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &Req,
    mpi: Arc<Mountpath>,
    t: &Target,
) -> S3Result<Outcome> {
    let id = upload_id(req)?;
    get_upload(core, &mpi, t, &id)?;
    let marker: u32 = req
        .q("part-number-marker")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let max_parts: usize = req
        .q("max-parts")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
        .min(1000);
    let all = engine::multipart::parts(&mpi, &Bck::ais(&t.bucket), &id)
        .map_err(|e| from_engine(e, &t.bucket, &t.key))?;
    let after: Vec<_> = all.into_iter().filter(|p| p.number > marker).collect();
    let truncated = after.len() > max_parts;
    let parts: Vec<xml::PartEntry> = after
        .into_iter()
        .take(max_parts)
        .map(|p| xml::PartEntry {
            part_number: p.number,
            last_modified_unix_nanos: p.mtime_ns,
            etag: format!("\"{}\"", etag::unquote(&p.etag)),
            size_bytes: p.size,
        })
        .collect();
    let next = parts.last().map(|p| p.part_number).unwrap_or(marker);
    let body = xml::list_parts_result(&xml::ListParts {
        bucket: t.bucket.clone(),
        key: t.key.clone(),
        upload_id: id,
        part_number_marker: marker,
        next_part_number_marker: next,
        max_parts: max_parts as u32,
        is_truncated: truncated,
        owner: Some(owner()),
        parts,
    });
    send_xml(conn, 200, &body, &[]).await
}

pub(crate) async fn list_uploads(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &Req,
    bucket: &str,
) -> S3Result<Outcome> {
    let prefix = req.q("prefix").unwrap_or("").to_string();
    let max_uploads: usize = req
        .q("max-uploads")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
        .min(1000);
    let key_marker = req.q("key-marker").unwrap_or("").to_string();
    let url_encode = xml::parse_encoding_type(req.q("encoding-type"))?;
    let all = cluster::listing::uploads(&core.node, &core.smap(), bucket)
        .await
        .map_err(|e| crate::error::s3_from_cluster(&e, bucket))?;
    let upload_id_marker = req.q("upload-id-marker").unwrap_or("").to_string();
    let filtered: Vec<_> = all
        .into_iter()
        .filter(|u| u.object.starts_with(&prefix))
        .filter(|u| {
            // S3: with both markers, uploads of key-marker with a greater upload ID follow.
            u.object.as_str() > key_marker.as_str()
                || (!upload_id_marker.is_empty()
                    && u.object == key_marker
                    && u.id.as_str() > upload_id_marker.as_str())
        })
        .collect();
    let truncated = filtered.len() > max_uploads;
    let uploads: Vec<xml::UploadEntry> = filtered
        .into_iter()
        .take(max_uploads)
        .map(|u| xml::UploadEntry {
            key: u.object,
            upload_id: u.id,
            initiated_unix_nanos: u.created_ns,
        })
        .collect();
    let body = xml::list_multipart_uploads_result(&xml::ListMultipartUploads {
        bucket: bucket.to_string(),
        key_marker,
        upload_id_marker: req.q("upload-id-marker").unwrap_or("").to_string(),
        next_key_marker: if truncated {
            uploads.last().map(|u| u.key.clone())
        } else {
            None
        },
        next_upload_id_marker: if truncated {
            uploads.last().map(|u| u.upload_id.clone())
        } else {
            None
        },
        prefix,
        delimiter: None,
        max_uploads: max_uploads as u32,
        is_truncated: truncated,
        url_encode,
        owner: Some(owner()),
        uploads,
        common_prefixes: vec![],
    });
    send_xml(conn, 200, &body, &[]).await
}
