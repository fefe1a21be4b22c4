//! S3's legacy signature (AWS signature version 2, "HMAC-SHA1"), sans-IO, in both forms:
//!
//! * header: `Authorization: AWS <access key>:<base64 HMAC-SHA1>` (s3cmd with
//!   `signature_v2 = True`, botocore's `signature_version="s3"`, older SDKs);
//! * query (presigned URL): `AWSAccessKeyId`, `Expires` (unix seconds), `Signature` (boto3's
//!   `generate_presigned_url` with a default client).
//!
//! String to sign (S3 "Authenticating requests (AWS signature version 2)"):
//!
//! ```text
//! <METHOD>\n<Content-MD5>\n<Content-Type>\n<Date or Expires>\n<x-amz-* headers><resource>
//! ```
//!
//! where the `x-amz-*` headers are lowercased, sorted, repeated values joined by `,`, one
//! `name:value\n` each (for presigned URLs, `x-amz-*`, `Content-Type` and `Content-MD5` may come
//! in the query instead, as botocore puts them), and the resource is the raw path followed by
//! the sub-resources of [`SIGNED_SUBRESOURCES`] present in the query, sorted by name, values
//! percent-decoded (`/b/k?partNumber=1&uploadId=x`).
//!
//! The date line is the `Date` header; clients that send `x-amz-date` instead sign an empty
//! date line (both are tried). Header auth must be within [`CLOCK_SKEW_MAX_SECS`] of the server
//! time; a presigned URL is valid until `Expires`.

use super::error::{S3Error, S3ErrorCode};
use super::sigv4::{RequestParts, CLOCK_SKEW_MAX_SECS};
use crate::time::parse_http_date;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

/// Percent-decode a query name or value (`+` stays `+`); malformed escapes are kept as sent.
fn percent_decode_bytes_lossy(s: &str) -> String {
    crate::http::percent_decode_path(s).unwrap_or_else(|_| s.to_owned())
}

/// Query parameters that are part of the signed resource (botocore's `HmacV1Auth` list, which
/// is S3's documented list plus later additions).
pub const SIGNED_SUBRESOURCES: [&str; 36] = [
    "accelerate",
    "acl",
    "cors",
    "defaultObjectAcl",
    "location",
    "logging",
    "partNumber",
    "policy",
    "requestPayment",
    "torrent",
    "versioning",
    "versionId",
    "versions",
    "website",
    "uploads",
    "uploadId",
    "response-content-type",
    "response-content-language",
    "response-expires",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "delete",
    "lifecycle",
    "tagging",
    "restore",
    "storageClass",
    "notification",
    "replication",
    "analytics",
    "metrics",
    "inventory",
    "select",
    "select-type",
    "object-lock",
    "intelligent-tiering",
];

/// A SigV2-authenticated request, parsed (syntax only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Auth {
    pub access_key: String,
    /// The decoded HMAC-SHA1 (20 bytes when well-formed).
    pub signature: Vec<u8>,
    /// Presigned URL: the `Expires` query value (unix seconds, the date line of the string to
    /// sign). `None` for header auth.
    pub expires: Option<String>,
}

impl V2Auth {
    pub fn is_presigned(&self) -> bool {
        self.expires.is_some()
    }
}

/// Does this request use SigV2 (header `AWS ...` or `AWSAccessKeyId` + `Signature` query)?
pub fn is_v2(req: &RequestParts) -> bool {
    let header = req.headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("authorization") && v.trim_start().starts_with("AWS ")
    });
    header
        || (query_value(req.raw_query, "AWSAccessKeyId").is_some()
            && query_value(req.raw_query, "Signature").is_some())
}

