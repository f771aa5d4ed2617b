//! One statement of a team chain: its fields, its one byte encoding, and
//! its signature.
//!
//! A statement is UTF-8 text, one `key value` field per line, every line
//! ending in `\n`, fields in a fixed order:
//!
//! ```text
//! envv-chain/1
//! team <team uuid>
//! seq <1, 2, …>
//! prev <hex SHA-256 of the previous statement, 64 zeros for the first>
//! by <signer's user uuid>
//! at <unix seconds>
//! kind <create|invite|admit|role|remove|rotate|revoke-invite|settings|checkpoint>
//! <the kind's fields>
//! sig <base64url Ed25519 signature>
//! ```
//!
//! The signature covers `envv/chain/v1 signature\n` followed by every line
//! before `sig`; a statement's hash is the SHA-256 of all its bytes. Parsing
//! re-encodes what it read and requires the same bytes, so every statement
//! has exactly one encoding.

use std::fmt;

use envv_api::Role;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::ChainError;
use crate::crypto::{PublicKey, SignatureBytes, SigningKey, VerifyingKey};

/// First line of every statement; the digit is the encoding's version.
const MAGIC: &str = "envv-chain/1";
/// What the signature covers ahead of the statement's text.
const SIGNED_PREFIX: &[u8] = b"envv/chain/v1 signature\n";
/// A statement holds a few keys and ids; anything larger is not one.
pub const MAX_STATEMENT_LEN: usize = 2048;
/// Emails are at most 254 bytes (RFC 5321).
const MAX_EMAIL_LEN: usize = 254;

/// SHA-256 of a statement (or a member set).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The previous-hash of a chain's first statement.
    pub const ZERO: Hash = Hash([0; 32]);

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 lowercase hex digits.
    pub fn from_hex(s: &str) -> Option<Hash> {
        if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Hash(out))
    }

    /// The first 8 bytes in grouped hex: what people compare out of band.
    pub fn fingerprint(&self) -> String {
        crate::crypto::signing::group_hex(&self.0[..8])
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// What a statement says.
// The fields are named for what they hold; the type says what it is.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// The team's first statement, signed by its creator (who becomes its
    /// owner) with the key it names: the creator's keys and epoch 1's key.
    Create {
        email: String,
        age: PublicKey,
        signing: VerifyingKey,
        epoch_key: PublicKey,
    },
    /// An invite. `proof_key` is derived from the secret in the invite
    /// code: only the holder of the code can sign an acceptance with it.
    Invite {
        invite: Uuid,
        email: String,
        role: Role,
        /// SHA-256 of the accept token the invitee will show the server.
        accept: Hash,
        proof_key: VerifyingKey,
        /// Unix seconds after which the invite can't be used.
        expires: i64,
    },
    /// A newcomer admitted for an invite, with the keys they accepted with.
    /// `proof` is their acceptance signed with the invite's proof key,
    /// `consent` the same signed with their own signing key.
    Admit {
        invite: Uuid,
        user: Uuid,
        age: PublicKey,
        signing: VerifyingKey,
        proof: SignatureBytes,
        consent: SignatureBytes,
    },
    /// A member's role changes.
    Role { user: Uuid, role: Role },
    /// A member is removed (or leaves, when `user` is the signer).
    Remove { user: Uuid },
    /// The team moves to a new epoch key, wrapped to exactly the members
    /// whose set hashes to `members`.
    Rotate {
        epoch: u64,
        epoch_key: PublicKey,
        members: Hash,
    },
    /// An invite is withdrawn before use.
    RevokeInvite { invite: Uuid },
    /// The team's settings change.
    Settings { max_staleness_secs: u32 },
    /// An admin vouches for the audit trail up to event `audit_seq`, whose
    /// chain hash is `audit_head`: a trail rewritten before it no longer
    /// matches.
    Checkpoint { audit_seq: u64, audit_head: Hash },
}

