//! Object checksums as AIS defines them (spec §5): the types, their streaming computation and
//! the form of their values.
//!
//! A value is the lowercase hex of the digest, big-endian for the 32- and 64-bit ones:
//! `xxhash` and `xxhash2` are both XXH64 with seed 0 (16 digits; the same digest under two
//! names), `md5` 32 digits, `crc32c` (Castagnoli) 8, `sha256` 64, `sha512` 128. Type `none`
//! has the empty value.
//!
//! # Invariants
//! - [`Cksum`] holds only a known type with a well-formed value, lowercased: values from
//!   clients and peers are parsed once, at the boundary, and compared as plain strings after.
//! - [`Hasher::finish`] of a type yields a value [`validate_value`] accepts for that type.
//!
//! # What this module does not do
//! - Decide which checksum a write computes or verifies (that is `object::ObjectWriter`).
//! - Protect metadata: LOM and metasync framing use their own seeded XXH64.

use md5::{Digest as _, Md5};
use sha2::{Sha256, Sha512};
use std::fmt;
use xxhash_rust::xxh64::Xxh64;

/// A checksum type of AIS (`checksum.type` of a bucket, `Ais-Checksum-Type` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CksumType {
    None,
    /// XXH64, seed 0 (AIS: OneOfOne xxhash).
    Xxhash,
    /// XXH64, seed 0 (AIS: cespare xxhash): the same digest as [`CksumType::Xxhash`].
    Xxhash2,
    Md5,
    /// CRC-32C (Castagnoli).
    Crc32c,
    Sha256,
    Sha512,
}

impl CksumType {
    /// Every type, in the order AIS lists them.
    pub const ALL: [CksumType; 7] = [
        CksumType::None,
        CksumType::Xxhash,
        CksumType::Xxhash2,
        CksumType::Md5,
        CksumType::Crc32c,
        CksumType::Sha256,
        CksumType::Sha512,
    ];

    /// A bucket's type when none is configured (AIS's code default).
    pub const DEFAULT: CksumType = CksumType::Xxhash2;

    /// The type of an AIS name (exact, lowercase as AIS writes them).
    pub fn parse(name: &str) -> Result<CksumType, CksumError> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| CksumError::UnknownType(name.to_string()))
    }

    /// The AIS name.
    pub fn name(self) -> &'static str {
        match self {
            CksumType::None => "none",
            CksumType::Xxhash => "xxhash",
            CksumType::Xxhash2 => "xxhash2",
            CksumType::Md5 => "md5",
            CksumType::Crc32c => "crc32c",
            CksumType::Sha256 => "sha256",
            CksumType::Sha512 => "sha512",
        }
    }

    /// Length of a value in hex digits (0 for `none`).
    pub fn hex_len(self) -> usize {
        match self {
            CksumType::None => 0,
            CksumType::Crc32c => 8,
            CksumType::Xxhash | CksumType::Xxhash2 => 16,
            CksumType::Md5 => 32,
            CksumType::Sha256 => 64,
            CksumType::Sha512 => 128,
        }
    }

    /// Whether the two types compute the same digest (`xxhash` and `xxhash2` do).
    pub fn same_digest(self, other: CksumType) -> bool {
        let xxh = |t| matches!(t, CksumType::Xxhash | CksumType::Xxhash2);
        self == other || (xxh(self) && xxh(other))
    }

    /// Whether equal values of this type (and equal sizes) may be taken for identical content,
    /// so that re-writing it can be skipped. Not for `none` (no value) and not for `crc32c`:
    /// 32 bits make an accidental match of two different same-size contents likely enough
    /// over a store's lifetime (and any match is easy to construct), and a skipped write
    /// would lose the new bytes while answering success.
    pub fn identifies_content(self) -> bool {
        !matches!(self, CksumType::None | CksumType::Crc32c)
    }
}

impl fmt::Display for CksumType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for CksumType {
    type Err = CksumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CksumType::parse(s)
    }
}

