//! Runs the fuzz targets' bodies on a few thousand random inputs, so the
//! parsers of untrusted input are exercised on stable Rust too (the real
//! fuzz targets in `envvd/core/fuzz/` need nightly). A panic fails the test.

use envv_core::envfile::{EnvFile, EnvName, SecretName};
use envv_core::fuzzing::{fuzz_dotenv_import, fuzz_envfile_parse, fuzz_keyring};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A valid file under the fuzzing key, the seed most mutations start from.
fn seed_file() -> Vec<u8> {
    let ring = fuzz_keyring();
    let mut file = EnvFile::new(ring, EnvName::default_env()).expect("new");
    for (k, v) in [
        ("A", "1"),
        ("B", "two words"),
        ("C", "multi\nline \"quoted\""),
    ] {
        file.set(SecretName::new(k).expect("name"), v.into())
            .expect("set");
    }
    file.seal_for_write(ring).expect("seal").into_bytes()
}

fn mutate(rng: &mut StdRng, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..rng.gen_range(1..4) {
        if data.is_empty() {
            break;
        }
        let i = rng.gen_range(0..data.len());
        match rng.gen_range(0..6) {
            0 => data[i] ^= 1 << rng.gen_range(0..8),
            1 => data[i] = rng.r#gen(),
            2 => data.truncate(i),
            3 => {
                data.remove(i);
            }
            4 => data.insert(
                i,
                *b"=\n .-#\"'\\$".get(rng.gen_range(0..10)).unwrap_or(&b'x'),
            ),
            _ => {
                // Duplicate a slice (lines, header fields) somewhere else.
                let j = rng.gen_range(i..data.len());
                let k = rng.gen_range(0..data.len());
                let chunk = data[i..j].to_vec();
                data.splice(k..k, chunk);
            }
        }
    }
    data
}

fn random_bytes(rng: &mut StdRng, alphabet: &[u8]) -> Vec<u8> {
    let len = rng.gen_range(0..200);
    (0..len)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
        .collect()
}

#[test]
fn fuzzing_key_opens_the_committed_vector() {
    let text = std::fs::read(format!(
        "{}/tests/vectors/default.env.enc",
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned())
    ))
    .expect("vector file");
    let opts = envv_core::envfile::ReadOptions::any_epoch(EnvName::default_env());
    envv_core::envfile::format::decrypt(&text, fuzz_keyring(), &opts)
        .expect("fuzz key is the vector key");
}

#[test]
fn envfile_parse_target_never_panics() {
    let mut rng = StdRng::seed_from_u64(0x656e_7676);
    let seed = seed_file();
    fuzz_envfile_parse(&seed);
    let all: Vec<u8> = (0..=255).collect();
    for i in 0..3000 {
        let input = if i % 4 == 0 {
            random_bytes(&mut rng, &all)
        } else {
            mutate(&mut rng, &seed)
        };
        fuzz_envfile_parse(&input);
    }
}

#[test]
fn dotenv_import_target_never_panics() {
    let mut rng = StdRng::seed_from_u64(0x646f_7465);
    let alphabet = b"AB_x1 =\n\r\t#'\"\\$`{}export.\xc3\xa9";
    let seed = b"export A=1\nB='x y'\nC=\"a\\nb $A ${A}\"\n# c\nD=v # t\n".to_vec();
    for i in 0..3000 {
        let input = if i % 2 == 0 {
            random_bytes(&mut rng, alphabet)
        } else {
            mutate(&mut rng, &seed)
        };
        fuzz_dotenv_import(&input);
    }
}
