//! S3 client pieces for `-s3endpoint`: AWS Signature Version 4 for path-style requests
//! (header-based, `UNSIGNED-PAYLOAD` for PUT bodies, the empty-body hash otherwise), signed by
//! `net::s3::sigv4` (the canonicalization the server verifies with), and a minimal
//! ListObjectsV2 XML reader (`Key`, `Size`, `IsTruncated`, `NextContinuationToken`).
//!
//! The signing key is derived once per UTC day; each request costs two SHA-256 and one
//! HMAC-SHA256 over short strings. Not implemented: presigned URLs, chunked payload signing,
//! session tokens, virtual-hosted addressing.

use crate::Error;
use net::client::HopSigner;
use net::s3::sigv4::{self, RequestParts};
use net::s3::S3Error;
use std::time::{SystemTime, UNIX_EPOCH};

/// `x-amz-content-sha256` for requests without a body.
pub const EMPTY_SHA256: &str = sigv4::EMPTY_SHA256_HEX;
/// `x-amz-content-sha256` for PUT bodies we do not hash.
pub const UNSIGNED_PAYLOAD: &str = sigv4::UNSIGNED_PAYLOAD;

/// AWS SigV4 credentials and the cached per-day signing key. Signing itself is
/// [`net::s3::sigv4::authorization`]: the canonical request the server verifies with.
#[derive(Debug, Clone)]
pub struct SigV4 {
    pub access_key: String,
    secret_key: String,
    pub region: String,
    key_date: String,
    key: [u8; 32],
}

impl SigV4 {
    pub fn new(access_key: &str, secret_key: &str, region: &str) -> SigV4 {
        SigV4 {
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            region: region.to_owned(),
            key_date: String::new(),
            key: [0; 32],
        }
    }

    fn signing_key(&mut self, date: &str) -> [u8; 32] {
        if self.key_date != date {
            self.key = sigv4::signing_key(&self.secret_key, date, &self.region, "s3");
            self.key_date = date.to_owned();
        }
        self.key
    }

    /// The `Authorization` header value for a request.
    ///
    /// `headers` are the signed headers besides `host` (they must include `x-amz-date` and
    /// `x-amz-content-sha256`); `target` is the request target as sent. `InvalidURI` if the
    /// target is not valid percent-encoding (the server could not verify it either).
    pub fn authorization(
        &mut self,
        method: &str,
        authority: &str,
        target: &str,
        headers: &[(&str, &str)],
        payload_hash: &str,
        amz_date: &str,
    ) -> Result<String, S3Error> {
        let date = amz_date.get(..8).unwrap_or(amz_date);
        let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
        let mut hs: Vec<(String, String)> = Vec::with_capacity(headers.len() + 1);
        hs.push(("host".to_owned(), authority.to_owned()));
        hs.extend(
            headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), (*v).to_owned())),
        );
        let key = self.signing_key(date);
        let req = RequestParts {
            method,
            raw_path,
            raw_query,
            headers: &hs,
        };
        sigv4::authorization(
            &req,
            &self.access_key,
            &self.region,
            &key,
            amz_date,
            payload_hash,
        )
    }
}

/// Signs every hop of one request (the initial one and any redirect) with the current time.
pub struct S3Signer {
    pub sig: SigV4,
    /// `x-amz-content-sha256` of the current request.
    pub payload_hash: &'static str,
    /// Range of the current request (also sent as a header by the caller), signed if set.
    pub range: Option<String>,
    date_secs: u64,
    date: String,
}

impl S3Signer {
    pub fn new(sig: SigV4) -> S3Signer {
        S3Signer {
            sig,
            payload_hash: EMPTY_SHA256,
            range: None,
            date_secs: u64::MAX,
            date: String::new(),
        }
    }

    fn now(&mut self) -> &str {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if secs != self.date_secs {
            self.date_secs = secs;
            self.date = net::time::format_amz_date(i64::try_from(secs).unwrap_or(i64::MAX));
        }
        &self.date
    }
}