impl Body {
    /// The `kind` line's value.
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Create { .. } => "create",
            Body::Invite { .. } => "invite",
            Body::Admit { .. } => "admit",
            Body::Role { .. } => "role",
            Body::Remove { .. } => "remove",
            Body::Rotate { .. } => "rotate",
            Body::RevokeInvite { .. } => "revoke-invite",
            Body::Settings { .. } => "settings",
            Body::Checkpoint { .. } => "checkpoint",
        }
    }

    fn encode(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(out, "kind {}", self.kind());
        // Writing to a String cannot fail.
        let _ = match self {
            Body::Create {
                email,
                age,
                signing,
                epoch_key,
            } => writeln!(
                out,
                "email {email}\nage {age}\ned25519 {signing}\nepoch-key {epoch_key}"
            ),
            Body::Invite {
                invite,
                email,
                role,
                accept,
                proof_key,
                expires,
            } => writeln!(
                out,
                "invite {}\nemail {email}\nrole {role}\naccept {accept}\nproof-key {proof_key}\nexpires {expires}",
                invite.hyphenated()
            ),
            Body::Admit {
                invite,
                user,
                age,
                signing,
                proof,
                consent,
            } => writeln!(
                out,
                "invite {}\nuser {}\nage {age}\ned25519 {signing}\nproof {}\nconsent {}",
                invite.hyphenated(),
                user.hyphenated(),
                proof.to_base64(),
                consent.to_base64()
            ),
            Body::Role { user, role } => writeln!(out, "user {}\nrole {role}", user.hyphenated()),
            Body::Remove { user } => writeln!(out, "user {}", user.hyphenated()),
            Body::Rotate {
                epoch,
                epoch_key,
                members,
            } => writeln!(
                out,
                "epoch {epoch}\nepoch-key {epoch_key}\nmembers {members}"
            ),
            Body::RevokeInvite { invite } => writeln!(out, "invite {}", invite.hyphenated()),
            Body::Settings { max_staleness_secs } => {
                writeln!(out, "max-staleness {max_staleness_secs}")
            }
            Body::Checkpoint {
                audit_seq,
                audit_head,
            } => writeln!(out, "audit-seq {audit_seq}\naudit-head {audit_head}"),
        };
    }
}

/// A statement before it is signed.
// The fields are named for what they hold; the type says what it is.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub team: Uuid,
    pub seq: u64,
    pub prev: Hash,
    pub by: Uuid,
    pub at: i64,
    pub body: Body,
}

impl Draft {
    /// Every line the signature covers.
    fn unsigned_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(512);
        let _ = writeln!(
            out,
            "{MAGIC}\nteam {}\nseq {}\nprev {}\nby {}\nat {}",
            self.team.hyphenated(),
            self.seq,
            self.prev,
            self.by.hyphenated(),
            self.at
        );
        self.body.encode(&mut out);
        out
    }

    /// Signs the draft with the signer's key.
    pub fn sign(self, key: &SigningKey) -> Statement {
        let unsigned = self.unsigned_text();
        let signature = key.sign(&signed_message(&unsigned));
        Statement::assemble(self, unsigned, signature)
    }
}

fn signed_message(unsigned: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(SIGNED_PREFIX.len() + unsigned.len());
    message.extend_from_slice(SIGNED_PREFIX);
    message.extend_from_slice(unsigned.as_bytes());
    message
}

/// A signed statement, with its canonical text and hash.
#[derive(Clone, PartialEq, Eq)]
pub struct Statement {
    draft: Draft,
    signature: SignatureBytes,
    text: String,
    /// Length of the part the signature covers.
    signed_len: usize,
    hash: Hash,
}

impl Statement {
    fn assemble(draft: Draft, unsigned: String, signature: SignatureBytes) -> Statement {
        let signed_len = unsigned.len();
        let mut text = unsigned;
        text.push_str("sig ");
        text.push_str(&signature.to_base64());
        text.push('\n');
        let hash = Hash(Sha256::digest(text.as_bytes()).into());
        Statement {
            draft,
            signature,
            text,
            signed_len,
            hash,
        }
    }

