//! S3 XML bodies: response builders (plain functions from simple structs to `String`) and
//! request parsers (quick-xml, streaming, bounded).
//!
//! Responses: ListAllMyBucketsResult, ListBucketResult (ListObjects v1 and v2, with
//! CommonPrefixes and `encoding-type=url`), InitiateMultipartUploadResult,
//! CompleteMultipartUploadResult, ListPartsResult, ListMultipartUploadsResult,
//! CopyObjectResult / CopyPartResult, DeleteResult, LocationConstraint,
//! VersioningConfiguration. All use the S3 namespace [`XMLNS`], escape every value with
//! [`escape_xml`], and format times with [`format_iso8601_millis`].
//!
//! Also ListVersionsResult (ListObjectVersions: every object is its only version, `null`) and
//! GetObjectAttributesResponse.
//!
//! Requests: [`parse_complete_multipart`], [`parse_delete_objects`] (and
//! [`parse_delete_objects_entries`] with version IDs),
//! [`parse_create_bucket_configuration`], [`parse_versioning_configuration`]. Each one bounds
//! the body size (`*_XML_BYTES_MAX`, `MaxMessageLengthExceeded` past it; callers should enforce
//! the same bound on `Content-Length` before reading), the element depth ([`XML_DEPTH_MAX`]),
//! rejects DTDs and unknown entities, requires the documented root element (namespace prefix
//! ignored), ignores elements it does not use, and reports every violation as `MalformedXML`
//! (or the specific S3 code: `InvalidPartOrder`, `InvalidArgument`).
//!
//! Not handled: XML bodies in encodings other than UTF-8, lifecycle/policy/CORS/ACL documents
//! (the server answers those APIs with 501).

use quick_xml::events::Event;
use quick_xml::Reader;

use super::error::{S3Error, S3ErrorCode};
use crate::http::percent_encode_path;
use crate::time::format_iso8601_millis;

/// The S3 XML namespace.
pub const XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
/// Maximum size in bytes of a CreateBucketConfiguration or VersioningConfiguration body.
pub const CONFIG_XML_BYTES_MAX: usize = 64 * 1024;
/// Maximum size in bytes of a CompleteMultipartUpload body: room for [`PART_NUMBER_MAX`] parts
/// of about 800 bytes each (ETag, part number and all five checksum elements, indented).
pub const COMPLETE_MULTIPART_XML_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Maximum size in bytes of a DeleteObjects body: [`DELETE_OBJECTS_KEYS_MAX`] keys of
/// [`crate::s3::KEY_BYTES_MAX`] bytes, each byte possibly escaped as a 6-byte entity, plus
/// markup.
pub const DELETE_OBJECTS_XML_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Maximum number of keys in one DeleteObjects request (S3's limit).
pub const DELETE_OBJECTS_KEYS_MAX: usize = 1000;
/// Highest multipart part number (S3's limit); part numbers start at 1.
pub const PART_NUMBER_MAX: u32 = 10_000;
/// Maximum element nesting depth of any request body (the deepest S3 schema we parse has 3).
pub const XML_DEPTH_MAX: usize = 8;
/// Default and maximum `max-keys` / `max-parts` / `max-uploads` of a listing page (S3's).
pub const LIST_KEYS_MAX: u32 = 1000;

const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
/// AIS has no storage classes; S3 clients expect one.
const STORAGE_CLASS: &str = "STANDARD";

// ---------------------------------------------------------------------------------------------
// Escaping and writing
// ---------------------------------------------------------------------------------------------

/// Append `s` to `out` escaped for XML text and attribute values: `& < > " '` become entities;
/// CR and the other C0 control characters except TAB and LF become character references (so a
/// CR survives end-of-line normalization; other controls are not XML 1.0 characters, clients
/// that store such keys should use `encoding-type=url`).
pub fn escape_xml(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' => out.push(c),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("&#x{:X};", u32::from(c)));
            }
            c => out.push(c),
        }
    }
}

/// A tiny XML writer: declaration, namespaced root, escaped leaf elements.
struct XmlWriter {
    out: String,
}

impl XmlWriter {
    fn new(root: &str) -> Self {
        let mut out = String::with_capacity(512);
        out.push_str(XML_DECL);
        out.push('<');
        out.push_str(root);
        out.push_str(" xmlns=\"");
        out.push_str(XMLNS);
        out.push_str("\">");
        XmlWriter { out }
    }

    fn open(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }

    fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    fn elem(&mut self, name: &str, text: &str) {
        self.open(name);
        escape_xml(&mut self.out, text);
        self.close(name);
    }

    /// `text`, URL-encoded first when `url_encode` (ListObjects `encoding-type=url`).
    fn elem_maybe_encoded(&mut self, name: &str, text: &str, url_encode: bool) {
        if url_encode {
            self.elem(name, &percent_encode_path(text));
        } else {
            self.elem(name, text);
        }
    }

    fn elem_display(&mut self, name: &str, value: impl std::fmt::Display) {
        self.elem(name, &value.to_string());
    }

    fn owner(&mut self, name: &str, owner: &Owner) {
        self.open(name);
        self.elem("ID", &owner.id);
        self.elem("DisplayName", &owner.display_name);
        self.close(name);
    }

    fn finish(mut self, root: &str) -> String {
        self.close(root);
        self.out
    }
}

fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

// ---------------------------------------------------------------------------------------------
// Response bodies
// ---------------------------------------------------------------------------------------------

/// A bucket or object owner (`<ID>`, `<DisplayName>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owner {
    pub id: String,
    pub display_name: String,
}

/// One bucket of ListBuckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketEntry {
    pub name: String,
    pub creation_date_unix_nanos: i64,
}

/// ListBuckets' page: the `prefix` asked for (echoed), and the token of the next page.
#[derive(Debug, Clone, Copy, Default)]
pub struct BucketsPage<'a> {
    pub prefix: Option<&'a str>,
    pub continuation_token: Option<&'a str>,
}

/// ListBuckets (`GET /`) response: `ListAllMyBucketsResult`.
pub fn list_all_my_buckets(owner: &Owner, buckets: &[BucketEntry], page: &BucketsPage) -> String {
    let mut w = XmlWriter::new("ListAllMyBucketsResult");
    w.owner("Owner", owner);
    w.open("Buckets");
    for bucket in buckets {
        w.open("Bucket");
        w.elem("Name", &bucket.name);
        w.elem(
            "CreationDate",
            &format_iso8601_millis(bucket.creation_date_unix_nanos),
        );
        w.close("Bucket");
    }
    w.close("Buckets");
    if let Some(t) = page.continuation_token {
        w.elem("ContinuationToken", t);
    }
    if let Some(p) = page.prefix {
        w.elem("Prefix", p);
    }
    w.finish("ListAllMyBucketsResult")
}

/// One object of a listing (`<Contents>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEntry {
    pub key: String,
    pub last_modified_unix_nanos: i64,
    /// As returned in the `ETag` header, quoted.
    pub etag: String,
    pub size_bytes: u64,
}

fn write_contents(
    w: &mut XmlWriter,
    contents: &[ObjectEntry],
    owner: Option<&Owner>,
    url_encode: bool,
) {
    for entry in contents {
        w.open("Contents");
        w.elem_maybe_encoded("Key", &entry.key, url_encode);
        w.elem(
            "LastModified",
            &format_iso8601_millis(entry.last_modified_unix_nanos),
        );
        w.elem("ETag", &entry.etag);
        w.elem_display("Size", entry.size_bytes);
        if let Some(owner) = owner {
            w.owner("Owner", owner);
        }
        w.elem("StorageClass", STORAGE_CLASS);
        w.close("Contents");
    }
}

fn write_common_prefixes(w: &mut XmlWriter, prefixes: &[String], url_encode: bool) {
    for prefix in prefixes {
        w.open("CommonPrefixes");
        w.elem_maybe_encoded("Prefix", prefix, url_encode);
        w.close("CommonPrefixes");
    }
}

/// ListObjects (v1) page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListObjectsV1 {
    pub bucket: String,
    pub prefix: String,
    pub marker: String,
    pub delimiter: Option<String>,
    pub max_keys: u32,
    pub is_truncated: bool,
    /// Returned only when `delimiter` is set and the page is truncated (as S3 does); clients
    /// otherwise continue from the last key.
    pub next_marker: Option<String>,
    /// `encoding-type=url`: URL-encode Key, Prefix, Delimiter, Marker and NextMarker.
    pub url_encode: bool,
    /// Owner of every object (v1 always includes it in S3; `None` leaves it out).
    pub owner: Option<Owner>,
    pub contents: Vec<ObjectEntry>,
    pub common_prefixes: Vec<String>,
}

/// ListObjects (v1) response: `ListBucketResult`.
pub fn list_objects_v1(page: &ListObjectsV1) -> String {
    let url = page.url_encode;
    let mut w = XmlWriter::new("ListBucketResult");
    w.elem("Name", &page.bucket);
    w.elem_maybe_encoded("Prefix", &page.prefix, url);
    w.elem_maybe_encoded("Marker", &page.marker, url);
    if let Some(next) = &page.next_marker {
        w.elem_maybe_encoded("NextMarker", next, url);
    }
    w.elem_display("MaxKeys", page.max_keys);
    if let Some(delimiter) = &page.delimiter {
        w.elem_maybe_encoded("Delimiter", delimiter, url);
    }
    w.elem("IsTruncated", bool_str(page.is_truncated));
    if url {
        w.elem("EncodingType", "url");
    }
    write_contents(&mut w, &page.contents, page.owner.as_ref(), url);
    write_common_prefixes(&mut w, &page.common_prefixes, url);
    w.finish("ListBucketResult")
}

