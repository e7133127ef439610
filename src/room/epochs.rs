//! A room with a membership log: making and receiving commits, the key
//! slots that carry each new epoch's key, and the few past epochs whose
//! keys are kept so late and forwarded messages still open.
//!
//! Receiving is split in two because MQTT delivers a commit and our key
//! slot for it in no guaranteed order: a valid commit waits for its slot
//! (and a slot for its commit), and the room moves to the new epoch when
//! both are there. A commit that leaves us out needs no slot: it tells us
//! we were removed, and by whom.

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};

use super::{Member, Room, RoomError, Trust};
use crate::identity::{Fingerprint, Identity, PublicIdentity};
use crate::invite::{Grant, Invite};

use crate::log::{
    self, Change, Commit, CommitHash, LogError, LogState, Rank, SignedCommit, Ticket,
};
use crate::protocol::{EpochContext, OpenError, epoch_key, wire};
use crate::secret::SymmetricKey;

/// How many past epochs' keys a room keeps, for messages sent before the
/// sender saw a commit, and for members who were away.
pub const MAX_PAST_EPOCHS: usize = 3;

/// How long a past epoch's key is kept after the epoch ended.
pub const PAST_EPOCH_TTL_MS: u64 = 7 * 24 * 3600 * 1000;

/// Commits and keys waiting for each other, at most this many each.
const MAX_PENDING: usize = 16;

/// An epoch the room has left, whose key is still kept.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastEpoch {
    /// Its number.
    pub epoch: u64,
    #[serde(with = "super::stored_key")]
    key: SymmetricKey,
    /// When the room left it.
    pub ended_ms: u64,
}

impl PastEpoch {
    pub(super) fn new(epoch: u64, key: SymmetricKey, ended_ms: u64) -> Self {
        Self {
            epoch,
            key,
            ended_ms,
        }
    }
}

/// The epoch the room is leaving when a commit of ours or a better one
/// arrives: kept until the next commit, so a better concurrent commit on
/// the same parent can still replace the one taken.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Parent {
    state: LogState,
    epoch: u64,
    #[serde(with = "super::stored_key")]
    key: SymmetricKey,
    /// The rank of the commit taken on it.
    taken: Rank,
    /// Who made the commit taken, and whether it was us.
    taken_by_us: Option<Change>,
}

/// A key from a slot, waiting for its commit.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct GrantedKey {
    epoch: u64,
    commit: CommitHash,
    #[serde(with = "super::stored_key")]
    key: SymmetricKey,
}

/// What the log part of a room keeps between runs.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogParts {
    pub(super) state: Option<LogState>,
    #[serde(default)]
    pub(super) past: Vec<PastEpoch>,
    #[serde(default)]
    pub(super) parent: Option<Box<Parent>>,
    #[serde(default)]
    pub(super) keys: Vec<GrantedKey>,
    /// Commits (as received) waiting for our key slot.
    #[serde(default)]
    pub(super) commits: Vec<Vec<u8>>,
    /// The ticket to redeem on the first connection, for a room joined
    /// with an invite and not yet added.
    #[serde(default)]
    pub(super) joining: Option<Ticket>,
    /// The hash of the log state the invite named, while we wait for the
    /// state itself.
    #[serde(default, with = "optional_hash")]
    pub(super) expected_state: Option<[u8; 32]>,
    /// Set once a commit removed us: who did it.
    #[serde(default)]
    pub(super) removed_by: Option<String>,
    /// The ticket our own add carried, until a later commit confirms it
    /// (a concurrent commit may still win over it).
    #[serde(default)]
    pub(super) joined_with: Option<Ticket>,
    /// Whether we asked a member to let us in (see `joining.rs`).
    #[serde(default)]
    pub(super) requesting: bool,
    /// After a member let us in: the commit whose log state we wait for,
    /// and who sealed us the key.
    #[serde(default)]
    pub(super) admitted_by: Option<(CommitHash, Fingerprint)>,
}

