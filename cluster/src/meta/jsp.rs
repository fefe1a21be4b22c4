//! AIS's "jsp" framing of persisted and metasync'ed metadata.
//!
//! Bytes 0..7 `"aistore"`, byte 7 jsp version (1), bytes 8..12 BE u32 meta-version (Smap 2,
//! BMD 2), bytes 12..16 BE u32 flags (bit1 = checksummed), then 8 bytes BE XXH64(seed 0) of
//! the JSON, then the JSON. See docs/on-disk-format.md. Sans-IO: bytes in, bytes out.

/// Why a jsp frame was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JspError {
    BadPrefix,
    Compressed,
    Truncated,
    Checksum { stored: u64, computed: u64 },
}

impl std::fmt::Display for JspError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JspError::BadPrefix => write!(f, "not a jsp file (bad prefix)"),
            JspError::Compressed => write!(f, "lz4-compressed jsp files are not supported"),
            JspError::Truncated => write!(f, "jsp file truncated"),
            JspError::Checksum { stored, computed } => write!(
                f,
                "jsp checksum mismatch: stored {stored:016x}, computed {computed:016x}"
            ),
        }
    }
}

impl std::error::Error for JspError {}

const JSP_MAGIC: &[u8; 7] = b"aistore";
const JSP_VERSION: u8 = 1;
const JSP_FLAG_CHECKSUM: u32 = 1 << 1;
const JSP_PREFIX_BYTES: usize = 16;

/// Frame JSON with the jsp prefix and an XXH64 checksum.
pub fn encode(meta_version: u32, json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(JSP_PREFIX_BYTES + 8 + json.len());
    out.extend_from_slice(JSP_MAGIC);
    out.push(JSP_VERSION);
    out.extend_from_slice(&meta_version.to_be_bytes());
    out.extend_from_slice(&JSP_FLAG_CHECKSUM.to_be_bytes());
    out.extend_from_slice(&xxhash_rust::xxh64::xxh64(json, 0).to_be_bytes());
    out.extend_from_slice(json);
    out
}

pub fn decode(buf: &[u8]) -> Result<&[u8], JspError> {
    if buf.len() < JSP_PREFIX_BYTES || &buf[..7] != JSP_MAGIC {
        return Err(JspError::BadPrefix);
    }
    let flags = u32::from_be_bytes(buf[12..16].try_into().expect("4 bytes"));
    if flags & 1 != 0 {
        return Err(JspError::Compressed);
    }
    if flags & JSP_FLAG_CHECKSUM == 0 {
        return Ok(&buf[JSP_PREFIX_BYTES..]);
    }
    if buf.len() < JSP_PREFIX_BYTES + 8 {
        return Err(JspError::Truncated);
    }
    let want = u64::from_be_bytes(buf[16..24].try_into().expect("8 bytes"));
    let json = &buf[24..];
    let got = xxhash_rust::xxh64::xxh64(json, 0);
    if want != got {
        return Err(JspError::Checksum {
            stored: want,
            computed: got,
        });
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_refusals() {
        let b = encode(2, b"{\"a\":1}");
        assert_eq!(decode(&b).unwrap(), b"{\"a\":1}");
        let mut c = b.clone();
        let last = c.len() - 2;
        c[last] ^= 1;
        assert!(matches!(decode(&c), Err(JspError::Checksum { .. })));
        assert_eq!(decode(b"aistor"), Err(JspError::BadPrefix));
        assert_eq!(decode(b"notaistore-long-enough"), Err(JspError::BadPrefix));
        let mut z = b.clone();
        z[15] |= 1;
        assert_eq!(decode(&z), Err(JspError::Compressed));
        assert_eq!(decode(&b[..20]), Err(JspError::Truncated));
        let mut plain = b[..16].to_vec();
        plain[15] = 0;
        plain.extend_from_slice(b"{}");
        assert_eq!(decode(&plain).unwrap(), b"{}");
    }
}
