//! Joining a room with a membership log.
//!
//! A joiner redeems its invite on the room's first connection. When the
//! invite still names the log's head, the joiner commits its own add
//! (sealing the new epoch's key to every member). When the room has moved
//! on since the invite was made, or another joiner's add won over ours, the
//! joiner cannot read the newer epochs: it publishes a signed join request
//! under the invite's epoch instead, and a member who is online answers
//! with an admit commit and a key slot sealed to the joiner. The joiner
//! then takes the log state of the new epoch from the broker, checking it
//! names that commit as its head, lists the joiner and the member who let
//! them in.

use rand_core::CryptoRng;

use super::epochs::trust_of;
use super::log_parts::{PastEpoch, PendingSecret};
use super::{CommitRefused, Member, Membership, Room};
use crate::epoch_secret::EpochSecret;
use crate::identity::{Fingerprint, Identity};
use crate::invite::Grant;
use crate::log::{self, Change, CommitHash, LogError, LogState};
use crate::protocol::{OpenError, epoch_key, wire};

impl Room {
    pub(super) fn start_joining(&mut self, grant: &Grant) {
        self.log.joining = Some(grant.ticket.clone());
        match &grant.state {
            Some(state) if state.hash(&self.id) == grant.state_hash => {
                self.log.state = Some(state.clone());
            }
            _ => self.log.expected_state = Some(grant.state_hash),
        }
    }

    /// Whether we hold the log state we need: the one the invite named, or
    /// the one of the epoch a member let us into.
    pub fn needs_log_state(&self) -> bool {
        self.log.expected_state.is_some() || self.log.admitted_by.is_some()
    }

    /// Whether we asked a member to let us in and wait for the answer.
    pub fn is_requesting(&self) -> bool {
        self.log.requesting
    }

    /// Takes a log state fetched from the broker, if it is the one we
    /// need (see [`needs_log_state`](Self::needs_log_state)).
    pub fn adopt_log_state(&mut self, state: LogState, now_ms: u64) -> Result<(), LogError> {
        if state.epoch != self.epoch {
            return Err(LogError::NotOnHead);
        }
        if self.log.expected_state == Some(state.hash(&self.id)) {
            self.log.state = Some(state);
            self.log.expected_state = None;
            return Ok(());
        }
        let Some((head, rotator)) = self.log.admitted_by else {
            return Err(LogError::NotOnHead);
        };
        if state.head != head
            || !state.roster.contains(&self.own)
            || !state.roster.contains(&rotator)
        {
            return Err(LogError::NotOnHead);
        }
        for (fingerprint, entry) in state.roster.iter() {
            self.members.entry(*fingerprint).or_insert_with(|| {
                Member::new(
                    entry.identity.clone(),
                    now_ms,
                    trust_of(self.inviter, fingerprint),
                )
            });
        }
        self.log.state = Some(state);
        self.log.admitted_by = None;
        self.log.joining = None;
        self.keys = Default::default();
        if let Some(pending) = self.log.pending_secret.take()
            && pending.epoch == self.epoch
        {
            self.start_chains(&pending.secret());
        }
        Ok(())
    }

    /// Our request to be let in, sealed under the epoch the room is at for
    /// us (the invite's), while we are asking.
    pub fn join_request<R: CryptoRng + ?Sized>(
        &self,
        me: &Identity,
        rng: &mut R,
    ) -> Option<Vec<u8>> {
        let ticket = self.log.joining.clone()?;
        self.log
            .requesting
            .then(|| log::seal_request(self.context(), me, ticket, rng))
    }