impl HopSigner for S3Signer {
    fn sign(&mut self, method: &str, authority: &str, target: &str, out: &mut Vec<u8>) {
        let date = self.now().to_owned();
        let payload = self.payload_hash;
        let mut hs: Vec<(&str, &str)> =
            vec![("x-amz-content-sha256", payload), ("x-amz-date", &date)];
        if let Some(r) = &self.range {
            hs.push(("range", r));
        }
        // A target that is not valid percent-encoding cannot be signed (nor verified): it goes
        // out without `Authorization` and the server refuses it.
        let auth = self
            .sig
            .authorization(method, authority, target, &hs, payload, &date)
            .ok();
        let lines = [
            ("x-amz-date", date.as_str()),
            ("x-amz-content-sha256", payload),
        ];
        let auth_line = auth.as_deref().map(|a| ("Authorization", a));
        for (name, value) in lines.into_iter().chain(auth_line) {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// One ListObjectsV2 page.
#[derive(Debug, Default, PartialEq)]
pub struct ListPage {
    pub objects: Vec<(String, u64)>,
    /// Present when the listing continues.
    pub next_token: Option<String>,
}

fn tag<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&close)?;
    Some(&xml[start..start + len])
}

/// XML character data: the five predefined entities and numeric references.
pub fn xml_unescape(s: &str) -> Result<String, Error> {
    if !s.contains('&') {
        return Ok(s.to_owned());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..]
            .find(';')
            .ok_or_else(|| Error::XmlEntityUnterminated(s.to_owned()))?;
        let ent = &rest[i + 1..i + end];
        let c = match ent {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code =
                    if let Some(h) = ent.strip_prefix("#x").or_else(|| ent.strip_prefix("#X")) {
                        u32::from_str_radix(h, 16).ok()
                    } else if let Some(d) = ent.strip_prefix('#') {
                        d.parse().ok()
                    } else {
                        None
                    };
                code.and_then(char::from_u32)
                    .ok_or_else(|| Error::XmlEntityBad {
                        entity: ent.to_owned(),
                        text: s.to_owned(),
                    })?
            }
        };
        out.push(c);
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parse a ListObjectsV2 (`ListBucketResult`) response.
pub fn parse_list_v2(xml: &str) -> Result<ListPage, Error> {
    if !xml.contains("<ListBucketResult") {
        return Err(Error::NotListBucketResult);
    }
    let mut page = ListPage::default();
    let mut rest = xml;
    while let Some(i) = rest.find("<Contents>") {
        let block_end = rest[i..]
            .find("</Contents>")
            .ok_or(Error::ListXml("unterminated <Contents>"))?;
        let block = &rest[i..i + block_end];
        let key = tag(block, "Key").ok_or(Error::ListXml("<Contents> without <Key>"))?;
        let size = match tag(block, "Size") {
            Some(s) => s
                .trim()
                .parse::<u64>()
                .map_err(|_| Error::ListBadSize(s.to_owned()))?,
            None => 0,
        };
        page.objects.push((xml_unescape(key)?, size));
        rest = &rest[i + block_end..];
    }
    let truncated = tag(xml, "IsTruncated").is_some_and(|t| t.trim() == "true");
    if truncated {
        let t = tag(xml, "NextContinuationToken")
            .ok_or(Error::ListXml("IsTruncated without NextContinuationToken"))?;
        page.next_token = Some(xml_unescape(t)?);
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's published example: "GET Object" in "Signature Calculations for the Authorization
    /// Header: Transferring Payload in a Single Chunk (AWS Signature Version 4)".
    #[test]
    fn sigv4_aws_get_object_example() {
        let mut s = SigV4::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "us-east-1",
        );
        let auth = s
            .authorization(
                "GET",
                "examplebucket.s3.amazonaws.com",
                "/test.txt",
                &[
                    ("Range", "bytes=0-9"),
                    ("x-amz-content-sha256", EMPTY_SHA256),
                    ("x-amz-date", "20130524T000000Z"),
                ],
                EMPTY_SHA256,
                "20130524T000000Z",
            )
            .unwrap();
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        // The cached key is reused, and a second signature is identical.
        let again = s
            .authorization(
                "GET",
                "examplebucket.s3.amazonaws.com",
                "/test.txt",
                &[
                    ("x-amz-date", "20130524T000000Z"),
                    ("x-amz-content-sha256", EMPTY_SHA256),
                    ("range", "bytes=0-9"),
                ],
                EMPTY_SHA256,
                "20130524T000000Z",
            )
            .unwrap();
        assert_eq!(auth, again);
    }

    /// What the signer writes verifies on the server side (net's SigV4 verification), for
    /// targets with unsorted, encoded and unencoded queries and paths; a target that is not
    /// percent-encoding cannot be signed.
    #[test]
    fn signed_requests_verify() {
        use net::s3::sigv4::{parse_auth, verify, AuthKind};
        const NOW: i64 = 1_369_353_600;
        let mut s = SigV4::new("AK", "SK", "us-east-1");
        for target in [
            "/b?prefix=a%2Fb&list-type=2&continuation-token=x y",
            "/b/o?uploads",
            "/b/a%20b/c",
            "/b/a b",
            "/",
        ] {
            let hs = [
                ("x-amz-content-sha256", UNSIGNED_PAYLOAD),
                ("x-amz-date", "20130524T000000Z"),
            ];
            let auth = s
                .authorization(
                    "PUT",
                    "127.0.0.1:9000",
                    target,
                    &hs,
                    UNSIGNED_PAYLOAD,
                    "20130524T000000Z",
                )
                .unwrap();
            let headers: Vec<(String, String)> =
                [("host", "127.0.0.1:9000"), ("authorization", &auth)]
                    .into_iter()
                    .chain(hs)
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
                    .collect();
            let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
            let req = RequestParts {
                method: "PUT",
                raw_path,
                raw_query,
                headers: &headers,
            };
            let Ok(AuthKind::Header(parsed)) = parse_auth(&req) else {
                panic!("{target}: not header auth");
            };
            let secret = |ak: &str| (ak == "AK").then(|| "SK".to_owned());
            verify(&req, &parsed, secret, NOW).unwrap_or_else(|e| panic!("{target}: {e}"));
        }
        assert!(s
            .authorization("GET", "h", "/b/%zz", &[], EMPTY_SHA256, "20130524T000000Z")
            .is_err());
    }

    #[test]
    fn list_v2_pages() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated><Contents><Key>a&amp;b</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>&quot;x&quot;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass></Contents><Contents><Key>dir/c&#x41;</Key><Size>0</Size></Contents><NextContinuationToken>tok&lt;1</NextContinuationToken></ListBucketResult>"#;
        let p = parse_list_v2(xml).unwrap();
        assert_eq!(
            p.objects,
            vec![("a&b".to_owned(), 12), ("dir/cA".to_owned(), 0)]
        );
        assert_eq!(p.next_token.as_deref(), Some("tok<1"));
        let last = "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
        assert_eq!(parse_list_v2(last).unwrap(), ListPage::default());
        assert!(matches!(
            parse_list_v2("<Error><Code>NoSuchBucket</Code></Error>"),
            Err(Error::NotListBucketResult)
        ));
        assert!(parse_list_v2(
            "<ListBucketResult><Contents><Key>x</Key><Size>z</Size></Contents></ListBucketResult>"
        )
        .is_err());
        let e = xml_unescape("&bogus;").unwrap_err();
        assert!(matches!(e, Error::XmlEntityBad { .. }));
        assert_eq!(e.to_string(), "bad XML entity &bogus; in \"&bogus;\"");
    }

    #[test]
    fn signer_writes_three_headers() {
        let mut s = S3Signer::new(SigV4::new("AK", "SK", "us-east-1"));
        s.payload_hash = UNSIGNED_PAYLOAD;
        let mut out = Vec::new();
        s.sign("PUT", "127.0.0.1:9000", "/b/o", &mut out);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("x-amz-date: ") && lines[0].ends_with('Z'));
        assert_eq!(lines[1], "x-amz-content-sha256: UNSIGNED-PAYLOAD");
        assert!(lines[2].starts_with("Authorization: AWS4-HMAC-SHA256 Credential=AK/"));
        assert!(lines[2].contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date,"));
    }
}
