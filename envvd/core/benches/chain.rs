//! Verifying a team chain: a whole 1,000-statement chain from scratch (what
//! a new device does), and one new statement against a verified head (what
//! every agent does as the team changes).
//!
//! Run: `cargo bench -p envv-core --bench chain -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use envv_api::Role;
use envv_core::chain::{Body, Statement, TeamChain};
use envv_core::fuzzing::ChainBuilder;

/// About 1,000 statements: admissions (two statements and three
/// signatures each), role changes and rotations, as a big team's years.
fn big_chain() -> ChainBuilder {
    let mut world = ChainBuilder::new();
    while world.statements.len() < 990 {
        let who = world.invite_and_admit(0, Role::Member);
        if who.is_multiple_of(10) {
            let user = world.id(who);
            world.push(
                0,
                Body::Role {
                    user,
                    role: Role::Admin,
                },
            );
        }
        if who.is_multiple_of(25) {
            world.rotate(0);
        }
    }
    while world.statements.len() < 1000 {
        world.rotate(0);
    }
    world
}

fn verify(c: &mut Criterion) {
    let world = big_chain();
    let texts: Vec<String> = world
        .statements
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect();
    let mut group = c.benchmark_group("chain");
    group.sample_size(20);
    group.bench_function("parse_and_verify_1000", |b| {
        b.iter(|| {
            let statements: Vec<Statement> = texts
                .iter()
                .map(|t| Statement::parse(black_box(t)).expect("parse"))
                .collect();
            TeamChain::verify(&statements).expect("verify")
        });
    });
    let head = TeamChain::verify(&world.statements[..999]).expect("verify");
    let last = world.statements[999].as_str().to_owned();
    group.bench_function("parse_and_apply_one_after_999", |b| {
        b.iter_batched(
            || head.clone(),
            |mut chain| {
                chain
                    .apply(&Statement::parse(black_box(&last)).expect("parse"))
                    .expect("apply");
                chain
            },
            BatchSize::SmallInput,
        );
    });
    group.bench_function("clone_999", |b| b.iter(|| black_box(&head).clone()));
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
