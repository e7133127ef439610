//! Room state: the room's secret id, its current epoch and key, the members
//! seen so far with their trust level and replay windows, and the derived
//! topic ids. Pure: it decides what a received payload means and what to
//! remember; [`crate::store`] saves it and the transport moves the bytes.

use std::collections::BTreeMap;
use std::fmt;

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};

use crate::crypto;
use crate::identity::{Fingerprint, PublicIdentity};
use crate::invite::Invite;
use crate::protocol::EpochContext;
use crate::protocol::message::{self, Body};
use crate::protocol::presence::Status;
use crate::secret::SymmetricKey;

pub use crate::room_id::{MAX_ROOM_NAME_LEN, RoomId, RoomNameError, validate_room_name};
pub use members::{MAX_MEMBERS, Member, Trust};
pub use names::{Block, Candidate, MIN_PREFIX_DIGITS, NameWarning, short_fingerprint};

use keys::KeyCache;

mod chains;
mod epochs;
mod genesis;
mod handover;
mod joining;
mod keys;
mod log_parts;
mod members;
mod membership;
mod messages;
mod names;
mod parts;
mod past_epochs;
mod presence_records;
mod rotation;

pub use log_parts::{LogParts, MAX_PAST_EPOCHS, PAST_EPOCH_TTL_MS, PastEpoch, UnpublishedCommit};
pub use membership::{CommitRefused, Membership, MembershipChange, Rotation};
pub use parts::{RoomHeader, RoomParts};
pub use rotation::{
    BadRotateAfter, DEFAULT_ROTATE_AFTER_AGE_MS, DEFAULT_ROTATE_AFTER_MESSAGES, RotateAfter,
};

const MESSAGE_TOPIC_LABEL: &str = "sotto/v1/topic/messages";
const ROOM_TOPIC_LABEL: &str = "sotto/v1/topic/room";
const MEMBER_TOPIC_LABEL: &str = "sotto/v1/topic/member";

/// Something the user must be told about while receiving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A key never seen before joined under a fresh name.
    NewMember {
        /// Its name.
        name: String,
        /// Its fingerprint.
        fingerprint: Fingerprint,
        /// How far it is trusted (the inviter's key is, through the invite).
        trust: Trust,
    },
    /// A new key uses a name another key already had, or a look-alike of
    /// it: the member reinstalled, or someone is impersonating them.
    KeyChanged {
        /// The name the new key claims.
        name: String,
        /// The key that had the name (or the look-alike name) first.
        old: Fingerprint,
        /// The new key.
        new: Fingerprint,
        /// Whether a verified key holds the name (then sending is blocked
        /// until the user verifies or accepts the new key).
        was_verified: bool,
        /// The other name, when the new key's name is not the same but
        /// looks the same (same confusable skeleton).
        lookalike_of: Option<String>,
    },
    /// The sender's sequence numbers jumped: messages were lost (the
    /// broker's queue overflowed, or they were dropped).
    Missed {
        /// The sender's name.
        name: String,
        /// How many messages are missing.
        count: u64,
    },
    /// We came back after more rotations, or longer, than senders keep
    /// publishing on the topics of the epoch we were in (see
    /// [`Room::missed_while_away`]).
    AwayTooLong {
        /// How many epochs the room moved on while we were away.
        rotations: u64,
        /// From when messages could not reach us (ms since the Unix epoch).
        from_ms: u64,
        /// Until when (when we caught up).
        to_ms: u64,
    },
}

/// How long after its sender's timestamp a message may arrive before it
/// is marked [`Delivery::delayed`]: two minutes, far above ordinary broker
/// latency and clock drift between members, short enough that a message
/// held back long enough to change its meaning in the conversation shows.
pub const DELAYED_AFTER_MS: u64 = 2 * 60 * 1000;

/// A message that passed every check, ready to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The sender's name (untrusted text: escape before printing).
    pub from: String,
    /// The sender's fingerprint.
    pub fingerprint: Fingerprint,
    /// The sender's trust level.
    pub trust: Trust,
    /// The sender's sequence number.
    pub seq: u64,
    /// When the sender says it was sent.
    pub sent_at_ms: u64,
    /// The text.
    pub body: Body,
    /// Things to tell the user before the message.
    pub notices: Vec<Notice>,
    /// It arrived late: more than [`DELAYED_AFTER_MS`] after the time its
    /// sender gives, or after a later message from the same sender or a
    /// report of it as missed (its number was not above the top of the
    /// sender's replay window). Front ends show the sender's date with it,
    /// so a message the broker held back is not taken for a current one.
    /// Never set on recalled history.
    pub delayed: bool,
    /// Whether the sender's key is a key change or look-alike the user
    /// has neither verified nor accepted.
    pub warning: Option<NameWarning>,
    /// When it was received here (ms since the Unix epoch).
    pub received_ms: u64,
}

