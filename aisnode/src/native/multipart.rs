//! Native multipart upload, as the SDK's `MultipartUpload` and AIS's Go api send it, on the
//! core that owns the object (parts live beside S3's, in `engine::multipart`):
//! - `POST /v1/objects/B/O` `{"action":"mpt-upload"}` answers the upload ID as text;
//! - `PUT /v1/objects/B/O?uploadId=U&partNumber=N` with the part's bytes;
//! - `POST /v1/objects/B/O?uploadId=U` `{"action":"mpt-complete","value":[{"part-number":N,
//!   "etag":""},...]}` assembles the listed parts in part-number order into a new version;
//! - `DELETE /v1/objects/B/O?uploadId=U` `{"action":"mpt-abort"}` drops the upload.
//!
//! AIS accepts parts of any size (S3's 5 MiB minimum is for `/s3`); an ETag given in the
//! completion list must match the part's. An object request with an `uploadId` is never
//! taken for a plain PUT or DELETE of the object.

use super::body::receive_into;
use crate::core::Core;
use crate::error::ApiError;
use crate::reply::{io_err, read_body, send_job_id, send_ok, CONTROL_BODY_BYTES_MAX};
use crate::req::{Outcome, Req};
use engine::layout::Bck;
use engine::mountpath::Mountpath;
use engine::multipart::{self, Upload};
use engine::object::PutOpts;
use md5::{Digest, Md5};
use net::api::ActMsg;
use net::conn::Conn;
use serde::Deserialize;
use std::rc::Rc;
use std::sync::Arc;

pub const QPARAM_UPLOAD_ID: &str = "uploadId";
pub const QPARAM_PART_NUMBER: &str = "partNumber";
pub const ACT_MPT_UPLOAD: &str = "mpt-upload";
pub const ACT_MPT_COMPLETE: &str = "mpt-complete";
pub const ACT_MPT_ABORT: &str = "mpt-abort";

/// One entry of the completion list (AIS's `MptCompletedPart`).
#[derive(Debug, Deserialize)]
struct CompletedPart {
    #[serde(rename = "part-number")]
    part_number: u32,
    #[serde(default)]
    etag: String,
}

/// The action message of a POST or DELETE on an object.
async fn actmsg(conn: &mut Conn, req: &mut Req) -> Result<ActMsg, ApiError> {
    let body = read_body(conn, req, CONTROL_BODY_BYTES_MAX).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("missing action message"));
    }
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON control message: {e}")))
}

fn upload_id(req: &Req) -> Result<&str, ApiError> {
    let id = req.q(QPARAM_UPLOAD_ID).unwrap_or("");
    if id.is_empty() {
        return Err(ApiError::bad_request(format!(
            "missing query parameter {QPARAM_UPLOAD_ID}"
        )));
    }
    Ok(id)
}

/// The upload `id` of `bucket/object` on `mp`, or 404.
fn upload(mp: &Mountpath, bucket: &str, object: &str, id: &str) -> Result<Upload, ApiError> {
    let not_found = || {
        ApiError::new(
            404,
            format!("multipart upload {id:?} of ais://{bucket}/{object} does not exist"),
        )
    };
    if !multipart::valid_upload_id(id) {
        return Err(not_found());
    }
    match multipart::get(mp, &Bck::ais(bucket), id) {
        Ok(u) if u.object == object => Ok(u),
        Ok(_) | Err(engine::Error::NotFound(_)) => Err(not_found()),
        Err(e) => Err(ApiError::internal(format!("multipart upload {id}: {e}"))),
    }
}

fn engine_err(core: &Core, bucket: &str, object: &str) -> impl Fn(engine::Error) -> ApiError {
    let tname = core.node.tname();
    let (cname, object) = (format!("ais://{bucket}"), object.to_string());
    move |e| ApiError::from_engine(e, &tname, &cname, &object)
}

/// `POST /v1/objects/B/O`: `mpt-upload` or `mpt-complete`; any other action is refused.
pub async fn post(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mp: Arc<Mountpath>,
    bucket: &str,
    object: &str,
) -> Result<Outcome, ApiError> {
    let msg = actmsg(conn, req).await?;
    match msg.action.as_str() {
        ACT_MPT_UPLOAD => create(core, conn, &mp, bucket, object).await,
        ACT_MPT_COMPLETE => {
            let id = upload_id(req)?.to_string();
            complete(core, conn, &mp, bucket, object, &id, msg.value).await
        }
        ACT_MPT_ABORT => Err(ApiError::bad_request(format!(
            "{ACT_MPT_ABORT} goes with DELETE, not POST"
        ))),
        "" => Err(ApiError::bad_request("missing action in control message")),
        a => Err(ApiError::not_implemented(format!(
            "object action {a:?} is not supported by this node"
        ))),
    }
}

async fn create(
    core: &Rc<Core>,
    conn: &mut Conn,
    mp: &Mountpath,
    bucket: &str,
    object: &str,
) -> Result<Outcome, ApiError> {
    core.bucket_props(bucket)?;
    let id = cluster::meta::random_id(24);
    let u = Upload {
        id: id.clone(),
        object: object.to_string(),
        created_ns: net::time::now_unix_ns(),
        custom: Vec::new(),
    };
    multipart::create(mp, &Bck::ais(bucket), &u).map_err(engine_err(core, bucket, object))?;
    send_job_id(conn, &id).await
}

