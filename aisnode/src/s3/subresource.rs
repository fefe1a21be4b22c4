//! The S3 sub-resource table: every query parameter that selects an S3 operation (`?acl`,
//! `?retention`, `?uploadId=...`, ...), and per method, on a bucket (`/s3/b?name`) and on an
//! object (`/s3/b/k?name`), whether this server serves it. Everything it does not serve is
//! answered `501 NotImplemented` naming the sub-resource and the method, before any handler
//! runs: a request for an operation we do not have must never be taken for a plainer one
//! (a `PUT ?retention` for a PutObject of its XML body, a `DELETE ?tagging` for a
//! DeleteObject, a `GET ?versions` for a ListObjects).
//!
//! Other query parameters must be ordinary ones ([`ORDINARY`], [`ORDINARY_PREFIXES`]: listing
//! and paging parameters, response header overrides, SigV4 / SigV2 presigned parameters,
//! the `x-id` the Go and JavaScript SDKs add); an unknown parameter is `501` as well rather
//! than ignored.
//!
//! `versionId`: AIS keeps one version of an object, which S3 calls `null` (the version written
//! while versioning is off). GET/HEAD `?versionId=null` are the object; another ID is
//! `404 NoSuchVersion`. DELETE `?versionId=null` deletes the object; another ID is `501`. PUT
//! and POST do not take a version.

use super::*;

/// An HTTP method of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum M {
    Get,
    Head,
    Put,
    Post,
    Delete,
}

impl M {
    pub(crate) fn parse(method: &str) -> Option<M> {
        match method {
            "GET" => Some(M::Get),
            "HEAD" => Some(M::Head),
            "PUT" => Some(M::Put),
            "POST" => Some(M::Post),
            "DELETE" => Some(M::Delete),
            _ => None,
        }
    }
}

/// One sub-resource: the methods we serve it with on a bucket and on an object.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) name: &'static str,
    pub(crate) bucket: &'static [M],
    pub(crate) object: &'static [M],
}

const fn row(name: &'static str, bucket: &'static [M], object: &'static [M]) -> Row {
    Row {
        name,
        bucket,
        object,
    }
}

const NONE: &[M] = &[];

/// Every AWS-documented S3 sub-resource (the query names of the S3 API reference's
/// operations), sorted by name.
pub(crate) const TABLE: &[Row] = &[
    row("abac", NONE, NONE),
    row("accelerate", NONE, NONE),
    row("acl", NONE, NONE),
    row("analytics", NONE, NONE),
    row("annotation", NONE, NONE),
    // GetObjectAttributes.
    row("attributes", NONE, &[M::Get]),
    row("cors", NONE, NONE),
    // DeleteObjects.
    row("delete", &[M::Post], NONE),
    row("encryption", NONE, NONE),
    row("intelligent-tiering", NONE, NONE),
    row("inventory", NONE, NONE),
    row("legal-hold", NONE, NONE),
    row("lifecycle", NONE, NONE),
    // GetBucketLocation.
    row("location", &[M::Get], NONE),
    row("logging", NONE, NONE),
    row("metadataConfiguration", NONE, NONE),
    row("metadataInventoryTable", NONE, NONE),
    row("metadataJournalTable", NONE, NONE),
    row("metadataTable", NONE, NONE),
    row("metrics", NONE, NONE),
    row("notification", NONE, NONE),
    row("object-lock", NONE, NONE),
    row("ownershipControls", NONE, NONE),
    // GetObject/HeadObject of one part; UploadPart / UploadPartCopy (PUT, with uploadId).
    row("partNumber", NONE, &[M::Get, M::Head, M::Put]),
    row("policy", NONE, NONE),
    row("policyStatus", NONE, NONE),
    row("publicAccessBlock", NONE, NONE),
    row("renameObject", NONE, NONE),
    row("replication", NONE, NONE),
    row("requestPayment", NONE, NONE),
    row("restore", NONE, NONE),
    row("retention", NONE, NONE),
    row("select", NONE, NONE),
    row("select-type", NONE, NONE),
    row("session", NONE, NONE),
    row("tagging", NONE, NONE),
    row("torrent", NONE, NONE),
    // ListParts, UploadPart(Copy), CompleteMultipartUpload, AbortMultipartUpload.
    row("uploadId", NONE, &[M::Get, M::Put, M::Post, M::Delete]),
    // ListMultipartUploads; CreateMultipartUpload.
    row("uploads", &[M::Get], &[M::Post]),
    // `null` only (see the module docs).
    row("versionId", NONE, &[M::Get, M::Head, M::Delete]),
    // GetBucketVersioning; PutBucketVersioning (Suspended only).
    row("versioning", &[M::Get, M::Put], NONE),
    // ListObjectVersions.
    row("versions", &[M::Get], NONE),
    row("website", NONE, NONE),
];