/// Why a checksum type or value is refused. Display names the type or value and what was
/// expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CksumError {
    /// A type name that is not one of [`CksumType::ALL`].
    UnknownType(String),
    /// A value of the wrong length or with a non-hex character (or any value for `none`).
    BadValue { ty: CksumType, value: String },
}

impl fmt::Display for CksumError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CksumError::UnknownType(t) => {
                write!(f, "unsupported checksum type {t:?} (supported: ")?;
                for (i, t) in CksumType::ALL.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(t.name())?;
                }
                f.write_str(")")
            }
            CksumError::BadValue {
                ty: CksumType::None,
                value,
            } => write!(f, "checksum type none takes no value, got {value:?}"),
            CksumError::BadValue { ty, value } => write!(
                f,
                "invalid {ty} checksum value {value:?}: expected {} hex digits",
                ty.hex_len()
            ),
        }
    }
}

impl std::error::Error for CksumError {}

/// Check that `value` has the form of a `ty` value: exactly [`CksumType::hex_len`] hex digits
/// (either case), and empty for `none`.
pub fn validate_value(ty: CksumType, value: &str) -> Result<(), CksumError> {
    if value.len() == ty.hex_len() && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(CksumError::BadValue {
            ty,
            value: value.to_string(),
        })
    }
}

/// A checksum of a known type with a well-formed, lowercase value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cksum {
    ty: CksumType,
    value: String,
}

impl Cksum {
    /// Parse a type name and a value (hex in either case; stored lowercase).
    pub fn parse(ty: &str, value: &str) -> Result<Cksum, CksumError> {
        let ty = CksumType::parse(ty)?;
        validate_value(ty, value)?;
        Ok(Cksum {
            ty,
            value: value.to_ascii_lowercase(),
        })
    }

    pub fn ty(&self) -> CksumType {
        self.ty
    }

    /// Lowercase hex ("" for `none`).
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// Streaming computation of one checksum type.
#[derive(Clone)]
pub struct Hasher {
    ty: CksumType,
    state: State,
}

#[derive(Clone)]
enum State {
    None,
    Xxh64(Xxh64),
    Md5(Md5),
    /// The running CRC-32C (the `crc32c` crate keeps no state of its own).
    Crc32c(u32),
    Sha256(Sha256),
    Sha512(Sha512),
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher")
            .field("ty", &self.ty)
            .finish_non_exhaustive()
    }
}

impl Hasher {
    /// A hasher over the empty input.
    pub fn new(ty: CksumType) -> Hasher {
        let state = match ty {
            CksumType::None => State::None,
            CksumType::Xxhash | CksumType::Xxhash2 => State::Xxh64(Xxh64::new(0)),
            CksumType::Md5 => State::Md5(Md5::new()),
            CksumType::Crc32c => State::Crc32c(0),
            CksumType::Sha256 => State::Sha256(Sha256::new()),
            CksumType::Sha512 => State::Sha512(Sha512::new()),
        };
        Hasher { ty, state }
    }

    pub fn ty(&self) -> CksumType {
        self.ty
    }

    /// Add bytes; any split of the input gives the same result.
    #[inline]
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::None => {}
            State::Xxh64(h) => h.update(data),
            State::Md5(h) => h.update(data),
            State::Crc32c(crc) => *crc = crc32c::crc32c_append(*crc, data),
            State::Sha256(h) => h.update(data),
            State::Sha512(h) => h.update(data),
        }
    }

    /// The value: lowercase hex of the digest, big-endian ("" for `none`).
    pub fn finish(self) -> String {
        match self.state {
            State::None => String::new(),
            State::Xxh64(h) => format!("{:016x}", h.digest()),
            State::Md5(h) => hex(&h.finalize()),
            State::Crc32c(crc) => format!("{crc:08x}"),
            State::Sha256(h) => hex(&h.finalize()),
            State::Sha512(h) => hex(&h.finalize()),
        }
    }
}

/// The checksum of `data` in one call.
pub fn compute(ty: CksumType, data: &[u8]) -> String {
    let mut h = Hasher::new(ty);
    h.update(data);
    h.finish()
}

