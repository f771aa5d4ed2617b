//! `cargo +nightly fuzz run envfile_parse`: untrusted `.env.enc` bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    envv_core::fuzzing::fuzz_envfile_parse(data);
});
