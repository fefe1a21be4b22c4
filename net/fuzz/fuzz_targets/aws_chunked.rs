//! Fuzz `AwsChunkedDecoder` (`net::s3::chunked`) on arbitrary bytes fed in arbitrary splits with
//! a small output buffer, in every streaming variant, with signature verification on. It must
//! never panic, every call must make progress (consume, write, or report done), and the outcome
//! (payload, bytes consumed, done, or the error code) must not depend on how the input was
//! split.
//!
//! Input layout: byte 0 picks the variant (bits 0-1), the announced trailer checksum (bits 2-4),
//! the output buffer size and the split seed; the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use net::s3::checksum::ChecksumAlgorithm;
use net::s3::chunked::AwsChunkedDecoder;
use net::s3::sigv4::{PayloadHash, SigningContext, StreamingPayload};
use net::s3::S3ErrorCode;

/// Payload, input bytes consumed and done, or the error code.
type Outcome = Result<(Vec<u8>, usize, bool), S3ErrorCode>;

fn decode(
    make: &dyn Fn() -> AwsChunkedDecoder,
    input: &[u8],
    mut next_piece_len: impl FnMut() -> usize,
    out_len: usize,
) -> Outcome {
    let mut decoder = make();
    let mut out = vec![0u8; out_len];
    let mut payload = Vec::new();
    let mut offset = 0;
    while offset < input.len() && !decoder.is_done() {
        let piece_end = offset.saturating_add(next_piece_len()).min(input.len());
        let mut piece = &input[offset..piece_end];
        while !piece.is_empty() && !decoder.is_done() {
            let progress = decoder.decode(piece, &mut out).map_err(|err| err.code)?;
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
    assert_eq!(decoder.decoded_bytes(), payload.len() as u64);
    assert_eq!(decoder.finish().is_ok(), decoder.is_done());
    Ok((payload, offset, decoder.is_done()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, body)) = data.split_first() else {
        return;
    };
    let mode = match control & 0b11 {
        0 => StreamingPayload::Signed,
        1 => StreamingPayload::SignedTrailer,
        _ => StreamingPayload::UnsignedTrailer,
    };
    let trailer = if mode.has_trailer() {
        ChecksumAlgorithm::ALL
            .get(usize::from((control >> 2) & 0b111))
            .map(|alg| alg.header_name())
    } else {
        None
    };
    let ctx = SigningContext::new(
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AKIAIOSFODNN7EXAMPLE",
        "20130524T000000Z",
        "us-east-1",
        [0x42; 32],
        PayloadHash::Streaming(mode),
    );
    let make = || {
        AwsChunkedDecoder::new(mode, Some(&ctx), trailer, None)
            .expect("valid variant and trailer combination")
    };
    let out_len = usize::from(control >> 5) + 1;
    // xorshift32 for split sizes in 1..=32; the seed must be non-zero.
    let mut state = u32::from(control) | 0x100;
    let next_split = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 32) as usize + 1
    };
    let whole = body.len().max(1);
    let reference = decode(&make, body, || whole, whole);
    let split = decode(&make, body, next_split, out_len);
    assert_eq!(reference, split, "outcome depends on input splitting");
});