/// `PUT /v1/objects/B/O?uploadId=U&partNumber=N`.
pub async fn upload_part(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mp: Arc<Mountpath>,
    bucket: &str,
    object: &str,
) -> Result<Outcome, ApiError> {
    let id = upload_id(req)?.to_string();
    let number: u32 = req
        .q(QPARAM_PART_NUMBER)
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=multipart::PART_NUMBER_MAX).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "{QPARAM_PART_NUMBER} must be an integer between 1 and {}",
                multipart::PART_NUMBER_MAX
            ))
        })?;
    let props = core.bucket_props(bucket)?;
    upload(&mp, bucket, object, &id)?;
    let fail = engine_err(core, bucket, object);
    let mut opts = PutOpts {
        cksum_type: props.checksum.ty.clone(),
        skip_vc: true,
        versioning: false,
        fsync: core.node.cfg.fsync,
        ..Default::default()
    };
    let mut w = multipart::part_writer(&mp, &Bck::ais(bucket), &id, number)
        .await
        .map_err(&fail)?;
    if let Err(e) = w.set_cksums(&opts) {
        w.abort().await;
        return Err(fail(e));
    }
    let mut md5 = Md5::new();
    let w = receive_into(conn, req, w, |b| md5.update(b), &fail).await?;
    let digest: [u8; 16] = md5.finalize().into();
    let etag = net::hex::encode(&digest);
    opts.custom = vec![("ETag".into(), etag.clone())];
    w.commit(&opts).await.map_err(&fail)?;
    let quoted = format!("\"{etag}\"");
    conn.respond(200, &[("ETag", &quoted)], b"")
        .await
        .map_err(io_err)?;
    Ok(Outcome::KeepAlive)
}

async fn complete(
    core: &Rc<Core>,
    conn: &mut Conn,
    mp: &Mountpath,
    bucket: &str,
    object: &str,
    id: &str,
    value: serde_json::Value,
) -> Result<Outcome, ApiError> {
    let props = core.bucket_props(bucket)?;
    let u = upload(mp, bucket, object, id)?;
    let mut wanted: Vec<CompletedPart> = serde_json::from_value(value).map_err(|e| {
        ApiError::bad_request(format!(
            "{ACT_MPT_COMPLETE}: value must be a list of {{\"part-number\", \"etag\"}}: {e}"
        ))
    })?;
    if wanted.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{ACT_MPT_COMPLETE}: no parts listed"
        )));
    }
    wanted.sort_by_key(|p| p.part_number);
    if let Some(w) = wanted
        .windows(2)
        .find(|w| w[0].part_number == w[1].part_number)
    {
        return Err(ApiError::bad_request(format!(
            "{ACT_MPT_COMPLETE}: part {} listed twice",
            w[0].part_number
        )));
    }
    let fail = engine_err(core, bucket, object);
    let have = multipart::parts(mp, &Bck::ais(bucket), id).map_err(&fail)?;
    for p in &wanted {
        let got = have
            .iter()
            .find(|h| h.number == p.part_number)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{ACT_MPT_COMPLETE}: part {} of upload {id} was not uploaded",
                    p.part_number
                ))
            })?;
        let want = p.etag.trim_matches('"');
        if !want.is_empty() && want != got.etag.trim_matches('"') {
            return Err(ApiError::bad_request(format!(
                "{ACT_MPT_COMPLETE}: part {}: ETag {want:?} does not match the uploaded part's {:?}",
                p.part_number, got.etag
            )));
        }
    }
    let numbers: Vec<u32> = wanted.iter().map(|p| p.part_number).collect();
    let opts = PutOpts {
        cksum_type: props.checksum.ty.clone(),
        custom: u.custom.clone(),
        versioning: props.versioning.enabled,
        fsync: core.node.cfg.fsync,
        ..Default::default()
    };
    multipart::complete(mp, &Bck::ais(bucket), id, &numbers, &opts)
        .await
        .map_err(&fail)?;
    core.mirror_after_put(mp, bucket, object)
        .await
        .map_err(&fail)?;
    core.ec_after_put(mp, bucket, object).await?;
    send_ok(conn).await
}

/// `DELETE /v1/objects/B/O` with an `uploadId` or an action message: `mpt-abort` drops the
/// upload; the object itself is never deleted by such a request.
pub async fn delete_with_action(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mp: Arc<Mountpath>,
    bucket: &str,
    object: &str,
) -> Result<Outcome, ApiError> {
    let action = if req.has_body() {
        actmsg(conn, req).await?.action
    } else {
        ACT_MPT_ABORT.to_string()
    };
    match action.as_str() {
        ACT_MPT_ABORT => {
            let id = upload_id(req)?.to_string();
            upload(&mp, bucket, object, &id)?;
            multipart::abort(&mp, &Bck::ais(bucket), &id)
                .map_err(engine_err(core, bucket, object))?;
            send_ok(conn).await
        }
        // One remote object's cached copy goes; the backend keeps it (AIS EvictObject).
        "evict-listrange" if cluster::remote::is_remote(bucket) => {
            if core.delete_object(&mp, bucket, object).is_err() {
                return Err(ApiError::new(
                    404,
                    format!(
                        "{}/{object} is not present in the cluster",
                        cluster::buckets::cname(bucket)
                    ),
                ));
            }
            send_ok(conn).await
        }
        "evict-listrange" => Err(ApiError::bad_request(format!(
            "evict-listrange: {} is not a remote bucket",
            cluster::buckets::cname(bucket)
        ))),
        "" => Err(ApiError::bad_request("missing action in control message")),
        a => Err(ApiError::not_implemented(format!(
            "DELETE object with action {a:?} is not supported by this node"
        ))),
    }
}
