//! `cargo +nightly fuzz run dotenv_import`: untrusted dotenv input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    envvd::fuzzing::fuzz_dotenv_import(data);
});
