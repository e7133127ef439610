//! A room taken apart for storage: the record that changes rarely, the
//! epoch key, and one record per member. The store keeps each in its own
//! row, so receiving a message rewrites one member's record (its replay
//! window), not the whole room.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Block, Member, Room, RoomId};
use crate::identity::Fingerprint;
use crate::secret::SymmetricKey;

/// Everything about a room except its epoch key and its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomHeader {
    name: String,
    id: RoomId,
    epoch: u64,
    own: Fingerprint,
    inviter: Option<Fingerprint>,
    created_ms: u64,
    next_seq: u64,
    /// Keys blocking sending (see `names.rs`); absent in rooms saved
    /// before blocks were per key.
    #[serde(default)]
    blocks: Vec<Block>,
    /// What rooms saved before blocks were per key had instead: names.
    #[serde(
        default,
        rename = "blocked_by",
        skip_serializing_if = "Option::is_none"
    )]
    legacy_blocked: Option<Vec<String>>,
    #[serde(default)]
    log: super::LogParts,
}

impl RoomHeader {
    /// The room's secret id.
    pub fn id(&self) -> &RoomId {
        &self.id
    }

    /// The room's local name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The epoch the room is at.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }
}

/// A room in pieces; [`Room::from_parts`] is the inverse of
/// [`Room::into_parts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomParts {
    /// The rarely changing record.
    pub header: RoomHeader,
    /// The current epoch's key.
    pub epoch_key: SymmetricKey,
    /// The members, by fingerprint.
    pub members: BTreeMap<Fingerprint, Member>,
}

impl Room {
    /// The sequence number our next message will take.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Takes the next sequence number for a message of ours.
    pub fn allocate_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Takes the room apart for storage (the cache of members' decoded
    /// keys is derived, and rebuilt as members speak).
    pub fn into_parts(mut self) -> RoomParts {
        // A room read from a 0.1 file may still list blocked names.
        let legacy = self.legacy_blocked.take();
        self.upgrade_blocks(legacy);
        RoomParts {
            header: RoomHeader {
                name: self.name,
                id: self.id,
                epoch: self.epoch,
                own: self.own,
                inviter: self.inviter,
                created_ms: self.created_ms,
                next_seq: self.next_seq,
                blocks: self.blocks,
                legacy_blocked: None,
                log: self.log,
            },
            epoch_key: self.epoch_key,
            members: self.members,
        }
    }

    /// Puts a room back together from what [`Room::into_parts`] gave.
    pub fn from_parts(parts: RoomParts) -> Self {
        let RoomParts {
            header,
            epoch_key,
            members,
        } = parts;
        let mut room = Self {
            name: header.name,
            id: header.id,
            epoch: header.epoch,
            epoch_key,
            own: header.own,
            inviter: header.inviter,
            created_ms: header.created_ms,
            next_seq: header.next_seq,
            members,
            blocks: header.blocks,
            legacy_blocked: None,
            keys: Default::default(),
            log: header.log,
            skeletons: Default::default(),
        };
        room.upgrade_blocks(header.legacy_blocked);
        room
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn parts_put_back_together_give_the_same_room() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let alice = Identity::generate("alice", &mut rng).unwrap();
        let room = Room::create("ops", &alice.public(), 7, &mut rng).unwrap();
        let parts = room.clone().into_parts();
        assert_eq!(parts.header.id(), room.id());
        assert_eq!(parts.members.len(), 1);
        assert_eq!(Room::from_parts(parts), room);
    }
}
