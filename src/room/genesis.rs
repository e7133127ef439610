//! Moving a room made before the membership log onto one: its creator
//! writes a genesis commit listing the members it knows, and the room
//! moves to a new epoch whose key reaches only them. A member accepts a
//! genesis only from the key that invited it, or one it verified, and
//! only if it is listed; anyone not listed must be invited again.

use rand_core::CryptoRng;

use super::{CommitRefused, Membership, Room, RoomError, Rotation};
use crate::identity::{Identity, PublicIdentity};
use crate::log::{self, Change, Commit, CommitHash, LogError, LogState, MAX_ROSTER};
use crate::protocol::EpochContext;

impl Room {
    /// Whether we made this room (no invite brought us in): only then may
    /// we write its genesis.
    pub fn is_creator(&self) -> bool {
        self.inviter.is_none()
    }

    /// Writes the genesis commit of a room without a log, as its creator
    /// (the member no invite brought in): everyone the room knows is
    /// listed. The room moves to the next epoch at once.
    pub fn write_genesis<R: CryptoRng + ?Sized>(
        &mut self,
        me: &Identity,
        now_ms: u64,
        rng: &mut R,
    ) -> Result<Rotation, RoomError> {
        if self.log.state.is_some() || self.inviter.is_some() {
            return Err(LogError::Misplaced.into());
        }
        let members: Vec<PublicIdentity> = self
            .members
            .iter()
            .filter(|(fingerprint, _)| !self.is_own(fingerprint))
            .map(|(_, member)| member.identity.clone())
            .take(MAX_ROSTER - 1)
            .collect();
        let commit = Commit {
            epoch: self.epoch + 1,
            parent: CommitHash::default(),
            committer: me.public(),
            at_ms: now_ms,
            change: Change::Genesis { members },
        };
        let (payload, signed) = log::seal(self.context(), me, commit, rng);
        if payload.len() > crate::protocol::wire::MAX_ENVELOPE_LEN {
            return Err(RoomError::TooManyToList(self.members.len()));
        }
        let next = LogState::first(&self.id, &signed)?;
        let rotation = self.take_own_commit(me, payload, &signed, next, now_ms, rng);
        // Nothing to go back to: a genesis has no rival.
        self.log.parent = None;
        Ok(rotation)
    }

    /// A commit received by a room without a log: a genesis, if it comes
    /// from the key that invited us (or one we verified) and lists us.
    pub(super) fn receive_genesis(
        &mut self,
        bytes: &[u8],
        epoch: u64,
        now_ms: u64,
    ) -> Result<Membership, CommitRefused> {
        if epoch != self.epoch || self.is_joining() {
            return Ok(Membership::Nothing);
        }
        let context = EpochContext {
            room_id: &self.id,
            epoch,
            key: &self.epoch_key,
        };
        let signed = log::open(context, bytes)?;
        if !matches!(signed.commit.change, Change::Genesis { .. }) {
            return Ok(Membership::Nothing);
        }
        let committer = signed.commit.committer.fingerprint();
        let trusted = self.inviter == Some(committer)
            || self
                .members
                .get(&committer)
                .is_some_and(|member| member.trust == super::Trust::Verified);
        if !trusted {
            return Err(LogError::NotMember.into());
        }
        let next = LogState::first(&self.id, &signed)?;
        if !next.roster.contains(&self.own) {
            // Not listed: the room went on without us.
            let by = signed.commit.committer.name.clone();
            self.log.removed_by = Some(by.clone());
            return Ok(Membership::Removed { by });
        }
        let rank = log::rank(&self.id, &self.epoch_key, &signed);
        let outcome = self.take(signed, next, rank, now_ms)?;
        if outcome == Membership::Waiting {
            self.keep_pending_commit(bytes);
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use crate::identity::Identity;
    use crate::protocol::presence::Status;
    use crate::room::{Membership, Room};
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    /// A room without a log where `host` (its creator) has met `guest`.
    fn met(host: &Identity, guest: &Identity, rng: &mut ChaCha20Rng) -> (Room, Room) {
        let mut host_room = Room::create("ops", &host.public(), 0, rng).unwrap();
        let mut guest_room = Room::join(&host_room.invite(), "ops", &guest.public(), 0).unwrap();
        let hello = guest_room.seal_presence(guest, Status::Online, 2, 0, rng);
        let topic = host_room.member_topic_id(&guest.fingerprint());
        host_room.receive_presence(&hello, &topic, 0).unwrap();
        let hello = host_room.seal_presence(host, Status::Online, 2, 0, rng);
        let topic = guest_room.member_topic_id(&host.fingerprint());
        guest_room.receive_presence(&hello, &topic, 0).unwrap();
        (host_room, guest_room)
    }

    #[test]
    fn the_creators_genesis_moves_everyone_it_knows_onto_a_log() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let alice = Identity::generate("alice", &mut rng).unwrap();
        let bob = Identity::generate("bob", &mut rng).unwrap();
        let (mut alice_room, mut bob_room) = met(&alice, &bob, &mut rng);
        let genesis = alice_room.write_genesis(&alice, 10, &mut rng).unwrap();
        assert_eq!(genesis.epoch, 1);
        let (_, slot) = &genesis.slots[0];
        bob_room.receive_key_slot(&bob, slot, 10).unwrap();
        assert!(matches!(
            bob_room.receive_commit(&genesis.commit, 10),
            Ok(Membership::Moved { epoch: 1, .. })
        ));
        assert_eq!(bob_room.context().key, alice_room.context().key);
        assert_eq!(bob_room.log().unwrap().head, alice_room.log().unwrap().head);
        // Only the creator writes one.
        assert!(bob_room.clone().write_genesis(&bob, 11, &mut rng).is_err());
    }

    #[test]
    fn a_genesis_from_anyone_but_the_inviter_is_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let alice = Identity::generate("alice", &mut rng).unwrap();
        let bob = Identity::generate("bob", &mut rng).unwrap();
        let mallory = Identity::generate("mallory", &mut rng).unwrap();
        let (alice_room, mut bob_room) = met(&alice, &bob, &mut rng);
        // mallory holds the key (an old invite) and makes a room of her own
        // out of it, then writes a genesis to take it over.
        let mut stolen = Room::join(&alice_room.invite(), "ops", &mallory.public(), 0).unwrap();
        stolen.inviter = None;
        let genesis = stolen.write_genesis(&mallory, 10, &mut rng).unwrap();
        assert!(bob_room.receive_commit(&genesis.commit, 10).is_err());
        assert!(bob_room.log().is_none());
    }
}
