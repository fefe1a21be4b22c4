//! S3 front end under `/s3` (spec §8), path-style: `/s3/<bucket>/<key>`. Buckets are the
//! same AIS buckets the native API sees, and objects written through either API read back
//! through the other (S3 metadata lives in the LOM's custom keys: `ETag`, `Content-Type`,
//! user metadata under its own name).
//!
//! Routing: S3 clients do not follow redirects for uploads, so an object request that lands
//! on a core that does not own the object's mountpath is handed to the owning core (the
//! connection moves, see server.rs); bucket requests are served where they land.
//!
//! Modules: [`auth`] (SigV4, SigV2), [`subresource`] (the sub-resource table: what is
//! served, what is 501), [`buckets`], [`listing`], [`objects`], [`multipart`]; this one
//! routes and renders errors.
//! Authentication: SigV4 and SigV2 (header or presigned) are verified when access keys are
//! configured; with none configured every request is accepted (any signature is ignored).
//! Protocol details (SigV4, XML, aws-chunked, conditionals) are sans-IO in `net::s3`.

pub mod auth;
pub mod buckets;
pub mod listing;
pub mod multipart;
pub mod objects;
pub mod subresource;

use crate::core::Core;
use crate::req::{Outcome, Req};
use cluster::node::Role;
use net::conn::Conn;
use net::http;
use net::s3::xml;
use net::s3::{S3Error, S3ErrorCode};
use net::time;
use std::rc::Rc;

use auth::authenticate;
use buckets::{bucket_op, list_buckets};
use multipart::{
    abort_upload, complete_upload, create_upload, list_parts, upload_part, upload_part_copy,
};
use objects::{copy_object, delete_object, get_object, get_object_attributes, put_object};
use subresource::Scope;

/// Raw (still aws-chunked) bytes buffered ahead of the decoder.
pub const S3_RAW_BYTES: usize = 64 * 1024;
/// S3's single-PUT limit.
pub const PUT_BYTES_MAX: u64 = 5 << 40;
/// Control bodies (DeleteObjects, CompleteMultipartUpload, configurations).
pub const S3_XML_BODY_BYTES_MAX: usize = 8 << 20;
pub(crate) type S3Result<T> = Result<T, S3Error>;

pub(crate) fn s3err(code: S3ErrorCode, msg: impl Into<String>) -> S3Error {
    S3Error::new(code, msg)
}

pub(crate) fn internal(msg: impl Into<String>) -> S3Error {
    s3err(S3ErrorCode::InternalError, msg)
}

/// Engine errors onto S3 codes, in one place.
pub(crate) fn from_engine(e: engine::Error, bucket: &str, key: &str) -> S3Error {
    use engine::Error as E;
    match e {
        E::InvalidName(m) => s3err(S3ErrorCode::InvalidArgument, m),
        E::NotFound(_) => s3err(S3ErrorCode::NoSuchKey, "The specified key does not exist.")
            .with_resource(format!("/{bucket}/{key}")),
        E::ChecksumMismatch { .. } => {
            cluster::metrics::add(cluster::metrics::M::ErrCksumN, 1);
            s3err(S3ErrorCode::BadDigest, e.to_string())
        }
        E::InvalidChecksum(_) => s3err(S3ErrorCode::InvalidArgument, e.to_string()),
        E::Corrupt { .. } => {
            tracing::error!(bucket, object = key, error = %e, "corrupted object");
            internal(format!("object {bucket}/{key} is corrupted: {e}"))
        }
        E::NoSpace { .. } => s3err(S3ErrorCode::InsufficientStorage, e.to_string()),
        // S3 never reads inside shards; kept exhaustive.
        E::Archive(_) => s3err(S3ErrorCode::InvalidArgument, e.to_string()),
        E::Changed(_) => s3err(S3ErrorCode::PreconditionFailed, e.to_string())
            .with_resource(format!("/{bucket}/{key}")),
        E::Io { .. } | E::Mountpath(_) | E::Exists(_) => {
            tracing::error!(bucket, object = key, error = %e, "disk error");
            cluster::fshc::report(&e);
            internal(e.to_string())
        }
    }
}

