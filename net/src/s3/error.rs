//! S3 wire errors: the error codes S3 clients understand, their HTTP statuses, and the XML error
//! body (`<Error><Code>…</Code><Message>…</Message><Resource>…</Resource><RequestId>…</RequestId>
//! </Error>`).
//!
//! Every fallible function in [`crate::s3`] returns an [`S3Error`] whose message names the value
//! or limit at fault; the caller fills in [`S3Error::resource`] and [`S3Error::request_id`]
//! (builders [`S3Error::with_resource`] / [`S3Error::with_request_id`]) before rendering it.
//!
//! Codes and statuses follow the S3 API reference ("Error responses", "List of error codes").
//! Responses to `HEAD` requests and `304 Not Modified` carry no body: the caller must not send
//! [`S3Error::to_xml`] for them.

use std::fmt;

use super::xml::escape_xml;

/// S3 error codes used by this server. [`S3ErrorCode::as_str`] is the `<Code>` value on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum S3ErrorCode {
    /// 403: generic authorization failure; also an expired or not-yet-valid presigned URL.
    AccessDenied,
    /// 400: the `Authorization` header does not parse (components, credential scope, date).
    AuthorizationHeaderMalformed,
    /// 400: a presigned URL's `X-Amz-*` query parameters are missing or invalid.
    AuthorizationQueryParametersError,
    /// 400: the body's MD5 or flexible checksum does not match the one the client sent.
    BadDigest,
    /// 409: the bucket name is taken by another owner.
    BucketAlreadyExists,
    /// 409: the bucket already exists and is the requester's.
    BucketAlreadyOwnedByYou,
    /// 409: the bucket must be empty for this operation (DeleteBucket).
    BucketNotEmpty,
    /// 400: a multipart part other than the last is smaller than the minimum part size.
    EntityTooSmall,
    /// 400: the body is larger than the maximum object or part size.
    EntityTooLarge,
    /// 400: the session token has expired.
    ExpiredToken,
    /// 400: the body ended before `Content-Length` / `x-amz-decoded-content-length` bytes.
    IncompleteBody,
    /// 500: a server-side failure.
    InternalError,
    /// 507: the server is out of space (not an AWS code: AIS and MinIO answer 507 too).
    InsufficientStorage,
    /// 403: the access key is not known.
    InvalidAccessKeyId,
    /// 400: an argument (query parameter or header value) is invalid.
    InvalidArgument,
    /// 400: the bucket name does not follow the naming rules.
    InvalidBucketName,
    InvalidStorageClass,
    /// 400: `Content-MD5` (or a checksum header) is not valid base64 of the right length.
    InvalidDigest,
    /// 400: a part named in CompleteMultipartUpload is missing or its ETag does not match.
    InvalidPart,
    /// 400: the parts of CompleteMultipartUpload are not in ascending part-number order.
    InvalidPartOrder,
    /// 416: `partNumber` beyond the object's parts.
    InvalidPartNumber,
    /// 416: the requested byte range is not satisfiable.
    InvalidRange,
    /// 400: the request is not valid for another reason (the message says which).
    InvalidRequest,
    /// 400: the URI could not be parsed (for example an invalid percent-escape).
    InvalidUri,
    /// 400: the object key is longer than [`crate::s3::KEY_BYTES_MAX`].
    KeyTooLongError,
    /// 400: the XML body is not well formed or does not follow the schema.
    MalformedXml,
    /// 400: the trailer section of an aws-chunked body is malformed or incomplete.
    MalformedTrailerError,
    /// 400: the request body is larger than this API accepts.
    MaxMessageLengthExceeded,
    /// 405: the method is not allowed on this resource.
    MethodNotAllowed,
    /// 411: `Content-Length` is required.
    MissingContentLength,
    /// 404: the bucket does not exist.
    NoSuchBucket,
    /// 404: the object does not exist.
    NoSuchKey,
    /// 404: the multipart upload does not exist (aborted, completed, or never started).
    NoSuchUpload,
    /// 404: `versionId` names a version that does not exist (AIS keeps only the current,
    /// version "null").
    NoSuchVersion,
    /// 501: the operation or header is not implemented.
    NotImplemented,
    /// 304: `If-None-Match` / `If-Modified-Since` say the client's copy is current (no body).
    NotModified,
    /// 412: `If-Match` / `If-Unmodified-Since` (or their copy-source forms) failed.
    PreconditionFailed,
    /// 400: the body was not received within the server's timeout.
    RequestTimeout,
    /// 403: the request time differs from the server time by more than the allowed skew.
    RequestTimeTooSkewed,
    /// 503: the server is overloaded; retry later.
    ServiceUnavailable,
    /// 403: the SigV4 signature (request, chunk, or trailer) does not match.
    SignatureDoesNotMatch,
    /// 503: reduce the request rate.
    SlowDown,
    /// 307: the request must be resent to `<Endpoint>`.
    TemporaryRedirect,
    /// 400: the SHA-256 of the body differs from `x-amz-content-sha256`.
    XAmzContentSha256Mismatch,
}

