//! The team chain from a verifier's side: valid chains verify, and any
//! change to one (a byte, a deletion, a reordering, a statement re-signed
//! by someone without the role) is refused with the rule it breaks.

use envv_api::Role;
use envv_core::chain::{Body, ChainError, Statement, TeamChain};
use envv_core::fuzzing::{ChainBuilder, fuzz_chain_statement};
use proptest::prelude::*;
use uuid::Uuid;

/// What one step of a random history does.
#[derive(Debug, Clone)]
enum Step {
    Invite(Role),
    Promote,
    Demote,
    Remove,
    Rotate,
    Settings(u32),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => prop_oneof![Just(Role::Member), Just(Role::Admin)].prop_map(Step::Invite),
        1 => Just(Step::Promote),
        1 => Just(Step::Demote),
        1 => Just(Step::Remove),
        1 => Just(Step::Rotate),
        1 => (1u32..100_000).prop_map(Step::Settings),
    ]
}

/// Plays `steps` with the creator (an owner, never removed) signing.
fn history(steps: &[Step]) -> ChainBuilder {
    let mut world = ChainBuilder::new();
    for (i, step) in steps.iter().enumerate() {
        let others: Vec<Uuid> = world
            .chain
            .members()
            .keys()
            .copied()
            .filter(|id| *id != world.id(0))
            .collect();
        let pick = others.get(i % others.len().max(1)).copied();
        match (step, pick) {
            (Step::Invite(role), _) => {
                world.invite_and_admit(0, *role);
            }
            (Step::Promote, Some(user))
                if world.chain.member(user).map(|m| m.role) == Some(Role::Member) =>
            {
                world.push(
                    0,
                    Body::Role {
                        user,
                        role: Role::Admin,
                    },
                );
            }
            (Step::Demote, Some(user))
                if world.chain.member(user).map(|m| m.role) == Some(Role::Admin) =>
            {
                world.push(
                    0,
                    Body::Role {
                        user,
                        role: Role::Member,
                    },
                );
            }
            (Step::Remove, Some(user)) => {
                world.push(0, Body::Remove { user });
            }
            (Step::Rotate, _) => world.rotate(0),
            (Step::Settings(secs), _) => {
                world.push(
                    0,
                    Body::Settings {
                        max_staleness_secs: *secs,
                    },
                );
            }
            _ => {}
        }
    }
    world
}