pub(crate) fn conn_err(e: net::conn::ConnError) -> S3Error {
    s3err(
        S3ErrorCode::IncompleteBody,
        format!("reading request body: {e}"),
    )
}

/// Parsed `/s3/<bucket>/<key>`.
pub(crate) struct Target {
    pub(crate) bucket: String,
    pub(crate) key: String,
}

/// Entry point for every `/s3...` request. Writes its own response (XML errors).
pub async fn handle(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    decoded_path: &str,
) -> Outcome {
    let rest = decoded_path
        .strip_prefix("/s3")
        .unwrap_or("")
        .trim_start_matches('/');
    let (bucket, key) = match rest.split_once('/') {
        Some((b, k)) => (b.to_string(), k.to_string()),
        None => (rest.to_string(), String::new()),
    };
    let mut t = Target { bucket, key };
    // A name with no `ais://` bucket but a remote one in the BMD (added through the native
    // API, `?provider=aws`) is that remote bucket, as AIS resolves S3 bucket names.
    if !t.bucket.is_empty() && !core.bmd().buckets.contains_key(&t.bucket) {
        let k = engine::layout::bucket_key("aws", &t.bucket);
        if core.bmd().buckets.contains_key(&k) {
            t.bucket = k;
        }
    }
    // Object requests run on the core that owns the object's mountpath.
    if core.node.cfg.role != Role::Proxy
        && !t.bucket.is_empty()
        && !t.key.is_empty()
        && engine::name::validate_object(&t.key).is_ok()
        && engine::name::validate_bucket(engine::layout::split_key(&t.bucket).1).is_ok()
    {
        let (_, owner) = core.owner(&t.bucket, &t.key);
        if owner != core.id {
            return Outcome::Handoff(owner);
        }
    }
    match route(core, conn, req, &t).await {
        Ok(o) => o,
        Err(e) => send_error(core, conn, req, e).await,
    }
}

/// Answer `e` as S3 does (XML, with a request ID).
pub async fn send_error(core: &Core, conn: &mut Conn, req: &Req, e: S3Error) -> Outcome {
    let request_id = format!("{}{:x}", core.id, time::now_unix_ns());
    let e = e.with_request_id(&request_id);
    let close = !req.body_done || !req.head.keep_alive;
    // 501 is an answer (an operation we do not serve), not a failure.
    if e.status() >= 500 && e.status() != 501 {
        tracing::warn!(code = e.as_str(), message = %e.message, "S3 request failed");
    }
    let body = if req.head.method == "HEAD" || e.status() == 304 {
        String::new()
    } else {
        e.to_xml()
    };
    let mut hs: Vec<(&str, &str)> = vec![
        ("Content-Type", "application/xml"),
        ("x-amz-request-id", &request_id),
        ("Server", "AIStore"),
    ];
    if close {
        hs.push(("Connection", "close"));
    }
    let mut out = Vec::new();
    let len = body.len().to_string();
    hs.push(("Content-Length", &len));
    http::write_response_head(&mut out, e.status(), &hs);
    if req.head.method != "HEAD" {
        out.extend_from_slice(body.as_bytes());
    }
    if conn.write_all(&out).await.is_err() || close {
        Outcome::Close
    } else {
        Outcome::KeepAlive
    }
}