/// Query parameters that are not sub-resources: accepted wherever they appear (a handler that
/// has no use for one ignores it).
pub(crate) const ORDINARY: &[&str] = &[
    // ListObjects (v1, v2), ListObjectVersions, ListMultipartUploads, ListParts, ListBuckets.
    "list-type",
    "prefix",
    "delimiter",
    "max-keys",
    "encoding-type",
    "continuation-token",
    "start-after",
    "fetch-owner",
    "marker",
    "key-marker",
    "version-id-marker",
    "upload-id-marker",
    "max-uploads",
    "max-parts",
    "part-number-marker",
    "max-buckets",
    "bucket-region",
    "max-directory-buckets",
    // GetObject response header overrides.
    "response-content-type",
    "response-content-language",
    "response-expires",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    // SigV2 presigned URLs (botocore also moves Content-Type / Content-MD5 into the query).
    "AWSAccessKeyId",
    "Signature",
    "Expires",
    "content-type",
    "content-md5",
    // The operation name the AWS SDKs for Go v2 and JavaScript v3 add (`x-id=GetObject`).
    "x-id",
];

/// Prefixes of ordinary parameters: SigV4 presigned (`X-Amz-Algorithm`, ...) and headers
/// hoisted into a presigned URL (`x-amz-meta-*`, `x-amz-acl`, ...). Compared ignoring case.
pub(crate) const ORDINARY_PREFIXES: &[&str] = &["x-amz-"];

/// What the request addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// `/s3` (ListBuckets).
    Service,
    Bucket,
    Object,
}

impl Scope {
    fn noun(self) -> &'static str {
        match self {
            Scope::Service => "the service",
            Scope::Bucket => "a bucket",
            Scope::Object => "an object",
        }
    }
}

pub(crate) fn lookup(name: &str) -> Option<&'static Row> {
    TABLE.iter().find(|r| r.name == name)
}

/// Is sub-resource `row` served with `method` on `scope`?
pub(crate) fn served(row: &Row, scope: Scope, method: M) -> bool {
    match scope {
        Scope::Service => false,
        Scope::Bucket => row.bucket.contains(&method),
        Scope::Object => row.object.contains(&method),
    }
}

fn is_ordinary(name: &str) -> bool {
    ORDINARY.contains(&name)
        || ORDINARY_PREFIXES
            .iter()
            .any(|p| name.len() >= p.len() && name[..p.len()].eq_ignore_ascii_case(p))
}

fn not_implemented(msg: String) -> S3Error {
    s3err(S3ErrorCode::NotImplemented, msg)
}

