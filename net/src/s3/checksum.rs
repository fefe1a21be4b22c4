//! Body integrity values S3 clients send: `Content-MD5` and the "flexible checksums"
//! (`x-amz-checksum-{crc32,crc32c,crc64nvme,sha1,sha256}`, as a header or as an aws-chunked
//! trailer named by `x-amz-trailer`).
//!
//! [`ChecksumHasher`] computes any of them incrementally over the decoded payload; the value on
//! the wire is the base64 of the big-endian digest ([`ChecksumHasher::finish_base64`]).
//! [`ChecksumHasher::verify`] compares against the client's value: invalid base64 or a wrong
//! length is `InvalidRequest` (`InvalidDigest` for `Content-MD5`), a different digest is
//! `BadDigest`. Composite multipart checksums (`…-N`) are not handled here.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use md5::{Digest as _, Md5};
use sha1::Sha1;
use sha2::Sha256;

use super::error::{S3Error, S3ErrorCode};

/// A flexible-checksum algorithm S3 supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumAlgorithm {
    /// CRC-32 (IEEE 802.3, zlib), 4 bytes.
    Crc32,
    /// CRC-32C (Castagnoli), 4 bytes.
    Crc32c,
    /// CRC-64/NVME, 8 bytes.
    Crc64Nvme,
    /// SHA-1, 20 bytes.
    Sha1,
    /// SHA-256, 32 bytes.
    Sha256,
}

impl ChecksumAlgorithm {
    /// Every algorithm.
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    /// The lowercase header (or trailer) name, e.g. `x-amz-checksum-crc32`.
    pub fn header_name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "x-amz-checksum-crc32",
            ChecksumAlgorithm::Crc32c => "x-amz-checksum-crc32c",
            ChecksumAlgorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            ChecksumAlgorithm::Sha1 => "x-amz-checksum-sha1",
            ChecksumAlgorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The name used in `x-amz-checksum-algorithm` / `x-amz-sdk-checksum-algorithm` and in XML
    /// (`CRC32`, `CRC32C`, `CRC64NVME`, `SHA1`, `SHA256`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    /// Digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Crc64Nvme => 8,
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
        }
    }

    /// The algorithm named by a header or trailer name (case-insensitive), e.g. the value of
    /// `x-amz-trailer`.
    pub fn from_header_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.header_name().eq_ignore_ascii_case(name.trim()))
    }

    /// The algorithm named by `x-amz-checksum-algorithm` / `x-amz-sdk-checksum-algorithm`
    /// (case-insensitive).
    pub fn from_algorithm_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.as_str().eq_ignore_ascii_case(name.trim()))
    }
}

/// Incremental computation of one [`ChecksumAlgorithm`].
#[derive(Clone)]
pub struct ChecksumHasher {
    state: HasherState,
}

#[derive(Clone)]
enum HasherState {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64Nvme(crc64fast_nvme::Digest),
    Sha1(Sha1),
    Sha256(Sha256),
}

impl std::fmt::Debug for ChecksumHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChecksumHasher")
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

impl ChecksumHasher {
    /// A hasher over the empty input.
    pub fn new(algorithm: ChecksumAlgorithm) -> Self {
        let state = match algorithm {
            ChecksumAlgorithm::Crc32 => HasherState::Crc32(crc32fast::Hasher::new()),
            ChecksumAlgorithm::Crc32c => HasherState::Crc32c(0),
            ChecksumAlgorithm::Crc64Nvme => HasherState::Crc64Nvme(crc64fast_nvme::Digest::new()),
            ChecksumAlgorithm::Sha1 => HasherState::Sha1(Sha1::new()),
            ChecksumAlgorithm::Sha256 => HasherState::Sha256(Sha256::new()),
        };
        ChecksumHasher { state }
    }

    /// Which algorithm this hasher computes.
    pub fn algorithm(&self) -> ChecksumAlgorithm {
        match self.state {
            HasherState::Crc32(_) => ChecksumAlgorithm::Crc32,
            HasherState::Crc32c(_) => ChecksumAlgorithm::Crc32c,
            HasherState::Crc64Nvme(_) => ChecksumAlgorithm::Crc64Nvme,
            HasherState::Sha1(_) => ChecksumAlgorithm::Sha1,
            HasherState::Sha256(_) => ChecksumAlgorithm::Sha256,
        }
    }

