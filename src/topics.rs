//! The MQTT topics of a room: all the broker learns about its structure.
//!
//! ```text
//! <prefix>/<epoch-topic>/m              messages (never retained)
//! <prefix>/<epoch-topic>/p/<member-id>  presence (retained; last will = offline)
//! <prefix>/<epoch-topic>/k/<member-id>  the next epoch's key sealed to a member (retained)
//! <prefix>/<epoch-topic>/c/<member-id>  commits that leave this epoch, by committer (retained)
//! <prefix>/<epoch-topic>/s              the membership log's state, for joiners (retained)
//! ```
//!
//! Every id is an HKDF output under the epoch's key (see
//! [`Room::epoch_topic_id`] and [`Room::member_topic_id`]): no room names,
//! member names or keys appear in any topic, and all of them change with
//! the epoch, so a removed member cannot tell which new topics belong to
//! the room. A session also listens to the message and commit topics of
//! the past epochs whose keys it keeps, for messages sent before their
//! sender saw a commit and for concurrent commits.

use crate::identity::Fingerprint;
use crate::protocol::EpochContext;
use crate::room::{Room, epoch_topic_id, member_topic_id};

/// The topic prefix used unless configured otherwise.
pub const DEFAULT_PREFIX: &str = "sotto/v1";

/// What a topic carries, for routing incoming publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicKind {
    /// A message topic (current or past epoch).
    Messages,
    /// A member's presence topic.
    Presence,
    /// Our own key slot.
    KeySlot,
    /// A commit topic.
    Commit,
    /// The log state record.
    State,
    /// A join request.
    Request,
    /// Not one of this room's topics.
    Other,
}

/// The topics of one epoch, as seen by one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochTopics {
    /// The epoch.
    pub epoch: u64,
    /// Where messages are published.
    pub messages: String,
    /// Filter matching every member's presence.
    pub presence_filter: String,
    /// Where our own presence goes.
    pub own_presence: String,
    /// Where a committer leaves the next epoch's key for us.
    pub own_key_slot: String,
    /// Filter matching every commit leaving this epoch.
    pub commit_filter: String,
    /// Where our own commits leaving this epoch go.
    pub own_commit: String,
    /// Where the log state of this epoch is kept for joiners.
    pub state: String,
    /// Filter matching every join request made with an invite of this
    /// epoch.
    pub request_filter: String,
    /// Where our own join request goes.
    pub own_request: String,
    base: String,
}

impl EpochTopics {
    /// The topics of the epoch in `context` for the member `own`.
    pub fn new(prefix: &str, context: EpochContext<'_>, own: &Fingerprint) -> Self {
        let prefix = prefix.trim_end_matches('/');
        let base = format!("{prefix}/{}", epoch_topic_id(context));
        let own = member_topic_id(context, own);
        Self {
            epoch: context.epoch,
            messages: format!("{base}/m"),
            presence_filter: format!("{base}/p/+"),
            own_presence: format!("{base}/p/{own}"),
            own_key_slot: format!("{base}/k/{own}"),
            commit_filter: format!("{base}/c/+"),
            own_commit: format!("{base}/c/{own}"),
            state: format!("{base}/s"),
            request_filter: format!("{base}/j/+"),
            own_request: format!("{base}/j/{own}"),
            base,
        }
    }

    /// Where another member's join request is in this epoch.
    pub fn request_of(&self, context: EpochContext<'_>, member: &Fingerprint) -> String {
        format!("{}/j/{}", self.base, member_topic_id(context, member))
    }

    /// Where the key slot of another member is in this epoch.
    pub fn key_slot_of(&self, context: EpochContext<'_>, member: &Fingerprint) -> String {
        format!("{}/k/{}", self.base, member_topic_id(context, member))
    }

    fn member_segment<'t>(&self, topic: &'t str, kind: &str) -> Option<&'t str> {
        topic
            .strip_prefix(self.base.as_str())
            .and_then(|rest| rest.strip_prefix(kind))
            .filter(|id| !id.is_empty() && !id.contains('/'))
    }
}

/// The topics one member uses in one room: the current epoch's, and the
/// message and commit topics of the past epochs whose keys are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomTopics {
    /// The current epoch's topics.
    pub current: EpochTopics,
    /// Past epochs still listened to.
    pub past: Vec<EpochTopics>,
    /// Where messages are published (the current epoch's).
    pub messages: String,
    /// Filter matching every member's presence.
    pub presence_filter: String,
    /// Where our own presence goes.
    pub own_presence: String,
    /// Where a committer leaves the next epoch key for us.
    pub own_key_slot: String,
}

impl RoomTopics {
    /// The topics of `room` under `prefix`.
    pub fn new(prefix: &str, room: &Room) -> Self {
        let own = room.own_fingerprint();
        let current = EpochTopics::new(prefix, room.context(), &own);
        let past = room
            .past_epochs()
            .iter()
            .filter_map(|past| room.context_for(past.epoch))
            .map(|context| EpochTopics::new(prefix, context, &own))
            .collect();
        Self {
            messages: current.messages.clone(),
            presence_filter: current.presence_filter.clone(),
            own_presence: current.own_presence.clone(),
            own_key_slot: current.own_key_slot.clone(),
            current,
            past,
        }
    }

