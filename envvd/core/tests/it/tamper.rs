//! Every way of tampering with a `.env.enc` file fails closed, with the error
//! that names it. The cases are data: one table, one loop.

use crate::common::{any_epoch, env, keyring, name, truncated_ring};
use envv_core::crypto::{EpochIdentity, TeamKeyring};
use envv_core::envfile::format::decrypt;
use envv_core::envfile::{EnvFile, EnvFileError, ReadOptions};
use proptest::prelude::*;

/// Real files the cases are cut from.
struct Fixture {
    ring: TeamKeyring,
    /// A=alpha, B=bravo, C=charlie in the default environment, generation 2.
    current: String,
    /// The same file one write earlier (generation 1, B=old-bravo).
    previous: String,
    /// The same names in environment `staging`.
    staging: String,
    /// A file written at epoch 1 (the ring's current epoch is 2).
    epoch1: String,
    /// Another team's file with the same names.
    other_team: String,
}

fn build(ring: &TeamKeyring, env_name: &str, pairs: &[(&str, &str)]) -> EnvFile {
    let mut f = EnvFile::new(ring, env(env_name)).expect("new file");
    for (k, v) in pairs {
        f.set(name(k), (*v).into()).expect("set");
    }
    f
}

fn fixture() -> Fixture {
    let ring = keyring(2);
    let base = [("A", "alpha"), ("B", "old-bravo"), ("C", "charlie")];
    let mut file = build(&ring, "default", &base);
    let previous = file.seal_for_write(&ring).expect("write 1");
    file.set(name("B"), "bravo".into()).expect("set");
    let current = file.seal_for_write(&ring).expect("write 2");
    let values = [("A", "alpha"), ("B", "bravo"), ("C", "charlie")];
    let staging = build(&ring, "staging", &values)
        .seal_for_write(&ring)
        .expect("staging");
    let ring1 = truncated_ring(&ring, 1);
    let epoch1 = build(&ring1, "default", &values)
        .seal_for_write(&ring1)
        .expect("epoch 1");
    let other = keyring(1);
    let other_team = build(&other, "default", &values)
        .seal_for_write(&other)
        .expect("other");
    Fixture {
        ring,
        current,
        previous,
        staging,
        epoch1,
        other_team,
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

fn join(lines: &[String]) -> String {
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

/// Index of the secret line for `name`.
fn line_of(lines: &[String], name: &str) -> usize {
    lines
        .iter()
        .position(|l| l.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no line for {name}"))
}

fn value_of<'a>(lines: &'a [String], name: &str) -> &'a str {
    let l = &lines[line_of(lines, name)];
    &l[name.len() + 1..]
}

fn replace_header(text: &str, key: &str, value: &str) -> String {
    let mut ls = lines(text);
    let i = ls
        .iter()
        .position(|l| l.starts_with(&format!("{key} ")))
        .expect("header line");
    ls[i] = format!("{key} {value}");
    join(&ls)
}

type Mutation = fn(&Fixture) -> (String, ReadOptions);
type Check = fn(&EnvFileError) -> bool;

fn default_opts() -> ReadOptions {
    any_epoch("default")
}

#[test]
fn every_tamper_case_fails_closed_with_its_own_error() {
    let cases: Vec<(&str, Mutation, Check)> = vec![
        (
            "value moved to another name",
            |f| {
                let mut ls = lines(&f.current);
                let (a, b) = (line_of(&ls, "A"), line_of(&ls, "B"));
                let (va, vb) = (value_of(&ls, "A").to_owned(), value_of(&ls, "B").to_owned());
                ls[a] = format!("A={vb}");
                ls[b] = format!("B={va}");
                (join(&ls), default_opts())
            },
            |e| matches!(e, EnvFileError::ValueMovedOrForged { name } if name == "A"),
        ),
        (
            "value moved from another environment's file",
            |f| {
                let mut ls = lines(&f.current);
                let staging = lines(&f.staging);
                let a = line_of(&ls, "A");
                ls[a] = format!("A={}", value_of(&staging, "A"));
                (join(&ls), default_opts())
            },
            |e| matches!(e, EnvFileError::ValueMovedOrForged { name } if name == "A"),
        ),
        (
            "another environment's whole file",
            |f| (f.staging.clone(), default_opts()),
            |e| matches!(e, EnvFileError::WrongEnvironment { file, expected } if file == "staging" && expected == "default"),
        ),
        (
            "line deleted",
            |f| {
                let mut ls = lines(&f.current);
                ls.remove(line_of(&ls, "B"));
                (join(&ls), default_opts())
            },
            |e| {
                matches!(
                    e,
                    EnvFileError::LineMissingOrInserted {
                        expected: 3,
                        found: 2
                    }
                )
            },
        ),
        (
            "lines reordered",
            |f| {
                let mut ls = lines(&f.current);
                let (a, c) = (line_of(&ls, "A"), line_of(&ls, "C"));
                ls.swap(a, c);
                (join(&ls), default_opts())
            },
            |e| matches!(e, EnvFileError::LinesReordered { .. }),
        ),
        (
            "line inserted by someone holding only the public key",
            |f| {
                // A valid AEAD line, but under a fresh data key of the
                // attacker's own file for the same recipient.
                let mut forged = EnvFile::new(&f.ring, env("default")).expect("new");
                forged.set(name("AB"), "injected".into()).expect("set");
                let forged = lines(&forged.seal_for_write(&f.ring).expect("seal"));
                let mut ls = lines(&f.current);
                let b = line_of(&ls, "B");
                ls.insert(b, format!("AB={}", value_of(&forged, "AB")));
                (join(&ls), default_opts())
            },
            |e| {
                matches!(
                    e,
                    EnvFileError::LineMissingOrInserted {
                        expected: 3,
                        found: 4
                    }
                )
            },
        ),
        (
            "line duplicated",
            |f| {
                let mut ls = lines(&f.current);
                let b = line_of(&ls, "B");
                ls.insert(b, ls[b].clone());
                (join(&ls), default_opts())
            },
            |e| matches!(e, EnvFileError::LineMissingOrInserted { .. }),
        ),
        (
            "header generation changed",
            |f| {
                (
                    replace_header(&f.current, "generation", "99"),
                    default_opts(),
                )
            },
            |e| matches!(e, EnvFileError::HeaderTampered),
        ),
        (
            "header count changed to hide a deletion",
            |f| {
                let mut ls = lines(&replace_header(&f.current, "count", "2"));
                ls.remove(line_of(&ls, "B"));
                (join(&ls), default_opts())
            },
            |e| matches!(e, EnvFileError::HeaderTampered),
        ),
        (
            "header recipient changed",
            |f| {
                let other = EpochIdentity::generate(f.ring.team(), 2).public_key();
                (
                    replace_header(&f.current, "recipient", other.as_str()),
                    default_opts(),
                )
            },
            |e| matches!(e, EnvFileError::HeaderTampered),
        ),
        (
            "wrapped data key swapped for another file's",
            |f| {
                let staging = lines(&f.staging);
                let key = staging
                    .iter()
                    .find_map(|l| l.strip_prefix("key "))
                    .expect("key line");
                (replace_header(&f.current, "key", key), default_opts())
            },
            |e| matches!(e, EnvFileError::HeaderTampered),
        ),
        (
            "file of an older epoch presented as current",
            |f| {
                (
                    f.epoch1.clone(),
                    ReadOptions::current(env("default"), &f.ring),
                )
            },
            |e| {
                matches!(
                    e,
                    EnvFileError::StaleEpoch {
                        file: 1,
                        expected: 2
                    }
                )
            },
        ),
        (
            "older generation of the file put back",
            |f| {
                let mut opts = default_opts();
                opts.min_generation = Some(2);
                (f.previous.clone(), opts)
            },
            |e| {
                matches!(
                    e,
                    EnvFileError::RolledBack {
                        file: 1,
                        expected: 2
                    }
                )
            },
        ),
        (
            "one line rolled back to its previous version",
            |f| {
                let mut ls = lines(&f.current);
                let old = lines(&f.previous);
                let b = line_of(&ls, "B");
                ls[b] = old[line_of(&old, "B")].clone();
                (join(&ls), default_opts())
            },
            |e| matches!(e, EnvFileError::BadMac),
        ),
        (
            "file MAC replaced",
            |f| {
                let old = lines(&f.previous);
                let mac = old
                    .iter()
                    .find_map(|l| l.strip_prefix("file-mac "))
                    .expect("mac");
                (replace_header(&f.current, "file-mac", mac), default_opts())
            },
            |e| matches!(e, EnvFileError::BadMac),
        ),
        (
            "truncated mid-line",
            |f| (f.current[..f.current.len() / 2].to_owned(), default_opts()),
            |e| matches!(e, EnvFileError::Truncated),
        ),
        (
            "truncated at a line boundary",
            |f| {
                let mut ls = lines(&f.current);
                ls.pop();
                (join(&ls), default_opts())
            },
            |e| matches!(e, EnvFileError::Truncated),
        ),
        (
            "empty file",
            |_| (String::new(), default_opts()),
            |e| matches!(e, EnvFileError::Truncated),
        ),
        (
            "another team's file",
            |f| (f.other_team.clone(), default_opts()),
            |e| matches!(e, EnvFileError::WrongTeam { .. }),
        ),
        (
            "unsigned: the writer's signature lines cut",
            |f| {
                let mut ls = lines(&f.current);
                ls.truncate(ls.len() - 3);
                (join(&ls), default_opts())
            },
            |e| matches!(e, EnvFileError::Unsigned),
        ),
        (
            "unsigned: an older envv-env v1 file",
            |f| {
                (
                    f.current.replacen("envv-env v2", "envv-env v1", 1),
                    default_opts(),
                )
            },
            |e| matches!(e, EnvFileError::Unsigned),
        ),
        (
            "a signature over a different file",
            |f| {
                let mut ls = lines(&f.previous);
                let n = ls.len();
                let current = lines(&f.current);
                ls[n - 1] = current[current.len() - 1].clone();
                (join(&ls), default_opts())
            },
            |e| matches!(e, EnvFileError::BadSignature { .. }),
        ),
        (
            "re-signed with another key under the writer's name",
            |f| {
                let mut ls = lines(&f.current);
                let n = ls.len();
                let mut signed = ls[..n - 1].join("\n");
                signed.push('\n');
                let mut message = b"envv-env/v2 signature\n".to_vec();
                message.extend_from_slice(signed.as_bytes());
                let forger = envv_core::crypto::UserIdentity::generate();
                ls[n - 1] = format!(
                    "signature {}",
                    forger.signing_key().sign(&message).to_base64()
                );
                (join(&ls), default_opts())
            },
            |e| matches!(e, EnvFileError::BadSignature { .. }),
        ),
        (
            "trailing data after the file MAC",
            |f| (format!("{}X=1\n", f.current), default_opts()),
            |e| matches!(e, EnvFileError::Malformed { .. }),
        ),
    ];
    let f = fixture();
    // The untouched files open, so every failure below is the mutation's.
    for text in [&f.current, &f.previous, &f.epoch1] {
        decrypt(text.as_bytes(), &f.ring, &default_opts()).expect("untouched file opens");
    }
    let mut failures = Vec::new();
    for (label, mutate, check) in &cases {
        let (text, opts) = mutate(&f);
        match decrypt(text.as_bytes(), &f.ring, &opts) {
            Ok(_) => failures.push(format!("{label}: accepted")),
            Err(e) if check(&e) => {
                let shown = format!("{e} {e:?}");
                if ["alpha", "bravo", "charlie"]
                    .iter()
                    .any(|v| shown.contains(v))
                {
                    failures.push(format!("{label}: error shows a value: {shown}"));
                }
            }
            Err(e) => failures.push(format!("{label}: wrong error {e:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn old_epochs_stay_readable_to_current_members_but_not_when_current_is_demanded() {
    let f = fixture();
    let opened =
        decrypt(f.epoch1.as_bytes(), &f.ring, &default_opts()).expect("old epoch readable");
    assert_eq!(opened.epoch(), 1);
    let strict = ReadOptions::current(env("default"), &f.ring);
    assert!(matches!(
        decrypt(f.epoch1.as_bytes(), &f.ring, &strict),
        Err(EnvFileError::StaleEpoch {
            file: 1,
            expected: 2
        })
    ));
    // A member who only holds epoch 1 is told to sync, not given garbage.
    let old_member = truncated_ring(&f.ring, 1);
    assert!(matches!(
        decrypt(f.current.as_bytes(), &old_member, &default_opts()),
        Err(EnvFileError::NewerEpoch { file: 2, known: 1 })
    ));
    // A keyring of the right team but a different epoch-2 key.
    let mut impostor = truncated_ring(&f.ring, 1);
    impostor
        .insert(EpochIdentity::generate(f.ring.team(), 2))
        .expect("insert");
    assert!(matches!(
        decrypt(f.current.as_bytes(), &impostor, &default_opts()),
        Err(EnvFileError::WrongKey { epoch: 2 })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Flipping any single bit of a real file must never succeed and never panic.
    #[test]
    fn any_bit_flip_is_detected(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        static FIXTURE: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
        let f = FIXTURE.get_or_init(fixture);
        let mut bytes = f.current.clone().into_bytes();
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let result = decrypt(&bytes, &f.ring, &default_opts());
        prop_assert!(result.is_err(), "flip at byte {} bit {} was accepted", i, bit);
    }
}
