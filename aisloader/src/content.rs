//! Object names, sizes and content.
//!
//! Content is a pure function of the object name, so a GET can be verified without storing
//! anything: byte `i` of object `name` is `pool[(offset(name) + i) % POOL_BYTES]`, where the
//! pool is a fixed xoshiro256++ stream (constant seed, generated once per process) and
//! `offset(name) = xxh64(name, CONTENT_SEED) % POOL_BYTES`. Every object of every size is a
//! prefix of its name's stream, so any run of aisloader (any seed, any sizes) can verify any
//! object it or another run wrote. PUT bodies are written straight from the pool (no copy, no
//! per-request buffer); verification is a `memcmp` against the pool.
//!
//! Objects written by other tools do not follow this scheme and fail `-verify`.

use std::sync::OnceLock;
use xxhash_rust::xxh64::{xxh64, Xxh64};

/// Size of the shared content pool (the period of every object's content).
pub const POOL_BYTES: usize = 16 << 20;
/// Seed of the pool's PRNG stream: part of the content format, never change it.
const POOL_SEED: u64 = 0x6169_736c_6f61_6465; // "aisloade"
/// Seed of the name hash that picks an object's offset into the pool.
const CONTENT_SEED: u64 = 0x636f_6e74_656e_7431; // "content1"
/// Random object names are this many letters (AIS `randomObjNameLen`).
pub const NAME_LETTERS: usize = 32;

/// xoshiro256++ (Blackman and Vigna), seeded through splitmix64.
#[derive(Debug, Clone)]
pub struct Xoshiro256pp {
    s: [u64; 4],
}

pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Xoshiro256pp {
    pub fn new(seed: u64) -> Xoshiro256pp {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Xoshiro256pp { s }
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }
}

/// Object size: `min + rng % (max - min + 1)` (spec §7), inclusive of both ends.
pub fn object_size(rng: &mut Xoshiro256pp, min: u64, max: u64) -> u64 {
    assert!(min <= max, "object size bounds {min} > {max}");
    match (max - min).checked_add(1) {
        Some(span) => min + rng.next_u64() % span,
        None => rng.next_u64(),
    }
}

/// Fill `out` with a random name of [`NAME_LETTERS`] ASCII letters.
pub fn random_letters(rng: &mut Xoshiro256pp, out: &mut [u8; NAME_LETTERS]) {
    const LETTERS: &[u8; 52] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut bits = 0u64;
    let mut left = 0;
    for b in out.iter_mut() {
        loop {
            if left == 0 {
                bits = rng.next_u64();
                left = 10; // 10 draws of 6 bits
            }
            let v = (bits & 63) as usize;
            bits >>= 6;
            left -= 1;
            if v < LETTERS.len() {
                *b = LETTERS[v];
                break;
            }
        }
    }
}

/// The process-wide content pool.
pub fn pool() -> &'static [u8] {
    static POOL: OnceLock<Box<[u8]>> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut rng = Xoshiro256pp::new(POOL_SEED);
        let mut v = vec![0u8; POOL_BYTES];
        for chunk in v.chunks_exact_mut(8) {
            chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        v.into_boxed_slice()
    })
}

/// Where `name`'s content starts in the pool.
pub fn content_offset(name: &[u8]) -> usize {
    (xxh64(name, CONTENT_SEED) % POOL_BYTES as u64) as usize
}

/// [`content_offset`] of the concatenation of `parts` (e.g. subdir prefix and letters).
pub fn content_offset_parts(parts: &[&[u8]]) -> usize {
    let mut h = Xxh64::new(CONTENT_SEED);
    for p in parts {
        h.update(p);
    }
    (h.digest() % POOL_BYTES as u64) as usize
}

/// Append to `out` the pool slices that make up bytes `[0, size)` of the object whose content
/// starts at `offset`.
pub fn content_slices(offset: usize, size: u64, out: &mut Vec<&'static [u8]>) {
    assert!(offset < POOL_BYTES);
    let pool = pool();
    let mut pos = offset;
    let mut left = size;
    while left > 0 {
        let n = ((POOL_BYTES - pos) as u64).min(left) as usize;
        out.push(&pool[pos..pos + n]);
        left -= n as u64;
        pos = (pos + n) % POOL_BYTES;
    }
}

/// Whether `chunk` equals the object's bytes starting at object position `pos`.
pub fn matches_content(offset: usize, pos: u64, mut chunk: &[u8]) -> bool {
    let pool = pool();
    let mut p = ((offset as u64 + pos % POOL_BYTES as u64) % POOL_BYTES as u64) as usize;
    while !chunk.is_empty() {
        let n = (POOL_BYTES - p).min(chunk.len());
        if chunk[..n] != pool[p..p + n] {
            return false;
        }
        chunk = &chunk[n..];
        p = (p + n) % POOL_BYTES;
    }
    true
}

