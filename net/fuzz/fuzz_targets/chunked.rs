//! Fuzz target `chunked`: the body is [`net::fuzzing::chunked`] (what it checks, how the
//! input is laid out), which `net/tests/fuzz_replay.rs` also runs on stable over
//! `fuzz/seeds/chunked/`, any local `fuzz/corpus/chunked/` and seeded mutations.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| net::fuzzing::chunked(data));
