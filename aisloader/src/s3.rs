//! S3 client pieces for `-s3endpoint`: AWS Signature Version 4 for path-style requests
//! (header-based, `UNSIGNED-PAYLOAD` for PUT bodies, the empty-body hash otherwise) and a
//! minimal ListObjectsV2 XML reader (`Key`, `Size`, `IsTruncated`, `NextContinuationToken`).
//!
//! The signing key is derived once per UTC day; each request costs two SHA-256 and one
//! HMAC-SHA256 over short strings. Not implemented: presigned URLs, chunked payload signing,
//! session tokens, virtual-hosted addressing.

use crate::format::amz_date;
use hmac::{Hmac, Mac};
use net::client::HopSigner;
use net::http::{percent_decode_path, percent_encode_path, percent_encode_query};
use sha2::{Digest, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};

type HmacSha256 = Hmac<Sha256>;

/// `x-amz-content-sha256` for requests without a body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// `x-amz-content-sha256` for PUT bodies we do not hash.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    m.update(data);
    m.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

/// AWS SigV4 credentials and the cached per-day signing key.
#[derive(Debug, Clone)]
pub struct SigV4 {
    pub access_key: String,
    secret_key: String,
    pub region: String,
    pub service: String,
    key_date: String,
    key: [u8; 32],
}

impl SigV4 {
    pub fn new(access_key: &str, secret_key: &str, region: &str) -> SigV4 {
        SigV4 {
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            region: region.to_owned(),
            service: "s3".to_owned(),
            key_date: String::new(),
            key: [0; 32],
        }
    }

    fn signing_key(&mut self, date: &str) -> [u8; 32] {
        if self.key_date != date {
            let k_date = hmac(
                format!("AWS4{}", self.secret_key).as_bytes(),
                date.as_bytes(),
            );
            let k_region = hmac(&k_date, self.region.as_bytes());
            let k_service = hmac(&k_region, self.service.as_bytes());
            self.key = hmac(&k_service, b"aws4_request");
            self.key_date = date.to_owned();
        }
        self.key
    }

    /// The `Authorization` header value for a request.
    ///
    /// `headers` are the signed headers besides `host`, with lowercase names (they must include
    /// `x-amz-date` and `x-amz-content-sha256`); `target` is the request target as sent.
    pub fn authorization(
        &mut self,
        method: &str,
        authority: &str,
        target: &str,
        headers: &[(&str, &str)],
        payload_hash: &str,
        amz_date: &str,
    ) -> String {
        let date = &amz_date[..amz_date.len().min(8)];
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut hs: Vec<(String, String)> = Vec::with_capacity(headers.len() + 1);
        hs.push(("host".to_owned(), authority.to_owned()));
        for (n, v) in headers {
            hs.push((n.to_ascii_lowercase(), v.trim().to_owned()));
        }
        hs.sort();
        let signed: Vec<&str> = hs.iter().map(|(n, _)| n.as_str()).collect();
        let signed = signed.join(";");
        let mut canonical = String::with_capacity(256);
        canonical.push_str(method);
        canonical.push('\n');
        canonical.push_str(&canonical_uri(path));
        canonical.push('\n');
        canonical.push_str(&canonical_query(query));
        canonical.push('\n');
        for (n, v) in &hs {
            canonical.push_str(n);
            canonical.push(':');
            canonical.push_str(v);
            canonical.push('\n');
        }
        canonical.push('\n');
        canonical.push_str(&signed);
        canonical.push('\n');
        canonical.push_str(payload_hash);
        let scope = format!("{date}/{}/{}/aws4_request", self.region, self.service);
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        let key = self.signing_key(date);
        let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope},SignedHeaders={signed},Signature={signature}",
            self.access_key
        )
    }
}

/// S3 canonical URI: each path segment URI-encoded once (already-encoded input is decoded
/// first so that the result is what the server computes).
fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    match percent_decode_path(path) {
        Ok(decoded) => percent_encode_path(&decoded),
        Err(_) => path.to_owned(),
    }
}

/// Canonical query string: every `k=v` decoded, re-encoded per RFC 3986, sorted.
pub fn canonical_query(query: &str) -> String {
    if query.is_empty() {
        return String::new();
    }
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (encode_component(k), encode_component(v))
        })
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(query.len() + 8);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

fn encode_component(s: &str) -> String {
    let decoded = percent_decode_path(s).unwrap_or_else(|_| s.to_owned());
    percent_encode_query(&decoded)
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
            self.date = amz_date(secs);
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
        let auth = self
            .sig
            .authorization(method, authority, target, &hs, payload, &date);
        for line in [
            ("x-amz-date", date.as_str()),
            ("x-amz-content-sha256", payload),
            ("Authorization", auth.as_str()),
        ] {
            out.extend_from_slice(line.0.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(line.1.as_bytes());
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
pub fn xml_unescape(s: &str) -> Result<String, String> {
    if !s.contains('&') {
        return Ok(s.to_owned());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..]
            .find(';')
            .ok_or_else(|| format!("unterminated XML entity in {s:?}"))?;
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
                    .ok_or_else(|| format!("bad XML entity &{ent}; in {s:?}"))?
            }
        };
        out.push(c);
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parse a ListObjectsV2 (`ListBucketResult`) response.
pub fn parse_list_v2(xml: &str) -> Result<ListPage, String> {
    if !xml.contains("<ListBucketResult") {
        return Err("response is not a ListBucketResult".to_owned());
    }
    let mut page = ListPage::default();
    let mut rest = xml;
    while let Some(i) = rest.find("<Contents>") {
        let block_end = rest[i..]
            .find("</Contents>")
            .ok_or("unterminated <Contents>")?;
        let block = &rest[i..i + block_end];
        let key = tag(block, "Key").ok_or("<Contents> without <Key>")?;
        let size = match tag(block, "Size") {
            Some(s) => s
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("bad <Size> {s:?}"))?,
            None => 0,
        };
        page.objects.push((xml_unescape(key)?, size));
        rest = &rest[i + block_end..];
    }
    let truncated = tag(xml, "IsTruncated").is_some_and(|t| t.trim() == "true");
    if truncated {
        let t =
            tag(xml, "NextContinuationToken").ok_or("IsTruncated without NextContinuationToken")?;
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
        let auth = s.authorization(
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
        );
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        // The cached key is reused, and a second signature is identical.
        let again = s.authorization(
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
        );
        assert_eq!(auth, again);
    }

    #[test]
    fn canonical_query_sorts_and_encodes() {
        assert_eq!(canonical_query(""), "");
        assert_eq!(
            canonical_query("prefix=a%2Fb&list-type=2&continuation-token=x y"),
            "continuation-token=x%20y&list-type=2&prefix=a%2Fb"
        );
        assert_eq!(canonical_query("uploads"), "uploads=");
        assert_eq!(canonical_uri("/b/a%20b/c"), "/b/a%20b/c");
        assert_eq!(canonical_uri("/b/a b"), "/b/a%20b");
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
        assert!(parse_list_v2("<Error><Code>NoSuchBucket</Code></Error>").is_err());
        assert!(parse_list_v2(
            "<ListBucketResult><Contents><Key>x</Key><Size>z</Size></Contents></ListBucketResult>"
        )
        .is_err());
        assert!(xml_unescape("&bogus;").is_err());
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
