//! Opening and editing `.env.enc` files of realistic and large sizes.
//!
//! Run: `cargo bench -p envv-core --bench envfile -- --warm-up-time 1 --measurement-time 3`
//!
//! Each open benchmark is measured twice: wall time (criterion's default)
//! and this thread's CPU time, which stays meaningful on a shared machine
//! where other processes compete for the cores.

use std::hint::black_box;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use envv_core::crypto::{EpochIdentity, TeamKeyring};
use envv_core::envfile::format::decrypt;
use envv_core::envfile::{EnvFile, EnvName, ReadOptions, SecretName, dotenv, edit};
use uuid::Uuid;

/// A team's keyring at epoch 1 that signs as a fresh member.
fn ring() -> TeamKeyring {
    let team = Uuid::new_v4();
    let mut ring = TeamKeyring::new(EpochIdentity::generate(team, 1));
    ring.set_signer(envv_core::crypto::FileSigner {
        user: Uuid::new_v4(),
        key: envv_core::crypto::UserIdentity::generate()
            .signing_key()
            .clone(),
    });
    ring
}

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

fn open_and_decrypt<M: Measurement>(c: &mut Criterion<M>, group_name: &str) {
    let ring = ring();
    let opts = ReadOptions::current(EnvName::default_env(), &ring);
    let mut group = c.benchmark_group(group_name);
    for n in [100, 1_000, 10_000] {
        let text = file_with(&ring, n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, text| {
            b.iter(|| decrypt(black_box(text.as_bytes()), &ring, &opts).expect("decrypt"));
        });
    }
    group.finish();
}

fn open_and_decrypt_wall(c: &mut Criterion) {
    open_and_decrypt(c, "open_and_decrypt");
}

fn open_and_decrypt_cpu(c: &mut Criterion<ThreadCpuTime>) {
    open_and_decrypt(c, "open_and_decrypt_cpu");
}

fn set_one_value(c: &mut Criterion) {
    let ring = ring();
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

/// The reader alone on the 10,000-line file `benches/agent.rs` imports
/// through the agent (the same shapes: comments, quotes, escapes,
/// references, `$$`).
/// What the writer's signature adds to opening a file: the Ed25519 check
/// over the file's bytes that `decrypt` makes last (`format.md`).
fn signature_check(c: &mut Criterion) {
    use envv_core::crypto::{SignatureBytes, VerifyingKey};
    let ring = ring();
    let mut group = c.benchmark_group("signature_check");
    for n in [100, 1_000] {
        let text = file_with(&ring, n);
        let signed_end = text.rfind("signature ").expect("signed");
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .expect("field")
                .to_owned()
        };
        let key: VerifyingKey = field("signer-key ").parse().expect("key");
        let signature = SignatureBytes::from_base64(&field("signature ")).expect("signature");
        group.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, text| {
            b.iter(|| {
                let mut message = b"envv-env/v2 signature\n".to_vec();
                message.extend_from_slice(&text.as_bytes()[..signed_end]);
                key.verify(black_box(&message), &signature)
                    .expect("verifies")
            });
        });
    }
    group.finish();
}

fn read_dotenv_10000_lines(c: &mut Criterion) {
    let mut text = String::new();
    for i in 0..10_000 {
        text.push_str(&match i % 5 {
            0 => format!("SECRET_{i:05}=value-{i}-0123456789abcdef # a comment\n"),
            1 => format!("export SECRET_{i:05}=\"quoted {i} with \\\"escapes\\\" and \\n\"\n"),
            2 => format!("SECRET_{i:05}='single {i} $NOT_EXPANDED'\n"),
            3 => format!("SECRET_{i:05}=${{SECRET_{:05}}}/suffix-{i}\n", i - 3),
            _ => format!("SECRET_{i:05}=postgres://user:pa$$w0rd@host:{i}/db\n"),
        });
    }
    let env = std::collections::BTreeMap::new();
    let options = dotenv::ImportOptions::default();
    let mut group = c.benchmark_group("dotenv_read");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("10000_lines", |b| {
        b.iter(|| dotenv::read(black_box(text.as_bytes()), options, &env).expect("read"));
    });
    group.finish();
}

/// CPU time consumed by the benchmarking thread (`CLOCK_THREAD_CPUTIME_ID`).
struct ThreadCpuTime;

fn thread_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    (t.tv_sec as u64) * 1_000_000_000 + t.tv_nsec as u64
}

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &NanosFormatter
    }
}

struct NanosFormatter;

impl ValueFormatter for NanosFormatter {
    fn scale_values(&self, ns: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if ns < 1e3 {
            (1.0, "ns")
        } else if ns < 1e6 {
            (1e-3, "µs")
        } else if ns < 1e9 {
            (1e-6, "ms")
        } else {
            (1e-9, "s")
        };
        for v in values {
            *v *= factor;
        }
        unit
    }
    fn scale_throughputs(
        &self,
        _typical: f64,
        _t: &Throughput,
        _values: &mut [f64],
    ) -> &'static str {
        "ns"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

criterion_group!(
    wall,
    open_and_decrypt_wall,
    signature_check,
    set_one_value,
    read_dotenv_10000_lines
);
criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = open_and_decrypt_cpu
}
criterion_main!(wall, cpu);
