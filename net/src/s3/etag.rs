//! S3 ETags: the quoted hex MD5 of a single-part object, and the multipart form
//! `"<hex md5 of the concatenated binary part MD5s>-<part count>"`.
//!
//! ETags are always returned quoted (as in S3's `ETag` header and XML). Clients echo them back
//! quoted or not (CompleteMultipartUpload, `If-Match`), so comparisons go through
//! [`unquote`].

use md5::{Digest as _, Md5};

use crate::hex;

/// `"<32 hex digits>"` for an object whose MD5 is `md5`.
pub fn md5_etag(md5: &[u8; 16]) -> String {
    format!("\"{}\"", hex::encode(md5))
}

/// The multipart ETag of an object assembled from parts with MD5s `part_md5s` (in part order):
/// `"<hex md5(md5_1 || md5_2 || …)>-<N>"`, quoted.
pub fn multipart_etag(part_md5s: &[[u8; 16]]) -> String {
    let mut hasher = Md5::new();
    for md5 in part_md5s {
        hasher.update(md5);
    }
    let digest: [u8; 16] = hasher.finalize().into();
    format!("\"{}-{}\"", hex::encode(&digest), part_md5s.len())
}

/// `etag` without one pair of surrounding double quotes (and surrounding whitespace).
pub fn unquote(etag: &str) -> &str {
    let etag = etag.trim();
    etag.strip_prefix('"')
        .and_then(|e| e.strip_suffix('"'))
        .unwrap_or(etag)
}

/// The MD5 in a single-part ETag (quoted or not); `None` if it is not 32 hex digits (for
/// example a multipart ETag).
pub fn parse_md5_etag(etag: &str) -> Option<[u8; 16]> {
    hex::decode::<16>(unquote(etag))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MD5 digest (the md-5 crate directly: importing `s3::checksum` here would close an
    /// import loop checksum -> error -> xml -> etag -> checksum).
    fn md5(bytes: &[u8]) -> [u8; 16] {
        use md5::Digest;
        md5::Md5::digest(bytes).into()
    }

    #[test]
    fn multipart_etag_matches_python() {
        // Python: parts = [md5(b"part1"), md5(b"part2"), md5(b"part3")] (binary digests);
        // '"%s-%d"' % (hashlib.md5(b"".join(parts)).hexdigest(), len(parts)).
        let parts = [md5(b"part1"), md5(b"part2"), md5(b"part3")];
        assert_eq!(hex::encode(&parts[0]), "ffc88b4ca90a355f8ddba6b2c3b2af5c");
        assert_eq!(
            multipart_etag(&parts),
            "\"5e9583dc343a55b829d3b99070a10015-3\""
        );
        // 5 MiB of b"a" then 1 KiB of b"b".
        let parts = [md5(&vec![b'a'; 5 * 1024 * 1024]), md5(&[b'b'; 1024])];
        assert_eq!(
            multipart_etag(&parts),
            "\"16329fb6004d64a4fbc5bbb983fa0528-2\""
        );
    }

    #[test]
    fn single_part_etag_round_trips() {
        let digest = md5(b"");
        let etag = md5_etag(&digest);
        assert_eq!(etag, "\"d41d8cd98f00b204e9800998ecf8427e\"");
        assert_eq!(parse_md5_etag(&etag), Some(digest));
        assert_eq!(
            parse_md5_etag("d41d8cd98f00b204e9800998ecf8427e"),
            Some(digest)
        );
        assert_eq!(
            parse_md5_etag("\"5e9583dc343a55b829d3b99070a10015-3\""),
            None
        );
        assert_eq!(parse_md5_etag("\""), None);
    }

    #[test]
    fn unquote_strips_one_pair_of_quotes_only() {
        assert_eq!(unquote("\"abc\""), "abc");
        assert_eq!(unquote(" \"abc\" "), "abc");
        assert_eq!(unquote("abc"), "abc");
        assert_eq!(unquote("\"abc"), "\"abc");
        assert_eq!(unquote("\"\"abc\"\""), "\"abc\"");
        assert_eq!(unquote("\""), "\"");
    }
}
