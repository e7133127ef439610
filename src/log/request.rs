//! A join request: what a joiner whose invite no longer names the log's
//! head publishes, so that a member who is online lets them in with an
//! [`Change::Admit`](super::Change::Admit) commit.
//!
//! ```text
//! payload = header(kind Request, invite's epoch) || sealed(ticket, joiner) under that epoch's key
//! ```
//!
//! Signed by the joiner, so nobody can ask for someone else; sealed under
//! the epoch the invite was made in, which every member keeps for a while
//! and the broker never learns.

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};

use super::ticket::Ticket;
use crate::identity::{Fingerprint, Identity, PublicIdentity};
use crate::protocol::wire::{Kind, MAX_ENVELOPE_LEN};
use crate::protocol::{EpochContext, OpenError, sealing, wire};

/// The signature label of join requests.
pub const REQUEST_LABEL: &[u8] = b"sotto/v1/join-request";

/// A joiner's request to be let in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    /// The invite's grant.
    pub ticket: Ticket,
    /// Who asks (the signer).
    pub joiner: PublicIdentity,
}

/// Seals a request from `joiner` under the invite's epoch.
pub fn seal_request<R: CryptoRng + ?Sized>(
    context: EpochContext<'_>,
    joiner: &Identity,
    ticket: Ticket,
    rng: &mut R,
) -> Vec<u8> {
    let request = JoinRequest {
        ticket,
        joiner: joiner.public(),
    };
    sealing::seal(Kind::Request, REQUEST_LABEL, context, joiner, &request, rng)
}

/// Opens a request and checks the joiner's signature.
pub fn open_request(context: EpochContext<'_>, bytes: &[u8]) -> Result<JoinRequest, OpenError> {
    let unverified = sealing::open_unverified(Kind::Request, REQUEST_LABEL, context, bytes, |c| {
        Ok(wire::decode_exact::<JoinRequest>(c, MAX_ENVELOPE_LEN)?)
    })?;
    let key = sealing::signing_key_of(&unverified.content.joiner)?;
    unverified.verify(&key)
}

/// The signature label of refusals.
pub const REFUSAL_LABEL: &[u8] = b"sotto/v1/join-refusal";

/// The longest reason a refusal carries, in bytes.
pub const MAX_REFUSAL_REASON_LEN: usize = 200;

/// A member's answer to a join request the log refuses (a used-up or
/// expired invite, a name already taken): published in the request's
/// place, so the joiner hears why instead of waiting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRefusal {
    /// Who answers (the signer).
    pub refuser: PublicIdentity,
    /// Whose request it answers.
    pub joiner: Fingerprint,
    /// Why, in one sentence (the log's own words).
    pub reason: String,
}

/// Seals `refuser`'s refusal of `joiner`'s request under the epoch the
/// request came in.
pub fn seal_refusal<R: CryptoRng + ?Sized>(
    context: EpochContext<'_>,
    refuser: &Identity,
    joiner: Fingerprint,
    reason: &str,
    rng: &mut R,
) -> Vec<u8> {
    let mut reason = reason.to_owned();
    while reason.len() > MAX_REFUSAL_REASON_LEN {
        reason.pop();
    }
    let refusal = JoinRefusal {
        refuser: refuser.public(),
        joiner,
        reason,
    };
    sealing::seal(
        Kind::Refusal,
        REFUSAL_LABEL,
        context,
        refuser,
        &refusal,
        rng,
    )
}

/// Opens a refusal and checks the refuser's signature.
pub fn open_refusal(context: EpochContext<'_>, bytes: &[u8]) -> Result<JoinRefusal, OpenError> {
    let unverified = sealing::open_unverified(Kind::Refusal, REFUSAL_LABEL, context, bytes, |c| {
        let refusal = wire::decode_exact::<JoinRefusal>(c, MAX_ENVELOPE_LEN)?;
        if refusal.reason.len() > MAX_REFUSAL_REASON_LEN {
            return Err(OpenError::Malformed);
        }
        Ok(refusal)
    })?;
    let key = sealing::signing_key_of(&unverified.content.refuser)?;
    unverified.verify(&key)
}