/// ListObjectsV2 page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListObjectsV2 {
    pub bucket: String,
    pub prefix: String,
    pub delimiter: Option<String>,
    pub max_keys: u32,
    pub is_truncated: bool,
    /// The request's `continuation-token`, echoed.
    pub continuation_token: Option<String>,
    /// Token for the next page (when truncated).
    pub next_continuation_token: Option<String>,
    /// The request's `start-after`, echoed.
    pub start_after: Option<String>,
    /// `encoding-type=url`: URL-encode Key, Prefix, Delimiter and StartAfter.
    pub url_encode: bool,
    /// Owner of every object (`fetch-owner=true`); `None` leaves it out.
    pub owner: Option<Owner>,
    pub contents: Vec<ObjectEntry>,
    pub common_prefixes: Vec<String>,
}

/// ListObjectsV2 response: `ListBucketResult` with `KeyCount` = contents + common prefixes.
pub fn list_objects_v2(page: &ListObjectsV2) -> String {
    let url = page.url_encode;
    let mut w = XmlWriter::new("ListBucketResult");
    w.elem("Name", &page.bucket);
    w.elem_maybe_encoded("Prefix", &page.prefix, url);
    if let Some(delimiter) = &page.delimiter {
        w.elem_maybe_encoded("Delimiter", delimiter, url);
    }
    w.elem_display("MaxKeys", page.max_keys);
    if url {
        w.elem("EncodingType", "url");
    }
    w.elem_display("KeyCount", page.contents.len() + page.common_prefixes.len());
    w.elem("IsTruncated", bool_str(page.is_truncated));
    if let Some(token) = &page.continuation_token {
        w.elem("ContinuationToken", token);
    }
    if let Some(token) = &page.next_continuation_token {
        w.elem("NextContinuationToken", token);
    }
    if let Some(start_after) = &page.start_after {
        w.elem_maybe_encoded("StartAfter", start_after, url);
    }
    write_contents(&mut w, &page.contents, page.owner.as_ref(), url);
    write_common_prefixes(&mut w, &page.common_prefixes, url);
    w.finish("ListBucketResult")
}

/// `encoding-type` query value: absent is `false`, `url` is `true`, anything else is
/// `InvalidArgument`.
pub fn parse_encoding_type(value: Option<&str>) -> Result<bool, S3Error> {
    match value {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("url") => Ok(true),
        Some(_) => Err(S3Error::new(
            S3ErrorCode::InvalidArgument,
            "Invalid Encoding Method specified in Request (only encoding-type=url is supported)",
        )),
    }
}

/// CreateMultipartUpload (`POST ?uploads`) response.
pub fn initiate_multipart_upload_result(bucket: &str, key: &str, upload_id: &str) -> String {
    let mut w = XmlWriter::new("InitiateMultipartUploadResult");
    w.elem("Bucket", bucket);
    w.elem("Key", key);
    w.elem("UploadId", upload_id);
    w.finish("InitiateMultipartUploadResult")
}

/// CompleteMultipartUpload (`POST ?uploadId`) response; `etag` quoted (see
/// [`crate::s3::etag::multipart_etag`]).
pub fn complete_multipart_upload_result(
    location: &str,
    bucket: &str,
    key: &str,
    etag: &str,
) -> String {
    let mut w = XmlWriter::new("CompleteMultipartUploadResult");
    w.elem("Location", location);
    w.elem("Bucket", bucket);
    w.elem("Key", key);
    w.elem("ETag", etag);
    w.finish("CompleteMultipartUploadResult")
}

/// One part of ListParts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartEntry {
    pub part_number: u32,
    pub last_modified_unix_nanos: i64,
    /// Quoted.
    pub etag: String,
    pub size_bytes: u64,
}

/// ListParts (`GET ?uploadId`) page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListParts {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub part_number_marker: u32,
    /// Last part number of this page (S3 always returns it).
    pub next_part_number_marker: u32,
    pub max_parts: u32,
    pub is_truncated: bool,
    /// Initiator and owner of the upload (`None` leaves them out).
    pub owner: Option<Owner>,
    pub parts: Vec<PartEntry>,
}

/// ListParts response: `ListPartsResult`.
pub fn list_parts_result(page: &ListParts) -> String {
    let mut w = XmlWriter::new("ListPartsResult");
    w.elem("Bucket", &page.bucket);
    w.elem("Key", &page.key);
    w.elem("UploadId", &page.upload_id);
    if let Some(owner) = &page.owner {
        w.owner("Initiator", owner);
        w.owner("Owner", owner);
    }
    w.elem("StorageClass", STORAGE_CLASS);
    w.elem_display("PartNumberMarker", page.part_number_marker);
    w.elem_display("NextPartNumberMarker", page.next_part_number_marker);
    w.elem_display("MaxParts", page.max_parts);
    w.elem("IsTruncated", bool_str(page.is_truncated));
    for part in &page.parts {
        w.open("Part");
        w.elem_display("PartNumber", part.part_number);
        w.elem(
            "LastModified",
            &format_iso8601_millis(part.last_modified_unix_nanos),
        );
        w.elem("ETag", &part.etag);
        w.elem_display("Size", part.size_bytes);
        w.close("Part");
    }
    w.finish("ListPartsResult")
}

/// One in-progress upload of ListMultipartUploads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadEntry {
    pub key: String,
    pub upload_id: String,
    pub initiated_unix_nanos: i64,
}

/// ListMultipartUploads (`GET ?uploads`) page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListMultipartUploads {
    pub bucket: String,
    pub key_marker: String,
    pub upload_id_marker: String,
    pub next_key_marker: Option<String>,
    pub next_upload_id_marker: Option<String>,
    pub prefix: String,
    pub delimiter: Option<String>,
    pub max_uploads: u32,
    pub is_truncated: bool,
    /// `encoding-type=url`: URL-encode Key, Prefix, Delimiter, KeyMarker, NextKeyMarker.
    pub url_encode: bool,
    /// Initiator and owner of every upload (`None` leaves them out).
    pub owner: Option<Owner>,
    pub uploads: Vec<UploadEntry>,
    pub common_prefixes: Vec<String>,
}

/// ListMultipartUploads response: `ListMultipartUploadsResult`.
pub fn list_multipart_uploads_result(page: &ListMultipartUploads) -> String {
    let url = page.url_encode;
    let mut w = XmlWriter::new("ListMultipartUploadsResult");
    w.elem("Bucket", &page.bucket);
    w.elem_maybe_encoded("KeyMarker", &page.key_marker, url);
    w.elem("UploadIdMarker", &page.upload_id_marker);
    if let Some(next) = &page.next_key_marker {
        w.elem_maybe_encoded("NextKeyMarker", next, url);
    }
    if let Some(next) = &page.next_upload_id_marker {
        w.elem("NextUploadIdMarker", next);
    }
    w.elem_maybe_encoded("Prefix", &page.prefix, url);
    if let Some(delimiter) = &page.delimiter {
        w.elem_maybe_encoded("Delimiter", delimiter, url);
    }
    w.elem_display("MaxUploads", page.max_uploads);
    w.elem("IsTruncated", bool_str(page.is_truncated));
    if url {
        w.elem("EncodingType", "url");
    }
    for upload in &page.uploads {
        w.open("Upload");
        w.elem_maybe_encoded("Key", &upload.key, url);
        w.elem("UploadId", &upload.upload_id);
        if let Some(owner) = &page.owner {
            w.owner("Initiator", owner);
            w.owner("Owner", owner);
        }
        w.elem("StorageClass", STORAGE_CLASS);
        w.elem(
            "Initiated",
            &format_iso8601_millis(upload.initiated_unix_nanos),
        );
        w.close("Upload");
    }
    write_common_prefixes(&mut w, &page.common_prefixes, url);
    w.finish("ListMultipartUploadsResult")
}

/// CopyObject response: `CopyObjectResult` (`etag` quoted).
pub fn copy_object_result(last_modified_unix_nanos: i64, etag: &str) -> String {
    copy_result("CopyObjectResult", last_modified_unix_nanos, etag)
}

/// UploadPartCopy response: `CopyPartResult` (`etag` quoted).
pub fn copy_part_result(last_modified_unix_nanos: i64, etag: &str) -> String {
    copy_result("CopyPartResult", last_modified_unix_nanos, etag)
}

fn copy_result(root: &str, last_modified_unix_nanos: i64, etag: &str) -> String {
    let mut w = XmlWriter::new(root);
    w.elem(
        "LastModified",
        &format_iso8601_millis(last_modified_unix_nanos),
    );
    w.elem("ETag", etag);
    w.finish(root)
}

/// Outcome of one key of DeleteObjects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// `<Deleted><Key>[<VersionId>]` (left out of the response in quiet mode).
    Deleted {
        key: String,
        version_id: Option<String>,
    },
    /// `<Error><Key>[<VersionId>]<Code><Message>`.
    Error {
        key: String,
        version_id: Option<String>,
        code: S3ErrorCode,
        message: String,
    },
}

/// DeleteObjects (`POST ?delete`) response: `DeleteResult`. With `quiet`, only errors are
/// listed (as S3 does).
pub fn delete_result(outcomes: &[DeleteOutcome], quiet: bool) -> String {
    let mut w = XmlWriter::new("DeleteResult");
    for outcome in outcomes {
        match outcome {
            DeleteOutcome::Deleted { key, version_id } => {
                if !quiet {
                    w.open("Deleted");
                    w.elem("Key", key);
                    if let Some(v) = version_id {
                        w.elem("VersionId", v);
                    }
                    w.close("Deleted");
                }
            }
            DeleteOutcome::Error {
                key,
                version_id,
                code,
                message,
            } => {
                w.open("Error");
                w.elem("Key", key);
                if let Some(v) = version_id {
                    w.elem("VersionId", v);
                }
                w.elem("Code", code.as_str());
                w.elem("Message", message);
                w.close("Error");
            }
        }
    }
    w.finish("DeleteResult")
}