    /// Parses one statement; anything but the canonical encoding is refused.
    /// The signature is not checked here (see [`super::TeamChain`]).
    pub fn parse(text: &str) -> Result<Statement, ChainError> {
        if text.len() > MAX_STATEMENT_LEN {
            return Err(ChainError::Malformed("longer than a statement can be"));
        }
        let mut fields = Fields::new(text);
        if fields.line()? != MAGIC {
            return Err(ChainError::Malformed("not an envv-chain/1 statement"));
        }
        let team = fields.uuid("team")?;
        let seq = fields.number("seq")?;
        let prev = fields.hash("prev")?;
        let by = fields.uuid("by")?;
        let at = fields.value("at")?;
        let at: i64 = parse_int(at).ok_or(ChainError::Malformed("bad at"))?;
        let body = match fields.value("kind")? {
            "create" => Body::Create {
                email: fields.email()?,
                age: fields.age("age")?,
                signing: fields.signing("ed25519")?,
                epoch_key: fields.age("epoch-key")?,
            },
            "invite" => Body::Invite {
                invite: fields.uuid("invite")?,
                email: fields.email()?,
                role: fields.role()?,
                accept: fields.hash("accept")?,
                proof_key: fields.signing("proof-key")?,
                expires: parse_int(fields.value("expires")?)
                    .ok_or(ChainError::Malformed("bad expires"))?,
            },
            "admit" => Body::Admit {
                invite: fields.uuid("invite")?,
                user: fields.uuid("user")?,
                age: fields.age("age")?,
                signing: fields.signing("ed25519")?,
                proof: fields.signature("proof")?,
                consent: fields.signature("consent")?,
            },
            "role" => Body::Role {
                user: fields.uuid("user")?,
                role: fields.role()?,
            },
            "remove" => Body::Remove {
                user: fields.uuid("user")?,
            },
            "rotate" => Body::Rotate {
                epoch: fields.number("epoch")?,
                epoch_key: fields.age("epoch-key")?,
                members: fields.hash("members")?,
            },
            "revoke-invite" => Body::RevokeInvite {
                invite: fields.uuid("invite")?,
            },
            "settings" => Body::Settings {
                max_staleness_secs: u32::try_from(fields.number("max-staleness")?)
                    .map_err(|_| ChainError::Malformed("bad max-staleness"))?,
            },
            "checkpoint" => Body::Checkpoint {
                audit_seq: fields.number("audit-seq")?,
                audit_head: fields.hash("audit-head")?,
            },
            _ => return Err(ChainError::Malformed("unknown kind")),
        };
        let signature = fields.signature("sig")?;
        if !fields.rest().is_empty() {
            return Err(ChainError::Malformed("text after the signature"));
        }
        let draft = Draft {
            team,
            seq,
            prev,
            by,
            at,
            body,
        };
        let unsigned = draft.unsigned_text();
        let statement = Statement::assemble(draft, unsigned, signature);
        if statement.text != text {
            return Err(ChainError::Malformed("not in canonical form"));
        }
        Ok(statement)
    }

    /// The team.
    pub fn team(&self) -> Uuid {
        self.draft.team
    }

    /// Its position: 1 for the team's first statement.
    pub fn seq(&self) -> u64 {
        self.draft.seq
    }

    /// The hash of the statement before it.
    pub fn prev(&self) -> Hash {
        self.draft.prev
    }

    /// The signer's user id.
    pub fn by(&self) -> Uuid {
        self.draft.by
    }

    /// When the signer made it (unix seconds, the signer's clock).
    pub fn at(&self) -> i64 {
        self.draft.at
    }

    /// What it says.
    pub fn body(&self) -> &Body {
        &self.draft.body
    }

    /// Its one encoding.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// SHA-256 of [`Statement::as_str`].
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// The bytes the signature covers.
    pub fn signed_message(&self) -> Vec<u8> {
        signed_message(&self.text[..self.signed_len])
    }

    /// The signature.
    pub fn signature(&self) -> &SignatureBytes {
        &self.signature
    }
}