/// Parse SigV2 authentication: `Ok(None)` if the request does not use SigV2.
pub fn parse(req: &RequestParts) -> Result<Option<V2Auth>, S3Error> {
    let header = req
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.trim());
    if let Some(rest) = header.and_then(|h| h.strip_prefix("AWS ")) {
        let (ak, sig) = rest.trim().split_once(':').ok_or_else(|| {
            S3Error::new(
                S3ErrorCode::AuthorizationHeaderMalformed,
                "The authorization header is malformed; expected AWS <access key>:<signature>",
            )
        })?;
        return Ok(Some(V2Auth {
            access_key: ak.to_owned(),
            signature: decode_signature(sig)?,
            expires: None,
        }));
    }
    let (Some(ak), Some(sig)) = (
        query_value(req.raw_query, "AWSAccessKeyId"),
        query_value(req.raw_query, "Signature"),
    ) else {
        return Ok(None);
    };
    if header.is_some() {
        return Err(S3Error::new(
            S3ErrorCode::InvalidArgument,
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, \
             Signature query string parameter or the Authorization header should be specified",
        ));
    }
    let expires = query_value(req.raw_query, "Expires").ok_or_else(|| {
        S3Error::new(
            S3ErrorCode::AccessDenied,
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters",
        )
    })?;
    Ok(Some(V2Auth {
        access_key: ak,
        signature: decode_signature(&sig)?,
        expires: Some(expires),
    }))
}

fn decode_signature(sig: &str) -> Result<Vec<u8>, S3Error> {
    base64::engine::general_purpose::STANDARD
        .decode(sig.trim())
        .map_err(|_| {
            S3Error::new(
                S3ErrorCode::SignatureDoesNotMatch,
                "The request signature is not base64",
            )
        })
}

/// The first value of query parameter `name` (percent-decoded, `+` kept).
fn query_value(raw_query: &str, name: &str) -> Option<String> {
    raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .find_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode_bytes_lossy(k) == name).then(|| percent_decode_bytes_lossy(v))
        })
}

