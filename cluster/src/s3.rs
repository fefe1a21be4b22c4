//! S3 front end under `/s3` (spec §8), path-style: `/s3/<bucket>/<key>`. Buckets are the
//! same AIS buckets the native API sees, and objects written through either API read back
//! through the other (S3 metadata lives in the LOM's custom keys: `ETag`, `Content-Type`,
//! user metadata under its own name).
//!
//! Routing: S3 clients do not follow redirects for uploads, so an object request that lands
//! on a core that does not own the object's mountpath is handed to the owning core (the
//! connection moves, see server.rs); bucket requests are served where they land.
//! Authentication: SigV4 (header or presigned) is verified when access keys are configured;
//! with none configured every request is accepted (signatures are not checked).
//! Protocol details (SigV4, XML, aws-chunked, conditionals) are sans-IO in `net::s3`.

use crate::api_error::ApiError;
use crate::rebalance::GfnMark;
use crate::server::{Core, Outcome, Req};
use crate::target::{send_object, SendError};
use engine::layout::Bck;
use engine::lom::Lom;
use engine::mountpath::Mountpath;
use engine::object::{ObjectReader, ObjectWriter, PutOpts};
use md5::{Digest, Md5};
use net::conn::{Body, Conn};
use net::http;
use net::s3::checksum::{ChecksumAlgorithm, ChecksumHasher};
use net::s3::chunked::AwsChunkedDecoder;
use net::s3::conditional::Preconditions;
use net::s3::sigv4::{self, AuthKind, PayloadHash, RequestParts, Sha256BodyCheck, SigningContext};
use net::s3::xml;
use net::s3::{etag, S3Error, S3ErrorCode};
use std::rc::Rc;
use std::sync::Arc;

