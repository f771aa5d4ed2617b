//! The team chain's test vectors: a team's first statements, byte for
//! byte as `tests/vectors/chain.txt` has them.

use envv_api::Role;
use envv_core::chain::{Body, Statement, TeamChain};
use uuid::Uuid;

/// A team's first three statements from fixed keys, ids and times: their
/// exact bytes and hashes are in `tests/vectors/chain.txt` (and
/// `docs/architecture.md` quotes them), so another implementation can
/// check its encoding byte for byte. Ed25519 signatures are deterministic.
fn vector_statements() -> Vec<Statement> {
    use envv_core::chain::{Draft, Hash, acceptance};
    use envv_core::crypto::{InviteCode, UserIdentity, accept_token};
    // 32 bytes of 0x11 and of 0x22: public test keys, never for data.
    let creator = UserIdentity::from_secret_str(
        "AGE-SECRET-KEY-1ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYGSUZRZYL",
    )
    .expect("creator key");
    let newcomer = UserIdentity::from_secret_str(
        "AGE-SECRET-KEY-1YG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3Q0KAHAN",
    )
    .expect("newcomer key");
    let epoch = envv_core::crypto::EpochIdentity::from_secret_str(
        Uuid::parse_str(envv_core::fuzzing::FUZZ_TEAM).expect("team"),
        1,
        envv_core::fuzzing::FUZZ_EPOCH_KEY,
    )
    .expect("epoch key");
    let team = epoch.team();
    let owner = Uuid::from_u128(0x0e1f_0000_0000_4000_8000_0000_0000_0001);
    let user = Uuid::from_u128(0x0e1f_0000_0000_4000_8000_0000_0000_0002);
    let invite = Uuid::from_u128(0x0e1f_0000_0000_4000_8000_0000_0000_0003);
    // The invite code's secret: 32 bytes of 0x2a.
    let code = InviteCode::parse(&format!(
        "envv-inv2.{}",
        base64_url(
            &[
                invite.as_bytes().as_slice(),
                team.as_bytes(),
                &[0; 16],
                &[0x2a; 32]
            ]
            .concat()
        )
    ))
    .expect("code");
    let genesis = Draft {
        team,
        seq: 1,
        prev: Hash::ZERO,
        by: owner,
        at: 1_796_083_200,
        body: Body::Create {
            email: "owner@example.com".into(),
            age: creator.public_key(),
            signing: creator.verifying_key(),
            epoch_key: epoch.public_key(),
        },
    }
    .sign(creator.signing_key());
    let issued = Draft {
        team,
        seq: 2,
        prev: genesis.hash(),
        by: owner,
        at: 1_796_083_260,
        body: Body::Invite {
            invite,
            email: "new@example.com".into(),
            role: Role::Member,
            accept: Hash(accept_token(&code.secret).digest()),
            proof_key: code.secret.proof_key().verifying_key(),
            expires: 1_796_083_260 + 7 * 24 * 3600,
        },
    }
    .sign(creator.signing_key());
    let accepted = acceptance(
        team,
        invite,
        &issued.hash(),
        user,
        &newcomer.public_key(),
        &newcomer.verifying_key(),
    );
    let admit = Draft {
        team,
        seq: 3,
        prev: issued.hash(),
        by: owner,
        at: 1_796_083_320,
        body: Body::Admit {
            invite,
            user,
            age: newcomer.public_key(),
            signing: newcomer.verifying_key(),
            proof: code.secret.proof_key().sign(&accepted),
            consent: newcomer.signing_key().sign(&accepted),
        },
    }
    .sign(creator.signing_key());
    vec![genesis, issued, admit]
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn vector_text(statements: &[Statement]) -> String {
    statements
        .iter()
        .map(|s| format!("# statement {}, hash {}\n{}", s.seq(), s.hash(), s.as_str()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn chain_vectors_are_byte_for_byte_stable() {
    let path = std::path::Path::new(
        &std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("tests/vectors/chain.txt");
    let statements = vector_statements();
    let text = vector_text(&statements);
    if std::env::var_os("ENVV_REGENERATE_VECTORS").is_some() {
        std::fs::write(&path, &text).expect("write the vectors");
    }
    assert_eq!(std::fs::read_to_string(&path).expect("chain.txt"), text);
    let chain = TeamChain::verify(&statements).expect("the vectors verify");
    assert_eq!(chain.members().len(), 2);
    for s in &statements {
        assert_eq!(
            Statement::parse(s.as_str()).expect("parse").hash(),
            s.hash()
        );
    }
}
