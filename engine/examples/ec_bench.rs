//! Throughput of the EC codec on one core (this process runs one thread): `engine::ec`'s
//! streaming [`Encoder`] and [`Decoder`] against reed-solomon-simd's plain `encode` and
//! `decode` on the same shards (1 MiB chunks, full stripes), so the ratio is the cost of our
//! streaming, stripe assembly and padding checks over the library's own.
//!
//! Run: `cargo run -p engine --release --example ec_bench`. Each measurement is repeated
//! [`RUNS`] times, interleaved (the machine is shared), and reported as the median with the
//! min..max spread, in GiB/s of object bytes. Decoding loses P data slices (the worst case:
//! every one of them is restored through Reed-Solomon).

use engine::ec::{self, Decoder, EcConf, Encoder};
use std::error::Error;
use std::hint::black_box;
use std::time::Instant;

/// Object bytes coded per measurement.
const OBJ_BYTES: usize = 64 << 20;
/// Repetitions of each measurement.
const RUNS: usize = 7;
/// Piece size given to the encoder, like a network receive buffer.
const PIECE_BYTES: usize = 256 << 10;

type Res<T> = Result<T, Box<dyn Error>>;

fn main() -> Res<()> {
    println!(
        "ec_bench: {} MiB object, {RUNS} runs each, 1 thread, chunk {} KiB; cpu: {}; kernel {}; {}",
        OBJ_BYTES >> 20,
        ec::CHUNK_BYTES_MAX >> 10,
        cpu_model(),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim(),
        simd()
    );
    let obj = pseudo_random(OBJ_BYTES);
    println!(
        "{:<5} {:<16} {:>24} {:>24} {:>9}",
        "D+P", "operation", "ours GiB/s (min..max)", "raw GiB/s (min..max)", "ours/raw"
    );
    for (data, parity) in [(4, 2), (2, 1)] {
        let conf = EcConf { data, parity };
        let slices = encode_all(conf, &obj)?;
        let present: Vec<usize> = (parity..conf.slices()).collect();
        // The decoders must give back the object, or the numbers mean nothing.
        check_decode(conf, &obj, &slices, &present)?;

        // Seconds per run of: encode (feed), encode (push), raw encode, decode, raw decode.
        let mut t: [Vec<f64>; 5] = Default::default();
        for _ in 0..RUNS {
            t[0].push(time(|| ours_encode_feed(conf, &obj))?);
            t[1].push(time(|| ours_encode_push(conf, &obj))?);
            t[2].push(time(|| raw_encode(conf, &obj))?);
            t[3].push(time(|| ours_decode(conf, &slices, &present))?);
            t[4].push(time(|| raw_decode(conf, &slices, &present))?);
        }
        let name = format!("{data}+{parity}");
        row(&name, "encode (feed)", &t[0], &t[2]);
        row(&name, "encode (push)", &t[1], &t[2]);
        row(&name, "decode, P lost", &t[3], &t[4]);
    }
    Ok(())
}

/// Seconds one call of `f` takes.
fn time(f: impl FnOnce() -> Res<()>) -> Res<f64> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed().as_secs_f64())
}

/// Prints one table row: median and spread of both, and the ratio of the medians.
fn row(conf: &str, op: &str, ours: &[f64], raw: &[f64]) {
    let gib = |secs: f64| OBJ_BYTES as f64 / secs / f64::from(1u32 << 30);
    let stats = |t: &[f64]| {
        let mut t = t.to_vec();
        t.sort_by(f64::total_cmp);
        (gib(t[t.len() / 2]), gib(t[t.len() - 1]), gib(t[0]))
    };
    let (o, o_min, o_max) = stats(ours);
    let (r, r_min, r_max) = stats(raw);
    println!(
        "{conf:<5} {op:<16} {:>24} {:>24} {:>9.2}",
        format!("{o:.2} ({o_min:.2}..{o_max:.2})"),
        format!("{r:.2} ({r_min:.2}..{r_max:.2})"),
        o / r
    );
}

fn ours_encode_feed(conf: EcConf, obj: &[u8]) -> Res<()> {
    let mut enc = Encoder::new(conf, obj.len() as u64)?;
    for piece in obj.chunks(PIECE_BYTES) {
        let mut rest = piece;
        while let Some(stripe) = enc.feed(&mut rest)? {
            for c in stripe.chunks() {
                black_box(c);
            }
        }
    }
    enc.finish()?;
    Ok(())
}