impl S3ErrorCode {
    /// Every code, for exhaustive tests and tooling.
    pub const ALL: [S3ErrorCode; 44] = [
        S3ErrorCode::AccessDenied,
        S3ErrorCode::AuthorizationHeaderMalformed,
        S3ErrorCode::AuthorizationQueryParametersError,
        S3ErrorCode::BadDigest,
        S3ErrorCode::BucketAlreadyExists,
        S3ErrorCode::BucketAlreadyOwnedByYou,
        S3ErrorCode::BucketNotEmpty,
        S3ErrorCode::EntityTooSmall,
        S3ErrorCode::EntityTooLarge,
        S3ErrorCode::ExpiredToken,
        S3ErrorCode::IncompleteBody,
        S3ErrorCode::InternalError,
        S3ErrorCode::InsufficientStorage,
        S3ErrorCode::InvalidAccessKeyId,
        S3ErrorCode::InvalidArgument,
        S3ErrorCode::InvalidBucketName,
        S3ErrorCode::InvalidStorageClass,
        S3ErrorCode::InvalidDigest,
        S3ErrorCode::InvalidPart,
        S3ErrorCode::InvalidPartOrder,
        S3ErrorCode::InvalidPartNumber,
        S3ErrorCode::InvalidRange,
        S3ErrorCode::InvalidRequest,
        S3ErrorCode::InvalidUri,
        S3ErrorCode::KeyTooLongError,
        S3ErrorCode::MalformedXml,
        S3ErrorCode::MalformedTrailerError,
        S3ErrorCode::MaxMessageLengthExceeded,
        S3ErrorCode::MethodNotAllowed,
        S3ErrorCode::MissingContentLength,
        S3ErrorCode::NoSuchBucket,
        S3ErrorCode::NoSuchKey,
        S3ErrorCode::NoSuchUpload,
        S3ErrorCode::NoSuchVersion,
        S3ErrorCode::NotImplemented,
        S3ErrorCode::NotModified,
        S3ErrorCode::PreconditionFailed,
        S3ErrorCode::RequestTimeout,
        S3ErrorCode::RequestTimeTooSkewed,
        S3ErrorCode::ServiceUnavailable,
        S3ErrorCode::SignatureDoesNotMatch,
        S3ErrorCode::SlowDown,
        S3ErrorCode::TemporaryRedirect,
        S3ErrorCode::XAmzContentSha256Mismatch,
    ];

