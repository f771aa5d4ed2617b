//! The tests' team chain writer: it reads a team's chain from the server,
//! verifies it as a client does (`TeamChain::verify`, every signature), and
//! signs the next statement at its head with a member's real key. Reading
//! the chain before each statement is how it tracks the head: whatever the
//! test appended before, through whichever helper, is in it.

use envv_api::{CHAIN_PAGE_LEN, Role};
use envv_core::chain::{Body, Draft, Hash, Statement, TeamChain};
use envv_core::crypto::{InviteSecret, PublicKey, UserIdentity, accept_token};
use serde_json::Value;
use uuid::Uuid;

use super::{TestServer, TestUser};

/// Someone who signs statements: an account, its token and its keys.
pub trait Signer {
    fn user_id(&self) -> Uuid;
    fn token(&self) -> &str;
    fn identity(&self) -> &UserIdentity;
    fn email(&self) -> &str;
}

impl Signer for TestUser {
    fn user_id(&self) -> Uuid {
        self.id
    }
    fn token(&self) -> &str {
        &self.access
    }
    fn identity(&self) -> &UserIdentity {
        &self.creds.identity
    }
    fn email(&self) -> &str {
        &self.email
    }
}

impl Signer for super::client::Person {
    fn user_id(&self) -> Uuid {
        self.user.id
    }
    fn token(&self) -> &str {
        &self.user.access
    }
    fn identity(&self) -> &UserIdentity {
        &self.identity
    }
    fn email(&self) -> &str {
        &self.user.email
    }
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// How long the tests' invites are valid.
pub const INVITE_SECS: i64 = 7 * 24 * 3600;

/// The team's first statement, signed by its creator.
pub fn genesis(team: Uuid, creator: &impl Signer, epoch_key: PublicKey) -> Statement {
    Draft {
        team,
        seq: 1,
        prev: Hash::ZERO,
        by: creator.user_id(),
        at: unix_now(),
        body: Body::Create {
            email: creator.email().to_owned(),
            age: creator.identity().public_key(),
            signing: creator.identity().verifying_key(),
            epoch_key,
        },
    }
    .sign(creator.identity().signing_key())
}

/// An invite as its issuer made it: what the invitee gets out of band,
/// and the statement's hash their acceptance names.
pub struct IssuedInvite {
    pub id: Uuid,
    pub team: Uuid,
    pub email: String,
    pub role: Role,
    pub secret: InviteSecret,
    pub statement: Hash,
}

impl IssuedInvite {
    /// The accept token as the invitee sends it.
    pub fn accept_token(&self) -> String {
        accept_token(&self.secret).to_base64()
    }

    /// The invitee's two signatures of their acceptance: with the invite's
    /// proof key, and with their own key.
    pub fn acceptance(&self, invitee: &impl Signer) -> (String, String) {
        let identity = invitee.identity();
        let message = envv_core::chain::acceptance(
            self.team,
            self.id,
            &self.statement,
            invitee.user_id(),
            &identity.public_key(),
            &identity.verifying_key(),
        );
        (
            self.secret.proof_key().sign(&message).to_base64(),
            identity.signing_key().sign(&message).to_base64(),
        )
    }
}

impl TestServer {
    /// The invite request that carries `statement`.
    pub fn invite_request(&self, statement: &Statement, issued: &IssuedInvite) -> Value {
        serde_json::json!({
            "id": issued.id,
            "email": issued.email,
            "role": issued.role,
            "accept_token_hash": accept_token(&issued.secret).server_hash(),
            "statement": statement.as_str(),
        })
    }

    /// One page of the team's chain, as a member reads it.
    pub async fn chain_page(&self, team: Uuid, after: u64, token: &str) -> (u16, Value) {
        self.get(&format!("/teams/{team}/chain?after={after}"), token)
            .await
    }

    /// The team's whole chain as `token`'s holder reads it, page by page,
    /// verified from its first statement.
    pub async fn chain(&self, team: Uuid, token: &str) -> TeamChain {
        let statements = self.chain_statements(team, token).await;
        TeamChain::verify(&statements).expect("the served chain verifies")
    }