/// The canonical resource: `path` (raw, as sent) plus the signed sub-resources of the query.
pub fn canonical_resource(path: &str, raw_query: &str) -> String {
    let mut subs: Vec<(String, Option<String>)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = match p.split_once('=') {
                Some((k, v)) => (k, Some(percent_decode_bytes_lossy(v))),
                None => (p, None),
            };
            let k = percent_decode_bytes_lossy(k);
            SIGNED_SUBRESOURCES.contains(&k.as_str()).then_some((k, v))
        })
        .collect();
    // Stable: repeated names keep their order, as botocore's sort does.
    subs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = path.to_owned();
    for (i, (k, v)) in subs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        if let Some(v) = v {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

/// The string to sign. `amz` are the `x-amz-*` (name lowercase, value) pairs in any order.
pub fn string_to_sign(
    method: &str,
    content_md5: &str,
    content_type: &str,
    date: &str,
    amz: &[(String, String)],
    resource: &str,
) -> String {
    let mut names: Vec<&str> = amz.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut out = format!("{method}\n{content_md5}\n{content_type}\n{date}\n");
    for name in names {
        let values: Vec<&str> = amz
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .collect();
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out.push_str(resource);
    out
}

/// An HTTP-date, also with the numeric zone `+0000` / `-0000` that S3's SigV2 examples and
/// s3cmd use instead of `GMT`.
fn parse_date(v: &str) -> Option<i64> {
    let v = v.trim();
    parse_http_date(v).or_else(|| {
        let base = v
            .strip_suffix("+0000")
            .or_else(|| v.strip_suffix("-0000"))
            .or_else(|| v.strip_suffix("UTC"))?;
        parse_http_date(&format!("{}GMT", base))
    })
}

/// Base64 HMAC-SHA1 of `string_to_sign` under `secret`, raw bytes.
pub fn sign(secret: &str, string_to_sign: &str) -> [u8; 20] {
    let mut mac =
        <Hmac<sha1::Sha1> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(string_to_sign.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Verify `auth` for `req`. `paths` are the raw paths the client may have signed (ours with
/// and without the `/s3` prefix); `now_unix_secs` the server time.
///
/// Errors: unknown access key (`InvalidAccessKeyId`); expired presigned URL or a bad `Expires`
/// (`AccessDenied`); header auth without a usable `Date` / `x-amz-date` (`AccessDenied`) or
/// more than [`CLOCK_SKEW_MAX_SECS`] away (`RequestTimeTooSkewed`); no match
/// (`SignatureDoesNotMatch`).
pub fn verify(
    req: &RequestParts,
    auth: &V2Auth,
    lookup: impl Fn(&str) -> Option<String>,
    now_unix_secs: i64,
    paths: &[&str],
) -> Result<(), S3Error> {
    let Some(secret) = lookup(&auth.access_key) else {
        return Err(S3Error::from_code(S3ErrorCode::InvalidAccessKeyId));
    };
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
    };
    let mut amz: Vec<(String, String)> = req
        .headers
        .iter()
        .filter(|(k, _)| k.to_ascii_lowercase().starts_with("x-amz-"))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let (md5, ctype, dates) = match &auth.expires {
        Some(expires) => {
            let exp: i64 = expires.trim().parse().map_err(|_| {
                S3Error::new(
                    S3ErrorCode::AccessDenied,
                    format!("Expires {expires:?} is not a number of seconds"),
                )
            })?;
            if exp < now_unix_secs {
                return Err(S3Error::new(
                    S3ErrorCode::AccessDenied,
                    "Request has expired",
                ));
            }
            // Presigned: headers botocore hoisted into the query count as sent.
            for p in req.raw_query.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                let k = percent_decode_bytes_lossy(k).to_ascii_lowercase();
                if k.starts_with("x-amz-") {
                    amz.push((k, percent_decode_bytes_lossy(v).trim().to_owned()));
                }
            }
            let md5 = header("content-md5")
                .or_else(|| query_value(req.raw_query, "content-md5"))
                .unwrap_or_default();
            let ctype = header("content-type")
                .or_else(|| query_value(req.raw_query, "content-type"))
                .unwrap_or_default();
            (md5, ctype, vec![expires.clone()])
        }
        None => {
            let date = header("date");
            let amz_date = header("x-amz-date");
            let t = amz_date
                .as_deref()
                .or(date.as_deref())
                .and_then(parse_date)
                .ok_or_else(|| {
                    S3Error::new(
                        S3ErrorCode::AccessDenied,
                        "AWS authentication requires a valid Date or x-amz-date header",
                    )
                })?;
            if now_unix_secs.abs_diff(t) > CLOCK_SKEW_MAX_SECS.unsigned_abs() {
                return Err(S3Error::from_code(S3ErrorCode::RequestTimeTooSkewed));
            }
            let mut dates = Vec::new();
            if let Some(d) = date {
                dates.push(d);
            }
            if amz_date.is_some() {
                dates.push(String::new());
            }
            (
                header("content-md5").unwrap_or_default(),
                header("content-type").unwrap_or_default(),
                dates,
            )
        }
    };
    for path in paths {
        let resource = canonical_resource(path, req.raw_query);
        for date in &dates {
            let sts = string_to_sign(req.method, &md5, &ctype, date, &amz, &resource);
            let mac = sign(&secret, &sts);
            if bool::from(mac.as_slice().ct_eq(auth.signature.as_slice())) {
                return Ok(());
            }
        }
    }
    Err(S3Error::new(
        S3ErrorCode::SignatureDoesNotMatch,
        "The request signature we calculated does not match the signature you provided \
         (AWS signature version 2). Check your key and signing method.",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts<'a>(
        method: &'a str,
        path: &'a str,
        query: &'a str,
        headers: &'a [(String, String)],
    ) -> RequestParts<'a> {
        RequestParts {
            method,
            raw_path: path,
            raw_query: query,
            headers,
        }
    }

    fn b64(b: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    /// The example of S3's SigV2 documentation ("Object GET").
    #[test]
    fn documented_example_verifies() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let sts = string_to_sign(
            "GET",
            "",
            "",
            "Tue, 27 Mar 2007 19:36:42 +0000",
            &[],
            "/awsexamplebucket1/photos/puppy.jpg",
        );
        assert_eq!(b64(&sign(secret, &sts)), "qgk2+6Sv9/oM7G3qLEjTH1a1l1g=");
    }

    #[test]
    fn resource_keeps_signed_subresources_sorted_and_decoded() {
        assert_eq!(
            canonical_resource("/b/k", "uploadId=a%2Bb&partNumber=2&x-id=UploadPart"),
            "/b/k?partNumber=2&uploadId=a+b"
        );
        assert_eq!(canonical_resource("/b", "acl"), "/b?acl");
        assert_eq!(canonical_resource("/b", "prefix=x&delete="), "/b?delete=");
    }

    #[test]
    fn header_and_query_forms_verify_and_detect_tampering() {
        let secret = "s3cr3t";
        let lookup = |ak: &str| (ak == "AK").then(|| secret.to_owned());
        let now = 1_700_000_000;
        let date = crate::time::format_http_date(now);
        let sts = string_to_sign(
            "PUT",
            "",
            "text/plain",
            &date,
            &[("x-amz-meta-a".into(), "1".into())],
            "/b/k",
        );
        let sig = b64(&sign(secret, &sts));
        let headers: Vec<(String, String)> = vec![
            ("authorization".into(), format!("AWS AK:{sig}")),
            ("date".into(), date.clone()),
            ("content-type".into(), "text/plain".into()),
            ("x-amz-meta-a".into(), "1".into()),
        ];
        let req = parts("PUT", "/s3/b/k", "", &headers);
        assert!(is_v2(&req));
        let auth = parse(&req).unwrap().unwrap();
        assert!(!auth.is_presigned());
        assert_eq!(
            verify(&req, &auth, lookup, now, &["/s3/b/k", "/b/k"]),
            Ok(())
        );
        // Another path, another secret, a stale date.
        assert_eq!(
            verify(&req, &auth, lookup, now, &["/s3/b/k2"])
                .unwrap_err()
                .code,
            S3ErrorCode::SignatureDoesNotMatch
        );
        assert_eq!(
            verify(&req, &auth, |_| Some("x".into()), now, &["/b/k"])
                .unwrap_err()
                .code,
            S3ErrorCode::SignatureDoesNotMatch
        );
        assert_eq!(
            verify(&req, &auth, lookup, now + 3600, &["/b/k"])
                .unwrap_err()
                .code,
            S3ErrorCode::RequestTimeTooSkewed
        );
        assert_eq!(
            verify(&req, &auth, |_| None, now, &["/b/k"])
                .unwrap_err()
                .code,
            S3ErrorCode::InvalidAccessKeyId
        );
        // Presigned.
        let expires = (now + 60).to_string();
        let sts = string_to_sign("GET", "", "", &expires, &[], "/b/k");
        let sig = sign(secret, &sts);
        let q = format!(
            "AWSAccessKeyId=AK&Signature={}&Expires={expires}",
            crate::http::percent_encode_query(&b64(&sig))
        );
        let none: Vec<(String, String)> = vec![];
        let req = parts("GET", "/s3/b/k", &q, &none);
        let auth = parse(&req).unwrap().unwrap();
        assert!(auth.is_presigned());
        assert_eq!(
            verify(&req, &auth, lookup, now, &["/s3/b/k", "/b/k"]),
            Ok(())
        );
        assert_eq!(
            verify(&req, &auth, lookup, now + 61, &["/b/k"])
                .unwrap_err()
                .code,
            S3ErrorCode::AccessDenied
        );
        // s3cmd's x-amz-date form (numeric zone); the date line is then empty.
        let amz_date = crate::time::format_http_date(now).replace("GMT", "+0000");
        assert_eq!(parse_date(&amz_date), Some(now));
        let sts = string_to_sign(
            "GET",
            "",
            "",
            "",
            &[("x-amz-date".into(), amz_date.clone())],
            "/b/",
        );
        let headers: Vec<(String, String)> = vec![
            (
                "authorization".into(),
                format!("AWS AK:{}", b64(&sign(secret, &sts))),
            ),
            ("x-amz-date".into(), amz_date),
        ];
        let req = parts("GET", "/s3/b", "", &headers);
        let auth = parse(&req).unwrap().unwrap();
        assert_eq!(
            verify(&req, &auth, lookup, now, &["/s3/b", "/b", "/b/"]),
            Ok(())
        );
        // Not SigV2 at all.
        let req = parts("GET", "/s3/b/k", "list-type=2", &none);
        assert!(!is_v2(&req));
        assert_eq!(parse(&req), Ok(None));
    }
}