    /// The topics of a kept epoch.
    pub fn of_epoch(&self, epoch: u64) -> Option<&EpochTopics> {
        std::iter::once(&self.current)
            .chain(&self.past)
            .find(|topics| topics.epoch == epoch)
    }

    /// The retained records of the epochs `before` kept and `after` no
    /// longer does (a commit moved the room past them) that nobody needs
    /// any more: every member's presence and join request there, and the
    /// log state. A member who rotates clears them (an empty retained
    /// payload on each). Commits and key slots stay: they are the path a
    /// member away since that epoch takes to the current one.
    pub fn forgotten_retained(prefix: &str, before: &Room, after: &Room) -> Vec<String> {
        let kept = |room: &Room, epoch: u64| room.context_for(epoch).is_some();
        let epochs = std::iter::once(before.epoch())
            .chain(before.past_epochs().iter().map(|past| past.epoch))
            .filter(|epoch| !kept(after, *epoch));
        let mut topics = Vec::new();
        for epoch in epochs {
            let Some(context) = before.context_for(epoch) else {
                continue;
            };
            let base = format!(
                "{}/{}",
                prefix.trim_end_matches('/'),
                epoch_topic_id(context)
            );
            topics.push(format!("{base}/s"));
            for member in before.members().keys() {
                let id = member_topic_id(context, member);
                for kind in ["p", "j"] {
                    topics.push(format!("{base}/{kind}/{id}"));
                }
            }
        }
        topics
    }

    /// Where the key slot of another member is (current epoch).
    pub fn key_slot_of(&self, room: &Room, member: &Fingerprint) -> String {
        self.current.key_slot_of(room.context(), member)
    }

    /// What to subscribe to: everything of the current epoch, and the
    /// messages and commits of past ones.
    pub fn subscriptions(&self) -> Vec<String> {
        let mut all = vec![
            self.current.messages.clone(),
            self.current.presence_filter.clone(),
            self.current.own_key_slot.clone(),
            self.current.commit_filter.clone(),
            self.current.request_filter.clone(),
        ];
        for past in &self.past {
            all.push(past.messages.clone());
            all.push(past.commit_filter.clone());
            all.push(past.request_filter.clone());
        }
        all
    }

    /// Which of this room's topics `topic` is.
    pub fn classify(&self, topic: &str) -> TopicKind {
        // Our slots on past epochs' topics too: a member back after
        // several rotations finds the later ones there.
        if std::iter::once(&self.current)
            .chain(&self.past)
            .any(|epoch| topic == epoch.own_key_slot)
        {
            return TopicKind::KeySlot;
        }
        if topic == self.current.state {
            return TopicKind::State;
        }
        if self.presence_member_id(topic).is_some() {
            return TopicKind::Presence;
        }
        for epoch in std::iter::once(&self.current).chain(&self.past) {
            if topic == epoch.messages {
                return TopicKind::Messages;
            }
            if epoch.member_segment(topic, "/c/").is_some() {
                return TopicKind::Commit;
            }
            if epoch.member_segment(topic, "/j/").is_some() {
                return TopicKind::Request;
            }
        }
        TopicKind::Other
    }

    /// Whether `topic` is a past epoch's message topic (a copy there of a
    /// message we may already have had is not worth a warning).
    pub fn is_past_messages(&self, topic: &str) -> bool {
        self.past.iter().any(|past| past.messages == topic)
    }

    /// The member-id segment of one of this room's presence topics
    /// (`…/p/<member-id>`), or `None` for any other topic. A presence
    /// record is only believed on its signer's own topic, so the receiver
    /// needs this to check it (see [`Room::receive_presence`]).
    pub fn presence_member_id<'t>(&self, topic: &'t str) -> Option<&'t str> {
        self.current.member_segment(topic, "/p/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::log::Change;
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
        assert_eq!(
            topics.classify(&topics.current.own_commit),
            TopicKind::Commit
        );
        assert_eq!(topics.classify(&topics.current.state), TopicKind::State);
        assert_eq!(topics.classify("sotto/v1/x/m"), TopicKind::Other);
        let nested = format!("{}/extra", topics.own_presence);
        assert_eq!(topics.classify(&nested), TopicKind::Other);
    }

    #[test]
    fn every_topic_and_member_id_changes_with_the_epoch() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let alice = Identity::generate("alice", &mut rng).unwrap();
        let mut room = Room::found("ops", &alice, 0, &mut rng).unwrap();
        let before = RoomTopics::new("sotto/v1", &room);
        room.make_commit(&alice, Change::Rotate, 1, &mut rng)
            .unwrap();
        let after = RoomTopics::new("sotto/v1", &room);
        let old: Vec<&str> = [
            &before.current.messages,
            &before.current.own_presence,
            &before.current.own_key_slot,
            &before.current.own_commit,
        ]
        .iter()
        .flat_map(|t| t.split('/'))
        .filter(|segment| segment.len() >= 16)
        .collect();
        for topic in [
            &after.current.messages,
            &after.current.own_presence,
            &after.current.own_key_slot,
            &after.current.own_commit,
        ] {
            for segment in topic.split('/') {
                assert!(!old.contains(&segment), "{segment} survived the rotation");
            }
        }
        // The old epoch's messages are still listened to.
        assert_eq!(after.classify(&before.messages), TopicKind::Messages);
        assert!(after.is_past_messages(&before.messages));
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
