//! `cargo +nightly fuzz run dotenv_import`: untrusted dotenv input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    envv_core::fuzzing::fuzz_dotenv_import(data);
});
