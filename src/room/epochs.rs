//! A room with a membership log: making and receiving commits, and the
//! key slots that carry each new epoch's key. The epochs left behind are
//! in `past_epochs`.
//!
//! Receiving is split in two because MQTT delivers a commit and our key
//! slot for it in no guaranteed order: a valid commit waits for its slot
//! (and a slot for its commit), and the room moves to the new epoch when
//! both are there. A commit that leaves us out needs no slot: it tells us
//! we were removed, and by whom.

use rand_core::CryptoRng;

use super::log_parts::{EPOCH_STARTS_KEPT, GrantedKey, MAX_PENDING, Parent, PastEpoch};
use super::{
    CommitRefused, Member, Membership, MembershipChange, Room, RoomError, Rotation, Trust,
};
use crate::epoch_secret::EpochSecret;
use crate::identity::{Fingerprint, Identity, PublicIdentity};
use crate::invite::{Grant, Invite};
use crate::log::{
    self, Change, Commit, CommitHash, LogError, LogState, Rank, SignedCommit, Ticket,
};
use crate::protocol::{EpochContext, OpenError, epoch_key, wire};
use crate::secret::SymmetricKey;

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
        let secret = EpochSecret::random(rng);
        room.epoch_key = secret.epoch_key(&room.id, room.epoch);
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
        room.start_chains(&secret);
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

    /// Whether we are a member now: neither still joining nor removed.
    pub fn is_member_now(&self) -> bool {
        !self.is_joining() && self.removed_by().is_none()
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

    /// Whether the log admitted `member` after us: then every message they
    /// sent was meant for us, from their number 1 on.
    pub(super) fn joined_after_us(&self, member: &Fingerprint) -> bool {
        let Some(state) = self.log.state.as_ref() else {
            return false;
        };
        match (state.roster.get(member), state.roster.get(&self.own)) {
            (Some(theirs), Some(ours)) => {
                *member != self.own && theirs.since_epoch > ours.since_epoch
            }
            _ => false,
        }
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
        let joined_with = match &change {
            Change::Add { ticket } => Some(ticket.clone()),
            _ => None,
        };
        let rotation = self.take_own_commit(me, payload, &signed, next, now_ms, rng);
        self.log.joined_with = joined_with;
        Ok(rotation)
    }

    /// Moves the room to the epoch our own checked commit starts: a fresh
    /// key, sealed to every member of it but us, to publish with the
    /// commit.
    pub(super) fn take_own_commit<R: CryptoRng + ?Sized>(
        &mut self,
        me: &Identity,
        payload: Vec<u8>,
        signed: &SignedCommit,
        next: LogState,
        now_ms: u64,
        rng: &mut R,
    ) -> Rotation {
        let secret = EpochSecret::random(rng);
        let slots = self.seal_slots(me, &next, next.head, &secret, rng);
        let rank = log::rank(&self.id, &self.epoch_key, signed);
        let from_epoch = self.epoch;
        let change = self.describe(&signed.commit, &next);
        self.advance(
            next,
            secret,
            now_ms,
            rank,
            Some(signed.commit.change.clone()),
        );
        Rotation {
            from_epoch,
            epoch: self.epoch,
            commit: payload,
            slots,
            change,
        }
    }

    /// The new epoch's secret sealed to every member of `next` but us.
    pub(super) fn seal_slots<R: CryptoRng + ?Sized>(
        &self,
        me: &Identity,
        next: &LogState,
        hash: CommitHash,
        secret: &EpochSecret,
        rng: &mut R,
    ) -> Vec<(Fingerprint, Vec<u8>)> {
        // A slot carries 32 secret bytes whatever they are called there.
        let key = &SymmetricKey::from_bytes(*secret.as_bytes());
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

    /// Whether a commit leaving our epoch has come, opened and checked
    /// against the log, but not the key slot it needs: the room moved on
    /// and this home is behind it. Only commits on our own epoch count;
    /// one for a later epoch is kept unchecked, so anyone could make one
    /// up.
    pub fn waiting_for_key(&self) -> bool {
        (self.log.commits.iter())
            .any(|bytes| wire::frame(bytes).is_ok_and(|framed| framed.header.epoch == self.epoch))
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
            // A commit that builds on a state listing us removes us, even
            // one right after our own add (which it confirms). One that
            // leaves us out of a state we were never in (it won over our
            // add, or came while we were joining) is not a removal: ask
            // to be let in instead.
            let were_in =
                (self.log.state.as_ref()).is_some_and(|state| state.roster.contains(&self.own));
            let ticket = self.log.joined_with.take().or(self.log.joining.take());
            if let Some(ticket) = ticket.filter(|_| !were_in) {
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
        let secret = EpochSecret::from_bytes(*self.log.keys.remove(position).key.as_bytes());
        let epoch = next.epoch;
        self.advance(next, secret, now_ms, rank, None);
        let _ = self.retry_pending(now_ms);
        Ok(Membership::Moved {
            epoch,
            change,
            replaced_ours: None,
        })
    }

    /// Moves to the epoch `next` describes, whose secret is `secret`: its
    /// key replaces the current one (kept as a past epoch's), and every
    /// member's chain starts.
    pub(super) fn advance(
        &mut self,
        next: LogState,
        secret: EpochSecret,
        now_ms: u64,
        rank: Rank,
        ours: Option<Change>,
    ) {
        let key = secret.epoch_key(&self.id, next.epoch);
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
        self.log
            .epoch_starts
            .retain(|(epoch, _)| *epoch < next.epoch);
        self.log.epoch_starts.push((next.epoch, next.head_ms));
        if self.log.epoch_starts.len() > EPOCH_STARTS_KEPT {
            self.log.epoch_starts.remove(0);
        }
        self.log.state = Some(next);
        self.keys = Default::default();
        self.start_chains(&secret);
    }

    /// Undoes the last commit taken, back to the parent it left.
    fn rewind(&mut self, parent: Parent) {
        self.forget_chains_after(parent.epoch);
        self.log.past.retain(|past| past.epoch != parent.epoch);
        self.epoch = parent.epoch;
        self.epoch_key = parent.key;
        self.log.state = Some(parent.state);
        self.keys = Default::default();
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
            Change::Create { .. } => MembershipChange::Created { by },
            Change::Genesis { .. } => MembershipChange::MovedToLog { by },
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
            Change::HandOver { new, .. } => MembershipChange::KeyChanged {
                name: by,
                fingerprint: new.fingerprint(),
            },
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
