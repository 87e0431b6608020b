//! See tsdb::fuzzing::manifest_file and docs/testing.md ("Fuzzing").
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tsdb::fuzzing::manifest_file(data));
