//! See tsdb::fuzzing::open_dir and docs/testing.md ("Fuzzing").
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tsdb::fuzzing::open_dir(data));
