//! S3 bucket requests: ListBuckets, CreateBucket (S3's naming rules), HeadBucket,
//! DeleteBucket (refused while objects or uploads remain), GetBucketLocation, versioning
//! (suspended only), and the bucket-level routes to listing, ListObjectVersions,
//! ListMultipartUploads and DeleteObjects. Sub-resources not served here never get this far
//! (`subresource`).

use super::listing::{gather, list_object_versions, list_objects};
use super::multipart::list_uploads;
use super::objects::delete_objects;
use super::*;
use crate::error::s3_from_cluster;
use engine::layout::Bck;

/// The region every bucket of this node is in (GetBucketLocation, HeadBucket).
pub(crate) const REGION: &str = "us-east-1";
/// ListBuckets' largest page (`max-buckets`), as AWS.
const MAX_BUCKETS: usize = 10_000;

/// ListBuckets, in name order, with AWS's `prefix`, `bucket-region` and paging
/// (`max-buckets`, `continuation-token`: the last name of the previous page).
pub(crate) async fn list_buckets(core: &Rc<Core>, conn: &mut Conn, req: &Req) -> S3Result<Outcome> {
    let prefix = req.q("prefix").unwrap_or("");
    let after = req.q("continuation-token").unwrap_or("");
    let max = match req.q("max-buckets") {
        None => None,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_BUCKETS).contains(&n) => Some(n),
            _ => {
                return Err(s3err(
                    S3ErrorCode::InvalidArgument,
                    format!("max-buckets {v:?}: expected 1 to {MAX_BUCKETS}"),
                ))
            }
        },
    };
    let in_region = req.q("bucket-region").is_none_or(|r| r == REGION);
    let bmd = core.bmd();
    let mut entries: Vec<xml::BucketEntry> = bmd
        .buckets
        .iter()
        .filter(|(name, _)| in_region && name.starts_with(prefix) && name.as_str() > after)
        .map(|(name, p)| xml::BucketEntry {
            name: name.clone(),
            creation_date_unix_nanos: p.created,
        })
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let next = match max {
        Some(n) if entries.len() > n => {
            entries.truncate(n);
            entries.last().map(|e| e.name.clone())
        }
        _ => None,
    };
    let page = xml::BucketsPage {
        prefix: req.q("prefix"),
        continuation_token: next.as_deref(),
    };
    send_xml(
        conn,
        200,
        &xml::list_all_my_buckets(&owner(), &entries, &page),
        &[],
    )
    .await
}

pub(crate) async fn bucket_op(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &mut Req,
    bucket: &str,
    method: &str,
) -> S3Result<Outcome> {
    let exists = core.bmd().buckets.contains_key(bucket);
    let api = |e: cluster::Error| s3_from_cluster(&e, bucket);
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
            // S3's naming rules on S3 (the native API keeps AIS's, which allow more).
            net::s3::names::validate_bucket_name(bucket)?;
            xml::parse_create_bucket_configuration(&body)?;
            cluster::buckets::create(&core.node, bucket, &serde_json::Value::Null)
                .await
                .map_err(api)?;
            let loc = format!("/{bucket}");
            send_empty(conn, 200, &[("Location", &loc)]).await
        }
        _ if !exists => Err(no_such_bucket(bucket)),
        "HEAD" => send_empty(conn, 200, &[("x-amz-bucket-region", REGION)]).await,
        "DELETE" => {
            super::check_access(core, bucket, cluster::meta::access::DESTROY_BUCKET)?;
            let node = core.node.clone();
            let b = bucket.to_string();
            // AWS refuses to delete a bucket that holds objects or uploads; AIS deletes it
            // with its content (`--s3-ais-semantics`).
            let ais = core.node.cfg.s3_ais_semantics;
            let no_objects = ais || gather(core, bucket, "", "", 1).await?.is_empty();
            let empty = ais
                || no_objects
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
            cluster::buckets::destroy(&core.node, bucket)
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
        "GET" if req.q("versions").is_some() => list_object_versions(core, conn, req, bucket).await,
        "GET" => list_objects(core, conn, req, bucket).await,
        "POST" if req.q("delete").is_some() => {
            super::check_access(core, bucket, cluster::meta::access::OBJ_DELETE)?;
            delete_objects(core, conn, req, bucket).await
        }
        "POST" => Err(s3err(
            S3ErrorCode::NotImplemented,
            "POST on a bucket (browser-based form upload, PostObject) is not implemented",
        )),
        m => Err(s3err(
            S3ErrorCode::MethodNotAllowed,
            format!("{m} is not allowed on a bucket"),
        )),
    }
}