/// Index in `chunk` of the first byte that differs from the object's content (slow path for
/// error messages).
pub fn first_mismatch(offset: usize, pos: u64, chunk: &[u8]) -> Option<usize> {
    let pool = pool();
    let start = (offset as u64 + pos % POOL_BYTES as u64) % POOL_BYTES as u64;
    chunk
        .iter()
        .enumerate()
        .find(|(i, b)| **b != pool[((start + *i as u64) % POOL_BYTES as u64) as usize])
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoshiro_reference_vector() {
        // First outputs of xoshiro256++ from state {1, 2, 3, 4} (reference C implementation).
        let mut r = Xoshiro256pp { s: [1, 2, 3, 4] };
        assert_eq!(r.next_u64(), 41943041);
        assert_eq!(r.next_u64(), 58720359);
        assert_eq!(r.next_u64(), 3588806011781223);
    }

    #[test]
    fn size_distribution_in_bounds_covers_ends_and_is_seeded() {
        let (min, max) = (1024u64, 1034u64);
        let mut rng = Xoshiro256pp::new(7);
        let mut seen = [0u32; 11];
        for _ in 0..100_000 {
            let s = object_size(&mut rng, min, max);
            assert!((min..=max).contains(&s));
            seen[(s - min) as usize] += 1;
        }
        assert!(seen[0] > 0 && seen[10] > 0, "both ends drawn: {seen:?}");
        assert!(
            seen.iter().all(|&c| c > 8000 && c < 10_200),
            "roughly uniform: {seen:?}"
        );
        let a: Vec<u64> = {
            let mut r = Xoshiro256pp::new(42);
            (0..20).map(|_| object_size(&mut r, 1, 1 << 30)).collect()
        };
        let b: Vec<u64> = {
            let mut r = Xoshiro256pp::new(42);
            (0..20).map(|_| object_size(&mut r, 1, 1 << 30)).collect()
        };
        assert_eq!(a, b);
        let mut r = Xoshiro256pp::new(1);
        assert_eq!(object_size(&mut r, 5, 5), 5);
        let _full_range = object_size(&mut r, 0, u64::MAX); // span overflows u64: must not panic
    }

    #[test]
    fn names_are_letters_and_seeded() {
        let mut r = Xoshiro256pp::new(3);
        let mut a = [0u8; NAME_LETTERS];
        random_letters(&mut r, &mut a);
        assert!(a.iter().all(u8::is_ascii_alphabetic));
        let mut b = [0u8; NAME_LETTERS];
        random_letters(&mut Xoshiro256pp::new(3), &mut b);
        assert_eq!(a, b);
        random_letters(&mut r, &mut b);
        assert_ne!(a, b);
    }

    #[test]
    fn content_is_a_function_of_the_name_and_wraps_the_pool() {
        let off = content_offset(b"dir/AbCd");
        assert_eq!(off, content_offset(b"dir/AbCd"));
        assert_ne!(off, content_offset(b"dir/AbCe"));
        assert_eq!(off, content_offset_parts(&[b"dir/", b"AbCd"]));
        // Spanning the wrap point, longer than the pool.
        let near_end = POOL_BYTES - 10;
        let size = POOL_BYTES as u64 + 100;
        let mut slices = Vec::new();
        content_slices(near_end, size, &mut slices);
        assert_eq!(slices.iter().map(|s| s.len() as u64).sum::<u64>(), size);
        assert_eq!(slices.len(), 3);
        let body: Vec<u8> = slices.concat();
        assert!(matches_content(near_end, 0, &body));
        assert!(matches_content(near_end, 5, &body[5..77]));
        assert!(matches_content(
            near_end,
            POOL_BYTES as u64 + 3,
            &body[POOL_BYTES + 3..]
        ));
        let mut bad = body[..64].to_vec();
        bad[63] ^= 1;
        assert!(!matches_content(near_end, 0, &bad));
        assert_eq!(first_mismatch(near_end, 0, &bad), Some(63));
        assert_eq!(first_mismatch(near_end, 0, &body[..64]), None);
        assert!(
            !matches_content(near_end, 1, &body[..64]),
            "shifted bytes are detected"
        );
        let mut empty = Vec::new();
        content_slices(0, 0, &mut empty);
        assert!(empty.is_empty());
    }
}
