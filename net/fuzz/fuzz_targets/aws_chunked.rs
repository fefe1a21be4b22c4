//! Fuzz target `aws_chunked`: the body is [`net::fuzzing::aws_chunked`] (what it checks, how the
//! input is laid out), which `net/tests/fuzz_replay.rs` also runs on stable over
//! `fuzz/seeds/aws_chunked/`, any local `fuzz/corpus/aws_chunked/` and seeded mutations.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| net::fuzzing::aws_chunked(data));