/// ListObjectVersions (`GET ?versions`) page. Without S3 versioning every object has one
/// version, `null`, the latest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListVersions {
    pub bucket: String,
    pub prefix: String,
    pub key_marker: String,
    pub version_id_marker: String,
    /// With `is_truncated`: where the next page starts (`NextVersionIdMarker` is `null`).
    pub next_key_marker: Option<String>,
    pub delimiter: Option<String>,
    pub max_keys: u32,
    pub is_truncated: bool,
    /// `encoding-type=url`: URL-encode Key, Prefix, Delimiter, KeyMarker, NextKeyMarker.
    pub url_encode: bool,
    pub owner: Option<Owner>,
    pub versions: Vec<ObjectEntry>,
    pub common_prefixes: Vec<String>,
}

/// The version ID of every object (S3's ID of the version written while versioning is off).
pub const NULL_VERSION_ID: &str = "null";

/// ListObjectVersions response: `ListVersionsResult`.
pub fn list_versions_result(page: &ListVersions) -> String {
    let url = page.url_encode;
    let mut w = XmlWriter::new("ListVersionsResult");
    w.elem("Name", &page.bucket);
    w.elem_maybe_encoded("Prefix", &page.prefix, url);
    w.elem_maybe_encoded("KeyMarker", &page.key_marker, url);
    w.elem("VersionIdMarker", &page.version_id_marker);
    if let Some(next) = &page.next_key_marker {
        w.elem_maybe_encoded("NextKeyMarker", next, url);
        w.elem("NextVersionIdMarker", NULL_VERSION_ID);
    }
    w.elem_display("MaxKeys", page.max_keys);
    if let Some(delimiter) = &page.delimiter {
        w.elem_maybe_encoded("Delimiter", delimiter, url);
    }
    w.elem("IsTruncated", bool_str(page.is_truncated));
    if url {
        w.elem("EncodingType", "url");
    }
    for entry in &page.versions {
        w.open("Version");
        w.elem_maybe_encoded("Key", &entry.key, url);
        w.elem("VersionId", NULL_VERSION_ID);
        w.elem("IsLatest", "true");
        w.elem(
            "LastModified",
            &format_iso8601_millis(entry.last_modified_unix_nanos),
        );
        w.elem("ETag", &entry.etag);
        w.elem_display("Size", entry.size_bytes);
        if let Some(owner) = &page.owner {
            w.owner("Owner", owner);
        }
        w.elem("StorageClass", STORAGE_CLASS);
        w.close("Version");
    }
    write_common_prefixes(&mut w, &page.common_prefixes, url);
    w.finish("ListVersionsResult")
}

/// The attributes `x-amz-object-attributes` may ask GetObjectAttributes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectAttribute {
    ETag,
    Checksum,
    ObjectParts,
    StorageClass,
    ObjectSize,
}

/// Parse `x-amz-object-attributes` (comma-separated, repeated headers already joined with `,`):
/// `InvalidArgument` for an empty list or an unknown name.
pub fn parse_object_attributes(value: &str) -> Result<Vec<ObjectAttribute>, S3Error> {
    let mut out = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let a = match name {
            "ETag" => ObjectAttribute::ETag,
            "Checksum" => ObjectAttribute::Checksum,
            "ObjectParts" => ObjectAttribute::ObjectParts,
            "StorageClass" => ObjectAttribute::StorageClass,
            "ObjectSize" => ObjectAttribute::ObjectSize,
            other => {
                return Err(S3Error::new(
                    S3ErrorCode::InvalidArgument,
                    format!(
                        "Invalid attribute name specified: {:?}",
                        other.chars().take(64).collect::<String>()
                    ),
                ))
            }
        };
        if !out.contains(&a) {
            out.push(a);
        }
    }
    if out.is_empty() {
        return Err(S3Error::new(
            S3ErrorCode::InvalidArgument,
            "x-amz-object-attributes must name at least one of ETag, Checksum, ObjectParts, \
             StorageClass, ObjectSize",
        ));
    }
    Ok(out)
}

/// What GetObjectAttributes reports about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectAttributes {
    /// Unquoted, as S3 returns it here.
    pub etag: String,
    pub size_bytes: u64,
    /// Parts of a multipart object (`None`: not multipart, `ObjectParts` left out).
    pub parts_count: Option<u32>,
}

/// GetObjectAttributes (`GET ?attributes`) response: `GetObjectAttributesResponse` with the
/// requested attributes (`Checksum` is left out: AIS keeps no S3 checksum of the object).
pub fn get_object_attributes_result(
    attrs: &ObjectAttributes,
    wanted: &[ObjectAttribute],
) -> String {
    let mut w = XmlWriter::new("GetObjectAttributesResponse");
    if wanted.contains(&ObjectAttribute::ETag) {
        w.elem("ETag", super::etag::unquote(&attrs.etag));
    }
    if let (true, Some(n)) = (
        wanted.contains(&ObjectAttribute::ObjectParts),
        attrs.parts_count,
    ) {
        w.open("ObjectParts");
        w.elem_display("PartsCount", n);
        w.close("ObjectParts");
    }
    if wanted.contains(&ObjectAttribute::StorageClass) {
        w.elem("StorageClass", STORAGE_CLASS);
    }
    if wanted.contains(&ObjectAttribute::ObjectSize) {
        w.elem_display("ObjectSize", attrs.size_bytes);
    }
    w.finish("GetObjectAttributesResponse")
}

/// GetBucketLocation (`GET ?location`) response; `""` (empty element) means us-east-1.
pub fn location_constraint(region: &str) -> String {
    let mut w = XmlWriter::new("LocationConstraint");
    escape_xml(&mut w.out, region);
    w.finish("LocationConstraint")
}

/// Bucket versioning state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersioningStatus {
    Enabled,
    Suspended,
}

impl VersioningStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VersioningStatus::Enabled => "Enabled",
            VersioningStatus::Suspended => "Suspended",
        }
    }
}

/// GetBucketVersioning (`GET ?versioning`) response; `None` (never enabled) is an empty
/// `VersioningConfiguration`, as in S3.
pub fn versioning_configuration(status: Option<VersioningStatus>) -> String {
    let mut w = XmlWriter::new("VersioningConfiguration");
    if let Some(status) = status {
        w.elem("Status", status.as_str());
    }
    w.finish("VersioningConfiguration")
}

// ---------------------------------------------------------------------------------------------
// Request parsing
// ---------------------------------------------------------------------------------------------

fn malformed(detail: impl std::fmt::Display) -> S3Error {
    S3Error::new(
        S3ErrorCode::MalformedXml,
        format!(
            "The XML you provided was not well-formed or did not validate against our published \
             schema: {detail}"
        ),
    )
}

/// Stream the elements of `body`, whose root must be `root`, calling `on_close(path, text)` for
/// every element when it closes: `path` is the local names from the root down to the element,
/// `text` its character data (entities resolved, line ends normalized). An element with child
/// elements must not have non-whitespace text. Enforces `bytes_max` and [`XML_DEPTH_MAX`].
fn walk_xml(
    body: &[u8],
    bytes_max: usize,
    root: &str,
    mut on_close: impl FnMut(&[String], String) -> Result<(), S3Error>,
) -> Result<(), S3Error> {
    if body.len() > bytes_max {
        return Err(S3Error::new(
            S3ErrorCode::MaxMessageLengthExceeded,
            format!(
                "The {root} body is {} bytes, more than the {bytes_max} bytes allowed",
                body.len()
            ),
        ));
    }
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let text = std::str::from_utf8(body).map_err(|err| malformed(format!("not UTF-8 ({err})")))?;
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.expand_empty_elements = true;
    config.check_end_names = true;
    config.trim_text(false);

    // Parallel stacks: element local names, their text, whether they have child elements.
    let mut path: Vec<String> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    let mut has_children: Vec<bool> = Vec::new();
    let mut root_seen = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|err| malformed(format!("at byte {}: {err}", reader.error_position())))?;
        match event {
            Event::Start(start) => {
                let name = std::str::from_utf8(start.local_name().into_inner())
                    .map_err(|_| malformed("element name is not UTF-8"))?
                    .to_owned();
                if path.is_empty() {
                    if root_seen {
                        return Err(malformed("more than one root element"));
                    }
                    if name != root {
                        return Err(malformed(format!(
                            "the root element is <{name}>, expected <{root}>"
                        )));
                    }
                    root_seen = true;
                }
                if path.len() == XML_DEPTH_MAX {
                    return Err(malformed(format!(
                        "elements nest deeper than XML_DEPTH_MAX ({XML_DEPTH_MAX})"
                    )));
                }
                if let Some(parent) = has_children.last_mut() {
                    *parent = true;
                }
                path.push(name);
                texts.push(String::new());
                has_children.push(false);
            }
            Event::End(_) => {
                let (Some(text), Some(children)) = (texts.pop(), has_children.pop()) else {
                    return Err(malformed("unexpected closing tag"));
                };
                if children && !text.trim().is_empty() {
                    return Err(malformed(format!(
                        "element <{}> mixes text and elements",
                        path.last().map_or("", String::as_str)
                    )));
                }
                on_close(&path, text)?;
                path.pop();
            }
            Event::Text(t) => {
                let content = t
                    .xml10_content()
                    .map_err(|err| malformed(format!("bad text: {err}")))?;
                check_xml_chars(&content)?;
                push_text(&mut texts, &content)?;
            }
            Event::CData(c) => {
                let content = c
                    .xml10_content()
                    .map_err(|err| malformed(format!("bad CDATA: {err}")))?;
                check_xml_chars(&content)?;
                push_text(&mut texts, &content)?;
            }
            Event::GeneralRef(r) => {
                let resolved = match r
                    .resolve_char_ref()
                    .map_err(|err| malformed(format!("bad character reference: {err}")))?
                {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r
                            .decode()
                            .map_err(|err| malformed(format!("bad entity: {err}")))?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| malformed(format!("unknown entity &{name};")))?
                            .to_owned()
                    }
                };
                push_text(&mut texts, &resolved)?;
            }
            Event::DocType(_) => return Err(malformed("DTDs are not allowed")),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Empty(_) => {
                // expand_empty_elements turns these into Start + End.
                return Err(malformed("unexpected empty element event"));
            }
            Event::Eof => break,
        }
    }
    if !path.is_empty() {
        return Err(malformed(format!(
            "element <{}> is not closed",
            path[path.len() - 1]
        )));
    }
    if !root_seen {
        return Err(malformed(format!("the body has no <{root}> element")));
    }
    Ok(())
}

