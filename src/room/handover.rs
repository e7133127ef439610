//! Going on in a room with a new identity of our own (`init --force`): the
//! room keeps its key, history and members, and our old key stays known as
//! ours, so its earlier messages are never taken for a forgery.

use super::{Member, Room, Trust};
use crate::identity::{Fingerprint, PublicIdentity};

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