impl std::fmt::Debug for LogParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogParts")
            .field("head", &self.state.as_ref().map(|s| s.head))
            .field(
                "past",
                &self.past.iter().map(|p| p.epoch).collect::<Vec<_>>(),
            )
            .field("pending_commits", &self.commits.len())
            .field("joining", &self.joining.is_some())
            .finish_non_exhaustive()
    }
}

mod optional_hash {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
        v.map(|h| crate::hex::encode(&h)).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[u8; 32]>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|h| {
                crate::hex::decode_array::<32>(&h)
                    .ok_or_else(|| serde::de::Error::custom("bad state hash"))
            })
            .transpose()
    }
}

/// What a commit did, for the people in the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipChange {
    /// Someone joined; `inviter` let them in.
    Joined {
        /// The newcomer's name.
        name: String,
        /// Their fingerprint.
        fingerprint: Fingerprint,
        /// Who made the invite.
        inviter: String,
    },
    /// An admin removed someone.
    Removed {
        /// Who was removed.
        name: String,
        /// By whom.
        by: String,
    },
    /// Someone left.
    Left {
        /// Who.
        name: String,
    },
    /// An admin made someone an admin.
    Admin {
        /// The new admin.
        name: String,
        /// By whom.
        by: String,
    },
    /// A new key with the same members.
    Rotated {
        /// By whom.
        by: String,
    },
    /// The room's first commit.
    Created {
        /// By whom.
        by: String,
    },
}

/// What receiving a commit or a key slot led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Membership {
    /// The room moved to a new epoch.
    Moved {
        /// The new epoch.
        epoch: u64,
        /// What changed.
        change: MembershipChange,
        /// A change of ours that lost to this one (on the same parent) and
        /// should be made again if still wanted.
        replaced_ours: Option<Box<Change>>,
    },
    /// We were removed (or our leave took effect).
    Removed {
        /// Who removed us (our own name for a leave).
        by: String,
    },
    /// A valid piece that waits for its other half (commit or key).
    Waiting,
    /// Our invite no longer names the head (the room moved on, or another
    /// joiner's add won over ours): we must ask a member to let us in.
    MustRequest,
    /// A member let us in: the room is at a new epoch, and waits for its
    /// log state.
    Admitted {
        /// The new epoch.
        epoch: u64,
    },
    /// Nothing to do: a copy of what we have, or a commit that lost.
    Nothing,
}

/// Why a received commit or slot was refused. One line for a warning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitRefused {
    /// It did not open or verify.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// It breaks the log's rules.
    #[error("refused a membership change: {0}")]
    Log(#[from] LogError),
}

/// A commit of ours, ready to publish: the key slots first, then the
/// commit (both retained, on the topics of the epoch it leaves).
#[derive(Debug)]
pub struct Rotation {
    /// The epoch left; its topics carry everything below.
    pub from_epoch: u64,
    /// The new epoch.
    pub epoch: u64,
    /// The commit, sealed under the old epoch's key.
    pub commit: Vec<u8>,
    /// One key slot per member of the new epoch but us.
    pub slots: Vec<(Fingerprint, Vec<u8>)>,
    /// What it did.
    pub change: MembershipChange,
}

impl Room {
    /// A new room with a membership log whose first commit makes `me` its
    /// creator and admin.
    pub fn found<R: CryptoRng + ?Sized>(
        name: &str,
        me: &Identity,
        now_ms: u64,
        rng: &mut R,
    ) -> Result<Self, super::RoomNameError> {
        let mut room = Self::create(name, &me.public(), now_ms, rng)?;
        let commit = Commit {
            epoch: 0,
            parent: CommitHash::default(),
            committer: me.public(),
            at_ms: now_ms,
            change: Change::Create {
                admins_invite: false,
            },
        };
        let (_, signed) = log::seal(room.context(), me, commit, rng);
        room.log.state = LogState::first(room.id(), &signed).ok();
        Ok(room)
    }

    /// The membership log's state, for a room that has one.
    pub fn log(&self) -> Option<&LogState> {
        self.log.state.as_ref()
    }

    /// Whether we still have to redeem an invite (on the first
    /// connection) before we are a member.
    pub fn is_joining(&self) -> bool {
        self.log.joining.is_some()
    }

