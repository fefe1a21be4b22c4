//! Fuzz target `sigv4`: the body is [`net::fuzzing::sigv4`] (what it checks, how the
//! input is laid out), which `net/tests/fuzz_replay.rs` also runs on stable over
//! `fuzz/seeds/sigv4/`, any local `fuzz/corpus/sigv4/` and seeded mutations.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| net::fuzzing::sigv4(data));
