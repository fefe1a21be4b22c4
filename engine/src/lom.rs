//! LOM: object metadata kept in the `user.ais.lom` xattr, in AIS's byte layout (spec §6).
//!
//! Layout: byte 0 meta-version (2), byte 1 metadata-checksum type (1 = xxhash), bytes 2..10
//! big-endian XXH64(seed MLCG32) of the payload, then the payload: records of a big-endian
//! u16 key followed by the value, records separated by the bytes `E3 2F BD`. Keys: 0 checksum
//! type, 1 checksum value, 2 version, 3 size (BE u64), 5 custom metadata (`k\x01v\x01k\x01v`).
//! Atime is not stored here: it is the file's own atime. See docs/on-disk-format.md.

use crate::cksum::CksumType;
use crate::hrw::MLCG32;
use std::fmt;
use xxhash_rust::xxh64::xxh64;

pub const XATTR_LOM: &str = "user.ais.lom";
/// AIS caps the LOM xattr at 4 KiB.
pub const LOM_BYTES_MAX: usize = 4096;
/// Total size of custom metadata keys and values (AIS allows about 2 KiB).
pub const CUSTOM_MD_BYTES_MAX: usize = 2048;

const META_VERSION: u8 = 2;
const META_CKSUM_XXHASH: u8 = 1;
const PREAMBLE_BYTES: usize = 10;
const RECORD_SEP: [u8; 3] = [0xE3, 0x2F, 0xBD];
const CUSTOM_SEP: u8 = 0x01;

const KEY_CKSUM_TYPE: u16 = 0;
const KEY_CKSUM_VALUE: u16 = 1;
const KEY_VERSION: u16 = 2;
const KEY_SIZE: u16 = 3;
const KEY_CUSTOM: u16 = 5;

/// Object metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lom {
    pub size: u64,
    /// An AIS checksum type name (`xxhash2`, `md5`, ..., see [`CksumType`]), or "" when the
    /// bucket keeps no checksum.
    pub cksum_type: String,
    /// Lowercase hex (see [`crate::cksum`]).
    pub cksum_value: String,
    /// Decimal version string ("1", "2", ...); "" when versioning is off.
    pub version: String,
    pub custom: Vec<(String, String)>,
    /// Unix nanoseconds, from the file's atime (not stored in the xattr).
    pub atime_ns: i64,
    /// Unix nanoseconds, from the file's mtime (not stored in the xattr).
    pub mtime_ns: i64,
}

/// Why stored LOM bytes do not decode: the caller reports the object as corrupted
/// ([`crate::Error::Corrupt`], with this as the detail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the preamble.
    TooShort(usize),
    /// Meta-version byte other than 1 or 2.
    MetaVersion(u8),
    /// Metadata checksum type other than xxhash.
    CksumType(u8),
    /// The payload does not match its stored checksum.
    CksumMismatch {
        stored: u64,
        computed: u64,
    },
    /// A record shorter than its 2-byte key.
    ShortRecord,
    /// A text value that is not UTF-8.
    NotUtf8 {
        key: u16,
    },
    /// A size record that is not 8 bytes.
    SizeLen(usize),
    CustomOddFields,
    CustomKeyNotUtf8,
    CustomValueNotUtf8,
    /// No size record.
    NoSize,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooShort(n) => write!(f, "LOM too short: {n} bytes"),
            DecodeError::MetaVersion(v) => write!(f, "LOM meta-version {v} not supported"),
            DecodeError::CksumType(t) => {
                write!(f, "LOM metadata checksum type {t} not supported")
            }
            DecodeError::CksumMismatch { stored, computed } => write!(
                f,
                "LOM checksum mismatch: stored {stored:016x}, computed {computed:016x}"
            ),
            DecodeError::ShortRecord => f.write_str("LOM record shorter than its key"),
            DecodeError::NotUtf8 { key } => write!(f, "LOM key {key}: not UTF-8"),
            DecodeError::SizeLen(n) => write!(f, "LOM size of {n} bytes"),
            DecodeError::CustomOddFields => {
                f.write_str("LOM custom metadata has an odd number of fields")
            }
            DecodeError::CustomKeyNotUtf8 => f.write_str("LOM custom key not UTF-8"),
            DecodeError::CustomValueNotUtf8 => f.write_str("LOM custom value not UTF-8"),
            DecodeError::NoSize => f.write_str("LOM has no size record"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why custom metadata a client sent is refused. Display names the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomError {
    EmptyKey,
    /// A key or value (given) holding a separator or NUL byte.
    ReservedByte(String),
    /// Keys and values together exceed [`CUSTOM_MD_BYTES_MAX`].
    TooLarge {
        total: usize,
    },
}

impl fmt::Display for CustomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CustomError::EmptyKey => f.write_str("custom metadata key is empty"),
            CustomError::ReservedByte(s) => {
                write!(f, "custom metadata {s:?} contains a reserved byte")
            }
            CustomError::TooLarge { total } => write!(
                f,
                "custom metadata of {total} bytes exceeds {CUSTOM_MD_BYTES_MAX}"
            ),
        }
    }
}