/// What a received payload turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received<T> {
    /// From another member, checked.
    Accepted(T),
    /// Our own payload coming back from the broker: not shown again.
    OwnEcho,
}

/// A presence change worth showing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceUpdate {
    /// The member's name.
    pub name: String,
    /// Their fingerprint.
    pub fingerprint: Fingerprint,
    /// Online or offline now.
    pub status: Status,
    /// Whether this changed what we knew.
    pub changed: bool,
    /// Key-change and new-member notices.
    pub notices: Vec<Notice>,
}

/// Why a local room operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    /// A key claims a verified name (or a look-alike of it); the user must
    /// verify or accept that key first.
    #[error("{0}")]
    SendBlocked(Block),
    /// The text is too long for one message.
    #[error(transparent)]
    Seal(#[from] message::SealError),
    /// No member by that name or fingerprint prefix.
    #[error(
        "no member called {0:?} in this room (give a member's name, or at least 8 digits of a fingerprint)"
    )]
    UnknownMember(String),
    /// A membership change on a room without a membership log.
    #[error(
        "this room has no membership log, so nobody can be removed from it; its creator can add one with `sotto room upgrade ROOM`"
    )]
    NoLog,
    /// The log refused our own change.
    #[error(transparent)]
    Log(#[from] crate::log::LogError),
    /// We are not (or no longer) a member.
    #[error("you are not a member of this room ({0})")]
    NotAMember(String),
    /// A name several keys share, or digits that fit several: the user
    /// must say which key.
    #[error("{}", names::ambiguous_text(typed, candidates))]
    AmbiguousMember {
        /// What the user typed.
        typed: String,
        /// Every key it could mean.
        candidates: Vec<Candidate>,
    },
    /// The typed fingerprint does not match the member's key.
    #[error("the fingerprint does not match {0}'s key; do not trust this key")]
    FingerprintMismatch(String),
    /// A room without a log knows too many members to list them all in
    /// one genesis commit.
    #[error(
        "this room knows {0} keys, too many to list in one commit; create a room with a log and invite the members again"
    )]
    TooManyToList(usize),
    /// We hold no sending chain for the room's epoch: a room made by a
    /// preview of sotto before messages had chains.
    #[error(
        "this room has no key chain of yours for epoch {0} (it was made by an earlier preview of sotto); create the room again"
    )]
    NoChain(u64),
}

/// One room as this member sees it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    name: String,
    id: RoomId,
    epoch: u64,
    #[serde(with = "stored_key")]
    epoch_key: SymmetricKey,
    own: Fingerprint,
    inviter: Option<Fingerprint>,
    created_ms: u64,
    next_seq: u64,
    members: BTreeMap<Fingerprint, Member>,
    /// Keys claiming a verified name (or a look-alike), each blocking
    /// sending until the user verifies or accepts it (see `names.rs`).
    #[serde(default)]
    blocks: Vec<Block>,
    /// Rooms saved before blocks were per key listed names here; turned
    /// into `blocks` when taken apart or put together.
    #[serde(
        default,
        rename = "blocked_by",
        skip_serializing_if = "Option::is_none"
    )]
    legacy_blocked: Option<Vec<String>>,
    /// Members' decompressed signing keys: derived, never saved.
    #[serde(skip)]
    keys: KeyCache,
    /// The membership log and the epochs around it.
    #[serde(default)]
    log: LogParts,
    /// Members' name skeletons: derived, never saved.
    #[serde(skip)]
    skeletons: names::Skeletons,
}

impl fmt::Debug for Room {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Room")
            .field("name", &self.name)
            .field("id", &self.id)
            .field("epoch", &self.epoch)
            .field("members", &self.members.len())
            .finish_non_exhaustive()
    }
}

impl Room {
    /// A new room with a fresh id and key, with `me` as its only member.
    pub fn create<R: CryptoRng + ?Sized>(
        name: &str,
        me: &PublicIdentity,
        now_ms: u64,
        rng: &mut R,
    ) -> Result<Self, RoomNameError> {
        validate_room_name(name)?;
        Ok(Self::with_keys(
            name,
            RoomId::random(rng),
            0,
            SymmetricKey::random(rng),
            me,
            None,
            now_ms,
        ))
    }

    /// The room an invite describes, as joined by `me` under `local_name`.
    pub fn join(
        invite: &Invite,
        local_name: &str,
        me: &PublicIdentity,
        now_ms: u64,
    ) -> Result<Self, RoomNameError> {
        validate_room_name(local_name)?;
        let mut room = Self::with_keys(
            local_name,
            invite.room_id,
            invite.epoch,
            invite.epoch_key.clone(),
            me,
            Some(invite.inviter),
            now_ms,
        );
        if let Some(grant) = &invite.grant {
            room.start_joining(grant);
        }
        Ok(room)
    }

