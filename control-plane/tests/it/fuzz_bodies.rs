//! Runs the `request_body` fuzz target's body on a few thousand seeded
//! random and mutated inputs, so it runs on stable Rust in every test run
//! (the real target in `control-plane/fuzz/` needs nightly). A 5xx or a
//! panic fails the test.

use std::collections::BTreeMap;

use control_plane::fuzzing::Harness;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Bodies that get past the JSON parser, for mutations to start from.
const SEEDS: [&str; 8] = [
    r#"{"email":"owner@fuzz.example","auth_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}"#,
    r#"{"refresh_token":"envv_rt_AAAA"}"#,
    r#"{"role":"admin"}"#,
    r#"{"max_staleness_secs":7200}"#,
    r#"{"plan":"pro","billing_email":"b@fuzz.example"}"#,
    r#"{"user_id":"00000000-0000-0000-0000-000000000000","epoch":1,"grant":"Z3JhbnQ="}"#,
    r#"{"expected_epoch":1,"public_key":"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p","grants":[]}"#,
    r#"{"events":[{"id":"00000000-0000-0000-0000-000000000000","action":"set","occurred_at":"2026-11-28T05:00:00Z","secret_names":["A"],"env":"dev","path_hash":"00","secret_count":1}]}"#,
];

fn mutate(rng: &mut StdRng, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..rng.gen_range(1..4) {
        if data.is_empty() {
            break;
        }
        let i = rng.gen_range(0..data.len());
        match rng.gen_range(0..5) {
            0 => data[i] ^= 1 << rng.gen_range(0..8),
            1 => {
                data[i] = *b"{}[]\":,0-e\\ nul"
                    .get(rng.gen_range(0..15))
                    .unwrap_or(&b'x')
            }
            2 => data.truncate(i),
            3 => {
                data.remove(i);
            }
            _ => {
                let j = rng.gen_range(i..data.len());
                let k = rng.gen_range(0..data.len());
                let chunk = data[i..j].to_vec();
                data.splice(k..k, chunk);
            }
        }
    }
    data
}

#[test]
fn every_body_taking_operation_is_a_target() {
    let targets = Harness::get().targets();
    // The routes `fuzz/` lists, found here from the OpenAPI document.
    assert_eq!(targets.len(), 19, "{targets:?}");
    assert!(
        targets.iter().all(|(_, path)| !path.contains('{')),
        "{targets:?}"
    );
}

#[test]
fn random_and_mutated_requests_get_no_5xx() {
    let harness = Harness::get();
    let routes = harness.targets().len();
    let mut rng = StdRng::seed_from_u64(0x656e_7676);
    let mut statuses = BTreeMap::new();
    for case in 0..5_000u32 {
        let route = (case as usize % routes) as u8;
        let content_type: u8 = rng.r#gen();
        let pick = rng.gen_range(0..SEEDS.len() + harness.seeds().len());
        let seed = SEEDS
            .get(pick)
            .copied()
            .unwrap_or_else(|| &harness.seeds()[pick - SEEDS.len()])
            .as_bytes();
        let body = match rng.gen_range(0..3) {
            0 => seed.to_vec(),
            1 => mutate(&mut rng, seed),
            _ => (0..rng.gen_range(0..64)).map(|_| rng.r#gen()).collect(),
        };
        let mut data = vec![route, content_type];
        data.extend(body);
        let status = harness.run(&data).expect("a request");
        *statuses.entry(status.as_u16()).or_insert(0u32) += 1;
    }
    // The inputs reach past the parsers: some requests are accepted, and
    // refusals come from several layers (JSON, content type, validation,
    // the store's rules).
    let accepted: u32 = statuses.range(200..300).map(|(_, n)| n).sum();
    assert!(accepted > 0, "{statuses:?}");
    for status in [400, 409, 415] {
        assert!(
            statuses.contains_key(&status),
            "no {status} in {statuses:?}"
        );
    }
}