impl std::error::Error for CustomError {}

impl Lom {
    pub fn encode(&self) -> Vec<u8> {
        let mut payload = Vec::with_capacity(128);
        let mut first = true;
        let mut rec = |key: u16, val: &[u8], payload: &mut Vec<u8>| {
            if !first {
                payload.extend_from_slice(&RECORD_SEP);
            }
            first = false;
            payload.extend_from_slice(&key.to_be_bytes());
            payload.extend_from_slice(val);
        };
        if !self.cksum_type.is_empty() {
            rec(KEY_CKSUM_TYPE, self.cksum_type.as_bytes(), &mut payload);
            rec(KEY_CKSUM_VALUE, self.cksum_value.as_bytes(), &mut payload);
        }
        if !self.version.is_empty() {
            rec(KEY_VERSION, self.version.as_bytes(), &mut payload);
        }
        rec(KEY_SIZE, &self.size.to_be_bytes(), &mut payload);
        if !self.custom.is_empty() {
            let mut c = Vec::new();
            for (i, (k, v)) in self.custom.iter().enumerate() {
                if i > 0 {
                    c.push(CUSTOM_SEP);
                }
                c.extend_from_slice(k.as_bytes());
                c.push(CUSTOM_SEP);
                c.extend_from_slice(v.as_bytes());
            }
            rec(KEY_CUSTOM, &c, &mut payload);
        }
        let mut out = Vec::with_capacity(PREAMBLE_BYTES + payload.len());
        out.push(META_VERSION);
        out.push(META_CKSUM_XXHASH);
        out.extend_from_slice(&xxh64(&payload, MLCG32).to_be_bytes());
        out.extend_from_slice(&payload);
        assert!(
            out.len() <= LOM_BYTES_MAX,
            "LOM of {} bytes exceeds {LOM_BYTES_MAX}",
            out.len()
        );
        out
    }

