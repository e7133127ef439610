//! Messages in a room: sealing ours under the epoch's sender chains, and
//! checking, in batches, what others sent.

use rand_core::CryptoRng;

use super::keys::{self, SignerKey};
use super::{DELAYED_AFTER_MS, Delivery, Member, Notice, Received, Room, RoomError, Trust};
use crate::identity::Identity;
use crate::protocol::OpenError;
use crate::protocol::message::{self, Body, Message, SeqRange};
use crate::replay::ReplayError;

impl Room {
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
        &mut self,
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
        if self.uses_chains() {
            return self.seal_chained(me, seq, skipped, body, now_ms, rng);
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

    /// Checks a received message and records what it teaches us.
    ///
    /// On error nothing is changed, so a forged or replayed payload cannot
    /// alter the room's state.
    pub fn receive_message(
        &mut self,
        bytes: &[u8],
        now_ms: u64,
    ) -> Result<Received<Delivery>, OpenError> {
        self.receive_batch(&[bytes], now_ms)
            .pop()
            .unwrap_or(Err(OpenError::Malformed))
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
        if self.uses_chains() {
            return self.receive_chained_batch(payloads, now_ms, &mut fresh);
        }
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
    pub(super) fn accept_verified(
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
}
