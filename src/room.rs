//! Room state: the room's secret id, its current epoch and key, the members
//! seen so far with their trust level and replay windows, and the derived
//! topic ids. Pure: it decides what a received payload means and what to
//! remember; [`crate::store`] saves it and the transport moves the bytes.

use std::collections::BTreeMap;
use std::fmt;

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};

use crate::crypto;
use crate::identity::{Fingerprint, Identity, PublicIdentity};
use crate::invite::Invite;
use crate::protocol::message::{self, Body, Message, SeqRange};
use crate::protocol::presence::{self, Status};
use crate::protocol::{EpochContext, OpenError};
use crate::replay::ReplayError;
use crate::secret::SymmetricKey;

pub use crate::room_id::{MAX_ROOM_NAME_LEN, RoomId, RoomNameError, validate_room_name};
pub use members::{MAX_MEMBERS, Member, Trust};
pub use names::{Block, Candidate, MIN_PREFIX_DIGITS, NameWarning, short_fingerprint};

use keys::{KeyCache, SignerKey};

mod epochs;
mod genesis;
mod handover;
mod joining;
mod keys;
mod log_parts;
mod members;
mod membership;
mod names;
mod parts;

pub use log_parts::{LogParts, MAX_PAST_EPOCHS, PAST_EPOCH_TTL_MS, PastEpoch};
pub use membership::{CommitRefused, Membership, MembershipChange, Rotation};
pub use parts::{RoomHeader, RoomParts};

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
        "this room has no membership log, so nobody can be removed from it; a room made with `sotto room create NAME --log` has one"
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

    /// Seals a message from us, taking the next sequence number. Save the
    /// room before publishing so a crash never reuses a number.
    pub fn seal_message<R: CryptoRng + ?Sized>(
        &mut self,
        me: &Identity,
        body: Body,
        now_ms: u64,
        rng: &mut R,
    ) -> Result<Vec<u8>, RoomError> {
        let bytes = self.seal_numbered(me, self.next_seq, &[], body, now_ms, rng)?;
        self.next_seq += 1;
        Ok(bytes)
    }

    /// Seals a message from us numbered `seq`, declaring the numbers in
    /// `skipped` as allocated and never to be sent (sorted, disjoint
    /// ranges below `seq`, at most
    /// [`MAX_SKIPPED_RANGES`](message::MAX_SKIPPED_RANGES)), so receivers
    /// do not report them as missed.
    ///
    /// For a caller that allocates numbers itself (from a counter shared
    /// by every process of a home): this does not read or move the room's
    /// own next number. Sending is still refused while a verified key
    /// change is unacknowledged.
    pub fn seal_numbered<R: CryptoRng + ?Sized>(
        &self,
        me: &Identity,
        seq: u64,
        skipped: &[SeqRange],
        body: Body,
        now_ms: u64,
        rng: &mut R,
    ) -> Result<Vec<u8>, RoomError> {
        if let Some(block) = self.blocks.first() {
            return Err(RoomError::SendBlocked(block.clone()));
        }
        if let Some(by) = self.removed_by() {
            return Err(RoomError::NotAMember(format!("removed by {by}")));
        }
        if self.is_joining() {
            return Err(RoomError::NotAMember(
                "the invite has not been redeemed yet".into(),
            ));
        }
        Ok(message::seal_numbered(
            self.context(),
            me,
            seq,
            skipped,
            now_ms,
            body,
            rng,
        )?)
    }

    /// Seals our presence record with sequence number `seq`, announcing the
    /// last message sequence number we have used so others can tell what
    /// they missed.
    ///
    /// The caller picks `seq` so that each connection's "online" record
    /// sorts before its last-will "offline" record, and both after every
    /// earlier connection's (see `session.rs`).
    pub fn seal_presence<R: CryptoRng + ?Sized>(
        &self,
        me: &Identity,
        status: Status,
        seq: u64,
        now_ms: u64,
        rng: &mut R,
    ) -> Vec<u8> {
        let last_seq = self.next_seq.saturating_sub(1);
        self.seal_presence_announcing(me, status, seq, last_seq, now_ms, rng)
    }

    /// Like [`seal_presence`](Self::seal_presence), announcing `last_seq`
    /// as the last message number used, for callers that number messages
    /// themselves ([`seal_numbered`](Self::seal_numbered)).
    ///
    /// Announce the highest number actually sent, not merely allocated: a
    /// receiver reports every announced number it has not received as
    /// missed ([`overdue_gaps`](Self::overdue_gaps)), before the next
    /// message could declare an abandoned one skipped.
    pub fn seal_presence_announcing<R: CryptoRng + ?Sized>(
        &self,
        me: &Identity,
        status: Status,
        seq: u64,
        last_seq: u64,
        now_ms: u64,
        rng: &mut R,
    ) -> Vec<u8> {
        presence::seal(self.context(), me, seq, now_ms, status, last_seq, rng)
    }

    /// Checks a received message and records what it teaches us.
    ///
    /// On error nothing is changed, so a forged or replayed payload cannot
    /// alter the room's state.
    pub fn receive_message(
        &mut self,
        bytes: &[u8],
        now_ms: u64,
    ) -> Result<Received<Delivery>, OpenError> {
        let unverified = message::open_unverified(self.context_of_payload(bytes), bytes)?;
        let signer = self.keys.resolve(&unverified.content.sender)?;
        let message = unverified.verify(&signer.key)?;
        self.accept_verified(message, signer, now_ms)
    }

    /// Checks many received messages at once, as catch-up after being
    /// away delivers them: one result per payload, in order, each exactly
    /// what [`receive_message`](Self::receive_message) would have given
    /// for it after the ones before it, and the room left in the same
    /// state.
    ///
    /// Faster than one by one: signatures are checked in batches (see
    /// [`crate::protocol`]'s `verify_many`); decryption and every rule that
    /// depends on the room (own echo, membership, replay window) still run
    /// per payload, in order.
    pub fn receive_batch<P: AsRef<[u8]>>(
        &mut self,
        payloads: &[P],
        now_ms: u64,
    ) -> Vec<Result<Received<Delivery>, OpenError>> {
        let mut fresh = keys::Fresh::new();
        let opened: Vec<_> = payloads
            .iter()
            .map(|payload| {
                let context = self.context_of_payload(payload.as_ref());
                let unverified = message::open_unverified(context, payload.as_ref())?;
                let signer = self
                    .keys
                    .resolve_in(&unverified.content.sender, &mut fresh)?;
                Ok((unverified, signer))
            })
            .collect();
        crate::protocol::verify_many(opened, |signer: &SignerKey| &signer.key)
            .into_iter()
            .map(|verified| {
                let (message, signer) = verified?;
                self.accept_verified(message, signer, now_ms)
            })
            .collect()
    }

    /// Applies the room's rules to a message whose signature has been
    /// checked: own echo, admission of the sender, replay window.
    fn accept_verified(
        &mut self,
        message: Message,
        signer: SignerKey,
        now_ms: u64,
    ) -> Result<Received<Delivery>, OpenError> {
        let fingerprint = signer.fingerprint;
        if self.is_own(&fingerprint) {
            self.keys.remember(&message.sender, signer, &self.members);
            return Ok(Received::OwnEcho);
        }
        let admission = self.admit(&message.sender, fingerprint, now_ms)?;
        let mut window = self
            .members
            .get(&fingerprint)
            .map(|m| m.replay.clone())
            .unwrap_or_default();
        // Judged before accepting moves the top. A number at or below it
        // that the window still accepts is late: a later message from this
        // sender came first, or its gap was already reported (the top was
        // moved to a number announced but never received).
        let delayed = message.seq <= window.highest()
            || now_ms.saturating_sub(message.sent_at_ms) > DELAYED_AFTER_MS;
        // A member who joined after us numbers from 1 in our sight: the
        // log says where their numbering starts, so a first message above
        // 1 shows that earlier ones were held back.
        let withheld = if window.highest() == 0 && self.joined_after_us(&fingerprint) {
            let excused: u64 = (message.skipped.iter())
                .map(|range| range.count_within(1, message.seq.saturating_sub(1)))
                .sum();
            message.seq.saturating_sub(1).saturating_sub(excused)
        } else {
            0
        };
        let accepted = window
            .accept_declaring(message.seq, &message.skipped)
            .map_err(|err| match err {
                ReplayError::Duplicate(seq) => OpenError::Replayed(seq),
                ReplayError::TooOld(seq) => OpenError::Stale(seq),
                ReplayError::Zero => OpenError::Malformed,
            })?;
        let mut notices = self.commit_admission(admission, now_ms);
        let member = self.members.entry(fingerprint).or_insert_with(|| {
            // commit_admission always inserts new members; this is a
            // fallback that keeps the function total.
            Member::new(message.sender.clone(), now_ms, Trust::Tofu)
        });
        member.replay = window;
        member.last_seen_ms = now_ms;
        if accepted.skipped + withheld > 0 {
            notices.push(Notice::Missed {
                name: member.identity.name.clone(),
                count: accepted.skipped + withheld,
            });
        }
        let delivery = Delivery {
            from: member.identity.name.clone(),
            fingerprint,
            trust: member.trust,
            seq: message.seq,
            sent_at_ms: message.sent_at_ms,
            body: message.body,
            notices,
            delayed,
            warning: self.name_warning(&fingerprint),
            received_ms: now_ms,
        };
        self.keys.remember(&message.sender, signer, &self.members);
        Ok(Received::Accepted(delivery))
    }

    /// Checks a received presence record and updates the member's status.
    ///
    /// `topic_member_id` is the last segment of the topic the record came
    /// on (`…/p/<member-id>`, see
    /// [`RoomTopics::presence_member_id`](crate::topics::RoomTopics::presence_member_id)).
    /// A record is only accepted on its signer's own topic: each member
    /// then owns exactly one retained slot, and nobody can plant records
    /// on topics of their choosing. On error nothing is changed.
    pub fn receive_presence(
        &mut self,
        bytes: &[u8],
        topic_member_id: &str,
        now_ms: u64,
    ) -> Result<Received<PresenceUpdate>, OpenError> {
        let record = presence::open(self.context(), bytes)?;
        let fingerprint = record.member.fingerprint();
        if self.member_topic_id(&fingerprint) != topic_member_id {
            return Err(OpenError::WrongTopic);
        }
        if self.is_own(&fingerprint) {
            return Ok(Received::OwnEcho);
        }
        let admission = self.admit(&record.member, fingerprint, now_ms)?;
        if let Some(known) = self.members.get(&fingerprint)
            && record.seq <= known.presence_seq
        {
            return Err(OpenError::OutdatedPresence(record.seq));
        }
        let notices = self.commit_admission(admission, now_ms);
        let online = record.status == Status::Online;
        let member = self
            .members
            .entry(fingerprint)
            .or_insert_with(|| Member::new(record.member.clone(), now_ms, Trust::Tofu));
        let changed = member.online != online || member.presence_seq == 0;
        member.epoch_seen = member.epoch_seen.max(self.epoch);
        member.online = online;
        member.presence_seq = record.seq;
        member.last_seen_ms = now_ms;
        // Not a gap yet: retained presence often overtakes the messages the
        // broker queued for us, so only remember the claim here and judge
        // it in `overdue_gaps` once the queue has drained.
        if record.last_seq > member.replay.highest() {
            member.announced_seq = member.announced_seq.max(record.last_seq);
        }
        Ok(Received::Accepted(PresenceUpdate {
            name: member.identity.name.clone(),
            fingerprint,
            status: record.status,
            changed,
            notices,
        }))
    }

    /// Reports the messages members announced (through the `last_seq` of
    /// their presence records) that never reached us, one
    /// [`Notice::Missed`] per member, and moves their replay windows past
    /// the gap so it is never reported again.
    ///
    /// Call it once caught up, after the broker has delivered what it
    /// queued for us: before that, a gap may only mean the messages are
    /// still on their way. Messages inside the gap that turn up later are
    /// still accepted and shown once while the replay window covers them
    /// (like any late arrival after a reported gap); a message above the
    /// announced number is judged against it, so nothing is counted twice.
    ///
    /// A member we have never received a message from has no gap: their
    /// announced number is taken as the starting point, as their first
    /// message would be, since what they sent before we joined was never
    /// meant to reach us.
    pub fn overdue_gaps(&mut self) -> Vec<Notice> {
        let mut notices = Vec::new();
        let newcomers: Vec<Fingerprint> = (self.members.keys())
            .filter(|fingerprint| self.joined_after_us(fingerprint))
            .copied()
            .collect();
        for (fingerprint, member) in &mut self.members {
            let top = member.replay.highest();
            if *fingerprint == self.own || member.announced_seq <= top {
                continue;
            }
            let count = member.replay.skip_to(member.announced_seq);
            // Someone who joined after us numbers from 1 in our sight, so
            // even their first messages are counted when they never came.
            if (top > 0 || newcomers.contains(fingerprint)) && count > 0 {
                notices.push(Notice::Missed {
                    name: member.identity.name.clone(),
                    count,
                });
            }
        }
        notices
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
