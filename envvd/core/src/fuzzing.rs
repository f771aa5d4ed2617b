//! Entry points for the fuzz targets in `envvd/core/fuzz/`, kept in the library
//! so an ordinary test can run the same bodies on random input without a
//! nightly toolchain. Each must never panic, whatever the input.

use std::sync::OnceLock;

use uuid::Uuid;

use envv_api::Role;

use crate::chain::{Body, Draft, Hash, Statement, TeamChain, acceptance};
use crate::crypto::{EpochIdentity, InviteSecret, TeamKeyring, UserIdentity, accept_token};
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

/// A team chain made by real members, for tests, benchmarks and the chain
/// fuzz target: every helper signs with the right person's key and checks
/// the statement as a verifier would.
pub struct ChainBuilder {
    /// The team.
    pub team: Uuid,
    /// Every statement so far.
    pub statements: Vec<Statement>,
    /// The verified state after them.
    pub chain: TeamChain,
    /// Everyone who was ever in the team, by index; 0 is the creator.
    pub people: Vec<(Uuid, UserIdentity)>,
    /// The epoch keys, by epoch number (index 0 is epoch 1).
    pub epoch_keys: Vec<EpochIdentity>,
    /// The clock the statements carry (unix seconds), one second a statement.
    pub now: i64,
}

impl ChainBuilder {
    /// A team created by a fresh person.
    pub fn new() -> ChainBuilder {
        let team = Uuid::new_v4();
        let creator = (Uuid::new_v4(), UserIdentity::generate());
        let epoch = EpochIdentity::generate(team, 1);
        let now = 1_800_000_000;
        let genesis = Draft {
            team,
            seq: 1,
            prev: Hash::ZERO,
            by: creator.0,
            at: now,
            body: Body::Create {
                email: "p0@example.com".into(),
                age: creator.1.public_key(),
                signing: creator.1.verifying_key(),
                epoch_key: epoch.public_key(),
            },
        }
        .sign(creator.1.signing_key());
        let chain = TeamChain::verify(std::slice::from_ref(&genesis))
            .unwrap_or_else(|e| panic!("genesis: {e}"));
        ChainBuilder {
            team,
            statements: vec![genesis],
            chain,
            people: vec![creator],
            epoch_keys: vec![epoch],
            now,
        }
    }

    /// Signs `body` as person `by`, without checking it.
    pub fn sign(&self, by: usize, body: Body) -> Statement {
        let (id, identity) = &self.people[by];
        self.chain
            .draft(*id, self.now + 1, body)
            .sign(identity.signing_key())
    }

    /// Signs and appends; panics if a verifier would refuse it.
    pub fn push(&mut self, by: usize, body: Body) -> &Statement {
        let statement = self.sign(by, body);
        self.chain
            .apply(&statement)
            .unwrap_or_else(|e| panic!("{e}"));
        self.now += 1;
        self.statements.push(statement);
        self.statements.last().unwrap_or_else(|| unreachable!())
    }

    /// Person `by` invites a newcomer with `role`, who accepts and is
    /// admitted by `by`. Returns the newcomer's index.
    pub fn invite_and_admit(&mut self, by: usize, role: Role) -> usize {
        let index = self.people.len();
        let secret = InviteSecret::generate();
        let invite = Uuid::new_v4();
        let token = accept_token(&secret);
        let issued = self
            .push(
                by,
                Body::Invite {
                    invite,
                    email: format!("p{index}@example.com"),
                    role,
                    accept: Hash(token.digest()),
                    proof_key: secret.proof_key().verifying_key(),
                    expires: self.now + 3600,
                },
            )
            .hash();
        let (user, identity) = (Uuid::new_v4(), UserIdentity::generate());
        let accepted = acceptance(
            self.team,
            invite,
            &issued,
            user,
            &identity.public_key(),
            &identity.verifying_key(),
        );
        let body = Body::Admit {
            invite,
            user,
            age: identity.public_key(),
            signing: identity.verifying_key(),
            proof: secret.proof_key().sign(&accepted),
            consent: identity.signing_key().sign(&accepted),
        };
        self.people.push((user, identity));
        self.push(by, body);
        index
    }

    /// Person `by` moves the team to a new epoch.
    pub fn rotate(&mut self, by: usize) {
        let next = EpochIdentity::generate(self.team, self.chain.current_epoch() + 1);
        let body = Body::Rotate {
            epoch: next.epoch(),
            epoch_key: next.public_key(),
            members: self.chain.member_set_hash(),
        };
        self.push(by, body);
        self.epoch_keys.push(next);
    }

    /// The user id of person `index`.
    pub fn id(&self, index: usize) -> Uuid {
        self.people[index].0
    }
}

impl Default for ChainBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// Body of the `chain_statement` target: a statement that parses has one
/// encoding, and checking it against a real chain never panics.
pub fn fuzz_chain_statement(data: &[u8]) {
    static WORLD: OnceLock<(TeamChain, Statement)> = OnceLock::new();
    let (chain, _) = WORLD.get_or_init(|| {
        let mut world = ChainBuilder::new();
        world.invite_and_admit(0, Role::Admin);
        let last = world.statements[world.statements.len() - 1].clone();
        (world.chain, last)
    });
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(statement) = Statement::parse(text) else {
        return;
    };
    assert_eq!(
        statement.as_str(),
        text,
        "a statement parsed from another encoding"
    );
    let _ = chain.clone().apply(&statement);
    let _ = TeamChain::verify(std::slice::from_ref(&statement));
}
