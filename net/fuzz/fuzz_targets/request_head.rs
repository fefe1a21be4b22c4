//! Fuzz target `request_head`: the body is [`net::fuzzing::request_head`] (what it checks, how the
//! input is laid out), which `net/tests/fuzz_replay.rs` also runs on stable over
//! `fuzz/seeds/request_head/`, any local `fuzz/corpus/request_head/` and seeded mutations.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| net::fuzzing::request_head(data));