    /// Feed payload bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.state {
            HasherState::Crc32(h) => h.update(bytes),
            HasherState::Crc32c(crc) => *crc = crc32c::crc32c_append(*crc, bytes),
            HasherState::Crc64Nvme(h) => h.write(bytes),
            HasherState::Sha1(h) => h.update(bytes),
            HasherState::Sha256(h) => h.update(bytes),
        }
    }

    /// The big-endian digest ([`ChecksumAlgorithm::digest_len`] bytes).
    pub fn finish(self) -> Vec<u8> {
        match self.state {
            HasherState::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            HasherState::Crc32c(crc) => crc.to_be_bytes().to_vec(),
            HasherState::Crc64Nvme(h) => h.sum64().to_be_bytes().to_vec(),
            HasherState::Sha1(h) => h.finalize().to_vec(),
            HasherState::Sha256(h) => h.finalize().to_vec(),
        }
    }

    /// The digest as S3 sends it: standard base64 with padding.
    pub fn finish_base64(self) -> String {
        BASE64.encode(self.finish())
    }

    /// Compare the digest with the client's base64 value `expected` (from header or trailer
    /// `field`, named in the error). `InvalidRequest` if `expected` is not base64 of the
    /// digest's length, `BadDigest` if it differs.
    pub fn verify(self, field: &str, expected: &str) -> Result<(), S3Error> {
        let algorithm = self.algorithm();
        let expected = decode_checksum_value(algorithm, field, expected)?;
        let actual = self.finish();
        if actual != expected {
            return Err(S3Error::new(
                S3ErrorCode::BadDigest,
                format!(
                    "The {field} you specified did not match the calculated checksum ({})",
                    BASE64.encode(&actual)
                ),
            ));
        }
        Ok(())
    }
}

/// Decode a flexible-checksum value (base64 of exactly `algorithm.digest_len()` bytes).
pub fn decode_checksum_value(
    algorithm: ChecksumAlgorithm,
    field: &str,
    value: &str,
) -> Result<Vec<u8>, S3Error> {
    match BASE64.decode(value.trim()) {
        Ok(bytes) if bytes.len() == algorithm.digest_len() => Ok(bytes),
        _ => Err(S3Error::new(
            S3ErrorCode::InvalidRequest,
            format!(
                "Value for {field} is invalid: expected base64 of a {}-byte {} digest",
                algorithm.digest_len(),
                algorithm.as_str()
            ),
        )),
    }
}

/// Decode a `Content-MD5` header: base64 of exactly 16 bytes, else `InvalidDigest`.
pub fn parse_content_md5(value: &str) -> Result<[u8; 16], S3Error> {
    let bytes = BASE64.decode(value.trim()).map_err(|_| {
        S3Error::new(
            S3ErrorCode::InvalidDigest,
            "The Content-MD5 you specified is not valid base64.",
        )
    })?;
    <[u8; 16]>::try_from(bytes.as_slice()).map_err(|_| {
        S3Error::new(
            S3ErrorCode::InvalidDigest,
            format!(
                "The Content-MD5 you specified is {} bytes, not 16.",
                bytes.len()
            ),
        )
    })
}

/// Compare a computed MD5 with the decoded `Content-MD5`: `BadDigest` if they differ.
pub fn verify_content_md5(expected: &[u8; 16], actual: &[u8; 16]) -> Result<(), S3Error> {
    if expected != actual {
        return Err(S3Error::new(
            S3ErrorCode::BadDigest,
            "The Content-MD5 you specified did not match what we received.",
        ));
    }
    Ok(())
}

