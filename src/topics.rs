//! The MQTT topics of a room: all the broker learns about its structure.
//!
//! ```text
//! <prefix>/<epoch-topic>/m              messages (never retained)
//! <prefix>/<epoch-topic>/p/<member-id>  presence (retained; last will = offline)
//! <prefix>/<room-topic>/k/<member-id>   the newest epoch key sealed to a member (retained)
//! ```
//!
//! The ids are HKDF outputs (see [`Room::epoch_topic_id`] and friends):
//! no room names, member names or keys appear in any topic.

use crate::identity::Fingerprint;
use crate::room::Room;

/// The topic prefix used unless configured otherwise.
pub const DEFAULT_PREFIX: &str = "sotto/v1";

/// What a topic carries, for routing incoming publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicKind {
    /// The room's message topic.
    Messages,
    /// A member's presence topic.
    Presence,
    /// Our own key slot.
    KeySlot,
    /// Not one of this room's topics.
    Other,
}

/// The topics one member uses in one room (for the room's current epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomTopics {
    /// Where messages are published.
    pub messages: String,
    /// Filter matching every member's presence.
    pub presence_filter: String,
    /// Where our own presence goes.
    pub own_presence: String,
    /// Where a rotating member leaves the next epoch key for us.
    pub own_key_slot: String,
    presence_prefix: String,
    key_slot_prefix: String,
}

impl RoomTopics {
    /// The topics of `room`'s current epoch under `prefix`.
    pub fn new(prefix: &str, room: &Room) -> Self {
        let prefix = prefix.trim_end_matches('/');
        let epoch_base = format!("{prefix}/{}", room.epoch_topic_id());
        let room_base = format!("{prefix}/{}", room.room_topic_id());
        let own = room.member_topic_id(&room.own_fingerprint());
        Self {
            messages: format!("{epoch_base}/m"),
            presence_filter: format!("{epoch_base}/p/+"),
            own_presence: format!("{epoch_base}/p/{own}"),
            own_key_slot: format!("{room_base}/k/{own}"),
            presence_prefix: format!("{epoch_base}/p/"),
            key_slot_prefix: format!("{room_base}/k/"),
        }
    }

    /// Where the key slot of another member is (for rotation).
    pub fn key_slot_of(&self, room: &Room, member: &Fingerprint) -> String {
        format!("{}{}", self.key_slot_prefix, room.member_topic_id(member))
    }

    /// What to subscribe to.
    pub fn subscriptions(&self) -> Vec<String> {
        vec![
            self.messages.clone(),
            self.presence_filter.clone(),
            self.own_key_slot.clone(),
        ]
    }

    /// Which of this room's topics `topic` is.
    pub fn classify(&self, topic: &str) -> TopicKind {
        if topic == self.messages {
            TopicKind::Messages
        } else if topic == self.own_key_slot {
            TopicKind::KeySlot
        } else if self.presence_member_id(topic).is_some() {
            TopicKind::Presence
        } else {
            TopicKind::Other
        }
    }

    /// The member-id segment of one of this room's presence topics
    /// (`…/p/<member-id>`), or `None` for any other topic. A presence
    /// record is only believed on its signer's own topic, so the receiver
    /// needs this to check it (see [`Room::receive_presence`]).
    pub fn presence_member_id<'t>(&self, topic: &'t str) -> Option<&'t str> {
        topic
            .strip_prefix(&self.presence_prefix)
            .filter(|id| !id.is_empty() && !id.contains('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn topics_are_classified_and_carry_no_names() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let alice = Identity::generate("alice", &mut rng).unwrap();
        let room = Room::create("ops", &alice.public(), 0, &mut rng).unwrap();
        let topics = RoomTopics::new("sotto/v1/", &room);
        for topic in topics.subscriptions() {
            assert!(topic.starts_with("sotto/v1/"), "{topic}");
            assert!(
                !topic.contains("ops") && !topic.contains("alice"),
                "{topic}"
            );
        }
        assert_eq!(topics.classify(&topics.messages), TopicKind::Messages);
        assert_eq!(topics.classify(&topics.own_presence), TopicKind::Presence);
        assert_eq!(topics.classify(&topics.own_key_slot), TopicKind::KeySlot);
        assert_eq!(topics.classify("sotto/v1/x/m"), TopicKind::Other);
        let nested = format!("{}/extra", topics.own_presence);
        assert_eq!(topics.classify(&nested), TopicKind::Other);
    }

    #[test]
    fn the_member_id_of_a_presence_topic_is_its_last_segment() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let alice = Identity::generate("alice", &mut rng).unwrap();
        let room = Room::create("ops", &alice.public(), 0, &mut rng).unwrap();
        let topics = RoomTopics::new("sotto/v1", &room);
        let own = room.member_topic_id(&alice.fingerprint());
        assert_eq!(
            topics.presence_member_id(&topics.own_presence),
            Some(own.as_str())
        );
        let other = topics.own_presence.replace(&own, "0011223344556677");
        assert_eq!(topics.presence_member_id(&other), Some("0011223344556677"));
        let nested = format!("{}/extra", topics.own_presence);
        let empty = topics.own_presence.replace(&own, "");
        for topic in [&topics.messages, &topics.own_key_slot, &nested, &empty] {
            assert_eq!(topics.presence_member_id(topic), None, "{topic}");
        }
    }
}
