//! The state the log leads to (who is in the room, who is an admin, how
//! often each invite was used) and the rules a commit must pass to follow
//! the head.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::commit::{Change, CommitHash, SignedCommit};
use crate::crypto;
use crate::identity::{Fingerprint, PublicIdentity};
use crate::room_id::RoomId;
use crate::secret::SymmetricKey;

/// The most members a room's log admits. Each rotation seals one key slot
/// per member, and the member list must reach joiners through the broker.
pub const MAX_ROSTER: usize = 1024;

const ROSTER_HASH_LABEL: &[u8] = b"sotto/v1/roster-hash";
const STATE_HASH_LABEL: &[u8] = b"sotto/v1/log-state-hash";
const RANK_LABEL: &str = "sotto/v1/commit-rank";

/// One member as the log admitted them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterEntry {
    /// Their public identity: the name is bound to these keys by the
    /// commit that admitted them.
    pub identity: PublicIdentity,
    /// Whether they may remove members and grant admin.
    pub admin: bool,
    /// The epoch their membership began.
    pub since_epoch: u64,
}

/// Who is in the room, by fingerprint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roster {
    members: BTreeMap<Fingerprint, RosterEntry>,
}

impl Roster {
    /// A roster of the given entries.
    pub fn from_entries(entries: impl IntoIterator<Item = RosterEntry>) -> Self {
        Self {
            members: entries
                .into_iter()
                .map(|entry| (entry.identity.fingerprint(), entry))
                .collect(),
        }
    }

    /// The member with this fingerprint.
    pub fn get(&self, fingerprint: &Fingerprint) -> Option<&RosterEntry> {
        self.members.get(fingerprint)
    }

    /// Whether the key is a member.
    pub fn contains(&self, fingerprint: &Fingerprint) -> bool {
        self.members.contains_key(fingerprint)
    }

    /// Every member, by fingerprint.
    pub fn iter(&self) -> impl Iterator<Item = (&Fingerprint, &RosterEntry)> {
        self.members.iter()
    }

    /// How many members there are.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether nobody is left.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The member (other than `except`) whose name is the same as `name`
    /// for people: equal ignoring case, or a look-alike of it (the same
    /// UTS #39 confusable skeleton, as Cyrillic "а" for Latin "a").
    pub fn name_taken(&self, name: &str, except: &Fingerprint) -> Option<&RosterEntry> {
        let lower = name.to_lowercase();
        let skeleton = crate::identity::name_skeleton(&lower);
        self.members
            .iter()
            .find(|(fp, entry)| {
                let theirs = entry.identity.name.to_lowercase();
                *fp != except
                    && (theirs == lower || crate::identity::name_skeleton(&theirs) == skeleton)
            })
            .map(|(_, entry)| entry)
    }

    /// A hash of the whole list, so a joiner can check the copy the broker
    /// hands it against the one its invite names.
    pub fn hash(&self, room_id: &RoomId) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update(ROSTER_HASH_LABEL);
        hash.update(room_id.0);
        hash.update(crate::protocol::wire::to_bytes(&self.members));
        hash.finalize().into()
    }

    fn has_admin(&self) -> bool {
        self.members.values().any(|entry| entry.admin)
    }

    /// With no admin left, the longest-standing member becomes one, so a
    /// room can always remove people. Every member computes the same.
    fn keep_an_admin(&mut self) {
        if self.has_admin() {
            return;
        }
        if let Some(entry) = self
            .members
            .iter_mut()
            .min_by_key(|(fp, entry)| (entry.since_epoch, **fp))
            .map(|(_, entry)| entry)
        {
            entry.admin = true;
        }
    }
}

/// Why a commit may not follow the head. One sentence each, naming people
/// by the names the log bound to their keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// Its parent is not our head: an old commit sent again, a commit on a
    /// branch we did not take, or one from a chain we never saw.
    #[error("a membership change that does not follow the room's history (replayed or forked)")]
    NotOnHead,
    /// It does not start the epoch after ours.
    #[error("a membership change for epoch {got}, the room is at epoch {current}")]
    WrongEpoch {
        /// Its epoch.
        got: u64,
        /// Ours.
        current: u64,
    },
    /// Its committer is not a member.
    #[error("a membership change signed by someone who is not a member")]
    NotMember,
    /// Its committer may not make this change.
    #[error("{0} is not an admin and may not remove members or grant admin")]
    NotAdmin(String),
    /// It names someone who is not a member.
    #[error("a membership change about someone who is not a member")]
    UnknownMember,
    /// A remove naming the committer (use a leave).
    #[error("a member cannot remove themselves; they leave")]
    SelfRemove,
    /// The invite is not for this room, or its signature is wrong.
    #[error("the invite used to join is not valid for this room")]
    BadInvite,
    /// The invite's maker was not a member (or not allowed to invite) at
    /// this point of the log.
    #[error("the invite was made by someone who may not invite to this room")]
    InviterNotAllowed,
    /// The add is signed after the invite's expiry.
    #[error("the invite expired before it was used")]
    InviteExpired,
    /// The invite has been used as often as it allows.
    #[error("the invite has already been used as often as it allows")]
    InviteUsedUp,
    /// The add claims a time before its parent's.
    #[error("a membership change dated before the one it follows")]
    BeforeParent,
    /// The joiner is already a member.
    #[error("the joiner is already a member")]
    AlreadyMember,
    /// Another member already has that name.
    #[error("the name {0:?} is already taken in this room")]
    NameTaken(String),
    /// The room is full.
    #[error("the room already has {MAX_ROSTER} members")]
    Full,
    /// A hand-over to a key that did not sign it, or under another name.
    #[error("a key change that the new key did not sign, or that changes the name")]
    BadHandOver,
    /// A first commit where the room already has one, or vice versa.
    #[error("a membership change of the wrong kind for this point of the room's history")]
    Misplaced,
}

