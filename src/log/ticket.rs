//! The signed part of an invite: what a joiner's add carries into the log
//! so every member can check that a member of the room let the joiner in,
//! until when, and how many times.

use serde::{Deserialize, Serialize};

use crate::identity::{Identity, PublicIdentity};
use crate::room_id::RoomId;

const TICKET_LABEL: &[u8] = b"sotto/v1/invite-ticket";

/// The most people one invite may admit.
pub const MAX_INVITE_USES: u32 = 1000;

/// An invite's grant, signed by the inviter. It carries no secret: the
/// epoch key travels beside it in the invite string, never in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// The room it admits to.
    pub room_id: RoomId,
    /// A random id, so uses of one invite can be counted along the log.
    #[serde(with = "crate::hex::array")]
    pub id: [u8; 16],
    /// Who made the invite.
    pub inviter: PublicIdentity,
    /// The epoch the invite was made in.
    pub epoch: u64,
    /// No add may be signed after this time (ms since the Unix epoch).
    pub expires_ms: u64,
    /// How many adds it may carry.
    pub uses: u32,
    /// The inviter's Ed25519 signature over everything above.
    #[serde(with = "crate::hex::array")]
    pub signature: [u8; 64],
}

/// Why a ticket was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// The signature does not match the inviter's key.
    #[error("the invite's signature does not match its inviter")]
    BadSignature,
    /// Zero or more than [`MAX_INVITE_USES`] uses.
    #[error("the invite allows an impossible number of uses")]
    BadUses,
}

#[derive(Serialize)]
struct Signed<'a> {
    room_id: &'a RoomId,
    id: &'a [u8; 16],
    inviter: &'a PublicIdentity,
    epoch: u64,
    expires_ms: u64,
    uses: u32,
}

impl Ticket {
    /// A ticket signed by `inviter`.
    pub fn new(
        room_id: RoomId,
        id: [u8; 16],
        inviter: &Identity,
        epoch: u64,
        expires_ms: u64,
        uses: u32,
    ) -> Self {
        let public = inviter.public();
        let signature = inviter
            .sign(&signed_bytes(&Signed {
                room_id: &room_id,
                id: &id,
                inviter: &public,
                epoch,
                expires_ms,
                uses,
            }))
            .to_bytes();
        Self {
            room_id,
            id,
            inviter: public,
            epoch,
            expires_ms,
            uses,
            signature,
        }
    }

    /// Checks the inviter's signature (strictly) and the use count.
    pub fn verify(&self) -> Result<(), TicketError> {
        if self.uses == 0 || self.uses > MAX_INVITE_USES {
            return Err(TicketError::BadUses);
        }
        let key = self
            .inviter
            .verifying_key()
            .ok_or(TicketError::BadSignature)?;
        let signature = ed25519_dalek::Signature::from_bytes(&self.signature);
        let bytes = signed_bytes(&Signed {
            room_id: &self.room_id,
            id: &self.id,
            inviter: &self.inviter,
            epoch: self.epoch,
            expires_ms: self.expires_ms,
            uses: self.uses,
        });
        key.verify_strict(&bytes, &signature)
            .map_err(|_| TicketError::BadSignature)
    }
}

fn signed_bytes(signed: &Signed<'_>) -> Vec<u8> {
    let mut bytes = TICKET_LABEL.to_vec();
    bytes.extend_from_slice(&crate::protocol::wire::to_bytes(signed));
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn a_ticket_verifies_and_any_change_breaks_it() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let alice = Identity::generate("alice", &mut rng).unwrap();
        let ticket = Ticket::new(RoomId([1; 16]), [2; 16], &alice, 4, 1000, 1);
        assert_eq!(ticket.verify(), Ok(()));
        let mut longer = ticket.clone();
        longer.expires_ms += 1;
        assert_eq!(longer.verify(), Err(TicketError::BadSignature));
        let mut more = ticket.clone();
        more.uses = 2;
        assert_eq!(more.verify(), Err(TicketError::BadSignature));
        let mut other_room = ticket.clone();
        other_room.room_id = RoomId([9; 16]);
        assert_eq!(other_room.verify(), Err(TicketError::BadSignature));
        let mut zero = ticket;
        zero.uses = 0;
        assert_eq!(zero.verify(), Err(TicketError::BadUses));
    }
}