/// Check the query of a request against the table. `Err` is the answer: `NotImplemented`
/// for a sub-resource not served with this method here, or an unknown parameter;
/// `NoSuchVersion` for GET/HEAD of a version other than `null`.
pub(crate) fn check(query: &[(String, String)], method: &str, scope: Scope) -> S3Result<()> {
    let Some(m) = M::parse(method) else {
        // Other methods are refused by the router (405).
        return Ok(());
    };
    // Sub-resources first, so the message names the operation rather than one of its
    // parameters.
    for (name, value) in query {
        let Some(row) = lookup(name) else { continue };
        if !served(row, scope, m) {
            return Err(not_implemented(format!(
                "{method} ?{name} on {} is not implemented",
                scope.noun()
            )));
        }
        match (row.name, m) {
            ("versionId", M::Get | M::Head) if value != xml::NULL_VERSION_ID => {
                return Err(s3err(
                    S3ErrorCode::NoSuchVersion,
                    format!(
                        "The specified version does not exist: {:?} (objects have one version, \"null\")",
                        value.chars().take(128).collect::<String>()
                    ),
                ));
            }
            ("versionId", _) if value != xml::NULL_VERSION_ID => {
                return Err(not_implemented(format!(
                    "{method} ?versionId={} on an object is not implemented (objects have one \
                     version, \"null\")",
                    value.chars().take(128).collect::<String>()
                )));
            }
            ("partNumber", M::Put) if !query.iter().any(|(k, _)| k == "uploadId") => {
                return Err(not_implemented(
                    "PUT ?partNumber without uploadId on an object is not implemented".into(),
                ));
            }
            _ => {}
        }
    }
    for (name, _) in query {
        if lookup(name).is_none() && !is_ordinary(name) {
            return Err(not_implemented(format!(
                "query parameter {:?} is not implemented ({method} on {})",
                name.chars().take(128).collect::<String>(),
                scope.noun()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn code(query: &[(&str, &str)], method: &str, scope: Scope) -> Option<S3ErrorCode> {
        check(&q(query), method, scope).err().map(|e| e.code)
    }

    #[test]
    fn table_is_sorted_and_unique() {
        for w in TABLE.windows(2) {
            assert!(w[0].name < w[1].name, "{} / {}", w[0].name, w[1].name);
        }
        for r in TABLE {
            assert!(!ORDINARY.contains(&r.name), "{} is both", r.name);
        }
    }

    #[test]
    fn refused_and_served() {
        use S3ErrorCode::{NoSuchVersion, NotImplemented};
        let ni = Some(NotImplemented);
        assert_eq!(code(&[("retention", "")], "PUT", Scope::Object), ni);
        assert_eq!(code(&[("legal-hold", "")], "DELETE", Scope::Object), ni);
        assert_eq!(
            code(&[("publicAccessBlock", "")], "DELETE", Scope::Bucket),
            ni
        );
        assert_eq!(code(&[("versioning", "")], "DELETE", Scope::Bucket), ni);
        assert_eq!(code(&[("versions", "")], "GET", Scope::Bucket), None);
        assert_eq!(code(&[("foo", "")], "DELETE", Scope::Bucket), ni);
        assert_eq!(code(&[("acl", "")], "GET", Scope::Service), ni);
        assert_eq!(code(&[("max-buckets", "5")], "GET", Scope::Service), None);
        assert_eq!(code(&[("attributes", "")], "GET", Scope::Object), None);
        assert_eq!(code(&[("attributes", "")], "PUT", Scope::Object), ni);
        assert_eq!(code(&[("versionId", "null")], "GET", Scope::Object), None);
        assert_eq!(
            code(&[("versionId", "v1")], "HEAD", Scope::Object),
            Some(NoSuchVersion)
        );
        assert_eq!(
            code(&[("versionId", "null")], "DELETE", Scope::Object),
            None
        );
        assert_eq!(code(&[("versionId", "v1")], "DELETE", Scope::Object), ni);
        assert_eq!(code(&[("versionId", "null")], "PUT", Scope::Object), ni);
        assert_eq!(code(&[("partNumber", "1")], "PUT", Scope::Object), ni);
        assert_eq!(
            code(
                &[("partNumber", "1"), ("uploadId", "u")],
                "PUT",
                Scope::Object
            ),
            None
        );
        assert_eq!(code(&[("uploadId", "u")], "HEAD", Scope::Object), ni);
        assert_eq!(
            code(
                &[
                    ("x-id", "PutObject"),
                    ("X-Amz-Signature", "s"),
                    ("x-amz-meta-a", "1")
                ],
                "PUT",
                Scope::Object
            ),
            None
        );
        assert_eq!(
            code(
                &[("list-type", "2"), ("prefix", "a"), ("bogus", "")],
                "GET",
                Scope::Bucket
            ),
            ni
        );
        // The message names the sub-resource and the method.
        let e = check(&q(&[("tagging", "")]), "DELETE", Scope::Object).unwrap_err();
        assert!(e.message.contains("DELETE ?tagging"), "{}", e.message);
    }
}
