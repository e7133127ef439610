//! The epochs before the current one: whose keys are kept so late and
//! forwarded messages still open, which members were last heard from in
//! them (what we send goes to their topics too, where those members'
//! broker sessions still listen), and what a member back too late missed.

use super::Room;
use super::log_parts::{MAX_PAST_EPOCHS, PAST_EPOCH_TTL_MS, PastEpoch};
use crate::identity::{Fingerprint, PublicIdentity};
use crate::protocol::{EpochContext, wire};

impl Room {
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

    /// What a member who was at epoch `was_at` and caught up now could not
    /// get: senders publish on the topics of a member's last epoch for at
    /// most [`MAX_PAST_EPOCHS`] rotations or [`PAST_EPOCH_TTL_MS`] after
    /// it ended, so whatever was sent after that, until now, never reached
    /// us. `None` when nothing was out of reach.
    pub fn missed_while_away(&self, was_at: u64, now_ms: u64) -> Option<super::Notice> {
        let rotations = self.epoch.checked_sub(was_at).filter(|n| *n > 0)?;
        let started = |epoch: u64| {
            (self.log.epoch_starts.iter())
                .find(|(e, _)| *e == epoch)
                .map(|(_, at)| *at)
        };
        let mut from = None;
        if rotations > MAX_PAST_EPOCHS as u64 {
            from = started(was_at + MAX_PAST_EPOCHS as u64 + 1);
        }
        if let Some(ended) = started(was_at + 1) {
            let expired = ended.saturating_add(PAST_EPOCH_TTL_MS);
            if expired < now_ms {
                from = Some(from.map_or(expired, |f: u64| f.min(expired)));
            }
        }
        let from_ms = from?;
        Some(super::Notice::AwayTooLong {
            rotations,
            from_ms,
            to_ms: now_ms,
        })
    }

    /// Drops the keys of epochs more than [`MAX_PAST_EPOCHS`] back or
    /// ended longer than [`PAST_EPOCH_TTL_MS`] ago.
    pub fn forget_old_epochs(&mut self, now_ms: u64) {
        let current = self.epoch;
        self.log.past.retain(|past| {
            current.saturating_sub(past.epoch) <= MAX_PAST_EPOCHS as u64
                && now_ms.saturating_sub(past.ended_ms) <= PAST_EPOCH_TTL_MS
        });
        self.forget_chains_of_forgotten_epochs();
    }
}
