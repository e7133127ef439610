//! Messages in a room with a membership log: each member's hash ratchet
//! per epoch, started from the epoch's secret when the room moves to it.
//!
//! When the room takes an epoch, every member's chain starts from the
//! epoch secret ([`EpochSecret::chain_key`]) and the secret is dropped:
//! what the room keeps (the epoch key, our chain, the others' chains as
//! far as they got) opens no message already received. Our own chain
//! lives in the log part of the room (saved with every message we send);
//! each member's lives in their member row (saved with every message we
//! receive from them). Chains go when their epoch's key goes.

use rand_core::CryptoRng;

use super::keys::{self, SignerKey};
use super::{Delivery, Received, Room, RoomError};
use crate::epoch_secret::EpochSecret;
use crate::identity::{Fingerprint, Identity};
use crate::protocol::chained::{self, Frame};
use crate::protocol::message::{Body, Message, SeqRange};
use crate::protocol::sealed::Unverified;
use crate::protocol::{OpenError, wire};
use crate::ratchet::{RatchetError, ReceiverChain, SenderChain, Staged};

/// A chained message opened as far as its signature: what checking the
/// signature and the room's rules needs, and the step of the sender's
/// chain to take once they pass.
pub(super) struct OpenedChained {
    pub(super) unverified: Unverified<Message>,
    pub(super) signer: SignerKey,
    pub(super) step: ChainStep,
}

/// A staged step of one member's chain in one epoch.
pub(super) struct ChainStep {
    member: Fingerprint,
    epoch: u64,
    staged: Staged,
}

impl Room {
    /// Starts every member's chain in the current epoch from its secret
    /// (replacing any earlier start of the same epoch number: a commit
    /// that lost to a concurrent one).
    pub(super) fn start_chains(&mut self, secret: &EpochSecret) {
        let epoch = self.epoch;
        let Some(state) = self.log.state.as_ref() else {
            return;
        };
        let roster: Vec<Fingerprint> = state.roster.iter().map(|(f, _)| *f).collect();
        self.log.sending.retain(|(e, _)| *e != epoch);
        for member in self.members.values_mut() {
            member.chains.retain(|(e, _)| *e != epoch);
        }
        for fingerprint in roster {
            let chain_key = secret.chain_key(&self.id, epoch, &fingerprint);
            if fingerprint == self.own {
                self.log.sending.push((epoch, SenderChain::new(chain_key)));
            } else if let Some(member) = self.members.get_mut(&fingerprint) {
                member
                    .chains
                    .push((epoch, ReceiverChain::new(chain_key, 1)));
            }
        }
    }

    /// Drops the chains of epochs after `epoch` (a commit undone).
    pub(super) fn forget_chains_after(&mut self, epoch: u64) {
        self.log.sending.retain(|(e, _)| *e <= epoch);
        for member in self.members.values_mut() {
            member.chains.retain(|(e, _)| *e <= epoch);
        }
    }

    /// Drops the chains of epochs whose keys are no longer kept.
    pub(super) fn forget_chains_of_forgotten_epochs(&mut self) {
        let current = self.epoch;
        let kept: Vec<u64> = (self.log.past.iter().map(|p| p.epoch))
            .chain(std::iter::once(current))
            .collect();
        self.log.sending.retain(|(e, _)| kept.contains(e));
        for member in self.members.values_mut() {
            member.chains.retain(|(e, _)| kept.contains(e));
        }
    }

    /// Whether messages are sealed under chains here (a room with a log).
    pub(super) fn uses_chains(&self) -> bool {
        self.log.state.is_some() || self.log.pending_secret.is_some()
    }

    /// Seals a message under the next key of our chain in the current
    /// epoch, which steps past it.
    #[allow(clippy::too_many_arguments)] // the message's fields
    pub(super) fn seal_chained<R: CryptoRng + ?Sized>(
        &mut self,
        me: &Identity,
        seq: u64,
        skipped: &[SeqRange],
        body: Body,
        now_ms: u64,
        rng: &mut R,
    ) -> Result<Vec<u8>, RoomError> {
        let epoch = self.epoch;
        let chain = (self.log.sending.iter_mut())
            .find(|(e, _)| *e == epoch)
            .map(|(_, chain)| chain)
            .ok_or(RoomError::NoChain(epoch))?;
        let (step, key) = chain.next().map_err(|_| RoomError::NoChain(epoch))?;
        Ok(chained::seal(
            self.context(),
            me,
            step,
            &key,
            seq,
            skipped,
            now_ms,
            body,
            rng,
        )?)
    }