pub(crate) async fn route(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    t: &Target,
) -> S3Result<Outcome> {
    let signing = authenticate(core, req)?;
    let method = req.head.method.clone();
    if t.bucket.is_empty() {
        subresource::check(&req.query, &method, Scope::Service)?;
        subresource::check_headers(&req.head.headers, &req.query, &method, Scope::Service)?;
        return match method.as_str() {
            "GET" => list_buckets(core, conn, req).await,
            _ => Err(s3err(
                S3ErrorCode::MethodNotAllowed,
                format!("{method} / is not allowed"),
            )),
        };
    }
    if let Err(e) = engine::name::validate_bucket(engine::layout::split_key(&t.bucket).1) {
        return Err(s3err(S3ErrorCode::InvalidBucketName, e.to_string()));
    }
    if cluster::remote::is_remote(&t.bucket) {
        refuse_on_remote(req, &method, t)?;
    }
    // Sub-resources we do not serve (and unknown parameters) are 501 before anything else:
    // never taken for a plainer request.
    let scope = if t.key.is_empty() {
        Scope::Bucket
    } else {
        Scope::Object
    };
    subresource::check(&req.query, &method, scope)?;
    subresource::check_headers(&req.head.headers, &req.query, &method, scope)?;
    subresource::check_values(&req.head.headers, &req.query)?;
    if t.key.is_empty() {
        return bucket_op(core, conn, req, &t.bucket, &method).await;
    }
    if t.key.len() > net::s3::KEY_BYTES_MAX {
        return Err(s3err(
            S3ErrorCode::KeyTooLongError,
            format!(
                "key of {} bytes exceeds {}",
                t.key.len(),
                net::s3::KEY_BYTES_MAX
            ),
        ));
    }
    engine::name::validate_object(&t.key)
        .map_err(|e| s3err(S3ErrorCode::InvalidArgument, e.to_string()))?;
    // A target that just joined may not have the BMD with this bucket yet: ask the primary
    // before answering NoSuchBucket (as the native API does).
    let known = core.bmd().buckets.contains_key(&t.bucket)
        || (core.node.cfg.role == Role::Target
            && cluster::membership::refresh_bmd_for(&core.node, &t.bucket).await);
    if !known {
        return Err(no_such_bucket(&t.bucket));
    }
    if !matches!(method.as_str(), "GET" | "HEAD") {
        refuse_if_renaming(core, &t.bucket, &method)?;
        // The bucket's `access` prop: every write (uploads and copies into it included)
        // needs PUT, a delete DELETE-OBJECT.
        let ace = match method.as_str() {
            "DELETE" if req.q("uploadId").is_none() => cluster::meta::access::OBJ_DELETE,
            _ => cluster::meta::access::PUT,
        };
        check_access(core, &t.bucket, ace)?;
    }
    let (mpi, owner) = core.owner(&t.bucket, &t.key);
    let mpi = match method.as_str() {
        "GET" | "HEAD" | "DELETE" if req.q("uploadId").is_none() => {
            crate::native::objects::locate(core, mpi, &t.bucket, &t.key)
        }
        _ => mpi,
    };
    debug_assert_eq!(
        owner, core.id,
        "object requests are handed to their owner first"
    );
    match method.as_str() {
        "PUT" if req.q("uploadId").is_some() => {
            if req.head.header("x-amz-copy-source").is_some() {
                return upload_part_copy(core, conn, req, mpi, t).await;
            }
            upload_part(core, conn, req, mpi, t, signing).await
        }
        "PUT" if req.head.header("x-amz-copy-source").is_some() => {
            copy_object(core, conn, req, mpi, t).await
        }
        "PUT" => put_object(core, conn, req, mpi, t, signing).await,
        "GET" if req.q("uploadId").is_some() => list_parts(core, conn, req, mpi, t).await,
        "GET" if req.q("attributes").is_some() => {
            get_object_attributes(core, conn, req, mpi, t).await
        }
        "GET" | "HEAD" => get_object(core, conn, req, mpi, t).await,
        "DELETE" if req.q("uploadId").is_some() => abort_upload(core, conn, req, mpi, t).await,
        "DELETE" => delete_object(core, conn, mpi, t).await,
        "POST" if req.q("uploads").is_some() => create_upload(core, conn, req, mpi, t).await,
        "POST" if req.q("uploadId").is_some() => complete_upload(core, conn, req, mpi, t).await,
        _ => Err(s3err(
            S3ErrorCode::MethodNotAllowed,
            format!("{method} is not allowed on an object"),
        )),
    }
}