    /// The ticket a joining room will redeem.
    pub fn joining_ticket(&self) -> Option<&Ticket> {
        self.log.joining.as_ref()
    }

    /// The name of the member whose invite we joined with, when the
    /// invite said (a room with a log).
    pub fn inviter_name(&self) -> Option<&str> {
        let inviter = self.inviter?;
        self.log
            .joining
            .as_ref()
            .map(|ticket| &ticket.inviter)
            .filter(|identity| identity.fingerprint() == inviter)
            .or_else(|| self.admitted(&inviter))
            .map(|identity| identity.name.as_str())
    }

    /// Who removed us, once a commit has.
    pub fn removed_by(&self) -> Option<&str> {
        self.log.removed_by.as_deref()
    }

    /// The kept past epochs that members of the log were last heard from
    /// in: what we publish should also go to those epochs' topics, where the
    /// broker sessions of members who were away still listen.
    pub fn lagging_epochs(&self) -> Vec<u64> {
        let Some(state) = self.log.state.as_ref() else {
            return Vec::new();
        };
        let mut epochs: Vec<u64> = state
            .roster
            .iter()
            .filter(|(fingerprint, _)| **fingerprint != self.own)
            .map(|(fingerprint, entry)| {
                let seen = self.members.get(fingerprint).map_or(0, |m| m.epoch_seen);
                seen.max(entry.since_epoch)
            })
            .filter(|&seen| seen < self.epoch && self.context_for(seen).is_some())
            .collect();
        epochs.sort_unstable();
        epochs.dedup();
        epochs
    }

    /// The members of the log last heard from in `epoch`.
    pub fn members_lagging_in(&self, epoch: u64) -> Vec<(Fingerprint, PublicIdentity)> {
        let Some(state) = self.log.state.as_ref() else {
            return Vec::new();
        };
        state
            .roster
            .iter()
            .filter(|(fingerprint, entry)| {
                **fingerprint != self.own
                    && self
                        .members
                        .get(fingerprint)
                        .map_or(0, |m| m.epoch_seen)
                        .max(entry.since_epoch)
                        == epoch
            })
            .map(|(fingerprint, entry)| (*fingerprint, entry.identity.clone()))
            .collect()
    }

    /// The epochs left whose keys are kept.
    pub fn past_epochs(&self) -> &[PastEpoch] {
        &self.log.past
    }