    /// The `<Code>` string exactly as S3 spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            S3ErrorCode::AccessDenied => "AccessDenied",
            S3ErrorCode::AuthorizationHeaderMalformed => "AuthorizationHeaderMalformed",
            S3ErrorCode::AuthorizationQueryParametersError => "AuthorizationQueryParametersError",
            S3ErrorCode::BadDigest => "BadDigest",
            S3ErrorCode::BucketAlreadyExists => "BucketAlreadyExists",
            S3ErrorCode::BucketAlreadyOwnedByYou => "BucketAlreadyOwnedByYou",
            S3ErrorCode::BucketNotEmpty => "BucketNotEmpty",
            S3ErrorCode::EntityTooSmall => "EntityTooSmall",
            S3ErrorCode::EntityTooLarge => "EntityTooLarge",
            S3ErrorCode::ExpiredToken => "ExpiredToken",
            S3ErrorCode::IncompleteBody => "IncompleteBody",
            S3ErrorCode::InternalError => "InternalError",
            S3ErrorCode::InsufficientStorage => "InsufficientStorage",
            S3ErrorCode::InvalidAccessKeyId => "InvalidAccessKeyId",
            S3ErrorCode::InvalidArgument => "InvalidArgument",
            S3ErrorCode::InvalidBucketName => "InvalidBucketName",
            S3ErrorCode::InvalidStorageClass => "InvalidStorageClass",
            S3ErrorCode::InvalidDigest => "InvalidDigest",
            S3ErrorCode::InvalidPart => "InvalidPart",
            S3ErrorCode::InvalidPartOrder => "InvalidPartOrder",
            S3ErrorCode::InvalidPartNumber => "InvalidPartNumber",
            S3ErrorCode::InvalidRange => "InvalidRange",
            S3ErrorCode::InvalidRequest => "InvalidRequest",
            S3ErrorCode::InvalidUri => "InvalidURI",
            S3ErrorCode::KeyTooLongError => "KeyTooLongError",
            S3ErrorCode::MalformedXml => "MalformedXML",
            S3ErrorCode::MalformedTrailerError => "MalformedTrailerError",
            S3ErrorCode::MaxMessageLengthExceeded => "MaxMessageLengthExceeded",
            S3ErrorCode::MethodNotAllowed => "MethodNotAllowed",
            S3ErrorCode::MissingContentLength => "MissingContentLength",
            S3ErrorCode::NoSuchBucket => "NoSuchBucket",
            S3ErrorCode::NoSuchKey => "NoSuchKey",
            S3ErrorCode::NoSuchUpload => "NoSuchUpload",
            S3ErrorCode::NoSuchVersion => "NoSuchVersion",
            S3ErrorCode::NotImplemented => "NotImplemented",
            S3ErrorCode::NotModified => "NotModified",
            S3ErrorCode::PreconditionFailed => "PreconditionFailed",
            S3ErrorCode::RequestTimeout => "RequestTimeout",
            S3ErrorCode::RequestTimeTooSkewed => "RequestTimeTooSkewed",
            S3ErrorCode::ServiceUnavailable => "ServiceUnavailable",
            S3ErrorCode::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            S3ErrorCode::SlowDown => "SlowDown",
            S3ErrorCode::TemporaryRedirect => "TemporaryRedirect",
            S3ErrorCode::XAmzContentSha256Mismatch => "XAmzContentSHA256Mismatch",
        }
    }

    /// The HTTP status S3 answers this code with.
    pub fn status(self) -> u16 {
        match self {
            S3ErrorCode::NotModified => 304,
            S3ErrorCode::TemporaryRedirect => 307,
            S3ErrorCode::AuthorizationHeaderMalformed
            | S3ErrorCode::AuthorizationQueryParametersError
            | S3ErrorCode::BadDigest
            | S3ErrorCode::EntityTooSmall
            | S3ErrorCode::EntityTooLarge
            | S3ErrorCode::ExpiredToken
            | S3ErrorCode::IncompleteBody
            | S3ErrorCode::InvalidArgument
            | S3ErrorCode::InvalidBucketName
            | S3ErrorCode::InvalidStorageClass
            | S3ErrorCode::InvalidDigest
            | S3ErrorCode::InvalidPart
            | S3ErrorCode::InvalidPartOrder
            | S3ErrorCode::InvalidRequest
            | S3ErrorCode::InvalidUri
            | S3ErrorCode::KeyTooLongError
            | S3ErrorCode::MalformedXml
            | S3ErrorCode::MalformedTrailerError
            | S3ErrorCode::MaxMessageLengthExceeded
            | S3ErrorCode::RequestTimeout
            | S3ErrorCode::XAmzContentSha256Mismatch => 400,
            S3ErrorCode::AccessDenied
            | S3ErrorCode::InvalidAccessKeyId
            | S3ErrorCode::RequestTimeTooSkewed
            | S3ErrorCode::SignatureDoesNotMatch => 403,
            S3ErrorCode::NoSuchBucket
            | S3ErrorCode::NoSuchKey
            | S3ErrorCode::NoSuchUpload
            | S3ErrorCode::NoSuchVersion => 404,
            S3ErrorCode::MethodNotAllowed => 405,
            S3ErrorCode::BucketAlreadyExists
            | S3ErrorCode::BucketAlreadyOwnedByYou
            | S3ErrorCode::BucketNotEmpty => 409,
            S3ErrorCode::MissingContentLength => 411,
            S3ErrorCode::PreconditionFailed => 412,
            S3ErrorCode::InvalidRange | S3ErrorCode::InvalidPartNumber => 416,
            S3ErrorCode::InternalError => 500,
            S3ErrorCode::InsufficientStorage => 507,
            S3ErrorCode::NotImplemented => 501,
            S3ErrorCode::ServiceUnavailable | S3ErrorCode::SlowDown => 503,
        }
    }

    /// S3's standard message for this code, used by [`S3Error::from_code`].
    pub fn default_message(self) -> &'static str {
        match self {
            S3ErrorCode::AccessDenied => "Access Denied",
            S3ErrorCode::AuthorizationHeaderMalformed => {
                "The authorization header you provided is invalid."
            }
            S3ErrorCode::AuthorizationQueryParametersError => {
                "Error parsing the X-Amz-Credential parameter."
            }
            S3ErrorCode::BadDigest => {
                "The Content-MD5 or checksum value that you specified did not match what the \
                 server received."
            }
            S3ErrorCode::BucketAlreadyExists => {
                "The requested bucket name is not available. The bucket namespace is shared by \
                 all users of the system. Please select a different name and try again."
            }
            S3ErrorCode::BucketAlreadyOwnedByYou => {
                "Your previous request to create the named bucket succeeded and you already own \
                 it."
            }
            S3ErrorCode::BucketNotEmpty => "The bucket you tried to delete is not empty",
            S3ErrorCode::EntityTooSmall => {
                "Your proposed upload is smaller than the minimum allowed object size."
            }
            S3ErrorCode::EntityTooLarge => {
                "Your proposed upload exceeds the maximum allowed object size."
            }
            S3ErrorCode::ExpiredToken => "The provided token has expired.",
            S3ErrorCode::IncompleteBody => {
                "You did not provide the number of bytes specified by the Content-Length HTTP \
                 header."
            }
            S3ErrorCode::InternalError => "We encountered an internal error. Please try again.",
            S3ErrorCode::InsufficientStorage => "The server is out of space.",
            S3ErrorCode::InvalidAccessKeyId => {
                "The AWS Access Key Id you provided does not exist in our records."
            }
            S3ErrorCode::InvalidArgument => "Invalid Argument",
            S3ErrorCode::InvalidBucketName => "The specified bucket is not valid.",
            S3ErrorCode::InvalidStorageClass => "The storage class you specified is not valid.",
            S3ErrorCode::InvalidDigest => "The Content-MD5 you specified is not valid.",
            S3ErrorCode::InvalidPart => {
                "One or more of the specified parts could not be found. The part may not have \
                 been uploaded, or the specified entity tag may not match the part's entity tag."
            }
            S3ErrorCode::InvalidPartOrder => {
                "The list of parts was not in ascending order. The parts list must be specified \
                 in order by part number."
            }
            S3ErrorCode::InvalidRange => "The requested range is not satisfiable",
            S3ErrorCode::InvalidPartNumber => "The requested partnumber is not satisfiable",
            S3ErrorCode::InvalidRequest => "Invalid Request",
            S3ErrorCode::InvalidUri => "Couldn't parse the specified URI.",
            S3ErrorCode::KeyTooLongError => "Your key is too long",
            S3ErrorCode::MalformedXml => {
                "The XML you provided was not well-formed or did not validate against our \
                 published schema."
            }
            S3ErrorCode::MalformedTrailerError => {
                "The request contained trailing data that was not well-formed or did not \
                 conform to our published schema."
            }
            S3ErrorCode::MaxMessageLengthExceeded => "Your request was too big.",
            S3ErrorCode::MethodNotAllowed => {
                "The specified method is not allowed against this resource."
            }
            S3ErrorCode::MissingContentLength => "You must provide the Content-Length HTTP header.",
            S3ErrorCode::NoSuchBucket => "The specified bucket does not exist",
            S3ErrorCode::NoSuchKey => "The specified key does not exist.",
            S3ErrorCode::NoSuchUpload => {
                "The specified upload does not exist. The upload ID may be invalid, or the \
                 upload may have been aborted or completed."
            }
            S3ErrorCode::NoSuchVersion => "The specified version does not exist.",
            S3ErrorCode::NotImplemented => {
                "A header you provided implies functionality that is not implemented"
            }
            S3ErrorCode::NotModified => "Not Modified",
            S3ErrorCode::PreconditionFailed => {
                "At least one of the pre-conditions you specified did not hold"
            }
            S3ErrorCode::RequestTimeout => {
                "Your socket connection to the server was not read from or written to within \
                 the timeout period."
            }
            S3ErrorCode::RequestTimeTooSkewed => {
                "The difference between the request time and the current time is too large."
            }
            S3ErrorCode::ServiceUnavailable => "Please reduce your request rate.",
            S3ErrorCode::SignatureDoesNotMatch => {
                "The request signature we calculated does not match the signature you provided. \
                 Check your key and signing method."
            }
            S3ErrorCode::SlowDown => "Please reduce your request rate.",
            S3ErrorCode::TemporaryRedirect => {
                "Please re-send this request to the specified \
                                               temporary endpoint."
            }
            S3ErrorCode::XAmzContentSha256Mismatch => {
                "The provided 'x-amz-content-sha256' header does not match what was computed."
            }
        }
    }
}

