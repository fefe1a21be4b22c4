//! S3 ListObjects (v1 and v2): pages from `cluster::listing` (this target, or every active
//! target through a proxy), with delimiter roll-up into common prefixes.

use super::*;
use cluster::listing::{self, ListQuery};

/// Max characters greater than any other in a name: skips everything under a common prefix.
pub(crate) const AFTER_ALL: &str = "\u{10FFFF}\u{10FFFF}\u{10FFFF}\u{10FFFF}";

/// Entries (name, size, ETag, mtime) after `after` with `prefix`, sorted, at most `limit`.
pub(crate) async fn gather(
    core: &Rc<Core>,
    bucket: &str,
    prefix: &str,
    after: &str,
    limit: usize,
) -> S3Result<Vec<xml::ObjectEntry>> {
    let entries = if cluster::remote::is_remote(bucket) {
        // A remote bucket lists its backend (cluster::remote).
        cluster::remote::list(&core.node, bucket, prefix, after, limit)
            .await
            .map_err(|e| crate::error::s3_from_cluster(&e, bucket))?
    } else {
        native(core, bucket, prefix, after, limit, 0).await?
    };
    Ok(entries.into_iter().map(object_entry).collect())
}

/// A page of this cluster's own listing (`cluster::listing`) with the properties S3 shows.
async fn native(
    core: &Rc<Core>,
    bucket: &str,
    prefix: &str,
    after: &str,
    limit: usize,
    flags: u64,
) -> S3Result<Vec<net::api::LsoEntry>> {
    let q = ListQuery {
        prefix: prefix.to_string(),
        after: after.to_string(),
        page_size: limit,
        props: "name,size,custom,checksum,last-modified".into(),
        flags,
    };
    listing::entries(&core.node, &core.smap(), bucket, &q)
        .await
        .map_err(|e| internal(format!("listing {bucket}: {e}")))
}

fn object_entry(e: net::api::LsoEntry) -> xml::ObjectEntry {
    let etag = e
        .custom
        .split(", ")
        .find_map(|kv| kv.strip_prefix("ETag="))
        .map(|v| format!("\"{}\"", net::s3::etag::unquote(v)))
        .unwrap_or_else(|| format!("\"{}\"", e.checksum));
    xml::ObjectEntry {
        key: e.name,
        last_modified_unix_nanos: e.mtime_ns,
        etag,
        size_bytes: e.size.max(0) as u64,
    }
}

/// A listing page with delimiter roll-up: (contents, common prefixes, truncated, last item).
#[allow(clippy::type_complexity)]
pub(crate) async fn list_page(
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
    // Delimiter `/` on this cluster's bucket: one non-recursive page, whose directories are
    // the common prefixes, found without walking (or reading) what is under them. Unless
    // the start lies inside a would-be common prefix (a StartAfter or Marker key under one,
    // which the roll-up below lists as AWS does).
    let inside = |a: &str| {
        a.strip_prefix(prefix)
            .and_then(|r| r.find('/'))
            .is_some_and(|i| prefix.len() + i + 1 < a.len() && !a.ends_with(AFTER_ALL))
    };
    if delimiter == Some("/") && !cluster::remote::is_remote(bucket) && !inside(&after) {
        let flags = net::api::LSO_FLAG_NO_RECURSION;
        let page = native(core, bucket, prefix, &after, max_keys + 1, flags).await?;
        for e in page {
            if contents.len() + prefixes.len() >= max_keys {
                return Ok((contents, prefixes, true, last));
            }
            last.clone_from(&e.name);
            if e.flags & net::api::ENTRY_FLAG_DIR != 0 {
                prefixes.push(e.name);
            } else {
                contents.push(object_entry(e));
            }
        }
        return Ok((contents, prefixes, false, last));
    }
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

/// The parameters ListObjects (v1, v2) and ListObjectVersions share.
struct ListParams {
    prefix: String,
    delimiter: Option<String>,
    max_keys: usize,
    url_encode: bool,
}

impl ListParams {
    fn from_req(req: &Req) -> S3Result<ListParams> {
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
        Ok(ListParams {
            prefix: req.q("prefix").unwrap_or("").to_string(),
            delimiter: req
                .q("delimiter")
                .filter(|d| !d.is_empty())
                .map(str::to_string),
            max_keys,
            url_encode: xml::parse_encoding_type(req.q("encoding-type"))?,
        })
    }
}

pub(crate) async fn list_objects(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &Req,
    bucket: &str,
) -> S3Result<Outcome> {
    let v2 = req.q("list-type") == Some("2");
    let ListParams {
        prefix,
        delimiter,
        max_keys,
        url_encode,
    } = ListParams::from_req(req)?;
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

/// ListObjectVersions (`GET ?versions`): without S3 versioning every object is its only
/// version, `null`, the latest; paging by `key-marker` (a `version-id-marker` can only be
/// `null`, the version of the marker key already listed) with prefix, delimiter, max-keys and
/// `encoding-type`, on the same pages as ListObjects.
pub(crate) async fn list_object_versions(
    core: &Rc<Core>,
    conn: &mut Conn,
    req: &Req,
    bucket: &str,
) -> S3Result<Outcome> {
    let ListParams {
        prefix,
        delimiter,
        max_keys,
        url_encode,
    } = ListParams::from_req(req)?;
    let key_marker = req.q("key-marker").unwrap_or("").to_string();
    let version_id_marker = req.q("version-id-marker").unwrap_or("").to_string();
    if !version_id_marker.is_empty() {
        if key_marker.is_empty() {
            return Err(s3err(
                S3ErrorCode::InvalidArgument,
                "A version-id marker cannot be specified without a key marker.",
            ));
        }
        if version_id_marker != xml::NULL_VERSION_ID {
            return Err(s3err(
                S3ErrorCode::InvalidArgument,
                format!("Invalid version id specified: {version_id_marker:?}"),
            ));
        }
    }
    let (versions, prefixes, truncated, last) = if max_keys == 0 {
        (vec![], vec![], false, String::new())
    } else {
        list_page(
            core,
            bucket,
            &prefix,
            delimiter.as_deref(),
            &key_marker,
            max_keys,
        )
        .await?
    };
    let body = xml::list_versions_result(&xml::ListVersions {
        bucket: bucket.to_string(),
        prefix,
        key_marker,
        version_id_marker,
        next_key_marker: truncated.then_some(last),
        delimiter,
        max_keys: max_keys as u32,
        is_truncated: truncated,
        url_encode,
        owner: Some(owner()),
        versions,
        common_prefixes: prefixes,
    });
    send_xml(conn, 200, &body, &[]).await
}