    /// Opens a chained message's outer layer (under the key of the epoch
    /// its header names).
    fn chained_frame(&self, bytes: &[u8]) -> Result<Frame, OpenError> {
        chained::open_frame(self.context_of_payload(bytes), bytes)
    }

    /// Who sent a message and its number, as far as the epoch key tells
    /// (for finding a saved copy of a redelivered message whose key is
    /// gone).
    pub fn message_origin(&self, bytes: &[u8]) -> Option<(Fingerprint, u64)> {
        if self.uses_chains() {
            let frame = self.chained_frame(bytes).ok()?;
            return Some((frame.sender, frame.seq));
        }
        let message = crate::protocol::message::open(self.context_of_payload(bytes), bytes).ok()?;
        Some((message.sender.fingerprint(), message.seq))
    }

    /// Opens a chained message as far as its signature, staging the step
    /// of its sender's chain; `Ok(None)` for our own. Changes nothing.
    pub(super) fn open_chained(
        &self,
        bytes: &[u8],
        fresh: &mut super::keys::Fresh,
    ) -> Result<Option<OpenedChained>, OpenError> {
        if wire::frame(bytes)?.header.kind == wire::Kind::Message {
            // Sealed under the epoch key alone: no forward secrecy, so a
            // room with a log never takes one.
            return Err(OpenError::WrongKind(wire::Kind::Message));
        }
        let frame = self.chained_frame(bytes)?;
        if self.is_own(&frame.sender) {
            return Ok(None);
        }
        let member = self
            .members
            .get(&frame.sender)
            .ok_or(OpenError::NotMember)?;
        let chain = (member.chains.iter())
            .find(|(e, _)| *e == frame.epoch)
            .map(|(_, chain)| chain)
            .ok_or(OpenError::NoChain)?;
        let staged = chain.key_for(frame.step).map_err(|err| match err {
            RatchetError::AlreadyUsed(_) => OpenError::Replayed(frame.seq),
            RatchetError::TooOld(_) => OpenError::Stale(frame.seq),
            other => OpenError::Chain(other),
        })?;
        let unverified = frame.open(&self.id, staged.key())?;
        let signer = self.keys.resolve_in(&unverified.content.sender, fresh)?;
        Ok(Some(OpenedChained {
            unverified,
            signer,
            step: ChainStep {
                member: frame.sender,
                epoch: frame.epoch,
                staged,
            },
        }))
    }

    /// Takes a step staged by [`open_chained`](Self::open_chained) once
    /// its message was accepted: the message's key is deleted.
    pub(super) fn take_step(&mut self, step: ChainStep) {
        if let Some(member) = self.members.get_mut(&step.member)
            && let Some((_, chain)) = member.chains.iter_mut().find(|(e, _)| *e == step.epoch)
        {
            // Fails only for a key used meanwhile, which the replay
            // window refused first.
            let _ = chain.commit(step.staged);
        }
    }

    /// [`receive_batch`](Self::receive_batch) for a room whose messages
    /// are sealed under chains: every payload opened against the chains
    /// as they are, signatures checked in batches, then the room's rules
    /// in order, each accepted message's chain step taken as it passes.
    pub(super) fn receive_chained_batch<P: AsRef<[u8]>>(
        &mut self,
        payloads: &[P],
        now_ms: u64,
        fresh: &mut keys::Fresh,
    ) -> Vec<Result<Received<Delivery>, OpenError>> {
        let mut own = Vec::with_capacity(payloads.len());
        let mut opened = Vec::with_capacity(payloads.len());
        for payload in payloads {
            match self.open_chained(payload.as_ref(), fresh) {
                Ok(Some(chained)) => {
                    own.push(false);
                    opened.push(Ok((chained.unverified, (chained.signer, chained.step))));
                }
                Ok(None) => own.push(true),
                Err(err) => {
                    own.push(false);
                    opened.push(Err(err));
                }
            }
        }
        let mut verified =
            crate::protocol::verify_many(opened, |(signer, _): &(SignerKey, _)| &signer.key)
                .into_iter();
        own.into_iter()
            .map(|own| {
                if own {
                    return Ok(Received::OwnEcho);
                }
                let (message, (signer, step)) =
                    verified.next().unwrap_or(Err(OpenError::Malformed))?;
                let received = self.accept_verified(message, signer, now_ms)?;
                self.take_step(step);
                Ok(received)
            })
            .collect()
    }
}
