//! Opening and editing `.env.enc` files of realistic and large sizes.
//!
//! Run: `cargo bench -p envvd --bench envfile -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use envvd::crypto::{EpochIdentity, TeamKeyring};
use envvd::envfile::format::decrypt;
use envvd::envfile::{EnvFile, EnvName, ReadOptions, SecretName, edit};
use uuid::Uuid;

fn file_with(ring: &TeamKeyring, n: usize) -> String {
    let mut file = EnvFile::new(ring, EnvName::default_env()).expect("new");
    for i in 0..n {
        let name = SecretName::new(&format!("SECRET_{i:05}")).expect("name");
        file.set(
            name,
            format!("value-{i}-0123456789abcdef0123456789abcdef").into(),
        )
        .expect("set");
    }
    file.seal_for_write(ring).expect("seal")
}

fn open_and_decrypt(c: &mut Criterion) {
    let ring = TeamKeyring::new(EpochIdentity::generate(Uuid::new_v4(), 1));
    let opts = ReadOptions::current(EnvName::default_env(), &ring);
    let mut group = c.benchmark_group("open_and_decrypt");
    for n in [100, 1_000, 10_000] {
        let text = file_with(&ring, n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, text| {
            b.iter(|| decrypt(black_box(text.as_bytes()), &ring, &opts).expect("decrypt"));
        });
    }
    group.finish();
}

fn set_one_value(c: &mut Criterion) {
    let ring = TeamKeyring::new(EpochIdentity::generate(Uuid::new_v4(), 1));
    let dir = tempfile::tempdir().expect("tempdir");
    let env = EnvName::default_env();
    let path = edit::env_path(dir.path(), &env);
    edit::atomic_write(&path, file_with(&ring, 1_000).as_bytes()).expect("seed");
    let name = SecretName::new("SECRET_00500").expect("name");
    let mut i = 0u64;
    // Includes lock, read, verify, re-seal of one value, write, fsync, rename.
    c.bench_function("set_one_value_in_1000_on_disk", |b| {
        b.iter(|| {
            i += 1;
            edit::set(&path, &env, &ring, name.clone(), i.to_string().into()).expect("set");
        });
    });
    // The same without the disk: decrypt, set, encode.
    let text = file_with(&ring, 1_000);
    let opts = ReadOptions::any_epoch(env.clone());
    c.bench_function("set_one_value_in_1000_in_memory", |b| {
        b.iter(|| {
            let mut file = decrypt(text.as_bytes(), &ring, &opts).expect("decrypt");
            file.set(name.clone(), "new".into()).expect("set");
            black_box(file.seal_for_write(&ring).expect("seal"));
        });
    });
}

criterion_group!(benches, open_and_decrypt, set_one_value);
criterion_main!(benches);
