//! Presence records: a member announcing its name, public keys and whether
//! it is online, signed and encrypted under the epoch key so the broker
//! learns no names and no keys.
//!
//! Records carry a sequence number that only grows, so the broker cannot
//! roll a member back to an older retained record. They also carry the
//! highest message sequence number the member has used in the room, so a
//! receiver can tell that messages were sent that never reached it (the
//! broker's queue overflowed) even when no later message reveals the gap.

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};

use super::wire::Kind;
use super::{EpochContext, OpenError, sealed};
use crate::identity::{Identity, PublicIdentity};

pub(crate) const PRESENCE_LABEL: &[u8] = b"sotto/v1/presence";

/// Whether a member is reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Connected.
    Online,
    /// Left, or lost (published by the broker as the member's last will).
    Offline,
}

/// A verified presence record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// The member announcing itself.
    pub member: PublicIdentity,
    /// Grows with every record the member publishes in this room.
    pub seq: u64,
    /// When the record was made, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Online or offline.
    pub status: Status,
    /// The highest message sequence number the member had used in this
    /// room when it made the record (0 if it has sent none).
    pub last_seq: u64,
}

/// Seals a presence record for `member`, which has sent messages up to
/// `last_seq` in this room.
pub fn seal<R: CryptoRng + ?Sized>(
    context: EpochContext<'_>,
    member: &Identity,
    seq: u64,
    at_ms: u64,
    status: Status,
    last_seq: u64,
    rng: &mut R,
) -> Vec<u8> {
    let record = Presence {
        member: member.public(),
        seq,
        at_ms,
        status,
        last_seq,
    };
    sealed::seal(
        Kind::Presence,
        PRESENCE_LABEL,
        context,
        member,
        &record,
        rng,
    )
}

/// Decrypts and verifies a presence record; the inverse of [`seal`].
pub fn open(context: EpochContext<'_>, bytes: &[u8]) -> Result<Presence, OpenError> {
    sealed::open(
        Kind::Presence,
        PRESENCE_LABEL,
        context,
        bytes,
        |p: &Presence| &p.member,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::MAX_NAME_LEN;
    use crate::protocol::padding;
    use crate::room_id::RoomId;
    use crate::secret::SymmetricKey;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn round_trips_and_hides_name_and_keys() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let alice = Identity::generate("alice", &mut rng).unwrap();
        let room = RoomId([1; 16]);
        let key = SymmetricKey::from_bytes([2; 32]);
        let context = EpochContext {
            room_id: &room,
            epoch: 0,
            key: &key,
        };
        let bytes = seal(context, &alice, 4, 99, Status::Online, 17, &mut rng);
        for needle in [
            &b"alice"[..],
            &alice.public().signing,
            &alice.public().agreement,
        ] {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle));
        }
        let record = open(context, &bytes).unwrap();
        assert_eq!(record.member, alice.public());
        assert_eq!(
            (record.seq, record.at_ms, record.status, record.last_seq),
            (4, 99, Status::Online, 17)
        );
        // A presence record is not a message, and vice versa.
        assert_eq!(
            super::super::message::open(context, &bytes),
            Err(OpenError::WrongKind(Kind::Presence))
        );
    }

    #[test]
    fn records_have_one_length_whatever_the_name_and_numbers() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let room = RoomId([1; 16]);
        let key = SymmetricKey::from_bytes([2; 32]);
        let context = EpochContext {
            room_id: &room,
            epoch: 0,
            key: &key,
        };
        let short = Identity::generate("a", &mut rng).unwrap();
        let longest = Identity::generate(&"z".repeat(MAX_NAME_LEN), &mut rng).unwrap();
        let small = seal(context, &short, 1, 0, Status::Online, 0, &mut rng);
        let large = seal(
            context,
            &longest,
            u64::MAX,
            u64::MAX,
            Status::Offline,
            u64::MAX,
            &mut rng,
        );
        // A 64-byte name (twice today's limit) and the largest numbers: what
        // a longer name limit could put in a record still has the size.
        let roomy = Presence {
            member: PublicIdentity {
                name: "y".repeat(padding::NAME_ROOM),
                ..longest.public()
            },
            seq: u64::MAX,
            at_ms: u64::MAX,
            status: Status::Offline,
            last_seq: u64::MAX,
        };
        let roomiest = sealed::seal(
            Kind::Presence,
            PRESENCE_LABEL,
            context,
            &longest,
            &roomy,
            &mut rng,
        );
        // header 3 | nonce 24 | length 2 | fixed size | tag 16
        let expected = 3 + 24 + 2 + padding::PRESENCE_PADDED_LEN + 16;
        assert_eq!([small.len(), large.len(), roomiest.len()], [expected; 3]);
        assert_eq!(open(context, &small).unwrap().member.name, "a");
        assert_eq!(open(context, &large).unwrap().seq, u64::MAX);
    }

    proptest! {
        #[test]
        fn opening_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let room = RoomId([1; 16]);
            let key = SymmetricKey::from_bytes([2; 32]);
            let context = EpochContext { room_id: &room, epoch: 0, key: &key };
            prop_assert!(open(context, &bytes).is_err());
        }
    }
}
