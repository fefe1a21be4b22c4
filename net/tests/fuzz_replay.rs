//! The fuzz targets of `net/fuzz` on the stable toolchain, in every `cargo test`: each body in
//! `net::fuzzing` runs over
//!
//! * the checked-in seeds in `fuzz/seeds/<target>/`, and whatever a local libFuzzer run left in
//!   `fuzz/corpus/<target>/` and `fuzz/artifacts/<target>/` (both ignored by git), and
//! * [`MUTATIONS_PER_TARGET`] inputs derived from those with a fixed-seed PRNG (bit flips, byte
//!   changes, insertions, deletions, repeats, splices, truncations, tokens of the formats, plain
//!   random bytes), so every run executes the same inputs.
//!
//! A panic fails the test; the input is printed in hex and written to
//! `target/tmp/fuzz-replay/<target>-<n>` (add it to the seeds once fixed, or reproduce it with
//! `cargo +nightly fuzz run <target> <file>`).
//!
//! The aws-chunked seeds carry valid chunk signatures for the context of
//! `net::fuzzing::aws_chunked`; `cargo test -p net --test fuzz_replay -- --ignored` rewrites
//! them.

use net::s3::checksum::{ChecksumAlgorithm, ChecksumHasher};
use net::s3::sigv4::{PayloadHash, SigningContext, StreamingPayload};
use sha2::{Digest, Sha256};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// Generated inputs per target, besides the seeds and the corpus.
const MUTATIONS_PER_TARGET: usize = 4000;
/// Upper bound on the length of a generated input.
const INPUT_BYTES_MAX: usize = 4096;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `dir` (sorted by name; none if it does not exist).
fn files_in(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect()
}

/// SplitMix64: small, fast, and the same sequence on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

/// Bytes the parsers branch on.
const INTERESTING_BYTES: &[u8] = b"\0\r\n\t :;=&%+/?#<>\"'-.0179afAFxX\x7f\x80\xc3\xff";

/// Fragments of the formats under test (HTTP heads, chunked framing, SigV4, S3 XML).
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\r\n\r\n",
    b"HTTP/1.1",
    b"Content-Length: ",
    b"Transfer-Encoding: chunked",
    b"Connection: close",
    b"Expect: 100-continue",
    b"0\r\n\r\n",
    b"ffffffff",
    b";chunk-signature=",
    b"x-amz-checksum-crc32:",
    b"x-amz-trailer-signature:",
    b"AWS4-HMAC-SHA256 ",
    b"Credential=",
    b"SignedHeaders=",
    b"Signature=",
    b"X-Amz-Expires=",
    b"20130524T000000Z",
    b"UNSIGNED-PAYLOAD",
    b"%2F",
    b"%zz",
    b"<Part>",
    b"</Part>",
    b"<PartNumber>",
    b"<Object><Key>",
    b"</Key></Object>",
    b"<Quiet>true</Quiet>",
    b"&amp;",
    b"&#x0;",
    b"<![CDATA[",
    b"<!DOCTYPE",
];

/// One input derived from `pool`: a random pick mutated one to four times, or random bytes.
fn generate(rng: &mut Rng, pool: &[Vec<u8>]) -> Vec<u8> {
    if pool.is_empty() || rng.below(8) == 0 {
        let len = rng.below(256);
        return (0..len).map(|_| rng.byte()).collect();
    }
    let mut v = pool[rng.below(pool.len())].clone();
    for _ in 0..=rng.below(4) {
        mutate(rng, &mut v, pool);
    }
    v.truncate(INPUT_BYTES_MAX);
    v
}

fn mutate(rng: &mut Rng, v: &mut Vec<u8>, pool: &[Vec<u8>]) {
    let at = |rng: &mut Rng, v: &Vec<u8>| rng.below(v.len() + 1);
    match rng.below(9) {
        0 if !v.is_empty() => {
            let i = rng.below(v.len());
            v[i] ^= 1 << rng.below(8);
        }
        1 if !v.is_empty() => {
            let i = rng.below(v.len());
            v[i] = if rng.below(2) == 0 {
                INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())]
            } else {
                rng.byte()
            };
        }
        2 => {
            let i = at(rng, v);
            let bytes: Vec<u8> = (0..=rng.below(8)).map(|_| rng.byte()).collect();
            v.splice(i..i, bytes);
        }
        3 if !v.is_empty() => {
            let start = rng.below(v.len());
            let end = (start + 1 + rng.below(16)).min(v.len());
            v.drain(start..end);
        }
        4 if !v.is_empty() => {
            // Repeat a range a few times (long lines, many headers, many chunks).
            let start = rng.below(v.len());
            let end = (start + 1 + rng.below(32)).min(v.len());
            let piece = v[start..end].to_vec();
            for _ in 0..=rng.below(8) {
                v.splice(end..end, piece.iter().copied());
            }
        }
        5 => {
            // Splice: this input's head, another one's tail.
            let other = &pool[rng.below(pool.len())];
            let cut = at(rng, v);
            let from = rng.below(other.len() + 1);
            v.truncate(cut);
            v.extend_from_slice(&other[from..]);
        }
        6 => {
            let cut = at(rng, v);
            v.truncate(cut);
        }
        _ => {
            let i = at(rng, v);
            let token = TOKENS[rng.below(TOKENS.len())];
            v.splice(i..i, token.iter().copied());
        }
    }
}

