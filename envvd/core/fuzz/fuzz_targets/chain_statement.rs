//! `cargo +nightly fuzz run chain_statement`: team chain statements from an untrusted server.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    envv_core::fuzzing::fuzz_chain_statement(data);
});