/// The log's head and the state it leads to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogState {
    /// The hash of the newest commit.
    pub head: CommitHash,
    /// The epoch it started.
    pub epoch: u64,
    /// Its signed time.
    pub head_ms: u64,
    /// Who is in the room.
    pub roster: Roster,
    /// Whether only admins may invite.
    pub admins_invite: bool,
    /// How many adds each invite (by ticket id) has carried.
    #[serde(with = "uses_map")]
    pub uses: BTreeMap<[u8; 16], u32>,
}

mod uses_map {
    //! Ticket ids as hex strings, so the state serialises as JSON too.
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(
        uses: &BTreeMap<[u8; 16], u32>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let named: BTreeMap<String, u32> = uses
            .iter()
            .map(|(id, n)| (crate::hex::encode(id), *n))
            .collect();
        named.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<[u8; 16], u32>, D::Error> {
        let named = BTreeMap::<String, u32>::deserialize(deserializer)?;
        named
            .into_iter()
            .map(|(id, n)| {
                let bytes = crate::hex::decode_array::<16>(&id)
                    .ok_or_else(|| serde::de::Error::custom("bad ticket id"))?;
                Ok((bytes, n))
            })
            .collect()
    }
}

impl LogState {
    /// The state a room's first commit (a [`Change::Create`] or
    /// [`Change::Genesis`]) starts.
    pub fn first(room_id: &RoomId, signed: &SignedCommit) -> Result<Self, LogError> {
        let commit = &signed.commit;
        if commit.parent != CommitHash::default() {
            return Err(LogError::Misplaced);
        }
        let creator = RosterEntry {
            identity: commit.committer.clone(),
            admin: true,
            since_epoch: commit.epoch,
        };
        let (members, admins_invite) = match &commit.change {
            Change::Create { admins_invite } => (vec![creator], *admins_invite),
            Change::Genesis { members } => {
                let mut all = vec![creator];
                all.extend(members.iter().map(|identity| RosterEntry {
                    identity: identity.clone(),
                    admin: false,
                    since_epoch: commit.epoch,
                }));
                (all, false)
            }
            _ => return Err(LogError::Misplaced),
        };
        if members.len() > MAX_ROSTER {
            return Err(LogError::Full);
        }
        Ok(Self {
            head: signed.hash(room_id),
            epoch: commit.epoch,
            head_ms: commit.at_ms,
            roster: Roster::from_entries(members),
            admins_invite,
            uses: BTreeMap::new(),
        })
    }

    /// Checks that `signed` may follow the head and returns the state it
    /// leads to; `self` is unchanged either way.
    pub fn check(&self, room_id: &RoomId, signed: &SignedCommit) -> Result<Self, LogError> {
        let commit = &signed.commit;
        if commit.parent != self.head {
            return Err(LogError::NotOnHead);
        }
        if commit.epoch != self.epoch.saturating_add(1) {
            return Err(LogError::WrongEpoch {
                got: commit.epoch,
                current: self.epoch,
            });
        }
        let committer = commit.committer.fingerprint();
        let mut next = self.clone();
        match &commit.change {
            Change::Create { .. } | Change::Genesis { .. } => return Err(LogError::Misplaced),
            Change::Add { ticket } => {
                self.check_admission(room_id, commit.at_ms, ticket, &commit.committer)?;
                next.admit(ticket, &commit.committer, commit.epoch);
            }
            Change::Admit { ticket, joiner } => {
                if !self.roster.contains(&committer) {
                    return Err(LogError::NotMember);
                }
                self.check_admission(room_id, commit.at_ms, ticket, joiner)?;
                next.admit(ticket, joiner, commit.epoch);
            }
            Change::Remove { member } => {
                let by = self.admin(&committer)?;
                if *member == committer {
                    return Err(LogError::SelfRemove);
                }
                let _ = by;
                next.roster
                    .members
                    .remove(member)
                    .ok_or(LogError::UnknownMember)?;
            }
            Change::Leave => {
                next.roster
                    .members
                    .remove(&committer)
                    .ok_or(LogError::NotMember)?;
            }
            Change::Admin { member } => {
                self.admin(&committer)?;
                let entry = next
                    .roster
                    .members
                    .get_mut(member)
                    .ok_or(LogError::UnknownMember)?;
                entry.admin = true;
            }
            Change::Rotate => {
                if !self.roster.contains(&committer) {
                    return Err(LogError::NotMember);
                }
            }
            Change::HandOver { new, consent } => {
                let mut entry = next
                    .roster
                    .members
                    .remove(&committer)
                    .ok_or(LogError::NotMember)?;
                let fingerprint = new.fingerprint();
                if self.roster.contains(&fingerprint) {
                    return Err(LogError::AlreadyMember);
                }
                if new.name != commit.committer.name
                    || !super::commit::hand_over_consented(room_id, &committer, new, consent)
                {
                    return Err(LogError::BadHandOver);
                }
                entry.identity = new.clone();
                next.roster.members.insert(fingerprint, entry);
            }
        }
        next.roster.keep_an_admin();
        next.head = signed.hash(room_id);
        next.epoch = commit.epoch;
        next.head_ms = next.head_ms.max(commit.at_ms);
        Ok(next)
    }