/// Raw text must consist of XML 1.0 characters: no C0 control characters other than TAB, LF
/// and CR. (Character references to them, `&#x1;`, are accepted, as S3 keys may contain them;
/// `&#x0;` is not.)
fn check_xml_chars(content: &str) -> Result<(), S3Error> {
    match content
        .chars()
        .find(|&c| u32::from(c) < 0x20 && !matches!(c, '\t' | '\n' | '\r'))
    {
        Some(c) => Err(malformed(format!(
            "control character U+{:04X} in text (use a character reference)",
            u32::from(c)
        ))),
        None => Ok(()),
    }
}

/// Text outside any element must be whitespace; inside, it accumulates.
fn push_text(texts: &mut [String], content: &str) -> Result<(), S3Error> {
    match texts.last_mut() {
        Some(text) => {
            text.push_str(content);
            Ok(())
        }
        None if content.trim().is_empty() => Ok(()),
        None => Err(malformed("text outside the root element")),
    }
}

fn is_path(path: &[String], expected: &[&str]) -> bool {
    path.len() == expected.len() && path.iter().zip(expected).all(|(a, b)| a == b)
}

/// Parse a CompleteMultipartUpload body: `(part number, ETag without quotes)` per `<Part>`, in
/// document order. Part numbers must be integers in `1..=PART_NUMBER_MAX` (`InvalidArgument`)
/// and strictly ascending (`InvalidPartOrder`); every part needs exactly one `<PartNumber>` and
/// one `<ETag>`, and there must be at least one part (`MalformedXML`). Checksum elements are
/// ignored.
pub fn parse_complete_multipart(body: &[u8]) -> Result<Vec<(u32, String)>, S3Error> {
    const ROOT: &str = "CompleteMultipartUpload";
    let mut parts: Vec<(u32, String)> = Vec::new();
    let mut part_number: Option<u32> = None;
    let mut etag: Option<String> = None;
    walk_xml(
        body,
        COMPLETE_MULTIPART_XML_BYTES_MAX,
        ROOT,
        |path, text| {
            if is_path(path, &[ROOT, "Part", "PartNumber"]) {
                if part_number.replace(parse_part_number(&text)?).is_some() {
                    return Err(malformed("a <Part> has more than one <PartNumber>"));
                }
            } else if is_path(path, &[ROOT, "Part", "ETag"]) {
                let value = super::etag::unquote(&text).to_owned();
                if etag.replace(value).is_some() {
                    return Err(malformed("a <Part> has more than one <ETag>"));
                }
            } else if is_path(path, &[ROOT, "Part"]) {
                let (Some(number), Some(tag)) = (part_number.take(), etag.take()) else {
                    return Err(malformed("every <Part> needs a <PartNumber> and an <ETag>"));
                };
                if let Some(&(previous, _)) = parts.last() {
                    if number <= previous {
                        return Err(S3Error::new(
                            S3ErrorCode::InvalidPartOrder,
                            format!(
                                "The list of parts was not in ascending order: part {number} \
                             follows part {previous}. The parts list must be specified in order \
                             by part number."
                            ),
                        ));
                    }
                }
                parts.push((number, tag));
            }
            Ok(())
        },
    )?;
    if parts.is_empty() {
        return Err(malformed(
            "<CompleteMultipartUpload> must list at least one <Part>",
        ));
    }
    Ok(parts)
}

fn parse_part_number(text: &str) -> Result<u32, S3Error> {
    let text = text.trim();
    let invalid = || {
        S3Error::new(
            S3ErrorCode::InvalidArgument,
            format!(
                "Part number must be an integer between 1 and {PART_NUMBER_MAX}, inclusive \
                 (got {:?})",
                text.chars().take(32).collect::<String>()
            ),
        )
    };
    if text.is_empty() || text.len() > 10 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    match text.parse::<u32>() {
        Ok(n) if (1..=PART_NUMBER_MAX).contains(&n) => Ok(n),
        _ => Err(invalid()),
    }
}

/// One `<Object>` of a DeleteObjects body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteEntry {
    /// Exactly as sent, whitespace kept.
    pub key: String,
    /// `<VersionId>`, if given (trimmed).
    pub version_id: Option<String>,
}

/// Parse a DeleteObjects body: the keys (exactly as sent, whitespace kept) and `Quiet`. Between
/// 1 and [`DELETE_OBJECTS_KEYS_MAX`] `<Object>`s, each with exactly one `<Key>`; `<Quiet>` is
/// `true` or `false` (default `false`). See [`parse_delete_objects_entries`] for the version
/// IDs.
pub fn parse_delete_objects(body: &[u8]) -> Result<(Vec<String>, bool), S3Error> {
    let (entries, quiet) = parse_delete_objects_entries(body)?;
    Ok((entries.into_iter().map(|e| e.key).collect(), quiet))
}

/// [`parse_delete_objects`] with each object's `<VersionId>` (at most one per object).
pub fn parse_delete_objects_entries(body: &[u8]) -> Result<(Vec<DeleteEntry>, bool), S3Error> {
    const ROOT: &str = "Delete";
    let mut entries: Vec<DeleteEntry> = Vec::new();
    let mut key: Option<String> = None;
    let mut version: Option<String> = None;
    let mut quiet: Option<bool> = None;
    walk_xml(body, DELETE_OBJECTS_XML_BYTES_MAX, ROOT, |path, text| {
        if is_path(path, &[ROOT, "Object", "Key"]) {
            if key.replace(text).is_some() {
                return Err(malformed("an <Object> has more than one <Key>"));
            }
        } else if is_path(path, &[ROOT, "Object", "VersionId"]) {
            if version.replace(text.trim().to_owned()).is_some() {
                return Err(malformed("an <Object> has more than one <VersionId>"));
            }
        } else if ["ETag", "LastModifiedTime", "Size"]
            .iter()
            .any(|c| is_path(path, &[ROOT, "Object", c]))
        {
            // Conditional deletes: never taken for unconditional ones.
            return Err(S3Error::new(
                S3ErrorCode::NotImplemented,
                format!(
                    "DeleteObjects with <{}> in an <Object> (conditional deletes) is not implemented",
                    path.last().map(String::as_str).unwrap_or("")
                ),
            ));
        } else if is_path(path, &[ROOT, "Object"]) {
            let Some(k) = key.take() else {
                return Err(malformed("every <Object> needs a <Key>"));
            };
            if entries.len() == DELETE_OBJECTS_KEYS_MAX {
                return Err(malformed(format!(
                    "more than DELETE_OBJECTS_KEYS_MAX ({DELETE_OBJECTS_KEYS_MAX}) keys"
                )));
            }
            entries.push(DeleteEntry {
                key: k,
                version_id: version.take(),
            });
        } else if is_path(path, &[ROOT, "Quiet"]) {
            let value = match text.trim() {
                t if t.eq_ignore_ascii_case("true") => true,
                t if t.eq_ignore_ascii_case("false") => false,
                _ => return Err(malformed("<Quiet> must be true or false")),
            };
            if quiet.replace(value).is_some() {
                return Err(malformed("more than one <Quiet>"));
            }
        }
        Ok(())
    })?;
    if entries.is_empty() {
        return Err(malformed("<Delete> must list at least one <Object>"));
    }
    Ok((entries, quiet.unwrap_or(false)))
}

/// Parse a CreateBucket body: the `LocationConstraint`, or `None` for an empty body (S3 allows
/// one) or an empty / absent `<LocationConstraint>`.
pub fn parse_create_bucket_configuration(body: &[u8]) -> Result<Option<String>, S3Error> {
    const ROOT: &str = "CreateBucketConfiguration";
    if body.len() <= CONFIG_XML_BYTES_MAX && body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let mut location: Option<String> = None;
    let mut seen = false;
    walk_xml(body, CONFIG_XML_BYTES_MAX, ROOT, |path, text| {
        // Directory buckets (`Location`, `Bucket`) and bucket tags: never a plain bucket.
        if let Some(what) = ["Location", "Bucket", "Tags"]
            .into_iter()
            .find(|e| path.len() >= 2 && path[1] == *e)
        {
            return Err(S3Error::new(
                S3ErrorCode::NotImplemented,
                format!(
                    "CreateBucket with <{what}> in CreateBucketConfiguration is not implemented"
                ),
            ));
        }
        if is_path(path, &[ROOT, "LocationConstraint"]) {
            if seen {
                return Err(malformed("more than one <LocationConstraint>"));
            }
            seen = true;
            let value = text.trim();
            location = (!value.is_empty()).then(|| value.to_owned());
        }
        Ok(())
    })?;
    Ok(location)
}

/// Parse a PutBucketVersioning body: `<Status>` `Enabled` or `Suspended` (`None` if absent).
/// `<MfaDelete>Enabled` is `NotImplemented` (never taken for a plain status change);
/// `Disabled` asks for nothing.
pub fn parse_versioning_configuration(body: &[u8]) -> Result<Option<VersioningStatus>, S3Error> {
    const ROOT: &str = "VersioningConfiguration";
    let mut status: Option<VersioningStatus> = None;
    walk_xml(body, CONFIG_XML_BYTES_MAX, ROOT, |path, text| {
        if is_path(path, &[ROOT, "Status"]) {
            let value = match text.trim() {
                "Enabled" => VersioningStatus::Enabled,
                "Suspended" => VersioningStatus::Suspended,
                _ => return Err(malformed("<Status> must be Enabled or Suspended")),
            };
            if status.replace(value).is_some() {
                return Err(malformed("more than one <Status>"));
            }
        } else if is_path(path, &[ROOT, "MfaDelete"]) && text.trim() != "Disabled" {
            return Err(S3Error::new(
                S3ErrorCode::NotImplemented,
                format!(
                    "<MfaDelete>{}</MfaDelete> (MFA delete) is not implemented",
                    text.trim().chars().take(64).collect::<String>()
                ),
            ));
        }
        Ok(())
    })?;
    Ok(status)
}

