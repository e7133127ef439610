//! Going on in a room with a new identity of our own (`init --force`): the
//! room keeps its key, history and members, and our old key stays known as
//! ours, so its earlier messages are never taken for a forgery.

use rand_core::CryptoRng;

use super::log_parts::UnpublishedCommit;
use super::{Member, Room, RoomError, Trust};
use crate::identity::{Fingerprint, Identity, PublicIdentity};
use crate::log::{self, Change, Commit};

impl Room {
    /// Makes `me` our identity in this room from now on. The old key stays
    /// in the member table marked as ours.
    pub fn adopt_new_identity(&mut self, me: &PublicIdentity, now_ms: u64) {
        let new = me.fingerprint();
        if new == self.own {
            return;
        }
        self.members
            .entry(new)
            .or_insert_with(|| Member::new(me.clone(), now_ms, Trust::Own));
        self.own = new;
    }

    /// Hands our place in a room with a membership log from `old` (the
    /// identity we had) to `new` (`init --force`): a hand-over commit
    /// signed by the old key with the new key's consent, made now and kept
    /// to publish on the room's next connection. The room moves to the new
    /// epoch at once, as ours under the new key. Rooms without a log just
    /// go on with the new key ([`adopt_new_identity`](Self::adopt_new_identity)).
    pub fn hand_over<R: CryptoRng + ?Sized>(
        &mut self,
        old: &Identity,
        new: &Identity,
        now_ms: u64,
        rng: &mut R,
    ) -> Result<(), RoomError> {
        let Some(state) = self.log.state.as_ref() else {
            self.adopt_new_identity(&new.public(), now_ms);
            return Ok(());
        };
        if self.is_joining() || !state.roster.contains(&old.fingerprint()) {
            return Err(RoomError::NotAMember("you are not in its log".into()));
        }
        let change = Change::HandOver {
            new: new.public(),
            consent: log::hand_over_consent(&self.id, &old.fingerprint(), new),
        };
        let at_ms = now_ms.max(state.head_ms);
        let commit = Commit {
            epoch: self.epoch + 1,
            parent: state.head,
            committer: old.public(),
            at_ms,
            change,
        };
        let (payload, signed) = log::seal(self.context(), old, commit, rng);
        let next = state.check(&self.id, &signed)?;
        // Our chains in the new epoch are the new key's.
        self.own = new.fingerprint();
        let rotation = self.take_own_commit(old, payload, &signed, next, now_ms, rng);
        if let Some(me) = self.members.get_mut(&self.own) {
            me.trust = Trust::Own;
        }
        self.log.unpublished = Some(rotation.to_publish());
        Ok(())
    }

    /// A commit of ours made offline, waiting to be published.
    pub fn unpublished_commit(&self) -> Option<&UnpublishedCommit> {
        self.log.unpublished.as_ref()
    }

    /// Forgets the offline commit once it is published.
    pub fn commit_published(&mut self) {
        self.log.unpublished = None;
    }

    /// Whether a key is ours: the current one, or one we used before.
    pub fn is_own(&self, fingerprint: &Fingerprint) -> bool {
        *fingerprint == self.own
            || self
                .members
                .get(fingerprint)
                .is_some_and(|m| m.trust == Trust::Own)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::protocol::message::Body;
    use crate::room::Received;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn a_replaced_key_is_still_ours_and_the_new_one_speaks() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let old = Identity::generate("alice", &mut rng).unwrap();
        let new = Identity::generate("alice", &mut rng).unwrap();
        let mut room = Room::create("ops", &old.public(), 1, &mut rng).unwrap();
        let mut old_copy = room.clone();
        let earlier = old_copy
            .seal_message(&old, Body::Text("from the old key".into()), 2, &mut rng)
            .unwrap();
        room.adopt_new_identity(&new.public(), 3);
        assert_eq!(room.own_fingerprint(), new.fingerprint());
        assert!(room.is_own(&old.fingerprint()) && room.is_own(&new.fingerprint()));
        // The old key's message coming back is an echo, not a forgery.
        assert_eq!(room.receive_message(&earlier, 4), Ok(Received::OwnEcho));
        let now = room
            .seal_message(&new, Body::Text("from the new key".into()), 5, &mut rng)
            .unwrap();
        assert_eq!(room.receive_message(&now, 6), Ok(Received::OwnEcho));
    }
}
