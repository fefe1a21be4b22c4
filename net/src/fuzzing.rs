//! The bodies of the fuzz targets in `net/fuzz` (cargo-fuzz, nightly), one function each, so the
//! thin targets there and the stable replay test (`tests/fuzz_replay.rs`: every body over the
//! checked-in seeds, any local corpus and a few thousand seeded mutations, on every
//! `cargo test`) run the same checks. Each function takes arbitrary bytes and panics only if an
//! invariant of the code under test is broken.
//!
//! Not part of the server's API: only the fuzz harness and its test call these.

use crate::http::{parse_request_head, ChunkedDecoder, HEADER_BYTES_MAX};
use crate::s3::checksum::ChecksumAlgorithm;
use crate::s3::chunked::AwsChunkedDecoder;
use crate::s3::sigv4::{
    canonical_request, parse_auth, verify, AuthKind, PayloadHash, RequestParts, SigningContext,
    StreamingPayload, EMPTY_SHA256_HEX,
};
use crate::s3::xml::{
    escape_xml, parse_complete_multipart, parse_create_bucket_configuration, parse_delete_objects,
    parse_error_response, parse_list_all_my_buckets_result, parse_list_objects_v2_result,
    parse_versioning_configuration, DELETE_OBJECTS_KEYS_MAX, PART_NUMBER_MAX,
};
use crate::s3::S3ErrorCode;

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// The fuzz targets by name, as `net/fuzz/Cargo.toml` names them.
pub const TARGETS: [(&str, Target); 5] = [
    ("request_head", request_head),
    ("chunked", chunked),
    ("aws_chunked", aws_chunked),
    ("s3_xml", s3_xml),
    ("sigv4", sigv4),
];

// ---------------------------------------------------------------------------------------------
// request_head
// ---------------------------------------------------------------------------------------------

/// `parse_request_head` on arbitrary bytes: it must never panic, a complete head must fit in the
/// input and in `HEADER_BYTES_MAX`, "need more" is only allowed within the limit, and the head
/// alone (`data[..consumed]`) must parse to the same result.
pub fn request_head(data: &[u8]) {
    match parse_request_head(data) {
        Ok(Some((head, consumed))) => {
            assert!(
                consumed <= data.len(),
                "consumed {consumed} > len {}",
                data.len()
            );
            assert!(
                consumed <= HEADER_BYTES_MAX,
                "consumed {consumed} > HEADER_BYTES_MAX"
            );
            assert!(head.minor_version <= 1);
            match parse_request_head(&data[..consumed]) {
                Ok(Some((again, consumed_again))) => {
                    assert_eq!(consumed_again, consumed);
                    assert_eq!(again.headers, head.headers);
                    assert_eq!(again.body, head.body);
                }
                other => panic!("head alone did not reparse: {other:?}"),
            }
        }
        Ok(None) => assert!(data.len() <= HEADER_BYTES_MAX, "Ok(None) past the limit"),
        Err(_) => {}
    }
}

// ---------------------------------------------------------------------------------------------
// chunked and aws_chunked: outcome independent of how the input is split
// ---------------------------------------------------------------------------------------------

/// Split sizes in 1..=32 from an xorshift32 seeded by the control byte (never zero).
fn xorshift_splits(control: u8) -> impl FnMut() -> usize {
    let mut state = u32::from(control) | 0x100;
    move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 32) as usize + 1
    }
}

/// Progress of one `decode` call, the same shape for both decoders.
struct Step {
    consumed: usize,
    written: usize,
    done: bool,
}

/// Feed `input` in pieces of `next_piece_len()` bytes to `decode` (one call per step, with an
/// output buffer of `out_len` bytes) until it is done or the input is used up, checking every
/// call's progress. Payload, input bytes consumed and done; `Err` is the decoder's error.
fn feed<E>(
    input: &[u8],
    mut next_piece_len: impl FnMut() -> usize,
    out_len: usize,
    mut decode: impl FnMut(&[u8], &mut [u8]) -> Result<Step, E>,
    is_done: impl Fn() -> bool,
) -> Result<(Vec<u8>, usize, bool), E> {
    let mut out = vec![0u8; out_len];
    let mut payload = Vec::new();
    let mut offset = 0;
    while offset < input.len() && !is_done() {
        let piece_end = offset.saturating_add(next_piece_len()).min(input.len());
        let mut piece = &input[offset..piece_end];
        while !piece.is_empty() && !is_done() {
            let progress = decode(piece, &mut out)?;
            assert!(progress.consumed <= piece.len(), "consumed past the input");
            assert!(progress.written <= out.len(), "wrote past the output");
            assert!(
                progress.consumed > 0 || progress.written > 0 || progress.done,
                "no progress with {} input bytes and {} output bytes",
                piece.len(),
                out.len()
            );
            assert_eq!(progress.done, is_done());
            payload.extend_from_slice(&out[..progress.written]);
            piece = &piece[progress.consumed..];
            offset += progress.consumed;
        }
    }
    Ok((payload, offset, is_done()))
}

