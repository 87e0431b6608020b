//! See tsdb::fuzzing::codec_block and docs/testing.md ("Fuzzing").
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tsdb::fuzzing::codec_block(data));