/// Run `body` on `input`; on a panic print the input and keep it in `target/tmp`, then fail.
fn run_one(target: &str, n: usize, body: fn(&[u8]), input: &[u8]) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| body(input))) {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-replay");
        let file = dir.join(format!("{target}-{n}"));
        let saved = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&file, input));
        eprintln!(
            "fuzz target {target} panicked on input #{n} ({} bytes, {}): {}",
            input.len(),
            match saved {
                Ok(()) => format!("saved to {}", file.display()),
                Err(e) => format!("not saved: {e}"),
            },
            net::hex::encode(input)
        );
        resume_unwind(panic);
    }
}

/// Replay `target`: seeds, corpus and artifacts, then the generated inputs.
fn replay(target: &str, extra_pool: Vec<Vec<u8>>) {
    let body = net::fuzzing::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no fuzz target {target} in net::fuzzing::TARGETS"))
        .1;
    let seeds = files_in(&fuzz_dir().join("seeds").join(target));
    assert!(
        seeds.len() >= 3,
        "fuzz/seeds/{target}/ should hold a handful of seeds, has {}",
        seeds.len()
    );
    let mut pool = seeds;
    pool.extend(files_in(&fuzz_dir().join("corpus").join(target)));
    pool.extend(files_in(&fuzz_dir().join("artifacts").join(target)));
    pool.extend(extra_pool);
    pool.push(Vec::new());
    for (n, input) in pool.iter().enumerate() {
        run_one(target, n, body, input);
    }
    // A fixed seed per target: the same inputs on every run and machine.
    let mut rng = Rng(target.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }));
    for n in 0..MUTATIONS_PER_TARGET {
        let input = generate(&mut rng, &pool);
        run_one(target, pool.len() + n, body, &input);
    }
}

#[test]
fn request_head() {
    replay("request_head", Vec::new());
}

#[test]
fn chunked() {
    replay("chunked", Vec::new());
}

#[test]
fn aws_chunked() {
    replay("aws_chunked", valid_aws_chunked_bodies());
}

#[test]
fn s3_xml() {
    replay("s3_xml", Vec::new());
}

#[test]
fn sigv4() {
    replay("sigv4", Vec::new());
}

