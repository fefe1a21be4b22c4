//! S3 client pieces for `-s3endpoint`: per-hop SigV4 signing of path-style requests
//! (header-based, `UNSIGNED-PAYLOAD` for PUT bodies, the empty-body hash otherwise) with
//! [`net::s3::signer::Signer`] (shared with the node's S3 backend), and a minimal ListObjectsV2
//! XML reader (`Key`, `Size`, `IsTruncated`, `NextContinuationToken`).
//!
//! Not implemented: presigned URLs, chunked payload signing, virtual-hosted addressing.

use crate::Error;
use net::client::HopSigner;
use net::s3::signer::{self, Signer};
use std::time::{SystemTime, UNIX_EPOCH};

/// `x-amz-content-sha256` for requests without a body.
pub const EMPTY_SHA256: &str = signer::EMPTY_SHA256;
/// `x-amz-content-sha256` for PUT bodies we do not hash.
pub const UNSIGNED_PAYLOAD: &str = signer::UNSIGNED_PAYLOAD;

/// Signs every hop of one request (the initial one and any redirect) with the current time.
pub struct S3Signer {
    pub sig: Signer,
    /// `x-amz-content-sha256` of the current request.
    pub payload_hash: &'static str,
    /// Range of the current request (also sent as a header by the caller), signed if set.
    pub range: Option<String>,
    date_secs: u64,
    date: String,
}

impl S3Signer {
    pub fn new(sig: Signer) -> S3Signer {
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
        let range = self.range.clone();
        let extra: Vec<(&str, &str)> = range.iter().map(|r| ("range", r.as_str())).collect();
        self.sig.write_headers(
            method,
            authority,
            target,
            &extra,
            self.payload_hash,
            &date,
            out,
        );
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
        let mut s = S3Signer::new(Signer::new("AK", "SK", "us-east-1"));
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