    /// A hash of the whole state, which an invite names so a joiner can
    /// check a copy fetched from the broker.
    pub fn hash(&self, room_id: &RoomId) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update(STATE_HASH_LABEL);
        hash.update(room_id.0);
        hash.update(crate::protocol::wire::to_bytes(self));
        hash.finalize().into()
    }

    /// Whether `joiner` may join with `ticket` by a commit signed at
    /// `at_ms` that follows the head.
    fn check_admission(
        &self,
        room_id: &RoomId,
        at_ms: u64,
        ticket: &super::Ticket,
        joiner: &PublicIdentity,
    ) -> Result<(), LogError> {
        let fingerprint = joiner.fingerprint();
        if self.roster.contains(&fingerprint) {
            return Err(LogError::AlreadyMember);
        }
        if ticket.room_id != *room_id || ticket.epoch > self.epoch {
            return Err(LogError::BadInvite);
        }
        ticket.verify().map_err(|_| LogError::BadInvite)?;
        let inviter = self
            .roster
            .get(&ticket.inviter.fingerprint())
            .ok_or(LogError::InviterNotAllowed)?;
        if self.admins_invite && !inviter.admin {
            return Err(LogError::InviterNotAllowed);
        }
        if at_ms < self.head_ms {
            return Err(LogError::BeforeParent);
        }
        if at_ms > ticket.expires_ms {
            return Err(LogError::InviteExpired);
        }
        if self.uses.get(&ticket.id).copied().unwrap_or(0) >= ticket.uses {
            return Err(LogError::InviteUsedUp);
        }
        if let Some(holder) = self.roster.name_taken(&joiner.name, &fingerprint) {
            return Err(LogError::NameTaken(holder.identity.name.clone()));
        }
        if self.roster.len() >= MAX_ROSTER {
            return Err(LogError::Full);
        }
        Ok(())
    }

    /// Records a checked admission.
    fn admit(&mut self, ticket: &super::Ticket, joiner: &PublicIdentity, epoch: u64) {
        *self.uses.entry(ticket.id).or_insert(0) += 1;
        self.roster.members.insert(
            joiner.fingerprint(),
            RosterEntry {
                identity: joiner.clone(),
                admin: false,
                since_epoch: epoch,
            },
        );
    }

    /// Whether a member could commit an admission of `joiner` with
    /// `ticket` at `at_ms` on the head: the check a sponsor makes before
    /// answering a join request.
    pub fn may_admit(
        &self,
        room_id: &RoomId,
        at_ms: u64,
        ticket: &super::Ticket,
        joiner: &PublicIdentity,
    ) -> Result<(), LogError> {
        self.check_admission(room_id, at_ms.max(self.head_ms), ticket, joiner)
    }

    fn admin(&self, committer: &Fingerprint) -> Result<&RosterEntry, LogError> {
        let entry = self.roster.get(committer).ok_or(LogError::NotMember)?;
        if entry.admin {
            Ok(entry)
        } else {
            Err(LogError::NotAdmin(entry.identity.name.clone()))
        }
    }
}

/// How a commit ranks against others on the same parent: lower wins.
pub type Rank = (u8, [u8; 16], CommitHash);

/// The rank of `signed` among commits on the same parent, whose epoch key
/// is `parent_key`: first the change's priority (removals and admin grants,
/// then leaves, adds, rotations), then a value derived from the parent
/// epoch's key and the committer's fingerprint, which nobody can grind
/// before the epoch exists and which the broker cannot compute, then the
/// commit's hash. Every member computes the same order, whatever order the
/// commits arrived in.
pub fn rank(room_id: &RoomId, parent_key: &SymmetricKey, signed: &SignedCommit) -> Rank {
    let mut draw = [0u8; 16];
    crypto::derive_into(
        parent_key.as_bytes(),
        &room_id.0,
        RANK_LABEL,
        &signed.commit.committer.fingerprint().0,
        &mut draw,
    );
    (signed.commit.change.priority(), draw, signed.hash(room_id))
}

#[cfg(test)]
mod tests;