fn ours_encode_push(conf: EcConf, obj: &[u8]) -> Res<()> {
    let mut enc = Encoder::new(conf, obj.len() as u64)?;
    for piece in obj.chunks(PIECE_BYTES) {
        black_box(enc.push(piece)?);
    }
    enc.finish()?;
    Ok(())
}

/// The library's one-call encode on each stripe's D chunks, straight from the object.
fn raw_encode(conf: EcConf, obj: &[u8]) -> Res<()> {
    for s in ec::stripes(obj.len() as u64, conf.data) {
        let at = usize::try_from(s.obj_offset)?;
        let shards = obj[at..at + conf.data * s.chunk].chunks_exact(s.chunk);
        black_box(reed_solomon_simd::encode(conf.data, conf.parity, shards)?);
    }
    Ok(())
}

fn ours_decode(conf: EcConf, slices: &[Vec<u8>], present: &[usize]) -> Res<()> {
    let mut dec = Decoder::new(conf, object_size(slices, conf), present)?;
    let mut chunks = Vec::with_capacity(present.len());
    while let Some(s) = dec.stripe() {
        let at = usize::try_from(s.slice_offset())?;
        chunks.clear();
        chunks.extend(present.iter().map(|&i| (i, &slices[i][at..at + s.chunk])));
        black_box(dec.decode_stripe(&chunks)?.object);
    }
    Ok(())
}

/// The library's one-call decode on each stripe's present chunks.
fn raw_decode(conf: EcConf, slices: &[Vec<u8>], present: &[usize]) -> Res<()> {
    for s in ec::stripes(object_size(slices, conf), conf.data) {
        let at = usize::try_from(s.slice_offset())?;
        let chunk = |i: usize| &slices[i][at..at + s.chunk];
        let data = present.iter().filter(|&&i| i < conf.data);
        let parity = present.iter().filter(|&&i| i >= conf.data);
        black_box(reed_solomon_simd::decode(
            conf.data,
            conf.parity,
            data.map(|&i| (i, chunk(i))),
            parity.map(|&i| (i - conf.data, chunk(i))),
        )?);
    }
    Ok(())
}

/// The benchmark's objects are whole stripes, so the object size follows from the slices.
fn object_size(slices: &[Vec<u8>], conf: EcConf) -> u64 {
    (slices[0].len() * conf.data) as u64
}

fn encode_all(conf: EcConf, obj: &[u8]) -> Res<Vec<Vec<u8>>> {
    let mut enc = Encoder::new(conf, obj.len() as u64)?;
    let mut slices = vec![Vec::new(); conf.slices()];
    let mut rest = obj;
    while let Some(stripe) = enc.feed(&mut rest)? {
        for (slice, c) in slices.iter_mut().zip(stripe.chunks()) {
            slice.extend_from_slice(c);
        }
    }
    enc.finish()?;
    assert_eq!(
        object_size(&slices, conf),
        obj.len() as u64,
        "whole stripes"
    );
    Ok(slices)
}

fn check_decode(conf: EcConf, obj: &[u8], slices: &[Vec<u8>], present: &[usize]) -> Res<()> {
    let mut dec = Decoder::new(conf, obj.len() as u64, present)?;
    let mut got = Vec::with_capacity(obj.len());
    while let Some(s) = dec.stripe() {
        let at = usize::try_from(s.slice_offset())?;
        let chunks: Vec<(usize, &[u8])> = present
            .iter()
            .map(|&i| (i, &slices[i][at..at + s.chunk]))
            .collect();
        got.extend_from_slice(dec.decode_stripe(&chunks)?.object);
    }
    if got != obj {
        return Err("decoded object differs from the original".into());
    }
    Ok(())
}

/// Deterministic incompressible bytes (SplitMix64).
fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state = 0x0123_4567_89ab_cdefu64;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        v.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    v.truncate(len);
    v
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Which SIMD path reed-solomon-simd can take here (it picks the best at run time).
fn simd() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            return "AVX2";
        }
        if std::arch::is_x86_feature_detected!("ssse3") {
            return "SSSE3";
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        return "NEON";
    }
    #[allow(unreachable_code)]
    "no SIMD"
}