    /// The keys of `epoch`, if it is the current one or a kept past one.
    pub fn context_for(&self, epoch: u64) -> Option<EpochContext<'_>> {
        if epoch == self.epoch {
            return Some(self.context());
        }
        self.log
            .past
            .iter()
            .find(|past| past.epoch == epoch)
            .map(|past| EpochContext {
                room_id: &self.id,
                epoch,
                key: &past.key,
            })
    }

    /// The keys a received payload was sealed under, chosen by the epoch
    /// in its clear header; the current epoch's when it names none we
    /// keep (opening then fails with a clear error).
    pub fn context_of_payload(&self, bytes: &[u8]) -> EpochContext<'_> {
        wire::frame(bytes)
            .ok()
            .and_then(|framed| self.context_for(framed.header.epoch))
            .unwrap_or_else(|| self.context())
    }

    /// An invite to this room made by `me`, valid until `expires_ms` for
    /// `uses` joiners. For a room without a log, the old kind of invite.
    pub fn invite_for<R: CryptoRng + ?Sized>(
        &self,
        me: &Identity,
        expires_ms: u64,
        uses: u32,
        rng: &mut R,
    ) -> Invite {
        let mut invite = self.invite();
        if let Some(state) = &self.log.state {
            let mut id = [0u8; 16];
            rng.fill_bytes(&mut id);
            invite.grant = Some(Grant {
                ticket: Ticket::new(self.id, id, me, self.epoch, expires_ms, uses),
                head: state.head,
                state_hash: state.hash(&self.id),
                state: Some(state.clone()),
            });
        }
        invite
    }

    /// Makes a commit of ours: a new epoch key, the commit sealed under the
    /// current key, and a key slot for every member of the new epoch. The
    /// room moves to the new epoch at once (save it before publishing).
    pub fn make_commit<R: CryptoRng + ?Sized>(
        &mut self,
        me: &Identity,
        change: Change,
        now_ms: u64,
        rng: &mut R,
    ) -> Result<Rotation, RoomError> {
        let state = self.log.state.as_ref().ok_or(RoomError::NoLog)?;
        // Never date a commit before its parent: the log would refuse it.
        let at_ms = now_ms.max(state.head_ms);
        let commit = Commit {
            epoch: self.epoch + 1,
            parent: state.head,
            committer: me.public(),
            at_ms,
            change: change.clone(),
        };
        let (payload, signed) = log::seal(self.context(), me, commit, rng);
        let next = state.check(&self.id, &signed)?;
        let hash = next.head;
        let key = SymmetricKey::random(rng);
        let slots = self.seal_slots(me, &next, hash, &key, rng);
        let rank = log::rank(&self.id, &self.epoch_key, &signed);
        let from_epoch = self.epoch;
        let described = self.describe(&signed.commit, &next);
        let joined_with = match &change {
            Change::Add { ticket } => Some(ticket.clone()),
            _ => None,
        };
        self.advance(next, key, now_ms, rank, Some(change));
        self.log.joined_with = joined_with;
        Ok(Rotation {
            from_epoch,
            epoch: self.epoch,
            commit: payload,
            slots,
            change: described,
        })
    }

    /// The new epoch's key sealed to every member of `next` but us.
    pub(super) fn seal_slots<R: CryptoRng + ?Sized>(
        &self,
        me: &Identity,
        next: &LogState,
        hash: CommitHash,
        key: &SymmetricKey,
        rng: &mut R,
    ) -> Vec<(Fingerprint, Vec<u8>)> {
        let own = me.fingerprint();
        let mut slots = Vec::with_capacity(next.roster.len());
        for (fingerprint, entry) in next.roster.iter() {
            if *fingerprint == own {
                continue;
            }
            // A member whose key is unusable gets no slot; the others
            // still move on.
            if let Ok(slot) =
                epoch_key::seal(&self.id, next.epoch, hash.0, key, me, &entry.identity, rng)
            {
                slots.push((*fingerprint, slot));
            }
        }
        slots
    }

    /// Receives a commit (from any epoch's commit topic).
    pub fn receive_commit(
        &mut self,
        bytes: &[u8],
        now_ms: u64,
    ) -> Result<Membership, CommitRefused> {
        let framed = wire::frame(bytes).map_err(OpenError::from)?;
        let epoch = framed.header.epoch;
        if self.log.state.is_none() {
            return self.receive_genesis(bytes, epoch, now_ms);
        }
        // A commit on the epoch we came from: a copy of the one we took,
        // or a concurrent one that may beat it.
        if let Some(parent) = self.log.parent.as_deref()
            && epoch == parent.epoch
            && epoch + 1 == self.epoch
        {
            let context = EpochContext {
                room_id: &self.id,
                epoch,
                key: &parent.key,
            };
            let signed = log::open(context, bytes)?;
            if signed.commit.parent != parent.state.head
                || Some(signed.hash(&self.id)) == self.log.state.as_ref().map(|s| s.head)
            {
                return Ok(Membership::Nothing);
            }
            let next = parent.state.check(&self.id, &signed)?;
            let rank = log::rank(&self.id, &parent.key, &signed);
            if rank >= parent.taken {
                return Ok(Membership::Nothing);
            }
            // The other commit wins: go back to the parent and take it.
            let Some(parent) = self.log.parent.take() else {
                return Ok(Membership::Nothing);
            };
            let parent = *parent;
            let replaced = parent.taken_by_us.clone();
            self.rewind(parent.clone());
            let outcome = self.take(signed, next, rank, now_ms)?;
            if outcome == Membership::Waiting {
                self.keep_pending_commit(bytes);
            }
            return Ok(match outcome {
                Membership::Moved { epoch, change, .. } => Membership::Moved {
                    epoch,
                    change,
                    replaced_ours: replaced.map(Box::new),
                },
                other => other,
            });
        }
        if epoch < self.epoch {
            return Ok(Membership::Nothing);
        }
        if epoch > self.epoch {
            self.keep_pending_commit(bytes);
            return Ok(Membership::Waiting);
        }
        let signed = log::open(self.context(), bytes)?;
        let state = self.log.state.as_ref().ok_or(LogError::Misplaced)?;
        let next = state.check(&self.id, &signed)?;
        let rank = log::rank(&self.id, &self.epoch_key, &signed);
        match self.take(signed, next, rank, now_ms)? {
            Membership::Waiting => {
                self.keep_pending_commit(bytes);
                Ok(Membership::Waiting)
            }
            other => Ok(other),
        }
    }

    /// Receives a key slot addressed to us.
    pub fn receive_key_slot(
        &mut self,
        me: &Identity,
        bytes: &[u8],
        now_ms: u64,
    ) -> Result<Membership, CommitRefused> {
        let grant = epoch_key::open(&self.id, me, bytes)?;
        if grant.epoch <= self.epoch && self.log.parent.is_none() {
            return Ok(Membership::Nothing);
        }
        if self.log.requesting {
            return Ok(self.take_admission(grant, now_ms));
        }
        let commit = CommitHash(grant.commit);
        if !self
            .log
            .keys
            .iter()
            .any(|k| k.epoch == grant.epoch && k.commit == commit)
        {
            if self.log.keys.len() >= MAX_PENDING {
                self.log.keys.remove(0);
            }
            self.log.keys.push(GrantedKey {
                epoch: grant.epoch,
                commit,
                key: grant.key,
            });
        }
        self.retry_pending(now_ms)
    }

    /// Takes the commits that were waiting, as far as the keys we have go.
    fn retry_pending(&mut self, now_ms: u64) -> Result<Membership, CommitRefused> {
        let mut outcome = Membership::Nothing;
        loop {
            let waiting = std::mem::take(&mut self.log.commits);
            let mut progressed = false;
            for bytes in waiting {
                match self.receive_commit(&bytes, now_ms) {
                    Ok(Membership::Waiting) => {}
                    Ok(Membership::Nothing) | Err(_) => {}
                    Ok(other) => {
                        progressed = true;
                        outcome = other;
                    }
                }
            }
            if !progressed || self.log.removed_by.is_some() {
                return Ok(outcome);
            }
        }
    }

    pub(super) fn keep_pending_commit(&mut self, bytes: &[u8]) {
        if self.log.commits.iter().any(|c| c == bytes) {
            return;
        }
        if self.log.commits.len() >= MAX_PENDING {
            self.log.commits.remove(0);
        }
        self.log.commits.push(bytes.to_vec());
    }

    /// Moves to the epoch `signed` starts, if we are in it and hold its
    /// key; says we were removed if we are not in it.
    pub(super) fn take(
        &mut self,
        signed: SignedCommit,
        next: LogState,
        rank: Rank,
        now_ms: u64,
    ) -> Result<Membership, CommitRefused> {
        let change = self.describe(&signed.commit, &next);
        if !next.roster.contains(&self.own) {
            if let Some(ticket) = self.log.joined_with.take().or(self.log.joining.take()) {
                // Not a removal: we were never in. Ask instead.
                self.log.joining = Some(ticket);
                self.log.requesting = true;
                return Ok(Membership::MustRequest);
            }
            let by = signed.commit.committer.name.clone();
            self.log.removed_by = Some(by.clone());
            return Ok(Membership::Removed { by });
        }
        let Some(position) = self
            .log
            .keys
            .iter()
            .position(|k| k.epoch == next.epoch && k.commit == next.head)
        else {
            return Ok(Membership::Waiting);
        };
        let key = self.log.keys.remove(position).key;
        let epoch = next.epoch;
        self.advance(next, key, now_ms, rank, None);
        let _ = self.retry_pending(now_ms);
        Ok(Membership::Moved {
            epoch,
            change,
            replaced_ours: None,
        })
    }

    pub(super) fn advance(
        &mut self,
        next: LogState,
        key: SymmetricKey,
        now_ms: u64,
        rank: Rank,
        ours: Option<Change>,
    ) {
        let old_key = std::mem::replace(&mut self.epoch_key, key);
        // A room's first commit (a genesis) has no parent state to go
        // back to.
        self.log.parent = self.log.state.take().map(|state| {
            Box::new(Parent {
                state,
                epoch: self.epoch,
                key: old_key.clone(),
                taken: rank,
                taken_by_us: ours.clone(),
            })
        });
        self.log.past.push(PastEpoch {
            epoch: self.epoch,
            key: old_key,
            ended_ms: now_ms,
        });
        self.epoch = next.epoch;
        self.forget_old_epochs(now_ms);
        self.log.keys.retain(|k| k.epoch > next.epoch);
        // Members the log no longer lists are gone; newcomers get a row.
        self.members
            .retain(|fingerprint, _| next.roster.contains(fingerprint));
        let inviter = self.inviter;
        for (fingerprint, entry) in next.roster.iter() {
            self.members.entry(*fingerprint).or_insert_with(|| {
                Member::new(
                    entry.identity.clone(),
                    now_ms,
                    trust_of(inviter, fingerprint),
                )
            });
        }
        if next.roster.contains(&self.own) {
            self.log.joining = None;
            self.log.requesting = false;
        }
        if ours.is_none() {
            self.log.joined_with = None;
        }
        self.log.state = Some(next);
        self.keys = Default::default();
    }

    /// Undoes the last commit taken, back to the parent it left.
    fn rewind(&mut self, parent: Parent) {
        self.log.past.retain(|past| past.epoch != parent.epoch);
        self.epoch = parent.epoch;
        self.epoch_key = parent.key;
        self.log.state = Some(parent.state);
        self.keys = Default::default();
    }

    /// Drops the keys of epochs more than [`MAX_PAST_EPOCHS`] back or
    /// ended longer than [`PAST_EPOCH_TTL_MS`] ago.
    pub fn forget_old_epochs(&mut self, now_ms: u64) {
        let current = self.epoch;
        self.log.past.retain(|past| {
            current.saturating_sub(past.epoch) <= MAX_PAST_EPOCHS as u64
                && now_ms.saturating_sub(past.ended_ms) <= PAST_EPOCH_TTL_MS
        });
    }

    pub(super) fn describe(&self, commit: &Commit, next: &LogState) -> MembershipChange {
        let by = commit.committer.name.clone();
        let name_of = |fingerprint: &Fingerprint| -> String {
            self.log
                .state
                .as_ref()
                .and_then(|state| state.roster.get(fingerprint))
                .or_else(|| next.roster.get(fingerprint))
                .map(|entry| entry.identity.name.clone())
                .unwrap_or_else(|| "someone".into())
        };
        match &commit.change {
            Change::Create { .. } | Change::Genesis { .. } => MembershipChange::Created { by },
            Change::Add { ticket } => MembershipChange::Joined {
                name: by,
                fingerprint: commit.committer.fingerprint(),
                inviter: ticket.inviter.name.clone(),
            },
            Change::Admit { ticket, joiner } => MembershipChange::Joined {
                name: joiner.name.clone(),
                fingerprint: joiner.fingerprint(),
                inviter: ticket.inviter.name.clone(),
            },
            Change::Remove { member } => MembershipChange::Removed {
                name: name_of(member),
                by,
            },
            Change::Leave => MembershipChange::Left { name: by },
            Change::Admin { member } => MembershipChange::Admin {
                name: name_of(member),
                by,
            },
            Change::Rotate => MembershipChange::Rotated { by },
        }
    }

    /// The log's entry for a key, if the room has a log and the key is in
    /// it: the identity (and so the name) the log bound to it.
    pub fn admitted(&self, fingerprint: &Fingerprint) -> Option<&PublicIdentity> {
        self.log
            .state
            .as_ref()
            .and_then(|state| state.roster.get(fingerprint))
            .map(|entry| &entry.identity)
    }
}

#[cfg(test)]
mod tests;

/// How far a member the log admitted is trusted when first met: the
/// inviter's key came with the invite over the out-of-band channel.
pub(super) fn trust_of(inviter: Option<Fingerprint>, member: &Fingerprint) -> Trust {
    if inviter == Some(*member) {
        Trust::Invite
    } else {
        Trust::Tofu
    }
}