// ---------------------------------------------------------------------------------------------
// Response parsers (the client side: the node's S3 backend reads what a remote S3 answers)
// ---------------------------------------------------------------------------------------------

/// Maximum size in bytes of a listing response (ListObjectsV2, ListBuckets) a client reads:
/// 1000 keys of [`crate::s3::KEY_BYTES_MAX`] bytes, each possibly escaped, plus markup.
pub const LIST_RESULT_XML_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Maximum size in bytes of an S3 `<Error>` response body a client reads.
pub const ERROR_XML_BYTES_MAX: usize = 64 * 1024;

/// One `<Contents>` of a ListObjectsV2 response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListedObject {
    pub key: String,
    pub size: u64,
    /// Without the surrounding quotes.
    pub etag: String,
    /// `<LastModified>` in ns since the epoch; `None` if absent or not ISO 8601.
    pub last_modified_ns: Option<i64>,
}

/// A ListObjectsV2 response (`ListBucketResult`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListObjectsV2Result {
    pub objects: Vec<ListedObject>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// Empty when the listing is complete.
    pub next_continuation_token: String,
}

/// Parse a ListObjectsV2 response. `MalformedXML` if it is not a `ListBucketResult`, a
/// `<Contents>` has no `<Key>` or a bad `<Size>`, or `IsTruncated` is true without a
/// `NextContinuationToken` (the listing could not continue).
pub fn parse_list_objects_v2_result(body: &[u8]) -> Result<ListObjectsV2Result, S3Error> {
    const ROOT: &str = "ListBucketResult";
    let mut out = ListObjectsV2Result::default();
    let mut cur = ListedObject::default();
    let mut has_key = false;
    walk_xml(body, LIST_RESULT_XML_BYTES_MAX, ROOT, |path, text| {
        if path.len() == 3 && path[1] == "Contents" {
            match path[2].as_str() {
                "Key" => {
                    cur.key = text;
                    has_key = true;
                }
                "Size" => {
                    cur.size = text.trim().parse().map_err(|_| {
                        malformed(format!("<Size> {:?} is not a byte count", text.trim()))
                    })?;
                }
                "ETag" => cur.etag = super::etag::unquote(&text).to_owned(),
                "LastModified" => {
                    cur.last_modified_ns = crate::time::parse_rfc3339_nano(text.trim());
                }
                _ => {}
            }
        } else if is_path(path, &[ROOT, "Contents"]) {
            if !std::mem::take(&mut has_key) {
                return Err(malformed("<Contents> without <Key>"));
            }
            out.objects.push(std::mem::take(&mut cur));
        } else if is_path(path, &[ROOT, "CommonPrefixes", "Prefix"]) {
            out.common_prefixes.push(text);
        } else if is_path(path, &[ROOT, "IsTruncated"]) {
            out.is_truncated = text.trim() == "true";
        } else if is_path(path, &[ROOT, "NextContinuationToken"]) {
            out.next_continuation_token = text;
        }
        Ok(())
    })?;
    if out.is_truncated && out.next_continuation_token.is_empty() {
        return Err(malformed("IsTruncated without NextContinuationToken"));
    }
    if !out.is_truncated {
        out.next_continuation_token.clear();
    }
    Ok(out)
}

/// Parse a ListBuckets response (`ListAllMyBucketsResult`): the bucket names in order.
pub fn parse_list_all_my_buckets_result(body: &[u8]) -> Result<Vec<String>, S3Error> {
    const ROOT: &str = "ListAllMyBucketsResult";
    let mut names = Vec::new();
    walk_xml(body, LIST_RESULT_XML_BYTES_MAX, ROOT, |path, text| {
        if is_path(path, &[ROOT, "Buckets", "Bucket", "Name"]) {
            names.push(text);
        }
        Ok(())
    })?;
    Ok(names)
}