/// MD5 of `bytes` (for ETags and `Content-MD5`).
pub fn md5(bytes: &[u8]) -> [u8; 16] {
    Md5::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(alg: ChecksumAlgorithm, data: &[u8]) -> String {
        let mut h = ChecksumHasher::new(alg);
        h.update(data);
        h.finish_base64()
    }

    #[test]
    fn check_values_of_each_algorithm() {
        // The CRC catalogue "check" input, digests in big-endian.
        let check = b"123456789";
        let crc = |alg| {
            let mut h = ChecksumHasher::new(alg);
            h.update(check);
            h.finish()
        };
        assert_eq!(crc(ChecksumAlgorithm::Crc32), 0xcbf4_3926u32.to_be_bytes());
        assert_eq!(crc(ChecksumAlgorithm::Crc32c), 0xe306_9283u32.to_be_bytes());
        assert_eq!(
            crc(ChecksumAlgorithm::Crc64Nvme),
            0xae8b_1486_0a79_9888u64.to_be_bytes()
        );
        // Values from Python: base64.b64encode(hashlib.sha1(b"hello").digest()) etc.
        assert_eq!(
            b64(ChecksumAlgorithm::Sha1, b"hello"),
            "qvTGHdzF6KLavt4PO0gs2a6pQ00="
        );
        assert_eq!(
            b64(ChecksumAlgorithm::Sha256, b"hello"),
            "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="
        );
        // zlib.crc32(b"a" * 66560) = 0xb0ae18ec, the payload of the AWS chunked example.
        assert_eq!(b64(ChecksumAlgorithm::Crc32, &[b'a'; 66560]), "sK4Y7A==");
    }

    #[test]
    fn incremental_updates_equal_one_shot() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for alg in ChecksumAlgorithm::ALL {
            let mut h = ChecksumHasher::new(alg);
            for piece in data.chunks(333) {
                h.update(piece);
            }
            let digest = h.finish();
            assert_eq!(digest.len(), alg.digest_len());
            assert_eq!(BASE64.encode(&digest), b64(alg, &data), "{alg:?}");
        }
    }

    #[test]
    fn names_round_trip() {
        for alg in ChecksumAlgorithm::ALL {
            assert_eq!(
                ChecksumAlgorithm::from_header_name(alg.header_name()),
                Some(alg)
            );
            assert_eq!(
                ChecksumAlgorithm::from_header_name(&alg.header_name().to_uppercase()),
                Some(alg)
            );
            assert_eq!(
                ChecksumAlgorithm::from_algorithm_name(alg.as_str()),
                Some(alg)
            );
            assert_eq!(
                ChecksumAlgorithm::from_algorithm_name(&alg.as_str().to_lowercase()),
                Some(alg)
            );
        }
        assert_eq!(
            ChecksumAlgorithm::from_header_name("x-amz-checksum-md5"),
            None
        );
        assert_eq!(ChecksumAlgorithm::from_algorithm_name("MD5"), None);
    }

    #[test]
    fn verify_distinguishes_bad_encoding_from_bad_digest() {
        let hasher = || {
            let mut h = ChecksumHasher::new(ChecksumAlgorithm::Crc32);
            h.update(b"a");
            h
        };
        let good = hasher().finish_base64();
        assert_eq!(hasher().verify("x-amz-checksum-crc32", &good), Ok(()));
        let err = hasher()
            .verify("x-amz-checksum-crc32", "AAAAAA==")
            .unwrap_err();
        assert_eq!(err.code, S3ErrorCode::BadDigest);
        assert!(
            err.message.contains("x-amz-checksum-crc32"),
            "{}",
            err.message
        );
        for bad in ["not base64!", "AAAAAAAA", ""] {
            let err = hasher().verify("x-amz-checksum-crc32", bad).unwrap_err();
            assert_eq!(err.code, S3ErrorCode::InvalidRequest, "{bad:?}");
        }
    }

    #[test]
    fn content_md5_parsing_and_comparison() {
        // base64(md5(b"")) = "1B2M2Y8AsgTpgAmY7PhCfg==".
        let empty = md5(b"");
        assert_eq!(parse_content_md5("1B2M2Y8AsgTpgAmY7PhCfg=="), Ok(empty));
        assert_eq!(parse_content_md5(" 1B2M2Y8AsgTpgAmY7PhCfg== "), Ok(empty));
        assert_eq!(verify_content_md5(&empty, &empty), Ok(()));
        assert_eq!(
            verify_content_md5(&empty, &md5(b"x")).unwrap_err().code,
            S3ErrorCode::BadDigest
        );
        for bad in ["", "!!!!", "AAAA", "1B2M2Y8AsgTpgAmY7PhCfg"] {
            assert_eq!(
                parse_content_md5(bad).unwrap_err().code,
                S3ErrorCode::InvalidDigest,
                "{bad:?}"
            );
        }
    }
}