/// Socket-to-disk buffer of an S3 PUT.
pub const S3_RECV_BYTES: usize = 256 * 1024;
/// Raw (still aws-chunked) bytes buffered ahead of the decoder.
pub const S3_RAW_BYTES: usize = 64 * 1024;
/// S3's minimum size of every multipart part but the last.
pub const PART_BYTES_MIN: u64 = 5 << 20;
/// S3's single-PUT limit.
pub const PUT_BYTES_MAX: u64 = 5 << 40;
/// Control bodies (DeleteObjects, CompleteMultipartUpload, configurations).
pub const S3_XML_BODY_BYTES_MAX: usize = 8 << 20;
/// Custom metadata keys that are ours, not user metadata.
const RESERVED_MD: [&str; 9] = [
    "ETag",
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
const KEPT_HEADERS: [(&str, &str); 6] = [
    ("content-type", "Content-Type"),
    ("content-encoding", "Content-Encoding"),
    ("content-disposition", "Content-Disposition"),
    ("cache-control", "Cache-Control"),
    ("content-language", "Content-Language"),
    ("expires", "Expires"),
];
/// Max characters greater than any other in a name: skips everything under a common prefix.
const AFTER_ALL: &str = "\u{10FFFF}\u{10FFFF}\u{10FFFF}\u{10FFFF}";

type S3Result<T> = Result<T, S3Error>;

fn s3err(code: S3ErrorCode, msg: impl Into<String>) -> S3Error {
    S3Error::new(code, msg)
}

fn internal(msg: impl Into<String>) -> S3Error {
    s3err(S3ErrorCode::InternalError, msg)
}

/// Engine errors onto S3 codes, in one place.
fn from_engine(e: engine::Error, bucket: &str, key: &str) -> S3Error {
    use engine::Error as E;
    match e {
        E::InvalidName(m) => s3err(S3ErrorCode::InvalidArgument, m),
        E::NotFound(_) => s3err(S3ErrorCode::NoSuchKey, "The specified key does not exist.")
            .with_resource(format!("/{bucket}/{key}")),
        E::ChecksumMismatch { .. } => s3err(S3ErrorCode::BadDigest, e.to_string()),
        E::UnsupportedChecksum(_) => s3err(S3ErrorCode::InvalidArgument, e.to_string()),
        E::Corrupt { .. } => {
            tracing::error!(bucket, object = key, error = %e, "corrupted object");
            internal(format!("object {bucket}/{key} is corrupted: {e}"))
        }
        E::NoSpace { .. } => internal(e.to_string()),
        E::Io { .. } | E::Mountpath(_) | E::Exists(_) => {
            tracing::error!(bucket, object = key, error = %e, "disk error");
            internal(e.to_string())
        }
    }
}

fn conn_err(e: net::conn::ConnError) -> S3Error {
    s3err(
        S3ErrorCode::IncompleteBody,
        format!("reading request body: {e}"),
    )
}

/// Parsed `/s3/<bucket>/<key>`.
struct Target {
    bucket: String,
    key: String,
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
    let t = Target { bucket, key };
    // Object requests run on the core that owns the object's mountpath.
    if core.node.cfg.role != crate::node::Role::Proxy
        && !t.bucket.is_empty()
        && !t.key.is_empty()
        && engine::name::validate_object(&t.key).is_ok()
        && engine::name::validate_bucket(&t.bucket).is_ok()
    {
        let (_, owner) = core.owner(&t.bucket, &t.key);
        if owner != core.id {
            return Outcome::Handoff(owner);
        }
    }
    let request_id = format!("{}{:x}", core.id, crate::time::now_unix_ns());
    let result = route(core, conn, req, &t).await;
    match result {
        Ok(o) => o,
        Err(e) => {
            let e = e.with_request_id(&request_id);
            let close = !req.body_done || !req.head.keep_alive;
            if e.status() >= 500 {
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
    }
}

async fn route(core: &Rc<Core>, conn: &mut Conn, req: &mut Req, t: &Target) -> S3Result<Outcome> {
    let signing = authenticate(core, req)?;
    let method = req.head.method.clone();
    if t.bucket.is_empty() {
        return match method.as_str() {
            "GET" => list_buckets(core, conn).await,
            _ => Err(s3err(
                S3ErrorCode::MethodNotAllowed,
                format!("{method} / is not allowed"),
            )),
        };
    }
    if let Err(m) = engine::name::validate_bucket(&t.bucket) {
        return Err(s3err(S3ErrorCode::InvalidBucketName, m));
    }
    for sub in [
        "lifecycle",
        "policy",
        "cors",
        "acl",
        "tagging",
        "website",
        "replication",
        "encryption",
        "object-lock",
        "notification",
    ] {
        if req.q(sub).is_some() {
            return Err(s3err(
                S3ErrorCode::NotImplemented,
                format!("?{sub} is not implemented"),
            ));
        }
    }
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
    engine::name::validate_object(&t.key).map_err(|m| s3err(S3ErrorCode::InvalidArgument, m))?;
    // A target that just joined may not have the BMD with this bucket yet: ask the primary
    // before answering NoSuchBucket (as the native API does).
    let known = core.bmd().buckets.contains_key(&t.bucket)
        || (core.node.cfg.role == crate::node::Role::Target
            && crate::membership::refresh_bmd_for(&core.node, &t.bucket).await);
    if !known {
        return Err(no_such_bucket(&t.bucket));
    }
    let (mpi, owner) = core.owner(&t.bucket, &t.key);
    let mpi = match method.as_str() {
        "GET" | "HEAD" | "DELETE" if req.q("uploadId").is_none() => {
            crate::target::locate(core, mpi, &t.bucket, &t.key)
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
                return Err(s3err(
                    S3ErrorCode::NotImplemented,
                    "UploadPartCopy is not implemented",
                ));
            }
            upload_part(core, conn, req, mpi, t, signing).await
        }
        "PUT" if req.head.header("x-amz-copy-source").is_some() => {
            copy_object(core, conn, req, mpi, t).await
        }
        "PUT" => put_object(core, conn, req, mpi, t, signing).await,
        "GET" if req.q("uploadId").is_some() => list_parts(core, conn, req, mpi, t).await,
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

fn no_such_bucket(bucket: &str) -> S3Error {
    s3err(
        S3ErrorCode::NoSuchBucket,
        "The specified bucket does not exist",
    )
    .with_resource(format!("/{bucket}"))
}

/// Presigned URLs in the legacy SigV2 query form (`AWSAccessKeyId`, `Expires`,
/// `Signature` = base64 HMAC-SHA1), which boto3's `generate_presigned_url` still produces
/// by default. Clients sign the resource with or without our `/s3` prefix; both are tried.
fn verify_sigv2_query(req: &Req, creds: &[(String, String)]) -> S3Result<()> {
    use base64::Engine as _;
    use hmac::{Hmac, Mac};
    let ak = req.q("AWSAccessKeyId").unwrap_or("");
    let sig = req.q("Signature").unwrap_or("");
    let expires = req.q("Expires").unwrap_or("");
    let Some((_, secret)) = creds.iter().find(|(k, _)| k == ak) else {
        return Err(S3Error::from_code(S3ErrorCode::InvalidAccessKeyId));
    };
    let exp: i64 = expires
        .parse()
        .map_err(|_| s3err(S3ErrorCode::AccessDenied, "Expires is not a number"))?;
    if exp < crate::time::now_unix_ns() / 1_000_000_000 {
        return Err(s3err(S3ErrorCode::AccessDenied, "Request has expired"));
    }
    let want = base64::engine::general_purpose::STANDARD
        .decode(sig)
        .map_err(|_| {
            s3err(
                S3ErrorCode::SignatureDoesNotMatch,
                "Signature is not base64",
            )
        })?;
    let mut amz: Vec<(String, String)> = req
        .head
        .headers
        .iter()
        .filter(|(k, _)| k.starts_with("x-amz-"))
        .map(|(k, v)| (k.clone(), v.trim().to_string()))
        .collect();
    amz.sort();
    let amz: String = amz.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let md5 = req.head.header("content-md5").unwrap_or("");
    let ctype = req.head.header("content-type").unwrap_or("");
    let full = req.head.path.as_str();
    let short = full
        .strip_prefix("/s3")
        .filter(|r| !r.is_empty())
        .unwrap_or(full);
    for resource in [full, short] {
        let sts = format!(
            "{}\n{md5}\n{ctype}\n{expires}\n{amz}{resource}",
            req.head.method
        );
        let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(secret.as_bytes())
            .expect("HMAC takes any key");
        mac.update(sts.as_bytes());
        if mac.verify_slice(&want).is_ok() {
            return Ok(());
        }
    }
    Err(s3err(S3ErrorCode::SignatureDoesNotMatch, "The request signature we calculated does not match the signature you provided (SigV2 presigned URL)"))
}

/// SigV4 when access keys are configured. Returns the signing context for aws-chunked bodies.
fn authenticate(core: &Core, req: &Req) -> S3Result<Option<SigningContext>> {
    let creds = &core.node.cfg.s3_credentials;
    let parts = RequestParts {
        method: &req.head.method,
        raw_path: &req.head.path,
        raw_query: &req.head.query,
        headers: &req.head.headers,
    };
    let auth = sigv4::parse_auth(&parts);
    if creds.is_empty() {
        // Anonymous access: signatures are not verified, but a malformed one is still an error.
        auth?;
        return Ok(None);
    }
    if req.q("AWSAccessKeyId").is_some() && req.q("Signature").is_some() {
        verify_sigv2_query(req, creds)?;
        return Ok(None);
    }
    let auth = match auth? {
        AuthKind::Anonymous => {
            return Err(s3err(
                S3ErrorCode::AccessDenied,
                "Access Denied: anonymous requests are not allowed",
            ))
        }
        AuthKind::Header(a) | AuthKind::Presigned(a) => a,
    };
    let now = crate::time::now_unix_ns() / 1_000_000_000;
    let lookup = |ak: &str| creds.iter().find(|(k, _)| k == ak).map(|(_, s)| s.clone());
    match sigv4::verify(&parts, &auth, lookup, now) {
        Err(e) if e.code == S3ErrorCode::SignatureDoesNotMatch => {
            // Some clients (s3cmd) put our `/s3` path prefix into the signed host instead of
            // the signed path: `Host: h:p` + `/s3/b/k` is signed as host `h:p/s3` + `/b/k`.
            // The signature still covers method, path, query, headers and payload.
            let Some(rest) = req.head.path.strip_prefix("/s3") else {
                return Err(e);
            };
            let path = if rest.is_empty() { "/" } else { rest };
            let headers: Vec<(String, String)> = req
                .head
                .headers
                .iter()
                .map(|(k, v)| {
                    if k == "host" {
                        (k.clone(), format!("{v}/s3"))
                    } else {
                        (k.clone(), v.clone())
                    }
                })
                .collect();
            let alt = RequestParts {
                method: &req.head.method,
                raw_path: path,
                raw_query: &req.head.query,
                headers: &headers,
            };
            sigv4::verify(&alt, &auth, lookup, now)
                .map(Some)
                .map_err(|_| e)
        }
        other => other.map(Some),
    }
}

async fn send_xml(
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

async fn send_empty(conn: &mut Conn, status: u16, extra: &[(&str, &str)]) -> S3Result<Outcome> {
    let mut hs: Vec<(&str, &str)> = vec![("Server", "AIStore")];
    hs.extend_from_slice(extra);
    conn.respond(status, &hs, b"").await.map_err(conn_err)?;
    Ok(Outcome::KeepAlive)
}

async fn read_small_body(conn: &mut Conn, req: &mut Req) -> S3Result<Vec<u8>> {
    let b = conn
        .body(req.head.body)
        .read_to_vec(S3_XML_BODY_BYTES_MAX)
        .await
        .map_err(|e| s3err(S3ErrorCode::MalformedXml, e.to_string()))?;
    req.body_done = true;
    Ok(b)
}

fn owner() -> xml::Owner {
    xml::Owner {
        id: "aistore".into(),
        display_name: "aistore".into(),
    }
}

async fn list_buckets(core: &Rc<Core>, conn: &mut Conn) -> S3Result<Outcome> {
    let bmd = core.bmd();
    let entries: Vec<xml::BucketEntry> = bmd
        .buckets
        .iter()
        .map(|(name, p)| xml::BucketEntry {
            name: name.clone(),
            creation_date_unix_nanos: p.created,
        })
        .collect();
    send_xml(
        conn,
        200,
        &xml::list_all_my_buckets(&owner(), &entries),
        &[],
    )
    .await
}

async fn bucket_op(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    bucket: &str,
    method: &str,
) -> S3Result<Outcome> {
    let exists = core.bmd().buckets.contains_key(bucket);
    let api = |e: ApiError| match e.status {
        404 => no_such_bucket(bucket),
        409 => s3err(
            S3ErrorCode::BucketAlreadyOwnedByYou,
            "Your previous request to create the named bucket succeeded and you already own it.",
        ),
        _ => internal(e.message),
    };
    match method {
        "PUT" if req.q("versioning").is_some() => {
            let body = read_small_body(conn, req).await?;
            if !exists {
                return Err(no_such_bucket(bucket));
            }
            match xml::parse_versioning_configuration(&body)? {
                Some(xml::VersioningStatus::Enabled) => Err(s3err(
                    S3ErrorCode::NotImplemented,
                    "S3 object versioning (version IDs) is not implemented",
                )),
                _ => send_empty(conn, 200, &[]).await,
            }
        }
        "PUT" => {
            let body = read_small_body(conn, req).await?;
            xml::parse_create_bucket_configuration(&body)?;
            crate::proxy::create_bucket(core, bucket, &format!("ais://{bucket}"))
                .await
                .map_err(api)?;
            let loc = format!("/{bucket}");
            send_empty(conn, 200, &[("Location", &loc)]).await
        }
        _ if !exists => Err(no_such_bucket(bucket)),
        "HEAD" => send_empty(conn, 200, &[("x-amz-bucket-region", "us-east-1")]).await,
        "DELETE" => {
            let node = core.node.clone();
            let b = bucket.to_string();
            let no_objects = gather(core, bucket, "", "", 1).await?.is_empty();
            let empty = no_objects
                && glommio::executor()
                    .spawn_blocking(move || {
                        let bck = Bck::ais(&b);
                        node.mountpaths.load().with_data().iter().all(|m| {
                            engine::multipart::list(m, &bck)
                                .map(|v| v.is_empty())
                                .unwrap_or(false)
                        })
                    })
                    .await;
            if !empty {
                return Err(s3err(
                    S3ErrorCode::BucketNotEmpty,
                    "The bucket you tried to delete is not empty",
                )
                .with_resource(format!("/{bucket}")));
            }
            crate::proxy::destroy_bucket(core, bucket, &format!("ais://{bucket}"))
                .await
                .map_err(api)?;
            send_empty(conn, 204, &[]).await
        }
        "GET" if req.q("location").is_some() => {
            send_xml(conn, 200, &xml::location_constraint(""), &[]).await
        }
        "GET" if req.q("versioning").is_some() => {
            send_xml(conn, 200, &xml::versioning_configuration(None), &[]).await
        }
        "GET" if req.q("uploads").is_some() => list_uploads(core, conn, req, bucket).await,
        "GET" => list_objects(core, conn, req, bucket).await,
        "POST" if req.q("delete").is_some() => delete_objects(core, conn, req, bucket).await,
        m => Err(s3err(
            S3ErrorCode::MethodNotAllowed,
            format!("{m} is not allowed on a bucket"),
        )),
    }
}

/// Entries (name, size, etag, mtime) after `after` with `prefix`, across all mountpaths, sorted.
fn gather_local(
    node: &crate::node::Node,
    bucket: &str,
    prefix: &str,
    after: &str,
    limit: usize,
) -> Result<Vec<xml::ObjectEntry>, engine::Error> {
    let bck = Bck::ais(bucket);
    let mut all = Vec::new();
    for m in node.mountpaths.load().with_data() {
        for e in engine::list::list(&m, &bck, prefix, after, limit, true)? {
            let (etag, mtime) = match &e.lom {
                Some(l) => (lom_etag(l), l.mtime_ns),
                None => (String::from("\"\""), 0),
            };
            all.push(xml::ObjectEntry {
                key: e.name,
                last_modified_unix_nanos: mtime,
                etag,
                size_bytes: e.size,
            });
        }
    }
    all.sort_by(|a, b| a.key.cmp(&b.key));
    all.dedup_by(|a, b| a.key == b.key);
    all.truncate(limit);
    Ok(all)
}

/// Same as [`gather_local`], for the node's role: a proxy of a multi-node cluster asks every
/// target for one native listing page (with ETag in custom metadata and mtime).
async fn gather(
    core: &Rc<Core>,
    bucket: &str,
    prefix: &str,
    after: &str,
    limit: usize,
) -> S3Result<Vec<xml::ObjectEntry>> {
    if core.node.cfg.role != crate::node::Role::Proxy {
        let node = core.node.clone();
        let (b, p, a) = (bucket.to_string(), prefix.to_string(), after.to_string());
        return glommio::executor()
            .spawn_blocking(move || gather_local(&node, &b, &p, &a, limit))
            .await
            .map_err(|e| internal(format!("listing {bucket}: {e}")));
    }
    let smap = core.smap();
    let value = serde_json::json!({"prefix": prefix, "pagesize": limit, "props": "name,size,custom,checksum,last-modified", "continuation_token": after, "flags": "0"});
    let body =
        serde_json::to_vec(&serde_json::json!({"action": "list", "name": "", "value": value}))
            .expect("json");
    let mut all = Vec::new();
    for t in smap.tmap.values() {
        let url = format!(
            "{}/v1/buckets/{bucket}?provider=ais",
            t.public_net.direct_url
        );
        let r = crate::membership::call(
            "GET",
            &url,
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/msgpack"),
            ],
            &body,
        )
        .await
        .map_err(|e| internal(format!("listing on target {}: {e}", t.daemon_id)))?;
        if r.status != 200 {
            return Err(internal(format!(
                "listing on target {}: status {}",
                t.daemon_id, r.status
            )));
        }
        let page: net::api::LsoPage = rmp_serde::from_slice(&r.body)
            .map_err(|e| internal(format!("bad listing page from {}: {e}", t.daemon_id)))?;
        for e in page.entries {
            let etag = e
                .custom
                .split(", ")
                .find_map(|kv| kv.strip_prefix("ETag="))
                .map(|v| format!("\"{}\"", etag::unquote(v)))
                .unwrap_or_else(|| format!("\"{}\"", e.checksum));
            all.push(xml::ObjectEntry {
                key: e.name,
                last_modified_unix_nanos: e.mtime_ns,
                etag,
                size_bytes: e.size.max(0) as u64,
            });
        }
    }
    all.sort_by(|a, b| a.key.cmp(&b.key));
    all.dedup_by(|a, b| a.key == b.key);
    all.truncate(limit);
    Ok(all)
}

/// A listing page with delimiter roll-up: (contents, common prefixes, truncated, last item).
#[allow(clippy::type_complexity)]
async fn list_page(
    core: &Rc<Core>,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    start: &str,
    max_keys: usize,
) -> S3Result<(Vec<xml::ObjectEntry>, Vec<String>, bool, String)> {
    let delimiter = delimiter.filter(|d| !d.is_empty());
    let mut contents = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    let mut after = start.to_string();
    // A marker that is itself a common prefix means "everything under it was listed".
    if let Some(d) = delimiter {
        if after.ends_with(d) && after.starts_with(prefix) && after.len() > prefix.len() {
            after.push_str(AFTER_ALL);
        }
    }
    let mut last = String::new();
    loop {
        let batch = gather(core, bucket, prefix, &after, max_keys + 1).await?;
        let n = batch.len();
        let mut restarted = false;
        for e in batch {
            if contents.len() + prefixes.len() >= max_keys {
                return Ok((contents, prefixes, true, last));
            }
            let cp = delimiter.and_then(|d| {
                e.key[prefix.len()..]
                    .find(d)
                    .map(|i| e.key[..prefix.len() + i + d.len()].to_string())
            });
            match cp {
                Some(cp) => {
                    after = format!("{cp}{AFTER_ALL}");
                    last = cp.clone();
                    prefixes.push(cp);
                    restarted = true;
                    break;
                }
                None => {
                    after = e.key.clone();
                    last = e.key.clone();
                    contents.push(e);
                }
            }
        }
        if !restarted && n <= max_keys {
            return Ok((contents, prefixes, false, last));
        }
    }
}

async fn list_objects(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    bucket: &str,
) -> S3Result<Outcome> {
    let v2 = req.q("list-type") == Some("2");
    let prefix = req.q("prefix").unwrap_or("").to_string();
    let delimiter = req
        .q("delimiter")
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    let max_keys: usize = match req.q("max-keys") {
        None => 1000,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| {
                s3err(
                    S3ErrorCode::InvalidArgument,
                    format!("max-keys {v:?} is not a number"),
                )
            })?
            .min(xml::LIST_KEYS_MAX as usize),
    };
    let url_encode = xml::parse_encoding_type(req.q("encoding-type"))?;
    let token = req.q("continuation-token").map(str::to_string);
    let start_after = req.q("start-after").map(str::to_string);
    let marker = req.q("marker").unwrap_or("").to_string();
    let start = if v2 {
        token
            .clone()
            .or_else(|| start_after.clone())
            .unwrap_or_default()
    } else {
        marker.clone()
    };
    let (contents, prefixes, truncated, last) = if max_keys == 0 {
        (vec![], vec![], false, String::new())
    } else {
        list_page(
            core,
            bucket,
            &prefix,
            delimiter.as_deref(),
            &start,
            max_keys,
        )
        .await?
    };
    let fetch_owner = req.q_true("fetch-owner");
    let body = if v2 {
        xml::list_objects_v2(&xml::ListObjectsV2 {
            bucket: bucket.to_string(),
            prefix,
            delimiter,
            max_keys: max_keys as u32,
            is_truncated: truncated,
            continuation_token: token,
            next_continuation_token: truncated.then_some(last),
            start_after,
            url_encode,
            owner: fetch_owner.then(owner),
            contents,
            common_prefixes: prefixes,
        })
    } else {
        xml::list_objects_v1(&xml::ListObjectsV1 {
            bucket: bucket.to_string(),
            prefix,
            marker,
            next_marker: (truncated && delimiter.is_some()).then_some(last),
            delimiter,
            max_keys: max_keys as u32,
            is_truncated: truncated,
            url_encode,
            owner: Some(owner()),
            contents,
            common_prefixes: prefixes,
        })
    };
    send_xml(conn, 200, &body, &[]).await
}

fn lom_etag(l: &Lom) -> String {
    match l.custom_get("ETag") {
        Some(e) => format!("\"{}\"", etag::unquote(e)),
        None => format!("\"{}\"", l.cksum_value),
    }
}

/// Headers of GET/HEAD: ETag, Last-Modified, Content-Type and kept headers, user metadata.
fn object_headers(l: &Lom) -> Vec<(&'static str, String)> {
    let mut h: Vec<(&'static str, String)> = vec![
        ("ETag", lom_etag(l)),
        (
            "Last-Modified",
            net::s3::time::format_http_date(l.mtime_ns / 1_000_000_000),
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

fn user_md_headers(l: &Lom) -> Vec<(String, String)> {
    l.custom
        .iter()
        .filter(|(k, _)| !RESERVED_MD.contains(&k.as_str()))
        .map(|(k, v)| (format!("x-amz-meta-{k}"), v.clone()))
        .collect()
}

/// Custom metadata from request headers: user metadata and kept standard headers.
fn md_from_request(req: &Req) -> S3Result<Vec<(String, String)>> {
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
    engine::lom::validate_custom(&out).map_err(|m| s3err(S3ErrorCode::InvalidArgument, m))?;
    Ok(out)
}

/// The request payload: plain or aws-chunked, with the declared SHA-256 checked.
struct Payload {
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
        let sha = hash.as_ref().and_then(|h| h.body_check());
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
async fn receive(
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
    let mut buf = vec![0u8; S3_RECV_BYTES];
    let mut total = 0u64;
    {
        let mut body = conn.body(req.head.body);
        loop {
            let n = payload.read(&mut body, &mut buf).await?;
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
            md5.update(&buf[..n]);
            if let Some((h, _, _)) = header_ck.as_mut() {
                h.update(&buf[..n]);
            }
            w.write(&buf[..n])
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

fn put_opts(core: &Core, bucket: &str, custom: Vec<(String, String)>) -> PutOpts {
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

async fn put_object(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mpi: Arc<Mountpath>,
    t: &Target,
    signing: Option<SigningContext>,
) -> S3Result<Outcome> {
    let mut custom = md_from_request(req)?;
    let mp = &mpi;
    let bck = Bck::ais(&t.bucket);
    let mut w = ObjectWriter::create(mp, &bck, &t.key)
        .await
        .map_err(|e| from_engine(e, &t.bucket, &t.key))?;
    let digest = match receive(conn, req, &mut w, signing.as_ref()).await {
        Ok(d) => d,
        Err(e) => {
            w.abort().await;
            return Err(e);
        }
    };
    let etag_hex = etag::md5_etag(&digest);
    custom.retain(|(k, _)| k != "ETag");
    custom.push(("ETag".into(), etag::unquote(&etag_hex).to_string()));
    let opts = put_opts(core, &t.bucket, custom);
    let res = w
        .commit(&opts)
        .await
        .map_err(|e| from_engine(e, &t.bucket, &t.key))?;
    let _ = res;
    send_empty(conn, 200, &[("ETag", &etag_hex)]).await
}

async fn get_object(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mpi: Arc<Mountpath>,
    t: &Target,
) -> S3Result<Outcome> {
    let mp = &mpi;
    let rd = match ObjectReader::open(mp, &Bck::ais(&t.bucket), &t.key).await {
        Ok(rd) => rd,
        Err(engine::Error::NotFound(_)) => {
            // During a rebalance the object may still (or already) be on another target.
            match crate::rebalance::get_from_neighbor(
                core,
                conn,
                req,
                &t.bucket,
                &t.key,
                GfnMark::Header,
            )
            .await
            {
                Ok(Some(o)) => return Ok(o),
                // Rebalance may have moved it here while the neighbour was asked.
                Ok(None) => ObjectReader::open(mp, &Bck::ais(&t.bucket), &t.key)
                    .await
                    .map_err(|e| from_engine(e, &t.bucket, &t.key))?,
                Err(e) => return Err(internal(e.message)),
            }
        }
        Err(e) => return Err(from_engine(e, &t.bucket, &t.key)),
    };
    let lom = rd.lom.clone();
    let pre = Preconditions::from_headers(&req.head.headers);
    let is_head = req.head.method == "HEAD";
    if let Err(e) = pre.evaluate(&lom_etag(&lom), lom.mtime_ns / 1_000_000_000, true) {
        rd.close().await;
        if e.status() == 304 {
            let et = lom_etag(&lom);
            let lm = net::s3::time::format_http_date(lom.mtime_ns / 1_000_000_000);
            return send_empty(conn, 304, &[("ETag", &et), ("Last-Modified", &lm)]).await;
        }
        return Err(e);
    }
    let size = lom.size;
    let range = match req.head.header("range") {
        None => None,
        Some(v) => match http::parse_range(v, size) {
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
        && matches!(lom.cksum_type.as_str(), "xxhash" | "xxhash2")
        && core
            .bmd()
            .buckets
            .get(&t.bucket)
            .map(|p| p.checksum.validate_warm_get)
            .unwrap_or(true);
    let mut hv: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    hv.extend(user.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    match send_object(conn, rd, start, len, status, &hv, verify).await {
        Ok(o) => Ok(o),
        Err(SendError::Corrupt { expected, actual }) => Err(internal(format!(
            "object {}/{} is corrupted: stored checksum {expected}, computed {actual}",
            t.bucket, t.key
        ))),
        Err(SendError::Read(e)) => Err(internal(format!("reading {}/{}: {e}", t.bucket, t.key))),
        Err(SendError::Conn(e)) => Err(conn_err(e)),
    }
}

async fn delete_object(
    _core: &Rc<Core>,
    conn: &mut Conn,
    mpi: Arc<Mountpath>,
    t: &Target,
) -> S3Result<Outcome> {
    match engine::object::delete(&mpi, &Bck::ais(&t.bucket), &t.key) {
        Ok(()) | Err(engine::Error::NotFound(_)) => send_empty(conn, 204, &[]).await,
        Err(e) => Err(from_engine(e, &t.bucket, &t.key)),
    }
}

async fn delete_objects(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    bucket: &str,
) -> S3Result<Outcome> {
    let body = read_small_body(conn, req).await?;
    let (keys, quiet) = xml::parse_delete_objects(&body)?;
    if core.node.cfg.role == crate::node::Role::Proxy {
        // Each key's owner target deletes it (native DELETE with the redirect marker).
        let smap = core.smap();
        let mut outcomes = Vec::with_capacity(keys.len());
        for key in keys {
            if let Err(m) = engine::name::validate_object(&key) {
                outcomes.push(xml::DeleteOutcome::Error {
                    key,
                    code: S3ErrorCode::InvalidArgument,
                    message: m,
                });
                continue;
            }
            let Some(base) = crate::proxy::owner_url(&smap, bucket, &key) else {
                outcomes.push(xml::DeleteOutcome::Error {
                    key,
                    code: S3ErrorCode::ServiceUnavailable,
                    message: "no targets".into(),
                });
                continue;
            };
            let url = format!(
                "{base}/v1/objects/{bucket}/{}?provider=ais&pid={}&utm={}",
                http::percent_encode_path(&key),
                core.node.proxy_id,
                crate::time::base36(crate::time::now_unix_ns() as u64)
            );
            match crate::membership::call("DELETE", &url, &[], b"").await {
                Ok(r) if r.status == 200 || r.status == 404 => {
                    outcomes.push(xml::DeleteOutcome::Deleted { key })
                }
                Ok(r) => outcomes.push(xml::DeleteOutcome::Error {
                    key,
                    code: S3ErrorCode::InternalError,
                    message: String::from_utf8_lossy(&r.body).into_owned(),
                }),
                Err(e) => outcomes.push(xml::DeleteOutcome::Error {
                    key,
                    code: S3ErrorCode::InternalError,
                    message: e,
                }),
            }
        }
        return send_xml(conn, 200, &xml::delete_result(&outcomes, quiet), &[]).await;
    }
    let node = core.node.clone();
    let b = bucket.to_string();
    let outcomes = glommio::executor()
        .spawn_blocking(move || {
            let bck = Bck::ais(&b);
            keys.into_iter()
                .map(|key| {
                    if let Err(m) = engine::name::validate_object(&key) {
                        return xml::DeleteOutcome::Error {
                            key,
                            code: S3ErrorCode::InvalidArgument,
                            message: m,
                        };
                    }
                    let uname = engine::hrw::uname("ais", "", &b, &key);
                    let set = node.mountpaths.load();
                    let (mp, _) = set.choose(&uname).expect("at least one mountpath");
                    if node.resilvering.load(std::sync::atomic::Ordering::Acquire) {
                        for m in set.with_data() {
                            if m.path_str != mp.path_str {
                                let _ = engine::object::delete(&m, &bck, &key);
                            }
                        }
                    }
                    match engine::object::delete(&mp, &bck, &key) {
                        Ok(()) | Err(engine::Error::NotFound(_)) => {
                            xml::DeleteOutcome::Deleted { key }
                        }
                        Err(e) => xml::DeleteOutcome::Error {
                            key,
                            code: S3ErrorCode::InternalError,
                            message: e.to_string(),
                        },
                    }
                })
                .collect::<Vec<_>>()
        })
        .await;
    send_xml(conn, 200, &xml::delete_result(&outcomes, quiet), &[]).await
}

/// `x-amz-copy-source: [/]bucket/key[?versionId=..]`, percent-encoded.
fn parse_copy_source(v: &str) -> S3Result<(String, String)> {
    let v = v.split('?').next().unwrap_or("");
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
    engine::name::validate_bucket(b).map_err(|m| s3err(S3ErrorCode::InvalidArgument, m))?;
    engine::name::validate_object(k).map_err(|m| s3err(S3ErrorCode::InvalidArgument, m))?;
    Ok((b.to_string(), k.to_string()))
}

async fn copy_object(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mpi: Arc<Mountpath>,
    t: &Target,
) -> S3Result<Outcome> {
    let (sb, sk) = parse_copy_source(req.head.header("x-amz-copy-source").unwrap_or(""))?;
    if !core.bmd().buckets.contains_key(&sb) {
        return Err(no_such_bucket(&sb));
    }
    let replace = req
        .head
        .header("x-amz-metadata-directive")
        .map(|d| d.eq_ignore_ascii_case("REPLACE"))
        .unwrap_or(false);
    if sb == t.bucket && sk == t.key && !replace {
        return Err(s3err(S3ErrorCode::InvalidRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata."));
    }
    // The source may sit on another core's mountpath: read it from here (a bounded,
    // sequential read; the destination, which this core owns, is written as usual).
    let (smp, _) = core.owner(&sb, &sk);
    let smp = crate::target::locate(core, smp, &sb, &sk);
    let rd = ObjectReader::open(&smp, &Bck::ais(&sb), &sk)
        .await
        .map_err(|e| from_engine(e, &sb, &sk))?;
    let src = rd.lom.clone();
    if let Err(e) = Preconditions::from_copy_source_headers(&req.head.headers).evaluate(
        &lom_etag(&src),
        src.mtime_ns / 1_000_000_000,
        false,
    ) {
        rd.close().await;
        return Err(e);
    }
    let custom = if replace {
        md_from_request(req)?
    } else {
        src.custom
            .iter()
            .filter(|(k, _)| k != "ETag")
            .cloned()
            .collect()
    };
    let mut w = match ObjectWriter::create(&mpi, &Bck::ais(&t.bucket), &t.key).await {
        Ok(w) => w,
        Err(e) => {
            rd.close().await;
            return Err(from_engine(e, &t.bucket, &t.key));
        }
    };
    let mut s = rd.stream(0, src.size);
    let mut md5 = Md5::new();
    let mut copied = 0u64;
    while copied < src.size {
        let b = match s
            .get_buffer_aligned(engine::object::READ_BUFFER_BYTES as u64)
            .await
        {
            Ok(b) if !b.is_empty() => b,
            Ok(_) => {
                let _ = s.close().await;
                w.abort().await;
                return Err(internal(format!(
                    "source {sb}/{sk} is shorter than its metadata"
                )));
            }
            Err(e) => {
                let _ = s.close().await;
                w.abort().await;
                return Err(internal(format!("reading {sb}/{sk}: {e}")));
            }
        };
        md5.update(&b[..]);
        copied += b.len() as u64;
        if let Err(e) = w.write(&b).await {
            let _ = s.close().await;
            w.abort().await;
            return Err(from_engine(e, &t.bucket, &t.key));
        }
    }
    let _ = s.close().await;
    let digest: [u8; 16] = md5.finalize().into();
    let et = etag::md5_etag(&digest);
    let mut custom = custom;
    custom.push(("ETag".into(), etag::unquote(&et).to_string()));
    let res = w
        .commit(&put_opts(core, &t.bucket, custom))
        .await
        .map_err(|e| from_engine(e, &t.bucket, &t.key))?;
    send_xml(
        conn,
        200,
        &xml::copy_object_result(res.lom.mtime_ns, &et),
        &[],
    )
    .await
}

fn upload_id(req: &Req) -> S3Result<String> {
    let id = req.q("uploadId").unwrap_or("");
    if !engine::multipart::valid_upload_id(id) {
        return Err(s3err(
            S3ErrorCode::NoSuchUpload,
            "The specified upload does not exist.",
        ));
    }
    Ok(id.to_string())
}

fn get_upload(
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

async fn create_upload(
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
    let id = crate::meta::random_id(24);
    let u = engine::multipart::Upload {
        id: id.clone(),
        object: t.key.clone(),
        created_ns: crate::time::now_unix_ns(),
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

async fn upload_part(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mpi: Arc<Mountpath>,
    t: &Target,
    signing: Option<SigningContext>,
) -> S3Result<Outcome> {
    let id = upload_id(req)?;
    let number: u32 = req
        .q("partNumber")
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=engine::multipart::PART_NUMBER_MAX).contains(n))
        .ok_or_else(|| {
            s3err(
                S3ErrorCode::InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive",
            )
        })?;
    get_upload(core, &mpi, t, &id)?;
    let bck = Bck::ais(&t.bucket);
    let mut w = engine::multipart::part_writer(&mpi, &bck, &id, number)
        .await
        .map_err(|e| from_engine(e, &t.bucket, &t.key))?;
    let digest = match receive(conn, req, &mut w, signing.as_ref()).await {
        Ok(d) => d,
        Err(e) => {
            w.abort().await;
            return Err(e);
        }
    };
    let et = etag::md5_etag(&digest);
    let mut opts = put_opts(
        core,
        &t.bucket,
        vec![("ETag".into(), etag::unquote(&et).to_string())],
    );
    opts.skip_vc = true;
    opts.versioning = false;
    w.commit(&opts)
        .await
        .map_err(|e| from_engine(e, &t.bucket, &t.key))?;
    send_empty(conn, 200, &[("ETag", &et)]).await
}

async fn complete_upload(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mpi: Arc<Mountpath>,
    t: &Target,
) -> S3Result<Outcome> {
    let id = upload_id(req)?;
    let body = read_small_body(conn, req).await?;
    let u = get_upload(core, &mpi, t, &id)?;
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
        if i + 1 < wanted.len() && p.size < PART_BYTES_MIN {
            return Err(s3err(S3ErrorCode::EntityTooSmall, format!("part {n} is {} bytes; every part but the last must be at least {PART_BYTES_MIN}", p.size)));
        }
        md5s.push(
            etag::parse_md5_etag(&p.etag)
                .ok_or_else(|| internal(format!("part {n} has no MD5 ETag")))?,
        );
    }
    let final_etag = etag::multipart_etag(&md5s);
    let mut custom = u.custom.clone();
    custom.push(("ETag".into(), etag::unquote(&final_etag).to_string()));
    let numbers: Vec<u32> = wanted.iter().map(|(n, _)| *n).collect();
    let opts = put_opts(core, &t.bucket, custom);
    engine::multipart::complete(&mpi, &bck, &id, &numbers, &opts)
        .await
        .map_err(|e| from_engine(e, &t.bucket, &t.key))?;
    let location = format!("/s3/{}/{}", t.bucket, t.key);
    send_xml(
        conn,
        200,
        &xml::complete_multipart_upload_result(&location, &t.bucket, &t.key, &final_etag),
        &[],
    )
    .await
}

async fn abort_upload(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    mpi: Arc<Mountpath>,
    t: &Target,
) -> S3Result<Outcome> {
    let id = upload_id(req)?;
    get_upload(core, &mpi, t, &id)?;
    engine::multipart::abort(&mpi, &Bck::ais(&t.bucket), &id)
        .map_err(|e| from_engine(e, &t.bucket, &t.key))?;
    send_empty(conn, 204, &[]).await
}

async fn list_parts(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
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

async fn list_uploads(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    bucket: &str,
) -> S3Result<Outcome> {
    if core.node.cfg.role == crate::node::Role::Proxy {
        return Err(s3err(
            S3ErrorCode::NotImplemented,
            "ListMultipartUploads through a proxy of a multi-node cluster is not implemented",
        ));
    }
    let prefix = req.q("prefix").unwrap_or("").to_string();
    let max_uploads: usize = req
        .q("max-uploads")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
        .min(1000);
    let key_marker = req.q("key-marker").unwrap_or("").to_string();
    let url_encode = xml::parse_encoding_type(req.q("encoding-type"))?;
    let node = core.node.clone();
    let b = bucket.to_string();
    let mut all = glommio::executor()
        .spawn_blocking(move || {
            let bck = Bck::ais(&b);
            let mut v = Vec::new();
            for m in node.mountpaths.load().with_data() {
                v.extend(engine::multipart::list(&m, &bck).unwrap_or_default());
            }
            v
        })
        .await;
    all.sort_by(|a, b| (&a.object, &a.id).cmp(&(&b.object, &b.id)));
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
