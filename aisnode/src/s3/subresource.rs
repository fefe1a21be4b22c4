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
            ("uploads", M::Get) if query.iter().any(|(k, _)| k == "delimiter") => {
                return Err(not_implemented(
                    "GET ?uploads&delimiter (ListMultipartUploads grouped into common prefixes) \
                     is not implemented"
                        .into(),
                ));
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

/// What a request header (or the same name hoisted into a presigned URL's query) asks for
/// that this node does not do.
enum Header {
    /// Any value: the feature named.
    Refused(&'static str),
    /// Only these values (compared ignoring case) mean nothing here; any other is refused.
    Unless(&'static [&'static str], &'static str),
}

/// Request headers that change what a write (or read) means, for features this node does not
/// have: object lock, server-side encryption, tags, ACL grants, appends. Without this table they
/// would be ignored and the request answered 2xx as if they had been honoured (an object the
/// client believes locked, encrypted or tagged). Sorted by name. Harmless ones are left out:
/// `x-amz-storage-class`, `x-amz-expected-bucket-owner`, `x-amz-request-payer`, checksum
/// requests (every part and object checksum sent is verified), `x-amz-tagging-directive`
/// (nothing has tags to copy or replace).
const HEADERS: &[(&str, Header)] = &[
    // Every object is the owner's and private; `bucket-owner-full-control` gives the bucket
    // owner (the same single owner) what it has. rclone and s3cmd send `private`.
    (
        "x-amz-acl",
        Header::Unless(
            &["private", "bucket-owner-full-control"],
            "canned ACLs other than private",
        ),
    ),
    (
        "x-amz-bucket-object-lock-enabled",
        Header::Unless(&["false"], "object lock"),
    ),
    (
        "x-amz-checksum-algorithm",
        Header::Unless(CHECKSUMS, OTHER_CHECKSUMS),
    ),
    (
        "x-amz-checksum-md5",
        Header::Refused("the MD5 flexible checksum (use Content-MD5)"),
    ),
    (
        "x-amz-checksum-sha512",
        Header::Refused("the SHA512 checksum"),
    ),
    // A full-object multipart checksum is given to CompleteMultipartUpload, which takes none.
    (
        "x-amz-checksum-type",
        Header::Unless(&["COMPOSITE"], "full-object multipart checksums"),
    ),
    (
        "x-amz-checksum-xxhash128",
        Header::Refused("the XXHASH128 checksum"),
    ),
    (
        "x-amz-checksum-xxhash3",
        Header::Refused("the XXHASH3 checksum"),
    ),
    (
        "x-amz-checksum-xxhash64",
        Header::Refused("the XXHASH64 checksum"),
    ),
    (
        "x-amz-copy-source-server-side-encryption-customer-algorithm",
        Header::Refused(SSE_C),
    ),
    (
        "x-amz-copy-source-server-side-encryption-customer-key",
        Header::Refused(SSE_C),
    ),
    (
        "x-amz-copy-source-server-side-encryption-customer-key-md5",
        Header::Refused(SSE_C),
    ),
    ("x-amz-grant-full-control", Header::Refused("ACL grants")),
    ("x-amz-grant-read", Header::Refused("ACL grants")),
    ("x-amz-grant-read-acp", Header::Refused("ACL grants")),
    ("x-amz-grant-write", Header::Refused("ACL grants")),
    ("x-amz-grant-write-acp", Header::Refused("ACL grants")),
    (
        "x-amz-mp-object-size",
        Header::Refused("checking a multipart object's declared size"),
    ),
    (
        "x-amz-object-lock-event-hold",
        Header::Unless(&["OFF"], "object lock (event hold)"),
    ),
    (
        "x-amz-object-lock-event-hold-duration-days",
        Header::Refused(EVENT_HOLD),
    ),
    (
        "x-amz-object-lock-event-hold-duration-years",
        Header::Refused(EVENT_HOLD),
    ),
    (
        "x-amz-object-lock-legal-hold",
        Header::Unless(&["OFF"], "object lock (legal hold)"),
    ),
    (
        "x-amz-object-lock-mode",
        Header::Refused("object lock (retention)"),
    ),
    (
        "x-amz-object-lock-retain-until-date",
        Header::Refused("object lock (retention)"),
    ),
    // ACLs disabled is the only ownership there is.
    (
        "x-amz-object-ownership",
        Header::Unless(
            &["BucketOwnerEnforced"],
            "object ownership with ACLs enabled",
        ),
    ),
    (
        "x-amz-sdk-checksum-algorithm",
        Header::Unless(CHECKSUMS, OTHER_CHECKSUMS),
    ),
    (
        "x-amz-server-side-encryption",
        Header::Refused("server-side encryption (objects are stored as sent)"),
    ),
    (
        "x-amz-server-side-encryption-aws-kms-key-id",
        Header::Refused(SSE_KMS),
    ),
    (
        "x-amz-server-side-encryption-bucket-key-enabled",
        Header::Unless(&["false"], "S3 Bucket Keys"),
    ),
    (
        "x-amz-server-side-encryption-context",
        Header::Refused(SSE_KMS),
    ),
    (
        "x-amz-server-side-encryption-customer-algorithm",
        Header::Refused(SSE_C),
    ),
    (
        "x-amz-server-side-encryption-customer-key",
        Header::Refused(SSE_C),
    ),
    (
        "x-amz-server-side-encryption-customer-key-md5",
        Header::Refused(SSE_C),
    ),
    // An empty tag set is no tags.
    ("x-amz-tagging", Header::Unless(&[""], "object tagging")),
    (
        "x-amz-write-offset-bytes",
        Header::Refused("appending to an object (PutObject with a write offset)"),
    ),
];

const SSE_C: &str = "SSE-C (server-side encryption with customer keys)";
const SSE_KMS: &str = "SSE-KMS (server-side encryption with KMS keys)";
const EVENT_HOLD: &str = "object lock (event hold)";
const OTHER_CHECKSUMS: &str =
    "checksum algorithms other than CRC32, CRC32C, CRC64NVME, SHA1 and SHA256";

/// The flexible checksums verified here (`net::s3::checksum`).
const CHECKSUMS: &[&str] = &["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"];

/// Conditional DeleteObject (`If-Match` and its size and time forms) and AbortMultipartUpload
/// (`x-amz-if-match-initiated-time`): refused, not taken for unconditional ones.
const CONDITIONAL_DELETE: &[&str] = &[
    "if-match",
    "x-amz-if-match-initiated-time",
    "x-amz-if-match-last-modified-time",
    "x-amz-if-match-size",
];

/// Check a request's headers, and the `x-amz-*` names of its query (headers a presigned URL
/// carries), against [`HEADERS`] and, for an object DELETE, [`CONDITIONAL_DELETE`]. `Err` is
/// `501 NotImplemented` naming the header, its value and the feature.
pub(crate) fn check_headers(
    headers: &[(String, String)],
    query: &[(String, String)],
    method: &str,
    scope: Scope,
) -> S3Result<()> {
    let hoisted = query
        .iter()
        .filter(|(k, _)| k.len() > 6 && k[..6].eq_ignore_ascii_case("x-amz-"));
    for (name, value) in headers.iter().chain(hoisted) {
        // Every name in the table starts with `x-amz-`; it is sorted (a test checks).
        let refused = (name.len() > 6 && name[..6].eq_ignore_ascii_case("x-amz-"))
            .then(|| {
                let lower = name.to_ascii_lowercase();
                HEADERS
                    .binary_search_by(|(h, _)| (*h).cmp(lower.as_str()))
                    .ok()
            })
            .flatten()
            .and_then(|i| match &HEADERS[i].1 {
                Header::Refused(what) => Some(*what),
                Header::Unless(ok, what) => {
                    (!ok.iter().any(|v| value.trim().eq_ignore_ascii_case(v))).then_some(*what)
                }
            });
        let refused = refused
            .or_else(|| {
                (method == "DELETE"
                    && scope == Scope::Object
                    && CONDITIONAL_DELETE
                        .iter()
                        .any(|h| name.eq_ignore_ascii_case(h)))
                .then_some("conditional deletes")
            })
            .or_else(|| {
                // CompleteMultipartUpload: the parts' checksums are verified as they are
                // uploaded; a checksum of the whole object given here would not be checked.
                (method == "POST"
                    && scope == Scope::Object
                    && query.iter().any(|(k, _)| k == "uploadId")
                    && net::s3::checksum::ChecksumAlgorithm::from_header_name(name).is_some())
                .then_some("a whole-object checksum on CompleteMultipartUpload")
            });
        if let Some(what) = refused {
            return Err(not_implemented(format!(
                "{method} with {}: {:?}: {what} is not implemented",
                name.to_ascii_lowercase(),
                value.chars().take(128).collect::<String>()
            )));
        }
    }
    Ok(())
}

/// Storage classes whose objects read back at once, as here; the archive tiers (GLACIER,
/// DEEP_ARCHIVE: read only after a restore) are refused, other names are invalid.
const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER_IR",
    "EXPRESS_ONEZONE",
    "OUTPOSTS",
    "SNOW",
    "FSX_OPENZFS",
    "FSX_ONTAP",
];

/// Values AWS refuses as invalid (400), checked before any handler: a `x-amz-metadata-directive`
/// other than COPY / REPLACE, an unknown `x-amz-storage-class` (the archive tiers are 501), a
/// `list-type` other than 2.
pub(crate) fn check_values(
    headers: &[(String, String)],
    query: &[(String, String)],
) -> S3Result<()> {
    let header = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.trim())
    };
    if let Some(d) = header("x-amz-metadata-directive") {
        if !matches!(d, "COPY" | "REPLACE") {
            return Err(s3err(
                S3ErrorCode::InvalidArgument,
                format!("x-amz-metadata-directive {d:?}: expected COPY or REPLACE"),
            ));
        }
    }
    if let Some(c) = header("x-amz-storage-class") {
        if matches!(c, "GLACIER" | "DEEP_ARCHIVE") {
            return Err(not_implemented(format!(
                "x-amz-storage-class: {c:?}: archive storage classes (objects readable only after a restore) are not implemented"
            )));
        }
        if !STORAGE_CLASSES.contains(&c) {
            return Err(s3err(
                S3ErrorCode::InvalidStorageClass,
                format!(
                    "The storage class you specified is not valid: {:?}",
                    c.chars().take(64).collect::<String>()
                ),
            ));
        }
    }
    if let Some((_, t)) = query.iter().find(|(k, _)| k == "list-type") {
        if t != "2" {
            return Err(s3err(
                S3ErrorCode::InvalidArgument,
                format!(
                    "list-type {:?}: expected 2",
                    t.chars().take(64).collect::<String>()
                ),
            ));
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
        assert_eq!(
            code(&[("uploads", ""), ("delimiter", "/")], "GET", Scope::Bucket),
            ni
        );
        assert_eq!(
            code(&[("uploads", ""), ("prefix", "a")], "GET", Scope::Bucket),
            None
        );
        // The message names the sub-resource and the method.
        let e = check(&q(&[("tagging", "")]), "DELETE", Scope::Object).unwrap_err();
        assert!(e.message.contains("DELETE ?tagging"), "{}", e.message);
    }

    fn hcode(
        headers: &[(&str, &str)],
        query: &[(&str, &str)],
        method: &str,
        scope: Scope,
    ) -> Option<String> {
        check_headers(&q(headers), &q(query), method, scope)
            .err()
            .map(|e| {
                assert_eq!(e.code, S3ErrorCode::NotImplemented);
                e.message
            })
    }

    #[test]
    fn headers_table_is_sorted_lowercase_and_unique() {
        for w in HEADERS.windows(2) {
            assert!(w[0].0 < w[1].0, "{} / {}", w[0].0, w[1].0);
        }
        for (h, _) in HEADERS {
            assert_eq!(*h, h.to_ascii_lowercase());
        }
    }

    #[test]
    fn headers_refused_and_accepted() {
        let o = Scope::Object;
        let m = hcode(&[("X-Amz-Server-Side-Encryption", "AES256")], &[], "PUT", o).unwrap();
        assert!(
            m.contains("x-amz-server-side-encryption")
                && m.contains("AES256")
                && m.contains("encryption"),
            "{m}"
        );
        assert!(hcode(&[("x-amz-object-lock-mode", "GOVERNANCE")], &[], "PUT", o).is_some());
        assert!(hcode(&[("x-amz-write-offset-bytes", "0")], &[], "PUT", o).is_some());
        assert!(hcode(&[("x-amz-tagging", "a=b")], &[], "POST", o).is_some());
        assert!(hcode(&[("x-amz-grant-read", "id=x")], &[], "PUT", Scope::Bucket).is_some());
        assert!(hcode(
            &[("x-amz-server-side-encryption-customer-key", "k")],
            &[],
            "GET",
            o
        )
        .is_some());
        assert!(hcode(&[("x-amz-acl", "public-read")], &[], "PUT", o).is_some());
        assert!(hcode(
            &[("x-amz-bucket-object-lock-enabled", "true")],
            &[],
            "PUT",
            Scope::Bucket
        )
        .is_some());
        assert!(hcode(
            &[("x-amz-object-ownership", "ObjectWriter")],
            &[],
            "PUT",
            Scope::Bucket
        )
        .is_some());
        // Hoisted into a presigned URL's query.
        assert!(hcode(
            &[],
            &[("x-amz-server-side-encryption", "aws:kms")],
            "PUT",
            o
        )
        .is_some());
        // Values that mean nothing here, and headers that are not in the table.
        for (h, v) in [
            ("x-amz-acl", "private"),
            ("x-amz-acl", "bucket-owner-full-control"),
            ("x-amz-tagging", ""),
            ("x-amz-object-lock-legal-hold", "OFF"),
            ("x-amz-bucket-object-lock-enabled", "false"),
            ("x-amz-object-ownership", "BucketOwnerEnforced"),
            ("x-amz-storage-class", "STANDARD"),
            ("x-amz-tagging-directive", "COPY"),
            ("x-amz-meta-a", "1"),
            ("if-match", "\"e\""),
        ] {
            assert_eq!(hcode(&[(h, v)], &[], "PUT", o), None, "{h}: {v}");
        }
        for (h, v) in [
            ("x-amz-checksum-sha512", "x"),
            ("x-amz-checksum-xxhash64", "x"),
            ("x-amz-checksum-md5", "x"),
            ("x-amz-checksum-algorithm", "SHA512"),
            ("x-amz-sdk-checksum-algorithm", "XXHASH3"),
            ("x-amz-checksum-type", "FULL_OBJECT"),
            ("x-amz-mp-object-size", "5"),
            ("x-amz-object-lock-event-hold", "ON"),
        ] {
            assert!(hcode(&[(h, v)], &[], "PUT", o).is_some(), "{h}: {v}");
        }
        for (h, v) in [
            ("x-amz-checksum-algorithm", "CRC32"),
            ("x-amz-sdk-checksum-algorithm", "crc64nvme"),
            ("x-amz-checksum-type", "COMPOSITE"),
            ("x-amz-checksum-crc32", "AAAAAA=="),
        ] {
            assert_eq!(hcode(&[(h, v)], &[], "PUT", o), None, "{h}: {v}");
        }
        // A whole-object checksum on CompleteMultipartUpload is refused, on a part it is not.
        let complete = [("uploadId", "u")];
        let part = [("uploadId", "u"), ("partNumber", "1")];
        let crc = [("x-amz-checksum-crc32", "AAAAAA==")];
        assert!(hcode(&crc, &complete, "POST", o).is_some());
        assert_eq!(hcode(&crc, &part, "PUT", o), None);
        assert!(hcode(
            &[("x-amz-if-match-initiated-time", "x")],
            &complete,
            "DELETE",
            o
        )
        .is_some());
        let v = |h: &[(&str, &str)], qs: &[(&str, &str)]| {
            check_values(&q(h), &q(qs)).err().map(|e| e.code)
        };
        assert_eq!(
            v(&[("x-amz-metadata-directive", "BOGUS")], &[]),
            Some(S3ErrorCode::InvalidArgument)
        );
        assert_eq!(v(&[("x-amz-metadata-directive", "REPLACE")], &[]), None);
        assert_eq!(
            v(&[("x-amz-storage-class", "BOGUS")], &[]),
            Some(S3ErrorCode::InvalidStorageClass)
        );
        assert_eq!(
            v(&[("x-amz-storage-class", "DEEP_ARCHIVE")], &[]),
            Some(S3ErrorCode::NotImplemented)
        );
        assert_eq!(v(&[("x-amz-storage-class", "STANDARD_IA")], &[]), None);
        assert_eq!(
            v(&[], &[("list-type", "3")]),
            Some(S3ErrorCode::InvalidArgument)
        );
        assert_eq!(v(&[], &[("list-type", "2")]), None);
        // Conditional deletes: refused on an object DELETE only.
        for h in [
            "If-Match",
            "x-amz-if-match-size",
            "x-amz-if-match-last-modified-time",
        ] {
            assert!(hcode(&[(h, "1")], &[], "DELETE", o).is_some(), "{h}");
            assert_eq!(hcode(&[(h, "1")], &[], "GET", o), None, "{h}");
        }
    }
}