fn reparse(statements: &[Statement]) -> Result<Vec<Statement>, ChainError> {
    statements
        .iter()
        .map(|s| Statement::parse(s.as_str()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_valid_chains_verify(steps in prop::collection::vec(step(), 0..12)) {
        let world = history(&steps);
        let chain = TeamChain::verify(&reparse(&world.statements).unwrap()).unwrap();
        prop_assert_eq!(chain.head(), world.chain.head());
        prop_assert_eq!(chain.members(), world.chain.members());
        prop_assert_eq!(chain.current_epoch(), world.chain.current_epoch());
    }

    #[test]
    fn any_single_byte_change_is_refused(
        steps in prop::collection::vec(step(), 1..8),
        which in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let world = history(&steps);
        let i = which.index(world.statements.len());
        let mut bytes = world.statements[i].as_str().as_bytes().to_vec();
        let j = at.index(bytes.len());
        bytes[j] ^= flip;
        let refused = match std::str::from_utf8(&bytes).map(Statement::parse) {
            Err(_) | Ok(Err(_)) => true,
            Ok(Ok(changed)) => {
                let mut statements = world.statements.clone();
                statements[i] = changed;
                TeamChain::verify(&statements).is_err()
            }
        };
        prop_assert!(refused, "a changed byte at {} of statement {} verified", j, i + 1);
    }

    #[test]
    fn deleting_or_reordering_a_statement_is_refused(
        steps in prop::collection::vec(step(), 2..8),
        which in any::<prop::sample::Index>(),
    ) {
        let world = history(&steps);
        let n = world.statements.len();
        prop_assume!(n >= 3);
        // Any but the last (dropping the last leaves a valid shorter chain,
        // which `extend` refuses against a verified head: see below).
        let i = which.index(n - 1);
        let mut deleted = world.statements.clone();
        deleted.remove(i);
        prop_assert!(TeamChain::verify(&deleted).is_err());
        let mut swapped = world.statements.clone();
        swapped.swap(i, i + 1);
        prop_assert!(TeamChain::verify(&swapped).is_err());
    }
}

#[test]
fn admin_statements_re_signed_by_a_member_are_refused() {
    let mut world = ChainBuilder::new();
    let member = world.invite_and_admit(0, Role::Member);
    let other = world.invite_and_admit(0, Role::Member);
    let target = world.id(other);
    for body in [
        Body::Role {
            user: target,
            role: Role::Admin,
        },
        Body::Remove { user: target },
        Body::Settings {
            max_staleness_secs: 60,
        },
    ] {
        let forged = world.sign(member, body);
        let err = world.chain.clone().apply(&forged).unwrap_err();
        assert!(
            matches!(
                err,
                ChainError::NotAllowed {
                    needs: Role::Admin,
                    ..
                }
            ),
            "{err}"
        );
    }
    // An owner's role is for owners alone, even from an admin.
    let admin = world.invite_and_admit(0, Role::Admin);
    let owner = world.id(0);
    let forged = world.sign(
        admin,
        Body::Role {
            user: owner,
            role: Role::Member,
        },
    );
    assert!(matches!(
        world.chain.clone().apply(&forged),
        Err(ChainError::NotAllowed {
            needs: Role::Owner,
            ..
        })
    ));
}

#[test]
fn a_statement_signed_with_a_key_the_chain_does_not_hold_is_refused() {
    let mut world = ChainBuilder::new();
    world.invite_and_admit(0, Role::Admin);
    // The server knows ids but holds no member's signing key: it signs as
    // the owner with a key of its own.
    let impostor = envv_core::crypto::UserIdentity::generate();
    let forged = world
        .chain
        .draft(
            world.id(0),
            world.now,
            Body::Settings {
                max_staleness_secs: 5,
            },
        )
        .sign(impostor.signing_key());
    assert!(matches!(
        world.chain.clone().apply(&forged),
        Err(ChainError::BadSignature { seq: 4, .. })
    ));
}

#[test]
fn an_invite_issued_by_a_removed_admin_admits_no_one() {
    let mut world = ChainBuilder::new();
    let admin = world.invite_and_admit(0, Role::Admin);
    // The admin invites, then is removed before the invite is used.
    let mut ahead = world.chain.clone();
    let secret = envv_core::crypto::InviteSecret::generate();
    let invite = Uuid::new_v4();
    let token = envv_core::crypto::accept_token(&secret);
    let issued = world
        .push(
            admin,
            Body::Invite {
                invite,
                email: "late@example.com".into(),
                role: Role::Member,
                accept: envv_core::chain::Hash(token.digest()),
                proof_key: secret.proof_key().verifying_key(),
                expires: world.now + 3600,
            },
        )
        .hash();
    let removed = world.id(admin);
    world.push(0, Body::Remove { user: removed });
    let newcomer = envv_core::crypto::UserIdentity::generate();
    let user = Uuid::new_v4();
    let accepted = envv_core::chain::acceptance(
        world.team,
        invite,
        &issued,
        user,
        &newcomer.public_key(),
        &newcomer.verifying_key(),
    );
    let admit = world.sign(
        0,
        Body::Admit {
            invite,
            user,
            age: newcomer.public_key(),
            signing: newcomer.verifying_key(),
            proof: secret.proof_key().sign(&accepted),
            consent: newcomer.signing_key().sign(&accepted),
        },
    );
    let err = world.chain.clone().apply(&admit).unwrap_err();
    assert_eq!(
        err,
        ChainError::InviteVoid {
            seq: admit.seq(),
            invite,
            why: "was issued by a member removed since"
        }
    );
    ahead
        .apply(&world.statements[world.statements.len() - 2])
        .unwrap();
}

#[test]
fn extend_refuses_a_dropped_rewritten_or_forked_history() {
    let mut world = ChainBuilder::new();
    world.invite_and_admit(0, Role::Member);
    let verified = TeamChain::verify(&world.statements).unwrap();
    let seen = world.statements.len() as u64;
    // Dropped: the server now ends before what this machine verified.
    let mut chain = verified.clone();
    assert_eq!(
        chain.extend(&world.statements[..1], 1),
        Err(ChainError::Truncated {
            verified: seen,
            served: 1
        })
    );
    // Forked: another statement where a verified one was.
    let mut fork = ChainBuilder::new();
    fork.invite_and_admit(0, Role::Member);
    let mut chain = verified.clone();
    assert!(matches!(
        chain.extend(&fork.statements, seen),
        Err(ChainError::Rewritten { seq: 1 })
    ));
    // Honest growth is taken, all of it or nothing.
    world.rotate(0);
    let mut chain = verified.clone();
    assert_eq!(chain.extend(&world.statements[2..], seen + 1), Ok(1));
    assert_eq!(chain.head(), world.chain.head());
}

#[test]
fn a_rotation_to_another_member_set_is_refused() {
    let mut world = ChainBuilder::new();
    world.invite_and_admit(0, Role::Member);
    let key = envv_core::crypto::EpochIdentity::generate(world.team, 2).public_key();
    // The member set the server would like: an extra member it controls.
    let forged = world.sign(
        0,
        Body::Rotate {
            epoch: 2,
            epoch_key: key,
            members: envv_core::chain::Hash([7; 32]),
        },
    );
    assert!(matches!(
        world.chain.clone().apply(&forged),
        Err(ChainError::MemberSetMismatch { .. })
    ));
}

#[test]
fn the_chain_fuzz_body_survives_mutations_of_real_statements() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let mut world = ChainBuilder::new();
    world.invite_and_admit(0, Role::Admin);
    world.rotate(0);
    let mut rng = StdRng::seed_from_u64(16);
    for _ in 0..2000 {
        let seed = world.statements[rng.gen_range(0..world.statements.len())]
            .as_str()
            .as_bytes();
        let mut data = seed.to_vec();
        for _ in 0..rng.gen_range(1..4) {
            if data.is_empty() {
                break;
            }
            let i = rng.gen_range(0..data.len());
            match rng.gen_range(0..3) {
                0 => data[i] ^= 1 << rng.gen_range(0..8),
                1 => data.truncate(i),
                _ => data.insert(i, rng.r#gen()),
            }
        }
        fuzz_chain_statement(&data);
    }
    for s in &world.statements {
        fuzz_chain_statement(s.as_str().as_bytes());
    }
}

#[test]
fn audit_checkpoints_are_for_admins_and_only_move_forward() {
    use envv_core::chain::Hash;
    let mut world = ChainBuilder::new();
    let member = world.invite_and_admit(0, Role::Member);
    let forged = world.sign(
        member,
        Body::Checkpoint {
            audit_seq: 10,
            audit_head: Hash([1; 32]),
        },
    );
    assert!(matches!(
        world.chain.clone().apply(&forged),
        Err(ChainError::NotAllowed {
            needs: Role::Admin,
            ..
        })
    ));
    world.push(
        0,
        Body::Checkpoint {
            audit_seq: 10,
            audit_head: Hash([1; 32]),
        },
    );
    let checkpoint = world.chain.audit_checkpoint().expect("a checkpoint");
    assert_eq!(
        (checkpoint.audit_seq, checkpoint.audit_head),
        (10, Hash([1; 32]))
    );
    let behind = world.sign(
        0,
        Body::Checkpoint {
            audit_seq: 9,
            audit_head: Hash([2; 32]),
        },
    );
    assert!(matches!(
        world.chain.clone().apply(&behind),
        Err(ChainError::Invalid { .. })
    ));
    let again = Statement::parse(world.statements.last().unwrap().as_str()).unwrap();
    assert_eq!(again.body(), world.statements.last().unwrap().body());
}

#[test]
fn the_member_set_hash_is_the_documented_one() {
    use sha2::{Digest, Sha256};
    let mut world = ChainBuilder::new();
    world.invite_and_admit(0, Role::Member);
    world.invite_and_admit(0, Role::Admin);
    let mut text = String::from("envv/members/v1\n");
    for m in world.chain.members().values() {
        text.push_str(&format!(
            "{} {} {}\n",
            m.user.hyphenated(),
            m.age,
            m.signing.to_hex()
        ));
    }
    let expected: [u8; 32] = Sha256::digest(text.as_bytes()).into();
    assert_eq!(world.chain.member_set_hash().0, expected);
    assert_eq!(
        envv_core::chain::statement::Hash(expected),
        TeamChain::verify(&world.statements)
            .unwrap()
            .member_set_hash()
    );
}

/// Who may sign a file, by the chain: a member now, with their chain key,
/// who was in the team while the file's epoch was the newest. Each refusal
/// names the signer and why.
#[test]
fn file_signers_are_checked_against_the_chain() {
    use envv_core::chain::FileSignerRefused;
    use envv_core::crypto::{FileSigner, TeamKeyring};
    use envv_core::envfile::format::decrypt;
    use envv_core::envfile::{EnvFile, EnvName, ReadOptions, SecretName};

    let mut world = ChainBuilder::new();
    let member = world.invite_and_admit(0, Role::Member);
    let leaver = world.invite_and_admit(0, Role::Member);
    let mut elsewhere = ChainBuilder::new();
    let stranger = elsewhere.invite_and_admit(0, Role::Member);

    // A file at epoch 1, signed by whoever the ring's signer is.
    let sealed_by = |world: &ChainBuilder, who: (Uuid, &envv_core::crypto::UserIdentity)| {
        let mut ring = TeamKeyring::new(world.epoch_keys[0].clone());
        ring.set_signer(FileSigner {
            user: who.0,
            key: who.1.signing_key().clone(),
        });
        let mut file = EnvFile::new(&ring, EnvName::default_env()).unwrap();
        file.set(
            SecretName::new("DATABASE_URL").unwrap(),
            "postgres://x".into(),
        )
        .unwrap();
        let text = file.seal_for_write(&ring).unwrap();
        decrypt(
            text.as_bytes(),
            &ring,
            &ReadOptions::any_epoch(EnvName::default_env()),
        )
        .unwrap()
        .signer()
        .unwrap()
    };
    fn by(w: &ChainBuilder, i: usize) -> (Uuid, &envv_core::crypto::UserIdentity) {
        (w.people[i].0, &w.people[i].1)
    }

    let author = sealed_by(&world, by(&world, member));
    assert_eq!(
        world.chain.check_file_signer(author.user, &author.key, 1),
        Ok(())
    );

    let stolen = sealed_by(&world, (world.id(member), &elsewhere.people[stranger].1));
    assert_eq!(
        world.chain.check_file_signer(stolen.user, &stolen.key, 1),
        Err(FileSignerRefused::WrongKey {
            email: format!("p{member}@example.com")
        })
    );

    let foreign = sealed_by(&world, by(&elsewhere, stranger));
    assert!(matches!(
        world.chain.check_file_signer(foreign.user, &foreign.key, 1),
        Err(FileSignerRefused::NotAMember { .. })
    ));

    let planted = sealed_by(&world, by(&world, leaver));
    let leaver_id = world.id(leaver);
    world.push(0, Body::Remove { user: leaver_id });
    let refused = world
        .chain
        .check_file_signer(planted.user, &planted.key, 1)
        .unwrap_err();
    assert!(matches!(refused, FileSignerRefused::Removed { .. }));
    assert!(
        refused
            .to_string()
            .starts_with(&format!("p{leaver}@example.com, who was removed")),
        "{refused}"
    );

    // A member admitted after epoch 1 was replaced never held its key.
    world.rotate(0);
    let late = world.invite_and_admit(0, Role::Member);
    let backdated = sealed_by(&world, by(&world, late));
    assert!(matches!(
        world
            .chain
            .check_file_signer(backdated.user, &backdated.key, 1),
        Err(FileSignerRefused::JoinedAfter { .. })
    ));
    assert_eq!(
        world
            .chain
            .check_file_signer(backdated.user, &backdated.key, 2),
        Ok(())
    );
    assert!(matches!(
        world.chain.check_file_signer(author.user, &author.key, 9),
        Err(FileSignerRefused::UnknownEpoch { epoch: 9 })
    ));
}