    /// Decode; any inconsistency is a [`DecodeError`] naming it (the caller reports
    /// corruption).
    pub fn decode(buf: &[u8]) -> Result<Lom, DecodeError> {
        if buf.len() < PREAMBLE_BYTES {
            return Err(DecodeError::TooShort(buf.len()));
        }
        if buf[0] != META_VERSION && buf[0] != 1 {
            return Err(DecodeError::MetaVersion(buf[0]));
        }
        if buf[1] != META_CKSUM_XXHASH {
            return Err(DecodeError::CksumType(buf[1]));
        }
        let want = u64::from_be_bytes(buf[2..10].try_into().expect("8 bytes"));
        let payload = &buf[PREAMBLE_BYTES..];
        let got = xxh64(payload, MLCG32);
        if want != got {
            return Err(DecodeError::CksumMismatch {
                stored: want,
                computed: got,
            });
        }
        let mut lom = Lom::default();
        let mut have_size = false;
        for rec in split_records(payload) {
            if rec.len() < 2 {
                return Err(DecodeError::ShortRecord);
            }
            let key = u16::from_be_bytes([rec[0], rec[1]]);
            let val = &rec[2..];
            let s = || String::from_utf8(val.to_vec()).map_err(|_| DecodeError::NotUtf8 { key });
            match key {
                KEY_CKSUM_TYPE => lom.cksum_type = s()?,
                KEY_CKSUM_VALUE => lom.cksum_value = s()?,
                KEY_VERSION => lom.version = s()?,
                KEY_SIZE => {
                    let b: [u8; 8] = val
                        .try_into()
                        .map_err(|_| DecodeError::SizeLen(val.len()))?;
                    lom.size = u64::from_be_bytes(b);
                    have_size = true;
                }
                KEY_CUSTOM => {
                    let parts: Vec<&[u8]> = val.split(|b| *b == CUSTOM_SEP).collect();
                    if !parts.len().is_multiple_of(2) {
                        return Err(DecodeError::CustomOddFields);
                    }
                    for kv in parts.chunks(2) {
                        let k = String::from_utf8(kv[0].to_vec())
                            .map_err(|_| DecodeError::CustomKeyNotUtf8)?;
                        let v = String::from_utf8(kv[1].to_vec())
                            .map_err(|_| DecodeError::CustomValueNotUtf8)?;
                        lom.custom.push((k, v));
                    }
                }
                _ => {} // unknown keys (copies, LID, flags) are ignored
            }
        }
        if !have_size {
            return Err(DecodeError::NoSize);
        }
        Ok(lom)
    }

    /// The type to verify the object's bytes with: the stored type when it is a known one
    /// other than `none`. `None` for a type this engine does not know (AIS knows no others),
    /// which is then not verified, as an object of type `none` is not.
    pub fn verifiable_cksum(&self) -> Option<CksumType> {
        CksumType::parse(&self.cksum_type)
            .ok()
            .filter(|t| *t != CksumType::None)
    }

