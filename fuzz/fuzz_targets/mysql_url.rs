//! Fuzzes `conformance::fuzz_checks::mysql_url` (see that function for the properties).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| conformance::fuzz_checks::mysql_url(data));