impl fmt::Display for S3ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An S3 error response: code (hence status), human-readable message, the resource the request
/// named (path), and the request ID the server assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Error {
    /// What went wrong, as S3 clients classify it.
    pub code: S3ErrorCode,
    /// Human-readable detail naming the value or limit at fault.
    pub message: String,
    /// The resource (request path) the error is about; empty if not set.
    pub resource: String,
    /// The server-assigned request ID; empty if not set.
    pub request_id: String,
}

impl S3Error {
    /// An error with `code` and a specific `message`; resource and request ID empty.
    pub fn new(code: S3ErrorCode, message: impl Into<String>) -> Self {
        S3Error {
            code,
            message: message.into(),
            resource: String::new(),
            request_id: String::new(),
        }
    }

    /// An error with `code` and S3's standard message for it.
    pub fn from_code(code: S3ErrorCode) -> Self {
        S3Error::new(code, code.default_message())
    }

    /// Set the resource (request path).
    pub fn with_resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = resource.into();
        self
    }

    /// Set the request ID.
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = request_id.into();
        self
    }

    /// HTTP status to answer with (see [`S3ErrorCode::status`]).
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The `<Code>` string (see [`S3ErrorCode::as_str`]).
    pub fn as_str(&self) -> &'static str {
        self.code.as_str()
    }

    /// The XML error body, with every field XML-escaped. Send it with
    /// `Content-Type: application/xml` (not for `HEAD` requests or 304 responses, which have no
    /// body).
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(
            160 + self.message.len() + self.resource.len() + self.request_id.len(),
        );
        out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        out.push_str("\n<Error><Code>");
        out.push_str(self.code.as_str());
        out.push_str("</Code><Message>");
        escape_xml(&mut out, &self.message);
        out.push_str("</Message><Resource>");
        escape_xml(&mut out, &self.resource);
        out.push_str("</Resource><RequestId>");
        escape_xml(&mut out, &self.request_id);
        out.push_str("</RequestId></Error>");
        out
    }
}

