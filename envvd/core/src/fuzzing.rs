//! Entry points for the fuzz targets in `envvd/core/fuzz/`, kept in the library
//! so an ordinary test can run the same bodies on random input without a
//! nightly toolchain. Each must never panic, whatever the input.

use std::sync::OnceLock;

use uuid::Uuid;

use crate::crypto::{EpochIdentity, TeamKeyring};
use crate::envfile::{EnvName, ReadOptions, dotenv, format};

/// The test vectors' team and epoch-1 key (`tests/vectors/vectors.json`),
/// so the fuzzer can start from a valid file and reach past the header
/// checks. This key is public; never use it for data.
pub const FUZZ_TEAM: &str = "a6ce8746-ae7d-4ab0-8561-e319192058b6";
/// The fixed epoch-1 secret key used by fuzzing and the test vectors.
pub const FUZZ_EPOCH_KEY: &str =
    "AGE-SECRET-KEY-19JWM03F4LRXN00KNH9U09U0LRNAH7S74CHPLUA2A5SUT8Q08S8ZSPQ70FP";

/// The keyring matching [`FUZZ_TEAM`] and [`FUZZ_EPOCH_KEY`].
pub fn fuzz_keyring() -> &'static TeamKeyring {
    static RING: OnceLock<TeamKeyring> = OnceLock::new();
    RING.get_or_init(|| {
        let team = Uuid::parse_str(FUZZ_TEAM).unwrap_or_default();
        match EpochIdentity::from_secret_str(team, 1, FUZZ_EPOCH_KEY) {
            Ok(key) => TeamKeyring::new(key),
            Err(_) => TeamKeyring::new(EpochIdentity::generate(team, 1)),
        }
    })
}

/// Body of the `envfile_parse` target.
pub fn fuzz_envfile_parse(data: &[u8]) {
    let _ = format::unverified_names(data);
    let opts = ReadOptions::any_epoch(EnvName::default_env());
    if let Ok(mut file) = format::decrypt(data, fuzz_keyring(), &opts) {
        // Anything that verifies must re-encode and verify again.
        let _ = file.seal_for_write(fuzz_keyring());
    }
}

/// Body of the `dotenv_import` target: whatever reads must export, in
/// every format, to text that reads back to the same secrets.
pub fn fuzz_dotenv_import(data: &[u8]) {
    let Ok(map) = dotenv::parse_dotenv(data) else {
        return;
    };
    for format in [
        dotenv::ExportFormat::Dotenv,
        dotenv::ExportFormat::Json,
        dotenv::ExportFormat::Shell,
    ] {
        // Shell export refuses names like `a.b`; that is not a finding.
        let Ok(out) = dotenv::export(map.iter(), format) else {
            continue;
        };
        let back = dotenv::parse_dotenv(out.as_bytes());
        assert!(
            back.as_ref().is_ok_and(|back| *back == map),
            "{format:?} export did not read back to the same secrets"
        );
    }
}