    /// A join request received on one of this room's request topics: the
    /// admit commit to make for it, if the log allows it now. `None` for
    /// what needs no answer (we are not a full member ourselves, or the
    /// joiner is already in).
    pub fn receive_join_request(
        &self,
        bytes: &[u8],
        now_ms: u64,
    ) -> Result<Option<Change>, CommitRefused> {
        let Some(state) = self.log.state.as_ref() else {
            return Ok(None);
        };
        if self.is_joining() || bytes.is_empty() {
            return Ok(None);
        }
        let framed = wire::frame(bytes).map_err(OpenError::from)?;
        let Some(context) = self.context_for(framed.header.epoch) else {
            return Ok(None);
        };
        let request = log::open_request(context, bytes)?;
        match state.may_admit(&self.id, now_ms, &request.ticket, &request.joiner) {
            Ok(()) => Ok(Some(Change::Admit {
                ticket: request.ticket,
                joiner: request.joiner,
            })),
            Err(LogError::AlreadyMember) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// Our refusal of a join request the log refuses for `reason`: the
    /// joiner, the epoch the request came in (whose request topic takes
    /// the refusal, in the request's place) and the sealed refusal.
    pub fn refuse_join_request<R: CryptoRng + ?Sized>(
        &self,
        me: &Identity,
        request: &[u8],
        reason: &str,
        rng: &mut R,
    ) -> Option<(Fingerprint, u64, Vec<u8>)> {
        let framed = wire::frame(request).ok()?;
        let context = self.context_for(framed.header.epoch)?;
        let request = log::open_request(context, request).ok()?;
        let joiner = request.joiner.fingerprint();
        let refusal = log::seal_refusal(context, me, joiner, reason, rng);
        Some((joiner, context.epoch, refusal))
    }

    /// A refusal of our join request, while we are joining: who refused
    /// and why, if it is addressed to us and signed by a member of the
    /// log our invite came with (or by our inviter). Anything else is
    /// ignored: `None`.
    pub fn receive_refusal(&self, bytes: &[u8]) -> Option<(String, String)> {
        if !self.is_joining() {
            return None;
        }
        let framed = wire::frame(bytes).ok()?;
        if framed.header.kind != wire::Kind::Refusal {
            return None;
        }
        let context = self.context_for(framed.header.epoch)?;
        let refusal = log::open_refusal(context, bytes).ok()?;
        let refuser = refusal.refuser.fingerprint();
        let known = (self.log.state.as_ref()).is_some_and(|state| state.roster.contains(&refuser))
            || self.inviter == Some(refuser);
        (refusal.joiner == self.own && known).then_some((refusal.refuser.name, refusal.reason))
    }

    /// Whether we answer join requests at once: the member with the lowest
    /// fingerprint among those online (as presence tells). Others answer
    /// only a request still open after a while, so that two members rarely
    /// let the same joiner in at once (the joiner would follow whichever
    /// answer reaches it first, and the log keeps only one).
    pub fn answers_requests_first(&self) -> bool {
        let Some(state) = self.log.state.as_ref() else {
            return false;
        };
        state
            .roster
            .iter()
            .filter(|(fingerprint, _)| {
                **fingerprint == self.own || self.members.get(fingerprint).is_some_and(|m| m.online)
            })
            .map(|(fingerprint, _)| *fingerprint)
            .min()
            == Some(self.own)
    }

    /// A key slot that answers our request: the room moves to its epoch
    /// and waits for the epoch's log state.
    pub(super) fn take_admission(
        &mut self,
        grant: epoch_key::EpochKeyGrant,
        now_ms: u64,
    ) -> Membership {
        let secret = EpochSecret::from_bytes(*grant.key.as_bytes());
        let old_key =
            std::mem::replace(&mut self.epoch_key, secret.epoch_key(&self.id, grant.epoch));
        // The chains start once the epoch's log state says who is in it.
        self.log.pending_secret = Some(PendingSecret::new(grant.epoch, &secret));
        // The invite's epoch stays readable a while: our request is still
        // retained on its topic, to be cleared.
        self.log
            .past
            .push(PastEpoch::new(self.epoch, old_key, now_ms));
        self.epoch = grant.epoch;
        self.log.state = None;
        self.log.parent = None;
        self.log.commits.clear();
        self.log.keys.clear();
        self.log.requesting = false;
        self.log.admitted_by = Some((CommitHash(grant.commit), grant.rotator.fingerprint()));
        self.keys = Default::default();
        Membership::Admitted { epoch: grant.epoch }
    }
}
