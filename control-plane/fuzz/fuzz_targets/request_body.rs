//! `cargo +nightly fuzz run request_body`: untrusted request bodies, through
//! the whole router, on every documented operation that takes one.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = control_plane::fuzzing::Harness::get().run(data);
});