/// `ChunkedDecoder` on arbitrary bytes fed in arbitrary splits with a small output buffer. It
/// must never panic, every call must make progress (consume, write, or report done), and the
/// outcome (payload, bytes consumed, done / error) must not depend on how the input was split.
///
/// Input layout: byte 0 seeds the split sizes and the output buffer size; the rest is the body.
pub fn chunked(data: &[u8]) {
    let Some((&control, body)) = data.split_first() else {
        return;
    };
    let run = |next_piece_len: &mut dyn FnMut() -> usize, out_len: usize| {
        let decoder = std::cell::RefCell::new(ChunkedDecoder::new());
        feed(
            body,
            next_piece_len,
            out_len,
            |piece, out| {
                let p = decoder.borrow_mut().decode(piece, out)?;
                Ok::<_, crate::http::HttpError>(Step {
                    consumed: p.consumed,
                    written: p.written,
                    done: p.done,
                })
            },
            || decoder.borrow().is_done(),
        )
        .ok()
    };
    let whole = body.len().max(1);
    let reference = run(&mut || whole, whole);
    let split = run(
        &mut xorshift_splits(control),
        usize::from(control & 0x0f) + 1,
    );
    assert_eq!(reference, split, "outcome depends on input splitting");
}

/// `AwsChunkedDecoder` (`s3::chunked`) on arbitrary bytes fed in arbitrary splits with a small
/// output buffer, in every streaming variant, with signature verification on. It must never
/// panic, every call must make progress (consume, write, or report done), and the outcome
/// (payload, bytes consumed, done, or the error code) must not depend on how the input was
/// split; the decoded byte count and `finish` must agree with what was delivered.
///
/// Input layout: byte 0 picks the variant (bits 0-1), the announced trailer checksum (bits 2-4),
/// the output buffer size and the split seed; the rest is the body.
pub fn aws_chunked(data: &[u8]) {
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
    let run = |next_piece_len: &mut dyn FnMut() -> usize,
               out_len: usize|
     -> Result<(Vec<u8>, usize, bool), S3ErrorCode> {
        let decoder = std::cell::RefCell::new(
            AwsChunkedDecoder::new(mode, Some(&ctx), trailer, None)
                .expect("valid variant and trailer combination"),
        );
        let outcome = feed(
            body,
            next_piece_len,
            out_len,
            |piece, out| {
                let p = decoder
                    .borrow_mut()
                    .decode(piece, out)
                    .map_err(|err| err.code)?;
                Ok(Step {
                    consumed: p.consumed,
                    written: p.written,
                    done: p.done,
                })
            },
            || decoder.borrow().is_done(),
        )?;
        let decoder = decoder.into_inner();
        assert_eq!(decoder.decoded_bytes(), outcome.0.len() as u64);
        assert_eq!(decoder.finish().is_ok(), decoder.is_done());
        Ok(outcome)
    };
    let whole = body.len().max(1);
    let reference = run(&mut || whole, whole);
    let split = run(&mut xorshift_splits(control), usize::from(control >> 5) + 1);
    assert_eq!(reference, split, "outcome depends on input splitting");
}

// ---------------------------------------------------------------------------------------------
// s3_xml
// ---------------------------------------------------------------------------------------------