    pub fn custom_get(&self, key: &str) -> Option<&str> {
        self.custom
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Split the payload into records. The size value is binary (8 bytes) and may contain the
/// separator, so it is taken by length; every other value is UTF-8 text, which can never
/// contain `E3 2F` (0x2F is not a continuation byte), so scanning for the separator is exact.
fn split_records(payload: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < payload.len() {
        let fixed = payload.len() >= start + 2
            && u16::from_be_bytes([payload[start], payload[start + 1]]) == KEY_SIZE;
        let scan_from = if fixed {
            (start + 10).min(payload.len())
        } else {
            start + 2.min(payload.len() - start)
        };
        let end = payload[scan_from..]
            .windows(RECORD_SEP.len())
            .position(|w| w == RECORD_SEP)
            .map(|p| scan_from + p);
        match end {
            Some(e) => {
                out.push(&payload[start..e]);
                start = e + RECORD_SEP.len();
            }
            None => {
                out.push(&payload[start..]);
                break;
            }
        }
    }
    out
}

/// Validate custom metadata a client sent: no separator or NUL bytes, bounded size.
pub fn validate_custom(custom: &[(String, String)]) -> Result<(), CustomError> {
    let mut total = 0;
    for (k, v) in custom {
        if k.is_empty() {
            return Err(CustomError::EmptyKey);
        }
        for s in [k, v] {
            if s.bytes().any(|b| b == CUSTOM_SEP || b == 0)
                || s.as_bytes().windows(3).any(|w| w == RECORD_SEP)
            {
                return Err(CustomError::ReservedByte(s.clone()));
            }
        }
        total += k.len() + v.len();
    }
    if total > CUSTOM_MD_BYTES_MAX {
        return Err(CustomError::TooLarge { total });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn roundtrip_full_lom() {
        let lom = Lom {
            size: 1 << 33,
            cksum_type: "xxhash2".into(),
            cksum_value: "0123456789abcdef".into(),
            version: "7".into(),
            custom: vec![("k".into(), "v".into()), ("ETag".into(), "\"x\"".into())],
            atime_ns: 0,
            mtime_ns: 0,
        };
        let b = lom.encode();
        assert_eq!(b[0], 2);
        assert_eq!(b[1], 1);
        assert_eq!(Lom::decode(&b).unwrap(), lom);
    }

    #[test]
    fn size_record_is_big_endian_u64() {
        let b = Lom {
            size: 258,
            ..Default::default()
        }
        .encode();
        assert_eq!(&b[10..], &[0, 3, 0, 0, 0, 0, 0, 0, 1, 2]);
    }

    #[test]
    fn bit_flip_is_detected() {
        let lom = Lom {
            size: 5,
            cksum_type: "xxhash2".into(),
            cksum_value: "ab".into(),
            version: "1".into(),
            ..Default::default()
        };
        let b = lom.encode();
        for i in 0..b.len() {
            let mut c = b.clone();
            c[i] ^= 0x10;
            assert_ne!(
                Lom::decode(&c).ok(),
                Some(lom.clone()),
                "flip at {i} went unnoticed"
            );
        }
    }

    #[test]
    fn size_containing_separator_bytes_roundtrips() {
        let lom = Lom {
            size: 0x00E3_2FBD_E32F_BD00,
            version: "1".into(),
            ..Default::default()
        };
        assert_eq!(Lom::decode(&lom.encode()).unwrap(), lom);
    }

    #[test]
    fn truncated_is_rejected() {
        assert_eq!(Lom::decode(&[2, 1, 0]), Err(DecodeError::TooShort(3)));
        assert_eq!(
            DecodeError::TooShort(3).to_string(),
            "LOM too short: 3 bytes"
        );
    }

    #[test]
    fn custom_metadata_errors_name_the_problem() {
        let kv = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        assert_eq!(validate_custom(&kv("k", "v")), Ok(()));
        assert_eq!(validate_custom(&kv("", "v")), Err(CustomError::EmptyKey));
        let e = validate_custom(&kv("k", "a\u{1}b")).unwrap_err();
        assert_eq!(e, CustomError::ReservedByte("a\u{1}b".into()));
        assert_eq!(
            e.to_string(),
            "custom metadata \"a\\u{1}b\" contains a reserved byte"
        );
        let e = validate_custom(&kv("k", &"v".repeat(CUSTOM_MD_BYTES_MAX))).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("custom metadata of 2049 bytes exceeds {CUSTOM_MD_BYTES_MAX}")
        );
    }

    #[test]
    fn verifiable_cksum_is_a_known_type_other_than_none() {
        let with = |t: &str| Lom {
            cksum_type: t.into(),
            ..Default::default()
        };
        for t in CksumType::ALL {
            let want = (t != CksumType::None).then_some(t);
            assert_eq!(with(t.name()).verifiable_cksum(), want, "{t}");
        }
        assert_eq!(with("").verifiable_cksum(), None);
        assert_eq!(with("sha1").verifiable_cksum(), None);
    }

    proptest! {
        #[test]
        fn roundtrip_any(size in any::<u64>(), ver in "[0-9]{0,5}", kv in proptest::collection::vec(("[a-z]{1,8}", "[ -~]{0,16}"), 0..5)) {
            let lom = Lom { size, cksum_type: "xxhash2".into(), cksum_value: "00ff".into(), version: ver, custom: kv, atime_ns: 0, mtime_ns: 0 };
            prop_assert_eq!(Lom::decode(&lom.encode()).unwrap(), lom);
        }

        #[test]
        fn decode_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Lom::decode(&b);
        }
    }
}
