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
use crate::identity::{Identity, PublicIdentity};
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
