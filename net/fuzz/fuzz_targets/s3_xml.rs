//! Fuzz target `s3_xml`: the body is [`net::fuzzing::s3_xml`] (what it checks, how the
//! input is laid out), which `net/tests/fuzz_replay.rs` also runs on stable over
//! `fuzz/seeds/s3_xml/`, any local `fuzz/corpus/s3_xml/` and seeded mutations.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| net::fuzzing::s3_xml(data));