    fn with_keys(
        name: &str,
        id: RoomId,
        epoch: u64,
        epoch_key: SymmetricKey,
        me: &PublicIdentity,
        inviter: Option<Fingerprint>,
        now_ms: u64,
    ) -> Self {
        let own = me.fingerprint();
        let mut members = BTreeMap::new();
        members.insert(own, Member::new(me.clone(), now_ms, Trust::Own));
        Self {
            name: name.to_owned(),
            id,
            epoch,
            epoch_key,
            own,
            inviter,
            created_ms: now_ms,
            next_seq: 1,
            members,
            blocks: Vec::new(),
            legacy_blocked: None,
            keys: KeyCache::default(),
            log: LogParts::default(),
            skeletons: Default::default(),
        }
    }

    /// The local name of the room.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The room's secret id.
    pub fn id(&self) -> &RoomId {
        &self.id
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// When this member created or joined the room.
    pub fn created_ms(&self) -> u64 {
        self.created_ms
    }

    /// Members by fingerprint, ourselves included.
    pub fn members(&self) -> &BTreeMap<Fingerprint, Member> {
        &self.members
    }

    /// Our own fingerprint in this room.
    pub fn own_fingerprint(&self) -> Fingerprint {
        self.own
    }

    /// The keys payloads of the current epoch are sealed under.
    pub fn context(&self) -> EpochContext<'_> {
        EpochContext {
            room_id: &self.id,
            epoch: self.epoch,
            key: &self.epoch_key,
        }
    }

    /// An invite to the current epoch, made by `me`.
    pub fn invite(&self) -> Invite {
        Invite {
            room_id: self.id,
            epoch: self.epoch,
            epoch_key: self.epoch_key.clone(),
            room_name: self.name.clone(),
            inviter: self.own,
            grant: None,
        }
    }

    /// Whether an invite is for this room (any epoch).
    pub fn is_same_room(&self, invite: &Invite) -> bool {
        self.id == invite.room_id
    }

    /// The opaque topic segment for this epoch's messages and presence:
    /// derived from the epoch key, so it changes when the key rotates and
    /// a removed member can no longer even find the traffic.
    pub fn epoch_topic_id(&self) -> String {
        epoch_topic_id(self.context())
    }

    /// The opaque topic segment of the room's first epoch that is not
    /// derived from an epoch key: kept only to read key slots an older
    /// sotto left.
    pub fn room_topic_id(&self) -> String {
        let mut id = [0u8; 16];
        crypto::derive_into(&self.id.0, &[], ROOM_TOPIC_LABEL, &[], &mut id);
        crate::hex::encode(&id)
    }

    /// A member's opaque id inside this epoch's topics: different in every
    /// room and every epoch, so the broker cannot link one person across
    /// rooms by it, and a removed member cannot recognise anyone's new id.
    pub fn member_topic_id(&self, member: &Fingerprint) -> String {
        member_topic_id(self.context(), member)
    }
}

/// The topic segment of an epoch (see [`Room::epoch_topic_id`]).
pub fn epoch_topic_id(context: EpochContext<'_>) -> String {
    let mut id = [0u8; 16];
    crypto::derive_into(
        context.key.as_bytes(),
        &context.room_id.0,
        MESSAGE_TOPIC_LABEL,
        &context.epoch.to_be_bytes(),
        &mut id,
    );
    crate::hex::encode(&id)
}

/// A member's id in an epoch's topics (see [`Room::member_topic_id`]).
pub fn member_topic_id(context: EpochContext<'_>, member: &Fingerprint) -> String {
    let mut id = [0u8; 8];
    let mut info = context.epoch.to_be_bytes().to_vec();
    info.extend_from_slice(&member.0);
    crypto::derive_into(
        context.key.as_bytes(),
        &context.room_id.0,
        MEMBER_TOPIC_LABEL,
        &info,
        &mut id,
    );
    crate::hex::encode(&id)
}

mod stored_key {
    //! Epoch keys in the room's state file (which is written 0600).

    use serde::{Deserializer, Serializer};

    use crate::secret::SymmetricKey;

    pub fn serialize<S: Serializer>(key: &SymmetricKey, serializer: S) -> Result<S::Ok, S::Error> {
        crate::hex::array::serialize(key.as_bytes(), serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<SymmetricKey, D::Error> {
        let mut bytes: [u8; 32] = crate::hex::array::deserialize(deserializer)?;
        let key = SymmetricKey::from_bytes(bytes);
        zeroize::Zeroize::zeroize(&mut bytes);
        Ok(key)
    }
}

#[cfg(test)]
mod tests;
