//! Fuzz `ChunkedDecoder` on arbitrary bytes fed in arbitrary splits with a small output buffer.
//! It must never panic, every call must make progress (consume, write, or report done), and the
//! outcome (payload, bytes consumed, done / error) must not depend on how the input was split.
//!
//! Input layout: byte 0 seeds the split sizes and the output buffer size; the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use net::http::ChunkedDecoder;

/// Payload, input bytes consumed, done; `None` on a framing error.
type Outcome = Option<(Vec<u8>, usize, bool)>;

fn decode(input: &[u8], mut next_piece_len: impl FnMut() -> usize, out_len: usize) -> Outcome {
    let mut decoder = ChunkedDecoder::new();
    let mut out = vec![0u8; out_len];
    let mut payload = Vec::new();
    let mut offset = 0;
    while offset < input.len() && !decoder.is_done() {
        let piece_end = offset.saturating_add(next_piece_len()).min(input.len());
        let mut piece = &input[offset..piece_end];
        while !piece.is_empty() && !decoder.is_done() {
            let progress = decoder.decode(piece, &mut out).ok()?;
            assert!(progress.consumed <= piece.len(), "consumed past the input");
            assert!(progress.written <= out.len(), "wrote past the output");
            assert!(
                progress.consumed > 0 || progress.written > 0 || progress.done,
                "no progress with {} input bytes and {} output bytes",
                piece.len(),
                out.len()
            );
            assert_eq!(progress.done, decoder.is_done());
            payload.extend_from_slice(&out[..progress.written]);
            piece = &piece[progress.consumed..];
            offset += progress.consumed;
        }
    }
    Some((payload, offset, decoder.is_done()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, body)) = data.split_first() else {
        return;
    };
    let out_len = usize::from(control & 0x0f) + 1;
    // xorshift32 for split sizes in 1..=32; the seed must be non-zero.
    let mut state = u32::from(control) | 0x100;
    let next_split = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 32) as usize + 1
    };
    let whole = body.len().max(1);
    let reference = decode(body, || whole, whole);
    let split = decode(body, next_split, out_len);
    assert_eq!(reference, split, "outcome depends on input splitting");
});