/// Parse an S3 error response (`<Error><Code>…</Code><Message>…</Message></Error>`) into
/// `(code, message)`; either may be empty if absent.
pub fn parse_error_response(body: &[u8]) -> Result<(String, String), S3Error> {
    const ROOT: &str = "Error";
    let (mut code, mut message) = (String::new(), String::new());
    walk_xml(body, ERROR_XML_BYTES_MAX, ROOT, |path, text| {
        if is_path(path, &[ROOT, "Code"]) {
            code = text.trim().to_owned();
        } else if is_path(path, &[ROOT, "Message"]) {
            message = text.trim().to_owned();
        }
        Ok(())
    })?;
    Ok((code, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// 2013-05-24T00:00:00Z in nanoseconds.
    const T: i64 = 1_369_353_600_000_000_000;

    fn code(r: Result<impl std::fmt::Debug, S3Error>) -> S3ErrorCode {
        r.expect_err("must fail").code
    }

    #[test]
    fn escape_covers_markup_quotes_and_controls() {
        let mut out = String::new();
        escape_xml(&mut out, "a&b<c>d\"e'f\tg\nh\ri\u{1}j\u{7f}k\u{e9}");
        assert_eq!(
            out,
            "a&amp;b&lt;c&gt;d&quot;e&apos;f\tg\nh&#xD;i&#x1;j&#x7F;k\u{e9}"
        );
    }

    #[test]
    fn list_all_my_buckets_renders_owner_and_dates() {
        let owner = Owner {
            id: "id1".into(),
            display_name: "ais".into(),
        };
        let xml = list_all_my_buckets(
            &owner,
            &[BucketEntry {
                name: "b&1".into(),
                creation_date_unix_nanos: T,
            }],
            &BucketsPage::default(),
        );
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult \
             xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>id1</ID>\
             <DisplayName>ais</DisplayName></Owner><Buckets><Bucket><Name>b&amp;1</Name>\
             <CreationDate>2013-05-24T00:00:00.000Z</CreationDate></Bucket></Buckets>\
             </ListAllMyBucketsResult>"
        );
        assert!(list_all_my_buckets(&owner, &[], &BucketsPage::default())
            .contains("<Buckets></Buckets></ListAllMyBucketsResult>"));
        let page = BucketsPage {
            prefix: Some("b"),
            continuation_token: Some("b&1"),
        };
        assert!(list_all_my_buckets(&owner, &[], &page).contains(
            "<Buckets></Buckets><ContinuationToken>b&amp;1</ContinuationToken><Prefix>b</Prefix>"
        ));
    }

    fn entries() -> Vec<ObjectEntry> {
        vec![ObjectEntry {
            key: "dir/a b+c&d".into(),
            last_modified_unix_nanos: T + 5_000_000,
            etag: "\"d41d8cd98f00b204e9800998ecf8427e\"".into(),
            size_bytes: 42,
        }]
    }

    #[test]
    fn list_objects_v2_renders_every_field() {
        let page = ListObjectsV2 {
            bucket: "bkt".into(),
            prefix: "dir/".into(),
            delimiter: Some("/".into()),
            max_keys: 2,
            is_truncated: true,
            continuation_token: Some("tok1".into()),
            next_continuation_token: Some("tok2".into()),
            start_after: Some("dir/0".into()),
            url_encode: false,
            owner: None,
            contents: entries(),
            common_prefixes: vec!["dir/sub/".into()],
        };
        assert_eq!(
            list_objects_v2(&page),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult \
             xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>bkt</Name>\
             <Prefix>dir/</Prefix><Delimiter>/</Delimiter><MaxKeys>2</MaxKeys>\
             <KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>\
             <ContinuationToken>tok1</ContinuationToken>\
             <NextContinuationToken>tok2</NextContinuationToken><StartAfter>dir/0</StartAfter>\
             <Contents><Key>dir/a b+c&amp;d</Key><LastModified>2013-05-24T00:00:00.005Z\
             </LastModified><ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag>\
             <Size>42</Size><StorageClass>STANDARD</StorageClass></Contents>\
             <CommonPrefixes><Prefix>dir/sub/</Prefix></CommonPrefixes></ListBucketResult>"
        );
    }

    #[test]
    fn list_objects_url_encoding_applies_to_keys_prefixes_delimiter_start_after() {
        let page = ListObjectsV2 {
            bucket: "bkt".into(),
            prefix: "dir a/".into(),
            delimiter: Some("+".into()),
            max_keys: 1000,
            start_after: Some("x y".into()),
            url_encode: true,
            contents: entries(),
            common_prefixes: vec!["dir a/s b/".into()],
            ..ListObjectsV2::default()
        };
        let xml = list_objects_v2(&page);
        for expected in [
            "<Prefix>dir%20a/</Prefix>",
            "<Delimiter>%2B</Delimiter>",
            "<EncodingType>url</EncodingType>",
            "<StartAfter>x%20y</StartAfter>",
            "<Key>dir/a%20b%2Bc%26d</Key>",
            "<CommonPrefixes><Prefix>dir%20a/s%20b/</Prefix></CommonPrefixes>",
            "<IsTruncated>false</IsTruncated>",
        ] {
            assert!(xml.contains(expected), "{expected} not in {xml}");
        }
        assert!(!xml.contains("ContinuationToken"));
    }

    #[test]
    fn list_objects_v1_renders_markers_and_owner() {
        let page = ListObjectsV1 {
            bucket: "bkt".into(),
            prefix: String::new(),
            marker: "m k".into(),
            delimiter: Some("/".into()),
            max_keys: 1,
            is_truncated: true,
            next_marker: Some("n k".into()),
            url_encode: true,
            owner: Some(Owner {
                id: "o".into(),
                display_name: "d".into(),
            }),
            contents: entries(),
            common_prefixes: vec![],
        };
        let xml = list_objects_v1(&page);
        for expected in [
            "<Name>bkt</Name><Prefix></Prefix><Marker>m%20k</Marker>\
             <NextMarker>n%20k</NextMarker><MaxKeys>1</MaxKeys><Delimiter>/</Delimiter>\
             <IsTruncated>true</IsTruncated><EncodingType>url</EncodingType>",
            "<Owner><ID>o</ID><DisplayName>d</DisplayName></Owner><StorageClass>",
        ] {
            assert!(xml.contains(expected), "{expected} not in {xml}");
        }
        assert!(!xml.contains("KeyCount"));
    }

    #[test]
    fn encoding_type_values() {
        assert_eq!(parse_encoding_type(None), Ok(false));
        assert_eq!(parse_encoding_type(Some("url")), Ok(true));
        assert_eq!(
            code(parse_encoding_type(Some("base64"))),
            S3ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn multipart_and_copy_results_render() {
        assert_eq!(
            initiate_multipart_upload_result("b", "k<", "u1"),
            format!(
                "{XML_DECL}<InitiateMultipartUploadResult xmlns=\"{XMLNS}\"><Bucket>b</Bucket>\
                 <Key>k&lt;</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>"
            )
        );
        assert_eq!(
            complete_multipart_upload_result("http://h/s3/b/k", "b", "k", "\"e-2\""),
            format!(
                "{XML_DECL}<CompleteMultipartUploadResult xmlns=\"{XMLNS}\">\
                 <Location>http://h/s3/b/k</Location><Bucket>b</Bucket><Key>k</Key>\
                 <ETag>&quot;e-2&quot;</ETag></CompleteMultipartUploadResult>"
            )
        );
        assert_eq!(
            copy_object_result(T, "\"e\""),
            format!(
                "{XML_DECL}<CopyObjectResult xmlns=\"{XMLNS}\"><LastModified>\
                 2013-05-24T00:00:00.000Z</LastModified><ETag>&quot;e&quot;</ETag>\
                 </CopyObjectResult>"
            )
        );
        assert!(copy_part_result(T, "\"e\"").contains("<CopyPartResult xmlns="));
    }

    #[test]
    fn list_parts_and_uploads_render() {
        let owner = Owner {
            id: "o".into(),
            display_name: "d".into(),
        };
        let xml = list_parts_result(&ListParts {
            bucket: "b".into(),
            key: "k".into(),
            upload_id: "u".into(),
            part_number_marker: 0,
            next_part_number_marker: 2,
            max_parts: 2,
            is_truncated: true,
            owner: Some(owner.clone()),
            parts: vec![
                PartEntry {
                    part_number: 1,
                    last_modified_unix_nanos: T,
                    etag: "\"a\"".into(),
                    size_bytes: 5,
                },
                PartEntry {
                    part_number: 2,
                    last_modified_unix_nanos: T,
                    etag: "\"b\"".into(),
                    size_bytes: 6,
                },
            ],
        });
        for expected in [
            "<Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId><Initiator><ID>o</ID>",
            "<PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>2\
             </NextPartNumberMarker><MaxParts>2</MaxParts><IsTruncated>true</IsTruncated>",
            "<Part><PartNumber>2</PartNumber><LastModified>2013-05-24T00:00:00.000Z\
             </LastModified><ETag>&quot;b&quot;</ETag><Size>6</Size></Part>",
        ] {
            assert!(xml.contains(expected), "{expected} not in {xml}");
        }
        let xml = list_multipart_uploads_result(&ListMultipartUploads {
            bucket: "b".into(),
            prefix: "p q".into(),
            max_uploads: 1000,
            next_key_marker: Some("k 2".into()),
            url_encode: true,
            uploads: vec![UploadEntry {
                key: "k 1".into(),
                upload_id: "u1".into(),
                initiated_unix_nanos: T,
            }],
            common_prefixes: vec!["c d/".into()],
            ..ListMultipartUploads::default()
        });
        for expected in [
            "<Bucket>b</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>\
             <NextKeyMarker>k%202</NextKeyMarker><Prefix>p%20q</Prefix>\
             <MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>\
             <EncodingType>url</EncodingType>",
            "<Upload><Key>k%201</Key><UploadId>u1</UploadId><StorageClass>STANDARD\
             </StorageClass><Initiated>2013-05-24T00:00:00.000Z</Initiated></Upload>",
            "<CommonPrefixes><Prefix>c%20d/</Prefix></CommonPrefixes>",
        ] {
            assert!(xml.contains(expected), "{expected} not in {xml}");
        }
    }

    #[test]
    fn delete_result_lists_errors_always_and_deleted_unless_quiet() {
        let outcomes = [
            DeleteOutcome::Deleted {
                key: "a".into(),
                version_id: None,
            },
            DeleteOutcome::Error {
                key: "b&".into(),
                version_id: None,
                code: S3ErrorCode::AccessDenied,
                message: "Access Denied".into(),
            },
        ];
        assert_eq!(
            delete_result(&outcomes, false),
            format!(
                "{XML_DECL}<DeleteResult xmlns=\"{XMLNS}\"><Deleted><Key>a</Key></Deleted>\
                 <Error><Key>b&amp;</Key><Code>AccessDenied</Code><Message>Access Denied\
                 </Message></Error></DeleteResult>"
            )
        );
        let quiet = delete_result(&outcomes, true);
        assert!(!quiet.contains("<Deleted>"));
        assert!(quiet.contains("<Error><Key>b&amp;</Key>"));
        let versioned = delete_result(
            &[
                DeleteOutcome::Deleted {
                    key: "a".into(),
                    version_id: Some("null".into()),
                },
                DeleteOutcome::Error {
                    key: "b".into(),
                    version_id: Some("v7".into()),
                    code: S3ErrorCode::NoSuchVersion,
                    message: "m".into(),
                },
            ],
            false,
        );
        assert!(versioned.contains("<Deleted><Key>a</Key><VersionId>null</VersionId></Deleted>"));
        assert!(versioned
            .contains("<Error><Key>b</Key><VersionId>v7</VersionId><Code>NoSuchVersion</Code>"));
    }

    #[test]
    fn delete_objects_entries_carry_version_ids() {
        let body = "<Delete><Object><Key>a</Key><VersionId> null </VersionId></Object>\
                    <Object><Key>b</Key></Object></Delete>";
        let (entries, quiet) = parse_delete_objects_entries(body.as_bytes()).unwrap();
        assert!(!quiet);
        assert_eq!(
            entries,
            vec![
                DeleteEntry {
                    key: "a".into(),
                    version_id: Some("null".into())
                },
                DeleteEntry {
                    key: "b".into(),
                    version_id: None
                }
            ]
        );
        let body = "<Delete><Object><Key>a</Key><VersionId>1</VersionId><VersionId>2</VersionId>\
                    </Object></Delete>";
        assert_eq!(
            code(parse_delete_objects_entries(body.as_bytes())),
            S3ErrorCode::MalformedXml
        );
        for cond in [
            "<ETag>\"e\"</ETag>",
            "<Size>3</Size>",
            "<LastModifiedTime>2020-01-01T00:00:00Z</LastModifiedTime>",
        ] {
            let body = format!("<Delete><Object><Key>a</Key>{cond}</Object></Delete>");
            assert_eq!(
                code(parse_delete_objects_entries(body.as_bytes())),
                S3ErrorCode::NotImplemented,
                "{cond}"
            );
        }
    }

    #[test]
    fn list_versions_renders_null_latest_versions_and_markers() {
        let xml = list_versions_result(&ListVersions {
            bucket: "b".into(),
            prefix: "dir/".into(),
            key_marker: "dir/0".into(),
            version_id_marker: String::new(),
            next_key_marker: Some("dir/a b+c&d".into()),
            delimiter: Some("/".into()),
            max_keys: 1,
            is_truncated: true,
            url_encode: false,
            owner: None,
            versions: entries(),
            common_prefixes: vec!["dir/sub/".into()],
        });
        for expected in [
            "<ListVersionsResult xmlns=",
            "<Name>b</Name><Prefix>dir/</Prefix><KeyMarker>dir/0</KeyMarker>\
             <VersionIdMarker></VersionIdMarker><NextKeyMarker>dir/a b+c&amp;d</NextKeyMarker>\
             <NextVersionIdMarker>null</NextVersionIdMarker><MaxKeys>1</MaxKeys>\
             <Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>",
            "<Version><Key>dir/a b+c&amp;d</Key><VersionId>null</VersionId>\
             <IsLatest>true</IsLatest><LastModified>2013-05-24T00:00:00.005Z</LastModified>\
             <ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag><Size>42</Size>\
             <StorageClass>STANDARD</StorageClass></Version>",
            "<CommonPrefixes><Prefix>dir/sub/</Prefix></CommonPrefixes></ListVersionsResult>",
        ] {
            assert!(xml.contains(expected), "{expected} not in {xml}");
        }
    }

    #[test]
    fn object_attributes_parse_and_render() {
        use ObjectAttribute as A;
        assert_eq!(
            parse_object_attributes("ETag, ObjectSize,ETag"),
            Ok(vec![A::ETag, A::ObjectSize])
        );
        assert_eq!(
            code(parse_object_attributes("")),
            S3ErrorCode::InvalidArgument
        );
        assert_eq!(
            code(parse_object_attributes("ETag,Bogus")),
            S3ErrorCode::InvalidArgument
        );
        let attrs = ObjectAttributes {
            etag: "\"abc-2\"".into(),
            size_bytes: 7,
            parts_count: Some(2),
        };
        let all = [
            A::ETag,
            A::Checksum,
            A::ObjectParts,
            A::StorageClass,
            A::ObjectSize,
        ];
        assert_eq!(
            get_object_attributes_result(&attrs, &all),
            format!(
                "{XML_DECL}<GetObjectAttributesResponse xmlns=\"{XMLNS}\"><ETag>abc-2</ETag>\
                 <ObjectParts><PartsCount>2</PartsCount></ObjectParts>\
                 <StorageClass>STANDARD</StorageClass><ObjectSize>7</ObjectSize>\
                 </GetObjectAttributesResponse>"
            )
        );
        let single = ObjectAttributes {
            parts_count: None,
            ..attrs
        };
        let xml = get_object_attributes_result(&single, &[A::ObjectParts, A::ObjectSize]);
        assert!(!xml.contains("ObjectParts") && xml.contains("<ObjectSize>7</ObjectSize>"));
    }

    #[test]
    fn location_and_versioning_render() {
        assert_eq!(
            location_constraint(""),
            format!("{XML_DECL}<LocationConstraint xmlns=\"{XMLNS}\"></LocationConstraint>")
        );
        assert!(location_constraint("eu-west-1").contains(">eu-west-1</LocationConstraint>"));
        assert_eq!(
            versioning_configuration(None),
            format!(
                "{XML_DECL}<VersioningConfiguration xmlns=\"{XMLNS}\"></VersioningConfiguration>"
            )
        );
        assert!(versioning_configuration(Some(VersioningStatus::Enabled))
            .contains("<Status>Enabled</Status>"));
    }

    // --- request parsing ---------------------------------------------------------------------

    const COMPLETE_BOTO3: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>"a54357aff0632cce46d942af68356b38"</ETag><PartNumber>1</PartNumber></Part><Part><ETag>&quot;0c78aef83f66abc1fa1e8477f296d394&quot;</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32><PartNumber>2</PartNumber></Part><Part>
  <PartNumber> 3 </PartNumber>
  <ETag>acbd18db4cc2f85cedef654fccc4a4d8</ETag>
</Part></CompleteMultipartUpload>"#;

    #[test]
    fn complete_multipart_parses_quoted_escaped_and_bare_etags() {
        assert_eq!(
            parse_complete_multipart(COMPLETE_BOTO3.as_bytes()),
            Ok(vec![
                (1, "a54357aff0632cce46d942af68356b38".to_owned()),
                (2, "0c78aef83f66abc1fa1e8477f296d394".to_owned()),
                (3, "acbd18db4cc2f85cedef654fccc4a4d8".to_owned()),
            ])
        );
        // A namespace prefix, a BOM and a CDATA ETag are fine too.
        let body = "\u{feff}<s3:CompleteMultipartUpload xmlns:s3=\"x\"><s3:Part>\
                    <s3:PartNumber>7</s3:PartNumber><s3:ETag><![CDATA[\"e\"]]></s3:ETag>\
                    </s3:Part></s3:CompleteMultipartUpload>";
        assert_eq!(
            parse_complete_multipart(body.as_bytes()),
            Ok(vec![(7, "e".to_owned())])
        );
    }

    #[test]
    fn complete_multipart_rejects_bad_documents() {
        let wrap =
            |parts: &str| format!("<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>");
        let part = |n: &str| format!("<Part><PartNumber>{n}</PartNumber><ETag>e</ETag></Part>");
        let cases = [
            (String::new(), S3ErrorCode::MalformedXml),
            ("   ".to_owned(), S3ErrorCode::MalformedXml),
            (wrap(""), S3ErrorCode::MalformedXml),
            (wrap(&(part("2") + &part("1"))), S3ErrorCode::InvalidPartOrder),
            (wrap(&(part("1") + &part("1"))), S3ErrorCode::InvalidPartOrder),
            (wrap(&part("0")), S3ErrorCode::InvalidArgument),
            (wrap(&part("10001")), S3ErrorCode::InvalidArgument),
            (wrap(&part("-1")), S3ErrorCode::InvalidArgument),
            (wrap(&part("1x")), S3ErrorCode::InvalidArgument),
            (wrap(&part("99999999999")), S3ErrorCode::InvalidArgument),
            (wrap("<Part><PartNumber>1</PartNumber></Part>"), S3ErrorCode::MalformedXml),
            (wrap("<Part><ETag>e</ETag></Part>"), S3ErrorCode::MalformedXml),
            (
                wrap("<Part><PartNumber>1</PartNumber><PartNumber>2</PartNumber><ETag>e</ETag></Part>"),
                S3ErrorCode::MalformedXml,
            ),
            (wrap("<Part><PartNumber>1</PartNumber><ETag>e</ETag>"), S3ErrorCode::MalformedXml),
            ("<Other><Part/></Other>".to_owned(), S3ErrorCode::MalformedXml),
            (wrap(&part("1")) + "<CompleteMultipartUpload/>", S3ErrorCode::MalformedXml),
            (wrap(&part("1")) + "trailing", S3ErrorCode::MalformedXml),
            (wrap("<Part>x<PartNumber>1</PartNumber><ETag>e</ETag></Part>"), S3ErrorCode::MalformedXml),
            (wrap("<Part><PartNumber>1</PartNumber><ETag>&bogus;</ETag></Part>"), S3ErrorCode::MalformedXml),
            (
                "<!DOCTYPE x [<!ENTITY e \"e\">]>".to_owned() + &wrap(&part("1")),
                S3ErrorCode::MalformedXml,
            ),
            ("<CompleteMultipartUpload><Part></CompleteMultipartUpload>".to_owned(), S3ErrorCode::MalformedXml),
        ];
        for (body, expected) in cases {
            assert_eq!(
                code(parse_complete_multipart(body.as_bytes())),
                expected,
                "{body}"
            );
        }
        assert_eq!(
            code(parse_complete_multipart(
                b"<CompleteMultipartUpload>\xff</CompleteMultipartUpload>"
            )),
            S3ErrorCode::MalformedXml
        );
        let deep = format!(
            "<CompleteMultipartUpload>{}{}</CompleteMultipartUpload>",
            "<a>".repeat(XML_DEPTH_MAX),
            "</a>".repeat(XML_DEPTH_MAX)
        );
        let err = parse_complete_multipart(deep.as_bytes()).unwrap_err();
        assert!(err.message.contains("XML_DEPTH_MAX"), "{}", err.message);
    }

    #[test]
    fn complete_multipart_accepts_the_maximum_part_count() {
        let mut body = String::from("<CompleteMultipartUpload>");
        for n in 1..=PART_NUMBER_MAX {
            body.push_str(&format!(
                "<Part><PartNumber>{n}</PartNumber><ETag>\"{:032x}\"</ETag></Part>",
                n
            ));
        }
        body.push_str("</CompleteMultipartUpload>");
        let parts = parse_complete_multipart(body.as_bytes()).unwrap();
        assert_eq!(parts.len(), PART_NUMBER_MAX as usize);
        assert_eq!(parts[9_999].0, PART_NUMBER_MAX);
    }

    /// A valid document padded with whitespace to exactly `len` bytes.
    fn padded(doc: &str, len: usize) -> Vec<u8> {
        let mut body = doc.as_bytes().to_vec();
        assert!(body.len() <= len);
        body.resize(len, b' ');
        body
    }

    #[test]
    fn body_limits_are_exact() {
        let complete = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag>\
                        </Part></CompleteMultipartUpload>";
        assert!(
            parse_complete_multipart(&padded(complete, COMPLETE_MULTIPART_XML_BYTES_MAX)).is_ok()
        );
        assert_eq!(
            code(parse_complete_multipart(&padded(
                complete,
                COMPLETE_MULTIPART_XML_BYTES_MAX + 1
            ))),
            S3ErrorCode::MaxMessageLengthExceeded
        );
        let delete = "<Delete><Object><Key>k</Key></Object></Delete>";
        assert!(parse_delete_objects(&padded(delete, DELETE_OBJECTS_XML_BYTES_MAX)).is_ok());
        assert_eq!(
            code(parse_delete_objects(&padded(
                delete,
                DELETE_OBJECTS_XML_BYTES_MAX + 1
            ))),
            S3ErrorCode::MaxMessageLengthExceeded
        );
        let config = "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>";
        assert!(parse_versioning_configuration(&padded(config, CONFIG_XML_BYTES_MAX)).is_ok());
        assert_eq!(
            code(parse_versioning_configuration(&padded(
                config,
                CONFIG_XML_BYTES_MAX + 1
            ))),
            S3ErrorCode::MaxMessageLengthExceeded
        );
        assert_eq!(
            parse_create_bucket_configuration(&padded("", CONFIG_XML_BYTES_MAX)),
            Ok(None)
        );
        assert_eq!(
            code(parse_create_bucket_configuration(&padded(
                "",
                CONFIG_XML_BYTES_MAX + 1
            ))),
            S3ErrorCode::MaxMessageLengthExceeded
        );
    }

    #[test]
    fn delete_objects_parses_keys_verbatim_and_quiet() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Object><Key>sample1.txt</Key></Object>
  <Object><Key> spaced &amp; &lt;odd&gt; &#x1F600;&#13;</Key><VersionId>v1</VersionId></Object>
  <Quiet>true</Quiet>
</Delete>"#;
        assert_eq!(
            parse_delete_objects(body.as_bytes()),
            Ok((
                vec![
                    "sample1.txt".to_owned(),
                    " spaced & <odd> \u{1F600}\r".to_owned()
                ],
                true
            ))
        );
        let body = "<Delete><Object><Key>a</Key></Object><Quiet>False</Quiet></Delete>";
        assert_eq!(
            parse_delete_objects(body.as_bytes()),
            Ok((vec!["a".to_owned()], false))
        );
        // Raw control characters are not XML; character references to them are accepted.
        let body = b"<Delete><Object><Key>a\x01</Key></Object></Delete>";
        assert_eq!(code(parse_delete_objects(body)), S3ErrorCode::MalformedXml);
        let body = b"<Delete><Object><Key>a\x00</Key></Object></Delete>";
        assert_eq!(code(parse_delete_objects(body)), S3ErrorCode::MalformedXml);
        let body = b"<Delete><Object><Key>a&#x1;</Key></Object></Delete>";
        assert_eq!(
            parse_delete_objects(body),
            Ok((vec!["a\u{1}".to_owned()], false))
        );
        let body = b"<Delete><Object><Key>a&#x0;</Key></Object></Delete>";
        assert_eq!(code(parse_delete_objects(body)), S3ErrorCode::MalformedXml);
        let body = "<Delete><Object><Key></Key></Object></Delete>";
        assert_eq!(
            parse_delete_objects(body.as_bytes()),
            Ok((vec![String::new()], false))
        );
    }

    #[test]
    fn delete_objects_key_count_limit_is_exact() {
        let body = |n: usize| {
            let mut s = String::from("<Delete>");
            for i in 0..n {
                s.push_str(&format!("<Object><Key>k{i}</Key></Object>"));
            }
            s.push_str("</Delete>");
            s
        };
        let (keys, quiet) = parse_delete_objects(body(DELETE_OBJECTS_KEYS_MAX).as_bytes()).unwrap();
        assert_eq!((keys.len(), quiet), (DELETE_OBJECTS_KEYS_MAX, false));
        let err = parse_delete_objects(body(DELETE_OBJECTS_KEYS_MAX + 1).as_bytes()).unwrap_err();
        assert_eq!(err.code, S3ErrorCode::MalformedXml);
        assert!(
            err.message.contains("DELETE_OBJECTS_KEYS_MAX"),
            "{}",
            err.message
        );
    }

    #[test]
    fn delete_objects_rejects_bad_documents() {
        for body in [
            "",
            "<Delete></Delete>",
            "<Delete><Quiet>true</Quiet></Delete>",
            "<Delete><Object></Object></Delete>",
            "<Delete><Object><Key>a</Key><Key>b</Key></Object></Delete>",
            "<Delete><Object><Key>a</Key></Object><Quiet>yes</Quiet></Delete>",
            "<Delete><Object><Key>a</Key></Object><Quiet>true</Quiet><Quiet>true</Quiet></Delete>",
            "<Remove><Object><Key>a</Key></Object></Remove>",
            "<Delete><Object><Key>a</Key></Object>",
        ] {
            assert_eq!(
                code(parse_delete_objects(body.as_bytes())),
                S3ErrorCode::MalformedXml,
                "{body}"
            );
        }
    }

    #[test]
    fn create_bucket_configuration_variants() {
        assert_eq!(parse_create_bucket_configuration(b""), Ok(None));
        assert_eq!(parse_create_bucket_configuration(b" \r\n"), Ok(None));
        let body = br#"<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"#;
        assert_eq!(
            parse_create_bucket_configuration(body),
            Ok(Some("eu-west-1".to_owned()))
        );
        let body = b"<CreateBucketConfiguration><LocationConstraint/></CreateBucketConfiguration>";
        assert_eq!(parse_create_bucket_configuration(body), Ok(None));
        let body = b"<CreateBucketConfiguration></CreateBucketConfiguration>";
        assert_eq!(parse_create_bucket_configuration(body), Ok(None));
        for bad in [
            &b"<Bucket/>"[..],
            b"not xml",
            b"<CreateBucketConfiguration><LocationConstraint>a</LocationConstraint><LocationConstraint>b</LocationConstraint></CreateBucketConfiguration>",
        ] {
            assert_eq!(code(parse_create_bucket_configuration(bad)), S3ErrorCode::MalformedXml);
        }
        for unsupported in [
            &b"<CreateBucketConfiguration><Location><Type>AvailabilityZone</Type><Name>z</Name></Location><Bucket><Type>Directory</Type></Bucket></CreateBucketConfiguration>"[..],
            b"<CreateBucketConfiguration><Tags><Tag><Key>k</Key><Value>v</Value></Tag></Tags></CreateBucketConfiguration>",
        ] {
            assert_eq!(
                code(parse_create_bucket_configuration(unsupported)),
                S3ErrorCode::NotImplemented
            );
        }
    }

    #[test]
    fn versioning_configuration_variants() {
        let parse = |s: &str| parse_versioning_configuration(s.as_bytes());
        assert_eq!(
            parse("<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"),
            Ok(Some(VersioningStatus::Enabled))
        );
        assert_eq!(
            parse("<VersioningConfiguration><Status>Suspended</Status><MfaDelete>Disabled</MfaDelete></VersioningConfiguration>"),
            Ok(Some(VersioningStatus::Suspended))
        );
        assert_eq!(parse("<VersioningConfiguration/>"), Ok(None));
        assert_eq!(
            parse("<VersioningConfiguration><Status>Suspended</Status><MfaDelete>Enabled</MfaDelete></VersioningConfiguration>")
                .map_err(|e| e.code),
            Err(S3ErrorCode::NotImplemented)
        );
        assert_eq!(
            code(parse(
                "<VersioningConfiguration><Status>On</Status></VersioningConfiguration>"
            )),
            S3ErrorCode::MalformedXml
        );
        assert_eq!(code(parse("")), S3ErrorCode::MalformedXml);
    }

    #[test]
    fn rendered_listing_reparses_with_quick_xml() {
        // Whatever we render must be well-formed, even with hostile keys.
        let page = ListObjectsV2 {
            bucket: "b".into(),
            contents: vec![ObjectEntry {
                key: "<&>\"'\r\u{1}".into(),
                last_modified_unix_nanos: 0,
                etag: "\"e\"".into(),
                size_bytes: 0,
            }],
            ..ListObjectsV2::default()
        };
        let xml = list_objects_v2(&page);
        let mut reader = Reader::from_str(&xml);
        loop {
            match reader.read_event() {
                Ok(Event::Eof) => break,
                Ok(_) => {}
                Err(err) => panic!("{err}: {xml}"),
            }
        }
    }

    proptest! {
        #[test]
        fn parsers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_complete_multipart(&body);
            let _ = parse_delete_objects(&body);
            let _ = parse_create_bucket_configuration(&body);
            let _ = parse_versioning_configuration(&body);
        }

        #[test]
        fn delete_objects_round_trips_arbitrary_keys(
            keys in proptest::collection::vec("[^\u{0}-\u{8}\u{b}\u{c}\u{e}-\u{1f}\u{fffe}\u{ffff}]{0,40}", 1..20),
            quiet in any::<bool>(),
        ) {
            let mut body = String::from("<Delete>");
            for key in &keys {
                body.push_str("<Object><Key>");
                escape_xml(&mut body, key);
                body.push_str("</Key></Object>");
            }
            body.push_str(&format!("<Quiet>{quiet}</Quiet></Delete>"));
            prop_assert_eq!(parse_delete_objects(body.as_bytes()), Ok((keys, quiet)));
        }
    }
}

#[cfg(test)]
mod response_parser_tests {
    use super::*;

    #[test]
    fn list_objects_v2_result_pages_and_entities() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated><Contents><Key>a&amp;b</Key><LastModified>2013-05-24T00:00:00.000Z</LastModified><ETag>&quot;x&quot;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass></Contents><Contents><Key>dir/c&#x41;</Key><Size>0</Size></Contents><CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes><NextContinuationToken>tok&lt;1</NextContinuationToken></ListBucketResult>"#;
        let r = parse_list_objects_v2_result(xml).unwrap();
        assert_eq!(r.objects.len(), 2);
        assert_eq!(
            r.objects[0],
            ListedObject {
                key: "a&b".into(),
                size: 12,
                etag: "x".into(),
                last_modified_ns: Some(1_369_353_600_000_000_000),
            }
        );
        assert_eq!(r.objects[1].key, "dir/cA");
        assert_eq!(r.objects[1].last_modified_ns, None);
        assert_eq!(r.common_prefixes, vec!["p/".to_owned()]);
        assert!(r.is_truncated);
        assert_eq!(r.next_continuation_token, "tok<1");
        // Round trip through our own renderer.
        let ours = list_objects_v2(&ListObjectsV2 {
            bucket: "b".into(),
            max_keys: 1000,
            contents: vec![ObjectEntry {
                key: "k <1>".into(),
                size_bytes: 5,
                etag: "\"e\"".into(),
                last_modified_unix_nanos: 1_369_353_600_000_000_000,
            }],
            ..Default::default()
        });
        let r = parse_list_objects_v2_result(ours.as_bytes()).unwrap();
        assert_eq!(r.objects[0].key, "k <1>");
        assert_eq!(r.objects[0].etag, "e");
        assert!(!r.is_truncated && r.next_continuation_token.is_empty());
    }

    #[test]
    fn list_objects_v2_result_rejects_what_it_cannot_use() {
        for bad in [
            &b"<Error><Code>NoSuchBucket</Code></Error>"[..],
            b"<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
            b"<ListBucketResult><Contents><Key>x</Key><Size>z</Size></Contents></ListBucketResult>",
            b"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
            b"<ListBucketResult><Contents><Key>&bogus;</Key></Contents></ListBucketResult>",
            b"<ListBucketResult>",
        ] {
            let e = parse_list_objects_v2_result(bad).unwrap_err();
            assert_eq!(
                e.code,
                S3ErrorCode::MalformedXml,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let big = vec![b' '; LIST_RESULT_XML_BYTES_MAX + 1];
        assert!(parse_list_objects_v2_result(&big).is_err());
    }

    #[test]
    fn list_buckets_and_error_bodies_parse() {
        let xml = br#"<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>1</ID></Owner><Buckets><Bucket><Name>a</Name><CreationDate>2013-05-24T00:00:00.000Z</CreationDate></Bucket><Bucket><Name>b</Name></Bucket></Buckets></ListAllMyBucketsResult>"#;
        assert_eq!(parse_list_all_my_buckets_result(xml).unwrap(), ["a", "b"]);
        let rendered = list_all_my_buckets(
            &Owner::default(),
            &[BucketEntry {
                name: "x".into(),
                creation_date_unix_nanos: 0,
            }],
            &BucketsPage::default(),
        );
        assert_eq!(
            parse_list_all_my_buckets_result(rendered.as_bytes()).unwrap(),
            ["x"]
        );
        let err = br#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>k</Key><RequestId>1</RequestId></Error>"#;
        assert_eq!(
            parse_error_response(err).unwrap(),
            (
                "NoSuchKey".to_owned(),
                "The specified key does not exist.".to_owned()
            )
        );
        assert!(parse_error_response(b"not xml").is_err());
        assert!(parse_error_response(b"<Other/>").is_err());
    }
}