/// [`Core::check_access`] as S3's AccessDenied.
pub(crate) fn check_access(core: &Core, bucket: &str, ace: u64) -> S3Result<()> {
    core.check_access(bucket, ace)
        .map_err(|e| s3err(S3ErrorCode::AccessDenied, e.message))
}

pub(crate) fn no_such_bucket(bucket: &str) -> S3Error {
    s3err(
        S3ErrorCode::NoSuchBucket,
        "The specified bucket does not exist",
    )
    .with_resource(format!("/{bucket}"))
}

pub(crate) async fn send_xml(
    conn: &mut Conn,
    status: u16,
    body: &str,
    extra: &[(&str, &str)],
) -> S3Result<Outcome> {
    let mut hs: Vec<(&str, &str)> =
        vec![("Content-Type", "application/xml"), ("Server", "AIStore")];
    hs.extend_from_slice(extra);
    conn.respond(status, &hs, body.as_bytes())
        .await
        .map_err(conn_err)?;
    Ok(Outcome::KeepAlive)
}

pub(crate) async fn send_empty(
    conn: &mut Conn,
    status: u16,
    extra: &[(&str, &str)],
) -> S3Result<Outcome> {
    let mut hs: Vec<(&str, &str)> = vec![("Server", "AIStore")];
    hs.extend_from_slice(extra);
    conn.respond(status, &hs, b"").await.map_err(conn_err)?;
    Ok(Outcome::KeepAlive)
}

pub(crate) async fn read_small_body(conn: &mut Conn, req: &mut Req) -> S3Result<Vec<u8>> {
    let b = conn
        .body(req.head.body)
        .read_to_vec(S3_XML_BODY_BYTES_MAX)
        .await
        .map_err(|e| s3err(S3ErrorCode::MalformedXml, e.to_string()))?;
    req.body_done = true;
    Ok(b)
}

pub(crate) fn owner() -> xml::Owner {
    xml::Owner {
        id: "aistore".into(),
        display_name: "aistore".into(),
    }
}

/// S3 operations on a remote bucket that would not reach its backend (multipart uploads,
/// copies, multi-object delete, bucket configuration): 501 naming them, never done on the
/// cache alone.
fn refuse_on_remote(req: &Req, method: &str, t: &Target) -> S3Result<()> {
    let what = if req.q("uploadId").is_some() || req.q("uploads").is_some() {
        Some("multipart uploads")
    } else if req.head.header("x-amz-copy-source").is_some() {
        Some("CopyObject / UploadPartCopy")
    } else if req.q("delete").is_some() {
        Some("DeleteObjects")
    } else if req.q("attributes").is_some() {
        Some("GetObjectAttributes")
    } else if t.key.is_empty() && !matches!(method, "GET" | "HEAD") {
        Some("bucket operations other than list and HEAD")
    } else {
        None
    };
    match what {
        Some(w) => Err(s3err(
            S3ErrorCode::NotImplemented,
            format!(
                "{w} on remote bucket {} are not implemented through /s3 (GET, HEAD, PUT, DELETE and listing are)",
                cluster::buckets::cname(&t.bucket)
            ),
        )),
        None => Ok(()),
    }
}

/// A bucket being renamed (`move-bck`, cluster::multiobj) takes no writes: 503, which S3
/// clients retry, and the retry finds the bucket gone (NoSuchBucket) once the move ends.
pub(crate) fn refuse_if_renaming(core: &Core, bucket: &str, what: &str) -> S3Result<()> {
    if core
        .with_props(bucket, cluster::multiobj::renaming)
        .unwrap_or(false)
    {
        return Err(s3err(
            S3ErrorCode::ServiceUnavailable,
            format!(
                "bucket {bucket} is being renamed (move-bck): {what} refused until the job ends"
            ),
        ));
    }
    Ok(())
}