/// Every fuzz target of `net/fuzz/Cargo.toml` is replayed here, and each one is the one-line
/// call of its body in `net::fuzzing`.
#[test]
fn every_fuzz_target_is_replayed() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz manifest");
    let mut bins: Vec<&str> = manifest
        .split("[[bin]]")
        .skip(1)
        .filter_map(|section| {
            let line = section
                .lines()
                .find(|l| l.trim_start().starts_with("name"))?;
            line.split('"').nth(1)
        })
        .collect();
    bins.sort_unstable();
    let mut known: Vec<&str> = net::fuzzing::TARGETS.iter().map(|(n, _)| *n).collect();
    known.sort_unstable();
    assert_eq!(
        bins, known,
        "fuzz targets in net/fuzz/Cargo.toml vs net::fuzzing::TARGETS"
    );
    for name in known {
        let path = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        let source = std::fs::read_to_string(&path).expect("fuzz target source");
        assert!(
            source.contains(&format!("net::fuzzing::{name}(data)")),
            "{} does not call net::fuzzing::{name}",
            path.display()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Valid aws-chunked bodies (structure-aware starting points)
// ---------------------------------------------------------------------------------------------

/// The context `net::fuzzing::aws_chunked` verifies with.
fn fuzz_context(mode: StreamingPayload) -> SigningContext {
    SigningContext::new(
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AKIAIOSFODNN7EXAMPLE",
        "20130524T000000Z",
        "us-east-1",
        [0x42; 32],
        PayloadHash::Streaming(mode),
    )
}

/// A fuzz input (control byte, then the body) whose body is a valid aws-chunked encoding of
/// `payload` in chunks of `chunk` bytes, signed for [`fuzz_context`] when the variant signs,
/// with the trailer checksum that the control byte announces.
fn aws_chunked_input(control: u8, payload: &[u8], chunk: usize) -> Vec<u8> {
    let mode = match control & 0b11 {
        0 => StreamingPayload::Signed,
        1 => StreamingPayload::SignedTrailer,
        _ => StreamingPayload::UnsignedTrailer,
    };
    let checksum = if mode.has_trailer() {
        ChecksumAlgorithm::ALL
            .get(usize::from((control >> 2) & 0b111))
            .copied()
    } else {
        None
    };
    let ctx = fuzz_context(mode);
    let mut body = vec![control];
    let mut previous = ctx.seed_signature;
    let mut pieces: Vec<&[u8]> = payload.chunks(chunk.max(1)).collect();
    pieces.push(&[]);
    for piece in pieces {
        body.extend_from_slice(format!("{:x}", piece.len()).as_bytes());
        if mode.chunks_signed() {
            previous = ctx.chunk_signature(&previous, &Sha256::digest(piece).into());
            body.extend_from_slice(b";chunk-signature=");
            body.extend_from_slice(net::hex::encode(&previous).as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(piece);
        if !piece.is_empty() {
            body.extend_from_slice(b"\r\n");
        }
    }
    if let Some(alg) = checksum {
        let mut h = ChecksumHasher::new(alg);
        h.update(payload);
        let line = format!("{}:{}\n", alg.header_name(), h.finish_base64());
        body.extend_from_slice(line.replace('\n', "\r\n").as_bytes());
        if mode == StreamingPayload::SignedTrailer {
            let sig = ctx.trailer_signature(&previous, line.as_bytes());
            body.extend_from_slice(b"x-amz-trailer-signature:");
            body.extend_from_slice(net::hex::encode(&sig).as_bytes());
            body.extend_from_slice(b"\r\n");
        }
    }
    body.extend_from_slice(b"\r\n");
    body
}

/// The valid bodies: each variant, each trailer checksum, a few chunkings and output sizes.
fn valid_aws_chunked_cases() -> Vec<(String, Vec<u8>)> {
    let payload: Vec<u8> = (0u8..=99).collect();
    let mut out = Vec::new();
    // Control byte: variant (0 signed, 1 signed trailer, 2 unsigned trailer), trailer checksum
    // (index into ChecksumAlgorithm::ALL, 5..=7 none), output buffer size - 1 (0..=7).
    let control = |variant: u8, checksum: u8, out: u8| variant | checksum << 2 | out << 5;
    for (control, chunk, what) in [
        (control(0, 0, 0), 64, "signed"),
        (control(0, 0, 7), 7, "signed-small-chunks"),
        (control(1, 0, 0), 64, "signed-trailer-crc32"),
        (control(1, 1, 2), 33, "signed-trailer-crc32c"),
        (control(1, 2, 1), 100, "signed-trailer-crc64nvme"),
        (control(2, 3, 0), 50, "unsigned-trailer-sha1"),
        (control(3, 4, 5), 9, "unsigned-trailer-sha256"),
        (control(2, 7, 0), 64, "unsigned-no-trailer"),
    ] {
        out.push((what.to_owned(), aws_chunked_input(control, &payload, chunk)));
    }
    out.push(("signed-empty".to_owned(), aws_chunked_input(0, &[], 1)));
    out
}

fn valid_aws_chunked_bodies() -> Vec<Vec<u8>> {
    valid_aws_chunked_cases()
        .into_iter()
        .map(|(_, b)| b)
        .collect()
}

/// The generator above is right: its bodies decode to the payload.
#[test]
fn valid_aws_chunked_bodies_decode() {
    use net::s3::chunked::AwsChunkedDecoder;
    for (what, input) in valid_aws_chunked_cases() {
        let (&control, body) = input.split_first().expect("control byte");
        let mode = match control & 0b11 {
            0 => StreamingPayload::Signed,
            1 => StreamingPayload::SignedTrailer,
            _ => StreamingPayload::UnsignedTrailer,
        };
        let trailer = mode
            .has_trailer()
            .then(|| ChecksumAlgorithm::ALL.get(usize::from((control >> 2) & 0b111)))
            .flatten()
            .map(|alg| alg.header_name());
        let ctx = fuzz_context(mode);
        let mut decoder = AwsChunkedDecoder::new(mode, Some(&ctx), trailer, None).unwrap();
        let mut out = vec![0u8; 4096];
        let p = decoder
            .decode(body, &mut out)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(p.done, "{what}");
        assert_eq!(p.consumed, body.len(), "{what}");
        let expected = if what == "signed-empty" { 0 } else { 100 };
        assert_eq!(p.written, expected, "{what}");
        decoder.finish().unwrap_or_else(|e| panic!("{what}: {e}"));
    }
}

/// Rewrite the aws-chunked seeds (`--ignored`): the valid bodies plus a few broken ones.
#[test]
#[ignore = "writes fuzz/seeds/aws_chunked/"]
fn write_aws_chunked_seeds() {
    let dir = fuzz_dir().join("seeds").join("aws_chunked");
    std::fs::create_dir_all(&dir).unwrap();
    let mut seeds = valid_aws_chunked_cases();
    let good = aws_chunked_input(0, b"hello world", 5);
    let mut bad_sig = good.clone();
    let i = bad_sig
        .windows(16)
        .position(|w| w == b"chunk-signature=")
        .unwrap()
        + 16;
    bad_sig[i] ^= 1;
    seeds.push(("signed-bad-signature".to_owned(), bad_sig));
    seeds.push((
        "unsigned-with-signature".to_owned(),
        [&[0b10u8][..], &good[1..]].concat(),
    ));
    seeds.push((
        "unsigned-trailer-bad-checksum".to_owned(),
        b"\x02b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n".to_vec(),
    ));
    for (name, bytes) in seeds {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}