/// The body of a `307 Temporary Redirect` from the proxy to a target (spec §8, "Object
/// redirects"): `<Error><Code>TemporaryRedirect</Code><Message>Redirect</Message>
/// <Endpoint>…</Endpoint><Bucket>…</Bucket></Error>`, values XML-escaped. Send it with
/// `Location: <endpoint>`.
pub fn temporary_redirect_xml(endpoint: &str, bucket: &str) -> String {
    let mut out = String::with_capacity(160 + endpoint.len() + bucket.len());
    out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    out.push_str("\n<Error><Code>TemporaryRedirect</Code><Message>Redirect</Message><Endpoint>");
    escape_xml(&mut out, endpoint);
    out.push_str("</Endpoint><Bucket>");
    escape_xml(&mut out, bucket);
    out.push_str("</Bucket></Error>");
    out
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code.as_str(),
            self.status(),
            self.message
        )?;
        if !self.resource.is_empty() {
            write!(f, " [resource {}]", self.resource)?;
        }
        Ok(())
    }
}

impl std::error::Error for S3Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_distinct_name_and_an_error_or_redirect_status() {
        let mut names = std::collections::HashSet::new();
        for code in S3ErrorCode::ALL {
            names.insert(code.as_str());
            let status = code.status();
            assert!(
                status == 304 || status == 307 || (400..600).contains(&status),
                "{code} -> {status}"
            );
            assert!(!code.default_message().is_empty());
        }
        assert_eq!(names.len(), S3ErrorCode::ALL.len());
    }

    #[test]
    fn statuses_match_the_s3_reference() {
        let table = [
            (S3ErrorCode::NoSuchBucket, "NoSuchBucket", 404),
            (S3ErrorCode::NoSuchKey, "NoSuchKey", 404),
            (S3ErrorCode::NoSuchUpload, "NoSuchUpload", 404),
            (S3ErrorCode::BucketAlreadyExists, "BucketAlreadyExists", 409),
            (
                S3ErrorCode::BucketAlreadyOwnedByYou,
                "BucketAlreadyOwnedByYou",
                409,
            ),
            (S3ErrorCode::BucketNotEmpty, "BucketNotEmpty", 409),
            (S3ErrorCode::InvalidBucketName, "InvalidBucketName", 400),
            (S3ErrorCode::InvalidStorageClass, "InvalidStorageClass", 400),
            (S3ErrorCode::InvalidRange, "InvalidRange", 416),
            (
                S3ErrorCode::SignatureDoesNotMatch,
                "SignatureDoesNotMatch",
                403,
            ),
            (S3ErrorCode::AccessDenied, "AccessDenied", 403),
            (S3ErrorCode::InvalidAccessKeyId, "InvalidAccessKeyId", 403),
            (
                S3ErrorCode::RequestTimeTooSkewed,
                "RequestTimeTooSkewed",
                403,
            ),
            (
                S3ErrorCode::AuthorizationHeaderMalformed,
                "AuthorizationHeaderMalformed",
                400,
            ),
            (S3ErrorCode::InvalidArgument, "InvalidArgument", 400),
            (S3ErrorCode::InvalidRequest, "InvalidRequest", 400),
            (S3ErrorCode::InvalidPart, "InvalidPart", 400),
            (S3ErrorCode::InvalidPartOrder, "InvalidPartOrder", 400),
            (S3ErrorCode::EntityTooSmall, "EntityTooSmall", 400),
            (S3ErrorCode::EntityTooLarge, "EntityTooLarge", 400),
            (S3ErrorCode::MalformedXml, "MalformedXML", 400),
            (S3ErrorCode::MethodNotAllowed, "MethodNotAllowed", 405),
            (S3ErrorCode::NotImplemented, "NotImplemented", 501),
            (S3ErrorCode::PreconditionFailed, "PreconditionFailed", 412),
            (S3ErrorCode::NotModified, "NotModified", 304),
            (
                S3ErrorCode::MissingContentLength,
                "MissingContentLength",
                411,
            ),
            (S3ErrorCode::InternalError, "InternalError", 500),
            (S3ErrorCode::BadDigest, "BadDigest", 400),
            (S3ErrorCode::InvalidDigest, "InvalidDigest", 400),
            (
                S3ErrorCode::XAmzContentSha256Mismatch,
                "XAmzContentSHA256Mismatch",
                400,
            ),
            (S3ErrorCode::IncompleteBody, "IncompleteBody", 400),
            (S3ErrorCode::KeyTooLongError, "KeyTooLongError", 400),
            (S3ErrorCode::ExpiredToken, "ExpiredToken", 400),
            (S3ErrorCode::InvalidUri, "InvalidURI", 400),
            (S3ErrorCode::TemporaryRedirect, "TemporaryRedirect", 307),
            (S3ErrorCode::SlowDown, "SlowDown", 503),
        ];
        for (code, name, status) in table {
            assert_eq!(code.as_str(), name);
            assert_eq!(code.status(), status, "{name}");
        }
    }

    #[test]
    fn to_xml_renders_all_fields_escaped() {
        let err = S3Error::new(S3ErrorCode::NoSuchKey, "key <a&b> \"q\" 'x'")
            .with_resource("/s3/bkt/a&b")
            .with_request_id("id<1>");
        assert_eq!(
            err.to_xml(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>\
             <Message>key &lt;a&amp;b&gt; &quot;q&quot; &apos;x&apos;</Message>\
             <Resource>/s3/bkt/a&amp;b</Resource><RequestId>id&lt;1&gt;</RequestId></Error>"
        );
        assert_eq!(err.status(), 404);
        assert_eq!(err.as_str(), "NoSuchKey");
    }

    #[test]
    fn to_xml_with_empty_fields_keeps_the_elements() {
        let xml = S3Error::from_code(S3ErrorCode::AccessDenied).to_xml();
        assert!(xml.contains("<Code>AccessDenied</Code><Message>Access Denied</Message>"));
        assert!(xml.ends_with("<Resource></Resource><RequestId></RequestId></Error>"));
    }

    #[test]
    fn temporary_redirect_body_escapes_the_endpoint() {
        assert_eq!(
            temporary_redirect_xml("http://t1:8081/s3/b/o?x=1&y=2", "b"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>TemporaryRedirect</Code>\
             <Message>Redirect</Message><Endpoint>http://t1:8081/s3/b/o?x=1&amp;y=2</Endpoint>\
             <Bucket>b</Bucket></Error>"
        );
    }

    #[test]
    fn display_names_code_status_message_and_resource() {
        let err = S3Error::new(S3ErrorCode::InvalidRange, "range 10-5").with_resource("/b/o");
        assert_eq!(
            err.to_string(),
            "InvalidRange (416): range 10-5 [resource /b/o]"
        );
    }
}