    /// Every statement of the team's chain, parsed, in order.
    pub async fn chain_statements(&self, team: Uuid, token: &str) -> Vec<Statement> {
        let mut statements = Vec::new();
        loop {
            let after = statements.len() as u64;
            let (status, page) = self.chain_page(team, after, token).await;
            assert_eq!(status, 200, "chain page: {page}");
            let texts = page["statements"].as_array().expect("statements");
            assert!(texts.len() <= CHAIN_PAGE_LEN, "page over its limit");
            for text in texts {
                statements.push(Statement::parse(text.as_str().expect("text")).expect("parses"));
            }
            let head = page["head_seq"].as_u64().expect("head_seq");
            if statements.len() as u64 >= head || texts.is_empty() {
                assert_eq!(statements.len() as u64, head, "the chain ends at its head");
                return statements;
            }
        }
    }

    /// The next statement of the team's chain, saying `body`, signed by
    /// `signer` at the head the server has now.
    pub async fn sign(&self, team: Uuid, signer: &impl Signer, body: Body) -> Statement {
        self.sign_at(team, signer.token(), signer, body).await
    }

    /// [`Self::sign`], with the chain read by `viewer`'s token: a test can
    /// have a non-member sign a statement at the team's head.
    pub async fn sign_at(
        &self,
        team: Uuid,
        viewer: &str,
        signer: &impl Signer,
        body: Body,
    ) -> Statement {
        let chain = self.chain(team, viewer).await;
        chain
            .draft(signer.user_id(), unix_now(), body)
            .sign(signer.identity().signing_key())
    }

    /// A fresh invite's statement, with what the invitee will need.
    pub async fn invite_statement(
        &self,
        team: Uuid,
        issuer: &impl Signer,
        email: &str,
        role: Role,
    ) -> (Statement, IssuedInvite) {
        self.invite_statement_at(team, issuer.token(), issuer, email, role)
            .await
    }

    /// [`Self::invite_statement`] with the chain read by `viewer`'s token.
    pub async fn invite_statement_at(
        &self,
        team: Uuid,
        viewer: &str,
        issuer: &impl Signer,
        email: &str,
        role: Role,
    ) -> (Statement, IssuedInvite) {
        let id = Uuid::new_v4();
        let secret = InviteSecret::generate();
        let statement = self
            .sign_at(
                team,
                viewer,
                issuer,
                Body::Invite {
                    invite: id,
                    email: email.to_owned(),
                    role,
                    accept: Hash(accept_token(&secret).digest()),
                    proof_key: secret.proof_key().verifying_key(),
                    expires: unix_now() + INVITE_SECS,
                },
            )
            .await;
        let issued = IssuedInvite {
            id,
            team,
            email: email.to_owned(),
            role,
            secret,
            statement: statement.hash(),
        };
        (statement, issued)
    }

    /// The `admit` statement for a newcomer who accepted, from what the
    /// pending list shows (as an admin's client makes it).
    pub async fn admit_statement(
        &self,
        team: Uuid,
        admin: &impl Signer,
        pending: &Value,
    ) -> Statement {
        self.admit_statement_at(team, admin.token(), admin, pending)
            .await
    }

    /// [`Self::admit_statement`] with the chain read by `viewer`'s token.
    pub async fn admit_statement_at(
        &self,
        team: Uuid,
        viewer: &str,
        admin: &impl Signer,
        pending: &Value,
    ) -> Statement {
        let field = |name: &str| pending[name].as_str().unwrap_or_default().to_owned();
        let body = Body::Admit {
            invite: field("invite_id").parse().expect("invite id"),
            user: field("user_id").parse().expect("user id"),
            age: field("identity_public_key").parse().expect("age key"),
            signing: field("signing_public_key").parse().expect("signing key"),
            proof: envv_core::crypto::SignatureBytes::from_base64(&field("proof")).expect("proof"),
            consent: envv_core::crypto::SignatureBytes::from_base64(&field("consent"))
                .expect("consent"),
        };
        self.sign_at(team, viewer, admin, body).await
    }

    /// The newcomer `user`'s entry in the team's pending list.
    pub async fn pending_entry(&self, team: Uuid, admin: &impl Signer, user: Uuid) -> Value {
        let (status, pending) = self
            .get(&format!("/teams/{team}/grants/pending"), admin.token())
            .await;
        assert_eq!(status, 200, "pending: {pending}");
        pending
            .as_array()
            .expect("pending list")
            .iter()
            .find(|p| p["user_id"] == user.to_string())
            .cloned()
            .unwrap_or_else(|| panic!("{user} is not pending: {pending}"))
    }
}