/// The S3 XML request parsers (`s3::xml`) on arbitrary bytes: they must never panic, their
/// results must respect the documented limits, and what `parse_delete_objects` returns must
/// survive a round trip through `escape_xml` (the escaping used for responses). The response
/// parsers a client uses on what a remote S3 sends (ListObjectsV2, ListBuckets, `<Error>`)
/// must never panic either, and a listing that continues has a token to continue with.
pub fn s3_xml(data: &[u8]) {
    if let Ok(parts) = parse_complete_multipart(data) {
        assert!(!parts.is_empty());
        assert!(
            parts.windows(2).all(|w| w[0].0 < w[1].0),
            "part numbers ascend"
        );
        assert!(parts.iter().all(|(n, _)| (1..=PART_NUMBER_MAX).contains(n)));
    }
    if let Ok((keys, quiet)) = parse_delete_objects(data) {
        assert!(!keys.is_empty() && keys.len() <= DELETE_OBJECTS_KEYS_MAX);
        // Keys with characters XML 1.0 cannot carry (C0 controls other than TAB/LF/CR) came in
        // as character references; they are escaped the same way, so the round trip holds.
        let mut body = String::from("<Delete>");
        for key in &keys {
            body.push_str("<Object><Key>");
            escape_xml(&mut body, key);
            body.push_str("</Key></Object>");
        }
        body.push_str(if quiet { "<Quiet>true</Quiet>" } else { "" });
        body.push_str("</Delete>");
        assert_eq!(parse_delete_objects(body.as_bytes()), Ok((keys, quiet)));
    }
    let _ = parse_create_bucket_configuration(data);
    let _ = parse_versioning_configuration(data);
    if let Ok(page) = parse_list_objects_v2_result(data) {
        assert_eq!(page.is_truncated, !page.next_continuation_token.is_empty());
    }
    let _ = parse_list_all_my_buckets_result(data);
    let _ = parse_error_response(data);
}

// ---------------------------------------------------------------------------------------------
// sigv4
// ---------------------------------------------------------------------------------------------

/// The `Authorization` of the AWS "GET Object" example (2013-05-24, `examplebucket`).
pub const SIGV4_EXAMPLE_AUTHORIZATION: &str = "AWS4-HMAC-SHA256 \
    Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
    SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
    Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

fn sigv4_run(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &[(String, String)],
    now: i64,
) {
    let req = RequestParts {
        method,
        raw_path,
        raw_query,
        headers,
    };
    let auth = match parse_auth(&req) {
        Ok(AuthKind::Header(auth) | AuthKind::Presigned(auth)) => auth,
        Ok(AuthKind::Anonymous) | Err(_) => return,
    };
    let _ = canonical_request(&req, &auth);
    let lookup = |access_key: &str| {
        (!access_key.is_empty()).then(|| "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned())
    };
    if let Ok(ctx) = verify(&req, &auth, lookup, now) {
        assert_eq!(ctx.seed_signature, auth.signature);
        assert_eq!(ctx.access_key, auth.access_key);
    }
}

/// SigV4 parsing and verification (`s3::sigv4`) on arbitrary requests: `parse_auth`,
/// `canonical_request` and `verify` must never panic, whatever the method, path, query, headers
/// and clock; a request that verifies must carry the signature it was verified with.
///
/// Input layout: byte 0 picks the shape, the rest is split on `\n`:
/// * shape even: line 0 method, line 1 raw path, line 2 raw query, then `name:value` headers;
/// * shape odd: the lines replace, in order, the `Authorization` value, the `x-amz-date` value
///   and the raw query of the AWS "GET Object" example, so the fuzzer starts next to valid
///   signatures.
///
/// The clock is 2013-05-24T00:00:00Z shifted by `(shape as i64 - 128) * 600` seconds.
pub fn sigv4(data: &[u8]) {
    let Some((&shape, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut lines = text.split('\n');
    let now = 1_369_353_600 + (i64::from(shape) - 128) * 600;
    if shape % 2 == 0 {
        let method = lines.next().unwrap_or("GET");
        let path = lines.next().unwrap_or("/");
        let query = lines.next().unwrap_or("");
        let headers: Vec<(String, String)> = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap_or((line, ""));
                (name.to_ascii_lowercase(), value.to_owned())
            })
            .collect();
        sigv4_run(method, path, query, &headers, now);
    } else {
        let authorization = lines.next().unwrap_or(SIGV4_EXAMPLE_AUTHORIZATION);
        let amz_date = lines.next().unwrap_or("20130524T000000Z");
        let query = lines.next().unwrap_or("");
        let headers: Vec<(String, String)> = [
            ("host", "examplebucket.s3.amazonaws.com"),
            ("authorization", authorization),
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_SHA256_HEX),
            ("x-amz-date", amz_date),
        ]
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
        sigv4_run("GET", "/test.txt", query, &headers, now);
    }
}
