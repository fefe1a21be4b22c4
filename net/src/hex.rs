//! Hexadecimal, the one implementation of the workspace: lowercase encoding (SigV4 signatures
//! and hashes, ETags, checksums in headers) and decoding of fixed-size values (either case).

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The two lowercase hex digits of `byte`.
fn pair(byte: u8) -> [u8; 2] {
    [
        DIGITS[usize::from(byte >> 4)],
        DIGITS[usize::from(byte & 0x0f)],
    ]
}

/// Lowercase hex of `bytes`: `[0x00, 0x9f]` is `"009f"`.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        let [hi, lo] = pair(b);
        out.push(char::from(hi));
        out.push(char::from(lo));
    }
    out
}

/// Lowercase hex of `bytes` written to the start of `out`, without allocating; returns the
/// `2 * bytes.len()` digits written. Panics if `out` is shorter than that.
pub fn encode_into<'a>(bytes: &[u8], out: &'a mut [u8]) -> &'a str {
    let len = bytes.len() * 2;
    assert!(
        out.len() >= len,
        "hex of {} bytes needs {len} output bytes, got {}",
        bytes.len(),
        out.len()
    );
    for (b, slot) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        slot.copy_from_slice(&pair(*b));
    }
    std::str::from_utf8(&out[..len]).expect("hex digits are ASCII")
}

/// The value of one hex digit (either case); `None` for any other byte.
pub fn digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Exactly `2 * N` hex digits (either case) to `N` bytes; `None` for any other length or a
/// non-digit (no sign, prefix or whitespace).
pub fn decode<const N: usize>(s: &str) -> Option<[u8; N]> {
    let b = s.as_bytes();
    if b.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (slot, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        *slot = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_bad_input() {
        let bytes: [u8; 4] = [0x00, 0x9f, 0xa0, 0xff];
        assert_eq!(encode(&bytes), "009fa0ff");
        assert_eq!(encode(&[]), "");
        assert_eq!(decode::<4>("009fa0ff"), Some(bytes));
        assert_eq!(decode::<4>("009FA0FF"), Some(bytes));
        assert_eq!(decode::<0>(""), Some([]));
        for bad in [
            "009fa0f",
            "009fa0fff",
            "009fa0fg",
            "+09fa0ff",
            "\u{e9}9fa0ff",
        ] {
            assert_eq!(decode::<4>(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn encode_into_writes_a_prefix_without_allocating() {
        let mut out = [b'x'; 20];
        assert_eq!(
            encode_into(&0x0123_4567_89ab_cdefu64.to_be_bytes(), &mut out),
            "0123456789abcdef"
        );
        assert_eq!(&out[16..], b"xxxx");
        assert_eq!(encode_into(&[], &mut []), "");
    }

    #[test]
    #[should_panic(expected = "needs 4 output bytes")]
    fn encode_into_refuses_a_short_buffer() {
        let _ = encode_into(&[1, 2], &mut [0u8; 3]);
    }

    #[test]
    fn digits_of_every_byte() {
        for b in 0..=u8::MAX {
            assert_eq!(digit(b).is_some(), b.is_ascii_hexdigit(), "{b:#x}");
        }
        for (i, &d) in DIGITS.iter().enumerate() {
            assert_eq!(digit(d), Some(i as u8));
            assert_eq!(digit(d.to_ascii_uppercase()), Some(i as u8));
        }
    }
}