/// Lowercase hex. (`net::hex` is the workspace's encoder, but `engine` depends on no
/// workspace crate; this is the one other copy, for digests only.)
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Known answers, computed with Python's `hashlib` and `xxhash`, and a bitwise CRC-32C
    /// (reflected polynomial 0x82F63B78) that gives the catalogue's check value
    /// crc32c("123456789") = e3069283.
    const VECTORS: &[(&[u8], [&str; 5])] = &[
        (
            b"",
            [
                "ef46db3751d8e999",
                "d41d8cd98f00b204e9800998ecf8427e",
                "00000000",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
            ],
        ),
        (
            b"a",
            [
                "d24ec4f1a98c6e5b",
                "0cc175b9c0f1b6a831c399e269772661",
                "c1d04330",
                "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb",
                "1f40fc92da241694750979ee6cf582f2d5d7d28e18335de05abc54d0560e0f5302860c652bf08d560252aa5e74210546f369fbbbce8c12cfc7957b2652fe9a75",
            ],
        ),
        (
            b"abc",
            [
                "44bc2cf5ad770999",
                "900150983cd24fb0d6963f7d28e17f72",
                "364b3fb7",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            ],
        ),
        (
            b"123456789",
            [
                "8cb841db40e6ae83",
                "25f9e794323b453885f5181f1b624d0b",
                "e3069283",
                "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225",
                "d9e6762dd1c8eaf6d61b3c6192fc408d4d6d5f1176d0c29169bc24e71c3f274ad27fcd5811b313d681f7e55ec02d73d499c95455b6b5bb503acf574fba8ffe85",
            ],
        ),
        (
            b"The quick brown fox jumps over the lazy dog",
            [
                "0b242d361fda71bc",
                "9e107d9d372bb6826bd81d3542a419d6",
                "22620404",
                "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592",
                "07e547d9586f6a73f73fbac0435ed76951218fb7d0c8d788a309d785436bbb642e93a252a954f23912547d1e8a3b5ed6e1bfd7097821233fa0538f3db854fee6",
            ],
        ),
    ];

    /// bytes(range(256)) * 4 in Python.
    fn ramp_1k() -> Vec<u8> {
        (0..1024).map(|i| i as u8).collect()
    }

    #[test]
    fn known_answers_for_every_type() {
        let types = [
            CksumType::Xxhash2,
            CksumType::Md5,
            CksumType::Crc32c,
            CksumType::Sha256,
            CksumType::Sha512,
        ];
        for (data, want) in VECTORS {
            for (ty, want) in types.iter().zip(want) {
                assert_eq!(compute(*ty, data), *want, "{ty} of {data:?}");
            }
            // xxhash is the same XXH64 under AIS's other name.
            assert_eq!(compute(CksumType::Xxhash, data), want[0]);
            assert_eq!(compute(CksumType::None, data), "");
        }
        let ramp = ramp_1k();
        assert_eq!(compute(CksumType::Xxhash2, &ramp), "6f3914f18fe4df57");
        assert_eq!(
            compute(CksumType::Md5, &ramp),
            "b2ea9f7fcea831a4a63b213f41a8855b"
        );
        assert_eq!(compute(CksumType::Crc32c, &ramp), "2cdf6e8f");
        assert_eq!(
            compute(CksumType::Sha256, &ramp),
            "785b0751fc2c53dc14a4ce3d800e69ef9ce1009eb327ccf458afe09c242c26c9"
        );
        assert_eq!(
            compute(CksumType::Sha512, &ramp),
            "37f652be867f28ed033269cbba201af2112c2b3fd334a89fd2f757938ddee815787cc61d6e24a8a33340d0f7e86ffc058816b88530766ba6e231620a130b566c"
        );
    }

    #[test]
    fn every_computed_value_is_valid_for_its_type() {
        for ty in CksumType::ALL {
            let v = compute(ty, b"abc");
            assert_eq!(v.len(), ty.hex_len(), "{ty}");
            assert_eq!(validate_value(ty, &v), Ok(()), "{ty}");
            assert_eq!(v, v.to_ascii_lowercase(), "{ty}");
        }
    }

    #[test]
    fn names_parse_back_and_unknown_names_are_refused_with_the_list() {
        for ty in CksumType::ALL {
            assert_eq!(CksumType::parse(ty.name()), Ok(ty));
            assert_eq!(ty.name().parse::<CksumType>(), Ok(ty));
            assert_eq!(ty.to_string(), ty.name());
        }
        for bad in ["", "crc32", "sha1", "MD5", "xxhash3", " md5"] {
            let e = CksumType::parse(bad).unwrap_err();
            assert_eq!(e, CksumError::UnknownType(bad.to_string()));
        }
        assert_eq!(
            CksumType::parse("sha1").unwrap_err().to_string(),
            "unsupported checksum type \"sha1\" (supported: none, xxhash, xxhash2, md5, crc32c, sha256, sha512)"
        );
    }

    #[test]
    fn values_are_validated_by_length_and_digits() {
        let cases: &[(CksumType, &str, bool)] = &[
            (CksumType::None, "", true),
            (CksumType::None, "00", false),
            (CksumType::Xxhash, "0123456789abcdef", true),
            (CksumType::Xxhash2, "0123456789ABCDEF", true),
            (CksumType::Xxhash2, "0123456789abcde", false),
            (CksumType::Xxhash2, "0123456789abcdef0", false),
            (CksumType::Xxhash2, "0123456789abcdeg", false),
            (CksumType::Md5, "d41d8cd98f00b204e9800998ecf8427e", true),
            (CksumType::Md5, "d41d8cd98f00b204e9800998ecf8427", false),
            (CksumType::Crc32c, "e3069283", true),
            (CksumType::Crc32c, "0xe30692", false),
            (CksumType::Crc32c, "", false),
            (CksumType::Sha256, &"a".repeat(64), true),
            (CksumType::Sha256, &"a".repeat(63), false),
            (CksumType::Sha512, &"f".repeat(128), true),
            (CksumType::Sha512, &"f".repeat(64), false),
            (CksumType::Sha512, " ", false),
        ];
        for (ty, v, ok) in cases {
            assert_eq!(validate_value(*ty, v).is_ok(), *ok, "{ty} {v:?}");
        }
        assert_eq!(
            validate_value(CksumType::Md5, "abc")
                .unwrap_err()
                .to_string(),
            "invalid md5 checksum value \"abc\": expected 32 hex digits"
        );
        assert_eq!(
            validate_value(CksumType::None, "abc")
                .unwrap_err()
                .to_string(),
            "checksum type none takes no value, got \"abc\""
        );
    }

    #[test]
    fn parsed_values_are_lowercased() {
        let c = Cksum::parse("crc32c", "E3069283").unwrap();
        assert_eq!((c.ty(), c.value()), (CksumType::Crc32c, "e3069283"));
        assert_eq!(
            Cksum::parse("crc33", "e3069283"),
            Err(CksumError::UnknownType("crc33".into()))
        );
        assert!(matches!(
            Cksum::parse("md5", "e3069283"),
            Err(CksumError::BadValue {
                ty: CksumType::Md5,
                ..
            })
        ));
    }

    #[test]
    fn only_xxhash_and_xxhash2_share_a_digest() {
        for a in CksumType::ALL {
            for b in CksumType::ALL {
                let xxh = |t| matches!(t, CksumType::Xxhash | CksumType::Xxhash2);
                assert_eq!(a.same_digest(b), a == b || (xxh(a) && xxh(b)), "{a} {b}");
            }
        }
    }

    proptest! {
        #[test]
        fn streaming_in_random_pieces_equals_one_shot(
            data in proptest::collection::vec(any::<u8>(), 0..5000),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (data.len() + 1)).collect();
            cuts.sort_unstable();
            for ty in CksumType::ALL {
                let mut h = Hasher::new(ty);
                let mut prev = 0;
                for &c in &cuts {
                    h.update(&data[prev..c]);
                    prev = c;
                }
                h.update(&data[prev..]);
                prop_assert_eq!(h.finish(), compute(ty, &data), "{}", ty);
            }
        }
    }
}