impl fmt::Debug for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Statement")
            .field("seq", &self.draft.seq)
            .field("kind", &self.draft.body.kind())
            .field("by", &self.draft.by)
            .field("hash", &self.hash)
            .finish()
    }
}

/// What a newcomer signs twice to accept an invite (once with the invite's
/// proof key, once with their own key): the team, the invite statement's
/// hash (which fixes the whole history before it) and their keys.
pub fn acceptance(
    team: Uuid,
    invite: Uuid,
    invite_statement: &Hash,
    user: Uuid,
    age: &PublicKey,
    signing: &VerifyingKey,
) -> Vec<u8> {
    format!(
        "envv/accept/v1\nteam {}\ninvite {}\ninvite-statement {invite_statement}\nuser {}\nage {age}\ned25519 {signing}\n",
        team.hyphenated(),
        invite.hyphenated(),
        user.hyphenated()
    )
    .into_bytes()
}

/// Decimal without sign, leading zeros or anything else.
fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// [`parse_u64`] with an optional leading `-` (times before 1970).
fn parse_int(s: &str) -> Option<i64> {
    match s.strip_prefix('-') {
        Some(rest) if rest != "0" => {
            parse_u64(rest).and_then(|v| i64::try_from(v).ok().map(|v| -v))
        }
        Some(_) => None,
        None => parse_u64(s).and_then(|v| i64::try_from(v).ok()),
    }
}

/// Reads `key value` lines in order.
struct Fields<'a> {
    rest: &'a str,
}

impl<'a> Fields<'a> {
    fn new(text: &'a str) -> Self {
        Self { rest: text }
    }

    fn rest(&self) -> &'a str {
        self.rest
    }

    fn line(&mut self) -> Result<&'a str, ChainError> {
        let (line, rest) = self
            .rest
            .split_once('\n')
            .ok_or(ChainError::Malformed("a line does not end in a newline"))?;
        self.rest = rest;
        Ok(line)
    }

    fn value(&mut self, key: &'static str) -> Result<&'a str, ChainError> {
        let line = self.line()?;
        line.strip_prefix(key)
            .and_then(|v| v.strip_prefix(' '))
            .ok_or(ChainError::Malformed("a field is missing or out of order"))
    }

    fn uuid(&mut self, key: &'static str) -> Result<Uuid, ChainError> {
        Uuid::try_parse(self.value(key)?).map_err(|_| ChainError::Malformed("bad uuid"))
    }

    fn number(&mut self, key: &'static str) -> Result<u64, ChainError> {
        parse_u64(self.value(key)?).ok_or(ChainError::Malformed("bad number"))
    }

    fn hash(&mut self, key: &'static str) -> Result<Hash, ChainError> {
        Hash::from_hex(self.value(key)?).ok_or(ChainError::Malformed("bad hash"))
    }

    fn age(&mut self, key: &'static str) -> Result<PublicKey, ChainError> {
        self.value(key)?
            .parse()
            .map_err(|_| ChainError::Malformed("bad age key"))
    }

    fn signing(&mut self, key: &'static str) -> Result<VerifyingKey, ChainError> {
        self.value(key)?
            .parse()
            .map_err(|_| ChainError::Malformed("bad signing key"))
    }

    fn signature(&mut self, key: &'static str) -> Result<SignatureBytes, ChainError> {
        SignatureBytes::from_base64(self.value(key)?)
            .map_err(|_| ChainError::Malformed("bad signature"))
    }

    fn role(&mut self) -> Result<Role, ChainError> {
        self.value("role")?
            .parse()
            .map_err(|_| ChainError::Malformed("bad role"))
    }

    fn email(&mut self) -> Result<String, ChainError> {
        let email = self.value("email")?;
        let plausible = email.len() <= MAX_EMAIL_LEN
            && email.contains('@')
            && !email.bytes().any(|b| b.is_ascii_control() || b == b' ');
        if !plausible {
            return Err(ChainError::Malformed("bad email"));
        }
        Ok(email.to_owned())
    }
}
